#!/bin/bash
# Case 3: a real server. Plaintext redis-server under an accept rule vs
# redis's own TLS (tls-port, libssl) vs plaintext redis behind stunnel (the
# TLS proxy people put in front of servers without TLS). The same
# RSA-2048 certificate; redis-benchmark --tls (TLS 1.3, TLS_AES_128_GCM_SHA256)
# runs GET at -c 1, GET at -c 50 and SET -P 16 at -c 50 against each.
# Rows: requests/s (goals against redis's own TLS; against stunnel for
# information) and p50 latency of GET -c 50.
. "$(dirname "$0")/../lib.sh"
T=$BENCH_TMP
N_C1=$(quick 3000 100000)
N_C50=$(quick 10000 300000)
N_P16=$(quick 50000 1500000)

start_redis() { # NAME ARGS... (after --, a launcher prefix may come first via PRE)
    local name=$1
    shift
    bench_bg "$T/redis-$name.log" "${PRE[@]}" redis-server --save '' --appendonly no --bind 127.0.0.1 "$@"
}

# bench NAME PORT KEY: run the three loads, set R[NAME.KEY.rps], R[NAME.c50.p50]
run_loads() {
    local name=$1 port=$2 test n c p out
    for load in c1 c50 p16; do
        case $load in
        c1) test=get n=$N_C1 c=1 p=1 ;;
        c50) test=get n=$N_C50 c=50 p=1 ;;
        p16) test=set n=$N_P16 c=50 p=16 ;;
        esac
        out=$T/rb-$name-$load.csv
        timeout 120 redis-benchmark --tls --cacert "$PKI/ca.pem" --sni localhost \
            --tls-ciphersuites TLS_AES_128_GCM_SHA256 -h 127.0.0.1 -p "$port" \
            -t "$test" -n "$n" -c "$c" -P "$p" --csv >"$out" 2>"$out.err"
        # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",...
        R[$name.$load.rps]=$(awk -F'"' 'NR == 2 {print $4}' "$out")
        R[$name.$load.p50]=$(awk -F'"' 'NR == 2 {print $10}' "$out")
        note "  $name $test -n $n -c $c -P $p: ${R[$name.$load.rps]:-no result} rps, p50 ${R[$name.$load.p50]:-?} ms $(head -c 300 "$out.err")"
    done
}

declare -A R
if need redis-server redis-benchmark stunnel python3 && [ -x "$TLSSHIM" ]; then
    # redis's own TLS
    OWN=$(free_port)
    PRE=()
    start_redis own --port 0 --tls-port "$OWN" --tls-cert-file "$PKI/server.pem" \
        --tls-key-file "$PKI/server.key" --tls-auth-clients no
    wait_port "$OWN" 10 && run_loads own "$OWN"
    bench_kill "$BG_PID"

    # plaintext redis under an accept rule
    SHIM=$(free_port)
    policy "$T/shim.ini" "[global]" "log = $T/shim.log" "log_level = warning" "" \
        "[redis]" "direction = accept" "match = 127.0.0.1:$SHIM" \
        "certfile = $PKI/server.pem" "keyfile = $PKI/server.key"
    PRE=("$TLSSHIM" -c "$T/shim.ini" --)
    start_redis shim --port "$SHIM"
    wait_port "$SHIM" 10 && run_loads shim "$SHIM"
    bench_kill "$BG_PID"
    [ -s "$T/shim.log" ] && note "shim log: $(tail -5 "$T/shim.log")"

    # plaintext redis behind stunnel
    PLAIN=$(free_port) ST=$(free_port)
    PRE=()
    start_redis plain --port "$PLAIN"
    cat >"$T/stunnel.conf" <<CONF
foreground = yes
pid =
debug = warning
output = $T/stunnel.log
socket = l:TCP_NODELAY=1
socket = r:TCP_NODELAY=1
[redis]
accept = 127.0.0.1:$ST
connect = 127.0.0.1:$PLAIN
cert = $PKI/server.pem
key = $PKI/server.key
CONF
    bench_bg "$T/stunnel.out" stunnel "$T/stunnel.conf"
    wait_port "$PLAIN" 10 && wait_port "$ST" 10 && run_loads stunnel "$ST"
fi

OWN_L="redis own TLS (libssl)"
ST_L="redis behind stunnel"
row 3 "redis GET -c 1, requests/s" "${R[shim.c1.rps]:-NA}" "$OWN_L" "${R[own.c1.rps]:-NA}" rps ">=0.9"
row 3 "redis GET -c 50, requests/s" "${R[shim.c50.rps]:-NA}" "$OWN_L" "${R[own.c50.rps]:-NA}" rps ">=1.0"
row 3 "redis SET -P 16 -c 50, requests/s" "${R[shim.p16.rps]:-NA}" "$OWN_L" "${R[own.p16.rps]:-NA}" rps ">=1.0"
row 3 "redis GET -c 50, p50 latency" "${R[shim.c50.p50]:-NA}" "$OWN_L" "${R[own.c50.p50]:-NA}" ms "<=1.2"
row 3 "redis GET -c 1, requests/s" "${R[shim.c1.rps]:-NA}" "$ST_L" "${R[stunnel.c1.rps]:-NA}" rps "-"
row 3 "redis GET -c 50, requests/s" "${R[shim.c50.rps]:-NA}" "$ST_L" "${R[stunnel.c50.rps]:-NA}" rps "-"
row 3 "redis SET -P 16 -c 50, requests/s" "${R[shim.p16.rps]:-NA}" "$ST_L" "${R[stunnel.p16.rps]:-NA}" rps "-"
row 3 "redis GET -c 50, p50 latency" "${R[shim.c50.p50]:-NA}" "$ST_L" "${R[stunnel.c50.p50]:-NA}" ms "-"
bench_done
