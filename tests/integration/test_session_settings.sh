#!/usr/bin/env bash
# test_session_settings: what a DBA may set on driftwatch's role or database never changes an
# alert or stops its recording (found by an audit on a database driftwatch did not make):
#   - DateStyle 'SQL, DMY' put "15/06/2026" in every alert's as_of and stopped the escalation
#     of unanswered alerts ("could not start: no error");
#   - idle_in_transaction_session_timeout shorter than an evaluation ended the recording
#     transaction, which waits idle while the rules run: --once never recorded anything.
# Both are set on a database of its own here, with a strategies view that takes 3 s.
# Environment: DRIFTWATCHD, DW_TOP, TEST_TMPDIR and the test server's PG* (tests/run.sh).
# shellcheck disable=SC2016
set -u

top=${DW_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
daemon=${DRIFTWATCHD:-$top/build/san/driftwatchd}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
. "$top/tests/lib/tap.sh"

work=$(mktemp -d "${TEST_TMPDIR:-${TMPDIR:-/tmp}}/session.XXXXXX") || { notok "mktemp"; exit 1; }
trap 'rm -rf "$work"; psql -X -q -d postgres -c "DROP DATABASE IF EXISTS dwsession WITH (FORCE)" >/dev/null 2>&1' EXIT
require "the daemon is built ($daemon)" test -x "$daemon"
DB=dwsession
sql() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
sql -v schema=casework -f "$top/rules/contract.sql" -f "$top/tests/fixtures/daemon.sql" >/dev/null
sql >"$work/setup.log" 2>&1 <<'EOF'
-- the evaluation takes 3 s longer than the idle-in-transaction timeout below
ALTER TABLE casework.strategies RENAME TO strategies_t;
CREATE VIEW casework.strategies AS
    SELECT s.* FROM casework.strategies_t s CROSS JOIN (SELECT pg_sleep(3)) slow;
EOF
check "a strategies view that takes 3 s" '[ $? -eq 0 ]'
sql -c "ALTER DATABASE $DB SET DateStyle = 'SQL, DMY'" \
	-c "ALTER DATABASE $DB SET idle_in_transaction_session_timeout = '1s'" >/dev/null
check "the database sets DateStyle 'SQL, DMY' and idle_in_transaction_session_timeout 1 s" \
	'[ "$(sql -c "SHOW DateStyle")" = "SQL, DMY" ]'

# the fixture's dates are relative to the day it is loaded
DAY=$(sql -c "SELECT to_char(current_date, 'YYYY-MM-DD')")
cat >"$work/dw.json" <<EOF
{ "database": { "conninfo": "host=127.0.0.1 port=$PGPORT dbname=$DB user=$PGUSER",
                "case_schema": "casework", "state_schema": "sess_state" },
  "addresses": { "fallback": "duty@la.example", "head_of_service": "hos@la.example" } }
EOF

"$daemon" -c "$work/dw.json" --once --dry-run --as-of "$DAY" >"$work/dry.out" 2>"$work/dry.err"
rc=$?
check "--dry-run exits 0" '[ $rc -eq 0 ]'
check "every alert's as_of is written YYYY-MM-DD, not as the database's DateStyle" \
	'[ -s "$work/dry.out" ] && ! grep -v "\"as_of\":\"$DAY\"" "$work/dry.out" | grep -q .'
check "the summary names the day ISO too" 'grep -q "^driftwatch as of $DAY:" "$work/dry.err"'
[ $rc -eq 0 ] || diag <"$work/dry.err"

"$daemon" -c "$work/dw.json" --once --as-of "$DAY" >"$work/once.out" 2>"$work/once.err"
rc=$?
check "--once exits 0 though the evaluation outlasts the idle-in-transaction timeout" '[ $rc -eq 0 ]'
check "... and records the alerts" \
	'[ "$(sql -c "SELECT count(*) FROM sess_state.alerts")" -gt 0 ] &&
	 [ "$(sql -c "SELECT count(*) FROM sess_state.alerts")" = "$(grep -c . "$work/dry.out")" ]'
check "... and the escalation of unanswered alerts starts" \
	'! grep -q "escalating unanswered alerts: could not" "$work/once.err"'
check "the recorded as_of is a date" \
	'[ "$(sql -c "SELECT DISTINCT payload ->> '"'"'as_of'"'"' FROM sess_state.alerts")" = "$DAY" ]'
[ $rc -eq 0 ] || diag <"$work/once.err"
no_sanitizer_report "no sanitizer report" <(cat "$work/dry.err" "$work/once.err")
tap_end
