-- web_pages_alerts: the open (firing) alerts a person's page lists (RESPONSES.md, "Pages for
-- people": / and /team/{team_id}), each with its response state on the configured zone's today.
-- The first row carries today even when no alert is listed (then its alert columns are NULL).
-- Ordering by seriousness is the pages' (the rules' stage order lives in the daemon).
-- $1 text  the configured time zone (timezone)
-- $2 bigint[]  the alert_ids the person may see, or NULL: every alert
-- $3 text  a team_id: only that team's alerts (alerts.team_id), or NULL for every team
-- Columns: today (days since 1970-01-01), fingerprint, rule, stage, stage_rank, child_id,
-- subject_id, family_id, team_id, stage_since, age_days (today - stage_since), state (open |
-- acknowledged | snoozed), ack_by, ack_on, ack_note, snoozed_until, snooze_reason,
-- snooze_note, snoozed_by, summary.
WITH d AS (
    SELECT (now() AT TIME ZONE $1::text)::date AS today
),
a AS (
    SELECT a.*,
-- @include web_alert_state.sql
      FROM @state@.alerts a, d
     WHERE a.status = 'firing'
       AND ($2::bigint[] IS NULL OR a.alert_id = ANY ($2::bigint[]))
       AND ($3::text IS NULL OR a.team_id = $3::text)
)
SELECT d.today - DATE '1970-01-01' AS today,
       a.fingerprint, a.rule, a.stage, a.stage_rank, a.child_id, a.subject_id,
       a.payload ->> 'family_id' AS family_id,
       a.team_id,
       to_char(a.stage_since, 'YYYY-MM-DD') AS stage_since,
       d.today - a.stage_since AS age_days,
       a.state,
       a.acknowledged_by AS ack_by,
       to_char((a.acknowledged_at AT TIME ZONE $1::text)::date, 'YYYY-MM-DD') AS ack_on,
       a.ack_note,
       to_char(a.snoozed_until, 'YYYY-MM-DD') AS snoozed_until,
       a.snooze_reason, a.snooze_note, a.snoozed_by,
       a.payload ->> 'summary' AS summary
  FROM d LEFT JOIN a ON true
 ORDER BY a.stage_since, a.fingerprint;
