#!/usr/bin/python3
"""test_once_held: --once sends the digests the daemon held for email.digest_time.

ALERTS.md: "`--once` sends every digest at once (a timer that runs it is its schedule)". Audit
10: an operator who stopped the daemon to run --once from a timer instead (or to flush held
mail) found the daemon's held digests still waiting for the next working day's slot: --once
claimed only what was due, and they were due at 08:00 on Monday.

On tests/fixtures/daemon.sql, email.digest_time left at its default (08:00 on the next working
day, always ahead of now):
  - the daemon's first evaluation holds every person's email notice, pending, due at the slot;
  - the daemon is stopped; `driftwatchd --once` with the same configuration sends them, one
    digest per person, and marks them delivered;
  - a notice already tried and waiting to be retried is not sent early (only never-tried held
    digests are).

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwonce_held is dropped and created here. Standard library only.
"""
import datetime
import os
import signal
import sys
import zoneinfo

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import hostile  # noqa: E402  (tests/lib/hostile.py: the daemon in the background)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)


def emails(db):
    if db.value("SELECT to_regclass('driftwatch.outbox') IS NOT NULL") != "t":
        return []
    return db.rows("SELECT notice_id, destination, status, attempts, "
                   "extract(epoch FROM next_attempt_at - now())::int AS wait_s "
                   "FROM driftwatch.outbox WHERE channel = 'email' AND type LIKE 'alert.%' "
                   "ORDER BY notice_id")


def run(t, procs, tmp):
    ca = lib.make_ca(tmp)
    db, smtp, cfg = lib.daemon_fixture_mail(procs, tmp, ca, "dwonce_held", "smtp", [],
                                            hold=True)
    d = hostile.Daemon(procs, tmp, cfg, name="daemon-held")
    held = lib.wait_for(lambda: emails(db) or None, 60, step=0.5)
    t.check(held and all(r["status"] == "pending" and r["wait_s"] > 0 for r in held) and
            smtp.count() == 0,
            "the daemon holds every email notice for the digest time (%d, none sent)"
            % len(held or []), repr(held))
    d.signal(signal.SIGTERM)
    t.check(d.wait_exit(30) == 0 and not d.sanitizer_report(), "the daemon stops cleanly",
            "\n".join(d.lines()[-20:]))
    # one notice as if tried once and waiting for its retry: not sent early by --once
    db.run("UPDATE driftwatch.outbox SET attempts = 1, next_attempt_at = now() + "
           "interval '1 hour' WHERE notice_id = (SELECT max(notice_id) FROM driftwatch.outbox "
           "WHERE channel = 'email' AND type LIKE 'alert.%')")
    today = datetime.datetime.now(zoneinfo.ZoneInfo("Europe/London")).strftime("%Y-%m-%d")
    r = lib.run_once(cfg, today)
    after = emails(db)
    retry = max(x["notice_id"] for x in after) if after else None
    sent = [x for x in after if x["notice_id"] != retry]
    t.check(r.rc == 0 and not r.sanitizer() and sent and
            all(x["status"] == "delivered" for x in sent),
            "--once with the same configuration sends the %d held notices" % len(sent),
            r.diag() + "\n" + repr(after))
    people = sorted({x["destination"] for x in sent})
    got = sorted({m["to"] for m in smtp.messages()})
    t.check(got == people, "one digest per person: %s" % people, repr(got))
    t.check([x["status"] for x in after if x["notice_id"] == retry] == ["pending"],
            "a notice waiting for its retry is not sent early", repr(after))
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "once_held", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
