#!/bin/bash
# Runs one libFuzzer target for SECONDS from its seed corpus (tests/fuzz/corpus/NAME, if any), in a scratch
# corpus directory so the tree stays clean. Exit status: the fuzzer's (non-zero on a crash, leak or timeout).
set -euo pipefail
bin=$1 seconds=$2
name=$(basename "$bin")
work=$(mktemp -d "${TMPDIR:-/tmp}/rtun-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
seeds=()
[ -d "tests/fuzz/corpus/$name" ] && seeds+=("tests/fuzz/corpus/$name")
# -timeout: one input taking over 2 s is a finding (a stalled loop), not noise; -rss_limit_mb bounds memory.
"$bin" -max_total_time="$seconds" -timeout=2 -rss_limit_mb=1024 -print_final_stats=1 \
        -artifact_prefix="$work/" "$work" "${seeds[@]}" 2>"$work/log" || {
        tail -n 40 "$work/log" >&2
        mkdir -p build/fuzz/artifacts && cp "$work"/crash-* "$work"/timeout-* "$work"/leak-* "$work"/oom-* \
                build/fuzz/artifacts/ 2>/dev/null || true
        echo "fuzz: $name FAILED (artifacts in build/fuzz/artifacts)" >&2
        exit 1
}
grep -E '^stat::number_of_executed_units|^Done' "$work/log" | tr '\n' ' ' ; echo
