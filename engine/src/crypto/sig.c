/* Handshake signatures (ServerKeyExchange, CertificateVerify) on EVP_PKEY.
 * One table row per SignatureScheme says which key type, hash and padding
 * it means; everything else (choice, fit, sign, verify) reads the table.
 * Verification never trusts a length: RSA signatures must be exactly the
 * modulus size, Ed25519 64 bytes, DER ones no longer than the key allows,
 * and libcrypto's error queue is left as it was found. */
#include "sig.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "groups.h"
#include "suites.h"
#include "tlsengine.h"

typedef enum { KK_NONE = -1, KK_RSA, KK_RSA_PSS, KK_EC, KK_DSA, KK_ED25519 } key_kind;
typedef enum { PAD_NONE, PAD_PKCS1, PAD_PSS } pad_kind;

#define HASH_NONE (-1)    /* Ed25519 hashes internally */
#define HASH_MD5SHA1 (-2) /* 36-byte MD5||SHA1, signed without DigestInfo */

typedef struct scheme_info {
    uint16_t id;
    key_kind kind;
    int hash; /* tls_hash_id, HASH_NONE or HASH_MD5SHA1 */
    pad_kind pad;
    int curve_nid; /* TLS 1.3 binding of ECDSA schemes to a curve */
    bool legacy;   /* pseudo-scheme for versions before TLS 1.2 */
} scheme_info;

static const scheme_info schemes[] = {
    {TLS_SIG_RSA_PKCS1_MD5, KK_RSA, TLS_HASH_MD5, PAD_PKCS1, 0, false},
    {TLS_SIG_RSA_PKCS1_SHA1, KK_RSA, TLS_HASH_SHA1, PAD_PKCS1, 0, false},
    {TLS_SIG_DSA_SHA1, KK_DSA, TLS_HASH_SHA1, PAD_NONE, 0, false},
    {TLS_SIG_ECDSA_SHA1, KK_EC, TLS_HASH_SHA1, PAD_NONE, 0, false},
    {TLS_SIG_RSA_PKCS1_SHA224, KK_RSA, TLS_HASH_SHA224, PAD_PKCS1, 0, false},
    {TLS_SIG_DSA_SHA224, KK_DSA, TLS_HASH_SHA224, PAD_NONE, 0, false},
    {TLS_SIG_ECDSA_SHA224, KK_EC, TLS_HASH_SHA224, PAD_NONE, 0, false},
    {TLS_SIG_RSA_PKCS1_SHA256, KK_RSA, TLS_HASH_SHA256, PAD_PKCS1, 0, false},
    {TLS_SIG_DSA_SHA256, KK_DSA, TLS_HASH_SHA256, PAD_NONE, 0, false},
    {TLS_SIG_ECDSA_SECP256R1_SHA256, KK_EC, TLS_HASH_SHA256, PAD_NONE, NID_X9_62_prime256v1, false},
    {TLS_SIG_RSA_PKCS1_SHA384, KK_RSA, TLS_HASH_SHA384, PAD_PKCS1, 0, false},
    {TLS_SIG_DSA_SHA384, KK_DSA, TLS_HASH_SHA384, PAD_NONE, 0, false},
    {TLS_SIG_ECDSA_SECP384R1_SHA384, KK_EC, TLS_HASH_SHA384, PAD_NONE, NID_secp384r1, false},
    {TLS_SIG_RSA_PKCS1_SHA512, KK_RSA, TLS_HASH_SHA512, PAD_PKCS1, 0, false},
    {TLS_SIG_DSA_SHA512, KK_DSA, TLS_HASH_SHA512, PAD_NONE, 0, false},
    {TLS_SIG_ECDSA_SECP521R1_SHA512, KK_EC, TLS_HASH_SHA512, PAD_NONE, NID_secp521r1, false},
    {TLS_SIG_RSA_PSS_RSAE_SHA256, KK_RSA, TLS_HASH_SHA256, PAD_PSS, 0, false},
    {TLS_SIG_RSA_PSS_RSAE_SHA384, KK_RSA, TLS_HASH_SHA384, PAD_PSS, 0, false},
    {TLS_SIG_RSA_PSS_RSAE_SHA512, KK_RSA, TLS_HASH_SHA512, PAD_PSS, 0, false},
    {TLS_SIG_ED25519, KK_ED25519, HASH_NONE, PAD_NONE, 0, false},
    {TLS_SIG_RSA_PSS_PSS_SHA256, KK_RSA_PSS, TLS_HASH_SHA256, PAD_PSS, 0, false},
    {TLS_SIG_LEGACY_RSA_MD5SHA1, KK_RSA, HASH_MD5SHA1, PAD_PKCS1, 0, true},
    {TLS_SIG_LEGACY_DSA_SHA1, KK_DSA, TLS_HASH_SHA1, PAD_NONE, 0, true},
    {TLS_SIG_LEGACY_ECDSA_SHA1, KK_EC, TLS_HASH_SHA1, PAD_NONE, 0, true},
};

/* Our preference: ECDSA and Ed25519 (small, fast), RSA-PSS, RSA PKCS#1,
 * DSA, then SHA-224 and SHA-1 for legacy peers, as the security level allows. */
static const uint16_t offered[] = {
    TLS_SIG_ECDSA_SECP256R1_SHA256, TLS_SIG_ECDSA_SECP384R1_SHA384, TLS_SIG_ECDSA_SECP521R1_SHA512,
    TLS_SIG_ED25519,                TLS_SIG_RSA_PSS_RSAE_SHA256,    TLS_SIG_RSA_PSS_RSAE_SHA384,
    TLS_SIG_RSA_PSS_RSAE_SHA512,    TLS_SIG_RSA_PKCS1_SHA256,       TLS_SIG_RSA_PKCS1_SHA384,
    TLS_SIG_RSA_PKCS1_SHA512,       TLS_SIG_DSA_SHA256,             TLS_SIG_DSA_SHA384,
    TLS_SIG_DSA_SHA512,             TLS_SIG_ECDSA_SHA224,           TLS_SIG_RSA_PKCS1_SHA224,
    TLS_SIG_DSA_SHA224,             TLS_SIG_RSA_PKCS1_SHA1,         TLS_SIG_ECDSA_SHA1,
    TLS_SIG_DSA_SHA1,
};

static _Thread_local char sig_err[160];

static void sig_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sig_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sig_err, sizeof sig_err, fmt, ap);
    va_end(ap);
}

const char *tls_sig_error(void) { return sig_err; }

const uint16_t *tls_sig_schemes(size_t *count)
{
    if (count)
        *count = sizeof offered / sizeof offered[0];
    return offered;
}

static const scheme_info *scheme_find(uint16_t id)
{
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        if (schemes[i].id == id)
            return &schemes[i];
    return NULL;
}

static bool offered_has(uint16_t id)
{
    for (size_t i = 0; i < sizeof offered / sizeof offered[0]; i++)
        if (offered[i] == id)
            return true;
    return false;
}

/* OpenSSL 3's rating: half the digest's bits, but collisions found in
 * SHA-1 (2^63.4 chosen-prefix) and MD5 put them below level 1's 80 bits;
 * Ed25519 is rated 128 (RFC 8032 8.5). */
static int scheme_security_bits(const scheme_info *si)
{
    switch (si->hash) {
    case HASH_NONE: return 128;
    case HASH_MD5SHA1: return 67;
    case TLS_HASH_MD5: return 39;
    case TLS_HASH_SHA1: return 64;
    default: return (int)tls_hash_len((tls_hash_id)si->hash) * 4;
    }
}

bool tls_sig_allowed(uint16_t scheme, int level)
{
    const scheme_info *si = scheme_find(scheme);
    return si && !si->legacy && offered_has(scheme) && scheme_security_bits(si) >= tls_seclevel_bits(level);
}

size_t tls_sig_schemes_at(int level, uint16_t *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof offered / sizeof offered[0]; i++) {
        if (!tls_sig_allowed(offered[i], level))
            continue;
        if (out && n < cap)
            out[n] = offered[i];
        n++;
    }
    return n;
}


static key_kind key_kind_of(EVP_PKEY *key)
{
    if (!key)
        return KK_NONE;
    /* "RSA" does not match RSA-PSS keys, which may only sign PSS */
    if (EVP_PKEY_is_a(key, "RSA"))
        return KK_RSA;
    if (EVP_PKEY_is_a(key, "RSA-PSS"))
        return KK_RSA_PSS;
    if (EVP_PKEY_is_a(key, "EC"))
        return KK_EC;
    if (EVP_PKEY_is_a(key, "DSA"))
        return KK_DSA;
    if (EVP_PKEY_is_a(key, "ED25519"))
        return KK_ED25519;
    return KK_NONE;
}

static size_t hash_len_of(int hash)
{
    return hash == HASH_MD5SHA1 ? 36 : hash >= 0 ? tls_hash_len((tls_hash_id)hash) : 0;
}

/* Length of the PKCS#1 v1.5 DigestInfo for the hash (RFC 8017 9.2 note 1). */
static size_t digest_info_len(int hash)
{
    switch (hash) {
    case HASH_MD5SHA1: return 36; /* no DigestInfo at all */
    case TLS_HASH_MD5: return 18 + 16;
    case TLS_HASH_SHA1: return 15 + 20;
    default: return 19 + hash_len_of(hash);
    }
}

static bool fits(const scheme_info *si, EVP_PKEY *key)
{
    if (key_kind_of(key) != si->kind)
        return false;
    if (si->kind != KK_RSA && si->kind != KK_RSA_PSS)
        return true;
    /* the modulus must hold the encoded hash: PKCS#1 needs DigestInfo + 11
     * bytes (RFC 8017 9.2), PSS with salt = hash needs 2 hLen + 2 (9.1.1) */
    int bits = EVP_PKEY_get_bits(key);
    if (bits <= 0)
        return false;
    if (si->pad == PAD_PSS)
        return ((size_t)bits - 1 + 7) / 8 >= 2 * hash_len_of(si->hash) + 2;
    return (size_t)EVP_PKEY_get_size(key) >= digest_info_len(si->hash) + 11;
}

bool tls_sig_scheme_fits_key(uint16_t scheme, EVP_PKEY *key)
{
    const scheme_info *si = scheme_find(scheme);
    return si && fits(si, key);
}

static int ec_curve_nid(EVP_PKEY *key)
{
    char name[64];
    if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, NULL))
        return NID_undef;
    int nid = OBJ_sn2nid(name);
    return nid != NID_undef ? nid : EC_curve_nist2nid(name);
}

/* RFC 8446 4.2.3: no PKCS#1 v1.5, SHA1 or DSA for TLS 1.3 handshake
 * signatures, and each ECDSA scheme names its curve. */
static bool allowed_in_13(const scheme_info *si, EVP_PKEY *key)
{
    if (si->legacy || si->pad == PAD_PKCS1 || si->kind == KK_DSA || si->hash == TLS_HASH_SHA1 ||
        si->hash == TLS_HASH_MD5)
        return false;
    if (si->kind == KK_EC)
        return si->curve_nid != 0 && ec_curve_nid(key) == si->curve_nid;
    return true;
}

static uint16_t legacy_scheme(key_kind k)
{
    switch (k) {
    case KK_RSA: return TLS_SIG_LEGACY_RSA_MD5SHA1;
    case KK_DSA: return TLS_SIG_LEGACY_DSA_SHA1;
    case KK_EC: return TLS_SIG_LEGACY_ECDSA_SHA1;
    default: return 0;
    }
}

/* RFC 5246 7.4.1.4.1: no signature_algorithms means {sha1, key's algorithm}. */
static uint16_t default_12_scheme(key_kind k)
{
    switch (k) {
    case KK_RSA: return TLS_SIG_RSA_PKCS1_SHA1;
    case KK_DSA: return TLS_SIG_DSA_SHA1;
    case KK_EC: return TLS_SIG_ECDSA_SHA1;
    default: return 0;
    }
}

uint16_t tls_sig_choose_at(EVP_PKEY *key, uint16_t version, int level, const uint16_t *peer,
                           size_t n_peer)
{
    key_kind k = key_kind_of(key);
    uint16_t s = 0;
    sig_err[0] = '\0';
    if (k == KK_NONE) {
        sig_fail("no signing key, or a key type that cannot sign handshakes");
        return 0;
    }
    if (version < TLS_TLS12) {
        s = legacy_scheme(k);
    } else if (!peer || n_peer == 0) {
        s = version >= TLS_TLS13 ? 0 : default_12_scheme(k);
        if (s && !tls_sig_allowed(s, level)) {
            sig_fail("the peer sent no signature_algorithms and its SHA-1 default needs security level 0");
            return 0;
        }
    } else {
        for (size_t i = 0; i < sizeof offered / sizeof offered[0] && !s; i++) {
            const scheme_info *si = scheme_find(offered[i]);
            if (!fits(si, key) || (version >= TLS_TLS13 && !allowed_in_13(si, key)) ||
                !tls_sig_allowed(offered[i], level))
                continue;
            for (size_t j = 0; j < n_peer; j++)
                if (peer[j] == offered[i]) {
                    s = offered[i];
                    break;
                }
        }
    }
    if (s && !tls_sig_scheme_fits_key(s, key))
        s = 0;
    if (!s)
        sig_fail("no signature scheme both sides support fits our key");
    return s;
}

uint16_t tls_sig_choose(EVP_PKEY *key, uint16_t version, const uint16_t *peer, size_t n_peer)
{
    return tls_sig_choose_at(key, version, 0, peer, n_peer);
}

bool tls_sig_accept_at(uint16_t scheme, EVP_PKEY *peer_key, uint16_t version, int level)
{
    const scheme_info *si = scheme_find(scheme);
    if (!si || !fits(si, peer_key))
        return false;
    if (version < TLS_TLS12)
        return si->legacy && scheme == legacy_scheme(key_kind_of(peer_key));
    if (!tls_sig_allowed(scheme, level)) /* also: offered by us, no pseudo-scheme */
        return false;
    return version < TLS_TLS13 || allowed_in_13(si, peer_key);
}

bool tls_sig_accept(uint16_t scheme, EVP_PKEY *peer_key, uint16_t version)
{
    return tls_sig_accept_at(scheme, peer_key, version, 0);
}

/* Signing or verifying a digest directly with EVP_PKEY_sign/verify: RSA as
 * raw PKCS#1 type 1 (md NULL: no DigestInfo), DSA/ECDSA with md only
 * telling the length of tbs. sig_len: in = cap when signing. */
static bool pkey_raw(EVP_PKEY *key, bool sign, const uint8_t *tbs, size_t tbslen, const EVP_MD *md,
                     uint8_t *sig, size_t *sig_len)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    bool ok = false;
    if (!ctx || (sign ? EVP_PKEY_sign_init(ctx) : EVP_PKEY_verify_init(ctx)) <= 0 ||
        (EVP_PKEY_is_a(key, "RSA") && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0) ||
        (md && EVP_PKEY_CTX_set_signature_md(ctx, md) <= 0)) {
        sig_fail("cannot set up the %s key for a raw signature", EVP_PKEY_get0_type_name(key));
    } else if (sign) {
        size_t need = 0;
        if (EVP_PKEY_sign(ctx, NULL, &need, tbs, tbslen) <= 0 || need > *sig_len)
            sig_fail("signature needs %zu bytes, room for %zu", need, *sig_len);
        else if (EVP_PKEY_sign(ctx, sig, sig_len, tbs, tbslen) <= 0)
            sig_fail("signing failed");
        else
            ok = true;
    } else {
        ok = EVP_PKEY_verify(ctx, sig, *sig_len, tbs, tbslen) == 1;
        if (!ok)
            sig_fail("bad signature");
    }
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

static bool md5sha1(const uint8_t *data, size_t len, uint8_t out[36])
{
    const EVP_MD *md5 = tls_algs_md(TLS_HASH_MD5), *sha1 = tls_algs_md(TLS_HASH_SHA1);
    if (!md5 || !sha1 || !EVP_Digest(data, len, out, NULL, md5, NULL) ||
        !EVP_Digest(data, len, out + 16, NULL, sha1, NULL)) {
        sig_fail("MD5 or SHA1 unavailable");
        return false;
    }
    return true;
}

/* The length a valid signature can have: RSA exactly k bytes (RFC 8017
 * 8.2.2), Ed25519 64, DER-encoded DSA/ECDSA at most the key's maximum. */
static bool sig_len_plausible(EVP_PKEY *key, key_kind k, size_t len)
{
    size_t max = (size_t)EVP_PKEY_get_size(key);
    switch (k) {
    case KK_RSA:
    case KK_RSA_PSS: return len == max;
    case KK_ED25519: return len == 64;
    default: return len > 0 && len <= max;
    }
}

/* EVP_DigestSign/Verify over the whole message for the table's hash and padding. */
static bool digest_sign_verify(EVP_PKEY *key, const scheme_info *si, bool sign, const uint8_t *data,
                               size_t len, uint8_t *sig, size_t *sig_len)
{
    const EVP_MD *md = si->hash == HASH_NONE ? NULL : tls_algs_md((tls_hash_id)si->hash);
    EVP_MD_CTX *mctx = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    bool ok = false;
    if (si->hash != HASH_NONE && !md) {
        sig_fail("hash %s unavailable", tls_hash_name((tls_hash_id)si->hash));
        return false;
    }
    if (!(mctx = EVP_MD_CTX_new()) ||
        (sign ? EVP_DigestSignInit(mctx, &pctx, md, NULL, key)
              : EVP_DigestVerifyInit(mctx, &pctx, md, NULL, key)) <= 0) {
        sig_fail("cannot set up %s for signature scheme 0x%04x", EVP_PKEY_get0_type_name(key), si->id);
        goto out;
    }
    if (si->pad == PAD_PSS) {
        /* RFC 8446 4.2.3: MGF1 with the same hash, salt as long as the hash */
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) <= 0) {
            sig_fail("cannot set RSA-PSS parameters");
            goto out;
        }
    } else if (si->pad == PAD_PKCS1 && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0) {
        sig_fail("cannot set RSA PKCS#1 padding");
        goto out;
    }
    if (sign) {
        size_t need = 0;
        /* with a NULL buffer this only reports the maximum size */
        if (EVP_DigestSign(mctx, NULL, &need, data, len) <= 0 || need > *sig_len)
            sig_fail("signature needs %zu bytes, room for %zu", need, *sig_len);
        else if (EVP_DigestSign(mctx, sig, sig_len, data, len) <= 0)
            sig_fail("signing with scheme 0x%04x failed", si->id);
        else
            ok = true;
    } else {
        ok = EVP_DigestVerify(mctx, sig, *sig_len, data, len) == 1;
        if (!ok)
            sig_fail("bad signature (scheme 0x%04x)", si->id);
    }
out:
    EVP_MD_CTX_free(mctx); /* frees pctx too */
    return ok;
}

/* Shared front of sign and verify: look the scheme up and check the key. */
static const scheme_info *scheme_for(uint16_t scheme, EVP_PKEY *key)
{
    const scheme_info *si = scheme_find(scheme);
    if (!si) {
        sig_fail("unknown signature scheme 0x%04x", scheme);
        return NULL;
    }
    if (!fits(si, key)) {
        sig_fail("signature scheme 0x%04x does not fit a %s key", scheme,
                 key ? EVP_PKEY_get0_type_name(key) : "missing");
        return NULL;
    }
    return si;
}

bool tls_sig_sign(EVP_PKEY *key, uint16_t scheme, const uint8_t *data, size_t len, uint8_t *sig,
                  size_t cap, size_t *sig_len)
{
    ERR_set_mark();
    sig_err[0] = '\0';
    bool ok = false;
    const scheme_info *si = scheme_for(scheme, key);
    if (si && si->hash == HASH_MD5SHA1) {
        uint8_t h[36];
        size_t n = cap;
        ok = md5sha1(data, len, h) && pkey_raw(key, true, h, sizeof h, NULL, sig, &n);
        if (ok)
            *sig_len = n;
    } else if (si) {
        size_t n = cap;
        ok = digest_sign_verify(key, si, true, data, len, sig, &n);
        if (ok)
            *sig_len = n;
    }
    ERR_pop_to_mark();
    return ok;
}

bool tls_sig_verify(EVP_PKEY *pub, uint16_t scheme, const uint8_t *data, size_t len,
                    const uint8_t *sig, size_t sig_len)
{
    ERR_set_mark();
    sig_err[0] = '\0';
    bool ok = false;
    size_t n = sig_len;
    const scheme_info *si = scheme_for(scheme, pub);
    if (!si) {
        /* reason set */
    } else if (!sig || !sig_len_plausible(pub, si->kind, sig_len)) {
        sig_fail("signature of %zu bytes cannot be valid for this %s key", sig_len,
                 EVP_PKEY_get0_type_name(pub));
    } else if (si->hash == HASH_MD5SHA1) {
        uint8_t h[36];
        ok = md5sha1(data, len, h) && pkey_raw(pub, false, h, sizeof h, NULL, (uint8_t *)sig, &n);
    } else {
        ok = digest_sign_verify(pub, si, false, data, len, (uint8_t *)sig, &n);
    }
    ERR_pop_to_mark();
    return ok;
}

/* SSL 3.0 (and TLS 1.0/1.1 CertificateVerify from running hashes): RSA signs
 * all 36 bytes, DSA and ECDSA the SHA1 half. */
static bool prehashed(EVP_PKEY *key, bool sign, const uint8_t hash36[36], uint8_t *sig, size_t *n)
{
    key_kind k = key_kind_of(key);
    if (k == KK_RSA)
        return pkey_raw(key, sign, hash36, 36, NULL, sig, n);
    if (k == KK_DSA || k == KK_EC)
        return pkey_raw(key, sign, hash36 + 16, 20, tls_algs_md(TLS_HASH_SHA1), sig, n);
    sig_fail("a %s key cannot make an SSL 3.0 signature", key ? EVP_PKEY_get0_type_name(key) : "missing");
    return false;
}

bool tls_sig_sign_prehashed(EVP_PKEY *key, const uint8_t hash36[36], uint8_t *sig, size_t cap,
                            size_t *sig_len)
{
    ERR_set_mark();
    sig_err[0] = '\0';
    size_t n = cap;
    bool ok = (key_kind_of(key) != KK_RSA || fits(scheme_find(TLS_SIG_LEGACY_RSA_MD5SHA1), key)) &&
              prehashed(key, true, hash36, sig, &n);
    if (ok)
        *sig_len = n;
    else if (!sig_err[0])
        sig_fail("the RSA key is too small");
    ERR_pop_to_mark();
    return ok;
}

bool tls_sig_verify_prehashed(EVP_PKEY *pub, const uint8_t hash36[36], const uint8_t *sig,
                              size_t sig_len)
{
    ERR_set_mark();
    sig_err[0] = '\0';
    size_t n = sig_len;
    key_kind k = key_kind_of(pub);
    bool ok = false;
    if (k == KK_NONE || !sig || !sig_len_plausible(pub, k, sig_len))
        sig_fail("signature of %zu bytes cannot be valid for this key", sig_len);
    else
        ok = prehashed(pub, false, hash36, (uint8_t *)sig, &n);
    ERR_pop_to_mark();
    return ok;
}
