#!/usr/bin/python3
"""daemon_probe: the client side of tests/integration/test_daemon.sh.

Subcommands (each prints what it found; exit status 0 = found / as expected, 1 = not):

  wait-webhook --log FILE --child ID [--rule R] [--type T] [--path P] [--after T]
               [--timeout S] [--since-commit T]
      Waits for a request in webhook_receiver.py's JSON-lines log whose body is an alert
      notice for child ID (and rule R, type T, path P, arriving after unix time T) and prints
      one JSON object: t, latency (t - since-commit), webhook_id, link, rule, stage, type, path.
  requests --log FILE [--path P]
      Prints one JSON object per logged request: t, webhook_id, child_id, rule, path.
  healthz --port P
      Prints "CODE first-line-of-body"; exit 0 when it answered at all.
  metrics --port P [--min-evaluations N] [--db-up 0|1]
      Scrapes /metrics, parses it with prometheus_client and prints `ok - ` / `not ok - `
      lines: the content type, evaluations_total, alerts{rule,stage} for every rule and stage
      of RULES.md, database_up, the outbox and delivery families. Prints the samples the test
      reads later as "# value NAME{labels} V" lines.
  value --port P --name NAME [--label k=v ...]
      Prints one sample's value from /metrics (nothing and exit 1 when absent).
  malformed --port P
      Sends malformed requests and prints `ok - ` / `not ok - ` lines: each gets a 4xx (or the
      connection is closed without a 2xx), and /healthz still answers afterwards.

Standard library and Debian's python3-prometheus-client only.
"""
import argparse
import http.client
import json
import os
import socket
import sys
import time

from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tap  # noqa: E402  (tests/lib/tap.py: the result lines)
from tap import ok  # noqa: E402

HOST = "127.0.0.1"

# RULES.md: every rule and its stages, in the order the specification lists them.
RULE_STAGES = {
    "cin_neglect_duration": ["6m"],
    "cp_neglect_duration": ["9m", "12m", "15m", "18m"],
    "repeat_neglect_plan": ["any", "24m", "12m"],
    "was_not_brought": ["vulnerable", "repeated"],
    "worker_change": ["handover"],
    "worker_churn": ["churn"],
}


def request(port, method, path, timeout=5):
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


# ---- the receiver's log ----


def read_log(path):
    """Every complete request in the log (a line being written is skipped)."""
    out = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.endswith("\n"):
                    break
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
    except FileNotFoundError:
        pass
    return out


def notice_of(entry):
    """(type, alert) of a logged webhook, or (None, {}) when the body is not a notice."""
    try:
        body = json.loads(entry.get("body") or "")
    except ValueError:
        return None, {}
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        return None, {}
    return body.get("type"), body["data"]


def describe(entry, since=None):
    typ, alert = notice_of(entry)
    d = {
        "t": entry["t"],
        "webhook_id": entry.get("headers", {}).get("webhook-id"),
        "type": typ,
        "rule": alert.get("rule"),
        "stage": alert.get("stage"),
        "child_id": alert.get("child_id"),
        "link": alert.get("link"),
        "path": entry.get("path"),
    }
    if since is not None:
        d["latency"] = round(entry["t"] - since, 4)
    return d


def cmd_wait_webhook(a):
    deadline = time.time() + a.timeout
    while True:
        for e in read_log(a.log):
            if a.after is not None and e["t"] < a.after:
                continue
            if a.path and e.get("path") != a.path:
                continue
            typ, alert = notice_of(e)
            if alert.get("child_id") != a.child:
                continue
            if a.rule and alert.get("rule") != a.rule:
                continue
            if a.type and typ != a.type:
                continue
            print(json.dumps(describe(e, a.since_commit)))
            return 0
        if time.time() >= deadline:
            return 1
        time.sleep(0.02)


def cmd_requests(a):
    for e in read_log(a.log):
        if a.path and e.get("path") != a.path:
            continue
        print(json.dumps(describe(e)))
    return 0


# ---- the daemon's endpoints ----


def cmd_healthz(a):
    try:
        status, _, body = request(a.port, "GET", "/healthz")
    except OSError as e:
        print("no answer: %s" % e)
        return 1
    text = body.decode("utf-8", "replace").strip().replace("\n", " | ")
    print("%d %s" % (status, text))
    return 0


def scrape(port):
    status, headers, body = request(port, "GET", "/metrics")
    return status, headers, body.decode("utf-8")


def samples_of(text):
    """{(name, frozenset(labels)): value} of every sample."""
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def cmd_metrics(a):
    try:
        status, headers, text = scrape(a.port)
    except OSError as e:
        ok(False, "GET /metrics answers", e)
        return 1
    ok(status == 200, "GET /metrics answers 200 (got %d)" % status)
    ok(headers.get("content-type", "").startswith("text/plain; version=0.0.4"),
       "/metrics has the Prometheus text content type", headers.get("content-type"))
    try:
        fams = {f.name: f for f in text_string_to_metric_families(text)}
        samples = samples_of(text)
    except Exception as e:  # the parser raises ValueError and others on bad text
        ok(False, "prometheus_client parses /metrics", e, text[:2000])
        return 1
    ok(True, "prometheus_client parses /metrics (%d families)" % len(fams))

    def val(name, **labels):
        return samples.get((name, frozenset(labels.items())))

    ev = val("driftwatch_evaluations_total")
    ok(ev is not None and ev >= a.min_evaluations,
       "driftwatch_evaluations_total >= %d (got %s)" % (a.min_evaluations, ev))
    missing = ["%s/%s" % (r, s) for r, stages in RULE_STAGES.items() for s in stages
               if val("driftwatch_alerts", rule=r, stage=s) is None]
    ok(not missing, "driftwatch_alerts{rule,stage} has every rule and stage of RULES.md",
       "missing: %s" % ", ".join(missing))
    if a.db_up is not None:
        up = val("driftwatch_database_up")
        ok(up == a.db_up, "driftwatch_database_up is %d (got %s)" % (a.db_up, up))
    for fam, labels in (("driftwatch_notices", ("channel", "status")),
                        ("driftwatch_notices_due", ("channel",)),
                        ("driftwatch_outbox_depth", ()),
                        ("driftwatch_outbox_oldest_pending_age_seconds", ()),
                        ("driftwatch_deliveries", ("channel",)),
                        ("driftwatch_delivery_failures", ()),
                        ("driftwatch_database_reconnects", ()),
                        ("driftwatch_last_good_evaluation_timestamp_seconds", ()),
                        ("driftwatch_evaluation_duration_seconds", ()),
                        ("driftwatch_bad_rows", ("kind",))):
        f = fams.get(fam)
        present = f is not None and (fam == "driftwatch_bad_rows" or f.samples)
        ok(present, "the %s family is present" % fam, "families: %s" % sorted(fams))
        if present and labels and f.samples:
            have = set(f.samples[0].labels)
            ok(set(labels) <= have, "%s is labelled by %s" % (fam, ", ".join(labels)),
               "labels: %s" % sorted(have))
    if fams.get("driftwatch_notices"):
        combos = {(s.labels.get("channel"), s.labels.get("status"))
                  for s in fams["driftwatch_notices"].samples}
        want = {(c, s) for c in ("email", "webhook") for s in ("pending", "delivered", "failed")}
        ok(want <= combos, "driftwatch_notices has every channel and status",
           "missing: %s" % sorted(want - combos))
    for (name, labels), v in sorted(samples.items(), key=lambda kv: kv[0][0]):
        lab = ",".join("%s=%s" % kv for kv in sorted(labels))
        print("# value %s{%s} %s" % (name, lab, v))
    return 0 if tap.failures == 0 else 1


def cmd_value(a):
    try:
        _, _, text = scrape(a.port)
    except OSError:
        return 1
    want = dict(kv.split("=", 1) for kv in a.label)
    v = samples_of(text).get((a.name, frozenset(want.items())))
    if v is None:
        return 1
    print(v)
    return 0


def raw(port, data, timeout=5):
    """Sends bytes and reads until the server closes or times out: (reply bytes, closed)."""
    s = socket.create_connection((HOST, port), timeout=timeout)
    out = b""
    closed = False
    try:
        s.sendall(data)
        while True:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            if not b:
                closed = True
                break
            out += b
    except (ConnectionResetError, BrokenPipeError):
        closed = True
    finally:
        s.close()
    return out, closed


def status_of(reply):
    try:
        return int(reply.split(b"\r\n", 1)[0].split(b" ")[1])
    except (IndexError, ValueError):
        return None


def cmd_malformed(a):
    cases = [
        ("garbage request line", b"\x16\x03\x01\x02\x00 hello\r\n\r\n"),
        ("no HTTP version", b"GET\r\n\r\n"),
        ("bad HTTP version", b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n"),
        ("unknown method", b"BREW /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("POST with a body", b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                             b"Connection: close\r\n\r\nhello"),
        ("header without a colon", b"GET /healthz HTTP/1.1\r\nHost x\r\n\r\n"),
        ("huge header", b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200000 +
                        b"\r\n\r\n"),
        ("unknown path", b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close"
                         b"\r\n\r\n"),
    ]
    for name, data in cases:
        try:
            reply, closed = raw(a.port, data)
        except OSError as e:
            ok(False, "malformed request (%s): the daemon answers" % name, e)
            continue
        code = status_of(reply)
        good = (code is not None and 400 <= code <= 499) or (code is None and closed)
        ok(good, "malformed request (%s) gets a 4xx%s (got %s)" %
           (name, " or a closed connection" if code is None else "", code),
           reply[:200])
    try:
        status, _, _ = request(a.port, "GET", "/healthz")
        ok(status in (200, 503), "/healthz still answers after the malformed requests (%d)"
           % status)
    except OSError as e:
        ok(False, "/healthz still answers after the malformed requests", e)
    return 0 if tap.failures == 0 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("wait-webhook")
    w.add_argument("--log", required=True)
    w.add_argument("--child", required=True)
    w.add_argument("--rule")
    w.add_argument("--type")
    w.add_argument("--path")
    w.add_argument("--after", type=float)
    w.add_argument("--since-commit", type=float)
    w.add_argument("--timeout", type=float, default=10)
    r = sub.add_parser("requests")
    r.add_argument("--log", required=True)
    r.add_argument("--path")
    h = sub.add_parser("healthz")
    h.add_argument("--port", type=int, required=True)
    m = sub.add_parser("metrics")
    m.add_argument("--port", type=int, required=True)
    m.add_argument("--min-evaluations", type=int, default=1)
    m.add_argument("--db-up", type=int)
    v = sub.add_parser("value")
    v.add_argument("--port", type=int, required=True)
    v.add_argument("--name", required=True)
    v.add_argument("--label", action="append", default=[])
    x = sub.add_parser("malformed")
    x.add_argument("--port", type=int, required=True)
    a = ap.parse_args()
    return {"wait-webhook": cmd_wait_webhook, "requests": cmd_requests, "healthz": cmd_healthz,
            "metrics": cmd_metrics, "value": cmd_value, "malformed": cmd_malformed}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
