#!/usr/bin/env bash
# End-to-end webhook delivery on loopback: signed POSTs sent concurrently through curl_loop
# (tests/integration/webhook_send.c) to a real HTTP receiver (webhook_receiver.py) told to
# answer 200, 500, 429, 410, 302, to stall or to drop the connection, plus a port nobody
# listens on. Checks each classification, that a stalled receiver does not delay the others,
# the concurrency limit, cancellation at shutdown, and verifies every signature with the npm
# `standardwebhooks` package, including the specification's published test vector.
#
# Environment: WEBHOOK_SEND  the driver binary (default: build/san/webhook_send, else made
#                            here from source with the sanitizers)
#              TEST_TMPDIR   scratch directory (default: a new one under /tmp)
# The checks are conditions in single quotes that check() evals, hence:
# shellcheck disable=SC2016,SC2034
set -u

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$top/tests/integration
PY=/usr/bin/python3
VEC_ID=msg_p5jXN8AQM9LWM0D4loKWxJek
VEC_SIG='v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='
SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw

. "$top/tests/lib/tap.sh"

work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/webhook-delivery.XXXXXX") || { notok "mktemp"; exit 1; }
pids=()
cleanup() {
	stop_all "${pids[@]}"
	rm -rf "$work"
}
trap cleanup EXIT

# ---- the driver ----
send=${WEBHOOK_SEND:-$top/build/san/webhook_send}
if [ ! -x "$send" ]; then
	# the Makefile knows what the driver links (webhook.c needs more of daemon/ than it did)
	if ! make -C "$top" -s build/san/webhook_send >"$work/cc.err" 2>&1; then
		sed 's/^/# /' "$work/cc.err"
		notok "build the webhook_send driver"
		exit 1
	fi
	send=$top/build/san/webhook_send
fi
ok "webhook_send driver is ready"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

# ---- the independent verifier ----
if [ ! -d "$here/node_modules/standardwebhooks" ]; then
	if ! (cd "$here" && npm ci --no-audit --no-fund >"$work/npm.log" 2>&1); then
		sed 's/^/# /' "$work/npm.log"
		notok "npm ci installs the standardwebhooks package"
		exit 1
	fi
fi
ok "the npm standardwebhooks package is installed"

printf '%s\n' "$SECRET" >"$work/secret"
chmod 600 "$work/secret"

# start_receiver NAME ROUTE...: starts a receiver logging to $work/NAME.jsonl; sets $url
start_receiver() {
	local name=$1 r
	shift
	local args=()
	for r in "$@"; do args+=(--route "$r"); done
	rm -f "$work/$name.port"
	"$PY" "$here/webhook_receiver.py" --port 0 --log "$work/$name.jsonl" --lifetime 90 \
		--ready-file "$work/$name.port" "${args[@]}" >/dev/null 2>"$work/$name.err" &
	pids+=($!)
	if ! wait_for 10 test -s "$work/$name.port"; then
		sed 's/^/# /' "$work/$name.err"
		notok "receiver $name starts"
		exit 1
	fi
	url=http://127.0.0.1:$(cat "$work/$name.port")
}

# field FILE NAME KEY: the value of KEY= on the "done NAME" line (reason= is the rest of it)
field() {
	local line
	line=$(grep -m1 "^done $2 " "$1") || return 1
	if [ "$3" = reason ]; then
		printf '%s\n' "${line#* reason=}"
	else
		printf '%s\n' "$line" | tr ' ' '\n' | sed -n "s/^$3=//p"
	fi
}

# ---- 1: every kind of answer, all at once, one of them stalling ----
# the Location is relative, to this very receiver: following it would show in the log
start_receiver a /down=500 /busy=429:7 /gone=410 /moved=302:/redirect-target /slow=stall:20 \
	/drop=close /locked=401
A=$url
refused=http://127.0.0.1:$(free_port)/hook

start=$(date +%s)
"$send" --secret-file "$work/secret" --max 16 --connect-timeout-ms 2000 --timeout-ms 4000 \
	--send slow="$A/slow" --send ok1="$A/ok" --send down="$A/down" --send busy="$A/busy" \
	--send gone="$A/gone" --send moved="$A/moved" --send drop="$A/drop" --send locked="$A/locked" \
	--send refused="$refused" --vector vector="$A/ok" --send ok2="$A/ok" \
	>"$work/a.out" 2>"$work/a.err"
rc=$?
took=$(($(date +%s) - start))
sed 's/^/# /' "$work/a.out" "$work/a.err"
check "the driver ends every transfer and exits 0 (ASan clean)" '[ "$rc" -eq 0 ]'
check "the whole batch is bounded by the 4 s total timeout (${took} s)" '[ "$took" -lt 10 ]'

expect() { # expect NAME VERDICT HTTP
	want_v=$2 want_h=$3
	v=$(field "$work/a.out" "$1" verdict)
	h=$(field "$work/a.out" "$1" http)
	check "$1: classified $want_v (got ${v:-nothing})" '[ "$v" = "$want_v" ]'
	check "$1: HTTP code $want_h (got ${h:-nothing})" '[ "$h" = "$want_h" ]'
}
expect ok1 delivered 200
expect ok2 delivered 200
expect vector delivered 200
expect down retry 500
expect busy retry 429
expect gone gone 410
expect moved misconfigured 302
# a 401 (a secret being rotated): retried up to the notice's age, not failed (ALERTS.md)
expect locked misconfigured 401
expect slow retry 0
expect drop retry 0
expect refused retry 0
check "429 carries Retry-After 7 s" '[ "$(field "$work/a.out" busy retry_after)" = 7 ]'
check "500 without Retry-After has none" '[ "$(field "$work/a.out" down retry_after)" = -1 ]'
check "the stalled receiver ended in a timeout" \
	'field "$work/a.out" slow reason | grep -q "Timeout"'
check "the refused connection says so" \
	'field "$work/a.out" refused reason | grep -qi "connect"'
check "the dropped connection is an empty reply" \
	'field "$work/a.out" drop reason | grep -qi "empty reply"'
check "the redirect's reason names where it pointed" \
	'field "$work/a.out" moved reason | grep -q "redirect to /redirect-target not followed"'
check "reasons name the endpoint" 'field "$work/a.out" gone reason | grep -q "^$A/gone: "'

slow_ms=$(field "$work/a.out" slow elapsed_ms)
slow_line=$(grep -n '^done slow ' "$work/a.out" | cut -d: -f1)
check "the stall lasted until the 4 s timeout (${slow_ms:-?} ms)" '[ "${slow_ms:-0}" -ge 3900 ]'
for n in ok1 ok2 vector down busy gone moved drop refused; do
	ms=$(field "$work/a.out" "$n" elapsed_ms)
	line=$(grep -n "^done $n " "$work/a.out" | cut -d: -f1)
	check "$n finished in ${ms:-?} ms while the stall was in progress" \
		'[ -n "$ms" ] && [ "$ms" -lt 2000 ] && [ "${line:-99}" -lt "${slow_line:-0}" ]'
done

log=$work/a.jsonl
count() { grep -c -- "$1" "$log"; }
check "the receiver recorded 10 requests (the refused one never arrived)" \
	'[ "$(grep -c . "$log")" -eq 10 ]'
check "the redirect was not followed" '[ "$(count "\"path\": \"/redirect-target\"")" -eq 0 ]'
check "every request is a POST" '[ "$(count "\"method\": \"POST\"")" -eq 10 ]'
check "every request says Content-Type: application/json" \
	'[ "$(count "\"content-type\": \"application/json\"")" -eq 10 ]'
check "every request has User-Agent driftwatch/VERSION" \
	'[ "$(count "\"user-agent\": \"driftwatch/")" -eq 10 ]'
check "every request carries the three Standard Webhooks headers" \
	'[ "$(count "\"webhook-id\": \"msg_")" -eq 10 ] &&
	 [ "$(count "\"webhook-timestamp\": \"[0-9]*\"")" -eq 10 ] &&
	 [ "$(count "\"webhook-signature\": \"v1,")" -eq 10 ]'
check "no request waited for 100-continue" '[ "$(count "\"expect\"")" -eq 0 ]'
check "the published test vector went out with the published signature" \
	'grep -qF "\"webhook-signature\": \"$VEC_SIG\"" "$log"'
check "the published test vector went out with its timestamp" \
	'grep -q "\"webhook-timestamp\": \"1614265330\"" "$log"'

# the independent implementation checks every recorded signature
node "$here/verify_standardwebhooks.js" --log "$log" --secret-file "$work/secret" \
	--at-own-time "$VEC_ID" --expect 10 >"$work/verify.out" 2>&1
vrc=$?
tap_relay "$work/verify.out"
if [ "$vrc" -ne 0 ] && ! grep -q '^not ok' "$work/verify.out"; then
	notok "verify_standardwebhooks exits 0"
fi

# the same check with another secret must fail: the one above is not vacuous
node "$here/verify_standardwebhooks.js" --log "$log" \
	--secret whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX --path /gone >"$work/wrong.out" 2>&1
check "signatures do not verify with another secret" \
	'grep -q "^not ok - signature of" "$work/wrong.out"'

# ---- 2: the limit: four 1 s stalls through 2 slots take two rounds ----
start_receiver b /pace=stall:1
B=$url
start=$(date +%s%N)
"$send" --secret-file "$work/secret" --max 2 --timeout-ms 5000 --send p1="$B/pace" \
	--send p2="$B/pace" --send p3="$B/pace" --send p4="$B/pace" >"$work/b.out" 2>"$work/b.err"
rc=$?
took_ms=$((($(date +%s%N) - start) / 1000000))
sed 's/^/# /' "$work/b.out" "$work/b.err"
check "max 2: all four delivered" \
	'[ "$rc" -eq 0 ] && [ "$(grep -c "verdict=delivered" "$work/b.out")" -eq 4 ]'
check "max 2: never more than 2 running" '! grep -qE "running=([3-9]|[1-9][0-9])" "$work/b.out"'
check "max 2: four 1 s stalls took two rounds (${took_ms} ms)" '[ "$took_ms" -ge 1900 ]'
spread=$("$PY" -c '
import json, sys
ts = sorted(json.loads(l)["t"] for l in open(sys.argv[1]) if l.strip())
print(len(ts), int((ts[1] - ts[0]) * 1000), int((ts[2] - ts[1]) * 1000))' "$work/b.jsonl")
read -r bn first_two gap <<<"$spread"
check "max 2: two arrived at once (${first_two} ms apart), the third ${gap} ms later" \
	'[ "$bn" -eq 4 ] && [ "$first_two" -lt 500 ] && [ "$gap" -ge 800 ]'

# ---- 3: shutdown cancels what runs and what waits, calling each callback once ----
start_receiver c /hang=stall:10
C=$url
start=$(date +%s)
"$send" --secret-file "$work/secret" --max 1 --timeout-ms 20000 --cancel-after-ms 500 \
	--send c1="$C/hang" --send c2="$C/hang" --send c3="$C/hang" >"$work/c.out" 2>"$work/c.err"
rc=$?
took=$(($(date +%s) - start))
sed 's/^/# /' "$work/c.out" "$work/c.err"
check "cancel: the driver exits 0 with no leaks" '[ "$rc" -eq 0 ]'
check "cancel: it stopped at once, not after the stall (${took} s)" '[ "$took" -lt 5 ]'
check "cancel: one running and two queued were cancelled" \
	'grep -q "^cancelling running=1 queued=2" "$work/c.out"'
check "cancel: every transfer's callback ran once, as cancelled" \
	'[ "$(grep -c "^done c[123] verdict=cancelled " "$work/c.out")" -eq 3 ]'

# ---- 4: a team's URL allowed by a "*." pattern may not reach this machine by its address ----
# (the name "vm" or "localhost" stands for a name under an allowed domain that someone pointed
# at 127.0.0.1: the check is of the address connected to, whatever the name)
start_receiver d
D=$url
host_url=${D/127.0.0.1/localhost}
"$send" --secret-file "$work/secret" --max 2 --timeout-ms 5000 --refuse-local 1 \
	--send local_ip="$D/team" --send local_name="$host_url/team" >"$work/d.out" 2>"$work/d.err"
rc=$?
sed 's/^/# /' "$work/d.out" "$work/d.err"
check "refuse-local: the driver exits 0" '[ "$rc" -eq 0 ]'
check "refuse-local: both are rejected, not retried" \
	'[ "$(grep -c "verdict=rejected" "$work/d.out")" -eq 2 ]'
check "refuse-local: the reason says the host resolves to a loopback address" \
	'field "$work/d.out" local_name reason | grep -q "resolves to a loopback or link-local"'
check "refuse-local: nothing reached the receiver" '[ ! -s "$work/d.jsonl" ]'
"$send" --secret-file "$work/secret" --max 1 --timeout-ms 5000 --refuse-local 0 \
	--send named="$host_url/team" >"$work/d2.out" 2>&1
check "without refuse-local (a host named exactly) the same URL is delivered" \
	'grep -q "^done named verdict=delivered" "$work/d2.out"'

echo "# webhook delivery: $tap_failed failure(s)"
tap_end
