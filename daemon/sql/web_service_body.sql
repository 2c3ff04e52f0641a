-- web_service_body (a fragment, after a team_names(team_id, name) CTE): the figures of /service
-- as one JSON object:
--   today      the day, in the configured time zone
--   cells      open alerts by team, rule and stage: team_id (NULL: no team), team (its name, or
--              NULL), rule, stage, open (unanswered), acknowledged, snoozed
--   trend      the last 12 months, oldest first, from the daily counts (state_v6.sql): month
--              (its first day), days (counted), alerts and unanswered (the average of the
--              counted days, to one place; NULL: no day counted)
--   oldest     the 20 oldest unanswered alerts, the stage's day first: child_id, rule, stage,
--              team_id, team, since, days (web_service_mine.sql narrows it to one person's)
--   unanswered how many alerts are unanswered
--   answers    by rule, the stages recorded in the last 90 days (firing, escalated, lowered):
--              stages, answered (the first event after the stage's own, among responses and
--              stage changes, is an acknowledgement or a snooze), median_hours (from the
--              stage's recording to that answer; NULL: none answered)
-- Counts go to anyone driftwatch knows; only the list of alerts is narrowed to theirs. The same for
-- everyone, so web_service.c keeps it between requests while web_service_version.sql's answer
-- stays the same.
d AS (
    SELECT (now() AT TIME ZONE $1::text)::date AS today
),
a AS (
    SELECT a.alert_id, a.team_id, a.rule, a.stage, a.child_id, a.stage_since,
-- @include web_alert_state.sql
      FROM @state@.alerts a, d
     WHERE a.status = 'firing'
),
cells AS (
    SELECT a.team_id, a.rule, a.stage,
           count(*) FILTER (WHERE a.state = 'open') AS open,
           count(*) FILTER (WHERE a.state = 'acknowledged') AS acknowledged,
           count(*) FILTER (WHERE a.state = 'snoozed') AS snoozed
      FROM a
     GROUP BY a.team_id, a.rule, a.stage
),
months AS (
    SELECT m::date AS month
      FROM d, generate_series(date_trunc('month', d.today) - interval '11 months',
                              date_trunc('month', d.today), interval '1 month') m
),
trend AS (
    SELECT m.month, count(c.day) AS days, round(avg(c.alerts), 1) AS alerts,
           round(avg(c.unanswered), 1) AS unanswered
      FROM months m
      LEFT JOIN @state@.daily_count_days c
        ON c.day >= m.month AND c.day < (m.month + interval '1 month')::date
     GROUP BY m.month
),
mine AS (
    SELECT a.* FROM a WHERE a.state = 'open'
),
oldest AS (
    SELECT m.alert_id, m.child_id, m.rule, m.stage, m.team_id, m.stage_since,
           d.today - m.stage_since AS days
      FROM mine m, d
     ORDER BY m.stage_since, m.alert_id
     LIMIT 20
),
stages AS (
    SELECT e.alert_id, e.event_id, e.at, x.rule
      FROM @state@.alert_events e
      JOIN @state@.alerts x ON x.alert_id = e.alert_id, d
     WHERE e.kind IN ('firing', 'escalated', 'lowered')
       AND e.as_of > d.today - 90 AND e.as_of <= d.today
),
answers AS (
    SELECT s.rule, count(*) AS stages,
           count(*) FILTER (WHERE n.kind IN ('acknowledged', 'snoozed')) AS answered,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM n.at - s.at) / 3600.0)
               FILTER (WHERE n.kind IN ('acknowledged', 'snoozed')) AS median_hours
      FROM stages s
      LEFT JOIN LATERAL (
          SELECT r.kind, r.at FROM @state@.alert_events r
           WHERE r.alert_id = s.alert_id AND r.event_id > s.event_id
             AND r.kind IN ('acknowledged', 'snoozed', 'firing', 'escalated', 'lowered',
                            'resolved')
           ORDER BY r.event_id
           LIMIT 1) n ON true
     GROUP BY s.rule
)
SELECT jsonb_build_object(
    'today', d.today,
    'cells', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                  'team_id', c.team_id, 'team', t.name, 'rule', c.rule, 'stage', c.stage,
                  'open', c.open, 'acknowledged', c.acknowledged, 'snoozed', c.snoozed)
                  ORDER BY c.team_id COLLATE "C" NULLS LAST, c.rule, c.stage), '[]')
                FROM cells c LEFT JOIN team_names t ON t.team_id = c.team_id),
    'trend', (SELECT jsonb_agg(jsonb_build_object('month', t.month, 'days', t.days,
                  'alerts', t.alerts, 'unanswered', t.unanswered) ORDER BY t.month)
                FROM trend t),
    'oldest', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                  'child_id', o.child_id, 'rule', o.rule, 'stage', o.stage,
                  'team_id', o.team_id, 'team', t.name, 'since', o.stage_since, 'days', o.days)
                  ORDER BY o.stage_since, o.alert_id), '[]')
                 FROM oldest o LEFT JOIN team_names t ON t.team_id = o.team_id),
    'unanswered', (SELECT count(*) FROM mine),
    'answers', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                  'rule', x.rule, 'stages', x.stages, 'answered', x.answered,
                  'median_hours', round(x.median_hours::numeric, 1)) ORDER BY x.rule), '[]')
                  FROM answers x))::text
  FROM d;
