#!/usr/bin/python3
"""contrib_check: test_contrib.sh's checks of contrib/ against a running driftwatch.

  contrib_check.py exprs DASHBOARD            a rules file of the dashboard's queries (its
                                              variables filled in), for `promtool check rules`
  contrib_check.py names METRICS FILE...      every driftwatch_* name FILE uses is a sample the
                                              daemon exported in METRICS (a /metrics scrape),
                                              every label a dashboard query groups or matches by
                                              is one of those samples' (or job, instance)
  contrib_check.py query PROM_URL DASHBOARD   each dashboard query answered by a real
                                              Prometheus scraping the daemon: no error, and data

Prints `ok - NAME` / `not ok - NAME` lines (tests/run.sh) and exits 1 when one failed.
"""
import json
import re
import sys
import urllib.parse
import urllib.request

failed = 0


def ok(name):
    print(f"ok - {name}")


def notok(name, *diag):
    global failed
    failed += 1
    print(f"not ok - {name}")
    for d in diag:
        for line in str(d).splitlines()[:40]:
            print(f"#   {line}")


# The dashboard's variables as a Prometheus scraping one daemon under job="driftwatch" sees them.
VARS = {"$job": "driftwatch", "$instance": ".*"}


def dashboard_exprs(path):
    """(panel title, refId, expr with variables filled in) of every query of the dashboard."""
    with open(path, encoding="utf-8") as f:
        dash = json.load(f)
    out = []
    for p in dash.get("panels", []):
        for t in p.get("targets", []):
            expr = t.get("expr", "")
            for k, v in VARS.items():
                expr = expr.replace(k, v)
            out.append((p.get("title", "?"), t.get("refId", "?"), expr))
    return out


def cmd_exprs(dash):
    print("groups:\n  - name: dashboard\n    rules:")
    for i, (_, _, expr) in enumerate(dashboard_exprs(dash)):
        print(f"      - record: dashboard:query_{i}")
        print(f"        expr: {json.dumps(expr)}")
    return 0


def scraped(metrics_path):
    """{sample name: set of label names} of a Prometheus text exposition."""
    samples = {}
    with open(metrics_path, encoding="utf-8") as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s", line)
            if not m:
                continue
            labels = set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', m.group(3) or ""))
            samples.setdefault(m.group(1), set()).update(labels)
    return samples


def cmd_names(metrics_path, files):
    samples = scraped(metrics_path)
    if not any(n.startswith("driftwatch_") for n in samples):
        notok("the scrape holds driftwatch_* samples", f"{metrics_path} has none")
        return 1
    all_labels = set().union(*samples.values()) | {"job", "instance"}
    for path in files:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        used = sorted(set(re.findall(r"driftwatch_[a-z0-9_]+", text)))
        unknown = [n for n in used if n not in samples]
        if not used:
            notok(f"{path} uses driftwatch metrics")
        elif unknown:
            notok(f"every driftwatch metric {path} uses is one the daemon exports",
                  "not exported: " + " ".join(unknown))
        else:
            ok(f"every driftwatch metric {path} uses ({len(used)}) is one the daemon exports")
        exprs = [e for _, _, e in dashboard_exprs(path)] if path.endswith(".json") else [text]
        labels = set()
        for e in exprs:
            for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", e):
                labels.update(x.strip() for x in group.split(",") if x.strip())
            # a matcher: label="..", =~, != or !~ (quoted as \" in a YAML string)
            labels.update(re.findall(r'[{,]\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\\?"', e))
            labels.update(re.findall(r"\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)", e))
        unknown = sorted(labels - all_labels)
        if unknown:
            notok(f"every label {path} uses is one the daemon's samples carry",
                  "unknown: " + " ".join(unknown))
        else:
            ok(f"every label {path} uses ({', '.join(sorted(labels))}) is one the daemon's samples carry")
    return 1 if failed else 0




def cmd_query(prom, dash):
    empty = []
    errors = []
    n = 0
    for title, ref, expr in dashboard_exprs(dash):
        n += 1
        url = prom + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                body = json.load(r)
        except Exception as e:  # an HTTP 400 is a query Prometheus refused
            errors.append(f"{title} {ref}: {expr}: {e}")
            continue
        if body.get("status") != "success":
            errors.append(f"{title} {ref}: {expr}: {body}")
        elif not body["data"]["result"]:
            empty.append(f"{title} {ref}: {expr}")
    if errors:
        notok(f"Prometheus runs every dashboard query ({n}) without an error", *errors)
    else:
        ok(f"Prometheus runs every dashboard query ({n}) without an error")
    if empty:
        notok("every dashboard query has data from the running daemon", *empty)
    else:
        ok(f"every dashboard query ({n}) has data from the running daemon")
    return 1 if failed else 0


def main(argv):
    if len(argv) >= 3 and argv[1] == "exprs":
        return cmd_exprs(argv[2])
    if len(argv) >= 4 and argv[1] == "names":
        return cmd_names(argv[2], argv[3:])
    if len(argv) == 4 and argv[1] == "query":
        return cmd_query(argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
