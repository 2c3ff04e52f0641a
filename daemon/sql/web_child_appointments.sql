-- web_child_appointments: the appointments the child missed, for its chronology (RESPONSES.md,
-- "/child": was not brought, or cancelled by the family), by day (the local day of
-- scheduled_for in the configured zone), identical copies once.
-- $1 text  the child
-- $2 text  the configured time zone
SELECT translate(coalesce(jsonb_agg(jsonb_build_object(
           'appointment_id', a.appointment_id, 'day', a.day, 'service', a.service,
           'outcome', a.outcome)
       ORDER BY a.day NULLS LAST, a.appointment_id COLLATE "C"), '[]'::jsonb)::text, @shown@)
  FROM (SELECT DISTINCT appointment_id::text, (scheduled_for AT TIME ZONE $2::text)::date AS day,
               service::text, outcome::text
          FROM @case@.appointments
         WHERE child_id::text = $1::text
           AND outcome IN ('was_not_brought', 'cancelled_by_family')) a
