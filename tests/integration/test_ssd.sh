#!/usr/bin/env bash
# test_ssd: the contract as views over the Standard Safeguarding Dataset (contrib/ssd/). The SSD's
# own tables (tests/fixtures/ssd_tables.sql, its PostgreSQL build's CREATE TABLE text) hold a
# small hand-written population (tests/fixtures/ssd_population.sql) with the local gap tables;
# the same population is written by hand in the contract's shape (ssd_population_contract.sql,
# on rules/contract.sql's tables). The views must hold exactly those rows, --check-config must
# pass on them, and driftwatchd --once --dry-run must print the same alerts, byte for byte once
# sorted, and count the same bad rows, on both, at several evaluation days.
# Real PostgreSQL (tests/run.sh's), the sanitizer build. Environment: DRIFTWATCHD,
# DWGEN, PGHOST PGPORT PGUSER PGDATABASE, TEST_TMPDIR. The last part loads dwgen's populations
# with --ssd and --ssd-compatible and compares them the same way.
# check evaluates its condition itself, later: single quotes on purpose.
# shellcheck disable=SC2016
set -u

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
D=${DRIFTWATCHD:-$top/build/san/driftwatchd}
DWGEN=${DWGEN:-$top/build/dwgen}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-15432} PGUSER=${PGUSER:-dwtest}
case $PGHOST in /*) PGHOST=127.0.0.1 ;; esac
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
DB=${PGDATABASE:-dwtest}
T=2026-06-01
# The main day; before C1 reaches 15 months (its strategy already agreed); after C5's
# worker change left the 14-day window and C1's strategy ran out.
DAYS="$T 2026-03-10 2026-09-20"
SRC=ssdt_src LOCAL=ssdt_local VIEWS=ssdt_views DIRECT=ssdt_direct
RELS="teams workers children allocations referrals cin_plans cp_plans appointments strategies"
. "$top/tests/lib/tap.sh"

tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/dw-ssd.XXXXXX") || { notok "mktemp"; exit 1; }
q() { psql -qXAt -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }
drop_schemas() {
	q "DROP SCHEMA IF EXISTS $SRC CASCADE; DROP SCHEMA IF EXISTS $LOCAL CASCADE;
	   DROP SCHEMA IF EXISTS $VIEWS CASCADE; DROP SCHEMA IF EXISTS $DIRECT CASCADE;
	   DROP SCHEMA IF EXISTS ssdt_copy CASCADE; DROP SCHEMA IF EXISTS ssdt_state CASCADE" >/dev/null 2>&1
	q "DROP SERVER IF EXISTS ssdt_mssql CASCADE; DROP SCHEMA IF EXISTS ssdt_remote CASCADE" >/dev/null 2>&1
}
daemon_pid=
cleanup() {
	[ -n "$daemon_pid" ] && kill -KILL "$daemon_pid" 2>/dev/null
	drop_schemas
	rm -rf "$tmp"
}
trap cleanup EXIT

require "driftwatchd is built ($D)" test -x "$D"

# ---- the SSD, the views over it, the same population in the contract's shape
drop_schemas
out=$(psql -qXAt -v ON_ERROR_STOP=1 -d "$DB" -c "CREATE SCHEMA $SRC" -c "SET search_path = $SRC" \
	-f "$top/tests/fixtures/ssd_tables.sql" 2>&1)
check_status "the SSD's tables, as its PostgreSQL build defines them, are created" $? "$out"
views() {
	psql -qXAt -v ON_ERROR_STOP=1 -d "$DB" -v ssd_schema=$SRC -v schema=$VIEWS -v local_schema=$LOCAL \
		-f "$top/contrib/ssd/ssd_contract_views.sql" 2>&1
}
out=$(views)
check_status "ssd_contract_views.sql creates the views, the local tables and the code map" $? "$out"
v=$(q "SELECT string_agg(relname || ':' || relkind::text, ' ' ORDER BY relname) FROM pg_class
       WHERE relnamespace = '$VIEWS'::regnamespace
         AND relname IN ('teams','workers','children','allocations','referrals','cin_plans',
                         'cp_plans','appointments','strategies')")
check "the nine contract relations are views ($v)" \
	'[ "$(printf "%s\n" $v | grep -c ":v$")" = 9 ]'
out=$(psql -qXAt -v ON_ERROR_STOP=1 -d "$DB" -v ssd_schema=$SRC -v local_schema=$LOCAL \
	-f "$top/tests/fixtures/ssd_population.sql" 2>&1)
check_status "the SSD population and the local gap rows load" $? "$out"
out=$(psql -qXAt -v ON_ERROR_STOP=1 -d "$DB" -v schema=$DIRECT -f "$top/rules/contract.sql" \
	-f "$top/tests/fixtures/ssd_population_contract.sql" 2>&1)
check_status "the same population loads in the contract's shape (rules/contract.sql)" $? "$out"

# Each view holds exactly the hand-written contract rows: every transformation at once.
same_rows() { # NAME [A B]: every relation of schema A ($VIEWS) against B ($DIRECT)
	local t v diffs="" VIEWS=${2:-$VIEWS} DIRECT=${3:-$DIRECT}
	for t in $RELS; do
		v=$(q "SELECT (SELECT count(*) FROM (SELECT * FROM $VIEWS.$t EXCEPT ALL SELECT * FROM $DIRECT.$t) a)
		            + (SELECT count(*) FROM (SELECT * FROM $DIRECT.$t EXCEPT ALL SELECT * FROM $VIEWS.$t) b)
		            || ' ' || (SELECT count(*) FROM $VIEWS.$t)" 2>&1)
		case $v in
		'0 '[0-9]*) ;;
		*) diffs="$diffs $t: $v;" ;;
		esac
	done
	if [ -z "$diffs" ]; then
		ok "$1"
	else
		notok "$1" "differences (count, rows):$diffs" \
			"$(for t in $RELS; do q "SELECT '$t view-only', * FROM (SELECT * FROM $VIEWS.$t EXCEPT ALL SELECT * FROM $DIRECT.$t) a
			     UNION ALL SELECT '$t direct-only', * FROM (SELECT * FROM $DIRECT.$t EXCEPT ALL SELECT * FROM $VIEWS.$t) b" 2>&1; done)"
	fi
}
same_rows "each view holds exactly the rows written by hand in the contract's shape"
# PostgreSQL runs big reads in parallel workers, where a subtransaction (a PL/pgSQL exception
# block) is refused: the factor parsing must hold there too. force_parallel_mode puts every
# parallel-safe plan under a Gather.
out=$(psql -qXAt -v ON_ERROR_STOP=1 -d "$DB" -c "SET force_parallel_mode = on" \
	-c "SELECT count(*) FILTER (WHERE neglect) || '/' || count(*) FROM $VIEWS.referrals" 2>&1)
check "the referrals view reads under a parallel plan ($out)" '[ "$out" = 7/10 ]'
v=$(q "SELECT string_agg(coalesce(array_to_string($VIEWS.ssd_factor_codes(t), ','), '-'), ' ' ORDER BY n)
       FROM unnest(ARRAY['[null, \"16A\", null]', '{\"3B\": \"No\", \"16A\": true}', '{\"16A\": \"No\"}',
                         '[]', 'garbled 4b;', NULL]) WITH ORDINALITY u(t, n)")
check "factor codes are read from arrays, objects (yes-like values only) and garbled text ($v)" \
	'[ "$v" = "16A 16A   4B -" ]'
v=$(q "SELECT count(*) FROM $VIEWS.cp_plans WHERE plan_id = 'CP4o'")
check "the CP plan for another authority is left out ($v rows)" '[ "$v" = 0 ]'
v=$(q "SELECT worker_id || '>' || coalesce(supervisor_id, '-') FROM $VIEWS.workers
       WHERE worker_id IN ('1001', '2002') ORDER BY 1" | tr '\n' ' ')
check "staff numbers and professional ids are told apart (staff 2002 is professional 1001: $v)" \
	'[ "$v" = "1001>staff:9001 2002>1001 " ]'

# ---- --check-config on the views
cfg() { # SCHEMA FILE
	cat >"$2" <<JSON
{ "database": { "conninfo": "host=$PGHOST port=$PGPORT dbname=$DB user=$PGUSER application_name=test_ssd",
                "case_schema": "$1", "state_schema": "ssdt_state", "query_timeout_seconds": 120 },
  "timezone": "Europe/London",
  "link_template": "https://lcs.example.gov.uk/person/{child_id}",
  "addresses": { "fallback": "duty@la.example", "cp_chair": "cp-chairs@la.example",
                 "cp_manager": "cp-manager@la.example", "head_of_service": "hos@la.example" } }
JSON
	chmod 0600 "$2"
}
cfg $VIEWS "$tmp/views.json"
cfg $DIRECT "$tmp/direct.json"
timeout -k 5 120 "$D" -c "$tmp/views.json" --check-config >"$tmp/check.out" 2>&1
rc=$?
check "--check-config passes on the SSD views (exit $rc)" \
	'[ "$rc" = 0 ] && grep -q "contract in schema \"$VIEWS\" are good" "$tmp/check.out"'
[ "$rc" = 0 ] || diag "$tmp/check.out"
check "--check-config names no relation as empty while every view has rows" \
	'! grep -q "is empty" "$tmp/check.out"'

# ---- dry runs: the views against the contract tables
summary() { grep -E '^  [a-z_]+ +[a-z0-9]+=|^  bad rows|alerts have a role' "$1" | sort; }
dry() { # NAME DAY: runs both layouts, compares
	local l day=$2
	for l in views direct; do
		timeout -k 5 120 "$D" -c "$tmp/$l.json" --once --dry-run --as-of "$day" \
			>"$tmp/$1-$l.out" 2>"$tmp/$1-$l.err"
		rc=$?
		if [ "$rc" -ne 0 ]; then
			notok "$1: dry run as of $day on $l exits 0" "exit $rc" "$(tail -n 20 "$tmp/$1-$l.err")"
			continue
		fi
		LC_ALL=C sort "$tmp/$1-$l.out" >"$tmp/$1-$l.sorted"
		summary "$tmp/$1-$l.err" >"$tmp/$1-$l.summary"
		cat "$tmp/$1-$l.err" >>"$tmp/all.err"
	done
	if [ -s "$tmp/$1-direct.sorted" ] && cmp -s "$tmp/$1-direct.sorted" "$tmp/$1-views.sorted"; then
		ok "$1: as of $day the SSD views give the contract tables' alerts, byte for byte ($(wc -l <"$tmp/$1-views.sorted"))"
	else
		notok "$1: as of $day the SSD views give the contract tables' alerts, byte for byte" \
			"$(diff "$tmp/$1-direct.sorted" "$tmp/$1-views.sorted" 2>&1 | cut -c1-300 | head -n 12)"
	fi
	if [ -s "$tmp/$1-views.summary" ] && cmp -s "$tmp/$1-direct.summary" "$tmp/$1-views.summary"; then
		ok "$1: as of $day both count the same stages and bad rows"
	else
		notok "$1: as of $day both count the same stages and bad rows" \
			"$(diff "$tmp/$1-direct.summary" "$tmp/$1-views.summary" 2>&1 | head -n 12)"
	fi
}
for day in $DAYS; do
	dry "day-$day" "$day"
done
check "the dry runs log no relation as empty while every view has rows" \
	'[ -s "$tmp/day-$T-views.err" ] && ! grep -q "is empty" "$tmp/day-$T-views.err"'

# What the population was written to raise on the main day, as rule/child/stage.
got=$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    a = json.loads(line)
    print(a["rule"], a["child_id"], a["stage"])' "$tmp/day-$T-views.sorted" 2>&1 | LC_ALL=C sort | tr '\n' ';')
want="cin_neglect_duration C2 6m;cin_neglect_duration C3 6m;cin_neglect_duration C7 6m;\
cp_neglect_duration C1 12m;cp_neglect_duration C6 18m;re_referral C3 12m;repeat_neglect_plan C6 12m;\
was_not_brought C2 repeated;was_not_brought C5 vulnerable;worker_change C5 handover;worker_churn C2 churn;"
check "as of $T the views raise what the population was written to raise (C1 held at 12m by its strategy, no alert for C4 or C8)" \
	'[ "$got" = "$want" ]'
[ "$got" = "$want" ] || note "got: $got"
v=$(grep -c 'bad rows in' "$tmp/day-$T-views.err")
check "the views' bad rows are counted: a CIN plan whose neglect is unknown, a category the map lacks ($v)" \
	'grep -q "cin_plans: null_neglect=1" "$tmp/day-$T-views.err" && grep -q "cp_plans: unknown_category=1" "$tmp/day-$T-views.err"'
v=$(grep '"C5"' "$tmp/day-$T-views.sorted" | grep '"worker_change"' | grep -o '"recipients":\[[^]]*\]')
check "the handover goes to the new worker and their line manager, resolved from staff numbers ($v)" \
	'printf "%s" "$v" | grep -q "\"worker_id\":\"1001\",\"email\":\"ann@la.example\"" &&
	 printf "%s" "$v" | grep -q "\"worker_id\":\"2002\",\"email\":\"bob@la.example\""'

# ---- the code map, not the view text, decides
q "INSERT INTO $LOCAL.ssd_code_map VALUES ('allocation_role', 'iro', 'social_worker', 'test')" >/dev/null
v=$(q "SELECT count(*) FROM $VIEWS.allocations WHERE allocation_id IN ('I5', 'I11')")
check "an involvement code added to the map makes allocations of it ($v of 2)" '[ "$v" = 2 ]'
q "DELETE FROM $LOCAL.ssd_code_map WHERE note = 'test'; DELETE FROM $LOCAL.ssd_code_map WHERE ssd_value = 'YES'" >/dev/null
out=$(views)
check_status "ssd_contract_views.sql runs again over existing views and map" $? "$out"
v=$(q "SELECT count(*) FROM $LOCAL.ssd_code_map WHERE ssd_value = 'YES'")
check "rerunning it keeps the authority's edits to the map (a deleted default stays deleted: $v)" '[ "$v" = 0 ]'
same_rows "after the rerun each view still holds exactly the contract rows"

# ---- an empty gap: no appointments loaded
q "DELETE FROM $LOCAL.appointments; DELETE FROM $DIRECT.appointments" >/dev/null
timeout -k 5 120 "$D" -c "$tmp/views.json" --check-config >"$tmp/check-empty.out" 2>&1
rc=$?
check "--check-config still exits 0 with the appointments relation empty (exit $rc)" '[ "$rc" = 0 ]'
check "--check-config warns that appointments is empty, naming the rules it leaves blind" \
	'grep -q "warning: relation \"$VIEWS\".\"appointments\" is empty: it leaves blind the enabled rules that read it: was_not_brought, worker_change\$" "$tmp/check-empty.out"'
check "--check-config names no other relation as empty" \
	'[ "$(grep -c "is empty" "$tmp/check-empty.out")" = 1 ]'
check "--check-config still says the contract is good with appointments empty" \
	'grep -q "contract in schema \"$VIEWS\" are good" "$tmp/check-empty.out"'
dry "no-appointments" "$T"
check "with no appointments was_not_brought is blind: no alert of it" \
	'[ -s "$tmp/no-appointments-views.sorted" ] && ! grep -q "\"was_not_brought\"" "$tmp/no-appointments-views.sorted"'

# The runs say it too, at their start, without --check-config: the warning's own words, at
# priority 4, once per relation.
blind_re() { # SCHEMA CONFIG
	printf '^<4>database \\(%s: database.case_schema\\): relation "%s"\\."appointments" is empty: it leaves blind the enabled rules that read it: was_not_brought, worker_change$' "$2" "$1"
}
for l in views direct; do
	s=$VIEWS
	[ $l = direct ] && s=$DIRECT
	check "--once --dry-run on $l logs at start that $s.appointments is empty and the two rules it blinds" \
		'[ "$(grep -Ec "$(blind_re $s "$tmp/$l.json")" "$tmp/no-appointments-$l.err")" = 1 ] &&
		 [ "$(grep -c "is empty" "$tmp/no-appointments-$l.err")" = 1 ]'
done
grep -q "is empty" "$tmp/no-appointments-views.err" || diag "$tmp/no-appointments-views.err"
timeout -k 5 120 "$D" -c "$tmp/views.json" --once --as-of "$T" >"$tmp/once.out" 2>"$tmp/once.err"
rc=$?
check "--once (recording) logs it at start too, once (exit $rc)" \
	'[ "$(grep -Ec "$(blind_re $VIEWS "$tmp/views.json")" "$tmp/once.err")" = 1 ] &&
	 [ "$(grep -c "is empty" "$tmp/once.err")" = 1 ]'
grep -q "is empty" "$tmp/once.err" || diag "$tmp/once.err"
cat "$tmp/once.err" >>"$tmp/all.err"

# The daemon: at start; again after a reload that changes the case schema or the database,
# and not after one that changes neither.
run_log=$tmp/daemon.err
blind_count() { grep -Ec "$(blind_re "$1" "$tmp/run.json")" "$run_log"; }
applied_count() { grep -c 'reload: configuration applied' "$run_log"; }
run_cfg() { # SCHEMA APPLICATION-NAME: no HTTP endpoint (its default port may be taken)
	cfg "$1" "$tmp/run.json.new"
	sed -i "s/application_name=test_ssd/application_name=$2/; s/^  \"timezone\"/  \"http\": { \"listen\": null },\n&/" \
		"$tmp/run.json.new"
	mv "$tmp/run.json.new" "$tmp/run.json"
}
reload_and_wait() { # COUNT: of "configuration applied" lines to wait for
	kill -HUP "$daemon_pid"
	wait_for 60 eval "[ \"\$(applied_count)\" -ge $1 ]"
}
run_cfg $VIEWS test_ssd
"$D" -c "$tmp/run.json" </dev/null >"$tmp/daemon.out" 2>"$run_log" &
daemon_pid=$!
wait_for 60 eval '[ "$(blind_count $VIEWS)" -ge 1 ]'
check "the daemon logs at start that appointments is empty and the two rules it blinds" \
	'[ "$(blind_count $VIEWS)" = 1 ]'
[ "$(blind_count $VIEWS)" = 1 ] || diag "$run_log"
reload_and_wait 1
check "a reload that changes neither the database nor the case schema is applied" \
	'[ "$(applied_count)" = 1 ]'
run_cfg $DIRECT test_ssd
reload_and_wait 2
wait_for 60 eval '[ "$(blind_count $DIRECT)" -ge 1 ]'
check "after a reload to another case schema the daemon names that schema's empty relation, once" \
	'[ "$(blind_count $DIRECT)" = 1 ] && [ "$(grep -c "is empty" "$run_log")" = 2 ]'
# That reload closes the connections, and it waits for the evaluation in progress: it is
# applied from the evaluation's last callback, on a connection it closes. An evaluation held
# on a lock (a NOTIFY for C1; every evaluation reads appointments) makes sure one is in progress.
q "BEGIN; LOCK TABLE $DIRECT.appointments IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(3); COMMIT" \
	>/dev/null 2>&1 &
lock_pid=$!
wait_for 10 eval "[ \"\$(q \"SELECT count(*) FROM pg_locks WHERE relation = '$DIRECT.appointments'::regclass AND granted\")\" = 1 ]"
q "NOTIFY driftwatch, 'C1'" >/dev/null
held() { [ "$(q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'test_ssd'
                 AND wait_event_type = 'Lock'")" -ge 1 ]; }
wait_for 10 held
check "an evaluation for C1 waits on the lock when the reconnecting reload comes" 'held'
run_cfg $VIEWS test_ssd_reconnected
reload_and_wait 3
wait "$lock_pid"
check "the reload is applied once that evaluation ends" '[ "$(applied_count)" = 3 ]'
wait_for 60 eval '[ "$(blind_count $VIEWS)" -ge 2 ]'
check "after a reload that changes the database (conninfo) the daemon lives on and says it again, once" \
	'[ "$(blind_count $VIEWS)" = 2 ] && [ "$(grep -c "is empty" "$run_log")" = 3 ] &&
	 kill -0 "$daemon_pid" 2>/dev/null'
grep -c "is empty" "$run_log" | grep -qx 3 || diag "$run_log"
kill -TERM "$daemon_pid" 2>/dev/null
wait_exit "$daemon_pid" 60
check "the daemon stops on SIGTERM (exit $rc)" '[ "$rc" = 0 ]'
daemon_pid=
cat "$run_log" >>"$tmp/all.err"

# ---- the views copied into tables after each SSD run (contrib/ssd/ssd_refresh.sql)
COPY=ssdt_copy
refresh() { # extra psql arguments: a LISTEN before, a statement after
	psql -qXAt -v ON_ERROR_STOP=1 -d "$DB" "$@" 2>&1
}
out=$(psql -qXAt -v ON_ERROR_STOP=1 -d "$DB" -v schema=$COPY -f "$top/rules/contract.sql" 2>&1)
check_status "the copy's tables are created (rules/contract.sql)" $? "$out"
out=$(refresh -v source=$VIEWS -v schema=$COPY -f "$top/contrib/ssd/ssd_refresh.sql")
check_status "ssd_refresh.sql copies the views into the tables" $? "$out"
same_rows "the copy holds exactly the views' rows" $COPY $VIEWS
cfg $COPY "$tmp/copy.json"
"$D" -c "$tmp/copy.json" --install-triggers >"$tmp/triggers.out" 2>&1
check_status "driftwatchd --install-triggers on the copy" $? "$(cat "$tmp/triggers.out")"
out=$(refresh -c "LISTEN driftwatch" -v source=$VIEWS -v schema=$COPY \
	-f "$top/contrib/ssd/ssd_refresh.sql" -c "SELECT 'done'")
check "a refresh with nothing changed changes no row and notifies nobody" \
	'[ "$(printf "%s\n" "$out" | grep -c "|0|0$")" = 9 ] && ! printf "%s" "$out" | grep -q "Asynchronous"'
[ "$(printf "%s\n" "$out" | grep -c "|0|0$")" = 9 ] || note "$out"
q "UPDATE $SRC.ssd_cp_plans SET cppl_cp_plan_end_date = '2026-05-30 10:00' WHERE cppl_cp_plan_id = 'CP5';
   UPDATE $LOCAL.workers SET email = 'ann.able@la.example' WHERE staff_id = '2002'" >/dev/null
out=$(refresh -c "LISTEN driftwatch" -v source=$VIEWS -v schema=$COPY \
	-f "$top/contrib/ssd/ssd_refresh.sql" -c "SELECT 'done'")
v=$(printf "%s\n" "$out" | sed -n 's/.*"driftwatch" with payload "\([^"]*\)".*/\1/p' | sort -u | tr '\n' ' ')
c=$(printf "%s\n" "$out" | grep -E '^(cp_plans|workers)\|1\|1$' | tr '\n' ' ')
check "after C5's plan ends and a worker's email changes, only those rows change and only C5 is notified ($c; notified: $v)" \
	'[ "$v" = "C5 " ] && [ "$c" = "workers|1|1 cp_plans|1|1 " ] && [ "$(printf "%s\n" "$out" | grep -c "|0|0$")" = 7 ]'
same_rows "after the change the copy again holds exactly the views' rows" $COPY $VIEWS
# What a refresh changed: "relation|deleted|inserted" for each relation that changed, the
# children notified on driftwatch, and every notification on any channel.
refresh_listen() {
	refresh -c "LISTEN driftwatch" -c "LISTEN driftwatch_all" -v source=$VIEWS -v schema=$COPY \
		-f "$top/contrib/ssd/ssd_refresh.sql" -c "SELECT 'done'"
}
changed() { printf '%s\n' "$1" | grep -E '^[a-z_]+\|[0-9]+\|[0-9]+$' | grep -v '|0|0$' | tr '\n' ' '; }
notified() { printf '%s\n' "$1" | sed -n 's/.*"driftwatch" with payload "\([^"]*\)".*/\1/p' | sort | tr '\n' ' '; }
n_notes() { printf '%s\n' "$1" | grep -c 'Asynchronous notification'; }
# Rows added, a row twice (the contract has no keys: a copy counts), then rows removed.
q "INSERT INTO $LOCAL.appointments VALUES
     ('AP5', 'C3', 'gp', '2026-05-20 09:00+01', 'was_not_brought'),
     ('AP5', 'C3', 'gp', '2026-05-20 09:00+01', 'was_not_brought'),
     ('AP6', 'C8', 'dental', '2026-05-21 09:00+01', 'attended')" >/dev/null
out=$(refresh_listen)
c=$(changed "$out") v=$(notified "$out")
# PostgreSQL sends a transaction's identical notifications once: one per child.
check "three appointments added (one twice): only they are inserted, C3 and C8 notified, once each ($c; notified: $v)" \
	'[ "$c" = "appointments|0|3 " ] && [ "$v" = "C3 C8 " ] && [ "$(n_notes "$out")" = 2 ]'
[ "$c" = "appointments|0|3 " ] || note "$out"
q "DELETE FROM $LOCAL.appointments WHERE ctid = (SELECT min(ctid) FROM $LOCAL.appointments WHERE appointment_id = 'AP5');
   DELETE FROM $LOCAL.appointments WHERE appointment_id = 'AP6'" >/dev/null
out=$(refresh_listen)
c=$(changed "$out") v=$(notified "$out")
check "one copy of AP5 and AP6 removed: AP5's copies replaced by its one, AP6 deleted, C3 and C8 notified ($c; notified: $v)" \
	'[ "$c" = "appointments|3|1 " ] && [ "$v" = "C3 C8 " ] && [ "$(n_notes "$out")" = 2 ]'
same_rows "after rows come and go the copy again holds exactly the views' rows" $COPY $VIEWS
# The SSD is rebuilt in full on each run, and the gaps reloaded: every source row deleted and
# inserted again, in another order. Nothing the views give changes, so nothing is written and
# nobody is notified.
out=$(q "DO \$\$
DECLARE t record;
BEGIN
    FOR t IN SELECT schemaname, tablename FROM pg_tables
             WHERE schemaname IN ('$SRC', '$LOCAL') ORDER BY 1, 2 LOOP
        EXECUTE format('CREATE TEMP TABLE rebuild AS SELECT * FROM %I.%I ORDER BY random()',
                       t.schemaname, t.tablename);
        EXECUTE format('TRUNCATE %I.%I', t.schemaname, t.tablename);
        EXECUTE format('INSERT INTO %I.%I SELECT * FROM rebuild', t.schemaname, t.tablename);
        DROP TABLE rebuild;
    END LOOP;
END \$\$;
SELECT count(*) FROM pg_tables WHERE schemaname IN ('$SRC', '$LOCAL')" 2>&1)
check "the SSD's 11 tables and the 6 local ones are emptied and loaded again ($out)" '[ "$out" = 17 ]'
out=$(refresh_listen)
check "after the SSD and the gaps are rebuilt in full the refresh writes no row and notifies nobody" \
	'[ "$(printf "%s\n" "$out" | grep -c "|0|0$")" = 9 ] && [ "$(n_notes "$out")" = 0 ] &&
	 printf "%s" "$out" | grep -q "^done$"'
[ "$(n_notes "$out")" = 0 ] || note "$out"
cp "$tmp/views.json" "$tmp/views2.json"
for l in copy views2; do
	timeout -k 5 120 "$D" -c "$tmp/$l.json" --once --dry-run --as-of "$T" >"$tmp/refresh-$l.out" 2>>"$tmp/all.err"
done
LC_ALL=C sort "$tmp/refresh-copy.out" >"$tmp/refresh-copy.sorted"
LC_ALL=C sort "$tmp/refresh-views2.out" >"$tmp/refresh-views2.sorted"
check "the copy gives the views' alerts, byte for byte ($(wc -l <"$tmp/refresh-copy.sorted"))" \
	'[ -s "$tmp/refresh-copy.sorted" ] && cmp -s "$tmp/refresh-copy.sorted" "$tmp/refresh-views2.sorted"'

# ---- the SQL Server route (contrib/ssd/ssd_tds_fdw.sql), as far as it goes with no SQL Server:
# a port where nothing listens. The extension, the server and the user mapping are made, the
# import fails on the connection, and a failed import leaves no foreign table behind.
tds() { # DATABASE
	timeout -k 5 120 psql -qXAt -d "$DB" -v mssql_host=127.0.0.1 -v mssql_port="$dead" -v mssql_database="$1" \
		-v mssql_user=ssd_reader -v mssql_password=not-a-password -v server=ssdt_mssql \
		-v ssd_schema=ssdt_remote -f "$top/contrib/ssd/ssd_tds_fdw.sql" </dev/null 2>&1
}
has_tds=$(q "SELECT count(*) FROM pg_available_extensions WHERE name = 'tds_fdw'")
if [ "$has_tds" = 1 ]; then
	dead=$(free_port)
	out=$(tds SSD)
	rc=$?
	check "ssd_tds_fdw.sql runs up to the import, which fails on the connection (exit $rc)" \
		'[ "$rc" = 3 ] && printf "%s" "$out" | grep -q "connect"'
	note "its error: $(printf "%s" "$out" | head -n 3 | tr '\n' ' ')"
	v=$(q "SELECT array_to_string(srvoptions, ' ') FROM pg_foreign_server WHERE srvname = 'ssdt_mssql'")
	check "... having made the foreign server with the options given ($v)" \
		'[ "$v" = "servername=127.0.0.1 port=$dead database=SSD tds_version=7.4" ]'
	v=$(q "SELECT array_to_string(umoptions, ' ') FROM pg_user_mappings
	       WHERE srvname = 'ssdt_mssql' AND usename = current_user")
	check "... and the current user's mapping ($v)" '[ "$v" = "username=ssd_reader password=not-a-password" ]'
	# As if an earlier import had worked: a foreign table, and a view over it.
	q "CREATE FOREIGN TABLE ssdt_remote.ssd_person (pers_person_id text) SERVER ssdt_mssql
	     OPTIONS (table_name 'ssd_development.ssd_person');
	   CREATE VIEW ssdt_remote.people AS SELECT pers_person_id FROM ssdt_remote.ssd_person" >/dev/null
	out=$(tds SSD2)
	rc=$?
	v=$(q "SELECT array_to_string(srvoptions, ' ') FROM pg_foreign_server WHERE srvname = 'ssdt_mssql'")
	check "run again it replaces the server's options ($v) and stops at the import again (exit $rc)" \
		'[ "$rc" = 3 ] && [ "$v" = "servername=127.0.0.1 port=$dead database=SSD2 tds_version=7.4" ]'
	v=$(q "SELECT string_agg(relname || ':' || relkind::text, ' ' ORDER BY relname) FROM pg_class
	       WHERE relnamespace = 'ssdt_remote'::regnamespace")
	check "the failed import dropped nothing: the earlier foreign table and the view over it stay ($v)" \
		'[ "$v" = "people:v ssd_person:f" ]'
	q "DROP SERVER ssdt_mssql CASCADE; DROP SCHEMA ssdt_remote CASCADE" >/dev/null
elif [ -n "${CI:-}" ]; then
	notok "tds_fdw is installed for ssd_tds_fdw.sql (Debian: postgresql-15-tds-fdw, in .ci/run)"
else
	skip "ssd_tds_fdw.sql up to the import" "tds_fdw is not installed (Debian: postgresql-15-tds-fdw)"
fi

# ---- generated populations: dwgen --ssd against dwgen --ssd-compatible, same seed
gen() { # NAME SHAPE-ARGS...: loads both, compares rows and alerts
	local name=$1 t v diffs=""
	shift
	q "DROP SCHEMA IF EXISTS ${name}_src CASCADE; DROP SCHEMA IF EXISTS ${name}_local CASCADE;
	   DROP SCHEMA IF EXISTS ${name}_views CASCADE; DROP SCHEMA IF EXISTS ${name}_direct CASCADE" >/dev/null 2>&1
	out=$( { psql -qXAt -v ON_ERROR_STOP=1 -d "$DB" -c "CREATE SCHEMA ${name}_src" -c "SET search_path = ${name}_src" \
			-f "$top/tests/fixtures/ssd_tables.sql" &&
		psql -qXAt -v ON_ERROR_STOP=1 -d "$DB" -v ssd_schema="${name}_src" -v schema="${name}_views" \
			-v local_schema="${name}_local" -f "$top/contrib/ssd/ssd_contract_views.sql" &&
		"$DWGEN" "$@" --bad-rows 0 --as-of "$T" --ssd --schema "${name}_src" --local-schema "${name}_local" |
			psql -qXAt -v ON_ERROR_STOP=1 -d "$DB" &&
		psql -qXAt -v ON_ERROR_STOP=1 -d "$DB" -v schema="${name}_direct" -f "$top/rules/contract.sql" &&
		"$DWGEN" "$@" --bad-rows 0 --as-of "$T" --ssd-compatible --schema "${name}_direct" |
			psql -qXAt -v ON_ERROR_STOP=1 -d "$DB"; } 2>&1)
	if ! check_status "$name: dwgen $* --ssd loads into the SSD's tables, --ssd-compatible into the contract's" $? "$out"; then
		return
	fi
	same_rows "$name: each view holds exactly the rows dwgen --ssd-compatible wrote" "${name}_views" "${name}_direct"
	v=$(q "SELECT (SELECT count(*) FROM ${name}_src.ssd_cp_plans WHERE cppl_cp_plan_ola = 'Y') || ' '
	          || (SELECT count(*) FROM ${name}_src.ssd_cin_plans WHERE cinp_referral_id IS NULL) || ' '
	          || (SELECT count(*) FROM ${name}_src.ssd_cp_plans WHERE cppl_cp_plan_initial_category = 'Neglect') || ' '
	          || (SELECT count(*) FROM ${name}_src.ssd_assessment_factors WHERE cinf_assessment_factors_json LIKE '{%16A\": \"Yes%')")
	check "$name: the SSD rows vary as the builds do (other-authority plans, plans with no referral id, descriptions, factor objects: $v)" \
		'for x in $v; do [ "$x" -gt 0 ] || exit 1; done'
	cfg "${name}_views" "$tmp/$name-views.json"
	cfg "${name}_direct" "$tmp/$name-direct.json"
	timeout -k 5 120 "$D" -c "$tmp/$name-views.json" --check-config >"$tmp/$name-check.out" 2>&1
	rc=$?
	check "$name: --check-config passes on the views over dwgen's SSD (exit $rc), naming no relation empty" \
		'[ "$rc" = 0 ] && grep -q "contract in schema \"${name}_views\" are good" "$tmp/$name-check.out" &&
		 ! grep -q "is empty" "$tmp/$name-check.out"'
	[ "$rc" = 0 ] || diag "$tmp/$name-check.out"
	cat "$tmp/$name-check.out" >>"$tmp/all.err"
	for l in views direct; do
		timeout -k 5 300 "$D" -c "$tmp/$name-$l.json" --once --dry-run --as-of "$T" \
			>"$tmp/$name-$l.out" 2>"$tmp/$name-$l.err"
		rc=$?
		[ "$rc" = 0 ] || notok "$name: dry run on $l exits 0" "exit $rc" "$(tail -n 20 "$tmp/$name-$l.err")"
		LC_ALL=C sort "$tmp/$name-$l.out" >"$tmp/$name-$l.sorted"
		cat "$tmp/$name-$l.err" >>"$tmp/all.err"
	done
	v=$(grep -o '"rule":"[a-z_]*"' "$tmp/$name-views.sorted" | sort -u | wc -l)
	check "$name: the SSD views give dwgen's contract tables' alerts, byte for byte ($(wc -l <"$tmp/$name-views.sorted") alerts of $v rules)" \
		'[ "$v" -ge 7 ] && cmp -s "$tmp/$name-views.sorted" "$tmp/$name-direct.sorted"'
	cmp -s "$tmp/$name-views.sorted" "$tmp/$name-direct.sorted" ||
		note "$(diff "$tmp/$name-direct.sorted" "$tmp/$name-views.sorted" | cut -c1-300 | head -n 8)"
	q "DROP SCHEMA ${name}_src CASCADE; DROP SCHEMA ${name}_local CASCADE;
	   DROP SCHEMA ${name}_views CASCADE; DROP SCHEMA ${name}_direct CASCADE" >/dev/null 2>&1
}
if [ -x "$DWGEN" ]; then
	gen ssdg_default --children 20000 --seed 20260601
	gen ssdg_heavy --children 4000 --seed 11 --shape heavy --tail-share 0.03
else
	notok "dwgen is built ($DWGEN)"
fi

no_sanitizer_report "no sanitizer report from the dry runs" "$tmp/all.err"
note "the main day's summary (views):"
sed 's/^/#   /' "$tmp/day-$T-views.err"
tap_end
