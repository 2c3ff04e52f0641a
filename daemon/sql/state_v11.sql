-- state_v11: the due webhook notices of each receiver, oldest first, in an index of their own.
-- Run once by the daemon's migration step inside a transaction; @state@ is the escaped name.

-- Until v10 each webhook claim ranked every due webhook notice by receiver (a sort of the whole
-- backlog) to take the oldest few of each: on the dense million's first day, 203,207 due
-- notices, a claim took 100 ms, the delivery connection spent 61 s of 87 in claims, and a
-- receiver that had been down for a day slowed every other receiver's claims in the same way.
-- With this index outbox_claim_webhook.sql finds the receivers with anything pending by one
-- probe each and reads only the oldest of each: its cost grows with the receivers and what is
-- claimed, not with what waits. Only pending and leased notices are in it, so it stays the
-- size of the backlog.
CREATE INDEX outbox_webhook_due_idx ON @state@.outbox (destination, next_attempt_at, notice_id)
    WHERE channel = 'webhook' AND status IN ('pending', 'delivering');

-- The due index of v1 held both channels; only the email claim needs it now. Left holding the
-- webhook notices too, it was the planner's choice for the webhook claim whenever statistics
-- older than a burst of notices made both indexes look empty: the claim then read every due
-- notice again, as before this version (test_claim_plan.py).
DROP INDEX @state@.outbox_due_idx;
CREATE INDEX outbox_email_due_idx ON @state@.outbox (next_attempt_at)
    WHERE channel = 'email' AND status IN ('pending', 'delivering');

INSERT INTO @state@.schema_version (version) VALUES (11);
