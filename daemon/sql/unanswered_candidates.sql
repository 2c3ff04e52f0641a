-- unanswered_candidates: the firing alerts whose current stage nobody has answered, after a full
-- evaluation of day T (RESPONSES.md, "Escalation when nobody answers"): no acknowledgement of
-- this stage, no snooze in force on T (a snooze to a day before T has lapsed), and no
-- alert.unanswered for this stage since it was first recorded. A stage the alert comes back to
-- (lowered to it when a strategy holds the 15-month escalation, say) is the same stage: once it
-- was escalated, or acknowledged, since the alert last began firing, it is not escalated again
-- (RESPONSES.md: "one notice of type alert.unanswered for that stage"; audit 11 found a second
-- "12 months not answered" after the chair did what the 15-month notice asked). unanswered.c works out in C which
-- of them are due (escalation_due, counting from count_from: the stage's day, or for an alert
-- that was already firing when state v4 arrived, the last evaluation before it) and queues
-- those with unanswered_queue.sql (child_id: for unanswered_service_manager.sql; roles: the
-- recipient roles among the alert's destinations, which an escalation to such a role reaches
-- already). A rule turned off keeps its alerts as they were, but nobody is chased for an
-- answer to them while it is off (when it runs again, its alerts are escalated as before).
-- $1 date    T
-- $2 text[]  the rules turned on
SELECT a.alert_id, a.rule, a.stage, a.stage_since,
       greatest(a.stage_since, a.escalate_from) AS count_from, a.child_id,
       (SELECT coalesce(jsonb_agg(DISTINCT o.role), '[]'::jsonb)
          FROM jsonb_to_recordset(CASE jsonb_typeof(a.destinations) WHEN 'array'
                                       THEN a.destinations ELSE '[]'::jsonb END) AS o(role text)
         WHERE o.role IS NOT NULL)::text AS roles
  FROM @state@.alerts a
 WHERE a.status = 'firing'
   AND a.rule = ANY ($2::text[])
   AND a.stage_since < $1::date
   AND NOT (a.acknowledged_at IS NOT NULL AND a.ack_stage = a.stage
            AND a.ack_stage_since = a.stage_since)
   AND NOT coalesce(a.snoozed_until >= $1::date, false)
   AND NOT EXISTS (SELECT 1 FROM @state@.alert_events e
                    WHERE e.alert_id = a.alert_id AND e.stage = a.stage
                      AND ((e.kind = 'unanswered' AND e.as_of >= a.stage_since)
                           OR (e.kind IN ('unanswered', 'acknowledged')
                               AND e.event_id > coalesce(
                                   (SELECT max(f.event_id) FROM @state@.alert_events f
                                     WHERE f.alert_id = a.alert_id AND f.kind = 'firing'), 0))))
 ORDER BY a.alert_id;
