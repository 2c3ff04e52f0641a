#!/usr/bin/python3
"""test_link_browser: a Snooze link from a received mail, opened and answered in a real browser
(RESPONSES.md, "Links in notices" and "Pages for people": WCAG 2.2 AA, nothing loaded from
elsewhere; issue 13).

The running daemon on tests/fixtures/daemon.sql (tests/lib/linkmail.py: web.public_url is the
web.listen address) mails its first digest to the real SMTP server. The first item's Snooze
link (from the mail's text part) is opened in Debian's headless chromium driven by npm's
puppeteer-core (link_browser.js):
  - the page: its title, the item's child, the alert's rule and stage as the state schema has
    them, no name from the case data (the contract's only names are workers' and teams'), no
    script, nothing requested from anywhere but the link's own address;
  - the snooze form filled in as a person would: a date typed into the date field (six days
    after the first day it allows), the reason chosen by its words from the list, a note;
    submitted with its button: the page says until when, why, and what happens next;
  - axe-core (injected into each page) finds no WCAG 2 A/AA or best-practice violation on the
    link's page nor on the result;
  - the state records the snooze by the mail's addressee through "link";
  - three screenshots (the page, the filled form, the result) are written under TEST_TMPDIR.
chromium (CHROMIUM, default /usr/bin/chromium) and the npm packages (npm ci in
tests/integration) are required: without them this fails, saying what is missing.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR, CHROMIUM;
database dwbrowser is dropped and created here. KEEP_TMP=1 keeps the screenshots.
"""
import datetime
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import linkmail  # noqa: E402  (tests/lib/linkmail.py: mail links, pages and forms)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

CHROMIUM = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
DRIVER = os.path.join(lib.HERE, "link_browser.js")
REASON_LABEL = "Legal planning (pre-proceedings or PLO)"
NOTE = "Legal planning meeting on the 9th; the pre-proceedings letter has gone."
PNG = b"\x89PNG\r\n\x1a\n"


def prerequisites(t):
    ok = t.check(os.access(CHROMIUM, os.X_OK),
                 "chromium is installed at %s (Debian: apt-get install chromium; .ci/run "
                 "installs it; CHROMIUM names another)" % CHROMIUM)
    mods = os.path.join(lib.HERE, "node_modules")
    have = all(os.path.isdir(os.path.join(mods, m)) for m in ("puppeteer-core", "axe-core"))
    return t.check(have, "the npm packages puppeteer-core and axe-core are installed (npm ci "
                   "in tests/integration)", mods) and ok


def axe_clean(t, what, report):
    v = (report or {}).get("violations")
    t.check(v == [] and report.get("passes", 0) > 0,
            "axe-core: no violation on %s (%s rules passed)" % (what, (report or {}).get(
                "passes")), json.dumps(v, indent=1)[:3000])


def british(iso):
    """'2027-01-05' as the pages write it: '5 Jan 2027'."""
    d = datetime.date.fromisoformat(iso)
    return "%d %s %d" % (d.day, d.strftime("%b"), d.year)


def check_page(t, s, got, child, names):
    g = got.get("get") or {}
    fp = s.alert_of(g.get("facts", {}).get("Rule", "?"), child)
    a = s.alert(fp) if fp else {}
    title = (g.get("title") or "")
    t.check(g.get("status") == 200 and title.startswith("Child %s: " % child) and
            title.endswith(" - driftwatch") and g.get("h1") == title[:-len(" - driftwatch")] and
            g.get("forms") == ["Snooze"] and "This link was sent to " in (g.get("text") or ""),
            "the link's page: 200, titled with the child and the stage in words, saying whom "
            "an answer is recorded as, with the snooze form", json.dumps(g)[:1500])
    facts = g.get("facts", {})
    t.check(a and facts.get("Child") == child and facts.get("Rule") == a["rule"] and
            facts.get("Stage") == a["stage"],
            "it names the mail item's child (%s) and the alert's rule and stage (%s, %s)"
            % (child, a and a["rule"], a and a["stage"]), repr(facts), repr(a))
    shown = [n for n in names if n and n.lower() in (g.get("text") or "").lower()]
    t.check(g.get("text") and not shown and g.get("scripts") == 0,
            "it shows no name from the case data (%d checked) and runs no script" % len(names),
            repr(shown), g.get("text", "")[:800])
    # data: URLs are the browser's own (the date field's calendar icon), not fetched
    net = [u for u in got.get("requests", []) if not u.startswith("data:")]
    elsewhere = [u for u in net if not u.startswith(s.base + "/r/")]
    t.check(net and not elsewhere,
            "the browser fetched nothing but the link's own address (%d requests)" % len(net),
            repr(elsewhere))
    axe_clean(t, "the link's page", g.get("axe"))
    return fp


def check_result(t, s, got, fp, addressee, link):
    until = got.get("until")
    f = got.get("filled") or {}
    t.check(f.get("until") == until and f.get("reason") == "legal_planning" and
            f.get("note") == NOTE and f.get("valid") is True,
            "the form filled in as a person would: the date typed (%s), the reason chosen by "
            "its words, the note; the browser finds it valid" % until, repr(f))
    r = got.get("result") or {}
    text = " ".join((r.get("text") or "").split())
    t.check(r.get("status") == 200 and r.get("url") == link and
            r.get("title") == "Thank you - driftwatch" and
            "Snoozed until %s (%s)" % (british(until), REASON_LABEL) in text and
            "no reminders or escalation until then" in text and
            "A new stage is still sent" in text,
            "submitted with its button: the page says until when, why, and what happens next",
            json.dumps(r)[:1500])
    axe_clean(t, "the result page", r.get("axe"))
    a = s.alert(fp) or {}
    ev = s.responses(fp)
    t.check(a.get("snoozed_until") == until and a.get("snooze_reason") == "legal_planning" and
            a.get("snoozed_by") == addressee and a.get("snooze_note") == NOTE and
            [(e["kind"], e["actor"], e["via"]) for e in ev] == [("snoozed", addressee, "link")],
            "the state: snoozed until %s by %s, one event through link" % (until, addressee),
            repr(a), repr(ev))


def check_shots(t, shots):
    bad = []
    for name in ("1-link-page.png", "2-form-filled.png", "3-result.png"):
        p = os.path.join(shots, name)
        head = open(p, "rb").read(8) if os.path.exists(p) else b""
        if head != PNG or os.path.getsize(p) < 5000:
            bad.append(name)
    t.check(not bad, "three screenshots written (%s)" % shots, repr(bad))


def run(t, procs, tmp):
    if not prerequisites(t):
        return
    s = linkmail.Setup(procs, tmp, "dwbrowser")
    if not t.check(lib.wait_for(lambda: s.firing() >= 3, 90, step=0.5),
                   "the running daemon records the fixture's alerts",
                   "\n".join(s.daemon.lines()[-30:])):
        return
    mails = [m for m in s.mails_with_links(1, 90) if linkmail.text_links(m["text"], s.base)]
    if not t.check(mails, "a digest with links reaches the SMTP server",
                   "\n".join(s.daemon.lines()[-30:])):
        return
    m = mails[0]
    item = linkmail.text_links(m["text"], s.base)[0]
    names = [r["n"] for r in s.db.rows("SELECT display_name AS n FROM casework.workers "
                                       "UNION SELECT name FROM casework.teams")]
    shots = os.path.join(tmp, "screenshots")
    os.makedirs(shots)
    p = subprocess.run(["node", DRIVER, json.dumps({
        "url": item["snooze"], "chromium": CHROMIUM, "shots": shots,
        "reason_label": REASON_LABEL, "days_ahead": 6, "note": NOTE})],
        capture_output=True, text=True, timeout=180)
    with open(os.path.join(shots, "browser.json"), "w") as f:
        f.write(p.stdout)  # what the browser saw, for inspection
    try:
        got = json.loads(p.stdout.strip().splitlines()[-1]) if p.stdout.strip() else {}
    except ValueError:
        got = {}
    if not t.check(p.returncode == 0 and got and not got.get("error"),
                   "chromium opened the link and submitted the form (%s)" % got.get("browser"),
                   "exit %s" % p.returncode, got.get("error"), p.stderr[-2000:]):
        return
    t.note("screenshots in %s" % shots)
    fp = check_page(t, s, got, item["child"], names)
    check_result(t, s, got, fp, m["to"], item["snooze"])
    check_shots(t, shots)
    s.stop(t)


def main():
    t = Tap()
    return lib.run_test(t, "link_browser", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
