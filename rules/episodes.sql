-- episodes: the episodes of RULES.md ("Episodes"), shared by cin_neglect_duration,
-- cp_neglect_duration and repeat_neglect_plan. Not a statement but CTEs of a WITH list: a rule
-- has the line `-- @include episodes.sql` right after its CTE `episode_plans` and a comma.
--
-- Input, `episode_plans`: the plans that count for the rule (the rule's "for neglect"), one row
-- per (child_id, plan_id) as the X_clean CTEs pick it, none starting after T, with at least
-- child_id, plan_id, start_date and end_date. Any other column (cp_plans' category and chair_id)
-- is carried through untouched; the names below must not be among them.
-- Options: `merge_gap_days` from :options (28).
-- Output, `episode_current`: one row per child with an open plan on T, the plan that started
-- last (ties: the greatest plan_id): every column of episode_plans, plus
--   latest_end_before  the latest end among the child's earlier plans (infinity: one is open)
--   episode            the episode's number among the child's episodes, from 1
--   episode_start      the episode's first start
--   episode_plan_id    the plan that started the episode (the earliest start; ties: the
--                      smallest plan_id): the alert's subject, the same while the episode lasts
--   plans_in_episode   how many plans the episode has
--   months             the greatest n with episode_start + n months <= T
-- Each CTE is read once, by the next, so the planner sees through all of them to the rule's
-- own CTEs; the rule reads episode_current once.
episode_ends AS NOT MATERIALIZED (
    -- A plan still open has no end yet, so everything after it joins its episode.
    SELECT c.*,
           max(coalesce(c.end_date, 'infinity'::date)) OVER (
               PARTITION BY c.child_id COLLATE "C" ORDER BY c.start_date, c.plan_id
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS latest_end_before
    FROM episode_plans c
),
episode_numbered AS NOT MATERIALIZED (
    -- A plan starting more than merge_gap_days after every earlier plan ended opens an episode.
    SELECT e.*,
           count(*) FILTER (
               WHERE e.latest_end_before IS NULL
                  OR e.start_date > e.latest_end_before
                                    + coalesce((:options ->> 'merge_gap_days')::int, 28)
           ) OVER (PARTITION BY e.child_id COLLATE "C" ORDER BY e.start_date, e.plan_id
                   ROWS UNBOUNDED PRECEDING) AS episode
    FROM episode_ends e
),
episode_latest AS NOT MATERIALIZED (
    -- The open plan that started last is the current plan; its episode gives the clock and,
    -- by its first plan, the subject: closing and reopening within the episode keeps both.
    SELECT DISTINCT ON (child_id COLLATE "C") *
    FROM (SELECT e.*,
                 min(e.start_date) OVER ep AS episode_start,
                 first_value(e.plan_id) OVER (ep ORDER BY e.start_date, e.plan_id) AS episode_plan_id,
                 count(*) OVER ep AS plans_in_episode
          FROM episode_numbered e
          WINDOW ep AS (PARTITION BY e.child_id COLLATE "C", e.episode)) x
    WHERE end_date IS NULL OR end_date > :as_of
    ORDER BY child_id COLLATE "C", start_date DESC, plan_id DESC
),
episode_current AS NOT MATERIALIZED (
    SELECT c.*, m.months
    FROM episode_latest c
    CROSS JOIN LATERAL (
        SELECT ((extract(year FROM :as_of) - extract(year FROM c.episode_start)) * 12
                + extract(month FROM :as_of) - extract(month FROM c.episode_start))::int AS n
    ) d
    -- Whole calendar months, clamped as date + interval clamps: the month count of T minus one
    -- when T falls before the same day of its month.
    CROSS JOIN LATERAL (
        SELECT d.n - ((c.episode_start + make_interval(months => d.n))::date > :as_of)::int AS months
    ) m
)
