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


def peer(res, label, now, before, unit, cmd="same command, the baseline's binary"):
    """BENCH_BASELINE: the baseline's figure right after the current one, and the ratio now / before."""
    if before is None or before != before or now is None or now != now:
        return
    rev = machine().get("baseline", "?")
    res.append(fig(f"{label}: before issue 10 ({rev})", before, unit, None, None, cmd))
    if before:
        res.append(fig(f"{label}: now / before", now / before, "x", None, None, "same run"))


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
    for k in ("status-mux", "check-mux"):
        b = hf(k + "-base")
        if b and runs[k]:
            peer(res, "20 tunnels: " + labels[k], runs[k]["median"], b["median"], "s", b["command"])
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
    p = os.path.join(RAW, "probe-mux-base.txt")
    if os.path.exists(p) and "mux" in kinds:
        rows = [l.split() for l in open(p) if l.strip()]
        bc = med([int(r[2]) + int(r[3]) for r in rows]) / 1000
        bw = med([int(r[1]) for r in rows]) / 1000
        peer(res, "native mux: CPU per probe", cpu["mux"], bc, "ms", "base_probe_cost mux 200 ...")
        peer(res, "native mux: wall per probe", med(kinds["mux"]["wall_us"]) / 1000, bw, "ms", "base_probe_cost mux 200 ...")
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
                           "D-Bus discovery on the loop (F8); the up count at the end is in raw/daemon200_up.txt"))
            items.append(("daemon round (discovery)", med(xs)))
    xs, _ = rounds("proberound200.txt")
    bx, bups = rounds("proberound200-base.txt")
    if xs and bx:
        peer(res, "200 tunnels: one round of a status run (warm)", med(xs), med(bx), "s")
    b = hf("status200-base")
    if b:
        peer(res, "200 tunnels: whole status process, warm", st["median"], b["median"], "s", b["command"])
    b = hf("discover200-base")
    if b and disc:
        peer(res, "200 tunnels: cold, discovery + ssh -G only", disc["median"], b["median"], "s", b["command"])
    p, bp = os.path.join(RAW, "round200.txt"), os.path.join(RAW, "round200-base.txt")
    if os.path.exists(p) and os.path.exists(bp):
        a = [float(x) for x in open(p).read().split()]
        c = [float(x) for x in open(bp).read().split()]
        if a and c:
            peer(res, "200 tunnels: daemon round", med(a), med(c), "s")
    def daemon_up(name):
        try:
            n = dict(l.split() for l in open(os.path.join(RAW, name)) if l.strip())
            return int(n.get("1", 0))
        except (OSError, ValueError):
            return None
    up, bup = daemon_up("daemon200_up.txt"), daemon_up("daemon200_up-base.txt")
    if up is not None:
        res.append(fig("200 tunnels: daemon at interval 2s: tunnels up at the end (one sample)", up, "tunnels", None,
                       None, "rtun-monitor daemon --monitor.interval=2s; rtun_tunnel_up",
                       "heal on (the default): a tunnel seen down is restarted"))
        peer(res, "200 tunnels: daemon at interval 2s: tunnels up at the end", up, bup, "tunnels")
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
        def idle_pct(name):
            s0, s1, t0, t1, hz = open(os.path.join(RAW, name)).read().split()
            return (float(s1) - float(s0)) / float(hz) / (float(t1) - float(t0)) * 100, [s0, s1, t0, t1, hz]
        pct, idle_raw = idle_pct("idle100.txt")
        res.append(fig("daemon CPU, 100 tunnels, interval 10s, over 60 s", pct, "% of a core", "<= 0.5 %",
                       pct <= 0.5, "rtun-monitor daemon --monitor.interval=10s; /proc/PID/stat utime+stime"))
        samples["idle_cpu"] = idle_raw
        if os.path.exists(os.path.join(RAW, "idle100-base.txt")):
            peer(res, "daemon CPU, 100 tunnels, interval 10s", pct, idle_pct("idle100-base.txt")[0], "% of a core")
    except (OSError, ValueError):
        pass
    def rss_of(name):
        return dict(re.findall(r"^(\w+):\s+(\d+) kB", open(os.path.join(RAW, name)).read(), re.M))

    for n in (20, 100, 200):
        try:
            rss = rss_of(f"rss{n}.txt")
        except OSError:
            continue
        try:
            b = rss_of(f"rss{n}-base.txt")
            peer(res, f"daemon VmRSS with {n} tunnels", int(rss["VmRSS"]) / 1024, int(b["VmRSS"]) / 1024, "MiB")
            peer(res, f"daemon RssAnon with {n} tunnels", int(rss["RssAnon"]) / 1024, int(b["RssAnon"]) / 1024, "MiB")
        except (OSError, KeyError):
            pass
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
        bp = os.path.join(RAW, "render1000-base.txt")
        if os.path.exists(bp):
            brows = [l.split() for l in open(bp) if l.strip()]
            peer(res, "/metrics render, 1,000 tunnels", med(w), med([int(r[0]) / 1000 for r in brows]), "ms",
                 "base_metrics_cost render 1000 200")
    for pat, what in (("wrk-fake20-[0-9].txt", "http_server_start, 20 fake tunnels"),
                      ("wrk-daemon100-[0-9].txt", "the daemon with 100 real tunnels")):
        rps = wrk_rps(pat)
        if rps:
            res.append(fig(f"/metrics scrapes/s: {what}", med(rps), "req/s", ">= 5000", med(rps) >= 5000,
                           "wrk -t 2 -c 8 -d 10s http://127.0.0.1:PORT/metrics", f"{len(rps)} runs"))
            samples["wrk " + what] = rps
            brps = wrk_rps(pat.replace("-[0-9]", "-base-[0-9]"))
            if brps:
                peer(res, f"/metrics scrapes/s: {what}", med(rps), med(brps), "req/s")
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


# --- 5: monitor.expect against a hostile far end (run.sh writes expect_cost.json itself)
def bench5():
    p = os.path.join(OUT, "expect_cost.json")
    if not os.path.exists(p):
        return
    rows = json.load(open(p))
    for r in rows:
        way = "per probe" if r["way"].startswith("per") else r["way"]
        note = f"worst {r['max_ms_median']:.3g} ms; heap +{r['heap_growth_mb_median']:.1f} MB per 200 probes"
        ROWS.append(("expect_cost", fig(f"expect {r['pattern']} ({way}): per probe", r["median_ms"], "ms", None, None,
                                        f"bench_expect_cost 200 (x {r['runs']})", note)))
    bp = os.path.join(RAW, "expect_cost-base.jsonl")
    if os.path.exists(bp):
        base = {}
        for l in open(bp):
            if l.strip():
                x = json.loads(l)
                base.setdefault((x["pattern"], x["way"]), []).append(x["median_ms"])
        res = []
        for r in rows:
            if (r["pattern"], r["way"]) in base and r["way"].startswith("per"):
                peer(res, f"expect {r['pattern']} (per probe)", r["median_ms"], med(base[(r["pattern"], r["way"])]),
                     "ms", "base_expect_cost 200")
        ROWS.extend(("expect_cost", x) for x in res)


# --- 6: the bastion role (1,000 key lines, 200 live tunnels)
def hf_union(*names):
    """Several hyperfine runs of the same command (e.g. before and after): all their times."""
    rs = [r for r in (hf(n) for n in names) if r]
    return rs, [t for r in rs for t in r["times"]]


def bench6():
    st = hf("b6status")
    floors, ftimes = hf_union("b6floor-before", "b6floor-after")
    p_cpu = os.path.join(RAW, "b6-daemon-cpu.txt")
    p_ak = os.path.join(RAW, "authkeys_cost.jsonl")
    if not st and not os.path.exists(p_cpu) and not os.path.exists(p_ak):
        return
    res, items, samples = [], [], {}
    def states_of(name):
        states = {}
        try:
            for h in json.load(open(os.path.join(RAW, name)))["hosts"]:
                states[h["state"]] = states.get(h["state"], 0) + 1
        except (OSError, ValueError, KeyError):
            pass
        return states, ", ".join(f"{n} {k}" for k, n in sorted(states.items())) or "no status --json"

    states, st_note = states_of("b6-status.json")
    samples["states"] = states
    ovf = {}
    try:
        for l in open(os.path.join(RAW, "b6-overflows.txt")):
            w, a, b, n = l.split()
            ovf[w] = (int(b) - int(a)) / int(n)
    except (OSError, ValueError):
        pass
    samples["listen_overflows_per_run"] = ovf
    if st and ftimes:
        floor = med(ftimes)
        ratio = st["median"] / floor
        res.append(fig("1,000 key lines, 200 live: bastion status (whole process, wall)", st["median"], "s", None,
                       None, st["command"], f"states: {st_note}; CPU (hyperfine means) user {st['user']:.3f} s, "
                                            f"sys {st['system']:.3f} s"))
        for w, r in zip(("before", "after"), floors):
            res.append(fig(f"floor ({w}): 200 SSH banners through the same listeners at once (wall)", r["median"], "s",
                           None, None, r["command"], f"CPU (hyperfine means) user {r['user']:.4f} s, sys "
                                                     f"{r['system']:.4f} s; listen overflows/run "
                                                     f"{ovf.get('floor-' + w, float('nan')):.0f}"))
        res.append(fig("ratio bastion status / floor (floor: median of both floor runs)", ratio, "x", "<= 1.5x",
                       ratio <= 1.5, "same run", f"floor {floor:.3f} s over {len(ftimes)} runs; status: listen "
                                                 f"overflows/run {ovf.get('status', float('nan')):.0f}"))
        try:
            one = open(os.path.join(RAW, "b6-floor.txt")).read().split("\n")[-2].split()
            res.append(fig("floor, one run: when the 200 banners came (p50 / p90 / max)", float(one[5]) / 1000, "s",
                           None, None, "bench_banner_floor PORTS 30", f"p90 {float(one[7]) / 1000:.2f} s, max "
                                                                     f"{float(one[9]) / 1000:.2f} s; {one[1]} ok"))
        except (OSError, IndexError, ValueError):
            pass
        t5, t5_note = states_of("b6-status-t5.json")
        if t5:
            res.append(fig("bastion status with the default monitor.timeout=5s (one run): live ports not up",
                           200 - t5.get("up", 0), "ports", None, None, "... --monitor.timeout=5s", t5_note))
        items += [("floor, before", floors[0]["median"]), ("bastion status", st["median"])]
        items += [("floor, after", floors[1]["median"])] if len(floors) > 1 else []
        samples["status"] = st
        samples["floor"] = floors
    try:
        s0, s1, t0, t1, hz, c0, c1 = open(p_cpu).read().split()
        wall = float(t1) - float(t0)
        pct = (float(s1) - float(s0)) / float(hz) / wall * 100
        kids = (float(c1) - float(c0)) / float(hz) / wall * 100
        up = sum(float(l.split()[-1]) for l in open(os.path.join(RAW, "b6-daemon.metrics"))
                 if l.startswith("rtun_bastion_port_up{"))
        rd = [l.split()[-1] for l in open(os.path.join(RAW, "b6-daemon.metrics"))
              if l.startswith("rtun_round_duration_seconds ")]
        res.append(fig("bastion daemon CPU at interval 10s, 1,000 ports, over %.0f s" % wall, pct,
                       "% of a core", "< 1 %", pct < 1,
                       "rtun-monitor bastion daemon --config CONF --bastion.listen=127.0.0.1:PORT; /proc/PID/stat",
                       f"utime+stime; children {kids:.3f} %; ports up at the end {up:.0f}; "
                       f"last round {rd[0] if rd else '?'} s"))
        samples["daemon_cpu"] = [s0, s1, t0, t1, hz, c0, c1]
    except (OSError, ValueError):
        pass
    try:
        runs = [json.loads(l) for l in open(p_ak) if l.strip()]
        summ = [r for r in runs if "median_parse_ms" in r][0]
        per = [r["parse_ms"] for r in runs if "parse_ms" in r]
        fps = open(os.path.join(RAW, "authkeys10000-ssh-keygen.fp")).read().split()
        check = (f"ssh-keygen -lf reads {len(fps)} lines, first fingerprint "
                 f"{'agrees' if fps and fps[0] == summ['first_fingerprint'] else 'DIFFERS'}")
        res.append(fig("authkeys_parse of 10,000 key lines (%.1f MB)" % (summ["bytes"] / 1e6), med(per), "ms", "< 50 ms",
                       med(per) < 50, f"bench_authkeys_cost 10000 {len(per)} DUMP",
                       f"{summ['key_lines']} key lines, {summ['problems']} problems; min {min(per):.1f}, "
                       f"max {max(per):.1f} ms (first run); {check}"))
        samples["authkeys_parse_ms"] = per
    except (OSError, ValueError, IndexError, KeyError):
        pass
    try:
        f = json.load(open(os.path.join(RAW, "b6-audit.json")))["findings"]
        by = {}
        for x in f:
            k = f"{x['check']}/{x['severity']}"
            by[k] = by.get(k, 0) + 1
        samples["audit"] = by
        res.append(fig("bastion audit of the 1,000 lines: findings", len(f), "findings", None, None,
                       "rtun-monitor bastion audit --json --config CONF",
                       ", ".join(f"{n} {k}" for k, n in sorted(by.items())) or "none"))
    except (OSError, ValueError, KeyError):
        pass
    emit("bastion", res, samples)
    if items:
        bars(os.path.join(OUT, "bastion.png"), "1,000 key lines, 200 live: median wall (s)", "seconds", items)


# --- the machine's load between run.sh's marks (whole machine, this run's lab included)
def load():
    p = os.path.join(RAW, "load.txt")
    if not os.path.exists(p):
        return []
    marks = {}
    for l in open(p):
        f = l.split()
        cpu = [int(x) for x in f[6:]]
        marks[f[0]] = {"t": float(f[1]), "load1": float(f[2]), "load5": float(f[3]), "other_labs": int(f[4]),
                       "total": sum(cpu[:8]), "idle": cpu[3] + cpu[4]}
    out = []
    n = int(machine().get("nproc") or 1)
    for b in ("others", "5", "1", "2", "3", "4", "6", "others-after"):
        a, z = marks.get("begin-" + b), marks.get("end-" + b)
        if not a or not z or z["total"] <= a["total"]:
            continue
        busy = 1 - (z["idle"] - a["idle"]) / (z["total"] - a["total"])
        out.append((b, z["t"] - a["t"], busy * n, z["load1"], max(a["other_labs"], z["other_labs"])))
    return out


for b in (bench1, bench2, bench3, bench4, bench5, bench6):
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
L = load()
if L:
    print(f"\nmachine load (whole machine, this run's lab included; nproc {m.get('nproc')}):")
    for b, secs, cores, l1, labs in L:
        what = {"others": "before our lab (others only)", "others-after": "after our lab (others only)"}.get(
            b, f"benchmark {b}")
        print(f"  {what:<29}: {secs:5.0f} s, {cores:.2f} cores busy on average, load1 {l1:.2f} at its end, "
              f"other labs up: {labs}")
    with open(os.path.join(OUT, "load.json"), "w") as f:
        json.dump([{"benchmark": b, "seconds": s_, "cores_busy": c, "load1_end": l1, "other_labs": o}
                   for b, s_, c, l1, o in L], f, indent=1)
print(f"\njson and png: {OUT}/")
