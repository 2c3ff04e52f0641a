-- web_service_oldest (a fragment, after CTEs d (today) and a (firing alerts with their state,
-- web_alert_state.sql)): mine, the unanswered among them, and oldest, the 20 longest waiting,
-- the stage's day first. /service for everyone (web_service_body.sql) and for one person
-- (web_service_mine.sql) list them alike.
mine AS (
    SELECT a.* FROM a WHERE a.state = 'open'
),
oldest AS (
    SELECT m.alert_id, m.child_id, m.rule, m.stage, m.team_id, m.stage_since,
           d.today - m.stage_since AS days
      FROM mine m, d
     ORDER BY m.stage_since, m.alert_id
     LIMIT 20
)
