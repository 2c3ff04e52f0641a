#!/usr/bin/python3
"""Escalation when nobody answers (RESPONSES.md), over a simulated fortnight of
`driftwatchd --once --as-of D`, with responses recorded through the responses module
(build/san/responses_driver), and the checks that module makes on a response.

Fixture tests/fixtures/once_lifecycle.sql (cp_neglect_duration and was_not_brought alerts) from
Saturday 2026-11-21 to Tuesday 2026-12-08, one evaluation a day. Working days are counted from
the day after the stage was first recorded (England and Wales; no bank holiday falls in it):
  - a stage first recorded on Sat 21 Nov reaches 10 working days on Fri 4 Dec;
  - C-CP-15 reaches 15m on Sun 22 Nov: 5 working days (to head_of_service) on Fri 27 Nov, though
    its 12m stage was acknowledged on 21 Nov (a new stage needs a new answer);
  - C-CP-9 is acknowledged on 21 Nov: never escalated;
  - C-CP-END is snoozed until Mon 7 Dec: escalated on Tue 8 Dec, when the snooze has lapsed;
  - C-NOALLOC (no allocation): escalated on 4 Dec, service_manager going to head_of_service;
  - service_manager resolved through the case data (RULES.md): C-CP-END and C-WNB (worker W-SW1,
    supervised by W-SUP1, whose supervisor is W-SM1) go to sm1@la.example; the backlog C-BL-*
    (supervisor W-SUP2 has no supervisor) to head_of_service, the event saying why;
  - case data unreadable at escalation time (a copy of the case schema whose workers view
    refuses the escalation's reading): the escalation still goes, to head_of_service;
  - the state in a database of its own (state.conninfo, as with a read-only standby for the case
    data): service_manager is still read from the case data, on its own connection.
Email goes to a port nobody listens on: the notices stay in the outbox, where they are counted;
then a real SMTP server comes up and one more run delivers them: the head of service's digest
says which stage was not answered.
Prints TAP lines (tests/run.sh).
"""

import datetime
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from tap import Tap  # noqa: E402
from dwtest import (  # noqa: E402
    RESPONSES_DRIVER, TOP, Db, SmtpServer, addresses, email_conf, free_port, make_ca, respond,
    run_once, run_test, write_config)

DRIVER = RESPONSES_DRIVER
S = "ua_state"




def fp_of(db, child):
    return db.value("SELECT fingerprint FROM %s.alerts WHERE rule = 'cp_neglect_duration' "
                    "AND child_id = '%s'" % (S, child))


def unanswered(db, child):
    return db.rows("SELECT e.as_of::text AS day, e.stage, e.detail FROM %s.alert_events e "
                   "JOIN %s.alerts a USING (alert_id) WHERE e.kind = 'unanswered' AND "
                   "a.rule = 'cp_neglect_duration' AND a.child_id = '%s' ORDER BY e.event_id"
                   % (S, S, child))


def days(first, last):
    d = datetime.date.fromisoformat(first)
    while d <= datetime.date.fromisoformat(last):
        yield d.isoformat()
        d += datetime.timedelta(days=1)


def check_validation(t, db, cfg):
    today = "2026-11-23"
    fp = fp_of(db, "C-CP-END")
    cases = [
        ("snooze", dict(reason="because", until="2026-12-01"), "reason"),
        ("snooze", dict(until="2026-12-01"), "reason"),
        ("snooze", dict(reason="other", until="2026-12-01"), "note"),
        # a note of blanks and line breaks says nothing: "other" still needs one
        ("snooze", dict(reason="other", note="  \r\n\t ", until="2026-12-01"), "note"),
        ("snooze", dict(reason="legal_planning", until=today), "until"),
        ("snooze", dict(reason="legal_planning", until="2026-11-20"), "until"),
        ("snooze", dict(reason="legal_planning", until="2027-02-22"), "until"),  # 91 days
        ("snooze", dict(reason="legal_planning", until="2026-12-32"), "until"),
        ("acknowledge", dict(note="x" * 1001), "note"),
        ("acknowledge", dict(reason="legal_planning"), "reason"),
    ]
    for kind, kw, field in cases:
        rc, out, err = respond(cfg, today, kind, fp, **kw)
        t.check(rc == 3 and out.startswith("invalid %s:" % field),
                "validation: %s %s is refused naming %s" % (kind, sorted(kw), field),
                "exit %s: %s %s" % (rc, out, err))
    rc, out, err = respond(cfg, today, "acknowledge", fp, actor="nobody")
    t.check(rc == 3 and out.startswith("invalid actor:"), "validation: an actor that is "
            "neither an address nor api:NAME is refused", out + err)
    rc, out, err = respond(cfg, today, "acknowledge", fp, via="fax")
    t.check(rc == 3 and out.startswith("invalid via:"), "validation: via fax is refused",
            out + err)
    rc, out, err = respond(cfg, today, "acknowledge", "0" * 64)
    t.check(rc == 4, "an unknown fingerprint is not found", out + err)
    n = db.value("SELECT count(*) FROM %s.alert_events e JOIN %s.alerts a USING (alert_id) "
                 "WHERE a.fingerprint = '%s' AND e.actor IS NOT NULL" % (S, S, fp))
    t.check(n == "0", "validation: nothing refused was recorded", n)
    # the longest note kept, in characters not bytes (each 'é' is two bytes)
    rc, out, err = respond(cfg, today, "snooze", fp, reason="other", note="é" * 1000,
                           until="2027-02-21")
    t.check(rc == 0, "a 1,000-character note and a snooze exactly 90 days ahead are kept",
            out + err)
    rc, out, err = respond(cfg, today, "unsnooze", fp, actor="api:case-system", via="api")
    t.check(rc == 0, "unsnooze through the API as api:case-system", out + err)


def body(t, procs, tmp):
    db = Db("dw_unanswered")
    db.recreate()
    db.load(os.path.join(TOP, "rules", "contract.sql"),
            os.path.join(TOP, "tests", "fixtures", "once_lifecycle.sql"))
    cfg = write_config(tmp, "unanswered", {
        "database": {"conninfo": db.conninfo("dw-unanswered"), "state_schema": S},
        "addresses": addresses(),
        "email": {"smtp_url": "smtp://127.0.0.1:%d" % free_port(), "tls": "none",
                  "from": "driftwatch@la.example"}})
    t.check(os.access(DRIVER, os.X_OK), "the responses driver is built (%s)" % DRIVER)

    for day in days("2026-11-21", "2026-12-08"):
        r = run_once(cfg, day)
        t.check(r.rc in (0, 1) and not r.sanitizer() and "escalating" not in r.err,
                "--once --as-of %s runs (escalation included)" % day, r.diag())
        if day == "2026-11-21":
            rc, out, err = respond(cfg, day, "acknowledge", fp_of(db, "C-CP-9"),
                                   note="discussed in supervision")
            t.check(rc == 0 and out == "recorded 9m", "C-CP-9 acknowledged at 9m", out + err)
            rc, out, err = respond(cfg, day, "acknowledge", fp_of(db, "C-CP-15"))
            t.check(rc == 0 and out == "recorded 12m", "C-CP-15 acknowledged at 12m",
                    out + err)
        if day == "2026-11-22":
            check_validation(t, db, cfg)
            rc, out, err = respond(cfg, "2026-11-23", "snooze", fp_of(db, "C-CP-END"),
                                   reason="strategy_agreed", until="2026-12-07",
                                   note="neglect strategy meeting held")
            t.check(rc == 0, "C-CP-END snoozed until 7 Dec", out + err)

    got = unanswered(db, "C-CP-15")
    t.check([(g["day"], g["stage"]) for g in got] == [("2026-11-27", "15m")],
            "C-CP-15: one alert.unanswered, for 15m on its 5th working day (27 Nov); the 12m "
            "acknowledgement does not answer 15m", got)
    hos = db.value("SELECT count(*) FROM %s.outbox o JOIN %s.alerts a USING (alert_id) "
                   "WHERE o.type = 'alert.unanswered' AND a.child_id = 'C-CP-15' AND "
                   "o.destination = 'hos@la.example' AND o.role = 'head_of_service'" % (S, S))
    t.check(hos == "1", "C-CP-15: the notice goes to head_of_service once", hos)
    others = db.value("SELECT count(*) FROM %s.outbox o JOIN %s.alerts a USING (alert_id) "
                      "WHERE o.type = 'alert.unanswered' AND a.child_id = 'C-CP-15' AND "
                      "o.destination <> 'hos@la.example'" % (S, S))
    t.check(int(others) >= 1, "C-CP-15: and to the alert's own recipients", others)
    late = db.value("SELECT count(*) FROM %s.alerts a JOIN %s.alert_events e USING (alert_id) "
                    "WHERE e.kind = 'unanswered' AND a.last_notified_on < e.as_of" % (S, S))
    t.check(late == "0", "an escalation counts as the alert's latest notice, so a reminder "
            "(repeat_after_days) counts from it (%s alerts notified before their escalation)"
            % late)
    got = unanswered(db, "C-CP-9")
    t.check(got == [], "C-CP-9, acknowledged at its stage: never escalated", got)
    got = unanswered(db, "C-CP-END")
    t.check([g["day"] for g in got] == ["2026-12-08"],
            "C-CP-END: not escalated while snoozed; once on 8 Dec, the snooze lapsed", got)
    got = unanswered(db, "C-NOALLOC")
    t.check([(g["day"], g["stage"]) for g in got] == [("2026-12-04", "9m")],
            "C-NOALLOC: once, on its 10th working day (4 Dec)", got)
    t.check(bool(got) and got[0]["detail"]["unresolved"][0]["role"] == "service_manager"
            and got[0]["detail"]["also_sent_to"][0]["destination"] == "hos@la.example",
            "C-NOALLOC: service_manager goes to head_of_service, and the event says why", got)
    def smgr(child, rule="cp_neglect_duration"):
        return db.rows("SELECT e.detail FROM %s.alert_events e JOIN %s.alerts a USING (alert_id) "
                       "WHERE e.kind = 'unanswered' AND a.rule = '%s' AND a.child_id = '%s'"
                       % (S, S, rule, child))

    def sent_to(detail, role):
        return [x["destination"] for x in detail["also_sent_to"] if x["role"] == role]

    for child, rule in (("C-CP-END", "cp_neglect_duration"), ("C-WNB", "was_not_brought")):
        got = smgr(child, rule)
        t.check(len(got) == 1 and sent_to(got[0]["detail"], "service_manager") ==
                ["sm1@la.example"] and got[0]["detail"]["unresolved"] == [],
                "%s: service_manager is the supervisor's supervisor (W-SM1, sm1@la.example)"
                % child, got)
    n = db.value("SELECT count(*) FROM %s.outbox o JOIN %s.alerts a USING (alert_id) WHERE "
                 "o.type = 'alert.unanswered' AND a.child_id = 'C-CP-END' AND "
                 "o.destination = 'sm1@la.example' AND o.role = 'service_manager'" % (S, S))
    t.check(n == "1", "C-CP-END: one notice to the service manager in the outbox", n)
    got = smgr("C-BL-07")
    why = got[0]["detail"]["unresolved"] if got else []
    t.check(len(got) == 1 and sent_to(got[0]["detail"], "service_manager") ==
            ["hos@la.example"] and len(why) == 1 and why[0]["role"] == "service_manager" and
            "W-SUP2 has no supervisor" in why[0]["why"],
            "C-BL-07: supervisor W-SUP2 has no supervisor: head_of_service, and the event "
            "says so", got)
    got = smgr("C-NOALLOC")
    t.check(bool(got) and "no open allocation" in got[0]["detail"]["unresolved"][0]["why"],
            "C-NOALLOC: the reason names the missing allocation", got)
    dup = db.value("SELECT count(*) FROM (SELECT alert_id, stage FROM %s.alert_events WHERE "
                   "kind = 'unanswered' GROUP BY 1, 2 HAVING count(*) > 1) d" % S)
    t.check(dup == "0", "no stage is escalated twice", dup)
    early = db.value("SELECT count(*) FROM %s.alert_events e JOIN %s.alerts a USING (alert_id) "
                     "WHERE e.kind = 'unanswered' AND a.rule = 'cp_neglect_duration' AND "
                     "e.stage = '9m' AND e.as_of < '2026-12-04'" % (S, S))
    t.check(early == "0", "no 9m stage escalated before its 10th working day", early)
    kinds = db.rows("SELECT kind, actor, via, reason, stage FROM %s.alert_events WHERE actor "
                    "IS NOT NULL ORDER BY event_id" % S)
    t.check([k["kind"] for k in kinds] == ["acknowledged", "acknowledged", "snoozed",
                                           "unsnoozed", "snoozed"]
            and kinds[3]["actor"] == "api:case-system" and kinds[3]["via"] == "api",
            "every response is kept as an event with its actor and channel", kinds)

    # the escalations by email, once a mail server answers
    ca = make_ca(tmp)
    smtp = SmtpServer(procs, tmp, "mail", ca)
    cfg = write_config(tmp, "unanswered-mail", {
        "database": {"conninfo": db.conninfo("dw-unanswered"), "state_schema": S},
        "addresses": addresses(),
        "email": email_conf(smtp.port, ca, SmtpServer.password_file(tmp))})
    db.run("UPDATE %s.outbox SET next_attempt_at = now() WHERE status = 'pending'" % S)
    r = run_once(cfg, "2026-12-08")
    left = db.value("SELECT count(*) FROM %s.outbox WHERE type = 'alert.unanswered' AND "
                    "channel = 'email' AND status <> 'delivered'" % S)
    t.check(r.rc in (0, 1) and left == "0",
            "every alert.unanswered email is delivered once a mail server answers", left,
            r.diag())
    hos = [m for m in smtp.messages() if m["to"] == "hos@la.example"
           and "not answered" in m["subject"]]
    text = " ".join(" ".join(m["text"].split()) for m in hos)
    t.check(hos and "Not answered (Not answered in 5 working days" in text
            and "CP escalation at 15 months" in text,
            "the head of service's digest says the 15-month stage was not answered in 5 "
            "working days", "; ".join(m["subject"] for m in smtp.messages()), text[:1500])

    # a resolved alert cannot be answered (409)
    db.run("UPDATE casework.cp_plans SET end_date = '2026-12-09' WHERE child_id = 'C-CP-END'")
    r = run_once(cfg, "2026-12-09")
    st = db.value("SELECT status FROM %s.alerts WHERE rule = 'cp_neglect_duration' AND "
                  "child_id = 'C-CP-END'" % S)
    rc, out, err = respond(cfg, "2026-12-09", "acknowledge", fp_of(db, "C-CP-END"))
    t.check(st == "resolved" and rc == 5 and out.startswith("resolved:"),
            "a response to a resolved alert is refused as resolved", st, out + err)
    check_unreadable(t, db, tmp)
    check_state_apart(t, db, tmp)
    check_recipient_roles(t, db, tmp)
    check_no_head_of_service(t, db, tmp)
    check_rule_off(t, db, tmp)


def check_unreadable(t, db, tmp):
    """A case schema whose workers view refuses any session holding an advisory lock: the
    evaluation reads it (no lock), the escalation (under the recording lock) cannot."""
    db.load(os.path.join(TOP, "rules", "contract.sql"),
            os.path.join(TOP, "tests", "fixtures", "once_lifecycle.sql"), schema="casebad")
    db.run("ALTER TABLE casebad.workers RENAME TO workers_t;"
           "CREATE FUNCTION casebad.guard() RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN "
           "IF EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND "
           "pid = pg_backend_pid()) THEN RAISE EXCEPTION 'workers refused to escalation (test)';"
           " END IF; RETURN true; END $$;"
           "CREATE VIEW casebad.workers AS SELECT * FROM casebad.workers_t WHERE casebad.guard()")
    s2 = "ua_bad"
    cfg = write_config(tmp, "unanswered-bad", {
        "database": {"conninfo": db.conninfo("dw-unanswered"), "state_schema": s2,
                     "case_schema": "casebad"},
        "addresses": addresses(),
        "email": {"smtp_url": "smtp://127.0.0.1:%d" % free_port(), "tls": "none",
                  "from": "driftwatch@la.example"}})
    for day in ("2026-11-21", "2026-12-04"):
        r = run_once(cfg, day)
        t.check(r.rc in (0, 1) and not r.sanitizer() and "escalating unanswered alerts "
                "in schema" not in r.err,
                "unreadable case data: --once --as-of %s runs, escalation included" % day,
                r.diag())
    got = db.rows("SELECT e.detail FROM %s.alert_events e JOIN %s.alerts a USING (alert_id) "
                  "WHERE e.kind = 'unanswered' AND a.child_id = 'C-WNB'" % (s2, s2))
    d = got[0]["detail"] if got else {}
    t.check(len(got) == 1 and [x["destination"] for x in d["also_sent_to"]
                               if x["role"] == "service_manager"] == ["hos@la.example"]
            and "could not be read" in d["unresolved"][0]["why"]
            and "workers refused to escalation" in d["unresolved"][0]["why"],
            "unreadable case data: C-WNB is still escalated, service_manager to "
            "head_of_service with the database's reason", got)
    t.check("service_manager" in r.err and "could not be read" in r.err,
            "unreadable case data: the daemon says so in its log", r.err[-1500:])


def check_state_apart(t, db, tmp):
    """state.conninfo: the escalation's transaction is in another database, so the service
    managers are read on the case data's connection, not under the state's savepoint."""
    st = Db("dw_unanswered_state")
    st.recreate()
    s3 = "ua_apart"
    cfg = write_config(tmp, "unanswered-apart", {
        "database": {"conninfo": db.conninfo("dw-unanswered"), "state_schema": s3},
        "state": {"conninfo": st.conninfo("dw-unanswered-state")},
        "addresses": addresses(),
        "email": {"smtp_url": "smtp://127.0.0.1:%d" % free_port(), "tls": "none",
                  "from": "driftwatch@la.example"}})
    for day in ("2026-11-21", "2026-12-04"):
        r = run_once(cfg, day)
        t.check(r.rc in (0, 1) and not r.sanitizer() and "escalating" not in r.err,
                "state apart: --once --as-of %s runs, escalation included" % day, r.diag())
    got = st.rows("SELECT e.detail FROM %s.alert_events e JOIN %s.alerts a USING (alert_id) "
                  "WHERE e.kind = 'unanswered' AND a.child_id = 'C-WNB'" % (s3, s3))
    d = got[0]["detail"] if got else {}
    t.check(len(got) == 1 and [x["destination"] for x in d.get("also_sent_to", [])
                               if x["role"] == "service_manager"] == ["sm1@la.example"]
            and not d.get("unresolved"),
            "state apart: C-WNB's service_manager is still the supervisor's supervisor "
            "(sm1@la.example), read from the case database", got)
    st.drop()


def check_recipient_roles(t, db, tmp):
    """An escalation "to" a recipient role: the alert's own recipient (C-WNB's supervisor) is
    told as one of its recipients, not twice; one its rule does not notify (C-WNB is on no CP
    plan: no cp_chair) reaches nobody, and the event says so instead of dropping it."""
    s4 = "ua_roles"
    cfg = write_config(tmp, "unanswered-roles", {
        "database": {"conninfo": db.conninfo("dw-unanswered"), "state_schema": s4},
        "addresses": addresses(),
        "responses": {"escalate": [
            {"rules": ["was_not_brought"], "stages": "*", "after_working_days": 10,
             "to": ["supervisor", "cp_chair", "head_of_service"]},
            {"rules": "*", "stages": "*", "after_working_days": 10,
             "to": ["service_manager"]}]},
        "email": {"smtp_url": "smtp://127.0.0.1:%d" % free_port(), "tls": "none",
                  "from": "driftwatch@la.example"}})
    for day in ("2026-11-21", "2026-12-04"):
        r = run_once(cfg, day)
        t.check(r.rc in (0, 1) and not r.sanitizer() and "escalating" not in r.err,
                "recipient roles: --once --as-of %s runs, escalation included" % day, r.diag())
    got = db.rows("SELECT e.detail FROM %s.alert_events e JOIN %s.alerts a USING (alert_id) "
                  "WHERE e.kind = 'unanswered' AND a.child_id = 'C-WNB'" % (s4, s4))
    d = got[0]["detail"] if got else {}
    unresolved = d.get("unresolved", [])
    also = [x["role"] for x in d.get("also_sent_to", [])]
    t.check(len(got) == 1 and [u["role"] for u in unresolved] == ["cp_chair"] and
            "does not notify" in unresolved[0]["why"],
            "escalation to cp_chair for an alert with no chair: said in the event, not dropped",
            got)
    t.check(also == ["head_of_service"],
            "escalation to supervisor: C-WNB's supervisor is told as its recipient, not added "
            "again; head_of_service is added", got)
    sup = db.value("SELECT count(*) FROM %s.outbox o JOIN %s.alerts a USING (alert_id) WHERE "
                   "o.type = 'alert.unanswered' AND a.child_id = 'C-WNB' AND "
                   "o.role = 'supervisor'" % (s4, s4))
    t.check(sup == "1", "C-WNB's supervisor gets the alert.unanswered notice once", sup)


def check_no_head_of_service(t, db, tmp):
    """Audit 14: with addresses.head_of_service unset, an escalation to it reached nobody new,
    said only inside the stored event. RULES.md: "Nobody is ever silently dropped": it goes to
    the fallback address in its place, and the event says why."""
    s5 = "ua_nohos"
    addrs = dict(addresses())
    del addrs["head_of_service"]
    cfg = write_config(tmp, "unanswered-nohos", {
        "database": {"conninfo": db.conninfo("dw-unanswered"), "state_schema": s5},
        "addresses": addrs,
        "responses": {"escalate": [
            {"rules": "*", "stages": "*", "after_working_days": 10,
             "to": ["head_of_service"]}]},
        "email": {"smtp_url": "smtp://127.0.0.1:%d" % free_port(), "tls": "none",
                  "from": "driftwatch@la.example"}})
    for day in ("2026-11-21", "2026-12-04"):
        r = run_once(cfg, day)
        t.check(r.rc in (0, 1) and not r.sanitizer() and "escalating" not in r.err,
                "no head of service: --once --as-of %s runs, escalation included" % day,
                r.diag())
    got = db.rows("SELECT e.detail FROM %s.alert_events e JOIN %s.alerts a USING (alert_id) "
                  "WHERE e.kind = 'unanswered' AND a.child_id = 'C-WNB'" % (s5, s5))
    d = got[0]["detail"] if got else {}
    also = [(x["destination"], x["role"]) for x in d.get("also_sent_to", [])]
    why = [u.get("why", "") for u in d.get("unresolved", [])]
    t.check(len(got) == 1 and also == [("duty@la.example", "head_of_service")]
            and len(why) == 1 and "sent to addresses.fallback instead" in why[0],
            "no head of service: the escalation goes to the fallback address in its place, "
            "and the event says why", got)
    sent = db.value("SELECT count(*) FROM %s.outbox o JOIN %s.alerts a USING (alert_id) WHERE "
                    "o.type = 'alert.unanswered' AND a.child_id = 'C-WNB' AND "
                    "o.destination = 'duty@la.example'" % (s5, s5))
    t.check(sent == "1", "... and a notice to it is queued", sent)


def check_rule_off(t, db, tmp):
    """A rule turned off keeps its alerts as they were (firing, never resolved for want of a
    run), but nobody is chased for an answer to them while it is off; the other rules' alerts
    are escalated as usual, and the rule's own again once it is back on."""
    s5 = "ua_off"
    conf = {"database": {"conninfo": db.conninfo("dw-unanswered"), "state_schema": s5},
            "addresses": addresses(),
            "email": {"smtp_url": "smtp://127.0.0.1:%d" % free_port(), "tls": "none",
                      "from": "driftwatch@la.example"}}
    cfg_on = write_config(tmp, "unanswered-on", conf)
    conf["rules"] = {"was_not_brought": {"enabled": False}}
    cfg_off = write_config(tmp, "unanswered-off", conf)

    def escalated(rule, child):
        return db.value("SELECT count(*) FROM %s.alert_events e JOIN %s.alerts a "
                        "USING (alert_id) WHERE e.kind = 'unanswered' AND a.rule = '%s' AND "
                        "a.child_id = '%s'" % (s5, s5, rule, child))

    for cfg, day in ((cfg_on, "2026-11-21"), (cfg_off, "2026-12-04"), (cfg_off, "2026-12-07")):
        r = run_once(cfg, day)
        t.check(r.rc in (0, 1) and not r.sanitizer() and "escalating" not in r.err,
                "rule off: --once --as-of %s (%s) runs" % (day, os.path.basename(cfg)),
                r.diag())
    status = db.value("SELECT status FROM %s.alerts WHERE rule = 'was_not_brought' AND "
                      "child_id = 'C-WNB'" % s5)
    t.check(status == "firing", "rule off: C-WNB's was_not_brought alert is kept firing, "
            "not resolved because its rule did not run", status)
    n = escalated("was_not_brought", "C-WNB")
    t.check(n == "0", "rule off: it is not escalated for want of an answer while the rule is "
            "off (10 working days reached on 4 Dec)", n)
    n = escalated("cp_neglect_duration", "C-NOALLOC")
    t.check(n == "1", "rule off: the other rules' unanswered alerts are escalated as usual "
            "(C-NOALLOC)", n)
    r = run_once(cfg_on, "2026-12-08")
    n = escalated("was_not_brought", "C-WNB")
    t.check(r.rc in (0, 1) and n == "1", "rule back on: C-WNB is escalated on the next run",
            (n, r.diag()))

    # a browser sends each line break of a textarea as CR LF: 1,000 characters as typed
    fp = db.value("SELECT fingerprint FROM %s.alerts WHERE rule = 'cp_neglect_duration' AND "
                  "child_id = 'C-NOALLOC'" % s5)
    typed = "\r\n".join(["x" * 98] * 10) + "x" * 11
    rc, out, err = respond(cfg_on, "2026-12-08", "acknowledge", fp, note=typed)
    kept = db.value("SELECT e.note FROM %s.alert_events e JOIN %s.alerts a USING (alert_id) "
                    "WHERE a.fingerprint = '%s' AND e.kind = 'acknowledged' ORDER BY "
                    "e.event_id DESC LIMIT 1" % (s5, s5, fp)) or ""
    t.check(rc == 0 and len(kept) == 1000 and "\r" not in kept and kept.count("\n") == 9,
            "a note of 1,000 characters typed on ten lines (1,009 with CR LF) is kept, its line "
            "breaks as LF", out + err, len(kept))


def main():
    t = Tap()
    return run_test(t, "unanswered", lambda procs, tmp: body(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
