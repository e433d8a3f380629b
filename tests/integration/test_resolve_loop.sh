#!/usr/bin/env bash
# `ssh -G` never blocks the daemon's loop (issue 10; and issue 9's rule that nothing a user's ssh_config
# says may stall it): a `Match exec` that sleeps 3 s for one tunnel's host, that tunnel restarted (so resolved
# anew) under the daemon with WatchdogSec=2s. Meanwhile /metrics answers every scrape at once, the other
# tunnel keeps being probed, the watchdog never fires, and the tunnel is up once `ssh -G` returns.
. "$(dirname "$0")/lib.sh"
t_lab_up

D=rtun-monitord.service
MP=$(lab_port_alloc) || t_die "metrics port"
URL=http://127.0.0.1:$MP
SLEEP=3
dshow() { lab_exec systemctl show -p "$1" --value $D; }
mval() { curl -s --max-time 2 "$URL/metrics" | awk -v p="$1" 'index($0, p) == 1 { print $NF; exit }'; }
up_of() { mval "rtun_tunnel_up{name=\"$1\""; }

t_daemon_install "--monitor.interval=1s --monitor.failures=2 --monitor.timeout=2s --metrics.listen=127.0.0.1:$MP" \
        'WatchdogSec=2s' || t_die "install $D"
lab_exec systemctl start $D || t_die "start $D (READY=1)"
t_until 60 'test "$(up_of $UA)$(up_of $UB)" = 11' ||
        t_fail "precondition: both tunnels up under the daemon within 60 s (got '$(up_of $UA)$(up_of $UB)')"
# Every ssh that reads the system ssh_config for bastion-a (ssh -G of the daemon, the tunnel's own ssh)
# now spends SLEEP seconds in `Match exec` first.
lab_exec cat /etc/ssh/ssh_config >"$LAB/ssh_config.orig" || t_die "ssh_config"
{ printf 'Match host bastion-a.test exec "sleep %s"\n    ServerAliveCountMax 3\n' "$SLEEP"; cat "$LAB/ssh_config.orig"; } \
        >"$LAB/ssh_config.slow" && lab_put /etc/ssh/ssh_config <"$LAB/ssh_config.slow" || t_die "slow ssh_config"
s=$(now)
lab_exec ssh -G bastion-a.test >/dev/null
t_expect "precondition: ssh -G bastion-a.test takes $SLEEP s now ($(since "$s") s)" le "$SLEEP" "$(since "$s")"

m0=$(dshow MainPID) n0=$(dshow NRestarts)
pb0=$(mval "rtun_probes_total{name=\"$UB\"")

# The restart gives a a new process: the daemon resolves it again, and that `ssh -G` takes SLEEP s.
lab_exec systemctl restart --no-block $UA
restarted=$(now)
worst=0 n=0 failed=0 slow=0 times=() states=() first_up=
st_of() { curl -s --max-time 2 "$URL/metrics" | awk -v p="rtun_tunnel_state{name=\"$1\"" \
        'index($0, p) == 1 && $NF == 1 { sub(/.*state="/, ""); sub(/".*/, ""); print; exit }'; }
while le "$(since "$restarted")" 5; do
        t=$(curl -s -o /dev/null --max-time 5 -w '%{http_code} %{time_total}' "$URL/metrics")
        n=$((n + 1))
        [[ ${t%% *} == 200 ]] || failed=$((failed + 1))
        le "${t#* }" "$worst" || worst=${t#* }
        le "${t#* }" 0.1 || slow=$((slow + 1))
        times+=("${t#* }")
        st=$(st_of $UA)
        states+=("$(since "$restarted"):$st")
        # Up again after it was not: the scrapes before the restart took effect still show the old process.
        [[ $st != up ]] && left=1
        [[ $st == up && -n ${left:-} && -z $first_up ]] && first_up=$(since "$restarted")
        sleep 0.1
done
pb1=$(mval "rtun_probes_total{name=\"$UB\"")
median=$(printf '%s\n' "${times[@]}" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
echo "during the resolution: $n scrapes, $failed failed, median ${median} s, slowest ${worst} s, $slow over 100 ms; b probed $((pb1 - pb0)) times"
echo "a's state as scraped (s since its restart:state): ${states[*]}"
t_eq "loop: every scrape answered (200)" "$failed" 0
# The issue's 100 ms is the typical scrape (median); every scrape within a generous functional bound for a
# loaded machine. The old code answered after the whole sleep (3 s).
t_expect "loop: scrapes answered at once (median $median s < 0.1 s)" le "$median" 0.1
t_expect "loop: no scrape waited for ssh -G (slowest $worst s < 1 s)" le "$worst" 1
t_expect "loop: the other tunnel kept being probed ($((pb1 - pb0)) probes in 5 s)" test $((pb1 - pb0)) -ge 3
t_match "resolving: a shown unknown while its ssh -G runs" "${states[*]}" ":unknown"
t_nomatch "resolving: a never judged down on its old resolution" "${states[*]}" ":(down|failed)"
t_eq "watchdog: did not fire (same MainPID)" "$(dshow MainPID)" "$m0"
t_eq "watchdog: NRestarts unchanged" "$(dshow NRestarts)" "$n0"
t_nomatch "watchdog: no timeout in the journal" "$(lab_exec journalctl --no-pager -o cat -u $D)" "[Ww]atchdog timeout"

# Once ssh -G answers, a is probed on what it resolved to: up, and not before the sleep was over.
t_until 30 'test "$(up_of $UA)" = 1'
t_eq "resolved: a up once ssh -G returned" "$(up_of $UA)" 1
[[ -n $first_up ]] || first_up=$(since "$restarted")
echo "a shown up again $first_up s after its restart (ssh -G sleeps $SLEEP s)"
t_expect "resolved: a's verdict waited for its resolution (first up $first_up s >= $SLEEP s)" le "$SLEEP" "$first_up"
t_match "resolved: b still up" "$(up_of $UB)" "^1$"

# An `ssh -G` that outlives its 5 s bound leaves the tunnel unresolved: once ssh -G is quick again the daemon
# tries again (30 s after the timeout), where the code before waited for the unit's next restart.
lab_put /etc/ssh/ssh_config <"$LAB/ssh_config.orig" || t_die "ssh_config back"
{ printf 'Match host bastion-a.test exec "sleep 8"\n    ServerAliveCountMax 3\n'; cat "$LAB/ssh_config.orig"; } |
        lab_put /etc/ssh/ssh_config || t_die "slower ssh_config"
lab_exec systemctl restart --no-block $UA
t_until 40 'lab_exec journalctl --no-pager -o cat -u $D | grep -q "$UA: .*ssh -G did not finish in time"' &&
        t_pass "timeout: the daemon's ssh -G for a ran out of time after ${WAITED}s" || t_fail "timeout: no resolution timeout for a in the daemon's journal"
t_eq "timeout: a unknown meanwhile" "$(st_of $UA)" unknown
lab_put /etc/ssh/ssh_config <"$LAB/ssh_config.orig" || t_die "ssh_config back"
t_until 90 'test "$(up_of $UA)" = 1' && t_pass "timeout: resolved again and up ${WAITED}s after ssh -G was quick again" ||
        t_fail "timeout: a never resolved again (state $(st_of $UA))"

lab_exec systemctl stop $D
t_summary
