#!/usr/bin/env bash
# test_standby: the case data read from a real hot standby, the state kept on the primary
# (issue 15, item 2). A primary with the contract and the daemon fixture and a database of its
# own for the state (state.conninfo), and a streaming standby made from it with
# pg_basebackup -R, both run by the unprivileged user pg.sh uses. Then:
#   - --check-config is good; the daemon says once that the case database is a hot standby and
#     that it polls, evaluates from the standby (the initial webhooks arrive) and keeps its state
#     in the primary's state database;
#   - a change committed on the primary reaches the standby by replication and the webhook
#     receiver through the daemon's polling (no NOTIFY is sent by a standby);
#   - the standby is promoted (pg_ctl promote); the daemon carries on, and a change
#     committed on the promoted server reaches the receiver too.
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

base=${TEST_PGPORT:-56700}
pport=$(first_free_port $((base + 41)) $((base + 60)))
start_own_pg "$pdir" "$pport"
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
cfg=$work/driftwatch.json
cat >"$cfg" <<EOF
{ "database": { "conninfo": "host=127.0.0.1 port=$sport dbname=$PGDATABASE user=$PGUSER",
                "case_schema": "casework" },
  "state": { "conninfo": "host=127.0.0.1 port=$pport dbname=dwstate user=$PGUSER" },
  "evaluation": { "interval_seconds": 10 },
  "addresses": { "fallback": "duty@la.example" },
  "webhooks": [ { "url": "$hooks_url", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" } ],
  "http": { "listen": "127.0.0.1:$http_port" } }
EOF

"$daemon" -c "$cfg" --check-config >"$work/check.out" 2>&1
rc=$?
check "--check-config with the case data on the standby and the state on the primary: good" \
	'[ $rc -eq 0 ]'
[ $rc -eq 0 ] || diag "$work/check.out"

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
	'[ "$(grep -c "the case database (database.conninfo) is a hot standby: it sends no notifications, so changes are found by polling every 10 s" "$work/daemon.out")" = 1 ]'
n_state=$(psql_at "$pdir" "$pport" dwstate -c "SELECT count(*) FROM driftwatch.alerts WHERE child_id LIKE 'C-INIT-%'" 2>&1)
check "... its state is in the primary's state database ($n_state alerts for C-INIT-*)" \
	'[ "${n_state:-0}" -ge 3 ] 2>/dev/null'
check "... and nothing of it in the case database" \
	'[ "$(primary -c "SELECT count(*) FROM pg_namespace WHERE nspname = '"'"'driftwatch'"'"'")" = 0 ]'

primary -c "INSERT INTO casework.appointments VALUES ('APT-SB-1', 'C-INF-01', 'gp',
	now() - interval '1 hour', 'was_not_brought')" >/dev/null
t0=$(date +%s)
wait_hook C-INF-01 was_not_brought 40
ok1=$?
check "a change committed on the primary reaches the webhook through the standby's polling ($(($(date +%s) - t0)) s)" \
	'[ $ok1 -eq 0 ]'

(cd "$sdir" && _pg_as_owner "$PG_BINDIR/pg_ctl" -D "$sdir/data" -w -t 60 promote) \
	>"$work/promote.log" 2>&1
check "pg_ctl promote ends the standby's recovery" \
	'[ "$(standby -c "SELECT pg_is_in_recovery()")" = f ]'
standby -c "INSERT INTO casework.appointments VALUES ('APT-SB-2', 'C-INF-02', 'gp',
	now() - interval '1 hour', 'was_not_brought')" >/dev/null
check "the promoted server takes writes" '[ $? -eq 0 ]'
t0=$(date +%s)
wait_hook C-INF-02 was_not_brought 40
ok2=$?
check "the daemon carries on: a change on the promoted server reaches the webhook ($(($(date +%s) - t0)) s)" \
	'[ $ok2 -eq 0 ]'
check "... the daemon still runs" 'kill -0 "$daemon_pid" 2>/dev/null'
check "... and no evaluation failed" '! grep -Eiq "evaluation.*failed|failed.*evaluat" "$work/daemon.out"'
kill -TERM "$daemon_pid"
wait_exit "$daemon_pid" 20
check "... and it stops cleanly" '[ "${rc:-x}" = 0 ]'
no_sanitizer_report "no sanitizer report from the daemon" "$work/daemon.out"
grep -E "standby|promot|database:" "$work/daemon.out" | head -n 8 | sed 's/^/# daemon: /'
tap_end
