#!/usr/bin/python3
"""test_rls_while_running: row-level security switched on while the daemon runs is said, once.

Audit 12 (F6): the daemon asked about row-level security only when it started. A policy put on
cp_plans while it ran hid a child's plan from the rules, and the next evaluation resolved the
child's 15-month CP alert "without a word" (the brief: "never drop a child silently").

tests/fixtures/daemon.sql, read by a role of its own (no superuser, no BYPASSRLS, not the
tables' owner) with its own state schema; the real daemon evaluating every 10 s:
  - once an evaluation has recorded C-INIT-1's CP alert, `ENABLE ROW LEVEL SECURITY` on
    cp_plans (no policy: every row hidden from the role) is warned of, naming the relation and
    what it does to the children's alerts;
  - said once, not again at the next evaluation;
  - switched off again, a notice says so.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwrls and role dwrls_dw are dropped and created here. Standard library only.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import hostile  # noqa: E402  (tests/lib/hostile.py: the daemon in the background)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

ROLE = "dwrls_dw"
WARNED = r"since the last evaluation, relation casework\.cp_plans: row-level security is enabled"


def value_or_none(db, sql):
    """A value, or None while the daemon has not made its state schema's tables yet."""
    try:
        return db.value(sql)
    except RuntimeError:
        return None


def evaluations(d):
    return sum(1 for line in d.lines() if "evaluated everyone" in line)


def run(t, procs, tmp):
    db = lib.Db("dwrls")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "daemon.sql"))
    conninfo = lib.reader_role(db, ROLE, "CREATE SCHEMA dwrls_state AUTHORIZATION %s;" % ROLE)
    cfg = lib.write_config(tmp, "rls", {
        "database": {"conninfo": conninfo, "case_schema": "casework",
                     "state_schema": "dwrls_state"},
        "timezone": "Europe/London",
        "link_template": "https://lcs.example/person/{child_id}",
        "addresses": lib.addresses(),
        "evaluation": {"interval_seconds": 10}})
    d = hostile.Daemon(procs, tmp, cfg, name="daemon-rls")
    cp = ("SELECT count(*) FROM dwrls_state.alerts WHERE rule = 'cp_neglect_duration' "
          "AND child_id = 'C-INIT-1' AND status = 'firing'")
    fired = lib.wait_for(lambda: value_or_none(db, cp) == "1" or None, 60, step=0.5)
    t.check(fired, "before: C-INIT-1's CP alert is recorded, firing", "\n".join(d.lines()[-20:]))
    t.check(not any("row-level security" in line for line in d.lines()),
            "before: nothing is said of row-level security (there is none)",
            "\n".join(line for line in d.lines() if "row-level security" in line))

    db.run("ALTER TABLE casework.cp_plans ENABLE ROW LEVEL SECURITY")
    line = d.wait_log(WARNED, 60)
    t.check(line and line.startswith("<4>") and "role dwrls_dw" in line
            and "resolved as if their cases had moved on" in line,
            "switched on while running: a warning names the relation, the role and what it "
            "does to the alerts", line or "\n".join(d.lines()[-20:]))
    after = evaluations(d)
    more = lib.wait_for(lambda: evaluations(d) >= after + 2 or None, 60, step=0.5)
    said = sum(1 for line in d.lines() if "row-level security is enabled" in line)
    t.check(more and said == 1, "said once: not again at the evaluations after it (%d)" % said,
            "\n".join(d.lines()[-20:]))

    db.run("ALTER TABLE casework.cp_plans DISABLE ROW LEVEL SECURITY")
    gone = d.wait_log(r"row-level security no longer hides rows", 60)
    t.check(gone and gone.startswith("<5>"), "switched off: a notice says so",
            gone or "\n".join(d.lines()[-20:]))
    d.proc.terminate()
    d.proc.wait(30)
    lib.drop_reader_role(db, ROLE)


def main():
    t = Tap()
    return lib.run_test(t, "rls_while_running", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
