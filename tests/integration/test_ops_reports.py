#!/usr/bin/python3
"""test_ops_reports: a receiver that stays down is one email to the operators, not one a notice.

Notices to a dead receiver are retried with full jitter, so they reach their age limit
(delivery.max_age_hours) one by one; each was failed by a result statement of its own, and each
such statement's report was claimed and mailed at once: 12 notices failing over 8 seconds made
8 emails to the operators, about the same receiver and the same answer. Now a report waits
delivery.report_wait_seconds (default 600) for the rest of its incident, the reports made
meanwhile go in the same email, and a report of the same receiver and reason still waiting
counts the new failures in: one email, one item.

On tests/fixtures/daemon.sql, a running daemon with a webhook receiver that answers every
request 503, email to the tests' SMTP server (digests after every evaluation),
"delivery": {"max_age_hours": 1, "report_wait_seconds": WAIT_S}:
  1. N webhook notices first due two hours ago are put in the outbox, due one after another
     over SPREAD_S seconds, so that they fail in separate result statements; every one fails
     for good (status failed, last_error naming the 503);
  2. the operators receive one email about them, not before the wait has passed since the
     first failure; its one item counts all N and names the receiver and the 503, and its
     subject counts N undelivered notices;
  3. one more notice failing after that email is a second email of one item: a report already
     sent takes nothing in, and nothing is lost.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwops_reports is dropped and created here. Standard library only.
"""
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import hostile  # noqa: E402  (tests/lib/hostile.py: the daemon in a hostile environment)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

N = 12               # notices to the dead receiver
SPREAD_S = 5.0       # their due times, one after another over this many seconds
WAIT_S = 15          # delivery.report_wait_seconds: a report's wait for the rest of its incident


def config(tmp, db, smtp, ca, url, http_port):
    return lib.write_config(tmp, "ops", {
        "database": {"conninfo": db.conninfo("dw-ops"), "case_schema": "casework"},
        "timezone": "Europe/London",
        "link_template": "https://lcs.example/person/{child_id}",
        "addresses": lib.addresses(),
        "webhooks": [{"url": url, "secret": lib.new_secret()}],
        "delivery": {"max_age_hours": 1, "report_wait_seconds": WAIT_S},
        "email": lib.email_conf(smtp.port, ca, lib.SmtpServer.password_file(tmp),
                                digest_time=None),
        "http": {"listen": "127.0.0.1:%d" % http_port}})


def dead_notices(db, url, tag, n, spread):
    """n notices to url, first due two hours ago, due one after another over spread seconds."""
    db.run("INSERT INTO driftwatch.outbox (idempotency_key, channel, destination, type, "
           "payload, first_due_at, next_attempt_at) SELECT '%s-' || g, 'webhook', '%s', "
           "'alert.firing', payload, now() - interval '2 hours', "
           "now() + make_interval(secs => 1 + g * %f) FROM driftwatch.alerts, "
           "generate_series(1, %d) g WHERE child_id = 'C-INIT-1'" % (tag, url, spread / n, n))


def failed_count(db, tag):
    return int(db.value("SELECT count(*) FROM driftwatch.outbox WHERE idempotency_key LIKE "
                        "'%s-%%' AND status = 'failed'" % tag))


def run(t, procs, tmp):
    db = lib.Db("dwops_reports")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "daemon.sql"))
    ca = lib.make_ca(tmp)
    smtp = lib.SmtpServer(procs, tmp, "smtp", ca)
    dead = lib.Receiver(procs, tmp, "dead", default="503")
    url = dead.url("/dead")
    http_port = lib.free_port()
    cfg = config(tmp, db, smtp, ca, url, http_port)
    d = hostile.Daemon(procs, tmp, cfg)
    if not t.check(hostile.wait_healthy(http_port, 60), "the daemon becomes healthy",
                   "\n".join(d.lines()[-30:])):
        return
    ops = lib.addresses()["operators"]

    def ops_mail():
        return [m for m in smtp.messages() if m["to"] == ops]
    # the first evaluation's own notices to the dead receiver are young: they stay pending
    # and never reach the operators within this test
    lib.wait_for(lambda: smtp.count() > 0, 30)
    dead_notices(db, url, "dead", N, SPREAD_S)
    first = lib.wait_for(lambda: failed_count(db, "dead") > 0, 30, step=0.1)
    t_first = time.monotonic()
    failed = lib.wait_for(lambda: failed_count(db, "dead") == N, 60, step=0.2)
    rows = db.rows("SELECT status, last_error FROM driftwatch.outbox WHERE "
                   "idempotency_key LIKE 'dead-%' ORDER BY notice_id")
    t.check(first and failed and all("503" in (r["last_error"] or "") for r in rows),
            "every one of the %d notices to the dead receiver failed for good, the 503 "
            "recorded" % N, json.dumps(rows, indent=1))
    statements = len([x for x in d.lines()
                      if re.search(r"to webhook \S*/dead failed for good", x)])
    t.check(statements > 1, "they failed in %d result statements (more than one, or the test "
            "shows nothing)" % statements)
    got = lib.wait_for(lambda: ops_mail(), 2 * WAIT_S + 30, step=0.2)
    waited = time.monotonic() - t_first
    time.sleep(3)
    mail = ops_mail()
    t.check(got and len(mail) == 1 and waited >= WAIT_S - 1,
            "the operators receive one email about them, %.1f s after the first failure "
            "(the wait is %d s)" % (waited, WAIT_S),
            "\n---\n".join(m["subject"] + "\n" + m["text"][:800] for m in mail))
    if not mail:
        return
    text = " ".join(mail[0]["text"].split())
    want = (r"%d webhook notices \(alert\.firing\) to %s could not be delivered: [^(]*503"
            % (N, re.escape(url)))
    t.check(len(mail[0]["items"]) == 1 and re.search(want, text),
            "its one item counts all %d notices and names the receiver and its answer" % N,
            text[:2000])
    t.check(re.search(r"\b%d undelivered notices\b" % N, mail[0]["subject"]) is not None,
            "its subject counts %d undelivered notices" % N, mail[0]["subject"])

    dead_notices(db, url, "late", 1, 0)
    more = lib.wait_for(lambda: len(ops_mail()) > 1, 2 * WAIT_S + 30, step=0.2)
    mail = ops_mail()
    text = " ".join(mail[-1]["text"].split()) if more else ""
    t.check(more and len(mail) == 2 and len(mail[-1]["items"]) == 1 and
            re.search(r"A webhook notice \(alert\.firing, cp_neglect_duration 9m\) to %s could "
                      r"not be delivered" % re.escape(url), text),
            "a notice failing after that email is a second email of one item, naming the "
            "alert's rule and stage (%d emails)"
            % len(mail), text[:1500])
    counted = db.value("SELECT sum(coalesce((payload ->> 'count')::int, 1)) FROM "
                       "driftwatch.outbox WHERE type = 'delivery.failed' AND status = "
                       "'delivered'")
    t.check(counted == str(N + 1), "the reports delivered count the %d failed notices (%s)"
            % (N + 1, counted))
    hostile.stop(d, t, "ops reports")
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "ops-reports", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
