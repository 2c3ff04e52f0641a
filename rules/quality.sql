-- Data quality of the evaluated population: bad and suspicious rows by kind, missing children, children evaluated.
,
teams_checked AS NOT MATERIALIZED (
    SELECT r.*,
           coalesce(key_fault, CASE WHEN rank() OVER w > 1 THEN 'duplicate_key' END, row_fault) AS bad,
           NULL::text AS warn,
           row_number() OVER w > rank() OVER w AS copy
    FROM teams_rows r
    WINDOW w AS (PARTITION BY team_id ORDER BY name, manager_email, webhook_url)
),
workers_checked AS NOT MATERIALIZED (
    SELECT r.*,
           coalesce(key_fault, CASE WHEN rank() OVER w > 1 THEN 'duplicate_key' END, row_fault) AS bad,
           -- Only suspicious: the worker's own alerts still route, by the next role in line.
           CASE WHEN r.supervisor_id IS NOT NULL AND sup.worker_id IS NULL THEN 'dangling_supervisor'
                WHEN r.team_id IS NOT NULL AND tm.team_id IS NULL THEN 'dangling_team' END AS warn,
           row_number() OVER w > rank() OVER w AS copy
    FROM workers_rows r
    LEFT JOIN (SELECT DISTINCT worker_id FROM @case@.workers) sup ON sup.worker_id = r.supervisor_id
    LEFT JOIN (SELECT DISTINCT team_id FROM @case@.teams) tm ON tm.team_id = r.team_id
    WINDOW w AS (PARTITION BY r.worker_id ORDER BY r.display_name, r.email, r.team_id, r.supervisor_id, r.role)
),
children_checked AS NOT MATERIALIZED (
    SELECT r.*,
           coalesce(key_fault, CASE WHEN rank() OVER w > 1 THEN 'duplicate_key' END, row_fault) AS bad,
           NULL::text AS warn,
           row_number() OVER w > rank() OVER w AS copy
    FROM children_rows r
    WINDOW w AS (PARTITION BY child_id ORDER BY family_id, date_of_birth, expected_dob, disability)
),
allocations_checked AS NOT MATERIALIZED (
    SELECT r.*,
           coalesce(key_fault, CASE WHEN rank() OVER w > 1 THEN 'duplicate_key' END, row_fault) AS bad,
           NULL::text AS warn,
           row_number() OVER w > rank() OVER w AS copy
    FROM allocations_rows r
    WINDOW w AS (PARTITION BY child_id, allocation_id ORDER BY worker_id, start_date, end_date)
),
referrals_checked AS NOT MATERIALIZED (
    SELECT r.*,
           coalesce(key_fault, CASE WHEN rank() OVER w > 1 THEN 'duplicate_key' END, row_fault) AS bad,
           NULL::text AS warn,
           row_number() OVER w > rank() OVER w AS copy
    FROM referrals_rows r
    WINDOW w AS (PARTITION BY child_id, referral_id ORDER BY referral_date, primary_need, neglect, closure_date, closure_reason)
),
cin_plans_checked AS NOT MATERIALIZED (
    SELECT r.*,
           coalesce(key_fault, CASE WHEN rank() OVER w > 1 THEN 'duplicate_key' END, row_fault) AS bad,
           NULL::text AS warn,
           row_number() OVER w > rank() OVER w AS copy
    FROM cin_plans_rows r
    WINDOW w AS (PARTITION BY child_id, plan_id ORDER BY start_date, end_date, neglect)
),
cp_plans_checked AS NOT MATERIALIZED (
    SELECT r.plan_id, r.child_id, r.start_date, r.end_date, r.initial_category, r.latest_category,
           r.chair_id, r.category, r.key_fault, r.row_fault,
           coalesce(key_fault, CASE WHEN rank() OVER w > 1 THEN 'duplicate_key' END, row_fault) AS bad,
           CASE WHEN r.chair_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM @case@.workers cw WHERE cw.worker_id = r.chair_id) THEN 'dangling_chair' END AS warn,
           row_number() OVER w > rank() OVER w AS copy
    FROM cp_plans_rows r
    WINDOW w AS (PARTITION BY child_id, plan_id ORDER BY start_date, end_date, initial_category, latest_category, chair_id)
),
appointments_checked AS NOT MATERIALIZED (
    SELECT r.*,
           coalesce(key_fault, CASE WHEN rank() OVER w > 1 THEN 'duplicate_key' END, row_fault) AS bad,
           NULL::text AS warn,
           row_number() OVER w > rank() OVER w AS copy
    FROM appointments_rows r
    WINDOW w AS (PARTITION BY child_id, appointment_id ORDER BY service, scheduled_for, outcome)
),
strategies_checked AS NOT MATERIALIZED (
    SELECT r.*,
           coalesce(key_fault, CASE WHEN rank() OVER w > 1 THEN 'duplicate_key' END, row_fault) AS bad,
           NULL::text AS warn,
           row_number() OVER w > rank() OVER w AS copy
    FROM strategies_rows r
    WINDOW w AS (PARTITION BY child_id, strategy_id ORDER BY kind, decided_on, review_by)
),
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
