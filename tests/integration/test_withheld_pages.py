#!/usr/bin/python3
"""test_withheld_pages: the pages answer when a grant withholds a column they can do without.

Audit 12's leftover: the rules read a withheld teams.webhook_url, workers.display_name or
children.disability as NULL (test_withheld_column), but the pages and the API read teams,
workers and children for who is who and for a child's chronology, and failed outright: every
person got an error page while the alerts were being recorded and sent.

tests/fixtures/daemon.sql; the case data read by a role granted every column but
teams.webhook_url, workers.display_name and children.disability (the state as the owner,
state.conninfo); the real daemon with the pages on:
  - the first evaluation records alerts;
  - the team manager's /, their team's page, a child's page and /service answer 200, and the
    home page lists the team's children;
  - the child's page and the team page show no name where there is none to read (no error);
  - the daemon stops cleanly.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwwhpages and role dwwhp_dw are dropped and created here. Standard library only.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import hostile  # noqa: E402  (tests/lib/hostile.py: the daemon in the background)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

ROLE = "dwwhp_dw"
GRANTS = """
REVOKE SELECT ON casework.teams, casework.workers, casework.children FROM %(r)s;
GRANT SELECT (team_id, name, manager_email) ON casework.teams TO %(r)s;
GRANT SELECT (worker_id, email, team_id, supervisor_id, role) ON casework.workers TO %(r)s;
GRANT SELECT (child_id, family_id, date_of_birth, expected_dob) ON casework.children TO %(r)s;
""" % {"r": ROLE}
PERSON = {"X-Forwarded-Email": "dsup@la.example"}


def run(t, procs, tmp):
    db = lib.Db("dwwhpages")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "daemon.sql"))
    conninfo = lib.reader_role(db, ROLE, GRANTS)
    web_port = lib.free_port()
    secret = os.path.join(tmp, "link.secret")
    with open(secret, "w") as f:
        f.write("a-link-secret-of-enough-length-for-the-test-0123456789\n")
    os.chmod(secret, 0o600)
    cfg = lib.write_config(tmp, "withheld-pages", {
        "database": {"conninfo": conninfo, "case_schema": "casework"},
        "state": {"conninfo": db.conninfo("dwwhpages-state")},
        "timezone": "Europe/London",
        "link_template": "https://lcs.example/person/{child_id}",
        "addresses": lib.addresses(),
        "evaluation": {"interval_seconds": 3600},
        "web": {"listen": "127.0.0.1:%d" % web_port, "public_url": "https://dw.la.example",
                "link_secret_file": secret, "trusted_proxies": ["127.0.0.1"]}})
    d = hostile.Daemon(procs, tmp, cfg, name="daemon-withheld-pages")
    n = lib.wait_for(lambda: hostile.firing(db) or None, 60, step=0.5)
    t.check(n, "the first evaluation records alerts (%s)" % n, "\n".join(d.lines()[-20:]))
    child = db.value("SELECT child_id FROM driftwatch.alerts WHERE status = 'firing' "
                     "AND team_id = 'T-D' ORDER BY child_id LIMIT 1")
    t.check(child, "one of them is a child of team T-D (%s)" % child)
    st, home = hostile.page(web_port, "/", PERSON)
    t.check(st == 200 and child and child in home,
            "the team manager's / answers 200 and lists %s (%s)" % (child, st), home[:400])
    for path in ("/team/T-D", "/child/%s" % child, "/service"):
        st, body = hostile.page(web_port, path, PERSON)
        t.check(st == 200, "%s answers 200 (%s)" % (path, st), body[:400])
    st, body = hostile.page(web_port, "/child/%s" % child, PERSON)
    t.check(st == 200 and "Worker One" not in body and "Worker Two" not in body,
            "... the child's page shows no worker's name, which the role may not read")
    said = [x for x in d.lines() if "may not SELECT it" in x]
    t.check(len(said) == 3, "the log says once for each of the three columns (%d)" % len(said),
            "\n".join(said))
    hostile.stop(d, t, "the daemon")
    lib.drop_reader_role(db, ROLE)


def main():
    t = Tap()
    return lib.run_test(t, "withheld_pages", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
