#!/usr/bin/env bash
# Load a synthetic authority into PostgreSQL for demos and benchmarks.
#
#   bench/load.sh --dsn CONNSTR --children N --seed S --as-of YYYY-MM-DD
#                 [--schema casework] [--bad-rows PERMILLE]
#
# Drops and recreates the schema from rules/contract.sql, pipes build/dwgen into
# psql, creates rules/contract_indexes.sql, then prints the row count of each
# table and the seconds each step took. Builds build/dwgen if it is missing.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

usage() {
    sed -n '2,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

dsn="" children="" seed="" asof="" schema="casework" bad=""
while [ $# -gt 0 ]; do
    case "$1" in
        --dsn) dsn=${2?--dsn needs a value}; shift 2 ;;
        --children) children=${2?--children needs a value}; shift 2 ;;
        --seed) seed=${2?--seed needs a value}; shift 2 ;;
        --as-of) asof=${2?--as-of needs a value}; shift 2 ;;
        --schema) schema=${2?--schema needs a value}; shift 2 ;;
        --bad-rows) bad=${2?--bad-rows needs a value}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "load.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done
if [ -z "$dsn" ] || [ -z "$children" ] || [ -z "$seed" ] || [ -z "$asof" ]; then
    echo "load.sh: --dsn, --children, --seed and --as-of are required" >&2
    usage >&2
    exit 2
fi

dwgen=${DWGEN:-$root/build/dwgen}
if [ ! -x "$dwgen" ]; then
    mkdir -p "$(dirname "$dwgen")"
    echo "building $dwgen" >&2
    ${CC:-cc} -O2 -std=c11 -Wall -Wextra -Werror -o "$dwgen" "$root/bench/dwgen.c" -lm
fi

gen_args=(--children "$children" --seed "$seed" --as-of "$asof" --schema "$schema")
[ -n "$bad" ] && gen_args+=(--bad-rows "$bad")

psql_() { psql -X -q -v ON_ERROR_STOP=1 -d "$dsn" "$@"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
qschema=\"${schema//\"/\"\"}\"

t0=$(now)
psql_ -c "SET client_min_messages = warning" -c "DROP SCHEMA IF EXISTS $qschema CASCADE"
psql_ -v schema="$schema" -f "$root/rules/contract.sql"
t1=$(now)
"$dwgen" "${gen_args[@]}" | psql_ >/dev/null
t2=$(now)
psql_ -v schema="$schema" -f "$root/rules/contract_indexes.sql"
t3=$(now)

counts="" i=0
for t in teams workers children allocations referrals cin_plans cp_plans appointments strategies; do
    i=$((i + 1))
    counts="${counts:+$counts UNION ALL }SELECT $i, '$t', count(*) FROM $qschema.$t"
done
echo "table          rows"
psql_ -At -F ' ' -c "$counts ORDER BY 1" | while read -r _ t n; do printf '%-13s %9s\n' "$t" "$n"; done
echo "schema $(secs "$t0" "$t1") s, generate+copy $(secs "$t1" "$t2") s, indexes+analyze $(secs "$t2" "$t3") s, total $(secs "$t0" "$t3") s"
