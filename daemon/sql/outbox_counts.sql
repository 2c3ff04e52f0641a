-- outbox_counts: the outbox by channel and status, how long the notice waiting longest has waited
-- since it was first due, and how many waiting are due, for /metrics (service_delivery.c,
-- every 15 s).
-- From first_due_at, as the age limit counts (state_v7.sql), not created_at: people's email
-- held for email.digest_time is written hours before its slot, and counted from then it made
-- DriftwatchOutboxAgeing fire every evening with nothing wrong. A notice not due yet (held for
-- its slot, a report waiting for the rest of its incident) has not waited at all.
SELECT channel, status, count(*),
       coalesce(extract(epoch FROM now() - min(first_due_at)
                FILTER (WHERE status IN ('pending', 'delivering') AND first_due_at <= now())), 0),
       -- the notices waiting that are due: DriftwatchChannelStalled reads these, not all pending
       count(*) FILTER (WHERE status IN ('pending', 'delivering') AND first_due_at <= now())
  FROM @state@.outbox
 GROUP BY 1, 2;
