#!/usr/bin/env bash
# test_privileges: least privilege that works (issue 10, item 10). A council's administrator
# gives driftwatch a role that may SELECT the contract views and owns a state schema made for it,
# and nothing else (no CREATE on the database, no table of the case system). Then:
#   - --check-config says the configuration is good, --once records, --install-triggers (every
#     relation a view) installs nothing, creates nothing and succeeds;
#   - with a grant missing (SELECT on one view; no state schema and no CREATE on the database;
#     a state table that belongs to another role), --check-config names each one with the
#     statement that gives it, and exits 2.
# Then issue 15, item 3: the grants a DBA runs are the ones --print-grants prints.
#   - run as they are (psql, ON_ERROR_STOP) by the superuser, they make a role that is no
#     superuser, reads the nine contract tables and writes nothing of the case system's;
#   - --check-config with that role is good and warns of nothing; the daemon, with that role,
#     makes its full evaluation and the webhooks arrive at a real receiver, with no warning;
#   - the tables' owner (no superuser) installs the NOTIFY triggers as the printed note says,
#     and a role that only writes a case table still can (it has no USAGE on the state schema);
#   - a role with more (INSERT on a contract table, pg_write_all_data, superuser) is named in
#     --check-config's warnings (still exit 0) and in the daemon's log at start.
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
check_refuses() { # NAME PATTERN: --check-config on good.json exits 2 with a line matching it
	local out="$work/check.$RANDOM.out"
	"$daemon" -c "$work/good.json" --check-config >"$out" 2>&1
	rc=$?
	want=$2 said=$out
	check "$1" '[ $rc -eq 2 ] && grep -q "$want" "$said"'
	[ $rc -eq 2 ] || diag "$out"
}
# a release rolled back over a newer one's state (audit 9): the daemon would never evaluate
sql -c "INSERT INTO lp_state.schema_version (version) VALUES (99)" >/dev/null
check_refuses "--check-config exits 2 on a state schema newer than the binary, saying so" \
	"state schema is at version 99, newer than this driftwatchd knows"
sql -c "DELETE FROM lp_state.schema_version WHERE version = 99" >/dev/null
"$daemon" -c "$work/good.json" --install-triggers >"$work/trig.out" 2>&1
rc=$?
check "--install-triggers with every relation a view: exits 0" '[ $rc -eq 0 ]'
[ $rc -eq 0 ] || diag "$work/trig.out"
check "... and says polling covers them" 'grep -q "no table to install triggers on" "$work/trig.out"'
check "... and created nothing" \
	'[ "$(sql -c "SELECT count(*) FROM pg_proc WHERE proname LIKE '"'"'notify%'"'"' AND pronamespace = '"'"'lp_state'"'"'::regnamespace")" = 0 ]'
no_sanitizer_report "no sanitizer report" "$work/once.out"

# ---- grants missing ----
# SELECT on every view but no USAGE on their schema (audit 9): every rule would fail
sql -c "REVOKE USAGE ON SCHEMA lp_case FROM lp_ro" >/dev/null
check_refuses "--check-config exits 2 without USAGE on the case schema, naming the GRANT" \
	"schema lp_case: this user may not use it.*GRANT USAGE ON SCHEMA lp_case"
sql -c "GRANT USAGE ON SCHEMA lp_case TO lp_ro" >/dev/null
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

# ---- issue 15, item 3: the grants --print-grants prints, and nothing more ----
here=$top/tests/integration
py=/usr/bin/python3
pids=()
trap 'stop_all "${pids[@]}"; rm -rf "$work"' EXIT
if ! sql >"$work/gr_setup.log" 2>&1 <<EOF
SET client_min_messages = warning;
CREATE ROLE gr_owner LOGIN;
CREATE ROLE gr_writer LOGIN;
CREATE SCHEMA gr_case AUTHORIZATION gr_owner;
GRANT USAGE ON SCHEMA gr_case TO gr_writer;
EOF
then
	notok "set up the case tables' owner" "$(cat "$work/gr_setup.log")"
	exit 1
fi
PGUSER=gr_owner sql -v schema=gr_case -f "$top/rules/contract.sql" -f "$top/tests/fixtures/daemon.sql" \
	>"$work/gr_load.log" 2>&1
check "the case tables belong to gr_owner, no superuser" '[ $? -eq 0 ]'
# contract.sql's CREATE SCHEMA IF NOT EXISTS asks for CREATE on the database: revoked only now.
sql -c "GRANT INSERT ON gr_case.children TO gr_writer" -c "REVOKE CREATE ON DATABASE \"$db\" FROM PUBLIC" \
	-c "REVOKE CREATE ON SCHEMA public FROM PUBLIC" >/dev/null

"$py" "$here/webhook_receiver.py" --port 0 --log "$work/hooks.jsonl" --lifetime 600 \
	--ready-file "$work/hooks.port" >/dev/null 2>"$work/hooks.err" &
pids+=($!)
require "the webhook receiver starts" wait_for 10 test -s "$work/hooks.port"
hooks_url=http://127.0.0.1:$(cat "$work/hooks.port")/hook
http_port=$(free_port)

gr_config() { # FILE USER
	cat >"$1" <<EOF
{ "database": { "conninfo": "host=127.0.0.1 port=$PGPORT dbname=$db user=$2",
                "case_schema": "gr_case", "state_schema": "gr_state" },
  "addresses": { "fallback": "duty@la.example" },
  "webhooks": [ { "url": "$hooks_url", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" } ],
  "http": { "listen": "127.0.0.1:$http_port" } }
EOF
}
gr_config "$work/gr.json" gr_dw
gr_config "$work/gr_owner.json" gr_owner
gr_config "$work/gr_super.json" "$PGUSER"

"$daemon" -c "$work/gr.json" --print-grants >"$work/grants.sql" 2>"$work/grants.err"
rc=$?
check "--print-grants exits 0 without a database to ask" '[ $rc -eq 0 ] && [ ! -s "$work/grants.err" ]'
# Every statement, comments and blank lines aside, on a line of its own.
grep -v '^--' "$work/grants.sql" | grep -v '^$' | tr '\n' ' ' | sed 's/; */;\n/g; s/  */ /g' \
	>"$work/grants.stmts"
note "--print-grants printed $(grep -c . "$work/grants.stmts") statements"
q() { printf '"%s"' "$1"; }
sel="GRANT SELECT ON"
for r in teams workers children allocations referrals cin_plans cp_plans appointments strategies; do
	sel="$sel $(q gr_case).$(q $r),"
done
sel="${sel%,} TO $(q gr_dw);"
cat >"$work/grants.want" <<EOF
CREATE ROLE "gr_dw" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
GRANT CONNECT ON DATABASE "$db" TO "gr_dw";
GRANT USAGE ON SCHEMA "gr_case" TO "gr_dw";
$sel
CREATE SCHEMA "gr_state" AUTHORIZATION "gr_dw";
EOF
check "... exactly: a LOGIN role that is no superuser, CONNECT, USAGE on the case schema, SELECT on the nine relations, its own state schema" \
	'diff -u "$work/grants.want" "$work/grants.stmts" >"$work/grants.diff"'
[ -s "$work/grants.diff" ] && diag "$work/grants.diff"
check "... and notes the triggers as the owner's job" \
	'grep -q "^--   GRANT USAGE, CREATE ON SCHEMA \"gr_state\" TO the_case_tables_owner;" "$work/grants.sql"'
sql -f "$work/grants.sql" >"$work/grants.run" 2>&1
rc=$?
check "the superuser runs the printed SQL as it is (psql -v ON_ERROR_STOP=1)" '[ $rc -eq 0 ]'
[ $rc -eq 0 ] || diag "$work/grants.run"
privs=$(sql -c "SELECT count(*) FILTER (WHERE has_table_privilege('gr_dw', c.oid, 'SELECT'))
	|| '/' || count(*) FILTER (WHERE has_table_privilege('gr_dw', c.oid,
	                                                     'INSERT,UPDATE,DELETE,TRUNCATE'))
	FROM pg_class c WHERE c.relnamespace = 'gr_case'::regnamespace AND c.relkind = 'r'")
check "the role may read the nine relations and write none of them ($privs)" '[ "$privs" = 9/0 ]'
attrs=$(sql -c "SELECT r.rolsuper::text || ' ' || has_database_privilege('gr_dw', current_database(),
	'CREATE')::text || ' ' || (n.nspowner = r.oid)::text
	FROM pg_roles r, pg_namespace n WHERE r.rolname = 'gr_dw' AND n.nspname = 'gr_state'")
check "... is no superuser, may not create in the database, owns its state schema ($attrs)" \
	'[ "$attrs" = "false false true" ]'

"$daemon" -c "$work/gr.json" --check-config >"$work/gr_check.out" 2>&1
rc=$?
check "--check-config with exactly the printed grants: good" '[ $rc -eq 0 ]'
[ $rc -eq 0 ] || diag "$work/gr_check.out"
check "... and no warning about privileges" '! grep -q "more than driftwatch needs" "$work/gr_check.out"'
check "... nor of row-level security" '! grep -q "row-level security" "$work/gr_check.out"'

# Row-level security on a contract table hides the rows its policies filter, without a word
# (an audit lost a child's 15-month escalation so): --check-config and the start warn.
sql -c "ALTER TABLE gr_case.cp_plans ENABLE ROW LEVEL SECURITY" \
	-c "CREATE POLICY gr_hide ON gr_case.cp_plans USING (child_id <> 'C-CP-15')" >/dev/null
"$daemon" -c "$work/gr.json" --check-config >"$work/gr_rls.out" 2>&1
rc=$?
check "row-level security on cp_plans: --check-config warns, naming the table and the role (exit 0)" \
	'[ $rc -eq 0 ] && grep -q "warning: relation gr_case.cp_plans: row-level security is enabled on gr_case.cp_plans: rows its policies hide from role gr_dw" "$work/gr_rls.out"'
[ $rc -eq 0 ] || diag "$work/gr_rls.out"
"$daemon" -c "$work/gr.json" --once --dry-run >"$work/gr_rls_dry.out" 2>"$work/gr_rls_dry.err"
check "... and a one-shot run says so at start" \
	'grep -q "^<4>database (.*): relation gr_case.cp_plans: row-level security is enabled" "$work/gr_rls_dry.err"'
sql -c "DROP POLICY gr_hide ON gr_case.cp_plans" \
	-c "ALTER TABLE gr_case.cp_plans DISABLE ROW LEVEL SECURITY" >/dev/null

# A column-level grant that leaves chair_id out: the rules fail with "permission denied for
# table cp_plans", which names no column; --check-config names it (it named the relation).
sql -c "REVOKE SELECT ON gr_case.cp_plans FROM gr_dw" \
	-c "GRANT SELECT (plan_id, child_id, start_date, end_date, initial_category, latest_category) ON gr_case.cp_plans TO gr_dw" >/dev/null
"$daemon" -c "$work/gr.json" --check-config >"$work/gr_col.out" 2>&1
rc=$?
check "a column-level grant without cp_plans.chair_id: --check-config exits 2 naming the column and its GRANT" \
	'[ $rc -eq 2 ] && grep -q "column gr_case.cp_plans.chair_id: this user may not SELECT it.*GRANT SELECT (chair_id) ON gr_case.cp_plans" "$work/gr_col.out" && ! grep -q "relation gr_case.cp_plans: this user may not" "$work/gr_col.out"'
[ $rc -eq 2 ] || diag "$work/gr_col.out"
sql -c "REVOKE SELECT (plan_id, child_id, start_date, end_date, initial_category, latest_category) ON gr_case.cp_plans FROM gr_dw" \
	-c "GRANT SELECT ON gr_case.cp_plans TO gr_dw" >/dev/null

# The tables' owner installs the triggers, as the printed note says.
sql -c 'GRANT USAGE, CREATE ON SCHEMA gr_state TO gr_owner' >/dev/null
"$daemon" -c "$work/gr_owner.json" --install-triggers >"$work/gr_trig.out" 2>&1
rc=$?
check "the tables' owner (no superuser) installs the NOTIFY triggers" \
	'[ $rc -eq 0 ] && grep -q "installed on 9 tables of schema gr_case" "$work/gr_trig.out"'
[ $rc -eq 0 ] || diag "$work/gr_trig.out"
PGUSER=gr_writer sql -c "INSERT INTO gr_case.children (child_id, family_id) VALUES ('C-GR-W', 'F-GR-W')" \
	>"$work/gr_writer.out" 2>&1
rc=$?
check "a role that only writes a case table still can (it has no USAGE on the state schema)" '[ $rc -eq 0 ]'
[ $rc -eq 0 ] || diag "$work/gr_writer.out"

# The daemon with that role: the full evaluation, the webhooks, no warning.
"$daemon" -c "$work/gr.json" >"$work/gr_daemon.out" 2>&1 &
daemon_pid=$!
pids+=("$daemon_pid")
hooks_for() { grep -q "$1" "$work/hooks.jsonl" 2>/dev/null; }
all_init() { hooks_for C-INIT-1 && hooks_for C-INIT-2 && hooks_for C-INIT-3; }
wait_for 60 all_init
check "the daemon with exactly those grants evaluates, and the webhooks arrive (C-INIT-1..3)" 'all_init'
n_alerts=$(sql -c "SELECT count(*) FROM gr_state.alerts WHERE child_id LIKE 'C-INIT-%'")
check "... its state recorded in gr_state ($n_alerts alerts for C-INIT-*)" '[ "${n_alerts:-0}" -ge 3 ]'
kill -TERM "$daemon_pid"
wait_exit "$daemon_pid" 20
check "... and it stops cleanly" '[ "${rc:-x}" = 0 ]'
check "... having warned of nothing about its privileges" '! grep -q "more than driftwatch needs" "$work/gr_daemon.out"'
no_sanitizer_report "no sanitizer report from the daemon" "$work/gr_daemon.out"

# More than it needs: named, not refused.
sql -c "GRANT INSERT, UPDATE ON gr_case.children TO gr_dw" >/dev/null
"$daemon" -c "$work/gr.json" --check-config >"$work/gr_more.out" 2>&1
rc=$?
check "--check-config with INSERT, UPDATE on a contract table: still exit 0" '[ $rc -eq 0 ]'
check "... with a warning naming the role, the privileges and the table" \
	'grep -q "database.conninfo: warning: role gr_dw has more than driftwatch needs: it may INSERT, UPDATE on gr_case.children" "$work/gr_more.out"'
sql -c "REVOKE INSERT, UPDATE ON gr_case.children FROM gr_dw" -c "GRANT pg_write_all_data TO gr_dw" >/dev/null
"$daemon" -c "$work/gr.json" --check-config >"$work/gr_more2.out" 2>&1
check "... and membership of pg_write_all_data" \
	'grep -q "role gr_dw has more than driftwatch needs: it is a member of pg_write_all_data" "$work/gr_more2.out"'
sql -c "REVOKE pg_write_all_data FROM gr_dw" >/dev/null
"$daemon" -c "$work/gr_super.json" >"$work/gr_super.out" 2>&1 &
daemon_pid=$!
pids+=("$daemon_pid")
wait_for 30 grep -q "more than driftwatch needs" "$work/gr_super.out"
sleep 1
check "the daemon connected as a superuser says so, once, at start" \
	'[ "$(grep -c "database (database.conninfo): role $PGUSER has more than driftwatch needs: it is a superuser" "$work/gr_super.out")" = 1 ]'
kill -TERM "$daemon_pid"
wait_exit "$daemon_pid" 20
no_sanitizer_report "no sanitizer report from the superuser's daemon" "$work/gr_super.out"
sql -c "GRANT CREATE ON DATABASE \"$db\" TO PUBLIC" -c "GRANT CREATE ON SCHEMA public TO PUBLIC" >/dev/null
tap_end
