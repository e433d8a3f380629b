#!/usr/bin/env python3
"""A scripted HTTP receiver for alert tests (python3 stdlib only).

    receiver.py --port P --log FILE [--script "500,500,200" | "429:2,200" | "hang" | "close" | ...]

Listens on 127.0.0.1:P. Every request is appended to FILE as one JSON line
{"time", "method", "path", "headers", "body", "answer"}. Requests are answered in order by the
script's steps; once it is exhausted, 200. Steps: a status code ("500"), "429:N" (429 with
Retry-After: N), "hang" (never answer), "close" (close the connection without an answer), "reset"
(abort the connection with a TCP RST), "garbage" (answer bytes that are not HTTP, then close).
--port 0 picks a free port; the port is printed on stdout ("PORT N") once listening.
"""
import argparse
import json
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Script:
    def __init__(self, text):
        self.steps = [s.strip() for s in text.split(",") if s.strip()] if text else []
        self.lock = threading.Lock()

    def next(self):
        with self.lock:
            return self.steps.pop(0) if self.steps else "200"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real webhook endpoint

    def log_message(self, fmt, *args):  # quiet: the JSON log is the record
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        step = self.server.script.next()
        self.server.record({
            "time": time.time(),
            "method": self.command,
            "path": self.path,
            "headers": {k: v for k, v in self.headers.items()},
            "body": body.decode("utf-8", "replace"),
            "answer": step,
        })
        if step == "hang":
            time.sleep(3600)
            return
        if step == "close":
            self.close_connection = True
            return
        if step == "reset":
            # SO_LINGER 0: close() sends RST instead of FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if step == "garbage":
            self.wfile.write(b"\x00\x01 this is not HTTP at all\r\n\r\n")
            self.wfile.flush()
            self.close_connection = True
            return
        retry_after = None
        if step.startswith("429:"):
            step, retry_after = "429", step.split(":", 1)[1]
        code = int(step)
        reply = b'{"ok":true}' if code < 300 else b"scripted failure " + step.encode()
        self.send_response(code)
        if retry_after is not None:
            self.send_header("Retry-After", retry_after)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_POST = do_GET = do_PUT = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True  # a "hang" thread must not keep the process alive
    allow_reuse_address = True

    def __init__(self, addr, script, log_path):
        super().__init__(addr, Handler)
        self.script = script
        self.log_lock = threading.Lock()
        self.log_file = open(log_path, "a", encoding="utf-8")

    def record(self, entry):
        with self.log_lock:
            self.log_file.write(json.dumps(entry) + "\n")
            self.log_file.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--script", default="")
    a = ap.parse_args()
    srv = Server(("127.0.0.1", a.port), Script(a.script), a.log)
    print("PORT %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
