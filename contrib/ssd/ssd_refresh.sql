-- Copies the contract relations from a schema of views (ssd_contract_views.sql's) into a schema
-- of tables (rules/contract.sql's), changing only the rows that differ, in one transaction.
-- Why: the SSD is rebuilt in full on each run, and views over it are several times slower to
-- evaluate than tables (README.md, "Running on the SSD"); tables can also carry driftwatch's
-- NOTIFY triggers (driftwatchd --install-triggers), and because unchanged rows are not
-- touched, only the children whose rows changed are notified, not everyone after every run.
-- Run it after each SSD run (and after each load of the local gap tables).
-- psql variables: :source (the views' schema), :schema (the tables' schema, default casework).
--
-- Rows are compared whole, by their text form (which tells NULL from an empty string), as
-- multisets: the contract has no keys to trust (duplicates and NULL keys are data driftwatch
-- must see and count). For every row content that differs in number between the two, the
-- table's copies are deleted and the source's copies inserted; a changed row is one delete
-- and one insert; its child is notified once all the same, since PostgreSQL sends a
-- transaction's identical notifications once.
\if :{?source}
\else
\echo 'ssd_refresh.sql: set the views schema with -v source=NAME'
\quit
\endif
\if :{?schema}
\else
\set schema casework
\endif
\set ON_ERROR_STOP on

BEGIN;
-- The same snapshot for every relation: a consistent copy of one SSD run.
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ;

CREATE TEMP TABLE ssd_refresh_counts (relation text, deleted bigint, inserted bigint) ON COMMIT DROP;

CREATE FUNCTION pg_temp.ssd_refresh(src text, dst text, rel text) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    d bigint;
    i bigint;
BEGIN
    -- The contents whose count differs, each once (hashed by their text).
    EXECUTE format(
        'CREATE TEMP TABLE ssd_refresh_diff ON COMMIT DROP AS
         SELECT DISTINCT x::text AS r FROM (
             (SELECT * FROM %1$I.%3$I EXCEPT ALL SELECT * FROM %2$I.%3$I)
             UNION ALL
             (SELECT * FROM %2$I.%3$I EXCEPT ALL SELECT * FROM %1$I.%3$I)) x',
        src, dst, rel);
    EXECUTE format('DELETE FROM %1$I.%2$I t WHERE t::text IN (SELECT r FROM ssd_refresh_diff)',
                   dst, rel);
    GET DIAGNOSTICS d = ROW_COUNT;
    EXECUTE format('INSERT INTO %2$I.%3$I SELECT s.* FROM %1$I.%3$I s
                    WHERE s::text IN (SELECT r FROM ssd_refresh_diff)', src, dst, rel);
    GET DIAGNOSTICS i = ROW_COUNT;
    INSERT INTO ssd_refresh_counts VALUES (rel, d, i);
    DROP TABLE ssd_refresh_diff;
END
$fn$;

SELECT pg_temp.ssd_refresh(:'source', :'schema', r)
FROM unnest(ARRAY['teams', 'workers', 'children', 'allocations', 'referrals', 'cin_plans',
                  'cp_plans', 'appointments', 'strategies']) r \g /dev/null

SELECT relation, deleted, inserted FROM ssd_refresh_counts;
COMMIT;
