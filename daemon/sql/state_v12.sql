-- state_v12: the reports to the operators not yet sent, by digest key, in an index of their own.
-- Run once by the daemon's migration step inside a transaction; @state@ is the escaped name.

-- outbox_result.sql makes a report wait for the rest of its incident: on every result statement
-- with a failure it looks up the reports still waiting under its digest key, to give a new one
-- their due time or to count the failure into one that names the same receiver and reason.
-- These rows are few, and this index holds only them, where the email due index holds every
-- email waiting for its digest (a first day at a large authority: hundreds of thousands).
CREATE INDEX outbox_reports_pending_idx ON @state@.outbox (digest_key)
    WHERE type = 'delivery.failed' AND status = 'pending';

INSERT INTO @state@.schema_version (version) VALUES (12);
