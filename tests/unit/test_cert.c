/* cert.c: loading credentials, CA stores and DH parameters from the seed's
 * options, and chain validation mapped onto the seed's verify_fun events.
 * Uses the test PKI of tests/pki/gen.sh (see the list at its top): $PKI if
 * set, else a fresh one generated into a temporary directory. */
#include <criterion/criterion.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cert.h"
#include "err.h"
#include "lib/pair.h"

/* ---- the PKI -------------------------------------------------------------- */

static char pki_path[1024];
static char pki_tmp[1024]; /* set when we generated it and must remove it */

static bool find_gen(char *out, size_t len)
{
    const char *top = getenv("TOP");
    if (top) {
        snprintf(out, len, "%s/tests/pki/gen.sh", top);
        if (access(out, X_OK) == 0)
            return true;
    }
    const char *ups[] = {".", "..", "../..", "../../.."};
    for (size_t i = 0; i < sizeof ups / sizeof *ups; i++) {
        snprintf(out, len, "%s/tests/pki/gen.sh", ups[i]);
        if (access(out, X_OK) == 0)
            return true;
    }
    return false;
}

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    (void)set;
    const char *env = getenv("PKI");
    if (env && *env) {
        snprintf(pki_path, sizeof pki_path, "%s", env);
    } else {
        char gen[PATH_MAX];
        if (!find_gen(gen, sizeof gen)) {
            fprintf(stderr, "test_cert: tests/pki/gen.sh not found (set TOP or PKI)\n");
            exit(1);
        }
        snprintf(pki_tmp, sizeof pki_tmp, "/tmp/tlsshim-pki-XXXXXX");
        if (!mkdtemp(pki_tmp)) {
            perror("mkdtemp");
            exit(1);
        }
        char cmd[2 * PATH_MAX + 32];
        snprintf(cmd, sizeof cmd, "'%s' '%s' >/dev/null", gen, pki_tmp);
        if (system(cmd) != 0) {
            fprintf(stderr, "test_cert: %s failed\n", cmd);
            exit(1);
        }
        snprintf(pki_path, sizeof pki_path, "%s", pki_tmp);
    }
    /* forked test processes see it too */
    setenv("TLSSHIM_TEST_PKI", pki_path, 1);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    (void)stats;
    if (pki_tmp[0]) {
        char cmd[PATH_MAX + 16];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", pki_tmp);
        if (system(cmd) != 0)
            fprintf(stderr, "test_cert: could not remove %s\n", pki_tmp);
    }
}

/* "DIR/name"; a few rotating buffers so that several can be alive at once */
static const char *P(const char *name)
{
    static char bufs[8][PATH_MAX];
    static int next;
    char *b = bufs[next++ % 8];
    const char *dir = pki_path[0] ? pki_path : getenv("TLSSHIM_TEST_PKI");
    cr_assert(dir && strlen(dir) < 1024, "no PKI directory");
    cr_assert(dir, "no PKI directory");
    snprintf(b, PATH_MAX, "%.1000s/%.200s", dir, name);
    return b;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    cr_assert_gt(n, 0);
    rewind(f);
    uint8_t *b = malloc((size_t)n);
    cr_assert(b);
    cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* a chain of DER certificates from a PEM file */
typedef struct chain {
    uint8_t *der[8];
    size_t len[8];
    size_t n;
} chain;

static void chain_load(chain *c, const char *file)
{
    memset(c, 0, sizeof *c);
    BIO *b = BIO_new_file(P(file), "r");
    cr_assert(b, "cannot open %s", file);
    X509 *x;
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        cr_assert_lt(c->n, 8);
        int l = i2d_X509(x, &c->der[c->n]);
        cr_assert_gt(l, 0);
        c->len[c->n++] = (size_t)l;
        X509_free(x);
    }
    ERR_clear_error();
    BIO_free(b);
    cr_assert_gt(c->n, 0, "no certificate in %s", file);
}

static void chain_free(chain *c)
{
    for (size_t i = 0; i < c->n; i++)
        OPENSSL_free(c->der[i]);
    c->n = 0;
}

static void opts(tls_options *o)
{
    memset(o, 0, sizeof *o);
    o->depth = 1;
    o->security_level = 2; /* the engine's default */
}

static void err_init(tls_error *e)
{
    memset(e, 0, sizeof *e);
    e->alert = -1;
}

/* ---- loading our credentials ---------------------------------------------- */

Test(cert_load, server_pem_and_key)
{
    tls_options o;
    opts(&o);
    o.certfile = P("server.pem");
    o.keyfile = P("server.key");
    tls_cred c;
    tls_error e;
    err_init(&e);
    cr_assert_eq(tls_cred_load(&o, &c, &e), TLS_OK, "%s", e.detail);
    cr_assert_eq(c.n, 1);
    cr_assert_eq(sk_X509_num(c.chain), 1);
    cr_assert(EVP_PKEY_is_a(c.key, "RSA"));
    cr_assert_eq(EVP_PKEY_get_bits(c.key), 2048);
    /* the DER kept for the Certificate message is the file's certificate */
    size_t dl;
    uint8_t *d = slurp(P("server.der"), &dl);
    cr_assert_eq(c.der_len[0], dl);
    cr_assert_arr_eq(c.der[0], d, dl);
    free(d);
    tls_cred_free(&c);
    cr_assert_null(c.chain);
    cr_assert_null(c.key);
    tls_cred_free(&c); /* twice is harmless */
}

Test(cert_load, every_leaf_of_the_pki)
{
    static const struct {
        const char *name;
        const char *type;
        size_t n;
    } leaves[] = {
        {"server", "RSA", 1},    {"server-chain", "RSA", 2}, {"ecdsa", "EC", 1},     {"dsa", "DSA", 1},
        {"ed25519", "ED25519", 1}, {"client", "RSA", 1},     {"expired", "RSA", 1},  {"notyet", "RSA", 1},
        {"wrongname", "RSA", 1}, {"untrusted", "RSA", 1},    {"nobc-leaf", "RSA", 2}, {"badku", "RSA", 1},
        {"critext", "RSA", 1},   {"ca", "RSA", 1},           {"int", "RSA", 1},      {"untrusted-ca", "RSA", 1},
    };
    for (size_t i = 0; i < sizeof leaves / sizeof *leaves; i++) {
        char cert[64], key[64];
        snprintf(cert, sizeof cert, "%s.pem", leaves[i].name);
        snprintf(key, sizeof key, "%s.key", leaves[i].name);
        tls_options o;
        opts(&o);
        o.certfile = P(cert);
        o.keyfile = P(key);
        tls_cred c;
        tls_error e;
        err_init(&e);
        cr_assert_eq(tls_cred_load(&o, &c, &e), TLS_OK, "%s: %s", cert, e.detail);
        cr_assert_eq(c.n, leaves[i].n, "%s", cert);
        cr_assert(EVP_PKEY_is_a(c.key, leaves[i].type), "%s is not %s", key, leaves[i].type);
        for (size_t k = 0; k < c.n; k++)
            cr_assert_gt(c.der_len[k], 100);
        tls_cred_free(&c);
    }
}

/* keyfile defaults to certfile: one PEM file with the certificate and the key */
Test(cert_load, keyfile_defaults_to_certfile)
{
    char tmp[] = "/tmp/tlsshim-combined-XXXXXX";
    int fd = mkstemp(tmp);
    cr_assert_geq(fd, 0);
    size_t l1, l2;
    uint8_t *a = slurp(P("server-chain.pem"), &l1);
    uint8_t *b = slurp(P("server.key"), &l2);
    cr_assert_eq(write(fd, a, l1), (ssize_t)l1);
    cr_assert_eq(write(fd, b, l2), (ssize_t)l2);
    close(fd);
    free(a);
    free(b);
    tls_options o;
    opts(&o);
    o.certfile = tmp;
    tls_cred c;
    tls_error e;
    err_init(&e);
    int rc = tls_cred_load(&o, &c, &e);
    unlink(tmp);
    cr_assert_eq(rc, TLS_OK, "%s", e.detail);
    cr_assert_eq(c.n, 2, "leaf and intermediate, the key block skipped");
    tls_cred_free(&c);
}

Test(cert_load, encrypted_key_right_password)
{
    tls_options o;
    opts(&o);
    o.certfile = P("encrypted.pem");
    o.keyfile = P("encrypted.key");
    o.password = "secret";
    tls_cred c;
    tls_error e;
    err_init(&e);
    cr_assert_eq(tls_cred_load(&o, &c, &e), TLS_OK, "%s", e.detail);
    cr_assert(EVP_PKEY_is_a(c.key, "RSA"));
    tls_cred_free(&c);
}

Test(cert_load, encrypted_key_wrong_password)
{
    tls_options o;
    opts(&o);
    o.certfile = P("encrypted.pem");
    o.keyfile = P("encrypted.key");
    o.password = "Secret";
    tls_cred c;
    tls_error e;
    err_init(&e);
    cr_assert_eq(tls_cred_load(&o, &c, &e), TLS_E_CONFIG);
    cr_assert_eq(e.code, TLS_E_CONFIG);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "keyfile %s: wrong password or not a private key", o.keyfile);
    cr_assert_str_eq(e.detail, want);
    cr_assert_null(c.chain, "nothing left behind on failure");
    cr_assert_null(c.key);
}

/* no password configured: fails without prompting on a terminal */
Test(cert_load, encrypted_key_missing_password)
{
    tls_options o;
    opts(&o);
    o.certfile = P("encrypted.pem");
    o.keyfile = P("encrypted.key");
    tls_cred c;
    tls_error e;
    err_init(&e);
    cr_assert_eq(tls_cred_load(&o, &c, &e), TLS_E_CONFIG);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "keyfile %s: the key is encrypted and no password is set", o.keyfile);
    cr_assert_str_eq(e.detail, want);
}

/* a password given for a plain key is not needed and does no harm */
Test(cert_load, password_for_plain_key)
{
    tls_options o;
    opts(&o);
    o.certfile = P("server.pem");
    o.keyfile = P("server.key");
    o.password = "secret";
    tls_cred c;
    tls_error e;
    err_init(&e);
    cr_assert_eq(tls_cred_load(&o, &c, &e), TLS_OK, "%s", e.detail);
    tls_cred_free(&c);
}

Test(cert_load, mismatched_key)
{
    tls_options o;
    opts(&o);
    o.certfile = P("server.pem");
    o.keyfile = P("client.key");
    tls_cred c;
    tls_error e;
    err_init(&e);
    cr_assert_eq(tls_cred_load(&o, &c, &e), TLS_E_CONFIG);
    char want[2 * PATH_MAX + 64];
    snprintf(want, sizeof want, "keyfile %s does not match the certificate of certfile %s", o.keyfile,
             o.certfile);
    cr_assert_str_eq(e.detail, want);
    /* a key of another type does not match either */
    o.keyfile = P("ecdsa.key");
    cr_assert_eq(tls_cred_load(&o, &c, &e), TLS_E_CONFIG);
    cr_assert(strstr(e.detail, "does not match"), "%s", e.detail);
}

Test(cert_load, missing_files)
{
    tls_options o;
    opts(&o);
    o.certfile = P("nonexistent.pem");
    tls_cred c;
    tls_error e;
    err_init(&e);
    cr_assert_eq(tls_cred_load(&o, &c, &e), TLS_E_CONFIG);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "certfile %s: No such file or directory", o.certfile);
    cr_assert_str_eq(e.detail, want);

    o.certfile = P("server.pem");
    o.keyfile = P("nonexistent.key");
    cr_assert_eq(tls_cred_load(&o, &c, &e), TLS_E_CONFIG);
    snprintf(want, sizeof want, "keyfile %s: No such file or directory", o.keyfile);
    cr_assert_str_eq(e.detail, want);

    o.certfile = pki_path[0] ? pki_path : getenv("TLSSHIM_TEST_PKI"); /* a directory */
    o.keyfile = NULL;
    cr_assert_eq(tls_cred_load(&o, &c, &e), TLS_E_CONFIG);
    snprintf(want, sizeof want, "certfile %s: Is a directory", o.certfile);
    cr_assert_str_eq(e.detail, want);
}

Test(cert_load, files_without_the_expected_content)
{
    tls_options o;
    opts(&o);
    o.certfile = P("server.key"); /* a key, no certificate */
    tls_cred c;
    tls_error e;
    err_init(&e);
    cr_assert_eq(tls_cred_load(&o, &c, &e), TLS_E_CONFIG);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "certfile %s: no certificate found", o.certfile);
    cr_assert_str_eq(e.detail, want);

    /* certfile alone without a key in it */
    o.certfile = P("server.pem");
    cr_assert_eq(tls_cred_load(&o, &c, &e), TLS_E_CONFIG);
    snprintf(want, sizeof want, "certfile %s: no private key found", o.certfile);
    cr_assert_str_eq(e.detail, want);

    o.keyfile = P("dh.pem");
    cr_assert_eq(tls_cred_load(&o, &c, &e), TLS_E_CONFIG);
    snprintf(want, sizeof want, "keyfile %s: no private key found", o.keyfile);
    cr_assert_str_eq(e.detail, want);
}

Test(cert_load, der_options)
{
    size_t cl, kl;
    uint8_t *cd = slurp(P("server.der"), &cl);
    uint8_t *kd = slurp(P("server.key.der"), &kl);
    tls_options o;
    opts(&o);
    o.cert = cd;
    o.cert_len = cl;
    o.key = kd;
    o.key_len = kl;
    o.certfile = P("client.pem"); /* overridden by the DER options */
    o.keyfile = P("client.key");
    tls_cred c;
    tls_error e;
    err_init(&e);
    cr_assert_eq(tls_cred_load(&o, &c, &e), TLS_OK, "%s", e.detail);
    cr_assert_eq(c.n, 1);
    cr_assert_eq(c.der_len[0], cl);
    cr_assert_arr_eq(c.der[0], cd, cl);
    tls_cred_free(&c);

    /* DER files named by certfile / keyfile work too */
    opts(&o);
    o.certfile = P("server.der");
    o.keyfile = P("server.key.der");
    cr_assert_eq(tls_cred_load(&o, &c, &e), TLS_OK, "%s", e.detail);
    tls_cred_free(&c);

    /* a DER certificate and no key at all */
    opts(&o);
    o.cert = cd;
    o.cert_len = cl;
    cr_assert_eq(tls_cred_load(&o, &c, &e), TLS_E_CONFIG);
    cr_assert_str_eq(e.detail, "cert (DER) given without key or keyfile");

    /* truncated DER certificate */
    o.cert_len = cl - 1;
    o.key = kd;
    o.key_len = kl;
    cr_assert_eq(tls_cred_load(&o, &c, &e), TLS_E_CONFIG);
    cr_assert_str_eq(e.detail, "cert (DER): not a DER certificate");

    /* a DER key that is garbage */
    o.cert_len = cl;
    o.key_len = 10;
    cr_assert_eq(tls_cred_load(&o, &c, &e), TLS_E_CONFIG);
    cr_assert_str_eq(e.detail, "key (DER): no private key found");
    o.password = "secret";
    cr_assert_eq(tls_cred_load(&o, &c, &e), TLS_E_CONFIG);
    cr_assert_str_eq(e.detail, "key (DER): wrong password or not a private key");

    /* a key without a certificate */
    opts(&o);
    o.keyfile = P("server.key");
    cr_assert_eq(tls_cred_load(&o, &c, &e), TLS_E_CONFIG);
    cr_assert(strstr(e.detail, "a key without cert or certfile"), "%s", e.detail);
    free(cd);
    free(kd);
}

Test(cert_load, nothing_configured)
{
    tls_options o;
    opts(&o);
    tls_cred c;
    tls_error e;
    err_init(&e);
    cr_assert_eq(tls_cred_load(&o, &c, &e), TLS_OK);
    cr_assert_null(c.chain);
    cr_assert_null(c.key);
    cr_assert_eq(c.n, 0);
    tls_cred_free(&c);
}

/* ---- CA stores ------------------------------------------------------------ */

Test(cert_ca, files_and_der)
{
    tls_options o;
    opts(&o);
    X509_STORE *s;
    size_t n;
    tls_error e;
    err_init(&e);

    o.cacertfile = P("ca-bundle.pem");
    cr_assert_eq(tls_ca_load(&o, &s, &n, &e), TLS_OK, "%s", e.detail);
    cr_assert_eq(n, 2);
    X509_STORE_free(s);

    o.cacertfile = P("ca.der");
    cr_assert_eq(tls_ca_load(&o, &s, &n, &e), TLS_OK, "%s", e.detail);
    cr_assert_eq(n, 1);
    X509_STORE_free(s);

    size_t l1, l2;
    uint8_t *d1 = slurp(P("ca.der"), &l1);
    uint8_t *d2 = slurp(P("server.der"), &l2);
    const uint8_t *ders[2] = {d1, d2};
    size_t lens[2] = {l1, l2};
    o.cacerts = ders;
    o.cacerts_len = lens;
    o.n_cacerts = 2;
    cr_assert_eq(tls_ca_load(&o, &s, &n, &e), TLS_OK, "%s", e.detail);
    cr_assert_eq(n, 2);
    X509_STORE_free(s);

    lens[1] = l2 - 1; /* truncated */
    cr_assert_eq(tls_ca_load(&o, &s, &n, &e), TLS_E_CONFIG);
    cr_assert_str_eq(e.detail, "cacerts[1]: not a DER certificate");
    cr_assert_null(s);
    free(d1);
    free(d2);
}

Test(cert_ca, failures_and_empty)
{
    tls_options o;
    opts(&o);
    X509_STORE *s;
    size_t n = 7;
    tls_error e;
    err_init(&e);
    cr_assert_eq(tls_ca_load(&o, &s, &n, &e), TLS_OK);
    cr_assert_not_null(s, "an empty store, not NULL");
    cr_assert_eq(n, 0);
    X509_STORE_free(s);

    o.cacertfile = P("missing-ca.pem");
    cr_assert_eq(tls_ca_load(&o, &s, &n, &e), TLS_E_CONFIG);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "cacertfile %s: No such file or directory", o.cacertfile);
    cr_assert_str_eq(e.detail, want);

    o.cacertfile = P("dh.pem");
    cr_assert_eq(tls_ca_load(&o, &s, &n, &e), TLS_E_CONFIG);
    snprintf(want, sizeof want, "cacertfile %s: no certificate found", o.cacertfile);
    cr_assert_str_eq(e.detail, want);
}

/* ---- DH parameters -------------------------------------------------------- */

Test(cert_dh, pem_der_and_weak)
{
    tls_options o;
    opts(&o);
    EVP_PKEY *p;
    tls_error e;
    err_init(&e);
    cr_assert_eq(tls_dh_load(&o, &p, &e), TLS_OK);
    cr_assert_null(p, "nothing configured: no parameters");

    o.dhfile = P("dh.pem");
    cr_assert_eq(tls_dh_load(&o, &p, &e), TLS_OK, "%s", e.detail);
    cr_assert(EVP_PKEY_is_a(p, "DH"));
    cr_assert_eq(EVP_PKEY_get_bits(p), 2048);
    EVP_PKEY_free(p);

    o.dhfile = P("dh.der");
    cr_assert_eq(tls_dh_load(&o, &p, &e), TLS_OK, "%s", e.detail);
    cr_assert_eq(EVP_PKEY_get_bits(p), 2048);
    EVP_PKEY_free(p);

    size_t l;
    uint8_t *d = slurp(P("dh.der"), &l);
    o.dhfile = P("dh1024.pem"); /* overridden */
    o.dh = d;
    o.dh_len = l;
    cr_assert_eq(tls_dh_load(&o, &p, &e), TLS_OK, "%s", e.detail);
    cr_assert_eq(EVP_PKEY_get_bits(p), 2048);
    EVP_PKEY_free(p);
    o.dh_len = l - 1;
    cr_assert_eq(tls_dh_load(&o, &p, &e), TLS_E_CONFIG);
    cr_assert_str_eq(e.detail, "dh (DER): no DH parameters found");
    cr_assert_null(p);
    free(d);

    opts(&o);
    o.dhfile = P("dh1024.pem");
    cr_assert_eq(tls_dh_load(&o, &p, &e), TLS_E_CONFIG);
    char want[PATH_MAX + 80];
    snprintf(want, sizeof want,
             "dhfile %s: the DH group has 1024 bits, refused at security level 2 (at least 2048)", o.dhfile);
    cr_assert_str_eq(e.detail, want);

    o.dhfile = P("server.pem");
    cr_assert_eq(tls_dh_load(&o, &p, &e), TLS_E_CONFIG);
    snprintf(want, sizeof want, "dhfile %s: no DH parameters found", o.dhfile);
    cr_assert_str_eq(e.detail, want);

    o.dhfile = P("nonexistent-dh.pem");
    cr_assert_eq(tls_dh_load(&o, &p, &e), TLS_E_CONFIG);
    snprintf(want, sizeof want, "dhfile %s: No such file or directory", o.dhfile);
    cr_assert_str_eq(e.detail, want);
}

/* The DH group is held to the security level as OpenSSL holds it: 80 bits
 * (1024) at level 1, 112 (2048) at 2, 128 (3072) at 3; level 0 takes any. */
Test(cert_dh, security_level)
{
    tls_options o;
    opts(&o);
    EVP_PKEY *p;
    tls_error e;
    err_init(&e);
    o.dhfile = P("dh1024.pem");
    for (int level = 0; level <= 1; level++) {
        o.security_level = level;
        cr_assert_eq(tls_dh_load(&o, &p, &e), TLS_OK, "level %d: %s", level, e.detail);
        cr_assert_eq(EVP_PKEY_get_bits(p), 1024);
        EVP_PKEY_free(p);
    }
    o.dhfile = P("dh.pem");
    o.security_level = 3;
    cr_assert_eq(tls_dh_load(&o, &p, &e), TLS_E_CONFIG);
    cr_assert_null(p);
    cr_assert(strstr(e.detail, ": the DH group has 2048 bits, refused at security level 3 (at least 3072)"), "%s",
              e.detail);
}

/* ---- tls_cert_pubkey ------------------------------------------------------- */

Test(cert_pubkey, parse)
{
    size_t l;
    uint8_t *d = slurp(P("server.der"), &l);
    EVP_PKEY *k = tls_cert_pubkey(d, l);
    cr_assert_not_null(k);
    cr_assert(EVP_PKEY_is_a(k, "RSA"));
    /* the same public key as the private key of server.key.der */
    size_t kl;
    uint8_t *kd = slurp(P("server.key.der"), &kl);
    const uint8_t *q = kd;
    EVP_PKEY *priv = d2i_AutoPrivateKey(NULL, &q, (long)kl);
    cr_assert_not_null(priv);
    cr_assert_eq(EVP_PKEY_eq(k, priv), 1);
    EVP_PKEY_free(priv);
    EVP_PKEY_free(k);
    cr_assert_null(tls_cert_pubkey(d, l - 1), "truncated");
    uint8_t *longer = malloc(l + 1);
    memcpy(longer, d, l);
    longer[l] = 0;
    cr_assert_null(tls_cert_pubkey(longer, l + 1), "trailing byte");
    cr_assert_null(tls_cert_pubkey(NULL, 0));
    free(longer);
    free(kd);
    free(d);
}

/* ---- the default verify funs ---------------------------------------------- */

Test(cert_verify_fun, defaults)
{
    static const tls_bad_cert reasons[] = {
        TLS_BAD_CERT_CERT_EXPIRED,        TLS_BAD_CERT_INVALID_ISSUER,        TLS_BAD_CERT_INVALID_SIGNATURE,
        TLS_BAD_CERT_UNKNOWN_CA,          TLS_BAD_CERT_NAME_NOT_PERMITTED,    TLS_BAD_CERT_MISSING_BASIC_CONSTRAINT,
        TLS_BAD_CERT_INVALID_KEY_USAGE,   TLS_BAD_CERT_HOSTNAME_CHECK_FAILED, TLS_BAD_CERT_MAX_PATH_LENGTH,
    };
    for (size_t i = 0; i < sizeof reasons / sizeof *reasons; i++) {
        tls_verify_event ev = {.kind = TLS_EVENT_BAD_CERT, .reason = reasons[i]};
        tls_bad_cert why = TLS_BAD_CERT_NONE;
        cr_assert_eq(tls_verify_fun_default_peer(NULL, 0, 0, &ev, NULL, &why), TLS_VF_FAIL);
        cr_assert_eq(why, reasons[i]);
        why = TLS_BAD_CERT_NONE;
        if (reasons[i] == TLS_BAD_CERT_UNKNOWN_CA) {
            cr_assert_eq(tls_verify_fun_default_none(NULL, 0, 0, &ev, NULL, &why), TLS_VF_VALID);
        } else {
            cr_assert_eq(tls_verify_fun_default_none(NULL, 0, 0, &ev, NULL, &why), TLS_VF_FAIL);
            cr_assert_eq(why, reasons[i]);
        }
    }
    tls_verify_event ext = {.kind = TLS_EVENT_EXTENSION, .ext_oid = "1.2.3", .ext_critical = true};
    tls_verify_event valid = {.kind = TLS_EVENT_VALID};
    tls_verify_event peer = {.kind = TLS_EVENT_VALID_PEER};
    tls_bad_cert why = TLS_BAD_CERT_NONE;
    cr_assert_eq(tls_verify_fun_default_peer(NULL, 0, 0, &ext, NULL, &why), TLS_VF_UNKNOWN);
    cr_assert_eq(tls_verify_fun_default_none(NULL, 0, 0, &ext, NULL, &why), TLS_VF_UNKNOWN);
    cr_assert_eq(tls_verify_fun_default_peer(NULL, 0, 1, &valid, NULL, &why), TLS_VF_VALID);
    cr_assert_eq(tls_verify_fun_default_none(NULL, 0, 1, &valid, NULL, &why), TLS_VF_VALID);
    cr_assert_eq(tls_verify_fun_default_peer(NULL, 0, 0, &peer, NULL, &why), TLS_VF_VALID);
    cr_assert_eq(tls_verify_fun_default_none(NULL, 0, 0, &peer, NULL, &why), TLS_VF_VALID);
    cr_assert_eq(why, TLS_BAD_CERT_NONE);
}

/* ---- chain validation ------------------------------------------------------ */

typedef struct vcase {
    const char *file;          /* the peer's chain (PEM) */
    const char *append;        /* more certificates (PEM) appended to it */
    const char *cafile;        /* default ca.pem */
    tls_verify_type verify;    /* default verify_peer (zero is verify_none: set explicitly) */
    int depth;
    const char *hostname;
    bool client_cert;          /* the peer is a client */
    tls_verify_fun fun;
    void *state;
} vcase;

/* Verifies vc's chain against a store made at security level `level`. */
static int run_verify_at(const vcase *vc, int level, tls_error *e)
{
    tls_options o;
    opts(&o);
    o.security_level = level;
    o.cacertfile = P(vc->cafile ? vc->cafile : "ca.pem");
    X509_STORE *store;
    size_t n;
    cr_assert_eq(tls_ca_load(&o, &store, &n, e), TLS_OK, "%s", e->detail);
    chain c;
    chain_load(&c, vc->file);
    if (vc->append) {
        chain more;
        chain_load(&more, vc->append);
        for (size_t i = 0; i < more.n; i++) {
            cr_assert_lt(c.n, 8);
            c.der[c.n] = more.der[i];
            c.len[c.n++] = more.len[i];
        }
    }
    tls_verify_ctx v = {
        .store = store,
        .depth = vc->depth,
        .verify = vc->verify,
        .fun = vc->fun,
        .fun_state = vc->state,
        .hostname = vc->hostname,
        .peer_is_server = !vc->client_cert,
    };
    err_init(e);
    int rc = tls_verify_chain(&v, (const uint8_t *const *)c.der, c.len, c.n, e);
    chain_free(&c);
    X509_STORE_free(store);
    return rc;
}

/* at the engine's default level, 2 */
static int run_verify(const vcase *vc, tls_error *e)
{
    return run_verify_at(vc, 2, e);
}

static void assert_bad(int rc, const tls_error *e, tls_bad_cert reason, int alert)
{
    cr_assert_eq(rc, TLS_E_BAD_CERT, "rc %d: %s", rc, e->detail);
    cr_assert_eq(e->code, TLS_E_BAD_CERT);
    cr_assert_eq(e->bad_cert, reason, "bad_cert %s, expected %s: %s", tls_bad_cert_name(e->bad_cert),
                 tls_bad_cert_name(reason), e->detail);
    cr_assert_eq(e->alert, alert, "alert %s, expected %s", tls_alert_name(e->alert), tls_alert_name(alert));
}

Test(cert_verify, good_chain)
{
    tls_error e;
    vcase v = {.file = "server.pem", .verify = TLS_VERIFY_PEER, .depth = 1, .hostname = "localhost"};
    cr_assert_eq(run_verify(&v, &e), TLS_OK, "%s", e.detail);
    v.verify = TLS_VERIFY_NONE;
    cr_assert_eq(run_verify(&v, &e), TLS_OK, "%s", e.detail);
    /* ECDSA, DSA and Ed25519 leaves under the RSA root */
    const char *others[] = {"ecdsa.pem", "dsa.pem", "ed25519.pem"};
    for (size_t i = 0; i < 3; i++) {
        vcase w = {.file = others[i], .verify = TLS_VERIFY_PEER, .depth = 1, .hostname = "localhost"};
        cr_assert_eq(run_verify(&w, &e), TLS_OK, "%s: %s", others[i], e.detail);
    }
    /* the root sent along by the peer changes nothing */
    vcase w = {.file = "server-chain.pem", .append = "ca.pem", .verify = TLS_VERIFY_PEER, .depth = 1};
    cr_assert_eq(run_verify(&w, &e), TLS_OK, "%s", e.detail);
    /* nor does an unrelated certificate in the chain */
    vcase x = {.file = "server.pem", .append = "untrusted-ca.pem", .verify = TLS_VERIFY_PEER, .depth = 1};
    cr_assert_eq(run_verify(&x, &e), TLS_OK, "%s", e.detail);
    /* a CA certificate is not a server certificate */
    vcase y = {.file = "ca.pem", .verify = TLS_VERIFY_PEER, .depth = 1};
    int rc = run_verify(&y, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_INVALID_KEY_USAGE, TLS_ALERT_UNSUPPORTED_CERTIFICATE);
}

/* v at `depth` is refused as too long, with exactly `detail` */
static void assert_too_deep(vcase v, int depth, const char *detail)
{
    tls_error e;
    v.depth = depth;
    int rc = run_verify(&v, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_MAX_PATH_LENGTH, TLS_ALERT_UNKNOWN_CA);
    cr_assert_str_eq(e.detail, detail);
}

/* depth counts the intermediate CAs between the peer and the trust anchor,
 * as the Erlang/OTP reference and OpenSSL's -verify_depth do (issue 6 a):
 * leaf <- intermediate <- root needs depth 1, a leaf the root signed depth 0.
 * The refusal names the first intermediate beyond the limit, as OpenSSL does. */
Test(cert_verify, depth_counts_intermediates)
{
    tls_error e;
    vcase v = {.file = "server-chain.pem", .verify = TLS_VERIFY_PEER, .depth = 1, .hostname = "localhost"};
    cr_assert_eq(run_verify(&v, &e), TLS_OK, "leaf <- intermediate <- root at depth 1: %s", e.detail);
    v.depth = 5;
    cr_assert_eq(run_verify(&v, &e), TLS_OK, "%s", e.detail);
    assert_too_deep(v, 0, "certificate 'CN=tlsshim test intermediate CA' (depth 1) is beyond the allowed chain "
                          "depth 0");
    /* a leaf signed directly by the root */
    vcase w = {.file = "server.pem", .verify = TLS_VERIFY_PEER, .depth = 0, .hostname = "localhost"};
    cr_assert_eq(run_verify(&w, &e), TLS_OK, "leaf <- root at depth 0: %s", e.detail);
    /* the intermediate can also come from the trust store rather than the peer */
    vcase x = {.file = "server-chain.pem", .cafile = "ca-bundle.pem", .verify = TLS_VERIFY_PEER, .depth = 1};
    cr_assert_eq(run_verify(&x, &e), TLS_OK, "%s", e.detail);
    assert_too_deep(x, 0, "certificate 'CN=tlsshim test intermediate CA' (depth 1) is beyond the allowed chain "
                          "depth 0");
}

Test(cert_verify, depth_with_two_intermediates)
{
    tls_error e;
    vcase v = {.file = "server-chain2.pem", .verify = TLS_VERIFY_PEER, .depth = 2, .hostname = "localhost"};
    cr_assert_eq(run_verify(&v, &e), TLS_OK, "two intermediates at depth 2: %s", e.detail);
    assert_too_deep(v, 1, "certificate 'CN=tlsshim test intermediate CA 1 of 2' (depth 2) is beyond the allowed "
                          "chain depth 1");
    assert_too_deep(v, 0, "certificate 'CN=tlsshim test intermediate CA 2 of 2' (depth 1) is beyond the allowed "
                          "chain depth 0");
}

Test(cert_verify, expired_and_not_yet_valid)
{
    tls_error e;
    vcase v = {.file = "expired.pem", .verify = TLS_VERIFY_PEER, .depth = 1, .hostname = "localhost"};
    int rc = run_verify(&v, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_CERT_EXPIRED, TLS_ALERT_CERTIFICATE_EXPIRED);
    cr_assert_str_eq(e.detail, "certificate 'CN=localhost' (depth 0) has expired");
    /* verify_none's default forgives only unknown_ca */
    v.verify = TLS_VERIFY_NONE;
    rc = run_verify(&v, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_CERT_EXPIRED, TLS_ALERT_CERTIFICATE_EXPIRED);

    vcase w = {.file = "notyet.pem", .verify = TLS_VERIFY_PEER, .depth = 1, .hostname = "localhost"};
    rc = run_verify(&w, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_CERT_EXPIRED, TLS_ALERT_CERTIFICATE_EXPIRED);
    cr_assert_str_eq(e.detail, "certificate 'CN=localhost' (depth 0) is not yet valid");
}

Test(cert_verify, wrong_name)
{
    tls_error e;
    vcase v = {.file = "wrongname.pem", .verify = TLS_VERIFY_PEER, .depth = 1, .hostname = "localhost"};
    int rc = run_verify(&v, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_HOSTNAME_CHECK_FAILED, TLS_ALERT_BAD_CERTIFICATE);
    cr_assert_str_eq(e.detail, "certificate 'CN=wrong.example' (depth 0) does not match the host name 'localhost'");
    v.hostname = "127.0.0.1";
    rc = run_verify(&v, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_HOSTNAME_CHECK_FAILED, TLS_ALERT_BAD_CERTIFICATE);
    v.hostname = "wrong.example";
    cr_assert_eq(run_verify(&v, &e), TLS_OK, "%s", e.detail);
    v.hostname = "WRONG.Example";
    cr_assert_eq(run_verify(&v, &e), TLS_OK, "names compare case-insensitively: %s", e.detail);
    /* no name to check */
    v.hostname = NULL;
    cr_assert_eq(run_verify(&v, &e), TLS_OK, "%s", e.detail);
    /* only verify_peer checks the name */
    v.hostname = "localhost";
    v.verify = TLS_VERIFY_NONE;
    cr_assert_eq(run_verify(&v, &e), TLS_OK, "%s", e.detail);
    /* server.pem does not cover other names */
    vcase w = {.file = "server.pem", .verify = TLS_VERIFY_PEER, .depth = 1, .hostname = "localhost.evil"};
    rc = run_verify(&w, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_HOSTNAME_CHECK_FAILED, TLS_ALERT_BAD_CERTIFICATE);
}

Test(cert_verify, ip_san)
{
    tls_error e;
    const char *good[] = {"127.0.0.1", "::1", "[::1]", "0:0:0:0:0:0:0:1"};
    for (size_t i = 0; i < 4; i++) {
        vcase v = {.file = "server.pem", .verify = TLS_VERIFY_PEER, .depth = 1, .hostname = good[i]};
        cr_assert_eq(run_verify(&v, &e), TLS_OK, "%s: %s", good[i], e.detail);
    }
    const char *bad[] = {"127.0.0.2", "::2", "127.0.0.1.nip.io"};
    for (size_t i = 0; i < 3; i++) {
        vcase v = {.file = "server.pem", .verify = TLS_VERIFY_PEER, .depth = 1, .hostname = bad[i]};
        int rc = run_verify(&v, &e);
        assert_bad(rc, &e, TLS_BAD_CERT_HOSTNAME_CHECK_FAILED, TLS_ALERT_BAD_CERTIFICATE);
    }
}

Test(cert_verify, untrusted)
{
    tls_error e;
    vcase v = {.file = "untrusted.pem", .verify = TLS_VERIFY_PEER, .depth = 1, .hostname = "localhost"};
    int rc = run_verify(&v, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_UNKNOWN_CA, TLS_ALERT_UNKNOWN_CA);
    cr_assert_str_eq(e.detail, "certificate 'CN=localhost' (depth 0) is not issued by a trusted CA");
    /* verify_none's default fun accepts an unknown CA (and checks no name) */
    v.verify = TLS_VERIFY_NONE;
    cr_assert_eq(run_verify(&v, &e), TLS_OK, "%s", e.detail);
    /* a self-signed peer certificate */
    vcase w = {.file = "untrusted-ca.pem", .verify = TLS_VERIFY_PEER, .depth = 1};
    rc = run_verify(&w, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_UNKNOWN_CA, TLS_ALERT_UNKNOWN_CA);
    cr_assert_str_eq(e.detail, "certificate 'CN=tlsshim untrusted CA' (depth 0) is self-signed and not trusted");
    /* trusted when its CA is the trust store */
    vcase x = {.file = "untrusted.pem", .cafile = "untrusted-ca.pem", .verify = TLS_VERIFY_PEER, .depth = 1};
    cr_assert_eq(run_verify(&x, &e), TLS_OK, "%s", e.detail);
    /* and the other way round: the intermediate alone does not make server-chain trusted */
    vcase y = {.file = "server-chain.pem", .cafile = "untrusted-ca.pem", .verify = TLS_VERIFY_PEER, .depth = 1};
    rc = run_verify(&y, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_UNKNOWN_CA, TLS_ALERT_UNKNOWN_CA);
    cr_assert_str_eq(e.detail,
                     "certificate 'CN=tlsshim test intermediate CA' (depth 1) is not issued by a trusted CA");
}

Test(cert_verify, no_trusted_cas)
{
    chain c;
    chain_load(&c, "server.pem");
    tls_verify_ctx v = {.store = NULL, .depth = 1, .verify = TLS_VERIFY_PEER};
    tls_error e;
    err_init(&e);
    int rc = tls_verify_chain(&v, (const uint8_t *const *)c.der, c.len, c.n, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_UNKNOWN_CA, TLS_ALERT_UNKNOWN_CA);
    chain_free(&c);
}

Test(cert_verify, missing_basic_constraint)
{
    tls_error e;
    vcase v = {.file = "nobc-leaf.pem", .verify = TLS_VERIFY_PEER, .depth = 1, .hostname = "localhost"};
    int rc = run_verify(&v, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_MISSING_BASIC_CONSTRAINT, TLS_ALERT_BAD_CERTIFICATE);
    cr_assert_str_eq(e.detail, "certificate 'CN=tlsshim CA without basicConstraints' (depth 1) acts as a CA "
                               "without basicConstraints CA:true");
}

Test(cert_verify, invalid_key_usage)
{
    tls_error e;
    /* keyUsage nonRepudiation only */
    vcase v = {.file = "badku.pem", .verify = TLS_VERIFY_PEER, .depth = 1, .hostname = "localhost"};
    int rc = run_verify(&v, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_INVALID_KEY_USAGE, TLS_ALERT_UNSUPPORTED_CERTIFICATE);
    cr_assert_str_eq(e.detail,
                     "certificate 'CN=localhost' (depth 0) is not allowed for this use (keyUsage / extendedKeyUsage)");
    v.client_cert = true;
    rc = run_verify(&v, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_INVALID_KEY_USAGE, TLS_ALERT_UNSUPPORTED_CERTIFICATE);
    /* client.pem: EKU clientAuth only: fine from a client, not from a server */
    vcase w = {.file = "client.pem", .verify = TLS_VERIFY_PEER, .depth = 1, .client_cert = true};
    cr_assert_eq(run_verify(&w, &e), TLS_OK, "%s", e.detail);
    w.client_cert = false;
    rc = run_verify(&w, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_INVALID_KEY_USAGE, TLS_ALERT_UNSUPPORTED_CERTIFICATE);
    /* server.pem has both EKUs */
    vcase x = {.file = "server.pem", .verify = TLS_VERIFY_PEER, .depth = 1, .client_cert = true};
    cr_assert_eq(run_verify(&x, &e), TLS_OK, "%s", e.detail);
}

/* one byte of the signature flipped */
Test(cert_verify, invalid_signature)
{
    chain c;
    chain_load(&c, "server.pem");
    c.der[0][c.len[0] - 1] ^= 0x01;
    tls_options o;
    opts(&o);
    o.cacertfile = P("ca.pem");
    X509_STORE *store;
    size_t n;
    tls_error e;
    err_init(&e);
    cr_assert_eq(tls_ca_load(&o, &store, &n, &e), TLS_OK);
    tls_verify_ctx v = {.store = store, .depth = 1, .verify = TLS_VERIFY_PEER, .peer_is_server = true};
    int rc = tls_verify_chain(&v, (const uint8_t *const *)c.der, c.len, c.n, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_INVALID_SIGNATURE, TLS_ALERT_BAD_CERTIFICATE);
    cr_assert_str_eq(e.detail, "certificate 'CN=localhost' (depth 0) has an invalid signature");
    X509_STORE_free(store);
    chain_free(&c);
}

Test(cert_verify, malformed_and_empty)
{
    tls_verify_ctx v = {.store = NULL, .depth = 1, .verify = TLS_VERIFY_PEER};
    tls_error e;
    err_init(&e);
    const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x01};
    const uint8_t *ders[] = {junk};
    size_t lens[] = {sizeof junk};
    cr_assert_eq(tls_verify_chain(&v, ders, lens, 1, &e), TLS_E_ALERT_SENT);
    cr_assert_eq(e.alert, TLS_ALERT_BAD_CERTIFICATE);
    cr_assert_str_eq(e.detail, "certificate 0 of the peer's chain is not a valid DER X.509 certificate");
    /* a good leaf followed by garbage */
    chain c;
    chain_load(&c, "server.pem");
    const uint8_t *two[] = {c.der[0], junk};
    size_t two_len[] = {c.len[0], sizeof junk};
    cr_assert_eq(tls_verify_chain(&v, two, two_len, 2, &e), TLS_E_ALERT_SENT);
    cr_assert_str_eq(e.detail, "certificate 1 of the peer's chain is not a valid DER X.509 certificate");
    /* trailing bytes after a certificate */
    uint8_t *longer = malloc(c.len[0] + 1);
    memcpy(longer, c.der[0], c.len[0]);
    longer[c.len[0]] = 0;
    const uint8_t *one[] = {longer};
    size_t one_len[] = {c.len[0] + 1};
    cr_assert_eq(tls_verify_chain(&v, one, one_len, 1, &e), TLS_E_ALERT_SENT);
    free(longer);
    chain_free(&c);
    /* no certificate at all */
    cr_assert_eq(tls_verify_chain(&v, NULL, NULL, 0, &e), TLS_E_BAD_CERT);
    cr_assert_eq(e.bad_cert, TLS_BAD_CERT_NO_PEER_CERT);
    cr_assert_eq(e.alert, TLS_ALERT_HANDSHAKE_FAILURE);
}

/* ---- custom verify funs ---------------------------------------------------- */

static tls_verify_result accept_all(const uint8_t *der, size_t len, int depth, const tls_verify_event *ev,
                                    void *state, tls_bad_cert *why)
{
    (void)der, (void)len, (void)depth, (void)ev, (void)why;
    if (state)
        (*(int *)state)++;
    return TLS_VF_VALID;
}

Test(cert_fun, accept_everything)
{
    tls_error e;
    const char *files[] = {"expired.pem", "notyet.pem", "untrusted.pem", "wrongname.pem", "badku.pem",
                           "untrusted-ca.pem", "critext.pem"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        int calls = 0;
        vcase v = {.file = files[i], .verify = TLS_VERIFY_PEER, .depth = 1, .hostname = "localhost",
                   .fun = accept_all, .state = &calls};
        cr_assert_eq(run_verify(&v, &e), TLS_OK, "%s: %s", files[i], e.detail);
        cr_assert_geq(calls, 2, "%s: a problem and valid_peer at least", files[i]);
    }
    vcase v = {.file = "nobc-leaf.pem", .verify = TLS_VERIFY_PEER, .depth = 0, .fun = accept_all};
    cr_assert_eq(run_verify(&v, &e), TLS_OK, "missing bc and max depth both forgiven: %s", e.detail);
}

static tls_verify_result reject_peer(const uint8_t *der, size_t len, int depth, const tls_verify_event *ev,
                                     void *state, tls_bad_cert *why)
{
    (void)der, (void)len, (void)depth, (void)state;
    if (ev->kind == TLS_EVENT_VALID_PEER) {
        *why = TLS_BAD_CERT_USER;
        return TLS_VF_FAIL;
    }
    return TLS_VF_VALID;
}

static tls_verify_result reject_quietly(const uint8_t *der, size_t len, int depth, const tls_verify_event *ev,
                                        void *state, tls_bad_cert *why)
{
    (void)der, (void)len, (void)depth, (void)state, (void)why;
    return ev->kind == TLS_EVENT_VALID ? TLS_VF_FAIL : TLS_VF_VALID;
}

static tls_verify_result reject_as_expired(const uint8_t *der, size_t len, int depth,
                                           const tls_verify_event *ev, void *state, tls_bad_cert *why)
{
    (void)der, (void)len, (void)depth, (void)state;
    if (ev->kind == TLS_EVENT_VALID_PEER) {
        *why = TLS_BAD_CERT_CERT_EXPIRED;
        return TLS_VF_FAIL;
    }
    return TLS_VF_VALID;
}

Test(cert_fun, reject_a_valid_chain)
{
    tls_error e;
    vcase v = {.file = "server.pem", .verify = TLS_VERIFY_PEER, .depth = 1, .hostname = "localhost",
               .fun = reject_peer};
    int rc = run_verify(&v, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_USER, TLS_ALERT_CERTIFICATE_UNKNOWN);
    cr_assert_str_eq(e.detail, "certificate 'CN=localhost' (depth 0) was rejected by the verify fun (user_rejected)");
    /* no reason given: user_rejected, on the CA this time */
    v.fun = reject_quietly;
    rc = run_verify(&v, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_USER, TLS_ALERT_CERTIFICATE_UNKNOWN);
    cr_assert_str_eq(e.detail,
                     "certificate 'CN=tlsshim test root CA' (depth 1) was rejected by the verify fun (user_rejected)");
    /* the fun's own reason picks the alert */
    v.fun = reject_as_expired;
    rc = run_verify(&v, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_CERT_EXPIRED, TLS_ALERT_CERTIFICATE_EXPIRED);
}

#define MAX_SEEN 16
typedef struct seen {
    struct {
        tls_event_kind kind;
        tls_bad_cert reason;
        int depth;
        uint8_t *der;
        size_t len;
        char oid[64];
        uint8_t ext[32];
        size_t ext_len;
        bool critical;
    } ev[MAX_SEEN];
    size_t n;
    bool fail_on_bad;     /* fail at the first bad_cert event */
    bool accept_ext;      /* answer valid to extension events */
} seen;

static tls_verify_result record(const uint8_t *der, size_t len, int depth, const tls_verify_event *ev, void *state,
                                tls_bad_cert *why)
{
    seen *s = state;
    cr_assert_lt(s->n, MAX_SEEN);
    s->ev[s->n].kind = ev->kind;
    s->ev[s->n].reason = ev->reason;
    s->ev[s->n].depth = depth;
    s->ev[s->n].der = malloc(len);
    memcpy(s->ev[s->n].der, der, len);
    s->ev[s->n].len = len;
    if (ev->kind == TLS_EVENT_EXTENSION) {
        snprintf(s->ev[s->n].oid, sizeof s->ev[s->n].oid, "%s", ev->ext_oid);
        cr_assert_leq(ev->ext_len, sizeof s->ev[s->n].ext);
        memcpy(s->ev[s->n].ext, ev->ext_der, ev->ext_len);
        s->ev[s->n].ext_len = ev->ext_len;
        s->ev[s->n].critical = ev->ext_critical;
    }
    s->n++;
    if (ev->kind == TLS_EVENT_BAD_CERT && s->fail_on_bad) {
        *why = ev->reason;
        return TLS_VF_FAIL;
    }
    if (ev->kind == TLS_EVENT_EXTENSION)
        return s->accept_ext ? TLS_VF_VALID : TLS_VF_UNKNOWN;
    return TLS_VF_VALID;
}

static void seen_free(seen *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->ev[i].der);
}

static void assert_der_is(const seen *s, size_t i, const char *derfile)
{
    size_t l;
    uint8_t *d = slurp(P(derfile), &l);
    cr_assert_eq(s->ev[i].len, l, "event %zu: not %s", i, derfile);
    cr_assert_arr_eq(s->ev[i].der, d, l, "event %zu: not %s", i, derfile);
    free(d);
}

Test(cert_fun, event_sequence_ca_to_peer)
{
    tls_error e;
    seen s = {0};
    vcase v = {.file = "server-chain.pem", .verify = TLS_VERIFY_PEER, .depth = 1, .hostname = "localhost",
               .fun = record, .state = &s};
    cr_assert_eq(run_verify(&v, &e), TLS_OK, "%s", e.detail);
    cr_assert_eq(s.n, 3);
    cr_assert_eq(s.ev[0].kind, TLS_EVENT_VALID);
    cr_assert_eq(s.ev[0].depth, 2);
    assert_der_is(&s, 0, "ca.der"); /* the trust anchor comes from the store */
    cr_assert_eq(s.ev[1].kind, TLS_EVENT_VALID);
    cr_assert_eq(s.ev[1].depth, 1);
    cr_assert_eq(s.ev[2].kind, TLS_EVENT_VALID_PEER);
    cr_assert_eq(s.ev[2].depth, 0);
    chain c;
    chain_load(&c, "server-chain.pem");
    cr_assert_eq(s.ev[1].len, c.len[1]);
    cr_assert_arr_eq(s.ev[1].der, c.der[1], c.len[1], "the intermediate as the peer sent it");
    cr_assert_eq(s.ev[2].len, c.len[0]);
    cr_assert_arr_eq(s.ev[2].der, c.der[0], c.len[0], "the peer's leaf");
    chain_free(&c);
    seen_free(&s);

    /* a problem comes before its certificate's valid event, and validation goes on */
    seen t = {0};
    vcase w = {.file = "expired.pem", .verify = TLS_VERIFY_PEER, .depth = 1, .hostname = "localhost",
               .fun = record, .state = &t};
    cr_assert_eq(run_verify(&w, &e), TLS_OK, "%s", e.detail);
    cr_assert_eq(t.n, 3);
    cr_assert_eq(t.ev[0].kind, TLS_EVENT_VALID);
    cr_assert_eq(t.ev[0].depth, 1);
    cr_assert_eq(t.ev[1].kind, TLS_EVENT_BAD_CERT);
    cr_assert_eq(t.ev[1].reason, TLS_BAD_CERT_CERT_EXPIRED);
    cr_assert_eq(t.ev[1].depth, 0);
    cr_assert_eq(t.ev[2].kind, TLS_EVENT_VALID_PEER);
    seen_free(&t);

    /* several problems on one chain, each once, CA first */
    seen u = {0};
    vcase x = {.file = "wrongname.pem", .verify = TLS_VERIFY_PEER, .depth = 1, .hostname = "localhost",
               .fun = record, .state = &u};
    cr_assert_eq(run_verify(&x, &e), TLS_OK, "%s", e.detail);
    cr_assert_eq(u.n, 3);
    cr_assert_eq(u.ev[1].kind, TLS_EVENT_BAD_CERT);
    cr_assert_eq(u.ev[1].reason, TLS_BAD_CERT_HOSTNAME_CHECK_FAILED);
    cr_assert_eq(u.ev[2].kind, TLS_EVENT_VALID_PEER);
    seen_free(&u);

    seen m = {0};
    vcase y = {.file = "nobc-leaf.pem", .verify = TLS_VERIFY_PEER, .depth = 0, .fun = record, .state = &m};
    cr_assert_eq(run_verify(&y, &e), TLS_OK, "%s", e.detail);
    cr_assert_eq(m.n, 5);
    cr_assert_eq(m.ev[0].kind, TLS_EVENT_VALID);
    cr_assert_eq(m.ev[0].depth, 2);
    /* the intermediate: beyond depth 0 first, then its other problem */
    cr_assert_eq(m.ev[1].kind, TLS_EVENT_BAD_CERT);
    cr_assert_eq(m.ev[1].reason, TLS_BAD_CERT_MAX_PATH_LENGTH);
    cr_assert_eq(m.ev[1].depth, 1);
    cr_assert_eq(m.ev[2].kind, TLS_EVENT_BAD_CERT);
    cr_assert_eq(m.ev[2].reason, TLS_BAD_CERT_MISSING_BASIC_CONSTRAINT);
    cr_assert_eq(m.ev[2].depth, 1);
    cr_assert_eq(m.ev[3].kind, TLS_EVENT_VALID);
    cr_assert_eq(m.ev[4].kind, TLS_EVENT_VALID_PEER);
    seen_free(&m);
}

Test(cert_fun, fail_stops_the_events)
{
    tls_error e;
    seen s = {.fail_on_bad = true};
    vcase v = {.file = "untrusted.pem", .verify = TLS_VERIFY_PEER, .depth = 1, .hostname = "wrong.example",
               .fun = record, .state = &s};
    int rc = run_verify(&v, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_UNKNOWN_CA, TLS_ALERT_UNKNOWN_CA);
    cr_assert_eq(s.n, 1, "nothing after the failing event (not the host name, not valid_peer)");
    cr_assert_eq(s.ev[0].kind, TLS_EVENT_BAD_CERT);
    cr_assert_eq(s.ev[0].depth, 0);
    seen_free(&s);
}

Test(cert_fun, unhandled_critical_extension)
{
    tls_error e;
    /* the default funs answer unknown: the chain fails */
    vcase v = {.file = "critext.pem", .verify = TLS_VERIFY_PEER, .depth = 1, .hostname = "localhost"};
    int rc = run_verify(&v, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_UNKNOWN_CRITICAL_EXTENSION, TLS_ALERT_UNSUPPORTED_CERTIFICATE);
    cr_assert_str_eq(e.detail,
                     "certificate 'CN=localhost' (depth 0) has an unhandled critical extension 1.3.6.1.4.1.55555.1");
    v.verify = TLS_VERIFY_NONE;
    rc = run_verify(&v, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_UNKNOWN_CRITICAL_EXTENSION, TLS_ALERT_UNSUPPORTED_CERTIFICATE);

    /* a fun that understands it */
    seen s = {.accept_ext = true};
    vcase w = {.file = "critext.pem", .verify = TLS_VERIFY_PEER, .depth = 1, .hostname = "localhost",
               .fun = record, .state = &s};
    cr_assert_eq(run_verify(&w, &e), TLS_OK, "%s", e.detail);
    cr_assert_eq(s.n, 3);
    cr_assert_eq(s.ev[0].kind, TLS_EVENT_VALID);
    cr_assert_eq(s.ev[1].kind, TLS_EVENT_EXTENSION);
    cr_assert_eq(s.ev[1].depth, 0);
    cr_assert_str_eq(s.ev[1].oid, "1.3.6.1.4.1.55555.1");
    cr_assert(s.ev[1].critical);
    /* UTF8String "tlsshim" as gen.sh wrote it: tag 0x0c, length 7 */
    const uint8_t want[] = {0x0c, 0x07, 't', 'l', 's', 's', 'h', 'i', 'm'};
    cr_assert_eq(s.ev[1].ext_len, sizeof want);
    cr_assert_arr_eq(s.ev[1].ext, want, sizeof want);
    cr_assert_eq(s.ev[2].kind, TLS_EVENT_VALID_PEER);
    seen_free(&s);
}

/* ---- name constraints and issuer names, from real certificates (issue 9) ---- */

/* nc-ca may certify names under allowed.test only (nameConstraints
 * permitted;DNS:allowed.test): its host.allowed.test passes, its
 * host.other.test is {bad_cert, name_not_permitted} on the leaf. */
Test(cert_verify, name_not_permitted)
{
    tls_error e;
    vcase v = {.file = "nc-good.pem", .verify = TLS_VERIFY_PEER, .depth = 1, .hostname = "host.allowed.test"};
    cr_assert_eq(run_verify(&v, &e), TLS_OK, "inside the permitted subtree: %s", e.detail);
    vcase w = {.file = "nc-bad.pem", .verify = TLS_VERIFY_PEER, .depth = 1, .hostname = "host.other.test"};
    int rc = run_verify(&w, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_NAME_NOT_PERMITTED, TLS_ALERT_BAD_CERTIFICATE);
    cr_assert_str_eq(e.detail, "certificate 'CN=host.other.test' (depth 0) has a name its issuer may not certify");
    /* the constraint holds whatever host name is asked, and under verify_none */
    w.hostname = NULL;
    rc = run_verify(&w, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_NAME_NOT_PERMITTED, TLS_ALERT_BAD_CERTIFICATE);
    w.verify = TLS_VERIFY_NONE;
    rc = run_verify(&w, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_NAME_NOT_PERMITTED, TLS_ALERT_BAD_CERTIFICATE);

    /* a verify fun sees it once, on the leaf, after the CAs' valid events */
    seen s = {0};
    vcase x = {.file = "nc-bad.pem", .verify = TLS_VERIFY_PEER, .depth = 1, .hostname = "host.other.test",
               .fun = record, .state = &s};
    cr_assert_eq(run_verify(&x, &e), TLS_OK, "the fun forgives it: %s", e.detail);
    cr_assert_eq(s.n, 4);
    cr_assert_eq(s.ev[0].kind, TLS_EVENT_VALID);
    cr_assert_eq(s.ev[1].kind, TLS_EVENT_VALID);
    cr_assert_eq(s.ev[1].depth, 1);
    cr_assert_eq(s.ev[2].kind, TLS_EVENT_BAD_CERT);
    cr_assert_eq(s.ev[2].reason, TLS_BAD_CERT_NAME_NOT_PERMITTED);
    cr_assert_eq(s.ev[2].depth, 0);
    cr_assert_eq(s.ev[3].kind, TLS_EVENT_VALID_PEER);
    seen_free(&s);
}

/* A leaf whose Issuer DN is a name no certificate has, though its
 * authorityKeyIdentifier names the CA whose key signed it: the issuer is
 * known but the names do not chain, {bad_cert, invalid_issuer}, not
 * unknown_ca. misnamed.pem: signed by the root's key, the root in the trust
 * store; misnamed-chain.pem: signed by int's key, int.pem sent after it. */
Test(cert_verify, invalid_issuer)
{
    tls_error e;
    vcase v = {.file = "misnamed.pem", .verify = TLS_VERIFY_PEER, .depth = 1, .hostname = "localhost"};
    int rc = run_verify(&v, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_INVALID_ISSUER, TLS_ALERT_BAD_CERTIFICATE);
    cr_assert_str_eq(e.detail, "certificate 'CN=localhost' (depth 0) has an invalid issuer: 'CN=tlsshim misnamed "
                               "CA' is not the name of the CA that signed it");
    /* verify_none forgives an unknown CA, not this */
    v.verify = TLS_VERIFY_NONE;
    rc = run_verify(&v, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_INVALID_ISSUER, TLS_ALERT_BAD_CERTIFICATE);

    vcase w = {.file = "misnamed-chain.pem", .verify = TLS_VERIFY_PEER, .depth = 1, .hostname = "localhost"};
    rc = run_verify(&w, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_INVALID_ISSUER, TLS_ALERT_BAD_CERTIFICATE);
    cr_assert_str_eq(e.detail, "certificate 'CN=localhost' (depth 0) has an invalid issuer: 'CN=tlsshim misnamed "
                               "intermediate CA' is not the name of the CA that signed it");
    /* the same with int.pem in the trust store rather than the chain */
    vcase x = {.file = "misnamed-chain.pem", .cafile = "ca-bundle.pem", .verify = TLS_VERIFY_PEER, .depth = 1};
    rc = run_verify(&x, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_INVALID_ISSUER, TLS_ALERT_BAD_CERTIFICATE);

    /* the key that signed it is not one we know: still an unknown CA */
    vcase y = {.file = "misnamed.pem", .cafile = "untrusted-ca.pem", .verify = TLS_VERIFY_PEER, .depth = 1};
    rc = run_verify(&y, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_UNKNOWN_CA, TLS_ALERT_UNKNOWN_CA);
    /* and a leaf sent with an intermediate that is not its issuer, whose own
     * issuer (untrusted-ca) we do not have, is an unknown CA too */
    vcase z = {.file = "untrusted.pem", .append = "int.pem", .verify = TLS_VERIFY_PEER, .depth = 1};
    rc = run_verify(&z, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_UNKNOWN_CA, TLS_ALERT_UNKNOWN_CA);

    /* a verify fun sees it on the leaf (the only certificate of the path) */
    seen s = {0};
    vcase f = {.file = "misnamed.pem", .verify = TLS_VERIFY_PEER, .depth = 1, .fun = record, .state = &s};
    cr_assert_eq(run_verify(&f, &e), TLS_OK, "the fun forgives it: %s", e.detail);
    cr_assert_eq(s.n, 2);
    cr_assert_eq(s.ev[0].kind, TLS_EVENT_BAD_CERT);
    cr_assert_eq(s.ev[0].reason, TLS_BAD_CERT_INVALID_ISSUER);
    cr_assert_eq(s.ev[0].depth, 0);
    cr_assert_eq(s.ev[1].kind, TLS_EVENT_VALID_PEER);
    seen_free(&s);
}

/* ---- security levels (issue 6 b) ------------------------------------------- */

/* As `openssl verify -auth_level N` decides: MD5 and SHA-1 signatures are
 * refused from level 1 on, an RSA-1024 key from level 2 on, the sentence
 * names the weak part; level 0 takes all three. */
Test(cert_seclevel, weak_peer_certificates)
{
    tls_error e;
    vcase md5 = {.file = "md5.pem", .verify = TLS_VERIFY_PEER, .depth = 1, .hostname = "localhost"};
    vcase sha1 = {.file = "sha1.pem", .verify = TLS_VERIFY_PEER, .depth = 1, .hostname = "localhost"};
    vcase rsa1024 = {.file = "rsa1024.pem", .verify = TLS_VERIFY_PEER, .depth = 1, .hostname = "localhost"};

    int rc = run_verify(&md5, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_SECURITY_LEVEL, TLS_ALERT_BAD_CERTIFICATE);
    cr_assert_str_eq(e.detail, "certificate 'CN=localhost' (depth 0) is signed with MD5, refused at security level 2");
    rc = run_verify(&sha1, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_SECURITY_LEVEL, TLS_ALERT_BAD_CERTIFICATE);
    cr_assert_str_eq(e.detail,
                     "certificate 'CN=localhost' (depth 0) is signed with SHA-1, refused at security level 2");
    rc = run_verify(&rsa1024, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_SECURITY_LEVEL, TLS_ALERT_BAD_CERTIFICATE);
    cr_assert_str_eq(e.detail, "certificate 'CN=localhost' (depth 0) has an RSA key of 1024 bits, refused at "
                               "security level 2 (at least 2048)");
    char msg[400];
    tls_format_error(&e, msg, sizeof msg);
    cr_assert(strstr(msg, "{bad_cert, security_level}"), "%s", msg);

    cr_assert_eq(run_verify_at(&md5, 0, &e), TLS_OK, "%s", e.detail);
    cr_assert_eq(run_verify_at(&sha1, 0, &e), TLS_OK, "%s", e.detail);
    cr_assert_eq(run_verify_at(&rsa1024, 0, &e), TLS_OK, "%s", e.detail);

    rc = run_verify_at(&sha1, 1, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_SECURITY_LEVEL, TLS_ALERT_BAD_CERTIFICATE);
    cr_assert_eq(run_verify_at(&rsa1024, 1, &e), TLS_OK, "RSA-1024 gives 80 bits, enough at level 1: %s",
                 e.detail);
}

/* Level 3 asks 128 bits: the RSA-2048 root is refused first (the replay
 * goes from the anchor down); the P-256 leaf alone would pass. */
Test(cert_seclevel, higher_levels_reach_the_ca)
{
    tls_error e;
    vcase v = {.file = "server.pem", .verify = TLS_VERIFY_PEER, .depth = 1, .hostname = "localhost"};
    int rc = run_verify_at(&v, 3, &e);
    assert_bad(rc, &e, TLS_BAD_CERT_SECURITY_LEVEL, TLS_ALERT_BAD_CERTIFICATE);
    cr_assert_str_eq(e.detail, "certificate 'CN=tlsshim test root CA' (depth 1) has an RSA key of 2048 bits, "
                               "refused at security level 3 (at least 3072)");
    cr_assert_eq(run_verify_at(&v, 2, &e), TLS_OK, "%s", e.detail);
}

/* A verify fun sees the weakness as {bad_cert, security_level} and may forgive it. */
Test(cert_seclevel, verify_fun_event)
{
    tls_error e;
    seen s = {0};
    vcase v = {.file = "sha1.pem", .verify = TLS_VERIFY_PEER, .depth = 1, .hostname = "localhost", .fun = record,
               .state = &s};
    cr_assert_eq(run_verify(&v, &e), TLS_OK, "%s", e.detail);
    cr_assert_eq(s.n, 3);
    cr_assert_eq(s.ev[1].kind, TLS_EVENT_BAD_CERT);
    cr_assert_eq(s.ev[1].reason, TLS_BAD_CERT_SECURITY_LEVEL);
    cr_assert_eq(s.ev[1].depth, 0);
    cr_assert_eq(s.ev[2].kind, TLS_EVENT_VALID_PEER);
    seen_free(&s);
}

/* Our own certificate and key are held to the level at load time. */
Test(cert_seclevel, our_own_certificate)
{
    tls_options o;
    opts(&o);
    tls_cred c;
    tls_error e;
    err_init(&e);
    char want[PATH_MAX + 160];
    o.certfile = P("rsa1024.pem");
    o.keyfile = P("rsa1024.key");
    cr_assert_eq(tls_cred_load(&o, &c, &e), TLS_E_CONFIG);
    cr_assert_null(c.chain);
    snprintf(want, sizeof want,
             "certfile %s: certificate 'CN=localhost' has an RSA key of 1024 bits, refused at security level 2 "
             "(at least 2048)",
             o.certfile);
    cr_assert_str_eq(e.detail, want);

    o.certfile = P("sha1.pem");
    o.keyfile = P("sha1.key");
    cr_assert_eq(tls_cred_load(&o, &c, &e), TLS_E_CONFIG);
    snprintf(want, sizeof want,
             "certfile %s: certificate 'CN=localhost' is signed with SHA-1, refused at security level 2", o.certfile);
    cr_assert_str_eq(e.detail, want);

    const char *weak[] = {"md5", "sha1", "rsa1024"};
    o.security_level = 0;
    for (size_t i = 0; i < 3; i++) {
        char cert[32], key[32];
        snprintf(cert, sizeof cert, "%s.pem", weak[i]);
        snprintf(key, sizeof key, "%s.key", weak[i]);
        o.certfile = P(cert);
        o.keyfile = P(key);
        cr_assert_eq(tls_cred_load(&o, &c, &e), TLS_OK, "%s at level 0: %s", cert, e.detail);
        tls_cred_free(&c);
    }
    /* a self-signed certificate's own signature does not count, its key does */
    o.security_level = 2;
    o.certfile = P("ca.pem");
    o.keyfile = P("ca.key");
    cr_assert_eq(tls_cred_load(&o, &c, &e), TLS_OK, "%s", e.detail);
    tls_cred_free(&c);
    o.security_level = 3;
    cr_assert_eq(tls_cred_load(&o, &c, &e), TLS_E_CONFIG);
}

/* ---- the system trust store (issue 6 c) ------------------------------------ */

/* SSL_CERT_DIR points nowhere so that only SSL_CERT_FILE counts. Criterion
 * runs each test in its own process: the environment stays here. */
static int verify_against_system_store(const char *cert_file, tls_error *e)
{
    setenv("SSL_CERT_FILE", P(cert_file), 1);
    setenv("SSL_CERT_DIR", "/nonexistent-tlsshim-test", 1);
    tls_options o;
    opts(&o);
    o.verify = TLS_VERIFY_PEER;
    X509_STORE *store;
    size_t n;
    cr_assert_eq(tls_ca_load(&o, &store, &n, e), TLS_OK, "%s", e->detail);
    cr_assert_eq(n, 1, "SSL_CERT_FILE holds one certificate");
    chain c;
    chain_load(&c, "server.pem");
    tls_verify_ctx v = {.store = store, .depth = 1, .verify = TLS_VERIFY_PEER, .hostname = "localhost",
                        .peer_is_server = true};
    err_init(e);
    int rc = tls_verify_chain(&v, (const uint8_t *const *)c.der, c.len, c.n, e);
    chain_free(&c);
    X509_STORE_free(store);
    return rc;
}

Test(cert_ca, system_store_when_no_ca_is_configured)
{
    tls_error e;
    cr_assert_eq(verify_against_system_store("ca.pem", &e), TLS_OK, "%s", e.detail);
    int rc = verify_against_system_store("untrusted-ca.pem", &e);
    assert_bad(rc, &e, TLS_BAD_CERT_UNKNOWN_CA, TLS_ALERT_UNKNOWN_CA);
    /* verify_none without a CA option: nothing is trusted, nothing is read */
    tls_options o;
    opts(&o);
    X509_STORE *store;
    size_t n = 7;
    cr_assert_eq(tls_ca_load(&o, &store, &n, &e), TLS_OK, "%s", e.detail);
    cr_assert_eq(n, 0);
    X509_STORE_free(store);
}

/* The API no longer refuses verify_peer without cacerts/cacertfile, as
 * client or as server; the server names no CA in its CertificateRequest. */
Test(cert_ca, config_with_verify_peer_and_no_ca)
{
    setenv("SSL_CERT_FILE", P("ca.pem"), 1);
    tls_options o;
    tls_options_init(&o);
    o.verify = TLS_VERIFY_PEER;
    tls_config *c = NULL;
    tls_error e;
    err_init(&e);
    cr_assert_eq(tls_config_new(&o, false, &c, &e), TLS_OK, "client: %s", e.detail);
    tls_config_free(c);
    o.certfile = P("server.pem");
    o.keyfile = P("server.key");
    cr_assert_eq(tls_config_new(&o, true, &c, &e), TLS_OK, "server: %s", e.detail);
    tls_config_free(c);
}

/* ---- through a handshake ------------------------------------------------------ */

/* A server on `certfile` (at level 0, so that it may serve a weak leaf) and a
 * client verifying it for `host` with `depth` and `level`; returns the
 * client's verdict: TLS_BAD_CERT_NONE when the handshake went through. The
 * client's error sentence goes to why (if not NULL). */
static tls_bad_cert handshake_verdict_for(const char *host, const char *certfile, const char *keyfile, int depth,
                                          int level, char *why, size_t why_len)
{
    tls_options so, co;
    tls_options_init(&so);
    so.certfile = P(certfile);
    so.keyfile = P(keyfile);
    so.security_level = 0;
    tls_options_init(&co);
    co.verify = TLS_VERIFY_PEER;
    co.cacertfile = P("ca.pem");
    co.depth = depth;
    co.security_level = level;
    tls_config *sc = cfg_or_die(&so, true), *cc = cfg_or_die(&co, false);
    tls_engine *c, *s;
    cr_assert_eq(tls_engine_new(cc, host, &c, NULL), TLS_OK);
    cr_assert_eq(tls_engine_new(sc, NULL, &s, NULL), TLS_OK);
    bool ok = pair_handshake(c, s);
    tls_bad_cert verdict = tls_engine_verify_result(c);
    if (!ok) {
        cr_assert_neq(verdict, TLS_BAD_CERT_NONE, "failed, but not on the certificate: %s",
                      tls_engine_error(c)->detail);
        cr_assert_eq(tls_engine_error(s)->code, TLS_E_ALERT_RECEIVED, "the server hears why");
    }
    if (why)
        snprintf(why, why_len, "%s", ok ? "" : tls_engine_error(c)->detail);
    tls_engine_free(c);
    tls_engine_free(s);
    tls_config_free(cc);
    tls_config_free(sc);
    return ok ? TLS_BAD_CERT_NONE : verdict;
}

static tls_bad_cert handshake_verdict(const char *certfile, const char *keyfile, int depth, int level)
{
    return handshake_verdict_for("localhost", certfile, keyfile, depth, level, NULL, 0);
}

/* tls_config carries depth and security_level into the handshake's verification */
Test(cert_handshake, depth_and_security_level)
{
    cr_assert_eq(handshake_verdict("server-chain.pem", "server-chain.key", 1, 2), TLS_BAD_CERT_NONE);
    cr_assert_eq(handshake_verdict("server-chain.pem", "server-chain.key", 0, 2), TLS_BAD_CERT_MAX_PATH_LENGTH);
    cr_assert_eq(handshake_verdict("server.pem", "server.key", 0, 2), TLS_BAD_CERT_NONE);
    cr_assert_eq(handshake_verdict("sha1.pem", "sha1.key", 1, 2), TLS_BAD_CERT_SECURITY_LEVEL);
    cr_assert_eq(handshake_verdict("rsa1024.pem", "rsa1024.key", 1, 2), TLS_BAD_CERT_SECURITY_LEVEL);
    cr_assert_eq(handshake_verdict("sha1.pem", "sha1.key", 1, 0), TLS_BAD_CERT_NONE);
    cr_assert_eq(handshake_verdict("rsa1024.pem", "rsa1024.key", 1, 0), TLS_BAD_CERT_NONE);
}

/* issue 9: name_not_permitted and invalid_issuer from real certificates, as a
 * client sees them in a handshake */
Test(cert_handshake, name_not_permitted_and_invalid_issuer)
{
    char why[256];
    cr_assert_eq(handshake_verdict_for("host.allowed.test", "nc-good.pem", "nc-good.key", 1, 2, why, sizeof why),
                 TLS_BAD_CERT_NONE, "%s", why);
    cr_assert_eq(handshake_verdict_for("host.other.test", "nc-bad.pem", "nc-bad.key", 1, 2, why, sizeof why),
                 TLS_BAD_CERT_NAME_NOT_PERMITTED, "%s", why);
    cr_assert_str_eq(why, "certificate 'CN=host.other.test' (depth 0) has a name its issuer may not certify");
    cr_assert_eq(handshake_verdict_for("localhost", "misnamed.pem", "misnamed.key", 1, 2, why, sizeof why),
                 TLS_BAD_CERT_INVALID_ISSUER, "%s", why);
    cr_assert_str_eq(why, "certificate 'CN=localhost' (depth 0) has an invalid issuer: 'CN=tlsshim misnamed CA' is "
                          "not the name of the CA that signed it");
    cr_assert_eq(handshake_verdict_for("localhost", "misnamed-chain.pem", "misnamed-chain.key", 1, 2, why, sizeof why),
                 TLS_BAD_CERT_INVALID_ISSUER, "%s", why);
}
