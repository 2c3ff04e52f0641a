#!/usr/bin/python3
"""A secret that cannot be read fails its own channel only (issue 10, item 10): with the SMTP
password file unreadable (a directory) and one webhook's secret file unreadable, --once against
the test PostgreSQL and a real webhook receiver still delivers to the other webhook; the email
notices and those for the broken webhook wait in the outbox, untried, and each broken key is
named once. (The daemon makes its deliverer the same way, deliver_new.)

Environment as tests/integration/test_rules.py (DRIFTWATCHD, PG*, DW_TOP, TEST_TMPDIR).
"""

import json
import os
import subprocess
import sys
import tempfile
import time

TOP = os.environ.get("DW_TOP") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
import tap  # noqa: E402

DAEMON = os.environ.get("DRIFTWATCHD") or os.path.join(TOP, "build/san/driftwatchd")
HERE = os.path.join(TOP, "tests", "integration")
PGHOST = os.environ.get("PGHOST") or "127.0.0.1"
if PGHOST.startswith("/"):
    PGHOST = "127.0.0.1"
PGPORT = os.environ.get("PGPORT") or "15432"
PGUSER = os.environ.get("PGUSER") or "dwtest"
PGDATABASE = os.environ.get("PGDATABASE") or "dwtest"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def env():
    e = dict(os.environ)
    e.update(PGHOST=PGHOST, PGPORT=PGPORT, PGUSER=PGUSER, PGDATABASE=PGDATABASE)
    return e


def psql(args):
    return subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"] + args,
                          capture_output=True, text=True, env=env(), timeout=120)


def main():
    tmp = tempfile.mkdtemp(prefix="dw-chan-", dir=os.environ.get("TEST_TMPDIR"))
    r = psql(["-c", "SET client_min_messages = warning", "-c",
              "DROP SCHEMA IF EXISTS chan_t CASCADE", "-c", "DROP SCHEMA IF EXISTS chan_st CASCADE"])
    r = r if r.returncode else psql(["-v", "schema=chan_t", "-f",
                                     os.path.join(TOP, "rules/contract.sql"), "-f",
                                     os.path.join(TOP, "tests/fixtures/boundaries.sql")])
    if r.returncode:
        tap.ok(False, "load the boundary fixture", r.stderr)
        sys.exit(1)
    log = os.path.join(tmp, "hooks.jsonl")
    ready = os.path.join(tmp, "hooks.port")
    recv = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "webhook_receiver.py"),
                             "--port", "0", "--log", log, "--lifetime", "300", "--ready-file",
                             ready], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(ready) and open(ready).read().strip():
                break
            time.sleep(0.1)
        port = int(open(ready).read())
        broken = os.path.join(tmp, "a-directory")
        os.mkdir(broken)
        cfg = {"database": {"conninfo": "host=%s port=%s dbname=%s user=%s"
                            % (PGHOST, PGPORT, PGDATABASE, PGUSER),
                            "case_schema": "chan_t", "state_schema": "chan_st"},
               "addresses": {"fallback": "duty@la.example"},
               "email": {"smtp_url": "smtp://127.0.0.1:9", "tls": "none",
                         "from": "dw@la.example", "username": "dw", "password_file": broken},
               "webhooks": [{"url": "http://127.0.0.1:%d/broken" % port, "secret_file": broken},
                            {"url": "http://127.0.0.1:%d/good" % port, "secret": SECRET}]}
        path = os.path.join(tmp, "cfg.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        r = subprocess.run([DAEMON, "-c", path, "--once", "--as-of", "2026-11-21"],
                           capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300)
        err = r.stderr
        got = [json.loads(l) for l in open(log)] if os.path.exists(log) else []
        paths = {g.get("path") for g in got}
        tap.ok(len(got) > 10 and paths == {"/good"},
               "the webhook whose secret reads is delivered to (%d requests), the other is not "
               "tried" % len(got), paths, err[-2000:])
        tap.ok(err.count("email.password_file") == 1 and "is a directory" in err,
               "the unreadable SMTP password is named once, with why", err[-2000:])
        tap.ok(err.count("webhooks[0].secret_file") == 1,
               "the unreadable webhook secret is named once", err[-2000:])
        q = psql(["-c", "SELECT channel, status, count(*), sum(attempts) FROM chan_st.outbox "
                  "WHERE channel = 'email' OR destination LIKE '%/broken' GROUP BY 1, 2 "
                  "ORDER BY 1, 2"])
        rows = [l.split("|") for l in q.stdout.split()]
        tap.ok(rows and all(r_[1] == "pending" and r_[3] == "0" for r_ in rows)
               and {r_[0] for r_ in rows} == {"email", "webhook"},
               "email notices and the broken webhook's wait in the outbox, untried", q.stdout)
        q = psql(["-c", "SELECT count(*) FROM chan_st.outbox WHERE destination LIKE '%/good' "
                  "AND status = 'delivered'"])
        tap.ok(q.stdout.strip() == str(len(got)), "every notice to the good webhook is delivered",
               q.stdout, len(got))
    finally:
        recv.terminate()
        recv.wait()
    sys.exit(1 if tap.failures else 0)


if __name__ == "__main__":
    main()
