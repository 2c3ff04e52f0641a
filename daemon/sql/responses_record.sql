-- responses_record: one response to an alert (RESPONSES.md, "Responses"), kept as an event of
-- the alert and as its response state, in one statement, with its notices: one
-- alert.acknowledged | alert.snoozed | alert.unsnoozed per webhook destination of the alert,
-- keyed on the response's event as record.sql keys its notices. Webhooks only: RESPONSES.md
-- names webhook receivers, and a response is no news for the people's digest (they answered
-- it). The one exception is a snooze because the case record is wrong (data_wrong): RESPONSES.md
-- lists those for the operators, so one report goes to their address by email, as record.sql
-- reports the case data's other faults, keyed on the response's event. A response that records
-- nothing (not found, resolved; a replay the web layer stops before it comes here) makes no
-- event and so queues nothing. responses.c has checked the values.
-- $1 text  the alert's fingerprint
-- $2 text  acknowledged | snoozed | unsnoozed
-- $3 text  the actor: an email address or "api:name"
-- $4 text  through what: link | api | page
-- $5 text  the snooze reason, or NULL
-- $6 text  the note, or NULL
-- $7 date  snooze until, or NULL
-- $8 date  today: the day the response is made
-- $9 text  the operators' address, or NULL (none configured, or no email section)
-- $10 text acknowledged: the stage the person was shown, or NULL for the current one. An
--          acknowledgement is for one stage (RESPONSES.md: "a higher stage needs a new
--          acknowledgement"): a form shown at 15m and sent after the alert moved to 18m
--          acknowledged 18m, which nobody had seen, and silenced its escalation (audit 14).
-- Returns one row: outcome (recorded | not_found | resolved | moved), the stage, the event, whether
-- the state changed, how many webhook notices were queued, and how many reports to the
-- operators.
WITH target AS (
    SELECT a.alert_id, a.status, a.stage, a.stage_since, a.payload, a.destinations,
           a.fingerprint, a.rule, a.child_id, a.subject_id, a.ack_stage, a.ack_stage_since
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
       AND ($2::text <> 'acknowledged' OR $10::text IS NULL OR t.stage = $10::text)
    RETURNING event_id, alert_id, at, stage, token
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
),
notices AS (
    INSERT INTO @state@.outbox (idempotency_key, event_id, alert_id, channel, destination, role,
           type, payload)
    SELECT 'msg_' || ev.event_id || '_' || left(md5(d.channel || ' ' || d.destination), 12)
           || '_' || ev.token,
           ev.event_id, ev.alert_id, d.channel, d.destination, d.role, 'alert.' || $2::text,
           t.payload || jsonb_build_object('status', 'firing',
               -- state as the API's "response" names it (web_response.sql), so that a receiver
               -- meets its fields in every response (audit 14): what is in force after it
               'response', jsonb_build_object('state', CASE
                       WHEN $2::text IN ('acknowledged', 'snoozed') THEN $2::text
                       WHEN t.ack_stage = t.stage AND t.ack_stage_since = t.stage_since
                           THEN 'acknowledged'
                       ELSE 'open' END,
                   'kind', $2::text, 'by', $3::text,
                   -- as the envelope's timestamp: UTC, microseconds, Z, whatever the
                   -- session's TimeZone (audit 19, F4)
                   'at', to_char(ev.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                   'via', $4::text, 'stage', ev.stage, 'until', $7::date, 'reason', $5::text,
                   'note', $6::text))
      FROM ev
      JOIN target t USING (alert_id)
     CROSS JOIN LATERAL jsonb_to_recordset(t.destinations) AS d(channel text, destination text,
           role text)
     WHERE d.channel = 'webhook' AND d.destination IS NOT NULL
    -- the same URL twice (a team's and the global) is one receiver: one notice
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING notice_id
),
-- Who said which child's record is wrong, about which alert, until when and why: the operators
-- see that it is corrected. The child and the record link are the alert's, so the report reads
-- like the child's notice; its own words are in summary and facts.
record_wrong AS (
    INSERT INTO @state@.outbox (idempotency_key, event_id, alert_id, channel, destination, role,
           type, payload, digest_key)
    SELECT 'recwrong_' || ev.event_id || '_' || ev.token, ev.event_id, ev.alert_id, 'email',
           $9::text,
           'operators', 'data.record_wrong',
           jsonb_build_object('rule', 'driftwatch', 'stage', 'record_wrong',
               'child_id', t.child_id, 'subject_id', t.subject_id,
               'fingerprint', t.fingerprint, 'link', t.payload -> 'link',
               'summary', format('%s says the case record of child %s is wrong and is being '
                                 'corrected: they snoozed its alert %s (rule %s, stage %s) '
                                 'until %s, through %s. Their note: %s', $3::text,
                                 t.child_id, t.fingerprint, t.rule, ev.stage,
                                 to_char($7::date, 'FMDD Mon YYYY'),
                                 CASE $4::text WHEN 'link' THEN 'a link in a notice'
                                               WHEN 'api' THEN 'the API' ELSE 'the pages' END,
                                 coalesce($6::text, '(none)')),
               'facts', jsonb_build_object('said_by', $3::text, 'via', $4::text,
                                           'rule', t.rule, 'stage', ev.stage,
                                           'fingerprint', t.fingerprint,
                                           'snoozed_until', $7::date, 'note', $6::text)),
           'recwrong_' || $8::date
      FROM ev
      JOIN target t USING (alert_id)
     WHERE $9::text IS NOT NULL AND $2::text = 'snoozed' AND $5::text = 'data_wrong'
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING notice_id
)
SELECT CASE WHEN t.alert_id IS NULL THEN 'not_found'
            WHEN t.status <> 'firing' THEN 'resolved'
            WHEN $2::text = 'acknowledged' AND $10::text IS NOT NULL AND t.stage <> $10::text
                THEN 'moved'
            ELSE 'recorded' END AS outcome,
       t.stage,
       (SELECT event_id FROM ev) AS event_id,
       (SELECT count(*) FROM changed) AS changed,
       (SELECT count(*) FROM notices) AS webhook_notices,
       (SELECT count(*) FROM record_wrong) AS reports
  FROM (SELECT 1) one
  LEFT JOIN target t ON true;
