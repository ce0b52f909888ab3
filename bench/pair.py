#!/usr/bin/env python3
"""Plaintext programs for the pair bench (bench/cases/04-pair.sh). They know
nothing of TLS: the shim or stunnel puts it under them.

  pair.py serve SINK_PORT ECHO_PORT   the server: a sink that reads a stream
                                      (8-byte length, 1-byte "hash it" flag,
                                      then the bytes) and answers its sha256
                                      (or 32 zero bytes), and an echo
  pair.py bulk PORT NBYTES [check]    send NBYTES, print MB/s; with check,
                                      fail unless the server's sha256 matches
  pair.py latency PORT N              N times: connect, send 1 byte, read it
                                      back, close; print the median in ms
"""
import hashlib
import os
import socket
import struct
import sys
import threading
import time

CHUNK = 1 << 20


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise EOFError("the peer closed after %d of %d bytes" % (len(buf), n))
        buf += d
    return bytes(buf)


def sink(conn):
    with conn:
        total, check = struct.unpack("!QB", recv_exact(conn, 9))
        h = hashlib.sha256() if check else None
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        left = total
        while left > 0:
            n = conn.recv_into(view, min(left, CHUNK))
            if n == 0:
                return
            if h:
                h.update(view[:n])
            left -= n
        conn.sendall(h.digest() if h else bytes(32))


def echo(conn):
    with conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            d = conn.recv(65536)
            if not d:
                return
            conn.sendall(d)


def listen(port, handler):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(128)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=handler, args=(c,), daemon=True).start()


def serve(sink_port, echo_port):
    threading.Thread(target=listen, args=(sink_port, sink), daemon=True).start()
    listen(echo_port, echo)


def pattern_digest(block, total):
    h = hashlib.sha256()
    left = total
    while left > 0:
        n = min(left, len(block))
        h.update(block[:n])
        left -= n
    return h.digest()


def bulk(port, total, check):
    block = os.urandom(CHUNK)
    want = pattern_digest(block, total) if check else bytes(32)
    view = memoryview(block)
    t0 = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.sendall(struct.pack("!QB", total, 1 if check else 0))
    left = total
    while left > 0:
        n = min(left, CHUNK)
        s.sendall(view[:n])
        left -= n
    got = recv_exact(s, 32)
    t1 = time.perf_counter()
    s.close()
    if got != want:
        sys.exit("sha256 mismatch: sent %s, the server read %s" % (want.hex(), got.hex()))
    print("%.1f" % (total / (t1 - t0) / 1e6))


def latency(port, n):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(b"x")
        if s.recv(1) != b"x":
            sys.exit("the echo did not come back")
        times.append(time.perf_counter() - t0)
        s.close()
    times.sort()
    print("%.4f" % (times[len(times) // 2] * 1000))


def main(argv):
    if len(argv) >= 3 and argv[0] == "serve":
        serve(int(argv[1]), int(argv[2]))
    elif len(argv) >= 3 and argv[0] == "bulk":
        bulk(int(argv[1]), int(argv[2]), len(argv) > 3 and argv[3] == "check")
    elif len(argv) == 3 and argv[0] == "latency":
        latency(int(argv[1]), int(argv[2]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
