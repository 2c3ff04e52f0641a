"""dwtest: what the Python integration tests share: the test PostgreSQL through psql (Db), the
servers they start on loopback (Receiver: tests/integration/webhook_receiver.py, SmtpServer:
tests/integration/smtp_server.py, a test CA), every process stopped at the end (Procs), the
daemon run once (run_once), the mail a server took, parsed (read_mail), configuration files and
scratch directories. Result lines are tests/lib/tap.py's.

    sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
    import dwtest as lib

Environment: DRIFTWATCHD (default build/san/driftwatchd), PGHOST PGPORT PGUSER of a running
server (defaults 127.0.0.1 15432 dwtest), DW_TOP, TEST_TMPDIR. Loopback ports 20000-29999.
Standard library only.
"""
import base64
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from email import policy
from email.parser import BytesParser

TOP = os.environ.get("DW_TOP") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
HERE = os.path.join(TOP, "tests", "integration")  # the servers, run as programs
DAEMON = os.environ.get("DRIFTWATCHD") or os.path.join(TOP, "build", "san", "driftwatchd")
PY = "/usr/bin/python3"
# build/san/responses_driver: a response recorded through the responses module itself
RESPONSES_DRIVER = os.environ.get("RESPONSES_DRIVER") or os.path.join(
    os.path.dirname(DAEMON), "responses_driver")
PGHOST = os.environ.get("PGHOST") or "127.0.0.1"
if PGHOST.startswith("/"):
    PGHOST = "127.0.0.1"
PGPORT = os.environ.get("PGPORT") or "15432"
PGUSER = os.environ.get("PGUSER") or "dwtest"


# ---------------------------------------------------------------------------------------------
# PostgreSQL through psql

class Db:
    def __init__(self, name):
        self.name = name
        self.env = dict(os.environ, PGHOST=PGHOST, PGPORT=PGPORT, PGUSER=PGUSER,
                        PGDATABASE=name, PGOPTIONS="-c client_min_messages=warning")

    def conninfo(self, app=None):
        s = "host=%s port=%s dbname=%s user=%s" % (PGHOST, PGPORT, self.name, PGUSER)
        return s + (" application_name=%s" % app if app else "")

    def _psql(self, args, db=None, stdin=None):
        cmd = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db or self.name] + args
        p = subprocess.run(cmd, env=self.env, input=stdin, capture_output=True, text=True,
                           timeout=120)
        if p.returncode != 0:
            raise RuntimeError("psql %s failed: %s" % (" ".join(args)[:200], p.stderr.strip()))
        return p.stdout

    def recreate(self):
        self._psql(["-c", 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % self.name], db="postgres")
        self._psql(["-c", 'CREATE DATABASE "%s"' % self.name], db="postgres")

    def drop(self):
        try:
            self._psql(["-c", 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % self.name],
                       db="postgres")
        except (RuntimeError, subprocess.SubprocessError):
            pass

    def load(self, *files, schema="casework"):
        args = ["-v", "schema=" + schema]
        for f in files:
            args += ["-f", f]
        self._psql(args)

    def run(self, sql):
        self._psql(["-c", sql])

    def rows(self, sql):
        """The rows of one query as a list of dicts (through json, so types survive)."""
        out = self._psql(["-At", "-c",
                          "SELECT coalesce(json_agg(q), '[]') FROM (%s) q" % sql])
        return json.loads(out)

    def value(self, sql):
        out = self._psql(["-At", "-c", sql]).strip()
        return out


class PsqlSession:
    """A psql session kept open (application_name app), whose statements are sent one by one
    without waiting for them (a LOCK may wait); close() rolls back what it holds and ends it."""

    def __init__(self, db, app=None):
        env = dict(db.env, PGAPPNAME=app) if app else db.env
        self.p = subprocess.Popen(["psql", "-X", "-q", "-At", "-d", db.name],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env)
        self.app = app

    def send(self, sql):
        self.p.stdin.write(sql + "\n")
        self.p.stdin.flush()

    def close(self):
        if self.p.stdin.closed:
            return
        try:
            self.p.stdin.write("ROLLBACK;\n")
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(timeout=10)


def hold(db, sql):
    """A PsqlSession that has run sql in a transaction it keeps open until close(): what sql
    takes (a lock, rows FOR UPDATE) is held by another session. Raises when sql failed."""
    s = PsqlSession(db)
    s.send("\\set ON_ERROR_STOP 1\nBEGIN; %s; SELECT 'held';" % sql)
    line = s.p.stdout.readline().strip()
    while line and line != "held":
        line = s.p.stdout.readline().strip()
    if line != "held":
        s.close()
        raise RuntimeError("could not hold %s: %s" % (sql, s.p.stderr.read()))
    return s


# ---------------------------------------------------------------------------------------------
# processes: receivers, SMTP servers, the daemon

CHROMIUM = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
BROWSER_NEEDS = ("chromium (%s) and the npm packages puppeteer-core, axe-core (npm ci in "
                 "tests/integration) are installed" % CHROMIUM)


def browser_ready():
    """Whether digest_browser.js can run: chromium and its npm packages are there."""
    return os.access(CHROMIUM, os.X_OK) and all(
        os.path.isdir(os.path.join(HERE, "node_modules", x))
        for x in ("puppeteer-core", "axe-core"))


def page_file(tmp, name, html):
    """html saved as TMP/screenshots/NAME for the browser, beside its screenshots: (the
    screenshots' directory, the file)."""
    shots = os.path.join(tmp, "screenshots")
    os.makedirs(shots, exist_ok=True)
    page = os.path.join(shots, name)
    with open(page, "w", encoding="utf-8") as f:
        f.write(html)
    return shots, page


def digest_browser(args, timeout=300):
    """digest_browser.js with args (its JSON argument; the chromium is added): the finished
    process and its last line of output parsed, or {} when there is none."""
    p = subprocess.run(["node", os.path.join(HERE, "digest_browser.js"),
                        json.dumps(dict(args, chromium=CHROMIUM))],
                       capture_output=True, text=True, timeout=timeout)
    try:
        got = json.loads(p.stdout.strip().splitlines()[-1]) if p.stdout.strip() else {}
    except ValueError:
        got = {}
    return p, got


_HANDED_OUT = set()


def free_port(taken=()):
    """A free TCP port on 127.0.0.1 in 20000-29999 (the tests' own range): below Linux's
    ephemeral ports (32768-60999), which an outgoing connection (libpq, libcurl, SMTP) may take
    between this check and the listener's bind, as one took a web.listen port in CI. Never the
    same one twice in a test: one that picks several before starting their listeners must not
    get a port twice, as random picks can."""
    for _ in range(300):
        port = random.randint(20000, 29999)
        if port in taken or port in _HANDED_OUT:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            _HANDED_OUT.add(port)
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port in 20000-29999")


class Procs:
    """Every server a test starts, stopped at the end (by its own pid only)."""

    def __init__(self):
        self.procs = []

    def add(self, p):
        self.procs.append(p)
        return p

    def stop(self, p):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)

    def stop_all(self):
        for p in self.procs:
            try:
                self.stop(p)
            except (OSError, subprocess.SubprocessError):
                pass


def wait_for(pred, timeout, step=0.05):
    """Polls pred until it is true or timeout seconds pass; returns its last value."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= end:
            return v
        time.sleep(step)


class Receiver:
    """tests/integration/webhook_receiver.py on its own port, with routes."""

    def __init__(self, procs, tmp, name, routes=(), default="200", lifetime=900, port=None):
        self.log = os.path.join(tmp, name + ".jsonl")
        ready = os.path.join(tmp, name + ".port")
        self.port = port or free_port()
        args = [PY, os.path.join(HERE, "webhook_receiver.py"), "--port", str(self.port),
                "--log", self.log, "--lifetime", str(lifetime), "--ready-file", ready,
                "--default", default]
        for r in routes:
            args += ["--route", r]
        self.proc = procs.add(subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                               stderr=open(os.path.join(tmp, name + ".err"),
                                                           "w")))
        if not wait_for(lambda: os.path.exists(ready), 15):
            raise RuntimeError("webhook_receiver %s did not start" % name)
        open(self.log, "a").close()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def requests(self, path=None):
        out = []
        with open(self.log, encoding="utf-8") as f:
            for line in f:
                if not line.endswith("\n"):
                    break
                r = json.loads(line)
                if path is None or r["path"].split("?")[0] == path:
                    r["json"] = None
                    try:
                        r["json"] = json.loads(r["body"])
                    except ValueError:
                        pass
                    out.append(r)
        return out


def make_ca(tmp):
    d = os.path.join(tmp, "ca")
    p = subprocess.run(["sh", os.path.join(HERE, "make_test_ca.sh"), d], capture_output=True,
                       text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("make_test_ca.sh failed: " + p.stderr)
    return d


class SmtpServer:
    """tests/integration/smtp_server.py: STARTTLS required, AUTH required, a test CA's cert;
    extra: more of its options (--reject ADDR, --data-reply "CODE TEXT", ...)."""

    USER = "driftwatch"
    PASSWORD = "pw-Lc7#not-in-logs"

    def __init__(self, procs, tmp, name, ca, port=None, lifetime=900, extra=()):
        self.maildir = os.path.join(tmp, name)
        self.port = port or free_port()
        os.makedirs(self.maildir, exist_ok=True)
        ready = os.path.join(self.maildir, "ready")
        if os.path.exists(ready):
            os.unlink(ready)
        args = [PY, os.path.join(HERE, "smtp_server.py"), "--port", str(self.port),
                "--maildir", self.maildir, "--seconds", str(lifetime), "--ready", ready,
                "--tls", "starttls", "--cert", os.path.join(ca, "server.pem"),
                "--key", os.path.join(ca, "server.key"), "--user", self.USER,
                "--password", self.PASSWORD] + list(extra)
        self.proc = procs.add(subprocess.Popen(
            args, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(tmp, name + ".err"), "a")))
        if not wait_for(lambda: os.path.exists(ready), 20):
            raise RuntimeError("smtp_server.py %s did not start" % name)

    @staticmethod
    def password_file(tmp):
        path = os.path.join(tmp, "smtp-password")
        with open(path, "w") as f:
            f.write(SmtpServer.PASSWORD + "\n")
        os.chmod(path, 0o600)
        return path

    def count(self):
        return len(glob_eml(self.maildir))

    def messages(self):
        return read_mail(self.maildir)


def glob_eml(maildir):
    if not os.path.isdir(maildir):
        return []
    return sorted((f for f in os.listdir(maildir) if re.fullmatch(r"\d+\.eml", f)),
                  key=lambda f: int(f.split(".")[0]))


ITEM_KINDS = (("New: ", "firing"), ("Reminder, still not answered: ", "firing"),
              ("Firing again: ", "firing"), ("Escalated to ", "escalated"),
              ("Updated (", "updated"), ("Lowered to ", "updated"), ("Resolved: ", "resolved"),
              ("Not delivered", "failed"))


def digest_items(text):
    """The notices a digest's plain text lists in full: [(kind, child_id, heading)], in order.
    An entry of siblings (one heading, a "Child:" block each) gives one tuple per child."""
    items = []
    for block in re.split(r"(?m)^(?=\d+\. )", text):
        m = re.match(r"\d+\. (.*?)\n\s+Child: ", block, re.S)
        if not m:
            continue
        heading = " ".join(m.group(1).split())
        kind = next((k for prefix, k in ITEM_KINDS if heading.startswith(prefix)), "?")
        body = block.split("\n\n")[0]
        items.extend((kind, c, heading) for c in re.findall(r"(?m)^   Child: (\S+)", body))
    return items


def read_mail(maildir):
    """Every message an SmtpServer took, parsed: n, raw, msg, meta, text, html, items, files
    (each attachment as (filename, content type, bytes))."""
    out = []
    for f in glob_eml(maildir):
        n = int(f.split(".")[0])
        raw = open(os.path.join(maildir, f), "rb").read()
        meta_path = os.path.join(maildir, "%d.json" % n)
        meta = json.load(open(meta_path)) if os.path.exists(meta_path) else {}
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        text = msg.get_body(("plain",))
        html = msg.get_body(("html",))
        t = text.get_content() if text is not None else ""
        out.append({
            "n": n, "raw": raw, "msg": msg, "meta": meta, "text": t,
            "html": html.get_content() if html is not None else "",
            "to": (meta.get("rcpt_tos") or [None])[0], "subject": str(msg["Subject"]),
            "mid": str(msg["Message-ID"]), "items": digest_items(t),
            "files": [(a.get_filename(), a.get_content_type(), a.get_payload(decode=True))
                      for a in msg.iter_attachments()],
        })
    return out


class Run:
    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err

    def diag(self):
        return "exit %s\nstderr:\n%s" % (self.rc, self.err[-3000:])

    def sanitizer(self):
        return "Sanitizer" in self.err or "runtime error:" in self.err


def daemon_env():
    return dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS",
                                                        "detect_leaks=1:abort_on_error=0"))


def run_daemon(cfg, *args, timeout=120):
    """driftwatchd -c CFG ARGS..., bounded in time: a Run."""
    try:
        p = subprocess.run([DAEMON, "-c", cfg] + list(args), stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=timeout, env=daemon_env())
        return Run(p.returncode, p.stdout, p.stderr)
    except subprocess.TimeoutExpired as e:
        return Run("timeout", e.stdout or "", (e.stderr or b"").decode("utf-8", "replace")
                   if isinstance(e.stderr, bytes) else (e.stderr or ""))


def run_once(cfg, as_of, timeout=120, extra=()):
    """driftwatchd -c CFG --once --as-of DAY, bounded in time."""
    return run_daemon(cfg, "--once", "--as-of", as_of, *extra, timeout=timeout)


def dry_run_alerts(out):
    """A dry run's standard output, one JSON object a line: (the alerts, the lines that are not
    one)."""
    if isinstance(out, bytes):
        out = out.decode("utf-8", "replace")
    alerts, bad = [], []
    for line in out.splitlines():
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            bad.append(line)
            continue
        if isinstance(obj, dict):
            alerts.append(obj)
        else:
            bad.append(line)
    return alerts, bad


def respond(cfg, today, kind, fp, actor="sup1@la.example", via="link", **kw):
    """One response (acknowledge, snooze, unsnooze) to alert fp on day today, through the
    responses driver; reason, note and until as keywords. (exit code, stdout, stderr)"""
    args = [RESPONSES_DRIVER, "-c", cfg, "--today", today, kind, fp, actor, via]
    for k in ("reason", "note", "until"):
        if k in kw:
            args += ["--" + k, kw[k]]
    p = subprocess.run(args, capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.strip(), p.stderr


def write_config(tmp, name, conf):
    path = os.path.join(tmp, name + ".json")
    with open(path, "w") as f:
        json.dump(conf, f, indent=1)
    return path


# The contract's relations and their columns in rules/contract.sql's order (CONTRACT.md).
CONTRACT_COLUMNS = {
    "teams": "team_id, name, manager_email, webhook_url",
    "workers": "worker_id, display_name, email, team_id, supervisor_id, role",
    "children": "child_id, family_id, date_of_birth, expected_dob, disability",
    "allocations": "allocation_id, child_id, worker_id, start_date, end_date",
    "referrals": "referral_id, child_id, referral_date, primary_need, neglect, closure_date, "
                 "closure_reason",
    "cin_plans": "plan_id, child_id, start_date, end_date, neglect",
    "cp_plans": "plan_id, child_id, start_date, end_date, initial_category, latest_category, "
                "chair_id",
    "appointments": "appointment_id, child_id, service, scheduled_for, outcome",
    "strategies": "strategy_id, child_id, kind, decided_on, review_by",
}


def first_difference(a, b):
    """The first line where two texts differ, both sides shown: a check's diagnostic."""
    la, lb = a.splitlines(), b.splitlines()
    for i in range(max(len(la), len(lb))):
        x = la[i] if i < len(la) else "(none)"
        y = lb[i] if i < len(lb) else "(none)"
        if x != y:
            return "line %d:\n  %s\n  %s" % (i + 1, x[:300], y[:300])
    return ""


def new_secret():
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def verify_signatures(receiver, secret, path, expect):
    """Runs npm standardwebhooks over the receiver's log: (ok, vector_ok, output)."""
    p = subprocess.run(["node", os.path.join(HERE, "verify_standardwebhooks.js"), "--log",
                        receiver.log, "--secret", secret, "--path", path, "--expect",
                        str(expect)], capture_output=True, text=True, timeout=60)
    lines = p.stdout.splitlines()
    vector = any(l == "ok - standardwebhooks reproduces the published test vector"
                 for l in lines)
    bad = [l for l in lines if l.startswith("not ok")]
    return p.returncode == 0 and not bad, vector, p.stdout + p.stderr


def daemon_fixture_mail(procs, tmp, ca, dbname, name, smtp_extra, more_sql=None, hold=False):
    """A new database dbname of tests/fixtures/daemon.sql (then more_sql), an SmtpServer named
    name with smtp_extra, and a configuration sending its digests at once (hold: at the default
    digest_time, 08:00 on the next working day): (db, smtp, config path)."""
    db = Db(dbname)
    db.recreate()
    db.load(os.path.join(TOP, "rules", "contract.sql"),
            os.path.join(TOP, "tests", "fixtures", "daemon.sql"))
    if more_sql:
        db.run(more_sql)
    smtp = SmtpServer(procs, tmp, name, ca, extra=smtp_extra)
    cfg = write_config(tmp, name, {
        "database": {"conninfo": db.conninfo(dbname), "case_schema": "casework"},
        "timezone": "Europe/London",
        "link_template": "https://lcs.example/person/{child_id}",
        "addresses": addresses(),
        "email": email_conf(smtp.port, ca, SmtpServer.password_file(tmp),
                            **({} if hold else {"digest_time": None}))})
    return db, smtp, cfg


def digest_entry(text, child):
    """The lines of a digest's entry naming child, from its heading to the blank line after."""
    m = re.search(r"(?ms)^\d+\. [^\n]*\n(?:(?!\n\n).)*?Child: %s\b.*?(?=\n\n|\Z)"
                  % re.escape(child), text)
    return m.group(0) if m else ""


def held_email_notices(db, schema="driftwatch"):
    """The email notices of alerts in the state's outbox ([] before the daemon made it)."""
    if db.value("SELECT to_regclass('%s.outbox') IS NOT NULL" % schema) != "t":
        return []
    return db.rows("SELECT notice_id, destination, status FROM %s.outbox WHERE channel = "
                   "'email' AND type LIKE 'alert.%%' ORDER BY notice_id" % schema)


def reader_role(db, role, more_sql=""):
    """A LOGIN role of db's cluster that is no superuser, has no BYPASSRLS and owns nothing, with
    USAGE on casework and SELECT on its tables, then more_sql; returns db's conninfo as it."""
    db.run("""
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '%(r)s') THEN
    CREATE ROLE %(r)s LOGIN NOSUPERUSER NOBYPASSRLS;
  END IF;
END $$;
GRANT USAGE ON SCHEMA casework TO %(r)s;
GRANT SELECT ON ALL TABLES IN SCHEMA casework TO %(r)s;
""" % {"r": role} + more_sql)
    return db.conninfo(role).replace("user=%s" % PGUSER, "user=%s" % role)


def drop_reader_role(db, role):
    """db dropped, then the role reader_role made (roles belong to the cluster)."""
    try:
        db.run("DROP OWNED BY %s" % role)
    except (RuntimeError, OSError):
        pass
    db.drop()
    try:
        Db("postgres").run("DROP ROLE IF EXISTS %s" % role)
    except (RuntimeError, OSError):
        pass


def hand_made_mail(procs, tmp, ca, dbname, data_sql, **conf):
    """A new database dbname of rules/contract.sql (schema casework) and a test's own data_sql,
    an SmtpServer, and a configuration for --once sending to it (conf adds sections, such as
    "responses"): (db, smtp, config path)."""
    db = Db(dbname)
    db.recreate()
    db.load(os.path.join(TOP, "rules", "contract.sql"))
    db.run(data_sql)
    smtp = SmtpServer(procs, tmp, "mail", ca)
    cfg = write_config(tmp, dbname, dict({
        "database": {"conninfo": db.conninfo(dbname), "case_schema": "casework"},
        "timezone": "Europe/London",
        "link_template": "https://lcs.example/person/{child_id}",
        "addresses": addresses(),
        "email": email_conf(smtp.port, ca, SmtpServer.password_file(tmp))}, **conf))
    return db, smtp, cfg


def addresses():
    return {"fallback": "duty@la.example", "cp_chair": "cp-chairs@la.example",
            "cp_manager": "cp-manager@la.example", "head_of_service": "hos@la.example",
            "operators": "it-ops@la.example"}


def email_conf(smtp_port, ca, pwfile, send_resolved=False, **extra):
    """The email section for the test's SMTP server; extra adds keys. A test that runs the
    daemon and waits for mail passes digest_time=None (a digest after every evaluation): the
    default holds people's mail for 08:00 on the next working day."""
    conf = {"smtp_url": "smtp://127.0.0.1:%d" % smtp_port, "tls": "starttls",
            "from": "driftwatch@la.example", "username": SmtpServer.USER,
            "password_file": pwfile, "ca_file": os.path.join(ca, "ca.pem"),
            "send_resolved": send_resolved}
    conf.update(extra)
    return conf


def make_tmp(name):
    base = os.environ.get("TEST_TMPDIR") or tempfile.gettempdir()
    tmp = tempfile.mkdtemp(prefix=name + ".", dir=base)
    os.chmod(tmp, 0o755)
    return tmp


def run_test(t, name, body):
    """The main() of a test that runs the daemon: body(procs, tmp), with every process it
    started stopped after it, and its scratch directory kept when a check failed (or KEEP_TMP
    is set). An exception in body is one failure with its traceback, not a crash: a broken
    prerequisite says why. Returns the exit status (1 when any check of t failed)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not os.access(DAEMON, os.X_OK):
        t.check(False, "driftwatchd is built (%s)" % DAEMON)
        return 1
    procs = Procs()
    tmp = make_tmp(name)
    try:
        body(procs, tmp)
    except Exception:  # a broken prerequisite is one failure, with its reason
        t.check(False, "%s ran to the end" % os.path.basename(sys.argv[0]).rsplit(".", 1)[0],
                traceback.format_exc())
    finally:
        procs.stop_all()
        if t.failed == 0 and not os.environ.get("KEEP_TMP"):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            t.note("kept %s for inspection" % tmp)
    return 1 if t.failed else 0
