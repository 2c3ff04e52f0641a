#!/usr/bin/env bash
# test_standby: the case data read from a real hot standby, the state kept on the primary
# (issue 15, item 2). A primary with the contract, the daemon fixture and the NOTIFY triggers
# (--install-triggers), and a database of its own for the state (state.conninfo), and a
# streaming standby made from it with pg_basebackup -R, both run by the unprivileged user pg.sh
# uses. Then:
#   - --check-config is good (web.listen with state.conninfo included); the daemon says once that
#     the case database is a hot standby and that it polls, evaluates from the standby (the
#     initial webhooks arrive) and keeps its state in the primary's state database;
#   - the pages and the JSON API (web.listen) answer people from the standby's case data and the
#     primary's state: a worker sees their children's alerts, a known worker with no children
#     none, a stranger is refused, /service names the teams, a child's page is whole;
#   - a change committed on the primary reaches the standby by replication and the webhook
#     receiver through the daemon's polling (no NOTIFY is sent by a standby);
#   - the standby is promoted (pg_ctl promote); the daemon notices at its next poll, says so
#     once and LISTENs on the same session (no reconnect); a change committed on the promoted
#     server then reaches the receiver by NOTIFY (an evaluation of the notified child), well
#     within the poll interval;
#   - /metrics: a rule failing on the promoted server shows in driftwatch_rule_failing; when the
#     daemon loses the leader lock (its session ended, the lock held by another) it reports
#     driftwatch_leader 0 and no rule failing;
#   - the case database stopped: the pages that need only the state still answer from it.
# Environment: DRIFTWATCHD, DW_TOP, TEST_TMPDIR, TEST_PGPORT (its servers take ports 41 to 80
# above it).
# shellcheck disable=SC2016
set -u

top=${DW_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
here=$top/tests/integration
daemon=${DRIFTWATCHD:-$top/build/san/driftwatchd}
py=/usr/bin/python3
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

. "$top/tests/lib/tap.sh"
. "$top/tests/lib/pg.sh"

work=$(mktemp -d "${TEST_TMPDIR:-${TMPDIR:-/tmp}}/standby.XXXXXX") || { notok "mktemp"; exit 1; }
chmod 0755 "$work" # the servers run as another user when we are root (pg.sh)
pdir=$work/primary
sdir=$work/standby
pids=()
daemon_pid=
cleanup() {
	stop_all "${pids[@]}"
	pg_stop "$sdir" >/dev/null 2>&1
	pg_stop "$pdir" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
require "the daemon is built ($daemon)" test -x "$daemon"
require "pg_basebackup is installed" test -x "$PG_BINDIR/pg_basebackup"

base=${TEST_PGPORT:-16700}
pport=$(first_free_port $((base + 41)) $((base + 60)))
start_own_pg "$pdir" "$pport"
pport=$pgport
psql_at() { # DIR PORT DB SQL...
	local dir=$1 port=$2 db=$3
	shift 3
	PGHOST=$dir PGPORT=$port psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"
}
primary() { psql_at "$pdir" "$pport" "$PGDATABASE" "$@"; }
primary -v schema=casework -f "$top/rules/contract.sql" -f "$top/tests/fixtures/daemon.sql" \
	>"$work/load.log" 2>&1
check "the primary has the contract and the fixture" '[ $? -eq 0 ]'
primary -c "CREATE DATABASE dwstate OWNER $PGUSER" >/dev/null
check "... and a database for the state" '[ $? -eq 0 ]'
# The triggers go on the primary (a standby takes no DDL) and reach the standby by replication;
# they fire only once it is promoted.
cat >"$work/triggers.json" <<EOF
{ "database": { "conninfo": "host=127.0.0.1 port=$pport dbname=$PGDATABASE user=$PGUSER",
                "case_schema": "casework" },
  "addresses": { "fallback": "duty@la.example" } }
EOF
"$daemon" -c "$work/triggers.json" --install-triggers >"$work/triggers.out" 2>&1
rc=$?
check "--install-triggers on the primary" '[ $rc -eq 0 ]'
[ $rc -eq 0 ] || diag "$work/triggers.out"

# The standby: a base backup with -R (standby.signal and primary_conninfo), as the servers' user.
sport=$(first_free_port $((pport + 1)) $((base + 80)))
owner=$(_pg_owner)
mkdir -p "$sdir"
[ -n "$owner" ] && chown "$owner" "$sdir"
(cd "$sdir" && _pg_as_owner "$PG_BINDIR/pg_basebackup" -h "$pdir" -p "$pport" -U postgres \
	-D "$sdir/data" -R -X stream -c fast) >"$work/basebackup.log" 2>&1
check "pg_basebackup -R makes a standby" '[ $? -eq 0 ] && [ -f "$sdir/data/standby.signal" ]'
[ -f "$sdir/data/standby.signal" ] || diag "$work/basebackup.log"
cat >>"$sdir/data/postgresql.conf" <<EOF
# test_standby: the standby's own port and socket
port = $sport
unix_socket_directories = '$sdir'
EOF
(cd "$sdir" && _pg_as_owner "$PG_BINDIR/pg_ctl" -D "$sdir/data" -l "$sdir/server.log" -w -t 60 \
	start) >"$work/standby_start.log" 2>&1
standby() { psql_at "$sdir" "$sport" "$PGDATABASE" "$@"; }
wait_for 30 test "$(standby -c 'SELECT pg_is_in_recovery()' 2>/dev/null)" = t
check "the standby runs on port $sport, in recovery, streaming from the primary" \
	'[ "$(standby -c "SELECT pg_is_in_recovery()")" = t ] &&
	 [ "$(primary -c "SELECT count(*) FROM pg_stat_replication WHERE state = '"'"'streaming'"'"'")" = 1 ]'
[ "$(standby -c 'SELECT pg_is_in_recovery()' 2>/dev/null)" = t ] || {
	diag "$work/standby_start.log"
	tail -n 20 "$sdir/server.log" | diag
}

"$py" "$here/webhook_receiver.py" --port 0 --log "$work/hooks.jsonl" --lifetime 600 \
	--ready-file "$work/hooks.port" >/dev/null 2>"$work/hooks.err" &
pids+=($!)
require "the webhook receiver starts" wait_for 10 test -s "$work/hooks.port"
hooks_url=http://127.0.0.1:$(cat "$work/hooks.port")/hook
http_port=$(free_port)
web_port=$(free_port)
# The poll interval is long next to a NOTIFY's few hundred milliseconds, and short enough that
# the polling parts of the test take well under a minute each.
INTERVAL=20
cfg=$work/driftwatch.json
cat >"$cfg" <<EOF
{ "database": { "conninfo": "host=127.0.0.1 port=$sport dbname=$PGDATABASE user=$PGUSER",
                "case_schema": "casework" },
  "state": { "conninfo": "host=127.0.0.1 port=$pport dbname=dwstate user=$PGUSER" },
  "evaluation": { "interval_seconds": $INTERVAL, "takeover_seconds": 5 },
  "addresses": { "fallback": "duty@la.example", "head_of_service": "hos@la.example" },
  "webhooks": [ { "url": "$hooks_url", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" } ],
  "http": { "listen": "127.0.0.1:$http_port" },
  "web": { "listen": "127.0.0.1:$web_port", "trusted_proxies": ["127.0.0.1"] } }
EOF

"$daemon" -c "$cfg" --check-config >"$work/check.out" 2>&1
rc=$?
check "--check-config with the case data on the standby, the state on the primary and web.listen: good" \
	'[ $rc -eq 0 ]'
[ $rc -eq 0 ] || diag "$work/check.out"
# the standby alone, without state.conninfo: the state cannot be written there (found by an
# audit: --check-config said good, and --once failed at a read-only TRUNCATE naming neither)
grep -v '"state":' "$cfg" >"$work/nostate.json"
"$daemon" -c "$work/nostate.json" --check-config >"$work/nostate.out" 2>&1
rc=$?
check "--check-config with the standby alone: exit 2, saying it is a hot standby and state.conninfo is needed" \
	'[ $rc -eq 2 ] && grep -q "database.conninfo: the server is a hot standby.*state.conninfo" "$work/nostate.out"'
[ $rc -eq 2 ] || diag "$work/nostate.out"

"$daemon" -c "$cfg" >"$work/daemon.out" 2>&1 &
daemon_pid=$!
pids+=("$daemon_pid")
wait_hook() { # CHILD RULE TIMEOUT
	"$py" "$here/daemon_probe.py" wait-webhook --log "$work/hooks.jsonl" --child "$1" \
		--rule "$2" --type alert.firing --timeout "$3" >/dev/null 2>&1
}
init_ok=1
for c in C-INIT-1 C-INIT-2 C-INIT-3; do
	wait_hook "$c" cp_neglect_duration 60 || init_ok=0
done
check "the daemon evaluates the standby's case data: the initial webhooks arrive (C-INIT-1..3)" \
	'[ "$init_ok" = 1 ]'
check "... saying once that the case database is a hot standby and it polls" \
	'[ "$(grep -c "the case database (database.conninfo) is a hot standby: it sends no notifications, so changes are found by polling every $INTERVAL s" "$work/daemon.out")" = 1 ]'
n_state=$(psql_at "$pdir" "$pport" dwstate -c "SELECT count(*) FROM driftwatch.alerts WHERE child_id LIKE 'C-INIT-%'" 2>&1)
check "... its state is in the primary's state database ($n_state alerts for C-INIT-*)" \
	'[ "${n_state:-0}" -ge 3 ] 2>/dev/null'
check "... and none of it in the case database (only the triggers' function)" \
	'[ "$(primary -c "SELECT to_regclass('"'"'driftwatch.alerts'"'"') IS NULL")" = t ]'

# ---- the pages and the API: case data from the standby, state from the primary ----
# web_get PATH EMAIL OUT: the status (or "error: ..."), the body in OUT; as EMAIL signed in
# through the sign-on proxy (127.0.0.1 is web.trusted_proxies).
web_get() {
	"$py" - "$web_port" "$1" "$2" "$3" <<'PY'
import http.client, sys
port, path, who, out = sys.argv[1:5]
try:
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=20)
    c.request("GET", path, headers={"X-Forwarded-Email": who})
    r = c.getresponse()
    open(out, "wb").write(r.read())
    print(r.status)
except Exception as e:
    print("error: %s" % e)
PY
}
# alert_children FILE: the child_ids of a /api/v1/alerts answer, sorted, on one line
alert_children() {
	"$py" -c 'import json, sys
print(" ".join(sorted(a["child_id"] for a in json.load(open(sys.argv[1]))["alerts"])))' "$1" 2>/dev/null
}
st=$(web_get /api/v1/alerts dsw1@la.example "$work/api_sw1.json")
kids=$(alert_children "$work/api_sw1.json")
check "GET /api/v1/alerts as W-SW1 (dsw1@, known from the standby's case data): 200, their children's alerts (${kids:-none})" \
	'[ "$st" = 200 ] && [ "$kids" = "C-INIT-1 C-INIT-2 C-INIT-3" ]'
[ "$st" = 200 ] || { note "status $st"; head -c 600 "$work/api_sw1.json" | diag; }
st=$(web_get /api/v1/alerts dsup@la.example "$work/api_sup.json")
kids=$(alert_children "$work/api_sup.json")
check "... as their supervisor (dsup@): the same (${kids:-none})" \
	'[ "$st" = 200 ] && [ "$kids" = "C-INIT-1 C-INIT-2 C-INIT-3" ]'
st=$(web_get /api/v1/alerts dsw2@la.example "$work/api_sw2.json")
kids=$(alert_children "$work/api_sw2.json")
check "... as W-SW2 (dsw2@, a worker with no children): 200 and none (${kids:-none})" \
	'[ "$st" = 200 ] && [ -z "$kids" ] && grep -q "\"alerts\"" "$work/api_sw2.json"'
st=$(web_get /api/v1/alerts stranger@la.example "$work/api_stranger.json")
check "... as someone neither the case data nor the notices know: 403 ($st)" '[ "$st" = 403 ]'
st=$(web_get / dsw1@la.example "$work/page_mine.html")
check "the page / as dsw1@: 200 with their three children's alerts ($st)" \
	'[ "$st" = 200 ] && grep -q C-INIT-1 "$work/page_mine.html" &&
	 grep -q C-INIT-2 "$work/page_mine.html" && grep -q C-INIT-3 "$work/page_mine.html"'
st=$(web_get /service hos@la.example "$work/page_service.html")
check "/service as the head of service: 200, the team named from the case data ($st)" \
	'[ "$st" = 200 ] && grep -q "Daemon test team" "$work/page_service.html"'
st=$(web_get /child/C-INIT-1 dsw1@la.example "$work/page_child.html")
check "/child/C-INIT-1 as dsw1@: 200, the record read from the standby, nothing left out ($st)" \
	'[ "$st" = 200 ] && grep -q "Worker One" "$work/page_child.html" &&
	 ! grep -q "Not shown, because" "$work/page_child.html"'
check "... and the web logged no failed query" \
	'! grep -Eq "web: (a query failed|the case data could not be read|.*left out)" "$work/daemon.out"'

primary -c "INSERT INTO casework.appointments VALUES ('APT-SB-1', 'C-INF-01', 'gp',
	now() - interval '1 hour', 'was_not_brought')" >/dev/null
t0=$(date +%s)
wait_hook C-INF-01 was_not_brought 40
ok1=$?
check "a change committed on the primary reaches the webhook through the standby's polling ($(($(date +%s) - t0)) s)" \
	'[ $ok1 -eq 0 ]'

mark=$(wc -l <"$work/daemon.out")
(cd "$sdir" && _pg_as_owner "$PG_BINDIR/pg_ctl" -D "$sdir/data" -w -t 60 promote) \
	>"$work/promote.log" 2>&1
t0=$(date +%s)
check "pg_ctl promote ends the standby's recovery" \
	'[ "$(standby -c "SELECT pg_is_in_recovery()")" = f ]'
since_mark() { tail -n "+$((mark + 1))" "$work/daemon.out"; }
promoted() { since_mark | grep -q "is no longer in recovery (promoted): listening for notifications again"; }
wait_for $((INTERVAL + 15)) promoted
took=$(($(date +%s) - t0))
check "the daemon notices the promotion at its next poll and says so ($took s; interval $INTERVAL s)" \
	'promoted && [ "$took" -le $((INTERVAL + 10)) ]'
check "... once" \
	'[ "$(grep -c "no longer in recovery (promoted)" "$work/daemon.out")" = 1 ]'
check "... on the same sessions: no connection was lost or made again" \
	'! since_mark | grep -Eq "connections? (lost|failed|restored)|reconnecting"'
# The LISTEN is followed by a full evaluation (what changed while nobody listened): once it has
# begun, a change is found only by NOTIFY before the next poll.
evaluated_after() { since_mark | grep -c "evaluated everyone"; }
wait_for 30 test "$(evaluated_after)" -ge 1
sleep 2
mark=$(wc -l <"$work/daemon.out")
standby -c "INSERT INTO casework.appointments VALUES ('APT-SB-2', 'C-INF-02', 'gp',
	now() - interval '1 hour', 'was_not_brought')" >/dev/null
check "the promoted server takes writes" '[ $? -eq 0 ]'
t0=$(date +%s)
wait_hook C-INF-02 was_not_brought 40
ok2=$?
took=$(($(date +%s) - t0))
check "a change on the promoted server reaches the webhook ($took s), without restarting the daemon" \
	'[ $ok2 -eq 0 ]'
check "... by NOTIFY: the notified child is evaluated, well within the $INTERVAL s poll" \
	'since_mark | grep -q "evaluated notified children" && [ "$took" -lt $((INTERVAL / 2)) ]'
check "... the daemon still runs" 'kill -0 "$daemon_pid" 2>/dev/null'
check "... and no evaluation failed" '! grep -Eiq "evaluation.*failed|failed.*evaluat" "$work/daemon.out"'

# ---- /metrics after the lead is lost ----
metric() { # NAME{LABELS}: its value from /metrics
	"$py" - "$http_port" "$1" <<'PY'
import sys, urllib.request
port, name = sys.argv[1:3]
try:
    text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % port, timeout=10).read().decode()
except Exception as e:
    print("error: %s" % e)
    sys.exit()
for line in text.splitlines():
    if line.startswith(name + " "):
        print(line.split(" ", 1)[1])
PY
}
failing='driftwatch_rule_failing{rule="was_not_brought"}'
check "/metrics: this instance leads (driftwatch_leader $(metric driftwatch_leader))" \
	'[ "$(metric driftwatch_leader)" = 1 ]'
# A relation gone makes the rules that read it fail; a NOTIFY has one child evaluated at once.
standby -c "ALTER TABLE casework.appointments RENAME TO appointments_away" >/dev/null
standby -c "NOTIFY driftwatch, 'C-INF-03'" >/dev/null
wait_for 20 test "$(metric "$failing")" = 1
check "a rule that fails on the promoted server shows in /metrics ($failing $(metric "$failing"))" \
	'[ "$(metric "$failing")" = 1 ]'
key="hashtext('driftwatch:driftwatch')::bigint"
state_sql() { psql_at "$pdir" "$pport" dwstate "$@"; }
# another session waits for the lock, and holds it once the daemon's session that held it ends
state_sql -c "SELECT pg_advisory_lock($key)" -c "SELECT pg_sleep(120)" >/dev/null 2>&1 &
holder_pid=$!
pids+=("$holder_pid")
wait_for 10 test "$(state_sql -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")" = 1
ended=$(state_sql -c "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype =
	'advisory' AND granted AND objsubid = 1 AND objid = ($key & 4294967295)::oid")
check "the session holding the daemon's leader lock is ended, and another takes the lock ($ended)" \
	'[ "$ended" = 1 ]'
wait_for 20 test "$(metric driftwatch_leader)" = 0
check "... the daemon says it no longer evaluates" \
	'grep -q "leader: this instance no longer evaluates" "$work/daemon.out"'
check "... /metrics: driftwatch_leader 0" '[ "$(metric driftwatch_leader)" = 0 ]'
check "... and $failing 0: a rule it no longer runs is not reported failing" \
	'[ "$(metric "$failing")" = 0 ]'
kill "$holder_pid" 2>/dev/null

# ---- the case database gone: the pages answer from the state ----
pg_stop "$sdir" >/dev/null 2>&1
check "the promoted server is stopped" '! standby -c "SELECT 1" >/dev/null 2>&1'
st=$(web_get /api/v1/alerts hos@la.example "$work/api_hos_down.json")
kids=$(alert_children "$work/api_hos_down.json")
check "with the case database down, /api/v1/alerts as the head of service still answers from the state (${st}: ${kids:-none})" \
	'[ "$st" = 200 ] && [[ " $kids " == *" C-INF-02 "* ]] && [[ " $kids " == *" C-INIT-1 "* ]]'
st=$(web_get /service hos@la.example "$work/page_service_down.html")
check "... and /service, the teams by their ids ($st)" \
	'[ "$st" = 200 ] && grep -q "T-D" "$work/page_service_down.html" &&
	 ! grep -q "Daemon test team" "$work/page_service_down.html"'
check "... saying in the log that the teams' names could not be read" \
	'grep -q "web: /service could not read the teams" "$work/daemon.out"'
kill -TERM "$daemon_pid"
wait_exit "$daemon_pid" 20
check "... and it stops cleanly" '[ "${rc:-x}" = 0 ]'
no_sanitizer_report "no sanitizer report from the daemon" "$work/daemon.out"
grep -E "standby|promot|database:" "$work/daemon.out" | head -n 8 | sed 's/^/# daemon: /'
tap_end
