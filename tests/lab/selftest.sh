#!/usr/bin/env bash
# Proves the lab works: 2 bastions + target + container + 2 real tunnels, then every fault the
# integration tests rely on, each checked with plain systemctl/ssh/python. Exit 1 on any failed check.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lab.sh"

PASS=0 FAIL=0
ok() { PASS=$((PASS + 1)); echo "PASS: $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL: $*"; }
check() { # check DESCRIPTION CMD...: passes when CMD succeeds
        local what=$1
        shift
        if "$@"; then ok "$what"; else bad "$what"; fi
}
fatal() { bad "$*"; echo "$PASS passed, $FAIL failed"; exit 1; }
# lab_banner exits RC (0 ok, 2 timeout, 3 refused), with a line starting PREFIX.
banner_is() { # banner_is PORT RC [PREFIX [TIMEOUT]]
        local line rc
        line=$(lab_banner "$1" "${4:-3}" 2>&1)
        rc=$?
        echo "  127.0.0.1:$1 -> rc $rc: $line"
        [[ $rc == "$2" && $line == ${3:-}* ]]
}
active_running() {
        local s
        s=$(lab_exec systemctl show -p ActiveState -p SubState --value "$1" | tr '\n' ' ')
        echo "  $1: $s"
        [[ $s == "active running " ]]
}
wait_for() { # wait_for SECONDS CMD...
        local t=$1 i
        shift
        for ((i = 0; i < t * 10; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
        return 1
}

A=bastion-a.test B=bastion-b.test
UA=reverse-ssh@$A.service UB=reverse-ssh@$B.service

lab_init || fatal "lab_init"
t0=$(lab__now)
lab_target_start || fatal "target sshd"
lab_bastion_start "$A" || fatal "bastion $A"
lab_bastion_start "$B" || fatal "bastion $B"
PA=$(lab_port_alloc) && PB=$(lab_port_alloc) || fatal "port allocation"
# bastion-b's key may listen on PB but not open it: probes through it are "administratively prohibited".
lab_bastion_authorize "$B" "$PB" noopen || fatal "authorize $B"
tc=$(lab__now)
lab_container_start || fatal "container boot"
BOOT=$(lab__since "$tc")
lab_tunnel_add "$A" "$PA" || fatal "tunnel $UA"
lab_tunnel_add "$B" "$PB" || fatal "tunnel $UB"
echo "== lab up in $(lab__since "$t0") s (container boot $BOOT s)"

echo "== tunnels forward end to end"
check "$A port $PA answers the target's SSH banner" banner_is "$PA" 0 SSH-
check "$B port $PB answers the target's SSH banner" banner_is "$PB" 0 SSH-
check "$UA active (running)" active_running "$UA"
check "$UB active (running)" active_running "$UB"
check "unit resolved $A through /etc/ssh/ssh_config" \
        lab_exec sh -c "ssh -G reverse-ssh@$A 2>/dev/null | grep -qx 'port $(lab_bastion_port "$A")'"
check "EnvironmentFile overrides the defaults (ssh's argv: lab key, lab ports)" \
        eval "lab_exec cat /proc/\$(lab_unit_mainpid $UA)/cmdline | tr '\\0' ' ' |
                grep -q -- '-i /lab/keys/client -R localhost:$PA:localhost:$LAB_TPORT reverse-ssh@$A'"
check "defaults equal the classic unit's" eval "lab_exec systemctl show -p Environment --value $UA |
        grep -q 'REMOTE_PORT=21022 LOCAL_PORT=22 SSH_USER=reverse-ssh KEY=/etc/ssh/ssh_host_ed25519_key'"
CA=$(lab_unit_ctlpath "$UA") CB=$(lab_unit_ctlpath "$UB")
check "control sockets $CA and $CB exist" lab_exec test -S "$CA" -a -S "$CB"
check "ssh -O check: master of $A running" lab_exec timeout 5 ssh -S "$CA" -O check x 2>/dev/null
check "probe through $A's master gets the banner" \
        lab_exec sh -c "timeout 5 ssh -S $CA -W localhost:$PA x </dev/null | grep -q '^SSH-'"

echo "== RuntimeDirectory per instance: stopping $UB keeps $UA's socket"
lab_exec systemctl stop "$UB"
check "$CB removed with its unit" lab_exec test ! -e "$CB"
check "$CA still there" lab_exec test -S "$CA"
lab_exec systemctl start "$UB"
check "$UB back" lab_wait_banner "$PB" 15

echo "== fault: SIGSTOP the ssh of $UA"
lab_fault_stop "$UA" || bad "lab_fault_stop"
check "banner check on $PA times out" banner_is "$PA" 2
check "systemd still says $UA active (running)" active_running "$UA"
check "the other tunnel ($PB) still works" banner_is "$PB" 0 SSH-
lab_fault_cont "$UA"
check "after SIGCONT $PA answers again" lab_wait_banner "$PA" 20

echo "== fault: half-open connection of $UA (nft drops its TCP connection)"
n0=$(lab_unit_nrestarts "$UA")
check "lab_fault_halfopen" lab_fault_halfopen "$UA"
check "nft table inet $LAB_NFT_TABLE present" eval "nft list table inet $LAB_NFT_TABLE >/dev/null"
# 1 s probe: the bastion (ClientAlive 2 x 2) keeps the dead listener for 4-6 s, long enough for the next step.
check "banner check on $PA times out" banner_is "$PA" 2 "" 1
check "systemd still says $UA active (running)" active_running "$UA"
check "new connections to bastion $A still work" banner_is "$(lab_bastion_port "$A")" 0 SSH-
stale=$(lab_listener_pid "$PA")
lab_exec systemctl restart "$UA"
check "the restarted ssh meets the bastion's stale listener" \
        wait_for 5 eval "lab_journal $UA | grep -q 'remote port forwarding failed for listen port $PA'"
# Watched with ss, not by connecting: a connection to the stale listener would keep it alive (OpenSSH 9.2).
check "the bastion lets go of it (ClientAlive) and a new session listens" \
        wait_for 15 eval "p=\$(lab_listener_pid $PA 2>/dev/null) && [[ \$p != $stale ]]"
check "systemd's own restarts got the tunnel back" lab_wait_banner "$PA" 10
check "NRestarts grew ($n0 -> $(lab_unit_nrestarts "$UA"))" eval "(( \$(lab_unit_nrestarts $UA) > n0 ))"
check "lab_fault_clear" lab_fault_clear
check "nft table gone" eval "! nft list table inet $LAB_NFT_TABLE 2>/dev/null"
check "$PA answers after the fault is cleared" banner_is "$PA" 0 SSH-

echo "== refused probe: $B's key has no permitopen"
check "ssh -O check: master of $B running" lab_exec timeout 5 ssh -S "$CB" -O check x 2>/dev/null
check "probe through $B's master fails" \
        lab_exec sh -c "! timeout 5 ssh -S $CB -W localhost:$PB x </dev/null 2>/dev/null | grep -q '^SSH-'"
check "$UB's journal says 'administratively prohibited'" \
        wait_for 5 eval "lab_journal $UB | grep 'open failed: administratively prohibited'"
lab_journal "$UB" | grep 'open failed' | tail -n 1 | sed 's/^/  /'
check "$UA's journal has no prohibited channel" eval "! lab_journal $UA | grep -q 'administratively prohibited'"

echo "== bastion gone, bastion back"
n0=$(lab_unit_nrestarts "$UA")
lab_bastion_stop "$A" || bad "lab_bastion_stop"
check "bastion $A gone: $PA refused" wait_for 5 banner_is "$PA" 3
check "systemd restarts $UA in a loop (NRestarts grows)" \
        wait_for 10 eval "(( \$(lab_unit_nrestarts $UA) >= n0 + 2 ))"
lab_bastion_start "$A" || bad "lab_bastion_start again"
check "bastion back: $PA answers again" lab_wait_banner "$PA" 20

echo "== unit failed: systemd gave up (start limit hit)"
check "lab_unit_fail_hard $UB keep" lab_unit_fail_hard "$UB" keep
check "$UB is failed" eval "[[ \$(lab_unit_state $UB) == failed ]]"
check "$PB no longer answers" eval "! lab_banner $PB 1 >/dev/null 2>&1"
sleep 2
check "systemd does not restart it by itself" eval "[[ \$(lab_unit_state $UB) == failed ]]"
check "a plain start is refused (limit kept)" eval "! lab_exec systemctl start $UB 2>/dev/null"
lab_exec systemctl reset-failed "$UB" && lab_exec systemctl start "$UB"
check "reset-failed + start heals it" lab_wait_banner "$PB" 20
check "lab_unit_fail_hard_clear" lab_unit_fail_hard_clear "$UB"
check "lab_unit_fail_hard $UB (default: limit removed)" lab_unit_fail_hard "$UB"
check "a plain start heals it then" lab_exec systemctl start "$UB"
check "$PB answers again" lab_wait_banner "$PB" 20
check "a later restart is not rate-limited" lab_exec systemctl restart "$UB"
check "$PB answers after that restart" lab_wait_banner "$PB" 20

echo "== cleanup leaves nothing behind"
pids="$(cat "$LAB/run/nspawn.pid" "$LAB/run/pid1" "$LAB"/bastions/*/pid "$LAB/target/pid" 2>/dev/null | tr '\n' ' ')"
dir=$LAB table=$LAB_NFT_TABLE machine=$LAB_MACHINE
lab_fault_halfopen "$UA" >/dev/null 2>&1 # leave a fault in place: cleanup must remove it
tc=$(lab__now)
lab_cleanup
echo "  teardown $(lab__since "$tc") s"
check "every pid gone ($pids)" bash -c "for p in $pids; do kill -0 \$p 2>/dev/null && ! grep -q '^State:.*Z' /proc/\$p/status && exit 1; done; exit 0"
check "nft table $table gone" bash -c "! nft list table inet $table 2>/dev/null"
check "$dir gone" test ! -e "$dir"
check "no cgroup left" bash -c "! ls -d /sys/fs/cgroup/*/$machine /sys/fs/cgroup/$machine 2>/dev/null | grep -q ."
check "lab_cleanup is idempotent" lab_cleanup

echo "$PASS passed, $FAIL failed (container boot $BOOT s)"
((FAIL == 0))
