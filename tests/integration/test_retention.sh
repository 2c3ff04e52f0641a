#!/usr/bin/env bash
# test_retention: the state schema does not grow for ever (issue 10, item 9). Delivered notices
# (with their delivery attempts) and evaluations older than retention.days are pruned, in
# batches, by --once (a timer-run deployment has no daemon to do it) and by the daemon; alerts,
# their events, failed notices and the latest evaluation of everyone are kept.
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
"$daemon" -c "$work/cfg.json" --once --as-of 2026-11-22 >"$work/once2.out" 2>&1
check "--once on the next day exits 0" '[ $? -eq 0 ]'
check "... and says what retention pruned" 'grep -Eq "retention: pruned 2500 delivered notices and 250[01] evaluations older than 100 days" "$work/once2.out"'
grep -q "retention" "$work/once2.out" || diag "$work/once2.out"
check "old delivered notices are gone" '[ "$(q "SELECT count(*) FROM ret_state.outbox WHERE idempotency_key LIKE '"'"'old\_%'"'"'")" = 0 ]'
check "... with their delivery attempts" \
	'[ "$(q "SELECT count(*) FROM ret_state.delivery_attempts WHERE at < now() - interval '"'"'100 days'"'"'")" = 0 ]'
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
no_sanitizer_report "no sanitizer report" "$work/once2.out"
tap_end
