-- rows_cin_plans: cin_plans_rows, every row of cin_plans with its faults (docs/internals.md).
-- Not a statement but one CTE of a WITH list: a file has the line `-- @include rows_cin_plans.sql`
-- after head.sql, with the commas around it (rule statements, and quality_cin_plans.sql).
cin_plans_rows AS NOT MATERIALIZED (
    SELECT c.plan_id::text COLLATE "C" AS plan_id,
           c.child_id::text COLLATE "C" AS child_id,
           c.start_date,
           CASE WHEN c.end_date >= DATE '10000-01-01' THEN 'infinity'
                ELSE c.end_date END AS end_date,
           c.neglect,
           CASE WHEN c.plan_id IS NULL THEN 'null_key'
                WHEN c.child_id IS NULL THEN 'null_child_id'
                -- an id of spaces or nothing names no child: its link would end in /person/ (a
                -- function call a row cost as much as the scan: btrim only below '!')
                WHEN c.child_id::text COLLATE "C" < '!' AND btrim(c.child_id::text) = '' THEN 'blank_child_id' END AS key_fault,
           -- A start outside years 1 to 9999 is no day calendar arithmetic can use: 4713 BC
           -- less 24 months, or 5874897-12-31 plus merge_gap_days, failed a rule for every
           -- child (audit 17). An end past 9999 is read as no end, as infinity is.
           CASE WHEN c.start_date IS NULL THEN 'null_start_date'
                WHEN NOT isfinite(c.start_date) THEN 'infinite_start_date'
                WHEN NOT (c.start_date >= DATE '0001-01-01'
                          AND c.start_date < DATE '10000-01-01')
                    THEN 'unusable_start_date'
                WHEN c.end_date < c.start_date THEN 'end_before_start'
                WHEN c.neglect IS NULL THEN 'null_neglect' END AS row_fault,
           c.plan_id IS NOT NULL AND c.child_id IS NOT NULL
               AND (c.child_id::text COLLATE "C" >= '!' OR btrim(c.child_id::text) <> '') AS keyed,
           c.start_date IS NOT NULL AND isfinite(c.start_date)
               AND c.start_date >= DATE '0001-01-01' AND c.start_date < DATE '10000-01-01'
               AND (c.end_date IS NULL OR c.end_date >= c.start_date)
               AND c.neglect IS NOT NULL AS sound
    FROM @case@.cin_plans c
    WHERE (:child_ids IS NULL OR c.child_id::text = ANY (:child_ids))
)
