-- web_service_record_wrong (a fragment, after CTEs d (today) and a (firing alerts with their
-- state and snooze, web_alert_state.sql)): the alerts snoozed now because the case record is
-- wrong and is being corrected, which RESPONSES.md lists for the operators: wrong_all, all of
-- them, and wrong, the 50 whose snooze ends first. /service for everyone (web_service_body.sql)
-- and for one person (web_service_mine.sql) list them alike.
wrong_all AS (
    SELECT a.* FROM a WHERE a.state = 'snoozed' AND a.snooze_reason = 'data_wrong'
),
wrong AS (
    SELECT w.alert_id, w.child_id, w.rule, w.stage, w.team_id, w.snoozed_until, w.snoozed_by,
           w.snooze_note
      FROM wrong_all w
     ORDER BY w.snoozed_until, w.alert_id
     LIMIT 50
)
