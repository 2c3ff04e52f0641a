-- web_visible_state: the alerts one person may see (RESPONSES.md, "Who is who"), from the state
-- alone given what web_visible.sql found in the case data: the alerts of the children that are
-- theirs, of the plans they chair, and those whose notices went to them. When the case data
-- cannot be read the lists are empty and known false: the person then sees only what they were
-- sent.
-- $1 text     the person's email, lower case
-- $2 text[]   the children whose alerts are theirs (web_visible.sql's child_ids)
-- $3 text[]   the children of the plans they chair ...
-- $4 text[]   ... and those plans, paired by position (plan_child_ids, plan_ids)
-- $5 boolean  the case data knows them (a worker or a team's manager)
-- Columns: known (that, or a recipient: anyone else sees nothing), alert_ids (bigint[] as
-- text).
WITH
-- @include web_visible_notice.sql
,
visible AS (
    SELECT a.alert_id
      FROM @state@.alerts a
     WHERE a.child_id = ANY ($2::text[])
    UNION
    SELECT a.alert_id
      FROM @state@.alerts a
      JOIN unnest($3::text[], $4::text[]) AS p(child_id, plan_id)
        ON a.child_id = p.child_id AND a.subject_id = p.plan_id
    UNION
    SELECT alert_id FROM notice
)
SELECT ($5::boolean OR EXISTS (SELECT 1 FROM notice)) AS known,
       (SELECT coalesce(array_agg(alert_id ORDER BY alert_id), '{}') FROM visible)::text
           AS alert_ids;
