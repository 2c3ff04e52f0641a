#!/usr/bin/python3
"""test_types_named: a column of a type outside the contract is named where it hurts.

Audit 17: with referrals.referral_date held as text, the rules that read referrals failed with
"function isfinite(text) does not exist", naming no column (only the warnings at start did),
and --check-config said of it what it says of a timestamp ("a time of day moves a day"); a
date in appointments.scheduled_for got the words of a time without its zone.

tests/fixtures/boundaries.sql (its main day, 2026-11-21), then referral_date as text and
scheduled_for as date:
  - --check-config: exit 2; the text date "cannot be compared with dates: the rules that read
    it fail", the date "has no time of day: it is read as midnight", neither with the other's
    words;
  - --once --dry-run: exit 1; each rule that reads referrals FAILED, its error naming
    casework.referrals.referral_date; the bad-row count of referrals likewise; the rules that
    do not read referrals still give their alerts.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwtypes is dropped and created here. Standard library only.
"""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

DAY = "2026-11-21"
RETYPE = """
ALTER TABLE casework.referrals ALTER COLUMN referral_date TYPE text;
ALTER TABLE casework.appointments ALTER COLUMN scheduled_for TYPE date;
"""
COLUMN = "casework.referrals.referral_date"


def run(t, procs, tmp):
    db = lib.Db("dwtypes")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "boundaries.sql"))
    db.run(RETYPE)
    cfg = lib.write_config(tmp, "types", {
        "database": {"conninfo": db.conninfo("dwtypes"), "case_schema": "casework"},
        "timezone": "Europe/London",
        "link_template": "https://lcs.example/person/{child_id}",
        "addresses": lib.addresses()})
    r = lib.run_daemon(cfg, "--check-config")
    said = r.out + r.err
    text_date = [x for x in said.splitlines() if "referrals.referral_date: type text" in x]
    date_time = [x for x in said.splitlines()
                 if "appointments.scheduled_for: type date" in x]
    t.check(r.rc == 2, "--check-config: exit 2 (exit %s)" % r.rc, said[-2000:])
    t.check(len(text_date) == 1 and "cannot be compared with dates: the rules that read it fail"
            in text_date[0] and "time of day moves" not in text_date[0],
            "... a text date: the rules that read it fail", "\n".join(text_date) or said[-2000:])
    t.check(len(date_time) == 1 and "has no time of day: it is read as midnight" in date_time[0]
            and "without its zone" not in date_time[0],
            "... a date for a time: read as midnight", "\n".join(date_time) or said[-2000:])

    r = lib.run_daemon(cfg, "--once", "--dry-run", "--as-of", DAY, timeout=300)
    failed = dict(re.findall(r"^\s+(\w+)\s+FAILED: (.*)$", r.err, re.M))
    alerts = [x for x in r.out.splitlines() if x.startswith("{")]
    t.check(r.rc == 1 and "re_referral" in failed and "worker_change" in failed,
            "--once --dry-run: exit 1, the rules that read referrals FAILED (exit %s, %s)"
            % (r.rc, sorted(failed)), r.err[-3000:])
    t.check(all(COLUMN in why for why in failed.values()) and failed,
            "... each naming %s" % COLUMN, "\n".join("%s: %s" % kv for kv in failed.items()))
    quality = [x for x in r.err.splitlines() if "bad rows of referrals could not be counted" in x]
    t.check(quality and COLUMN in quality[0], "... and so does the bad-row count of referrals",
            "\n".join(quality) or r.err[-2000:])
    t.check(any('"cin_neglect_duration"' in x for x in alerts)
            and any('"cp_neglect_duration"' in x for x in alerts),
            "... the rules that do not read referrals give their alerts (%d)" % len(alerts))
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "types_named", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
