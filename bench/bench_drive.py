#!/usr/bin/python3
"""bench_drive: the measuring half of bench/bench.sh (Debian's python3, standard library only).

PostgreSQL is reached through libpq itself (ctypes, libpq.so.5: the library the daemon links),
so a statement's commit time is the moment PQexec returns, with no client process in between.
Every subcommand prints its figures as KEY=VALUE lines on standard output (bench.sh reads them)
and what it is doing on standard error.

  run      [--timeout S] -- CMD...  run a command; status (ok, timeout, failed), wall_s, eval_s
                                 (from a dry run's summary line), maxrss_kb (peak resident
                                 memory of the command); after S seconds the command gets
                                 SIGTERM, 10 s later SIGKILL. Exit 0 ok, 3 timeout, 1 failed
  scan     --dsn D --runs N      scan_s: one backend, no parallel workers, no index scans,
                                 count(*) of each contract relation (table or view), summed;
                                 median of N runs after one warm-up run
  incremental --dsn D --metrics URL --daemon-log F --changes N
                                 N single-row changes to random children, one at a time; each
                                 waits for the daemon's "evaluated notified children" line and
                                 reads that evaluation's duration (log line, and /metrics for
                                 the unrounded value); p50_ms, p99_ms
  notify   --dsn D --receiver-log F --samples N
                                 N changes that each create a new alert (a neglect CP plan that
                                 started two years ago, for a child with no CP plan and no
                                 alert); latency = receiver arrival - commit; p50_ms, p99_ms
  deliveries --dsn D --receiver-log F --count N --url U
                                 N due webhook notices inserted into the outbox in one
                                 statement; per_s = N / (last arrival - commit)
  pglog    SERVER-LOG [--plans-dsn D --plans-out F]
                                 per-statement durations (parse, plan, execute) of a dry run
                                 logged with log_min_duration_statement = 0, and the statement
                                 still running when the log ends (a dry run cut off by a
                                 timeout); with --plans-dsn, EXPLAIN (no ANALYZE) of each of
                                 those statements with the parameters the log shows, into F
  explain  --dsn D --as-of DAY --out DIR
                                 EXPLAIN (ANALYZE, BUFFERS) of each rule's query and of
                                 quality_*.sql exactly as the daemon assembles them; writes
                                 DIR/RULE.txt, DIR/RULE.json and DIR/profile.txt
"""

import argparse
import ctypes
import ctypes.util
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RELATIONS = ["teams", "workers", "children", "allocations", "referrals", "cin_plans",
             "cp_plans", "appointments", "strategies"]


def say(msg):
    print("bench_drive: " + msg, file=sys.stderr, flush=True)


def out(**kv):
    for k, v in kv.items():
        print("%s=%s" % (k, v), flush=True)


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(values)
    k = max(1, -(-len(s) * p // 100))  # ceil(n * p / 100), at least 1
    return s[int(k) - 1]


# ---------------------------------------------------------------- libpq through ctypes

class PG:
    CONNECTION_OK = 0
    PGRES_COMMAND_OK = 1
    PGRES_TUPLES_OK = 2

    def __init__(self, dsn):
        name = ctypes.util.find_library("pq") or "libpq.so.5"
        lib = ctypes.CDLL(name)
        vp, cp, i = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
        lib.PQconnectdb.restype, lib.PQconnectdb.argtypes = vp, [cp]
        lib.PQstatus.restype, lib.PQstatus.argtypes = i, [vp]
        lib.PQerrorMessage.restype, lib.PQerrorMessage.argtypes = cp, [vp]
        lib.PQexecParams.restype = vp
        lib.PQexecParams.argtypes = [vp, cp, i, vp, ctypes.POINTER(cp), vp, vp, i]
        lib.PQprepare.restype, lib.PQprepare.argtypes = vp, [vp, cp, cp, i, vp]
        lib.PQexecPrepared.restype = vp
        lib.PQexecPrepared.argtypes = [vp, cp, i, ctypes.POINTER(cp), vp, vp, i]
        lib.PQresultStatus.restype, lib.PQresultStatus.argtypes = i, [vp]
        lib.PQresultErrorMessage.restype, lib.PQresultErrorMessage.argtypes = cp, [vp]
        lib.PQntuples.restype, lib.PQntuples.argtypes = i, [vp]
        lib.PQnfields.restype, lib.PQnfields.argtypes = i, [vp]
        lib.PQgetvalue.restype, lib.PQgetvalue.argtypes = cp, [vp, i, i]
        lib.PQgetisnull.restype, lib.PQgetisnull.argtypes = i, [vp, i, i]
        lib.PQclear.restype, lib.PQclear.argtypes = None, [vp]
        lib.PQfinish.restype, lib.PQfinish.argtypes = None, [vp]
        self.lib = lib
        self.conn = lib.PQconnectdb(dsn.encode())
        if not self.conn or lib.PQstatus(self.conn) != self.CONNECTION_OK:
            raise SystemExit("bench_drive: cannot connect: %s" % self.error())

    def error(self):
        m = self.lib.PQerrorMessage(self.conn)
        return m.decode(errors="replace").strip() if m else "?"

    def query(self, sql, params=(), prepared=None):
        """Rows as lists of str/None; raises on any error. With prepared, sql is ignored and
        the statement of that name runs."""
        lib = self.lib
        vals = (ctypes.c_char_p * max(1, len(params)))(
            *[None if p is None else str(p).encode() for p in params])
        if prepared:
            res = lib.PQexecPrepared(self.conn, prepared.encode(), len(params), vals, None, None, 0)
        else:
            res = lib.PQexecParams(self.conn, sql.encode(), len(params), None, vals, None, None, 0)
        return self._rows(res, sql or prepared)

    def prepare(self, name, sql, nparams):
        return self._rows(self.lib.PQprepare(self.conn, name.encode(), sql.encode(), nparams, None),
                          sql)

    def _rows(self, res, sql):
        lib = self.lib
        try:
            st = lib.PQresultStatus(res) if res else -1
            if st not in (self.PGRES_COMMAND_OK, self.PGRES_TUPLES_OK):
                msg = lib.PQresultErrorMessage(res) if res else None
                raise SystemExit("bench_drive: query failed: %s\n  %s" % (
                    (msg.decode(errors="replace").strip() if msg else self.error()),
                    sql[:200]))
            rows = []
            for r in range(lib.PQntuples(res)):
                row = []
                for c in range(lib.PQnfields(res)):
                    if lib.PQgetisnull(res, r, c):
                        row.append(None)
                    else:
                        row.append(lib.PQgetvalue(res, r, c).decode())
                rows.append(row)
            return rows
        finally:
            if res:
                lib.PQclear(res)

    def close(self):
        if self.conn:
            self.lib.PQfinish(self.conn)
            self.conn = None


def ident(name):
    return '"' + name.replace('"', '""') + '"'


# ---------------------------------------------------------------- run

def cmd_run(args):
    t0 = time.perf_counter()
    p = subprocess.Popen(args.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    status = "ok"
    try:
        _, err = p.communicate(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        status = "timeout"
        p.terminate()  # the daemon stops on SIGTERM; its query is cancelled by the caller
        try:
            _, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
    wall = time.perf_counter() - t0
    err = err.decode(errors="replace")
    sys.stderr.write(err)
    if status == "ok" and p.returncode != 0:
        status = "failed"
    # "…, X s (rules R s, bad rows Q s)": the rules are the evaluation; the bad-row count
    # that follows them in the same snapshot is reported beside it.
    m = re.search(r"^driftwatch as of \S+: (\d+) children evaluated, (\d+) alerts, ([\d.]+) s"
                  r" \(rules ([\d.]+) s, bad rows ([\d.]+) s\)", err, re.M)
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out(status=status, exit=p.returncode, wall_s="%.3f" % wall, maxrss_kb=rss)
    if m:
        out(children=m.group(1), alerts=m.group(2), total_s=m.group(3), eval_s=m.group(4),
            bad_rows_s=m.group(5))
    if status == "timeout":
        say("%s did not finish within %g s" % (args.cmd[0], args.timeout))
        sys.exit(3)
    if status == "failed":
        say("%s exited with %d" % (args.cmd[0], p.returncode))
        sys.exit(1)


# ---------------------------------------------------------------- scan

def cmd_scan(args):
    pg = PG(args.dsn)
    for s in ("SET max_parallel_workers_per_gather = 0", "SET enable_indexscan = off",
              "SET enable_bitmapscan = off", "SET enable_indexonlyscan = off"):
        pg.query(s)
    schema = ident(args.schema)
    sums, per, counts = [], {t: [] for t in RELATIONS}, {}
    for run in range(args.runs + 1):
        total = 0.0
        for t in RELATIONS:
            t0 = time.perf_counter()
            counts[t] = int(pg.query("SELECT count(*) FROM %s.%s" % (schema, ident(t)))[0][0])
            dt = time.perf_counter() - t0
            total += dt
            if run:
                per[t].append(dt)
        if run == 0:
            say("scan: warm-up %.3f s" % total)
            continue
        say("scan: run %d %.3f s" % (run, total))
        sums.append(total)
    # Heap bytes of the tables behind the relations: the schema's own tables, or for views
    # every table they read (one level of views, as bench/layout_views.sql makes them).
    size = pg.query(
        "SELECT coalesce(sum(pg_relation_size(t.oid)), 0)::bigint FROM pg_class t WHERE t.oid IN ("
        " SELECT c.oid FROM pg_class c WHERE c.relnamespace = $1::regnamespace"
        "  AND c.relkind = 'r' AND c.relname = ANY ($2::text[])"
        " UNION SELECT d.refobjid FROM pg_class v JOIN pg_rewrite r ON r.ev_class = v.oid"
        "  JOIN pg_depend d ON d.objid = r.oid AND d.classid = 'pg_rewrite'::regclass"
        "  WHERE v.relnamespace = $1::regnamespace AND v.relkind = 'v'"
        "  AND v.relname = ANY ($2::text[]) AND d.refobjid <> v.oid)",
        (args.schema, "{" + ",".join(RELATIONS) + "}"))
    pg.close()
    for t in RELATIONS:
        say("scan: %-13s median %.4f s, %s rows" % (t, statistics.median(per[t]), counts[t]))
    out(scan_s="%.3f" % statistics.median(sums), scan_runs=",".join("%.3f" % s for s in sums),
        rows=sum(counts.values()), heap_bytes=size[0][0])


# ---------------------------------------------------------------- daemon helpers

def metrics(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    vals = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, v = line.rpartition(" ")
        try:
            vals[name] = float(v)
        except ValueError:
            pass
    return vals


NOTIFIED_RE = re.compile(r"evaluated notified children as of \S+: \d+ alerts in ([\d.]+) s")


class Tail:
    """New lines of a growing file."""

    def __init__(self, path):
        self.path = path
        self.pos = os.path.getsize(path) if os.path.exists(path) else 0
        self.rest = ""

    def lines(self):
        try:
            with open(self.path, "r", errors="replace") as f:
                f.seek(self.pos)
                data = f.read()
                self.pos = f.tell()
        except FileNotFoundError:
            return []
        data = self.rest + data
        parts = data.split("\n")
        self.rest = parts.pop()
        return parts


def random_children(pg, schema, n, seed, extra_where=""):
    pg.query("SELECT setseed($1)", (seed,))
    rows = pg.query("SELECT child_id FROM (SELECT DISTINCT child_id FROM %s.children c "
                    "WHERE child_id IS NOT NULL %s) x ORDER BY random() LIMIT %d"
                    % (ident(schema), extra_where, n))
    return [r[0] for r in rows]


# ---------------------------------------------------------------- incremental

def cmd_incremental(args):
    pg = PG(args.dsn)
    sc = ident(args.schema)
    kids = random_children(pg, args.schema, args.changes, args.seed)
    if len(kids) < args.changes:
        raise SystemExit("bench_drive: only %d children to change" % len(kids))
    tail = Tail(args.daemon_log)
    m0 = metrics(args.metrics)
    inc0 = m0.get("driftwatch_incremental_evaluations_total", 0)
    log_ms, met_ms = [], []
    for i, kid in enumerate(kids):
        kind = i % 3
        if kind == 0:
            pg.query("INSERT INTO %s.referrals (referral_id, child_id, referral_date, primary_need, "
                     "neglect, closure_date, closure_reason) VALUES ($1, $2, $3::date, 'N1', false, "
                     "NULL, NULL)" % sc, ("BENCH-R-%s-%d" % (args.tag, i), kid, args.as_of))
        elif kind == 1:
            pg.query("INSERT INTO %s.appointments (appointment_id, child_id, service, scheduled_for, "
                     "outcome) VALUES ($1, $2, 'gp', ($3::date + 14 + time '10:30') AT TIME ZONE "
                     "'Europe/London', 'pending')" % sc,
                     ("BENCH-A-%s-%d" % (args.tag, i), kid, args.as_of))
        else:
            pg.query("UPDATE %s.children SET disability = NOT coalesce(disability, false) "
                     "WHERE child_id = $1" % sc, (kid,))
        deadline = time.monotonic() + args.timeout
        got = None
        while got is None and time.monotonic() < deadline:
            for line in tail.lines():
                mm = NOTIFIED_RE.search(line)
                if mm:
                    got = float(mm.group(1))
            if got is None:
                time.sleep(0.002)
        if got is None:
            raise SystemExit("bench_drive: no \"evaluated notified children\" line within %d s of "
                             "change %d (child %s)" % (args.timeout, i, kid))
        m = metrics(args.metrics)
        inc = m.get("driftwatch_incremental_evaluations_total", 0)
        log_ms.append(got * 1000.0)
        # /metrics holds the same duration unrounded; it is this evaluation's when exactly one
        # more incremental evaluation has finished.
        if inc == inc0 + len(met_ms) + 1:
            met_ms.append(m["driftwatch_last_evaluation_duration_seconds"] * 1000.0)
        else:
            say("incremental: change %d: %d evaluations since the last one; using the log line"
                % (i, inc - inc0 - len(met_ms)))
            met_ms.append(got * 1000.0)
            inc0 = inc - len(met_ms)
        time.sleep(args.pause)
    pg.close()
    say("incremental: %d changes; from the log (10 ms steps): p50 %.0f ms, p99 %.0f ms, max %.0f ms"
        % (len(log_ms), percentile(log_ms, 50), percentile(log_ms, 99), max(log_ms)))
    out(p50_ms="%.1f" % percentile(met_ms, 50), p99_ms="%.1f" % percentile(met_ms, 99),
        max_ms="%.1f" % max(met_ms), log_p50_ms="%.0f" % percentile(log_ms, 50),
        log_p99_ms="%.0f" % percentile(log_ms, 99), n=len(met_ms))


# ---------------------------------------------------------------- notify -> webhook

def cmd_notify(args):
    pg = PG(args.dsn)
    sc, st = ident(args.schema), ident(args.state_schema)
    kids = random_children(pg, args.schema, args.samples, args.seed,
                           "AND NOT EXISTS (SELECT 1 FROM %s.cp_plans p WHERE p.child_id = c.child_id) "
                           "AND NOT EXISTS (SELECT 1 FROM %s.alerts a WHERE a.child_id = c.child_id)"
                           % (sc, st))
    if len(kids) < args.samples:
        raise SystemExit("bench_drive: only %d children without a CP plan or alert" % len(kids))
    tail = Tail(args.receiver_log)
    lat = []
    for i, kid in enumerate(kids):
        pg.query("INSERT INTO %s.cp_plans (plan_id, child_id, start_date, end_date, "
                 "initial_category, latest_category, chair_id) VALUES ($1, $2, "
                 "$3::date - 730, NULL, 'NEG', 'NEG', NULL)" % sc,
                 ("BENCH-CPP-%s-%d" % (args.tag, i), kid, args.as_of))
        committed = time.time()
        deadline = time.monotonic() + args.timeout
        arrival = None
        while arrival is None and time.monotonic() < deadline:
            for line in tail.lines():
                f = line.split("\t")
                if len(f) >= 3 and f[2] == kid and arrival is None:
                    arrival = float(f[0])
            if arrival is None:
                time.sleep(0.001)
        if arrival is None:
            raise SystemExit("bench_drive: no webhook for child %s within %d s of its commit"
                             % (kid, args.timeout))
        lat.append((arrival - committed) * 1000.0)
        time.sleep(args.pause)
    pg.close()
    out(p50_ms="%.1f" % percentile(lat, 50), p99_ms="%.1f" % percentile(lat, 99),
        max_ms="%.1f" % max(lat), n=len(lat))


# ---------------------------------------------------------------- deliveries

def cmd_deliveries(args):
    pg = PG(args.dsn)
    st = ident(args.state_schema)
    rows = pg.query("SELECT payload::text FROM %s.alerts ORDER BY alert_id LIMIT 1" % st)
    payload = rows[0][0] if rows else json.dumps({
        "rule": "cp_neglect_duration", "stage": "18m", "child_id": "C-BENCH", "facts": {}})
    prefix = "bench-%s-" % args.tag
    tail = Tail(args.receiver_log)
    pg.query("INSERT INTO %s.outbox (idempotency_key, channel, destination, role, type, payload) "
             "SELECT $1 || g, 'webhook', $2, NULL, 'alert.firing', $3::jsonb "
             "FROM generate_series(1, $4::int) g" % st, (prefix, args.url, payload, args.count))
    committed = time.time()
    deadline = time.monotonic() + args.timeout
    n, first, last = 0, None, None
    while n < args.count and time.monotonic() < deadline:
        got = False
        for line in tail.lines():
            f = line.split("\t")
            if len(f) >= 2 and f[1].startswith(prefix):
                t = float(f[0])
                n += 1
                first = t if first is None else first
                last = t
                got = True
        if not got:
            time.sleep(0.01)
    if n < args.count:
        raise SystemExit("bench_drive: only %d of %d notices arrived within %d s"
                         % (n, args.count, args.timeout))
    # The outbox must say so too (results are written in batches just after the sends).
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        left = int(pg.query("SELECT count(*) FROM %s.outbox WHERE idempotency_key LIKE $1 "
                            "AND status <> 'delivered'" % st, (prefix + "%",))[0][0])
        if left == 0:
            break
        time.sleep(0.2)
    recorded = time.time()
    pg.close()
    out(per_s="%.0f" % (args.count / (last - committed)),
        steady_per_s="%.0f" % ((args.count - 1) / (last - first)) if last > first else "inf",
        first_ms="%.0f" % ((first - committed) * 1000), last_s="%.2f" % (last - committed),
        recorded_s="%.2f" % (recorded - committed), not_recorded=left)


# ---------------------------------------------------------------- explain

RULE_OPTIONS = {
    "cin_neglect_duration": {"6m": 6, "merge_gap_days": 28},
    "cp_neglect_duration": {"9m": 9, "12m": 12, "15m": 15, "18m": 18, "merge_gap_days": 28},
    "repeat_neglect_plan": {"12m": 12, "24m": 24},
    "was_not_brought": {"repeated": 2, "vulnerable": 1, "infant_months": 12, "window_months": 6},
    "worker_change": {"window_days": 14, "missed_months": 12, "history_months": 12,
                      "referral_months": 24},
    "worker_churn": {"churn": 3, "window_months": 12},
    "re_referral": {"window_months": 12, "cycle_months": 24, "cycle_count": 3},
}


EMBEDDED = {}


def load_embedded(path):
    """The SQL texts compiled into the daemon (build/sql_embed.c, written by rules/embed_sql.sh:
    one C string per file, one literal per line), so the profile explains exactly what the
    binary runs even while rules/*.sql is being edited."""
    name, buf = None, []
    esc = re.compile(r'\\(.)')
    for line in open(path, encoding="utf-8"):
        m = re.match(r"const char sql_(\w+)\[\] =", line)
        if m:
            name, buf = m.group(1), []
            continue
        if name is None:
            continue
        lit = line.strip()
        if lit == '"";':
            EMBEDDED[name + ".sql"] = "".join(buf)
            name = None
            continue
        if lit.startswith('"') and lit.endswith('"'):
            buf.append(esc.sub(lambda m: "\n" if m.group(1) == "n" else m.group(1), lit[1:-1]))


def read_sql(name, lookup=False):
    """A whole statement as the daemon runs it: from the binary's build/sql_embed.c, or made from
    rules/NAME.sql by rules/embed_sql.sh --print (includes expanded, :name parameters as $k)."""
    if EMBEDDED:
        return EMBEDDED[name.replace(".sql", "_lookup.sql") if lookup else name]
    return subprocess.run(["sh", os.path.join(ROOT, "rules", "embed_sql.sh"), "--print",
                           os.path.join(ROOT, "rules", name)] + (["--lookup"] if lookup else []),
                          cwd=ROOT, check=True, capture_output=True, text=True).stdout


def node_ms(node):
    return node.get("Actual Total Time", 0.0) * (node.get("Actual Loops", 1) or 0)


def cte_totals(node, acc):
    """Total time of each CTE's own plan, by CTE name."""
    name = node.get("Subplan Name") or ""
    if name.startswith("CTE "):
        acc[name[4:]] = acc.get(name[4:], 0.0) + node_ms(node)
    for k in node.get("Plans", []):
        cte_totals(k, acc)
    return acc


def walk(node, depth, acc, ctes):
    """Exclusive ("self") time per node, ms over all loops. A CTE's plan runs inside the CTE
    Scans that read it, so a CTE Scan's time less its CTE's is the scan's own, and a CTE's plan
    is not subtracted from the node it hangs under (the CTE Scans below already were)."""
    loops = node.get("Actual Loops", 1) or 0
    total = node_ms(node)
    kids = node.get("Plans", [])
    child_total = sum(node_ms(k) for k in kids
                      if not (k.get("Subplan Name") or "").startswith("CTE "))
    if node["Node Type"] == "CTE Scan":
        child_total += ctes.get(node.get("CTE Name"), 0.0)
    label = node["Node Type"]
    if node.get("Strategy") and node["Node Type"] in ("Aggregate", "SetOp"):
        label = node["Strategy"] + " " + label
    if "Relation Name" in node:
        label += " on " + node["Relation Name"]
    if "Index Name" in node:
        label += " using " + node["Index Name"]
    if node.get("CTE Name"):
        label += " (" + node["CTE Name"] + ")"
    extra = []
    if "Sort Method" in node:
        extra.append("%s %s kB" % (node["Sort Method"], node.get("Sort Space Used", "?")))
    if node.get("Peak Memory Usage"):
        extra.append("hash %s kB, %s batches" % (node["Peak Memory Usage"],
                                                 node.get("Hash Batches", 1)))
    if node.get("Workers Launched") is not None:
        extra.append("%s workers" % node["Workers Launched"])
    acc.append({"depth": depth, "label": label, "self_ms": max(0.0, total - child_total),
                "total_ms": total, "rows": node.get("Actual Rows", 0) * max(loops, 1),
                "loops": loops, "extra": ", ".join(extra),
                "relation": node.get("Relation Name"),
                "scan": node["Node Type"] if "Relation Name" in node else None,
                "shared_read": node.get("Shared Read Blocks", 0),
                "shared_hit": node.get("Shared Hit Blocks", 0),
                "temp_written": node.get("Temp Written Blocks", 0)})
    for k in kids:
        walk(k, depth + 1, acc, ctes)


def cmd_explain(args):
    if args.sql_from != "rules":
        load_embedded(args.sql_from)
        say("explain: SQL as compiled into the daemon (%s)" % args.sql_from)
    pg = PG(args.dsn)
    os.makedirs(args.out, exist_ok=True)
    schema = ident(args.schema)
    # what the daemon sets in its evaluation transaction (eval.c, eval_setup): a full
    # evaluation without nested loops, an incremental one with generic plans; --set after these
    daemon_sets = ["jit = off", "work_mem = '64MB'", "cursor_tuple_fraction = 1"]
    daemon_sets.append("plan_cache_mode = force_generic_plan" if args.child_ids
                       else "enable_nestloop = off")
    for s in daemon_sets + (args.set or []):
        pg.query("SET " + s)
    pg.query("SET statement_timeout = 0")
    quality = ["quality_" + r for r in ("teams", "workers", "children", "allocations",
                                         "referrals", "cin_plans", "cp_plans", "appointments",
                                         "strategies")]
    rules = args.rules.split(",") if args.rules else list(RULE_OPTIONS) + ["quality"]
    # "quality" is the bad-row count: one statement per relation (rules/quality_*.sql); the
    # child-id count the daemon assembles from the relations it could read is left out.
    rules = [q for r in rules for q in (quality if r == "quality" else [r])]
    kids = None
    if args.child_ids:
        kids = "{" + ",".join('"%s"' % k for k in args.child_ids.split(",")) + "}"
    report, scans, plain_ms = [], {}, {}
    grand = 0.0
    for rule in rules:
        if rule.startswith("quality_"):
            sql = read_sql(rule + ".sql")
            params = (args.as_of, kids, args.time_zone, "{NEG}", "{}", "")
        else:
            sql = read_sql(rule + ".sql", lookup=args.lookup and not kids)
            params = (args.as_of, kids, args.time_zone, "{NEG}",
                      json.dumps(RULE_OPTIONS[rule]), rule)
        # every column read as it is (daemon/case_columns.c reads a withheld one as NULL)
        sql = re.sub(r"@col:\w+:([^@]+)@", r"\1", sql.replace("@case@", schema))
        plain = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            pg.query(sql, params)
            plain.append((time.perf_counter() - t0) * 1000.0)
        best = None
        for _ in range(1):
            t0 = time.perf_counter()
            plan = json.loads(pg.query("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql,
                                       params)[0][0])[0]
            wall = time.perf_counter() - t0
            if best is None or plan["Execution Time"] < best[0]["Execution Time"]:
                best = (plan, wall)
        plan, wall = best
        text = "\n".join(r[0] for r in pg.query("EXPLAIN (ANALYZE, BUFFERS) " + sql, params))
        with open(os.path.join(args.out, rule + ".json"), "w") as f:
            json.dump(plan, f, indent=1)
        with open(os.path.join(args.out, rule + ".txt"), "w") as f:
            f.write(text + "\n")
        acc = []
        walk(plan["Plan"], 0, acc, cte_totals(plan["Plan"], {}))
        ex, pl = plan["Execution Time"], plan["Planning Time"]
        grand += ex + pl
        plain_ms[rule] = (min(plain), statistics.median(plain))
        report.append("== %s: run alone %.0f ms (best of %d, median %.0f); under EXPLAIN ANALYZE "
                      "execution %.0f ms, planning %.1f ms; %d rows out" % (
                          rule, min(plain), len(plain), statistics.median(plain), ex, pl,
                          plan["Plan"].get("Actual Rows", 0)))
        by_kind = {}
        for n in acc:
            kind = n["label"].split(" on ")[0].split(" using ")[0].split(" (")[0]
            by_kind[kind] = by_kind.get(kind, 0.0) + n["self_ms"]
            if n["relation"]:
                scans.setdefault(n["relation"], []).append(
                    (rule, n["scan"], n["rows"], n["self_ms"]))
        report.append("   self time by node type: " + ", ".join(
            "%s %.0f" % kv for kv in sorted(by_kind.items(), key=lambda kv: -kv[1])[:8]))
        report.append("   top nodes by self time (ms):")
        for n in sorted(acc, key=lambda n: -n["self_ms"])[:args.top]:
            report.append("     %8.1f  %-60s rows %-9d %s%s" % (
                n["self_ms"], n["label"][:60], n["rows"],
                n["extra"], (", temp %d blocks" % n["temp_written"]) if n["temp_written"] else ""))
    report.append("== every query: %.0f ms run alone (best runs), %.0f ms under EXPLAIN ANALYZE "
                  "(its per-node timing inflates nodes that handle many rows)"
                  % (sum(v[0] for v in plain_ms.values()), grand))
    report.append("== base relation reads across the queries (rule: node, rows, self ms):")
    for rel in sorted(scans):
        items = scans[rel]
        report.append("   %-13s %d reads, %d rows, %.0f ms: %s" % (
            rel, len(items), sum(i[2] for i in items), sum(i[3] for i in items),
            "; ".join("%s %s %d" % (i[0], i[1], i[2]) for i in items)))
    pg.close()
    with open(os.path.join(args.out, "profile.txt"), "w") as f:
        f.write("\n".join(report) + "\n")
    print("\n".join(report))


# ---------------------------------------------------------------- pglog

LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \S+ \[(\d+)\] "
                        r"(LOG|DETAIL|ERROR|STATEMENT|HINT|CONTEXT|WARNING|NOTICE|FATAL):  ")
LOG_DURATION = re.compile(r"duration: ([\d.]+) ms  (parse|bind|execute) ([^:]*): ", re.S)
LOG_PARAM = re.compile(r"\$(\d+) = (NULL|'((?:[^']|'')*)')", re.S)


def log_records(path):
    """The server log's records (pid, level, text), a record's continuation lines included."""
    recs = []
    for line in open(path, errors="replace"):
        m = LOG_RECORD.match(line)
        if m:
            recs.append([m.group(1), m.group(2), line[m.end():]])
        elif recs:
            recs[-1][2] += line
    return recs


def log_statements(path):
    """Statements of the logged sessions (log_min_duration_statement = 0): for each, the
    parse, bind and execute times, its text and parameters as bound, its name (a rule's $6,
    quality.sql for an empty $6, else the first word), and whether it ended: a statement bound
    but never executed to the end was still running (or was cancelled) when the log ends."""
    stmts, last = [], {}
    for pid, level, text in log_records(path):
        if level == "LOG":
            m = LOG_DURATION.match(text)
            if not m:
                continue
            step, ms, sql = m.group(2), float(m.group(1)), text[m.end():].rstrip("\n")
            cur = last.get(pid)
            if step == "parse" or cur is None or cur["done"] or cur.get(step) is not None:
                cur = {"parse": None, "bind": None, "execute": None, "done": False,
                       "sql": sql, "params": None, "error": None, "pid": pid}
                stmts.append(cur)
                last[pid] = cur
            cur[step] = ms
            cur["sql"] = sql
            if step == "execute":
                cur["done"] = True
        elif level == "DETAIL" and text.startswith("parameters: ") and pid in last:
            params = {}
            for pm in LOG_PARAM.finditer(text[len("parameters: "):]):
                params[int(pm.group(1))] = None if pm.group(2) == "NULL" else pm.group(3).replace("''", "'")
            last[pid]["params"] = [params.get(i) for i in range(1, max(params or [0]) + 1)]
        elif level == "ERROR" and pid in last and not last[pid]["done"]:
            last[pid]["error"] = text.strip()
            last[pid]["done"] = True
    for st in stmts:
        prm = st["params"] or []
        if len(prm) >= 6:
            st["name"] = prm[5] or "quality.sql"
        else:
            words = st["sql"].split()
            st["name"] = "(" + (words[0] if words else "") + ")"
    return stmts


def cmd_pglog(args):
    """Per-statement durations of one dry run from the server log (log_min_duration_statement
    = 0): parse, bind (planning) and execute of each rule's query, named by its $6."""
    stmts = log_statements(args.log)
    table, order = {}, []
    for st in stmts:
        name = st["name"]
        if name not in table:
            table[name] = {"parse": 0.0, "bind": 0.0, "execute": 0.0, "open": False, "error": None}
            order.append(name)
        t = table[name]
        for k in ("parse", "bind", "execute"):
            t[k] += st[k] or 0.0
        if st["execute"] is None:
            t["open"] = True
            t["error"] = st["error"] or t["error"]
    print("%-22s %9s %9s %10s %10s" % ("statement", "parse ms", "plan ms", "execute ms", "total ms"))
    grand = 0.0
    for name in order:
        t = table[name]
        tot = t["parse"] + t["bind"] + t["execute"]
        grand += tot
        note = ""
        if t["open"]:
            note = "  not finished: " + (t["error"].splitlines()[0] if t["error"] else
                                         "still running when the log ends")
        print("%-22s %9.1f %9.1f %10.1f %10.1f%s" % (name[:22], t["parse"], t["bind"], t["execute"], tot, note))
    print("%-22s %9s %9s %10s %10.1f" % ("all", "", "", "", grand))
    if args.plans_dsn:
        explain_logged(args, stmts)


def explain_logged(args, stmts):
    """EXPLAIN (no ANALYZE: a statement that ran for minutes is not run again) of each logged
    statement that took at least --plans-min-ms or never finished, with the parameters it was
    bound with, after replaying the session's set-up statements (BEGIN, set_config) so that
    the plan is made under the same settings."""
    pg = PG(args.plans_dsn)
    pg.query("BEGIN")
    outl = []
    try:
        for st in stmts:
            prm = st["params"] or []
            if len(prm) < 6:
                first = st["sql"].lstrip().split(None, 1)[0].upper() if st["sql"].strip() else ""
                if first in ("SET", "SELECT") and "set_config" in st["sql"] or first == "SET":
                    pg.query(st["sql"], prm)
                continue
            if st["execute"] is not None and st["execute"] < args.plans_min_ms:
                continue
            state = ("execute %.0f ms" % st["execute"]) if st["execute"] is not None else \
                ("not finished: " + (st["error"].splitlines()[0] if st["error"] else "still running"))
            rows = pg.query("EXPLAIN " + st["sql"], prm)
            outl.append("==== %s (%s)" % (st["name"], state))
            outl.extend(r[0] for r in rows)
            outl.append("")
    finally:
        pg.query("ROLLBACK")
        pg.close()
    with open(args.plans_out, "w") as f:
        f.write("\n".join(outl) + "\n")
    say("pglog: %d plans written to %s" % (sum(1 for l in outl if l.startswith("==== ")), args.plans_out))


def cmd_page(args):
    """Times GET of one page on web.listen as a person the sign-on proxy vouches for (the
    header it would add, sent from 127.0.0.1, which the daemon's web.trusted_proxies must
    hold): one warm-up, then --runs requests one after another, each timed from the request's
    first byte to the answer's last. For any page: /service, /, /team/X, /child/X. The
    warm-up's own time is first_ms: for /service it is the figures for everyone computed, which
    the later requests reuse while nothing changes (web_service.c)."""
    import http.client
    u = urllib.parse.urlsplit(args.url)
    path = u.path + ("?" + u.query if u.query else "")
    times, size, status, first = [], 0, None, None
    for i in range(args.runs + 1):
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=args.timeout)
        t0 = time.perf_counter()
        c.request("GET", path, headers={args.header: args.email})
        r = c.getresponse()
        body = r.read()
        ms = (time.perf_counter() - t0) * 1000.0
        c.close()
        status, size = r.status, len(body)
        if status != 200:
            raise SystemExit("page: GET %s as %s answered %d: %s" % (
                args.url, args.email, status, body[:300].decode(errors="replace")))
        if i > 0:
            times.append(ms)
        else:
            first = ms
    say("page %s as %s: first %.1f ms, then %d runs, p50 %.1f ms, max %.1f ms, %d bytes" % (
        path, args.email, first, len(times), percentile(times, 50), max(times), size))
    out(first_ms="%.1f" % first, p50_ms="%.1f" % percentile(times, 50),
        p99_ms="%.1f" % percentile(times, 99),
        max_ms="%.1f" % max(times), bytes=size, status=status, n=len(times))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd_name", required=True)

    p = sub.add_parser("run")
    p.add_argument("--timeout", type=float, default=None)
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    p.set_defaults(fn=cmd_run)

    p = sub.add_parser("scan")
    p.add_argument("--dsn", required=True)
    p.add_argument("--schema", default="casework")
    p.add_argument("--runs", type=int, default=5)
    p.set_defaults(fn=cmd_scan)

    p = sub.add_parser("incremental")
    p.add_argument("--dsn", required=True)
    p.add_argument("--schema", default="casework")
    p.add_argument("--metrics", required=True)
    p.add_argument("--daemon-log", required=True)
    p.add_argument("--changes", type=int, default=200)
    p.add_argument("--pause", type=float, default=0.05)
    p.add_argument("--timeout", type=int, default=60)
    p.add_argument("--as-of", required=True)
    p.add_argument("--seed", type=float, default=0.1)
    p.add_argument("--tag", default="0")
    p.set_defaults(fn=cmd_incremental)

    p = sub.add_parser("notify")
    p.add_argument("--dsn", required=True)
    p.add_argument("--schema", default="casework")
    p.add_argument("--state-schema", default="driftwatch")
    p.add_argument("--receiver-log", required=True)
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--pause", type=float, default=0.1)
    p.add_argument("--timeout", type=int, default=60)
    p.add_argument("--as-of", required=True)
    p.add_argument("--seed", type=float, default=0.2)
    p.add_argument("--tag", default="0")
    p.set_defaults(fn=cmd_notify)

    p = sub.add_parser("deliveries")
    p.add_argument("--dsn", required=True)
    p.add_argument("--state-schema", default="driftwatch")
    p.add_argument("--receiver-log", required=True)
    p.add_argument("--count", type=int, default=20000)
    p.add_argument("--url", required=True)
    p.add_argument("--timeout", type=int, default=600)
    p.add_argument("--tag", default="0")
    p.set_defaults(fn=cmd_deliveries)

    p = sub.add_parser("explain")
    p.add_argument("--dsn", required=True)
    p.add_argument("--schema", default="casework")
    p.add_argument("--as-of", required=True)
    p.add_argument("--time-zone", default="Europe/London")
    p.add_argument("--out", required=True)
    p.add_argument("--repeat", type=int, default=3, help="plain runs of each query to time")
    p.add_argument("--top", type=int, default=8)
    p.add_argument("--sql-from", default=os.path.join(ROOT, "build", "sql_embed.c"),
                   help="build/sql_embed.c (default: what the binary runs) or 'rules'")
    p.add_argument("--rules", help="comma-separated rule names (quality for the quality_*.sql)")
    p.add_argument("--child-ids", help="comma-separated child ids: explain an incremental evaluation")
    p.add_argument("--set", action="append", help="a SET for the session, e.g. work_mem='256MB'")
    p.add_argument("--lookup", action="store_true",
                   help="the rules' lookup form (the daemon's where children and allocations "
                        "have their child_id indexes; it logs which it runs under -v)")
    p.set_defaults(fn=cmd_explain)

    p = sub.add_parser("page")
    p.add_argument("--url", required=True, help="http://127.0.0.1:PORT/service and the like")
    p.add_argument("--email", required=True, help="who is signed in")
    p.add_argument("--header", default="X-Forwarded-Email", help="web.user_header")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--timeout", type=float, default=30)
    p.set_defaults(fn=cmd_page)

    p = sub.add_parser("pglog")
    p.add_argument("log")
    p.add_argument("--plans-dsn", help="EXPLAIN the slow or unfinished statements on this server")
    p.add_argument("--plans-out", default="plans.txt")
    p.add_argument("--plans-min-ms", type=float, default=1000.0)
    p.set_defaults(fn=cmd_pglog)

    args = ap.parse_args()
    if args.cmd_name == "run" and args.cmd and args.cmd[0] == "--":
        args.cmd = args.cmd[1:]
    args.fn(args)


if __name__ == "__main__":
    main()
