#!/usr/bin/python3
"""test_outbox_age: /metrics' oldest pending age counts from when a notice was due, not written.

driftwatch_outbox_oldest_pending_age_seconds feeds DriftwatchOutboxAgeing (over an hour for
five minutes: "a receiver or the mail relay is down"). It counted from each notice's
created_at, so people's email held for email.digest_time (08:00 on the next working day by
default) made it grow all evening and night: the warning fired at every authority every
working day with nothing wrong, and an alert that always fires is one nobody reads. It now
counts from first_due_at, as the age limit does (state_v7.sql): a digest held for its slot from
the slot, a report waiting for the rest of its incident from when it is due.

On tests/fixtures/daemon.sql, a running daemon with email to the tests' SMTP server, the
digest_time six hours ahead (the first evaluation's digests held for it)
and a webhook receiver that answers 503:
  1. the held email notices, written three hours ago (created_at moved back, as passing time
     is in test_retry_after.py): the gauge, once refreshed, says under a minute (the webhook
     notices of the first evaluation, seconds old);
     driftwatch_notices_due{channel="email"} is 0 while the email is pending;
  2. a webhook notice first due two hours ago and retried since: the gauge says two hours.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwoutbox_age is dropped and created here. Standard library only.
"""
import datetime
import os
import re
import sys
import urllib.request
import zoneinfo

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import hostile  # noqa: E402  (tests/lib/hostile.py: the daemon in the background)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

GAUGE = "driftwatch_outbox_oldest_pending_age_seconds"


def sample(port, series):
    """The value of one series (name and labels as /metrics writes them), or None."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None
    m = re.search(r"^%s (\S+)$" % re.escape(series), text, re.M)
    return float(m.group(1)) if m else None


def gauge(port):
    return sample(port, GAUGE)


def run(t, procs, tmp):
    db = lib.Db("dwoutbox_age")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "daemon.sql"))
    ca = lib.make_ca(tmp)
    smtp = lib.SmtpServer(procs, tmp, "smtp", ca)
    dead = lib.Receiver(procs, tmp, "dead", default="503")
    port = lib.free_port()
    # a slot six hours from now: today's or a later working day's, never within the test
    slot = (datetime.datetime.now(zoneinfo.ZoneInfo("Europe/London")) +
            datetime.timedelta(hours=6)).strftime("%H:%M")
    cfg = lib.write_config(tmp, "age", {
        "database": {"conninfo": db.conninfo("dw-age"), "case_schema": "casework"},
        "timezone": "Europe/London",
        "link_template": "https://lcs.example/person/{child_id}",
        "addresses": lib.addresses(),
        "webhooks": [{"url": dead.url("/dead"), "secret": lib.new_secret()}],
        "email": lib.email_conf(smtp.port, ca, lib.SmtpServer.password_file(tmp),
                                digest_time=slot),
        "http": {"listen": "127.0.0.1:%d" % port}})
    d = hostile.Daemon(procs, tmp, cfg)
    if not t.check(hostile.wait_healthy(port, 60), "the daemon becomes healthy",
                   "\n".join(d.lines()[-30:])):
        return
    held = lib.wait_for(lambda: int(db.value(
        "SELECT count(*) FROM driftwatch.outbox WHERE channel = 'email' AND status = 'pending' "
        "AND next_attempt_at > now() + interval '1 minute'")), 30, step=0.2)
    t.check(held, "the first evaluation's email notices are held for the next digest slot "
            "(%d)" % held)
    # The gauge is refreshed every 15 s (SERVICE_OUTBOX_METRICS_S): a reading taken after the
    # change is one that differs from the reading before it (the first evaluation's webhook
    # notices, retried, make it grow between refreshes).
    before = lib.wait_for(lambda: gauge(port), 40, step=0.5)
    db.run("UPDATE driftwatch.outbox SET created_at = now() - interval '3 hours' "
           "WHERE channel = 'email'")
    after = lib.wait_for(lambda: (lambda v: v if v is not None and v != before else None)(
        gauge(port)), 40, step=0.5)
    t.check(before and after is not None and after < 60,
            "email held for its slot, written three hours ago, does not age the outbox "
            "(%s: %s before, %s after)" % (GAUGE, before, after), "\n".join(d.lines()[-20:]))
    pending = sample(port, 'driftwatch_notices{channel="email",status="pending"}')
    due = sample(port, 'driftwatch_notices_due{channel="email"}')
    t.check(pending is not None and pending >= held and due == 0,
            "the held email is pending (%s) but not due (driftwatch_notices_due: %s), so "
            "DriftwatchChannelStalled does not read it as waiting" % (pending, due))

    db.run("UPDATE driftwatch.outbox SET first_due_at = now() - interval '2 hours', "
           "created_at = now() - interval '2 hours' WHERE channel = 'webhook'")
    values = []
    ok = lib.wait_for(lambda: values.append(gauge(port)) or
                      (values[-1] is not None and 7200 <= values[-1] < 7300), 40, step=0.5)
    t.check(ok, "a webhook notice due two hours ago and not delivered does (%s: %s)"
            % (GAUGE, values[-3:]), "\n".join(d.lines()[-20:]))
    hostile.stop(d, t, "outbox age")
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "outbox-age", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
