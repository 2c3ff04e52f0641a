#!/usr/bin/python3
"""test_delivery_isolation: one stalled webhook receiver delays nobody (issue 10, item 1).

ALERTS.md: "one slow or dead receiver never delays the others". The long-running daemon, on a
real PostgreSQL (tests/fixtures/daemon.sql) with triggers, delivers to two webhook receivers:
stall_server.py, which accepts every connection and never answers, and webhook_receiver.py,
which answers at once. With 60 notices held by the stalled one (its transfer slots full):
  - a change committed to the case data reaches the healthy receiver promptly, three times
    (commit to arrival measured and printed; asserted under 5 s, a bound for a loaded machine:
    the daemon should take well under a second);
  - SIGHUP is applied within 5 s (measured), and the next notice carries the new link;
  - the stalled transfers end at their own 30 s timeout and their notices are due again
    (pending, the attempt counted, the timeout in last_error), never failed nor lost;
  - SIGTERM still ends the daemon within 10 s, status 0, no sanitizer report, and the stalled
    receiver's notices are still in the outbox.
Before issue 10 the healthy receiver waited for the delivery pass the stalled transfers held
(56 s in the issue), and a SIGHUP waited for it too.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwhostile_iso is dropped and created here. Standard library only.
"""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import hostile  # noqa: E402  (tests/lib/hostile.py: the daemon in a hostile environment)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

LINK1 = "https://lcs.example/v1/person"
LINK2 = "https://lcs.example/v2/person"
BACKLOG = 60
BOUND_S = 5.0


def config(tmp, db, stall_url, healthy_url, http_port, secret, link):
    return lib.write_config(tmp, "iso", {
        "database": {"conninfo": db.conninfo("dw-iso"), "case_schema": "casework"},
        "timezone": "Europe/London",
        "link_template": link + "/{child_id}",
        "addresses": lib.addresses(),
        "webhooks": [{"url": stall_url, "secret": secret},
                     {"url": healthy_url, "secret": secret}],
        "http": {"listen": "127.0.0.1:%d" % http_port}})


def missed_appointment(n):
    return ("INSERT INTO casework.appointments VALUES ('APT-ISO-%02d', 'C-INF-%02d', 'gp', "
            "now() - interval '1 hour', 'was_not_brought')" % (n, n))


def run(t, procs, tmp):
    db = lib.Db("dwhostile_iso")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "daemon.sql"))
    healthy = lib.Receiver(procs, tmp, "healthy")
    stall = hostile.StallServer(procs, tmp)
    stall_url, healthy_url = stall.url("/hook"), healthy.url("/hook")
    http_port = lib.free_port()
    secret = lib.new_secret()
    cfg = config(tmp, db, stall_url, healthy_url, http_port, secret, LINK1)
    r = subprocess.run([hostile.DAEMON, "-c", cfg, "--install-triggers"],
                       capture_output=True, text=True, timeout=60, env=lib.daemon_env())
    t.check(r.returncode == 0, "--install-triggers on the case schema", r.stderr)

    d = hostile.Daemon(procs, tmp, cfg)
    if not t.check(hostile.wait_healthy(http_port, 60), "the daemon becomes healthy",
                   "\n".join(d.lines()[-30:])):
        return
    got = [hostile.wait_webhook(healthy, "C-INIT-%d" % i, 30) for i in (1, 2, 3)]
    t.check(all(got), "the initial evaluation's notices reach the healthy receiver")

    # The stalled receiver gets a backlog of its own (the daemon's poll claims it), until its
    # transfer slots are all held.
    db.run("INSERT INTO driftwatch.outbox (idempotency_key, channel, destination, type, payload)"
           " SELECT 'stall-backlog-' || g, 'webhook', '%s', 'alert.firing', payload"
           " FROM driftwatch.alerts, generate_series(1, %d) g WHERE child_id = 'C-INIT-1'"
           % (stall_url, BACKLOG))
    held = lib.wait_for(lambda: stall.status()[1] >= 16, 20)
    accepted, open_now = stall.status()
    t.check(held, "the stalled receiver holds the daemon's transfers (%d accepted, %d open)"
            % (accepted, open_now), json.dumps(hostile.outbox_stall_note(db, stall_url)))
    t.note("the stalled receiver: %d connections accepted, %d held open, none answered"
           % (accepted, open_now))

    # New notices to the healthy receiver while the stall goes on.
    lat = []
    for n in (1, 2, 3):
        t0 = hostile.commit_time(db, missed_appointment(n))
        req = hostile.wait_webhook(healthy, "C-INF-%02d" % n, 60, after=t0)
        if req:
            lat.append(req["t"] - t0)
            t.note("C-INF-%02d: commit -> healthy receiver %.3f s (the stalled receiver holding "
                   "%d connections)" % (n, req["t"] - t0, stall.status()[1]))
        t.check(req is not None and req["t"] - t0 < BOUND_S,
                "while a receiver stalls, a new notice reaches the healthy one within %.0f s "
                "(C-INF-%02d: %s)" % (BOUND_S, n, "%.3f s" % (req["t"] - t0) if req else
                                      "not within 60 s"),
                "\n".join(d.lines()[-20:]))
    if lat:
        t.note("summary: commit -> healthy receiver during the stall: max %.3f s over %d "
               "changes" % (max(lat), len(lat)))

    # SIGHUP during the stall: applied at once, deliveries go on.
    cfg = config(tmp, db, stall_url, healthy_url, http_port, secret, LINK2)
    mark = d.mark()
    t0 = time.monotonic()
    d.signal(signal.SIGHUP)
    line = d.wait_log(r"reload: configuration applied", 60, since=mark)
    took = time.monotonic() - t0
    t.note("SIGHUP -> configuration applied: %.3f s, %d transfers held by the stalled receiver"
           % (took, stall.status()[1]))
    t.check(line is not None and took < BOUND_S,
            "a SIGHUP during the stall is applied within %.0f s (%.3f s)" % (BOUND_S, took),
            "\n".join(d.since(mark)[-20:]))
    t0 = hostile.commit_time(db, missed_appointment(4))
    req = hostile.wait_webhook(healthy, "C-INF-04", 60, after=t0)
    link = ((req or {}).get("json") or {}).get("data", {}).get("link")
    t.check(req is not None and req["t"] - t0 < BOUND_S and link == LINK2 + "/C-INF-04",
            "after the reload the next notice arrives within %.0f s with the new link (%s, %s)"
            % (BOUND_S, "%.3f s" % (req["t"] - t0) if req else "none", link))

    # The stalled transfers time out on their own (30 s) and are tried again later.
    def retried():
        rows = db.rows("SELECT count(*) AS n FROM driftwatch.outbox WHERE destination = '%s' "
                       "AND status = 'pending' AND attempts >= 1 AND last_error ILIKE "
                       "'%%timeout%%'" % stall_url)
        return rows[0]["n"] >= 16
    t.check(lib.wait_for(retried, 75, step=0.5),
            "the stalled receiver's transfers end at their timeout and their notices are due "
            "again (pending, attempt counted, the timeout recorded)",
            json.dumps(hostile.outbox_stall_note(db, stall_url), indent=1))
    gone = db.value("SELECT count(*) FROM driftwatch.outbox WHERE destination = '%s' "
                    "AND status IN ('failed', 'delivered')" % stall_url)
    t.check(gone == "0", "none of the stalled receiver's notices is failed or marked delivered "
            "(%s)" % gone)
    for row in hostile.outbox_stall_note(db, stall_url):
        t.note("outbox for the stalled receiver: %s" % json.dumps(row))

    hostile.stop(d, t, "stall")
    total = db.value("SELECT count(*) FROM driftwatch.outbox WHERE destination = '%s' AND "
                     "status IN ('pending', 'delivering')" % stall_url)
    t.check(int(total) >= BACKLOG, "after the stop every notice to the stalled receiver is still "
            "in the outbox (%s pending or leased)" % total)
    t.check(all(line.startswith("<") for line in d.lines()),
            "every line the daemon logged has a priority prefix")
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "delivery-isolation", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
