#!/usr/bin/python3
"""http_probe: the client side of tests/integration/test_http.sh.

Talks to http_driver listeners on 127.0.0.1 (one per state) with http.client and raw sockets,
parses /metrics with prometheus_client's text parser, and prints `ok - NAME` / `not ok - NAME`
lines (and `# ...` diagnostics). Exits 0 when nothing failed.

  http_probe.py --healthy PORT --fresh PORT --db-down PORT --eval-failed PORT \
                --alerts FILE --timeout SECONDS
"""
import argparse
import http.client
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time

from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tap  # noqa: E402  (tests/lib/tap.py: the result lines)
from tap import ok  # noqa: E402

HOST = "127.0.0.1"
METRICS_CT = "text/plain; version=0.0.4; charset=utf-8"


def request(port, method, path, headers=None, body=None, timeout=5):
    """One request on a fresh connection: (status, headers dict lower-cased, body bytes)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def raw(port, data, timeout=5):
    """Sends bytes, reads until the server closes or timeout; returns (bytes, closed)."""
    s = socket.create_connection((HOST, port), timeout=timeout)
    out = b""
    closed = False
    try:
        s.sendall(data)
        while True:
            b = s.recv(65536)
            if not b:
                closed = True
                break
            out += b
    except socket.timeout:
        pass
    except (ConnectionResetError, BrokenPipeError):
        closed = True
    finally:
        s.close()
    return out, closed


def status_of(reply):
    try:
        return int(reply.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


def alive(port):
    try:
        st, _, body = request(port, "GET", "/healthz", timeout=3)
        return st in (200, 503)
    except OSError:
        return False


# ---- /healthz ----


def test_health(a):
    st, h, body = request(a.healthy, "GET", "/healthz")
    ok(st == 200 and body == b"ok\n", "healthz: 200 ok when the last evaluation succeeded",
       f"{st} {body!r}")
    ok(h.get("content-type", "").startswith("text/plain"), "healthz: text/plain",
       h.get("content-type"))

    st, _, body = request(a.fresh, "GET", "/healthz")
    ok(st == 503 and b"no evaluation yet" in body,
       "healthz: 503 'no evaluation yet' before the first evaluation", f"{st} {body!r}")

    st, _, body = request(a.db_down, "GET", "/healthz")
    ok(st == 503 and body.startswith(b"database unreachable: connection to server at "
                                     b"\"db.example\" failed: Connection refused\n"),
       "healthz: 503 with the database error when the database is down", f"{st} {body!r}")
    ok(b"child" not in body and b"DETAIL" not in body and b"Jane" not in body,
       "healthz: the error's DETAIL line (row data) is not served", body)

    st, _, body = request(a.eval_failed, "GET", "/healthz")
    ok(st == 503 and body == b"last evaluation failed: rule worker_churn: canceling statement "
                             b"due to statement timeout\n",
       "healthz: 503 with the reason when the last evaluation failed", f"{st} {body!r}")


# ---- /metrics ----


def parse(text):
    """{family name: (type, documentation, {(sample name, sorted labels): value})}"""
    fams = {}
    for fam in text_string_to_metric_families(text):
        samples = {}
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
        fams[fam.name] = (fam.type, fam.documentation, samples)
    return fams


def value(fams, family, sample, **labels):
    f = fams.get(family)
    if not f:
        return None
    return f[2].get((sample, tuple(sorted(labels.items()))))


def test_metrics(a):
    st, h, body = request(a.healthy, "GET", "/metrics")
    ok(st == 200, "metrics: 200", st)
    ok(h.get("content-type") == METRICS_CT, "metrics: Content-Type " + METRICS_CT,
       h.get("content-type"))
    try:
        fams = parse(body.decode("utf-8"))
    except Exception as e:  # the parser's own complaint is the diagnostic
        ok(False, "metrics: prometheus_client parses the text", repr(e))
        return
    ok(len(fams) >= 17, "metrics: prometheus_client parses the text into families", len(fams))
    untyped = [n for n, f in fams.items() if f[0] not in ("counter", "gauge", "summary")]
    ok(not untyped, "metrics: every family has a TYPE (none parsed as untyped)", untyped)
    nohelp = [n for n, f in fams.items() if not f[1]]
    ok(not nohelp, "metrics: every family has HELP text", nohelp)
    ok(all(n.startswith("driftwatch_") for n in fams), "metrics: every family is driftwatch_*",
       list(fams))

    # prometheus_client names a counter family without its _total suffix
    want = [
        ("driftwatch_evaluations", "counter", "driftwatch_evaluations_total", {}, 42),
        ("driftwatch_evaluation_failures", "counter", "driftwatch_evaluation_failures_total",
         {}, 3),
        ("driftwatch_incremental_evaluations", "counter",
         "driftwatch_incremental_evaluations_total", {}, 30),
        ("driftwatch_evaluation_duration_seconds", "summary",
         "driftwatch_evaluation_duration_seconds_sum", {}, 12.5),
        ("driftwatch_evaluation_duration_seconds", "summary",
         "driftwatch_evaluation_duration_seconds_count", {}, 42),
        ("driftwatch_last_evaluation_duration_seconds", "gauge",
         "driftwatch_last_evaluation_duration_seconds", {}, 0.25),
        ("driftwatch_last_good_evaluation_timestamp_seconds", "gauge",
         "driftwatch_last_good_evaluation_timestamp_seconds", {}, 1767225600),
        ("driftwatch_children_evaluated", "gauge", "driftwatch_children_evaluated", {}, 1234),
        ("driftwatch_bad_rows", "gauge", "driftwatch_bad_rows",
         {"kind": "cin_episode.missing_start"}, 2),
        ("driftwatch_bad_rows", "gauge", "driftwatch_bad_rows",
         {"kind": 'odd"kind\\with\nnewline'}, 1),
        ("driftwatch_outbox_depth", "gauge", "driftwatch_outbox_depth", {}, 5),
        ("driftwatch_outbox_oldest_pending_age_seconds", "gauge",
         "driftwatch_outbox_oldest_pending_age_seconds", {}, 90.5),
        ("driftwatch_deliveries", "counter", "driftwatch_deliveries_total",
         {"channel": "email"}, 100),
        ("driftwatch_deliveries", "counter", "driftwatch_deliveries_total",
         {"channel": "webhook"}, 51),
        ("driftwatch_delivery_failures", "counter", "driftwatch_delivery_failures_total", {}, 3),
        ("driftwatch_database_reconnects", "counter", "driftwatch_database_reconnects_total",
         {}, 7),
        ("driftwatch_database_up", "gauge", "driftwatch_database_up", {}, 1),
        ("driftwatch_start_time_seconds", "gauge", "driftwatch_start_time_seconds", {},
         1767220000),
    ]
    for kind, v in (("acknowledged", 5), ("snoozed", 2), ("unsnoozed", 1)):
        want.append(("driftwatch_responses", "counter", "driftwatch_responses_total",
                     {"kind": kind}, v))
    for ch, vals in (("email", (4, 100, 2)), ("webhook", (1, 50, 1))):
        for status, v in zip(("pending", "delivered", "failed"), vals):
            want.append(("driftwatch_notices", "gauge", "driftwatch_notices",
                         {"channel": ch, "status": status}, v))
    for ch, v in (("email", 3), ("webhook", 1)):
        want.append(("driftwatch_notices_due", "gauge", "driftwatch_notices_due",
                     {"channel": ch}, v))
    for family, typ, sample, labels, v in want:
        got = value(fams, family, sample, **labels)
        lab = ",".join(f"{k}={v!r}" for k, v in labels.items())
        ok(got == v and fams[family][0] == typ,
           f"metrics: {sample}{{{lab}}} is {v} ({typ})",
           f"got {got!r}, type {fams.get(family, ('missing',))[0]}")

    with open(a.alerts) as f:
        expected = [line.split() for line in f if line.strip()]
    ok(len(expected) > 0, "metrics: the driver lists the registry's rules and stages",
       len(expected))
    served = fams.get("driftwatch_alerts", (None, None, {}))[2]
    wrong = []
    for rule, stage, v in expected:
        got = served.get(("driftwatch_alerts", (("rule", rule), ("stage", stage))))
        if got != float(v):
            wrong.append(f"{rule}/{stage}: got {got}, want {v}")
    ok(not wrong and len(served) == len(expected),
       f"metrics: driftwatch_alerts has all {len(expected)} rule/stage pairs with their values",
       "\n".join(wrong) or f"{len(served)} served")

    served = fams.get("driftwatch_unanswered_escalations", (None, None, {}))
    wrong = []
    for rule, stage, v in expected:
        got = served[2].get(("driftwatch_unanswered_escalations_total",
                             (("rule", rule), ("stage", stage))))
        if got != float(v) + 1000:
            wrong.append(f"{rule}/{stage}: got {got}, want {float(v) + 1000}")
    ok(served[0] == "counter" and not wrong and len(served[2]) == len(expected),
       f"metrics: driftwatch_unanswered_escalations_total is a counter with all "
       f"{len(expected)} rule/stage pairs and their values",
       served[0], "\n".join(wrong) or f"{len(served[2])} served")

    # promtool (Debian's prometheus package) is the format's own checker: it also lints names,
    # HELP and TYPE that prometheus_client accepts silently
    try:
        p = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                           timeout=60)
        ok(p.returncode == 0, "metrics: promtool check metrics finds no problem",
           p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")[:2000])
    except FileNotFoundError:
        ok(False, "metrics: promtool check metrics finds no problem",
           "promtool is not installed (Debian package prometheus)")

    st, _, body = request(a.fresh, "GET", "/metrics")
    fams = parse(body.decode("utf-8"))
    ok(st == 200 and value(fams, "driftwatch_evaluations", "driftwatch_evaluations_total") == 0
       and value(fams, "driftwatch_last_good_evaluation_timestamp_seconds",
                 "driftwatch_last_good_evaluation_timestamp_seconds") == 0,
       "metrics: before the first evaluation, zero evaluations and no good one", st)
    st, _, body = request(a.db_down, "GET", "/metrics")
    fams = parse(body.decode("utf-8"))
    ok(value(fams, "driftwatch_database_up", "driftwatch_database_up") == 0,
       "metrics: database_up is 0 when the database is down")
    ok(b"4711" not in body and b"Jane" not in body and b"db.example" not in body,
       "metrics: the database error (which quotes a child's row) is not in the text")


# ---- methods, paths, limits ----


def test_protocol(a):
    p = a.healthy
    st, _, body = request(p, "GET", "/nope")
    ok(st == 404, "GET /nope: 404", st)
    st, _, _ = request(p, "GET", "/metrics/")
    ok(st == 404, "GET /metrics/: 404", st)
    st, _, _ = request(p, "GET", "/metrics?name[]=x")
    ok(st == 200, "GET /metrics with a query string: 200", st)

    st, h, _ = request(p, "POST", "/metrics", body=b"")
    ok(st == 405 and h.get("allow") == "GET, HEAD", "POST /metrics: 405 with Allow: GET, HEAD",
       f"{st} {h}")
    for m in ("PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "FOO"):
        st, h, _ = request(p, m, "/healthz")
        ok(st == 405 and h.get("allow") == "GET, HEAD", f"{m} /healthz: 405 with Allow", st)

    st, _, _ = request(p, "POST", "/metrics", body=b"x" * 100)
    ok(st == 413, "POST with a body: 413, the body refused", st)
    reply, closed = raw(p, b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
    ok(status_of(reply) == 413 and closed, "GET announcing a body: 413 and the connection closed",
       reply[:200])

    # HEAD: GET's headers and length, no body
    st, _, body = request(p, "GET", "/metrics")
    reply, closed = raw(p, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, rest = reply.partition(b"\r\n\r\n")
    ok(status_of(reply) == 200 and rest == b"" and closed,
       "HEAD /metrics: 200 with no body", reply[:300])
    ok(f"Content-Length: {len(body)}".encode() in head,
       "HEAD /metrics: Content-Length of the GET body", head)
    ok(b"Content-Type: " + METRICS_CT.encode() in head, "HEAD /metrics: the GET Content-Type",
       head)

    # size limits
    reply, _ = raw(p, b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
    ok(status_of(reply) is not None and 400 <= status_of(reply) < 500,
       "a 20 kB header: 4xx", reply[:100])
    reply, _ = raw(p, b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    ok(status_of(reply) is not None and 400 <= status_of(reply) < 500,
       "a 20 kB request line: 4xx", reply[:100])
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(2000))
    reply, _ = raw(p, b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    ok(status_of(reply) is not None and 400 <= status_of(reply) < 500,
       "2000 small headers: 4xx", reply[:100])

    # malformed requests
    bad = {
        "binary garbage": b"\x00\xff\x13\x37garbage\x80\x81\r\n\r\n",
        "no HTTP version": b"GET /healthz\r\n\r\n",
        "unknown HTTP version": b"GET /healthz HTTP/9.9\r\n\r\n",
        "bare newlines only": b"\r\n\r\n\r\n",
        "header without colon": b"GET /healthz HTTP/1.1\r\nHost x\r\n\r\n",
        "bad Content-Length": b"POST /metrics HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
    }
    for name, data in bad.items():
        reply, closed = raw(p, data, timeout=3)
        st = status_of(reply)
        ok((st is not None and 400 <= st < 500) or (not reply and closed),
           f"malformed ({name}): 4xx or closed", reply[:120])
    rnd = random.Random(4711)
    results = []
    for i in range(40):
        data = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 600))) + b"\r\n\r\n"
        reply, closed = raw(p, data, timeout=3)
        st = status_of(reply)
        results.append((st is not None and 400 <= st < 500) or (not reply and closed))
    ok(all(results), "40 random byte strings: each a 4xx or a close",
       [i for i, r in enumerate(results) if not r])
    ok(alive(p), "the listener still serves after the malformed requests")

    # keep-alive and pipelining
    conn = http.client.HTTPConnection(HOST, p, timeout=5)
    statuses = []
    for path in ("/healthz", "/metrics", "/nope", "/healthz"):
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        statuses.append(r.status)
    conn.close()
    ok(statuses == [200, 200, 404, 200], "four requests on one kept-alive connection", statuses)
    reply, _ = raw(p, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    codes = [int(c) for c in re.findall(rb"HTTP/1\.1 (\d{3}) ", reply)]
    ok(codes == [200, 200, 404], "three pipelined requests answered in order", codes)


# ---- slow and silent clients ----


def test_concurrency(a):
    p = a.healthy
    results = []

    def one():
        try:
            st, _, body = request(p, "GET", "/metrics", timeout=10)
            results.append(st == 200 and b"driftwatch_database_up 1" in body)
        except OSError:
            results.append(False)

    threads = [threading.Thread(target=one) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok(len(results) == 50 and all(results), "50 concurrent scrapes all get the metrics",
       f"{results.count(True)} of {len(results)}")


def test_slow_clients(a, silent):
    p = a.healthy
    # A slow client: half a request line, then nothing for a while.
    slow = socket.create_connection((HOST, p), timeout=a.timeout + 10)
    slow.sendall(b"GET /metr")
    times = []
    for _ in range(20):
        t = time.monotonic()
        st, _, _ = request(p, "GET", "/healthz", timeout=5)
        times.append((st, time.monotonic() - t))
    ok(all(st == 200 for st, _ in times) and max(d for _, d in times) < 1.0,
       "others are served at once while a slow client holds a connection",
       times)
    slow.sendall(b"ics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    try:
        while True:
            b = slow.recv(65536)
            if not b:
                break
            data += b
    except OSError as e:
        data += repr(e).encode()
    slow.close()
    ok(status_of(data) == 200, "the slow client, finishing within the timeout, gets its reply",
       data[:100])

    # The silent client opened at the start: the server must close it after its timeout.
    silent.thread.join(a.timeout + 15)
    waited = silent.waited
    ok(silent.closed and silent.got == b"" and waited is not None
       and a.timeout - 1 <= waited <= a.timeout + 5,
       "a connection that sends nothing is closed by the server after its timeout "
       f"({a.timeout} s)", f"closed={silent.closed} after {waited} s, got={silent.got!r}")
    ok(alive(p), "the listener still serves after timing out a silent client")


class Silent:
    """A connection that sends nothing; a thread notes when the server closes it."""

    def __init__(self, port, limit):
        self.sock = socket.create_connection((HOST, port), timeout=limit)
        self.opened = time.monotonic()
        self.closed, self.got, self.waited = False, b"", None
        self.thread = threading.Thread(target=self.wait, daemon=True)
        self.thread.start()

    def wait(self):
        try:
            self.got = self.sock.recv(100)
            self.closed = self.got == b""
        except ConnectionResetError:
            self.closed = True
        except OSError:
            pass
        self.waited = round(time.monotonic() - self.opened, 1)
        self.sock.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--healthy", type=int, required=True)
    ap.add_argument("--fresh", type=int, required=True)
    ap.add_argument("--db-down", type=int, required=True)
    ap.add_argument("--eval-failed", type=int, required=True)
    ap.add_argument("--alerts", required=True)
    ap.add_argument("--timeout", type=int, required=True, help="the server's HTTP_TIMEOUT_S")
    a = ap.parse_args()

    # Opened first so its timeout runs while the other checks do.
    silent = Silent(a.healthy, a.timeout + 15)
    for test in (test_health, test_metrics, test_protocol, test_concurrency):
        try:
            test(a)
        except Exception as e:
            ok(False, f"{test.__name__} ran to the end", repr(e))
    try:
        test_slow_clients(a, silent)
    except Exception as e:
        ok(False, "test_slow_clients ran to the end", repr(e))
    return 1 if tap.failures else 0


if __name__ == "__main__":
    sys.exit(main())
