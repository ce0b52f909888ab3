#!/bin/bash
# Case 1: the engine in memory against libssl in memory (bench/inmem.c),
# and the engine's seal+open against the cipher alone: for the AEADs inmem
# times libcrypto's EVP loop (what `openssl speed -evp` times) in turns with
# the engine, in the same run; `openssl speed -evp` itself runs after, for
# every cipher. For CBC with HMAC its figure is the goal's anchor (libcrypto's
# stitched AES-CBC-HMAC, one pass for both); for the AEADs it is information,
# since minutes apart the same machine gives other figures.
# Prints bench rows (see bench/run.sh); the inmem rows are kept in
# $BUILD/bench/inmem.rows for the floor case (06-floor.sh).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
out=$BUILD/bench
mkdir -p "$out"
PKI=${PKI:-$out/pki}
tests/pki/gen.sh "$PKI" >"$out/pki.log" 2>&1 || { echo "01-inmem: PKI generation failed (see $out/pki.log)" >&2; exit 1; }
quick=${QUICK:+--quick}
"$BUILD/bench/inmem" $quick "$PKI" >"$out/inmem.rows" 2>"$out/inmem.log"
rc=$?
cat "$out/inmem.rows"
if [ $rc -ne 0 ]; then
    echo "01-inmem: inmem failed: $(tail -1 "$out/inmem.log")" >&2
    exit 1
fi

# openssl speed -evp: bytes/s for 16 KiB blocks, encrypting or decrypting
speed() { # cipher [-decrypt]
    openssl speed -mr -seconds 1 -bytes 16384 ${2:-} -evp "$1" 2>/dev/null | awk -F: '/^\+F:/ {print $4}'
}
# label in inmem's bulk rows -> openssl speed cipher name
ciphers=("TLS 1.3 AES-128-GCM|aes-128-gcm" "TLS 1.3 AES-256-GCM|aes-256-gcm"
         "TLS 1.3 ChaCha20-Poly1305|chacha20-poly1305" "TLS 1.2 AES-128-CBC HMAC-SHA1|aes-128-cbc-hmac-sha1"
         "TLS 1.2 AES-128-CBC HMAC-SHA256|aes-128-cbc-hmac-sha256")
[ -n "${QUICK:-}" ] && ciphers=("${ciphers[0]}" "${ciphers[3]}")
fail=0
for pair in "${ciphers[@]}"; do
    label=${pair%%|*}; cipher=${pair##*|}
    ours=$(awk -F'\t' -v l="in memory: bulk, $label" '$3 == l {print $4}' "$out/inmem.rows")
    enc=$(speed "$cipher"); dec=$(speed "$cipher" -decrypt)
    # sealing and then opening each byte, as the engine's figure does: 1/(1/enc + 1/dec)
    both=$(awk -v e="$enc" -v d="$dec" 'BEGIN { if (e > 0 && d > 0) printf "%.1f", 1 / (1e6 / e + 1e6 / d); else print "NA" }')
    [ -n "$ours" ] || ours=NA
    [ "$both" = NA ] || [ "$ours" = NA ] && fail=1
    goal=-
    case $cipher in *cbc*) goal='>=0.8' ;; esac
    printf 'ROW\t1-inmem\tseal+open, engine in memory vs openssl speed -evp: %s\t%s\topenssl speed -evp %s (enc+dec), after\t%s\tMB/s\t%s\n' \
        "$label" "$ours" "$cipher" "$both" "$goal"
done
exit $fail
