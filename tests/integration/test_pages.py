#!/usr/bin/python3
"""test_pages: the pages for people, "/" (my alerts) and "/team/{team_id}", with the real daemon
behind a pretend sign-on proxy (RESPONSES.md, "Pages for people" and "Who is who"; issue 14).

On tests/lib/pagesetup.py's fixture: who sees what (a supervisor their team's and not another
team's, a CP chair their plans', the head of service everything, a stranger 403, nobody signed
in 401 with no alert data), the answer order (not answered first; the 15-month escalation before
drift; the older stage first; siblings together under their family), plain words for each rule,
ids percent-encoded in links and escaped in text, a team's page by worker with counts and its
filter, the methods and headers; answering through a page's form records through "page" as the
signed-in person, while a GET, a replayed form, a forged, foreign, misused or out-of-date token
and an alert not one's own change nothing.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR.
"""
import html
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402
import pagesetup as ps  # noqa: E402
from pagesetup import as_person, request, FORM  # noqa: E402
from tap import Tap  # noqa: E402

ODD_PATH = urllib.parse.quote(ps.CHILD_ODD, safe="")
TEAM_B_PATH = "/team/" + urllib.parse.quote(ps.TEAM_B, safe="")


def get(s, path, who, **kw):
    return request(s.port, path, headers=as_person(who) if who else {}, **kw)


def post(s, who, fields, path="/answer", headers=None):
    h = dict(FORM, **(headers or {}))
    if who:
        h["X-Forwarded-Email"] = who
    return request(s.port, path, "POST", urllib.parse.urlencode(fields).encode(), h)


def followed(location):
    """The path a browser goes to for a Location given in answer to POST /answer."""
    return urllib.parse.urlsplit(urllib.parse.urljoin("http://x/answer", location or "")) \
        ._replace(scheme="", netloc="").geturl()


def check_sign_in(t, s):
    st, h, body = get(s, "/", None)
    t.check(st == 401 and "single sign-on" in body and "C-A1" not in body and
            "<form" not in body,
            "no sign-in: 401, a page saying how to sign in, no alert data", st, body[:800])
    st, h, body = get(s, "/", "supa@la.example", source="127.0.0.2")
    t.check(st == 401 and "C-A1" not in body,
            "the sign-on header from a peer not in web.trusted_proxies: 401", st, body[:500])
    st, h, body = get(s, "/team/T-A", None)
    t.check(st == 401 and "C-A1" not in body, "a team's page without sign-in: 401", st)
    st, h, body = get(s, "/", "stranger@la.example")
    t.check(st == 403 and "C-A" not in body,
            "someone the case data and the configuration do not know: 403, nothing shown", st,
            body[:500])


def check_who_sees(t, s):
    cases = [("supa@la.example", sorted(ps.FIRST_ORDER), "team A's supervisor"),
             ("SupA@LA.example", sorted(ps.FIRST_ORDER), "the same person, another case"),
             ("supb@la.example", ["C-B1", "C-B2"], "team B's supervisor"),
             ("chair@la.example", ["C-B2"], "the chair of C-B2's plan"),
             ("hos@la.example", ps.ALL, "the head of service (sees everything)")]
    for who, want, why in cases:
        st, h, body = get(s, "/", who)
        got = sorted(ps.Forms(body).children())
        t.check(st == 200 and got == want, "/ as %s: %s sees %s" % (who, why, want), st, got)


def check_order(t, s):
    st, h, body = get(s, "/", "supa@la.example")
    f = ps.Forms(body)
    t.check(f.h2[:2] == ["To answer first (4)", "Answered: acknowledged or snoozed (0)"] and
            f.children(1) == ps.FIRST_ORDER,
            "/: not answered first, the oldest stage first (CHILD_ODD's, 30 days), then, "
            "stages of one day, the 15-month escalation before drift, then the family F-A "
            "together", f.h2, f.children(1))
    t.check("Family F-A: 2 alerts" in body, "siblings C-A1 and C-A2 under their family's "
            "heading", body[:200])
    t.check("CP escalation at 15 months" in body and "CP plan at 9 months" in body and
            "A child on an open CP plan for neglect" in body and
            "convene a 15-month review" in body.lower(),
            "each alert says in words what it is, what the rule means and what is expected")
    t.check("at this stage since" in body.lower() and "(30 days)" in body and
            "Not answered" in body, "age in days since the stage began, and the response")
    odd = html.escape(ps.CHILD_ODD, quote=True)
    t.check('href="child/%s"' % ODD_PATH in body and odd in body and
            ps.CHILD_ODD not in body,
            "an id with <&>/ is percent-encoded in its link and escaped in the text",
            ODD_PATH, odd)
    t.check(h.get("cache-control") == "no-store" and
            "script-src" not in h.get("content-security-policy", "x") and
            "default-src 'none'" in h.get("content-security-policy", "") and
            h.get("content-type", "").startswith("text/html") and "<script" not in body,
            "headers: no-store, a policy that allows no script, HTML; no script in the page",
            h)


def check_team(t, s):
    st, h, body = get(s, "/team/T-A", "supa@la.example")
    f = ps.Forms(body)
    t.check(st == 200 and sorted(f.children()) == sorted(ps.FIRST_ORDER) and
            "Worker A" in body and "(W-SWA)" in body,
            "/team/T-A as its supervisor: its four alerts under the worker Worker A", st,
            f.children(), f.h2)
    t.check("<caption>By response</caption>" in body and
            "<th scope=\"row\">Not answered</th><td>4</td>" in body and
            "<th scope=\"row\">CP plan at 9 months</th><td>3</td>" in body and
            "<th scope=\"row\">CP escalation at 15 months</th><td>1</td>" in body,
            "counts by response and by rule and stage", body[body.find("<caption"):][:900])
    st, h, body = get(s, TEAM_B_PATH, "supa@la.example")
    t.check(st == 403 and "C-B" not in body,
            "team A's supervisor on team B's page: 403, nothing of it", st, body[:400])
    st, h, body = get(s, TEAM_B_PATH, "supb@la.example")
    t.check(st == 200 and sorted(ps.Forms(body).children()) == ["C-B1", "C-B2"] and
            "Team T B/2" in body,
            "team B's supervisor on %s (a percent-encoded id): C-B1, C-B2" % TEAM_B_PATH, st,
            body[:300])
    st, h, body = get(s, "/team/T-A", "hos@la.example")
    t.check(st == 200 and sorted(ps.Forms(body).children()) == sorted(ps.FIRST_ORDER),
            "the head of service on team A's page: all four", st)
    st, h, body = get(s, "/team/T-A?rule=cp_neglect_duration&response=open",
                      "supa@la.example")
    t.check(st == 200 and len(ps.Forms(body).children()) == 4 and
            '<option value="cp_neglect_duration" selected>' in body,
            "the filter by rule and response, shown chosen in the form", st)
    st, h, body = get(s, "/team/T-A?rule=worker_churn", "supa@la.example")
    t.check(st == 200 and ps.Forms(body).children() == [] and "No open alert" in body,
            "a filter nothing matches lists nothing (the counts stay)", st)
    st, h, body = get(s, "/team/T-A?rule=nonsense", "supa@la.example")
    t.check(st == 400, "an unknown rule in the filter: 400", st)
    st, h, body = get(s, "/team/T-NONE", "supa@la.example")
    t.check(st == 403, "a team with nothing to see: 403", st)


def check_methods(t, s):
    st, h, body = request(s.port, "/", "HEAD", headers=as_person("supa@la.example"))
    t.check(st == 200 and body == "" and int(h.get("content-length", "0")) > 1000,
            "HEAD /: 200 with the length and no body", st, h.get("content-length"))
    st, h, body = request(s.port, "/", "PUT", b"", as_person("supa@la.example"))
    t.check(st == 405 and h.get("allow") == "GET, HEAD", "PUT /: 405, Allow: GET, HEAD", st, h)
    st, h, body = get(s, "/answer", "supa@la.example")
    t.check(st == 405 and h.get("allow") == "POST", "GET /answer: 405, Allow: POST", st, h)
    st, h, body = get(s, "/nowhere", "supa@la.example")
    t.check(st == 404, "an unknown page: 404", st)
    st, h, body = get(s, "/team/", "supa@la.example")
    t.check(st == 404, "/team/ with no id: 404", st)
    st, h, body = get(s, "/team/T%00A", "supa@la.example")
    t.check(st == 404, "an id holding a NUL: 404", st)


def answer_fields(form, **extra):
    return dict(form["fields"], **extra)


def check_answers(t, s, fps):
    base = s.events()
    for path in ("/", "/team/T-A", TEAM_B_PATH, "/?x=1"):
        get(s, path, "supa@la.example")
        get(s, path, "hos@la.example")
    t.check(s.events() == base == [], "GETs of the pages record nothing", base)
    st, h, body = get(s, "/", "supa@la.example")
    f = ps.Forms(body)
    ack = f.find(fps["C-A1"], "acknowledge")
    snooze = f.find(fps["C-A3"], "snooze")
    t.check(ack and ack["method"] == "post" and ack["action"] == "answer" and
            ack["fields"].get("form") and snooze and "until" in snooze["fields"],
            "the page's forms: POST to answer, with an anti-forgery token", ack)
    if not ack or not snooze:
        return
    made = s.form_token("supa@la.example", fps["C-A1"], 1, s.today())
    t.check(ack["fields"]["form"] == made,
            "the page's token is the HMAC the test makes the same way (so the forged old one "
            "below differs only in its day)", ack["fields"]["form"], made)
    fields = answer_fields(ack, note="Discussed in supervision")
    st, h, body = post(s, None, fields)
    t.check(st == 401 and s.events() == [], "the form without sign-in: 401, nothing recorded",
            st)
    st, h, body = post(s, "supb@la.example", fields)
    t.check(st == 403 and s.events() == [],
            "supa@'s form sent by supb@: 403 (the token is bound to the person)", st)
    forged = dict(fields, form=fields["form"][:-1] + ("0" if fields["form"][-1] != "0" else
                                                       "1"))
    st, h, body = post(s, "supa@la.example", forged)
    t.check(st == 403 and s.events() == [] and "C-A1" not in body,
            "a forged token (one digit changed): 403, nothing recorded, nothing shown", st)
    st, h, body = post(s, "supa@la.example", dict(fields, alert=fps["C-A2"]))
    t.check(st == 403 and s.events() == [], "C-A1's form used for C-A2: 403", st)
    st, h, body = post(s, "supa@la.example", dict(fields, action="unsnooze"))
    t.check(st == 403 and s.events() == [], "the acknowledge form used to unsnooze: 403", st)
    old = s.form_token("supa@la.example", fps["C-A1"], 1, s.today() - 2)
    st, h, body = post(s, "supa@la.example", dict(fields, form=old, note="Seen at the visit"))
    t.check(st == 403 and s.events() == [],
            "a genuine token from two days ago (a replayed old page): 403", st)
    t.check("This form is out of date" in body and "Not yours to see" not in body and
            "Seen at the visit" in body,
            "... titled as out of date, not \"Not yours to see\", and giving back the note "
            "typed in it", body[:1500])
    theirs = s.form_token("supa@la.example", fps["C-B1"], 1, s.today())
    st, h, body = post(s, "supa@la.example", dict(fields, alert=fps["C-B1"], form=theirs))
    t.check(st == 403 and s.events() == [] and "C-B1" not in body,
            "a well-made token for team B's alert: still 403 for team A's supervisor", st)
    st, h, body = post(s, "supa@la.example", fields, headers={"Content-Type": "text/plain"})
    t.check(st == 415 and s.events() == [], "another content type: 415", st)
    st, h, body = post(s, "supa@la.example", fields)
    ev = s.events()
    t.check(st == 303 and h.get("location") == "./?answered=%s&did=acknowledge" % fps["C-A1"] and
            ev == [{"child_id": "C-A1", "kind": "acknowledged", "actor": "supa@la.example",
                    "via": "page", "note": "Discussed in supervision", "reason": None}],
            "the acknowledge form: recorded as supa@ through page, with the note, and a 303 "
            "back to my alerts (Back and reload never show the list from before the answer "
            "or send the form again)", st, h.get("location"), ev, body[:600])
    st, h, body = get(s, followed(h.get("location")), "supa@la.example")
    t.check(st == 200 and 'role="status"' in body and
            "Recorded.</strong> Child C-A1: Acknowledged for the 9m stage" in body and
            ps.Forms(body).children(2) == ["C-A1"],
            "the list it goes back to says what was recorded and what happens next, and shows "
            "C-A1 answered", st, body[:1500])
    st, h, body = get(s, "/?answered=%s&did=acknowledge" % fps["C-A2"], "supa@la.example")
    t.check(st == 200 and "Recorded." not in body,
            "an address claiming an answer that was not given says nothing was recorded", st)
    st, h, body = post(s, "supa@la.example", fields)
    t.check(st == 200 and "Already recorded" in body and s.events() == ev,
            "the same form sent again: nothing more recorded", st, s.events())
    until = s.db.value("SELECT to_char((now() AT TIME ZONE 'Europe/London')::date + 20, "
                       "'YYYY-MM-DD')")
    sf = answer_fields(snooze, until=until, reason="legal_planning", note="PLO meeting")
    st, h, body = post(s, "supa@la.example", dict(sf, reason="other", note="", until="2020-01-01"))
    t.check(st == 400 and len(s.events()) == 1 and
            "Write a note saying why: the reason &quot;Other&quot; needs one. The snooze must "
            "end after today." in body,
            "a snooze with reason other, no note and a day gone: 400, nothing recorded, both "
            "faults said in words", st, body[-900:])
    st, h, body = post(s, "supa@la.example", sf)
    ev = s.events()
    st, _, body = get(s, followed(h.get("location")), "supa@la.example") if st == 303 else \
        (st, h, body)
    t.check(st == 200 and "Legal planning (pre-proceedings or PLO)" in body and len(ev) == 2 and
            ev[1] == {"child_id": "C-A3", "kind": "snoozed", "actor": "supa@la.example",
                      "via": "page", "note": "PLO meeting", "reason": "legal_planning"},
            "the snooze form: recorded through page with its reason and note", st, ev)
    st, h, body = get(s, "/", "supa@la.example")
    f = ps.Forms(body)
    t.check(f.children(1) == [ps.CHILD_ODD, "C-A2"] and
            sorted(f.children(2)) == ["C-A1", "C-A3"] and
            "Snoozed until" in body and f.find(fps["C-A3"], "unsnooze"),
            "afterwards / shows C-A1 and C-A3 as answered (with an unsnooze form), the rest "
            "first", f.children(1), f.children(2))
    st, h, body = get(s, "/team/T-A", "supa@la.example")
    t.check("<th scope=\"row\">Acknowledged</th><td>1</td>" in body and
            "<th scope=\"row\">Snoozed</th><td>1</td>" in body,
            "the team's counts follow")
    st, h, body = get(s, "/team/T-A?response=snoozed", "supa@la.example")
    t.check(ps.Forms(body).children() == ["C-A3"], "the response filter finds the snoozed one",
            ps.Forms(body).children())
    tf = ps.Forms(body).find(fps["C-A3"], "unsnooze")
    if t.check(tf and tf["action"] == "../answer" and tf["fields"].get("team") == "T-A",
               "a team page's form comes back to the team", tf):
        st, h, body = post(s, "supa@la.example", answer_fields(tf))
        loc = h.get("location")
        t.check(st == 303 and loc == "team/T-A?answered=%s&did=unsnooze" % fps["C-A3"] and
                'href="team/T-A?' in body and s.events()[-1]["kind"] == "unsnoozed",
                "unsnoozed from the team's page, and sent back to it", st, loc, body[:500])
        st, h, body = get(s, followed(loc), "supa@la.example")
        t.check(st == 200 and "Recorded.</strong> Child C-A3: Unsnoozed" in body,
                "the team's page says what was recorded", st, body[:1500])


def run(t, procs, tmp):
    s = ps.Setup(procs, tmp, "dwpages")
    if not t.check(s.ready(), "the daemon records the fixture's six alerts",
                   open(s.log_path).read()[-2000:]):
        return
    fps = s.fingerprints()
    check_sign_in(t, s)
    check_who_sees(t, s)
    check_order(t, s)
    check_team(t, s)
    check_methods(t, s)
    check_answers(t, s, fps)
    rc, text = s.stop()
    t.check(rc == 0 and "Sanitizer" not in text and "runtime error" not in text,
            "the daemon stops cleanly with no sanitizer report", text[-2000:])


def main():
    t = Tap()
    return lib.run_test(t, "pages", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
