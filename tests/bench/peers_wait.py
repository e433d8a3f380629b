#!/usr/bin/python3
"""peers_wait.py T0 CAP LIST OUT: after a fault at epoch T0, the time until each forward answers the
target's SSH banner through the bastion again (tests/bench/peers.sh, docs/benchmarks.md section 7).

LIST: one line per tunnel, "ID PORT OLDINO FROM": PORT the bastion listener, OLDINO the inode of the
listening socket before the fault (`ss -e`; `ss -p` walks every process's fds and stalled for 100 s on
this loaded machine), FROM the earliest second (after T0) at which a banner may count.
The listener is looked at with `ss` (no connection) until another session holds it: a connection to a
stale listener counts as activity of that session and postpones its ClientAlive timeout (lab.sh,
lab_listener_pid), so probing it would change the fault being measured. A faulted session that carries
again (bastion unreachable for 30 s, then back) is polled from FROM on, whoever holds it.
OUT: "ID SECONDS" per tunnel, SECONDS = "cap" when it did not answer within CAP seconds of T0.

peers_wait.py ready TIMEOUT PORT...: waits until every port answers a banner (each attempt given 10 s: on
this loaded machine the lab's one target sshd answers 30 banners at once in more than the 1 s that
lab.sh's lab__wait_banners allows); prints the ports still silent and exits 1 after TIMEOUT s.
"""
import concurrent.futures, re, socket, subprocess, sys, time


def banner(port, limit=2.0):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=limit) as s:
            s.settimeout(limit)
            return s.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def listeners():
    try:
        out = subprocess.run(["ss", "-Htlne"], capture_output=True, text=True, timeout=10).stdout
    except subprocess.TimeoutExpired:
        return {}
    held = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) < 4 or not f[3].startswith("127.0.0.1:"):
            continue
        port = f[3].rsplit(":", 1)[-1]
        m = re.search(r"ino:(\d+)", line)
        if port.isdigit() and m:
            held.setdefault(int(port), m.group(1))
    return held


def ready(limit, ports):
    end = time.time() + limit

    def one(p):
        while time.time() < end:
            if banner(p, min(10.0, max(0.5, end - time.time()))):
                return True
            time.sleep(1.0)
        return False

    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        silent = [p for p, ok in zip(ports, pool.map(one, ports)) if not ok]
    if silent:
        print(" ".join(map(str, silent)))
        sys.exit(1)


def main():
    if sys.argv[1] == "ready":
        ready(float(sys.argv[2]), [int(p) for p in sys.argv[3:]])
        return
    t0, cap, lst, out = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
    left = {}
    for line in open(lst):
        i, port, old, frm = line.split()
        left[i] = (int(port), old, float(frm))
    done = {}
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=16)
    log = open(out + ".loop", "w")  # one line per round: its start (s after T0), duration, candidates
    while left and time.time() - t0 < cap:
        tick = time.time()
        held = listeners()
        cand = [i for i, (p, old, frm) in left.items()
                if tick - t0 >= frm and p in held and (held[p] != old or frm > 0)]
        for i, ok in zip(cand, pool.map(lambda i: banner(left[i][0]), cand)):
            if ok:
                done[i] = time.time() - t0
                del left[i]
        log.write("%.1f %.1f %d\n" % (tick - t0, time.time() - tick, len(cand)))
        log.flush()
        time.sleep(max(0.0, 1.0 - (time.time() - tick)))
    with open(out, "w") as f:
        for i, t in sorted(done.items()):
            f.write("%s %.1f\n" % (i, t))
        for i in sorted(left):
            f.write("%s cap\n" % i)


main()
