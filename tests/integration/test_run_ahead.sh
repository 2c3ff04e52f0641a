#!/usr/bin/env bash
# test_run_ahead: a one-shot run evaluates on one connection, counts bad rows on a second and
# runs ahead, on a third, the rules the first has not reached (daemon/eval_ahead.c);
# the evaluating connection, done with its rules, counts bad rows the counting one has not come
# to. A --once whose recording lock another session holds for a few seconds waits before its
# first rule, so every later rule is run ahead, for certain:
#   - the alerts recorded (fingerprint, rule, stage, summary) and the bad rows counted are a dry
#     run's, and the log says which rules were run ahead;
#   - a rule that fails ahead (SELECT on appointments revoked) fails as it does at home: the
#     same message, the other rules recorded, exit 1 naming the failed ones;
#   - when the ahead connection's backend is ended while it holds the rules it ran ahead, the
#     evaluating connection runs them itself: every alert recorded, exit 0;
#   - when the counting connection begins late (a lock holds its first query), the evaluating
#     one, its rules read, waits for it before it ends the snapshot: bad rows still counted;
#   - when the counting connection is slow, the evaluating one counts the relations for it,
#     and the counts are the same; a count it takes that fails names a column of a type
#     outside the contract, as the counting connection's would;
#   - when the role's connection limit leaves no room for the connection that runs rules
#     ahead, the run says so and does everything on the others: same alerts, exit 0.
# Environment: DRIFTWATCHD, DWGEN, DW_TOP, TEST_TMPDIR and the test server's PG* (tests/run.sh).
# The checks are conditions in single quotes that check() evals, hence:
# shellcheck disable=SC2016
set -u

top=${DW_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
daemon=${DRIFTWATCHD:-$top/build/san/driftwatchd}
export DWGEN=${DWGEN:-$top/build/dwgen}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-15432} PGUSER=${PGUSER:-dwtest}
case $PGHOST in /*) PGHOST=127.0.0.1 ;; esac
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
T=2026-11-24
N=3000
HOLD=6    # seconds a lock is held: the work it holds back takes well under 1

. "$top/tests/lib/tap.sh"

work=$(mktemp -d "${TEST_TMPDIR:-${TMPDIR:-/tmp}}/run-ahead.XXXXXX") || { notok "mktemp"; exit 1; }
chmod 0755 "$work"
pids=()
sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
# check, with what to show when it fails (evaluated only then)
check_d() { # NAME CONDITION DIAGNOSTIC-COMMAND
	if eval "$2"; then ok "$1"; else notok "$1" "$(eval "$3")"; fi
}
drop_all() {
	sql >/dev/null 2>&1 <<'EOF'
DROP SCHEMA IF EXISTS ra CASCADE;
DROP SCHEMA IF EXISTS ra_s1 CASCADE;
DROP SCHEMA IF EXISTS ra_s2 CASCADE;
DROP SCHEMA IF EXISTS ra_s3 CASCADE;
DROP SCHEMA IF EXISTS ra_s4 CASCADE;
DROP SCHEMA IF EXISTS ra_s6 CASCADE;
DO $$ BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ra_ro') THEN
        DROP OWNED BY ra_ro;
    END IF;
END $$;
DROP ROLE IF EXISTS ra_ro;
EOF
}
cleanup() {
	stop_all "${pids[@]}"
	drop_all
	[ -n "${KEEP_WORK:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

require "the daemon is built ($daemon)" test -x "$daemon"
require "dwgen is built ($DWGEN)" test -x "$DWGEN"

# ---- a generated authority, and a role that reads it ----
drop_all
db=$(sql -c "SELECT current_database()")
bash "$top/bench/load.sh" --dsn "host=$PGHOST port=$PGPORT dbname=$db user=$PGUSER" \
	--children "$N" --seed 7 --as-of "$T" --schema ra --layout tables --shape dense \
	>"$work/load.log" 2>&1
check_status "load.sh loads $N children (dense shape) into ra" $? "$(cat "$work/load.log")"
sql >"$work/grant.log" 2>&1 <<EOF
CREATE ROLE ra_ro LOGIN;
GRANT USAGE ON SCHEMA ra TO ra_ro;
GRANT SELECT ON ALL TABLES IN SCHEMA ra TO ra_ro;
CREATE SCHEMA ra_s1 AUTHORIZATION ra_ro;
CREATE SCHEMA ra_s2 AUTHORIZATION ra_ro;
CREATE SCHEMA ra_s3 AUTHORIZATION ra_ro;
CREATE SCHEMA ra_s4 AUTHORIZATION ra_ro;
CREATE SCHEMA ra_s6 AUTHORIZATION ra_ro;
GRANT CREATE ON DATABASE "$db" TO ra_ro;
EOF
check_status "ra_ro may read ra and owns five state schemas" $? "$(cat "$work/grant.log")"

write_config() { # FILE STATE_SCHEMA [RULES]
	local rules=${3:-"{}"}
	cat >"$1" <<EOF
{
  "database": { "conninfo": "host=$PGHOST port=$PGPORT dbname=$db user=ra_ro",
                "case_schema": "ra", "state_schema": "$2" },
  "addresses": { "fallback": "duty@la.example", "operators": "ops@la.example",
                 "cp_chair": "chairs@la.example", "cp_manager": "cpm@la.example",
                 "head_of_service": "hos@la.example" },
  "rules": $rules,
  "webhooks": []
}
EOF
	chmod 0600 "$1"
}
for s in ra_s1 ra_s2 ra_s3 ra_s6; do write_config "$work/$s.json" "$s"; done
write_config "$work/ra_s4.json" ra_s4 \
	'{"was_not_brought": {"enabled": false}, "worker_change": {"enabled": false}}'

# The recording lock of a state schema (include/driftwatch/advlock.h), held by another session
# for HOLD seconds; returns once it is held.
hold_record_lock() { # STATE_SCHEMA
	rm -f "$work/held"
	{ echo "SELECT pg_advisory_lock(hashtext('driftwatch-record:$1')::bigint);"
	  echo "\\! touch $work/held"
	  echo "SELECT pg_sleep($HOLD);"; } | sql >/dev/null 2>&1 &
	pids+=($!)
	wait_for 10 test -e "$work/held"
}
# fingerprint, rule, stage and summary of each firing alert, sorted
recorded() { # STATE_SCHEMA
	sql -F $'\t' -c "SELECT fingerprint, rule, stage, payload->>'summary' FROM $1.alerts
	                 WHERE status = 'firing' ORDER BY 1"
}
dry_rows() { # FILE: the dry run's lines the same way
	jq -r '[.fingerprint, .rule, .stage, .summary] | @tsv' "$1" | LC_ALL=C sort
}
ahead_rules() { # LOG: the rules read from the ahead connection
	grep -F '(run ahead on another connection)' "$1" | sed 's/.*eval: rule \([a-z_]*\):.*/\1/' |
		LC_ALL=C sort | tr '\n' ' '
}
bad_rows() { grep '^  bad rows in ' "$1" | LC_ALL=C sort; }

# ---- the reference: a dry run ----
"$daemon" -c "$work/ra_s1.json" --once --dry-run --as-of "$T" >"$work/dry.out" 2>"$work/dry.err"
check "the dry run exits 0" '[ $? -eq 0 ]'
dry_rows "$work/dry.out" >"$work/dry.tsv"
rules_with_alerts=$(cut -f2 "$work/dry.tsv" | sort -u | wc -l)
check "the dry run has alerts of at least 5 rules ($rules_with_alerts)" '[ "$rules_with_alerts" -ge 5 ]'

# ---- held before its first rule, --once reads six rules from the ahead connection ----
check "another session holds ra_s1's recording lock" 'hold_record_lock ra_s1'
"$daemon" -c "$work/ra_s1.json" -v --once --as-of "$T" >"$work/once1.out" 2>"$work/once1.err"
rc=$?
check_d "--once exits 0" '[ "$rc" -eq 0 ]' 'tail -n 5 "$work/once1.err"' 
ahead=$(ahead_rules "$work/once1.err")
note "run ahead: $ahead"
check "every rule after the first was run ahead on another connection" \
	'[ "$ahead" = "cp_neglect_duration re_referral repeat_neglect_plan was_not_brought worker_change worker_churn " ]'
check "cin_neglect_duration, the first, ran on the evaluating connection" \
	'grep -q "eval: rule cin_neglect_duration: [0-9]* alerts in [0-9.]* s$" "$work/once1.err"'
recorded ra_s1 >"$work/once1.tsv"
check_d "the alerts recorded are the dry run's ($(wc -l <"$work/dry.tsv"))" \
	'cmp -s "$work/dry.tsv" "$work/once1.tsv"' 'diff "$work/dry.tsv" "$work/once1.tsv" | head -n 5' 
check_d "the bad rows counted are the dry run's" \
	'[ -n "$(bad_rows "$work/dry.err")" ] && [ "$(bad_rows "$work/dry.err")" = "$(bad_rows "$work/once1.err")" ]' \
	'diff <(bad_rows "$work/dry.err") <(bad_rows "$work/once1.err") | head -n 5' 

# ---- a rule that fails ahead fails as at home ----
sql -c "REVOKE SELECT ON ra.appointments FROM ra_ro" >/dev/null
"$daemon" -c "$work/ra_s2.json" --once --dry-run --as-of "$T" >"$work/dry2.out" 2>"$work/dry2.err"
check "without appointments, the dry run exits 1 naming was_not_brought and worker_change" \
	'[ $? -eq 1 ] && grep -q "rules failed: was_not_brought, worker_change" "$work/dry2.err"'
check "another session holds ra_s2's recording lock" 'hold_record_lock ra_s2'
"$daemon" -c "$work/ra_s2.json" -v --once --as-of "$T" >"$work/once2.out" 2>"$work/once2.err"
rc=$?
check "--once exits 1 naming the same two rules" \
	'[ "$rc" -eq 1 ] && grep -q "rules failed: was_not_brought, worker_change" "$work/once2.err"'
check "was_not_brought failed ahead, for want of appointments" \
	'grep -q "rule was_not_brought run ahead on another connection: failed" "$work/once2.err" &&
	 grep -q "rule was_not_brought failed: permission denied for table appointments" "$work/once2.err"'
check "the dry run, however its rules ran, says the same of it" \
	'grep -q "permission denied for table appointments" "$work/dry2.err"'
dry_rows "$work/dry2.out" >"$work/dry2.tsv"
recorded ra_s2 >"$work/once2.tsv"
check_d "the other rules' alerts are recorded, the dry run's without appointments ($(wc -l <"$work/dry2.tsv"))" \
	'[ -s "$work/dry2.tsv" ] && cmp -s "$work/dry2.tsv" "$work/once2.tsv"' \
	'diff "$work/dry2.tsv" "$work/once2.tsv" | head -n 5' 
sql -c "GRANT SELECT ON ra.appointments TO ra_ro" >/dev/null

# ---- the ahead connection ends while it holds the rules it ran ahead ----
check "another session holds ra_s3's recording lock" 'hold_record_lock ra_s3'
"$daemon" -c "$work/ra_s3.json" -v --once --as-of "$T" >"$work/once3.out" 2>"$work/once3.err" &
once_pid=$!
pids+=("$once_pid")
# the ahead connection, idle in its transaction with its cursors open
helper_backend() {
	sql -c "SELECT pid FROM pg_stat_activity WHERE usename = 'ra_ro'
	          AND state = 'idle in transaction' AND query LIKE 'FETCH % FROM dw_ahead_%'"
}
lends() { [ -n "$(helper_backend)" ]; }
check "the ahead connection has run the rules ahead and waits" 'wait_for 20 lends'
sql -c "SELECT pg_terminate_backend($(helper_backend | head -n 1))" >/dev/null
wait "$once_pid"
rc=$?
check_d "--once still exits 0" '[ "$rc" -eq 0 ]' 'tail -n 5 "$work/once3.err"' 
check "it said the evaluating connection runs them" \
	'grep -q "the connection running rules ahead was lost; its rules run on the evaluating connection" "$work/once3.err"'
check "no rule was read from the ahead connection" '[ -z "$(ahead_rules "$work/once3.err")" ]'
recorded ra_s3 >"$work/once3.tsv"
check_d "every alert is recorded, the dry run's" 'cmp -s "$work/dry.tsv" "$work/once3.tsv"' \
	'diff "$work/dry.tsv" "$work/once3.tsv" | head -n 5' 
check "the bad rows counted before it ended are kept" \
	'[ "$(bad_rows "$work/dry.err")" = "$(bad_rows "$work/once3.err")" ]'
# ---- the counting connection's first queries wait for a lock: the evaluation waits for them ----
# Another session locks appointments, which the rules of ra_s4 do not read: the counting
# connection's first queries (does each relation hold a row?) wait for it. The evaluation
# begins once they end: before, it began at once, read every rule and waited for the count to
# begin in its snapshot; a check that came after the count's BEGIN then ran, and could fail,
# inside the count's transaction (test_lock_wait.py).
"$daemon" -c "$work/ra_s4.json" --once --dry-run --as-of "$T" >"$work/dry4.out" 2>"$work/dry4.err"
check "without the two rules that read appointments, the dry run exits 0" '[ $? -eq 0 ]'
rm -f "$work/locked"
{ echo "BEGIN; LOCK TABLE ra.appointments IN ACCESS EXCLUSIVE MODE;"
  echo "\\! touch $work/locked"
  echo "SELECT pg_sleep($HOLD); COMMIT;"; } | sql >/dev/null 2>&1 &
pids+=($!)
check "another session locks appointments" 'wait_for 10 test -e "$work/locked"'
"$daemon" -c "$work/ra_s4.json" -v --once --as-of "$T" >"$work/once4.out" 2>"$work/once4.err"
rc=$?
check_d "--once exits 0" '[ "$rc" -eq 0 ]' 'tail -n 5 "$work/once4.err"'
first_line() { grep -n -F -e "$2" "$1" | head -n 1 | cut -d: -f1; }
check_d "the emptiness check gave up on the lock before the evaluation began" \
	'e=$(first_line "$work/once4.err" "is empty: canceling statement due to lock timeout")
	 r=$(first_line "$work/once4.err" "eval: step")
	 [ -n "$e" ] && [ -n "$r" ] && [ "$e" -lt "$r" ]' \
	'grep -n -e "is empty" -e "eval: step" "$work/once4.err" | head -n 5'
check_d "the bad rows are counted, the dry run's" \
	'[ -n "$(bad_rows "$work/dry4.err")" ] && [ "$(bad_rows "$work/dry4.err")" = "$(bad_rows "$work/once4.err")" ]' \
	'grep -e "bad rows" "$work/once4.err" | head -n 5'
dry_rows "$work/dry4.out" >"$work/dry4.tsv"
recorded ra_s4 >"$work/once4.tsv"
check_d "the alerts recorded are the dry run's ($(wc -l <"$work/dry4.tsv"))" \
	'cmp -s "$work/dry4.tsv" "$work/once4.tsv"' 'diff "$work/dry4.tsv" "$work/once4.tsv" | head -n 5'

# ---- no room for the connection that runs rules ahead ----
# A backend of an earlier run may still be on its way out: the limit counts it.
no_backends() { [ "$(sql -c "SELECT count(*) FROM pg_stat_activity WHERE usename = 'ra_ro'")" = 0 ]; }
sql -c "ALTER ROLE ra_ro CONNECTION LIMIT 2" >/dev/null
wait_for 10 no_backends
"$daemon" -c "$work/ra_s1.json" --once --dry-run --as-of "$T" >"$work/dry6.out" 2>"$work/dry6.err"
rc=$?
check_d "a dry run with room for two connections exits 0" '[ "$rc" -eq 0 ]' 'tail -n 5 "$work/dry6.err"'
check "it says the third connection could not be made" \
	'grep -q "a third connection, to run rules ahead, could not be made" "$work/dry6.err"'
check "its alerts and bad rows are the first dry run's" \
	'cmp -s "$work/dry.out" "$work/dry6.out" && [ "$(bad_rows "$work/dry.err")" = "$(bad_rows "$work/dry6.err")" ]'
sql -c "ALTER ROLE ra_ro CONNECTION LIMIT 3" >/dev/null
wait_for 10 no_backends
"$daemon" -c "$work/ra_s6.json" --once --as-of "$T" >"$work/once6.out" 2>"$work/once6.err"
rc=$?
check_d "--once with room for three connections exits 0" '[ "$rc" -eq 0 ]' 'tail -n 5 "$work/once6.err"'
check "it says the fourth connection could not be made" \
	'grep -q "a fourth connection, to run rules ahead, could not be made" "$work/once6.err"'
recorded ra_s6 >"$work/once6.tsv"
check_d "the alerts recorded are the dry run's" 'cmp -s "$work/dry.tsv" "$work/once6.tsv"' \
	'diff "$work/dry.tsv" "$work/once6.tsv" | head -n 5'
sql -c "ALTER ROLE ra_ro CONNECTION LIMIT -1" >/dev/null

# ---- the evaluating connection counts bad rows for the counting one ----
# appointments becomes a view that takes 0.3 ms a row, which only the bad-row count reads
# whole: the counting connection first counts the child ids of every relation, appointments'
# among them, and meanwhile the evaluating one, done with its rules (which do not read it),
# counts every relation from the last back, appointments' last.
sql >"$work/slow.log" 2>&1 <<'SQL'
ALTER TABLE ra.appointments RENAME TO appointments_base;
CREATE FUNCTION ra.slow_row() RETURNS boolean LANGUAGE sql VOLATILE
    AS $$ SELECT pg_sleep(0.0003); SELECT true $$;
CREATE VIEW ra.appointments AS SELECT * FROM ra.appointments_base WHERE ra.slow_row();
GRANT SELECT ON ra.appointments, ra.appointments_base TO ra_ro;
GRANT EXECUTE ON FUNCTION ra.slow_row() TO ra_ro;
SQL
check_status "appointments is a slow view" $? "$(cat "$work/slow.log")"
write_config "$work/ra_s5.json" ra_s4 \
	'{"was_not_brought": {"enabled": false}, "worker_change": {"enabled": false}}'
"$daemon" -c "$work/ra_s5.json" -v --once --dry-run --as-of "$T" >"$work/once5.out" 2>"$work/once5.err"
rc=$?
check_d "a dry run exits 0" '[ "$rc" -eq 0 ]' 'tail -n 5 "$work/once5.err"'
stolen=$(sed -n 's/.*eval: counting the bad rows of \([a-z_]*\) for the counting connection.*/\1/p' \
	"$work/once5.err" | LC_ALL=C sort | tr '\n' ' ')
note "counted by the evaluating connection: $stolen"
check_d "the evaluating connection counted every relation" \
	'[ "$stolen" = "allocations appointments children cin_plans cp_plans referrals strategies teams workers " ]' \
	'grep -v -e "database: " -e "^{" "$work/once5.err" | tail -n 30'
check_d "the bad rows counted are those counted before, appointments' among them" \
	'[ "$(bad_rows "$work/dry4.err")" = "$(bad_rows "$work/once5.err")" ] &&
	 bad_rows "$work/once5.err" | grep -q "bad rows in appointments"' \
	'diff <(bad_rows "$work/dry4.err") <(bad_rows "$work/once5.err") | head -n 5'
check "and the alerts" 'cmp -s "$work/dry4.out" "$work/once5.out"'

# ---- ... and names a column of a type outside the contract when a count it takes fails ----
# The same slow view, its scheduled_for now text: appointments' count, taken by the evaluating
# connection as above, fails there, and its warning names the column as the counting
# connection's own would (eval_on_steal_rows goes through eval_quality_failed).
sql >"$work/mistyped.log" 2>&1 <<'SQL'
DROP VIEW ra.appointments;
CREATE VIEW ra.appointments AS
    SELECT appointment_id, child_id, service, scheduled_for::text AS scheduled_for, outcome
    FROM ra.appointments_base WHERE ra.slow_row();
GRANT SELECT ON ra.appointments TO ra_ro;
SQL
check_status "appointments.scheduled_for is text" $? "$(cat "$work/mistyped.log")"
"$daemon" -c "$work/ra_s5.json" -v --once --dry-run --as-of "$T" >"$work/once6.out" 2>"$work/once6.err"
note "exit $?; $(grep -m1 -o 'bad rows of appointments could not be counted.*' "$work/once6.err")"
check_d "the evaluating connection took appointments' count" \
	'grep -q "eval: counting the bad rows of appointments for the counting connection" "$work/once6.err"' \
	'grep -v -e "database: " -e "^{" "$work/once6.err" | tail -n 30'
check_d "its failure names the column of a type outside the contract" \
	'grep -q "bad rows of appointments could not be counted: .*(of a type outside the contract: .*scheduled_for" "$work/once6.err"' \
	'grep -e "appointments" "$work/once6.err" | grep -v "^{" | tail -n 10'
check_d "the other relations are counted as before" \
	'[ "$(bad_rows "$work/dry4.err" | grep -v "bad rows in appointments")" = "$(bad_rows "$work/once6.err")" ]' \
	'diff <(bad_rows "$work/dry4.err") <(bad_rows "$work/once6.err") | head -n 5'
check "and the alerts" 'cmp -s "$work/dry4.out" "$work/once6.out"'

for f in "$work"/*.err; do no_sanitizer_report "no sanitizer report ($(basename "$f"))" "$f"; done
tap_end
