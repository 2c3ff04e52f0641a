#!/usr/bin/env bash
# Runs the plain (unsanitised) daemon under valgrind over the boundary fixture: a dry run, two
# --once runs that record state and deliver to a webhook receiver, and --check-config. Every
# run must end with no memory error and no definite or indirect leak. Prints ok/not ok lines.
#
# Environment: DRIFTWATCHD_PLAIN (default build/driftwatchd), PGHOST PGPORT PGUSER PGDATABASE.
set -u

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
D=${DRIFTWATCHD_PLAIN:-$top/build/driftwatchd}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-15432} PGUSER=${PGUSER:-dwtest}
case $PGHOST in /*) PGHOST=127.0.0.1 ;; esac
DB=${PGDATABASE:-dwtest}
SCHEMA=vg_case
STATE=vg_state

. "$top/tests/lib/tap.sh"

if ! command -v valgrind >/dev/null 2>&1; then
	skip "valgrind runs" "valgrind is not installed"
	exit 0
fi
tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/dw-vg.XXXXXX") || exit 1
recv_pid=
cleanup() {
	[ -n "$recv_pid" ] && kill "$recv_pid" 2>/dev/null
	psql -qX -d "$DB" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE; DROP SCHEMA IF EXISTS $STATE CASCADE" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT

# report NAME STATUS [LOGFILE]: check_status, with LOGFILE's valgrind errors as the diagnostic
report() {
	local errors=
	[ -n "${3:-}" ] && errors=$(grep -E "==[0-9]+== (Invalid|Conditional|Use of|Syscall|.*definitely|.*indirectly|ERROR SUMMARY)" "$3" | head -20)
	check_status "$1" "$2" ${errors:+"$errors"}
}

psql -qX -v ON_ERROR_STOP=1 -d "$DB" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE; DROP SCHEMA IF EXISTS $STATE CASCADE" >/dev/null 2>&1 &&
psql -qX -v ON_ERROR_STOP=1 -d "$DB" -v schema=$SCHEMA -f "$top/rules/contract.sql" >/dev/null &&
psql -qX -v ON_ERROR_STOP=1 -d "$DB" -v schema=$SCHEMA -f "$top/tests/fixtures/boundaries.sql" >/dev/null 2>"$tmp/load.err"
report "load the boundary fixture into $SCHEMA" $? "$tmp/load.err"

port=$((PGPORT + 4000))
/usr/bin/python3 "$top/tests/integration/webhook_receiver.py" --port 0 --log "$tmp/hooks.jsonl" \
	--lifetime 600 --ready-file "$tmp/hook.port" >/dev/null 2>&1 &
recv_pid=$!
wait_for 10 test -s "$tmp/hook.port"
port=$(cat "$tmp/hook.port")
cat > "$tmp/cfg.json" <<JSON
{ "database": { "conninfo": "host=$PGHOST port=$PGPORT dbname=$DB user=$PGUSER",
                "case_schema": "$SCHEMA", "state_schema": "$STATE" },
  "link_template": "https://lcs.example.gov.uk/person/{child_id}",
  "addresses": { "fallback": "duty@la.example", "cp_chair": "chairs@la.example" },
  "webhooks": [ { "url": "http://127.0.0.1:$port/hook",
                  "secret": "whsec_c2VjcmV0LXRlc3Qtc2VjcmV0LWRvLW5vdC1sZWFrLTEyMzQ1Ng==" } ] }
JSON

vg() { # NAME ARGS...
	local name=$1
	shift
	valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
		--log-file="$tmp/vg.log" "$D" -c "$tmp/cfg.json" "$@" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	if [ $rc -eq 99 ] || grep -q "ERROR SUMMARY: [1-9]" "$tmp/vg.log" 2>/dev/null; then
		report "$name: valgrind finds nothing" 1 "$tmp/vg.log"
	else
		report "$name: valgrind finds nothing" 0
	fi
	report "$name: exits 0" $rc "$tmp/err"
}

vg "--check-config" --check-config
vg "--once --dry-run" --once --dry-run --as-of 2026-11-21
vg "--once (record and deliver)" --once --as-of 2026-11-21
vg "--once the next day" --once --as-of 2026-11-22
n=$(wc -l < "$tmp/hooks.jsonl" 2>/dev/null || echo 0)
[ "$n" -gt 0 ]
report "webhooks arrived while running under valgrind ($n)" $?
tap_end
