-- web_alert_state (a fragment): the response state of alert row a on day d.today, one
-- expression: resolved, snoozed (a snooze to a past day has lapsed), acknowledged (for the
-- stage as it was first recorded: a later stage needs a new answer) or open.
CASE WHEN a.status <> 'firing' THEN 'resolved'
     WHEN a.snoozed_until >= d.today THEN 'snoozed'
     WHEN a.ack_stage = a.stage AND a.ack_stage_since = a.stage_since THEN 'acknowledged'
     ELSE 'open' END AS state
