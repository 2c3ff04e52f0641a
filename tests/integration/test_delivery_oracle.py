#!/usr/bin/python3
"""test_delivery_oracle: webhook delivery semantics checked against ALERTS.md ("Lifecycle",
"The notice as data"), written from the specification and README's configuration keys only.

Four webhooks on tests/fixtures/daemon.sql (database dwdeliveryoracle), each its own receiver:
  A  answers 200 at once (every rule);
  B  answers 500 to its first B_FAILS requests, then 200 (cp_neglect_duration only: 3 notices,
     so each is retried several times);
  C  takes every request and never answers (webhook_receiver's stall), until it is replaced
     by a healthy receiver on the same port after the crash;
  D  always answers 500: the gaps between the retries of each of its notices are watched
     (backoff and jitter) for a minute from the start.
Timeline: the daemon evaluates everyone (3 cp_neglect_duration alerts); a burst of 10 missed
appointments of babies (was_not_brought vulnerable) is committed and notified by the
triggers; the daemon is killed with SIGKILL while B still fails and C still holds requests;
5 more missed appointments are committed while it is down; C comes back healthy; the daemon
is started again and every notice must arrive.

Spec sentences checked (ALERTS.md, Lifecycle): "delivered at least once: a crash, a restart,
... or a failing webhook loses nothing"; "never twice for the same change to the same
recipient, except when a receiver took it but the answer was lost, and then with the same
idempotency key (webhook-id ...)"; "retried with exponential backoff and jitter"; "one slow or
dead receiver never delays the others". The notice as data: the envelope and the signature.
"up to a configured age, then marked failed": delivery.max_age_hours is at least 1 hour
(README), so it is not exercised here (a note).

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR.
Standard library only.
"""
import base64
import datetime
import hashlib
import hmac
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import hostile  # noqa: E402  (tests/lib/hostile.py: the daemon in the background)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

DBNAME = "dwdeliveryoracle"
B_FAILS = int(os.environ.get("DELIVERY_ORACLE_B_FAILS", "3"))
WATCH_S = 72.0           # how long D's retries are watched from the daemon's start
PROMPT_S = 10.0          # "promptly": generous, not a timing test
BURST1 = ["C-INF-%02d" % i for i in range(1, 11)]   # committed while the daemon runs
BURST2 = ["C-INF-%02d" % i for i in range(11, 16)]  # committed while it is down
INIT = ["C-INIT-%d" % i for i in range(1, 4)]
TYPES = {"alert.firing", "alert.escalated", "alert.updated", "alert.resolved"}
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")

t = Tap()


def missed(children, tag):
    return "INSERT INTO casework.appointments VALUES " + ", ".join(
        "('AP-%s-%s', '%s', 'health_visiting', now() - interval '3 days', 'was_not_brought')"
        % (tag, c, c) for c in children) + ";"


def parse_ts(s):
    s = s.replace("Z", "+00:00").replace("z", "+00:00")
    return datetime.datetime.fromisoformat(s).timestamp()


def key(r):
    """The change a request is about: (type, rule, child, subject, stage)."""
    j = r["json"] or {}
    d = j.get("data") or {}
    return (j.get("type"), d.get("rule"), d.get("child_id"), d.get("subject_id"), d.get("stage"))


def signed_ok(r, secret):
    """Standard Webhooks, as ALERTS.md words it: v1, + base64 HMAC-SHA256 over id.ts.body,
    keyed with the base64 part of whsec_..."""
    h = r["headers"]
    wid, ts, sig = h.get("webhook-id"), h.get("webhook-timestamp"), h.get("webhook-signature")
    if not (wid and ts and sig):
        return False
    k = base64.b64decode(secret[len("whsec_"):])
    mac = base64.b64encode(hmac.new(k, ("%s.%s.%s" % (wid, ts, r["body"])).encode(),
                                    hashlib.sha256).digest()).decode()
    return any(p.strip() == "v1," + mac for p in sig.split(" "))


def answered_200(r):
    a = r["action"]
    return a.get("kind") == "status" and a.get("status") == 200


def by_key(reqs):
    out = {}
    for r in reqs:
        out.setdefault(key(r), []).append(r)
    return out


def ids(rs):
    return sorted({r["headers"].get("webhook-id") for r in rs})


def expected(children, rule, stage):
    return {("alert.firing", rule, c, s, stage) for c, s in children}


def body(procs, tmp):
    db = lib.Db(DBNAME)
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "daemon.sql"))
    ra = lib.Receiver(procs, tmp, "hook-a")
    rb = lib.Receiver(procs, tmp, "hook-b", routes=["/b=" + ",".join(["500"] * B_FAILS + ["200"])])
    rc = lib.Receiver(procs, tmp, "hook-c", default="stall:600")
    rd = lib.Receiver(procs, tmp, "hook-d", default="500")
    sa, sb, sc, sd = lib.new_secret(), lib.new_secret(), lib.new_secret(), lib.new_secret()
    http_port = lib.free_port()
    cfg = lib.write_config(tmp, "delivery-oracle", {
        "database": {"conninfo": db.conninfo("delivery-oracle"), "case_schema": "casework"},
        "timezone": "Europe/London",
        "link_template": "https://lcs.example/person/{child_id}",
        "addresses": lib.addresses(),
        "evaluation": {"interval_seconds": 3600},
        "delivery": {"lease_seconds": 10},
        "http": {"listen": "127.0.0.1:%d" % http_port},
        "webhooks": [
            {"url": ra.url("/a"), "secret": sa},
            {"url": rb.url("/b"), "secret": sb, "rules": ["cp_neglect_duration"]},
            {"url": rc.url("/c"), "secret": sc},
            {"url": rd.url("/d"), "secret": sd},
        ]})
    if not hostile.install_triggers(t, cfg):
        return
    cp_subjects = {r["child_id"]: r["plan_id"] for r in db.rows(
        "SELECT child_id, plan_id FROM casework.cp_plans WHERE child_id LIKE 'C-INIT-%'")}
    exp_init = expected([(c, cp_subjects.get(c)) for c in INIT], "cp_neglect_duration", "9m")
    exp_b1 = expected([(c, None) for c in BURST1], "was_not_brought", "vulnerable")
    exp_b2 = expected([(c, None) for c in BURST2], "was_not_brought", "vulnerable")
    exp_all = exp_init | exp_b1 | exp_b2

    # ---- phase 1: the daemon runs; C hangs, B fails ------------------------------------
    t_start = time.time()
    d = hostile.Daemon(procs, tmp, cfg, name="daemon-1")
    got = lib.wait_for(lambda: exp_init <= set(by_key(ra.requests("/a"))), 60, step=0.1)
    t.check(got, "A receives the 3 cp_neglect_duration firings of the first evaluation",
            "\n".join(d.lines()[-30:]))
    t_burst = time.time()
    db.run(missed(BURST1, "1"))
    got = lib.wait_for(lambda: (exp_init | exp_b1) <= set(by_key(ra.requests("/a"))), 30,
                       step=0.1)
    t.check(got, "A receives the 10 was_not_brought firings of the burst",
            sorted(set(by_key(ra.requests("/a"))), key=str))
    time.sleep(1.0)
    a1 = ra.requests("/a")
    c1 = rc.requests("/c")
    b1 = rb.requests("/b")
    t_kill = time.time()
    # "one slow or dead receiver never delays the others": A's delay from when the change was
    # recorded (the envelope's timestamp, "when the event occurred") while C holds requests.
    delays = []
    for r in a1:
        try:
            delays.append((r["t"] - parse_ts(r["json"]["timestamp"]), key(r)))
        except (KeyError, TypeError, ValueError):
            delays.append((None, key(r)))
    worst = max((x for x, _ in delays if x is not None), default=None)
    c_open_before_a = [r for r in c1 if r["t"] <= max((x["t"] for x in a1), default=0)]
    t.check(len(a1) >= 13 and all(x is not None and x < PROMPT_S for x, _ in delays),
            "one slow or dead receiver never delays the others: each of A's %d notices "
            "arrived within %.0f s of its change being recorded (worst %s s) while C held "
            "%d requests unanswered" % (len(a1), PROMPT_S, worst and round(worst, 2),
                                        len(c_open_before_a)),
            "\n".join("%s %s" % x for x in delays))
    t.note("A first arrival %.2f s after the daemon started; burst arrivals %.2f s after "
           "the burst's commit at the latest" % (
               min(x["t"] for x in a1) - t_start,
               max((x["t"] for x in a1 if key(x) in exp_b1), default=t_burst) - t_burst))
    t.check(len(c1) >= 1, "C (never answering) was sent requests before the crash (%d)" % len(c1))
    t.note("B before the crash: %d requests, %d answered 200" % (
        len(b1), sum(answered_200(r) for r in b1)))

    # ---- phase 2: SIGKILL, a change while down, C back, restart ------------------------
    d.signal(signal.SIGKILL)
    d.wait_exit(15)
    db.run(missed(BURST2, "2"))
    b_before_restart = len(rb.requests("/b"))
    procs.stop(rc.proc)
    rc2 = lib.Receiver(procs, tmp, "hook-c2", port=rc.port)
    t_restart = time.time()
    d2 = hostile.Daemon(procs, tmp, cfg, name="daemon-2")

    def done():
        a = set(by_key(ra.requests("/a")))
        b = {k for k, rs in by_key(rb.requests("/b")).items() if any(map(answered_200, rs))}
        c = {k for k, rs in by_key(rc2.requests("/c")).items() if any(map(answered_200, rs))}
        return exp_all <= a and exp_init <= b and exp_all <= c
    lib.wait_for(done, 55, step=0.2)
    # D (always 500) is watched for WATCH_S from the start, for the gaps between its retries
    time.sleep(max(2.0, t_start + WATCH_S - time.time()))
    t_end = time.time()
    a_all, b_all, c_all = ra.requests("/a"), rb.requests("/b"), rc2.requests("/c")
    d_all = rd.requests("/d")
    c_old = rc.requests("/c")
    ka, kb, kc2 = by_key(a_all), by_key(b_all), by_key(c_all)
    kc_old = by_key(c_old)
    t.note("after the restart: A %d requests, B %d (%d before the restart), C %d; %.1f s "
           "from the restart to the last" % (len(a_all), len(b_all), b_before_restart,
                                             len(c_all), t_end - t_restart))

    # envelope and signature ("The notice as data")
    bad_env = [(n, key(r), r["body"][:200]) for n, rs in (("A", a_all), ("B", b_all),
                                                         ("C", c_old + c_all), ("D", d_all))
               for r in rs
               if not (isinstance(r["json"], dict) and r["json"].get("type") in TYPES
                       and isinstance(r["json"].get("data"), dict)
                       and RFC3339.match(str(r["json"].get("timestamp"))))]
    t.check(not bad_env, "every request is {type: alert.*, timestamp: RFC 3339, data: {...}} "
            "(%d requests)" % (len(a_all) + len(b_all) + len(c_old) + len(c_all)),
            "\n".join(map(str, bad_env[:10])))
    bad_sig = [(n, key(r), r["headers"].get("webhook-signature"))
               for n, rs, s in (("A", a_all, sa), ("B", b_all, sb), ("C", c_old + c_all, sc),
                                 ("D", d_all, sd))
               for r in rs if not signed_ok(r, s)]
    t.check(not bad_sig, "every request's webhook-signature verifies: v1, + base64 "
            "HMAC-SHA256 of id.timestamp.body with the secret's base64 part",
            "\n".join(map(str, bad_sig[:10])))
    ok_js, vector, out = lib.verify_signatures(rb, sb, "/b", len(b_all))
    t.check(ok_js, "a Standard Webhooks library (npm standardwebhooks) verifies all %d of B's "
            "requests" % len(b_all), out[-1500:])

    # "delivered at least once: a crash, a restart, ... or a failing webhook loses nothing"
    miss_a = sorted(exp_all - set(ka), key=str)
    t.check(not miss_a, "at least once: A receives all %d expected notices across the SIGKILL "
            "and the change committed while the daemon was down" % len(exp_all),
            "missing: %s" % miss_a)
    b_ok = {k for k, rs in kb.items() if any(map(answered_200, rs))}
    t.check(exp_init <= b_ok, "at least once: a failing webhook loses nothing: B (500 to its "
            "first %d requests) takes each of its 3 notices in the end, across the SIGKILL"
            % B_FAILS, "B took: %s\nrequests: %s" % (
                sorted(b_ok, key=str), [(key(r), r["action"]) for r in b_all]))
    c_ok = {k for k, rs in kc2.items() if any(map(answered_200, rs))}
    t.check(exp_all <= c_ok, "at least once: C, which held every request until the crash, "
            "takes all %d notices once it answers again" % len(exp_all),
            "missing: %s" % sorted(exp_all - c_ok, key=str))
    extra = sorted(set(ka) - exp_all, key=str)
    if extra:
        t.note("A also got notices outside the expected set (not checked): %s" % extra)

    # "never twice for the same change to the same recipient, except when a receiver took it
    #  but the answer was lost, and then with the same idempotency key"
    two_ids = {k: ids(rs) for k, rs in ka.items() if len(ids(rs)) > 1}
    t.check(not two_ids, "never twice: no change reaches A under two webhook-ids",
            repr(two_ids))
    repeats = {k: len(rs) for k, rs in ka.items() if len(rs) > 1}
    t.check(not repeats, "never twice: A, which answered every request 200 at once, gets "
            "each change exactly once (the exception, an answer lost, never arose for A)",
            repr(repeats))
    two_ids_b = {k: ids(rs) for k, rs in kb.items() if len(ids(rs)) > 1}
    t.check(not two_ids_b, "every retry of one of B's notices carries the same webhook-id "
            "(before and after the crash)", repr(two_ids_b))
    twice_b = {k: sum(map(answered_200, rs)) for k, rs in kb.items()
               if sum(map(answered_200, rs)) > 1}
    t.check(not twice_b, "never twice: B takes (200) each change once", repr(twice_b))
    two_ids_c = {k: sorted(set(ids(kc_old.get(k, []))) | set(ids(kc2.get(k, []))))
                 for k in set(kc_old) | set(kc2)}
    two_ids_c = {k: v for k, v in two_ids_c.items() if len(v) > 1}
    t.check(not two_ids_c and set(kc_old) <= set(kc2),
            "the exception: C took %d requests whose answers were lost (it never answered, "
            "then the daemon was killed); each is sent again with the same webhook-id"
            % len(kc_old), repr(two_ids_c) + "\nnot resent: %s" % sorted(
                set(kc_old) - set(kc2), key=str))
    twice_c = {k: sum(map(answered_200, rs)) for k, rs in kc2.items()
               if sum(map(answered_200, rs)) > 1}
    t.check(not twice_c, "never twice: the C that answers takes each change once",
            repr(twice_c))

    # "retried with exponential backoff and jitter"
    def gaps_of(kx):
        out = {}
        for k, rs in kx.items():
            ts = sorted(r["t"] for r in rs)
            out[k] = [round(y - x, 2) for x, y in zip(ts, ts[1:])]
        return out
    t.note("the crash at +%.1f s, the restart at +%.1f s from the daemon's start" % (
        t_kill - t_start, t_restart - t_start))
    t.note("B's gaps between the requests of each notice (s): %s" % sorted(
        (k[2], g) for k, g in gaps_of(kb).items()))
    kd = by_key(d_all)
    gd = gaps_of(kd)
    t.note("D's (always 500) gaps between the requests of each notice (s): %s" % sorted(
        (k[2], g) for k, g in gd.items()))
    two_ids_d = {k: ids(rs) for k, rs in kd.items() if len(ids(rs)) > 1}
    t.check(not two_ids_d and exp_all <= set(kd), "every retry of one of D's %d notices "
            "(always 500) carries the same webhook-id, across the crash" % len(kd),
            repr(two_ids_d))
    first = [g[0] for g in gd.values() if g]
    later = [x for g in gd.values() for x in g[1:]]
    t.check(len(first) >= 10 and max(first) - min(first) > 4.0,
            "jitter: the first retries of D's notices, all failed at once, are spread out "
            "(%d first gaps from %.1f to %.1f s)" % (len(first), min(first or [0]),
                                                    max(first or [0])), repr(gd))
    t.check(later and max(later) >= 0.9 * max(first),
            "exponential backoff, loosely: the longest later gap between D's retries (%.1f s) "
            "is at least 0.9 of the longest first gap (%.1f s); means %.1f s then %.1f s "
            "(later gaps seen only within %.0f s)" % (
                max(later or [0]), max(first or [0]), sum(first) / max(1, len(first)),
                sum(later) / max(1, len(later)), WATCH_S), repr(gd))

    st, metrics = hostile.page(http_port, "/metrics")
    t.note("/metrics lines about notices and failures at the end:\n" + "\n".join(
        line for line in metrics.splitlines() if not line.startswith("#") and re.search(
            r"notice|fail|outbox|deliver", line))[:3000])
    t.note("delivery.max_age_hours is 1-720 (README): the age limit, failure and the "
           "operators' report are not exercised in a test of this length")
    hostile.stop(d2, t, "the restarted daemon")
    db.drop()


def main():
    return lib.run_test(t, "delivery-oracle", body)


if __name__ == "__main__":
    sys.exit(main())
