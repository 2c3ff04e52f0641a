-- web_service: the figures of /service (RESPONSES.md, "Pages for people"), with the teams' names
-- from the case data; web_service_state.sql is the same without them, for when the case data
-- cannot be read. One row: a JSON object (web_service_body.sql says what it holds).
-- $1 text      the configured time zone (timezone): today
WITH team_names AS (
    SELECT DISTINCT ON (team_id COLLATE "C") team_id::text, name::text
      FROM @case@.teams
     WHERE team_id IS NOT NULL
     ORDER BY team_id COLLATE "C", name, manager_email, webhook_url
),
-- @include web_service_body.sql
