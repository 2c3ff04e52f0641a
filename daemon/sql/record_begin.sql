-- record_begin: opens the recording of one evaluation (inside its transaction and advisory
-- lock) and names it: the alerts each rule yields are marked with this id. A day earlier than
-- the latest full evaluation recorded here is refused: recording it would lower and resolve
-- alerts that the later day raised, and announce them again the next day under new
-- idempotency keys (a clock stepped back, or --as-of a past day against the live state).
-- $1 date  T
-- $2 text  the scope: 'all', or how many children
WITH latest AS (
    SELECT max(as_of) AS day FROM @state@.evaluations WHERE scope = 'all'
),
checked AS (
    SELECT CASE WHEN l.day > $1::date THEN
                    @state@.refuse(format('refusing to record %s: this state schema holds an '
                        'evaluation of everyone on %s already (a past day needs --dry-run, or '
                        'another database.state_schema; a clock stepped back needs fixing)',
                        $1::date, l.day))
           END
      FROM latest l
)
INSERT INTO @state@.evaluations (as_of, scope, started_at)
SELECT $1::date, $2::text, now()
  FROM checked
RETURNING evaluation_id;
