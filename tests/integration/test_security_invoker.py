#!/usr/bin/python3
"""test_security_invoker: a view the role may read over tables it may not is named at once.

Audit 17: the contract's appointments as a view WITH (security_invoker = true) over a table the
role had no privilege on. --check-config looked at the view's own privileges, said the
configuration was good (exit 0), and was_not_brought and worker_change then failed on every
run with "permission denied for table appointments".

tests/fixtures/daemon.sql in casework (the base tables); schema cw_inv of views over them, the
appointments view with security_invoker; a role granted USAGE on cw_inv and SELECT on its views
only:
  - --check-config: exit 2, naming database.case_schema, the relation and what to grant;
  - --once --dry-run: the rules that do not read appointments give the owner's alerts; its
    log says the same at the start;
  - the same views without security_invoker: --check-config passes (no such line).

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwsecinv and role dwsi_dw are dropped and created here. Standard library only.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

ROLE = "dwsi_dw"
RELATIONS = ("teams", "workers", "children", "allocations", "referrals", "cin_plans",
             "cp_plans", "appointments", "strategies")


def views(db, invoker):
    sql = ["DROP SCHEMA IF EXISTS cw_inv CASCADE; CREATE SCHEMA cw_inv;",
           "GRANT USAGE ON SCHEMA cw_inv TO %s;" % ROLE]
    for r in RELATIONS:
        sql.append("CREATE VIEW cw_inv.%s WITH (security_invoker = %s) AS "
                   "SELECT * FROM casework.%s;" % (r, "true" if invoker and r == "appointments"
                                                   else "false", r))
        sql.append("GRANT SELECT ON cw_inv.%s TO %s;" % (r, ROLE))
    db.run("\n".join(sql))


def config(tmp, db, name, conninfo, schema):
    return lib.write_config(tmp, name, {
        "database": {"conninfo": conninfo, "case_schema": schema},
        "state": {"conninfo": db.conninfo("dwsecinv-state")},
        "timezone": "Europe/London",
        "link_template": "https://lcs.example/person/{child_id}",
        "addresses": lib.addresses()})


def run(t, procs, tmp):
    db = lib.Db("dwsecinv")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "daemon.sql"))
    db.run("""
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '%(r)s') THEN
    CREATE ROLE %(r)s LOGIN NOSUPERUSER NOBYPASSRLS;
  END IF;
END $$;""" % {"r": ROLE})
    role = db.conninfo(ROLE).replace("user=%s" % lib.PGUSER, "user=%s" % ROLE)
    views(db, True)
    cfg = config(tmp, db, "invoker", role, "cw_inv")
    r = lib.run_daemon(cfg, "--check-config", timeout=300)
    rc, out, err = r.rc, r.out, r.err
    said = [x for x in (out + err).splitlines() if "may SELECT it but not what it reads" in x]
    t.check(rc == 2 and len(said) == 1 and "database.case_schema" in said[0]
            and '"cw_inv"."appointments"' in said[0] and "GRANT SELECT" in said[0],
            "--check-config: exit 2, naming database.case_schema, cw_inv.appointments and the "
            "GRANT (exit %s)" % rc, (out + err)[-2500:])

    owner_cfg = config(tmp, db, "owner", db.conninfo("dwsecinv"), "casework")
    r = lib.run_daemon(owner_cfg, "--once", "--dry-run", timeout=300)
    orc, oout, oerr = r.rc, r.out, r.err
    r = lib.run_daemon(cfg, "--once", "--dry-run", timeout=300)
    rc, out, err = r.rc, r.out, r.err

    def others(text):
        return sorted(x for x in text.splitlines() if x.startswith("{")
                      and json.loads(x)["rule"] not in ("was_not_brought", "worker_change"))
    t.check(orc == 0 and others(oout) and others(out) == others(oout),
            "--once --dry-run: the rules that do not read appointments give the owner's "
            "alerts (%d and %d)" % (len(others(out)), len(others(oout))), err[-2000:])
    t.check(any("may SELECT it but not what it reads" in x for x in err.splitlines()),
            "... and its log says why at the start", err[-2000:])

    views(db, False)
    r = lib.run_daemon(cfg, "--check-config", timeout=300)
    rc, out, err = r.rc, r.out, r.err
    t.check(rc == 0 and "not what it reads" not in out + err,
            "the same views without security_invoker: --check-config passes (exit %s)" % rc,
            (out + err)[-2000:])
    lib.drop_reader_role(db, ROLE)


def main():
    t = Tap()
    return lib.run_test(t, "security_invoker", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
