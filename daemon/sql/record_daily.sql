-- record_daily: the day's count of open alerts by team, rule, stage and response state
-- (state_v6.sql), written once a day by the first whole evaluation of that day to be kept, in a
-- statement of its own after its commit: counting is never a reason to lose an evaluation, and
-- a count that fails (or a crash before it) is written by the next whole evaluation that day.
-- A second one finds the day's row and writes nothing (ON CONFLICT). The response state is the
-- one the API shows, on the evaluation's day.
-- $1 bigint  the evaluation
-- $2 date    its day (as_of)
WITH d AS (
    SELECT $2::date AS today
),
counts AS (
    SELECT a.team_id, a.rule, a.stage, a.state, count(*)::int AS alerts
      FROM (SELECT a.team_id, a.rule, a.stage,
-- @include web_alert_state.sql
              FROM @state@.alerts a, d
             WHERE a.status = 'firing') a
     GROUP BY a.team_id, a.rule, a.stage, a.state
),
day AS (
    INSERT INTO @state@.daily_count_days (day, evaluation_id, alerts, unanswered, acknowledged,
                                          snoozed)
    SELECT d.today, $1::bigint,
           coalesce(sum(c.alerts), 0),
           coalesce(sum(c.alerts) FILTER (WHERE c.state = 'open'), 0),
           coalesce(sum(c.alerts) FILTER (WHERE c.state = 'acknowledged'), 0),
           coalesce(sum(c.alerts) FILTER (WHERE c.state = 'snoozed'), 0)
      FROM d LEFT JOIN counts c ON true
     GROUP BY d.today
    ON CONFLICT (day) DO NOTHING
    RETURNING day
),
detail AS (
    INSERT INTO @state@.daily_counts (day, team_id, rule, stage, state, alerts)
    SELECT day.day, c.team_id, c.rule, c.stage, c.state, c.alerts
      FROM day CROSS JOIN counts c
    RETURNING 1
)
SELECT (SELECT count(*) FROM day) AS days, (SELECT count(*) FROM detail) AS rows;
