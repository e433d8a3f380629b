#!/usr/bin/env bash
# How long does a bastion's sshd keep a dead tunnel's session (and its port) with ClientAliveInterval 15,
# ClientAliveCountMax 3? And does rtun-monitor's probing of the tunnel postpone that end? Two tunnels to one
# bastion (LAB_CLIENT_ALIVE="15 3"), the shipped unit; rtun-monitord (defaults) watches tunnel a only. Both
# tunnels' TCP connections are black-holed at T0 (nftables, as lab_fault_halfopen); each old session's
# sshd is traced (strace: its ppoll/read/write) until it exits. Output: build/bench/clientalive/
# (report.txt, strace-a.txt, strace-b.txt, the journals and the bastion's log). Not part of `make bench`
# (docs/benchmarks.md, finding F18). About 3 minutes.
export LAB_RESTART_SEC=10 LAB_CLIENT_ALIVE="15 3"
. "$(dirname "$0")/../integration/lib.sh"
OUT=$T_SRC/build/bench/clientalive
rm -rf "$OUT" && mkdir -p "$OUT" || t_die "cannot create $OUT"
command -v strace >/dev/null || t_die "strace missing (apt-get install strace)"
lab_init || t_die lab_init
lab_target_start || t_die "target sshd"
B=bastion.test
lab_bastion_start $B || t_die "bastion sshd"
lab_container_start || t_die container
cp "$T_SRC/build/rtun-monitor" "$LAB/rtun-monitor" || t_die "build/rtun-monitor missing (make)"
P1=$(lab_port_alloc) && P2=$(lab_port_alloc) || t_die ports
lab_bastion_alias a.test $B && lab_bastion_alias b.test $B || t_die aliases
lab_tunnel_add a.test "$P1" && lab_tunnel_add b.test "$P2" || t_die tunnels
printf '[monitor]\nunits = reverse-ssh@a.test.service\n' >"$LAB/host.conf"
t_daemon_install "--config /lab/host.conf" && lab_exec systemctl start rtun-monitord.service || t_die rtun-monitord
lab_on_cleanup "lab_exec systemctl stop rtun-monitord.service"
sleep 25 # a few of the daemon's rounds: tunnel a has been probed through its ControlMaster
pa=$(lab_listener_pid "$P1") && pb=$(lab_listener_pid "$P2") || t_die "listeners"
strace -tt -p "$pa" -o "$OUT/strace-a.txt" -e trace=ppoll,poll,accept,accept4,read,write 2>/dev/null &
sa=$!
strace -tt -p "$pb" -o "$OUT/strace-b.txt" -e trace=ppoll,poll,accept,accept4,read,write 2>/dev/null &
sb=$!
lab_on_cleanup "kill $sa $sb 2>/dev/null"
sleep 1
T0=$(date +%s.%N)
# Both in the lab's one nft table (nft -f adds to it): the second fault follows the first within ms.
lab_fault_halfopen a.test && lab_fault_halfopen b.test || t_die "half-open faults"
ga= gb=
for ((i = 0; i < 600; i++)); do # 300 s at most
        t=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
        [[ -z $ga ]] && ! kill -0 "$pa" 2>/dev/null && ga=$t
        [[ -z $gb ]] && ! kill -0 "$pb" 2>/dev/null && gb=$t
        [[ -n $ga && -n $gb ]] && break
        sleep 0.5
done
lab_exec journalctl --no-pager -o short-unix -u rtun-monitord.service >"$OUT/monitor.journal"
lab_exec journalctl --no-pager -o short-unix -u reverse-ssh@a.test.service -u reverse-ssh@b.test.service >"$OUT/units.journal"
cp "$LAB/bastions/$B/sshd.log" "$OUT/sshd.log"
# strace_marks FILE: the session's writes to the client connection (fd 4), as s after T0.
strace_marks() {
        awk -v t0="$T0" -v day="$(date -u -d "@${T0%.*}" +%s)" -v h0="$(date -u -d "@${T0%.*}" +%H)" '
                function at(ts,   p) { split(ts, p, ":"); return (p[1] - h0) * 3600 + p[2] * 60 + p[3] }
                { t = at($1) + (day - day % 3600) - t0 }
                / write\(4,/ { w = w sprintf(" %.1f", t) }
                END { printf "its writes to the client (keepalives) at%s s", w }' "$1"
}
{
        echo "T0 $T0 ($(date -u -d "@${T0%.*}" +%T) UTC), $(ssh -V 2>&1), ClientAliveInterval 15, ClientAliveCountMax 3"
        echo "tunnel a (watched by rtun-monitord): old session ended ${ga:-never} s after T0; $(strace_marks "$OUT/strace-a.txt")"
        echo "tunnel b (not watched): old session ended ${gb:-never} s after T0; $(strace_marks "$OUT/strace-b.txt")"
} | tee "$OUT/report.txt"
t_expect "clientalive: both old sessions ended (a ${ga:-never} s, b ${gb:-never} s)" test -n "$ga" -a -n "$gb"
t_summary
