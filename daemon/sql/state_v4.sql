-- state_v4: people answer alerts (RESPONSES.md): responses as events, the alert's response state,
-- and the day its current stage was first recorded, from which silence is counted.
-- Run once by the daemon's migration step inside a transaction; @state@ is the escaped name.

-- The day of the evaluation that first recorded the alert's current stage (record.sql sets it
-- when an alert fires, fires again or changes stage). Escalation counts working days from it.
ALTER TABLE @state@.alerts ADD COLUMN stage_since date;

-- Backfilled from the alert's events, not from last_changed_on: last_changed_on also moves when
-- only the facts change ('updated'), which would restart the count and delay an escalation that
-- is owed. The latest firing, escalated or lowered event is the day the current stage began;
-- an alert with none of those (there should be none: events are never pruned) falls back to
-- last_changed_on, the latest day it could have begun.
UPDATE @state@.alerts a
   SET stage_since = coalesce(
       (SELECT e.as_of FROM @state@.alert_events e
         WHERE e.alert_id = a.alert_id AND e.kind IN ('firing', 'escalated', 'lowered')
           AND e.as_of IS NOT NULL
         ORDER BY e.as_of DESC, e.event_id DESC LIMIT 1),
       a.last_changed_on);
ALTER TABLE @state@.alerts ALTER COLUMN stage_since SET NOT NULL;

-- The response state. v1's acknowledged_at/_by, ack_note, snoozed_until and snooze_reason stay;
-- an acknowledgement holds for one stage as first recorded on one day (a higher stage, or the
-- same stage after the alert resolved and fired again, needs a new one). A snooze is in force
-- while snoozed_until >= the evaluation day: it lapses without anyone acting.
ALTER TABLE @state@.alerts ADD COLUMN ack_stage text;
ALTER TABLE @state@.alerts ADD COLUMN ack_stage_since date;
ALTER TABLE @state@.alerts ADD COLUMN snoozed_at timestamptz;
ALTER TABLE @state@.alerts ADD COLUMN snoozed_by text;
ALTER TABLE @state@.alerts ADD COLUMN snooze_note text;
-- v3 had nothing that wrote acknowledgements; one there (a DBA's hand) is taken as for the
-- stage the alert is at now.
UPDATE @state@.alerts SET ack_stage = stage, ack_stage_since = stage_since
 WHERE acknowledged_at IS NOT NULL;

-- A response is an event of its alert (kind acknowledged, snoozed or unsnoozed; stage the stage
-- at the time): who, through what, why. Retention (prune.sql) never deletes alert events.
ALTER TABLE @state@.alert_events ADD COLUMN actor text;
ALTER TABLE @state@.alert_events ADD COLUMN via text
    CHECK (via IS NULL OR via IN ('link', 'api', 'page'));
ALTER TABLE @state@.alert_events ADD COLUMN reason text;
ALTER TABLE @state@.alert_events ADD COLUMN note text
    CHECK (note IS NULL OR char_length(note) <= 1000);

-- Escalation looks for the alert.unanswered event of the current stage.
CREATE INDEX alert_events_unanswered_idx ON @state@.alert_events (alert_id, stage)
    WHERE kind = 'unanswered';

INSERT INTO @state@.schema_version (version) VALUES (4);
