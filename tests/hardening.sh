#!/bin/bash
# `make lint` (so `make check`): the shipped units' `systemd-analyze security --offline=true` exposure must
# stay at or under its goal (issue 13): the monitor units 2.5, the tunnel unit 3.0. A unit that scores
# above, or that systemd-analyze cannot assess, fails with the unit's FILE and its score.
set -u
cd "$(dirname "$0")/.."

command -v systemd-analyze >/dev/null || { echo "hardening: systemd-analyze not found (Debian package systemd)" >&2; exit 1; }

failed=0
# UNIT GOAL
goals=(
        "systemd/rtun-monitor.service 2.5"
        "systemd/rtun-monitord.service 2.5"
        "systemd/rtun-bastion.service 2.5"
        "systemd/reverse-ssh@.service 3.0"
)
for g in "${goals[@]}"; do
        read -r unit goal <<<"$g"
        [ -f "$unit" ] || { echo "hardening: FAILED: $unit missing" >&2; failed=1; continue; }
        # --threshold=100: the score itself decides here, not systemd-analyze's own default of 10.0.
        out=$(systemd-analyze security --offline=true --threshold=100 --no-pager "$unit" 2>&1)
        score=$(sed -n 's/^→ Overall exposure level for .*: \([0-9][0-9]*\.[0-9]\) .*/\1/p' <<<"$out" | tail -n 1)
        if [ -z "$score" ]; then
                echo "hardening: FAILED: $unit: systemd-analyze gave no score:" >&2
                echo "$out" | tail -n 20 >&2
                failed=1
        elif awk -v s="$score" -v g="$goal" 'BEGIN { exit !(s > g) }'; then
                echo "hardening: FAILED: $unit: exposure $score, above its goal $goal; what it still allows:" >&2
                grep '^✗' <<<"$out" >&2
                failed=1
        else
                echo "hardening: $unit: exposure $score (goal <= $goal): ok"
        fi
done
exit $failed
