#!/usr/bin/python3
"""test_digest_demo: every digest of the demo's first day, as the people it goes to read it
(issue 16 items 4 and 5), on the mail a real SMTP server received.

The demo's data (`make demo`: bench/load.sh, that is build/dwgen, seed 42, here 20000 children
as of 2026-11-21; DEMO_CHILDREN changes the number) goes through `driftwatchd --once` twice, each
time in a state schema of its own: first with email and no pages (no web.listen), as `make demo`
mails it, so a digest of more than email.digest_max_items (25) new items carries the list of all
its items as a CSV attachment; then with the pages (web.listen, web.public_url,
web.link_secret_file), so a capped digest sends the reader to the pages and every item carries
its Acknowledge, Snooze and Open buttons. What each digest must be is worked out here from the
outbox (each notice's type, child, family, rule, stage, and the seriousness and urgency its rule
declared), not from the mail code, and every received digest is checked against it:

- the mail: parsed by Python's email package without defects; multipart/alternative of text and
  HTML, or, when capped, multipart/mixed of those alternatives and driftwatch-digest-DAY.csv;
- the order: its sections (text and HTML alike) come in the order of seriousness;
- the grouping: each section holds exactly the expected entries, siblings of one family with
  the same rule, stage and change in one entry (a capped digest: the entries it shows in full);
- the summary on top: the children that need action now, counted from the urgent notices;
- the cap: capped exactly when more than 25 new items; then it says so, shows at most 25 in full,
  most serious first, and the CSV (RFC 4180, UTF-8 with a byte order mark) has a row per item,
  in reading order, siblings under one entry number, marking those in full, and no cell a
  spreadsheet would run as a formula; with the pages, no list but the pages' address, and each
  child's identifier links to its page.

Each order and grouping comparison is also run against a reordered or regrouped expectation,
which it must reject. Then every digest's HTML part (90) is opened in Debian's headless chromium
(tests/integration/digest_browser.js, one browser for all): the summary and the sections as the
browser shows them, nothing loaded from elsewhere, nothing wider than a 390px phone, and
screenshots (wide, phone, dark phone) saved under the scratch directory's screenshots/; axe-core
runs on the capped digests (the uncapped layout is test_digest_reading's).

Environment: DRIFTWATCHD, DWGEN, PGHOST PGPORT PGUSER of a running server, DW_TOP,
TEST_TMPDIR, CHROMIUM (default /usr/bin/chromium), DEMO_CHILDREN (default 20000). Uses database
dwdigest_demo (dropped and created here) and loopback ports. KEEP_TMP=1 keeps the scratch
directory (received mail, CSV lists, screenshots), otherwise kept only when a check failed.
"""
import csv
import io
import json
import os
import re
import subprocess
import sys
from datetime import timezone

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dwtest import (  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
    HERE, TOP, Db, SmtpServer, addresses, email_conf, free_port, make_ca, run_once, run_test,
    write_config)
from tap import Tap  # noqa: E402
from test_digest_reading import html_sections, text_sections, words  # noqa: E402

D = "2026-11-21"
CHILDREN = int(os.environ.get("DEMO_CHILDREN") or 20000)
MAX_ITEMS = 25
CHROMIUM = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
PNG = b"\x89PNG\r\n\x1a\n"

# mail_digest.h: sections by the seriousness a rule declares (rule.h, 1 to 5), then notices
# without it, resolutions, reports about driftwatch itself
TITLES = {1: "CP escalations", 2: "Returns to a plan and re-referral cycles",
          3: "Children not brought to appointments", 4: "Handovers to a new worker",
          5: "Drift: plan durations and worker churn", 6: "Other changes",
          7: "Good news: no longer a concern", 8: "About driftwatch itself"}
KIND_ORDER = ["unanswered", "escalated", "firing", "updated", "resolved"]
COUNTS = "All by rule and stage"
CSV_HEAD = ["Entry", "Section", "Action now", "Change", "Child", "Family", "Meaning", "Rule",
            "Stage", "Since", "Summary", "Facts", "Expected of you", "Why you", "Record link",
            "In full in the mail"]


# ---- what each digest must be, from the outbox ----

def section(n):
    kind = n["type"].split(".")[1]
    if not n["type"].startswith("alert."):
        return 8
    if kind == "resolved":
        return 7
    s = (n["notice"] or {}).get("seriousness")
    return s if isinstance(s, int) and 1 <= s <= 5 else 6


def expected_digest(notices):
    """{"sections": [(title, [entry, ...])], "fresh", "action_children", "n"}: an entry is the
    tuple of its children's identifiers, siblings (one family, rule, stage and change, for a
    new, escalated or resolved alert) together; within a section entries are a set."""
    secs = {}
    for n in notices:
        a, kind = n["payload"], n["type"].split(".")[1]
        key = (a.get("family_id"), a.get("rule"), a.get("stage"), kind) \
            if a.get("family_id") and kind in ("firing", "escalated", "resolved") else None
        ents = secs.setdefault(section(n), [])
        for e in ents:
            if key is not None and e["key"] == key:
                e["children"].append(a.get("child_id"))
                break
        else:
            ents.append({"key": key, "children": [a.get("child_id")]})
    action = {n["payload"].get("child_id") for n in notices
              if section(n) < 7 and (n["notice"] or {}).get("urgent") is True
              and n["type"].split(".")[1] in ("unanswered", "escalated", "firing", "updated")}
    return {"sections": [(TITLES[s], [tuple(e["children"]) for e in secs[s]])
                         for s in sorted(secs)],
            "fresh": sum(1 for n in notices if section(n) < 7), "n": len(notices),
            "action_children": len(action)}


def digests_from_outbox(db, schema):
    """{(destination, digest key): [notice]} of the email notices the evaluation queued."""
    groups = {}
    for r in db.rows("SELECT destination, coalesce(digest_key, '') AS dk, type, payload, notice, "
                     "status FROM %s.outbox WHERE channel = 'email' ORDER BY notice_id" % schema):
        groups.setdefault((r["destination"], r["dk"]), []).append(r)
    return groups


# ---- comparing ----

def same_entries(got, want):
    """got [(title, entries)] has want's titles in want's order, each with want's entries
    (children in an entry, and entries in a section, compared as sets)."""
    norm = [(t, sorted(tuple(sorted(e)) for e in es)) for t, es in got]
    return norm == [(t, sorted(tuple(sorted(e)) for e in es)) for t, es in want]


def in_full_ok(got, want):
    """A capped digest: got's sections are a leading run of want's, in order; each section but
    the last of got holds all of want's entries, the last some of them."""
    if not got or len(got) > len(want):
        return False
    for i, ((t, es), (wt, wes)) in enumerate(zip(got, want)):
        have = sorted(tuple(sorted(e)) for e in es)
        all_ = sorted(tuple(sorted(e)) for e in wes)
        if t != wt or not have or any(e not in all_ for e in have):
            return False
        if i < len(got) - 1 and have != all_:
            return False
    return True


def reordered(want):
    return [want[1], want[0]] + want[2:] if len(want) > 1 else want


def regrouped(want):
    """want with each sibling entry split in two; the same when it has none."""
    return [(t, [c for e in es for c in ([(x,) for x in e] if len(e) > 1 else [e])])
            for t, es in want]


def first_para(text):
    return words(text.replace("\r\n", "\n").split("\n\n")[0])


def summary_words(n_action):
    if n_action == 0:
        return ("Nothing here is marked urgent", "Good news")
    return ("%d %s action now:" % (n_action, "child needs" if n_action == 1 else
                                   "children need"),)


def list_name(m):
    """driftwatch-digest-DAY.csv, the day the message is dated (UTC)."""
    return "driftwatch-digest-%s.csv" % m["msg"]["Date"].datetime.astimezone(
        timezone.utc).strftime("%Y-%m-%d")


def mail_shape(m, capped, pages):
    msg = m["msg"]
    parts = [p.get_content_type() for p in msg.iter_parts()] if msg.is_multipart() else []
    if pages and capped:
        # the pages hold the rest: no list; the reader is sent to them
        return (msg.get_content_type() == "multipart/alternative"
                and parts == ["text/plain", "text/html"] and not m["files"]
                and "the other %d are on your driftwatch page, %s/" % (
                    m["rest"], pages) in words(m["text"]))
    if not capped:
        return (msg.get_content_type() == "multipart/alternative"
                and parts == ["text/plain", "text/html"] and not m["files"])
    alt = next(msg.iter_parts()) if parts else None
    return (msg.get_content_type() == "multipart/mixed"
            and parts == ["multipart/alternative", "text/csv"]
            and [p.get_content_type() for p in alt.iter_parts()] == ["text/plain", "text/html"]
            and [(f[0], f[1]) for f in m["files"]] == [(list_name(m), "text/csv")]
            and "attached list, %s" % list_name(m) in words(m["text"])
            and "attached list, %s" % list_name(m) in words(re.sub(r"<[^>]*>", "", m["html"])))


# ---- one digest ----

def check_digest(m, notices, tmp, pages):
    """The problems of one received digest against its outbox notices ([] when none), and
    facts for the totals; pages the public URL of the pages, or None."""
    want = expected_digest(notices)
    capped = want["fresh"] > MAX_ITEMS
    bad = []
    text_secs = [(t, es) for t, es in text_sections(m["text"]) if not t.startswith(COUNTS)]
    first_p, html_secs = html_sections(m["html"])
    html_secs = [(re.sub(r" \(\d+\)$", "", t), es) for t, es in html_secs
                 if not t.startswith(COUNTS)]
    text_secs = [(re.sub(r" \(\d+\)$", "", t), es) for t, es in text_secs]
    summary = first_para(m["text"])
    m["rest"] = want["n"] - sum(len(e) for _, es in text_secs for e in es)
    if m["msg"].defects or not mail_shape(m, capped, pages):
        bad.append("shape: defects %s, parts %s, files %s" % (
            m["msg"].defects, [p.get_content_type() for p in m["msg"].walk()],
            [(f[0], f[1]) for f in m["files"]]))
    subj = re.fullmatch(r"(\d+) drift alerts?: .*", m["subject"])
    if not subj or int(subj.group(1)) != want["n"]:
        bad.append("subject %r for %d notices" % (m["subject"], want["n"]))
    # the kinds it names (at most 6: five and "N others" past six) add up to the whole
    kinds = re.findall(r"(?:: |, )(\d+) ", m["subject"])
    others = re.search(r" and (\d+) others?$", m["subject"])
    if len(kinds) > 6 or sum(map(int, kinds)) + int(others.group(1) if others else 0) != \
            want["n"] or (others and len(kinds) != 5):
        bad.append("subject %r: its kinds do not add up to %d, or name more than six" % (
            m["subject"], want["n"]))
    if text_secs != html_secs:
        bad.append("text and HTML differ: %s / %s" % (text_secs, html_secs))
    if not capped and not same_entries(text_secs, want["sections"]):
        bad.append("sections: got %s want %s" % (text_secs, want["sections"]))
    if capped and not in_full_ok(text_secs, want["sections"]):
        bad.append("capped sections: got %s want a leading run of %s" % (
            text_secs, want["sections"]))
    if summary != first_p or not summary.startswith(summary_words(want["action_children"])):
        bad.append("summary: text %r html %r, %d children need action" % (
            summary, first_p, want["action_children"]))
    shown = sum(len(e) for _, es in text_secs for e in es)
    says_cap = "This digest is a summary: it holds %d new items, more than the %d" % (
        want["fresh"], MAX_ITEMS) in words(m["text"])
    if capped != says_cap or (capped and shown > MAX_ITEMS and
                              len([e for _, es in text_secs for e in es]) > 1):
        bad.append("cap: %d new items, %d in full, says capped %s" % (want["fresh"], shown,
                                                                      says_cap))
    links = child_links(m["html"])
    if pages and (not links or not all(h.startswith("%s/child/" % pages) for h in links)):
        bad.append("a child's identifier does not link to its page on %s: %s" % (
            pages, links[:3]))
    if capped and not pages:
        bad += check_list(m, notices, want, text_secs, tmp)
    return bad, {"capped": capped, "sections": len(want["sections"]), "want": want,
                 "text_secs": text_secs,
                 "siblings": any(len(e) > 1 for _, es in want["sections"] for e in es)}


def check_list(m, notices, want, text_secs, tmp):
    """The attached CSV list of a capped digest."""
    raw = m["files"][0][2] if m["files"] else b""
    with open(os.path.join(tmp, "%s.csv" % m["to"]), "wb") as f:
        f.write(raw)
    bad = []
    if not raw.startswith(b"\xef\xbb\xbf") or b"\r\n" not in raw:
        bad.append("csv: no byte order mark or no CRLF")
    try:
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    except (UnicodeDecodeError, csv.Error) as e:
        return bad + ["csv: unreadable: %s" % e]
    if not rows or rows[0] != CSV_HEAD:
        return bad + ["csv: header %s" % (rows[:1],)]
    rows = [dict(zip(CSV_HEAD, r)) for r in rows[1:]]
    got = sorted((r["Child"], r["Rule"], r["Stage"]) for r in rows)
    exp = sorted((n["payload"].get("child_id") or "", n["payload"].get("rule") or "",
                  n["payload"].get("stage") or "") for n in notices)
    if got != exp:
        bad.append("csv: %d rows, not one per notice (%d)" % (len(rows), len(notices)))
    order = [list(TITLES.values()).index(r["Section"]) if r["Section"] in TITLES.values()
             else -1 for r in rows]
    if -1 in order or order != sorted(order):
        bad.append("csv: sections not in reading order: %s" % order[:60])
    entries = {}
    for r in rows:
        entries.setdefault(r["Entry"], []).append(r)
    for num, rs in entries.items():
        if len({(r["Family"], r["Rule"], r["Stage"], r["Change"]) for r in rs}) != 1 or \
                (len(rs) > 1 and not rs[0]["Family"]):
            bad.append("csv: entry %s mixes families, rules or stages" % num)
    full = sorted(r["Child"] for r in rows if r["In full in the mail"] == "yes")
    if full != sorted(c for _, es in text_secs for e in es for c in e):
        bad.append("csv: in full %s, the mail shows %s" % (full, text_secs))
    formula = [c for r in rows for c in r.values() if c[:1] in ("=", "+", "-", "@")]
    if formula:
        bad.append("csv: cells a spreadsheet runs as formulas: %s" % formula[:5])
    # the summary's children needing action, counted from the list's own column
    if len({r["Child"] for r in rows if r["Action now"] == "yes"}) != want["action_children"]:
        bad.append("csv: Action now marks %d children, %d need action" % (
            len({r["Child"] for r in rows if r["Action now"] == "yes"}),
            want["action_children"]))
    return bad


def child_links(html):
    """The link on each row's child identifier, in the tables of entries (those with a head
    row; the counts of a capped digest have none)."""
    out = []
    for table in re.findall(r"(?s)<table[^>]*>(.*?)</table>", html):
        if "<thead>" not in table:
            continue
        for row in re.findall(r"(?s)<tbody>.*", table)[0].split("<tr>")[1:]:
            cell = re.search(r"(?s)<td[^>]*>(.*?)</td>", row)
            href = re.search(r'<a href="([^"]*)"', cell.group(1)) if cell else None
            out.append(href.group(1) if href else "")
    return out


# ---- the browser ----

def shot_name(to):
    return re.sub(r"[^A-Za-z0-9._-]", "_", to)


def check_browser(t, tmp, shown):
    """shown: [(mail, its facts, a prefix for its screenshots' names)]."""
    shots = os.path.join(tmp, "screenshots")
    os.makedirs(shots, exist_ok=True)
    pages = []
    for m, f, prefix in shown:
        name = prefix + shot_name(m["to"])
        page = os.path.join(shots, name + ".html")
        with open(page, "w", encoding="utf-8") as out:
            out.write(m["html"])
        pages.append({"file": page, "name": name, "axe": f["capped"]})
    if not t.check(os.access(CHROMIUM, os.X_OK) and os.path.isdir(
            os.path.join(HERE, "node_modules", "puppeteer-core")),
            "chromium (%s) and puppeteer-core (npm ci in tests/integration) are installed"
            % CHROMIUM):
        return
    p = subprocess.run(["node", os.path.join(HERE, "digest_browser.js"), json.dumps({
        "pages": pages, "chromium": CHROMIUM, "shots": shots})],
        capture_output=True, text=True, timeout=1800)
    with open(os.path.join(shots, "browser.json"), "w") as f:
        f.write(p.stdout)
    try:
        seen = json.loads(p.stdout.strip().splitlines()[-1])["pages"] if p.stdout.strip() \
            else []
    except (ValueError, KeyError):
        seen = []
    if not t.check(p.returncode == 0 and len(seen) == len(shown),
                   "chromium opened all %d digests" % len(shown), "exit %s" % p.returncode,
                   p.stderr[-2000:]):
        return
    t.note("screenshots of %d digests in %s" % (len(seen), shots))
    order_bad, layout_bad, shots_bad, axe_bad = [], [], [], []
    for (m, f, prefix), got, one in zip(shown, seen, pages):
        pg = got["page"]
        titles = [re.sub(r" \(\d+\)$", "", s["title"]) for s in pg["sections"]
                  if not s["title"].startswith(COUNTS)]
        if pg["summary"] != first_para(m["text"]) or \
                titles != [x for x, _ in f["text_secs"]]:
            order_bad.append((m["to"], pg["summary"], titles))
        if pg["images"] or not all(u.startswith("file:") for u in got["requests"]) or \
                got.get("phoneScrollWidth", 9999) > 390 or pg.get("wrapped") or \
                (got.get("phone") or {}).get("wrapped"):
            layout_bad.append((m["to"], pg["images"], got["requests"][:3],
                               got.get("phoneScrollWidth"), pg.get("wrapped")))
        for suffix in ("-wide.png", "-phone.png", "-phone-dark.png"):
            path = os.path.join(shots, one["name"] + suffix)
            if not os.path.exists(path) or open(path, "rb").read(8) != PNG or \
                    os.path.getsize(path) < 5000:
                shots_bad.append(path)
        for what in ("axe", "axeDark") if f["capped"] else ():
            v = (got.get(what) or {}).get("violations")
            grave = [x["id"] for x in v or [] if x.get("impact") in ("serious", "critical")
                     and not (what == "axeDark" and x["id"] == "color-contrast")]
            if v is None or grave:
                axe_bad.append((m["to"], what, grave))
    t.check(not order_bad, "in the browser each digest opens with its summary, then its "
            "sections in the order of the text part", json.dumps(order_bad[:5], indent=1))
    t.check(not layout_bad, "no digest loads anything from elsewhere or has images; none is "
            "wider than a 390px phone; no child's identifier breaks over two lines",
            json.dumps(layout_bad[:5], indent=1))
    t.check(not shots_bad, "screenshots saved for every digest: wide, phone, dark phone",
            shots_bad[:5])
    n_axe = sum(1 for _, f, _ in shown if f["capped"])
    t.check(n_axe > 0 and not axe_bad, "axe-core (WCAG 2.2 AA) finds no serious or critical "
            "violation in the %d capped digests, light and dark (dark colour contrast is "
            "test_digest_reading's, measured on the painted canvas)" % n_axe,
            json.dumps(axe_bad[:5]))


# ---- the test ----

def check_pass(t, tmp, db, mails, schema, pages):
    """One --once's digests against its outbox (state schema), pages the public URL or None."""
    label = "with the pages" if pages else "without the pages"
    groups = digests_from_outbox(db, schema)
    undelivered = [(k, n["status"]) for k, ns in groups.items() for n in ns
                   if n["status"] != "delivered"]
    t.check(groups and not undelivered and len(mails) == len(groups)
            and len({m["to"] for m in mails}) == len(mails)
            and {m["to"] for m in mails} == {k[0] for k in groups},
            "%s: every email notice delivered, one digest per person (%d digests, %d notices)"
            % (label, len(mails), sum(len(v) for v in groups.values())),
            undelivered[:5], sorted(m["to"] for m in mails)[:20])
    by_to = {k[0]: ns for k, ns in groups.items()}
    out = os.path.join(tmp, "pages" if pages else "list")
    os.makedirs(out, exist_ok=True)
    problems, facts, reports = {}, {}, {}
    for m in mails:
        if m["to"] not in by_to:
            continue
        with open(os.path.join(out, "%s.txt" % m["to"]), "w") as f:
            f.write("Subject: %s\n\n%s" % (m["subject"], m["text"]))
        # a report to the operators about driftwatch itself (the demo's teams have webhook
        # URLs and no team_webhook_secret_file) is not a person's digest of alerts
        if all(not n["type"].startswith("alert.") for n in by_to[m["to"]]):
            reports[m["to"]] = (m["subject"], len(by_to[m["to"]]))
            continue
        bad, facts[m["to"]] = check_digest(m, by_to[m["to"]], out, pages)
        if bad:
            problems[m["to"]] = bad
    if reports:
        t.check(all(re.fullmatch(r"driftwatch: %d .*" % n, subj) for subj, n in
                    reports.values()),
                "%s: the operators' reports about driftwatch itself come as reports, each "
                "subject counting its notices" % label, json.dumps(reports))
    capped = sorted(k for k, f in facts.items() if f["capped"])
    t.note("%s: %d digests, %d capped (%s), the largest %d notices" % (
        label, len(facts), len(capped), ", ".join(capped),
        max((f["want"]["n"] for f in facts.values()), default=0)))
    t.check(facts and not problems, "%s: each digest as its outbox notices say: well-formed "
            "MIME, subject, sections in the order of seriousness, entries and siblings, the "
            "summary on top, the cap and %s" % (label, "where the pages hold the rest" if pages
                                                  else "its CSV list"),
            json.dumps(problems, indent=1)[:6000])
    # the comparisons can fail: each rejects a reordered or regrouped expectation
    multi = [f for f in facts.values() if f["sections"] > 1 and not f["capped"]]
    sib = [f for f in facts.values() if f["siblings"] and not f["capped"]]
    t.check(multi and sib and not any(
        same_entries(f["text_secs"], reordered(f["want"]["sections"])) for f in multi)
        and not any(same_entries(f["text_secs"], regrouped(f["want"]["sections"]))
                    for f in sib),
        "%s: the order and grouping checks reject a reordered expectation (%d digests of more "
        "than one section) and a regrouped one (%d digests with siblings)" % (
            label, len(multi), len(sib)))
    attached = sorted(m["to"] for m in mails if m["files"])
    if pages:
        t.check(capped and not attached and len(capped) < len(facts),
                "with the pages: capped digests (%d) and digests in full (%d), none with a "
                "list attached" % (len(capped), len(facts) - len(capped)), attached)
    else:
        t.check(capped and attached == capped and len(capped) < len(facts),
                "without the pages: capped digests, each received with its list attached "
                "(%d), and digests in full (%d)" % (len(attached), len(facts) - len(capped)),
                "capped: %s" % capped, "received with a list: %s" % attached)
    return [m for m in mails if m["to"] in facts], facts


def run(t, procs, tmp):
    db = Db("dwdigest_demo")
    db.recreate()
    p = subprocess.run(["bash", os.path.join(TOP, "bench", "load.sh"), "--dsn", db.conninfo(),
                        "--children", str(CHILDREN), "--seed", "42", "--as-of", D],
                       capture_output=True, text=True, timeout=600, env=db.env)
    if not t.check(p.returncode == 0, "the demo's data: bench/load.sh (build/dwgen) loads %d "
                   "children, seed 42, as of %s" % (CHILDREN, D), p.stdout[-1500:],
                   p.stderr[-1500:]):
        return
    ca = make_ca(tmp)
    pwfile = SmtpServer.password_file(tmp)
    secret_file = os.path.join(tmp, "link.secret")
    with open(secret_file, "w") as f:
        f.write("a-link-secret-of-enough-length-for-the-test-0123456789\n")
    os.chmod(secret_file, 0o600)
    web_port = free_port()
    shown = []
    # the same first day twice, each in a state schema of its own: as `make demo` mails it
    # (no pages: the rest of a capped digest in the attached list), then with the pages
    for schema, pages in (("driftwatch", None), ("driftwatch_pages",
                                                 "http://127.0.0.1:%d" % web_port)):
        smtp = SmtpServer(procs, tmp, "mail-" + schema, ca)
        conf = {"database": {"conninfo": db.conninfo("dwdigest-demo"), "state_schema": schema},
                "link_template": "https://lcs.example.gov.uk/person/{child_id}",
                "addresses": addresses(),
                "email": email_conf(smtp.port, ca, pwfile, digest_time=None)}
        if pages:
            conf["web"] = {"listen": "127.0.0.1:%d" % web_port, "public_url": pages,
                           "link_secret_file": secret_file}
        r = run_once(write_config(tmp, schema, conf), D, timeout=900)
        if not t.check(r.rc == 0 and not r.sanitizer(),
                       "driftwatchd --once --as-of %s exits 0 with no sanitizer report (%s)"
                       % (D, "with the pages" if pages else "without the pages"), r.diag()):
            return
        mails, facts = check_pass(t, tmp, db, smtp.messages(), schema, pages)
        shown += [(m, facts[m["to"]], "pages-" if pages else "") for m in mails]
    check_browser(t, tmp, shown)


def main():
    t = Tap()
    return run_test(t, "digest_demo", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
