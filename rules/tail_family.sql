-- tail_family: each hit's family, the first children row by content (ties as children_rows settles them).
-- Not a statement: a rule file includes it (`-- @include tail_family.sql`) after its hits,
-- unless it settles its hits' children rows itself and defines tail_family (child_id,
-- family_id) from them, as was_not_brought does. alert_rows.sql reads it.
tail_family AS (
    SELECT DISTINCT ON (child_id COLLATE "C") child_id, family_id
    FROM children_rows
    WHERE keyed AND child_id IN (SELECT child_id FROM hits)  -- @lookup children
    ORDER BY child_id COLLATE "C", family_id, date_of_birth, expected_dob, disability
)
