#!/usr/bin/python3
"""stall_server: a receiver that accepts every connection and never says a word.

Standard library only. Listens on 127.0.0.1:PORT (0 picks one), accepts connections and holds
them open, reading (and dropping) what comes but never answering, as a hung webhook receiver
does: the client waits for a reply until it gives up.
Writes the port to --ready-file once listening, and "ACCEPTED OPEN" (connections accepted so
far, and still open as far as it can tell) to --status-file after each change. Exits after
--lifetime seconds or on SIGTERM.

    stall_server.py --port 0 --ready-file port.txt --status-file status.txt --lifetime 300
"""
import argparse
import os
import selectors
import signal
import socket
import sys
import time


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--status-file", required=True)
    ap.add_argument("--lifetime", type=float, default=300.0)
    a = ap.parse_args()

    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", a.port))
    srv.listen(1024)
    srv.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(srv, selectors.EVENT_READ)
    held = []
    accepted = 0
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    write_atomic(a.status_file, "0 0\n")
    write_atomic(a.ready_file, "%d\n" % srv.getsockname()[1])
    end = time.monotonic() + a.lifetime
    while not stop and time.monotonic() < end:
        changed = False
        for _key, _ in sel.select(timeout=0.2):
            while True:
                try:
                    conn, _addr = srv.accept()
                except (BlockingIOError, InterruptedError):
                    break
                held.append(conn)
                accepted += 1
                changed = True
        # what a client sends is dropped; one that gave up reads as end of file: forget it
        still = []
        for c in held:
            try:
                c.setblocking(False)
                if c.recv(65536) == b"":
                    c.close()
                    changed = True
                    continue
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                c.close()
                changed = True
                continue
            still.append(c)
        held = still
        if changed:
            write_atomic(a.status_file, "%d %d\n" % (accepted, len(held)))
    for c in held:
        c.close()
    srv.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
