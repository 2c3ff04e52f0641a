-- was_not_brought: appointments a child was not brought to in the last months, for a vulnerable child or repeatedly.
,
wnb_missed AS (
    -- appointments_clean restricted to the keys of rows that look counted: only their rows can
    -- decide which copy of such a key is kept, so no other appointment is ever sorted.
    SELECT a.appointment_id, a.child_id, a.service, a.scheduled_for,
           (a.scheduled_for AT TIME ZONE $3::text)::date AS local_day
    FROM (SELECT DISTINCT ON (child_id, appointment_id) * FROM appointments_rows
          WHERE keyed
            AND (child_id, appointment_id) IN (
                SELECT child_id, appointment_id FROM appointments_rows
                WHERE keyed AND outcome = 'was_not_brought'
                  -- No zone is a day away from UTC, so this range holds every row of the window
                  -- and a few more; the exact local-day test comes after the copies are settled.
                  AND scheduled_for >= ($1::date - make_interval(months => coalesce(($5::jsonb ->> 'window_months')::int, 6))
                                        - interval '1 day') AT TIME ZONE 'UTC'
                  AND scheduled_for < ($1::date + 2)::timestamp AT TIME ZONE 'UTC')
          ORDER BY child_id, appointment_id, service, scheduled_for, outcome) a
    WHERE a.sound AND a.outcome = 'was_not_brought'
      -- T - window_months < local day <= T
      AND (a.scheduled_for AT TIME ZONE $3::text)::date
              > ($1::date - make_interval(months => coalesce(($5::jsonb ->> 'window_months')::int, 6)))::date
      AND (a.scheduled_for AT TIME ZONE $3::text)::date <= $1::date
),
wnb_counts AS (
    SELECT child_id,
           count(*) AS n,
           min(local_day) AS first_missed,
           max(local_day) AS latest,
           jsonb_agg(jsonb_build_object('appointment_id', appointment_id,
                                        'service', service,
                                        'date', local_day)
                     ORDER BY scheduled_for, appointment_id) AS appointments
    FROM wnb_missed
    GROUP BY child_id
),
wnb_staged AS (
    SELECT c.*, ch.disability, cp.chair_id,
           cp.child_id IS NOT NULL AS on_cp_plan,
           -- Under one on some counted date is under one on the first; NULL when the date of
           -- birth is unknown, which is "unknown", not "no".
           c.first_missed < (ch.date_of_birth
                             + make_interval(months => coalesce(($5::jsonb ->> 'infant_months')::int, 12)))::date
               AS under_one
    FROM wnb_counts c
    -- Per child by index, so the cost stays linear whatever the planner expects. No children
    -- row leaves age and disability unknown.
    LEFT JOIN LATERAL (
        SELECT date_of_birth, disability FROM children_rows
        WHERE keyed AND child_id = c.child_id
        ORDER BY family_id, date_of_birth, expected_dob, disability
        LIMIT 1
    ) ch ON true
    -- A CP plan of any category open on T; its chair is the one to tell.
    LEFT JOIN LATERAL (
        SELECT child_id, chair_id
        FROM (SELECT DISTINCT ON (plan_id) * FROM cp_plans_rows
              WHERE keyed AND child_id = c.child_id
              ORDER BY plan_id, start_date, end_date, initial_category, latest_category, chair_id) first_by_content
        WHERE sound AND start_date <= $1::date AND (end_date IS NULL OR end_date > $1::date)
        ORDER BY start_date DESC, plan_id DESC
        LIMIT 1
    ) cp ON true
),
hits AS (
    SELECT s.child_id,
           NULL::text AS subject_id,
           CASE WHEN s.n >= coalesce(($5::jsonb ->> 'repeated')::int, 2) THEN 'repeated'
                ELSE 'vulnerable' END AS stage,
           s.first_missed AS since,
           jsonb_build_object('count', s.n,
                              'window_start', ($1::date - make_interval(months => coalesce(($5::jsonb ->> 'window_months')::int, 6)))::date + 1,
                              'latest', s.latest,
                              'appointments', s.appointments,
                              'under_one', s.under_one,
                              'on_cp_plan', s.on_cp_plan,
                              'disability', s.disability) AS facts,
           s.chair_id
    FROM wnb_staged s
    WHERE s.n >= coalesce(($5::jsonb ->> 'repeated')::int, 2)
       OR (s.n >= coalesce(($5::jsonb ->> 'vulnerable')::int, 1)
           AND (s.under_one IS TRUE OR s.on_cp_plan OR s.disability IS TRUE))
)
