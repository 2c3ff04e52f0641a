#!/usr/bin/python3
"""test_once_lifecycle: `driftwatchd --once` end to end against real receivers on loopback.

Part 1, the lifecycle (ALERTS.md "Lifecycle", "Email"; issue 3 items 1, 3 and 4), on
tests/fixtures/once_lifecycle.sql: the first run on day D1 delivers every notice (webhooks
verified with npm's standardwebhooks, emails read with Python's email package: one digest per
recipient, nobody gets another's notices, the backlog supervisor gets ONE email); the same day
again sends nothing; D2 sends only the escalation; a further missed appointment sends
alert.updated; an ended plan sends alert.resolved by webhook, and by email only with
email.send_resolved (a second state schema with its own receivers); the history is in
driftwatch.alert_events and driftwatch.delivery_attempts. Then, in state schemas of their own:
a receiver that holds all of its 30 requests does not hold up another's 30 (issue 3 item 5);
and the first run on a backlog (tests/fixtures/once_lifecycle_backlog.sql: 300 alerts of one
supervisor) sends that supervisor ONE email and all 600 webhook notices in the one pass.

Part 2, failures, on tests/fixtures/once_lifecycle_failures.sql: 500 then 200 is retried with the
same webhook-id; 410 disables the endpoint and queues a report to the operators; a redirect is
not followed; a stalled receiver does not hold up the others; a dead SMTP server loses nothing and
its notices go out once it is up; a notice past the retry horizon is failed and reported.

To skip the backoff wait between runs the test sets driftwatch.outbox.next_attempt_at to now()
for pending notices (what the passing of time would do), and says so in a diagnostic.

Environment: DRIFTWATCHD (default build/san/driftwatchd), PGHOST PGPORT PGUSER of a running
server (defaults 127.0.0.1 15432 dwtest), DW_TOP, TEST_TMPDIR. Uses databases dwonce_lc and
dwonce_fail (dropped and created here) and loopback ports 20000-29999. KEEP_TMP=1 keeps the
scratch directory (configurations, receiver logs, received mail), which is otherwise kept only
when a check failed. Prints `ok - NAME` and `not ok - NAME` lines, `# ...` diagnostics.
Standard library only; the helpers it shares with other tests are in tests/lib/dwtest.py.
"""
import csv
import io
import json
import os
import re
import subprocess
import sys
from email.utils import parsedate_to_datetime

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from dwtest import (  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
    DAEMON, TOP, Db, Receiver, Run, SmtpServer, addresses, daemon_env, email_conf, free_port,
    make_ca, new_secret, run_once, run_test, verify_signatures, wait_for, write_config)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

ALERT_KEYS = {"rule", "stage", "status", "child_id", "subject_id", "family_id", "fingerprint",
              "as_of", "since", "facts", "recipients", "link", "summary"}


# ---------------------------------------------------------------------------------------------
# part 1: the lifecycle

D1, D2 = "2026-11-21", "2026-11-22"


def check_webhook_request(t, r, label):
    """One signed POST: ALERTS.md's envelope and alert object."""
    j = r["json"] or {}
    data = j.get("data") or {}
    t.check(r["method"] == "POST" and r["headers"].get("content-type") == "application/json"
            and set(j) == {"type", "timestamp", "data"}
            and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)",
                             j.get("timestamp", "")) is not None
            and set(data) == ALERT_KEYS,
            label + ": a JSON POST {type, timestamp (RFC 3339), data} with every alert field",
            r["body"][:1500])


def mail_checks(t, m, label, others, total=None):
    """Headers and parts of one digest, read with the email package. total: the notices the
    subject counts, when a capped digest shows fewer in full."""
    msg, raw = m["msg"], m["raw"]
    n = total if total is not None else len(m["items"])
    subj = re.fullmatch(r"(\d+) drift alerts?: (.*)", m["subject"])
    parts = [p.get_content_type() for p in msg.iter_parts()] \
        if msg.is_multipart() else [msg.get_content_type()]
    counted = sum(int(x) for x in re.findall(r"(?:^|, )(\d+) ", subj.group(2))) if subj else -1
    try:
        date_ok = parsedate_to_datetime(msg["Date"]) is not None
    except (TypeError, ValueError):
        date_ok = False
    t.check(msg["From"] == "driftwatch@la.example" and msg["To"] == m["to"] and date_ok
            and re.fullmatch(r"<[0-9a-f]{32}@driftwatch\.la\.example>", m["mid"]) is not None
            and not msg.defects,
            label + ": From, To (the envelope's), Date, Message-ID headers; no MIME defects",
            "From %s To %s (envelope %s) Date %s Message-ID %s defects %s" % (
                msg["From"], msg["To"], m["to"], msg["Date"], m["mid"], msg.defects))
    t.check(subj is not None and int(subj.group(1)) == n and counted == n and n > 0,
            label + ": the subject counts the %d notices inside" % n, m["subject"])
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    # a capped digest with its list attached: the alternatives within a multipart/mixed
    alt = next(msg.iter_parts()) if m["files"] and msg.is_multipart() else msg
    alt_parts = [p.get_content_type() for p in alt.iter_parts()] if alt.is_multipart() else []
    t.check(alt.get_content_type() == "multipart/alternative"
            and alt_parts == ["text/plain", "text/html"]
            and (parts == ["multipart/alternative", "text/csv"] if m["files"] else
                 msg is alt)
            and text.get_content_charset() == "utf-8" and html.get_content_charset() == "utf-8",
            label + ": text/plain and text/html alternatives in UTF-8%s" % (
                ", in a multipart/mixed with the list" if m["files"] else ""),
            str(parts), str(alt_parts))
    t.check(all(c in m["html"] for _, c, _ in m["items"]),
            label + ": the HTML part lists the same children")
    t.check(m["meta"].get("tls") and m["meta"].get("authenticated"),
            label + ": taken over STARTTLS after AUTH", json.dumps(m["meta"]))
    leaked = [o for o in others if o != m["to"] and o.encode() in raw]
    t.check(not leaked, label + ": names no other recipient", ", ".join(leaked))


def outbox_email(db, schema, since_id=0):
    """{recipient: sorted [(kind, child_id)]} of email notices queued after notice since_id."""
    want = {}
    for r in db.rows("SELECT o.destination, o.type, o.payload->>'child_id' AS child "
                     "FROM %s.outbox o WHERE o.channel = 'email' AND o.notice_id > %d "
                     "ORDER BY o.notice_id" % (schema, since_id)):
        want.setdefault(r["destination"], []).append((r["type"].split(".")[1], r["child"]))
    return {k: sorted(v) for k, v in want.items()}


def got_email(msgs):
    got = {}
    for m in msgs:
        got.setdefault(m["to"], []).extend((k, c) for k, c, _ in m["items"])
    return {k: sorted(v) for k, v in got.items()}


def max_notice(db, schema="driftwatch"):
    return int(db.value("SELECT coalesce(max(notice_id), 0) FROM %s.outbox" % schema))


def part_lifecycle(t, procs, tmp, ca, pwfile):
    db = Db("dwonce_lc")
    db.recreate()
    db.load(os.path.join(TOP, "rules", "contract.sql"),
            os.path.join(TOP, "tests", "fixtures", "once_lifecycle.sql"))
    smtp = SmtpServer(procs, tmp, "mail-a", ca)
    smtp_b = SmtpServer(procs, tmp, "mail-b", ca)
    hooks = Receiver(procs, tmp, "hooks")
    s_all, s_cp = new_secret(), new_secret()
    secret_file = os.path.join(tmp, "hook-cp.secret")
    with open(secret_file, "w") as f:
        f.write(s_cp + "\n")
    os.chmod(secret_file, 0o600)
    base = {"link_template": "https://lcs.example.gov.uk/person/{child_id}",
            "addresses": addresses()}
    cfg_a = write_config(tmp, "lifecycle-a", dict(
        base, database={"conninfo": db.conninfo("dwonce-lc-a"), "state_schema": "driftwatch"},
        email=email_conf(smtp.port, ca, pwfile, send_resolved=False),
        webhooks=[{"url": hooks.url("/all"), "secret": s_all},
                  {"url": hooks.url("/cp"), "secret_file": secret_file,
                   "rules": ["cp_neglect_duration"]}]))
    # the same authority watched with send_resolved: its own state schema and receivers
    cfg_b = write_config(tmp, "lifecycle-b", dict(
        base, database={"conninfo": db.conninfo("dwonce-lc-b"),
                        "state_schema": "driftwatch_b"},
        email=email_conf(smtp_b.port, ca, pwfile, send_resolved=True),
        webhooks=[{"url": hooks.url("/b"), "secret": s_all}]))
    everyone = ["sup1@la.example", "sup2@la.example", "sw1@la.example", "sw2@la.example",
                "chair1@la.example", "duty@la.example", "cp-manager@la.example",
                "cp-chairs@la.example", "hos@la.example", "it-ops@la.example"]

    # ---- D1: the first run delivers everything, one digest per person ----
    r = run_once(cfg_a, D1)
    t.check(r.rc == 0 and not r.sanitizer(), "lifecycle D1: --once exits 0", r.diag())
    t.check(db.rows("SELECT version FROM driftwatch.schema_version ORDER BY 1")
            == [{"version": 1}, {"version": 2}, {"version": 3},
               {"version": 4}, {"version": 5}, {"version": 6}, {"version": 7},
               {"version": 8}, {"version": 9}, {"version": 10}, {"version": 11},
               {"version": 12}, {"version": 13}, {"version": 14}],
            "lifecycle D1: the state schema is created with its version recorded")
    n_alerts = int(db.value("SELECT count(*) FROM driftwatch.alerts"))
    firing = int(db.value("SELECT count(*) FROM driftwatch.alert_events WHERE kind = 'firing'"))
    t.check(n_alerts == 30 and firing == 30,
            "lifecycle D1: 30 alerts recorded, one firing event each",
            "alerts %d, firing events %d" % (n_alerts, firing))
    pending = db.rows("SELECT notice_id, channel, destination, status, last_error "
                      "FROM driftwatch.outbox WHERE status <> 'delivered'")
    t.check(not pending, "lifecycle D1: every notice in the outbox is delivered",
            json.dumps(pending)[:2000])
    all1, cp1 = hooks.requests("/all"), hooks.requests("/cp")
    t.check(len(all1) == 30 and all(x["json"] and x["json"]["type"] == "alert.firing"
                                    for x in all1),
            "lifecycle D1: /all received 30 alert.firing, one per alert", "got %d" % len(all1))
    t.check(len(cp1) == 29 and all(x["json"] and x["json"]["data"]["rule"] ==
                                   "cp_neglect_duration" for x in cp1),
            "lifecycle D1: /cp (rules filter) received the 29 cp_neglect_duration alerts only",
            "got %d: %s" % (len(cp1), sorted({x["json"]["data"]["rule"] for x in cp1
                                              if x["json"]})))
    if all1:
        check_webhook_request(t, all1[0], "lifecycle D1 webhook")
    fps = {x["json"]["data"]["fingerprint"] for x in all1 if x["json"]}
    t.check(len(fps) == 30, "lifecycle D1: /all got 30 distinct alerts (fingerprints)")
    keys = {(row["destination"], row["idempotency_key"]) for row in db.rows(
        "SELECT destination, idempotency_key FROM driftwatch.outbox WHERE channel = 'webhook'")}
    got_keys = {(hooks.url(x["path"]), x["headers"].get("webhook-id")) for x in all1 + cp1}
    t.check(got_keys == keys and len(all1 + cp1) == len(keys),
            "lifecycle D1: each webhook-id is its notice's idempotency key, each sent once",
            "outbox %d keys, received %d" % (len(keys), len(got_keys)))
    ok_all, vector, out_all = verify_signatures(hooks, s_all, "/all", 30)
    t.check(vector, "standardwebhooks (npm) reproduces the specification's published test "
            "vector", out_all[-1500:])
    t.check(ok_all, "lifecycle D1: npm standardwebhooks verifies all 30 signatures to /all "
            "(inline secret) and rejects a tampered body", out_all[-2000:])
    ok_cp, _, out_cp = verify_signatures(hooks, s_cp, "/cp", 29)
    t.check(ok_cp, "lifecycle D1: npm standardwebhooks verifies all 29 signatures to /cp "
            "(secret_file)", out_cp[-2000:])

    msgs = smtp.messages()
    tos = sorted(m["to"] for m in msgs)
    t.check(tos == sorted(["sup1@la.example", "sup2@la.example", "chair1@la.example",
                           "sw1@la.example", "duty@la.example"]),
            "lifecycle D1: one email to each of the 5 recipients, no more", str(tos))
    want = outbox_email(db, "driftwatch")
    got = got_email(msgs)
    t.check(got == want, "lifecycle D1: each digest lists exactly that recipient's notices "
            "(nobody gets another's)",
            "want %s\ngot %s" % (json.dumps(want)[:1500], json.dumps(got)[:1500]))
    for m in msgs:
        mail_checks(t, m, "lifecycle D1 email to %s" % m["to"], everyone)
    sup2 = [m for m in msgs if m["to"] == "sup2@la.example"]
    t.check(len(sup2) == 1 and len(sup2[0]["items"]) == 25
            and sup2[0]["subject"] == "25 drift alerts: 25 CP plans at 9 months",
            "lifecycle D1 backlog: the supervisor of 25 children gets ONE email listing all 25",
            "%d emails; %s" % (len(sup2), [m["subject"] for m in sup2]))
    chair = [m for m in msgs if m["to"] == "chair1@la.example"]
    # what is expected of the chair at 12 months (rules/cp_neglect_duration.c, per role)
    t.check(len(chair) == 1 and "Expected of you: review the plan's progress at the next "
            "conference, with a clear timescale" in " ".join(chair[0]["text"].split())
            and "https://lcs.example.gov.uk/person/C-CP-15" in chair[0]["text"],
            "lifecycle D1: the chair's digest says what is expected and links the child",
            chair[0]["text"][:1500] if chair else "no email to chair1")
    mids = [m["mid"] for m in msgs]
    t.check(len(set(mids)) == len(mids), "lifecycle D1: Message-IDs are unique")

    r = run_once(cfg_b, D1)
    t.check(r.rc == 0 and not r.sanitizer() and smtp_b.count() == 5
            and len(hooks.requests("/b")) == 30,
            "lifecycle D1 (send_resolved config, own state schema): 5 emails and 30 webhooks",
            r.diag())

    # ---- the same day again: nothing is sent ----
    counts = (len(hooks.requests()), smtp.count(), max_notice(db),
              db.value("SELECT count(*) FROM driftwatch.alert_events"))
    r = run_once(cfg_a, D1)
    after = (len(hooks.requests()), smtp.count(), max_notice(db),
             db.value("SELECT count(*) FROM driftwatch.alert_events"))
    t.check(r.rc == 0 and not r.sanitizer(), "lifecycle D1 again: --once exits 0", r.diag())
    t.check(after == counts, "lifecycle D1 again: nothing sent, no notice or event recorded",
            "(requests, emails, last notice, events) before %s after %s" % (counts, after))

    # ---- D2: C-CP-15 crosses 15 months: only its escalation ----
    mark_h, mark_m, mark_n = len(hooks.requests()), smtp.count(), max_notice(db)
    r = run_once(cfg_a, D2)
    t.check(r.rc == 0 and not r.sanitizer(), "lifecycle D2: --once exits 0", r.diag())
    new = hooks.requests()[mark_h:]
    seen = sorted((x["path"], x["json"]["type"], x["json"]["data"]["child_id"],
                   x["json"]["data"]["stage"]) for x in new if x["json"])
    t.check(seen == [("/all", "alert.escalated", "C-CP-15", "15m"),
                     ("/cp", "alert.escalated", "C-CP-15", "15m")],
            "lifecycle D2: alert.escalated (15m) for C-CP-15 only, to /all and /cp", str(seen))
    msgs = smtp.messages()[mark_m:]
    got = got_email(msgs)
    want = {a: [("escalated", "C-CP-15")] for a in
            ("chair1@la.example", "cp-manager@la.example", "sup1@la.example")}
    t.check(got == want and len(msgs) == 3,
            "lifecycle D2: the chair, the CP manager and the supervisor each get one email "
            "with the escalation", "got %s" % json.dumps(got))
    for m in msgs:
        mail_checks(t, m, "lifecycle D2 email to %s" % m["to"], everyone)
    # each reader is told what is expected of their role (rules/cp_neglect_duration.c)
    expected = {"chair1@la.example": "Expected of you: convene a 15-month review with the CP "
                                     "manager and record the strategy agreed",
                "cp-manager@la.example": "Expected of you: join the chair's 15-month review",
                "sup1@la.example": "Expected of you: prepare the child's history for the "
                                   "chair's 15-month review"}
    t.check(all(m["subject"] == "1 drift alert: 1 CP escalation at 15 months" and
                expected.get(m["to"], "?") in " ".join(m["text"].split()) for m in msgs),
            "lifecycle D2: subject \"1 drift alert: 1 CP escalation at 15 months\" and the "
            "15-month review expected of each reader's role",
            "\n".join("%s: %s" % (m["subject"], m["to"]) for m in msgs))

    # ---- a further missed appointment: alert.updated with the new count ----
    db.run("INSERT INTO casework.appointments VALUES ('APT-WNB-3', 'C-WNB', 'health_visiting', "
           "'2026-11-22 09:30+00', 'was_not_brought')")
    mark_h, mark_m = len(hooks.requests()), smtp.count()
    r = run_once(cfg_a, D2)
    t.check(r.rc == 0 and not r.sanitizer(), "lifecycle update: --once exits 0", r.diag())
    new = hooks.requests()[mark_h:]
    seen = [(x["path"], x["json"]["type"], x["json"]["data"]["child_id"],
             x["json"]["data"]["facts"].get("count")) for x in new if x["json"]]
    t.check(seen == [("/all", "alert.updated", "C-WNB", 3)],
            "lifecycle update: alert.updated for C-WNB with count 3, to /all only (the /cp "
            "filter holds)", str(seen))
    msgs = smtp.messages()[mark_m:]
    got = got_email(msgs)
    t.check(got == {"sup1@la.example": [("updated", "C-WNB")],
                    "sw1@la.example": [("updated", "C-WNB")]} and len(msgs) == 2,
            "lifecycle update: the supervisor and the allocated worker each get one email",
            json.dumps(got))
    t.check(all("a further missed appointment, 3 in the window now" in " ".join(
        m["text"].split()) for m in msgs),
            "lifecycle update: the email says a further missed appointment, 3 in the window",
            "\n".join(m["text"][:600] for m in msgs))

    # ---- a plan ends: alert.resolved by webhook; by email only with send_resolved ----
    db.run("UPDATE casework.cp_plans SET end_date = '2026-11-22' WHERE plan_id = 'CPP-END'")
    mark_h, mark_m = len(hooks.requests()), smtp.count()
    r = run_once(cfg_a, D2)
    t.check(r.rc == 0 and not r.sanitizer(), "lifecycle resolve: --once exits 0", r.diag())
    new = hooks.requests()[mark_h:]
    seen = sorted((x["path"], x["json"]["type"], x["json"]["data"]["child_id"],
                   x["json"]["data"]["status"]) for x in new if x["json"])
    t.check(seen == [("/all", "alert.resolved", "C-CP-END", "resolved"),
                     ("/cp", "alert.resolved", "C-CP-END", "resolved")],
            "lifecycle resolve: alert.resolved for C-CP-END to /all and /cp", str(seen))
    t.check(smtp.count() == mark_m and db.value(
        "SELECT count(*) FROM driftwatch.outbox WHERE channel = 'email' "
        "AND type = 'alert.resolved'") == "0",
            "lifecycle resolve: no resolved email when email.send_resolved is false",
            "%d new emails" % (smtp.count() - mark_m))
    ok_all, _, out_all = verify_signatures(hooks, s_all, "/all", 33)
    t.check(ok_all, "lifecycle: npm standardwebhooks verifies all 33 requests to /all",
            out_all[-1500:])

    mark_h, mark_m = len(hooks.requests()), smtp_b.count()
    r = run_once(cfg_b, D2)
    t.check(r.rc == 0 and not r.sanitizer(), "lifecycle send_resolved D2: --once exits 0",
            r.diag())
    new = hooks.requests()[mark_h:]
    seen = sorted((x["json"]["type"], x["json"]["data"]["child_id"]) for x in new if x["json"])
    t.check(seen == [("alert.escalated", "C-CP-15"), ("alert.resolved", "C-CP-END"),
                     ("alert.updated", "C-WNB")],
            "lifecycle send_resolved D2: escalated, updated and resolved by webhook", str(seen))
    msgs = smtp_b.messages()[mark_m:]
    got = got_email(msgs)
    want = {"sup1@la.example": sorted([("escalated", "C-CP-15"), ("updated", "C-WNB"),
                                       ("resolved", "C-CP-END")]),
            "chair1@la.example": [("escalated", "C-CP-15")],
            "cp-manager@la.example": [("escalated", "C-CP-15")],
            "sw1@la.example": [("updated", "C-WNB")]}
    t.check(got == want and len(msgs) == 4,
            "lifecycle send_resolved D2: the supervisor's one digest carries the resolution "
            "(with the escalation and the update)", json.dumps(got))
    for m in msgs:
        if m["to"] == "sup1@la.example":
            mail_checks(t, m, "lifecycle send_resolved digest to sup1", everyone)
            t.check("resolved" in m["subject"] and
                    "nothing further: the rule no longer holds" in " ".join(m["text"].split()),
                    "lifecycle send_resolved: the subject and text say what was resolved",
                    m["subject"])

    # ---- the history is queryable ----
    hist = db.rows("SELECT e.kind, e.as_of::text AS as_of, e.stage, "
                   "  (SELECT count(*) FROM driftwatch.outbox o WHERE o.event_id = e.event_id) "
                   "    AS notices, "
                   "  (SELECT count(*) FROM driftwatch.delivery_attempts d "
                   "     JOIN driftwatch.outbox o USING (notice_id) "
                   "    WHERE o.event_id = e.event_id AND d.outcome = 'delivered') AS delivered, "
                   "  (SELECT count(*) FROM driftwatch.delivery_attempts d "
                   "     JOIN driftwatch.outbox o USING (notice_id) "
                   "    WHERE o.event_id = e.event_id) AS attempts "
                   "FROM driftwatch.alert_events e JOIN driftwatch.alerts a USING (alert_id) "
                   "WHERE a.child_id = 'C-CP-15' ORDER BY e.event_id")
    want = [{"kind": "firing", "as_of": D1, "stage": "12m", "notices": 4, "delivered": 4,
             "attempts": 4},
            {"kind": "escalated", "as_of": D2, "stage": "15m", "notices": 5, "delivered": 5,
             "attempts": 5}]
    t.check(hist == want, "lifecycle history: C-CP-15 has firing (D1, 12m, 4 notices) then "
            "escalated (D2, 15m, 5 notices), each notice one delivered attempt",
            json.dumps(hist, indent=1))
    hist = db.rows("SELECT a.child_id, a.status, string_agg(e.kind, ',' ORDER BY e.event_id) "
                   "AS kinds FROM driftwatch.alerts a JOIN driftwatch.alert_events e "
                   "USING (alert_id) WHERE a.child_id IN ('C-CP-END', 'C-WNB', 'C-CP-9') "
                   "GROUP BY a.child_id, a.status ORDER BY a.child_id")
    t.check(hist == [{"child_id": "C-CP-9", "status": "firing", "kinds": "firing"},
                     {"child_id": "C-CP-END", "status": "resolved", "kinds": "firing,resolved"},
                     {"child_id": "C-WNB", "status": "firing", "kinds": "firing,updated"}],
            "lifecycle history: C-CP-9 fired once, C-CP-END fired then resolved, C-WNB fired "
            "then updated", json.dumps(hist))
    n_eval = db.value("SELECT count(*) FROM driftwatch.evaluations")
    t.check(n_eval == "5", "lifecycle history: driftwatch.evaluations has the 5 runs", n_eval)
    return db


def part_backlog(t, procs, tmp, ca, pwfile, db):
    """The first run on a long backlog (tests/fixtures/once_lifecycle_backlog.sql, in a case
    schema and a state schema of its own): 300 alerts for one supervisor make ONE email, and
    all 600 webhook notices go out in the one pass, more than one claim's batch."""
    db.load(os.path.join(TOP, "rules", "contract.sql"),
            os.path.join(TOP, "tests", "fixtures", "once_lifecycle_backlog.sql"),
            schema="casework_big")
    smtp = SmtpServer(procs, tmp, "mail-big", ca)
    hooks = Receiver(procs, tmp, "big-hooks")
    secret = new_secret()
    cfg = write_config(tmp, "backlog", {
        "database": {"conninfo": db.conninfo("dwonce-big"), "case_schema": "casework_big",
                     "state_schema": "driftwatch_big"},
        "link_template": "https://lcs.example.gov.uk/person/{child_id}",
        "addresses": addresses(),
        "email": email_conf(smtp.port, ca, pwfile),
        "webhooks": [{"url": hooks.url("/big1"), "secret": secret},
                     {"url": hooks.url("/big2"), "secret": secret}]})
    r = run_once(cfg, D1, timeout=300)
    t.check(r.rc == 0 and not r.sanitizer(), "backlog: --once exits 0", r.diag())
    msgs = smtp.messages()
    t.check(len(msgs) == 1 and msgs[0]["to"] == "bigsup@la.example"
            and len(msgs[0]["items"]) == 25
            and msgs[0]["subject"] == "300 drift alerts: 300 CP plans at 9 months",
            "backlog: the supervisor of 300 children gets ONE email, a summary with 25 in full "
            "(email.digest_max_items)",
            "; ".join("%s: %s (%d items)" % (m["to"], m["subject"], len(m["items"]))
                      for m in msgs))
    for m in msgs:
        mail_checks(t, m, "backlog email", ["big%d@la.example" % i for i in range(1, 11)],
                    total=300)
    if msgs:
        text = " ".join(msgs[0]["text"].split())
        files = msgs[0]["files"]
        rows = (list(csv.DictReader(io.StringIO(files[0][2].decode("utf-8-sig"))))
                if len(files) == 1 and files[0][1] == "text/csv" else [])
        full = [c for _, c, _ in msgs[0]["items"]]
        t.check("This digest is a summary: it holds 300 new items, more than the 25" in text
                and "300 CP plans at 9 months" in text.split("All by rule and stage")[-1]
                and "the other 275 are in the attached list" in text
                and len(rows) == 300 and len({r["Child"] for r in rows}) == 300
                and {r["Child"] for r in rows if r["In full in the mail"] == "yes"} == set(full)
                and len(full) == 25,
                "backlog: the summary says so, counts all 300, and attaches the list of all 300 "
                "(25 of them in full in the mail; no pages configured)",
                msgs[0]["text"][:1500], [(f[0], f[1], len(f[2])) for f in files])
    left = db.rows("SELECT channel, status, count(*) AS n FROM driftwatch_big.outbox "
                   "WHERE status <> 'delivered' GROUP BY 1, 2")
    big1, big2 = hooks.requests("/big1"), hooks.requests("/big2")
    t.check(not left and len(big1) == 300 and len(big2) == 300,
            "backlog: all 600 webhook notices delivered in the one pass (more than a batch)",
            "left %s; /big1 %d, /big2 %d" % (left, len(big1), len(big2)))
    ok, _, out = verify_signatures(hooks, secret, "/big2", 300)
    t.check(ok, "backlog: npm standardwebhooks verifies the 300 requests to /big2", out[-1500:])
    r = run_once(cfg, D1, timeout=300)
    t.check(r.rc == 0 and smtp.count() == 1 and len(hooks.requests()) == 600,
            "backlog: the same day again sends nothing", r.diag())
    part_backlog_small_limit(t, procs, tmp, ca, pwfile, db)


def part_backlog_small_limit(t, procs, tmp, ca, pwfile, db):
    """The same backlog to a mail server whose limit is 100,000 bytes (email.max_message_bytes):
    every message fits, and what does not fit in one digest's list goes in the next: every one
    of the 300 is told of, each in one message. A digest whose list was cut used to tell of
    58 of them and mark all 300 delivered. One person's messages go one after another: each is
    held 0.5 s by the server, and the next is composed only once it is answered (ten of 10 MB
    each were composed and held at once on a first day's largest digest)."""
    hold_s = 0.5
    smtp = SmtpServer(procs, tmp, "mail-small", ca, extra=["--data-delay", str(hold_s)])
    limit = 100000
    cfg = write_config(tmp, "backlog-small", {
        "database": {"conninfo": db.conninfo("dwonce-small"), "case_schema": "casework_big",
                     "state_schema": "driftwatch_small"},
        "link_template": "https://lcs.example.gov.uk/person/{child_id}",
        "addresses": addresses(),
        "email": email_conf(smtp.port, ca, pwfile, max_message_bytes=limit)})
    r = run_once(cfg, D1, timeout=300)
    msgs = smtp.messages()
    told = []
    for m in msgs:
        files = m["files"]
        rows = (list(csv.DictReader(io.StringIO(files[0][2].decode("utf-8-sig"))))
                if len(files) == 1 and files[0][1] == "text/csv" else [])
        # a capped digest's list has every item it tells of; one not capped shows them all
        told += [row["Child"] for row in rows] if rows else [x[1] for x in m["items"]]
    sizes = [len(m["raw"]) for m in msgs]
    t.check(r.rc == 0 and not r.sanitizer() and len(msgs) > 1 and max(sizes) <= limit,
            "backlog, a 100,000-byte limit: %d messages, each within the limit (%s bytes)"
            % (len(msgs), ", ".join(str(x) for x in sizes)), r.diag())
    t.check(len(told) == 300 and len(set(told)) == 300,
            "... together their lists tell of each of the 300 alerts once (%d rows, %d children)"
            % (len(told), len(set(told))))
    t.check(not any("did not fit" in m["text"] for m in msgs) and
            len({m["mid"] for m in msgs}) == len(msgs),
            "... none leaving any out, each with a Message-ID of its own")
    by_person = {}
    for m in msgs:
        by_person.setdefault(m["to"], []).append(m["meta"]["received_at"])
    gaps = [b - a for times in by_person.values() for a, b in zip(sorted(times), sorted(times)[1:])]
    t.check(gaps and min(gaps) >= hold_s,
            "... one person's messages one after another: %d of %d people had more than one, "
            "the shortest gap %.2f s (each held %.1f s)"
            % (sum(len(x) > 1 for x in by_person.values()), len(by_person),
               min(gaps, default=-1), hold_s))
    left = db.value("SELECT count(*) FROM driftwatch_small.outbox WHERE channel = 'email' AND "
                    "status <> 'delivered'")
    t.check(left == "0", "... and every email notice is delivered (%s left)" % left)
    t.check(re.search(r"notices did not fit in its digest \(email\.max_message_bytes\): they "
                      r"go in the next one", r.err) is not None,
            "... the log says some went in the next digest", r.err[-1500:])


def part_dead_receiver(t, procs, tmp, db):
    """A receiver that holds every request must not hold up another with as many notices: the
    30 alerts of the lifecycle fixture (on D1, in a state schema of their own) to both."""
    stall_s = 10
    hooks = Receiver(procs, tmp, "dead-hooks", routes=["/stalled=stall:%d" % stall_s])
    secret = new_secret()
    cfg = write_config(tmp, "dead", {
        "database": {"conninfo": db.conninfo("dwonce-dead"), "state_schema": "driftwatch_dead"},
        "addresses": addresses(),
        "webhooks": [{"url": hooks.url("/stalled"), "secret": secret},
                     {"url": hooks.url("/live"), "secret": secret}]})
    r = run_once(cfg, D1, timeout=300)
    t.check(r.rc == 0 and not r.sanitizer(), "dead receiver: --once exits 0", r.diag())
    stalled, live = hooks.requests("/stalled"), hooks.requests("/live")
    first_answer = min((x["t"] for x in stalled), default=0) + stall_s
    last_live = max((x["t"] for x in live), default=float("inf"))
    t.check(len(live) == 30 and len(stalled) == 30 and last_live < first_answer,
            "dead receiver: /live got all 30 notices before /stalled answered any of its 30",
            "/live %d requests, the last %.1f s after /stalled's first answer; /stalled %d"
            % (len(live), last_live - first_answer, len(stalled)))
    left = db.value("SELECT count(*) FROM driftwatch_dead.outbox WHERE channel = 'webhook' "
                    "AND status <> 'delivered'")
    t.check(left == "0", "dead receiver: every notice delivered in the pass", left)


# ---------------------------------------------------------------------------------------------
# part 2: failures

def outbox_rows(db, where):
    return db.rows("SELECT notice_id, idempotency_key, channel, destination, type, status, "
                   "attempts, last_error FROM driftwatch.outbox WHERE %s ORDER BY notice_id"
                   % where)


def skip_backoff(t, db):
    n = db.value("WITH u AS (UPDATE driftwatch.outbox SET next_attempt_at = now() "
                 "WHERE status = 'pending' RETURNING 1) SELECT count(*) FROM u")
    t.note("skipping the backoff wait: next_attempt_at = now() for %s pending notices" % n)


def ops_subject_counts(m, n, items=None):
    """The operators' report lists `items` reports (n unless given: notices that failed to one
    receiver for one reason are one report) and its subject says n undelivered notices."""
    said = re.search(r"(\d+) undelivered notices?", m["subject"])
    return said is not None and int(said.group(1)) == n and \
        [k for k, _, _ in m["items"]] == ["failed"] * (n if items is None else items)


def part_failures(t, procs, tmp, ca, pwfile):
    db = Db("dwonce_fail")
    db.recreate()
    db.load(os.path.join(TOP, "rules", "contract.sql"),
            os.path.join(TOP, "tests", "fixtures", "once_lifecycle_failures.sql"))
    stall_s = 15
    port = free_port()
    # the redirect's target is on the same receiver: it must never see a request
    hooks = Receiver(procs, tmp, "fail-hooks", port=port, routes=[
        "/flaky=500,200", "/gone=410", "/slow=stall:%d,200" % stall_s, "/ok=200",
        "/moved=302:http://127.0.0.1:%d/moved-target" % port])
    down_port = free_port({hooks.port})
    secret = new_secret()
    cfg = write_config(tmp, "failures", {
        "database": {"conninfo": db.conninfo("dwonce-fail")},
        "link_template": "https://lcs.example.gov.uk/person/{child_id}",
        "addresses": addresses(),
        "email": email_conf(down_port, ca, pwfile),
        "webhooks": [{"url": u, "secret": secret} for u in (
            hooks.url("/flaky"), hooks.url("/gone"), hooks.url("/moved"),
            hooks.url("/slow"), hooks.url("/ok"))]})
    gone_url, moved_url = hooks.url("/gone"), hooks.url("/moved")

    # ---- run 1: each receiver answers its own way; the SMTP server is down ----
    p = subprocess.Popen([DAEMON, "-c", cfg, "--once", "--as-of", D1], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=daemon_env())
    others = wait_for(lambda: all(hooks.requests(x) for x in ("/flaky", "/gone", "/ok"))
                      and hooks.requests("/moved") and hooks.requests("/slow"), 30)
    # the /slow request is held for stall_s seconds, so the pass cannot have ended yet
    still_running = p.poll() is None
    t.check(others and still_running,
            "failures: while /slow stalls (pass still running), /ok, /flaky, /gone and /moved "
            "already got theirs", "others %s, daemon running %s" % (bool(others), still_running))
    try:
        out, err = p.communicate(timeout=stall_s + 60)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    r = Run(p.returncode, out, err)
    t.check(r.rc == 1 and not r.sanitizer() and "failed for good" in r.err,
            "failures run 1: --once exits 1, since the 410's notice failed for good", r.diag())
    hook_rows = {x["destination"]: x for x in outbox_rows(db, "channel = 'webhook'")}
    ok_row = hook_rows.get(hooks.url("/ok"), {})
    slow_row = hook_rows.get(hooks.url("/slow"), {})
    t.check(ok_row.get("status") == "delivered" and slow_row.get("status") == "delivered",
            "failures run 1: /ok delivered, and /slow delivered once it answered",
            json.dumps([ok_row, slow_row]))
    flaky = hook_rows.get(hooks.url("/flaky"), {})
    t.check(flaky.get("status") == "pending" and flaky.get("attempts") == 1
            and "500" in (flaky.get("last_error") or ""),
            "failures run 1: HTTP 500 leaves the notice pending for a retry",
            json.dumps(flaky))
    gone = hook_rows.get(gone_url, {})
    disabled = db.rows("SELECT url, reason FROM driftwatch.disabled_endpoints")
    t.check(gone.get("status") == "failed" and [d["url"] for d in disabled] == [gone_url],
            "failures run 1: HTTP 410 fails the notice and puts the endpoint in "
            "driftwatch.disabled_endpoints", json.dumps([gone, disabled]))
    report = outbox_rows(db, "type = 'delivery.failed'")
    t.check(len(report) == 1 and report[0]["channel"] == "email"
            and report[0]["destination"] == "it-ops@la.example",
            "failures run 1: a report to the operators (it-ops@la.example) is queued for the "
            "410", json.dumps(report))
    moved = hook_rows.get(moved_url, {})
    t.check(moved.get("status") == "pending" and "redirect" in (moved.get("last_error") or "")
            and not hooks.requests("/moved-target") and len(hooks.requests("/moved")) == 1,
            "failures run 1: a 302 is a failure, not followed (the target got nothing), kept "
            "for a retry", json.dumps(moved))
    mail = outbox_rows(db, "channel = 'email' AND type <> 'delivery.failed'")
    t.check(len(mail) == 1 and mail[0]["status"] == "pending" and mail[0]["destination"] ==
            "fsup@la.example",
            "failures run 1: SMTP refused: the email notice stays pending", json.dumps(mail))
    att = db.rows("SELECT o.destination, d.outcome FROM driftwatch.delivery_attempts d "
                  "JOIN driftwatch.outbox o USING (notice_id) ORDER BY d.attempt_id")
    outcomes = sorted((a["destination"].rsplit("/", 1)[-1], a["outcome"]) for a in att)
    t.check(outcomes == sorted([("flaky", "retry"), ("gone", "gone"), ("moved", "retry"),
                                ("slow", "delivered"), ("ok", "delivered"),
                                ("fsup@la.example", "retry")]),
            "failures run 1: driftwatch.delivery_attempts records each attempt's outcome",
            str(outcomes))

    # ---- run 2: a new alert (C-F-2); /flaky now answers 200; SMTP still down ----
    db.run("INSERT INTO casework.children VALUES ('C-F-2', 'F-F-2', '2016-01-01', NULL, false);"
           "INSERT INTO casework.allocations VALUES ('A-F-2', 'C-F-2', 'W-FSW', '2024-01-01', "
           "NULL); INSERT INTO casework.cp_plans VALUES ('CPP-F-2', 'C-F-2', '2026-01-15', "
           "NULL, 'NEG', NULL, NULL)")
    skip_backoff(t, db)
    n_gone = len(hooks.requests("/gone"))
    r = run_once(cfg, D1)
    t.check(r.rc == 0 and not r.sanitizer(), "failures run 2: --once exits 0", r.diag())
    fl = hooks.requests("/flaky")
    ids = [x["headers"].get("webhook-id") for x in fl
           if x["json"] and x["json"]["data"]["child_id"] == "C-F-1"]
    row = outbox_rows(db, "notice_id = %d" % flaky.get("notice_id", 0))
    t.check(len(ids) == 2 and ids[0] == ids[1] == flaky.get("idempotency_key")
            and row and row[0]["status"] == "delivered",
            "failures run 2: the notice that got 500 is retried with the same webhook-id and "
            "delivered", "webhook-ids %s, outbox %s" % (ids, json.dumps(row)))
    # audit 19, F3: the envelope's timestamp is when the change was recorded (Standard
    # Webhooks: when the event occurred), the same in the retry; webhook-timestamp is the
    # attempt's
    c1 = [x for x in fl if x["json"] and x["json"]["data"]["child_id"] == "C-F-1"]
    stamps = [x["json"].get("timestamp") for x in c1]
    made = db.value("SELECT to_char(created_at AT TIME ZONE 'UTC', "
                    "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM driftwatch.outbox "
                    "WHERE notice_id = %d" % flaky.get("notice_id", 0))
    t.check(len(c1) == 2 and stamps[0] == stamps[1] == made
            and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", made or "")
            and c1[0]["body"] == c1[1]["body"]
            and len({x["headers"].get("webhook-timestamp") for x in c1}) == 2,
            "failures run 2: the retry's envelope has the first attempt's timestamp, when the "
            "change was recorded (microseconds, Z), and the same body; only webhook-timestamp "
            "is the attempt's", "timestamps %s, recorded %s, webhook-timestamps %s"
            % (stamps, made, [x["headers"].get("webhook-timestamp") for x in c1]))
    new_gone = outbox_rows(db, "destination = '%s' AND status = 'pending'" % gone_url)
    t.check(len(hooks.requests("/gone")) == n_gone and len(new_gone) == 1,
            "failures run 2: the disabled endpoint gets nothing; its new notice waits",
            "requests %d -> %d; %s" % (n_gone, len(hooks.requests("/gone")),
                                       json.dumps(new_gone)))
    mail = outbox_rows(db, "channel = 'email'")
    t.check(mail and all(m["status"] == "pending" for m in mail),
            "failures run 2: SMTP still refused: every email notice (digests and the report) "
            "still pending, none lost", json.dumps(mail))

    # ---- run 3: the SMTP server is up: everything waiting goes out ----
    smtp = SmtpServer(procs, tmp, "fail-mail", ca, port=down_port)
    skip_backoff(t, db)
    r = run_once(cfg, D1)
    t.check(r.rc == 0 and not r.sanitizer(), "failures run 3: --once exits 0", r.diag())
    mail = outbox_rows(db, "channel = 'email'")
    msgs = smtp.messages()
    t.check(mail and all(m["status"] == "delivered" for m in mail),
            "failures run 3: SMTP up: every waiting email notice is delivered", json.dumps(mail))
    got = got_email([m for m in msgs if m["to"] == "fsup@la.example"])
    t.check(got == {"fsup@la.example": [("firing", "C-F-1"), ("firing", "C-F-2")]},
            "failures run 3: the supervisor got both alerts", json.dumps(got))
    ops = [m for m in msgs if m["to"] == "it-ops@la.example"]
    t.check(len(ops) == 1 and gone_url in " ".join(ops[0]["text"].split())
            and "410" in ops[0]["text"] and ops_subject_counts(ops[0], 1),
            "failures run 3: the operators' report email names the endpoint and the 410, and "
            "its subject counts 1 undelivered notice",
            ops[0]["subject"] + "\n" + ops[0]["text"][:1500] if ops else "no email to it-ops")

    # ---- run 4: a notice past the retry horizon is failed and reported ----
    n = db.value("WITH u AS (UPDATE driftwatch.outbox SET first_due_at = now() - interval "
                 "'4 days', next_attempt_at = now() WHERE destination = '%s' AND status = "
                 "'pending' RETURNING 1) SELECT count(*) FROM u" % moved_url)
    t.note("the %s notices to /moved first due 4 days ago (past the 3-day retry horizon)" % n)
    # the disabled endpoint's notice of run 2 too: it is never sent, but past the horizon it
    # is failed and reported like any other (it used to wait for ever, nobody told)
    db.run("UPDATE driftwatch.outbox SET first_due_at = now() - interval '4 days' "
           "WHERE destination = '%s' AND status = 'pending'" % gone_url)
    n_gone = len(hooks.requests("/gone"))
    r = run_once(cfg, D1)
    t.check(r.rc == 1 and not r.sanitizer() and "failed for good" in r.err,
            "failures run 4: --once exits 1, since notices past the horizon failed for good",
            r.diag())
    late = outbox_rows(db, "notice_id = %d" % (new_gone[0]["notice_id"] if new_gone else 0))
    gone_reports = db.rows("SELECT payload -> 'notice_ids' AS ids FROM driftwatch.outbox "
                           "WHERE type = 'delivery.failed' AND payload->>'destination' = '%s'"
                           % gone_url)
    t.check(len(hooks.requests("/gone")) == n_gone and late and late[0]["status"] == "failed"
            and "disabled" in (late[0].get("last_error") or "")
            and any(late[0]["notice_id"] in (x["ids"] or []) for x in gone_reports),
            "failures run 4: the disabled endpoint's notice, past the horizon, is failed unsent "
            "and reported", json.dumps(late + gone_reports))
    t.check(any(re.search(r"^<[0-7]>webhook \S+/gone: not sent: the endpoint has been "
                          r"disabled", x) for x in r.err.splitlines()),
            "failures run 4: the log says the disabled endpoint's notice was given up unsent",
            r.err[-2000:])
    rows = outbox_rows(db, "destination = '%s'" % moved_url)
    reports = db.rows("SELECT (payload ->> 'count')::int AS n, payload -> 'notice_ids' AS ids "
                      "FROM driftwatch.outbox WHERE type = 'delivery.failed' AND "
                      "payload->>'destination' = '%s'" % moved_url)
    reported = sorted(i for x in reports for i in x["ids"])
    t.check(rows and all(x["status"] == "failed" for x in rows) and
            reported == [x["notice_id"] for x in rows],
            "failures run 4: past the horizon the notices are failed, and reported to the "
            "operators (%d notices in %d reports: one for those that failed together for one "
            "reason)" % (len(reported), len(reports)), json.dumps(rows + reports))
    skip_backoff(t, db)
    mark = smtp.count()
    r = run_once(cfg, D1)
    msgs = smtp.messages()[mark:]
    t.check(r.rc == 0 and len(msgs) == 1 and msgs[0]["to"] == "it-ops@la.example"
            and moved_url in " ".join(msgs[0]["text"].split())
            and gone_url in " ".join(msgs[0]["text"].split())
            and ops_subject_counts(msgs[0], len(rows) + 1, len(reports) + 1),
            "failures run 5: the operators get one email about the %d failed notices and the "
            "disabled endpoint's" % len(rows),
            r.diag() + "\n" + "\n".join(m["subject"] for m in msgs))
    t.check(not hooks.requests("/moved-target"),
            "failures: the redirect target never received a request")
    db.drop()


def main():
    t = Tap()

    def body(procs, tmp):
        ca = make_ca(tmp)
        pwfile = SmtpServer.password_file(tmp)
        db = part_lifecycle(t, procs, tmp, ca, pwfile)
        part_dead_receiver(t, procs, tmp, db)
        part_backlog(t, procs, tmp, ca, pwfile, db)
        db.drop()
        part_failures(t, procs, tmp, ca, pwfile)
    return run_test(t, "once-lifecycle", body)


if __name__ == "__main__":
    sys.exit(main())
