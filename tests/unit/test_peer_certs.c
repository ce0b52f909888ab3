/* peer_certs.c: the peer's certificates are parsed once and the parse is
 * shared, but trust is never cached: every handshake validates again. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert.h"
#include "lib/pair.h"

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    uint8_t *buf = malloc(1 << 16);
    *len = fread(buf, 1, 1 << 16, f);
    fclose(f);
    return buf;
}

Test(peer_certs, same_bytes_give_the_same_parsed_certificate)
{
    size_t len;
    uint8_t *der = read_all(pki("server.der"), &len);
    X509 *a = tls_peer_x509(der, len), *b = tls_peer_x509(der, len);
    cr_assert(a && b);
    cr_assert_eq(a, b, "the second parse of the same bytes should come from the cache");
    cr_assert(X509_get0_pubkey(a), "the public key is decoded once, with the certificate");
    X509_free(a);
    X509_free(b);
    free(der);
}

Test(peer_certs, other_bytes_are_never_matched)
{
    size_t len, clen;
    uint8_t *der = read_all(pki("server.der"), &len), *ca = read_all(pki("ca.der"), &clen);
    X509 *a = tls_peer_x509(der, len), *b = tls_peer_x509(ca, clen);
    cr_assert(a && b);
    cr_assert_neq(a, b);
    X509_free(a);
    X509_free(b);
    /* one flipped byte in the signature: a different certificate, parsed afresh */
    der[len - 1] ^= 1;
    X509 *c = tls_peer_x509(der, len);
    X509 *d = tls_peer_x509(der, len - 1); /* a cut certificate does not parse */
    cr_assert(c);
    cr_assert_null(d);
    der[len - 1] ^= 1;
    X509 *e = tls_peer_x509(der, len);
    cr_assert_neq(c, e);
    X509_free(c);
    X509_free(e);
    free(der);
    free(ca);
}

static tls_config *client_trusting(const char *ca)
{
    tls_options o;
    tls_options_init(&o);
    o.verify = TLS_VERIFY_PEER;
    o.cacertfile = pki(ca);
    o.server_name = "localhost";
    return cfg_or_die(&o, false);
}

/* The server's certificate is cached by the first client; a client that
 * trusts another CA must still refuse it, and one that trusts ours accept it. */
Test(peer_certs, trust_is_decided_per_handshake)
{
    tls_config *sc, *good = client_trusting("ca.pem"), *other = client_trusting("untrusted-ca.pem");
    tls_engine *s0 = server_or_die(NULL, 0, &sc);
    tls_engine_free(s0);
    for (int round = 0; round < 2; round++) {
        tls_engine *c, *s;
        cr_assert(pair_connect(good, sc, &c, &s), "round %d: the trusted chain is accepted", round);
        tls_engine_free(c);
        tls_engine_free(s);
        cr_assert_not(pair_connect(other, sc, &c, &s), "round %d: a cached certificate is still checked",
                      round);
        cr_assert_eq(tls_engine_verify_result(c), TLS_BAD_CERT_UNKNOWN_CA);
        tls_engine_free(c);
        tls_engine_free(s);
    }
    tls_config_free(good);
    tls_config_free(other);
    tls_config_free(sc);
}
