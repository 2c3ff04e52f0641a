-- Data quality of the evaluated population: bad and suspicious rows by kind, missing children, children evaluated.
,
quality_counts AS (
    -- One pass over each checked relation; identical duplicates count once. The kind-less group
    -- of children is the number of distinct known children.
    SELECT 'teams' AS relation, coalesce(bad, warn) AS kind, count(*) AS n
    FROM teams_checked WHERE NOT copy GROUP BY 2
    UNION ALL
    SELECT 'workers', coalesce(bad, warn), count(*) FROM workers_checked WHERE NOT copy GROUP BY 2
    UNION ALL
    SELECT 'children', coalesce(bad, warn), count(*) FROM children_checked WHERE NOT copy GROUP BY 2
    UNION ALL
    SELECT 'allocations', coalesce(bad, warn), count(*) FROM allocations_checked WHERE NOT copy GROUP BY 2
    UNION ALL
    SELECT 'referrals', coalesce(bad, warn), count(*) FROM referrals_checked WHERE NOT copy GROUP BY 2
    UNION ALL
    SELECT 'cin_plans', coalesce(bad, warn), count(*) FROM cin_plans_checked WHERE NOT copy GROUP BY 2
    UNION ALL
    SELECT 'cp_plans', coalesce(bad, warn), count(*) FROM cp_plans_checked WHERE NOT copy GROUP BY 2
    UNION ALL
    SELECT 'appointments', coalesce(bad, warn), count(*) FROM appointments_checked WHERE NOT copy GROUP BY 2
    UNION ALL
    SELECT 'strategies', coalesce(bad, warn), count(*) FROM strategies_checked WHERE NOT copy GROUP BY 2
),
unknown_children AS (
    -- Child ids with no children row; only those named by plans, allocations or appointments are
    -- reported missing, but every one of them was evaluated.
    SELECT child_id, bool_or(reported) AS reported
    FROM (SELECT child_id, true AS reported FROM cin_plans_rows
          UNION ALL SELECT child_id, true FROM cp_plans_rows
          UNION ALL SELECT child_id, true FROM allocations_rows
          UNION ALL SELECT child_id, true FROM appointments_rows
          UNION ALL SELECT child_id, false FROM referrals_rows
          UNION ALL SELECT child_id, false FROM strategies_rows) named
    WHERE child_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM @case@.children c WHERE c.child_id = named.child_id)
    GROUP BY child_id
)
SELECT kind, n
FROM (SELECT relation || '.' || kind AS kind, n FROM quality_counts WHERE kind IS NOT NULL
      UNION ALL
      SELECT 'children.missing', count(*) FROM unknown_children WHERE reported HAVING count(*) > 0
      UNION ALL
      SELECT 'children_evaluated',
             coalesce((SELECT n FROM quality_counts WHERE relation = 'children' AND kind IS NULL), 0)
             + (SELECT count(*) FROM unknown_children)) q
ORDER BY kind
