#!/bin/bash
# End to end, half-close between two shims: a client program under a connect
# rule sends 1 GiB, then shutdown(SHUT_WR); a server program under an accept
# rule reads to EOF and only then answers with 1 GiB of its own. The sha256 of each direction must be equal on both ends, for TLS 1.2
# (a close_notify ends the receiver's read side only, as OpenSSL-based
# programs expect) and for TLS 1.3.
# 1 GiB each way; under SANITIZE=1 (about 20 s for that under ASan) the
# TLS 1.3 pair, not what this file is for, moves 64 MiB. HALFCLOSE_BYTES
# overrides both.
. "$(dirname "$0")/lib.sh"
e2e_require python3

T=$E2E_TMP
BYTES12=${HALFCLOSE_BYTES:-$((1 << 30))}
if [ "${SANITIZE:-}" = 1 ]; then
    BYTES13=${HALFCLOSE_BYTES:-$((64 << 20))}
else
    BYTES13=${HALFCLOSE_BYTES:-$((1 << 30))}
fi

# The stream: a random 1 MiB block, each copy stamped with its index (so a
# lost, repeated or reordered MiB changes the hash); hashed as it is sent.
cat >"$T/stream.py" <<'EOF'
import hashlib, os, struct
def send_stream(sock, size):
    block = bytearray(os.urandom(1 << 20))
    h = hashlib.sha256(); sent = 0; i = 0
    while sent < size:
        struct.pack_into("<Q", block, 0, i)
        chunk = memoryview(block)[:min(len(block), size - sent)]
        sock.sendall(chunk); h.update(chunk)
        sent += len(chunk); i += 1
    return sent, h.hexdigest()
def recv_stream(sock):
    h = hashlib.sha256(); got = 0
    buf = bytearray(1 << 20)
    while True:
        n = sock.recv_into(buf)
        if n == 0:
            return got, h.hexdigest()
        h.update(memoryview(buf)[:n]); got += n
EOF
cat >"$T/server.py" <<'EOF'
import os, socket, sys
sys.path.insert(0, os.path.dirname(sys.argv[0]))
from stream import send_stream, recv_stream
port, size, ready, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port)); ls.listen(1)
open(ready, "w").close()
c, _ = ls.accept()
got, got_h = recv_stream(c)          # to the client's shutdown(SHUT_WR)
try:
    sent, sent_h = send_stream(c, size)  # then answer
    c.close()
except OSError as e:
    sent, sent_h = -1, "error-%s" % e.__class__.__name__
with open(out, "w") as f: f.write("received %d %s\nsent %d %s\n" % (got, got_h, sent, sent_h))
EOF
cat >"$T/client.py" <<'EOF'
import os, socket, sys
sys.path.insert(0, os.path.dirname(sys.argv[0]))
from stream import send_stream, recv_stream
port, size, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
s = socket.create_connection(("127.0.0.1", port))
sent, sent_h = send_stream(s, size)
s.shutdown(socket.SHUT_WR)
got, got_h = recv_stream(s)
s.close()
with open(out, "w") as f: f.write("sent %d %s\nreceived %d %s\n" % (sent, sent_h, got, got_h))
EOF

# one_pair NAME VERSION BYTES: a shimmed server and client speaking VERSION
one_pair() {
    local name=$1 version=$2 BYTES=$3 port
    port=$(free_port)
    write_policy "$T/$name-srv.ini" "[global]" "log_level = info" "" "[in]" \
        "direction = accept" "match = 127.0.0.1:$port" "versions = $version" \
        "certfile = $PKI/server.pem" "keyfile = $PKI/server.key"
    write_policy "$T/$name-cli.ini" "[global]" "log_level = info" "" "[out]" \
        "direction = connect" "match = 127.0.0.1:$port" "versions = $version" \
        "server_name = localhost" "cacertfile = $PKI/ca.pem"
    rm -f "$T/$name.ready"
    e2e_bg "$T/$name-srv.out" timeout 600 "$TLSSHIM" -c "$T/$name-srv.ini" \
        python3 "$T/server.py" "$port" "$BYTES" "$T/$name.ready" "$T/$name-srv.res"
    local srv=$E2E_BG_PID
    for _ in $(seq 100); do [ -f "$T/$name.ready" ] && break; sleep 0.1; done
    local t0=$SECONDS
    timeout 600 "$TLSSHIM" -c "$T/$name-cli.ini" python3 "$T/client.py" "$port" "$BYTES" "$T/$name-cli.res" \
        >"$T/$name-cli.out" 2>&1
    wait "$srv" 2>/dev/null
    local c_sent c_got s_sent s_got
    c_sent=$(awk '/^sent/ {print $2, $3}' "$T/$name-cli.res")
    c_got=$(awk '/^received/ {print $2, $3}' "$T/$name-cli.res")
    s_sent=$(awk '/^sent/ {print $2, $3}' "$T/$name-srv.res")
    s_got=$(awk '/^received/ {print $2, $3}' "$T/$name-srv.res")
    local want=$BYTES
    if [ "${c_sent%% *}" = "$want" ] && [ "$c_sent" = "$s_got" ] &&
        [ "${s_sent%% *}" = "$want" ] && [ "$s_sent" = "$c_got" ] &&
        grep -q "info: \[out\] connected to .*: $2 " "$T/$name-cli.out"; then
        pass "$name ($((want >> 20)) MiB each way, $((SECONDS - t0)) s)"
    else
        fail "$name" "client sent '$c_sent' got '$c_got'; server got '$s_got' sent '$s_sent': $(
            tail -2 "$T/$name-cli.out" "$T/$name-srv.out" | tr '\n' ' ')"
    fi
}

one_pair half_close_tls12 tlsv1.2 "$BYTES12"
one_pair half_close_tls13 tlsv1.3 "$BYTES13"

e2e_done
