#!/bin/bash
# End to end, idle connections: the helper gives a connection's buffers back
# (its own and the engine's) once nothing moved for a whole scan period, and
# allocates them again when bytes come. Data must cross such a connection
# intact, both ways, after every idle period, and bytes waiting for a program
# that does not read yet must never be dropped with the buffers.
. "$(dirname "$0")/lib.sh"
e2e_require python3

T=$E2E_TMP
IDLE_S=1.2 # more than two scan periods of the helper (250 ms each): trimmed

# a plaintext echo server; a connection whose first bytes are "slow" waits
# before it reads on, so that what the peer sends piles up in the shim
cat >"$T/echo.py" <<'EOF'
import socket, sys, threading, time
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", int(sys.argv[1]))); ls.listen(16)
def serve(c):
    c.settimeout(60)
    try:
        first = c.recv(4)
        if first == b"slow":
            time.sleep(float(sys.argv[2]))
        else:
            c.sendall(first)
        while True:
            d = c.recv(1 << 16)
            if not d: break
            c.sendall(d)
    except OSError:
        pass
    c.close()
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF

cat >"$T/client.py" <<'EOF'
import hashlib, os, select, socket, ssl, sys, time
port, ca, idle, case = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=60),
                    server_hostname="localhost")
def exchange(data):
    # sends while it reads, so neither direction waits on the other; one
    # thread (an SSL object must not be read and written by two at once)
    s.setblocking(False)
    out, got = memoryview(data), bytearray()
    try:
        while len(got) < len(data):
            r, w, _ = select.select([s], [s] if out else [], [], 60)
            if not r and not w:
                break
            if w:
                try:
                    out = out[s.send(out[:1 << 16]):]
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    pass
            while True: # drain what the SSL object holds: select does not see it
                try:
                    d = s.recv(1 << 16)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    break
                if not d:
                    return bytes(got)
                got += d
    finally:
        s.setblocking(True)
    return bytes(got)
def check(what, data):
    got = exchange(data)
    if got != data:
        print("FAIL %s: sent %d bytes (%s), got %d (%s)" % (what, len(data),
              hashlib.sha256(data).hexdigest()[:12], len(got), hashlib.sha256(got).hexdigest()[:12]))
        sys.exit(1)
if case == "idle_between":
    check("first message", b"ping")
    for i in range(3):
        time.sleep(idle)
        check("after idle period %d" % (i + 1), os.urandom((1 << 20) + i))
        time.sleep(idle)
        check("small message after idle period %d" % (i + 1), b"x%d" % i)
elif case == "pending_while_idle":
    # the program does not read for a while: 4 MiB wait in the socketpair,
    # the shim and the engine through more than one scan; none may be lost
    s.sendall(b"slow")
    check("data held while the program did not read", os.urandom(4 << 20))
s.close()
print("ok")
EOF

PORT=$(free_port)
write_policy "$T/p.ini" "[global]" "log_level = info" "" "[echo]" "direction = accept" \
    "match = *:$PORT" "certfile = $PKI/server.pem" "keyfile = $PKI/server.key"
e2e_bg "$T/srv.log" timeout 120 "$TLSSHIM" -c "$T/p.ini" python3 "$T/echo.py" "$PORT" "$IDLE_S"
wait_port "$PORT" || fail setup "shimmed echo server did not start: $(tail -3 "$T/srv.log")"

for case in idle_between pending_while_idle; do
    out=$(timeout 60 python3 "$T/client.py" "$PORT" "$PKI/ca.pem" "$IDLE_S" "$case" 2>&1)
    if [ "$out" = ok ]; then
        pass "$case"
    else
        fail "$case" "$(tr '\n' ' ' <<<"$out" | cut -c1-300)"
    fi
done
e2e_done
