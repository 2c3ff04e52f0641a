#!/usr/bin/python3
"""test_state_analyze: a whole evaluation that changes many alerts analyzes the state's tables.

Until the state's tables are analyzed, the planner takes them for the few rows they held when
they were made: resolving one notified child's alerts then read every firing alert of its rule
(3-4 ms a rule at 21,000 alerts, most of an incremental evaluation's time), and it stays so
until autovacuum comes round, never before a daemon started right after a first --once. The
record step analyzes alerts, alert_events and outbox after committing an evaluation that
changed at least 1,000 alerts (daemon/record.c).

On the generator's dense shape (8,000 children: well over 1,000 alerts); analyze_count counts
only explicit ANALYZE, never autovacuum's:
  - the first `--once` records the alerts, and the three tables have been analyzed
    (pg_stat_user_tables.analyze_count) with statistics that count the rows now there;
  - with those statistics, the statement that resolves one child's alerts is planned on the
    alerts' child index, not on reading the rule's firing alerts;
  - a second `--once` on the same day changes nothing, analyzes nothing and writes no alert's
    row again (state_v10.sql: only the list of alerts seen);
  - a child's appointments deleted, a third `--once` that day resolves its was_not_brought
    alerts and leaves every other alert firing.

Environment: DRIFTWATCHD, DWGEN, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR;
database dwanalyze is dropped and created here. Standard library only.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

AS_OF = "2026-11-30"
STATE = "dwa_state"
TABLES = ("alerts", "alert_events", "outbox")
DWGEN = os.environ.get("DWGEN") or os.path.join(lib.TOP, "build", "dwgen")


def load(db):
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "rules", "contract_indexes.sql"))
    gen = subprocess.run([DWGEN, "--children", "8000", "--seed", "11", "--as-of", AS_OF,
                          "--shape", "dense", "--schema", "casework"],
                         capture_output=True, text=True, timeout=300)
    if gen.returncode != 0:
        raise RuntimeError("dwgen failed: " + gen.stderr[-2000:])
    db._psql([], stdin=gen.stdout)


def analyze_counts(db):
    return {r["relname"]: r["analyze_count"] for r in db.rows(
        "SELECT relname, analyze_count FROM pg_stat_user_tables "
        "WHERE schemaname = '%s' AND relname IN ('alerts', 'alert_events', 'outbox')" % STATE)}


def resolve_plan(db, child):
    """The plan of record_resolve.sql for one child, as the daemon sends it (unnamed, so
    planned for its parameters)."""
    with open(os.path.join(lib.TOP, "daemon", "sql", "record_resolve.sql")) as f:
        sql = f.read().replace("@state@", STATE).rstrip().rstrip(";")
    script = ("BEGIN;\nPREPARE r(text, date, text[], boolean, text, text, timestamp, "
              "text, jsonb) AS %s;\n"
              "EXPLAIN (FORMAT JSON) EXECUTE r('was_not_brought', '%s', ARRAY['%s'], "
              "false, 'd', NULL, NULL, 'Europe/London', '[]');\nROLLBACK;\n"
              % (sql, AS_OF, child))
    out = db._psql(["-At"], stdin=script)
    return json.dumps(json.loads(out[out.index("["):]))


def row_versions(db):
    """Each alert's row version: a write of the row, even of the same values, changes it."""
    return [(r["alert_id"], r["v"]) for r in db.rows(
        "SELECT alert_id, ctid::text || '/' || xmin::text AS v FROM %s.alerts ORDER BY alert_id"
        % STATE)]


def body(t, procs, tmp):
    db = lib.Db("dwanalyze")
    db.recreate()
    load(db)
    cfg = lib.write_config(tmp, "analyze", {
        "database": {"conninfo": db.conninfo("dwanalyze"), "case_schema": "casework",
                     "state_schema": STATE},
        "addresses": lib.addresses()})
    r = lib.run_once(cfg, AS_OF)
    t.check(r.rc == 0 and not r.sanitizer(), "the first --once records the dense authority",
            r.diag())
    alerts = int(db.value("SELECT count(*) FROM %s.alerts" % STATE) or 0)
    t.check(alerts >= 1000, "it recorded at least 1,000 alerts (%d)" % alerts)
    counts = analyze_counts(db)
    t.check(all(counts.get(n, 0) >= 1 for n in TABLES),
            "alerts, alert_events and outbox were analyzed after the commit", repr(counts))
    t.check("could not analyze" not in r.err, "no warning about the analysis", r.err[-1500:])
    est = int(db.value("SELECT reltuples::bigint FROM pg_class WHERE oid = '%s.alerts'::regclass"
                       % STATE) or -1)
    t.check(abs(est - alerts) <= alerts // 10,
            "the statistics count the alerts now there (%d estimated, %d there)" % (est, alerts))
    child = db.value("SELECT child_id FROM %s.alerts WHERE rule = 'was_not_brought' "
                     "AND status = 'firing' LIMIT 1" % STATE)
    plan = resolve_plan(db, child or "C-000001")
    t.check("alerts_child_idx" in plan and "alerts_firing_idx" not in plan,
            "resolving one child's alerts is planned on the child index", plan[:1500])

    versions = row_versions(db)
    r = lib.run_once(cfg, AS_OF)
    t.check(r.rc == 0 and "changes: 0 new, 0 escalated, 0 updated, 0 resolved" in r.out + r.err,
            "a second --once on the same day changes nothing", r.diag())
    again = analyze_counts(db)
    t.check(again == counts, "... and analyzes nothing", "%r then %r" % (counts, again))
    after = row_versions(db)
    t.check(after == versions and len(after) == alerts,
            "... and writes no alert's row again (state_v10.sql)",
            "%d of %d rows have a new version" % (len(set(after) - set(versions)), alerts))

    # An alert that stops holding still resolves when the others were only listed as seen.
    gone = int(db.value("SELECT count(*) FROM %s.alerts WHERE rule = 'was_not_brought' "
                        "AND status = 'firing' AND child_id = '%s'" % (STATE, child)) or 0)
    firing = int(db.value("SELECT count(*) FROM %s.alerts WHERE status = 'firing'" % STATE))
    db.run("DELETE FROM casework.appointments WHERE child_id = '%s'" % child)
    r = lib.run_once(cfg, AS_OF)
    t.check(r.rc == 0 and gone >= 1 and
            "changes: 0 new, 0 escalated, 0 updated, %d resolved" % gone in r.out + r.err,
            "a child's appointments gone: its %d was_not_brought alerts resolve, no other"
            % gone, r.diag())
    left = db.rows("SELECT child_id, rule FROM %s.alerts WHERE status = 'resolved'" % STATE)
    t.check(left == [{"child_id": child, "rule": "was_not_brought"}] * gone
            and int(db.value("SELECT count(*) FROM %s.alerts WHERE status = 'firing'" % STATE))
            == firing - gone, "... and the others stay firing", repr(left[:5]))
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "test_state_analyze", lambda procs, tmp: body(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
