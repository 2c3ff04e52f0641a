-- web_visible: from the case data alone, who one person is and whose alerts are theirs
-- (RESPONSES.md, "Who is who"); web_visible_state.sql then finds those alerts, with the notices
-- sent to them, in the state (which may be in another database: state.conninfo). As a worker,
-- the children allocated to them; as a supervisor, the children allocated to workers whose
-- supervisor_id is theirs or whose team's manager_email is theirs; as a CP chair, the children
-- of the plans they chair open today, and each plan they chair (its alerts, open today or not).
-- Rows are settled as the rules settle them (rules/rows_workers.sql, tail_allocation.sql,
-- unanswered_service_manager.sql): a worker's or team's row first by content, a child's
-- allocation the one open today that started last, dangling workers left out. Emails are
-- compared in lower case. The lists are a caseload's worth, whatever the number of alerts.
-- $1 text  the person's email, lower case
-- $2 text  the configured time zone (timezone): "today" for allocations and plans
-- Columns: known (a worker or a team's manager), child_ids (text[] as text), plan_child_ids and
-- plan_ids (text[] as text, paired by position), each character UTF-8 lacks as '?' (@shown@,
-- case_columns.h), as the rules record the ids.
-- workers and teams are read through case_workers.sql and case_teams.sql: a column a
-- grant withholds is NULL there, so the page answers without it (daemon/case_columns.c).
WITH d AS (
    SELECT (now() AT TIME ZONE $2::text)::date AS today
),
worker AS (
    SELECT DISTINCT ON (worker_id COLLATE "C") worker_id, email, team_id, supervisor_id
      FROM (
-- @include case_workers.sql
          ) w
     WHERE worker_id IS NOT NULL
     ORDER BY worker_id COLLATE "C", display_name, email, team_id, supervisor_id, role
),
team AS (
    SELECT DISTINCT ON (team_id COLLATE "C") team_id, manager_email
      FROM (
-- @include case_teams.sql
          ) t
     WHERE team_id IS NOT NULL
     ORDER BY team_id COLLATE "C", name, manager_email, webhook_url
),
me AS (
    SELECT worker_id FROM worker WHERE lower(email) = $1::text
),
-- the workers whose children are this person's: themselves, those they supervise, and those
-- of the teams they manage
mine AS (
    SELECT worker_id FROM me
    UNION
    SELECT w.worker_id FROM worker w JOIN me ON w.supervisor_id = me.worker_id
    UNION
    SELECT w.worker_id FROM worker w JOIN team t ON t.team_id = w.team_id
     WHERE lower(t.manager_email) = $1::text
),
-- Only a child with an allocation row naming one of mine and open today can be allocated to
-- one of them today (the settled row is one of the child's rows): those children (a caseload's
-- worth) are settled, not every child (at a million children, settling every child with an
-- alert was 16,000 children's allocations sorted for each request, 0.2 s).
-- Gathered in one array: the planner cannot guess how few they are from the tables' statistics,
-- and as an array they are looked up by the allocations' (child_id) index where there is one.
cand AS (
    SELECT array_agg(DISTINCT a.child_id) AS ids
      FROM (
-- @include case_allocations.sql
          ) a, d
     WHERE a.allocation_id IS NOT NULL
       AND a.worker_id = ANY ((SELECT array_agg(worker_id) FROM mine)::text[])
       AND a.start_date <= d.today AND (a.end_date IS NULL OR a.end_date > d.today)
),
alloc AS (
    SELECT DISTINCT ON (a.child_id COLLATE "C") a.child_id, a.worker_id
      FROM (SELECT DISTINCT ON (child_id COLLATE "C", allocation_id COLLATE "C")
                   child_id, allocation_id, worker_id, start_date, end_date
              FROM (
-- @include case_allocations.sql
          ) a
             WHERE allocation_id IS NOT NULL
               AND child_id = ANY ((SELECT ids FROM cand)::text[])
             ORDER BY child_id COLLATE "C", allocation_id COLLATE "C", worker_id, start_date,
                      end_date) a
      JOIN worker w ON w.worker_id = a.worker_id, d
     WHERE a.start_date <= d.today AND (a.end_date IS NULL OR a.end_date > d.today)
     ORDER BY a.child_id COLLATE "C", a.start_date DESC, a.allocation_id DESC
),
chaired AS (
    SELECT p.plan_id::text AS plan_id, p.child_id::text AS child_id,
           (p.start_date <= d.today AND (p.end_date IS NULL OR p.end_date > d.today)) AS open
      FROM @case@.cp_plans p, d
     WHERE p.chair_id::text IN (SELECT worker_id FROM me)
)
SELECT (EXISTS (SELECT 1 FROM me)
        OR EXISTS (SELECT 1 FROM team WHERE lower(manager_email) = $1::text)) AS known,
       translate((SELECT coalesce(array_agg(DISTINCT c.child_id), '{}')
          FROM (SELECT al.child_id::text AS child_id FROM alloc al JOIN mine m USING (worker_id)
                UNION ALL
                SELECT child_id::text FROM chaired WHERE open) c
         WHERE c.child_id IS NOT NULL)::text, @shown@) AS child_ids,
       translate((SELECT coalesce(array_agg(child_id::text ORDER BY child_id, plan_id), '{}')
          FROM chaired WHERE child_id IS NOT NULL AND plan_id IS NOT NULL)::text, @shown@)
           AS plan_child_ids,
       translate((SELECT coalesce(array_agg(plan_id::text ORDER BY child_id, plan_id), '{}')
          FROM chaired WHERE child_id IS NOT NULL AND plan_id IS NOT NULL)::text, @shown@)
           AS plan_ids;
