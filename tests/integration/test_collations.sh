#!/usr/bin/env bash
# test_collations: a database's collation never changes which alerts exist (found by an audit
# on databases driftwatch did not make). tests/fixtures/collations.sql, as of 2026-06-15, in:
#   - a database whose collation is C;
#   - a database whose collation is ICU en-GB, where "a1" sorts before "B1": RULES.md's
#     "smallest plan_id" and "greatest referral_id" chose another plan, another referral (and
#     then no alert at all) and another supervisor;
#   - a schema of the C database whose text columns are case-insensitive (a nondeterministic ICU
#     collation, as a database migrated from SQL Server has): children k1 and K1 were joined
#     into one (one alert printed 34 times, another child's family on it, --once failing);
# gives the same alerts byte for byte, those the fixture's header works out by hand.
# Environment: DRIFTWATCHD, DW_TOP, TEST_TMPDIR and the test server's PG* (tests/run.sh).
# shellcheck disable=SC2016
set -u

top=${DW_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
daemon=${DRIFTWATCHD:-$top/build/san/driftwatchd}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
. "$top/tests/lib/tap.sh"

work=$(mktemp -d "${TEST_TMPDIR:-${TMPDIR:-/tmp}}/collations.XXXXXX") || { notok "mktemp"; exit 1; }
drop() { psql -X -q -d postgres -c "DROP DATABASE IF EXISTS dwcoll_c WITH (FORCE)" \
	-c "DROP DATABASE IF EXISTS dwcoll_icu WITH (FORCE)" >/dev/null 2>&1; }
trap 'rm -rf "$work"; drop' EXIT
require "the daemon is built ($daemon)" test -x "$daemon"
# check with what to show when it fails (evaluated only then)
checkd() { if eval "$2"; then ok "$1"; else notok "$1" "$(eval "$3")"; fi; }
drop
P() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
load() { # DB SCHEMA: the contract and the fixture
	P -d "$1" -v schema="$2" -f "$top/rules/contract.sql" &&
		P -d "$1" -c "SET search_path = \"$2\"" -f "$top/tests/fixtures/collations.sql"
}
{
	P -d postgres -c "CREATE DATABASE dwcoll_c TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'" &&
		load dwcoll_c casework
} >"$work/c.log" 2>&1
checkd "a C database with the fixture" '[ $? -eq 0 ]' 'cat "$work/c.log"'
{
	P -d postgres -c "CREATE DATABASE dwcoll_icu TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-GB' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'" &&
		load dwcoll_icu casework
} >"$work/icu.log" 2>&1
checkd "an ICU en-GB database with the fixture" '[ $? -eq 0 ]' 'cat "$work/icu.log"'
{
	P -d dwcoll_c -v schema=ci_case -f "$top/rules/contract.sql" &&
		P -d dwcoll_c <<'EOF' &&
CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT table_name, column_name FROM information_schema.columns
              WHERE table_schema = 'ci_case' AND data_type = 'text' LOOP
        EXECUTE format('ALTER TABLE ci_case.%I ALTER COLUMN %I TYPE text COLLATE public.ci',
                       r.table_name, r.column_name);
    END LOOP;
END $$;
EOF
		P -d dwcoll_c -c "SET search_path = ci_case" -f "$top/tests/fixtures/collations.sql"
} >"$work/ci.log" 2>&1
checkd "a schema whose text columns are case-insensitive, with the fixture" '[ $? -eq 0 ]' \
	'cat "$work/ci.log"'
check "... where k1 = K1 (the collation is case-insensitive)" \
	'[ "$(P -d dwcoll_c -c "SELECT count(DISTINCT child_id) FROM ci_case.children WHERE child_id IN ('"'"'k1'"'"')")" = 1 ] &&
	 [ "$(P -d dwcoll_c -c "SELECT count(*) FROM ci_case.children WHERE child_id = '"'"'k1'"'"'")" = 2 ]'

config() { # NAME DB SCHEMA
	cat >"$work/$1.json" <<EOF
{ "database": { "conninfo": "host=127.0.0.1 port=$PGPORT dbname=$2 user=$PGUSER",
                "case_schema": "$3", "state_schema": "coll_state_$1" },
  "link_template": "https://lcs.example.gov.uk/person/{child_id}",
  "addresses": { "fallback": "duty@la.example", "cp_chair": "cpc@la.example",
                 "cp_manager": "cpm@la.example", "head_of_service": "hos@la.example" } }
EOF
}
config c dwcoll_c casework
config icu dwcoll_icu casework
config ci dwcoll_c ci_case
for n in c icu ci; do
	"$daemon" -c "$work/$n.json" --once --dry-run --as-of 2026-06-15 >"$work/$n.raw" 2>"$work/$n.err"
	echo $? >"$work/$n.rc"
	sort "$work/$n.raw" >"$work/$n.out"
done
checkd "C: --dry-run exits 0" '[ "$(cat "$work/c.rc")" = 0 ]' 'cat "$work/c.err"'

# what the fixture's header works out by hand: rule, stage, child, subject, family, recipients
/usr/bin/python3 - "$work/c.out" >"$work/c.brief" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    a = json.loads(line)
    print("%s %s %r %s %s %s" % (a["rule"], a["stage"], a["child_id"], a["subject_id"],
                                 a["family_id"],
                                 ",".join(r.get("worker_id") or "-" for r in a["recipients"])))
EOF
sort "$work/c.brief" -o "$work/c.brief"
cat >"$work/want.brief" <<'EOF'
cin_neglect_duration 6m 'c3' cin F7 WM
cin_neglect_duration 6m 'c4' X-B F8 WM
cp_neglect_duration 15m 'c1' B1 F5 -,-,WM
cp_neglect_duration 15m 'k1' p1 F1 -,-,WM
cp_neglect_duration 9m 'K1' P1 F2 WN
re_referral 12m 'c2' r-a F6 WM
was_not_brought vulnerable 'K1' None F2 WN,w1
was_not_brought vulnerable 'k2 ' None F4 WN,w1
EOF
sort "$work/want.brief" -o "$work/want.brief"
checkd "C: the alerts worked out by hand (ties by byte order; k1 and K1 two children)" \
	'cmp -s "$work/want.brief" "$work/c.brief"' 'diff "$work/want.brief" "$work/c.brief"'
for n in icu ci; do
	case $n in
	icu) what="ICU en-GB database" ;;
	ci) what="case-insensitive columns" ;;
	esac
	checkd "$what: --dry-run exits 0" '[ "$(cat "$work/$n.rc")" = 0 ]' 'cat "$work/$n.err"'
	checkd "$what: the same alerts as the C database, byte for byte" \
		'[ -s "$work/$n.out" ] && cmp -s "$work/c.out" "$work/$n.out"' \
		'diff "$work/c.out" "$work/$n.out" | cut -c1-300'
	# audit 17: a worker id compared in the column's own collation failed the bad-row count
	# of workers and cp_plans ("could not determine which collation to use for string hashing")
	checkd "$what: the same bad rows counted as in the C database" \
		'[ "$(grep "bad rows in \|not counted\|could not be counted" "$work/c.err")" = \
		   "$(grep "bad rows in \|not counted\|could not be counted" "$work/$n.err")" ]' \
		'grep "bad rows\|counted" "$work/c.err" "$work/$n.err"'
	note "$what: $(grep -o "[0-9]* children evaluated, [0-9]* alerts" "$work/$n.err")"
	check "$what: the same children evaluated" \
		'[ "$(grep -o "[0-9]* children evaluated" "$work/$n.err")" = "$(grep -o "[0-9]* children evaluated" "$work/c.err")" ]'
done
"$daemon" -c "$work/ci.json" --once --as-of 2026-06-15 >"$work/ci-once.out" 2>"$work/ci-once.err"
rc=$?
checkd "case-insensitive columns: --once records every alert (it failed two rules)" \
	'[ $rc -eq 0 ] && [ "$(P -d dwcoll_c -c "SELECT count(*) FROM coll_state_ci.alerts")" = "$(grep -c . "$work/c.out")" ]' \
	'cat "$work/ci-once.err"'
no_sanitizer_report "no sanitizer report" <(cat "$work"/*.err)
tap_end
