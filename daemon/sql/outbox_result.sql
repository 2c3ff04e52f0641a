-- outbox_result: records what happened to delivered, retried and failed notices, with each
-- attempt kept; a notice that ran out of time is failed and reported to the operators. A result
-- counts only for the claim it came from (attempts as claimed): a deliverer whose lease ran out
-- and whose notice another has claimed since leaves that one's claim alone. A released notice
-- was never sent: it is due again at once, and its claim is not counted as an attempt.
-- $1 jsonb [{notice_id, attempts, outcome: delivered|retry|failed|refused|gone|released, detail,
--           delay_s, duration_ms, shown}]: shown is the destination as a report may name it (a
--           webhook URL without its credentials, as url_redact shows it; absent: as it is)
-- $2 int   the retry horizon in seconds (delivery.max_age_hours): a notice first due longer ago
--          than this is not retried again; counted from first_due_at, not created_at, so that a
--          digest held for its slot is not failed for the days it waited (state_v7.sql)
-- $3 text  the operators' address, or NULL
-- $4 text  the digest key of the reports being made: those waiting together go in one email,
--          and a resend after a crash holds the same reports, so it keeps its Message-ID
-- $5 int   seconds a report waits for the others of its incident (delivery.report_wait_seconds;
--          0: due at once, as under --once, where reports wait for the next run anyway)
-- $6 text  the fallback address (addresses.fallback), or NULL: an alert's email notice whose
--          recipient the mail server refused for good (outcome refused: 5.1.x, 5.2.x, a bare
--          5xx to RCPT) is failed and reported as any other, and sent on to it as a notice of
--          its own (RULES.md: "nobody is ever silently dropped"); never one to the fallback
--          itself, nor a report, so a refused fallback is reported and goes no further
WITH r AS (
    SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(notice_id bigint, attempts int,
           outcome text, detail text, delay_s int, duration_ms int, shown text)
),
fb AS (
    SELECT nullif(lower($6::text), '') AS address
),
upd AS (
    UPDATE @state@.outbox o
       SET status = CASE
               WHEN r.outcome = 'delivered' THEN 'delivered'
               WHEN r.outcome = 'released' THEN 'pending'
               WHEN r.outcome = 'retry' AND o.first_due_at + make_interval(secs => $2::int)
                    > now() + make_interval(secs => coalesce(r.delay_s, 0)) THEN 'pending'
               ELSE 'failed' END,
           attempts = CASE WHEN r.outcome = 'released' THEN o.attempts - 1 ELSE o.attempts END,
           delivered_at = CASE WHEN r.outcome = 'delivered' THEN now() END,
           next_attempt_at = now() + make_interval(secs => coalesce(r.delay_s, 0)),
           lease_until = NULL,
           last_error = CASE WHEN r.outcome = 'delivered' THEN NULL
                             WHEN r.outcome = 'released' THEN o.last_error
                             -- the same test as RETURNING's rerouted, below
                             WHEN r.outcome = 'refused' AND o.channel = 'email'
                                  AND o.type LIKE 'alert.%' AND fb.address <> o.destination
                             THEN r.detail || '; sent on to the fallback address ' || fb.address
                             ELSE r.detail END
      FROM r CROSS JOIN fb
     WHERE o.notice_id = r.notice_id AND o.status = 'delivering'
       AND o.attempts = coalesce(r.attempts, o.attempts)
    -- r's own columns come back with each row: gone and reports need no join of upd to r,
    -- which the planner, taking both for a few rows, made a nested loop: 48,517 results of one
    -- refused digest ran for minutes, every other delivery waiting behind them
    RETURNING o.notice_id, o.status, o.channel, o.destination, o.type, o.payload, o.last_error,
              o.idempotency_key, r.outcome, r.shown, r.detail, o.event_id, o.alert_id, o.role,
              o.digest_key, o.notice, o.first_due_at,
              coalesce(r.outcome = 'refused' AND o.channel = 'email' AND o.type LIKE 'alert.%'
                       AND fb.address <> o.destination, false) AS rerouted
),
-- The copy to the fallback keeps the notice's digest key, so it joins the fallback's own
-- notices of that evaluation when they have not gone yet, and its words say whose it was. It is
-- due when the refused one first was: a --once pass claims only what was due when it began, and
-- sends it in the same run.
rerouted AS (
    INSERT INTO @state@.outbox (idempotency_key, event_id, alert_id, channel, destination, role,
           type, payload, digest_key, notice, next_attempt_at, first_due_at)
    SELECT u.idempotency_key || '_fallback', u.event_id, u.alert_id, 'email', fb.address,
           'fallback', u.type, u.payload, u.digest_key,
           coalesce(u.notice, '{}'::jsonb) || jsonb_build_object('instead_of', jsonb_build_object(
               'email', u.destination, 'role', u.role,
               -- the server's own words, without our transfer's (mail_send.c, mail_describe)
               'refusal', substring(u.detail FROM 'server said "(.*)"'))),
           u.first_due_at, now()
      FROM upd u CROSS JOIN fb
     WHERE u.rerouted
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING notice_id
),
attempts AS (
    INSERT INTO @state@.delivery_attempts (notice_id, outcome, detail, duration_ms)
    SELECT notice_id, outcome, detail, duration_ms FROM r WHERE outcome <> 'released'
),
gone AS (
    INSERT INTO @state@.disabled_endpoints (url, reason)
    SELECT DISTINCT u.destination, 'answered 410 Gone'
      FROM upd u
     WHERE u.outcome = 'gone'
    ON CONFLICT (url) DO NOTHING
),
-- A failed report to the operators is not reported again, or a dead mail server would loop.
failed AS (
    SELECT u.notice_id, u.channel, coalesce(u.shown, u.destination) AS shown, u.type,
           u.last_error
      FROM upd u
     WHERE u.status = 'failed' AND u.type <> 'delivery.failed' AND $3::text IS NOT NULL
),
-- One report for the notices that failed to the same receiver for the same reason: a digest
-- refused for good is one item of the operators' report, saying how many notices it held (a
-- head of service's first day was 48,517 items, each carrying its alert), with the first
-- notice's alert and the first 20 notice ids.
failed_groups AS (
    SELECT channel, shown, last_error, count(*) AS n, min(notice_id) AS first_id,
           (array_agg(notice_id ORDER BY notice_id))[1:20] AS some_ids,
           array_agg(DISTINCT type ORDER BY type) AS types
      FROM failed
     GROUP BY channel, shown, last_error
),
-- Notices to a dead receiver reach their age limit one by one (full jitter spreads their last
-- tries), each failed by a result statement of its own: reported at once, the operators got an
-- email a notice, about the same receiver and the same answer. A report now waits $5 seconds
-- for the rest of its incident: the first is due then, and every report made before its digest
-- is claimed is due with it, under the same key, so they are one email; a failure whose
-- receiver and reason a report still waiting names is counted into it, so they are one item.
-- A report claimed meanwhile (its row then locked or no longer pending) is left alone and the
-- failures make a report of their own, a digest of its own: nothing is lost.
ops_slot AS (
    SELECT $4::text AS key,
           coalesce((SELECT min(o.next_attempt_at) FROM @state@.outbox o
                      WHERE o.digest_key = $4::text AND o.type = 'delivery.failed'
                        AND o.status = 'pending'),
                    now() + make_interval(secs => $5::int)) AS due
),
merge_into AS (
    SELECT DISTINCT ON (g.channel, g.shown, g.last_error) o.notice_id AS target, g.*
      FROM failed_groups g
      CROSS JOIN ops_slot s
      JOIN @state@.outbox o
        ON o.digest_key = s.key AND o.type = 'delivery.failed' AND o.status = 'pending'
       AND o.channel = 'email' AND o.destination = $3::text
       AND o.payload ->> 'channel' = g.channel AND o.payload ->> 'destination' = g.shown
       AND o.payload ->> 'error' IS NOT DISTINCT FROM g.last_error
     ORDER BY g.channel, g.shown, g.last_error, o.notice_id
),
merged AS (
    UPDATE @state@.outbox o
       SET payload = o.payload || jsonb_build_object(
               'count', coalesce((o.payload ->> 'count')::bigint, 1) + m.n,
               'notice_ids', (SELECT to_jsonb((array_agg(i ORDER BY i))[1:20])
                                FROM (SELECT jsonb_array_elements_text(coalesce(
                                             o.payload -> 'notice_ids',
                                             jsonb_build_array(o.payload -> 'notice_id')))::bigint
                                      UNION SELECT unnest(m.some_ids)) ids (i)),
               'types', (SELECT to_jsonb(array_agg(t ORDER BY t))
                           FROM (SELECT jsonb_array_elements_text(coalesce(
                                        o.payload -> 'types', jsonb_build_array(o.payload -> 'type')))
                                 UNION SELECT unnest(m.types)) ts (t)))
      FROM merge_into m
     WHERE o.notice_id = m.target AND o.status = 'pending'
    RETURNING m.channel, m.shown, m.last_error
),
reports AS (
    INSERT INTO @state@.outbox (idempotency_key, channel, destination, role, type, payload,
           digest_key, next_attempt_at, first_due_at)
    -- the failed notice's own key makes the report's unique beyond this schema's sequence
    -- (state_v13.sql)
    SELECT 'ops_' || g.first_id || '_' || left(md5(u.idempotency_key), 12), 'email', $3::text,
           'operators', 'delivery.failed',
           jsonb_build_object('notice_id', g.first_id, 'count', g.n,
                              'notice_ids', to_jsonb(g.some_ids), 'channel', g.channel,
                              'destination', g.shown, 'type', u.type,
                              'types', to_jsonb(g.types), 'error', g.last_error,
                              'alert', u.payload),
           s.key, s.due, s.due
      FROM failed_groups g
      JOIN upd u ON u.notice_id = g.first_id
      CROSS JOIN ops_slot s
     WHERE NOT EXISTS (SELECT 1 FROM merged m
                        WHERE m.channel = g.channel AND m.shown = g.shown
                          AND m.last_error IS NOT DISTINCT FROM g.last_error)
    ON CONFLICT (idempotency_key) DO NOTHING
)
SELECT notice_id, status, channel, destination, coalesce(last_error, ''),
       (SELECT count(*) FROM rerouted) AS rerouted
  FROM upd;
