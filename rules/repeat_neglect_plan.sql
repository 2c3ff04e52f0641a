-- repeat_neglect_plan: an open CP plan for neglect that follows an earlier CP plan for neglect, staged by how soon.
-- @incremental child_ids
-- @include head.sql
,
-- @include tail_rows.sql
,
-- @include rows_cp_plans.sql
,
rp_candidates AS (
    -- Any row that looks like an open neglect plan names a child worth judging in full; the rows
    -- of every other child are never sorted.
    SELECT DISTINCT child_id
    FROM cp_plans_rows
    WHERE keyed AND category = ANY (:neglect_categories)
      AND start_date <= :as_of AND (end_date IS NULL OR end_date > :as_of)
),
rp_plans AS (
    -- Every valid CP plan of the candidates, whatever its category, numbered in the order the
    -- child had them; plans starting after T are not yet known.
    SELECT plan_id, child_id, start_date, end_date, chair_id,
           category = ANY (:neglect_categories) AS for_neglect,
           row_number() OVER (PARTITION BY child_id COLLATE "C" ORDER BY start_date, plan_id) AS plan_number
    FROM (SELECT DISTINCT ON (child_id COLLATE "C", plan_id COLLATE "C") * FROM cp_plans_rows
          WHERE keyed AND child_id IN (SELECT child_id FROM rp_candidates)
          ORDER BY child_id COLLATE "C", plan_id COLLATE "C", start_date, end_date, initial_category, latest_category, chair_id) first_by_content
    WHERE sound AND start_date <= :as_of
),
rp_current AS (
    SELECT DISTINCT ON (child_id COLLATE "C") child_id, plan_id, start_date, chair_id, plan_number
    FROM rp_plans
    WHERE for_neglect AND (end_date IS NULL OR end_date > :as_of)
    ORDER BY child_id COLLATE "C", start_date DESC, plan_id DESC
),
rp_previous AS (
    -- The previous plan: of the child's neglect plans that ended on or before the current plan
    -- started, the one that ended last (ties: greatest plan_id). rp_plans holds every one of
    -- them (it ended by the current start, so it started before T), settled as cp_plans_rows
    -- settles it; joined on child_id, so each child's few plans meet only each other.
    SELECT DISTINCT ON (c.child_id COLLATE "C") c.child_id, e.plan_id, e.start_date, e.end_date
    FROM rp_current c
    JOIN rp_plans e ON e.child_id = c.child_id
    WHERE e.for_neglect AND e.end_date <= c.start_date
    ORDER BY c.child_id COLLATE "C", e.end_date DESC, e.plan_id DESC
),
hits AS (
    SELECT c.child_id,
           c.plan_id AS subject_id,
           CASE WHEN c.start_date <= (e.end_date + make_interval(months => coalesce((:options ->> '12m')::int, 12)))::date
                    THEN '12m'
                WHEN c.start_date <= (e.end_date + make_interval(months => coalesce((:options ->> '24m')::int, 24)))::date
                    THEN '24m'
                ELSE 'any' END AS stage,
           c.start_date AS since,
           jsonb_build_object('plan_start', c.start_date,
                              'previous_plan_id', e.plan_id,
                              'previous_plan_start', e.start_date,
                              'previous_plan_end', e.end_date,
                              'gap_days', c.start_date - e.end_date,
                              'plan_number', c.plan_number) AS facts,
           c.chair_id
    FROM rp_current c
    JOIN rp_previous e ON e.child_id = c.child_id
)
,
-- @include tail_family.sql
,
-- @include tail_allocation.sql
,
-- @include alert_rows.sql
