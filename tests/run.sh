#!/usr/bin/env bash
# The test runner `make check` calls.
#
# Environment (from the Makefile; defaults for running it by hand from the top directory):
#   DRIFTWATCHD   the daemon binary under test (ASan+UBSan build)   default build/san/driftwatchd
#   DWGEN         the synthetic data generator                       default build/dwgen
#   UNIT_DIR      directory of unit test binaries named test_*       default: none
#   ITEST_DIR     directory of C integration test binaries test_*    default: none
#                 (built from tests/integration/test_*.c)
#   TEST_PGPORT   port of the throwaway PostgreSQL                   default 15432, or the
#                 next free one when that is taken and TEST_PGPORT is not set. Every server
#                 and listener of the tests takes a port below Linux's ephemeral range
#                 (32768-60999): there an outgoing connection's port, or its TIME_WAIT, may
#                 hold the port a server is about to bind, as one held a standby's in CI.
#   TEST_TIMEOUT  seconds one test file may take                     default 900
#   TESTS         space-separated test files to run instead of all of them (names or paths)
#
# Starts one PostgreSQL (tests/lib/pg.sh) in a fresh temporary directory, runs every unit
# binary in UNIT_DIR, every C integration test binary in ITEST_DIR and every executable
# tests/integration/test_* file, and counts their TAP-like lines: `ok - NAME` passes,
# `ok - NAME # skip REASON` (any case) is a check that did not run, `not ok - NAME` fails,
# `# ...` is a diagnostic. A file that exits non-zero without printing `not ok` counts as one
# failure named after it; a file that prints no result line counts as one failure. Lists each
# skipped check as `# skipped: FILE: NAME -- REASON`, then ends with the line
# `N passed, N failed, N skipped` (a skip is not a pass) and exits 0 only when nothing failed and
# something passed.
set -u
shopt -s lastpipe

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top" || exit 2

abspath() {
	case $1 in
	'') echo '' ;;
	/*) echo "$1" ;;
	*) echo "$top/$1" ;;
	esac
}

DRIFTWATCHD=$(abspath "${DRIFTWATCHD:-build/san/driftwatchd}")
DWGEN=$(abspath "${DWGEN:-build/dwgen}")
UNIT_DIR=$(abspath "${UNIT_DIR:-}")
ITEST_DIR=$(abspath "${ITEST_DIR:-}")
port_explicit=${TEST_PGPORT:+yes}
TEST_PGPORT=${TEST_PGPORT:-15432}
TEST_TIMEOUT=${TEST_TIMEOUT:-900}
export DRIFTWATCHD DWGEN UNIT_DIR ITEST_DIR TEST_PGPORT
export DW_TOP=$top
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

. "$top/tests/lib/pg.sh"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/driftwatch-tests.XXXXXX") || { echo "run.sh: mktemp failed" >&2; exit 2; }
chmod 0755 "$tmp" # the server may run as another user (see pg.sh)
cleanup() {
	pg_stop "$tmp/pg"
	# KEEP_TMP=1 keeps what the tests leave for inspection (screenshots, logs, mail)
	if [ -n "${KEEP_TMP:-}" ]; then
		echo "# KEEP_TMP: kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
export TEST_TMPDIR=$tmp

passed=0
failed=0
skipped=0
skips=() # `FILE: NAME -- REASON` of each skipped check, listed at the end
# `ok - NAME # skip REASON`, the directive in any case (TAP's `# SKIP`), as TAP harnesses read it.
skip_re='^ok( - | )?(.*[^[:space:]])?[[:space:]]*#[[:space:]]*[Ss][Kk][Ii][Pp][^[:space:]]*([[:space:]]+(.*))?$'

if [ ! -x "$DRIFTWATCHD" ]; then
	echo "# warning: DRIFTWATCHD=$DRIFTWATCHD is not an executable; tests that need it will fail"
fi

# With no TEST_PGPORT given, a port another server (another developer's run) holds is skipped.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [ -z "$port_explicit" ]; then
	for p in $(seq "$TEST_PGPORT" $((TEST_PGPORT + 40))); do
		if ! port_busy "$p"; then
			TEST_PGPORT=$p
			break
		fi
	done
fi
echo "# starting PostgreSQL on port $TEST_PGPORT under $tmp/pg"
if ! pg_start "$tmp/pg" "$TEST_PGPORT"; then
	echo "not ok - start PostgreSQL on port $TEST_PGPORT"
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
fi

# Runs one test file, streaming its output and counting its result lines.
run_one() {
	local file=$1 name=$2 line rc n_ok=0 n_notok=0 n_skip=0
	echo "# ---- $name"
	(cd "$top" && exec timeout -k 10 "$TEST_TIMEOUT" "$file") </dev/null 2>&1 |
		while IFS= read -r line || [ -n "$line" ]; do
			case $line in
			'not ok'|'not ok '*) n_notok=$((n_notok + 1)) ;;
			'ok'|'ok '*)
				if [[ $line =~ $skip_re ]]; then
					n_skip=$((n_skip + 1))
					skips+=("$name: ${BASH_REMATCH[2]:-(unnamed)} -- ${BASH_REMATCH[4]:-no reason given}")
				else
					n_ok=$((n_ok + 1))
				fi
				;;
			esac
			printf '%s\n' "$line"
		done
	rc=${PIPESTATUS[0]}
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		echo "# $name: timed out after ${TEST_TIMEOUT}s"
	fi
	if [ "$rc" -ne 0 ] && [ "$n_notok" -eq 0 ]; then
		echo "not ok - $name (exited with status $rc)"
		n_notok=1
	elif [ "$n_ok" -eq 0 ] && [ "$n_notok" -eq 0 ] && [ "$n_skip" -eq 0 ]; then
		echo "not ok - $name (printed no results)"
		n_notok=1
	fi
	passed=$((passed + n_ok))
	failed=$((failed + n_notok))
	skipped=$((skipped + n_skip))
}

files=()
if [ -n "${TESTS:-}" ]; then
	for t in $TESTS; do
		if [ -e "$t" ]; then
			files+=("$(abspath "$t")")
		elif [ -e "$top/tests/integration/$t" ]; then
			files+=("$top/tests/integration/$t")
		elif [ -n "$UNIT_DIR" ] && [ -e "$UNIT_DIR/$t" ]; then
			files+=("$UNIT_DIR/$t")
		elif [ -n "$ITEST_DIR" ] && [ -e "$ITEST_DIR/$t" ]; then
			files+=("$ITEST_DIR/$t")
		else
			echo "not ok - $t (no such test)"
			failed=$((failed + 1))
		fi
	done
else
	for d in UNIT_DIR ITEST_DIR; do
		[ -n "${!d}" ] || continue
		if [ -d "${!d}" ]; then
			for f in "${!d}"/test_*; do
				[ -f "$f" ] && [ -x "$f" ] && files+=("$f")
			done
		else
			echo "# $d=${!d} is not a directory: its tests do not run"
		fi
	done
	for f in "$top"/tests/integration/test_*; do
		[ -f "$f" ] && [ -x "$f" ] && files+=("$f")
	done
fi

for f in "${files[@]}"; do
	if [ -n "$UNIT_DIR" ] && [ "$(dirname "$f")" = "$UNIT_DIR" ]; then
		name=unit/$(basename "$f")
	elif [ -n "$ITEST_DIR" ] && [ "$(dirname "$f")" = "$ITEST_DIR" ]; then
		name=integration/$(basename "$f")
	elif [ "${f#"$top"/}" != "$f" ]; then
		name=${f#"$top"/}
	else
		name=$f
	fi
	run_one "$f" "$name"
done

for s in "${skips[@]}"; do
	echo "# skipped: $s"
done
echo "$passed passed, $failed failed, $skipped skipped"
if [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]; then
	exit 0
fi
exit 1
