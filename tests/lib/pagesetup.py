"""pagesetup: what the tests of the pages for people share (RESPONSES.md, "Pages for people";
issue 14): a real PostgreSQL with the fixture below, the real daemon running on it with
web.listen on and web.trusted_proxies = 127.0.0.1, and requests made as the sign-on proxy would
(X-Forwarded-Email from 127.0.0.1) or as someone talking to driftwatch directly (from
127.0.0.2, which is not trusted). Standard library only.

| team    | manager_email | workers                                          | children: CP plans for neglect |
|---------|---------------|--------------------------------------------------|--------------------------------|
| T-A     | mgra@         | W-SUPA supa@, W-SWA swa@ "Worker A" (sup W-SUPA) | C-A1, C-A2 (family F-A, 10 months: 9m); C-A3 (16 months, no strategy: the 15m escalation); CHILD_ODD (10 months, its stage recorded 30 days ago) |
| T B/2   | mgrb@         | W-SUPB supb@, W-SWB swb@ (sup W-SUPB)            | C-B1, C-B2 (10 months: 9m)     |
| T-C     |               | W-CH chair@: chairs C-B2's plan                  |                                |
head_of_service hos@ sees everything. CHILD_ODD and team "T B/2" have characters an address
must percent-encode and a page must escape.
"""
import hashlib
import hmac
import http.client
import os
import subprocess
from html.parser import HTMLParser

import dwtest as lib

CHILD_ODD = "C-A4 <&>/\u00e9"
TEAM_B = "T B/2"
FIRST_ORDER = [CHILD_ODD, "C-A3", "C-A1", "C-A2"]  # supa@'s alerts in the answer order
ALL = sorted(["C-A1", "C-A2", "C-A3", CHILD_ODD, "C-B1", "C-B2"])

FIXTURE = """
SET search_path = casework;
INSERT INTO teams VALUES ('T-A', 'Team A', 'mgra@la.example', NULL),
                         ('T B/2', 'Team B', 'mgrb@la.example', NULL),
                         ('T-C', 'Chairs', NULL, NULL);
INSERT INTO workers VALUES
  ('W-SUPA', 'Sup A',    'supa@la.example',  'T-A',   NULL,     'team_manager'),
  ('W-SWA',  'Worker A', 'swa@la.example',   'T-A',   'W-SUPA', 'social_worker'),
  ('W-SUPB', 'Sup B',    'supb@la.example',  'T B/2', NULL,     'team_manager'),
  ('W-SWB',  'Worker B', 'swb@la.example',   'T B/2', 'W-SUPB', 'social_worker'),
  ('W-CH',   'Chair',    'chair@la.example', 'T-C',   NULL,     'cp_chair');
INSERT INTO children VALUES
  ('C-A1', 'F-A', current_date - interval '7 years', NULL, false),
  ('C-A2', 'F-A', current_date - interval '5 years', NULL, false),
  ('C-A3', 'F-A3', current_date - interval '9 years', NULL, false),
  (%(odd)s, 'F-A4', current_date - interval '3 years', NULL, false),
  ('C-B1', 'F-B1', current_date - interval '6 years', NULL, false),
  ('C-B2', 'F-B2', current_date - interval '4 years', NULL, false);
INSERT INTO allocations
  SELECT 'AL-' || c, c, CASE WHEN c LIKE 'C-B%%' THEN 'W-SWB' ELSE 'W-SWA' END,
         current_date - interval '2 years', NULL
    FROM unnest(ARRAY['C-A1', 'C-A2', 'C-A3', %(odd)s, 'C-B1', 'C-B2']) c;
INSERT INTO cp_plans
  SELECT 'CPP-' || c, c,
         current_date - CASE WHEN c = 'C-A3' THEN interval '16 months'
                             ELSE interval '10 months' END,
         NULL, 'NEG', NULL, CASE WHEN c = 'C-B2' THEN 'W-CH' END
    FROM unnest(ARRAY['C-A1', 'C-A2', 'C-A3', %(odd)s, 'C-B1', 'C-B2']) c;
""" % {"odd": "'" + CHILD_ODD.replace("'", "''") + "'"}


class Setup:
    """The database, the SMTP server, a link secret, and the daemon on them (web.listen)."""

    def __init__(self, procs, tmp, name):
        self.tmp, self.state = tmp, name
        self.db = lib.Db(name)
        self.db.recreate()
        self.db.load(os.path.join(lib.TOP, "rules", "contract.sql"))
        self.db._psql([], stdin=FIXTURE)
        ca = lib.make_ca(tmp)
        self.smtp = lib.SmtpServer(procs, tmp, "mail", ca)
        self.secret = os.urandom(33).hex().encode()
        secret_file = os.path.join(tmp, "link.secret")
        with open(secret_file, "wb") as f:
            f.write(self.secret + b"\n")
        os.chmod(secret_file, 0o600)
        self.port = lib.free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.cfg = cfg = lib.write_config(tmp, name, {
            "database": {"conninfo": self.db.conninfo("dw-" + name), "state_schema": name},
            "timezone": "Europe/London", "addresses": lib.addresses(),
            "email": lib.email_conf(self.smtp.port, ca, lib.SmtpServer.password_file(tmp),
                                    digest_time=None),
            "http": {"listen": None},
            "evaluation": {"interval_seconds": 3600},
            "web": {"listen": "127.0.0.1:%d" % self.port, "public_url": self.base,
                    "link_secret_file": secret_file, "trusted_proxies": ["127.0.0.1"]}})
        self.log_path = os.path.join(tmp, "daemon.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([lib.DAEMON, "-c", cfg], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     env=lib.daemon_env())
        procs.add(self.proc)

    def ready(self, timeout=90):
        """The six alerts recorded (then CHILD_ODD's stage is made 30 days old, as if it had
        been recorded then: the answer order puts the older of two equal stages first)."""
        def firing():
            try:
                return int(self.db.value("SELECT count(*) FROM %s.alerts WHERE status = "
                                         "'firing'" % self.state))
            except RuntimeError:  # no schema until the daemon migrates
                return 0
        if not lib.wait_for(lambda: firing() == 6, timeout, step=0.5):
            return False
        self.db.run("UPDATE %s.alerts SET stage_since = stage_since - 30 WHERE child_id = '%s'"
                    % (self.state, CHILD_ODD.replace("'", "''")))
        return True

    def fingerprints(self):
        return {r["child_id"]: r["fingerprint"] for r in self.db.rows(
            "SELECT child_id, fingerprint FROM %s.alerts" % self.state)}

    def events(self):
        return self.db.rows("SELECT a.child_id, e.kind, e.actor, e.via, e.note, e.reason "
                            "FROM %s.alert_events e JOIN %s.alerts a USING (alert_id) "
                            "WHERE e.actor IS NOT NULL ORDER BY e.event_id"
                            % (self.state, self.state))

    def today(self):
        return int(self.db.value("SELECT (now() AT TIME ZONE 'Europe/London')::date - "
                                 "DATE '1970-01-01'"))

    def form_token(self, person, fingerprint, purpose, day):
        """A form token made as the daemon makes it (formtoken.c, web.c): for forging old
        ones. purpose: 1 acknowledge, 2 snooze, 3 unsnooze."""
        key = hmac.new(self.secret, b"driftwatch page form key", hashlib.sha256).digest()
        msg = b"\0".join([b"driftwatch page form 1", person.encode(), fingerprint.encode(),
                          str(purpose).encode(), str(day).encode()])
        return "%d.%s" % (day, hmac.new(key, msg, hashlib.sha256).hexdigest())

    def stop(self):
        self.proc.terminate()
        rc = self.proc.wait(timeout=30)
        self.log.close()
        text = open(self.log_path).read()
        return rc, text


def request(port, path, method="GET", body=None, headers=None, source="127.0.0.1"):
    """(status, headers as a dict of lower-case names, body text)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        text = r.read().decode("utf-8", "replace")
        return r.status, {k.lower(): v for k, v in r.getheaders()}, text
    finally:
        c.close()


def as_person(email, **more):
    return dict({"X-Forwarded-Email": email}, **more)


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class Forms(HTMLParser):
    """A page's answer forms (their hidden and named fields) and the child ids of its cards
    under each section heading, in page order."""

    def __init__(self, text):
        super().__init__()
        self.forms, self.cards, self.h2 = [], [], []
        self._form = None
        self._heading = None
        self._text = ""
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = {"method": a.get("method"), "action": a.get("action"), "fields": {}}
            self.forms.append(self._form)
        elif tag in ("input", "textarea", "select") and self._form is not None and a.get("name"):
            self._form["fields"][a["name"]] = a.get("value", "")
        elif tag in ("h2", "h3", "h4"):
            self._heading, self._text = tag, ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == self._heading:
            t = " ".join(self._text.split())
            if tag == "h2":
                self.h2.append(t)
            elif t.startswith("Child "):
                self.cards.append((len(self.h2), t[6:].split(":")[0]))
            self._heading = None

    def handle_data(self, data):
        if self._heading:
            self._text += data

    def find(self, fingerprint, action):
        for f in self.forms:
            if f["fields"].get("alert") == fingerprint and f["fields"].get("action") == action:
                return f
        return None

    def children(self, section=None):
        """The cards' child ids, in page order; section: 1-based index of the <h2>."""
        return [c for s, c in self.cards if section is None or s == section]
