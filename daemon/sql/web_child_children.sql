-- web_child_children: the child's own row for its chronology (RESPONSES.md, "/child"), the first
-- by content when there are several (as the rules settle them); JSON null when there is none.
-- $1 text  the child
-- The columns a grant may withhold (daemon/case_columns.c) are read through
-- @col:RELATION:EXPR@: NULL where the role may not SELECT them, so the page answers without.
SELECT translate(coalesce((
    SELECT jsonb_build_object('family_id', c.family_id::text, 'date_of_birth', c.date_of_birth,
                              'expected_dob', c.expected_dob, 'disability', c.disability)
      FROM (SELECT c.child_id, c.family_id, @col:children:c.date_of_birth@ AS date_of_birth,
                   @col:children:c.expected_dob@ AS expected_dob,
                   @col:children:c.disability@ AS disability
              FROM @case@.children c) c
     WHERE c.child_id::text = $1::text
     ORDER BY c.family_id, c.date_of_birth, c.expected_dob, c.disability
     LIMIT 1), 'null'::jsonb)::text, @shown@)
