#!/usr/bin/python3
"""test_child_page: /child/{child_id}, the child's chronology on one screen (RESPONSES.md, "Pages
for people"; issue 14, item 3), from the real daemon on web.listen.

The daemon evaluates the fixture below on a real PostgreSQL and answers on web.listen with
web.trusted_proxies = 127.0.0.1; this test plays the sign-on proxy (X-Forwarded-Email from
127.0.0.1). C-A1 (team A, worker W-SWA supervised by supa@) has a history a chronology must
show: a referral for neglect and one not, one with no date; two CIN plans for neglect 20 days
apart (one episode: one bar) and a third a year later (a second episode); a CP plan for neglect
(its 9m alert); three allocations (two workers, one dangling); two missed appointments and one
attended; a strategy. C-B1 is team B's.
  - supa@ gets C-A1's page: well-formed SVG (parsed as XML) with a title and a description, the
    two CIN episodes as two bars, the three workers' bars, each plan, referral, missed
    appointment, strategy and alert in the table by date (British dates), the alert's stage in
    words and its history with an acknowledgement (who, through what); nothing of C-B1.
  - supa@ gets 403 for C-B1's page, with nothing of C-B1 on it; hos@ (sees everything) gets it.
  - no header, or the header from an untrusted peer: 401.
  - with appointments unreadable (the relation renamed away), the page still answers 200, says
    that appointments could not be read, and shows the rest.
  - the headers: Content-Security-Policy with no script, Cache-Control no-store.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR.
"""
import http.client
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402
from tap import Tap  # noqa: E402

S = "dwchild"
CHROMIUM = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
SVG = "{http://www.w3.org/2000/svg}"

FIXTURE = """
SET search_path = casework;
INSERT INTO teams VALUES ('T-A', 'Team A', 'mgra@la.example', NULL),
                         ('T-B', 'Team B', 'mgrb@la.example', NULL);
INSERT INTO workers VALUES
  ('W-SUPA', 'Sup A',      'supa@la.example', 'T-A', NULL,     'team_manager'),
  ('W-SWA',  'Worker <A>', 'swa@la.example',  'T-A', 'W-SUPA', 'social_worker'),
  ('W-OLD',  'Old Worker', 'old@la.example',  'T-A', 'W-SUPA', 'social_worker'),
  ('W-SUPB', 'Sup B',      'supb@la.example', 'T-B', NULL,     'team_manager'),
  ('W-SWB',  'Worker B',   'swb@la.example',  'T-B', 'W-SUPB', 'social_worker');
INSERT INTO children VALUES
  ('C-A1', 'F-A', date '2019-05-04', NULL, false),
  ('C-B1', 'F-B', date '2018-01-01', NULL, true);
INSERT INTO allocations VALUES
  ('AL-1', 'C-A1', 'W-OLD',  current_date - 900, current_date - 400),
  ('AL-2', 'C-A1', 'W-GONE', current_date - 400, current_date - 300),
  ('AL-3', 'C-A1', 'W-SWA',  current_date - 300, NULL),
  ('AL-B', 'C-B1', 'W-SWB',  current_date - 700, NULL);
INSERT INTO referrals VALUES
  ('R-1', 'C-A1', current_date - 1000, 'N1', true,  current_date - 950, 'RC8'),
  ('R-2', 'C-A1', current_date - 500,  'N8', false, NULL, NULL),
  ('R-3', 'C-A1', NULL,                'N1', true,  NULL, NULL),
  ('R-B', 'C-B1', current_date - 600,  'N1', true,  NULL, NULL);
INSERT INTO cin_plans VALUES
  ('CIN-1', 'C-A1', current_date - 800, current_date - 700, true),
  ('CIN-2', 'C-A1', current_date - 680, current_date - 600, true),
  ('CIN-3', 'C-A1', current_date - 250, current_date - 200, true),
  ('CIN-X', 'C-A1', current_date - 150, current_date - 100, false);
INSERT INTO cp_plans VALUES
  ('CPP-A1', 'C-A1', current_date - interval '10 months', NULL, 'NEG', NULL, NULL),
  ('CPP-B1', 'C-B1', current_date - interval '10 months', NULL, 'NEG', NULL, NULL);
INSERT INTO appointments VALUES
  ('AP-1', 'C-A1', 'dental', now() - interval '40 days', 'was_not_brought'),
  ('AP-2', 'C-A1', 'gp',     now() - interval '20 days', 'cancelled_by_family'),
  ('AP-3', 'C-A1', 'gp',     now() - interval '10 days', 'attended');
INSERT INTO strategies VALUES
  ('ST-1', 'C-A1', 'step_down', current_date - 30, current_date + 60);
"""


def request(port, path, email=None, source="127.0.0.1"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20, source_address=(source, 0))
    try:
        c.request("GET", path, headers={"X-Forwarded-Email": email} if email else {})
        r = c.getresponse()
        return r.status, r.read().decode(), dict(r.getheaders())
    finally:
        c.close()


def svg_of(page):
    m = re.search(r"<svg .*?</svg>", page, re.S)
    if not m:
        return None, "no <svg> on the page"
    try:
        return ET.fromstring(m.group(0)), ""
    except ET.ParseError as e:
        return None, "the SVG is not well-formed XML: %s" % e


def titles(svg):
    return [el.text or "" for el in svg.iter(SVG + "title")]


def table_rows(page):
    """The chronology table's rows as [date, what, details] with tags stripped."""
    m = re.search(r"<h2>Chronology by date</h2>.*?<tbody>(.*?)</tbody>", page, re.S)
    rows = []
    for tr in re.findall(r"<tr>(.*?)</tr>", m.group(1) if m else "", re.S):
        rows.append([re.sub(r"<[^>]+>", "", td) for td in re.findall(r"<td>(.*?)</td>", tr, re.S)])
    return rows


def check_a1(t, page):
    svg, why = svg_of(page)
    if not t.check(svg is not None, "C-A1: the timeline is well-formed SVG", why):
        return
    t.check(svg.get("role") == "img" and svg.find(SVG + "title") is not None and
            "CIN plans" in (svg.find(SVG + "desc").text or "") and not re.search(
                r"<svg[^>]* style=|<script", page),
            "the SVG has role img, a title, a description in words, no style attribute, no "
            "script", svg.attrib)
    tl = titles(svg)
    episodes = [s for s in tl if s.startswith("CIN plan for neglect, episode")]
    t.check(len(episodes) == 2, "the CIN plans for neglect 20 days apart are one episode, the "
            "one a year later a second: two episode bars", episodes)
    workers = [s for s in tl if s.startswith("Allocated to")]
    t.check(len(workers) == 3 and any("Worker <A>" in s for s in workers) and
            any("W-GONE" in s for s in workers),
            "three allocation bars, the dangling worker by its id, the name as staff know it",
            workers)
    fills = set()
    for el in svg.iter(SVG + "rect"):
        tt = el.find(SVG + "title")
        if tt is not None and (tt.text or "").startswith("Allocated to"):
            fills.add(el.get("fill"))
    t.check(len(fills) == 3, "each worker has a colour of their own", fills)
    t.check(any(s.startswith("CIN plan CIN-X") and "not for neglect" in s for s in tl),
            "a plan not for neglect is drawn and says so", tl)
    t.check(any(s.startswith("Alert: CP plan at 9 months, first sent ") for s in tl),
            "an alert's mark says which alert it is (it said \"Alert:, 9m\")", tl)
    rows = table_rows(page)
    whats = [r[1] for r in rows if len(r) == 3]
    for want in ("Referral received R-1", "Referral received R-2", "Referral received R-3",
                 "CIN plan started CIN-1", "CIN plan ended CIN-2", "CP plan started CPP-A1",
                 "Allocated to Worker &lt;A&gt;", "Allocated to W-GONE",
                 "Missed appointment: dental", "Missed appointment: gp",
                 "Strategy agreed: step_down", "Alert: CP plan at 9 months"):
        t.check(want in whats, "the chronology table has: %s" % want, whats)
    t.check(not any("attended" in " ".join(r) for r in rows) and
            sum(1 for w in whats if w.startswith("Missed appointment")) == 2,
            "an attended appointment is not a missed one", rows)
    dated = [r for r in rows if r and r[0] != "not recorded"]
    t.check(all(re.fullmatch(r"\d{1,2} [A-Z][a-z]{2} \d{4}", r[0]) for r in dated),
            "dates are British: 3 Dec 2026", [r[0] for r in rows][:8])
    t.check(rows and rows[-1][0] == "not recorded" and "R-3" in rows[-1][1],
            "the referral with no date is listed last, as not recorded", rows[-2:])
    t.check("Worker <A>" not in page and "Worker &lt;A&gt;" in page,
            "the case data's text is escaped")
    t.check("C-B1" not in page and "CPP-B1" not in page and "F-B" not in page,
            "nothing of another child")
    hist = re.search(r"<h3>CP plan at 9 months.*?<caption>History of this alert</caption>"
                     r"(.*?)</table>", page, re.S)
    h = re.sub(r"<[^>]+>", " ", hist.group(1)) if hist else ""
    t.check("Alert sent" in h and "Acknowledged" in h and "ops-desk" in h and
            "In supervision" in h,
            "the alert's history shows its firing and the acknowledgement with who and the note",
            h[:600])


def browser(t, port, tmp):
    """The page in Debian's chromium as supa@ signs in, axe-core to WCAG 2.2 AA, printed."""
    if not t.check(os.access(CHROMIUM, os.X_OK), "chromium is installed at %s (Debian: apt-get "
                   "install chromium; .ci/run installs it)" % CHROMIUM):
        return
    shots = os.environ.get("DW_TEST_SAVE") or tmp
    r = subprocess.run(["node", os.path.join(lib.HERE, "page_axe.js"), json.dumps({
        "url": "http://127.0.0.1:%d/child/C-A1" % port, "chromium": CHROMIUM, "shots": shots,
        "name": "child-C-A1", "headers": {"X-Forwarded-Email": "supa@la.example"}})],
        capture_output=True, text=True, timeout=180)
    try:
        out = json.loads(r.stdout)
    except ValueError:
        t.check(False, "chromium opened the child's page", r.stderr[-2000:])
        return
    t.check(out.get("status") == 200 and out.get("title") == "Child C-A1 - driftwatch" and
            out.get("scripts") == 0, "chromium: the page, titled, with no script", out)
    t.check(all(u.startswith("http://127.0.0.1:%d/" % port) for u in out.get("requests", [])),
            "nothing is loaded from elsewhere", out.get("requests"))
    t.check(not out.get("console"), "no policy violation or error in the console",
            out.get("console"))
    v = out.get("axe", {}).get("violations")
    t.check(v == [] and out["axe"].get("passes", 0) > 10,
            "axe-core: no WCAG 2.2 AA or best-practice violation (%d rules passed)" %
            out.get("axe", {}).get("passes", 0), json.dumps(v, indent=1)[:3000])
    t.check(out.get("print") == {"nav": "none", "svg": True},
            "printed: the navigation goes, the timeline stays", out.get("print"))


def run(t, procs, tmp):
    db = lib.Db("dwchild")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"))
    db._psql([], stdin=FIXTURE)
    port = lib.free_port()
    cfg = lib.write_config(tmp, "child", {
        "database": {"conninfo": db.conninfo("dw-child"), "state_schema": S},
        "timezone": "Europe/London", "addresses": lib.addresses(),
        "http": {"listen": None}, "evaluation": {"interval_seconds": 600},
        "web": {"listen": "127.0.0.1:%d" % port, "trusted_proxies": ["127.0.0.1"]}})
    log = open(os.path.join(tmp, "daemon.log"), "w")
    p = subprocess.Popen([lib.DAEMON, "-c", cfg], stdin=subprocess.DEVNULL, stdout=log,
                         stderr=subprocess.STDOUT, env=lib.daemon_env())
    procs.add(p)

    def firing(child):
        try:
            return int(db.value("SELECT count(*) FROM %s.alerts WHERE status = 'firing' AND "
                                "child_id = '%s'" % (S, child)))
        except RuntimeError:
            return 0
    ok = lib.wait_for(lambda: firing("C-A1") >= 1 and firing("C-B1") >= 1, 60, step=0.5)
    if not t.check(ok, "the daemon records C-A1's and C-B1's alerts"):
        return
    fp = db.value("SELECT fingerprint FROM %s.alerts WHERE child_id = 'C-A1' AND rule = "
                  "'cp_neglect_duration'" % S)
    db.run("SELECT %s.acknowledge('%s', 'ops-desk', 'In supervision')" % (S, fp))

    st, page, hdr = request(port, "/child/C-A1", "SupA@la.example")
    for d in (tmp, os.environ.get("DW_TEST_SAVE")):  # for a person to look at
        if d:
            with open(os.path.join(d, "child-C-A1.html"), "w") as f:
                f.write(page)
    if t.check(st == 200, "supa@ (C-A1's worker's supervisor) gets C-A1's page", st, page[:500]):
        check_a1(t, page)
    csp = hdr.get("Content-Security-Policy", "")
    t.check("default-src 'none'" in csp and "script" not in csp and
            hdr.get("Cache-Control") == "no-store",
            "headers: a policy that allows no script, and no-store", hdr)

    st, page, _ = request(port, "/child/C-B1", "supa@la.example")
    t.check(st == 403 and "CPP-B1" not in page and "F-B" not in page and "<svg" not in page,
            "supa@ gets 403 for team B's child, with nothing of it", st, page[:400])
    st, page, _ = request(port, "/child/C-B1", "hos@la.example")
    t.check(st == 200 and "CPP-B1" in page, "the head of service gets any child's page", st)
    st, page, _ = request(port, "/child/C-NOBODY", "hos@la.example")
    t.check(st == 200 and "no record of this child" in page and "No alert about" in page,
            "a child the case data does not know: a page that says so", st, page[:300])
    st, _, _ = request(port, "/child/C-A1")
    t.check(st == 401, "no sign-in header: 401", st)
    st, _, _ = request(port, "/child/C-A1", "supa@la.example", source="127.0.0.2")
    t.check(st == 401, "the header from a peer that is not the sign-on proxy: 401", st)

    browser(t, port, tmp)

    db.run("ALTER TABLE casework.appointments RENAME TO appointments_away")
    try:
        st, page, _ = request(port, "/child/C-A1", "supa@la.example")
    finally:
        db.run("ALTER TABLE casework.appointments_away RENAME TO appointments")
    t.check(st == 200 and re.search(r"could not read them from the case data just now: "
                                    r"appointments\.", page) is not None and
            "CIN plan started" in page and "Missed appointment:" not in page,
            "appointments unreadable: the page says so and shows the rest", st,
            re.sub(r"\s+", " ", page[:1500]))
    p.terminate()
    p.wait(timeout=30)
    log.close()
    err = open(os.path.join(tmp, "daemon.log")).read()
    t.check("Sanitizer" not in err and "runtime error:" not in err,
            "no sanitizer report from the daemon", err[-2000:])


def main():
    t = Tap()
    return lib.run_test(t, "test_child_page", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
