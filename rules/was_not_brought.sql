-- was_not_brought: appointments a child was not brought to in the last months, for a vulnerable child or repeatedly.
-- @incremental child_ids
-- @include head.sql
,
-- @include tail_rows.sql
,
-- @include rows_cp_plans.sql
,
-- @include rows_appointments.sql
,
wnb_candidates AS (
    -- Per child, the keys of the rows that look counted: outcome was_not_brought on a local day
    -- in the window (T - window_months < day <= T). The copy of a key that counts (the first by
    -- content order) is one of these rows or is not counted at all, so a child counts at most
    -- cardinality(keys) appointments, the first of them on first_day or later; that is enough to
    -- leave most children out before any key is settled. The scheduled_for range is what an
    -- index can use (no zone is a day away from UTC, so it holds every row of the window and a
    -- few more): over everyone the partial index appointments (scheduled_for) WHERE outcome =
    -- 'was_not_brought' (contract_indexes.sql), for a few children the (child_id, scheduled_for)
    -- one. docs/sql.md has the plans.
    SELECT child_id,
           array_agg(DISTINCT appointment_id) AS keys,
           min((scheduled_for AT TIME ZONE :time_zone)::date) AS first_day
    FROM appointments_rows
    WHERE keyed AND outcome = 'was_not_brought'
      AND scheduled_for >= (:as_of - make_interval(months => coalesce((:options ->> 'window_months')::int, 6))
                            - interval '1 day') AT TIME ZONE 'UTC'
      AND scheduled_for < (:as_of + 2)::timestamp AT TIME ZONE 'UTC'
      AND (scheduled_for AT TIME ZONE :time_zone)::date
              > (:as_of - make_interval(months => coalesce((:options ->> 'window_months')::int, 6)))::date
      AND (scheduled_for AT TIME ZONE :time_zone)::date <= :as_of
    GROUP BY child_id
),
wnb_children AS (
    -- The candidates' children rows, first by content; none leaves age and disability unknown.
    -- The family of each hit comes from here too (tail_family below).
    SELECT DISTINCT ON (child_id COLLATE "C") child_id, family_id, date_of_birth, disability
    FROM children_rows
    WHERE keyed AND child_id IN (SELECT child_id FROM wnb_candidates)  -- @lookup children
    ORDER BY child_id COLLATE "C", family_id, date_of_birth, expected_dob, disability
),
wnb_cp AS (
    -- Per candidate, the CP plan of any category open on T that started last (ties: greatest
    -- plan_id); its chair is the one to tell.
    SELECT DISTINCT ON (child_id COLLATE "C") child_id, chair_id
    FROM (SELECT DISTINCT ON (child_id COLLATE "C", plan_id COLLATE "C") * FROM cp_plans_rows
          WHERE keyed AND child_id IN (SELECT child_id FROM wnb_candidates)
          ORDER BY child_id COLLATE "C", plan_id COLLATE "C", start_date, end_date, initial_category, latest_category, chair_id) first_by_content
    WHERE sound AND start_date <= :as_of AND (end_date IS NULL OR end_date > :as_of)
    ORDER BY child_id COLLATE "C", start_date DESC, plan_id DESC
),
wnb_child AS (
    SELECT c.*, ch.date_of_birth, ch.disability, cp.chair_id,
           cp.child_id IS NOT NULL AS on_cp_plan
    FROM wnb_candidates c
    LEFT JOIN wnb_children ch ON ch.child_id = c.child_id
    LEFT JOIN wnb_cp cp ON cp.child_id = c.child_id
    -- Only the children who would reach a stage if every candidate key counted: most children
    -- in the window missed one appointment and are not vulnerable, and are never settled.
    WHERE cardinality(c.keys) >= coalesce((:options ->> 'repeated')::int, 2)
       OR (cardinality(c.keys) >= coalesce((:options ->> 'vulnerable')::int, 1)
           AND (c.first_day < (ch.date_of_birth
                               + make_interval(months => coalesce((:options ->> 'infant_months')::int, 12)))::date
                OR cp.child_id IS NOT NULL OR ch.disability IS TRUE))
),
wnb_settled AS (
    -- appointments_clean for those children's candidate keys: every copy of each key, the first
    -- by content order kept. Those children's rows first (a semi-join on child_id, or their
    -- index in the lookup form), then a hash semi-join on (child_id, appointment_id), so only
    -- the copies of those keys are sorted.
    SELECT DISTINCT ON (child_id COLLATE "C", appointment_id COLLATE "C") *
    FROM appointments_rows
    WHERE keyed
      AND child_id IN (SELECT child_id FROM wnb_child)  -- @lookup appointments
      AND (child_id, appointment_id) IN (SELECT child_id, unnest(keys) FROM wnb_child)
    ORDER BY child_id COLLATE "C", appointment_id COLLATE "C", service, scheduled_for, outcome
),
wnb_appointments AS (
    -- The settled copies that are sound and not brought to, as appointments: rows of one child
    -- with the same service and scheduled_for are one appointment (RULES.md: a health feed
    -- resends an appointment under a new id), named by its smallest appointment_id.
    SELECT child_id, service, scheduled_for, min(appointment_id) AS appointment_id,
           (scheduled_for AT TIME ZONE :time_zone)::date AS local_day
    FROM wnb_settled
    WHERE sound AND outcome = 'was_not_brought'
    GROUP BY child_id, service, scheduled_for
),
wnb_missed AS (
    -- The counted appointments per child: on a local day in the window.
    SELECT child_id,
           count(*) AS n,
           min(local_day) AS first_missed,
           max(local_day) AS latest,
           -- json in jsonb's key order (length, then bytes): rules/re_referral.sql says why
           json_agg(json_build_object('date', local_day,
                                      'service', service,
                                      'appointment_id', appointment_id)
                    ORDER BY scheduled_for, appointment_id) AS appointments
    FROM wnb_appointments
    WHERE local_day > (:as_of - make_interval(months => coalesce((:options ->> 'window_months')::int, 6)))::date
      AND local_day <= :as_of
    GROUP BY child_id
),
wnb_counted AS (
    SELECT c.child_id, c.disability, c.chair_id, c.on_cp_plan, m.n, m.first_missed, m.latest,
           m.appointments,
           -- Under one on some counted date is under one on the first; NULL when the date of
           -- birth is unknown, which is "unknown", not "no".
           m.first_missed < (c.date_of_birth
                             + make_interval(months => coalesce((:options ->> 'infant_months')::int, 12)))::date
               AS under_one
    FROM wnb_child c
    JOIN wnb_missed m ON m.child_id = c.child_id
),
hits AS (
    SELECT s.child_id,
           NULL::text AS subject_id,
           CASE WHEN s.n >= coalesce((:options ->> 'repeated')::int, 2) THEN 'repeated'
                ELSE 'vulnerable' END AS stage,
           s.first_missed AS since,
           json_build_object('count', s.n,
                             'latest', s.latest,
                             'under_one', s.under_one,
                             'disability', s.disability,
                             'on_cp_plan', s.on_cp_plan,
                             'appointments', s.appointments,
                             'window_start', (:as_of - make_interval(months => coalesce((:options ->> 'window_months')::int, 6)))::date + 1) AS facts,
           s.chair_id
    FROM wnb_counted s
    WHERE s.n > 0
      AND (s.n >= coalesce((:options ->> 'repeated')::int, 2)
           OR (s.n >= coalesce((:options ->> 'vulnerable')::int, 1)
               AND (s.under_one IS TRUE OR s.on_cp_plan OR s.disability IS TRUE)))
),
tail_family AS (
    -- tail_family.sql's rows without reading children again: the hits are candidates, and
    -- wnb_children settled their children rows as children_rows does.
    SELECT child_id, family_id FROM wnb_children
    WHERE child_id IN (SELECT child_id FROM hits)
)
,
-- @include tail_allocation.sql
,
-- @include alert_rows.sql
