#!/usr/bin/env bash
# test_isolation: one failing rule never silences the others (issue 9, "Failures are isolated").
# A role that may read every contract relation but appointments runs the daemon against the test
# PostgreSQL, with a real webhook receiver and a real SMTP server on 127.0.0.1:
#   - while SELECT on appointments is revoked, the rules that read it (was_not_brought and
#     worker_change) fail alone: a new CP escalation still reaches the webhook, the
#     was_not_brought alert raised before stays firing (nothing resolved), /healthz answers 200
#     "degraded" naming each failing rule and why, /metrics counts the failures per rule, and the
#     operators get one email saying which rules fail, not one per evaluation;
#   - --once and --once --dry-run do everything they can and exit 1 naming the failed rules;
#   - once the grant is back, the operators get one email saying the rules run again, and
#     /healthz is plain "ok";
#   - with one column of teams withheld every rule fails, each on its own: /healthz 503 naming
#     every rule and why, each rule's gauge 1, one operators' email of seven failing rules, and
#     --once exits 1 naming them all after its delivery pass; the grant back, one email of seven
#     recovered rules;
#   - while a lock holds recording, or delivery's statements on the outbox, for longer than
#     health.stall_seconds, /healthz answers 200 "degraded" saying so (not "ok" until
#     query_timeout_seconds), and "ok" once it goes.
# Environment: DRIFTWATCHD, DW_TOP, TEST_TMPDIR and the test server's PG* (tests/run.sh).
# The checks are conditions in single quotes that check() evals, hence:
# shellcheck disable=SC2016
set -u

top=${DW_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
here=$top/tests/integration
daemon=${DRIFTWATCHD:-$top/build/san/driftwatchd}
py=/usr/bin/python3
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw

. "$top/tests/lib/tap.sh"

work=$(mktemp -d "${TEST_TMPDIR:-${TMPDIR:-/tmp}}/isolation.XXXXXX") || { notok "mktemp"; exit 1; }
chmod 0755 "$work"
pids=()
daemon_pid=
cleanup() {
	[ -n "$daemon_pid" ] && kill -KILL "$daemon_pid" 2>/dev/null
	stop_all "${pids[@]}"
	[ -n "${KEEP_WORK:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

require "the daemon is built ($daemon)" test -x "$daemon"
sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

# ---- the case data, and a role that reads it ----
if ! sql >"$work/setup.log" 2>&1 <<'EOF'
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS iso CASCADE;
DROP SCHEMA IF EXISTS iso_state CASCADE;
DROP SCHEMA IF EXISTS iso_once CASCADE;
DO $$ BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'iso_ro') THEN
        DROP OWNED BY iso_ro;
    END IF;
END $$;
DROP ROLE IF EXISTS iso_ro;
CREATE ROLE iso_ro LOGIN;
EOF
then
	notok "set up a schema and a role" "$(cat "$work/setup.log")"
	exit 1
fi
if ! sql -v schema=iso -f "$top/rules/contract.sql" -f "$top/tests/fixtures/daemon.sql" \
	>"$work/load.log" 2>&1; then
	notok "load rules/contract.sql and tests/fixtures/daemon.sql into iso" "$(cat "$work/load.log")"
	exit 1
fi
db=$(sql -c "SELECT current_database()")
sql >"$work/grant.log" 2>&1 <<EOF
-- a missed appointment for a baby: was_not_brought (vulnerable), the alert a failing rule keeps
INSERT INTO iso.appointments VALUES ('AP-ISO-1', 'C-INF-01', 'health_visiting',
    now() - interval '2 days', 'was_not_brought');
GRANT USAGE ON SCHEMA iso TO iso_ro;
GRANT SELECT ON ALL TABLES IN SCHEMA iso TO iso_ro;
CREATE SCHEMA iso_state AUTHORIZATION iso_ro;
CREATE SCHEMA iso_once AUTHORIZATION iso_ro;
GRANT CREATE ON DATABASE "$db" TO iso_ro;
EOF
check "iso_ro may read the contract and owns its state schemas" '[ $? -eq 0 ]'

# ---- the peers ----
rm -f "$work/hooks.port"
"$py" "$here/webhook_receiver.py" --port 0 --log "$work/hooks.jsonl" --lifetime 600 \
	--ready-file "$work/hooks.port" >/dev/null 2>"$work/hooks.err" &
pids+=($!)
wait_for 10 test -s "$work/hooks.port" || { notok "webhook receiver starts" "$(cat "$work/hooks.err")"; exit 1; }
hooks_url=http://127.0.0.1:$(cat "$work/hooks.port")/hook
smtp_port=$(free_port)
mkdir -p "$work/mail"
"$py" "$here/smtp_server.py" --port "$smtp_port" --maildir "$work/mail" --seconds 600 \
	--ready "$work/mail/ready" --tls none --user dw --password pw >"$work/smtp.log" 2>&1 &
pids+=($!)
wait_for 10 test -e "$work/mail/ready" || { notok "SMTP server starts" "$(cat "$work/smtp.log")"; exit 1; }
http_port=$(free_port)

write_config() { # FILE STATE_SCHEMA
	cat >"$1" <<EOF
{
  "database": { "conninfo": "host=127.0.0.1 port=$PGPORT dbname=$db user=iso_ro",
                "case_schema": "iso", "state_schema": "$2" },
  "evaluation": { "interval_seconds": 10 },
  "health": { "stall_seconds": 10 },
  "addresses": { "fallback": "duty@la.example", "operators": "ops@la.example",
                 "cp_chair": "chairs@la.example", "cp_manager": "cpm@la.example",
                 "head_of_service": "hos@la.example" },
  "email": { "smtp_url": "smtp://127.0.0.1:$smtp_port", "tls": "none", "from": "dw@la.example",
             "username": "dw", "password": "pw" },
  "webhooks": [ { "url": "$hooks_url", "secret": "$SECRET" } ],
  "http": { "listen": "127.0.0.1:$http_port" }
}
EOF
}
write_config "$work/daemon.json" iso_state
write_config "$work/once.json" iso_once

health() { curl -s --max-time 5 "http://127.0.0.1:$http_port/healthz"; }
metric() { curl -s --max-time 5 "http://127.0.0.1:$http_port/metrics" | grep -F "$1" | awk '{print $2}'; }
hooks_with() { grep -c -F "$1" "$work/hooks.jsonl" 2>/dev/null || true; }
mails_with() { grep -l -F "$1" "$work"/mail/*.eml 2>/dev/null | wc -l; }
# for wait_for, which runs its command again and again: counts taken anew each time
hook_arrived() { [ "$(hooks_with "$1")" -ge 1 ]; }
mail_arrived() { [ "$(mails_with "$1")" -ge 1 ]; }

# ---- the daemon, with every grant ----
"$daemon" -c "$work/daemon.json" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
pids+=("$daemon_pid")
check "the first evaluation's webhooks arrive, the was_not_brought alert among them" \
	'wait_for 30 hook_arrived C-INF-01'
healthy() { [ "$(health)" = ok ]; }
check "/healthz is ok" 'wait_for 10 healthy'

# ---- appointments can no longer be read ----
sql -c "REVOKE SELECT ON iso.appointments FROM iso_ro" >/dev/null
sql >/dev/null <<'EOF'
INSERT INTO iso.children VALUES ('C-ISO-NEW', 'F-ISO', current_date - interval '7 years', NULL, false);
INSERT INTO iso.allocations VALUES ('A-ISO-NEW', 'C-ISO-NEW', 'W-SW1', current_date - interval '1 year', NULL);
INSERT INTO iso.cp_plans VALUES ('CPP-ISO-NEW', 'C-ISO-NEW', current_date - interval '16 months', NULL, 'NEG', NULL, NULL);
EOF
check "a new CP escalation still reaches the webhook while two rules fail" \
	'wait_for 40 hook_arrived C-ISO-NEW'
h=$(health)
check "/healthz: 200 degraded, naming was_not_brought and why" \
	'wait_for 10 sh -c "curl -s -o /dev/null -w %{http_code} http://127.0.0.1:$http_port/healthz | grep -qx 200" &&
	 [[ "$h" == degraded* ]] && [[ "$h" == *"rule was_not_brought failing: permission denied for table appointments"* ]]'
note "healthz: $(printf '%s' "$h" | tr '\n' '|')"
check "/healthz names worker_change too" '[[ "$h" == *"rule worker_change failing"* ]]'
check "/metrics: rule_failing{rule=\"was_not_brought\"} is 1" \
	'[ "$(metric "driftwatch_rule_failing{rule=\"was_not_brought\"}")" = 1 ]'
check "/metrics: rule_failures_total{rule=\"was_not_brought\"} counts it" \
	'[ "$(metric "driftwatch_rule_failures_total{rule=\"was_not_brought\"}")" -ge 1 ]'
check "/metrics: cp_neglect_duration is not failing" \
	'[ "$(metric "driftwatch_rule_failing{rule=\"cp_neglect_duration\"}")" = 0 ]'
check "the operators get an email naming the failing rules" \
	'wait_for 30 mail_arrived "Subject: driftwatch: 2 failing rules"'
# a few more evaluations (every 10 s) while the rules still fail
sleep 25
check "... once only, however many evaluations fail" \
	'[ "$(mails_with "failing rule")" -eq 1 ]'
check "the was_not_brought alert raised before is still firing (not resolved for want of a rule)" \
	'[ "$(sql -c "SELECT status FROM iso_state.alerts WHERE rule = '"'"'was_not_brought'"'"' AND child_id = '"'"'C-INF-01'"'"'")" = firing ]'
check "and no receiver was told it resolved" \
	'[ "$(grep -F "alert.resolved" "$work/hooks.jsonl" | grep -c -F "was_not_brought")" -eq 0 ]'

# ---- one-shot runs do what they can and say what failed ----
"$daemon" -c "$work/once.json" --once --dry-run >"$work/dry.out" 2>"$work/dry.err"
rc=$?
check "--dry-run exits 1 when a rule failed" '[ "$rc" -eq 1 ]'
check "--dry-run prints the other rules' alerts" 'grep -q "\"rule\":\"cp_neglect_duration\"" "$work/dry.out"'
check "--dry-run names the failed rules" 'grep -q "rules failed: was_not_brought, worker_change" "$work/dry.err"'
# audit 9: the summary said "bad rows: none" beside the warning that appointments were not counted
check "the summary says appointments' bad rows were not counted, never a bare \"none\"" \
	'grep -q "bad rows not counted in: appointments" "$work/dry.err" && ! grep -q "bad rows: none$" "$work/dry.err"'
"$daemon" -c "$work/once.json" --once >"$work/once.out" 2>"$work/once.err"
rc=$?
check "--once exits 1 when a rule failed" '[ "$rc" -eq 1 ]'
check "--once records the other rules' alerts" \
	'[ "$(sql -c "SELECT count(*) FROM iso_once.alerts WHERE rule = '"'"'cp_neglect_duration'"'"'")" -ge 4 ]'
check "--once names the failed rules" 'grep -q "rules failed: was_not_brought, worker_change" "$work/once.err"'

# ---- a view that fails on one row: the error names no relation, so driftwatch names them ----
sql >"$work/viewerr.log" 2>&1 <<EOF
CREATE SCHEMA iso_err;
CREATE VIEW iso_err.teams AS SELECT * FROM iso.teams;
CREATE VIEW iso_err.workers AS SELECT * FROM iso.workers;
CREATE VIEW iso_err.children AS SELECT * FROM iso.children;
CREATE VIEW iso_err.allocations AS SELECT * FROM iso.allocations;
CREATE VIEW iso_err.referrals AS SELECT * FROM iso.referrals;
CREATE VIEW iso_err.cin_plans AS SELECT * FROM iso.cin_plans;
CREATE VIEW iso_err.cp_plans AS SELECT * FROM iso.cp_plans;
CREATE VIEW iso_err.strategies AS SELECT * FROM iso.strategies;
-- a mapping's arithmetic gone wrong for one row, as a view over a case system can
CREATE VIEW iso_err.appointments AS
    SELECT appointment_id, child_id, service,
           scheduled_for + make_interval(days => 1 / (CASE WHEN appointment_id = 'AP-ISO-1'
                                                           THEN 0 ELSE 1 END) - 1) AS scheduled_for,
           outcome
      FROM iso.appointments;
EOF
sed 's/"case_schema": "iso"/"case_schema": "iso_err"/; s/user=iso_ro/user='"$PGUSER"'/' \
	"$work/once.json" >"$work/viewerr.json"
"$daemon" -c "$work/viewerr.json" --once --dry-run >"$work/viewerr.out" 2>"$work/viewerr.err"
rc=$?
check "a view failing on one row: --dry-run exits 1, the other rules' alerts printed" \
	'[ "$rc" -eq 1 ] && grep -q "\"rule\":\"cp_neglect_duration\"" "$work/viewerr.out"'
check "... and the failed rule's error names the relations it reads (the server's names none)" \
	'grep -q "was_not_brought *FAILED: division by zero (in what it reads: .*iso_err.appointments" "$work/viewerr.err"'
grep FAILED "$work/viewerr.err" | while read -r l; do note "$l"; done

# ---- the grant is back ----
sql -c "GRANT SELECT ON iso.appointments TO iso_ro" >/dev/null
check "the operators hear once that the rules run again" \
	'wait_for 40 mail_arrived "Subject: driftwatch: 2 recovered rules"'
check "/healthz is ok again" 'wait_for 20 healthy'
check "/metrics: was_not_brought is not failing" \
	'[ "$(metric "driftwatch_rule_failing{rule=\"was_not_brought\"}")" = 0 ]'

# ---- one column withheld: every rule fails, and each is still its own failure ----
# (audit 12) a column every statement reads not granted made every statement fail: the
# evaluation failed as a whole, naming one rule, with no operators' report, every rule's gauge
# 0, and --once skipping delivery. teams.team_id: every rule joins its recipients' team by it.
# (A column that only addresses people, teams.webhook_url, now fails none: test_withheld_column.)
sql -c "REVOKE SELECT ON iso.teams FROM iso_ro; GRANT SELECT (name, manager_email, webhook_url) ON iso.teams TO iso_ro" >/dev/null
all_down() { h=$(health); [[ "$h" == *"every rule failed"* ]]; }
check "every rule failing: /healthz is down, not degraded" 'wait_for 40 all_down'
h=$(health)
check "... and names each rule and why" \
	'[[ "$h" == *"rule cin_neglect_duration failing: permission denied"* && "$h" == *"rule re_referral failing: "* && "$h" == *"rule worker_churn failing: "* ]]'
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$http_port/healthz")
check "... with status 503" '[ "$code" = 503 ]'
check "/metrics: rule_failing{rule=\"cp_neglect_duration\"} is 1 (each rule its own failure)" \
	'wait_for 10 test "$(metric "driftwatch_rule_failing{rule=\"cp_neglect_duration\"}")" = 1'
check "/metrics: rule_failing{rule=\"re_referral\"} is 1" \
	'[ "$(metric "driftwatch_rule_failing{rule=\"re_referral\"}")" = 1 ]'
check "the operators get an email naming the seven failing rules" \
	'wait_for 40 mail_arrived "Subject: driftwatch: 7 failing rules"'
"$daemon" -c "$work/once.json" --once >"$work/allfail.out" 2>"$work/allfail.err"
rc=$?
check "--once with every rule failing exits 1 naming them all" \
	'[ "$rc" -eq 1 ] && grep -q "7 rules failed: cin_neglect_duration, cp_neglect_duration" "$work/allfail.err"'
check "... and still runs its delivery pass" 'grep -q "  delivery: " "$work/allfail.err"'
sql -c "GRANT SELECT ON iso.teams TO iso_ro" >/dev/null
check "the operators hear once that the seven rules run again" \
	'wait_for 40 mail_arrived "Subject: driftwatch: 7 recovered rules"'
check "/healthz is ok again" 'wait_for 20 healthy'

# ---- recording held by a lock ----
sql -c "BEGIN; LOCK TABLE iso_state.alerts IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(30); COMMIT" \
	>/dev/null 2>&1 &
lock_pid=$!
pids+=("$lock_pid")
stalled() { [[ "$(health)" == degraded*"without finishing"* ]]; }
check "/healthz says degraded once recording makes no progress for stall_seconds (10 s)" \
	'wait_for 30 stalled'
note "healthz: $(health | tr '\n' '|')"
wait "$lock_pid" 2>/dev/null
check "/healthz is ok once the lock is gone" 'wait_for 30 healthy'

# ---- delivery held by a lock: its claims wait on the outbox ----
sql -c "BEGIN; LOCK TABLE iso_state.outbox IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(30); COMMIT" \
	>/dev/null 2>&1 &
lock_pid=$!
pids+=("$lock_pid")
delivery_stalled() { [[ "$(health)" == degraded*"delivery waiting"* ]]; }
check "/healthz says degraded once delivery makes no progress for stall_seconds (10 s)" \
	'wait_for 30 delivery_stalled'
note "healthz: $(health | tr '\n' '|')"
wait "$lock_pid" 2>/dev/null
check "/healthz is ok once that lock is gone" 'wait_for 30 healthy'

kill -TERM "$daemon_pid"
wait_exit "$daemon_pid" 15
check "the daemon stops on SIGTERM with status 0" '[ "${rc:-1}" -eq 0 ]'
daemon_pid=
no_sanitizer_report "no sanitizer report from the daemon" "$work/daemon.log"
check "the daemon logged each rule failing once a period, not every evaluation" \
	'[ "$(grep -c "rule was_not_brought is failing" "$work/daemon.log")" -eq 2 ] && [ "$(grep -c "rule re_referral is failing" "$work/daemon.log")" -eq 1 ]'
tap_end
