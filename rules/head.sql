-- head: opens every statement's WITH list: the parameters, named with their types so a
-- statement that does not use one still prepares. Not a statement (rules/embed_sql.sh).
WITH p AS (
    SELECT $1::date AS t, $2::text[] AS child_ids, $3::text AS time_zone,
           $4::text[] AS neglect_categories, $5::jsonb AS options, $6::text AS rule
)
