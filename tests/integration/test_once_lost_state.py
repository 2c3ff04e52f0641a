#!/usr/bin/python3
"""test_once_lost_state: --once whose database goes away while it delivers ends, and says so.

Audit 18, F5: PostgreSQL restarted during --once's delivery pass, and the run never ended: it
sent on what it had claimed, none of it recorded, idle and with no connection, until SIGTERM.
Under a systemd timer that blocks every later run. Now the pass ends with the error once what is
in flight is over, the run exits 1, and what it claimed goes out again after its lease.

Generated data (dwgen, 5,000 children) and one webhook whose receiver answers each request after
1 s, so that the pass takes a while; delivery.lease_seconds 10:
  - the server sessions of --once are ended (pg_terminate_backend) once the receiver has had a
    few requests: --once exits 1 within 60 s, saying the state database connection was lost
    while delivering;
  - a second --once, after the lease, exits 0, and every notice in the outbox is delivered:
    every alert's webhook reached the receiver, one webhook-id each.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwonce_lost is dropped and created here. Standard library only.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

APP = "dw-once-lost"
DAY = "2026-12-01"


def run(t, procs, tmp):
    db = lib.Db("dwonce_lost")
    db.recreate()
    p = subprocess.run(["bash", os.path.join(lib.TOP, "bench", "load.sh"), "--dsn",
                        "host=%s port=%s dbname=%s user=%s" % (lib.PGHOST, lib.PGPORT, db.name,
                                                               lib.PGUSER),
                        "--children", "5000", "--seed", "11", "--as-of", DAY],
                       capture_output=True, text=True, timeout=300)
    if not t.check(p.returncode == 0, "5,000 generated children load", p.stderr[-2000:]):
        return
    hook = lib.Receiver(procs, tmp, "hook", routes=["/slow=stall:1"])
    cfg = lib.write_config(tmp, "once_lost", {
        "database": {"conninfo": db.conninfo(APP), "case_schema": "casework"},
        "timezone": "Europe/London",
        "link_template": "https://lcs.example/person/{child_id}",
        "addresses": lib.addresses(),
        "delivery": {"lease_seconds": 10},
        "webhooks": [{"url": hook.url("/slow"), "secret": lib.new_secret()}]})
    err_path = os.path.join(tmp, "once1.err")
    proc = procs.add(subprocess.Popen([lib.DAEMON, "-c", cfg, "--once", "--as-of", DAY],
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=open(err_path, "w"), env=lib.daemon_env()))
    started = lib.wait_for(lambda: len(hook.requests("/slow")) >= 5, 120, step=0.1)
    if not t.check(started, "--once's delivery pass starts (%d requests)"
                   % len(hook.requests("/slow")), open(err_path).read()[-2000:]):
        return
    ended = db.value("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                     "WHERE application_name = '%s'" % APP)
    t0 = time.monotonic()
    try:
        rc = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        rc = None
    err = open(err_path).read()
    t.check(rc == 1, "with its %s sessions ended mid-pass, --once exits 1 (%s after %.1f s)"
            % (ended, rc, time.monotonic() - t0), err[-2500:])
    t.check("state database connection was lost while delivering" in err,
            "... saying the state database connection was lost while delivering", err[-2500:])

    time.sleep(11)  # the lease of what it had claimed
    r = lib.run_once(cfg, DAY, timeout=300)
    left = db.value("SELECT count(*) FROM driftwatch.outbox WHERE status <> 'delivered'")
    alerts = int(db.value("SELECT count(*) FROM driftwatch.alerts WHERE status = 'firing'"))
    ids = {}
    for req in hook.requests("/slow"):
        data = (req["json"] or {}).get("data") or {}
        ids.setdefault(data.get("fingerprint") or data.get("child_id"), set()).add(
            req["headers"].get("webhook-id"))
    t.check(r.rc == 0 and left == "0", "a second --once exits 0 and every notice is delivered "
            "(exit %s, %s not delivered)" % (r.rc, left), r.err[-2000:])
    t.check(alerts > 0 and len(ids) >= alerts and all(len(v) == 1 for v in ids.values()),
            "... every firing alert's webhook reached the receiver (%d alerts, %d received), "
            "one webhook-id each" % (alerts, len(ids)))
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "once_lost_state", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
