-- The contract as views over a case system of another shape (make bench's "views" layout, and
-- tests/integration/test_layouts.sh): copies the nine contract tables of schema :src into base
-- tables in schema :schema || '_cms', shaped as a case system keeps them, and creates the nine
-- contract relations as views over those in schema :schema. Every view returns exactly the rows
-- of its source table (duplicates, NULLs and bad rows included), so driftwatch must give the same
-- alerts and the same bad-row counts on both.
--
--   psql -v ON_ERROR_STOP=1 -v src=casework_load -v schema=casework -f bench/layout_views.sql
--
-- How the base tables differ from the contract, as real case systems do:
--   children      person (children and, filtered out, an adult of each household) joined on a
--                 surrogate key to person_status, whose disability flag is 'Y'/'N'
--   teams         org_units of type TEAM (other units filtered out)
--   workers       staff, roles as codes (SW, EHW, TM, CPC, CPM, HOS) mapped back by CASE
--   allocations   worker_episodes whose involvement is ALLOC (IRO and family support involvements
--                 filtered out)
--   referrals     referral_episodes, the neglect flag a smallint 1/0
--   cin_plans     plan_episodes of type CIN (early help plans filtered out)
--   cp_plans      UNION ALL of cp_plan_current (open plans, no end column) and cp_plan_archive
--   appointments  appointment_events: service as a code looked up in service_types, the time as
--                 a UTC timestamp without time zone, the outcome as a code mapped back by CASE
--   strategies    decisions
-- The base tables have the primary keys a case system has (surrogate ids) and no index for the
-- contract's child_id: that is the worst case an authority's views present.
\if :{?src}
\else
\echo 'layout_views.sql: set -v src=SCHEMA (the contract tables to copy)'
\quit
\endif
\if :{?schema}
\else
\set schema casework
\endif
\set base :schema '_cms'
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS :"schema" CASCADE;
DROP SCHEMA IF EXISTS :"base" CASCADE;
CREATE SCHEMA :"schema";
CREATE SCHEMA :"base";
BEGIN;
SET LOCAL search_path = :"base";

CREATE TABLE org_units (
    unit_id         bigint GENERATED ALWAYS AS IDENTITY,
    unit_code       text,
    unit_type       text NOT NULL,
    unit_name       text,
    manager_mailbox text,
    channel_url     text
);
INSERT INTO org_units (unit_code, unit_type, unit_name, manager_mailbox, channel_url)
SELECT team_id, 'TEAM', name, manager_email, webhook_url FROM :"src".teams;
INSERT INTO org_units (unit_code, unit_type, unit_name)
SELECT 'SVC-' || g, 'SERVICE', 'Service area ' || g
FROM generate_series(1, greatest(1, (SELECT count(*) FROM :"src".teams) / 10)) g;

CREATE TABLE staff (
    staff_id          bigint GENERATED ALWAYS AS IDENTITY,
    staff_code        text,
    full_name         text,
    mail              text,
    unit_code         text,
    line_manager_code text,
    job_role          text
);
INSERT INTO staff (staff_code, full_name, mail, unit_code, line_manager_code, job_role)
SELECT worker_id, display_name, email, team_id, supervisor_id,
       CASE role WHEN 'social_worker' THEN 'SW' WHEN 'early_help' THEN 'EHW'
                 WHEN 'team_manager' THEN 'TM' WHEN 'cp_chair' THEN 'CPC'
                 WHEN 'cp_manager' THEN 'CPM' WHEN 'head_of_service' THEN 'HOS' ELSE role END
FROM :"src".workers;

CREATE TABLE person (
    person_id     bigint NOT NULL,
    person_type   text NOT NULL,
    person_ref    text,
    household_ref text,
    birth_date    date,
    due_date      date
);
CREATE TABLE person_status (
    person_id  bigint NOT NULL,
    disabled   char(1),
    updated_on date NOT NULL DEFAULT DATE '2020-01-01'
);
-- Each child row gets its surrogate person_id once, so that its person and status rows match
-- whatever order a scan returns (duplicate child rows stay two persons, as in the source).
CREATE TEMP TABLE src_children ON COMMIT DROP AS
SELECT row_number() OVER () AS n, c.* FROM :"src".children c;
INSERT INTO person (person_id, person_type, person_ref, household_ref, birth_date, due_date)
SELECT n, 'CHILD', child_id, family_id, date_of_birth, expected_dob FROM src_children;
INSERT INTO person_status (person_id, disabled)
SELECT n, CASE disability WHEN true THEN 'Y' WHEN false THEN 'N' END FROM src_children;
-- the households' adults, in the same relation (the view filters them out)
INSERT INTO person (person_id, person_type, person_ref, household_ref, birth_date)
SELECT (SELECT coalesce(max(n), 0) FROM src_children) + row_number() OVER (ORDER BY family_id),
       'ADULT', 'A-' || family_id, family_id, DATE '1985-01-01' + (abs(hashtext(family_id)) % 5000)
FROM (SELECT DISTINCT family_id FROM src_children WHERE family_id IS NOT NULL) f;
INSERT INTO person_status (person_id, disabled)
SELECT person_id, 'N' FROM person WHERE person_type = 'ADULT';

CREATE TABLE worker_episodes (
    episode_id  bigint GENERATED ALWAYS AS IDENTITY,
    episode_ref text,
    person_ref  text,
    worker_ref  text,
    involvement text NOT NULL,
    started     date,
    ended       date
);
INSERT INTO worker_episodes (episode_ref, person_ref, worker_ref, involvement, started, ended)
SELECT allocation_id, child_id, worker_id, 'ALLOC', start_date, end_date FROM :"src".allocations;
INSERT INTO worker_episodes (episode_ref, person_ref, worker_ref, involvement, started, ended)
SELECT 'INV-' || allocation_id, child_id, worker_id,
       CASE WHEN abs(hashtext(allocation_id)) % 2 = 0 THEN 'IRO' ELSE 'FAMILY_SUPPORT' END,
       start_date, end_date
FROM :"src".allocations WHERE abs(hashtext(allocation_id)) % 3 = 0;

CREATE TABLE referral_episodes (
    referral_row bigint GENERATED ALWAYS AS IDENTITY,
    referral_ref text,
    person_ref   text,
    received     date,
    need_code    text,
    neglect_flag smallint,
    closed       date,
    closure_code text
);
INSERT INTO referral_episodes (referral_ref, person_ref, received, need_code, neglect_flag, closed, closure_code)
SELECT referral_id, child_id, referral_date, primary_need,
       CASE neglect WHEN true THEN 1 WHEN false THEN 0 END, closure_date, closure_reason
FROM :"src".referrals;

CREATE TABLE plan_episodes (
    plan_row     bigint GENERATED ALWAYS AS IDENTITY,
    plan_ref     text,
    person_ref   text,
    plan_type    text NOT NULL,
    started      date,
    ended        date,
    neglect_flag smallint
);
INSERT INTO plan_episodes (plan_ref, person_ref, plan_type, started, ended, neglect_flag)
SELECT plan_id, child_id, 'CIN', start_date, end_date, CASE neglect WHEN true THEN 1 WHEN false THEN 0 END
FROM :"src".cin_plans;
INSERT INTO plan_episodes (plan_ref, person_ref, plan_type, started, ended, neglect_flag)
SELECT 'EHP-' || allocation_id, child_id, 'EARLY_HELP', start_date, end_date, 0
FROM :"src".allocations WHERE abs(hashtext(allocation_id)) % 5 = 1;

CREATE TABLE cp_plan_current (
    cp_row           bigint GENERATED ALWAYS AS IDENTITY,
    plan_ref         text,
    person_ref       text,
    started          date,
    initial_cat      text,
    latest_cat       text,
    chair_ref        text
);
CREATE TABLE cp_plan_archive (
    cp_row           bigint GENERATED ALWAYS AS IDENTITY,
    plan_ref         text,
    person_ref       text,
    started          date,
    ended            date NOT NULL,
    initial_cat      text,
    latest_cat       text,
    chair_ref        text
);
INSERT INTO cp_plan_current (plan_ref, person_ref, started, initial_cat, latest_cat, chair_ref)
SELECT plan_id, child_id, start_date, initial_category, latest_category, chair_id
FROM :"src".cp_plans WHERE end_date IS NULL;
INSERT INTO cp_plan_archive (plan_ref, person_ref, started, ended, initial_cat, latest_cat, chair_ref)
SELECT plan_id, child_id, start_date, end_date, initial_category, latest_category, chair_id
FROM :"src".cp_plans WHERE end_date IS NOT NULL;

CREATE TABLE service_types (
    code text NOT NULL,
    name text NOT NULL
);
INSERT INTO service_types VALUES ('HV', 'health_visiting'), ('GP', 'gp'), ('DEN', 'dental'),
    ('PAED', 'paediatrics'), ('HOSP', 'hospital'), ('CAMHS', 'camhs');
CREATE TABLE appointment_events (
    event_id     bigint GENERATED ALWAYS AS IDENTITY,
    event_ref    text,
    person_ref   text,
    service_code text,
    due_at_utc   timestamp without time zone,
    outcome_code text
);
INSERT INTO appointment_events (event_ref, person_ref, service_code, due_at_utc, outcome_code)
SELECT appointment_id, child_id, coalesce(s.code, a.service), a.scheduled_for AT TIME ZONE 'UTC',
       CASE a.outcome WHEN 'attended' THEN 'AT' WHEN 'was_not_brought' THEN 'WNB'
                      WHEN 'cancelled_by_family' THEN 'CF' WHEN 'cancelled_by_service' THEN 'CS'
                      WHEN 'pending' THEN 'PD' ELSE a.outcome END
FROM :"src".appointments a LEFT JOIN service_types s ON s.name = a.service;

CREATE TABLE decisions (
    decision_id   bigint GENERATED ALWAYS AS IDENTITY,
    decision_ref  text,
    person_ref    text,
    decision_type text,
    agreed        date,
    review_due    date
);
INSERT INTO decisions (decision_ref, person_ref, decision_type, agreed, review_due)
SELECT strategy_id, child_id, kind, decided_on, review_by FROM :"src".strategies;

-- the keys a case system has
ALTER TABLE org_units ADD PRIMARY KEY (unit_id);
ALTER TABLE staff ADD PRIMARY KEY (staff_id);
ALTER TABLE person ADD PRIMARY KEY (person_id);
ALTER TABLE person_status ADD PRIMARY KEY (person_id);
ALTER TABLE worker_episodes ADD PRIMARY KEY (episode_id);
ALTER TABLE referral_episodes ADD PRIMARY KEY (referral_row);
ALTER TABLE plan_episodes ADD PRIMARY KEY (plan_row);
ALTER TABLE cp_plan_current ADD PRIMARY KEY (cp_row);
ALTER TABLE cp_plan_archive ADD PRIMARY KEY (cp_row);
ALTER TABLE service_types ADD PRIMARY KEY (code);
ALTER TABLE appointment_events ADD PRIMARY KEY (event_id);
ALTER TABLE decisions ADD PRIMARY KEY (decision_id);

-- the contract
SET LOCAL search_path = :"schema";
CREATE VIEW teams AS
SELECT u.unit_code AS team_id, u.unit_name AS name, u.manager_mailbox AS manager_email,
       u.channel_url AS webhook_url
FROM :"base".org_units u WHERE u.unit_type = 'TEAM';

CREATE VIEW workers AS
SELECT s.staff_code AS worker_id, s.full_name AS display_name, s.mail AS email,
       s.unit_code AS team_id, s.line_manager_code AS supervisor_id,
       CASE s.job_role WHEN 'SW' THEN 'social_worker' WHEN 'EHW' THEN 'early_help'
                       WHEN 'TM' THEN 'team_manager' WHEN 'CPC' THEN 'cp_chair'
                       WHEN 'CPM' THEN 'cp_manager' WHEN 'HOS' THEN 'head_of_service'
                       ELSE s.job_role END AS role
FROM :"base".staff s;

CREATE VIEW children AS
SELECT p.person_ref AS child_id, p.household_ref AS family_id, p.birth_date AS date_of_birth,
       p.due_date AS expected_dob,
       CASE st.disabled WHEN 'Y' THEN true WHEN 'N' THEN false END AS disability
FROM :"base".person p
JOIN :"base".person_status st ON st.person_id = p.person_id
WHERE p.person_type = 'CHILD';

CREATE VIEW allocations AS
SELECT e.episode_ref AS allocation_id, e.person_ref AS child_id, e.worker_ref AS worker_id,
       e.started AS start_date, e.ended AS end_date
FROM :"base".worker_episodes e WHERE e.involvement = 'ALLOC';

CREATE VIEW referrals AS
SELECT r.referral_ref AS referral_id, r.person_ref AS child_id, r.received AS referral_date,
       r.need_code AS primary_need,
       CASE r.neglect_flag WHEN 1 THEN true WHEN 0 THEN false END AS neglect,
       r.closed AS closure_date, r.closure_code AS closure_reason
FROM :"base".referral_episodes r;

CREATE VIEW cin_plans AS
SELECT p.plan_ref AS plan_id, p.person_ref AS child_id, p.started AS start_date,
       p.ended AS end_date, CASE p.neglect_flag WHEN 1 THEN true WHEN 0 THEN false END AS neglect
FROM :"base".plan_episodes p WHERE p.plan_type = 'CIN';

CREATE VIEW cp_plans AS
SELECT c.plan_ref AS plan_id, c.person_ref AS child_id, c.started AS start_date,
       NULL::date AS end_date, c.initial_cat AS initial_category, c.latest_cat AS latest_category,
       c.chair_ref AS chair_id
FROM :"base".cp_plan_current c
UNION ALL
SELECT a.plan_ref, a.person_ref, a.started, a.ended, a.initial_cat, a.latest_cat, a.chair_ref
FROM :"base".cp_plan_archive a;

CREATE VIEW appointments AS
SELECT e.event_ref AS appointment_id, e.person_ref AS child_id,
       coalesce(t.name, e.service_code) AS service,
       e.due_at_utc AT TIME ZONE 'UTC' AS scheduled_for,
       CASE e.outcome_code WHEN 'AT' THEN 'attended' WHEN 'WNB' THEN 'was_not_brought'
                           WHEN 'CF' THEN 'cancelled_by_family' WHEN 'CS' THEN 'cancelled_by_service'
                           WHEN 'PD' THEN 'pending' ELSE e.outcome_code END AS outcome
FROM :"base".appointment_events e
LEFT JOIN :"base".service_types t ON t.code = e.service_code;

CREATE VIEW strategies AS
SELECT d.decision_ref AS strategy_id, d.person_ref AS child_id, d.decision_type AS kind,
       d.agreed AS decided_on, d.review_due AS review_by
FROM :"base".decisions d;
COMMIT;

ANALYZE :"base".org_units, :"base".staff, :"base".person, :"base".person_status,
    :"base".worker_episodes, :"base".referral_episodes, :"base".plan_episodes,
    :"base".cp_plan_current, :"base".cp_plan_archive, :"base".service_types,
    :"base".appointment_events, :"base".decisions;
