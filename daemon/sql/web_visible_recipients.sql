-- web_visible_recipients: what web_visible.sql finds from the state alone, for when the case
-- data cannot be read: the alerts the person was sent notices of. Known means sent one.
-- $1 text  the person's email, lower case
WITH
-- @include web_visible_notice.sql
SELECT EXISTS (SELECT 1 FROM notice) AS known,
       (SELECT coalesce(array_agg(alert_id ORDER BY alert_id), '{}') FROM notice)::text
           AS alert_ids;
