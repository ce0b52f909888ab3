/* TLS 1.3 (RFC 8446): the HKDF key schedule (section 7.1) and Finished
 * (4.4.4). Record protection keyed from these secrets is core/record13.c. */
#ifndef TLS_KEYSCHED13_H
#define TLS_KEYSCHED13_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

#endif
