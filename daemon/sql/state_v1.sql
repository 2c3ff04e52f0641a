-- state_v1: driftwatch's own schema: alerts and their history, the outbox, delivery attempts.
-- Run once by the daemon's migration step inside a transaction; @state@ is the escaped name.
-- The schema itself is made by state.c when it is not there (a DBA may have made it).

CREATE TABLE @state@.schema_version (
    version    int PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- One row per alert identity (rule, child, subject). Resolved alerts are kept: the history is
-- evidence that a supervisor was told, when, and what they did.
CREATE TABLE @state@.alerts (
    alert_id        bigserial PRIMARY KEY,
    fingerprint     text NOT NULL UNIQUE,
    rule            text NOT NULL,
    child_id        text NOT NULL,
    subject_id      text,
    stage           text NOT NULL,
    stage_rank      int  NOT NULL,
    status          text NOT NULL CHECK (status IN ('firing', 'resolved')),
    notify_key      text NOT NULL DEFAULT '',  -- the facts whose change is news
    payload         jsonb NOT NULL,             -- the alert JSON as last evaluated
    destinations    jsonb NOT NULL,             -- [{channel, destination, role}] as last resolved
    first_fired_on  date NOT NULL,
    last_changed_on date NOT NULL,
    last_seen_on    date NOT NULL,
    last_notified_on date,                       -- the day of its latest notice, for reminders
    acknowledged_at timestamptz,
    acknowledged_by text,
    ack_note        text,
    snoozed_until   date,
    snooze_reason   text
);
CREATE INDEX alerts_child_idx ON @state@.alerts (child_id);
CREATE INDEX alerts_firing_idx ON @state@.alerts (rule) WHERE status = 'firing';

-- Every state change of an alert, with its time.
CREATE TABLE @state@.alert_events (
    event_id   bigserial PRIMARY KEY,
    alert_id   bigint NOT NULL REFERENCES @state@.alerts,
    at         timestamptz NOT NULL DEFAULT now(),
    as_of      date,
    kind       text NOT NULL,   -- firing, escalated, updated, resolved, lowered, acknowledged, snoozed, reminder
    stage      text,
    detail     jsonb
);
CREATE INDEX alert_events_alert_idx ON @state@.alert_events (alert_id, event_id);

-- One notice = one change of one alert to one destination over one channel. Written in the
-- same transaction as the change; delivered from here, so a crash loses nothing.
CREATE TABLE @state@.outbox (
    notice_id       bigserial PRIMARY KEY,
    idempotency_key text NOT NULL UNIQUE,
    event_id        bigint REFERENCES @state@.alert_events,  -- NULL for reports to operators
    alert_id        bigint REFERENCES @state@.alerts,
    channel         text NOT NULL CHECK (channel IN ('email', 'webhook')),
    destination     text NOT NULL,  -- an email address or a webhook URL
    role            text,
    type            text NOT NULL,  -- alert.firing | alert.escalated | alert.updated | alert.resolved
                                    -- | delivery.failed (to operators)
    payload         jsonb NOT NULL, -- the alert JSON at the time of the change
    digest_key      text,           -- email: notices of one evaluation for one person go together
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivering', 'delivered', 'failed')),
    attempts        int NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    delivered_at    timestamptz,
    last_error      text
);
CREATE INDEX outbox_due_idx ON @state@.outbox (next_attempt_at) WHERE status IN ('pending', 'delivering');

CREATE TABLE @state@.delivery_attempts (
    attempt_id  bigserial PRIMARY KEY,
    notice_id   bigint NOT NULL REFERENCES @state@.outbox,
    at          timestamptz NOT NULL DEFAULT now(),
    outcome     text NOT NULL,  -- delivered, retry, failed, gone
    detail      text,
    duration_ms int
);
CREATE INDEX delivery_attempts_notice_idx ON @state@.delivery_attempts (notice_id);

-- Webhook endpoints that answered 410 Gone: nothing more is sent to them until an operator
-- deletes the row.
CREATE TABLE @state@.disabled_endpoints (
    url         text PRIMARY KEY,
    disabled_at timestamptz NOT NULL DEFAULT now(),
    reason      text NOT NULL
);

CREATE TABLE @state@.evaluations (
    evaluation_id bigserial PRIMARY KEY,
    as_of         date NOT NULL,
    scope         text NOT NULL,   -- 'all' or the number of children
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL DEFAULT now(),
    children      bigint,
    alerts        int,
    bad_rows      jsonb,
    notices       int
);

-- What a person does: acknowledge or snooze, kept as events beside the rules' changes.
CREATE FUNCTION @state@.acknowledge(p_fingerprint text, p_by text, p_note text)
RETURNS void LANGUAGE sql AS $$
    UPDATE @state@.alerts SET acknowledged_at = now(), acknowledged_by = p_by, ack_note = p_note
     WHERE fingerprint = p_fingerprint;
    INSERT INTO @state@.alert_events (alert_id, kind, detail)
    SELECT alert_id, 'acknowledged', jsonb_build_object('by', p_by, 'note', p_note)
      FROM @state@.alerts WHERE fingerprint = p_fingerprint;
$$;

CREATE FUNCTION @state@.snooze(p_fingerprint text, p_until date, p_reason text)
RETURNS void LANGUAGE sql AS $$
    UPDATE @state@.alerts SET snoozed_until = p_until, snooze_reason = p_reason
     WHERE fingerprint = p_fingerprint;
    INSERT INTO @state@.alert_events (alert_id, kind, detail)
    SELECT alert_id, 'snoozed', jsonb_build_object('until', p_until, 'reason', p_reason)
      FROM @state@.alerts WHERE fingerprint = p_fingerprint;
$$;

INSERT INTO @state@.schema_version (version) VALUES (1);
