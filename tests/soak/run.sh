#!/usr/bin/env bash
# `make soak` (not in make check; minutes): the host daemon, as the shipped rtun-monitord.service, over
# SOAK_TUNNELS (50) tunnels on SOAK_BASTIONS (3) bastions for SOAK_MINUTES (10), with a random fault about every
# SOAK_GAP (5) seconds: a stopped ssh, a half-open connection, a bastion restarted, the bus daemon restarted, the
# alert receiver down, a scrape flood. Each fault's expected outcome is checked as it happens (a checker in
# the background per fault); the report (tests/soak/report.py) gives faults by kind, detection times, healthy
# tunnels restarted by mistake, alerts lost or repeated, and the daemon's RSS and fds at start and end.
# SOAK_VALGRIND=1 runs the daemon under valgrind (memcheck) and fails on any error or definite leak.
#   make soak                                   # 10 minutes
#   make soak SOAK_VALGRIND=1 SOAK_MINUTES=3    # shorter, under valgrind
# Output: $SOAK_OUT (build/soak or build/soak-valgrind): report.txt, report.json and the raw logs.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh
export LAB_QUIET=1
# A busy machine (load 25-40 while this was written): the lab's own waits, longer.
export LAB_TUNNEL_TIMEOUT=${LAB_TUNNEL_TIMEOUT:-180} LAB_BANNER_LOOK=${LAB_BANNER_LOOK:-5}

MIN=${SOAK_MINUTES:-10}
N=${SOAK_TUNNELS:-50}
NB=${SOAK_BASTIONS:-3}
GAP=${SOAK_GAP:-5}
VG=${SOAK_VALGRIND:-0}
# Probe timeout: a probe's answer is the target sshd's banner after a fork+exec per connection, slow on a
# busy machine (2 cores shared; at a load of 26 a 3 s timeout restarted healthy tunnels).
if [[ $VG == 1 ]]; then INTERVAL=${SOAK_INTERVAL:-10} TIMEOUT=${SOAK_TIMEOUT:-15}; else INTERVAL=${SOAK_INTERVAL:-5} TIMEOUT=${SOAK_TIMEOUT:-10}; fi
OUT=${SOAK_OUT:-build/soak$([[ $VG == 1 ]] && echo -valgrind)}
BIN=${RTUN_BIN:-build/rtun-monitor}
[[ $MIN =~ ^[0-9]+$ && $N =~ ^[1-9][0-9]*$ && $NB =~ ^[1-9]$ && $GAP =~ ^[1-9][0-9]*$ && $INTERVAL =~ ^[1-9][0-9]*$ &&
        $TIMEOUT =~ ^[1-9][0-9]*$ ]] ||
        { echo "soak: SOAK_MINUTES, SOAK_TUNNELS, SOAK_BASTIONS (1-9), SOAK_GAP, SOAK_INTERVAL, SOAK_TIMEOUT must be numbers" >&2; exit 2; }
[[ -x $BIN ]] || { echo "soak: $BIN missing: run make" >&2; exit 2; }
rm -rf "$OUT" && mkdir -p "$OUT/busy" || exit 2
S=$(realpath "$OUT")
D=rtun-monitord.service
T_START=$(now)
say() { echo "soak: [$(since "$T_START")] $*"; }

# soak_until TIMEOUT 'CODE': t_until at a pace that suits a loaded machine (each look may be a systemctl
# call in the container): every second; WAITED = seconds it took.
soak_until() {
        local timeout=$1 code=$2 s
        s=$(now)
        while :; do
                if eval "$code"; then WAITED=$(since "$s"); return 0; fi
                le "$(since "$s")" "$timeout" || break
                sleep 1
        done
        WAITED=$(since "$s")
        return 1
}
# --- the lab: target and bastions that take many sessions, 50 tunnels sk000..sk049.test round-robin
BASTIONS=()
for ((i = 1; i <= NB; i++)); do BASTIONS+=("soak-b$i.test"); done
lab_init || t_die "lab_init"
lab_target_start -o MaxStartups=1000:30:2000 || t_die "target sshd"
for b in "${BASTIONS[@]}"; do lab_bastion_start "$b" -o MaxStartups=200:30:400 -o MaxSessions=100 || t_die "bastion $b"; done
lab_container_start || t_die "container"
lab_tunnels_add_many sk "$N" 10 "${BASTIONS[@]}" || t_die "$N tunnels"
cp "$BIN" "$LAB/rtun-monitor" || t_die "copy the monitor"
cp "$LAB/run/many" "$S/tunnels.txt"
say "lab up: $N tunnels over ${#BASTIONS[@]} bastions"
unit_port() { awk -v u="$1" '$2 == u { print $3 }' "$S/tunnels.txt"; }
unit_bastion() { awk -v u="$1" '$2 == u { print $4 }' "$S/tunnels.txt"; }
bastion_units() { awk -v b="$1" '$4 == b { print $2 }' "$S/tunnels.txt"; }
mapfile -t UNITS < <(awk '{ print $2 }' "$S/tunnels.txt")

# --- the alert receiver on the host's loopback (restarted on the same port by the receiver fault)
RP=$(lab_port_alloc) || t_die "receiver port"
recv_start() {
        python3 tests/integration/receiver.py --port "$RP" --log "$S/receiver.log" >>"$S/receiver.out" 2>&1 &
        echo $! >"$S/receiver.pid"
        soak_until 30 '[[ -n $(ss -Htln "( sport = :$RP )") ]]'
}
recv_stop() {
        local pid
        pid=$(cat "$S/receiver.pid" 2>/dev/null) || return 0
        kill "$pid" 2>/dev/null
        t_until 10 '! lab__alive '"$pid"
        rm -f "$S/receiver.pid"
}
lab_on_cleanup "recv_stop"
recv_start || t_die "receiver"

# --- the daemon: the shipped unit; the lab overrides ExecStart and WatchdogSec only
MP=$(lab_port_alloc) || t_die "metrics port"
URL=http://127.0.0.1:$MP
cat >"$LAB/soak.conf" <<EOF
[monitor]
units = reverse-ssh@sk*.test.service
interval = ${INTERVAL}s
timeout = ${TIMEOUT}s
failures = 2

[heal]
backoff = 1s
max_restarts = 1000

[metrics]
listen = 127.0.0.1:$MP

[alert hook]
type = webhook
url = http://127.0.0.1:$RP/hook
events = down recovered restarted gave_up network_down network_up
EOF
if [[ $VG == 1 ]]; then
        # valgrind does not start under the shipped sandbox (its JIT needs writable+executable memory, and
        # more): a transient unit without it, the same Type=notify and watchdog. This run checks memory; the
        # sandbox is the 10-minute run's.
        D=rtun-soak-valgrind.service
        lab_on_cleanup "lab_exec systemctl stop $D"
        lab_exec systemd-run --quiet --unit=$D -p Type=notify -p NotifyAccess=all -p WatchdogSec=60s -p TimeoutStopSec=60s \
                /usr/bin/valgrind -q --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
                --error-exitcode=9 --log-file=/lab/valgrind.log /lab/rtun-monitor daemon --config /lab/soak.conf ||
                { lab_exec journalctl -u $D --no-pager | tail -n 30; t_die "start $D (valgrind)"; }
else
        lab_put /etc/systemd/system/$D <systemd/$D &&
                printf '[Service]\nExecStart=\nExecStart=/lab/rtun-monitor daemon --config /lab/soak.conf\nWatchdogSec=10s\n' |
                lab_put /etc/systemd/system/$D.d/50-soak.conf && lab_exec systemctl daemon-reload || t_die "install $D"
        lab_on_cleanup "lab_exec systemctl stop $D"
        lab_exec systemctl start $D || { lab_exec journalctl -u $D --no-pager | tail -n 30; t_die "start $D"; }
fi
DPID0=$(lab_exec systemctl show -p MainPID --value $D)
DN0=$(lab_exec systemctl show -p NRestarts --value $D)

python3 tests/soak/poll.py "$URL/metrics" "$S/poll.log" 0.25 &
POLL=$!
lab_on_cleanup "kill $POLL 2>/dev/null"
n_up() { curl -s --max-time 5 "$URL/metrics" | grep -c '^rtun_tunnel_up{.*} 1$'; }
t_until 180 '(( $(n_up) == N ))' || t_die "precondition: all $N tunnels up in /metrics within 180 s (got $(n_up))"
say "daemon up: $N tunnels up after $WAITED s"

# RSS (kB) and open fds of the daemon, from the host, every 30 s and at start and end
HPID=$(lab_hostpid "$DPID0") || t_die "daemon host pid"
# "TIME RSS_KB FDS LOADAVG [start|end]"
sample() { echo "$(now) $(awk '/^VmRSS:/ { print $2 }' "/proc/$HPID/status") $(ls "/proc/$HPID/fd" | wc -l) $(cut -d' ' -f1 /proc/loadavg) ${1:-}" >>"$S/rss.log"; }
sleep 20 # warm-up: the first rounds' allocations are not growth
sample start
( while sleep 30; do sample; done ) &
SAMPLER=$!
lab_on_cleanup "kill $SAMPLER 2>/dev/null"
# Every tunnel's MainPID in one call: "UNIT PID" per line.
all_mainpids() {
        lab_exec systemctl show -p Id -p MainPID "${UNITS[@]}" |
                awk 'BEGIN { RS = ""; FS = "\n" } { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } print v["Id"], v["MainPID"] }'
}
all_mainpids >"$S/mainpid.start"

# --- faults. The main loop claims what a fault touches (files in $S/busy), injects it, and leaves its
# checker in the background; the checker records "ID KIND ok|FAIL T_DONE key=value..." in results.log.
result() { echo "$1 $2 $3 $(now) ${*:4}" >>"$S/results.log"; }
free_unit() {
        local u
        for u in $(printf '%s\n' "${UNITS[@]}" | shuf); do
                [[ -e $S/busy/$u || -e $S/busy/$(unit_bastion "$u") ]] && continue
                # Only a tunnel the daemon last saw up: a fault on one already down would time nothing.
                [[ $(awk -v u="$u" '$2 == "up" && $3 == u { v = $4 } END { print v }' "$S/poll.log") == 1 ]] || continue
                echo "$u"
                return 0
        done
        return 1
}
claim() { local f; for f in "$@"; do : >"$S/busy/$f"; done; }
release() { local f; for f in "$@"; do rm -f "$S/busy/$f"; done; }
# banner_back PORT...: every port answers "SSH-" within SECS (90) in all, each look allowed 8 s (lab_wait_banner
# allows 1 s per look: at a load of 30 a banner through a tunnel takes longer, and it would wait forever).
banner_back() {
        local left=("$@") next p s
        s=$(now)
        while ((${#left[@]})); do
                next=()
                for p in "${left[@]}"; do [[ $(lab_banner "$p" 8 2>/dev/null) == SSH-* ]] || next+=("$p"); done
                left=("${next[@]}")
                ((${#left[@]})) || return 0
                le "$(since "$s")" "${SECS:-90}" || { echo "${left[*]}"; return 1; }
                sleep 1
        done
}
mainpid_changed() { local m; m=$(lab_unit_mainpid "$1"); [[ $m =~ ^[1-9][0-9]*$ && $m != "$2" ]]; }

# stop: nothing but the monitor restarts a stopped ssh (systemd sees it running): its MainPID changes and
# its forward answers again. Bounds are generous (180 s): while every tunnel looks down at once (a stalled
# machine), the all-down guard rightly restarts none, and healing waits for the first tunnel back.
chk_stop() { # ID UNIT MAINPID0
        local id=$1 u=$2 m0=$3 port
        port=$(unit_port "$u")
        if ! soak_until 180 'mainpid_changed $u $m0'; then
                result "$id" stop FAIL "unit=$u" "why=not_restarted_in_180s"
        elif ! banner_back "$port" >/dev/null; then
                result "$id" stop FAIL "unit=$u" "why=forward_not_back_in_90s"
        else
                result "$id" stop ok "unit=$u"
        fi
        release "$u"
}
# half-open: the probe times out, the monitor restarts the unit; once the bastion dropped the stale session
# (ClientAlive 2 x 2 s) the forward answers again.
chk_halfopen() { # ID UNIT MAINPID0
        local id=$1 u=$2 m0=$3 port
        port=$(unit_port "$u")
        if ! soak_until 180 'mainpid_changed $u $m0'; then
                result "$id" halfopen FAIL "unit=$u" "why=not_restarted_in_180s"
                lab_fault_clear
        else
                lab_fault_clear
                if banner_back "$port" >/dev/null; then
                        result "$id" halfopen ok "unit=$u"
                else
                        result "$id" halfopen FAIL "unit=$u" "why=forward_not_back_in_90s"
                fi
        fi
        release "$u" g-halfopen
}
# bastion restarted: every tunnel of it answers again (systemd restarts the ssh that lost it).
chk_bastion() { # ID BASTION
        local id=$1 b=$2 ports silent
        ports=$(for u in $(bastion_units "$b"); do unit_port "$u"; done)
        # shellcheck disable=SC2086 # a list of ports
        if silent=$(SECS=150 banner_back $ports); then
                result "$id" bastion ok "bastion=$b"
        else
                result "$id" bastion FAIL "bastion=$b" "why=ports_silent_after_150s:${silent// /,}"
        fi
        # shellcheck disable=SC2046
        release "$b" g-bastion $(bastion_units "$b")
}
# bus daemon restarted: the daemon loses the bus, reconnects, keeps its pid.
chk_dbus() { # ID T0
        local id=$1 t0=$2 j lost back
        if ! lab_exec systemctl restart dbus.service; then
                result "$id" dbus FAIL "why=systemctl_restart_dbus_failed"
                release g-dbus
                return
        fi
        soak_until 60 'j=$(lab_exec journalctl -u $D -o short-unix --no-pager --since=@${t0%.*}); [[ $j == *"Reconnected to the system bus"* ]]'
        lost=$(awk -v t="$t0" '$1 >= t && /Lost the system bus/ { print $1; exit }' <<<"$j")
        back=$(awk -v t="$t0" '$1 >= t && /Reconnected to the system bus/ { print $1; exit }' <<<"$j")
        if [[ -z $lost || -z $back ]]; then
                result "$id" dbus FAIL "why=no_lost_or_reconnected_line_in_60s"
        elif [[ $(lab_exec systemctl show -p MainPID --value $D) != "$DPID0" ]]; then
                result "$id" dbus FAIL "why=daemon_pid_changed"
        else
                result "$id" dbus ok "lost_s=$(since "$t0" "$lost")" "reconnected_s=$(since "$t0" "$back")"
        fi
        release g-dbus
}
# receiver down while a tunnel breaks and heals: once it is back, that tunnel's down, restarted and
# recovered alerts arrive (retried), each once.
delivered() { # UNIT SINCE: events answered 200 for UNIT, logged at or after SINCE
        jq -r --arg u "$1" --argjson t "$2" 'select(.answer == "200" and .path == "/hook" and .time >= $t)
                | .body | fromjson | select(.name == $u) | .event' "$S/receiver.log" 2>/dev/null | sort | paste -sd' '
}
chk_receiver() { # ID UNIT MAINPID0
        local id=$1 u=$2 m0=$3 port t1 got
        port=$(unit_port "$u")
        if ! soak_until 180 'mainpid_changed $u $m0' || ! banner_back "$port" >/dev/null; then
                result "$id" receiver FAIL "unit=$u" "why=tunnel_not_healed_while_receiver_down"
                recv_start
        else
                sleep 2 # the recovered verdict follows the next probe
                # Before the start: the daemon's retry may deliver the moment the port answers, before recv_start returns.
                t1=$(now)
                recv_start || result "$id" receiver FAIL "unit=$u" "why=receiver_restart_failed"
                if soak_until 120 'd=" $(delivered $u $t1) "; [[ $d == *" down "* && $d == *" restarted "* && $d == *" recovered "* ]]'; then
                        result "$id" receiver ok "unit=$u" "delivered_s=$WAITED"
                else
                        result "$id" receiver FAIL "unit=$u" "why=alerts_after_receiver_back:$(delivered "$u" "$t1" | tr ' ' ,)"
                fi
        fi
        release "$u" g-receiver
}
# scrape flood (8 clients back to back for 8 s): /healthz keeps answering within the server's own 10 s
# request bound, the daemon is not restarted (watchdog).
chk_flood() { # ID
        local id=$1 line
        line=$(python3 tests/soak/flood.py "$URL" 8 8)
        read -r _ scrapes _ errors _ hzmax _ hzfail <<<"$line"
        if [[ $(lab_exec systemctl show -p MainPID --value $D) != "$DPID0" ]]; then
                result "$id" flood FAIL "why=daemon_pid_changed" "scrapes=$scrapes"
        elif ((hzfail > 0)) || ! le "$hzmax" 10; then
                result "$id" flood FAIL "why=healthz_failed_or_slow" "scrapes=$scrapes" "errors=$errors" "healthz_max_s=$hzmax" "healthz_failures=$hzfail"
        else
                result "$id" flood ok "scrapes=$scrapes" "errors=$errors" "healthz_max_s=$hzmax"
        fi
        release g-flood
}

# inject_unit ID KIND UNIT: in the background, so the main loop keeps its pace on a loaded machine (each
# look into the container is a process or two): the fault, its record, its checker.
inject_unit() {
        local id=$1 kind=$2 u=$3 m0 t0
        m0=$(lab_unit_mainpid "$u")
        [[ $kind == receiver ]] && recv_stop
        t0=$(now)
        if [[ $kind == halfopen ]]; then lab_fault_halfopen "$u" >/dev/null 2>&1; else lab_fault_stop "$u" >/dev/null 2>&1; fi || {
                result "$id" "$kind" skipped "unit=$u" "why=inject_failed"
                [[ $kind == receiver ]] && recv_start
                [[ $kind == halfopen ]] && lab_fault_clear
                release "$u" "g-$kind"
                return
        }
        echo "$id $kind $u $t0 $u" >>"$S/faults.log"
        "chk_$kind" "$id" "$u" "$m0"
}
# inject_bastion ID BASTION: stopped (with every session) for 3 s, started again. Started from this
# background shell without the lab's parent-death tie (it would die with this shell); lab_cleanup still
# stops it through its pid file.
inject_bastion() {
        local id=$1 b=$2
        echo "$id bastion $b $(now) $(bastion_units "$b" | paste -sd' ')" >>"$S/faults.log"
        lab_bastion_stop "$b" >/dev/null 2>&1
        sleep 3
        LAB_SPAWN=() # this function runs in its own (background) shell: the change stays here
        lab_bastion_start "$b" -o MaxStartups=200:30:400 -o MaxSessions=100 >/dev/null 2>&1 ||
                lab__alive "$(cat "$LAB/bastions/$b/pid" 2>/dev/null)" ||
                { result "$id" bastion FAIL "bastion=$b" "why=did_not_start_again"; release "$b" g-bastion $(bastion_units "$b"); return; }
        chk_bastion "$id" "$b"
}

KINDS=(stop stop stop halfopen halfopen bastion dbus receiver flood)
END=$(awk -v s="$(now)" -v m="$MIN" 'BEGIN { printf "%.0f", s + m * 60 }')
id=0
CHECKERS=()
say "faults for $MIN min, one about every $GAP s"
while (($(date +%s) < END)); do
        kind=${KINDS[SRANDOM % ${#KINDS[@]}]}
        case $kind in
        stop | halfopen | receiver)
                [[ $kind == stop || ! -e $S/busy/g-$kind ]] || continue
                u=$(free_unit) || { sleep 1; continue; }
                id=$((id + 1))
                claim "$u"
                [[ $kind == stop ]] || claim "g-$kind"
                inject_unit "$id" "$kind" "$u" &
                ;;
        bastion)
                [[ ! -e $S/busy/g-bastion ]] || continue
                b=""
                for c in $(printf '%s\n' "${BASTIONS[@]}" | shuf); do
                        busy=0
                        for u in $(bastion_units "$c"); do [[ -e $S/busy/$u ]] && busy=1; done
                        ((busy)) || { b=$c; break; }
                done
                [[ -n $b ]] || continue
                id=$((id + 1))
                # shellcheck disable=SC2046
                claim g-bastion "$b" $(bastion_units "$b")
                inject_bastion "$id" "$b" &
                ;;
        dbus | flood)
                [[ ! -e $S/busy/g-$kind ]] || continue
                id=$((id + 1))
                claim "g-$kind"
                echo "$id $kind - $(now)" >>"$S/faults.log"
                if [[ $kind == dbus ]]; then chk_dbus "$id" "$(now)" & else chk_flood "$id" & fi
                ;;
        esac
        CHECKERS+=($!)
        sleep "$(awk -v g="$GAP" -v r="$SRANDOM" 'BEGIN { printf "%.1f", g * (0.5 + (r % 1000) / 1000) }')"
done
say "$id faults injected; waiting for their checkers"
for p in "${CHECKERS[@]}"; do wait "$p" 2>/dev/null; done
t_until 180 '(( $(n_up) == N ))' || say "warning: only $(n_up) of $N tunnels up 180 s after the last fault"
sleep 10 # the last alerts and the daemon's steady state
sample end
kill "$SAMPLER" 2>/dev/null
all_mainpids >"$S/mainpid.end"
curl -s --max-time 5 "$URL/metrics" >"$S/metrics.end"
DPID1=$(lab_exec systemctl show -p MainPID --value $D)
DN1=$(lab_exec systemctl show -p NRestarts --value $D)
kill "$POLL" 2>/dev/null

# --- the daemon stopped (valgrind writes its report at exit)
lab_exec systemctl stop $D
lab_exec journalctl -u $D -o short-unix --no-pager >"$S/daemon.journal" 2>&1
VGARGS=()
if [[ $VG == 1 ]]; then
        cp "$LAB/valgrind.log" "$S/valgrind.log" 2>/dev/null || : >"$S/valgrind.log"
        VGARGS=(--valgrind "$S/valgrind.log" --exit-status "$(lab_exec systemctl show -p ExecMainStatus --value $D)")
fi

# --- the report, and the verdicts
python3 tests/soak/report.py "$S" --minutes "$MIN" --tunnels "$N" --bastions "$NB" --interval "$INTERVAL" --timeout "$TIMEOUT" \
        --daemon-pid "$DPID0" "$DPID1" --daemon-nrestarts "$DN0" "$DN1" "${VGARGS[@]}" | tee "$S/report.txt"
rc=${PIPESTATUS[0]}
# report.py ends with one "verdict: pass|fail: TEXT" line per check; they count here.
while IFS= read -r line; do
        case $line in
        "verdict: pass: "*) t_pass "${line#verdict: pass: }" ;;
        "verdict: fail: "*) t_fail "${line#verdict: fail: }" ;;
        esac
done <"$S/report.txt"
((rc == 0 || T_FAIL > 0)) || t_fail "report.py exited $rc"
say "report: $S/report.txt"
t_summary
((T_FAIL == 0))
