-- rows_children: children_rows, every row of children with its faults (docs/internals.md).
-- Not a statement but one CTE of a WITH list: a file has the line `-- @include rows_children.sql`
-- after head.sql, with the commas around it (rule statements, and quality_children.sql).
children_rows AS NOT MATERIALIZED (
    SELECT c.child_id::text, c.family_id::text, c.date_of_birth, c.expected_dob, c.disability,
           CASE WHEN c.child_id IS NULL THEN 'null_key' END AS key_fault,
           NULL::text AS row_fault,
           c.child_id IS NOT NULL AS keyed,
           true AS sound
    FROM @case@.children c
    WHERE (:child_ids IS NULL OR c.child_id = ANY (:child_ids))
)
