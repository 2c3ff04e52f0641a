-- outbox_renew: extends the lease of the notices a deliverer holds (claimed and waiting for a
-- slot, or being sent), so that the lease can be short: a notice held by an instance that died
-- waits only that long for another. A notice counts only for the claim it came from (attempts
-- as claimed, as in outbox_result.sql): one whose lease ran out and that another deliverer has
-- claimed since is left alone, and is not returned. One whose lease ran out and that nobody
-- claimed is simply held again. Rows locked by another's claim are waited for, not skipped:
-- a claim takes only rows whose lease is over, and those are not ours to keep anyway.
-- $1 bigint[]  the notices
-- $2 int[]     each one's attempts as claimed
-- $3 int       lease seconds
UPDATE @state@.outbox o
   SET lease_until = now() + make_interval(secs => $3::int)
  FROM unnest($1::bigint[], $2::int[]) AS h(notice_id, attempts)
 WHERE o.notice_id = h.notice_id AND o.attempts = h.attempts AND o.status = 'delivering'
RETURNING o.notice_id;
