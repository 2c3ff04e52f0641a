# install.mk: `make install` and `make uninstall`, honouring DESTDIR and PREFIX (included last by
# the Makefile, after its rules, so that `all` stays the default goal).
#
#   make install                          a local build: PREFIX=/usr/local, live system
#   make install DESTDIR=/tmp/root PREFIX=/usr   staged for a package: nothing outside DESTDIR
#
# What goes where, and why:
#   $(SBINDIR)/driftwatchd     PREFIX/sbin: a system daemon documented in section 8, as the FHS
#                              and Debian put sshd or cron; operators run the one-shot commands
#                              (--check-config, --once) as root or with runuser, where sbin is on
#                              the path.
#   $(UNITDIR)/driftwatch.service   PREFIX/lib/systemd/system. Debian packages (PREFIX=/usr)
#                              ship units in /usr/lib/systemd/system; /etc/systemd/system belongs
#                              to the administrator (enablement links, `systemctl edit` drop-ins,
#                              whole-unit overrides), so a local build goes to
#                              /usr/local/lib/systemd/system, which systemd searches as well
#                              (`systemd-analyze unit-paths`). An administrator's copy in /etc
#                              then still wins, and uninstall never touches their files.
#   $(SYSUSERSDIR), $(TMPFILESDIR)  PREFIX/lib/sysusers.d and tmpfiles.d, the same reasoning
#                              (both tools read /usr/local/lib/... on systemd 252).
#   $(MANDIR)/man8/driftwatchd.8
#   /etc/driftwatch/driftwatch.json.example   always /etc, whatever PREFIX: the unit, the
#                              tmpfiles entries and the man page name /etc/driftwatch. The
#                              example is replaced on every install; driftwatch.json, the real
#                              configuration, is never written (copy the example and edit it).
#
# The unit and the man page name the binary as /usr/local/sbin/driftwatchd; install rewrites
# that to $(SBINDIR); the man page's other paths and its version are rewritten likewise. On a live install (no DESTDIR) run as root, the user, the directories and
# the empty credential files are created at once (systemd-sysusers, systemd-tmpfiles) and
# systemd reloads its units; a package does the same in its postinst.

SBINDIR     ?= $(PREFIX)/sbin
MANDIR      ?= $(PREFIX)/share/man
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
DW_CONFDIR  := /etc/driftwatch
INSTALL     ?= install

DW_SUBST := sed -e 's|/usr/local/sbin/driftwatchd|$(SBINDIR)/driftwatchd|g'
# The man page also names the other installed files and, in its title line, the version.
DW_MAN_SUBST := $(DW_SUBST) \
	-e 's|/usr/local/lib/systemd/system/|$(UNITDIR)/|g' \
	-e 's|/usr/local/lib/sysusers\.d/|$(SYSUSERSDIR)/|g' \
	-e 's|/usr/local/lib/tmpfiles\.d/|$(TMPFILESDIR)/|g' \
	-e '/^\.TH /s|"driftwatch [^"]*"|"driftwatch $(VERSION)"|'

# A live install: nothing staged, and systemd's tools present and permitted.
DW_LIVE = [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]

.PHONY: install uninstall

install: build/driftwatchd systemd/driftwatch.service systemd/driftwatch.sysusers \
	 systemd/driftwatch.tmpfiles systemd/driftwatch.example.json docs/driftwatchd.8
	$(call SAY,INSTALL,$(DESTDIR)$(PREFIX) $(DESTDIR)$(DW_CONFDIR))
	$(Q)$(INSTALL) -d -m 0755 "$(DESTDIR)$(SBINDIR)" "$(DESTDIR)$(UNITDIR)" \
		"$(DESTDIR)$(SYSUSERSDIR)" "$(DESTDIR)$(TMPFILESDIR)" "$(DESTDIR)$(MANDIR)/man8"
	$(Q)$(INSTALL) -m 0755 build/driftwatchd "$(DESTDIR)$(SBINDIR)/driftwatchd"
	$(Q)$(DW_SUBST) systemd/driftwatch.service > "$(DESTDIR)$(UNITDIR)/driftwatch.service.tmp"
	$(Q)chmod 0644 "$(DESTDIR)$(UNITDIR)/driftwatch.service.tmp"
	$(Q)mv -f "$(DESTDIR)$(UNITDIR)/driftwatch.service.tmp" "$(DESTDIR)$(UNITDIR)/driftwatch.service"
	$(Q)$(INSTALL) -m 0644 systemd/driftwatch.sysusers "$(DESTDIR)$(SYSUSERSDIR)/driftwatch.conf"
	$(Q)$(INSTALL) -m 0644 systemd/driftwatch.tmpfiles "$(DESTDIR)$(TMPFILESDIR)/driftwatch.conf"
	$(Q)$(DW_MAN_SUBST) docs/driftwatchd.8 > "$(DESTDIR)$(MANDIR)/man8/driftwatchd.8.tmp"
	$(Q)chmod 0644 "$(DESTDIR)$(MANDIR)/man8/driftwatchd.8.tmp"
	$(Q)mv -f "$(DESTDIR)$(MANDIR)/man8/driftwatchd.8.tmp" "$(DESTDIR)$(MANDIR)/man8/driftwatchd.8"
	$(Q)$(INSTALL) -d -m 0750 "$(DESTDIR)$(DW_CONFDIR)"
	$(Q)$(INSTALL) -d -m 0700 "$(DESTDIR)$(DW_CONFDIR)/credentials"
	$(Q)$(INSTALL) -m 0644 systemd/driftwatch.example.json \
		"$(DESTDIR)$(DW_CONFDIR)/driftwatch.json.example"
	$(Q)if $(DW_LIVE); then \
		if command -v systemd-sysusers >/dev/null && command -v systemd-tmpfiles >/dev/null; then \
			systemd-sysusers "$(SYSUSERSDIR)/driftwatch.conf" && \
			systemd-tmpfiles --create "$(TMPFILESDIR)/driftwatch.conf" || exit 1; \
		else \
			echo "install: no systemd-sysusers/systemd-tmpfiles: create the user driftwatch" \
			     "and the files of $(TMPFILESDIR)/driftwatch.conf by hand"; \
		fi; \
		if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi; \
	elif [ -z "$(DESTDIR)" ]; then \
		echo "install: not root: run systemd-sysusers and systemd-tmpfiles --create" \
		     "on the files installed in $(SYSUSERSDIR) and $(TMPFILESDIR) as root"; \
	fi
	$(Q)if [ ! -e "$(DESTDIR)$(DW_CONFDIR)/driftwatch.json" ]; then \
		echo "install: no $(DW_CONFDIR)/driftwatch.json yet: start from" \
		     "$(DW_CONFDIR)/driftwatch.json.example (see driftwatchd(8))"; \
	fi

# Leaves the configuration, the credentials and the user: on Debian, removing a package keeps
# its configuration (only a purge drops it) and system users are never deleted, since files
# they own may remain.
uninstall:
	$(call SAY,UNINSTALL,$(DESTDIR)$(PREFIX))
	$(Q)if $(DW_LIVE) && [ -d /run/systemd/system ]; then \
		systemctl disable --now driftwatch.service 2>/dev/null || true; \
	fi
	$(Q)rm -f "$(DESTDIR)$(SBINDIR)/driftwatchd" "$(DESTDIR)$(UNITDIR)/driftwatch.service" \
		"$(DESTDIR)$(SYSUSERSDIR)/driftwatch.conf" "$(DESTDIR)$(TMPFILESDIR)/driftwatch.conf" \
		"$(DESTDIR)$(MANDIR)/man8/driftwatchd.8" \
		"$(DESTDIR)$(DW_CONFDIR)/driftwatch.json.example"
	$(Q)rmdir "$(DESTDIR)$(DW_CONFDIR)/credentials" "$(DESTDIR)$(DW_CONFDIR)" 2>/dev/null || true
	$(Q)if $(DW_LIVE) && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
