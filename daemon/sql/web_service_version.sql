-- web_service_version: what /service's figures for everyone (web_service_body.sql) depend on, as
-- one text: the day, the newest event (stages, responses, escalations), the newest evaluation
-- (which also moves alerts between teams without an event), the newest daily count, and the
-- minute: a transaction that took a lower event_id and committed after a higher one leaves the
-- newest unchanged, and the minute bounds how long that can go unseen. Each is the end of a
-- primary key, so this costs a few index probes whatever the number of alerts; while it gives
-- the same text, web_service.c reuses the figures it computed last.
-- $1 text  the configured time zone (timezone): today
SELECT (now() AT TIME ZONE $1::text)::date::text
       || ' ' || coalesce((SELECT max(event_id) FROM @state@.alert_events), 0)::text
       || ' ' || coalesce((SELECT max(evaluation_id) FROM @state@.evaluations), 0)::text
       || ' ' || coalesce((SELECT max(day) FROM @state@.daily_count_days)::text, '-')
       || ' ' || (extract(epoch FROM now())::bigint / 60)::text;
