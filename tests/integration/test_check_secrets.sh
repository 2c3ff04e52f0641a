#!/usr/bin/env bash
# test_check_secrets: --check-config checks every file the daemon will read (issue 10, item 7):
# a secret file that is empty, a directory, a FIFO (never waited on) or a device, or a webhook
# secret that is not "whsec_...", is a problem naming the key; a secret readable by every user is
# a warning; "credential:NAME" outside the service is checked for its form only, with a note.
# Against the test PostgreSQL (the contract in a schema of its own).
# Environment: DRIFTWATCHD, DW_TOP, TEST_TMPDIR and the test server's PG*.
# shellcheck disable=SC2016
set -u

top=${DW_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
daemon=${DRIFTWATCHD:-$top/build/san/driftwatchd}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
. "$top/tests/lib/tap.sh"

work=$(mktemp -d "${TEST_TMPDIR:-${TMPDIR:-/tmp}}/secrets.XXXXXX") || { notok "mktemp"; exit 1; }
trap 'rm -rf "$work"' EXIT
require "the daemon is built ($daemon)" test -x "$daemon"
sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
db=$(sql -c "SELECT current_database()")
sql -c "SET client_min_messages = warning" -c "DROP SCHEMA IF EXISTS sec_case CASCADE" >/dev/null
sql -v schema=sec_case -f "$top/rules/contract.sql" >/dev/null

good=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
printf '%s\n' "$good" >"$work/good"
chmod 600 "$work/good"
: >"$work/empty"
mkdir "$work/dir"
mkfifo "$work/fifo"
printf 'not-a-whsec\n' >"$work/notwhsec"
chmod 600 "$work/notwhsec" "$work/empty"
printf '%s\n' "$good" >"$work/open"
chmod 644 "$work/open"
printf 'hunter2\n' >"$work/pw"
chmod 600 "$work/pw"

config() { # FILE SECRET_FILE [PASSWORD_FILE]
	cat >"$1" <<EOF
{ "database": { "conninfo": "host=127.0.0.1 port=$PGPORT dbname=$db user=$PGUSER",
                "case_schema": "sec_case", "state_schema": "sec_state" },
  "addresses": { "fallback": "duty@la.example" },
  "email": { "smtp_url": "smtp://127.0.0.1:9", "tls": "none", "from": "dw@la.example",
             "username": "dw", "password_file": "${3:-$work/pw}" },
  "webhooks": [ { "url": "https://hooks.example/x", "secret_file": "$2" } ] }
EOF
}
run_check() { # NAME SECRET_FILE [PASSWORD_FILE]: runs --check-config; sets rc and out
	config "$work/$1.json" "$2" "${3:-}"
	out=$(env -u CREDENTIALS_DIRECTORY timeout 20 "$daemon" -c "$work/$1.json" --check-config 2>&1)
	rc=$?
}

run_check good "$work/good"
check "a good secret file: --check-config exits 0" '[ $rc -eq 0 ]'
[ $rc -eq 0 ] || note "$out"
for kind in empty dir fifo notwhsec; do
	run_check "$kind" "$work/$kind"
	case $kind in
	empty) want="is empty" ;;
	dir) want="is a directory" ;;
	fifo) want="is a FIFO, not a regular file" ;;
	notwhsec) want="whsec_" ;;
	esac
	check "a secret file that $want: exit 2 (not 124: no wait on it)" '[ $rc -eq 2 ]'
	check "... naming webhooks[0].secret_file and what is wrong" \
		'[[ "$out" == *"webhooks[0].secret_file"*"$want"* ]]'
	[ $rc -eq 2 ] || note "$out"
done
run_check device /dev/zero
check "a device as a secret file: exit 2, said so" '[ $rc -eq 2 ] && [[ "$out" == *"is a device"* ]]'
run_check pwfifo "$work/good" "$work/fifo"
check "email.password_file a FIFO: exit 2, naming the key" \
	'[ $rc -eq 2 ] && [[ "$out" == *"email.password_file"*"FIFO"* ]]'
run_check open "$work/open"
check "a secret readable by everyone: a warning, exit 0" \
	'[ $rc -eq 0 ] && [[ "$out" == *"warning"*"readable by every user"* ]]'
run_check cred "credential:hook-secret"
check "credential:NAME outside the service: exit 0, checked for its form only" \
	'[ $rc -eq 0 ] && [[ "$out" == *"checked for its form only"* ]]'
# the key's path is spelt as everywhere else (audit 16: it read "webhooks[0]secret_file")
check "... the note names webhooks[0].secret_file" \
	'[[ "$out" == *'"'"'webhooks[0].secret_file: "credential:hook-secret" checked'"'"'* ]]' ||
	note "$out"

run_check badcred "credential:../etc"
check "a malformed credential:NAME: exit 2" '[ $rc -eq 2 ]'
all_out=$out
# web.api_tokens_file: the daemon starts without it, but then refuses every API client (401)
tokens_check() { # NAME TOKENS_FILE: sets rc and out
	config "$work/$1.json" "$work/good"
	sed -i 's|^  "webhooks":|  "web": { "listen": "127.0.0.1:9", "api_tokens_file": "'"$2"'" },\n  "webhooks":|' \
		"$work/$1.json"
	out=$(env -u CREDENTIALS_DIRECTORY timeout 20 "$daemon" -c "$work/$1.json" --check-config 2>&1)
	rc=$?
	all_out="$all_out
$out"
}
printf 'ops-console %s\n' "$(printf 'tok' | sha256sum | cut -c1-64)" >"$work/tokens"
printf 'ops-console not-a-hash\n' >"$work/badtokens"
chmod 600 "$work/tokens" "$work/badtokens"
tokens_check tokens "$work/tokens"
check "a good web.api_tokens_file: exit 0" '[ $rc -eq 0 ]'
[ $rc -eq 0 ] || note "$out"
tokens_check notokens "$work/missing-tokens"
check "web.api_tokens_file missing: exit 2, naming the key" \
	'[ $rc -eq 2 ] && [[ "$out" == *"web.api_tokens_file"*"missing-tokens"* ]]'
[ $rc -eq 2 ] || note "$out"
tokens_check badtokens "$work/badtokens"
check "web.api_tokens_file with a line that is no token: exit 2, naming the key and the line" \
	'[ $rc -eq 2 ] && [[ "$out" == *"web.api_tokens_file"*"line 1"* ]]'
[ $rc -eq 2 ] || note "$out"
out=$all_out
no_sanitizer_report "no sanitizer report" <(printf '%s\n' "$out")
tap_end
