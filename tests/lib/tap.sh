# What the shell tests share: result lines in the form tests/run.sh counts, waiting, ports and
# sanitizer reports. Source this file (after tests/lib/pg.sh when start_own_pg is used), then:
#
# Results (`ok - NAME` passes, `not ok - NAME` fails, `# ...` is a diagnostic):
#   ok NAME                       a passing check
#   notok NAME [DIAG...]          a failing check; each non-empty DIAG's first 40 lines follow as
#                                 `#   ` lines
#   skip NAME REASON              `ok - NAME # skip REASON`: a check that cannot run here;
#                                 tests/run.sh counts and lists it apart, never as a pass
#   check NAME CONDITION          ok when CONDITION, shell text evaluated here (eval), holds
#   check_status NAME STATUS [DIAG...]  ok when STATUS (a `$?`) is 0, else notok with the DIAGs
#   check_cmd NAME COMMAND...     ok when COMMAND succeeds; on failure its output is the diagnostic
#   diag [FILE...]                the files that exist (or standard input) as `#   ` lines
#   note TEXT...                  a `# TEXT` line
#   tap_relay FILE                prints another program's result lines, counting its failures
#   require NAME COMMAND...       a prerequisite: when COMMAND fails, notok NAME and exit (a
#                                 missing tool is a failure, never a silent skip)
#   tap_end                       the test's exit status: 0 when nothing failed
# tap_passed, tap_failed and tap_skipped count the results; a failure reported some other way (a
# helper program exiting non-zero after printing its own lines) adds 1 to tap_failed.
#
# Waiting, processes, ports (127.0.0.1 only):
#   wait_for SECONDS COMMAND...   runs COMMAND every 0.1 s until it succeeds; 1 when it never did
#   wait_exit PID SECONDS         waits for the child PID to end; sets rc to its exit status, or to
#                                 '' (returning 1) when it still runs after SECONDS
#   stop_all PID...               SIGTERM to each background helper, then waits for each
#   port_busy PORT                something listens on PORT
#   free_port                     a port in 20000-29999 nothing is bound to (bound, then released)
#   first_free_port FROM TO       the first port in FROM..TO nothing listens on
#   start_own_pg DIR PORT         pg_start (tests/lib/pg.sh) reported as a result; sets pgport to
#                                 the port it serves on; exits the test when it does not start
#   no_sanitizer_report NAME FILE ok when FILE (a sanitizer build's stderr) holds no report
#
# Under `set -u` and `set -o pipefail` alike, ok and notok return 0 so that `COND && ok || notok`
# never prints both.
#
# Some variables here (rc, SAN_RE) are the callers' to read, and diag takes files or standard
# input, hence:
# shellcheck shell=bash disable=SC2034,SC2119,SC2120

tap_passed=0
tap_failed=0
tap_skipped=0

ok() {
	tap_passed=$((tap_passed + 1))
	echo "ok - $1"
}

notok() {
	local _tap_d
	tap_failed=$((tap_failed + 1))
	echo "not ok - $1"
	shift
	for _tap_d in "$@"; do
		[ -n "$_tap_d" ] && printf '%s\n' "$_tap_d" | head -n 40 | sed 's/^/#   /'
	done
	return 0
}

skip() {
	tap_skipped=$((tap_skipped + 1))
	echo "ok - $1 # skip $2"
}

# The condition is evaluated in the caller's variables: this function declares none of its own.
check() {
	if eval "$2"; then ok "$1"; else notok "$1"; fi
}

check_status() {
	local _tap_name=$1 _tap_st=$2
	shift 2
	if [ "$_tap_st" -eq 0 ]; then ok "$_tap_name"; else notok "$_tap_name" "$@"; fi
}

# The command runs in a subshell (its output is captured), so it cannot set variables here.
check_cmd() {
	local _tap_name=$1 _tap_out
	shift
	if _tap_out=$("$@" 2>&1); then
		ok "$_tap_name"
	else
		notok "$_tap_name" "${_tap_out:0:2000}"
	fi
}

diag() {
	local _tap_f
	if [ $# -eq 0 ]; then
		sed 's/^/#   /'
		return
	fi
	for _tap_f in "$@"; do
		[ -f "$_tap_f" ] && sed 's/^/#   /' "$_tap_f"
	done
	return 0
}

note() { echo "# $*"; }

tap_relay() {
	cat "$1"
	tap_failed=$((tap_failed + $(grep -c '^not ok' "$1")))
}

require() {
	local _tap_name=$1
	shift
	if ! "$@" >/dev/null 2>&1; then
		notok "$_tap_name"
		exit 1
	fi
}

tap_end() { [ "$tap_failed" -eq 0 ]; }

# The condition is tried once more after the last pause, so a slow machine gets the whole time.
wait_for() {
	local _tap_i _tap_n=$(($1 * 10))
	shift
	for ((_tap_i = 0; _tap_i < _tap_n; _tap_i++)); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}

wait_exit() {
	local _tap_i _tap_n=$(($2 * 10))
	rc=
	for ((_tap_i = 0; _tap_i < _tap_n; _tap_i++)); do
		if ! kill -0 "$1" 2>/dev/null; then
			wait "$1"
			rc=$?
			return 0
		fi
		sleep 0.1
	done
	return 1
}

stop_all() {
	local _tap_p
	for _tap_p in "$@"; do kill "$_tap_p" 2>/dev/null; done
	for _tap_p in "$@"; do wait "$_tap_p" 2>/dev/null; done
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A port from 20000-29999, as dwtest.py's free_port: below Linux's ephemeral ports (32768-60999),
# which an outgoing connection may take, or leave in TIME_WAIT, before the listener binds. Each
# is handed out once a run (the list in $TEST_TMPDIR): a test that picks the ports of several
# daemons before it starts them must not get one twice, as random picks can.
free_port() {
	/usr/bin/python3 - "${TEST_TMPDIR:-/tmp}/.driftwatch-ports" <<'PY'
import fcntl, random, socket, sys
with open(sys.argv[1], "a+") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    f.seek(0)
    taken = {int(x) for x in f.read().split() if x.isdigit()}
    for _ in range(1000):
        port = random.randint(20000, 29999)
        if port in taken:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        f.write("%d\n" % port)
        print(port)
        sys.exit(0)
sys.exit("free_port: no free port in 20000-29999")
PY
}

first_free_port() {
	local p
	for ((p = $1; p <= $2; p++)); do
		if ! port_busy "$p"; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# pg_start runs here, not in a subshell: it exports PGHOST and friends for psql, so the caller's
# server is not used after this. Its messages go to DIR.log, beside DIR (which must be fresh).
# Another test run on the same machine may take the port between first_free_port and the bind:
# then the next free ports are tried (five in all), and pgport is set to the one that served.
start_own_pg() {
	local dir=$1 port=$2 try
	for try in 1 2 3 4 5; do
		if pg_start "$dir" "$port" 2>"$dir.log"; then
			pgport=$port
			ok "a PostgreSQL of our own runs on port $port"
			return 0
		fi
		grep -q "Address already in use" "$dir/server.log" 2>/dev/null || break
		pg_stop "$dir" >/dev/null 2>&1
		rm -rf "$dir"
		port=$(first_free_port $((port + 1)) $((port + 40))) || break
	done
	notok "start a PostgreSQL of our own on port $port" "$(cat "$dir.log")"
	exit 1
}

SAN_RE='ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|SUMMARY: UndefinedBehaviorSanitizer'

no_sanitizer_report() {
	if grep -Eq "$SAN_RE" "$2"; then
		notok "$1"
		grep -E -A30 "$SAN_RE" "$2" | head -60 | diag
	else
		ok "$1"
	fi
}
