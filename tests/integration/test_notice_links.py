#!/usr/bin/python3
"""test_notice_links: the Acknowledge, Snooze and Open links in notices (RESPONSES.md, "Links in
notices"; issue 13, item 1), end to end.

On tests/fixtures/once_lifecycle.sql (30 alerts, 5 people and the duty address), `driftwatchd
--once` with web.public_url and web.link_secret_file set delivers to the real SMTP server
(smtp_server.py) and the real webhook receiver (webhook_receiver.py). Every token is checked here
as linktoken.h documents its format, independently of the C code: base64url, version 1, the
purpose of its link, the key id and HMAC-SHA256 under the secret in the file, the last day
(as_of + web.link_days, as a day number since 1970-01-01), the alert's fingerprint and the
person it was sent to:
  - each email: each alert's item has Acknowledge, Snooze and Open, as plain URLs in the text
    part and as the same links (words, not images) in the HTML part, each naming the email's
    addressee and an alert that went out;
  - each webhook alert object: "actions", a set per person in its recipients, each naming that
    person and the object's fingerprint; the requests still verify as Standard Webhooks;
then the same authority with web.* unset (no link, no "actions" anywhere), and with a link secret
that cannot be read (the notices go without links, and the log says why once).

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwlinks is dropped and created here. Standard library only.
"""
import base64
import datetime
import hashlib
import hmac
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

D1 = "2026-11-21"
PUBLIC = "https://dw.la.example/care"
DAYS = 14
LINK_RE = re.compile(re.escape(PUBLIC) + r"/r/([A-Za-z0-9_-]+)")
PURPOSE = {"open": 1, "acknowledge": 2, "snooze": 3}


def day_number(iso):
    return (datetime.date.fromisoformat(iso) - datetime.date(1970, 1, 1)).days


def decode(token, secret):
    """linktoken.h's version 1, checked byte by byte; a dict, or a string saying what is
    wrong."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError as e:
        return "not base64url: %s" % e
    if len(raw) < 43 + 1 + 32:
        return "too short (%d bytes)" % len(raw)
    n = raw[42]
    if len(raw) != 43 + n + 32:
        return "length %d does not match a recipient of %d bytes" % (len(raw), n)
    key_id = hmac.new(secret, b"driftwatch link key id", hashlib.sha256).digest()[:4]
    mac = hmac.new(secret, raw[:43 + n], hashlib.sha256).digest()
    if raw[0] != 1:
        return "version %d" % raw[0]
    if raw[2:6] != key_id:
        return "another key id"
    if not hmac.compare_digest(raw[43 + n:], mac):
        return "the signature does not match"
    return {"purpose": raw[1], "last_day": int.from_bytes(raw[6:10], "big", signed=True),
            "fingerprint": raw[10:42].hex(), "recipient": raw[43:43 + n].decode()}


def check_link(token, secret, kind, recipient, fingerprints, last_day):
    """None when the token is good for exactly this, else why not."""
    c = decode(token, secret)
    if isinstance(c, str):
        return c
    if c["purpose"] != PURPOSE[kind]:
        return "purpose %d for %s" % (c["purpose"], kind)
    if c["recipient"] != recipient:
        return "names %s, not %s" % (c["recipient"], recipient)
    if c["fingerprint"] not in fingerprints:
        return "names alert %s, not one that went out" % c["fingerprint"]
    if c["last_day"] != last_day:
        return "last day %d, not %d" % (c["last_day"], last_day)
    return None


def item_links(text):
    """The plain text part's links per item: [[(kind, token), ...], ...] in order (the URL
    alone on its line: the mail's CRLF line ends are still there)."""
    out = []
    for block in re.split(r"(?m)^(?=\d+\. )", text)[1:]:
        out.append([(m.group(1).lower(), m.group(2)) for m in re.finditer(
            r"(?m)^   (Acknowledge|Snooze|Open): " + re.escape(PUBLIC) + r"/r/([A-Za-z0-9_-]+)\r?$",
            block)])
    return out


def html_links(html):
    """The HTML part's links: [(words, token)] in order."""
    return [(m.group(2), m.group(1)) for m in re.finditer(
        r'<a href="' + re.escape(PUBLIC) + r'/r/([A-Za-z0-9_-]+)"[^>]*>([^<]*)</a>', html)]


def config(tmp, name, db, state, smtp, ca, pwfile, hooks, hook_secret, web):
    conf = {"database": {"conninfo": db.conninfo("dw-" + name), "state_schema": state},
            "link_template": "https://lcs.example.gov.uk/person/{child_id}",
            "addresses": lib.addresses(),
            "email": lib.email_conf(smtp.port, ca, pwfile),
            "webhooks": [{"url": hooks.url("/" + name), "secret": hook_secret}]}
    if web:
        conf["web"] = web
    return lib.write_config(tmp, name, conf)


def part_links(t, procs, tmp, db, ca, pwfile, hooks, hook_secret):
    smtp = lib.SmtpServer(procs, tmp, "mail-on", ca)
    secret = base64.b64encode(os.urandom(33)).decode()
    secret_file = os.path.join(tmp, "link.secret")
    with open(secret_file, "w") as f:
        f.write(secret + "\n")
    os.chmod(secret_file, 0o600)
    key = secret.encode()
    cfg = config(tmp, "on", db, "dwl_on", smtp, ca, pwfile, hooks, hook_secret,
                 {"public_url": PUBLIC, "link_secret_file": secret_file, "link_days": DAYS})
    r = lib.run_once(cfg, D1)
    t.check(r.rc == 0 and not r.sanitizer(), "links on: --once exits 0", r.diag())
    last_day = day_number(D1) + DAYS

    posts = [q for q in hooks.requests("/on") if q["json"]]
    fps = {q["json"]["data"]["fingerprint"] for q in posts}
    t.check(len(posts) == 30 and len(fps) == 30, "links on: 30 webhook alerts, 30 fingerprints",
            "got %d posts, %d fingerprints" % (len(posts), len(fps)))
    bad, counted = [], 0
    for q in posts:
        data = q["json"]["data"]
        people = []
        for rc in data.get("recipients") or []:
            if rc.get("email") and rc["email"].lower() not in [p.lower() for p in people]:
                people.append(rc["email"])
        want = [(k, p) for p in people for k in ("acknowledge", "snooze", "open")]
        got = [(a.get("kind"), a.get("recipient")) for a in data.get("actions", [])]
        if got != want:
            bad.append("%s: actions %s, want %s" % (data["fingerprint"][:12], got, want))
            continue
        for a in data["actions"]:
            m = re.fullmatch(LINK_RE, a.get("url", ""))
            why = check_link(m.group(1), key, a["kind"], a["recipient"],
                             {data["fingerprint"]}, last_day) if m else "not {public_url}/r/"
            counted += 1
            if why:
                bad.append("%s %s: %s" % (data["fingerprint"][:12], a["kind"], why))
    t.check(posts and not bad and counted >= 3 * len(posts),
            "links on: every webhook alert carries acknowledge, snooze and open for each of "
            "its people, each token good for that person and that alert (%d checked)" % counted,
            "\n".join(bad[:20]))
    ok, _, out = lib.verify_signatures(hooks, hook_secret, "/on", 30)
    t.check(ok, "links on: the webhooks with actions still verify as Standard Webhooks", out)

    mails = smtp.messages()
    t.check(len(mails) >= 5, "links on: the digests went out (%d)" % len(mails))
    bad, counted, items = [], 0, 0
    for m in mails:
        per_item = item_links(m["text"])
        items += len(m["items"])
        if len(per_item) != len(m["items"]) or not per_item:
            bad.append("%s: %d items, %d with links" % (m["to"], len(m["items"]),
                                                       len(per_item)))
        text_tokens = []
        for links in per_item:
            if [k for k, _ in links] != ["acknowledge", "snooze", "open"]:
                bad.append("%s: an item's links are %s" % (m["to"], [k for k, _ in links]))
            for kind, token in links:
                why = check_link(token, key, kind, m["to"], fps, last_day)
                counted += 1
                text_tokens.append((kind, token))
                if why:
                    bad.append("%s %s: %s" % (m["to"], kind, why))
        html = [(w.lower(), tok) for w, tok in html_links(m["html"])]
        if html != text_tokens:
            bad.append("%s: the HTML part's links are not the text part's (%d, %d)"
                       % (m["to"], len(html), len(text_tokens)))
        if "<img" in m["html"]:
            bad.append("%s: an image in the HTML part" % m["to"])
    t.check(mails and not bad and counted == 3 * items,
            "links on: each alert in each email has Acknowledge, Snooze and Open, the same in "
            "both parts, each token good for the addressee and an alert that went out "
            "(%d emails, %d items, %d tokens)" % (len(mails), items, counted),
            "\n".join(bad[:20]))
    sample = mails[0]["text"] if mails else ""
    t.check("web.link_secret_file" not in r.err and secret not in r.err,
            "links on: nothing about the link secret is logged, and never the secret itself",
            r.err[-2000:])
    t.check(secret not in "".join(m["raw"].decode("ascii", "replace") for m in mails),
            "links on: the secret is in no email", sample[:500])


def part_off(t, procs, tmp, db, ca, pwfile, hooks, hook_secret):
    smtp = lib.SmtpServer(procs, tmp, "mail-off", ca)
    cfg = config(tmp, "off", db, "dwl_off", smtp, ca, pwfile, hooks, hook_secret, None)
    r = lib.run_once(cfg, D1)
    t.check(r.rc == 0 and not r.sanitizer(), "links off: --once exits 0", r.diag())
    posts = [q for q in hooks.requests("/off") if q["json"]]
    t.check(len(posts) == 30 and not [q for q in posts if "actions" in q["json"]["data"]],
            "links off: 30 webhook alerts, none with \"actions\"", "got %d" % len(posts))
    mails = smtp.messages()
    raw = "".join(m["raw"].decode("ascii", "replace") + m["text"] + m["html"] for m in mails)
    t.check(len(mails) >= 5 and "/r/" not in raw and "Acknowledge" not in raw,
            "links off: %d emails, no link or button in any" % len(mails))


def part_broken(t, procs, tmp, db, ca, pwfile, hooks, hook_secret):
    smtp = lib.SmtpServer(procs, tmp, "mail-broken", ca)
    broken = os.path.join(tmp, "a-directory")
    os.mkdir(broken)
    cfg = config(tmp, "broken", db, "dwl_broken", smtp, ca, pwfile, hooks, hook_secret,
                 {"public_url": PUBLIC, "link_secret_file": broken})
    r = lib.run_once(cfg, D1)
    t.check(r.rc == 0 and not r.sanitizer(), "unreadable link secret: --once exits 0", r.diag())
    posts = [q for q in hooks.requests("/broken") if q["json"]]
    mails = smtp.messages()
    raw = "".join(m["raw"].decode("ascii", "replace") for m in mails)
    t.check(len(posts) == 30 and len(mails) >= 5 and "/r/" not in raw and
            not [q for q in posts if "actions" in q["json"]["data"]],
            "unreadable link secret: every notice is delivered, without links (%d webhooks, "
            "%d emails)" % (len(posts), len(mails)))
    t.check(r.err.count("web.link_secret_file") == 1 and "without" in r.err,
            "unreadable link secret: the log names web.link_secret_file once, saying notices "
            "go without links", r.err[-2000:])


def run(t, procs, tmp):
    db = lib.Db("dwlinks")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "once_lifecycle.sql"))
    ca = lib.make_ca(tmp)
    pwfile = lib.SmtpServer.password_file(tmp)
    hooks = lib.Receiver(procs, tmp, "hooks")
    hook_secret = lib.new_secret()
    part_links(t, procs, tmp, db, ca, pwfile, hooks, hook_secret)
    part_off(t, procs, tmp, db, ca, pwfile, hooks, hook_secret)
    part_broken(t, procs, tmp, db, ca, pwfile, hooks, hook_secret)
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "notice-links", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
