#!/usr/bin/env bash
# test_http: the /healthz and /metrics listener (daemon/http.c, daemon/metrics_text.c) on
# loopback, served by build/san/http_driver over known figures. http_probe.py checks health
# states, parses /metrics with prometheus_client's parser, and tries 404, 405, bodies, huge
# headers, garbage, HEAD, pipelining, 50 concurrent scrapes, a slow client and a silent one.
# Here: a port in use and bad listen addresses fail with the address named, IPv6 and ":PORT"
# listen, 200 idle connections against a cap of 8 (the descriptors stay few, /healthz is
# answered), and every driver survives and stops cleanly (exit 0, no sanitizer report).
#
# Needs build/san/http_driver (or HTTP_DRIVER) and /usr/bin/python3 with
# python3-prometheus-client. Prints `ok - NAME` / `not ok - NAME` and `# ...` diagnostics.
set -u

top=${DW_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
driver=${HTTP_DRIVER:-$top/build/san/http_driver}
py=/usr/bin/python3
here=$top/tests/integration
. "$top/tests/lib/tap.sh"
tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/http.XXXXXX") || exit 1
pids=()

cleanup() {
	stop_all "${pids[@]}"
	rm -rf "$tmp"
}
trap cleanup EXIT

# ---- prerequisites: each missing one is a failure, not a silent skip ----
require "http_driver is built ($driver; make build/san/http_driver)" test -x "$driver"
require "python3-prometheus-client is installed for $py" "$py" -c 'import prometheus_client.parser'
timeout_s=$(sed -n 's/^#define HTTP_TIMEOUT_S \([0-9][0-9]*\).*/\1/p' "$top/include/driftwatch/http.h")
if [ -z "$timeout_s" ]; then
	notok "HTTP_TIMEOUT_S is found in include/driftwatch/http.h"
	exit 1
fi

# Ports from 57480 up that nothing listens on (another developer's run may hold some).
free_ports() { # free_ports N
	"$py" - "$1" <<'EOF'
import socket, sys
want, found = int(sys.argv[1]), []
for port in range(57480, 57600):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        found.append(port)
    except OSError:
        pass
    finally:
        s.close()
    if len(found) == want:
        break
print(" ".join(map(str, found)))
EOF
}

# start NAME LISTEN [ARGS...]: runs a driver in the background; ok when it says it listens.
start() {
	local name=$1 listen=$2 i
	shift 2
	"$driver" --listen "$listen" --seconds 300 "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
	pids+=($!)
	eval "pid_$name=$!"
	for i in $(seq 100); do
		grep -q '^listening ' "$tmp/$name.out" 2>/dev/null && return 0
		kill -0 "$!" 2>/dev/null || break
		sleep 0.1
	done
	echo "# http_driver $name ($listen) did not start:"
	diag "$tmp/$name.err"
	return 1
}

# stop NAME: SIGTERM; ok when it exits 0 with nothing from the sanitizers.
stop() {
	local name=$1 pid rc
	pid=$(eval "echo \$pid_$name")
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	rc=$?
	if [ "$rc" -eq 0 ] && ! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' "$tmp/$name.err"; then
		ok "$name listener stops cleanly on SIGTERM (exit 0, no sanitizer report)"
	else
		notok "$name listener stops cleanly on SIGTERM (exit $rc)"
		diag "$tmp/$name.err" | head -40
	fi
}

read -r p_healthy p_fresh p_down p_failed p_any p_spare <<<"$(free_ports 6)"
if [ -z "$p_spare" ]; then
	notok "six free ports from 57480 up"
	exit 1
fi

started=1
start healthy "127.0.0.1:$p_healthy" --state healthy --verbose || started=0
start fresh "127.0.0.1:$p_fresh" --state fresh || started=0
start down "127.0.0.1:$p_down" --state db-down || started=0
start failed "127.0.0.1:$p_failed" --state eval-failed || started=0
if [ "$started" = 1 ]; then
	ok "four listeners start on 127.0.0.1 ports $p_healthy $p_fresh $p_down $p_failed"
else
	notok "four listeners start on 127.0.0.1"
	exit 1
fi
if grep -q "^<6>http: listening on 127.0.0.1:$p_healthy" "$tmp/healthy.err"; then
	ok "the listener logs its address with a syslog priority prefix"
else
	notok "the listener logs its address with a syslog priority prefix"
	diag "$tmp/healthy.err"
fi

"$driver" --list-alerts >"$tmp/alerts.txt"
"$py" "$here/http_probe.py" --healthy "$p_healthy" --fresh "$p_fresh" --db-down "$p_down" \
	--eval-failed "$p_failed" --alerts "$tmp/alerts.txt" --timeout "$timeout_s"
[ $? -eq 0 ] || tap_failed=$((tap_failed + 1))

if grep -qE '^<7>http: (GET|HEAD|other method) (/healthz|/metrics|other): [0-9]{3}$' "$tmp/healthy.err" &&
	! grep -qiE 'nope|garbage|X-Big' "$tmp/healthy.err"; then
	ok "requests are logged at debug level without what the client sent"
else
	notok "requests are logged at debug level without what the client sent"
	diag "$tmp/healthy.err" | head -20
fi

# ---- bind failures name the address ----
"$driver" --listen "127.0.0.1:$p_healthy" --seconds 2 >"$tmp/dup.out" 2>"$tmp/dup.err"
rc=$?
if [ "$rc" -eq 1 ] && grep -q "127.0.0.1:$p_healthy.*Address already in use" "$tmp/dup.err"; then
	ok "a port in use: exit 1, the error names the address ($(head -1 "$tmp/dup.err"))"
else
	notok "a port in use: exit 1, the error names the address (exit $rc)"
	diag "$tmp/dup.err"
fi
for bad in "127.0.0.1" "::1:$p_spare" "[::1:$p_spare" "[::1]$p_spare" "[]:$p_spare" \
	"127.0.0.1:0" "127.0.0.1:65536" "127.0.0.1:80x" "127.0.0.1:" "no-such-host.invalid:$p_spare"; do
	"$driver" --listen "$bad" --seconds 2 >"$tmp/bad.out" 2>"$tmp/bad.err"
	rc=$?
	if [ "$rc" -eq 1 ] && grep -qF "cannot listen on \"$bad\":" "$tmp/bad.err"; then
		ok "listen \"$bad\" is refused naming it ($(head -1 "$tmp/bad.err"))"
	else
		notok "listen \"$bad\" is refused naming it (exit $rc)"
		diag "$tmp/bad.err"
	fi
done

# ---- IPv6 loopback and every address ----
if "$py" -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
	if start v6 "[::1]:$p_spare"; then
		if "$py" -c 'import http.client, sys
c = http.client.HTTPConnection("::1", int(sys.argv[1]), timeout=5)
c.request("GET", "/healthz")
sys.exit(0 if c.getresponse().status == 200 else 1)' "$p_spare"; then
			ok "listen [::1]:PORT serves /healthz over IPv6"
		else
			notok "listen [::1]:PORT serves /healthz over IPv6"
		fi
		stop v6
	else
		notok "listen [::1]:PORT starts"
	fi
else
	echo "# no IPv6 loopback on this machine: [::1] not tried"
fi
if start any ":$p_any"; then
	if "$py" -c 'import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
c.request("GET", "/metrics")
sys.exit(0 if c.getresponse().status == 200 else 1)' "$p_any"; then
		ok "listen :PORT (every address) serves on 127.0.0.1"
	else
		notok "listen :PORT (every address) serves on 127.0.0.1"
	fi
	stop any
else
	notok "listen :PORT (every address) starts"
fi

# ---- a flood of idle connections against a cap of 8 ----
# 200 connections that never send a byte: the listener keeps at most 8 open (the one idle
# longest closed first), so its descriptors stay few and /healthz is still answered at once.
# libevent accepts a burst before the cap can close any (a connection is closed once evhttp
# has set it up), so on a busy machine the count may be above the cap for a moment: the check
# waits up to 15 s for it to settle, then takes the most of five samples over a second. A
# listener without the cap keeps all 200, so it still fails.
if start capped "127.0.0.1:$p_spare" --max-connections 8; then
	fds0=$(find "/proc/$pid_capped/fd" -mindepth 1 | wc -l)
	"$py" - "$p_spare" "$pid_capped" "$fds0" >"$tmp/capped.out" 2>&1 <<'PYEOF'
import http.client, os, socket, sys, time
port, pid = int(sys.argv[1]), sys.argv[2]
flood = []
for _ in range(200):
    s = socket.socket()
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    flood.append(s)
fds0 = int(sys.argv[3])
deadline = time.monotonic() + 15
while time.monotonic() < deadline and len(os.listdir("/proc/%s/fd" % pid)) > fds0 + 10:
    time.sleep(0.1)
time.sleep(0.2)
most = 0
codes = []
for _ in range(5):
    most = max(most, len(os.listdir("/proc/%s/fd" % pid)))
    t0 = time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/healthz")
    codes.append("%d/%.2fs" % (c.getresponse().status, time.monotonic() - t0))
    c.close()
    time.sleep(0.2)
print("fds", most)
print("healthz", " ".join(codes))
PYEOF
	fds1=$(sed -n 's/^fds //p' "$tmp/capped.out")
	note "capped listener: $fds0 descriptors before 200 idle connections, at most ${fds1:-?} during; /healthz: $(sed -n 's/^healthz //p' "$tmp/capped.out")"
	if [ -n "$fds1" ] && [ "$fds1" -le $((fds0 + 8 + 2)) ]; then
		ok "200 idle connections leave a listener capped at 8 with at most 8 more descriptors"
	else
		notok "200 idle connections leave a listener capped at 8 with at most 8 more descriptors" "$(cat "$tmp/capped.out")"
	fi
	if grep -q "^healthz 200/.* 200/.* 200/.* 200/.* 200/" "$tmp/capped.out"; then
		ok "during the flood /healthz is answered every time"
	else
		notok "during the flood /healthz is answered every time" "$(cat "$tmp/capped.out")"
	fi
	stop capped
else
	notok "a listener capped at 8 connections starts"
fi

# ---- every listener survived everything and stops cleanly ----
for name in healthy fresh down failed; do
	pid=$(eval "echo \$pid_$name")
	if ! kill -0 "$pid" 2>/dev/null; then
		notok "$name listener is still running after the probes"
		diag "$tmp/$name.err" | head -40
		continue
	fi
	stop "$name"
done

tap_end
