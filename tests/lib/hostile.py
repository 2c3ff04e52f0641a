"""hostile: what the tests of issue 10 ("hold up in a hostile environment") share.

The long-running daemon started under an open-file limit (prlimit, as the unit's LimitNOFILE
would set it), its log, its CPU time and descriptors from /proc; a receiver that accepts and
never answers (tests/integration/stall_server.py); a flood of idle connections; the unit's
LimitNOFILE. The database, receivers and SMTP server come from dwtest (imported here as lib),
beside this file in tests/lib/. Standard library only.
"""
import os
import re
import signal
import socket
import subprocess
import time
import http.client

import dwtest as lib  # (tests/lib/dwtest.py: Db, Receiver, SmtpServer, Procs, ...)

TOP = lib.TOP
HERE = lib.HERE
DAEMON = lib.DAEMON
PY = lib.PY
UNIT = os.path.join(TOP, "systemd", "driftwatch.service")
# systemd's default soft limit when a unit sets none
SYSTEMD_DEFAULT_NOFILE = 1024
SANITIZER_RE = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                          r"SUMMARY: UndefinedBehaviorSanitizer")


def unit_nofile():
    """(soft limit, how it was found): the unit's LimitNOFILE=, or systemd's default."""
    with open(UNIT, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"\s*LimitNOFILE\s*=\s*(\d+)(?::(\d+))?\s*$", line)
            if m:
                return int(m.group(1)), "LimitNOFILE=%s in %s" % (
                    m.group(0).split("=", 1)[1].strip(), os.path.relpath(UNIT, TOP))
    return SYSTEMD_DEFAULT_NOFILE, "the unit sets no LimitNOFILE: systemd's default soft limit"


class Daemon:
    """driftwatchd -c CFG in the background, optionally under prlimit --nofile=N:N."""

    def __init__(self, procs, tmp, cfg, name="daemon", nofile=None):
        self.log = os.path.join(tmp, name + ".log")
        args = [DAEMON, "-c", cfg]
        if nofile:
            # prlimit sets the limit on itself and then executes the daemon: one process
            args = ["prlimit", "--nofile=%d:%d" % (nofile, nofile), "--"] + args
        self.proc = procs.add(subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                               stdout=subprocess.DEVNULL,
                                               stderr=open(self.log, "w"),
                                               env=lib.daemon_env()))
        self.pid = self.proc.pid

    def text(self):
        with open(self.log, encoding="utf-8", errors="replace") as f:
            return f.read()

    def lines(self):
        return self.text().splitlines()

    def mark(self):
        return len(self.lines())

    def since(self, mark):
        return self.lines()[mark:]

    def wait_log(self, regex, timeout, since=0):
        """The first line after line `since` matching regex, waiting up to timeout seconds."""
        rx = re.compile(regex)

        def found():
            for line in self.since(since):
                if rx.search(line):
                    return line
            return None
        return lib.wait_for(found, timeout, step=0.05)

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        os.kill(self.pid, sig)

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def cpu_s(self):
        """User and system CPU seconds so far."""
        with open("/proc/%d/stat" % self.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def fds(self):
        try:
            return len(os.listdir("/proc/%d/fd" % self.pid))
        except OSError:
            return -1

    def sanitizer_report(self):
        m = SANITIZER_RE.search(self.text())
        return None if not m else self.text()[m.start():m.start() + 3000]


def healthz(port, timeout=5):
    """(status, body, seconds) of GET /healthz; status None when there was no answer."""
    t0 = time.monotonic()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c.request("GET", "/healthz")
        r = c.getresponse()
        body = r.read().decode("utf-8", "replace")
        c.close()
        return r.status, body, time.monotonic() - t0
    except (OSError, http.client.HTTPException) as e:
        return None, "no answer: %s" % e, time.monotonic() - t0


def page(port, path, headers=None, timeout=10):
    """(status, body) of GET path on 127.0.0.1:port; (None, why) when nothing answers."""
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        body = r.read().decode("utf-8", "replace")
        c.close()
        return r.status, body
    except (OSError, http.client.HTTPException) as e:
        return None, str(e)


def firing(db, schema="driftwatch"):
    """The number of firing alerts in the state schema; 0 while it is not made."""
    try:
        return int(db.value("SELECT count(*) FROM %s.alerts WHERE status = 'firing'" % schema))
    except RuntimeError:
        return 0


def wait_healthy(port, timeout):
    return lib.wait_for(lambda: healthz(port, timeout=2)[0] == 200, timeout, step=0.2)


def install_triggers(t, cfg):
    """driftwatchd --install-triggers on cfg's case schema, as a check."""
    r = subprocess.run([DAEMON, "-c", cfg, "--install-triggers"], capture_output=True,
                       text=True, timeout=60, env=lib.daemon_env())
    return t.check(r.returncode == 0, "--install-triggers on the case schema", r.stderr)


def reload(t, d, what):
    """SIGHUP, as a check that the daemon says "reload: configuration applied" within 60 s;
    the log mark from before it."""
    mark = d.mark()
    d.signal(signal.SIGHUP)
    line = d.wait_log(r"reload: configuration applied", 60, since=mark)
    t.check(line is not None, "SIGHUP with %s is applied" % what, "\n".join(d.since(mark)[-20:]))
    return mark


def start_healthy(t, procs, tmp, cfg, http_port):
    """The daemon on cfg, healthy within 60 s (a check); None when it is not."""
    d = Daemon(procs, tmp, cfg)
    if not t.check(wait_healthy(http_port, 60), "the daemon becomes healthy",
                   "\n".join(d.lines()[-30:])):
        return None
    return d


class StallServer:
    """stall_server.py: accepts every connection, never answers."""

    def __init__(self, procs, tmp, name="stall", lifetime=900):
        ready = os.path.join(tmp, name + ".port")
        self.status_file = os.path.join(tmp, name + ".status")
        self.proc = procs.add(subprocess.Popen(
            [PY, os.path.join(HERE, "stall_server.py"), "--port", "0", "--ready-file", ready,
             "--status-file", self.status_file, "--lifetime", str(lifetime)],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, name + ".err"), "w")))
        if not lib.wait_for(lambda: os.path.exists(ready), 15):
            raise RuntimeError("stall_server.py did not start")
        with open(ready) as f:
            self.port = int(f.read())

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def status(self):
        """(accepted so far, open now)."""
        try:
            with open(self.status_file) as f:
                a, o = f.read().split()
            return int(a), int(o)
        except (OSError, ValueError):
            return 0, 0

    def held(self, seconds):
        """The numbers of connections open, sampled every 50 ms for `seconds`, sorted."""
        seen = set()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            seen.add(self.status()[1])
            time.sleep(0.05)
        return sorted(seen)


class Flood:
    """n idle TCP connections to 127.0.0.1:port, opened as fast as the kernel takes them and
    never sent a byte; closed by close()."""

    def __init__(self, port, n):
        self.socks = []
        self.errors = 0
        for _ in range(n):
            try:
                s = socket.socket()
            except OSError:  # our own limit: the flood is what we could open
                self.errors += 1
                break
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            except OSError:
                self.errors += 1
                s.close()
                continue
            self.socks.append(s)

    def close(self):
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass
        self.socks = []


def commit_time(db, sql):
    """Runs sql as its own transaction; returns the time just before it was sent (so a latency
    measured from it is an upper bound)."""
    t0 = time.time()
    db.run(sql)
    return t0


def wait_webhook(receiver, child, timeout, after=0.0, path=None):
    """The first request to receiver about child (arriving after `after`), or None."""
    def find():
        for r in receiver.requests(path):
            data = (r["json"] or {}).get("data") or {}
            if r["t"] >= after and data.get("child_id") == child:
                return r
        return None
    return lib.wait_for(find, timeout, step=0.02)


def outbox_stall_note(db, url):
    return db.rows("SELECT status, attempts, count(*) AS n, min(last_error) AS error FROM "
                   "driftwatch.outbox WHERE destination = '%s' GROUP BY 1, 2 ORDER BY 1, 2"
                   % url.replace("'", "''"))


def stop(daemon, t, label):
    """SIGTERM: the daemon ends within 10 s with status 0 and no sanitizer report."""
    t0 = time.monotonic()
    daemon.signal(signal.SIGTERM)
    rc = daemon.wait_exit(15)
    took = time.monotonic() - t0
    t.check(rc == 0 and took <= 10.5, "%s: SIGTERM ends the daemon within 10 s with status 0 "
            "(%.2f s, status %s)" % (label, took, rc), "\n".join(daemon.lines()[-20:]))
    if rc is None:
        daemon.proc.kill()
        daemon.proc.wait()
    rep = daemon.sanitizer_report()
    t.check(rep is None, "%s: no sanitizer report" % label, rep or "")
    return rc


def held_digests(t, procs, tmp, ca, dbname):
    """tests/fixtures/daemon.sql with email digests held for the default email.digest_time:
    the daemon started, waited for until it holds every email notice, then stopped (each
    checked on t). (db, smtp, config path) for a test to answer or change, then send."""
    db, smtp, cfg = lib.daemon_fixture_mail(procs, tmp, ca, dbname, "smtp", [], hold=True)
    d = Daemon(procs, tmp, cfg, name="daemon-" + dbname)
    h = lib.wait_for(lambda: lib.held_email_notices(db) or None, 60, step=0.5)
    t.check(h and all(r["status"] == "pending" for r in h) and smtp.count() == 0,
            "the daemon holds every email notice for the digest time (%d)" % len(h or []),
            repr(h))
    d.signal(signal.SIGTERM)
    t.check(d.wait_exit(30) == 0 and not d.sanitizer_report(), "the daemon stops cleanly",
            "\n".join(d.lines()[-20:]))
    return db, smtp, cfg
