-- Tail of every rule query: each hit with everyone its recipient roles may resolve to (docs/internals.md).
-- Each contact is one set for all hits, settled as the rules settle rows (first by content) and
-- hash-joined to the hits by key: a bounded number of passes over children, allocations,
-- workers and teams whatever the number of hits, with no index needed. For a few given children
-- every set is small and read through the (child_id, ...) indexes.
-- The rule has defined hits, tail_family (child_id, family_id) and tail_allocation (child_id,
-- worker_id): tail_family.sql and tail_allocation.sql, or its own from rows it settled already.
tail_worker AS (
    -- The allocated workers and the chairs, first by content.
    SELECT DISTINCT ON (worker_id COLLATE "C") worker_id, email, team_id, supervisor_id
    FROM workers_rows
    WHERE keyed
      AND worker_id IN (SELECT worker_id FROM tail_allocation UNION ALL SELECT chair_id FROM hits)
    ORDER BY worker_id COLLATE "C", display_name, email, team_id, supervisor_id, role
),
tail_supervisor AS (
    -- A supervisor_id naming nobody resolves like no supervisor: to the team manager.
    SELECT DISTINCT ON (worker_id COLLATE "C") worker_id, email
    FROM workers_rows
    WHERE keyed AND worker_id IN (SELECT supervisor_id FROM tail_worker)
    ORDER BY worker_id COLLATE "C", display_name, email, team_id, supervisor_id, role
),
tail_team AS (
    SELECT DISTINCT ON (team_id COLLATE "C") team_id, manager_email, webhook_url
    FROM teams_rows
    WHERE keyed AND team_id IN (SELECT team_id FROM tail_worker)
    ORDER BY team_id COLLATE "C", name, manager_email, webhook_url
),
tail_shown AS (
    -- The characters of the database's encoding that UTF-8 lacks (daemon/db.c sets the list
    -- in a session whose database is neither UTF-8 nor SQL_ASCII; elsewhere it is empty): the
    -- server refuses to send a value holding one, so each is sent as '?'.
    SELECT u.bad, repeat('?', length(u.bad)) AS q
    FROM (SELECT coalesce(current_setting('driftwatch.untranslatable', true), '') AS bad) u
)
SELECT translate(h.child_id, u.bad, u.q) AS child_id,
       translate(h.subject_id, u.bad, u.q) AS subject_id,
       h.stage,
       to_char(h.since, 'YYYY-MM-DD') AS since,
       translate(h.facts::text, u.bad, u.q) AS facts,
       translate(c.family_id, u.bad, u.q) AS family_id,
       translate(a.worker_id, u.bad, u.q) AS alloc_worker_id,
       translate(w.email, u.bad, u.q) AS alloc_worker_email,
       translate(s.worker_id, u.bad, u.q) AS supervisor_id,
       translate(s.email, u.bad, u.q) AS supervisor_email,
       translate(t.manager_email, u.bad, u.q) AS team_manager_email,
       translate(h.chair_id, u.bad, u.q) AS chair_id,
       translate(ch.email, u.bad, u.q) AS chair_email,
       translate(t.webhook_url, u.bad, u.q) AS team_webhook_url,
       translate(w.team_id, u.bad, u.q) AS alloc_team_id
FROM hits h
CROSS JOIN tail_shown u
LEFT JOIN tail_family c ON c.child_id = h.child_id
LEFT JOIN tail_allocation a ON a.child_id = h.child_id
LEFT JOIN tail_worker w ON w.worker_id = a.worker_id
-- A worker named as their own supervisor is nobody's oversight: the supervisor role goes on to
-- the team manager, else the fallback (quality_workers.sql counts it, self_supervisor), or the
-- 15-month escalation would reach nobody above the worker.
LEFT JOIN tail_supervisor s ON s.worker_id = w.supervisor_id AND w.supervisor_id <> w.worker_id
LEFT JOIN tail_team t ON t.team_id = w.team_id
LEFT JOIN tail_worker ch ON ch.worker_id = h.chair_id
-- Byte order, whatever the database's collation: rows stream to the dry run's output and to
-- recording in this order, the same everywhere.
ORDER BY h.child_id COLLATE "C"
