-- state_v2: recording streams an evaluation rule by rule, and a rule that fails fails alone.
-- Run once by the daemon's migration step inside a transaction; @state@ is the escaped name.

-- The evaluation that last yielded the alert. Recording marks every alert a rule yields, and
-- resolves that rule's firing alerts it did not mark, once the rule has run to its end; a rule
-- that failed marks and resolves nothing.
ALTER TABLE @state@.alerts ADD COLUMN last_seen_eval bigint;

-- Rules that fail (a relation they cannot read, a query error) and since when, so that the
-- operators hear once when a rule starts failing and once when it recovers, across restarts.
CREATE TABLE @state@.rule_health (
    rule          text PRIMARY KEY,
    failing_since timestamptz NOT NULL,
    error         text NOT NULL,
    last_failed   timestamptz NOT NULL
);

-- Raises an error with the given text (recording uses it to refuse a day earlier than the
-- latest one it holds).
CREATE FUNCTION @state@.refuse(message text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', message USING ERRCODE = 'check_violation';
END $$;

CREATE INDEX evaluations_day_idx ON @state@.evaluations (as_of) WHERE scope = 'all';

-- Retention (prune.sql) finds old delivered notices and evaluations without reading them all.
CREATE INDEX outbox_delivered_idx ON @state@.outbox (delivered_at) WHERE status = 'delivered';
CREATE INDEX evaluations_finished_idx ON @state@.evaluations (finished_at);

INSERT INTO @state@.schema_version (version) VALUES (2);
