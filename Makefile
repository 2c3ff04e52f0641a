# driftwatch: `make` builds the daemon, `make check` runs every test, `make demo` shows it,
# `make deb` packages it for Debian 12 (mk/deb.mk).
VERSION   := 0.1.0
PREFIX    ?= /usr/local
DESTDIR   ?=
PKGS      := libpq libevent jansson libcurl libcrypto
CC        ?= cc
WARN      := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
             -Wformat=2 -Wno-format-nonliteral
CPPFLAGS  += -Iinclude -D_POSIX_C_SOURCE=200809L -DDW_VERSION='"$(VERSION)"'
CFLAGS    ?= -O2 -g
CFLAGS    += -std=c11 -pthread $(WARN) $(shell pkg-config --cflags $(PKGS))
LDLIBS    += $(shell pkg-config --libs $(PKGS)) -lm -pthread
SANFLAGS  := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined

RULE_SQL  := $(sort $(wildcard rules/*.sql daemon/sql/*.sql))
# Fragments: text that statements pull in with `-- @include NAME.sql` (rules/embed_sql.sh), not
# statements of their own. They are not embedded, but build/sql_embed.c depends on them.
SQL_FRAGMENTS := rules/episodes.sql rules/head.sql rules/params.sql rules/alert_rows.sql $(wildcard rules/rows_*.sql rules/tail_*.sql) \
		 daemon/sql/web_alert_state.sql daemon/sql/web_response.sql \
		 daemon/sql/web_visible_notice.sql daemon/sql/web_service_body.sql \
		 daemon/sql/web_service_oldest.sql daemon/sql/web_service_record_wrong.sql \
		 daemon/sql/case_workers.sql daemon/sql/case_teams.sql daemon/sql/case_allocations.sql
EMBED_SQL := $(filter-out rules/contract.sql rules/contract_indexes.sql $(SQL_FRAGMENTS),$(RULE_SQL))
SRC       := $(sort $(wildcard daemon/*.c rules/*.c)) build/sql_embed.c
LIB_SRC   := $(filter-out daemon/main.c,$(SRC))
OBJ       := $(patsubst %.c,build/obj/%.o,$(SRC))
SAN_OBJ   := $(patsubst %.c,build/san/obj/%.o,$(SRC))
SAN_LIB   := $(patsubst %.c,build/san/obj/%.o,$(LIB_SRC))
UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN  := $(patsubst tests/unit/%.c,build/san/%,$(UNIT_SRC))
# C integration tests: programs run against the test PostgreSQL, kept apart from the unit tests'.
ITEST_SRC := $(sort $(wildcard tests/integration/test_*.c))
ITEST_BIN := $(patsubst tests/integration/%.c,build/san/integration/%,$(ITEST_SRC))
# Small C programs the integration tests drive (a webhook sender, a mail sender).
DRIVER_SRC := $(filter-out $(ITEST_SRC),$(sort $(wildcard tests/integration/*.c)))
DRIVER_BIN := $(patsubst tests/integration/%.c,build/san/%,$(DRIVER_SRC))
HEADERS   := $(wildcard include/driftwatch/*.h daemon/*.h tests/lib/*.h)

.PHONY: all check demo bench clean install
all: build/driftwatchd build/dwgen

build/sql_embed.c: rules/embed_sql.sh $(EMBED_SQL) $(SQL_FRAGMENTS)
	@mkdir -p $(@D)
	$(call SAY,EMBED,$(EMBED_SQL))
	$(Q)sh rules/embed_sql.sh $(EMBED_SQL) > $@.$$$$.tmp && mv $@.$$$$.tmp $@ || { rm -f $@.$$$$.tmp; exit 1; }

# `make V=1` shows the whole command lines.
V ?= 0
ifeq ($(V),0)
Q   := @
SAY = @echo "  $(1)	$(2)"
else
Q   :=
SAY = @true
endif

build/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(@D)
	$(call SAY,CC,$<)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

build/san/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(@D)
	$(call SAY,CC-SAN,$<)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(SANFLAGS) -c -o $@ $<

build/driftwatchd: $(OBJ)
	$(call SAY,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

build/san/driftwatchd: $(SAN_OBJ)
	$(call SAY,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(SANFLAGS) -o $@ $^ $(LDLIBS)

build/san/test_%: tests/unit/test_%.c $(SAN_LIB) $(HEADERS)
	@mkdir -p $(@D)
	$(call SAY,TEST,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(SANFLAGS) -Itests/lib -o $@ $< $(SAN_LIB) $(LDLIBS)

build/san/integration/test_%: tests/integration/test_%.c $(SAN_LIB) $(HEADERS)
	@mkdir -p $(@D)
	$(call SAY,TEST,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(SANFLAGS) -Itests/lib -o $@ $< $(SAN_LIB) $(LDLIBS)

build/san/%: tests/integration/%.c $(SAN_LIB) $(HEADERS)
	@mkdir -p $(@D)
	$(call SAY,DRIVER,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(SANFLAGS) -o $@ $< $(SAN_LIB) $(LDLIBS)

build/dwgen: bench/dwgen.c
	@mkdir -p $(@D)
	$(call SAY,CC,$<)
	$(Q)$(CC) -O2 -std=c11 $(WARN) -D_POSIX_C_SOURCE=200809L -o $@ $< -lm

# The reference Standard Webhooks implementation the tests verify signatures with.
tests/integration/node_modules/.package-lock.json: tests/integration/package-lock.json
	cd tests/integration && npm ci --no-audit --no-fund --silent

check: all build/san/driftwatchd $(UNIT_BIN) $(ITEST_BIN) $(DRIVER_BIN) \
		tests/integration/node_modules/.package-lock.json
	@# run.sh runs every test_* in UNIT_DIR: not the binary of a test since moved or removed
	$(Q)rm -f $(filter-out $(UNIT_BIN),$(wildcard build/san/test_*))
	DRIFTWATCHD=$(CURDIR)/build/san/driftwatchd DWGEN=$(CURDIR)/build/dwgen \
	DRIFTWATCHD_PLAIN=$(CURDIR)/build/driftwatchd \
	UNIT_DIR=$(CURDIR)/build/san ITEST_DIR=$(CURDIR)/build/san/integration bash tests/run.sh

demo:
	bash tests/demo.sh

bench: all
	bash bench/bench.sh

clean:
	rm -rf build

include mk/install.mk
include mk/deb.mk
