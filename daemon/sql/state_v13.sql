-- state_v13: a random token for every event, part of the idempotency keys of its notices.
-- Run once by the daemon's migration step inside a transaction; @state@ is the escaped name.

-- A notice's key was "msg_<event_id>_<destination hash>": the event id is this schema's
-- sequence, which starts again in a second installation (a test one beside live, two councils
-- sharing a receiver), in a state schema made again, and where a backup is restored. The same
-- key then named a different notice, and a receiver that drops a webhook-id or Message-ID it has
-- seen (as Standard Webhooks asks receivers to) dropped a 15-month escalation or a resolution.
-- The token is drawn when the event is written, so the key stays one notice's: its retries and
-- the same destination named twice for one event (one notice) keep it. Events written before
-- this version keep no token: their notices were queued with their keys already.
ALTER TABLE @state@.alert_events ADD COLUMN token text;
ALTER TABLE @state@.alert_events
    ALTER COLUMN token SET DEFAULT left(md5(random()::text || clock_timestamp()::text), 12);

INSERT INTO @state@.schema_version (version) VALUES (13);
