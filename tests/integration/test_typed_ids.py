#!/usr/bin/python3
"""test_typed_ids: ids held as integers or uuids (outside CONTRACT.md) give the alerts their text
would, and the pages answer.

CONTRACT.md says identifiers are text, "authorities use numbers, prefixed codes and GUIDs", and
a view over a case system whose keys are numbers or GUIDs may well hand them over as bigint or
uuid. Until now every rule failed on such a child_id ("operator does not exist: bigint = text",
from the filter a few children's evaluation uses) and the pages failed on a worker_id or
team_id of another type: no alert for anyone. The ids are now read as text everywhere the case
data is read.

The same data twice, in one database dwtypedids:
  - ty_src: the contract's tables, loaded with generated children and bad rows ($DWGEN), and
    tests/fixtures/daemon.sql's people in schema ty_dsrc;
  - ty_text (and ty_dtext): tables whose ids are renumbered, as text: children and referrals
    as numbers, workers and teams as numbers, CP plans as GUIDs, every number of one width so
    that the text order is the original order;
  - ty_typed (and ty_dtyped): views over those, the same ids as bigint, integer and uuid.
Checks:
  - --check-config on the typed views names each id column of another type and says it is read
    as text (exit 2: it is not the contract), and on the text tables says nothing of types;
  - on several days, --once --dry-run gives the same alerts byte for byte (fingerprints, links
    and summaries included) and the same bad-row summary on both;
  - the daemon on ty_dtyped records alerts, and the team manager's /, the team's page, a
    child's page (its allocations and their workers' names) and /service answer 200;
  - the same ids in tables with the triggers installed: a new child of bigint id on a plan of
    uuid id is evaluated at once when the trigger notifies it.

Environment: DRIFTWATCHD, DWGEN (default build/dwgen), PGHOST/PGPORT/PGUSER (tests/run.sh),
DW_TOP, TEST_TMPDIR; database dwtypedids is dropped and created here. Standard library only.
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import hostile  # noqa: E402  (tests/lib/hostile.py: the daemon in the background)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

DWGEN = os.environ.get("DWGEN") or os.path.join(lib.TOP, "build", "dwgen")
CHILDREN = int(os.environ.get("TYPED_IDS_CHILDREN", "1500"))
AS_OF = "2026-11-24"
DAYS = ["2026-02-27", "2026-08-03", AS_OF]
RELATIONS = lib.CONTRACT_COLUMNS
# Each kind of id: the columns that hold it, the type the typed views give it, and its text (a
# number of one width, or a GUID of digits: text order is numeric order is the original order).
KINDS = {
    "child": (["children.child_id", "allocations.child_id", "referrals.child_id",
               "cin_plans.child_id", "cp_plans.child_id", "appointments.child_id",
               "strategies.child_id"], "bigint", "(1000000 + n)::text"),
    "worker": (["workers.worker_id", "workers.supervisor_id", "allocations.worker_id",
                "cp_plans.chair_id"], "integer", "(100000 + n)::text"),
    "team": (["teams.team_id", "workers.team_id"], "integer", "(1000 + n)::text"),
    "referral": (["referrals.referral_id"], "bigint", "(1000000 + n)::text"),
    "cp_plan": (["cp_plans.plan_id"], "uuid",
                "'00000000-0000-4000-8000-' || lpad(n::text, 12, '0')"),
}


def kind_of(rel, col):
    for kind, (cols, typ, _) in KINDS.items():
        if "%s.%s" % (rel, col) in cols:
            return kind, typ
    return None, None


def retype_sql(src, text, typed):
    """SQL making schema text (renumbered ids, as text) and typed (views: the same ids typed)
    from the contract's tables in src."""
    sql = ["CREATE SCHEMA %s;" % text, "CREATE SCHEMA %s;" % typed]
    for kind, (cols, _, form) in KINDS.items():
        union = " UNION ".join("SELECT %s::text FROM %s.%s" % (c.split(".")[1], src,
                                                               c.split(".")[0]) for c in cols)
        sql.append("CREATE TABLE %s.map_%s AS SELECT id, %s AS t FROM (SELECT id, row_number() "
                   "OVER (ORDER BY id COLLATE \"C\") AS n FROM (SELECT DISTINCT id FROM (%s) s(id) "
                   "WHERE id IS NOT NULL) d) m;" % (text, kind, form, union))
        sql.append("ALTER TABLE %s.map_%s ADD PRIMARY KEY (id);" % (text, kind))
    for rel, cols in RELATIONS.items():
        plain, cast = [], []
        for col in (c.strip() for c in cols.split(",")):
            kind, typ = kind_of(rel, col)
            if kind:
                plain.append("(SELECT m.t FROM %s.map_%s m WHERE m.id = x.%s) AS %s"
                             % (text, kind, col, col))
                cast.append("%s::%s AS %s" % (col, typ, col))
            else:
                plain.append("x.%s" % col)
                cast.append(col)
        sql.append("CREATE TABLE %s.%s AS SELECT %s FROM %s.%s x;"
                   % (text, rel, ", ".join(plain), src, rel))
        sql.append("CREATE VIEW %s.%s AS SELECT %s FROM %s.%s;"
                   % (typed, rel, ", ".join(cast), text, rel))
    sql.append("ANALYZE;")
    return "\n".join(sql) + "\n"


def dry_run(cfg, day):
    r = lib.run_daemon(cfg, "--once", "--dry-run", "--as-of", day, timeout=300)
    alerts = "\n".join(sorted(l for l in r.out.splitlines() if l.strip()))
    # the summary without its timings and without the warnings of types outside the contract
    err = "\n".join(l for l in r.err.splitlines() if "is not the contract's" not in l)
    summary = re.sub(r", [0-9.]+ s \(rules [0-9.]+ s, bad rows [0-9.]+ s\)", "", err)
    return r, alerts, summary



def config(tmp, db, name, schema, extra=None):
    conf = {"database": {"conninfo": db.conninfo(name), "case_schema": schema},
            "link_template": "https://lcs.example/person/{child_id}",
            "addresses": lib.addresses()}
    conf.update(extra or {})
    return lib.write_config(tmp, name, conf)


def check_config(t, tmp, db):
    cfg = config(tmp, db, "typed-check", "ty_typed")
    r = lib.run_daemon(cfg, "--check-config")
    for kind, (cols, typ, _) in KINDS.items():
        for c in cols:
            rel, col = c.split(".")
            said = [l for l in r.err.splitlines() if "ty_typed.%s.%s" % (rel, col) in l]
            t.check(r.rc == 2 and said and typ in said[0] and "read as text" in said[0],
                    "--check-config names ty_typed.%s.%s, of type %s, and says it is read as "
                    "text (exit %s)" % (rel, col, typ, r.rc), "\n".join(said) or r.diag())
    r = lib.run_daemon(config(tmp, db, "text-check", "ty_text"), "--check-config")
    t.check("is not the contract's" not in r.err,
            "--check-config on the renumbered text tables says nothing of types", r.diag())


def dry_runs(t, tmp, db):
    cfg_text = config(tmp, db, "typed-text", "ty_text")
    cfg_typed = config(tmp, db, "typed-typed", "ty_typed")
    for day in DAYS:
        rt, at, st = dry_run(cfg_text, day)
        ry, ay, sy = dry_run(cfg_typed, day)
        t.check(rt.rc == 0 and not rt.sanitizer(), "%s, text ids: --once --dry-run exits 0 (%s)"
                % (day, rt.rc), rt.diag())
        t.check(ry.rc == 0 and not ry.sanitizer(),
                "%s, bigint, integer and uuid ids: --once --dry-run exits 0 (%s)"
                % (day, ry.rc), ry.diag())
        n = len(at.splitlines())
        t.check(n > 20, "%s: alerts to compare (%d)" % (day, n))
        t.check(at == ay, "%s: the typed ids give the same alerts, byte for byte" % day,
                lib.first_difference(at, ay))
        t.check("bad rows in" in st and st == sy,
                "%s: and the same summary (children, stages, bad rows)" % day,
                lib.first_difference(st, sy))
        uuids = re.findall(r'"subject_id": ?"00000000-0000-4000-8000-', ay)
        t.check(uuids, "%s: a CP plan's GUID is an alert's subject (%d)" % (day, len(uuids)))


def pages(t, procs, tmp, db):
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "daemon.sql"), schema="ty_dsrc")
    db.run(retype_sql("ty_dsrc", "ty_dtext", "ty_dtyped"))
    team = db.value("SELECT t FROM ty_dtext.map_team WHERE id = 'T-D'")
    port = lib.free_port()
    cfg = config(tmp, db, "typed-daemon", "ty_dtyped", {
        "timezone": "Europe/London", "evaluation": {"interval_seconds": 3600},
        "web": {"listen": "127.0.0.1:%d" % port, "trusted_proxies": ["127.0.0.1"]}})
    d = hostile.Daemon(procs, tmp, cfg, name="daemon-typed-ids")
    n = lib.wait_for(lambda: hostile.firing(db) or None, 90, step=0.5)
    t.check(n, "the daemon on typed ids records alerts (%s)" % n, "\n".join(d.lines()[-20:]))
    child = db.value("SELECT child_id FROM driftwatch.alerts WHERE status = 'firing' "
                     "AND rule = 'cp_neglect_duration' ORDER BY child_id LIMIT 1")
    t.check(re.fullmatch(r"1[0-9]{6}", child or ""),
            "a CP child's alert names it by its number (%s)" % child)
    person = {"X-Forwarded-Email": "dsup@la.example"}
    st, home = hostile.page(port, "/", person)
    t.check(st == 200 and child and child in home,
            "the team manager's / answers 200 and lists %s (%s)" % (child, st), home[:600])
    st, body = hostile.page(port, "/team/%s" % team, person)
    t.check(st == 200 and child and child in body,
            "/team/%s (team T-D renumbered) answers 200 and lists %s (%s)" % (team, child, st),
            body[:600])
    st, body = hostile.page(port, "/child/%s" % child, person)
    t.check(st == 200 and "Worker One" in body,
            "/child/%s answers 200 and shows its allocated worker's name (%s)" % (child, st),
            body[:600])
    st, body = hostile.page(port, "/service", person)
    t.check(st == 200, "/service answers 200 (%s)" % st, body[:600])
    errors = [x for x in d.lines() if "operator does not exist" in x or "collations are not"
              in x]
    t.check(not errors, "the log has no type error", "\n".join(errors[:5]))
    hostile.stop(d, t, "the daemon")


def notified(t, procs, tmp, db):
    """Typed ids in tables (not views), with the triggers installed: a change is evaluated at
    once for its child, whose id the trigger sends as text."""
    rels = list(RELATIONS)
    db.run("CREATE SCHEMA ty_ttab; " + " ".join(
        "CREATE TABLE ty_ttab.%s AS SELECT * FROM ty_dtyped.%s;" % (r, r) for r in rels))
    cfg = config(tmp, db, "typed-tables", "ty_ttab", {
        "timezone": "Europe/London", "evaluation": {"interval_seconds": 3600},
        "database": {"conninfo": db.conninfo("typed-tables"), "case_schema": "ty_ttab",
                     "state_schema": "dw_ttab"}})
    if not hostile.install_triggers(t, cfg):
        return
    d = hostile.Daemon(procs, tmp, cfg, name="daemon-typed-tables")
    line = d.wait_log(r"evaluated everyone as of", 90)
    t.check(line, "the daemon on typed tables evaluates everyone", "\n".join(d.lines()[-20:]))
    mark = d.mark()
    db.run("INSERT INTO ty_ttab.children VALUES (7654321, 'F-NEW', current_date - interval "
           "'5 years', NULL, false); INSERT INTO ty_ttab.cp_plans VALUES "
           "('00000000-0000-4000-8000-999999999999', 7654321, current_date - interval "
           "'16 months', NULL, 'NEG', NULL, NULL);")
    line = d.wait_log(r"evaluated notified children as of", 60, since=mark)
    got = lib.wait_for(lambda: db.value(
        "SELECT stage FROM dw_ttab.alerts WHERE child_id = '7654321' AND rule = "
        "'cp_neglect_duration'") or None, 30, step=0.3)
    t.check(line and got == "15m", "a new child of bigint id on a plan of uuid id, notified by "
            "the trigger, is evaluated at once: cp_neglect_duration 15m (%s)" % got,
            "\n".join(d.since(mark)[-20:]))
    hostile.stop(d, t, "the daemon on typed tables")


def run(t, procs, tmp):
    db = lib.Db("dwtypedids")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"), schema="ty_src")
    gen = subprocess.run([DWGEN, "--children", str(CHILDREN), "--seed", "23", "--as-of", AS_OF,
                          "--bad-rows", "20", "--schema", "ty_src"],
                         capture_output=True, text=True, timeout=300)
    if not t.check(gen.returncode == 0, "generate %d children, 2%% bad rows" % CHILDREN,
                   gen.stderr):
        return
    db._psql([], stdin=gen.stdout)
    db.run(retype_sql("ty_src", "ty_text", "ty_typed"))
    types = db.value("SELECT string_agg(DISTINCT data_type, ',' ORDER BY data_type) FROM "
                     "information_schema.columns WHERE table_schema = 'ty_typed' AND "
                     "column_name LIKE '%\\_id'")
    t.check(types == "bigint,integer,text,uuid", "ty_typed has bigint, integer and uuid ids (%s)"
            % types)
    check_config(t, tmp, db)
    dry_runs(t, tmp, db)
    pages(t, procs, tmp, db)
    notified(t, procs, tmp, db)
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "typed_ids", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
