#!/usr/bin/python3
"""test_null_columns: a NULL where CONTRACT.md allows none, in a column a rule can judge without.

Audit 13 (F1, F2): a referral with neither neglect nor a primary need had
"counts_for_neglect": null in re_referral's facts (RULES.md: it counts when neglect is true or
the primary need is N1, so false); and a NULL appointments.service, referrals.neglect or
strategies.kind (none of them ", null" in CONTRACT.md) was used without a word: "bad rows: none".
RULES.md, "Data quality": a NULL that should not be is counted by kind. A missed appointment is
missed whatever its service, so these rows are kept (leaving one out would miss a child's
alert) and counted as suspicious, as a dangling chair is.

Hand-made data, `--once --dry-run`:
  - C-RR: re-referred within 12 months of a neglect referral, by one with neglect and
    primary_need NULL: the re_referral alert's counts_for_neglect is false (not null);
  - C-WNB: a baby's missed appointment with no service: was_not_brought still fires;
  - C-CP: 16 months on a CP plan for neglect with a strategy of no kind decided in the
    episode: the escalation is held (no strategy_kinds configured), as before;
  - C-Y3K: born in the year 300000, which no calendar arithmetic can use (audit 15: adding
    months to it failed was_not_brought for every child): read as unknown and counted;
  - the summary counts referrals.null_neglect=1, appointments.null_service=1,
    strategies.null_kind=1, children.unusable_date_of_birth=1.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwnullcols is dropped and created here. Standard library only.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

AS_OF = "2026-06-15"
DATA = """
SET search_path = casework;
INSERT INTO teams VALUES ('T1', 'Team 1', 'mgr@la.example', NULL);
INSERT INTO workers VALUES
  ('S1', 'Sup', 'sup@la.example', 'T1', NULL, 'team_manager'),
  ('W1', 'Worker', 'w1@la.example', 'T1', 'S1', 'social_worker');
INSERT INTO children VALUES
  ('C-RR', 'F-1', '2018-01-01', NULL, false),
  ('C-WNB', 'F-2', '2026-02-01', NULL, false),
  ('C-CP', 'F-3', '2019-01-01', NULL, false),
  ('C-Y3K', 'F-4', '300000-01-01', NULL, false);
INSERT INTO allocations VALUES
  ('A-1', 'C-RR', 'W1', '2025-01-01', NULL),
  ('A-2', 'C-WNB', 'W1', '2026-02-10', NULL),
  ('A-3', 'C-CP', 'W1', '2025-01-01', NULL);
INSERT INTO referrals VALUES
  ('R-1', 'C-RR', '2025-09-01', 'N1', true, '2025-10-01', 'RC8'),
  ('R-2', 'C-RR', '2026-05-01', NULL, NULL, NULL, NULL);
INSERT INTO appointments VALUES
  ('AP-1', 'C-WNB', NULL, '2026-06-01 10:00+01', 'was_not_brought'),
  ('AP-2', 'C-Y3K', 'gp', '2026-06-02 10:00+01', 'was_not_brought');
INSERT INTO cp_plans VALUES
  ('CP-1', 'C-CP', '2025-02-01', NULL, 'NEG', NULL, NULL);
INSERT INTO strategies VALUES
  ('S-1', 'C-CP', NULL, '2026-05-01', '2026-12-01');
"""


def run(t, procs, tmp):
    db = lib.Db("dwnullcols")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"))
    db.run(DATA)
    cfg = lib.write_config(tmp, "nullcols", {
        "database": {"conninfo": db.conninfo("dwnullcols"), "case_schema": "casework"},
        "timezone": "Europe/London",
        "link_template": "https://lcs.example/person/{child_id}",
        "addresses": lib.addresses()})
    p = subprocess.run([lib.DAEMON, "-c", cfg, "--once", "--dry-run", "--as-of", AS_OF],
                       capture_output=True, text=True, timeout=120, env=lib.daemon_env())
    alerts = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
    t.check(p.returncode == 0, "--once --dry-run: exit 0 (%d alerts)" % len(alerts), p.stderr)
    rr = [a for a in alerts if a["rule"] == "re_referral" and a["child_id"] == "C-RR"]
    facts = rr[0]["facts"] if rr else {}
    t.check(rr and facts.get("counts_for_neglect") is False
            and facts.get("previous_counts_for_neglect") is True
            and [r.get("counts_for_neglect") for r in facts.get("referrals", [])]
            == [True, False],
            "C-RR re-referred: counts_for_neglect is false, never null, with neither neglect "
            "nor a primary need", json.dumps(facts))
    wnb = [a for a in alerts if a["rule"] == "was_not_brought" and a["child_id"] == "C-WNB"]
    t.check(len(wnb) == 1, "C-WNB's missed appointment with no service still fires",
            p.stdout[-1500:])
    cp = [a for a in alerts if a["rule"] == "cp_neglect_duration" and a["child_id"] == "C-CP"]
    t.check(len(cp) == 1 and cp[0]["stage"] == "12m" and cp[0]["facts"].get("escalation_held"),
            "C-CP: the strategy of no kind holds the 15-month escalation (no strategy_kinds)",
            json.dumps(cp))
    for kind, n in (("referrals", "null_neglect=1"), ("appointments", "null_service=1"),
                    ("strategies", "null_kind=1"),
                    ("children", "unusable_date_of_birth=1")):
        line = next((x for x in p.stderr.splitlines()
                     if x.strip().startswith("bad rows in %s:" % kind)), "")
        t.check(n in line, "the summary counts %s.%s" % (kind, n), p.stderr[-1500:])
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "null_columns", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
