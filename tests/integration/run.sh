#!/usr/bin/env bash
# Runs every lab test (tests/integration/test_*.sh) in turn; prints "N passed, N failed"; non-zero on any
# failure, including a test script that died before its summary.
set -uo pipefail
cd "$(dirname "$0")/../.."
RTUN_BIN=${RTUN_BIN:-build/rtun-monitor}   # another build (make BUILD=DIR) with RTUN_BIN=DIR/rtun-monitor
[[ -x $RTUN_BIN ]] || { echo "$RTUN_BIN missing: run make" >&2; exit 1; }
export RTUN_BIN=$(realpath "$RTUN_BIN")
results=$(mktemp)
trap 'rm -f "$results"' EXIT
pass=0 fail=0 broken=0
for t in tests/integration/test_*.sh; do
        [[ -n ${RTUN_TESTS:-} && ! $t =~ $RTUN_TESTS ]] && continue
        echo "=== $t"
        before=$(wc -l <"$results")
        start=$(date +%s)
        T_RESULTS=$results bash "$t"
        rc=$?
        after=$(wc -l <"$results")
        echo "=== $t: exit $rc in $(($(date +%s) - start)) s"
        if ((after == before)); then
                echo "FAIL: $t ended without a summary (exit $rc)"
                broken=$((broken + 1))
        elif ((rc != 0)) && [[ $(tail -n 1 "$results" | cut -d' ' -f2) == 0 ]]; then
                echo "FAIL: $t exited $rc with no failed check"
                broken=$((broken + 1))
        fi
done
while read -r p f; do pass=$((pass + p)) fail=$((fail + f)); done <"$results"
fail=$((fail + broken))
echo "integration: $pass passed, $fail failed"
((fail == 0))
