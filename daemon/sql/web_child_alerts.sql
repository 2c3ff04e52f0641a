-- web_child_alerts: the child's alerts that the person may see, each with its whole history
-- (every event: firing, escalations, responses with who, through what, why), for its
-- chronology (RESPONSES.md, "/child"). Oldest first. Also today in the configured zone, the day
-- the page is drawn for.
-- $1 text      the child
-- $2 bigint[]  the alerts the person may see, or NULL for everything (visibility.h)
-- $3 text      the configured time zone
-- Columns: today (days since 1970-01-01), alerts (a JSON array).
SELECT ((now() AT TIME ZONE $3::text)::date - date '1970-01-01') AS today,
       coalesce(jsonb_agg(jsonb_build_object(
           'fingerprint', a.fingerprint, 'rule', a.rule, 'stage', a.stage,
           'status', a.status, 'subject_id', a.subject_id,
           'first_fired_on', a.first_fired_on, 'stage_since', a.stage_since,
           'summary', a.payload ->> 'summary',
           'history', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                               'at', to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                               'as_of', e.as_of, 'kind', e.kind,
                               'stage', e.stage, 'actor', e.actor, 'via', e.via,
                               'reason', e.reason, 'note', e.note)
                           ORDER BY e.event_id), '[]'::jsonb)
                         FROM @state@.alert_events e WHERE e.alert_id = a.alert_id))
       ORDER BY a.first_fired_on, a.fingerprint), '[]'::jsonb)::text AS alerts
  FROM @state@.alerts a
 WHERE a.child_id::text = $1::text
   AND ($2::bigint[] IS NULL OR a.alert_id = ANY ($2::bigint[]))
