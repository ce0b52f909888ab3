#!/usr/bin/env python3
"""A plaintext HTTP/1.0 server for conformance runs under the shim.

python3 http_once.py PORT

Each connection: read until the end of the request head (an empty line, with
\\r\\n or bare \\n), answer with ONE write (tlsfuzzer expects the answer in one
application-data record), then keep reading until the client closes; the
server never closes first. One thread a connection."""
import socket
import sys
import threading

BODY = b"<html><body>tlsshim conformance target</body></html>\n"
RESPONSE = (b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: "
            + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)


def serve(conn):
    with conn:
        head = b""
        try:
            while b"\r\n\r\n" not in head and b"\n\n" not in head:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                head += chunk
                if len(head) > 1 << 20:
                    return
            conn.sendall(RESPONSE)
            while conn.recv(65536):
                pass
        except OSError:
            pass


def main():
    port = int(sys.argv[1])
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(128)
    print("listening", port, flush=True)
    while True:
        conn, _ = ls.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
