#!/bin/bash
# Conformance: tlsfuzzer's curated suite (../shared/tlsfuzzer/tlsfuzz), the one
# OpenSSL and GnuTLS run in their CI, against two targets:
#   shim    a plaintext HTTP server (tests/conformance/http_once.py) under an
#           accept rule: versions tlsv1..tlsv1.3, ciphers ALL, security_level 0
#           (what `openssl s_server -cipher DEFAULT:@SECLEVEL=0` offers);
#   engine  build/examples/echo_server --http (one write an answer) with the same settings.
# Profiles: `all` (106 scripts) and `clientcert` (9 scripts; the server
# requests a client certificate, as `s_server -verify 1`). One PASS/FAIL line per script; per-script
# logs in $BUILD/conformance/TARGET-PROFILE/.
#   TLSFUZZ_ONLY=REGEX narrows the scripts; CONF_TARGETS="shim engine" and
#   CONF_PROFILES="all clientcert" narrow the runs.
. "$(dirname "$0")/../e2e/lib.sh"
e2e_require python3 openssl

TLSFUZZ=${TLSFUZZ:-$TOP/../shared/tlsfuzzer/tlsfuzz}
if [ ! -x "$TLSFUZZ" ]; then
    missing_tool "tlsfuzzer ($TLSFUZZ; ../shared/tlsfuzzer beside the checkout)"
fi
if ! /usr/bin/python3 -c 'import ecdsa' 2>/dev/null; then
    missing_tool "python3-ecdsa (tlsfuzzer needs it: apt-get install python3-ecdsa)"
fi
LOGROOT=$BUILD/conformance
rm -rf "$LOGROOT"
mkdir -p "$LOGROOT"
SUMMARY=()

# rule_options PROFILE: the TLS settings both targets share, one per line (policy keys)
profile_keys() {
    printf '%s\n' "versions = tlsv1, tlsv1.1, tlsv1.2, tlsv1.3" "ciphers = ALL" \
        "security_level = 0" "certfile = $PKI/server.pem" "keyfile = $PKI/server.key"
    if [ "$1" = clientcert ]; then
        printf '%s\n' "verify = verify_peer" "cacertfile = $PKI/ca.pem"
    else
        printf '%s\n' "verify = verify_none"
    fi
}

# start_target TARGET PROFILE PORT: the server under test, waits until it listens
start_target() {
    local target=$1 profile=$2 port=$3 dir=$LOGROOT/$1-$2
    if [ "$target" = shim ]; then
        { printf '%s\n' "[global]" "log = $dir/shim.log" "log_level = warning" "" \
              "[tlsfuzz]" "direction = accept" "match = 127.0.0.1:$port"
          profile_keys "$profile"; } >"$dir/policy.ini"
        e2e_bg "$dir/server.log" "$TLSSHIM" -c "$dir/policy.ini" -- python3 \
            "$TOP/tests/conformance/http_once.py" "$port"
    else
        local args=() k v
        while IFS=' =' read -r k v; do
            v=${v# }
            case $k in
            fail_if_no_peer_cert) args+=(--fail-if-no-peer-cert) ;;
            *) args+=("--${k//_/-}" "$v") ;;
            esac
        done < <(profile_keys "$profile")
        e2e_bg "$dir/server.log" "$BUILD/examples/echo_server" "$port" --http "${args[@]}"
    fi
    wait_port "$port" 127.0.0.1 20
}

run_one() {
    local target=$1 profile=$2 dir=$LOGROOT/$1-$2 port
    mkdir -p "$dir"
    port=$(free_port)
    if ! start_target "$target" "$profile" "$port"; then
        fail "$target/$profile" "the target did not start: $(tail -3 "$dir/server.log")"
        SUMMARY+=("  $target $profile: did not start")
        return
    fi
    local pid=$E2E_BG_PID
    TLSFUZZ_LOGDIR=$dir TLSFUZZ_CLIENT_KEY=$PKI/client.key TLSFUZZ_CLIENT_CERT=$PKI/client.pem \
        "$TLSFUZZ" 127.0.0.1 "$port" "$profile" >"$dir/tlsfuzz.out" 2>&1
    local line label
    while IFS= read -r line; do
        case $line in
        "tlsfuzzer: "*) SUMMARY+=("  $target $profile: ${line#tlsfuzzer: }") ;;
        "logs: "*) ;;
        *": "*" passed, 0 failed") pass "$target/$profile/${line%%: *}" ;;
        *": "*" passed, "*" failed" | *": ERROR"*)
            label=${line%%: *}; fail "$target/$profile/$label" "${line#*: } (log: $dir/$label.log)" ;;
        esac
    done <"$dir/tlsfuzz.out"
    grep -q '^tlsfuzzer: ' "$dir/tlsfuzz.out" ||
        fail "$target/$profile" "tlsfuzz ended without a summary: $(tail -3 "$dir/tlsfuzz.out")"
    e2e_kill "$pid"
}

for target in ${CONF_TARGETS:-shim engine}; do
    for profile in ${CONF_PROFILES:-all clientcert}; do
        run_one "$target" "$profile"
    done
done
echo "MATRIX tlsfuzzer (scripts passed / failed):"
printf '%s\n' "${SUMMARY[@]}"
e2e_done
