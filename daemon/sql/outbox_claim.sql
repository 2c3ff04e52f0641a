-- outbox_claim: takes the notices that are due, under a lease. SKIP LOCKED lets several
-- deliverers share one outbox without taking the same notice; a lease that runs out (its
-- deliverer died) makes the notice due again, and it goes out with the same idempotency key.
-- $1 int  at most this many webhook notices (email is claimed whole, so a digest is not split)
-- $2 int  lease seconds
-- $3 timestamptz  only notices due by then (NULL: now): a pass that claims again after a full
--                 batch takes what was due when it began, never a notice it has just retried
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
due_email AS (
    SELECT notice_id FROM @state@.outbox
      WHERE channel = 'email'
        AND (status = 'pending' OR (status = 'delivering' AND lease_until < now()))
        AND next_attempt_at <= coalesce($3::timestamptz, now())
      FOR UPDATE SKIP LOCKED
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
