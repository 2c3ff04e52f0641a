#!/usr/bin/python3
"""test_web_links: web.listen answering links and the JSON API (RESPONSES.md; issue 13).

The real daemon on tests/fixtures/daemon.sql evaluates and records its alerts; tokens are signed
here as linktoken.h documents (independently of the C code). Then: a GET shows the form and
changes nothing; the form's POST acknowledges as the recipient through "link" (state and
event); the same POST again changes nothing; altered, foreign, expired tokens and a link token
used as a form get the plain refusal; the API with good and bad bearer tokens, 404, 409 (a
resolved alert), 413. Each response recorded (the link's acknowledgement, the API's snooze and
unsnooze) reaches each of the two webhook receivers exactly once as a signed
alert.acknowledged / alert.snoozed / alert.unsnoozed carrying the response; the replays (the
same form again, an unsnooze of an alert not snoozed) send none.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR.
"""
import base64
import datetime
import hashlib
import hmac
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zoneinfo

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402
from tap import Tap  # noqa: E402


def sign(secret, purpose, fp, recipient, last_day):
    key_id = hmac.new(secret, b"driftwatch link key id", hashlib.sha256).digest()[:4]
    r = recipient.encode()
    body = bytes([1, purpose]) + key_id + last_day.to_bytes(4, "big", signed=True) + \
        bytes.fromhex(fp) + bytes([len(r)]) + r
    raw = body + hmac.new(secret, body, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def http(url, data=None, headers=None, method=None, want_headers=False):
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            got = (r.status, r.read().decode(), r.headers)
    except urllib.error.HTTPError as e:
        got = (e.code, e.read().decode(), e.headers)
    return got if want_headers else got[:2]


def raw_request(port, text):
    """Sends text as it is and reads what comes back until the server closes (10 s at most)."""
    got = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(text.encode())
        try:
            while True:
                part = c.recv(65536)
                if not part:
                    break
                got += part
        except OSError:
            pass
    return got


def no_store(t, what, url, headers=None):
    """Personal data: the answer must tell every cache on the way not to keep it."""
    st, _, h = http(url, headers=headers, want_headers=True)
    t.check(h.get_all("Cache-Control") == ["no-store"] and
            h.get_all("X-Content-Type-Options") == ["nosniff"],
            "%s: Cache-Control no-store and nosniff, each once (%s)" % (what, st),
            str(h.items()))


def run(t, procs, tmp):
    db = lib.Db("dwweb")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "daemon.sql"))
    secret = base64.b64encode(os.urandom(33))
    sf = os.path.join(tmp, "link.secret")
    with open(sf, "wb") as f:
        f.write(secret + b"\n")
    token = "tok-" + base64.urlsafe_b64encode(os.urandom(24)).decode()
    tf = os.path.join(tmp, "api.tokens")
    with open(tf, "w") as f:
        f.write("# API tokens\nci %s\n" % hashlib.sha256(token.encode()).hexdigest())
    os.chmod(sf, 0o600)
    os.chmod(tf, 0o600)
    port = lib.free_port()
    hport = lib.free_port({port})
    hooks = lib.Receiver(procs, tmp, "hooks", port=lib.free_port({port, hport}))
    hook_secret = lib.new_secret()
    cfg = lib.write_config(tmp, "web", {
        "database": {"conninfo": db.conninfo("dw-web"), "state_schema": "dwweb"},
        "timezone": "Europe/London", "addresses": lib.addresses(),
        "http": {"listen": "127.0.0.1:%d" % hport},
        "webhooks": [{"url": hooks.url("/a"), "secret": hook_secret},
                     {"url": hooks.url("/b"), "secret": hook_secret}],
        "web": {"public_url": "https://dw.example/care", "link_secret_file": sf,
                "link_days": 14, "listen": "127.0.0.1:%d" % port, "api_tokens_file": tf}})
    log = open(os.path.join(tmp, "daemon.log"), "w")
    p = subprocess.Popen([lib.DAEMON, "-c", cfg], stdin=subprocess.DEVNULL, stdout=log,
                         stderr=subprocess.STDOUT, env=lib.daemon_env())
    procs.add(p)
    def firing():
        try:
            return int(db.value("SELECT count(*) FROM dwweb.alerts WHERE status = 'firing'"))
        except RuntimeError:  # the schema is not there until the daemon migrates
            return 0
    ok = lib.wait_for(lambda: firing() > 0, 60, step=0.5)
    if not t.check(ok, "the daemon records firing alerts"):
        return
    fp = db.value("SELECT fingerprint FROM dwweb.alerts WHERE status = 'firing' "
                  "ORDER BY fingerprint LIMIT 1")
    stage = db.value("SELECT stage FROM dwweb.alerts WHERE fingerprint = '%s'" % fp)
    today = datetime.datetime.now(zoneinfo.ZoneInfo("Europe/London")).date()
    day = (today - datetime.date(1970, 1, 1)).days
    who = "tm@la.example"
    base = "http://127.0.0.1:%d" % port
    link = sign(secret, 2, fp, who, day + 14)

    def events():
        return db.value("SELECT count(*) FROM dwweb.alert_events e JOIN dwweb.alerts a "
                        "USING (alert_id) WHERE a.fingerprint = '%s' AND e.kind = "
                        "'acknowledged'" % fp)

    no_store(t, "a link page", base + "/r/" + link)
    st, page = http(base + "/r/" + link)
    t.check(st == 200 and '<html lang="en-GB">' in page and 'name="form"' in page and
            "<label for=\"ack-note\">" in page and "<script" not in page,
            "GET: the page with a labelled acknowledge form", "%s %s" % (st, page[:800]))
    rule = db.value("SELECT rule FROM dwweb.alerts WHERE fingerprint = '%s'" % fp)
    named = re.search(r'<dt>Rule</dt><dd data-key="%s">([^<]+) <span class="muted">\(%s\)'
                      r'</span></dd>\s*<dt>Stage</dt><dd data-key="%s">([^<]+) '
                      r'<span class="muted">\(%s\)</span></dd>' % (rule, rule, stage, stage),
                      page)
    t.check(named and named.group(1) != rule and " " in named.group(2),
            "the page names the rule and the stage in words, with their keys (%s, %s)"
            % (rule, stage), page[:1500])
    t.check(str(events()) == "0" and db.value("SELECT acknowledged_by FROM dwweb.alerts "
                                              "WHERE fingerprint = '%s'" % fp) == "",
            "GET changes nothing")
    m = re.search(r'name="form" value="([A-Za-z0-9_-]+)"', page)
    form = m.group(1) if m else ""
    body = urllib.parse.urlencode({"form": form, "note": "discussed in supervision"}).encode()
    ctype = {"Content-Type": "application/x-www-form-urlencoded"}
    st, page = http(base + "/r/" + link, body, ctype)
    t.check(st == 200 and "Acknowledged for the %s stage" % stage in page,
            "POST acknowledges and says what happens next", "%s %s" % (st, page[:800]))
    row = db.rows("SELECT actor, via, note FROM dwweb.alert_events e JOIN dwweb.alerts a "
                  "USING (alert_id) WHERE a.fingerprint = '%s' AND e.kind = 'acknowledged'" % fp)
    t.check(len(row) == 1 and row[0]["actor"] == who and row[0]["via"] == "link" and
            row[0]["note"] == "discussed in supervision",
            "the event names the recipient, the channel link and the note", repr(row))
    st, page = http(base + "/r/" + link, body, ctype)
    t.check(st == 200 and "nothing was changed" in page and str(events()) == "1",
            "the same form again changes nothing", "%s %s events %s" % (st, page[:400], events()))
    # refusals
    altered = link[:-3] + ("AAA" if link[-3:] != "AAA" else "BBB")
    foreign = sign(b"another installation's secret, 32 bytes long", 2, fp, who, day + 14)
    expired = sign(secret, 2, fp, who, day - 1)
    for name, tok, code in (("altered", altered, 403), ("foreign", foreign, 403),
                            ("expired", expired, 410), ("garbage", "not-a-token!", 400)):
        st, page = http(base + "/r/" + urllib.parse.quote(tok))
        t.check(st == code and fp not in page and "<dl>" not in page and
                "<form" not in page, "%s token: %d, a plain page without the alert" % (name, code),
                "%s %s" % (st, page[:400]))
    st, page = http(base + "/r/" + link, urllib.parse.urlencode({"form": link}).encode(), ctype)
    t.check(st == 400 and str(events()) == "1", "a link token posted as a form is refused",
            "%s %s" % (st, page[:300]))
    # API
    auth = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    st, out = http(base + "/api/v1/alerts/" + fp, headers={"Authorization": "Bearer wrong"})
    t.check(st == 401 and "error" in json.loads(out), "API: a wrong token gets 401", out)
    no_store(t, "the API", base + "/api/v1/alerts/" + fp, headers=auth)
    no_store(t, "a refusal", base + "/api/v1/alerts/" + fp, headers={"Authorization": "Bearer x"})
    st, out = http(base + "/api/v1/alerts/" + fp, headers=auth)
    j = json.loads(out) if st == 200 else {}
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"
    times = [j.get("response", {}).get("at")] + [h.get("at") for h in j.get("history", [])]
    t.check(st == 200 and j.get("response", {}).get("state") == "acknowledged" and
            any(h.get("via") == "link" for h in j.get("history", [])) and
            all(re.fullmatch(stamp, x or "") for x in times),
            "API: one alert with its response and history, every time in UTC with "
            "microseconds and Z (audit 19, F4)", out[:600])
    st, out = http(base + "/api/v1/alerts/" + "0" * 64, headers=auth)
    t.check(st == 404, "API: an unknown fingerprint gets 404", out)
    until = (today + datetime.timedelta(days=10)).isoformat()
    st, out = http(base + "/api/v1/alerts/%s/snooze" % fp,
                   json.dumps({"until": until, "reason": "nonsense"}).encode(), auth)
    t.check(st == 400 and json.loads(out).get("field") == "reason",
            "API: a bad reason gets 400 naming the field", out)
    st, out = http(base + "/api/v1/alerts/%s/snooze" % fp,
                   json.dumps({"until": until, "reason": "legal_planning"}).encode(), auth)
    j = json.loads(out) if st == 200 else {}
    t.check(st == 200 and j.get("changed") is True and
            j["alert"]["response"]["state"] == "snoozed" and
            j["alert"]["response"]["by"] == "api:ci", "API: snooze recorded as api:ci", out[:600])
    st, out = http(base + "/api/v1/alerts?status=snoozed", headers=auth)
    j = json.loads(out) if st == 200 else {}
    t.check(st == 200 and [a["fingerprint"] for a in j.get("alerts", [])] == [fp],
            "API: the list filtered by status", out[:400])
    st, out = http(base + "/api/v1/alerts/%s/acknowledge" % fp, b"x" * 70000, auth)
    try:
        said = json.loads(out).get("error", "")
    except ValueError:
        said = ""
    t.check(st == 413 and "64 KiB" in said,
            "API: a body over 64 KiB gets 413 as RESPONSES.md's JSON {\"error\": ...} (it was "
            "evhttp's HTML page)", "%s %s" % (st, out[:200]))
    # 1 MiB is what a proxy left at its defaults lets through (nginx's client_max_body_size):
    # evhttp reads that much, so the answer is still the API's own (it was evhttp's HTML page
    # from 256 KiB on, sent while the body was still coming: the sender saw its connection reset)
    try:
        st, out = http(base + "/api/v1/alerts/%s/acknowledge" % fp, b"x" * (1024 * 1024), auth)
    except (urllib.error.URLError, OSError) as e:
        st, out = None, repr(e)
    try:
        said = json.loads(out).get("error", "")
    except ValueError:
        said = ""
    t.check(st == 413 and "64 KiB" in said,
            "API: a body of 1 MiB gets the same JSON 413", "%s %s" % (st, out[:200]))
    # Past 1 MiB the body is refused from its Content-Length alone, before any of it is read
    head = raw_request(port, "POST /api/v1/alerts/%s/acknowledge HTTP/1.1\r\nHost: x\r\n"
                       "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                       "Content-Length: %d\r\n\r\n" % (fp, token, 1024 * 1024 + 1))
    t.check(head.startswith(b"HTTP/1.1 413 "),
            "API: a body announced past 1 MiB is refused with 413 without being read", head[:200])
    st, out = http(base + "/api/v1/alerts/" + fp, headers=auth)
    t.check(st == 200 and json.loads(out).get("fingerprint") == fp,
            "API: answers as before after the bodies it refused", "%s %s" % (st, out[:200]))
    st, out, h = http(base + "/api/v1/alerts", b"{}", auth, method="POST", want_headers=True)
    t.check(st == 405 and h.get("Allow") == "GET" and "error" in json.loads(out),
            "API: a wrong method gets 405 with Allow (audit 14: it had none)",
            "%s %s %s" % (st, dict(h), out))
    st, out = http(base + "/api/v1/alerts/%s/acknowledge" % fp,
                   b'{"note": "a", "note": "b"}', auth)
    t.check(st == 400 and json.loads(out).get("field") == "body" and
            "duplicate" in json.loads(out).get("error", ""),
            "API: a key given twice gets 400, not its last value (audit 14)", out)
    st, out = http(base + "/api/v1/alerts/%s/unsnooze" % fp, b"", auth)
    j = json.loads(out) if st == 200 else {}
    t.check(st == 200 and j.get("changed") is True, "API: unsnooze recorded", out[:400])
    st, out = http(base + "/api/v1/alerts/%s/unsnooze" % fp, b"", auth)
    j = json.loads(out) if st == 200 else {}
    t.check(st == 200 and j.get("changed") is False, "API: unsnooze again changes nothing",
            out[:400])
    check_hooks(t, db, hooks, hook_secret, fp, stage, who, until)
    db.run("UPDATE dwweb.alerts SET status = 'resolved' WHERE fingerprint = '%s'" % fp)
    st, out = http(base + "/api/v1/alerts/%s/unsnooze" % fp, b"", auth)
    t.check(st == 409, "API: a resolved alert gets 409", "%s %s" % (st, out))
    # /metrics counts what was recorded: the link's acknowledgement once (its repeat changed
    # nothing), the API's snooze and its unsnooze (whose replay changed nothing), and not the
    # refused or 409 ones
    st, out = http("http://127.0.0.1:%d/metrics" % hport)
    got = {k: re.search(r'^driftwatch_responses_total\{kind="%s"\} (\d+)$' % k, out, re.M)
           for k in ("acknowledged", "snoozed", "unsnoozed")}
    got = {k: m and int(m.group(1)) for k, m in got.items()}
    t.check(st == 200 and got == {"acknowledged": 1, "snoozed": 1, "unsnoozed": 1},
            "/metrics counts the responses recorded, by kind", got, out[-1500:])
    p.terminate()
    rc = p.wait(timeout=20)
    log.close()
    text = open(os.path.join(tmp, "daemon.log")).read()
    t.check(rc == 0 and "Sanitizer" not in text and "runtime error" not in text,
            "the daemon stops cleanly with no sanitizer report", text[-2000:])


RESPONSE_TYPES = ("alert.acknowledged", "alert.snoozed", "alert.unsnoozed")


def check_hooks(t, db, hooks, secret, fp, stage, who, until):
    """Each response reached each receiver once, with its fields; nothing for the replays."""
    def mine():
        return [r for r in hooks.requests() if r["json"] and
                r["json"].get("type") in RESPONSE_TYPES and
                r["json"].get("data", {}).get("fingerprint") == fp]
    lib.wait_for(lambda: len(mine()) >= 6, 30, step=0.3)
    time.sleep(2.5)  # a poll more: a seventh (a replay's) would come now
    got = mine()
    by = {}
    for r in got:
        by.setdefault((r["path"].split("?")[0], r["json"]["type"]), []).append(r)
    t.check(sorted(by) == sorted((p, k) for p in ("/a", "/b") for k in RESPONSE_TYPES) and
            all(len(v) == 1 for v in by.values()),
            "each receiver got one alert.acknowledged, alert.snoozed, alert.unsnoozed; none "
            "for the replays", repr(sorted((k, len(v)) for k, v in by.items())))
    queued = db.rows("SELECT o.type, o.channel, count(*) AS n FROM dwweb.outbox o JOIN dwweb.alerts a "
                     "USING (alert_id) WHERE a.fingerprint = '%s' AND o.type LIKE 'alert.%%ed' "
                     "AND o.type <> 'alert.escalated' GROUP BY 1, 2 ORDER BY 1, 2" % fp)
    t.check([(r["type"], r["channel"], int(r["n"])) for r in queued] ==
            [(k, "webhook", 2) for k in RESPONSE_TYPES],
            "the outbox holds two notices of each response type, no email", repr(queued))
    resp = {k: [r["json"]["data"].get("response") for r in got if r["json"]["type"] == k]
            for k in RESPONSE_TYPES}
    ack = resp["alert.acknowledged"][0] if resp["alert.acknowledged"] else {}
    t.check(ack.get("kind") == "acknowledged" and ack.get("by") == who and
            ack.get("via") == "link" and ack.get("stage") == stage and
            ack.get("note") == "discussed in supervision" and ack.get("until") is None and
            re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", ack.get("at") or ""),
            "alert.acknowledged carries who, through what, the stage, the note, when (UTC, "
            "microseconds, Z, as the envelope's timestamp)",
            repr(ack))
    sn = resp["alert.snoozed"][0] if resp["alert.snoozed"] else {}
    t.check(sn.get("kind") == "snoozed" and sn.get("by") == "api:ci" and
            sn.get("via") == "api" and sn.get("until") == until and
            sn.get("reason") == "legal_planning" and sn.get("stage") == stage,
            "alert.snoozed carries the date and the reason", repr(sn))
    un = resp["alert.unsnoozed"][0] if resp["alert.unsnoozed"] else {}
    t.check(un.get("kind") == "unsnoozed" and un.get("by") == "api:ci" and
            un.get("via") == "api" and un.get("until") is None,
            "alert.unsnoozed names who and how", repr(un))
    t.check([r.get("state") for r in (ack, sn, un)] == ["acknowledged", "snoozed",
                                                         "acknowledged"],
            "each response carries the API's state too, what is in force after it: one "
            "shape wherever a receiver meets a response (audit 14)",
            repr([ack.get("state"), sn.get("state"), un.get("state")]))
    t.check(got and all(r["json"]["data"].get("status") == "firing" and
                r["json"]["data"].get("rule") and "actions" not in r["json"]["data"] and
                r["headers"].get("webhook-id", "").startswith("msg_") for r in got),
            "the data is the alert object with no links; the webhook-id is the outbox key",
            repr([r["json"]["data"] for r in got][:1])[:1500])
    total = {p: len(hooks.requests(p)) for p in ("/a", "/b")}
    for p in ("/a", "/b"):
        ok, _, out = lib.verify_signatures(hooks, secret, p, total[p])
        t.check(ok, "every request to %s verifies as a Standard Webhook" % p, out[-1500:])


def main():
    t = Tap()
    rc = lib.run_test(t, "web_links", lambda procs, tmp: run(t, procs, tmp))
    return rc


if __name__ == "__main__":
    sys.exit(main())
