-- rows_workers: workers_rows, every row of workers with its faults (docs/internals.md).
-- Not a statement but one CTE of a WITH list: a file has the line `-- @include rows_workers.sql`
-- after head.sql, with the commas around it (rule statements, and quality_workers.sql).
workers_rows AS NOT MATERIALIZED (
    -- @col:workers:EXPR@: EXPR, or NULL where withheld (rows_teams.sql, daemon/case_columns.c)
    SELECT w.worker_id::text COLLATE "C" AS worker_id,
           @col:workers:w.display_name@::text COLLATE "C" AS display_name,
           @col:workers:w.email@::text COLLATE "C" AS email,
           w.team_id::text COLLATE "C" AS team_id,
           w.supervisor_id::text COLLATE "C" AS supervisor_id,
           w.role::text COLLATE "C" AS role,
           CASE WHEN w.worker_id IS NULL THEN 'null_key' END AS key_fault,
           NULL::text AS row_fault,
           w.worker_id IS NOT NULL AS keyed,
           true AS sound
    FROM @case@.workers w
)
