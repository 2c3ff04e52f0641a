#!/usr/bin/python3
"""test_silent_network: sessions lost without a word from the network are noticed.

Audit 18, two faults a firewall or a stalled network make, where no reset reaches the daemon:
  F1  the listener's session goes silent (its flow expired): nothing noticed it, /healthz said
      ok, and every change waited for the next poll for the life of the process;
  F2  the state's sessions stall, the server's stay: the daemon's own lost session kept the
      leader lock for the server's TCP keepalive (two hours), and the daemon, reconnected,
      evaluated nothing, "ok: standby".
The long-running daemon on a real PostgreSQL (tests/fixtures/daemon.sql, triggers installed),
its case connections through one TCP relay (tcp_relay.py) and its state (state.conninfo, the
same database) through another; evaluation.interval_seconds 3600, so that only a
notification or a reconnection evaluates; takeover_seconds 2, query_timeout_seconds 10:
  - blackhole the case relay (every session's server side closed, the daemon's side kept open
    and silent), then a change for C-INF-01: its webhook arrives within 120 s, and the log
    says a case connection was lost;
  - freeze the state relay (both sides open, nothing relayed), then a change for C-INF-02: its
    webhook arrives within 150 s, and /healthz is 200 and not "standby" afterwards.
Before the fixes neither webhook came.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwsilent is dropped and created here. Standard library only.
"""
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import hostile  # noqa: E402  (tests/lib/hostile.py: the daemon in a hostile environment)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)


class Relay:
    """tcp_relay.py to the test PostgreSQL."""

    def __init__(self, procs, tmp, name):
        ready = os.path.join(tmp, name + ".port")
        self.proc = procs.add(subprocess.Popen(
            [lib.PY, os.path.join(lib.HERE, "tcp_relay.py"), "--port", str(lib.free_port()),
             "--target", str(lib.PGPORT), "--ready-file", ready, "--lifetime", "900"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, name + ".err"), "w")))
        if not lib.wait_for(lambda: os.path.exists(ready), 15):
            raise RuntimeError("tcp_relay %s did not start" % name)
        self.port = int(open(ready).read())

    def conninfo(self, db, app):
        return "host=127.0.0.1 port=%d dbname=%s user=%s application_name=%s" % (
            self.port, db.name, lib.PGUSER, app)


def change(db, appt, child):
    return hostile.commit_time(db, "INSERT INTO casework.appointments VALUES ('%s', '%s', 'gp', "
                               "now() - interval '1 hour', 'was_not_brought')" % (appt, child))


def run(t, procs, tmp):
    db = lib.Db("dwsilent")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "daemon.sql"))
    case_relay, state_relay = Relay(procs, tmp, "case_relay"), Relay(procs, tmp, "state_relay")
    hook = lib.Receiver(procs, tmp, "hook")
    http_port = lib.free_port()
    cfg = lib.write_config(tmp, "silent", {
        "database": {"conninfo": case_relay.conninfo(db, "dw-silent-case"),
                     "case_schema": "casework", "query_timeout_seconds": 10},
        "state": {"conninfo": state_relay.conninfo(db, "dw-silent-state")},
        "evaluation": {"interval_seconds": 3600, "takeover_seconds": 2},
        "timezone": "Europe/London",
        "link_template": "https://lcs.example/person/{child_id}",
        "addresses": lib.addresses(),
        "webhooks": [{"url": hook.url("/hook"), "secret": lib.new_secret()}],
        "http": {"listen": "127.0.0.1:%d" % http_port}})
    if not hostile.install_triggers(t, cfg):
        return
    d = hostile.start_healthy(t, procs, tmp, cfg, http_port)
    if not d:
        return
    t.check(hostile.wait_webhook(hook, "C-INIT-1", 60) is not None,
            "the first evaluation's notices go out")

    mark = d.mark()
    case_relay.proc.send_signal(signal.SIGUSR1)
    t0 = change(db, "APT-SILENT-1", "C-INF-01")
    req = hostile.wait_webhook(hook, "C-INF-01", 120, after=t0)
    t.check(req is not None, "F1: with the case sessions gone silent, a change still reaches "
            "the webhook receiver (%s)" % ("%.1f s" % (req["t"] - t0) if req else "nothing "
                                           "within 120 s"), "\n".join(d.since(mark)[-30:]))
    # the first of the case connections to fail is the one named (one line an outage)
    t.check(any(re.search(r"database: \S+( \S+)? connection \(database.conninfo\) lost", x)
                for x in d.since(mark)),
            "... and the log says a case connection was lost",
            "\n".join(d.since(mark)[-30:]))

    mark = d.mark()
    state_relay.proc.send_signal(signal.SIGUSR2)
    t0 = change(db, "APT-SILENT-2", "C-INF-02")
    req = hostile.wait_webhook(hook, "C-INF-02", 150, after=t0)
    t.check(req is not None, "F2: with the state's sessions stalled (the server's kept), a "
            "change still reaches the webhook receiver (%s)" % (
                "%.1f s" % (req["t"] - t0) if req else "nothing within 150 s"),
            "\n".join(d.since(mark)[-30:]))
    status, body, _ = hostile.healthz(http_port)
    t.check(status == 200 and "standby" not in body,
            "... and /healthz says ok, not standby (%s %s)" % (status, body.strip()[:120]))
    hostile.stop(d, t, "silent")
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "silent_network", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
