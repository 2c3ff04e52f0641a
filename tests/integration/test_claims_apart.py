#!/usr/bin/python3
"""test_claims_apart: an email claim that does not answer never holds a webhook back.

Each email claim groups every due email notice by person: on a first day of hundreds of
thousands of notices it takes seconds (bench/README.md), and while the claims shared one
connection with the webhook claims and the results, a CP escalation's webhook waited behind
them. The long-running daemon, on a real PostgreSQL (tests/fixtures/daemon.sql) with triggers,
delivers to a real SMTP server and a real webhook receiver on loopback:
  - with the server process of its email claims stopped (SIGSTOP: its next claim waits for as long as the test
    likes, as a slow claim would), a change committed to the case data still reaches the
    webhook receiver within 5 s, while its email notice waits in the outbox unclaimed;
  - once the process goes on (SIGCONT), the email goes out too: nothing is lost;
  - SIGTERM while an email claim waits on the stopped process ends the daemon at once (a stop
    waits for results being recorded, not for a claim), status 0, no sanitizer report;
  - --once, whose delivery makes a connection for the email claims too, delivers everything on
    the one it has when a role's connection limit refuses that one, and says so.
With the claims on one connection the webhook waits for the stopped process, and the check of
its arrival fails.

Stopping a server process needs the right to signal it: CI runs the tests as root (the
server as an unprivileged user). Run otherwise, the test says it cannot and fails.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwclaims_apart is dropped and created here. Standard library only.
"""
import datetime
import os
import signal
import subprocess
import sys
import time
import zoneinfo

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import hostile  # noqa: E402  (tests/lib/hostile.py: the daemon in a hostile environment)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

APP = "dw-apart"
ROLE = "apart_lim"
BOUND_S = 5.0
CHILD = "C-INF-01"


def config(tmp, db, smtp, ca, pwfile, hook_url, http_port, secret):
    return lib.write_config(tmp, "apart", {
        "database": {"conninfo": db.conninfo(APP), "case_schema": "casework"},
        "timezone": "Europe/London",
        "link_template": "https://lcs.example/person/{child_id}",
        "addresses": lib.addresses(),
        "email": lib.email_conf(smtp.port, ca, pwfile, digest_time=None),
        "webhooks": [{"url": hook_url, "secret": secret}],
        "http": {"listen": "127.0.0.1:%d" % http_port}})


def claim_pids(db, which):
    """The daemon's server processes whose last statement was this claim."""
    rows = db.rows("SELECT pid FROM pg_stat_activity WHERE application_name = '%s' "
                   "AND query LIKE '-- outbox_claim_%s:%%'" % (APP, which))
    return sorted(r["pid"] for r in rows)


def mail_for(smtp, child):
    return [m for m in smtp.messages() if child in m["text"]]


def email_notice_status(db, child):
    return [r["status"] for r in db.rows(
        "SELECT status FROM driftwatch.outbox WHERE channel = 'email' "
        "AND payload ->> 'child_id' = '%s' ORDER BY notice_id" % child)]


def held_stopped(t, db, d, hook, smtp, pid):
    """The checks made while the email claims' server process is stopped."""
    mails_before = len(mail_for(smtp, CHILD))
    t0 = hostile.commit_time(db, "INSERT INTO casework.appointments VALUES ('APT-APART-1', "
                             "'%s', 'gp', now() - interval '1 hour', 'was_not_brought')" % CHILD)
    req = hostile.wait_webhook(hook, CHILD, 30, after=t0)
    took = req["t"] - t0 if req else None
    t.note("commit -> webhook receiver with the email claims' process stopped: %s"
           % ("%.3f s" % took if req else "nothing within 30 s"))
    t.check(req is not None and took < BOUND_S,
            "with the email claims held, a new alert's webhook arrives within %.0f s (%s)"
            % (BOUND_S, "%.3f s" % took if req else "none"), "\n".join(d.lines()[-20:]))
    queued = lib.wait_for(lambda: set(email_notice_status(db, CHILD)) == {"pending"}, 10)
    t.check(queued and len(mail_for(smtp, CHILD)) == mails_before,
            "... while its email notices wait in the outbox unclaimed (%s) and no mail about "
            "it went out" % email_notice_status(db, CHILD))


def stop_held(t, db, d, hook):
    """SIGTERM while an email claim waits on the stopped process: the daemon still ends in
    time, its connections closed under the claim."""
    pids = claim_pids(db, "email")
    if not t.check(len(pids) == 1, "the email claims' server process is found again (%s)" % pids):
        hostile.stop(d, t, "apart")
        return
    os.kill(pids[0], signal.SIGSTOP)
    try:
        t0 = hostile.commit_time(db, "INSERT INTO casework.appointments VALUES ('APT-APART-2', "
                                 "'C-INF-02', 'gp', now() - interval '1 hour', "
                                 "'was_not_brought')")
        hostile.wait_webhook(hook, "C-INF-02", 30, after=t0)
        waiting = lib.wait_for(lambda: set(email_notice_status(db, "C-INF-02")) == {"pending"},
                               10)
        t.check(waiting, "a second alert's email claim waits on the stopped process")
        t0 = time.monotonic()
        hostile.stop(d, t, "apart, an email claim held")
        took = time.monotonic() - t0
        t.check(took < BOUND_S, "... without waiting out the grace for the claim (%.2f s; a "
                "stop waits for results being recorded, not for a claim)" % took)
    finally:
        os.kill(pids[0], signal.SIGCONT)


def run(t, procs, tmp):
    db = lib.Db("dwclaims_apart")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "daemon.sql"))
    ca = lib.make_ca(tmp)
    smtp = lib.SmtpServer(procs, tmp, "smtp", ca)
    hook = lib.Receiver(procs, tmp, "hook")
    http_port = lib.free_port()
    cfg = config(tmp, db, smtp, ca, lib.SmtpServer.password_file(tmp), hook.url("/hook"),
                 http_port, lib.new_secret())
    r = subprocess.run([hostile.DAEMON, "-c", cfg, "--install-triggers"],
                       capture_output=True, text=True, timeout=60, env=lib.daemon_env())
    t.check(r.returncode == 0, "--install-triggers on the case schema", r.stderr)

    d = hostile.Daemon(procs, tmp, cfg)
    if not t.check(hostile.wait_healthy(http_port, 60), "the daemon becomes healthy",
                   "\n".join(d.lines()[-30:])):
        return
    started = hostile.wait_webhook(hook, "C-INIT-1", 30) is not None and \
        lib.wait_for(lambda: smtp.count() > 0 and claim_pids(db, "email"), 30)
    t.check(bool(started), "the initial evaluation's notices go out by webhook and by email")
    mail_pids = claim_pids(db, "email")
    if not t.check(len(mail_pids) == 1, "one server process's last statement is the email "
                   "claim (%s)" % mail_pids):
        hostile.stop(d, t, "apart")
        return
    pid = mail_pids[0]
    try:
        os.kill(pid, signal.SIGSTOP)
    except OSError as e:
        t.check(False, "the email claims' server process (%d) can be stopped: %s" % (pid, e))
        hostile.stop(d, t, "apart")
        return
    try:
        held_stopped(t, db, d, hook, smtp, pid)
    finally:
        os.kill(pid, signal.SIGCONT)
    sent = lib.wait_for(lambda: mail_for(smtp, CHILD), 60)
    delivered = lib.wait_for(lambda: set(email_notice_status(db, CHILD)) == {"delivered"}, 30)
    t.check(bool(sent) and bool(delivered),
            "once the process goes on, the email about %s goes out and its notices are "
            "delivered (%s)" % (CHILD, email_notice_status(db, CHILD)),
            "\n".join(d.lines()[-20:]))
    stop_held(t, db, d, hook)
    t.check(all(line.startswith("<") for line in d.lines()),
            "every line the daemon logged has a priority prefix")
    once_limited(t, tmp, db, smtp, ca, hook)
    db.run("DROP OWNED BY %s; DROP ROLE %s" % (ROLE, ROLE))
    db.drop()


def once_limited(t, tmp, db, smtp, ca, hook):
    """--once as a role with room for three connections (evaluation, recording, bad-row
    count): neither the fourth (rules run ahead) nor the email claims' can be made."""
    db.run("DROP SCHEMA IF EXISTS apart_once CASCADE")
    db.run("DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = '%s') THEN "
           "DROP OWNED BY %s; DROP ROLE %s; END IF; END $$" % (ROLE, ROLE, ROLE))
    db.run("CREATE ROLE %s LOGIN CONNECTION LIMIT 3; GRANT USAGE ON SCHEMA casework TO %s; "
           "GRANT SELECT ON ALL TABLES IN SCHEMA casework TO %s; "
           "CREATE SCHEMA apart_once AUTHORIZATION %s" % (ROLE, ROLE, ROLE, ROLE))
    conninfo = db.conninfo("dw-apart-once").replace("user=%s" % lib.PGUSER, "user=" + ROLE)
    cfg = lib.write_config(tmp, "apart-once", {
        "database": {"conninfo": conninfo, "case_schema": "casework",
                     "state_schema": "apart_once"},
        "timezone": "Europe/London",
        "link_template": "https://lcs.example/person/{child_id}",
        "addresses": lib.addresses(),
        "email": lib.email_conf(smtp.port, ca, lib.SmtpServer.password_file(tmp),
                                digest_time=None),
        "webhooks": [{"url": hook.url("/once"), "secret": lib.new_secret()}]})
    mails = smtp.count()
    r = lib.run_once(cfg, datetime.datetime.now(zoneinfo.ZoneInfo("Europe/London"))
                     .strftime("%Y-%m-%d"))
    t.check(r.rc == 0 and not r.sanitizer(), "--once with room for three connections exits 0",
            r.diag())
    t.check("a connection for the email claims could not be made" in r.err,
            "it says the email claims' connection could not be made", r.err[-2000:])
    left = db.rows("SELECT channel, status, count(*) AS n FROM apart_once.outbox "
                   "GROUP BY 1, 2 ORDER BY 1, 2")
    t.check({x["status"] for x in left} == {"delivered"} and
            {x["channel"] for x in left} == {"email", "webhook"} and smtp.count() > mails and
            hook.requests("/once"),
            "every notice went out on the one connection, email and webhook (%s)" % left)


def main():
    t = Tap()
    return lib.run_test(t, "claims-apart", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
