-- web_service_body (a fragment, after a team_names(team_id, name) CTE): the figures of /service
-- as one JSON object:
--   today      the day, in the configured time zone
--   cells      open alerts by team, rule and stage: team_id (NULL: no team), team (its name, or
--              NULL), rule, stage, open (unanswered), acknowledged, snoozed
--   oldest     the 20 oldest unanswered alerts, the stage's day first: child_id, rule, stage,
--              team_id, team, since, days (web_service_mine.sql narrows it to one person's)
--   unanswered how many alerts are unanswered
--   record_wrong the 50 alerts snoozed because the case record is wrong whose snooze ends
--              first: child_id, rule, stage, team_id, team, until, by, note
--              (web_service_mine.sql narrows it to one person's too)
--   record_wrong_total how many alerts are snoozed so
-- The trend and the time to an answer, which move slowly, are web_service_answers.sql's.
-- Counts go to anyone driftwatch knows; only the list of alerts is narrowed to theirs. The same for
-- everyone, so web_service.c keeps it between requests while web_service_version.sql's answer
-- stays the same. Built as json, not jsonb: a cell per team, rule and stage is thousands of
-- objects at a large authority, and jsonb's parsing and key sorting cost a third of the statement
-- for nothing the page needs.
d AS (
    SELECT (now() AT TIME ZONE $1::text)::date AS today
),
a AS (
    SELECT a.alert_id, a.team_id, a.rule, a.stage, a.child_id, a.stage_since,
           a.snoozed_until, a.snooze_reason, a.snoozed_by, a.snooze_note,
-- @include web_alert_state.sql
      FROM @state@.alerts a, d
     WHERE a.status = 'firing'
),
cells AS (
    SELECT a.team_id, a.rule, a.stage,
           count(*) FILTER (WHERE a.state = 'open') AS open,
           count(*) FILTER (WHERE a.state = 'acknowledged') AS acknowledged,
           count(*) FILTER (WHERE a.state = 'snoozed') AS snoozed
      FROM a
     GROUP BY a.team_id, a.rule, a.stage
),
-- @include web_service_oldest.sql
,
-- @include web_service_record_wrong.sql
SELECT json_build_object(
    'today', d.today,
    'cells', (SELECT coalesce(json_agg(json_build_object(
                  'team_id', c.team_id, 'team', t.name, 'rule', c.rule, 'stage', c.stage,
                  'open', c.open, 'acknowledged', c.acknowledged, 'snoozed', c.snoozed)
                  ORDER BY c.team_id COLLATE "C" NULLS LAST, c.rule, c.stage), '[]')
                FROM cells c LEFT JOIN team_names t ON t.team_id = c.team_id),
    'oldest', (SELECT coalesce(json_agg(json_build_object(
                  'child_id', o.child_id, 'rule', o.rule, 'stage', o.stage,
                  'team_id', o.team_id, 'team', t.name, 'since', o.stage_since, 'days', o.days)
                  ORDER BY o.stage_since, o.alert_id), '[]')
                 FROM oldest o LEFT JOIN team_names t ON t.team_id = o.team_id),
    'unanswered', (SELECT count(*) FROM mine),
    'record_wrong', (SELECT coalesce(json_agg(json_build_object(
                  'child_id', w.child_id, 'rule', w.rule, 'stage', w.stage,
                  'team_id', w.team_id, 'team', t.name, 'until', w.snoozed_until,
                  'by', w.snoozed_by, 'note', w.snooze_note)
                  ORDER BY w.snoozed_until, w.alert_id), '[]')
                 FROM wrong w LEFT JOIN team_names t ON t.team_id = w.team_id),
    'record_wrong_total', (SELECT count(*) FROM wrong_all))::text
  FROM d;
