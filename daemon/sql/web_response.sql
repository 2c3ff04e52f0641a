-- web_response (a fragment): the "response" member of the API's alert JSON, from alert row a
-- with its state (web_alert_state.sql), one expression. record.sql puts the same member in
-- the notices of a snoozed alert, so that receivers meet one shape.
'response', jsonb_build_object(
    'state', a.state,
    'by', CASE a.state WHEN 'snoozed' THEN a.snoozed_by
                       WHEN 'acknowledged' THEN a.acknowledged_by END,
    'at', to_char(CASE a.state WHEN 'snoozed' THEN a.snoozed_at
                               WHEN 'acknowledged' THEN a.acknowledged_at END AT TIME ZONE 'UTC',
                  'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'until', CASE a.state WHEN 'snoozed' THEN a.snoozed_until END,
    'reason', CASE a.state WHEN 'snoozed' THEN a.snooze_reason END,
    'note', CASE a.state WHEN 'snoozed' THEN a.snooze_note
                         WHEN 'acknowledged' THEN a.ack_note END)
