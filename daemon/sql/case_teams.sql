-- case_teams (a fragment, inside a FROM): the rows of teams as the pages read them. A column a
-- grant withholds is NULL here rather than failing the page (daemon/case_columns.c, as the
-- rules read rules/rows_teams.sql). The id is read as text, as in case_workers.sql.
SELECT t.team_id::text AS team_id, @col:teams:t.name@ AS name,
       @col:teams:t.manager_email@ AS manager_email,
       @col:teams:t.webhook_url@ AS webhook_url
  FROM @case@.teams t
