#!/usr/bin/env bash
# make bench: synthetic authorities in a throwaway PostgreSQL, and driftwatch measured against
# them. Two parts:
#
# 1. The matrix (issue 9): for each size in BENCH_SIZES, each generator shape in BENCH_SHAPES
#    and each physical layout in BENCH_LAYOUTS (tables with no index, tables with
#    rules/contract_indexes.sql, the contract as views over base tables of another shape), the
#    whole dry run (driftwatchd --once --dry-run --as-of D: wall clock, its summary's rules and
#    bad-row seconds, peak RSS, alerts), the sequential read of every relation (scan_s) and the
#    ratio. One line per cell:
#
#      bench-matrix: children=N shape=S layout=L status=ok wall_s=… rules_s=… bad_rows_s=…
#                    scan_s=… ratio=… rss_mb=… alerts=… rows=… runs=…
#
#    A dry run that does not finish within BENCH_TIMEOUT is stopped, its query cancelled, and
#    the cell says status=timeout. Each cell's per-statement times and the plans of its slow
#    statements are kept in BENCH_OUT/cells/.
# 2. The daemon (issue 5), on the default shape with the indexed layout at BENCH_CHILDREN:
#    incremental evaluation, commit to webhook, deliveries, the daemon's memory. Its line is the
#    last one:
#
#      bench: children=N full_eval_s=… scan_s=… scan_ratio=… incremental_p50_ms=…
#             incremental_p99_ms=… notify_to_webhook_p99_ms=… deliveries_per_s=… rss_mb=…
#
# (each on one line). bench/README.md says what each figure measures and how. Everything listens
# on 127.0.0.1 only; the database, the daemon and the receiver are stopped on exit, however it
# exits.
#
# Environment (defaults in brackets):
#   BENCH_SIZES ["100000 1000000"; BENCH_CHILDREN when only that is set]  the matrix's sizes
#   BENCH_SHAPES ["default dense heavy"]  dwgen --shape of each (dwgen --help)
#   BENCH_LAYOUTS ["tables indexed views"]  layouts (bench/load.sh --layout)
#   BENCH_TIMEOUT [600]       seconds one dry run may take before the cell says timeout
#   BENCH_MATRIX_RUNS [3]     dry runs per cell (the median is reported), fewer once a cell's
#                             runs have taken BENCH_CELL_BUDGET [60] seconds
#   BENCH_DAEMON [1]          0: the matrix only
#   BENCH_CHILDREN [the largest of BENCH_SIZES]  size of the daemon part
#   BENCH_RUNS [5]            runs per figure of the daemon part (the median is reported)
#   BENCH_SEED [42]           generator seed
#   BENCH_AS_OF [today in Europe/London]  the generator's and the dry runs' day; the daemon
#                             evaluates "today", so leave it unset unless only the dry runs matter
#   BENCH_CHANGES [200]       single-row changes per incremental run
#   BENCH_NOTIFY [100]        alert-creating changes per notify-to-webhook run
#   BENCH_DELIVERIES [20000]  notices per delivery run
#   BENCH_DIGEST [50000]      notices in the one person's digest composed at the end (0: none;
#                             needs Debian's python3-aiosmtpd for the SMTP server, as make check)
#   BENCH_PORT [55495]        PostgreSQL's port; BENCH_PORT+1 is the daemon's /metrics
#   BENCH_SHARED_BUFFERS [1GB], BENCH_WORK_MEM [256MB], BENCH_PARALLEL [2]
#                             (max_parallel_workers_per_gather), BENCH_JIT [off]
#   BENCH_PROFILE [0]         1: also EXPLAIN (ANALYZE, BUFFERS) every rule's query of the daemon
#                             part's data and log the daemon's own per-statement durations
#   BENCH_OUT [a new directory under /tmp]  keeps the logs, results.txt, matrix.txt, cells/
#   BENCH_TMPDIR [/tmp]       where the throwaway database goes (about 3 GB at 1,000,000 dense)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

if [ -z "${BENCH_SIZES:-}" ]; then
	BENCH_SIZES=${BENCH_CHILDREN:-"100000 1000000"}
fi
BENCH_SHAPES=${BENCH_SHAPES:-"default dense heavy"}
BENCH_LAYOUTS=${BENCH_LAYOUTS:-"tables indexed views"}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-600}
BENCH_MATRIX_RUNS=${BENCH_MATRIX_RUNS:-3}
BENCH_CELL_BUDGET=${BENCH_CELL_BUDGET:-60}
BENCH_DAEMON=${BENCH_DAEMON:-1}
BENCH_CHILDREN=${BENCH_CHILDREN:-$(echo "$BENCH_SIZES" | tr ' ' '\n' | grep . | sort -n | tail -n 1)}
BENCH_RUNS=${BENCH_RUNS:-5}
BENCH_SEED=${BENCH_SEED:-42}
BENCH_AS_OF=${BENCH_AS_OF:-$(TZ=Europe/London date +%F)}
BENCH_CHANGES=${BENCH_CHANGES:-200}
BENCH_NOTIFY=${BENCH_NOTIFY:-100}
BENCH_DELIVERIES=${BENCH_DELIVERIES:-20000}
BENCH_DIGEST=${BENCH_DIGEST:-50000}
BENCH_PORT=${BENCH_PORT:-55495}
BENCH_SHARED_BUFFERS=${BENCH_SHARED_BUFFERS:-1GB}
BENCH_WORK_MEM=${BENCH_WORK_MEM:-256MB}
BENCH_PARALLEL=${BENCH_PARALLEL:-2}
BENCH_JIT=${BENCH_JIT:-off}
BENCH_PROFILE=${BENCH_PROFILE:-0}
BENCH_TMPDIR=${BENCH_TMPDIR:-/tmp}

die() { echo "bench: $*" >&2; exit 1; }
say() { echo "bench: $*" >&2; }
for v in BENCH_CHILDREN BENCH_RUNS BENCH_SEED BENCH_CHANGES BENCH_NOTIFY BENCH_DELIVERIES \
	BENCH_PORT BENCH_PARALLEL BENCH_TIMEOUT BENCH_MATRIX_RUNS BENCH_CELL_BUDGET; do
	case ${!v} in
	'' | *[!0-9]*) die "$v must be a whole number, not '${!v}'" ;;
	esac
done
[ "$BENCH_CHILDREN" -ge 100 ] || die "BENCH_CHILDREN must be at least 100"
for n in $BENCH_SIZES; do
	case $n in '' | *[!0-9]*) die "BENCH_SIZES must be whole numbers, not '$n'" ;; esac
	[ "$n" -ge 100 ] || die "BENCH_SIZES: each size must be at least 100"
done
for sh in $BENCH_SHAPES; do
	case $sh in default | dense | heavy) ;; *) die "BENCH_SHAPES: '$sh' is not default, dense or heavy" ;; esac
done
for l in $BENCH_LAYOUTS; do
	case $l in tables | indexed | views) ;; *) die "BENCH_LAYOUTS: '$l' is not tables, indexed or views" ;; esac
done
case $BENCH_DAEMON in 0 | 1) ;; *) die "BENCH_DAEMON must be 0 or 1" ;; esac
[ "$BENCH_MATRIX_RUNS" -ge 1 ] || die "BENCH_MATRIX_RUNS must be at least 1"
[ "$BENCH_TIMEOUT" -ge 10 ] || die "BENCH_TIMEOUT must be at least 10"
[ "$BENCH_RUNS" -ge 1 ] || die "BENCH_RUNS must be at least 1"
case $BENCH_AS_OF in
[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]) ;;
*) die "BENCH_AS_OF must be YYYY-MM-DD" ;;
esac
case $BENCH_JIT in on | off) ;; *) die "BENCH_JIT must be on or off" ;; esac

if [ "$BENCH_AS_OF" != "$(TZ=Europe/London date +%F)" ]; then
	say "warning: BENCH_AS_OF $BENCH_AS_OF is not today; the daemon evaluates today, so its"
	say "figures describe data generated for another day"
fi

PY=/usr/bin/python3
[ -x "$PY" ] || die "$PY is missing (apt-get install python3)"
for t in psql make cc; do
	command -v "$t" >/dev/null 2>&1 || die "$t is missing"
done

# ---- build ----
say "building (make all) and the benchmark's receiver"
make -s all >&2
WARN="-Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral"
mkdir -p build/bench
if [ ! -x build/bench/dwreceiver ] || [ bench/dwreceiver.c -nt build/bench/dwreceiver ]; then
	# shellcheck disable=SC2086
	${CC:-cc} -O2 -std=c11 $WARN -D_POSIX_C_SOURCE=200809L -o build/bench/dwreceiver.tmp \
		bench/dwreceiver.c
	mv build/bench/dwreceiver.tmp build/bench/dwreceiver
fi
DRIVE=("$PY" "$root/bench/bench_drive.py")

# ---- scratch space and cleanup ----
work=$(mktemp -d "$BENCH_TMPDIR/driftwatch-bench.XXXXXX")
chmod 0755 "$work"
# Others may rebuild the tree while this runs: measure one copy of the binary and keep the SQL
# it embeds beside it (the profile explains exactly that SQL).
cp build/driftwatchd "$work/driftwatchd"
cp build/sql_embed.c "$work/sql_embed.c"
DW=$work/driftwatchd
sql_sha=$(sha256sum "$work/sql_embed.c" | cut -c1-12)
rules_sha=$(cat rules/*.sql | sha256sum | cut -c1-12)
git_head=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git_dirty=$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " plus uncommitted changes" || echo " (clean)")
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
bench_t0=$(date +%s.%N)
out=${BENCH_OUT:-$(mktemp -d /tmp/driftwatch-bench-out.XXXXXX)}
mkdir -p "$out"
daemon_pid="" receiver_pid="" smtp_pid=""
# shellcheck source=../tests/lib/pg.sh
. tests/lib/pg.sh
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
		kill -TERM "$daemon_pid" 2>/dev/null || true
		for _ in $(seq 1 150); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$daemon_pid" 2>/dev/null || true
	fi
	if [ -n "$receiver_pid" ] && kill -0 "$receiver_pid" 2>/dev/null; then
		kill -TERM "$receiver_pid" 2>/dev/null || true
	fi
	if [ -n "$smtp_pid" ] && kill -0 "$smtp_pid" 2>/dev/null; then
		kill -TERM "$smtp_pid" 2>/dev/null || true
	fi
	wait 2>/dev/null || true
	pg_stop "$work/pg" || true
	rm -rf "$work"
	[ $rc -eq 0 ] || say "failed (exit $rc); logs are in $out"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- PostgreSQL, tuned for a benchmark on a small machine ----
say "starting PostgreSQL 15 in $work on 127.0.0.1:$BENCH_PORT"
pg_start "$work/pg" "$BENCH_PORT" || die "could not start PostgreSQL"
dsn="host=127.0.0.1 port=$BENCH_PORT dbname=$PGDATABASE user=$PGUSER"
psql -X -q -v ON_ERROR_STOP=1 -d "$dsn" >/dev/null <<SQL
ALTER SYSTEM SET shared_buffers = '$BENCH_SHARED_BUFFERS';
ALTER SYSTEM SET work_mem = '$BENCH_WORK_MEM';
ALTER SYSTEM SET maintenance_work_mem = '512MB';
ALTER SYSTEM SET effective_cache_size = '4GB';
ALTER SYSTEM SET max_parallel_workers_per_gather = $BENCH_PARALLEL;
ALTER SYSTEM SET max_parallel_workers = 2;
ALTER SYSTEM SET max_parallel_maintenance_workers = 2;
ALTER SYSTEM SET jit = $BENCH_JIT;
ALTER SYSTEM SET random_page_cost = 1.1;
ALTER SYSTEM SET max_wal_size = '8GB';
ALTER SYSTEM SET checkpoint_timeout = '30min';
ALTER SYSTEM SET wal_level = minimal;
ALTER SYSTEM SET max_wal_senders = 0;
ALTER SYSTEM SET track_io_timing = on;
SQL
pg_stop "$work/pg" || die "could not restart PostgreSQL"
(cd "$work/pg" && _pg_as_owner "$PG_BINDIR/pg_ctl" -D "$work/pg/data" -l "$work/pg/server.log" \
	-w -t 60 start) >"$work/pg/restart.log" 2>&1 || {
	tail -n 20 "$work/pg/server.log" >&2
	die "PostgreSQL did not come back with the benchmark settings"
}
psql -X -At -d "$dsn" -c "SELECT name || ' = ' || setting || coalesce(' ' || unit, '') FROM pg_settings
	WHERE name IN ('shared_buffers', 'work_mem', 'maintenance_work_mem', 'effective_cache_size',
	'max_parallel_workers_per_gather', 'max_parallel_workers', 'jit', 'random_page_cost',
	'fsync', 'synchronous_commit', 'server_version') ORDER BY name" >"$out/pg_settings.txt"
sed 's/^/  pg: /' "$out/pg_settings.txt" >&2

# ---- helpers ----
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END {
	if (NR == 0) { print "nan"; exit }
	if (NR % 2) printf "%s\n", v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
kv() { sed -n "s/^$1=//p" "$2" | tail -n 1; }
secs_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }'; }
psql_() { psql -X -q -v ON_ERROR_STOP=1 -d "$dsn" "$@"; }
hook_url="" secret="" http_port=$((BENCH_PORT + 1)) web_port=$((BENCH_PORT + 2))
# The pages are timed as a configured viewer (sees everything) and as the manager of the team
# with the most alerts (the case data decides what they see), both vouched for by the sign-on
# proxy that 127.0.0.1 plays.
BENCH_VIEWER=bench-viewer@la.example
write_config() { # FILE WITH_WEBHOOK CASE_SCHEMA APPLICATION_NAME QUERY_TIMEOUT_S
	local hooks='[]' web=''
	[ "$2" = 1 ] && hooks="[{\"url\": \"$hook_url\", \"secret\": \"$secret\"}]"
	[ "$2" = 1 ] && web=", \"web\": { \"listen\": \"127.0.0.1:$web_port\", \"trusted_proxies\": [\"127.0.0.1\"], \"viewers\": [\"$BENCH_VIEWER\"] }"
	cat >"$1" <<JSON
{
  "database": { "conninfo": "$dsn application_name=$4", "case_schema": "$3",
                "query_timeout_seconds": $5 },
  "link_template": "https://lcs.example.gov.uk/person/{child_id}",
  "addresses": {
    "fallback": "duty@la.example",
    "cp_chair": "cp-chairs@la.example",
    "cp_manager": "cp-manager@la.example",
    "head_of_service": "hos@la.example",
    "operators": "it-ops@la.example"
  },
  "evaluation": { "interval_seconds": 86400 },
  "webhooks": $hooks,
  "http": { "listen": "127.0.0.1:$http_port" }$web
}
JSON
	chmod 0600 "$1"
}
contract_tables() { # SCHEMA: the nine relations, schema-qualified, comma-separated
	local t l=""
	for t in teams workers children allocations referrals cin_plans cp_plans appointments strategies; do
		l="${l:+$l, }\"$1\".$t"
	done
	echo "$l"
}

# ---- the matrix ----
DRY_APP=driftwatch-bench-dry
# A dry run cut off by the timeout leaves its query running in its backend: cancel it, and end
# the backend if the cancel is not heard within a minute.
cancel_dry() {
	psql_ -At -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = '$DRY_APP'" >/dev/null || true
	for _ in $(seq 1 600); do
		[ "$(psql_ -At -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = '$DRY_APP'")" = 0 ] && return 0
		sleep 0.1
	done
	psql_ -At -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '$DRY_APP'" >/dev/null || true
	sleep 1
}

# cell SIZE SHAPE LAYOUT SCHEMA: the scan, then up to BENCH_MATRIX_RUNS dry runs on SCHEMA; one
# bench-matrix line into $out/matrix.txt. Every statement of the first run is logged by the
# server; its times and the plans of the statements over a second (or cut off) are kept.
cell() {
	local size=$1 shape=$2 layout=$3 schema=$4
	local dir="$out/cells/$size-$shape-$layout" t0 status=ok i off
	local walls=() rules=() bads=() rss=() alerts="" rows scan
	mkdir -p "$dir"
	say "cell $size $shape $layout: scan"
	"${DRIVE[@]}" scan --dsn "$dsn" --schema "$schema" --runs 3 >"$dir/scan.kv" 2>"$dir/scan.txt" ||
		{ cat "$dir/scan.txt" >&2; die "the scan of $schema failed"; }
	scan=$(kv scan_s "$dir/scan.kv")
	rows=$(kv rows "$dir/scan.kv")
	write_config "$dir/config.json" 0 "$schema" "$DRY_APP" "$BENCH_TIMEOUT"
	t0=$(date +%s.%N)
	for i in $(seq 1 "$BENCH_MATRIX_RUNS"); do
		off=$(stat -c %s "$work/pg/server.log")
		local rc=0
		PGOPTIONS="-c log_min_duration_statement=0" "${DRIVE[@]}" run --timeout "$BENCH_TIMEOUT" -- \
			"$DW" -c "$dir/config.json" --once --dry-run --as-of "$BENCH_AS_OF" \
			>"$dir/run-$i.kv" 2>"$dir/run-$i.txt" || rc=$?
		if [ "$i" = 1 ]; then
			tail -c +$((off + 1)) "$work/pg/server.log" >"$dir/server-run-1.log"
		fi
		if [ "$rc" = 3 ]; then
			status=timeout
			cancel_dry
		elif [ "$rc" != 0 ]; then
			status=failed
			cancel_dry
		fi
		rss+=("$(kv maxrss_kb "$dir/run-$i.kv")")
		if [ "$status" != ok ]; then
			say "  run $i: $status after $(kv wall_s "$dir/run-$i.kv") s ($(tail -n 1 "$dir/run-$i.txt" | cut -c1-160))"
			break
		fi
		walls+=("$(kv wall_s "$dir/run-$i.kv")")
		rules+=("$(kv eval_s "$dir/run-$i.kv")")
		bads+=("$(kv bad_rows_s "$dir/run-$i.kv")")
		alerts=$(kv alerts "$dir/run-$i.kv")
		say "  run $i: wall $(kv wall_s "$dir/run-$i.kv") s (rules $(kv eval_s "$dir/run-$i.kv") s, bad rows $(kv bad_rows_s "$dir/run-$i.kv") s), $alerts alerts, peak RSS $(($(kv maxrss_kb "$dir/run-$i.kv") / 1024)) MB"
		[ "$(secs_since "$t0")" -ge "$BENCH_CELL_BUDGET" ] && break
	done
	"${DRIVE[@]}" pglog "$dir/server-run-1.log" --plans-dsn "$dsn" --plans-out "$dir/plans.txt" \
		>"$dir/statements.txt" 2>"$dir/pglog.err" || say "  (no statement profile: $(tail -n 1 "$dir/pglog.err"))"
	local wall rl bd ratio rss_mb
	rss_mb=$(echo "${rss[*]}" | tr ' ' '\n' | grep . | sort -n | tail -n 1 | awk '{ printf "%.0f", $1 / 1024 }')
	if [ "$status" = ok ]; then
		wall=$(echo "${walls[*]}" | median)
		rl=$(echo "${rules[*]}" | median)
		bd=$(echo "${bads[*]}" | median)
		ratio=$(awk -v a="$wall" -v b="$scan" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "inf" }')
	else
		wall=">$BENCH_TIMEOUT" rl=- bd=- ratio=- alerts=-
		[ "$status" = failed ] && wall=-
	fi
	echo "bench-matrix: children=$size shape=$shape layout=$layout status=$status wall_s=$wall rules_s=$rl bad_rows_s=$bd scan_s=$scan ratio=$ratio rss_mb=$rss_mb alerts=$alerts rows=$rows runs=${#walls[@]} wall_runs=$(echo "${walls[*]}" | tr ' ' ',')" |
		tee -a "$out/matrix.txt" | sed 's/^/  /' >&2
}

# load SIZE SHAPE: the shape's data as tables with no index in schema casework
load_data() {
	local t0
	t0=$(date +%s.%N)
	say "loading $1 children of shape $2 (seed $BENCH_SEED, as of $BENCH_AS_OF)"
	psql_ -c "SET client_min_messages = warning" -c "DROP SCHEMA IF EXISTS driftwatch CASCADE" \
		-c "DROP SCHEMA IF EXISTS casework_views CASCADE" -c "DROP SCHEMA IF EXISTS casework_views_cms CASCADE"
	bash bench/load.sh --dsn "$dsn" --children "$1" --seed "$BENCH_SEED" --as-of "$BENCH_AS_OF" \
		--layout tables --shape "$2" | tee "$out/load-$1-$2.txt" | sed 's/^/  /' >&2
	psql_ -c "VACUUM (ANALYZE) $(contract_tables casework)"
	psql_ -At -c "SELECT 'database size ' || pg_size_pretty(pg_database_size(current_database()))" |
		tee -a "$out/load-$1-$2.txt" | sed 's/^/  /' >&2
	say "loaded in $(secs_since "$t0") s"
}

# ---- the daemon part: the default shape, indexed, at BENCH_CHILDREN ----
# Runs after that data's matrix cells (it changes the data). Sets daemon_line and daemon_extra.
daemon_part() {
	daemon_load_before=$(cut -d' ' -f1-3 /proc/loadavg)
	http_port=$((BENCH_PORT + 1))
	secret="whsec_$(head -c 24 /dev/urandom | base64 | tr -d '\n')"
	"$root/build/bench/dwreceiver" --port 0 --log "$out/receiver.log" --ready-file "$work/receiver.port" \
		--lifetime 86400 2>"$out/receiver.err" &
	receiver_pid=$!
	for _ in $(seq 1 100); do [ -s "$work/receiver.port" ] && break; sleep 0.05; done
	[ -s "$work/receiver.port" ] || die "the receiver did not start"
	hook_url="http://127.0.0.1:$(cat "$work/receiver.port")/hook"
	write_config "$work/plain.json" 0 casework driftwatch-bench 3600
	write_config "$work/daemon.json" 1 casework driftwatch-bench 3600
	"$DW" -c "$work/plain.json" --check-config >"$out/check-config.txt" 2>&1 ||
		{ cat "$out/check-config.txt" >&2; die "the configuration or the contract is wrong"; }
	scan_runs_daemon=$BENCH_RUNS

	# ---- full evaluation (dry run) ----
	say "full evaluation: one warm-up dry run, then $BENCH_RUNS"
	eval_s=() total_s=() bad_rows_s=() wall_s=() dry_rss=()
	for i in $(seq 0 "$BENCH_RUNS"); do
		"${DRIVE[@]}" run -- "$DW" -c "$work/plain.json" --once --dry-run --as-of "$BENCH_AS_OF" \
			>"$work/dry.kv" 2>"$out/dry-run-$i.txt" || { tail -n 20 "$out/dry-run-$i.txt" >&2; die "the dry run failed"; }
		if [ "$i" -eq 0 ]; then
			say "  warm-up: $(kv eval_s "$work/dry.kv") s ($(kv alerts "$work/dry.kv") alerts, $(kv children "$work/dry.kv") children)"
			continue
		fi
		eval_s+=("$(kv eval_s "$work/dry.kv")")
		total_s+=("$(kv total_s "$work/dry.kv")")
		bad_rows_s+=("$(kv bad_rows_s "$work/dry.kv")")
		wall_s+=("$(kv wall_s "$work/dry.kv")")
		dry_rss+=("$(kv maxrss_kb "$work/dry.kv")")
		say "  run $i: the rules $(kv eval_s "$work/dry.kv") s, with the bad-row count $(kv total_s "$work/dry.kv") s, wall $(kv wall_s "$work/dry.kv") s, peak RSS $(($(kv maxrss_kb "$work/dry.kv") / 1024)) MB"
	done
	full_eval_s=$(echo "${eval_s[*]}" | median)
	full_total_s=$(echo "${total_s[*]}" | median)
	full_bad_rows_s=$(echo "${bad_rows_s[*]}" | median)
	full_wall_s=$(echo "${wall_s[*]}" | median)
	dry_rss_mb=$(($(echo "${dry_rss[*]}" | tr ' ' '\n' | sort -n | tail -n 1) / 1024))

	# ---- the floor: one backend reading every row once ----
	say "sequential scan floor: one warm-up, then $BENCH_RUNS"
	"${DRIVE[@]}" scan --dsn "$dsn" --schema casework --runs "$scan_runs_daemon" >"$work/scan.kv" 2>"$out/scan.txt" ||
		{ cat "$out/scan.txt" >&2; die "the scan failed"; }
	sed 's/^bench_drive: /  /' "$out/scan.txt" >&2
	scan_s=$(kv scan_s "$work/scan.kv")
	scan_ratio=$(awk -v a="$full_eval_s" -v b="$scan_s" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "inf" }')

	# ---- optional profile (before the daemon changes anything) ----
	if [ "$BENCH_PROFILE" = 1 ]; then
		say "profile: EXPLAIN (ANALYZE, BUFFERS) of every rule's query -> $out/profile"
		mkdir -p "$out/profile"
		"${DRIVE[@]}" explain --dsn "$dsn" --as-of "$BENCH_AS_OF" --out "$out/profile" --sql-from "$work/sql_embed.c" \
			>"$out/profile/explain.log" 2>&1 || say "profile: EXPLAIN failed (see $out/profile/explain.log)"
		say "profile: one dry run with every statement's duration in the server log"
		: >"$work/pg/server.log"
		PGOPTIONS="-c log_min_duration_statement=0" "$DW" -c "$work/plain.json" --once --dry-run \
			--as-of "$BENCH_AS_OF" >/dev/null 2>"$out/profile/dry-run.txt" || true
		"${DRIVE[@]}" pglog "$work/pg/server.log" >"$out/profile/statements.txt" 2>&1 || true
		sed 's/^/  /' "$out/profile/statements.txt" >&2
	fi

	# ---- the daemon: incremental evaluation, notify to webhook, deliveries ----
	say "recording the current alerts once (driftwatchd --once, no webhook) and installing triggers"
	"$DW" -c "$work/plain.json" --once --as-of "$BENCH_AS_OF" >"$out/once.txt" 2>&1 ||
		{ tail -n 20 "$out/once.txt" >&2; die "driftwatchd --once failed"; }
	# No mail server here: the digests --once queued are marked sent so that they do not weigh on
	# the daemon's delivery passes (each pass claims every due email notice).
	psql -X -q -d "$dsn" -c "UPDATE driftwatch.outbox SET status = 'delivered', delivered_at = now(),
		last_error = 'bench: no mail server' WHERE channel = 'email' AND status <> 'delivered'" >/dev/null
	"$DW" -c "$work/plain.json" --install-triggers >"$out/triggers.txt" 2>&1 ||
		{ cat "$out/triggers.txt" >&2; die "--install-triggers failed"; }

	say "starting the daemon (webhook to $hook_url, /metrics on 127.0.0.1:$http_port)"
	"$DW" -c "$work/daemon.json" 2>"$out/daemon.log" &
	daemon_pid=$!
	metrics_url="http://127.0.0.1:$http_port/metrics"
	started=0
	for _ in $(seq 1 36000); do # up to an hour for the first full evaluation
		if ! kill -0 "$daemon_pid" 2>/dev/null; then
			tail -n 20 "$out/daemon.log" >&2
			die "the daemon exited"
		fi
		if grep -q "evaluated everyone" "$out/daemon.log"; then started=1; break; fi
		sleep 0.1
	done
	[ "$started" = 1 ] || die "the daemon's first evaluation did not finish within an hour"
	say "  $(grep -m1 "evaluated everyone" "$out/daemon.log" | sed 's/^<[0-9]>//')"
	sleep 1

	inc50=() inc99=() nt99=() dps=() dps_e2e=()
	for i in $(seq 1 "$BENCH_RUNS"); do
		"${DRIVE[@]}" incremental --dsn "$dsn" --metrics "$metrics_url" --daemon-log "$out/daemon.log" \
			--changes "$BENCH_CHANGES" --as-of "$BENCH_AS_OF" --seed "0.$i" --tag "$i" \
			>"$work/inc.kv" 2>"$out/incremental-$i.txt" || { cat "$out/incremental-$i.txt" >&2; die "incremental run $i failed"; }
		inc50+=("$(kv p50_ms "$work/inc.kv")")
		inc99+=("$(kv p99_ms "$work/inc.kv")")
		say "  run $i: incremental p50 $(kv p50_ms "$work/inc.kv") ms, p99 $(kv p99_ms "$work/inc.kv") ms, max $(kv max_ms "$work/inc.kv") ms ($(kv n "$work/inc.kv") changes)"

		"${DRIVE[@]}" notify --dsn "$dsn" --receiver-log "$out/receiver.log" --samples "$BENCH_NOTIFY" \
			--as-of "$BENCH_AS_OF" --seed "-0.$i" --tag "$i" \
			>"$work/nt.kv" 2>"$out/notify-$i.txt" || { cat "$out/notify-$i.txt" >&2; die "notify run $i failed"; }
		nt99+=("$(kv p99_ms "$work/nt.kv")")
		say "  run $i: commit to webhook p50 $(kv p50_ms "$work/nt.kv") ms, p99 $(kv p99_ms "$work/nt.kv") ms, max $(kv max_ms "$work/nt.kv") ms ($(kv n "$work/nt.kv") alerts)"

		"${DRIVE[@]}" deliveries --dsn "$dsn" --receiver-log "$out/receiver.log" --count "$BENCH_DELIVERIES" \
			--url "$hook_url" --tag "$i" \
			>"$work/dl.kv" 2>"$out/deliveries-$i.txt" || { cat "$out/deliveries-$i.txt" >&2; die "delivery run $i failed"; }
		dps+=("$(kv steady_per_s "$work/dl.kv")")
		dps_e2e+=("$(kv per_s "$work/dl.kv")")
		say "  run $i: $BENCH_DELIVERIES deliveries at $(kv steady_per_s "$work/dl.kv")/s from the first to the last arrival (the first $(kv first_ms "$work/dl.kv") ms after the commit; $(kv per_s "$work/dl.kv")/s counted from the commit)"
	done
	# ---- the pages (issue 14): /service over a year of daily counts ----
	# The daemon counted today once; the 364 days before it are today's counts again, so that
	# the trend reads a full year as it will after a year of running.
	psql_ -c "INSERT INTO driftwatch.daily_count_days (day, evaluation_id, alerts, unanswered,
		acknowledged, snoozed) SELECT d.day - g, d.evaluation_id, d.alerts, d.unanswered,
		d.acknowledged, d.snoozed FROM driftwatch.daily_count_days d, generate_series(1, 364) g
		WHERE d.day = (SELECT max(day) FROM driftwatch.daily_count_days) ON CONFLICT DO NOTHING" \
		-c "INSERT INTO driftwatch.daily_counts SELECT c.day - g, c.team_id, c.rule, c.stage,
		c.state, c.alerts FROM driftwatch.daily_counts c, generate_series(1, 364) g
		WHERE c.day = (SELECT max(day) FROM driftwatch.daily_count_days)" \
		-c "ANALYZE driftwatch.daily_count_days, driftwatch.daily_counts" >/dev/null
	say "  daily counts: $(psql_ -At -c "SELECT count(*) || ' days, ' || (SELECT count(*) FROM driftwatch.daily_counts) || ' rows' FROM driftwatch.daily_count_days")"
	manager=$(psql_ -At -c "SELECT t.manager_email FROM driftwatch.alerts a JOIN casework.teams t
		USING (team_id) WHERE a.status = 'firing' AND t.manager_email IS NOT NULL
		GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
	web_url="http://127.0.0.1:$web_port"
	page_time() { # NAME PATH EMAIL: one page's times into $work/page-NAME.kv
		"${DRIVE[@]}" page --url "$web_url$2" --email "$3" --runs $((BENCH_RUNS * 4)) \
			>"$work/page-$1.kv" 2>"$out/page-$1.txt" || { cat "$out/page-$1.txt" >&2; die "timing $2 as $3 failed"; }
		say "  GET $2 as $3: first $(kv first_ms "$work/page-$1.kv") ms, then p50 $(kv p50_ms "$work/page-$1.kv") ms, p99 $(kv p99_ms "$work/page-$1.kv") ms ($(kv bytes "$work/page-$1.kv") bytes)"
	}
	page_time service /service "$BENCH_VIEWER"
	page_service_p50_ms=$(kv p50_ms "$work/page-service.kv")
	page_service_p99_ms=$(kv p99_ms "$work/page-service.kv")
	# the first request computes the figures for everyone; the later ones reuse them
	page_service_first_ms=$(kv first_ms "$work/page-service.kv")
	page_service_manager_p50_ms=-
	if [ -n "$manager" ]; then
		page_time service-manager /service "$manager"
		page_service_manager_p50_ms=$(kv p50_ms "$work/page-service-manager.kv")
	fi
	# the other pages as that manager would open them in supervision: their own alerts, their
	# team's, and the chronology of the child of that team with the most alerts
	page_mine_ms="- -" page_team_ms="- -" page_child_ms="- -"
	if [ -n "$manager" ]; then
		page_team_id=$(psql_ -At -c "SELECT a.team_id FROM driftwatch.alerts a JOIN casework.teams t
			USING (team_id) WHERE a.status = 'firing' AND t.manager_email = '$manager'
			GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
		page_child_id=$(psql_ -At -c "SELECT child_id FROM driftwatch.alerts WHERE team_id = '$page_team_id'
			GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
		page_time mine / "$manager"
		page_time team "/team/$page_team_id" "$manager"
		page_time child "/child/$page_child_id" "$manager"
		page_mine_ms="$(kv p50_ms "$work/page-mine.kv") $(kv p99_ms "$work/page-mine.kv")"
		page_team_ms="$(kv p50_ms "$work/page-team.kv") $(kv p99_ms "$work/page-team.kv")"
		page_child_ms="$(kv p50_ms "$work/page-child.kv") $(kv p99_ms "$work/page-child.kv")"
	fi

	grep -v "^<[67]>" "$out/daemon.log" | grep -v "evaluated notified children\|delivery: " | tail -n 5 >&2 || true
	rss_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$daemon_pid/status")
	rss_mb=$(awk -v k="$rss_kb" 'BEGIN { printf "%.1f", k / 1024 }')
	kill -TERM "$daemon_pid"
	for _ in $(seq 1 150); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
	wait "$daemon_pid" 2>/dev/null || true
	daemon_pid=""
	kill -TERM "$receiver_pid" 2>/dev/null || true
	wait "$receiver_pid" 2>/dev/null || true
	receiver_pid=""
	digest_bench

	incremental_p50_ms=$(echo "${inc50[*]}" | median)
	incremental_p99_ms=$(echo "${inc99[*]}" | median)
	notify_to_webhook_p99_ms=$(echo "${nt99[*]}" | median)
	deliveries_per_s=$(echo "${dps[*]}" | median)

	{
		echo "daemon part: children=$BENCH_CHILDREN shape=default layout=indexed runs=$BENCH_RUNS seed=$BENCH_SEED as_of=$BENCH_AS_OF changes=$BENCH_CHANGES notify=$BENCH_NOTIFY deliveries=$BENCH_DELIVERIES"
		echo "load average at its start: $daemon_load_before; at its end: $(cut -d' ' -f1-3 /proc/loadavg)"
		echo "full evaluation s, the rules (summary line): ${eval_s[*]}; bad-row count s: ${bad_rows_s[*]} (median $full_bad_rows_s); BEGIN to COMMIT s: ${total_s[*]} (median $full_total_s); wall s: ${wall_s[*]} (median $full_wall_s); dry-run peak RSS ${dry_rss_mb} MB"
		echo "scan s: $(kv scan_runs "$work/scan.kv")"
		echo "incremental p50 ms: ${inc50[*]}; p99 ms: ${inc99[*]}"
		echo "notify to webhook p99 ms: ${nt99[*]}"
		echo "deliveries per s, first to last arrival: ${dps[*]}; from the commit: ${dps_e2e[*]}"
		echo "GET /service ms as $BENCH_VIEWER (sees all): p50 $page_service_p50_ms, p99 $page_service_p99_ms, the first (uncached) $page_service_first_ms; as the busiest team's manager ${manager:-none}: p50 $page_service_manager_p50_ms"
		echo "as that manager, p50 and p99 ms: GET / $page_mine_ms; GET /team/${page_team_id:-} $page_team_ms; GET /child/${page_child_id:-} $page_child_ms"
		echo "daemon VmHWM: ${rss_mb} MB"
		echo "one person's digest of $BENCH_DIGEST notices (--once): peak RSS $digest_rss_mb MB, $digest_s s, $digest_bytes bytes"
	} >"$out/daemon-results.txt"
	sed 's/^/  /' "$out/daemon-results.txt" >&2
	cat "$out/daemon-results.txt" >>"$out/results.txt"
	daemon_line="bench: children=$BENCH_CHILDREN full_eval_s=$full_eval_s scan_s=$scan_s scan_ratio=$scan_ratio incremental_p50_ms=$incremental_p50_ms incremental_p99_ms=$incremental_p99_ms notify_to_webhook_p99_ms=$notify_to_webhook_p99_ms deliveries_per_s=$deliveries_per_s rss_mb=$rss_mb"
	echo "$daemon_line" >>"$out/results.txt"
	# Beside the required line: the bad-row count (quality.sql) the dry run does after the rules in
	# the same snapshot; the daemon does it on a connection of its own, off the alerts' path.
	daemon_extra="bench-extra: bad_rows_s=$full_bad_rows_s full_eval_with_bad_rows_s=$full_total_s dry_run_rss_mb=$dry_rss_mb page_service_p50_ms=$page_service_p50_ms page_service_p99_ms=$page_service_p99_ms page_service_first_ms=$page_service_first_ms page_service_manager_p50_ms=$page_service_manager_p50_ms page_mine_p50_ms=${page_mine_ms% *} page_mine_p99_ms=${page_mine_ms#* } page_team_p50_ms=${page_team_ms% *} page_team_p99_ms=${page_team_ms#* } page_child_p50_ms=${page_child_ms% *} page_child_p99_ms=${page_child_ms#* } digest_notices=$BENCH_DIGEST digest_rss_mb=$digest_rss_mb digest_s=$digest_s digest_bytes=$digest_bytes"
}

# One person's digest of BENCH_DIGEST notices, as a head of service gets on a large authority's
# first day, composed and sent by --once to the tests' SMTP server on loopback: the peak RSS of
# that run (its evaluation alone stays near the dry run's) and the message's size. The notices
# are copies, cycled, of the firing alerts: real alerts with their facts, without the words a
# notice keeps (those are written only where email is configured, which the daemon part's is
# not; a notice without them is shown by its rule and stage). Sets digest_rss_mb, digest_s and
# digest_bytes ("-" when skipped).
digest_bench() {
	local py=/usr/bin/python3 port mail="$work/mail" rss_kb f eml=""
	digest_rss_mb=- digest_s=- digest_bytes=-
	[ "$BENCH_DIGEST" -gt 0 ] || return 0
	if ! "$py" -c "import aiosmtpd" 2>/dev/null; then
		say "digest: skipped: Debian's python3-aiosmtpd is not installed (make check installs it)"
		return 0
	fi
	# A port the kernel says is free now, not BENCH_PORT + 3: that one lies in the ephemeral
	# range, and after the delivery runs' tens of thousands of connections one of them held
	# it ("address already in use", 2026-12-07).
	port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	mkdir -p "$mail"
	"$py" tests/integration/smtp_server.py --port "$port" --maildir "$mail" --tls none \
		--user bench --password bench --seconds 3600 --ready "$work/smtp.ready" 2>"$out/smtp.log" &
	smtp_pid=$!
	for _ in $(seq 1 100); do [ -e "$work/smtp.ready" ] && break; sleep 0.1; done
	[ -e "$work/smtp.ready" ] || die "the SMTP server did not start (see $out/smtp.log)"
	echo bench >"$work/smtp.pw"
	sed "s|\"webhooks\":|\"email\": { \"smtp_url\": \"smtp://127.0.0.1:$port\", \"tls\": \"none\", \"from\": \"driftwatch@la.example\", \"username\": \"bench\", \"password_file\": \"$work/smtp.pw\", \"digest_time\": null },\n  \"webhooks\":|" \
		"$work/plain.json" >"$work/digest.json"
	chmod 0600 "$work/digest.json"
	# everything else already went (or was marked sent): the digest is this run's only big one
	psql_ -c "UPDATE driftwatch.outbox SET status = 'delivered', delivered_at = now()
		WHERE channel = 'email' AND status <> 'delivered'" \
		-c "INSERT INTO driftwatch.outbox (idempotency_key, channel, destination, role, type,
		payload, digest_key, notice)
		SELECT 'bench-digest-' || g, 'email', 'bench-digest@la.example', 'head_of_service',
		'alert.firing', s.payload || '{\"status\": \"firing\"}', 'bench-digest', NULL
		FROM generate_series(0, $BENCH_DIGEST - 1) g
		JOIN (SELECT row_number() OVER (ORDER BY alert_id) - 1 AS i, count(*) OVER () AS n,
		payload FROM driftwatch.alerts WHERE status = 'firing') s ON s.i = g % s.n" >/dev/null
	[ "$(psql_ -At -c "SELECT count(*) FROM driftwatch.outbox WHERE digest_key = 'bench-digest'")" = "$BENCH_DIGEST" ] ||
		die "digest: the notices were not queued (no firing alert to copy?)"
	say "digest: $BENCH_DIGEST notices queued for one person; driftwatchd --once composes and sends them"
	"${DRIVE[@]}" run --timeout "$BENCH_TIMEOUT" -- "$DW" -c "$work/digest.json" --once \
		--as-of "$BENCH_AS_OF" >"$work/digest.kv" 2>"$out/digest.txt" ||
		{ tail -n 20 "$out/digest.txt" >&2; die "driftwatchd --once with the digest failed"; }
	kill -TERM "$smtp_pid" 2>/dev/null || true
	wait "$smtp_pid" 2>/dev/null || true
	smtp_pid=""
	for f in "$mail"/*.json; do
		grep -q '"bench-digest@la.example"' "$f" 2>/dev/null && eml=${f%.json}.eml
	done
	[ -n "$eml" ] && [ -e "$eml" ] || die "the digest did not reach the SMTP server (see $out/digest.txt)"
	digest_s=$(kv wall_s "$work/digest.kv")
	rss_kb=$(kv maxrss_kb "$work/digest.kv")
	digest_rss_mb=$(awk -v k="$rss_kb" 'BEGIN { printf "%.1f", k / 1024 }')
	digest_bytes=$(stat -c %s "$eml")
	say "  digest of $BENCH_DIGEST notices: peak RSS $digest_rss_mb MB, the whole --once $digest_s s, a message of $digest_bytes bytes"
}

has() { case " $1 " in *" $2 "*) return 0 ;; esac; return 1; }
daemon_line="" daemon_extra=""
{
	echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')), $(free -h | awk '/^Mem:/ { print $2 }') RAM, $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r)"
	echo "postgresql: $(tr '\n' ';' <"$out/pg_settings.txt")"
	echo "matrix: sizes=$BENCH_SIZES shapes=$BENCH_SHAPES layouts=$BENCH_LAYOUTS runs<=$BENCH_MATRIX_RUNS timeout=$BENCH_TIMEOUT seed=$BENCH_SEED as_of=$BENCH_AS_OF"
	echo "tree: HEAD $git_head$git_dirty; rules/*.sql sha256 $rules_sha; all embedded SQL sha256 $sql_sha"
	echo "load average at start: $load_before"
} >"$out/results.txt"
: >"$out/matrix.txt"
for size in $BENCH_SIZES; do
	for shape in $BENCH_SHAPES; do
		load_data "$size" "$shape"
		# tables first, then the views copied from them, then the indexes (the daemon part, which
		# changes the data, comes last)
		has "$BENCH_LAYOUTS" tables && cell "$size" "$shape" tables casework
		if has "$BENCH_LAYOUTS" views; then
			t0=$(date +%s.%N)
			psql_ -v src=casework -v schema=casework_views -f bench/layout_views.sql
			psql_ -c "VACUUM (ANALYZE) $(psql_ -At -c "SELECT string_agg(format('%I.%I', schemaname, tablename), ', ')
				FROM pg_tables WHERE schemaname = 'casework_views_cms'")"
			say "views over casework_views_cms built in $(secs_since "$t0") s"
			cell "$size" "$shape" views casework_views
			psql_ -c "SET client_min_messages = warning" -c "DROP SCHEMA casework_views CASCADE" \
				-c "DROP SCHEMA casework_views_cms CASCADE"
		fi
		daemon_here=0
		[ "$BENCH_DAEMON" = 1 ] && [ "$size" = "$BENCH_CHILDREN" ] && [ "$shape" = default ] && daemon_here=1
		if has "$BENCH_LAYOUTS" indexed || [ "$daemon_here" = 1 ]; then
			t0=$(date +%s.%N)
			psql_ -v schema=casework -f rules/contract_indexes.sql
			psql_ -c "VACUUM (ANALYZE) $(contract_tables casework)"
			say "contract_indexes.sql in $(secs_since "$t0") s"
			has "$BENCH_LAYOUTS" indexed && cell "$size" "$shape" indexed casework
		fi
		[ "$daemon_here" = 1 ] && daemon_part
	done
done
if [ "$BENCH_DAEMON" = 1 ] && [ -z "$daemon_line" ]; then
	load_data "$BENCH_CHILDREN" default
	psql_ -v schema=casework -f rules/contract_indexes.sql
	psql_ -c "VACUUM (ANALYZE) $(contract_tables casework)"
	daemon_part
fi

# ---- results ----
{
	echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg); make bench took $(secs_since "$bench_t0") s"
	cat "$out/matrix.txt"
} >>"$out/results.txt"
"$PY" - "$out/matrix.txt" >"$out/matrix-table.md" <<'PY'
import sys
cells = []
for line in open(sys.argv[1]):
    kv = dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
    cells.append(kv)
print("| children | shape | layout | wall s | rules s | bad rows s | scan s | wall / scan | peak RSS MB | alerts | rows | runs |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for c in cells:
    print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        c["children"], c["shape"], c["layout"],
        c["wall_s"] if c["status"] == "ok" else "**%s** (%s)" % (c["status"], c["wall_s"]),
        c["rules_s"], c["bad_rows_s"], c["scan_s"], c["ratio"], c["rss_mb"], c["alerts"], c["rows"], c["runs"]))
PY
say "logs and details in $out"
sed 's/^/  /' "$out/matrix-table.md" >&2
cat "$out/matrix.txt"
if [ -n "$daemon_line" ]; then
	echo "$daemon_extra"
	echo "$daemon_line"
fi

