#!/usr/bin/python3
"""test_ca_file: email.ca_file that cannot be used is said at once, naming the key, and nothing
is lost.

Audit 16: a missing `email.ca_file`, or one that is a directory, failed `--check-config` but the
daemon started without a word: mail then failed at the first email with curl's own message,
naming no key. A file that holds no certificate passed both.

Hand-made data: a supervisor, a worker and a child on a CP plan at 15 months on 2027-03-01; one
webhook receiver and a real SMTP server (STARTTLS, the test CA).
  1. `--check-config` with ca_file missing, a directory, or a file of no certificate: exit 2,
     naming email.ca_file and what is wrong;
  2. `--once` with the file missing: the log names email.ca_file; the webhook still goes; no
     email is sent;
  3. the file put right, `--once` again the same day: the email that waited arrives.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwca_file is dropped and created here. Standard library only.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

DATA = """
SET search_path = casework;
INSERT INTO teams VALUES ('T1', 'Team one', 't1-mgr@la.example', NULL);
INSERT INTO workers VALUES
  ('SUP', 'Supervisor', 'sup@la.example', 'T1', NULL, 'team_manager'),
  ('SW', 'Worker', 'sw@la.example', 'T1', 'SUP', 'social_worker'),
  ('CH', 'Chair', 'ch@la.example', NULL, NULL, 'cp_chair');
INSERT INTO children VALUES ('C1', 'F1', '2015-01-01', NULL, false);
INSERT INTO allocations VALUES ('A1', 'C1', 'SW', '2025-01-01', NULL);
INSERT INTO cp_plans VALUES ('P1', 'C1', '2025-11-20', NULL, 'NEG', NULL, 'CH');
"""


def with_ca(cfg, ca_file):
    with open(cfg) as f:
        conf = json.load(f)
    conf["email"]["ca_file"] = ca_file
    with open(cfg, "w") as f:
        json.dump(conf, f, indent=1)


def run(t, procs, tmp):
    ca = lib.make_ca(tmp)
    good = os.path.join(ca, "ca.pem")
    hooks = lib.Receiver(procs, tmp, "hooks")
    db, smtp, cfg = lib.hand_made_mail(
        procs, tmp, ca, "dwca_file", DATA,
        webhooks=[{"url": hooks.url("/hook"), "secret": lib.new_secret()}])
    missing = os.path.join(tmp, "no-such-ca.pem")
    not_pem = os.path.join(tmp, "not-a-bundle.pem")
    with open(not_pem, "w") as f:
        f.write("this is not a certificate\n")
    for path, want in ((missing, "No such file or directory"), (tmp, "is a directory"),
                       (not_pem, "holds no PEM certificate")):
        with_ca(cfg, path)
        r = lib.run_daemon(cfg, "--check-config")
        rc, out = r.rc, r.out + r.err
        t.check(rc == 2 and ("email.ca_file: %s: %s" % (path, want)) in out,
                "--check-config, ca_file %s: exit 2 naming email.ca_file and '%s' (exit %s)"
                % (os.path.basename(path), want, rc), out[-2000:])

    with_ca(cfg, missing)
    r = lib.run_once(cfg, "2027-03-01")
    t.check(not r.sanitizer() and r.rc != "timeout", "--once with ca_file missing ends",
            r.diag())
    t.check("email.ca_file: %s: No such file or directory" % missing in r.err,
            "... its log names email.ca_file and the path", r.diag())
    t.check(any(((q["json"] or {}).get("data") or {}).get("child_id") == "C1"
                for q in hooks.requests()),
            "... the webhook about C1 still goes")
    t.check(smtp.count() == 0, "... no email is sent (%d)" % smtp.count())

    with_ca(cfg, good)
    r = lib.run_daemon(cfg, "--check-config")
    rc, out = r.rc, r.out + r.err
    t.check(rc == 0, "with the CA bundle back, --check-config passes (exit %s)" % rc, out[-2000:])
    r = lib.run_once(cfg, "2027-03-01")
    t.check(r.rc == 0 and not r.sanitizer(), "--once again the same day", r.diag())
    sup = [m for m in smtp.messages() if m["to"] == "sup@la.example"]
    t.check(len(sup) == 1 and "C1" in sup[0]["text"],
            "the email to the supervisor that waited arrives, about C1 (%d)" % len(sup))
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "ca_file", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
