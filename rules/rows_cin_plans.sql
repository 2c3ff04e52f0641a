-- rows_cin_plans: cin_plans_rows, every row of cin_plans with its faults (docs/internals.md).
-- Not a statement: rules/embed_sql.sh puts it where a file has the line
-- `-- @include rows_cin_plans.sql`, after head.sql (common.sql, and quality_cin_plans.sql on its own).
,
cin_plans_rows AS NOT MATERIALIZED (
    SELECT c.plan_id, c.child_id, c.start_date, c.end_date, c.neglect,
           CASE WHEN c.plan_id IS NULL THEN 'null_key'
                WHEN c.child_id IS NULL THEN 'null_child_id' END AS key_fault,
           CASE WHEN c.start_date IS NULL THEN 'null_start_date'
                WHEN c.end_date < c.start_date THEN 'end_before_start'
                WHEN c.neglect IS NULL THEN 'null_neglect' END AS row_fault,
           c.plan_id IS NOT NULL AND c.child_id IS NOT NULL AS keyed,
           c.start_date IS NOT NULL AND (c.end_date IS NULL OR c.end_date >= c.start_date)
               AND c.neglect IS NOT NULL AS sound
    FROM @case@.cin_plans c
    WHERE ($2::text[] IS NULL OR c.child_id = ANY ($2::text[]))
)
