-- The case data the Standard Safeguarding Dataset (SSD) does not hold, as small local tables the
-- contract views (ssd_contract_views.sql) read: workers' emails and line managers, teams'
-- manager emails, CP chairs, health appointments and strategies. Each is loaded from a CSV
-- export (README.md, "Running on the SSD", has the \copy lines). Empty tables are valid: the
-- views then carry NULL emails and supervisors, no chairs, no appointments and no strategies,
-- and the rules that need them are blind (README says which).
-- psql variable :local_schema names the schema (default local). Idempotent: safe to rerun.
\if :{?local_schema}
\else
\set local_schema local
\endif

CREATE SCHEMA IF NOT EXISTS :"local_schema";

-- One row per member of staff, from an HR or directory export. The SSD names a worker two ways:
-- prof_professional_id (the case system's worker id, which ssd_involvements uses) and
-- prof_staff_id (the HR staff number; not every professional has one). The export is keyed by
-- staff_id; professional_id is needed only where the staff number is missing from
-- ssd_professionals or a manager has no SSD row at all. supervisor_staff_id is the line
-- manager's staff_id. role is one of the contract's (social_worker, early_help, team_manager,
-- cp_chair, cp_manager, head_of_service) or a local one; NULL means social_worker.
CREATE TABLE IF NOT EXISTS :"local_schema".workers (
    staff_id            text,
    professional_id     text,
    display_name        text,
    email               text,
    team_id             text,
    supervisor_staff_id text,
    role                text
);

-- Teams' manager emails and channels. team_id as in ssd_department.dept_team_id.
CREATE TABLE IF NOT EXISTS :"local_schema".teams (
    team_id       text,
    name          text,
    manager_email text,
    webhook_url   text
);

-- The chair responsible for each CP plan (the SSD has none). plan_id is
-- ssd_cp_plans.cppl_cp_plan_id; chair_staff_id a staff_id as in workers above.
CREATE TABLE IF NOT EXISTS :"local_schema".cp_chairs (
    plan_id        text,
    chair_staff_id text
);

-- Appointments from a health feed, in the contract's own shape (CONTRACT.md, appointments);
-- child_id is the SSD's pers_person_id.
CREATE TABLE IF NOT EXISTS :"local_schema".appointments (
    appointment_id text,
    child_id       text,
    service        text,
    scheduled_for  timestamptz,
    outcome        text
);

-- Strategies as CP chairs record them, in the contract's own shape (CONTRACT.md, strategies).
CREATE TABLE IF NOT EXISTS :"local_schema".strategies (
    strategy_id text,
    child_id    text,
    kind        text,
    decided_on  date,
    review_by   date
);
