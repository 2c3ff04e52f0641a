-- cp_neglect_duration: a child on an open CP plan for neglect, staged by how long its episode has run.
-- @incremental child_ids
-- @include head.sql
,
-- @include tail_rows.sql
,
-- @include rows_cp_plans.sql
,
-- @include rows_strategies.sql
,
cp_candidates AS (
    -- Any row that looks like an open neglect plan names a child worth judging in full; the rows
    -- of every other child are never sorted.
    SELECT DISTINCT child_id
    FROM cp_plans_rows
    WHERE keyed AND category = ANY (:neglect_categories)
      AND start_date <= :as_of AND (end_date IS NULL OR end_date > :as_of)
),
episode_plans AS (
    -- The CP plans for neglect that count, the input of episodes.sql: cp_plans_clean for the
    -- candidates only; plans starting after T are not yet known.
    SELECT plan_id, child_id, start_date, end_date, category, chair_id
    FROM (SELECT DISTINCT ON (child_id COLLATE "C", plan_id COLLATE "C") * FROM cp_plans_rows
          WHERE keyed AND child_id IN (SELECT child_id FROM cp_candidates)
          ORDER BY child_id COLLATE "C", plan_id COLLATE "C", start_date, end_date, initial_category, latest_category, chair_id) first_by_content
    WHERE sound AND category = ANY (:neglect_categories) AND start_date <= :as_of
),
-- @include episodes.sql
,
cp_strategies AS (
    -- The candidates' strategies, settled, decided by T, of a kind that holds an escalation
    -- (strategy_kinds: a JSON array, or null for every kind). Each runs until its review_by, or
    -- until strategy_months after it was decided when nobody set one (CONTRACT.md).
    SELECT child_id, strategy_id, kind, decided_on, review_by,
           coalesce(review_by,
                    (decided_on + make_interval(months => coalesce((:options ->> 'strategy_months')::int, 6)))::date)
               AS runs_until
    FROM (SELECT DISTINCT ON (child_id COLLATE "C", strategy_id COLLATE "C") * FROM strategies_rows
          WHERE keyed AND child_id IN (SELECT child_id FROM cp_candidates)
          ORDER BY child_id COLLATE "C", strategy_id COLLATE "C", kind, decided_on, review_by) first_by_content
    WHERE sound AND decided_on <= :as_of
      AND (jsonb_typeof(:options -> 'strategy_kinds') IS DISTINCT FROM 'array'
           OR (:options -> 'strategy_kinds') ? kind)
),
cp_with_strategy AS (
    -- Each current episode with the strategy that matters to it: only one decided within the
    -- episode holds it, and only until it runs out (CONTRACT.md). Shown: the active one decided
    -- last (ties: the greatest strategy_id), else the one that ran out last, which the summary
    -- names as lapsed. A hash join on child_id: a child's few strategies meet only its episode.
    SELECT DISTINCT ON (c.child_id COLLATE "C")
           c.*, s.strategy_id, s.kind, s.decided_on, s.review_by, s.runs_until,
           coalesce(:as_of <= s.runs_until, false) AS held
    FROM episode_current c
    LEFT JOIN cp_strategies s ON s.child_id = c.child_id AND s.decided_on >= c.episode_start
    ORDER BY c.child_id COLLATE "C", coalesce(:as_of <= s.runs_until, false) DESC,
             CASE WHEN :as_of <= s.runs_until THEN s.decided_on END DESC NULLS LAST,
             s.runs_until DESC NULLS LAST, s.decided_on DESC NULLS LAST, s.strategy_id DESC NULLS LAST
),
cp_reached AS (
    SELECT c.*,
           :as_of >= (c.episode_start + make_interval(months => coalesce((:options ->> '9m')::int, 9)))::date AS r9,
           :as_of >= (c.episode_start + make_interval(months => coalesce((:options ->> '12m')::int, 12)))::date AS r12,
           :as_of >= (c.episode_start + make_interval(months => coalesce((:options ->> '15m')::int, 15)))::date AS r15,
           :as_of >= (c.episode_start + make_interval(months => coalesce((:options ->> '18m')::int, 18)))::date AS r18
    FROM cp_with_strategy c
),
cp_staged AS (
    SELECT r.*,
           CASE WHEN r.r18 AND NOT r.held THEN '18m'
                WHEN r.r15 AND NOT r.held THEN '15m'
                -- A strategy keeps a plan past 15 months at 12m until its review date passes.
                WHEN r.r12 OR (r.held AND (r.r15 OR r.r18)) THEN '12m'
                WHEN r.r9 THEN '9m' END AS stage
    FROM cp_reached r
),
hits AS (
    -- The subject is the episode, named by its first plan (RULES.md); the chair is the current
    -- plan's.
    SELECT c.child_id,
           c.episode_plan_id AS subject_id,
           c.stage,
           c.episode_start AS since,
           -- json in jsonb's key order (length, then bytes): rules/re_referral.sql says why
           json_build_object(
               'months', c.months,
               'category', c.category,
               'strategy', CASE WHEN c.held THEN json_build_object(
                               'kind', c.kind, 'review_by', c.review_by,
                               'decided_on', c.decided_on, 'runs_until', c.runs_until,
                               'strategy_id', c.strategy_id) END,
               'plan_start', c.start_date,
               'episode_start', c.episode_start,
               'current_plan_id', c.plan_id,
               'escalation_held', c.held AND (c.r15 OR c.r18),
               'lapsed_strategy', CASE WHEN NOT c.held AND c.strategy_id IS NOT NULL
                                       THEN json_build_object(
                               'kind', c.kind, 'review_by', c.review_by,
                               'decided_on', c.decided_on, 'runs_until', c.runs_until,
                               'strategy_id', c.strategy_id) END,
               'plans_in_episode', c.plans_in_episode) AS facts,
           c.chair_id
    FROM cp_staged c
    WHERE c.stage IS NOT NULL
)
,
-- @include tail_family.sql
,
-- @include tail_allocation.sql
,
-- @include alert_rows.sql
