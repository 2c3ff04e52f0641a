-- Shared head of every rule query and of quality.sql: the parameters and each contract relation, checked.
--
-- Per relation X there are three CTEs (see docs/internals.md, "Bad rows"):
--   X_rows     every row of the evaluated children ($2), with key_fault (null_key, null_child_id),
--              row_fault (the relation's own kinds, first that applies), the same two tests as
--              plain predicates, keyed (no key_fault) and sound (no row_fault), because the planner
--              estimates a predicate on columns well and "CASE ... IS NULL" at 0.5% (which turns
--              every join above it into a nested loop);
--   X_checked  X_rows with the one bad kind of each row (duplicate_key decided between the two)
--              and copy (an identical duplicate of an earlier row, counted once);
--   X_clean    one row per key: the first by content order, unless it has a fault of its own.
-- The content order of a relation is its non-key columns in table order, ascending, NULLs last;
-- every DISTINCT ON and window that picks "the first by content" lists them, here and in the
-- rules, and must list them alike.
-- Keys of relations that belong to a child are scoped by the child: two children naming the same
-- plan_id are two plans (a view joining plans to siblings does exactly that), and a child's rows
-- can be judged from that child's rows alone, which is what lets a rule look at a few children
-- and what makes a one-child evaluation agree with a full one.
-- X_clean of a child relation sorts every evaluated child's rows, so a rule that only needs a few
-- children applies the same DISTINCT ON to X_rows restricted to them (docs/internals.md).
-- Every CTE is NOT MATERIALIZED so that a rule pays only for what it reads and the $2 filter and
-- the rule's own filters reach the base tables and their (child_id, ...) indexes.
WITH p AS (
    -- Names every parameter with its type, so a rule that does not use one still prepares.
    SELECT $1::date AS t, $2::text[] AS child_ids, $3::text AS time_zone,
           $4::text[] AS neglect_categories, $5::jsonb AS options, $6::text AS rule
),

teams_rows AS NOT MATERIALIZED (
    SELECT t.team_id, t.name, t.manager_email, t.webhook_url,
           CASE WHEN t.team_id IS NULL THEN 'null_key' END AS key_fault,
           NULL::text AS row_fault,
           t.team_id IS NOT NULL AS keyed,
           true AS sound
    FROM @case@.teams t
),
teams_checked AS NOT MATERIALIZED (
    SELECT r.*,
           coalesce(key_fault, CASE WHEN rank() OVER w > 1 THEN 'duplicate_key' END, row_fault) AS bad,
           NULL::text AS warn,
           row_number() OVER w > rank() OVER w AS copy
    FROM teams_rows r
    WINDOW w AS (PARTITION BY team_id ORDER BY name, manager_email, webhook_url)
),
teams_clean AS NOT MATERIALIZED (
    SELECT team_id, name, manager_email, webhook_url
    FROM (SELECT DISTINCT ON (team_id) * FROM teams_rows WHERE keyed
          ORDER BY team_id, name, manager_email, webhook_url) first_by_content
    WHERE sound
),

workers_rows AS NOT MATERIALIZED (
    SELECT w.worker_id, w.display_name, w.email, w.team_id, w.supervisor_id, w.role,
           CASE WHEN w.worker_id IS NULL THEN 'null_key' END AS key_fault,
           NULL::text AS row_fault,
           w.worker_id IS NOT NULL AS keyed,
           true AS sound
    FROM @case@.workers w
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
workers_clean AS NOT MATERIALIZED (
    SELECT worker_id, display_name, email, team_id, supervisor_id, role
    FROM (SELECT DISTINCT ON (worker_id) * FROM workers_rows WHERE keyed
          ORDER BY worker_id, display_name, email, team_id, supervisor_id, role) first_by_content
    WHERE sound
),

children_rows AS NOT MATERIALIZED (
    SELECT c.child_id, c.family_id, c.date_of_birth, c.expected_dob, c.disability,
           CASE WHEN c.child_id IS NULL THEN 'null_key' END AS key_fault,
           NULL::text AS row_fault,
           c.child_id IS NOT NULL AS keyed,
           true AS sound
    FROM @case@.children c
    WHERE ($2::text[] IS NULL OR c.child_id = ANY ($2::text[]))
),
children_checked AS NOT MATERIALIZED (
    SELECT r.*,
           coalesce(key_fault, CASE WHEN rank() OVER w > 1 THEN 'duplicate_key' END, row_fault) AS bad,
           NULL::text AS warn,
           row_number() OVER w > rank() OVER w AS copy
    FROM children_rows r
    WINDOW w AS (PARTITION BY child_id ORDER BY family_id, date_of_birth, expected_dob, disability)
),
children_clean AS NOT MATERIALIZED (
    SELECT child_id, family_id, date_of_birth, expected_dob, disability
    FROM (SELECT DISTINCT ON (child_id) * FROM children_rows WHERE keyed
          ORDER BY child_id, family_id, date_of_birth, expected_dob, disability) first_by_content
    WHERE sound
),

allocations_rows AS NOT MATERIALIZED (
    SELECT a.allocation_id, a.child_id, a.worker_id, a.start_date, a.end_date,
           CASE WHEN a.allocation_id IS NULL THEN 'null_key'
                WHEN a.child_id IS NULL THEN 'null_child_id' END AS key_fault,
           CASE WHEN a.worker_id IS NULL THEN 'null_worker_id'
                WHEN a.start_date IS NULL THEN 'null_start_date'
                WHEN a.end_date < a.start_date THEN 'end_before_start'
                -- An allocation to nobody known cannot route an alert or count as a worker.
                -- (An uncorrelated IN is one hash of the worker ids per statement, reused when a
                -- rule reads one child's allocations at a time.)
                WHEN a.worker_id NOT IN (SELECT worker_id FROM @case@.workers WHERE worker_id IS NOT NULL)
                    THEN 'dangling_worker' END AS row_fault,
           a.allocation_id IS NOT NULL AND a.child_id IS NOT NULL AS keyed,
           a.worker_id IS NOT NULL AND a.start_date IS NOT NULL
               AND (a.end_date IS NULL OR a.end_date >= a.start_date)
               AND a.worker_id IN (SELECT worker_id FROM @case@.workers WHERE worker_id IS NOT NULL) AS sound
    FROM @case@.allocations a
    WHERE ($2::text[] IS NULL OR a.child_id = ANY ($2::text[]))
),
allocations_checked AS NOT MATERIALIZED (
    SELECT r.*,
           coalesce(key_fault, CASE WHEN rank() OVER w > 1 THEN 'duplicate_key' END, row_fault) AS bad,
           NULL::text AS warn,
           row_number() OVER w > rank() OVER w AS copy
    FROM allocations_rows r
    WINDOW w AS (PARTITION BY child_id, allocation_id ORDER BY worker_id, start_date, end_date)
),
allocations_clean AS NOT MATERIALIZED (
    SELECT allocation_id, child_id, worker_id, start_date, end_date
    FROM (SELECT DISTINCT ON (child_id, allocation_id) * FROM allocations_rows WHERE keyed
          ORDER BY child_id, allocation_id, worker_id, start_date, end_date) first_by_content
    WHERE sound
),

referrals_rows AS NOT MATERIALIZED (
    SELECT r.referral_id, r.child_id, r.referral_date, r.primary_need, r.neglect, r.closure_date,
           r.closure_reason,
           CASE WHEN r.referral_id IS NULL THEN 'null_key'
                WHEN r.child_id IS NULL THEN 'null_child_id' END AS key_fault,
           CASE WHEN r.referral_date IS NULL THEN 'null_referral_date'
                WHEN r.closure_date < r.referral_date THEN 'closure_before_referral' END AS row_fault,
           r.referral_id IS NOT NULL AND r.child_id IS NOT NULL AS keyed,
           r.referral_date IS NOT NULL
               AND (r.closure_date IS NULL OR r.closure_date >= r.referral_date) AS sound
    FROM @case@.referrals r
    WHERE ($2::text[] IS NULL OR r.child_id = ANY ($2::text[]))
),
referrals_checked AS NOT MATERIALIZED (
    SELECT r.*,
           coalesce(key_fault, CASE WHEN rank() OVER w > 1 THEN 'duplicate_key' END, row_fault) AS bad,
           NULL::text AS warn,
           row_number() OVER w > rank() OVER w AS copy
    FROM referrals_rows r
    WINDOW w AS (PARTITION BY child_id, referral_id ORDER BY referral_date, primary_need, neglect, closure_date, closure_reason)
),
referrals_clean AS NOT MATERIALIZED (
    SELECT referral_id, child_id, referral_date, primary_need, neglect, closure_date, closure_reason
    FROM (SELECT DISTINCT ON (child_id, referral_id) * FROM referrals_rows WHERE keyed
          ORDER BY child_id, referral_id, referral_date, primary_need, neglect, closure_date, closure_reason) first_by_content
    WHERE sound
),

cin_plans_rows AS NOT MATERIALIZED (
    SELECT c.plan_id, c.child_id, c.start_date, c.end_date, c.neglect,
           CASE WHEN c.plan_id IS NULL THEN 'null_key'
                WHEN c.child_id IS NULL THEN 'null_child_id' END AS key_fault,
           CASE WHEN c.start_date IS NULL THEN 'null_start_date'
                WHEN c.end_date < c.start_date THEN 'end_before_start'
                WHEN c.neglect IS NULL THEN 'null_neglect' END AS row_fault,
           c.plan_id IS NOT NULL AND c.child_id IS NOT NULL AS keyed,
           c.start_date IS NOT NULL AND (c.end_date IS NULL OR c.end_date >= c.start_date)
               AND c.neglect IS NOT NULL AS sound
    FROM @case@.cin_plans c
    WHERE ($2::text[] IS NULL OR c.child_id = ANY ($2::text[]))
),
cin_plans_checked AS NOT MATERIALIZED (
    SELECT r.*,
           coalesce(key_fault, CASE WHEN rank() OVER w > 1 THEN 'duplicate_key' END, row_fault) AS bad,
           NULL::text AS warn,
           row_number() OVER w > rank() OVER w AS copy
    FROM cin_plans_rows r
    WINDOW w AS (PARTITION BY child_id, plan_id ORDER BY start_date, end_date, neglect)
),
cin_plans_clean AS NOT MATERIALIZED (
    SELECT plan_id, child_id, start_date, end_date, neglect
    FROM (SELECT DISTINCT ON (child_id, plan_id) * FROM cin_plans_rows WHERE keyed
          ORDER BY child_id, plan_id, start_date, end_date, neglect) first_by_content
    WHERE sound
),

cp_plans_rows AS NOT MATERIALIZED (
    SELECT c.plan_id, c.child_id, c.start_date, c.end_date, c.initial_category, c.latest_category,
           c.chair_id,
           -- The category the plan is judged by: the latest, else the initial one.
           coalesce(c.latest_category, c.initial_category) AS category,
           CASE WHEN c.plan_id IS NULL THEN 'null_key'
                WHEN c.child_id IS NULL THEN 'null_child_id' END AS key_fault,
           CASE WHEN c.start_date IS NULL THEN 'null_start_date'
                WHEN c.end_date < c.start_date THEN 'end_before_start'
                WHEN c.initial_category IS NULL THEN 'null_category'
                -- Either code outside the list makes the plan's history untrustworthy.
                WHEN NOT (c.initial_category = ANY (known.categories))
                  OR NOT (coalesce(c.latest_category, c.initial_category) = ANY (known.categories))
                    THEN 'unknown_category' END AS row_fault,
           c.plan_id IS NOT NULL AND c.child_id IS NOT NULL AS keyed,
           c.start_date IS NOT NULL AND (c.end_date IS NULL OR c.end_date >= c.start_date)
               AND c.initial_category = ANY (known.categories)
               AND (c.latest_category IS NULL OR c.latest_category = ANY (known.categories)) AS sound,
           CASE WHEN c.chair_id IS NOT NULL AND chair.worker_id IS NULL THEN 'dangling_chair' END AS warn
    FROM @case@.cp_plans c
    CROSS JOIN (SELECT ARRAY['NEG', 'PHY', 'EMO', 'SAB', 'MUL'] || $4::text[] AS categories) known
    LEFT JOIN (SELECT DISTINCT worker_id FROM @case@.workers) chair ON chair.worker_id = c.chair_id
    WHERE ($2::text[] IS NULL OR c.child_id = ANY ($2::text[]))
),
cp_plans_checked AS NOT MATERIALIZED (
    SELECT r.plan_id, r.child_id, r.start_date, r.end_date, r.initial_category, r.latest_category,
           r.chair_id, r.category, r.key_fault, r.row_fault,
           coalesce(key_fault, CASE WHEN rank() OVER w > 1 THEN 'duplicate_key' END, row_fault) AS bad,
           r.warn,
           row_number() OVER w > rank() OVER w AS copy
    FROM cp_plans_rows r
    WINDOW w AS (PARTITION BY child_id, plan_id ORDER BY start_date, end_date, initial_category, latest_category, chair_id)
),
cp_plans_clean AS NOT MATERIALIZED (
    SELECT plan_id, child_id, start_date, end_date, initial_category, latest_category, chair_id, category
    FROM (SELECT DISTINCT ON (child_id, plan_id) * FROM cp_plans_rows WHERE keyed
          ORDER BY child_id, plan_id, start_date, end_date, initial_category, latest_category, chair_id) first_by_content
    WHERE sound
),

appointments_rows AS NOT MATERIALIZED (
    SELECT a.appointment_id, a.child_id, a.service, a.scheduled_for, a.outcome,
           CASE WHEN a.appointment_id IS NULL THEN 'null_key'
                WHEN a.child_id IS NULL THEN 'null_child_id' END AS key_fault,
           CASE WHEN a.scheduled_for IS NULL THEN 'null_scheduled_for'
                WHEN a.outcome IS NULL
                  OR a.outcome NOT IN ('attended', 'was_not_brought', 'cancelled_by_family',
                                       'cancelled_by_service', 'pending') THEN 'unknown_outcome'
           END AS row_fault,
           a.appointment_id IS NOT NULL AND a.child_id IS NOT NULL AS keyed,
           a.scheduled_for IS NOT NULL
               AND a.outcome IN ('attended', 'was_not_brought', 'cancelled_by_family',
                                 'cancelled_by_service', 'pending') AS sound
    FROM @case@.appointments a
    WHERE ($2::text[] IS NULL OR a.child_id = ANY ($2::text[]))
),
appointments_checked AS NOT MATERIALIZED (
    SELECT r.*,
           coalesce(key_fault, CASE WHEN rank() OVER w > 1 THEN 'duplicate_key' END, row_fault) AS bad,
           NULL::text AS warn,
           row_number() OVER w > rank() OVER w AS copy
    FROM appointments_rows r
    WINDOW w AS (PARTITION BY child_id, appointment_id ORDER BY service, scheduled_for, outcome)
),
appointments_clean AS NOT MATERIALIZED (
    SELECT appointment_id, child_id, service, scheduled_for, outcome
    FROM (SELECT DISTINCT ON (child_id, appointment_id) * FROM appointments_rows WHERE keyed
          ORDER BY child_id, appointment_id, service, scheduled_for, outcome) first_by_content
    WHERE sound
),

strategies_rows AS NOT MATERIALIZED (
    SELECT s.strategy_id, s.child_id, s.kind, s.decided_on, s.review_by,
           CASE WHEN s.strategy_id IS NULL THEN 'null_key'
                WHEN s.child_id IS NULL THEN 'null_child_id' END AS key_fault,
           CASE WHEN s.decided_on IS NULL THEN 'null_decided_on'
                WHEN s.review_by < s.decided_on THEN 'review_before_decided' END AS row_fault,
           s.strategy_id IS NOT NULL AND s.child_id IS NOT NULL AS keyed,
           s.decided_on IS NOT NULL AND (s.review_by IS NULL OR s.review_by >= s.decided_on) AS sound
    FROM @case@.strategies s
    WHERE ($2::text[] IS NULL OR s.child_id = ANY ($2::text[]))
),
strategies_checked AS NOT MATERIALIZED (
    SELECT r.*,
           coalesce(key_fault, CASE WHEN rank() OVER w > 1 THEN 'duplicate_key' END, row_fault) AS bad,
           NULL::text AS warn,
           row_number() OVER w > rank() OVER w AS copy
    FROM strategies_rows r
    WINDOW w AS (PARTITION BY child_id, strategy_id ORDER BY kind, decided_on, review_by)
),
strategies_clean AS NOT MATERIALIZED (
    SELECT strategy_id, child_id, kind, decided_on, review_by
    FROM (SELECT DISTINCT ON (child_id, strategy_id) * FROM strategies_rows WHERE keyed
          ORDER BY child_id, strategy_id, kind, decided_on, review_by) first_by_content
    WHERE sound
)
