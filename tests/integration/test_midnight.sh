#!/usr/bin/env bash
# test_midnight: time (issue 10, item 12), under one faked clock (libfaketime) shared by
# PostgreSQL, psql and the daemon: the clock starts at 23:59:00 Europe/London.
#   - a full evaluation that begins before midnight and is recorded just after it (a lock holds
#     it across midnight) must not cancel the new day's evaluation: the day after is evaluated
#     within seconds of midnight, not at the next interval (an hour here);
#   - --once --as-of a day earlier than the latest evaluation of everyone is refused.
# The plain build runs (AddressSanitizer must come first among preloaded libraries; libfaketime
# is preloaded here). Environment: DRIFTWATCHD_PLAIN (else DRIFTWATCHD), DW_TOP, TEST_TMPDIR.
# Needs Debian's faketime package (libfaketime).
# shellcheck disable=SC2016
set -u

top=${DW_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
daemon=${DRIFTWATCHD_PLAIN:-${DRIFTWATCHD:-$top/build/driftwatchd}}
lib=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/pg.sh"

require "libfaketime is installed (Debian's faketime package)" test -r "$lib"
require "the daemon is built ($daemon)" test -x "$daemon"
work=$(mktemp -d "${TEST_TMPDIR:-${TMPDIR:-/tmp}}/midnight.XXXXXX") || { notok "mktemp"; exit 1; }
chmod 0755 "$work"
pids=()
daemon_pid=
# libfaketime 0.9.10 leaves a semaphore and a shared memory object in /dev/shm for each process
# that loaded it, named by its pid and owned by its user. A later process of another user given
# the same pid (initdb, run as postgres) cannot make its own and fails with "sem_open failed
# and recreation attempts failed: Permission denied" (seen once in CI, with 30 left by earlier
# runs). Those of processes that are gone are removed, before and after.
faketime_sweep() {
	local f pid
	for f in /dev/shm/sem.faketime_sem_* /dev/shm/faketime_shm_*; do
		[ -e "$f" ] || continue
		pid=${f##*_}
		[ -d "/proc/$pid" ] || rm -f "$f" 2>/dev/null
	done
}
cleanup() {
	[ -n "$daemon_pid" ] && kill -KILL "$daemon_pid" 2>/dev/null
	stop_all "${pids[@]}"
	pg_stop "$work/pg" >/dev/null 2>&1
	[ -n "${KEEP_WORK:-}" ] || rm -rf "$work"
	LD_PRELOAD= faketime_sweep
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# One offset for every process from here on, so that they all agree what time it is. December:
# Europe/London is UTC.
day=$(date -u +%F)
target=$(date -u -d "$day 23:59:00" +%s)
off=$((target - $(date -u +%s)))
faketime_sweep
export LD_PRELOAD=$lib FAKETIME_NO_CACHE=1
case $off in -*) export FAKETIME="$off"s ;; *) export FAKETIME="+${off}s" ;; esac
note "faked clock: $(date -u '+%F %T') UTC (offset $off s)"
next=$(date -u -d "$day + 1 day" +%F)

pgport=$(first_free_port 15480 15520)
start_own_pg "$work/pg" "$pgport"
sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
check "PostgreSQL shares the faked clock" \
	'[ "$(sql -c "SELECT (now() AT TIME ZONE '"'"'Europe/London'"'"')::date")" = "$day" ]'
sql -v schema=casework -f "$top/rules/contract.sql" -f "$top/tests/fixtures/daemon.sql" \
	>"$work/load.log" 2>&1
cat >"$work/cfg.json" <<EOF
{ "database": { "conninfo": "host=127.0.0.1 port=$pgport dbname=$PGDATABASE user=$PGUSER",
                "query_timeout_seconds": 120 },
  "evaluation": { "interval_seconds": 3600 },
  "addresses": { "fallback": "duty@la.example" },
  "http": { "listen": null } }
EOF
"$daemon" -c "$work/cfg.json" --install-triggers >/dev/null 2>&1
"$daemon" -c "$work/cfg.json" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
pids+=("$daemon_pid")
evaluated() { grep -q "evaluated everyone as of $1" "$work/daemon.log"; }
check "the daemon evaluates $day at start (23:59:0x)" "wait_for 30 evaluated $day"

# At 23:59:40, a lock on cin_plans for 21 s, and a request to evaluate everyone: that
# evaluation begins before midnight and is recorded a second or two after it, before the
# midnight timer (00:00:05) fires; rescheduling that timer from "now" skipped the new day.
now_s() { date -u +%s; }
while [ "$(now_s)" -lt $((target + 40)) ]; do sleep 0.2; done
sql -c "BEGIN; LOCK TABLE casework.cin_plans IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(21); COMMIT" \
	>/dev/null 2>&1 &
pids+=($!)
sleep 1
sql -c "SELECT pg_notify('driftwatch_all', 'before midnight')" >/dev/null
recorded_late() { [ "$(grep -c "evaluated everyone as of $day" "$work/daemon.log" 2>/dev/null)" -ge 2 ]; }
check "the evaluation begun before midnight is recorded after it, as of $day" \
	'wait_for 60 recorded_late'
note "it was recorded at $(date -u '+%T') (faked)"
check "the new day ($next) is evaluated within 30 s of that, not at the next interval" \
	"wait_for 30 evaluated $next"
note "$(grep "evaluated everyone" "$work/daemon.log" | tail -3 | tr '\n' '|')"

"$daemon" -c "$work/cfg.json" --once --as-of "$day" >"$work/past.out" 2>&1
rc=$?
check "--once --as-of $day after $next was recorded: refused, exit 1" '[ $rc -eq 1 ]'
check "... saying why" 'grep -q "refusing to record $day" "$work/past.out"'
"$daemon" -c "$work/cfg.json" --once --dry-run --as-of "$day" >/dev/null 2>"$work/dry.out"
check "... while --dry-run of that day still works" '[ $? -eq 0 ]'
kill -TERM "$daemon_pid"
wait_exit "$daemon_pid" 15
daemon_pid=
tap_end
