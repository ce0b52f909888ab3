# shellcheck shell=bash disable=SC2034
# Shared helpers for the bench cases (sourced, not run).
# Env: BUILD (build dir, default build), PKI (test PKI, default $BUILD/pki),
# QUICK=1 (every case small: it proves the case runs, not how fast).
#
# A case script bench/cases/NN-name.sh prints on stdout only its rows:
#   ROW<TAB>case-id<TAB>label<TAB>tlsshim-value<TAB>anchor-label<TAB>anchor-value<TAB>unit<TAB>goal
# goal: "<=X" or ">=X" on the ratio tlsshim/anchor, "max=X" on tlsshim-value
# itself, or "-" (information only). A value it could not measure is NA, and
# the case then exits non-zero. Progress goes to stderr (bench/run.sh sends it
# to build/bench/NN-name.log). Background servers are started with bench_bg
# and killed at exit, also when bench/run.sh's timeout stops the case.
set -u
TOP=${TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
cd "$TOP" || exit 1
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
PKI=${PKI:-$BUILD/pki}
case $PKI in /*) ;; *) PKI=$TOP/$PKI ;; esac
QUICK=${QUICK:-}
TLSSHIM=$BUILD/tlsshim
BENCH_FAILED=0
BENCH_PIDS=()
BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tlsshim-bench.XXXXXX")
chmod 755 "$BENCH_TMP" # nginx workers run as an unprivileged user

bench_cleanup() {
    local p
    for p in "${BENCH_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${BENCH_PIDS[@]}"; do wait "$p" 2>/dev/null; done
    [ -n "${BENCH_KEEP:-}" ] || rm -rf "$BENCH_TMP"
}
trap bench_cleanup EXIT
trap 'exit 143' TERM INT

# quick SMALL FULL: SMALL under QUICK=1, else FULL
quick() { if [ "$QUICK" = 1 ]; then echo "$1"; else echo "$2"; fi; }

# note TEXT...: progress, to the case's log
note() { echo "[$(date +%T)] $*" >&2; }

# row ID LABEL VALUE ANCHOR-LABEL ANCHOR-VALUE UNIT GOAL: one row of the table;
# an empty or non-numeric figure is printed as NA and fails the case
row() {
    local v=$3 a=$5
    is_number "$v" || { v=NA; BENCH_FAILED=1; }
    is_number "$a" || { a=NA; BENCH_FAILED=1; }
    printf 'ROW\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$v" "$4" "$a" "$6" "$7"
}
is_number() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$ ]]; }
bench_done() { exit "$BENCH_FAILED"; }

# need CMD...: commands the case needs; a missing one makes every row NA
# (the caller checks the status)
need() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || { note "missing: $c (make bench installs it)"; return 1; }
    done
}

# calc EXPR: floating point arithmetic (python3); prints NA when an operand is NA
calc() { python3 -c 'import sys
try: print("%.6g" % eval(sys.argv[1], {"__builtins__": {}}))
except Exception: print("NA")' "$*"; }

# free_port: a TCP port on 127.0.0.1 nothing listens on
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT [SECONDS]: until something accepts on 127.0.0.1:PORT
wait_port() {
    python3 - "$1" "${2:-10}" <<'PY'
import socket, sys, time
end = time.time() + float(sys.argv[2])
while time.time() < end:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
PY
}

# bench_bg LOG CMD...: start CMD in the background, remember its PID in BG_PID
bench_bg() {
    local log=$1
    shift
    "$@" >"$log" 2>&1 &
    BG_PID=$!
    BENCH_PIDS+=("$BG_PID")
}

# bench_kill PID: stop one background process
bench_kill() {
    kill "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    return 0
}

# tree_pids PID: PID and all its descendants
tree_pids() {
    local p c
    for p in "$@"; do
        echo "$p"
        for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do tree_pids "$c"; done
    done
}

# cpu_ticks PID...: utime+stime (clock ticks, all threads) summed over the processes
cpu_ticks() {
    local p sum=0 f
    for p in "$@"; do
        # the fields after the ")" of comm: state (field 3) is f[0], utime (14) f[11], stime (15) f[12]
        read -ra f <<<"$(sed 's/.*) //' /proc/"$p"/stat 2>/dev/null)"
        [ ${#f[@]} -gt 12 ] && sum=$((sum + f[11] + f[12]))
    done
    echo "$sum"
}
CLK_TCK=$(getconf CLK_TCK)

# rss_kib PID: VmRSS of the process in KiB
rss_kib() { awk '/^VmRSS:/ {print $2}' /proc/"$1"/status 2>/dev/null; }

# policy FILE LINE...: write a policy file, one argument a line
policy() {
    local file=$1
    shift
    printf '%s\n' "$@" >"$file"
}
