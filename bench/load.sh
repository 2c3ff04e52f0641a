#!/usr/bin/env bash
# Load a synthetic authority into PostgreSQL for demos and benchmarks.
#
#   bench/load.sh --dsn CONNSTR --children N --seed S --as-of YYYY-MM-DD
#                 [--schema casework] [--bad-rows PERMILLE] [--layout indexed]
#                 [--shape default] [-- DWGEN-OPTIONS...]
#
# Drops and recreates the schema, pipes build/dwgen into psql, then prints the row count of
# each relation and the seconds each step took. Builds build/dwgen if it is missing.
# --layout says how the contract is laid out (bench/README.md, "Layouts"):
#   indexed  tables from rules/contract.sql with rules/contract_indexes.sql (the default)
#   tables   the same tables with no index at all
#   views    the nine relations as views in the schema over base tables of another shape in
#            SCHEMA_cms (bench/layout_views.sql), loaded through a staging schema SCHEMA_load
#            that is dropped afterwards
# --shape and any option after -- go to dwgen (dwgen --help lists the shape options).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

usage() {
    sed -n '2,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

dsn="" children="" seed="" asof="" schema="casework" bad="" layout="indexed" shape=""
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --dsn) dsn=${2?--dsn needs a value}; shift 2 ;;
        --children) children=${2?--children needs a value}; shift 2 ;;
        --seed) seed=${2?--seed needs a value}; shift 2 ;;
        --as-of) asof=${2?--as-of needs a value}; shift 2 ;;
        --schema) schema=${2?--schema needs a value}; shift 2 ;;
        --bad-rows) bad=${2?--bad-rows needs a value}; shift 2 ;;
        --layout) layout=${2?--layout needs a value}; shift 2 ;;
        --shape) shape=${2?--shape needs a value}; shift 2 ;;
        --) shift; extra=("$@"); break ;;
        -h|--help) usage; exit 0 ;;
        *) echo "load.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done
if [ -z "$dsn" ] || [ -z "$children" ] || [ -z "$seed" ] || [ -z "$asof" ]; then
    echo "load.sh: --dsn, --children, --seed and --as-of are required" >&2
    usage >&2
    exit 2
fi
case $layout in
    tables | indexed | views) ;;
    *) echo "load.sh: --layout is tables, indexed or views, not '$layout'" >&2; exit 2 ;;
esac

dwgen=${DWGEN:-$root/build/dwgen}
if [ ! -x "$dwgen" ]; then
    mkdir -p "$(dirname "$dwgen")"
    echo "building $dwgen" >&2
    ${CC:-cc} -O2 -std=c11 -Wall -Wextra -Werror -o "$dwgen" "$root/bench/dwgen.c" -lm
fi

target=$schema
[ "$layout" = views ] && target=${schema}_load
gen_args=(--children "$children" --seed "$seed" --as-of "$asof" --schema "$target")
[ -n "$bad" ] && gen_args+=(--bad-rows "$bad")
[ -n "$shape" ] && gen_args+=(--shape "$shape")
gen_args+=("${extra[@]}")

psql_() { psql -X -q -v ON_ERROR_STOP=1 -d "$dsn" "$@"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
quote() { local q=${1//\"/\"\"}; echo "\"$q\""; }

t0=$(now)
psql_ -c "SET client_min_messages = warning" -c "DROP SCHEMA IF EXISTS $(quote "$target") CASCADE"
psql_ -v schema="$target" -f "$root/rules/contract.sql"
t1=$(now)
"$dwgen" "${gen_args[@]}" | psql_ >/dev/null
t2=$(now)
case $layout in
    indexed) psql_ -v schema="$schema" -f "$root/rules/contract_indexes.sql"; step="indexes+analyze" ;;
    tables)
        q=$(quote "$schema")
        psql_ -c "ANALYZE $q.teams, $q.workers, $q.children, $q.allocations, $q.referrals, $q.cin_plans,
            $q.cp_plans, $q.appointments, $q.strategies"
        step="analyze" ;;
    views)
        psql_ -v src="$target" -v schema="$schema" -f "$here/layout_views.sql"
        psql_ -c "SET client_min_messages = warning" -c "DROP SCHEMA $(quote "$target") CASCADE"
        step="views over ${schema}_cms+analyze" ;;
esac
t3=$(now)

counts="" i=0
for t in teams workers children allocations referrals cin_plans cp_plans appointments strategies; do
    i=$((i + 1))
    counts="${counts:+$counts UNION ALL }SELECT $i, '$t', count(*) FROM $(quote "$schema").$t"
done
echo "table          rows   ($layout)"
psql_ -At -F ' ' -c "$counts ORDER BY 1" | while read -r _ t n; do printf '%-13s %9s\n' "$t" "$n"; done
echo "schema $(secs "$t0" "$t1") s, generate+copy $(secs "$t1" "$t2") s, $step $(secs "$t2" "$t3") s, total $(secs "$t0" "$t3") s"
