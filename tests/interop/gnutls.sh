#!/bin/bash
# Interop with GnuTLS: our echo_client against `gnutls-serv --echo`, and
# `gnutls-cli` against our echo_server, for TLS 1.0/1.1/1.2 x the suites
# GnuTLS speaks, including the legacy ones OpenSSL 3 lacks (RC4 with MD5 and
# SHA-1, 3DES, DHE_DSS), client certificates, and verification failures.
. "$(dirname "$0")/lib.sh"
need_build
if ! have gnutls-serv || ! have gnutls-cli; then
    missing_tool gnutls-bin
fi

# OpenSSL name -> "kx cipher mac" in GnuTLS priority words
gnutls_of() {
    local s=$1 kx cipher mac
    case $s in
    ECDHE-ECDSA-*) kx=ECDHE-ECDSA ;;
    ECDHE-RSA-*) kx=ECDHE-RSA ;;
    DHE-RSA-* | EDH-RSA-*) kx=DHE-RSA ;;
    DHE-DSS-* | EDH-DSS-*) kx=DHE-DSS ;;
    *) kx=RSA ;;
    esac
    case $s in
    *RC4*) cipher=ARCFOUR-128 ;;
    *DES-CBC3*) cipher=3DES-CBC ;;
    *AES128-GCM*) cipher=AES-128-GCM ;;
    *AES256-GCM*) cipher=AES-256-GCM ;;
    *AES128*) cipher=AES-128-CBC ;;
    *AES256*) cipher=AES-256-CBC ;;
    *CHACHA20*) cipher=CHACHA20-POLY1305 ;;
    esac
    case $s in
    *GCM* | *CHACHA20*) mac=AEAD ;;
    *-MD5) mac=MD5 ;;
    *-SHA) mac=SHA1 ;;
    *-SHA256) mac=SHA256 ;;
    *-SHA384) mac=SHA384 ;;
    esac
    echo "$kx $cipher $mac"
}

priority() { # version suite
    local v
    case $1 in
    tls1.0) v=VERS-TLS1.0 ;;
    tls1.1) v=VERS-TLS1.1 ;;
    tls1.2) v=VERS-TLS1.2 ;;
    esac
    read -r kx cipher mac <<<"$(gnutls_of "$2")"
    # SIGN-ALL leaves DSA out: TLS 1.2 DHE_DSS needs it named
    echo "NONE:+$v:+$cipher:+$kx:+$mac:+COMP-NULL:+SIGN-ALL:+SIGN-DSA-SHA256:+SIGN-DSA-SHA1:+CURVE-ALL"
}

cert_of() {
    case $1 in
    *ECDSA*) echo ecdsa ;;
    *DSS*) echo dsa ;;
    *) echo server ;;
    esac
}

# GnuTLS offers and takes only DSA-SHA1 for TLS 1.2 DSS signatures, and
# SHA-1 handshake signatures need security level 0 (as in OpenSSL 3)
seclevel_of() { # version suite
    case $1/$2 in
    tls1.2/*DSS*) echo "--security-level 0" ;;
    esac
}

MSG="hello gnutls"

# gnutls-serv --echo on a free port; sets GS_PID and GS_PORT
gnutls_server() { # cert prio [extra...]
    local cert=$1 prio=$2
    shift 2
    GS_PORT=$(free_port)
    bg gsrv gnutls-serv --echo -p "$GS_PORT" --x509certfile "$PKI/$cert.pem" --x509keyfile "$PKI/$cert.key" \
        --priority "$prio" "$@"
    GS_PID=$BG_PID
    wait_port "$GS_PORT"
}

# our client -> gnutls-serv --echo
client_case() {
    local ver=$1 suite=$2 name="ours->gnutls-serv $1 $2" rc
    if ! gnutls_server "$(cert_of "$suite")" "$(priority "$ver" "$suite")"; then
        fail "$name" "gnutls-serv did not start" "$T/gsrv.err" "$T/gsrv.out"
        stop "$GS_PID"
        return 1
    fi
    printf '%s\n' "$MSG" | timeout "$TO" "$CLIENT" 127.0.0.1 "$GS_PORT" --verify verify_peer --cacertfile "$PKI/ca.pem" \
        --server-name localhost --versions "$(our_ver "$ver")" --ciphers "$suite" $(seclevel_of "$ver" "$suite") \
        >"$T/cli.out" 2>"$T/cli.err"
    rc=$?
    stop "$GS_PID"
    if [ $rc -ne 0 ]; then
        fail "$name" "echo_client exit $rc: $(excerpt "$T/cli.err")" "$T/gsrv.out"
    elif ! grep -qxF "$MSG" "$T/cli.out"; then
        fail "$name" "no echo; got: $(excerpt "$T/cli.out")" "$T/gsrv.out"
    elif ! grep -qx "version: $(our_ver "$ver")" "$T/cli.err" || ! grep -qx "suite: $suite" "$T/cli.err"; then
        fail "$name" "wrong version/suite: $(excerpt "$T/cli.err")"
    else
        pass "$name"
        return 0
    fi
    return 1
}

# gnutls-cli -> our echo_server
gnutls_client() { # prio [extra...]; talks to our server on SRV_PORT
    local prio=$1
    shift
    (
        echo "$MSG"
        sleep 0.5
    ) | timeout "$TO" gnutls-cli -p "$SRV_PORT" localhost --x509cafile "$PKI/ca.pem" --priority "$prio" "$@" \
        >"$T/cli.out" 2>"$T/cli.err"
}

server_case() {
    local ver=$1 suite=$2 name="gnutls-cli->ours $1 $2" rc cert
    cert=$(cert_of "$suite")
    if ! our_server srv --certfile "$PKI/$cert.pem" --keyfile "$PKI/$cert.key" --versions "$(our_ver "$ver")" \
        --ciphers "$suite" --once $(seclevel_of "$ver" "$suite"); then
        fail "$name" "echo_server did not start" "$T/srv.err"
        stop "$SRV_PID"
        return 1
    fi
    gnutls_client "$(priority "$ver" "$suite")"
    rc=$?
    reap "$SRV_PID"
    if [ $rc -ne 0 ]; then
        fail "$name" "gnutls-cli exit $rc: $(excerpt "$T/cli.err")" "$T/cli.out" "$T/srv.err"
    elif ! grep -qxF "$MSG" "$T/cli.out"; then
        fail "$name" "no echo; got: $(excerpt "$T/cli.out")" "$T/srv.err"
    elif ! grep -qx "suite: $suite" "$T/srv.err" || ! grep -qx "version: $(our_ver "$ver")" "$T/srv.err"; then
        fail "$name" "our server negotiated: $(excerpt "$T/srv.err")"
    elif [ "$REAPED" != 0 ]; then
        fail "$name" "echo_server exit $REAPED" "$T/srv.err"
    else
        pass "$name"
        return 0
    fi
    return 1
}

SUITES_ALL="RC4-MD5 RC4-SHA ECDHE-RSA-RC4-SHA DES-CBC3-SHA EDH-RSA-DES-CBC3-SHA EDH-DSS-DES-CBC3-SHA
ECDHE-RSA-DES-CBC3-SHA AES128-SHA AES256-SHA DHE-RSA-AES128-SHA DHE-DSS-AES128-SHA DHE-DSS-AES256-SHA
ECDHE-RSA-AES128-SHA ECDHE-ECDSA-AES256-SHA"
SUITES_12="AES128-SHA256 AES256-SHA256 AES128-GCM-SHA256 AES256-GCM-SHA384 DHE-RSA-AES256-SHA256
DHE-RSA-AES128-GCM-SHA256 DHE-DSS-AES128-GCM-SHA256 DHE-RSA-CHACHA20-POLY1305 ECDHE-RSA-AES128-GCM-SHA256
ECDHE-RSA-AES256-GCM-SHA384 ECDHE-RSA-CHACHA20-POLY1305 ECDHE-ECDSA-AES128-GCM-SHA256
ECDHE-ECDSA-CHACHA20-POLY1305 ECDHE-RSA-AES128-SHA256 ECDHE-ECDSA-AES256-SHA384"

for ver in tls1.0 tls1.1 tls1.2; do
    suites=$SUITES_ALL
    [ "$ver" = tls1.2 ] && suites="$SUITES_ALL $SUITES_12"
    for suite in $suites; do
        a=ok b=ok
        client_case "$ver" "$suite" || a=FAIL
        server_case "$ver" "$suite" || b=FAIL
        mx "$suite" "$ver" "$a/$b"
    done
done

MODERN="NORMAL"

# ---- client certificates -----------------------------------------------------------
if gnutls_server server "$MODERN" --require-client-cert --verify-client-cert --x509cafile "$PKI/ca.pem"; then
    printf '%s\n' "$MSG" | timeout "$TO" "$CLIENT" 127.0.0.1 "$GS_PORT" --verify verify_peer --cacertfile "$PKI/ca.pem" \
        --server-name localhost --certfile "$PKI/client.pem" --keyfile "$PKI/client.key" >"$T/cli.out" 2>"$T/cli.err"
    rc=$?
    if [ $rc -eq 0 ] && grep -qxF "$MSG" "$T/cli.out"; then
        pass "client-cert ours->gnutls: accepted"
        row "client cert, ours -> gnutls-serv --require-client-cert: accepted (ok)"
    else
        fail "client-cert ours->gnutls: accepted" "exit $rc: $(excerpt "$T/cli.err")" "$T/gsrv.out"
        row "client cert, ours -> gnutls-serv: FAIL"
    fi
    printf '%s\n' "$MSG" | timeout "$TO" "$CLIENT" 127.0.0.1 "$GS_PORT" --verify verify_peer --cacertfile "$PKI/ca.pem" \
        --server-name localhost >"$T/cli.out" 2>"$T/cli.err"
    rc=$?
    if [ $rc -ne 0 ] && grep_q "peer sent alert" "$T/cli.err"; then
        pass "client-cert ours->gnutls: none sent, peer's alert reported"
        row "no client cert, ours -> gnutls-serv: refused with $(grep -oE 'alert [a-z_]+' "$T/cli.err" | head -1) (ok)"
    else
        fail "client-cert ours->gnutls: none sent, peer's alert reported" "exit $rc: $(excerpt "$T/cli.err")"
        row "no client cert, ours -> gnutls-serv: FAIL"
    fi
else
    fail "client-cert ours->gnutls" "gnutls-serv did not start" "$T/gsrv.err"
fi
stop "$GS_PID"

srv_verify=(--certfile "$PKI/server.pem" --keyfile "$PKI/server.key" --verify verify_peer --cacertfile "$PKI/ca.pem"
    --fail-if-no-peer-cert --once)
if our_server srv "${srv_verify[@]}"; then
    gnutls_client "$MODERN" --x509certfile "$PKI/client.pem" --x509keyfile "$PKI/client.key"
    rc=$?
    reap "$SRV_PID"
    if [ $rc -eq 0 ] && grep -qxF "$MSG" "$T/cli.out" && grep -q "peer cert: .*CN *= *client" "$T/srv.err"; then
        pass "client-cert gnutls->ours: accepted"
        row "client cert, gnutls-cli -> ours (fail_if_no_peer_cert): accepted, peer cert CN=client (ok)"
    else
        fail "client-cert gnutls->ours: accepted" "gnutls-cli $rc: $(excerpt "$T/cli.err") server: $(excerpt "$T/srv.err")"
        row "client cert, gnutls-cli -> ours: FAIL"
    fi
fi
if our_server srv "${srv_verify[@]}"; then
    gnutls_client "$MODERN"
    rc=$?
    reap "$SRV_PID"
    if [ "$REAPED" != 0 ] && grep_q "no_peer_cert" "$T/srv.err" && grep_q "alert \[(40|116)\]" "$T/cli.err" "$T/cli.out"; then
        pass "client-cert gnutls->ours: none sent, refused"
        row "no client cert, gnutls-cli -> ours: {bad_cert, no_peer_cert}; gnutls-cli saw $(grep -ohE 'alert \[[0-9]+\]' "$T/cli.err" "$T/cli.out" | head -1) (ok)"
    else
        fail "client-cert gnutls->ours: none sent, refused" \
            "gnutls-cli $rc: $(grep -i alert "$T/cli.err" "$T/cli.out" | head -1) server $REAPED: $(excerpt "$T/srv.err")"
        row "no client cert, gnutls-cli -> ours: FAIL"
    fi
fi

# ---- verification failures ----------------------------------------------------------
# our client rejects gnutls-serv's certificate; gnutls-serv logs the alert it received
verify_ours_client() { # leaf reason alert-number
    local leaf=$1 reason=$2 alert=$3 name="verify ours->gnutls: $1 => $2" rc
    # -d 5: gnutls-serv logs "Alert[2|45] - ... - was received"
    if ! gnutls_server "$leaf" "$MODERN" -d 5; then
        fail "$name" "gnutls-serv did not start" "$T/gsrv.err"
        stop "$GS_PID"
        return
    fi
    printf '%s\n' "$MSG" | timeout "$TO" "$CLIENT" localhost "$GS_PORT" --verify verify_peer --cacertfile "$PKI/ca.pem" \
        >"$T/cli.out" 2>"$T/cli.err"
    rc=$?
    sleep 0.2
    stop "$GS_PID"
    if [ $rc -ne 0 ] && grep -q "bad_cert, $reason" "$T/cli.err" &&
        { grep -qF "Alert[2|$alert]" "$T/gsrv.out" || grep -qF "Alert[2|$alert]" "$T/gsrv.err"; }; then
        pass "$name"
        row "server cert $leaf: ours says {bad_cert, $reason}, gnutls-serv got alert $alert (ok)"
    else
        fail "$name" "exit $rc: ours: $(excerpt "$T/cli.err") | gnutls-serv: $(grep -h 'Alert\[' "$T/gsrv.out" "$T/gsrv.err" | head -1)"
        row "server cert $leaf: FAIL"
    fi
}
verify_ours_client expired cert_expired 45
verify_ours_client wrongname hostname_check_failed 42
verify_ours_client untrusted unknown_ca 48

# our server rejects gnutls-cli's certificate
verify_ours_server() { # leaf reason alert-number
    local leaf=$1 reason=$2 alert=$3 name="verify gnutls->ours: client $1 => $2" rc
    if ! our_server srv "${srv_verify[@]}"; then
        fail "$name" "echo_server did not start" "$T/srv.err"
        return
    fi
    gnutls_client "$MODERN" --x509certfile "$PKI/$leaf.pem" --x509keyfile "$PKI/$leaf.key"
    rc=$?
    reap "$SRV_PID"
    if [ "$REAPED" != 0 ] && grep -q "bad_cert, $reason" "$T/srv.err" && grep_q "$alert" "$T/cli.err" "$T/cli.out"; then
        pass "$name"
        row "client cert $leaf: ours says {bad_cert, $reason}, gnutls-cli got ${alert//\\/} (ok)"
    else
        fail "$name" "server $REAPED: $(excerpt "$T/srv.err") | gnutls-cli $rc: $(grep -i alert "$T/cli.err" "$T/cli.out" | head -1)"
        row "client cert $leaf: FAIL"
    fi
}
verify_ours_server expired cert_expired "alert \\[45\\]"
verify_ours_server untrusted unknown_ca "alert \\[48\\]"

mx_rows "cells: A/B = ours -> gnutls-serv / gnutls-cli -> ours (ok, FAIL, - not tried)"
finish "gnutls $(gnutls-cli --version 2>/dev/null | head -1 | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -1)"
