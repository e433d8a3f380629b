#!/usr/bin/env bash
# Installs the Debian packages the build, the tests and the lab need, only those missing.
set -euo pipefail
pkgs=(build-essential pkg-config clang libclang-rt-14-dev libsystemd-dev libcurl4-openssl-dev libmicrohttpd-dev libcmocka-dev
      libinih-dev libjansson-dev zlib1g-dev nettle-dev systemd systemd-container dbus openssh-server openssh-client
      nftables prometheus wrk hyperfine python3 iproute2 curl jq valgrind procps gnuplot-nox
      autossh prometheus-node-exporter prometheus-blackbox-exporter) # the last three: the peers of make bench-peers
missing=()
for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
        echo "installing: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian prometheus package starts a server on :9090 when installed on a host with systemd; the lab
# starts its own on loopback, so none is wanted here.
