#!/usr/bin/env bash
# The recommended indexes (rules/contract_indexes.sql; docs/sql.md): --check-config names each
# one that is missing with the CREATE INDEX statement that adds it, says of a view that the
# index belongs on the table behind it, and still exits 0 (an unindexed schema works); the
# statements it prints, run as printed, leave nothing missing; the daemon says so once at start.
# Prints `ok - ...` / `not ok - ...` lines (tests/run.sh).
#
# Environment: DRIFTWATCHD, PGHOST PGPORT PGUSER (defaults 127.0.0.1 15432 dwtest), DW_TOP.
# Uses its own database dwidx (dropped and created here).
set -u

top=${DW_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
D=${DRIFTWATCHD:-$top/build/san/driftwatchd}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-15432} PGUSER=${PGUSER:-dwtest}
case $PGHOST in /*) PGHOST=127.0.0.1 ;; esac
DB=dwidx
CONN="host=$PGHOST port=$PGPORT dbname=$DB user=$PGUSER"

tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/dw-idx.XXXXXX") || exit 1
daemon_pid=
cleanup() {
	[ -n "$daemon_pid" ] && kill -KILL "$daemon_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

. "$top/tests/lib/tap.sh"

require "driftwatchd is built ($D)" test -x "$D"

# The eleven indexes of contract_indexes.sql: relation and the CREATE INDEX it should print.
INDEXES=(
	"teams|CREATE INDEX teams_team_id_idx ON \"SCHEMA\".teams (team_id);"
	"workers|CREATE INDEX workers_worker_id_idx ON \"SCHEMA\".workers (worker_id);"
	"children|CREATE INDEX children_child_id_idx ON \"SCHEMA\".children (child_id);"
	"allocations|CREATE INDEX allocations_child_start_idx ON \"SCHEMA\".allocations (child_id, start_date);"
	"allocations|CREATE INDEX allocations_worker_idx ON \"SCHEMA\".allocations (worker_id);"
	"referrals|CREATE INDEX referrals_child_date_idx ON \"SCHEMA\".referrals (child_id, referral_date);"
	"cin_plans|CREATE INDEX cin_plans_child_start_idx ON \"SCHEMA\".cin_plans (child_id, start_date);"
	"cp_plans|CREATE INDEX cp_plans_child_start_idx ON \"SCHEMA\".cp_plans (child_id, start_date);"
	"appointments|CREATE INDEX appointments_child_sched_idx ON \"SCHEMA\".appointments (child_id, scheduled_for);"
	"strategies|CREATE INDEX strategies_child_idx ON \"SCHEMA\".strategies (child_id, decided_on);"
	"appointments|CREATE INDEX appointments_not_brought_idx ON \"SCHEMA\".appointments (scheduled_for) WHERE outcome = 'was_not_brought';"
)

setup_db() {
	psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $DB" \
		-c "CREATE DATABASE $DB" || return 1
	local s
	for s in idx_none idx_all idx_some "Idx Odd"; do
		psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -v "schema=$s" -f "$top/rules/contract.sql" || return 1
	done
	psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -v schema=idx_all -f "$top/rules/contract_indexes.sql" &&
		psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -v schema=idx_some -f "$top/rules/contract_indexes.sql" &&
		psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<'EOF'
-- two gone; one replaced by an index that leads with another column, one by a wider one
DROP INDEX idx_some.children_child_id_idx;
DROP INDEX idx_some.appointments_not_brought_idx;
DROP INDEX idx_some.allocations_child_start_idx;
CREATE INDEX ON idx_some.allocations (start_date, child_id);
DROP INDEX idx_some.cp_plans_child_start_idx;
CREATE INDEX ON idx_some.cp_plans (child_id, plan_id, start_date);
-- the contract as views over indexed tables
CREATE SCHEMA idx_views;
CREATE VIEW idx_views.teams        AS SELECT * FROM idx_all.teams;
CREATE VIEW idx_views.workers      AS SELECT * FROM idx_all.workers;
CREATE VIEW idx_views.children     AS SELECT * FROM idx_all.children;
CREATE VIEW idx_views.allocations  AS SELECT * FROM idx_all.allocations;
CREATE VIEW idx_views.referrals    AS SELECT * FROM idx_all.referrals;
CREATE VIEW idx_views.cin_plans    AS SELECT * FROM idx_all.cin_plans;
CREATE VIEW idx_views.cp_plans     AS SELECT * FROM idx_all.cp_plans;
CREATE VIEW idx_views.appointments AS SELECT * FROM idx_all.appointments;
CREATE VIEW idx_views.strategies   AS SELECT * FROM idx_all.strategies;
EOF
}
if setup_db >"$tmp/setup.log" 2>&1; then
	ok "create database $DB with indexed, unindexed and view schemas"
else
	notok "create database $DB with indexed, unindexed and view schemas" "$(cat "$tmp/setup.log")"
	exit 1
fi

cfg() { # cfg SCHEMA [HTTP_PORT]: the config file for that case schema
	local f=$tmp/${1// /_}.json http=
	[ -n "${2:-}" ] && http=", \"http\": {\"listen\": \"127.0.0.1:$2\"}"
	printf '{"database": {"conninfo": "%s", "case_schema": "%s"}%s}\n' "$CONN" "$1" "$http" >"$f"
	printf '%s' "$f"
}
# check_config SCHEMA: runs --check-config; sets rc and out (stdout and stderr together)
check_config() {
	timeout -k 5 30 "$D" -c "$(cfg "$1")" --check-config </dev/null >"$tmp/out" 2>&1
	rc=$?
	out=$(cat "$tmp/out")
}
has() { case $1 in *"$2"*) return 0 ;; *) return 1 ;; esac; }
# count_missing: the lines saying an index is missing (-1 when --check-config did not exit 0)
count_missing() {
	if [ "$rc" -ne 0 ]; then echo -1; return; fi
	printf '%s\n' "$out" | grep -c 'recommended index missing'
}

# --- every index there: nothing said ----------------------------------------------------------
check_config idx_all
[ "$rc" -eq 0 ]
check_status "idx_all (contract_indexes.sql applied): --check-config exits 0" $? "$out"
[ "$(count_missing)" -eq 0 ]
check_status "idx_all: no index is said to be missing" $? "$out"

# --- none there: each named with its statement, and still a good configuration ----------------
check_config idx_none
[ "$rc" -eq 0 ]
check_status "idx_none (no index): --check-config still exits 0 (advice, not a fault)" $? "$out"
[ "$(count_missing)" -eq ${#INDEXES[@]} ]
check_status "idx_none: ${#INDEXES[@]} indexes said to be missing, one line each" $? "$out"
for entry in "${INDEXES[@]}"; do
	stmt=${entry#*|}
	stmt=${stmt//SCHEMA/idx_none}
	has "$out" "$stmt"
	check_status "idx_none: gives $stmt" $? "$out"
done
has "$out" 'good'
check_status "idx_none: the configuration and contract are still reported good" $? "$out"

# The statements as printed add exactly what was missing.
printf '%s\n' "$out" | sed -n 's/.*add it with: //p' >"$tmp/create.sql"
[ "$(wc -l <"$tmp/create.sql")" -eq ${#INDEXES[@]} ]
check_status "idx_none: ${#INDEXES[@]} statements to run" $? "$out"
if psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$tmp/create.sql" >"$tmp/create.log" 2>&1; then
	ok "idx_none: the printed statements run as they are"
else
	notok "idx_none: the printed statements run as they are" "$(cat "$tmp/create.sql" "$tmp/create.log")"
fi
check_config idx_none
[ "$(count_missing)" -eq 0 ]
check_status "idx_none after running them: nothing missing" $? "$out"

# --- some missing, some replaced ---------------------------------------------------------------
check_config idx_some
for want in children_child_id_idx appointments_not_brought_idx allocations_child_start_idx; do
	has "$out" "CREATE INDEX $want ON \"idx_some\"."
	check_status "idx_some: $want is missing (an index leading with start_date does not serve)" $? "$out"
done
for not in cp_plans_child_start_idx appointments_child_sched_idx teams_team_id_idx; do
	[ "$rc" -eq 0 ] && ! has "$out" "$not"
	check_status "idx_some: $not is not asked for (there, or a wider one leading with child_id)" $? "$out"
done
[ "$(count_missing)" -eq 3 ]
check_status "idx_some: three missing in all" $? "$out"

# --- a schema name that needs quoting ------------------------------------------------------------
check_config "Idx Odd"
has "$out" 'CREATE INDEX children_child_id_idx ON "Idx Odd".children (child_id);'
check_status "a schema whose name needs quoting: the statement quotes it" $? "$out"

# --- views: the index belongs behind them --------------------------------------------------------
check_config idx_views
[ "$rc" -eq 0 ]
check_status "idx_views: --check-config exits 0" $? "$out"
[ "$(count_missing)" -eq 0 ]
check_status "idx_views: no CREATE INDEX on a view" $? "$out"
for rel in teams workers children allocations referrals cin_plans cp_plans appointments strategies; do
	has "$out" "\"idx_views\".$rel is a view"
	check_status "idx_views: $rel is said to be a view, to be indexed behind" $? "$out"
done
has "$out" "(child_id, scheduled_for), (scheduled_for) WHERE outcome = 'was_not_brought'"
check_status "idx_views: the columns to index behind appointments" $? "$out"

# --- the daemon says so once, at start, as a notice ----------------------------------------------
port=$(free_port)
"$D" -c "$(cfg idx_some "$port")" </dev/null >"$tmp/daemon.out" 2>"$tmp/daemon.err" &
daemon_pid=$!
if wait_for 30 grep -q 'recommended index' "$tmp/daemon.err"; then
	ok "daemon: names the missing indexes at start"
else
	notok "daemon: names the missing indexes at start" "$(cat "$tmp/daemon.err")"
fi
line=$(grep 'recommended index' "$tmp/daemon.err" | head -n 1)
case $line in
'<5>'*) ok "daemon: as a notice (priority 5)" ;;
*) notok "daemon: as a notice (priority 5)" "$line" ;;
esac
for x in "children (child_id)" "allocations (child_id, start_date)" "appointments (scheduled_for) WHERE outcome = 'was_not_brought'" "--check-config"; do
	has "$line" "$x"
	check_status "daemon: the notice names $x" $? "$line"
done
wait_for 30 grep -q 'evaluated everyone' "$tmp/daemon.err"
check_status "daemon: evaluates everyone all the same" $? "$(cat "$tmp/daemon.err")"
kill -TERM "$daemon_pid" 2>/dev/null
wait_exit "$daemon_pid" 30
daemon_pid=
[ "$(grep -c 'recommended index' "$tmp/daemon.err")" -eq 1 ]
check_status "daemon: said once" $? "$(cat "$tmp/daemon.err")"
no_sanitizer_report "daemon" "$tmp/daemon.err"

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1
tap_end
