-- web_child_allocations: who the child's workers were, for its chronology (RESPONSES.md,
-- "/child"): every allocation row (identical copies once) by start, with the worker's name as
-- staff know it (the first workers row by content; none for a dangling worker_id).
-- $1 text  the child
-- workers and teams are read through case_workers.sql and case_teams.sql: a column a
-- grant withholds is NULL there, so the page answers without it (daemon/case_columns.c).
WITH rows AS (
    SELECT DISTINCT a.allocation_id::text, a.worker_id::text, a.start_date, a.end_date
      FROM (
-- @include case_allocations.sql
          ) a
     WHERE a.child_id::text = $1::text
),
names AS (
    SELECT DISTINCT ON (w.worker_id COLLATE "C") w.worker_id::text, w.display_name::text
      FROM (
-- @include case_workers.sql
          ) w
     WHERE w.worker_id IN (SELECT worker_id FROM rows)
     ORDER BY w.worker_id COLLATE "C", w.display_name, w.email, w.team_id, w.supervisor_id, w.role
)
SELECT translate(coalesce(jsonb_agg(jsonb_build_object(
           'allocation_id', r.allocation_id, 'worker_id', r.worker_id,
           'worker_name', n.display_name, 'start_date', r.start_date, 'end_date', r.end_date)
       ORDER BY r.start_date NULLS LAST, r.allocation_id COLLATE "C"), '[]'::jsonb)::text, @shown@)
  FROM rows r
  LEFT JOIN names n ON n.worker_id = r.worker_id
