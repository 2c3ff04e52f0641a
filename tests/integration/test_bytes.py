#!/usr/bin/python3
"""Any bytes: a SQL_ASCII case database, where PostgreSQL checks no encoding, with bytes that are
not UTF-8 in every text column of every contract relation (issue 9, "Any bytes").

Two copies of one generated population go into a SQL_ASCII database: `clean`, where chosen values
get the ASCII suffix "X", and `dirty`, where the same values get the bytes 0xE9 0xFF instead.
What a person reads must be the same in both, with each bad byte shown as U+FFFD; keys made of
such bytes still join (they are only compared); the fingerprint is the SHA-256 of the bytes as
stored; recording into a state schema in the same database works, twice.

Environment as tests/integration/test_rules.py (DRIFTWATCHD, DWGEN, PG*, DW_TOP).
"""

import hashlib
import json
import os
import subprocess
import sys
import tempfile

TOP = os.environ.get("DW_TOP") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
import tap  # noqa: E402

DAEMON = os.environ.get("DRIFTWATCHD") or os.path.join(TOP, "build/san/driftwatchd")
DWGEN = os.environ.get("DWGEN") or os.path.join(TOP, "build/dwgen")
PGHOST = os.environ.get("PGHOST") or "127.0.0.1"
if PGHOST.startswith("/"):
    PGHOST = "127.0.0.1"
PGPORT = os.environ.get("PGPORT") or "15432"
PGUSER = os.environ.get("PGUSER") or "dwtest"
DB = "dw_bytes"
T = "2026-11-21"
CHILDREN = "8000"
TIMEOUT = int(os.environ.get("DW_RUN_TIMEOUT", "300"))

# Every text column of the contract, by relation. Keys that other relations name are changed
# alike everywhere (a child, a worker, a team, a family), so that rows still join.
CHILD_RELS = ["children", "allocations", "referrals", "cin_plans", "cp_plans", "appointments",
              "strategies"]
OWN_TEXT = {
    "teams": ["name", "manager_email", "webhook_url"],
    "workers": ["display_name", "email", "role"],
    "allocations": ["allocation_id"],
    "referrals": ["referral_id", "primary_need", "closure_reason"],
    "cin_plans": ["plan_id"],
    "cp_plans": ["plan_id", "initial_category", "latest_category"],
    "appointments": ["appointment_id", "service", "outcome"],
    "strategies": ["strategy_id", "kind"],
}
WORKER_REFS = [("workers", "worker_id"), ("workers", "supervisor_id"),
               ("allocations", "worker_id"), ("cp_plans", "chair_id")]
TEAM_REFS = [("teams", "team_id"), ("workers", "team_id")]


def env(db=DB):
    e = dict(os.environ)
    e.update(PGHOST=PGHOST, PGPORT=PGPORT, PGUSER=PGUSER, PGDATABASE=db)
    return e


def psql(args, db=DB, stdin=None):
    return subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"] + args, input=stdin,
                          capture_output=True, env=env(db), timeout=300)


def bail(name, why):
    tap.ok(False, name, why)
    sys.exit(1)


def mutations(schema, suffix):
    """UPDATEs appending suffix (an SQL expression) to about a quarter of each text value."""
    q = '"%s"' % schema
    sql = []

    def upd(rel, col, where):
        sql.append("UPDATE %s.%s SET %s = %s || %s WHERE %s IS NOT NULL AND %s;"
                   % (q, rel, col, col, suffix, col, where))
    for rel in CHILD_RELS:
        upd(rel, "child_id", "md5(child_id) < '4'")
    upd("children", "family_id", "md5(family_id) < '4'")
    for rel, col in WORKER_REFS:
        upd(rel, col, "md5(%s) < '4'" % col)
    for rel, col in TEAM_REFS:
        upd(rel, col, "md5(%s) < '4'" % col)
    for rel, cols in OWN_TEXT.items():
        for col in cols:
            # codes that rules read are changed rarely: those rows become bad rows alike
            rare = col in ("outcome", "initial_category", "latest_category", "primary_need")
            upd(rel, col, "md5(%s::text) < '%s'" % (col, "04" if rare else "4"))
    return "\n".join(sql)


def load_copies(db, encoding, suffixes):
    """Database db (encoding) afresh, with one generated population per (schema, suffix): the
    same children in each, the values of mutations() ending in that suffix's bytes."""
    r = psql(["-c", "DROP DATABASE IF EXISTS %s" % db], db="postgres")
    r = r if r.returncode else psql(["-c", "CREATE DATABASE %s ENCODING '%s' "
                                     "LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
                                     % (db, encoding)], db="postgres")
    if r.returncode:
        bail("create a %s database" % encoding, r.stderr.decode(errors="replace"))
    for schema, suffix in suffixes:
        r = psql(["-v", "schema=" + schema, "-f", os.path.join(TOP, "rules/contract.sql")], db=db)
        if r.returncode:
            bail("load the contract into " + schema, r.stderr.decode(errors="replace"))
        gen = subprocess.run([DWGEN, "--children", CHILDREN, "--seed", "11", "--as-of", T,
                              "--schema", schema], capture_output=True, timeout=120)
        if gen.returncode:
            bail("generate " + schema, gen.stderr.decode(errors="replace"))
        r = psql([], stdin=gen.stdout, db=db)
        if r.returncode:
            bail("load the generated children into " + schema, r.stderr.decode(errors="replace"))
        r = psql([], stdin=mutations(schema, suffix.replace("\\\\", "\\")).encode(), db=db)
        if r.returncode:
            bail("put the bytes into " + schema, r.stderr.decode(errors="replace"))


def setup():
    load_copies(DB, "SQL_ASCII", (("clean", "'X'"), ("dirty", "E'\\\\xe9\\\\xff'")))
    r = psql(["-Atc", "SELECT count(*) FROM dirty.children WHERE child_id LIKE E'%\\xe9\\xff'"])
    tap.ok(r.returncode == 0 and int(r.stdout or b"0") > 100,
           "the dirty copy holds child ids ending in bytes 0xE9 0xFF",
           r.stderr.decode(errors="replace"), r.stdout)


def config(path, schema, state, db=DB):
    cfg = {"database": {"conninfo": "host=%s port=%s dbname=%s user=%s"
                        % (PGHOST, PGPORT, db, PGUSER),
                        "case_schema": schema, "state_schema": state},
           "addresses": {"fallback": "duty@la.example", "cp_chair": "chairs@la.example",
                         "cp_manager": "cpm@la.example", "head_of_service": "hos@la.example"},
           "link_template": "https://lcs.example/person/{child_id}"}
    with open(path, "w") as f:
        json.dump(cfg, f)


def dry_runs(tmp, db, strict=False):
    """{schema: (stdout lines, alerts, stderr)} of a dry run on each copy; strict: no rule may
    fail either."""
    results = {}
    for schema in ("clean", "dirty"):
        cfg = os.path.join(tmp, schema + ".json")
        config(cfg, schema, "st_" + schema, db)
        rc, out, err = run(cfg, "--dry-run")
        tap.ok(rc == 0 and not (strict and "FAILED" in err),
               "dry run on %s exits 0%s" % (schema, ", no rule failed" if strict else ""),
               err[-3000:])
        try:
            lines = out.decode("utf-8").splitlines()
            alerts = [json.loads(l) for l in lines]
        except (UnicodeDecodeError, ValueError) as e:
            bail("dry run on %s prints JSON lines in UTF-8" % schema, e)
        results[schema] = (lines, alerts, err)
    return results


def run(cfg, *args):
    r = subprocess.run([DAEMON, "-c", cfg, "--once", "--as-of", T] + list(args),
                       capture_output=True, stdin=subprocess.DEVNULL, timeout=TIMEOUT)
    return r.returncode, r.stdout, r.stderr.decode(errors="replace")


def normal(alert):
    """What a person reads, with the dirty bytes as the clean suffix: no fingerprint or link
    (made from the bytes as stored), no email addresses (an address with bytes that are not
    UTF-8 is one nobody can use)."""
    a = dict(alert)
    a.pop("fingerprint", None)
    a.pop("link", None)
    a["recipients"] = [{"role": r.get("role"), "worker_id": r.get("worker_id")}
                       for r in a.get("recipients", [])]
    return json.dumps(a, sort_keys=True).replace("\\ufffd\\ufffd", "X")


def raw_ids(column_sql):
    """Every value of the id columns, as bytes, by its shown (repaired) form."""
    r = psql(["-At", "-c", "SELECT DISTINCT encode(convert_to(v, 'SQL_ASCII'), 'hex') FROM (%s) x(v) "
              "WHERE v IS NOT NULL" % column_sql])
    out = {}
    for line in r.stdout.decode().split():
        b = bytes.fromhex(line)
        out[b.decode("utf-8", errors="replace")] = b
    return out


def main():
    setup()
    tmp = tempfile.mkdtemp(prefix="dw-bytes-")
    results = {k: v[1:] for k, v in dry_runs(tmp, DB).items()}
    clean, dirty = results["clean"][0], results["dirty"][0]
    tap.ok(len(clean) > 30, "the clean copy yields alerts (%d)" % len(clean))
    shown = [a for a in dirty if "\ufffd" in a["child_id"]]
    tap.ok(len(shown) > 10, "alerts about children whose ids are not UTF-8 are there, with "
           "U+FFFD in place of each bad byte (%d)" % len(shown))
    nc, nd = sorted(normal(a) for a in clean), sorted(normal(a) for a in dirty)
    diff = [l for l in set(nc) ^ set(nd)][:6]
    tap.ok(nc == nd, "every alert of the dirty copy reads as in the clean one (%d and %d)"
           % (len(nc), len(nd)), *diff)
    tap.ok("not valid UTF-8" in results["dirty"][1] and "not valid UTF-8" not in
           results["clean"][1], "the summary counts the values shown with U+FFFD",
           results["dirty"][1][-1500:])

    kids = raw_ids("SELECT child_id FROM dirty.children UNION ALL SELECT child_id FROM "
                   "dirty.cp_plans UNION ALL SELECT child_id FROM dirty.appointments "
                   "UNION ALL SELECT child_id FROM dirty.allocations UNION ALL SELECT child_id "
                   "FROM dirty.cin_plans")
    subjects = raw_ids("SELECT plan_id FROM dirty.cp_plans UNION ALL SELECT plan_id FROM "
                       "dirty.cin_plans UNION ALL SELECT allocation_id FROM dirty.allocations "
                       "UNION ALL SELECT referral_id FROM dirty.referrals")
    wrong = []
    for a in shown:
        raw = kids.get(a["child_id"])
        subj = b"" if a["subject_id"] is None else subjects.get(a["subject_id"], None)
        if raw is None or subj is None:
            wrong.append("no stored id for %r / %r" % (a["child_id"], a["subject_id"]))
            continue
        want = hashlib.sha256(a["rule"].encode() + b"\x1f" + raw + b"\x1f" + subj).hexdigest()
        if want != a["fingerprint"]:
            wrong.append("%s %r: %s, want %s" % (a["rule"], a["child_id"], a["fingerprint"], want))
    tap.ok(not wrong, "the fingerprint is the SHA-256 of the ids' bytes as stored (%d checked)"
           % len(shown), *wrong[:5])
    links = [a["link"] for a in shown if "%E9%FF" not in a["link"]]
    tap.ok(not links, "the link carries the stored bytes, percent-encoded", *links[:3])

    cfg = os.path.join(tmp, "dirty.json")
    rc1, _, err1 = run(cfg)
    tap.ok(rc1 == 0 and "changes: %d new" % len(dirty) in err1,
           "--once records every alert into a state schema of the SQL_ASCII database", err1[-3000:])
    rc2, _, err2 = run(cfg)
    tap.ok(rc2 == 0 and "changes: 0 new, 0 escalated, 0 updated, 0 resolved" in err2,
           "--once again on the same day changes nothing", err2[-3000:])
    r = psql(["-Atc", "SELECT count(*) FROM st_dirty.alerts WHERE status = 'firing' AND "
              "child_id LIKE E'%\\xef\\xbf\\xbd%'"])
    tap.ok(r.returncode == 0 and int(r.stdout or b"0") == len(shown),
           "the state keeps those alerts with their ids as shown", r.stdout, r.stderr)
    sys.exit(1 if tap.failures else 0)


if __name__ == "__main__":
    main()
