/* Record protection, one direction: NULL (before ChangeCipherSpec), stream
 * (RC4), CBC (SSL 3.0 MAC or TLS HMAC, MAC-then-encrypt or RFC 7366
 * encrypt-then-MAC; implicit IV chaining for SSL 3.0/TLS 1.0, explicit IV from
 * TLS 1.1), AEAD (AES-GCM: 4-byte fixed IV + 8-byte explicit nonce; ChaCha20-
 * Poly1305: RFC 7905 12-byte IV xor sequence number).
 *
 * Contexts are made once per connection direction (tls_rec_init), never per
 * record. CBC padding and MAC are checked in constant time (Lucky 13). */
#ifndef TLS_RECORD_H
#define TLS_RECORD_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "suites.h"

#define TLS_RECORD_HEADER 5
#define TLS_MAX_PLAINTEXT 16384
/* RFC 5246 6.2.3: ciphertext fragment at most 2^14 + 2048 */
#define TLS_MAX_CIPHERTEXT (16384 + 2048)
#define TLS_CT_APPLICATION_DATA13 23 /* TLS 1.3's outer content type */

typedef struct tls_rec_crypto {
    const tls_suite *suite;      /* NULL: no protection (null cipher) */
    const tls_cipher_desc *cd;
    uint16_t version;            /* negotiated version: MAC input and record rules */
    bool encrypt;                /* this direction seals (true) or opens */
    bool etm;                    /* RFC 7366 encrypt_then_mac (CBC only) */
    bool ssl3;                   /* SSL 3.0 MAC and padding rules */
    bool explicit_iv;            /* CBC with a per-record IV (TLS 1.1+) */
    EVP_CIPHER_CTX *ctx;         /* keyed once; CBC chaining (SSL3/TLS1.0) lives in it */
    const EVP_MD *md;            /* MAC hash */
    /* The MAC as two hash states precomputed over the key block: HMAC's
     * key^ipad / key^opad, or SSL 3.0's secret+pad_1 / secret+pad_2. Each
     * record copies them into mac_work, so the key is never re-hashed. */
    EVP_MD_CTX *mac_inner;
    EVP_MD_CTX *mac_outer;
    EVP_MD_CTX *mac_work;
    EVP_MD_CTX *mac_dummy;       /* absorbs the padding-dependent blocks (Lucky 13) */
    size_t mac_len;
    unsigned mac_block_shift;    /* log2 of the hash block size */
    size_t mac_prefix;           /* bytes hashed before the content: key block + header */
    uint8_t iv[16];              /* AEAD fixed IV (GCM 4 bytes, ChaCha20 12; TLS 1.3: 12) */
    uint64_t seq;
    uint8_t inner_type;          /* TLS 1.3: the content type found in the last opened record */
} tls_rec_crypto;

/* Keys come from the key block; iv may be NULL for TLS 1.1+ CBC and for
 * stream ciphers. rc must be zeroed or hold an earlier state, which is
 * cleared first. Returns false if libcrypto lacks the algorithm (e.g. no
 * legacy provider) or the suite cannot run at this version (AEAD or
 * SHA-256/384 MACs below TLS 1.2, SSL 3.0 with encrypt-then-MAC, TLS 1.3).
 * etm is ignored for non-CBC suites (RFC 7366 section 3). */
bool tls_rec_init(tls_rec_crypto *rc, const tls_suite *suite, uint16_t version, bool encrypt,
                  bool etm, const uint8_t *mac_key, const uint8_t *key, const uint8_t *iv);
/* Frees contexts and wipes keys; leaves a null-cipher state. */
void tls_rec_clear(tls_rec_crypto *rc);

/* Writes a record header (type, version, length), also the TLS 1.3 AAD. */
void tls_rec_write_header(uint8_t out[TLS_RECORD_HEADER], uint8_t type, uint16_t version, size_t len);

/* Bytes a sealed record adds to its plaintext at most (header excluded). */
size_t tls_rec_overhead(const tls_rec_crypto *rc);

/* Seals one record: writes the 5-byte header (type, wire_version, length) and
 * the protected fragment of pt[0..len) into out (cap bytes). len <= 2^14.
 * pt may point into out (at out + TLS_RECORD_HEADER + tls_rec_prefix_len())
 * for in-place sealing. Increments the sequence number. */
bool tls_rec_seal(tls_rec_crypto *rc, uint8_t type, uint16_t wire_version, const uint8_t *pt,
                  size_t len, uint8_t *out, size_t cap, size_t *out_len);
/* Bytes written between the header and the plaintext (explicit IV / nonce). */
size_t tls_rec_prefix_len(const tls_rec_crypto *rc);

/* The record MAC of content at the current sequence number (TLS HMAC,
 * RFC 5246 6.2.3.1, or SSL 3.0 MAC, RFC 6101 5.2.3.1; mac_len bytes into out),
 * and the bare construction over msg without the record header. For known-
 * answer tests; false for null and AEAD states. */
bool tls_rec_mac(tls_rec_crypto *rc, uint8_t type, const uint8_t *content, size_t len, uint8_t *out);
bool tls_rec_mac_raw(tls_rec_crypto *rc, const uint8_t *msg, size_t len, uint8_t *out);

/* Opens one record in place: frag[0..len) is the fragment after the header.
 * On success returns 0 and points *pt and *pt_len at the plaintext inside frag.
 * On failure returns the alert to send: TLS_ALERT_BAD_RECORD_MAC (any MAC,
 * padding or tag failure, and fragments too short to hold IV + MAC + padding,
 * indistinguishably), TLS_ALERT_RECORD_OVERFLOW (fragment above 2^14 + 2048,
 * or plaintext above 2^14), TLS_ALERT_INTERNAL_ERROR (libcrypto failed or the
 * sequence number would wrap). Increments the sequence number on success.
 * After a failure the state is unusable (the connection must end). */
int tls_rec_open(tls_rec_crypto *rc, uint8_t type, uint8_t *frag, size_t len, uint8_t **pt,
                 size_t *pt_len);

/* TLS 1.3 record protection (record13.c), keyed from a traffic secret: key
 * and IV per RFC 8446 7.3. tls_rec_seal / tls_rec_open call the other two
 * for TLS 1.3 states. */
bool tls13_rec_init(tls_rec_crypto *rc, const tls_suite *suite, bool encrypt, const uint8_t *secret);
bool tls13_rec_seal(tls_rec_crypto *rc, uint8_t type, const uint8_t *pt, size_t len, uint8_t *out,
                    size_t cap, size_t *out_len);
int tls13_rec_open(tls_rec_crypto *rc, uint8_t outer_type, uint8_t *frag, size_t len, uint8_t **pt,
                   size_t *pt_len);

#endif
