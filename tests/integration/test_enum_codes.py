#!/usr/bin/python3
"""test_enum_codes: code columns of an enum type give the same alerts as text ones.

Audit 17: CP categories as an enum type (outside CONTRACT.md, which has them as text, and
--check-config says so) failed every rule that reads cp_plans, was_not_brought included, which
only asks whether a CP plan is open ("operator does not exist: cp_cat = text"); an enum outcome
of appointments failed the rules reading appointments. Codes are compared as text COLLATE "C",
as ids are.

tests/fixtures/daemon.sql, then the same rows with cp_plans.initial_category and
latest_category of one enum type and appointments.outcome of another:
  - --check-config: exit 2, naming the columns (they are not text) and saying that their labels
    are read as text (it said "ids are compared and joined as text");
  - --once --dry-run: exit 0, no rule FAILED, the same alerts byte for byte as with text.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwenum is dropped and created here. Standard library only.
"""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

# a was_not_brought hit, so that appointments' outcome decides an alert
MORE = """
INSERT INTO casework.appointments VALUES
  ('AP-EN-1', 'C-INF-01', 'health_visiting', now() - interval '10 days', 'was_not_brought');
"""
ENUMS = """
CREATE TYPE public.cp_cat AS ENUM ('NEG', 'PHY', 'EMO', 'SAB', 'MUL');
CREATE TYPE public.appt_outcome AS ENUM ('attended', 'was_not_brought', 'cancelled_by_family',
                                         'cancelled_by_service', 'pending');
ALTER TABLE casework.cp_plans
  ALTER COLUMN initial_category TYPE public.cp_cat USING initial_category::public.cp_cat,
  ALTER COLUMN latest_category TYPE public.cp_cat USING latest_category::public.cp_cat;
ALTER TABLE casework.appointments
  ALTER COLUMN outcome TYPE public.appt_outcome USING outcome::public.appt_outcome;
"""


def run(t, procs, tmp):
    db = lib.Db("dwenum")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "daemon.sql"))
    db.run(MORE)
    cfg = lib.write_config(tmp, "enum", {
        "database": {"conninfo": db.conninfo("dwenum"), "case_schema": "casework"},
        "timezone": "Europe/London",
        "link_template": "https://lcs.example/person/{child_id}",
        "addresses": lib.addresses()})
    r = lib.run_daemon(cfg, "--once", "--dry-run", timeout=300)
    rc0, text_out, err0 = r.rc, r.out, r.err
    want = sorted(x for x in text_out.splitlines() if x.startswith("{"))
    t.check(rc0 == 0 and any('"was_not_brought"' in x for x in want)
            and any('"cp_neglect_duration"' in x for x in want),
            "with text codes: exit 0, %d alerts, was_not_brought and cp_neglect_duration "
            "among them" % len(want), err0[-2000:])
    db.run(ENUMS)
    r = lib.run_daemon(cfg, "--check-config")
    rc, out, err = r.rc, r.out, r.err
    t.check(rc == 2 and "initial_category" in out + err and "outcome" in out + err,
            "--check-config: exit 2, naming the enum columns (exit %s)" % rc, (out + err)[-2000:])
    t.check(re.search(r"initial_category: type enum (public\.)?cp_cat is not the contract's "
                      r"text: its labels are read as text", out + err)
            and "ids are compared" not in out + err,
            "... saying an enum's labels are read as text, not that ids are joined as text",
            (out + err)[-2000:])
    r = lib.run_daemon(cfg, "--once", "--dry-run", timeout=300)
    rc, out, err = r.rc, r.out, r.err
    got = sorted(x for x in out.splitlines() if x.startswith("{"))
    t.check(rc == 0 and "FAILED" not in err, "with enum codes: exit 0, no rule FAILED (exit %s)"
            % rc, err[-3000:])
    t.check(got == want, "... the same alerts, byte for byte (%d and %d)" % (len(got), len(want)),
            "\n".join(sorted(set(got) ^ set(want))[:6]))
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "enum_codes", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
