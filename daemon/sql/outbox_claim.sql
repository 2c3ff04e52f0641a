-- outbox_claim: takes the notices that are due, under a lease. SKIP LOCKED lets several
-- deliverers share one outbox without taking the same notice; a lease that runs out (its
-- deliverer died) makes the notice due again, and it goes out with the same idempotency key.
-- $1 int  at most this many webhook notices
-- $2 int  lease seconds
-- $3 timestamptz  only notices due by then (NULL: now): a pass that claims again after a full
--                 batch takes what was due when it began, never a notice it has just retried
-- $4 int  at most this many email digests (a person's notices of one evaluation), each claimed
--         whole so that a digest is not split between two emails
WITH due_webhook AS (
    SELECT notice_id FROM @state@.outbox
      WHERE channel = 'webhook'
        AND (status = 'pending' OR (status = 'delivering' AND lease_until < now()))
        AND next_attempt_at <= coalesce($3::timestamptz, now())
        AND destination NOT IN (SELECT url FROM @state@.disabled_endpoints)
      ORDER BY next_attempt_at, notice_id
      LIMIT $1
      FOR UPDATE SKIP LOCKED
),
due_digest AS (
    SELECT destination, coalesce(digest_key, '') AS digest_key
      FROM @state@.outbox
      WHERE channel = 'email'
        AND (status = 'pending' OR (status = 'delivering' AND lease_until < now()))
        AND next_attempt_at <= coalesce($3::timestamptz, now())
      GROUP BY 1, 2
      ORDER BY min(next_attempt_at), min(notice_id)
      LIMIT $4::int
),
due_email AS (
    SELECT o.notice_id FROM @state@.outbox o
      JOIN due_digest g ON g.destination = o.destination
                       AND g.digest_key = coalesce(o.digest_key, '')
      WHERE o.channel = 'email'
        AND (o.status = 'pending' OR (o.status = 'delivering' AND o.lease_until < now()))
        AND o.next_attempt_at <= coalesce($3::timestamptz, now())
      FOR UPDATE OF o SKIP LOCKED
),
due AS (
    SELECT notice_id FROM due_webhook UNION ALL SELECT notice_id FROM due_email
)
UPDATE @state@.outbox o
   SET status = 'delivering', attempts = o.attempts + 1,
       lease_until = now() + make_interval(secs => $2::int)
  FROM due
 WHERE o.notice_id = due.notice_id
RETURNING o.notice_id, o.idempotency_key, o.channel, o.destination, o.role, o.type,
          o.payload::text, coalesce(o.digest_key, ''), o.attempts,
          extract(epoch FROM now() - o.created_at)::bigint AS age_s, now()::text AS claimed_at;
