#!/usr/bin/python3
"""test_mail_links: the links in a received mail followed as a person would (RESPONSES.md, "Links
in notices"; issue 13).

The real daemon (`driftwatchd -c FILE`, running) on tests/fixtures/daemon.sql with web.listen,
web.public_url and web.link_secret_file set delivers its first digest to the real SMTP server
(smtp_server.py). web.public_url is the web.listen address itself, http://127.0.0.1:PORT (the
configuration allows http:// to loopback only), so the links in the mail are followed exactly as
they are: nothing here signs or decodes a token. From that mail:
  - the text part's Acknowledge, Snooze and Open links per item, and the HTML part's, are the
    same links;
  - a GET of each link of two items (six pages) changes nothing in the state schema, and each
    page names the item's child, the alert's rule and stage, and offers the forms its link is
    for;
  - the first item's Acknowledge form (from the text part's link) is submitted as its HTML says
    (its method, its action resolved against the page's address, its hidden fields, a note):
    the alert is acknowledged by the mail's addressee for its stage, and its history has one
    event: acknowledged, by the addressee, through "link", with the note; sent again, nothing
    changes; the Open page then says who acknowledged it;
  - the second item's Snooze form (from the HTML part's link), filled with a date in the form's
    own range and a reason chosen by its label from the form's list: snoozed until that date by
    the addressee, one snoozed event through "link" with reason and note; sent again, nothing
    changes;
  - the first item's form sent to the second item's link is refused and changes nothing;
  - the third item is untouched, and the daemon stops cleanly with no sanitizer report.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwmaillinks is dropped and created here. Standard library only.
"""
import datetime
import os
import urllib.parse
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import linkmail  # noqa: E402  (tests/lib/linkmail.py: mail links, pages and forms)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

ACK_NOTE = "Discussed in supervision on Tuesday; plan review booked."
SNOOZE_NOTE = "Pre-proceedings letter sent; legal planning meeting next week."
SNOOZE_LABEL = "Legal planning (pre-proceedings or PLO)"


def british(iso):
    """'2027-01-05' as the pages write it: '5 Jan 2027'."""
    d = datetime.date.fromisoformat(iso)
    return "%d %s %d" % (d.day, d.strftime("%b"), d.year)


def check_mail_links(t, s, m):
    """The mail's items and their links in both parts; [] when they are not there."""
    items = linkmail.text_links(m["text"], s.base)
    flat = [(k, it[k]) for it in items for k in linkmail.LINK_KINDS if k in it]
    html = linkmail.html_links(m["html"], s.base)
    t.check(len(items) >= 3 and len(items) == len(m["items"]) and
            all(all(k in it for k in linkmail.LINK_KINDS) and it["child"] for it in items),
            "the mail to %s: each of its %d items has Acknowledge, Snooze and Open in the "
            "text part" % (m["to"], len(m["items"])), m["text"][:2500])
    t.check(html == flat, "the HTML part's links are the text part's, in the same order",
            "html: %r\ntext: %r" % (html[:6], flat[:6]))
    return items if len(items) >= 3 and html == flat else []


def check_pages(t, s, items, addressee):
    """GET each link of the first two items: nothing changes; each page is the item's alert."""
    before = s.snapshot()
    pages, bad = {}, []
    want_forms = {"acknowledge": ["Acknowledge"], "snooze": ["Snooze"],
                  "open": ["Acknowledge", "Snooze"]}
    for i, it in enumerate(items[:2]):
        for kind in linkmail.LINK_KINDS:
            st, page, body = linkmail.get_page(it[kind])
            pages[(i, kind)] = page
            fp = s.alert_of(page.facts.get("Rule", "?"), it["child"])
            a = s.alert(fp) if fp else None
            forms = [f["heading"].strip() for f in page.forms]
            if st != 200 or not a or page.facts.get("Child") != it["child"] or \
                    page.facts.get("Stage") != a["stage"] or forms != want_forms[kind] or \
                    not page.title.startswith("Child %s: " % it["child"]):
                bad.append("%s %s: %s, title %r, facts %r, forms %r, alert %r\n%s"
                           % (it["child"], kind, st, page.title, page.facts, forms, a,
                              body[:600]))
            # the Open link is for the child's page: its page leads there first
            to_child = 'href="../child/%s"' % urllib.parse.quote(it["child"], safe="")
            if (kind == "open") != (to_child in body):
                bad.append("%s %s: a link to the child's page only on the Open link's page, "
                           "got %s\n%s" % (it["child"], kind, to_child in body, body[:600]))
    t.check(not bad, "GET of each link of two items: the item's child, the alert's rule and "
            "stage, and the forms the link is for; the Open link's page leads to the child's "
            "page (6 pages)", "\n".join(bad))
    t.check(s.snapshot() == before, "those six GETs changed nothing in the state schema",
            repr(before)[:1500], repr(s.snapshot())[:1500])
    said = "This link was sent to %s: an answer given through it is recorded as theirs." % addressee
    t.check(all(said in " ".join(p.text.split()) for p in pages.values()),
            "every page says whom an answer through it is recorded as (a forwarded email's "
            "link still answers as the addressee)", said)
    return pages


def acknowledge(t, s, items, pages, addressee):
    it = items[0]
    page = pages[(0, "acknowledge")]
    form = page.form("Acknowledge")
    fp = s.alert_of(page.facts["Rule"], it["child"])
    stage = page.facts["Stage"]
    if not t.check(form and form["method"] == "post" and form["action"] == it["acknowledge"]
                   and linkmail.field(form, "form") and linkmail.field(form, "note"),
                   "the Acknowledge page's form: POST to the link's own address, a hidden "
                   "form field and a note", repr(form)):
        return None
    others = s.snapshot()[0]
    st, done, body = linkmail.submit(page, form, {"note": ACK_NOTE})
    t.check(st == 200 and done.title == "Thank you - driftwatch" and
            "Acknowledged for the %s stage" % stage in done.text and
            "higher stage" in done.text,
            "submitting it: 'Acknowledged for the %s stage', and what happens next" % stage,
            "%s %s" % (st, body[:800]))
    a = s.alert(fp)
    t.check(a and a["acknowledged_by"] == addressee and a["ack_stage"] == stage and
            a["ack_note"] == ACK_NOTE and a["snoozed_until"] is None,
            "the state: acknowledged by the mail's addressee (%s) for stage %s, with the note"
            % (addressee, stage), repr(a))
    ev = s.responses(fp)
    t.check([(e["kind"], e["actor"], e["via"], e["stage"], e["note"]) for e in ev] ==
            [("acknowledged", addressee, "link", stage, ACK_NOTE)],
            "the alert's history: one event, acknowledged by the addressee through link, with "
            "the stage and the note", repr(ev))
    after = s.snapshot()
    st, again, body = linkmail.submit(page, form, {"note": ACK_NOTE})
    t.check(st == 200 and "nothing was changed" in again.text and s.snapshot() == after,
            "the same form sent again: 'nothing was changed', and nothing was",
            "%s %s" % (st, body[:600]))
    changed = [r["fingerprint"] for r, o in zip(s.snapshot()[0], others) if r != o]
    t.check(changed == [fp], "only that alert changed", repr(changed))
    st, opened, body = linkmail.get_page(it["open"])
    t.check(st == 200 and "Acknowledged for this stage by %s" % addressee in opened.text,
            "its Open page now says who acknowledged it", opened.text[:800])
    return form


def snooze(t, s, m, items, addressee, ack_form):
    it = items[1]
    html = linkmail.html_links(m["html"], s.base)
    url = [u for k, u in html if k == "snooze"][1]  # the second item's, from the HTML part
    st, page, body = linkmail.get_page(url)
    form = page.form("Snooze")
    fp = s.alert_of(page.facts.get("Rule", "?"), it["child"])
    until_f = linkmail.field(form, "until") if form else None
    reason_f = linkmail.field(form, "reason") if form else None
    if not t.check(st == 200 and url == it["snooze"] and form and form["method"] == "post" and
                   form["action"] == url and until_f and reason_f and
                   until_f["type"] == "date" and "required" in until_f["attrs"],
                   "the HTML part's Snooze link: a POST form to its own address with a "
                   "required date and a reason", "%s %r" % (st, form)):
        return
    lo = datetime.date.fromisoformat(until_f["attrs"]["min"])
    hi = datetime.date.fromisoformat(until_f["attrs"]["max"])
    until = min(lo + datetime.timedelta(days=6), hi).isoformat()
    reason = [v for v, label in reason_f["options"] if label.strip() == SNOOZE_LABEL]
    t.check(len(reason) == 1 and lo < hi, "the form lists the reason %r and a range of dates "
            "(%s to %s)" % (SNOOZE_LABEL, lo, hi), repr(reason_f["options"]))
    reason = reason[0] if reason else ""
    values = {"until": until, "reason": reason, "note": SNOOZE_NOTE}
    # the first item's form (another alert) sent to this link: refused, nothing changes
    before = s.snapshot()
    bad_st, refused, body = linkmail.request(
        "post", url, linkmail.submission(ack_form, {"note": "x"})) if ack_form else (0, "", "")
    t.check(bad_st in (400, 403) and s.snapshot() == before and
            "This link cannot be used" in refused,
            "another alert's form sent to this link is refused and changes nothing",
            "%s %s" % (bad_st, refused[:500]))
    st, done, body = linkmail.submit(page, form, values)
    t.check(st == 200 and done.title == "Thank you - driftwatch" and
            "Snoozed until %s" % british(until) in done.text and SNOOZE_LABEL in done.text and
            "A new stage is still sent" in done.text,
            "submitting it: 'Snoozed until %s', the reason, and what happens next" % until,
            "%s %s" % (st, body[:800]))
    a = s.alert(fp)
    t.check(a and a["snoozed_until"] == until and a["snooze_reason"] == reason and
            a["snoozed_by"] == addressee and a["snooze_note"] == SNOOZE_NOTE and
            a["acknowledged_by"] is None,
            "the state: snoozed until %s by the addressee for %s, with the note" % (until,
                                                                                    reason),
            repr(a))
    ev = s.responses(fp)
    t.check([(e["kind"], e["actor"], e["via"], e["stage"], e["reason"], e["note"])
             for e in ev] == [("snoozed", addressee, "link", a and a["stage"], reason,
                               SNOOZE_NOTE)],
            "the alert's history: one event, snoozed by the addressee through link, with the "
            "reason and the note", repr(ev))
    after = s.snapshot()
    st, again, body = linkmail.submit(page, form, values)
    t.check(st == 200 and "nothing was changed" in again.text and s.snapshot() == after,
            "the same snooze sent again: 'nothing was changed', and nothing was",
            "%s %s" % (st, body[:600]))


def run(t, procs, tmp):
    s = linkmail.Setup(procs, tmp, "dwmaillinks")
    if not t.check(lib.wait_for(lambda: s.firing() >= 3, 90, step=0.5),
                   "the running daemon records the fixture's alerts",
                   "\n".join(s.daemon.lines()[-30:])):
        return
    mails = [m for m in s.mails_with_links(1, 90) if linkmail.text_links(m["text"], s.base)]
    if not t.check(mails, "a digest with links reaches the SMTP server",
                   "\n".join(s.daemon.lines()[-30:])):
        return
    m = mails[0]
    addressee = m["to"]
    t.note("following the links in the mail to %s: %s" % (addressee, m["subject"]))
    items = check_mail_links(t, s, m)
    if not items:
        return
    pages = check_pages(t, s, items, addressee)
    ack_form = acknowledge(t, s, items, pages, addressee)
    snooze(t, s, m, items, addressee, ack_form)
    third = s.alert_of("cp_neglect_duration", items[2]["child"])
    t.check(third and s.responses(third) == [] and len(s.responses()) == 2,
            "the third item's alert is untouched; two responses in all",
            repr(s.responses()))
    s.stop(t)


def main():
    t = Tap()
    return lib.run_test(t, "mail_links", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
