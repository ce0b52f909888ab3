#!/bin/bash
# The policy's `alpn` key end to end (issue 9): nginx speaks plaintext HTTP/2
# under an accept rule with `alpn = h2, http/1.1`; curl --http2 must get h2
# and the page, a client offering only http/1.1 must get http/1.1, the rule's
# order must win over the client's, and a client offering none of the rule's
# protocols must be refused with no_application_protocol (RFC 7301 3.2).
#
# nginx before 1.25.1 has no HTTP/1.1 on a plaintext `listen ... http2` port
# (it expects the HTTP/2 preface), so there the http/1.1 page comes from a
# second, HTTP/1.1 listener under a rule with the same alpn; the ALPN answer
# of the h2 rule itself is checked with openssl s_client. From 1.25.1 on,
# `http2 on;` serves both on one port and curl --http1.1 goes there.
. "$(dirname "$0")/lib.sh"
e2e_require openssl python3 curl nginx

T=$E2E_TMP
chmod 755 "$T" # nginx workers run as an unprivileged user

if ! curl -V | grep -qw HTTP2; then
    missing_tool "curl with HTTP/2 (nghttp2)"
fi
ngv=$(nginx -v 2>&1 | sed -n 's|.*nginx/\([0-9.]*\).*|\1|p')
if [ -z "$ngv" ]; then
    fail setup "cannot read nginx's version from: $(nginx -v 2>&1)"
    e2e_done
fi
# the lower of the two is 1.25.1: this nginx has `http2 on;` with HTTP/1.1 beside it
if [ "$(printf '%s\n' 1.25.1 "$ngv" | sort -V | head -1)" = 1.25.1 ]; then
    H2_LISTEN="listen 127.0.0.1:PORT; http2 on;"
    BOTH_ON_ONE_PORT=true
else
    H2_LISTEN="listen 127.0.0.1:PORT http2;"
    BOTH_ON_ONE_PORT=false
fi

NG=$T/nginx
mkdir -p "$NG/html" "$NG/logs"
echo "hello from nginx over alpn" >"$NG/html/index.html"
H2=$(free_port)     # [h2]: alpn = h2, http/1.1 on nginx's HTTP/2 listener
H1=$(free_port)     # [h1]: alpn = h2, http/1.1 on an HTTP/1.1 listener
H1PREF=$(free_port) # [h1pref]: alpn = http/1.1, h2 on an HTTP/1.1 listener
cat >"$NG/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $NG/nginx.pid;
error_log $NG/logs/error.log warn;
events { use epoll; worker_connections 128; }
http {
    access_log $NG/logs/access.log;
    client_body_temp_path $NG/tmp-body; proxy_temp_path $NG/tmp-proxy; fastcgi_temp_path $NG/tmp-fcgi;
    uwsgi_temp_path $NG/tmp-uwsgi; scgi_temp_path $NG/tmp-scgi;
    server { ${H2_LISTEN//PORT/$H2} root $NG/html; }
    server { listen 127.0.0.1:$H1; root $NG/html; }
    server { listen 127.0.0.1:$H1PREF; root $NG/html; }
}
EOF
rule() { # NAME PORT ALPN: an accept rule with the test certificate
    printf '%s\n' "[$1]" "direction = accept" "match = 127.0.0.1:$2" "certfile = $PKI/server.pem" \
        "keyfile = $PKI/server.key" "alpn = $3" ""
}
{
    printf '%s\n' "[global]" "log = $T/shim.log" "log_level = debug" ""
    rule h2 "$H2" "h2, http/1.1"
    rule h1 "$H1" "h2, http/1.1"
    rule h1pref "$H1PREF" "http/1.1, h2"
} >"$T/alpn.ini"
e2e_bg "$T/nginx.out" timeout 120 "$TLSSHIM" -c "$T/alpn.ini" -- nginx -p "$NG" -c "$NG/nginx.conf" \
    -e "$NG/logs/error.log"
NGPID=$E2E_BG_PID
for p in "$H2" "$H1" "$H1PREF"; do
    if ! wait_port "$p" 127.0.0.1 15; then
        fail "nginx under alpn rules" "nginx did not start: $(tail -5 "$T/nginx.out" "$NG/logs/error.log" | tr '\n' ' ')"
        e2e_done
    fi
done

# get NAME PORT CURL_ARGS...: curl's HTTP version to $T/NAME.ver, the body to $T/NAME.out
get() {
    local name=$1 port=$2
    shift 2
    curl -sS -m 10 --cacert "$PKI/ca.pem" "$@" -o "$T/$name.out" -w '%{http_version}' \
        "https://localhost:$port/" >"$T/$name.ver" 2>"$T/$name.err"
}
# expect NAME PORT VERSION WHAT CURL_ARGS...: curl gets the page over HTTP VERSION
expect() {
    local name=$1 port=$2 ver=$3 what=$4
    shift 4
    get "$name" "$port" "$@"
    local got
    got=$(cat "$T/$name.ver")
    if [ "$got" = "$ver" ] && grep -q "hello from nginx over alpn" "$T/$name.out"; then
        pass "$what (HTTP/$got)"
    else
        fail "$what" "HTTP version '$got', expected $ver; body: $(head -c 80 "$T/$name.out" 2>/dev/null); \
$(cat "$T/$name.err") $(tail -2 "$T/shim.log" | tr '\n' ' ')"
    fi
}
# offer PORT LIST: the protocol openssl s_client -alpn LIST gets, or "none"
offer() {
    echo | timeout 10 openssl s_client -connect "127.0.0.1:$1" -servername localhost -CAfile "$PKI/ca.pem" \
        -verify_return_error -alpn "$2" >"$T/sc.out" 2>"$T/sc.err"
    sed -n 's/^ALPN protocol: //p' "$T/sc.out" | head -1 | grep . || echo none
}

# ---- alpn = h2, http/1.1 ------------------------------------------------------------
expect h2 "$H2" 2 "alpn = h2, http/1.1: nginx (plaintext HTTP/2) serves curl --http2 over h2" --http2
if grep -q "\[h2\] handshake with .* alpn=h2\b" "$T/shim.log"; then
    pass "the shim's log shows the [h2] rule negotiated alpn=h2"
else
    fail "the shim's log shows alpn=h2" "$(grep '\[h2\]' "$T/shim.log" | tail -3 | tr '\n' ' ')"
fi
got=$(offer "$H2" http/1.1)
if [ "$got" = http/1.1 ]; then
    pass "alpn = h2, http/1.1: a client offering only http/1.1 gets http/1.1 (openssl s_client)"
else
    fail "alpn = h2, http/1.1: a client offering only http/1.1 gets http/1.1" \
        "s_client got '$got': $(tail -3 "$T/sc.err" | tr '\n' ' ')"
fi
if [ "$BOTH_ON_ONE_PORT" = true ]; then
    expect h1 "$H2" 1.1 "alpn = h2, http/1.1: nginx $ngv serves curl --http1.1 over http/1.1 on the same port" --http1.1
else
    expect h1 "$H1" 1.1 "alpn = h2, http/1.1: nginx $ngv (HTTP/1.1 listener) serves curl --http1.1 over http/1.1" \
        --http1.1
fi
got=$(offer "$H2" h2,http/1.1)
if [ "$got" = h2 ]; then
    pass "alpn = h2, http/1.1: a client offering h2,http/1.1 gets h2 (openssl s_client)"
else
    fail "alpn = h2, http/1.1: a client offering h2,http/1.1 gets h2" "s_client got '$got'"
fi

# ---- the rule's order wins ------------------------------------------------------------
expect pref "$H1PREF" 1.1 "alpn = http/1.1, h2: curl --http2 (offering h2 first) gets http/1.1, the rule's choice" \
    --http2
got=$(offer "$H1PREF" h2,http/1.1)
if [ "$got" = http/1.1 ]; then
    pass "alpn = http/1.1, h2: openssl s_client offering h2,http/1.1 gets http/1.1"
else
    fail "alpn = http/1.1, h2: s_client offering h2,http/1.1 gets http/1.1" "s_client got '$got'"
fi

# ---- nothing in common ----------------------------------------------------------------
got=$(offer "$H2" spdy/3.1)
if [ "$got" = none ] && grep -qi "no application protocol" "$T/sc.err"; then
    pass "alpn = h2, http/1.1: a client offering only spdy/3.1 is refused with no_application_protocol"
else
    fail "a client offering only spdy/3.1 is refused with no_application_protocol" \
        "s_client got '$got': $(grep -i alert "$T/sc.err" | head -2 | tr '\n' ' ')"
fi
if grep -q "\[h2\].*no ALPN protocol in common" "$T/shim.log"; then
    pass "the shim's log says there was no ALPN protocol in common"
else
    fail "the shim's log says there was no ALPN protocol in common" "$(grep '\[h2\]' "$T/shim.log" | tail -3 | tr '\n' ' ')"
fi

e2e_kill "$NGPID"
e2e_done
