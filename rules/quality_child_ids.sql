-- quality_child_ids: children_evaluated and children.missing, the two counts that span relations (docs/internals.md).
-- children_evaluated is the number of distinct child ids among children and the six relations
-- that name a child; children.missing the number of those named by cin_plans, cp_plans,
-- allocations or appointments that have no children row. eval.c puts in q_ids one branch per
-- relation whose own count succeeded (a relation that cannot be read is left out, and said
-- so), each `SELECT hashtextextended(child_id, 0), SRC FROM ...` with SRC 0 for children, 1
-- for a relation whose unknown ids are reported missing, 2 for referrals and strategies.
-- The ids are compared by a 64-bit hash, grouped once (eval.c lets this statement hash: ten
-- rows or more to a distinct id, where a sort of every row cost half as much again), each with
-- the least SRC naming it: an anti-join of millions of rows against a million children misses
-- the cache at every row, and grouping by the id itself costs more. Two different ids count as
-- one only if their hashes collide (odds about 1 in 30 million at a million children).
-- @include head.sql
,
q_ids (h, src) AS NOT MATERIALIZED (
@named@
),
q_counts AS (
    SELECT count(*) AS evaluated,
           count(*) FILTER (WHERE src <= 1) AS known_or_reported,
           count(*) FILTER (WHERE src = 0) AS known
    FROM (SELECT h, min(src) AS src FROM q_ids GROUP BY h) ids
)
SELECT kind, n
FROM q_counts
CROSS JOIN LATERAL (VALUES ('children.missing', known_or_reported - known),
                           ('children_evaluated', evaluated)) k (kind, n)
WHERE n > 0 OR kind = 'children_evaluated'
ORDER BY kind
