#!/usr/bin/python3
"""test_pages_browser: "/", "/team/{team_id}" and "/child/{child_id}" in a real browser as a
supervisor, a head of service and a CP chair would use them (RESPONSES.md, "Pages for people": no JavaScript, nothing loaded from
elsewhere, WCAG 2.2 AA; issue 14).

The running daemon on tests/lib/pagesetup.py's fixture; Debian's headless chromium driven by npm's
puppeteer-core (pages_browser.js) sends the sign-on header on every request from 127.0.0.1, as
the authority's sign-on proxy would:
  - the supervisor's "/": signed in as them, their four alerts in the answer order and none of
    the other team's; one alert answered through its card's form (the disclosure opened, a note
    typed, Acknowledge pressed): the result page says so, the state records it through "page"
    as them, and "/" then lists it as answered;
  - their team's page, filtered by response with the form's Show button; the other team's page
    refused (403);
  - the head of service's "/" (all six) and the other team's page (its two), and that page as
    printed (the forms hidden);
  - the CP chair's "/" (the one alert of the plan they chair), the child's chronology reached by
    its link there, with its timeline, and another team's child refused (403);
  - axe-core finds no WCAG 2 A/AA or best-practice violation on any page; no script runs; the
    browser fetches nothing but the daemon's own pages;
  - screenshots under TEST_TMPDIR (KEEP_TMP=1 keeps them).
chromium (CHROMIUM, default /usr/bin/chromium) and the npm packages (npm ci in
tests/integration) are required: without them this fails, saying what is missing.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR, CHROMIUM.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402
import pagesetup as ps  # noqa: E402
from tap import Tap  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
DRIVER = os.path.join(lib.HERE, "pages_browser.js")
# with an address pasted in, one word of 160 characters: it must wrap, not widen the page
LONG_WORD = "https://lcs.example.gov.uk/documents/" + "0123456789abcdef" * 7 + "/minutes.pdf"
NOTE = "Talked through in supervision on Tuesday; the plan review is booked. " + LONG_WORD
PNG = b"\x89PNG\r\n\x1a\n"
SHOTS = ["1-supervisor-my-alerts.png", "2-supervisor-answering.png",
         "3-supervisor-answered.png", "3b-supervisor-back.png", "3c-supervisor-320px.png",
         "4-supervisor-team.png",
         "5-supervisor-team-filtered.png",
         "6-head-my-alerts.png", "7-head-other-team.png", "8-head-other-team-print.png",
         "9-chair-my-alerts.png", "10-chair-child.png"]


def prerequisites(t):
    ok = t.check(os.access(CHROMIUM, os.X_OK),
                 "chromium is installed at %s (Debian: apt-get install chromium; CHROMIUM "
                 "names another)" % CHROMIUM)
    mods = os.path.join(lib.HERE, "node_modules")
    have = all(os.path.isdir(os.path.join(mods, m)) for m in ("puppeteer-core", "axe-core"))
    return t.check(have, "the npm packages puppeteer-core and axe-core are installed (npm ci "
                   "in tests/integration)", mods) and ok


def axe_clean(t, what, page):
    report = (page or {}).get("axe") or {}
    v = report.get("violations")
    t.check(v == [] and report.get("passes", 0) > 0,
            "axe-core: no violation on %s (%s rules passed)" % (what, report.get("passes")),
            json.dumps(v, indent=1)[:3000])


def children(page, section=None):
    return [c["child"] for c in (page or {}).get("cards", [])
            if section is None or (c["section"] or "").startswith(section)]


def check_supervisor(t, s, got, fp):
    m = got.get("sup_mine") or {}
    t.check(m.get("status") == 200 and m.get("title") == "My alerts - driftwatch" and
            "supa@la.example" in m.get("who", "") and m.get("scripts") == 0,
            "the supervisor's /: 200, 'My alerts', signed in as supa@, no script", m.get("status"),
            m.get("title"), m.get("who"))
    t.check(children(m, "To answer first") == ps.FIRST_ORDER,
            "their four alerts to answer first, in the answer order, none of team B's",
            children(m))
    axe_clean(t, "the supervisor's /", m)
    r = got.get("sup_result") or {}
    text = " ".join((r.get("text") or "").split())
    t.check(got.get("opened") is True and r.get("status") == 200 and
            r.get("title") == "My alerts - driftwatch" and
            "/?answered=%s&did=acknowledge" % fp["C-A1"] in (r.get("url") or "") and
            "Recorded. Child C-A1: Acknowledged for the 9m stage" in text and
            children(r, "Answered") == ["C-A1"],
            "answered through the card's form (disclosure opened, note typed, Acknowledge "
            "pressed): back on the list, which says what was recorded and shows C-A1 answered",
            r.get("status"), r.get("url"), text[:800])
    axe_clean(t, "the list after an answer", r)
    ev = s.events()
    t.check(ev == [{"child_id": "C-A1", "kind": "acknowledged", "actor": "supa@la.example",
                    "via": "page", "note": NOTE, "reason": None}],
            "the state records it as supa@ through page, with the typed note", ev)
    a = got.get("sup_after") or {}
    reload_requests = got.get("reload_requests") or []
    t.check(children(a, "Answered") == ["C-A1"] and
            reload_requests[:1] == ["GET " + (r.get("url") or "?")] and
            not any(x.startswith("POST") for x in reload_requests),
            "a reload asks for the list again and never sends the form again", reload_requests)
    for name, what in (("sup_after", "1000 px"), ("sup_narrow", "320 px")):
        w = got.get(name) or {}
        t.check(LONG_WORD[:40] in (w.get("text") or "") and
                0 < (w.get("scroll_width") or 0) <= (w.get("client_width") or 0),
                "the list at %s shows the note with its %d-character address and no sideways "
                "scroll (page %s px wide in a window of %s)" % (what, len(LONG_WORD),
                                                                w.get("scroll_width"),
                                                                w.get("client_width")))
    b = got.get("sup_back") or {}
    back_requests = got.get("back_requests") or []
    t.check(b.get("url") == s.base + "/" and "GET %s/" % s.base in back_requests and
            children(b, "Answered") == ["C-A1"] and "C-A1" not in children(b, "To answer"),
            "Back from there asks for the list from before the answer again, and it shows C-A1 "
            "answered (not the copy the browser kept, 'Not answered' with its form)",
            b.get("url"), back_requests[:3], children(b))
    team = got.get("sup_team") or {}
    t.check(team.get("status") == 200 and sorted(children(team)) == sorted(ps.FIRST_ORDER) and
            any(h.startswith("Worker A") for h in team.get("h2", [])),
            "their team's page: the four alerts under Worker A", team.get("h2"))
    axe_clean(t, "the team's page", team)
    f = got.get("sup_filtered") or {}
    t.check(children(f) == ["C-A1"] and "response=acknowledged" in f.get("url", ""),
            "the filter chosen and sent with Show: only the acknowledged one", f.get("url"),
            children(f))
    axe_clean(t, "the filtered team page", f)
    o = got.get("sup_other") or {}
    t.check(o.get("status") == 403 and not children(o) and "C-B" not in o.get("text", ""),
            "the other team's page: 403 and nothing of it", o.get("status"))


def check_head(t, got):
    m = got.get("hos_mine") or {}
    t.check(m.get("status") == 200 and sorted(children(m)) == ps.ALL,
            "the head of service's /: all six alerts", children(m))
    axe_clean(t, "the head of service's /", m)
    o = got.get("hos_team") or {}
    t.check(o.get("status") == 200 and sorted(children(o)) == ["C-B1", "C-B2"] and
            o.get("h1") == "Team " + ps.TEAM_B,
            "the head of service on team %s's page: its two" % ps.TEAM_B, o.get("h1"),
            children(o))
    axe_clean(t, "the other team's page", o)
    t.check(got.get("print_forms_hidden") is True, "printed, the page drops its forms")


def check_chair(t, got):
    m = got.get("chair_mine") or {}
    t.check(m.get("status") == 200 and children(m) == ["C-B2"],
            "the CP chair's /: the alert of the plan they chair, and nothing else", children(m))
    axe_clean(t, "the chair's /", m)
    c = got.get("chair_child") or {}
    t.check(got.get("chair_child_link") and c.get("status") is None and
            c.get("h1") == "Child C-B2" and c.get("svg"),
            "the chair follows the child's link from their list to its chronology, with its "
            "timeline", got.get("chair_child_link"), c.get("h1"))
    axe_clean(t, "the child's chronology", c)
    o = got.get("chair_other_child") or {}
    t.check(o.get("status") == 403 and "C-A1" not in o.get("text", "").replace(
                "Child C-A1", ""),
            "another team's child: 403, and nothing of it", o.get("status"))


def run(t, procs, tmp):
    if not prerequisites(t):
        return
    s = ps.Setup(procs, tmp, "dwpagesbrowser")
    if not t.check(s.ready(), "the daemon records the fixture's six alerts",
                   open(s.log_path).read()[-2000:]):
        return
    fp = s.fingerprints()
    shots = os.path.join(tmp, "screenshots")
    os.makedirs(shots)
    p = subprocess.run(["node", DRIVER, json.dumps({
        "base": s.base, "chromium": CHROMIUM, "shots": shots, "header": "X-Forwarded-Email",
        "supervisor": "supa@la.example", "head": "hos@la.example", "team": "T-A",
        "other_team": "T%20B%2F2", "answer_child": "C-A1", "note": NOTE,
        "chair": "chair@la.example", "chair_child": "C-B2", "supervisor_child": "C-A1"})],
        capture_output=True, text=True, timeout=300)
    with open(os.path.join(shots, "browser.json"), "w") as f:
        f.write(p.stdout)  # what the browser saw, for inspection
    try:
        got = json.loads(p.stdout.strip().splitlines()[-1]) if p.stdout.strip() else {}
    except ValueError:
        got = {}
    if not t.check(p.returncode == 0 and got and not got.get("error"),
                   "chromium went through the pages (%s)" % got.get("browser"),
                   "exit %s" % p.returncode, got.get("error"), p.stderr[-2000:]):
        return
    t.note("screenshots in %s" % shots)
    check_supervisor(t, s, got, fp)
    check_head(t, got)
    check_chair(t, got)
    net = [u for u in got.get("requests", []) if not u.startswith("data:")]
    pages = ("/", "/answer", "/team/", "/child/")
    elsewhere = [u for u in net if not any(u.startswith(s.base + p) and
                                           (p != "/" or u in (s.base + "/", s.base + "/?") or
                                            u.startswith(s.base + "/?answered="))
                                           for p in pages)]
    t.check(net and not elsewhere,
            "the browser fetched nothing but the pages it was sent to (%d requests: no icon, "
            "no style sheet, nothing from elsewhere)" % len(net), elsewhere)
    bad = [n for n in SHOTS if not os.path.exists(os.path.join(shots, n)) or
           open(os.path.join(shots, n), "rb").read(8) != PNG or
           os.path.getsize(os.path.join(shots, n)) < 5000]
    t.check(not bad, "%d screenshots written (%s)" % (len(SHOTS), shots), bad)
    rc, text = s.stop()
    t.check(rc == 0 and "Sanitizer" not in text and "runtime error" not in text,
            "the daemon stops cleanly with no sanitizer report", text[-2000:])


def main():
    t = Tap()
    return lib.run_test(t, "pages_browser", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
