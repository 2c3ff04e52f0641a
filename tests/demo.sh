#!/usr/bin/env bash
# make demo: a throwaway PostgreSQL with synthetic cases, one dry run, and what each supervisor
# and CP chair would be told. Installs what is missing when run as root; else says what to run.
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO_CHILDREN=${DEMO_CHILDREN:-20000}
DEMO_SEED=${DEMO_SEED:-42}
DEMO_PORT=${DEMO_PORT:-55490}
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

