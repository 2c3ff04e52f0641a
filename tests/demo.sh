#!/usr/bin/env bash
# make demo: a throwaway PostgreSQL with synthetic cases, one dry run, and what each supervisor
# and CP chair would be told. Installs what is missing when run as root; else says what to run.
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO_CHILDREN=${DEMO_CHILDREN:-20000}
DEMO_SEED=${DEMO_SEED:-42}
DEMO_PORT=${DEMO_PORT:-15490}
DEMO_AS_OF=${DEMO_AS_OF:-$(date +%F)}
PACKAGES="build-essential pkg-config libpq-dev libevent-dev libjansson-dev libcurl4-openssl-dev libssl-dev postgresql-15 postgresql-client-15 python3 python3-aiosmtpd openssl"

missing=()
for p in $PACKAGES; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# Node.js may come from elsewhere than Debian (with its own npm); only the commands matter.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ]; then
		echo "demo: installing ${missing[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	else
		echo "demo: missing packages; run as root:" >&2
		echo "  apt-get install -y ${missing[*]}" >&2
		exit 2
	fi
fi
make -s all

. tests/lib/pg.sh
dir=$(mktemp -d /tmp/driftwatch-demo.XXXXXX)
chmod 0755 "$dir"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	pg_stop "$dir/pg" || true
	rm -rf "$dir"
}
trap cleanup EXIT
echo "demo: starting a throwaway PostgreSQL in $dir on port $DEMO_PORT"
pg_start "$dir/pg" "$DEMO_PORT"

echo "demo: loading $DEMO_CHILDREN synthetic children (seed $DEMO_SEED, as of $DEMO_AS_OF)"
bash bench/load.sh --dsn "host=127.0.0.1 port=$DEMO_PORT dbname=$PGDATABASE user=$PGUSER" \
	--children "$DEMO_CHILDREN" --seed "$DEMO_SEED" --as-of "$DEMO_AS_OF" | sed 's/^/  /'

cat > "$dir/driftwatch.json" <<JSON
{
  "database": { "conninfo": "host=127.0.0.1 port=$DEMO_PORT dbname=$PGDATABASE user=$PGUSER" },
  "link_template": "https://lcs.example.gov.uk/person/{child_id}",
  "addresses": {
    "fallback": "duty@la.example",
    "cp_chair": "cp-chairs@la.example",
    "cp_manager": "cp-manager@la.example",
    "head_of_service": "hos@la.example",
    "operators": "it-ops@la.example"
  }
}
JSON
echo "demo: checking the configuration and the contract"
build/driftwatchd -c "$dir/driftwatch.json" --check-config | sed 's/^/  /'
echo "demo: driftwatchd -c driftwatch.json --once --dry-run --as-of $DEMO_AS_OF"
build/driftwatchd -c "$dir/driftwatch.json" --once --dry-run --as-of "$DEMO_AS_OF" \
	> "$dir/alerts.jsonl" 2> "$dir/summary.txt"
sed 's/^/  /' "$dir/summary.txt"
echo
echo "demo: the first two alerts as JSON (one per line on standard output):"
head -n 2 "$dir/alerts.jsonl" | sed 's/^/  /'
echo
/usr/bin/python3 tests/demo_digest.py "$dir/alerts.jsonl"

echo
echo "demo: now for real: a local SMTP server (STARTTLS and AUTH required, a test CA) and a"
echo "demo: webhook receiver on loopback, and driftwatchd --once delivering to them"
SMTP_PORT=$((DEMO_PORT + 1)) HOOK_PORT=$((DEMO_PORT + 2))
sh tests/integration/make_test_ca.sh "$dir/ca" >"$dir/ca.log" 2>&1
/usr/bin/python3 tests/integration/smtp_server.py --port "$SMTP_PORT" --maildir "$dir/mail" \
	--seconds 300 --cert "$dir/ca/server.pem" --key "$dir/ca/server.key" \
	--user driftwatch --password demo-password --ready "$dir/smtp.ready" >"$dir/smtp.log" 2>&1 &
pids+=($!)
/usr/bin/python3 tests/integration/webhook_receiver.py --port "$HOOK_PORT" --log "$dir/hooks.jsonl" \
	--lifetime 300 --ready-file "$dir/hook.ready" >"$dir/hook.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -e "$dir/smtp.ready" ] && [ -e "$dir/hook.ready" ] && break; sleep 0.1; done
printf 'demo-password\n' > "$dir/smtp-password"
secret="whsec_$(head -c 32 /dev/urandom | base64)"
printf '%s\n' "$secret" > "$dir/hook-secret"
cat > "$dir/deliver.json" <<JSON
{
  "database": { "conninfo": "host=127.0.0.1 port=$DEMO_PORT dbname=$PGDATABASE user=$PGUSER" },
  "link_template": "https://lcs.example.gov.uk/person/{child_id}",
  "addresses": {
    "fallback": "duty@la.example", "cp_chair": "cp-chairs@la.example",
    "cp_manager": "cp-manager@la.example", "head_of_service": "hos@la.example",
    "operators": "it-ops@la.example"
  },
  "email": {
    "smtp_url": "smtp://127.0.0.1:$SMTP_PORT", "tls": "starttls", "from": "driftwatch@la.example",
    "username": "driftwatch", "password_file": "$dir/smtp-password", "ca_file": "$dir/ca/ca.pem"
  },
  "webhooks": [
    { "url": "http://127.0.0.1:$HOOK_PORT/drift", "secret_file": "$dir/hook-secret",
      "rules": ["cp_neglect_duration", "repeat_neglect_plan"] }
  ]
}
JSON
build/driftwatchd -c "$dir/deliver.json" --once --as-of "$DEMO_AS_OF" 2>&1 | grep -E "changes:|delivery:" | sed 's/^/  /'
echo "demo: running it again the same day sends nothing new:"
build/driftwatchd -c "$dir/deliver.json" --once --as-of "$DEMO_AS_OF" 2>&1 | grep -E "changes:|delivery:" | sed 's/^/  /'
echo
/usr/bin/python3 tests/demo_digest.py --mail "$dir/mail" --hooks "$dir/hooks.jsonl"
if command -v node >/dev/null 2>&1; then
	if [ ! -d tests/integration/node_modules/standardwebhooks ]; then
		(cd tests/integration && npm ci --no-audit --no-fund --silent) >/dev/null 2>&1 || true
	fi
	if [ -d tests/integration/node_modules/standardwebhooks ]; then
		echo
		echo "demo: the webhooks' signatures, checked with the npm standardwebhooks package:"
		node tests/integration/verify_standardwebhooks.js --log "$dir/hooks.jsonl" \
			--secret-file "$dir/hook-secret" 2>&1 | grep -c '^ok - signature' | \
			sed 's/^/  verified signatures: /'
	fi
fi


echo
echo "demo: the pages for people (/ my alerts, /team/{team_id}) on web.listen, behind a pretend"
echo "demo: sign-on proxy per person (tests/demo_proxy.py adds X-Forwarded-Email, as the"
echo "demo: authority's single sign-on proxy would after a real sign-in; for this demo only)"
WEB_PORT=$((DEMO_PORT + 3))
# the people the synthetic authority has: a supervisor with alerts, a chair of a plan with one
psql_q() { psql -X -q -t -A -h 127.0.0.1 -p "$DEMO_PORT" -U "$PGUSER" -d "$PGDATABASE" -c "$1"; }
sup=$(psql_q "SELECT w.email FROM casework.workers s JOIN casework.workers w ON w.worker_id = s.supervisor_id
              JOIN casework.allocations al ON al.worker_id = s.worker_id AND al.end_date IS NULL
              JOIN driftwatch.alerts a ON a.child_id = al.child_id AND a.status = 'firing'
              GROUP BY w.email ORDER BY count(*) DESC, w.email LIMIT 1")
team=$(psql_q "SELECT team_id FROM casework.workers WHERE email = '$sup' LIMIT 1")
chair=$(psql_q "SELECT w.email FROM casework.cp_plans p JOIN casework.workers w ON w.worker_id = p.chair_id
                JOIN driftwatch.alerts a ON a.child_id = p.child_id AND a.status = 'firing'
                WHERE p.end_date IS NULL GROUP BY w.email ORDER BY count(*) DESC, w.email LIMIT 1")
cat > "$dir/pages.json" <<JSON
{
  "database": { "conninfo": "host=127.0.0.1 port=$DEMO_PORT dbname=$PGDATABASE user=$PGUSER" },
  "link_template": "https://lcs.example.gov.uk/person/{child_id}",
  "addresses": {
    "fallback": "duty@la.example", "cp_chair": "cp-chairs@la.example",
    "cp_manager": "cp-manager@la.example", "head_of_service": "hos@la.example",
    "operators": "it-ops@la.example"
  },
  "evaluation": { "interval_seconds": 3600 },
  "web": { "listen": "127.0.0.1:$WEB_PORT", "trusted_proxies": ["127.0.0.1"] }
}
JSON
build/driftwatchd -c "$dir/pages.json" >"$dir/pages.log" 2>&1 &
pids+=($!)
n=0
for who in "$sup" "$chair" hos@la.example; do
	n=$((n + 1))
	/usr/bin/python3 tests/demo_proxy.py --listen $((WEB_PORT + n)) \
		--to "http://127.0.0.1:$WEB_PORT" --email "$who" >"$dir/proxy$n.log" 2>&1 &
	pids+=($!)
done
for _ in $(seq 100); do
	curl -s -o /dev/null "http://127.0.0.1:$((WEB_PORT + 3))/" && break
	sleep 0.2
done
echo "  the daemon's web.listen:  http://127.0.0.1:$WEB_PORT/ (401 without a sign-in)"
echo "  as a supervisor ($sup):  http://127.0.0.1:$((WEB_PORT + 1))/   and their team: http://127.0.0.1:$((WEB_PORT + 1))/team/$team"
echo "  as a CP chair ($chair):  http://127.0.0.1:$((WEB_PORT + 2))/"
echo "  as the head of service (hos@la.example, sees everything):  http://127.0.0.1:$((WEB_PORT + 3))/"
echo "  or without a browser:  curl -H 'X-Forwarded-Email: $sup' http://127.0.0.1:$WEB_PORT/"
printf '  the supervisor'"'"'s page now: HTTP %s, %s alert cards\n' \
	"$(curl -s -o /dev/null -w '%{http_code}' -H "X-Forwarded-Email: $sup" "http://127.0.0.1:$WEB_PORT/")" \
	"$(curl -s -H "X-Forwarded-Email: $sup" "http://127.0.0.1:$WEB_PORT/" | grep -c '<article class="alert')"
if [ -n "${DEMO_PAGES_SECONDS:-}" ]; then
	echo "demo: the pages stay up for $DEMO_PAGES_SECONDS s"
	sleep "$DEMO_PAGES_SECONDS"
elif [ -t 0 ]; then
	read -r -p "demo: the pages are up; press Enter to stop them and clean up. " _
fi
