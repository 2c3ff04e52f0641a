#!/usr/bin/python3
"""test_reload_listen: a reload to an http.listen that cannot be bound keeps /healthz where it was.

Audit 9: a SIGHUP whose new http.listen was held by another process was logged as
"configuration applied", the old listener was closed and the new one never bound, so /healthz
and /metrics were gone until a restart (at start the same file is refused with exit 2). Now
the new address is bound before the old is let go; when it cannot be, the old keeps serving and
the log says so. A later reload to a free address moves the listener there.

On tests/fixtures/daemon.sql with the long-running daemon:
  - http.listen on port A, healthy;
  - port B held by a socket of this test, a reload to B: an error naming B, /healthz still on A;
  - port C free, a reload to C: /healthz answers on C, no longer on A.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwreload_listen is dropped and created here. Standard library only.
"""
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import hostile  # noqa: E402  (tests/lib/hostile.py: the daemon and its log)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)


def config(tmp, db, port):
    return lib.write_config(tmp, "reload-listen", {
        "database": {"conninfo": db.conninfo("dw-reload-listen"), "case_schema": "casework"},
        "timezone": "Europe/London",
        "addresses": lib.addresses(),
        "webhooks": [{"url": "http://127.0.0.1:9/none", "secret": lib.new_secret()}],
        "http": {"listen": "127.0.0.1:%d" % port}})


def run(t, procs, tmp):
    db = lib.Db("dwreload_listen")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "daemon.sql"))
    a, b, c = lib.free_port(), lib.free_port(), lib.free_port()
    cfg = config(tmp, db, a)
    d = hostile.start_healthy(t, procs, tmp, cfg, a)
    if d is None:
        return
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", b))
    holder.listen(1)
    try:
        config(tmp, db, b)
        mark = hostile.reload(t, d, "http.listen on a port another process holds")
        said = d.wait_log(r"reload: http\.listen 127\.0\.0\.1:%d cannot be bound.*stay on "
                          r"127\.0\.0\.1:%d" % (b, a), 10, since=mark)
        t.check(said is not None and said.startswith("<3>"),
                "an error names the address that cannot be bound and the one kept",
                "\n".join(d.since(mark)[-20:]))
        st = hostile.healthz(a)[0]
        t.check(st in (200, 503), "/healthz still answers on the old port (%s)" % st)
    finally:
        holder.close()
    config(tmp, db, c)
    hostile.reload(t, d, "http.listen on a free port")
    t.check(lib.wait_for(lambda: hostile.healthz(c)[0] in (200, 503), 10),
            "a reload to a free port moves /healthz there")
    t.check(hostile.healthz(a, timeout=2)[0] is None, "and the old port is let go")
    hostile.stop(d, t, "the daemon")
    # Audit 16 (M2): at a start, a port in use exited 2, which the unit never restarts after
    # (RestartPreventExitStatus=2), and the message named neither the file nor the key.
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", b))
    holder.listen(1)
    try:
        cfg = config(tmp, db, b)
        p = subprocess.run([lib.DAEMON, "-c", cfg], capture_output=True, text=True,
                           timeout=60, env=lib.daemon_env(), stdin=subprocess.DEVNULL)
    finally:
        holder.close()
    t.check(p.returncode == 1 and "%s: http.listen: cannot listen on \"127.0.0.1:%d\"" % (cfg, b)
            in p.stderr,
            "a start with http.listen on a port in use: exit 1 (a runtime failure the unit "
            "restarts after), naming the file and the key", "%s\n%s" % (p.returncode,
                                                                     p.stderr[-1500:]))


def main():
    t = Tap()
    return lib.run_test(t, "reload_listen", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
