#!/usr/bin/python3
"""test_reload_state_schema: a reload to another state schema makes it and goes on there.

Audit 16 (S1): SIGHUP with a new database.state_schema said "configuration applied" but never
made the new schema: every evaluation then failed on `schema "..." does not exist`, and nothing
was evaluated or delivered until someone restarted the daemon. A start with the same file made
the schema at once.

tests/fixtures/daemon.sql, the real daemon with state_schema dwrs_one, then the same file with
dwrs_two and SIGHUP:
  - the daemon says the reload is applied, and dwrs_two gets the alerts (firing), as dwrs_one
    had them;
  - no evaluation fails after the reload;
  - the daemon stops cleanly.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwreloadstate is dropped and created here. Standard library only.
"""
import json
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import hostile  # noqa: E402  (tests/lib/hostile.py: the daemon in the background)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)


def run(t, procs, tmp):
    db = lib.Db("dwreloadstate")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "daemon.sql"))
    conf = {"database": {"conninfo": db.conninfo("dwreloadstate"), "case_schema": "casework",
                         "state_schema": "dwrs_one"},
            "timezone": "Europe/London",
            "link_template": "https://lcs.example/person/{child_id}",
            "addresses": lib.addresses(),
            "evaluation": {"interval_seconds": 3600}}
    cfg = lib.write_config(tmp, "reloadstate", conf)
    d = hostile.Daemon(procs, tmp, cfg, name="daemon-reloadstate")
    one = lib.wait_for(lambda: hostile.firing(db, "dwrs_one") or None, 60, step=0.5)
    t.check(one, "the daemon records the fixture's alerts in dwrs_one (%s)" % one,
            "\n".join(d.lines()[-20:]))
    conf["database"]["state_schema"] = "dwrs_two"
    with open(cfg, "w") as f:
        json.dump(conf, f)
    mark = d.mark()
    d.signal(signal.SIGHUP)
    two = lib.wait_for(lambda: hostile.firing(db, "dwrs_two") or None, 60, step=0.5)
    after = d.since(mark)
    t.check(any("configuration applied" in x for x in after) and two == one,
            "SIGHUP to state_schema dwrs_two: applied, and dwrs_two gets the same %s firing "
            "alerts" % one, "%s\n%s" % (two, "\n".join(after[-20:])))
    failed = [x for x in after if "does not exist" in x or "evaluation failed" in x]
    t.check(not failed, "no evaluation fails on the new schema", "\n".join(failed[:5]))
    d.signal(signal.SIGTERM)
    t.check(d.wait_exit(30) == 0 and not d.sanitizer_report(), "the daemon stops cleanly",
            "\n".join(d.lines()[-20:]))
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "reload_state_schema", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
