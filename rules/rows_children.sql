-- rows_children: children_rows, every row of children with its faults (docs/internals.md).
-- Not a statement but one CTE of a WITH list: a file has the line `-- @include rows_children.sql`
-- after head.sql, with the commas around it (rule statements, and quality_children.sql).
children_rows AS NOT MATERIALIZED (
    -- Every text column of every rows_*.sql is read as text COLLATE "C" (docs/internals.md,
    -- "Bad rows"): a char(n)'s padding is no part of an id, and ids are compared, joined and
    -- ordered byte for byte whatever the column's collation (a case-insensitive one joined
    -- child k1 to child K1; a locale's order chose another tie's plan or referral).
    SELECT c.child_id::text COLLATE "C" AS child_id,
           -- the column as it is, for the lookup form's index probe (rules/embed_sql.sh)
           c.child_id AS child_id_raw,
           c.family_id::text COLLATE "C" AS family_id,
           -- @col:children:EXPR@: EXPR, or NULL where withheld and the statement does not
           -- decide on it (rows_teams.sql, daemon/case_columns.c)
           -- A birth date no calendar arithmetic can use (year 300000 is past a timestamp's
           -- range) is unknown: was_not_brought's "under one" added months to it and failed
           -- for every child (audit 15). quality_children.sql counts it.
           CASE WHEN @col:children:c.date_of_birth@ BETWEEN DATE '0001-01-01' AND DATE '9999-12-31'
                THEN @col:children:c.date_of_birth@ END AS date_of_birth,
           @col:children:c.date_of_birth@ IS NOT NULL
               AND NOT @col:children:c.date_of_birth@ BETWEEN DATE '0001-01-01' AND DATE '9999-12-31'
               AS unusable_dob,
           @col:children:c.expected_dob@ AS expected_dob,
           @col:children:c.disability@ AS disability,
           CASE WHEN c.child_id IS NULL THEN 'null_key'
                -- an id of spaces or nothing names no child (rows_referrals.sql)
                WHEN c.child_id::text COLLATE "C" < '!' AND btrim(c.child_id::text) = '' THEN 'blank_key' END AS key_fault,
           NULL::text AS row_fault,
           c.child_id IS NOT NULL AND (c.child_id::text COLLATE "C" >= '!' OR btrim(c.child_id::text) <> '') AS keyed,
           true AS sound
    FROM @case@.children c
    WHERE (:child_ids IS NULL OR c.child_id::text = ANY (:child_ids))
)
