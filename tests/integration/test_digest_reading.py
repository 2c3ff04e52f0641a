#!/usr/bin/python3
"""test_digest_reading: a digest as a team manager reads it (issue 16 item 5), on the mail a real
SMTP server received from `driftwatchd --once --as-of 2026-11-21`.

On tests/fixtures/digest_reading.sql one supervisor (sup1@la.example) gets one digest of seven
notices whose reading order is known from the seriousness each rule declares for its stage
(rules/*.c, rule.h): an 18-month CP escalation, a return to a CP plan within 12 months (both
urgent), a repeated was-not-brought, and drift (two siblings of one family at CP 9 months, another
child at CP 9 months, a CIN plan at 6 months). Checks on the received mail: the summary on top
names the urgent notices; the sections come most serious first, in the same order in the text
and HTML parts; the two siblings are one entry naming both, the other child at the same stage is
not in it; the subject counts by rule and stage, most serious first. Each order and grouping
check is also run against a reordered or regrouped expectation, which it must reject.

Then the received HTML part is opened in Debian's headless chromium (tests/integration/
digest_browser.js): screenshots (wide, phone, dark phone) are saved under the scratch directory's
screenshots/ and axe-core is run on the page. Serious and critical axe violations fail; lesser
ones are listed as diagnostics.

Environment: DRIFTWATCHD, PGHOST PGPORT PGUSER of a running server, DW_TOP, TEST_TMPDIR, CHROMIUM
(default /usr/bin/chromium). Uses database dwdigest_read (dropped and created here) and
loopback ports. KEEP_TMP=1 keeps the scratch directory (received mail, screenshots), which is
otherwise kept only when a check failed.
"""
import json
import os
import re
import sys
from html.parser import HTMLParser

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from dwtest import (  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
    BROWSER_NEEDS, TOP, Db, SmtpServer, addresses, browser_ready, digest_browser,
    email_conf, make_ca, page_file, run_once, run_test, write_config)
from tap import Tap  # noqa: E402

D = "2026-11-21"
SUP = "sup1@la.example"
PNG = b"\x89PNG\r\n\x1a\n"

# Sections most serious first (rule.h enum rule_seriousness), each with its entries (the children
# each names). Within a section the order of entries is not specified: compared as a set.
EXPECTED = [
    ("CP escalations", [("C-ESC",)]),
    ("Returns to a plan", [("C-RET",)]),
    ("Children not brought", [("C-WNB",)]),
    ("Drift", [("C-SIB-1", "C-SIB-2"), ("C-LONE",), ("C-CIN",)]),
]
SUMMARY = ("2 children need action now: 1 CP escalation at 18 months, 1 repeat CP plan within "
           "12 months. Then 5 other changes to review in supervision.")
SUBJECT_HEAD = [(1, "CP escalation at 18 months"), (1, "repeat CP plan within 12 months"),
                (1, "repeated was-not-brought")]
SUBJECT_TAIL = {(3, "CP plans at 9 months"), (1, "CIN plan at 6 months")}


def words(s):
    return " ".join(s.split())


# ---- reading the parts ----

def text_sections(text):
    """[(title, [(child, ...) per entry])] of the plain text part, in order: a title is a line
    underlined with '='; an entry is 'N. heading' followed by a 'Child:' line per child."""
    lines = text.splitlines()
    out = []
    for i in range(len(lines) - 1):
        if lines[i].strip() and re.fullmatch(r"=+", lines[i + 1]):
            out.append((lines[i].strip(), [], i + 2))
    result = []
    for k, (title, _, start) in enumerate(out):
        end = out[k + 1][2] - 2 if k + 1 < len(out) else len(lines)
        body = "\n".join(lines[start:end])
        entries = []
        for block in re.split(r"(?m)^(?=\d+\. )", body):
            kids = re.findall(r"(?m)^   Child: (\S+)", block)
            if re.match(r"\d+\. ", block) and kids:
                entries.append(tuple(kids))
        result.append((title, entries))
    return result


class _Html(HTMLParser):
    """h2 titles and, in the table after each, the rows: the child cell's text and whether the
    row opens an entry (its 'What' cell), and that cell's rowspan."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.sections, self.paras = [], []
        self.cell = None      # text of the cell being read
        self.tag = None       # h2 / p being read
        self.buf = ""
        self.row = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "br" and self.cell is not None:
            self.cell += " "    # "C-1<br>case record" is the identifier, then a link
        elif tag in ("h2", "p") and self.cell is None:
            self.tag, self.buf = tag, ""
        elif tag == "tr" and self.sections:
            self.row = {"cells": [], "spans": []}
        elif tag in ("td", "th") and self.row is not None:
            self.cell = ""
            self.row["spans"].append(int(a.get("rowspan") or 1))

    def handle_endtag(self, tag):
        if tag == self.tag:
            (self.sections.append({"title": words(self.buf), "rows": []}) if tag == "h2"
             else self.paras.append(words(self.buf)))
            self.tag = None
        elif tag in ("td", "th") and self.cell is not None:
            self.row["cells"].append(words(self.cell))
            self.cell = None
        elif tag == "tr" and self.row is not None:
            if self.row["cells"] and self.row["cells"][0] != "Child":
                self.sections[-1]["rows"].append(self.row)
            self.row = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data
        elif self.tag:
            self.buf += data


def html_sections(html):
    """(first paragraph, [(title, [(child, ...) per entry])]) of the HTML part: a row with more
    cells than the rows after it opens an entry whose 'What' cell spans its rows."""
    p = _Html()
    p.feed(html)
    result = []
    for s in p.sections:
        entries, left = [], 0
        for r in s["rows"]:
            child = r["cells"][0].split()[0] if r["cells"] and r["cells"][0] else "?"
            if left > 0:
                entries[-1] = entries[-1] + (child,)
                left -= 1
                continue
            span = r["spans"][1] if len(r["spans"]) > 1 else 1
            entries.append((child,))
            left = span - 1
        result.append((s["title"], entries))
    return (p.paras[0] if p.paras else ""), result


# ---- comparing with what is expected ----

def same_sections(got, want):
    """got [(title, entries)] holds want's sections in want's order (titles by prefix), each with
    exactly want's entries (children in an entry compared as a set, entries as a set)."""
    if len(got) != len(want):
        return False
    for (title, entries), (prefix, want_entries) in zip(got, want):
        if not title.startswith(prefix):
            return False
        if sorted(tuple(sorted(e)) for e in entries) != \
                sorted(tuple(sorted(e)) for e in want_entries):
            return False
    return True


def reordered(want):
    """want with its two most serious sections swapped: an order check must reject it."""
    return [want[1], want[0]] + want[2:]


def ungrouped(want):
    """want with the siblings as two entries: a grouping check must reject it."""
    return [(t, [c for e in es for c in ([(x,) for x in e] if len(e) > 1 else [e])])
            for t, es in want]


def subject_groups(subject):
    m = re.fullmatch(r"(\d+) drift alerts?: (.*)", subject)
    if not m:
        return None, []
    return int(m.group(1)), [(int(n), w) for n, w in
                             re.findall(r"(\d+) ([^,]+)(?:, |$)", m.group(2))]


def subject_ok(total, groups, head, tail):
    return (total == 7 and groups[:len(head)] == head and set(groups[len(head):]) == tail
            and len(groups) == len(head) + len(tail))


def rgb(css):
    m = re.fullmatch(r"rgba?\((\d+), (\d+), (\d+)(?:, [\d.]+)?\)", css or "")
    return tuple(int(x) for x in m.groups()) if m else None


def luminance(c):
    """WCAG 2 relative luminance of an (r, g, b) of 0..255."""
    lin = [(v / 255) / 12.92 if v / 255 <= 0.04045 else ((v / 255 + 0.055) / 1.055) ** 2.4
           for v in c]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a, b):
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


# ---- the test ----

def check_mail(t, m):
    text_secs = text_sections(m["text"])
    first_p, html_secs = html_sections(m["html"])
    text_summary = words(m["text"].replace("\r\n", "\n").split("\n\n")[0])
    diag = "text: %s\nhtml: %s" % (json.dumps(text_secs), json.dumps(html_secs))

    t.check(text_summary == SUMMARY and first_p == SUMMARY
            and SUMMARY.replace("2 children", "1 child") not in (text_summary, first_p),
            "the summary on top of both parts names the two urgent notices and counts the rest",
            "want: " + SUMMARY, "text: " + text_summary, "html: " + first_p)
    t.check(same_sections(text_secs, EXPECTED) and not same_sections(text_secs,
                                                                       reordered(EXPECTED)),
            "the text part's sections come most serious first (escalation, return, not brought, "
            "drift), each with its own notices", diag)
    t.check(same_sections(html_secs, EXPECTED) and not same_sections(html_secs,
                                                                       reordered(EXPECTED)),
            "the HTML part's sections (h2 and its table) come in the same order, with the same "
            "notices", diag)
    t.check([s for s, _ in text_secs] == [s for s, _ in html_secs]
            and [e for _, e in text_secs] == [e for _, e in html_secs] and text_secs,
            "text and HTML give the same titles and the same entries in the same order", diag)
    sib_text = [e for _, es in text_secs for e in es if "C-SIB-1" in e]
    sib_html = [e for _, es in html_secs for e in es if "C-SIB-1" in e]
    t.check(sib_text == [("C-SIB-1", "C-SIB-2")] and sib_html == [("C-SIB-1", "C-SIB-2")]
            and not same_sections(text_secs, ungrouped(EXPECTED))
            and not same_sections(html_secs, ungrouped(EXPECTED)),
            "the two siblings of family F-SIB (same rule, same stage) are one entry naming both, "
            "in both parts; C-LONE at the same stage is not in it", diag)
    heading = re.search(r"(?m)^\d+\. (.*(?:\n   (?!Child:).*)*)\n   Child: C-SIB-1", m["text"])
    t.check(heading is not None and "F-SIB" in heading.group(1)
            and "2 siblings" in heading.group(1),
            "the siblings' entry says they are 2 siblings of family F-SIB",
            heading.group(1) if heading else m["text"][:3000])
    total, groups = subject_groups(m["subject"])
    t.check(subject_ok(total, groups, SUBJECT_HEAD, SUBJECT_TAIL)
            and not subject_ok(total, groups, SUBJECT_HEAD[::-1], SUBJECT_TAIL),
            "the subject counts 7 by rule and stage, most serious first", m["subject"])


def check_browser(t, tmp, m):
    shots, page = page_file(tmp, "sup1-digest.html", m["html"])
    if not t.check(browser_ready(), BROWSER_NEEDS):
        return
    p, got = digest_browser({"file": page, "shots": shots, "name": "sup1"})
    with open(os.path.join(shots, "browser.json"), "w") as f:
        f.write(p.stdout)
    if not t.check(p.returncode == 0 and got.get("page"),
                   "chromium opened the received HTML part", "exit %s" % p.returncode,
                   p.stderr[-2000:]):
        return
    t.note("screenshots in %s" % shots)
    pg = got["page"]
    seen = [(s["title"], s["children"]) for s in pg["sections"]]
    want_titles = [x for x, _ in EXPECTED]
    t.check(pg["summary"] == SUMMARY and len(seen) == len(EXPECTED)
            and all(a.startswith(b) for (a, _), b in zip(seen, want_titles))
            and not all(a.startswith(b) for (a, _), b in zip(seen, reversed(want_titles))),
            "in the browser the summary comes first, then the sections most serious first",
            json.dumps(pg, indent=1)[:3000])
    t.check(pg["images"] == 0 and got["requests"] and
            all(u.startswith("file:") for u in got["requests"]),
            "the page loads nothing from elsewhere and has no images", got["requests"])
    t.check(got.get("phoneScrollWidth", 9999) <= 390,
            "on a 390px phone nothing is wider than the screen (scroll width %s)"
            % got.get("phoneScrollWidth"))
    wrapped = (pg.get("wrapped"), (got.get("phone") or {}).get("wrapped"))
    t.check(wrapped == ([], []) and len(pg["sections"][0]["children"]) > 0,
            "each child's identifier stays on one line, wide and on the phone", wrapped)
    bad = [n for n in ("sup1-wide.png", "sup1-phone.png", "sup1-phone-dark.png")
           if not os.path.exists(os.path.join(shots, n))
           or open(os.path.join(shots, n), "rb").read(8) != PNG
           or os.path.getsize(os.path.join(shots, n)) < 5000]
    t.check(not bad, "screenshots saved: wide, phone, dark phone", bad)
    dark = got.get("dark") or {}
    canvas, link, text = (rgb(dark.get(k)) for k in ("canvas", "link", "text"))
    ratios = [contrast(c, canvas) for c in (text, link)] if canvas and link and text else []
    t.check(ratios and luminance(canvas) < 0.2 and min(ratios) >= 4.5,
            "in dark mode (color-scheme) chromium paints a dark canvas and the text and links "
            "read on it: contrast %s" % ", ".join("%.1f:1" % r for r in ratios), json.dumps(dark))
    # axe takes a page with no background of its own to be white: on the dark canvas its
    # colour-contrast findings measured against #ffffff are about a page nobody sees
    misjudged = [n for n in got.get("darkContrast") or []
                 if (n.get("data") or {}).get("bgColor") == "#ffffff" and canvas
                 and luminance(canvas) < 0.2]
    if misjudged:
        t.note("axe dark: %d color-contrast findings judged against #ffffff, not the canvas "
               "painted (%s); measured above instead, e.g. %s" % (
                   len(misjudged), dark.get("canvas"), json.dumps(misjudged[0]["data"])))
    for what, report in (("light", got.get("axe") or {}), ("dark", got.get("axeDark") or {})):
        v = report.get("violations")
        grave = [x for x in v or [] if x.get("impact") in ("serious", "critical")
                 and not (what == "dark" and x["id"] == "color-contrast" and misjudged
                          and len(misjudged) == len(got.get("darkContrast") or []))]
        t.check(v is not None and not grave and report.get("passes", 0) > 0,
                "axe-core (WCAG 2.2 AA): no serious or critical violation in the digest, %s "
                "(%s rules passed)" % (what, report.get("passes")),
                json.dumps(grave, indent=1)[:3000])
        for x in v or []:
            if x not in grave:
                t.note("axe %s, %s (%s): %s%s" % (
                    what, x["id"], x["impact"], x["help"],
                    " (judged against #ffffff, not counted: see above)"
                    if x["impact"] in ("serious", "critical") else ""))


def run(t, procs, tmp):
    db = Db("dwdigest_read")
    db.recreate()
    db.load(os.path.join(TOP, "rules", "contract.sql"),
            os.path.join(TOP, "tests", "fixtures", "digest_reading.sql"))
    ca = make_ca(tmp)
    pwfile = SmtpServer.password_file(tmp)
    smtp = SmtpServer(procs, tmp, "mail", ca)
    cfg = write_config(tmp, "reading", {
        "database": {"conninfo": db.conninfo("dwdigest-read"), "state_schema": "driftwatch"},
        "link_template": "https://lcs.example.gov.uk/person/{child_id}",
        "addresses": addresses(),
        "email": email_conf(smtp.port, ca, pwfile, digest_time=None)})
    r = run_once(cfg, D)
    if not t.check(r.rc == 0 and not r.sanitizer(),
                   "driftwatchd --once --as-of %s exits 0 with no sanitizer report" % D,
                   r.diag()):
        return
    mine = [m for m in smtp.messages() if m["to"] == SUP]
    if not t.check(len(mine) == 1, "%s gets one digest" % SUP,
                   [(m["to"], m["subject"]) for m in smtp.messages()]):
        return
    m = mine[0]
    with open(os.path.join(tmp, "sup1.txt"), "w") as f:
        f.write("Subject: %s\n\n%s" % (m["subject"], m["text"]))
    check_mail(t, m)
    check_browser(t, tmp, m)


def main():
    t = Tap()
    return run_test(t, "digest_reading", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
