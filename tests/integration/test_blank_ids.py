#!/usr/bin/python3
"""test_blank_ids: a child_id of spaces or nothing is a bad row, not a child.

Audit 17: rows whose child_id was '' were evaluated as a child of that name: its alerts went out
with a link ending in /person/ and a page for nobody. Such an id names no child, as NULL names
none: the row is a bad row of its own kind (blank_child_id; blank_key in children) and takes no
part, and the children that have ids are judged as before.

tests/fixtures/boundaries.sql (evaluated on its main day, 2026-11-21), then a copy of every row of the six relations that name a child
with a key, with child_id '' (keys prefixed BL-), and two children rows with ids '' and '   ':
  - --once --dry-run: exit 0, the same alerts byte for byte as before the copies, none for a
    blank id;
  - the summary counts each relation's blank rows as blank_child_id (children: blank_key, 2),
    exactly as many as there are distinct keyed blank rows, and the same number of children
    evaluated.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwblank is dropped and created here. Standard library only.
"""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

DAY = "2026-11-21"
RELATIONS = {"allocations": "allocation_id", "referrals": "referral_id", "cin_plans": "plan_id",
             "cp_plans": "plan_id", "appointments": "appointment_id",
             "strategies": "strategy_id"}


def blank_copies():
    sql = []
    for rel, key in RELATIONS.items():
        sql.append("CREATE TEMP TABLE bl_{r} AS SELECT * FROM casework.{r} WHERE {k} IS NOT NULL;"
                   "UPDATE bl_{r} SET {k} = 'BL-' || {k}, child_id = '';"
                   "INSERT INTO casework.{r} SELECT * FROM bl_{r};".format(r=rel, k=key))
    sql.append("INSERT INTO casework.children (child_id, family_id) VALUES ('', 'F-BL'), "
               "('   ', 'F-BL');")
    return "\n".join(sql)


def summary_counts(err):
    """{relation.kind: n} and the children evaluated, from the dry run's summary."""
    kinds = {}
    for m in re.finditer(r"bad rows in (\w+): (.*)", err):
        for kv in m.group(2).split():
            k, _, v = kv.partition("=")
            kinds["%s.%s" % (m.group(1), k)] = int(v)
    m = re.search(r"(\d+) children evaluated", err)
    return kinds, int(m.group(1)) if m else None


def run(t, procs, tmp):
    db = lib.Db("dwblank")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "boundaries.sql"))
    cfg = lib.write_config(tmp, "blank", {
        "database": {"conninfo": db.conninfo("dwblank"), "case_schema": "casework"},
        "timezone": "Europe/London",
        "link_template": "https://lcs.example/person/{child_id}",
        "addresses": lib.addresses()})
    r = lib.run_daemon(cfg, "--once", "--dry-run", "--as-of", DAY, timeout=300)
    want = sorted(x for x in r.out.splitlines() if x.startswith("{"))
    kinds0, evaluated0 = summary_counts(r.out + r.err)
    t.check(r.rc == 0 and len(want) > 0 and evaluated0,
            "before: exit 0, %d alerts, %s children evaluated" % (len(want), evaluated0),
            r.err[-2000:])

    db.run(blank_copies())
    expect = {}
    for rel, key in RELATIONS.items():
        n = db.value("SELECT count(*) FROM (SELECT DISTINCT * FROM casework.%s "
                     "WHERE child_id = '' AND %s IS NOT NULL) d" % (rel, key))
        expect["%s.blank_child_id" % rel] = int(n)
    expect["children.blank_key"] = 2
    t.check(all(v > 0 for v in expect.values()), "every relation has blank rows to count: %s"
            % expect)

    r = lib.run_daemon(cfg, "--once", "--dry-run", "--as-of", DAY, timeout=300)
    got = sorted(x for x in r.out.splitlines() if x.startswith("{"))
    kinds, evaluated = summary_counts(r.out + r.err)
    t.check(r.rc == 0 and "FAILED" not in r.err, "with blank ids: exit 0, no rule FAILED (exit %s)"
            % r.rc, r.err[-3000:])
    t.check(got == want, "... the same alerts, byte for byte (%d and %d)" % (len(got), len(want)),
            "\n".join(sorted(set(got) ^ set(want))[:6]))
    t.check(not any('"child_id": ""' in x or '"child_id":""' in x or "/person/\"" in x
                    for x in got), "... none for a blank id")
    found = {k: v for k, v in kinds.items() if ".blank_" in k}
    t.check(found == expect, "... each relation's blank rows counted as such: %s" % found,
            "want %s" % expect)
    others = {k: v for k, v in kinds.items() if ".blank_" not in k}
    t.check(others == kinds0, "... and the other bad rows as before",
            "before %s\nafter %s" % (kinds0, others))
    t.check(evaluated == evaluated0, "... and the same children evaluated (%s, %s)"
            % (evaluated, evaluated0))
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "blank_ids", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
