/* Security review regressions: each test here failed before its fix. */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "cert.h"
#include "engine.h"
#include "lib/pair.h"

/* ---- a throwaway PKI made in memory ------------------------------------- */

static EVP_PKEY *ec_key(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    cr_assert_not_null(k);
    return k;
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v;
    X509V3_set_ctx(&v, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v, nid, value);
    cr_assert_not_null(ext);
    cr_assert(X509_add_ext(x, ext, -1));
    X509_EXTENSION_free(ext);
}

/* A certificate for `key` named `cn`, signed by issuer_key (self-signed when
 * issuer is NULL); a CA unless `leaf`. */
static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, bool leaf)
{
    X509 *x = X509_new();
    cr_assert_not_null(x);
    X509_set_version(x, 2);
    static long serial = 1000;
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509_set_pubkey(x, key);
    X509 *iss = issuer ? issuer : x;
    if (leaf) {
        add_ext(x, iss, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(x, iss, NID_ext_key_usage, "serverAuth,clientAuth");
        add_ext(x, iss, NID_subject_alt_name, "DNS:localhost");
    } else {
        add_ext(x, iss, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
    }
    cr_assert(X509_sign(x, issuer_key, EVP_sha256()) > 0);
    return x;
}

typedef struct chain_der {
    uint8_t *der[8];
    size_t len[8];
    size_t n;
} chain_der;

static void chain_add(chain_der *c, X509 *x)
{
    cr_assert_lt(c->n, 8);
    uint8_t *p = NULL;
    int l = i2d_X509(x, &p);
    cr_assert_gt(l, 0);
    c->der[c->n] = p;
    c->len[c->n++] = (size_t)l;
}

static void chain_free_der(chain_der *c)
{
    for (size_t i = 0; i < c->n; i++)
        OPENSSL_free(c->der[i]);
    c->n = 0;
}

/* A fun that tolerates long chains and nothing else that is wrong. */
static tls_verify_result long_chains_ok(const uint8_t *der, size_t len, int depth, const tls_verify_event *ev,
                                        void *state, tls_bad_cert *why)
{
    (void)der, (void)len, (void)depth, (void)state;
    if (ev->kind == TLS_EVENT_BAD_CERT) {
        if (ev->reason == TLS_BAD_CERT_MAX_PATH_LENGTH)
            return TLS_VF_VALID;
        *why = ev->reason;
        return TLS_VF_FAIL;
    }
    return ev->kind == TLS_EVENT_EXTENSION ? TLS_VF_UNKNOWN : TLS_VF_VALID;
}

/* A guard, not a bug found: an attacker's own chain (self-made root, never trusted), longer than
 * libcrypto's depth limit: libcrypto stops at the limit and reports only
 * "chain too long", never "unknown CA". A verify fun that accepts long
 * chains must still see the chain is not anchored in the trust store. */
Test(review_cert, long_untrusted_chain_is_not_trusted_when_max_path_length_is_forgiven)
{
    /* the trust store: the test PKI's root, unrelated to the chain below */
    tls_options o;
    tls_options_init(&o);
    o.cacertfile = pki("ca.pem");
    X509_STORE *store;
    size_t n;
    tls_error err;
    cr_assert_eq(tls_ca_load(&o, &store, &n, &err), TLS_OK, "%s", err.detail);

    EVP_PKEY *k[6];
    X509 *x[6];
    for (int i = 0; i < 6; i++)
        k[i] = ec_key();
    x[0] = make_cert("evil root", k[0], NULL, k[0], false);
    for (int i = 1; i < 5; i++) {
        char cn[32];
        snprintf(cn, sizeof cn, "evil int %d", i);
        x[i] = make_cert(cn, k[i], x[i - 1], k[i - 1], false);
    }
    x[5] = make_cert("localhost", k[5], x[4], k[4], true);

    for (int depth = 0; depth <= 3; depth++) {
        chain_der c = {0};
        for (int i = 5; i >= 0; i--)
            chain_add(&c, x[i]);
        tls_verify_ctx v = {.store = store,
                            .depth = depth,
                            .verify = TLS_VERIFY_PEER,
                            .fun = long_chains_ok,
                            .hostname = "localhost",
                            .peer_is_server = true};
        tls_err_clear(&err);
        int rc = tls_verify_chain(&v, (const uint8_t *const *)c.der, c.len, c.n, &err);
        cr_assert_eq(rc, TLS_E_BAD_CERT, "depth %d: an untrusted chain was accepted", depth);
        cr_assert_eq(err.bad_cert, TLS_BAD_CERT_UNKNOWN_CA, "depth %d: %s (%s)", depth,
                     tls_bad_cert_name(err.bad_cert), err.detail);
        /* without the self-made root as well */
        chain_free_der(&c);
        for (int i = 5; i >= 1; i--)
            chain_add(&c, x[i]);
        tls_err_clear(&err);
        rc = tls_verify_chain(&v, (const uint8_t *const *)c.der, c.len, c.n, &err);
        cr_assert_eq(rc, TLS_E_BAD_CERT, "depth %d (no root sent): an untrusted chain was accepted", depth);
        cr_assert_eq(err.bad_cert, TLS_BAD_CERT_UNKNOWN_CA, "depth %d (no root sent): %s (%s)", depth,
                     tls_bad_cert_name(err.bad_cert), err.detail);
        chain_free_der(&c);
    }
    for (int i = 0; i < 6; i++) {
        X509_free(x[i]);
        EVP_PKEY_free(k[i]);
    }
    X509_STORE_free(store);
}
