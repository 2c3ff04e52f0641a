#!/usr/bin/python3
"""test_ack_stage_moved: an acknowledgement is for the stage the person was shown.

RESPONSES.md: acknowledge "stops reminders and no-response escalation for the alert's current
stage; a higher stage needs a new acknowledgement". Audit 14 (serious): neither the link page's
form nor the pages' form said which stage it was shown for. A chair shown a form at 15m sent it
after the alert moved to 18m, and "acknowledged 18m" was recorded, silencing the 18m stage's
no-response escalation to the head of service, which nobody had seen.

tests/lib/pagesetup.py's daemon (web.listen with links and pages), its triggers installed: C-A1
is at 9m. supa@ is shown the acknowledge form of C-A1 on "/" and on a link page, and the API is
asked with the stage seen; then C-A1's CP plan is made 13 months old and the daemon moves the
alert to 12m by itself (NOTIFY). Then:
  - each form carries the stage it showed (9m);
  - the page's form and the link's form, sent now: 409, "moved", nothing recorded;
  - the API with "stage": "9m": 409 naming the field; without a stage: recorded for 12m;
  - the link page shown again carries 12m, and its form (for another person) records 12m.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR.
"""
import base64
import datetime
import hashlib
import hmac
import json
import os
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import pagesetup as ps  # noqa: E402  (tests/lib/pagesetup.py: the pages' daemon)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)


def sign(secret, fp, recipient, last_day):
    """A link token as linktoken.h documents it (purpose 2: a notice's open link)."""
    key_id = hmac.new(secret, b"driftwatch link key id", hashlib.sha256).digest()[:4]
    r = recipient.encode()
    body = bytes([1, 2]) + key_id + last_day.to_bytes(4, "big", signed=True) + \
        bytes.fromhex(fp) + bytes([len(r)]) + r
    raw = body + hmac.new(secret, body, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def acks(s, fp):
    return s.db.rows("SELECT e.stage, e.actor, e.via FROM %s.alert_events e JOIN %s.alerts a "
                     "USING (alert_id) WHERE a.fingerprint = '%s' AND e.kind = 'acknowledged' "
                     "ORDER BY e.event_id" % (s.state, s.state, fp))


def link_form(s, link):
    st, _, page = ps.request(s.port, "/r/" + link)
    forms = ps.Forms(page).forms
    ack = [f for f in forms if "stage" in f["fields"] and "until" not in f["fields"]]
    return st, (ack[0]["fields"] if ack else {}), page


def run(t, procs, tmp):
    s = ps.Setup(procs, tmp, "dwackmove")
    if not t.check(s.ready(), "the daemon records the fixture's six alerts"):
        return
    p = subprocess.run([lib.DAEMON, "-c", s.cfg, "--install-triggers"], capture_output=True,
                       text=True, timeout=60, env=lib.daemon_env())
    t.check(p.returncode == 0, "--install-triggers", p.stderr[-800:])
    fp = s.fingerprints()["C-A1"]
    who = "supa@la.example"

    st, _, body = ps.request(s.port, "/", headers=ps.as_person(who))
    page_form = ps.Forms(body).find(fp, "acknowledge")
    t.check(st == 200 and page_form and page_form["fields"].get("stage") == "9m",
            "the pages' acknowledge form carries the stage it shows (9m)",
            page_form and page_form["fields"])
    day = s.today()
    link = sign(s.secret, fp, who, day + 14)
    st, link_fields, page = link_form(s, link)
    t.check(st == 200 and link_fields.get("stage") == "9m",
            "the link page's acknowledge form carries the stage it shows (9m)", page[:1500])

    s.db.run("UPDATE casework.cp_plans SET start_date = current_date - interval '13 months' "
             "WHERE child_id = 'C-A1'")
    moved = lib.wait_for(lambda: s.db.value("SELECT stage FROM %s.alerts WHERE fingerprint = "
                                            "'%s'" % (s.state, fp)) == "12m" or None, 60,
                         step=0.5)
    if not t.check(moved, "the daemon moves C-A1's alert to 12m by itself (NOTIFY)"):
        return

    fields = dict(page_form["fields"] if page_form else {}, note="seen at 9m")
    st, _, body = ps.request(s.port, "/answer", "POST", urllib.parse.urlencode(fields).encode(),
                             dict(ps.FORM, **ps.as_person(who)))
    t.check(st == 409 and "moved to the 12m stage" in body and "Nothing was recorded" in body,
            "the pages' form shown at 9m, sent at 12m: 409, it says the alert moved on",
            "%s %s" % (st, body[:1200]))
    t.check(acks(s, fp) == [], "... and nothing is recorded", acks(s, fp))

    fields = dict(link_fields, note="seen at 9m")
    st, _, body = ps.request(s.port, "/r/" + link, "POST",
                             urllib.parse.urlencode(fields).encode(), ps.FORM)
    t.check(st == 409 and "moved to the 12m stage" in body,
            "the link's form shown at 9m, sent at 12m: 409, moved on", "%s %s" % (st, body[:1200]))
    t.check(acks(s, fp) == [], "... and nothing is recorded", acks(s, fp))

    api = "/api/v1/alerts/%s/acknowledge" % fp
    hdr = dict(ps.as_person(who), **{"Content-Type": "application/json"})
    st, _, body = ps.request(s.port, api, "POST", json.dumps({"stage": "9m"}).encode(), hdr)
    try:
        err = json.loads(body)
    except ValueError:
        err = {}
    t.check(st == 409 and err.get("field") == "stage" and "12m" in err.get("error", ""),
            "the API with the stage seen (9m): 409 naming the field", "%s %s" % (st, body))
    t.check(acks(s, fp) == [], "... and nothing is recorded", acks(s, fp))

    # the address as the case data may spell it (a webhook's link): recorded in lower case
    link2 = sign(s.secret, fp, "MgrA@LA.example", day + 14)
    st, link_fields, page = link_form(s, link2)
    t.check(st == 200 and link_fields.get("stage") == "12m",
            "the link page shown again carries the stage now (12m)", page[:1500])
    st, _, body = ps.request(s.port, "/r/" + link2, "POST",
                             urllib.parse.urlencode(link_fields).encode(), ps.FORM)
    t.check(st == 200 and acks(s, fp) == [{"stage": "12m", "actor": "mgra@la.example",
                                            "via": "link"}],
            "... and its form records the acknowledgement for 12m, as mgra@ in lower case "
            "(audit 14: the link's spelling was kept)",
            "%s %s %s" % (st, acks(s, fp), body[:600]))
    st, _, body = ps.request(s.port, api, "POST", b"{}", hdr)
    t.check(st == 200 and len(acks(s, fp)) == 2 and acks(s, fp)[1]["stage"] == "12m",
            "the API without a stage acknowledges the stage now, as before",
            "%s %s %s" % (st, body[:300], acks(s, fp)))

    # resolved and firing again the same day: the acknowledgement answered the firing before
    s.db.run("UPDATE casework.cp_plans SET end_date = current_date WHERE child_id = 'C-A1'")
    gone = lib.wait_for(lambda: s.db.value("SELECT status FROM %s.alerts WHERE fingerprint = "
                                           "'%s'" % (s.state, fp)) == "resolved" or None, 60,
                        step=0.5)
    s.db.run("UPDATE casework.cp_plans SET end_date = NULL WHERE child_id = 'C-A1'")
    back = lib.wait_for(lambda: s.db.value("SELECT status FROM %s.alerts WHERE fingerprint = "
                                           "'%s'" % (s.state, fp)) == "firing" or None, 60,
                        step=0.5)
    st, _, body = ps.request(s.port, "/api/v1/alerts/%s" % fp, headers=ps.as_person(who))
    state = json.loads(body).get("response", {}).get("state") if st == 200 else None
    t.check(gone and back and state == "open",
            "resolved and firing again the same day: open, not still acknowledged (audit 14)",
            "%s %s %s %s" % (gone, back, st, body[:400]))
    rc, text = s.stop()
    t.check(rc == 0, "the daemon stops cleanly", text[-1500:])
    s.db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "ack_stage_moved", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
