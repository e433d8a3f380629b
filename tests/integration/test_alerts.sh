#!/usr/bin/env bash
# Alerts end to end (issue 4): real systemd, real tunnels, real receivers (receiver.py on the host's
# loopback). check mode with failing receivers, across runs (state file), a receiver down for a whole run,
# the daemon with a misbehaving third receiver, bad alert configuration, the all-down guard.
. "$(dirname "$0")/lib.sh"
# Sections 6 and 7 black-hole both tunnels' connections for several check runs or a daemon's spell, and need
# the bastions to keep those silent sessions (one dropped makes its tunnel really down and rightly restarted
# after the spell): ClientAlive 60 s x 3. Nothing else here waits on ClientAlive: sections 1-4 restart a
# stopped ssh through systemd, which SIGCONTs it after SIGTERM, so its session ends at once.
export LAB_CLIENT_ALIVE="60 3"
t_lab_up
# RTUN_MONITOR_BIN=build/asan/rtun-monitor: run this test with another build (e.g. under ASan).
if [[ -n ${RTUN_MONITOR_BIN:-} ]]; then cp "$RTUN_MONITOR_BIN" "$LAB/rtun-monitor" || t_die "copy $RTUN_MONITOR_BIN"; fi

ALL_EVENTS="down recovered restarted gave_up network_down network_up"
HOST=$(lab_exec hostname)
BA=127.0.0.1:$(lab_bastion_port bastion-a.test)
mainpid() { lab_unit_mainpid "$1"; }

# ---- receivers: recv_start NAME PORT [SCRIPT]; log $LAB/recv-NAME.log (appended), killed by pid at cleanup
recv_start() {
        local name=$1 port=$2 script=${3:-} i
        python3 "$T_SRC/tests/integration/receiver.py" --port "$port" --log "$LAB/recv-$name.log" \
                --script "$script" >"$LAB/recv-$name.out" 2>&1 &
        echo $! >"$LAB/recv-$name.pid"
        lab_on_cleanup "recv_stop $name"
        for ((i = 0; i < 50; i++)); do
                grep -q '^PORT' "$LAB/recv-$name.out" && return 0
                sleep 0.1
        done
        t_fail "receiver $name did not start: $(cat "$LAB/recv-$name.out")"
        return 1
}
recv_stop() {
        local f=$LAB/recv-$1.pid pid
        [[ -f $f ]] || return 0
        pid=$(cat "$f")
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        rm -f "$f"
}
# One line per request answered 200, in arrival order: "EVENT UNIT" (unit "-" for host-wide events).
hook_got() {
        jq -r 'select(.answer == "200") | .body | fromjson | "\(.event) \(if .name == "" then "-" else .name end)"' \
                "$LAB/recv-$1.log" 2>/dev/null
}
slack_got() {
        jq -r '{"Tunnel down": "down", "Tunnel recovered": "recovered", "Tunnel restarted": "restarted",
                "Gave up restarting tunnel": "gave_up", "Network down": "network_down", "Network up": "network_up"} as $ev
               | select(.answer == "200") | .body | fromjson | .text
               | (capture("^(?<t>[^:]+): (?<u>[^ ]+) on ") // (capture("^(?<t>.+) on ") + {u: "-"}))
               | "\($ev[.t] // .t) \(.u)"' "$LAB/recv-$1.log" 2>/dev/null
}
n_requests() { [[ -f $LAB/recv-$1.log ]] && wc -l <"$LAB/recv-$1.log" || echo 0; }
# wait_got KIND NAME N TIMEOUT: until N requests were answered 200
wait_got() {
        local i
        for ((i = 0; i < $4 * 10; i++)); do
                (($(${1}_got "$2" | wc -l) >= $3)) && return 0
                sleep 0.1
        done
        return 1
}

# conf NAME HOOK_PORT SLACK_PORT [HOOK_EVENTS [SLACK_EVENTS]]: /lab/NAME.conf with a webhook and a Slack
# receiver; events default to all of them, "-" leaves the key out (the built-in default).
conf() {
        local he=${4:-$ALL_EVENTS} se=${5:-${4:-$ALL_EVENTS}}
        cat >"$LAB/$1.conf" <<EOF
[monitor]
grace = 2s

[alert hook]
type = webhook
url = http://127.0.0.1:$2/hook/T1
$([[ $he == - ]] || echo "events = $he")

[alert slack]
type = slack
url_file = /lab/$1.slack-url
$([[ $se == - ]] || echo "events = $se")
EOF
        echo "http://127.0.0.1:$3/services/T0/B0/x" >"$LAB/$1.slack-url"
}
# a_check STATE CONF ARGS...: `check` with its own state directory (/lab/state-STATE = $LAB/state-STATE)
a_check() {
        local st=$1 cf=$2 start
        shift 2
        start=$(date +%s.%N)
        OUT=$(lab_exec env RTUN_MONITOR_LOG_LEVEL=info STATE_DIRECTORY=/lab/state-$st /lab/rtun-monitor check \
                --config "/lab/$cf.conf" --metrics.textfile="/lab/state-$st.prom" "$@" 2>&1)
        RC=$?
        SECS=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
        echo "---- check (state $st, $cf.conf $*): exit $RC in $SECS s"
        echo "$OUT" | sed 's/^/    /'
}
saved_alerts() { jq -r '(.alerts // [])[] | "\(.receiver) \(.event) \(.name)"' "$LAB/state-$1/state" 2>/dev/null; }
prom() { grep -F "$2" "$LAB/state-$1.prom" | awk '{ print $2 }'; }

SEQ_A="down $UA
restarted $UA
recovered $UA"

# ===== 1 + 2: a stopped ssh healed by one check run; the receivers fail the first attempts; 3 runs in a row
P1H=$(lab_port_alloc) && P1S=$(lab_port_alloc) || t_die "ports"
recv_start h1 "$P1H" "500,500,200" && recv_start s1 "$P1S" "500,200" || t_die "receivers"
conf c1 "$P1H" "$P1S"
a0=$(mainpid $UA) b0=$(mainpid $UB)
lab_fault_stop $UA || t_fail "fault stop"
a_check 1 c1
t_eq "1: check exits 0 (healed)" "$RC" 0
t_expect "1: a restarted" test "$(mainpid $UA)" != "$a0"
t_eq "1: b untouched" "$(mainpid $UB)" "$b0"
t_eq "1: webhook got down, restarted, recovered once each, in order" "$(hook_got h1)" "$SEQ_A"
t_eq "1: slack got down, restarted, recovered once each, in order" "$(slack_got s1)" "$SEQ_A"
t_eq "1: webhook: 2 failed attempts + 3 deliveries" "$(jq -r .answer "$LAB/recv-h1.log" | paste -sd,)" "500,500,200,200,200"
t_eq "1: slack: 1 failed attempt + 3 deliveries" "$(jq -r .answer "$LAB/recv-s1.log" | paste -sd,)" "500,200,200,200"
t_match "1: the failure is logged once, with its retry" "$OUT" "Alert down for $UA to receiver hook failed \(HTTP 500\), retrying in"
t_eq "1: nothing left in the state file" "$(saved_alerts 1)" ""
t_eq "1: textfile: rtun_alerts_total hook down" "$(prom 1 'rtun_alerts_total{receiver="hook",event="down"}')" 1
t_eq "1: textfile: rtun_alerts_total slack recovered" "$(prom 1 'rtun_alerts_total{receiver="slack",event="recovered"}')" 1
t_eq "1: textfile: no failures" "$(prom 1 'rtun_alert_failures_total{receiver="hook"}')" 0

# The webhook payloads, field by field (contract.md).
W=$(jq -c 'select(.answer == "200") | .body | fromjson' "$LAB/recv-h1.log")
t_eq "1: webhook keys" "$(jq -rc 'keys_unsorted | sort | join(",")' <<<"$W" | sort -u)" \
        "bastion,event,forward,host,name,reason,restarts,status,timestamp,version"
t_eq "1: webhook version" "$(jq -r .version <<<"$W" | sort -u)" 1
t_eq "1: webhook status" "$(jq -r .status <<<"$W" | paste -sd,)" "firing,firing,resolved"
t_eq "1: webhook host" "$(jq -r .host <<<"$W" | sort -u)" "$HOST"
t_eq "1: webhook bastion" "$(jq -r .bastion <<<"$W" | sort -u)" "$BA"
t_eq "1: webhook forward" "$(jq -r .forward <<<"$W" | sort -u)" "localhost:$PA"
t_match "1: webhook down reason" "$(jq -r 'select(.event == "down") | .reason' <<<"$W")" "^process_stopped: "
t_eq "1: webhook recovered reason empty" "$(jq -r 'select(.event == "recovered") | .reason' <<<"$W")" ""
t_eq "1: webhook restarts (number)" "$(jq -c .restarts <<<"$W" | paste -sd,)" "0,1,1"
t_eq "1: webhook timestamps RFC 3339 UTC" \
        "$(jq -r .timestamp <<<"$W" | grep -cE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$')" 3
ts=$(jq -r 'select(.event == "down") | .timestamp' <<<"$W")
age=$(($(date +%s) - $(date -d "$ts" +%s 2>/dev/null || echo 0)))
t_expect "1: webhook timestamp is now ($ts, ${age}s ago)" test "$age" -ge 0 -a "$age" -lt 120
t_eq "1: webhook Content-Type" "$(jq -r '.headers["Content-Type"]' "$LAB/recv-h1.log" | sort -u)" "application/json"
t_eq "1: webhook path" "$(jq -r .path "$LAB/recv-h1.log" | sort -u)" "/hook/T1"

# The Slack payloads.
S=$(jq -c 'select(.answer == "200") | .body | fromjson' "$LAB/recv-s1.log")
t_eq "1: slack colors" "$(jq -r '.attachments[0].color' <<<"$S" | paste -sd,)" "#d50200,#daa038,#2eb886"
t_match "1: slack text" "$(jq -r 'select(.attachments[0].color == "#d50200") | .text' <<<"$S")" \
        "^Tunnel down: $UA on $HOST \(process_stopped: "
t_eq "1: slack block is a section" "$(jq -r '.attachments[0].blocks[0].type' <<<"$S" | sort -u)" section
fields=$(jq -r '[.attachments[0].blocks[0].fields[].text | split("\n")[0]] | join(",")' <<<"$S" | sort -u)
t_eq "1: slack fields" "$fields" "*Unit*,*Bastion*,*Forward*,*Reason*,*Host*,*Time*"
t_eq "1: slack unit field" "$(jq -r '.attachments[0].blocks[0].fields[0].text' <<<"$S" | sed -n 2p | sort -u)" "$UA"
t_eq "1: slack path (from url_file)" "$(jq -r .path "$LAB/recv-s1.log" | sort -u)" "/services/T0/B0/x"

# Two more runs, like the timer: nothing is repeated.
a_check 1 c1
t_eq "2: second run exits 0" "$RC" 0
a_check 1 c1
t_eq "2: third run exits 0" "$RC" 0
t_eq "2: webhook: still exactly the first run's three" "$(hook_got h1)" "$SEQ_A"
t_eq "2: slack: still exactly the first run's three" "$(slack_got s1)" "$SEQ_A"
t_eq "2: webhook: no request at all after the first run" "$(n_requests h1)" 5
t_eq "2: slack: no request at all after the first run" "$(n_requests s1)" 4
t_eq "2: state remembers nothing is announced" "$(jq -r "[.tunnels[].announced_down] | unique | join(\",\")" "$LAB/state-1/state")" false

# ===== 3: receivers unreachable for a whole run (webhook: nothing listening; Slack: hangs); the next run
# delivers exactly once, in order
P3H=$(lab_port_alloc) && P3S=$(lab_port_alloc) || t_die "ports"
recv_start s3 "$P3S" "hang,hang,hang,hang" || t_die "receiver s3"
conf c3 "$P3H" "$P3S"
a0=$(mainpid $UA)
lab_fault_stop $UA || t_fail "fault stop"
a_check 3 c3
t_eq "3: check exits 0 (healing does not wait for alerts)" "$RC" 0
t_expect "3: a restarted" test "$(mainpid $UA)" != "$a0"
t_expect "3: the run ends at the alert drain deadline (${SECS}s < 30)" awk -v s="$SECS" 'BEGIN { exit !(s < 30) }'
t_eq "3: nothing delivered to slack" "$(slack_got s3)" ""
t_eq "3: all six kept in the state file, in order" "$(saved_alerts 3)" "hook down $UA
hook restarted $UA
hook recovered $UA
slack down $UA
slack restarted $UA
slack recovered $UA"
t_match "3: the hung request is in flight at the deadline" "$(jq -r .answer "$LAB/recv-s3.log" | paste -sd,)" "hang"
recv_stop s3
recv_start s3b "$P3S" "" && recv_start h3 "$P3H" "" || t_die "receivers 3b"
a_check 3 c3
t_eq "3: next run exits 0" "$RC" 0
t_eq "3: webhook got the saved events once, in order" "$(hook_got h3)" "$SEQ_A"
t_eq "3: slack got the saved events once, in order" "$(slack_got s3b)" "$SEQ_A"
t_eq "3: webhook down keeps its first timestamp" \
        "$(jq -r 'select(.answer == "200") | .body | fromjson | select(.event == "down") | .timestamp' "$LAB/recv-h3.log" |
                while read -r t; do date -d "$t" +%s; done | awk -v now="$(date +%s)" '{ print (now - $1 >= 10) }')" 1
t_eq "3: state file emptied" "$(saved_alerts 3)" ""
a_check 3 c3
t_eq "3: third run: nothing more to webhook" "$(n_requests h3)" 3
t_eq "3: third run: nothing more to slack" "$(n_requests s3b)" 3

# ===== 3b: --dry-run: the down alert says what would have been done; nothing restarted, nothing "restarted"
P8H=$(lab_port_alloc) && P8S=$(lab_port_alloc) || t_die "ports"
recv_start h8 "$P8H" "" && recv_start s8 "$P8S" "" || t_die "receivers 8"
conf c8 "$P8H" "$P8S"
a0=$(mainpid $UA)
lab_fault_stop $UA || t_fail "fault stop"
a_check 8 c8 --dry-run
t_eq "3b: dry run: exit 1" "$RC" 1
t_eq "3b: dry run: a not restarted" "$(mainpid $UA)" "$a0"
t_eq "3b: dry run: only down" "$(hook_got h8)" "down $UA"
t_match "3b: dry run: the reason says would restart" \
        "$(jq -r 'select(.answer == "200") | .body | fromjson | .reason' "$LAB/recv-h8.log")" \
        "^process_stopped: .* \(dry run: would restart\)$"
lab_fault_cont $UA

# ===== 4: the daemon, with a third receiver that misbehaves in every way (its cost: its own retries)
P4H=$(lab_port_alloc) && P4S=$(lab_port_alloc) && P4B=$(lab_port_alloc) && P4M=$(lab_port_alloc) || t_die "ports"
recv_start h4 "$P4H" "500,200" && recv_start s4 "$P4S" "" && recv_start b4 "$P4B" "garbage,reset,close,hang,hang" ||
        t_die "receivers 4"
conf c4 "$P4H" "$P4S"
printf '\n[alert bad]\ntype = webhook\nurl = http://127.0.0.1:%s/\nevents = %s\n' "$P4B" "$ALL_EVENTS" >>"$LAB/c4.conf"
lab_exec systemd-run --quiet --unit=rtun-alerts-daemon -p Type=notify -p WatchdogSec=20 \
        -E RTUN_MONITOR_LOG_LEVEL=info /lab/rtun-monitor daemon --config /lab/c4.conf --monitor.interval=1s \
        --metrics.listen=127.0.0.1:$P4M || t_fail "4: systemd-run"
t_eq "4: daemon active" "$(lab_exec systemctl is-active rtun-alerts-daemon)" active
sleep 2
a0=$(mainpid $UA)
lab_fault_stop $UA || t_fail "fault stop"
wait_got hook h4 3 25
t_eq "4: webhook got down, restarted, recovered once, in order" "$(hook_got h4)" "$SEQ_A"
wait_got slack s4 3 5
t_eq "4: slack got down, restarted, recovered once, in order" "$(slack_got s4)" "$SEQ_A"
t_expect "4: a restarted" test "$(mainpid $UA)" != "$a0"
# retries after about 1, 2, 4 s: then the bad receiver hangs; the others are done, the daemon busy as usual
for ((i = 0; i < 150 && $(n_requests b4) < 4; i++)); do sleep 0.1; done
t_eq "4: the bad receiver's attempts so far" "$(jq -r .answer "$LAB/recv-b4.log" | paste -sd,)" "garbage,reset,close,hang"
M1=$(curl -s -m 2 "http://127.0.0.1:$P4M/metrics")
t_match "4: /metrics answers while a receiver hangs" "$M1" 'rtun_alerts_total\{receiver="hook",event="recovered"\} 1'
t_match "4: nothing given up" "$M1" 'rtun_alert_failures_total\{receiver="bad"\} 0'
p1=$(grep -F "rtun_probes_total{name=\"$UB\"" <<<"$M1" | awk '{ print $2 }')
sleep 2
p2=$(curl -s -m 2 "http://127.0.0.1:$P4M/metrics" | grep -F "rtun_probes_total{name=\"$UB\"" | awk '{ print $2 }')
t_expect "4: probing goes on while a receiver hangs ($p1 -> $p2)" test "${p2:-0}" -gt "${p1:-0}"
t_eq "4: still nothing repeated (webhook)" "$(hook_got h4)" "$SEQ_A"
lab_exec systemctl stop rtun-alerts-daemon
t_match "4: daemon stopped cleanly" "$(lab_exec journalctl -u rtun-alerts-daemon -o cat --no-pager)" \
        "Deactivated successfully"

# ===== 5: bad alert configuration: exit 2 with FILE:LINE, before anything runs
printf '[alert a]\ntype = webhook\nurl_file = /lab/no-such-url\n' >"$LAB/bad1.conf"
printf '[monitor]\ninterval = 10s\n\n[alert a]\ntype = webhook\nevents = down\n' >"$LAB/bad2.conf"
printf '[alert a]\ntype = pagerduty\nurl = http://127.0.0.1:1/\n' >"$LAB/bad3.conf"
printf '[alert a]\ntype = slack\nurl = http://127.0.0.1:1/\nevents = down exploded\n' >"$LAB/bad4.conf"
want=("/lab/bad1.conf:3: .*url_file.*/lab/no-such-url" "/lab/bad2.conf:4: .*needs url"
      "/lab/bad3.conf:2: .*pagerduty" "/lab/bad4.conf:4: .*exploded")
for i in 1 2 3 4; do
        for mode in check daemon; do
                t_monitor $mode --config /lab/bad$i.conf
                t_eq "5: bad$i.conf, $mode: exit 2" "$RC" 2
                t_match "5: bad$i.conf, $mode: FILE:LINE" "$OUT" "${want[i - 1]}"
        done
done

# ===== 6: the all-down guard: both tunnels' own connections black-holed at once (a real network fault;
# new connections pass). A half-open probe fails by its timeout: 2 s keeps each check run short.
P6H=$(lab_port_alloc) && P6S=$(lab_port_alloc) || t_die "ports"
recv_start h6 "$P6H" "" && recv_start s6 "$P6S" "" || t_die "receivers 6"
conf c6 "$P6H" "$P6S" "$ALL_EVENTS" "network_down network_up"
a_check 6 c6 --monitor.timeout=2s # a baseline state: both up
a0=$(mainpid $UA) b0=$(mainpid $UB)
lab_fault_halfopen $UA && lab_fault_halfopen $UB || t_fail "6: fault half-open both"
# The second call adds its rules to the first's table (nft -f adds to an existing table and chain).
t_eq "6: both connections black-holed (4 drop rules)" "$(nft list table inet "$LAB_NFT_TABLE" | grep -c ' drop$')" 4
a_check 6 c6 --monitor.timeout=2s
t_eq "6: check exits 1 (both down)" "$RC" 1
t_eq "6: a not restarted" "$(mainpid $UA)" "$a0"
t_eq "6: b not restarted" "$(mainpid $UB)" "$b0"
t_match "6: guard logged" "$OUT" "All 2 tunnels are down at once"
t_match "6: a half-open probe fails by timeout" "$OUT" "$UA: .*timeout"
t_eq "6: webhook: one network_down" "$(hook_got h6 | grep -c '^network_down -$')" 1
t_eq "6: slack (events = network_down network_up): only network_down" "$(slack_got s6)" "network_down -"
t_eq "6: no restarted event" "$(hook_got h6 | grep -c '^restarted')" 0
t_eq "6: alert once: the tunnels' downs are folded into network_down" "$(hook_got h6 | paste -sd,)" "network_down -"
echo "    events of the all-down run (webhook): $(hook_got h6 | paste -sd,)"
t_eq "6: network_down payload" \
        "$(jq -r 'select(.answer == "200") | .body | fromjson | select(.event == "network_down") | "\(.status) \(.host) \(.reason)"' "$LAB/recv-h6.log")" \
        "firing $HOST every tunnel failed its probe at once"
a_check 6 c6 --monitor.timeout=2s
t_eq "6: still down: no new event" "$(n_requests h6)" "$(hook_got h6 | wc -l)"
n_before=$(n_requests h6)
t_eq "6: still down: nothing sent" "$(hook_got h6 | grep -c '^network_down')" 1
t_eq "6: still down: a not restarted" "$(mainpid $UA)" "$a0"
t_eq "6: still down: b not restarted" "$(mainpid $UB)" "$b0"
lab_fault_clear || t_fail "6: fault clear"
# TCP resends what the spell held back after its RTO backoff (seconds): until both forward end to end again,
# a probe would rightly fail.
t_until 90 '[[ $(lab_banner "$PA" 2 2>/dev/null) == SSH-* && $(lab_banner "$PB" 2 2>/dev/null) == SSH-* ]]' ||
        t_fail "6: both tunnels forward again within 90 s of the fault's end"
echo "    both tunnels forward again $WAITED s after the fault's end"
a_check 6 c6 --monitor.timeout=2s
t_eq "6: resumed: check exits 0" "$RC" 0
t_eq "6: resumed: a not restarted" "$(mainpid $UA)" "$a0"
t_eq "6: resumed: b not restarted" "$(mainpid $UB)" "$b0"
t_eq "6: resumed: one network_up (webhook)" "$(hook_got h6 | grep -c '^network_up -$')" 1
t_eq "6: resumed: slack (filtered) got network_down, network_up" "$(slack_got s6 | paste -sd,)" "network_down -,network_up -"
t_eq "6: resumed: network_up is last" "$(hook_got h6 | tail -n 1)" "network_up -"
t_eq "6: resumed: no per-tunnel recovered either" "$(hook_got h6 | paste -sd,)" "network_down -,network_up -"
echo "    events after resuming (webhook): $(hook_got h6 | tail -n +$((n_before + 1)) | paste -sd,)"
a_check 6 c6 --monitor.timeout=2s
t_eq "6: later run: nothing more" "$(hook_got h6 | grep -c network_)" 2

# ===== 6b: both ssh stopped (SIGSTOP: a frozen cgroup, a debugger) is local, not the network (F11): each is
# restarted, reason stopped, and no network_down
P9H=$(lab_port_alloc) && P9S=$(lab_port_alloc) || t_die "ports"
recv_start h9 "$P9H" "" && recv_start s9 "$P9S" "" || t_die "receivers 9"
conf c9 "$P9H" "$P9S"
a_check 9 c9 # a baseline state: both up
a0=$(mainpid $UA) b0=$(mainpid $UB)
lab_fault_stop $UA $UB || t_fail "6b: fault stop both"
a_check 9 c9
t_eq "6b: check exits 0 (both healed)" "$RC" 0
t_expect "6b: a restarted" test "$(mainpid $UA)" != "$a0"
t_expect "6b: b restarted" test "$(mainpid $UB)" != "$b0"
t_match "6b: a restarted, reason stopped" "$OUT" "$UA: restarted \(stopped\)"
t_match "6b: b restarted, reason stopped" "$OUT" "$UB: restarted \(stopped\)"
t_nomatch "6b: no guard" "$OUT" "tunnels are down at once"
t_eq "6b: webhook: no network_down" "$(hook_got h9 | grep -c '^network_')" 0
t_eq "6b: webhook: down, restarted, recovered for each" "$(hook_got h9 | sort | paste -sd,)" \
        "$(printf '%s\n' "down $UA" "down $UB" "recovered $UA" "recovered $UB" "restarted $UA" "restarted $UB" | sort | paste -sd,)"
lab_fault_cont $UA $UB # the old processes, if any are left

# ===== 7: the all-down guard in the daemon, both connections black-holed; the webhook keeps the default
# events (down recovered gave_up). monitor.timeout 3 s: a half-open probe fails by its timeout.
P7H=$(lab_port_alloc) && P7S=$(lab_port_alloc) && P7M=$(lab_port_alloc) || t_die "ports"
recv_start h7 "$P7H" "" && recv_start s7 "$P7S" "" || t_die "receivers 7"
conf c7 "$P7H" "$P7S" - "$ALL_EVENTS"
lab_exec systemd-run --quiet --unit=rtun-alerts-guard -p Type=notify -E RTUN_MONITOR_LOG_LEVEL=info \
        /lab/rtun-monitor daemon --config /lab/c7.conf --monitor.interval=1s --monitor.timeout=3s \
        --metrics.listen=127.0.0.1:$P7M || t_fail "7: systemd-run"
sleep 2
a0=$(mainpid $UA) b0=$(mainpid $UB)
dropped() { grep -c "Timeout, client not responding" "$LAB/bastions/$1/sshd.log"; }
declare -A dropped0=([bastion-a.test]=$(dropped bastion-a.test) [bastion-b.test]=$(dropped bastion-b.test))
lab_fault_halfopen $UA && lab_fault_halfopen $UB || t_fail "7: fault half-open both"
wait_got slack s7 1 30
sleep 3 # time enough for a wrong restart
t_eq "7: a not restarted" "$(mainpid $UA)" "$a0"
t_eq "7: b not restarted" "$(mainpid $UB)" "$b0"
t_eq "7: slack: one network_down" "$(slack_got s7 | grep -c '^network_down -$')" 1
lab_fault_clear || t_fail "7: fault clear" # both at once; TCP then resends after its RTO backoff (seconds)
wait_got slack s7 2 60
sleep 2
t_eq "7: slack: one network_up" "$(slack_got s7 | grep -c '^network_up -$')" 1
echo "    daemon, all down then resumed (slack): $(slack_got s7 | paste -sd,)"
t_match "7: slack: network_down, then network_up" "$(slack_got s7 | paste -sd,)" "^network_down -,network_up -"
# After network_up a tunnel is its own again. One whose silent session the bastion dropped meanwhile
# (ClientAlive 60 s x 3: only a spell stretched by a very loaded machine) is really down and is rightly
# restarted; any other event is a wrong one.
for b in bastion-a.test bastion-b.test; do
        if (($(dropped $b) > ${dropped0[$b]})); then
                echo "    $b dropped a silent session during the spell: events for it after network_up are right"
                continue
        fi
        n=$(slack_got s7 | tail -n +3 | grep -c "reverse-ssh@$b.service")
        t_eq "7: slack: nothing for reverse-ssh@$b after network_up" "$n" 0
        ((n == 0)) ||
                { lab_exec journalctl -u rtun-alerts-guard -o short-precise --no-pager | tail -n 40 | sed 's/^/    | /'
                  tail -n 20 "$LAB/bastions/$b/sshd.log" | sed 's/^/    sshd | /'; }
        t_eq "7: webhook (default events: down recovered gave_up): nothing for reverse-ssh@$b, its down was folded" \
                "$(hook_got h7 | grep -c "reverse-ssh@$b.service")" 0
done
lab_exec systemctl stop rtun-alerts-guard
t_match "7: daemon stopped cleanly" "$(lab_exec journalctl -u rtun-alerts-guard -o cat --no-pager)" \
        "Deactivated successfully"

t_summary
((T_FAIL == 0))
