-- web_alerts: the JSON API's list of alerts (RESPONSES.md, "The JSON API"), each as the alert
-- JSON last evaluated plus its status and response, filtered to those the caller may see
-- (web_visible.sql); one row: {"alerts": [...]}.
-- $1 text  the configured time zone (timezone)
-- $2 text  status: open | acknowledged | snoozed | resolved, or NULL for all
-- $3 text  rule, or NULL
-- $4 text  child_id, or NULL
-- $5 text  team_id (the team of the child's allocated worker when last evaluated), or NULL
-- $6 bigint[]  the alert_ids the caller may see, or NULL: every alert (a bearer token, a
--          configured address)
WITH d AS (
    SELECT (now() AT TIME ZONE $1::text)::date AS today
),
a AS (
    SELECT a.*,
-- @include web_alert_state.sql
      FROM @state@.alerts a, d
     WHERE ($3::text IS NULL OR a.rule = $3::text)
       AND ($4::text IS NULL OR a.child_id = $4::text)
       AND ($5::text IS NULL OR a.team_id = $5::text)
       AND ($6::bigint[] IS NULL OR a.alert_id = ANY ($6::bigint[]))
)
SELECT jsonb_build_object('alerts', coalesce(jsonb_agg(
           a.payload || jsonb_build_object(
               'status', a.status,
               'team_id', a.team_id,
-- @include web_response.sql
)
           ORDER BY a.stage_since, a.fingerprint), '[]'::jsonb))::text
  FROM a
 WHERE $2::text IS NULL OR a.state = $2::text;
