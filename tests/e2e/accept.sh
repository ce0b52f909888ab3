#!/bin/bash
# End to end, accept rules: python3 -m http.server (plain HTTP) serves HTTPS
# under the shim; curl --cacert fetches from it.
. "$(dirname "$0")/lib.sh"
e2e_require curl openssl python3

T=$E2E_TMP
MARK="served-$$"
mkdir -p "$T/www" && echo "$MARK" >"$T/www/index.html"

PORT=$(free_port)
write_policy "$T/web.ini" "[global]" "log_level = info" "handshake_timeout = 3000" "" "[web]" \
    "direction = accept" "match = *:$PORT" "certfile = $PKI/server.pem" "keyfile = $PKI/server.key"
e2e_bg "$T/web.log" timeout 60 "$TLSSHIM" -c "$T/web.ini" \
    python3 -m http.server --bind 127.0.0.1 --directory "$T/www" "$PORT"
SRV=$E2E_BG_PID
wait_port "$PORT" || fail setup "shimmed http.server did not start: $(tail -3 "$T/web.log")"

out=$(timeout 20 curl -sS -m 10 --cacert "$PKI/ca.pem" "https://localhost:$PORT/index.html" 2>"$T/c1.err")
if [ "$out" = "$MARK" ]; then
    pass http_server_accept_rule
else
    fail http_server_accept_rule "curl got '$out': $(tr '\n' ' ' <"$T/c1.err")"
fi

out=$(timeout 20 curl -sS -m 10 --cacert "$PKI/ca.pem" "https://127.0.0.1:$PORT/index.html" 2>"$T/c2.err")
if [ "$out" = "$MARK" ]; then
    pass accept_by_ip_san
else
    fail accept_by_ip_san "curl got '$out': $(tr '\n' ' ' <"$T/c2.err")"
fi

# a plaintext client gets no plaintext answer, and the server keeps serving
out=$(timeout 10 curl -sS -m 5 "http://127.0.0.1:$PORT/index.html" 2>/dev/null)
out2=$(timeout 20 curl -sS -m 10 --cacert "$PKI/ca.pem" "https://localhost:$PORT/index.html" 2>/dev/null)
if grep -q "$MARK" <<<"$out"; then
    fail plaintext_client_refused "a plain HTTP client got the page"
elif [ "$out2" != "$MARK" ]; then
    fail plaintext_client_refused "the server stopped serving after a bad client"
else
    pass plaintext_client_refused
fi

# accept never waits for a handshake: a client that connects and says nothing
# must not stall the next one (the policy's handshake timeout ends it later)
python3 -c 'import socket,sys,time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); time.sleep(8)' "$PORT" &
SLOW=$!
E2E_PIDS+=("$SLOW")
sleep 0.3
out=$(timeout 20 curl -sS -m 5 --cacert "$PKI/ca.pem" "https://localhost:$PORT/index.html" 2>"$T/c3.err")
if [ "$out" = "$MARK" ]; then
    pass slow_client_does_not_stall
else
    fail slow_client_does_not_stall "curl got '$out': $(tr '\n' ' ' <"$T/c3.err")"
fi
e2e_kill "$SLOW"

sleep 0.3
if grep -q "info: \[web\] accepted from 127.0.0.1:[0-9]*.*verify=" "$T/web.log"; then
    pass accept_log_line
else
    fail accept_log_line "no info line in $(tr '\n' ' ' <"$T/web.log" | cut -c1-300)"
fi

# a program that links OpenSSL itself keeps working under the shim: curl does
# its own TLS (https) while the shim's libcrypto is loaded in the same process
write_policy "$T/other.ini" "[global]" "log_level = info" "" "[elsewhere]" "direction = connect" \
    "match = 127.0.0.1:1" "cacertfile = $PKI/ca.pem"
if [ "${SANITIZE:-}" != 1 ]; then # curl does not run under libasan
    out=$(timeout 20 "$TLSSHIM" -c "$T/other.ini" curl -sS -m 10 --cacert "$PKI/ca.pem" \
        "https://localhost:$PORT/index.html" 2>"$T/c4.err")
    if [ "$out" = "$MARK" ]; then
        pass own_openssl_program
    else
        fail own_openssl_program "curl got '$out': $(tr '\n' ' ' <"$T/c4.err")"
    fi
fi
e2e_kill "$SRV"

# accept() itself never waits for a handshake: a single-threaded accept loop
# gets two clients that never send a byte at once
LPORT=$(free_port)
write_policy "$T/loop.ini" "[global]" "log_level = info" "handshake_timeout = 10000" "" "[loop]" \
    "direction = accept" "match = 127.0.0.1:$LPORT" "certfile = $PKI/server.pem" "keyfile = $PKI/server.key"
e2e_bg "$T/loop.log" timeout 60 "$TLSSHIM" -c "$T/loop.ini" python3 -c '
import socket, sys
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", int(sys.argv[1]))); ls.listen(8)
print("ready", flush=True)
keep = []
for i in range(3):
    c, _ = ls.accept(); keep.append(c); print("accepted", i + 1, flush=True)
' "$LPORT"
LOOP=$E2E_BG_PID
for _ in $(seq 100); do grep -q ready "$T/loop.log" && break; sleep 0.1; done
python3 -c 'import socket,sys,time
a = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
b = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
time.sleep(1.5)' "$LPORT"
if grep -q "accepted 2" "$T/loop.log"; then
    pass accept_does_not_wait_for_handshake
else
    fail accept_does_not_wait_for_handshake "the accept loop saw: $(tr '\n' ' ' <"$T/loop.log")"
fi
e2e_kill "$LOOP"

# --- IPv6 -----------------------------------------------------------------------
if python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
    P6=$(free_port ::1)
    write_policy "$T/v6.ini" "[global]" "log_level = info" "" "[web6]" "direction = accept" \
        "match = [::1]:$P6" "certfile = $PKI/server.pem" "keyfile = $PKI/server.key"
    e2e_bg "$T/web6.log" timeout 60 "$TLSSHIM" -c "$T/v6.ini" \
        python3 -m http.server --bind ::1 --directory "$T/www" "$P6"
    wait_port "$P6" ::1 || fail setup "http.server on ::1 did not start: $(tail -3 "$T/web6.log")"
    out=$(timeout 20 curl -sS -m 10 -g --cacert "$PKI/ca.pem" "https://[::1]:$P6/index.html" 2>"$T/c6.err")
    if [ "$out" = "$MARK" ]; then
        pass ipv6_accept
    else
        fail ipv6_accept "curl got '$out': $(tr '\n' ' ' <"$T/c6.err")"
    fi
    e2e_kill "$E2E_BG_PID"
fi

# --- the accepted fd as the program sees it: accept4 flags, names, options ----
APORT=$(free_port)
write_policy "$T/acc.ini" "[global]" "log_level = info" "" "[svc]" "direction = accept" \
    "match = 127.0.0.1:$APORT" "certfile = $PKI/server.pem" "keyfile = $PKI/server.key"
cat >"$T/server.py" <<'EOF'
import fcntl, os, socket, sys
port = int(sys.argv[1])
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port)); ls.listen(8)
print("ready", flush=True)
c, peer = ls.accept()          # python: accept4(SOCK_CLOEXEC)
fd = c.fileno()
facts = {
    "cloexec": bool(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC),
    "nonblock": bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK),
    "peer_ok": c.getpeername() == peer and peer[0] == "127.0.0.1",
    "local_ok": c.getsockname() == ("127.0.0.1", port),
    "domain": c.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN) == socket.AF_INET,
}
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
facts["nodelay"] = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
data = b""
while not data.endswith(b"\n"):
    d = c.recv(100)
    if not d: break
    data += d
c.sendall(data.upper())
c.close()
with open(sys.argv[2], "w") as f:   # not the log: the shim writes there from its own thread
    f.write("facts %s\n" % facts)
EOF
e2e_bg "$T/acc.log" timeout 30 "$TLSSHIM" -c "$T/acc.ini" python3 "$T/server.py" "$APORT" "$T/facts.out"
for _ in $(seq 100); do grep -q ready "$T/acc.log" && break; sleep 0.1; done
out=$( (printf 'hello accept\n'; sleep 2) | timeout 10 openssl s_client -connect "127.0.0.1:$APORT" \
    -CAfile "$PKI/ca.pem" -verify_return_error -quiet 2>/dev/null)
sleep 0.3
if [ "$out" != "HELLO ACCEPT" ]; then
    fail accepted_fd_facts "s_client got '$out': $(tail -3 "$T/acc.log" | tr '\n' ' ')"
elif grep -q "facts {'cloexec': True, 'nonblock': False, 'peer_ok': True, 'local_ok': True, 'domain': True, 'nodelay': True}" "$T/facts.out"; then
    pass accepted_fd_facts
else
    fail accepted_fd_facts "$(cat "$T/facts.out" 2>/dev/null) $(tail -2 "$T/acc.log" | tr '\n' ' ')"
fi

# The program's receive timeout, set on its listener and inherited by what it
# accepts, holds on the upgraded fd: a blocking read with no data gives up
# after the timeout (the shim copies timeouts that differ from a fresh
# socket's to the program's end), rather than waiting for ever.
TPORT=$(free_port)
write_policy "$T/tmo.ini" "[global]" "log_level = info" "" "[svc]" "direction = accept" \
    "match = 127.0.0.1:$TPORT" "certfile = $PKI/server.pem" "keyfile = $PKI/server.key"
cat >"$T/tmo.py" <<'EOF'
import os, socket, struct, sys, time
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 1, 0))
ls.bind(("127.0.0.1", int(sys.argv[1]))); ls.listen(8)
print("ready", flush=True)
c, _ = ls.accept()
t0 = time.monotonic()
try:
    r = "read %r" % os.read(c.fileno(), 100)   # blocking, no data: SO_RCVTIMEO ends it
except BlockingIOError:
    r = "timed out"
with open(sys.argv[2], "w") as f:
    f.write("%s after %.1f s\n" % (r, time.monotonic() - t0))
EOF
e2e_bg "$T/tmo.log" timeout 30 "$TLSSHIM" -c "$T/tmo.ini" python3 "$T/tmo.py" "$TPORT" "$T/tmo.out"
for _ in $(seq 100); do grep -q ready "$T/tmo.log" && break; sleep 0.1; done
(sleep 5) | timeout 10 openssl s_client -connect "127.0.0.1:$TPORT" -CAfile "$PKI/ca.pem" \
    -quiet >/dev/null 2>&1 &
E2E_PIDS+=("$!")
for _ in $(seq 60); do [ -s "$T/tmo.out" ] && break; sleep 0.1; done
if grep -Eq "^timed out after (0\.9|1\.[0-4]) s" "$T/tmo.out" 2>/dev/null; then
    pass accepted_fd_keeps_listener_rcvtimeo
else
    fail accepted_fd_keeps_listener_rcvtimeo "$(cat "$T/tmo.out" 2>/dev/null || echo "no result") $(tail -2 "$T/tmo.log" | tr '\n' ' ')"
fi

e2e_done
