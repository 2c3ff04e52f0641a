-- web_service_state: the figures of /service for everyone (RESPONSES.md, "Pages for people") from
-- the state, the teams named by what web_service.sql read from the case data; with empty lists
-- (the case data could not be read) the teams go by their ids. One row: a JSON object
-- (web_service_body.sql says what it holds).
-- $1 text      the configured time zone (timezone): today
-- $2 text[]    the teams' ids ...
-- $3 text[]    ... and their names, paired by position
WITH team_names AS (
    SELECT t.team_id, t.name FROM unnest($2::text[], $3::text[]) AS t(team_id, name)
),
-- @include web_service_body.sql
