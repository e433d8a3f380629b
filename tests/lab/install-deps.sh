#!/usr/bin/env bash
# Installs the Debian packages the build, the tests and the lab need, only those missing.
# `install-deps.sh deb`: only what `make deb` needs (debian/control's Build-Depends, dpkg-dev, lintian).
# `install-deps.sh bench`: everything, plus the peers `make bench` measures against.
set -euo pipefail
deb=(build-essential pkg-config dpkg-dev fakeroot debhelper lintian libsystemd-dev libcurl4-openssl-dev libmicrohttpd-dev
     libcmocka-dev libinih-dev libjansson-dev zlib1g-dev nettle-dev libyaml-dev libgnutls28-dev libcrypt-dev)
pkgs=("${deb[@]}" clang libclang-rt-14-dev systemd systemd-container dbus openssh-server openssh-client
      nftables prometheus wrk hyperfine python3 iproute2 curl jq valgrind procps gnuplot-nox openssl apache2-utils)
case ${1:-all} in
all) ;;
deb) pkgs=("${deb[@]}") ;;
# The peers of make bench's part 7 (make bench-peers), and strace for tests/bench/clientalive.sh; make check never needs them.
bench) pkgs+=(autossh prometheus-node-exporter prometheus-blackbox-exporter strace) ;;
*) echo "usage: $0 [all|deb|bench]" >&2; exit 2 ;;
esac
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
