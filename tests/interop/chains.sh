#!/bin/bash
# Certificate chains as OpenSSL decides them (issue 6 a, b, c). For each case
# `openssl s_server` serves a chain; our echo_client decides it, and so does
# `openssl s_client` with the same depth, level and trust: both must give the
# expected answer, so the table is checked against OpenSSL, not only against
# us.
#   depth: intermediate CAs allowed between the peer and the trusted root
#          (OpenSSL's -verify_depth);
#   security level: MD5- and SHA-1-signed and RSA-1024 leaves are refused at
#          the default level 2 with a sentence naming why, accepted at 0;
#   trust store: no --cacertfile means OpenSSL's default paths, which
#          SSL_CERT_FILE overrides (client and server side).
. "$(dirname "$0")/lib.sh"
need_build
if ! have openssl; then
    echo "FAIL setup: openssl is not installed (the PKI and the reference decisions need it)"
    exit 1
fi

MSG="hello chains"
REV="sniahc olleh"
# s_server must serve the weak leaves; our client and s_client judge them
WEAK_OK="DEFAULT:@SECLEVEL=0"
# only SSL_CERT_FILE may add trust in the trust-store cases
export SSL_CERT_DIR=/nonexistent-tlsshim-chains

# serve LEAF KEY CHAIN_FILES...: s_server -rev with the leaf and the
# intermediates; sets SPID and SPORT, false if it did not start
serve() {
    local leaf=$1 key=$2 chain
    shift 2
    SPORT=$(free_port)
    chain=$T/chain.pem
    : >"$chain"
    local f
    for f in "$@"; do cat "$PKI/$f" >>"$chain"; done
    local extra=()
    [ -s "$chain" ] && extra=(-cert_chain "$chain")
    bg srv openssl s_server -accept "127.0.0.1:$SPORT" -rev -cert "$PKI/$leaf" -key "$PKI/$key" "${extra[@]}" \
        -cipher "$WEAK_OK"
    SPID=$BG_PID
    wait_port "$SPORT"
}

# the message, then time for the answer before s_client's stdin ends (s_client
# closes the connection at its end of input)
say() {
    echo "$MSG"
    sleep 0.5
}

# the host name both clients ask for and verify
VHOST=localhost

# ours ARGS...: echo_client against the server; prints accepted or rejected,
# the sentence goes to $T/ours.err
ours() {
    if printf '%s\n' "$MSG" | timeout "$TO" "$CLIENT" 127.0.0.1 "$SPORT" --verify verify_peer \
        --server-name "$VHOST" "$@" >"$T/ours.out" 2>"$T/ours.err" && grep -qF "$REV" "$T/ours.out"; then
        echo accepted
    else
        echo rejected
    fi
}

# s_client's TLS security level: 0, so that only -auth_level judges the chain
S_CLIENT_LEVEL=(-cipher "$WEAK_OK")

# theirs ARGS...: openssl s_client against the server, stopping at the first
# verification error; prints accepted or rejected ($T/theirs.err says why)
theirs() {
    if say | timeout "$TO" openssl s_client -connect "127.0.0.1:$SPORT" -servername "$VHOST" \
        -verify_hostname "$VHOST" -verify_return_error "${S_CLIENT_LEVEL[@]}" -brief "$@" \
        >"$T/theirs.out" 2>"$T/theirs.err" && grep -qF "$REV" "$T/theirs.out"; then
        echo accepted
    else
        echo rejected
    fi
}

# check NAME EXPECT WHY THEIR_WHY OURS THEIRS: EXPECT accepted|rejected; when
# rejected, WHY is a fixed string our error sentence must contain, and
# THEIR_WHY one that OpenSSL's verify error must contain (the same reason)
check() {
    local name=$1 expect=$2 why=$3 their_why=$4 o=$5 t=$6
    if [ "$o" != "$expect" ]; then
        fail "$name" "ours: $o, expected $expect: $(excerpt "$T/ours.err")" "$T/srv.err"
    elif [ "$expect" = rejected ] && ! grep -qF -- "$why" "$T/ours.err"; then
        fail "$name" "our sentence lacks \"$why\": $(excerpt "$T/ours.err")"
    elif [ "$t" != "$expect" ]; then
        fail "$name" "openssl: $t, expected $expect: $(excerpt "$T/theirs.err")"
    elif [ "$expect" = rejected ] && ! grep -qF -- "$their_why" "$T/theirs.err"; then
        fail "$name" "openssl rejected for another reason than \"$their_why\": $(excerpt "$T/theirs.err")"
    else
        pass "$name"
        row "$(printf '%-58s %-9s (openssl: %s)' "$name" "$o" "$t")"
        return 0
    fi
    row "$(printf '%-58s FAIL: ours %s, openssl %s, expected %s' "$name" "$o" "$t" "$expect")"
    return 1
}

# chain_case NAME LEAF KEY "CHAIN FILES" DEPTH LEVEL EXPECT [WHY THEIR_WHY]
chain_case() {
    local name=$1 leaf=$2 key=$3 chain=$4 depth=$5 level=$6 expect=$7 why=${8:-} their_why=${9:-} o t
    # shellcheck disable=SC2086 # CHAIN is a list of file names
    if ! serve "$leaf" "$key" $chain; then
        fail "$name" "s_server did not start" "$T/srv.err"
        stop "$SPID"
        return
    fi
    o=$(ours --cacertfile "$PKI/ca.pem" --depth "$depth" --security-level "$level")
    t=$(theirs -CAfile "$PKI/ca.pem" -verify_depth "$depth" -auth_level "$level")
    stop "$SPID"
    check "$name" "$expect" "$why" "$their_why" "$o" "$t"
}

# ---- depth (issue 6 a) ------------------------------------------------------------
TOO_DEEP="{bad_cert, max_path_length_reached}"
OSSL_DEEP="verify error:num=22:certificate chain too long"
chain_case "leaf <- intermediate <- root, depth 1" server-chain.pem server-chain.key int.pem 1 2 accepted
chain_case "leaf <- intermediate <- root, depth 0" server-chain.pem server-chain.key int.pem 0 2 rejected \
    "$TOO_DEEP: certificate 'CN=tlsshim test intermediate CA' (depth 1) is beyond the allowed chain depth 0" \
    "$OSSL_DEEP"
chain_case "leaf signed directly by the root, depth 0" server.pem server.key "" 0 2 accepted
chain_case "two intermediates, depth 2" server-chain2.pem server-chain2.key "mid2.pem mid1.pem" 2 2 accepted
chain_case "two intermediates, depth 1" server-chain2.pem server-chain2.key "mid2.pem mid1.pem" 1 2 rejected \
    "$TOO_DEEP: certificate 'CN=tlsshim test intermediate CA 1 of 2' (depth 2) is beyond the allowed chain depth 1" \
    "$OSSL_DEEP"

# ---- security level (issue 6 b) ---------------------------------------------------
WEAK="{bad_cert, security_level}: certificate 'CN=localhost' (depth 0)"
OSSL_MD="verify error:num=68:CA signature digest algorithm too weak"
OSSL_KEY="verify error:num=66:EE certificate key too weak"
chain_case "MD5-signed leaf, default level (2)" md5.pem md5.key "" 1 2 rejected \
    "$WEAK is signed with MD5, refused at security level 2" "$OSSL_MD"
chain_case "SHA-1-signed leaf, default level (2)" sha1.pem sha1.key "" 1 2 rejected \
    "$WEAK is signed with SHA-1, refused at security level 2" "$OSSL_MD"
chain_case "RSA-1024 leaf, default level (2)" rsa1024.pem rsa1024.key "" 1 2 rejected \
    "$WEAK has an RSA key of 1024 bits, refused at security level 2 (at least 2048)" "$OSSL_KEY"
chain_case "MD5-signed leaf, --security-level 0" md5.pem md5.key "" 1 0 accepted
chain_case "SHA-1-signed leaf, --security-level 0" sha1.pem sha1.key "" 1 0 accepted
chain_case "RSA-1024 leaf, --security-level 0" rsa1024.pem rsa1024.key "" 1 0 accepted

# the level is the default when no option names it
name="SHA-1-signed leaf, no --security-level option"
if serve sha1.pem sha1.key; then
    o=$(ours --cacertfile "$PKI/ca.pem")
    S_CLIENT_LEVEL=() # s_client's own default level too
    t=$(theirs -CAfile "$PKI/ca.pem")
    S_CLIENT_LEVEL=(-cipher "$WEAK_OK")
    check "$name" rejected "$WEAK is signed with SHA-1, refused at security level 2" "$OSSL_MD" "$o" "$t"
else
    fail "$name" "s_server did not start" "$T/srv.err"
fi
stop "$SPID"

# ---- name constraints and issuer names (issue 9) ------------------------------------
# nc-ca may only certify names under allowed.test
VHOST=host.allowed.test
chain_case "name-constrained CA, leaf inside its subtree" nc-good.pem nc-good.key nc-ca.pem 1 2 accepted
VHOST=host.other.test
chain_case "name-constrained CA, leaf outside its subtree" nc-bad.pem nc-bad.key nc-ca.pem 1 2 rejected \
    "{bad_cert, name_not_permitted}: certificate 'CN=host.other.test' (depth 0) has a name its issuer may not certify" \
    "verify error:num=47:permitted subtree violation"
VHOST=localhost
# a leaf whose Issuer DN no certificate has, though signed by the key its
# authorityKeyIdentifier names: OpenSSL finds no issuer by name and says so;
# we, as the reference, find the issuer by key and call the name invalid
OSSL_NO_ISSUER="verify error:num=20:unable to get local issuer certificate"
chain_case "leaf misnaming the root that signed it" misnamed.pem misnamed.key "" 1 2 rejected \
    "{bad_cert, invalid_issuer}: certificate 'CN=localhost' (depth 0) has an invalid issuer: 'CN=tlsshim misnamed CA' is not the name of the CA that signed it" \
    "$OSSL_NO_ISSUER"
chain_case "leaf misnaming the intermediate sent after it" misnamed-chain.pem misnamed-chain.key int.pem 1 2 rejected \
    "{bad_cert, invalid_issuer}: certificate 'CN=localhost' (depth 0) has an invalid issuer: 'CN=tlsshim misnamed intermediate CA' is not the name of the CA that signed it" \
    "$OSSL_NO_ISSUER"

# ---- the system trust store (issue 6 c) ---------------------------------------------
# no --cacertfile / -CAfile: both fall back to OpenSSL's default paths
OSSL_UNKNOWN="unable to get local issuer certificate"
for ca in ca.pem untrusted-ca.pem; do
    if [ $ca = ca.pem ]; then expect=accepted; else expect=rejected; fi
    name="client, no cacertfile, SSL_CERT_FILE=$ca"
    if serve server.pem server.key; then
        o=$(SSL_CERT_FILE=$PKI/$ca ours)
        t=$(SSL_CERT_FILE=$PKI/$ca theirs)
        check "$name" $expect "{bad_cert, unknown_ca}" "$OSSL_UNKNOWN" "$o" "$t"
    else
        fail "$name" "s_server did not start" "$T/srv.err"
    fi
    stop "$SPID"
done

# server side: echo_server --verify verify_peer without --cacertfile judges
# s_client's certificate against SSL_CERT_FILE; `openssl s_server -Verify 1`
# without -CAfile is the reference
client_cert() { # prints accepted or rejected for s_client with client.pem -> port $1
    say | timeout "$TO" openssl s_client -connect "127.0.0.1:$1" -servername localhost \
        -cert "$PKI/client.pem" -key "$PKI/client.key" -CAfile "$PKI/ca.pem" -brief >"$T/cc.out" 2>"$T/cc.err"
    if grep -qF "$MSG" "$T/cc.out" || grep -qF "$REV" "$T/cc.out"; then echo accepted; else echo rejected; fi
}
for ca in ca.pem untrusted-ca.pem; do
    if [ $ca = ca.pem ]; then expect=accepted; else expect=rejected; fi
    name="server, no cacertfile, SSL_CERT_FILE=$ca"
    export SSL_CERT_FILE=$PKI/$ca
    o=failed-to-start
    if our_server srv --certfile "$PKI/server.pem" --keyfile "$PKI/server.key" --verify verify_peer \
        --fail-if-no-peer-cert --once; then
        o=$(client_cert "$SRV_PORT")
        reap "$SRV_PID"
        # --once: echo_server's status is its verdict on the connection
        [ "$REAPED" = 0 ] && grep -q "peer cert: .*CN *= *client" "$T/srv.err" || o=rejected
        cp "$T/srv.err" "$T/ours.err"
    fi
    port=$(free_port)
    bg ref openssl s_server -accept "127.0.0.1:$port" -rev -cert "$PKI/server.pem" -key "$PKI/server.key" \
        -Verify 1 -verify_return_error
    rpid=$BG_PID
    t=failed-to-start
    wait_port "$port" && t=$(client_cert "$port")
    cp "$T/ref.err" "$T/theirs.err"
    stop "$rpid"
    unset SSL_CERT_FILE
    # s_client sends its chain up to the root it knows: untrusted here
    check "$name" $expect "{bad_cert, unknown_ca}" "self-signed certificate in certificate chain" "$o" "$t"
done

finish "certificate chains: ours (echo_client / echo_server) and openssl $(openssl version | cut -d' ' -f2) agree"
