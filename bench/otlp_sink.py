#!/usr/bin/env python3
"""A tiny OTLP/HTTP sink for bench/otlp_cpu.sh (not a collector).

Accepts POST /v1/metrics and POST /v1/logs, reads the body and answers 200
with an empty protobuf body (an empty Export*ServiceResponse: no partial
success), Content-Type application/x-protobuf. Counts the requests and body
bytes per path and writes them as JSON to the file given with --stats on
every request, so the benchmark can check exports arrived.

Usage: otlp_sink.py --port PORT --stats FILE   (needs only Python 3)
"""

import argparse
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATS = {}
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    stats_path = None

    def do_POST(self):  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path not in ("/v1/metrics", "/v1/logs"):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        with LOCK:
            entry = STATS.setdefault(self.path, {"requests": 0, "bytes": 0})
            entry["requests"] += 1
            entry["bytes"] += len(body)
            tmp = self.stats_path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(STATS, f)
            os.replace(tmp, self.stats_path)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--stats", required=True)
    args = ap.parse_args()
    Handler.stats_path = args.stats
    with open(args.stats, "w") as f:
        json.dump({}, f)
    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
