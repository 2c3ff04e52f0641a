#!/usr/bin/env bash
# test_instances: several daemons on one database (issue 5, item 3). Three `driftwatchd -c FILE`
# (the sanitizer build) share one case schema and one state schema on a PostgreSQL of our own,
# each with its own http.listen port, delivering to one real webhook receiver (two routes: /fast
# answers at once, /slow after a pause, so deliveries are in flight when an instance dies).
#   1  start: exactly one instance says it evaluates; the initial alerts' webhooks arrive, each
#      notice exactly once (by webhook-id and by change); one 'firing' event per alert;
#   2  rounds: commit changes that create new alerts (a missed appointment for a baby, a second
#      one escalating an earlier baby, a new worker on a neglect plan), SIGKILL the active
#      instance at a random small delay (while it evaluates, records or delivers), commit more
#      while nobody evaluates, see another instance take over within takeover_seconds + a few
#      seconds, start a replacement;
#   2b the session holding the active instance's lock is ended (pg_terminate_backend) while a
#      full evaluation of its waits on a table lock: it says it no longer evaluates, an instance
#      takes the lock, and the evaluation in flight is not recorded;
#   3  end: once the outbox has no pending notice (the leases of killed instances are ended by
#      hand, as the passing of their 300 s would), every notice was delivered at least once, a
#      notice received more than once carried the same webhook-id, no two webhook-ids for one
#      change, one 'firing' per alert and no duplicated escalation; no instance died that was
#      not killed; the survivors stop on SIGTERM with status 0 and no sanitizer report.
#   4  with everything stopped, daemon/sql/outbox_claim_webhook.sql and outbox_result.sql by
#      hand on one notice: a late result of a claim whose lease ran out leaves the newer claim alone, and a
#      notice released unsent is due again without counting an attempt.
# Figures (kills, where each landed, takeover times, same-key duplicates) are `# ` lines; no
# timing is asserted beyond generous bounds.
#
# Environment: DRIFTWATCHD (default build/san/driftwatchd), DW_TOP, TEST_TMPDIR,
# INSTANCES_PGPORT (default: the first free port from 15450), INSTANCES_ROUNDS (default 6,
# at most 9), INSTANCES_SEED (the random delays; default: from the clock, printed),
# INSTANCES_FILLER (children that only add rows to read, default 20000), INSTANCES_KEEP=1 keeps
# the scratch directory. Needs PostgreSQL 15's server binaries (tests/lib/pg.sh), psql and
# /usr/bin/python3. Prints `ok - NAME` / `not ok - NAME` and `# ...` diagnostics.
# The checks are conditions in single quotes that check() evals, hence:
# shellcheck disable=SC2016,SC2034
set -u

top=${DW_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
here=$top/tests/integration
daemon=${DRIFTWATCHD:-$top/build/san/driftwatchd}
py=/usr/bin/python3
probe() { "$py" "$here/instances_probe.py" "$@"; }
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
LEADS_RE='^<[0-7]>leader: this instance now evaluates'
TAKEOVER=2
LEASE_S=300        # daemon/deliver.c DELIVER_LEASE_S
STALL=1.5          # seconds the /slow route holds each request
ROUNDS=${INSTANCES_ROUNDS:-6}
[ "$ROUNDS" -gt 9 ] && ROUNDS=9   # the fixture has children for nine rounds
[ "$ROUNDS" -lt 1 ] && ROUNDS=1
SEED=${INSTANCES_SEED:-$(( $(date +%s) % 32768 ))}
RANDOM=$SEED
N_INIT=24          # C-IN-01..24: the initial alerts

. "$top/tests/lib/tap.sh"
now() { date +%s.%N; }
secs_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# ---- scratch, servers, cleanup ----
. "$top/tests/lib/pg.sh"
work=$(mktemp -d "${TEST_TMPDIR:-${TMPDIR:-/tmp}}/instances.XXXXXX") || { notok "mktemp"; exit 1; }
chmod 0755 "$work" # the server may run as another user (pg.sh)
pgdir=$work/pg
helpers=()         # the receiver
declare -a dpid dstate dlog dcfg dport   # per instance slot: pid, running|killed|stopped, files
cleanup() {
	local n p
	for n in "${!dpid[@]}"; do
		[ "${dstate[$n]}" = running ] && kill -KILL "${dpid[$n]}" 2>/dev/null
	done
	for p in "${helpers[@]}"; do kill "$p" 2>/dev/null; done
	for n in "${!dpid[@]}"; do wait "${dpid[$n]}" 2>/dev/null; done
	for p in "${helpers[@]}"; do wait "$p" 2>/dev/null; done
	pg_stop "$pgdir" >/dev/null 2>&1
	if [ "${INSTANCES_KEEP:-}" = 1 ]; then
		echo "# scratch kept in $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

require "the daemon is built ($daemon)" test -x "$daemon"
note "seed $SEED (INSTANCES_SEED=$SEED repeats the delays), $ROUNDS rounds, takeover_seconds $TAKEOVER"

pgport=${INSTANCES_PGPORT:-$(first_free_port 15450 15490)}
start_own_pg "$pgdir" "$pgport"

sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
if ! sql -v schema=casework -v filler="${INSTANCES_FILLER:-20000}" -f "$top/rules/contract.sql" \
	-f "$top/tests/fixtures/instances.sql" >"$work/load.log" 2>&1; then
	diag <"$work/load.log"
	notok "load rules/contract.sql and tests/fixtures/instances.sql"
	exit 1
fi

"$py" "$here/webhook_receiver.py" --port 0 --log "$work/hooks.jsonl" --lifetime 900 \
	--ready-file "$work/hooks.port" --route "/slow=stall:$STALL" >/dev/null 2>"$work/hooks.err" &
helpers+=($!)
if ! wait_for 10 test -s "$work/hooks.port"; then
	diag <"$work/hooks.err"
	notok "the webhook receiver starts"
	exit 1
fi
rport=$(cat "$work/hooks.port")

# write_config N: instance N's file; its sessions are named dw-N (application_name)
write_config() {
	local n=$1
	dport[n]=$(free_port)
	dcfg[n]=$work/dw-$n.json
	cat >"${dcfg[$n]}" <<EOF
{
  "database": { "conninfo": "host=127.0.0.1 port=$pgport dbname=$PGDATABASE user=$PGUSER application_name=dw-$n",
                "case_schema": "casework", "state_schema": "driftwatch" },
  "timezone": "Europe/London",
  "link_template": "https://lcs.example/person/{child_id}",
  "addresses": { "fallback": "duty@la.example", "cp_chair": "cp-chairs@la.example" },
  "evaluation": { "interval_seconds": 300, "takeover_seconds": $TAKEOVER },
  "webhooks": [ { "url": "http://127.0.0.1:$rport/fast", "secret": "$SECRET" },
                { "url": "http://127.0.0.1:$rport/slow", "secret": "$SECRET" } ],
  "http": { "listen": "127.0.0.1:${dport[$n]}" }
}
EOF
}

# start_instance N: with debug lines, which say what it was doing when killed
start_instance() {
	local n=$1
	[ -n "${dcfg[$n]:-}" ] || write_config "$n"
	dlog[n]=$work/dw-$n.err
	"$daemon" -v -c "${dcfg[$n]}" >"$work/dw-$n.out" 2>"${dlog[$n]}" &
	dpid[n]=$!
	dstate[n]=running
}
running() {
	local n
	for n in "${!dpid[@]}"; do [ "${dstate[$n]}" = running ] && echo "$n"; done
}
# leaders: the running instances whose last word on the lock is that they hold it
leaders() {
	local n last
	for n in $(running); do
		last=$(grep -E '^<[0-7]>leader: this instance (now|no longer) evaluates' "${dlog[$n]}" | tail -n 1)
		case $last in *"now evaluates"*) echo "$n" ;; esac
	done
}
n_leads() { grep -Ec "$LEADS_RE" "$1"; }
# lock_holder: the application_name (dw-N) of each session holding the evaluation lock
LOCK_KEY="(hashtext('driftwatch:driftwatch')::bigint & 4294967295)::oid"
lock_holder() {
	sql -c "SELECT coalesce(string_agg(a.application_name, ' '), 'nobody') FROM pg_locks l
		JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' AND l.granted
		AND l.objsubid = 1 AND l.objid = $LOCK_KEY"
}
# crashed: running instances whose process is gone
crashed() {
	local n
	for n in $(running); do kill -0 "${dpid[$n]}" 2>/dev/null || echo "$n"; done
}
webhooks_in_outbox() { sql -c "SELECT count(*) FROM driftwatch.outbox WHERE channel = 'webhook'" 2>/dev/null; }
# outbox_state: "pending delivering delivered" webhook notices
outbox_state() {
	sql -F ' ' -c "SELECT count(*) FILTER (WHERE status = 'pending'),
		count(*) FILTER (WHERE status = 'delivering'), count(*) FILTER (WHERE status = 'delivered')
		FROM driftwatch.outbox WHERE channel = 'webhook'" 2>/dev/null
}
dump_outbox() {
	sql -c "SELECT json_build_object('key', idempotency_key, 'destination', destination,
		'type', type, 'rule', payload->>'rule', 'child_id', payload->>'child_id',
		'stage', payload->>'stage', 'status', status, 'attempts', attempts)
		FROM driftwatch.outbox WHERE channel = 'webhook' ORDER BY notice_id" >"$1"
}
expect() { printf '{"type": "%s", "rule": "%s", "child_id": "%s", "stage": "%s"}\n' "$@" >>"$work/expect.jsonl"; }
: >"$work/expect.jsonl"
for i in $(seq -w 1 $N_INIT); do expect alert.firing cp_neglect_duration "C-IN-$i" 9m; done

write_config 0
if "$daemon" -c "${dcfg[0]}" --install-triggers >"$work/install.out" 2>&1; then
	ok "--install-triggers on the case schema"
else
	diag <"$work/install.out"
	notok "--install-triggers on the case schema"
fi

# ---- 1: three instances ----
# every instance's file now, so starting a replacement is quick
for n in $(seq $((3 + ROUNDS))); do write_config "$n"; done
for n in 1 2 3; do start_instance "$n"; done
one_leader=
for _ in $(seq 300); do
	if [ "$(leaders | wc -l)" = 1 ]; then one_leader=$(leaders); break; fi
	sleep 0.1
done
if [ -z "$one_leader" ]; then
	notok "one of the three instances takes the lock"
	for n in 1 2 3; do echo "instance $n:"; cat "${dlog[$n]}"; done | diag
	exit 1
fi
# a few rounds of lock checks (takeover_seconds each) for another to claim it wrongly
sleep $((3 * TAKEOVER))
n_said=0
for n in 1 2 3; do n_said=$((n_said + $(n_leads "${dlog[$n]}"))); done
holder=$(lock_holder)
check "exactly one of three instances says it evaluates (instance $one_leader; lines: $n_said; the lock's session: $holder)" \
	'[ "$n_said" = 1 ] && [ "$holder" = "dw-$one_leader" ]'
n_wait=0
for n in 1 2 3; do grep -q 'leader: another instance evaluates' "${dlog[$n]}" && n_wait=$((n_wait + 1)); done
check "the other two say another instance evaluates ($n_wait)" '[ "$n_wait" = 2 ]'
# a standby that never led has no evaluation of its own: it is healthy, and says it is a standby
# (it answered 503 "no evaluation yet" for as long as it ran, while one that had led said ok)
n_standby=0
for n in 1 2 3; do
	[ "$n" = "$one_leader" ] && continue
	body=$(curl -s --max-time 5 -w ' %{http_code}' "http://127.0.0.1:${dport[$n]}/healthz")
	[[ "$body" == "ok: standby:"*" 200" ]] && n_standby=$((n_standby + 1))
	note "instance $n /healthz: $(printf '%s' "$body" | tr '\n' '|')"
done
check "the two standbys answer /healthz 200 \"ok: standby: ...\" ($n_standby)" '[ "$n_standby" = 2 ]'

# the initial evaluation: 24 alerts, each to /fast and /slow
want=$((N_INIT * 2))
t0=$(now)
init_done=
for _ in $(seq 600); do
	read -r p d v <<<"$(outbox_state)"
	if [ "${v:-0}" = "$want" ] && [ "$(webhooks_in_outbox)" = "$want" ]; then init_done=1; break; fi
	sleep 0.1
done
check "the initial alerts' $want webhook notices are delivered (outbox: ${p:-?} pending, ${d:-?} delivering, ${v:-?} delivered; $(secs_since "$t0") s)" \
	'[ -n "$init_done" ]'
sleep 1 # a stalled /slow request is logged before it is answered: let any stray one show
dump_outbox "$work/outbox.init.jsonl"
probe verify --label initial --log "$work/hooks.jsonl" --outbox "$work/outbox.init.jsonl" \
	--expect "$work/expect.jsonl" --secret "$SECRET" --path /fast --path /slow --exactly-once ||
	tap_failed=$((tap_failed + 1))
read -r n_alerts n_firing n_multi <<<"$(sql -F ' ' -c "SELECT (SELECT count(*) FROM driftwatch.alerts),
	(SELECT count(*) FROM driftwatch.alert_events WHERE kind = 'firing'),
	(SELECT count(*) FROM (SELECT alert_id FROM driftwatch.alert_events WHERE kind = 'firing'
	 GROUP BY alert_id HAVING count(*) > 1) m)")"
check "driftwatch.alert_events has one 'firing' event per alert ($n_alerts alerts, $n_firing firing events)" \
	'[ "$n_alerts" = "$N_INIT" ] && [ "$n_firing" = "$N_INIT" ] && [ "$n_multi" = 0 ]'
dead=$(crashed)
check "all three instances are running" '[ -z "$dead" ]'

# ---- 2: rounds of changes and kills ----
baby() { printf 'C-IB-%02d' "$1"; }
worker() { printf 'C-IW-%02d' "$1"; }
commit_first_wnb() { # BABY...
	local vals="" n
	for n in "$@"; do
		vals+="${vals:+, }('APT-I1-$n', '$(baby "$n")', 'gp', now() - interval '3 hours', 'was_not_brought')"
		expect alert.firing was_not_brought "$(baby "$n")" vulnerable
	done
	sql -c "INSERT INTO casework.appointments VALUES $vals"
}
commit_second_wnb() { # BABY...
	local vals="" n
	for n in "$@"; do
		vals+="${vals:+, }('APT-I2-$n', '$(baby "$n")', 'gp', now() - interval '2 hours', 'was_not_brought')"
		expect alert.escalated was_not_brought "$(baby "$n")" repeated
	done
	sql -c "INSERT INTO casework.appointments VALUES $vals"
}
commit_handover() { # CHILD_NUMBER
	sql -c "INSERT INTO casework.allocations VALUES ('A-IW2-$1', '$(worker "$1")', 'W-I2', current_date, NULL)"
	expect alert.firing worker_change "$(worker "$1")" handover
}
# firing_children_are LIST N: N of the children in LIST (quoted, comma-separated) have a firing alert
firing_children_are() {
	[ "$(sql -c "SELECT count(DISTINCT child_id) FROM driftwatch.alerts WHERE status = 'firing'
		AND child_id IN ($1)")" = "$2" ]
}
# wait_recorded BABY... : until each baby has a firing alert (a second missed appointment is
# news only once the first has been announced)
wait_recorded() {
	local list="" n
	for n in "$@"; do list+="'$(baby "$n")',"; done
	wait_for 30 firing_children_are "${list%,}" "$#"
}

# escalate ROUND: that round's first two babies miss a second appointment, once their first
# miss is recorded (else the two would be one change: firing at "repeated"); not in a round
# that aims at a takeover's evaluation, which it would wait for
escalate() {
	local b=$((($1 - 1) * 6))
	if wait_recorded $((b + 1)) $((b + 2)); then
		commit_second_wnb $((b + 1)) $((b + 2)) >/dev/null ||
			notok "commit the second missed appointments of round $1's babies"
	else
		notok "the first missed appointments of round $1 are recorded (within 30 s)"
	fi
}

# doing LOG: what a killed instance was doing by its last lines (debug level): an evaluation
# step logged after its last "evaluated" line is an evaluation cut short. Deliveries in flight
# are not logged; the leases a killed instance left show them at the end.
doing() {
	awk '/^<7>eval: step / { step = $3 } /^<6>evaluated / { step = "" }
		END { if (step == "commit") print "recording an evaluation";
		      else if (step != "") print "evaluating (step " step ")";
		      else print "between evaluations" }' "$1"
}

kills=0
takeovers=()
kill_times=()      # unix time of each kill
kill_where=()      # what the killed instance was doing
next_slot=4
escalated=0        # rounds whose babies had their second missed appointment
t_took=            # when the last takeover was seen
lost_takeover=     # 2b
ldr=$one_leader
for r in $(seq "$ROUNDS"); do
	base=$(((r - 1) * 6))
	# when to kill: while it delivers this round's notices, while it evaluates this round's
	# changes, or (right after the last takeover) during the new leader's full evaluation
	case $((r % 3)) in
	1) aim=delivering delay_ms=$((300 + RANDOM % 1000)) ;;
	2) aim=evaluating delay_ms=$((RANDOM % 50)) ;;
	0) aim="the takeover's evaluation" delay_ms=$((300 + RANDOM % 500)) ;;
	esac
	delay=$(awk -v m="$delay_ms" 'BEGIN { printf "%.3f", m / 1000 }')
	declare -A before=()
	for n in $(running); do before[$n]=$(n_leads "${dlog[$n]}"); done
	if [ "$aim" != "the takeover's evaluation" ]; then
		sleep "$(awk -v m="$((RANDOM % 1000))" 'BEGIN { printf "%.3f", m / 1000 }')"
		# changes: a second missed appointment for babies whose first is announced, a new
		# worker on a neglect plan, four babies missing an appointment
		while [ "$escalated" -lt $((r - 2)) ]; do
			escalated=$((escalated + 1))
			escalate "$escalated"
		done
		commit_handover "$r" >/dev/null || notok "round $r: commit a handover"
		commit_first_wnb $((base + 1)) $((base + 2)) $((base + 3)) $((base + 4)) >/dev/null ||
			notok "round $r: commit the first missed appointments"
		since="the changes"
		sleep "$delay"
	else
		# the changes of the last gap are in this evaluation; this round's follow the kill
		since="the takeover"
		sleep "$(awk -v d="$delay" -v t="$(secs_since "$t_took")" 'BEGIN { printf "%.3f", (d > t) ? d - t : 0 }')"
	fi
	t_kill=$(now)
	kill -KILL "${dpid[$ldr]}"
	wait "${dpid[$ldr]}" 2>/dev/null
	dstate[ldr]=killed
	kills=$((kills + 1))
	kill_times+=("$t_kill")
	[ "$since" = "the takeover" ] &&
		delay_ms=$(awk -v a="$t_took" -v b="$t_kill" 'BEGIN { printf "%d", (b - a) * 1000 }')
	# changes while nobody evaluates: (a takeover round's own,) two more babies, a handover
	if [ "$since" = "the takeover" ]; then
		commit_handover "$r" >/dev/null || notok "round $r: commit a handover"
		commit_first_wnb $((base + 1)) $((base + 2)) $((base + 3)) $((base + 4)) >/dev/null ||
			notok "round $r: commit the first missed appointments"
	fi
	commit_first_wnb $((base + 5)) $((base + 6)) >/dev/null || notok "round $r: commit during the gap"
	commit_handover $((10 + r)) >/dev/null || notok "round $r: commit a handover during the gap"
	# another instance takes over
	new=
	for _ in $(seq $(((TAKEOVER + 10) * 20))); do
		for n in $(running); do
			if [ "$(n_leads "${dlog[$n]}")" -gt "${before[$n]:-0}" ]; then new=$n; break; fi
		done
		[ -n "$new" ] && break
		sleep 0.05
	done
	took=$(secs_since "$t_kill")
	t_took=$(now)
	where=$(doing "${dlog[$ldr]}")
	kill_where+=("$where")
	note "round $r: instance $ldr (pid ${dpid[$ldr]}) killed ${delay_ms} ms after $since (aiming at: $aim); by its log it was $where"
	if [ -z "$new" ]; then
		notok "round $r: another instance takes over within $((TAKEOVER + 10)) s"
		for n in $(running); do echo "instance $n:"; grep -v '^<7>' "${dlog[$n]}" | tail -n 20; done | diag
		break
	fi
	takeovers+=("$took")
	note "round $r: instance $new took over ${took} s after the kill"
	check "round $r: another instance takes over within takeover_seconds + 8 s (${took} s)" \
		'awk -v t="$took" -v b="$((TAKEOVER + 8))" "BEGIN { exit !(t <= b) }"'
	all=$(leaders | tr '\n' ' ')
	holder=$(lock_holder)
	check "round $r: one running instance holds the lock (by the logs: ${all% }; the lock's session: $holder)" \
		'[ "${all% }" = "$new" ] && [ "$holder" = "dw-$new" ]'
	ldr=$new
	start_instance "$next_slot"
	note "round $r: replacement instance $next_slot started (pid ${dpid[$next_slot]})"
	next_slot=$((next_slot + 1))
	dead=$(crashed)
	if [ -n "$dead" ]; then
		notok "round $r: no instance died that was not killed (gone: $dead)"
		for n in $dead; do dstate[n]=crashed; grep -v '^<7>' "${dlog[$n]}" | tail -n 40 | diag; done
	fi
done
# ---- 2b: the lock's session ends under a live leader, mid-evaluation ----
# (a failover, an idle-session timeout, an operator's pg_terminate_backend): the instance stops
# evaluating at once, and the full evaluation it has in flight must not be recorded: it read an
# older snapshot than the one the instance taking over records. A table lock holds that
# evaluation (and the new leader's) until the new leader has the lock.
HOLD_S=$((TAKEOVER + 8))
# idle: after its last full evaluation it has counted bad rows and prepared the incremental
# statements (both read the locked table, and either in flight would hold the reload's evaluation)
leader_idle() {
	awk '/evaluated everyone/ { c = 0; w = 0 } /bad rows as of/ { c = 1 }
		/incremental statements are ready/ { w = 1 } END { exit !(c && w) }' "${dlog[$ldr]}"
}
if [ -n "$ldr" ] && [ "${dstate[$ldr]}" = running ]; then
	wait_for 30 leader_idle || note "instance $ldr is not idle after 30 s; going on"
	sql -c "BEGIN; LOCK TABLE casework.strategies IN ACCESS EXCLUSIVE MODE;
		SELECT pg_sleep($HOLD_S); COMMIT" >/dev/null 2>"$work/hold.err" &
	hold_pid=$!
	helpers+=("$hold_pid")
	for _ in $(seq 100); do
		[ "$(sql -c "SELECT count(*) FROM pg_locks WHERE relation = 'casework.strategies'::regclass
			AND mode = 'AccessExclusiveLock' AND granted")" = 1 ] && break
		sleep 0.05
	done
	t_hold=$(now)
	mark=$(wc -l <"${dlog[$ldr]}")
	declare -A before=()
	for n in $(running); do before[$n]=$(n_leads "${dlog[$n]}"); done
	kill -HUP "${dpid[$ldr]}" # a reload ends with a full evaluation
	waiting=
	for _ in $(seq 100); do
		[ "$(sql -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dw-$ldr'
			AND wait_event_type = 'Lock'")" = 1 ] && { waiting=1; break; }
		sleep 0.05
	done
	check "after SIGHUP, instance $ldr's full evaluation waits on the table lock" '[ -n "$waiting" ]'
	t_kill=$(now)
	ended=$(sql -c "SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l
		JOIN pg_stat_activity a USING (pid)
		WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
		AND a.application_name = 'dw-$ldr' AND l.objid = $LOCK_KEY")
	check "the session holding instance $ldr's lock is ended ($ended)" '[ "$ended" = 1 ]'
	# changes only the new leader's snapshot has
	commit_first_wnb 57 58 >/dev/null || notok "commit after the lock's session ended"
	commit_handover 20 >/dev/null || notok "commit a handover after the lock's session ended"
	lost=
	new=
	for _ in $(seq $(((TAKEOVER + 10) * 20))); do
		[ -z "$lost" ] && tail -n "+$((mark + 1))" "${dlog[$ldr]}" |
			grep -q 'leader: this instance no longer evaluates' && lost=$(secs_since "$t_kill")
		for n in $(running); do
			if [ "$(n_leads "${dlog[$n]}")" -gt "${before[$n]:-0}" ]; then new=$n; break; fi
		done
		[ -n "$lost" ] && [ -n "$new" ] && break
		sleep 0.05
	done
	took=$(secs_since "$t_kill")
	check "instance $ldr says it no longer evaluates (${lost:-never} s after its session ended)" \
		'[ -n "$lost" ]'
	check "an instance takes the lock within takeover_seconds + 8 s (instance ${new:-none}, ${took} s)" \
		'[ -n "$new" ] && awk -v t="$took" -v b="$((TAKEOVER + 8))" "BEGIN { exit !(t <= b) }"'
	[ -n "$new" ] && lost_takeover="$took s (instance $new)"
	held=$(secs_since "$t_hold")
	note "the table lock is held $HOLD_S s (${held} s so far): both evaluations wait for it"
	wait "$hold_pid" 2>/dev/null
	dropped=
	for _ in $(seq 100); do
		tail -n "+$((mark + 1))" "${dlog[$ldr]}" | grep -q 'the lock was lost while it ran' &&
			{ dropped=1; break; }
		sleep 0.1
	done
	check "instance $ldr does not record the evaluation it had in flight when the lock went" \
		'[ -n "$dropped" ]'
	dead=$(crashed)
	check "instance $ldr keeps running (delivering) after losing the lock (gone: ${dead:-none})" \
		'[ -z "$dead" ]'
	all=$(leaders | tr '\n' ' ')
	holder=$(lock_holder)
	check "one running instance holds the lock (by the logs: ${all% }; the lock's session: $holder)" \
		'[ "${all% }" = "$new" ] && [ "$holder" = "dw-$new" ]'
	ldr=$new
fi

# the remaining escalations, with nobody killed after them
while [ "$escalated" -lt "$ROUNDS" ]; do
	escalated=$((escalated + 1))
	escalate "$escalated"
done
check "the active instance was killed in each of $ROUNDS rounds ($kills kills)" '[ "$kills" = "$ROUNDS" ]'

# ---- 3: the end ----
n_expect=$(wc -l <"$work/expect.jsonl")
want=$((n_expect * 2))
# Survivors deliver what is due; the notices a killed instance had leased stay 'delivering'
# until their lease ends. Wait until every change is in the outbox, nothing is pending and the
# leased count has stood still long enough for any live delivery to have finished.
t0=$(now)
settled=
since=
last=
for _ in $(seq 900); do
	read -r p d v <<<"$(outbox_state)"
	if [ "$(webhooks_in_outbox)" = "$want" ] && [ "${p:-1}" = 0 ] && [ "$d" = "$last" ]; then
		[ -z "$since" ] && since=$(now)
		# a live pass ends within the stall of its last request
		if awk -v t="$(secs_since "$since")" -v s="$STALL" 'BEGIN { exit !(t >= s + 4) }'; then
			settled=1
			break
		fi
	else
		since=
	fi
	last=$d
	sleep 0.1
done
check "every change reaches the outbox and the survivors leave nothing pending (outbox: $(webhooks_in_outbox) of $want webhook notices; ${p:-?} pending, ${d:-?} delivering, ${v:-?} delivered; $(secs_since "$t0") s)" \
	'[ -n "$settled" ]'
stranded=${d:-0}
if [ "$stranded" -gt 0 ]; then
	# attribute each stranded lease to the first kill after its claim
	sql -F ' ' -c "SELECT extract(epoch FROM lease_until - make_interval(secs => $LEASE_S))
		FROM driftwatch.outbox WHERE channel = 'webhook' AND status = 'delivering'" >"$work/claims"
	prev=0
	for i in "${!kill_times[@]}"; do
		c=$(awk -v a="$prev" -v b="${kill_times[$i]}" '$1 > a && $1 <= b + 0.5 { n++ } END { print n + 0 }' "$work/claims")
		note "kill $((i + 1)) left $c notices leased (it was delivering them)"
		prev=${kill_times[$i]}
	done
	note "$stranded notices are still leased by killed instances (lease $LEASE_S s): ending their leases now, as the passing of time would"
	last_kill=${kill_times[$((${#kill_times[@]} - 1))]}
	sql -c "UPDATE driftwatch.outbox SET lease_until = now() WHERE channel = 'webhook'
		AND status = 'delivering' AND lease_until <= to_timestamp($last_kill + 1) + make_interval(secs => $LEASE_S)" >/dev/null
fi
t0=$(now)
drained=
for _ in $(seq 600); do
	read -r p d v <<<"$(outbox_state)"
	if [ "${p:-1}" = 0 ] && [ "${d:-1}" = 0 ]; then drained=1; break; fi
	sleep 0.1
done
check "the outbox ends with every webhook notice delivered ($p pending, $d delivering, $v delivered; $(secs_since "$t0") s after the leases ended)" \
	'[ -n "$drained" ] && [ "$v" = "$want" ]'
sleep "$STALL"
dump_outbox "$work/outbox.end.jsonl"
probe verify --label end --log "$work/hooks.jsonl" --outbox "$work/outbox.end.jsonl" \
	--expect "$work/expect.jsonl" --secret "$SECRET" --path /fast --path /slow >"$work/verify.out"
vrc=$?
cat "$work/verify.out"
[ "$vrc" = 0 ] || tap_failed=$((tap_failed + 1))
dups=$(sed -n 's/^# end: .* \([0-9][0-9]*\) received more than once.*/\1/p' "$work/verify.out")

# the alerts and their history
n_expect_alerts=$(grep -c '"alert.firing"' "$work/expect.jsonl")
read -r n_alerts n_firing n_multi n_esc n_esc_dup n_other <<<"$(sql -F ' ' -c "SELECT
	(SELECT count(*) FROM driftwatch.alerts),
	(SELECT count(*) FROM driftwatch.alert_events WHERE kind = 'firing'),
	(SELECT count(*) FROM (SELECT alert_id FROM driftwatch.alert_events WHERE kind = 'firing'
	 GROUP BY alert_id HAVING count(*) > 1) m),
	(SELECT count(*) FROM driftwatch.alert_events WHERE kind = 'escalated'),
	(SELECT count(*) FROM (SELECT alert_id, stage FROM driftwatch.alert_events
	 WHERE kind = 'escalated' GROUP BY 1, 2 HAVING count(*) > 1) m),
	(SELECT count(*) FROM driftwatch.alert_events WHERE kind NOT IN ('firing', 'escalated'))")"
n_expect_esc=$(grep -c '"alert.escalated"' "$work/expect.jsonl")
check "one 'firing' event per alert ($n_alerts alerts, expected $n_expect_alerts; $n_firing firing events, $n_multi alerts with more than one)" \
	'[ "$n_alerts" = "$n_expect_alerts" ] && [ "$n_firing" = "$n_alerts" ] && [ "$n_multi" = 0 ]'
check "no duplicated escalation ($n_esc escalations, expected $n_expect_esc; $n_esc_dup repeated)" \
	'[ "$n_esc" = "$n_expect_esc" ] && [ "$n_esc_dup" = 0 ]'
check "no other events (resolved, updated, lowered: $n_other): no evaluation undid another's" \
	'[ "$n_other" = 0 ]'
# every alert as expected: rule, child and stage
sql -c "SELECT rule || ' ' || child_id || ' ' || stage FROM driftwatch.alerts WHERE status = 'firing'
	ORDER BY 1" >"$work/alerts.got"
"$py" -c '
import json, sys
final = {}
for l in open(sys.argv[1]):
    e = json.loads(l)
    k = (e["rule"], e["child_id"])
    if e["type"] == "alert.firing" or k not in final:
        final.setdefault(k, e["stage"])
    if e["type"] == "alert.escalated":
        final[k] = e["stage"]
print("\n".join(sorted("%s %s %s" % (r, c, s) for (r, c), s in final.items())))' \
	"$work/expect.jsonl" >"$work/alerts.want"
diff "$work/alerts.want" "$work/alerts.got" >"$work/alerts.diff"
check "the firing alerts are exactly the changes committed, at their stages" '[ ! -s "$work/alerts.diff" ]'
diag <"$work/alerts.diff"
n_twice=$(sql -c "SELECT count(*) FROM (SELECT alert_id, type, destination FROM driftwatch.outbox
	WHERE channel = 'webhook' GROUP BY 1, 2, 3 HAVING count(*) > 1) m")
check "one notice per alert, change and destination in the outbox ($n_twice twice)" '[ "$n_twice" = 0 ]'
# only the instance that held the lock evaluated
bad_eval=0
for n in "${!dpid[@]}"; do
	b=$(awk '/^<[0-7]>leader: this instance now evaluates/ { l = 1 }
		/^<[0-7]>leader: this instance no longer evaluates/ { l = 0 }
		/^<[0-7]>evaluated / && !l { n++ } END { print n + 0 }' "${dlog[$n]}")
	bad_eval=$((bad_eval + b))
done
check "only an instance holding the lock evaluated ($bad_eval evaluations by others)" '[ "$bad_eval" = 0 ]'

# ---- survivors stop cleanly ----
dead=$(crashed)
check "no instance died other than the $kills killed (gone: ${dead:-none})" '[ -z "$dead" ]'
survivors=$(running | tr '\n' ' ')
for n in $survivors; do kill -TERM "${dpid[$n]}" 2>/dev/null; done
t0=$(now)
for n in $survivors; do
	wait_exit "${dpid[$n]}" 15
	dstate[n]=stopped
	check "instance $n stops on SIGTERM with status 0 (status ${rc:-none}, $(secs_since "$t0") s)" \
		'[ "$rc" = 0 ]'
	[ -z "$rc" ] && kill -KILL "${dpid[$n]}" 2>/dev/null
done
san=
for n in "${!dpid[@]}"; do
	if grep -Eq "$SAN_RE" "${dlog[$n]}"; then
		san+=" $n"
		grep -E -A30 "$SAN_RE" "${dlog[$n]}" | head -60 | diag
	fi
done
check "no sanitizer report from any instance (${san:-none})" '[ -z "$san" ]'
n_err=0
for n in "${!dpid[@]}"; do n_err=$((n_err + $(grep -c '^<[0-3]>' "${dlog[$n]}"))); done
if [ "$n_err" -gt 0 ]; then
	note "error lines logged by the instances ($n_err):"
	for n in "${!dpid[@]}"; do grep '^<[0-3]>' "${dlog[$n]}" | sed "s/^/instance $n: /"; done | head -20 | diag
fi

# ---- 4: a result counts only for its own claim ----
# With every instance stopped, the outbox statements the daemon embeds run by hand on one
# notice: a late result from a deliverer whose lease ran out (and whose notice was claimed again
# since) leaves the new claim alone; a notice released unsent is due again without counting an
# attempt. (Nothing else is due then: every webhook is delivered, and the email notices wait an
# hour for the mail server this configuration lacks.)
stmt() { sed 's/@state@/driftwatch/g' "$top/daemon/sql/$1.sql"; }
res() { # NOTICE ATTEMPTS OUTCOME: EXECUTE of outbox_result for one result
	printf "EXECUTE res('[{\"notice_id\": %s, \"attempts\": %s, \"outcome\": \"%s\", \"detail\": \"t\", \"delay_s\": 0, \"duration_ms\": 1}]', 259200, NULL, 'ops-test', 0, NULL);\n" "$@"
}
nid=$(sql -c "INSERT INTO driftwatch.outbox (idempotency_key, channel, destination, type, payload)
	VALUES ('msg_claims_test', 'webhook', 'http://127.0.0.1:9/claims', 'alert.firing', '{}')
	RETURNING notice_id" | head -n 1)
claim() { printf "EXECUTE claim(500, %s, NULL, '{}', '{}', 16, 259200, '{}');\n" "$1"; }
state() { printf "SELECT status || ' ' || attempts || ' ' || (SELECT count(*) FROM driftwatch.delivery_attempts WHERE notice_id = %s) FROM driftwatch.outbox WHERE notice_id = %s;\n" "$nid" "$nid"; }
{
	echo "PREPARE claim(int, int, timestamptz, text[], int[], int, int, bigint[]) AS"; stmt outbox_claim_webhook
	echo "PREPARE res(jsonb, int, text, text, int, text) AS"; stmt outbox_result
	claim 300                       # claim 1 (attempts 1)
	echo "UPDATE driftwatch.outbox SET lease_until = now() - interval '1 s' WHERE notice_id = $nid;"
	claim 300                       # its lease ran out: claim 2 (attempts 2)
	res "$nid" 1 delivered          # claim 1's late result
	state
	res "$nid" 2 released           # claim 2 gives it back unsent
	state
	claim 300                       # claim 3 (attempts 2 again)
	res "$nid" 2 delivered
	state
} >"$work/claims.sql"
sql -f "$work/claims.sql" 2>&1 | grep -E '^(pending|delivering|delivered|failed) [0-9]+ [0-9]+$|ERROR' >"$work/claims.out"
mapfile -t st <"$work/claims.out"
check "a late result of a claim whose lease ran out leaves the newer claim alone (${st[0]:-?})" \
	'[ "${st[0]:-}" = "delivering 2 1" ]'
check "a notice released unsent is pending again, its claim not counted as an attempt (${st[1]:-?})" \
	'[ "${st[1]:-}" = "pending 1 1" ]'
check "claimed again and delivered, its result counts (${st[2]:-?})" '[ "${st[2]:-}" = "delivered 2 2" ]'
grep -q ERROR "$work/claims.out" && diag <"$work/claims.out"

note "summary: $kills kills of the active instance; takeover times (s): ${takeovers[*]:-none}"
note "summary: after the lock's session ended under a live instance: the lock taken ${lost_takeover:-never}"
note "summary: kills landed while busy with: $(printf '%s; ' "${kill_where[@]}")"
note "summary: $stranded notices stranded by killed instances; ${dups:-?} notices received more than once, each with the same webhook-id"
tap_end
