/* Handshake signatures: every scheme signs and verifies with generated keys,
 * tampered data and signatures fail, the encodings are checked independently
 * (PKCS#1 DigestInfo of RFC 8017 9.2, MD5||SHA1 without DigestInfo, PSS salt
 * length, RFC 8032 Ed25519 vector), scheme choice and acceptance per version,
 * SSL 3.0 prehashed signatures. */
#include <criterion/criterion.h>
#include <openssl/dsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <string.h>

#include "sig.h"
#include "tlsengine.h"

static const uint8_t msg[] = "client_random || server_random || ServerDHParams, as signed in TLS";

static EVP_PKEY *gen(const char *type, const char *arg)
{
    EVP_PKEY *k = NULL;
    if (strcmp(type, "RSA") == 0)
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)strtoul(arg, NULL, 10));
    else if (strcmp(type, "EC") == 0)
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", arg);
    else if (strcmp(type, "ED25519") == 0)
        k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    else if (strcmp(type, "DSA") == 0) {
        /* DSA needs domain parameters first (FIPS 186-4, L = 2048) */
        EVP_PKEY *params = NULL;
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "DSA", NULL);
        cr_assert(c && EVP_PKEY_paramgen_init(c) > 0 && EVP_PKEY_CTX_set_dsa_paramgen_bits(c, 2048) > 0 &&
                  EVP_PKEY_paramgen(c, &params) > 0);
        EVP_PKEY_CTX_free(c);
        c = EVP_PKEY_CTX_new_from_pkey(NULL, params, NULL);
        cr_assert(c && EVP_PKEY_keygen_init(c) > 0 && EVP_PKEY_keygen(c, &k) > 0);
        EVP_PKEY_CTX_free(c);
        EVP_PKEY_free(params);
    }
    cr_assert(k, "keygen %s %s", type, arg ? arg : "");
    return k;
}

/* Sign with `scheme`, verify, and check every way the verification must fail. */
static size_t sign_and_check(EVP_PKEY *key, uint16_t scheme, uint8_t *sig, size_t cap)
{
    size_t n = 0;
    uint8_t data[sizeof msg], bad[1024];
    memcpy(data, msg, sizeof msg);
    cr_assert(tls_sig_scheme_fits_key(scheme, key), "scheme %04x fits", scheme);
    cr_assert(tls_sig_sign(key, scheme, data, sizeof data, sig, cap, &n), "sign %04x: %s", scheme,
              tls_sig_error());
    cr_assert(n > 0 && n <= cap);
    cr_assert(tls_sig_verify(key, scheme, data, sizeof data, sig, n), "verify %04x: %s", scheme,
              tls_sig_error());
    cr_assert_str_empty(tls_sig_error());
    /* modified data: first, middle and last byte */
    size_t at[3] = {0, sizeof data / 2, sizeof data - 1};
    for (int i = 0; i < 3; i++) {
        data[at[i]] ^= 0x01;
        cr_assert_not(tls_sig_verify(key, scheme, data, sizeof data, sig, n), "%04x data byte %zu", scheme,
                      at[i]);
        data[at[i]] ^= 0x01;
    }
    cr_assert_not(tls_sig_verify(key, scheme, data, sizeof data - 1, sig, n));
    /* truncated, extended and bit-flipped signatures */
    cr_assert_not(tls_sig_verify(key, scheme, data, sizeof data, sig, n - 1), "%04x truncated", scheme);
    cr_assert(tls_sig_error()[0]);
    memcpy(bad, sig, n);
    bad[n] = 0;
    cr_assert_not(tls_sig_verify(key, scheme, data, sizeof data, bad, n + 1), "%04x extended", scheme);
    for (size_t i = 0; i < n; i += n / 7 + 1) {
        bad[i] ^= 0x40;
        cr_assert_not(tls_sig_verify(key, scheme, data, sizeof data, bad, n), "%04x sig byte %zu", scheme, i);
        bad[i] ^= 0x40;
    }
    /* garbage of every short length, zeros, all ones, nothing */
    for (size_t len = 0; len < 80; len++) {
        memset(bad, (int)len, len);
        cr_assert_not(tls_sig_verify(key, scheme, data, sizeof data, bad, len));
    }
    memset(bad, 0, n);
    cr_assert_not(tls_sig_verify(key, scheme, data, sizeof data, bad, n));
    memset(bad, 0xff, n);
    cr_assert_not(tls_sig_verify(key, scheme, data, sizeof data, bad, n));
    cr_assert_not(tls_sig_verify(key, scheme, data, sizeof data, NULL, 0));
    /* the buffer must hold the signature */
    size_t m = 0;
    cr_assert_not(tls_sig_sign(key, scheme, data, sizeof data, bad, n / 2, &m));
    cr_assert(strstr(tls_sig_error(), "room"), "%s", tls_sig_error());
    cr_assert_eq(ERR_peek_error(), 0, "no errors left on the queue (%04x)", scheme);
    return n;
}

/* The RSA signature opened with the public key (EVP_PKEY_verify_recover,
 * PKCS#1 type 1 padding removed). */
static size_t rsa_recover(EVP_PKEY *key, const uint8_t *sig, size_t n, uint8_t *out, size_t cap)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    size_t len = cap;
    cr_assert(c && EVP_PKEY_verify_recover_init(c) > 0 &&
              EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) > 0 &&
              EVP_PKEY_verify_recover(c, out, &len, sig, n) > 0);
    EVP_PKEY_CTX_free(c);
    return len;
}

static void unhex(const char *h, uint8_t *out)
{
    for (size_t i = 0; h[2 * i]; i++) {
        unsigned v;
        cr_assert(sscanf(h + 2 * i, "%2x", &v) == 1);
        out[i] = (uint8_t)v;
    }
}

Test(sig, rsa_every_scheme)
{
    EVP_PKEY *k = gen("RSA", "2048");
    EVP_PKEY *other = gen("RSA", "2048");
    const uint16_t s[] = {TLS_SIG_RSA_PKCS1_SHA1,      TLS_SIG_RSA_PKCS1_SHA256,    TLS_SIG_RSA_PKCS1_SHA384,
                          TLS_SIG_RSA_PKCS1_SHA512,    TLS_SIG_RSA_PSS_RSAE_SHA256, TLS_SIG_RSA_PSS_RSAE_SHA384,
                          TLS_SIG_RSA_PSS_RSAE_SHA512, TLS_SIG_RSA_PKCS1_MD5,       TLS_SIG_LEGACY_RSA_MD5SHA1};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        uint8_t sig[512];
        size_t n = sign_and_check(k, s[i], sig, sizeof sig);
        cr_assert_eq(n, 256, "RSA signatures are the modulus length");
        cr_assert_not(tls_sig_verify(other, s[i], msg, sizeof msg, sig, n), "another key");
    }
    EVP_PKEY_free(other);
    EVP_PKEY_free(k);
}

/* RFC 8017 9.2 note 1: the SHA-256 DigestInfo prefix; PKCS#1 v1.5 is
 * deterministic, PSS is not. */
Test(sig, rsa_pkcs1_encoding_known_answer)
{
    EVP_PKEY *k = gen("RSA", "2048");
    uint8_t sig[256], sig2[256], rec[256], h[64], prefix[19];
    size_t n = 0, n2 = 0;
    unhex("3031300d060960864801650304020105000420", prefix);
    cr_assert(tls_sig_sign(k, TLS_SIG_RSA_PKCS1_SHA256, msg, sizeof msg, sig, sizeof sig, &n));
    size_t r = rsa_recover(k, sig, n, rec, sizeof rec);
    cr_assert_eq(r, 19 + 32);
    cr_assert_arr_eq(rec, prefix, 19);
    cr_assert(EVP_Digest(msg, sizeof msg, h, NULL, EVP_sha256(), NULL));
    cr_assert_arr_eq(rec + 19, h, 32);
    cr_assert(tls_sig_sign(k, TLS_SIG_RSA_PKCS1_SHA256, msg, sizeof msg, sig2, sizeof sig2, &n2));
    cr_assert_arr_eq(sig, sig2, n, "PKCS#1 v1.5 is deterministic");

    /* legacy: MD5(data) || SHA1(data), no DigestInfo (RFC 4346 7.4.3) */
    cr_assert(tls_sig_sign(k, TLS_SIG_LEGACY_RSA_MD5SHA1, msg, sizeof msg, sig, sizeof sig, &n));
    r = rsa_recover(k, sig, n, rec, sizeof rec);
    cr_assert_eq(r, 36);
    cr_assert(EVP_Digest(msg, sizeof msg, h, NULL, EVP_md5(), NULL));
    cr_assert(EVP_Digest(msg, sizeof msg, h + 16, NULL, EVP_sha1(), NULL));
    cr_assert_arr_eq(rec, h, 36);

    /* PSS is randomised */
    cr_assert(tls_sig_sign(k, TLS_SIG_RSA_PSS_RSAE_SHA256, msg, sizeof msg, sig, sizeof sig, &n));
    cr_assert(tls_sig_sign(k, TLS_SIG_RSA_PSS_RSAE_SHA256, msg, sizeof msg, sig2, sizeof sig2, &n2));
    cr_assert(memcmp(sig, sig2, n) != 0);
    /* a PSS signature is not a PKCS#1 one and vice versa */
    cr_assert_not(tls_sig_verify(k, TLS_SIG_RSA_PKCS1_SHA256, msg, sizeof msg, sig, n));
    cr_assert(tls_sig_sign(k, TLS_SIG_RSA_PKCS1_SHA256, msg, sizeof msg, sig2, sizeof sig2, &n2));
    cr_assert_not(tls_sig_verify(k, TLS_SIG_RSA_PSS_RSAE_SHA256, msg, sizeof msg, sig2, n2));
    EVP_PKEY_free(k);
}

/* Checks an RSA-PSS signature with explicit parameters. */
static int pss_verify(EVP_PKEY *k, const EVP_MD *md, int salt, const uint8_t *sig, size_t n)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    cr_assert(EVP_DigestVerifyInit(m, &pc, md, NULL, k) > 0);
    cr_assert(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) > 0);
    cr_assert(EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, salt) > 0);
    cr_assert(EVP_PKEY_CTX_set_rsa_mgf1_md(pc, md) > 0);
    int ok = EVP_DigestVerify(m, sig, n, msg, sizeof msg);
    EVP_MD_CTX_free(m);
    ERR_clear_error();
    return ok;
}

/* RFC 8446 4.2.3: the PSS salt is as long as the hash, MGF1 uses the same hash. */
Test(sig, rsa_pss_salt_is_hash_length)
{
    EVP_PKEY *k = gen("RSA", "2048");
    uint8_t sig[256];
    size_t n = 0;
    cr_assert(tls_sig_sign(k, TLS_SIG_RSA_PSS_RSAE_SHA256, msg, sizeof msg, sig, sizeof sig, &n));
    cr_assert_eq(pss_verify(k, EVP_sha256(), 32, sig, n), 1);
    cr_assert_neq(pss_verify(k, EVP_sha256(), 20, sig, n), 1);
    cr_assert(tls_sig_sign(k, TLS_SIG_RSA_PSS_RSAE_SHA384, msg, sizeof msg, sig, sizeof sig, &n));
    cr_assert_eq(pss_verify(k, EVP_sha384(), 48, sig, n), 1);
    cr_assert(tls_sig_sign(k, TLS_SIG_RSA_PSS_RSAE_SHA512, msg, sizeof msg, sig, sizeof sig, &n));
    cr_assert_eq(pss_verify(k, EVP_sha512(), 64, sig, n), 1);
    cr_assert_neq(pss_verify(k, EVP_sha512(), 32, sig, n), 1);
    EVP_PKEY_free(k);
}

static void ecdsa_all(const char *curve)
{
    EVP_PKEY *k = gen("EC", curve);
    EVP_PKEY *other = gen("EC", curve);
    /* in TLS 1.2 any ECDSA hash goes with any curve */
    const uint16_t s[] = {TLS_SIG_ECDSA_SECP256R1_SHA256, TLS_SIG_ECDSA_SECP384R1_SHA384,
                          TLS_SIG_ECDSA_SECP521R1_SHA512, TLS_SIG_ECDSA_SHA1, TLS_SIG_LEGACY_ECDSA_SHA1};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        uint8_t sig[256];
        size_t n = sign_and_check(k, s[i], sig, sizeof sig);
        cr_assert_eq(sig[0], 0x30, "DER SEQUENCE");
        cr_assert_not(tls_sig_verify(other, s[i], msg, sizeof msg, sig, n));
        /* the hash is part of the scheme */
        bool sha1 = s[i] == TLS_SIG_ECDSA_SHA1 || s[i] == TLS_SIG_LEGACY_ECDSA_SHA1;
        uint16_t wrong = sha1 ? TLS_SIG_ECDSA_SECP256R1_SHA256 : TLS_SIG_ECDSA_SHA1;
        cr_assert_not(tls_sig_verify(k, wrong, msg, sizeof msg, sig, n));
    }
    EVP_PKEY_free(other);
    EVP_PKEY_free(k);
}

Test(sig, ecdsa_p256_every_scheme) { ecdsa_all("P-256"); }
Test(sig, ecdsa_p384_every_scheme) { ecdsa_all("P-384"); }

Test(sig, dsa_every_scheme)
{
    EVP_PKEY *k = gen("DSA", NULL);
    const uint16_t s[] = {TLS_SIG_DSA_SHA1, TLS_SIG_DSA_SHA256, TLS_SIG_LEGACY_DSA_SHA1};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        uint8_t sig[256];
        size_t n = sign_and_check(k, s[i], sig, sizeof sig);
        cr_assert_eq(sig[0], 0x30);
        if (s[i] != TLS_SIG_DSA_SHA256)
            cr_assert_not(tls_sig_verify(k, TLS_SIG_DSA_SHA256, msg, sizeof msg, sig, n));
    }
    /* DSA in every choice mode */
    cr_assert_eq(tls_sig_choose(k, TLS_TLS10, NULL, 0), TLS_SIG_LEGACY_DSA_SHA1);
    cr_assert_eq(tls_sig_choose(k, TLS_TLS12, NULL, 0), TLS_SIG_DSA_SHA1);
    const uint16_t peer[] = {TLS_SIG_DSA_SHA1, TLS_SIG_RSA_PKCS1_SHA256, TLS_SIG_DSA_SHA256};
    cr_assert_eq(tls_sig_choose(k, TLS_TLS12, peer, 3), TLS_SIG_DSA_SHA256);
    cr_assert_eq(tls_sig_choose(k, TLS_TLS13, peer, 3), 0, "no DSA in TLS 1.3");
    /* SSL 3.0: DSA signs the SHA1 half, the same as DSA-SHA1 over the data */
    uint8_t h[36], sig[256];
    size_t n = 0;
    cr_assert(EVP_Digest(msg, sizeof msg, h, NULL, EVP_md5(), NULL));
    cr_assert(EVP_Digest(msg, sizeof msg, h + 16, NULL, EVP_sha1(), NULL));
    cr_assert(tls_sig_sign_prehashed(k, h, sig, sizeof sig, &n), "%s", tls_sig_error());
    cr_assert(tls_sig_verify_prehashed(k, h, sig, n));
    cr_assert(tls_sig_verify(k, TLS_SIG_DSA_SHA1, msg, sizeof msg, sig, n));
    h[0] ^= 1; /* the MD5 half is not signed */
    cr_assert(tls_sig_verify_prehashed(k, h, sig, n));
    h[35] ^= 1;
    cr_assert_not(tls_sig_verify_prehashed(k, h, sig, n));
    EVP_PKEY_free(k);
}

/* RFC 8032 7.1 TEST 1: the empty message. */
Test(sig, ed25519_rfc8032_known_answer)
{
    uint8_t sk[32], pk[32], want[64], sig[64], got_pk[32];
    size_t n = 0, pl = sizeof got_pk;
    unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", sk);
    unhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", pk);
    unhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
          want);
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, sk, 32);
    cr_assert(k && EVP_PKEY_get_raw_public_key(k, got_pk, &pl));
    cr_assert_arr_eq(got_pk, pk, 32);
    cr_assert(tls_sig_sign(k, TLS_SIG_ED25519, (const uint8_t *)"", 0, sig, sizeof sig, &n), "%s",
              tls_sig_error());
    cr_assert_eq(n, 64);
    cr_assert_arr_eq(sig, want, 64);
    EVP_PKEY *pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk, 32);
    cr_assert(tls_sig_verify(pub, TLS_SIG_ED25519, (const uint8_t *)"", 0, want, 64));
    want[63] ^= 0x80;
    cr_assert_not(tls_sig_verify(pub, TLS_SIG_ED25519, (const uint8_t *)"", 0, want, 64));
    EVP_PKEY_free(pub);
    EVP_PKEY_free(k);
}

Test(sig, ed25519_generated)
{
    EVP_PKEY *k = gen("ED25519", NULL);
    uint8_t sig[128];
    cr_assert_eq(sign_and_check(k, TLS_SIG_ED25519, sig, sizeof sig), 64);
    /* no Ed25519 before TLS 1.2, and no SSL 3.0 form */
    cr_assert_eq(tls_sig_choose(k, TLS_TLS11, NULL, 0), 0);
    cr_assert_eq(tls_sig_choose(k, TLS_TLS12, NULL, 0), 0);
    uint8_t h[36] = {0};
    size_t n = 0;
    cr_assert_not(tls_sig_sign_prehashed(k, h, sig, sizeof sig, &n));
    cr_assert_not(tls_sig_verify_prehashed(k, h, sig, 64));
    EVP_PKEY_free(k);
}

Test(sig, schemes_that_do_not_fit)
{
    EVP_PKEY *rsa = gen("RSA", "1024");
    EVP_PKEY *ec = gen("EC", "P-256");
    EVP_PKEY *ed = gen("ED25519", NULL);
    uint8_t sig[512];
    size_t n = 0;
    /* key type mismatches, both ways */
    cr_assert_not(tls_sig_scheme_fits_key(TLS_SIG_RSA_PKCS1_SHA256, ec));
    cr_assert_not(tls_sig_scheme_fits_key(TLS_SIG_ECDSA_SECP256R1_SHA256, rsa));
    cr_assert_not(tls_sig_scheme_fits_key(TLS_SIG_ED25519, ec));
    cr_assert_not(tls_sig_scheme_fits_key(TLS_SIG_DSA_SHA256, rsa));
    cr_assert_not(tls_sig_scheme_fits_key(TLS_SIG_RSA_PSS_PSS_SHA256, rsa), "rsa_pss_pss needs a PSS key");
    cr_assert_not(tls_sig_scheme_fits_key(TLS_SIG_RSA_PKCS1_SHA256, NULL));
    cr_assert_not(tls_sig_scheme_fits_key(0x0302, rsa), "unknown scheme");
    cr_assert_not(tls_sig_sign(ec, TLS_SIG_RSA_PKCS1_SHA256, msg, sizeof msg, sig, sizeof sig, &n));
    cr_assert(strstr(tls_sig_error(), "does not fit"), "%s", tls_sig_error());
    cr_assert_not(tls_sig_sign(rsa, 0x1234, msg, sizeof msg, sig, sizeof sig, &n));
    cr_assert(strstr(tls_sig_error(), "unknown"), "%s", tls_sig_error());
    /* an ECDSA signature does not verify as RSA, nor under an Ed25519 key */
    cr_assert(tls_sig_sign(ec, TLS_SIG_ECDSA_SECP256R1_SHA256, msg, sizeof msg, sig, sizeof sig, &n));
    cr_assert_not(tls_sig_verify(rsa, TLS_SIG_ECDSA_SECP256R1_SHA256, msg, sizeof msg, sig, n));
    cr_assert_not(tls_sig_verify(ed, TLS_SIG_ED25519, msg, sizeof msg, sig, n));
    /* RFC 8017 9.1.1: PSS-SHA512 with salt 64 needs emLen >= 130; a 1024-bit key has 128 */
    cr_assert(tls_sig_scheme_fits_key(TLS_SIG_RSA_PSS_RSAE_SHA384, rsa));
    cr_assert_not(tls_sig_scheme_fits_key(TLS_SIG_RSA_PSS_RSAE_SHA512, rsa));
    cr_assert_not(tls_sig_sign(rsa, TLS_SIG_RSA_PSS_RSAE_SHA512, msg, sizeof msg, sig, sizeof sig, &n));
    cr_assert(tls_sig_scheme_fits_key(TLS_SIG_RSA_PKCS1_SHA512, rsa));
    const uint16_t peer[] = {TLS_SIG_RSA_PSS_RSAE_SHA512, TLS_SIG_RSA_PSS_RSAE_SHA384};
    cr_assert_eq(tls_sig_choose(rsa, TLS_TLS12, peer, 2), TLS_SIG_RSA_PSS_RSAE_SHA384);
    cr_assert_eq(ERR_peek_error(), 0);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(ed);
}

Test(sig, offered_list)
{
    size_t n = 0;
    const uint16_t *s = tls_sig_schemes(&n);
    const uint16_t want[] = {
        TLS_SIG_ECDSA_SECP256R1_SHA256, TLS_SIG_ECDSA_SECP384R1_SHA384, TLS_SIG_ECDSA_SECP521R1_SHA512,
        TLS_SIG_ED25519,                TLS_SIG_RSA_PSS_RSAE_SHA256,    TLS_SIG_RSA_PSS_RSAE_SHA384,
        TLS_SIG_RSA_PSS_RSAE_SHA512,    TLS_SIG_RSA_PKCS1_SHA256,       TLS_SIG_RSA_PKCS1_SHA384,
        TLS_SIG_RSA_PKCS1_SHA512,       TLS_SIG_DSA_SHA256,             TLS_SIG_DSA_SHA384,
        TLS_SIG_DSA_SHA512,             TLS_SIG_ECDSA_SHA224,           TLS_SIG_RSA_PKCS1_SHA224,
        TLS_SIG_DSA_SHA224,             TLS_SIG_RSA_PKCS1_SHA1,         TLS_SIG_ECDSA_SHA1,
        TLS_SIG_DSA_SHA1,
    };
    cr_assert_eq(n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(s[i], want[i], "position %zu", i);
        cr_assert(s[i] < 0xff00 && s[i] != TLS_SIG_RSA_PKCS1_MD5, "no pseudo-scheme or MD5 on the wire");
    }
    cr_assert_eq(tls_sig_schemes(NULL), s);
}

Test(sig, choose_by_version_and_peer)
{
    EVP_PKEY *rsa = gen("RSA", "2048");
    EVP_PKEY *p256 = gen("EC", "P-256");
    EVP_PKEY *p384 = gen("EC", "P-384");
    EVP_PKEY *ed = gen("ED25519", NULL);

    /* before TLS 1.2: the legacy pseudo-schemes, whatever the peer says */
    const uint16_t legacy_versions[] = {TLS_SSL3, TLS_TLS10, TLS_TLS11};
    const uint16_t any[] = {TLS_SIG_RSA_PKCS1_SHA256};
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(tls_sig_choose(rsa, legacy_versions[i], NULL, 0), TLS_SIG_LEGACY_RSA_MD5SHA1);
        cr_assert_eq(tls_sig_choose(rsa, legacy_versions[i], any, 1), TLS_SIG_LEGACY_RSA_MD5SHA1);
        cr_assert_eq(tls_sig_choose(p256, legacy_versions[i], NULL, 0), TLS_SIG_LEGACY_ECDSA_SHA1);
        cr_assert_eq(tls_sig_choose(ed, legacy_versions[i], NULL, 0), 0);
    }
    /* TLS 1.2 without signature_algorithms: RFC 5246 7.4.1.4.1 SHA1 defaults */
    cr_assert_eq(tls_sig_choose(rsa, TLS_TLS12, NULL, 0), TLS_SIG_RSA_PKCS1_SHA1);
    cr_assert_eq(tls_sig_choose(p384, TLS_TLS12, NULL, 0), TLS_SIG_ECDSA_SHA1);
    /* TLS 1.2: our preference among what the peer offered */
    const uint16_t p1[] = {TLS_SIG_RSA_PKCS1_SHA256, TLS_SIG_RSA_PSS_RSAE_SHA384, TLS_SIG_RSA_PSS_RSAE_SHA256};
    cr_assert_eq(tls_sig_choose(rsa, TLS_TLS12, p1, 3), TLS_SIG_RSA_PSS_RSAE_SHA256);
    const uint16_t p2[] = {TLS_SIG_ECDSA_SECP256R1_SHA256, TLS_SIG_RSA_PKCS1_SHA512, TLS_SIG_RSA_PKCS1_SHA1};
    cr_assert_eq(tls_sig_choose(rsa, TLS_TLS12, p2, 3), TLS_SIG_RSA_PKCS1_SHA512);
    const uint16_t p3[] = {TLS_SIG_ECDSA_SECP256R1_SHA256, TLS_SIG_ED25519};
    cr_assert_eq(tls_sig_choose(rsa, TLS_TLS12, p3, 2), 0);
    cr_assert(tls_sig_error()[0]);
    cr_assert_eq(tls_sig_choose(ed, TLS_TLS12, p3, 2), TLS_SIG_ED25519);
    /* unknown, unfit and never-offered values are ignored (DSA, MD5, garbage) */
    const uint16_t p4[] = {0x0302, TLS_SIG_RSA_PKCS1_MD5, 0xabcd, 0xff01};
    cr_assert_eq(tls_sig_choose(rsa, TLS_TLS12, p4, 4), 0);
    /* TLS 1.2: any ECDSA hash with any curve, our order */
    const uint16_t p5[] = {TLS_SIG_ECDSA_SECP384R1_SHA384, TLS_SIG_ECDSA_SECP256R1_SHA256};
    cr_assert_eq(tls_sig_choose(p384, TLS_TLS12, p5, 2), TLS_SIG_ECDSA_SECP256R1_SHA256);
    /* TLS 1.3: the curve binds the scheme; no PKCS#1 v1.5, no SHA1, list required */
    cr_assert_eq(tls_sig_choose(p384, TLS_TLS13, p5, 2), TLS_SIG_ECDSA_SECP384R1_SHA384);
    cr_assert_eq(tls_sig_choose(p256, TLS_TLS13, p5, 2), TLS_SIG_ECDSA_SECP256R1_SHA256);
    const uint16_t p6[] = {TLS_SIG_ECDSA_SECP384R1_SHA384, TLS_SIG_ECDSA_SHA1};
    cr_assert_eq(tls_sig_choose(p256, TLS_TLS13, p6, 2), 0);
    cr_assert_eq(tls_sig_choose(p256, TLS_TLS12, p6, 2), TLS_SIG_ECDSA_SECP384R1_SHA384);
    cr_assert_eq(tls_sig_choose(rsa, TLS_TLS13, p2, 3), 0);
    cr_assert_eq(tls_sig_choose(rsa, TLS_TLS13, p1, 3), TLS_SIG_RSA_PSS_RSAE_SHA256);
    cr_assert_eq(tls_sig_choose(rsa, TLS_TLS13, NULL, 0), 0);
    cr_assert_eq(tls_sig_choose(NULL, TLS_TLS12, p1, 3), 0);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(p256);
    EVP_PKEY_free(p384);
    EVP_PKEY_free(ed);
}

Test(sig, accept_peer_scheme)
{
    EVP_PKEY *rsa = gen("RSA", "2048");
    EVP_PKEY *p256 = gen("EC", "P-256");
    cr_assert(tls_sig_accept(TLS_SIG_RSA_PKCS1_SHA256, rsa, TLS_TLS12));
    cr_assert(tls_sig_accept(TLS_SIG_RSA_PKCS1_SHA1, rsa, TLS_TLS12));
    cr_assert_not(tls_sig_accept(TLS_SIG_RSA_PKCS1_MD5, rsa, TLS_TLS12), "recognised, never accepted");
    cr_assert_not(tls_sig_accept(TLS_SIG_LEGACY_RSA_MD5SHA1, rsa, TLS_TLS12));
    cr_assert_not(tls_sig_accept(TLS_SIG_ECDSA_SECP256R1_SHA256, rsa, TLS_TLS12));
    cr_assert(tls_sig_accept(TLS_SIG_LEGACY_RSA_MD5SHA1, rsa, TLS_TLS10));
    cr_assert_not(tls_sig_accept(TLS_SIG_RSA_PKCS1_SHA256, rsa, TLS_TLS11));
    cr_assert_not(tls_sig_accept(TLS_SIG_LEGACY_ECDSA_SHA1, rsa, TLS_SSL3));
    cr_assert(tls_sig_accept(TLS_SIG_LEGACY_ECDSA_SHA1, p256, TLS_SSL3));
    cr_assert(tls_sig_accept(TLS_SIG_ECDSA_SECP384R1_SHA384, p256, TLS_TLS12));
    cr_assert_not(tls_sig_accept(TLS_SIG_ECDSA_SECP384R1_SHA384, p256, TLS_TLS13));
    cr_assert(tls_sig_accept(TLS_SIG_ECDSA_SECP256R1_SHA256, p256, TLS_TLS13));
    cr_assert_not(tls_sig_accept(TLS_SIG_RSA_PKCS1_SHA256, rsa, TLS_TLS13));
    cr_assert(tls_sig_accept(TLS_SIG_RSA_PSS_RSAE_SHA256, rsa, TLS_TLS13));
    cr_assert_not(tls_sig_accept(TLS_SIG_RSA_PSS_RSAE_SHA256, NULL, TLS_TLS12));
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(p256);
}

/* SSL 3.0 CertificateVerify: RSA signs the 36 bytes with PKCS#1 type 1 and
 * no DigestInfo, which is exactly the legacy TLS 1.0 signature of data whose
 * MD5||SHA1 those bytes are. */
Test(sig, prehashed_rsa)
{
    EVP_PKEY *k = gen("RSA", "2048");
    uint8_t h[36], sig[256], sig2[256], rec[256];
    size_t n = 0, n2 = 0;
    cr_assert(EVP_Digest(msg, sizeof msg, h, NULL, EVP_md5(), NULL));
    cr_assert(EVP_Digest(msg, sizeof msg, h + 16, NULL, EVP_sha1(), NULL));
    cr_assert(tls_sig_sign_prehashed(k, h, sig, sizeof sig, &n), "%s", tls_sig_error());
    cr_assert_eq(n, 256);
    cr_assert_eq(rsa_recover(k, sig, n, rec, sizeof rec), 36);
    cr_assert_arr_eq(rec, h, 36);
    cr_assert(tls_sig_sign(k, TLS_SIG_LEGACY_RSA_MD5SHA1, msg, sizeof msg, sig2, sizeof sig2, &n2));
    cr_assert_eq(n2, n);
    cr_assert_arr_eq(sig, sig2, n);
    cr_assert(tls_sig_verify_prehashed(k, h, sig, n));
    cr_assert(tls_sig_verify(k, TLS_SIG_LEGACY_RSA_MD5SHA1, msg, sizeof msg, sig, n));
    h[0] ^= 1; /* RSA covers the MD5 half too */
    cr_assert_not(tls_sig_verify_prehashed(k, h, sig, n));
    h[0] ^= 1;
    cr_assert_not(tls_sig_verify_prehashed(k, h, sig, n - 1));
    cr_assert_not(tls_sig_verify_prehashed(k, h, NULL, 0));
    sig[10] ^= 1;
    cr_assert_not(tls_sig_verify_prehashed(k, h, sig, n));
    cr_assert_not(tls_sig_sign_prehashed(k, h, sig, 100, &n), "buffer too small");
    cr_assert_not(tls_sig_sign_prehashed(NULL, h, sig, sizeof sig, &n));
    cr_assert_not(tls_sig_verify_prehashed(NULL, h, sig, 256));
    cr_assert_eq(ERR_peek_error(), 0);
    EVP_PKEY_free(k);
}

Test(sig, prehashed_ecdsa)
{
    EVP_PKEY *k = gen("EC", "P-256");
    uint8_t h[36], sig[128];
    size_t n = 0;
    cr_assert(EVP_Digest(msg, sizeof msg, h, NULL, EVP_md5(), NULL));
    cr_assert(EVP_Digest(msg, sizeof msg, h + 16, NULL, EVP_sha1(), NULL));
    cr_assert(tls_sig_sign_prehashed(k, h, sig, sizeof sig, &n), "%s", tls_sig_error());
    cr_assert(tls_sig_verify_prehashed(k, h, sig, n));
    /* ECDSA over SHA1(data): the same as the ECDSA-SHA1 scheme */
    cr_assert(tls_sig_verify(k, TLS_SIG_ECDSA_SHA1, msg, sizeof msg, sig, n));
    cr_assert(tls_sig_verify(k, TLS_SIG_LEGACY_ECDSA_SHA1, msg, sizeof msg, sig, n));
    h[5] ^= 1;
    cr_assert(tls_sig_verify_prehashed(k, h, sig, n), "the MD5 half is not signed");
    h[20] ^= 1;
    cr_assert_not(tls_sig_verify_prehashed(k, h, sig, n));
    h[20] ^= 1;
    cr_assert_not(tls_sig_verify_prehashed(k, h, sig, n - 1));
    cr_assert_not(tls_sig_verify_prehashed(k, h, sig, 0));
    cr_assert_not(tls_sig_sign_prehashed(k, h, sig, 10, &n));
    cr_assert_eq(ERR_peek_error(), 0);
    EVP_PKEY_free(k);
}

/* Issue 6 cause 10: SHA-224 schemes (RFC 5246 7.4.1.4.1 hash 3) for every
 * key type, and DSA with SHA-384 / SHA-512. */
Test(sig, sha224_and_dsa_sha2_schemes)
{
    EVP_PKEY *rsa = gen("RSA", "2048"), *ec = gen("EC", "P-256"), *dsa = gen("DSA", NULL);
    const struct {
        EVP_PKEY *key;
        uint16_t scheme;
    } v[] = {{rsa, TLS_SIG_RSA_PKCS1_SHA224}, {ec, TLS_SIG_ECDSA_SHA224}, {dsa, TLS_SIG_DSA_SHA224},
             {dsa, TLS_SIG_DSA_SHA384},       {dsa, TLS_SIG_DSA_SHA512}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t sig[512];
        size_t n = sign_and_check(v[i].key, v[i].scheme, sig, sizeof sig);
        cr_assert_gt(n, 0);
        /* a client offering only this scheme gets it, in TLS 1.2 only */
        cr_assert_eq(tls_sig_choose_at(v[i].key, TLS_TLS12, 0, &v[i].scheme, 1), v[i].scheme, "0x%04x",
                     v[i].scheme);
        cr_assert_eq(tls_sig_choose_at(v[i].key, TLS_TLS13, 0, &v[i].scheme, 1), 0);
        cr_assert(tls_sig_accept_at(v[i].scheme, v[i].key, TLS_TLS12, 0));
        cr_assert_not(tls_sig_accept_at(v[i].scheme, v[i].key, TLS_TLS13, 0));
    }
    /* RSA PKCS#1 SHA-224 carries the SHA-224 DigestInfo (RFC 8017 9.2 note 1) */
    uint8_t sig[256], em[256];
    size_t n = sign_and_check(rsa, TLS_SIG_RSA_PKCS1_SHA224, sig, sizeof sig);
    size_t m = rsa_recover(rsa, sig, n, em, sizeof em);
    static const uint8_t sha224_prefix[] = {0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                            0x65, 0x03, 0x04, 0x02, 0x04, 0x05, 0x00, 0x04, 0x1c};
    cr_assert_eq(m, sizeof sha224_prefix + 28);
    cr_assert_arr_eq(em, sha224_prefix, sizeof sha224_prefix);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(dsa);
}

/* Security levels as OpenSSL 3 rates handshake signatures: SHA-1 (64
 * bits) needs level 0, SHA-224 (112) level <= 2, SHA-256 (128) <= 3,
 * SHA-384 (192) <= 4, SHA-512 and Ed25519 as their bits say. */
Test(sig, security_level_filters_schemes)
{
    static const struct {
        uint16_t scheme;
        int max_level;
    } v[] = {
        {TLS_SIG_RSA_PKCS1_SHA1, 0},       {TLS_SIG_ECDSA_SHA1, 0},         {TLS_SIG_DSA_SHA1, 0},
        {TLS_SIG_RSA_PKCS1_SHA224, 2},     {TLS_SIG_ECDSA_SHA224, 2},       {TLS_SIG_RSA_PKCS1_SHA256, 3},
        {TLS_SIG_RSA_PSS_RSAE_SHA256, 3},  {TLS_SIG_ED25519, 3},            {TLS_SIG_RSA_PKCS1_SHA384, 4},
        {TLS_SIG_ECDSA_SECP521R1_SHA512, 5},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        for (int l = 0; l <= 5; l++)
            cr_expect_eq(tls_sig_allowed(v[i].scheme, l), l <= v[i].max_level, "0x%04x at level %d",
                         v[i].scheme, l);
    cr_expect_not(tls_sig_allowed(TLS_SIG_RSA_PKCS1_MD5, 0), "MD5 never: not offered");
    cr_expect_not(tls_sig_allowed(0xabcd, 0));

    /* the offered list shrinks with the level, keeping its order */
    size_t all = 0;
    const uint16_t *full = tls_sig_schemes(&all);
    uint16_t l0[32], l2[32];
    cr_assert_eq(tls_sig_schemes_at(0, l0, 32), all);
    cr_assert_arr_eq(l0, full, all * sizeof *full);
    size_t n2 = tls_sig_schemes_at(2, l2, 32);
    cr_assert_eq(n2, all - 3, "the three SHA-1 schemes go");
    for (size_t i = 0; i < n2; i++)
        cr_expect(tls_sig_allowed(l2[i], 2));
    cr_expect_eq(tls_sig_schemes_at(3, NULL, 0), n2 - 3, "then the three SHA-224 ones");
    cr_expect_eq(tls_sig_schemes_at(2, l2, 1), n2, "the count whatever cap is");

    /* a client offering only SHA-1 / SHA-224 gets them where the level allows */
    EVP_PKEY *rsa = gen("RSA", "2048");
    const uint16_t only_sha1[] = {TLS_SIG_RSA_PKCS1_SHA1};
    const uint16_t only_sha224[] = {TLS_SIG_RSA_PKCS1_SHA224, TLS_SIG_RSA_PKCS1_SHA1};
    cr_expect_eq(tls_sig_choose_at(rsa, TLS_TLS12, 0, only_sha1, 1), TLS_SIG_RSA_PKCS1_SHA1);
    cr_expect_eq(tls_sig_choose_at(rsa, TLS_TLS12, 1, only_sha1, 1), 0);
    cr_expect(strstr(tls_sig_error(), "no signature scheme"), "%s", tls_sig_error());
    cr_expect_eq(tls_sig_choose_at(rsa, TLS_TLS12, 2, only_sha224, 2), TLS_SIG_RSA_PKCS1_SHA224);
    cr_expect_eq(tls_sig_choose_at(rsa, TLS_TLS12, 3, only_sha224, 2), 0);
    /* no signature_algorithms: RFC 5246's SHA-1 default, level 0 only */
    cr_expect_eq(tls_sig_choose_at(rsa, TLS_TLS12, 0, NULL, 0), TLS_SIG_RSA_PKCS1_SHA1);
    cr_expect_eq(tls_sig_choose_at(rsa, TLS_TLS12, 2, NULL, 0), 0);
    cr_expect(strstr(tls_sig_error(), "security level 0"), "%s", tls_sig_error());
    /* the versions before TLS 1.2 keep their pseudo-schemes (not rated) */
    cr_expect_eq(tls_sig_choose_at(rsa, TLS_TLS10, 2, NULL, 0), TLS_SIG_LEGACY_RSA_MD5SHA1);
    /* a peer's signature: refused when the level does not allow its scheme */
    cr_expect(tls_sig_accept_at(TLS_SIG_RSA_PKCS1_SHA1, rsa, TLS_TLS12, 0));
    cr_expect_not(tls_sig_accept_at(TLS_SIG_RSA_PKCS1_SHA1, rsa, TLS_TLS12, 1));
    cr_expect(tls_sig_accept_at(TLS_SIG_RSA_PKCS1_SHA256, rsa, TLS_TLS12, 3));
    cr_expect_not(tls_sig_accept_at(TLS_SIG_RSA_PKCS1_SHA256, rsa, TLS_TLS12, 4));
    cr_expect(tls_sig_accept_at(TLS_SIG_LEGACY_RSA_MD5SHA1, rsa, TLS_TLS10, 2));
    EVP_PKEY_free(rsa);
}
