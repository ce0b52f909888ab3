/* The cipher-suite table and the `ciphers` option parser.
 *
 * One row a suite, in default preference order: TLS 1.3, then forward-secret
 * AEAD, forward-secret CBC, and the legacy suites (plain RSA key exchange,
 * 3DES, RC4, single DES) last. Ids and IANA names: the IANA TLS Cipher Suites
 * registry (RFC 5246 A.5, RFC 4492, RFC 5288, RFC 5289, RFC 7905, RFC 8446
 * B.4); OpenSSL names as OpenSSL prints them (EDH- for the DES/3DES DHE
 * suites, as OTP's ssl does; OpenSSL 3's DHE- spellings are accepted too). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "suites.h"

/* vr: one of the version ranges below, "min, max" */
#define ROW(id_, iana, ossl, ekx, eci, eh, kx_, ci_, mac_, prf_, vr, leg)                                     \
    {{(id_), (iana), (ossl), (ekx), (eci), (eh)}, (kx_), (ci_), (mac_), (prf_), vr, (leg)}

/* version ranges */
#define V13 TLS_TLS13, TLS_TLS13
#define V12 TLS_TLS12, TLS_TLS12   /* GCM, ChaCha20, *_SHA256, *_SHA384 (RFC 5246, 5288, 5289, 7905) */
#define VALL TLS_SSL3, TLS_TLS12   /* CBC-SHA and RC4 */
#define VEC TLS_TLS10, TLS_TLS12   /* ECDHE (RFC 4492 is TLS only) */
#define VDES TLS_SSL3, TLS_TLS11   /* single DES: removed from TLS 1.2 (RFC 5469) */

#define AEAD TLS_MAC_AEAD
#define P256 TLS_HASH_SHA256
#define P384 TLS_HASH_SHA384

static const tls_suite suites[] = {
    /* TLS 1.3 (RFC 8446 B.4): listed only once 1.3 is available */
    ROW(0x1301, "TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256", "any", "aes_128_gcm", "sha256",
        TLS_KX_TLS13, TLS_CIPHER_AES_128_GCM, AEAD, P256, V13, false),
    ROW(0x1302, "TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384", "any", "aes_256_gcm", "sha384",
        TLS_KX_TLS13, TLS_CIPHER_AES_256_GCM, AEAD, P384, V13, false),
    ROW(0x1303, "TLS_CHACHA20_POLY1305_SHA256", "TLS_CHACHA20_POLY1305_SHA256", "any", "chacha20_poly1305",
        "sha256", TLS_KX_TLS13, TLS_CIPHER_CHACHA20_POLY1305, AEAD, P256, V13, false),

    /* forward-secret AEAD */
    ROW(0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256", "ecdhe_ecdsa",
        "aes_128_gcm", "sha256", TLS_KX_ECDHE_ECDSA, TLS_CIPHER_AES_128_GCM, AEAD, P256, V12, false),
    ROW(0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ecdhe_rsa",
        "aes_128_gcm", "sha256", TLS_KX_ECDHE_RSA, TLS_CIPHER_AES_128_GCM, AEAD, P256, V12, false),
    ROW(0xc02c, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384", "ecdhe_ecdsa",
        "aes_256_gcm", "sha384", TLS_KX_ECDHE_ECDSA, TLS_CIPHER_AES_256_GCM, AEAD, P384, V12, false),
    ROW(0xc030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384", "ecdhe_rsa",
        "aes_256_gcm", "sha384", TLS_KX_ECDHE_RSA, TLS_CIPHER_AES_256_GCM, AEAD, P384, V12, false),
    ROW(0xcca9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305", "ecdhe_ecdsa",
        "chacha20_poly1305", "sha256", TLS_KX_ECDHE_ECDSA, TLS_CIPHER_CHACHA20_POLY1305, AEAD, P256, V12, false),
    ROW(0xcca8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305", "ecdhe_rsa",
        "chacha20_poly1305", "sha256", TLS_KX_ECDHE_RSA, TLS_CIPHER_CHACHA20_POLY1305, AEAD, P256, V12, false),
    ROW(0x009e, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "DHE-RSA-AES128-GCM-SHA256", "dhe_rsa", "aes_128_gcm",
        "sha256", TLS_KX_DHE_RSA, TLS_CIPHER_AES_128_GCM, AEAD, P256, V12, false),
    ROW(0x009f, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", "DHE-RSA-AES256-GCM-SHA384", "dhe_rsa", "aes_256_gcm",
        "sha384", TLS_KX_DHE_RSA, TLS_CIPHER_AES_256_GCM, AEAD, P384, V12, false),
    ROW(0xccaa, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "DHE-RSA-CHACHA20-POLY1305", "dhe_rsa",
        "chacha20_poly1305", "sha256", TLS_KX_DHE_RSA, TLS_CIPHER_CHACHA20_POLY1305, AEAD, P256, V12, false),
    ROW(0x00a2, "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256", "DHE-DSS-AES128-GCM-SHA256", "dhe_dss", "aes_128_gcm",
        "sha256", TLS_KX_DHE_DSS, TLS_CIPHER_AES_128_GCM, AEAD, P256, V12, false),
    ROW(0x00a3, "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384", "DHE-DSS-AES256-GCM-SHA384", "dhe_dss", "aes_256_gcm",
        "sha384", TLS_KX_DHE_DSS, TLS_CIPHER_AES_256_GCM, AEAD, P384, V12, false),

    /* forward-secret CBC with SHA-2 MACs (TLS 1.2) */
    ROW(0xc023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256", "ecdhe_ecdsa",
        "aes_128_cbc", "sha256", TLS_KX_ECDHE_ECDSA, TLS_CIPHER_AES_128_CBC, TLS_MAC_SHA256, P256, V12, false),
    ROW(0xc027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256", "ecdhe_rsa", "aes_128_cbc",
        "sha256", TLS_KX_ECDHE_RSA, TLS_CIPHER_AES_128_CBC, TLS_MAC_SHA256, P256, V12, false),
    ROW(0xc024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", "ECDHE-ECDSA-AES256-SHA384", "ecdhe_ecdsa",
        "aes_256_cbc", "sha384", TLS_KX_ECDHE_ECDSA, TLS_CIPHER_AES_256_CBC, TLS_MAC_SHA384, P384, V12, false),
    ROW(0xc028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", "ECDHE-RSA-AES256-SHA384", "ecdhe_rsa", "aes_256_cbc",
        "sha384", TLS_KX_ECDHE_RSA, TLS_CIPHER_AES_256_CBC, TLS_MAC_SHA384, P384, V12, false),
    ROW(0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", "DHE-RSA-AES128-SHA256", "dhe_rsa", "aes_128_cbc",
        "sha256", TLS_KX_DHE_RSA, TLS_CIPHER_AES_128_CBC, TLS_MAC_SHA256, P256, V12, false),
    ROW(0x006b, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", "DHE-RSA-AES256-SHA256", "dhe_rsa", "aes_256_cbc",
        "sha256", TLS_KX_DHE_RSA, TLS_CIPHER_AES_256_CBC, TLS_MAC_SHA256, P256, V12, false),
    ROW(0x0040, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256", "DHE-DSS-AES128-SHA256", "dhe_dss", "aes_128_cbc",
        "sha256", TLS_KX_DHE_DSS, TLS_CIPHER_AES_128_CBC, TLS_MAC_SHA256, P256, V12, false),
    ROW(0x006a, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256", "DHE-DSS-AES256-SHA256", "dhe_dss", "aes_256_cbc",
        "sha256", TLS_KX_DHE_DSS, TLS_CIPHER_AES_256_CBC, TLS_MAC_SHA256, P256, V12, false),

    /* forward-secret CBC with SHA-1 MACs */
    ROW(0xc009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA", "ecdhe_ecdsa", "aes_128_cbc",
        "sha", TLS_KX_ECDHE_ECDSA, TLS_CIPHER_AES_128_CBC, TLS_MAC_SHA1, P256, VEC, false),
    ROW(0xc013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA", "ecdhe_rsa", "aes_128_cbc", "sha",
        TLS_KX_ECDHE_RSA, TLS_CIPHER_AES_128_CBC, TLS_MAC_SHA1, P256, VEC, false),
    ROW(0xc00a, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA", "ecdhe_ecdsa", "aes_256_cbc",
        "sha", TLS_KX_ECDHE_ECDSA, TLS_CIPHER_AES_256_CBC, TLS_MAC_SHA1, P256, VEC, false),
    ROW(0xc014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA", "ecdhe_rsa", "aes_256_cbc", "sha",
        TLS_KX_ECDHE_RSA, TLS_CIPHER_AES_256_CBC, TLS_MAC_SHA1, P256, VEC, false),
    ROW(0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", "DHE-RSA-AES128-SHA", "dhe_rsa", "aes_128_cbc", "sha",
        TLS_KX_DHE_RSA, TLS_CIPHER_AES_128_CBC, TLS_MAC_SHA1, P256, VALL, false),
    ROW(0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", "DHE-RSA-AES256-SHA", "dhe_rsa", "aes_256_cbc", "sha",
        TLS_KX_DHE_RSA, TLS_CIPHER_AES_256_CBC, TLS_MAC_SHA1, P256, VALL, false),
    ROW(0x0032, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA", "DHE-DSS-AES128-SHA", "dhe_dss", "aes_128_cbc", "sha",
        TLS_KX_DHE_DSS, TLS_CIPHER_AES_128_CBC, TLS_MAC_SHA1, P256, VALL, false),
    ROW(0x0038, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA", "DHE-DSS-AES256-SHA", "dhe_dss", "aes_256_cbc", "sha",
        TLS_KX_DHE_DSS, TLS_CIPHER_AES_256_CBC, TLS_MAC_SHA1, P256, VALL, false),

    /* legacy from here on: only when named */
    /* plain RSA key transport: no forward secrecy */
    ROW(0x009c, "TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256", "rsa", "aes_128_gcm", "sha256",
        TLS_KX_RSA, TLS_CIPHER_AES_128_GCM, AEAD, P256, V12, true),
    ROW(0x009d, "TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384", "rsa", "aes_256_gcm", "sha384",
        TLS_KX_RSA, TLS_CIPHER_AES_256_GCM, AEAD, P384, V12, true),
    ROW(0x003c, "TLS_RSA_WITH_AES_128_CBC_SHA256", "AES128-SHA256", "rsa", "aes_128_cbc", "sha256", TLS_KX_RSA,
        TLS_CIPHER_AES_128_CBC, TLS_MAC_SHA256, P256, V12, true),
    ROW(0x003d, "TLS_RSA_WITH_AES_256_CBC_SHA256", "AES256-SHA256", "rsa", "aes_256_cbc", "sha256", TLS_KX_RSA,
        TLS_CIPHER_AES_256_CBC, TLS_MAC_SHA256, P256, V12, true),
    ROW(0x002f, "TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA", "rsa", "aes_128_cbc", "sha", TLS_KX_RSA,
        TLS_CIPHER_AES_128_CBC, TLS_MAC_SHA1, P256, VALL, true),
    ROW(0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA", "rsa", "aes_256_cbc", "sha", TLS_KX_RSA,
        TLS_CIPHER_AES_256_CBC, TLS_MAC_SHA1, P256, VALL, true),
    /* 3DES: 64-bit blocks (Sweet32) */
    ROW(0xc008, "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA", "ECDHE-ECDSA-DES-CBC3-SHA", "ecdhe_ecdsa",
        "3des_ede_cbc", "sha", TLS_KX_ECDHE_ECDSA, TLS_CIPHER_3DES_EDE_CBC, TLS_MAC_SHA1, P256, VEC, true),
    ROW(0xc012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "ECDHE-RSA-DES-CBC3-SHA", "ecdhe_rsa", "3des_ede_cbc",
        "sha", TLS_KX_ECDHE_RSA, TLS_CIPHER_3DES_EDE_CBC, TLS_MAC_SHA1, P256, VEC, true),
    ROW(0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA", "EDH-RSA-DES-CBC3-SHA", "dhe_rsa", "3des_ede_cbc", "sha",
        TLS_KX_DHE_RSA, TLS_CIPHER_3DES_EDE_CBC, TLS_MAC_SHA1, P256, VALL, true),
    ROW(0x0013, "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA", "EDH-DSS-DES-CBC3-SHA", "dhe_dss", "3des_ede_cbc", "sha",
        TLS_KX_DHE_DSS, TLS_CIPHER_3DES_EDE_CBC, TLS_MAC_SHA1, P256, VALL, true),
    ROW(0x000a, "TLS_RSA_WITH_3DES_EDE_CBC_SHA", "DES-CBC3-SHA", "rsa", "3des_ede_cbc", "sha", TLS_KX_RSA,
        TLS_CIPHER_3DES_EDE_CBC, TLS_MAC_SHA1, P256, VALL, true),
    /* RC4: prohibited by RFC 7465, kept for legacy peers */
    ROW(0xc007, "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", "ECDHE-ECDSA-RC4-SHA", "ecdhe_ecdsa", "rc4_128", "sha",
        TLS_KX_ECDHE_ECDSA, TLS_CIPHER_RC4_128, TLS_MAC_SHA1, P256, VEC, true),
    ROW(0xc011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA", "ECDHE-RSA-RC4-SHA", "ecdhe_rsa", "rc4_128", "sha",
        TLS_KX_ECDHE_RSA, TLS_CIPHER_RC4_128, TLS_MAC_SHA1, P256, VEC, true),
    ROW(0x0005, "TLS_RSA_WITH_RC4_128_SHA", "RC4-SHA", "rsa", "rc4_128", "sha", TLS_KX_RSA, TLS_CIPHER_RC4_128,
        TLS_MAC_SHA1, P256, VALL, true),
    ROW(0x0004, "TLS_RSA_WITH_RC4_128_MD5", "RC4-MD5", "rsa", "rc4_128", "md5", TLS_KX_RSA, TLS_CIPHER_RC4_128,
        TLS_MAC_MD5, P256, VALL, true),
    /* single DES: 56-bit keys */
    ROW(0x0015, "TLS_DHE_RSA_WITH_DES_CBC_SHA", "EDH-RSA-DES-CBC-SHA", "dhe_rsa", "des_cbc", "sha",
        TLS_KX_DHE_RSA, TLS_CIPHER_DES_CBC, TLS_MAC_SHA1, P256, VDES, true),
    ROW(0x0012, "TLS_DHE_DSS_WITH_DES_CBC_SHA", "EDH-DSS-DES-CBC-SHA", "dhe_dss", "des_cbc", "sha",
        TLS_KX_DHE_DSS, TLS_CIPHER_DES_CBC, TLS_MAC_SHA1, P256, VDES, true),
    ROW(0x0009, "TLS_RSA_WITH_DES_CBC_SHA", "DES-CBC-SHA", "rsa", "des_cbc", "sha", TLS_KX_RSA,
        TLS_CIPHER_DES_CBC, TLS_MAC_SHA1, P256, VDES, true),
};

#define NSUITES (sizeof suites / sizeof suites[0])

/* Other spellings users paste: OpenSSL 1.1+/3.0 renamed the EDH- suites DHE-. */
static const struct {
    const char *name;
    uint16_t id;
} aliases[] = {
    {"DHE-RSA-DES-CBC3-SHA", 0x0016},
    {"DHE-DSS-DES-CBC3-SHA", 0x0013},
    {"DHE-RSA-DES-CBC-SHA", 0x0015},
    {"DHE-DSS-DES-CBC-SHA", 0x0012},
};

const tls_suite *tls_suites_all(size_t *count)
{
    if (count)
        *count = NSUITES;
    return suites;
}

static int suite_index(uint16_t id)
{
    for (size_t i = 0; i < NSUITES; i++)
        if (suites[i].info.id == id)
            return (int)i;
    return -1;
}

const tls_suite *tls_suite_by_id(uint16_t id)
{
    int i = suite_index(id);
    return i < 0 ? NULL : &suites[i];
}

const tls_suite *tls_suite_from_info(const tls_suite_info *info)
{
    return info ? tls_suite_by_id(info->id) : NULL;
}

bool tls_suite_usable(const tls_suite *s, uint16_t version)
{
    if (!s || version < s->min_version || version > s->max_version)
        return false;
    if (!(tls_version_bit(version) & TLS_AVAILABLE_VERSIONS))
        return false;
    return tls_algs_cipher(s->cipher) != NULL;
}

bool tls_suite_usable_any(const tls_suite *s, unsigned vmask)
{
    for (uint16_t v = TLS_SSL3; v <= TLS_TLS13; v++)
        if ((tls_version_bit(v) & vmask) && tls_suite_usable(s, v))
            return true;
    return false;
}

/* Mozilla's "intermediate" profile: TLS 1.3, and for TLS 1.2 only ECDHE and
 * DHE-RSA with AES-GCM or ChaCha20-Poly1305 (no CBC: Lucky13). Versions
 * before TLS 1.2 have no AEAD suite: when the mask enables one, the
 * forward-secret CBC suites such a version can use join, after the AEAD
 * ones (Mozilla's "old" profile does the same). */
static bool in_defaults(const tls_suite *s, unsigned vmask)
{
    if (s->legacy || !tls_suite_usable_any(s, vmask))
        return false;
    if (s->kx == TLS_KX_TLS13)
        return true;
    bool aead = tls_cipher_desc_get(s->cipher)->kind == TLS_CIPHER_AEAD;
    if (aead && (s->kx == TLS_KX_ECDHE_ECDSA || s->kx == TLS_KX_ECDHE_RSA || s->kx == TLS_KX_DHE_RSA))
        return true;
    unsigned before12 = vmask & (TLS_VMASK_SSL3 | TLS_VMASK_TLS10 | TLS_VMASK_TLS11);
    return before12 && tls_suite_usable_any(s, before12);
}

size_t tls_default_ciphers(unsigned vmask, uint16_t *ids, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < NSUITES; i++) {
        if (!in_defaults(&suites[i], vmask))
            continue;
        if (ids && n < max)
            ids[n] = suites[i].info.id;
        n++;
    }
    return n;
}

/* ---- public API ---------------------------------------------------------- */

size_t tls_cipher_suites(const tls_suite_info **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < NSUITES; i++) {
        if (!tls_suite_usable_any(&suites[i], TLS_AVAILABLE_VERSIONS))
            continue;
        if (out && n < max)
            out[n] = &suites[i].info;
        n++;
    }
    return n;
}

const tls_suite_info *tls_suite_lookup(uint16_t id)
{
    const tls_suite *s = tls_suite_by_id(id);
    return s ? &s->info : NULL;
}

/* Erlang prints an atom that does not start with a lowercase letter quoted. */
static const char *atom_quote(const char *atom)
{
    return islower((unsigned char)atom[0]) ? "" : "'";
}

/* Returns buf, or NULL if an argument is missing or the name does not fit. */
const char *tls_suite_format_name(const tls_suite_info *s, tls_suite_format fmt, char *buf, size_t len)
{
    if (!s || !buf || !len)
        return NULL;
    int n;
    switch (fmt) {
    case TLS_SUITES_ERLANG:
        n = snprintf(buf, len, "{%s%s%s,%s%s%s,%s}", atom_quote(s->kx), s->kx, atom_quote(s->kx),
                     atom_quote(s->cipher), s->cipher, atom_quote(s->cipher), s->hash);
        break;
    case TLS_SUITES_OPENSSL: n = snprintf(buf, len, "%s", s->openssl_name); break;
    case TLS_SUITES_IANA: n = snprintf(buf, len, "%s", s->iana_name); break;
    default: buf[0] = '\0'; return NULL;
    }
    if (n < 0 || (size_t)n >= len) {
        buf[0] = '\0';
        return NULL;
    }
    return buf;
}

/* ---- the `ciphers` option ------------------------------------------------ */

typedef struct {
    const char *p;
    size_t n;
} span;

static span trim(span s)
{
    while (s.n && isspace((unsigned char)s.p[0])) {
        s.p++;
        s.n--;
    }
    while (s.n && isspace((unsigned char)s.p[s.n - 1]))
        s.n--;
    return s;
}

static bool span_eq(span s, const char *name)
{
    return strlen(name) == s.n && strncasecmp(s.p, name, s.n) == 0;
}

/* an erlang atom, maybe quoted: aes_128_cbc, '3des_ede_cbc', "sha" */
static span unquote(span s)
{
    s = trim(s);
    if (s.n >= 2 && (s.p[0] == '\'' || s.p[0] == '"') && s.p[s.n - 1] == s.p[0]) {
        s.p++;
        s.n -= 2;
        s = trim(s);
    }
    return s;
}

/* "{kx,cipher,hash}" -> table index, -1 if malformed or unknown. */
static int find_triple(span s)
{
    if (s.n < 2 || s.p[0] != '{' || s.p[s.n - 1] != '}')
        return -1;
    span part[3];
    const char *p = s.p + 1, *end = s.p + s.n - 1;
    for (int k = 0; k < 3; k++) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        if ((k < 2) != (c != NULL))
            return -1; /* exactly two commas */
        const char *stop = c ? c : end;
        part[k] = unquote((span){p, (size_t)(stop - p)});
        p = c ? c + 1 : end;
    }
    for (size_t i = 0; i < NSUITES; i++) {
        const tls_suite_info *in = &suites[i].info;
        /* AEAD suites: OTP's map form calls the MAC "aead" */
        bool hash_ok = span_eq(part[2], in->hash) || (suites[i].mac == TLS_MAC_AEAD && span_eq(part[2], "aead"));
        if (span_eq(part[0], in->kx) && span_eq(part[1], in->cipher) && hash_ok)
            return (int)i;
    }
    return -1;
}

/* "0x002f" -> table index, -1 if malformed or unknown. */
static int find_hex(span s)
{
    if (s.n < 3 || s.n > 6 || s.p[0] != '0' || (s.p[1] != 'x' && s.p[1] != 'X'))
        return -1;
    unsigned v = 0;
    for (size_t i = 2; i < s.n; i++) {
        int c = (unsigned char)s.p[i];
        if (!isxdigit(c))
            return -1;
        v = v * 16 + (unsigned)(isdigit(c) ? c - '0' : tolower(c) - 'a' + 10);
    }
    return suite_index((uint16_t)v);
}

/* Any one-suite spelling -> table index, -1 if unknown. */
static int find_suite(span s)
{
    if (s.n && s.p[0] == '{')
        return find_triple(s);
    if (s.n > 2 && s.p[0] == '0' && (s.p[1] == 'x' || s.p[1] == 'X'))
        return find_hex(s);
    for (size_t i = 0; i < NSUITES; i++) {
        const tls_suite_info *in = &suites[i].info;
        if (span_eq(s, in->openssl_name) || span_eq(s, in->iana_name))
            return (int)i;
        /* SSL 3.0-era suites also go by SSL_RSA_WITH_... (Java, GnuTLS) */
        if (s.n > 4 && strncasecmp(s.p, "SSL_", 4) == 0 && span_eq((span){s.p + 4, s.n - 4}, in->iana_name + 4))
            return (int)i;
    }
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (span_eq(s, aliases[i].name))
            return suite_index(aliases[i].id);
    return -1;
}

/* how much of a token an error message quotes (detail[] holds 200) */
static int shown(span s)
{
    return s.n > 120 ? 120 : (int)s.n;
}

static bool is_seclevel(span s)
{
    static const char kw[] = "@SECLEVEL=";
    size_t k = sizeof kw - 1;
    if (s.n <= k || strncasecmp(s.p, kw, k) != 0)
        return false;
    for (size_t i = k; i < s.n; i++)
        if (!isdigit((unsigned char)s.p[i]))
            return false;
    return true;
}

/* Cuts the next token: separators ':' and ',' except inside {...}; an '@'
 * also starts a token, as OpenSSL users write "AES128-SHA@SECLEVEL=0". */
static span next_token(const char **pp)
{
    const char *p = *pp;
    int depth = 0;
    const char *start = p;
    while (*p && (depth > 0 || (*p != ':' && *p != ',' && (*p != '@' || p == start)))) {
        if (*p == '{')
            depth++;
        else if (*p == '}' && depth > 0)
            depth--;
        p++;
    }
    *pp = (*p == ':' || *p == ',') ? p + 1 : p;
    return trim((span){start, (size_t)(p - start)});
}

/* The cipher's strength in bits as OpenSSL rates it (3DES: 112). */
static unsigned strength_bits(const tls_suite *s)
{
    return s->cipher == TLS_CIPHER_3DES_EDE_CBC ? 112u : 8u * tls_cipher_desc_get(s->cipher)->key_len;
}

/* Table indices strongest cipher first, the table's order within one
 * strength: the order OpenSSL gives ALL (its strength sort), so that a
 * server with ALL prefers AES-256 to AES-128 as OpenSSL servers do. */
static void by_strength(uint8_t *idx)
{
    size_t n = 0;
    for (unsigned bits = 256;; bits--) {
        for (size_t i = 0; i < NSUITES; i++)
            if (strength_bits(&suites[i]) == bits)
                idx[n++] = (uint8_t)i;
        if (!bits)
            break;
    }
}

int tls_parse_ciphers(const char *list, uint16_t *ids, size_t max, tls_error *err)
{
    uint8_t order[NSUITES]; /* table indices, in the order chosen */
    bool in[NSUITES] = {false}, blocked[NSUITES] = {false};
    size_t cnt = 0, tokens = 0;
    span dropped = {NULL, 0}; /* first named suite this build cannot use */

    const char *p = list ? list : "";
    while (*p) {
        span t = next_token(&p);
        if (!t.n)
            continue;
        tokens++;
        bool neg = t.p[0] == '!';
        span name = neg ? trim((span){t.p + 1, t.n - 1}) : t;

        bool set[NSUITES] = {false};
        uint8_t walk[NSUITES]; /* the order the token's suites join in */
        for (size_t i = 0; i < NSUITES; i++)
            walk[i] = (uint8_t)i;
        if (!neg && (span_eq(name, "@STRENGTH") || is_seclevel(name)))
            continue; /* OpenSSL tuning users paste along: nothing to do here */
        if (span_eq(name, "ALL")) {
            by_strength(walk);
            for (size_t i = 0; i < NSUITES; i++)
                set[i] = tls_suite_usable_any(&suites[i], TLS_AVAILABLE_VERSIONS);
        } else if (span_eq(name, "DEFAULT")) {
            for (size_t i = 0; i < NSUITES; i++)
                set[i] = in_defaults(&suites[i], TLS_DEFAULT_VERSIONS & TLS_AVAILABLE_VERSIONS);
        } else {
            int i = name.n ? find_suite(name) : -1;
            if (i < 0) {
                tls_err_set(err, TLS_E_BADARG, -1, "unknown cipher suite '%.*s' in ciphers", shown(t), t.p);
                return -1;
            }
            if (!neg && !tls_suite_usable_any(&suites[i], TLS_AVAILABLE_VERSIONS)) {
                if (!dropped.p)
                    dropped = name;
                continue;
            }
            set[i] = true;
        }

        for (size_t k = 0; k < NSUITES; k++) {
            size_t i = walk[k];
            if (!set[i])
                continue;
            if (neg) {
                blocked[i] = true;
                in[i] = false;
            } else if (!blocked[i] && !in[i]) {
                in[i] = true;
                order[cnt++] = (uint8_t)i;
            }
        }
        if (neg) { /* compact out what was removed */
            size_t w = 0;
            for (size_t r = 0; r < cnt; r++)
                if (in[order[r]])
                    order[w++] = order[r];
            cnt = w;
        }
    }

    if (!tokens) { /* empty option: the defaults */
        size_t n = tls_default_ciphers(TLS_DEFAULT_VERSIONS & TLS_AVAILABLE_VERSIONS, ids, max);
        if (n > max) {
            tls_err_set(err, TLS_E_BADARG, -1, "ciphers: %zu default suites do not fit in %zu", n, max);
            return -1;
        }
        return (int)n;
    }
    if (!cnt) {
        if (dropped.p)
            tls_err_set(err, TLS_E_BADARG, -1, "cipher suite '%.*s' is not available in this build",
                        shown(dropped), dropped.p);
        else
            tls_err_set(err, TLS_E_BADARG, -1, "ciphers leaves no cipher suite");
        return -1;
    }
    if (cnt > max) {
        tls_err_set(err, TLS_E_BADARG, -1, "ciphers: %zu suites do not fit in %zu", cnt, max);
        return -1;
    }
    for (size_t i = 0; i < cnt; i++)
        ids[i] = suites[order[i]].info.id;
    return (int)cnt;
}
