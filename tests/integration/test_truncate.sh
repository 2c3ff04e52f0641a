#!/usr/bin/env bash
# test_truncate: a TRUNCATE of a contract table (how many reporting copies are refreshed each
# night) fires no row trigger; --install-triggers adds a statement trigger that makes the
# running daemon evaluate everyone at once, so the children whose rows vanished have their
# alerts resolved now, not at the next poll. Also: --remove-triggers takes both triggers and
# both functions away. Real PostgreSQL (tests/run.sh's), a real webhook receiver, the sanitizer
# build. Environment: DRIFTWATCHD, PGHOST PGPORT PGUSER PGDATABASE, TEST_TMPDIR.
set -u

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$top/tests/integration
D=${DRIFTWATCHD:-$top/build/san/driftwatchd}
py=/usr/bin/python3
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-15432} PGUSER=${PGUSER:-dwtest}
case $PGHOST in /*) PGHOST=127.0.0.1 ;; esac
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
DB=${PGDATABASE:-dwtest}
CASE=trunc_case
STATE=trunc_state
. "$top/tests/lib/tap.sh"

tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/dw-trunc.XXXXXX") || { notok "mktemp"; exit 1; }
pids=()
daemon_pid=
q() { psql -qXAt -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }
drop_schemas() { q "DROP SCHEMA IF EXISTS $CASE CASCADE; DROP SCHEMA IF EXISTS $STATE CASCADE" >/dev/null 2>&1; }
cleanup() {
	[ -n "$daemon_pid" ] && kill -KILL "$daemon_pid" 2>/dev/null
	stop_all "${pids[@]}"
	drop_schemas
	rm -rf "$tmp"
}
trap cleanup EXIT

drop_schemas
psql -qX -v ON_ERROR_STOP=1 -d "$DB" -v schema=$CASE -f "$top/rules/contract.sql" \
	-f "$top/tests/fixtures/daemon.sql" >/dev/null 2>"$tmp/load.err"
check_status "load rules/contract.sql and tests/fixtures/daemon.sql" $? "$(head -3 "$tmp/load.err")"

"$py" "$here/webhook_receiver.py" --port 0 --log "$tmp/hooks.jsonl" --lifetime 600 \
	--ready-file "$tmp/hooks.port" >/dev/null 2>"$tmp/hooks.err" &
pids+=($!)
if ! wait_for 10 test -s "$tmp/hooks.port"; then
	notok "the webhook receiver starts" "$(cat "$tmp/hooks.err")"
	exit 1
fi
http_port=$(free_port)
cat >"$tmp/cfg.json" <<JSON
{ "database": { "conninfo": "host=$PGHOST port=$PGPORT dbname=$DB user=$PGUSER",
                "case_schema": "$CASE", "state_schema": "$STATE" },
  "timezone": "Europe/London",
  "addresses": { "fallback": "duty@la.example", "cp_chair": "cp-chairs@la.example" },
  "evaluation": { "interval_seconds": 3600 },
  "webhooks": [ { "url": "http://127.0.0.1:$(cat "$tmp/hooks.port")/hook",
                  "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" } ],
  "http": { "listen": "127.0.0.1:$http_port" } }
JSON
chmod 0600 "$tmp/cfg.json"

triggers() { # NAME: how many triggers of that name the case schema's tables have
	q "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
	   JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '$CASE' AND t.tgname = '$1'"
}
"$D" -c "$tmp/cfg.json" --install-triggers >"$tmp/install.out" 2>&1
check_status "--install-triggers succeeds" $? "$(cat "$tmp/install.out")"
n=$(triggers driftwatch_notify_truncate)
check "a TRUNCATE trigger on each of the 9 contract tables (found $n)" '[ "$n" = 9 ]'

"$D" -c "$tmp/cfg.json" >"$tmp/daemon.out" 2>"$tmp/daemon.err" &
daemon_pid=$!
pids+=("$daemon_pid")
wait_hook() { # CHILD TYPE: the webhook of cp_neglect_duration of that type arrives for CHILD
	"$py" "$here/daemon_probe.py" wait-webhook --log "$tmp/hooks.jsonl" --child "$1" \
		--rule cp_neglect_duration --type "$2" --timeout 60 >/dev/null
}
if wait_hook C-INIT-1 alert.firing; then
	ok "the initial evaluation's webhook arrives (C-INIT-1, cp_neglect_duration)"
else
	notok "the initial evaluation's webhook arrives (C-INIT-1, cp_neglect_duration)" \
		"$(tail -20 "$tmp/daemon.err")"
	exit 1
fi
wait_for 30 grep -q "evaluated everyone" "$tmp/daemon.err"
n_full=$(grep -c "evaluated everyone" "$tmp/daemon.err")
check "one full evaluation at start, not two ($n_full)" '[ "$n_full" = 1 ]'

# The interval is an hour: only the TRUNCATE's notification can bring the resolution now.
t0=$(date +%s.%N)
q "TRUNCATE $CASE.cp_plans"
if wait_hook C-INIT-1 alert.resolved; then
	ok "after TRUNCATE cp_plans the alert's resolution arrives ($(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s)"
else
	notok "after TRUNCATE cp_plans the alert's resolution arrives" "$(tail -20 "$tmp/daemon.err")"
fi
check "the daemon says why it evaluates everyone" \
	'grep -q "notified of a change to every child (cp_plans): evaluating everyone" "$tmp/daemon.err"'
n_full=$(grep -c "evaluated everyone" "$tmp/daemon.err")
check "the TRUNCATE caused exactly one more full evaluation ($n_full in all)" '[ "$n_full" = 2 ]'

kill -TERM "$daemon_pid"
if wait_exit "$daemon_pid" 15; then
	check "SIGTERM: the daemon exits 0 (status $rc)" '[ "$rc" = 0 ]'
else
	notok "SIGTERM: the daemon exits within 15 s"
fi
daemon_pid=
no_sanitizer_report "no sanitizer report from the daemon" "$tmp/daemon.err"

"$D" -c "$tmp/cfg.json" --remove-triggers >"$tmp/remove.out" 2>&1
check_status "--remove-triggers succeeds" $? "$(cat "$tmp/remove.out")"
n=$(triggers driftwatch_notify_truncate)
n_fn=$(q "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
	  WHERE n.nspname = '$STATE' AND p.proname IN ('notify_child', 'notify_all')")
check "--remove-triggers leaves no TRUNCATE trigger ($n) and no trigger function ($n_fn)" \
	'[ "$n" = 0 ] && [ "$n_fn" = 0 ]'
tap_end
