#!/usr/bin/env python3
"""The soak's report (tests/soak/run.sh): reads DIR's logs, prints the figures and one
"verdict: pass|fail: TEXT" line per check; writes DIR/report.json.

    report.py DIR --minutes M --tunnels N --bastions B --interval S --daemon-pid P0 P1
              --daemon-nrestarts N0 N1 [--valgrind LOG --exit-status N]

Detection time of a fault: from its injection until the daemon showed it: the first scrape (every 0.25 s)
with rtun_tunnel_up 0 for the tunnel (for a bastion: for every tunnel of it, the last of them); for the bus
daemon, its journal's "Lost the system bus"; for the receiver, the delay of the held-back alerts once it
was back. A restart is a mistake when it hit a tunnel outside every fault that touched it.
"""
import argparse
import collections
import datetime
import json
import os
import re
import statistics
import sys

ap = argparse.ArgumentParser()
ap.add_argument("dir")
ap.add_argument("--minutes", type=float, required=True)
ap.add_argument("--tunnels", type=int, required=True)
ap.add_argument("--bastions", type=int, required=True)
ap.add_argument("--interval", type=float, required=True)
ap.add_argument("--timeout", type=float, default=3.0)
ap.add_argument("--daemon-pid", nargs=2, required=True)
ap.add_argument("--daemon-nrestarts", nargs=2, required=True)
ap.add_argument("--valgrind")
ap.add_argument("--exit-status")
a = ap.parse_args()
D = a.dir
verdicts = []


def verdict(ok, text):
    verdicts.append(("pass" if ok else "fail", text))


def lines(name):
    p = os.path.join(D, name)
    return open(p).read().splitlines() if os.path.exists(p) else []


# faults.log: "ID KIND TARGET T0 UNIT..."; results.log: "ID KIND STATUS T_DONE key=value..."
faults = {}
for ln in lines("faults.log"):
    f = ln.split()
    faults[f[0]] = {"id": f[0], "kind": f[1], "target": f[2], "t0": float(f[3]), "units": f[4:]}
results = {}
for ln in lines("results.log"):
    f = ln.split()
    kv = dict(x.split("=", 1) for x in f[4:] if "=" in x)
    results[f[0]] = {"kind": f[1], "status": f[2], "t_done": float(f[3]), **kv}

# poll.log: first time each unit was seen not up after a moment
seen_down = collections.defaultdict(list)
seen_restart = collections.defaultdict(list)  # systemd's NRestarts moved, as the daemon exported it
scrape_errors = 0
last_nr = {}
for ln in lines("poll.log"):
    f = ln.split()
    if len(f) >= 4 and f[1] == "up" and f[3] != "1":
        seen_down[f[2]].append(float(f[0]))
    elif len(f) >= 4 and f[1] == "nrestarts":
        if f[2] in last_nr and f[3] != last_nr[f[2]]:
            seen_restart[f[2]].append(float(f[0]))
        last_nr[f[2]] = f[3]
    elif len(f) >= 2 and f[1] == "scrape_error":
        scrape_errors += 1


def first_down(unit, t0, limit=120.0):
    for t in seen_down.get(unit, []):
        if t0 - 0.05 <= t <= t0 + limit:
            return t - t0
    return None


def first_restart(unit, t0, limit=120.0):
    for t in seen_restart.get(unit, []):
        if t0 - 0.05 <= t <= t0 + limit:
            return t - t0
    return None


by_kind = collections.OrderedDict((k, {"injected": 0, "ok": 0, "failed": 0, "detect": [], "notes": []})
                                  for k in ("stop", "halfopen", "bastion", "dbus", "receiver", "flood"))
failures = []
for fid, f in sorted(faults.items(), key=lambda x: int(x[0])):
    k = by_kind[f["kind"]]
    k["injected"] += 1
    r = results.get(fid)
    if r is None:
        k["failed"] += 1
        failures.append("%s %s %s: no outcome recorded" % (fid, f["kind"], f["target"]))
        continue
    if r["status"] == "ok":
        k["ok"] += 1
    else:
        k["failed"] += 1
        failures.append("%s %s %s: %s" % (fid, f["kind"], f["target"], r.get("why", r["status"])))
    f["t_done"] = r["t_done"]
    if f["kind"] in ("stop", "halfopen", "receiver"):
        d = first_down(f["units"][0], f["t0"])
        if d is not None:
            k["detect"].append(d)
        if f["kind"] == "receiver" and "delivered_s" in r:
            k["notes"].append(float(r["delivered_s"]))
    elif f["kind"] == "bastion":
        # A tunnel systemd had connected again before the daemon's next probe was never down to see: the daemon
        # saw its restart (NRestarts, from discovery) instead. Neither seen: missed.
        ds = [first_down(u, f["t0"]) for u in f["units"]]
        rs = [first_restart(u, f["t0"]) if d is None else None for u, d in zip(f["units"], ds)]
        if all(d is not None or r is not None for d, r in zip(ds, rs)):
            k["detect"].append(max(d if d is not None else r for d, r in zip(ds, rs)))
            if any(r is not None for r in rs):
                k["notes"].append("%d of %d tunnels back before a probe: seen as systemd's restart"
                                  % (sum(r is not None for r in rs), len(ds)))
        else:
            k["notes"].append("%d of %d tunnels never seen down nor restarted"
                              % (sum(d is None and r is None for d, r in zip(ds, rs)), len(ds)))
    elif f["kind"] == "dbus" and "lost_s" in r:
        k["detect"].append(float(r["lost_s"]))
        k["notes"].append(float(r["reconnected_s"]))
    elif f["kind"] == "flood" and "scrapes" in r:
        k["notes"].append((int(r["scrapes"]), float(r.get("healthz_max_s", "nan"))))

# --- alerts the receiver answered 200, in arrival order
alerts = []
for ln in lines("receiver.log"):
    try:
        j = json.loads(ln)
        if j.get("answer") != "200" or j.get("path") != "/hook":
            continue
        b = json.loads(j["body"])
        ts = datetime.datetime.strptime(b["timestamp"].replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S%z").timestamp()
        alerts.append({"got": j["time"], "event": b["event"], "name": b.get("name", ""), "ts": ts})
    except (ValueError, KeyError):
        continue
events = collections.Counter(x["event"] for x in alerts)
# repeated: the same event of the same tunnel at the same moment delivered twice, or down twice without
# recovered between (by event time)
dup = collections.Counter((x["name"], x["event"], x["ts"]) for x in alerts)
repeated = sum(c - 1 for c in dup.values() if c > 1)
per_unit = collections.defaultdict(list)
for x in sorted(alerts, key=lambda x: (x["ts"], x["got"])):
    if x["event"] in ("down", "recovered"):
        per_unit[x["name"]].append(x["event"])
alternation_breaks = []
for u, evs in per_unit.items():
    prev = "recovered"
    for e in evs:
        if e == prev:
            alternation_breaks.append("%s: %s twice" % (u, e))
        prev = e
    if prev != "recovered":
        alternation_breaks.append("%s: ends down" % u)


def window(f):
    return f["t0"] - 2, f.get("t_done", f["t0"] + 300) + 30


# lost: a tunnel fault's down and recovered (and restarted) alerts, within its window
lost = []
for f in faults.values():
    if f["kind"] not in ("stop", "halfopen", "receiver") or results.get(f["id"], {}).get("status") != "ok":
        continue
    lo, hi = window(f)
    u = f["units"][0]
    for ev in ("down", "restarted", "recovered"):
        if not any(x["name"] == u and x["event"] == ev and lo <= x["ts"] <= hi + 1 for x in alerts):
            lost.append("%s %s %s: no %s alert" % (f["id"], f["kind"], u, ev))

# mistaken restarts: a restarted alert outside every fault window of that tunnel; plus (run.sh's MainPIDs)
# a tunnel that no fault touched and whose process changed; plus rtun_restarts_total of such tunnels.
touched = collections.defaultdict(list)
for f in faults.values():
    for u in f["units"]:
        touched[u].append(window(f))
mistaken = []
for x in alerts:
    if x["event"] == "restarted" and not any(lo <= x["ts"] <= hi + 1 for lo, hi in touched.get(x["name"], [])):
        mistaken.append("%s restarted at %s outside any fault" % (x["name"], x["ts"]))
start = dict(ln.split() for ln in lines("mainpid.start") if len(ln.split()) == 2)
end = dict(ln.split() for ln in lines("mainpid.end") if len(ln.split()) == 2)
untouched = [u for u in start if u not in touched]
for u in untouched:
    if start.get(u) != end.get(u):
        mistaken.append("%s (never faulted) changed MainPID %s -> %s" % (u, start.get(u), end.get(u)))
restarts_total = collections.Counter()
for ln in lines("metrics.end"):
    m = re.match(r'^rtun_restarts_total\{name="([^"]+)"[^}]*\} (\S+)$', ln)
    if m:
        restarts_total[m.group(1)] += float(m.group(2))
for u in untouched:
    if restarts_total.get(u, 0) > 0:
        mistaken.append("%s (never faulted) has rtun_restarts_total %g" % (u, restarts_total[u]))
mistaken = sorted(set(mistaken))

# --- RSS and fds
rss = [ln.split() for ln in lines("rss.log")]
rs = [r for r in rss if len(r) >= 5 and r[4] == "start"]
re_ = [r for r in rss if len(r) >= 5 and r[4] == "end"]
rss_start = int(rs[0][1]) if rs else None
rss_end = int(re_[-1][1]) if re_ else None
rss_all = [int(r[1]) for r in rss if len(r) >= 3 and r[1].isdigit()]
# Open fds include the probes in flight (a few per probe): the fewest of the first and of the last three
# samples tell a leak from a busy moment.
fds_all = [int(r[2]) for r in rss if len(r) >= 3 and r[2].isdigit()]
fd_start = min(fds_all[:3]) if fds_all else None
fd_end = min(fds_all[-3:]) if fds_all else None


def fmt_stats(xs):
    if not xs:
        return "-"
    return "median %.2f s, max %.2f s" % (statistics.median(xs), max(xs))


out = []
loads = [float(r[3]) for r in rss if len(r) >= 4 and re.match(r"^[0-9.]+$", r[3])]
out.append("Soak: %d tunnels on %d bastions, %.0f min of faults, monitor.interval %gs, timeout %gs, failures 2;"
           " machine load average %s" % (a.tunnels, a.bastions, a.minutes, a.interval, a.timeout,
                                        ("%.1f-%.1f" % (min(loads), max(loads))) if loads else "?"))
out.append("")
out.append("%-9s %8s %9s %7s  %-32s  %s" % ("fault", "injected", "outcome", "failed", "detected", "other"))
for k, v in by_kind.items():
    if k == "receiver":
        other = "held-back alerts delivered %s after it was back" % fmt_stats(v["notes"])
    elif k == "dbus":
        other = "reconnected %s" % fmt_stats(v["notes"])
    elif k == "flood":
        other = ("%d scrapes per 8 s flood of 8 clients (median); /healthz max %.2f s" %
                 (statistics.median(n for n, _ in v["notes"]), max(h for _, h in v["notes"]))) if v["notes"] else "-"
    elif k == "bastion":
        other = "; ".join(str(n) for n in v["notes"]) or "all its tunnels seen down, then back"
    else:
        other = ""
    det = "%d, %s" % (len(v["detect"]), fmt_stats(v["detect"])) if k != "flood" else "n/a (nothing breaks)"
    out.append("%-9s %8d %6d ok %7d  %-32s  %s" % (k, v["injected"], v["ok"], v["failed"], det, other))
out.append("")
out.append("alerts delivered: %d (%s)" % (len(alerts), ", ".join("%s %d" % kv for kv in sorted(events.items()))))
out.append("alerts repeated: %d; down/recovered out of order: %d; lost: %d" %
           (repeated, len(alternation_breaks), len(lost)))
out.append("healthy tunnels restarted by mistake: %d (tunnels no fault touched: %d)" % (len(mistaken), len(untouched)))
out.append("scrape errors seen by the 0.25 s poller: %d" % scrape_errors)
if rss_start is not None and rss_end is not None:
    out.append("daemon RSS: %d kB at start, %d kB at end (%+d kB; min %d, max %d over %d samples); fds (fewest of the"
               " first / last 3 samples): %d -> %d (all samples: %d-%d)" %
               (rss_start, rss_end, rss_end - rss_start, min(rss_all), max(rss_all), len(rss_all), fd_start, fd_end,
                min(fds_all), max(fds_all)))
out.append("daemon: MainPID %s -> %s, NRestarts %s -> %s" % (a.daemon_pid[0], a.daemon_pid[1], *a.daemon_nrestarts))
for name, xs in (("faults without their outcome", failures), ("alerts lost", lost),
                 ("down/recovered out of order", alternation_breaks), ("restarts by mistake", mistaken)):
    if xs:
        out.append("%s (%d; the first 15):" % (name, len(xs)))
        out.extend("  " + x for x in xs[:15])

# --- verdicts
for k, v in by_kind.items():
    if v["injected"]:
        verdict(v["failed"] == 0, "%s: %d of %d faults had the expected outcome" % (k, v["ok"], v["injected"]))
        if k in ("stop", "halfopen", "receiver", "bastion"):
            verdict(len(v["detect"]) == v["injected"], "%s: every fault seen by the daemon (%d of %d)" %
                    (k, len(v["detect"]), v["injected"]))
kinds_hit = sum(1 for v in by_kind.values() if v["injected"])
verdict(kinds_hit == len(by_kind) or a.minutes < 5, "fault kinds injected: %d of %d" % (kinds_hit, len(by_kind)))
verdict(not mistaken, "healthy tunnels restarted by mistake: %d" % len(mistaken))
verdict(repeated == 0 and not alternation_breaks, "alerts repeated: %d, out of order: %d" %
        (repeated, len(alternation_breaks)))
verdict(not lost, "alerts lost: %d" % len(lost))
verdict(events.get("network_down", 0) == 0, "no network_down (all-down guard) alert: %d" % events.get("network_down", 0))
verdict(a.daemon_pid[0] == a.daemon_pid[1] and a.daemon_nrestarts[0] == a.daemon_nrestarts[1],
        "the daemon ran through it all (same MainPID, no watchdog restart)")
if rss_start is not None and rss_end is not None:
    # The first samples still grow (first faults' alert queue, handles, caches): growth is judged from the
    # sample a third into the run to the end.
    rss_mid = rss_all[len(rss_all) // 3] if rss_all else rss_start
    verdict(rss_end - rss_mid <= max(2048, rss_mid // 5),
            "RSS growth %+d kB from a third into the run (%d kB) to the end (bound: 2 MB or 20 %%; %+d kB since the start)" %
            (rss_end - rss_mid, rss_mid, rss_end - rss_start))
    verdict(fd_end <= fd_start + 8, "fds %d -> %d, fewest of the first and last 3 samples (bound: +8)" % (fd_start, fd_end))
else:
    verdict(False, "RSS and fds sampled at start and end")
vg = None
if a.valgrind:
    text = open(a.valgrind).read() if os.path.exists(a.valgrind) else ""
    m = re.findall(r"ERROR SUMMARY: (\d+) errors", text)
    definite = re.findall(r"definitely lost: ([\d,]+) bytes", text)
    vg = {"exit_status": a.exit_status, "log_bytes": len(text), "error_summary": m, "definitely_lost": definite}
    # -q: a clean run writes only valgrind's own notes ("--PID-- WARNING: unhandled syscall 434", pidfd_open,
    # which libsystemd then does without); any "==PID==" line is a finding.
    findings = [ln for ln in text.splitlines() if not re.match(r"^--\d+-- ", ln) and ln.strip()]
    verdict(a.exit_status in ("0", "143") and not findings,
            "valgrind: no error, no definite leak (exit %s, %d lines of findings, %d notes)" %
            (a.exit_status, len(findings), len(text.splitlines()) - len(findings)))
    out.append("valgrind: exit %s, log %d bytes%s" % (a.exit_status, len(text), (":\n" + text[:4000]) if text.strip() else " (clean)"))

for v, t in verdicts:
    out.append("verdict: %s: %s" % (v, t))
print("\n".join(out))
json.dump({"by_kind": by_kind, "alerts": dict(events), "repeated": repeated, "lost": lost,
           "out_of_order": alternation_breaks, "mistaken": mistaken, "untouched": len(untouched),
           "rss_kb": [rss_start, rss_end], "fds": [fd_start, fd_end], "valgrind": vg,
           "verdicts": verdicts}, open(os.path.join(D, "report.json"), "w"), indent=1, default=str)
sys.exit(0 if all(v == "pass" for v, _ in verdicts) else 1)
