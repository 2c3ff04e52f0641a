# deb.mk: `make deb` builds the Debian 12 package (debian/) into build/deb/ (included last by the
# Makefile, after its rules, so that `all` stays the default goal).
#
# dpkg-buildpackage writes its results into the parent of the tree it builds and leaves
# debian/driftwatch/, debian/.debhelper/ and a build/ behind, so it runs on a copy of the
# sources in build/deb/src (removed afterwards): the results land in build/deb/ and the working
# tree stays as it was. No network is needed: Build-Depends must be installed (debian/control;
# dpkg-buildpackage names what is missing), with debhelper, dpkg-dev and fakeroot.

DEB_DIR     := build/deb
DEB_ARCH     = $(shell dpkg --print-architecture)
DEB_VERSION  = $(shell dpkg-parsechangelog -SVersion)
DEB_FILE     = $(DEB_DIR)/driftwatch_$(DEB_VERSION)_$(DEB_ARCH).deb

.PHONY: deb

deb:
	@# The package's version is the daemon's: one that disagrees would install a driftwatchd
	@# whose --version and /metrics say something else than dpkg -l.
	$(Q)if [ "$(DEB_VERSION)" != "$(VERSION)" ]; then \
		echo "deb: debian/changelog says $(DEB_VERSION) but the Makefile's VERSION is" \
		     "$(VERSION): add a changelog entry (dch -v $(VERSION))" >&2; exit 1; \
	fi
	$(Q)rm -rf "$(DEB_DIR)" && mkdir -p "$(DEB_DIR)/src"
	$(call SAY,COPY,$(DEB_DIR)/src)
	$(Q)tar -c --exclude=./build --exclude=./.git --exclude=node_modules . | tar -x -C "$(DEB_DIR)/src"
	$(call SAY,DPKG-BUILDPACKAGE,$(DEB_DIR))
	$(Q)cd "$(DEB_DIR)/src" && dpkg-buildpackage -b -us -uc > ../build.log 2>&1 || \
		{ echo "deb: dpkg-buildpackage failed; the end of $(DEB_DIR)/build.log:" >&2; \
		  tail -n 40 ../build.log >&2; exit 1; }
	$(Q)rm -rf "$(DEB_DIR)/src"
	@echo "deb: $(DEB_FILE) (log: $(DEB_DIR)/build.log)"
