#!/usr/bin/python3
"""test_digest_time_change: notices held for a digest slot follow email.digest_time when it
changes, so that a person gets one digest, not one at the old time and one at the new.

Audit 10 (F3): held notices kept the key and time of the slot they were first held for. After
an operator changed email.digest_time (and restarted or reloaded), a supervisor got two daily
digests that day. ALERTS.md: "One message per recipient per digest ... Digests go out at
email.digest_time".

On tests/fixtures/daemon.sql, the real daemon and SMTP server:
  - with digest_time 08:00 the first evaluation holds every person's email notice for
    "digest DAY 08:00";
  - restarted with digest_time 08:30, its first whole evaluation moves every one of them to the
    slot new notices wait for, "digest DAY' 08:30", still held and never tried, one key per
    person, and says so in its log;
  - restarted with digest_time null (a digest after every evaluation), the held notices go at
    once: one digest per person, each holding all of that person's notices.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwdigest_move is dropped and created here. Standard library only.
"""
import json
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import hostile  # noqa: E402  (tests/lib/hostile.py: the daemon in the background)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)


def held(db):
    if db.value("SELECT to_regclass('driftwatch.outbox') IS NOT NULL") != "t":
        return []
    return db.rows("SELECT notice_id, destination, digest_key, status, attempts, "
                   "next_attempt_at > now() AS ahead FROM driftwatch.outbox "
                   "WHERE channel = 'email' AND type LIKE 'alert.%' ORDER BY notice_id")


def with_time(cfg, tmp, name, digest_time):
    conf = json.load(open(cfg))
    conf["email"]["digest_time"] = digest_time
    path = os.path.join(tmp, name + ".json")
    with open(path, "w") as f:
        json.dump(conf, f)
    os.chmod(path, 0o644)
    return path


def stop(t, d, what):
    d.signal(signal.SIGTERM)
    t.check(d.wait_exit(30) == 0 and not d.sanitizer_report(), "%s stops cleanly" % what,
            "\n".join(d.lines()[-20:]))


def run(t, procs, tmp):
    ca = lib.make_ca(tmp)
    db, smtp, cfg = lib.daemon_fixture_mail(procs, tmp, ca, "dwdigest_move", "smtp", [],
                                            hold=True)
    first = with_time(cfg, tmp, "at0800", "08:00")
    d = hostile.Daemon(procs, tmp, first, name="daemon-0800")
    h0 = lib.wait_for(lambda: held(db) or None, 60, step=0.5)
    t.check(h0 and all(r["digest_key"].endswith(" 08:00") and r["ahead"] is True for r in h0)
            and smtp.count() == 0,
            "digest_time 08:00 holds every email notice for an 08:00 slot (%d)"
            % len(h0 or []), repr(h0))
    stop(t, d, "the daemon at 08:00")
    if not h0:
        return

    later = with_time(cfg, tmp, "at0830", "08:30")
    d = hostile.Daemon(procs, tmp, later, name="daemon-0830")
    moved = lib.wait_for(lambda: all(r["digest_key"].endswith(" 08:30") for r in held(db))
                         or None, 60, step=0.5)
    h1 = held(db)
    t.check(moved, "restarted with 08:30, its evaluation moves every held notice to an 08:30 "
            "slot", repr(h1))
    t.check(all(r["status"] == "pending" and r["attempts"] == 0 and r["ahead"] is True
                for r in h1) and smtp.count() == 0,
            "still held and never tried, none sent", repr(h1))
    keys = {}
    for r in h1:
        keys.setdefault(r["destination"], set()).add(r["digest_key"])
    t.check(keys and all(len(k) == 1 for k in keys.values()),
            "one slot per person: %s" % {p: sorted(k) for p, k in keys.items()})
    t.check(lib.wait_for(lambda: any("now wait for digest" in line for line in d.lines())
                         or None, 10, step=0.5),
            "the log says the held notices moved", "\n".join(d.lines()[-20:]))
    stop(t, d, "the daemon at 08:30")

    now = with_time(cfg, tmp, "at_once", None)
    d = hostile.Daemon(procs, tmp, now, name="daemon-now")
    people = sorted(keys)
    got = lib.wait_for(lambda: smtp.count() >= len(people) and
                       all(r["status"] == "delivered" for r in held(db)) or None, 90, step=0.5)
    h2 = held(db)
    mail = smtp.messages()
    t.check(got, "with digest_time null the held notices go at once (%d delivered)"
            % sum(r["status"] == "delivered" for r in h2), repr(h2))
    t.check(sorted(m["to"] for m in mail) == people,
            "one digest per person: %s" % people, repr([m["to"] for m in mail]))
    per = {p: sum(1 for r in h1 if r["destination"] == p) for p in people}
    t.check(all(len(m["items"]) == per[m["to"]] for m in mail),
            "each holds every notice held for that person (%s)" % per,
            repr([(m["to"], m["items"]) for m in mail]))
    stop(t, d, "the daemon at once")
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "digest_time_change", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
