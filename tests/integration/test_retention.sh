#!/usr/bin/env bash
# test_retention: the state schema does not grow for ever (issue 10, item 9). Delivered notices
# (with their delivery attempts) and evaluations older than retention.days are pruned, in
# batches, by --once (a timer-run deployment has no daemon to do it) and by the daemon; alerts,
# their events, failed notices and the latest evaluation of everyone are kept, and so is who was
# told of each event and when (state_v8.sql's delivered: a webhook's URL without its
# credentials, as url_redact shows it in logs).
# Environment: DRIFTWATCHD, DW_TOP, TEST_TMPDIR and the test server's PG*.
# shellcheck disable=SC2016
set -u

top=${DW_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
daemon=${DRIFTWATCHD:-$top/build/san/driftwatchd}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
. "$top/tests/lib/tap.sh"

work=$(mktemp -d "${TEST_TMPDIR:-${TMPDIR:-/tmp}}/retention.XXXXXX") || { notok "mktemp"; exit 1; }
trap 'rm -rf "$work"' EXIT
require "the daemon is built ($daemon)" test -x "$daemon"
sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
db=$(sql -c "SELECT current_database()")
sql -c "SET client_min_messages = warning" -c "DROP SCHEMA IF EXISTS ret_case CASCADE" \
	-c "DROP SCHEMA IF EXISTS ret_state CASCADE" >/dev/null
sql -v schema=ret_case -f "$top/rules/contract.sql" -f "$top/tests/fixtures/boundaries.sql" \
	>"$work/load.log" 2>&1
check "load the boundary fixture" '[ $? -eq 0 ]'
cat >"$work/cfg.json" <<EOF
{ "database": { "conninfo": "host=127.0.0.1 port=$PGPORT dbname=$db user=$PGUSER",
                "case_schema": "ret_case", "state_schema": "ret_state" },
  "addresses": { "fallback": "duty@la.example" },
  "retention": { "days": 100 },
  "webhooks": [ { "url": "http://127.0.0.1:9/none", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" } ] }
EOF
"$daemon" -c "$work/cfg.json" --once --as-of 2026-11-21 >"$work/once1.out" 2>&1
check "--once records (its notices stay pending: the receiver is not there)" '[ $? -eq 0 ]'

# A history of 150 days: 2,500 old delivered notices with an attempt each, a few old failed
# ones, 2,500 old evaluations; and recent delivered notices.
if ! sql >"$work/history.log" 2>&1 <<'EOF'
INSERT INTO ret_state.outbox (idempotency_key, channel, destination, type, payload, status,
                              created_at, delivered_at)
SELECT 'old_' || g, 'webhook', 'http://127.0.0.1:9/none', 'alert.firing', '{}', 'delivered',
       now() - interval '150 days', now() - interval '150 days'
  FROM generate_series(1, 2500) g;
INSERT INTO ret_state.delivery_attempts (notice_id, at, outcome)
SELECT notice_id, now() - interval '150 days', 'delivered' FROM ret_state.outbox
 WHERE idempotency_key LIKE 'old\_%';
INSERT INTO ret_state.outbox (idempotency_key, channel, destination, type, payload, status,
                              created_at)
SELECT 'failed_' || g, 'webhook', 'http://127.0.0.1:9/none', 'alert.firing', '{}', 'failed',
       now() - interval '150 days' FROM generate_series(1, 5) g;
INSERT INTO ret_state.outbox (idempotency_key, channel, destination, type, payload, status,
                              created_at, delivered_at)
SELECT 'new_' || g, 'webhook', 'http://127.0.0.1:9/none', 'alert.firing', '{}', 'delivered',
       now() - interval '5 days', now() - interval '5 days' FROM generate_series(1, 10) g;
INSERT INTO ret_state.evaluations (as_of, scope, started_at, finished_at)
SELECT DATE '2026-06-01', '1 children', now() - interval '150 days', now() - interval '150 days'
  FROM generate_series(1, 2500);
-- two of the old notices told of an event: a supervisor by email, a team's webhook whose URL
-- carries credentials and a signature (the others, like operators' reports, have no event)
UPDATE ret_state.outbox x
   SET event_id = e.event_id, alert_id = e.alert_id, channel = 'email',
       destination = 'supervisor.one@la.example', role = 'supervisor',
       delivered_at = now() - interval '150 days' - interval '1 hour'
  FROM (SELECT event_id, alert_id FROM ret_state.alert_events ORDER BY event_id LIMIT 1) e
 WHERE x.idempotency_key = 'old_1';
UPDATE ret_state.outbox x
   SET event_id = e.event_id, alert_id = e.alert_id,
       destination = 'https://hookuser:HOOKPW@hooks.la.example:8443/team/T-1?sig=SIGSECRET&sv=2#FRAG',
       role = 'team', delivered_at = now() - interval '150 days' - interval '2 hours'
  FROM (SELECT event_id, alert_id FROM ret_state.alert_events ORDER BY event_id DESC LIMIT 1) e
 WHERE x.idempotency_key = 'old_2';
UPDATE ret_state.evaluations SET started_at = now() - interval '150 days',
       finished_at = now() - interval '150 days' WHERE scope = 'all';
-- daily counts: 20 days from 14 to 15 months ago (past both 100 days and 13 months), 10 days
-- from 12 months ago (past 100 days only: the trend of the last 12 months needs them)
INSERT INTO ret_state.daily_count_days (day, evaluation_id, alerts, unanswered, acknowledged,
                                        snoozed)
SELECT (date_trunc('month', current_date) - interval '14 months' - g * interval '1 day')::date,
       0, 2, 2, 0, 0 FROM generate_series(1, 20) g
UNION ALL
SELECT (current_date - interval '12 months' + g * interval '1 day')::date, 0, 2, 2, 0, 0
  FROM generate_series(0, 9) g;
INSERT INTO ret_state.daily_counts (day, team_id, rule, stage, state, alerts)
SELECT day, 'T-1', 'was_not_brought', 'vulnerable', 'open', 2 FROM ret_state.daily_count_days
 WHERE evaluation_id = 0;
EOF
then
	notok "write a history" "$(cat "$work/history.log")"
	exit 1
fi
q() { sql -c "$1"; }
alerts0=$(q "SELECT count(*) FROM ret_state.alerts")
max_alert0=$(q "SELECT max(alert_id) FROM ret_state.alerts")
events0=$(q "SELECT count(*) FROM ret_state.alert_events")
told0=$(q "SELECT string_agg(concat_ws('|', event_id, alert_id, channel, role,
                 extract(epoch FROM delivered_at)::bigint), ' ' ORDER BY notice_id)
               FROM ret_state.outbox WHERE idempotency_key IN ('old_1', 'old_2')")
"$daemon" -c "$work/cfg.json" --once --as-of 2026-11-22 >"$work/once2.out" 2>&1
check "--once on the next day exits 0" '[ $? -eq 0 ]'
check "... and says what retention pruned" 'grep -Eq "retention: pruned 2500 delivered notices and 250[01] evaluations older than 100 days" "$work/once2.out"'
grep -q "retention" "$work/once2.out" || diag "$work/once2.out"
check "old delivered notices are gone" '[ "$(q "SELECT count(*) FROM ret_state.outbox WHERE idempotency_key LIKE '"'"'old\_%'"'"'")" = 0 ]'
check "... with their delivery attempts" \
	'[ "$(q "SELECT count(*) FROM ret_state.delivery_attempts WHERE at < now() - interval '"'"'100 days'"'"'")" = 0 ]'
told=$(q "SELECT string_agg(concat_ws('|', k.event_id, k.alert_id, k.channel, k.role,
                extract(epoch FROM k.delivered_at)::bigint), ' ' ORDER BY k.notice_id)
              FROM ret_state.delivered k")
[ -n "$told0" ] && [ "$told" = "$told0" ]
check_status "who was told of an event, when, by which channel and as what, is kept past the notice" \
	$? "before: $told0" "after: $told"
check "... naming events that are there" \
	'[ "$(q "SELECT count(*) FROM ret_state.delivered k JOIN ret_state.alert_events e USING (event_id, alert_id)")" = 2 ]'
check "... the email's address as it was" \
	'[ "$(q "SELECT destination FROM ret_state.delivered WHERE channel = '"'"'email'"'"'")" = supervisor.one@la.example ]'
hook=$(q "SELECT destination FROM ret_state.delivered WHERE channel = 'webhook'")
[ "$hook" = https://hooks.la.example:8443/team/T-1 ]
check_status "... the webhook's URL without its credentials, signature or fragment" $? "kept: $hook"
check "... nor anything of them anywhere in the kept record" \
	'[ "$(q "SELECT count(*) FROM ret_state.delivered k WHERE k::text ~ '"'"'HOOKPW|hookuser|SIGSECRET|FRAG'"'"'")" = 0 ]'
check "notices of no event (operators' reports) leave nothing" \
	'[ "$(q "SELECT count(*) FROM ret_state.delivered")" = 2 ]'
check "failed notices are kept (they are evidence)" '[ "$(q "SELECT count(*) FROM ret_state.outbox WHERE idempotency_key LIKE '"'"'failed\_%'"'"'")" = 5 ]'
check "recent delivered notices are kept" '[ "$(q "SELECT count(*) FROM ret_state.outbox WHERE idempotency_key LIKE '"'"'new\_%'"'"'")" = 10 ]'
check "alerts are never pruned" \
	'[ "$(q "SELECT count(*) FROM ret_state.alerts WHERE alert_id <= $max_alert0")" = "$alerts0" ]'
check "nor their events" '[ "$(q "SELECT count(*) FROM ret_state.alert_events")" -ge "$events0" ]'
check "old evaluations are gone, the latest evaluation of everyone is kept" \
	'[ "$(q "SELECT count(*) FROM ret_state.evaluations WHERE finished_at < now() - interval '"'"'100 days'"'"'")" = 0 ] &&
	 [ "$(q "SELECT max(as_of) FROM ret_state.evaluations WHERE scope = '"'"'all'"'"'")" = 2026-11-22 ]'
check "daily counts older than 13 months are gone, with their rows" \
	'[ "$(q "SELECT count(*) FROM ret_state.daily_count_days WHERE evaluation_id = 0")" = 10 ] &&
	 [ "$(q "SELECT count(*) FROM ret_state.daily_counts WHERE team_id = '"'"'T-1'"'"' AND rule = '"'"'was_not_brought'"'"' AND day < current_date - 300")" = 10 ]'
check "... those of the last 13 months are kept, past retention.days though they are" \
	'[ "$(q "SELECT min(day) FROM ret_state.daily_count_days WHERE evaluation_id = 0")" = "$(q "SELECT (current_date - interval '"'"'12 months'"'"')::date")" ]'
"$daemon" -c "$work/cfg.json" --once --as-of 2026-11-21 >"$work/once3.out" 2>&1
check "a day earlier than the latest evaluation of everyone is still refused after pruning" \
	'[ $? -eq 1 ] && grep -q "refusing to record 2026-11-21" "$work/once3.out"'
# shown_url keeps step with url_redact.c: the cases of tests/unit/test_url_redact.c
while IFS='	' read -r url want; do
	got=$(q "SELECT ret_state.shown_url(E'$url')")
	[ "$got" = "$want" ]
	check_status "shown_url: E'$url' is shown as '$want'" $? "got: $got"
done <<'CASES'
https://hooks.la.example/drift	https://hooks.la.example/drift
http://127.0.0.1:9000/hook	http://127.0.0.1:9000/hook
https://hooks.la.example	https://hooks.la.example
https://hooks.la.example:/x	https://hooks.la.example:/x
https://[::1]:8443/a/b	https://[::1]:8443/a/b
https://[fe80::1%25eth0]/x	https://[fe80::1%25eth0]/x
HTTPS://Hooks.LA.example:443/Drift	HTTPS://Hooks.LA.example:443/Drift
/redirect-target	/redirect-target
hooks.la.example/x?sig=abc	hooks.la.example/x
https://user:s3cret@hooks.la.example/drift	https://hooks.la.example/drift
https://user:s3cret@hooks.la.example:8443/d?x=1	https://hooks.la.example:8443/d
https://:pw@h/p	https://h/p
https://user@h/p	https://h/p
https://u:p@ss@w@rd@hooks.la.example/p	https://hooks.la.example/p
https://hooks.la.example/team?sig=SIGSECRET&sv=2	https://hooks.la.example/team
https://hooks.la.example?token=T	https://hooks.la.example
https://hooks.la.example#frag-secret	https://hooks.la.example
https://hooks.la.example/p#a?b	https://hooks.la.example/p
https://u:pw@hooks.la.example?sig=1#f	https://hooks.la.example
https://user:pa/ss@hooks.la.example/p	https://(unreadable)
https://user:pa\\ss@hooks.la.example/p	https://(unreadable)
https://h/p?https://u:pw@x/y	https://h/p
https://h/p?@evil	https://h/p
https://h/p\r\nX-Injected: 1	https://h/p??X-Injected:?1
https://h/\x01\x7f\u00e9	https://h/????
https://[::1/p	https://(unreadable)
https://[::1]x/p	https://(unreadable)
https://h:99999999/p	https://(unreadable)
https://h:80x/p	https://(unreadable)
https://h o/p	https://(unreadable)
javascript:alert(document.cookie)	(unreadable)
http:/single-slash/p?sig=1	http:/single-slash/p
://nothing	://nothing
?sig=only-a-query	
#only-a-fragment	
CASES
check "shown_url: '' is shown as (empty)" '[ "$(q "SELECT ret_state.shown_url('"''"')")" = "(empty)" ]'
long="https://h/$(printf '%0245d' 0 | tr 0 a)"
check "shown_url: a long URL is cut at 255 bytes, its userinfo gone" \
	'[ "$(q "SELECT ret_state.shown_url('"'"'https://u:SECRET@h/'"'"' || repeat('"'"'a'"'"', 4000))")" = "$long" ]'
no_sanitizer_report "no sanitizer report" "$work/once2.out"
tap_end
