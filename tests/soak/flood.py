#!/usr/bin/env python3
"""A scrape flood: THREADS clients GET /metrics back to back for SECONDS while one more asks /healthz every
0.2 s and times it. Prints one line: scrapes N errors N healthz_max_s X healthz_failures N.

    flood.py BASE_URL SECONDS THREADS
"""
import sys
import threading
import time
import urllib.request

base, seconds, threads = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
end = time.monotonic() + seconds
lock = threading.Lock()
counts = {"scrapes": 0, "errors": 0, "hz_fail": 0}
hz_max = 0.0


def scraper():
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(base + "/metrics", timeout=5).read()
            k = "scrapes"
        except Exception:
            k = "errors"
        with lock:
            counts[k] += 1


ts = [threading.Thread(target=scraper, daemon=True) for _ in range(threads)]
for t in ts:
    t.start()
while time.monotonic() < end:
    s = time.monotonic()
    try:
        ok = urllib.request.urlopen(base + "/healthz", timeout=5).status == 200
    except Exception:
        ok = False
    hz_max = max(hz_max, time.monotonic() - s)
    if not ok:
        counts["hz_fail"] += 1
    time.sleep(0.2)
for t in ts:
    t.join(10)
print("scrapes %d errors %d healthz_max_s %.3f healthz_failures %d" %
      (counts["scrapes"], counts["errors"], hz_max, counts["hz_fail"]))
