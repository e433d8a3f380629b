#!/usr/bin/python3
"""wait_banner.py PORT TIMEOUT: polls 127.0.0.1:PORT every 50 ms until it answers "SSH-"; prints the
wall-clock time (epoch seconds) of that answer. Exit 1 on timeout."""
import socket, sys, time

port, limit = int(sys.argv[1]), float(sys.argv[2])
end = time.monotonic() + limit
while time.monotonic() < end:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3) as s:
            s.settimeout(0.3)
            if s.recv(64).startswith(b"SSH-"):
                print(f"{time.time():.6f}")
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.05)
sys.exit(1)
