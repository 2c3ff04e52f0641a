#!/usr/bin/env bash
# test_notify: NOTIFY is unauthenticated input (issue 10, item 5). Any role that can connect may
# send NOTIFY driftwatch or driftwatch_all; a write to the case system must never fail because of
# driftwatch's triggers. Against the test PostgreSQL with the plain build (its memory is what is
# measured) and a real webhook receiver:
#   - 200 NOTIFY driftwatch_all over about 10 s cause a handful of full evaluations (at most one
#     in flight, one waiting, and one every 30 s at most), not one each;
#   - 20,000 notifications of distinct 7,000-byte child ids cost the daemon a bounded amount of
#     memory (it falls back to one full evaluation) and it goes on working;
#   - a payload with ESC and other control characters reaches the log escaped;
#   - with the triggers installed, inserting a row whose child_id is 8,000 bytes long succeeds,
#     and the daemon evaluates everyone instead;
#   - a change made after all that still reaches the webhook.
# Environment: DRIFTWATCHD_PLAIN (else DRIFTWATCHD), DW_TOP, TEST_TMPDIR, the test server's PG*.
# shellcheck disable=SC2016
set -u

top=${DW_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
here=$top/tests/integration
daemon=${DRIFTWATCHD_PLAIN:-${DRIFTWATCHD:-$top/build/driftwatchd}}
py=/usr/bin/python3
SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw

. "$top/tests/lib/tap.sh"

work=$(mktemp -d "${TEST_TMPDIR:-${TMPDIR:-/tmp}}/notify.XXXXXX") || { notok "mktemp"; exit 1; }
chmod 0755 "$work"
pids=()
daemon_pid=
cleanup() {
	[ -n "$daemon_pid" ] && kill -KILL "$daemon_pid" 2>/dev/null
	stop_all "${pids[@]}"
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

require "the daemon is built ($daemon)" test -x "$daemon"
sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
db=$(sql -c "SELECT current_database()")

sql -c "SET client_min_messages = warning" -c "DROP SCHEMA IF EXISTS nt CASCADE" \
	-c "DROP SCHEMA IF EXISTS nt_state CASCADE" >/dev/null
if ! sql -v schema=nt -f "$top/rules/contract.sql" -f "$top/tests/fixtures/daemon.sql" \
	>"$work/load.log" 2>&1; then
	notok "load the fixture" "$(cat "$work/load.log")"
	exit 1
fi

rm -f "$work/hooks.port"
"$py" "$here/webhook_receiver.py" --port 0 --log "$work/hooks.jsonl" --lifetime 600 \
	--ready-file "$work/hooks.port" >/dev/null 2>"$work/hooks.err" &
pids+=($!)
wait_for 10 test -s "$work/hooks.port" || { notok "webhook receiver starts"; exit 1; }
http_port=$(free_port)
cat >"$work/cfg.json" <<EOF
{ "database": { "conninfo": "host=127.0.0.1 port=$PGPORT dbname=$db user=$PGUSER",
                "case_schema": "nt", "state_schema": "nt_state" },
  "evaluation": { "interval_seconds": 3600 },
  "addresses": { "fallback": "duty@la.example" },
  "webhooks": [ { "url": "http://127.0.0.1:$(cat "$work/hooks.port")/hook", "secret": "$SECRET" } ],
  "http": { "listen": "127.0.0.1:$http_port" } }
EOF
"$daemon" -c "$work/cfg.json" --install-triggers >"$work/trig.out" 2>&1
check "--install-triggers" '[ $? -eq 0 ]'

# Its resident memory is measured below: AddressSanitizer keeps up to 256 MB of freed memory
# in quarantine (each notification's payload, freed, stays resident), which is the
# sanitizer's, not the daemon's. A small quarantine still finds a use after free.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4" \
	"$daemon" -c "$work/cfg.json" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
pids+=("$daemon_pid")
fulls() { local n; n=$(grep -c "evaluated everyone" "$work/daemon.log" 2>/dev/null); echo "${n:-0}"; }
started() { [ "$(fulls)" -ge 1 ]; }
check "the daemon evaluates everyone at start" 'wait_for 30 started'
rss() { awk '/^VmRSS/ {print $2}' "/proc/$daemon_pid/status"; }

# Each request below is logged when it is made, unless a full evaluation is already waiting
# (the gap): each step waits for the one asked for before it to run.
# ---- a flood of long child ids ----
rss0=$(rss)
$py - "$work/flood.sql" <<'EOF'
import sys
with open(sys.argv[1], "w") as f:
    for batch in range(20):
        f.write("BEGIN;\n")
        for i in range(1000):
            f.write("SELECT pg_notify('driftwatch', '%s%05d');\n" % ("C" * 6994, batch * 1000 + i))
        f.write("COMMIT;\n")
EOF
sql -f "$work/flood.sql" >/dev/null
sleep 3
rss1=$(rss)
note "20,000 notifications of 7,000-byte ids: VmRSS $rss0 kB -> $rss1 kB"
check "20,000 notified 7,000-byte ids grow the daemon by less than 16 MB" \
	'[ $((rss1 - rss0)) -lt 16384 ]'
check "... which evaluates everyone instead of holding them" \
	'grep -q "changed at once: evaluating everyone" "$work/daemon.log"'

n_full=$(fulls)
ran_since() { [ "$(fulls)" -gt "$n_full" ]; }
check "the full evaluation the flood asked for runs (within the 30 s gap)" 'wait_for 45 ran_since'

# ---- a storm of NOTIFY driftwatch_all ----
before=$(fulls)
evals_before=$(sql -c "SELECT count(*) FROM nt_state.evaluations")
t0=$(date +%s)
for i in $(seq 1 200); do
	printf "SELECT pg_notify('driftwatch_all', 'storm %d');\nSELECT pg_sleep(0.05);\n" "$i"
done | sql >/dev/null
secs=$(($(date +%s) - t0))
sleep 35   # the longest a request waits (the gap after the last full evaluation began)
storm=$(($(fulls) - before))
note "200 NOTIFY driftwatch_all in $secs s: $storm full evaluations (counted 35 s after)"
check "200 NOTIFY driftwatch_all over ${secs} s cause one or two full evaluations, not 200" \
	'[ "$storm" -ge 1 ] && [ "$storm" -le 2 ]'
check "... and as few rows in evaluations" \
	'[ $(($(sql -c "SELECT count(*) FROM nt_state.evaluations") - evals_before)) -le 2 ]'
check "the storm is logged once per evaluation asked for, not per message" \
	'[ "$(grep -c "notified of a change to every child (storm" "$work/daemon.log")" -le 2 ]'

# ---- control characters in a payload ----
sql -c "SELECT pg_notify('driftwatch_all', E'\\x1b[31mred\\x07bell')" >/dev/null
logged() { grep -q 'x1b\[31mred\\x07bell' "$work/daemon.log"; }
check "a payload's ESC and BEL reach the log escaped" 'wait_for 10 logged'
check "... and no raw ESC or BEL is in the log" '! grep -q $'"'"'[\x1b\x07]'"'"' "$work/daemon.log"'

n_full=$(fulls)
check "the full evaluation it asked for runs" 'wait_for 45 ran_since'

# ---- a child id too long to NOTIFY ----
long=$(printf 'L%.0s' $(seq 1 8000))
sql -c "INSERT INTO nt.children VALUES ('$long', NULL, current_date - 1000, NULL, false)" \
	>"$work/long.out" 2>&1
check "inserting a child whose id is 8,000 bytes succeeds with the triggers installed" '[ $? -eq 0 ]'
[ -s "$work/long.out" ] && diag "$work/long.out"
asked() { grep -q "a child id of 8000 bytes" "$work/daemon.log"; }
check "... and the daemon is asked to evaluate everyone" 'wait_for 40 asked'

# ---- staff: a supervisor's email changed ----
# (audit 15) teams and workers had no trigger: a supervisor's new email, a worker's new team or
# a team's new manager left every child's alerts going to the old person until the next full
# evaluation (an hour here). Now a row changed there asks for everyone. (The full evaluation
# the long id asked for runs first: a request made while one waits is that one.)
n_full=$(fulls)
wait_for 45 ran_since
sql -c "UPDATE nt.workers SET email = 'dsup-new@la.example' WHERE worker_id = 'W-DSUP'" >/dev/null
staff_asked() { grep -q "notified of a change to every child (workers)" "$work/daemon.log"; }
check "a worker's email changed: the daemon is asked to evaluate everyone" 'wait_for 40 staff_asked'
rerouted() { [ "$(sql -c "SELECT count(*) FROM nt_state.alerts WHERE status = 'firing'
	AND payload::text LIKE '%dsup-new@la.example%'")" -ge 1 ]; }
check "... and the supervisor's alerts go to the new address (within the 30 s gap)" \
	'wait_for 60 rerouted'

# ---- still working ----
sql -c "INSERT INTO nt.appointments VALUES ('AP-NT-1', 'C-INF-01', 'health_visiting',
	now() - interval '1 day', 'was_not_brought')" >/dev/null
arrived() { grep -q "C-INF-01" "$work/hooks.jsonl" 2>/dev/null; }
check "a change made afterwards still reaches the webhook" 'wait_for 40 arrived'
kill -TERM "$daemon_pid"
wait_exit "$daemon_pid" 15
check "the daemon stops with status 0" '[ "${rc:-1}" -eq 0 ]'
daemon_pid=
"$daemon" -c "$work/cfg.json" --remove-triggers >/dev/null 2>&1
tap_end
