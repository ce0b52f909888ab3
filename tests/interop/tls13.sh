#!/bin/bash
# Interop for TLS 1.3: our echo_client against `openssl s_server -tls1_3` and
# `gnutls-serv`, `openssl s_client -tls1_3` and `gnutls-cli` against our
# echo_server: the three suites, RSA/ECDSA/Ed25519 certificates, a
# HelloRetryRequest each way (the peer insists on P-256 / P-384 while we
# share x25519 first), client certificates required, given and missing.
. "$(dirname "$0")/lib.sh"
need_build
if ! have openssl; then
    missing_tool openssl
fi

MSG="hello thirteen"
REV="neetriht olleh"

# client13 NAME CERT SUITE "S_SERVER ARGS" "ECHO_CLIENT ARGS" EXPECT(ok|fail:TEXT)
client13() {
    local name=$1 cert=$2 suite=$3 sargs=$4 cargs=$5 expect=$6 port rc spid
    port=$(free_port)
    # shellcheck disable=SC2086
    bg srv openssl s_server -accept "127.0.0.1:$port" -rev -cert "$PKI/$cert.pem" -key "$PKI/$cert.key" -tls1_3 \
        -ciphersuites "$suite" $sargs
    spid=$BG_PID
    if ! wait_port "$port"; then
        fail "$name" "s_server did not start" "$T/srv.err"
        stop "$spid"
        return 1
    fi
    # shellcheck disable=SC2086
    printf '%s\n' "$MSG" | timeout "$TO" "$CLIENT" 127.0.0.1 "$port" --verify verify_peer --cacertfile "$PKI/ca.pem" \
        --server-name localhost --versions tlsv1.3 $cargs >"$T/cli.out" 2>"$T/cli.err"
    rc=$?
    stop "$spid"
    case $expect in
    ok)
        if [ $rc -ne 0 ]; then
            fail "$name" "echo_client exit $rc: $(excerpt "$T/cli.err")" "$T/srv.out" "$T/srv.err"
        elif ! grep -qF "$REV" "$T/cli.out"; then
            fail "$name" "no reversed echo; got: $(excerpt "$T/cli.out")" "$T/srv.out"
        elif ! grep -qx "version: tlsv1.3" "$T/cli.err" || ! grep -qx "suite: $suite" "$T/cli.err"; then
            fail "$name" "wrong version/suite: $(excerpt "$T/cli.err")"
        else
            pass "$name"
            return 0
        fi ;;
    fail:*)
        if [ $rc -eq 0 ]; then
            fail "$name" "echo_client succeeded where it must fail"
        elif ! grep_q "${expect#fail:}" "$T/cli.err" "$T/srv.out" "$T/srv.err"; then
            fail "$name" "expected '${expect#fail:}'; client: $(excerpt "$T/cli.err") server: $(excerpt "$T/srv.err")"
        else
            pass "$name"
            return 0
        fi ;;
    esac
    return 1
}

# server13 NAME CERT SUITE "ECHO_SERVER ARGS" "S_CLIENT ARGS" EXPECT(ok|fail:TEXT)
server13() {
    local name=$1 cert=$2 suite=$3 sargs=$4 cargs=$5 expect=$6 rc
    # shellcheck disable=SC2086
    if ! our_server srv --certfile "$PKI/$cert.pem" --keyfile "$PKI/$cert.key" --versions tlsv1.3 \
        --ciphers "$suite" --once $sargs; then
        fail "$name" "echo_server did not start" "$T/srv.err"
        stop "$SRV_PID"
        return 1
    fi
    # shellcheck disable=SC2086
    (
        echo "$MSG"
        sleep 0.5
    ) | timeout "$TO" openssl s_client -connect "127.0.0.1:$SRV_PORT" -tls1_3 -ciphersuites "$suite" \
        -CAfile "$PKI/ca.pem" -verify_return_error -brief -servername localhost $cargs >"$T/cli.out" 2>"$T/cli.err"
    rc=$?
    reap "$SRV_PID"
    case $expect in
    ok)
        if [ $rc -ne 0 ]; then
            fail "$name" "s_client exit $rc: $(excerpt "$T/cli.err")" "$T/srv.err"
        elif ! grep -qF "$MSG" "$T/cli.out"; then
            fail "$name" "no echo; got: $(excerpt "$T/cli.out")" "$T/srv.err"
        elif ! grep -q "Protocol version: TLSv1.3" "$T/cli.err" || ! grep -qx "suite: $suite" "$T/srv.err"; then
            fail "$name" "version/suite differ: client: $(excerpt "$T/cli.err") server: $(excerpt "$T/srv.err")"
        else
            pass "$name"
            return 0
        fi ;;
    fail:*)
        if grep -qF "$MSG" "$T/cli.out"; then
            fail "$name" "data flowed where the handshake must fail"
        elif ! grep_q "${expect#fail:}" "$T/cli.err" "$T/srv.err"; then
            fail "$name" "expected '${expect#fail:}'; client: $(excerpt "$T/cli.err") server: $(excerpt "$T/srv.err")"
        else
            pass "$name"
            return 0
        fi ;;
    esac
    return 1
}

for suite in TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256; do
    a=ok b=ok
    client13 "ours->openssl-s_server tls1.3 $suite" server "$suite" "" "--ciphers $suite" ok || a=FAIL
    server13 "openssl-s_client->ours tls1.3 $suite" server "$suite" "" "" ok || b=FAIL
    row "$(printf '%-32s %s' "$suite" "$a/$b")"
done

S=TLS_AES_128_GCM_SHA256
client13 "ours->openssl-s_server tls1.3 ECDSA certificate" ecdsa $S "" "" ok
client13 "ours->openssl-s_server tls1.3 Ed25519 certificate" ed25519 $S "" "" ok
server13 "openssl-s_client->ours tls1.3 ECDSA certificate" ecdsa $S "" "" ok
server13 "openssl-s_client->ours tls1.3 Ed25519 certificate" ed25519 $S "" "" ok
client13 "ours->openssl-s_server tls1.3 HelloRetryRequest (P-256)" server $S "-groups P-256" "" ok
server13 "openssl-s_client->ours tls1.3 HelloRetryRequest (P-384)" server $S "" "-groups P-384" ok
client13 "ours->openssl-s_server tls1.3 client certificate" server $S "-Verify 1 -CAfile $PKI/ca.pem -verify_return_error" \
    "--certfile $PKI/client.pem --keyfile $PKI/client.key" ok
server13 "openssl-s_client->ours tls1.3 client certificate" server $S \
    "--verify verify_peer --cacertfile $PKI/ca.pem --fail-if-no-peer-cert" \
    "-cert $PKI/client.pem -key $PKI/client.key" ok
server13 "openssl-s_client->ours tls1.3 missing client certificate" server $S \
    "--verify verify_peer --cacertfile $PKI/ca.pem --fail-if-no-peer-cert" "" "fail:certificate.required"
client13 "ours->openssl-s_server tls1.3 wrong name" wrongname $S "" "" "fail:hostname_check_failed"
client13 "ours->openssl-s_server tls1.3 untrusted" untrusted $S "" "" "fail:unknown_ca"

# resumption with tickets, both ways; the second time after a HelloRetryRequest
# too (the binder then covers the retry)
for groups in "" P-256; do
gname=${groups:+ after HelloRetryRequest}
port=$(free_port)
# shellcheck disable=SC2086
bg srv openssl s_server -accept "127.0.0.1:$port" -rev -cert "$PKI/server.pem" -key "$PKI/server.key" -tls1_3 \
    ${groups:+-groups $groups}
spid=$BG_PID
if wait_port "$port"; then
    printf '%s\n' "$MSG" | timeout "$TO" "$CLIENT" 127.0.0.1 "$port" --verify verify_peer --cacertfile "$PKI/ca.pem" \
        --server-name localhost --versions tlsv1.3 --reconnect 1 >"$T/cli.out" 2>"$T/cli.err"
    rc=$?
    if [ $rc -eq 0 ] && grep -qx "reused: yes" "$T/cli.err"; then
        pass "ours->openssl-s_server tls1.3 resumption (ticket)$gname"
    else
        fail "ours->openssl-s_server tls1.3 resumption (ticket)$gname" "exit $rc: $(excerpt "$T/cli.err")" "$T/srv.err"
    fi
else
    fail "ours->openssl-s_server tls1.3 resumption (ticket)$gname" "s_server did not start" "$T/srv.err"
fi
stop "$spid"
done
for groups in "" P-384; do
gname=${groups:+ after HelloRetryRequest}
if our_server srv --certfile "$PKI/server.pem" --keyfile "$PKI/server.key" --versions tlsv1.3; then
    for i in 1 2; do
        sess=(-sess_out "$T/sess13.pem")
        [ $i = 2 ] && sess=(-sess_in "$T/sess13.pem")
        (
            echo "$MSG"
            sleep 0.5
        ) | timeout "$TO" openssl s_client -connect "127.0.0.1:$SRV_PORT" -tls1_3 -CAfile "$PKI/ca.pem" \
            -servername localhost "${sess[@]}" ${groups:+-groups $groups} >"$T/cli$i.out" 2>&1
    done
    stop "$SRV_PID"
    if grep -q "^Reused, TLSv1.3" "$T/cli2.out"; then
        pass "openssl-s_client->ours tls1.3 resumption (ticket)$gname"
    else
        fail "openssl-s_client->ours tls1.3 resumption (ticket)$gname" "$(grep -E '^(New|Reused)' "$T/cli2.out")" "$T/srv.err"
    fi
else
    fail "openssl-s_client->ours tls1.3 resumption (ticket)$gname" "echo_server did not start" "$T/srv.err"
fi
done

if have gnutls-serv; then
    port=$(free_port)
    bg gsrv gnutls-serv --echo -p "$port" --x509certfile "$PKI/server.pem" --x509keyfile "$PKI/server.key" \
        --priority "NORMAL:-VERS-ALL:+VERS-TLS1.3"
    gpid=$BG_PID
    if wait_port "$port"; then
        printf '%s\n' "$MSG" | timeout "$TO" "$CLIENT" 127.0.0.1 "$port" --verify verify_peer \
            --cacertfile "$PKI/ca.pem" --server-name localhost >"$T/cli.out" 2>"$T/cli.err"
        rc=$?
        if [ $rc -eq 0 ] && grep -qF "$MSG" "$T/cli.out" && grep -qx "version: tlsv1.3" "$T/cli.err"; then
            pass "ours->gnutls-serv tls1.3"
        else
            fail "ours->gnutls-serv tls1.3" "exit $rc: $(excerpt "$T/cli.err")" "$T/gsrv.err"
        fi
    else
        fail "ours->gnutls-serv tls1.3" "gnutls-serv did not start" "$T/gsrv.err"
    fi
    stop "$gpid"
    if our_server srv --certfile "$PKI/server.pem" --keyfile "$PKI/server.key" --once; then
        (
            echo "$MSG"
            sleep 1
        ) | timeout "$TO" gnutls-cli -p "$SRV_PORT" localhost --x509cafile "$PKI/ca.pem" \
            --priority "NORMAL:-VERS-ALL:+VERS-TLS1.3" >"$T/gcli.out" 2>"$T/gcli.err"
        reap "$SRV_PID"
        if grep -qF "$MSG" "$T/gcli.out" && grep -qx "version: tlsv1.3" "$T/srv.err"; then
            pass "gnutls-cli->ours tls1.3"
        else
            fail "gnutls-cli->ours tls1.3" "$(excerpt "$T/gcli.out")" "$T/srv.err"
        fi
    else
        fail "gnutls-cli->ours tls1.3" "echo_server did not start" "$T/srv.err"
    fi
fi

ROWS=("$(printf '%-32s %s' 'tls1.3 suite' 'ours as client/ours as server')" "${ROWS[@]}")
finish "tls1.3"
