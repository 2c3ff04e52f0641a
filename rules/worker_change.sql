-- worker_change: a neglect case has just been handed to a different worker; the new worker gets the history in brief.
-- @incremental child_ids
-- @include head.sql
,
-- @include tail_rows.sql
,
-- @include rows_referrals.sql
,
-- @include rows_cin_plans.sql
,
-- @include rows_cp_plans.sql
,
-- @include rows_appointments.sql
,
wc_candidates AS (
    -- Only a child with an allocation row starting in the last window_days can have a handover.
    SELECT DISTINCT child_id
    FROM allocations_rows
    WHERE keyed
      AND start_date > :as_of - coalesce((:options ->> 'window_days')::int, 14)
      AND start_date <= :as_of
),
wc_allocs AS (
    -- allocations_clean of the candidates: every allocation, the first copy by content order,
    -- kept when sound. Allocations starting after T are not yet known (the rows below ask for
    -- start dates on or before T).
    SELECT allocation_id, child_id, worker_id, start_date, end_date
    FROM (SELECT DISTINCT ON (child_id COLLATE "C", allocation_id COLLATE "C") * FROM allocations_rows
          WHERE keyed AND child_id IN (SELECT child_id FROM wc_candidates)  -- @lookup allocations
          ORDER BY child_id COLLATE "C", allocation_id COLLATE "C", worker_id, start_date, end_date) first_by_content
    WHERE sound
),
wc_open AS (
    -- The current allocation: the open one that started last (ties: greatest allocation_id).
    SELECT DISTINCT ON (child_id COLLATE "C") allocation_id, child_id, worker_id, start_date
    FROM wc_allocs
    WHERE start_date <= :as_of AND (end_date IS NULL OR end_date > :as_of)
    ORDER BY child_id COLLATE "C", start_date DESC, allocation_id DESC
),
wc_current AS (
    -- ... if it started in the window.
    SELECT * FROM wc_open
    WHERE start_date > :as_of - coalesce((:options ->> 'window_days')::int, 14)
),
wc_previous AS (
    -- The previous allocation: the latest that started before the new one (ties: greatest
    -- allocation_id), from the same settled rows, joined on child_id.
    SELECT DISTINCT ON (c.child_id COLLATE "C") c.child_id, e.worker_id
    FROM wc_current c
    JOIN wc_allocs e ON e.child_id = c.child_id
    WHERE e.start_date < c.start_date
    ORDER BY c.child_id COLLATE "C", e.start_date DESC, e.allocation_id DESC
),
wc_changed AS (
    SELECT c.*, e.worker_id AS previous_worker_id
    FROM wc_current c
    JOIN wc_previous e ON e.child_id = c.child_id
    WHERE e.worker_id <> c.worker_id
),
wc_cin AS (
    -- Every neglect plan known on T: whether one is open, when the first started, and the
    -- earlier ones (ended by T: the history the new worker inherits; an open plan is the
    -- present, not history).
    SELECT child_id,
           bool_or(end_date IS NULL OR end_date > :as_of) AS open_now,
           min(start_date) AS first_start,
           -- json in jsonb's key order (length, then bytes): rules/re_referral.sql says why
           json_agg(json_build_object('plan_id', plan_id, 'end_date', end_date,
                                      'start_date', start_date)
                    ORDER BY start_date, plan_id) FILTER (WHERE end_date <= :as_of) AS plans
    FROM (SELECT DISTINCT ON (child_id COLLATE "C", plan_id COLLATE "C") * FROM cin_plans_rows
          WHERE keyed AND child_id IN (SELECT child_id FROM wc_changed)
          ORDER BY child_id COLLATE "C", plan_id COLLATE "C", start_date, end_date, neglect) first_by_content
    WHERE sound AND neglect AND start_date <= :as_of
    GROUP BY child_id
),
wc_cp AS (
    SELECT child_id,
           bool_or(end_date IS NULL OR end_date > :as_of) AS open_now,
           min(start_date) AS first_start,
           -- json in jsonb's key order (length, then bytes): rules/re_referral.sql says why
           json_agg(json_build_object('plan_id', plan_id, 'end_date', end_date,
                                      'start_date', start_date)
                    ORDER BY start_date, plan_id) FILTER (WHERE end_date <= :as_of) AS plans,
           -- The chair of the open plan that started last, for a configuration that tells chairs.
           (array_agg(chair_id ORDER BY start_date DESC, plan_id DESC)
                FILTER (WHERE end_date IS NULL OR end_date > :as_of))[1] AS chair_id
    FROM (SELECT DISTINCT ON (child_id COLLATE "C", plan_id COLLATE "C") * FROM cp_plans_rows
          WHERE keyed AND child_id IN (SELECT child_id FROM wc_changed)
          ORDER BY child_id COLLATE "C", plan_id COLLATE "C", start_date, end_date, initial_category, latest_category, chair_id) first_by_content
    WHERE sound AND category = ANY (:neglect_categories) AND start_date <= :as_of
    GROUP BY child_id
),
wc_planned AS (
    -- The handover only matters while the authority is planning for neglect; the rest of the
    -- history is gathered for these children only.
    SELECT c.*, cin.plans AS cin_plans, cin.first_start AS cin_first, cp.plans AS cp_plans,
           cp.first_start AS cp_first, cp.chair_id
    FROM wc_changed c
    LEFT JOIN wc_cin cin ON cin.child_id = c.child_id
    LEFT JOIN wc_cp cp ON cp.child_id = c.child_id
    WHERE cin.open_now OR cp.open_now
),
wc_workers AS (
    -- Allocations open on at least one day D with T - history_months < D <= T.
    SELECT a.child_id, count(DISTINCT a.worker_id) AS n
    FROM wc_allocs a
    WHERE a.child_id IN (SELECT child_id FROM wc_planned)
      AND a.start_date <= :as_of
      AND (a.end_date IS NULL
           OR a.end_date > greatest(a.start_date,
                                    (:as_of - make_interval(months => coalesce((:options ->> 'history_months')::int, 12)))::date + 1))
    GROUP BY a.child_id
),
wc_referrals AS (
    SELECT child_id, count(*) AS n
    FROM (SELECT DISTINCT ON (child_id COLLATE "C", referral_id COLLATE "C") * FROM referrals_rows
          WHERE keyed AND child_id IN (SELECT child_id FROM wc_planned)  -- @lookup referrals
          ORDER BY child_id COLLATE "C", referral_id COLLATE "C", referral_date, primary_need, neglect, closure_date, closure_reason) first_by_content
    WHERE sound
      AND referral_date > (:as_of - make_interval(months => coalesce((:options ->> 'referral_months')::int, 24)))::date
      AND referral_date <= :as_of
    GROUP BY child_id
),
wc_missed AS (
    -- Rows with the same service and scheduled_for are one appointment (RULES.md).
    SELECT child_id, count(DISTINCT (service, scheduled_for)) AS n
    FROM (SELECT DISTINCT ON (child_id COLLATE "C", appointment_id COLLATE "C") * FROM appointments_rows
          WHERE keyed AND child_id IN (SELECT child_id FROM wc_planned)  -- @lookup appointments
          ORDER BY child_id COLLATE "C", appointment_id COLLATE "C", service, scheduled_for, outcome) first_by_content
    WHERE sound AND outcome = 'was_not_brought'
      AND (scheduled_for AT TIME ZONE :time_zone)::date
              > (:as_of - make_interval(months => coalesce((:options ->> 'missed_months')::int, 12)))::date
      AND (scheduled_for AT TIME ZONE :time_zone)::date <= :as_of
    GROUP BY child_id
),
wc_names AS (
    -- The two workers' names as staff know them (display_name, first by content), for the
    -- sentence people read; NULL where none is known.
    SELECT DISTINCT ON (worker_id COLLATE "C") worker_id, display_name
    FROM workers_rows
    WHERE keyed AND worker_id IN (SELECT worker_id FROM wc_planned
                                  UNION ALL SELECT previous_worker_id FROM wc_planned)
    ORDER BY worker_id COLLATE "C", display_name, email, team_id, supervisor_id, role
),
hits AS (
    SELECT c.child_id,
           c.allocation_id AS subject_id,
           'handover'::text AS stage,
           c.start_date AS since,
           -- json in jsonb's key order (length, then bytes): rules/re_referral.sql says why
           json_build_object(
               'new_worker_id', c.worker_id,
               'referrals_24m', coalesce(r.n, 0),
               'new_worker_name', nullif(btrim(nn.display_name), ''),
               'allocation_start', c.start_date,
               -- least() skips NULLs: either kind of plan alone gives the date.
               'first_neglect_plan', least(c.cin_first, c.cp_first),
               'previous_worker_id', c.previous_worker_id,
               'distinct_workers_12m', coalesce(w.n, 0),
               'previous_worker_name', nullif(btrim(pn.display_name), ''),
               'missed_appointments_12m', coalesce(m.n, 0),
               'earlier_neglect_cp_plans', coalesce(c.cp_plans, '[]'::json),
               'earlier_neglect_cin_plans', coalesce(c.cin_plans, '[]'::json)) AS facts,
           c.chair_id
    FROM wc_planned c
    -- Each fact is one set for all these children, hash-joined here: a child with no rows has
    -- none of them, so counts default to 0 as count(*) of nothing would.
    LEFT JOIN wc_workers w ON w.child_id = c.child_id
    LEFT JOIN wc_referrals r ON r.child_id = c.child_id
    LEFT JOIN wc_missed m ON m.child_id = c.child_id
    LEFT JOIN wc_names pn ON pn.worker_id = c.previous_worker_id
    LEFT JOIN wc_names nn ON nn.worker_id = c.worker_id
)
,
-- @include tail_family.sql
,
tail_allocation AS (
    -- tail_allocation.sql's rows without reading allocations again: each hit's new allocation
    -- is its current one (wc_current, before the window).
    SELECT child_id, worker_id FROM wc_open
    WHERE child_id IN (SELECT child_id FROM hits)
)
,
-- @include alert_rows.sql
