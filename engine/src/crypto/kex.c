/* Key exchange primitives on EVP_PKEY: key shares in every group of
 * groups.c (ECDHE and the TLS 1.3 FFDHE shares), TLS 1.2 finite field DHE,
 * RSA key transport. Failures leave a reason in a thread-local
 * string (tls_kex_error) so the handshake can name it in its alert detail.
 * libcrypto's error queue is marked and popped around every call: what a
 * peer sends must not leave errors behind for a program that uses OpenSSL
 * itself on the same thread. */
#include "kex.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/dh.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tlsengine.h"

#define DH_MIN_BITS 1024 /* logjam: refuse anything weaker */
#define DH_MAX_BITS 8192 /* ffdhe8192; bounds the cost a peer can impose */

static _Thread_local char kex_err[160];

static void kex_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void kex_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(kex_err, sizeof kex_err, fmt, ap);
    va_end(ap);
}

const char *tls_kex_error(void) { return kex_err; }

/* A fresh DH key in the named group (RFC 7919), e.g. "ffdhe2048". */
static EVP_PKEY *dh_keygen_named(const char *name)
{
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL);
    OSSL_PARAM params[2] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)name, 0),
        OSSL_PARAM_construct_end(),
    };
    if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_CTX_set_params(ctx, params) <= 0 ||
        EVP_PKEY_keygen(ctx, &key) <= 0) {
        kex_fail("DH key generation in group %s failed", name);
        key = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return key;
}

/* A fresh key on the domain parameters held by `params`. */
static EVP_PKEY *keygen_from_params(EVP_PKEY *params)
{
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, params, NULL);
    if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_keygen(ctx, &key) <= 0) {
        kex_fail("DH key generation on the given parameters failed");
        key = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return key;
}

/* Writes the BIGNUM parameter `name` of key big-endian; pad > 0 left-pads to
 * that length, 0 gives the minimal encoding. */
static bool bn_param_out(const EVP_PKEY *key, const char *name, uint8_t *out, size_t cap,
                         size_t pad, size_t *len)
{
    BIGNUM *bn = NULL;
    bool ok = false;
    if (!EVP_PKEY_get_bn_param(key, name, &bn)) {
        kex_fail("key has no %s", name);
        return false;
    }
    size_t n = pad ? pad : (size_t)BN_num_bytes(bn);
    if (n == 0)
        n = 1; /* zero still takes one byte on the wire */
    if (n > cap || n > INT32_MAX || (size_t)BN_num_bytes(bn) > n) {
        kex_fail("%s needs %zu bytes, room for %zu", name, n, cap);
    } else if (BN_bn2binpad(bn, out, (int)n) == (int)n) {
        *len = n;
        ok = true;
    } else {
        kex_fail("cannot encode %s", name);
    }
    BN_clear_free(bn);
    return ok;
}

EVP_PKEY *tls_ecdhe_keygen(uint16_t group, uint8_t *pub, size_t cap, size_t *pub_len)
{
    const tls_group_info *g = tls_group_find(group);
    EVP_PKEY *key = NULL;
    ERR_set_mark();
    kex_err[0] = '\0';
    if (!g) {
        kex_fail("named group %u is not supported", group);
        goto out;
    }
    if (cap < g->pub_len) {
        kex_fail("%s public value needs %zu bytes, room for %zu", g->name, g->pub_len, cap);
        goto out;
    }
    if (tls_group_is_ffdhe(g->id)) {
        key = dh_keygen_named(g->param);
        /* TLS 1.3 key shares carry Y padded to the length of p (RFC 8446 4.2.8.1) */
        if (key && !bn_param_out(key, OSSL_PKEY_PARAM_PUB_KEY, pub, cap, g->pub_len, pub_len))
            goto bad;
        goto out;
    }
    bool is_ec = g->param != NULL;
    if (is_ec)
        key = EVP_PKEY_Q_keygen(NULL, NULL, g->type, g->param);
    else
        key = EVP_PKEY_Q_keygen(NULL, NULL, g->type);
    if (!key) {
        kex_fail("%s key generation failed", g->name);
        goto out;
    }
    /* EC keys encode uncompressed by default, X25519/X448 as their raw bytes */
    size_t n = 0;
    if (!EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pub, cap, &n) ||
        n != g->pub_len || (is_ec && pub[0] != 0x04)) {
        kex_fail("cannot encode the %s public key", g->name);
        goto bad;
    }
    *pub_len = n;
    goto out;
bad:
    EVP_PKEY_free(key);
    key = NULL;
out:
    ERR_pop_to_mark();
    return key;
}

/* Turns big-endian bytes into a BIGNUM in [2, p-2] (RFC 7919 5.1 for DH
 * public values and generators), else NULL with `what` in the reason. */
static BIGNUM *dh_value_in_range(const uint8_t *v, size_t len, const BIGNUM *p, const char *what)
{
    if (len == 0 || len > INT32_MAX) {
        kex_fail("DH %s is empty or too long", what);
        return NULL;
    }
    BIGNUM *x = BN_bin2bn(v, (int)len, NULL);
    BIGNUM *pm1 = BN_dup(p);
    bool ok = x && pm1 && BN_sub_word(pm1, 1);
    if (!ok)
        kex_fail("out of memory reading DH %s", what);
    else if (BN_cmp(x, BN_value_one()) <= 0 || BN_cmp(x, pm1) >= 0) {
        kex_fail("DH %s out of range [2, p-2]", what);
        ok = false;
    }
    BN_free(pm1);
    if (!ok) {
        BN_free(x);
        return NULL;
    }
    return x;
}

/* The peer's public key on the domain parameters of `priv`. */
static EVP_PKEY *peer_from_encoded(EVP_PKEY *priv, const uint8_t *v, size_t len)
{
    EVP_PKEY *peer = EVP_PKEY_new();
    if (!peer || EVP_PKEY_copy_parameters(peer, priv) != 1 ||
        EVP_PKEY_set1_encoded_public_key(peer, v, len) != 1) {
        EVP_PKEY_free(peer);
        return NULL;
    }
    return peer;
}

/* Derives with priv and peer into secret (cap bytes); pad asks DH for a
 * secret as long as p. validate runs the full public-key check. */
static bool derive(EVP_PKEY *priv, EVP_PKEY *peer, bool validate, bool dh_pad, uint8_t *secret,
                   size_t cap, size_t *len)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
    bool ok = false;
    size_t n = 0;
    if (!ctx || EVP_PKEY_derive_init(ctx) <= 0) {
        kex_fail("cannot start key derivation");
    } else if (dh_pad && EVP_PKEY_CTX_set_dh_pad(ctx, 1) <= 0) {
        kex_fail("cannot set DH padding");
    } else if (EVP_PKEY_derive_set_peer_ex(ctx, peer, validate ? 1 : 0) <= 0) {
        kex_fail("the peer's public key is invalid");
    } else if (EVP_PKEY_derive(ctx, NULL, &n) <= 0 || n > cap) {
        kex_fail("shared secret needs %zu bytes, room for %zu", n, cap);
    } else if (EVP_PKEY_derive(ctx, secret, &n) <= 0) {
        kex_fail("key derivation failed (invalid peer public key?)");
    } else {
        *len = n;
        ok = true;
    }
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

bool tls_ecdhe_derive(EVP_PKEY *priv, uint16_t group, const uint8_t *peer, size_t peer_len,
                      uint8_t *secret, size_t cap, size_t *secret_len)
{
    const tls_group_info *g = tls_group_find(group);
    EVP_PKEY *pk = NULL;
    BIGNUM *p = NULL, *y = NULL;
    bool ok = false;
    ERR_set_mark();
    kex_err[0] = '\0';
    if (!g || !priv) {
        kex_fail("named group %u is not supported", group);
        goto out;
    }
    const char *gname = g->name;
    bool ffdhe = tls_group_is_ffdhe(g->id);
    if (peer_len != g->pub_len) {
        kex_fail("%s public value has %zu bytes, expected %zu", gname, peer_len, g->pub_len);
        goto out;
    }
    if (!EVP_PKEY_is_a(priv, g->type)) {
        kex_fail("our key is not a %s key", g->type);
        goto out;
    }
    if (ffdhe) {
        if (!EVP_PKEY_get_bn_param(priv, OSSL_PKEY_PARAM_FFC_P, &p) ||
            !(y = dh_value_in_range(peer, peer_len, p, "public value")))
            goto out;
        pk = peer_from_encoded(priv, peer, peer_len);
    } else if (!g->param) { /* X25519, X448: any 32 / 56 bytes are a u-coordinate */
        pk = EVP_PKEY_new_raw_public_key_ex(NULL, g->type, NULL, peer, peer_len);
    } else {
        /* RFC 8422 5.4.1: uncompressed only; 0x00 is infinity, 0x02/0x03 compressed */
        if (peer[0] != 0x04) {
            kex_fail("%s point format 0x%02x is not uncompressed", gname, peer[0]);
            goto out;
        }
        pk = peer_from_encoded(priv, peer, peer_len); /* decoding checks the curve equation */
    }
    if (!pk) {
        if (!kex_err[0])
            kex_fail("%s public value is not a valid point", gname);
        goto out;
    }
    if (!derive(priv, pk, !ffdhe, ffdhe, secret, cap, secret_len))
        goto out;
    if (*secret_len != g->secret_len) {
        kex_fail("%s shared secret has %zu bytes, expected %zu", gname, *secret_len, g->secret_len);
        OPENSSL_cleanse(secret, *secret_len);
        goto out;
    }
    /* RFC 7748 6: an all-zero X25519 / X448 output means a low-order point;
     * the check runs over every byte so it does not depend on where zeros are */
    uint8_t acc = 0;
    for (size_t i = 0; i < *secret_len; i++)
        acc |= secret[i];
    if (acc == 0) {
        kex_fail("%s shared secret is all zero (low-order peer point)", gname);
        OPENSSL_cleanse(secret, *secret_len);
        goto out;
    }
    ok = true;
out:
    EVP_PKEY_free(pk);
    BN_free(p);
    BN_free(y);
    ERR_pop_to_mark();
    return ok;
}

/* Writes p, g and the public value of a DH key (minimal big-endian). */
static bool dh_export(EVP_PKEY *key, uint8_t *p, size_t *p_len, uint8_t *g, size_t *g_len,
                      uint8_t *pub, size_t *pub_len, size_t cap)
{
    return bn_param_out(key, OSSL_PKEY_PARAM_FFC_P, p, cap, 0, p_len) &&
           bn_param_out(key, OSSL_PKEY_PARAM_FFC_G, g, cap, 0, g_len) &&
           bn_param_out(key, OSSL_PKEY_PARAM_PUB_KEY, pub, cap, 0, pub_len);
}

/* p must be odd and DH_MIN_BITS..DH_MAX_BITS bits long. */
static bool dh_p_acceptable(const BIGNUM *p)
{
    int bits = BN_num_bits(p);
    if (bits < DH_MIN_BITS) {
        kex_fail("DH prime has %d bits, at least %d required", bits, DH_MIN_BITS);
        return false;
    }
    if (bits > DH_MAX_BITS) {
        kex_fail("DH prime has %d bits, at most %d accepted", bits, DH_MAX_BITS);
        return false;
    }
    if (!BN_is_odd(p)) {
        kex_fail("DH prime is even");
        return false;
    }
    return true;
}

EVP_PKEY *tls_dhe_keygen_group(uint16_t group, EVP_PKEY *params, uint8_t *p, size_t *p_len, uint8_t *g,
                               size_t *g_len, uint8_t *pub, size_t *pub_len, size_t cap)
{
    ERR_set_mark();
    kex_err[0] = '\0';
    EVP_PKEY *key = NULL;
    const tls_group_info *named = tls_group_find(group);
    if (group && (!named || !tls_group_is_ffdhe(group)))
        kex_fail("named group %u is not a finite-field group we support", group);
    else if (named)
        key = dh_keygen_named(named->param);
    else if (!params)
        key = dh_keygen_named("ffdhe2048"); /* RFC 7919 default */
    else if (!EVP_PKEY_is_a(params, "DH") && !EVP_PKEY_is_a(params, "DHX"))
        kex_fail("configured DH parameters are not DH");
    else
        key = keygen_from_params(params);
    if (key && !dh_export(key, p, p_len, g, g_len, pub, pub_len, cap)) {
        EVP_PKEY_free(key);
        key = NULL;
    }
    ERR_pop_to_mark();
    return key;
}

EVP_PKEY *tls_dhe_keygen(EVP_PKEY *params, uint8_t *p, size_t *p_len, uint8_t *g, size_t *g_len,
                         uint8_t *pub, size_t *pub_len, size_t cap)
{
    return tls_dhe_keygen_group(0, params, p, p_len, g, g_len, pub, pub_len, cap);
}

EVP_PKEY *tls_dhe_keygen_from(const uint8_t *p, size_t p_len, const uint8_t *g, size_t g_len,
                              uint8_t *pub, size_t cap, size_t *pub_len)
{
    ERR_set_mark();
    kex_err[0] = '\0';
    BIGNUM *bp = NULL, *bg = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *prm = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *params = NULL, *key = NULL;

    if (p_len == 0 || p_len > DH_MAX_BITS / 8 + 1) {
        kex_fail("DH prime of %zu bytes", p_len);
        goto out;
    }
    if (!(bp = BN_bin2bn(p, (int)p_len, NULL))) {
        kex_fail("out of memory reading the DH prime");
        goto out;
    }
    if (!dh_p_acceptable(bp) || !(bg = dh_value_in_range(g, g_len, bp, "generator")))
        goto out;
    if (!(bld = OSSL_PARAM_BLD_new()) || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_FFC_P, bp) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_FFC_G, bg) ||
        !(prm = OSSL_PARAM_BLD_to_param(bld)) ||
        !(ctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL)) || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &params, EVP_PKEY_KEY_PARAMETERS, prm) <= 0) {
        kex_fail("cannot build DH parameters from the server's p and g");
        goto out;
    }
    key = keygen_from_params(params);
    if (key && !bn_param_out(key, OSSL_PKEY_PARAM_PUB_KEY, pub, cap, 0, pub_len)) {
        EVP_PKEY_free(key);
        key = NULL;
    }
out:
    EVP_PKEY_free(params);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(prm);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bp);
    BN_free(bg);
    ERR_pop_to_mark();
    return key;
}

bool tls_dhe_prime_allowed(const uint8_t *p, size_t p_len, int level)
{
    kex_err[0] = '\0';
    BIGNUM *bp = p_len && p_len <= DH_MAX_BITS / 8 + 1 ? BN_bin2bn(p, (int)p_len, NULL) : NULL;
    int bits = bp ? BN_num_bits(bp) : 0;
    BN_free(bp);
    bool ok = tls_dh_security_bits(bits) >= tls_seclevel_bits(level);
    if (!ok)
        kex_fail("a %d-bit DH prime is below security level %d", bits, level);
    return ok;
}

bool tls_dhe_derive(EVP_PKEY *priv, const uint8_t *peer_pub, size_t peer_len, uint8_t *secret,
                    size_t cap, size_t *secret_len)
{
    ERR_set_mark();
    kex_err[0] = '\0';
    BIGNUM *p = NULL, *y = NULL;
    EVP_PKEY *pk = NULL;
    bool ok = false;
    size_t n = 0;

    if (!priv || (!EVP_PKEY_is_a(priv, "DH") && !EVP_PKEY_is_a(priv, "DHX"))) {
        kex_fail("our key is not a DH key");
        goto out;
    }
    if (!EVP_PKEY_get_bn_param(priv, OSSL_PKEY_PARAM_FFC_P, &p)) {
        kex_fail("our DH key has no prime");
        goto out;
    }
    if (!(y = dh_value_in_range(peer_pub, peer_len, p, "public value")))
        goto out;
    if (!(pk = peer_from_encoded(priv, peer_pub, peer_len))) {
        kex_fail("DH public value rejected");
        goto out;
    }
    /* derive the padded secret, then strip its leading zeros ourselves
     * (RFC 5246 8.1.2) so the result does not depend on libcrypto's default.
     * The count is found without branching; the stripped length itself is
     * visible to the PRF, as in every TLS 1.2 DHE implementation (Raccoon). */
    if (!derive(priv, pk, false, true, secret, cap, &n))
        goto out;
    size_t zeros = 0, still = 1;
    for (size_t i = 0; i < n; i++) {
        still &= (size_t)(secret[i] == 0);
        zeros += still;
    }
    if (zeros == n) {
        kex_fail("DH shared secret is zero");
        OPENSSL_cleanse(secret, n);
        goto out;
    }
    memmove(secret, secret + zeros, n - zeros);
    OPENSSL_cleanse(secret + n - zeros, zeros);
    *secret_len = n - zeros;
    ok = true;
out:
    EVP_PKEY_free(pk);
    BN_free(p);
    BN_free(y);
    ERR_pop_to_mark();
    return ok;
}

static EVP_PKEY *decode_params(const uint8_t *data, size_t len, const char *fmt, const char *type)
{
    EVP_PKEY *pkey = NULL;
    OSSL_DECODER_CTX *dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, fmt, NULL, type,
                                                           EVP_PKEY_KEY_PARAMETERS, NULL, NULL);
    const unsigned char *pd = data;
    size_t pl = len;
    if (!dctx || !OSSL_DECODER_from_data(dctx, &pd, &pl)) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    OSSL_DECODER_CTX_free(dctx);
    return pkey;
}

EVP_PKEY *tls_dh_params_load(const uint8_t *data, size_t len, bool is_pem)
{
    ERR_set_mark();
    kex_err[0] = '\0';
    BIGNUM *p = NULL;
    EVP_PKEY *pkey = NULL;
    const char *fmt = is_pem ? "PEM" : "DER";
    if (!data || len == 0) {
        kex_fail("no DH parameters given");
        goto out;
    }
    /* PKCS#3 first; X9.42 ("X9.42 DH PARAMETERS") is the DHX key type */
    if (!(pkey = decode_params(data, len, fmt, "DH")) && !(pkey = decode_params(data, len, fmt, "DHX"))) {
        kex_fail("not %s-encoded DH parameters", fmt);
        goto out;
    }
    if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_FFC_P, &p)) {
        kex_fail("DH parameters without a prime");
        goto bad;
    }
    if (!dh_p_acceptable(p))
        goto bad;
    goto out;
bad:
    EVP_PKEY_free(pkey);
    pkey = NULL;
out:
    BN_free(p);
    ERR_pop_to_mark();
    return pkey;
}

bool tls_rsa_encrypt_pms(EVP_PKEY *server_pub, const uint8_t pms[48], uint8_t *out, size_t cap,
                         size_t *out_len)
{
    ERR_set_mark();
    kex_err[0] = '\0';
    EVP_PKEY_CTX *ctx = NULL;
    bool ok = false;
    size_t n = 0;
    if (!server_pub || !EVP_PKEY_is_a(server_pub, "RSA")) {
        kex_fail("the server key is not an RSA key");
        goto out;
    }
    if (EVP_PKEY_get_size(server_pub) < 48 + 11) {
        kex_fail("the server's RSA key is too small for a premaster secret");
        goto out;
    }
    if (!(ctx = EVP_PKEY_CTX_new_from_pkey(NULL, server_pub, NULL)) ||
        EVP_PKEY_encrypt_init(ctx) <= 0 || EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0 ||
        EVP_PKEY_encrypt(ctx, NULL, &n, pms, 48) <= 0) {
        kex_fail("cannot set up RSA encryption");
        goto out;
    }
    if (n > cap) {
        kex_fail("encrypted premaster secret needs %zu bytes, room for %zu", n, cap);
        goto out;
    }
    n = cap;
    if (EVP_PKEY_encrypt(ctx, out, &n, pms, 48) <= 0) {
        kex_fail("RSA encryption failed");
        goto out;
    }
    *out_len = n;
    ok = true;
out:
    EVP_PKEY_CTX_free(ctx);
    ERR_pop_to_mark();
    return ok;
}

bool tls_rsa_decrypt_pms_alt(EVP_PKEY *server_key, uint16_t client_version,
                             uint16_t negotiated_version, const uint8_t *in, size_t len,
                             uint8_t pms[48])
{
    ERR_set_mark();
    kex_err[0] = '\0';
    uint8_t rnd[48], dec[48];
    EVP_PKEY_CTX *ctx = NULL;
    size_t n = sizeof dec;
    unsigned int cv = client_version;
    unsigned int nv = client_version <= TLS_TLS10 ? negotiated_version : 0;
    bool rng_ok;

    /* the substitute exists before anything depends on the ciphertext */
    rng_ok = RAND_priv_bytes(rnd, sizeof rnd) == 1;
    memcpy(dec, rnd, sizeof dec);

    OSSL_PARAM params[4];
    size_t np = 0;
    params[np++] = OSSL_PARAM_construct_uint(OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION, &cv);
    if (nv)
        params[np++] = OSSL_PARAM_construct_uint(OSSL_ASYM_CIPHER_PARAM_TLS_NEGOTIATED_VERSION, &nv);
    params[np] = OSSL_PARAM_construct_end();

    /* With RSA_PKCS1_WITH_TLS_PADDING libcrypto checks padding, length (48)
     * and version without branching and returns random bytes on a mismatch
     * (implicit rejection), so success here does not depend on the padding.
     * What can still fail (no RSA key, ciphertext longer than the modulus)
     * depends only on public data. */
    int ok = server_key && EVP_PKEY_is_a(server_key, "RSA") &&
             (ctx = EVP_PKEY_CTX_new_from_pkey(NULL, server_key, NULL)) != NULL &&
             EVP_PKEY_decrypt_init(ctx) > 0 &&
             EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_WITH_TLS_PADDING) > 0 &&
             EVP_PKEY_CTX_set_params(ctx, params) > 0 && in && len > 0 &&
             EVP_PKEY_decrypt(ctx, dec, &n, in, len) > 0;
    ok &= n == sizeof dec;

    /* constant-time choice between the decrypted and the random secret */
    uint8_t mask = (uint8_t)(0 - (uint8_t)(ok & 1));
    for (size_t i = 0; i < 48; i++)
        pms[i] = (uint8_t)((dec[i] & mask) | (rnd[i] & (uint8_t)~mask));

    OPENSSL_cleanse(dec, sizeof dec);
    OPENSSL_cleanse(rnd, sizeof rnd);
    EVP_PKEY_CTX_free(ctx);
    ERR_pop_to_mark();
    if (!rng_ok) {
        OPENSSL_cleanse(pms, 48);
        kex_fail("random generator failed");
    }
    return rng_ok;
}

bool tls_rsa_decrypt_pms(EVP_PKEY *server_key, uint16_t client_version, const uint8_t *in,
                         size_t len, uint8_t pms[48])
{
    return tls_rsa_decrypt_pms_alt(server_key, client_version, 0, in, len, pms);
}
