-- tail_rows: the relations alert_rows.sql reads for every rule (teams, workers, children,
-- allocations), as the CTEs X_rows (rows_X.sql: every row of the evaluated children, with its
-- faults; docs/internals.md). Not a statement but CTEs of a WITH list: a rule includes it right
-- after head.sql, with the commas around it. A rule includes the other relations it reads itself,
-- so that a relation it does not read (missing, a column gone, not granted) cannot fail it.
-- @include rows_teams.sql
,
-- @include rows_workers.sql
,
-- @include rows_children.sql
,
-- @include rows_allocations.sql
