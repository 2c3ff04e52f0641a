#!/usr/bin/python3
"""test_digest_schedule: email digests at email.digest_time on working days, urgent stages within
email.urgent_delay_seconds, --once at once (ALERTS.md, "Email"; issue 16, item 6).

The real daemon (`driftwatchd -c FILE`, running) on tests/fixtures/daemon.sql, with the real SMTP
server (smtp_server.py), email.digest_time a minute or two ahead of now in the configured zone
(worked out here with zoneinfo: a zone where today is a working day of england-and-wales and the
time is still today), email.urgent_delay_seconds 5 and full evaluations every 10 s:
  - after the first evaluation no email is sent; the outbox holds every person's email notice
    pending, keyed "digest DAY HH:MM" and due at that slot's instant;
  - a handover committed before the slot goes in the same slot;
  - the daemon is stopped and started again: the held notices wait in the outbox;
  - a baby not brought to an appointment (an urgent stage) goes within the urgent delay, alone,
    before the slot;
  - at the slot, one digest per person arrives, with every change held for them (the handover
    included), none of them delivered before the slot;
  - with the same configuration, `--once` on a new state schema sends every digest at once.
When no zone has a working day with the slot still today, the part after the slot is skipped
and said so; the hold is still checked, against the next working day's slot.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwdigest is dropped and created here. Standard library only. Takes about two minutes: it waits
for a real slot.
"""
import datetime
import os
import signal
import sys
import time
import zoneinfo

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import hostile  # noqa: E402  (tests/lib/hostile.py: the daemon in the background)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

S = "digest_st"
URGENT_S = 5
# How far ahead the slot is, at least: the daemon's start, its first evaluation, a handover, a
# restart and an urgent mail all happen before it, on a slow machine under ASan.
LEAD_S = 100
ZONES = ("Europe/London", "America/New_York", "Asia/Tokyo", "Pacific/Auckland",
         "America/Los_Angeles", "Asia/Kolkata", "Pacific/Kiritimati", "Pacific/Pago_Pago")
# England and Wales bank holidays 2026-2028, copied by hand from GOV.UK, not from the code.
HOLIDAYS = {
    "2026-01-01", "2026-04-03", "2026-04-06", "2026-05-04", "2026-05-25", "2026-08-31",
    "2026-12-25", "2026-12-28",
    "2027-01-01", "2027-03-26", "2027-03-29", "2027-05-03", "2027-05-31", "2027-08-30",
    "2027-12-27", "2027-12-28",
    "2028-01-03", "2028-04-14", "2028-04-17", "2028-05-01", "2028-05-29", "2028-08-28",
    "2028-12-25", "2028-12-26",
}


def working(day):
    return day.weekday() < 5 and day.isoformat() not in HOLIDAYS


def choose_slot():
    """(zone, slot as an aware datetime, True) with the slot today in a working day; else
    (Europe/London, the next working day's slot at 08:00, False)."""
    for name in ZONES:
        z = zoneinfo.ZoneInfo(name)
        now = datetime.datetime.now(z)
        at = (now + datetime.timedelta(seconds=LEAD_S + 59)).replace(second=0, microsecond=0)
        if at.date() == now.date() and working(now.date()):
            return name, at, True
    z = zoneinfo.ZoneInfo("Europe/London")
    day = datetime.datetime.now(z).date()
    while True:
        day += datetime.timedelta(days=1)
        if working(day):
            return "Europe/London", datetime.datetime(day.year, day.month, day.day, 8, 0,
                                                      tzinfo=z), False


def email_rows(db, schema=S):
    return db.rows("SELECT notice_id, destination, role, type, status, digest_key, "
                   "extract(epoch FROM next_attempt_at)::float8 AS due, "
                   "extract(epoch FROM created_at)::float8 AS created, "
                   "extract(epoch FROM first_due_at)::float8 AS first_due, "
                   "extract(epoch FROM delivered_at)::float8 AS delivered, "
                   "notice ->> 'urgent' AS urgent, payload ->> 'child_id' AS child, "
                   "payload ->> 'rule' AS rule "
                   "FROM %s.outbox WHERE channel = 'email' ORDER BY notice_id" % schema)


def body(procs, tmp):
    t = TAP
    zone, slot, today = choose_slot()
    hhmm = slot.strftime("%H:%M")
    key = "digest %s %s" % (slot.date().isoformat(), hhmm)
    t.note("zone %s, digest_time %s (slot %s, epoch %d)%s"
           % (zone, hhmm, slot.isoformat(), slot.timestamp(),
              "" if today else ": no zone has a working day with the slot ahead today, so the "
              "part after the slot is skipped"))

    db = lib.Db("dwdigest")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "daemon.sql"))
    ca = lib.make_ca(tmp)
    smtp = lib.SmtpServer(procs, tmp, "mail", ca)
    email = lib.email_conf(smtp.port, ca, lib.SmtpServer.password_file(tmp),
                           digest_time=hhmm, urgent_delay_seconds=URGENT_S)
    conf = {"database": {"conninfo": db.conninfo("dw-digest"), "state_schema": S},
            "timezone": zone, "addresses": lib.addresses(), "email": email,
            "evaluation": {"interval_seconds": 10},
            "http": {"listen": "127.0.0.1:%d" % lib.free_port()}}
    cfg = lib.write_config(tmp, "digest", conf)
    daemon = hostile.Daemon(procs, tmp, cfg)

    # ---- the first evaluation: held, not sent
    got = lib.wait_for(lambda: len(email_rows(db)) >= 3 if schema_there(db) else False, 90,
                       step=0.5)
    first = email_rows(db) if got else []
    t.check(got, "the first evaluation queues email notices (%d)" % len(first),
            "\n".join(daemon.lines()[-20:]))
    time.sleep(URGENT_S + 3)  # longer than the deliverer's poll and the urgent delay
    t.check(smtp.count() == 0, "no email is sent after the first evaluation (%d sent)"
            % smtp.count())
    first = email_rows(db)
    t.check(first and all(r["status"] == "pending" for r in first),
            "every email notice waits in the outbox, pending",
            repr([(r["destination"], r["status"]) for r in first]))
    t.check(first and all(r["digest_key"] == key and r["urgent"] != "true" for r in first),
            "... keyed by its slot, %r" % key, repr({r["digest_key"] for r in first}))
    t.check(first and all(abs(r["due"] - slot.timestamp()) < 0.001 for r in first),
            "... due at the slot's instant in %s (%s)" % (zone, slot.isoformat()),
            repr(sorted({r["due"] for r in first})))
    # the retry age counts from here, not from created_at (state_v7.sql)
    t.check(first and all(r["first_due"] == r["due"] and r["first_due"] > r["created"]
                          for r in first),
            "... and first due then, after it was written: its retry age starts at the slot",
            repr(sorted({(r["created"], r["first_due"]) for r in first})))

    # ---- a handover before the slot: the same slot
    # today in the configured zone, where the daemon evaluates: the server's current_date is
    # another day for part of the day in a zone far from UTC
    db.run("INSERT INTO casework.allocations VALUES ('A-DG-1', 'C-WC-01', 'W-SW2', "
           "(now() AT TIME ZONE '%s')::date, NULL)" % zone)
    got = lib.wait_for(lambda: any(r["rule"] == "worker_change" for r in email_rows(db)), 60,
                       step=0.5)
    handover = [r for r in email_rows(db) if r["rule"] == "worker_change"]
    t.check(got and handover and all(r["digest_key"] == key and r["status"] == "pending" and
                                     abs(r["due"] - slot.timestamp()) < 0.001
                                     for r in handover),
            "a handover recorded before the slot waits for the same slot (%d notices)"
            % len(handover), repr(handover))

    # ---- a restart: what waits stays in the outbox
    daemon.signal(signal.SIGTERM)
    rc = daemon.wait_exit(30)
    t.check(rc == 0 and not daemon.sanitizer_report(), "the daemon stops cleanly",
            daemon.sanitizer_report() or "\n".join(daemon.lines()[-20:]))
    daemon = hostile.Daemon(procs, tmp, cfg, name="daemon2")
    held = [r for r in email_rows(db) if r["digest_key"] == key]
    t.check(len(held) >= len(first) + len(handover) and
            all(r["status"] == "pending" for r in held),
            "after the restart the %d held notices still wait in the outbox" % len(held))

    # ---- an urgent stage: within the urgent delay, alone, before the slot
    db.run("INSERT INTO casework.appointments VALUES ('APT-DG-1', 'C-INF-01', 'gp', "
           "now() - interval '1 hour', 'was_not_brought')")

    def urgent_rows():
        return [r for r in email_rows(db) if r["child"] == "C-INF-01"]
    got = lib.wait_for(lambda: urgent_rows() and
                       all(r["status"] == "delivered" for r in urgent_rows()), 60, step=0.3)
    urgent = urgent_rows()
    t.check(got and urgent, "the baby not brought (urgent) is mailed (%d notices)" % len(urgent),
            repr(urgent) + "\n" + "\n".join(daemon.lines()[-20:]))
    # the window's end is in its key: next_attempt_at is rewritten when the notice is delivered
    def window_end(r):
        return float(r["digest_key"].split(" ", 1)[1]) if r["digest_key"].startswith(
            "urgent ") else -1.0
    t.check(urgent and all(r["urgent"] == "true" and
                           0 <= window_end(r) - r["created"] <= URGENT_S + 0.001 for r in urgent),
            "... marked urgent, due within urgent_delay_seconds (%d s) of its recording"
            % URGENT_S, repr(urgent))
    t.check(urgent and all(r["delivered"] >= r["due"] - 0.001 for r in urgent),
            "... and not sent before that", repr(urgent))
    before = smtp.messages()
    kids = [{c for _, c, _ in m["items"]} for m in before]
    t.check(len(before) == len({r["destination"] for r in urgent}) and
            all(k == {"C-INF-01"} for k in kids),
            "... in a short digest of its own per person (%d), nothing else sent yet"
            % len(before), repr([(m["to"], m["subject"]) for m in before]))
    t.check(time.time() < slot.timestamp(),
            "all that happened before the slot (%.0f s to go)" % (slot.timestamp() - time.time()))

    # ---- the slot
    if today:
        waiting = [r for r in email_rows(db) if r["digest_key"] == key]
        people = sorted({r["destination"] for r in waiting})
        lib.wait_for(lambda: all(r["status"] == "delivered" for r in email_rows(db)
                                 if r["digest_key"] == key),
                     slot.timestamp() - time.time() + 60, step=0.5)
        done = [r for r in email_rows(db) if r["digest_key"] == key]
        t.check(done and all(r["status"] == "delivered" for r in done),
                "after the slot every held notice is delivered (%d, to %d people)"
                % (len(done), len(people)),
                repr([(r["destination"], r["status"]) for r in done if r["status"] !=
                      "delivered"]))
        t.check(done and all(r["delivered"] >= slot.timestamp() for r in done),
                "... none before the slot",
                repr(sorted(r["delivered"] for r in done)[:3]))
        mails = [m for m in smtp.messages() if m["n"] not in {b["n"] for b in before}]
        by_person = {}
        for m in mails:
            by_person.setdefault(m["to"], []).append(m)
        t.check(sorted(by_person) == people and all(len(v) == 1 for v in by_person.values()),
                "one digest per person (%d people, %d mails)" % (len(people), len(mails)),
                repr({k: len(v) for k, v in by_person.items()}) + " want " + repr(people))
        for person in people:
            want = sorted(r["child"] for r in done if r["destination"] == person)
            got_items = sorted(c for m in by_person.get(person, []) for _, c, _ in m["items"])
            t.check(got_items == want,
                    "the digest to %s lists every change held for them (%d)"
                    % (person, len(want)), "got %r\nwant %r" % (got_items, want))
        wc = [r["destination"] for r in handover]
        t.check(wc and all(any(c == "C-WC-01" for m in by_person.get(p, [])
                               for _, c, _ in m["items"]) for p in wc),
                "the handover recorded after the first evaluation is in the slot's digest")
    else:
        t.note("skipped: the digest at the slot (no zone with a working day today)")

    daemon.signal(signal.SIGTERM)
    rc = daemon.wait_exit(30)
    t.check(rc == 0 and not daemon.sanitizer_report(),
            "the daemon stops cleanly with no sanitizer report",
            daemon.sanitizer_report() or "\n".join(daemon.lines()[-20:]))

    # ---- --once: every digest at once, with the same email settings
    conf["database"]["state_schema"] = "digest_once"
    cfg_once = lib.write_config(tmp, "digest_once", conf)
    n0 = smtp.count()
    today_local = datetime.datetime.now(zoneinfo.ZoneInfo(zone)).date().isoformat()
    r = lib.run_once(cfg_once, today_local)
    t.check(r.rc == 0 and not r.sanitizer(), "--once exits 0", r.diag())
    once = email_rows(db, "digest_once")
    people = {x["destination"] for x in once}
    t.check(once and all(x["status"] == "delivered" for x in once),
            "--once delivers every email notice at once (%d)" % len(once),
            repr([(x["destination"], x["status"], x["digest_key"]) for x in once][:5]))
    t.check(smtp.count() - n0 == len(people),
            "--once: one digest per person (%d mails, %d people)"
            % (smtp.count() - n0, len(people)))
    db.drop()


def schema_there(db):
    try:
        db.value("SELECT 1 FROM %s.outbox LIMIT 1" % S)
        return True
    except RuntimeError:
        return False


TAP = Tap()

if __name__ == "__main__":
    sys.exit(lib.run_test(TAP, "digest-schedule", body))
