#!/bin/bash
# Cores (issue 7): does one helper thread per process cap a multi-threaded
# program? A pre-threaded plaintext server (bench/threaded_server.c, THREADS
# threads in accept()) under an accept rule, driven by 2 concurrent
# `openssl s_time -new` (handshake-bound) and by 2 concurrent curl downloads
# (throughput-bound); the same program with plaintext clients (its own cost);
# nginx's own TLS at worker_processes 1 and 2 (libssl in-process).
# For each run it prints the rate, then the CPU each thread class used over the
# run, in % of one core, from /proc/PID/task/*/stat (worker = the program's
# threads, helper = the shim's), and the machine's idle CPU from /proc/stat.
# Not part of make check; performance is only reported.
#   bench/cores.sh [SECONDS]     env: THREADS (2), CLIENTS (2), BULK_MB (512), CASES (all),
#   TRACE=1 (perf trace: each thread's time blocked in futex), NICE (e.g. -10, as root: server and clients ahead of other work on a shared
#   machine, to see what they do with the whole machine; default: not reniced)
set -u
cd "$(dirname "$0")/.." || exit 1
TOP=$(pwd)
BUILD=${BUILD:-build}
D=${1:-10}
THREADS=${THREADS:-2}
CLIENTS=${CLIENTS:-2}
BULK_MB=${BULK_MB:-512}
CASES=${CASES:-plain shim12 shim13 shim13x2 nginx1 nginx2 bulkplain bulkshim bulkshimx2 bulknginx1 bulknginx2}
PKI=$TOP/$BUILD/pki
[ -f "$PKI/server.pem" ] || bash tests/pki/gen.sh "$BUILD/pki" >/dev/null
[ -f "$BUILD/libtlsshim.so" ] || { echo "cores.sh: build first (make)" >&2; exit 1; }
make --no-print-directory -s BUILD="$BUILD" "$BUILD/bench/threaded_server" "$BUILD/bench/http_hammer" || exit 1
T=$(mktemp -d /tmp/tlsshim-cores.XXXXXX)
chmod 755 "$T"
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
HZ=$(getconf CLK_TCK)
if [ -n "${NICE:-}" ]; then
    renice -n "$NICE" -p $$ >/dev/null || exit 1 # children inherit it
fi
echo "# $(date -u +%FT%TZ) $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), ${D}s a run, $THREADS server threads, $CLIENTS clients, nice ${NICE:-0}"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# "class tid ticks" lines for every thread of the given processes: the
# program's threads (nginx: each worker process; threaded_server: the threads
# it had before its first connection, its main thread only joins) and any
# other thread, which is the shim's helper
snap() {
    local pid f
    for pid in "$@"; do
        for f in /proc/"$pid"/task/*/stat; do
            awk -v pid="$pid" -v f="$f" -v k="${KNOWN_TIDS:-}" 'BEGIN {n = split(k, t, " "); for (i = 1; i <= n; i++) known[t[i]] = 1} {
                tid = f; sub("/stat$", "", tid); sub(".*/", "", tid)
                s = $0; sub(/^[^)]*\) /, "", s); split(s, a, " ")
                comm = $0; sub(/^[^(]*\(/, "", comm); sub(/\).*$/, "", comm)
                cls = (tid in known || comm ~ /^nginx/) ? "worker" : "helper"
                if (tid == pid && comm !~ /^nginx/) cls = "main"
                getline ss < (substr(f, 1, length(f) - 4) "schedstat"); split(ss, q, " ")
                print cls, tid, a[12] + a[13], q[1], q[2]
            }' "$f" 2>/dev/null
        done
    done
}
idle_ticks() { awk '/^cpu / {print $5 + $6}' /proc/stat; }
# per class: % of one core over the run, and the busiest thread of the class
# and how much of the run the busiest thread of the class was runnable: on a
# CPU, or waiting for one (schedstat) - a thread runnable ~100% of the time is
# saturated, whether the machine gave it a core or not
report_cpu() { # before after seconds units (connections or MB: CPU per unit)
    awk -v hz="$HZ" -v s="$3" -v u="$4" 'NR == FNR {b[$2] = $3; r0[$2] = $4 + $5; w0[$2] = $5; next}
        { d = $3 - b[$2]; c[$1] += d; n[$1]++; r = ($4 + $5 - r0[$2]) / 1e9; w = ($5 - w0[$2]) / 1e9
          if (r > mr[$1]) { mr[$1] = r; mw[$1] = w } }
        END { for (k in c) printf "    cpu %-6s %6.1f%% of a core (%d threads), %.3f ms per %s; busiest thread runnable %.0f%% of the run (%.0f%% waiting for a CPU)\n",
              k, 100 * c[k] / hz / s, n[k], 1000 * c[k] / hz / (u + 0 ? u : 1), unit, 100 * mr[k] / s, 100 * mw[k] / s }' unit="$UNIT" "$1" "$2" | grep -v "^    cpu main" | sort
}

policy() { # port
    POLICY=$T/shim-$1.ini
    printf '[global]\nlog = %s/shim.log\nlog_level = error\n\n[web]\ndirection = accept\nmatch = 127.0.0.1:%s\ncertfile = %s\nkeyfile = %s\n' \
        "$T" "$1" "$PKI/server.pem" "$PKI/server.key" >"$POLICY"
}
start_threaded() { # shim|plain port [bulk bytes]
    local port=$2
    if [ "$1" = shim ]; then
        policy "$port"
        "$BUILD/tlsshim" -c "$POLICY" -- "$BUILD/bench/threaded_server" "$port" "$THREADS" ${3:+"$3"} &
    else
        "$BUILD/bench/threaded_server" "$port" "$THREADS" ${3:+"$3"} &
    fi
    SRV=$!
    PIDS+=("$SRV")
    # the shim starts its helper at the first upgraded connection (wait_port
    # makes one): the threads there are before it are the program's
    for _ in $(seq 100); do
        [ "$(find /proc/"$SRV"/task -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)" -gt "$THREADS" ] && break
        sleep 0.05
    done
    KNOWN_TIDS=$(cd /proc/"$SRV"/task && echo *)
    wait_port "$port" || { echo "server did not start" >&2; exit 1; }
    SRV_PIDS=("$SRV")
}
start_nginx() { # workers port [bulk]
    local NG=$T/nginx-$1-$2
    mkdir -p "$NG/html" "$NG/logs"
    echo "hello from nginx" >"$NG/html/index.html"
    [ -n "${3:-}" ] && ln -sf "$T/bulk.bin" "$NG/html/bulk.bin"
    cat >"$NG/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes $1;
pid $NG/nginx.pid;
error_log $NG/logs/error.log error;
events { use epoll; worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $NG/tmp-body; proxy_temp_path $NG/tmp-proxy; fastcgi_temp_path $NG/tmp-fcgi;
    uwsgi_temp_path $NG/tmp-uwsgi; scgi_temp_path $NG/tmp-scgi;
    ssl_session_cache off; ssl_session_tickets off;
    server { listen 127.0.0.1:$2 ssl; root $NG/html; ssl_certificate $PKI/server.pem; ssl_certificate_key $PKI/server.key;
             ssl_protocols TLSv1.2 TLSv1.3; }
}
EOF
    nginx -p "$NG" -c "$NG/nginx.conf" -e "$NG/logs/error.log" &
    SRV=$!
    PIDS+=("$SRV")
    wait_port "$2" || { echo "nginx did not start: $(cat "$NG/logs/error.log")" >&2; exit 1; }
    sleep 0.3
    # nginx's workers are the master's children
    mapfile -t SRV_PIDS < <(pgrep -P "$SRV")
    KNOWN_TIDS=
}
stop_server() { kill "$SRV" 2>/dev/null; wait "$SRV" 2>/dev/null; sleep 0.2; }

measure() { # hs_rate|bulk_rate label command... (CLIENTS copies in parallel; prints rate and CPU)
    local rate=$1 label=$2
    shift 2
    snap "${SRV_PIDS[@]}" >"$T/before"
    local i0 t0 t1 i1
    i0=$(idle_ticks)
    t0=$(date +%s.%N)
    local i cpids=()
    RATE_FILES=()
    for i in $(seq "$CLIENTS"); do
        (CLIENT_I=$i "$@"; times) >"$T/c$i.out" 2>&1 &
        cpids+=($!)
        RATE_FILES+=("$T/c$i.out")
    done
    local tracer=
    if [ -n "${TRACE:-}" ]; then
        # time each thread spent blocked in futex (the shim's lock, or the
        # program's own), with perf trace's overhead on every syscall
        perf trace -s -p "$(IFS=,; echo "${SRV_PIDS[*]}")" -o "$T/trace" 2>/dev/null &
        tracer=$!
    fi
    wait "${cpids[@]}"
    [ -n "$tracer" ] && kill -INT "$tracer" && wait "$tracer"
    t1=$(date +%s.%N)
    i1=$(idle_ticks)
    snap "${SRV_PIDS[@]}" >"$T/after"
    local secs
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
    echo "$label ($secs s)"
    $rate "$secs"
    report_cpu "$T/before" "$T/after" "$secs" "$(cat "$T/units")"
    # `times`: the second line is the children's user and system time
    cat "${RATE_FILES[@]}" | awk -v s="$secs" '/^[0-9]+m[0-9.]+s [0-9]+m[0-9.]+s$/ && ++k % 2 == 0 {
        for (i = 1; i <= 2; i++) { split($i, a, "m"); c += a[1] * 60 + a[2] } }
        END {printf "    cpu client %6.1f%% of a core\n", 100 * c / s}'

    if [ -n "$tracer" ]; then
        awk -v s="$secs" -v k="${KNOWN_TIDS:-}" 'BEGIN {n = split(k, t, " "); for (i = 1; i <= n; i++) known[t[i]] = 1}
            /^ [^ ].*\([0-9]+\), / {tid = $0; sub(/.*\(/, "", tid); sub(/\).*/, "", tid); cls = (tid in known) ? "worker" : "helper"}
            $1 == "futex" || $1 == "epoll_wait" {printf "    trace %-6s %s %-10s %6.0f ms blocked (%.0f%% of the run)\n", cls, tid, $1, $4, $4 / 10 / s}' "$T/trace" | sort
    fi
    awk -v a="$i0" -v b="$i1" -v hz="$HZ" -v s="$secs" 'BEGIN {printf "    machine idle %.1f%% of a core (of %d)\n", 100 * (b - a) / hz / s, '"$(nproc)"'}'
}

hs_rate() { # secs: s_time or http_hammer lines -> connections/s over the two clients
    cat "${RATE_FILES[@]}" | awk -v s="$1" '
        / connections in [0-9.]+ real seconds/ {n += $1; t = $4 > t ? $4 : t}
        / connections in [0-9.]+ s$/ {n += $1; t = $4 > t ? $4 : t}
        END { if (!t) t = s; printf "    %d connections, %.0f connections/s\n", n, n / t }'
    cat "${RATE_FILES[@]}" | awk '/ connections in [0-9.]+ (real seconds|s$)/ {n += $1} END {print n + 0}' >"$T/units"
    UNIT=connection
}
bulk_rate() { # secs: curl -w lines "BYTES" -> MB/s
    cat "${RATE_FILES[@]}" | awk -v s="$1" '/^[0-9]+$/ {n += $1} END {printf "    %.0f MB in total, %.0f MB/s\n", n / 1e6, n / 1e6 / s}'
    cat "${RATE_FILES[@]}" | awk '/^[0-9]+$/ {n += $1} END {print n / 1e6}' >"$T/units"
    UNIT=MB
}

# with two server processes (PORT2 set), odd clients go to the first, even to the second
cport() { if [ -n "${PORT2:-}" ] && [ $((CLIENT_I % 2)) = 0 ]; then echo "$PORT2"; else echo "$PORT"; fi; }
stime() { openssl s_time -connect 127.0.0.1:"$(cport)" -new -time "$D" -www / "$@"; }
hammer() { "$BUILD/bench/http_hammer" "$PORT" 1 "$D"; }
bulk_get() { # url
    local i
    local url=${1/PORT/$(cport)}
    for i in $(seq 4); do curl -s -o /dev/null --cacert "$PKI/ca.pem" -w '%{size_download}\n' "$url"; done
}

for c in $CASES; do
    PORT=$(free_port)
    case $c in
    plain)
        start_threaded plain "$PORT"
        measure hs_rate "plain TCP clients ($CLIENTS x http_hammer, 1 connection at a time each)" hammer ;;
    shim12 | shim13)
        start_threaded shim "$PORT"
        [ "$c" = shim12 ] && v=tls1_2 || v=tls1_3
        measure hs_rate "under the shim, $CLIENTS x s_time -new -$v" stime -"$v" ;;
    nginx1 | nginx2)
        start_nginx "${c#nginx}" "$PORT"
        measure hs_rate "nginx own TLS, worker_processes ${c#nginx}, $CLIENTS x s_time -new -tls1_3" stime -tls1_3
        measure hs_rate "nginx own TLS, worker_processes ${c#nginx}, $CLIENTS x s_time -new -tls1_2" stime -tls1_2 ;;
    shim13x2 | bulkshimx2)
        # what a second helper could give at best: the same THREADS split over
        # two processes, each with its own helper (and its own shim lock)
        PORT2=$(free_port)
        all=$THREADS
        THREADS=$((all / 2))
        bulk=
        [ "$c" = bulkshimx2 ] && bulk=$((BULK_MB * 1000000))
        start_threaded shim "$PORT2" $bulk
        SRV1=$SRV
        p1=("${SRV_PIDS[@]}")
        k1=$KNOWN_TIDS
        start_threaded shim "$PORT" $bulk
        SRV_PIDS+=("${p1[@]}")
        KNOWN_TIDS="$KNOWN_TIDS $k1"
        THREADS=$all
        if [ "$c" = shim13x2 ]; then
            measure hs_rate "two processes of $((THREADS / 2)) threads under the shim (two helpers), $CLIENTS x s_time -new -tls1_3" stime -tls1_3
        else
            measure bulk_rate "bulk, two processes of $((THREADS / 2)) threads under the shim (two helpers): $CLIENTS x curl https:// (4 x $BULK_MB MB each)" bulk_get "https://localhost:PORT/"
        fi ;;
    bulkplain)
        start_threaded plain "$PORT" $((BULK_MB * 1000000))
        measure bulk_rate "bulk, plain TCP: $CLIENTS x curl http:// (4 x $BULK_MB MB each)" bulk_get "http://127.0.0.1:PORT/" ;;
    bulkshim)
        start_threaded shim "$PORT" $((BULK_MB * 1000000))
        measure bulk_rate "bulk, under the shim: $CLIENTS x curl https:// (4 x $BULK_MB MB each)" bulk_get "https://localhost:PORT/" ;;
    bulknginx1 | bulknginx2)
        [ -f "$T/bulk.bin" ] || head -c $((BULK_MB * 1000000)) /dev/zero >"$T/bulk.bin"
        start_nginx "${c#bulknginx}" "$PORT" bulk
        measure bulk_rate "bulk, nginx own TLS, worker_processes ${c#bulknginx}: $CLIENTS x curl https:// (4 x $BULK_MB MB each)" \
            bulk_get "https://localhost:PORT/bulk.bin" ;;
    *) echo "unknown case $c" >&2; exit 2 ;;
    esac
    stop_server
    if [ -n "${SRV1:-}" ]; then
        SRV=$SRV1 stop_server
        SRV1='' PORT2=
    fi
done
