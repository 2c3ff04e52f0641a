#!/usr/bin/python3
"""test_snooze_notices: a snoozed alert's new stage and new facts are still notified, showing
the snooze (RESPONSES.md, "Responses": a snooze stops reminders and no-response escalation only;
ALERTS.md: `updated` with new facts is notified; RULES.md: a new missed appointment is notified
again).

On tests/fixtures/once_lifecycle.sql, `driftwatchd --once` on D1 records the alerts; the
responses module (build/san/responses_driver, as a link or the API would) snoozes C-CP-15's
cp_neglect_duration alert and C-WNB's was_not_brought alert, with reasons and notes. Then, with
the real webhook receiver and the real SMTP server:
  - D2: C-CP-15 reaches 15m: alert.escalated goes out, its webhook alert object carrying
    "response" as the JSON API shapes it (state, by, at, until, reason, note), and each email
    saying "Snoozed: until ... by ...: <the reason's label> - <note>" in both parts;
  - a further missed appointment of C-WNB: alert.updated goes out (it was held back before),
    carrying its snooze the same way, to the webhook and to each person;
  - after an unsnooze, another missed appointment: alert.updated with no "response" and no
    snooze line;
  - the daemon's JSON API (web.listen) answers for both alerts with the very "response" objects
    the notices carried.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwsnooze is dropped and created here. Standard library only.
"""
import datetime
import hashlib
import json
import re
import os
import subprocess
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

D1, D2, D3 = "2026-11-21", "2026-11-22", "2026-11-23"
S = "dwsz"
DRIVER = lib.RESPONSES_DRIVER
RESPONSE_KEYS = {"state", "by", "at", "until", "reason", "note"}
CP = dict(actor="sup1@la.example", reason="legal_planning", note="PLO letter sent",
          until="2027-01-15",
          words="Snoozed: until 15 Jan 2027 by sup1@la.example: Legal planning "
                "(pre-proceedings or PLO) \u2014 PLO letter sent")
WNB = dict(actor="sw1@la.example", reason="strategy_agreed", note="health visitor brings her",
           until="2026-12-20",
           words="Snoozed: until 20 Dec 2026 by sw1@la.example: A strategy is agreed "
                 "\u2014 health visitor brings her")


def respond(cfg, today, kind, fp, actor, **kw):
    rc, out, err = lib.respond(cfg, today, kind, fp, actor, **kw)
    return rc, out + err[-1000:]


def fp_of(db, rule, child):
    return db.value("SELECT fingerprint FROM %s.alerts WHERE rule = '%s' AND child_id = '%s'"
                    % (S, rule, child))


def snoozed_at(db, fp):
    return db.value("SELECT snoozed_at FROM %s.alerts WHERE fingerprint = '%s'" % (S, fp))


def same_instant(a, b):
    try:
        return datetime.datetime.fromisoformat(a) == datetime.datetime.fromisoformat(b)
    except (TypeError, ValueError):
        return False


def response_ok(resp, want, at):
    """None when resp is the snooze as the API shapes it, else why not."""
    if not isinstance(resp, dict) or set(resp) != RESPONSE_KEYS:
        return "response %s, not an object of %s" % (json.dumps(resp), sorted(RESPONSE_KEYS))
    got = {k: resp[k] for k in ("state", "by", "until", "reason", "note")}
    exp = {"state": "snoozed", "by": want["actor"], "until": want["until"],
           "reason": want["reason"], "note": want["note"]}
    if got != exp:
        return "response %s, want %s" % (json.dumps(got), json.dumps(exp))
    if not same_instant(resp["at"], at):
        return "at %s, but the snooze was recorded at %s" % (resp["at"], at)
    # one form for every time driftwatch sends, the webhook envelope's (audit 19, F4)
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", resp["at"] or ""):
        return "at %s, not in UTC with microseconds and Z" % resp["at"]
    return None


def flat(s):
    return " ".join(s.split())


def check_mails(t, msgs, label, want_to, child, words):
    got = sorted(m["to"] for m in msgs)
    t.check(got == sorted(want_to), "%s: one email to each of %s" % (label, ", ".join(want_to)),
            "got %s" % got)
    bad = []
    for m in msgs:
        if not any(c == child for _, c, _ in m["items"]):
            bad.append("%s: %s is not listed" % (m["to"], child))
        if words not in flat(m["text"]):
            bad.append("%s: text part lacks %r:\n%s" % (m["to"], words, m["text"][:1500]))
        if words.replace("\u2014", "&mdash;") not in flat(m["html"]) and \
                words not in flat(m["html"]):
            bad.append("%s: HTML part lacks %r" % (m["to"], words))
    t.check(msgs and not bad, "%s: each email shows the snooze in its text and HTML parts "
            "(%s)" % (label, words), "\n".join(bad))


def api_alert(port, token, fp):
    req = urllib.request.Request("http://127.0.0.1:%d/api/v1/alerts/%s" % (port, fp),
                                 headers={"Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, None
    except (OSError, ValueError):
        return None, None


def part_api(t, procs, tmp, db, cfg_conf, port, token, seen):
    """The daemon's JSON API shows each alert's response as the notices carried it."""
    cfg = lib.write_config(tmp, "api", cfg_conf)
    log = open(os.path.join(tmp, "daemon.log"), "w")
    p = procs.add(subprocess.Popen([lib.DAEMON, "-c", cfg], stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT, env=lib.daemon_env()))
    fp = next(iter(seen))
    up = lib.wait_for(lambda: api_alert(port, token, fp)[0] == 200, 60, step=0.5)
    t.check(up, "the daemon's JSON API answers on web.listen")
    for fp, resp in seen.items():
        st, body = api_alert(port, token, fp)
        got = (body or {}).get("response")
        t.check(st == 200 and got == resp,
                "the API's \"response\" of %s is the one its notice carried" % fp[:12],
                "API %s %s\nnotice %s" % (st, json.dumps(got), json.dumps(resp)))
    procs.stop(p)
    log.close()
    with open(os.path.join(tmp, "daemon.log")) as f:
        out = f.read()
    t.check("Sanitizer" not in out and "runtime error:" not in out,
            "the daemon serving the API ran clean under the sanitizers", out[-2000:])


def run(t, procs, tmp):
    db = lib.Db("dwsnooze")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "once_lifecycle.sql"))
    ca = lib.make_ca(tmp)
    pwfile = lib.SmtpServer.password_file(tmp)
    smtp = lib.SmtpServer(procs, tmp, "mail", ca)
    hooks = lib.Receiver(procs, tmp, "hooks")
    hook_secret = lib.new_secret()
    conf = {"database": {"conninfo": db.conninfo("dw-snooze"), "state_schema": S},
            "timezone": "Europe/London",
            "link_template": "https://lcs.example.gov.uk/person/{child_id}",
            "addresses": lib.addresses(),
            "email": lib.email_conf(smtp.port, ca, pwfile),
            "webhooks": [{"url": hooks.url("/all"), "secret": hook_secret}]}
    cfg = lib.write_config(tmp, "snooze", conf)
    t.check(os.access(DRIVER, os.X_OK), "the responses driver is built (%s)" % DRIVER)

    r = lib.run_once(cfg, D1)
    t.check(r.rc == 0 and not r.sanitizer(), "D1: --once exits 0", r.diag())
    fp_cp = fp_of(db, "cp_neglect_duration", "C-CP-15")
    fp_wnb = fp_of(db, "was_not_brought", "C-WNB")
    for fp, w, what in ((fp_cp, CP, "C-CP-15 (12m)"), (fp_wnb, WNB, "C-WNB (repeated)")):
        rc, out = respond(cfg, D1, "snooze", fp, w["actor"], reason=w["reason"],
                          note=w["note"], until=w["until"])
        t.check(rc == 0 and out.startswith("recorded"), "%s snoozed until %s by %s"
                % (what, w["until"], w["actor"]), out)
    seen = {}

    # ---- a new stage of a snoozed alert: notified, showing the snooze ----
    mark_h, mark_m = len(hooks.requests()), smtp.count()
    r = lib.run_once(cfg, D2)
    t.check(r.rc == 0 and not r.sanitizer(), "D2: --once exits 0", r.diag())
    new = [x["json"] for x in hooks.requests()[mark_h:] if x["json"]]
    esc = [j for j in new if j["type"] == "alert.escalated"]
    t.check(len(esc) == 1 and esc[0]["data"]["child_id"] == "C-CP-15"
            and esc[0]["data"]["stage"] == "15m",
            "new stage: alert.escalated (15m) for the snoozed C-CP-15 reaches the webhook",
            json.dumps([(j["type"], j["data"].get("child_id")) for j in new]))
    if esc:
        resp = esc[0]["data"].get("response")
        why = response_ok(resp, CP, snoozed_at(db, fp_cp))
        t.check(why is None, "new stage: the webhook alert object carries the snooze as "
                "\"response\" (state, by, at, until, reason, note)", why or "")
        seen[fp_cp] = resp
    msgs = [m for m in smtp.messages()[mark_m:]
            if any(c == "C-CP-15" for _, c, _ in m["items"])]
    check_mails(t, msgs, "new stage",
                ["chair1@la.example", "cp-manager@la.example", "sup1@la.example"],
                "C-CP-15", CP["words"])

    # ---- new facts of a snoozed alert (a further missed appointment): notified too ----
    db.run("INSERT INTO casework.appointments VALUES ('APT-WNB-3', 'C-WNB', 'health_visiting', "
           "'2026-11-22 09:30+00', 'was_not_brought')")
    mark_h, mark_m = len(hooks.requests()), smtp.count()
    r = lib.run_once(cfg, D2)
    t.check(r.rc == 0 and not r.sanitizer(), "update: --once exits 0", r.diag())
    new = [x["json"] for x in hooks.requests()[mark_h:] if x["json"]]
    upd = [j for j in new if j["type"] == "alert.updated"]
    t.check(len(upd) == 1 and upd[0]["data"]["child_id"] == "C-WNB"
            and upd[0]["data"]["facts"].get("count") == 3,
            "update: alert.updated (3 missed appointments) for the snoozed C-WNB reaches the "
            "webhook", json.dumps([(j["type"], j["data"].get("child_id")) for j in new]))
    if upd:
        resp = upd[0]["data"].get("response")
        why = response_ok(resp, WNB, snoozed_at(db, fp_wnb))
        t.check(why is None, "update: the webhook alert object carries the snooze as "
                "\"response\"", why or "")
        seen[fp_wnb] = resp
    msgs = smtp.messages()[mark_m:]
    check_mails(t, msgs, "update", ["sup1@la.example", "sw1@la.example"], "C-WNB",
                WNB["words"])
    t.check(all("a further missed appointment, 3 in the window now" in flat(m["text"])
                for m in msgs) and msgs,
            "update: the emails say what changed, beside the snooze")
    events = db.value("SELECT count(*) FROM %s.outbox o JOIN %s.alerts a USING (alert_id) "
                      "WHERE a.fingerprint = '%s' AND o.type = 'alert.updated' "
                      "AND o.status = 'delivered'" % (S, S, fp_wnb))
    t.check(events == "3", "update: its three notices (webhook, two people) are delivered",
            "delivered alert.updated notices: %s" % events)

    # ---- unsnoozed: the next change (a missed appointment the day after) carries no snooze ----
    rc, out = respond(cfg, D2, "unsnooze", fp_wnb, "sw1@la.example")
    t.check(rc == 0 and out.startswith("recorded"), "C-WNB unsnoozed", out)
    db.run("INSERT INTO casework.appointments VALUES ('APT-WNB-4', 'C-WNB', 'gp', "
           "'2026-11-23 09:30+00', 'was_not_brought')")
    mark_h, mark_m = len(hooks.requests()), smtp.count()
    r = lib.run_once(cfg, D3)
    new = [x["json"] for x in hooks.requests()[mark_h:] if x["json"]]
    upd = [j for j in new if j["type"] == "alert.updated"]
    msgs = smtp.messages()[mark_m:]
    t.check(r.rc == 0 and not r.sanitizer() and len(upd) == 1
            and upd[0]["data"]["child_id"] == "C-WNB" and "response" not in upd[0]["data"]
            and len(msgs) == 2 and not [m for m in msgs if "Snoozed" in m["text"] + m["html"]],
            "unsnoozed: the next update goes out with no \"response\" and no snooze line",
            r.diag() + json.dumps([j["data"] for j in upd])[:1500])

    ok, _, out = lib.verify_signatures(hooks, hook_secret, "/all", len(hooks.requests("/all")))
    t.check(ok, "every webhook (with a \"response\" or not) verifies as Standard Webhooks",
            out[-1500:])

    # ---- the API shows the same response objects ----
    if seen:
        token = "tok-" + os.urandom(12).hex()
        tf = os.path.join(tmp, "api.tokens")
        with open(tf, "w") as f:
            f.write("ci %s\n" % hashlib.sha256(token.encode()).hexdigest())
        os.chmod(tf, 0o600)
        port = lib.free_port({smtp.port, hooks.port})
        # the WNB alert was unsnoozed: only C-CP-15's snooze is still the API's response
        part_api(t, procs, tmp, db, dict(conf, web={"listen": "127.0.0.1:%d" % port,
                                                    "api_tokens_file": tf}),
                 port, token, {fp_cp: seen[fp_cp]} if fp_cp in seen else {})
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "snooze-notices", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
