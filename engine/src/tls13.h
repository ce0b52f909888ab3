/* TLS 1.3 (RFC 8446): the HKDF key schedule (section 7.1), traffic keys
 * (7.3), Finished (4.4.4), and record protection (5.2: AEAD with the IV xor
 * the sequence number, the record header as additional data, the real content
 * type inside). */
#ifndef TLS_TLS13_H
#define TLS_TLS13_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"
#include "suites.h"

#define TLS13_MAX_HASH 48

/* HKDF-Extract(salt, ikm) (RFC 5869 2.2); a NULL/empty salt is HashLen zeros. */
bool tls13_extract(tls_hash_id h, const uint8_t *salt, size_t salt_len, const uint8_t *ikm,
                   size_t ikm_len, uint8_t *out);
/* HKDF-Expand-Label(secret, "tls13 " + label, context, out_len). */
bool tls13_expand_label(tls_hash_id h, const uint8_t *secret, const char *label,
                        const uint8_t *context, size_t context_len, uint8_t *out, size_t out_len);
/* Derive-Secret(secret, label, messages): messages are hashed here. */
bool tls13_derive_secret(tls_hash_id h, const uint8_t *secret, const char *label,
                         const uint8_t *messages, size_t len, uint8_t *out);
/* Transcript-Hash of the given messages. */
bool tls13_hash(tls_hash_id h, const uint8_t *messages, size_t len, uint8_t *out);
/* Finished verify_data: HMAC(HKDF-Expand-Label(base, "finished", "", Hash.length),
 * Transcript-Hash(messages)). */
bool tls13_finished(tls_hash_id h, const uint8_t *base_key, const uint8_t *messages, size_t len,
                    uint8_t *out);
/* The next generation of an application traffic secret (KeyUpdate, 7.2). */
bool tls13_next_secret(tls_hash_id h, uint8_t *secret);

/* Record protection keyed from a traffic secret: key and IV per 7.3. */
bool tls13_rec_init(tls_rec_crypto *rc, const tls_suite *suite, bool encrypt, const uint8_t *secret);
/* Called by tls_rec_seal / tls_rec_open for TLS 1.3 states. */
bool tls13_rec_seal(tls_rec_crypto *rc, uint8_t type, const uint8_t *pt, size_t len, uint8_t *out,
                    size_t cap, size_t *out_len);
int tls13_rec_open(tls_rec_crypto *rc, uint8_t outer_type, uint8_t *frag, size_t len, uint8_t **pt,
                   size_t *pt_len);

#endif
