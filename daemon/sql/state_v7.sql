-- state_v7: a notice's age limit counts from when it was first due (ALERTS.md: "retried ... up
-- to a configured age"), not from when its row was written.
-- Run once by the daemon's migration step inside a transaction; @state@ is the escaped name.

-- An email digest held for its slot (email.digest_time) is written when the change is recorded
-- and due days later: a change recorded on Friday evening waits for Monday 08:00, and counted
-- from created_at it had a few hours of its three days left when it was first tried. The time
-- it was first due is next_attempt_at as written; next_attempt_at moves with each retry, so it
-- is kept apart. A writer that sets next_attempt_at sets this too; the others are due now.
ALTER TABLE @state@.outbox ADD COLUMN first_due_at timestamptz;

-- The notices already there: one never tried still has its first due time in next_attempt_at
-- (a claim released unsent moved it to the release, later, which only gives it more time). A
-- tried one was tried at or soon after it was due: its first recorded attempt is the nearest
-- time known (LEAST ignores the NULL of a notice with none recorded). created_at would be
-- wrong for a held digest retried since, the very case this migration is for.
UPDATE @state@.outbox o
   SET first_due_at = least(o.next_attempt_at,
                            (SELECT min(a.at) FROM @state@.delivery_attempts a
                              WHERE a.notice_id = o.notice_id));

ALTER TABLE @state@.outbox ALTER COLUMN first_due_at SET DEFAULT now(),
                           ALTER COLUMN first_due_at SET NOT NULL;

INSERT INTO @state@.schema_version (version) VALUES (7);
