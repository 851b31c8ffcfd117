#!/usr/bin/env python3
"""A webhook receiver for the notify tests: records every POST and fails the
first N of them on purpose, to exercise retries and dead letters.

Usage: webhook_receiver.py --dir DIR --port-file FILE [--fail-first N] [--fail-status CODE]
                           [--secret S]

Binds 127.0.0.1 on a free port and writes the port to --port-file once it
listens. Each request becomes DIR/req-NNNNNN.json (written atomically):
{"n": 1, "time": <seconds, monotonic>, "path": "/hook", "headers": {...},
"body": "...", "status": 500, "signature_valid": true|false|null}; with
--secret the receiver checks X-Inlet-Signature as a real receiver would:
sha256=HMAC-SHA256(secret, X-Inlet-Timestamp + "." + body).
"""
import argparse
import hashlib
import hmac
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--fail-status", type=int, default=500)
    parser.add_argument("--secret", default=None)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    lock = threading.Lock()
    counter = [0]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            now = time.monotonic()
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            body = raw.decode("utf-8", errors="replace")
            valid = None
            if args.secret is not None:
                signed = self.headers.get("X-Inlet-Timestamp", "").encode() + b"." + raw
                expected = "sha256=" + hmac.new(args.secret.encode(), signed, hashlib.sha256).hexdigest()
                valid = hmac.compare_digest(expected, self.headers.get("X-Inlet-Signature", ""))
            with lock:
                counter[0] += 1
                n = counter[0]
            status = args.fail_status if n <= args.fail_first else 200
            record = {"n": n, "time": now, "path": self.path, "headers": dict(self.headers.items()),
                      "body": body, "status": status, "signature_valid": valid}
            write_atomic(os.path.join(args.dir, "req-%06d.json" % n), json.dumps(record))
            reply = b'{"ok":true}' if status == 200 else b'{"error":"failing on purpose"}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *unused):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    write_atomic(args.port_file, str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()
