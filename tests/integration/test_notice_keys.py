#!/usr/bin/python3
"""test_notice_keys: a webhook-id or Message-ID never names two different notices, across
installations and across a restored backup of the state schema (state_v13.sql).

A notice's key was "msg_<event id>_<destination hash>", the event id being the state schema's
sequence. Two installations sending to one receiver, or one whose state schema was restored from
a backup, gave the same key to different notices, and a receiver that drops an id it has seen
(as Standard Webhooks asks) would have dropped a 15-month escalation or a resolution.
On tests/fixtures/once_lifecycle.sql, one webhook receiver and one SMTP server:
  A. installation A (state schema keys_a) runs `--once` on D1, installation B (keys_b) on D2:
     no webhook-id and no Message-ID is used by both, and none carries two different notices;
  B. A's state schema is dumped (pg_dump), A runs D2 (the escalation), the dump is restored,
     a plan ends, and A runs D2 again: the notices after the restore reuse the event numbers of
     those before it, and still no webhook-id carries two different notices and no Message-ID
     two different messages.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwkeys is dropped and created here. Standard library only (pg_dump from PostgreSQL's bin).
"""
import glob
import hashlib
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

D1, D2 = "2026-11-21", "2026-11-22"


def pg_dump():
    found = shutil.which("pg_dump")
    if found:
        return found
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"))
    return bins[-1] if bins else None


def notice_of(req):
    """What a webhook request tells: its type, alert, stage and day (the id must name one)."""
    body = req.get("json") or {}
    data = body.get("data") or {}
    return (body.get("type"), data.get("fingerprint"), data.get("stage"), data.get("as_of"),
            data.get("status"))


def ids_by_content(reqs):
    seen = {}
    for r in reqs:
        seen.setdefault(r["headers"].get("webhook-id"), set()).add(notice_of(r))
    return seen


def mail_by_id(messages):
    """Message-ID -> the set of (recipient, hash of the plain text without its links) it named:
    a resend is the same message; two different ones under one id are the fault."""
    seen = {}
    for m in messages:
        text = "\n".join(x for x in m["text"].splitlines() if "http" not in x)
        seen.setdefault(m["mid"], set()).add((m["to"], hashlib.sha256(text.encode()).hexdigest()))
    return seen


def run(t, procs, tmp):
    db = lib.Db("dwkeys")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "once_lifecycle.sql"))
    ca = lib.make_ca(tmp)
    pwfile = lib.SmtpServer.password_file(tmp)
    smtp = lib.SmtpServer(procs, tmp, "mail", ca)
    hooks = lib.Receiver(procs, tmp, "hooks")
    secret = lib.new_secret()

    def config(name, schema):
        return lib.write_config(tmp, name, {
            "database": {"conninfo": db.conninfo("dw-keys-" + name), "state_schema": schema},
            "link_template": "https://lcs.example.gov.uk/person/{child_id}",
            "addresses": lib.addresses(),
            "email": lib.email_conf(smtp.port, ca, pwfile, send_resolved=True, digest_time=None),
            "webhooks": [{"url": hooks.url("/all"), "secret": secret}]})

    cfg_a, cfg_b = config("a", "keys_a"), config("b", "keys_b")

    # ---- A: two installations, one receiver ----
    r = lib.run_once(cfg_a, D1)
    t.check(r.rc == 0 and not r.sanitizer(), "A: installation A's --once on %s exits 0" % D1,
            r.diag())
    n_a = len(hooks.requests("/all"))
    mails_a = smtp.count()
    r = lib.run_once(cfg_b, D2)
    t.check(r.rc == 0 and not r.sanitizer(), "A: installation B's --once on %s exits 0" % D2,
            r.diag())
    reqs = hooks.requests("/all")
    ids_a = {x["headers"].get("webhook-id") for x in reqs[:n_a]}
    ids_b = {x["headers"].get("webhook-id") for x in reqs[n_a:]}
    t.note("A: %d webhook notices from A, %d from B; %d emails from A, %d from B"
           % (n_a, len(reqs) - n_a, mails_a, smtp.count() - mails_a))
    t.check(n_a >= 20 and len(reqs) - n_a >= 20 and mails_a >= 3 and smtp.count() > mails_a,
            "A: both installations sent webhooks and emails")
    shared = sorted(ids_a & ids_b)
    t.check(not shared, "A: no webhook-id is used by both installations",
            "shared: %s" % ", ".join(shared[:8]))
    twice = {k: v for k, v in ids_by_content(reqs).items() if len(v) > 1}
    t.check(not twice, "A: no webhook-id carries two different notices",
            "\n".join("%s: %s" % (k, sorted(map(str, v))) for k, v in list(twice.items())[:5]))
    mails = smtp.messages()
    mids_a = {m["mid"] for m in mails[:mails_a]}
    mids_b = {m["mid"] for m in mails[mails_a:]}
    t.check(not (mids_a & mids_b), "A: no Message-ID is used by both installations",
            "shared: %s" % ", ".join(sorted(mids_a & mids_b)[:5]))
    keys = db.value("SELECT count(*) FROM keys_a.outbox o JOIN keys_b.outbox p "
                    "USING (idempotency_key)")
    t.check(keys == "0", "A: the two outboxes hold no key in common", "in common: " + keys)

    # ---- B: a backup of A's state schema restored ----
    dump = pg_dump()
    if not dump:
        t.check(False, "B: pg_dump is found (PATH or /usr/lib/postgresql/*/bin)")
        db.drop()
        return
    path = os.path.join(tmp, "keys_a.sql")
    env = dict(db.env)
    p = subprocess.run([dump, "-n", "keys_a", "-f", path, db.name], env=env,
                       capture_output=True, text=True, timeout=120)
    t.check(p.returncode == 0, "B: pg_dump of A's state schema", p.stderr)
    seq_before = db.value("SELECT max(event_id) FROM keys_a.alert_events")
    before = len(hooks.requests("/all"))
    r = lib.run_once(cfg_a, D2)
    t.check(r.rc == 0 and not r.sanitizer(), "B: A's --once on %s exits 0" % D2, r.diag())
    t.check(len(hooks.requests("/all")) > before, "B: A sent notices on %s (the escalation)" % D2)
    db.run("DROP SCHEMA keys_a CASCADE")
    db._psql(["-f", path])
    t.check(db.value("SELECT max(event_id) FROM keys_a.alert_events") == seq_before,
            "B: the restored schema's events end where the backup's did (%s)" % seq_before)
    ended = db.value("UPDATE casework.cp_plans SET end_date = '%s' WHERE plan_id = "
                     "(SELECT min(plan_id) FROM casework.cp_plans WHERE end_date IS NULL) "
                     "RETURNING plan_id" % D2)
    t.note("B: plan %s ended on %s, so that the run after the restore says something new"
           % (ended, D2))
    mid_run = len(hooks.requests("/all"))
    r = lib.run_once(cfg_a, D2)
    t.check(r.rc == 0 and not r.sanitizer(), "B: A's --once on %s after the restore exits 0"
            % D2, r.diag())
    reqs = hooks.requests("/all")
    t.check(len(reqs) > mid_run, "B: the run after the restore sent notices (%d)"
            % (len(reqs) - mid_run))
    reused = db.value("SELECT count(*) FROM keys_a.outbox WHERE event_id > %s" % seq_before)
    t.note("B: %s notices after the restore belong to event numbers the run before it had "
           "used too" % reused)
    twice = {k: v for k, v in ids_by_content(reqs).items() if len(v) > 1}
    t.check(not twice, "B: no webhook-id carries two different notices, across the restore",
            "\n".join("%s: %s" % (k, sorted(map(str, v))) for k, v in list(twice.items())[:5]))
    clash = {k: v for k, v in mail_by_id(smtp.messages()).items() if len(v) > 1}
    t.check(not clash, "B: no Message-ID names two different messages, across the restore",
            "\n".join("%s: %s" % (k, sorted(v)) for k, v in list(clash.items())[:5]))
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "notice-keys", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
