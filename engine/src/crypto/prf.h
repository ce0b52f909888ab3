/* Key schedules: the SSL 3.0 construction, the TLS 1.0/1.1 PRF (MD5 xor SHA1),
 * the TLS 1.2 PRF (P_SHA256 / P_SHA384), master secret (plain and RFC 7627
 * extended), key block, Finished verify_data, the SSL 3.0 CertificateVerify
 * hashes. The handshake keeps the whole transcript, so these take it as bytes. */
#ifndef TLS_PRF_H
#define TLS_PRF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "suites.h"

/* PRF(secret, label, seed1 + seed2) for `version`:
 *  SSL3: the label is ignored (ssl3_prf construction over seed1+seed2),
 *        at most 416 bytes ('A'..'Z');
 *  TLS 1.0/1.1: P_MD5 xor P_SHA1 (prf_hash ignored); TLS 1.2: P_<prf_hash>
 *        (SHA224/256/384/512; MD5 and SHA1 are refused).
 * All functions here are thread-safe and return false (never abort) on an
 * unknown version (TLS 1.3 included: it uses HKDF), a NULL buffer with a
 * non-zero length, or a libcrypto failure; outputs are wiped on failure. */
bool tls_prf(uint16_t version, tls_hash_id prf_hash, const uint8_t *secret, size_t secret_len,
             const char *label, const uint8_t *seed1, size_t seed1_len, const uint8_t *seed2,
             size_t seed2_len, uint8_t *out, size_t out_len);

/* master_secret (48 bytes). If session_hash is non-NULL, RFC 7627's extended
 * master secret ("extended master secret" label over the session hash; the
 * randoms are then unused and may be NULL). EMS is not defined for SSL 3.0:
 * false. */
bool tls_master_secret(uint16_t version, tls_hash_id prf_hash, const uint8_t *pms, size_t pms_len,
                       const uint8_t client_random[32], const uint8_t server_random[32],
                       const uint8_t *session_hash, size_t session_hash_len, uint8_t ms[48]);

/* key_block: seed = server_random + client_random (all versions). */
bool tls_key_block(uint16_t version, tls_hash_id prf_hash, const uint8_t ms[48],
                   const uint8_t client_random[32], const uint8_t server_random[32], uint8_t *out,
                   size_t out_len);

/* The transcript hash as used for EMS session_hash and TLS Finished:
 * MD5(t) || SHA1(t) (36 bytes) before TLS 1.2, <prf_hash>(t) in TLS 1.2
 * (and 1.3). out must hold EVP_MAX_MD_SIZE (64) bytes; *out_len gets the length. */
bool tls_transcript_hash(uint16_t version, tls_hash_id prf_hash, const uint8_t *transcript,
                         size_t len, uint8_t *out, size_t *out_len);

/* Finished verify_data over the transcript (messages before this Finished).
 * from_client: the Finished the client sends (or the server checks).
 * SSL3: 36 bytes (MD5 + SHA1 with the sender 'CLNT'/'SRVR' and pads);
 * TLS: 12 bytes PRF(ms, "client finished"/"server finished", hash).
 * out must hold 36 bytes; *out_len is 0 on failure. */
bool tls_finished(uint16_t version, tls_hash_id prf_hash, const uint8_t ms[48], bool from_client,
                  const uint8_t *transcript, size_t len, uint8_t *out, size_t *out_len);

/* SSL 3.0 CertificateVerify: MD5(ms + pad2 + MD5(t + ms + pad1)) ||
 * SHA1(ms + pad2 + SHA1(t + ms + pad1)), 36 bytes. */
bool tls_ssl3_cert_verify_hash(const uint8_t ms[48], const uint8_t *transcript, size_t len,
                               uint8_t out[36]);

/* NSS key log line "CLIENT_RANDOM <hex cr> <hex ms>" (no newline) into buf
 * (>= 14+64+1+96+1 = 176 bytes; a smaller buf gets "", never a cut secret).
 * The line holds the master secret: the caller wipes it. */
void tls_keylog_line(const uint8_t client_random[32], const uint8_t ms[48], char *buf, size_t len);

/* HMAC-<h>(key, d1 || d2) into out (tls_hash_len(h) bytes); for TLS 1.3's HKDF. */
bool tls_hmac(tls_hash_id h, const uint8_t *key, size_t key_len, const uint8_t *d1, size_t l1,
              const uint8_t *d2, size_t l2, uint8_t *out);

#endif
