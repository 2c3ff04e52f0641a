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
       (SELECT coalesce(jsonb_agg(rule ORDER BY rule), '[]') FROM recovered) AS recovered;
