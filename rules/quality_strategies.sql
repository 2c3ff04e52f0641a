-- quality_strategies: the bad rows of strategies by kind (docs/internals.md, "Bad rows").
-- One statement of the bad-row count. Only strategies is read,
-- so a relation that cannot be read stops its own count and no other.
-- Most keys are unique: one sort of the keys' bare 64-bit hashes finds those that repeat, and
-- one more pass keeps only the rows the count needs (a repeated hash, no key, a fault of the
-- row's own); a repeated hash's rows are ranked by content as the rules settle them
-- (duplicate_key, identical copies counted once), and rows with no key likewise. Rows are (kind, n) as eval.c reads them, kind being "strategies.<kind>".
-- @include head.sql
,
-- @include rows_strategies.sql
,
q_rows AS NOT MATERIALIZED (
    SELECT r.*,
           -- kind NULL: it holds an escalation only while no strategy_kinds are configured (a
           -- kind NULL is none of them): counted, kept
           CASE WHEN r.kind IS NULL THEN 'null_kind' END AS warn,
           -- the key's alone: a key that repeats for one child (duplicate_key) or for two
           -- (shared_key) is among the few rows flagged, in the same one pass
           hashtextextended(r.strategy_id, 0) AS h
    FROM strategies_rows r
),
q_kind AS NOT MATERIALIZED (
    -- The kind a keyed row has on its own: its fault, else what is only suspicious.
    SELECT q.*, coalesce(row_fault, warn) AS alone FROM q_rows q
),
q_repeated AS MATERIALIZED (
    -- Hashes that more than one keyed row has: a repeated key, or (rarely) two keys that
    -- collide. Gathered in one array, so that the planner sizes the hash table that finds
    -- their rows by what the array holds, not by a guess from millions of keys.
    SELECT array_agg(h) AS hs
    FROM (SELECT h FROM q_rows
          WHERE keyed
          GROUP BY h HAVING count(*) > 1) repeated
),
q_flagged AS MATERIALIZED (
    -- The few rows the count needs, in one pass: a hash that repeats, no key, or a fault of
    -- the row's own. (Counting every row's kinds in a pass of its own cost as much again.)
    SELECT q.*, r.h IS NOT NULL AS repeated
    FROM q_kind q
    LEFT JOIN (SELECT unnest(hs) AS h FROM q_repeated) r ON r.h = q.h
    WHERE r.h IS NOT NULL OR NOT q.keyed OR q.alone IS NOT NULL
),
q_ranked AS MATERIALIZED (
    -- Ranked within the exact key, as before: the first by content order is the key's row, an
    -- identical one is a copy, any other is a duplicate_key; a row with no key is never one.
    SELECT coalesce(key_fault, CASE WHEN rank() OVER w > 1 THEN 'duplicate_key' END, row_fault,
                    -- a key another child's row also has: both rows are used, each for its
                    -- own child, and counted (audit 13)
                    CASE WHEN keyed AND min(child_id) FILTER (WHERE keyed) OVER k
                                        <> max(child_id) FILTER (WHERE keyed) OVER k
                         THEN 'shared_key' END,
                    warn) AS kind,
           row_number() OVER w > rank() OVER w AS copy
    FROM q_flagged
    WHERE repeated OR NOT keyed
    WINDOW w AS (PARTITION BY child_id COLLATE "C", strategy_id COLLATE "C"
                 ORDER BY kind, decided_on, review_by),
           k AS (PARTITION BY strategy_id COLLATE "C")
),
q_kinds (kind, n) AS (
    SELECT kind, count(*) FROM q_ranked WHERE NOT copy AND kind IS NOT NULL GROUP BY kind
    UNION ALL
    -- a keyed row whose hash is its own has the kind it has alone
    SELECT alone, count(*) FROM q_flagged WHERE keyed AND NOT repeated GROUP BY alone
)
SELECT 'strategies.' || kind AS kind, sum(n)::bigint AS n
FROM q_kinds
GROUP BY kind
HAVING sum(n) > 0
ORDER BY 1
