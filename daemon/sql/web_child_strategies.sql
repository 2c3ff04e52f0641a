-- web_child_strategies: the decisions recorded for the child, for its chronology (RESPONSES.md,
-- "/child"), by the day they were agreed, identical copies once.
-- $1 text  the child
SELECT translate(coalesce(jsonb_agg(jsonb_build_object(
           'strategy_id', s.strategy_id, 'kind', s.kind, 'decided_on', s.decided_on,
           'review_by', s.review_by)
       ORDER BY s.decided_on NULLS LAST, s.strategy_id COLLATE "C"), '[]'::jsonb)::text, @shown@)
  FROM (SELECT DISTINCT strategy_id::text, kind::text, decided_on, review_by
          FROM @case@.strategies
         WHERE child_id::text = $1::text) s
