#!/usr/bin/env bash
# `make bench-peers` (and section 7 of `make bench`): rtun-monitor side by side with what operators run
# today (issue 15; the half-open figures of issue 12), on one lab, the same faults, in one run.
# Setups (each its own unit names and key, so no monitor sees another's tunnels):
#   art10m / art10s  the article's unit (seed-reverse-ssh-tunnels.txt) + its failed-state script on a
#                    10-minute / 10-second timer (the script verbatim, its glob pointed at its own template)
#   ash0 / ashm      autossh (Debian) -M 0 with the article's ssh options / -M PORT:ECHO with AUTOSSH_POLL=60
#   rt1m / rt10s     the shipped reverse-ssh@.service + `rtun-monitor check` on a 1-minute / 10-second timer
#   rtd              the shipped unit + `rtun-monitor daemon` (defaults: interval 10s, failures 2)
#   rtdr             rtd + the bastion role's `rtun-monitor bastion daemon` with reap = yes (half-open only)
# Faults, one bastion sshd each, all at the same instant: stop (the tunnel's ssh SIGSTOPped), ho15 / hodef
# (half-open: the tunnel's TCP connection black-holed by nftables, bastion ClientAlive 15 s x 3 / sshd's
# defaults), rst (the bastion sshd and its sessions killed and started again), down (every packet to and
# from the bastion port dropped for 30 s, then allowed again).
# Replicates: PEERS_REPS (default 5) tunnels per cell, faulted at the same instant, run in parallel
# rather than one after another. Every tunnel unit keeps the article's RestartSec=10 (the lab's RestartSec=1
# drop-in is removed). Then (PEERS_PARTS) node_exporter's systemd collector vs discovery over 100/1,000/5,000
# units on the same containerized systemd, and blackbox_exporter's ssh_banner vs the mux probe per probe.
# Raw files: build/bench/raw/peers/; tests/bench/peers_report.py makes build/bench/peers.json, peers.png.
set -uo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${PEERS_OUT:-$SRC/build/bench} # another directory: a second run beside the first (peers_report.py OUT RAW2)
RAW=$OUT/raw/peers
REPS=${PEERS_REPS:-5}
CAP=${PEERS_CAP:-600}
STEADY=${PEERS_STEADY:-300}
SETUPS=${PEERS_SETUPS:-art10m art10s ash0 ashm rt1m rt10s rtd rtdr}
FAULTS=${PEERS_FAULTS:-stop ho15 hodef rst down}
PARTS=${PEERS_PARTS:-faults nodeexp blackbox}
NX_SIZES=${PEERS_NX:-100 1000 5000}
BB_N=${PEERS_BB_N:-200}
DOWN_FOR=30
cd "$SRC" || exit 1
. tests/lab/lab.sh

say() { echo "peers: $(date -u +%H:%M:%S) $*" >&2; }
die() { echo "peers: ERROR: $*" >&2; exit 1; }
now() { date +%s.%N; }
part() { [[ " $PARTS " == *" $1 "* ]]; }
((REPS >= 1)) || die "PEERS_REPS must be >= 1"
for c in autossh prometheus-node-exporter prometheus-blackbox-exporter hyperfine curl gcc; do
        command -v "$c" >/dev/null || die "$c missing: run tests/lab/install-deps.sh"
done
[[ -x build/rtun-monitor ]] || die "build/rtun-monitor missing (make)"
rm -rf "$RAW" && mkdir -p "$RAW" || die "cannot create $RAW"
rm -f "$OUT"/peers*.json "$OUT"/peers*.png

# The mux probe's driver (tests/bench/probe_cost.c) against the product's library, as run.sh builds it.
CFLAGS_B="-std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow"
{ read -r PKG_CFLAGS && read -r PKG_LIBS; } < <(make -s --no-print-directory \
        --eval='bench-pkg-flags: ; @echo "$(PKG_CFLAGS)"; echo "$(PKG_LIBS)"' bench-pkg-flags) &&
        [[ -n $PKG_LIBS ]] || die "cannot read PKG_CFLAGS / PKG_LIBS from the Makefile"
# shellcheck disable=SC2086 # flag lists
gcc $CFLAGS_B $PKG_CFLAGS -o "$OUT/bench_probe_cost" tests/bench/probe_cost.c build/librtun.a $PKG_LIBS ||
        die "cannot build tests/bench/probe_cost.c"

{
        echo "nproc=$(nproc)"
        echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
        echo "kernel=$(uname -r)"
        echo "openssh=$(ssh -V 2>&1)"
        echo "autossh=$(dpkg-query -W -f='${Version}' autossh)"
        echo "node_exporter=$(dpkg-query -W -f='${Version}' prometheus-node-exporter)"
        echo "blackbox_exporter=$(dpkg-query -W -f='${Version}' prometheus-blackbox-exporter)"
        echo "reps=$REPS"
        echo "cap=$CAP"
        echo "steady=$STEADY"
        echo "setups=$SETUPS"
        echo "faults=$FAULTS"
        echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "commit=$(git rev-parse --short HEAD 2>/dev/null)"
        echo "load_begin=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$RAW/machine.txt"
cpu_mark() { echo "$1 $(now) $(grep '^cpu ' /proc/stat)" >>"$RAW/load.txt"; }
cpu_mark begin

lab_init || die "lab_init"
lab_target_start -o MaxStartups=100:30:200 || die "target sshd"
lab_container_start || die "container"
cp build/rtun-monitor "$OUT/bench_probe_cost" "$LAB/" || die "copy to \$LAB"
P1=$(lab_pid1)
ROOT=/proc/$P1/root
# The article's RestartSec=10 for every tunnel: no lab drop-in (it sets RestartSec=1 for speed).
lab_exec rm -f /etc/systemd/system/reverse-ssh@.service.d/50-rtunlab.conf || die "drop-in"
mkdir -p "$LAB/peers" "$LAB/cpu" || die "mkdir"

# ---------------------------------------------------------------------------------------------------
# Unit files of the peers, in the container's /etc/systemd/system.
sshopts='-o ServerAliveInterval=60 -o ServerAliveCountMax=3 -o StrictHostKeyChecking=no -o ExitOnForwardFailure=yes -o UserKnownHostsFile=/dev/null'
# The article's unit; only its port, target, user and key come from an env file (5 tunnels per cell).
article_unit() {
        cat <<EOF
# The article's reverse-ssh@.service (seed-reverse-ssh-tunnels.txt), port/key from an env file
[Unit]
Description=Reverse SSH Tunnel to %i
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
Environment=SELF_REMOTE_HOST=%H
EnvironmentFile=/etc/reverse-ssh/%i.env
ExecStart=/usr/bin/ssh -N -T $sshopts -o SendEnv=SELF_REMOTE_HOST -i \${KEY} -R localhost:\${REMOTE_PORT}:localhost:\${LOCAL_PORT} \${SSH_USER}@%i
Restart=always
RestartSec=10

[Install]
WantedBy=multi-user.target
EOF
}
# The article's script, verbatim but for the template its glob names.
article_script() {
        cat <<EOF
#!/bin/bash
set -euo pipefail

for service in /etc/systemd/system/$1@*.service; do
    [ ! -f "\$service" ] && continue

    name=\$(basename "\$service")
    state=\$(systemctl is-active "\$name" || true)

    if [ "\$state" = "failed" ]; then
        echo "Restarting failed service: \$name"
        systemctl restart "\$name"
    fi
done
EOF
}
# autossh as its README and Debian's docs run it under systemd: AUTOSSH_GATETIME=0, Restart=always.
autossh_unit() { # MONITOR: "0" or "port"
        local m='-M 0' env=''
        [[ $1 == port ]] && m='-M ${MON_PORT}:${ECHO_PORT}' env='Environment=AUTOSSH_POLL=60'
        cat <<EOF
# autossh $m with the article's ssh options (tests/bench/peers.sh)
[Unit]
Description=autossh reverse tunnel to %i
After=network-online.target

[Service]
Type=simple
Environment=AUTOSSH_GATETIME=0
$env
EnvironmentFile=/etc/reverse-ssh/%i.env
ExecStart=/usr/bin/autossh $m -N -T $sshopts -i \${KEY} -R localhost:\${REMOTE_PORT}:localhost:\${LOCAL_PORT} \${SSH_USER}@%i
Restart=always
RestartSec=10

[Install]
WantedBy=multi-user.target
EOF
}
# cpuwrap FILE CMD...: CMD's CPU (the rusage of this shell's waited-for children: cutime, cstime of its
# /proc stat, in clock ticks) appended to FILE per run as "EPOCH UTICKS STICKS".
cat >"$LAB/cpuwrap.sh" <<'EOF'
#!/bin/bash
f=$1
shift
"$@"
rc=$?
read -r -a st </proc/$$/stat
echo "$(date +%s) ${st[15]} ${st[16]}" >>"$f"
exit $rc
EOF
chmod 0755 "$LAB/cpuwrap.sh"
timer_unit() { # CALENDAR ACCURACY
        printf '[Timer]\nOnCalendar=%s\nAccuracySec=%s\n' "$1" "$2"
}
oneshot_unit() { # CMD...
        printf '[Service]\nType=oneshot\nExecStart=/lab/cpuwrap.sh /lab/cpu/%%n %s\n' "$*"
}

for s in art10m art10s; do
        article_unit | lab_put "/etc/systemd/system/$s@.service" || die "unit $s"
        article_script "$s" | lab_put "/lab/peers/$s-monitor.sh" 0755 || die "script $s"
        oneshot_unit "/bin/bash /lab/peers/$s-monitor.sh" | lab_put "/etc/systemd/system/pm-$s.service" || die "unit"
done
timer_unit '*:0/10' 1min | lab_put /etc/systemd/system/pm-art10m.timer
timer_unit '*:*:0/10' 1s | lab_put /etc/systemd/system/pm-art10s.timer
autossh_unit 0 | lab_put /etc/systemd/system/ash0@.service
autossh_unit port | lab_put /etc/systemd/system/ashm@.service
# rtun-monitor: one instance per tunnel (%i = FAULT-N), as on a host with one tunnel: with 2+ tunnels all
# faulted at once, heal.all_down_guard would (rightly, for a host) suspect its network and restart none.
rtpat() { echo "reverse-ssh@$1-%i.test.service"; }
for s in rt1m rt10s; do
        { oneshot_unit "/lab/rtun-monitor check --monitor.units=$(rtpat "$s")"; echo 'StateDirectory=%p-%i'; } |
                lab_put "/etc/systemd/system/pm-$s@.service"
done
timer_unit minutely 5s | lab_put /etc/systemd/system/pm-rt1m@.timer
timer_unit '*:*:0/10' 1s | lab_put /etc/systemd/system/pm-rt10s@.timer
for s in rtd rtdr; do
        printf '[Service]\nType=notify\nWatchdogSec=10s\nStateDirectory=%%p-%%i\nExecStart=/lab/rtun-monitor daemon --metrics.listen= --monitor.units=%s\n' \
                "$(rtpat "$s")" | lab_put "/etc/systemd/system/pm-$s@.service"
done
lab_exec mkdir -p /lab/state /etc/reverse-ssh && lab_exec systemctl daemon-reload || die "daemon-reload"

# ---------------------------------------------------------------------------------------------------
# The bastions: one sshd per fault (hodef twice: the reaper's bastion is its own, so it reaps only rtdr's),
# started from a real sshd_config; MaxStartups raised so that a whole fault group reconnecting at once is
# not turned away by the lab's one loopback (a real bastion's hosts come from many addresses).
ECHO=$(lab_port_alloc) || die "port"
"${LAB_SPAWN[@]}" "$LAB_PY" -c '
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64)
def echo(c):
    with c:
        while True:
            d = c.recv(4096)
            if not d:
                return
            c.sendall(d)
while True:
    threading.Thread(target=echo, args=(s.accept()[0],), daemon=True).start()
' "$ECHO" </dev/null >"$LAB/peers/echo.log" 2>&1 &
ECHO_PID=$!
lab_on_cleanup "kill $ECHO_PID 2>/dev/null"

bastion_of() { # SETUP FAULT
        if [[ $1 == rtdr ]]; then echo "b-$2r"; else echo "b-$2"; fi
}
cells=() # "SETUP FAULT"
for f in $FAULTS; do
        for s in $SETUPS; do
                [[ $s == rtdr && $f != hodef ]] && continue
                cells+=("$s $f")
        done
done
((${#cells[@]})) || die "no cells (PEERS_SETUPS / PEERS_FAULTS)"
declare -A BCONF
for c in "${cells[@]}"; do
        read -r s f <<<"$c"
        b=$(bastion_of "$s" "$f")
        [[ -n ${BCONF[$b]:-} ]] && continue
        BCONF[$b]=$LAB/peers/$b.sshd_config
        lab_bastion_sshd_config "$b" | sed -e '/^ClientAlive/d' >"${BCONF[$b]}" || die "sshd_config $b"
        echo "MaxStartups 100:30:200" >>"${BCONF[$b]}"
        case $f in
        hodef) echo "# ClientAliveInterval: sshd's default (0)" >>"${BCONF[$b]}" ;;
        *) printf 'ClientAliveInterval 15\nClientAliveCountMax 3\n' >>"${BCONF[$b]}" ;;
        esac
done

# Tunnels: "ID SETUP FAULT ALIAS UNIT RPORT BASTION" in $RAW/tunnels.txt; ID = SETUP-FAULT-N.
: >"$RAW/tunnels.txt"
: >"$LAB/run/aliases"
declare -A LINES # bastion -> per setup: the ports its key line allows
for s in $SETUPS; do lab_host_key "pb-$s" >/dev/null || die "key $s"; done
# Ports: one block per fault (lab_port_block: one lock and one scan, not one per port), the reaper's own.
declare -A PNEXT
for f in $FAULTS; do
        n=0
        for s in $SETUPS; do
                [[ $s == rtdr ]] && continue
                n=$((n + REPS))
                [[ $s == ashm ]] && n=$((n + REPS))
        done
        ((n)) && { PNEXT[$f]=$(lab_port_block "$n") || die "port block"; }
done
port_next() { # FAULT: the next port of its block, in PORT
        PORT=${PNEXT[$1]}
        PNEXT[$1]=$((PORT + 1))
}
for c in "${cells[@]}"; do
        read -r s f <<<"$c"
        b=$(bastion_of "$s" "$f")
        if [[ $s == rtdr ]]; then
                RBLOCK=$(lab_port_block "$REPS" 1000) || die "port block"
        fi
        for ((n = 0; n < REPS; n++)); do
                id=$s-$f-$n alias=$s-$f-$n.test
                if [[ $s == rtdr ]]; then rport=$((RBLOCK + n)); else port_next "$f" && rport=$PORT; fi
                case $s in
                rt*) unit=reverse-ssh@$alias.service ;;
                *) unit=$s@$alias.service ;;
                esac
                env="REMOTE_PORT=$rport\nLOCAL_PORT=$LAB_TPORT\nSSH_USER=reverse-ssh\nKEY=/lab/keys/hosts/pb-$s\n"
                LINES[$b $s]+=",permitlisten=\"localhost:$rport\",permitopen=\"localhost:$rport\""
                if [[ $s == ashm ]]; then
                        port_next "$f" && mport=$PORT
                        env+="MON_PORT=$mport\nECHO_PORT=$ECHO\n"
                fi
                # shellcheck disable=SC2059 # env holds only \n escapes
                printf "$env" | lab_put "/etc/reverse-ssh/$alias.env" || die "env $alias"
                echo "$alias $b" >>"$LAB/run/aliases"
                echo "$id $s $f $alias $unit $rport $b" >>"$RAW/tunnels.txt"
        done
done
for b in "${!BCONF[@]}"; do
        ak=$LAB/bastions/$b/authorized_keys
        : >"$ak"
        for s in $SETUPS; do
                l=${LINES[$b $s]:-}
                [[ -n $l ]] || continue
                [[ $s == ashm ]] && l+=",permitopen=\"127.0.0.1:$ECHO\""
                echo "restrict,port-forwarding$l $(lab_host_key "pb-$s")" >>"$ak"
        done
        chmod 0644 "$ak"
        # lab.sh gives a new sshd 10 s to answer a banner: at load 30 that is not always enough.
        for try in 1 2 3; do
                lab_bastion_start_conf "$b" "${BCONF[$b]}" && break
                lab_bastion_stop "$b"
                ((try < 3)) || die "bastion $b"
        done
        cp "${BCONF[$b]}" "$RAW/$b.sshd_config"
done
lab__write_ssh_config || die "ssh_config"
for s in $SETUPS; do echo "$s $(lab_host_fpr "pb-$s")"; done >"$RAW/fingerprints.txt"

# The reaper: the bastion role's daemon on the rtdr bastion, defaults but reap = yes.
if grep -q '^rtdr-' "$RAW/tunnels.txt"; then
        b="b-hodefr"
        cat >"$LAB/peers/bastion.conf" <<EOF
[bastion]
authorized_keys = $LAB/bastions/$b/authorized_keys
sshd_config = ${BCONF[$b]}
users = reverse-ssh
ssh_ports = $RBLOCK-$((RBLOCK + REPS - 1))
service_ports = $((RBLOCK + 1000))-$((RBLOCK + 1000 + REPS - 1))
reap = yes
EOF
        cp "$LAB/peers/bastion.conf" "$RAW/bastion.conf"
        BDPORT=$(lab_port_alloc) || die "port"
        mkdir -p "$LAB/peers/bstate"
        "${LAB_SPAWN[@]}" env RTUN_MONITOR_LOG_LEVEL=info STATE_DIRECTORY="$LAB/peers/bstate" "$SRC/build/rtun-monitor" \
                bastion daemon --config "$LAB/peers/bastion.conf" --bastion.listen="127.0.0.1:$BDPORT" \
                </dev/null >"$RAW/bastion-daemon.log" 2>&1 &
        BD_PID=$!
        lab_on_cleanup "kill $BD_PID 2>/dev/null"
fi

# ---------------------------------------------------------------------------------------------------
# Start every tunnel (batches of 30, each waited for), then the monitors.
say "${#cells[@]} cells x $REPS tunnels: starting"
T_UP=$(now)
units=() ports=()
start_batch() {
        ((${#units[@]})) || return 0
        lab_exec systemctl start "${units[@]}" || die "systemctl start"
        silent=$("$LAB_PY" tests/bench/peers_wait.py ready 180 "${ports[@]}") || die "tunnels not up: ports $silent"
        units=() ports=()
}
while read -r id s f alias unit rport b; do
        units+=("$unit") ports+=("$rport")
        ((${#units[@]} >= 30)) && start_batch
done <"$RAW/tunnels.txt"
start_batch
say "tunnels up in $(awk -v a="$T_UP" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }') s"
mon=()
for s in $SETUPS; do
        case $s in
        art10m | art10s) mon+=("pm-$s.timer") ;;
        rt1m | rt10s) for id in $(awk -v s="$s" '$2 == s { print $3 "-" substr($1, length($1)) }' "$RAW/tunnels.txt"); do mon+=("pm-$s@$id.timer"); done ;;
        rtd | rtdr) for id in $(awk -v s="$s" '$2 == s { print $3 "-" substr($1, length($1)) }' "$RAW/tunnels.txt"); do mon+=("pm-$s@$id.service"); done ;;
        esac
done
((${#mon[@]})) && { lab_exec systemctl start "${mon[@]}" || die "monitors: ${mon[*]}"; }
# One run of the 10-minute script now, so its CPU per run is known whatever the calendar does.
[[ " $SETUPS " == *" art10m "* ]] && lab_exec systemctl start pm-art10m.service

# ---------------------------------------------------------------------------------------------------
# Steady state: CPU of every monitor process over STEADY s, bastion logins per key.
# host pids: processes whose command line holds TEXT (and, with COMM, whose comm is COMM)
hpids() { # TEXT [COMM] (from $PS_SNAP when set: one ps for many lookups)
        { if [[ -n ${PS_SNAP:-} ]]; then cat "$PS_SNAP"; else ps -e -o pid=,comm=,args=; fi; } | awk -v t="$1" -v c="${2:-}" 'index($0, t) && (c == "" || $2 == c) { print $1 }'
}
proc_cpu() { awk '{ print $14 + $15 + $16 + $17 }' "/proc/$1/stat" 2>/dev/null || echo nan; }
logins() { # setup's fingerprint -> accepted logins over every bastion log
        local fpr
        fpr=$(awk -v s="$1" '$1 == s { print $2 }' "$RAW/fingerprints.txt")
        cat "$LAB"/bastions/*/sshd.log 2>/dev/null | grep "Accepted publickey" | grep -cF "$fpr"
}
# The always-running monitor processes: "SETUP LABEL HOSTPID"
steady_procs() {
        local s f
        for s in $SETUPS; do
                case $s in
                ash0 | ashm)
                        while read -r id s2 f alias unit rport b; do
                                [[ $s2 == "$s" ]] || continue
                                echo "$s $id $(hpids "localhost:$rport:localhost" autossh | head -n 1)"
                        done <"$RAW/tunnels.txt"
                        ;;
                rtd | rtdr)
                        while read -r id s2 f alias unit rport b; do
                                [[ $s2 == "$s" ]] || continue
                                echo "$s $id $(hpids "--monitor.units=reverse-ssh@$alias.service" rtun-monitor | head -n 1)"
                        done <"$RAW/tunnels.txt"
                        ;;
                esac
        done
        [[ -n ${BD_PID:-} ]] && echo "rtdr bastion-daemon $BD_PID"
}
sleep 20 # the daemons' first rounds, the timers' first runs
say "steady state: ${STEADY} s"
PS_SNAP=$LAB/peers/ps.txt
ps -e -o pid=,comm=,args= >"$PS_SNAP"
steady_procs >"$RAW/steady_procs.txt"
unset PS_SNAP
: >"$RAW/steady.txt"
while read -r s label pid; do echo "$s $label $pid $(proc_cpu "$pid")"; done <"$RAW/steady_procs.txt" >"$RAW/steady_cpu0.txt"
for s in $SETUPS; do echo "$s $(logins "$s")"; done >"$RAW/logins0.txt"
TS0=$(now)
cpu_mark steady-begin
sleep "$STEADY"
cpu_mark steady-end
TS1=$(now)
while read -r s label pid; do echo "$s $label $pid $(proc_cpu "$pid")"; done <"$RAW/steady_procs.txt" >"$RAW/steady_cpu1.txt"
for s in $SETUPS; do echo "$s $(logins "$s")"; done >"$RAW/logins1.txt"
echo "$TS0 $TS1 $(getconf CLK_TCK)" >"$RAW/steady_window.txt"
cp -r "$LAB/cpu" "$RAW/cpu-steady"

# ---------------------------------------------------------------------------------------------------
# The faults, all at one instant T0. Before: every tunnel's ssh (host pid), its TCP client port, the
# bastion session that holds its listener.
: >"$RAW/before.txt"
PS_SNAP=$LAB/peers/ps.txt
ps -e -o pid=,comm=,args= >"$PS_SNAP"
ss -Htnp state established >"$LAB/peers/ss-est.txt"
ss -Htlne >"$LAB/peers/ss-listen.txt"
declare -A BPORT
for b in "${!BCONF[@]}"; do BPORT[$b]=$(lab_bastion_port "$b"); done
while read -r id s f alias unit rport b; do
        spid=$(hpids "localhost:$rport:localhost" ssh | head -n 1)
        bport=${BPORT[$b]}
        # the ssh's own end of its connection to the bastion: local address, peer 127.0.0.1:BPORT
        cport=$(awk -v p="pid=$spid," -v d="127.0.0.1:$bport" 'index($0, p) && $4 == d { n = split($3, a, ":"); print a[n]; exit }' "$LAB/peers/ss-est.txt")
        # the listener's socket inode (ss -e): another session that binds the port has another one
        lpid=$(awk -v l="127.0.0.1:$rport" '$4 == l { if (match($0, /ino:[0-9]+/)) print substr($0, RSTART + 4, RLENGTH - 4); exit }' "$LAB/peers/ss-listen.txt")
        echo "$id ${spid:-none} ${cport:-none} ${lpid:-none}" >>"$RAW/before.txt"
done <"$RAW/tunnels.txt"
unset PS_SNAP
grep -q ' none' "$RAW/before.txt" && { grep ' none' "$RAW/before.txt" >&2; die "some tunnel is not up before the faults"; }
declare -A BEFORE
while read -r id a b2 c; do BEFORE[$id]="$a $b2 $c"; done <"$RAW/before.txt"
field() { local v; read -r -a v <<<"${BEFORE[$1]}"; echo "${v[$2 - 2]}"; }
stop_pids=() ho_rules=() wait_list=$LAB/peers/wait.txt
: >"$wait_list"
while read -r id s f alias unit rport b; do
        frm=0
        case $f in
        stop) stop_pids+=("$(field "$id" 2)") ;;
        ho15 | hodef) ho_rules+=("tcp sport $(field "$id" 3) drop" "tcp dport $(field "$id" 3) drop") ;;
        down) frm=$DOWN_FOR ;;
        esac
        echo "$id $rport $(field "$id" 4) $frm" >>"$wait_list"
done <"$RAW/tunnels.txt"
HO_TABLE=${LAB_NFT_TABLE}ho DN_TABLE=${LAB_NFT_TABLE}dn
lab_on_cleanup "nft delete table inet $HO_TABLE 2>/dev/null; nft delete table inet $DN_TABLE 2>/dev/null"
# Logins per (bastion, key) from the bastion logs: before the faults and after the wait.
fault_logins() {
        local d s fpr
        for d in "$LAB"/bastions/*/; do
                while read -r s fpr; do
                        echo "$(basename "$d") $s $(grep "Accepted publickey" "$d/sshd.log" 2>/dev/null | grep -cF "$fpr")"
                done <"$RAW/fingerprints.txt"
        done
}
fault_logins >"$RAW/fault_logins0.txt"
journal_mark=$(lab_exec date +%s)
say "faults now (cap $CAP s)"
cpu_mark faults
T0=$(now)
echo "$T0" >"$RAW/t0.txt"
# The watcher first: the faults below take seconds to set (the bastion restart most), and it counts from T0.
"$LAB_PY" tests/bench/peers_wait.py "$T0" "$CAP" "$wait_list" "$RAW/usable.txt" &
WAIT_PID=$!
((${#stop_pids[@]})) && kill -STOP "${stop_pids[@]}"
nft_drop() { # TABLE RULE...: one table, one output chain (loopback: both directions pass it)
        local t=$1
        shift
        printf 'table inet %s {\n chain out {\n  type filter hook output priority 0; policy accept;\n' "$t"
        printf '  %s\n' "$@"
        printf ' }\n}\n'
}
((${#ho_rules[@]})) && nft_drop "$HO_TABLE" "${ho_rules[@]}" | nft -f - 2>"$RAW/nft.err"
[[ " $FAULTS " == *" down "* ]] &&
        nft_drop "$DN_TABLE" "tcp dport $(lab_bastion_port b-down) drop" "tcp sport $(lab_bastion_port b-down) drop" | nft -f - 2>>"$RAW/nft.err"
# The end of the outage on its own clock (a subshell: only nft, no daemon of the lab's is started in it),
# so that the bastion restart below, which takes seconds, does not lengthen it.
if [[ " $FAULTS " == *" down "* ]]; then
        (
                sleep "$(awk -v t="$T0" -v n="$(now)" -v d="$DOWN_FOR" 'BEGIN { s = t + d - n; print (s > 0 ? s : 0) }')"
                nft delete table inet "$DN_TABLE"
                echo "down-end $(now)" >>"$RAW/t0.txt"
        ) &
        DOWN_PID=$!
fi
if [[ " $FAULTS " == *" rst "* ]]; then
        LAB_QUIET=1 lab_bastion_stop b-rst || die "bastion stop"
        echo "bastion-stopped $(now)" >>"$RAW/t0.txt"
        LAB_QUIET=1 lab_bastion_start_conf b-rst "${BCONF[b-rst]}" || die "bastion restart"
        echo "bastion-started $(now)" >>"$RAW/t0.txt"
fi
echo "faults-set $(now)" >>"$RAW/t0.txt"
((${#ho_rules[@]})) && { nft list table inet "$HO_TABLE" >"$RAW/nft-ho.txt" || die "nft (half-open): $(cat "$RAW/nft.err")"; }
[[ -n ${DOWN_PID:-} ]] && wait "$DOWN_PID"
wait "$WAIT_PID" || die "peers_wait.py failed"
cpu_mark faults-end
say "faults done: $(grep -c cap "$RAW/usable.txt") of $(wc -l <"$RAW/usable.txt") tunnels at the cap"
nft delete table inet "$HO_TABLE" 2>/dev/null
fault_logins >"$RAW/fault_logins1.txt"
# Restarts: the container's journal since the faults (systemd's "Started" per unit, autossh's "starting ssh").
lab_exec journalctl --no-pager -o json --since "@$journal_mark" \
        --output-fields=MESSAGE,_SYSTEMD_UNIT,UNIT,_COMM,__REALTIME_TIMESTAMP >"$RAW/journal.json" 2>/dev/null
lab_exec journalctl --no-pager -o short-unix -u 'pm-rt*' >"$RAW/rt-monitors.journal" 2>/dev/null
# Every bastion's log: when each dead session was ended ("Timeout, client not responding") and each login.
for d in "$LAB"/bastions/b-*/; do
        b=$(basename "$d")
        cp "$d/sshd.log" "$RAW/$b.sshd.log" 2>/dev/null
done
cp -r "$LAB/cpu" "$RAW/cpu-all"
curl -s --max-time 5 "http://127.0.0.1:${BDPORT:-1}/metrics" >"$RAW/bastion-daemon.metrics" 2>/dev/null
# The stopped ssh processes go on (the container is stopped later): nothing of this lab lingers stopped.
((${#stop_pids[@]})) && kill -CONT "${stop_pids[@]}" 2>/dev/null
cp "$RAW/tunnels.txt" "$RAW/before.txt" "$RAW/usable.txt" "$LAB/peers/" 2>/dev/null

# ---------------------------------------------------------------------------------------------------
# node_exporter's systemd collector vs rtun-monitor's discovery, 100 / 1,000 / 5,000 units loaded in the
# same container: instances of a copy of the shipped unit whose condition fails (loaded, inactive), kept
# loaded by a target that wants them.
if part nodeexp; then
        say "node_exporter vs discovery"
        # The peers' monitors and tunnels stop first (but the rtd tunnels of the stop and rst cells, which
        # blackbox probes next): the container holds little more than the units being counted.
        lab_exec systemctl stop 'pm-*' >/dev/null 2>&1
        # shellcheck disable=SC2046 # a list of units
        lab_exec systemctl stop $(awk '!($2 == "rtd" && ($3 == "stop" || $3 == "rst")) { print $5 }' "$RAW/tunnels.txt") >/dev/null 2>&1
        sed -e 's/^\[Unit\]$/[Unit]\nConditionPathExists=\/nonexistent-rtunlab/' systemd/reverse-ssh@.service |
                lab_put /etc/systemd/system/nxbench@.service || die "nxbench@"
        NXP=$(lab_port_alloc) || die "port"
        lab_exec systemd-run --quiet --unit=pm-nodeexp /usr/bin/prometheus-node-exporter \
                --web.listen-address="127.0.0.1:$NXP" --collector.disable-defaults --collector.systemd \
                '--collector.systemd.unit-include=nxbench@.+' || die "node_exporter"
        have=0
        : >"$RAW/nodeexp.txt"
        for n in $NX_SIZES; do
                mkdir -p "$ROOT/etc/systemd/system/nxbench.target.wants"
                for ((i = have; i < n; i++)); do
                        ln -sf ../nxbench@.service "$(printf '%s/etc/systemd/system/nxbench.target.wants/nxbench@u%04d.service' "$ROOT" "$i")"
                done
                have=$n
                printf '[Unit]\nDescription=peers: %s units\n' "$n" | lab_put /etc/systemd/system/nxbench.target
                lab_exec systemctl daemon-reload && lab_exec systemctl restart nxbench.target || die "nxbench.target"
                sleep 3
                loaded=$(lab_exec systemctl list-units --all --no-legend --plain 'nxbench@*' | wc -l)
                # node_exporter: one scrape per run (curl's wall), its process's CPU over the runs.
                nxpid=$(hpids "127.0.0.1:$NXP" prometheus-node | head -n 1)
                curl -s --max-time 60 "http://127.0.0.1:$NXP/metrics" >"$RAW/nodeexp-$n.prom"
                c0=$(proc_cpu "$nxpid")
                for ((r = 0; r < 7; r++)); do
                        curl -s -o /dev/null --max-time 60 -w '%{time_total}\n' "http://127.0.0.1:$NXP/metrics" >>"$RAW/nodeexp-$n.wall"
                done
                c1=$(proc_cpu "$nxpid")
                units_seen=$(grep -c '^node_systemd_unit_state{name="nxbench@.*state="inactive"' "$RAW/nodeexp-$n.prom")
                # rtun-monitor: a first run ever (cold: `ssh -G` per tunnel) is the check that leaves each
                # tunnel's resolution in the state file (timed once: bash's time of the nsenter child);
                # then status as the timer runs it every minute (warm), 5 runs.
                lab_exec rm -rf /lab/state/disc && lab_exec mkdir -p /lab/state/disc
                TIMEFORMAT='%R %U %S'
                { time nsenter -t "$P1" -a /usr/bin/env -i PATH="$LAB_PATH" STATE_DIRECTORY=/lab/state/disc /lab/rtun-monitor \
                        check --monitor.units='nxbench@*.service' --monitor.probe=none --heal.enabled=no >/dev/null 2>&1; } \
                        2>"$RAW/disc-cold-$n.time"
                unset TIMEFORMAT
                hyperfine -N -i --style none --warmup 1 --runs 5 --export-json "$RAW/disc-$n.hf.json" \
                        "nsenter -t $P1 -a /usr/bin/env -i PATH=$LAB_PATH STATE_DIRECTORY=/lab/state/disc /lab/rtun-monitor status --monitor.units=nxbench@*.service --monitor.probe=none" \
                        >/dev/null 2>&1 || say "warning: hyperfine discovery $n"
                lab_exec env STATE_DIRECTORY=/lab/state/disc /lab/rtun-monitor status --json --monitor.units='nxbench@*.service' \
                        --monitor.probe=none >"$RAW/disc-$n.json" 2>"$RAW/disc-$n.err"
                echo "$n $loaded $units_seen $c0 $c1 7 $(getconf CLK_TCK)" >>"$RAW/nodeexp.txt"
                say "  $n units: loaded $loaded, node_exporter saw $units_seen"
        done
        lab_exec systemctl stop pm-nodeexp nxbench.target >/dev/null 2>&1
fi

# ---------------------------------------------------------------------------------------------------
# blackbox_exporter's ssh_banner module vs the mux probe, per probe, on the same forwards: N probes each
# of two healthy tunnels (rtd of the bastion-restart cell, up again by now) from the bastion's loopback.
if part blackbox; then
        say "blackbox_exporter vs the mux probe"
        : >"$RAW/blackbox.txt"
        BBP=$(lab_port_alloc) || die "port"
        "${LAB_SPAWN[@]}" /usr/bin/prometheus-blackbox-exporter --config.file=/etc/prometheus/blackbox.yml \
                --web.listen-address="127.0.0.1:$BBP" </dev/null >"$RAW/blackbox.log" 2>&1 &
        BB_PID=$!
        lab_on_cleanup "kill $BB_PID 2>/dev/null"
        sleep 2
        N=$BB_N
        for id in $(awk '$2 == "rtd" && ($3 == "stop" || $3 == "rst") && $1 ~ /-0$/ { print $1 }' "$RAW/tunnels.txt"); do
                read -r _ s f alias unit rport b < <(awk -v i="$id" '$1 == i' "$RAW/tunnels.txt")
                lab_exec systemctl start "$unit"
                lab_wait_banner "$rport" 60 >/dev/null || { say "warning: $id not up"; continue; }
                c0=$(proc_cpu "$BB_PID")
                ok=0
                for ((r = 0; r < N; r++)); do
                        curl -s --max-time 10 -w '%{time_total}\n' -o "$RAW/bb.out" \
                                "http://127.0.0.1:$BBP/probe?module=ssh_banner&target=127.0.0.1:$rport" >>"$RAW/blackbox-$id.wall"
                        grep -q '^probe_success 1' "$RAW/bb.out" && ok=$((ok + 1))
                done
                c1=$(proc_cpu "$BB_PID")
                bport=$(lab_bastion_port "$b")
                lab_exec /lab/bench_probe_cost mux "$N" "/run/reverse-ssh/$alias/ctl" "$bport" "$rport" /lab/keys/hosts/pb-rtd \
                        >"$RAW/mux-$id.txt" 2>"$RAW/mux-$id.err" || say "warning: some mux probes of $id failed"
                echo "$id $N $ok $c0 $c1 $(getconf CLK_TCK)" >>"$RAW/blackbox.txt"
        done
fi

cpu_mark end
echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$RAW/machine.txt"
lab_cleanup
"$LAB_PY" tests/bench/peers_report.py "$OUT"
