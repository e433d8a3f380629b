#!/usr/bin/env python3
"""Scrapes the daemon's /metrics every PERIOD seconds and writes what changed, one line each:

    poll.py URL OUT [PERIOD]

    TIME up UNIT 0|1          rtun_tunnel_up of a unit changed (first value too)
    TIME dbus 0|1             rtun_dbus_up changed
    TIME tunnels N            rtun_tunnels changed
    TIME nrestarts UNIT N     rtun_unit_restarts_total of a unit changed (systemd's NRestarts, as the daemon saw it)
    TIME scrape_error TEXT    a scrape failed (timeout, refused, ...)
    TIME scrape_ok            the first scrape that worked after errors

Runs until SIGTERM. The soak's report reads it to time each fault's detection.
"""
import re
import signal
import sys
import time
import urllib.request

URL, OUT = sys.argv[1], sys.argv[2]
PERIOD = float(sys.argv[3]) if len(sys.argv) > 3 else 0.25
UP = re.compile(r'^rtun_tunnel_up\{name="([^"]+)"[^}]*\} (\S+)$')
NR = re.compile(r'^rtun_unit_restarts_total\{name="([^"]+)"[^}]*\} (\S+)$')
running = True


def stop(*_):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)
seen = {}
failing = False
with open(OUT, "a", buffering=1) as out:
    while running:
        t = time.time()
        try:
            body = urllib.request.urlopen(URL, timeout=3).read().decode("utf-8", "replace")
        except Exception as e:  # any failure to scrape is what we record
            if not failing:
                out.write("%.3f scrape_error %s\n" % (t, str(e).replace("\n", " ")[:200]))
            failing = True
            time.sleep(PERIOD)
            continue
        if failing:
            out.write("%.3f scrape_ok\n" % t)
            failing = False
        now = {}
        for line in body.splitlines():
            m = UP.match(line)
            if m:
                now["up " + m.group(1)] = m.group(2)
            elif NR.match(line):
                m = NR.match(line)
                now["nrestarts " + m.group(1)] = m.group(2)
            elif line.startswith("rtun_dbus_up "):
                now["dbus"] = line.split()[1]
            elif line.startswith("rtun_tunnels "):
                now["tunnels"] = line.split()[1]
        for k, v in now.items():
            if seen.get(k) != v:
                out.write("%.3f %s %s\n" % (t, k, v))
                seen[k] = v
        time.sleep(max(0.0, PERIOD - (time.time() - t)))
