#!/usr/bin/python3
"""Addresses nobody can use, and no email at all (issue 10, items 4, 11 and 13), with --once against
the test PostgreSQL and a real SMTP server (smtp_server.py, no TLS on 127.0.0.1):

  - a supervisor whose address in the case data holds CR/LF, one with HTML, one of 300 bytes,
    and a worker with no address at all: their notices go at once to the fallback address, whose
    email says why ("sent to you because ..."), keeping the worker's id; nothing is written for
    the unusable address (so nothing is retried for three days); the operators are told once per
    unusable address, not again on the next run;
  - with no "email" section, no email notice is written at all (webhooks still are);
  - a team's webhook_url from the case data is posted to only when https and its host is in
    team_webhooks.allowed_hosts (loopback only when named exactly); one that is refused writes
    no notice (nothing to retry for three days) and the operators hear once per URL; with
    team_webhooks.allowed_hosts empty none is posted and the operators hear that too;
  - --check-config warns when no fallback address is configured.

Environment as tests/integration/test_rules.py (DRIFTWATCHD, PG*, DW_TOP, TEST_TMPDIR).
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from email import policy
from email.parser import BytesParser

TOP = os.environ.get("DW_TOP") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
import tap  # noqa: E402
from dwtest import BROWSER_NEEDS, browser_ready, digest_browser, page_file  # noqa: E402

DAEMON = os.environ.get("DRIFTWATCHD") or os.path.join(TOP, "build/san/driftwatchd")
HERE = os.path.join(TOP, "tests", "integration")
PGHOST = os.environ.get("PGHOST") or "127.0.0.1"
if PGHOST.startswith("/"):
    PGHOST = "127.0.0.1"
PGPORT = os.environ.get("PGPORT") or "15432"
PGUSER = os.environ.get("PGUSER") or "dwtest"
PGDATABASE = os.environ.get("PGDATABASE") or "dwtest"
T = "2026-11-21"
LONG = "x" * 290 + "@la.example"

# Four children on CP plans for neglect for 10 months (cp_neglect_duration 9m: supervisor), each
# allocated to a worker whose supervisor's address is one of the bad kinds.
FIXTURE = """
SET search_path = addr_t;
INSERT INTO teams VALUES ('T-A', 'Team A', NULL, 'https://127.0.0.1:9/loop?sig=secret1'),
  ('T-B', 'Team B', NULL, 'https://hooks.example.org/services/b?sig=secret2'),
  ('T-C', 'Team C', NULL, 'https://evil.example/c?sig=secret3');
INSERT INTO workers VALUES
  ('W-CRLF', 'Sup CRLF', E'boss@la.example\\r\\nBcc: spy@example.org', 'T-A', NULL, 'team_manager'),
  ('W-HTML', 'Sup HTML', '<b>boss</b>@la.example', 'T-A', NULL, 'team_manager'),
  ('W-LONG', 'Sup Long', '%(long)s', 'T-A', NULL, 'team_manager'),
  ('W-NONE', 'Sup None', NULL, 'T-A', NULL, 'team_manager'),
  ('W-1', 'Worker 1', 'w1@la.example', 'T-A', 'W-CRLF', 'social_worker'),
  ('W-2', 'Worker 2', 'w2@la.example', 'T-A', 'W-HTML', 'social_worker'),
  ('W-3', 'Worker 3', 'w3@la.example', 'T-B', 'W-LONG', 'social_worker'),
  ('W-4', 'Worker 4', 'w4@la.example', 'T-C', 'W-NONE', 'social_worker'),
  ('W-5', 'Worker 5', 'w5@la.example', 'T-C', NULL, 'social_worker'),
  -- a conference chair whose address has a space in it and one at the end
  ('CH-SP', 'Chair Space', 'chair one@la.example ', 'T-B', NULL, 'cp_chair');
INSERT INTO children SELECT 'C-A' || i, NULL, DATE '2018-01-01', NULL, false
  FROM generate_series(1, 4) i;
INSERT INTO allocations SELECT 'A-' || i, 'C-A' || i, 'W-' || i, DATE '2025-01-01', NULL
  FROM generate_series(1, 4) i;
INSERT INTO cp_plans SELECT 'CPP-' || i, 'C-A' || i, DATE '2026-01-15', NULL, 'NEG', NULL, NULL
  FROM generate_series(1, 4) i;
-- 13 months on a CP plan chaired by CH-SP: cp_neglect_duration 12m (supervisor, cp_chair)
INSERT INTO children VALUES ('C-A5', NULL, DATE '2018-01-01', NULL, false);
INSERT INTO allocations VALUES ('A-5', 'C-A5', 'W-5', DATE '2025-01-01', NULL);
INSERT INTO cp_plans VALUES ('CPP-5', 'C-A5', DATE '2025-10-15', NULL, 'NEG', NULL, 'CH-SP');
""" % {"long": LONG}


def env():
    e = dict(os.environ)
    e.update(PGHOST=PGHOST, PGPORT=PGPORT, PGUSER=PGUSER, PGDATABASE=PGDATABASE)
    return e


def psql(args, stdin=None):
    return subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"] + args,
                          input=stdin, capture_output=True, text=True, env=env(), timeout=120)


def bail(name, why):
    tap.ok(False, name, why)
    sys.exit(1)


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def config(path, state, email_port=None, fallback=True, secret_file=None, hosts=None):
    cfg = {"database": {"conninfo": "host=%s port=%s dbname=%s user=%s"
                        % (PGHOST, PGPORT, PGDATABASE, PGUSER),
                        "case_schema": "addr_t", "state_schema": state},
           "addresses": {"operators": "ops@la.example", "cp_chair": "chairs@la.example"},
           "webhooks": [{"url": "http://127.0.0.1:9/none",
                         "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]}
    if fallback:
        cfg["addresses"]["fallback"] = "duty@la.example"
    if secret_file:
        cfg["team_webhook_secret_file"] = secret_file
        cfg["team_webhooks"] = {"allowed_hosts": ["hooks.example.org"]}
    if hosts is not None:
        cfg["team_webhooks"] = {"allowed_hosts": hosts}
    if email_port:
        cfg["email"] = {"smtp_url": "smtp://127.0.0.1:%d" % email_port, "tls": "none",
                        "from": "dw@la.example", "username": "dw", "password": "pw"}
    with open(path, "w") as f:
        json.dump(cfg, f)


def run(cfg, *args):
    r = subprocess.run([DAEMON, "-c", cfg] + list(args), capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=300)
    return r.returncode, r.stdout, r.stderr


def mails(maildir):
    out = []
    for name in sorted(os.listdir(maildir)):
        if not name.endswith(".eml"):
            continue
        with open(os.path.join(maildir, name), "rb") as f:
            m = BytesParser(policy=policy.default).parse(f)
        with open(os.path.join(maildir, name[:-4] + ".json")) as f:
            env_ = json.load(f)
        body = m.get_body(preferencelist=("plain",)).get_content()
        html = m.get_body(preferencelist=("html",))
        out.append({"to": env_.get("rcpt_tos") or env_.get("recipients"), "subject": m["subject"],
                    "body": " ".join(body.split()), "html": html.get_content() if html else ""})
    return out


def check_report_on_phone(tmp, report):
    """The operators' report in chromium (digest_browser.js): no wider than a 390px phone,
    though it names long identifiers (team_webhooks.allowed_hosts) and addresses; its table
    has no Child or Since column, which a report about driftwatch itself leaves empty."""
    shots, page = page_file(tmp, "report.html", report["html"])
    if not tap.ok(browser_ready(), BROWSER_NEEDS):
        return
    p, got = digest_browser({"pages": [{"file": page, "name": "report", "axe": False}],
                             "shots": shots})
    got = (got.get("pages") or [{}])[0]
    if not tap.ok(p.returncode == 0 and got.get("page"),
                  "chromium opened the operators' report", "exit %s" % p.returncode,
                  p.stderr[-2000:]):
        return
    tap.ok(got.get("phoneScrollWidth", 9999) <= 390,
           "on a 390px phone the operators' report is no wider than the screen (scroll width "
           "%s; screenshots in %s)" % (got.get("phoneScrollWidth"), shots))
    heads = re.findall(r"<th[^>]*>([^<]*)</th>", report["html"])
    tap.ok(heads == ["What", "The facts that matter"],
           "its table has only the columns a report fills: What, The facts that matter", heads)


def main():
    tmp = tempfile.mkdtemp(prefix="dw-addr-", dir=os.environ.get("TEST_TMPDIR"))
    r = psql(["-c", "SET client_min_messages = warning", "-c",
              "DROP SCHEMA IF EXISTS addr_t CASCADE", "-c",
              "DROP SCHEMA IF EXISTS addr_st CASCADE", "-c",
              "DROP SCHEMA IF EXISTS addr_st2 CASCADE", "-c",
              "DROP SCHEMA IF EXISTS addr_st3 CASCADE"])
    r = r if r.returncode else psql(["-v", "schema=addr_t", "-f",
                                     os.path.join(TOP, "rules/contract.sql")])
    r = r if r.returncode else psql([], stdin=FIXTURE)
    if r.returncode:
        bail("load the fixture", r.stderr)

    port = free_port()
    maildir = os.path.join(tmp, "mail")
    os.mkdir(maildir)
    smtp = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "smtp_server.py"), "--port",
                             str(port), "--maildir", maildir, "--seconds", "300", "--ready",
                             os.path.join(maildir, "ready"), "--tls", "none", "--user", "dw",
                             "--password", "pw"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(os.path.join(maildir, "ready")):
                break
            time.sleep(0.1)
        secret = os.path.join(tmp, "team-secret")
        with open(secret, "w") as f:
            f.write("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n")
        os.chmod(secret, 0o600)
        cfg = os.path.join(tmp, "mail.json")
        config(cfg, "addr_st", port, secret_file=secret)
        rc, _, err = run(cfg, "--once", "--as-of", T)
        tap.ok(rc == 0, "--once exits 0", err[-2500:])
        # audit 19: EHLO gave the machine's bare host name, which a server that wants a fully
        # qualified one refuses; with no name in smtp_url's path, email.from's domain
        with open(os.path.join(maildir, "ehlo.log"), encoding="utf-8") as f:
            ehlo = set(f.read().split())
        tap.ok(ehlo == {"la.example"}, "EHLO names email.from's domain (%s)" % sorted(ehlo))
        got = mails(maildir)
        duty = [m for m in got if "duty@la.example" in (m["to"] or [])]
        tap.ok(len(duty) == 1, "the fallback address gets one digest", got)
        body = duty[0]["body"] if duty else ""
        for worker, words in (("W-CRLF", "holds a line break"),
                              ("W-HTML", "holds a space, a quote, a bracket or a separator"),
                              ("W-LONG", "is longer than 254 bytes")):
            tap.ok("sent to you because the email address of supervisor %s cannot be used: it %s"
                   % (worker, words) in body,
                   "the fallback's email says why it got %s's notice" % worker, body[:3000])
        tap.ok("worker W-4 has no supervisor with a usable email address" in body,
               "... and why it got the notice of a worker whose supervisor has no address",
               body[:3000])
        tap.ok(not any("spy@example.org" in (m["to"] or []) or "boss" in " ".join(m["to"] or [])
                       for m in got), "nothing went to any part of an unusable address", got)
        ops = [m for m in got if "ops@la.example" in (m["to"] or [])]
        tap.ok(len(ops) == 1 and "4 unusable addresses" in (ops[0]["subject"] or ""),
               "the operators get one report naming the four unusable addresses (the chair's "
               "included)", [(m["to"], m["subject"]) for m in got])
        # audit 10: a chair's unusable address with addresses.cp_chair set failed the whole
        # rule's recording (a NULL key for the operators' report): no CP alert for anyone
        r = psql(["-c", "SELECT child_id || ' ' || stage FROM addr_st.alerts WHERE rule = "
                  "'cp_neglect_duration' ORDER BY child_id"])
        tap.ok(r.stdout.split("\n")[:5] == ["C-A1 9m", "C-A2 9m", "C-A3 9m", "C-A4 9m",
                                             "C-A5 12m"],
               "every child's CP alert is recorded, C-A5's chaired by CH-SP too", r.stdout)
        chairs = [m for m in got if "chairs@la.example" in (m["to"] or [])]
        tap.ok(len(chairs) == 1 and "the email address of chair CH-SP cannot be used" in
               chairs[0]["body"],
               "the CP chairs' address gets C-A5's notice, saying why", [m["to"] for m in got])
        r = psql(["-c", "SELECT count(*) FROM addr_st.outbox WHERE channel = 'email' AND "
                  "(destination LIKE '%boss%' OR length(destination) > 254 OR status <> "
                  "'delivered')"])
        tap.ok(r.stdout.strip() == "0", "no email notice was written for an unusable address "
               "(none left to retry)", r.stdout, r.stderr)
        r = psql(["-c", "SELECT recipients FROM (SELECT payload -> 'recipients' AS recipients "
                  "FROM addr_st.alerts WHERE child_id = 'C-A1') a"])
        tap.ok('"worker_id": "W-CRLF"' in r.stdout and '"bad_address": "W-CRLF"' in r.stdout,
               "the alert keeps the worker's id beside the fallback address", r.stdout)
        r = psql(["-c", "SELECT destination FROM addr_st.outbox WHERE channel = 'webhook' "
                  "AND role = 'team' ORDER BY 1"])
        tap.ok(r.stdout.split() == ["https://hooks.example.org/services/b?sig=secret2"],
               "only the allowed team URL gets a notice: not loopback, not another host",
               r.stdout, r.stderr)
        reports = [m for m in got if "ops@la.example" in (m["to"] or [])]
        body = reports[0]["body"] if reports else ""
        tap.ok("2 refused team webhooks" in (reports[0]["subject"] if reports else "")
               and "loopback" in body and "does not allow" in body,
               "the operators are told of both refused team URLs, saying why",
               [(m["to"], m["subject"]) for m in got], body[:2000])
        tap.ok("secret1" not in body and "secret3" not in body and "evil.example" not in body,
               "the report does not repeat the URL (its sig= is a credential)", body[:2000])
        if reports:
            check_report_on_phone(tmp, reports[0])
        n_before = len(got)
        rc, _, err = run(cfg, "--once", "--as-of", "2026-11-22")
        again = [m for m in mails(maildir)[n_before:] if "ops@la.example" in (m["to"] or [])]
        tap.ok(rc == 0 and not again, "the next run does not report the same addresses again",
               err[-1500:], again)

        cfg2 = os.path.join(tmp, "nomail.json")
        config(cfg2, "addr_st2")
        rc, _, err = run(cfg2, "--once", "--as-of", T)
        r = psql(["-c", "SELECT count(*) FILTER (WHERE channel = 'email'), count(*) FILTER "
                  "(WHERE channel = 'webhook') FROM addr_st2.outbox"])
        email_n, hook_n = (r.stdout.strip() or "x|x").split("|")
        tap.ok(email_n == "0" and hook_n != "0",
               "no email section: no email notice written, webhook notices still are",
               r.stdout, err[-1500:])

        # team_webhooks.allowed_hosts empty: the teams' URLs are not posted to, and the
        # operators hear why, once per URL, instead of nothing at all (with no team_webhooks
        # at all they are posted to, unsigned without a secret: test_team_webhooks)
        cfg4 = os.path.join(tmp, "nosecret.json")
        config(cfg4, "addr_st3", port, hosts=[])
        n_before = len(mails(maildir))
        rc, _, err = run(cfg4, "--once", "--as-of", T)
        ops = [m for m in mails(maildir)[n_before:] if "ops@la.example" in (m["to"] or [])]
        body = " ".join(m["body"] for m in ops)
        r = psql(["-c", "SELECT count(*) FROM addr_st3.outbox WHERE role = 'team'"])
        tap.ok(rc == 0 and r.stdout.strip() == "0" and "refused team webhooks" in
               " ".join(m["subject"] or "" for m in ops) and
               "team_webhooks.allowed_hosts is empty" in body,
               "team_webhooks.allowed_hosts empty: no team webhook notice, and the operators are "
               "told why", rc, r.stdout, [(m["to"], m["subject"]) for m in ops], body[:2000],
               err[-1500:])

        cfg3 = os.path.join(tmp, "nofallback.json")
        config(cfg3, "addr_st", port, fallback=False)
        rc, out, err = run(cfg3, "--check-config")
        tap.ok("addresses.fallback" in (out + err) and "warning" in (out + err).lower(),
               "--check-config warns when no fallback address is configured", out, err)
    finally:
        smtp.terminate()
        smtp.wait()
    sys.exit(1 if tap.failures else 0)


if __name__ == "__main__":
    main()
