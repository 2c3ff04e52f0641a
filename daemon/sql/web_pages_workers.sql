-- web_pages_workers: who each child's worker is today, for a team's page (RESPONSES.md, "Pages
-- for people": a team's alerts by worker), read from the case data at request time and settled
-- as web_visible.sql settles them: a worker's row first by content, the child's allocation the
-- one open today that started last.
-- $1 text[]  the children
-- $2 text  the configured time zone (timezone)
-- Columns: child_id, worker_id, display_name.
-- workers and teams are read through case_workers.sql and case_teams.sql: a column a
-- grant withholds is NULL there, so the page answers without it (daemon/case_columns.c).
WITH d AS (
    SELECT (now() AT TIME ZONE $2::text)::date AS today
),
worker AS (
    SELECT DISTINCT ON (worker_id COLLATE "C") worker_id, display_name
      FROM (
-- @include case_workers.sql
          ) w
     WHERE worker_id IS NOT NULL
     ORDER BY worker_id COLLATE "C", display_name, email, team_id, supervisor_id, role
)
SELECT DISTINCT ON (a.child_id COLLATE "C") a.child_id::text, a.worker_id::text,
       w.display_name::text
  FROM (
-- @include case_allocations.sql
          ) a
  JOIN worker w ON w.worker_id = a.worker_id, d
 WHERE a.child_id = ANY ($1::text[])
   AND a.allocation_id IS NOT NULL
   AND a.start_date <= d.today AND (a.end_date IS NULL OR a.end_date > d.today)
 ORDER BY a.child_id COLLATE "C", a.start_date DESC, a.allocation_id DESC;
