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

start_redis() { # NAME ARGS...: redis-server in the background, behind the launcher in PRE (if any)
    local name=$1
    shift
    bench_bg "$T/redis-$name.log" "${PRE[@]}" redis-server --save '' --appendonly no --bind 127.0.0.1 "$@"
}

# run_load NAME PORT LOAD(c1|c50|p16): one redis-benchmark run, sets
# R[NAME.LOAD.rps] and R[NAME.LOAD.p50]
run_load() {
    local name=$1 port=$2 load=$3 test n c p out
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
}

declare -A R
if need redis-server redis-benchmark stunnel python3 && [ -x "$TLSSHIM" ]; then
    # the three servers run side by side (an idle one costs nothing), and each
    # load runs against the three back to back, so that a machine whose load
    # changes over the run weighs on the three alike
    OWN=$(free_port) SHIM=$(free_port) PLAIN=$(free_port) ST=$(free_port)
    # redis's own TLS
    PRE=()
    start_redis own --port 0 --tls-port "$OWN" --tls-cert-file "$PKI/server.pem" \
        --tls-key-file "$PKI/server.key" --tls-auth-clients no
    # plaintext redis under an accept rule
    policy "$T/shim.ini" "[global]" "log = $T/shim.log" "log_level = warning" "" \
        "[redis]" "direction = accept" "match = 127.0.0.1:$SHIM" \
        "certfile = $PKI/server.pem" "keyfile = $PKI/server.key"
    PRE=("$TLSSHIM" -c "$T/shim.ini" --)
    start_redis shim --port "$SHIM"
    # plaintext redis behind stunnel
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
    for port in "$OWN" "$SHIM" "$PLAIN" "$ST"; do
        wait_port "$port" 10 || note "nothing listens on $port: $(tail -3 "$T"/redis-*.log "$T"/stunnel.*)"
    done
    for load in c1 c50 p16; do
        run_load own "$OWN" $load
        run_load shim "$SHIM" $load
        run_load stunnel "$ST" $load
    done
    [ -s "$T/shim.log" ] && note "shim log: $(tail -3 "$T/shim.log")"
fi

OWN_L="redis own TLS (libssl)"
ST_L="redis behind stunnel"
row 3-redis "redis GET -c 1, requests/s" "${R[shim.c1.rps]:-NA}" "$OWN_L" "${R[own.c1.rps]:-NA}" rps ">=0.9"
row 3-redis "redis GET -c 50, requests/s" "${R[shim.c50.rps]:-NA}" "$OWN_L" "${R[own.c50.rps]:-NA}" rps ">=1.0"
row 3-redis "redis SET -P 16 -c 50, requests/s" "${R[shim.p16.rps]:-NA}" "$OWN_L" "${R[own.p16.rps]:-NA}" rps ">=1.0"
row 3-redis "redis GET -c 50, p50 latency" "${R[shim.c50.p50]:-NA}" "$OWN_L" "${R[own.c50.p50]:-NA}" ms "<=1.2"
row 3-redis "redis GET -c 1, requests/s" "${R[shim.c1.rps]:-NA}" "$ST_L" "${R[stunnel.c1.rps]:-NA}" rps "-"
row 3-redis "redis GET -c 50, requests/s" "${R[shim.c50.rps]:-NA}" "$ST_L" "${R[stunnel.c50.rps]:-NA}" rps "-"
row 3-redis "redis SET -P 16 -c 50, requests/s" "${R[shim.p16.rps]:-NA}" "$ST_L" "${R[stunnel.p16.rps]:-NA}" rps "-"
row 3-redis "redis GET -c 50, p50 latency" "${R[shim.c50.p50]:-NA}" "$ST_L" "${R[stunnel.c50.p50]:-NA}" ms "-"
bench_done
