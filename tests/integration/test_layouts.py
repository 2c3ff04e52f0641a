#!/usr/bin/python3
"""The same case data in five layouts gives the same alerts and the same bad-row counts, byte
for byte, on several days (issue 9): tables with every index of rules/contract_indexes.sql,
tables with none whose rows are stored in another order, views over those (columns in
another order, as an authority's mapping would have them), tables whose child_id indexes do not
serve, and views whose text columns are all char(n) (a fixed-width source: the padding is no part
of an identifier, and once made the same child two children in the alerts).

A few rows start at -infinity (a date column can hold it): they are bad rows of the kinds
infinite_start_date, infinite_referral_date, infinite_scheduled_for and infinite_decided_on, and
their child has no alert (a CP plan starting at -infinity was an 18-month escalation).

Generates children with bad rows ($DWGEN, bench/dwgen.c), loads them, builds the other two
layouts, runs `$DRIFTWATCHD -c CFG --once --dry-run --as-of DAY` on each, and compares the
sorted alert lines and the summary on standard error (children evaluated, alerts by stage,
bad rows by kind; the timings left out). Prints `ok - ...` / `not ok - ...` (tests/run.sh).

Environment: DRIFTWATCHD (default build/san/driftwatchd), DWGEN (default build/dwgen), PGHOST
PGPORT PGUSER (defaults 127.0.0.1 15432 dwtest), DW_TOP. Uses its own database dwlayouts.
Standard library only; PostgreSQL is reached with psql.
"""

import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import tap  # noqa: E402  (tests/lib/tap.py: the result lines)
from tap import ok  # noqa: E402

TOP = os.environ.get("DW_TOP") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DAEMON = os.environ.get("DRIFTWATCHD") or os.path.join(TOP, "build/san/driftwatchd")
DWGEN = os.environ.get("DWGEN") or os.path.join(TOP, "build/dwgen")
PGHOST = os.environ.get("PGHOST") or "127.0.0.1"
if PGHOST.startswith("/"):
    PGHOST = "127.0.0.1"
PGPORT = os.environ.get("PGPORT") or "15432"
PGUSER = os.environ.get("PGUSER") or "dwtest"
DB = "dwlayouts"
CHILDREN = int(os.environ.get("LAYOUTS_CHILDREN", "3000"))
AS_OF = "2026-11-24"
DAYS = ["2025-12-31", "2026-06-30", "2026-11-10", AS_OF]
RELATIONS = lib.CONTRACT_COLUMNS
LAYOUTS = [("lay_idx", "indexed tables"), ("lay_tab", "tables, no index, rows reordered"),
           ("lay_view", "views, columns reordered"),
           ("lay_odd", "tables whose child_id indexes do not serve (partial, another collation)"),
           ("lay_char", "views with every text column char(n), padded")]
# What each layout's full evaluation does with its hits' children and allocations (eval.c,
# EVAL_LOOKUP_SQL): only a plain btree index led by child_id lets it look them up.
LOOKUP = {"lay_idx": "looked up through their child_id indexes", "lay_tab": "read whole",
          "lay_view": "read whole", "lay_odd": "read whole", "lay_char": "read whole"}
# Rows whose day is -infinity, one per relation that has a start (added to the generated data)
INFINITE = """
INSERT INTO lay_idx.children VALUES ('INF-1', NULL, '2015-01-01', NULL, false);
INSERT INTO lay_idx.cp_plans VALUES ('INF-CP', 'INF-1', '-infinity', NULL, 'NEG', NULL, NULL);
INSERT INTO lay_idx.cin_plans VALUES ('INF-CIN', 'INF-1', '-infinity', NULL, true);
INSERT INTO lay_idx.allocations
    SELECT 'INF-A', 'INF-1', min(worker_id), '-infinity', NULL FROM lay_idx.workers;
INSERT INTO lay_idx.referrals VALUES ('INF-R', 'INF-1', '-infinity', 'N1', true, NULL, NULL);
INSERT INTO lay_idx.appointments VALUES ('INF-AP', 'INF-1', 'gp', '-infinity', 'was_not_brought');
INSERT INTO lay_idx.strategies VALUES ('INF-S', 'INF-1', 'plo', '-infinity', NULL);
"""
INFINITE_KINDS = [("allocations", "infinite_start_date"), ("referrals", "infinite_referral_date"),
                  ("cin_plans", "infinite_start_date"), ("cp_plans", "infinite_start_date"),
                  ("appointments", "infinite_scheduled_for"),
                  ("strategies", "infinite_decided_on")]


def psql(args, stdin=None, db=DB):
    env = dict(os.environ, PGHOST=PGHOST, PGPORT=PGPORT, PGUSER=PGUSER, PGDATABASE=db)
    return subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"] + args, input=stdin,
                          capture_output=True, text=True, env=env, timeout=600)


def setup():
    r = psql(["-c", "DROP DATABASE IF EXISTS %s" % DB, "-c", "CREATE DATABASE %s" % DB],
             db="postgres")
    if not ok(r.returncode == 0, "create database %s" % DB, r.stderr):
        return False
    r = psql(["-v", "schema=lay_idx", "-f", os.path.join(TOP, "rules/contract.sql")])
    if not ok(r.returncode == 0, "create the contract tables", r.stderr):
        return False
    gen = subprocess.run([DWGEN, "--children", str(CHILDREN), "--seed", "11", "--as-of", AS_OF,
                          "--bad-rows", "20", "--schema", "lay_idx"],
                         capture_output=True, text=True, timeout=300)
    if not ok(gen.returncode == 0, "generate %d children, 2%% bad rows" % CHILDREN, gen.stderr):
        return False
    r = psql([], stdin=gen.stdout + INFINITE)
    if not ok(r.returncode == 0, "load them, and a child whose rows start at -infinity",
              r.stderr):
        return False
    r = psql(["-v", "schema=lay_idx", "-f", os.path.join(TOP, "rules/contract_indexes.sql")])
    if not ok(r.returncode == 0, "lay_idx: every index of contract_indexes.sql", r.stderr):
        return False
    sql = ["CREATE SCHEMA lay_tab;", "CREATE SCHEMA lay_view;"]
    for rel, cols in RELATIONS.items():
        # the same rows in an order of their own (a hash of the whole row)
        sql.append("CREATE TABLE lay_tab.%s AS SELECT * FROM lay_idx.%s x "
                   "ORDER BY md5(x::text);" % (rel, rel))
        sql.append("CREATE VIEW lay_view.%s AS SELECT %s FROM lay_tab.%s;" % (
            rel, ", ".join(reversed([c.strip() for c in cols.split(",")])), rel))
    sql.append("CREATE SCHEMA lay_odd;")
    for rel in RELATIONS:
        sql.append("CREATE TABLE lay_odd.%s AS SELECT * FROM lay_tab.%s;" % (rel, rel))
    sql.append("CREATE INDEX ON lay_odd.children (child_id) WHERE child_id > '';")
    sql.append("CREATE INDEX ON lay_odd.allocations (child_id COLLATE \"C\", start_date);")
    # every text column char(n): PostgreSQL pads the value with blanks to n characters
    sql.append("CREATE SCHEMA lay_char;")
    for rel, cols in RELATIONS.items():
        sql.append("CREATE VIEW lay_char.%s AS SELECT %s FROM lay_tab.%s;" % (rel, ", ".join(
            "%s::char(200) AS %s" % (c, c) if lay_text(rel, c) else c
            for c in (x.strip() for x in cols.split(","))), rel))
    sql.append("ANALYZE;")
    r = psql([], stdin="\n".join(sql) + "\n")
    if not ok(r.returncode == 0, "lay_tab (no index, rows reordered) and lay_view", r.stderr):
        return False
    r = psql(["-At", "-c", "SELECT count(*) FROM pg_indexes WHERE schemaname = 'lay_tab'"])
    return ok(r.stdout.strip() == "0", "lay_tab has no index", r.stdout + r.stderr)


def lay_text(rel, col):
    """Whether rules/contract.sql makes rel.col text."""
    return col not in ("date_of_birth", "expected_dob", "disability", "start_date", "end_date",
                       "referral_date", "neglect", "closure_date", "scheduled_for",
                       "decided_on", "review_by")


def write_config(path, schema):
    cfg = {
        "database": {"conninfo": "host=%s port=%s dbname=%s user=%s" % (PGHOST, PGPORT, DB,
                                                                       PGUSER),
                     "case_schema": schema},
        "addresses": {"fallback": "duty@la.example", "cp_chair": "cp-chairs@la.example",
                      "cp_manager": "cp-manager@la.example",
                      "head_of_service": "hos@la.example"},
        "link_template": "https://lcs.example.gov.uk/person/{child_id}",
    }
    with open(path, "w") as f:
        json.dump(cfg, f)


def dry_run(cfg, day, verbose=False):
    r = subprocess.run([DAEMON, "-c", cfg, "--once", "--dry-run", "--as-of", day] +
                       (["-v"] if verbose else []),
                       capture_output=True, stdin=subprocess.DEVNULL, timeout=600)
    out = r.stdout.decode(errors="replace")
    err = r.stderr.decode(errors="replace")
    alerts = "\n".join(sorted(l for l in out.splitlines() if l.strip()))
    # the summary without its timings: "..., 1.23 s (rules 0.45 s, bad rows 0.67 s)"
    summary = re.sub(r", [0-9.]+ s \(rules [0-9.]+ s, bad rows [0-9.]+ s\)", "", err)
    return r.returncode, alerts, summary, err



PROBE = re.compile(r"\bchild_id\s*=\s*ANY \(")


def lookup_probes():
    """Where the lookup form is run (indexed tables), each array of hits is probed through the
    child_id index: the plan of every rule, with sequential scans turned off, has the probe as
    an index condition and never as a filter (a filter is one pass over the relation per
    hit). The rows read child_id as text COLLATE "C", which no index in the database's
    collation serves (5c7aff4 made a million children's indexed dry run take minutes). The
    plans are EXPLAINed by bench/bench_drive.py from build/sql_embed.c, the SQL the daemon
    runs."""
    out = tempfile.mkdtemp(prefix="dw-lookup-", dir=os.environ.get("TEST_TMPDIR"))
    dsn = "host=%s port=%s user=%s dbname=%s" % (PGHOST, PGPORT, PGUSER, DB)
    p = subprocess.run(["/usr/bin/python3", os.path.join(TOP, "bench", "bench_drive.py"),
                        "explain", "--dsn", dsn, "--schema", "lay_idx", "--as-of", AS_OF,
                        "--out", out, "--lookup", "--repeat", "1", "--set",
                        "enable_seqscan = off", "--sql-from",
                        os.path.join(TOP, "build", "sql_embed.c")],
                       capture_output=True, text=True, timeout=600)
    if not ok(p.returncode == 0, "the lookup form's plans are explained", p.stderr[-2000:]):
        return
    rules = [f[:-4] for f in sorted(os.listdir(out))
             if f.endswith(".txt") and f != "profile.txt" and not f.startswith("quality_")]
    for rule in rules:
        plan = open(os.path.join(out, rule + ".txt")).read()
        # the probe itself, not another test of the same node that names child_id (blank ids)
        probes = [l.strip() for l in plan.splitlines() if PROBE.search(l)]
        filtered = [l for l in probes if l.startswith("Filter:")]
        indexed = [l for l in probes if l.startswith(("Index Cond:", "Recheck Cond:"))]
        ok(indexed and not filtered,
           "lookup form, %s: %d probes of hits by child_id through an index, none a filter"
           % (rule, len(indexed)), "\n".join(filtered or probes) or plan[:3000])


def main():
    if not (os.path.isfile(DAEMON) and os.access(DAEMON, os.X_OK)):
        ok(False, "driftwatchd is built", DAEMON)
        return 1
    if not setup():
        return 1
    tmp = tempfile.mkdtemp(prefix="dw-layouts-", dir=os.environ.get("TEST_TMPDIR"))
    for schema, _ in LAYOUTS:
        write_config(os.path.join(tmp, schema + ".json"), schema)
    for schema, what in LAYOUTS:
        rc, _, _, err = dry_run(os.path.join(tmp, schema + ".json"), DAYS[0], verbose=True)
        said = [l for l in err.splitlines() if "the hits' children and allocations are" in l]
        ok(rc == 0 and len(said) == 1 and LOOKUP[schema] in said[0],
           "%s: the hits' children and allocations are %s" % (what, LOOKUP[schema]),
           "\n".join(said) or err[-2000:])
    lookup_probes()
    for day in DAYS:
        runs = {}
        for schema, what in LAYOUTS:
            rc, alerts, summary, err = dry_run(os.path.join(tmp, schema + ".json"), day)
            ok(rc == 0 and "Sanitizer" not in err and "runtime error" not in err,
               "%s, %s: --once --dry-run exits 0, no sanitizer report" % (day, what),
               err[-2000:])
            runs[schema] = (alerts, summary)
        ref_alerts, ref_summary = runs["lay_idx"]
        n = len(ref_alerts.splitlines())
        ok(n > 20, "%s, indexed tables: alerts to compare (%d)" % (day, n))
        ok("bad rows in" in ref_summary and "duplicate_key" in ref_summary,
           "%s, indexed tables: bad rows to compare, duplicates among them" % day, ref_summary)
        ok(not re.search(r'"child_id": ?"INF-1"', ref_alerts),
           "%s: no alert for the child whose rows all start at -infinity" % day,
           "\n".join(l for l in ref_alerts.splitlines() if "INF-1" in l)[:2000])
        for rel, kind in INFINITE_KINDS:
            ok(re.search(r"(?m)^\s*bad rows in %s:.*\b%s=1\b" % (rel, kind), ref_summary),
               "%s: the %s row starting at -infinity is a bad row, %s" % (day, rel, kind),
               ref_summary)
        for schema, what in LAYOUTS[1:]:
            alerts, summary = runs[schema]
            ok(alerts == ref_alerts, "%s, %s: the same alerts as indexed tables, byte for byte"
               % (day, what), lib.first_difference(ref_alerts, alerts))
            ok(summary == ref_summary, "%s, %s: the same summary (children, stages, bad rows)"
               % (day, what), lib.first_difference(ref_summary, summary))
    psql(["-c", "DROP DATABASE IF EXISTS %s" % DB], db="postgres")
    print("# %d passed, %d failed" % (tap.passed, tap.failures), flush=True)
    return 1 if tap.failures else 0


if __name__ == "__main__":
    sys.exit(main())
