-- blocking_pids: the sessions one of this daemon's sessions waits for, for /healthz while an evaluation makes no progress.
-- /healthz says "degraded" when an evaluation and its recording run past health.stall_seconds;
-- asked on another connection to the same server, this says who is in the way (a reload's
-- ACCESS EXCLUSIVE lock, another instance's open transaction) before the statement's own lock
-- timeout cancels it. pg_blocking_pids needs no privilege; a role without pg_read_all_stats
-- sees another role's xact_start as NULL, and the text leaves it out.
-- $1 int  the waiting session's pid (PQbackendPID)
-- what: what it waits for, as /healthz says it ("to lock casework.appointments", "for a row lock")
SELECT w.what,
       b.pid,
       a.application_name,
       a.usename::text AS usename,
       to_char(a.xact_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS since
  FROM unnest(pg_catalog.pg_blocking_pids($1::int)) AS b(pid)
  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = b.pid
 CROSS JOIN LATERAL (
    SELECT coalesce(string_agg(DISTINCT CASE l.locktype
                                   WHEN 'relation' THEN 'to lock ' || l.relation::regclass::text
                                   WHEN 'transactionid' THEN 'for a row lock'
                                   WHEN 'tuple' THEN 'for a row lock'
                                   WHEN 'advisory' THEN 'for an advisory lock'
                                   ELSE 'for a lock on a ' || l.locktype END, ', '), '') AS what
      FROM pg_catalog.pg_locks l
     WHERE l.pid = $1::int AND NOT l.granted
 ) w
 ORDER BY b.pid
 LIMIT 4
