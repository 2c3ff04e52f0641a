#!/usr/bin/python3
"""test_read_only_state: a state database made read-only for a while is written again after.

Audit 18, F3: the state database was made read-only (ALTER DATABASE ... SET
default_transaction_read_only = on) and its sessions were renewed, then made writable again.
A session keeps the settings of when it began, so the daemon's stayed read-only: every write
failed, about once a second, until someone ended them. Now a write refused as read-only
(SQLSTATE 25006) ends that session and the daemon makes a new one, with backoff.

The long-running daemon on a real PostgreSQL (tests/fixtures/daemon.sql, triggers installed),
with one webhook:
  - the database is made read-only and the daemon's sessions are ended (they come back
    read-only); a change for C-INF-01 is committed (READ WRITE) and nothing can record it;
  - the database is made writable again: the change's webhook arrives within 120 s, and the
    daemon has said that the server refused a write;
  - the database stops accepting connections and the daemon's sessions are ended: the
    reconnect's new reason ("not currently accepting connections") is said at warning, where
    only the loss was, and the daemon is back once it accepts them again;
  - the database's statement_timeout is set to 1 ms and the daemon's sessions are ended (they
    come back with it), a change for C-INF-02 is committed, and the setting is taken back
    after 15 s: the change's webhook arrives within 240 s, and the daemon has said that the
    server cancelled a statement and that it started a new session. (The stop-42 daemon kept
    its sessions, each statement cancelled, until someone ended them: audit 18, F3's other
    half. A session is renewed once it is a minute old, so that while such a setting is in
    force a connection is remade once a minute, not at every statement.)

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwro is dropped and created here. Standard library only.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import hostile  # noqa: E402  (tests/lib/hostile.py: the daemon in a hostile environment)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

APP = "dw-ro"


def run(t, procs, tmp):
    db = lib.Db("dwro")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "daemon.sql"))
    hook = lib.Receiver(procs, tmp, "hook")
    http_port = lib.free_port()
    cfg = lib.write_config(tmp, "ro", {
        "database": {"conninfo": db.conninfo(APP), "case_schema": "casework"},
        "evaluation": {"interval_seconds": 3600},
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
    db._psql(["-c", "ALTER DATABASE dwro SET default_transaction_read_only = on"],
             db="postgres")
    db._psql(["-c", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = '%s'" % APP], db="postgres")
    time.sleep(5)
    t0 = hostile.commit_time(db, "BEGIN READ WRITE; INSERT INTO casework.appointments VALUES "
                             "('APT-RO-1', 'C-INF-01', 'gp', now() - interval '1 hour', "
                             "'was_not_brought'); COMMIT")
    early = hostile.wait_webhook(hook, "C-INF-01", 10, after=t0)
    t.check(early is None, "while the database is read-only the change is not recorded, so "
            "nothing is sent")
    db._psql(["-c", "ALTER DATABASE dwro RESET default_transaction_read_only"], db="postgres")
    t1 = time.time()
    req = hostile.wait_webhook(hook, "C-INF-01", 120, after=t0)
    t.check(req is not None, "once it is writable again, the change's webhook arrives (%s)"
            % ("%.1f s later" % (req["t"] - t1) if req else "nothing within 120 s"),
            "\n".join(d.since(mark)[-30:]))
    t.check(any("refused a write" in x for x in d.since(mark)),
            "... and the daemon said that the server refused a write",
            "\n".join(d.since(mark)[-30:]))
    # audit 18, F4: a reconnect failing for a new reason said it at debug level only
    mark = d.mark()
    db._psql(["-c", "ALTER DATABASE dwro ALLOW_CONNECTIONS false"], db="postgres")
    db._psql(["-c", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = '%s'" % APP], db="postgres")
    said = d.wait_log(r"attempt \d+ failed: .*not currently accepting connections", 30,
                      since=mark)
    db._psql(["-c", "ALTER DATABASE dwro ALLOW_CONNECTIONS true"], db="postgres")
    t.check(said is not None, "a reconnect refused for a new reason (the database not "
            "accepting connections) is said at warning", "\n".join(d.since(mark)[-20:]))
    back = d.wait_log(r"connections restored", 60, since=mark)
    t.check(back is not None, "... and the daemon is back once it accepts them",
            "\n".join(d.since(mark)[-20:]))
    # audit 18, F3's other half: a statement_timeout set for the database, then taken back
    mark = d.mark()
    db._psql(["-c", "ALTER DATABASE dwro SET statement_timeout = '1ms'"], db="postgres")
    db._psql(["-c", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = '%s'" % APP], db="postgres")
    time.sleep(3)
    t2 = hostile.commit_time(db, "SET statement_timeout = 0; INSERT INTO casework.appointments "
                             "VALUES ('APT-TO-1', 'C-INF-02', 'gp', now() - interval '1 hour', "
                             "'was_not_brought')")
    time.sleep(12)
    db._psql(["-c", "ALTER DATABASE dwro RESET statement_timeout"], db="postgres")
    t3 = time.time()
    req = hostile.wait_webhook(hook, "C-INF-02", 240, after=t2)
    t.check(req is not None, "once the database's 1 ms statement_timeout is taken back, the "
            "change made under it arrives (%s)"
            % ("%.1f s later" % (req["t"] - t3) if req else "nothing within 240 s"),
            "\n".join(d.since(mark)[-30:]))
    t.check(any("server cancelled a statement" in x and "new session" in x
                for x in d.since(mark)),
            "... and the daemon said that the server cancelled a statement and that it "
            "started a new session", "\n".join(d.since(mark)[-30:]))
    hostile.stop(d, t, "read-only state")
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "read_only_state", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
