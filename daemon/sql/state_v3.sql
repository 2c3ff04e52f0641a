-- state_v3: a notice keeps the words it is read with, fixed when its change is recorded.
-- Run once by the daemon's migration step inside a transaction; @state@ is the escaped name.

-- The notice's words from its rule (rules/notice.c): label, subject in words, what is expected
-- of its reader's role, what changed, urgency and seriousness. Sending reads them from here,
-- never from the rule registry of the binary that happens to send (ARCHITECTURE.md: a notice
-- carries everything needed to send it). NULL for notices recorded before this version: they
-- are sent with the alert's rule and stage names and generic lines.
ALTER TABLE @state@.outbox ADD COLUMN notice jsonb;

INSERT INTO @state@.schema_version (version) VALUES (3);
