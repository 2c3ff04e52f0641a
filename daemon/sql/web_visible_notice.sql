-- web_visible_notice (a fragment): notice(alert_id), the alerts whose notices go to the person
-- $1 by email now: the firing alerts with the person among their current destinations, worked
-- out again at each evaluation from the case data. A notice sent before does not count: a supervisor whose team a child has
-- left was told of its alert, and kept seeing it, and the child's whole chronology as it grew,
-- for as long as the alert lasted (RESPONSES.md: a recipient may answer the alert through the
-- link they were sent; anyone else sees nothing). The links they were sent still work.
notice AS (
    SELECT a.alert_id
      FROM @state@.alerts a
     CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(a.destinations) = 'array'
                                                  THEN a.destinations ELSE '[]' END) d
     WHERE a.status = 'firing'
       AND d ->> 'channel' = 'email' AND lower(d ->> 'destination') = $1::text
)
