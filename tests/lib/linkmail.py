"""linkmail: what the tests that follow the links in received mail share (RESPONSES.md, "Links
in notices"; issue 13): the long-running daemon on tests/fixtures/daemon.sql delivering to the
real SMTP server with web.listen on, web.public_url the web.listen address itself
(http://127.0.0.1:PORT, which the configuration allows for loopback only), so that the links in
the mail can be followed as they are; the links read out of each mail's text and HTML parts;
the link pages' forms parsed as a browser reads them (method, action resolved against the
page's address, every field); plain HTTP GET and form POST. Nothing here signs a token: every
token comes out of a mail or a page. Standard library only.

    sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
    import linkmail
"""
import base64
import html
import os
import re
import signal
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser

import dwtest as lib  # (tests/lib/dwtest.py: Db, SmtpServer, Receiver, ...)
import hostile  # (tests/lib/hostile.py: Daemon, the daemon in the background with its log)

LINK_KINDS = ("acknowledge", "snooze", "open")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class Setup:
    """The database (rules/contract.sql and tests/fixtures/daemon.sql in schema casework), a
    test CA and the SMTP server, a link secret, and the daemon running on them. conf_extra is
    merged into the configuration (a webhook receiver, evaluation.interval_seconds, ...)."""

    def __init__(self, procs, tmp, name, conf_extra=None, public_url=None):
        self.tmp = tmp
        self.state = name
        self.db = lib.Db(name)
        self.db.recreate()
        self.db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
                     os.path.join(lib.TOP, "tests", "fixtures", "daemon.sql"))
        ca = self.ca = lib.make_ca(tmp)
        self.smtp = lib.SmtpServer(procs, tmp, "mail", ca)
        secret_file = os.path.join(tmp, "link.secret")
        with open(secret_file, "w") as f:
            f.write(base64.b64encode(os.urandom(33)).decode() + "\n")
        os.chmod(secret_file, 0o600)
        self.web_port = lib.free_port()
        self.http_port = lib.free_port({self.web_port})
        # the web.listen address, and web.public_url: the same unless a proxy is in front
        self.base = "http://127.0.0.1:%d" % self.web_port
        self.public = public_url or self.base
        conf = {
            "database": {"conninfo": self.db.conninfo("dw-" + name), "state_schema": name},
            "timezone": "Europe/London", "addresses": lib.addresses(),
            "email": lib.email_conf(self.smtp.port, ca, lib.SmtpServer.password_file(tmp),
                                    digest_time=None),
            "http": {"listen": "127.0.0.1:%d" % self.http_port},
            "web": {"listen": "127.0.0.1:%d" % self.web_port, "public_url": self.public,
                    "link_secret_file": secret_file, "link_days": 14}}
        conf.update(conf_extra or {})
        self.cfg = lib.write_config(tmp, name, conf)
        self.daemon = hostile.Daemon(procs, tmp, self.cfg)

    def firing(self):
        try:
            return int(self.db.value("SELECT count(*) FROM %s.alerts WHERE status = 'firing'"
                                     % self.state))
        except RuntimeError:  # the schema is not there until the daemon migrates
            return 0

    def mails_with_links(self, n, timeout):
        """Waits for n emails that carry links; returns every email taken so far."""
        def enough():
            got = [m for m in self.smtp.messages() if text_links(m["text"], self.public)]
            return len(got) >= n
        lib.wait_for(enough, timeout, step=0.3)
        return self.smtp.messages()

    def alert(self, fingerprint):
        rows = self.db.rows(
            "SELECT fingerprint, rule, stage, child_id, status, stage_since::text, "
            "acknowledged_by, ack_stage, ack_note, snoozed_until::text, snooze_reason, "
            "snoozed_by, snooze_note FROM %s.alerts WHERE fingerprint = '%s'"
            % (self.state, fingerprint))
        return rows[0] if rows else None

    def alert_of(self, rule, child_id):
        rows = self.db.rows("SELECT fingerprint FROM %s.alerts WHERE rule = '%s' AND "
                            "child_id = '%s'" % (self.state, rule, child_id))
        return rows[0]["fingerprint"] if len(rows) == 1 else None

    def responses(self, fingerprint=None):
        """Every response event (an event with an actor), oldest first."""
        where = "WHERE e.actor IS NOT NULL"
        if fingerprint:
            where += " AND a.fingerprint = '%s'" % fingerprint
        return self.db.rows(
            "SELECT a.fingerprint, e.kind, e.stage, e.actor, e.via, e.reason, e.note "
            "FROM %s.alert_events e JOIN %s.alerts a USING (alert_id) %s ORDER BY e.event_id"
            % (self.state, self.state, where))

    def stop(self, t):
        """Stops the daemon with SIGTERM: one check that it exits 0 with no sanitizer report;
        then drops the test's database."""
        self.daemon.signal(signal.SIGTERM)
        rc = self.daemon.wait_exit(20)
        t.check(rc == 0 and not self.daemon.sanitizer_report(),
                "the daemon stops cleanly with no sanitizer report",
                self.daemon.sanitizer_report() or "\n".join(self.daemon.lines()[-20:]))
        self.db.drop()

    def snapshot(self):
        """What a response would change: every alert's response columns and every event."""
        return (self.db.rows("SELECT fingerprint, acknowledged_at, acknowledged_by, ack_stage, "
                             "ack_stage_since, ack_note, snoozed_until, snooze_reason, "
                             "snoozed_at, snoozed_by, snooze_note FROM %s.alerts ORDER BY 1"
                             % self.state),
                self.db.rows("SELECT event_id, kind, actor FROM %s.alert_events ORDER BY 1"
                             % self.state))


# ---------------------------------------------------------------------------------------------
# links in mail

def text_links(text, base):
    """The plain text part's links per item, in order: [{"child": C, kind: url, ...}]. Each
    item is a numbered block naming its child; its links are URLs alone on their lines after
    "Acknowledge: ", "Snooze: ", "Open: "."""
    out = []
    for block in re.split(r"(?m)^(?=\d+\. )", text)[1:]:
        m = re.search(r"(?m)^\s+Child: (\S+)", block)
        links = {k.lower(): u for k, u in re.findall(
            r"(?m)^\s+(Acknowledge|Snooze|Open): (" + re.escape(base) + r"/r/\S+?)\r?$", block)}
        if links:
            links["child"] = m.group(1) if m else None
            out.append(links)
    return out


def html_links(part, base):
    """The HTML part's links to base, in order: [(words, url)]."""
    return [(html.unescape(re.sub(r"<[^>]*>", "", w)).strip().lower(), html.unescape(u))
            for u, w in re.findall(r'<a\s[^>]*?href="(' + re.escape(base) + r'/r/[^"]+)"[^>]*>'
                                   r'(.*?)</a>', part, re.S)]


# ---------------------------------------------------------------------------------------------
# pages and forms

class Page(HTMLParser):
    """A page as a browser reads its forms: title, h1, the <dl> as a dict, the visible text,
    and each form with its method, action (resolved against the page's own address, as a
    browser does: no action is the page's address), and fields."""

    def __init__(self, url, text):
        super().__init__(convert_charrefs=True)
        self.url = url
        self.title = ""
        self.h1 = ""
        self.facts = {}
        self.forms = []
        self.text_parts = []
        self._in = []
        self._dt = None
        self._select = None
        self._textarea = None
        self.feed(text)
        self.text = " ".join(" ".join(self.text_parts).split())

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag not in VOID:
            self._in.append(tag)
        if tag == "dd" and self._dt and a.get("data-key"):
            # a rule or stage in words with its key: the fact is the key
            self.facts[self._dt] = a["data-key"]
            self._dt = None
        if tag == "form":
            action = a.get("action") or ""
            self.forms.append({"method": (a.get("method") or "get").lower(),
                               "action": urllib.parse.urljoin(self.url, action),
                               "heading": "", "fields": []})
        elif not self.forms or "form" not in self._in:
            return
        f = self.forms[-1] if self.forms else None
        if tag == "input":
            f["fields"].append({"tag": "input", "type": a.get("type", "text"),
                                "name": a.get("name"), "value": a.get("value", ""),
                                "id": a.get("id"), "attrs": a})
        elif tag == "select":
            self._select = {"tag": "select", "name": a.get("name"), "id": a.get("id"),
                            "options": [], "attrs": a}
            f["fields"].append(self._select)
        elif tag == "option" and self._select is not None:
            self._select["options"].append([a.get("value"), ""])
        elif tag == "textarea":
            self._textarea = {"tag": "textarea", "name": a.get("name"), "id": a.get("id"),
                              "value": "", "attrs": a}
            f["fields"].append(self._textarea)
        elif tag == "button":
            f["fields"].append({"tag": "button", "type": a.get("type", "submit"),
                                "name": a.get("name"), "value": a.get("value", ""),
                                "attrs": a})

    def handle_endtag(self, tag):
        if tag in self._in:
            while self._in and self._in.pop() != tag:
                pass
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        inside = self._in[-1] if self._in else ""
        if inside not in ("title", "style", "script"):
            self.text_parts.append(data)
        if inside == "title":
            self.title += data
        elif inside == "h1":
            self.h1 += data
        elif inside == "h2" and self.forms and "form" in self._in:
            self.forms[-1]["heading"] += data
        elif inside == "dt":
            self._dt = data.strip()
        elif inside == "dd" and self._dt:
            self.facts[self._dt] = self.facts.get(self._dt, "") + data
        elif inside == "option" and self._select is not None:
            self._select["options"][-1][1] += data
        elif self._textarea is not None and inside == "textarea":
            self._textarea["value"] += data

    def form(self, heading):
        for f in self.forms:
            if f["heading"].strip().lower() == heading.lower():
                return f
        return None


def field(form, name):
    for fl in form["fields"]:
        if fl.get("name") == name:
            return fl
    return None


def submission(form, values):
    """The pairs a browser sends for this form: every named field with its own value (a hidden
    field as it is, a text field, textarea and select as the person filled them in: `values`),
    in document order; the submit button has no name here, so it sends nothing."""
    pairs = []
    for fl in form["fields"]:
        name = fl.get("name")
        if not name or fl["tag"] == "button":
            continue
        if fl["tag"] == "input" and fl["type"] == "hidden":
            pairs.append((name, fl["value"]))
        else:
            pairs.append((name, values.get(name, fl.get("value") or "")))
    return pairs


def request(method, url, pairs=None, timeout=20, context=None):
    """(status, body, headers) of a GET, or of a POST of the pairs as a form sends them;
    context: the ssl.SSLContext for an https:// URL."""
    data = None
    headers = {}
    if method == "post":
        data = urllib.parse.urlencode(pairs or []).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    req = urllib.request.Request(url, data=data, headers=headers, method=method.upper())
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
            return r.status, r.read().decode("utf-8", "replace"), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace"), dict(e.headers)


def get_page(url, context=None):
    st, body, headers = request("get", url, context=context)
    return st, Page(url, body), body


def submit(page, form, values, context=None):
    """Sends the form as a browser would: its method to its action with its fields."""
    st, body, headers = request(form["method"], form["action"], submission(form, values),
                                context=context)
    return st, Page(form["action"], body), body
