# rtun-monitor. `make` builds build/rtun-monitor; `make check` runs every test; `make demo` shows the lab.
PREFIX ?= /usr/local
DESTDIR ?=
UNITDIR ?= /etc/systemd/system
BUILD ?= build

CC ?= gcc
PKGS := libsystemd libcurl libmicrohttpd inih jansson zlib nettle yaml-0.1 gnutls libxcrypt
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libcurl is dlopen()ed when alerts are configured (exporters/curl_dl.c): headers only at build time.
PKG_LIBS = $(shell pkg-config --libs $(filter-out libcurl,$(PKGS)) 2>/dev/null)
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.1.0)

WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wformat=2 -Wno-format-nonliteral
CFLAGS ?= -O2 -g
# CPPFLAGS and LDFLAGS as the environment gives them (dpkg-buildflags' hardening in `make deb`).
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -DVERSION=\"$(VERSION)\" $(WARN) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP
LDLIBS_ALL = $(PKG_LIBS)

LIB_SRC := $(filter-out monitor/main.c,$(wildcard monitor/*.c monitor/base/*.c monitor/bastion/*.c probes/*.c exporters/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
MAIN_OBJ := $(BUILD)/obj/monitor/main.o
UNIT_TESTS := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c))

ASAN_BUILD := $(BUILD)/asan
ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

.PHONY: all check unit unit-asan integration lint deps deb-deps deb demo install bench bench-peers soak fuzz fuzz-build fuzz-smoke clean
all: $(BUILD)/rtun-monitor

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/librtun.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/rtun-monitor: $(MAIN_OBJ) $(BUILD)/librtun.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/librtun.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/librtun.a $(LDLIBS_ALL) $(shell pkg-config --libs cmocka)

deps:
	@bash tests/lab/install-deps.sh

# Only what `make deb` needs (a subset of deps): compiler, -dev packages, debhelper, lintian.
deb-deps:
	@bash tests/lab/install-deps.sh deb

unit: $(addprefix $(BUILD)/tests/,$(UNIT_TESTS))
	@set -e; for t in $(UNIT_TESTS); do echo "== $$t"; $(BUILD)/tests/$$t; done

# The same unit tests under AddressSanitizer and UndefinedBehaviorSanitizer.
unit-asan:
	$(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) CFLAGS="$(ASAN_FLAGS)" LDFLAGS="$(ASAN_FLAGS)" \
		LDLIBS_ALL="$(PKG_LIBS) -fsanitize=address,undefined" unit

integration: $(BUILD)/rtun-monitor
	bash tests/integration/run.sh

# lint also fails when a shipped unit's systemd-analyze security exposure rises above its goal.
lint: $(BUILD)/rtun-monitor
	bash tests/lint.sh
	bash tests/hardening.sh

check: deps
	$(MAKE) --no-print-directory all
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory unit-asan
	$(MAKE) --no-print-directory fuzz-smoke
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory deb
	$(MAKE) --no-print-directory integration

demo: deps
	$(MAKE) --no-print-directory all
	bash tests/lab/demo.sh

bench: deps
	@bash tests/lab/install-deps.sh bench
	$(MAKE) --no-print-directory all
	bash tests/bench/run.sh

# The daemon over 50 tunnels on 3 bastions under random faults for SOAK_MINUTES (10; not in make check).
# SOAK_VALGRIND=1: under valgrind (shorter: SOAK_MINUTES=3). Report: build/soak*/report.txt.
SOAK_MINUTES ?= 10
SOAK_VALGRIND ?= 0
soak: deps
	$(MAKE) --no-print-directory all
	SOAK_MINUTES=$(SOAK_MINUTES) SOAK_VALGRIND=$(SOAK_VALGRIND) bash tests/soak/run.sh

# Only section 7 of `make bench`: rtun-monitor side by side with the article's setup and autossh under the
# same faults, node_exporter's systemd collector, blackbox_exporter's ssh_banner (tests/bench/peers.sh).
bench-peers: deps
	@bash tests/lab/install-deps.sh bench
	$(MAKE) --no-print-directory all
	bash tests/bench/peers.sh

# libFuzzer targets (tests/fuzz/fuzz_*.c), one for each place hostile bytes enter, linked against the whole
# library built with clang's sanitizers. `make fuzz` runs each for FUZZ_SECONDS (default 60); `make check`
# runs each for a short while (fuzz-smoke), so a crash blocks a landing.
FUZZ_BUILD := $(BUILD)/fuzz
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SMOKE_SECONDS ?= 8

fuzz-build:
	$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang CFLAGS="-O1 -g -fsanitize=fuzzer-no-link $(FUZZ_SAN)" \
		$(FUZZ_BUILD)/librtun.a
	@set -e; for t in $(FUZZ_TARGETS); do \
		clang $(ALL_CFLAGS) -MF /dev/null -O1 -g -fsanitize=fuzzer $(FUZZ_SAN) tests/fuzz/$$t.c \
			$(FUZZ_BUILD)/librtun.a $(PKG_LIBS) -o $(FUZZ_BUILD)/$$t; done

# Each target from its seed corpus (tests/fuzz/corpus/NAME, if any) in a scratch copy; crashes fail the run.
fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do echo "== $$t ($${FUZZ_SECONDS:-60} s)"; \
		bash tests/fuzz/run.sh $(FUZZ_BUILD)/$$t $${FUZZ_SECONDS:-60}; done

fuzz-smoke: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do echo "== $$t ($(FUZZ_SMOKE_SECONDS) s)"; \
		bash tests/fuzz/run.sh $(FUZZ_BUILD)/$$t $(FUZZ_SMOKE_SECONDS); done

install: $(BUILD)/rtun-monitor
	install -Dm755 $(BUILD)/rtun-monitor $(DESTDIR)$(PREFIX)/bin/rtun-monitor
	for u in systemd/*.service systemd/*.timer; do install -Dm644 $$u $(DESTDIR)$(UNITDIR)/$$(basename $$u); done
	sed -i 's|/usr/local/bin/rtun-monitor|$(PREFIX)/bin/rtun-monitor|' $(DESTDIR)$(UNITDIR)/rtun-monitor*.service \
		$(DESTDIR)$(UNITDIR)/rtun-bastion.service
	install -Dm644 docs/rtun-monitor.conf.example $(DESTDIR)/etc/rtun-monitor/rtun-monitor.conf.example
	install -Dm644 docs/rtun-monitor.1 $(DESTDIR)$(PREFIX)/share/man/man1/rtun-monitor.1
	install -Dm644 docs/rtun-monitor.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/rtun-monitor.conf.5

# `make deb`: the Debian package of debian/, built by `dpkg-buildpackage -b -us -uc` in a copy of the tree
# under $(BUILD)/deb/ (dpkg-buildpackage writes to the parent directory), so the .deb, .changes and
# .buildinfo land in $(BUILD)/deb/ and the tree stays clean. Rebuilt when a source changed; lintian must
# report no error (its report: $(BUILD)/deb/lintian.txt; what it still says and why: docs/operations.md).
DEB_DIR := $(BUILD)/deb
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null)
DEB := $(DEB_DIR)/rtun-monitor_$(VERSION)_$(DEB_ARCH).deb
# The cmocka tests are `make unit`'s job (and `make check`'s, beside timing tests that a loaded machine can
# upset): the package build skips them unless DEB_BUILD_OPTIONS is set (e.g. `DEB_BUILD_OPTIONS= make deb`).
DEB_BUILD_OPTIONS ?= nocheck
export DEB_BUILD_OPTIONS
DEB_INPUTS := Makefile VERSION README.md $(shell find debian docs exporters monitor probes systemd tests/unit -type f 2>/dev/null)

deb: deb-deps
	@$(MAKE) --no-print-directory $(DEB)

$(DEB): $(DEB_INPUTS)
	@v=$$(dpkg-parsechangelog -l debian/changelog -S Version) && [ "$$v" = "$(VERSION)" ] || \
		{ echo "debian/changelog: version $$v, but VERSION says $(VERSION): add a changelog entry (dch -v $(VERSION))" >&2; exit 2; }
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/rtun-monitor-$(VERSION)
	tar -cf - --exclude=./.git --exclude=./$(BUILD) . | tar -xf - -C $(DEB_DIR)/rtun-monitor-$(VERSION)
	cd $(DEB_DIR)/rtun-monitor-$(VERSION) && dpkg-buildpackage -b -us -uc -Jauto
	@lintian --fail-on error $(DEB_DIR)/rtun-monitor_$(VERSION)_$(DEB_ARCH).changes >$(DEB_DIR)/lintian.txt 2>&1; rc=$$?; \
		cat $(DEB_DIR)/lintian.txt; if [ $$rc != 0 ]; then rm -f $@; echo "lintian: errors (above)" >&2; exit 1; fi
	@echo "built $@ (lintian: $$(grep -c '^E:' $(DEB_DIR)/lintian.txt) errors, $$(grep -c '^W:' $(DEB_DIR)/lintian.txt) warnings)"

clean:
	rm -rf $(BUILD)

# (not those of the package's own build in $(DEB_DIR))
-include $(shell find $(BUILD) -path $(DEB_DIR) -prune -o -name '*.d' -print 2>/dev/null)
