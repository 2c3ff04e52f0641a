-- repeat_neglect_plan: a child back on a CP plan for neglect after an earlier one ended, staged by how soon.
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
episode_plans AS (
    -- The CP plans for neglect, the input of episodes.sql: a plan closed and reopened within
    -- merge_gap_days is one episode, not a repeat.
    SELECT plan_id, child_id, start_date, end_date, chair_id, plan_number
    FROM rp_plans
    WHERE for_neglect
),
-- @include episodes.sql
,
rp_previous AS (
    -- The previous plan: of the child's neglect plans that ended before the current episode
    -- began (so in an earlier episode), the one that ended last (ties: greatest plan_id).
    -- Joined on child_id, so each child's few plans meet only its episode.
    SELECT DISTINCT ON (c.child_id COLLATE "C")
           c.child_id, c.plan_id AS current_plan_id, c.start_date AS plan_start, c.chair_id,
           c.plan_number, c.episode_start, c.episode_plan_id, c.plans_in_episode,
           e.plan_id, e.start_date, e.end_date
    FROM episode_current c
    JOIN rp_plans e ON e.child_id = c.child_id
    WHERE e.for_neglect AND e.end_date < c.episode_start
    ORDER BY c.child_id COLLATE "C", e.end_date DESC, e.plan_id DESC
),
hits AS (
    -- The sooner the episode began after the previous plan ended, the higher the stage. The
    -- subject is the current episode, named by its first plan.
    SELECT p.child_id,
           p.episode_plan_id AS subject_id,
           CASE WHEN p.episode_start <= (p.end_date + make_interval(months => coalesce((:options ->> '12m')::int, 12)))::date
                    THEN '12m'
                WHEN p.episode_start <= (p.end_date + make_interval(months => coalesce((:options ->> '24m')::int, 24)))::date
                    THEN '24m'
                ELSE 'any' END AS stage,
           p.episode_start AS since,
           -- json in jsonb's key order (length, then bytes): rules/re_referral.sql says why
           json_build_object('gap_days', p.episode_start - p.end_date,
                             'plan_start', p.plan_start,
                             'plan_number', p.plan_number,
                             'episode_start', p.episode_start,
                             'current_plan_id', p.current_plan_id,
                             'plans_in_episode', p.plans_in_episode,
                             'previous_plan_id', p.plan_id,
                             'previous_plan_end', p.end_date,
                             'previous_plan_start', p.start_date) AS facts,
           p.chair_id
    FROM rp_previous p
)
,
-- @include tail_family.sql
,
-- @include tail_allocation.sql
,
-- @include alert_rows.sql
