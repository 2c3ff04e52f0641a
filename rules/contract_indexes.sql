-- Indexes an authority should have on the tables behind the contract relations. Create them
-- after a bulk load (faster than maintaining them row by row). psql variable :schema as in
-- contract.sql. Every rule reads its relation by child_id, and the per-child lookups that
-- resolve recipients read workers and teams by key.
\if :{?schema}
\else
\set schema casework
\endif
SET search_path = :"schema";

CREATE INDEX IF NOT EXISTS teams_team_id_idx             ON teams (team_id);
CREATE INDEX IF NOT EXISTS workers_worker_id_idx         ON workers (worker_id);
CREATE INDEX IF NOT EXISTS children_child_id_idx         ON children (child_id);
CREATE INDEX IF NOT EXISTS allocations_child_start_idx   ON allocations (child_id, start_date);
CREATE INDEX IF NOT EXISTS referrals_child_date_idx      ON referrals (child_id, referral_date);
CREATE INDEX IF NOT EXISTS cin_plans_child_start_idx     ON cin_plans (child_id, start_date);
CREATE INDEX IF NOT EXISTS cp_plans_child_start_idx      ON cp_plans (child_id, start_date);
CREATE INDEX IF NOT EXISTS appointments_child_sched_idx  ON appointments (child_id, scheduled_for);
CREATE INDEX IF NOT EXISTS strategies_child_idx          ON strategies (child_id, decided_on);
ANALYZE teams, workers, children, allocations, referrals, cin_plans, cp_plans, appointments, strategies;
