/* Issue 6 causes 3 and 10 on the wire: the groups and signature schemes
 * of crypto/ as the handshake negotiates them under a security level.
 * Engine pairs for what our own client can ask (X448, secp521r1,
 * HelloRetryRequest, RFC 7919 FFDHE for TLS 1.2 DHE); hand-made ClientHellos
 * for what it never sends (a TLS 1.3 FFDHE share, invalid shares, unknown
 * groups, a SHA-224-only or SHA-1-only signature_algorithms). */
#include <criterion/criterion.h>
#include <openssl/x509.h>
#include <string.h>

#include "handshake.h"
#include "kex.h"
#include "lib/pair.h"
#include "sig.h"

typedef struct side {
    tls_options o;
    tls_config *cfg;
    tls_engine *e;
    uint8_t *cert, *key; /* a generated identity, DER */
} side;

/* A self-signed certificate for `key` (SHA-512, CN=localhost): strong enough
 * for any level (x509 judges our own certificate by the level too). */
static void identity(side *s, EVP_PKEY *key)
{
    X509 *x = X509_new();
    cr_assert(x && key);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const uint8_t *)"localhost", -1,
                               -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    cr_assert(X509_set_pubkey(x, key) && X509_sign(x, key, EVP_sha512()));
    int cl = i2d_X509(x, &s->cert), kl = i2d_PrivateKey(key, &s->key);
    cr_assert(cl > 0 && kl > 0);
    s->o.cert = s->cert;
    s->o.cert_len = (size_t)cl;
    s->o.key = s->key;
    s->o.key_len = (size_t)kl;
    X509_free(x);
    EVP_PKEY_free(key);
}

/* A server with a generated P-521 key (ecdsa) or RSA-3072 key (rsa) and a
 * client that does not verify the chain, each at its level: the client's
 * level decides which groups and schemes it offers. */
static void sides(side *c, side *s, int clevel, int slevel, bool rsa, unsigned versions, const char *cciphers,
                  const char *sciphers)
{
    memset(c, 0, sizeof *c);
    memset(s, 0, sizeof *s);
    tls_options_init(&c->o);
    tls_options_init(&s->o);
    identity(s, rsa ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072)
                    : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521"));
    c->o.security_level = clevel;
    s->o.security_level = slevel;
    c->o.versions = s->o.versions = versions;
    c->o.ciphers = cciphers;
    s->o.ciphers = sciphers;
    c->cfg = cfg_or_die(&c->o, false);
    s->cfg = cfg_or_die(&s->o, true);
    cr_assert_eq(tls_engine_new(c->cfg, NULL, &c->e, NULL), TLS_OK);
    cr_assert_eq(tls_engine_new(s->cfg, NULL, &s->e, NULL), TLS_OK);
}

static void sides_free(side *c, side *s)
{
    tls_engine_free(c->e);
    tls_engine_free(s->e);
    tls_config_free(c->cfg);
    tls_config_free(s->cfg);
    OPENSSL_free(s->cert);
    OPENSSL_free(s->key);
}

/* The ClientHello reaches the server: the group it chose (hs->group), and
 * whether it asked for another share. */
static uint16_t server_group_after_hello(side *c, side *s, bool *hrr)
{
    cr_assert_gt(pair_move(c->e, s->e), 0);
    cr_assert_not_null(s->e->hs, "the server is still in its handshake");
    *hrr = s->e->hs->hrr;
    return s->e->hs->group;
}

static void expect_finish(side *c, side *s, uint16_t version)
{
    char m1[300], m2[300];
    cr_assert(pair_handshake(c->e, s->e), "client: %s / server: %s",
              tls_format_error(tls_engine_error(c->e), m1, sizeof m1),
              tls_format_error(tls_engine_error(s->e), m2, sizeof m2));
    cr_assert_eq(tls_engine_version(c->e), version);
    cr_assert(pair_transfer(c->e, s->e, 5000));
}

/* level 4 leaves X448, P-521, P-384 and ffdhe8192, X448 first: the
 * client's one TLS 1.3 share, and schemes of 192 bits or more */
Test(groups_wire, tls13_level4_client_uses_x448)
{
    side c, s;
    sides(&c, &s, 4, 4, false, TLS_VMASK_TLS13, NULL, NULL);
    bool hrr;
    cr_expect_eq(server_group_after_hello(&c, &s, &hrr), TLS_GROUP_X448);
    cr_expect_not(hrr);
    expect_finish(&c, &s, TLS_TLS13);
    sides_free(&c, &s);
}

Test(groups_wire, tls13_level5_client_uses_secp521r1)
{
    side c, s;
    sides(&c, &s, 5, 5, false, TLS_VMASK_TLS13, NULL, NULL);
    bool hrr;
    cr_expect_eq(server_group_after_hello(&c, &s, &hrr), TLS_GROUP_SECP521R1);
    expect_finish(&c, &s, TLS_TLS13);
    sides_free(&c, &s);
}

Test(groups_wire, tls12_ecdhe_over_x448_and_secp521r1)
{
    side c, s;
    sides(&c, &s, 4, 4, false, TLS_VMASK_TLS12, "ECDHE-ECDSA-AES256-GCM-SHA384", NULL);
    bool hrr;
    cr_expect_eq(server_group_after_hello(&c, &s, &hrr), TLS_GROUP_X448);
    expect_finish(&c, &s, TLS_TLS12);
    sides_free(&c, &s);
    sides(&c, &s, 5, 5, false, TLS_VMASK_TLS12, "ECDHE-ECDSA-AES256-GCM-SHA384", NULL);
    cr_expect_eq(server_group_after_hello(&c, &s, &hrr), TLS_GROUP_SECP521R1);
    expect_finish(&c, &s, TLS_TLS12);
    sides_free(&c, &s);
}

/* RFC 7919 4: the client's supported_groups names FFDHE groups (from
 * ffdhe3072 at level 3), so the server takes its best common one rather
 * than its default ffdhe2048; the client sees a 3072-bit prime. */
Test(groups_wire, tls12_dhe_in_the_clients_ffdhe_group, .timeout = 60)
{
    side c, s;
    sides(&c, &s, 3, 3, true, TLS_VMASK_TLS12, "ECDHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES256-GCM-SHA384",
          "DHE-RSA-AES256-GCM-SHA384");
    cr_assert_gt(pair_move(c.e, s.e), 0);
    cr_assert_gt(pair_move(s.e, c.e), 0);
    cr_assert_not_null(c.e->hs);
    cr_expect_eq(c.e->hs->dh_p_len, 384, "ffdhe3072's prime, not the default ffdhe2048");
    expect_finish(&c, &s, TLS_TLS12);
    sides_free(&c, &s);
}

Test(groups_wire, tls12_dhe_without_ffdhe_groups_keeps_the_default, .timeout = 60)
{
    /* a DHE-only client sends no supported_groups: ffdhe2048 as before, which
     * a client at level 3 refuses as too weak (insufficient_security) */
    side c, s;
    sides(&c, &s, 2, 2, true, TLS_VMASK_TLS12, "DHE-RSA-AES128-GCM-SHA256", NULL);
    expect_finish(&c, &s, TLS_TLS12);
    sides_free(&c, &s);
    sides(&c, &s, 3, 2, true, TLS_VMASK_TLS12, "DHE-RSA-AES128-GCM-SHA256", NULL);
    cr_assert_not(pair_handshake(c.e, s.e));
    cr_expect_eq(tls_engine_error(c.e)->alert, TLS_ALERT_INSUFFICIENT_SECURITY);
    cr_expect(strstr(tls_engine_error(c.e)->detail, "2048-bit DH prime is below security level 3"), "%s",
              tls_engine_error(c.e)->detail);
    sides_free(&c, &s);
}

/* ---- hand-made ClientHellos ------------------------------------------ */

typedef struct hello_spec {
    uint16_t version;                   /* legacy_version; 1.3 adds supported_versions */
    const uint16_t *suites, *groups, *sigalgs, *sigalgs_cert;
    size_t n_suites, n_groups, n_sigalgs, n_sigalgs_cert;
    uint16_t share_group;               /* 0: no key_share */
    const uint8_t *share;
    size_t share_len;
} hello_spec;

static void put_list(tls_wr *w, uint16_t ext, const uint16_t *v, size_t n)
{
    tls_wr_u16(w, ext);
    size_t outer = tls_wr_begin_vec(w, 2), inner = tls_wr_begin_vec(w, 2);
    for (size_t i = 0; i < n; i++)
        tls_wr_u16(w, v[i]);
    tls_wr_end_vec(w, inner, 2);
    tls_wr_end_vec(w, outer, 2);
}

/* The ClientHello as one handshake record. */
static tls_wr client_hello(const hello_spec *h)
{
    tls_wr w = tls_wr_dynamic(2048);
    tls_wr_u8(&w, TLS_CT_HANDSHAKE);
    tls_wr_u16(&w, TLS_TLS10);
    size_t rec = tls_wr_begin_vec(&w, 2);
    tls_wr_u8(&w, TLS_HS_CLIENT_HELLO);
    size_t msg = tls_wr_begin_vec(&w, 3);
    tls_wr_u16(&w, h->version == TLS_TLS13 ? TLS_TLS12 : h->version);
    uint8_t random[32] = {7};
    tls_wr_bytes(&w, random, 32);
    tls_wr_u8(&w, 0); /* session id */
    size_t s = tls_wr_begin_vec(&w, 2);
    for (size_t i = 0; i < h->n_suites; i++)
        tls_wr_u16(&w, h->suites[i]);
    tls_wr_end_vec(&w, s, 2);
    tls_wr_u8(&w, 1);
    tls_wr_u8(&w, 0); /* null compression */
    size_t exts = tls_wr_begin_vec(&w, 2);
    if (h->version == TLS_TLS13) {
        tls_wr_u16(&w, TLS_EXT_SUPPORTED_VERSIONS);
        tls_wr_u16(&w, 3);
        tls_wr_u8(&w, 2);
        tls_wr_u16(&w, TLS_TLS13);
    }
    if (h->n_groups)
        put_list(&w, TLS_EXT_SUPPORTED_GROUPS, h->groups, h->n_groups);
    if (h->n_sigalgs)
        put_list(&w, TLS_EXT_SIGNATURE_ALGORITHMS, h->sigalgs, h->n_sigalgs);
    if (h->n_sigalgs_cert)
        put_list(&w, TLS_EXT_SIGNATURE_ALGORITHMS_CERT, h->sigalgs_cert, h->n_sigalgs_cert);
    if (h->share_group) {
        tls_wr_u16(&w, TLS_EXT_KEY_SHARE);
        size_t outer = tls_wr_begin_vec(&w, 2), list = tls_wr_begin_vec(&w, 2);
        tls_wr_u16(&w, h->share_group);
        tls_wr_vec(&w, 2, h->share, h->share_len);
        tls_wr_end_vec(&w, list, 2);
        tls_wr_end_vec(&w, outer, 2);
    }
    tls_wr_end_vec(&w, exts, 2);
    tls_wr_end_vec(&w, msg, 3);
    tls_wr_end_vec(&w, rec, 2);
    cr_assert(!w.bad);
    return w;
}

typedef struct reply {
    int alert;                /* fatal alert, -1 if none */
    bool server_hello, hrr;
    uint16_t group;           /* ServerHello / HRR key_share group */
    size_t share_len;
    uint16_t ske_scheme;      /* TLS 1.2 ServerKeyExchange signature scheme */
} reply;

/* ServerHello (key_share), ServerKeyExchange (the scheme after an ECDHE
 * P-256 params block), or a fatal alert, from the server's first flight. */
static void read_handshake(reply *r, const uint8_t *p, size_t n)
{
    tls_rd rd = tls_rd_make(p, n);
    while (tls_rd_left(&rd) >= 4) {
        uint8_t type = tls_rd_u8(&rd);
        tls_rd body = tls_rd_vec(&rd, 3, 0, 0xffffff);
        if (type == TLS_HS_SERVER_HELLO) {
            r->server_hello = true;
            tls_rd_u16(&body);
            const uint8_t *random = tls_rd_bytes(&body, 32);
            r->hrr = random && !memcmp(random, tls13_hrr_random, 32);
            tls_rd_vec(&body, 1, 0, 32);
            tls_rd_u16(&body);
            tls_rd_u8(&body);
            tls_rd exts = tls_rd_vec(&body, 2, 0, 0xffff);
            while (tls_rd_left(&exts) >= 4) {
                uint16_t t = tls_rd_u16(&exts);
                tls_rd e = tls_rd_vec(&exts, 2, 0, 0xffff);
                if (t == TLS_EXT_KEY_SHARE) {
                    r->group = tls_rd_u16(&e);
                    r->share_len = tls_rd_left(&e) >= 2 ? tls_rd_vec(&e, 2, 1, 0xffff).len : 0;
                }
            }
        } else if (type == TLS_HS_SERVER_KEY_EXCHANGE) {
            tls_rd_u8(&body); /* named_curve */
            tls_rd_u16(&body);
            tls_rd_vec(&body, 1, 1, 255);
            r->ske_scheme = tls_rd_u16(&body);
        }
    }
}

static reply ask_server(int level, unsigned versions, const hello_spec *h)
{
    tls_options o;
    tls_options_init(&o);
    o.certfile = pki("server.pem");
    o.keyfile = pki("server.key");
    o.versions = versions;
    o.ciphers = "ALL";
    o.security_level = level;
    tls_config *cfg = cfg_or_die(&o, true);
    tls_engine *s;
    cr_assert_eq(tls_engine_new(cfg, NULL, &s, NULL), TLS_OK);
    tls_wr msg = client_hello(h);
    size_t used = 0;
    tls_engine_feed(s, msg.p, msg.len, &used);
    tls_wr_free(&msg);
    reply r = {.alert = -1};
    size_t n;
    const uint8_t *p = tls_engine_output(s, &n);
    while (p && n >= 5) {
        size_t len = (size_t)p[3] << 8 | p[4];
        cr_assert(n >= 5 + len);
        if (p[0] == TLS_CT_ALERT && len == 2 && p[5] == 2)
            r.alert = p[6];
        if (p[0] == TLS_CT_HANDSHAKE)
            read_handshake(&r, p + 5, len);
        tls_engine_output_done(s, 5 + len);
        p = tls_engine_output(s, &n);
    }
    tls_engine_free(s);
    tls_config_free(cfg);
    return r;
}

static const uint16_t suites13[] = {0x1301};
static const uint16_t pss256[] = {TLS_SIG_RSA_PSS_RSAE_SHA256};

/* A TLS 1.3 hello with one share in `group` (bytes as given). */
static reply ask13(uint16_t group, const uint16_t *groups, size_t n_groups, const uint8_t *share, size_t len)
{
    hello_spec h = {.version = TLS_TLS13, .suites = suites13, .n_suites = 1, .groups = groups,
                    .n_groups = n_groups, .sigalgs = pss256, .n_sigalgs = 1, .share_group = group,
                    .share = share, .share_len = len};
    return ask_server(0, TLS_VMASK_TLS12 | TLS_VMASK_TLS13, &h);
}

Test(groups_wire, tls13_ffdhe_shares_every_group, .timeout = 60)
{
    static uint8_t pub[1024];
    for (uint16_t g = TLS_GROUP_FFDHE2048; g <= TLS_GROUP_FFDHE8192; g++) {
        size_t n = 0;
        EVP_PKEY *k = tls_ecdhe_keygen(g, pub, sizeof pub, &n);
        cr_assert(k);
        reply r = ask13(g, &g, 1, pub, n);
        cr_expect(r.server_hello && !r.hrr, "group %u: alert %d", g, r.alert);
        cr_expect_eq(r.group, g);
        cr_expect_eq(r.share_len, n, "group %u: our share is padded to p's length", g);
        EVP_PKEY_free(k);
    }
}

Test(groups_wire, tls13_invalid_shares_are_illegal_parameter)
{
    uint8_t v[256];
    uint16_t g;
    memset(v, 0, sizeof v);
    v[sizeof v - 1] = 1; /* y = 1 */
    g = TLS_GROUP_FFDHE2048;
    cr_expect_eq(ask13(g, &g, 1, v, 256).alert, TLS_ALERT_ILLEGAL_PARAMETER);
    cr_expect_eq(ask13(g, &g, 1, v + 1, 255).alert, TLS_ALERT_ILLEGAL_PARAMETER, "not padded");
    g = TLS_GROUP_X448;
    uint8_t one[56] = {1}; /* little-endian u = 1: an all-zero shared secret */
    cr_expect_eq(ask13(g, &g, 1, one, 56).alert, TLS_ALERT_ILLEGAL_PARAMETER, "x448 u = 1");
    cr_expect_eq(ask13(g, &g, 1, v, 57).alert, TLS_ALERT_ILLEGAL_PARAMETER, "57 bytes");
    g = TLS_GROUP_SECP521R1;
    memset(v, 0, 133);
    v[0] = 4; /* (0, 0): not on the curve */
    cr_expect_eq(ask13(g, &g, 1, v, 133).alert, TLS_ALERT_ILLEGAL_PARAMETER);
    uint8_t p256[65];
    size_t n;
    EVP_PKEY *k = tls_ecdhe_keygen(TLS_GROUP_SECP256R1, p256, sizeof p256, &n);
    cr_expect_eq(ask13(g, &g, 1, p256, 65).alert, TLS_ALERT_ILLEGAL_PARAMETER, "a P-256 point for P-521");
    EVP_PKEY_free(k);
}

Test(groups_wire, tls13_unknown_groups_are_skipped)
{
    /* shares only in unknown groups (EC range and FFDHE range) and a known
     * group in supported_groups: a HelloRetryRequest for it, no failure */
    uint8_t junk[128];
    memset(junk, 0x55, sizeof junk);
    const uint16_t groups[] = {0x0a0a, 0x01fc, 26, TLS_GROUP_FFDHE2048};
    reply r = ask13(0x01fc, groups, 4, junk, 128);
    cr_expect(r.server_hello && r.hrr, "alert %d", r.alert);
    cr_expect_eq(r.group, TLS_GROUP_FFDHE2048);
    r = ask13(0x0a0a, groups, 3, junk, 64);
    cr_expect_eq(r.alert, TLS_ALERT_HANDSHAKE_FAILURE, "nothing known at all: no common group");
}

/* Cause 10: a TLS 1.2 client offering only SHA-224 or only SHA-1 schemes. */
Test(groups_wire, tls12_legacy_schemes_as_the_level_allows)
{
    static const uint16_t ecdhe_rsa[] = {0xc02f};
    static const uint16_t p256[] = {TLS_GROUP_SECP256R1};
    static const uint16_t sha224[] = {TLS_SIG_RSA_PKCS1_SHA224};
    static const uint16_t sha1[] = {TLS_SIG_RSA_PKCS1_SHA1, TLS_SIG_ECDSA_SHA1};
    hello_spec h = {.version = TLS_TLS12, .suites = ecdhe_rsa, .n_suites = 1, .groups = p256, .n_groups = 1,
                    .sigalgs = sha224, .n_sigalgs = 1};
    reply r = ask_server(2, TLS_VMASK_TLS12, &h);
    cr_expect(r.server_hello, "alert %d", r.alert);
    cr_expect_eq(r.ske_scheme, TLS_SIG_RSA_PKCS1_SHA224);
    h.sigalgs = sha1;
    h.n_sigalgs = 2;
    r = ask_server(0, TLS_VMASK_TLS12, &h);
    cr_expect_eq(r.ske_scheme, TLS_SIG_RSA_PKCS1_SHA1, "level 0: SHA-1 when it is all the client takes");
    cr_expect_eq(ask_server(1, TLS_VMASK_TLS12, &h).alert, TLS_ALERT_HANDSHAKE_FAILURE,
                 "level 1 and up refuse SHA-1 signatures, as OpenSSL 3");
    /* no signature_algorithms at all: RFC 5246's SHA-1 default, level 0 only */
    h.n_sigalgs = 0;
    cr_expect_eq(ask_server(0, TLS_VMASK_TLS12, &h).ske_scheme, TLS_SIG_RSA_PKCS1_SHA1);
    cr_expect_eq(ask_server(2, TLS_VMASK_TLS12, &h).alert, TLS_ALERT_HANDSHAKE_FAILURE);
}

/* RFC 7919 4: a DHE-only client whose supported_groups names finite-field
 * groups we do not have, and no other suite: insufficient_security. The same
 * client naming ffdhe3072 gets it; naming none keeps the default. */
Test(groups_wire, tls12_dhe_with_only_unknown_ffdhe_groups_is_insufficient_security)
{
    static const uint16_t dhe_rsa[] = {0x009e};
    static const uint16_t unknown_ffdhe[] = {0x01fc, 0x01fd};
    static const uint16_t ffdhe3072[] = {0x01fc, TLS_GROUP_FFDHE3072};
    static const uint16_t ec_only[] = {TLS_GROUP_X25519};
    hello_spec h = {.version = TLS_TLS12, .suites = dhe_rsa, .n_suites = 1, .groups = unknown_ffdhe,
                    .n_groups = 2, .sigalgs = pss256, .n_sigalgs = 1};
    cr_expect_eq(ask_server(2, TLS_VMASK_TLS12, &h).alert, TLS_ALERT_INSUFFICIENT_SECURITY);
    h.groups = ffdhe3072;
    cr_expect(ask_server(2, TLS_VMASK_TLS12, &h).server_hello);
    h.groups = ec_only;
    h.n_groups = 1;
    cr_expect(ask_server(2, TLS_VMASK_TLS12, &h).server_hello);
}

/* signature_algorithms_cert alone names no scheme for the handshake: a full
 * TLS 1.2 handshake is refused even for RSA key transport (as OpenSSL does);
 * with signature_algorithms beside it, or neither, it goes ahead. */
Test(groups_wire, tls12_sigalgs_cert_without_sigalgs_is_handshake_failure)
{
    static const uint16_t rsa_kx[] = {0x002f};
    hello_spec h = {.version = TLS_TLS12, .suites = rsa_kx, .n_suites = 1, .sigalgs_cert = pss256,
                    .n_sigalgs_cert = 1};
    cr_expect_eq(ask_server(0, TLS_VMASK_TLS12, &h).alert, TLS_ALERT_HANDSHAKE_FAILURE);
    h.sigalgs = pss256;
    h.n_sigalgs = 1;
    cr_expect(ask_server(0, TLS_VMASK_TLS12, &h).server_hello);
    h.n_sigalgs = h.n_sigalgs_cert = 0;
    cr_expect(ask_server(0, TLS_VMASK_TLS12, &h).server_hello);
}
