#!/usr/bin/python3
"""test_stalled_lanes: receivers that hold every request share the loop's transfers with the rest.

ALERTS.md: "one slow or dead receiver never delays the others". Every webhook receiver is a
lane with transfer slots of its own, but the lanes share one loop of transfers sized from the
open-file limit. The loop's last eighth is kept for lanes with nothing running, and a receiver
whose transfer timed out runs one transfer at a time until it answers again. Before, receivers
that held every request each kept all their slots, one 30 s timeout after another, and a few of
them together held every transfer of the loop.

The long-running daemon, on a real PostgreSQL (tests/fixtures/daemon.sql) with triggers, under
`prlimit --nofile=160` (24 transfers at once, 12 slots a webhook lane, 3 kept), delivers to four
webhook receivers: three paths of stall_server.py, which accepts every connection and never
answers (three lanes), and webhook_receiver.py, which answers at once. With a backlog of 12
notices for each stalled lane:
  - before their first timeout the stalled lanes hold no more than 21 transfers while a second
    passes (before: all 24);
  - a change committed to the case data reaches the healthy receiver within 5 s, three times
    (before: 27 s, waiting for a stalled transfer's 30 s timeout);
  - the stalled transfers end at their own timeout, their notices are due again, none is
    failed or delivered, and from then on each stalled lane holds one transfer (before: 21
    in all, again);
  - a new notice still reaches the healthy receiver within 5 s;
  - SIGTERM ends the daemon within 10 s, status 0, and every stalled notice is still in the
    outbox.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwhostile_lanes is dropped and created here. Standard library only.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import hostile  # noqa: E402  (tests/lib/hostile.py: the daemon in a hostile environment)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

NOFILE = 160         # fdbudget: 160 - 64 reserved = 96; 24 HTTP connections; 72 / 3 = 24
TRANSFERS = 24
KEPT = 3             # the loop's last eighth, for lanes with nothing running
STALLED = ("/a", "/b", "/c")
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


def urls_in(urls):
    return ", ".join("'%s'" % u for u in urls)


def stalled_rows(db, urls):
    return db.rows("SELECT destination, status, attempts, count(*) AS n FROM driftwatch.outbox "
                   "WHERE destination IN (%s) GROUP BY 1, 2, 3 ORDER BY 1, 2, 3" % urls_in(urls))


def healthy_in_time(t, db, d, healthy, n, label):
    t0 = hostile.commit_time(db, missed_appointment(n))
    req = hostile.wait_webhook(healthy, "C-INF-%02d" % n, 60, after=t0)
    took = req["t"] - t0 if req else None
    t.check(req is not None and took < BOUND_S,
            "%s, a new notice reaches the healthy receiver within %.0f s (C-INF-%02d: %s)"
            % (label, BOUND_S, n, "%.3f s" % took if req else "not within 60 s"),
            "\n".join(d.lines()[-20:]))
    return took


def run(t, procs, tmp):
    db = lib.Db("dwhostile_lanes")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "daemon.sql"))
    healthy = lib.Receiver(procs, tmp, "healthy")
    stall = hostile.StallServer(procs, tmp)
    stalled = [stall.url(p) for p in STALLED]
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
            is not None, "under --nofile=%d the loop runs %d transfers at once"
            % (NOFILE, TRANSFERS), "\n".join(d.lines()[:20]))
    got = [hostile.wait_webhook(healthy, "C-INIT-%d" % i, 30) for i in (1, 2, 3)]
    t.check(all(got), "the first evaluation's notices reach the healthy receiver while three "
            "receivers never answer")

    for url in stalled:
        db.run("INSERT INTO driftwatch.outbox (idempotency_key, channel, destination, type, "
               "payload) SELECT 'lane-backlog-' || md5('%s') || '-' || g, 'webhook', '%s', "
               "'alert.firing', payload FROM driftwatch.alerts, generate_series(1, %d) g "
               "WHERE child_id = 'C-INIT-1'" % (url, url, BACKLOG))
    full = TRANSFERS - KEPT
    reached = lib.wait_for(lambda: stall.status()[1] >= full, 20)
    t.check(reached, "the stalled receivers take what the loop gives them (%d open)"
            % stall.status()[1], json.dumps(stalled_rows(db, stalled)))
    seen = stall.held(1.0)
    t.check(max(seen) <= full, "before their first timeout the three stalled receivers hold at "
            "most %d of the loop's %d transfers while a second passes (seen %s)"
            % (full, TRANSFERS, seen), json.dumps(stalled_rows(db, stalled)))
    lat = [healthy_in_time(t, db, d, healthy, n, "with the loop all but full of stalled "
                           "transfers") for n in (1, 2, 3)]
    lat = [x for x in lat if x is not None]
    if lat:
        t.note("summary: commit -> healthy receiver with %d transfers held by three stalled "
               "receivers: max %.3f s over %d changes" % (stall.status()[1], max(lat), len(lat)))

    def timed_out():
        rows = db.rows("SELECT count(DISTINCT destination) AS n FROM driftwatch.outbox "
                       "WHERE destination IN (%s) AND status = 'pending' AND attempts >= 1 "
                       "AND last_error ILIKE '%%timeout%%'" % urls_in(stalled))
        return rows[0]["n"] == len(stalled)
    t.check(lib.wait_for(timed_out, 75, step=0.5),
            "each stalled lane's transfers end at their timeout and their notices are due "
            "again (pending, attempt counted, the timeout recorded)",
            json.dumps(stalled_rows(db, stalled), indent=1))
    lib.wait_for(lambda: stall.status()[1] == len(stalled), 60)
    seen = stall.held(1.0)
    t.check(seen == [len(stalled)], "after their timeouts the three stalled lanes hold one "
            "transfer each (seen %s)" % seen, json.dumps(stalled_rows(db, stalled)))
    gone = db.value("SELECT count(*) FROM driftwatch.outbox WHERE destination IN (%s) AND "
                    "status IN ('failed', 'delivered')" % urls_in(stalled))
    t.check(gone == "0", "none of the stalled receivers' notices is failed or marked delivered "
            "(%s)" % gone)
    healthy_in_time(t, db, d, healthy, 4, "after the timeouts")

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
