#!/bin/bash
# Case 5: memory. redis-server under an accept rule vs redis's own TLS, the
# same RSA-2048 certificate, with N idle TLS connections (10,000, QUICK 500,
# or fewer if the hard fd limit cannot take them under the shim: the rows
# say so) held by one python3 client (bench/idle.py), each after one PING: the
# server's VmRSS after minus before, per connection. Then growth: a fresh redis
# under the shim serves short connections one after the other (bench/churn.c:
# TLS 1.2, connect, PING, close; sessions resumed but every tenth a full
# handshake), and its RSS after the long run is set against its RSS after the
# first ones.
. "$(dirname "$0")/../lib.sh"
T=$BENCH_TMP
WANT=$(quick 500 10000)
CH1=$(quick 100 1000)
CH2=${BENCH_CHURN:-$(quick 2000 100000)}
IDLE=(python3 "$TOP/bench/idle.py")
IDLE_WAIT=$(quick 2 15)
CHURN=$BUILD/bench/churn

# thousands N: 10000 -> 10,000
thousands() { echo "$1" | sed ':a; s/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/; ta'; }

# Each connection the shim upgrades costs redis 3 fds (its socketpair end, the
# helper's end, the TCP socket); FD_MARGIN is for redis's and the shim's own.
# Root may raise the hard limit; otherwise N is what the hard limit allows
# (redis's own TLS holds the same N, for the comparison), and the labels say so.
FD_MARGIN=100
need_fds=$((3 * WANT + FD_MARGIN))
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt $need_fds ] && ulimit -Hn $need_fds 2>/dev/null; then
    hard=$need_fds
fi
if [ "$hard" = unlimited ] || [ "$hard" -ge $need_fds ]; then
    ulimit -n $need_fds
    N=$WANT
    SHORT=
else
    ulimit -Sn "$hard"
    N=$(((hard - FD_MARGIN) / 3))
    SHORT=" ($(thousands "$WANT") need $(thousands "$need_fds") fds; hard limit $(thousands "$hard"))"
fi
note "fd limit $(ulimit -Sn) (hard $(ulimit -Hn)): $N connections held"

# client_start CMD... : a client (idle.py, churn) in the background, talking over two fifos (fd 7 to it, 8 from it)
client_start() {
    rm -f "$T/to" "$T/from"
    mkfifo "$T/to" "$T/from"
    timeout 600 "$@" <"$T/to" >"$T/from" 2>"$T/client.err" &
    CLIENT_PID=$!
    BENCH_PIDS+=("$CLIENT_PID")
    exec 7>"$T/to" 8<"$T/from"
}
# client_point SECONDS: the client's next line (empty on timeout or end)
client_point() { LINE=; read -r -t "$1" -u 8 LINE; note "  client: ${LINE:-(nothing in $1 s)}"; }
client_go() { echo go >&7 2>/dev/null; }
client_end() {
    exec 7>&- 8<&-
    bench_kill "$CLIENT_PID"
}

# hold NAME PORT REDIS-PID -> R[NAME.kib], R[NAME.held]: idle.py opens N
# connections and keeps those it got (all N, or the ones before a failure)
# while the RSS is read; the figure is per connection held
hold() {
    local name=$1 port=$2 pid=$3 before after held
    client_start "${IDLE[@]}" hold "$port" "$N"
    client_point 60
    if [ "$LINE" = warm ]; then
        before=$(rss_kib "$pid")
        client_go
        client_point 300
        # idle means idle: the shim gives a connection's buffers back after
        # a quiet scan period, and redis's jemalloc returns freed pages to the
        # system after its ~10 s decay; both servers wait the same
        sleep "$IDLE_WAIT"
        after=$(rss_kib "$pid")
        held=$(echo "$LINE" | sed -n 's/^held \([0-9]*\)$/\1/p; s/^failed after \([0-9]*\) .*/\1/p')
        note "  $name: RSS $before KiB before, $after KiB with ${held:-?} of $N connections held"
        if [ -n "$held" ]; then
            R[$name.held]=$held
            [ "$held" -gt 0 ] && R[$name.kib]=$(calc "($after - $before) / $held")
        fi
    fi
    client_go
    client_end
}

# redis_shim PORT: plaintext redis under an accept rule -> BG_PID
redis_shim() {
    policy "$T/shim-$1.ini" "[global]" "log = $T/shim-$1.log" "log_level = warning" "" \
        "[redis]" "direction = accept" "match = 127.0.0.1:$1" \
        "certfile = $PKI/server.pem" "keyfile = $PKI/server.key"
    bench_bg "$T/redis-shim-$1.log" "$TLSSHIM" -c "$T/shim-$1.ini" -- redis-server --port "$1" \
        --bind 127.0.0.1 --save '' --appendonly no --maxclients $((N + 100))
    wait_port "$1" 10
}

declare -A R
if need redis-server python3 && [ -x "$TLSSHIM" ]; then
    P=$(free_port)
    bench_bg "$T/redis-own.log" redis-server --port 0 --tls-port "$P" --bind 127.0.0.1 --save '' \
        --appendonly no --maxclients $((N + 100)) --tls-cert-file "$PKI/server.pem" \
        --tls-key-file "$PKI/server.key" --tls-auth-clients no
    OWN=$BG_PID
    wait_port "$P" 10 && hold own "$P" "$OWN"
    bench_kill "$OWN"

    P=$(free_port)
    if redis_shim "$P"; then
        SHIM=$BG_PID
        hold shim "$P" "$SHIM"
        bench_kill "$SHIM"
        [ -s "$T/shim-$P.log" ] && note "shim log: $(tail -3 "$T/shim-$P.log")"
    fi

    # growth over short connections, a fresh redis under the shim
    P=$(free_port)
    if [ ! -x "$CHURN" ]; then
        note "$CHURN is missing (make bench builds it)"
    elif redis_shim "$P"; then
        SHIM=$BG_PID
        client_start "$CHURN" "$P" "$CH1" "$CH2"
        client_point 120
        [ "$LINE" = "at $CH1" ] && R[ch1]=$(rss_kib "$SHIM") && client_go && client_point 600
        [ "$LINE" = "at $CH2" ] && R[ch2]=$(rss_kib "$SHIM")
        note "  churn: RSS ${R[ch1]:-?} KiB after $CH1, ${R[ch2]:-?} KiB after $CH2 connections"
        client_go
        client_end
        bench_kill "$SHIM"
    fi
    [ -s "$T/client.err" ] && note "client: $(tail -3 "$T/client.err")"
fi

OWN_L="redis own TLS (libssl)"
NF=$(thousands "$N")
row 5-memory "redis VmRSS per idle TLS connection held, of $NF opened$SHORT" \
    "${R[shim.kib]:-NA}" "$OWN_L" "${R[own.kib]:-NA}" KiB "max=8"
row 5-memory "idle TLS connections redis holds, of $NF opened$SHORT" "${R[shim.held]:-NA}" "$OWN_L" \
    "${R[own.held]:-NA}" conns ">=1.0"
row 5-memory "redis VmRSS under the shim after $CH2 short TLS 1.2 connections (9 in 10 resumed) vs after $CH1" "${R[ch2]:-NA}" \
    "the same redis after $CH1" "${R[ch1]:-NA}" KiB "<=1.05"
bench_done
