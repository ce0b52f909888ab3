#!/bin/bash
# Generates the test PKI into DIR with the openssl CLI.
#   tests/pki/gen.sh DIR
# Idempotent: if DIR/.done holds this script's PKI_VERSION nothing happens;
# otherwise everything is (re)made and DIR/.done is written last (so a PKI
# made by an older gen.sh is remade). Takes well under a few seconds.
#
# Contents (PEM unless said; every leaf lives 10 years unless said; the names
# are a contract for the other test suites):
#   ca.pem ca.key            root CA "tlsshim test root CA" (RSA 2048; CA:true critical,
#                            keyUsage keyCertSign+cRLSign)
#   int.pem int.key          intermediate CA signed by the root (CA:true, pathlen:0)
#   ca-bundle.pem            ca.pem + int.pem
#   server.pem server.key    RSA-2048 leaf CN=localhost signed by the ROOT directly;
#                            SAN DNS:localhost, IP:127.0.0.1, IP:::1;
#                            EKU serverAuth+clientAuth; KU digitalSignature+keyEncipherment
#   server-chain.pem         leaf CN=localhost signed by the INTERMEDIATE, then int.pem
#   server-chain.key         its key (same key as server.key)
#   ecdsa.pem ecdsa.key      P-256 leaf, same SANs/EKU, signed by the root
#   dsa.pem dsa.key          DSA-2048 leaf, same SANs/EKU, signed by the (RSA) root
#   ed25519.pem ed25519.key  Ed25519 leaf, same SANs/EKU, signed by the root
#   client.pem client.key    RSA leaf CN=client, EKU clientAuth only (so it is not a
#                            valid *server* certificate: invalid_key_usage), own key
#   expired.pem expired.key  like server.pem, valid 2020-01-01 .. 2021-01-01 (cert_expired)
#   notyet.pem notyet.key    like server.pem, valid from 2099-01-01 (cert_expired)
#   wrongname.pem .key       SAN DNS:wrong.example only, CN=wrong.example
#                            (hostname_check_failed for localhost / 127.0.0.1)
#   untrusted-ca.pem .key    a self-signed root that is NOT in ca.pem
#   untrusted.pem .key       leaf CN=localhost (server SANs) signed by untrusted-ca (unknown_ca)
#   nobc-ca.pem nobc-ca.key  an intermediate signed by the root WITHOUT basicConstraints
#                            (it has keyUsage keyCertSign)
#   nobc-leaf.pem .key       leaf CN=localhost (server SANs) signed by nobc-ca, followed by
#                            nobc-ca.pem: verified against ca.pem (depth >= 2) libcrypto
#                            reports INVALID_CA for nobc-ca -> missing_basic_constraint.
#                            (A CA without basicConstraints only fails as an intermediate:
#                            as a trust anchor libcrypto tolerates it, so nobc-ca is never
#                            put in a CA file.)
#   badku.pem badku.key      leaf, server SANs, EKU serverAuth, keyUsage nonRepudiation only
#                            (no digitalSignature/keyEncipherment): invalid_key_usage as a
#                            server or client certificate
#   critext.pem critext.key  like server.pem plus an unknown CRITICAL extension
#                            1.3.6.1.4.1.55555.1 (UTF8String "tlsshim"): the extension event
#   encrypted.key            server.key as encrypted PKCS#8 (AES-256-CBC), password "secret"
#   encrypted.pem            its certificate (a copy of server.pem)
#   dh.pem                   DH parameters, RFC 7919 group ffdhe2048 (PKCS#3)
#   dh1024.pem               a weak 1024-bit group (RFC 5114 1024-bit MODP) for rejection tests
#   ca.der server.der        DER copies of ca.pem and server.pem
#   server.key.der           server.key as unencrypted PKCS#8 DER
#   dh.der                   dh.pem as DER
#   mid1.pem mid1.key        intermediate CA signed by the root (CA:true, no pathlen)
#   mid2.pem mid2.key        intermediate CA signed by mid1 (CA:true, pathlen:0)
#   server-chain2.pem .key   leaf CN=localhost (server SANs) signed by mid2, then mid2.pem,
#                            mid1.pem: two intermediates between the peer and the root
#   md5.pem md5.key          like server.pem, but the root signed it with MD5
#   sha1.pem sha1.key        like server.pem, but the root signed it with SHA-1
#   rsa1024.pem .key         like server.pem (SHA-256), with its own RSA-1024 key
#                            (the three weak leaves: refused at security level 2,
#                            accepted at 0)
#   nc-ca.pem nc-ca.key      intermediate CA signed by the root (CA:true, pathlen:0) with
#                            nameConstraints critical, permitted;DNS:allowed.test
#   nc-good.pem .key         leaf CN=host.allowed.test (SAN DNS:host.allowed.test, EKU
#                            serverAuth+clientAuth) signed by nc-ca, followed by nc-ca.pem:
#                            inside the permitted subtree, valid for host.allowed.test
#   nc-bad.pem .key          as nc-good for host.other.test, followed by nc-ca.pem:
#                            outside the subtree (name_not_permitted)
#   misnamed.pem .key        leaf CN=localhost (server SANs) signed with the ROOT's key, but
#                            its Issuer DN is "CN=tlsshim misnamed CA", a name no certificate
#                            has; its authorityKeyIdentifier (keyid, and issuer + serial)
#                            names ca.pem: the issuer is known, the name does not chain
#                            (invalid_issuer)
#   misnamed-chain.pem .key  leaf CN=localhost (server SANs) signed with int.key, Issuer DN
#                            "CN=tlsshim misnamed intermediate CA", authorityKeyIdentifier
#                            naming int.pem; followed by int.pem, whose subject is not the
#                            leaf's issuer (invalid_issuer)
# All leaf keys except client.key, ecdsa/dsa/ed25519 are the same RSA key
# (server.key): reusing it is harmless for what the tests check, and fast.
set -euo pipefail
PKI_VERSION=3 # bump when a certificate is added or changed

if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
dir=$1
[ "$(cat "$dir/.done" 2>/dev/null)" = "$PKI_VERSION" ] && exit 0
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# test processes started side by side may call us at once: one makes the
# PKI, the others wait for it and find it done
exec 9>"$dir/.lock"
flock 9
[ "$(cat "$dir/.done" 2>/dev/null)" = "$PKI_VERSION" ] && exit 0
rm -f "$dir/.done"
work=$dir/.work
rm -rf "$work"
mkdir -p "$work/newcerts"
: >"$work/index.txt"
cd "$dir"

cfg=$work/openssl.cnf
cat >"$cfg" <<EOF
# one config for req, x509 -req (extensions) and ca (back-dated leaves)
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused

[ca]
default_ca = ca_default
[ca_default]
database = $work/index.txt
new_certs_dir = $work/newcerts
rand_serial = yes
default_md = sha256
policy = policy_any
unique_subject = no
email_in_dn = no
[policy_any]
commonName = supplied

[ca_ext]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[int_ext]
basicConstraints = critical, CA:true, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[mid_ext]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[nc_ext]
basicConstraints = critical, CA:true, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
nameConstraints = critical, permitted;DNS:allowed.test
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[nobc_ext]
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[server_ext]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[sign_ext]
basicConstraints = CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[nc_good_ext]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:host.allowed.test
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[nc_bad_ext]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:host.other.test
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

# the authority key identifier names the signing certificate by its issuer
# and serial as well as by key: how the reference finds a misnamed issuer
[misnamed_ext]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always, issuer:always

[client_ext]
basicConstraints = CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[wrongname_ext]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:wrong.example
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[badku_ext]
basicConstraints = CA:false
keyUsage = critical, nonRepudiation
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[critext_ext]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
1.3.6.1.4.1.55555.1 = critical, ASN1:UTF8String:tlsshim
EOF

rsa() { openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1"; }
# sign CSR_KEY SUBJECT OUT EXT ISSUER_CERT ISSUER_KEY [DIGEST (default sha256)]
# (serials are 64 random bits, as CAs must issue them: CA/B BR 7.1; testssl checks it)
sign() {
    local serial
    serial=0x$(openssl rand -hex 8)
    openssl req -new -config "$cfg" -key "$1" -subj "$2" -out "$work/req.csr"
    openssl x509 -req -in "$work/req.csr" -CA "$5" -CAkey "$6" -set_serial "$serial" \
        -days 3650 "-${7:-sha256}" -extfile "$cfg" -extensions "$4" -out "$3" 2>/dev/null
}
# alias KEY SUBJECT OUT EXT ISSUER_CERT ISSUER_KEY LIKE_CERT: as sign, with the
# serial of LIKE_CERT. A certificate made by it takes the key, issuer and serial
# of LIKE_CERT under another subject: it only signs leaves whose Issuer DN is a
# name no real CA has, while their authorityKeyIdentifier (keyid, issuer +
# serial) names LIKE_CERT. It is never kept.
alias() {
    local serial
    serial=0x$(openssl x509 -in "$7" -noout -serial | cut -d= -f2)
    openssl req -new -config "$cfg" -key "$1" -subj "$2" -out "$work/req.csr"
    openssl x509 -req -in "$work/req.csr" -CA "$5" -CAkey "$6" -set_serial "$serial" \
        -days 3650 -sha256 -extfile "$cfg" -extensions "$4" -out "$3" 2>/dev/null
}
# selfsign KEY SUBJECT OUT
selfsign() {
    openssl req -new -x509 -config "$cfg" -key "$1" -subj "$2" -days 7300 -sha256 \
        -extensions ca_ext -out "$3"
}
# backdate KEY SUBJECT OUT START END: a server-like leaf with explicit validity
backdate() {
    openssl req -new -config "$cfg" -key "$1" -subj "$2" -out "$work/req.csr"
    openssl ca -batch -config "$cfg" -cert ca.pem -keyfile ca.key -in "$work/req.csr" \
        -startdate "$4" -enddate "$5" -extfile "$cfg" -extensions server_ext -notext -out "$3" \
        2>/dev/null
}

# keys
rsa ca.key
rsa int.key
rsa untrusted-ca.key
rsa nobc-ca.key
rsa server.key
rsa client.key
rsa mid1.key
rsa mid2.key
rsa nc-ca.key
openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out rsa1024.key
openssl genpkey -quiet -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:named_curve \
    -out ecdsa.key
openssl genpkey -quiet -genparam -algorithm DSA -pkeyopt dsa_paramgen_bits:2048 \
    -pkeyopt dsa_paramgen_q_bits:256 -out "$work/dsa-params.pem"
openssl genpkey -quiet -paramfile "$work/dsa-params.pem" -out dsa.key
openssl genpkey -quiet -algorithm ED25519 -out ed25519.key
for k in server-chain server-chain2 md5 sha1 expired notyet wrongname untrusted nobc-leaf badku critext \
    nc-good nc-bad misnamed misnamed-chain; do
    cp server.key "$k.key"
done

# CAs
selfsign ca.key "/CN=tlsshim test root CA" ca.pem
selfsign untrusted-ca.key "/CN=tlsshim untrusted CA" untrusted-ca.pem
sign int.key "/CN=tlsshim test intermediate CA" int.pem int_ext ca.pem ca.key
sign nobc-ca.key "/CN=tlsshim CA without basicConstraints" nobc-ca.pem nobc_ext ca.pem ca.key
sign mid1.key "/CN=tlsshim test intermediate CA 1 of 2" mid1.pem mid_ext ca.pem ca.key
sign mid2.key "/CN=tlsshim test intermediate CA 2 of 2" mid2.pem int_ext mid1.pem mid1.key
sign nc-ca.key "/CN=tlsshim name-constrained CA" nc-ca.pem nc_ext ca.pem ca.key
cat ca.pem int.pem >ca-bundle.pem
# the misnamed issuers: the root's and int's keys, issuers and serials
alias ca.key "/CN=tlsshim misnamed CA" "$work/misnamed-ca.pem" ca_ext ca.pem ca.key ca.pem
alias int.key "/CN=tlsshim misnamed intermediate CA" "$work/misnamed-int.pem" int_ext ca.pem ca.key int.pem

# leaves
sign server.key "/CN=localhost" server.pem server_ext ca.pem ca.key
sign server.key "/CN=localhost" "$work/chain-leaf.pem" server_ext int.pem int.key
cat "$work/chain-leaf.pem" int.pem >server-chain.pem
sign server.key "/CN=localhost" "$work/chain2-leaf.pem" server_ext mid2.pem mid2.key
cat "$work/chain2-leaf.pem" mid2.pem mid1.pem >server-chain2.pem
sign server.key "/CN=localhost" md5.pem server_ext ca.pem ca.key md5
sign server.key "/CN=localhost" sha1.pem server_ext ca.pem ca.key sha1
sign rsa1024.key "/CN=localhost" rsa1024.pem server_ext ca.pem ca.key
sign ecdsa.key "/CN=localhost" ecdsa.pem sign_ext ca.pem ca.key
sign dsa.key "/CN=localhost" dsa.pem sign_ext ca.pem ca.key
sign ed25519.key "/CN=localhost" ed25519.pem sign_ext ca.pem ca.key
sign client.key "/CN=client" client.pem client_ext ca.pem ca.key
sign server.key "/CN=wrong.example" wrongname.pem wrongname_ext ca.pem ca.key
sign server.key "/CN=localhost" untrusted.pem server_ext untrusted-ca.pem untrusted-ca.key
sign server.key "/CN=localhost" "$work/nobc-leaf.pem" server_ext nobc-ca.pem nobc-ca.key
cat "$work/nobc-leaf.pem" nobc-ca.pem >nobc-leaf.pem
sign server.key "/CN=localhost" badku.pem badku_ext ca.pem ca.key
sign server.key "/CN=localhost" critext.pem critext_ext ca.pem ca.key
sign server.key "/CN=host.allowed.test" "$work/nc-good-leaf.pem" nc_good_ext nc-ca.pem nc-ca.key
cat "$work/nc-good-leaf.pem" nc-ca.pem >nc-good.pem
sign server.key "/CN=host.other.test" "$work/nc-bad-leaf.pem" nc_bad_ext nc-ca.pem nc-ca.key
cat "$work/nc-bad-leaf.pem" nc-ca.pem >nc-bad.pem
sign server.key "/CN=localhost" misnamed.pem misnamed_ext "$work/misnamed-ca.pem" ca.key
sign server.key "/CN=localhost" "$work/misnamed-chain-leaf.pem" misnamed_ext "$work/misnamed-int.pem" int.key
cat "$work/misnamed-chain-leaf.pem" int.pem >misnamed-chain.pem
backdate server.key "/CN=localhost" expired.pem 20200101000000Z 20210101000000Z
backdate server.key "/CN=localhost" notyet.pem 20990101000000Z 21000101000000Z

# encrypted key
openssl pkcs8 -topk8 -v2 aes-256-cbc -passout pass:secret -in server.key -out encrypted.key
cp server.pem encrypted.pem

# DH parameters: named groups are instant (no prime search)
openssl genpkey -quiet -genparam -algorithm DH -pkeyopt group:ffdhe2048 -out dh.pem
openssl genpkey -quiet -genparam -algorithm DH -pkeyopt group:dh_1024_160 -out dh1024.pem

# DER copies
openssl x509 -in ca.pem -outform DER -out ca.der
openssl x509 -in server.pem -outform DER -out server.der
openssl pkey -in server.key -outform DER -out server.key.der
openssl dhparam -in dh.pem -outform DER -out dh.der 2>/dev/null

chmod 600 ./*.key ./*.key.der
rm -rf "$work"
echo "$PKI_VERSION" >.done
