#!/usr/bin/python3
"""test_web_outage: the web listener's database connection says an outage once, and backs off.

README ("Faults"): when PostgreSQL goes away the daemon logs it once and reconnects with
backoff (1 s doubling to 30 s). Audit 9: the web listener's own connection retried every 5 s
and logged a warning each time, 720 lines an hour, 17,000 for a night's outage.

The daemon with web.listen and a state.conninfo that nothing answers (so the web listener's
state connection cannot connect, as in an outage of that database), for 20 s:
  - the web listener says so once at warning ("web: cannot connect to the state database"),
    where the old 5-second retry said it four or five times;
  - the daemon runs on and stops cleanly.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwweb_outage is dropped and created here. Standard library only.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import hostile  # noqa: E402  (tests/lib/hostile.py: the daemon and its log)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)


def run(t, procs, tmp):
    db = lib.Db("dwweb_outage")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "daemon.sql"))
    dead = lib.free_port()  # nothing listens there
    web = lib.free_port()
    cfg = lib.write_config(tmp, "web-outage", {
        "database": {"conninfo": db.conninfo("dw-web-outage"), "case_schema": "casework"},
        "state": {"conninfo": "host=127.0.0.1 port=%d dbname=x user=x connect_timeout=2"
                  % dead},
        "addresses": lib.addresses(),
        "http": {"listen": None},
        "web": {"listen": "127.0.0.1:%d" % web, "trusted_proxies": ["127.0.0.1"]}})
    d = hostile.Daemon(procs, tmp, cfg, name="daemon-web-outage")
    time.sleep(20)
    said = [x for x in d.lines() if x.startswith("<4>web: cannot connect to the state database")]
    t.check(len(said) == 1, "in 20 s of outage the web listener says it once at warning "
            "(%d lines)" % len(said), "\n".join(d.lines()[-30:]))
    t.check(d.alive(), "the daemon runs on")
    hostile.stop(d, t, "the daemon")
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "web_outage", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
