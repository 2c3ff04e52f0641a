-- web_service_mine: /service's oldest unanswered, and its alerts snoozed because the case record
-- is wrong, narrowed to the alerts one person may see; the rest of the page is everyone's
-- (web_service_body.sql). The teams' names are those of the figures for everyone
-- (web_service.c), so this reads the state only.
-- $1 text      the configured time zone (timezone): today
-- $2 bigint[]  the alert_ids the person may see
-- One row: a JSON object: oldest (as in web_service_body.sql, without team), unanswered,
-- record_wrong (likewise) and record_wrong_total.
WITH d AS (
    SELECT (now() AT TIME ZONE $1::text)::date AS today
),
a AS (
    SELECT a.alert_id, a.team_id, a.rule, a.stage, a.child_id, a.stage_since,
           a.snoozed_until, a.snooze_reason, a.snoozed_by, a.snooze_note,
-- @include web_alert_state.sql
      FROM @state@.alerts a, d
     WHERE a.alert_id = ANY ($2::bigint[]) AND a.status = 'firing'
),
-- @include web_service_oldest.sql
,
-- @include web_service_record_wrong.sql
SELECT jsonb_build_object(
    'oldest', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                  'child_id', o.child_id, 'rule', o.rule, 'stage', o.stage,
                  'team_id', o.team_id, 'since', o.stage_since, 'days', o.days)
                  ORDER BY o.stage_since, o.alert_id), '[]')
                 FROM oldest o),
    'unanswered', (SELECT count(*) FROM mine),
    'record_wrong', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                  'child_id', w.child_id, 'rule', w.rule, 'stage', w.stage,
                  'team_id', w.team_id, 'until', w.snoozed_until, 'by', w.snoozed_by,
                  'note', w.snooze_note)
                  ORDER BY w.snoozed_until, w.alert_id), '[]')
                 FROM wrong w),
    'record_wrong_total', (SELECT count(*) FROM wrong_all))::text
  FROM d;
