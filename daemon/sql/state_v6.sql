-- state_v6: a daily count of the open alerts, for the trend on /service (RESPONSES.md, "Pages for
-- people"; issue 14).
-- Run once by the daemon's migration step inside a transaction; @state@ is the escaped name.

-- One row per day counted: the first full evaluation of the day writes it (record_daily.sql)
-- with the day's totals, and a later evaluation that day finds it and writes nothing. A day
-- with no row was not counted (the daemon was not running): the trend shows a gap, never a
-- zero it did not see. The totals are the sums of the day's daily_counts, kept here so that a
-- year's trend reads 365 rows, not every team's. evaluation_id names the evaluation that counted
-- (not a reference: retention prunes evaluations long before their day's count).
CREATE TABLE @state@.daily_count_days (
    day           date PRIMARY KEY,
    evaluation_id bigint NOT NULL,
    counted_at    timestamptz NOT NULL DEFAULT now(),
    alerts        int NOT NULL,   -- open (firing) alerts
    unanswered    int NOT NULL,   -- ... neither acknowledged for their stage nor snoozed
    acknowledged  int NOT NULL,
    snoozed       int NOT NULL
);

-- The day's open alerts by team (the team of the child's allocated worker as that evaluation
-- found it; NULL: no team), rule, stage and response state, as the JSON API names it: 'open'
-- (unanswered), 'acknowledged' (for the current stage) or 'snoozed' (a snooze in force that day).
CREATE TABLE @state@.daily_counts (
    day     date NOT NULL REFERENCES @state@.daily_count_days ON DELETE CASCADE,
    team_id text,
    rule    text NOT NULL,
    stage   text NOT NULL,
    state   text NOT NULL CHECK (state IN ('open', 'acknowledged', 'snoozed')),
    alerts  int NOT NULL CHECK (alerts > 0)
);
CREATE INDEX daily_counts_day_idx ON @state@.daily_counts (day);

-- The median time to an answer reads the stages recorded in the last 90 days without reading
-- every event.
CREATE INDEX alert_events_stage_day_idx ON @state@.alert_events (as_of)
    WHERE kind IN ('firing', 'escalated', 'lowered');

INSERT INTO @state@.schema_version (version) VALUES (6);
