-- outbox_counts: the outbox by channel and status, and the age of the oldest notice waiting,
-- for /metrics (service_delivery.c, every few seconds).
SELECT channel, status, count(*),
       coalesce(extract(epoch FROM now() - min(created_at)
                FILTER (WHERE status IN ('pending', 'delivering'))), 0)
  FROM @state@.outbox
 GROUP BY 1, 2;
