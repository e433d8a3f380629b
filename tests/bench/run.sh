#!/usr/bin/env bash
# `make bench`: the benchmarks of docs/benchmarks.md against the real lab (systemd in a container, 4
# bastion sshds, 200 tunnels). Raw samples go to build/bench/raw/, results to build/bench/NAME.json and
# NAME.png; tests/bench/report.py prints the summary table. Performance is measured here, never asserted.
# BENCH_RUNS (default 7, at least 5) repeats of each timed command; medians are reported.
# BENCH_ONLY="1 2 3 4 5" picks benchmarks (the lab comes up with 200 tunnels unless only 5 is picked).
set -uo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$SRC/build/bench
RAW=$OUT/raw
RUNS=${BENCH_RUNS:-7}
ONLY=${BENCH_ONLY:-1 2 3 4 5}
((RUNS >= 5)) || { echo "BENCH_RUNS must be at least 5" >&2; exit 2; }
cd "$SRC" || exit 1
. tests/lab/lab.sh

say() { echo "bench: $*" >&2; }
die() { echo "bench: ERROR: $*" >&2; exit 1; }
want() { [[ " $ONLY " == *" $1 "* ]]; }
now() { date +%s.%N; }

rm -rf "$RAW" && mkdir -p "$RAW" || die "cannot create $RAW"
rm -f "$OUT"/*.json "$OUT"/*.png

# --- drivers, linked with the product's library
CFLAGS_B="-std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow"
PKGS="libsystemd libcurl libmicrohttpd inih jansson zlib"
for d in probe_cost metrics_cost expect_cost; do
        gcc $CFLAGS_B $(pkg-config --cflags $PKGS) -o "$OUT/bench_$d" "tests/bench/$d.c" build/librtun.a \
                $(pkg-config --libs $PKGS) || die "cannot build tests/bench/$d.c"
done

# --- the machine (every figure in benchmarks.md names it)
{
        echo "nproc=$(nproc)"
        echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
        echo "kernel=$(uname -r)"
        echo "openssh=$(ssh -V 2>&1)"
        echo "runs=$RUNS"
        echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "commit=$(git rev-parse --short HEAD 2>/dev/null)"
} >"$RAW/machine.txt"

# --- 5. monitor.expect against a hostile far end (no lab needed): compiled per probe vs one shared pattern
if want 5; then
        say "5: monitor.expect cost per probe, per-probe compile vs shared, $RUNS runs of 200 probes"
        for ((i = 0; i < RUNS; i++)); do "$OUT/bench_expect_cost" 200; done >"$RAW/expect_cost.jsonl" ||
                say "warning: expect_cost failed"
        "$LAB_PY" - "$RAW/expect_cost.jsonl" "$OUT/expect_cost.json" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
out = {}
for r in rows:
    k = (r["pattern"], r["way"])
    out.setdefault(k, []).append(r)
res = [{"pattern": p, "way": w, "runs": len(v),
        "median_ms": statistics.median(x["median_ms"] for x in v),
        "max_ms_median": statistics.median(x["max_ms"] for x in v),
        "heap_growth_mb_median": statistics.median(x["heap_growth_mb"] for x in v)} for (p, w), v in out.items()]
json.dump(res, open(sys.argv[2], "w"), indent=1)
for r in res:
    print("  %-40s %-9s median %.3f ms/probe, worst %.3f ms, heap +%.1f MB per 200 probes" %
          (r["pattern"], r["way"], r["median_ms"], r["max_ms_median"], r["heap_growth_mb_median"]))
PY
        [[ $ONLY == 5 ]] && exit 0
fi

# --- the lab: target sshd (MaxStartups raised: every probe of every tunnel reaches this one sshd),
# 4 bastions, 200 tunnels bt000..bt199.test (round-robin over the bastions).
BASTIONS=(bench-b1.test bench-b2.test bench-b3.test bench-b4.test)
T0=$(now)
lab_init || die "lab_init"
lab_target_start -o MaxStartups=1000:30:2000 || die "target sshd"
for b in "${BASTIONS[@]}"; do
        lab_bastion_start "$b" -o MaxStartups=200:30:400 -o MaxSessions=100 || die "bastion $b"
done
lab_container_start || die "container"
LAB_QUIET=1 lab_tunnels_add_many bt 200 25 "${BASTIONS[@]}" || die "200 tunnels"
cp build/rtun-monitor "$OUT/bench_probe_cost" tests/bench/seed-monitor.sh "$LAB/" || die "copy to \$LAB"
say "lab up with 200 tunnels in $(awk -v a="$T0" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }') s"
cp "$LAB/run/many" "$RAW/tunnels.txt"

P1=$(lab_pid1)
IN="nsenter -t $P1 -a /usr/bin/env -i PATH=$LAB_PATH LANG=C.UTF-8"
U20='reverse-ssh@bt00?.test.service reverse-ssh@bt01?.test.service'
U100='reverse-ssh@bt0??.test.service'
U200='reverse-ssh@bt*.test.service'
tunnel_field() { awk -v a="$1" -v f="$2" '$1 == a { print $f }' "$LAB/run/many"; } # alias, column
port_of() { tunnel_field "$1" 3; }

# hyperfine NAME CMD: RUNS timed runs (no shell, failures allowed: exit 1 means "a tunnel is down")
hf() {
        local name=$1
        shift
        hyperfine -N -i --style none --warmup 1 --runs "$RUNS" --export-json "$RAW/$name.hf.json" "$*" >/dev/null 2>&1 ||
                say "warning: hyperfine $name failed"
}

# ---------------------------------------------------------------------------------------------------
if want 1; then
        say "1: check round over 20 tunnels"
        hf status-mux "$IN /lab/rtun-monitor status --monitor.units='$U20'"
        hf status-ssh "$IN /lab/rtun-monitor status --monitor.units='$U20' --monitor.probe=ssh"
        hf check-mux "$IN /lab/rtun-monitor check --monitor.units='$U20'"
        hf check-ssh "$IN /lab/rtun-monitor check --monitor.units='$U20' --monitor.probe=ssh"
        hf seed "$IN /bin/bash /lab/seed-monitor.sh $U20"
        lab_exec /lab/rtun-monitor status --json --monitor.units="$U20" >"$RAW/status20.json" 2>/dev/null
        # Every tunnel's ssh stopped, healing off: each tunnel fails monitor.failures times, concurrently.
        for ((i = 0; i < 20; i++)); do LAB_QUIET=1 lab_fault_stop "$(printf 'bt%03d.test' "$i")" || die "fault stop"; done
        hf stopped "$IN /lab/rtun-monitor check --monitor.units='$U20' --heal.enabled=no"
        lab_exec /lab/rtun-monitor check --json --monitor.units="$U20" --heal.enabled=no >"$RAW/stopped20.json" 2>/dev/null
        for ((i = 0; i < 20; i++)); do LAB_QUIET=1 lab_fault_cont "$(printf 'bt%03d.test' "$i")"; done
        lab_exec rm -f /var/lib/rtun-monitor/state
        # The bastions dropped the stopped sessions (ClientAlive 2 x 2 s): wait for systemd's restarts.
        sleep 2
        silent=$(lab__wait_banners 60 $(for ((i = 0; i < 20; i++)); do port_of "$(printf 'bt%03d.test' "$i")"; done)) ||
                die "tunnels not back after the stopped round: $silent"
fi

# ---------------------------------------------------------------------------------------------------
# Bastion CPU (sshd tree: live processes' utime+stime plus what the listener reaped) and sessions accepted.
bastion_cpu() {
        local pid=$1 p t=0 v
        for p in $pid $(lab__descendants "$pid"); do
                v=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null) && t=$((t + v))
        done
        v=$(awk '{ print $16 + $17 }' "/proc/$pid/stat" 2>/dev/null) && t=$((t + v))
        echo "$t"
}
if want 2; then
        say "2: probe cost per kind on one tunnel"
        read -r a u rport b < <(head -n 1 "$LAB/run/many")
        bport=$(lab_bastion_port "$b")
        bpid=$(cat "$LAB/bastions/$b/pid")
        : >"$RAW/bastion.txt"
        for kind in mux ssh-mux ssh; do
                n=200
                [[ $kind == ssh-mux ]] && n=100
                [[ $kind == ssh ]] && n=40
                c0=$(bastion_cpu "$bpid") s0=$(grep -c "Accepted publickey" "$LAB/bastions/$b/sshd.log")
                lab_exec /lab/bench_probe_cost "$kind" "$n" "/run/reverse-ssh/$a/ctl" "$bport" "$rport" /lab/keys/client \
                        >"$RAW/probe-$kind.txt" || say "warning: some $kind probes failed"
                c1=$(bastion_cpu "$bpid") s1=$(grep -c "Accepted publickey" "$LAB/bastions/$b/sshd.log")
                echo "$kind $n $((c1 - c0)) $((s1 - s0)) $(getconf CLK_TCK)" >>"$RAW/bastion.txt"
        done
fi

# ---------------------------------------------------------------------------------------------------
metrics_value() { # PORT NAME: value of an unlabelled series
        curl -s "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n { print $2 }'
}
daemon_start() { # UNIT PORT ARGS...
        local unit=$1 port=$2
        shift 2
        lab_exec systemd-run --quiet --unit="$unit" --property=Type=notify --property=WatchdogSec=30s \
                /lab/rtun-monitor daemon --metrics.listen="127.0.0.1:$port" "$@" || die "cannot start $unit"
}
daemon_stop() { lab_exec systemctl stop "$1"; }
daemon_pid() { lab_exec systemctl show -p MainPID --value "$1"; }
# The container has no /etc/alternatives (no awk inside): read its /proc, parse here.
proc_cpu() { lab_exec cat "/proc/$1/stat" | awk '{ print $14 + $15 }'; }
proc_mem() {
        lab_exec cat "/proc/$1/status" | grep -E '^(VmRSS|VmHWM|RssAnon|RssFile)'
        lab_exec cat "/proc/$1/smaps_rollup" | grep -E '^(Pss|Pss_Anon|Pss_File):'
}

if want 3; then
        say "3: one round over 200 tunnels"
        # The timer's check leaves each tunnel's resolution in the state file: later runs reuse it while
        # the ssh process is the same (warm). A first run ever (cold) runs 200 `ssh -G`.
        lab_exec /lab/rtun-monitor check --monitor.units="$U200" >/dev/null 2>&1 || say "warning: check over 200 failed"
        hf status200 "$IN /lab/rtun-monitor status --monitor.units=$U200"
        lab_exec mkdir -p /lab/cold
        hf status200cold "$IN STATE_DIRECTORY=/lab/cold /lab/rtun-monitor status --monitor.units=$U200"
        hf discover200 "$IN STATE_DIRECTORY=/lab/cold /lab/rtun-monitor status --monitor.units=$U200 --monitor.probe=none"
        lab_exec /lab/rtun-monitor status --json --monitor.units="$U200" >"$RAW/status200.json" 2>/dev/null
        # One round as the run itself measures it (rtun_round_duration_seconds: discovery to last verdict).
        round_samples() { # FILE [env...]: RUNS rounds of status, "round up-count" per line
                : >"$1"
                for ((i = 0; i < RUNS; i++)); do
                        lab_exec env "${@:2}" /lab/rtun-monitor status --monitor.units="$U200" \
                                --metrics.textfile=/lab/r200.prom >/dev/null 2>&1
                        awk '$1 == "rtun_round_duration_seconds" { r = $2 } /^rtun_tunnel_up\{/ { up += $2 }
                             END { print r, up + 0 }' "$LAB/r200.prom" >>"$1"
                done
        }
        round_samples "$RAW/proberound200.txt" X=1
        round_samples "$RAW/proberound200cold.txt" STATE_DIRECTORY=/lab/cold
        # The host's sshd with its defaults (MaxStartups 10:30:100): probes it turns away still prove the path.
        lab_target_stop && lab_target_start >/dev/null 2>&1 || die "target sshd with default MaxStartups"
        round_samples "$RAW/proberound200default.txt" X=1
        lab_target_stop && lab_target_start -o MaxStartups=1000:30:2000 >/dev/null 2>&1 || die "target sshd"
        # The daemon resolves once and keeps it: its round (discovery over D-Bus) over the same 200.
        mport=$(lab_port_alloc)
        daemon_start rtun-bench-200 "$mport" --monitor.units="$U200" --monitor.interval=2s
        sleep 5
        : >"$RAW/round200.txt"
        for ((i = 0; i < RUNS; i++)); do
                sleep 2
                metrics_value "$mport" rtun_round_duration_seconds >>"$RAW/round200.txt"
        done
        curl -s "http://127.0.0.1:$mport/metrics" | awk '$1 ~ /^rtun_tunnel_up/ { n[$2]++ } END { for (v in n) print v, n[v] }' \
                >"$RAW/daemon200_up.txt"
        proc_mem "$(daemon_pid rtun-bench-200)" >"$RAW/rss200.txt"
        daemon_stop rtun-bench-200
fi

# ---------------------------------------------------------------------------------------------------
if want 4; then
        say "4: daemon: detection and repair of 10 stopped tunnels (interval 1s, failures 2)"
        mport=$(lab_port_alloc)
        daemon_start rtun-bench-d "$mport" --monitor.units="$U20" --monitor.interval=1s --monitor.failures=2
        sleep 4
        : >"$RAW/faults.txt"
        for ((i = 0; i < 10; i++)); do
                a=$(printf 'bt%03d.test' "$i")
                u=reverse-ssh@$a.service
                t0=$(now)
                LAB_QUIET=1 lab_fault_stop "$a" || die "fault stop $a"
                sleep 0.3 # the stopped ssh no longer relays: banners seen from now on are the new one's
                tb=$("$LAB_PY" tests/bench/wait_banner.py "$(port_of "$a")" 30) || tb=nan
                sleep 0.5
                j=$(lab_exec journalctl --no-pager -o short-unix -u rtun-bench-d --since "@${t0%.*}")
                td=$(awk -v u="$u: " -v t="$t0" 'index($0, u) && / -> down / && $1 >= t { print $1; exit }' <<<"$j")
                tr=$(awk -v u="$u: " -v t="$t0" 'index($0, u) && /: restarted / && $1 >= t { print $1; exit }' <<<"$j")
                echo "$a $t0 ${td:-nan} ${tr:-nan} $tb" >>"$RAW/faults.txt"
                LAB_QUIET=1 lab_fault_cont "$a"
                sleep 1.5
        done
        lab_exec journalctl --no-pager -o short-unix -u rtun-bench-d >"$RAW/daemon-journal.txt"
        proc_mem "$(daemon_pid rtun-bench-d)" >"$RAW/rss20.txt"
        daemon_stop rtun-bench-d

        say "4: daemon with 100 tunnels at interval 10s: RSS, idle CPU over 60 s, /metrics under wrk"
        mport=$(lab_port_alloc)
        daemon_start rtun-bench-100 "$mport" --monitor.units="$U100" --monitor.interval=10s
        sleep 15
        pid=$(daemon_pid rtun-bench-100)
        s0=$(proc_cpu "$pid") t0=$(now)
        sleep 60
        s1=$(proc_cpu "$pid") t1=$(now)
        echo "$s0 $s1 $t0 $t1 $(getconf CLK_TCK)" >"$RAW/idle100.txt"
        proc_mem "$pid" >"$RAW/rss100.txt"
        metrics_value "$mport" rtun_tunnels >"$RAW/tunnels100.txt"
        curl -s "http://127.0.0.1:$mport/metrics" | wc -c >"$RAW/metrics100_bytes.txt"
        for ((i = 0; i < 5; i++)); do
                wrk -t 2 -c 8 -d 10s "http://127.0.0.1:$mport/metrics" >"$RAW/wrk-daemon100-$i.txt" 2>&1
        done
        lab_exec cat "/proc/$pid/status" | grep -E '^VmHWM' | sed 's/^VmHWM/VmHWMwrk/' >>"$RAW/rss100.txt"
        daemon_stop rtun-bench-100

        say "4: /metrics render of 1,000 tunnels; wrk against http_server_start with 20 fake tunnels"
        "$OUT/bench_metrics_cost" render 1000 200 >"$RAW/render1000.txt" || say "warning: render failed"
        "$OUT/bench_metrics_cost" serve 20 >"$RAW/serve.port" &
        spid=$!
        sleep 0.5
        sport=$(head -n 1 "$RAW/serve.port")
        for ((i = 0; i < 5; i++)); do
                wrk -t 2 -c 8 -d 10s "http://127.0.0.1:$sport/metrics" >"$RAW/wrk-fake20-$i.txt" 2>&1
        done
        kill "$spid" && wait "$spid"
fi

lab_cleanup
say "total $(awk -v a="$T0" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }') s; report:"
"$LAB_PY" tests/bench/report.py "$OUT"
