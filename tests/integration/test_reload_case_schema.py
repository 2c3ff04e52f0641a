#!/usr/bin/python3
"""test_reload_case_schema: a reload naming a case schema that does not exist is refused.

Audit 16: `--check-config` refused a file whose database.case_schema did not exist, but a SIGHUP
to the same file said "configuration applied", and every rule then failed on every evaluation
until someone noticed and put it right.

tests/fixtures/daemon.sql in schema casework, the real daemon, then:
  1. the file changed to case_schema "casewrok" (a typo) and SIGHUP: the log names
     database.case_schema and the schema, and keeps the configuration in use; no rule fails,
     and /healthz stays ok;
  2. SIGHUP again with the typo still there: refused again (not applied the second time);
  3. a real second schema (a copy of casework) and SIGHUP: applied, and the evaluation that
     follows fails no rule.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwreloadcase is dropped and created here. Standard library only.
"""
import json
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import hostile  # noqa: E402  (tests/lib/hostile.py: the daemon in the background)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)


def sighup(d, cfg, conf, schema):
    conf["database"]["case_schema"] = schema
    with open(cfg, "w") as f:
        json.dump(conf, f)
    mark = d.mark()
    d.signal(signal.SIGHUP)
    return mark


def run(t, procs, tmp):
    db = lib.Db("dwreloadcase")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "daemon.sql"))
    http_port = lib.free_port()
    conf = {"database": {"conninfo": db.conninfo("dwreloadcase"), "case_schema": "casework"},
            "timezone": "Europe/London",
            "link_template": "https://lcs.example/person/{child_id}",
            "addresses": lib.addresses(),
            "http": {"listen": "127.0.0.1:%d" % http_port},
            "evaluation": {"interval_seconds": 3600}}
    cfg = lib.write_config(tmp, "reloadcase", conf)
    d = hostile.Daemon(procs, tmp, cfg, name="daemon-reloadcase")
    one = lib.wait_for(lambda: hostile.firing(db) or None, 60, step=0.5)
    t.check(one, "the daemon records the fixture's alerts (%s)" % one,
            "\n".join(d.lines()[-20:]))

    for attempt in ("first", "second"):
        mark = sighup(d, cfg, conf, "casewrok")
        said = d.wait_log(r"case_schema: schema \"casewrok\" does not exist", 30, since=mark)
        after = d.since(mark)
        t.check(said is not None and (cfg + ": database.case_schema") in said
                and "keeping the configuration in use" in said,
                "SIGHUP (%s) to case_schema \"casewrok\": refused, naming the key and the "
                "schema" % attempt, "\n".join(after[-20:]))
        t.check(not any("configuration applied" in x for x in after),
                "... and not applied", "\n".join(after[-20:]))
        st, body, _ = hostile.healthz(http_port)
        t.check(st == 200 and body.strip() == "ok", "... /healthz stays ok (%s)" % st, body)

    # the running configuration still evaluates: a full evaluation on demand fails nothing
    mark = d.mark()
    db.run("NOTIFY driftwatch_all, 'test'")
    ended = d.wait_log(r"evaluated everyone as of", 60, since=mark)
    failed = [x for x in d.since(mark) if "FAILED" in x or "does not exist" in x]
    t.check(ended is not None and not failed,
            "the configuration kept in use evaluates everyone with no rule failing",
            "\n".join(failed[:5] or d.since(mark)[-10:]))

    db.run("ALTER SCHEMA casework RENAME TO casework2")
    mark = sighup(d, cfg, conf, "casework2")
    applied = d.wait_log(r"reload: configuration applied", 60, since=mark)
    t.check(applied is not None, "SIGHUP to case_schema \"casework2\" (it exists): applied",
            "\n".join(d.since(mark)[-20:]))
    ended = d.wait_log(r"evaluated everyone as of", 60, since=mark)
    failed = [x for x in d.since(mark) if "FAILED" in x or "does not exist" in x]
    t.check(ended is not None and not failed, "... everyone is evaluated on it, no rule failing",
            "\n".join(failed[:5] or d.since(mark)[-10:]))
    t.check(hostile.firing(db) == one, "... the alerts are as they were (%s)" % hostile.firing(db))
    hostile.stop(d, t, "the daemon")
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "reload_case_schema", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
