-- head: opens every statement's WITH list with the parameters CTE p, which names each
-- parameter with its type so that a statement that does not use one still prepares. Not a
-- statement (rules/embed_sql.sh): the including file goes on with ", next_cte AS (...)".
-- @include params.sql
WITH p AS (
    SELECT :as_of AS t, :child_ids AS child_ids, :time_zone AS time_zone,
           :neglect_categories AS neglect_categories, :options AS options, :rule AS rule
)
