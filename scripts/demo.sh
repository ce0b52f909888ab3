#!/bin/bash
# make demo: tlsshim at work on two programs that know nothing of TLS.
#  1. python3 -m http.server (plain HTTP) under an accept rule: curl fetches
#     https://localhost:PORT/ from it, verifying against a throwaway CA;
#  2. curl http://127.0.0.1:PORT/ (plain HTTP) under a connect rule: it talks
#     TLS to `openssl s_server -www`, whose certificate the shim verifies.
# Exit 0 on success, 1 otherwise. Everything it starts or writes is removed.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
TLSSHIM=$BUILD/tlsshim
for c in openssl curl python3; do
    command -v "$c" >/dev/null || { echo "demo: $c is not installed (make deps)"; exit 1; }
done
[ -x "$TLSSHIM" ] || { echo "demo: $TLSSHIM is missing (make all)"; exit 1; }

DIR=$(mktemp -d "${TMPDIR:-/tmp}/tlsshim-demo.XXXXXX")
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$DIR"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_port() {
    python3 - "$1" <<'EOF'
import socket, sys, time
end = time.time() + 10
while time.time() < end:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close(); sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
EOF
}
step() { printf '\n== %s\n' "$*"; }
ok=1

step "a throwaway CA and a certificate for localhost / 127.0.0.1"
(
    cd "$DIR" &&
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
            -subj "/CN=tlsshim demo CA" -addext "basicConstraints=critical,CA:true" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" &&
        openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
            -subj "/CN=localhost" &&
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >ext.cnf &&
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -extfile ext.cnf -out server.pem
) >"$DIR/pki.log" 2>&1 || { echo "demo: certificate generation failed:"; cat "$DIR/pki.log"; exit 1; }
echo "   $DIR/ca.pem, $DIR/server.pem"

WEB=$(free_port)
UP=$(free_port)
cat >"$DIR/policy.ini" <<EOF
[global]
log = stderr
log_level = info

; python3 -m http.server listens on $WEB: tlsshim is its TLS server
[web]
direction = accept
match = 127.0.0.1:$WEB
certfile = server.pem
keyfile = server.key

; curl connects to $UP: tlsshim is its TLS client, verifying the server
[upstream]
direction = connect
match = 127.0.0.1:$UP
server_name = localhost
verify = verify_peer
cacertfile = ca.pem
EOF

step "the policy ($TLSSHIM --check)"
if ! "$TLSSHIM" --check -c "$DIR/policy.ini" | sed 's/^/   /'; then
    echo "demo: the policy does not check"
    exit 1
fi

step "1. python3 -m http.server under an accept rule, fetched with curl --cacert https://localhost:$WEB/"
mkdir -p "$DIR/www"
echo "hello from a plain HTTP server, over TLS" >"$DIR/www/index.html"
"$TLSSHIM" -c "$DIR/policy.ini" python3 -m http.server --bind 127.0.0.1 --directory "$DIR/www" "$WEB" \
    >"$DIR/web.log" 2>&1 &
PIDS+=($!)
if ! wait_port "$WEB"; then
    echo "demo: http.server did not start:"; cat "$DIR/web.log"; exit 1
fi
out=$(timeout 20 curl -sS -m 10 --cacert "$DIR/ca.pem" "https://localhost:$WEB/index.html" 2>&1)
echo "   curl got: $out"
if [ "$out" = "hello from a plain HTTP server, over TLS" ]; then
    echo "   OK: curl verified the certificate and got the page"
else
    echo "   FAILED"; ok=0
fi
sleep 0.2
grep "tlsshim.*\[web\]" "$DIR/web.log" | grep -v debug | sed 's/^/   shim: /'

step "2. curl http://127.0.0.1:$UP/ under a connect rule, to openssl s_server -www"
openssl s_server -accept "127.0.0.1:$UP" -cert "$DIR/server.pem" -key "$DIR/server.key" -www -quiet \
    >"$DIR/s_server.log" 2>&1 &
PIDS+=($!)
if ! wait_port "$UP"; then
    echo "demo: s_server did not start:"; cat "$DIR/s_server.log"; exit 1
fi
out=$(timeout 20 "$TLSSHIM" -c "$DIR/policy.ini" curl -sS -m 10 "http://127.0.0.1:$UP/" 2>"$DIR/curl.err")
if grep -q "s_server" <<<"$out"; then
    echo "   curl got s_server's page: $(grep -m1 -o 'New, [^,]*, Cipher is [A-Za-z0-9_-]*' <<<"$out" | head -2 | tr '\n' ' ')"
    echo "   OK: plain HTTP from curl went out as TLS, the server's certificate was verified"
else
    echo "   FAILED: $(tail -3 "$DIR/curl.err")"; ok=0
fi
grep "tlsshim.*\[upstream\]" "$DIR/curl.err" | grep -v debug | sed 's/^/   shim: /'

echo
if [ $ok = 1 ]; then
    echo "demo: OK"
    exit 0
fi
echo "demo: FAILED"
exit 1
