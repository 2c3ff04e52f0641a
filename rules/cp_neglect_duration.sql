-- cp_neglect_duration: a child on an open CP plan for neglect, staged by how long its episode has run.
,
cp_candidates AS (
    -- Any row that looks like an open neglect plan names a child worth judging in full; the rows
    -- of every other child are never sorted.
    SELECT DISTINCT child_id
    FROM cp_plans_rows
    WHERE keyed AND category = ANY ($4::text[])
      AND start_date <= $1::date AND (end_date IS NULL OR end_date > $1::date)
),
cp_plans_counted AS (
    -- cp_plans_clean for the candidates only; plans starting after T are not yet known.
    SELECT plan_id, child_id, start_date, end_date, category, chair_id
    FROM (SELECT DISTINCT ON (child_id, plan_id) * FROM cp_plans_rows
          WHERE keyed AND child_id IN (SELECT child_id FROM cp_candidates)
          ORDER BY child_id, plan_id, start_date, end_date, initial_category, latest_category, chair_id) first_by_content
    WHERE sound AND category = ANY ($4::text[]) AND start_date <= $1::date
),
cp_ends AS (
    -- A plan still open has no end yet, so everything after it joins its episode.
    SELECT c.*,
           max(coalesce(c.end_date, 'infinity'::date)) OVER (
               PARTITION BY c.child_id ORDER BY c.start_date, c.plan_id
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS latest_end_before
    FROM cp_plans_counted c
),
cp_episodes AS (
    SELECT e.*,
           count(*) FILTER (
               WHERE e.latest_end_before IS NULL
                  OR e.start_date > e.latest_end_before
                                    + coalesce(($5::jsonb ->> 'merge_gap_days')::int, 28)
           ) OVER (PARTITION BY e.child_id ORDER BY e.start_date, e.plan_id
                   ROWS UNBOUNDED PRECEDING) AS episode
    FROM cp_ends e
),
cp_current AS (
    -- The open plan that started last is the subject; its episode gives the clock.
    SELECT DISTINCT ON (child_id) child_id, plan_id, start_date, category, chair_id,
           episode_start, plans_in_episode
    FROM (SELECT e.*,
                 min(e.start_date) OVER ep AS episode_start,
                 count(*) OVER ep AS plans_in_episode
          FROM cp_episodes e
          WINDOW ep AS (PARTITION BY e.child_id, e.episode)) x
    WHERE end_date IS NULL OR end_date > $1::date
    ORDER BY child_id, start_date DESC, plan_id DESC
),
cp_reached AS (
    SELECT c.*, s.strategy_id, s.kind, s.decided_on, s.review_by,
           s.strategy_id IS NOT NULL AS held,
           $1::date >= (c.episode_start + make_interval(months => coalesce(($5::jsonb ->> '9m')::int, 9)))::date AS r9,
           $1::date >= (c.episode_start + make_interval(months => coalesce(($5::jsonb ->> '12m')::int, 12)))::date AS r12,
           $1::date >= (c.episode_start + make_interval(months => coalesce(($5::jsonb ->> '15m')::int, 15)))::date AS r15,
           $1::date >= (c.episode_start + make_interval(months => coalesce(($5::jsonb ->> '18m')::int, 18)))::date AS r18
    FROM cp_current c
    -- Any strategy active on T holds the escalation; the one decided last is shown. Looked up
    -- per current plan by index, so the cost stays linear whatever the planner expects.
    LEFT JOIN LATERAL (
        SELECT strategy_id, kind, decided_on, review_by
        FROM (SELECT DISTINCT ON (strategy_id) * FROM strategies_rows
              WHERE keyed AND child_id = c.child_id
              ORDER BY strategy_id, kind, decided_on, review_by) first_by_content
        WHERE sound AND decided_on <= $1::date AND (review_by IS NULL OR $1::date <= review_by)
        ORDER BY decided_on DESC, strategy_id DESC
        LIMIT 1
    ) s ON true
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
    SELECT c.child_id,
           c.plan_id AS subject_id,
           c.stage,
           c.episode_start AS since,
           jsonb_build_object(
               'plan_start', c.start_date,
               'episode_start', c.episode_start,
               'months', m.months,
               'category', c.category,
               'plans_in_episode', c.plans_in_episode,
               'strategy', CASE WHEN c.held THEN jsonb_build_object(
                               'strategy_id', c.strategy_id, 'kind', c.kind,
                               'decided_on', c.decided_on, 'review_by', c.review_by) END,
               'escalation_held', c.held AND (c.r15 OR c.r18)) AS facts,
           c.chair_id
    FROM cp_staged c
    CROSS JOIN LATERAL (
        SELECT ((extract(year FROM $1::date) - extract(year FROM c.episode_start)) * 12
                + extract(month FROM $1::date) - extract(month FROM c.episode_start))::int AS n
    ) d
    -- Whole calendar months, clamped as date + interval clamps: the month count of T minus one
    -- when T falls before the same day of its month.
    CROSS JOIN LATERAL (
        SELECT d.n - ((c.episode_start + make_interval(months => d.n))::date > $1::date)::int AS months
    ) m
    WHERE c.stage IS NOT NULL
)
