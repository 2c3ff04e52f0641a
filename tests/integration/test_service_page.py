#!/usr/bin/python3
"""test_service_page: /service, the service at a glance (RESPONSES.md, "Pages for people"; issue
14 item 4), and the daily counts it draws its trend from (state_v6.sql).

`driftwatchd --once --as-of` records tests/fixtures/once_lifecycle.sql on 21, 22 (twice) and 23
Nov 2026: each day is counted once, by its first whole evaluation, from the alerts as they then
are. A history of responses is written as people would leave it (acknowledgements and a snooze
through the JSON API's shape, the stages recorded hours before). The real daemon then answers
on web.listen with web.trusted_proxies = 127.0.0.1; this test is the sign-on proxy, sending
X-Forwarded-Email. Checked: the page's figures against the state (computed here on their own),
the oldest unanswered narrowed to what each person may see (sup1@ team T-1, sup2@ team T-2's
backlog, hos@ everything), 401 and 403, the SVG charts well formed (xml.etree) and accessible,
and the page in headless chromium (npm puppeteer-core) with axe-core: no violations, nothing
loaded from elsewhere, no script; screenshots on screen and printed under TEST_TMPDIR (and
copied to SHOTS_OUT when set).

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR, CHROMIUM.
"""
import html.parser
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402
from tap import Tap  # noqa: E402

S = "dwservice"
CHROMIUM = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
DRIVER = os.path.join(lib.HERE, "service_browser.js")
SVG = "{http://www.w3.org/2000/svg}"
DAYS = ("2026-11-21", "2026-11-22", "2026-11-22", "2026-11-23")
WRONG_NOTE = "Plan start keyed as 2026 <correcting>"
WRONG = "1 alert snoozed because the case record is wrong"


def get(port, path, email=None, source="127.0.0.1"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    try:
        c.request("GET", path, headers={"X-Forwarded-Email": email} if email else {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode()
    finally:
        c.close()


class Tables(html.parser.HTMLParser):
    """Every <table> of a page as {caption: [[cell text, ...], ...]} (header rows included)."""

    def __init__(self):
        super().__init__()
        self.tables, self.caption, self.rows, self.cell, self.where = {}, None, None, None, None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.rows, self.caption = [], ""
        elif tag == "caption":
            self.where = "caption"
        elif tag == "tr" and self.rows is not None:
            self.rows.append([])
        elif tag in ("td", "th") and self.rows is not None:
            self.cell = ""

    def handle_endtag(self, tag):
        if tag == "caption":
            self.where = None
        elif tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(" ".join(self.cell.split()))
            self.cell = None
        elif tag == "table":
            self.tables[self.caption] = self.rows
            self.rows = None

    def handle_data(self, data):
        if self.where == "caption":
            self.caption += data
        elif self.cell is not None:
            self.cell += data


def tables_of(page):
    p = Tables()
    p.feed(page)
    return p.tables


def table(tables, prefix):
    for k, v in tables.items():
        if k.startswith(prefix):
            return v
    return None


def svgs_of(page):
    return re.findall(r"<svg\b.*?</svg>", page, re.S)


# ---- what the page should say, computed from the state here ----

STATE = """
SELECT a.team_id, a.rule, a.stage, a.child_id, a.alert_id, a.stage_since,
       CASE WHEN a.snoozed_until >= {today} THEN 'snoozed'
            WHEN a.ack_stage = a.stage AND a.ack_stage_since = a.stage_since THEN 'acknowledged'
            ELSE 'open' END AS state
  FROM {s}.alerts a WHERE a.status = 'firing'
"""


def expected_by_team(alerts):
    out = {}
    for a in alerts:
        e = out.setdefault(a["team_id"], {"open": 0, "all": 0})
        e["all"] += 1
        e["open"] += a["state"] == "open"
    return out


def expected_medians(db, today):
    """Per rule: stages recorded in the last 90 days, answered, median hours, from the events."""
    ev = db.rows("SELECT e.event_id, e.alert_id, e.kind, e.at, e.as_of, a.rule "
                 "FROM %s.alert_events e JOIN %s.alerts a USING (alert_id) "
                 "ORDER BY e.alert_id, e.event_id" % (S, S))
    by_alert = {}
    for e in ev:
        by_alert.setdefault(e["alert_id"], []).append(e)
    out = {}
    import datetime
    t = datetime.date.fromisoformat(today)
    for evs in by_alert.values():
        for i, e in enumerate(evs):
            if e["kind"] not in ("firing", "escalated", "lowered") or e["as_of"] is None:
                continue
            d = datetime.date.fromisoformat(str(e["as_of"]))
            if not (t - datetime.timedelta(days=90) < d <= t):
                continue
            r = out.setdefault(e["rule"], {"stages": 0, "hours": []})
            r["stages"] += 1
            nxt = [x for x in evs[i + 1:] if x["kind"] in (
                "acknowledged", "snoozed", "firing", "escalated", "lowered", "resolved")]
            if nxt and nxt[0]["kind"] in ("acknowledged", "snoozed"):
                a = datetime.datetime.fromisoformat(str(nxt[0]["at"]))
                b = datetime.datetime.fromisoformat(str(e["at"]))
                r["hours"].append((a - b).total_seconds() / 3600.0)
    return out


def duration_words(h):
    if h is None:
        return "none answered"
    if h < 1:
        return "under an hour"
    if h < 48:
        return "%.1f hours" % h
    return "%.1f days" % (h / 24)


def check_svg(t, page, who):
    found = svgs_of(page)
    bad = []
    for s in found:
        try:
            root = ET.fromstring(s)
        except ET.ParseError as e:
            bad.append("not well formed: %s" % e)
            continue
        title, desc = root.find(SVG + "title"), root.find(SVG + "desc")
        ids = (root.get("aria-labelledby") or "").split()
        if root.get("role") != "img" or title is None or desc is None or \
                ids != [title.get("id"), desc.get("id")] or not (title.text or "").strip():
            bad.append("not named: %s" % s[:200])
        if any(el.get("style") is not None for el in root.iter()) or \
                root.find(".//" + SVG + "script") is not None:
            bad.append("styled or scripted")
    t.check(len(found) == 3 and not bad,
            "%s: three SVG charts, each well formed (xml.etree), role img named by its title "
            "and desc, no style attribute, no script" % who, len(found), bad)
    return found


def run(t, procs, tmp):
    db = lib.Db("dwservice")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "once_lifecycle.sql"))
    cfg = lib.write_config(tmp, "once", {
        "database": {"conninfo": db.conninfo("dw-service"), "state_schema": S},
        "timezone": "Europe/London", "addresses": lib.addresses()})

    # ---- the daily counts: once a day, by the first whole evaluation ----
    counted = []
    for i, day in enumerate(DAYS):
        if i == 3:  # C-CP-END's plan ends: one alert fewer on the 23rd
            db.run("UPDATE casework.cp_plans SET end_date = '2026-11-23' "
                   "WHERE child_id = 'C-CP-END'")
        r = lib.run_once(cfg, day)
        t.check(r.rc == 0 and not r.sanitizer(), "--once --as-of %s" % day, r.diag())
        counted.append(db.rows("SELECT day::text, evaluation_id, counted_at, alerts FROM "
                               "%s.daily_count_days ORDER BY day" % S))
        if i == 1:  # a snooze in force after the 22nd's count, before its second evaluation
            db.run("UPDATE %s.alerts SET snoozed_until = '2026-12-31', snooze_reason = "
                   "'legal_planning' WHERE child_id = 'C-WNB'" % S)
    t.check([[d["day"] for d in c] for c in counted] ==
            [["2026-11-21"], ["2026-11-21", "2026-11-22"], ["2026-11-21", "2026-11-22"],
             ["2026-11-21", "2026-11-22", "2026-11-23"]],
            "each day is counted by its first whole evaluation, and a second that day adds no "
            "day", counted)
    t.check(counted[2] == counted[1],
            "... nor rewrites it (same evaluation, same moment, same totals)", counted[1],
            counted[2])
    rows22 = db.rows("SELECT team_id, rule, stage, state, alerts FROM %s.daily_counts "
                     "WHERE day = '2026-11-22' ORDER BY 1, 2, 3, 4" % S)
    t.check(not any(r["state"] == "snoozed" for r in rows22),
            "... the 22nd's rows are those of its first evaluation (the snooze after it is "
            "not in them)", rows22)
    detail = db.rows("SELECT day::text, sum(alerts)::int AS n FROM %s.daily_counts "
                     "GROUP BY day ORDER BY day" % S)
    firing = [c["alerts"] for c in counted[-1]]
    t.check([d["n"] for d in detail] == firing and firing[0] == 30 and firing[2] == 29,
            "the rows of each day add up to its total: 30, 30, then 29 once C-CP-END's plan "
            "ended", detail, firing)
    t.check(db.value("SELECT count(*) FROM %s.daily_counts WHERE day = '2026-11-23' "
                     "AND state = 'snoozed'" % S) == "1",
            "the 23rd counts C-WNB's alert as snoozed")
    incremental = db.value("SELECT count(*) FROM %s.evaluations WHERE scope <> 'all'" % S)

    # ---- responses, as people leave them: stages recorded in the morning, answers later ----
    db.run("""
UPDATE {s}.alert_events SET at = as_of + time '09:00' AT TIME ZONE 'Europe/London'
 WHERE kind IN ('firing', 'escalated', 'lowered');
UPDATE {s}.alerts SET ack_stage = stage, ack_stage_since = stage_since,
       acknowledged_at = stage_since + time '15:00', acknowledged_by = 'sup2@la.example'
 WHERE child_id IN ('C-BL-01', 'C-BL-02', 'C-BL-03');
INSERT INTO {s}.alert_events (alert_id, at, kind, stage, actor, via)
SELECT alert_id, stage_since + time '09:00' + make_interval(hours => 6 * (i::int + 1)),
       'acknowledged', stage, 'sup2@la.example', 'page'
  FROM (SELECT alert_id, stage, stage_since, row_number() OVER (ORDER BY child_id) AS i
          FROM {s}.alerts WHERE child_id IN ('C-BL-01', 'C-BL-02', 'C-BL-03')) x;
INSERT INTO {s}.alert_events (alert_id, at, kind, stage, actor, via, reason)
SELECT alert_id, timestamptz '2026-11-25 12:00', 'snoozed', stage, 'sup1@la.example', 'api',
       'legal_planning' FROM {s}.alerts WHERE child_id = 'C-WNB';
UPDATE {s}.alerts SET snoozed_until = current_date + 30, snooze_reason = 'data_wrong',
       snoozed_by = 'sup2@la.example', snooze_note = {note}, snoozed_at = now()
 WHERE child_id = 'C-BL-25';
""".format(s=S, note="'" + WRONG_NOTE + "'"))

    # ---- the daemon, with web.listen behind a pretend sign-on proxy ----
    port = lib.free_port()
    cfg = lib.write_config(tmp, "daemon", {
        "database": {"conninfo": db.conninfo("dw-service-web"), "state_schema": S},
        "timezone": "Europe/London", "addresses": lib.addresses(),
        "http": {"listen": None},
        "evaluation": {"interval_seconds": 86400},
        "web": {"listen": "127.0.0.1:%d" % port, "trusted_proxies": ["127.0.0.1"]}})
    log = open(os.path.join(tmp, "daemon.log"), "w")
    p = subprocess.Popen([lib.DAEMON, "-c", cfg], stdin=subprocess.DEVNULL, stdout=log,
                         stderr=subprocess.STDOUT, env=lib.daemon_env())
    procs.add(p)
    today = None

    def counted_today():
        return db.value("SELECT count(*) FROM %s.daily_count_days WHERE day = "
                        "(now() AT TIME ZONE 'Europe/London')::date" % S) == "1"
    ok = lib.wait_for(counted_today, 120, step=0.5)
    if not t.check(ok, "the running daemon's first whole evaluation counts today"):
        return
    today = db.value("SELECT (now() AT TIME ZONE 'Europe/London')::date::text")
    t.check(db.value("SELECT count(*) FROM %s.evaluations WHERE scope <> 'all'" % S) ==
            incremental, "(no incremental evaluation ran meanwhile)")

    # ---- who may look ----
    st, _, body = get(port, "/service")
    t.check(st == 401, "no sign-on header: 401", st, body[:200])
    st, _, body = get(port, "/service", "hos@la.example", source="127.0.0.2")
    t.check(st == 401, "the header from a peer that is not the sign-on proxy: 401", st)
    st, _, body = get(port, "/service", "stranger@la.example")
    t.check(st == 403, "someone driftwatch does not know: 403", st, body[:300])
    t.check("Not yours to see" in body and "This link" not in body,
            "the refusal is a page for people, not a link's refusal", body[:600])

    alerts = db.rows(STATE.format(s=S, today="DATE '%s'" % today))
    pages = {}
    for who in ("hos@la.example", "sup1@la.example", "sup2@la.example"):
        st, headers, body = get(port, "/service", who)
        pages[who] = body
        t.check(st == 200 and "text/html" in headers.get("Content-Type", ""),
                "%s: 200 and a page" % who, st, body[:300])
    hos = pages["hos@la.example"]
    st, headers, _ = get(port, "/service", "hos@la.example")
    csp = headers.get("Content-Security-Policy", "")
    t.check("default-src 'none'" in csp and "script-src" not in csp and
            headers.get("Cache-Control") == "no-store",
            "the page's headers: no script allowed, nothing from elsewhere, not cached", headers)

    # ---- the figures against the state ----
    tabs = {w: tables_of(pg) for w, pg in pages.items()}
    teams = table(tabs["hos@la.example"], "Open alerts by team and rule")
    exp = expected_by_team(alerts)
    got = {}
    for row in (teams or [])[1:]:
        name = row[0]
        key = None if name == "No allocated team" else re.sub(r".*\((T-\d)\)$", r"\1", name)
        got[key] = {"open": int(row[-2]), "all": int(row[-1])}
    t.check(got == exp and len(exp) == 3,
            "by team: each team's unanswered and open alerts as the state has them (T-1, T-2 by "
            "name, and no team)", exp, got)
    header = (teams or [[]])[0]
    t.check("Long CP plan for neglect" in header and "Not brought to appointments" in header
            and "cp_neglect_duration" not in hos,
            "the rules' columns are headed in words, never by the rules' names", header)
    kinds = table(tabs["hos@la.example"], "Open alerts by rule and stage")
    by_stage = {}
    for a in alerts:
        by_stage[(a["rule"], a["stage"])] = by_stage.get((a["rule"], a["stage"]), 0) + 1
    got_kinds = sorted(int(r[-1]) for r in (kinds or [])[1:])
    t.check(got_kinds == sorted(by_stage.values()) and
            any(r[1] == "CP plans at 9 months" for r in (kinds or [])[1:]),
            "by kind: each rule's stage in words with its count", by_stage, kinds)
    total = len(alerts)
    summary = re.search(r"there are <strong>(\d+) open alerts</strong>: (\d+) unanswered, "
                        r"(\d+) acknowledged and (\d+) snoozed", hos)
    n_state = lambda s: sum(1 for a in alerts if a["state"] == s)  # noqa: E731
    t.check(summary is not None and [int(x) for x in summary.groups()] ==
            [total, n_state("open"), n_state("acknowledged"), n_state("snoozed")],
            "the summary's figures are the state's", summary and summary.groups(),
            [total, n_state("open"), n_state("acknowledged"), n_state("snoozed")])
    trend = table(tabs["hos@la.example"], "Open alerts by month")
    month_rows = {r[0]: r for r in (trend or [])[1:]}
    days = db.rows("SELECT day, alerts, unanswered FROM %s.daily_count_days WHERE "
                   "to_char(day, 'YYYY-MM') = '2026-11'" % S)
    want_nov = ["November 2026", str(len(days)),
                "%.1f" % statistics.mean(d["alerts"] for d in days),
                "%.1f" % statistics.mean(d["unanswered"] for d in days)]
    t.check(len(trend or []) == 13 and month_rows.get("November 2026") == want_nov and
            month_rows.get("January 2026", [None, None])[1:] == ["0", "not counted",
                                                                 "not counted"],
            "the trend: 12 months, November's days counted with their averages, a month with "
            "none says so", want_nov, trend)
    answers = table(tabs["hos@la.example"], "Time to an answer")
    med = expected_medians(db, today)
    want = {}
    for rule, r in med.items():
        hours = statistics.median(r["hours"]) if r["hours"] else None
        want[rule] = [r["stages"], len(r["hours"]), duration_words(hours)]
    title = {"cp_neglect_duration": "Long CP plan for neglect",
             "was_not_brought": "Not brought to appointments"}
    got_ans = {r[0]: [int(r[1]), int(r[2]), r[3]] for r in (answers or [])[1:]}
    want_t = {title.get(k, k): v for k, v in want.items()}
    t.check(got_ans == want_t and
            want.get("cp_neglect_duration", [0, 0])[1] == 3,
            "time to an answer by rule: stages of the last 90 days, those answered first, and "
            "the median (from the events, computed here)", want_t, got_ans)

    t.check(re.search(r"The last 12 months and the time to an answer were worked out at "
                      r"\d\d:\d\d and are worked out again every quarter of an hour", hos),
            "the page says when its slow figures (trend, time to an answer) were worked out")

    # ---- the oldest unanswered: only the person's own ----
    def oldest_of(page):
        tb = tables_of(page)
        rows = table(tb, "The ") or table(tb, "No unanswered") or \
            next((v for k, v in tb.items() if "unanswered alert" in k), None)
        return [r[0] for r in (rows or [])[1:]]

    def oldest(who):
        return oldest_of(pages[who])
    all_open = sorted((a for a in alerts if a["state"] == "open"),
                      key=lambda a: (a["stage_since"], a["alert_id"]))
    t.check(oldest("hos@la.example") == [a["child_id"] for a in all_open][:20],
            "hos@ (a configured address) sees the 20 oldest unanswered of everyone",
            oldest("hos@la.example"))
    t1 = {a["child_id"] for a in alerts if a["team_id"] == "T-1"}
    t2 = {a["child_id"] for a in alerts if a["team_id"] == "T-2"}
    s1, s2 = oldest("sup1@la.example"), oldest("sup2@la.example")
    t.check(s1 and set(s1) <= t1 and s1 == [a["child_id"] for a in all_open
                                           if a["child_id"] in t1][:20],
            "sup1@ sees the unanswered of team T-1's children only", s1)
    t.check(s2 and set(s2) <= t2 and len(s2) == 20 and
            "The 20 oldest of %d unanswered alerts" % sum(
                1 for a in all_open if a["child_id"] in t2) in pages["sup2@la.example"],
            "sup2@ sees 20 of team T-2's backlog, and how many there are", s2)
    t.check(table(tabs["sup1@la.example"], "Open alerts by team and rule") == teams,
            "the counts are the same for everyone driftwatch knows")

    # ---- snoozed because the case record is wrong (RESPONSES.md: listed for the operators) ----
    wrong = table(tabs["hos@la.example"], WRONG)
    t.check(wrong is not None and len(wrong) == 2 and wrong[1][0] == "C-BL-25"
            and wrong[1][4] == "sup2@la.example" and wrong[1][5] == WRONG_NOTE
            and 'id="record-wrong"' in hos and "&lt;correcting&gt;" in hos
            and "<correcting>" not in hos,
            "hos@ sees C-BL-25 snoozed as data_wrong, who said so and the note (escaped); "
            "C-WNB's legal_planning snooze is not listed", wrong)
    t.check(table(tabs["sup2@la.example"], WRONG) == wrong,
            "sup2@ (C-BL-25's supervisor) sees it too", table(tabs["sup2@la.example"], WRONG))
    t.check(table(tabs["sup1@la.example"], WRONG) is None and
            table(tabs["sup1@la.example"], "No alerts snoozed because the case record is "
                  "wrong") is not None,
            "sup1@ (team T-1) does not: the list is narrowed as the oldest unanswered is")

    # ---- the charts ----
    for who in pages:
        check_svg(t, pages[who], who)
    bars = ET.fromstring(svgs_of(hos)[0])
    labels = [x.text for x in bars.iter(SVG + "text") if x.get("text-anchor") == "end"]
    t.check("Neglect team two" in labels and "No allocated team" in labels,
            "the teams' chart names its bars by the teams' names", labels)

    # ---- an answer shows at once (the figures for everyone are kept between requests) ----
    first = all_open[0]
    fp = db.value("SELECT fingerprint FROM %s.alerts WHERE alert_id = %d" % (S, first["alert_id"]))
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("POST", "/api/v1/alerts/%s/acknowledge" % fp, body=b"{}",
                  headers={"X-Forwarded-Email": "hos@la.example",
                           "Content-Type": "application/json"})
        r = c.getresponse()
        ack_st, ack_body = r.status, r.read().decode()
    finally:
        c.close()
    st, _, after = get(port, "/service", "hos@la.example")
    again = re.search(r"there are <strong>(\d+) open alerts</strong>: (\d+) unanswered, "
                      r"(\d+) acknowledged", after)
    t.check(ack_st == 200 and again is not None and
            [int(x) for x in again.groups()] ==
            [total, n_state("open") - 1, n_state("acknowledged") + 1] and
            oldest_of(after)[:1] != [first["child_id"]],
            "an acknowledgement through the API shows on the next /service at once: one fewer "
            "unanswered, one more acknowledged, and it leaves the oldest",
            ack_st, ack_body[:200], again and again.groups())

    # ---- in a browser ----
    browser(t, port, tmp)


def browser(t, port, tmp):
    mods = os.path.join(lib.HERE, "node_modules")
    if not t.check(os.access(CHROMIUM, os.X_OK) and
                   all(os.path.isdir(os.path.join(mods, m))
                       for m in ("puppeteer-core", "axe-core")),
                   "chromium (%s) and the npm packages puppeteer-core and axe-core are "
                   "installed" % CHROMIUM):
        return
    shots = os.path.join(tmp, "screenshots")
    os.makedirs(shots, exist_ok=True)
    for name, email in (("hos", "hos@la.example"), ("sup1", "sup1@la.example")):
        p = subprocess.run(["node", DRIVER, json.dumps({
            "url": "http://127.0.0.1:%d/service" % port, "chromium": CHROMIUM,
            "shots": shots, "header": "X-Forwarded-Email", "email": email, "name": name})],
            capture_output=True, text=True, timeout=180)
        try:
            got = json.loads(p.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            got = {}
        if not t.check(p.returncode == 0 and got.get("status") == 200 and
                       not got.get("error"),
                       "%s: chromium opened /service (%s)" % (name, got.get("browser")),
                       p.stderr[-2000:], got.get("error")):
            continue
        v = got["axe"].get("violations")
        t.check(v == [] and got["axe"].get("passes", 0) > 0,
                "%s: axe-core finds no violation (%s rules passed)" % (
                    name, got["axe"].get("passes")), json.dumps(v, indent=1)[:3000])
        own = "http://127.0.0.1:%d/" % port
        # the browser's own request for /favicon.ico (there is none) is not the page's doing
        favicon = [u for u in got["failed"] if u == own + "favicon.ico"]
        console = [m for m in got["console"] if not (
            favicon and got["failed"] == favicon and m.startswith("Failed to load resource"))]
        t.check(all(u.startswith(own) for u in got["requests"]) and
                got["page"]["scripts"] == 0 and got["page"]["styled"] == 0 and
                not console,
                "%s: nothing loaded from elsewhere, no script, no style attribute, no policy "
                "violation in the console" % name, got["requests"], got["console"], got["failed"])
        svgs = got["page"]["svgs"]
        t.check(len(svgs) == 3 and all(s["role"] == "img" and s["name"] and s["width"] > 200
                                       and s["height"] > 50 for s in svgs),
                "%s: the three charts are drawn, each an image with a name" % name, svgs)
        t.check(got["print"]["header"] == "none" and got["print"]["svgs"] == 3,
                "%s: printed, the navigation goes and the charts stay" % name, got["print"])
    pngs = sorted(f for f in os.listdir(shots) if f.endswith(".png"))
    good = [f for f in pngs if open(os.path.join(shots, f), "rb").read(8) == b"\x89PNG\r\n\x1a\n"]
    t.check(len(good) == 4, "four screenshots written under %s" % shots, pngs)
    out = os.environ.get("SHOTS_OUT")
    if out:
        os.makedirs(out, exist_ok=True)
        for f in good:
            shutil.copy(os.path.join(shots, f), out)
        t.note("screenshots copied to %s" % out)


def main():
    t = Tap()
    return lib.run_test(t, "service_page", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
