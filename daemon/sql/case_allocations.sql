-- case_allocations (a fragment, inside a FROM): the rows of allocations as the pages and the
-- escalation's service_manager read them, ids as text as the rules read them
-- (rules/rows_allocations.sql): an integer child_id in a view (outside CONTRACT.md, which
-- --check-config says) still compares with the text ids of the state schema. On a text column
-- the cast is no cast at all, so an index on child_id still serves.
SELECT a.allocation_id::text AS allocation_id, a.child_id::text AS child_id,
       a.worker_id::text AS worker_id, a.start_date, a.end_date
  FROM @case@.allocations a
