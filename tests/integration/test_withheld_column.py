#!/usr/bin/python3
"""test_withheld_column: a column withheld by a grant fails only the statements that decide on it.

Audit 12 (F2): a column-level grant on teams without webhook_url (only a team's own webhook
needs it) failed all seven rules, since every rule reads teams for its recipients; the same with
children.disability, which only was_not_brought decides on. No alert was recorded or delivered
for anyone. Issue 9, item 3: "a rule that fails (a relation it cannot read, a column missing, a
query error) fails alone".

tests/fixtures/daemon.sql read by a role granted every column but teams.webhook_url and
children.disability; `--once --dry-run` as that role and as the tables' owner:
  - exit 1 naming was_not_brought (it decides on disability), and no other rule failing;
  - every other rule's alerts are the owner's, byte for byte (sorted lines);
  - a warning for each column says what is lost, with the GRANT that gives it back;
  - teams' bad rows are counted; children's, ranked by disability, could not be.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwwithheld and role dwwh_dw are dropped and created here. Standard library only.
"""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

ROLE = "dwwh_dw"
GRANTS = """
REVOKE SELECT ON casework.teams, casework.children FROM %(r)s;
GRANT SELECT (team_id, name, manager_email) ON casework.teams TO %(r)s;
GRANT SELECT (child_id, family_id, date_of_birth, expected_dob) ON casework.children TO %(r)s;
""" % {"r": ROLE}
# a team's own webhook, so that the owner's alerts name one the role cannot read; a baby's
# missed appointment (was_not_brought) and a re-referral
MORE = """
SET search_path = casework;
UPDATE teams SET webhook_url = 'https://hooks.example/team';
INSERT INTO appointments VALUES
  ('AP-WH-1', 'C-INF-01', 'health_visiting', now() - interval '10 days', 'was_not_brought');
INSERT INTO referrals VALUES
  ('R-WH-1', 'C-INIT-1', current_date - 200, 'N1', true, current_date - 150, 'closed'),
  ('R-WH-2', 'C-INIT-1', current_date - 10, 'N1', true, NULL, NULL);
"""


def dry_run(tmp, name, conninfo):
    cfg = lib.write_config(tmp, name, {
        "database": {"conninfo": conninfo, "case_schema": "casework"},
        "timezone": "Europe/London",
        "link_template": "https://lcs.example/person/{child_id}",
        "addresses": lib.addresses()})
    p = subprocess.run([lib.DAEMON, "-c", cfg, "--once", "--dry-run"], capture_output=True,
                       text=True, timeout=300, env=lib.daemon_env())
    alerts = [line for line in p.stdout.splitlines() if line.startswith("{")]
    return p.returncode, alerts, p.stderr


def run(t, procs, tmp):
    db = lib.Db("dwwithheld")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "daemon.sql"))
    db.run(MORE)
    conninfo = lib.reader_role(db, ROLE, GRANTS)
    owner_rc, owner, owner_err = dry_run(tmp, "owner", db.conninfo("dwwithheld"))
    t.check(owner_rc == 0 and owner, "the owner's dry run: exit 0, %d alerts" % len(owner),
            owner_err[-2000:])
    rc, alerts, err = dry_run(tmp, "role", conninfo)
    failed = sorted(set(re.findall(r"^\s+(\w+)\s+FAILED", err, re.M)))
    t.check(rc == 1 and failed == ["was_not_brought"],
            "as the role: exit 1, was_not_brought alone FAILED in the summary (%s)"
            % (", ".join(failed) or "none"), "rc %d\n%s" % (rc, err[-3000:]))

    def rule(line):
        return json.loads(line)["rule"]
    want = sorted(a for a in owner if rule(a) != "was_not_brought")
    got = sorted(a for a in alerts if rule(a) != "was_not_brought")
    t.check(want and got == want,
            "every other rule's alerts are the owner's, byte for byte (%d and %d)"
            % (len(got), len(want)),
            "\n".join(sorted(set(got) ^ set(want))[:6]))
    t.check(not any(rule(a) == "was_not_brought" for a in alerts)
            and any(rule(a) == "was_not_brought" for a in owner),
            "was_not_brought's alerts (the owner has some) are not guessed without disability")
    hook = [line for line in err.splitlines() if "column casework.teams.webhook_url" in line]
    t.check(len(hook) == 1 and hook[0].startswith("<4>")
            and "no team's own webhook is posted to" in hook[0]
            and "GRANT SELECT (webhook_url) ON casework.teams" in hook[0],
            "teams.webhook_url: one warning saying what is lost and the GRANT", "\n".join(hook))
    dis = [line for line in err.splitlines() if "column casework.children.disability" in line]
    t.check(len(dis) == 1 and "was_not_brought and the bad-row count of children fail" in dis[0],
            "children.disability: one warning naming what fails", "\n".join(dis))
    t.check(not any("bad rows of teams could not be counted" in line
                    for line in err.splitlines())
            and any("bad rows of children could not be counted" in line
                    for line in err.splitlines()),
            "teams' bad rows are counted; children's (ranked by disability) could not be",
            err[-2000:])
    lib.drop_reader_role(db, ROLE)


def main():
    t = Tap()
    return lib.run_test(t, "withheld_column", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
