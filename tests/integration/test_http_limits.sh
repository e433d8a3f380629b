#!/usr/bin/env bash
# /metrics under a connection flood (issue 9, defects 2 and 8): the daemon as systemd runs it, with a short
# WatchdogSec, flooded from the host (the container shares its network) by idle half-sent requests, then
# by connections dripping a header line every 5 s. Scrapes keep being answered within the bound, the
# flood's connections are dropped within 10 s of accept, the next scrape after a flood is answered at once,
# and the watchdog never fires (same MainPID, NRestarts unchanged). Then a non-loopback metrics.listen
# logs its one warning.
. "$(dirname "$0")/lib.sh"
T_START=$(date +%s.%N)
t_lab_up

D=rtun-monitord.service
MP=$(lab_port_alloc) || t_die "metrics port"
URL=http://127.0.0.1:$MP
SCRAPE_BOUND=15   # the reviewer's bound on a scrape under a flood
PROMPT_BOUND=3    # what a scrape really takes: a new connection evicts a stale one (slack for a busy machine)
DROP_BOUND=13     # 10 s request deadline + slack for a busy machine

dshow() { lab_exec systemctl show -p "$1" --value $D; }
install_dropin() {
        printf '[Service]\nExecStart=\nExecStart=/lab/rtun-monitor daemon --monitor.interval=1s --metrics.listen=%s\nWatchdogSec=3s\n' \
                "$1" | lab_put /etc/systemd/system/$D.d/50-lab.conf && lab_exec systemctl daemon-reload
}

# flood MODE COUNT SECONDS OUT: COUNT connections to the metrics port, each sending half a request, held
# for SECONDS. idle: then nothing; drip: a header line every 5 s, and each reopened when the server closes
# it; churn: idle, but reopened at once (a connect flood). OUT gets "opened N closed_by_server N
# longest_life S" (life: from connect to the server's close). SRC (default 127.0.0.1, the scraper's own
# address): the flood's source address.
flood() {
        "$LAB_PY" - "$MP" "$@" <<'PYEOF'
import selectors, socket, sys, time
port, mode, count, seconds, out = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
src = sys.argv[6] if len(sys.argv) > 6 else "127.0.0.1"
sel, conns = selectors.DefaultSelector(), {}
opened = closed = 0
longest = 0.0
def open_one():
    global opened
    s = socket.create_connection(("127.0.0.1", port), timeout=2, source_address=(src, 0))
    s.sendall(b"GET /metrics HTTP/1.1\r\n")
    s.setblocking(False)
    conns[s] = [time.monotonic(), time.monotonic()]  # opened, last drip
    sel.register(s, selectors.EVENT_READ)
    opened += 1
end = time.monotonic() + seconds
for _ in range(count):
    open_one()
while time.monotonic() < end:
    for key, _ in sel.select(timeout=0.2):
        s = key.fileobj
        try:
            data = s.recv(4096)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            data = b""
        if not data:  # closed by the server: note its life, take its place again
            longest = max(longest, time.monotonic() - conns[s][0])
            closed += 1
            sel.unregister(s); s.close(); del conns[s]
            if mode != "idle" and time.monotonic() < end:
                open_one()
    if mode == "drip":
        for s, c in list(conns.items()):
            if time.monotonic() - c[1] >= 5:
                try:
                    s.send(b"X-Drip: 1\r\n")
                except OSError:
                    pass
                c[1] = time.monotonic()
with open(out, "w") as f:
    f.write(f"opened {opened} closed_by_server {closed} longest_life {longest:.2f}\n")
PYEOF
}

# scrape_during PID: scrapes every 0.5 s while PID runs; sets ASKED, ANSWERED, WORST (seconds).
scrape_during() {
        local s code t
        ASKED=0 ANSWERED=0 WORST=0
        while kill -0 "$1" 2>/dev/null; do
                s=$(now)
                code=$(curl -s -o /dev/null --max-time $SCRAPE_BOUND -w '%{http_code}' "$URL/metrics")
                t=$(since "$s")
                ASKED=$((ASKED + 1))
                [[ $code == 200 ]] && ANSWERED=$((ANSWERED + 1))
                le "$t" "$WORST" || WORST=$t
                sleep 0.5
        done
}

# flood_check MODE COUNT SECONDS: floods, scrapes meanwhile, then checks the figures.
flood_check() {
        local mode=$1 count=$2 seconds=$3 src=${4:-127.0.0.1} pid s code t
        flood "$mode" "$count" "$seconds" "$LAB/flood.$mode" "$src" &
        pid=$!
        lab_on_cleanup "kill $pid 2>/dev/null"
        sleep 1
        scrape_during "$pid"
        wait "$pid"
        echo "$mode flood of $count for $seconds s: $ANSWERED of $ASKED scrapes answered, the slowest after $WORST s"
        echo "$mode flood: $(cat "$LAB/flood.$mode" 2>/dev/null)"
        t_expect "$mode flood: the flooder ran" test -s "$LAB/flood.$mode"
        t_expect "$mode flood: every scrape answered ($ANSWERED of $ASKED)" test "$ASKED" -gt 5 -a "$ANSWERED" = "$ASKED"
        t_expect "$mode flood: the slowest scrape within $SCRAPE_BOUND s ($WORST s)" le "$WORST" $SCRAPE_BOUND
        t_expect "$mode flood: every scrape answered promptly, within $PROMPT_BOUND s ($WORST s)" le "$WORST" $PROMPT_BOUND
        read -r _ opened _ closed _ life <"$LAB/flood.$mode"
        t_expect "$mode flood: the server closed the flood's connections ($closed of $opened)" test "${closed:-0}" -ge "$count"
        t_expect "$mode flood: each closed within $DROP_BOUND s of its connect (longest ${life:-?} s)" le "${life:-99}" $DROP_BOUND
        s=$(now)
        code=$(curl -s -o /dev/null --max-time $SCRAPE_BOUND -w '%{http_code}' "$URL/metrics")
        t=$(since "$s")
        echo "$mode flood over: the next scrape answered $code after $t s"
        t_expect "$mode flood over: the next scrape answered at once ($code after $t s)" test "$code" = 200 -a "$(awk -v t="$t" 'BEGIN { print (t < 1) }')" = 1
}

# --- the daemon as shipped, plus a drop-in: loopback metrics, WatchdogSec=3s
lab_put /etc/systemd/system/$D <"$T_SRC/systemd/$D" || t_die "install $D"
install_dropin "127.0.0.1:$MP" || t_die "drop-in"
lab_exec systemctl start $D
t_eq "start: systemctl start returns 0" "$?" 0
t_eq "start: WatchdogUSec from the drop-in" "$(dshow WatchdogUSec)" 3s
for _ in $(seq 50); do [[ $(curl -s --max-time 1 "$URL/healthz") == ok ]] && break; sleep 0.1; done
t_eq "start: /healthz" "$(curl -s --max-time 2 "$URL/healthz")" ok
t_nomatch "loopback: no warning about metrics.listen" "$(lab_exec journalctl --no-pager -o cat -u $D)" "serves /metrics to anyone"
m0=$(dshow MainPID) n0=$(dshow NRestarts)
j0=$(lab_exec journalctl --no-pager -o cat -u $D | wc -l)

# --- floods: idle half-sent requests held (more than the 64 the server serves at once), dripping ones,
# then idle ones reopened as fast as they are dropped
flood_check idle 100 15
flood_check drip 64 25
# A connect flood reopens each connection at once, so the flood's are always the youngest: from the
# scraper's own address, a scrape whose request a loaded machine sends late is then the oldest unserved
# connection of the busiest address and is evicted (one of 11 in a run beside a CPU hog). The limit's
# promise is per address: the flood comes from another one (127.0.0.2), as another host's would.
flood_check churn 100 10 127.0.0.2

t_eq "watchdog: same MainPID through both floods" "$(dshow MainPID)" "$m0"
t_eq "watchdog: NRestarts unchanged" "$(dshow NRestarts)" "$n0"
t_eq "watchdog: still active (running)" "$(dshow ActiveState)/$(dshow SubState)" active/running
J=$(lab_exec journalctl --no-pager -o cat -u $D)
t_nomatch "watchdog: no watchdog timeout in the journal" "$J" "[Ww]atchdog timeout"
j1=$(echo "$J" | wc -l)
echo "journal lines during the floods: $((j1 - j0))"
t_expect "journal: the floods did not flood it ($((j1 - j0)) lines)" test $((j1 - j0)) -lt 20
((j1 - j0 < 20)) || { echo "journal lines written during the floods (first 30):"; echo "$J" | tail -n +$((j0 + 1)) | head -30 | sed 's/^/    /'; }

# --- defect 8: metrics.listen beyond loopback logs one warning at start
install_dropin "0.0.0.0:$MP" || t_die "drop-in 0.0.0.0"
lab_exec systemctl restart $D
t_eq "public: restarted" "$?" 0
J=$(lab_exec journalctl --no-pager -o cat -u $D _PID="$(dshow MainPID)")
t_eq "public: one warning naming the key and the address" \
        "$(grep -c "metrics.listen=0.0.0.0:$MP serves /metrics to anyone" <<<"$J")" 1
t_match "public: the warning says what to do" "$J" "127.0.0.1 and scrape through the host's tunnel"
lab_exec systemctl stop $D

echo "test_http_limits.sh took $(since "$T_START") s"
if ((T_FAIL > 0)); then
        echo "---- journal of $D (for the failures above)"
        lab_exec journalctl --no-pager -o short-precise -u $D | tail -n 100 | sed 's/^/    /'
fi
t_summary
((T_FAIL == 0))
