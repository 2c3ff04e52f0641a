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
    alerts and leaves every other alert firing;
  - a whole evaluation empties its list of alerts seen (alert_seen) before it commits;
  - the form a notified child's evaluation prepares once a session (record.c: no "everyone"
    branch, under plan_cache_mode force_generic_plan) has a generic plan on the alerts' child
    index, never on the rule's firing alerts;
  - the daemon running (NOTIFY triggers installed), two children's appointments deleted one
    after another are each evaluated as notified children: their was_not_brought alerts
    resolve, every other alert stays firing, and alert_seen keeps no whole evaluation's list;
    so are 70 children's at once (more than record.c plans generically for).

Environment: DRIFTWATCHD, DWGEN, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR;
database dwanalyze is dropped and created here. Standard library only.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import hostile  # noqa: E402  (tests/lib/hostile.py: the daemon in the background)
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


def resolve_plan(db, child, notified=False):
    """The plan of record_resolve.sql for one child: as a whole evaluation sends it (unnamed,
    so planned for its parameters), or (notified) the generic plan of the form record.c
    prepares for notified children, its line for everyone rewritten as
    record_resolve_for_children does (test_record_sql checks the C side against the same two
    texts)."""
    with open(os.path.join(lib.TOP, "daemon", "sql", "record_resolve.sql")) as f:
        sql = f.read().replace("@state@", STATE).rstrip().rstrip(";")
    everyone = "a.rule = $1::text AND ($3::text[] IS NULL OR a.child_id = ANY($3::text[]))"
    if notified and sql.count(everyone) != 1:
        return "record_resolve.sql no longer holds the line for everyone once"
    if notified:
        sql = sql.replace(everyone, "a.child_id = ANY($3::text[]) AND a.rule || '' = $1::text")
    script = ("BEGIN;\n%sPREPARE r(text, date, text[], boolean, text, text, timestamp, "
              "text, jsonb) AS %s;\n"
              "EXPLAIN (FORMAT JSON) EXECUTE r('was_not_brought', '%s', ARRAY['%s'], "
              "false, 'd', NULL, NULL, 'Europe/London', '[]');\nROLLBACK;\n"
              % ("SET LOCAL plan_cache_mode = force_generic_plan;\n" if notified else "",
                 sql, AS_OF, child))
    out = db._psql(["-At"], stdin=script)
    return json.dumps(json.loads(out[out.index("["):]))


def firing_wnb_children(db, n):
    return [r["child_id"] for r in db.rows(
        "SELECT child_id FROM %s.alerts WHERE rule = 'was_not_brought' AND status = 'firing' "
        "GROUP BY child_id ORDER BY child_id LIMIT %d" % (STATE, n))]


def notified(t, procs, tmp, db, cfg):
    """Two children's appointments deleted while the daemon runs: each an incremental
    evaluation that resolves that child's was_not_brought alerts and nothing else."""
    r = lib.run_daemon(cfg, "--install-triggers")
    t.check(r.rc == 0, "the NOTIFY triggers are installed", r.diag())
    d = hostile.Daemon(procs, tmp, cfg, name="daemon-analyze")
    t.check(d.wait_log(r"evaluated everyone", 120),
            "the daemon evaluates everyone", "\n".join(d.lines()[-20:]))
    seen = lib.wait_for(lambda: db.value("SELECT count(*) FROM %s.alert_seen" % STATE) == "0"
                        or None, 10)
    t.check(seen, "... and its list of alerts seen is empty once it has committed",
            db.value("SELECT count(*) FROM %s.alert_seen" % STATE))
    firing = int(db.value("SELECT count(*) FROM %s.alerts WHERE status = 'firing'" % STATE))
    for kid in firing_wnb_children(db, 2):
        gone = int(db.value("SELECT count(*) FROM %s.alerts WHERE rule = 'was_not_brought' "
                            "AND status = 'firing' AND child_id = '%s'" % (STATE, kid)))
        mark = d.mark()
        db.run("DELETE FROM casework.appointments WHERE child_id = '%s'" % kid)
        line = d.wait_log(r"evaluated notified children", 60, since=mark)
        left = int(db.value("SELECT count(*) FROM %s.alerts WHERE rule = 'was_not_brought' "
                            "AND status = 'firing' AND child_id = '%s'" % (STATE, kid)))
        now = int(db.value("SELECT count(*) FROM %s.alerts WHERE status = 'firing'" % STATE))
        t.check(line and "%d resolved" % gone in line and left == 0 and now == firing - gone,
                "notified: %s's appointments gone, its %d was_not_brought alerts resolve and "
                "no other (%d firing, then %d)" % (kid, gone, firing, now),
                (line or "") + "\n" + "\n".join(d.since(mark)[-10:]))
        firing = now
    # A burst: more children than record.c plans generically for (RECORD_FEW_CHILDREN, 64),
    # recorded with the statements' text and plans for their own numbers.
    burst = firing_wnb_children(db, 70)
    gone = int(db.value("SELECT count(*) FROM %s.alerts WHERE rule = 'was_not_brought' "
                        "AND status = 'firing' AND child_id = ANY('{%s}')"
                        % (STATE, ",".join(burst))))
    mark = d.mark()
    db.run("DELETE FROM casework.appointments WHERE child_id = ANY('{%s}')" % ",".join(burst))
    line = d.wait_log(r"evaluated notified children", 60, since=mark)
    now = int(db.value("SELECT count(*) FROM %s.alerts WHERE status = 'firing'" % STATE))
    t.check(len(burst) == 70 and line and "%d resolved" % gone in line and now == firing - gone,
            "a burst of %d children notified at once: their %d was_not_brought alerts resolve "
            "and no other (%d firing, then %d)" % (len(burst), gone, firing, now),
            (line or "") + "\n" + "\n".join(d.since(mark)[-10:]))
    listed = int(db.value("SELECT count(*) FROM %s.alert_seen" % STATE))
    t.check(listed < 100, "alert_seen holds only the last notified children's alerts, not a whole "
            "evaluation's (%d rows)" % listed)
    t.check(not [x for x in d.lines() if x.startswith(("<3>", "<2>"))],
            "no error in the daemon's log",
            "\n".join(x for x in d.lines() if x.startswith(("<3>", "<2>"))))
    d.proc.terminate()
    d.proc.wait(30)


def row_versions(db):
    """Each alert's row version: a write of the row, even of the same values, changes it."""
    return [(r["alert_id"], r["v"]) for r in db.rows(
        "SELECT alert_id, ctid::text || '/' || xmin::text AS v FROM %s.alerts ORDER BY alert_id"
        % STATE)]


def body(t, procs, tmp):
    db = lib.Db("dwanalyze")
    db.recreate()
    load(db)
    conf = {"database": {"conninfo": db.conninfo("dwanalyze"), "case_schema": "casework",
                         "state_schema": STATE},
            "addresses": lib.addresses()}
    cfg = lib.write_config(tmp, "analyze", conf)
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
    plan = resolve_plan(db, child or "C-000001", notified=True)
    t.check("alerts_child_idx" in plan and "alerts_firing_idx" not in plan,
            "... and so is the generic plan a notified child's evaluation prepares", plan[:1500])
    t.check(db.value("SELECT count(*) FROM %s.alert_seen" % STATE) == "0",
            "the whole evaluation emptied its list of alerts seen before its commit")

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
    notified(t, procs, tmp, db, lib.write_config(tmp, "analyze-daemon", dict(
        conf, http={"listen": "127.0.0.1:%d" % lib.free_port()},
        evaluation={"interval_seconds": 86400})))
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "test_state_analyze", lambda procs, tmp: body(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
