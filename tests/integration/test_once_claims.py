#!/usr/bin/python3
"""test_once_claims: --once claims until nothing is left that it can take, and never twice.

Stop 45 ran the dense million's first day by --once (266,313 email notices for 3,576 people)
and three runs in five ended with 8,400-8,900 notices of about 2,700 people never tried, the
summary saying "0 to retry", and the head of service's 40,000 notices sent twice. Two faults:
  - a claim that brought back fewer digests than it asked for was taken for the end of what is
    due, but a notice locked by another session (SKIP LOCKED) takes its place in the claim's
    limit and comes back as nothing;
  - the renewals of the leases wait behind the results on one connection, and notices sent and
    waiting for their results were not renewed at all: a slow result statement let their lease
    run out, and the run's own next claim took them again and sent them twice.

On tests/fixtures/daemon.sql, a first --once sends its digests; then the test makes the outbox
what it wants (every notice delivered, and copies of one email notice pending for people of
its own) and runs --once against a real SMTP server on loopback:
  1. 45 people due, and one more whose notice is due first and locked by another session
     (SELECT ... FOR UPDATE in an open transaction): every one of the 45 gets one email, the
     locked notice stays pending and untried, and the run says that one notice to one
     destination was left due. Once the lock is gone, the next --once sends it: nothing lost.
  2. 160 people due, delivery.lease_seconds 10, a server that takes 0.7 s over each message,
     and delivery_attempts locked (ACCESS EXCLUSIVE) for 25 s by another session, so that
     every result statement, and every renewal behind it, waits: leases run out while the run
     still holds the notices. No person gets two emails (before, the run's later claims took
     the first digests again); after the run every notice is delivered or was counted as left
     due; a second --once sends what was left, and then each person has exactly one email.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwonce_claims is dropped and created here. Standard library only.
"""
import collections
import datetime
import os
import re
import sys
import threading
import zoneinfo

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)


def people_notices(db, prefix, n, first=None):
    """Every notice delivered; then n copies of one alert's email notice, pending and due, one
    each for prefix01@la.example ...; first: one more, due an hour before them."""
    db.run("""
UPDATE driftwatch.outbox SET status = 'delivered', lease_until = NULL
 WHERE status <> 'delivered';
INSERT INTO driftwatch.outbox (idempotency_key, event_id, alert_id, channel, destination, role,
       type, payload, digest_key, notice, next_attempt_at, first_due_at)
SELECT t.idempotency_key || '_%(p)s' || p.i, t.event_id, t.alert_id, 'email', p.address,
       t.role, t.type, t.payload, 'test-%(p)s-' || p.i, t.notice, p.due, p.due
  FROM (SELECT * FROM driftwatch.outbox
         WHERE channel = 'email' AND type LIKE 'alert.%%'
         ORDER BY notice_id LIMIT 1) t
 CROSS JOIN (SELECT i, '%(p)s' || lpad(i::text, 3, '0') || '@la.example' AS address,
                    now() - interval '10 minutes' + make_interval(secs => i) AS due
               FROM generate_series(1, %(n)d) i
             UNION ALL
             SELECT 0, '%(f)s', now() - interval '1 hour' WHERE '%(f)s' <> '') p;
""" % {"p": prefix, "n": n, "f": first or ""})


def outbox(db, prefix):
    return db.rows("SELECT destination, status, attempts FROM driftwatch.outbox "
                   "WHERE destination LIKE '%s%%' ORDER BY destination" % prefix)


def mail_config(tmp, name, db, smtp, ca, **delivery):
    conf = {
        "database": {"conninfo": db.conninfo("dwonce_claims"), "case_schema": "casework"},
        "timezone": "Europe/London",
        "link_template": "https://lcs.example/person/{child_id}",
        "addresses": lib.addresses(),
        "email": lib.email_conf(smtp.port, ca, lib.SmtpServer.password_file(tmp),
                                digest_time=None)}
    if delivery:
        conf["delivery"] = delivery
    return lib.write_config(tmp, name, conf)


def received(smtp, prefix):
    return collections.Counter(m["to"] for m in smtp.messages()
                               if (m["to"] or "").startswith(prefix))


def locked_group(t, db, tmp, ca, procs, today):
    people_notices(db, "lk", 45, first="lkfirst@la.example")
    smtp = lib.SmtpServer(procs, tmp, "claims1", ca)
    cfg = mail_config(tmp, "claims1", db, smtp, ca)
    lock = lib.hold(db, "SELECT 1 FROM driftwatch.outbox WHERE destination = "
                       "'lkfirst@la.example' FOR UPDATE")
    try:
        r = lib.run_once(cfg, today)
    finally:
        lock.close()
    got = received(smtp, "lk")
    want = {"lk%03d@la.example" % i: 1 for i in range(1, 46)}
    t.check(r.rc == 0 and not r.sanitizer(), "--once ends with status 0", r.diag())
    t.check(dict(got) == want,
            "each of the 45 people due gets one email, though the notice due first was "
            "locked by another session (%d people, %d emails)"
            % (len(got), sum(got.values())), repr(sorted(got.items())) + "\n" + r.diag())
    rows = {x["destination"]: x for x in outbox(db, "lk")}
    first = rows.get("lkfirst@la.example", {})
    t.check(first.get("status") == "pending" and first.get("attempts") == 0 and
            all(x["status"] == "delivered" for k, x in rows.items()
                if k != "lkfirst@la.example"),
            "the locked notice stays pending and untried; every other one is delivered",
            repr(rows))
    t.check(re.search(r"delivery: 1 notice to 1 destination due when this run began was not "
                      r"sent by it", r.err) is not None,
            "the run says that one notice to one destination was left due", r.diag())
    r = lib.run_once(cfg, today)
    got = received(smtp, "lk")
    t.check(r.rc == 0 and got.get("lkfirst@la.example") == 1 and
            outbox(db, "lkfirst")[0]["status"] == "delivered" and
            "was not sent by it" not in r.err,
            "once the lock is gone, the next --once sends it, and leaves nothing",
            r.diag() + "\n" + repr(outbox(db, "lkfirst")))


def held_results(t, db, tmp, ca, procs, today):
    people_notices(db, "rs", 160)
    smtp = lib.SmtpServer(procs, tmp, "claims2", ca, extra=["--data-delay", "0.7"])
    cfg = mail_config(tmp, "claims2", db, smtp, ca, lease_seconds=10)
    lock = lib.hold(db, "LOCK TABLE driftwatch.delivery_attempts IN ACCESS EXCLUSIVE MODE")
    timer = threading.Timer(25, lock.close)
    timer.start()
    try:
        r = lib.run_once(cfg, today, timeout=180)
    finally:
        timer.cancel()
        lock.close()
    got = received(smtp, "rs")
    twice = sorted(k for k, v in got.items() if v > 1)
    t.check(r.rc == 0 and not r.sanitizer(), "--once with every result held back for 25 s "
            "ends with status 0", r.diag())
    t.check(got and not twice,
            "no person gets two emails while the leases run out behind the held results "
            "(%d people, %d emails)" % (len(got), sum(got.values())),
            "twice: %s\n%s" % (twice, "\n".join(r.err.splitlines()[-30:])))
    rows = outbox(db, "rs")
    left = [x for x in rows if x["status"] != "delivered"]
    m = re.search(r"delivery: (\d+) notices? to \d+ destinations? due when this run began",
                  r.err)
    said = int(m.group(1)) if m else 0
    t.check(len(rows) == 160 and all(x["status"] in ("delivered", "pending") for x in left) and
            said == len(left),
            "after it every notice is delivered, or pending and counted as left due "
            "(%d left, %d said)" % (len(left), said), repr(left) + "\n" + r.diag())
    r = lib.run_once(cfg, today, timeout=180)
    got = received(smtp, "rs")
    t.check(r.rc == 0 and dict(got) == {"rs%03d@la.example" % i: 1 for i in range(1, 161)} and
            all(x["status"] == "delivered" for x in outbox(db, "rs")),
            "a second --once sends what was left: each of the 160 people has one email",
            repr(sorted(k for k, v in got.items() if v != 1)) + "\n" + r.diag())


def run(t, procs, tmp):
    ca = lib.make_ca(tmp)
    db, smtp, cfg = lib.daemon_fixture_mail(procs, tmp, ca, "dwonce_claims", "smtp0", [])
    today = datetime.datetime.now(zoneinfo.ZoneInfo("Europe/London")).strftime("%Y-%m-%d")
    r = lib.run_once(cfg, today)
    t.check(r.rc == 0 and smtp.count() > 0, "a first --once sends the fixture's digests (%d)"
            % smtp.count(), r.diag())
    locked_group(t, db, tmp, ca, procs, today)
    held_results(t, db, tmp, ca, procs, today)
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "once_claims", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
