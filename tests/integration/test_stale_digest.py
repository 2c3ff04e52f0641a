#!/usr/bin/python3
"""test_stale_digest: a held digest shows a notice whose alert has moved on as out of date.

Audit 10 (F2): a daily digest held for email.digest_time kept its notices as they were queued.
When the alert escalated to an urgent stage before the slot, the urgent email went, and then the
daily told the same supervisor "New: CP plan at 9 months" with the old facts, its subject and
summary counting it as news; when the plan ended before the slot (send_resolved false, the
default), the daily still announced "New" for it. ALERTS.md's digest lists "every notice for
that recipient since the last", so the notice is still listed, as out of date, saying how the
alert now stands.

On tests/fixtures/daemon.sql (C-INIT-1..3 on CP plans for neglect for 10 months: the 9-month
stage), email.digest_time left at its default (08:00 on the next working day):
  - the daemon holds every person's email notice for the slot, and is stopped;
  - C-INIT-1's plan ends yesterday (its alert resolves) and C-INIT-2's plan is found to have
    begun 16 months ago (its alert escalates to 15 months, an urgent stage);
  - `driftwatchd --once` evaluates, sends the escalation, and sends the held digests at once;
  - the held digest that lists C-INIT-3 as new lists C-INIT-1 and C-INIT-2 in a section of
    their own, "Out of date ...", saying one was resolved and the other is now at 15m; its
    subject counts them "(out of date)" and its summary does not count them as changes to
    review; the HTML part says the same.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwstale is dropped and created here. Standard library only.
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

STALE_TITLE = "Out of date"


def sections(text):
    """{title: its text} for the titled sections of a digest's plain text ("Title (N)" over a
    line of "=")."""
    out = {}
    parts = re.split(r"(?m)^(.+?)\n=+\n", text.replace("\r\n", "\n"))
    for i in range(1, len(parts) - 1, 2):
        out[re.sub(r" \(\d+\)$", "", parts[i].strip())] = parts[i + 1]
    return out


def run(t, procs, tmp):
    ca = lib.make_ca(tmp)
    db, smtp, cfg = hostile.held_digests(t, procs, tmp, ca, "dwstale")
    db.run("UPDATE casework.cp_plans SET end_date = current_date - 1 "
           "WHERE plan_id = 'CPP-INIT-1'; "
           "UPDATE casework.cp_plans SET start_date = current_date - interval '16 months' "
           "WHERE plan_id = 'CPP-INIT-2'")
    today = datetime.datetime.now(zoneinfo.ZoneInfo("Europe/London")).strftime("%Y-%m-%d")
    r = lib.run_once(cfg, today)
    t.check(r.rc == 0 and not r.sanitizer(), "--once evaluates and sends", r.diag())
    mail = smtp.messages()
    daily = [m for m in mail if "C-INIT-3" in m["text"] and "C-INIT-1" in m["text"]]
    t.check(daily, "a held digest lists C-INIT-3 and C-INIT-1 (%d emails in all)" % len(mail),
            "\n".join("%s: %s" % (m["to"], m["subject"]) for m in mail))
    if not daily:
        return
    m = daily[0]
    m["text"] = m["text"].replace("\r\n", "\n")
    sec = sections(m["text"])
    stale = next((v for k, v in sec.items() if k.startswith(STALE_TITLE)), "")
    fresh = "".join(v for k, v in sec.items() if not k.startswith(STALE_TITLE))
    t.check("C-INIT-3" in fresh and "C-INIT-3" not in stale,
            "C-INIT-3, unchanged, is news as it was", m["text"])
    t.check("C-INIT-1" in stale and "C-INIT-2" in stale and
            "C-INIT-1" not in fresh and "C-INIT-2" not in fresh,
            "C-INIT-1 and C-INIT-2 are listed in a section of their own, out of date",
            "sections: %s\n%s" % (list(sec), m["text"]))
    b1, b2 = lib.digest_entry(stale, "C-INIT-1"), lib.digest_entry(stale, "C-INIT-2")
    t.check(re.search(r"(?i)out of date:.*resolved", b1, re.S),
            "C-INIT-1's entry says its alert has since resolved", b1)
    t.check(re.search(r"(?i)out of date:.*15m", b2, re.S),
            "C-INIT-2's entry says its alert is now at 15m", b2)
    t.check("(out of date)" in m["subject"] and
            re.search(r"\b1 CP plan at 9 months(?! \(out)", m["subject"]),
            "the subject counts the two apart from the one that is news: %s" % m["subject"])
    t.check(re.search(r"\b1 change to review", m["text"]) and
            not re.search(r"\b3 changes to review", m["text"]),
            "the summary counts one change to review, not three",
            m["text"][:600])
    t.check(STALE_TITLE in m["html"] and "C-INIT-2" in m["html"],
            "the HTML part has the section too")
    esc = [x for x in mail if x["to"] == m["to"] and x is not m and "C-INIT-2" in x["text"]
           and re.search(r"Escalated to 15m", x["text"])]
    t.check(esc, "the escalation of C-INIT-2 went to %s in its own email" % m["to"],
            "\n".join("%s: %s" % (x["to"], x["subject"]) for x in mail))
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "stale_digest", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
