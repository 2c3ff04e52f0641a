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

-- Silence is counted from the stage's day, but for the alerts already there when this version
-- arrives not before the last day the earlier version evaluated: nobody could answer an alert
-- before there was a way to, and counting from a stage months old would send every
-- long-standing alert to the head of service on the first day after the upgrade, a flood that
-- teaches people to ignore them. NULL (every alert recorded from now on): the stage's day.
ALTER TABLE @state@.alerts ADD COLUMN escalate_from date;
UPDATE @state@.alerts
   SET escalate_from = (SELECT max(as_of) FROM @state@.evaluations WHERE scope = 'all')
 WHERE status = 'firing';

-- The response state. v1's acknowledged_at/_by, ack_note, snoozed_until and snooze_reason stay;
-- an acknowledgement holds for one stage as first recorded on one day (a higher stage, or the
-- same stage after the alert resolved and fired again, needs a new one). A snooze is in force
-- while snoozed_until >= the evaluation day: it lapses without anyone acting.
ALTER TABLE @state@.alerts ADD COLUMN ack_stage text;
ALTER TABLE @state@.alerts ADD COLUMN ack_stage_since date;
ALTER TABLE @state@.alerts ADD COLUMN snoozed_at timestamptz;
ALTER TABLE @state@.alerts ADD COLUMN snoozed_by text;
ALTER TABLE @state@.alerts ADD COLUMN snooze_note text;
-- v1's SQL functions acknowledge() and snooze() (README, for operators by hand) may have left
-- acknowledgements in a v3 schema; they stopped reminders at every stage. Now an acknowledgement
-- answers the stage the alert was at when it was made: the latest stage event at or before it.
-- If the alert has changed stage since, that acknowledgement no longer holds.
UPDATE @state@.alerts a
   SET ack_stage = s.stage, ack_stage_since = s.as_of
  FROM (SELECT DISTINCT ON (e.alert_id) e.alert_id, e.stage, e.as_of
          FROM @state@.alert_events e
          JOIN @state@.alerts x ON x.alert_id = e.alert_id
         WHERE e.kind IN ('firing', 'escalated', 'lowered') AND e.as_of IS NOT NULL
           AND x.acknowledged_at IS NOT NULL AND e.at <= x.acknowledged_at
         ORDER BY e.alert_id, e.as_of DESC, e.event_id DESC) s
 WHERE a.alert_id = s.alert_id;

-- A response is an event of its alert (kind acknowledged, snoozed or unsnoozed; stage the stage
-- at the time): who, through what, why. Retention (prune.sql) never deletes alert events.
ALTER TABLE @state@.alert_events ADD COLUMN actor text;
ALTER TABLE @state@.alert_events ADD COLUMN via text
    CHECK (via IS NULL OR via IN ('link', 'api', 'page'));
ALTER TABLE @state@.alert_events ADD COLUMN reason text;
ALTER TABLE @state@.alert_events ADD COLUMN note text
    CHECK (note IS NULL OR char_length(note) <= 1000);

-- The responses v1's functions kept: who from their detail, the note when it fits (a longer
-- one stays in detail, untouched), the stage the alert was at. Through what is unknown (NULL):
-- they came by SQL, before there was a link, an API or a page.
UPDATE @state@.alert_events e
   SET actor = e.detail ->> 'by',
       reason = e.detail ->> 'reason',
       note = CASE WHEN char_length(e.detail ->> 'note') <= 1000 THEN e.detail ->> 'note' END,
       stage = coalesce(e.stage, (SELECT s.stage FROM @state@.alert_events s
                                   WHERE s.alert_id = e.alert_id AND s.at <= e.at
                                     AND s.kind IN ('firing', 'escalated', 'lowered')
                                   ORDER BY s.at DESC, s.event_id DESC LIMIT 1))
 WHERE e.kind IN ('acknowledged', 'snoozed') AND e.actor IS NULL;

-- v1's functions, kept for operators' scripts, now record what responses.c records: the stage
-- answered, and the event's actor and note. They check nothing (responses.c does, for the
-- link, the API and the pages).
CREATE OR REPLACE FUNCTION @state@.acknowledge(p_fingerprint text, p_by text, p_note text)
RETURNS void LANGUAGE sql AS $$
    UPDATE @state@.alerts SET acknowledged_at = now(), acknowledged_by = p_by, ack_note = p_note,
           ack_stage = stage, ack_stage_since = stage_since
     WHERE fingerprint = p_fingerprint;
    INSERT INTO @state@.alert_events (alert_id, kind, stage, actor, note, detail)
    SELECT alert_id, 'acknowledged', stage, p_by, left(p_note, 1000),
           jsonb_build_object('by', p_by, 'note', p_note)
      FROM @state@.alerts WHERE fingerprint = p_fingerprint;
$$;

CREATE OR REPLACE FUNCTION @state@.snooze(p_fingerprint text, p_until date, p_reason text)
RETURNS void LANGUAGE sql AS $$
    UPDATE @state@.alerts SET snoozed_until = p_until, snooze_reason = p_reason,
           snoozed_at = now(), snoozed_by = NULL, snooze_note = NULL
     WHERE fingerprint = p_fingerprint;
    INSERT INTO @state@.alert_events (alert_id, kind, stage, reason, detail)
    SELECT alert_id, 'snoozed', stage, p_reason,
           jsonb_build_object('until', p_until, 'reason', p_reason)
      FROM @state@.alerts WHERE fingerprint = p_fingerprint;
$$;

-- Escalation looks for the alert.unanswered event of the current stage.
CREATE INDEX alert_events_unanswered_idx ON @state@.alert_events (alert_id, stage)
    WHERE kind = 'unanswered';

INSERT INTO @state@.schema_version (version) VALUES (4);
