-- rows_strategies: strategies_rows, every row of strategies with its faults (docs/internals.md).
-- Not a statement but one CTE of a WITH list: a file has the line `-- @include rows_strategies.sql`
-- after head.sql, with the commas around it (rule statements, and quality_strategies.sql).
strategies_rows AS NOT MATERIALIZED (
    SELECT s.strategy_id::text COLLATE "C" AS strategy_id,
           s.child_id::text COLLATE "C" AS child_id,
           s.kind::text COLLATE "C" AS kind,
           s.decided_on,
           CASE WHEN s.review_by >= DATE '10000-01-01' THEN 'infinity'
                ELSE s.review_by END AS review_by,
           CASE WHEN s.strategy_id IS NULL THEN 'null_key'
                WHEN s.child_id IS NULL THEN 'null_child_id'
                -- an id of spaces or nothing names no child: its link would end in /person/ (a
                -- function call a row cost as much as the scan: btrim only below '!')
                WHEN s.child_id::text COLLATE "C" < '!' AND btrim(s.child_id::text) = '' THEN 'blank_child_id' END AS key_fault,
           CASE WHEN s.decided_on IS NULL THEN 'null_decided_on'
                WHEN NOT isfinite(s.decided_on) THEN 'infinite_decided_on'
                WHEN NOT (s.decided_on >= DATE '0001-01-01'
                          AND s.decided_on < DATE '10000-01-01')
                    THEN 'unusable_decided_on'
                WHEN s.review_by < s.decided_on THEN 'review_before_decided' END AS row_fault,
           s.strategy_id IS NOT NULL AND s.child_id IS NOT NULL
               AND (s.child_id::text COLLATE "C" >= '!' OR btrim(s.child_id::text) <> '') AS keyed,
           s.decided_on IS NOT NULL AND isfinite(s.decided_on)
               AND s.decided_on >= DATE '0001-01-01' AND s.decided_on < DATE '10000-01-01'
               AND (s.review_by IS NULL OR s.review_by >= s.decided_on) AS sound
    FROM @case@.strategies s
    WHERE (:child_ids IS NULL OR s.child_id::text = ANY (:child_ids))
)
