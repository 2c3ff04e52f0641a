#!/usr/bin/python3
"""test_url_secrets: no secret part of a webhook URL is logged or stored (issue 10, item 3).

URLs are shown as scheme://host[:port]/path only. On tests/fixtures/once_lifecycle_failures.sql
(plus a second team), `driftwatchd --once` delivers to webhooks whose URLs carry credentials:
  - user:password@ and ?token=&sig= on a receiver answering 500 (retried, logged each time);
  - ?sig= and a #fragment on one answering 400 (retried like any refusal; made older than its
    age before the second run, so that it fails and is reported to the operators);
  - ?token= on a port nobody listens on (libcurl's connection error);
  - a team's webhook_url from the case data, ?sv=&sig=, answering a redirect whose Location
    carries its own ?sig= (not followed: logged as misconfigured);
  - another team's webhook_url with a '/' in its password, which libcurl cannot read at all.
Then again (the backoff skipped), and a third time, so the operators' report goes out by email. No secret string
may appear in the daemon's standard error, in driftwatch.outbox (last_error, and the report's
payload), in driftwatch.delivery_attempts.detail, or in the email the operators get; and each
endpoint is still named (scheme, host, port and path), so the checks are not vacuous.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwhostile_urls is dropped and created here. Standard library only.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

D1 = "2026-11-21"
SECRETS = ["hookuser", "HOOKPASS-s1", "TOKEN-s2", "SIG-s3", "REJSIG-s4", "FRAG-s9", "TEAMSIG-s5",
           "LOCSIG-s6", "PA/SS-s7", "BADURL-s7", "REFUSED-s8"]


def leaks(text):
    return [s for s in SECRETS if s in text]


def run(t, procs, tmp):
    db = lib.Db("dwhostile_urls")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "once_lifecycle_failures.sql"))
    ca = lib.make_ca(tmp)
    pwfile = lib.SmtpServer.password_file(tmp)
    smtp = lib.SmtpServer(procs, tmp, "mail", ca)
    hooks = lib.Receiver(procs, tmp, "hooks", routes=[
        "/hook=500", "/rej=400", "/team=302:/elsewhere?sig=LOCSIG-s6"])
    refused = lib.free_port({smtp.port, hooks.port})
    p = hooks.port
    team_url = "http://127.0.0.1:%d/team?sv=1&sig=TEAMSIG-s5" % p
    bad_url = "http://user:PA/SS-s7@127.0.0.1:%d/x?sig=BADURL-s7" % p
    db.run("UPDATE casework.teams SET webhook_url = '%s' WHERE team_id = 'T-F';"
           "INSERT INTO casework.teams VALUES ('T-G', 'Other team', 'gmgr@la.example', '%s');"
           "INSERT INTO casework.workers VALUES ('W-GSUP', 'Supervisor G', 'gsup@la.example', "
           "'T-G', NULL, 'team_manager'), ('W-GSW', 'Worker G', 'gsw@la.example', 'T-G', "
           "'W-GSUP', 'social_worker');"
           "INSERT INTO casework.children VALUES ('C-G-1', 'F-G-1', '2016-01-01', NULL, false);"
           "INSERT INTO casework.allocations VALUES ('A-G-1', 'C-G-1', 'W-GSW', '2024-01-01', "
           "NULL);"
           "INSERT INTO casework.cp_plans VALUES ('CPP-G-1', 'C-G-1', '2026-01-15', NULL, 'NEG', "
           "NULL, NULL)" % (team_url, bad_url))
    team_secret = os.path.join(tmp, "team-secret")
    with open(team_secret, "w") as f:
        f.write(lib.new_secret() + "\n")
    secret = lib.new_secret()
    cfg = lib.write_config(tmp, "urls", {
        "database": {"conninfo": db.conninfo("dw-urls")},
        "link_template": "https://lcs.example.gov.uk/person/{child_id}",
        "addresses": lib.addresses(),
        "email": lib.email_conf(smtp.port, ca, pwfile),
        "team_webhook_secret_file": team_secret,
        "team_webhooks": {"allowed_hosts": ["http://127.0.0.1"]},
        "webhooks": [
            {"url": "http://hookuser:HOOKPASS-s1@127.0.0.1:%d/hook?token=TOKEN-s2&sig=SIG-s3"
                    % p, "secret": secret},
            {"url": "http://127.0.0.1:%d/rej?sig=REJSIG-s4#FRAG-s9" % p, "secret": secret},
            {"url": "http://127.0.0.1:%d/refused?token=REFUSED-s8" % refused,
             "secret": secret}]})

    runs = [lib.run_once(cfg, D1)]
    t.check(runs[0].rc == 0 and not runs[0].sanitizer(), "--once exits 0 with every webhook "
            "failing its own way", runs[0].diag())
    n = db.value("UPDATE driftwatch.outbox SET next_attempt_at = now(), first_due_at = CASE "
                 "WHEN destination LIKE '%/rej%' THEN now() - interval '73 hours' ELSE "
                 "first_due_at END WHERE status = 'pending' RETURNING 1")
    t.note("made the pending notices due now, the /rej ones past their 72 h (what the passing "
           "of time would do): %s" % (n.count("1") if n else 0))
    runs.append(lib.run_once(cfg, D1))
    t.check(runs[1].rc == 1 and not runs[1].sanitizer() and "failed for good" in runs[1].err,
            "a second --once exits 1: the /rej notices past their 72 h failed for good",
            runs[1].diag())
    db.value("UPDATE driftwatch.outbox SET next_attempt_at = now() WHERE status = 'pending' "
             "RETURNING 1")
    runs.append(lib.run_once(cfg, D1))
    t.check(runs[2].rc == 0 and not runs[2].sanitizer(), "a third --once exits 0",
            runs[2].diag())
    err = "\n".join(r.err for r in runs)
    for line in err.splitlines():
        if "webhook" in line or "outbox" in line:
            t.note("log: " + line[:300])

    t.check(not leaks(err), "no secret part of a URL is in the log (%s)" % leaks(err),
            "\n".join(x for x in err.splitlines() if leaks(x))[:3000])
    shown = ["http://127.0.0.1:%d/hook" % p, "http://127.0.0.1:%d/rej" % p,
             "http://127.0.0.1:%d/refused" % refused, "http://127.0.0.1:%d/team" % p,
             "redirect to /elsewhere not followed"]
    missing = [s for s in shown if s not in err]
    t.check(not missing, "the log names each endpoint by scheme, host, port and path "
            "(missing: %s)" % missing, err[-3000:])

    rows = db.rows("SELECT notice_id, destination, status, attempts, last_error, "
                   "payload::text AS payload, type FROM driftwatch.outbox ORDER BY notice_id")
    errors = "\n".join(r["last_error"] or "" for r in rows)
    for r in rows:
        if r["last_error"]:
            t.note("outbox %s %s: %s" % (r["notice_id"], r["status"], r["last_error"][:200]))
    t.check(not leaks(errors), "no secret part of a URL is in driftwatch.outbox.last_error "
            "(%s)" % leaks(errors), errors[:3000])
    t.check(len([r for r in rows if r["last_error"]]) >= 5,
            "and last_error is kept for the failures (%d rows)"
            % len([r for r in rows if r["last_error"]]), json.dumps(rows)[:3000])
    reports = [r for r in rows if r["type"] == "delivery.failed"]
    payloads = "\n".join(r["payload"] for r in reports)
    t.check(reports and not leaks(payloads),
            "the operators' report in the outbox names no secret (%d reports, %s)"
            % (len(reports), leaks(payloads)), payloads[:3000])
    detail = "\n".join(r["detail"] or "" for r in db.rows(
        "SELECT detail FROM driftwatch.delivery_attempts"))
    t.check(not leaks(detail), "no secret part of a URL is in driftwatch.delivery_attempts "
            "(%s)" % leaks(detail), detail[:3000])

    ops = [m for m in smtp.messages() if m["to"] == "it-ops@la.example"]
    raw = "\n".join(m["raw"].decode("utf-8", "replace") + m["text"] for m in ops)
    t.check(ops and "http://127.0.0.1:%d/rej" % p in raw and not leaks(raw),
            "the operators' email names the failed endpoint without its secrets (%d emails, %s)"
            % (len(ops), leaks(raw)), raw[:3000])
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "url-secrets", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
