-- rows_cp_plans: cp_plans_rows, every row of cp_plans with its faults (docs/internals.md).
-- Not a statement but one CTE of a WITH list: a file has the line `-- @include rows_cp_plans.sql`
-- after head.sql, with the commas around it (rule statements, and quality_cp_plans.sql).
cp_plans_rows AS NOT MATERIALIZED (
    SELECT c.plan_id::text COLLATE "C" AS plan_id,
           c.child_id::text COLLATE "C" AS child_id,
           c.start_date,
           CASE WHEN c.end_date >= DATE '10000-01-01' THEN 'infinity'
                ELSE c.end_date END AS end_date,
           c.initial_category::text COLLATE "C" AS initial_category,
           c.latest_category::text COLLATE "C" AS latest_category,
           c.chair_id::text COLLATE "C" AS chair_id,
           -- The category the plan is judged by: the latest, else the initial one.
           coalesce(c.latest_category::text, c.initial_category::text) COLLATE "C" AS category,
           CASE WHEN c.plan_id IS NULL THEN 'null_key'
                WHEN c.child_id IS NULL THEN 'null_child_id'
                -- an id of spaces or nothing names no child: its link would end in /person/ (a
                -- function call a row cost as much as the scan: btrim only below '!')
                WHEN c.child_id::text COLLATE "C" < '!' AND btrim(c.child_id::text) = '' THEN 'blank_child_id' END AS key_fault,
           CASE WHEN c.start_date IS NULL THEN 'null_start_date'
                WHEN NOT isfinite(c.start_date) THEN 'infinite_start_date'
                WHEN NOT (c.start_date >= DATE '0001-01-01'
                          AND c.start_date < DATE '10000-01-01')
                    THEN 'unusable_start_date'
                WHEN c.end_date < c.start_date THEN 'end_before_start'
                WHEN c.initial_category IS NULL THEN 'null_category'
                -- Either code outside the list makes the plan's history untrustworthy.
                -- Codes compared as text COLLATE "C", as ids are: an enum (outside
                -- CONTRACT.md, which --check-config says) failed every rule reading cp_plans.
                WHEN NOT (c.initial_category::text COLLATE "C" = ANY (known.categories))
                  OR NOT (coalesce(c.latest_category::text, c.initial_category::text) COLLATE "C"
                          = ANY (known.categories))
                    THEN 'unknown_category' END AS row_fault,
           c.plan_id IS NOT NULL AND c.child_id IS NOT NULL
               AND (c.child_id::text COLLATE "C" >= '!' OR btrim(c.child_id::text) <> '') AS keyed,
           c.start_date IS NOT NULL AND isfinite(c.start_date)
               AND c.start_date >= DATE '0001-01-01' AND c.start_date < DATE '10000-01-01'
               AND (c.end_date IS NULL OR c.end_date >= c.start_date)
               AND c.initial_category::text COLLATE "C" = ANY (known.categories)
               AND (c.latest_category IS NULL
                    OR c.latest_category::text COLLATE "C" = ANY (known.categories)) AS sound
    FROM @case@.cp_plans c
    CROSS JOIN (SELECT ARRAY['NEG', 'PHY', 'EMO', 'SAB', 'MUL'] || :neglect_categories AS categories) known
    WHERE (:child_ids IS NULL OR c.child_id::text = ANY (:child_ids))
)
