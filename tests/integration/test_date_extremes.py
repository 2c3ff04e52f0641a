#!/usr/bin/python3
"""test_date_extremes: a date no calendar arithmetic can use is one bad row, not a failed rule.

Audit 17: one CIN plan of one child ending on 5874897-12-31 (PostgreSQL's last date), with a
second plan after it, failed cin_neglect_duration for every child ("date out of range": the end
plus merge_gap_days); the same for a CP plan (cp_neglect_duration and repeat_neglect_plan), and
one referral dated 4713-01-01 BC (the first date) failed re_referral ("timestamp out of range":
24 months before it). RULES.md, "Data quality": such a row is left out, counted by kind, and
no other child loses anything.

tests/fixtures/daemon.sql, `--once --dry-run`, then with children X1..X4 added, each with one
such row:
  - exit 0, no rule FAILED;
  - every alert of the fixture's children is as it was, byte for byte;
  - an end after year 9999 is read as no end: X1's and X2's plans are open, and they get their
    duration alerts as a plan with no end would;
  - a start (or referral, decision, appointment) before year 1 or after 9999 is counted as
    unusable_* in the bad-row summary.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwdateext is dropped and created here. Standard library only.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

EXTREMES = """
SET search_path = casework;
INSERT INTO children VALUES ('X1', 'FX1', '2015-01-01', NULL, false),
                            ('X2', 'FX2', '2015-01-01', NULL, false),
                            ('X3', 'FX3', '2015-01-01', NULL, false),
                            ('X4', 'FX4', '2015-01-01', NULL, false);
INSERT INTO allocations VALUES ('A-X1', 'X1', 'W-SW1', '2024-01-01', NULL),
                               ('A-X2', 'X2', 'W-SW1', '2024-01-01', NULL),
                               ('A-X3', 'X3', 'W-SW1', '2024-01-01', NULL),
                               ('A-X4', 'X4', 'W-SW1', '2024-01-01', NULL);
-- an end on PostgreSQL's last date, and a plan after it within merge_gap_days
INSERT INTO cin_plans VALUES ('P-X1a', 'X1', '2024-01-01', '5874897-12-31', true),
                             ('P-X1b', 'X1', '2025-06-01', NULL, true);
INSERT INTO cp_plans VALUES ('P-X2a', 'X2', '2024-01-01', '5874897-12-20', 'NEG', NULL, NULL),
                            ('P-X2b', 'X2', '2025-02-01', NULL, 'NEG', NULL, NULL);
-- a referral on PostgreSQL's first date, open, and one that counts
INSERT INTO referrals VALUES ('R-X3a', 'X3', '4713-01-01 BC', 'N1', true, NULL, NULL),
                             ('R-X3b', 'X3', '2026-10-01', 'N1', true, NULL, NULL);
-- a start and a decision after 9999, an appointment before year 1
INSERT INTO cin_plans VALUES ('P-X4', 'X4', '12000-01-01', NULL, true);
INSERT INTO strategies VALUES ('S-X4', 'X4', 'strategy_meeting', '12000-01-01', NULL);
INSERT INTO appointments VALUES ('AP-X4', 'X4', 'health', '0100-01-01 BC 10:00+00', 'attended');
"""


def dry_run(tmp, db):
    cfg = lib.write_config(tmp, "dateext", {
        "database": {"conninfo": db.conninfo("dwdateext"), "case_schema": "casework"},
        "timezone": "Europe/London",
        "link_template": "https://lcs.example/person/{child_id}",
        "addresses": lib.addresses()})
    p = subprocess.run([lib.DAEMON, "-c", cfg, "--once", "--dry-run"],
                       capture_output=True, text=True, timeout=300, env=lib.daemon_env())
    return p.returncode, [x for x in p.stdout.splitlines() if x.startswith("{")], p.stderr


def run(t, procs, tmp):
    db = lib.Db("dwdateext")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "daemon.sql"))
    rc0, before, err0 = dry_run(tmp, db)
    t.check(rc0 == 0 and before, "the fixture's dry run: exit 0, %d alerts" % len(before),
            err0[-2000:])
    db.run(EXTREMES)
    rc, after, err = dry_run(tmp, db)
    t.check(rc == 0 and "FAILED" not in err,
            "with the extreme dates: exit 0, no rule FAILED (exit %s)" % rc, err[-3000:])
    ours = sorted(a for a in after if json.loads(a)["child_id"] not in ("X1", "X2", "X3", "X4"))
    t.check(ours == sorted(before), "every alert of the fixture's children is as it was "
            "(%d and %d)" % (len(ours), len(before)), "\n".join(sorted(set(ours) ^ set(before))[:6]))
    got = {(json.loads(a)["rule"], json.loads(a)["child_id"]) for a in after}
    t.check(("cin_neglect_duration", "X1") in got,
            "X1's CIN plans (one ending in 5874897) are an open episode: cin_neglect_duration",
            repr(sorted(got)))
    t.check(("cp_neglect_duration", "X2") in got,
            "X2's CP plans (one ending in 5874897) are an open episode: cp_neglect_duration",
            repr(sorted(got)))
    for rel, kind in (("referrals", "unusable_referral_date"),
                      ("cin_plans", "unusable_start_date"),
                      ("strategies", "unusable_decided_on"),
                      ("appointments", "unusable_scheduled_for")):
        line = [x for x in err.splitlines() if ("bad rows in %s:" % rel) in x]
        t.check(line and (" %s=1" % kind) in line[0],
                "the bad-row summary counts %s.%s" % (rel, kind), "\n".join(line) or err[-2000:])
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "date_extremes", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
