-- web_service_version: what /service's figures for everyone depend on, as two texts; while a
-- text is the same, web_service.c reuses the figures it computed at it.
-- The first, for the open alerts (web_service_body.sql): the day, the newest event (a stage
-- fired, escalated, lowered or resolved; an answer), then the minute. An evaluation can also
-- move an alert to another team without an event, and a transaction that took a lower event_id
-- can commit after one with a higher: the minute bounds how long either goes unseen.
-- Evaluations themselves are left out, or every incremental one (seconds apart at a busy
-- authority) would cost the next page the whole computation.
-- The second, for the trend and the time to an answer (web_service_answers.sql): the day, the
-- newest daily count, and the quarter of an hour.
-- Each part is the end of a primary key: a few index probes whatever the number of alerts.
-- $1 text  the configured time zone (timezone): today
WITH v AS (
    SELECT (now() AT TIME ZONE $1::text)::date::text AS today,
           extract(epoch FROM now())::bigint AS epoch
)
SELECT v.today || ' ' || coalesce((SELECT max(event_id) FROM @state@.alert_events), 0)::text
           || ' ' || (v.epoch / 60)::text,
       v.today || ' ' || coalesce((SELECT max(day) FROM @state@.daily_count_days)::text, '-')
           || ' ' || (v.epoch / 900)::text
  FROM v;
