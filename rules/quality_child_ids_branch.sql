-- quality_child_ids_branch: one branch of quality_child_ids.sql's q_ids: the hashed child ids of
-- one relation. eval.c puts in the relation (@relation@, a name of the contract, never
-- configuration) and its SRC (@src@), and joins the branches with UNION ALL; the parameters
-- are quality_child_ids.sql's own.
-- @include params.sql
    SELECT hashtextextended(child_id::text COLLATE "C", 0), @src@ FROM @case@.@relation@
    WHERE child_id IS NOT NULL AND (child_id::text COLLATE "C" >= '!' OR btrim(child_id::text) <> '')
      AND (:child_ids IS NULL OR child_id::text = ANY (:child_ids))
