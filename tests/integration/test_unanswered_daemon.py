#!/usr/bin/python3
"""test_unanswered_daemon: escalation of unanswered stages inside the running daemon
(RESPONSES.md, "Escalation when nobody answers"; issue 13). test_unanswered.py proves the
working-day count over a fortnight of `--once --as-of`; this proves that the long-running
daemon escalates after its own full evaluations, and delivers what it queues.

The daemon (`driftwatchd -c FILE`, evaluation.interval_seconds 10) on tests/fixtures/daemon.sql
records three cp_neglect_duration alerts at stage 9m (C-INIT-1..3: 10 working days, to
service_manager, which for them is head_of_service: their worker's supervisor W-DSUP has no
supervisor) and mails them to the real SMTP server, posting them to a real webhook receiver.
C-INIT-1 is acknowledged through the Acknowledge link in that mail. The daemon evaluates
"today", so time is moved by moving each stage's first day back in the state schema: escalation
counts working days from alerts.stage_since (unanswered_candidates.sql: greatest(stage_since,
escalate_from); escalate_from is NULL for alerts recorded by v4), and an acknowledgement holds
for the stage of that first day (ack_stage_since), which moves with it:
  - 5 calendar days back (at most 5 working days): two full evaluations later, nothing is
    escalated;
  - 30 calendar days back (at least 16 working days whatever the bank holidays): after the
    next full evaluation, one alert.unanswered event for each of C-INIT-2 and C-INIT-3, none for
    the acknowledged C-INIT-1; each email destination of the notices (the alert's own
    recipient and head_of_service) gets exactly one "not answered" email naming C-INIT-2 and
    C-INIT-3 and not C-INIT-1; the webhook receiver gets exactly one alert.unanswered for each,
    signed; /metrics counts 2 escalations of cp_neglect_duration 9m;
  - two more full evaluations: nothing more is sent (exactly once).

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwunansd is dropped and created here.
"""
import os
import re
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import linkmail  # noqa: E402  (tests/lib/linkmail.py: mail links, pages and forms)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

S = "dwunansd"
EVALUATED = r"evaluated everyone as of"


def move_back(db, days):
    """Every firing alert's stage first recorded `days` earlier; an acknowledgement of that
    stage stays that stage's."""
    db.run("UPDATE %s.alerts SET ack_stage_since = CASE WHEN ack_stage_since = stage_since "
           "THEN ack_stage_since - %d ELSE ack_stage_since END, stage_since = stage_since - %d "
           "WHERE status = 'firing'" % (S, days, days))


def wait_evaluations(t, s, n, what):
    """Waits for n full evaluations to start and end after now (the (n+1)th evaluation's line
    is not needed: a full evaluation's escalation runs before the daemon takes the next)."""
    mark = s.daemon.mark()

    def count():
        return len([l for l in s.daemon.since(mark) if re.search(EVALUATED, l)])
    ok = lib.wait_for(lambda: count() >= n + 1, 15 * (n + 1) + 30, step=0.5)
    return t.check(ok, "%s: %d more full evaluations ran" % (what, n),
                   "\n".join(s.daemon.lines()[-20:]))


def unanswered_events(s):
    return s.db.rows("SELECT a.child_id, e.stage, e.as_of::text FROM %s.alert_events e JOIN "
                     "%s.alerts a USING (alert_id) WHERE e.kind = 'unanswered' ORDER BY 1"
                     % (S, S))


def not_answered_mails(s):
    return [m for m in s.smtp.messages() if "not answered" in m["subject"]]


def unanswered_hooks(hooks):
    return [r for r in hooks.requests("/hook") if r["json"] and
            r["json"].get("type") == "alert.unanswered"]


def acknowledge_first(t, s, m):
    item = linkmail.text_links(m["text"], s.base)[0]
    st, page, body = linkmail.get_page(item["acknowledge"])
    form = page.form("Acknowledge")
    st, done, body = linkmail.submit(page, form, {"note": "in supervision"}) if form else \
        (st, None, body)
    t.check(st == 200 and done and "Acknowledged for the 9m stage" in done.text and
            item["child"] == "C-INIT-1",
            "C-INIT-1 acknowledged through the Acknowledge link in the mail to %s" % m["to"],
            "%s %s %s" % (item["child"], st, body[:500]))


def run(t, procs, tmp):
    hooks = lib.Receiver(procs, tmp, "hooks")
    secret = lib.new_secret()
    s = linkmail.Setup(procs, tmp, S, {
        "evaluation": {"interval_seconds": 10},
        "webhooks": [{"url": hooks.url("/hook"), "secret": secret}]})
    if not t.check(lib.wait_for(lambda: s.firing() >= 3, 90, step=0.5),
                   "the running daemon records the fixture's alerts",
                   "\n".join(s.daemon.lines()[-30:])):
        return
    mails = [m for m in s.mails_with_links(1, 90) if linkmail.text_links(m["text"], s.base)]
    if not t.check(mails, "their digest reaches the SMTP server",
                   "\n".join(s.daemon.lines()[-30:])):
        return
    acknowledge_first(t, s, mails[0])
    firing_to = {r["destination"] for r in s.db.rows(
        "SELECT DISTINCT destination FROM %s.outbox WHERE channel = 'email' AND "
        "type = 'alert.firing'" % S)}

    move_back(s.db, 5)
    if not wait_evaluations(t, s, 2, "stages first recorded 5 days earlier"):
        return
    t.check(unanswered_events(s) == [] and not_answered_mails(s) == [] and
            unanswered_hooks(hooks) == [],
            "at most 5 working days: nothing escalated, mailed or posted",
            repr(unanswered_events(s)))

    move_back(s.db, 25)
    lib.wait_for(lambda: len(unanswered_events(s)) >= 2, 60, step=0.5)
    ev = unanswered_events(s)
    t.check([(e["child_id"], e["stage"]) for e in ev] == [("C-INIT-2", "9m"), ("C-INIT-3", "9m")],
            "30 days back: C-INIT-2 and C-INIT-3 escalated at 9m, not the acknowledged C-INIT-1",
            repr(ev), "\n".join(s.daemon.lines()[-20:]))
    queued = s.db.rows("SELECT channel, destination, count(*) AS n FROM %s.outbox WHERE "
                       "type = 'alert.unanswered' GROUP BY 1, 2 ORDER BY 1, 2" % S)
    to = {q["destination"] for q in queued if q["channel"] == "email"}
    t.check("hos@la.example" in to and firing_to and firing_to <= to and
            all(q["n"] == 2 for q in queued),
            "queued: two notices (one per alert) for head_of_service, for the alerts' own "
            "recipients (%s) and for the webhook" % ", ".join(sorted(firing_to)), repr(queued))
    lib.wait_for(lambda: len(not_answered_mails(s)) >= len(to) and
                 len(unanswered_hooks(hooks)) >= 2, 60, step=0.5)
    if not wait_evaluations(t, s, 2, "after the escalation"):
        return
    got = not_answered_mails(s)
    bad = []
    for m in got:
        kids = sorted(c for _, c, _ in m["items"])
        if kids != ["C-INIT-2", "C-INIT-3"] or "Not answered in 10 working days" not in \
                " ".join(m["text"].split()):
            bad.append("%s: %s %r" % (m["to"], m["subject"], kids))
    t.check(got and "hos@la.example" in to and sorted(m["to"] for m in got) == sorted(to) and
            not bad,
            "each of them got exactly one 'not answered' email, naming C-INIT-2 and C-INIT-3 "
            "and not C-INIT-1, saying 'Not answered in 10 working days' (%d emails)" % len(got),
            repr([(m["to"], m["subject"]) for m in got]), "\n".join(bad),
            got[0]["text"][:2000] if got else "")
    posted = unanswered_hooks(hooks)
    kids = sorted(r["json"]["data"].get("child_id") for r in posted)
    t.check(kids == ["C-INIT-2", "C-INIT-3"] and all(
        r["json"]["data"].get("unanswered", {}).get("working_days") == 10 for r in posted),
        "the webhook receiver got exactly one alert.unanswered for each, with its working days",
        repr([r["json"] for r in posted])[:2000])
    t.check(posted and all(r["json"]["data"].get("unanswered", {}).get("also_sent_to") ==
                           [{"role": "service_manager", "email": "hos@la.example"}]
                           for r in posted),
            "each says whom the escalation added (service_manager, at hos@la.example: the "
            "head of service stands in), as the email does", repr([r["json"]["data"].get("unanswered") for r in posted])[:2000])
    ok, _, out = lib.verify_signatures(hooks, secret, "/hook", len(hooks.requests("/hook")))
    t.check(ok, "every request to the receiver verifies as a Standard Webhook", out[-1500:])
    t.check(len(unanswered_events(s)) == 2,
            "two full evaluations later: still one escalation each, nothing sent again",
            repr(unanswered_events(s)))
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % s.http_port, timeout=10) as r:
        text = r.read().decode()
    m = re.search(r'^driftwatch_unanswered_escalations_total\{rule="cp_neglect_duration",'
                  r'stage="9m"\} (\d+)$', text, re.M)
    t.check(m and m.group(1) == "2", "/metrics counts 2 escalations of cp_neglect_duration 9m",
            m and m.group(0))
    s.stop(t)


def main():
    t = Tap()
    return lib.run_test(t, "unanswered_daemon", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
