#!/usr/bin/python3
"""test_mailbox_fallback: a mailbox the mail server refuses for good sends its alerts on to the
fallback address.

A supervisor who has left has an address in the case system that the council's mail server no
longer knows ("550 5.1.1 mailbox unknown"). Their notices used to fail for good and be reported
to the operators, and nobody read the alerts until IT mended the address: days in which a
child's drift went unseen. RULES.md: "Nobody is ever silently dropped: an alert with no
resolvable recipient goes to the fallback". Now such an alert's notices are failed and reported
as before, and sent on to addresses.fallback as notices of their own, saying whose they were.

On tests/fixtures/daemon.sql (three children on neglect CP plans, so the supervisor's digest
has three notices) and a child of another team, with the tests' SMTP server refusing the first
supervisor (--reject, 550 5.1.1 at RCPT):
  - `driftwatchd --once` exits 1 (notices failed for good); the supervisor's notices are failed
    with the server's answer and "sent on to the fallback address"; each has one copy to the
    fallback, with its own key, role fallback, delivered in the same run;
  - the fallback's email lists those three children, each saying why it came to them;
  - a second `--once` sends the fallback nothing again, and the operators' report says the
    notices were sent on;
  - the other recipients got their own notices, and nothing of theirs was sent on.
With the fallback refused too: the copies fail and are reported, and none is sent on again (no
loop), and `--once` ends. With a refusal of the message (552 5.3.4), not the mailbox, nothing
is sent on. The running daemon sends the copies at once, as `--once` does.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwfallback is dropped and created here. Standard library only.
"""
import datetime
import os
import sys
import zoneinfo

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import hostile  # noqa: E402  (tests/lib/hostile.py: the daemon in the background)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

SUPERVISOR = "dsup@la.example"
FALLBACK = lib.addresses()["fallback"]
OPS = lib.addresses()["operators"]
# Another team, its supervisor's mailbox known: a child 10 months on a CP plan for neglect
OTHER = "esup@la.example"
OTHER_TEAM = """
SET search_path = casework;
INSERT INTO teams VALUES ('T-E', 'Other team', 'emgr@la.example', NULL);
INSERT INTO workers VALUES
  ('W-ESUP', 'Supervisor E', 'esup@la.example', 'T-E', NULL, 'team_manager'),
  ('W-ESW1', 'Worker E', 'esw1@la.example', 'T-E', 'W-ESUP', 'social_worker');
INSERT INTO children VALUES ('C-E-1', 'F-E-1', current_date - interval '7 years', NULL, false);
INSERT INTO allocations VALUES ('A-E-1', 'C-E-1', 'W-ESW1', current_date - interval '2 years',
                                NULL);
INSERT INTO cp_plans VALUES ('CPP-E-1', 'C-E-1', current_date - interval '10 months', NULL, 'NEG',
                             NULL, NULL);
"""


def setup(procs, tmp, ca, name, smtp_extra):
    return lib.daemon_fixture_mail(procs, tmp, ca, "dwfallback", name, smtp_extra, OTHER_TEAM)


def notices(db):
    return db.rows("SELECT notice_id, idempotency_key AS key, destination, role, status, "
                   "coalesce(last_error, '') AS error, payload ->> 'child_id' AS child, "
                   "notice -> 'instead_of' ->> 'email' AS instead_of "
                   "FROM driftwatch.outbox WHERE type LIKE 'alert.%' ORDER BY notice_id")


def refused_mailbox(t, procs, tmp, ca, today):
    db, smtp, cfg = setup(procs, tmp, ca, "smtp", ["--reject", SUPERVISOR])
    r = lib.run_once(cfg, today)
    t.check(r.rc == 1 and not r.sanitizer(),
            "--once with the supervisor's mailbox refused exits 1: notices failed for good",
            r.diag())
    rows = notices(db)
    theirs = [n for n in rows if n["destination"] == SUPERVISOR]
    copies = {n["key"]: n for n in rows if n["role"] == "fallback"}
    t.check(len(theirs) == 3 and all(n["status"] == "failed" and "550 5.1.1" in n["error"] and
                                     "sent on to the fallback address " + FALLBACK in n["error"]
                                     for n in theirs),
            "the supervisor's 3 notices failed with the server's answer, saying they were sent "
            "on to the fallback", str(theirs))
    t.check(len(copies) == 3 and all(
                copies.get(n["key"] + "_fallback", {}).get("destination") == FALLBACK and
                copies[n["key"] + "_fallback"]["status"] == "delivered" and
                copies[n["key"] + "_fallback"]["child"] == n["child"] and
                copies[n["key"] + "_fallback"]["instead_of"] == SUPERVISOR for n in theirs),
            "each has one copy to the fallback, a notice of its own, delivered in the same run",
            str(list(copies.values())))
    others = [n for n in rows if n["destination"] not in (SUPERVISOR, FALLBACK)]
    t.check(others and OTHER in {n["destination"] for n in others} and
            all(n["status"] == "delivered" for n in others),
            "the other recipients' notices were delivered and none was sent on (%s)"
            % sorted({n["destination"] for n in others}), str(others))
    mail = [m for m in smtp.messages() if m["to"] == FALLBACK]
    text = " ".join(" ".join(m["text"].split()) for m in mail)
    html = " ".join(m["html"] for m in mail)
    kids = sorted(n["child"] for n in theirs)
    listed = sorted(c for m in mail for _, c, _ in m["items"])
    t.check(len(mail) == 1 and listed == kids,
            "the fallback received one email listing the supervisor's children %s" % kids,
            "%d emails, listed %s\n%s" % (len(mail), listed, text[:2000]))
    why = ("Why you: sent to you, the fallback address, because the mail server refused %s "
           "(supervisor) for good (\"550 5.1.1 <%s>: mailbox unknown\"); please see that it "
           "reaches them or their team" % (SUPERVISOR, SUPERVISOR))
    t.check(text.count(why) == 3 and "127.0.0.1" not in text and
            SUPERVISOR in html,
            "each entry says it came to the fallback because the supervisor's mailbox was "
            "refused, with the server's own answer and nothing of the transfer's", text[:3000])

    again = lib.run_once(cfg, today)
    mail2 = [m for m in smtp.messages() if m["to"] == FALLBACK]
    report = [m for m in smtp.messages() if m["to"] == OPS]
    rtext = " ".join(" ".join(m["text"].split()) for m in report)
    t.check(again.rc == 0 and not again.sanitizer() and len(mail2) == 1,
            "a second --once exits 0 and sends the fallback nothing again (%d emails)"
            % len(mail2), again.diag())
    t.check(len(report) == 1 and SUPERVISOR in rtext and
            ("sent on to the fallback address " + FALLBACK) in rtext,
            "the operators' report names the refused address and says the notices were sent "
            "on to the fallback", rtext[:3000])
    db.drop()


def fallback_refused(t, procs, tmp, ca, today):
    db, _, cfg = setup(procs, tmp, ca, "smtp2", ["--reject", SUPERVISOR, "--reject", FALLBACK])
    r = lib.run_once(cfg, today, timeout=90)
    rows = notices(db)
    copies = [n for n in rows if n["role"] == "fallback"]
    t.check(r.rc == 1 and not r.sanitizer(),
            "with the fallback refused too, --once ends and exits 1", r.diag())
    t.check(len(copies) == 3 and all(n["status"] == "failed" and "sent on" not in n["error"]
                                     for n in copies) and
            not any(n["key"].endswith("_fallback_fallback") for n in rows),
            "the 3 copies to the fallback failed and none was sent on again (no loop)",
            str(copies))
    t.check(not [n for n in rows if n["status"] in ("pending", "delivering")],
            "no alert's notice is left waiting", str(rows))
    db.drop()


def message_refused(t, procs, tmp, ca, today):
    db, _, cfg = setup(procs, tmp, ca, "smtp3",
                       ["--data-reply", "552 5.3.4 Message size exceeds fixed maximum"])
    r = lib.run_once(cfg, today)
    rows = notices(db)
    t.check(r.rc == 1 and rows and all(n["status"] == "failed" for n in rows) and
            not [n for n in rows if n["role"] == "fallback" or "sent on" in n["error"]],
            "a refusal of the message (552 5.3.4), not of a mailbox, is sent on to nobody",
            r.diag() + "\n" + str(rows))
    db.drop()


def daemon_mode(t, procs, tmp, ca):
    """The running daemon sends the copies as soon as the refusal is recorded, not at a poll."""
    db, smtp, cfg = setup(procs, tmp, ca, "smtp4", ["--reject", SUPERVISOR])
    d = hostile.Daemon(procs, tmp, cfg, name="daemon-fallback")
    got = lib.wait_for(lambda: [m for m in smtp.messages() if m["to"] == FALLBACK], 60)
    listed = sorted(c for m in (got or []) for _, c, _ in m["items"])
    t.check(got and len(got) == 1 and listed == ["C-INIT-1", "C-INIT-2", "C-INIT-3"] and
            d.wait_log(r"failed for good.*sent on to the fallback address", 5),
            "the daemon (not --once) sends the refused supervisor's notices on to the fallback "
            "and logs the failure saying so", "listed %s\n%s" % (listed, "\n".join(d.lines()[-30:])))
    d.proc.terminate()
    d.proc.wait(timeout=30)
    t.check(d.proc.returncode == 0 and "Sanitizer" not in d.text(), "it stops cleanly",
            "exit %s\n%s" % (d.proc.returncode, d.text()[-2000:]))
    db.drop()


def run(t, procs, tmp):
    ca = lib.make_ca(tmp)
    today = datetime.datetime.now(zoneinfo.ZoneInfo("Europe/London")).strftime("%Y-%m-%d")
    refused_mailbox(t, procs, tmp, ca, today)
    fallback_refused(t, procs, tmp, ca, today)
    message_refused(t, procs, tmp, ca, today)
    daemon_mode(t, procs, tmp, ca)


def main():
    t = Tap()
    return lib.run_test(t, "mailbox-fallback", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
