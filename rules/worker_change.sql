-- worker_change: a neglect case has just been handed to a different worker; the new worker gets the history in brief.
,
wc_candidates AS (
    -- Only a child with an allocation row starting in the last window_days can have a handover.
    SELECT DISTINCT child_id
    FROM allocations_rows
    WHERE keyed
      AND start_date > $1::date - coalesce(($5::jsonb ->> 'window_days')::int, 14)
      AND start_date <= $1::date
),
wc_current AS (
    -- allocations_clean of the candidates: the open allocation that started last, if it started
    -- in the window. Allocations starting after T are not yet known.
    SELECT *
    FROM (SELECT DISTINCT ON (child_id) allocation_id, child_id, worker_id, start_date
          FROM (SELECT DISTINCT ON (child_id, allocation_id) * FROM allocations_rows
                WHERE keyed AND child_id IN (SELECT child_id FROM wc_candidates)
                ORDER BY child_id, allocation_id, worker_id, start_date, end_date) first_by_content
          WHERE sound AND start_date <= $1::date AND (end_date IS NULL OR end_date > $1::date)
          ORDER BY child_id, start_date DESC, allocation_id DESC) current_allocation
    WHERE start_date > $1::date - coalesce(($5::jsonb ->> 'window_days')::int, 14)
),
wc_changed AS (
    SELECT c.*, e.worker_id AS previous_worker_id
    FROM wc_current c
    -- The previous allocation: the latest that started before the new one (ties: greatest
    -- allocation_id). Every per-child lookup here goes by index, one child at a time, so the
    -- cost stays linear however many cases a reorganisation hands over at once.
    CROSS JOIN LATERAL (
        SELECT worker_id
        FROM (SELECT DISTINCT ON (allocation_id) * FROM allocations_rows
              WHERE keyed AND child_id = c.child_id
              ORDER BY allocation_id, worker_id, start_date, end_date) first_by_content
        WHERE sound AND start_date < c.start_date
        ORDER BY start_date DESC, allocation_id DESC
        LIMIT 1
    ) e
    WHERE e.worker_id <> c.worker_id
),
hits AS (
    SELECT c.child_id,
           c.allocation_id AS subject_id,
           'handover'::text AS stage,
           c.start_date AS since,
           jsonb_build_object(
               'allocation_start', c.start_date,
               'previous_worker_id', c.previous_worker_id,
               'new_worker_id', c.worker_id,
               'distinct_workers_12m', w.n,
               'earlier_neglect_cin_plans', coalesce(cin.plans, '[]'::jsonb),
               'earlier_neglect_cp_plans', coalesce(cp.plans, '[]'::jsonb),
               'referrals_24m', r.n,
               'missed_appointments_12m', m.n,
               -- least() skips NULLs: either kind of plan alone gives the date.
               'first_neglect_plan', least(cin.first_start, cp.first_start)) AS facts,
           cp.chair_id
    FROM wc_changed c
    -- Every neglect plan known on T, open or ended: the history the new worker inherits.
    CROSS JOIN LATERAL (
        SELECT bool_or(end_date IS NULL OR end_date > $1::date) AS open_now,
               min(start_date) AS first_start,
               jsonb_agg(jsonb_build_object('plan_id', plan_id, 'start_date', start_date,
                                            'end_date', end_date)
                         ORDER BY start_date, plan_id) AS plans
        FROM (SELECT DISTINCT ON (plan_id) * FROM cin_plans_rows
              WHERE keyed AND child_id = c.child_id
              ORDER BY plan_id, start_date, end_date, neglect) first_by_content
        WHERE sound AND neglect AND start_date <= $1::date
    ) cin
    CROSS JOIN LATERAL (
        SELECT bool_or(end_date IS NULL OR end_date > $1::date) AS open_now,
               min(start_date) AS first_start,
               jsonb_agg(jsonb_build_object('plan_id', plan_id, 'start_date', start_date,
                                            'end_date', end_date)
                         ORDER BY start_date, plan_id) AS plans,
               -- The chair of the open plan that started last, for a configuration that tells chairs.
               (array_agg(chair_id ORDER BY start_date DESC, plan_id DESC)
                    FILTER (WHERE end_date IS NULL OR end_date > $1::date))[1] AS chair_id
        FROM (SELECT DISTINCT ON (plan_id) * FROM cp_plans_rows
              WHERE keyed AND child_id = c.child_id
              ORDER BY plan_id, start_date, end_date, initial_category, latest_category, chair_id) first_by_content
        WHERE sound AND category = ANY ($4::text[]) AND start_date <= $1::date
    ) cp
    -- Allocations open on at least one day D with T - history_months < D <= T.
    CROSS JOIN LATERAL (
        SELECT count(DISTINCT worker_id) AS n
        FROM (SELECT DISTINCT ON (allocation_id) * FROM allocations_rows
              WHERE keyed AND child_id = c.child_id
              ORDER BY allocation_id, worker_id, start_date, end_date) first_by_content
        WHERE sound AND start_date <= $1::date
          AND (end_date IS NULL
               OR end_date > greatest(start_date,
                                      ($1::date - make_interval(months => coalesce(($5::jsonb ->> 'history_months')::int, 12)))::date + 1))
    ) w
    CROSS JOIN LATERAL (
        SELECT count(*) AS n
        FROM (SELECT DISTINCT ON (referral_id) * FROM referrals_rows
              WHERE keyed AND child_id = c.child_id
              ORDER BY referral_id, referral_date, primary_need, neglect, closure_date, closure_reason) first_by_content
        WHERE sound
          AND referral_date > ($1::date - make_interval(months => coalesce(($5::jsonb ->> 'referral_months')::int, 24)))::date
          AND referral_date <= $1::date
    ) r
    CROSS JOIN LATERAL (
        SELECT count(*) AS n
        FROM (SELECT DISTINCT ON (appointment_id) * FROM appointments_rows
              WHERE keyed AND child_id = c.child_id
              ORDER BY appointment_id, service, scheduled_for, outcome) first_by_content
        WHERE sound AND outcome = 'was_not_brought'
          AND (scheduled_for AT TIME ZONE $3::text)::date
                  > ($1::date - make_interval(months => coalesce(($5::jsonb ->> 'missed_months')::int, 12)))::date
          AND (scheduled_for AT TIME ZONE $3::text)::date <= $1::date
    ) m
    -- The handover only matters while the authority is planning for neglect.
    WHERE cin.open_now OR cp.open_now
)
