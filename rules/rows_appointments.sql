-- rows_appointments: appointments_rows, every row of appointments with its faults (docs/internals.md).
-- Not a statement but one CTE of a WITH list: a file has the line `-- @include rows_appointments.sql`
-- after head.sql, with the commas around it (rule statements, and quality_appointments.sql).
appointments_rows AS NOT MATERIALIZED (
    SELECT a.appointment_id::text COLLATE "C" AS appointment_id,
           a.child_id::text COLLATE "C" AS child_id,
           -- the column as it is, for the lookup form's index probe (rules/embed_sql.sh)
           a.child_id AS child_id_raw,
           a.service::text COLLATE "C" AS service,
           a.scheduled_for,
           a.outcome::text COLLATE "C" AS outcome,
           CASE WHEN a.appointment_id IS NULL THEN 'null_key'
                WHEN a.child_id IS NULL THEN 'null_child_id'
                -- an id of spaces or nothing names no child: its link would end in /person/ (a
                -- function call a row cost as much as the scan: btrim only below '!')
                WHEN a.child_id::text COLLATE "C" < '!' AND btrim(a.child_id::text) = '' THEN 'blank_child_id' END AS key_fault,
           CASE WHEN a.scheduled_for IS NULL THEN 'null_scheduled_for'
                WHEN NOT isfinite(a.scheduled_for) THEN 'infinite_scheduled_for'
                WHEN NOT (a.scheduled_for >= DATE '0001-01-01'
                          AND a.scheduled_for < DATE '10000-01-01')
                    THEN 'unusable_scheduled_for'
                WHEN a.outcome IS NULL
                  OR a.outcome::text COLLATE "C" NOT IN ('attended', 'was_not_brought',
                                                         'cancelled_by_family',
                                                         'cancelled_by_service', 'pending')
                    THEN 'unknown_outcome'
           END AS row_fault,
           a.appointment_id IS NOT NULL AND a.child_id IS NOT NULL
               AND (a.child_id::text COLLATE "C" >= '!' OR btrim(a.child_id::text) <> '') AS keyed,
           a.scheduled_for IS NOT NULL AND isfinite(a.scheduled_for)
               AND a.scheduled_for >= DATE '0001-01-01' AND a.scheduled_for < DATE '10000-01-01'
               AND a.outcome::text COLLATE "C" IN ('attended', 'was_not_brought',
                                                   'cancelled_by_family', 'cancelled_by_service',
                                                   'pending') AS sound
    FROM @case@.appointments a
    WHERE (:child_ids IS NULL OR a.child_id::text = ANY (:child_ids))
)
