-- prune: one small batch of what is older than retention.days: delivered notices (with their
-- delivery attempts) and evaluations; and the daily counts of open alerts older than both
-- retention.days and 13 months (/service shows the trend of the last 12, and a month may be
-- part-counted: its first days go only when the whole month is past the 13). Never alerts,
-- their events or responses: they are the record of who was told what and when. A delivered
-- notice of an event leaves its row in delivered (state_v8.sql) in this same statement: the
-- event, channel, destination (a webhook's URL without its credentials), role and time, so
-- that the evidence that someone was told outlives the notice. SKIP LOCKED and the caller's
-- short lock_timeout keep it out of the way of recording and delivery; the caller repeats it
-- while a batch comes back full.
-- $1 int  retention.days
-- $2 int  rows per batch (days of daily counts: a hundredth of it, each day being up to a few
--         thousand rows of counts)
WITH old_notices AS (
    SELECT notice_id FROM @state@.outbox
     WHERE status = 'delivered' AND delivered_at < now() - make_interval(days => $1::int)
     ORDER BY delivered_at
     LIMIT $2::int
       FOR UPDATE SKIP LOCKED
),
kept AS (
    -- the snapshot is the statement's: these are the rows notices deletes
    INSERT INTO @state@.delivered (notice_id, event_id, alert_id, channel, destination, role,
                                   delivered_at)
    SELECT x.notice_id, x.event_id, x.alert_id, x.channel,
           CASE WHEN x.channel = 'webhook' THEN @state@.shown_url(x.destination)
                ELSE x.destination END,
           x.role, x.delivered_at
      FROM @state@.outbox x JOIN old_notices o USING (notice_id)
     WHERE x.event_id IS NOT NULL
    ON CONFLICT (notice_id) DO NOTHING
    RETURNING 1
),
attempts AS (
    DELETE FROM @state@.delivery_attempts d USING old_notices o WHERE d.notice_id = o.notice_id
    RETURNING 1
),
notices AS (
    DELETE FROM @state@.outbox x USING old_notices o WHERE x.notice_id = o.notice_id
    RETURNING 1
),
old_evaluations AS (
    -- the latest evaluation of everyone stays: recording refuses a day earlier than it
    SELECT evaluation_id FROM @state@.evaluations
     WHERE finished_at < now() - make_interval(days => $1::int)
       AND evaluation_id <> coalesce((SELECT max(evaluation_id) FROM @state@.evaluations
                                       WHERE scope = 'all'), -1)
     ORDER BY evaluation_id
     LIMIT $2::int
       FOR UPDATE SKIP LOCKED
),
evaluations AS (
    DELETE FROM @state@.evaluations e USING old_evaluations o
     WHERE e.evaluation_id = o.evaluation_id
    RETURNING 1
),
old_days AS (
    SELECT day FROM @state@.daily_count_days
     WHERE day < current_date - make_interval(days => $1::int)
       AND day < (date_trunc('month', current_date) - interval '13 months')::date
     ORDER BY day
     LIMIT greatest($2::int / 100, 1)
       FOR UPDATE SKIP LOCKED
),
days AS (
    -- their daily_counts go with them (ON DELETE CASCADE)
    DELETE FROM @state@.daily_count_days d USING old_days o WHERE d.day = o.day
    RETURNING 1
)
SELECT (SELECT count(*) FROM notices) AS notices,
       (SELECT count(*) FROM attempts) AS attempts,
       (SELECT count(*) FROM evaluations) AS evaluations,
       (SELECT count(*) FROM days) AS days,
       (SELECT count(*) FROM kept) AS kept;
