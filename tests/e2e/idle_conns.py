#!/usr/bin/env python3
"""Idle keep-alive connections, the kind a flood evicts first from an LRU.

N connections to HOST:PORT, one HTTP/1.1 request each (kept alive), then
idle; once the file --go names exists (or after --hold seconds) one more
request on each; prints "answered A reset R other O" and exits 0 if every
connection answered both requests. A file, not a signal: the process runs
inside `ip netns exec`, whose pid the caller has.

Standard library only: the test needs nothing but a socket per connection.
"""
import argparse
import os
import socket
import sys
import time

REQ = b"GET / HTTP/1.1\r\nHost: vip\r\nConnection: keep-alive\r\n\r\n"


def one_response(s, deadline):
    """Reads one HTTP response with a Content-Length body; True if it is a 200."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        s.settimeout(max(0.1, deadline - time.monotonic()))
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionResetError("closed by peer")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    while len(body) < length:
        s.settimeout(max(0.1, deadline - time.monotonic()))
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionResetError("closed by peer")
        body += chunk
    return head.startswith(b"HTTP/1.1 200")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("-n", type=int, default=500)
    ap.add_argument("--hold", type=float, default=600, help="at most this idle (s)")
    ap.add_argument("--ready", help="file written once every connection is idle")
    ap.add_argument("--go", help="file whose appearance ends the idle time")
    a = ap.parse_args()

    conns = []
    for _ in range(a.n):
        s = socket.create_connection((a.host, a.port), timeout=10)
        s.sendall(REQ)
        if not one_response(s, time.monotonic() + 10):
            print("first request not answered 200", file=sys.stderr)
            return 1
        conns.append(s)
    if a.ready:
        open(a.ready, "w").write("%d\n" % len(conns))
    end = time.monotonic() + a.hold
    while not (a.go and os.path.exists(a.go)) and time.monotonic() < end:
        time.sleep(0.1)
    answered = reset = other = 0
    for s in conns:
        try:
            s.sendall(REQ)
            if one_response(s, time.monotonic() + 10):
                answered += 1
            else:
                other += 1
        except ConnectionResetError:
            reset += 1
        except OSError:
            other += 1
    print("answered %d reset %d other %d" % (answered, reset, other))
    return 0 if answered == len(conns) else 1


if __name__ == "__main__":
    sys.exit(main())
