#!/usr/bin/python3
"""test_digest_answers: an email says how its alerts are answered when it goes, not when queued.

Audit 14 (moderate): an urgent digest said "Snoozed: until 1 Feb 2027" of a snooze withdrawn
half a minute before it was sent, and listed as a plain "New" item, with no answer, an alert
acknowledged before it was sent. RESPONSES.md: an unsnooze is "as if never snoozed from now
on", and CP chairs and managers were told a 15-month escalation was on hold by a decision that
no longer held.

On tests/fixtures/daemon.sql (C-INIT-1..3 on CP plans for neglect for 10 months: the 9-month
stage, to the supervisor dsup@), email.digest_time left at its default (the next working day):
  - the daemon holds every email notice for the slot, and is stopped;
  - C-INIT-1 is acknowledged, C-INIT-2 snoozed and then unsnoozed, C-INIT-3 snoozed;
  - `driftwatchd --once` sends the held digests at once (nothing in the case data changed);
  - in dsup@'s digest, C-INIT-1's entry says it is acknowledged and by whom, C-INIT-2's says
    no snooze, C-INIT-3's says the snooze in force; the HTML part says the same.

Environment: DRIFTWATCHD, RESPONSES_DRIVER, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP,
TEST_TMPDIR; database dwanswers is dropped and created here. Standard library only.
"""
import datetime
import os
import re
import sys
import zoneinfo

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import hostile  # noqa: E402  (tests/lib/hostile.py: the daemon in the background)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)


def run(t, procs, tmp):
    ca = lib.make_ca(tmp)
    db, smtp, cfg = hostile.held_digests(t, procs, tmp, ca, "dwanswers")
    fps = {r["child_id"]: r["fingerprint"] for r in db.rows(
        "SELECT child_id, fingerprint FROM driftwatch.alerts")}
    today = datetime.datetime.now(zoneinfo.ZoneInfo("Europe/London")).date()
    until = (today + datetime.timedelta(days=40)).isoformat()
    answers = [
        lib.respond(cfg, today.isoformat(), "acknowledge", fps["C-INIT-1"], "dsup@la.example",
                    "page", note="seen in supervision"),
        lib.respond(cfg, today.isoformat(), "snooze", fps["C-INIT-2"], "dsup@la.example",
                    "page", reason="legal_planning", until=until),
        lib.respond(cfg, today.isoformat(), "unsnooze", fps["C-INIT-2"], "dsup@la.example",
                    "page"),
        lib.respond(cfg, today.isoformat(), "snooze", fps["C-INIT-3"], "dsup@la.example",
                    "page", reason="legal_planning", until=until)]
    t.check(all(a[0] == 0 for a in answers), "the four answers are recorded", repr(answers))
    r = lib.run_once(cfg, today.isoformat())
    t.check(r.rc == 0 and not r.sanitizer(), "--once sends the held digests", r.diag())
    mail = [m for m in smtp.messages() if m["to"] == "dsup@la.example"
            and "C-INIT-1" in m["text"]]
    t.check(len(mail) == 1, "the supervisor's digest lists the three (%d)" % len(mail),
            "\n".join("%s: %s" % (m["to"], m["subject"]) for m in smtp.messages()))
    if not mail:
        return
    text = mail[0]["text"].replace("\r\n", "\n")
    b1, b2, b3 = (lib.digest_entry(text, c) for c in ("C-INIT-1", "C-INIT-2", "C-INIT-3"))
    t.check(re.search(r"Acknowledged: for this stage by dsup@la\.example \S+\s+seen\s+in\s+"
                      r"supervision", b1) and "Snoozed" not in b1,
            "C-INIT-1, acknowledged before the email went: its entry says so, and by whom", b1)
    t.check(b2 and "Snoozed" not in b2 and "Acknowledged" not in b2,
            "C-INIT-2, snoozed and then unsnoozed before the email went: no snooze shown", b2)
    t.check(re.search(r"Snoozed: until \d+ \w+ \d{4} by dsup@la\.example: Legal planning", b3),
            "C-INIT-3, snoozed before the email went: the snooze in force is shown", b3)
    html = mail[0]["html"]
    t.check("Acknowledged" in html and html.count("Snoozed") == 1,
            "the HTML part says the same (one acknowledgement, one snooze)",
            html[:300])
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "digest_answers", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
