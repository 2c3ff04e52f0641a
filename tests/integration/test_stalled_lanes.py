#!/usr/bin/python3
"""test_stalled_lanes: receivers that hold every request share the loop's transfers with the rest.

ALERTS.md: "one slow or dead receiver never delays the others". Every webhook receiver is a
lane with transfer slots of its own, but the lanes share one loop of transfers sized from the
open-file limit. A receiver that has not answered yet, or whose last transfer timed out, may
run one transfer at a time, and the loop's last eighth is kept for lanes with nothing running;
before, each receiver could hold all its slots for a 30 s timeout, and a few such receivers
together held every transfer of the loop.

The long-running daemon, on a real PostgreSQL (tests/fixtures/daemon.sql) with triggers, under
`prlimit --nofile=96` (8 transfers at once, 4 slots a webhook lane, 1 kept), delivers to six
webhook receivers: three paths of a stall_server.py that accepts every connection and never
answers, two paths of one that answers their first evaluation's six notices and then hangs the
same way (five lanes that stall), and webhook_receiver.py, which answers at once. With a
backlog of 12 notices for each stalled lane:
  - the three that never answered hold one transfer each, and the five together no more than
    seven, while a second passes (before: the whole loop);
  - a change committed to the case data reaches the healthy receiver within 5 s, three times
    (before: it waited for the stalled transfers' 30 s timeout);
  - the stalled transfers end at their own timeout, their notices are due again, none is
    failed or delivered, and after the timeout each stalled lane holds one transfer;
  - SIGTERM ends the daemon within 10 s, status 0, and every stalled notice is still in the
    outbox.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwhostile_lanes is dropped and created here. Standard library only.
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import hostile  # noqa: E402  (tests/lib/hostile.py: the daemon in a hostile environment)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

NOFILE = 96          # fdbudget: 96 - 64 reserved = 32; 8 HTTP connections; 24 / 3 = 8 transfers
TRANSFERS = 8
KEPT = 1             # a lane with nothing running can always start (TRANSFERS / 8)
STALLED = ("/a", "/b", "/c")      # never answer
HUNG = ("/d", "/e")               # answer their first evaluation's notices, then never
BACKLOG = 12
BOUND_S = 5.0


def config(tmp, db, urls, http_port, secret):
    return lib.write_config(tmp, "lanes", {
        "database": {"conninfo": db.conninfo("dw-lanes"), "case_schema": "casework"},
        "timezone": "Europe/London",
        "link_template": "https://lcs.example/person/{child_id}",
        "addresses": lib.addresses(),
        "webhooks": [{"url": u, "secret": secret} for u in urls],
        "http": {"listen": "127.0.0.1:%d" % http_port}})


def missed_appointment(n):
    return ("INSERT INTO casework.appointments VALUES ('APT-LANE-%02d', 'C-INF-%02d', 'gp', "
            "now() - interval '1 hour', 'was_not_brought')" % (n, n))


def stalled_rows(db, urls):
    return db.rows("SELECT destination, status, attempts, count(*) AS n FROM driftwatch.outbox "
                   "WHERE destination IN (%s) GROUP BY 1, 2, 3 ORDER BY 1, 2, 3" % urls_in(urls))


def held(servers, seconds):
    """Each server's open connections, sampled every 50 ms for `seconds`: a set of tuples."""
    seen = set()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        seen.add(tuple(s.status()[1] for s in servers))
        time.sleep(0.05)
    return seen


def urls_in(urls):
    return ", ".join("'%s'" % u for u in urls)


def run(t, procs, tmp):
    db = lib.Db("dwhostile_lanes")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "daemon.sql"))
    healthy = lib.Receiver(procs, tmp, "healthy")
    stall = hostile.StallServer(procs, tmp)
    hung = hostile.StallServer(procs, tmp, name="hung", answer_first=3 * len(HUNG))
    never = [stall.url(p) for p in STALLED]
    stalled = never + [hung.url(p) for p in HUNG]
    http_port = lib.free_port()
    cfg = config(tmp, db, stalled + [healthy.url("/hook")], http_port, lib.new_secret())
    r = subprocess.run([hostile.DAEMON, "-c", cfg, "--install-triggers"],
                       capture_output=True, text=True, timeout=60, env=lib.daemon_env())
    t.check(r.returncode == 0, "--install-triggers on the case schema", r.stderr)

    d = hostile.Daemon(procs, tmp, cfg, nofile=NOFILE)
    if not t.check(hostile.wait_healthy(http_port, 60), "the daemon becomes healthy",
                   "\n".join(d.lines()[-30:])):
        return
    t.check(d.wait_log(r"up to \d+ HTTP connections and %d transfers at once" % TRANSFERS, 5)
            is not None, "under --nofile=%d the loop runs %d transfers at once" % (NOFILE, TRANSFERS),
            "\n".join(d.lines()[:20]))
    got = [hostile.wait_webhook(healthy, "C-INIT-%d" % i, 30) for i in (1, 2, 3)]
    t.check(all(got), "the first evaluation's notices reach the healthy receiver while three "
            "receivers never answer")
    t.check(lib.wait_for(lambda: hung.status() == (3 * len(HUNG), 0), 20),
            "the two receivers about to hang answer the first evaluation's %d notices (%d "
            "accepted, %d open)" % ((3 * len(HUNG),) + hung.status()))

    for url in stalled:
        db.run("INSERT INTO driftwatch.outbox (idempotency_key, channel, destination, type, "
               "payload) SELECT 'lane-backlog-' || md5('%s') || '-' || g, 'webhook', '%s', "
               "'alert.firing', payload FROM driftwatch.alerts, generate_series(1, %d) g "
               "WHERE child_id = 'C-INIT-1'" % (url, url, BACKLOG))
    reached = lib.wait_for(lambda: stall.status()[1] >= len(STALLED)
                           and hung.status()[1] >= len(HUNG), 20)
    t.check(reached, "each stalled receiver gets a transfer (%d and %d open)"
            % (stall.status()[1], hung.status()[1]), json.dumps(stalled_rows(db, stalled)))
    seen = held((stall, hung), 1.0)
    t.check({s[0] for s in seen} == {len(STALLED)},
            "the three receivers that never answered hold one transfer each while a second "
            "passes (seen %s)" % sorted(seen), json.dumps(stalled_rows(db, stalled)))
    t.check(max(a + b for a, b in seen) <= TRANSFERS - KEPT,
            "the five stalled receivers hold at most %d of the loop's %d transfers (seen %s: "
            "never answered, hung)" % (TRANSFERS - KEPT, TRANSFERS, sorted(seen)),
            json.dumps(stalled_rows(db, stalled)))

    lat = []
    for n in (1, 2, 3):
        t0 = hostile.commit_time(db, missed_appointment(n))
        req = hostile.wait_webhook(healthy, "C-INF-%02d" % n, 60, after=t0)
        took = req["t"] - t0 if req else None
        if req:
            lat.append(took)
        t.check(req is not None and took < BOUND_S,
                "with five receivers stalled, a new notice reaches the healthy one within "
                "%.0f s (C-INF-%02d: %s)" % (BOUND_S, n, "%.3f s" % took if req else
                                               "not within 60 s"),
                "\n".join(d.lines()[-20:]))
    if lat:
        t.note("summary: commit -> healthy receiver with five receivers stalled: max %.3f s "
               "over %d changes, %d transfers held by the stalled ones"
               % (max(lat), len(lat), stall.status()[1] + hung.status()[1]))

    def timed_out():
        rows = db.rows("SELECT count(DISTINCT destination) AS n FROM driftwatch.outbox "
                       "WHERE destination IN (%s) AND status = 'pending' AND attempts >= 1 "
                       "AND last_error ILIKE '%%timeout%%'" % urls_in(stalled))
        return rows[0]["n"] == len(stalled)
    t.check(lib.wait_for(timed_out, 75, step=0.5),
            "each stalled lane's transfer ends at its timeout and its notice is due again "
            "(pending, attempt counted, the timeout recorded)",
            json.dumps(stalled_rows(db, stalled), indent=1))
    one_each = (len(STALLED), len(HUNG))
    lib.wait_for(lambda: tuple(s.status()[1] for s in (stall, hung)) == one_each, 40)
    seen = held((stall, hung), 1.0)
    t.check(seen == {one_each}, "after the timeouts each stalled lane holds one transfer (seen "
            "%s)" % sorted(seen), json.dumps(stalled_rows(db, stalled)))
    gone = db.value("SELECT count(*) FROM driftwatch.outbox WHERE destination IN (%s) AND "
                    "idempotency_key LIKE 'lane-backlog-%%' AND status IN ('failed', "
                    "'delivered')" % urls_in(stalled))
    t.check(gone == "0", "none of the stalled receivers' notices is failed or marked delivered "
            "(%s)" % gone)
    t0 = hostile.commit_time(db, missed_appointment(4))
    req = hostile.wait_webhook(healthy, "C-INF-04", 60, after=t0)
    t.check(req is not None and req["t"] - t0 < BOUND_S,
            "after the timeouts a new notice still reaches the healthy receiver within %.0f s (%s)"
            % (BOUND_S, "%.3f s" % (req["t"] - t0) if req else "not within 60 s"))

    hostile.stop(d, t, "stalled lanes")
    total = db.value("SELECT count(*) FROM driftwatch.outbox WHERE destination IN (%s) AND "
                     "status IN ('pending', 'delivering')" % urls_in(stalled))
    t.check(int(total) >= len(stalled) * BACKLOG, "after the stop every notice to the stalled "
            "receivers is still in the outbox (%s pending or leased)" % total)
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "stalled-lanes", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
