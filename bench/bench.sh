#!/usr/bin/env bash
# make bench: builds a synthetic authority of BENCH_CHILDREN children with five years of
# history in a throwaway PostgreSQL, measures driftwatch against it and ends with one line:
#
#   bench: children=N full_eval_s=… scan_s=… scan_ratio=… incremental_p50_ms=…
#          incremental_p99_ms=… notify_to_webhook_p99_ms=… deliveries_per_s=… rss_mb=…
#
# (on one line). Each figure is the median of BENCH_RUNS runs; bench/README.md says what each
# one measures and how. Everything listens on 127.0.0.1 only; the database, the daemon and the
# receiver are stopped on exit, however it exits.
#
# Environment (defaults in brackets):
#   BENCH_CHILDREN [1000000]  children to generate (10000 is a smoke run of a minute or so)
#   BENCH_RUNS [5]            runs per figure (the median is reported)
#   BENCH_SEED [42]           generator seed
#   BENCH_AS_OF [today in Europe/London]  the generator's and the dry runs' day; the daemon
#                             evaluates "today", so leave it unset unless only full_eval matters
#   BENCH_CHANGES [200]       single-row changes per incremental run
#   BENCH_NOTIFY [100]        alert-creating changes per notify-to-webhook run
#   BENCH_DELIVERIES [20000]  notices per delivery run
#   BENCH_PORT [55495]        PostgreSQL's port; BENCH_PORT+1 is the daemon's /metrics
#   BENCH_SHARED_BUFFERS [1GB], BENCH_WORK_MEM [256MB], BENCH_PARALLEL [2]
#                             (max_parallel_workers_per_gather), BENCH_JIT [off]
#   BENCH_PROFILE [0]         1: also EXPLAIN (ANALYZE, BUFFERS) every rule's query and log the
#                             daemon's own per-statement durations (into BENCH_OUT/profile)
#   BENCH_OUT [a new directory under /tmp]  keeps the logs, results.txt and the profile
#   BENCH_TMPDIR [/tmp]       where the throwaway database goes (about 1 GB at 1,000,000)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

BENCH_CHILDREN=${BENCH_CHILDREN:-1000000}
BENCH_RUNS=${BENCH_RUNS:-5}
BENCH_SEED=${BENCH_SEED:-42}
BENCH_AS_OF=${BENCH_AS_OF:-$(TZ=Europe/London date +%F)}
BENCH_CHANGES=${BENCH_CHANGES:-200}
BENCH_NOTIFY=${BENCH_NOTIFY:-100}
BENCH_DELIVERIES=${BENCH_DELIVERIES:-20000}
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
	BENCH_PORT BENCH_PARALLEL; do
	case ${!v} in
	'' | *[!0-9]*) die "$v must be a whole number, not '${!v}'" ;;
	esac
done
[ "$BENCH_CHILDREN" -ge 100 ] || die "BENCH_CHILDREN must be at least 100"
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
out=${BENCH_OUT:-$(mktemp -d /tmp/driftwatch-bench-out.XXXXXX)}
mkdir -p "$out"
daemon_pid="" receiver_pid=""
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

# ---- data ----
say "loading $BENCH_CHILDREN children (seed $BENCH_SEED, as of $BENCH_AS_OF)"
t0=$(date +%s.%N)
bash bench/load.sh --dsn "$dsn" --children "$BENCH_CHILDREN" --seed "$BENCH_SEED" \
	--as-of "$BENCH_AS_OF" | tee "$out/load.txt" | sed 's/^/  /' >&2
psql -X -q -d "$dsn" -c "VACUUM (ANALYZE) casework.teams, casework.workers, casework.children,
	casework.allocations, casework.referrals, casework.cin_plans, casework.cp_plans,
	casework.appointments, casework.strategies" >/dev/null
psql -X -At -d "$dsn" -c "SELECT 'database size ' || pg_size_pretty(pg_database_size(current_database()))" \
	| tee -a "$out/load.txt" | sed 's/^/  /' >&2
say "loaded in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }') s"

# ---- configuration ----
http_port=$((BENCH_PORT + 1))
secret="whsec_$(head -c 24 /dev/urandom | base64 | tr -d '\n')"
"$root/build/bench/dwreceiver" --port 0 --log "$out/receiver.log" --ready-file "$work/receiver.port" \
	--lifetime 86400 2>"$out/receiver.err" &
receiver_pid=$!
for _ in $(seq 1 100); do [ -s "$work/receiver.port" ] && break; sleep 0.05; done
[ -s "$work/receiver.port" ] || die "the receiver did not start"
hook_url="http://127.0.0.1:$(cat "$work/receiver.port")/hook"
write_config() { # FILE WITH_WEBHOOK
	local hooks='[]'
	[ "$2" = 1 ] && hooks="[{\"url\": \"$hook_url\", \"secret\": \"$secret\"}]"
	cat >"$1" <<JSON
{
  "database": { "conninfo": "$dsn application_name=driftwatch-bench", "query_timeout_seconds": 3600 },
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
  "http": { "listen": "127.0.0.1:$http_port" }
}
JSON
	chmod 0600 "$1"
}
write_config "$work/plain.json" 0
write_config "$work/daemon.json" 1
"$DW" -c "$work/plain.json" --check-config >"$out/check-config.txt" 2>&1 ||
	{ cat "$out/check-config.txt" >&2; die "the configuration or the contract is wrong"; }

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END {
	if (NR == 0) { print "nan"; exit }
	if (NR % 2) printf "%s\n", v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
kv() { sed -n "s/^$1=//p" "$2" | tail -n 1; }

# ---- full evaluation (dry run) ----
say "full evaluation: one warm-up dry run, then $BENCH_RUNS"
eval_s=() total_s=() bad_rows_s=() wall_s=() dry_rss=()
for i in $(seq 0 "$BENCH_RUNS"); do
	"${DRIVE[@]}" run -- "$DW" -c "$work/plain.json" --once --dry-run --as-of "$BENCH_AS_OF" \
		>"$work/dry.kv" 2>"$out/dry-run-$i.txt" || { cat "$out/dry-run-$i.txt" >&2; die "the dry run failed"; }
	if [ "$i" -eq 0 ]; then
		say "  warm-up: $(kv eval_s "$work/dry.kv") s ($(kv alerts "$work/dry.kv") alerts, $(kv children "$work/dry.kv") children)"
		continue
	fi
	eval_s+=("$(kv eval_s "$work/dry.kv")")
	total_s+=("$(kv total_s "$work/dry.kv")")
	bad_rows_s+=("$(kv bad_rows_s "$work/dry.kv")")
	wall_s+=("$(kv wall_s "$work/dry.kv")")
	dry_rss+=("$(kv maxrss_kb "$work/dry.kv")")
	say "  run $i: six rules $(kv eval_s "$work/dry.kv") s, with the bad-row count $(kv total_s "$work/dry.kv") s, wall $(kv wall_s "$work/dry.kv") s, peak RSS $(($(kv maxrss_kb "$work/dry.kv") / 1024)) MB"
done
full_eval_s=$(echo "${eval_s[*]}" | median)
full_total_s=$(echo "${total_s[*]}" | median)
full_bad_rows_s=$(echo "${bad_rows_s[*]}" | median)
full_wall_s=$(echo "${wall_s[*]}" | median)
dry_rss_mb=$(($(echo "${dry_rss[*]}" | tr ' ' '\n' | sort -n | tail -n 1) / 1024))

# ---- the floor: one backend reading every row once ----
say "sequential scan floor: one warm-up, then $BENCH_RUNS"
"${DRIVE[@]}" scan --dsn "$dsn" --runs "$BENCH_RUNS" >"$work/scan.kv" 2>"$out/scan.txt" ||
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
grep -v "^<[67]>" "$out/daemon.log" | grep -v "evaluated notified children\|delivery: " | tail -n 5 >&2 || true
rss_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$daemon_pid/status")
rss_mb=$(awk -v k="$rss_kb" 'BEGIN { printf "%.1f", k / 1024 }')
kill -TERM "$daemon_pid"
for _ in $(seq 1 150); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
wait "$daemon_pid" 2>/dev/null || true
daemon_pid=""

incremental_p50_ms=$(echo "${inc50[*]}" | median)
incremental_p99_ms=$(echo "${inc99[*]}" | median)
notify_to_webhook_p99_ms=$(echo "${nt99[*]}" | median)
deliveries_per_s=$(echo "${dps[*]}" | median)

{
	echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')), $(free -h | awk '/^Mem:/ { print $2 }') RAM"
	echo "postgresql: $(tr '\n' ';' <"$out/pg_settings.txt")"
	echo "children=$BENCH_CHILDREN runs=$BENCH_RUNS seed=$BENCH_SEED as_of=$BENCH_AS_OF changes=$BENCH_CHANGES notify=$BENCH_NOTIFY deliveries=$BENCH_DELIVERIES"
	echo "tree: HEAD $git_head$git_dirty; rules/*.sql sha256 $rules_sha; all embedded SQL sha256 $sql_sha"
	echo "load average at start: $load_before; at end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "full evaluation s, six rules (summary line): ${eval_s[*]}; bad-row count s: ${bad_rows_s[*]} (median $full_bad_rows_s); BEGIN to COMMIT s: ${total_s[*]} (median $full_total_s); wall s: ${wall_s[*]} (median $full_wall_s); dry-run peak RSS ${dry_rss_mb} MB"
	echo "scan s: $(kv scan_runs "$work/scan.kv")"
	echo "incremental p50 ms: ${inc50[*]}; p99 ms: ${inc99[*]}"
	echo "notify to webhook p99 ms: ${nt99[*]}"
	echo "deliveries per s, first to last arrival: ${dps[*]}; from the commit: ${dps_e2e[*]}"
	echo "daemon VmHWM: ${rss_mb} MB"
} >"$out/results.txt"
sed 's/^/  /' "$out/results.txt" >&2
say "logs and details in $out"
line="bench: children=$BENCH_CHILDREN full_eval_s=$full_eval_s scan_s=$scan_s scan_ratio=$scan_ratio incremental_p50_ms=$incremental_p50_ms incremental_p99_ms=$incremental_p99_ms notify_to_webhook_p99_ms=$notify_to_webhook_p99_ms deliveries_per_s=$deliveries_per_s rss_mb=$rss_mb"
echo "$line" >>"$out/results.txt"
# Beside the required line: the bad-row count (quality.sql) the dry run does after the rules in
# the same snapshot; the daemon does it on a connection of its own, off the alerts' path.
echo "bench-extra: bad_rows_s=$full_bad_rows_s full_eval_with_bad_rows_s=$full_total_s dry_run_rss_mb=$dry_rss_mb"
echo "$line"
