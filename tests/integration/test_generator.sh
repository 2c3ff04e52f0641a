#!/usr/bin/env bash
# Tests of the synthetic case generator (bench/dwgen.c).
#
# Needs a running PostgreSQL reached through PGHOST, PGPORT, PGUSER and PGDATABASE,
# and DWGEN, the path to the dwgen binary (default build/dwgen). Creates and drops
# its own schemas gen_test, gen_test_clean, gen_test_small, gen_test_dense and
# gen_test_heavy in that database.
#
# Prints one line per check, "ok - NAME" or "not ok - NAME", and diagnostics as "# ..."
# (the last one a count). Exits 1 if any check failed. GEN_TEST_SEED changes the seed.
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
DWGEN=${DWGEN:-$root/build/dwgen}
SCHEMA=gen_test
CLEAN=gen_test_clean
N=20000
SEED=${GEN_TEST_SEED:-20250331}
T=2025-03-31

export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
tmp=$(mktemp -d)
. "$root/tests/lib/tap.sh"

psql_() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
# q SCHEMA SQL: the single value the query returns (as-of is available as :'T')
q() {
    printf 'SET search_path = "%s";\n%s;\n' "$1" "$2" |
        psql_ -At -v T="$T" 2>>"$tmp/psql.err" | tail -n 1
}
# range NAME VALUE LO HI: LO <= VALUE <= HI (numbers)
range() {
    local name=$1 v=$2 lo=$3 hi=$4
    if [ -n "$v" ] && awk -v v="$v" -v lo="$lo" -v hi="$hi" 'BEGIN { exit !(v + 0 >= lo && v + 0 <= hi) }'; then
        ok "$name"
        echo "# $name: $v (expected $lo to $hi)"
    else
        notok "$name" "$name: '${v}' not in $lo to $hi"
    fi
}
# positive NAME VALUE: VALUE > 0
positive() {
    local name=$1 v=$2
    if [ -n "$v" ] && [ "$v" -gt 0 ] 2>/dev/null; then ok "$name"; else notok "$name" "$name: got '${v}'"; fi
}

cleanup() {
    psql_ -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" -c "DROP SCHEMA IF EXISTS $CLEAN CASCADE" \
        -c "DROP SCHEMA IF EXISTS gen_test_small CASCADE" -c "DROP SCHEMA IF EXISTS gen_test_dense CASCADE" \
        -c "DROP SCHEMA IF EXISTS gen_test_heavy CASCADE" >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT

load() { # load SCHEMA [dwgen args...] (N children, or 200 for the small schema)
    local s=$1 n=$N
    shift
    [ "$s" = gen_test_small ] && n=200
    psql_ -c "DROP SCHEMA IF EXISTS \"$s\" CASCADE" &&
        psql_ -v schema="$s" -f "$root/rules/contract.sql" &&
        "$DWGEN" --children "$n" --seed "$SEED" --as-of "$T" --schema "$s" "$@" | psql_ >/dev/null
}

# ---------------------------------------------------------------- the binary
if [ ! -x "$DWGEN" ]; then
    notok "dwgen binary exists" "DWGEN=$DWGEN is not executable"
    echo "# test_generator: $tap_passed checks passed, $tap_failed failed"
    exit 1
fi
ok "dwgen binary exists"

gen() { "$DWGEN" --as-of "$T" "$@"; }
h1=$(gen --children 5000 --seed 7 | sha256sum | cut -c1-64)
h2=$(gen --children 5000 --seed 7 | sha256sum | cut -c1-64)
h3=$(gen --children 5000 --seed 8 | sha256sum | cut -c1-64)
h4=$(gen --children 5000 --seed 7 --bad-rows 0 | sha256sum | cut -c1-64)
[ "$h1" = "$h2" ] && ok "same seed and arguments give identical output" || notok "same seed and arguments give identical output" "$h1 != $h2"
[ "$h1" != "$h3" ] && ok "a different seed gives different output" || notok "a different seed gives different output"
[ "$h1" != "$h4" ] && ok "--bad-rows changes the output" || notok "--bad-rows changes the output"

# shapes (--shape and its knobs)
hs() { gen --children 5000 --seed 7 "$@" | sha256sum | cut -c1-64; }
for shape in dense heavy; do
    a=$(hs --shape $shape) b=$(hs --shape $shape)
    [ "$a" = "$b" ] && ok "--shape $shape: same arguments give identical output" ||
        notok "--shape $shape: same arguments give identical output" "$a != $b"
    [ "$a" != "$h1" ] && ok "--shape $shape differs from the default" || notok "--shape $shape differs from the default"
done
v=$(hs --shape default --involved 0.165 --referrals 1 --plans 1 --allocations 1 --appointments 1 --strategies 1 \
    --long-cin 0 --tail-share 0 --family-sizes 45,30,15,7,2.5,0.5)
[ "$v" = "$h1" ] && ok "every knob at its default value gives the default output" ||
    notok "every knob at its default value gives the default output" "$v != $h1"
v=$(hs --shape heavy --tail-share 0.05) w=$(hs --shape heavy --tail-share 0.05 --tail-rows 40)
[ "$v" != "$w" ] && [ "$v" != "$(hs --shape heavy)" ] && ok "--tail-share and --tail-rows change the output" ||
    notok "--tail-share and --tail-rows change the output"
for bad in "--shape bogus" "--involved 1.5" "--referrals 0" "--family-sizes 1,x" "--family-sizes 0,0" \
    "--tail-rows 2" "--long-cin -0.1" "--plans"; do
    # shellcheck disable=SC2086
    "$DWGEN" --children 10 --as-of "$T" $bad >/dev/null 2>"$tmp/knob.err"
    rc=$?
    [ "$rc" -eq 2 ] && grep -q . "$tmp/knob.err" && ok "dwgen $bad is a usage error with a message" ||
        notok "dwgen $bad is a usage error with a message" "exit $rc: $(cat "$tmp/knob.err")"
done
check_cmd "dwgen --help lists the shape options" sh -c "'$DWGEN' --help | grep -q -- '--tail-share' && '$DWGEN' --help | grep -q 'dense'"

gen --children 300 --seed 1 --schema 'odd"name' >"$tmp/small.sql"
check_cmd "nine COPY blocks in the named schema" \
    test "$(grep -c '^COPY "odd""name"\.[a-z_]* (.*) FROM STDIN;$' "$tmp/small.sql")" -eq 9 -a \
    "$(grep -c '^\\\.$' "$tmp/small.sql")" -eq 9
check_cmd "rows have the table's number of fields" awk -F'\t' '
    /^COPY / { n = split($0, a, ","); inside = 1; next }
    /^\\\.$/ { inside = 0; next }
    inside && NF != n { print "line " NR ": " NF " fields, want " n; bad = 1 }
    END { exit bad }' "$tmp/small.sql"
"$DWGEN" --children 10 >/dev/null 2>&1
rc=$?
[ "$rc" -eq 2 ] && ok "missing --as-of is a usage error" || notok "missing --as-of is a usage error" "exit $rc"
"$DWGEN" --children 10 --as-of 2025-02-30 >/dev/null 2>&1
rc=$?
[ "$rc" -eq 2 ] && ok "an impossible date is a usage error" || notok "an impossible date is a usage error" "exit $rc"
no_empty_table() {
    "$DWGEN" --children 100 --seed 3 --as-of "$T" |
        awk '/^COPY / { n = 0; t = $2; next } /^\\\.$/ { if (!n) { print t " is empty"; bad = 1 } next } { n++ } END { exit bad }'
}
check_cmd "100 children generate with every table non-empty" no_empty_table

# ------------------------------------------------------------------ loading
if load "$SCHEMA" 2>"$tmp/load.err"; then
    ok "$N children load into PostgreSQL"
else
    notok "$N children load into PostgreSQL" "$(head -c 2000 "$tmp/load.err")"
    echo "# test_generator: $tap_passed checks passed, $tap_failed failed"
    exit 1
fi
if load "$CLEAN" --bad-rows 0 --team-webhooks https://hooks.la.example/workflows 2>"$tmp/load.err"; then
    ok "$N children load with --bad-rows 0"
else
    notok "$N children load with --bad-rows 0" "$(head -c 2000 "$tmp/load.err")"
fi

SMALL=gen_test_small
if load "$SMALL" --bad-rows 0 2>"$tmp/load.err"; then
    v=$(q $SMALL "SELECT (SELECT count(*) FROM cp_plans WHERE initial_category = 'NEG' AND end_date IS NULL AND start_date <= :'T'::date - interval '18 months') > 0
        AND (SELECT count(*) FROM cp_plans WHERE end_date IS NULL AND start_date < :'T'::date - 730) > 0
        AND (SELECT count(*) FROM strategies WHERE decided_on <= :'T' AND review_by > :'T') > 0
        AND (SELECT count(*) FROM strategies WHERE review_by < :'T') > 0
        AND (SELECT count(*) FROM cin_plans WHERE neglect AND end_date IS NULL AND start_date <= :'T'::date - interval '6 months') > 0
        AND (SELECT count(*) FROM allocations WHERE end_date IS NULL AND start_date > :'T'::date - 14) > 0
        AND (SELECT count(*) FROM appointments a JOIN children c USING (child_id) WHERE a.outcome = 'was_not_brought'
             AND a.scheduled_for > :'T'::date - interval '6 months' AND a.scheduled_for::date < c.date_of_birth + interval '1 year') > 0
        AND (SELECT count(*) FROM (SELECT child_id FROM appointments WHERE outcome = 'was_not_brought'
             AND scheduled_for > :'T'::date - interval '6 months' GROUP BY 1 HAVING count(*) >= 2) x) > 0")
    [ "$v" = t ] && ok "200 children still have the scripted cases for every rule" ||
        notok "200 children still have the scripted cases for every rule" "got '$v'"
    # re_referral as RULES.md defines it: the child's latest referral on or before as-of, open on
    # as-of, and the earlier referrals of the 12 and 24 months before it
    v=$(q $SMALL "WITH cur AS (
            SELECT DISTINCT ON (child_id) * FROM referrals WHERE referral_date <= :'T'
            ORDER BY child_id, referral_date DESC, referral_id DESC),
        st AS (
            SELECT c.child_id, ch.family_id,
                   bool_or(e.referral_date >= c.referral_date - interval '12 months'
                           AND (c.neglect OR c.primary_need = 'N1' OR e.neglect OR e.primary_need = 'N1')) AS m12,
                   count(*) FILTER (WHERE e.referral_date > c.referral_date - interval '24 months') >= 2
                   AND (c.neglect OR c.primary_need = 'N1' OR bool_or((e.neglect OR e.primary_need = 'N1')
                        AND e.referral_date > c.referral_date - interval '24 months')) AS cyc
            FROM cur c JOIN children ch USING (child_id)
            JOIN referrals e ON e.child_id = c.child_id AND e.referral_date < c.referral_date
            WHERE c.closure_date IS NULL OR c.closure_date > :'T'
            GROUP BY c.child_id, ch.family_id, c.neglect, c.primary_need)
        SELECT coalesce(bool_and(m12 AND NOT cyc) FILTER (WHERE family_id = 'F-000009'), false)
               AND coalesce(bool_and(cyc) FILTER (WHERE family_id = 'F-000010'), false)
               AND count(*) FILTER (WHERE family_id IN ('F-000009', 'F-000010')) =
                   (SELECT count(*) FROM children WHERE family_id IN ('F-000009', 'F-000010'))
        FROM st")
    [ "$v" = t ] && ok "the children of scripted families 9 and 10 reach re_referral 12m and cycle" ||
        notok "the children of scripted families 9 and 10 reach re_referral 12m and cycle" "got '$v'"
    # ... and the rule itself says so: a dry run of the daemon under test, when there is one
    if [ -x "${DRIFTWATCHD:-}" ]; then
        printf '{"database": {"conninfo": "host=%s port=%s dbname=%s user=%s", "case_schema": "%s"}, "addresses": {"fallback": "duty@la.example"}}\n' \
            "${PGHOST:-127.0.0.1}" "${PGPORT:-5432}" "${PGDATABASE:-postgres}" "${PGUSER:-postgres}" "$SMALL" >"$tmp/small.json"
        "$DRIFTWATCHD" -c "$tmp/small.json" --once --dry-run --as-of "$T" >"$tmp/small.out" 2>"$tmp/small.err"
        v=$(/usr/bin/python3 -c '
import json, sys
want = {"F-000009": "12m", "F-000010": "cycle"}
got = {}
for line in open(sys.argv[1]):
    a = json.loads(line)
    if a.get("rule") == "re_referral" and a.get("family_id") in want:
        got.setdefault(a["family_id"], set()).add(a["stage"])
print("t" if all(got.get(f) == {s} for f, s in want.items()) else got)' "$tmp/small.out" 2>&1)
        [ "$v" = t ] && ok "driftwatchd gives families 9 and 10 re_referral 12m and cycle as of $T" ||
            notok "driftwatchd gives families 9 and 10 re_referral 12m and cycle as of $T" \
                "got $v; $(tail -n 5 "$tmp/small.err")"
    fi
else
    notok "200 children still have the scripted cases for every rule" "$(head -c 2000 "$tmp/load.err")"
fi

S=$SCHEMA
per100k() { awk -v n="$1" -v N="$N" 'BEGIN { printf "%.0f", n * 100000 / N }'; }

# ----------------------------------------------------- national proportions
v=$(q $S "SELECT count(DISTINCT child_id) FROM cp_plans WHERE child_id IS NOT NULL AND start_date <= :'T' AND (end_date IS NULL OR end_date > :'T')")
range "children on CP plans open on as-of per 100k (national ~410)" "$(per100k "${v:-0}")" 250 700
v=$(q $S "SELECT count(*) FROM cp_plans WHERE start_date > :'T'::date - 365 AND start_date <= :'T'")
range "CP plans started in the last year per 100k (national ~515)" "$(per100k "${v:-0}")" 300 800
v=$(q $S "SELECT count(*) FROM referrals WHERE referral_date > :'T'::date - 365 AND referral_date <= :'T'")
range "referrals in the last year per 100k (national ~5200)" "$(per100k "${v:-0}")" 3500 7000
v=$(q $S "SELECT count(DISTINCT child_id) FROM referrals WHERE referral_date <= :'T' AND (closure_date IS NULL OR closure_date > :'T')")
range "children in need (open referral) on as-of per 100k (national ~3300)" "$(per100k "${v:-0}")" 2000 4500
v=$(q $S "SELECT round(avg((initial_category = 'NEG')::int), 3) FROM cp_plans WHERE start_date > :'T'::date - 5 * 365 AND initial_category IN ('NEG','PHY','EMO','SAB','MUL')")
range "share of CP plans with initial category NEG (~0.5)" "$v" 0.36 0.66
v=$(q $S "SELECT round(avg((initial_category = 'EMO')::int), 3) FROM cp_plans WHERE start_date > :'T'::date - 5 * 365 AND initial_category IN ('NEG','PHY','EMO','SAB','MUL')")
range "share of CP plans with initial category EMO (~0.33)" "$v" 0.18 0.48
v=$(q $S "SELECT round(avg((EXISTS (SELECT 1 FROM cp_plans e WHERE e.child_id = p.child_id AND e.start_date < p.start_date))::int), 3)
          FROM cp_plans p WHERE p.start_date > :'T'::date - 3 * 365 AND p.child_id IS NOT NULL")
range "share of CP plans that are second or subsequent (~0.2)" "$v" 0.10 0.32
v=$(q $S "SELECT round(avg((end_date - start_date <= 91)::int), 3) FROM cp_plans WHERE end_date > start_date AND end_date > :'T'::date - 3 * 365")
range "share of ended CP plans up to 3 months (national 0.16)" "$v" 0.08 0.26
v=$(q $S "SELECT round(avg((end_date - start_date BETWEEN 183 AND 365)::int), 3) FROM cp_plans WHERE end_date > start_date AND end_date > :'T'::date - 3 * 365")
range "share of ended CP plans 6 to 12 months (national 0.44)" "$v" 0.28 0.60
positive "some CP plans longer than 2 years" \
    "$(q $S "SELECT count(*) FROM cp_plans WHERE coalesce(end_date, :'T'::date) - start_date > 730")"
positive "some CP plans open on as-of for more than 2 years" \
    "$(q $S "SELECT count(*) FROM cp_plans WHERE end_date IS NULL AND start_date < :'T'::date - 730")"
positive "some latest_category different from initial" \
    "$(q $S "SELECT count(*) FROM cp_plans WHERE latest_category <> initial_category")"
v=$(q $S "SELECT count(DISTINCT c.child_id) FROM children c WHERE EXISTS (SELECT 1 FROM referrals r WHERE r.child_id = c.child_id)")
range "share of children with social care involvement in 5 years" "$(awk -v v="${v:-0}" -v N="$N" 'BEGIN { printf "%.3f", v / N }')" 0.05 0.35

# -------------------------------------------------- shapes the rules look for
positive "some children with 3+ distinct workers in 12 months" \
    "$(q $S "SELECT count(*) FROM (SELECT child_id FROM allocations WHERE child_id IS NOT NULL AND start_date <= :'T'
             AND (end_date IS NULL OR end_date > :'T'::date - interval '12 months') GROUP BY child_id HAVING count(DISTINCT worker_id) >= 3) x")"
positive "some handovers to a new worker within 14 days of as-of" \
    "$(q $S "SELECT count(*) FROM allocations a WHERE a.start_date > :'T'::date - 14 AND a.start_date <= :'T' AND a.end_date IS NULL
             AND EXISTS (SELECT 1 FROM allocations b WHERE b.child_id = a.child_id AND b.start_date < a.start_date AND b.worker_id <> a.worker_id)")"
positive "some open neglect CIN plans 6+ months old" \
    "$(q $S "SELECT count(*) FROM cin_plans WHERE neglect AND end_date IS NULL AND start_date <= :'T'::date - interval '6 months'")"
for m in 9 12 15 18; do
    positive "some open neglect CP plans ${m}+ months old" \
        "$(q $S "SELECT count(*) FROM cp_plans WHERE coalesce(latest_category, initial_category) = 'NEG' AND end_date IS NULL
                 AND start_date <= :'T'::date - interval '$m months'")"
done
positive "some open CP plans 15+ months old with an active strategy" \
    "$(q $S "SELECT count(*) FROM cp_plans p WHERE end_date IS NULL AND start_date <= :'T'::date - interval '15 months'
             AND EXISTS (SELECT 1 FROM strategies s WHERE s.child_id = p.child_id AND s.decided_on <= :'T' AND (s.review_by IS NULL OR s.review_by >= :'T'))")"
positive "some open CP plans 15+ months old whose strategy review date has passed" \
    "$(q $S "SELECT count(*) FROM cp_plans p WHERE end_date IS NULL AND start_date <= :'T'::date - interval '15 months'
             AND EXISTS (SELECT 1 FROM strategies s WHERE s.child_id = p.child_id AND s.review_by < :'T' AND s.review_by > s.decided_on)")"
for w in "past:review_by < :'T'" "future:review_by >= :'T'" "unset:review_by IS NULL"; do
    positive "some strategies with review_by ${w%%:*}" "$(q $S "SELECT count(*) FROM strategies WHERE decided_on IS NOT NULL AND ${w#*:}")"
done
positive "some strategies of each kind (plo, care_proceedings, step_down)" \
    "$(q $S "SELECT CASE WHEN count(DISTINCT kind) FILTER (WHERE kind IN ('plo','care_proceedings','step_down')) = 3 THEN 1 ELSE 0 END FROM strategies")"
positive "some repeat neglect CP plans within 12 months of the previous one" \
    "$(q $S "SELECT count(*) FROM cp_plans a JOIN cp_plans b ON b.child_id = a.child_id AND b.end_date <= a.start_date
             AND a.start_date <= b.end_date + interval '12 months' WHERE a.initial_category = 'NEG' AND b.initial_category = 'NEG'")"
gaps="SELECT count(*) FILTER (WHERE g BETWEEN 1 AND 28), count(*) FILTER (WHERE g > 28) FROM (
      SELECT b.start_date - a.end_date AS g FROM cin_plans a JOIN cin_plans b ON a.child_id = b.child_id AND b.start_date > a.end_date
      WHERE a.neglect AND b.neglect AND b.start_date - a.end_date <= 120 AND NOT EXISTS (SELECT 1 FROM cin_plans c
            WHERE c.child_id = a.child_id AND c.start_date > a.start_date AND c.start_date < b.start_date)) x"
g=$(q $S "$gaps")
positive "neglect CIN plans restarted within 28 days (start-again)" "${g%%|*}"
positive "neglect CIN plans restarted 29 to 120 days later" "${g##*|}"
g=$(q $S "SELECT count(*) FILTER (WHERE g BETWEEN 1 AND 28), count(*) FILTER (WHERE g > 28) FROM (
      SELECT b.start_date - a.end_date AS g FROM cp_plans a JOIN cp_plans b ON a.child_id = b.child_id AND b.start_date > a.end_date
      WHERE b.start_date - a.end_date <= 120) x")
positive "CP plans restarted within 28 days" "${g%%|*}"
positive "CP plans restarted 29 to 120 days later" "${g##*|}"
positive "some step-downs from CP to CIN" \
    "$(q $S "SELECT count(*) FROM cp_plans p JOIN cin_plans c ON c.child_id = p.child_id AND c.start_date BETWEEN p.end_date AND p.end_date + 14")"
positive "some CIN plans overlap a CP plan of the same child" \
    "$(q $S "SELECT count(*) FROM cp_plans p JOIN cin_plans c ON c.child_id = p.child_id AND c.start_date < coalesce(p.end_date, 'infinity') AND p.start_date < coalesce(c.end_date, 'infinity')")"
positive "some was_not_brought appointments" \
    "$(q $S "SELECT count(*) FROM appointments WHERE outcome = 'was_not_brought'")"
positive "some children with 2+ was_not_brought in the 6 months to as-of" \
    "$(q $S "SELECT count(*) FROM (SELECT child_id FROM appointments WHERE outcome = 'was_not_brought'
             AND (scheduled_for AT TIME ZONE 'Europe/London')::date > :'T'::date - interval '6 months'
             AND (scheduled_for AT TIME ZONE 'Europe/London')::date <= :'T' GROUP BY child_id HAVING count(*) >= 2) x")"
positive "some was_not_brought for infants under 1" \
    "$(q $S "SELECT count(*) FROM appointments a JOIN children c USING (child_id) WHERE a.outcome = 'was_not_brought'
             AND (a.scheduled_for AT TIME ZONE 'Europe/London')::date < c.date_of_birth + interval '1 year'")"
positive "some pending appointments after as-of" \
    "$(q $S "SELECT count(*) FROM appointments WHERE outcome = 'pending' AND scheduled_for > (:'T'::date + 1)::timestamp AT TIME ZONE 'Europe/London'")"
positive "some late-evening appointments in British Summer Time" \
    "$(q $S "SELECT count(*) FROM appointments WHERE (scheduled_for AT TIME ZONE 'Europe/London')::time >= '22:00'
             AND extract(month FROM scheduled_for AT TIME ZONE 'Europe/London') BETWEEN 5 AND 8")"
positive "some appointments whose London date differs from their UTC date" \
    "$(q $S "SELECT count(*) FROM appointments WHERE (scheduled_for AT TIME ZONE 'Europe/London')::date <> (scheduled_for AT TIME ZONE 'UTC')::date")"
positive "every appointment service present" \
    "$(q $S "SELECT CASE WHEN count(DISTINCT service) = 6 THEN 1 ELSE 0 END FROM appointments WHERE service IN ('health_visiting','gp','dental','paediatrics','hospital','camhs')")"
positive "some unborn children (expected_dob, no date_of_birth)" \
    "$(q $S "SELECT count(*) FROM children WHERE date_of_birth IS NULL AND expected_dob IS NOT NULL")"
positive "some siblings share a family_id" \
    "$(q $S "SELECT count(*) FROM (SELECT family_id FROM children WHERE family_id IS NOT NULL GROUP BY 1 HAVING count(DISTINCT child_id) > 1) x")"
positive "referrals carry N1..N9 needs and RC closure codes" \
    "$(q $S "SELECT CASE WHEN count(DISTINCT primary_need) FILTER (WHERE primary_need ~ '^N[1-9]$') = 9
             AND count(*) FILTER (WHERE closure_reason ~ '^RC[1-9]$') > 0 AND count(*) FILTER (WHERE closure_date IS NULL) > 0 THEN 1 ELSE 0 END FROM referrals")"

v=$(q $S "SELECT round(avg((EXISTS (SELECT 1 FROM referrals p WHERE p.child_id = r.child_id AND p.referral_date < r.referral_date
              AND p.referral_date >= r.referral_date - interval '12 months'))::int), 3)
          FROM referrals r WHERE r.referral_date > :'T'::date - 365 AND r.referral_date <= :'T' AND r.child_id IS NOT NULL")
range "re-referrals within 12 months among the last year's referrals (national 0.22-0.23)" "$v" 0.18 0.27
v=$(q $S "SELECT count(*) FROM (SELECT child_id FROM referrals WHERE child_id IS NOT NULL AND referral_date > :'T'::date - interval '24 months'
          AND referral_date <= :'T' GROUP BY child_id HAVING count(*) >= 3) x")
range "children with 3+ referrals in the 24 months to as-of per 100k" "$(per100k "${v:-0}")" 100 1500
v=$(q $S "SELECT count(DISTINCT closure_reason) FROM referrals WHERE closure_reason ~ '^RC[1-9]$'")
[ "$v" = 9 ] && ok "referral closures carry every reason RC1..RC9" || notok "referral closures carry every reason RC1..RC9" "$v distinct"
v=$(q $S "SELECT count(DISTINCT (neglect, primary_need = 'N1')) FROM referrals WHERE neglect IS NOT NULL AND primary_need IS NOT NULL")
[ "$v" = 4 ] && ok "referrals mix the neglect flag and primary need N1 both ways" ||
    notok "referrals mix the neglect flag and primary need N1 both ways" "$v combinations"
positive "some open referrals whose child had a neglect referral in the 12 months before" \
    "$(q $S "SELECT count(*) FROM referrals c JOIN referrals e ON e.child_id = c.child_id AND e.referral_date < c.referral_date
             AND e.referral_date >= c.referral_date - interval '12 months' AND (e.neglect OR e.primary_need = 'N1')
             WHERE c.referral_date <= :'T' AND c.closure_date IS NULL")"

# ---------------------------------------------------------- other shapes
# dense: the independent authority's figures of issue 9, per 100,000 children, within 25%
if load gen_test_dense --shape dense 2>"$tmp/load.err"; then
    ok "$N children of --shape dense load"
    D=gen_test_dense
    for tf in "allocations:163000" "referrals:120000" "cin_plans:40000" "cp_plans:12000" \
        "appointments:500000" "strategies:1000" "workers:430" "teams:20"; do
        t=${tf%%:*} want=${tf#*:}
        case $t in
        teams) v=$(q $D "SELECT count(DISTINCT team_id) FROM teams") ;;
        workers) v=$(q $D "SELECT count(DISTINCT worker_id) FROM workers") ;;
        *) v=$(q $D "SELECT count(*) FROM $t") ;;
        esac
        range "--shape dense: $t per 100k (issue 9: $want)" "$(per100k "${v:-0}")" \
            "$(awk -v w="$want" 'BEGIN { print w * 0.75 }')" "$(awk -v w="$want" 'BEGIN { print w * 1.25 }')"
    done
    v=$(q $D "SELECT count(DISTINCT child_id) FROM cin_plans WHERE neglect AND end_date IS NULL
              AND start_date <= :'T'::date - interval '6 months'")
    range "--shape dense: children on a neglect CIN plan open 6+ months per 100k (issue 9: ~8000)" "$(per100k "${v:-0}")" 6000 10000
    v=$(q $D "SELECT round(avg((EXISTS (SELECT 1 FROM referrals p WHERE p.child_id = r.child_id AND p.referral_date < r.referral_date
              AND p.referral_date >= r.referral_date - interval '12 months'))::int), 3)
              FROM referrals r WHERE r.referral_date > :'T'::date - 365 AND r.referral_date <= :'T' AND r.child_id IS NOT NULL")
    range "--shape dense: re-referrals within 12 months (many, but not most)" "$v" 0.15 0.45
else
    notok "$N children of --shape dense load" "$(head -c 2000 "$tmp/load.err")"
fi
# heavy: a tail of children with hundreds of rows; the default shape has none
if load gen_test_heavy --shape heavy 2>"$tmp/load.err"; then
    ok "$N children of --shape heavy load"
    H=gen_test_heavy
    for t in allocations appointments cin_plans; do
        v=$(q $H "SELECT count(*) FROM (SELECT child_id FROM $t WHERE child_id IS NOT NULL GROUP BY 1 HAVING count(*) >= 150) x")
        range "--shape heavy: children with 150+ rows in $t per 100k (~150)" "$(per100k "${v:-0}")" 50 400
        v=$(q $S "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM $t WHERE child_id IS NOT NULL GROUP BY child_id) x")
        range "--shape default: no child has 150 rows in $t (max $v)" "$v" 1 149
    done
    v=$(q $H "SELECT count(*) FROM (SELECT child_id FROM cp_plans WHERE child_id IS NOT NULL GROUP BY 1 HAVING count(*) >= 50) x")
    positive "--shape heavy: some children with 50+ CP plans" "$v"
else
    notok "$N children of --shape heavy load" "$(head -c 2000 "$tmp/load.err")"
fi

# ---------------------------------------------------------- the organisation
C=$CLEAN
v=$(q $C "SELECT count(*) FROM teams")
range "teams: about one per 3,000 children" "$v" 5 9
positive "teams with manager_email and, with --team-webhooks, with webhook_url" \
    "$(q $C "SELECT least(count(manager_email), count(webhook_url)) FROM teams")"
gen --children 3000 --seed 1 >"$tmp/nohooks.sql"
check_cmd "without --team-webhooks no team has a webhook_url (driftwatch would post to it)" \
    sh -c "! grep -q 'https\?://' '$tmp/nohooks.sql'"
positive "workers in every role" \
    "$(q $C "SELECT CASE WHEN count(DISTINCT role) = 6 THEN 1 ELSE 0 END FROM workers")"
v=$(q $C "SELECT count(*) FROM workers w WHERE role = 'social_worker' AND NOT EXISTS (SELECT 1 FROM workers m
          WHERE m.worker_id = w.supervisor_id AND m.role = 'team_manager' AND m.team_id = w.team_id)")
[ "$v" = 0 ] && ok "social workers are supervised by their team's manager" || notok "social workers are supervised by their team's manager" "$v do not"
v=$(q $C "SELECT count(*) FROM workers WHERE email IS NOT NULL AND email !~ '^w[0-9]+@la\.example$'")
[ "$v" = 0 ] && ok "worker emails look like w123@la.example" || notok "worker emails look like w123@la.example" "$v do not"
v=$(q $C "SELECT count(*) FROM children WHERE child_id !~ '^C-[0-9]{6,}$'")
[ "$v" = 0 ] && ok "child ids look like C-000123" || notok "child ids look like C-000123" "$v do not"
v=$(q $C "SELECT count(*) FROM children")
[ "$v" = "$N" ] && ok "--children N gives N children rows without bad rows" || notok "--children N gives N children rows without bad rows" "got $v"

# -------------------------------------------------------------- bad rows
# kind by kind, as docs/internals.md "Bad rows" describes them
bad_sql=""
add() { bad_sql="${bad_sql:+$bad_sql UNION ALL }SELECT '$1', count(*) FROM $2"; }
keys="teams:team_id workers:worker_id children:child_id allocations:allocation_id referrals:referral_id
      cin_plans:plan_id cp_plans:plan_id appointments:appointment_id strategies:strategy_id"
for tk in $keys; do
    t=${tk%%:*} k=${tk#*:}
    add "$t.null_key" "$t WHERE $k IS NULL"
    case $t in teams|workers|children) ;; *) add "$t.null_child_id" "$t WHERE child_id IS NULL" ;; esac
    add "$t.duplicate_key" "(SELECT $k FROM $t x WHERE $k IS NOT NULL GROUP BY $k HAVING count(DISTINCT x::text) > 1) d"
    add "$t.identical_duplicate" "(SELECT x::text FROM $t x GROUP BY 1 HAVING count(*) > 1) d"
done
ids="(SELECT worker_id FROM workers WHERE worker_id IS NOT NULL)"
add workers.dangling_supervisor "workers WHERE supervisor_id IS NOT NULL AND supervisor_id NOT IN $ids"
add workers.dangling_team "workers WHERE team_id IS NOT NULL AND team_id NOT IN (SELECT team_id FROM teams WHERE team_id IS NOT NULL)"
add allocations.null_worker_id "allocations WHERE worker_id IS NULL"
add allocations.null_start_date "allocations WHERE start_date IS NULL"
add allocations.end_before_start "allocations WHERE end_date < start_date"
add allocations.dangling_worker "allocations WHERE worker_id IS NOT NULL AND worker_id NOT IN $ids"
add referrals.null_referral_date "referrals WHERE referral_date IS NULL"
add referrals.closure_before_referral "referrals WHERE closure_date < referral_date"
add cin_plans.null_start_date "cin_plans WHERE start_date IS NULL"
add cin_plans.end_before_start "cin_plans WHERE end_date < start_date"
add cin_plans.null_neglect "cin_plans WHERE neglect IS NULL"
add cp_plans.null_start_date "cp_plans WHERE start_date IS NULL"
add cp_plans.end_before_start "cp_plans WHERE end_date < start_date"
add cp_plans.null_category "cp_plans WHERE initial_category IS NULL"
add cp_plans.unknown_category "cp_plans WHERE initial_category NOT IN ('NEG','PHY','EMO','SAB','MUL') OR latest_category NOT IN ('NEG','PHY','EMO','SAB','MUL')"
add cp_plans.dangling_chair "cp_plans WHERE chair_id IS NOT NULL AND chair_id NOT IN $ids"
add appointments.null_scheduled_for "appointments WHERE scheduled_for IS NULL"
add appointments.unknown_outcome "appointments WHERE outcome NOT IN ('attended','was_not_brought','cancelled_by_family','cancelled_by_service','pending')"
add strategies.null_decided_on "strategies WHERE decided_on IS NULL"
add strategies.review_before_decided "strategies WHERE review_by < decided_on"
cids="(SELECT child_id FROM children WHERE child_id IS NOT NULL)"
add children.missing "(SELECT child_id FROM allocations UNION SELECT child_id FROM referrals UNION SELECT child_id FROM cin_plans
      UNION SELECT child_id FROM cp_plans UNION SELECT child_id FROM appointments UNION SELECT child_id FROM strategies) m
      WHERE child_id IS NOT NULL AND child_id NOT IN $cids"
add cp_plans.plan_for_missing_child "cp_plans WHERE child_id IS NOT NULL AND child_id NOT IN $cids"

psql_ -At -F ' ' -c "SET search_path = $S" -c "$bad_sql" >"$tmp/bad.txt" 2>>"$tmp/psql.err"
psql_ -At -F ' ' -c "SET search_path = $C" -c "$bad_sql" >"$tmp/clean.txt" 2>>"$tmp/psql.err"
nkinds=$(wc -l <"$tmp/bad.txt")
[ "$nkinds" -ge 50 ] && ok "bad-row census ran ($nkinds kinds)" || notok "bad-row census ran ($nkinds kinds)" "$(cat "$tmp/psql.err")"
while read -r kind n; do
    if [ "$n" -gt 0 ]; then ok "bad rows present: $kind ($n)"; else notok "bad rows present: $kind"; fi
done <"$tmp/bad.txt"
nonzero=$(awk '$2 > 0' "$tmp/clean.txt")
if [ "$(wc -l <"$tmp/clean.txt")" -ge 50 ] && [ -z "$nonzero" ]; then
    ok "--bad-rows 0 gives no bad rows of any kind"
else
    notok "--bad-rows 0 gives no bad rows of any kind" "$nonzero"
fi

if [ -s "$tmp/psql.err" ]; then
    sed 's/^/# psql: /' "$tmp/psql.err" | head -n 20
fi
echo "# test_generator: $tap_passed checks passed, $tap_failed failed"
tap_end
