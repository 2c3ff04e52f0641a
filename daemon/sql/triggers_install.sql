-- triggers_install: NOTIFY driftwatch, '<child_id>' on every change to a contract table that
-- names a child, so the daemon evaluates that child at once instead of at the next poll.
-- Idempotent. @state@ holds the function; @case@ is the case schema. Views are skipped by the
-- caller (they cannot have row triggers); polling covers them.
CREATE SCHEMA IF NOT EXISTS @state@;

CREATE OR REPLACE FUNCTION @state@.notify_child() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW IS NOT DISTINCT FROM OLD THEN
        RETURN NULL;
    END IF;
    -- An update that moves a row to another child changes both children's cases.
    IF TG_OP <> 'INSERT' AND OLD.child_id IS NOT NULL THEN
        PERFORM pg_notify('driftwatch', OLD.child_id);
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.child_id IS NOT NULL
       AND (TG_OP = 'INSERT' OR NEW.child_id IS DISTINCT FROM OLD.child_id) THEN
        PERFORM pg_notify('driftwatch', NEW.child_id);
    END IF;
    RETURN NULL;
END $$;

-- TRUNCATE fires no row trigger, and a nightly "TRUNCATE and load again" is how many reporting
-- copies are refreshed: without this the children whose rows vanished would wait for the next
-- poll. The table is named for the log only: the daemon evaluates everyone.
CREATE OR REPLACE FUNCTION @state@.notify_all() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('driftwatch_all', TG_TABLE_NAME);
    RETURN NULL;
END $$;
