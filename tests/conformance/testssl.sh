#!/bin/bash
# testssl.sh (Debian's `testssl`) scans an accept rule with default settings:
# protocols, server defaults, preferences and vulnerabilities (-p -S -P -U).
# Every finding "NOT ok", "VULNERABLE" or "potentially VULNERABLE" fails,
# except those about the throwaway test certificate itself: a chain of trust
# that ends in a CA testssl does not know, no CRL or OCSP URI, and its
# validity period.
. "$(dirname "$0")/../e2e/lib.sh"
e2e_require python3 testssl

port=$(free_port)
write_policy "$E2E_TMP/policy.ini" "[global]" "log = $E2E_TMP/shim.log" "" \
    "[web]" "direction = accept" "match = 127.0.0.1:$port" \
    "certfile = $PKI/server.pem" "keyfile = $PKI/server.key"
e2e_bg "$E2E_TMP/server.log" "$TLSSHIM" -c "$E2E_TMP/policy.ini" -- python3 \
    "$TOP/tests/conformance/http_once.py" "$port"
if ! wait_port "$port" 127.0.0.1 20; then
    fail testssl "the plaintext server under the shim did not start: $(tail -3 "$E2E_TMP/server.log")"
    e2e_done
fi
report=$BUILD/conformance-testssl.txt
timeout 900 testssl -p -S -P -U --quiet --color 0 --warnings off "127.0.0.1:$port" >"$report" 2>&1
grep -qE '^ Done [0-9]' "$report" ||
    { fail testssl "the scan did not complete (see $report)"; e2e_done; }
findings=$(grep -E 'NOT ok|VULNERABLE' "$report" |
    grep -vE '^ *Chain of trust|neither CRL nor OCSP URI|^ *Certificate Validity')
if [ -z "$findings" ]; then
    pass "testssl: no NOT ok / VULNERABLE finding on a default accept rule"
else
    while IFS= read -r line; do
        fail testssl "$(echo "$line" | tr -s ' ')"
    done <<<"$findings"
fi
e2e_done
