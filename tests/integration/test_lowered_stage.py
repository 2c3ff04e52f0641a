#!/usr/bin/python3
"""test_lowered_stage: a stage the alert comes back down to is told, and is not escalated as
unanswered a second time.

Audit 11: a child reached 15 months on a CP plan, nobody answered, and both the 12- and the
15-month stages were escalated as unanswered. The chair then recorded a strategy (what the
15-month notice asks for); the alert went down to 12 months without a word to anyone, and two
working days later the service manager was told, a second time, that the 12-month stage was
"not answered". RESPONSES.md: "driftwatch sends one notice of type `alert.unanswered` for that
stage".

Hand-made data: a CP plan for neglect from 2026-03-01 (12 months on Mon 2027-03-01, 15 on Tue
2027-06-01), nobody answering; responses.escalate shortened to 2 working days for every stage;
a PLO strategy recorded on Fri 2027-06-04. `--once --as-of D` for each day, a real SMTP server:
  - 12m is escalated once (Wed 3 Mar), 15m once (Thu 3 Jun);
  - on 4 Jun the stage goes down to 12m: the supervisor's email heads it "Lowered to 12m" and
    its subject counts it "(lowered)"; the notice is an alert.updated (ALERTS.md's four types);
  - by Tue 8 Jun, 2 working days later, 12m is not escalated again;
  - C2, the same but its 12-month stage acknowledged on 1 Mar (through the responses module),
    is escalated at 15m only: back at 12m it was answered already.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwlowered is dropped and created here. Standard library only.
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
  ('SM', 'Manager', 'sm@la.example', NULL, NULL, 'service_manager'),
  ('SUP', 'Supervisor', 'sup@la.example', 'T1', 'SM', 'team_manager'),
  ('SW', 'Worker', 'sw@la.example', 'T1', 'SUP', 'social_worker'),
  ('CH', 'Chair', 'ch@la.example', NULL, NULL, 'cp_chair');
INSERT INTO children VALUES ('C1', 'F1', '2015-01-01', NULL, false),
                            ('C2', 'F2', '2015-01-01', NULL, false);
INSERT INTO allocations VALUES ('A1', 'C1', 'SW', '2025-01-01', NULL),
                               ('A2', 'C2', 'SW', '2025-01-01', NULL);
INSERT INTO cp_plans VALUES ('P1', 'C1', '2026-03-01', NULL, 'NEG', NULL, 'CH'),
                            ('P2', 'C2', '2026-03-01', NULL, 'NEG', NULL, 'CH');
"""
DAYS = ("2027-03-01", "2027-03-02", "2027-03-03", "2027-03-04", "2027-06-01", "2027-06-02",
        "2027-06-03", "2027-06-04", "2027-06-07", "2027-06-08")


def run(t, procs, tmp):
    db, smtp, cfg = lib.hand_made_mail(
        procs, tmp, lib.make_ca(tmp), "dwlowered", DATA,
        responses={"escalate": [{"rules": "*", "stages": "*", "after_working_days": 2,
                                 "to": ["service_manager"]}]})
    sent_before = {}
    for day in DAYS:
        if day == "2027-06-04":
            db.run("INSERT INTO casework.strategies VALUES "
                   "('S1', 'C1', 'plo', '2027-06-04', '2027-09-30'), "
                   "('S2', 'C2', 'plo', '2027-06-04', '2027-09-30')")
        sent_before[day] = smtp.count()
        r = lib.run_once(cfg, day)
        if r.rc != 0 or r.sanitizer():
            t.check(False, "--once --as-of %s" % day, r.diag())
            return
        if day == "2027-03-01":
            fp = db.value("SELECT fingerprint FROM driftwatch.alerts WHERE child_id = 'C2'")
            rc, out, err = lib.respond(cfg, day, "acknowledge", fp, actor="sup@la.example")
            t.check(rc == 0, "C2's 12-month stage is acknowledged on 1 Mar", out, err)
    t.check(True, "--once on each of %d days" % len(DAYS))
    ev = db.rows("SELECT e.as_of::text, e.kind, e.stage FROM driftwatch.alert_events e "
                 "JOIN driftwatch.alerts a USING (alert_id) WHERE a.child_id = 'C1' "
                 "ORDER BY event_id")
    seq = [(e["as_of"], e["kind"], e["stage"]) for e in ev]
    t.check(("2027-06-04", "lowered", "12m") in seq,
            "the strategy takes the alert down to 12m on 4 Jun", repr(seq))
    ua = [s for s in seq if s[1] == "unanswered"]
    t.check([s[2] for s in ua] == ["12m", "15m"],
            "12m and 15m are each escalated as unanswered once: %s" % ua, repr(seq))
    ev2 = db.rows("SELECT e.as_of::text, e.kind, e.stage FROM driftwatch.alert_events e "
                  "JOIN driftwatch.alerts a USING (alert_id) WHERE a.child_id = 'C2' "
                  "ORDER BY event_id")
    seq2 = [(e["as_of"], e["kind"], e["stage"]) for e in ev2]
    t.check(("2027-06-04", "lowered", "12m") in seq2 and
            [s[2] for s in seq2 if s[1] == "unanswered"] == ["15m"],
            "C2, acknowledged at 12m, is escalated at 15m only, not again at 12m", repr(seq2))
    mail = smtp.messages()[sent_before["2027-06-04"]:sent_before["2027-06-07"]]
    sup = [m for m in mail if m["to"] == "sup@la.example"]
    t.check(sup and "Lowered to 12m: " in " ".join(" ".join(m["text"].split()) for m in sup),
            "on 4 Jun the supervisor is told the stage went down to 12m",
            "\n".join("%s: %s" % (m["to"], m["subject"]) for m in mail))
    t.check(sup and any("(lowered)" in m["subject"] for m in sup),
            "and the subject says so: %s" % [m["subject"] for m in sup])
    types = db.rows("SELECT DISTINCT o.type FROM driftwatch.outbox o JOIN "
                    "driftwatch.alert_events e USING (event_id) WHERE e.kind = 'lowered'")
    t.check([x["type"] for x in types] == ["alert.updated"],
            "its notices are alert.updated: %s" % types)
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "lowered_stage", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
