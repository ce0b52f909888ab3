#!/bin/bash
# End to end, connect rules: curl (a program that never heard of tlsshim)
# speaks plain HTTP; the shim makes it TLS towards openssl s_server.
. "$(dirname "$0")/lib.sh"
e2e_require curl openssl python3

T=$E2E_TMP
MARK="PLAINTEXT-MARKER-$$"

# --- a good server: TLS 1.2, verify_peer against the test CA ------------------
PORT=$(free_port)
s_server "$PORT" "$PKI/server.pem" "$PKI/server.key" -tls1_2 || fail setup "s_server did not start"
write_policy "$T/ok.ini" "[global]" "log_level = info" "" "[upstream]" "direction = connect" \
    "match = 127.0.0.1:$PORT" "verify = verify_peer" "cacertfile = $PKI/ca.pem"
out=$(timeout 20 "$TLSSHIM" -c "$T/ok.ini" "${HTTP_GET[@]}" "http://127.0.0.1:$PORT/$MARK" 2>"$T/ok.err")
rc=$?
if [ $rc = 0 ] && grep -q "s_server" <<<"$out"; then
    pass curl_connect_tls12
else
    fail curl_connect_tls12 "curl rc=$rc: $(tail -3 "$T/ok.err" | tr '\n' ' ')"
fi
if grep -q "info: \[upstream\] connected to 127.0.0.1:$PORT.*tlsv1.2.*verify=ok" "$T/ok.err"; then
    pass log_line_per_connection
else
    fail log_line_per_connection "no info line: $(tr '\n' ' ' <"$T/ok.err" | cut -c1-300)"
fi
# log = a file
write_policy "$T/logf.ini" "[global]" "log = $T/shim.log" "log_level = info" "" "[upstream]" \
    "direction = connect" "match = 127.0.0.1:$PORT" "cacertfile = $PKI/ca.pem"
timeout 20 "$TLSSHIM" -c "$T/logf.ini" "${HTTP_GET[@]}" "http://127.0.0.1:$PORT/" >/dev/null 2>"$T/logf.err"
if grep -q "info: \[upstream\] connected to 127.0.0.1:$PORT" "$T/shim.log" 2>/dev/null &&
    ! grep -q "tlsshim" "$T/logf.err"; then
    pass log_to_file
else
    fail log_to_file "file: $(cat "$T/shim.log" 2>&1 | head -2) stderr: $(head -2 "$T/logf.err")"
fi

# --- TLS 1.3, and the key log -------------------------------------------------
P13=$(free_port)
s_server "$P13" "$PKI/server.pem" "$PKI/server.key" -tls1_3 || fail setup "s_server -tls1_3 did not start"
write_policy "$T/t13.ini" "[global]" "log_level = info" "keylog = $T/keys.log" "" "[up13]" \
    "direction = connect" "match = 127.0.0.1:$P13" "cacertfile = $PKI/ca.pem"
out=$(timeout 20 "$TLSSHIM" -c "$T/t13.ini" "${HTTP_GET[@]}" "http://127.0.0.1:$P13/" 2>"$T/t13.err")
rc=$?
if [ $rc = 0 ] && grep -q "s_server" <<<"$out" && grep -q "connected to .*tlsv1.3" "$T/t13.err"; then
    pass curl_connect_tls13
else
    fail curl_connect_tls13 "rc=$rc: $(tail -3 "$T/t13.err" | tr '\n' ' ')"
fi
if grep -q "^CLIENT_HANDSHAKE_TRAFFIC_SECRET [0-9a-f]* [0-9a-f]*$" "$T/keys.log" 2>/dev/null &&
    grep -q "^CLIENT_TRAFFIC_SECRET_0 " "$T/keys.log"; then
    pass keylog_file
else
    fail keylog_file "no NSS key log lines in $T/keys.log: $(head -c 200 "$T/keys.log" 2>&1)"
fi

# --- IPv6 -----------------------------------------------------------------------
if python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
    P6=$(free_port ::1)
    e2e_bg "$T/s6.log" timeout 60 openssl s_server -accept "[::1]:$P6" -cert "$PKI/server.pem" \
        -key "$PKI/server.key" -www -quiet
    wait_port "$P6" ::1 || fail setup "s_server on ::1 did not start"
    write_policy "$T/v6.ini" "[global]" "log_level = info" "" "[v6]" "direction = connect" \
        "match = [::1]:$P6" "cacertfile = $PKI/ca.pem"
    out=$(timeout 20 "$TLSSHIM" -c "$T/v6.ini" "${HTTP_GET[@]}" "http://[::1]:$P6/" 2>"$T/v6.err")
    rc=$?
    if [ $rc = 0 ] && grep -q "s_server" <<<"$out" && grep -q "connected to \[::1\]:$P6.*verify=ok" "$T/v6.err"; then
        pass ipv6_connect
    else
        fail ipv6_connect "rc=$rc: $(tail -3 "$T/v6.err" | tr '\n' ' ')"
    fi
fi

# --- the host name the program resolved is used for rule matching (host glob),
# SNI and verification. (curl answers "localhost" itself without getaddrinfo,
# so the client here is python, which asks getaddrinfo.)
write_policy "$T/name.ini" "[global]" "log_level = info" "" "[byname]" "direction = connect" \
    "match = local*:$PORT" "cacertfile = $PKI/ca.pem"
out=$(timeout 20 "$TLSSHIM" -c "$T/name.ini" python3 -c '
import socket, sys
s = socket.create_connection(("localhost", int(sys.argv[1])), timeout=10)
s.sendall(b"GET / HTTP/1.0\r\n\r\n")
d = b""
while True:
    c = s.recv(65536)
    if not c: break
    d += c
sys.stdout.write(d.decode("latin-1"))' "$PORT" 2>"$T/name.err")
rc=$?
if [ $rc = 0 ] && grep -q "s_server" <<<"$out" && grep -q "connected to .*(localhost)" "$T/name.err"; then
    pass host_glob_and_resolved_name
else
    fail host_glob_and_resolved_name "rc=$rc: $(tail -3 "$T/name.err" | tr '\n' ' ')"
fi

# --- a blocking connect that fails the handshake: the program gets an error -------
bad_server() { # NAME CERT KEY EXPECTED-REASON
    local name=$1 cert=$2 key=$3 reason=$4 port
    port=$(free_port)
    s_server "$port" "$cert" "$key" -tls1_2 || { fail "$name" "s_server did not start"; return; }
    write_policy "$T/$name.ini" "[global]" "log_level = info" "" "[up]" "direction = connect" \
        "match = 127.0.0.1:$port" "server_name = localhost" "cacertfile = $PKI/ca.pem"
    out=$(timeout 20 "$TLSSHIM" -c "$T/$name.ini" "${HTTP_GET[@]}" "http://127.0.0.1:$port/" 2>"$T/$name.err")
    rc=$?
    if [ $rc = 0 ]; then
        fail "$name" "curl succeeded against a bad certificate"
    elif ! grep -qi "$reason" "$T/$name.err"; then
        fail "$name" "no '$reason' in the log: $(tr '\n' ' ' <"$T/$name.err" | cut -c1-300)"
    elif ! grep -qi "connection refused\|couldn't connect\|failed to connect" "$T/$name.err"; then
        fail "$name" "curl did not see a refused connect: $(tail -2 "$T/$name.err" | tr '\n' ' ')"
    else
        pass "$name"
    fi
}
bad_server untrusted_server "$PKI/untrusted.pem" "$PKI/untrusted.key" "unknown_ca"
bad_server expired_server "$PKI/expired.pem" "$PKI/expired.key" "cert_expired"
bad_server wrong_name_server "$PKI/wrongname.pem" "$PKI/wrongname.key" "hostname_check_failed"

# --- never plaintext on the wire: a raw TCP listener stands in for the server ----
RAW=$(free_port)
raw_listener "$RAW" "$T/raw.bytes" || fail setup "raw listener did not start"
write_policy "$T/raw.ini" "[global]" "log_level = info" "handshake_timeout = 2000" "" "[up]" \
    "direction = connect" "match = 127.0.0.1:$RAW" "cacertfile = $PKI/ca.pem"
timeout 20 "$TLSSHIM" -c "$T/raw.ini" "${HTTP_GET[@]}" "http://127.0.0.1:$RAW/$MARK" \
    >"$T/raw.out" 2>"$T/raw.err"
rc=$?
sleep 0.3
if [ $rc = 0 ]; then
    fail no_plaintext_on_failure "curl succeeded against a non-TLS server"
elif grep -q "$MARK" "$T/raw.bytes"; then
    fail no_plaintext_on_failure "the plaintext marker reached the network"
elif ! head -c 1 "$T/raw.bytes" | od -An -tx1 | grep -q 16; then
    fail no_plaintext_on_failure "the server did not receive a TLS handshake record"
else
    pass no_plaintext_on_failure
fi

# --- unmatched sockets are left alone -----------------------------------------
PLAIN=$(free_port)
mkdir -p "$T/www" && echo "plain-$MARK" >"$T/www/index.html"
e2e_bg "$T/plain.log" timeout 60 python3 -m http.server --bind 127.0.0.1 --directory "$T/www" "$PLAIN"
wait_port "$PLAIN" || fail setup "http.server did not start"
out=$(timeout 20 "$TLSSHIM" -c "$T/ok.ini" "${HTTP_GET[@]}" "http://127.0.0.1:$PLAIN/index.html" 2>"$T/plain.err")
if grep -q "plain-$MARK" <<<"$out"; then
    pass unmatched_untouched
else
    fail unmatched_untouched "curl got '$out': $(tail -2 "$T/plain.err" | tr '\n' ' ')"
fi

e2e_done
