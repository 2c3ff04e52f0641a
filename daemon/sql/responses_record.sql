-- responses_record: one response to an alert (RESPONSES.md, "Responses"), kept as an event of
-- the alert and as its response state, in one statement. responses.c has checked the values.
-- $1 text  the alert's fingerprint
-- $2 text  acknowledged | snoozed | unsnoozed
-- $3 text  the actor: an email address or "api:name"
-- $4 text  through what: link | api | page
-- $5 text  the snooze reason, or NULL
-- $6 text  the note, or NULL
-- $7 date  snooze until, or NULL
-- $8 date  today: the day the response is made
-- Returns one row: outcome (recorded | not_found | resolved), the stage, the event.
WITH target AS (
    SELECT a.alert_id, a.status, a.stage, a.stage_since
      FROM @state@.alerts a
     WHERE a.fingerprint = $1::text
       FOR UPDATE
),
ev AS (
    INSERT INTO @state@.alert_events (alert_id, as_of, kind, stage, actor, via, reason, note,
           detail)
    SELECT t.alert_id, $8::date, $2::text, t.stage, $3::text, $4::text, $5::text, $6::text,
           CASE WHEN $2::text = 'snoozed' THEN jsonb_build_object('until', $7::date) END
      FROM target t
     WHERE t.status = 'firing'
    RETURNING event_id, alert_id
),
changed AS (
    UPDATE @state@.alerts a
       SET acknowledged_at = CASE WHEN $2::text = 'acknowledged' THEN now()
                                  ELSE a.acknowledged_at END,
           acknowledged_by = CASE WHEN $2::text = 'acknowledged' THEN $3::text
                                  ELSE a.acknowledged_by END,
           ack_note        = CASE WHEN $2::text = 'acknowledged' THEN $6::text ELSE a.ack_note END,
           ack_stage       = CASE WHEN $2::text = 'acknowledged' THEN a.stage ELSE a.ack_stage END,
           ack_stage_since = CASE WHEN $2::text = 'acknowledged' THEN a.stage_since
                                  ELSE a.ack_stage_since END,
           -- unsnooze: as if never snoozed from now on (the events keep what was)
           snoozed_until = CASE WHEN $2::text = 'snoozed' THEN $7::date
                                WHEN $2::text = 'unsnoozed' THEN NULL ELSE a.snoozed_until END,
           snooze_reason = CASE WHEN $2::text = 'snoozed' THEN $5::text
                                WHEN $2::text = 'unsnoozed' THEN NULL ELSE a.snooze_reason END,
           snooze_note   = CASE WHEN $2::text = 'snoozed' THEN $6::text
                                WHEN $2::text = 'unsnoozed' THEN NULL ELSE a.snooze_note END,
           snoozed_by    = CASE WHEN $2::text = 'snoozed' THEN $3::text
                                WHEN $2::text = 'unsnoozed' THEN NULL ELSE a.snoozed_by END,
           snoozed_at    = CASE WHEN $2::text = 'snoozed' THEN now()
                                WHEN $2::text = 'unsnoozed' THEN NULL ELSE a.snoozed_at END
      FROM ev
     WHERE a.alert_id = ev.alert_id
    RETURNING a.alert_id
)
SELECT CASE WHEN t.alert_id IS NULL THEN 'not_found'
            WHEN t.status <> 'firing' THEN 'resolved'
            ELSE 'recorded' END AS outcome,
       t.stage,
       (SELECT event_id FROM ev) AS event_id,
       (SELECT count(*) FROM changed) AS changed
  FROM (SELECT 1) one
  LEFT JOIN target t ON true;
