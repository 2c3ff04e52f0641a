-- web_child_plans: one child's CIN or CP plans for its chronology (RESPONSES.md, "/child"), each
-- with whether it counts for neglect and, if it does, its episode (RULES.md, "Episodes": a plan
-- starting more than merge_gap_days after every earlier such plan ended opens a new one). Every
-- row is listed, identical copies once; a row with no start or an end before its start is shown
-- with sound false and takes no part in the episodes. One row: a JSON array, by start.
-- web_child.c runs it for cin_plans and for cp_plans: @plans@ is the relation, @category@ the
-- category (NULL for cin_plans), @neglect@ the plan's "for neglect" and @chair@ its chair_id
-- (NULL for cin_plans): fixed expressions of web_child.c, never configuration.
-- $1 text    the child
-- $2 int     merge_gap_days of the rule that reads these plans
-- $3 text[]  the CP categories that count as neglect
WITH rows AS (
    SELECT DISTINCT p.plan_id::text, p.start_date, p.end_date, (@category@)::text AS category,
           @neglect@ AS for_neglect, (@chair@)::text AS chair_id,
           p.start_date IS NOT NULL AND p.start_date >= DATE '0001-01-01'
               AND p.start_date < DATE '10000-01-01'
               AND (p.end_date IS NULL OR p.end_date >= p.start_date) AS sound
      FROM @case@.@plans@ p
     WHERE p.child_id::text = $1::text
),
ends AS (
    SELECT r.*,
           -- an end past 9999 is no end, as in the rules (rules/rows_cin_plans.sql)
           max(CASE WHEN r.end_date IS NULL OR r.end_date >= DATE '10000-01-01' THEN 'infinity'
                    ELSE r.end_date END) OVER (
               ORDER BY r.start_date, r.plan_id COLLATE "C"
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS latest_end_before
      FROM rows r
     WHERE r.sound AND r.for_neglect
),
episodes AS (
    SELECT e.plan_id, e.start_date, e.end_date,
           count(*) FILTER (WHERE e.latest_end_before IS NULL
                               OR e.start_date > e.latest_end_before + $2::int) OVER (
               ORDER BY e.start_date, e.plan_id COLLATE "C" ROWS UNBOUNDED PRECEDING) AS episode
      FROM ends e
)
SELECT translate(coalesce(jsonb_agg(jsonb_build_object(
           'plan_id', r.plan_id, 'start_date', r.start_date, 'end_date', r.end_date,
           'category', r.category, 'for_neglect', coalesce(r.for_neglect, false),
           'chair_id', r.chair_id, 'sound', r.sound, 'episode', e.episode)
       ORDER BY r.start_date NULLS LAST, r.plan_id COLLATE "C"), '[]'::jsonb)::text, @shown@)
  FROM rows r
  LEFT JOIN episodes e ON e.plan_id IS NOT DISTINCT FROM r.plan_id
                      AND e.start_date = r.start_date
                      AND e.end_date IS NOT DISTINCT FROM r.end_date
