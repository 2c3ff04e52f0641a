-- Tail of every rule query: each hit with everyone its recipient roles may resolve to (docs/internals.md).
-- Every contact is looked up per hit through an index (child_id, worker_id, team_id), the same
-- "first by content" rows as the X_clean CTEs: linear in the number of hits whatever the planner
-- expects of them, where joins of derived sets go quadratic when it expects one row.
SELECT h.child_id,
       h.subject_id,
       h.stage,
       to_char(h.since, 'YYYY-MM-DD') AS since,
       h.facts::text AS facts,
       c.family_id,
       a.worker_id AS alloc_worker_id,
       w.email AS alloc_worker_email,
       -- A supervisor_id naming nobody resolves like no supervisor: to the team manager.
       s.worker_id AS supervisor_id,
       s.email AS supervisor_email,
       t.manager_email AS team_manager_email,
       h.chair_id,
       ch.email AS chair_email,
       t.webhook_url AS team_webhook_url
FROM hits h
LEFT JOIN LATERAL (
    SELECT family_id FROM children_rows
    WHERE keyed AND child_id = h.child_id
    ORDER BY family_id, date_of_birth, expected_dob, disability
    LIMIT 1
) c ON true
-- The current allocation: open on T, started last (ties: greatest allocation_id), dangling
-- workers left out. This is allocations_rows.sound spelt out for an allocation open on T (which
-- has a start and no end before it), with the worker looked up by index: `sound` itself tests
-- the worker with an uncorrelated IN, which reads every worker once per statement, however few
-- the hits. Keep the two alike.
LEFT JOIN LATERAL (
    SELECT worker_id
    FROM (SELECT DISTINCT ON (allocation_id) allocation_id, worker_id, start_date, end_date
          FROM allocations_rows
          WHERE keyed AND child_id = h.child_id
          ORDER BY allocation_id, worker_id, start_date, end_date) first_by_content
    WHERE start_date <= $1::date AND (end_date IS NULL OR end_date > $1::date)
      AND EXISTS (SELECT 1 FROM workers_rows w WHERE w.keyed AND w.worker_id = first_by_content.worker_id)
    ORDER BY start_date DESC, allocation_id DESC
    LIMIT 1
) a ON true
LEFT JOIN LATERAL (
    SELECT email, team_id, supervisor_id FROM workers_rows
    WHERE keyed AND worker_id = a.worker_id
    ORDER BY display_name, email, team_id, supervisor_id, role
    LIMIT 1
) w ON true
LEFT JOIN LATERAL (
    SELECT worker_id, email FROM workers_rows
    WHERE keyed AND worker_id = w.supervisor_id
    ORDER BY display_name, email, team_id, supervisor_id, role
    LIMIT 1
) s ON true
LEFT JOIN LATERAL (
    SELECT manager_email, webhook_url FROM teams_rows
    WHERE keyed AND team_id = w.team_id
    ORDER BY name, manager_email, webhook_url
    LIMIT 1
) t ON true
LEFT JOIN LATERAL (
    SELECT email FROM workers_rows
    WHERE keyed AND worker_id = h.chair_id
    ORDER BY display_name, email, team_id, supervisor_id, role
    LIMIT 1
) ch ON true
-- Byte order, whatever the database's collation: a dry run's output is the same everywhere.
ORDER BY h.child_id COLLATE "C"
