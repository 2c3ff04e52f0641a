#!/usr/bin/python3
"""The shape of every full-evaluation plan, on a case schema with no index at all and on the
same data behind views (issue 9: a full evaluation is a bounded number of passes over each
relation, whatever the number of candidates and whatever indexes there are).

Loads a few thousand generated children ($DWGEN, bench/dwgen.c) into tables with no index
and into views over them, ANALYZEs them, and for each statement of a full evaluation, as
daemon/eval.c runs it (each rule: rules/RULE.sql, whole; the bad-row count: each
rules/quality_*.sql, the child ids with one branch per relation), takes
EXPLAIN (FORMAT JSON) under the evaluation's settings (jit off, work_mem 64MB, enable_nestloop
off; the count also enable_hashagg off) and checks that:
  - no Nested Loop has an inner side that reads a relation or a derived set (a Seq Scan,
    Function Scan, CTE Scan, ... inside a loop over candidates is a pass per candidate);
  - no SubPlan reads a relation (a SubPlan runs per row, or hashes as far as work_mem goes).
Statements are read from $DW_TOP/rules as rules/embed_sql.sh embeds them (`--print`: includes
expanded, parameters by name made positional).
Prints `ok - ...` / `not ok - ...` per statement and layout (tests/run.sh).

Environment: DWGEN (default build/dwgen), PGHOST PGPORT PGUSER (defaults 127.0.0.1 15432
dwtest), DW_TOP (the source tree). Uses its own database dwplans (dropped and created here).
Standard library only; PostgreSQL is reached with psql.
"""

import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tap  # noqa: E402  (tests/lib/tap.py: the result lines)
from tap import ok  # noqa: E402

TOP = os.environ.get("DW_TOP") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DWGEN = os.environ.get("DWGEN") or os.path.join(TOP, "build/dwgen")
PGHOST = os.environ.get("PGHOST") or "127.0.0.1"
PGPORT = os.environ.get("PGPORT") or "15432"
PGUSER = os.environ.get("PGUSER") or "dwtest"
DB = "dwplans"
CHILDREN = int(os.environ.get("PLANS_CHILDREN", "4000"))
T = "2026-11-24"
RULES_DIR = os.path.join(TOP, "rules")
# quality_child_ids.sql's branches, as eval.c builds them (eval_quality_relations).
NAMED = [("children", 0), ("allocations", 1), ("referrals", 2), ("cin_plans", 1),
         ("cp_plans", 1), ("appointments", 1), ("strategies", 2)]
# Nodes that read rows of a relation or of a derived set (a CTE's, a function's).
READS = {"Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan", "Bitmap Index Scan",
         "Function Scan", "Table Function Scan", "CTE Scan", "WorkTable Scan", "Tid Scan",
         "Tid Range Scan", "Sample Scan", "Foreign Scan", "Named Tuplestore Scan"}


def psql(args, stdin=None, db=DB, timeout=300):
    env = dict(os.environ, PGHOST=PGHOST, PGPORT=PGPORT, PGUSER=PGUSER, PGDATABASE=db)
    return subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"] + args, input=stdin,
                          capture_output=True, text=True, env=env, timeout=timeout)


def read_sql(name):
    """A statement's text as rules/embed_sql.sh embeds it (the daemon runs exactly that)."""
    r = subprocess.run(["sh", os.path.join(RULES_DIR, "embed_sql.sh"), "--print",
                        os.path.join(RULES_DIR, name)], capture_output=True, text=True,
                       cwd=TOP, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("embed_sql.sh --print %s: %s" % (name, r.stderr))
    return r.stdout


def statements():
    """(name, sql, is_bad_row_count) of a full evaluation, as eval.c runs them."""
    files = sorted(f for f in os.listdir(RULES_DIR) if f.endswith(".sql"))
    out = []
    for f in files:
        # a rule is a whole statement with its registration beside it (rules/NAME.c)
        if not os.path.exists(os.path.join(RULES_DIR, f[:-4] + ".c")):
            continue
        out.append((f[:-4], read_sql(f), False))
    for f in files:
        if f == "quality_child_ids.sql":
            branch = read_sql("quality_child_ids_branch.sql")
            branches = "    UNION ALL\n".join(
                branch.replace("@relation@", rel).replace("@src@", str(src))
                for rel, src in NAMED)
            out.append((f[:-4], read_sql(f).replace("@named@", branches), True))
        elif f.startswith("quality_") and f != "quality_child_ids_branch.sql":
            out.append((f[:-4], read_sql(f), True))
    return out


def explain(schema, name, sql, count):
    script = ["BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;",
              "SET LOCAL jit = off;", "SET LOCAL work_mem = '64MB';",
              "SET LOCAL enable_nestloop = off;"]
    if count:
        script.append("SET LOCAL enable_hashagg = off;")
    script.append("PREPARE s (date, text[], text, text[], jsonb, text) AS\n%s;" %
                  re.sub(r"@col:\w+:([^@]+)@", r"\1", sql.replace("@case@", '"%s"' % schema)))
    script.append("EXPLAIN (FORMAT JSON) EXECUTE s ('%s', NULL, 'Europe/London', '{NEG}', '{}', "
                  "'%s');" % (T, name))
    script.append("ROLLBACK;")
    r = psql(["-At"], stdin="\n".join(script) + "\n")
    if r.returncode != 0:
        return None, r.stderr
    return json.loads(r.stdout)[0]["Plan"], None


def label(node):
    s = node["Node Type"]
    for k in ("Relation Name", "CTE Name", "Function Name", "Alias"):
        if node.get(k):
            s += " " + node[k]
            break
    return s


def reads(node):
    """The nodes in node's subtree (node included) that read a relation or a derived set."""
    found = [label(node)] if node["Node Type"] in READS else []
    for k in node.get("Plans", []):
        found += reads(k)
    return found


def violations(node, path=()):
    out = []
    here = path + (label(node),)
    if node["Node Type"] == "Nested Loop":
        inner = [k for k in node.get("Plans", []) if k.get("Parent Relationship") == "Inner"]
        for k in inner:
            r = reads(k)
            if r:
                out.append("Nested Loop reads %s once per outer row (under %s)" % (
                    ", ".join(sorted(set(r))), " > ".join(here)))
    if node.get("Parent Relationship") == "SubPlan":
        r = reads(node)
        if r:
            out.append("%s reads %s per row (under %s)" % (
                node.get("Subplan Name", "SubPlan"), ", ".join(sorted(set(r))),
                " > ".join(path)))
    for k in node.get("Plans", []):
        out += violations(k, here)
    return out


def setup():
    r = psql(["-c", "DROP DATABASE IF EXISTS %s" % DB, "-c", "CREATE DATABASE %s" % DB],
             db="postgres")
    if not ok(r.returncode == 0, "create database %s" % DB, r.stderr):
        return False
    r = psql(["-v", "schema=pl_tab", "-f", os.path.join(TOP, "rules/contract.sql")])
    if not ok(r.returncode == 0, "create the contract tables", r.stderr):
        return False
    gen = subprocess.run([DWGEN, "--children", str(CHILDREN), "--seed", "5", "--as-of", T,
                          "--schema", "pl_tab"], capture_output=True, text=True, timeout=300)
    if not ok(gen.returncode == 0, "generate %d children" % CHILDREN, gen.stderr):
        return False
    r = psql([], stdin=gen.stdout)
    if not ok(r.returncode == 0, "load them", r.stderr):
        return False
    views = ["CREATE SCHEMA pl_view;"] + [
        "CREATE VIEW pl_view.%s AS SELECT * FROM pl_tab.%s;" % (t, t)
        for t in ("teams", "workers", "children", "allocations", "referrals", "cin_plans",
                  "cp_plans", "appointments", "strategies")]
    r = psql([], stdin="\n".join(views) + "\nANALYZE;\n")
    if not ok(r.returncode == 0, "the same data behind views, analyzed", r.stderr):
        return False
    r = psql(["-At", "-c", "SELECT count(*) FROM pg_indexes WHERE schemaname = 'pl_tab'"])
    return ok(r.returncode == 0 and r.stdout.strip() == "0",
              "pl_tab has no index at all", r.stdout + r.stderr)


def main():
    if not setup():
        return 1
    stmts = statements()
    ok(sum(1 for s in stmts if not s[2]) >= 7 and any(s[2] for s in stmts),
       "found the rule statements and the bad-row count (%d statements)" % len(stmts),
       [s[0] for s in stmts])
    for schema, what in (("pl_tab", "tables, no index"), ("pl_view", "views")):
        for name, sql, count in stmts:
            plan, err = explain(schema, name, sql, count)
            if not ok(plan is not None, "%s (%s): EXPLAIN" % (name, what), err):
                continue
            v = violations(plan)
            ok(not v, "%s (%s): no loop over a relation or a derived set per candidate" % (
                name, what), "\n".join(v))
    psql(["-c", "DROP DATABASE IF EXISTS %s" % DB], db="postgres")
    print("# %d passed, %d failed" % (tap.passed, tap.failures), flush=True)
    return 1 if tap.failures else 0


if __name__ == "__main__":
    sys.exit(main())
