-- web_service_version: what /service's figures for everyone (web_service_body.sql) depend on, as
-- one text: the day, the newest event (a stage fired, escalated, lowered or resolved; an answer)
-- and the newest daily count, then the minute. An evaluation can also move an alert to another
-- team without an event, and a transaction that took a lower event_id can commit after one
-- with a higher: the minute bounds how long either goes unseen. Evaluations themselves are left
-- out, or every incremental one (seconds apart at a busy authority) would cost the next page
-- the whole computation. Each part is the end of a primary key: a few index probes whatever
-- the number of alerts; while the text is the same, web_service.c reuses its figures.
-- $1 text  the configured time zone (timezone): today
SELECT (now() AT TIME ZONE $1::text)::date::text
       || ' ' || coalesce((SELECT max(event_id) FROM @state@.alert_events), 0)::text
       || ' ' || coalesce((SELECT max(day) FROM @state@.daily_count_days)::text, '-')
       || ' ' || (extract(epoch FROM now())::bigint / 60)::text;
