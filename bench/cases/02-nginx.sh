#!/bin/bash
# Case 2: plaintext nginx under an accept rule vs nginx's own TLS (libssl),
# the same RSA-2048 certificate, one worker each. openssl s_time makes new
# (-new) and resumed (-reuse) connections, each fetching a small page, for
# TLS 1.2 (ECDHE-RSA-AES128-GCM-SHA256) and TLS 1.3 (TLS_AES_128_GCM_SHA256).
# Rows: connections per second (information) and the server's CPU per
# handshake: utime+stime of every nginx process (the shim's helper thread is
# a thread of the worker) from /proc before and after, over the connections
# s_time made.
. "$(dirname "$0")/../lib.sh"
SECS=$(quick 1 6)
T=$BENCH_TMP

start_nginx() { # NAME LISTEN-DIRECTIVE-EXTRA [LAUNCHER...] -> NG_PID, NG_PORT
    local name=$1 extra=$2 d=$T/$1
    shift 2
    mkdir -p "$d/html"
    echo "hello from nginx" >"$d/html/index.html"
    NG_PORT=$(free_port)
    cat >"$d/nginx.conf" <<CONF
daemon off;
master_process on;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { use epoll; worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $d/t-body; proxy_temp_path $d/t-proxy; fastcgi_temp_path $d/t-fcgi;
    uwsgi_temp_path $d/t-uwsgi; scgi_temp_path $d/t-scgi;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m;
    ssl_session_tickets on;
    server {
        listen 127.0.0.1:$NG_PORT $extra;
        ssl_certificate $PKI/server.pem;
        ssl_certificate_key $PKI/server.key;
        root $d/html;
    }
}
CONF
    bench_bg "$d/nginx.out" "$@" nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log"
    NG_PID=$BG_PID
    wait_port "$NG_PORT" 15 || { note "$name: nginx did not start: $(tail -5 "$d/nginx.out" "$d/error.log")"; return 1; }
}

# align: s_time runs until the wall clock's second passes start + SECS; start
# late in a second, so that a run lasts about SECS
align() {
    local ns
    ns=$(date +%N)
    sleep "$(printf '0.%03d' $(((1900 - 10#${ns:0:3}) % 1000)))"
}

# measure NAME PID PORT MODE(new|reuse) VERSION-ARGS...: one s_time run against
# the server PID; writes "connections/s CPU-ms-per-connection" to $T/NAME.res
measure() {
    local name=$1 pid=$2 port=$3 mode=$4 out=$T/s_time-$1.out
    shift 4
    echo "NA NA" >"$T/$name.res"
    local procs t0 t1 c0 c1 n reused
    mapfile -t procs < <(tree_pids "$pid")
    c0=$(cpu_ticks "${procs[@]}"); t0=$(date +%s%N)
    timeout $((SECS + 30)) openssl s_time -connect "127.0.0.1:$port" "-$mode" -time "$SECS" \
        -CAfile "$PKI/ca.pem" -www /index.html "$@" >"$out" 2>&1
    t1=$(date +%s%N); c1=$(cpu_ticks "${procs[@]}")
    n=$(sed -n 's/^\([0-9]*\) connections in [0-9]* real seconds.*/\1/p' "$out" | tail -1)
    if [ -z "$n" ] || [ "$n" = 0 ]; then
        note "$name: s_time -$mode $*: no connections: $(tail -3 "$out")"
        return 1
    fi
    # s_time prints a "*" for each new and an "r" for each resumed connection
    reused=$(grep -E '^[*r]+$' "$out" | tr -cd r | wc -c)
    note "  $name: s_time -$mode $*: $n connections ($reused resumed) in $(((t1 - t0) / 1000000)) ms, server CPU $((c1 - c0)) ticks"
    echo "$(calc "$n / (($t1 - $t0) / 1e9)") $(calc "($c1 - $c0) * 1000.0 / $CLK_TCK / $n")" >"$T/$name.res"
}

TLS12=(-tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256)
TLS13=(-tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256)
declare -A R
if need nginx openssl python3 && [ -x "$TLSSHIM" ]; then
    policy "$T/shim.ini" "[global]" "log = $T/shim.log" "log_level = warning" "" \
        "[web]" "direction = accept" "match = 127.0.0.1:*" \
        "certfile = $PKI/server.pem" "keyfile = $PKI/server.key"
    SHIM_PID=0 SHIM_PORT=0 OWN_PID=0 OWN_PORT=0
    if start_nginx shim "" "$TLSSHIM" -c "$T/shim.ini" --; then
        SHIM_PID=$NG_PID SHIM_PORT=$NG_PORT
    fi
    if start_nginx own ssl; then
        OWN_PID=$NG_PID OWN_PORT=$NG_PORT
    fi
    for v in 12 13; do
        [ $v = 12 ] && args=("${TLS12[@]}") || args=("${TLS13[@]}")
        for mode in new reuse; do
            if [ "$QUICK" = 1 ]; then
                # small runs only prove the case works: both servers at once
                align
                measure shim "$SHIM_PID" "$SHIM_PORT" $mode "${args[@]}" &
                m1=$!
                measure own "$OWN_PID" "$OWN_PORT" $mode "${args[@]}" &
                wait $m1 $!
            else
                # the two servers one after the other, each on its own
                align
                measure shim "$SHIM_PID" "$SHIM_PORT" $mode "${args[@]}"
                align
                measure own "$OWN_PID" "$OWN_PORT" $mode "${args[@]}"
            fi
            read -r "R[shim.$v.$mode.cps]" "R[shim.$v.$mode.cpu]" <"$T/shim.res"
            read -r "R[own.$v.$mode.cps]" "R[own.$v.$mode.cpu]" <"$T/own.res"
        done
    done
    [ -s "$T/shim.log" ] && note "shim log: $(tail -5 "$T/shim.log")"
fi

ANCHOR="nginx own TLS (libssl)"
for v in 12 13; do
    ver="TLS 1.${v#1}"
    row 2-nginx "nginx, server CPU per full handshake, $ver (s_time -new)" "${R[shim.$v.new.cpu]:-NA}" \
        "$ANCHOR" "${R[own.$v.new.cpu]:-NA}" ms "<=0.75"
    row 2-nginx "nginx, server CPU per resumed handshake, $ver (s_time -reuse)" "${R[shim.$v.reuse.cpu]:-NA}" \
        "$ANCHOR" "${R[own.$v.reuse.cpu]:-NA}" ms "<=0.6"
done
for v in 12 13; do
    ver="TLS 1.${v#1}"
    for mode in new reuse; do
        row 2-nginx "nginx, connections/s, $ver, s_time -$mode (client on the same 2 cores)" "${R[shim.$v.$mode.cps]:-NA}" \
            "$ANCHOR" "${R[own.$v.$mode.cps]:-NA}" conn/s "-"
    done
done
bench_done
