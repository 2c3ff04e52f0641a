#!/usr/bin/env bash
# contrib/ (issue 15, item 5) against a real driftwatch: the Prometheus alerting rules pass
# `promtool check rules` and their tests `promtool test rules`; the Grafana dashboard is
# importable JSON whose every query PromQL parses; every driftwatch_* metric and every label the
# rules and the dashboard use is one the daemon exports (the daemon runs over a test database
# and its /metrics is scraped); a real Prometheus scraping that daemon loads the rules (all
# healthy, none pending or firing for a healthy daemon), answers every dashboard query with
# data, holds DriftwatchRuleFailing pending while a relation a rule reads is gone, and
# DriftwatchChannelStalled while a webhook's secret cannot be read.
#
# Needs promtool and prometheus (Debian's prometheus package), jq, /usr/bin/python3 and the
# daemon (DRIFTWATCHD). Environment: PGHOST PGPORT PGUSER (tests/run.sh's server), DW_TOP.
set -u

top=${DW_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
D=${DRIFTWATCHD:-$top/build/san/driftwatchd}
py=/usr/bin/python3
check_py=$top/tests/integration/contrib_check.py
rules=$top/contrib/prometheus/driftwatch-alerts.yml
rules_test=$top/contrib/prometheus/driftwatch-alerts.test.yml
dash=$top/contrib/grafana/driftwatch-dashboard.json
. "$top/tests/lib/tap.sh"

require "promtool is installed (package prometheus)" command -v promtool
require "prometheus is installed (package prometheus)" command -v prometheus
require "jq is installed" command -v jq
require "the daemon is built ($D)" test -x "$D"

tmp=$(mktemp -d "${TEST_TMPDIR:-${TMPDIR:-/tmp}}/dw-contrib.XXXXXX") || exit 1
pids=()
cleanup() {
	stop_all "${pids[@]}"
	rm -rf "$tmp"
}
trap cleanup EXIT

# ---- the rules on their own ----

check_cmd "promtool check rules contrib/prometheus/driftwatch-alerts.yml" promtool check rules "$rules"
n_alerts=$(grep -c '^ *- alert: ' "$rules")
check "the rules file holds the 8 alerts the README lists (found $n_alerts)" '[ "$n_alerts" -eq 8 ]'
# Each alert is exercised: its name appears as an alertname in the tests that expect it firing.
untested=()
for a in $(sed -n 's/^ *- alert: *//p' "$rules"); do
	grep -q "alertname: $a\$" "$rules_test" || untested+=("$a")
done
check "every alert has a test in driftwatch-alerts.test.yml" '[ ${#untested[@]} -eq 0 ]'
[ ${#untested[@]} -eq 0 ] || note "untested: ${untested[*]}"
(cd "$(dirname "$rules_test")" && promtool test rules "$(basename "$rules_test")") >"$tmp/promtest.log" 2>&1
check_status "promtool test rules contrib/prometheus/driftwatch-alerts.test.yml" $? "$(cat "$tmp/promtest.log")"

# ---- the dashboard on its own ----

if jq -e . "$dash" >/dev/null 2>"$tmp/jq.err"; then
	ok "the dashboard is valid JSON"
else
	notok "the dashboard is valid JSON" "$(cat "$tmp/jq.err")"
	exit 1
fi
# What Grafana's import needs: a title and uid, panels with unique ids on the 24-column grid,
# every query on the dashboard's datasource variable (so the importer picks the Prometheus).
problems=$(jq -r '
	(if (.title | type) != "string" or (.uid | type) != "string" or (.uid | length) > 40
	 then "title or uid missing (or uid over 40 characters)" else empty end),
	(if (.schemaVersion | type) != "number" then "no schemaVersion" else empty end),
	(if ([.panels[].id] | length) != ([.panels[].id] | unique | length) then "panel ids repeat" else empty end),
	(.panels[] | select(.gridPos.x + .gridPos.w > 24) | "panel \(.title) is wider than the grid"),
	(.panels[] | select(.type != "row") | select((.targets // []) | length == 0) | "panel \(.title) has no query"),
	(.panels[] | select(.type != "row") | .targets[]? | select(.datasource.uid != "${datasource}") | "a query of a panel is not on ${datasource}"),
	(if ([.templating.list[] | select(.type == "datasource" and .name == "datasource" and .query == "prometheus")] | length) != 1
	 then "no Prometheus datasource variable named datasource" else empty end)' "$dash")
check "the dashboard has what a Grafana import needs (title, uid, ids, grid, datasource variable)" '[ -z "$problems" ]'
[ -z "$problems" ] || printf '%s\n' "$problems" | diag
"$py" "$check_py" exprs "$dash" >"$tmp/dash-rules.yml"
n_queries=$(grep -c 'record: ' "$tmp/dash-rules.yml")
check_cmd "promtool parses each of the dashboard's $n_queries queries (as recording rules)" \
	promtool check rules "$tmp/dash-rules.yml"

# ---- a daemon to compare with ----

db=dwcontrib
dropdb --if-exists "$db" >/dev/null 2>&1
createdb "$db" || { notok "create database $db"; exit 1; }
# One child with no id, so that driftwatch_bad_rows has a series as on a real authority's data.
if psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$top/rules/contract.sql" >"$tmp/contract.log" 2>&1 &&
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" \
		-c "INSERT INTO casework.children (child_id, date_of_birth) VALUES ('c1', '2020-01-01'), (NULL, '2019-05-05')" \
		>>"$tmp/contract.log" 2>&1; then
	ok "a case database with the contract and two children (one with no id)"
else
	notok "a case database with the contract and two children (one with no id)" "$(cat "$tmp/contract.log")"
	exit 1
fi
http_port=$(free_port)
cat >"$tmp/driftwatch.json" <<JSON
{
  "database": { "conninfo": "host=127.0.0.1 port=$PGPORT dbname=$db user=$PGUSER",
                "case_schema": "casework" },
  "timezone": "Europe/London",
  "addresses": { "fallback": "duty@la.example" },
  "evaluation": { "interval_seconds": 300 },
  "http": { "listen": "127.0.0.1:$http_port" }
}
JSON
"$D" -c "$tmp/driftwatch.json" >"$tmp/daemon.out" 2>"$tmp/daemon.err" &
dpid=$!
pids+=("$dpid")

scrape() {
	"$py" -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
		"http://127.0.0.1:$http_port/metrics" >"$tmp/metrics.txt" 2>/dev/null
}
# Ready when a full evaluation has finished and the bad rows have been counted after it.
ready() {
	scrape && grep -q '^driftwatch_last_evaluation_success 1$' "$tmp/metrics.txt" &&
		grep -q '^driftwatch_bad_rows{' "$tmp/metrics.txt"
}
if wait_for 60 ready; then
	ok "the daemon evaluated the test database and /metrics says so (with bad rows counted)"
else
	notok "the daemon evaluated the test database and /metrics says so (with bad rows counted)" \
		"$(tail -n 20 "$tmp/daemon.err")" "$(grep -E '^driftwatch_(last_eval|bad_rows|database_up)' "$tmp/metrics.txt" 2>/dev/null)"
	exit 1
fi
"$py" "$check_py" names "$tmp/metrics.txt" "$rules" "$dash" >"$tmp/names.log"
tap_relay "$tmp/names.log"

# ---- a real Prometheus scraping that daemon, with the rules loaded ----

prom_port=$(free_port)
cat >"$tmp/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $rules
scrape_configs:
  - job_name: driftwatch
    static_configs:
      - targets: ['127.0.0.1:$http_port']
YML
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
	--web.listen-address="127.0.0.1:$prom_port" >"$tmp/prometheus.log" 2>&1 &
pids+=($!)
prom=http://127.0.0.1:$prom_port
# q EXPR: the instant query's first value, or nothing
q() {
	"$py" -c 'import json, sys, urllib.parse, urllib.request
u = sys.argv[1] + "/api/v1/query?" + urllib.parse.urlencode({"query": sys.argv[2]})
r = json.load(urllib.request.urlopen(u, timeout=5))["data"]["result"]
print(r[0]["value"][1] if r else "")' "$prom" "$1" 2>/dev/null
}
# Five scrapes, so that increase() and rate() over the dashboard's windows have two points.
scraped_enough() { [ "$(q 'count_over_time(up{job="driftwatch"}[5m])')" -ge 5 ] 2>/dev/null; }
if wait_for 90 scraped_enough; then
	ok "Prometheus scrapes the daemon (job driftwatch, 5 scrapes)"
else
	notok "Prometheus scrapes the daemon (job driftwatch, 5 scrapes)" "$(tail -n 20 "$tmp/prometheus.log")"
	exit 1
fi
check "Prometheus sees the daemon up" '[ "$(q "up{job=\"driftwatch\"}")" = 1 ]'
"$py" "$check_py" query "$prom" "$dash" >"$tmp/query.log"
tap_relay "$tmp/query.log"

# Every rule evaluated at least once without an error, and a healthy daemon raises none.
sleep 2
"$py" -c 'import json, sys, urllib.request
g = json.load(urllib.request.urlopen(sys.argv[1] + "/api/v1/rules", timeout=5))["data"]["groups"]
rules = [r for grp in g for r in grp["rules"]]
for r in rules:
    print(r["name"], r["health"], r.get("state", "-"), (r.get("lastError") or "").replace("\n", " "))' \
	"$prom" >"$tmp/rules.txt" 2>&1
n_ok=$(awk '$2 == "ok"' "$tmp/rules.txt" | wc -l)
check "Prometheus evaluates all $n_alerts rules without an error (health ok: $n_ok)" '[ "$n_ok" -eq "$n_alerts" ]'
[ "$n_ok" -eq "$n_alerts" ] || diag "$tmp/rules.txt"
active=$(awk '$3 != "inactive"' "$tmp/rules.txt")
check "no driftwatch alert is pending or firing for a healthy daemon" '[ -z "$active" ]'
[ -z "$active" ] || printf '%s\n' "$active" | diag

# ---- a rule failing for real ----
# The referrals relation goes away (a revoked grant or a dropped view at an authority): the
# rules reading it fail, the daemon says so in /metrics, and Prometheus holds
# DriftwatchRuleFailing pending for them (it fires after its 10 minutes, which promtool's tests
# cover). Back in place, the rules recover and the alert is inactive again.

# rule_state NAME [LABEL]: "STATE VALUES" of the alert NAME in Prometheus's rules API, VALUES
# being its active alerts' LABEL (default rule)
rule_state() {
	"$py" -c 'import json, sys, urllib.request
g = json.load(urllib.request.urlopen(sys.argv[1] + "/api/v1/rules", timeout=5))["data"]["groups"]
for r in (r for grp in g for r in grp["rules"] if r["name"] == sys.argv[2]):
    print(r["state"], " ".join(sorted(a["labels"].get(sys.argv[3], "") for a in r.get("alerts", []))))' \
		"$prom" "$1" "${2:-rule}" 2>/dev/null
}
rule_failing_scraped() { scrape && grep -q '^driftwatch_rule_failing{rule="re_referral"} 1$' "$tmp/metrics.txt"; }
rule_ok_scraped() { scrape && ! grep -q '^driftwatch_rule_failing{.*} 1$' "$tmp/metrics.txt"; }
alert_pending() { rule_state DriftwatchRuleFailing | grep -q '^pending .*re_referral'; }
alert_inactive() { [ "$(rule_state DriftwatchRuleFailing)" = "inactive " ]; }

psql -X -q -d "$db" -c "ALTER TABLE casework.referrals RENAME TO referrals_away" -c "NOTIFY driftwatch_all" \
	>"$tmp/rename.log" 2>&1
if wait_for 90 rule_failing_scraped; then
	ok "with casework.referrals gone, /metrics says re_referral is failing"
else
	notok "with casework.referrals gone, /metrics says re_referral is failing" \
		"$(cat "$tmp/rename.log")" "$(grep rule_failing "$tmp/metrics.txt")" "$(tail -n 5 "$tmp/daemon.err")"
fi
if wait_for 30 alert_pending; then
	ok "Prometheus holds DriftwatchRuleFailing pending for re_referral ($(rule_state DriftwatchRuleFailing))"
else
	notok "Prometheus holds DriftwatchRuleFailing pending for re_referral" "$(rule_state DriftwatchRuleFailing)"
fi
psql -X -q -d "$db" -c "ALTER TABLE casework.referrals_away RENAME TO referrals" -c "NOTIFY driftwatch_all" \
	>"$tmp/rename.log" 2>&1
if wait_for 90 rule_ok_scraped && wait_for 30 alert_inactive; then
	ok "with casework.referrals back, the rules recover and DriftwatchRuleFailing is inactive"
else
	notok "with casework.referrals back, the rules recover and DriftwatchRuleFailing is inactive" \
		"$(grep rule_failing "$tmp/metrics.txt")" "$(rule_state DriftwatchRuleFailing)"
fi

# ---- a webhook secret that cannot be read ----
# The daemon is reloaded with a webhook whose secret_file is missing, and the case data gets
# children with alerts: that receiver's notices wait in the outbox, unclaimed, none is
# delivered, and Prometheus holds DriftwatchChannelStalled pending for the webhook channel (it
# fires after 15 minutes; promtool's tests cover that). This is how an unreadable secret shows
# in the metrics: as a channel that delivers nothing, not by name (the log names the key).
dead_port=$(free_port)
jq --arg u "http://127.0.0.1:$dead_port/hook" --arg f "$tmp/no-such-secret" \
	'.webhooks = [{ "url": $u, "secret_file": $f }]' "$tmp/driftwatch.json" >"$tmp/driftwatch.new" &&
	mv "$tmp/driftwatch.new" "$tmp/driftwatch.json"
log_mark=$(wc -l <"$tmp/daemon.err")
kill -HUP "$dpid"
secret_logged() { tail -n "+$((log_mark + 1))" "$tmp/daemon.err" | grep -q "webhooks\[0\]\.secret_file"; }
if wait_for 30 secret_logged; then
	ok "reloaded with an unreadable webhook secret, the daemon names webhooks[0].secret_file in its log"
else
	notok "reloaded with an unreadable webhook secret, the daemon names webhooks[0].secret_file in its log" \
		"$(tail -n 10 "$tmp/daemon.err")"
fi
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -v schema=casework -f "$top/tests/fixtures/daemon.sql" \
	-c "NOTIFY driftwatch_all" >"$tmp/fixture.log" 2>&1 ||
	notok "load tests/fixtures/daemon.sql" "$(cat "$tmp/fixture.log")"
webhook_waiting() {
	scrape && grep -Eq '^driftwatch_notices\{channel="webhook",status="pending"\} [1-9]' "$tmp/metrics.txt"
}
if wait_for 90 webhook_waiting; then
	ok "the new alerts' webhook notices wait in the outbox ($(grep '^driftwatch_notices{channel="webhook",status="pending"}' "$tmp/metrics.txt"))"
else
	notok "the new alerts' webhook notices wait in the outbox" "$(grep -E '^driftwatch_(notices|alerts)' "$tmp/metrics.txt")"
fi
check "none is delivered (driftwatch_deliveries_total{channel=\"webhook\"} 0)" \
	'grep -q "^driftwatch_deliveries_total{channel=\"webhook\"} 0$" "$tmp/metrics.txt"'
stalled_pending() { rule_state DriftwatchChannelStalled channel | grep -q '^pending .*webhook'; }
if wait_for 30 stalled_pending; then
	ok "Prometheus holds DriftwatchChannelStalled pending for the webhook channel ($(rule_state DriftwatchChannelStalled channel))"
else
	notok "Prometheus holds DriftwatchChannelStalled pending for the webhook channel" \
		"$(rule_state DriftwatchChannelStalled channel)"
fi

# ---- the daemon stops cleanly ----

kill -TERM "$dpid"
if wait_exit "$dpid" 20; then
	check "the daemon exits 0 on SIGTERM" '[ "$rc" -eq 0 ]'
else
	notok "the daemon exits 0 on SIGTERM" "still running after 20 s"
fi
no_sanitizer_report "no sanitizer report from the daemon" "$tmp/daemon.err"
dropdb --if-exists "$db" >/dev/null 2>&1
tap_end
