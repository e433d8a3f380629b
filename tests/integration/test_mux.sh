#!/usr/bin/env bash
# The native ControlMaster probe in the daemon (issue 5), under a real systemd with real tunnels: mux probes
# open no SSH session on the bastion; a half-open connection, a stopped master and a cancelled remote
# forward (refused) are detected in time and healed; a bastion key without permitopen (prohibited) is
# reported and never restarted; tcp_info of each tunnel's connection is exported and explains a failure.
. "$(dirname "$0")/lib.sh"
t_lab_up

INTERVAL=1 FAILURES=2 TIMEOUT=2
BOUND=$((INTERVAL * FAILURES + TIMEOUT + 1)) # s, from the fault to "up -> down"
# The journal stamps a line when journald reads it, and the host's clock is read after nft has returned.
SLACK=0.05
D=rtun-mux-test.service

mainpid() { lab_unit_mainpid "$1"; }
accepted() { grep -c "Accepted publickey" "$LAB/bastions/$1/sshd.log"; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# The daemon's journal lines logged at or after T: "UNIXTIME MESSAGE".
djournal() {
        lab_exec journalctl --no-pager -o short-unix -u "$D" -S "@${1%.*}" |
                awk -v t="$1" '$1 + 0 >= t + 0 { ts = $1; sub(/^[^ ]+ [^ ]+ [^ ]+ /, ""); print ts, $0 }'
}
# jwait SINCE REGEX TIMEOUT: the time of the first daemon line since SINCE matching REGEX; 1 on timeout.
jwait() {
        local since=$1 re=$2 end line
        end=$(awk -v n="$(now)" -v t="$3" 'BEGIN { printf "%.3f", n + t }')
        while :; do
                line=$(djournal "$since" | grep -E -m 1 -- "$re") && { echo "${line%% *}"; return 0; }
                le "$(now)" "$end" || return 1
                sleep 0.1
        done
}
# listener_gone PORT PID TIMEOUT: waits (without connecting: that would keep a stale session alive) until
# PID no longer holds the bastion's listener on PORT.
listener_gone() {
        local i
        for ((i = 0; i < $3 * 10; i++)); do
                [[ $(lab_listener_pid "$1" 2>/dev/null) != "$2" ]] && return 0
                sleep 0.1
        done
        return 1
}
scrape() { curl -s --max-time 2 "http://127.0.0.1:$MP/metrics"; }
# metric NAME UNIT [EXTRA_LABEL_REGEX]: the sample's value, empty when absent.
metric() { scrape | awk -v n="$1" -v u="name=\"$2\"" -v x="${3:-}" 'index($0, n "{") == 1 && index($0, u) && $0 ~ x { print $NF; exit }'; }

# --- a third tunnel whose key lacks permitopen: every probe channel is administratively prohibited
lab_bastion_start bastion-c.test || t_die "bastion c"
PC=$(lab_port_alloc) || t_die "port c"
lab_bastion_authorize bastion-c.test "$PC" noopen || t_die "authorize c"
lab_tunnel_add bastion-c.test "$PC" || t_die "tunnel c"
UC=reverse-ssh@bastion-c.test.service

# --- status through the ControlMasters: probe mux, up, and no new session on the bastions
na=$(accepted bastion-a.test) nb=$(accepted bastion-b.test)
for i in 1 2 3; do t_monitor status; done
t_match "status: a up through mux" "$OUT" "$UA +[^ ]+ +localhost:$PA +up +mux"
t_match "status: b up through mux" "$OUT" "$UB +[^ ]+ +localhost:$PB +up +mux"
t_match "status: c prohibited" "$OUT" "$UC .*prohibited"
t_eq "3 mux status runs: no new session on bastion a" "$(accepted bastion-a.test)" "$na"
t_eq "3 mux status runs: no new session on bastion b" "$(accepted bastion-b.test)" "$nb"
for i in 1 2 3; do t_monitor status --monitor.probe=ssh --monitor.units="$UA"; done
t_match "status, ssh probe: a up" "$OUT" "$UA +[^ ]+ +localhost:$PA +up +ssh"
t_eq "3 ssh status runs: one new session each on bastion a" "$(accepted bastion-a.test)" "$((na + 3))"
echo "bastion a sessions: $na before and after 3 mux status runs, $(accepted bastion-a.test) after 3 ssh ones"

# --- the daemon, run by the container's systemd; c may leave its grace at once, so a restart would show
MP=$(lab_port_alloc) || t_die "metrics port"
printf '[tunnel "%s"]\ngrace = 1s\n' "$UC" >"$LAB/mux.conf"
a0=$(mainpid $UA) b0=$(mainpid $UB) c0=$(mainpid $UC)
na=$(accepted bastion-a.test) nb=$(accepted bastion-b.test)
start=$(now)
lab_exec systemd-run --quiet --unit "$D" -p Type=notify -E RTUN_MONITOR_LOG_LEVEL=debug \
        /lab/rtun-monitor daemon --config /lab/mux.conf --monitor.interval=${INTERVAL}s \
        --monitor.failures=$FAILURES --monitor.timeout=${TIMEOUT}s --heal.backoff=2s \
        --metrics.listen="127.0.0.1:$MP" || t_die "daemon did not start"
lab_on_cleanup "lab_exec systemctl stop $D"
t_eq "daemon: active" "$(lab_exec systemctl is-active $D)" active
sleep 4
probes_a=$(metric rtun_probes_total "$UA")
t_expect "daemon: a probed every interval (rtun_probes_total=$probes_a)" test "${probes_a:-0}" -ge 3
t_eq "daemon: a up" "$(metric rtun_tunnel_up "$UA")" 1
t_eq "daemon: b up" "$(metric rtun_tunnel_up "$UB")" 1
t_eq "daemon: $probes_a mux probes, no new session on bastion a" "$(accepted bastion-a.test)" "$na"
t_eq "daemon: no new session on bastion b" "$(accepted bastion-b.test)" "$nb"
for u in "$UA" "$UB"; do
        for m in rtun_tcp_rtt_seconds rtun_tcp_unacked_segments rtun_tcp_retransmits_total rtun_tcp_last_ack_age_seconds; do
                v=$(metric $m "$u")
                t_match "metrics: $m for ${u#reverse-ssh@} ($v)" "$v" '^[0-9.e+-]+$'
        done
done
rtt=$(metric rtun_tcp_rtt_seconds "$UA")
t_expect "metrics: a's rtt is plausible ($rtt s)" awk -v r="$rtt" 'BEGIN { exit !(r > 0 && r < 1) }'

# --- half-open: the tunnel's own TCP connection black-holed, new connections allowed
old=$(lab_listener_pid "$PA")
lab_fault_halfopen $UA || t_fail "fault halfopen"
f=$(now)
# The first failed probe (a debug line): the exported TCP view already shows the silence.
if jwait "$f" "^[^ ]+ $UA: up, probe timeout" 5 >/dev/null; then
        age=$(metric rtun_tcp_last_ack_age_seconds "$UA") unacked=$(metric rtun_tcp_unacked_segments "$UA")
        t_expect "half-open: rtun_tcp_last_ack_age_seconds after one failed probe is ${age:-absent} (>= ${TIMEOUT} s)" \
                le "$((TIMEOUT - 1)).9" "${age:--1}"
        echo "    TCP view after the first failed probe: last ACK ${age} s ago, ${unacked} segments unacked"
else
        t_fail "half-open: no failed probe logged within 5 s"
fi
td=$(jwait "$f" "^[^ ]+ $UA: up -> down" 15) || t_fail "half-open: no 'up -> down' within 15 s"
if [[ -n $td ]]; then
        detect=$(secs "$f" "$td")
        t_expect "half-open: detected in $detect s <= $BOUND s (interval x failures + timeout + 1)" le "$detect" "$(awk -v b=$BOUND -v s=$SLACK 'BEGIN { print b + s }')"
        line=$(djournal "$f" | grep -m 1 "$UA: up -> down")
        echo "    $line"
        t_match "half-open: reason timeout" "$line" "\(timeout: "
        t_match "half-open: reason names the TCP view" "$line" "(last ACK from bastion [0-9]+ s ago|no ACK from bastion for [0-9]+ s)"
fi
tr=$(jwait "$f" "^[^ ]+ $UA: restarted \(probe\)" 10) || t_fail "half-open: not restarted"
# The bastion frees the stale listener by ClientAlive (2 x 2 s), then the next start of the unit forwards.
listener_gone "$PA" "$old" 30 || t_fail "half-open: the bastion kept the stale listener 30 s"
tg=$(now)
t_match "half-open: bastion port answers again" "$(lab_wait_banner "$PA" 20)" "^SSH-"
tb=$(now)
trec=$(jwait "$f" "^[^ ]+ $UA: event recovered" 10) || t_fail "half-open: no 'recovered'"
lab_fault_clear
echo "half-open: fault -> detected $detect s, -> restarted $(secs "$f" "${tr:-$f}") s," \
        "-> stale listener freed $(secs "$f" "$tg") s, -> banner again $(secs "$f" "$tb") s, -> recovered $(secs "$f" "${trec:-$f}") s"
t_expect "half-open: a has a new MainPID" test "$(mainpid "$UA")" != "$a0"
t_eq "half-open: b not restarted" "$(djournal "$start" | grep -c -F "$UB: restarted")" 0

# --- a stopped master: /proc says T at the next probe, before any network timeout
lab_fault_stop $UB || t_fail "fault stop"
f=$(now)
td=$(jwait "$f" "^[^ ]+ $UB: up -> down" 10) || t_fail "stopped: not detected"
line=$(djournal "$f" | grep -m 1 "$UB: up -> down")
echo "    $line"
t_match "stopped: reason process_stopped (from /proc, not a mux timeout)" "$line" "\(process_stopped: ssh process [0-9]+ is stopped"
tr=$(jwait "$f" "^[^ ]+ $UB: restarted \(stopped\)" 10) || t_fail "stopped: not restarted"
t_match "stopped: bastion port b answers again" "$(lab_wait_banner "$PB" 15)" "^SSH-"
tb=$(now)
lab_fault_cont $UB
t_expect "stopped: b has a new MainPID" test "$(mainpid $UB)" != "$b0"
echo "stopped: fault -> detected $(secs "$f" "${td:-$f}") s, -> restarted $(secs "$f" "${tr:-$f}") s, -> banner again $(secs "$f" "$tb") s"

# --- refused: the master cancels its remote forward; the bastion then holds no listener for it
sleep 2 # a's backoff (2 s) since its restart above
a1=$(mainpid $UA)
lab_exec ssh -S "$(lab_unit_ctlpath $UA)" -O cancel -R "localhost:$PA:localhost:$LAB_TPORT" bastion-a.test ||
        t_fail "ssh -O cancel"
f=$(now)
lab_banner "$PA" 1 >/dev/null 2>&1
t_eq "refused: the bastion refuses connections to the forward's port" "$?" 3
t_eq "refused: the master still runs" "$(mainpid $UA)" "$a1"
td=$(jwait "$f" "^[^ ]+ $UA: up -> down" 10) || t_fail "refused: not detected"
line=$(djournal "$f" | grep -m 1 "$UA: up -> down")
echo "    $line"
t_match "refused: reason refused, from the master's journal" "$line" "\(refused: channel open refused by bastion: connect failed"
t_match "refused: the master logged connect failed" "$(lab_journal $UA -S "@${f%.*}")" "open failed: connect failed: Connection refused"
tr=$(jwait "$f" "^[^ ]+ $UA: restarted \(probe\)" 10) || t_fail "refused: not restarted"
t_match "refused: bastion port a answers again" "$(lab_wait_banner "$PA" 15)" "^SSH-"
tb=$(now)
echo "refused: cancel -> detected $(secs "$f" "${td:-$f}") s, -> restarted $(secs "$f" "${tr:-$f}") s, -> banner again $(secs "$f" "$tb") s"

# --- prohibited, all along: reported, never restarted
j=$(djournal "$start")
n=$(metric rtun_probe_failures_total "$UC" 'reason="prohibited"')
t_expect "prohibited: c failed ${n:-0} probes as prohibited" test "${n:-0}" -ge 10
# (grep per line: a bash regex's . also matches newlines)
t_match "prohibited: reason in the daemon's log" "$(grep -m 1 -E "$UC: .*prohibited: channel open refused" <<<"$j")" \
        "prohibited: channel open refused by bastion: administratively prohibited"
t_match "prohibited: declared down, not restarted (grace over)" "$(grep -m 1 -E "$UC: [a-z]+ -> down" <<<"$j")" \
        "-> down \(prohibited: .*not restarted"
t_match "prohibited: the master logged administratively prohibited" "$(lab_journal $UC)" "open failed: administratively prohibited"
t_eq "prohibited: never reported refused" "$(grep -c -E "$UC: .*(probe refused|\(refused)" <<<"$j")" 0
t_eq "prohibited: no restart of c" "$(grep -c -E "$UC: (restarted|would restart)" <<<"$j")" 0
t_eq "prohibited: c MainPID unchanged over $(secs "$start" "$(now)") s of daemon" "$(mainpid $UC)" "$c0"
t_eq "prohibited: c restarts metric 0" "$(scrape | awk -v u="name=\"$UC\"" 'index($0, "rtun_restarts_total{") == 1 && index($0, u) { s += $NF } END { print s + 0 }')" 0

t_eq "daemon still active" "$(lab_exec systemctl is-active $D)" active
t_summary
((T_FAIL == 0))
