# Shared helpers for the shim's end-to-end tests (sourced, not run).
# Env: BUILD (build dir, default build), PKI (test PKI, default $BUILD/pki).
# Each test prints "PASS name" or "FAIL name: why"; e2e_done exits non-zero
# if any case failed. Servers are started with e2e_bg and killed by PID at
# exit; every wait is bounded.
set -u
TOP=${TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
cd "$TOP" || exit 1
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
PKI=${PKI:-$BUILD/pki}
case $PKI in /*) ;; *) PKI=$TOP/$PKI ;; esac
TLSSHIM=$BUILD/tlsshim
# LD_PRELOAD value for running a program under the shim without the launcher
# (a sanitizer build needs its runtime first; the launcher does this itself)
E2E_PRELOAD=$BUILD/libtlsshim.so
if [ "${SANITIZE:-}" = 1 ] && [ -f "$BUILD/libtlsshim.so" ]; then
    asan_rt=$(ldd "$BUILD/libtlsshim.so" 2>/dev/null | awk '/libasan/ {print $3}')
    [ -n "$asan_rt" ] && E2E_PRELOAD=$asan_rt:$BUILD/libtlsshim.so
fi
E2E_FAILED=0
E2E_PIDS=()
E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tlsshim-e2e.XXXXXX")

e2e_cleanup() {
    local p
    for p in "${E2E_PIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    for p in "${E2E_PIDS[@]}"; do
        wait "$p" 2>/dev/null
    done
    [ -n "${E2E_KEEP:-}" ] || rm -rf "$E2E_TMP"
}
trap e2e_cleanup EXIT

pass() { echo "PASS $1"; }
fail() {
    echo "FAIL $1: $2"
    E2E_FAILED=1
}
e2e_done() { exit "$E2E_FAILED"; }

# missing_tool WHAT: a tool the suite needs is absent. Under CI (CI=true) that
# is a failure; elsewhere the suite is skipped with a note (never counted as passed).
missing_tool() {
    if [ "${CI:-}" = true ]; then
        echo "FAIL setup: $1 is not installed (CI=true: a missing tool fails the suite)"
        exit 1
    fi
    echo "SKIP: $1 is not installed"
    exit 0
}

# e2e_require CMD...: the suite needs these commands (see missing_tool)
e2e_require() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || missing_tool "$c"
    done
    if [ ! -x "$TLSSHIM" ] || [ ! -f "$BUILD/libtlsshim.so" ]; then
        echo "FAIL setup: $TLSSHIM or $BUILD/libtlsshim.so missing (make all first)"
        exit 1
    fi
    if [ ! -f "$PKI/ca.pem" ]; then
        tests/pki/gen.sh "$PKI" >"$E2E_TMP/pki.log" 2>&1 || {
            echo "FAIL setup: PKI generation failed"
            exit 1
        }
    fi
}

# free_port [HOST]: a port nothing listens on (bind to 0, read it back)
free_port() {
    python3 -c 'import socket,sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' "${1:-127.0.0.1}"
}

# wait_port PORT [HOST] [SECONDS]: until something accepts there (plain TCP connect)
wait_port() {
    local port=$1 host=${2:-127.0.0.1} secs=${3:-10}
    python3 - "$host" "$port" "$secs" <<'EOF'
import socket, sys, time
host, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
end = time.time() + secs
while time.time() < end:
    try:
        socket.create_connection((host, port), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
EOF
}

# e2e_bg LOG CMD...: start CMD in the background (stdout+stderr to LOG), remember its PID
e2e_bg() {
    local log=$1
    shift
    "$@" >"$log" 2>&1 &
    E2E_BG_PID=$!
    E2E_PIDS+=("$E2E_BG_PID")
}

# e2e_kill PID: stop one background process
e2e_kill() {
    kill "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    return 0
}

# s_server PORT CERT KEY [ARGS...]: openssl s_server -www on 127.0.0.1:PORT, waits until up
s_server() {
    local port=$1 cert=$2 key=$3
    shift 3
    e2e_bg "$E2E_TMP/s_server-$port.log" timeout 60 openssl s_server -accept "127.0.0.1:$port" \
        -cert "$cert" -key "$key" -www -quiet "$@"
    wait_port "$port"
}

# connect_policy FILE RULE-BODY...: a policy with [global] log_level=info and one connect rule
write_policy() {
    local file=$1
    shift
    printf '%s\n' "$@" >"$file"
}

# raw_listener PORT OUTFILE: a TCP server that stores every byte it receives
# (and answers nothing), to prove what went on the wire
raw_listener() {
    local port=$1 out=$2
    e2e_bg "$E2E_TMP/raw-$port.log" timeout 60 python3 -c '
import socket, sys, threading
port, out = int(sys.argv[1]), sys.argv[2]
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port)); ls.listen(16)
lock = threading.Lock()
def serve(c):
    c.settimeout(3)
    try:
        while True:
            d = c.recv(65536)
            if not d: break
            with lock:
                with open(out, "ab") as f: f.write(d)
    except OSError: pass
    c.close()
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
' "$port" "$out"
    : >"$out"
    wait_port "$port"
}

# HTTP_GET: a command printing the body of an HTTP GET of its last argument,
# as `curl -sS -m 10 URL` does. Under SANITIZE=1 the launcher preloads the
# sanitizer runtime into the program, and curl does not run under libasan:
# a python3 client stands in.
cat >"$E2E_TMP/http_get.py" <<'EOF2'
import socket, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[-1])
try:
    s = socket.create_connection((u.hostname, u.port or 80), timeout=10)
except OSError as e:
    sys.stderr.write("Failed to connect to %s port %s: %s\n" % (u.hostname, u.port, e.strerror or e)); sys.exit(7)
s.sendall(("GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (u.path or "/", u.netloc)).encode())
d = b""
try:
    while True:
        c = s.recv(65536)
        if not c: break
        d += c
except OSError as e:
    sys.stderr.write("Recv failure: %s\n" % e); sys.exit(56)
if not d:
    sys.stderr.write("Empty reply from server\n"); sys.exit(52)
sys.stdout.write(d.split(b"\r\n\r\n", 1)[-1].decode("latin-1"))
EOF2
if [ "${SANITIZE:-}" = 1 ]; then
    HTTP_GET=(python3 "$E2E_TMP/http_get.py")
else
    HTTP_GET=(curl -sS -m 10)
fi
