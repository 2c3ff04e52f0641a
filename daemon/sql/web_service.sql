-- web_service: the teams' names for /service (RESPONSES.md, "Pages for people"), from the case
-- data; web_service_state.sql draws the figures from the state with them (the two may be in
-- different databases: state.conninfo). A team's row is settled first by content, as the rules
-- settle it (rules/rows_teams.sql).
-- Columns (one row): team_ids and names (text[] as text, paired by position; a name may be
-- NULL).
-- workers and teams are read through case_workers.sql and case_teams.sql: a column a
-- grant withholds is NULL there, so the page answers without it (daemon/case_columns.c).
WITH t AS (
    SELECT DISTINCT ON (team_id COLLATE "C") team_id::text, name::text
      FROM (
-- @include case_teams.sql
          ) t
     WHERE team_id IS NOT NULL
     ORDER BY team_id COLLATE "C", name, manager_email, webhook_url
)
SELECT (SELECT coalesce(array_agg(team_id ORDER BY team_id COLLATE "C"), '{}') FROM t)::text
           AS team_ids,
       (SELECT coalesce(array_agg(name ORDER BY team_id COLLATE "C"), '{}') FROM t)::text
           AS names;
