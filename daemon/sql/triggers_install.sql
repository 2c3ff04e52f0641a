-- triggers_install: NOTIFY driftwatch, '<child_id>' on every change to a contract table that
-- names a child, so the daemon evaluates that child at once instead of at the next poll.
-- Idempotent. @state@ holds the function; @case@ is the case schema. Views are skipped by the
-- caller (they cannot have row triggers); polling covers them.
-- The state schema is made by cmd_triggers.c when it is not there: CREATE SCHEMA IF NOT EXISTS
-- would ask for CREATE on the database even when it is.

-- A NOTIFY payload must be under 8000 bytes, and a write to the case system must never fail
-- because of driftwatch: a child id too long to send (no real id is 1000 bytes) asks for
-- everyone to be evaluated instead. The function runs as the role that writes the case table,
-- which need not have USAGE on the state schema (the schema is driftwatch's own: see
-- --print-grants), so it calls nothing by a name in that schema: calling a trigger's function
-- needs no USAGE, looking up @state@.anything does. Earlier versions had a helper notify_one
-- there, which failed every such write; --remove-triggers still drops it.
CREATE OR REPLACE FUNCTION @state@.notify_child() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ids text[] := '{}';
    id text;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW IS NOT DISTINCT FROM OLD THEN
        RETURN NULL;
    END IF;
    -- An update that moves a row to another child changes both children's cases.
    IF TG_OP <> 'INSERT' AND OLD.child_id IS NOT NULL THEN
        ids := ids || OLD.child_id::text;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.child_id IS NOT NULL
       AND (TG_OP = 'INSERT' OR NEW.child_id IS DISTINCT FROM OLD.child_id) THEN
        ids := ids || NEW.child_id::text;
    END IF;
    FOREACH id IN ARRAY ids LOOP
        -- an empty payload says nothing to a listener: the empty id (a child the rules
        -- evaluate like any other) asks for everyone, as one too long to send does (audit 15)
        IF octet_length(id) > 1000 OR id = '' THEN
            PERFORM pg_catalog.pg_notify('driftwatch_all', 'a child id of '
                                         || octet_length(id) || ' bytes');
        ELSE
            -- In a database whose encoding has characters UTF-8 lacks (WIN1252's 0x81), the
            -- server ends the listener's connection rather than send it an id holding one:
            -- such a child asks for everyone instead (a subtransaction a row, only there).
            IF pg_catalog.getdatabaseencoding() NOT IN ('UTF8', 'SQL_ASCII') THEN
                BEGIN
                    PERFORM pg_catalog.convert_to(id, 'UTF8');
                EXCEPTION WHEN untranslatable_character OR character_not_in_repertoire THEN
                    id := NULL;
                END;
            END IF;
            IF id IS NULL THEN
                PERFORM pg_catalog.pg_notify('driftwatch_all', 'a child id UTF-8 cannot carry');
            ELSE
                PERFORM pg_catalog.pg_notify('driftwatch', id);
            END IF;
        END IF;
    END LOOP;
    RETURN NULL;
END $$;

-- Teams and workers name no child: a change there (a supervisor's email, a worker's team, a
-- team's manager) moves the alerts of every child of theirs, which stayed with the old person
-- until the next full evaluation (audit 15). A row that changed asks for everyone; PostgreSQL
-- sends a transaction's identical notifications once, so a reload of the whole table is one
-- request, and a refresh that rewrites rows as they were (contrib/ssd) asks for nothing.
CREATE OR REPLACE FUNCTION @state@.notify_staff() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW IS NOT DISTINCT FROM OLD THEN
        RETURN NULL;
    END IF;
    PERFORM pg_catalog.pg_notify('driftwatch_all', TG_TABLE_NAME);
    RETURN NULL;
END $$;

-- Left by earlier versions, and called by nothing now.
DROP FUNCTION IF EXISTS @state@.notify_one(text);

-- TRUNCATE fires no row trigger, and a nightly "TRUNCATE and load again" is how many reporting
-- copies are refreshed: without this the children whose rows vanished would wait for the next
-- poll. The table is named for the log only: the daemon evaluates everyone.
CREATE OR REPLACE FUNCTION @state@.notify_all() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_catalog.pg_notify('driftwatch_all', TG_TABLE_NAME);
    RETURN NULL;
END $$;
