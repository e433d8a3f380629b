#!/usr/bin/python3
"""peers_report.py OUTDIR: the side-by-side benchmark (tests/bench/peers.sh) from OUTDIR/raw/peers into
OUTDIR/peers.json, OUTDIR/peers.png (gnuplot) and the tables of docs/benchmarks.md section 7 on stdout.
Medians over the replicates of a cell; a tunnel that did not answer within the cap counts as the cap
(the median of a cell is then a lower bound, marked ">=")."""
import glob, json, os, re, shutil, statistics, subprocess, sys

OUT = sys.argv[1]
RAW = os.path.join(OUT, "raw", "peers")
NAMES = {"art10m": "article, 10 min timer", "art10s": "article, 10 s timer", "ash0": "autossh -M 0",
         "ashm": "autossh -M port (poll 60 s)", "rt1m": "rtun-monitor timer 1 min",
         "rt10s": "rtun-monitor timer 10 s", "rtd": "rtun-monitor daemon",
         "rtdr": "rtun-monitor daemon + bastion reaper"}
FAULTS = {"stop": "ssh stopped", "ho15": "half-open, ClientAlive 15 s x 3", "hodef": "half-open, sshd defaults",
          "rst": "bastion restarted", "down": "bastion unreachable 30 s"}
PERIOD = {"art10m": 600, "art10s": 10, "rt1m": 60, "rt10s": 10}


def kv(path):
    d = {}
    for line in open(path):
        k, _, v = line.rstrip("\n").partition("=")
        d[k] = v
    return d


def med(xs):
    xs = [x for x in xs if x == x]
    return statistics.median(xs) if xs else float("nan")


def runs_cpu(d, unit, tck):
    """CPU (s) of each run of a oneshot monitor, from cpuwrap's lines 'EPOCH UTICKS STICKS'."""
    p = os.path.join(RAW, d, unit)
    if not os.path.exists(p):
        return []
    out = []
    for line in open(p):
        f = line.split()
        if len(f) == 3:
            try:
                out.append((int(f[1]) + int(f[2])) / tck)
            except ValueError:
                pass
    return out


def marks_of(raw):
    """t0.txt: T0, then 'LABEL EPOCH' marks (faults set, bastion stopped/started, outage end), as s after T0."""
    lines = open(os.path.join(raw, "t0.txt")).read().split("\n")
    t0 = float(lines[0])
    return {l.split()[0]: round(float(l.split()[1]) - t0, 1) for l in lines[1:] if len(l.split()) == 2}


def cells_of(raw):
    m = kv(os.path.join(raw, "machine.txt"))
    cap, reps = float(m["cap"]), int(m["reps"])
    t0 = float(open(os.path.join(raw, "t0.txt")).readline())
    tunnels = [l.split() for l in open(os.path.join(raw, "tunnels.txt")) if l.strip()]
    usable = dict(l.split() for l in open(os.path.join(raw, "usable.txt")) if l.strip())

    # restarts between the fault and usable-again (or the cap), from the container's journal
    starts = {}
    for line in open(os.path.join(raw, "journal.json"), errors="replace"):
        try:
            j = json.loads(line)
        except ValueError:
            continue
        msg = j.get("MESSAGE")
        if not isinstance(msg, str):
            continue
        ts = int(j.get("__REALTIME_TIMESTAMP", "0")) / 1e6
        unit = j.get("UNIT") or j.get("_SYSTEMD_UNIT")
        if msg.startswith("Started ") and j.get("UNIT"):
            starts.setdefault(("systemd", j["UNIT"]), []).append(ts)
        if "starting ssh" in msg and j.get("_SYSTEMD_UNIT"):
            starts.setdefault(("autossh", j["_SYSTEMD_UNIT"]), []).append(ts)

    # restarts the monitor itself asked for (rtun-monitor's "UNIT: restarted (...)" journal lines): the rest
    # of r is the unit's own Restart= (e.g. ExitOnForwardFailure while the bastion still holds the port)
    own = {}
    jp = os.path.join(raw, "rt-monitors.journal")
    for line in open(jp, errors="replace") if os.path.exists(jp) else []:
        mo = re.match(r"(\d+\.\d+) \S+ \S+ (\S+\.service): restarted \(", line)
        if mo:
            own.setdefault(mo.group(2), []).append(float(mo.group(1)))

    cells = {}
    for tid, s, f, alias, unit, rport, b in tunnels:
        u = usable.get(tid, "cap")
        t = cap if u == "cap" else float(u)
        kind = "autossh" if s.startswith("ash") else "systemd"
        n = sum(1 for ts in starts.get((kind, unit), []) if t0 <= ts <= t0 + t)
        c = cells.setdefault((s, f), {"setup": s, "fault": f, "times": [], "capped": 0, "restarts": []})
        c["times"].append(t)
        c["capped"] += u == "cap"
        c["restarts"].append(n)
        if s.startswith("rt"):
            c.setdefault("monitor_restarts", []).append(sum(1 for ts in own.get(unit, []) if t0 <= ts <= t0 + t))
    fl0 = {tuple(l.split()[:2]): int(l.split()[2]) for l in open(os.path.join(raw, "fault_logins0.txt")) if l.strip()}
    fl1 = {tuple(l.split()[:2]): int(l.split()[2]) for l in open(os.path.join(raw, "fault_logins1.txt")) if l.strip()}
    bastion_of = {(t[1], t[2]): t[6] for t in tunnels}
    for c in cells.values():
        k = (bastion_of[(c["setup"], c["fault"])], c["setup"])
        # every tunnel of the cell together, from the fault to the end of the wait (all usable or the cap)
        c["logins_after_fault"] = fl1.get(k, 0) - fl0.get(k, 0)
        c["median_s"] = med(c["times"])
        c["at_cap"] = c["median_s"] >= cap
        c["restarts_median"] = med(c["restarts"])
        if "monitor_restarts" in c:
            c["monitor_restarts_total"] = sum(c["monitor_restarts"])

    return cells, tunnels, t0


def main():
    m = kv(os.path.join(RAW, "machine.txt"))
    cap, reps = float(m["cap"]), int(m["reps"])
    cells, tunnels, t0 = cells_of(RAW)
    res_runs = [{"raw": RAW, "t0": t0, "marks": marks_of(RAW), "machine": m}]
    # A later run's raw directory (argv[2:]): its cells replace the first run's (same setup and fault).
    for extra in sys.argv[2:]:
        c2, _, t02 = cells_of(extra)
        for c in c2.values():
            c["run"] = extra
        cells.update(c2)
        res_runs.append({"raw": extra, "t0": t02, "marks": marks_of(extra), "machine": kv(os.path.join(extra, "machine.txt"))})

    # steady state: CPU per hour of each monitor, bastion logins per hour of each setup's key
    w0, w1, tck = open(os.path.join(RAW, "steady_window.txt")).read().split()
    win, tck = float(w1) - float(w0), float(tck)
    cpu0 = {l.split()[1]: l.split() for l in open(os.path.join(RAW, "steady_cpu0.txt")) if l.strip()}
    cpu1 = {l.split()[1]: l.split() for l in open(os.path.join(RAW, "steady_cpu1.txt")) if l.strip()}
    per = {}
    for label, r0 in cpu0.items():
        r1 = cpu1.get(label)
        try:
            d = (float(r1[3]) - float(r0[3])) / tck
        except (TypeError, ValueError, IndexError):
            continue
        per.setdefault((r0[0], label == "bastion-daemon"), []).append(d * 3600 / win)
    logins0 = dict(l.split() for l in open(os.path.join(RAW, "logins0.txt")) if l.strip())
    logins1 = dict(l.split() for l in open(os.path.join(RAW, "logins1.txt")) if l.strip())
    monitors = {}
    for s in NAMES:
        if not any(c["setup"] == s for c in cells.values()):
            continue
        r = {"setup": s, "logins_per_hour": (int(logins1.get(s, 0)) - int(logins0.get(s, 0))) * 3600 / win}
        if s in PERIOD:
            d = "cpu-all" if os.path.isdir(os.path.join(RAW, "cpu-all")) else "cpu-steady"
            units = sorted(os.path.basename(p) for p in glob.glob(os.path.join(RAW, d, "pm-%s[@.]*service" % s)))
            runs = [x for u in units for x in runs_cpu(d, u, tck)]
            r["cpu_per_run_s"] = med(runs)
            r["runs"] = len(runs)
            # per instance (one tunnel; the article's script: all of its template's tunnels): the runs that
            # ended in the steady window, as they happened (the calendar is not the whole story), per hour
            tot, nrun = 0.0, 0
            for u in units:
                for line in open(os.path.join(RAW, d, u)):
                    f = line.split()
                    if len(f) == 3 and float(w0) <= float(f[0]) <= float(w1):
                        tot += (int(f[1]) + int(f[2])) / tck
                        nrun += 1
            r["cpu_s_per_hour"] = tot / max(1, len(units)) * 3600 / win
            if not nrun:  # no run in the window (the 10-minute timer): one run's CPU x the calendar's runs
                r["cpu_s_per_hour"] = med(runs) * 3600 / PERIOD[s]
            r["runs_per_hour"] = nrun / max(1, len(units)) * 3600 / win
            r["how"] = "CPU of the %d runs of %d instances in the steady window, per instance" % (nrun, len(units))
        elif s.startswith("ash"):
            # one autossh per tunnel: the median process
            v = per.get((s, False), [])
            r["cpu_s_per_hour"] = med(v)
            r["how"] = "median autossh process over %.0f s of steady state" % win
        else:
            r["cpu_s_per_hour"] = med(per.get((s, False), []))
            r["how"] = "median daemon (one per tunnel) over %.0f s of steady state" % win
            if s == "rtdr":
                r["bastion_daemon_cpu_s_per_hour"] = med(per.get(("rtdr", True), []))
        monitors[s] = r

    res = {"machine": m, "runs": res_runs, "cap_s": cap, "reps": reps, "cells": sorted(cells.values(), key=lambda c: (c["fault"], c["setup"])),
           "monitors": list(monitors.values())}
    # bastion reaper's own count
    bm = os.path.join(RAW, "bastion-daemon.metrics")
    if os.path.exists(bm):
        res["reaped_total"] = sum(float(l.split()[-1]) for l in open(bm) if l.startswith("rtun_bastion_reaped_total{"))

    # node_exporter vs discovery
    ne = []
    p = os.path.join(RAW, "nodeexp.txt")
    if os.path.exists(p):
        for line in open(p):
            n, loaded, seen, c0, c1, runs, tk = line.split()
            walls = [float(x) for x in open(os.path.join(RAW, "nodeexp-%s.wall" % n))]
            row = {"units": int(n), "loaded": int(loaded), "node_exporter_units_seen": int(seen),
                   "node_exporter_scrape_wall_s": med(walls),
                   "node_exporter_cpu_per_scrape_s": (float(c1) - float(c0)) / float(tk) / int(runs)}
            cp = os.path.join(RAW, "disc-cold-%s.time" % n)
            if os.path.exists(cp):
                w, u, sy = open(cp).read().split()[-3:]
                row["discovery_cold_wall_s"], row["discovery_cold_cpu_s"] = float(w), float(u) + float(sy)
            hp = os.path.join(RAW, "disc-%s.hf.json" % n)
            if os.path.exists(hp):
                r = json.load(open(hp))["results"][0]
                row["discovery_wall_s"] = med(r["times"])
                row["discovery_cpu_s"] = r["user"] + r["system"]  # hyperfine: means over the runs
                row["discovery_command"] = r["command"]
            try:
                row["discovery_tunnels"] = len(json.load(open(os.path.join(RAW, "disc-%s.json" % n))).get("tunnels", []))
            except (OSError, ValueError):
                pass
            if row.get("discovery_wall_s"):
                row["wall_ratio_node_exporter_over_discovery"] = row["node_exporter_scrape_wall_s"] / row["discovery_wall_s"]
            if row.get("discovery_cpu_s"):
                row["cpu_ratio_node_exporter_over_discovery"] = row["node_exporter_cpu_per_scrape_s"] / row["discovery_cpu_s"]
            ne.append(row)
    res["node_exporter"] = ne

    bb = []
    p = os.path.join(RAW, "blackbox.txt")
    if os.path.exists(p):
        for line in open(p):
            tid, n, ok, c0, c1, tk = line.split()
            walls = [float(x) for x in open(os.path.join(RAW, "blackbox-%s.wall" % tid))]
            mux = [l.split() for l in open(os.path.join(RAW, "mux-%s.txt" % tid)) if l.startswith("mux ")]
            row = {"tunnel": tid, "probes": int(n), "blackbox_success": int(ok),
                   "blackbox_wall_ms": med(walls) * 1e3,
                   "blackbox_cpu_per_probe_ms": (float(c1) - float(c0)) / float(tk) / int(n) * 1e3,
                   "mux_probes": len(mux), "mux_ok": sum(1 for x in mux if x[4] == "ok" or x[4] == "0"),
                   "mux_wall_ms": med([float(x[1]) / 1e3 for x in mux]),
                   "mux_cpu_per_probe_ms": med([(float(x[2]) + float(x[3])) / 1e3 for x in mux])}
            if row["mux_cpu_per_probe_ms"]:
                row["cpu_ratio_blackbox_over_mux"] = row["blackbox_cpu_per_probe_ms"] / row["mux_cpu_per_probe_ms"]
            bb.append(row)
    res["blackbox"] = bb
    json.dump(res, open(os.path.join(OUT, "peers.json"), "w"), indent=1)

    # the table: one row per setup, one column per fault: "median s (capped/n) r=restarts"
    faults = [f for f in FAULTS if any(c["fault"] == f for c in cells.values())]
    setups = [s for s in NAMES if any(c["setup"] == s for c in cells.values())]
    print("Time until the forward answers again, median of %d (s; cap %d s, '>=' = at the cap), restarts per tunnel (r, median; m: of the cell's %d tunnels together, those the monitor asked for), bastion logins of the cell's %d tunnels from the fault to the end of the wait (l)" % (reps, cap, reps, reps))
    print()
    print("| setup | " + " | ".join(FAULTS[f] for f in faults) + " | CPU s/h | logins/h |")
    print("|---" * (len(faults) + 3) + "|")
    for s in setups:
        row = []
        for f in faults:
            c = cells.get((s, f))
            if not c:
                row.append("-")
                continue
            v = ">= %d" % cap if c["at_cap"] else "%.0f" % c["median_s"]
            capped = " (%d/%d at cap)" % (c["capped"], len(c["times"])) if c["capped"] else ""
            mine = " (m %d)" % c["monitor_restarts_total"] if "monitor_restarts_total" in c else ""
            row.append("%s%s, r %g%s, l %d" % (v, capped, c["restarts_median"], mine, c["logins_after_fault"]))
        mo = monitors.get(s, {})
        cpu = mo.get("cpu_s_per_hour", float("nan"))
        extra = ""
        if s == "rtdr" and mo.get("bastion_daemon_cpu_s_per_hour") == mo.get("bastion_daemon_cpu_s_per_hour"):
            extra = " + bastion %.2f" % mo["bastion_daemon_cpu_s_per_hour"]
        print("| %s | %s | %.2f%s | %.0f |" % (NAMES[s], " | ".join(row), cpu, extra, mo.get("logins_per_hour", float("nan"))))
    print()
    for r in ne:
        print("node_exporter %(units)d units (loaded %(loaded)d, seen %(node_exporter_units_seen)d): scrape %(node_exporter_scrape_wall_s).3f s wall, "
              "%(node_exporter_cpu_per_scrape_s).3f s CPU" % r +
              ("; first discovery (cold) %(discovery_cold_wall_s).2f s wall, %(discovery_cold_cpu_s).2f s CPU" % r if "discovery_cold_cpu_s" in r else "") +
              (("; discovery %(discovery_wall_s).3f s wall, %(discovery_cpu_s).3f s CPU; ratio wall %(wall_ratio_node_exporter_over_discovery).2f, "
                "CPU %(cpu_ratio_node_exporter_over_discovery).2f") % r if "cpu_ratio_node_exporter_over_discovery" in r else ""))
    for r in bb:
        print("blackbox ssh_banner %(tunnel)s: %(blackbox_success)d/%(probes)d ok, %(blackbox_wall_ms).2f ms wall, %(blackbox_cpu_per_probe_ms).3f ms CPU/probe; "
              "mux %(mux_ok)d/%(mux_probes)d, %(mux_wall_ms).2f ms wall, %(mux_cpu_per_probe_ms).3f ms CPU/probe" % r +
              ("; CPU ratio %.1f" % r["cpu_ratio_blackbox_over_mux"] if "cpu_ratio_blackbox_over_mux" in r else ""))
    for r in res_runs:
        print("run %s: marks after T0 (s): %s" % (r["raw"], " ".join("%s %g" % kv_ for kv_ in sorted(r["marks"].items(), key=lambda x: x[1]))))
    if "reaped_total" in res:
        print("bastion reaper: rtun_bastion_reaped_total = %g" % res["reaped_total"])

    # the plot: one group per fault, one bar per setup (log scale; the cap drawn)
    if shutil.which("gnuplot") and faults and setups:
        dat = os.path.join(RAW, "peers.png.dat")
        with open(dat, "w") as f:
            f.write("fault " + " ".join('"%s"' % NAMES[s] for s in setups) + "\n")
            for fa in faults:
                vals = []
                for s in setups:
                    c = cells.get((s, fa))
                    vals.append("%g" % c["median_s"] if c else "NaN")
                f.write('"%s" %s\n' % (FAULTS[fa], " ".join(vals)))
        subprocess.run(["gnuplot"], text=True, check=False, input=f"""set terminal png size 1300,620
set output '{os.path.join(OUT, "peers.png")}'
set title 'Time until the forward answers again after the fault (median of {reps}; cap {cap:.0f} s) - make bench-peers'
set ylabel 'seconds (log)'
set logscale y
set yrange [1:{cap * 1.6:.0f}]
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.7
set key outside right
set grid ytics
set xtics rotate by -12
set arrow from graph 0, first {cap:.0f} to graph 1, first {cap:.0f} nohead dt 2 lc rgb 'red'
plot for [i=2:{len(setups) + 1}] '{dat}' using i:xtic(1) title columnheader(i)
""")


main()
