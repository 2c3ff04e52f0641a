#!/usr/bin/env bash
# The Debian package (issue 15, item 1), installed on this machine as a council would: `make deb`
# builds it and lintian finds no error or warning; apt-get installs it; the user, the modes of
# /etc/driftwatch and the credential files are as the unit needs them, and nothing is enabled or
# started; the installed driftwatchd runs --version, and --check-config both against the example
# (which must say clearly that its database is unreachable) and, as the package's user, against a
# configuration pointed at the test PostgreSQL with the contract SQL the package ships; the
# installed unit passes `systemd-analyze verify`; an upgrade keeps the administrator's
# configuration and replaces the example; contrib/ssd's SQL is installed and its views pass the
# installed --check-config; a removal keeps the configuration, a purge removes
# /etc/driftwatch and every file of the package and keeps the system user (Debian's practice).
#
# Installing a package needs root: run as any other user, this test fails saying so (CI runs as
# root). It refuses to run where driftwatch is already installed or /etc/driftwatch exists, and
# purges what it installed however it ends, so it never leaves the package on the machine.
#
# Environment: PGHOST PGPORT PGUSER (tests/run.sh's server), DW_TOP.
set -u

top=${DW_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
. "$top/tests/lib/tap.sh"

if [ "$(id -u)" != 0 ]; then
	notok "test_deb.sh runs as root: it installs, upgrades and purges the package with apt-get and dpkg (CI runs as root; run it with sudo)"
	exit 1
fi
require "dpkg-buildpackage is installed (dpkg-dev)" command -v dpkg-buildpackage
require "dh is installed (debhelper)" command -v dh
require "lintian is installed" command -v lintian
require "fakeroot is installed" command -v fakeroot
require "psql is installed" command -v psql
require "jq is installed" command -v jq

if dpkg-query -W -f '${Status}' driftwatch 2>/dev/null | grep -q 'installed\|config-files'; then
	notok "driftwatch is not installed on this machine before the test (it would replace and purge it)"
	exit 1
fi
if [ -e /etc/driftwatch ]; then
	notok "/etc/driftwatch does not exist before the test (a purge would remove it)"
	exit 1
fi
user_before=no
getent passwd driftwatch >/dev/null && user_before=yes

tmp=$(mktemp -d "${TEST_TMPDIR:-${TMPDIR:-/tmp}}/dw-deb.XXXXXX") || {
	notok "create a temporary directory"
	exit 1
}
chmod 0755 "$tmp"
cleanup() {
	if dpkg-query -W driftwatch >/dev/null 2>&1; then
		dpkg --purge driftwatch >/dev/null 2>&1 || echo "# cleanup: dpkg --purge driftwatch failed"
	fi
	rm -rf /etc/driftwatch
	# A test machine is left as it was found: Debian keeps a purged package's system user,
	# which the checks below assert; the user this test created goes with the test.
	if [ "$user_before" = no ] && getent passwd driftwatch >/dev/null; then
		userdel driftwatch 2>/dev/null
		getent group driftwatch >/dev/null && groupdel driftwatch 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt_get() { apt-get -o DPkg::Lock::Timeout=300 -y --no-install-recommends "$@"; }

# ---- build ----

if make -s -C "$top" deb >"$tmp/build.log" 2>&1; then
	ok "make deb builds the package"
else
	notok "make deb builds the package" "$(tail -n 40 "$tmp/build.log")"
	exit 1
fi
version=$(sed -n 's/^VERSION *:= *//p' "$top/Makefile")
arch=$(dpkg --print-architecture)
deb=$top/build/deb/driftwatch_${version}_${arch}.deb
changes=$top/build/deb/driftwatch_${version}_${arch}.changes
check "make deb puts build/deb/driftwatch_${version}_${arch}.deb" '[ -f "$deb" ]'
[ -f "$deb" ] || exit 1

# lintian over the .changes checks the .deb and the .buildinfo; --fail-on makes a warning fatal.
lintian --pedantic --fail-on error,warning "$changes" >"$tmp/lintian.log" 2>"$tmp/lintian.err"
st=$?
check_status "lintian reports no error or warning (--pedantic)" "$st" "$(cat "$tmp/lintian.log" "$tmp/lintian.err")"
if grep -q '^[EW]:' "$tmp/lintian.log"; then
	notok "lintian's output has no E: or W: line" "$(cat "$tmp/lintian.log")"
else
	ok "lintian's output has no E: or W: line"
fi
[ -s "$tmp/lintian.log" ] && { note "lintian says:"; diag "$tmp/lintian.log"; }

dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|; s|/$||' | grep -v '^$' >"$tmp/contents"
missing=()
for f in /usr/sbin/driftwatchd /lib/systemd/system/driftwatch.service \
	/usr/lib/sysusers.d/driftwatch.conf /usr/lib/tmpfiles.d/driftwatch.conf \
	/usr/share/man/man8/driftwatchd.8.gz /usr/share/driftwatch/contract.sql \
	/usr/share/driftwatch/contract_indexes.sql /etc/driftwatch/driftwatch.json.example \
	/usr/share/doc/driftwatch/copyright \
	/usr/share/doc/driftwatch/examples/driftwatch-dashboard.json \
	/usr/share/doc/driftwatch/examples/driftwatch-alerts.yml; do
	grep -qx "$f" "$tmp/contents" || missing+=("$f")
done
if [ ${#missing[@]} -eq 0 ]; then
	ok "the package holds the daemon, unit, sysusers, tmpfiles, man page, contract SQL, example, dashboard and alerts"
else
	notok "the package holds the daemon, unit, sysusers, tmpfiles, man page, contract SQL, example, dashboard and alerts" \
		"missing: ${missing[*]}"
fi
# contrib/ssd (issue 17): every SQL file of it, uncompressed, where psql -f can run it.
ssd_files=()
for f in "$top"/contrib/ssd/*.sql; do
	ssd_files+=("/usr/share/driftwatch/contrib/ssd/${f##*/}")
done
missing=()
for f in "${ssd_files[@]}"; do
	grep -qx "$f" "$tmp/contents" || missing+=("$f")
done
check "the package holds contrib/ssd's ${#ssd_files[@]} SQL files under /usr/share/driftwatch/contrib/ssd" \
	'[ ${#ssd_files[@]} -ge 4 ] && [ ${#missing[@]} -eq 0 ]'
[ ${#missing[@]} -eq 0 ] || note "missing: ${missing[*]}"
if grep -qx '/etc/driftwatch/driftwatch.json' "$tmp/contents" ||
	grep -q '^/etc/driftwatch/credentials' "$tmp/contents"; then
	notok "the package ships neither driftwatch.json nor the credentials (the council's own)"
else
	ok "the package ships neither driftwatch.json nor the credentials (the council's own)"
fi
dpkg-deb -f "$deb" Version >"$tmp/debver"
check "the package's version is the Makefile's ($version)" '[ "$(cat "$tmp/debver")" = "$version" ]'
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles >"$tmp/conffiles" 2>/dev/null
check "/etc/driftwatch/driftwatch.json.example is a conffile" \
	'grep -qx /etc/driftwatch/driftwatch.json.example "$tmp/conffiles"'

# ---- install ----

if apt_get install "$deb" >"$tmp/install.log" 2>&1; then
	ok "apt-get install ./driftwatch_${version}_${arch}.deb succeeds"
else
	notok "apt-get install ./driftwatch_${version}_${arch}.deb succeeds" "$(tail -n 30 "$tmp/install.log")"
	exit 1
fi
check "dpkg says driftwatch $version is installed" \
	'[ "$(dpkg-query -W -f "\${Status} \${Version}" driftwatch)" = "install ok installed $version" ]'

# owner_mode PATH OWNER:GROUP MODE
owner_mode() {
	local got
	got=$(stat -c '%U:%G %a' "$1" 2>/dev/null) || { notok "$1 exists after install"; return; }
	if [ "$got" = "$2 $3" ]; then
		ok "$1 is $2 $3"
	else
		notok "$1 is $2 $3" "it is $got"
	fi
}

pw=$(getent passwd driftwatch)
check "the postinst created the system user driftwatch" '[ -n "$pw" ]'
uid=$(echo "$pw" | cut -d: -f3)
check "driftwatch is a system user (uid $uid below 1000) with no login shell" \
	'[ -n "$uid" ] && [ "$uid" -lt 1000 ] && [ "$(echo "$pw" | cut -d: -f7)" = /usr/sbin/nologin ]'
owner_mode /etc/driftwatch root:driftwatch 750
owner_mode /etc/driftwatch/credentials root:root 700
for c in smtp-password hook-secret team-hook-secret pgpass; do
	owner_mode "/etc/driftwatch/credentials/$c" root:root 600
done
owner_mode /usr/sbin/driftwatchd root:root 755
check "the example is the one in the source tree" \
	'cmp -s "$top/systemd/driftwatch.example.json" /etc/driftwatch/driftwatch.json.example'
check "no /etc/driftwatch/driftwatch.json is created by the install" '[ ! -e /etc/driftwatch/driftwatch.json ]'

# Not enabled: no [Install] link anywhere under /etc/systemd; not started: no process runs the
# installed binary (other tests' daemons run from build/, so they are not counted).
links=$(find /etc/systemd -name driftwatch.service 2>/dev/null)
check "the install enables nothing (no driftwatch.service link under /etc/systemd)" '[ -z "$links" ]'
running=()
for p in /proc/[0-9]*; do
	[ "$(readlink "$p/exe" 2>/dev/null)" = /usr/sbin/driftwatchd ] && running+=("${p#/proc/}")
done
check "the install starts nothing (no process runs /usr/sbin/driftwatchd)" '[ ${#running[@]} -eq 0 ]'
if command -v systemctl >/dev/null; then
	state=$(systemctl is-enabled driftwatch.service 2>&1)
	check "systemctl is-enabled driftwatch.service says disabled" '[ "$state" = disabled ]'
	[ "$state" = disabled ] || note "it says: $state"
fi
[ -d /run/systemd/system ] ||
	note "no systemd runs here: the maintainer scripts' stop on removal and try-restart on upgrade are not exercised"

# ---- the installed binary ----

# dpkg-buildflags' hardening reaches the link (the Makefile passes LDFLAGS): a position-
# independent executable with full RELRO (relocations read-only and bound at start).
if command -v readelf >/dev/null; then
	if readelf -h /usr/sbin/driftwatchd | grep -q 'Type: *DYN' &&
		readelf -lW /usr/sbin/driftwatchd | grep -q GNU_RELRO &&
		readelf -d /usr/sbin/driftwatchd | grep -q 'BIND_NOW'; then
		ok "/usr/sbin/driftwatchd is PIE with full RELRO (BIND_NOW)"
	else
		notok "/usr/sbin/driftwatchd is PIE with full RELRO (BIND_NOW)" \
			"$(readelf -hld /usr/sbin/driftwatchd 2>&1 | grep -E 'Type:|RELRO|FLAGS')"
	fi
else
	notok "readelf is installed (binutils) to check the binary's hardening"
fi

out=$(/usr/sbin/driftwatchd --version 2>&1)
check "/usr/sbin/driftwatchd --version says $version" '[ "$out" = "driftwatchd $version" ]'
[ "$out" = "driftwatchd $version" ] || note "it says: $out"

# The example as shipped: its database (the local socket's "cases") is not there, nor are the
# service's credentials. --check-config must fail as a runtime failure (1), naming the key and why.
timeout -k 5 60 runuser -u driftwatch -- /usr/sbin/driftwatchd \
	-c /etc/driftwatch/driftwatch.json.example --check-config >"$tmp/ex.out" 2>"$tmp/ex.err"
rc=$?
check "--check-config on the installed example exits 1 (unreachable database)" '[ "$rc" -eq 1 ]'
[ "$rc" -eq 1 ] || diag "$tmp/ex.out" "$tmp/ex.err"
if grep -q 'database.conninfo' "$tmp/ex.err" && grep -q 'could not .*connect' "$tmp/ex.err" &&
	grep -q '/etc/driftwatch/driftwatch.json.example' "$tmp/ex.err"; then
	ok "... and says which file and key, and that it could not connect to the database"
else
	notok "... and says which file and key, and that it could not connect to the database" \
		"$(cat "$tmp/ex.err")"
fi

# A configured installation: the example with its database pointed at the test server (the
# case schema loaded from the package's contract SQL) and its secrets in files the package's user
# may read (the service would get them as credentials), installed as an administrator would.
db=dwdeb
dropdb --if-exists "$db" >/dev/null 2>&1
if createdb "$db" 2>"$tmp/createdb.err" &&
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f /usr/share/driftwatch/contract.sql \
		>"$tmp/contract.log" 2>&1 &&
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f /usr/share/driftwatch/contract_indexes.sql \
		>>"$tmp/contract.log" 2>&1; then
	ok "the installed contract SQL (and its indexes) load into a fresh database"
else
	notok "the installed contract SQL (and its indexes) load into a fresh database" \
		"$(cat "$tmp/createdb.err" "$tmp/contract.log")"
fi
mkdir -p "$tmp/secrets"
for s in hook-secret team-hook-secret; do
	echo "whsec_c2VjcmV0LXRlc3Qtc2VjcmV0LWRvLW5vdC1sZWFrLTEyMzQ1Ng==" >"$tmp/secrets/$s"
done
echo "not-a-real-password" >"$tmp/secrets/smtp-password"
chown -R root:driftwatch "$tmp/secrets"
chmod 0750 "$tmp/secrets"
chmod 0640 "$tmp/secrets"/*
conninfo="host=127.0.0.1 port=$PGPORT dbname=$db user=$PGUSER application_name=driftwatch"
jq --arg c "$conninfo" --arg d "$tmp/secrets" '
	.database.conninfo = $c
	| .email.password_file = ($d + "/smtp-password")
	| .webhooks[0].secret_file = ($d + "/hook-secret")
	| .team_webhook_secret_file = ($d + "/team-hook-secret")' \
	/etc/driftwatch/driftwatch.json.example >"$tmp/driftwatch.json"
install -m 0640 -o root -g driftwatch "$tmp/driftwatch.json" /etc/driftwatch/driftwatch.json
timeout -k 5 60 runuser -u driftwatch -- /usr/sbin/driftwatchd \
	-c /etc/driftwatch/driftwatch.json --check-config >"$tmp/cc.out" 2>"$tmp/cc.err"
rc=$?
if [ "$rc" -eq 0 ]; then
	ok "--check-config as user driftwatch on /etc/driftwatch/driftwatch.json with a reachable database exits 0"
else
	notok "--check-config as user driftwatch on /etc/driftwatch/driftwatch.json with a reachable database exits 0" \
		"exit $rc" "$(cat "$tmp/cc.out" "$tmp/cc.err")"
fi

# The SSD views as installed, over the SSD's tables (their CREATE TABLE text is the test's
# fixture: the package does not ship the SSD), checked by the installed binary: the nine views
# are there and usable, and each, holding no row, is named as empty.
same=()
for f in "${ssd_files[@]}"; do
	cmp -s "$f" "$top/contrib/ssd/${f##*/}" || same+=("$f")
done
check "the installed contrib/ssd files are the source tree's" '[ ${#same[@]} -eq 0 ]'
[ ${#same[@]} -eq 0 ] || note "differ or missing: ${same[*]}"
if psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "CREATE SCHEMA ssd" -c "SET search_path = ssd" \
		-f "$top/tests/fixtures/ssd_tables.sql" >"$tmp/ssd.log" 2>&1 &&
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" -v ssd_schema=ssd -v schema=casework_ssd \
		-v local_schema=local -f /usr/share/driftwatch/contrib/ssd/ssd_contract_views.sql \
		>>"$tmp/ssd.log" 2>&1; then
	ok "the installed ssd_contract_views.sql creates the views over the SSD's tables"
else
	notok "the installed ssd_contract_views.sql creates the views over the SSD's tables" \
		"$(cat "$tmp/ssd.log")"
fi
jq '.database.case_schema = "casework_ssd"' "$tmp/driftwatch.json" >"$tmp/ssd.json"
install -m 0640 -o root -g driftwatch "$tmp/ssd.json" /etc/driftwatch/ssd.json
timeout -k 5 60 runuser -u driftwatch -- /usr/sbin/driftwatchd \
	-c /etc/driftwatch/ssd.json --check-config >"$tmp/ssd.out" 2>&1
rc=$?
n_empty=$(grep -c 'warning: relation "casework_ssd"\.".*" is empty' "$tmp/ssd.out")
check "--check-config on the installed views passes (exit $rc) and names each of the nine as empty ($n_empty)" \
	'[ "$rc" -eq 0 ] && grep -q "contract in schema \"casework_ssd\" are good" "$tmp/ssd.out" &&
	 [ "$n_empty" -eq 9 ]'
[ "$rc" -eq 0 ] && [ "$n_empty" -eq 9 ] || diag "$tmp/ssd.out"
rm -f /etc/driftwatch/ssd.json

# systemd-analyze verify checks ExecStart's binary and the Documentation= man page are there.
if command -v systemd-analyze >/dev/null; then
	if systemd-analyze verify /lib/systemd/system/driftwatch.service >"$tmp/verify.log" 2>&1 &&
		[ ! -s "$tmp/verify.log" ]; then
		ok "systemd-analyze verify of the installed unit is silent"
	else
		notok "systemd-analyze verify of the installed unit is silent" "$(cat "$tmp/verify.log")"
	fi
else
	notok "systemd-analyze is installed (package systemd) to verify the installed unit"
fi

# ---- upgrade ----
# A newer version of the same files, repacked: dpkg runs the upgrade path of every maintainer
# script, replaces the unmodified example conffile and must leave driftwatch.json alone.
up=$tmp/up
dpkg-deb -R "$deb" "$up"
sed -i "s/^Version: .*/Version: ${version}+upgradetest/" "$up/DEBIAN/control"
jq '.timezone = "Europe/London" | .repeat_after_days = 15' "$up/etc/driftwatch/driftwatch.json.example" \
	>"$tmp/newexample" && cp "$tmp/newexample" "$up/etc/driftwatch/driftwatch.json.example"
(cd "$up" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | xargs -0 md5sum >DEBIAN/md5sums)
if dpkg-deb -b --root-owner-group "$up" "$tmp/upgrade.deb" >"$tmp/repack.log" 2>&1 &&
	apt_get install "$tmp/upgrade.deb" >"$tmp/upgrade.log" 2>&1; then
	ok "an upgrade to a newer version installs"
else
	notok "an upgrade to a newer version installs" "$(cat "$tmp/repack.log"; tail -n 30 "$tmp/upgrade.log")"
fi
check "the upgrade replaced the unmodified example conffile" \
	'cmp -s "$tmp/newexample" /etc/driftwatch/driftwatch.json.example'
check "the upgrade left the administrator's driftwatch.json as it was" \
	'cmp -s "$tmp/driftwatch.json" /etc/driftwatch/driftwatch.json'
owner_mode /etc/driftwatch/driftwatch.json root:driftwatch 640
owner_mode /etc/driftwatch root:driftwatch 750
check "the upgrade asked no conffile question" '! grep -q "Configuration file" "$tmp/upgrade.log"'

# ---- remove, purge ----

if apt_get remove driftwatch >"$tmp/remove.log" 2>&1; then
	ok "apt-get remove driftwatch succeeds"
else
	notok "apt-get remove driftwatch succeeds" "$(tail -n 30 "$tmp/remove.log")"
fi
check "after remove the binary is gone" '[ ! -e /usr/sbin/driftwatchd ]'
check "after remove the configuration stays (driftwatch.json and the example)" \
	'[ -f /etc/driftwatch/driftwatch.json ] && [ -f /etc/driftwatch/driftwatch.json.example ]'
check "dpkg lists the removed package as config-files" \
	'[ "$(dpkg-query -W -f "\${db:Status-Status}" driftwatch 2>/dev/null)" = config-files ]'

if dpkg --purge driftwatch >"$tmp/purge.log" 2>&1; then
	ok "dpkg --purge driftwatch succeeds"
else
	notok "dpkg --purge driftwatch succeeds" "$(cat "$tmp/purge.log")"
fi
check "after purge /etc/driftwatch is gone" '[ ! -e /etc/driftwatch ]'
check "after purge dpkg knows no driftwatch" \
	'! dpkg-query -W -f "\${db:Status-Status}" driftwatch 2>/dev/null | grep -q .'
left=()
while IFS= read -r f; do
	[ -d "$f" ] && continue # /usr, /etc, ...: shared directories
	[ -e "$f" ] || [ -L "$f" ] && left+=("$f")
done <"$tmp/contents"
for d in /usr/share/driftwatch /usr/share/doc/driftwatch; do
	[ -e "$d" ] && left+=("$d")
done
check "after purge no file of the package is left" '[ ${#left[@]} -eq 0 ]'
[ ${#left[@]} -eq 0 ] || note "left: ${left[*]}"
check "after purge the system user driftwatch stays (Debian never removes system users)" \
	'getent passwd driftwatch >/dev/null'

dropdb --if-exists "$db" >/dev/null 2>&1
tap_end
