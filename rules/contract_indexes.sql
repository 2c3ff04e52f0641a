-- Indexes an authority should have on the tables behind the contract relations. A full
-- evaluation needs none of them (it reads each relation in a few passes); they make the
-- evaluation of a few notified children read those children's rows only, and let
-- was_not_brought find its candidates by a range. Create them after a bulk load (faster than
-- maintaining them row by row). psql variable :schema as in contract.sql. docs/sql.md says
-- which statement uses which index and what to do when the relations are views;
-- daemon/contract.c keeps the same list for --check-config (keep the two alike).
\if :{?schema}
\else
\set schema casework
\endif
SET search_path = :"schema";

-- Staff, by key: the worker, supervisor, team and chair of a few children's alerts.
CREATE INDEX IF NOT EXISTS teams_team_id_idx             ON teams (team_id);
CREATE INDEX IF NOT EXISTS workers_worker_id_idx         ON workers (worker_id);
-- Every relation of a child by child_id: the whole of an evaluation of a few children (the
-- daemon's incremental evaluations). Only the first column is used.
CREATE INDEX IF NOT EXISTS children_child_id_idx         ON children (child_id);
CREATE INDEX IF NOT EXISTS allocations_child_start_idx   ON allocations (child_id, start_date);
CREATE INDEX IF NOT EXISTS referrals_child_date_idx      ON referrals (child_id, referral_date);
CREATE INDEX IF NOT EXISTS cin_plans_child_start_idx     ON cin_plans (child_id, start_date);
CREATE INDEX IF NOT EXISTS cp_plans_child_start_idx      ON cp_plans (child_id, start_date);
CREATE INDEX IF NOT EXISTS appointments_child_sched_idx  ON appointments (child_id, scheduled_for);
CREATE INDEX IF NOT EXISTS strategies_child_idx          ON strategies (child_id, decided_on);
-- A person's caseload by worker: the pages find the children allocated to the workers a person
-- supervises or manages (web_visible.sql) from it instead of reading every allocation.
CREATE INDEX IF NOT EXISTS allocations_worker_idx        ON allocations (worker_id);
-- was_not_brought over everyone: the appointments not brought to in the window (about 1.4% of
-- the appointments) by a range scan instead of reading the whole relation.
CREATE INDEX IF NOT EXISTS appointments_not_brought_idx  ON appointments (scheduled_for)
    WHERE outcome = 'was_not_brought';
ANALYZE teams, workers, children, allocations, referrals, cin_plans, cp_plans, appointments, strategies;
