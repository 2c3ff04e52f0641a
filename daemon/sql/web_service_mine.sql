-- web_service_mine: /service's oldest unanswered narrowed to the alerts one person may see; the
-- rest of the page is everyone's (web_service_body.sql). The teams' names are those of the
-- figures for everyone (web_service.c), so this reads the state only.
-- $1 text      the configured time zone (timezone): today
-- $2 bigint[]  the alert_ids the person may see
-- One row: a JSON object: oldest (as in web_service_body.sql, without team), unanswered.
WITH d AS (
    SELECT (now() AT TIME ZONE $1::text)::date AS today
),
a AS (
    SELECT a.alert_id, a.team_id, a.rule, a.stage, a.child_id, a.stage_since,
-- @include web_alert_state.sql
      FROM @state@.alerts a, d
     WHERE a.alert_id = ANY ($2::bigint[]) AND a.status = 'firing'
),
-- @include web_service_oldest.sql
SELECT jsonb_build_object(
    'oldest', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                  'child_id', o.child_id, 'rule', o.rule, 'stage', o.stage,
                  'team_id', o.team_id, 'since', o.stage_since, 'days', o.days)
                  ORDER BY o.stage_since, o.alert_id), '[]')
                 FROM oldest o),
    'unanswered', (SELECT count(*) FROM mine))::text
  FROM d;
