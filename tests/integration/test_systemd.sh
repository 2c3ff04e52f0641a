#!/usr/bin/env bash
# The systemd side of issue 4: `make install DESTDIR=... PREFIX=/usr` puts every file where it
# belongs with the right mode and never overwrites driftwatch.json; the installed unit passes
# `systemd-analyze verify` (its ExecStart and man page found in the staged tree) and
# `systemd-analyze security --offline=true` rates it 2.0 or lower; the sysusers and tmpfiles
# entries create the user and the files the unit needs in a scratch root; the man page renders
# without warnings; `make uninstall` removes what install put there and leaves the
# configuration. Checks that need systemd's tools are skipped, saying so, where they are absent.
set -u

top=${DW_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
max_exposure=2.0

. "$top/tests/lib/tap.sh"

tmp=$(mktemp -d "${TEST_TMPDIR:-${TMPDIR:-/tmp}}/dw-systemd.XXXXXX") || {
	notok "create a temporary directory"
	exit 1
}
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root

# The lead's Makefile includes mk/install.mk; until it does, name the fragment on the command line
# (including it twice would redefine its rules).
make_install() {
	if grep -q '^include mk/install\.mk' "$top/Makefile"; then
		make -s -C "$top" "$@"
	else
		make -s -C "$top" -f Makefile -f mk/install.mk "$@"
	fi
}

# mode_is PATH MODE: PATH exists (in the staged root) with exactly that octal mode.
mode_is() {
	local got
	got=$(stat -c '%a' "$root$1" 2>/dev/null) || { notok "$1 is installed"; return 1; }
	if [ "$got" = "$2" ]; then
		ok "$1 is installed with mode $2"
	else
		notok "$1 is installed with mode $2"
		echo "#   its mode is $got"
	fi
}

# ---- make install into a staged root ----

if make_install install DESTDIR="$root" PREFIX=/usr >"$tmp/install.log" 2>&1; then
	ok "make install DESTDIR=... PREFIX=/usr succeeds"
else
	notok "make install DESTDIR=... PREFIX=/usr succeeds"
	diag "$tmp/install.log"
	exit 1
fi

mode_is /usr/sbin/driftwatchd 755
mode_is /usr/lib/systemd/system/driftwatch.service 644
mode_is /usr/lib/sysusers.d/driftwatch.conf 644
mode_is /usr/lib/tmpfiles.d/driftwatch.conf 644
mode_is /usr/share/man/man8/driftwatchd.8 644
mode_is /etc/driftwatch 750
mode_is /etc/driftwatch/credentials 700
mode_is /etc/driftwatch/driftwatch.json.example 644

unit=$root/usr/lib/systemd/system/driftwatch.service
if [ -x "$root/usr/sbin/driftwatchd" ] && "$root/usr/sbin/driftwatchd" --version >/dev/null 2>&1; then
	ok "the installed driftwatchd runs (--version)"
else
	notok "the installed driftwatchd runs (--version)"
fi
if cmp -s "$top/systemd/driftwatch.example.json" "$root/etc/driftwatch/driftwatch.json.example"; then
	ok "the example configuration is installed as driftwatch.json.example"
else
	notok "the example configuration is installed as driftwatch.json.example"
fi
if [ ! -e "$root/etc/driftwatch/driftwatch.json" ]; then
	ok "install creates no driftwatch.json"
else
	notok "install creates no driftwatch.json"
fi
if grep -qx 'ExecStart=/usr/sbin/driftwatchd -c /etc/driftwatch/driftwatch.json' "$unit"; then
	ok "the installed unit's ExecStart names PREFIX/sbin/driftwatchd"
else
	notok "the installed unit's ExecStart names PREFIX/sbin/driftwatchd"
	grep -n '^ExecStart' "$unit" | diag
fi
man=$root/usr/share/man/man8/driftwatchd.8
if grep -q '/usr/local/' "$man" "$unit"; then
	notok "the installed man page and unit name no /usr/local path under PREFIX=/usr"
	grep -n '/usr/local/' "$man" "$unit" | diag
else
	ok "the installed man page and unit name no /usr/local path under PREFIX=/usr"
fi
version=$(sed -n 's/^VERSION *:= *//p' "$top/Makefile")
if grep -q "^\.TH DRIFTWATCHD 8 .*\"driftwatch $version\"" "$man"; then
	ok "the installed man page carries version $version"
else
	notok "the installed man page carries version $version"
	grep -n '^\.TH' "$man" | diag
fi

# Every credential the unit loads must exist or the start fails (243/CREDENTIALS on systemd 252),
# so each LoadCredential= path needs an `f` line in tmpfiles.d that creates it.
tmpfiles=$root/usr/lib/tmpfiles.d/driftwatch.conf
missing=
n_creds=0
while IFS= read -r path; do
	n_creds=$((n_creds + 1))
	awk -v p="$path" '$1 == "f" && $2 == p { found = 1 } END { exit !found }' "$tmpfiles" ||
		missing="$missing $path"
done < <(sed -n 's/^LoadCredential=[^:]*://p' "$unit")
if [ "$n_creds" -ge 2 ] && [ -z "$missing" ]; then
	ok "each of the unit's $n_creds LoadCredential= files is created by tmpfiles.d"
else
	notok "each of the unit's LoadCredential= files is created by tmpfiles.d"
	echo "#   credentials: $n_creds; without a tmpfiles entry:${missing:- none}"
fi

# A second install keeps an administrator's configuration.
printf '{ "database": { "conninfo": "dbname=mine" } }\n' >"$root/etc/driftwatch/driftwatch.json"
cp "$root/etc/driftwatch/driftwatch.json" "$tmp/mine.json"
if make_install install DESTDIR="$root" PREFIX=/usr >"$tmp/install2.log" 2>&1 &&
	cmp -s "$tmp/mine.json" "$root/etc/driftwatch/driftwatch.json"; then
	ok "installing again leaves an existing driftwatch.json as it was"
else
	notok "installing again leaves an existing driftwatch.json as it was"
	diag "$tmp/install2.log"
fi

# ---- the man page ----

if command -v groff >/dev/null; then
	if groff -man -Tutf8 -ww -z "$top/docs/driftwatchd.8" >"$tmp/groff.log" 2>&1 &&
		[ ! -s "$tmp/groff.log" ]; then
		ok "docs/driftwatchd.8 formats with no groff warnings"
	else
		notok "docs/driftwatchd.8 formats with no groff warnings"
		diag "$tmp/groff.log"
	fi
else
	skip "docs/driftwatchd.8 formats with no groff warnings" "no groff"
fi

# ---- systemd-analyze ----

if ! command -v systemd-analyze >/dev/null; then
	skip "systemd-analyze verify of the installed unit" "no systemd"
	skip "systemd-analyze security rates the unit $max_exposure or lower" "no systemd"
else
	# verify checks that ExecStart is an executable file and, through man(1), that the
	# Documentation= page exists: point both into the staged tree. (--root=DESTDIR would also
	# want /bin/kill and every unit of the default dependencies there.)
	mkdir -p "$tmp/verify"
	sed "s|^ExecStart=/usr/sbin/driftwatchd|ExecStart=$root/usr/sbin/driftwatchd|" "$unit" \
		>"$tmp/verify/driftwatch.service"
	if MANPATH=$root/usr/share/man systemd-analyze verify "$tmp/verify/driftwatch.service" \
		>"$tmp/verify.log" 2>&1 && [ ! -s "$tmp/verify.log" ]; then
		ok "systemd-analyze verify of the installed unit is silent"
	else
		notok "systemd-analyze verify of the installed unit is silent"
		diag "$tmp/verify.log"
	fi

	systemd-analyze security --offline=true --no-pager "$unit" >"$tmp/security.log" 2>&1
	score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9.]*\).*/\1/p' "$tmp/security.log")
	if [ -z "$score" ]; then
		notok "systemd-analyze security rates the unit $max_exposure or lower"
		echo "#   no overall exposure level in its output:"
		tail -n 5 "$tmp/security.log" | diag
	elif awk -v s="$score" -v m="$max_exposure" 'BEGIN { exit !(s <= m) }'; then
		ok "systemd-analyze security rates the unit $score ($max_exposure or lower)"
	else
		notok "systemd-analyze security rates the unit $max_exposure or lower"
		echo "#   it rates it $score; the exposures:"
		grep '✗' "$tmp/security.log" | diag
	fi
fi

# The user, group, directories and empty credential files, made in a scratch root from the
# installed entries exactly as at boot (systemd-sysusers.service, then systemd-tmpfiles-setup).
if ! command -v systemd-sysusers >/dev/null || ! command -v systemd-tmpfiles >/dev/null; then
	skip "sysusers.d and tmpfiles.d entries apply" "no systemd"
else
	scratch=$tmp/scratch
	mkdir -p "$scratch/etc" "$scratch/usr/lib/sysusers.d" "$scratch/usr/lib/tmpfiles.d"
	echo 'root:x:0:0:root:/root:/bin/sh' >"$scratch/etc/passwd"
	echo 'root:x:0:' >"$scratch/etc/group"
	: >"$scratch/etc/shadow"
	: >"$scratch/etc/gshadow"
	cp "$root/usr/lib/sysusers.d/driftwatch.conf" "$scratch/usr/lib/sysusers.d/"
	cp "$tmpfiles" "$scratch/usr/lib/tmpfiles.d/"
	if systemd-sysusers --root="$scratch" driftwatch.conf >"$tmp/sysusers.log" 2>&1 &&
		grep -q '^driftwatch:x:[0-9]*:[0-9]*:[^:]*:/:/usr/sbin/nologin$' "$scratch/etc/passwd" &&
		grep -q '^driftwatch:x:' "$scratch/etc/group"; then
		ok "sysusers.d creates the system user and group driftwatch with no login shell"
	else
		notok "sysusers.d creates the system user and group driftwatch with no login shell"
		diag "$tmp/sysusers.log" "$scratch/etc/passwd"
	fi
	printf '{}\n' >"$tmp/json"
	mkdir -p "$scratch/etc/driftwatch"
	install -m 0666 "$tmp/json" "$scratch/etc/driftwatch/driftwatch.json"
	echo secret >"$scratch/etc/driftwatch/smtp-kept"
	if systemd-tmpfiles --root="$scratch" --create driftwatch.conf >"$tmp/tmpfiles.log" 2>&1; then
		ok "tmpfiles.d entries apply"
	else
		notok "tmpfiles.d entries apply"
		diag "$tmp/tmpfiles.log"
	fi
	gid=$(awk -F: '$1 == "driftwatch" { print $3 }' "$scratch/etc/group")
	got=$(stat -c '%a %u:%g' "$scratch/etc/driftwatch" 2>/dev/null)
	[ "$got" = "750 0:$gid" ] && ok "/etc/driftwatch becomes 0750 root:driftwatch" ||
		{ notok "/etc/driftwatch becomes 0750 root:driftwatch"; echo "#   it is $got"; }
	got=$(stat -c '%a %u:%g' "$scratch/etc/driftwatch/driftwatch.json" 2>/dev/null)
	[ "$got" = "640 0:$gid" ] && ok "an existing driftwatch.json becomes 0640 root:driftwatch" ||
		{ notok "an existing driftwatch.json becomes 0640 root:driftwatch"; echo "#   it is $got"; }
	bad=
	for name in smtp-password hook-secret team-hook-secret link-secret api-tokens pgpass; do
		got=$(stat -c '%a %u:%g %s' "$scratch/etc/driftwatch/credentials/$name" 2>/dev/null)
		[ "$got" = "600 0:0 0" ] || bad="$bad $name($got)"
	done
	[ -z "$bad" ] && ok "each credential file is created empty, 0600 root:root" ||
		{ notok "each credential file is created empty, 0600 root:root"; echo "#  $bad"; }
	echo 'hunter2' >"$scratch/etc/driftwatch/credentials/smtp-password"
	systemd-tmpfiles --root="$scratch" --create driftwatch.conf >/dev/null 2>&1
	if [ "$(cat "$scratch/etc/driftwatch/credentials/smtp-password")" = hunter2 ]; then
		ok "tmpfiles.d leaves a filled-in credential as it is"
	else
		notok "tmpfiles.d leaves a filled-in credential as it is"
	fi
fi

# ---- make uninstall ----

if make_install uninstall DESTDIR="$root" PREFIX=/usr >"$tmp/uninstall.log" 2>&1; then
	ok "make uninstall DESTDIR=... PREFIX=/usr succeeds"
else
	notok "make uninstall DESTDIR=... PREFIX=/usr succeeds"
	diag "$tmp/uninstall.log"
fi
left=$(cd "$root" && find . ! -type d | sort | tr '\n' ' ')
if [ "$left" = "./etc/driftwatch/driftwatch.json " ]; then
	ok "uninstall removes every installed file and keeps driftwatch.json"
else
	notok "uninstall removes every installed file and keeps driftwatch.json"
	echo "#   left: $left"
fi
tap_end
