-- cin_neglect_duration: a child on an open CIN plan for neglect whose episode is 6 months old or more.
-- @incremental child_ids
-- @include head.sql
,
-- @include tail_rows.sql
,
-- @include rows_cin_plans.sql
,
cin_candidates AS (
    -- Any row that looks like an open neglect plan names a child worth judging in full; the rows
    -- of every other child are never sorted.
    SELECT DISTINCT child_id
    FROM cin_plans_rows
    WHERE keyed AND neglect
      AND start_date <= :as_of AND (end_date IS NULL OR end_date > :as_of)
),
episode_plans AS (
    -- The CIN plans for neglect that count, the input of episodes.sql: cin_plans_clean for the
    -- candidates only; plans starting after T are not yet known.
    SELECT plan_id, child_id, start_date, end_date
    FROM (SELECT DISTINCT ON (child_id COLLATE "C", plan_id COLLATE "C") * FROM cin_plans_rows
          WHERE keyed AND child_id IN (SELECT child_id FROM cin_candidates)
          ORDER BY child_id COLLATE "C", plan_id COLLATE "C", start_date, end_date, neglect) first_by_content
    WHERE sound AND neglect AND start_date <= :as_of
),
-- @include episodes.sql
,
hits AS (
    -- The subject is the episode, named by its first plan (RULES.md): a plan closed and
    -- reopened within merge_gap_days keeps the alert and updates its facts.
    SELECT c.child_id,
           c.episode_plan_id AS subject_id,
           '6m'::text AS stage,
           c.episode_start AS since,
           -- json in jsonb's key order (length, then bytes): rules/re_referral.sql says why
           json_build_object('months', c.months,
                             'plan_start', c.start_date,
                             'episode_start', c.episode_start,
                             'current_plan_id', c.plan_id,
                             'plans_in_episode', c.plans_in_episode) AS facts,
           NULL::text AS chair_id
    FROM episode_current c
    WHERE :as_of >= (c.episode_start
                     + make_interval(months => coalesce((:options ->> '6m')::int, 6)))::date
)
,
-- @include tail_family.sql
,
-- @include tail_allocation.sql
,
-- @include alert_rows.sql
