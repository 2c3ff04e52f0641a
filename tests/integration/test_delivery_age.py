#!/usr/bin/python3
"""test_delivery_age: a notice is retried up to the configured age (delivery.max_age_hours)
counted from when it was first due, not from when its outbox row was written (ALERTS.md,
"retried with exponential backoff and jitter, up to a configured age").

A digest held for its slot (written Friday evening, due Monday 08:00) was once counted from its
created_at: on a dead mail server it failed after one attempt. On
tests/fixtures/once_lifecycle_failures.sql, with a mail server that is not there and a webhook
receiver that answers 503 (a second one 429 Retry-After 999999999), `driftwatchd --once`:
  1. migrates a v6 state schema holding webhook notices written long ago: one never tried and
     due minutes ago, one tried two hours ago, one tried 73 hours ago; the first two are
     retried and stay pending, the third fails (its age counts from its first try). It
     records the day too: its email and webhook notices fail and stay pending;
  2. with every notice written 94 hours ago but first due 10 minutes ago (the held digest, and
     what a webhook notice written then and held would look like): tried once more, and still
     pending, not failed;
  3. with "delivery": {"max_age_hours": 1}: a webhook notice and a digest first due 61 minutes
     and 2 hours ago (written just now) fail and are reported to the operators; the 429
     notice, first due 10 minutes ago, stays pending with its next try capped inside its
     hour, not three days.
Passing time is what moving first_due_at back stands for, as in test_retry_after.py.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwdelivery_age is dropped and created here. Standard library only.
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

D1 = "2026-11-21"
S = "driftwatch"

# Webhook notices as a v6 deliverer left them: (key, attempts, created hours ago, next try in
# minutes from now, the first recorded attempt hours ago or None).
V6_NOTICES = (("v6_held", 0, 94, -5, None),
              ("v6_tried", 1, 80, -1, 2),
              ("v6_old", 1, 100, -1, 73))


def v6_schema(url):
    script = 'CREATE SCHEMA "%s";\n' % S
    for v in range(1, 7):
        with open(os.path.join(lib.TOP, "daemon", "sql", "state_v%d.sql" % v)) as f:
            script += f.read().replace("@state@", '"%s"' % S) + "\n"
    for key, attempts, created_h, next_m, tried_h in V6_NOTICES:
        script += ("INSERT INTO %s.outbox (idempotency_key, channel, destination, type, payload, "
                   "attempts, created_at, next_attempt_at) VALUES ('%s', 'webhook', '%s', "
                   "'alert.firing', '{\"rule\": \"cp_neglect_duration\", \"child_id\": \"C-V6\"}', "
                   "%d, now() - interval '%d hours', now() + interval '%d minutes');\n"
                   % (S, key, url, attempts, created_h, next_m))
        if tried_h is not None:
            script += ("INSERT INTO %s.delivery_attempts (notice_id, at, outcome, detail) "
                       "SELECT notice_id, now() - interval '%d hours', 'retry', '503' FROM "
                       "%s.outbox WHERE idempotency_key = '%s';\n" % (S, tried_h, S, key))
    return script


def rows(db, where):
    return db.rows("SELECT notice_id, idempotency_key AS key, channel, destination, status, "
                   "attempts, extract(epoch FROM now() - created_at)::bigint AS created_ago_s, "
                   "extract(epoch FROM now() - first_due_at)::bigint AS first_due_ago_s, "
                   "extract(epoch FROM next_attempt_at - first_due_at)::bigint AS next_after_s "
                   "FROM %s.outbox WHERE %s ORDER BY notice_id" % (S, where))


def failed_lines(err):
    return [x for x in err.splitlines() if "failed for good" in x]


def run(t, procs, tmp):
    db = lib.Db("dwdelivery_age")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "once_lifecycle_failures.sql"))
    ca = lib.make_ca(tmp)
    pwfile = lib.SmtpServer.password_file(tmp)
    dead_smtp = lib.free_port()  # nothing listens there: every digest fails to connect
    hooks = lib.Receiver(procs, tmp, "hooks", routes=["/down=503", "/busy=429:999999999"])
    down, busy = hooks.url("/down"), hooks.url("/busy")
    conf = {"database": {"conninfo": db.conninfo("dw-age")},
            "addresses": lib.addresses(),
            "email": lib.email_conf(dead_smtp, ca, pwfile),
            "webhooks": [{"url": down, "secret": lib.new_secret()},
                         {"url": busy, "secret": lib.new_secret()}]}
    cfg = lib.write_config(tmp, "age", conf)

    # ---- 1: the migration of notices already there, and the day recorded ----
    db._psql(["-1"], stdin=v6_schema(down))
    r = lib.run_once(cfg, D1)
    t.check(r.rc == 1 and not r.sanitizer() and "failed for good" in r.err,
            "run 1: --once migrates the v6 schema, and exits 1 since a v6 notice past its age "
            "failed for good", r.diag())
    # later versions (state_v8.sql) are applied in the same run
    t.check(int(db.value("SELECT max(version) FROM %s.schema_version" % S)) >= 7 and
            db.value("SELECT count(*) FROM %s.schema_version WHERE version = 7" % S) == "1",
            "run 1: the state schema is at version 7 or later")
    t.check(db.value("SELECT attnotnull FROM pg_attribute WHERE attrelid = '%s.outbox'::regclass "
                     "AND attname = 'first_due_at'" % S) == "t",
            "run 1: every notice has a first due time (first_due_at is NOT NULL)")
    old = {x["key"]: x for x in rows(db, "idempotency_key LIKE 'v6\\_%'")}
    t.note("run 1: v6 notices %s" % json.dumps(old))
    held, tried, aged = old.get("v6_held", {}), old.get("v6_tried", {}), old.get("v6_old", {})
    t.check(250 <= held.get("first_due_ago_s", -1) <= 400 and held.get("status") == "pending"
            and held.get("attempts") == 1,
            "run 1: a v6 notice written 94 h ago, never tried, due 5 min ago: first due 5 min "
            "ago, tried and still pending", json.dumps(held))
    t.check(abs(tried.get("first_due_ago_s", -1) - 2 * 3600) < 120 and
            tried.get("status") == "pending" and tried.get("attempts") == 2,
            "run 1: a v6 notice written 80 h ago, first tried 2 h ago: first due then, retried "
            "and still pending", json.dumps(tried))
    t.check(aged.get("status") == "failed" and aged.get("attempts") == 2,
            "run 1: a v6 notice first tried 73 h ago: past 72 h, it fails", json.dumps(aged))

    # ---- ... the day's notices fail and wait ----
    mine = "idempotency_key LIKE 'msg\\_%'"
    now = rows(db, mine)
    t.note("run 1: the day's notices %s" % json.dumps(now))
    mail = [x for x in now if x["channel"] == "email"]
    hook = [x for x in now if x["destination"] == down]
    t.check(mail and hook and all(x["status"] == "pending" and x["attempts"] == 1
                                  for x in mail + hook),
            "run 1: the day's digest (dead mail server) and webhook notice (503) were tried and "
            "wait, pending", json.dumps(now))

    # ---- 2: written 94 h ago, first due 10 min ago ----
    db.run("UPDATE %s.outbox SET created_at = now() - interval '94 hours', first_due_at = now() "
           "- interval '10 minutes', next_attempt_at = now(), attempts = 0 WHERE %s AND "
           "destination <> '%s'" % (S, mine, busy))
    t.note("run 2: the digest and the /down notice made 94 h ago, first due 10 min ago, never "
           "tried (a digest held for Monday's slot)")
    r = lib.run_once(cfg, D1)
    t.check(r.rc == 0 and not r.sanitizer(), "run 2: --once exits 0", r.diag())
    now = rows(db, "%s AND destination <> '%s'" % (mine, busy))
    t.note("run 2: %s" % json.dumps(now))
    t.check(len(now) == len(mail) + len(hook) and
            all(x["status"] == "pending" and x["attempts"] == 1 and
                x["created_ago_s"] >= 94 * 3600 for x in now),
            "run 2: tried again and still pending: 94 h since they were written, but their "
            "72 h count from when they were first due", json.dumps(now))
    t.check(not failed_lines(r.err), "run 2: nothing failed for good",
            "\n".join(failed_lines(r.err)))
    t.check(any(re.search(r"^<[0-7]>webhook .*/down.*will retry in \d+ s", x)
                for x in r.err.splitlines()), "run 2: the log says the webhook will be retried",
            r.err[-2000:])

    # ---- 3: "delivery": {"max_age_hours": 1} ----
    conf["delivery"] = {"max_age_hours": 1}
    cfg1 = lib.write_config(tmp, "age1", conf)
    db.run("UPDATE %s.outbox SET created_at = now(), first_due_at = now() - interval "
           "'61 minutes', next_attempt_at = now() WHERE %s AND destination = '%s'"
           % (S, mine, down))
    db.run("UPDATE %s.outbox SET created_at = now(), first_due_at = now() - interval "
           "'2 hours', next_attempt_at = now() WHERE %s AND channel = 'email'" % (S, mine))
    db.run("UPDATE %s.outbox SET created_at = now() - interval '94 hours', first_due_at = now() "
           "- interval '10 minutes', next_attempt_at = now() WHERE %s AND destination = '%s'"
           % (S, mine, busy))
    t.note("run 3: max_age_hours 1; /down first due 61 min ago, the digest 2 h ago (both "
           "written just now); /busy first due 10 min ago (written 94 h ago)")
    r = lib.run_once(cfg1, D1)
    t.check(r.rc == 1 and not r.sanitizer() and "failed for good" in r.err,
            "run 3: --once with max_age_hours 1 exits 1: notices past the hour failed for good",
            r.diag())
    for x in r.err.splitlines():
        if "webhook" in x or "outbox" in x or "email" in x:
            t.note("run 3 log: " + x)
    now = rows(db, mine)
    t.note("run 3: %s" % json.dumps(now))
    gone = [x for x in now if x["destination"] != busy]
    t.check(len(gone) == len(mail) + len(hook) and
            all(x["status"] == "failed" and x["attempts"] == 2 for x in gone),
            "run 3: the /down notice and the digest, first due over an hour ago, were tried "
            "once more and failed, though written just now", json.dumps(gone))
    flines = failed_lines(r.err)
    t.check(any("/down" in x for x in flines) and
            any("email" in x and "fsup@la.example" in x for x in flines),
            "run 3: both failures are logged", "\n".join(flines) or r.err[-2000:])
    reports = db.rows("SELECT destination, status, payload ->> 'notice_id' AS notice FROM "
                      "%s.outbox WHERE type = 'delivery.failed' AND payload ->> 'notice_id' IN "
                      "(%s)" % (S, ", ".join("'%d'" % x["notice_id"] for x in gone) or "''"))
    t.check(len(reports) == len(gone) and
            all(x["destination"] == "it-ops@la.example" for x in reports),
            "run 3: a report to the operators is queued for each", json.dumps(reports))
    slow = [x for x in now if x["destination"] == busy]
    t.check(len(slow) == 1 and slow[0]["status"] == "pending" and
            3600 - 180 <= slow[0]["next_after_s"] <= 3600,
            "run 3: the 429 notice first due 10 min ago waits, its Retry-After capped inside "
            "the configured hour after its first due time (not three days)", json.dumps(slow))
    t.check(any(re.search(r"^<[0-7]>webhook .*/busy.*capped at \d+ s", x)
                for x in r.err.splitlines()), "run 3: the log says the delay was capped",
            r.err[-2000:])
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "delivery-age", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
