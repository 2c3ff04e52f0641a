-- outbox_claim_webhook: takes the webhook notices that are due, under a lease, at most a given
-- number per receiver. Each receiver (webhook URL) has a lane of its own in the deliverer with
-- its own transfer slots; a receiver with no free room is left out entirely, so a stalled one's
-- backlog never stands in front of another's new notice. SKIP LOCKED lets several deliverers
-- share one outbox without taking the same notice; a lease that runs out (its deliverer died)
-- makes the notice due again, and it goes out with the same idempotency key. Every due webhook
-- notice is ranked (a receiver's oldest first), so the cost grows with what is due, as the
-- email claim's does.
-- $1 int          at most this many notices in all
-- $2 int          lease seconds
-- $3 timestamptz  only notices due by then (NULL: now): --once, which claims again after a full
--                 claim, takes what was due when it began, never a notice it has just retried
-- $4 text[]       receivers with a room of their own ...
-- $5 int[]        ... and that room: at most this many of their notices (0: none)
-- $6 int          the room of every other receiver
-- age_s is counted from when the notice was first due (state_v7.sql), as outbox_result.sql
-- counts it.
WITH room AS (
    SELECT * FROM unnest($4::text[], $5::int[]) AS r(destination, room)
),
ranked AS (
    SELECT o.notice_id, o.destination, o.next_attempt_at,
           row_number() OVER (PARTITION BY o.destination
                              ORDER BY o.next_attempt_at, o.notice_id) AS rank
      FROM @state@.outbox o
     WHERE o.channel = 'webhook'
       AND (o.status = 'pending' OR (o.status = 'delivering' AND o.lease_until < now()))
       AND o.next_attempt_at <= coalesce($3::timestamptz, now())
       AND o.destination NOT IN (SELECT url FROM @state@.disabled_endpoints)
       AND o.destination NOT IN (SELECT destination FROM room WHERE room <= 0)
),
wanted AS (
    SELECT k.notice_id
      FROM ranked k LEFT JOIN room r USING (destination)
     WHERE k.rank <= coalesce(r.room, $6::int)
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
          greatest(extract(epoch FROM now() - o.first_due_at), 0)::bigint AS age_s, now()::text AS claimed_at;
