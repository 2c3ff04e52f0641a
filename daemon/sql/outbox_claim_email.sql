-- outbox_claim_email: takes email digests that are due, under a lease: every email goes through
-- the one mail server, which is a lane of its own in the deliverer with its own slots and its
-- own timeline, claimed apart from the webhooks. A digest is one person's notices of one
-- evaluation, claimed whole so that it is not split between two emails, and a few at a time: a
-- first evaluation at a large authority queues tens of thousands of notices, and claiming them
-- all at once would hold every payload in memory together. SKIP LOCKED and the lease as in
-- outbox_claim_webhook.sql.
-- A digest claimed by a daemon that died before recording its result is resent as it was sent,
-- so that it keeps its Message-ID (mail_compose.c): while any of a digest's notices are still
-- under such an expired lease, only those are claimed, and notices queued since for the same
-- person and digest_key (a slot made due early, or clocks that disagree about the slot's time)
-- wait for the next claim, a digest of their own.
-- $1 int          at most this many digests
-- $2 int          lease seconds
-- $3 timestamptz  only notices due by then (NULL: now), as in outbox_claim_webhook.sql
-- $4 boolean      --once: also the digests held for email.digest_time that were queued before
--                 then and never tried (ALERTS.md: "--once sends every digest at once"; a
--                 daemon stopped for a timer left them waiting for Monday's slot)
-- $5 text         the configured time zone (timezone): whether a snooze is still in force
-- $6 bigint[]     the notices this deliverer holds (deliver.c, deliver_held_ids): never
--                 claimed again by it, even when their lease has run out, or they would go
--                 twice; left out before the limit, so that they take no digest's place in it
-- The payload's "response" is the alert's answer as it stands when the email is claimed, not
-- when the notice was queued: an urgent digest said "Snoozed until 1 Feb 2027" of a snooze
-- withdrawn half a minute before it went, and listed as unanswered an alert acknowledged
-- before it went (audit 14). For a notice of the alert's current stage only; one whose alert
-- moved on is out of date (notice.since, below) and keeps what it said.
-- age_s is counted from when the notice was first due, not from created_at: a digest held for
-- its slot has its whole age to be retried in once the slot comes (state_v7.sql).
-- A notice about an alert that has moved on since it was queued (resolved, at another stage, or,
-- for a reminder or a "not answered", answered since) carries notice.since, the alert as it now
-- stands: a daily digest held since yesterday must not tell a supervisor "New: CP plan at 9
-- months" after the urgent 15-month escalation went, or of a plan that has ended (audit 10, F2).
-- It is still listed (ALERTS.md: "every notice ... since the last"), as out of date.
WITH due_digest AS (
    SELECT destination, coalesce(digest_key, '') AS digest_key,
           bool_or(status = 'delivering') AS resend
      FROM @state@.outbox
      WHERE channel = 'email'
        AND (status = 'pending' OR (status = 'delivering' AND lease_until < now()))
        AND (next_attempt_at <= coalesce($3::timestamptz, now())
             OR ($4::boolean AND attempts = 0 AND created_at <= coalesce($3::timestamptz, now())))
        AND notice_id <> ALL ($6::bigint[])
      GROUP BY 1, 2
      ORDER BY min(next_attempt_at), min(notice_id)
      LIMIT $1::int
),
due AS (
    SELECT o.notice_id, o.alert_id FROM @state@.outbox o
      JOIN due_digest g ON g.destination = o.destination
                       AND g.digest_key = coalesce(o.digest_key, '')
      WHERE o.channel = 'email'
        AND (o.status = 'pending' OR (o.status = 'delivering' AND o.lease_until < now()))
        AND (o.next_attempt_at <= coalesce($3::timestamptz, now())
             OR ($4::boolean AND o.attempts = 0
                 AND o.created_at <= coalesce($3::timestamptz, now())))
        AND (o.status = 'delivering' OR NOT g.resend)
        AND o.notice_id <> ALL ($6::bigint[])
      FOR UPDATE OF o SKIP LOCKED
)
UPDATE @state@.outbox o
   SET status = 'delivering', attempts = o.attempts + 1,
       lease_until = now() + make_interval(secs => $2::int)
  FROM due LEFT JOIN @state@.alerts a ON a.alert_id = due.alert_id
 WHERE o.notice_id = due.notice_id
RETURNING o.notice_id, o.idempotency_key, o.channel, o.destination, o.role, o.type,
          CASE WHEN a.alert_id IS NULL OR a.status <> 'firing'
                     OR a.stage IS DISTINCT FROM o.payload ->> 'stage'
                     OR o.type NOT IN ('alert.firing', 'alert.escalated', 'alert.updated',
                                       'alert.unanswered') THEN o.payload
               WHEN a.snoozed_until >= (now() AT TIME ZONE $5::text)::date THEN
                    o.payload || jsonb_build_object('response', jsonb_build_object(
                        -- times as the webhook envelope's: UTC, microseconds, Z
                        'state', 'snoozed', 'by', a.snoozed_by,
                        'at', to_char(a.snoozed_at AT TIME ZONE 'UTC',
                                      'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                        'until', a.snoozed_until, 'reason', a.snooze_reason,
                        'note', a.snooze_note))
               WHEN a.ack_stage = a.stage AND a.ack_stage_since = a.stage_since THEN
                    o.payload || jsonb_build_object('response', jsonb_build_object(
                        'state', 'acknowledged', 'by', a.acknowledged_by,
                        'at', to_char(a.acknowledged_at AT TIME ZONE 'UTC',
                                      'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                        'until', NULL, 'reason', NULL,
                        'note', a.ack_note))
               ELSE o.payload - 'response' END::text, coalesce(o.digest_key, ''), o.attempts,
          greatest(extract(epoch FROM now() - o.first_due_at), 0)::bigint AS age_s, now()::text AS claimed_at,
          CASE WHEN a.alert_id IS NULL
                     OR o.type NOT IN ('alert.firing', 'alert.escalated', 'alert.updated',
                                       'alert.unanswered') THEN o.notice::text
               WHEN a.status = 'resolved' THEN
                    (coalesce(o.notice, '{}') || jsonb_build_object('since', jsonb_build_object(
                        'status', 'resolved', 'on', a.last_changed_on)))::text
               WHEN a.stage IS DISTINCT FROM o.payload ->> 'stage' THEN
                    (coalesce(o.notice, '{}') || jsonb_build_object('since', jsonb_build_object(
                        'status', 'moved', 'stage', a.stage, 'on', a.stage_since,
                        'summary', a.payload ->> 'summary')))::text
               WHEN (o.type = 'alert.unanswered' OR o.notice ->> 'reminder' = 'true')
                    AND greatest(a.acknowledged_at, a.snoozed_at) > o.created_at THEN
                    (coalesce(o.notice, '{}') || jsonb_build_object('since', jsonb_build_object(
                        'status', CASE WHEN a.snoozed_at > o.created_at
                                       AND a.snoozed_at >= coalesce(a.acknowledged_at, a.snoozed_at)
                                       THEN 'snoozed' ELSE 'acknowledged' END)))::text
               ELSE o.notice::text END AS notice;
