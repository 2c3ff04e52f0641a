-- record_begin: opens the recording of one evaluation (inside its transaction and advisory
-- lock) and names it: the alerts each rule yields are marked with this id.
-- $1 date  T
-- $2 text  the scope: 'all', or how many children
INSERT INTO @state@.evaluations (as_of, scope, started_at)
VALUES ($1::date, $2::text, now())
RETURNING evaluation_id;
