/* Process-wide algorithm cache: every cipher and digest is fetched from
 * libcrypto once, so no connection pays for a provider lookup. RC4 and
 * single DES live in OpenSSL 3's legacy provider, which is loaded into a
 * library context of our own: a program that links OpenSSL itself (curl,
 * python) keeps its default context exactly as it configured it. If the
 * legacy provider cannot be loaded those suites are simply unavailable
 * (tls_algs_cipher returns NULL). */
#include <openssl/provider.h>
#include <pthread.h>

#include "suites.h"

static const tls_cipher_desc cipher_descs[TLS_CIPHER_COUNT] = {
    [TLS_CIPHER_RC4_128] = {TLS_CIPHER_RC4_128, TLS_CIPHER_STREAM, 16, 0, 0, 1, 0, "RC4"},
    [TLS_CIPHER_DES_CBC] = {TLS_CIPHER_DES_CBC, TLS_CIPHER_CBC, 8, 8, 0, 8, 0, "DES-CBC"},
    [TLS_CIPHER_3DES_EDE_CBC] = {TLS_CIPHER_3DES_EDE_CBC, TLS_CIPHER_CBC, 24, 8, 0, 8, 0, "DES-EDE3-CBC"},
    [TLS_CIPHER_AES_128_CBC] = {TLS_CIPHER_AES_128_CBC, TLS_CIPHER_CBC, 16, 16, 0, 16, 0, "AES-128-CBC"},
    [TLS_CIPHER_AES_256_CBC] = {TLS_CIPHER_AES_256_CBC, TLS_CIPHER_CBC, 32, 16, 0, 16, 0, "AES-256-CBC"},
    [TLS_CIPHER_AES_128_GCM] = {TLS_CIPHER_AES_128_GCM, TLS_CIPHER_AEAD, 16, 4, 8, 1, 16, "AES-128-GCM"},
    [TLS_CIPHER_AES_256_GCM] = {TLS_CIPHER_AES_256_GCM, TLS_CIPHER_AEAD, 32, 4, 8, 1, 16, "AES-256-GCM"},
    [TLS_CIPHER_CHACHA20_POLY1305] = {TLS_CIPHER_CHACHA20_POLY1305, TLS_CIPHER_AEAD, 32, 12, 0, 1, 16,
                                      "ChaCha20-Poly1305"},
};

static const char *const hash_names[TLS_HASH_COUNT] = {
    [TLS_HASH_MD5] = "MD5",       [TLS_HASH_SHA1] = "SHA1",     [TLS_HASH_SHA224] = "SHA224",
    [TLS_HASH_SHA256] = "SHA256", [TLS_HASH_SHA384] = "SHA384", [TLS_HASH_SHA512] = "SHA512",
};
static const size_t hash_lens[TLS_HASH_COUNT] = {16, 20, 28, 32, 48, 64};

static EVP_CIPHER *ciphers[TLS_CIPHER_COUNT];
static EVP_MD *mds[TLS_HASH_COUNT];
static pthread_once_t algs_once = PTHREAD_ONCE_INIT;
static bool algs_ok;

static OSSL_LIB_CTX *legacy_ctx;

static void algs_load(void)
{
    legacy_ctx = OSSL_LIB_CTX_new();
    if (legacy_ctx && !OSSL_PROVIDER_load(legacy_ctx, "legacy")) { /* optional: RC4 and DES */
        OSSL_LIB_CTX_free(legacy_ctx);
        legacy_ctx = NULL;
    }
    for (int i = 0; i < TLS_CIPHER_COUNT; i++) {
        bool legacy = i == TLS_CIPHER_RC4_128 || i == TLS_CIPHER_DES_CBC;
        ciphers[i] = legacy ? (legacy_ctx ? EVP_CIPHER_fetch(legacy_ctx, cipher_descs[i].evp_name, NULL) : NULL)
                            : EVP_CIPHER_fetch(NULL, cipher_descs[i].evp_name, NULL);
    }
    for (int i = 0; i < TLS_HASH_COUNT; i++)
        mds[i] = EVP_MD_fetch(NULL, hash_names[i], NULL);
    algs_ok = ciphers[TLS_CIPHER_AES_128_GCM] && mds[TLS_HASH_SHA256] && mds[TLS_HASH_MD5] &&
              mds[TLS_HASH_SHA1];
}

bool tls_algs_init(void)
{
    pthread_once(&algs_once, algs_load);
    return algs_ok;
}

const EVP_CIPHER *tls_algs_cipher(tls_cipher_id id)
{
    if (!tls_algs_init() || (unsigned)id >= TLS_CIPHER_COUNT)
        return NULL;
    return ciphers[id];
}

const EVP_MD *tls_algs_md(tls_hash_id h)
{
    if (!tls_algs_init() || (unsigned)h >= TLS_HASH_COUNT)
        return NULL;
    return mds[h];
}

const char *tls_hash_name(tls_hash_id h)
{
    return (unsigned)h < TLS_HASH_COUNT ? hash_names[h] : "?";
}

size_t tls_hash_len(tls_hash_id h)
{
    return (unsigned)h < TLS_HASH_COUNT ? hash_lens[h] : 0;
}

const tls_cipher_desc *tls_cipher_desc_get(tls_cipher_id id)
{
    return (unsigned)id < TLS_CIPHER_COUNT ? &cipher_descs[id] : NULL;
}

size_t tls_mac_len(tls_mac_id mac)
{
    switch (mac) {
    case TLS_MAC_MD5: return 16;
    case TLS_MAC_SHA1: return 20;
    case TLS_MAC_SHA256: return 32;
    case TLS_MAC_SHA384: return 48;
    default: return 0;
    }
}

tls_hash_id tls_mac_hash(tls_mac_id mac)
{
    switch (mac) {
    case TLS_MAC_MD5: return TLS_HASH_MD5;
    case TLS_MAC_SHA1: return TLS_HASH_SHA1;
    case TLS_MAC_SHA384: return TLS_HASH_SHA384;
    default: return TLS_HASH_SHA256;
    }
}
