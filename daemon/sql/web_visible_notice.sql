-- web_visible_notice (a fragment): notice(alert_id), the alerts whose notices went or go to the
-- person $1 by email (RESPONSES.md: a recipient may answer the alert they were told of): the
-- outbox's email notices, and the alert's current email destinations (an old delivered notice
-- may have been pruned by retention).
notice AS (
    SELECT o.alert_id
      FROM @state@.outbox o
     WHERE o.channel = 'email' AND o.alert_id IS NOT NULL AND lower(o.destination) = $1::text
    UNION
    SELECT a.alert_id
      FROM @state@.alerts a
     CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(a.destinations) = 'array'
                                                  THEN a.destinations ELSE '[]' END) d
     WHERE d ->> 'channel' = 'email' AND lower(d ->> 'destination') = $1::text
)
