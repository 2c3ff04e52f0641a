#!/usr/bin/python3
"""A snooze because the case record is wrong (RESPONSES.md: `data_wrong`, "these are listed for
the operators"): recorded through the responses module (build/san/responses_driver), it queues
one report to addresses.operators by email in the same statement, which `driftwatchd --once`
delivers to a real SMTP server; the report names who said so, the child, the alert (rule,
stage, fingerprint), the date and the note, with the child's record link.
  - another reason queues no report;
  - each data_wrong snooze is an event of its own and one report of its own;
  - no operators' address, or no email section: no report and no error.
Fixture tests/fixtures/once_lifecycle.sql (cp_neglect_duration alerts for C-CP-END and C-CP-9).
Prints TAP lines (tests/run.sh).
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from tap import Tap  # noqa: E402
from dwtest import (  # noqa: E402
    RESPONSES_DRIVER, TOP, Db, SmtpServer, addresses, email_conf, make_ca, run_once, run_test,
    write_config)
from dwtest import respond as lib_respond  # noqa: E402

DRIVER = RESPONSES_DRIVER
S = "rw_state"
DAY = "2026-11-21"
NOTE = "Date of birth keyed as 2016; the case system team is correcting it"
LINK = "https://case.la.example/child/{child_id}"


def respond(cfg, kind, fp, **kw):
    return lib_respond(cfg, DAY, kind, fp, **kw)


def fp_of(db, schema, child):
    return db.value("SELECT fingerprint FROM %s.alerts WHERE rule = 'cp_neglect_duration' "
                    "AND child_id = '%s'" % (schema, child))


def reports(db, schema):
    return db.rows("SELECT idempotency_key, destination, role, event_id, payload FROM "
                   "%s.outbox WHERE type = 'data.record_wrong' ORDER BY notice_id" % schema)


def body(t, procs, tmp):
    db = Db("dw_record_wrong")
    db.recreate()
    db.load(os.path.join(TOP, "rules", "contract.sql"),
            os.path.join(TOP, "tests", "fixtures", "once_lifecycle.sql"))
    t.check(os.access(DRIVER, os.X_OK), "the responses driver is built (%s)" % DRIVER)
    ca = make_ca(tmp)
    smtp = SmtpServer(procs, tmp, "mail", ca)
    cfg = write_config(tmp, "record-wrong", {
        "database": {"conninfo": db.conninfo("dw-record-wrong"), "state_schema": S},
        "link_template": LINK,
        "addresses": addresses(),
        "email": email_conf(smtp.port, ca, SmtpServer.password_file(tmp))})
    r = run_once(cfg, DAY)
    t.check(r.rc in (0, 1) and not r.sanitizer(), "--once --as-of %s records the alerts" % DAY,
            r.diag())
    before = smtp.count()
    end, nine = fp_of(db, S, "C-CP-END"), fp_of(db, S, "C-CP-9")
    t.check(bool(end) and bool(nine), "C-CP-END and C-CP-9 have cp_neglect_duration alerts",
            end, nine)

    rc, out, err = respond(cfg, "snooze", nine, reason="strategy_agreed", until="2026-12-07",
                           note="strategy meeting held")
    t.check(rc == 0 and reports(db, S) == [],
            "a snooze for another reason (strategy_agreed) queues no report to the operators",
            out + err, reports(db, S))

    rc, out, err = respond(cfg, "snooze", end, reason="data_wrong", until="2026-12-07",
                           note=NOTE)
    got = reports(db, S)
    ev = db.value("SELECT max(event_id) FROM %s.alert_events WHERE reason = 'data_wrong'" % S)
    t.check(rc == 0 and out.startswith("recorded "), "C-CP-END snoozed as data_wrong",
            out + err)
    t.check(len(got) == 1 and got[0]["destination"] == "it-ops@la.example"
            and got[0]["role"] == "operators" and str(got[0]["event_id"]) == ev,
            "one report to the operators' address, keyed on the response's event", got, ev)
    p = got[0]["payload"] if got else {}
    t.check(p.get("child_id") == "C-CP-END" and p.get("fingerprint") == end
            and p.get("link") == LINK.replace("{child_id}", "C-CP-END")
            and p.get("facts", {}).get("note") == NOTE
            and p.get("facts", {}).get("said_by") == "sup1@la.example"
            and p.get("facts", {}).get("rule") == "cp_neglect_duration"
            and p.get("facts", {}).get("snoozed_until") == "2026-12-07",
            "the report carries the child, the alert, its record link, who, until and the note",
            p)

    # a second data_wrong snooze of the same alert is a new event: a report of its own
    rc, out, err = respond(cfg, "snooze", end, actor="api:case-system", via="api",
                           reason="data_wrong", until="2026-12-14", note=NOTE + " (later)")
    got = reports(db, S)
    keys = [g["idempotency_key"] for g in got]
    t.check(rc == 0 and len(got) == 2 and len(set(keys)) == 2,
            "a second data_wrong snooze (through the API) is a second report, its own key",
            keys, out + err)

    r = run_once(cfg, "2026-11-22")
    left = db.value("SELECT count(*) FROM %s.outbox WHERE type = 'data.record_wrong' AND "
                    "status <> 'delivered'" % S)
    t.check(r.rc in (0, 1) and not r.sanitizer() and left == "0",
            "--once delivers the reports to the operators", left, r.diag())
    ops = [m for m in smtp.messages()[before:] if m["to"] == "it-ops@la.example"]
    text = " ".join(" ".join(m["text"].split()) for m in ops)
    html = " ".join(m["html"] for m in ops)
    subjects = [m["subject"] for m in ops]
    t.check(len(ops) == 1 and "2 case records said to be wrong" in subjects[0],
            "the operators get one mail, its subject counting what it reports", subjects)
    t.check("To correct: case record said to be wrong" in text and "Child: C-CP-END" in text
            and end in text and "cp_neglect_duration" in text and "9m" in text and NOTE in text
            and "sup1@la.example says the case record of child C-CP-END is wrong" in text
            and "api:case-system" in text and "7 Dec 2026" in text,
            "the mail says who said the record of C-CP-END is wrong, the alert (rule, stage, "
            "fingerprint), until when and the note", text[:3000])
    t.check(LINK.replace("{child_id}", "C-CP-END") in text
            and 'href="https://case.la.example/child/C-CP-END"' in html,
            "the mail links the child's case record", text[:3000])
    t.check(not any("strategy meeting held" in m["text"] for m in ops),
            "the strategy_agreed snooze is not in the operators' mail")
    others = [m for m in smtp.messages()[before:] if m["to"] != "it-ops@la.example"
              and "said to be wrong" in (m["subject"] + m["text"])]
    t.check(others == [], "nobody else gets the report", [m["to"] for m in others])

    check_no_operators(t, db, tmp, smtp, ca)


def check_no_operators(t, db, tmp, smtp, ca):
    """No operators' address, or no email section: the snooze is recorded, no report queued."""
    no_ops = addresses()
    del no_ops["operators"]
    for schema, name, conf in (
            ("rw_noops", "no operators' address",
             {"addresses": no_ops,
              "email": email_conf(smtp.port, ca, SmtpServer.password_file(tmp))}),
            ("rw_nomail", "no email section", {"addresses": addresses()})):
        conf["database"] = {"conninfo": db.conninfo("dw-record-wrong"), "state_schema": schema}
        cfg = write_config(tmp, schema, conf)
        r = run_once(cfg, DAY)
        t.check(r.rc in (0, 1) and not r.sanitizer(), "%s: --once runs" % name, r.diag())
        rc, out, err = respond(cfg, "snooze", fp_of(db, schema, "C-CP-END"), reason="data_wrong",
                               until="2026-12-07", note=NOTE)
        t.check(rc == 0 and out.startswith("recorded ") and err == "",
                "%s: the data_wrong snooze is recorded, without an error" % name, out + err)
        n = db.value("SELECT count(*) FROM %s.outbox WHERE type = 'data.record_wrong' OR "
                     "role = 'operators'" % schema)
        t.check(n == "0", "%s: no report is queued" % name, n)


def main():
    t = Tap()
    return run_test(t, "record_wrong", lambda procs, tmp: body(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
