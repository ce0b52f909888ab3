#!/usr/bin/env python3
"""TLS clients of redis for the memory bench (bench/cases/05-memory.sh). It
talks with the driving script over stdin/stdout: it prints a line when it
reaches a point where the server's memory is to be read, then waits for a
line on stdin before it goes on.

  idle.py hold PORT N      20 short connections (warm-up), "warm"; then N
                           connections that each PING once and stay open,
                           "held N"; on the next line from stdin it exits
A connection that fails or takes over 15 s ends the run with "failed after I
connections: why": the I connections stay open (so that the server's memory
can still be read with them held) until the next line from stdin, then the
exit status is 1.
"""
import socket
import ssl
import sys

CTX = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE  # the server's certificate is not what is measured


def connect_ping(port):
    raw = socket.create_connection(("127.0.0.1", port), timeout=15)
    # the PING follows the client's Finished at once (Nagle would hold it)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s = CTX.wrap_socket(raw, server_hostname="localhost")
    s.sendall(b"PING\r\n")
    got = b""
    while not got.endswith(b"\r\n"):
        d = s.recv(64)
        if not d:
            raise EOFError("the server closed before answering PING")
        got += d
    if got != b"+PONG\r\n":
        raise ValueError("PING answered %r" % got)
    return s


def point(text):
    print(text, flush=True)
    if not sys.stdin.readline():
        sys.exit(0)


def main(argv):
    if len(argv) != 3 or argv[0] != "hold":
        sys.exit(__doc__)
    port = int(argv[1])
    held = []
    try:
        for _ in range(20):
            connect_ping(port).close()
        point("warm")
        for _ in range(int(argv[2])):
            held.append(connect_ping(port))
        point("held %d" % len(held))
    except (OSError, ValueError, EOFError) as e:
        point("failed after %d connections: %s" % (len(held), e))
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
