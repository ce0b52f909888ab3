#!/bin/bash
# Interop for RFC 5077 session tickets (TLS 1.2) with OpenSSL, both ways:
# - echo_client resumes against `openssl s_server -no_tls1_3 -no_cache`, where
#   only a ticket can resume; with -no_ticket as well nothing resumes (control);
# - `openssl s_client -sess_out / -sess_in` resumes against echo_server, which
#   keeps no server-side state for a session it gave a ticket for; a client
#   that declines tickets (-no_ticket) still resumes by session id; a ticket
#   taken to another server process (another key) gets a full handshake.
. "$(dirname "$0")/lib.sh"
need_build
if ! have openssl; then
    missing_tool openssl
fi

MSG="hello tickets"
REV="stekcit olleh"

# ours_to_openssl NAME EXPECT(resumed|full) S_SERVER_ARGS...
ours_to_openssl() {
    local name=$1 expect=$2 port rc spid
    shift 2
    port=$(free_port)
    bg srv openssl s_server -accept "127.0.0.1:$port" -rev -cert "$PKI/server.pem" -key "$PKI/server.key" \
        -no_tls1_3 "$@"
    spid=$BG_PID
    if ! wait_port "$port"; then
        fail "$name" "s_server did not start" "$T/srv.err"
        stop "$spid"
        return
    fi
    printf '%s\n' "$MSG" | timeout "$TO" "$CLIENT" localhost "$port" --verify verify_peer --cacertfile "$PKI/ca.pem" \
        --versions tlsv1.2 --reconnect 1 >"$T/cli.out" 2>"$T/cli.err"
    rc=$?
    stop "$spid"
    local reused=full
    grep -qx "reused: yes" "$T/cli.err" && reused=resumed
    if [ $rc -ne 0 ] || ! grep -qF "$REV" "$T/cli.out"; then
        fail "$name" "echo_client exit $rc: $(excerpt "$T/cli.err")" "$T/srv.err"
        row "$name: FAIL"
    elif [ $reused != "$expect" ]; then
        fail "$name" "second connection: $reused, expected $expect: $(excerpt "$T/cli.err")"
        row "$name: FAIL"
    else
        pass "$name"
        row "$name: second connection $reused (ok)"
    fi
}

ours_to_openssl "ticket ours->openssl (s_server -no_cache)" resumed -no_cache
ours_to_openssl "no ticket, no cache: ours->openssl does not resume" full -no_cache -no_ticket

# s_client_once I SESSION_ARGS...: one s_client connection to $SRV_PORT, output in cli$I.out
s_client_once() {
    local i=$1
    shift
    (
        echo "$MSG"
        sleep 0.5
    ) | timeout "$TO" openssl s_client -connect "127.0.0.1:$SRV_PORT" -tls1_2 -CAfile "$PKI/ca.pem" \
        -verify_return_error -servername localhost "$@" >"$T/cli$i.out" 2>"$T/cli$i.err"
}

start_ours() {
    our_server "$1" --certfile "$PKI/server.pem" --keyfile "$PKI/server.key" --versions tlsv1.2
}

name="ticket openssl->ours (s_client -sess_out, -sess_in)"
if start_ours srv; then
    s_client_once 1 -sess_out "$T/sess.pem"
    s_client_once 2 -sess_in "$T/sess.pem"
    stop "$SRV_PID"
    if ! grep -q "TLS session ticket lifetime hint" "$T/cli1.out"; then
        fail "$name" "no ticket in the first session: $(grep -E '^(New|Reused)' "$T/cli1.out")" "$T/srv.err"
        row "$name: FAIL"
    elif grep -q "^Reused" "$T/cli2.out" && grep -qx "reused: yes" "$T/srv.err"; then
        pass "$name"
        row "$name: ticket issued, second connection Reused (ok)"
    else
        fail "$name" "s_client: $(grep -E '^(New|Reused)' "$T/cli2.out" | head -1); server: $(excerpt "$T/srv.err")"
        row "$name: FAIL"
    fi
else
    fail "$name" "echo_server did not start" "$T/srv.err"
fi

name="session id openssl->ours (s_client -no_ticket)"
if start_ours srv; then
    s_client_once 1 -no_ticket -sess_out "$T/sess-id.pem"
    s_client_once 2 -no_ticket -sess_in "$T/sess-id.pem"
    stop "$SRV_PID"
    if grep -q "TLS session ticket lifetime hint" "$T/cli1.out"; then
        fail "$name" "a ticket for a client that did not ask for one"
        row "$name: FAIL"
    elif grep -q "^Reused" "$T/cli2.out"; then
        pass "$name"
        row "$name: no ticket, Reused by id (ok)"
    else
        fail "$name" "s_client: $(grep -E '^(New|Reused)' "$T/cli2.out" | head -1)" "$T/srv.err"
        row "$name: FAIL"
    fi
else
    fail "$name" "echo_server did not start" "$T/srv.err"
fi

name="ticket from another server process: full handshake"
if start_ours srv2; then
    s_client_once 3 -sess_in "$T/sess.pem"
    rc=$?
    stop "$SRV_PID"
    if [ $rc -eq 0 ] && grep -q "^New" "$T/cli3.out" && grep -qF "$MSG" "$T/cli3.out"; then
        pass "$name"
        row "$name: New session, no alert (ok)"
    else
        fail "$name" "s_client exit $rc: $(grep -E '^(New|Reused)' "$T/cli3.out" | head -1)" "$T/srv2.err"
        row "$name: FAIL"
    fi
else
    fail "$name" "echo_server did not start" "$T/srv2.err"
fi

finish "TLS 1.2 session tickets (RFC 5077) with OpenSSL"
