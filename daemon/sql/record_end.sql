-- record_end: closes the recording of one evaluation: its figures, and the health of each rule
-- that ran (a rule that starts failing, and one that recovers, is reported to the operators once).
-- $1 bigint  the evaluation
-- $2 bigint  children evaluated; $3 jsonb bad rows by kind (both NULL when not counted)
-- $4 int     alerts of the rules that ran to their end
-- $5 bigint  notices written by this evaluation
-- $6 jsonb   the rules that failed: {"rule": "why", ...}
-- $7 text[]  the rules that ran to their end
-- $8 text    the operators' address, or NULL
-- $9 text    the digest key of the reports
-- $10..$12   the slot where a person's email notice waits now (digest_slot.h): $10 text its
--            digest key, $11 timestamp its local wall clock, $12 text the zone; all NULL when
--            nothing waits (--once, email.digest_time null)
-- $13 boolean a whole evaluation: held notices are looked over then only (a slot changes with
--            the configuration, at a start or a reload, which a whole evaluation follows; an
--            incremental one must stay a few milliseconds)
WITH evaluation AS (
    UPDATE @state@.evaluations
       SET finished_at = clock_timestamp(), children = $2::bigint, bad_rows = $3::jsonb,
           alerts = $4::int, notices = $5::bigint
     WHERE evaluation_id = $1::bigint
    -- the reports' keys name the evaluation beyond this schema's sequence (state_v13.sql)
    RETURNING left(md5(started_at::text || ' ' || evaluation_id), 12) AS token
),
failed AS (
    SELECT key AS rule, value AS error FROM jsonb_each_text($6::jsonb)
),
was AS (
    SELECT h.* FROM @state@.rule_health h
     WHERE h.rule IN (SELECT rule FROM failed) OR h.rule = ANY($7::text[])
),
now_failing AS (
    INSERT INTO @state@.rule_health AS h (rule, failing_since, error, last_failed)
    SELECT rule, now(), error, now() FROM failed
    ON CONFLICT (rule) DO UPDATE SET error = EXCLUDED.error, last_failed = EXCLUDED.last_failed
    RETURNING h.rule, h.failing_since, h.error
),
recovered AS (
    DELETE FROM @state@.rule_health h
     WHERE h.rule = ANY($7::text[])
    RETURNING h.rule, h.failing_since, h.error
),
-- Notices held for a slot that is no longer the next one (email.digest_time or the calendar
-- changed, and the daemon restarted or reloaded) go to the slot new notices go to: a person gets
-- one digest, not one at the old time and one at the new (audit 10, F3). Those held for a day
-- before the new slot's day (the new time had passed on their day) go now, under their day and
-- the new time; with nothing held any more (email.digest_time null) every held one goes now.
-- Only never-tried ones: a digest being retried keeps its key and its Message-ID.
moved AS (
    UPDATE @state@.outbox o
       SET digest_key = m.digest_key, next_attempt_at = m.due, first_due_at = m.due
      FROM (SELECT h.notice_id,
                   CASE WHEN $10::text IS NULL THEN h.digest_key
                        WHEN substr(h.digest_key, 8, 10) < substr($10::text, 8, 10)
                        THEN 'digest ' || substr(h.digest_key, 8, 10) || substr($10::text, 18)
                        ELSE $10::text END AS digest_key,
                   CASE WHEN $10::text IS NULL
                          OR substr(h.digest_key, 8, 10) < substr($10::text, 8, 10) THEN now()
                        ELSE $11::timestamp AT TIME ZONE $12::text END AS due
              FROM @state@.outbox h
             WHERE $13::boolean AND h.channel = 'email' AND h.status = 'pending'
               AND h.attempts = 0
               AND h.next_attempt_at > now() AND h.digest_key LIKE 'digest %'
               AND h.digest_key IS DISTINCT FROM $10::text) m
     WHERE o.notice_id = m.notice_id
    RETURNING o.notice_id
),
-- A report reads like a notice (mail_compose.c): what happened, to which rule, and why.
reports AS (
    INSERT INTO @state@.outbox (idempotency_key, channel, destination, role, type, payload,
           digest_key)
    SELECT 'rule_' || f.rule || '_failing_' || $1::bigint
           || coalesce('_' || (SELECT token FROM evaluation), ''), 'email', $8::text, 'operators',
           'rule.failing',
           jsonb_build_object('rule', 'driftwatch', 'stage', 'rule_failing',
               'child_id', NULL, 'subject_id', f.rule,
               'summary', format('Rule %s has failed since %s: %s. The other rules go on; the '
                                 'alerts it raised before stay as they were until it runs again.',
                                 f.rule, to_char(f.failing_since, 'DD Mon YYYY HH24:MI TZ'),
                                 f.error),
               'facts', jsonb_build_object('rule', f.rule, 'error', f.error,
                                           'failing_since', f.failing_since)),
           $9::text
      FROM now_failing f
     WHERE $8::text IS NOT NULL AND f.rule NOT IN (SELECT rule FROM was)
    UNION ALL
    SELECT 'rule_' || r.rule || '_recovered_' || $1::bigint
           || coalesce('_' || (SELECT token FROM evaluation), ''), 'email', $8::text, 'operators',
           'rule.recovered',
           jsonb_build_object('rule', 'driftwatch', 'stage', 'rule_recovered',
               'child_id', NULL, 'subject_id', r.rule,
               'summary', format('Rule %s runs again. It had failed since %s: %s.', r.rule,
                                 to_char(r.failing_since, 'DD Mon YYYY HH24:MI TZ'), r.error),
               'facts', jsonb_build_object('rule', r.rule, 'failed_with', r.error,
                                           'failing_since', r.failing_since,
                                           'recovered_at', now())),
           $9::text
      FROM recovered r
     WHERE $8::text IS NOT NULL
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING notice_id
)
SELECT (SELECT count(*) FROM reports) AS reports,
       (SELECT coalesce(jsonb_agg(rule ORDER BY rule), '[]') FROM now_failing
         WHERE rule NOT IN (SELECT rule FROM was)) AS started_failing,
       (SELECT coalesce(jsonb_agg(rule ORDER BY rule), '[]') FROM recovered) AS recovered,
       (SELECT count(*) FROM moved) AS moved;
