# Chat4All — one non-recursive Makefile. `make run` and `make test` are the
# two commands a newcomer needs; see README.md.

CC      ?= cc
BUILD   ?= build
# VAR: where an instance keeps its data (default ./var; tools/stack.sh
# picks /var/lib/chat4all/… when root's services cannot enter the checkout)
PORT    ?= 8080

PKGS    := json-c libpq hiredis libjwt libargon2 libcrypto libcurl rdkafka
WARN    := -Wall -Wextra -Werror -Wstrict-prototypes -Wmissing-prototypes \
           -Wshadow -Wformat=2 -Wvla -fno-common
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE $(WARN) $(shell pkg-config --cflags $(PKGS))
LDLIBS  := $(shell pkg-config --libs $(PKGS))

# `make SANITIZER=address,undefined` builds everything with sanitizers;
# the unit tests always are.
ifdef SANITIZER
CFLAGS  += -fsanitize=$(SANITIZER) -fno-omit-frame-pointer
LDFLAGS += -fsanitize=$(SANITIZER)
endif

LIB_SRC  := $(wildcard lib/*.c)
API_SRC  := $(wildcard fcgi/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
API_OBJ  := $(API_SRC:%.c=$(BUILD)/%.o)

JOBS_SRC := $(wildcard jobs/*.c)
JOBS_OBJ := $(JOBS_SRC:%.c=$(BUILD)/%.o)

BINS := $(BUILD)/chat4all-api $(BUILD)/chat4all-admin $(BUILD)/chat4all-jobs \
        $(BUILD)/chat4all-stream

.PHONY: all run stop status test test-unit test-integration bench fuzz fmt lint clean deps web install uninstall
all: $(BINS)

# `make V=1` shows the commands
Q := $(if $(V),,@)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libchat4all.a: $(LIB_OBJ)
	$(Q)ar rcs $@ $^

$(BUILD)/chat4all-api: $(API_OBJ) $(BUILD)/libchat4all.a
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -lfcgi $(LDLIBS)

$(BUILD)/chat4all-stream: $(BUILD)/stream/stream.o $(BUILD)/libchat4all.a
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs libevent)

$(BUILD)/stream/stream.o: CFLAGS += $(shell pkg-config --cflags libevent)

$(BUILD)/chat4all-jobs: $(JOBS_OBJ) $(BUILD)/libchat4all.a
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/chat4all-admin: $(BUILD)/tools/admin.o $(BUILD)/tools/backup.o $(BUILD)/libchat4all.a
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# ---- unit tests: cmocka, one binary per module, always sanitized ----
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/unit/%)
SAN       := -fsanitize=address,undefined -fno-omit-frame-pointer
UNIT_CFLAGS := -O1 -g -std=c11 -D_GNU_SOURCE $(WARN) -Wno-missing-prototypes \
               $(shell pkg-config --cflags $(PKGS) cmocka) $(SAN)

# lib/ and the API compiled once with the sanitizers, linked into each test
SAN_LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/san/%.o)
SAN_API_OBJ := $(patsubst %.c,$(BUILD)/san/%.o,$(filter-out fcgi/main.c,$(API_SRC)))

$(BUILD)/san/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(UNIT_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/unit/%: tests/unit/%.c $(SAN_LIB_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TEST    $@")
	$(Q)$(CC) $(UNIT_CFLAGS) -MMD -MP -o $@ $< $(UNIT_OBJ) $(SAN_LIB_OBJ) $(SAN) $(UNIT_LDFLAGS) \
	    $(shell pkg-config --libs cmocka) $(LDLIBS)

# the API's own units (request parsing, the route table) link the API
# without its main() and libfcgi
UNIT_API := $(BUILD)/unit/test_req $(BUILD)/unit/test_routes
$(UNIT_API): UNIT_OBJ = $(SAN_API_OBJ)
$(UNIT_API): UNIT_LDFLAGS += -lfcgi
$(UNIT_API): $(SAN_API_OBJ)

# the file store's test watches which folders are synced
$(BUILD)/unit/test_filestore: UNIT_LDFLAGS += -Wl,--wrap=fsync

# ---- integration suites: libcurl + cmocka against the running stack ----
# (the REST API's, one per resource: tests/integration/api_<resource>_test.c)
API_TESTS := $(patsubst tests/integration/%.c,$(BUILD)/integration/%,$(wildcard tests/integration/api_*_test.c))
INTEG_COMMON := tests/integration/http.c tests/integration/client.c
INTEG_DEPS   := $(INTEG_COMMON) tests/integration/http.h tests/integration/client.h

$(BUILD)/integration/%: tests/integration/%.c $(INTEG_DEPS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TEST    $@")
	$(Q)$(CC) -O1 -g -std=c11 -D_GNU_SOURCE $(WARN) -Wno-missing-prototypes \
	    $(shell pkg-config --cflags json-c libcurl cmocka libcrypto) -o $@ \
	    $< $(INTEG_COMMON) \
	    $(shell pkg-config --libs json-c libcurl cmocka libjwt libcrypto) $(INTEG_LIBS) -lpthread

# the Kafka suites read the topics themselves
$(BUILD)/integration/kafka_%: INTEG_LIBS = $(shell pkg-config --libs rdkafka)
KAFKA_TESTS := $(patsubst tests/integration/%.c,$(BUILD)/integration/%,$(wildcard tests/integration/kafka_*_test.c))

# a Kafka cluster for the tests and the bench (librdkafka's mock), not shipped
$(BUILD)/kafka/mock_cluster: tests/kafka/mock_cluster.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  MOCK    $@")
	$(Q)$(CC) -O1 -g -std=c11 -D_GNU_SOURCE $(WARN) -Wno-missing-prototypes \
	    $(shell pkg-config --cflags rdkafka) -o $@ $< $(shell pkg-config --libs rdkafka)

deps:
	@tools/deps.sh

# ---- what comes from npm (package.json, locked): the web UI's tus client,
# copied into web/vendor so that lighttpd serves it (no CDN), and the
# browser tests' playwright-core
node_modules/.package-lock.json: package.json package-lock.json
	@echo "  NPM     ci"
	$(Q)npm ci --no-audit --no-fund --loglevel=error >/dev/null

web/vendor/tus.min.js: node_modules/.package-lock.json
	@mkdir -p $(dir $@)
	$(Q)cp node_modules/tus-js-client/dist/tus.min.js $@

web: web/vendor/tus.min.js

# deps first, then a fresh make: pkg-config answers only once the -dev
# packages are there, so the flags must be read after they are installed.
run: deps
	@$(MAKE) --no-print-directory all web
	@$(if $(VAR),VAR=$(VAR)) PORT=$(PORT) tools/stack.sh start

stop:
	@$(if $(VAR),VAR=$(VAR)) tools/stack.sh stop

status:
	@$(if $(VAR),VAR=$(VAR)) tools/stack.sh status

# ---- make install: a classic host's layout under PREFIX, the settings in
# SYSCONFDIR/chat4all, systemd units running as the user chat4all with the
# distribution's PostgreSQL and Redis (README "Operating Chat4All").
# DESTDIR for packagers: then nothing outside it is touched (no user made).
PREFIX     ?= /usr/local
SYSCONFDIR ?= /etc
DESTDIR    ?=
HTTP_BIND  ?= 0.0.0.0
HTTP_PORT  ?= 8080
REDIRECT_PORT ?=
LIBEXECDIR := $(PREFIX)/lib/chat4all
DATADIR    := $(PREFIX)/share/chat4all
UNITDIR    ?= $(PREFIX)/lib/systemd/system
UNITS      := chat4all-api.service chat4all-stream.service chat4all-worker@.service \
              chat4all-deliver@.service chat4all-relay@.service chat4all-cron.service
SUBST = sed -e 's|@LIBEXECDIR@|$(LIBEXECDIR)|g' -e 's|@DATADIR@|$(DATADIR)|g' \
	-e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@HTTP_PORT@|$(HTTP_PORT)|g' \
	-e 's|@HTTP_BIND@|$(HTTP_BIND)|g' -e 's|@REDIRECT_PORT@|$(REDIRECT_PORT)|g'
ETC := $(DESTDIR)$(SYSCONFDIR)

install: all web
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(DATADIR)/conf \
	    $(DESTDIR)$(UNITDIR) $(ETC)/chat4all $(ETC)/logrotate.d
	install -m 755 $(BINS) $(DESTDIR)$(LIBEXECDIR)/
	$(SUBST) tools/chat4all-admin.installed.in >$(DESTDIR)$(PREFIX)/bin/chat4all-admin
	chmod 755 $(DESTDIR)$(PREFIX)/bin/chat4all-admin
	rm -rf $(DESTDIR)$(DATADIR)/web $(DESTDIR)$(DATADIR)/migrations
	cp -r web migrations $(DESTDIR)$(DATADIR)/
	cp -r conf/moderation conf/monitoring $(DESTDIR)$(DATADIR)/
	cp -r conf/problems $(DESTDIR)$(DATADIR)/conf/
	install -m 644 conf/lighttpd.conf.in conf/lighttpd-tls.conf.in conf/lighttpd-redirect.conf.in \
	    conf/lighttpd-acme.conf.in \
	    $(DESTDIR)$(DATADIR)/conf/
	install -m 755 tools/lighttpd-conf.sh $(DESTDIR)$(LIBEXECDIR)/lighttpd-conf
	install -m 644 README.md conf/chat4all.conf.example $(DESTDIR)$(DATADIR)/
	set -e; for u in $(UNITS); do \
		{ $(SUBST) conf/systemd/$$u.in; $(SUBST) conf/systemd/hardening.conf.in; \
		  [ $$u = chat4all-cron.service ] || printf '\n[Install]\nWantedBy=multi-user.target\n'; \
		} >$(DESTDIR)$(UNITDIR)/$$u; \
	done
	install -m 644 conf/systemd/chat4all-cron.timer $(DESTDIR)$(UNITDIR)/
	$(SUBST) conf/logrotate.in >$(ETC)/logrotate.d/chat4all
	@# the settings and the secret are the sysadmin's: made once, never overwritten
	[ -e $(ETC)/chat4all/chat4all.conf ] || { $(SUBST) conf/installed.conf.in; \
	    grep -v '^#' conf/chat4all.conf.example | grep -v '^$$'; } >$(ETC)/chat4all/chat4all.conf
	[ -e $(ETC)/chat4all/jwt-secret ] || (umask 077; head -c 48 /dev/urandom | base64 -w0 >$(ETC)/chat4all/jwt-secret)
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then \
		id -u chat4all >/dev/null 2>&1 || useradd --system --user-group --no-create-home \
			--home-dir /nonexistent --shell /usr/sbin/nologin chat4all; \
		chgrp chat4all $(ETC)/chat4all/chat4all.conf $(ETC)/chat4all/jwt-secret; \
		chmod 640 $(ETC)/chat4all/chat4all.conf $(ETC)/chat4all/jwt-secret; \
		systemctl daemon-reload 2>/dev/null || true; \
		echo "installed; next (README \"Operating Chat4All\"): the database role, then"; \
		echo "  systemctl enable --now chat4all-api chat4all-stream chat4all-worker@1 chat4all-worker@2 chat4all-deliver@1 chat4all-cron.timer"; \
	fi

# What make install put in place; the settings, the secret, the data and
# the logs stay (they are the sysadmin's: remove them by hand).
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/chat4all-admin $(ETC)/chat4all/lighttpd.conf $(ETC)/logrotate.d/chat4all
	rm -rf $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(DATADIR)
	rm -f $(addprefix $(DESTDIR)$(UNITDIR)/,$(UNITS) chat4all-cron.timer)
	@[ -n "$(DESTDIR)" ] || systemctl daemon-reload 2>/dev/null || true

test: deps
	@$(MAKE) --no-print-directory all web $(UNIT_BINS) $(API_TESTS) $(KAFKA_TESTS) \
	    $(BUILD)/kafka/mock_cluster \
	    $(BUILD)/integration/files_test $(BUILD)/integration/security_test \
	    $(BUILD)/integration/moderation_test $(BUILD)/fakes/fake_moderation $(FUZZ_BINS)
	@tools/test.sh $(UNIT_BINS)

test-unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do $$t; done

bench: deps
	@$(MAKE) --no-print-directory all $(BUILD)/bench/fcgi_insert $(BUILD)/bench/stream_idle \
	    $(BUILD)/bench/stream_latency $(BUILD)/kafka/mock_cluster
	@QUICK=$(QUICK) PROFILE=$(PROFILE) tests/bench/run.sh

# ---- fuzzing: one libFuzzer target per parser of strangers' bytes ----
# `make fuzz` runs each for FUZZ_SECONDS (60) from the checked-in corpus
# (tests/fuzz/corpus/<target>, read only) and what it finds meanwhile
# (build/fuzz/corpus/<target>); crashes land in build/fuzz/. `make test`
# runs each for a few seconds.
FUZZ_TARGETS := fuzz_json fuzz_tus fuzz_ids fuzz_answers fuzz_webhook fuzz_request
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(BUILD)/fuzz/%)
FUZZ_CFLAGS  := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
                -std=c11 -D_GNU_SOURCE -Wall $(shell pkg-config --cflags $(PKGS))
FUZZ_API     := $(filter-out fcgi/routes.c fcgi/main.c,$(API_SRC))

$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIB_SRC) $(wildcard lib/*.h)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)clang $(FUZZ_CFLAGS) -o $@ $< $(LIB_SRC) $(LDLIBS)

$(BUILD)/fuzz/fuzz_request: tests/fuzz/fuzz_request.c fcgi/routes.c $(FUZZ_API) $(LIB_SRC)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)clang $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_API) $(LIB_SRC) -lfcgi $(LDLIBS)

fuzz: deps
	@$(MAKE) --no-print-directory $(FUZZ_BINS)
	@tools/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fmt:
	clang-format -i lib/*.[ch] fcgi/*.[ch] stream/*.c jobs/*.[ch] tools/*.c tests/*/*.[ch]

# (system headers are not read, so json-c's foreach macro is unknown to it)
lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	    --inline-suppr --suppress=missingIncludeSystem --suppress=unknownMacro -I lib lib fcgi stream jobs tools

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

$(BUILD)/bench/fcgi_insert: tests/bench/fcgi_insert.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  BENCH   $@")
	$(Q)$(CC) -O2 -std=c11 -D_GNU_SOURCE $(WARN) -Wno-missing-prototypes \
	    $(shell pkg-config --cflags libpq) -o $@ $< -lfcgi $(shell pkg-config --libs libpq)

# ---- local fakes of the external services, speaking their real protocols ----
$(BUILD)/fakes/%: tests/fakes/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FAKE    $@")
	$(Q)$(CC) -O1 -g -std=c11 -D_GNU_SOURCE $(WARN) -Wno-missing-prototypes \
	    $(shell pkg-config --cflags json-c libevent) -o $@ $< \
	    $(shell pkg-config --libs json-c libevent)

$(BUILD)/integration/moderation_test: tests/integration/moderation_test.c $(SAN_LIB_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TEST    $@")
	$(Q)$(CC) $(UNIT_CFLAGS) -MMD -MP -o $@ $< $(SAN_LIB_OBJ) $(SAN) \
	    $(shell pkg-config --libs cmocka) $(LDLIBS)

$(BUILD)/bench/stream_idle: tests/bench/stream_idle.c $(BUILD)/libchat4all.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  BENCH   $@")
	$(Q)$(CC) -O2 -std=c11 -D_GNU_SOURCE $(WARN) -Wno-missing-prototypes \
	    $(shell pkg-config --cflags libevent) -o $@ $< $(BUILD)/libchat4all.a \
	    $(shell pkg-config --libs libevent) $(LDLIBS)

$(BUILD)/bench/stream_latency: tests/bench/stream_latency.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  BENCH   $@")
	$(Q)$(CC) -O2 -std=c11 -D_GNU_SOURCE $(WARN) -Wno-missing-prototypes \
	    -o $@ $< $(shell pkg-config --libs libcurl) -lpthread
