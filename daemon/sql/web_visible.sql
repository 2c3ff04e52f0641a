-- web_visible: the alerts one person may see (RESPONSES.md, "Who is who"), in one statement
-- over the case data and the state, whatever the number of alerts: as a worker, those of the
-- children allocated to them; as a supervisor, those of children allocated to workers whose
-- supervisor_id is theirs or whose team's manager_email is theirs; as a CP chair, those of the
-- plans they chair (open today, or the alert's subject); as a recipient, those they were sent
-- notices of. Rows are settled as the rules settle them (rules/rows_workers.sql,
-- tail_allocation.sql, unanswered_service_manager.sql): a worker's or team's row first by
-- content, a child's allocation the one open today that started last, dangling workers left
-- out. Emails are compared in lower case.
-- $1 text  the person's email, lower case
-- $2 text  the configured time zone (timezone): "today" for allocations and plans
-- Columns: known (a worker, a team's manager or a recipient: anyone else sees nothing),
-- alert_ids (bigint[] as text).
WITH d AS (
    SELECT (now() AT TIME ZONE $2::text)::date AS today
),
worker AS (
    SELECT DISTINCT ON (worker_id COLLATE "C") worker_id, email, team_id, supervisor_id
      FROM @case@.workers
     WHERE worker_id IS NOT NULL
     ORDER BY worker_id COLLATE "C", display_name, email, team_id, supervisor_id, role
),
team AS (
    SELECT DISTINCT ON (team_id COLLATE "C") team_id, manager_email
      FROM @case@.teams
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
-- Only a child with an allocation row naming one of mine can be allocated to one of them today:
-- those children (a caseload's worth) are settled, not every child with an alert (at a million
-- children that was 16,000 children's allocations sorted for each request, 0.2 s).
-- Gathered in one array: the planner cannot guess how few they are from the tables' statistics,
-- and as an array they are looked up by the allocations' (child_id) index where there is one.
cand AS (
    SELECT array_agg(DISTINCT child_id) AS ids
      FROM @case@.allocations
     WHERE allocation_id IS NOT NULL
       AND worker_id = ANY ((SELECT array_agg(worker_id) FROM mine)::text[])
       AND child_id IN (SELECT child_id FROM @state@.alerts)
),
alloc AS (
    SELECT DISTINCT ON (a.child_id COLLATE "C") a.child_id, a.worker_id
      FROM (SELECT DISTINCT ON (child_id COLLATE "C", allocation_id COLLATE "C")
                   child_id, allocation_id, worker_id, start_date, end_date
              FROM @case@.allocations
             WHERE allocation_id IS NOT NULL
               AND child_id = ANY ((SELECT ids FROM cand)::text[])
             ORDER BY child_id COLLATE "C", allocation_id COLLATE "C", worker_id, start_date,
                      end_date) a
      JOIN worker w ON w.worker_id = a.worker_id, d
     WHERE a.start_date <= d.today AND (a.end_date IS NULL OR a.end_date > d.today)
     ORDER BY a.child_id COLLATE "C", a.start_date DESC, a.allocation_id DESC
),
chaired AS (
    SELECT p.plan_id, p.child_id,
           (p.start_date <= d.today AND (p.end_date IS NULL OR p.end_date > d.today)) AS open
      FROM @case@.cp_plans p, d
     WHERE p.chair_id IN (SELECT worker_id FROM me)
),
-- @include web_visible_notice.sql
,
visible AS (
    SELECT a.alert_id
      FROM @state@.alerts a
     WHERE a.child_id IN (SELECT al.child_id FROM alloc al JOIN mine m USING (worker_id))
        OR a.child_id IN (SELECT child_id FROM chaired WHERE open)
        OR (a.child_id, a.subject_id) IN (SELECT child_id, plan_id FROM chaired)
    UNION
    SELECT alert_id FROM notice
)
SELECT (EXISTS (SELECT 1 FROM me)
        OR EXISTS (SELECT 1 FROM team WHERE lower(manager_email) = $1::text)
        OR EXISTS (SELECT 1 FROM notice)) AS known,
       (SELECT coalesce(array_agg(alert_id ORDER BY alert_id), '{}') FROM visible)::text
           AS alert_ids;
