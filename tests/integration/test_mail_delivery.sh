#!/usr/bin/env bash
# test_mail_delivery: email digests end to end on loopback: mail_compose + mail_send + curl_loop
# against a real SMTP server (tests/integration/smtp_server.py, aiosmtpd) that requires STARTTLS
# and AUTH, with a certificate from a test CA made here; the received mail is read with Python's
# email package. Also: no STARTTLS means no send (never plaintext), a wrong CA fails, implicit
# TLS works, 550 is permanent, 451 and timeouts are retried.
#
# Needs build/san/mail_send_driver (or MAIL_SEND_DRIVER), /usr/bin/python3 with python3-aiosmtpd,
# and openssl. Prints `ok - NAME` / `not ok - NAME` for checks and `# ...` for diagnostics.
set -u

top=${DW_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
driver=${MAIL_SEND_DRIVER:-$top/build/san/mail_send_driver}
py=/usr/bin/python3
here=$top/tests/integration
. "$top/tests/lib/tap.sh"
tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/mail-delivery.XXXXXX") || exit 1
servers=()

cleanup() {
	stop_all "${servers[@]}"
	rm -rf "$tmp"
}
trap cleanup EXIT

# ---- prerequisites: each missing one is a failure, not a silent skip ----
require "mail_send_driver is built ($driver; make build/san/mail_send_driver)" test -x "$driver"
require "python3-aiosmtpd is installed for $py" "$py" -c 'import aiosmtpd'
require "openssl is installed" command -v openssl

# start_server NAME ARGS...: runs smtp_server.py on a free port; sets $port and $maildir
start_server() {
	local name=$1
	shift
	port=$(free_port)
	maildir=$tmp/$name
	mkdir -p "$maildir"
	"$py" "$here/smtp_server.py" --port "$port" --maildir "$maildir" --seconds 300 \
		--ready "$maildir/ready" --user "$user" --password "$password" "$@" \
		>"$maildir/server.log" 2>&1 &
	servers+=($!)
	wait_for 10 test -e "$maildir/ready" && return 0
	echo "# smtp_server.py $name did not start:"
	diag "$maildir/server.log"
	return 1
}

# send NAME ARGS...: runs the driver; its output in $tmp/NAME.out, its status in $rc
send() {
	local name=$1
	shift
	"$driver" --from driftwatch@la.example "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
	rc=$?
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ] && [ "$rc" -ne 4 ]; then
		echo "# driver $name exited $rc:"
		diag "$tmp/$name.out"
		diag "$tmp/$name.err"
	fi
}
outcome_line() { grep '^outcome ' "$tmp/$1.out"; }
delivered_count() { find "$1" -name '*.eml' | wc -l; }

# ---- certificates: the CA the server's certificate comes from, and a stranger ----
user=driftwatch
password='pw-Zq8#not-in-logs'
printf '%s\n' "$password" >"$tmp/password"
chmod 600 "$tmp/password"
if ! sh "$here/make_test_ca.sh" "$tmp/ca" >"$tmp/ca.log" 2>&1 ||
	! sh "$here/make_test_ca.sh" "$tmp/other-ca" >>"$tmp/ca.log" 2>&1; then
	notok "make_test_ca.sh makes a CA and a server certificate"
	diag "$tmp/ca.log"
	exit 1
fi
ok "make_test_ca.sh makes a CA and a server certificate"
cert=(--cert "$tmp/ca/server.pem" --key "$tmp/ca/server.key")
auth=(--user "$user" --password-file "$tmp/password")

# ---- the notices: HTML-hostile child id, UTF-8, a long summary, other recipients ----
cat >"$tmp/notices.json" <<'EOF'
[
 {"type": "alert.escalated", "key": "notice-101",
  "notice": {"label": "CP escalation at 15 months", "label_many": "CP escalations at 15 months",
   "subject": "the episode of CP plans that began with plan CPP-77",
   "expected": "chair to convene a 15-month review with the CP manager"},
  "alert": {"rule": "cp_neglect_duration", "stage": "15m", "status": "firing",
   "child_id": "<C&1>", "subject_id": "CPP-77", "family_id": "F-310", "fingerprint": "ab12",
   "as_of": "2026-11-22", "since": "2025-08-14",
   "facts": {"plan_start": "2025-08-14", "episode_start": "2025-08-14", "months": 15, "strategy": null},
   "recipients": [{"role": "cp_chair", "worker_id": "W-9", "email": "chair@la.example"},
                  {"role": "supervisor", "worker_id": "W-2", "email": "someone.else@la.example"}],
   "link": "https://lcs.example.gov.uk/person/C-1042",
   "summary": "Child <C&1> has been on a child protection plan for neglect for 15 months (since 14 Aug 2025) with no recorded strategy — réunion prévue, coût £0 ✓."}},
 {"type": "alert.firing", "key": "notice-102",
  "notice": {"label": "repeat CP plan", "label_many": "repeat CP plans",
   "expected": "chair and supervisor to review why the earlier plan ended"},
  "alert": {"rule": "repeat_neglect_plan", "stage": "any", "status": "firing", "child_id": "C-2001",
   "subject_id": "CPP-90", "facts": {"previous_plan_end": "2023-01-10", "gap_days": 800, "plan_number": 2},
   "link": "https://lcs.example.gov.uk/person/C-2001",
   "summary": "Child C-2001 is on a child protection plan for neglect again (the 2nd CP plan), started 800 days after the previous neglect plan ended on 10 Jan 2023."}},
 {"type": "alert.firing", "key": "notice-103",
  "notice": {"label": "was-not-brought", "label_many": "was-not-brought",
   "expected": "follow up the missed appointment with the family and the health service"},
  "alert": {"rule": "was_not_brought", "stage": "vulnerable", "status": "firing", "child_id": "C-3001",
   "subject_id": null, "facts": {"count": 1, "latest": "2026-11-01", "under_one": true}, "link": null,
   "summary": "Child C-3001 was not brought to 1 appointment since 22 May 2026 (latest 1 Nov 2026), as a baby under one."}}
]
EOF

# Reads one received message with a real MIME parser and prints ok/not ok lines (tests/lib/tap.py,
# on PYTHONPATH).
cat >"$tmp/check_mail.py" <<'EOF'
import json, sys
from email import policy
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
import tap

eml, sent, meta_path, want_id, prefix = sys.argv[1:6]
raw = open(eml, "rb").read()
meta = json.load(open(meta_path))

def check(cond, name):
    tap.ok(cond, prefix + ": " + name)

msg = BytesParser(policy=policy.default).parsebytes(raw)
check(raw == open(sent, "rb").read(), "received bytes equal the composed message (no double dot-stuffing)")
check(not msg.defects, f"MIME parser finds no defects {msg.defects}")
check(msg["From"] == "driftwatch@la.example", "From header")
check(msg["To"] == "chair@la.example", "To header")
check(msg["Message-ID"] == want_id, "Message-ID header is the composed one")
check(parsedate_to_datetime(msg["Date"]).timestamp() == 1795000000, "Date header parses to the time given")
check(msg["MIME-Version"] == "1.0", "MIME-Version header")
check(msg["Auto-Submitted"] == "auto-generated", "Auto-Submitted header")
check(str(msg["Subject"]) == "3 drift alerts: 1 CP escalation at 15 months, 1 repeat CP plan, 1 was-not-brought",
      "Subject counts what is inside")
check(msg.get_content_type() == "multipart/alternative", "multipart/alternative")
parts = [p.get_content_type() for p in msg.iter_parts()]
check(parts == ["text/plain", "text/html"], f"text/plain then text/html parts {parts}")
text = msg.get_body(("plain",))
html = msg.get_body(("html",))
check(text is not None and text.get_content_charset() == "utf-8", "text part is UTF-8")
check(html is not None and html.get_content_charset() == "utf-8", "html part is UTF-8")
t = text.get_content() if text is not None else ""
h = html.get_content() if html is not None else ""
check("réunion prévue, coût £0 ✓" in t, "UTF-8 intact in the text part")
check("réunion prévue, coût £0 ✓" in h, "UTF-8 intact in the html part")
check("Child: <C&1>" in t, "text part has the child id as it is")
check("&lt;C&amp;1&gt;" in h and "<C&1>" not in h, "html part escapes the child id")
check("Expected of you: chair to convene a 15-month review with the CP" in t, "what is expected of the reader")
check("https://lcs.example.gov.uk/person/C-2001" in t and 'href="https://lcs.example.gov.uk/person/C-2001"' in h, "links in both parts")
check("someone.else@la.example" not in raw.decode("ascii", "replace") and "W-2" not in t,
      "no other recipient's address or id")
check(meta["tls"] and meta["authenticated"] and meta["login"] == "driftwatch", "taken over TLS after AUTH")
check(meta["mail_from"] == "driftwatch@la.example" and meta["rcpt_tos"] == ["chair@la.example"], "envelope from and to")
sys.exit(1 if tap.failures else 0)
EOF

# ---- STARTTLS required, AUTH, certificate verified against the test CA ----
if start_server starttls --tls starttls "${cert[@]}" --reject nobody@la.example \
	--tempfail busy@la.example; then
	url=smtp://127.0.0.1:$port
	send digest --url "$url" --tls starttls --to chair@la.example "${auth[@]}" \
		--ca-file "$tmp/ca/ca.pem" --notices "$tmp/notices.json" --out "$tmp/digest.eml"
	check_cmd "starttls: digest delivered (exit 0)" [ "$rc" -eq 0 ]
	check_cmd "starttls: outcome says delivered and names the server" \
		grep -q "^outcome delivered: SMTP 127.0.0.1:$port: to chair@la.example: delivered (250" "$tmp/digest.out"
	if [ -f "$maildir/1.eml" ]; then
		want_id=$(sed -n 's/^message-id //p' "$tmp/digest.out")
		PYTHONPATH=$top/tests/lib "$py" "$tmp/check_mail.py" "$maildir/1.eml" "$tmp/digest.eml" "$maildir/1.json" \
			"$want_id" starttls >"$tmp/check_mail.out" 2>&1
		tap_relay "$tmp/check_mail.out"
		if ! grep -q '^ok - ' "$tmp/check_mail.out"; then
			notok "starttls: check_mail.py ran"
		fi
	else
		notok "starttls: the server received the digest"
		diag "$maildir/server.log"
	fi
	check_cmd "starttls: STARTTLS came before AUTH, nothing but EHLO and STARTTLS in plaintext" \
		"$py" -c '
import sys
ev = [l.split() for l in open(sys.argv[1])]
plain = [e for e, tls in ev if tls == "plain"]
authed = ["auth-plain-ok", "tls"] in ev or ["auth-login-ok", "tls"] in ev
sys.exit(0 if plain and set(plain) <= {"ehlo", "starttls"} and authed else 1)' "$maildir/events.log"
	check_cmd "starttls: the password appears in no output" \
		bash -c '! grep -rqF -- "$0" "$1"/*.out "$1"/*.err "$2"/server.log' "$password" "$tmp" "$maildir"

	# libcurl dot-stuffs: lines starting with "." arrive as they were sent, once
	printf 'From: driftwatch@la.example\r\nTo: chair@la.example\r\nSubject: dots\r\n\r\n.\r\n..\r\n.leading dot\r\n. \r\nend\r\n' >"$tmp/dots.eml"
	before=$(delivered_count "$maildir")
	send dots --url "$url" --tls starttls --to chair@la.example "${auth[@]}" \
		--ca-file "$tmp/ca/ca.pem" --raw "$tmp/dots.eml"
	newest=$maildir/$((before + 1)).eml
	check_cmd "dot-stuffing: lines of dots arrive exactly as sent" cmp -s "$tmp/dots.eml" "$newest"

	send rejected --url "$url" --tls starttls --to nobody@la.example "${auth[@]}" \
		--ca-file "$tmp/ca/ca.pem" --notices "$tmp/notices.json"
	check_cmd "550 mailbox unknown: the mailbox refused for good (exit 5)" [ "$rc" -eq 5 ]
	check_cmd "550: message names the server, the recipient and the reply" \
		grep -q "^outcome no mailbox: SMTP 127.0.0.1:$port: to nobody@la.example: .*550 5.1.1" "$tmp/rejected.out"
	outcome_line rejected | sed 's/^/# /'

	send tempfail --url "$url" --tls starttls --to busy@la.example "${auth[@]}" \
		--ca-file "$tmp/ca/ca.pem" --notices "$tmp/notices.json"
	check_cmd "451 at RCPT: retry (exit 3)" [ "$rc" -eq 3 ]
	check_cmd "451: message names the server, the recipient and the reply" \
		grep -q "^outcome retry: SMTP 127.0.0.1:$port: to busy@la.example: .*451 4.3.0" "$tmp/tempfail.out"

	before=$(delivered_count "$maildir")
	send wrongca --url "$url" --tls starttls --to chair@la.example "${auth[@]}" \
		--ca-file "$tmp/other-ca/ca.pem" --notices "$tmp/notices.json"
	check_cmd "wrong CA: certificate verification fails the send (retry, exit 3)" [ "$rc" -eq 3 ]
	check_cmd "wrong CA: nothing delivered" [ "$(delivered_count "$maildir")" -eq "$before" ]
	outcome_line wrongca | sed 's/^/# /'

	send noverify --url "$url" --tls starttls --to chair@la.example "${auth[@]}" \
		--ca-file "$tmp/other-ca/ca.pem" --no-verify --notices "$tmp/notices.json"
	check_cmd "verify false: an unknown CA is accepted (delivered)" [ "$rc" -eq 0 ]

	printf 'wrong-password\n' >"$tmp/badpw"
	send badauth --url "$url" --tls starttls --to chair@la.example --user "$user" \
		--password-file "$tmp/badpw" --ca-file "$tmp/ca/ca.pem" --notices "$tmp/notices.json"
	check_cmd "AUTH refused: retry, not permanent (a person fixes the credentials)" [ "$rc" -eq 3 ]

	send noauth --url "$url" --tls starttls --to chair@la.example \
		--ca-file "$tmp/ca/ca.pem" --notices "$tmp/notices.json"
	check_cmd "no credentials where AUTH is required: retry (exit 3)" [ "$rc" -eq 3 ]
	outcome_line noauth | sed 's/^/# /'
else
	notok "starttls server started"
fi

# ---- a server without STARTTLS that would take plaintext AUTH and mail ----
if start_server notls --tls none; then
	send notls --url "smtp://127.0.0.1:$port" --tls starttls --to chair@la.example "${auth[@]}" \
		--ca-file "$tmp/ca/ca.pem" --notices "$tmp/notices.json"
	check_cmd "no STARTTLS offered: the send fails (retry, exit 3)" [ "$rc" -eq 3 ]
	check_cmd "no STARTTLS offered: no AUTH, MAIL or DATA in plaintext, nothing delivered" \
		bash -c '! grep -qE "^(auth|mail|rcpt|data)" "$0/events.log" && [ -z "$(find "$0" -name "*.eml")" ]' "$maildir"
	outcome_line notls | sed 's/^/# /'
	send plainrelay --url "smtp://127.0.0.1:$port" --tls none --to chair@la.example "${auth[@]}" \
		--notices "$tmp/notices.json"
	check_cmd "tls none (a relay on the same host): delivered in plaintext" [ "$rc" -eq 0 ]
else
	notok "server without TLS started"
fi

# ---- implicit TLS (smtps://) ----
if start_server implicit --tls implicit "${cert[@]}"; then
	send implicit --url "smtps://127.0.0.1:$port" --tls implicit --to chair@la.example "${auth[@]}" \
		--ca-file "$tmp/ca/ca.pem" --notices "$tmp/notices.json" --out "$tmp/implicit.eml"
	check_cmd "implicit TLS: delivered (exit 0)" [ "$rc" -eq 0 ]
	check_cmd "implicit TLS: received over TLS after AUTH, bytes as composed" \
		bash -c 'cmp -s "$0/1.eml" "$1" && grep -q "\"tls\": true, \"authenticated\": true" "$0/1.json"' \
		"$maildir" "$tmp/implicit.eml"
	send implicit_wrongca --url "smtps://127.0.0.1:$port" --tls implicit --to chair@la.example \
		"${auth[@]}" --ca-file "$tmp/other-ca/ca.pem" --notices "$tmp/notices.json"
	check_cmd "implicit TLS, wrong CA: fails verification (retry, exit 3)" [ "$rc" -eq 3 ]
else
	notok "implicit TLS server started"
fi

# ---- refusals at the end of DATA ----
if start_server data451 --tls starttls "${cert[@]}" --data-reply "451 4.7.1 greylisted, try later"; then
	send data451 --url "smtp://127.0.0.1:$port" --tls starttls --to chair@la.example "${auth[@]}" \
		--ca-file "$tmp/ca/ca.pem" --notices "$tmp/notices.json"
	check_cmd "451 after DATA: retry (exit 3)" [ "$rc" -eq 3 ]
	outcome_line data451 | sed 's/^/# /'
else
	notok "data451 server started"
fi
# A refusal about this message is permanent; one by policy (5.7.x: relay denied, a receive
# connector not yet set up for our host) or a bare 554 is a set-up a person fixes: retried, so
# nothing is lost while they do.
refusal() { # NAME EXIT WHAT SERVER-OPTIONS...
	local name=$1 want=$2 what=$3
	shift 3
	if start_server "$name" --tls starttls "${cert[@]}" "$@"; then
		send "$name" --url "smtp://127.0.0.1:$port" --tls starttls --to chair@la.example \
			"${auth[@]}" --ca-file "$tmp/ca/ca.pem" --notices "$tmp/notices.json"
		check_cmd "$what (exit $want)" [ "$rc" -eq "$want" ]
		outcome_line "$name" | sed 's/^/# /'
	else
		notok "$name server started"
	fi
}
refusal data554_content 4 "554 5.6.0 to DATA (content refused): permanent" \
	--data-reply "554 5.6.0 message content refused"
refusal data554_policy 3 "554 5.7.1 to DATA (refused by policy): retry" \
	--data-reply "554 5.7.1 message refused"
refusal data554_bare 3 "a bare 554 to DATA: retry" --data-reply "554 Transaction failed"
refusal rcpt_relay 3 "550 5.7.54 to RCPT (relay denied by the receive connector): retry" \
	--rcpt-reply "550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain"
refusal rcpt_unknown 5 "550 5.1.1 to RCPT (mailbox unknown): the mailbox refused for good" \
	--rcpt-reply "550 5.1.1 <chair@la.example>: mailbox unknown"
refusal rcpt_disabled 5 "550 5.2.1 to RCPT (mailbox disabled): the mailbox refused for good" \
	--rcpt-reply "550 5.2.1 <chair@la.example>: mailbox disabled, not accepting messages"
refusal rcpt_bare 5 "a bare 550 to RCPT: the mailbox refused for good" \
	--rcpt-reply "550 No such user here"
refusal rcpt_too_big 4 "552 5.3.4 to RCPT (message too big): permanent, not the mailbox" \
	--rcpt-reply "552 5.3.4 Message size exceeds fixed maximum message size"
refusal data_unknown 5 "550 5.1.1 to DATA (a recipient refused after the message): the mailbox" \
	--data-reply "550 5.1.1 <chair@la.example>: recipient address rejected"
refusal mail_refused 3 "550 5.7.1 to MAIL FROM (our host refused): retry" \
	--mail-reply "550 5.7.1 Client host rejected: access denied"
refusal mail_sender 3 "553 to MAIL FROM (our sender refused): retry" \
	--mail-reply "553 sender address rejected"

# ---- no answer at all: timeouts and refused connections are retried ----
if start_server stall --stall --tls none; then
	start=$(date +%s)
	send stall --url "smtp://127.0.0.1:$port" --tls starttls --to chair@la.example "${auth[@]}" \
		--ca-file "$tmp/ca/ca.pem" --notices "$tmp/notices.json" --timeout 2
	took=$(($(date +%s) - start))
	check_cmd "silent server: timeout is retry (exit 3)" [ "$rc" -eq 3 ]
	check_cmd "silent server: gave up within the timeout (${took}s)" [ "$took" -le 10 ]
	send cancelled --url "smtp://127.0.0.1:$port" --tls starttls --to chair@la.example \
		"${auth[@]}" --ca-file "$tmp/ca/ca.pem" --notices "$tmp/notices.json" --cancel-after-ms 300
	check_cmd "shutdown mid-send: cancelled is retry, reported once, nothing leaks (exit 3)" \
		bash -c '[ "$0" -eq 3 ] && [ "$(grep -c "^outcome retry: .*cancelled" "$1")" -eq 1 ]' \
		"$rc" "$tmp/cancelled.out"
else
	notok "stalling server started"
fi
# A relay that takes the message and holds its answer: libcurl's own timeout ends the transfer,
# then its QUIT waited as long again (--once took 240 s where 120 were promised); the worker
# cuts it off a few seconds past the timeout.
if start_server held --tls none --data-delay 120; then
	start=$(date +%s)
	send held --url "smtp://127.0.0.1:$port" --tls none --to chair@la.example "${auth[@]}" \
		--notices "$tmp/notices.json" --timeout 2
	took=$(($(date +%s) - start))
	check_cmd "a server holding its answer to the message: retry (exit 3)" [ "$rc" -eq 3 ]
	check_cmd "... given up a few seconds past the 2 s timeout, QUIT included (${took}s)" \
		[ "$took" -le 15 ]
else
	notok "held server started"
fi
if start_server noservice --no-service --tls none; then
	send noservice --url "smtp://127.0.0.1:$port" --tls starttls --to chair@la.example "${auth[@]}" \
		--ca-file "$tmp/ca/ca.pem" --notices "$tmp/notices.json"
	check_cmd "554 greeting: retry (about the server, not this message)" [ "$rc" -eq 3 ]
	outcome_line noservice | sed 's/^/# /'
else
	notok "no-service server started"
fi
send refused --url "smtp://127.0.0.1:$(free_port)" --tls starttls --to chair@la.example \
	"${auth[@]}" --ca-file "$tmp/ca/ca.pem" --notices "$tmp/notices.json" --timeout 5
check_cmd "connection refused: retry (exit 3)" [ "$rc" -eq 3 ]

tap_end
