#!/bin/bash
# Case 7: descriptors. How many idle TLS clients redis serves under a given
# RLIMIT_NOFILE, under an accept rule vs with its own TLS: the program should
# keep the connection capacity its limit gives it. Two limits:
#  - soft 200 with a higher hard limit (the common case: a soft limit below
#    the hard one), where the shim's own fds live above the program's limit;
#  - soft = hard = 200, where they cannot: each upgraded connection costs the
#    program 3 fds (its socketpair end, the helper's end, the TCP socket).
# The clients (bench/idle.py) connect until one is refused.
. "$(dirname "$0")/../lib.sh"
T=$BENCH_TMP
TRY=$(quick 260 400) # more than either server can hold at 200 fds

# serve NAME SOFT HARD PORT-OPTION CMD...: start CMD (its TLS port given with
# PORT-OPTION) under those limits, count the clients it holds -> R[NAME]
serve() {
    local name=$1 soft=$2 hard=$3 opt=$4 port
    shift 4
    port=$(free_port)
    (ulimit -Sn "$soft" && ulimit -Hn "$hard" && exec "$@" "$opt" "$port") >"$T/$name.out" 2>&1 &
    local pid=$!
    BENCH_PIDS+=("$pid")
    if wait_port "$port" 10; then
        local out
        out=$(yes go | timeout 120 python3 "$TOP/bench/idle.py" hold "$port" "$TRY" 2>"$T/$name.err" | tail -1)
        note "  $name: $out"
        case $out in
        "held $TRY") R[$name]=$TRY ;;
        "failed after "*) R[$name]=$(echo "$out" | sed -n 's/^failed after \([0-9]*\) .*/\1/p') ;;
        esac
    else
        note "  $name: the server did not start: $(tail -3 "$T/$name.out")"
    fi
    bench_kill "$pid"
}

declare -A R
if need redis-server python3 && [ -x "$TLSSHIM" ]; then
    policy "$T/shim.ini" "[global]" "log = $T/shim.log" "log_level = warning" "" \
        "[redis]" "direction = accept" "match = 127.0.0.1:*" \
        "certfile = $PKI/server.pem" "keyfile = $PKI/server.key"
    SHIM=("$TLSSHIM" -c "$T/shim.ini" -- redis-server --bind 127.0.0.1 --save '' --appendonly no)
    OWN=(redis-server --bind 127.0.0.1 --save '' --appendonly no --tls-cert-file "$PKI/server.pem"
        --tls-key-file "$PKI/server.key" --tls-auth-clients no --port 0)
    HARD=$(ulimit -Hn)
    [ "$HARD" -gt 4096 ] && HARD=4096
    serve shim.soft 200 "$HARD" --port "${SHIM[@]}"
    serve own.soft 200 "$HARD" --tls-port "${OWN[@]}"
    serve shim.hard 200 200 --port "${SHIM[@]}"
    serve own.hard 200 200 --tls-port "${OWN[@]}"
    note "shim log: $(grep -c 'refused' "$T/shim.log" 2>/dev/null) refusals logged; last: $(grep refused "$T/shim.log" | tail -1)"
fi
row 7-fds "idle TLS clients redis holds at RLIMIT_NOFILE soft 200, hard $HARD (of $TRY tried)" "${R[shim.soft]:-NA}" \
    "redis own TLS, same limits" "${R[own.soft]:-NA}" conns ">=1.0"
row 7-fds "idle TLS clients redis holds at RLIMIT_NOFILE soft = hard = 200 (of $TRY tried)" "${R[shim.hard]:-NA}" \
    "redis own TLS, same limits" "${R[own.hard]:-NA}" conns ">=1.0"
bench_done
