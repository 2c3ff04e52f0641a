-- The case-data contract (../shared/spec/CONTRACT.md) as tables, for the demo, the tests and
-- the benchmark. A real authority maps its own system onto these relations with views; the
-- indexes at the end are the ones it should add to the tables behind those views.
-- psql variable :schema names the schema (default casework).
\if :{?schema}
\else
\set schema casework
\endif

CREATE SCHEMA IF NOT EXISTS :"schema";
SET search_path = :"schema";

-- No primary keys or foreign keys on purpose: views over real systems have neither, and the
-- tests load duplicate keys and dangling identifiers that driftwatch must survive.
CREATE TABLE teams (
    team_id       text,
    name          text,
    manager_email text,
    webhook_url   text
);

CREATE TABLE workers (
    worker_id     text,
    display_name  text,
    email         text,
    team_id       text,
    supervisor_id text,
    role          text
);

CREATE TABLE children (
    child_id      text,
    family_id     text,
    date_of_birth date,
    expected_dob  date,
    disability    boolean
);

CREATE TABLE allocations (
    allocation_id text,
    child_id      text,
    worker_id     text,
    start_date    date,
    end_date      date
);

CREATE TABLE referrals (
    referral_id    text,
    child_id       text,
    referral_date  date,
    primary_need   text,
    neglect        boolean,
    closure_date   date,
    closure_reason text
);

CREATE TABLE cin_plans (
    plan_id    text,
    child_id   text,
    start_date date,
    end_date   date,
    neglect    boolean
);

CREATE TABLE cp_plans (
    plan_id          text,
    child_id         text,
    start_date       date,
    end_date         date,
    initial_category text,
    latest_category  text,
    chair_id         text
);

CREATE TABLE appointments (
    appointment_id text,
    child_id       text,
    service        text,
    scheduled_for  timestamptz,
    outcome        text
);

CREATE TABLE strategies (
    strategy_id text,
    child_id    text,
    kind        text,
    decided_on  date,
    review_by   date
);
