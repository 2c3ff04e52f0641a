#!/usr/bin/env bash
# The command line, exit codes, configuration errors and --check-config (ALERTS.md, "Command
# line"; CONTRACT.md), tested from the spec. Exit status: 0 success, 1 runtime failure, 2 bad
# usage or configuration. Prints `ok - ...` / `not ok - ...` lines (tests/run.sh).
#
# Environment: DRIFTWATCHD, PGHOST PGPORT PGUSER (defaults 127.0.0.1 15432 dwtest), DW_TOP.
# Uses its own database dwcli (dropped and created here) with several case schemas.
set -u

top=${DW_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
D=${DRIFTWATCHD:-$top/build/san/driftwatchd}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-15432} PGUSER=${PGUSER:-dwtest}
case $PGHOST in /*) PGHOST=127.0.0.1 ;; esac
DB=dwcli
CONN="host=$PGHOST port=$PGPORT dbname=$DB user=$PGUSER"
SECRET_B64=c2VjcmV0LXRlc3Qtc2VjcmV0LWRvLW5vdC1sZWFrLTEyMzQ1Ng==
SECRET="whsec_$SECRET_B64"

tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/dw-cli.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

. "$top/tests/lib/tap.sh"

# expect_rc NAME WANT: the last run exited WANT
expect_rc() {
	if [ "$rc" -eq "$2" ]; then ok "$1"; else notok "$1" "$(ctx)"; fi
}
# expect_fail NAME: the last run exited non-zero, and did not time out
expect_fail() {
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ]; then ok "$1"; else notok "$1" "$(ctx)"; fi
}

# run ARGS...: runs the daemon (20 s at most) with no stdin; sets rc, out, err.
run() {
	timeout -k 5 20 "$D" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
	rc=$?
	out=$(cat "$tmp/out")
	err=$(cat "$tmp/err")
}
ctx() { printf 'exit %s\nstdout: %s\nstderr: %s' "$rc" "${out:0:1500}" "${err:0:1500}"; }
# has TEXT NEEDLE: case-sensitive fixed-string search
has() { case $1 in *"$2"*) return 0 ;; *) return 1 ;; esac; }
no_sanitizer() {
	if has "$err" "Sanitizer" || has "$err" "runtime error:"; then
		notok "$1: no sanitizer report" "$err"
	fi
}

# expect_config_error NAME FILE KEY...: exit 2, stderr names the file and each key
expect_config_error() {
	local name=$1 file=$2 k missing=()
	shift 2
	run -c "$file" --check-config
	expect_rc "$name: --check-config exits 2" 2
	has "$err" "$file"
	check_status "$name: the message names the file" $? "$(ctx)"
	for k in "$@"; do has "$err" "$k" || missing+=("$k"); done
	if [ ${#missing[@]} -eq 0 ]; then
		ok "$name: the message names $*"
	else
		notok "$name: the message names $*" "not named: ${missing[*]}" "$(ctx)"
	fi
	run -c "$file" --once --dry-run --as-of 2026-11-21
	expect_rc "$name: --once --dry-run exits 2" 2
	# the daemon logs for the journal: a unit that fails on its configuration says why at
	# error level (audit 9: no prefix put it at info, hidden by journalctl -p warning)
	printf '%s\n' "$err" | grep -v '^<3>' | grep -q . && has_bare=1 || has_bare=0
	check_status "$name: --once says each fault at <3> (error) for the journal" $has_bare "$(ctx)"
	no_sanitizer "$name"
}

cfg() { # cfg NAME JSON: writes $tmp/NAME.json
	printf '%s\n' "$2" >"$tmp/$1.json"
}

if [ ! -x "$D" ]; then
	notok "driftwatchd is built" "$D is not an executable (set DRIFTWATCHD)"
	exit 1
fi

# --- the database: one case schema per situation ------------------------------------------
setup_db() {
	psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $DB" \
		-c "CREATE DATABASE $DB" || return 1
	local s
	for s in casework cli_good cli_missing cli_badtype cli_stamp cli_citext "Cli Odd-Name"; do
		psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -v "schema=$s" -f "$top/rules/contract.sql" || return 1
	done
	psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<'EOF' || return 1
-- extra columns and relations are allowed by the contract
ALTER TABLE cli_good.children ADD COLUMN local_note text;
CREATE TABLE cli_good.visits (visit_id text, child_id text);
-- a missing relation (two of them)
DROP TABLE cli_missing.strategies;
DROP TABLE cli_missing.teams;
-- columns of the wrong type, and a missing column
ALTER TABLE cli_badtype.cp_plans ALTER COLUMN start_date TYPE text;
ALTER TABLE cli_stamp.cp_plans ALTER COLUMN start_date TYPE timestamp;
INSERT INTO cli_stamp.cp_plans VALUES ('P1', 'C1', '2026-01-05 00:00', NULL, 'NEG', NULL, NULL);
ALTER TABLE cli_badtype.children ALTER COLUMN disability TYPE text;
-- ids as citext, as a database moved from SQL Server may have them (audit 12, F7)
CREATE EXTENSION IF NOT EXISTS citext;
ALTER TABLE cli_citext.children ALTER COLUMN child_id TYPE citext;
ALTER TABLE cli_citext.allocations ALTER COLUMN child_id TYPE citext;
INSERT INTO cli_citext.children VALUES ('C1', 'F1', '2020-01-01', NULL, false);
INSERT INTO cli_citext.cp_plans VALUES ('P1', 'C1', '2025-06-01', NULL, 'NEG', NULL, NULL);
ALTER TABLE cli_badtype.appointments DROP COLUMN outcome;
-- the contract as views over tables elsewhere, as an authority maps its own system
CREATE SCHEMA cli_views;
CREATE VIEW cli_views.teams        AS SELECT * FROM cli_good.teams;
CREATE VIEW cli_views.workers      AS SELECT * FROM cli_good.workers;
CREATE VIEW cli_views.children     AS SELECT * FROM cli_good.children;
CREATE VIEW cli_views.allocations  AS SELECT * FROM cli_good.allocations;
CREATE VIEW cli_views.referrals    AS SELECT * FROM cli_good.referrals;
CREATE VIEW cli_views.cin_plans    AS SELECT * FROM cli_good.cin_plans;
CREATE VIEW cli_views.cp_plans     AS SELECT * FROM cli_good.cp_plans;
CREATE VIEW cli_views.appointments AS SELECT * FROM cli_good.appointments;
CREATE VIEW cli_views.strategies   AS SELECT * FROM cli_good.strategies;
EOF
}
if setup_db >"$tmp/setup.log" 2>&1; then
	ok "create database $DB with the test case schemas"
else
	notok "create database $DB with the test case schemas" "$(cat "$tmp/setup.log")"
	exit 1
fi

# --- usage -----------------------------------------------------------------------------------
run --help
expect_rc "--help exits 0" 0
has "$out$err" "--check-config"
check_status "--help describes the options" $? "$(ctx)"
run --version
expect_rc "--version exits 0" 0
[[ "$out$err" =~ [0-9]+\.[0-9]+ ]]
check_status "--version prints a version number" $? "$(ctx)"

run
expect_rc "no arguments: exits 2" 2
run --once --dry-run
expect_rc "no -c: exits 2" 2
[ -n "$err" ]
check_status "no -c: says so on stderr" $? "$(ctx)"
run --check-config
expect_rc "--check-config without -c: exits 2" 2
run -c
expect_rc "-c without a file: exits 2" 2
cfg good "{\"database\": {\"conninfo\": \"$CONN\", \"case_schema\": \"cli_good\"}}"
run -c "$tmp/good.json" --frobnicate
expect_rc "an unknown option: exits 2" 2
has "$err" "frobnicate"
check_status "an unknown option: stderr names it" $? "$(ctx)"
# both at once used to do the last one and exit 0 (audit 9)
for pair in "--install-triggers --remove-triggers" "--remove-triggers --install-triggers"; do
	run -c /nonexistent.json $pair
	expect_rc "$pair: exits 2 (choose one)" 2
done
for bad in 2026-02-30 2026-13-01 yesterday 21/11/2026; do
	run -c "$tmp/good.json" --once --dry-run --as-of "$bad"
	expect_rc "--as-of $bad: exits 2" 2
done
run -c "$tmp/good.json" --once --dry-run --as-of 0001-01-01
expect_rc "--as-of 0001-01-01: exits 2" 2
has "$err" "before 1900"
check_status "--as-of 0001-01-01: says what is wrong (the year), not the form" $? "$(ctx)"
# given twice, the last used to win without a word (audit 16)
run -c "$tmp/no-such-config.json" -c "$tmp/good.json" --check-config
expect_rc "-c given twice: exits 2" 2
has "$err" "-c/--config is given twice"
check_status "-c given twice: says so" $? "$(ctx)"
run -c "$tmp/good.json" --once --dry-run --as-of 2026-01-01 --as-of 2026-01-02
expect_rc "--as-of given twice: exits 2" 2
has "$err" "--as-of is given twice"
check_status "--as-of given twice: says so" $? "$(ctx)"
# -c "" (a script's unset variable) said ": cannot read: No such file or directory"
run -c "" --check-config
expect_rc "-c with an empty name: exits 2" 2
has "$err" "the name given is empty"
check_status "-c with an empty name: says so" $? "$(ctx)"
run --version extra
expect_rc "--version with a stray argument: exits 2" 2
has "$err" '"extra"'
check_status "--version with a stray argument: names it" $? "$(ctx)"

# --- configuration errors: exit 2, naming the file and the key ------------------------------
run -c "$tmp/no-such-config.json" --check-config
expect_rc "a missing config file: exits 2" 2
has "$err" "$tmp/no-such-config.json"
check_status "a missing config file: stderr names it" $? "$(ctx)"
run -c "$tmp/no-such-config.json" --once --dry-run
expect_rc "a missing config file with --once: exits 2" 2

printf '{"database": {"conninfo": "%s",}\n' "$CONN" >"$tmp/invalid.json"
run -c "$tmp/invalid.json" --check-config
expect_rc "invalid JSON: exits 2" 2
has "$err" "$tmp/invalid.json"
check_status "invalid JSON: stderr names the file" $? "$(ctx)"
: >"$tmp/empty.json"
run -c "$tmp/empty.json" --check-config
expect_rc "an empty file: exits 2" 2
cfg array '[1, 2]'
run -c "$tmp/array.json" --check-config
expect_rc "a JSON array, not an object: exits 2" 2
cfg noconn '{"database": {"case_schema": "cli_good"}}'
expect_config_error "no database.conninfo" "$tmp/noconn.json" conninfo
# what libpq would refuse at connect time is a configuration error (2), not a runtime one (1)
cfg badconn '{"database": {"conninfo": "hostx== port=5432"}}'
expect_config_error "a database.conninfo libpq cannot parse" "$tmp/badconn.json" database.conninfo

cfg unknown_top "{\"database\": {\"conninfo\": \"$CONN\"}, \"colour\": \"blue\"}"
expect_config_error "unknown top-level key" "$tmp/unknown_top.json" colour
cfg unknown_db "{\"database\": {\"conninfo\": \"$CONN\", \"pool_size\": 4}}"
expect_config_error "unknown key in database" "$tmp/unknown_db.json" pool_size
cfg unknown_rule "{\"database\": {\"conninfo\": \"$CONN\"}, \"rules\": {\"no_such_rule\": {\"enabled\": true}}}"
expect_config_error "unknown rule" "$tmp/unknown_rule.json" no_such_rule
cfg unknown_addr "{\"database\": {\"conninfo\": \"$CONN\"}, \"addresses\": {\"janitor\": \"j@la.example\"}}"
expect_config_error "unknown address" "$tmp/unknown_addr.json" janitor
cfg unknown_opt "{\"database\": {\"conninfo\": \"$CONN\"}, \"rules\": {\"worker_churn\": {\"speed\": 3}}}"
expect_config_error "unknown rule option" "$tmp/unknown_opt.json" speed
cfg unknown_stage "{\"database\": {\"conninfo\": \"$CONN\"}, \"rules\": {\"cp_neglect_duration\": {\"stages\": {\"21m\": {\"months\": 21}}}}}"
expect_config_error "unknown stage" "$tmp/unknown_stage.json" 21m
cfg neglect_cats_wrong_rule "{\"database\": {\"conninfo\": \"$CONN\"}, \"rules\": {\"worker_churn\": {\"stages\": {\"churn\": {\"workers\": 3}}, \"window_months\": 12, \"neglect_category\": [\"NEG\"]}}}"
expect_config_error "misspelt neglect_categories" "$tmp/neglect_cats_wrong_rule.json" neglect_category
cfg bad_max_age "{\"database\": {\"conninfo\": \"$CONN\"}, \"delivery\": {\"max_age_hours\": 0}}"
expect_config_error "delivery.max_age_hours 0" "$tmp/bad_max_age.json" delivery.max_age_hours "from 1 to 720, got 0"

cfg type_conninfo '{"database": {"conninfo": 42}}'
expect_config_error "conninfo is a number" "$tmp/type_conninfo.json" conninfo
cfg type_tz "{\"database\": {\"conninfo\": \"$CONN\"}, \"timezone\": 5}"
expect_config_error "timezone is a number" "$tmp/type_tz.json" timezone
cfg type_enabled "{\"database\": {\"conninfo\": \"$CONN\"}, \"rules\": {\"cp_neglect_duration\": {\"enabled\": \"yes\"}}}"
expect_config_error "enabled is a string" "$tmp/type_enabled.json" enabled
cfg type_cats "{\"database\": {\"conninfo\": \"$CONN\"}, \"rules\": {\"cp_neglect_duration\": {\"neglect_categories\": \"NEG\"}}}"
expect_config_error "neglect_categories is not a list" "$tmp/type_cats.json" neglect_categories
cfg type_gap "{\"database\": {\"conninfo\": \"$CONN\"}, \"rules\": {\"cin_neglect_duration\": {\"merge_gap_days\": \"28\"}}}"
expect_config_error "merge_gap_days is a string" "$tmp/type_gap.json" merge_gap_days
cfg type_webhooks "{\"database\": {\"conninfo\": \"$CONN\"}, \"webhooks\": {\"url\": \"https://hooks.example.invalid/x\"}}"
expect_config_error "webhooks is not a list" "$tmp/type_webhooks.json" webhooks

cfg bad_gap "{\"database\": {\"conninfo\": \"$CONN\"}, \"rules\": {\"cp_neglect_duration\": {\"merge_gap_days\": -1}}}"
expect_config_error "negative merge_gap_days" "$tmp/bad_gap.json" merge_gap_days
cfg bad_tls "{\"database\": {\"conninfo\": \"$CONN\"}, \"email\": {\"smtp_url\": \"smtp://127.0.0.1:2525\", \"tls\": \"sometimes\", \"from\": \"dw@la.example\"}}"
expect_config_error "email.tls is not starttls, implicit or none" "$tmp/bad_tls.json" tls
cfg bad_role "{\"database\": {\"conninfo\": \"$CONN\"}, \"rules\": {\"was_not_brought\": {\"stages\": {\"repeated\": {\"count\": 2, \"recipients\": [\"janitor\"]}}}}}"
expect_config_error "an unknown recipient role" "$tmp/bad_role.json" janitor
cfg bad_count "{\"database\": {\"conninfo\": \"$CONN\"}, \"rules\": {\"worker_churn\": {\"stages\": {\"churn\": {\"workers\": 0}}}}}"
expect_config_error "a zero worker threshold" "$tmp/bad_count.json" workers
cfg bad_order "{\"database\": {\"conninfo\": \"$CONN\"}, \"rules\": {\"cp_neglect_duration\": {\"stages\": {\"9m\": {\"months\": 13}}}}}"
expect_config_error "stage thresholds out of order (9m after 12m)" "$tmp/bad_order.json" 9m

# every fault is reported, not just the first
cfg two_faults "{\"database\": {\"conninfo\": \"$CONN\", \"pool_size\": 4}, \"timezone\": 5}"
expect_config_error "two faults" "$tmp/two_faults.json" pool_size timezone

# --- a config with only database.conninfo works (case schema casework) ----------------------
cfg minimal "{\"database\": {\"conninfo\": \"$CONN\"}}"
run -c "$tmp/minimal.json" --check-config
expect_rc "a config with only database.conninfo: --check-config exits 0" 0
no_sanitizer "minimal --check-config"
run -c "$tmp/minimal.json" --once --dry-run --as-of 2026-11-21
expect_rc "a config with only database.conninfo: --once --dry-run exits 0" 0
[ -z "$out" ]
check_status "a config with only database.conninfo: no alerts on empty case data" $? "$(ctx)"
no_sanitizer "minimal --once --dry-run"
psql -X -q -d "$DB" -Atc "SELECT count(*) FROM pg_namespace WHERE nspname = 'driftwatch'" >"$tmp/ns" 2>&1
[ "$(cat "$tmp/ns")" = 0 ]
check_status "--dry-run does not create the state schema" $? "$(cat "$tmp/ns")"

# "tls": "none" is for a relay on the same host (ALERTS.md): to another host, a warning
cfg clear_remote "{\"database\": {\"conninfo\": \"$CONN\"}, \"email\": {\"smtp_url\": \"smtp://mail.la.example:25\", \"tls\": \"none\", \"from\": \"dw@la.example\"}}"
run -c "$tmp/clear_remote.json" --check-config
expect_rc "email.tls none to another host: --check-config exits 0" 0
has "$err" "email.tls: warning" && has "$err" "clear text"
check_status "email.tls none to another host: --check-config warns of clear text" $? "$(ctx)"
cfg clear_local "{\"database\": {\"conninfo\": \"$CONN\"}, \"email\": {\"smtp_url\": \"smtp://127.0.0.1:2525\", \"tls\": \"none\", \"from\": \"dw@la.example\"}}"
run -c "$tmp/clear_local.json" --check-config
expect_rc "email.tls none to 127.0.0.1: --check-config exits 0" 0
! has "$err" "email.tls: warning"
check_status "email.tls none to a loopback relay: no warning" $? "$(ctx)"

# --- --check-config against the database contract -------------------------------------------
run -c "$tmp/good.json" --check-config
expect_rc "--check-config, good schema with extra columns and relations: exits 0" 0
cfg views "{\"database\": {\"conninfo\": \"$CONN\", \"case_schema\": \"cli_views\"}}"
run -c "$tmp/views.json" --check-config
expect_rc "--check-config, the contract as views: exits 0" 0

cfg oddname "{\"database\": {\"conninfo\": \"$CONN\", \"case_schema\": \"Cli Odd-Name\"}}"
run -c "$tmp/oddname.json" --check-config
expect_rc "--check-config, a case schema whose name needs quoting: exits 0" 0
run -c "$tmp/oddname.json" --once --dry-run --as-of 2026-11-21
expect_rc "--once --dry-run, a case schema whose name needs quoting: exits 0" 0
no_sanitizer "odd schema name"

cfg missing "{\"database\": {\"conninfo\": \"$CONN\", \"case_schema\": \"cli_missing\"}}"
run -c "$tmp/missing.json" --check-config
expect_fail "--check-config, relations missing: exits non-zero"
for t in strategies teams; do
	has "$out$err" "$t"
	check_status "--check-config, relations missing: names $t" $? "$(ctx)"
done
# (audit 16) the lines named neither the file nor the key that chose the schema
has "$err" "$tmp/missing.json: database.case_schema: relation cli_missing.strategies: missing"
check_status "--check-config, relations missing: each line names the file and database.case_schema" $? "$(ctx)"
no_sanitizer "--check-config missing relations"

cfg badtype "{\"database\": {\"conninfo\": \"$CONN\", \"case_schema\": \"cli_badtype\"}}"
run -c "$tmp/badtype.json" --check-config
expect_fail "--check-config, wrong column types: exits non-zero"
for pair in cp_plans:start_date children:disability appointments:outcome; do
	rel=${pair%%:*} col=${pair#*:}
	has "$out$err" "$rel" && has "$out$err" "$col"
	check_status "--check-config, wrong column types: names $rel.$col" $? "$(ctx)"
done
no_sanitizer "--check-config wrong types"
cfg citext "{\"database\": {\"conninfo\": \"$CONN\", \"case_schema\": \"cli_citext\"}}"
run -c "$tmp/citext.json" --check-config
! has "$out$err" "citext is not"
check_status "--check-config, ids as citext: no type problem named (they are read as text)" $? "$(ctx)"
run -c "$tmp/citext.json" --once --dry-run --as-of 2026-11-21
expect_rc "--dry-run, ids as citext: exits 0" 0
has "$out" '"rule":"cp_neglect_duration"'
check_status "--dry-run, ids as citext: C1's CP plan alert" $? "$(ctx)"
# a timestamp where the contract has a date: the rules still run, but days can shift and the
# facts show times; a one-shot run used to take it without a word
cfg stamp "{\"database\": {\"conninfo\": \"$CONN\", \"case_schema\": \"cli_stamp\"}}"
run -c "$tmp/stamp.json" --once --dry-run --as-of 2026-11-21
expect_rc "--dry-run, cp_plans.start_date a timestamp: exits 0 (the rules run)" 0
has "$err" "cli_stamp.cp_plans.start_date: type timestamp without time zone is not the contract's date"
check_status "--dry-run, cp_plans.start_date a timestamp: a warning names the column and its type" $? "$(ctx)"
# a neglect category no CP plan has (a typo, another system's code) finds nothing, silently
cfg stampcat "{\"database\": {\"conninfo\": \"$CONN\", \"case_schema\": \"cli_stamp\"},
	\"rules\": {\"cp_neglect_duration\": {\"neglect_categories\": [\"NEGLECT\", \"NEG\"]}}}"
run -c "$tmp/stampcat.json" --check-config
has "$out$err" 'rules.cp_neglect_duration.neglect_categories: warning: no plan in cli_stamp.cp_plans has the category "NEGLECT"' &&
	! has "$out$err" 'the category "NEG"'
check_status "--check-config: a configured neglect category no CP plan has is a warning naming it (and NEG, which one has, is not)" $? "$(ctx)"

cfg noschema "{\"database\": {\"conninfo\": \"$CONN\", \"case_schema\": \"no_such_schema\"}}"
run -c "$tmp/noschema.json" --check-config
expect_fail "--check-config, no such case schema: exits non-zero"
has "$out$err" "no_such_schema"
check_status "--check-config, no such case schema: names it" $? "$(ctx)"
! has "$out$err" "LINE 1" && ! has "$out" "could not check whether"
check_status "--check-config, no such case schema: no PostgreSQL error with its statement's text repeats the missing relations" $? "$(ctx)"

# --- secrets never appear -------------------------------------------------------------------
leaks() { has "$out$err" "$SECRET_B64" || has "$out$err" "do-not-leak"; }
cfg secret "{\"database\": {\"conninfo\": \"$CONN\", \"case_schema\": \"cli_good\"},
 \"webhooks\": [{\"url\": \"https://hooks.example.invalid/drift\", \"secret\": \"$SECRET\"}]}"
run -c "$tmp/secret.json" --check-config
expect_rc "--check-config with an inline webhook secret: exits 0" 0
! leaks
check_status "--check-config does not print the webhook secret" $? "$(ctx)"
run -c "$tmp/secret.json" --once --dry-run --as-of 2026-11-21
! leaks
check_status "--once --dry-run does not print the webhook secret" $? "$(ctx)"
cfg secret_bad "{\"database\": {\"conninfo\": \"$CONN\", \"case_schema\": \"cli_missing\"},
 \"timezone\": 7,
 \"webhooks\": [{\"url\": \"https://hooks.example.invalid/drift\", \"secret\": \"$SECRET\"}]}"
run -c "$tmp/secret_bad.json" --check-config
expect_rc "a faulty config with a webhook secret: exits 2" 2
! leaks
check_status "a faulty config's errors do not print the webhook secret" $? "$(ctx)"
cfg secret_malformed "{\"database\": {\"conninfo\": \"$CONN\", \"case_schema\": \"cli_good\"},
 \"webhooks\": [{\"url\": \"https://hooks.example.invalid/drift\", \"secret\": \"whsec_!!do-not-leak!!\"}]}"
run -c "$tmp/secret_malformed.json" --check-config
! leaks
check_status "a malformed webhook secret is not echoed" $? "$(ctx)"
cfg secret_pw "{\"database\": {\"conninfo\": \"$CONN\", \"case_schema\": \"cli_good\"},
 \"email\": {\"smtp_url\": \"smtp://127.0.0.1:2525\", \"tls\": \"none\", \"from\": \"dw@la.example\",
   \"username\": \"dw\", \"password\": \"pw-do-not-leak-42\"}}"
run -c "$tmp/secret_pw.json" --check-config
! leaks
check_status "an inline SMTP password is not printed" $? "$(ctx)"
cfg secret_conn "{\"database\": {\"conninfo\": \"host=127.0.0.1 port=1 dbname=dw_secret user=dw password=do-not-leak-pg\"}}"
run -c "$tmp/secret_conn.json" --check-config
! leaks
check_status "a password in conninfo is not printed when the database is unreachable" $? "$(ctx)"

# --- an unreachable database: exit 1, naming it, without hanging ----------------------------
cfg unreachable '{"database": {"conninfo": "host=127.0.0.1 port=1 dbname=dw_unreachable user=dwtest connect_timeout=5"}}'
start=$(date +%s)
run -c "$tmp/unreachable.json" --once --dry-run --as-of 2026-11-21
took=$(($(date +%s) - start))
[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ]
check_status "unreachable database: --once --dry-run does not hang (${took}s)" $? "$(ctx)"
expect_rc "unreachable database: --once --dry-run exits 1" 1
has "$err" "dw_unreachable" || has "$err" "127.0.0.1"
check_status "unreachable database: stderr names the database" $? "$(ctx)"
no_sanitizer "unreachable --once"
run -c "$tmp/unreachable.json" --once --as-of 2026-11-21
expect_rc "unreachable database: --once exits 1" 1
run -c "$tmp/unreachable.json" --check-config
expect_fail "unreachable database: --check-config exits non-zero without hanging"
has "$err$out" "dw_unreachable" || has "$err$out" "127.0.0.1"
check_status "unreachable database: --check-config names the database" $? "$(ctx)"

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1

echo "# $tap_passed passed, $tap_failed failed"
tap_end
