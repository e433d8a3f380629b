#!/usr/bin/python3
"""report.py OUTDIR: turns the raw samples of tests/bench/run.sh (OUTDIR/raw) into OUTDIR/NAME.json,
OUTDIR/NAME.png (gnuplot) and one summary table on stdout. Medians everywhere; goals are reported as
met or not, never asserted."""
import glob, json, os, re, shutil, statistics, subprocess, sys

OUT = sys.argv[1]
RAW = os.path.join(OUT, "raw")


def med(xs):
    xs = [x for x in xs if x == x]  # drop NaN
    return statistics.median(xs) if xs else float("nan")


def machine():
    m = {}
    for line in open(os.path.join(RAW, "machine.txt")):
        k, _, v = line.rstrip("\n").partition("=")
        m[k] = v
    return m


def hf(name):
    """hyperfine export: wall, user, system per run (s)."""
    p = os.path.join(RAW, name + ".hf.json")
    if not os.path.exists(p):
        return None
    r = json.load(open(p))["results"][0]
    return {"command": r["command"], "times": r["times"], "median": med(r["times"]),
            "user": r.get("user"), "system": r.get("system"),
            "exit_codes": r.get("exit_codes")}


def fig(name, value, unit, goal=None, met=None, command="", note=""):
    return {"figure": name, "value": value, "unit": unit, "goal": goal, "met": met, "command": command,
            "note": note}


ROWS = []


def emit(bench, results, samples):
    doc = {"benchmark": bench, "machine": machine(), "results": results, "samples": samples}
    with open(os.path.join(OUT, bench + ".json"), "w") as f:
        json.dump(doc, f, indent=1)
    for r in results:
        ROWS.append((bench, r))


def gnuplot(script):
    if shutil.which("gnuplot"):
        subprocess.run(["gnuplot"], input=script, text=True, check=False)


def bars(png, title, ylabel, items, logscale=False):
    """items: (label, value); a bar chart of medians."""
    data = os.path.join(RAW, os.path.basename(png) + ".dat")
    with open(data, "w") as f:
        for label, v in items:
            f.write('"%s" %g\n' % (label, v))
    gnuplot(f"""set terminal png size 900,500
set output '{png}'
set title '{title}'
set ylabel '{ylabel}'
set style fill solid 0.6
set boxwidth 0.6
set grid ytics
set xtics rotate by -20
{'set logscale y' if logscale else 'set yrange [0:*]'}
plot '{data}' using 0:2:xtic(1) with boxes notitle, '' using 0:2:(sprintf('%.3g',$2)) with labels offset 0,1 notitle
""")


def status_max_duration(path):
    try:
        doc = json.load(open(path))
        t = doc["tunnels"]
        return max(x.get("duration_seconds") or 0 for x in t), len(t), sum(x["state"] == "up" for x in t)
    except (OSError, ValueError, KeyError):
        return float("nan"), 0, 0


# --- 1: check round over 20 tunnels
def bench1():
    runs = {k: hf(k) for k in ("status-mux", "status-ssh", "check-mux", "check-ssh", "seed", "stopped")}
    if not runs["status-mux"]:
        return
    res, items = [], []
    bar = 5 + 1  # monitor.timeout + 1 s
    labels = {"status-mux": "status, mux probe", "status-ssh": "status, --monitor.probe=ssh",
              "check-mux": "check, mux probe", "check-ssh": "check, --monitor.probe=ssh",
              "seed": "peer: seed script (fixed glob)", "stopped": "check, 20 ssh SIGSTOPped, --heal.enabled=no"}
    for k, r in runs.items():
        if not r:
            continue
        goal = None if k == "seed" else "< %g s" % bar
        met = None if k == "seed" else r["median"] < bar
        res.append(fig("20 tunnels: " + labels[k] + " (wall)", r["median"], "s", goal, met, r["command"]))
        items.append((k, r["median"]))
    if runs["seed"]:
        for k in ("status-mux", "check-mux", "check-ssh"):
            if runs[k]:
                res.append(fig(f"ratio {k} / seed script", runs[k]["median"] / runs["seed"]["median"], "x", None,
                               None, "", "the seed script tests nothing end to end"))
    mx, n, up = status_max_duration(os.path.join(RAW, "status20.json"))
    res.append(fig("20 tunnels: slowest mux probe of one status run", mx, "s", None, None, "", f"{up}/{n} up"))
    emit("check_round", res, {k: v for k, v in runs.items() if v})
    bars(os.path.join(OUT, "check_round.png"), "20 tunnels: median wall of one run (s)", "seconds", items)


# --- 2: probe cost per kind
def bench2():
    kinds = {}
    for k in ("mux", "ssh-mux", "ssh"):
        p = os.path.join(RAW, f"probe-{k}.txt")
        if os.path.exists(p):
            rows = [l.split() for l in open(p) if l.strip()]
            kinds[k] = {"wall_us": [int(r[1]) for r in rows], "self_cpu_us": [int(r[2]) for r in rows],
                        "child_cpu_us": [int(r[3]) for r in rows], "ok": sum(r[4] == "ok" for r in rows)}
    if not kinds:
        return
    bastion = {}
    p = os.path.join(RAW, "bastion.txt")
    if os.path.exists(p):
        for l in open(p):
            k, n, ticks, sess, hz = l.split()
            bastion[k] = {"probes": int(n), "cpu_ms_per_probe": int(ticks) * 1000 / int(hz) / int(n),
                          "new_sessions": int(sess)}
    res, items = [], []
    cpu = {}
    names = {"mux": "native mux", "ssh-mux": "ssh -S CTL -W (spawned)", "ssh": "ssh -W, fresh connection"}
    for k, v in kinds.items():
        c = [a + b for a, b in zip(v["self_cpu_us"], v["child_cpu_us"])]
        cpu[k] = med(c) / 1000
        n = len(v["wall_us"])
        cmd = f"probe_cost {k} {n} CTL BASTION_PORT LISTEN_PORT /lab/keys/client"
        res.append(fig(f"{names[k]}: CPU per probe (self+children)", cpu[k], "ms",
                       "<= 1 ms" if k == "mux" else None, cpu[k] <= 1 if k == "mux" else None, cmd,
                       f"{v['ok']}/{n} ok"))
        res.append(fig(f"{names[k]}: wall per probe", med(v["wall_us"]) / 1000, "ms", None, None, cmd))
        if k in bastion:
            b = bastion[k]
            res.append(fig(f"{names[k]}: bastion sshd CPU per probe", b["cpu_ms_per_probe"], "ms", None, None, cmd,
                           f"{b['new_sessions']} new sessions for {b['probes']} probes (10 ms ticks)"))
        items.append((names[k], cpu[k]))
    if "mux" in cpu and "ssh" in cpu and cpu["mux"] > 0:
        r = cpu["ssh"] / cpu["mux"]
        res.append(fig("CPU ratio fresh ssh -W / native mux", r, "x", ">= 50x", r >= 50))
    if "mux" in cpu and "ssh-mux" in cpu and cpu["mux"] > 0:
        res.append(fig("CPU ratio ssh -S -W / native mux", cpu["ssh-mux"] / cpu["mux"], "x"))
    emit("probe_cost", res, kinds | {"bastion": bastion})
    bars(os.path.join(OUT, "probe_cost.png"), "CPU per probe, median (ms, log scale)", "ms", items, logscale=True)


# --- 3: one round over 200 tunnels
def rounds(name):
    """proberound*.txt: 'round_seconds up_count' per run."""
    p = os.path.join(RAW, name)
    if not os.path.exists(p):
        return [], []
    rows = [line.split() for line in open(p) if line.strip()]
    return [float(r[0]) for r in rows], [int(float(r[1])) for r in rows if len(r) > 1]


def bench3():
    st, cold, disc = hf("status200"), hf("status200cold"), hf("discover200")
    if not st:
        return
    cmd = "IN /lab/rtun-monitor status --monitor.units=U200 --metrics.textfile=/lab/r200.prom"
    res = []
    items = []
    xs, ups = rounds("proberound200.txt")
    if xs:
        res.append(fig("200 tunnels: one round of a status run (rtun_round_duration_seconds)", med(xs), "s",
                       "<= 1 s", med(xs) <= 1, cmd,
                       f"discovery, resolution (kept by the timer's check), 200 mux probes, verdicts; "
                       f"max {max(xs):.3f} s; tunnels up {min(ups)}..{max(ups)}"))
        items.append(("round (warm)", med(xs)))
    res.append(fig("200 tunnels: whole status process, warm (hyperfine)", st["median"], "s", None, None,
                   st["command"], "adds process start and exit"))
    items.append(("status process (warm)", st["median"]))
    xs, ups = rounds("proberound200cold.txt")
    if xs:
        res.append(fig("200 tunnels: one round, cold (no state file: 200 ssh -G)", med(xs), "s", None, None,
                       "STATE_DIRECTORY=/lab/cold " + cmd, f"tunnels up {min(ups)}..{max(ups)}"))
        items.append(("round (cold)", med(xs)))
    if cold:
        res.append(fig("200 tunnels: whole status process, cold", cold["median"], "s", None, None, cold["command"]))
    if disc:
        res.append(fig("200 tunnels: cold status --monitor.probe=none (discovery + ssh -G only)", disc["median"],
                       "s", None, None, disc["command"]))
        items.append(("cold: discovery + ssh -G", disc["median"]))
    xs, ups = rounds("proberound200default.txt")
    if xs:
        res.append(fig("200 tunnels, host sshd with default MaxStartups: one round", med(xs), "s", None, None, cmd,
                       f"tunnels reported up {min(ups)}..{max(ups)} of 200"))
        res.append(fig("200 tunnels, host sshd with default MaxStartups: fewest tunnels up in a run", min(ups),
                       "tunnels", "200", min(ups) == 200, cmd))
    mx, n, up = status_max_duration(os.path.join(RAW, "status200.json"))
    res.append(fig("200 tunnels: slowest probe of one status run", mx, "s", None, None, "", f"{up}/{n} up"))
    p = os.path.join(RAW, "round200.txt")
    if os.path.exists(p):
        xs = [float(x) for x in open(p).read().split()]
        if xs:
            res.append(fig("200 tunnels: daemon round (rtun_round_duration_seconds, resolution cached)", med(xs),
                           "s", None, None, "rtun-monitor daemon --monitor.interval=2s",
                           "D-Bus discovery, synchronous on the loop"))
            items.append(("daemon round (discovery)", med(xs)))
    emit("round200", res, {"status": st, "discover": disc})
    bars(os.path.join(OUT, "round200.png"), "200 tunnels: median wall (s)", "seconds", items)


def wrk_rps(pattern):
    out = []
    for p in sorted(glob.glob(os.path.join(RAW, pattern))):
        m = re.search(r"Requests/sec:\s+([\d.]+)", open(p).read())
        if m:
            out.append(float(m.group(1)))
    return out


# --- 4: daemon
def bench4():
    p = os.path.join(RAW, "faults.txt")
    if not os.path.exists(p):
        return
    rows = [l.split() for l in open(p) if l.strip()]
    det = [float(r[2]) - float(r[1]) for r in rows]
    rst = [float(r[3]) - float(r[1]) for r in rows]
    ban = [float(r[4]) - float(r[1]) for r in rows]
    cmd = "rtun-monitor daemon --monitor.interval=1s --monitor.failures=2 (20 tunnels); lab_fault_stop"
    n_ok = sum(1 for x in det if x == x)
    res = [fig("detect a stopped tunnel (fault -> 'up -> down')", med(det), "s", "<= 3 s", med(det) <= 3, cmd,
               f"{n_ok}/{len(rows)} faults detected"),
           fig("fault -> 'restarted' in the journal", med(rst), "s", None, None, cmd),
           fig("fault -> bastion port answers the banner again", med(ban), "s", "<= 5 s", med(ban) <= 5, cmd)]
    samples = {"detect_s": det, "restarted_s": rst, "banner_s": ban}
    try:
        s0, s1, t0, t1, hz = open(os.path.join(RAW, "idle100.txt")).read().split()
        pct = (float(s1) - float(s0)) / float(hz) / (float(t1) - float(t0)) * 100
        res.append(fig("daemon CPU, 100 tunnels, interval 10s, over 60 s", pct, "% of a core", "<= 0.5 %",
                       pct <= 0.5, "rtun-monitor daemon --monitor.interval=10s; /proc/PID/stat utime+stime"))
        samples["idle_cpu"] = [s0, s1, t0, t1, hz]
    except (OSError, ValueError):
        pass
    for n in (20, 100, 200):
        try:
            rss = dict(re.findall(r"^(\w+):\s+(\d+) kB", open(os.path.join(RAW, f"rss{n}.txt")).read(), re.M))
        except OSError:
            continue
        samples[f"mem_kB_{n}"] = rss
        mib = lambda k: int(rss.get(k, 0)) / 1024
        cmd = f"/proc/PID/status, smaps_rollup of rtun-monitor daemon ({n} tunnels)"
        note = f"RssAnon {mib('RssAnon'):.1f}, RssFile {mib('RssFile'):.1f}, Pss {mib('Pss'):.1f} MiB"
        if n == 100:
            note += f"; VmHWM after wrk {mib('VmHWMwrk'):.1f} MiB"
            res.append(fig("daemon RSS with 100 tunnels (VmRSS)", mib("VmRSS"), "MiB", "<= 8 MiB", mib("VmRSS") <= 8,
                           cmd, note))
        else:
            res.append(fig(f"daemon RSS with {n} tunnels (VmRSS)", mib("VmRSS"), "MiB", None, None, cmd, note))
        res.append(fig(f"daemon RssAnon with {n} tunnels (its own memory)", mib("RssAnon"), "MiB", None, None, cmd))
    p = os.path.join(RAW, "render1000.txt")
    if os.path.exists(p):
        rows = [l.split() for l in open(p) if l.strip()]
        w = [int(r[0]) / 1000 for r in rows]
        res.append(fig("/metrics render, 1,000 tunnels", med(w), "ms", "<= 2 ms", med(w) <= 2,
                       "bench_metrics_cost render 1000 200", f"{rows[0][2]} bytes, {len(rows)} renders"))
        samples["render_ms"] = w
    for pat, what in (("wrk-fake20-*.txt", "http_server_start, 20 fake tunnels"),
                      ("wrk-daemon100-*.txt", "the daemon with 100 real tunnels")):
        rps = wrk_rps(pat)
        if rps:
            res.append(fig(f"/metrics scrapes/s: {what}", med(rps), "req/s", ">= 5000", med(rps) >= 5000,
                           "wrk -t 2 -c 8 -d 10s http://127.0.0.1:PORT/metrics", f"{len(rps)} runs"))
            samples["wrk " + what] = rps
    emit("daemon", res, samples)
    data = os.path.join(RAW, "faults.dat")
    with open(data, "w") as f:
        for i, (a, b, c) in enumerate(zip(det, rst, ban)):
            f.write(f"{i + 1} {a} {b} {c}\n")
    gnuplot(f"""set terminal png size 900,500
set output '{os.path.join(OUT, "daemon.png")}'
set title 'daemon, interval 1s, failures 2: per injected fault (SIGSTOP)'
set xlabel 'fault'
set ylabel 'seconds after the fault'
set grid
set yrange [0:6]
set key top left
plot '{data}' using 1:2 with linespoints title 'detected (up -> down)', \\
     '' using 1:3 with linespoints title 'restarted', \\
     '' using 1:4 with linespoints title 'bastion port answers again', 3 dt 2 title 'goal detect', 5 dt 3 title 'goal answer'
""")


for b in (bench1, bench2, bench3, bench4):
    try:
        b()
    except Exception as e:  # a broken benchmark must not hide the others
        print(f"report: {b.__name__}: {e!r}", file=sys.stderr)

m = machine()
print(f"\nrtun-monitor benchmarks: {m.get('cpu')}, nproc {m.get('nproc')}, medians of {m.get('runs')} runs "
      f"(probe costs: per-probe medians)")
print(f"{'benchmark':<12} {'figure':<78} {'median':>12} {'goal':>10}  met")
for bench, r in ROWS:
    v = r["value"]
    vs = f"{v:.4g} {r['unit']}" if isinstance(v, (int, float)) else str(v)
    met = {True: "yes", False: "NO", None: ""}[r["met"]]
    print(f"{bench:<12} {r['figure'][:78]:<78} {vs:>12} {r['goal'] or '':>10}  {met}")
print(f"\njson and png: {OUT}/")
