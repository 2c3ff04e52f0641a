#!/usr/bin/python3
"""test_team_webhooks: each team's webhook_url receives the team's alerts, as ALERTS.md says.

ALERTS.md: "Each team's webhook_url (CONTRACT.md) receives that team's alerts, signed with the
secret named by team_webhook_secret_file when set." Audit 19: driftwatch posted nothing to a
team's URL without that secret (it never posted unsigned), and nothing with it unless
team_webhooks.allowed_hosts (not in the specification, empty by default) named the host.
team_webhooks.allowed_hosts now bounds team URLs only where an authority gives it.

tests/fixtures/daemon.sql with team T-D's webhook_url on a real receiver on loopback; --once
on its own state schema each time:
  - no team_webhook_secret_file, no team_webhooks: the receiver gets T-D's alerts (C-INIT-1..3
    among them), with webhook-id and webhook-timestamp and no webhook-signature;
  - team_webhook_secret_file set: the same alerts, each signed, as the npm standardwebhooks
    package verifies;
  - team_webhooks.allowed_hosts naming another host: nothing to the team's URL, and --once
    still exits 0.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwteamhooks is dropped and created here. Standard library and node (standardwebhooks).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

KIDS = {"C-INIT-1", "C-INIT-2", "C-INIT-3"}


def conf(db, state, **extra):
    c = {"database": {"conninfo": db.conninfo("dw-teamhooks"), "case_schema": "casework",
                      "state_schema": state},
         "timezone": "Europe/London",
         "link_template": "https://lcs.example/person/{child_id}",
         "addresses": lib.addresses()}
    c.update(extra)
    return c


def children(reqs):
    return {((r["json"] or {}).get("data") or {}).get("child_id") for r in reqs}


def headers(r):
    return {k.lower(): v for k, v in (r.get("headers") or {}).items()}


def run(t, procs, tmp):
    db = lib.Db("dwteamhooks")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "daemon.sql"))
    hook = lib.Receiver(procs, tmp, "team")
    db.run("UPDATE casework.teams SET webhook_url = '%s' WHERE team_id = 'T-D'"
           % hook.url("/unsigned"))
    r = lib.run_once(lib.write_config(tmp, "unsigned", conf(db, "th_unsigned")), "2026-11-21")
    got = hook.requests("/unsigned")
    t.check(r.rc == 0 and KIDS <= children(got),
            "no secret, no allowed_hosts: the team's URL gets its alerts (%d requests, exit %s)"
            % (len(got), r.rc), r.err[-2000:])
    hs = [headers(x) for x in got]
    t.check(got and all("webhook-id" in h and "webhook-timestamp" in h for h in hs)
            and not any("webhook-signature" in h for h in hs),
            "... each with webhook-id and webhook-timestamp, unsigned", str(hs[:2]))

    secret = lib.new_secret()
    secret_file = os.path.join(tmp, "team-secret")
    with open(secret_file, "w") as f:
        f.write(secret + "\n")
    os.chmod(secret_file, 0o600)
    db.run("UPDATE casework.teams SET webhook_url = '%s' WHERE team_id = 'T-D'"
           % hook.url("/signed"))
    r = lib.run_once(lib.write_config(tmp, "signed", conf(
        db, "th_signed", team_webhook_secret_file=secret_file)), "2026-11-21")
    got = hook.requests("/signed")
    ok, vector, out = lib.verify_signatures(hook, secret, "/signed", len(got))
    t.check(r.rc == 0 and KIDS <= children(got) and ok and vector,
            "team_webhook_secret_file: the same alerts, each signed as standardwebhooks "
            "verifies (%d requests)" % len(got), (r.err[-1500:] + out)[-3000:])

    db.run("UPDATE casework.teams SET webhook_url = '%s' WHERE team_id = 'T-D'"
           % hook.url("/limited"))
    r = lib.run_once(lib.write_config(tmp, "limited", conf(
        db, "th_limited", team_webhooks={"allowed_hosts": ["hooks.la.example"]})),
        "2026-11-21")
    t.check(r.rc == 0 and not hook.requests("/limited"),
            "team_webhooks.allowed_hosts naming another host: nothing to the team's URL "
            "(exit %s)" % r.rc, r.err[-2000:])
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "team_webhooks", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
