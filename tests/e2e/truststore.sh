#!/bin/bash
# End to end, the system trust store: a connect rule with verify_peer and no
# cacertfile or cacerts verifies the server the way curl does, against
# SSL_CERT_FILE / SSL_CERT_DIR (else OpenSSL's default paths). curl speaks
# plain HTTP; the shim is the TLS client towards openssl s_server.
. "$(dirname "$0")/lib.sh"
e2e_require curl openssl python3

T=$E2E_TMP
write_policy "$T/store.ini" "[global]" "log_level = info" "" "[upstream]" "direction = connect" \
    "match = 127.0.0.1:*"
# The policy loads: no cacertfile is no longer an error for a connect rule.
if out=$("$TLSSHIM" --check -c "$T/store.ini" 2>&1) && grep -q "^verify = verify_peer" <<<"$out" &&
    grep -q "^; cacertfile: default, the system's trust store" <<<"$out"; then
    pass trust_store_policy_checks
else
    fail trust_store_policy_checks "$(tr '\n' ' ' <<<"$out" | cut -c1-300)"
fi

GOOD=$(free_port)
s_server "$GOOD" "$PKI/server.pem" "$PKI/server.key" || fail setup "s_server (test CA) did not start"
BAD=$(free_port)
s_server "$BAD" "$PKI/untrusted.pem" "$PKI/untrusted.key" ||
    fail setup "s_server (untrusted CA) did not start"
# a folder in OpenSSL's hashed layout holding only the test CA
mkdir -p "$T/certs" && cp "$PKI/ca.pem" "$T/certs/" && openssl rehash "$T/certs" >/dev/null 2>&1

# get NAME PORT ENV...: GET through the shim under the environment given;
# sets rc, out, and NAME.err holds the shim's log
get() {
    local name=$1 port=$2
    shift 2
    out=$(env "$@" timeout 20 "$TLSSHIM" -c "$T/store.ini" "${HTTP_GET[@]}" \
        "http://127.0.0.1:$port/" 2>"$T/$name.err")
    rc=$?
}
verified() { [ "$rc" = 0 ] && grep -q "s_server" <<<"$out" && grep -q "verify=ok" "$T/$1.err"; }
# refused NAME: the handshake failed on the certificate (not the policy, not the network)
refused() {
    [ "$rc" != 0 ] && ! grep -q "s_server" <<<"$out" &&
        grep -q "handshake failed: .*unknown_ca" "$T/$1.err"
}
why() { echo "rc=$rc: $(tail -3 "$T/$1.err" | tr '\n' ' ' | cut -c1-300)"; }

# SSL_CERT_FILE names the test CA: its server is verified, another CA's refused.
get file_good "$GOOD" SSL_CERT_FILE="$PKI/ca.pem" SSL_CERT_DIR="$T/empty"
if verified file_good; then pass trust_store_cert_file_verifies; else
    fail trust_store_cert_file_verifies "$(why file_good)"; fi
get file_bad "$BAD" SSL_CERT_FILE="$PKI/ca.pem" SSL_CERT_DIR="$T/empty"
if refused file_bad; then
    pass trust_store_refuses_other_ca
else
    fail trust_store_refuses_other_ca "$(why file_bad)"
fi

# The same server is refused when the store does not hold its CA.
get file_other "$GOOD" SSL_CERT_FILE="$PKI/untrusted-ca.pem" SSL_CERT_DIR="$T/empty"
if refused file_other; then pass trust_store_without_the_ca_refuses; else
    fail trust_store_without_the_ca_refuses "$(why file_other)"; fi

# SSL_CERT_DIR: a hashed folder serves as well.
get dir_good "$GOOD" SSL_CERT_FILE="$T/none.pem" SSL_CERT_DIR="$T/certs"
if verified dir_good; then pass trust_store_cert_dir_verifies; else
    fail trust_store_cert_dir_verifies "$(why dir_good)"; fi
get dir_bad "$BAD" SSL_CERT_FILE="$T/none.pem" SSL_CERT_DIR="$T/certs"
if refused dir_bad; then pass trust_store_cert_dir_refuses_other_ca; else
    fail trust_store_cert_dir_refuses_other_ca "$(why dir_bad)"; fi

e2e_done
