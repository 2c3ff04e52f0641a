-- web_service: the teams' names for /service (RESPONSES.md, "Pages for people"), from the case
-- data; web_service_state.sql draws the figures from the state with them (the two may be in
-- different databases: state.conninfo). A team's row is settled first by content, as the rules
-- settle it (rules/rows_teams.sql).
-- Columns (one row): team_ids and names (text[] as text, paired by position; a name may be
-- NULL).
-- The columns a grant may withhold (daemon/case_columns.c) are read through
-- @col:RELATION:EXPR@: NULL where the role may not SELECT them, so the page answers without.
WITH t AS (
    SELECT DISTINCT ON (team_id COLLATE "C") team_id::text, name::text
      FROM (SELECT t.team_id, @col:teams:t.name@ AS name,
                   @col:teams:t.manager_email@ AS manager_email,
                   @col:teams:t.webhook_url@ AS webhook_url
              FROM @case@.teams t) t
     WHERE team_id IS NOT NULL
     ORDER BY team_id COLLATE "C", name, manager_email, webhook_url
)
SELECT (SELECT coalesce(array_agg(team_id ORDER BY team_id COLLATE "C"), '{}') FROM t)::text
           AS team_ids,
       (SELECT coalesce(array_agg(name ORDER BY team_id COLLATE "C"), '{}') FROM t)::text
           AS names;
