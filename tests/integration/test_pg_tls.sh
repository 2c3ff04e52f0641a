#!/usr/bin/env bash
# test_pg_tls: TLS to PostgreSQL with the council's own certificate authority (issue 15, item 3).
# A PostgreSQL of its own with ssl=on and a certificate from a throwaway CA (make_test_ca.sh),
# which refuses every TCP connection without TLS (pg_hba.conf: hostnossl ... reject). Then:
#   - with sslmode=verify-full and sslrootcert naming the CA, --check-config is good, --once
#     records, and the daemon evaluates with every connection of its own over TLS
#     (pg_stat_ssl) and delivers to a real webhook receiver;
#   - with another CA in sslrootcert, --check-config fails (exit 1) and the daemon keeps
#     retrying, each saying that the database connection failed certificate verification.
# Environment: DRIFTWATCHD, DW_TOP, TEST_TMPDIR, TEST_PGPORT (its server takes a port 10 to 40
# above it).
# shellcheck disable=SC2016
set -u

top=${DW_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
here=$top/tests/integration
daemon=${DRIFTWATCHD:-$top/build/san/driftwatchd}
py=/usr/bin/python3
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

. "$top/tests/lib/tap.sh"
. "$top/tests/lib/pg.sh"

work=$(mktemp -d "${TEST_TMPDIR:-${TMPDIR:-/tmp}}/pgtls.XXXXXX") || { notok "mktemp"; exit 1; }
chmod 0755 "$work" # the server may run as another user (pg.sh)
pgdir=$work/pg
pids=()
cleanup() {
	stop_all "${pids[@]}"
	pg_stop "$pgdir" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
require "the daemon is built ($daemon)" test -x "$daemon"
require "openssl is installed" command -v openssl

pgport=$(first_free_port $((${TEST_PGPORT:-16700} + 10)) $((${TEST_PGPORT:-16700} + 40)))
start_own_pg "$pgdir" "$pgport"
# psql over the unix socket (local ... trust): the TCP rules below are for the daemon.
sql() { PGHOST=$pgdir psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

if ! sh "$here/make_test_ca.sh" "$work/ca" >"$work/ca.log" 2>&1 ||
   ! sh "$here/make_test_ca.sh" "$work/other" >>"$work/ca.log" 2>&1; then
	notok "make the test CAs" "$(cat "$work/ca.log")"
	exit 1
fi
owner=$(_pg_owner)
cp "$work/ca/server.pem" "$work/ca/server.key" "$pgdir/data/"
[ -n "$owner" ] && chown "$owner" "$pgdir/data/server.pem" "$pgdir/data/server.key"
chmod 600 "$pgdir/data/server.key"
{
	echo "hostnossl all all 0.0.0.0/0 reject"
	cat "$pgdir/data/pg_hba.conf"
} >"$work/pg_hba.conf"
cp "$work/pg_hba.conf" "$pgdir/data/pg_hba.conf"
[ -n "$owner" ] && chown "$owner" "$pgdir/data/pg_hba.conf"
sql -c "ALTER SYSTEM SET ssl = on" -c "ALTER SYSTEM SET ssl_cert_file = 'server.pem'" \
	-c "ALTER SYSTEM SET ssl_key_file = 'server.key'" -c "SELECT pg_reload_conf()" \
	>"$work/ssl_on.log" 2>&1
wait_for 10 sql -c "SHOW ssl" | grep -qx on
check "the server has TLS on with the test CA's certificate" '[ "$(sql -c "SHOW ssl")" = on ]'
psql -X -At "host=127.0.0.1 port=$pgport dbname=$PGDATABASE user=$PGUSER sslmode=disable" \
	-c "SELECT 1" >"$work/plain.out" 2>&1
check "... and refuses a TCP connection without TLS" 'grep -q "no encryption" "$work/plain.out"'

sql -v schema=casework -f "$top/rules/contract.sql" -f "$top/tests/fixtures/daemon.sql" \
	>"$work/load.log" 2>&1
check "the contract and the daemon fixture are loaded" '[ $? -eq 0 ]'

"$py" "$here/webhook_receiver.py" --port 0 --log "$work/hooks.jsonl" --lifetime 600 \
	--ready-file "$work/hooks.port" >/dev/null 2>"$work/hooks.err" &
pids+=($!)
require "the webhook receiver starts" wait_for 10 test -s "$work/hooks.port"
hooks_url=http://127.0.0.1:$(cat "$work/hooks.port")
http_port=$(free_port)

# --once and the daemon keep apart: each its own state schema and webhook path.
config() { # FILE CA_FILE STATE_SCHEMA PATH
	cat >"$1" <<EOF
{ "database": { "conninfo": "host=localhost port=$pgport dbname=$PGDATABASE user=$PGUSER sslmode=verify-full sslrootcert=$2",
                "state_schema": "$3" },
  "addresses": { "fallback": "duty@la.example" },
  "webhooks": [ { "url": "$hooks_url$4", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" } ],
  "http": { "listen": "127.0.0.1:$http_port" } }
EOF
}
config "$work/once.json" "$work/ca/ca.pem" tls_once /once
config "$work/good.json" "$work/ca/ca.pem" driftwatch /hook
config "$work/wrong.json" "$work/other/ca.pem" driftwatch /hook

"$daemon" -c "$work/good.json" --check-config >"$work/check.out" 2>&1
rc=$?
check "sslmode=verify-full with the CA in sslrootcert: --check-config is good" '[ $rc -eq 0 ]'
[ $rc -eq 0 ] || diag "$work/check.out"
"$daemon" -c "$work/once.json" --once >"$work/once.out" 2>&1
rc=$?
check "... --once evaluates and records over TLS" \
	'[ $rc -eq 0 ] && [ "$(sql -c "SELECT count(*) FROM tls_once.alerts WHERE child_id LIKE '"'"'C-INIT-%'"'"'")" -ge 3 ]'
[ $rc -eq 0 ] || diag "$work/once.out"
no_sanitizer_report "no sanitizer report from --once" "$work/once.out"

"$daemon" -c "$work/good.json" >"$work/daemon.out" 2>&1 &
daemon_pid=$!
pids+=("$daemon_pid")
hooks_for() { grep '"path": "/hook"' "$work/hooks.jsonl" 2>/dev/null | grep -q "$1"; }
all_init() { hooks_for C-INIT-1 && hooks_for C-INIT-2 && hooks_for C-INIT-3; }
wait_for 60 all_init
check "the daemon evaluates over TLS and the webhooks arrive (C-INIT-1..3)" 'all_init'
tls_conns() {
	sql -c "SELECT count(*) FILTER (WHERE s.ssl) || '/' || count(*) FROM pg_stat_activity a
		JOIN pg_stat_ssl s USING (pid) WHERE a.backend_type = 'client backend'
		AND a.client_addr IS NOT NULL"
}
conns=$(tls_conns)
check "... every connection it holds is TLS (TLS/all: $conns)" \
	'[ "${conns%/*}" = "${conns#*/}" ] && [ "${conns#*/}" -ge 5 ]'
kill -TERM "$daemon_pid"
wait_exit "$daemon_pid" 20
check "... and it stops cleanly" '[ "${rc:-x}" = 0 ]'
no_sanitizer_report "no sanitizer report from the daemon" "$work/daemon.out"

"$daemon" -c "$work/wrong.json" --check-config >"$work/wrong_check.out" 2>&1
rc=$?
note "$(head -n 2 "$work/wrong_check.out")"
check "another CA in sslrootcert: --check-config fails (exit $rc)" '[ $rc -eq 1 ]'
check "... naming the database connection and the certificate" \
	'grep -q "database (.*wrong.json: database.conninfo): .*certificate verify failed" "$work/wrong_check.out"'
"$daemon" -c "$work/wrong.json" >"$work/wrong_daemon.out" 2>&1 &
daemon_pid=$!
pids+=("$daemon_pid")
wait_for 20 grep -q "certificate verify failed" "$work/wrong_daemon.out"
note "$(grep -m1 "certificate verify failed" "$work/wrong_daemon.out")"
check "the daemon with the other CA says which connection failed, and why" \
	'grep -q "database: [a-z -]* connection failed: .*certificate verify failed.*reconnecting" "$work/wrong_daemon.out"'
check "... and keeps running, to retry" 'kill -0 "$daemon_pid" 2>/dev/null'
kill -TERM "$daemon_pid"
wait_exit "$daemon_pid" 20
check "... and stops cleanly when told" '[ "${rc:-x}" = 0 ]'
no_sanitizer_report "no sanitizer report from that daemon" "$work/wrong_daemon.out"
tap_end
