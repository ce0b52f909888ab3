/* Cipher-suite table, `ciphers` parser and protocol versions.
 *
 * Known answers: ids and IANA names from the IANA TLS Cipher Suites registry
 * (RFC 5246 A.5, RFC 4492 section 6, RFC 5288, RFC 5289, RFC 7905, RFC 8446
 * B.4); OpenSSL names as `openssl ciphers -V -stdname` prints them (EDH- for
 * the DES/3DES DHE suites, OpenSSL's pre-1.1 names that OTP keeps); version
 * ranges from RFC 5246 (SHA-2/AEAD suites are TLS 1.2 only), RFC 4492 (ECDHE
 * is TLS only) and RFC 5469 (single DES removed from TLS 1.2). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "suites.h"

typedef struct {
    uint16_t id;
    const char *ossl;
    const char *iana;
    const char *erl;
    uint16_t lo, hi;
    bool legacy;
} kat;

#define S3 TLS_SSL3
#define T0 TLS_TLS10
#define T1 TLS_TLS11
#define T2 TLS_TLS12
#define T3 TLS_TLS13

static const kat kats[] = {
    {0x1301, "TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256", "{any,aes_128_gcm,sha256}", T3, T3, false},
    {0x1302, "TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384", "{any,aes_256_gcm,sha384}", T3, T3, false},
    {0x1303, "TLS_CHACHA20_POLY1305_SHA256", "TLS_CHACHA20_POLY1305_SHA256", "{any,chacha20_poly1305,sha256}", T3,
     T3, false},
    {0xc02b, "ECDHE-ECDSA-AES128-GCM-SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
     "{ecdhe_ecdsa,aes_128_gcm,sha256}", T2, T2, false},
    {0xc02c, "ECDHE-ECDSA-AES256-GCM-SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
     "{ecdhe_ecdsa,aes_256_gcm,sha384}", T2, T2, false},
    {0xcca9, "ECDHE-ECDSA-CHACHA20-POLY1305", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
     "{ecdhe_ecdsa,chacha20_poly1305,sha256}", T2, T2, false},
    {0xc023, "ECDHE-ECDSA-AES128-SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
     "{ecdhe_ecdsa,aes_128_cbc,sha256}", T2, T2, false},
    {0xc024, "ECDHE-ECDSA-AES256-SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
     "{ecdhe_ecdsa,aes_256_cbc,sha384}", T2, T2, false},
    {0xc009, "ECDHE-ECDSA-AES128-SHA", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "{ecdhe_ecdsa,aes_128_cbc,sha}", T0,
     T2, false},
    {0xc00a, "ECDHE-ECDSA-AES256-SHA", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "{ecdhe_ecdsa,aes_256_cbc,sha}", T0,
     T2, false},
    {0xc008, "ECDHE-ECDSA-DES-CBC3-SHA", "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA",
     "{ecdhe_ecdsa,'3des_ede_cbc',sha}", T0, T2, true},
    {0xc007, "ECDHE-ECDSA-RC4-SHA", "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", "{ecdhe_ecdsa,rc4_128,sha}", T0, T2, true},
    {0xc02f, "ECDHE-RSA-AES128-GCM-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
     "{ecdhe_rsa,aes_128_gcm,sha256}", T2, T2, false},
    {0xc030, "ECDHE-RSA-AES256-GCM-SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
     "{ecdhe_rsa,aes_256_gcm,sha384}", T2, T2, false},
    {0xcca8, "ECDHE-RSA-CHACHA20-POLY1305", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
     "{ecdhe_rsa,chacha20_poly1305,sha256}", T2, T2, false},
    {0xc027, "ECDHE-RSA-AES128-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "{ecdhe_rsa,aes_128_cbc,sha256}",
     T2, T2, false},
    {0xc028, "ECDHE-RSA-AES256-SHA384", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", "{ecdhe_rsa,aes_256_cbc,sha384}",
     T2, T2, false},
    {0xc013, "ECDHE-RSA-AES128-SHA", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "{ecdhe_rsa,aes_128_cbc,sha}", T0, T2,
     false},
    {0xc014, "ECDHE-RSA-AES256-SHA", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "{ecdhe_rsa,aes_256_cbc,sha}", T0, T2,
     false},
    {0xc012, "ECDHE-RSA-DES-CBC3-SHA", "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "{ecdhe_rsa,'3des_ede_cbc',sha}", T0,
     T2, true},
    {0xc011, "ECDHE-RSA-RC4-SHA", "TLS_ECDHE_RSA_WITH_RC4_128_SHA", "{ecdhe_rsa,rc4_128,sha}", T0, T2, true},
    {0x009e, "DHE-RSA-AES128-GCM-SHA256", "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "{dhe_rsa,aes_128_gcm,sha256}", T2,
     T2, false},
    {0x009f, "DHE-RSA-AES256-GCM-SHA384", "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", "{dhe_rsa,aes_256_gcm,sha384}", T2,
     T2, false},
    {0xccaa, "DHE-RSA-CHACHA20-POLY1305", "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
     "{dhe_rsa,chacha20_poly1305,sha256}", T2, T2, false},
    {0x0067, "DHE-RSA-AES128-SHA256", "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", "{dhe_rsa,aes_128_cbc,sha256}", T2, T2,
     false},
    {0x006b, "DHE-RSA-AES256-SHA256", "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", "{dhe_rsa,aes_256_cbc,sha256}", T2, T2,
     false},
    {0x0033, "DHE-RSA-AES128-SHA", "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", "{dhe_rsa,aes_128_cbc,sha}", S3, T2, false},
    {0x0039, "DHE-RSA-AES256-SHA", "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", "{dhe_rsa,aes_256_cbc,sha}", S3, T2, false},
    {0x0016, "EDH-RSA-DES-CBC3-SHA", "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA", "{dhe_rsa,'3des_ede_cbc',sha}", S3, T2,
     true},
    {0x0015, "EDH-RSA-DES-CBC-SHA", "TLS_DHE_RSA_WITH_DES_CBC_SHA", "{dhe_rsa,des_cbc,sha}", S3, T1, true},
    {0x00a2, "DHE-DSS-AES128-GCM-SHA256", "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256", "{dhe_dss,aes_128_gcm,sha256}", T2,
     T2, false},
    {0x00a3, "DHE-DSS-AES256-GCM-SHA384", "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384", "{dhe_dss,aes_256_gcm,sha384}", T2,
     T2, false},
    {0x0040, "DHE-DSS-AES128-SHA256", "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256", "{dhe_dss,aes_128_cbc,sha256}", T2, T2,
     false},
    {0x006a, "DHE-DSS-AES256-SHA256", "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256", "{dhe_dss,aes_256_cbc,sha256}", T2, T2,
     false},
    {0x0032, "DHE-DSS-AES128-SHA", "TLS_DHE_DSS_WITH_AES_128_CBC_SHA", "{dhe_dss,aes_128_cbc,sha}", S3, T2, false},
    {0x0038, "DHE-DSS-AES256-SHA", "TLS_DHE_DSS_WITH_AES_256_CBC_SHA", "{dhe_dss,aes_256_cbc,sha}", S3, T2, false},
    {0x0013, "EDH-DSS-DES-CBC3-SHA", "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA", "{dhe_dss,'3des_ede_cbc',sha}", S3, T2,
     true},
    {0x0012, "EDH-DSS-DES-CBC-SHA", "TLS_DHE_DSS_WITH_DES_CBC_SHA", "{dhe_dss,des_cbc,sha}", S3, T1, true},
    {0x009c, "AES128-GCM-SHA256", "TLS_RSA_WITH_AES_128_GCM_SHA256", "{rsa,aes_128_gcm,sha256}", T2, T2, true},
    {0x009d, "AES256-GCM-SHA384", "TLS_RSA_WITH_AES_256_GCM_SHA384", "{rsa,aes_256_gcm,sha384}", T2, T2, true},
    {0x003c, "AES128-SHA256", "TLS_RSA_WITH_AES_128_CBC_SHA256", "{rsa,aes_128_cbc,sha256}", T2, T2, true},
    {0x003d, "AES256-SHA256", "TLS_RSA_WITH_AES_256_CBC_SHA256", "{rsa,aes_256_cbc,sha256}", T2, T2, true},
    {0x002f, "AES128-SHA", "TLS_RSA_WITH_AES_128_CBC_SHA", "{rsa,aes_128_cbc,sha}", S3, T2, true},
    {0x0035, "AES256-SHA", "TLS_RSA_WITH_AES_256_CBC_SHA", "{rsa,aes_256_cbc,sha}", S3, T2, true},
    {0x000a, "DES-CBC3-SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA", "{rsa,'3des_ede_cbc',sha}", S3, T2, true},
    {0x0009, "DES-CBC-SHA", "TLS_RSA_WITH_DES_CBC_SHA", "{rsa,des_cbc,sha}", S3, T1, true},
    {0x0005, "RC4-SHA", "TLS_RSA_WITH_RC4_128_SHA", "{rsa,rc4_128,sha}", S3, T2, true},
    {0x0004, "RC4-MD5", "TLS_RSA_WITH_RC4_128_MD5", "{rsa,rc4_128,md5}", S3, T2, true},
};
#define NKATS (sizeof kats / sizeof kats[0])

static bool available_13(void)
{
    return (TLS_AVAILABLE_VERSIONS & TLS_VMASK_TLS13) != 0;
}

/* parses `list` and expects exactly the ids given */
static void expect_parse(const char *list, const uint16_t *want, size_t nwant)
{
    uint16_t ids[64];
    tls_error err;
    tls_err_clear(&err);
    int n = tls_parse_ciphers(list, ids, 64, &err);
    cr_assert_eq(n, (int)nwant, "'%s': got %d suites, want %zu (%s)", list, n, nwant, err.detail);
    for (size_t i = 0; i < nwant; i++)
        cr_expect_eq(ids[i], want[i], "'%s' [%zu]: 0x%04x, want 0x%04x", list, i, ids[i], want[i]);
}

/* parses `list`, expects failure with exactly `detail` */
static void expect_parse_error(const char *list, const char *detail)
{
    uint16_t ids[64];
    tls_error err;
    tls_err_clear(&err);
    cr_assert_eq(tls_parse_ciphers(list, ids, 64, &err), -1, "'%s' should fail", list);
    cr_expect_eq(err.code, TLS_E_BADARG);
    cr_expect_str_eq(err.detail, detail, "'%s'", list);
}

/* ---- the table ------------------------------------------------------------ */

Test(suites, table_matches_registry)
{
    size_t n;
    const tls_suite *all = tls_suites_all(&n);
    cr_assert_not_null(all);
    cr_assert_eq(n, NKATS, "table has %zu rows, registry list %zu", n, NKATS);
    cr_assert_eq(n, 48);
    for (size_t i = 0; i < NKATS; i++) {
        const kat *k = &kats[i];
        const tls_suite *s = tls_suite_by_id(k->id);
        cr_assert_not_null(s, "0x%04x missing", k->id);
        cr_expect_eq(s->info.id, k->id);
        cr_expect_str_eq(s->info.openssl_name, k->ossl);
        cr_expect_str_eq(s->info.iana_name, k->iana);
        cr_expect_eq(s->min_version, k->lo, "%s min", k->ossl);
        cr_expect_eq(s->max_version, k->hi, "%s max", k->ossl);
        cr_expect_eq(s->legacy, k->legacy, "%s legacy", k->ossl);
        char buf[64];
        cr_expect_str_eq(tls_suite_format_name(&s->info, TLS_SUITES_ERLANG, buf, sizeof buf), k->erl);
    }
}

static const char *kx_iana(tls_kx kx)
{
    switch (kx) {
    case TLS_KX_RSA: return "RSA";
    case TLS_KX_DHE_RSA: return "DHE_RSA";
    case TLS_KX_DHE_DSS: return "DHE_DSS";
    case TLS_KX_ECDHE_RSA: return "ECDHE_RSA";
    case TLS_KX_ECDHE_ECDSA: return "ECDHE_ECDSA";
    default: return NULL;
    }
}

static const char *kx_erl(tls_kx kx)
{
    switch (kx) {
    case TLS_KX_RSA: return "rsa";
    case TLS_KX_DHE_RSA: return "dhe_rsa";
    case TLS_KX_DHE_DSS: return "dhe_dss";
    case TLS_KX_ECDHE_RSA: return "ecdhe_rsa";
    case TLS_KX_ECDHE_ECDSA: return "ecdhe_ecdsa";
    case TLS_KX_TLS13: return "any";
    }
    return "?";
}

static const char *const cipher_iana[TLS_CIPHER_COUNT] = {
    "RC4_128", "DES_CBC", "3DES_EDE_CBC", "AES_128_CBC", "AES_256_CBC", "AES_128_GCM", "AES_256_GCM",
    "CHACHA20_POLY1305",
};
static const char *const cipher_erl[TLS_CIPHER_COUNT] = {
    "rc4_128", "des_cbc", "3des_ede_cbc", "aes_128_cbc", "aes_256_cbc", "aes_128_gcm", "aes_256_gcm",
    "chacha20_poly1305",
};

/* Every row's names and enums tell the same story. */
Test(suites, rows_consistent)
{
    size_t n;
    const tls_suite *all = tls_suites_all(&n);
    for (size_t i = 0; i < n; i++) {
        const tls_suite *s = &all[i];
        const char *on = s->info.openssl_name;
        bool sha384 = strstr(s->info.iana_name, "SHA384") != NULL;
        /* AEAD suites are named after their PRF hash */
        const char *mac_name = s->mac == TLS_MAC_MD5      ? "MD5"
                               : s->mac == TLS_MAC_SHA1   ? "SHA"
                               : s->mac == TLS_MAC_SHA256 ? "SHA256"
                               : s->mac == TLS_MAC_SHA384 ? "SHA384"
                                                          : (s->prf_hash == TLS_HASH_SHA384 ? "SHA384" : "SHA256");
        char want[80];
        if (s->kx == TLS_KX_TLS13) /* RFC 8446 B.4: no key exchange in the name */
            snprintf(want, sizeof want, "TLS_%s_%s", cipher_iana[s->cipher], mac_name);
        else
            snprintf(want, sizeof want, "TLS_%s_WITH_%s_%s", kx_iana(s->kx), cipher_iana[s->cipher], mac_name);
        cr_expect_str_eq(s->info.iana_name, want, "%s", on);

        cr_expect_str_eq(s->info.kx, kx_erl(s->kx), "%s", on);
        cr_expect_str_eq(s->info.cipher, cipher_erl[s->cipher], "%s", on);
        const char *h = s->mac == TLS_MAC_MD5      ? "md5"
                        : s->mac == TLS_MAC_SHA1   ? "sha"
                        : s->mac == TLS_MAC_SHA256 ? "sha256"
                        : s->mac == TLS_MAC_SHA384 ? "sha384"
                                                   : (s->prf_hash == TLS_HASH_SHA384 ? "sha384" : "sha256");
        cr_expect_str_eq(s->info.hash, h, "%s", on);

        const tls_cipher_desc *d = tls_cipher_desc_get(s->cipher);
        cr_assert_not_null(d);
        cr_expect_eq(d->kind == TLS_CIPHER_AEAD, s->mac == TLS_MAC_AEAD, "%s: AEAD cipher iff no MAC", on);
        cr_expect_eq(s->prf_hash, sha384 ? TLS_HASH_SHA384 : TLS_HASH_SHA256, "%s prf", on);

        bool legacy = s->cipher == TLS_CIPHER_RC4_128 || s->cipher == TLS_CIPHER_DES_CBC ||
                      s->cipher == TLS_CIPHER_3DES_EDE_CBC || s->mac == TLS_MAC_MD5 || s->kx == TLS_KX_RSA;
        cr_expect_eq(s->legacy, legacy, "%s legacy", on);

        uint16_t lo, hi;
        if (s->kx == TLS_KX_TLS13)
            lo = hi = TLS_TLS13;
        else if (s->mac == TLS_MAC_AEAD || s->mac == TLS_MAC_SHA256 || s->mac == TLS_MAC_SHA384)
            lo = hi = TLS_TLS12;
        else if (s->cipher == TLS_CIPHER_DES_CBC)
            lo = TLS_SSL3, hi = TLS_TLS11;
        else if (s->kx == TLS_KX_ECDHE_RSA || s->kx == TLS_KX_ECDHE_ECDSA)
            lo = TLS_TLS10, hi = TLS_TLS12;
        else
            lo = TLS_SSL3, hi = TLS_TLS12;
        cr_expect_eq(s->min_version, lo, "%s min", on);
        cr_expect_eq(s->max_version, hi, "%s max", on);
    }
}

Test(suites, ids_and_names_unique)
{
    size_t n;
    const tls_suite *all = tls_suites_all(&n);
    for (size_t i = 0; i < n; i++) {
        char ei[64], ej[64];
        tls_suite_format_name(&all[i].info, TLS_SUITES_ERLANG, ei, sizeof ei);
        for (size_t j = i + 1; j < n; j++) {
            cr_expect_neq(all[i].info.id, all[j].info.id);
            cr_expect_neq(strcasecmp(all[i].info.openssl_name, all[j].info.openssl_name), 0, "%s",
                          all[i].info.openssl_name);
            cr_expect_neq(strcasecmp(all[i].info.iana_name, all[j].info.iana_name), 0, "%s", all[i].info.iana_name);
            tls_suite_format_name(&all[j].info, TLS_SUITES_ERLANG, ej, sizeof ej);
            cr_expect_str_neq(ei, ej);
        }
    }
}

Test(suites, table_order)
{
    size_t n;
    const tls_suite *all = tls_suites_all(&n);
    /* TLS 1.3 first, then forward-secret AEAD, then the rest; legacy last */
    size_t i = 0;
    while (i < n && all[i].kx == TLS_KX_TLS13)
        i++;
    cr_expect_eq(i, 3);
    cr_expect_eq(all[i].info.id, 0xc02b);
    bool seen_legacy = false, seen_cbc = false;
    for (; i < n; i++) {
        if (all[i].legacy)
            seen_legacy = true;
        else
            cr_expect_not(seen_legacy, "%s after a legacy suite", all[i].info.openssl_name);
        if (all[i].mac != TLS_MAC_AEAD)
            seen_cbc = true;
        else if (!all[i].legacy)
            cr_expect_not(seen_cbc, "%s AEAD after CBC", all[i].info.openssl_name);
    }
}

Test(suites, lookup)
{
    for (size_t i = 0; i < NKATS; i++) {
        const tls_suite_info *in = tls_suite_lookup(kats[i].id);
        cr_assert_not_null(in);
        cr_expect_eq(in->id, kats[i].id);
        const tls_suite *s = tls_suite_from_info(in);
        cr_assert_not_null(s);
        cr_expect_eq(&s->info, in);
        cr_expect_eq(s, tls_suite_by_id(kats[i].id));
    }
    const uint16_t absent[] = {0x0000, 0x00ff, 0x5600, 0x0003, 0xc02e, 0x1304, 0xffff};
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++) {
        cr_expect_null(tls_suite_lookup(absent[i]), "0x%04x", absent[i]);
        cr_expect_null(tls_suite_by_id(absent[i]));
    }
    cr_expect_null(tls_suite_from_info(NULL));
    tls_suite_info fake = {0x002f, "x", "y", "rsa", "aes_128_cbc", "sha"};
    cr_expect_eq(tls_suite_from_info(&fake), tls_suite_by_id(0x002f));
    fake.id = 0x00ff;
    cr_expect_null(tls_suite_from_info(&fake));
}

/* ---- formatting ----------------------------------------------------------- */

Test(suites, format_name)
{
    const tls_suite_info *s = tls_suite_lookup(0x002f);
    char buf[64];
    cr_expect_str_eq(tls_suite_format_name(s, TLS_SUITES_ERLANG, buf, sizeof buf), "{rsa,aes_128_cbc,sha}");
    cr_expect_str_eq(tls_suite_format_name(s, TLS_SUITES_OPENSSL, buf, sizeof buf), "AES128-SHA");
    cr_expect_str_eq(tls_suite_format_name(s, TLS_SUITES_IANA, buf, sizeof buf), "TLS_RSA_WITH_AES_128_CBC_SHA");
    cr_expect_eq(tls_suite_format_name(s, TLS_SUITES_IANA, buf, sizeof buf), buf);
    /* Erlang quotes an atom that starts with a digit */
    cr_expect_str_eq(tls_suite_format_name(tls_suite_lookup(0x000a), TLS_SUITES_ERLANG, buf, sizeof buf),
                     "{rsa,'3des_ede_cbc',sha}");
    cr_expect_str_eq(tls_suite_format_name(tls_suite_lookup(0xcca8), TLS_SUITES_ERLANG, buf, sizeof buf),
                     "{ecdhe_rsa,chacha20_poly1305,sha256}");

    /* exact fit, one byte short, bad arguments */
    char small[sizeof "AES128-SHA"];
    cr_expect_str_eq(tls_suite_format_name(s, TLS_SUITES_OPENSSL, small, sizeof small), "AES128-SHA");
    cr_expect_null(tls_suite_format_name(s, TLS_SUITES_OPENSSL, small, sizeof small - 1));
    cr_expect_str_eq(small, "");
    cr_expect_null(tls_suite_format_name(s, TLS_SUITES_ERLANG, small, sizeof small));
    cr_expect_null(tls_suite_format_name(NULL, TLS_SUITES_ERLANG, buf, sizeof buf));
    cr_expect_null(tls_suite_format_name(s, TLS_SUITES_ERLANG, NULL, 10));
    cr_expect_null(tls_suite_format_name(s, TLS_SUITES_ERLANG, buf, 0));
    cr_expect_null(tls_suite_format_name(s, (tls_suite_format)7, buf, sizeof buf));
}

/* Every suite goes out in each form and comes back as itself. */
Test(suites, round_trip_all_forms)
{
    static const tls_suite_format fmts[] = {TLS_SUITES_ERLANG, TLS_SUITES_OPENSSL, TLS_SUITES_IANA};
    for (size_t i = 0; i < NKATS; i++) {
        const tls_suite *s = tls_suite_by_id(kats[i].id);
        bool usable = tls_suite_usable_any(s, TLS_AVAILABLE_VERSIONS);
        for (size_t f = 0; f < 3; f++) {
            char name[80], hex[8];
            cr_assert_not_null(tls_suite_format_name(&s->info, fmts[f], name, sizeof name));
            uint16_t ids[4];
            tls_error err;
            tls_err_clear(&err);
            int n = tls_parse_ciphers(name, ids, 4, &err);
            if (usable) {
                cr_expect_eq(n, 1, "'%s': %s", name, err.detail);
                cr_expect_eq(ids[0], s->info.id, "'%s'", name);
            } else {
                /* TLS 1.3 before 1.3 exists, RC4/DES without the legacy provider */
                char want[200];
                snprintf(want, sizeof want, "cipher suite '%s' is not available in this build", name);
                cr_expect_eq(n, -1, "'%s'", name);
                cr_expect_str_eq(err.detail, want);
            }
            snprintf(hex, sizeof hex, "0x%04x", s->info.id);
            n = tls_parse_ciphers(hex, ids, 4, NULL);
            cr_expect_eq(n, usable ? 1 : -1, "%s", hex);
        }
    }
}

/* ---- parsing -------------------------------------------------------------- */

Test(suites, parse_forms)
{
    expect_parse("ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA", (uint16_t[]){0xc02f, 0x002f}, 2);
    expect_parse("tls_ecdhe_rsa_with_aes_256_gcm_sha384", (uint16_t[]){0xc030}, 1);
    expect_parse("ecdhe-rsa-aes256-sha", (uint16_t[]){0xc014}, 1);
    expect_parse("{rsa,aes_128_cbc,sha}", (uint16_t[]){0x002f}, 1);
    expect_parse("  { rsa , \"aes_128_cbc\" , 'sha' }  ", (uint16_t[]){0x002f}, 1);
    expect_parse("{dhe_dss,aes_256_gcm,sha384}", (uint16_t[]){0x00a3}, 1);
    expect_parse("{ecdhe_rsa,aes_128_gcm,aead}", (uint16_t[]){0xc02f}, 1);
    expect_parse("0x002f", (uint16_t[]){0x002f}, 1);
    expect_parse("0X2F", (uint16_t[]){0x002f}, 1);
    expect_parse("0xC02B", (uint16_t[]){0xc02b}, 1);
    /* OpenSSL 3 spelling of the EDH- suites */
    expect_parse("DHE-RSA-AES128-SHA:DHE-DSS-DES-CBC3-SHA", (uint16_t[]){0x0033, 0x0013}, 2);
}

Test(suites, parse_legacy_forms)
{
    bool rc4 = tls_algs_cipher(TLS_CIPHER_RC4_128) != NULL;
    bool des = tls_algs_cipher(TLS_CIPHER_DES_CBC) != NULL;
    expect_parse("{rsa,'3des_ede_cbc',sha}", (uint16_t[]){0x000a}, 1);
    expect_parse("{rsa, '3des_ede_cbc', sha}, DES-CBC3-SHA", (uint16_t[]){0x000a}, 1);
    expect_parse("EDH-RSA-DES-CBC3-SHA", (uint16_t[]){0x0016}, 1);
    if (rc4) {
        expect_parse("SSL_RSA_WITH_RC4_128_MD5", (uint16_t[]){0x0004}, 1);
        expect_parse("{rsa,rc4_128,md5},{rsa,rc4_128,sha}", (uint16_t[]){0x0004, 0x0005}, 2);
    } else {
        expect_parse_error("SSL_RSA_WITH_RC4_128_MD5",
                           "cipher suite 'SSL_RSA_WITH_RC4_128_MD5' is not available in this build");
    }
    if (des)
        expect_parse("DHE-RSA-DES-CBC-SHA:EDH-DSS-DES-CBC-SHA", (uint16_t[]){0x0015, 0x0012}, 2);
    else
        expect_parse_error("DES-CBC-SHA", "cipher suite 'DES-CBC-SHA' is not available in this build");
}

Test(suites, parse_mixed_list)
{
    expect_parse("{rsa,aes_128_cbc,sha}, TLS_RSA_WITH_AES_256_CBC_SHA : 0xc02b,ECDHE-RSA-CHACHA20-POLY1305",
                 (uint16_t[]){0x002f, 0x0035, 0xc02b, 0xcca8}, 4);
    /* duplicates in any spelling count once, first position wins */
    expect_parse("AES128-SHA:ECDHE-RSA-AES128-SHA:aes128-sha:0x002f:{rsa,aes_128_cbc,sha}",
                 (uint16_t[]){0x002f, 0xc013}, 2);
    /* empty entries are skipped */
    expect_parse("::AES128-SHA,, ,AES256-SHA:", (uint16_t[]){0x002f, 0x0035}, 2);
    /* what OpenSSL users paste */
    expect_parse("DHE-RSA-AES256-SHA@SECLEVEL=0", (uint16_t[]){0x0039}, 1);
    expect_parse("@SECLEVEL=2:AES128-SHA:@STRENGTH", (uint16_t[]){0x002f}, 1);
    expect_parse("AES128-SHA @SECLEVEL=10", (uint16_t[]){0x002f}, 1);
}

static size_t collect_all(uint16_t *ids, size_t max)
{
    const tls_suite_info *infos[64];
    size_t n = tls_cipher_suites(infos, 64);
    for (size_t i = 0; i < n && i < max; i++)
        ids[i] = infos[i]->id;
    return n;
}

/* OpenSSL's order for ALL: the strongest cipher first (3DES rated 112
 * bits), the table's order within one strength (insertion sort: stable). */
static unsigned strength(uint16_t id)
{
    const tls_suite *s = tls_suite_by_id(id);
    return s->cipher == TLS_CIPHER_3DES_EDE_CBC ? 112u : 8u * tls_cipher_desc_get(s->cipher)->key_len;
}

static void sort_by_strength(uint16_t *ids, size_t n)
{
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strength(ids[j - 1]) < strength(ids[j]); j--) {
            uint16_t t = ids[j];
            ids[j] = ids[j - 1];
            ids[j - 1] = t;
        }
}

Test(suites, parse_keywords)
{
    uint16_t all[64], def[64], got[64];
    size_t nall = collect_all(all, 64);
    sort_by_strength(all, nall);
    cr_assert_eq(strength(all[0]), 256);
    expect_parse("ALL", all, nall);
    expect_parse("all", all, nall);

    size_t ndef = tls_default_ciphers(TLS_DEFAULT_VERSIONS & TLS_AVAILABLE_VERSIONS, def, 64);
    cr_assert_gt(ndef, 0);
    expect_parse("DEFAULT", def, ndef);
    expect_parse(NULL, def, ndef);
    expect_parse("", def, ndef);
    expect_parse(" , : ", def, ndef);

    /* a named suite first, then the rest of the defaults */
    got[0] = 0x002f;
    memcpy(got + 1, def, ndef * sizeof def[0]);
    expect_parse("AES128-SHA:DEFAULT", got, ndef + 1);
    got[0] = def[ndef - 1];
    memcpy(got + 1, def, (ndef - 1) * sizeof def[0]);
    char list[128];
    snprintf(list, sizeof list, "0x%04x:DEFAULT", def[ndef - 1]);
    expect_parse(list, got, ndef);

    /* !X removes X and keeps it out (OpenSSL semantics) */
    size_t k = 0;
    for (size_t i = 0; i < nall; i++)
        if (all[i] != 0x002f)
            got[k++] = all[i];
    expect_parse("ALL:!AES128-SHA", got, k);
    expect_parse("!AES128-SHA:ALL", got, k);
    expect_parse("ALL:!{rsa,aes_128_cbc,sha}:AES128-SHA", got, k);
    expect_parse("ALL:! 0x002f", got, k);

    /* ALL minus DEFAULT: every suite the defaults leave out, legacy or not */
    k = 0;
    for (size_t i = 0; i < nall; i++) {
        bool in_def = false;
        for (size_t j = 0; j < ndef; j++)
            in_def |= def[j] == all[i];
        if (!in_def)
            got[k++] = all[i];
    }
    cr_assert_gt(k, 0);
    expect_parse("ALL:!DEFAULT", got, k);
    expect_parse("DEFAULT:!DEFAULT:AES128-SHA", (uint16_t[]){0x002f}, 1);
}

Test(suites, parse_errors)
{
    expect_parse_error("NOPE", "unknown cipher suite 'NOPE' in ciphers");
    expect_parse_error("AES128-SHA: AES128-SHA1 ", "unknown cipher suite 'AES128-SHA1' in ciphers");
    expect_parse_error("AES128", "unknown cipher suite 'AES128' in ciphers");
    expect_parse_error("TLS_RSA_WITH_AES_128_CBC", "unknown cipher suite 'TLS_RSA_WITH_AES_128_CBC' in ciphers");
    expect_parse_error("SSL_", "unknown cipher suite 'SSL_' in ciphers");
    expect_parse_error("{rsa,aes_128_cbc}", "unknown cipher suite '{rsa,aes_128_cbc}' in ciphers");
    expect_parse_error("{rsa,aes_128_cbc,sha,x}", "unknown cipher suite '{rsa,aes_128_cbc,sha,x}' in ciphers");
    expect_parse_error("{rsa,aes_128_gcm,sha}", "unknown cipher suite '{rsa,aes_128_gcm,sha}' in ciphers");
    expect_parse_error("{rsa,aes_128_cbc,aead}", "unknown cipher suite '{rsa,aes_128_cbc,aead}' in ciphers");
    expect_parse_error("{rsa,aes_128_cbc,sha", "unknown cipher suite '{rsa,aes_128_cbc,sha' in ciphers");
    expect_parse_error("{,,}", "unknown cipher suite '{,,}' in ciphers");
    expect_parse_error("{}", "unknown cipher suite '{}' in ciphers");
    expect_parse_error("rsa,aes_128_cbc,sha", "unknown cipher suite 'rsa' in ciphers");
    expect_parse_error("0x1234", "unknown cipher suite '0x1234' in ciphers");
    expect_parse_error("0x", "unknown cipher suite '0x' in ciphers");
    expect_parse_error("0x0002f", "unknown cipher suite '0x0002f' in ciphers");
    expect_parse_error("0xg02f", "unknown cipher suite '0xg02f' in ciphers");
    expect_parse_error("!", "unknown cipher suite '!' in ciphers");
    expect_parse_error("ALL:!NOPE", "unknown cipher suite '!NOPE' in ciphers");
    expect_parse_error("@SECLEVEL=x", "unknown cipher suite '@SECLEVEL=x' in ciphers");
    expect_parse_error("@SECLEVEL=", "unknown cipher suite '@SECLEVEL=' in ciphers");
    expect_parse_error("HIGH", "unknown cipher suite 'HIGH' in ciphers");

    /* nothing left */
    expect_parse_error("AES128-SHA:!AES128-SHA", "ciphers leaves no cipher suite");
    expect_parse_error("ALL:!ALL", "ciphers leaves no cipher suite");
    expect_parse_error("@STRENGTH", "ciphers leaves no cipher suite");

    /* a long name is quoted, cut short */
    char longname[400];
    memset(longname, 'A', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    uint16_t ids[4];
    tls_error err;
    tls_err_clear(&err);
    cr_assert_eq(tls_parse_ciphers(longname, ids, 4, &err), -1);
    cr_expect_eq(strlen(err.detail), strlen("unknown cipher suite '' in ciphers") + 120);

    /* err may be NULL */
    cr_expect_eq(tls_parse_ciphers("NOPE", ids, 4, NULL), -1);
}

Test(suites, parse_capacity)
{
    uint16_t ids[2] = {0xdead, 0xbeef};
    tls_error err;
    tls_err_clear(&err);
    cr_expect_eq(tls_parse_ciphers("AES128-SHA:AES256-SHA", ids, 2, &err), 2);
    cr_expect_eq(tls_parse_ciphers("AES128-SHA:AES256-SHA:DHE-RSA-AES128-SHA", ids, 2, &err), -1);
    cr_expect_str_eq(err.detail, "ciphers: 3 suites do not fit in 2");
    cr_expect_eq(tls_parse_ciphers("AES128-SHA", NULL, 0, &err), -1);
    size_t ndef = tls_default_ciphers(TLS_DEFAULT_VERSIONS & TLS_AVAILABLE_VERSIONS, NULL, 0);
    char want[100];
    snprintf(want, sizeof want, "ciphers: %zu default suites do not fit in 2", ndef);
    cr_expect_eq(tls_parse_ciphers("", ids, 2, &err), -1);
    cr_expect_str_eq(err.detail, want);
}

Test(suites, parse_unavailable_tls13)
{
    if (available_13()) {
        expect_parse("TLS_AES_128_GCM_SHA256:AES128-SHA", (uint16_t[]){0x1301, 0x002f}, 2);
        return;
    }
    /* named TLS 1.3 suites are dropped until 1.3 exists; alone they are an error */
    expect_parse("TLS_AES_128_GCM_SHA256:AES128-SHA", (uint16_t[]){0x002f}, 1);
    expect_parse("{any,aes_256_gcm,sha384}:0x1303:AES256-SHA", (uint16_t[]){0x0035}, 1);
    expect_parse_error("TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256",
                       "cipher suite 'TLS_AES_256_GCM_SHA384' is not available in this build");
    /* ALL and DEFAULT hold no TLS 1.3 suite */
    uint16_t ids[64];
    int n = tls_parse_ciphers("ALL", ids, 64, NULL);
    cr_assert_gt(n, 0);
    for (int i = 0; i < n; i++)
        cr_expect_neq(tls_suite_by_id(ids[i])->kx, TLS_KX_TLS13);
    /* removing one is fine */
    expect_parse("AES128-SHA:!TLS_AES_128_GCM_SHA256", (uint16_t[]){0x002f}, 1);
}

/* ---- defaults ------------------------------------------------------------- */

/* Mozilla's "intermediate" profile (ssl-config.mozilla.org, version 5.7),
 * in its order: ECDSA before RSA, AES-128-GCM, AES-256-GCM, ChaCha20. */
static const uint16_t intermediate12[] = {0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9,
                                          0xcca8, 0x009e, 0x009f, 0xccaa};

Test(suites, defaults_are_mozilla_intermediate)
{
    uint16_t ids[64];
    size_t n = tls_default_ciphers(TLS_VMASK_TLS12, ids, 64);
    size_t want = sizeof intermediate12 / sizeof intermediate12[0];
    cr_assert_eq(n, want);
    for (size_t i = 0; i < n; i++) {
        const tls_suite *s = tls_suite_by_id(ids[i]);
        cr_expect_eq(ids[i], intermediate12[i], "position %zu: %s", i, s->info.openssl_name);
        cr_expect_eq(tls_cipher_desc_get(s->cipher)->kind, TLS_CIPHER_AEAD, "no CBC (Lucky13)");
        cr_expect(s->kx != TLS_KX_RSA && s->kx != TLS_KX_DHE_DSS, "%s", s->info.openssl_name);
    }
    /* the full count comes back whatever max is */
    uint16_t two[2];
    cr_expect_eq(tls_default_ciphers(TLS_VMASK_TLS12, two, 2), want);
    cr_expect_eq(two[0], 0xc02b);
    cr_expect_eq(tls_default_ciphers(TLS_VMASK_TLS12, NULL, 0), want);
    cr_expect_eq(tls_default_ciphers(0, ids, 64), 0);
    cr_expect_eq(tls_default_ciphers(TLS_VMASK_TLS13, ids, 64), available_13() ? 3u : 0u);
    size_t nd = tls_default_ciphers(TLS_DEFAULT_VERSIONS & TLS_AVAILABLE_VERSIONS, ids, 64);
    cr_expect_eq(nd, want + (available_13() ? 3u : 0u));
    /* CBC and RSA key transport stay available by name */
    uint16_t got[4];
    tls_error err;
    cr_expect_eq(tls_parse_ciphers("ECDHE-RSA-AES128-SHA:AES128-SHA", got, 4, &err), 2);
}

Test(suites, defaults_for_versions_before_tls12)
{
    /* no AEAD suite exists there: the forward-secret CBC suites those
     * versions can use come after the AEAD ones, never legacy ones */
    uint16_t ids[64];
    cr_expect_eq(tls_default_ciphers(TLS_VMASK_SSL3, ids, 64), 4); /* DHE_RSA/DHE_DSS AES-CBC-SHA */
    cr_expect_eq(ids[0], 0x0033);
    cr_expect_eq(tls_default_ciphers(TLS_VMASK_TLS10 | TLS_VMASK_TLS11, ids, 64), 8);
    cr_expect_eq(ids[0], 0xc009);
    size_t n = tls_default_ciphers(TLS_VMASK_TLS10 | TLS_VMASK_TLS11 | TLS_VMASK_TLS12, ids, 64);
    size_t want = sizeof intermediate12 / sizeof intermediate12[0];
    cr_assert_eq(n, want + 8);
    cr_expect_arr_eq(ids, intermediate12, sizeof intermediate12);
    for (size_t i = want; i < n; i++) {
        const tls_suite *s = tls_suite_by_id(ids[i]);
        cr_expect_not(s->legacy, "%s", s->info.openssl_name);
        cr_expect(tls_suite_usable(s, TLS_TLS10), "%s", s->info.openssl_name);
    }
}

/* ---- usability by version ------------------------------------------------- */

Test(suites, usable_by_version)
{
    const tls_suite *des = tls_suite_by_id(0x0009);
    bool have_des = tls_algs_cipher(TLS_CIPHER_DES_CBC) != NULL;
    cr_expect_not(tls_suite_usable(des, TLS_TLS12), "DES-CBC-SHA in TLS 1.2 (RFC 5469)");
    cr_expect_eq(tls_suite_usable(des, TLS_TLS11), have_des);
    cr_expect_eq(tls_suite_usable(des, TLS_SSL3), have_des);

    const tls_suite *gcm = tls_suite_by_id(0xc02f);
    cr_expect(tls_suite_usable(gcm, TLS_TLS12));
    cr_expect_not(tls_suite_usable(gcm, TLS_TLS11), "GCM in TLS 1.1");
    cr_expect_not(tls_suite_usable(gcm, TLS_TLS10));
    cr_expect_not(tls_suite_usable(gcm, TLS_TLS13), "a TLS 1.2 suite in TLS 1.3");

    const tls_suite *ecdhe = tls_suite_by_id(0xc013);
    cr_expect_not(tls_suite_usable(ecdhe, TLS_SSL3), "ECDHE in SSL 3.0 (RFC 4492)");
    cr_expect(tls_suite_usable(ecdhe, TLS_TLS10));
    cr_expect(tls_suite_usable(ecdhe, TLS_TLS12));

    const tls_suite *rsa = tls_suite_by_id(0x002f);
    cr_expect(tls_suite_usable(rsa, TLS_SSL3));
    cr_expect(tls_suite_usable(rsa, TLS_TLS12));
    cr_expect_not(tls_suite_usable(rsa, 0x0200));
    cr_expect_not(tls_suite_usable(rsa, 0x0305));
    cr_expect_not(tls_suite_usable(rsa, 0x7f1c));
    cr_expect_not(tls_suite_usable(NULL, TLS_TLS12));

    const tls_suite *sha256 = tls_suite_by_id(0x003c);
    cr_expect_not(tls_suite_usable(sha256, TLS_TLS11), "SHA256 MAC before TLS 1.2");
    cr_expect(tls_suite_usable(sha256, TLS_TLS12));

    const tls_suite *rc4 = tls_suite_by_id(0x0004);
    cr_expect_eq(tls_suite_usable(rc4, TLS_TLS12), tls_algs_cipher(TLS_CIPHER_RC4_128) != NULL);

    const tls_suite *t13 = tls_suite_by_id(0x1301);
    cr_expect_not(tls_suite_usable(t13, TLS_TLS12));
    cr_expect_eq(tls_suite_usable(t13, TLS_TLS13), available_13());

    cr_expect(tls_suite_usable_any(ecdhe, TLS_VMASK_SSL3 | TLS_VMASK_TLS10));
    cr_expect_not(tls_suite_usable_any(ecdhe, TLS_VMASK_SSL3));
    cr_expect_not(tls_suite_usable_any(gcm, TLS_VMASK_SSL3 | TLS_VMASK_TLS10 | TLS_VMASK_TLS11));
    cr_expect_not(tls_suite_usable_any(gcm, 0));
}

Test(suites, cipher_suites_public)
{
    size_t n = tls_cipher_suites(NULL, 0);
    size_t want = 0;
    for (size_t i = 0; i < NKATS; i++)
        if (tls_suite_usable_any(tls_suite_by_id(kats[i].id), TLS_AVAILABLE_VERSIONS))
            want++;
    cr_assert_eq(n, want);
    /* AES/ChaCha suites always; RC4 and DES need the legacy provider */
    size_t extra = (tls_algs_cipher(TLS_CIPHER_RC4_128) ? 4 : 0) + (tls_algs_cipher(TLS_CIPHER_DES_CBC) ? 3 : 0) +
                   (available_13() ? 3 : 0);
    cr_expect_eq(n, 38 + extra);

    const tls_suite_info *out[64];
    cr_assert_eq(tls_cipher_suites(out, 64), n);
    cr_expect_eq(out[0]->id, available_13() ? 0x1301 : 0xc02b);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            cr_expect_neq(out[i], out[j]);

    const tls_suite_info *few[4] = {NULL, NULL, NULL, NULL};
    cr_expect_eq(tls_cipher_suites(few, 3), n);
    cr_expect_eq(few[0], out[0]);
    cr_expect_eq(few[2], out[2]);
    cr_expect_null(few[3]);
}

/* ---- versions ------------------------------------------------------------- */

static void expect_versions(const char *list, unsigned want)
{
    unsigned mask = 0xdead;
    tls_error err;
    tls_err_clear(&err);
    cr_assert_eq(tls_parse_versions(list, &mask, &err), 0, "'%s': %s", list, err.detail);
    cr_expect_eq(mask, want, "'%s': 0x%x, want 0x%x", list, mask, want);
}

static void expect_versions_error(const char *list, const char *detail)
{
    unsigned mask = 0xdead;
    tls_error err;
    tls_err_clear(&err);
    cr_assert_eq(tls_parse_versions(list, &mask, &err), TLS_E_BADARG, "'%s' should fail", list);
    cr_expect_eq(mask, 0xdead, "mask untouched on error");
    cr_expect_eq(err.code, TLS_E_BADARG);
    cr_expect_str_eq(err.detail, detail);
}

Test(versions, info_and_names)
{
    tls_versions_info v;
    tls_versions(&v);
    cr_expect_str_eq(v.app_version, "tlsengine 0.1.0");
    cr_expect_eq(v.available, TLS_AVAILABLE_VERSIONS);
    cr_expect_eq(v.supported, TLS_DEFAULT_VERSIONS & TLS_AVAILABLE_VERSIONS);
    cr_expect(v.supported & TLS_VMASK_TLS12);
    cr_expect_not(v.supported & (TLS_VMASK_SSL3 | TLS_VMASK_TLS10 | TLS_VMASK_TLS11));
    tls_versions(NULL); /* no crash */

    cr_expect_str_eq(tls_version_name(TLS_SSL3), "sslv3");
    cr_expect_str_eq(tls_version_name(TLS_TLS10), "tlsv1");
    cr_expect_str_eq(tls_version_name(TLS_TLS11), "tlsv1.1");
    cr_expect_str_eq(tls_version_name(TLS_TLS12), "tlsv1.2");
    cr_expect_str_eq(tls_version_name(TLS_TLS13), "tlsv1.3");
    cr_expect_str_eq(tls_version_name(0x0200), "unknown");
    cr_expect_str_eq(tls_version_name(0x0305), "unknown");
    cr_expect_str_eq(tls_version_name(0xfeff), "unknown");

    cr_expect_eq(tls_version_bit(TLS_SSL3), TLS_VMASK_SSL3);
    cr_expect_eq(tls_version_bit(TLS_TLS12), TLS_VMASK_TLS12);
    cr_expect_eq(tls_version_bit(TLS_TLS13), TLS_VMASK_TLS13);
    cr_expect_eq(tls_version_bit(0x0305), 0);
    cr_expect_eq(tls_vmask_highest(TLS_VMASK_SSL3 | TLS_VMASK_TLS11), TLS_TLS11);
    cr_expect_eq(tls_vmask_lowest(TLS_VMASK_SSL3 | TLS_VMASK_TLS11), TLS_SSL3);
    cr_expect_eq(tls_vmask_highest(TLS_VMASK_TLS12 | TLS_VMASK_TLS13), TLS_TLS13);
    cr_expect_eq(tls_vmask_lowest(TLS_VMASK_TLS12 | TLS_VMASK_TLS13), TLS_TLS12);
    cr_expect_eq(tls_vmask_highest(0), 0);
    cr_expect_eq(tls_vmask_lowest(0), 0);
}

Test(versions, parse)
{
    unsigned old4 = TLS_VMASK_SSL3 | TLS_VMASK_TLS10 | TLS_VMASK_TLS11 | TLS_VMASK_TLS12;
    expect_versions("sslv3, tlsv1, tlsv1.1, tlsv1.2", old4);
    expect_versions("SSLv3 TLSv1 TLSv1.1 TLSv1.2", old4);
    expect_versions("ssl3:tls1:tls1_1:tls1.2", old4);
    expect_versions("tls1.0,tls1_2", TLS_VMASK_TLS10 | TLS_VMASK_TLS12);
    expect_versions("'tlsv1.2', 'tlsv1.1'", TLS_VMASK_TLS11 | TLS_VMASK_TLS12);
    expect_versions("tlsv1_2", TLS_VMASK_TLS12);
    expect_versions("  tlsv1.2\t", TLS_VMASK_TLS12);
    expect_versions("tlsv1.2,tlsv1.2", TLS_VMASK_TLS12);
    /* empty: the defaults */
    expect_versions("", TLS_DEFAULT_VERSIONS & TLS_AVAILABLE_VERSIONS);
    expect_versions(NULL, TLS_DEFAULT_VERSIONS & TLS_AVAILABLE_VERSIONS);
    expect_versions(" ,: ", TLS_DEFAULT_VERSIONS & TLS_AVAILABLE_VERSIONS);

    /* mask and err may be NULL */
    cr_expect_eq(tls_parse_versions("tlsv1.2", NULL, NULL), 0);
    cr_expect_eq(tls_parse_versions("nope", NULL, NULL), TLS_E_BADARG,
                 "TLS_E_BADARG, never -1 (that is TLS_E_CLOSED)");
}

Test(versions, parse_tls13)
{
    if (available_13()) {
        expect_versions("tlsv1.2, tlsv1.3", TLS_VMASK_TLS12 | TLS_VMASK_TLS13);
        expect_versions("tls1.3", TLS_VMASK_TLS13);
        return;
    }
    /* dropped while other versions remain; alone, an error */
    expect_versions("tlsv1.2, tlsv1.3", TLS_VMASK_TLS12);
    expect_versions("tls1_3 tlsv1", TLS_VMASK_TLS10);
    expect_versions_error("tlsv1.3", "tlsv1.3 is not available in this build");
    expect_versions_error("TLSv1.3, tls1.3", "tlsv1.3 is not available in this build");
}

Test(versions, parse_errors)
{
    expect_versions_error("tlsv1.4", "unknown protocol version 'tlsv1.4' in versions");
    expect_versions_error("tlsv1.2, sslv2", "unknown protocol version 'sslv2' in versions");
    expect_versions_error("tlsvv1", "unknown protocol version 'tlsvv1' in versions");
    expect_versions_error("tls", "unknown protocol version 'tls' in versions");
    expect_versions_error("v", "unknown protocol version 'v' in versions");
    expect_versions_error("tlsv1.2;tlsv1.1", "unknown protocol version 'tlsv1.2;tlsv1.1' in versions");
    expect_versions_error("'tlsv1.2", "unknown protocol version ''tlsv1.2' in versions");
    expect_versions_error("dtlsv1.2", "unknown protocol version 'dtlsv1.2' in versions");
    char longtok[100];
    memset(longtok, 'x', sizeof longtok - 1);
    longtok[sizeof longtok - 1] = '\0';
    tls_error err;
    tls_err_clear(&err);
    cr_assert_eq(tls_parse_versions(longtok, NULL, &err), TLS_E_BADARG);
    cr_expect_eq(strlen(err.detail), strlen("unknown protocol version '' in versions") + 60);
}
