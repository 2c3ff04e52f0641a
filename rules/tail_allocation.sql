-- tail_allocation: each hit's current allocation, for the allocated worker and the supervisor roles.
-- Not a statement: a rule file includes it (`-- @include tail_allocation.sql`) after its hits,
-- unless it settles its hits' allocations itself and defines tail_allocation (child_id,
-- worker_id) from them, as worker_change and worker_churn do. alert_rows.sql reads it.
tail_allocation AS (
    -- The current allocation: open on T, started last (ties: greatest allocation_id), dangling
    -- workers left out (allocations_rows.sound for an allocation open on T, which has a start
    -- and no end before it).
    SELECT DISTINCT ON (child_id COLLATE "C") child_id, worker_id
    FROM (SELECT DISTINCT ON (child_id COLLATE "C", allocation_id COLLATE "C")
                 child_id, allocation_id, worker_id, start_date, end_date, sound
          FROM allocations_rows
          WHERE keyed AND child_id IN (SELECT child_id FROM hits)  -- @lookup allocations
          ORDER BY child_id COLLATE "C", allocation_id COLLATE "C", worker_id, start_date, end_date) first_by_content
    WHERE sound AND start_date <= :as_of AND (end_date IS NULL OR end_date > :as_of)
    ORDER BY child_id COLLATE "C", start_date DESC, allocation_id DESC
)
