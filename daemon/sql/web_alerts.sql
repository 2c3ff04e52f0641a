-- web_alerts: the JSON API's list of alerts (RESPONSES.md, "The JSON API"), each as the alert
-- JSON last evaluated plus its status and response, filtered; one row: {"alerts": [...]}.
-- An API token may see everything (RESPONSES.md), so nothing here narrows by person.
-- $1 text  the configured time zone (timezone)
-- $2 text  status: open | acknowledged | snoozed | resolved, or NULL for all
-- $3 text  rule, or NULL
-- $4 text  child_id, or NULL
WITH d AS (
    SELECT (now() AT TIME ZONE $1::text)::date AS today
),
a AS (
    SELECT a.*,
           CASE WHEN a.status <> 'firing' THEN 'resolved'
                WHEN a.snoozed_until >= d.today THEN 'snoozed'
                WHEN a.ack_stage = a.stage AND a.ack_stage_since = a.stage_since
                THEN 'acknowledged'
                ELSE 'open' END AS state
      FROM @state@.alerts a, d
     WHERE ($3::text IS NULL OR a.rule = $3::text)
       AND ($4::text IS NULL OR a.child_id = $4::text)
)
SELECT jsonb_build_object('alerts', coalesce(jsonb_agg(
           a.payload || jsonb_build_object(
               'status', a.status,
               'response', jsonb_build_object(
                   'state', a.state,
                   'by', CASE a.state WHEN 'snoozed' THEN a.snoozed_by
                                      WHEN 'acknowledged' THEN a.acknowledged_by END,
                   'at', CASE a.state WHEN 'snoozed' THEN a.snoozed_at
                                      WHEN 'acknowledged' THEN a.acknowledged_at END,
                   'until', CASE a.state WHEN 'snoozed' THEN a.snoozed_until END,
                   'reason', CASE a.state WHEN 'snoozed' THEN a.snooze_reason END,
                   'note', CASE a.state WHEN 'snoozed' THEN a.snooze_note
                                        WHEN 'acknowledged' THEN a.ack_note END))
           ORDER BY a.stage_since, a.fingerprint), '[]'::jsonb))::text
  FROM a
 WHERE $2::text IS NULL OR a.state = $2::text;
