#!/usr/bin/env bash
# test_layouts: the same case data laid out three ways (bench/load.sh --layout): tables with no
# index, tables with rules/contract_indexes.sql, and the contract as views over base tables of
# another shape (bench/layout_views.sql). driftwatchd --once --dry-run must print the same
# alerts, byte for byte once sorted, and count the same bad rows, on all three, at several
# evaluation days; a plan or an index must never change what a supervisor is told.
# Real PostgreSQL (tests/run.sh's), the sanitizer build, a few thousand generated children with
# bad rows and a heavy tail. Environment: DRIFTWATCHD, DWGEN, PGHOST PGPORT PGUSER PGDATABASE,
# TEST_TMPDIR; LAYOUT_TEST_CHILDREN (4000) and LAYOUT_TEST_SEED (20251124) change the data.
set -u

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
D=${DRIFTWATCHD:-$top/build/san/driftwatchd}
export DWGEN=${DWGEN:-$top/build/dwgen}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-15432} PGUSER=${PGUSER:-dwtest}
case $PGHOST in /*) PGHOST=127.0.0.1 ;; esac
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
DB=${PGDATABASE:-dwtest}
N=${LAYOUT_TEST_CHILDREN:-4000}
SEED=${LAYOUT_TEST_SEED:-20251124}
T=2025-11-24
LAYOUTS="tables indexed views"
# The generation day, a fortnight and six months before it, and six weeks after it: stages,
# windows and plan ends fall differently on each.
DAYS="$T 2025-11-10 2025-05-24 2026-01-05"
. "$top/tests/lib/tap.sh"

tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/dw-layouts.XXXXXX") || { notok "mktemp"; exit 1; }
q() { psql -qXAt -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }
drop_schemas() {
	local l
	for l in $LAYOUTS; do
		q "DROP SCHEMA IF EXISTS lay_$l CASCADE; DROP SCHEMA IF EXISTS lay_${l}_cms CASCADE;
		   DROP SCHEMA IF EXISTS lay_${l}_load CASCADE" >/dev/null 2>&1
	done
}
cleanup() {
	drop_schemas
	rm -rf "$tmp"
}
trap cleanup EXIT

require "dwgen is built ($DWGEN)" test -x "$DWGEN"
require "driftwatchd is built ($D)" test -x "$D"

# ---- the same data, three layouts
drop_schemas
dsn="host=$PGHOST port=$PGPORT dbname=$DB user=$PGUSER"
for l in $LAYOUTS; do
	bash "$top/bench/load.sh" --dsn "$dsn" --children "$N" --seed "$SEED" --as-of "$T" \
		--schema "lay_$l" --layout "$l" --shape heavy -- --tail-share 0.03 >"$tmp/load-$l.txt" 2>&1
	check_status "load.sh --layout $l loads $N children into lay_$l" $? "$(cat "$tmp/load-$l.txt")"
done

kinds() { # SCHEMA: relkinds of the nine contract relations, and the indexes on them
	q "SELECT string_agg(c.relkind::text, '' ORDER BY c.relname) || ' '
	          || (SELECT count(*) FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
	              WHERE t.relnamespace = '$1'::regnamespace)
	   FROM pg_class c WHERE c.relnamespace = '$1'::regnamespace AND c.relkind IN ('r', 'v')"
}
v=$(kinds lay_tables)
check "lay_tables: nine tables, no index ($v)" '[ "$v" = "rrrrrrrrr 0" ]'
v=$(kinds lay_indexed)
check "lay_indexed: nine tables with contract_indexes.sql's indexes ($v)" '[ "${v%% *}" = rrrrrrrrr ] && [ "${v#* }" -ge 10 ]'
v=$(kinds lay_views)
check "lay_views: nine views and nothing else ($v)" '[ "$v" = "vvvvvvvvv 0" ]'
v=$(q "SELECT count(*) FROM pg_class WHERE relnamespace = 'lay_views_cms'::regnamespace AND relkind = 'r'")
check "lay_views_cms holds the base tables ($v)" '[ "${v:-0}" -ge 12 ]'
v=$(q "SELECT count(*) FROM pg_namespace WHERE nspname = 'lay_views_load'")
check "the staging schema is gone after loading the views" '[ "$v" = 0 ]'

# every view returns exactly the rows of the table it stands for, duplicates and NULLs included
diffs=""
for t in teams workers children allocations referrals cin_plans cp_plans appointments strategies; do
	v=$(q "SELECT (SELECT count(*) FROM (SELECT * FROM lay_tables.$t EXCEPT ALL SELECT * FROM lay_views.$t) a)
	            + (SELECT count(*) FROM (SELECT * FROM lay_views.$t EXCEPT ALL SELECT * FROM lay_tables.$t) b)
	            || ' ' || (SELECT count(*) FROM lay_views.$t)" 2>&1)
	case $v in
	'0 '[1-9]*) ;;
	*) diffs="$diffs $t: $v;" ;;
	esac
done
check "each view holds exactly its table's rows, and some" '[ -z "$diffs" ]'
[ -n "$diffs" ] && note "differences:$diffs"
v=$(q "SELECT (SELECT count(*) FROM lay_tables.children WHERE child_id IS NULL) || ' '
	   || (SELECT count(*) FROM (SELECT child_id FROM lay_tables.children GROUP BY 1 HAVING count(*) > 1) d) || ' '
	   || (SELECT count(*) FROM lay_views_cms.person WHERE person_type <> 'CHILD')")
read -r nulls dups adults <<<"$v"
check "the data has bad rows (NULL and duplicate child ids) and the person table adults ($v)" \
	'[ "${nulls:-0}" -gt 0 ] && [ "${dups:-0}" -gt 0 ] && [ "${adults:-0}" -gt 0 ]'

# ---- dry runs
for l in $LAYOUTS; do
	cat >"$tmp/$l.json" <<JSON
{ "database": { "conninfo": "$dsn application_name=test_layouts", "case_schema": "lay_$l",
                "state_schema": "lay_state", "query_timeout_seconds": 300 },
  "timezone": "Europe/London",
  "link_template": "https://lcs.example.gov.uk/person/{child_id}",
  "addresses": { "fallback": "duty@la.example", "cp_chair": "cp-chairs@la.example",
                 "cp_manager": "cp-manager@la.example", "head_of_service": "hos@la.example" } }
JSON
	chmod 0600 "$tmp/$l.json"
done

# The summary's stable part: stage counts per rule and bad rows per kind (no timings).
summary() { grep -E '^  [a-z_]+ +[a-z0-9]+=|^  bad rows|alerts have a role' "$1" | sort; }

for day in $DAYS; do
	for l in $LAYOUTS; do
		timeout -k 5 300 "$D" -c "$tmp/$l.json" --once --dry-run --as-of "$day" \
			>"$tmp/$day-$l.out" 2>"$tmp/$day-$l.err"
		rc=$?
		if [ "$rc" -ne 0 ]; then
			notok "dry run as of $day on lay_$l exits 0" "exit $rc" "$(tail -n 20 "$tmp/$day-$l.err")"
			continue
		fi
		LC_ALL=C sort "$tmp/$day-$l.out" >"$tmp/$day-$l.sorted"
		summary "$tmp/$day-$l.err" >"$tmp/$day-$l.summary"
	done
	n=$(wc -l <"$tmp/$day-indexed.sorted" 2>/dev/null || echo 0)
	rules=$(grep -o '"rule": *"[a-z_]*"' "$tmp/$day-indexed.sorted" 2>/dev/null | sort -u | wc -l)
	check "as of $day: the dry run has alerts ($n, of $rules rules)" '[ "$n" -ge 20 ] && [ "$rules" -ge 4 ]'
	for l in tables views; do
		if cmp -s "$tmp/$day-indexed.sorted" "$tmp/$day-$l.sorted"; then
			ok "as of $day: lay_$l gives the alerts lay_indexed gives, byte for byte"
		else
			notok "as of $day: lay_$l gives the alerts lay_indexed gives, byte for byte" \
				"$(diff "$tmp/$day-indexed.sorted" "$tmp/$day-$l.sorted" 2>&1 | cut -c1-300 | head -n 12)"
		fi
		if [ -s "$tmp/$day-$l.summary" ] && cmp -s "$tmp/$day-indexed.summary" "$tmp/$day-$l.summary"; then
			ok "as of $day: lay_$l counts the same stages and bad rows as lay_indexed"
		else
			notok "as of $day: lay_$l counts the same stages and bad rows as lay_indexed" \
				"$(diff "$tmp/$day-indexed.summary" "$tmp/$day-$l.summary" 2>&1 | head -n 12)"
		fi
	done
done
v=$(grep -h -o '"rule": *"[a-z_]*"' "$tmp"/*-indexed.sorted 2>/dev/null | sort -u | wc -l)
check "over the four days every one of the seven rules fires ($v rules)" '[ "$v" -ge 7 ]'
v=$(grep -h -c 'bad rows in' "$tmp/$T-views.err" 2>/dev/null)
check "the views' bad rows are counted ($v relations with bad rows)" '[ "${v:-0}" -ge 5 ]'
for day in $DAYS; do
	for l in $LAYOUTS; do
		[ -f "$tmp/$day-$l.err" ] && cat "$tmp/$day-$l.err"
	done
done >"$tmp/all.err"
no_sanitizer_report "no sanitizer report from the twelve dry runs" "$tmp/all.err"
note "the dry runs' summary lines:"
grep -E '^driftwatch as of' "$tmp"/*-{tables,indexed,views}.err 2>/dev/null | sed "s|$tmp/||" | diag
tap_end
