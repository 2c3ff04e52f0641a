#!/usr/bin/python3
"""tcp_relay: a TCP relay that can make the network go silent, as a firewall or a stall does.

Standard library only. Listens on 127.0.0.1:PORT (0 picks one) and relays every connection to
127.0.0.1:TARGET, both ways. Writes its port to --ready-file once listening.
  SIGUSR1  blackhole: every connection relayed so far loses its server side (closed, as a
           firewall that expired the flow leaves it) while its client side is kept open and
           never read nor answered: no reset, no FIN reaches the client
  SIGUSR2  freeze: every connection relayed so far stops relaying both ways, both sides kept
           open (a stall: the server's session stays, idle)
Connections made after a signal relay as usual. Exits after --lifetime seconds or on SIGTERM.

    tcp_relay.py --port 0 --target 5432 --ready-file port.txt --lifetime 600
"""
import argparse
import os
import selectors
import signal
import socket
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--target", type=int, required=True)
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--lifetime", type=float, default=600.0)
    a = ap.parse_args()

    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", a.port))
    srv.listen(128)
    srv.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(srv, selectors.EVENT_READ, None)
    peer = {}          # live relayed socket -> the other side
    clients = set()    # the client side of each live pair
    held = []          # sockets kept open and ignored
    wanted = []        # signals not yet acted on

    signal.signal(signal.SIGUSR1, lambda *_: wanted.append("blackhole"))
    signal.signal(signal.SIGUSR2, lambda *_: wanted.append("freeze"))
    signal.signal(signal.SIGTERM, lambda *_: wanted.append("stop"))
    tmp = a.ready_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.getsockname()[1])
    os.rename(tmp, a.ready_file)

    def drop(s):
        for x in (s, peer.pop(s, None)):
            if x is None:
                continue
            peer.pop(x, None)
            clients.discard(x)
            try:
                sel.unregister(x)
            except (KeyError, ValueError):
                pass
            x.close()

    def act(what):
        for c in list(clients):
            clients.discard(c)
            srv_side = peer.get(c)
            for x in (c, srv_side):
                sel.unregister(x)
                peer.pop(x, None)
            if what == "blackhole":
                srv_side.close()
                held.append(c)
            else:
                held.extend([c, srv_side])

    end = time.monotonic() + a.lifetime
    while time.monotonic() < end:
        while wanted:
            w = wanted.pop(0)
            if w == "stop":
                return 0
            act(w)
        try:
            events = sel.select(timeout=0.2)
        except InterruptedError:
            continue
        for key, _ in events:
            s = key.fileobj
            if s is srv:
                try:
                    c, _ = srv.accept()
                except (BlockingIOError, InterruptedError):
                    continue
                up = socket.create_connection(("127.0.0.1", a.target))
                clients.add(c)
                peer[c], peer[up] = up, c
                sel.register(c, selectors.EVENT_READ, None)
                sel.register(up, selectors.EVENT_READ, None)
                continue
            if s not in peer:
                continue
            try:
                data = s.recv(65536)
            except (ConnectionError, OSError):
                data = b""
            if not data:
                drop(s)
                continue
            try:
                peer[s].sendall(data)
            except (ConnectionError, OSError):
                drop(s)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
