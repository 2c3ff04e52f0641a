#!/usr/bin/env bash
# test_privileges: least privilege that works (issue 10, item 10). A council's administrator
# gives driftwatch a role that may SELECT the contract views and owns a state schema made for it,
# and nothing else (no CREATE on the database, no table of the case system). Then:
#   - --check-config says the configuration is good, --once records, --install-triggers (every
#     relation a view) installs nothing, creates nothing and succeeds;
#   - with a grant missing (SELECT on one view; no state schema and no CREATE on the database;
#     a state table that belongs to another role), --check-config names each one with the
#     statement that gives it, and exits 2.
# Environment: DRIFTWATCHD, DW_TOP, TEST_TMPDIR and the test server's PG* (tests/run.sh).
# shellcheck disable=SC2016
set -u

top=${DW_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
daemon=${DRIFTWATCHD:-$top/build/san/driftwatchd}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

. "$top/tests/lib/tap.sh"

work=$(mktemp -d "${TEST_TMPDIR:-${TMPDIR:-/tmp}}/privileges.XXXXXX") || { notok "mktemp"; exit 1; }
trap 'rm -rf "$work"' EXIT
require "the daemon is built ($daemon)" test -x "$daemon"
sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
db=$(sql -c "SELECT current_database()")

views=""
for r in teams workers children allocations referrals cin_plans cp_plans appointments strategies; do
	views="$views CREATE VIEW lp_case.$r AS SELECT * FROM lp_base.$r;"
done
if ! sql >"$work/setup.log" 2>&1 <<EOF
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS lp_case CASCADE;
DROP SCHEMA IF EXISTS lp_base CASCADE;
DROP SCHEMA IF EXISTS lp_state CASCADE;
DROP SCHEMA IF EXISTS lp_missing CASCADE;
DO \$\$ BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'lp_ro') THEN
        DROP OWNED BY lp_ro;
    END IF;
END \$\$;
DROP ROLE IF EXISTS lp_ro;
CREATE ROLE lp_ro LOGIN;
REVOKE CREATE ON DATABASE "$db" FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
CREATE SCHEMA lp_base;
CREATE SCHEMA lp_case;
EOF
then
	notok "set up the schemas and the role" "$(cat "$work/setup.log")"
	exit 1
fi
sql -v schema=lp_base -f "$top/rules/contract.sql" -f "$top/tests/fixtures/daemon.sql" >"$work/load.log" 2>&1
sql -c "$views" -c "GRANT USAGE ON SCHEMA lp_case TO lp_ro" \
	-c "GRANT SELECT ON ALL TABLES IN SCHEMA lp_case TO lp_ro" \
	-c "CREATE SCHEMA lp_state AUTHORIZATION lp_ro" >>"$work/load.log" 2>&1
check "the views and a state schema owned by lp_ro are there" '[ $? -eq 0 ]'
check "lp_ro may not create anything in the database" \
	'[ "$(sql -c "SELECT has_database_privilege('"'"'lp_ro'"'"', current_database(), '"'"'CREATE'"'"')")" = f ]'

config() { # FILE STATE_SCHEMA
	cat >"$1" <<EOF
{ "database": { "conninfo": "host=127.0.0.1 port=$PGPORT dbname=$db user=lp_ro",
                "case_schema": "lp_case", "state_schema": "$2" },
  "addresses": { "fallback": "duty@la.example" },
  "webhooks": [ { "url": "http://127.0.0.1:9/none", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" } ] }
EOF
}
config "$work/good.json" lp_state
config "$work/missing.json" lp_missing

"$daemon" -c "$work/good.json" --check-config >"$work/check.out" 2>&1
rc=$?
check "--check-config: good, with SELECT on the views and a state schema of its own" '[ $rc -eq 0 ]'
[ $rc -eq 0 ] || diag "$work/check.out"
"$daemon" -c "$work/good.json" --once --as-of 2026-11-21 >"$work/once.out" 2>&1
rc=$?
check "--once migrates the schema a DBA made and records" \
	'[ $rc -eq 0 ] && [ "$(sql -c "SELECT max(version) FROM lp_state.schema_version")" -ge 2 ]'
[ $rc -eq 0 ] || diag "$work/once.out"
"$daemon" -c "$work/good.json" --install-triggers >"$work/trig.out" 2>&1
rc=$?
check "--install-triggers with every relation a view: exits 0" '[ $rc -eq 0 ]'
[ $rc -eq 0 ] || diag "$work/trig.out"
check "... and says polling covers them" 'grep -q "no table to install triggers on" "$work/trig.out"'
check "... and created nothing" \
	'[ "$(sql -c "SELECT count(*) FROM pg_proc WHERE proname LIKE '"'"'notify%'"'"' AND pronamespace = '"'"'lp_state'"'"'::regnamespace")" = 0 ]'
no_sanitizer_report "no sanitizer report" "$work/once.out"

# ---- grants missing ----
sql -c "REVOKE SELECT ON lp_case.appointments FROM lp_ro" \
	-c "CREATE TABLE lp_state.foreign_owned (x int)" >/dev/null
"$daemon" -c "$work/good.json" --check-config >"$work/check2.out" 2>&1
rc=$?
check "--check-config exits 2 when a grant is missing" '[ $rc -eq 2 ]'
check "... naming the view it cannot read, with the GRANT" \
	'grep -q "relation lp_case.appointments: this user may not SELECT from it.*GRANT SELECT ON lp_case.appointments" "$work/check2.out"'
check "... and a state table it cannot migrate, with the statement" \
	'grep -q "ALTER TABLE lp_state.foreign_owned OWNER TO lp_ro;" "$work/check2.out"'
"$daemon" -c "$work/missing.json" --check-config >"$work/check3.out" 2>&1
rc=$?
check "--check-config: no state schema and no CREATE on the database is a problem" '[ $rc -eq 2 ]'
check "... naming the statement a DBA runs" \
	'grep -q "CREATE SCHEMA lp_missing AUTHORIZATION lp_ro;" "$work/check3.out"'
note "--check-config said: $(cat "$work/check2.out" "$work/check3.out" | grep -c .) lines"
sql -c "DROP TABLE lp_state.foreign_owned" -c "GRANT CREATE ON DATABASE \"$db\" TO PUBLIC" \
	-c "GRANT CREATE ON SCHEMA public TO PUBLIC" >/dev/null
tap_end
