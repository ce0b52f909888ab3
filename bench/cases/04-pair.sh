#!/bin/bash
# Case 4: program to program. A plaintext client under a connect rule talks to
# a plaintext server under an accept rule (a tlsshim pair), against the same
# two programs joined by a stunnel pair (stunnel client -> stunnel server).
# The programs are bench/pair.py. AES-128-GCM, TLS 1.2 and 1.3, RSA-2048.
# Rows: bulk MB/s (one stream of 1 GiB; QUICK 32 MiB) and the median
# first-byte latency (connect + a 1-byte echo) with full and resumed handshakes.
. "$(dirname "$0")/../lib.sh"
T=$BENCH_TMP
BULK=$(quick $((32 << 20)) $((1 << 30)))
CHECK=$(quick $((2 << 20)) $((16 << 20)))
LAT_N=$(quick 30 1000)
PAIR=(python3 "$TOP/bench/pair.py")

ver_policy() { # VERSION -> the connect rule's version and suite lines
    if [ "$1" = 12 ]; then echo "versions = tlsv1.2"; echo "ciphers = ECDHE-RSA-AES128-GCM-SHA256"
    else echo "versions = tlsv1.3"; echo "ciphers = TLS_AES_128_GCM_SHA256"; fi
}
ver_stunnel() {
    if [ "$1" = 12 ]; then echo "sslVersion = TLSv1.2"; echo "ciphers = ECDHE-RSA-AES128-GCM-SHA256"
    else echo "sslVersion = TLSv1.3"; echo "ciphersuites = TLS_AES_128_GCM_SHA256"; fi
}

# client NAME POLICY-OR-EMPTY ARGS...: run pair.py as the client, print its figure
client() {
    local name=$1 pol=$2
    shift 2
    local pre=()
    [ -n "$pol" ] && pre=("$TLSSHIM" -c "$pol" --)
    timeout 300 "${pre[@]}" "${PAIR[@]}" "$@" 2>"$T/client-$name.err" ||
        note "  $name failed: $(head -c 400 "$T/client-$name.err")"
}

declare -A R CB CE
if need stunnel python3 && [ -x "$TLSSHIM" ]; then
    # the tlsshim pair: the server under an accept rule ...
    SINK=$(free_port) ECHO=$(free_port)
    policy "$T/server.ini" "[global]" "log = $T/shim-server.log" "log_level = warning" "" \
        "[pair]" "direction = accept" "match = 127.0.0.1:$SINK, 127.0.0.1:$ECHO" \
        "certfile = $PKI/server.pem" "keyfile = $PKI/server.key"
    bench_bg "$T/shim-server.out" "$TLSSHIM" -c "$T/server.ini" -- "${PAIR[@]}" serve "$SINK" "$ECHO"
    wait_port "$ECHO" 10 || note "the shimmed server did not start: $(tail -3 "$T/shim-server.out")"
    # ... and a client under a connect rule, one policy a version and resumption setting
    for v in 12 13; do
        for reuse in true false; do
            mapfile -t VL < <(ver_policy $v)
            policy "$T/client-$v-$reuse.ini" "[global]" "log = $T/shim-client.log" "log_level = warning" "" \
                "[pair]" "direction = connect" "match = 127.0.0.1:$SINK, 127.0.0.1:$ECHO" \
                "server_name = localhost" "verify = verify_peer" "cacertfile = $PKI/ca.pem" \
                "reuse_sessions = $reuse" "${VL[@]}"
        done
    done

    # the stunnel pair: plaintext server <- stunnel server <- stunnel client <- plaintext client
    PSINK=$(free_port) PECHO=$(free_port) SSINK=$(free_port) SECHO=$(free_port)
    bench_bg "$T/plain-server.out" "${PAIR[@]}" serve "$PSINK" "$PECHO"
    cat >"$T/stunnel-server.conf" <<CONF
foreground = yes
pid =
debug = warning
output = $T/stunnel-server.log
socket = l:TCP_NODELAY=1
socket = r:TCP_NODELAY=1
cert = $PKI/server.pem
key = $PKI/server.key
[sink]
accept = 127.0.0.1:$SSINK
connect = 127.0.0.1:$PSINK
[echo]
accept = 127.0.0.1:$SECHO
connect = 127.0.0.1:$PECHO
CONF
    {
        printf '%s\n' "foreground = yes" "pid =" "debug = warning" "output = $T/stunnel-client.log" \
            "socket = l:TCP_NODELAY=1" "socket = r:TCP_NODELAY=1" "client = yes" \
            "CAfile = $PKI/ca.pem" "verifyChain = yes" "checkHost = localhost" "sni = localhost"
        for v in 12 13; do
            CB[$v]=$(free_port)
            printf '%s\n' "[bulk$v]" "accept = 127.0.0.1:${CB[$v]}" "connect = 127.0.0.1:$SSINK"
            ver_stunnel $v
            for reuse in true false; do
                CE[$v$reuse]=$(free_port)
                printf '%s\n' "[echo$v$reuse]" "accept = 127.0.0.1:${CE[$v$reuse]}" \
                    "connect = 127.0.0.1:$SECHO" "sessionResume = $([ $reuse = true ] && echo yes || echo no)"
                ver_stunnel $v
            done
        done
    } >"$T/stunnel-client.conf"
    bench_bg "$T/stunnel-server.out" stunnel "$T/stunnel-server.conf"
    bench_bg "$T/stunnel-client.out" stunnel "$T/stunnel-client.conf"
    wait_port "$PECHO" 10 && wait_port "$SECHO" 10 && wait_port "${CE[13false]}" 10 ||
        note "the stunnel pair did not start: $(tail -3 "$T"/stunnel-*.out "$T"/stunnel-*.log)"

    for v in 12 13; do
        # the stream is checked once, on a shorter transfer, so hashing does not weigh on the timing
        if [ "$(client check-shim-$v "$T/client-$v-true.ini" bulk "$SINK" "$CHECK" check)" ] &&
            [ "$(client check-stunnel-$v "" bulk "${CB[$v]}" "$CHECK" check)" ]; then
            note "  TLS 1.${v#1}: sha256 of $CHECK bytes checked through both pairs"
            R[shim.$v.bulk]=$(client bulk-shim-$v "$T/client-$v-true.ini" bulk "$SINK" "$BULK")
            R[stunnel.$v.bulk]=$(client bulk-stunnel-$v "" bulk "${CB[$v]}" "$BULK")
        fi
        for reuse in false true; do
            R[shim.$v.$reuse.lat]=$(client lat-shim-$v-$reuse "$T/client-$v-$reuse.ini" latency "$ECHO" "$LAT_N")
            R[stunnel.$v.$reuse.lat]=$(client lat-stunnel-$v-$reuse "" latency "${CE[$v$reuse]}" "$LAT_N")
        done
        note "  TLS 1.${v#1}: bulk shim ${R[shim.$v.bulk]:-?} stunnel ${R[stunnel.$v.bulk]:-?} MB/s;" \
            "first byte full ${R[shim.$v.false.lat]:-?} / ${R[stunnel.$v.false.lat]:-?} ms," \
            "resumed ${R[shim.$v.true.lat]:-?} / ${R[stunnel.$v.true.lat]:-?} ms"
    done
    for f in shim-server shim-client; do [ -s "$T/$f.log" ] && note "$f log: $(tail -3 "$T/$f.log")"; done
fi

ST_L="stunnel pair"
MIB=$((BULK >> 20))
for v in 12 13; do
    ver="TLS 1.${v#1}"
    row 4-pair "pair bulk, one stream of $MIB MiB, $ver AES-128-GCM" "${R[shim.$v.bulk]:-NA}" "$ST_L" "${R[stunnel.$v.bulk]:-NA}" MB/s ">=2"
done
for v in 12 13; do
    ver="TLS 1.${v#1}"
    row 4-pair "pair first byte (connect + 1-byte echo), full handshake, $ver, median of $LAT_N" \
        "${R[shim.$v.false.lat]:-NA}" "$ST_L" "${R[stunnel.$v.false.lat]:-NA}" ms "<=0.5"
    row 4-pair "pair first byte (connect + 1-byte echo), resumed, $ver, median of $LAT_N" \
        "${R[shim.$v.true.lat]:-NA}" "$ST_L" "${R[stunnel.$v.true.lat]:-NA}" ms "<=0.5"
done
bench_done
