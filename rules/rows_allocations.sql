-- rows_allocations: allocations_rows, every row of allocations with its faults (docs/internals.md).
-- Not a statement but one CTE of a WITH list: a file has the line `-- @include rows_allocations.sql`
-- after head.sql, with the commas around it (rule statements, and quality_allocations.sql).
allocations_rows AS NOT MATERIALIZED (
    SELECT a.allocation_id::text COLLATE "C" AS allocation_id,
           a.child_id::text COLLATE "C" AS child_id,
           -- the column as it is, for the lookup form's index probe (rules/embed_sql.sh)
           a.child_id AS child_id_raw,
           a.worker_id::text COLLATE "C" AS worker_id,
           a.start_date,
           CASE WHEN a.end_date >= DATE '10000-01-01' THEN 'infinity'
                ELSE a.end_date END AS end_date,
           CASE WHEN a.allocation_id IS NULL THEN 'null_key'
                WHEN a.child_id IS NULL THEN 'null_child_id'
                -- an id of spaces or nothing names no child: its link would end in /person/ (a
                -- function call a row cost as much as the scan: btrim only below '!')
                WHEN a.child_id::text COLLATE "C" < '!' AND btrim(a.child_id::text) = '' THEN 'blank_child_id' END AS key_fault,
           CASE WHEN a.worker_id IS NULL THEN 'null_worker_id'
                WHEN a.start_date IS NULL THEN 'null_start_date'
                WHEN NOT isfinite(a.start_date) THEN 'infinite_start_date'
                WHEN NOT (a.start_date >= DATE '0001-01-01'
                          AND a.start_date < DATE '10000-01-01')
                    THEN 'unusable_start_date'
                WHEN a.end_date < a.start_date THEN 'end_before_start'
                -- An allocation to nobody known cannot route an alert or count as a worker.
                WHEN known.worker_id IS NULL THEN 'dangling_worker' END AS row_fault,
           a.allocation_id IS NOT NULL AND a.child_id IS NOT NULL
               AND (a.child_id::text COLLATE "C" >= '!' OR btrim(a.child_id::text) <> '') AS keyed,
           a.worker_id IS NOT NULL AND a.start_date IS NOT NULL AND isfinite(a.start_date)
               AND a.start_date >= DATE '0001-01-01' AND a.start_date < DATE '10000-01-01'
               AND (a.end_date IS NULL OR a.end_date >= a.start_date)
               AND known.worker_id IS NOT NULL AS sound
    FROM @case@.allocations a
    -- A hash join with the distinct worker ids, one per statement (the planner drops it where
    -- neither row_fault nor sound is read). An IN (subquery) in the select list would be a
    -- SubPlan, run once per row when the worker ids outgrow work_mem. Compared as text
    -- COLLATE "C", as every id is: in a case-insensitive collation W12 was known through w12,
    -- though the lookup of its supervisor then found nobody (audit 17).
    LEFT JOIN (SELECT DISTINCT worker_id::text COLLATE "C" AS worker_id FROM @case@.workers) known
           ON known.worker_id = a.worker_id::text COLLATE "C"
    WHERE (:child_ids IS NULL OR a.child_id::text = ANY (:child_ids))
)
