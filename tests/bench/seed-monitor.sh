#!/bin/bash
# The peer of benchmark 1: the seed's "restart failed units" loop (seed-reverse-ssh-tunnels.txt), with its
# glob fixed to iterate over the instances systemd has (the seed's /etc/systemd/system glob finds only
# the template). It tests nothing end to end: a stopped or half-open tunnel stays "active".
set -euo pipefail

for name in $(systemctl list-units --plain --no-legend --all "$@" | awk '{ print $1 }'); do
    state=$(systemctl is-active "$name" || true)

    if [ "$state" = "failed" ]; then
        echo "Restarting failed service: $name"
        systemctl restart "$name"
    fi
done
