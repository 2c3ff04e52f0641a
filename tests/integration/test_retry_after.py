#!/usr/bin/python3
"""test_retry_after: a receiver's Retry-After is capped at the notice's age limit (issue 10,
item 8).

A 429 with `Retry-After: 999999999` once logged "will retry" and failed the notice at once (the
requested delay reached past the three days a notice is retried for). On
tests/fixtures/once_lifecycle_failures.sql with a real SMTP server, `driftwatchd --once`:
  1. the receiver answers 429 Retry-After 999999999: the notice stays pending, its next try
     set just inside its three days (the delay capped at its remaining age), and the log says
     the delay was capped;
  2. with the notice first due 30 s short of three days ago (first_due_at moved back, what the
     passing of time would do) and due now: 429 again, and now it fails as usual, logged and reported;
  3. the next run mails the operators' report, naming the notice's endpoint.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwhostile_retry is dropped and created here. Standard library only.
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

D1 = "2026-11-21"
HORIZON_S = 3 * 24 * 3600


def run(t, procs, tmp):
    db = lib.Db("dwhostile_retry")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "once_lifecycle_failures.sql"))
    ca = lib.make_ca(tmp)
    pwfile = lib.SmtpServer.password_file(tmp)
    smtp = lib.SmtpServer(procs, tmp, "mail", ca)
    hooks = lib.Receiver(procs, tmp, "hooks", routes=["/busy=429:999999999"])
    url = hooks.url("/busy")
    cfg = lib.write_config(tmp, "retry", {
        "database": {"conninfo": db.conninfo("dw-retry")},
        "link_template": "https://lcs.example.gov.uk/person/{child_id}",
        "addresses": lib.addresses(),
        "email": lib.email_conf(smtp.port, ca, pwfile),
        "webhooks": [{"url": url, "secret": lib.new_secret()}]})

    def hook_row():
        rows = db.rows("SELECT status, attempts, last_error, extract(epoch FROM next_attempt_at "
                       "- first_due_at)::bigint AS due_after_s FROM driftwatch.outbox WHERE "
                       "channel = 'webhook'")
        return rows[0] if len(rows) == 1 else {"rows": rows}

    # ---- 1: Retry-After far past the age limit ----
    r = lib.run_once(cfg, D1)
    t.check(r.rc == 0 and not r.sanitizer(), "run 1: --once exits 0", r.diag())
    t.check(len(hooks.requests("/busy")) == 1, "run 1: the receiver was asked once and "
            "answered 429 Retry-After 999999999")
    row = hook_row()
    t.note("run 1: outbox row %s" % json.dumps(row))
    due = row.get("due_after_s") or 0
    t.check(row.get("status") == "pending" and row.get("attempts") == 1 and
            HORIZON_S - 600 <= due < HORIZON_S,
            "run 1: the notice stays pending, its next try %d s after it was first due, inside its "
            "%d s" % (due, HORIZON_S), json.dumps(row))
    lines = [x for x in r.err.splitlines() if "Retry-After" in x or "capped" in x]
    for x in lines:
        t.note("run 1 log: " + x)
    t.check(any(re.search(r"^<[0-7]>webhook .*Retry-After 999999999 s.*capped at \d+ s", x)
                for x in lines),
            "run 1: the log says the receiver's delay was capped at the notice's remaining age",
            r.err[-2000:])
    t.check(not any("failed for good" in x for x in r.err.splitlines()),
            "run 1: nothing is failed", r.err[-2000:])

    # ---- 2: the age limit reached ----
    db.run("UPDATE driftwatch.outbox SET first_due_at = now() - make_interval(secs => %d), "
           "next_attempt_at = now() WHERE channel = 'webhook'" % (HORIZON_S - 30))
    t.note("run 2: the notice first due %d s ago and due now (what the passing of time would do)"
           % (HORIZON_S - 30))
    r = lib.run_once(cfg, D1)
    t.check(r.rc == 1 and not r.sanitizer() and "1 notice failed for good" in r.err,
            "run 2: --once exits 1, its notice failed for good", r.diag())
    row = hook_row()
    t.note("run 2: outbox row %s" % json.dumps(row))
    for x in r.err.splitlines():
        if "webhook" in x or "outbox" in x:
            t.note("run 2 log: " + x)
    t.check(len(hooks.requests("/busy")) == 2 and row.get("status") == "failed"
            and row.get("attempts") == 2,
            "run 2: tried once more at its last chance and failed as usual", json.dumps(row))
    t.check(any(re.search(r"^<[0-7]>outbox: notice \d+ to webhook \S+/busy failed for good", x)
                for x in r.err.splitlines()), "run 2: the failure is logged", r.err[-2000:])
    reports = db.rows("SELECT destination, status FROM driftwatch.outbox "
                      "WHERE type = 'delivery.failed'")
    t.check(reports == [{"destination": "it-ops@la.example", "status": "pending"}],
            "run 2: a report to the operators is queued", json.dumps(reports))

    # ---- 3: the report goes out ----
    db.run("UPDATE driftwatch.outbox SET next_attempt_at = now() WHERE status = 'pending'")
    r = lib.run_once(cfg, D1)
    t.check(r.rc == 0 and not r.sanitizer(), "run 3: --once exits 0", r.diag())
    ops = [m for m in smtp.messages() if m["to"] == "it-ops@la.example"]
    t.check(len(ops) == 1 and url in ops[0]["text"] and "429" in ops[0]["text"],
            "run 3: the operators get one email naming the endpoint and the 429",
            "; ".join("%s: %s" % (m["to"], m["subject"]) for m in smtp.messages()) + "\n" +
            (ops[0]["text"][:1500] if ops else ""))
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "retry-after", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
