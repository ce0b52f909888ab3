#!/usr/bin/env python3
"""TLS clients of redis for the memory bench (bench/cases/05-memory.sh). It
talks with the driving script over stdin/stdout: it prints a line when it
reaches a point where the server's memory is to be read, then waits for a
line on stdin before it goes on.

  idle.py hold PORT N      20 short connections (warm-up), "warm"; then N
                           connections that each PING once and stay open,
                           "held N"; on the next line from stdin it exits
  idle.py churn PORT K...  short connections (connect, PING, close) one after
                           the other; at each total K (ascending) "at K"
A connection that fails or takes over 15 s ends the program with "failed
after I connections: why" and exit status 1.
"""
import socket
import ssl
import sys

CTX = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE  # the server's certificate is not what is measured


SESSION = None


def connect_ping(port, resume=False):
    global SESSION
    raw = socket.create_connection(("127.0.0.1", port), timeout=15)
    s = CTX.wrap_socket(raw, server_hostname="localhost", session=SESSION if resume else None)
    s.sendall(b"PING\r\n")
    got = b""
    while not got.endswith(b"\r\n"):
        d = s.recv(64)
        if not d:
            raise EOFError("the server closed before answering PING")
        got += d
    if got != b"+PONG\r\n":
        raise ValueError("PING answered %r" % got)
    if resume and not s.session_reused:
        SESSION = s.session  # the ticket came with the answer
    return s


def point(text):
    print(text, flush=True)
    if not sys.stdin.readline():
        sys.exit(0)


def main(argv):
    if len(argv) < 3 or argv[0] not in ("hold", "churn"):
        sys.exit(__doc__)
    port = int(argv[1])
    done = 0
    try:
        if argv[0] == "hold":
            for _ in range(20):
                connect_ping(port).close()
            point("warm")
            held = []
            for _ in range(int(argv[2])):
                held.append(connect_ping(port))
                done += 1
            point("held %d" % done)
        else:
            for k in map(int, argv[2:]):
                while done < k:
                    connect_ping(port, resume=True).close()
                    done += 1
                point("at %d" % done)
    except (OSError, ValueError, EOFError) as e:
        print("failed after %d connections: %s" % (done, e), flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
