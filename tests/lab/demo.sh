#!/usr/bin/env bash
# make demo: boots the lab (a real systemd in a container, two bastion sshds, two tunnels), runs
# rtun-monitor as a systemd service with Prometheus and a Slack-like receiver, breaks the tunnels in two
# ways and shows each detected, restarted, alerted and graphed. Exits non-zero when a step did not happen,
# so it doubles as a smoke test. Everything it started is cleaned up on exit, Ctrl-C included.
set -euo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$SRC"
export LAB_QUIET=${LAB_QUIET:-1} # the demo narrates; lab.sh still prints its errors
. tests/lab/lab.sh
if [[ -f tests/lab/prometheus.sh ]]; then
        . tests/lab/prometheus.sh
else # the shared helper's few lines: one Prometheus on loopback, storage in $LAB, killed at clean-up
        lab_prom_start() {
                mkdir -p "$LAB/prom/data" && printf 'global: {scrape_interval: %s, scrape_timeout: %s}\nscrape_configs: [{job_name: rtun, static_configs: [{targets: ["%s"]}]}]\n' \
                        "$2" "$2" "$1" >"$LAB/prom/prometheus.yml" || return 1
                LAB_PROM_URL=http://127.0.0.1:$(lab_port_alloc) || return 1
                "${LAB_SPAWN[@]}" /usr/bin/prometheus --config.file="$LAB/prom/prometheus.yml" --storage.tsdb.path="$LAB/prom/data" \
                        --web.listen-address="${LAB_PROM_URL#http://}" --log.level=warn >"$LAB/prom/log" 2>&1 &
                echo $! >"$LAB/prom/pid"
                lab_on_cleanup "lab__kill_tree $! 5"
                wait_for 30 curl -sf -o /dev/null "$LAB_PROM_URL/-/ready"
        }
        demo_prom_nonempty() { [[ $(curl -sfG "$LAB_PROM_URL/api/v1/query" --data-urlencode "query=$1" | jq -c .data.result) != "[]" ]]; }
        lab_prom_wait() { wait_for "$2" demo_prom_nonempty "$1"; }
fi

OUTDIR=$SRC/build/demo
PNG=$OUTDIR/rtun_tunnel_up.png
PNG_DONE=
DEMO_START=$(date +%s.%N)

if [[ -t 1 ]]; then B=$'\e[1m' G=$'\e[32m' R=$'\e[31m' D=$'\e[2m' N=$'\e[0m'; else B='' G='' R='' D='' N=''; fi
STEP=0
step() { STEP=$((STEP + 1)); printf '\n%s== %d. %s%s\n' "$B" "$STEP" "$*" "$N"; }
say() { printf '%s\n' "$*"; }
ok() { printf '%s  ok: %s%s\n' "$G" "$*" "$N"; }
die() { printf '\n%sDEMO FAILED (step %d): %s%s\n' "$R" "$STEP" "$*" "$N" >&2; exit 1; }
indent() { sed 's/^/    /'; }
# host: shows a host command, then runs it; ctr: the same inside the container.
host() { printf '%s  $ %s%s\n' "$D" "$*" "$N"; "$@" 2>&1 | indent; }
ctr() { printf '%s  [container]# %s%s\n' "$D" "$*" "$N"; lab_exec "$@" 2>&1 | indent; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
# wait_for SECONDS CMD...: polls CMD every 0.2 s; 0 as soon as it succeeds, 1 after SECONDS.
wait_for() {
        local end
        end=$(awk -v n="$(now)" -v t="$1" 'BEGIN { printf "%.3f", n + t }')
        shift
        while :; do
                "$@" && return 0
                awk -v n="$(now)" -v e="$end" 'BEGIN { exit !(n >= e) }' && return 1
                sleep 0.2
        done
}

[[ -x build/rtun-monitor ]] || die "build/rtun-monitor missing: run 'make' first (make demo does)"

# ---------------------------------------------------------------------------------------------------
step "Boot the lab: target sshd, two bastion sshds, a container running systemd, two tunnels"
say "A container (systemd-nspawn over /) runs a real systemd as PID 1; the bastions are sshds on this"
say "machine's loopback; each tunnel is the shipped systemd/reverse-ssh@.service with a ControlMaster."
lab_init || die "lab_init"
trap 'printf "\n%sinterrupted: cleaning up%s\n" "$R" "$N" >&2; exit 130' INT # lab_init's EXIT trap cleans up
lab_target_start || die "target sshd"
lab_bastion_start bastion-a.test || die "bastion a"
lab_bastion_start bastion-b.test || die "bastion b"
lab_container_start || die "container"
PA=$(lab_port_alloc) || die "port"
PB=$(lab_port_alloc) || die "port"
lab_tunnel_add bastion-a.test "$PA" || die "tunnel a"
lab_tunnel_add bastion-b.test "$PB" || die "tunnel b"
UA=reverse-ssh@bastion-a.test.service UB=reverse-ssh@bastion-b.test.service
BPA=$(lab_bastion_port bastion-a.test) BPB=$(lab_bastion_port bastion-b.test)
cp build/rtun-monitor "$LAB/rtun-monitor" || die "copy the monitor into the lab"
say "lab $LAB: target sshd :$LAB_TPORT, bastion-a.test :$BPA, bastion-b.test :$BPB (all 127.0.0.1)"
ctr systemctl list-units --no-legend 'reverse-ssh@*'
say "Through bastion a, 127.0.0.1:$PA reaches the target's sshd:"
host lab_banner "$PA" || die "no banner through tunnel a"

# ---------------------------------------------------------------------------------------------------
step "A Slack stand-in, and the monitor's configuration"
mkdir -p "$LAB/receiver"
RPORT=$(lab_port_alloc) || die "port"
MPORT=$(lab_port_alloc) || die "port"
ALERTS=$LAB/receiver/requests.jsonl
: >"$ALERTS"
"${LAB_SPAWN[@]}" "$LAB_PY" tests/integration/receiver.py --port "$RPORT" --log "$ALERTS" >"$LAB/receiver/out" 2>&1 &
RECV_PID=$!
lab_on_cleanup "lab__kill_tree $RECV_PID 3"
wait_for 5 grep -q '^PORT ' "$LAB/receiver/out" || die "the receiver did not start: $(cat "$LAB/receiver/out")"
say "tests/integration/receiver.py (pid $RECV_PID) takes Slack webhook POSTs on 127.0.0.1:$RPORT."
cat >"$LAB/rtun.conf" <<EOF
# /lab/rtun.conf: fast settings for the demo (defaults: interval 10s, timeout 5s)
[monitor]
interval = 1s
timeout = 2s
failures = 2

[metrics]
listen = 127.0.0.1:$MPORT

[alert team]
type = slack
url = http://127.0.0.1:$RPORT/slack
EOF
host cat "$LAB/rtun.conf"

# ---------------------------------------------------------------------------------------------------
step "rtun-monitor status, then the daemon as rtun-monitord.service"
say "status probes every tunnel once through its ControlMaster (probe mux) and never heals:"
printf '%s  [container]# %s%s\n' "$D" "/lab/rtun-monitor status --config /lab/rtun.conf" "$N"
rc=0
STATUS=$(lab_exec /lab/rtun-monitor status --config /lab/rtun.conf 2>&1) || rc=$?
indent <<<"$STATUS"
((rc == 0)) || die "rtun-monitor status exited $rc, want 0"
[[ $STATUS =~ $UA\ .*\ up\ +mux && $STATUS =~ $UB\ .*\ up\ +mux ]] || die "status does not show both tunnels up (mux)"
ok "both tunnels up, probed through the live connection (mux)"

say "The shipped unit, with a drop-in that points it at the lab's binary and config:"
lab_put /etc/systemd/system/rtun-monitord.service <systemd/rtun-monitord.service || die "install the unit"
printf '[Service]\nExecStart=\nExecStart=/lab/rtun-monitor daemon --config /lab/rtun.conf\n' |
        lab_put /etc/systemd/system/rtun-monitord.service.d/50-demo.conf || die "install the drop-in"
ctr cat /etc/systemd/system/rtun-monitord.service.d/50-demo.conf
ctr systemctl daemon-reload || die "daemon-reload failed"
ctr systemctl start rtun-monitord.service || die "rtun-monitord.service did not start"
daemon_ready() { [[ $(lab_exec systemctl show -p StatusText --value rtun-monitord.service) == "2 tunnels, 0 down" ]]; }
wait_for 10 daemon_ready || { ctr systemctl status --no-pager rtun-monitord.service; die "the daemon did not report 2 tunnels, 0 down"; }
ctr systemctl status --no-pager -n 3 rtun-monitord.service
ok "Type=notify: READY=1 sent, STATUS= shows the tunnels"

# ---------------------------------------------------------------------------------------------------
step "Prometheus scrapes the daemon twice a second"
say "(Twice: a stopped ssh is down for only about a second before it is healed; the graph shows the"
say "minimum of each second, so no outage falls between two scrapes.)"
printf '%s  $ lab_prom_start 127.0.0.1:%s 500ms%s\n' "$D" "$MPORT" "$N"
lab_prom_start "127.0.0.1:$MPORT" 500ms || die "Prometheus did not start"
say "/usr/bin/prometheus (pid $(cat "$LAB/prom/pid")) on $LAB_PROM_URL, storage in $LAB/prom/data"
prom() { curl -sfG "$LAB_PROM_URL/api/v1/$1" "${@:2}"; }
lab_prom_wait 'count(rtun_tunnel_up == 1) == 2' 20 >/dev/null || { tail -5 "$LAB/prom/log"; die "Prometheus has no rtun_tunnel_up samples"; }
printf "%s  \$ curl -s 127.0.0.1:%s/metrics | grep -E '^rtun_(tunnels|tunnel_up|probes_total|build_info)'%s\n" "$D" "$MPORT" "$N"
curl -s "127.0.0.1:$MPORT/metrics" | grep -E '^rtun_(tunnels|tunnel_up|probes_total|build_info)' | indent ||
        die "no metrics on 127.0.0.1:$MPORT"
say "Eight seconds of healthy history for the graph..."
sleep 8

# ---------------------------------------------------------------------------------------------------
# The daemon's journal from line $1 on, as "+S.SSs message", times relative to $2.
jlines() {
        lab_exec journalctl -u rtun-monitord.service --no-pager -o short-unix 2>/dev/null |
                awk -v from="$1" -v t0="$2" 'NR > from && $1 ~ /^[0-9]+\.[0-9]+$/ {
                        ts = $1; $1 = ""; $2 = ""; sub(/^  /, "")
                        printf "%.6f +%.2fs  %s\n", ts, ts - t0, $0 }'
}
jcount() { lab_exec journalctl -u rtun-monitord.service --no-pager -o short-unix 2>/dev/null | wc -l; }
# watch_heal UNIT FROM T0 LIMIT: prints the daemon's new journal lines as they come, until UNIT has
# recovered or LIMIT seconds passed. Sets T_DOWN, T_RESTART, T_UP (unix times, empty if not seen).
watch_heal() {
        local unit=$1 from=$2 t0=$3 limit=$4 shown=0 lines line
        T_DOWN='' T_RESTART='' T_UP=''
        while awk -v n="$(now)" -v t0="$t0" -v l="$limit" 'BEGIN { exit !(n - t0 < l) }'; do
                lines=$(jlines "$from" "$t0")
                while IFS= read -r line; do
                        [[ -n $line ]] || continue
                        printf '    %s\n' "${line#* }"
                        case $line in
                        *"$unit: up -> down"* | *"$unit: starting -> down"*) : "${T_DOWN:=${line%% *}}" ;;
                        *"$unit: restarted"*) : "${T_RESTART:=${line%% *}}" ;;
                        *"$unit: event recovered"*) T_UP=${line%% *} ;;
                        esac
                done < <(tail -n +$((shown + 1)) <<<"$lines")
                shown=$(grep -c . <<<"$lines" || true)
                [[ -n $T_UP ]] && return 0
                sleep 0.25
        done
        return 1
}
# alerts FROM_LINE: the Slack messages the receiver got since line FROM_LINE of its log.
alerts() {
        tail -n +$(($1 + 1)) "$ALERTS" | jq -r '(.body | fromjson) as $b |
                "    POST \(.path) -> \(.answer)  \($b.attachments[0].color)  \($b.text)"'
}
alert_count() { grep -c . "$ALERTS" || true; }
# alerts_for FROM UNIT WORD...: every WORD ("down", "recovered") has a Slack text about UNIT.
alerts_for() {
        local from=$1 unit=$2 w texts
        texts=$(tail -n +$((from + 1)) "$ALERTS" | jq -r '.body | fromjson | .text')
        shift 2
        for w; do grep -qi "^Tunnel $w: $unit" <<<"$texts" || return 1; done
}

step "Break tunnel a: SIGSTOP its ssh (dead but running)"
J0=$(jcount) A0=$(alert_count)
PID_A=$(lab_unit_mainpid "$UA")
printf '%s  [container]# kill -STOP %s%s\n' "$D" "$PID_A" "$N"
T0=$(now)
lab_fault_stop "$UA" || die "lab_fault_stop"
say "systemd still calls it healthy:"
ctr systemctl status --no-pager -n 0 "$UA"
[[ $(lab_unit_state "$UA") == active ]] || die "$UA is not active after SIGSTOP"
say "but the bastion's port gives no banner any more:"
printf '%s  $ lab_banner %s 1%s\n' "$D" "$PA" "$N"
OUT=$(lab_banner "$PA" 1 2>&1) && die "the bastion port still answers: $OUT"
indent <<<"$OUT"
say "The daemon's journal (times from the fault):"
watch_heal "$UA" "$J0" "$T0" 20 || true
[[ -n $T_DOWN ]] || die "no 'down' for $UA within 20 s"
[[ -n $T_RESTART ]] || die "no restart of $UA within 20 s"
[[ -n $T_UP ]] || die "$UA did not recover within 20 s"
[[ $(lab_unit_mainpid "$UA") != "$PID_A" ]] || die "$UA has the same MainPID: not restarted"
say "What the Slack receiver got:"
wait_for 10 alerts_for "$A0" "$UA" down recovered || { alerts "$A0"; die "no down + recovered Slack alerts for $UA"; }
alerts "$A0"
say "The bastion's port answers again:"
T_BANNER=''
printf '%s  $ lab_banner %s%s\n' "$D" "$PA" "$N"
BANNER=$(lab_wait_banner "$PA" 15) && T_BANNER=$(now)
indent <<<"$BANNER"
[[ $BANNER == SSH-* ]] || die "bastion port $PA does not answer after the restart"
ok "detected in $(secs "$T0" "$T_DOWN") s, restarted at $(secs "$T0" "$T_RESTART") s, probe ok again at $(secs "$T0" "$T_UP") s, banner at $(secs "$T0" "$T_BANNER") s after the fault"
A_T0=$T0 A_DOWN=$T_DOWN A_UP=$T_UP

# ---------------------------------------------------------------------------------------------------
# Renders one query_range answer (stdin) as a text timeline; writes the samples for gnuplot.
# Exit 3 when the series does not hold both up and down samples.
RENDER_PY=$(cat <<'PY'
import json, sys, time
start, end, unit, datfile, fault = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
res = json.load(sys.stdin)["data"]["result"]
# min_over_time(...[1s]) at step t covers the second before t: draw it at t - 1.
vals = {int(float(t)) - 1: float(v) for t, v in (res[0]["values"] if res else [])}
if not vals:
    print("    rtun_tunnel_up{name=\"%s\"}: no samples" % unit)
    sys.exit(3)
end -= 1
start = max(start, min(vals))  # the lab is younger than a minute: begin at the first sample
n = end - start + 1
w = 2 if n <= 40 else 1  # a short lab life gets two columns per second
cells = "".join(("·" if start + i not in vals else ("▇" if vals[start + i] >= 1 else "▁")) * w for i in range(n))
hms = lambda t: time.strftime("%H:%M:%S", time.gmtime(t))
axis = list(hms(start).ljust(n * w))
if n * w >= 50:  # a middle label, centred on its column
    mid = n // 2
    axis[mid * w - 4:mid * w + 4] = hms(start + mid)
if n * w >= 20:
    axis[n * w - 8:n * w] = hms(end)
print("    rtun_tunnel_up{name=\"%s\"}, min per second, %s, UTC" % (unit, "one column per second" if w == 1 else "two columns per second"))
print("          " + "".join(axis).rstrip())
print("     up   " + cells)
if fault and 0 <= int(float(fault)) - start < n:
    print("          " + " " * ((int(float(fault)) - start) * w) + "^ fault at " + hms(float(fault)))
with open(datfile, "w") as f:
    for t in sorted(vals):
        f.write("%d %g\n" % (t, vals[t]))
zeros = sum(1 for v in vals.values() if v < 1)
print("          %d s up, %d s down" % (len(vals) - zeros, zeros))
sys.exit(0 if zeros and len(vals) > zeros else 3)
PY
)
# graph UNIT...: rtun_tunnel_up of each UNIT over the last 60 s from Prometheus's query_range (the minimum
# of each second), as a text timeline, and a PNG of the same with gnuplot when it is installed.
graph() {
        local end start unit json f i=0 files=() titles=()
        end=$(date +%s)
        start=$((end - 60))
        for unit; do
                json=$(prom query_range --data-urlencode "query=min_over_time(rtun_tunnel_up{name=\"$unit\"}[1s])" \
                        --data-urlencode "start=$start" --data-urlencode "end=$end" --data-urlencode step=1) ||
                        die "query_range failed"
                i=$((i + 1))
                "$LAB_PY" -c "$RENDER_PY" "$start" "$end" "$unit" "$OUTDIR/series$i.dat" "${FAULT_AT[$unit]:-}" \
                        <<<"$json" || return 1
                files+=("$OUTDIR/series$i.dat") titles+=("$unit")
        done
        command -v gnuplot >/dev/null || { say "    (gnuplot not installed: no PNG)"; return 0; }
        start=$(cat "${files[@]}" | sort -n | awk 'NR == 1 { print $1 }')
        {
                echo "set terminal pngcairo size 900,$((140 + 160 * ${#files[@]})) font 'sans,10'"
                echo "set output '$PNG'"
                echo "set xdata time; set timefmt '%s'; set format x '%H:%M:%S'; set xlabel 'UTC'"
                echo "set xrange ['$start':'$((end - 1))']; set yrange [-0.2:1.2]; set ytics ('down' 0, 'up' 1); set grid"
                echo "set multiplot layout ${#files[@]},1 title 'rtun\\_tunnel\\_up (rtun-monitor demo, min per second, scraped every 0.5 s)'"
                for i in "${!files[@]}"; do
                        echo "set title '${titles[$i]}' noenhanced"
                        echo "unset arrow; unset label"
                        f=${FAULT_AT[${titles[$i]}]:-}
                        [[ -z $f ]] || echo "set arrow from '${f%.*}', graph 0 to '${f%.*}', graph 1 nohead dt 2 lc rgb '#d50200'
set label 'fault' at '${f%.*}', graph 0.5 offset 0.5,0 tc rgb '#d50200'"
                        echo "plot '${files[$i]}' using 1:2 with steps lw 2 lc rgb '#2eb886' notitle"
                done
                echo "unset multiplot"
        } >"$OUTDIR/rtun_tunnel_up.gp"
        gnuplot "$OUTDIR/rtun_tunnel_up.gp" 2>"$OUTDIR/gnuplot.log" || { cat "$OUTDIR/gnuplot.log"; die "gnuplot failed"; }
        PNG_DONE=1
        say "    PNG (gnuplot): $PNG"
}

step "Graphed: Prometheus's view of tunnel a"
mkdir -p "$OUTDIR"
declare -A FAULT_AT=(["$UA"]=$A_T0)
sleep 2 # a couple more scrapes after the recovery
printf '%s  $ curl -G %s/api/v1/query_range --data-urlencode query=min_over_time(rtun_tunnel_up{name="%s"}[1s]) start=-60s step=1s%s\n' \
        "$D" "$LAB_PROM_URL" "$UA" "$N"
graph "$UA" || die "Prometheus's series for $UA does not show the tunnel going down and up"
ok "the outage is in Prometheus (rtun_tunnel_up 1 -> 0 -> 1)"

# ---------------------------------------------------------------------------------------------------
step "Break tunnel b differently: a half-open connection (a NAT mapping that vanished)"
say "nftables drops every packet of b's own TCP connection to its bastion. The ssh process runs, systemd"
say "says active, and the bastion keeps the forward's listener until its ClientAlive check gives up."
say "(Not polling the bastion port meanwhile: connections to a stale listener keep its session busy.)"
J0=$(jcount) A0=$(alert_count)
CPORT=$(lab_tunnel_clientport "$UB") || die "no TCP connection for $UB"
T0=$(now)
lab_fault_halfopen "$UB" || die "lab_fault_halfopen"
printf '%s  # nft: table inet %s { chain out { tcp sport %s drop; tcp dport %s drop } }%s\n' \
        "$D" "$LAB_NFT_TABLE" "$CPORT" "$CPORT" "$N"
ctr systemctl is-active "$UB"
FAULT_AT["$UB"]=$T0
say "The daemon's journal (times from the fault):"
watch_heal "$UB" "$J0" "$T0" 45 || true
lab_fault_clear || die "lab_fault_clear"
[[ -n $T_DOWN ]] || die "no 'down' for $UB within 45 s"
[[ -n $T_RESTART ]] || die "no restart of $UB within 45 s"
[[ -n $T_UP ]] || die "$UB did not recover within 45 s"
say "The tunnel's own journal: the restarted ssh met the stale listener until the bastion let go:"
lab_journal "$UB" --since "@${T0%.*}" | grep -E 'remote port forwarding failed' | uniq -c | indent || true
grep -h 'Timeout, client not responding' "$LAB/bastions/bastion-b.test/sshd.log" | tail -1 | sed 's/^/    bastion-b sshd: /' || true
say "What the Slack receiver got:"
wait_for 10 alerts_for "$A0" "$UB" down recovered || { alerts "$A0"; die "no down + recovered Slack alerts for $UB"; }
alerts "$A0"
printf '%s  $ lab_banner %s%s\n' "$D" "$PB" "$N"
BANNER=$(lab_wait_banner "$PB" 15) || true
indent <<<"$BANNER"
[[ $BANNER == SSH-* ]] || die "bastion port $PB does not answer after the heal"
ok "detected in $(secs "$T0" "$T_DOWN") s (mux probe timeouts), restarted at $(secs "$T0" "$T_RESTART") s, up again at $(secs "$T0" "$T_UP") s"
B_T0=$T0 B_DOWN=$T_DOWN B_UP=$T_UP
sleep 3 # a few scrapes after the recovery
say "Prometheus's view of both tunnels:"
graph "$UA" "$UB" || die "Prometheus's series do not show both outages"

# ---------------------------------------------------------------------------------------------------
step "Where things stand, and clean-up"
printf '%s  [container]# %s%s\n' "$D" "/lab/rtun-monitor status --config /lab/rtun.conf" "$N"
lab_exec /lab/rtun-monitor status --config /lab/rtun.conf 2>&1 | indent || die "final status: not every tunnel up"
curl -s "127.0.0.1:$MPORT/metrics" | grep -E '^rtun_(restarts_total|alerts_total)\{' | grep -v ' 0$' | indent || true
say ""
say "${B}Shown:${N}"
say "  - rtun-monitor found both reverse-ssh@ units over D-Bus and probed each forward end to end (mux)."
say "  - A stopped ssh (systemd: active (running)): detected in $(secs "$A_T0" "$A_DOWN") s, restarted, forward back at $(secs "$A_T0" "$A_UP") s."
say "  - A half-open connection: detected in $(secs "$B_T0" "$B_DOWN") s, healed at $(secs "$B_T0" "$B_UP") s, once the bastion freed the stale listener."
say "  - Slack alerts for each down and recovery; the outages graphed from Prometheus${PNG_DONE:+ ($PNG)}."
say "  - Total $(secs "$DEMO_START" "$(now)") s. Cleaning up: container, sshds, Prometheus, receiver, nft table, $LAB."
lab_cleanup
trap - EXIT
say "${G}demo passed${N}"
