-- web_service_answers: the slow figures of /service (RESPONSES.md, "Pages for people"), from the
-- state alone, as one JSON object. They are statistics over months (the trend) and 90 days (the
-- time to an answer), the costlier half of the page at a million children; web_service.c
-- computes them again when web_service_version.sql's second text changes (the day, a new daily
-- count, or every 15 minutes), not at each answer.
--   at         when they were worked out, hh:mm in the configured time zone
--   trend      the last 12 months, oldest first, from the daily counts (state_v6.sql): month
--              (its first day), days (counted), alerts and unanswered (the average of the
--              counted days, to one place; NULL: no day counted)
--   answers    by rule, the stages recorded in the last 90 days (firing, escalated, lowered):
--              stages, answered (the first event after the stage's own, among responses and
--              stage changes, is an acknowledgement or a snooze), median_hours (from the
--              stage's recording to that answer; NULL: none answered)
-- $1 text  the configured time zone (timezone): today
WITH d AS (
    SELECT (now() AT TIME ZONE $1::text)::date AS today
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
    'at', to_char(now() AT TIME ZONE $1::text, 'HH24:MI'),
    'trend', (SELECT jsonb_agg(jsonb_build_object('month', t.month, 'days', t.days,
                  'alerts', t.alerts, 'unanswered', t.unanswered) ORDER BY t.month)
                FROM trend t),
    'answers', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                  'rule', x.rule, 'stages', x.stages, 'answered', x.answered,
                  'median_hours', round(x.median_hours::numeric, 1)) ORDER BY x.rule), '[]')
                  FROM answers x))::text
  FROM d;
