# rtun-monitor. `make` builds build/rtun-monitor; `make check` runs every test; `make demo` shows the lab.
PREFIX ?= /usr/local
DESTDIR ?=
UNITDIR ?= /etc/systemd/system
BUILD ?= build

CC ?= gcc
PKGS := libsystemd libcurl libmicrohttpd inih jansson zlib nettle
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libcurl is dlopen()ed when alerts are configured (exporters/curl_dl.c): headers only at build time.
PKG_LIBS = $(shell pkg-config --libs $(filter-out libcurl,$(PKGS)) 2>/dev/null)
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.1.0)

WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wformat=2 -Wno-format-nonliteral
CFLAGS ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -DVERSION=\"$(VERSION)\" $(WARN) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP
LDLIBS_ALL = $(PKG_LIBS)

LIB_SRC := $(filter-out monitor/main.c,$(wildcard monitor/*.c monitor/base/*.c monitor/bastion/*.c probes/*.c exporters/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
MAIN_OBJ := $(BUILD)/obj/monitor/main.o
UNIT_TESTS := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c))

ASAN_BUILD := $(BUILD)/asan
ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

.PHONY: all check unit unit-asan integration lint deps demo install bench bench-peers fuzz fuzz-build fuzz-smoke clean
all: $(BUILD)/rtun-monitor

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/librtun.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/rtun-monitor: $(MAIN_OBJ) $(BUILD)/librtun.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/librtun.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/librtun.a $(LDLIBS_ALL) $(shell pkg-config --libs cmocka)

deps:
	@bash tests/lab/install-deps.sh

unit: $(addprefix $(BUILD)/tests/,$(UNIT_TESTS))
	@set -e; for t in $(UNIT_TESTS); do echo "== $$t"; $(BUILD)/tests/$$t; done

# The same unit tests under AddressSanitizer and UndefinedBehaviorSanitizer.
unit-asan:
	$(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) CFLAGS="$(ASAN_FLAGS)" LDFLAGS="$(ASAN_FLAGS)" \
		LDLIBS_ALL="$(PKG_LIBS) -fsanitize=address,undefined" unit

integration: $(BUILD)/rtun-monitor
	bash tests/integration/run.sh

lint: $(BUILD)/rtun-monitor
	bash tests/lint.sh

check: deps
	$(MAKE) --no-print-directory all
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory unit-asan
	$(MAKE) --no-print-directory fuzz-smoke
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory integration

demo: deps
	$(MAKE) --no-print-directory all
	bash tests/lab/demo.sh

bench: deps
	$(MAKE) --no-print-directory all
	bash tests/bench/run.sh

# Only section 7 of `make bench`: rtun-monitor side by side with the article's setup and autossh under the
# same faults, node_exporter's systemd collector, blackbox_exporter's ssh_banner (tests/bench/peers.sh).
bench-peers: deps
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

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
