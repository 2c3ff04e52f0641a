-- unanswered_queue: one alert.unanswered event per due stage and its notices in the outbox: to
-- the alert's own destinations and to the escalation roles' addresses (RESPONSES.md). Runs in
-- the transaction, and under the lock, that read unanswered_candidates.sql; the conditions are
-- checked again so that a response that came in between stops it.
-- $1 jsonb  [{alert_id, stage, stage_since, working_days, also: [{channel, destination, role}],
--            unresolved: [{role, why}]}]
-- $2 date   T
-- $3 text   the pass's digest key (webhooks; email when $4 is NULL)
-- $4..$8    where a person's email notice waits, as record.sql's $7..$11 (digest_slot.h): the
--           slot's key, its local wall clock, the zone, the urgent window's key and end; all
--           NULL: email goes now. An urgent stage's escalation is urgent too.
WITH due AS (
    SELECT d.*, a.rule, a.payload, a.destinations
      FROM jsonb_to_recordset($1::jsonb) AS d(alert_id bigint, stage text, stage_since date,
           working_days int, also jsonb, unresolved jsonb)
      JOIN @state@.alerts a ON a.alert_id = d.alert_id AND a.status = 'firing'
                           AND a.stage = d.stage AND a.stage_since = d.stage_since
     WHERE NOT (a.acknowledged_at IS NOT NULL AND a.ack_stage = a.stage
                AND a.ack_stage_since = a.stage_since)
       AND NOT coalesce(a.snoozed_until >= $2::date, false)
       AND NOT EXISTS (SELECT 1 FROM @state@.alert_events e
                        WHERE e.alert_id = a.alert_id AND e.kind = 'unanswered'
                          AND e.stage = a.stage AND e.as_of >= a.stage_since)
),
-- A reminder (repeat_after_days) counts from an alert's latest notice, and this is one: without
-- it a reminder came the day after the escalation, to the same people about the same child.
told AS (
    UPDATE @state@.alerts a SET last_notified_on = greatest(a.last_notified_on, $2::date)
      FROM due d
     WHERE a.alert_id = d.alert_id
),
-- "now also sent to ...": the addresses the escalation adds, in words
also_words AS (
    SELECT d.alert_id,
           coalesce(string_agg(x.role || ' (' || x.destination || ')', ', '
                               ORDER BY x.role, x.destination), 'nobody else') AS words
      FROM due d
      LEFT JOIN LATERAL jsonb_to_recordset(d.also) AS x(channel text, destination text,
                role text) ON true
     GROUP BY d.alert_id
),
events AS (
    INSERT INTO @state@.alert_events (alert_id, as_of, kind, stage, detail)
    SELECT d.alert_id, $2::date, 'unanswered', d.stage,
           jsonb_build_object('working_days', d.working_days, 'stage_since', d.stage_since,
                              'also_sent_to', d.also, 'unresolved', d.unresolved)
      FROM due d
    RETURNING event_id, alert_id, token
),
dest AS (
    SELECT DISTINCT ON (e.event_id, x.channel, lower(x.destination))
           e.event_id, e.token, d.alert_id, d.payload,
           (SELECT coalesce(jsonb_agg(jsonb_build_object('role', a.role, 'email', a.destination)
                                      ORDER BY a.role, a.destination), '[]'::jsonb)
              FROM jsonb_to_recordset(d.also) AS a(channel text, destination text, role text)
             WHERE a.channel = 'email') AS also_sent_to, d.working_days, d.stage_since, w.words,
           x.channel, x.destination, x.role,
           coalesce(x.notice, (SELECT n.notice FROM jsonb_to_recordset(d.destinations)
                                      AS n(channel text, notice jsonb)
                                WHERE n.channel = 'email' AND n.notice IS NOT NULL LIMIT 1))
               AS notice
      FROM events e
      JOIN due d USING (alert_id)
      JOIN also_words w USING (alert_id)
     CROSS JOIN LATERAL (
           SELECT o.channel, o.destination, o.role, o.notice
             FROM jsonb_to_recordset(d.destinations) AS o(channel text, destination text,
                  role text, notice jsonb)
           UNION ALL
           SELECT a.channel, a.destination, a.role, NULL::jsonb
             FROM jsonb_to_recordset(d.also) AS a(channel text, destination text, role text)
          ) x
     WHERE x.destination IS NOT NULL
     ORDER BY e.event_id, x.channel, lower(x.destination), x.notice IS NULL
),
notices AS (
    INSERT INTO @state@.outbox (idempotency_key, event_id, alert_id, channel, destination, role,
           type, payload, digest_key, notice, next_attempt_at, first_due_at)
    SELECT 'msg_' || t.event_id || '_' || left(md5(t.channel || ' ' || t.destination), 12)
           || '_' || t.token,
           t.event_id, t.alert_id, t.channel, t.destination, t.role, 'alert.unanswered',
           -- whom the escalation adds, as the email's words say it ("now also sent to ..."):
           -- a webhook receiver could not tell it was escalated, nor to whom
           t.payload || jsonb_build_object('status', 'firing',
               'unanswered', jsonb_build_object('working_days', t.working_days,
                                                'stage_since', t.stage_since,
                                                'also_sent_to', t.also_sent_to)),
           w.digest_key,
           CASE WHEN t.notice IS NOT NULL THEN t.notice || jsonb_build_object('update',
               format('Not answered in %s working days; now also sent to %s.',
                      t.working_days, t.words)) END,
           w.due, w.due
      FROM dest t
     CROSS JOIN LATERAL (
           SELECT CASE WHEN t.channel <> 'email' OR $4::text IS NULL THEN $3::text
                       WHEN (t.notice ->> 'urgent')::boolean THEN $7::text
                       ELSE $4::text END AS digest_key,
                  CASE WHEN t.channel <> 'email' OR $4::text IS NULL THEN now()
                       WHEN (t.notice ->> 'urgent')::boolean THEN to_timestamp($8::bigint)
                       ELSE $5::timestamp AT TIME ZONE $6::text END AS due
          ) w
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING channel
)
SELECT (SELECT count(*) FROM events) AS unanswered,
       (SELECT count(*) FROM notices WHERE channel = 'email') AS email_notices,
       (SELECT count(*) FROM notices WHERE channel = 'webhook') AS webhook_notices,
       -- for /metrics: the events by rule and stage, [[rule, stage, n], ...]
       (SELECT coalesce(jsonb_agg(jsonb_build_array(r.rule, r.stage, r.n)), '[]'::jsonb)::text
          FROM (SELECT d.rule, d.stage, count(*) AS n FROM events e JOIN due d USING (alert_id)
                 GROUP BY d.rule, d.stage) r) AS by_stage;
