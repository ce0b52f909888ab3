/* The cipher-suite table: one row a suite, and the per-cipher/per-MAC facts
 * the record layer and key schedule need. Algorithms are fetched from
 * libcrypto once per process (tls_algs_*), never per connection. */
#ifndef TLS_SUITES_H
#define TLS_SUITES_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>

#include "tlsengine.h"

typedef enum {
    TLS_KX_RSA,          /* RSA key transport */
    TLS_KX_DHE_RSA,
    TLS_KX_DHE_DSS,
    TLS_KX_ECDHE_RSA,
    TLS_KX_ECDHE_ECDSA,
    TLS_KX_TLS13,        /* TLS 1.3 suites: kx/auth negotiated separately */
} tls_kx;

typedef enum {
    TLS_CIPHER_RC4_128,
    TLS_CIPHER_DES_CBC,
    TLS_CIPHER_3DES_EDE_CBC,
    TLS_CIPHER_AES_128_CBC,
    TLS_CIPHER_AES_256_CBC,
    TLS_CIPHER_AES_128_GCM,
    TLS_CIPHER_AES_256_GCM,
    TLS_CIPHER_CHACHA20_POLY1305,
    TLS_CIPHER_COUNT
} tls_cipher_id;

typedef enum { TLS_CIPHER_STREAM, TLS_CIPHER_CBC, TLS_CIPHER_AEAD } tls_cipher_kind;

typedef enum {
    TLS_MAC_MD5,
    TLS_MAC_SHA1,
    TLS_MAC_SHA256,
    TLS_MAC_SHA384,
    TLS_MAC_AEAD, /* no separate MAC */
} tls_mac_id;

/* hashes used by PRFs, transcripts and signatures */
typedef enum {
    TLS_HASH_MD5,
    TLS_HASH_SHA1,
    TLS_HASH_SHA224,
    TLS_HASH_SHA256,
    TLS_HASH_SHA384,
    TLS_HASH_SHA512,
    TLS_HASH_COUNT
} tls_hash_id;

typedef struct tls_cipher_desc {
    tls_cipher_id id;
    tls_cipher_kind kind;
    uint8_t key_len;
    uint8_t iv_len;       /* CBC: block size; AEAD: fixed (implicit) IV part: GCM 4, ChaCha 12 */
    uint8_t explicit_iv;  /* AEAD: bytes of nonce sent per record (GCM 8, ChaCha 0) */
    uint8_t block_len;    /* CBC block size, 1 for stream/AEAD */
    uint8_t tag_len;      /* AEAD tag, else 0 */
    const char *evp_name; /* libcrypto name for EVP_CIPHER_fetch */
} tls_cipher_desc;

typedef struct tls_suite {
    tls_suite_info info;      /* id and names, shared with the public API */
    tls_kx kx;
    tls_cipher_id cipher;
    tls_mac_id mac;
    tls_hash_id prf_hash;     /* TLS 1.2 PRF / 1.3 HKDF hash (SHA256 unless *_SHA384) */
    uint16_t min_version;     /* wire values */
    uint16_t max_version;
    bool legacy;              /* RC4, DES, 3DES, MD5, or plain RSA kx: only when named */
} tls_suite;

/* Protocol versions this build implements, and the default set (always
 * intersected with the available one). TLS 1.3 joins AVAILABLE when it exists. */
#ifndef TLS_AVAILABLE_VERSIONS /* -D override: lets the tests run both ways */
#define TLS_AVAILABLE_VERSIONS \
    (TLS_VMASK_SSL3 | TLS_VMASK_TLS10 | TLS_VMASK_TLS11 | TLS_VMASK_TLS12 | TLS_VMASK_TLS13)
#endif
#define TLS_DEFAULT_VERSIONS (TLS_VMASK_TLS12 | TLS_VMASK_TLS13)

/* versions.c: the TLS_VMASK_* bit of a wire version (0 if none), and the
 * highest / lowest wire version in a mask (0 if the mask is empty). */
unsigned tls_version_bit(uint16_t version);
uint16_t tls_vmask_highest(unsigned mask);
uint16_t tls_vmask_lowest(unsigned mask);

/* All suites, in default preference order (forward-secret AEAD first). */
const tls_suite *tls_suites_all(size_t *count);
const tls_suite *tls_suite_by_id(uint16_t id);
const tls_suite *tls_suite_from_info(const tls_suite_info *info);
const tls_cipher_desc *tls_cipher_desc_get(tls_cipher_id id);
size_t tls_mac_len(tls_mac_id mac); /* 16, 20, 32, 48, 0 */
tls_hash_id tls_mac_hash(tls_mac_id mac);
/* version within [min_version, max_version], the version available in this
 * build, and the cipher present in libcrypto (RC4/DES need the legacy provider). */
bool tls_suite_usable(const tls_suite *s, uint16_t version);
/* usable in at least one version of vmask */
bool tls_suite_usable_any(const tls_suite *s, unsigned vmask);

/* Parses the `ciphers` option: ':' or ',' separated OpenSSL names, IANA names,
 * or erlang triples "{rsa,aes_128_cbc,sha}"; also accepts hex ids "0x002f".
 * Fills ids (in the given order, no duplicates) and returns the count, or -1
 * with err naming the unknown entry. An empty/NULL list gives the defaults.
 * Keywords: ALL (every usable suite, legacy included), DEFAULT (the
 * defaults of TLS 1.2 and 1.3), "!X" removes X
 * for good (OpenSSL semantics), "@SECLEVEL=n" / "@STRENGTH" are ignored.
 * Known suites this build cannot use (TLS 1.3 ones before 1.3 exists, RC4/DES
 * without the legacy provider) are dropped; -1 if nothing usable remains. */
int tls_parse_ciphers(const char *list, uint16_t *ids, size_t max, tls_error *err);
/* The default list for a version mask, in table order: Mozilla's
 * "intermediate" profile (TLS 1.3 suites; ECDHE-ECDSA, ECDHE-RSA and DHE-RSA
 * with AES-GCM or ChaCha20-Poly1305), plus the forward-secret CBC suites of
 * SSL 3.0 .. TLS 1.1 when vmask enables one of those. Returns the full count;
 * fills up to max ids (ids may be NULL). */
size_t tls_default_ciphers(unsigned vmask, uint16_t *ids, size_t max);

/* Process-wide algorithm cache (fetched once, thread-safe init). */
bool tls_algs_init(void); /* also loads the default + legacy providers */
const EVP_CIPHER *tls_algs_cipher(tls_cipher_id id); /* NULL if unavailable (e.g. no legacy) */
const EVP_MD *tls_algs_md(tls_hash_id h);
const char *tls_hash_name(tls_hash_id h); /* "SHA256" */
size_t tls_hash_len(tls_hash_id h);

#endif
