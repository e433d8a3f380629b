#!/bin/bash
# `make lint`: probes/ include no header above them; the metrics exposition and the shipped alert rules
# pass promtool with no complaint, and the rules pass their unit tests (promtool test rules).
set -u
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
VERSION=$(cat VERSION 2>/dev/null || echo 0.1.0)
PKGS="libsystemd libcurl libmicrohttpd inih jansson zlib nettle yaml-0.1 gnutls libxcrypt"
failed=0

fail() {
        echo "lint: FAILED: $*" >&2
        failed=1
}

# probes/ sit below the monitor (design.md): they include monitor/base/ and their own headers, never another
# monitor/ header, never config.h, never sd-bus. The dependency runs monitor -> probes, never back.
probe_includes() {
        grep -HnE '^[[:space:]]*#[[:space:]]*include' probes/*.[ch]
}
bad_includes=$( {
        # a path out of probes/ that is not ../monitor/base/NAME.h
        probe_includes | grep -E '#[[:space:]]*include[[:space:]]*"[^"]*(\.\./|monitor/)' |
                grep -vE '#[[:space:]]*include[[:space:]]*"\.\./monitor/base/[A-Za-z0-9_-]+\.h"'
        # sd-bus or a config header, whatever the path
        probe_includes | grep -E '[<"/]sd-bus\.h[">]|[<"/]config[A-Za-z0-9_-]*\.h[">]'
} | sort -u -t: -k1,1 -k2,2n)
if [ -n "$bad_includes" ]; then
        while IFS=: read -r file line text; do
                fail "$file:$line: $text: probes/ may include only monitor/base/*.h and probes/ headers (no sd-bus, no config)"
        done <<<"$bad_includes"
else
        echo "lint: probes/ include only monitor/base/ and probes/ headers: ok ($(probe_includes | wc -l) includes)"
fi

command -v promtool >/dev/null || { echo "lint: promtool not found (Debian package prometheus)" >&2; exit 1; }

mkdir -p "$BUILD/lint"
make --no-print-directory -s "$BUILD/librtun.a" || { echo "lint: cannot build $BUILD/librtun.a" >&2; exit 1; }
# Same flags as the Makefile's objects.
if ! gcc -std=c11 -D_GNU_SOURCE -DVERSION=\"$VERSION\" -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow \
        -Wformat=2 -Wno-format-nonliteral -O2 -g $(pkg-config --cflags $PKGS) \
        -o "$BUILD/lint/render_sample" tests/unit/render_sample.c "$BUILD/librtun.a" $(pkg-config --libs $PKGS) -lm; then
        echo "lint: cannot build tests/unit/render_sample.c" >&2
        exit 1
fi

sample="$BUILD/lint/metrics.txt"
if ! "$BUILD/lint/render_sample" >"$sample"; then
        fail "render_sample exited non-zero"
elif ! out=$(promtool check metrics <"$sample" 2>&1) || [ -n "$out" ]; then
        fail "promtool check metrics on $sample:"
        echo "$out" >&2
else
        echo "lint: promtool check metrics: ok ($(grep -vc '^#' "$sample") series)"
fi

if ! out=$(promtool check rules docs/alerting-rules.yml 2>&1); then
        fail "promtool check rules docs/alerting-rules.yml:"
        echo "$out" >&2
else
        echo "lint: promtool check rules: ok"
fi

# Each rule fires when it should and not on a flap shorter than its for: (tests/rules/*.test.yml), and every
# rule of the file has a test there.
if ! out=$(promtool test rules tests/rules/*.test.yml 2>&1); then
        fail "promtool test rules tests/rules/*.test.yml:"
        echo "$out" >&2
else
        echo "lint: promtool test rules: ok ($(ls tests/rules/*.test.yml | wc -l) files)"
fi
for rule in $(awk '$1 == "-" && $2 == "alert:" { print $3 }' docs/alerting-rules.yml); do
        grep -qE "^[[:space:]]*alertname: $rule\$" tests/rules/*.test.yml ||
                fail "docs/alerting-rules.yml: alert $rule has no test in tests/rules/*.test.yml"
done

# Every metric the rules and the dashboard use must be one the exporter renders. The bastion's
# (exporters/bastion_metrics.c) have no sample renderer: their names as that file spells them.
bastion_names=$(grep -o '"rtun_bastion_[a-z_]*"' exporters/bastion_metrics.c | tr -d '"' | sort -u)
for f in docs/alerting-rules.yml docs/grafana-dashboard.json; do
        [ -f "$f" ] || continue
        for name in $(grep -o 'rtun_[a-z_]*' "$f" | sort -u); do
                grep -q "^# TYPE $name " "$sample" || grep -qx "$name" <<<"$bastion_names" ||
                        fail "$f uses $name, which is not exported"
        done
done

if [ -f docs/grafana-dashboard.json ]; then
        python3 -m json.tool docs/grafana-dashboard.json >/dev/null 2>&1 || fail "docs/grafana-dashboard.json is not valid JSON"
fi

exit $failed
