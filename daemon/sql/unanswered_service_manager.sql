-- unanswered_service_manager: the service_manager of each due alert (RULES.md: the supervisor's
-- own supervisor, the supervisor worker's supervisor_id), read from the case data at escalation
-- time in one statement for all due alerts. Settled as the rules settle them (rows_workers.sql,
-- rows_allocations.sql, tail_allocation.sql, alert_rows.sql): a worker's row first by content,
-- the child's allocation open on T that started last, dangling workers left out. Every link of
-- the chain is returned so that unanswered.c can say which one is missing when it falls back
-- to head_of_service. Runs under a savepoint: unreadable case data falls back, never fails the
-- escalation.
-- $1 jsonb  [{alert_id, child_id}]
-- $2 date   T
WITH due AS (
    SELECT d.alert_id, d.child_id
      FROM jsonb_to_recordset($1::jsonb) AS d(alert_id bigint, child_id text)
),
worker AS (
    -- email and display_name: NULL where withheld (case_workers.sql)
    SELECT DISTINCT ON (worker_id COLLATE "C") worker_id, email, supervisor_id
      FROM (
-- @include case_workers.sql
          ) w
     WHERE worker_id IS NOT NULL
     ORDER BY worker_id COLLATE "C", display_name, email, team_id, supervisor_id, role
),
alloc AS (
    SELECT DISTINCT ON (a.child_id COLLATE "C") a.child_id, a.worker_id
      FROM (SELECT DISTINCT ON (child_id COLLATE "C", allocation_id COLLATE "C")
                   child_id, allocation_id, worker_id, start_date, end_date
              FROM (
-- @include case_allocations.sql
          ) a
             WHERE allocation_id IS NOT NULL AND child_id IN (SELECT child_id FROM due)
             ORDER BY child_id COLLATE "C", allocation_id COLLATE "C", worker_id, start_date,
                      end_date) a
      JOIN worker w ON w.worker_id = a.worker_id
     WHERE a.start_date <= $2::date AND (a.end_date IS NULL OR a.end_date > $2::date)
     ORDER BY a.child_id COLLATE "C", a.start_date DESC, a.allocation_id DESC
)
-- each character UTF-8 lacks as '?' (@shown@, case_columns.h), as the rules send them
SELECT d.alert_id, translate(al.worker_id::text, @shown@) AS worker_id,
       translate(s.worker_id::text, @shown@) AS supervisor_id,
       translate(m.worker_id::text, @shown@) AS manager_id,
       translate(m.email::text, @shown@) AS manager_email
  FROM due d
  LEFT JOIN alloc al ON al.child_id = d.child_id
  LEFT JOIN worker w ON w.worker_id = al.worker_id
  -- a worker named as their own supervisor has none (alert_rows.sql)
  LEFT JOIN worker s ON s.worker_id = w.supervisor_id AND w.supervisor_id <> w.worker_id
  LEFT JOIN worker m ON m.worker_id = s.supervisor_id AND s.supervisor_id <> s.worker_id;
