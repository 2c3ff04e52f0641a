-- outbox_claim_webhook: takes the webhook notices that are due, under a lease, at most a given
-- number per receiver. Each receiver (webhook URL) has a lane of its own in the deliverer with
-- its own transfer slots; a receiver with no free room is left out entirely, so a stalled one's
-- backlog never stands in front of another's new notice. SKIP LOCKED lets several deliverers
-- share one outbox without taking the same notice; a lease that runs out (its deliverer died)
-- makes the notice due again, and it goes out with the same idempotency key. The receivers with
-- anything pending or leased are found one index probe each, and of each only its oldest due
-- notices are read, up to its room (outbox_webhook_due_idx, state_v11.sql): the cost grows with
-- the receivers and what is claimed, never with a backlog waiting (a receiver down for a day,
-- a first day's 200,000 notices). Leased notices are in the index too, and are read past: at
-- most what the deliverer has claimed ahead.
-- $1 int          at most this many notices in all
-- $2 int          lease seconds
-- $3 timestamptz  only notices due by then (NULL: now): --once, which claims again after a full
--                 claim, takes what was due when it began, never a notice it has just retried
-- $4 text[]       receivers with a room of their own ...
-- $5 int[]        ... and that room: at most this many of their notices (0: none)
-- $6 int          the room of every other receiver
-- $7 int          the retry horizon in seconds (delivery.max_age_hours)
-- $8 bigint[]     the notices this deliverer holds: never claimed again by it, as in
--                 outbox_claim_email.sql
-- age_s is counted from when the notice was first due (state_v7.sql), as outbox_result.sql
-- counts it.
-- A receiver disabled by a 410 is sent nothing: only its notices older than the horizon are
-- claimed, with disabled true, for the deliverer to fail unsent and report, as any notice that
-- ran out of time is. Before, they stayed pending for ever, the operators told only of the one
-- that met the 410; an operator who re-enables the receiver within the horizon loses none.
WITH RECURSIVE room AS (
    SELECT * FROM unnest($4::text[], $5::int[]) AS r(destination, room)
),
receivers AS (
    -- Each receiver with a notice pending or leased, in the index's order: a loose index scan,
    -- one probe a receiver (the NULL after the last ends it).
    (SELECT o.destination FROM @state@.outbox o
      WHERE o.channel = 'webhook' AND o.status IN ('pending', 'delivering')
      ORDER BY o.destination LIMIT 1)
    UNION ALL
    SELECT (SELECT o.destination FROM @state@.outbox o
             WHERE o.channel = 'webhook' AND o.status IN ('pending', 'delivering')
               AND o.destination > v.destination
             ORDER BY o.destination LIMIT 1)
      FROM receivers v
     WHERE v.destination IS NOT NULL
),
wanted AS (
    SELECT k.notice_id
      FROM receivers v
      LEFT JOIN room r USING (destination)
      CROSS JOIN LATERAL (SELECT v.destination IN (SELECT url FROM @state@.disabled_endpoints)
                                 AS disabled) x
      CROSS JOIN LATERAL (
          -- the receiver's oldest due notices, up to its room (none when it has none)
          SELECT o.notice_id, o.next_attempt_at
            FROM @state@.outbox o
           WHERE o.destination = v.destination
             AND o.channel = 'webhook' AND o.status IN ('pending', 'delivering')
             AND (o.status = 'pending' OR o.lease_until < now())
             AND o.next_attempt_at <= coalesce($3::timestamptz, now())
             AND (NOT x.disabled OR o.first_due_at + make_interval(secs => $7::int) <= now())
             AND o.notice_id <> ALL ($8::bigint[])
           ORDER BY o.next_attempt_at, o.notice_id
           -- a disabled receiver has no transfers, so no room: its expired notices go 100 a claim
           LIMIT CASE WHEN x.disabled THEN 100 ELSE greatest(coalesce(r.room, $6::int), 0) END
      ) k
     WHERE v.destination IS NOT NULL
     ORDER BY k.next_attempt_at, k.notice_id
     LIMIT $1
),
-- The wanted notices are taken by their key, not joined: a join planned from statistics taken
-- before a burst of new notices (the outbox was all delivered when last analyzed) became a
-- nested loop over every due notice per wanted one, 5.7 s a claim at 20,000 due.
due AS (
    SELECT o.notice_id FROM @state@.outbox o
     WHERE o.notice_id = ANY (ARRAY(SELECT notice_id FROM wanted))
       AND o.channel = 'webhook'
       AND (o.status = 'pending' OR (o.status = 'delivering' AND o.lease_until < now()))
       AND o.next_attempt_at <= coalesce($3::timestamptz, now())
       FOR UPDATE OF o SKIP LOCKED
)
UPDATE @state@.outbox o
   SET status = 'delivering', attempts = o.attempts + 1,
       lease_until = now() + make_interval(secs => $2::int)
  FROM due
 WHERE o.notice_id = due.notice_id
RETURNING o.notice_id, o.idempotency_key, o.channel, o.destination, o.role, o.type,
          o.payload::text, coalesce(o.digest_key, ''), o.attempts,
          greatest(extract(epoch FROM now() - o.first_due_at), 0)::bigint AS age_s, now()::text AS claimed_at,
          o.destination IN (SELECT url FROM @state@.disabled_endpoints) AS disabled,
          -- the envelope's "timestamp": when the change was recorded (the notice is written
          -- in its transaction), as Standard Webhooks has it, the same in every retry
          to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS occurred_at;
