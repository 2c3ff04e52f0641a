#!/usr/bin/python3
"""test_digest_stop: a digest's continuations waiting when the daemon stops are given back, and
every notice is told of by the next run.

A digest whose list does not fit email.max_message_bytes goes as several messages, each
composed only once the one before it has ended (deliver.c, deliver_digest_park). SIGTERM while
the first is being sent must give the notices still waiting back to the outbox unsent (pending,
their claim not counted as an attempt), hold none, and the next run must tell of all of them.

On tests/fixtures/daemon.sql: the daemon's first evaluation records the fixture's alerts (their
digests held for email.digest_time); it is stopped, and 300 notices of copies of those alerts,
each about a child of its own, are queued for one person, due now. The daemon is started again
with email.max_message_bytes at 100,000 (about 50 notices a message) and an SMTP server that
holds each message 4 s before it answers; SIGTERM comes as the first message is in. Then
`--once` to another SMTP server sends the rest.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwdigest_stop is dropped and created here. Standard library only.
"""
import csv
import datetime
import io
import json
import os
import signal
import sys
import zoneinfo

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import hostile  # noqa: E402  (tests/lib/hostile.py: the daemon in the background)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

BULK = "bulk@la.example"
N = 300
HOLD_S = 4

QUEUE = """
INSERT INTO driftwatch.outbox (idempotency_key, channel, destination, role, type, payload,
                               digest_key, notice)
SELECT 'stop-bulk-' || g, 'email', '%s', 'head_of_service', 'alert.firing',
       s.payload || jsonb_build_object('status', 'firing', 'child_id', 'C-BULK-' || g),
       'stop-bulk', NULL
  FROM generate_series(0, %d - 1) g
  JOIN (SELECT row_number() OVER (ORDER BY alert_id) - 1 AS i, count(*) OVER () AS n, payload
          FROM driftwatch.alerts WHERE status = 'firing') s ON s.i = g %% s.n
""" % (BULK, N)


def bulk(db):
    return db.rows("SELECT status, attempts, count(*) AS n FROM driftwatch.outbox "
                   "WHERE digest_key = 'stop-bulk' GROUP BY 1, 2 ORDER BY 1, 2")


def told(smtp):
    """The children told of to BULK, a list per message (the attached list's rows, or the
    entries shown in full when nothing is attached)."""
    out = []
    for m in smtp.messages():
        if m["to"] != BULK:
            continue
        files = [f for f in m["files"] if f[1] == "text/csv"]
        rows = (list(csv.DictReader(io.StringIO(files[0][2].decode("utf-8-sig"))))
                if files else [])
        out.append([r["Child"] for r in rows] if rows else [x[1] for x in m["items"]])
    return out


def config_with(cfg, port, limit):
    conf = json.load(open(cfg))
    conf["email"]["smtp_url"] = "smtp://127.0.0.1:%d" % port
    conf["email"]["max_message_bytes"] = limit
    path = cfg + ".%d.json" % port
    with open(path, "w") as f:
        json.dump(conf, f)
    os.chmod(path, 0o600)
    return path


def run(t, procs, tmp):
    ca = lib.make_ca(tmp)
    db, smtp, cfg = lib.daemon_fixture_mail(procs, tmp, ca, "dwdigest_stop", "held",
                                            ["--data-delay", str(HOLD_S)], hold=True)
    d = hostile.Daemon(procs, tmp, cfg, name="daemon-first")
    t.check(lib.wait_for(lambda: hostile.firing(db) > 0 or None, 60, step=0.5) is not None,
            "the daemon records the fixture's alerts", "\n".join(d.lines()[-20:]))
    d.signal(signal.SIGTERM)
    t.check(d.wait_exit(30) == 0, "... and stops", "\n".join(d.lines()[-20:]))
    db.run(QUEUE)
    cfg_slow = config_with(cfg, smtp.port, 100000)

    d = hostile.Daemon(procs, tmp, cfg_slow, name="daemon-stopped")
    first = lib.wait_for(lambda: told(smtp) or None, 60, step=0.05)
    t.check(first is not None and len(first) == 1 and 0 < len(first[0]) < N,
            "the first of the digest's messages is in (it tells of %s of the %d)"
            % (len(first[0]) if first else "none", N), "\n".join(d.lines()[-20:]))
    d.signal(signal.SIGTERM)
    rc = d.wait_exit(60)
    t.check(rc == 0 and not d.sanitizer_report(),
            "SIGTERM while the server holds it: the daemon stops cleanly (exit %s)" % rc,
            (d.sanitizer_report() or "") + "\n".join(d.lines()[-30:]))
    after = bulk(db)
    waiting = sum(r["n"] for r in after if r["status"] == "pending" and r["attempts"] == 0)
    t.check(not any(r["status"] == "delivering" for r in after) and
            sum(r["n"] for r in after) == N and waiting >= N - len(first[0] if first else []),
            "... none of the %d is held; the %d the first message did not tell of are pending, "
            "never counted as tried (%d such)" % (N, N - len(first[0] if first else []), waiting),
            repr(after))
    t.check(len(told(smtp)) == 1,
            "... and no continuation went after the stop (%d messages)" % len(told(smtp)))

    fast = lib.SmtpServer(procs, tmp, "fast", ca)
    cfg_fast = config_with(cfg, fast.port, 100000)
    today = datetime.datetime.now(zoneinfo.ZoneInfo("Europe/London")).strftime("%Y-%m-%d")
    r = lib.run_once(cfg_fast, today)
    rest = told(fast)
    names = set(c for msg in (first or []) + rest for c in msg)
    want = set("C-BULK-%d" % g for g in range(N))
    t.check(r.rc == 0 and not r.sanitizer() and len(rest) > 1,
            "--once sends the rest in %d messages" % len(rest), r.diag())
    t.check(names == want,
            "... and together with the first, every one of the %d is told of (%d of them)"
            % (N, len(names & want)), repr(sorted(want - names)[:10]))
    end = bulk(db)
    t.check(all(x["status"] == "delivered" for x in end) and sum(x["n"] for x in end) == N,
            "... and all %d are delivered" % N, repr(end))
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "digest_stop", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
