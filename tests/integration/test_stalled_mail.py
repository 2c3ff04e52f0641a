#!/usr/bin/python3
"""test_stalled_mail: a mail server that never answers holds one connection, not all of its slots.

A webhook lane whose transfer timed out runs one transfer at a time until its receiver answers
(test_stalled_lanes.py); the mail server's lane did not, since the mail sender did not say
which failures were timeouts. A relay that accepts connections and never greets (a hung
Postfix, a firewall that lets SYN through to a dead host) took every mail slot, each for the
connect timeout, again and again while digests were due.

On tests/fixtures/daemon.sql, a running daemon whose email.smtp_url points at stall_server.py
(accepts, never says a word) and DIGESTS extra digests due at once (one email notice each, to
as many people):
  1. before the first timeout the mail lane holds its slots (8) open at the server;
  2. after the timeouts (MAIL_CONNECT_TIMEOUT_S, 15 s), it holds one connection at a time while
     a second passes, sampled every 50 ms;
  3. nothing is failed or lost: every digest's notice is still pending or leased, its
     attempts counted and the timeout recorded; SIGTERM ends the daemon in time (libcurl
     blocked in curl_multi_remove_handle on each SMTP transfer cancelled at the stop, waiting
     for the relay's answer to the message's end: the daemon did not stop);
  4. `--once` with every digest due again: the first timeouts end the pass for the relay
     (a pass gave it one digest after another, each for a whole timeout: 40 digests, minutes),
     it exits 0 within twice the connect timeout, saying the rest wait for the next run, and
     every digest is still pending.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwstalled_mail is dropped and created here. Standard library only. About 40 s: it waits for
real timeouts.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import hostile  # noqa: E402  (tests/lib/hostile.py: the daemon in a hostile environment)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

DIGESTS = 40
SLOTS = 8            # deliver.c, DELIVER_EMAIL_SLOTS
CONNECT_TIMEOUT_S = 15   # mail_send.c, MAIL_CONNECT_TIMEOUT_S


def rows(db):
    return db.rows("SELECT status, attempts, count(*) AS n, bool_and(last_error ILIKE "
                   "'%%timeout%%' OR last_error ILIKE '%%timed out%%') AS timeout "
                   "FROM driftwatch.outbox WHERE idempotency_key LIKE 'stall-%%' "
                   "GROUP BY 1, 2 ORDER BY 1, 2")


def run(t, procs, tmp):
    db = lib.Db("dwstalled_mail")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "daemon.sql"))
    ca = lib.make_ca(tmp)
    stall = hostile.StallServer(procs, tmp)
    http_port = lib.free_port()
    cfg = lib.write_config(tmp, "mail", {
        "database": {"conninfo": db.conninfo("dw-stalled-mail"), "case_schema": "casework"},
        "timezone": "Europe/London",
        "link_template": "https://lcs.example/person/{child_id}",
        "addresses": lib.addresses(),
        "email": lib.email_conf(stall.port, ca, lib.SmtpServer.password_file(tmp),
                                digest_time=None),
        "http": {"listen": "127.0.0.1:%d" % http_port}})
    d = hostile.Daemon(procs, tmp, cfg)
    if not t.check(hostile.wait_healthy(http_port, 60), "the daemon becomes healthy",
                   "\n".join(d.lines()[-30:])):
        return
    db.run("INSERT INTO driftwatch.outbox (idempotency_key, channel, destination, role, type, "
           "payload, digest_key) SELECT 'stall-' || g, 'email', 'person' || g || "
           "'@la.example', 'supervisor', 'alert.firing', payload, 'stall' FROM "
           "driftwatch.alerts, generate_series(1, %d) g WHERE child_id = 'C-INIT-1'" % DIGESTS)
    full = lib.wait_for(lambda: stall.status()[1] >= SLOTS, 20)
    t.check(full, "before the first timeout the mail lane holds its %d slots at the server "
            "(%d open)" % (SLOTS, stall.status()[1]), "\n".join(d.lines()[-20:]))

    def timed_out():
        return any(r["status"] == "pending" and r["attempts"] >= 1 and r["timeout"]
                   for r in rows(db))
    t.check(lib.wait_for(timed_out, 45, step=0.5),
            "the first digests end at the connect timeout and are due again (pending, the "
            "attempt counted, the timeout recorded)", json.dumps(rows(db), indent=1))
    # the connections that timed out close; what the lane opens after them is what counts
    lib.wait_for(lambda: stall.status()[1] <= 1, 20)
    time.sleep(1.0)
    seen = stall.held(1.5)
    t.check(max(seen) <= 1, "after the timeout the mail lane holds one connection at a time "
            "(seen %s)" % seen, json.dumps(rows(db), indent=1) + "\n" +
            "\n".join(d.lines()[-20:]))
    hostile.stop(d, t, "stalled mail")
    lost = db.value("SELECT count(*) FROM driftwatch.outbox WHERE idempotency_key LIKE "
                    "'stall-%' AND status NOT IN ('pending', 'delivering')")
    t.check(lost == "0", "no digest is failed or marked delivered (%s)" % lost,
            json.dumps(rows(db), indent=1))

    db.run("UPDATE driftwatch.outbox SET next_attempt_at = now(), lease_until = NULL, "
           "status = 'pending' WHERE channel = 'email' AND status IN ('pending', 'delivering')")
    t0 = time.monotonic()
    r = lib.run_once(cfg, db.value("SELECT current_date"), timeout=300)
    took = time.monotonic() - t0
    t.check(r.rc == 0 and took < 2 * CONNECT_TIMEOUT_S + 10 and not r.sanitizer(),
            "--once with the relay hung exits 0 within %d s (%.1f s, exit %s)"
            % (2 * CONNECT_TIMEOUT_S + 10, took, r.rc), r.diag())
    t.check("this run gives it nothing more" in r.err,
            "it says the relay timed out and the rest waits for the next run", r.err[-2000:])
    left = db.value("SELECT count(*) FROM driftwatch.outbox WHERE idempotency_key LIKE "
                    "'stall-%' AND status = 'pending'")
    t.check(left == str(DIGESTS), "every digest is pending for the next run (%s of %d)"
            % (left, DIGESTS), json.dumps(rows(db), indent=1))
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "stalled-mail", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
