/* Key exchange primitives: RSA key transport (client encrypt; server decrypt
 * that never reveals a padding failure: libcrypto's implicit-rejection TLS
 * padding mode), finite-field DHE, and key shares in every named group of
 * groups.h (X25519, X448, P-256, P-384, P-521, ffdhe2048..ffdhe8192). */
#ifndef TLS_KEX_H
#define TLS_KEX_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "groups.h"

/* Why the last kex call on this thread failed (for tls_err_set details);
 * "" after a success. */
const char *tls_kex_error(void);

/* A key share: a fresh key for `group`, its public value written into pub
 * (cap >= the group's pub_len, at most TLS_GROUP_MAX_SHARE): uncompressed
 * points for NIST curves, raw bytes for X25519/X448, and for the FFDHE
 * groups Y left-padded to the length of p (RFC 8446 4.2.8.1). Serves TLS 1.3
 * shares and TLS 1.2 ECDHE. */
EVP_PKEY *tls_ecdhe_keygen(uint16_t group, uint8_t *pub, size_t cap, size_t *pub_len);
/* The shared secret with a peer's public value; false if the value is
 * invalid (wrong length, compressed, infinity, not on the curve, an X25519 /
 * X448 low-order point giving an all-zero secret, a DH value outside
 * 1 < y < p-1). FFDHE secrets keep their leading zeros (RFC 8446 7.4.1). */
bool tls_ecdhe_derive(EVP_PKEY *priv, uint16_t group, const uint8_t *peer, size_t peer_len,
                      uint8_t *secret, size_t cap, size_t *secret_len);

/* TLS 1.2 DHE: a fresh key in the named FFDHE `group` (tls_dhe_group_choose),
 * or when group is 0 on params, a DH EVP_PKEY holding p and g (dh/dhfile),
 * else the RFC 7919 ffdhe2048 default. p, g and Ys are written big-endian,
 * without leading zeros, into the given buffers (cap each >= 1024). */
EVP_PKEY *tls_dhe_keygen_group(uint16_t group, EVP_PKEY *params, uint8_t *p, size_t *p_len, uint8_t *g,
                               size_t *g_len, uint8_t *pub, size_t *pub_len, size_t cap);
/* The same with group 0. */
EVP_PKEY *tls_dhe_keygen(EVP_PKEY *params, uint8_t *p, size_t *p_len, uint8_t *g, size_t *g_len,
                         uint8_t *pub, size_t *pub_len, size_t cap);
/* Client side: a key on the server's (p, g); rejects p < 1024 bits, g/Ys out of range. */
EVP_PKEY *tls_dhe_keygen_from(const uint8_t *p, size_t p_len, const uint8_t *g, size_t g_len,
                              uint8_t *pub, size_t cap, size_t *pub_len);
/* Client side: whether the server's prime is strong enough for security
 * level `level` (2048 bits at level 2, 3072 at 3; see tls_dh_security_bits);
 * false with the reason in tls_kex_error. */
bool tls_dhe_prime_allowed(const uint8_t *p, size_t p_len, int level);
/* Shared secret with leading zero bytes stripped (RFC 5246 8.1.2). */
bool tls_dhe_derive(EVP_PKEY *priv, const uint8_t *peer_pub, size_t peer_len, uint8_t *secret,
                    size_t cap, size_t *secret_len);
/* Loads DH params from DER (or PEM when is_pem): PKCS#3 "DH PARAMETERS" or
 * X9.42; NULL on failure or when p < 1024 bits. */
EVP_PKEY *tls_dh_params_load(const uint8_t *data, size_t len, bool is_pem);

/* RSA key transport. pms: 48 bytes, first two = client_version. */
bool tls_rsa_encrypt_pms(EVP_PKEY *server_pub, const uint8_t pms[48], uint8_t *out, size_t cap,
                         size_t *out_len);
/* Always produces 48 bytes in pms: the real premaster secret, or a random one
 * if decryption, padding, length or version check fails (RFC 5246 7.4.7.1),
 * in constant time. client_version: the version the ClientHello offered.
 * Returns false only when the random generator fails, which does not depend
 * on the ciphertext: the caller must then abort with internal_error. The
 * return value says nothing about the ciphertext: never alert on it. */
bool tls_rsa_decrypt_pms(EVP_PKEY *server_key, uint16_t client_version, const uint8_t *in,
                         size_t len, uint8_t pms[48]);
/* As above, also accepting `negotiated_version` in the premaster secret, but
 * only when client_version <= TLS 1.0 (RFC 5246 7.4.7.1 allows this for old
 * clients that put the negotiated version there); 0 = never. */
bool tls_rsa_decrypt_pms_alt(EVP_PKEY *server_key, uint16_t client_version,
                             uint16_t negotiated_version, const uint8_t *in, size_t len,
                             uint8_t pms[48]);

#endif
