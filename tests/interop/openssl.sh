#!/bin/bash
# Interop with OpenSSL: our echo_client against `openssl s_server -rev`, and
# `openssl s_client` against our echo_server, for TLS 1.0/1.1/1.2 x every
# suite both speak (OpenSSL 3 has no RC4/DES/3DES; 1.0/1.1 and SHA-1 need
# @SECLEVEL=0), client certificates, verification failures on both sides,
# session resumption and renegotiation both ways.
. "$(dirname "$0")/lib.sh"
need_build
if ! have openssl; then
    missing_tool openssl
fi

ossl_ver() {
    case $1 in
    tls1.0) echo -tls1 ;;
    tls1.1) echo -tls1_1 ;;
    tls1.2) echo -tls1_2 ;;
    esac
}

# the certificate a suite needs
cert_of() {
    case $1 in
    *ECDSA*) echo ecdsa ;;
    *DSS*) echo dsa ;;
    *) echo server ;;
    esac
}

# legacy cases get @SECLEVEL=0, modern ones never
sec_of() {
    local ver=$1 suite=$2
    if [ "$ver" != tls1.2 ] || [[ $suite == *-SHA ]] || [[ $suite == *DSS* ]]; then
        echo "@SECLEVEL=0"
    fi
}

MSG="hello interop"
REV="poretni olleh"

# our client -> openssl s_server -rev
client_case() {
    local ver=$1 suite=$2 name="ours->openssl-s_server $1 $2"
    local cert port rc
    cert=$(cert_of "$suite")
    port=$(free_port)
    bg srv openssl s_server -accept "127.0.0.1:$port" -rev -cert "$PKI/$cert.pem" -key "$PKI/$cert.key" \
        "$(ossl_ver "$ver")" -cipher "$suite$(sec_of "$ver" "$suite")"
    local spid=$BG_PID
    if ! wait_port "$port"; then
        fail "$name" "s_server did not start" "$T/srv.err"
        stop "$spid"
        return 1
    fi
    printf '%s\n' "$MSG" | timeout "$TO" "$CLIENT" 127.0.0.1 "$port" --verify verify_peer --cacertfile "$PKI/ca.pem" \
        --server-name localhost --versions "$(our_ver "$ver")" --ciphers "$suite" >"$T/cli.out" 2>"$T/cli.err"
    rc=$?
    stop "$spid"
    if [ $rc -ne 0 ]; then
        fail "$name" "echo_client exit $rc: $(excerpt "$T/cli.err")" "$T/srv.out" "$T/srv.err"
    elif ! grep -qF "$REV" "$T/cli.out"; then
        fail "$name" "no reversed echo; got: $(excerpt "$T/cli.out")" "$T/srv.out"
    elif ! grep -qx "version: $(our_ver "$ver")" "$T/cli.err" || ! grep -qx "suite: $suite" "$T/cli.err"; then
        fail "$name" "wrong version/suite: $(excerpt "$T/cli.err")"
    else
        pass "$name"
        return 0
    fi
    return 1
}

# openssl s_client -> our echo_server
server_case() {
    local ver=$1 suite=$2 name="openssl-s_client->ours $1 $2"
    local cert rc src
    cert=$(cert_of "$suite")
    if ! our_server srv --certfile "$PKI/$cert.pem" --keyfile "$PKI/$cert.key" --versions "$(our_ver "$ver")" \
        --ciphers "$suite" --once; then
        fail "$name" "echo_server did not start" "$T/srv.err"
        stop "$SRV_PID"
        return 1
    fi
    (
        echo "$MSG"
        sleep 0.5
    ) | timeout "$TO" openssl s_client -connect "127.0.0.1:$SRV_PORT" "$(ossl_ver "$ver")" \
        -cipher "$suite$(sec_of "$ver" "$suite")" -CAfile "$PKI/ca.pem" -verify_return_error -brief \
        -servername localhost >"$T/cli.out" 2>"$T/cli.err"
    rc=$?
    reap "$SRV_PID"
    src=$REAPED
    if [ $rc -ne 0 ]; then
        fail "$name" "s_client exit $rc: $(excerpt "$T/cli.err")" "$T/srv.err"
    elif ! grep -qF "$MSG" "$T/cli.out"; then
        fail "$name" "no echo; got: $(excerpt "$T/cli.out")" "$T/srv.err"
    elif ! grep -q "Ciphersuite: $suite" "$T/cli.err" || ! grep -qx "suite: $suite" "$T/srv.err"; then
        fail "$name" "suite differs: client: $(excerpt "$T/cli.err") server: $(excerpt "$T/srv.err")"
    elif [ "$src" != 0 ]; then
        fail "$name" "echo_server exit $src" "$T/srv.err"
    else
        pass "$name"
        return 0
    fi
    return 1
}

SUITES_OLD="AES128-SHA AES256-SHA DHE-RSA-AES128-SHA DHE-RSA-AES256-SHA DHE-DSS-AES128-SHA DHE-DSS-AES256-SHA
ECDHE-RSA-AES128-SHA ECDHE-RSA-AES256-SHA ECDHE-ECDSA-AES128-SHA ECDHE-ECDSA-AES256-SHA"
SUITES_12="AES128-SHA256 AES256-SHA256 AES128-GCM-SHA256 AES256-GCM-SHA384
DHE-RSA-AES128-SHA256 DHE-RSA-AES256-SHA256 DHE-RSA-AES128-GCM-SHA256 DHE-RSA-AES256-GCM-SHA384
DHE-RSA-CHACHA20-POLY1305 DHE-DSS-AES128-SHA256 DHE-DSS-AES256-SHA256 DHE-DSS-AES128-GCM-SHA256
DHE-DSS-AES256-GCM-SHA384 ECDHE-RSA-AES128-SHA256 ECDHE-RSA-AES256-SHA384 ECDHE-RSA-AES128-GCM-SHA256
ECDHE-RSA-AES256-GCM-SHA384 ECDHE-RSA-CHACHA20-POLY1305 ECDHE-ECDSA-AES128-SHA256
ECDHE-ECDSA-AES256-SHA384 ECDHE-ECDSA-AES128-GCM-SHA256 ECDHE-ECDSA-AES256-GCM-SHA384
ECDHE-ECDSA-CHACHA20-POLY1305"

for ver in tls1.0 tls1.1 tls1.2; do
    suites=$SUITES_OLD
    [ "$ver" = tls1.2 ] && suites="$SUITES_OLD $SUITES_12"
    for suite in $suites; do
        a=ok b=ok
        client_case "$ver" "$suite" || a=FAIL
        server_case "$ver" "$suite" || b=FAIL
        mx "$suite" "$ver" "$a/$b"
    done
done

# ---- client certificates ------------------------------------------------------
GOOD_SUITE=ECDHE-RSA-AES128-GCM-SHA256

# ours -> s_server that requires a certificate
port=$(free_port)
bg srv openssl s_server -accept "127.0.0.1:$port" -rev -cert "$PKI/server.pem" -key "$PKI/server.key" -tls1_2 \
    -Verify 1 -CAfile "$PKI/ca.pem" -verify_return_error
spid=$BG_PID
if wait_port "$port"; then
    printf '%s\n' "$MSG" | timeout "$TO" "$CLIENT" 127.0.0.1 "$port" --verify verify_peer --cacertfile "$PKI/ca.pem" \
        --certfile "$PKI/client.pem" --keyfile "$PKI/client.key" --versions tlsv1.2 >"$T/cli.out" 2>"$T/cli.err"
    rc=$?
    if [ $rc -eq 0 ] && grep -qF "$REV" "$T/cli.out"; then
        pass "client-cert ours->openssl: accepted"
        row "client cert, ours -> s_server -Verify: accepted (ok)"
    else
        fail "client-cert ours->openssl: accepted" "exit $rc: $(excerpt "$T/cli.err")" "$T/srv.out" "$T/srv.err"
        row "client cert, ours -> s_server -Verify: FAIL"
    fi
    printf '%s\n' "$MSG" | timeout "$TO" "$CLIENT" 127.0.0.1 "$port" --verify verify_peer --cacertfile "$PKI/ca.pem" \
        --versions tlsv1.2 >"$T/cli.out" 2>"$T/cli.err"
    rc=$?
    if [ $rc -ne 0 ] && grep_q "peer sent alert (handshake_failure|certificate_required)" "$T/cli.err"; then
        pass "client-cert ours->openssl: none sent, peer's alert reported"
        row "no client cert, ours -> s_server -Verify: refused with $(grep -oE 'alert [a-z_]+' "$T/cli.err" | head -1) (ok)"
    else
        fail "client-cert ours->openssl: none sent, peer's alert reported" "exit $rc: $(excerpt "$T/cli.err")"
        row "no client cert, ours -> s_server -Verify: FAIL"
    fi
else
    fail "client-cert ours->openssl" "s_server did not start" "$T/srv.err"
fi
stop "$spid"

# s_client -> ours with verify_peer + fail_if_no_peer_cert
srv_verify=(--certfile "$PKI/server.pem" --keyfile "$PKI/server.key" --verify verify_peer --cacertfile "$PKI/ca.pem"
    --fail-if-no-peer-cert --once)
s_client_to_ours() { # extra s_client args...
    (
        echo "$MSG"
        sleep 0.5
    ) | timeout "$TO" openssl s_client -connect "127.0.0.1:$SRV_PORT" -tls1_2 -CAfile "$PKI/ca.pem" \
        -verify_return_error -brief -servername localhost "$@" >"$T/cli.out" 2>"$T/cli.err"
}
if our_server srv "${srv_verify[@]}"; then
    s_client_to_ours -cert "$PKI/client.pem" -key "$PKI/client.key"
    rc=$?
    reap "$SRV_PID"
    src=$REAPED
    if [ $rc -eq 0 ] && grep -qF "$MSG" "$T/cli.out" && grep -q "peer cert: .*CN *= *client" "$T/srv.err"; then
        pass "client-cert openssl->ours: accepted"
        row "client cert, s_client -> ours (fail_if_no_peer_cert): accepted, peer cert CN=client (ok)"
    else
        fail "client-cert openssl->ours: accepted" "s_client $rc, server $src: $(excerpt "$T/srv.err")" "$T/cli.err"
        row "client cert, s_client -> ours: FAIL"
    fi
fi
if our_server srv "${srv_verify[@]}"; then
    s_client_to_ours
    rc=$?
    reap "$SRV_PID"
    src=$REAPED
    if [ "$src" != 0 ] && grep_q "no_peer_cert" "$T/srv.err" && grep_q "alert handshake failure|certificate required" "$T/cli.err"; then
        pass "client-cert openssl->ours: none sent, refused"
        row "no client cert, s_client -> ours: {bad_cert, no_peer_cert}; s_client saw handshake_failure (ok)"
    else
        fail "client-cert openssl->ours: none sent, refused" "s_client $rc: $(excerpt "$T/cli.err") server $src: $(excerpt "$T/srv.err")"
        row "no client cert, s_client -> ours: FAIL"
    fi
fi

# ---- verification failures ------------------------------------------------------
# our client rejects the server's certificate: our reason, and the peer hears the alert
verify_ours_client() { # leaf reason openssl-alert-text
    local leaf=$1 reason=$2 alert=$3 name="verify ours->openssl: $1 => $2"
    local port rc spid
    port=$(free_port)
    bg srv openssl s_server -accept "127.0.0.1:$port" -rev -cert "$PKI/$leaf.pem" -key "$PKI/$leaf.key" -tls1_2
    spid=$BG_PID
    if ! wait_port "$port"; then
        fail "$name" "s_server did not start" "$T/srv.err"
        stop "$spid"
        return
    fi
    printf '%s\n' "$MSG" | timeout "$TO" "$CLIENT" localhost "$port" --verify verify_peer --cacertfile "$PKI/ca.pem" \
        --versions tlsv1.2 >"$T/cli.out" 2>"$T/cli.err"
    rc=$?
    sleep 0.2
    stop "$spid"
    if [ $rc -ne 0 ] && grep -q "bad_cert, $reason" "$T/cli.err" && grep_q "$alert" "$T/srv.err"; then
        pass "$name"
        row "server cert $leaf: ours says {bad_cert, $reason}, s_server got \"$alert\" (ok)"
    else
        fail "$name" "exit $rc: ours: $(excerpt "$T/cli.err") | s_server: $(grep -i alert "$T/srv.err" | head -1)"
        row "server cert $leaf: FAIL"
    fi
}
verify_ours_client expired cert_expired "alert certificate expired"
verify_ours_client notyet cert_expired "alert certificate expired"
verify_ours_client wrongname hostname_check_failed "alert bad certificate"
verify_ours_client untrusted unknown_ca "alert unknown ca"

# our server rejects the client's certificate
verify_ours_server() { # leaf reason openssl-alert-text
    local leaf=$1 reason=$2 alert=$3 name="verify openssl->ours: client $1 => $2"
    local rc src
    if ! our_server srv "${srv_verify[@]}"; then
        fail "$name" "echo_server did not start" "$T/srv.err"
        return
    fi
    s_client_to_ours -cert "$PKI/$leaf.pem" -key "$PKI/$leaf.key"
    rc=$?
    reap "$SRV_PID"
    src=$REAPED
    if [ "$src" != 0 ] && grep -q "bad_cert, $reason" "$T/srv.err" && grep_q "$alert" "$T/cli.err"; then
        pass "$name"
        row "client cert $leaf: ours says {bad_cert, $reason}, s_client got \"$alert\" (ok)"
    else
        fail "$name" "server $src: $(excerpt "$T/srv.err") | s_client $rc: $(grep -i alert "$T/cli.err" | head -1)"
        row "client cert $leaf: FAIL"
    fi
}
verify_ours_server expired cert_expired "alert certificate expired"
verify_ours_server untrusted unknown_ca "alert unknown ca"

# the peer rejects our server's certificate and we hear its alert
if our_server srv --certfile "$PKI/expired.pem" --keyfile "$PKI/expired.key" --once; then
    s_client_to_ours
    rc=$?
    reap "$SRV_PID"
    src=$REAPED
    if [ $rc -ne 0 ] && grep_q "peer sent alert certificate_expired" "$T/srv.err"; then
        pass "verify: s_client rejects our expired certificate, we report its alert"
        row "our server cert expired: s_client refused it, ours says \"peer sent alert certificate_expired\" (ok)"
    else
        fail "verify: s_client rejects our expired certificate, we report its alert" \
            "s_client $rc, server $src: $(excerpt "$T/srv.err")"
        row "our server cert expired: FAIL"
    fi
fi

# ---- resumption ------------------------------------------------------------------
port=$(free_port)
bg srv openssl s_server -accept "127.0.0.1:$port" -rev -cert "$PKI/server.pem" -key "$PKI/server.key" -tls1_2
spid=$BG_PID
if wait_port "$port"; then
    printf '%s\n' "$MSG" | timeout "$TO" "$CLIENT" localhost "$port" --verify verify_peer --cacertfile "$PKI/ca.pem" \
        --versions tlsv1.2 --reconnect 1 >"$T/cli.out" 2>"$T/cli.err"
    rc=$?
    if [ $rc -eq 0 ] && grep -qx "reused: yes" "$T/cli.err" && grep -qF "$REV" "$T/cli.out"; then
        pass "resumption ours->openssl"
        row "resumption, ours -> s_server: second connection resumed (ok)"
    else
        fail "resumption ours->openssl" "exit $rc: $(excerpt "$T/cli.err")"
        row "resumption, ours -> s_server: FAIL"
    fi
else
    fail "resumption ours->openssl" "s_server did not start" "$T/srv.err"
fi
stop "$spid"

if our_server srv --certfile "$PKI/server.pem" --keyfile "$PKI/server.key"; then
    ok=1
    for i in 1 2; do
        sess=(-sess_out "$T/sess.pem")
        [ $i = 2 ] && sess=(-sess_in "$T/sess.pem")
        (
            echo "$MSG"
            sleep 0.5
        ) | timeout "$TO" openssl s_client -connect "127.0.0.1:$SRV_PORT" -tls1_2 -CAfile "$PKI/ca.pem" \
            -verify_return_error -servername localhost "${sess[@]}" >"$T/cli$i.out" 2>"$T/cli$i.err" || ok=0
    done
    stop "$SRV_PID"
    if [ $ok = 1 ] && grep -q "^Reused" "$T/cli2.out" && grep -qx "reused: yes" "$T/srv.err"; then
        pass "resumption openssl->ours"
        row "resumption, s_client -sess_in -> ours: Reused (ok)"
    else
        fail "resumption openssl->ours" "s_client: $(grep -E '^(New|Reused)' "$T/cli2.out" | head -1); server: $(excerpt "$T/srv.err")"
        row "resumption, s_client -> ours: FAIL"
    fi
fi

# ---- renegotiation ------------------------------------------------------------------
# OpenSSL 3 servers refuse client-initiated renegotiation unless told otherwise:
# -client_renegotiation accepts it, the default answers no_renegotiation
for mode in accepted refused; do
    name="renegotiation ours->openssl: $mode"
    extra=()
    [ $mode = accepted ] && extra=(-client_renegotiation)
    port=$(free_port)
    bg srv openssl s_server -accept "127.0.0.1:$port" -rev -cert "$PKI/server.pem" -key "$PKI/server.key" -tls1_2 \
        "${extra[@]}"
    spid=$BG_PID
    if ! wait_port "$port"; then
        fail "$name" "s_server did not start" "$T/srv.err"
        stop "$spid"
        continue
    fi
    # s_server answers about a second late after it refused a renegotiation:
    # keep stdin open longer than echo_client's 1 s quiet period
    (
        printf '%s\n' "$MSG"
        sleep 2
    ) | timeout "$TO" "$CLIENT" localhost "$port" --verify verify_peer --cacertfile "$PKI/ca.pem" \
        --versions tlsv1.2 --renegotiate >"$T/cli.out" 2>"$T/cli.err"
    rc=$?
    stop "$spid"
    want="renegotiation: done"
    [ $mode = refused ] && want="renegotiation: rejected"
    if [ $rc -eq 0 ] && grep -qx "$want" "$T/cli.err" && grep -qF "$REV" "$T/cli.out"; then
        pass "$name"
        row "renegotiation, ours -> s_server ${extra[*]:-(default)}: $want, data still flows (ok)"
    else
        fail "$name" "exit $rc: $(excerpt "$T/cli.err")" "$T/srv.err"
        row "renegotiation, ours -> s_server ${extra[*]:-(default)}: FAIL"
    fi
done

# s_client renegotiates when it reads a line "R". Our server refuses a
# client-initiated renegotiation by default (no_renegotiation warning, which
# s_client turns into a fatal "no renegotiation"); --client-renegotiation
# accepts it
for mode in accepted refused; do
    name="renegotiation openssl->ours: $mode"
    extra=()
    [ $mode = accepted ] && extra=(--client-renegotiation)
    if ! our_server srv --certfile "$PKI/server.pem" --keyfile "$PKI/server.key" --versions tlsv1.2 --once \
        "${extra[@]}"; then
        fail "$name" "echo_server did not start" "$T/srv.err"
        continue
    fi
    (
        echo "$MSG"
        sleep 0.3
        echo R
        sleep 0.5
        echo "after renegotiation"
        sleep 0.5
    ) | timeout "$TO" openssl s_client -connect "127.0.0.1:$SRV_PORT" -tls1_2 -CAfile "$PKI/ca.pem" \
        -verify_return_error -servername localhost >"$T/cli.out" 2>"$T/cli.err"
    rc=$?
    reap "$SRV_PID"
    if [ $mode = accepted ] && [ $rc -eq 0 ] && [ "$REAPED" = 0 ] && grep -q RENEGOTIATING "$T/cli.out" "$T/cli.err" &&
        grep -qx "after renegotiation" "$T/cli.out"; then
        pass "$name"
        row "renegotiation, s_client R -> ours --client-renegotiation: renegotiated, data still flows (ok)"
    elif [ $mode = refused ] && grep -q RENEGOTIATING "$T/cli.err" && grep -q "no renegotiation" "$T/cli.err" &&
        grep -qx "$MSG" "$T/cli.out"; then
        pass "$name"
        row "renegotiation, s_client R -> ours (default): refused with no_renegotiation (ok)"
    else
        fail "$name" "s_client $rc, server $REAPED: $(excerpt "$T/srv.err")" "$T/cli.err"
        row "renegotiation, s_client R -> ours ${extra[*]:-(default)}: FAIL"
    fi
done

mx_rows "cells: A/B = ours -> openssl s_server / openssl s_client -> ours (ok, FAIL, - not tried)"
finish "openssl $(openssl version | cut -d' ' -f2)"
