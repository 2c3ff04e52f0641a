#!/usr/bin/python3
"""test_slow_mail: a mail server slow to answer the end of a message delays nothing else.

libcurl's SMTP waits for the answer to the end of DATA inside the call that drives it, even
under the multi interface (curl/curl#8555). On the daemon's one event loop a relay that took
45 s to answer (a content scanner may; RFC 5321 allows 10 minutes) froze everything for that
long, message after message: webhooks timed out, /healthz did not answer, the watchdog went
unfed, SIGTERM waited (found by the email audit of stop 37). Mail transfers now run on worker
threads (daemon/curl_workers.c).

On tests/fixtures/daemon.sql, the running daemon with a healthy webhook receiver and a real SMTP
server (smtp_server.py --data-delay: it takes each message, then holds its answer HOLD s):
  1. while the first digests wait for their answer, /healthz answers every probe within 2 s
     (sampled for 8 s), and a change committed to the case data reaches the webhook receiver
     within 5 s;
  2. when the server answers, the digests are recorded delivered, not timed out;
  3. SIGTERM while a digest waits for its answer ends the daemon within 10 s with status 0, no
     sanitizer report, and that notice is still in the outbox (pending, to be sent again with
     the same Message-ID), not failed nor marked delivered.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwslow_mail is dropped and created here. Standard library only. About 40 s.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import hostile  # noqa: E402  (tests/lib/hostile.py: the daemon in a hostile environment)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

HOLD = 20.0


def held(smtp):
    try:
        with open(os.path.join(smtp.maildir, "events.log"), encoding="utf-8") as f:
            return sum(1 for line in f if line.startswith("data-held"))
    except OSError:
        return 0


def missed_appointment(n):
    return ("INSERT INTO casework.appointments VALUES ('APT-SLOW-%02d', 'C-INF-%02d', 'gp', "
            "now() - interval '1 hour', 'was_not_brought')" % (n, n))


def email_states(db):
    rows = db.rows("SELECT status, count(*) AS n FROM driftwatch.outbox WHERE channel = 'email' "
                   "GROUP BY status ORDER BY status")
    return {r["status"]: int(r["n"]) for r in rows}


def run(t, procs, tmp):
    db = lib.Db("dwslow_mail")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "daemon.sql"))
    ca = lib.make_ca(tmp)
    smtp = lib.SmtpServer(procs, tmp, "slow", ca, extra=("--data-delay", str(HOLD)))
    hooks = lib.Receiver(procs, tmp, "hooks")
    http_port = lib.free_port()
    cfg = lib.write_config(tmp, "slow-mail", {
        "database": {"conninfo": db.conninfo("dw-slow-mail"), "case_schema": "casework"},
        "timezone": "Europe/London",
        "addresses": lib.addresses(),
        "webhooks": [{"url": hooks.url("/hook"), "secret": lib.new_secret()}],
        "email": lib.email_conf(smtp.port, ca, lib.SmtpServer.password_file(tmp),
                                digest_time=None),
        "http": {"listen": "127.0.0.1:%d" % http_port}})
    hostile.install_triggers(t, cfg)
    d = hostile.start_healthy(t, procs, tmp, cfg, http_port)
    if d is None:
        return
    if not t.check(lib.wait_for(lambda: held(smtp) >= 1, 30),
                   "the first digest reaches the mail server, which holds its answer %.0f s"
                   % HOLD, "\n".join(d.lines()[-30:])):
        return
    t0 = time.monotonic()

    # 1. The loop goes on while the server holds its answer.
    commit = hostile.commit_time(db, missed_appointment(1))
    slowest, probes, failed = 0.0, 0, 0
    while time.monotonic() - t0 < 8:
        p0 = time.monotonic()
        code = hostile.healthz(http_port, timeout=2)[0]
        took = time.monotonic() - p0
        probes += 1
        failed += code != 200
        slowest = max(slowest, took)
        time.sleep(0.5)
    t.check(failed == 0 and slowest < 2.0, "while the mail server holds its answer, /healthz "
            "answers every probe (%d probes, %d not 200, slowest %.2f s)"
            % (probes, failed, slowest))
    req = hostile.wait_webhook(hooks, "C-INF-01", 10, after=commit)
    t.check(req is not None and req["t"] - commit < 5.0,
            "... and a change committed meanwhile reaches the webhook receiver within 5 s (%s)"
            % ("%.2f s" % (req["t"] - commit) if req else "not within 10 s"),
            "\n".join(d.lines()[-20:]))
    t.check(time.monotonic() - t0 < HOLD, "... all before the server answered (%.1f s of %.0f)"
            % (time.monotonic() - t0, HOLD))

    # 2. The answer comes: delivered, not a timeout.
    ok = lib.wait_for(lambda: email_states(db).get("delivered", 0) >= 1, HOLD + 30, step=0.5)
    errs = db.rows("SELECT last_error FROM driftwatch.outbox WHERE channel = 'email' AND "
                   "last_error ILIKE '%timeout%'")
    t.check(ok and not errs, "when the server answers, the digests are recorded delivered, not "
            "timed out (%s)" % email_states(db), errs)

    # 3. SIGTERM while a digest waits for its answer.
    before = held(smtp)
    hostile.commit_time(db, missed_appointment(2))
    if not t.check(lib.wait_for(lambda: held(smtp) > before, 30),
                   "a new digest reaches the server and waits for its answer",
                   "\n".join(d.lines()[-20:])):
        return
    mark = d.mark()
    hostile.stop(d, t, "SIGTERM while a digest waits for its answer")
    for line in d.since(mark)[-12:]:
        t.note("stop: " + line)
    states = email_states(db)
    lost = db.value("SELECT count(*) FROM driftwatch.outbox o JOIN driftwatch.alerts a "
                    "USING (alert_id) WHERE o.channel = 'email' AND a.child_id = 'C-INF-02' "
                    "AND o.status NOT IN ('pending', 'leased')")
    waiting = db.value("SELECT count(*) FROM driftwatch.outbox o JOIN driftwatch.alerts a "
                       "USING (alert_id) WHERE o.channel = 'email' AND a.child_id = 'C-INF-02'")
    t.check(lost == "0" and waiting != "0", "C-INF-02's email notices are still in the outbox, "
            "to be sent again (%s of them, none failed or marked delivered; %s)"
            % (waiting, states))


def main():
    t = Tap()
    return lib.run_test(t, "slow_mail", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
