# Shared helpers of the interop suites (sourced, not run).
#
# Environment: BUILD (default build), PKI (default $BUILD/pki, generated if
# missing), TOP (the repo root). Each suite prints "PASS name" or
# "FAIL name: why" per case, then a "MATRIX ..." summary line with indented
# rows, and exits non-zero if any case failed.
#
# Every peer runs under `timeout`, in the background with its output in
# $T/NAME.out and $T/NAME.err, is stopped by its PID, and listens on a port
# found free by binding port 0, so suites can run side by side.

set -u
TOP=${TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
cd "$TOP" || exit 2
BUILD=${BUILD:-build}
PKI=${PKI:-$BUILD/pki}
CLIENT=$BUILD/examples/echo_client
SERVER=$BUILD/examples/echo_server
TO=20 # seconds any one program may run

T=$(mktemp -d "${TMPDIR:-/tmp}/tlsshim-interop.XXXXXX")
N_PASS=0
N_FAIL=0
ROWS=()
BG_PIDS=()

cleanup() {
    local p
    for p in "${BG_PIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    for p in "${BG_PIDS[@]}"; do
        wait "$p" 2>/dev/null
    done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need_build() {
    local f
    for f in "$CLIENT" "$SERVER"; do
        if [ ! -x "$f" ]; then
            echo "FAIL setup: $f is missing (make BUILD=$BUILD all)"
            exit 1
        fi
    done
    # a no-op when the PKI is current; remakes one an older gen.sh made
    tests/pki/gen.sh "$PKI" >"$T/pki.log" 2>&1 || {
        echo "FAIL setup: tests/pki/gen.sh $PKI failed: $(tail -3 "$T/pki.log")"
        exit 1
    }
}

# missing_tool WHAT: a peer the suite needs is absent. Under CI (CI=true) that
# is a failure; elsewhere the suite is skipped with a note (never counted as passed).
missing_tool() {
    if [ "${CI:-}" = true ]; then
        echo "FAIL setup: $1 is not installed (CI=true: a missing tool fails the suite)"
        exit 1
    fi
    echo "MATRIX $(basename "$0" .sh): skipped ($1 is not installed)"
    exit 0
}

# have TOOL: true if the peer program is installed
have() { command -v "$1" >/dev/null 2>&1; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT [SECONDS]: true once something accepts on 127.0.0.1:PORT
wait_port() {
    local port=$1 secs=${2:-10} i
    for ((i = 0; i < secs * 20; i++)); do
        if python3 -c 'import socket, sys
s = socket.socket(); s.settimeout(0.2)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)' "$port" 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    return 1
}

# bg NAME CMD...: runs CMD in the background (bounded by timeout); sets BG_PID
bg() {
    local name=$1
    shift
    # truncate now: the child's redirection may run after our caller reads the file
    : >"$T/$name.out"
    : >"$T/$name.err"
    timeout "$TO" "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null &
    BG_PID=$!
    BG_PIDS+=("$BG_PID")
}

# stop PID: ends a background peer and reaps it
stop() {
    kill "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    return 0
}

# reap PID: waits for a background program that ends by itself; its status
# goes to REAPED (not echoed: `wait` must run in this shell, not a subshell)
reap() {
    wait "$1" 2>/dev/null
    REAPED=$?
}

# our_server NAME ARGS...: starts echo_server on a free port (it prints "port N");
# sets SRV_PID and SRV_PORT
our_server() {
    local name=$1 i
    shift
    bg "$name" "$SERVER" 0 "$@"
    SRV_PID=$BG_PID
    SRV_PORT=
    for ((i = 0; i < 200; i++)); do
        SRV_PORT=$(sed -n 's/^port \([0-9]*\)$/\1/p' "$T/$name.out" 2>/dev/null | head -1)
        [ -n "$SRV_PORT" ] && break
        kill -0 "$SRV_PID" 2>/dev/null || break
        sleep 0.05
    done
    [ -n "$SRV_PORT" ]
}

pass() {
    echo "PASS $1"
    N_PASS=$((N_PASS + 1))
}

# fail NAME WHY [LOGFILE...]: the last lines of each log follow, indented by 4
fail() {
    local name=$1 why=$2 f
    shift 2
    echo "FAIL $name: $why"
    for f in "$@"; do
        [ -s "$f" ] && tail -5 "$f" | sed 's/^/    | /'
    done
    N_FAIL=$((N_FAIL + 1))
}

# row TEXT: one line of the matrix (printed at the end, indented by two spaces)
row() { ROWS+=("$1"); }

# finish TITLE: prints the matrix and exits with the suite's status
finish() {
    echo "MATRIX $1: $((N_PASS + N_FAIL)) cases, $N_PASS passed, $N_FAIL failed"
    local r
    for r in "${ROWS[@]}"; do
        echo "  $r"
    done
    [ "$N_FAIL" -eq 0 ]
    exit $?
}

# grep_q PATTERN FILE...: quiet extended grep, case-insensitive
grep_q() {
    local p=$1
    shift
    grep -qiE -- "$p" "$@" 2>/dev/null
}

# one-line excerpt of a file for failure messages
excerpt() { tr '\n' ' ' <"$1" 2>/dev/null | cut -c1-160; }

# ---- the version x suite matrix --------------------------------------------
# mx CELL_SUITE VERSION RESULT: records "ours-as-client/ours-as-server" results
declare -A MX=()
MX_SUITES=()
MX_VERSIONS="tls1.0 tls1.1 tls1.2"
mx() {
    local key="$1|$2"
    [[ " ${MX_SUITES[*]} " == *" $1 "* ]] || MX_SUITES+=("$1")
    MX[$key]=$3
}
# mx_rows LEGEND: adds the matrix to the rows
mx_rows() {
    local s v line
    row "$1"
    line=$(printf '%-34s' suite)
    for v in $MX_VERSIONS; do line+=$(printf ' %-10s' "$v"); done
    row "$line"
    for s in "${MX_SUITES[@]}"; do
        line=$(printf '%-34s' "$s")
        for v in $MX_VERSIONS; do line+=$(printf ' %-10s' "${MX[$s|$v]:--}"); done
        row "$line"
    done
}

# our names of the versions, and the peers'
our_ver() {
    case $1 in
    tls1.0) echo tlsv1 ;;
    tls1.1) echo tlsv1.1 ;;
    tls1.2) echo tlsv1.2 ;;
    tls1.3) echo tlsv1.3 ;;
    esac
}
