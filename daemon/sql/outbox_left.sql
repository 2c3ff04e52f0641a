-- outbox_left: what a --once pass leaves due when it has claimed everything it could: notices
-- another session held (a row locked by another deliverer's claim or result, a lease of another
-- deliverer's not run out), or that waited on a receiver this run could not use. They are not
-- lost, and the next run or the daemon sends them; the run says how many, so that its summary
-- never says everything went when it did not (stop 45: 8,600 notices left unsent, "0 to retry").
-- Counted as the pass claimed: due by its first claim, email held for its digest time too when
-- never tried ($4 of outbox_claim_email.sql); email only when this run has a mail server.
-- $1 timestamptz  the pass's first claim (NULL: now)
-- $2 boolean      email is sent by this run
SELECT count(*), count(DISTINCT destination)
  FROM @state@.outbox
 WHERE status IN ('pending', 'delivering')
   AND (channel = 'webhook' OR $2::boolean)
   AND (next_attempt_at <= coalesce($1::timestamptz, now())
        OR (channel = 'email' AND attempts = 0
            AND created_at <= coalesce($1::timestamptz, now())));
