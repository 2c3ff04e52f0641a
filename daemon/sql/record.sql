-- record: one batch of one rule's alerts against the stored state: alert changes, their events
-- and their notices. record.c sends the batches of an evaluation inside one transaction under
-- an advisory lock, each rule's inside a savepoint of its own; record_resolve.sql then resolves
-- what the rule no longer yields.
-- $1 jsonb   the batch: [{fingerprint, rule, child_id, subject_id, stage, stage_rank,
--            notify_key, payload, destinations}]; each destination is {channel, destination,
--            role, notice}, notice being the words its notices keep (rules/notice.c); and
--            former_fingerprint, the identity the alert had when its rule named its subject
--            otherwise (state schema v2 named a duration or repeat alert by the current plan,
--            now by the episode's first plan), or null; and team_id, the team of the worker of
--            the child's open allocation, or null (stored as it is at every evaluation)
-- $2 date    T
-- $3 text    the evaluation's digest key: one message per channel for a Teams or Slack webhook
--            (chat.h), one report digest to the operators, and one email per person when email
--            is not held ($7 NULL)
-- $4 int     repeat_after_days: remind of an unchanged, unacknowledged, unsnoozed alert after
--            this many days without a notice (0: never)
-- $5 bigint  the evaluation (record_begin.sql): every alert of the batch is listed as seen by it
--            (alert_seen), and a row that is written is marked with it (last_seen_eval)
-- $6 text    the operators' address, or NULL: told once of each address in the case data that
--            cannot be used (alert.c marks the recipient entry that fell back for it)
-- $7..$11    where a person's email notice waits (digest_slot.h), all NULL when nothing waits
--            (--once, email.digest_time null): $7 text the slot's digest key, $8 timestamp its
--            local wall clock, $9 text the zone, $10 text the urgent window's key, $11 bigint
--            its end (epoch). Webhooks and the operators' reports are never held.
WITH cur AS (
    SELECT *
      FROM jsonb_to_recordset($1::jsonb) AS c(fingerprint text, rule text, child_id text,
           subject_id text, stage text, stage_rank int, notify_key text, payload jsonb,
           destinations jsonb, team_webhook_refused jsonb, former_fingerprint text,
           team_id text)
),
-- The stored alert each row continues: the one with its fingerprint, else a firing one stored
-- under its former fingerprint by schema v2 (legacy_subject, state_v14.sql), which takes the new
-- identity below (one alert, its history kept, no "new" notice; an upgrade from v2 would
-- otherwise resolve and announce again every episode whose current plan is not its first).
-- Any other alert whose subject changes (a plan entered late, beginning before the episode's
-- first) is a new identity: the old one resolves and the new one fires (ALERTS.md).
prev AS (
    SELECT c.fingerprint, coalesce(p.alert_id, f.alert_id) AS alert_id,
           p.alert_id IS NULL AND f.alert_id IS NOT NULL AS renamed
      FROM cur c
      LEFT JOIN @state@.alerts p ON p.fingerprint = c.fingerprint
      LEFT JOIN @state@.alerts f ON p.alert_id IS NULL AND f.fingerprint = c.former_fingerprint
                                AND f.status = 'firing' AND f.legacy_subject
),
changes AS (
    SELECT c.*, p.alert_id AS prev_id, pv.renamed,
           CASE WHEN p.alert_id IS NULL OR p.status = 'resolved' THEN 'firing'
                WHEN c.stage_rank > p.stage_rank THEN 'escalated'
                WHEN c.stage_rank < p.stage_rank THEN 'lowered'
                WHEN c.notify_key <> p.notify_key THEN 'updated'
                WHEN $4::int > 0
                     AND NOT (p.acknowledged_at IS NOT NULL AND p.ack_stage = p.stage
                              AND p.ack_stage_since = p.stage_since)
                     AND NOT coalesce(p.snoozed_until >= $2::date, false)
                     AND p.last_notified_on <= $2::date - $4::int THEN 'reminder'
           END AS kind,
           p.last_notified_on AS prev_notified_on,
           sz.response,
           -- Nothing of the row would change (state_v10.sql): the same day, stage, words,
           -- payload, destinations and team, and no event. Such an alert is only listed as
           -- seen below, so that a steady evaluation writes no alert's row.
           (p.status = 'firing' AND NOT pv.renamed AND p.stage = c.stage
            AND p.stage_rank = c.stage_rank AND p.notify_key = c.notify_key
            AND p.last_seen_on = $2::date AND p.payload = c.payload
            AND p.destinations = c.destinations AND p.team_id IS NOT DISTINCT FROM c.team_id)
           IS TRUE AS same
      FROM cur c
      JOIN prev pv USING (fingerprint)
      LEFT JOIN @state@.alerts p ON p.alert_id = pv.alert_id
      -- A snooze in force on T travels with every notice of the alert (RESPONSES.md: a new stage
      -- is still notified, showing the snooze), as the API's "response" shows it: the same
      -- fragment, so that a receiver reads one shape wherever it meets a response.
      LEFT JOIN LATERAL (
           SELECT jsonb_build_object(
-- @include web_response.sql
                  ) AS response
             FROM (SELECT p.*, 'snoozed'::text AS state) a
            WHERE p.snoozed_until >= $2::date
          ) sz ON true
),
-- A renamed alert is updated in place: its row, events and outbox keep their alert_id. The
-- rows it and the insert below touch are different ones (a new fingerprint is stored nowhere).
renamed AS (
    UPDATE @state@.alerts a
       SET fingerprint = ch.fingerprint, subject_id = ch.subject_id, stage = ch.stage,
           legacy_subject = false,
           stage_rank = ch.stage_rank, status = 'firing', notify_key = ch.notify_key,
           payload = ch.payload, destinations = ch.destinations, team_id = ch.team_id,
           last_seen_on = $2::date,
           last_notified_on = CASE WHEN ch.kind IN ('firing', 'escalated', 'updated', 'lowered',
                                                    'reminder')
                                   THEN $2::date ELSE ch.prev_notified_on END,
           last_seen_eval = $5::bigint,
           last_changed_on = CASE
               WHEN a.stage_rank <> ch.stage_rank OR a.notify_key <> ch.notify_key THEN $2::date
               ELSE a.last_changed_on END,
           stage_since = CASE
               WHEN a.status <> 'firing' OR a.stage_rank <> ch.stage_rank THEN $2::date
               ELSE a.stage_since END,
           -- an acknowledgement answers the firing it was given in (below)
           ack_stage = CASE WHEN a.status <> 'firing' THEN NULL ELSE a.ack_stage END,
           ack_stage_since = CASE WHEN a.status <> 'firing' THEN NULL ELSE a.ack_stage_since END
      FROM changes ch
     WHERE ch.renamed AND a.alert_id = ch.prev_id
    RETURNING a.alert_id, a.fingerprint
),
inserted AS (
    INSERT INTO @state@.alerts AS a (fingerprint, rule, child_id, subject_id, stage, stage_rank,
           status, notify_key, payload, destinations, team_id, first_fired_on,
           last_changed_on, last_seen_on, last_notified_on, last_seen_eval, stage_since)
    SELECT fingerprint, rule, child_id, subject_id, stage, stage_rank, 'firing', notify_key,
           payload, destinations, team_id, $2::date, $2::date, $2::date,
           CASE WHEN kind IN ('firing', 'escalated', 'updated', 'lowered', 'reminder')
                THEN $2::date
                ELSE prev_notified_on END,
           $5::bigint, $2::date
      FROM changes
     WHERE NOT renamed AND NOT (same AND kind IS NULL)
    ON CONFLICT (fingerprint) DO UPDATE
       SET stage = EXCLUDED.stage, stage_rank = EXCLUDED.stage_rank, status = 'firing',
           notify_key = EXCLUDED.notify_key, payload = EXCLUDED.payload,
           destinations = EXCLUDED.destinations, team_id = EXCLUDED.team_id,
           last_seen_on = EXCLUDED.last_seen_on,
           last_notified_on = EXCLUDED.last_notified_on,
           last_seen_eval = EXCLUDED.last_seen_eval,
           last_changed_on = CASE
               WHEN a.status <> 'firing' OR a.stage_rank <> EXCLUDED.stage_rank
                    OR a.notify_key <> EXCLUDED.notify_key THEN EXCLUDED.last_seen_on
               ELSE a.last_changed_on END,
           -- the day the current stage was first recorded: escalation counts from it
           stage_since = CASE
               WHEN a.status <> 'firing' OR a.stage_rank <> EXCLUDED.stage_rank
                    THEN EXCLUDED.last_seen_on
               ELSE a.stage_since END,
           -- An acknowledgement answers the firing it was given in: an alert resolved and
           -- firing again the same day (its stage_since unchanged) was still "acknowledged" in
           -- the API while its alert.firing said nothing of it; on another day it was open
           -- again (audit 14). The resolved alert keeps its last answer to show.
           ack_stage = CASE WHEN a.status <> 'firing' THEN NULL ELSE a.ack_stage END,
           ack_stage_since = CASE WHEN a.status <> 'firing' THEN NULL ELSE a.ack_stage_since END
    RETURNING a.alert_id, a.fingerprint
),
upserted AS (
    SELECT alert_id, fingerprint FROM renamed
    UNION ALL
    SELECT alert_id, fingerprint FROM inserted
),
-- Every alert of the batch, written or not, is on this evaluation's list: record_resolve.sql
-- resolves the rule's firing alerts that are not.
seen AS (
    INSERT INTO @state@.alert_seen (alert_id)
    SELECT alert_id FROM upserted
    UNION ALL
    SELECT prev_id FROM changes WHERE same AND kind IS NULL
    ON CONFLICT DO NOTHING
),
events AS (
    INSERT INTO @state@.alert_events (alert_id, as_of, kind, stage, detail)
    SELECT u.alert_id, $2::date, ch.kind, ch.stage, ch.payload -> 'facts'
      FROM changes ch JOIN upserted u USING (fingerprint)
     WHERE ch.kind IS NOT NULL
    RETURNING event_id, alert_id, kind, token
),
-- What each event tells, and to whom: the alert as it is now, to its current destinations. A
-- snooze holds back reminders and escalation only: a new stage or new facts (an `updated`, a
-- further missed appointment) of a snoozed alert are notified, carrying the snooze.
told AS (
    SELECT e.event_id, e.token, e.alert_id, e.kind, ch.payload, ch.destinations, ch.response,
           -- the email says what it is: a reminder, or an alert that was resolved firing again
           -- (a plan closed and reopened within its episode), never "New" for either; a
           -- stage gone down (a strategy now holds the 15-month escalation), never silence:
           -- receivers were last told of the higher stage (audit 11)
           CASE WHEN e.kind = 'reminder' THEN '{"reminder": true}'::jsonb
                WHEN e.kind = 'firing' AND ch.prev_id IS NOT NULL THEN '{"again": true}'::jsonb
                WHEN e.kind = 'lowered' THEN '{"lowered": true}'::jsonb
           END AS told_before
      FROM events e JOIN upserted u ON u.alert_id = e.alert_id
      JOIN changes ch ON ch.fingerprint = u.fingerprint
     WHERE e.kind IN ('firing', 'escalated', 'updated', 'lowered', 'reminder')
),
notices AS (
    INSERT INTO @state@.outbox (idempotency_key, event_id, alert_id, channel, destination, role,
           type, payload, digest_key, notice, next_attempt_at, first_due_at)
    SELECT 'msg_' || t.event_id || '_' || left(md5(d.channel || ' ' || d.destination), 12)
           || '_' || t.token,
           -- A reminder is the alert still firing, a lower stage an update of it: receivers
           -- know only the four types.
           t.event_id, t.alert_id, d.channel, d.destination, d.role,
           'alert.' || CASE WHEN t.kind = 'reminder' THEN 'firing'
                            WHEN t.kind = 'lowered' THEN 'updated' ELSE t.kind END,
           t.payload || jsonb_build_object('status', 'firing') || coalesce(t.response, '{}'),
           w.digest_key,
           CASE WHEN t.told_before IS NULL THEN d.notice
                ELSE coalesce(d.notice, '{}'::jsonb) || t.told_before END,
           w.due, w.due
      FROM told t
     CROSS JOIN LATERAL jsonb_to_recordset(t.destinations) AS d(channel text, destination text,
           role text, notice jsonb)
     CROSS JOIN LATERAL (
           SELECT CASE WHEN d.channel <> 'email' OR $7::text IS NULL THEN $3::text
                       WHEN (d.notice ->> 'urgent')::boolean THEN $10::text
                       ELSE $7::text END AS digest_key,
                  CASE WHEN d.channel <> 'email' OR $7::text IS NULL THEN now()
                       WHEN (d.notice ->> 'urgent')::boolean THEN to_timestamp($11::bigint)
                       ELSE $8::timestamp AT TIME ZONE $9::text END AS due
          ) w
     WHERE d.destination IS NOT NULL
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING notice_id, channel
),
bad_addresses AS (
    INSERT INTO @state@.outbox (idempotency_key, channel, destination, role, type, payload,
           digest_key)
    -- (a missing reason must not make the key NULL: the insert would fail the rule's whole
    -- recording, every child's alerts with it)
    SELECT DISTINCT ON (r ->> 'bad_address')
           'badaddr_' || md5((r ->> 'bad_address') || chr(31) || coalesce(r ->> 'reason', '')),
           'email',
           $6::text, 'operators', 'data.bad_address',
           jsonb_build_object('rule', 'driftwatch', 'stage', 'bad_address', 'child_id', NULL,
               'subject_id', r ->> 'bad_address',
               'summary', format('An email address in the case data cannot be used, so '
                                 'notices go to another address instead: %s.',
                                 coalesce(r ->> 'reason', 'worker ' || (r ->> 'bad_address'))),
               'facts', jsonb_build_object('worker_id', r ->> 'bad_address',
                                           'reason', r ->> 'reason')),
           $3::text
      FROM cur c
     CROSS JOIN LATERAL jsonb_array_elements(c.payload -> 'recipients') r
     WHERE $6::text IS NOT NULL AND r ? 'bad_address'
     ORDER BY r ->> 'bad_address'
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING notice_id
),
-- A team's webhook_url that team_webhooks.allowed_hosts does not allow is not posted to (the
-- case data is not trusted to choose where alerts go); the operators hear once per URL.
team_urls AS (
    INSERT INTO @state@.outbox (idempotency_key, channel, destination, role, type, payload,
           digest_key)
    SELECT DISTINCT ON (c.team_webhook_refused ->> 'digest')
           'teamurl_' || left(c.team_webhook_refused ->> 'digest', 32), 'email', $6::text,
           'operators', 'data.team_webhook',
           jsonb_build_object('rule', 'driftwatch', 'stage', 'team_webhook', 'child_id', NULL,
               'subject_id', NULL,
               'summary', format('A team''s webhook_url in the case data was not used: it %s. '
                                 'Alerts of that team go to their other destinations.',
                                 c.team_webhook_refused ->> 'why'),
               'facts', jsonb_build_object('why', c.team_webhook_refused ->> 'why',
                                           'first_seen_for_child', c.child_id)),
           $3::text
      FROM cur c
     WHERE $6::text IS NOT NULL AND c.team_webhook_refused IS NOT NULL
     ORDER BY c.team_webhook_refused ->> 'digest'
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING notice_id
)
SELECT (SELECT count(*) FROM events WHERE kind = 'firing')    AS firing,
       (SELECT count(*) FROM events WHERE kind = 'escalated') AS escalated,
       (SELECT count(*) FROM events WHERE kind IN ('updated', 'lowered')) AS updated,
       0::bigint                                              AS resolved,
       (SELECT count(*) FROM events WHERE kind = 'reminder')  AS reminders,
       (SELECT count(*) FROM notices WHERE channel = 'email')   AS email_notices,
       (SELECT count(*) FROM notices WHERE channel = 'webhook') AS webhook_notices,
       (SELECT count(*) FROM bad_addresses)
           + (SELECT count(*) FROM team_urls)                   AS reports;
