-- record_resolve: one rule ran to its end: its firing alerts it did not yield this time (not in
-- alert_seen, where record.sql lists every one it yields) have stopped holding and resolve, with
-- their events and notices. Only the evaluated children can resolve; a rule that failed, or is
-- disabled, is never resolved here, so its alerts stay as they were.
-- $1 text    the rule
-- $2 date    T
-- $3 text[]  the children evaluated, or NULL for everyone
-- $4 boolean send resolved notices by email
-- $5 text    the evaluation's digest key (webhooks; email when $6 is NULL)
-- $6 text    the digest slot's key, $7 timestamp its local wall clock, $8 text the zone
--            (digest_slot.h); NULL: email goes now. A resolution is good news, never urgent:
--            it waits for the slot.
-- $9 jsonb   the configured webhooks (webhooks[]) that want the rule's alerts now
--            (routing_rule_webhooks): a resolution goes through them, not through those the
--            alert was recorded with. A webhook rotated (a new URL, a new ?token=) since the
--            alert fired was told nothing, while the old URL, which nothing signs any more,
--            was retried for days. A team's webhook and the emails are the alert's own.
--            NULL (memory ran out making the list): the alert's own webhooks, as before.
WITH settled AS (
    -- The rule ran over everyone: what it could rename from schema v2's identity it has
    -- renamed (record.sql), and the rest of its marks go (state_v14.sql). Never a row that
    -- resolved below changes (two updates of one row in one statement: only one would hold).
    UPDATE @state@.alerts a SET legacy_subject = false
     WHERE a.legacy_subject AND a.rule = $1::text AND $3::text[] IS NULL
       AND (a.status <> 'firing'
            OR EXISTS (SELECT 1 FROM @state@.alert_seen s WHERE s.alert_id = a.alert_id))
),
resolved AS (
    UPDATE @state@.alerts a
       SET status = 'resolved', last_changed_on = $2::date, legacy_subject = false,
           payload = a.payload || jsonb_build_object('status', 'resolved', 'as_of', $2::date)
     WHERE a.status = 'firing'
       -- record.c rewrites this line for a few notified children (record_resolve_for_children)
       AND a.rule = $1::text AND ($3::text[] IS NULL OR a.child_id = ANY($3::text[]))
       AND NOT EXISTS (SELECT 1 FROM @state@.alert_seen s WHERE s.alert_id = a.alert_id)
    RETURNING a.alert_id, a.stage, a.payload, a.destinations
),
events AS (
    INSERT INTO @state@.alert_events (alert_id, as_of, kind, stage, detail)
    SELECT r.alert_id, $2::date, 'resolved', r.stage, NULL
      FROM resolved r
    RETURNING event_id, alert_id, token
),
notices AS (
    INSERT INTO @state@.outbox (idempotency_key, event_id, alert_id, channel, destination, role,
           type, payload, digest_key, notice, next_attempt_at, first_due_at)
    -- The words kept with the alert's destinations when it was last recorded (NULL for an
    -- alert recorded before notices kept their words).
    SELECT 'msg_' || e.event_id || '_' || left(md5(d.channel || ' ' || d.destination), 12)
           || '_' || e.token,
           e.event_id, e.alert_id, d.channel, d.destination, d.role, 'alert.resolved',
           r.payload,
           CASE WHEN d.channel = 'email' AND $6::text IS NOT NULL THEN $6::text
                ELSE $5::text END,
           d.notice, w.due, w.due
      FROM events e JOIN resolved r ON r.alert_id = e.alert_id
     CROSS JOIN LATERAL (
           SELECT * FROM jsonb_to_recordset(r.destinations) AS o(channel text, destination text,
                  role text, notice jsonb)
            WHERE NOT (o.channel = 'webhook' AND o.role IS NULL AND $9::jsonb IS NOT NULL)
           UNION ALL
           SELECT * FROM jsonb_to_recordset(coalesce($9::jsonb, '[]'))
                  AS c(channel text, destination text, role text, notice jsonb)
          ) d
     CROSS JOIN LATERAL (
           SELECT CASE WHEN d.channel = 'email' AND $6::text IS NOT NULL
                       THEN $7::timestamp AT TIME ZONE $8::text ELSE now() END AS due
          ) w
     WHERE d.destination IS NOT NULL
       AND NOT (d.channel = 'email' AND NOT $4::boolean)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING notice_id, channel
)
SELECT (SELECT count(*) FROM events) AS resolved,
       (SELECT count(*) FROM notices WHERE channel = 'email')   AS email_notices,
       (SELECT count(*) FROM notices WHERE channel = 'webhook') AS webhook_notices;
