-- cin_neglect_duration: a child on an open CIN plan for neglect whose episode is 6 months old or more.
,
cin_candidates AS (
    -- Any row that looks like an open neglect plan names a child worth judging in full; the rows
    -- of every other child are never sorted.
    SELECT DISTINCT child_id
    FROM cin_plans_rows
    WHERE keyed AND neglect
      AND start_date <= $1::date AND (end_date IS NULL OR end_date > $1::date)
),
cin_plans_counted AS (
    -- cin_plans_clean for the candidates only; plans starting after T are not yet known.
    SELECT plan_id, child_id, start_date, end_date
    FROM (SELECT DISTINCT ON (child_id, plan_id) * FROM cin_plans_rows
          WHERE keyed AND child_id IN (SELECT child_id FROM cin_candidates)
          ORDER BY child_id, plan_id, start_date, end_date, neglect) first_by_content
    WHERE sound AND neglect AND start_date <= $1::date
),
cin_ends AS (
    -- A plan still open has no end yet, so everything after it joins its episode.
    SELECT c.*,
           max(coalesce(c.end_date, 'infinity'::date)) OVER (
               PARTITION BY c.child_id ORDER BY c.start_date, c.plan_id
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS latest_end_before
    FROM cin_plans_counted c
),
cin_episodes AS (
    SELECT e.*,
           count(*) FILTER (
               WHERE e.latest_end_before IS NULL
                  OR e.start_date > e.latest_end_before
                                    + coalesce(($5::jsonb ->> 'merge_gap_days')::int, 28)
           ) OVER (PARTITION BY e.child_id ORDER BY e.start_date, e.plan_id
                   ROWS UNBOUNDED PRECEDING) AS episode
    FROM cin_ends e
),
cin_current AS (
    -- The open plan that started last is the subject; its episode gives the clock.
    SELECT DISTINCT ON (child_id) child_id, plan_id, start_date, episode_start, plans_in_episode
    FROM (SELECT e.*,
                 min(e.start_date) OVER ep AS episode_start,
                 count(*) OVER ep AS plans_in_episode
          FROM cin_episodes e
          WINDOW ep AS (PARTITION BY e.child_id, e.episode)) x
    WHERE end_date IS NULL OR end_date > $1::date
    ORDER BY child_id, start_date DESC, plan_id DESC
),
hits AS (
    SELECT c.child_id,
           c.plan_id AS subject_id,
           '6m'::text AS stage,
           c.episode_start AS since,
           jsonb_build_object('plan_start', c.start_date,
                              'episode_start', c.episode_start,
                              'months', m.months,
                              'plans_in_episode', c.plans_in_episode) AS facts,
           NULL::text AS chair_id
    FROM cin_current c
    CROSS JOIN LATERAL (
        SELECT ((extract(year FROM $1::date) - extract(year FROM c.episode_start)) * 12
                + extract(month FROM $1::date) - extract(month FROM c.episode_start))::int AS n
    ) d
    -- Whole calendar months, clamped as date + interval clamps: the month count of T minus one
    -- when T falls before the same day of its month.
    CROSS JOIN LATERAL (
        SELECT d.n - ((c.episode_start + make_interval(months => d.n))::date > $1::date)::int AS months
    ) m
    WHERE $1::date >= (c.episode_start
                       + make_interval(months => coalesce(($5::jsonb ->> '6m')::int, 6)))::date
)
