-- worker_churn: a child with an open neglect plan who has had too many workers in the last months.
-- @incremental child_ids
-- @include head.sql
,
-- @include tail_rows.sql
,
-- @include rows_cin_plans.sql
,
-- @include rows_cp_plans.sql
,
ch_candidates AS (
    -- Any row that looks like an open neglect plan names a child worth judging in full.
    SELECT child_id FROM cin_plans_rows
    WHERE keyed AND neglect
      AND start_date <= :as_of AND (end_date IS NULL OR end_date > :as_of)
    UNION
    SELECT child_id FROM cp_plans_rows
    WHERE keyed AND category = ANY (:neglect_categories)
      AND start_date <= :as_of AND (end_date IS NULL OR end_date > :as_of)
),
ch_open_plans AS (
    -- The valid open neglect plans: CIN, or CP with the chair of the one that started last.
    SELECT child_id, NULL::text AS chair_id, start_date, plan_id, false AS cp
    FROM (SELECT DISTINCT ON (child_id COLLATE "C", plan_id COLLATE "C") * FROM cin_plans_rows
          WHERE keyed AND child_id IN (SELECT child_id FROM ch_candidates)
          ORDER BY child_id COLLATE "C", plan_id COLLATE "C", start_date, end_date, neglect) first_by_content
    WHERE sound AND neglect
      AND start_date <= :as_of AND (end_date IS NULL OR end_date > :as_of)
    UNION ALL
    SELECT child_id, chair_id, start_date, plan_id, true AS cp
    FROM (SELECT DISTINCT ON (child_id COLLATE "C", plan_id COLLATE "C") * FROM cp_plans_rows
          WHERE keyed AND child_id IN (SELECT child_id FROM ch_candidates)
          ORDER BY child_id COLLATE "C", plan_id COLLATE "C", start_date, end_date, initial_category, latest_category, chair_id) first_by_content
    WHERE sound AND category = ANY (:neglect_categories)
      AND start_date <= :as_of AND (end_date IS NULL OR end_date > :as_of)
),
ch_planned AS (
    SELECT DISTINCT ON (child_id COLLATE "C") child_id, CASE WHEN cp THEN chair_id END AS chair_id
    FROM ch_open_plans
    ORDER BY child_id COLLATE "C", cp DESC, start_date DESC, plan_id DESC
),
ch_allocs AS (
    -- allocations_clean of the planned children (every allocation, the first copy by content
    -- order, kept when sound), the chair riding along from ch_planned.
    SELECT a.child_id, a.allocation_id, a.worker_id, a.start_date, a.end_date, a.chair_id
    FROM (SELECT DISTINCT ON (x.child_id COLLATE "C", x.allocation_id COLLATE "C") x.*, p.chair_id
          FROM allocations_rows x
          JOIN ch_planned p ON p.child_id = x.child_id
          WHERE x.keyed
          ORDER BY x.child_id COLLATE "C", x.allocation_id COLLATE "C", x.worker_id, x.start_date, x.end_date) a
    WHERE a.sound
),
ch_counted AS (
    -- Per child and worker, the allocations open on at least one day D with
    -- T - window_months < D <= T.
    SELECT a.child_id, a.chair_id, a.worker_id, max(a.start_date) AS latest_start
    FROM ch_allocs a
    WHERE a.start_date <= :as_of
      AND (a.end_date IS NULL
           OR a.end_date > greatest(a.start_date,
                                    (:as_of - make_interval(months => coalesce((:options ->> 'window_months')::int, 12)))::date + 1))
    GROUP BY a.child_id, a.chair_id, a.worker_id
),
ch_names AS (
    -- The counted workers' names as staff know them (display_name, first by content).
    SELECT DISTINCT ON (worker_id COLLATE "C") worker_id, display_name
    FROM workers_rows
    WHERE keyed AND worker_id IN (SELECT worker_id FROM ch_counted)
    ORDER BY worker_id COLLATE "C", display_name, email, team_id, supervisor_id, role
),
ch_workers AS (
    SELECT c.child_id, c.chair_id,
           count(*) AS n,
           array_agg(c.worker_id ORDER BY c.worker_id) AS workers,
           -- in the order of workers; the id where no name is known
           array_agg(coalesce(nullif(btrim(nm.display_name), ''), c.worker_id)
                     ORDER BY c.worker_id) AS names,
           max(c.latest_start) AS latest_start
    FROM ch_counted c
    LEFT JOIN ch_names nm ON nm.worker_id = c.worker_id
    GROUP BY c.child_id, c.chair_id
),
hits AS (
    SELECT w.child_id,
           NULL::text AS subject_id,
           'churn'::text AS stage,
           w.latest_start AS since,
           -- json in jsonb's key order (length, then bytes): rules/re_referral.sql says why
           json_build_object('workers', to_json(w.workers),
                             'window_start', (:as_of - make_interval(months => coalesce((:options ->> 'window_months')::int, 12)))::date + 1,
                             'worker_names', to_json(w.names),
                             'distinct_workers', w.n)
               AS facts,
           w.chair_id
    FROM ch_workers w
    WHERE w.n >= coalesce((:options ->> 'churn')::int, 3)
)
,
-- @include tail_family.sql
,
tail_allocation AS (
    -- tail_allocation.sql's rows without reading allocations again: the hits are planned
    -- children, whose allocations ch_allocs settled as allocations_rows does.
    SELECT DISTINCT ON (child_id COLLATE "C") child_id, worker_id
    FROM ch_allocs
    WHERE child_id IN (SELECT child_id FROM hits)
      AND start_date <= :as_of AND (end_date IS NULL OR end_date > :as_of)
    ORDER BY child_id COLLATE "C", start_date DESC, allocation_id DESC
)
,
-- @include alert_rows.sql
