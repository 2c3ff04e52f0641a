#!/usr/bin/python3
"""test_unanswered_one_digest: one run's news and its "not answered" escalations reach a person in
one email, not two.

Audit 11: on every day an alert.unanswered notice was queued, `--once` sent its readers a digest
of the evaluation's news and a second digest of the escalation pass (a key of its own), 45 times
for 16 people in 84 simulated days, most often a reminder and the "not answered" of the same
alert. ALERTS.md: "One message per recipient per digest, listing every notice for that
recipient since the last".

Hand-made data: one supervisor (sup@), a worker, two children on CP plans for neglect. C1's plan
began 2025-11-20, so it is at 15 months on Mon 2027-03-01; nobody answers, and its 15-month stage
reaches 5 working days (responses.escalate's default) on Mon 2027-03-08. C2's plan began
2026-06-08 and reaches 9 months on that same Monday.
  - `--once --as-of 2027-03-01`, then `--once --as-of 2027-03-08`, with a real SMTP server;
  - on 8 Mar sup@ gets one email holding both: "New: CP plan at 9 months" for C2 and
    "Not answered (...)" for C1; the head of service, told of C1 only, gets one too.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwua_one is dropped and created here. Standard library only.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

DATA = """
SET search_path = casework;
INSERT INTO teams VALUES ('T1', 'Team one', 't1-mgr@la.example', NULL);
INSERT INTO workers VALUES
  ('SUP', 'Supervisor', 'sup@la.example', 'T1', NULL, 'team_manager'),
  ('SW', 'Worker', 'sw@la.example', 'T1', 'SUP', 'social_worker'),
  ('CH', 'Chair', 'ch@la.example', NULL, NULL, 'cp_chair');
INSERT INTO children VALUES ('C1', 'F1', '2015-01-01', NULL, false),
                            ('C2', 'F2', '2016-01-01', NULL, false);
INSERT INTO allocations VALUES ('A1', 'C1', 'SW', '2025-01-01', NULL),
                               ('A2', 'C2', 'SW', '2025-01-01', NULL);
INSERT INTO cp_plans VALUES ('P1', 'C1', '2025-11-20', NULL, 'NEG', NULL, 'CH'),
                            ('P2', 'C2', '2026-06-08', NULL, 'NEG', NULL, 'CH');
"""


def run(t, procs, tmp):
    db, smtp, cfg = lib.hand_made_mail(procs, tmp, lib.make_ca(tmp), "dwua_one", DATA)
    r = lib.run_once(cfg, "2027-03-01")
    t.check(r.rc == 0 and not r.sanitizer(), "--once on Mon 1 Mar 2027", r.diag())
    before = smtp.count()
    r = lib.run_once(cfg, "2027-03-08")
    t.check(r.rc == 0 and not r.sanitizer() and "unanswered: 1 stage escalated" in r.err,
            "--once on Mon 8 Mar 2027 escalates C1's 15-month stage", r.diag())
    mail = [m for m in smtp.messages()][before:]
    sup = [m for m in mail if m["to"] == "sup@la.example"]
    t.check(len(sup) == 1, "sup@ gets one email on 8 Mar (%d)" % len(sup),
            "\n".join("%s: %s" % (m["to"], m["subject"]) for m in mail))
    items = [(k, c) for m in sup for k, c, _ in m["items"]]
    heads = [h for m in sup for _, _, h in m["items"]]
    t.check(("firing", "C2") in items and any(h.startswith("Not answered") for h in heads)
            and "C1" in "".join(m["text"] for m in sup),
            "it holds C2's new 9-month alert and C1's 'not answered'", repr(items), repr(heads))
    per = {}
    for m in mail:
        per[m["to"]] = per.get(m["to"], 0) + 1
    t.check(all(n == 1 for n in per.values()), "nobody gets two emails from one run: %s" % per)
    hos = [m for m in mail if m["to"] == "hos@la.example"]
    t.check(len(hos) == 1 and "C1" in hos[0]["text"],
            "the head of service gets C1's escalation", repr(per))
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "unanswered_one_digest", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
