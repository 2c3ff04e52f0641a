#!/usr/bin/python3
"""webhook_receiver: a real HTTP receiver for the webhook tests, told per path how to answer.

Standard library only (Debian's /usr/bin/python3). Listens on 127.0.0.1:PORT, appends every
request to a JSON-lines log *before* answering (so stalled and dropped requests are recorded
too), and exits by itself after --lifetime seconds.

    webhook_receiver.py --port 0 --log req.jsonl --lifetime 60 --ready-file port.txt \
        --route /ok=200 --route /down=500 --route /busy=429:7 --route /gone=410 \
        --route /moved=302:http://127.0.0.1:1/elsewhere --route /slow=stall:20 \
        --route /drop=close --route /flaky=500,500,200

An action is a status code (any 1xx-5xx; 429 and 503 may add ":SECONDS" or ":HTTP-DATE" for a
Retry-After header), "3xx:LOCATION" for a redirect, "stall:SECONDS" (wait, then answer 200),
or "close" (read the request, then close the connection without a word). A comma-separated list
is a sequence per path: the Nth request to the path gets the Nth action, and the last one
repeats. Paths without a route get --default (200). Port 0 picks a free port; the port is
written to --ready-file (when given) once the server listens, and printed on stdout.

Each log line: {"t": unix time with fractions, "method", "path", "headers": {lower-case name:
value}, "body": text, "action": what was done}.
"""

import argparse
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def parse_action(text):
    """One action as a dict, or raises ValueError naming what is wrong."""
    text = text.strip()
    if text == "close":
        return {"kind": "close"}
    if text.startswith("stall:"):
        return {"kind": "stall", "seconds": float(text[len("stall:"):])}
    code, _, extra = text.partition(":")
    status = int(code)
    if not 100 <= status <= 599:
        raise ValueError("status %d is not an HTTP status" % status)
    action = {"kind": "status", "status": status}
    if 300 <= status <= 399 and extra:
        action["location"] = extra
    elif extra:
        action["retry_after"] = extra
    return action


def parse_route(text):
    path, sep, actions = text.partition("=")
    if not sep or not path.startswith("/"):
        raise ValueError("a route is /PATH=ACTION[,ACTION...], not %r" % text)
    return path, [parse_action(a) for a in actions.split(",")]


class Receiver:
    """What the handlers share: routes, per-path counters and the log, behind one lock."""

    def __init__(self, routes, default, log_path):
        self.routes = routes
        self.default = default
        self.counts = {}
        self.lock = threading.Lock()
        self.log = open(log_path, "a", encoding="utf-8")

    def next_action(self, path):
        with self.lock:
            seq = self.routes.get(path, [self.default])
            n = self.counts.get(path, 0)
            self.counts[path] = n + 1
        return seq[min(n, len(seq) - 1)]

    def record(self, entry):
        line = json.dumps(entry, ensure_ascii=False, sort_keys=True)
        with self.lock:
            self.log.write(line + "\n")
            self.log.flush()


def make_handler(receiver):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "driftwatch-test-receiver/1"

        def log_message(self, fmt, *args):  # quiet: the JSON log is the record
            pass

        def handle_any(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            path = self.path.split("?", 1)[0]
            action = receiver.next_action(path)
            receiver.record({
                "t": time.time(),
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("utf-8", errors="replace"),
                "action": action,
            })
            kind = action["kind"]
            if kind == "close":
                self.close_connection = True
                return
            status, headers = 200, {}
            if kind == "stall":
                time.sleep(action["seconds"])
            else:
                status = action["status"]
                if "location" in action:
                    headers["Location"] = action["location"]
                if "retry_after" in action:
                    headers["Retry-After"] = action["retry_after"]
            payload = json.dumps({"status": status}).encode()
            try:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up first (a stall)

        do_POST = handle_any
        do_PUT = handle_any
        do_GET = handle_any

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1; 0 = any")
    ap.add_argument("--log", required=True, help="JSON-lines file to append requests to")
    ap.add_argument("--lifetime", type=float, default=60.0, help="seconds before exiting")
    ap.add_argument("--route", action="append", default=[], help="/PATH=ACTION[,ACTION...]")
    ap.add_argument("--default", default="200", help="action for paths without a route")
    ap.add_argument("--ready-file", help="write the listening port here once ready")
    args = ap.parse_args()

    try:
        routes = dict(parse_route(r) for r in args.route)
        default = parse_action(args.default)
    except ValueError as e:
        print("webhook_receiver: %s" % e, file=sys.stderr)
        return 2

    receiver = Receiver(routes, default, args.log)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(receiver))
    server.daemon_threads = True  # a stalled handler must not keep the process alive
    port = server.server_address[1]
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.ready_file)
    print(port, flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stop.wait(args.lifetime)
    server.shutdown()
    server.server_close()
    receiver.log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
