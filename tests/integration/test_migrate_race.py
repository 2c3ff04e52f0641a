#!/usr/bin/python3
"""test_migrate_race: several driftwatchd starting at once on an empty state schema migrate it
once, and none of them says a migration failed.

README ("Several instances"): "Daemons starting together on an empty database migrate it
once." Audit 9: three daemons started together ended right, but one logged "<3>state schema
dwrace: migration to version 11 failed: ... already exists": after losing a race once it did not
read the version again when it lost the next. Each loss means another daemon committed that
migration, so it now reads the version again each time.

Three rounds, each three `driftwatchd --once` at once on a new state schema of
tests/fixtures/daemon.sql: all exit 0, none logs a failed migration, the schema is at its last
version once, and the first day's alerts are recorded once.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwmigrate_race is dropped and created here. Standard library only.
"""
import datetime
import os
import subprocess
import sys
import zoneinfo

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

PROCS = 3


def run(t, procs, tmp):
    db = lib.Db("dwmigrate_race")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "daemon.sql"))
    today = datetime.datetime.now(zoneinfo.ZoneInfo("Europe/London")).strftime("%Y-%m-%d")
    for rnd in range(3):
        schema = "race_%d" % rnd
        cfg = lib.write_config(tmp, "race-%d" % rnd, {
            "database": {"conninfo": db.conninfo("dw-race"), "case_schema": "casework",
                         "state_schema": schema},
            "timezone": "Europe/London", "addresses": lib.addresses(),
            "http": {"listen": None}})
        ps = [subprocess.Popen([lib.DAEMON, "-c", cfg, "--once", "--as-of", today],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, env=lib.daemon_env())
              for _ in range(PROCS)]
        outs = [p.communicate(timeout=120) for p in ps]
        errs = [e for _, e in outs]
        failed = [x for e in errs for x in e.splitlines() if "migration to version" in x and
                  "failed" in x]
        t.check(all(p.returncode == 0 for p in ps) and not failed and
                not any("Sanitizer" in e for e in errs),
                "round %d: %d --once at once on an empty state schema all exit 0, none says a "
                "migration failed" % (rnd + 1, PROCS),
                "exits %s\n%s" % ([p.returncode for p in ps], "\n".join(failed or errs)[:3000]))
        v = db.value("SELECT count(*) || ' ' || max(version) FROM %s.schema_version" % schema)
        alerts = db.value("SELECT count(*) FROM %s.alerts" % schema)
        events = db.value("SELECT count(*) FROM %s.alert_events WHERE kind = 'firing'" % schema)
        t.check(v.split()[0] == v.split()[1] and alerts == events and int(alerts) > 0,
                "round %d: each version recorded once (%s), each alert fired once (%s alerts, "
                "%s firing events)" % (rnd + 1, v, alerts, events))
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "migrate_race", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
