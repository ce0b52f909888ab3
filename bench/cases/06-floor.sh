#!/bin/bash
# Case 6: the crypto floor from `openssl speed`, in the same run: what a
# handshake's public-key operations alone cost, next to what the engine spends
# in memory for the whole handshake (both ends, from case 1's rows).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
rows=$BUILD/bench/inmem.rows
[ -s "$rows" ] || { echo "06-floor: no $rows (case 1 must run first)" >&2; exit 1; }
# -mr lines: +F2:i:2048:sign/s:verify/s (RSA), +F4:i:256:sign/s:verify/s (ECDSA), +F5:i:253:op/s (ECDH)
eval "$(openssl speed -mr -seconds 1 rsa2048 ecdsap256 ecdhx25519 2>/dev/null | awk -F: '
    /^\+F2:/ {printf "rsa_sign=%s rsa_verify=%s\n", $4, $5}
    /^\+F4:/ {printf "ec_sign=%s ec_verify=%s\n", $4, $5}
    /^\+F5:/ {printf "x25519=%s\n", $4}')"
for v in rsa_sign rsa_verify ec_sign ec_verify x25519; do
    [ -n "${!v:-}" ] || { echo "06-floor: openssl speed gave no $v" >&2; exit 1; }
done
ms() { awk -v r="$1" 'BEGIN { printf "%.3f", 1000 / r }'; }
printf 'ROW\t6-floor\tcrypto floor: RSA-2048 sign\t%s\topenssl speed rsa2048 verify\t%s\tms\t-\n' "$(ms "$rsa_sign")" "$(ms "$rsa_verify")"
printf 'ROW\t6-floor\tcrypto floor: ECDSA P-256 sign\t%s\topenssl speed ecdsap256 verify\t%s\tms\t-\n' "$(ms "$ec_sign")" "$(ms "$ec_verify")"
printf 'ROW\t6-floor\tcrypto floor: X25519 operation\t%s\t(one operation)\t%s\tms\t-\n' "$(ms "$x25519")" "$(ms "$x25519")"
# Both ends of one handshake: 4 X25519 operations (two key pairs, two
# secrets) and the server's signature, its check, and the check of the
# server certificate's signature by the test CA (RSA-2048).
fail=0
floor() { # label-in-inmem floor-ms
    local hs
    hs=$(awk -F'\t' -v l="in memory: $1" '$3 == l && $4 > 0 {printf "%.3f", 1000 / $4}' "$rows")
    [ -n "$hs" ] || { hs=NA; fail=1; }
    printf 'ROW\t6-floor\tengine in memory per handshake (both ends) vs its crypto floor: %s\t%s\tpublic-key operations alone\t%s\tms\t-\n' "$1" "$hs" "$2"
}
sum() { awk -v a="$1" 'BEGIN { n = split(a, t, " "); s = 0; for (i = 1; i <= n; i++) s += 1000 / t[i]; printf "%.3f", s }'; }
rsa_hs=$(sum "$rsa_sign $rsa_verify $rsa_verify $x25519 $x25519 $x25519 $x25519")
ec_hs=$(sum "$ec_sign $ec_verify $rsa_verify $x25519 $x25519 $x25519 $x25519")
dhe=$(sum "$x25519 $x25519 $x25519 $x25519")
floor "full handshakes, TLS 1.2 ECDHE-RSA-2048" "$rsa_hs"
floor "full handshakes, TLS 1.3 RSA-2048" "$rsa_hs"
floor "full handshakes, TLS 1.2 ECDHE-ECDSA-P256" "$ec_hs"
floor "full handshakes, TLS 1.3 ECDSA-P256" "$ec_hs"
floor "resumed handshakes, TLS 1.3 RSA-2048" "$dhe"
exit $fail
