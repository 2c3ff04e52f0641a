-- quality_appointments: the bad rows of appointments by kind (docs/internals.md, "Bad rows").
-- One statement of the bad-row count. Only appointments is read,
-- so a relation that cannot be read stops its own count and no other.
-- Most keys are unique: one pass counts every kind a row has on its own, one sort of the keys'
-- bare 64-bit hashes finds those that repeat (counting distinct hashes first to skip that sort
-- when none repeats cost the same sort again), and only a repeated hash's rows are ranked by
-- content as the rules settle them (duplicate_key, identical copies counted once), and rows with
-- no key likewise. Rows are (kind, n) as eval.c reads them, kind being "appointments.<kind>".
-- @include head.sql
,
-- @include rows_appointments.sql
,
q_rows AS NOT MATERIALIZED (
    SELECT r.*,
           NULL::text AS warn,
           hashtextextended(r.appointment_id, hashtextextended(r.child_id, 0)) AS h
    FROM appointments_rows r
),
q_kind AS NOT MATERIALIZED (
    -- The kind a keyed row has on its own: its fault, else what is only suspicious.
    SELECT q.*, coalesce(row_fault, warn) AS alone FROM q_rows q
),
q_sums AS MATERIALIZED (
    SELECT count(*) FILTER (WHERE keyed) AS keyed,
           count(*) FILTER (WHERE NOT keyed) AS unkeyed,
           count(*) FILTER (WHERE keyed AND alone = 'null_scheduled_for') AS null_scheduled_for,
           count(*) FILTER (WHERE keyed AND alone = 'unknown_outcome') AS unknown_outcome
    FROM q_kind
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
q_ranked AS MATERIALIZED (
    -- Ranked within the exact key, as before: the first by content order is the key's row, an
    -- identical one is a copy, any other is a duplicate_key; a row with no key is never one.
    SELECT keyed, alone,
           coalesce(key_fault, CASE WHEN rank() OVER w > 1 THEN 'duplicate_key' END, alone) AS kind,
           row_number() OVER w > rank() OVER w AS copy
    FROM (SELECT * FROM q_kind
          WHERE keyed AND (SELECT hs IS NOT NULL FROM q_repeated)
            AND h IN (SELECT unnest(hs) FROM q_repeated)
          UNION ALL
          SELECT * FROM q_kind WHERE NOT keyed AND (SELECT unkeyed > 0 FROM q_sums)) x
    WINDOW w AS (PARTITION BY child_id COLLATE "C", appointment_id COLLATE "C"
                 ORDER BY service, scheduled_for, outcome)
),
q_kinds (kind, n) AS (
    -- The ranked rows replace what the single pass counted for them.
    SELECT kind, count(*) FROM q_ranked WHERE NOT copy AND kind IS NOT NULL GROUP BY kind
    UNION ALL
    SELECT alone, -count(*) FROM q_ranked WHERE keyed AND alone IS NOT NULL GROUP BY alone
    UNION ALL
    SELECT k.kind, k.n
    FROM q_sums s
    CROSS JOIN LATERAL (VALUES ('null_scheduled_for', s.null_scheduled_for),
                               ('unknown_outcome', s.unknown_outcome)) k (kind, n)
)
SELECT 'appointments.' || kind AS kind, sum(n)::bigint AS n
FROM q_kinds
GROUP BY kind
HAVING sum(n) > 0
ORDER BY 1
