-- web_alert: one alert as the web listener shows it (RESPONSES.md, "Links in notices" and "The
-- JSON API"): its facts, its response state on the configured zone's today, and its history.
-- Always one row, so that today comes back even when no alert has the fingerprint.
-- $1 text  the fingerprint
-- $2 text  the configured time zone (timezone)
-- $3 bigint[]  the alert_ids the caller may see, or NULL: every alert
-- Columns: today (days since 1970-01-01), found, rule, stage, child_id, status, since, summary,
-- state (open | acknowledged | snoozed | resolved), ack_current, ack_by, ack_on, ack_note,
-- snoozed_until, snooze_reason, snooze_note, snoozed_by, alert (the API's JSON with history),
-- visible (the caller may see it: found, and among $3 unless $3 is NULL).
WITH d AS (
    SELECT (now() AT TIME ZONE $2::text)::date AS today
),
a AS (
    SELECT a.*,
           (a.ack_stage = a.stage AND a.ack_stage_since = a.stage_since) AS ack_current,
-- @include web_alert_state.sql
      FROM @state@.alerts a, d
     WHERE a.fingerprint = $1::text
)
SELECT d.today - DATE '1970-01-01' AS today,
       a.alert_id IS NOT NULL AS found,
       a.rule, a.stage, a.child_id, a.status,
       a.payload ->> 'since' AS since,
       a.payload ->> 'summary' AS summary,
       a.state,
       coalesce(a.ack_current, false) AS ack_current,
       a.acknowledged_by AS ack_by,
       (a.acknowledged_at AT TIME ZONE $2::text)::date AS ack_on,
       a.ack_note,
       a.snoozed_until, a.snooze_reason, a.snooze_note, a.snoozed_by,
       CASE WHEN a.alert_id IS NOT NULL THEN
       (a.payload || jsonb_build_object(
            'status', a.status,
            'team_id', a.team_id,
-- @include web_response.sql
,
            'history', (SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                                'at', to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                                'as_of', e.as_of, 'kind', e.kind, 'stage', e.stage,
                                'actor', e.actor, 'via', e.via, 'reason', e.reason,
                                'note', e.note, 'detail', e.detail))
                            ORDER BY e.at, e.event_id), '[]'::jsonb)
                          FROM @state@.alert_events e
                         WHERE e.alert_id = a.alert_id)))::text
       END AS alert,
       a.alert_id IS NOT NULL
           AND ($3::bigint[] IS NULL OR a.alert_id = ANY ($3::bigint[])) AS visible
  FROM d LEFT JOIN a ON true;
