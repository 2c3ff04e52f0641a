#!/usr/bin/env bash
# Reminders (ALERTS.md: an unchanged alert is notified again after repeat_after_days while it is
# still firing and unacknowledged), acknowledgement and snooze, through --once over several days.
# Prints ok/not ok lines. Environment: DRIFTWATCHD, PGHOST PGPORT PGUSER PGDATABASE.
set -u

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
D=${DRIFTWATCHD:-$top/build/san/driftwatchd}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-15432} PGUSER=${PGUSER:-dwtest}
case $PGHOST in /*) PGHOST=127.0.0.1 ;; esac
DB=${PGDATABASE:-dwtest}
CASE=rem_case
STATE=rem_state
tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/dw-rem.XXXXXX") || exit 1
cleanup() {
	psql -qX -d "$DB" -c "DROP SCHEMA IF EXISTS $CASE CASCADE; DROP SCHEMA IF EXISTS $STATE CASCADE" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT
. "$top/tests/lib/tap.sh"
q() { psql -qXAt -d "$DB" -c "$1"; }

psql -qX -d "$DB" -c "DROP SCHEMA IF EXISTS $CASE CASCADE; DROP SCHEMA IF EXISTS $STATE CASCADE" >/dev/null 2>&1
psql -qX -v ON_ERROR_STOP=1 -d "$DB" -v schema=$CASE -f "$top/rules/contract.sql" >/dev/null &&
psql -qX -v ON_ERROR_STOP=1 -d "$DB" -v schema=$CASE -f "$top/tests/fixtures/boundaries.sql" >/dev/null 2>"$tmp/err"
check_status "load the boundary fixture" $? "$(head -3 "$tmp/err")"
cat > "$tmp/cfg.json" <<JSON
{ "database": { "conninfo": "host=$PGHOST port=$PGPORT dbname=$DB user=$PGUSER",
                "case_schema": "$CASE", "state_schema": "$STATE" },
  "addresses": { "fallback": "duty@la.example" },
  "email": { "smtp_url": "smtp://127.0.0.1:9", "tls": "none", "from": "dw@la.example" },
  "repeat_after_days": 3 }
JSON
once() { "$D" -c "$tmp/cfg.json" --once --as-of "$1" 2>"$tmp/once.err"; }
reminders_on() { q "SELECT count(*) FROM $STATE.alert_events WHERE kind = 'reminder' AND as_of = '$1'"; }

once 2026-11-21
check_status "--once on day 0 exits 0" $? "$(tail -3 "$tmp/once.err")"
once 2026-11-22
n=$(reminders_on 2026-11-22)
check_status "no reminder one day later ($n)" $([ "$n" = 0 ]; echo $?)
due() { # the firing alerts whose latest notice is at least 3 days before $1
	q "SELECT count(*) FROM $STATE.alerts WHERE status = 'firing' AND acknowledged_at IS NULL
	   AND coalesce(snoozed_until < '$1', true) AND last_notified_on <= date '$1' - 3"
}
ack=$(q "SELECT fingerprint FROM $STATE.alerts WHERE status = 'firing' AND last_changed_on = '2026-11-21' ORDER BY fingerprint LIMIT 1")
snz=$(q "SELECT fingerprint FROM $STATE.alerts WHERE status = 'firing' AND last_changed_on = '2026-11-21' ORDER BY fingerprint OFFSET 1 LIMIT 1")
q "SELECT $STATE.acknowledge('$ack', 'W-SUP', 'discussed in supervision')" >/dev/null
q "SELECT $STATE.snooze('$snz', '2026-12-31', 'PLO meeting booked')" >/dev/null
check_status "acknowledge and snooze are recorded as events" \
	$([ "$(q "SELECT count(*) FROM $STATE.alert_events WHERE kind IN ('acknowledged', 'snoozed')")" = 2 ]; echo $?)
cand=$(due 2026-11-24)
once 2026-11-24
check_status "--once on day 3 exits 0" $? "$(tail -3 "$tmp/once.err")"
n=$(reminders_on 2026-11-24)
check_status "reminders on day 3 for alerts not notified for 3 days ($n of $cand due)" \
	$([ "$n" -gt 0 ] && [ "$n" -le "$cand" ]; echo $?)
check_status "--once reports the reminders" $(grep -q "[1-9][0-9]* reminders" "$tmp/once.err"; echo $?) \
	"$(grep changes: "$tmp/once.err")"
# their email notices say they are reminders (the digest heads them so, not "New"); the first
# day's notices do not
marks=$(q "SELECT count(*) FILTER (WHERE e.kind = 'reminder' AND o.notice ->> 'reminder' = 'true'),
	          count(*) FILTER (WHERE e.kind = 'reminder'),
	          count(*) FILTER (WHERE e.kind = 'firing' AND o.notice ? 'reminder')
	     FROM $STATE.outbox o JOIN $STATE.alert_events e USING (event_id) WHERE o.channel = 'email'")
check_status "the reminders' email notices are marked as reminders, the first day's are not ($marks)" \
	$(IFS='|' read -r marked all firsts <<<"$marks"; [ "$marked" = "$all" ] && [ "$all" -gt 0 ] && [ "$firsts" = 0 ]; echo $?)
check_status "no reminder for the acknowledged alert" \
	$([ "$(q "SELECT count(*) FROM $STATE.alert_events e JOIN $STATE.alerts a USING (alert_id) WHERE a.fingerprint = '$ack' AND e.kind = 'reminder'")" = 0 ]; echo $?)
check_status "no reminder for the snoozed alert" \
	$([ "$(q "SELECT count(*) FROM $STATE.alert_events e JOIN $STATE.alerts a USING (alert_id) WHERE a.fingerprint = '$snz' AND e.kind = 'reminder'")" = 0 ]; echo $?)
check_status "a reminder is queued as alert.firing notices" \
	$([ "$(q "SELECT count(*) FROM $STATE.outbox o JOIN $STATE.alert_events e USING (event_id) WHERE e.kind = 'reminder' AND o.type = 'alert.firing'")" -gt 0 ]; echo $?)
cand=$(due 2026-11-25)
once 2026-11-25
n=$(reminders_on 2026-11-25)
check_status "day 4 reminds only alerts last told on day 1 ($n of $cand due)" $([ "$n" -le "$cand" ]; echo $?)
again=$(q "SELECT count(*) FROM $STATE.alert_events a JOIN $STATE.alert_events b USING (alert_id)
           WHERE a.kind = 'reminder' AND b.kind = 'reminder' AND a.event_id < b.event_id
             AND b.as_of - a.as_of < 3")
check_status "no alert is reminded twice within 3 days ($again)" $([ "$again" = 0 ]; echo $?)
tap_end
