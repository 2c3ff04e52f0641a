#!/usr/bin/env bash
# test_daemon: the long-running daemon (`driftwatchd -c FILE`, issue 4) against real components
# on 127.0.0.1: its own PostgreSQL (started here, because the test restarts it), a real webhook
# receiver (webhook_receiver.py) and the sanitizer build. In order (numbers are the brief's):
#   1  start: --install-triggers (idempotent; a case_schema without the contract is refused), the
#      daemon becomes healthy and the initial evaluation's webhooks arrive;
#   6  /metrics parsed with prometheus_client; malformed requests get a 4xx and change nothing;
#   2  event-driven: ten committed changes (a missed appointment for a baby, a new allocation on
#      a neglect plan) timed from commit to receiver (asserted only "within 10 s"), and a burst;
#   3  PostgreSQL stopped and started under the daemon: /healthz 503 with the reason, the loss
#      logged once, no spinning, a SIGHUP meanwhile, changes committed while it reconnects and
#      right after are delivered, /healthz 200 again, database_reconnects_total up; then only
#      the listening session is killed and a change made meanwhile is still delivered; the
#      outbox and delivery figures in /metrics;
#   4  SIGHUP with a good file (new link_template and interval 10 s: applied) and with bad files
#      (invalid JSON, an unknown key: reported naming file and key, the old configuration kept);
#   2b after --remove-triggers a change arrives by polling alone (interval 10 s);
#   5  SIGTERM while deliveries stall: exit 0 within 10 s, no sanitizer report, the notices are
#      still in the outbox, and `--once` later delivers them with the same webhook-id;
#   3b a second daemon started while PostgreSQL is down (unix socket) waits, connects, delivers;
#   3c an evaluation that hangs on a lock is cancelled within query_timeout_seconds, /healthz
#      says so, it is retried with a pause and the notified child is not lost;
#   7  SIGINT stops the second daemon cleanly.
# Latencies are printed as `# ` lines; nothing asserts a tight time.
#
# Environment: DRIFTWATCHD (default build/san/driftwatchd), DW_TOP, TEST_TMPDIR,
# DAEMON_TEST_PGPORT (default: the first free port from 15438). Needs PostgreSQL 15's server
# binaries (tests/lib/pg.sh), psql, /usr/bin/python3 with python3-prometheus-client.
# Prints `ok - NAME` / `not ok - NAME` and `# ...` diagnostics.
# The checks are conditions in single quotes that check() evals, hence:
# shellcheck disable=SC2016,SC2034
set -u

top=${DW_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
here=$top/tests/integration
daemon=${DRIFTWATCHD:-$top/build/san/driftwatchd}
py=/usr/bin/python3
probe() { "$py" "$here/daemon_probe.py" "$@"; }
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
# the daemon's lines about losing and getting back its database
LOSS_RE='^<[0-7]>database: .*connection (lost|failed)'
BACK_RE='^<[0-7]>database: .*(restored|reconnected|connected after)'

. "$top/tests/lib/tap.sh"

# ---- scratch, servers, cleanup ----
. "$top/tests/lib/pg.sh"
work=$(mktemp -d "${TEST_TMPDIR:-${TMPDIR:-/tmp}}/daemon.XXXXXX") || { notok "mktemp"; exit 1; }
chmod 0755 "$work" # the server may run as another user (pg.sh)
pgdir=$work/pg
pids=()
daemon_pid=
cleanup() {
	[ -n "$daemon_pid" ] && kill -KILL "$daemon_pid" 2>/dev/null
	stop_all "${pids[@]}"
	pg_stop "$pgdir" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

require "the daemon is built ($daemon)" test -x "$daemon"
require "python3-prometheus-client is installed for $py" "$py" -c 'import prometheus_client.parser'

pgport=${DAEMON_TEST_PGPORT:-$(first_free_port 15438 15478)}
start_own_pg "$pgdir" "$pgport"
pg_ctl_as_owner() { (cd "$pgdir" && _pg_as_owner "$PG_BINDIR/pg_ctl" -D "$pgdir/data" "$@"); }

sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
# commit SQL: runs SQL as its own transaction and prints the server's clock just after commit.
commit() { sql -c "$1" -c "SELECT extract(epoch FROM clock_timestamp())"; }

if ! sql -v schema=casework -f "$top/rules/contract.sql" -f "$top/tests/fixtures/daemon.sql" \
	>"$work/load.log" 2>&1; then
	diag <"$work/load.log"
	notok "load rules/contract.sql and tests/fixtures/daemon.sql"
	exit 1
fi
# One bad row (a CIN plan ending before it starts), for the bad-row count of section 6.
sql -c "INSERT INTO casework.cin_plans VALUES ('CIN-BAD-1', 'C-INIT-1', current_date,
	current_date - 1, true)" >/dev/null
n_children=$(sql -c "SELECT count(DISTINCT child_id) FROM casework.children")

# start_receiver NAME PORT ROUTE...: a webhook_receiver.py logging to $work/NAME.jsonl on PORT
# (0 = any); sets rport to the port it listens on and rpid to its process.
start_receiver() {
	local name=$1 port=$2 r args=()
	shift 2
	for r in "$@"; do args+=(--route "$r"); done
	rm -f "$work/$name.port"
	"$py" "$here/webhook_receiver.py" --port "$port" --log "$work/$name.jsonl" --lifetime 900 \
		--ready-file "$work/$name.port" "${args[@]}" >/dev/null 2>"$work/$name.err" &
	pids+=($!)
	rpid=$!
	if ! wait_for 10 test -s "$work/$name.port"; then
		diag <"$work/$name.err"
		notok "receiver $name starts"
		exit 1
	fi
	rport=$(cat "$work/$name.port")
}
start_receiver hooks 0
hooks_url=http://127.0.0.1:$rport/hook
start_receiver stall 0 /stall=stall:120
pid_stall=$rpid
stall_port=$rport
stall_url=http://127.0.0.1:$rport/stall
http_port=$(free_port)
conninfo="host=127.0.0.1 port=$pgport dbname=$PGDATABASE user=$PGUSER"

# write_config FILE INTERVAL LINK_PREFIX WEBHOOK_URL [HTTP_PORT]; query_timeout_seconds is
# $QUERY_TIMEOUT (default 60), the conninfo $CONNINFO (default TCP on 127.0.0.1)
write_config() {
	cat >"$1" <<EOF
{
  "database": { "conninfo": "${CONNINFO:-$conninfo}", "case_schema": "casework",
                "query_timeout_seconds": ${QUERY_TIMEOUT:-60} },
  "timezone": "Europe/London",
  "link_template": "$3/{child_id}",
  "addresses": { "fallback": "duty@la.example", "cp_chair": "cp-chairs@la.example" },
  "evaluation": { "interval_seconds": $2 },
  "webhooks": [ { "url": "$4", "secret": "$SECRET" } ],
  "http": { "listen": "127.0.0.1:${5:-$http_port}" }
}
EOF
}
cfg=$work/driftwatch.json
LINK1=https://lcs.example/v1/person
LINK2=https://lcs.example/v2/person
write_config "$cfg" 300 "$LINK1" "$hooks_url"

log=$work/daemon.err
# log_lines: lines the daemon has logged so far
log_lines() { wc -l <"$log" | tr -d ' '; }
# log_since N: the log from line N+1 on
log_since() { tail -n "+$(($1 + 1))" "$log"; }
# log_has N REGEX: a line after line N matches
log_has() { log_since "$1" | grep -Eq "$2"; }
# wait_log N REGEX SECONDS: waits until a line after line N matches
wait_log() { wait_for "$3" log_has "$1" "$2"; }
health() { probe healthz --port "$http_port"; }
# health_is CODE: /healthz answers CODE
health_is() { case $(health) in "$1 "*) return 0 ;; esac; return 1; }
# wait_health CODE SECONDS
wait_health() { wait_for "$2" health_is "$1"; }
alive() { [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null; }
metric() { probe value --port "$http_port" --name "$@"; }

# ---- 1: start ----
if "$daemon" -c "$cfg" --install-triggers >"$work/install.out" 2>&1 &&
	"$daemon" -c "$cfg" --install-triggers >>"$work/install.out" 2>&1; then
	ok "--install-triggers succeeds, twice (idempotent)"
else
	diag <"$work/install.out"
	notok "--install-triggers succeeds, twice (idempotent)"
fi
check "it says where it installed them" 'grep -q "installed on 9 tables of schema casework" "$work/install.out"'
sed 's/"case_schema": "casework"/"case_schema": "caseworks"/' "$cfg" >"$work/typo.json"
"$daemon" -c "$work/typo.json" --install-triggers >"$work/typo.out" 2>&1
rc=$?
diag <"$work/typo.out"
check "--install-triggers on a schema without the contract fails (status $rc), naming the key" \
	'[ "$rc" = 1 ] && grep -q "database.case_schema" "$work/typo.out"'
n_trig=$(sql -c "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
	JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE n.nspname = 'casework' AND t.tgname = 'driftwatch_notify'")
check "a trigger on each of the 9 contract tables (teams and workers too: audit 15) (found $n_trig)" \
	'[ "$n_trig" = 9 ]'

t_start=$(date +%s.%N)
"$daemon" -c "$cfg" >"$work/daemon.out" 2>"$log" &
daemon_pid=$!
pids+=("$daemon_pid")
if wait_health 200 60; then
	ok "the daemon becomes healthy: /healthz 200"
else
	notok "the daemon becomes healthy: /healthz 200 ($(health))"
	diag <"$log"
	exit 1
fi
note "healthy $(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s after start"
init_ok=1
for c in C-INIT-1 C-INIT-2 C-INIT-3; do
	if ! probe wait-webhook --log "$work/hooks.jsonl" --child "$c" --rule cp_neglect_duration \
		--type alert.firing --timeout 30 >"$work/init.$c" ; then
		init_ok=0
		note "no initial webhook for $c"
	fi
done
check "the initial evaluation's webhooks arrive (cp_neglect_duration 9m for C-INIT-1..3)" \
	'[ "$init_ok" = 1 ]'
check "the initial webhook carries the configured link" \
	'grep -q "\"link\": \"$LINK1/C-INIT-1\"" "$work/init.C-INIT-1"'

# ---- 6: /metrics and malformed requests ----
# Bad rows are counted on their own connection after the full evaluation was recorded: the
# alerts above did not wait for them, and the count still reaches the log and /metrics.
if wait_log 0 "^<5>bad rows as of [0-9-]+: 1 left out of the rules among $n_children children .*: cin_plans.end_before_start=1\$" 30; then
	ok "the bad-row count is logged once it is done (1 bad row, $n_children children)"
else
	notok "the bad-row count is logged once it is done (1 bad row, $n_children children)"
	grep "bad rows" "$log" | diag
fi
bad_metric=$(metric driftwatch_bad_rows --label kind=cin_plans.end_before_start)
children_metric=$(metric driftwatch_children_evaluated)
check "driftwatch_bad_rows{kind=\"cin_plans.end_before_start\"} is 1 (got $bad_metric)" \
	'[ "$bad_metric" = 1 ] || [ "$bad_metric" = 1.0 ]'
check "driftwatch_children_evaluated is $n_children (got $children_metric)" \
	'[ "${children_metric%.0}" = "$n_children" ]'
check "the full evaluations record no bad-row count of their own (NULL, not zero)" \
	'[ "$(sql -c "SELECT count(*) FROM driftwatch.evaluations WHERE scope = '"'"'all'"'"' AND (bad_rows IS NOT NULL OR children IS NOT NULL)")" = 0 ]'
probe metrics --port "$http_port" --min-evaluations 1 --db-up 1 >"$work/metrics1.out"
grep -v '^# value' "$work/metrics1.out"
probe malformed --port "$http_port"
check "the daemon keeps running after the malformed requests" 'alive'

# ---- 2: event-driven evaluation ----
latencies=()
# event N KIND: commits the Nth change of KIND (wnb: a missed appointment for baby C-INF-N;
# wc: a new allocation for C-WC-N) and waits for its webhook; prints the latency.
event() {
	local n=$1 kind=$2 child rule t0 out lat
	case $kind in
	wnb)
		child=C-INF-$n rule=was_not_brought
		t0=$(commit "INSERT INTO casework.appointments VALUES ('APT-EV-$n', '$child', 'gp',
			now() - interval '1 hour', 'was_not_brought')") ;;
	wc)
		child=C-WC-$n rule=worker_change
		t0=$(commit "INSERT INTO casework.allocations VALUES ('A-EV-$n', '$child', 'W-SW2',
			current_date, NULL)") ;;
	esac
	if [ -z "$t0" ]; then
		notok "commit the change for $child"
		return 1
	fi
	if out=$(probe wait-webhook --log "$work/hooks.jsonl" --child "$child" --rule "$rule" \
		--type alert.firing --since-commit "$t0" --timeout "${3:-10}"); then
		lat=$(printf '%s\n' "$out" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["latency"])')
		last_event_json=$out
		last_latency=$lat
		return 0
	fi
	return 1
}
incr0=$(metric driftwatch_incremental_evaluations_total)
ev_fail=0
i=0
for n in 01 02 03 04 05 06 07 08 09 10; do
	i=$((i + 1))
	if [ $((i % 2)) = 1 ]; then kind="wnb"; else kind="wc"; fi
	if event "$n" "$kind"; then
		latencies+=("$last_latency")
		note "event $i ($kind, child $n): commit -> webhook $(printf '%.3f' "$last_latency") s"
	else
		ev_fail=$((ev_fail + 1))
		note "event $i ($kind, child $n): no webhook within 10 s"
	fi
	sleep 0.3
done
check "each of 10 committed changes reaches the receiver within 10 s ($ev_fail missed)" \
	'[ "$ev_fail" = 0 ]'
if [ "${#latencies[@]}" -gt 0 ]; then
	read -r lat_min lat_med lat_max < <(printf '%s\n' "${latencies[@]}" | "$py" -c '
import statistics, sys
v = [float(x) for x in sys.stdin]
print("%.3f %.3f %.3f" % (min(v), statistics.median(v), max(v)))')
	note "notify -> webhook latency over ${#latencies[@]} changes: min $lat_min s, median $lat_med s, max $lat_max s"
fi
incr1=$(metric driftwatch_incremental_evaluations_total)
check "the changes were evaluated incrementally, for the notified children (incremental evaluations ${incr0:-?} -> ${incr1:-?})" \
	'[ -n "$incr0" ] && [ -n "$incr1" ] && awk -v a="$incr0" -v b="$incr1" "BEGIN { exit !(b > a) }"'

# A burst: one transaction touching many children is batched into few evaluations.
incr0=$(metric driftwatch_incremental_evaluations_total)
t0=$(commit "INSERT INTO casework.appointments
	SELECT 'APT-BURST-' || i, 'C-INF-' || lpad(i::text, 2, '0'), 'gp', now() - interval '1 hour',
	       'was_not_brought' FROM generate_series(11, 20) AS i")
burst_ok=1
for n in 11 12 13 14 15 16 17 18 19 20; do
	probe wait-webhook --log "$work/hooks.jsonl" --child "C-INF-$n" --rule was_not_brought \
		--since-commit "$t0" --timeout 10 >"$work/burst.$n" || burst_ok=0
done
incr1=$(metric driftwatch_incremental_evaluations_total)
if [ "$burst_ok" = 1 ]; then
	note "burst of 10 children in one commit: last webhook $(cat "$work"/burst.* |
		"$py" -c 'import json,sys; print("%.3f" % max(json.loads(l)["latency"] for l in sys.stdin))') s after commit, in $(awk -v a="${incr0:-0}" -v b="${incr1:-0}" 'BEGIN { print b - a }') incremental evaluation(s)"
fi
check "a burst (10 children in one commit) reaches the receiver within 10 s" '[ "$burst_ok" = 1 ]'

# ---- 3: PostgreSQL restarts under the daemon ----
reconn0=$(metric driftwatch_database_reconnects_total)
mark=$(log_lines)
if pg_ctl_as_owner -m fast -w -t 60 stop >"$work/pg_stop.log" 2>&1; then
	ok "PostgreSQL stopped (pg_ctl stop -m fast) under the running daemon"
else
	diag <"$work/pg_stop.log"
	notok "PostgreSQL stopped (pg_ctl stop -m fast) under the running daemon"
fi
if wait_health 503 10; then
	h=$(health)
	ok "/healthz turns 503 while the database is down"
	note "/healthz: $h"
	check "the 503 says why (database unreachable)" '[[ "$h" == *"database unreachable"* ]]'
else
	notok "/healthz turns 503 while the database is down ($(health))"
fi
cpu0=$(cpu_ticks "$daemon_pid")
sleep 6
cpu1=$(cpu_ticks "$daemon_pid")
hz=$(getconf CLK_TCK)
check "the daemon is still running with the database down" 'alive'
if [ -n "$cpu0" ] && [ -n "$cpu1" ]; then
	note "CPU used in 6 s with the database down: $((cpu1 - cpu0)) ticks ($hz per second)"
	check "it does not spin while the database is down (CPU $((cpu1 - cpu0)) ticks in 6 s, bound $hz)" \
		'[ $((cpu1 - cpu0)) -le "$hz" ]'
else
	notok "read the daemon's CPU time from /proc"
fi
# The daemon's own line about the database; a query that failed with it (a delivery pass's
# claim, say) may say so too, as its own event.
n_lost=$(log_since "$mark" | grep -Ec "$LOSS_RE")
log_since "$mark" | diag
check "the loss is logged once (lines mentioning it: $n_lost)" '[ "$n_lost" = 1 ]'
check "every line logged meanwhile is one line with a priority prefix" \
	'! log_since "$mark" | grep -qv "^<[0-7]>"'
check "/metrics says database_up 0 meanwhile" '[ "$(metric driftwatch_database_up)" = 0.0 ]'
# A reload while the database is away must not cost the delivery of what comes after.
mark2=$(log_lines)
kill -HUP "$daemon_pid"
if wait_log "$mark2" 'reload: configuration applied' 10; then
	ok "SIGHUP while the database is down: the configuration is applied"
else
	notok "SIGHUP while the database is down: the configuration is applied"
fi
log_since "$mark2" | diag

if pg_ctl_as_owner -l "$pgdir/server.log" -w -t 60 start >"$work/pg_start2.log" 2>&1; then
	ok "PostgreSQL started again"
else
	diag <"$work/pg_start2.log"
	notok "PostgreSQL started again"
fi
# committed at once: the daemon is still waiting out its backoff
during_health=$(health)
t_during=$(commit "INSERT INTO casework.appointments VALUES ('APT-RS-1', 'C-INF-21', 'gp',
	now() - interval '1 hour', 'was_not_brought')")
note "committed C-INF-21's change while the daemon reconnects (/healthz then: $during_health)"
if wait_health 200 60; then
	ok "/healthz returns to 200 after the restart"
else
	notok "/healthz returns to 200 after the restart ($(health))"
fi
t_after=$(commit "INSERT INTO casework.allocations VALUES ('A-RS-2', 'C-WC-03', 'W-SW2',
	current_date, NULL)")
if out=$(probe wait-webhook --log "$work/hooks.jsonl" --child C-INF-21 --since-commit "$t_during" \
	--timeout 60); then
	ok "the change committed while the daemon reconnected is delivered"
	note "C-INF-21 (committed while reconnecting): webhook $(printf '%s' "$out" | "$py" -c 'import json,sys; print("%.3f" % json.load(sys.stdin)["latency"])') s after commit"
else
	notok "the change committed while the daemon reconnected is delivered"
fi
if out=$(probe wait-webhook --log "$work/hooks.jsonl" --child C-WC-03 --rule worker_change \
	--since-commit "$t_after" --timeout 10); then
	ok "a change committed right after the reconnect is delivered within 10 s"
	note "C-WC-03 (committed right after the reconnect): webhook $(printf '%s' "$out" | "$py" -c 'import json,sys; print("%.3f" % json.load(sys.stdin)["latency"])') s after commit"
else
	notok "a change committed right after the reconnect is delivered within 10 s"
fi
reconn1=$(metric driftwatch_database_reconnects_total)
check "database_reconnects_total increased (${reconn0:-?} -> ${reconn1:-?})" \
	'[ -n "$reconn0" ] && [ -n "$reconn1" ] && awk -v a="$reconn0" -v b="$reconn1" "BEGIN { exit !(b > a) }"'
n_restored=$(log_since "$mark" | grep -Ec "$BACK_RE")
check "the recovery is logged once (lines: $n_restored)" '[ "$n_restored" = 1 ]'
check "the daemon survived the restart" 'alive'

# Only the listening session dies (an idle connection cut by a firewall, an administrator):
# a change committed before it listens again is found by the full evaluation after LISTEN.
mark=$(log_lines)
n_term=$(sql -c "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	WHERE application_name = 'driftwatchd' AND query LIKE 'LISTEN driftwatch%') t")
t0=$(commit "INSERT INTO casework.appointments VALUES ('APT-LS-1', 'C-INF-28', 'gp',
	now() - interval '1 hour', 'was_not_brought')")
check "the listening session is terminated ($n_term)" '[ "$n_term" = 1 ]'
if out=$(probe wait-webhook --log "$work/hooks.jsonl" --child C-INF-28 --since-commit "$t0" \
	--timeout 20); then
	ok "a change committed while nobody listened is delivered after the listener reconnects"
	note "C-INF-28 (committed while the listener was gone): webhook $(printf '%s' "$out" | "$py" -c 'import json,sys; print("%.3f" % json.load(sys.stdin)["latency"])') s after commit"
else
	notok "a change committed while nobody listened is delivered after the listener reconnects"
fi
wait_log "$mark" "$BACK_RE" 10
n_lost=$(log_since "$mark" | grep -Ec "$LOSS_RE")
n_restored=$(log_since "$mark" | grep -Ec "$BACK_RE")
check "the listener's loss and return are logged once each ($n_lost, $n_restored)" \
	'[ "$n_lost" = 1 ] && [ "$n_restored" = 1 ]'
log_since "$mark" | diag

# The outbox figures are counted every 15 s: wait for a count that includes deliveries.
for _ in $(seq 40); do
	v=$(metric driftwatch_notices --label channel=webhook --label status=delivered)
	[ -n "$v" ] && [ "$v" != 0.0 ] && break
	sleep 0.5
done
probe metrics --port "$http_port" --min-evaluations 2 --db-up 1 >"$work/metrics2.out"
grep -E '^# value driftwatch_(notices|deliveries_total|outbox|delivery_failures|evaluations_total|incremental)' \
	"$work/metrics2.out"
n_hooks=$(wc -l <"$work/hooks.jsonl")
check "/metrics counts delivered webhook notices (notices{webhook,delivered} = ${v:-none})" \
	'[ -n "$v" ] && [ "$v" != 0.0 ]'
v=$(metric driftwatch_deliveries_total --label channel=webhook)
check "/metrics deliveries_total{channel=webhook} counts the $n_hooks webhooks delivered (${v:-none})" \
	'[ -n "$v" ] && awk -v v="$v" "BEGIN { exit !(v >= 1) }"'

# ---- 4: SIGHUP ----
mark=$(log_lines)
write_config "$cfg" 10 "$LINK2" "$hooks_url"
kill -HUP "$daemon_pid"
if wait_log "$mark" 'reload: configuration applied' 30; then
	ok "SIGHUP with a good file: the new configuration is applied (logged)"
else
	notok "SIGHUP with a good file: the new configuration is applied (logged)"
	log_since "$mark" | diag
fi
if event 22 wnb; then
	ok "the next webhook after the reload arrives"
	check "it carries the link from the new link_template ($LINK2/...)" \
		'[[ "$last_event_json" == *"\"link\": \"$LINK2/C-INF-22\""* ]]'
else
	notok "the next webhook after the reload arrives"
fi

mark=$(log_lines)
printf '{ "database": { "conninfo": "%s", ' "$conninfo" >"$cfg" # cut short: invalid JSON
kill -HUP "$daemon_pid"
if wait_log "$mark" 'reload: .*keeping' 10; then
	ok "SIGHUP with invalid JSON is reported and the old configuration kept"
else
	notok "SIGHUP with invalid JSON is reported and the old configuration kept"
fi
log_since "$mark" | diag
check "the report names the file" 'log_since "$mark" | grep -q -F "$cfg"'

mark=$(log_lines)
write_config "$cfg" 10 "$LINK2" "$hooks_url"
sed -i 's/"interval_seconds"/"interval_secs"/' "$cfg"
kill -HUP "$daemon_pid"
if wait_log "$mark" 'reload: .*keeping' 10; then
	ok "SIGHUP with an unknown key is reported and the old configuration kept"
else
	notok "SIGHUP with an unknown key is reported and the old configuration kept"
fi
log_since "$mark" | diag
check "the report names the file and the key (evaluation.interval_secs)" \
	'log_since "$mark" | grep -F "$cfg" | grep -q "interval_secs"'
sleep 1
check "the daemon stays up after the bad reloads" 'alive'
check "and healthy (/healthz 200)" 'wait_health 200 10'
if event 23 wnb; then
	ok "and still delivers with the configuration in use (new change, webhook within 10 s)"
	check "still with the link of the good file" \
		'[[ "$last_event_json" == *"\"link\": \"$LINK2/C-INF-23\""* ]]'
else
	notok "and still delivers with the configuration in use (new change, webhook within 10 s)"
fi
write_config "$cfg" 10 "$LINK2" "$hooks_url"

# ---- 2b: polling alone, without triggers ----
if "$daemon" -c "$cfg" --remove-triggers >"$work/remove.out" 2>&1; then
	ok "--remove-triggers succeeds"
else
	diag <"$work/remove.out"
	notok "--remove-triggers succeeds"
fi
n_trig=$(sql -c "SELECT count(*) FROM pg_trigger WHERE tgname = 'driftwatch_notify'")
check "no driftwatch trigger is left (found $n_trig)" '[ "$n_trig" = 0 ]'
incr0=$(metric driftwatch_incremental_evaluations_total)
if event 24 wnb 40; then
	ok "without triggers a change still arrives, by polling (interval 10 s)"
	note "C-INF-24 without triggers: commit -> webhook $(printf '%.3f' "$last_latency") s (polling every 10 s)"
else
	notok "without triggers a change still arrives, by polling (interval 10 s)"
fi
incr1=$(metric driftwatch_incremental_evaluations_total)
check "and no notified evaluation ran for it (incremental evaluations ${incr0:-?} -> ${incr1:-?})" \
	'[ -n "$incr0" ] && [ "$incr0" = "$incr1" ]'
"$daemon" -c "$cfg" --install-triggers >/dev/null 2>&1

# ---- 5: SIGTERM while deliveries stall ----
mark=$(log_lines)
write_config "$cfg" 300 "$LINK2" "$stall_url"
kill -HUP "$daemon_pid"
wait_log "$mark" 'reload: configuration applied' 30 ||
	{ notok "SIGHUP to the stalling receiver's configuration is applied"; log_since "$mark" | diag; }
commit "INSERT INTO casework.appointments VALUES ('APT-ST-1', 'C-INF-25', 'gp',
	now() - interval '1 hour', 'was_not_brought'), ('APT-ST-2', 'C-INF-26', 'gp',
	now() - interval '1 hour', 'was_not_brought')" >/dev/null
stalled=0
for _ in $(seq 200); do
	stalled=$(probe requests --log "$work/stall.jsonl" --path /stall | wc -l)
	[ "$stalled" -ge 2 ] && break
	sleep 0.1
done
check "both notices are being delivered to the stalling receiver ($stalled requests)" \
	'[ "$stalled" -ge 2 ]'
t_term=$(date +%s.%N)
kill -TERM "$daemon_pid"
wait_exit "$daemon_pid" 15
took=$(awk -v a="$t_term" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
note "SIGTERM -> exit: $took s (status ${rc:-still running})"
check "SIGTERM during a stalled delivery: the daemon exits within 10 s (${took} s)" \
	'[ -n "$rc" ] && awk -v t="$took" "BEGIN { exit !(t <= 10.5) }"'
check "it exits 0 (status ${rc:-none})" '[ "$rc" = 0 ]'
if [ -z "$rc" ]; then
	kill -KILL "$daemon_pid" 2>/dev/null
	wait "$daemon_pid" 2>/dev/null
fi
daemon_pid=
no_sanitizer_report "no sanitizer report from the daemon" "$log"
check "every line the daemon logged has a priority prefix" '! grep -qv "^<[0-7]>" "$log"'
tail -n 5 "$log" | diag
sql -c "SELECT notice_id, status, attempts, lease_until IS NOT NULL, coalesce(last_error, '')
	FROM driftwatch.outbox WHERE destination = '$stall_url' ORDER BY notice_id" >"$work/outbox.txt"
diag <"$work/outbox.txt"
n_kept=$(sql -c "SELECT count(*) FROM driftwatch.outbox WHERE destination = '$stall_url'
	AND (status = 'pending' OR (status = 'delivering' AND lease_until IS NOT NULL))")
n_all=$(sql -c "SELECT count(*) FROM driftwatch.outbox WHERE destination = '$stall_url'")
check "the undelivered notices are still in the outbox, pending or leased ($n_kept of $n_all)" \
	'[ "$n_all" -ge 2 ] && [ "$n_kept" = "$n_all" ]'
n_leased=$(sql -c "SELECT count(*) FROM driftwatch.outbox WHERE destination = '$stall_url'
	AND status = 'delivering'")
if [ "${n_leased:-0}" -gt 0 ]; then
	# what the passing of the lease would do, so --once need not wait for it
	note "$n_leased notices are leased: ending their lease now (what time would do)"
	sql -c "UPDATE driftwatch.outbox SET lease_until = now() WHERE destination = '$stall_url'
		AND status = 'delivering'" >/dev/null
fi

# The same receiver port, now answering at once.
kill "$pid_stall" 2>/dev/null
wait "$pid_stall" 2>/dev/null
for _ in $(seq 50); do port_busy "$stall_port" || break; sleep 0.1; done
start_receiver after "$stall_port"
once_cfg=$work/once.json
write_config "$once_cfg" 300 "$LINK2" "$stall_url" "$(free_port)"
if "$daemon" -c "$once_cfg" --once >"$work/once.out" 2>"$work/once.err"; then
	ok "a later --once run succeeds"
else
	notok "a later --once run succeeds"
	diag <"$work/once.err"
fi
probe requests --log "$work/stall.jsonl" --path /stall | "$py" -c '
import json, sys
print("\n".join(sorted(set(json.loads(l)["webhook_id"] for l in sys.stdin))))' >"$work/ids.stalled"
probe requests --log "$work/after.jsonl" --path /stall | "$py" -c '
import json, sys
print("\n".join(sorted(set(json.loads(l)["webhook_id"] for l in sys.stdin))))' >"$work/ids.after"
note "webhook-ids sent during the stall: $(tr '\n' ' ' <"$work/ids.stalled")"
note "webhook-ids delivered by --once: $(tr '\n' ' ' <"$work/ids.after")"
check "--once delivers the notices SIGTERM left behind, with the same webhook-ids" \
	'[ -s "$work/ids.stalled" ] && [ -z "$(comm -23 "$work/ids.stalled" "$work/ids.after")" ]'
n_left=$(sql -c "SELECT count(*) FROM driftwatch.outbox WHERE destination = '$stall_url'
	AND status <> 'delivered'")
check "and they are recorded delivered ($n_left left)" '[ "$n_left" = 0 ]'

# ---- 3b: started while PostgreSQL is down (systemd may start it first) ----
# A second daemon, on the server's unix socket (where libpq fails at once, not on the first
# poll), with query_timeout_seconds 2 and polling every 300 s for 3c.
pg_ctl_as_owner -m fast -w -t 60 stop >"$work/pg_stop3.log" 2>&1 ||
	{ diag <"$work/pg_stop3.log"; notok "PostgreSQL stopped before the second daemon starts"; }
CONNINFO="host=$pgdir port=$pgport dbname=$PGDATABASE user=$PGUSER" QUERY_TIMEOUT=2 \
	write_config "$cfg" 300 "$LINK2" "$hooks_url"
log=$work/daemon2.err
"$daemon" -c "$cfg" >"$work/daemon2.out" 2>"$log" &
daemon_pid=$!
pids+=("$daemon_pid")
sleep 3
check "a daemon started while the database is down keeps running" 'alive'
check "its /healthz is 503 saying the database is unreachable ($(health))" \
	'[[ "$(health)" == "503 "*"database unreachable"* ]]'
n_failed=$(grep -Ec "$LOSS_RE" "$log")
check "it logs the failure to connect once ($n_failed lines)" '[ "$n_failed" = 1 ]'
diag <"$log"
pg_ctl_as_owner -l "$pgdir/server.log" -w -t 60 start >"$work/pg_start3.log" 2>&1 ||
	{ diag <"$work/pg_start3.log"; notok "PostgreSQL started again for the second daemon"; }
if wait_health 200 60; then
	ok "once PostgreSQL is up it connects and becomes healthy"
else
	notok "once PostgreSQL is up it connects and becomes healthy ($(health))"
	diag <"$log"
fi
if event 27 wnb; then
	ok "and delivers a change (webhook within 10 s)"
else
	notok "and delivers a change (webhook within 10 s)"
	diag <"$log"
fi

# ---- 3c: a query that hangs is cancelled; the notified child is evaluated later ----
mark=$(log_lines)
# every evaluation reads appointments: this lock makes it hang until the lock goes, 8 s on
sql -c "BEGIN; LOCK TABLE casework.appointments IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(8); COMMIT" \
	>/dev/null 2>"$work/lock.err" &
lock_pid=$!
pids+=("$lock_pid")
for _ in $(seq 100); do
	[ "$(sql -c "SELECT count(*) FROM pg_locks WHERE relation = 'casework.appointments'::regclass
		AND mode = 'AccessExclusiveLock' AND granted")" = 1 ] && break
	sleep 0.1
done
t0=$(commit "INSERT INTO casework.allocations VALUES ('A-HG-5', 'C-WC-05', 'W-SW2', current_date,
	NULL)")
# Only the rules that read appointments wait (each rule reads only its relations), so the
# others run: /healthz says "degraded" (200) naming the rules cancelled, or 503 when every rule
# that ran was.
# A rule waits for a lock a quarter of what is left of query_timeout_seconds (its lock_timeout),
# so the server says "lock timeout"; and who holds the lock (test_lock_wait.py).
timeout_said() { [[ "$(health)" == *"timeout; casework.appointments is locked by another session"* ]]; }
if wait_for 15 timeout_said; then
	h=$(health)
	ok "an evaluation that hangs on a lock is cancelled within query_timeout_seconds: /healthz says so, naming the lock"
	note "/healthz: $(printf '%s' "$h" | tr '\n' '|')"
	check "... naming the rule that waited (was_not_brought or worker_change)" \
		'[[ "$h" == *"rule was_not_brought failing"* ]] || [[ "$h" == *"rule worker_change failing"* ]] || [[ "$h" == *"evaluation failed"* ]]'
else
	notok "an evaluation that hangs on a lock is cancelled within query_timeout_seconds: /healthz says so, naming the lock ($(health))"
fi
if out=$(probe wait-webhook --log "$work/hooks.jsonl" --child C-WC-05 --rule worker_change \
	--since-commit "$t0" --timeout 40); then
	ok "the notified child whose evaluation was cancelled is evaluated again and delivered"
	note "C-WC-05 (lock held 8 s, timeout 2 s): webhook $(printf '%s' "$out" | "$py" -c 'import json,sys; print("%.3f" % json.load(sys.stdin)["latency"])') s after commit"
else
	notok "the notified child whose evaluation was cancelled is evaluated again and delivered"
fi
check "/healthz returns to 200 once the lock is gone" 'wait_health 200 30'
n_fail=$(log_since "$mark" | grep -c 'trying again in')
note "retries logged while the lock was held: $n_fail"
check "the failing evaluation is retried with a pause, not in a loop ($n_fail retries logged)" \
	'[ "$n_fail" -ge 1 ] && [ "$n_fail" -le 6 ]'
log_since "$mark" | diag
wait "$lock_pid" 2>/dev/null

# ---- 7: SIGINT, while an evaluation waits on a lock ----
sql -c "BEGIN; LOCK TABLE casework.appointments IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(5); COMMIT" \
	>/dev/null 2>"$work/lock2.err" &
lock_pid=$!
pids+=("$lock_pid")
for _ in $(seq 100); do
	[ "$(sql -c "SELECT count(*) FROM pg_locks WHERE relation = 'casework.appointments'::regclass
		AND mode = 'AccessExclusiveLock' AND granted")" = 1 ] && break
	sleep 0.1
done
mark=$(log_lines)
commit "INSERT INTO casework.allocations VALUES ('A-INT-7', 'C-WC-07', 'W-SW2', current_date, NULL)" \
	>/dev/null
sleep 0.5
n_busy=$(sql -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'driftwatchd'
	AND wait_event_type = 'Lock'")
note "evaluations waiting on the lock when SIGINT is sent: $n_busy"
t_int=$(date +%s.%N)
kill -INT "$daemon_pid" 2>/dev/null
wait_exit "$daemon_pid" 15
took=$(awk -v a="$t_int" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
check "SIGINT stops it within 10 s (${took} s)" '[ -n "$rc" ]'
check "with exit status 0 (${rc:-none})" '[ "$rc" = 0 ]'
check "logging that it stopped" 'grep -q "stopping (SIGINT)" "$log" && grep -q "stopped" "$log"'
check "the evaluation cut short by the stop is not reported as an error" \
	'! log_since "$mark" | sed -n "/stopping (SIGINT)/,\$p" | grep -q "^<3>"'
log_since "$mark" | diag
wait "$lock_pid" 2>/dev/null
no_sanitizer_report "no sanitizer report from the second daemon" "$log"
[ -z "$rc" ] && kill -KILL "$daemon_pid" 2>/dev/null
daemon_pid=

if [ -n "${lat_med:-}" ]; then
	note "summary: notify -> webhook min $lat_min s, median $lat_med s, max $lat_max s"
fi
tap_end
