-- web_service_state: web_service.sql without the case data: the teams go by their ids.
-- $1 text      the configured time zone (timezone): today
WITH team_names AS (
    SELECT NULL::text AS team_id, NULL::text AS name WHERE false
),
-- @include web_service_body.sql
