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
e2e_kill "$SRV"

e2e_done
