-- state_v5: each alert's team (RESPONSES.md, "The JSON API": team_id and the team filter).
-- Run once by the daemon's migration step inside a transaction; @state@ is the escaped name.

-- The team of the worker of the child's open allocation, as the latest evaluation of the alert
-- found it (record.sql sets it every time: a reallocation moves the alert to the new team);
-- NULL when the child had no open allocation, or its worker no team. The alerts already there
-- stay NULL until their next evaluation, which for every firing alert is the first one after
-- the upgrade: the state schema holds no copy of the case data to fill it from, and guessing
-- from the recipients would name a team the case data may not.
ALTER TABLE @state@.alerts ADD COLUMN team_id text;

-- The API's team filter and a team's page read a team's alerts without reading them all.
CREATE INDEX alerts_team_idx ON @state@.alerts (team_id);

INSERT INTO @state@.schema_version (version) VALUES (5);
