#!/bin/bash
# End to end with more programs nobody here wrote: nginx (master + workers,
# epoll, fork) under accept rules, with 200 parallel requests and with client
# certificates required; nc and socat as clients under a connect rule; and a
# tshark capture of a shimmed connection decrypted with the key log.
. "$(dirname "$0")/lib.sh"
e2e_require openssl python3

T=$E2E_TMP
chmod 755 "$T" # nginx workers run as an unprivileged user

# ---- nc and socat under a connect rule ------------------------------------------------
WWW=$(free_port)
s_server "$WWW" "$PKI/server.pem" "$PKI/server.key" || fail setup "s_server did not start"
write_policy "$T/client.ini" "[global]" "log_level = info" "" \
    "[www]" "direction = connect" "match = 127.0.0.1:$WWW" "cacertfile = $PKI/ca.pem" "server_name = localhost"
REQ='GET / HTTP/1.0\r\n\r\n'
for prog in nc socat; do
    if ! command -v $prog >/dev/null 2>&1; then
        fail "$prog under a connect rule" "$prog is not installed"
        continue
    fi
    if [ $prog = nc ]; then
        cmd=(nc -q 5 127.0.0.1 "$WWW")
    else
        cmd=(socat -t 5 - "TCP:127.0.0.1:$WWW")
    fi
    # shellcheck disable=SC2059
    printf "$REQ" | timeout 20 "$TLSSHIM" -c "$T/client.ini" -- "${cmd[@]}" >"$T/$prog.out" 2>"$T/$prog.err"
    if grep -q "s_server" "$T/$prog.out" && grep -q "Protocol *: *TLSv1.3" "$T/$prog.out"; then
        pass "$prog under a connect rule fetches s_server's page over TLS"
    else
        fail "$prog under a connect rule" "got: $(head -c 200 "$T/$prog.out" | tr '\n' ' ') / $(tail -3 "$T/$prog.err" | tr '\n' ' ')"
    fi
done

# ---- tshark decrypts a shimmed connection with the key log -------------------------
if command -v tshark >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    for ver in tlsv1.3 tlsv1.2; do
        KEYS=$T/keys-$ver.log
        : >"$KEYS"
        write_policy "$T/keylog.ini" "[global]" "keylog = $KEYS" "" \
            "[www]" "direction = connect" "match = 127.0.0.1:$WWW" "cacertfile = $PKI/ca.pem" \
            "server_name = localhost" "versions = $ver"
        CAP=$T/cap-$ver.pcap
        e2e_bg "$T/tshark-$ver.log" timeout 30 tshark -i lo -f "tcp port $WWW" -w "$CAP"
        tpid=$E2E_BG_PID
        for _ in $(seq 150); do grep -q "Capturing on" "$T/tshark-$ver.log" 2>/dev/null && break; sleep 0.1; done
        sleep 1.5 # dumpcap prints "Capturing on" a moment before it really captures
        marker="/keylog-marker-$ver"
        timeout 20 "$TLSSHIM" -c "$T/keylog.ini" -- "${HTTP_GET[@]}" "http://127.0.0.1:$WWW$marker" >/dev/null 2>&1
        sleep 1
        e2e_kill "$tpid"
        if [ ! -s "$KEYS" ]; then
            fail "tshark decrypts a $ver capture with the key log" "the key log is empty"
        elif ! tshark -r "$CAP" 2>/dev/null | grep -q "Client Hello"; then
            fail "tshark decrypts a $ver capture with the key log" "the capture missed the handshake: $(tail -2 "$T/tshark-$ver.log")"
        elif tshark -r "$CAP" -Y http 2>/dev/null | grep -q "$marker"; then
            fail "tshark decrypts a $ver capture with the key log" "the request is readable WITHOUT the keys"
        elif tshark -r "$CAP" -o "tls.keylog_file:$KEYS" -Y http -T fields -e http.request.uri 2>/dev/null |
            grep -q "^$marker$"; then
            pass "tshark decrypts a $ver capture with the key log (and cannot without it)"
        else
            fail "tshark decrypts a $ver capture with the key log" \
                "request not found; keys: $(cut -c1-40 "$KEYS" | tr '\n' ' ')"
        fi
    done
else
    fail "tshark decrypts a capture with the key log" "tshark is not installed or we are not root"
fi

# ---- python3 -m http.server under accept rules: parallel, certificate, client certs ----
mkdir -p "$T/www"
echo "hello from http.server through tlsshim" >"$T/www/index.html"
PY=$(free_port)
PY2=$(free_port)
write_policy "$T/py.ini" "[global]" "log = $T/py-shim.log" "log_level = info" "" \
    "[web]" "direction = accept" "match = 127.0.0.1:$PY" "certfile = $PKI/server.pem" "keyfile = $PKI/server.key" "" \
    "[mtls]" "direction = accept" "match = 127.0.0.1:$PY2" "certfile = $PKI/server.pem" \
    "keyfile = $PKI/server.key" "verify = verify_peer" "fail_if_no_peer_cert = true" "cacertfile = $PKI/ca.pem"
e2e_bg "$T/py1.log" timeout 120 "$TLSSHIM" -c "$T/py.ini" -- python3 -m http.server --bind 127.0.0.1 --directory "$T/www" "$PY"
e2e_bg "$T/py2.log" timeout 120 "$TLSSHIM" -c "$T/py.ini" -- python3 -m http.server --bind 127.0.0.1 --directory "$T/www" "$PY2"
if wait_port "$PY" 127.0.0.1 15 && wait_port "$PY2" 127.0.0.1 15; then
    seq 200 | xargs -P 40 -I{} sh -c "curl -s -m 30 --cacert '$PKI/ca.pem' -o /dev/null -w '%{http_code}\n' https://localhost:$PY/?n={}" \
        >"$T/pypar.out" 2>&1
    ok=$(grep -c '^200$' "$T/pypar.out")
    if [ "$ok" = 200 ]; then
        pass "python3 -m http.server answers 200 parallel HTTPS requests (200 x 200 OK)"
    else
        fail "python3 -m http.server answers 200 parallel HTTPS requests" "$ok of 200 OK"
    fi
    subject=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$PY" -servername localhost -CAfile "$PKI/ca.pem" \
        -verify_return_error 2>/dev/null | openssl x509 -noout -subject 2>/dev/null)
    if echo "$subject" | grep -q "CN *= *localhost"; then
        pass "http.server presents the rule's certificate to openssl s_client"
    else
        fail "http.server presents the rule's certificate" "s_client saw: $subject"
    fi
    if curl -sS -m 10 --cacert "$PKI/ca.pem" "https://localhost:$PY2/" >/dev/null 2>"$T/pym1.err"; then
        fail "http.server: fail_if_no_peer_cert refuses a client without a certificate" "curl got the page"
    else
        pass "http.server: fail_if_no_peer_cert refuses a client without a certificate"
    fi
    if curl -sS -m 10 --cacert "$PKI/ca.pem" --cert "$PKI/client.pem" --key "$PKI/client.key" \
        "https://localhost:$PY2/" 2>"$T/pym2.err" | grep -q "hello from http.server"; then
        pass "http.server: fail_if_no_peer_cert admits a client with a certificate of the CA"
    else
        fail "http.server: fail_if_no_peer_cert admits a client with a certificate" "$(cat "$T/pym2.err")"
    fi
else
    fail "python3 -m http.server under accept rules" "did not start: $(tail -3 "$T/py1.log" "$T/py2.log" | tr '\n' ' ')"
fi

# ---- nginx under accept rules ---------------------------------------------------------
if ! command -v nginx >/dev/null 2>&1; then
    fail "nginx under an accept rule" "nginx is not installed"
    e2e_done
fi
NG=$T/nginx
mkdir -p "$NG/html" "$NG/logs"
echo "hello from nginx through tlsshim" >"$NG/html/index.html"
PORT=$(free_port)
PORT2=$(free_port)
cat >"$NG/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 2;
pid $NG/nginx.pid;
error_log $NG/logs/error.log warn;
events { use epoll; worker_connections 512; }
http {
    access_log $NG/logs/access.log;
    client_body_temp_path $NG/tmp-body; proxy_temp_path $NG/tmp-proxy; fastcgi_temp_path $NG/tmp-fcgi;
    uwsgi_temp_path $NG/tmp-uwsgi; scgi_temp_path $NG/tmp-scgi;
    server { listen 127.0.0.1:$PORT; root $NG/html; }
    server { listen 127.0.0.1:$PORT2; root $NG/html; }
}
EOF
write_policy "$T/nginx.ini" "[global]" "log = $T/nginx-shim.log" "log_level = info" "" \
    "[web]" "direction = accept" "match = 127.0.0.1:$PORT" "certfile = $PKI/server.pem" "keyfile = $PKI/server.key" "" \
    "[mtls]" "direction = accept" "match = 127.0.0.1:$PORT2" "certfile = $PKI/server.pem" \
    "keyfile = $PKI/server.key" "verify = verify_peer" "fail_if_no_peer_cert = true" "cacertfile = $PKI/ca.pem"
e2e_bg "$T/nginx.out" timeout 120 "$TLSSHIM" -c "$T/nginx.ini" -- nginx -p "$NG" -c "$NG/nginx.conf" -e "$NG/logs/error.log"
NGPID=$E2E_BG_PID
if ! wait_port "$PORT" 127.0.0.1 15; then
    fail "nginx under an accept rule" "nginx did not start: $(tail -5 "$T/nginx.out" "$NG/logs/error.log" | tr '\n' ' ')"
    e2e_done
fi

# one request, the right certificate
if curl -sS -m 10 --cacert "$PKI/ca.pem" "https://localhost:$PORT/" >"$T/ng1.out" 2>"$T/ng1.err" &&
    grep -q "hello from nginx" "$T/ng1.out"; then
    pass "nginx (master + 2 workers, epoll) serves curl --cacert https://"
else
    fail "nginx serves curl --cacert https://" "$(cat "$T/ng1.err") $(tail -3 "$T/nginx-shim.log" 2>/dev/null)"
fi
subject=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -servername localhost -CAfile "$PKI/ca.pem" \
    -verify_return_error 2>/dev/null | openssl x509 -noout -subject 2>/dev/null)
if echo "$subject" | grep -q "CN *= *localhost"; then
    pass "nginx presents the rule's certificate to openssl s_client ($subject)"
else
    fail "nginx presents the rule's certificate" "s_client saw: $subject"
fi

# 200 parallel requests
seq 200 | xargs -P 40 -I{} sh -c "curl -s -m 20 --cacert '$PKI/ca.pem' -o /dev/null -w '%{http_code}\n' https://localhost:$PORT/?n={}" \
    >"$T/par.out" 2>&1
ok=$(grep -c '^200$' "$T/par.out")
if [ "$ok" = 200 ]; then
    pass "nginx answers 200 parallel HTTPS requests (200 x 200 OK)"
else
    fail "nginx answers 200 parallel HTTPS requests" "$ok of 200 OK; others: $(grep -v '^200$' "$T/par.out" | sort | uniq -c | tr '\n' ' ')"
fi

# client certificates required by the rule
if curl -sS -m 10 --cacert "$PKI/ca.pem" "https://localhost:$PORT2/" >"$T/mt1.out" 2>"$T/mt1.err"; then
    fail "fail_if_no_peer_cert refuses a client without a certificate" "curl got: $(head -c 100 "$T/mt1.out")"
else
    pass "fail_if_no_peer_cert refuses a client without a certificate ($(head -c 80 "$T/mt1.err"))"
fi
if curl -sS -m 10 --cacert "$PKI/ca.pem" --cert "$PKI/client.pem" --key "$PKI/client.key" \
    "https://localhost:$PORT2/" >"$T/mt2.out" 2>"$T/mt2.err" && grep -q "hello from nginx" "$T/mt2.out"; then
    pass "fail_if_no_peer_cert admits a client with a certificate of the CA"
else
    fail "fail_if_no_peer_cert admits a client with a certificate" "$(cat "$T/mt2.err")"
fi
if grep -q "\[mtls\]" "$T/nginx-shim.log" && grep -qi "no_peer_cert\|certificate" "$T/nginx-shim.log"; then
    pass "the shim's log names the refused client's reason"
else
    fail "the shim's log names the refused client's reason" "$(tail -5 "$T/nginx-shim.log" | tr '\n' ' ')"
fi
e2e_kill "$NGPID"
e2e_done
