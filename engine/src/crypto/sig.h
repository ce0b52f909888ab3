/* Handshake signatures: ServerKeyExchange and CertificateVerify.
 * TLS 1.2: signature_algorithms (RFC 5246 7.4.1.4.1) plus RSA-PSS (RFC 8446
 * 4.2.3 codes) and Ed25519; before 1.2: RSA over MD5||SHA1 without DigestInfo,
 * DSA and ECDSA over SHA1. */
#ifndef TLS_SIG_H
#define TLS_SIG_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* SignatureScheme values (TLS 1.2 HashAlgorithm << 8 | SignatureAlgorithm). */
enum {
    TLS_SIG_RSA_PKCS1_MD5 = 0x0101, /* never offered; recognised */
    TLS_SIG_RSA_PKCS1_SHA1 = 0x0201,
    TLS_SIG_DSA_SHA1 = 0x0202,
    TLS_SIG_ECDSA_SHA1 = 0x0203,
    TLS_SIG_RSA_PKCS1_SHA224 = 0x0301,
    TLS_SIG_DSA_SHA224 = 0x0302,
    TLS_SIG_ECDSA_SHA224 = 0x0303,
    TLS_SIG_RSA_PKCS1_SHA256 = 0x0401,
    TLS_SIG_DSA_SHA256 = 0x0402,
    TLS_SIG_ECDSA_SECP256R1_SHA256 = 0x0403,
    TLS_SIG_RSA_PKCS1_SHA384 = 0x0501,
    TLS_SIG_DSA_SHA384 = 0x0502,
    TLS_SIG_ECDSA_SECP384R1_SHA384 = 0x0503,
    TLS_SIG_RSA_PKCS1_SHA512 = 0x0601,
    TLS_SIG_DSA_SHA512 = 0x0602,
    TLS_SIG_ECDSA_SECP521R1_SHA512 = 0x0603,
    TLS_SIG_RSA_PSS_RSAE_SHA256 = 0x0804,
    TLS_SIG_RSA_PSS_RSAE_SHA384 = 0x0805,
    TLS_SIG_RSA_PSS_RSAE_SHA512 = 0x0806,
    TLS_SIG_ED25519 = 0x0807,
    TLS_SIG_RSA_PSS_PSS_SHA256 = 0x0809,
    /* pseudo-schemes for versions before TLS 1.2 (not on the wire) */
    TLS_SIG_LEGACY_RSA_MD5SHA1 = 0xff01,
    TLS_SIG_LEGACY_DSA_SHA1 = 0xff02,
    TLS_SIG_LEGACY_ECDSA_SHA1 = 0xff03,
};

/* Security levels (tls_options.security_level, OpenSSL's meaning): a
 * scheme's strength is half its hash's bits, except that SHA-1 counts 64
 * and MD5 39 as in OpenSSL 3, so SHA-1 signatures need level 0, SHA-224
 * level 2 or below, SHA-256 level 3 or below.
 * TLS 1.2 and 1.3 schemes only: the pseudo-schemes of the versions before
 * TLS 1.2 are not rated. */
/* Whether we offer `scheme` (MD5 never) and `level` allows it. */
bool tls_sig_allowed(uint16_t scheme, int level);
/* The schemes we offer / accept in TLS 1.2 at `level`, best first: fills
 * up to cap into out and returns how many there are. */
size_t tls_sig_schemes_at(int level, uint16_t *out, size_t cap);
/* Every scheme we know how to offer, best first (level 0). */
const uint16_t *tls_sig_schemes(size_t *count);
/* Why the last sig call on this thread failed (for tls_err_set details). */
const char *tls_sig_error(void);
/* Whether a scheme the peer signed with is acceptable: one we offer that fits
 * the peer's key, allowed in `version` (TLS 1.3: no PKCS#1, SHA1 or DSA, and
 * ECDSA bound to its curve); before TLS 1.2 only the key's legacy scheme. */
bool tls_sig_accept(uint16_t scheme, EVP_PKEY *peer_key, uint16_t version);
/* The same, also refusing a scheme `level` does not allow. */
bool tls_sig_accept_at(uint16_t scheme, EVP_PKEY *peer_key, uint16_t version, int level);
/* Whether `scheme` can be made with / checked against `key`. */
bool tls_sig_scheme_fits_key(uint16_t scheme, EVP_PKEY *key);
/* Picks the best scheme for our key among the peer's list (TLS 1.2; if the
 * peer sent none, RFC 5246's default SHA1 with the key's algorithm), or the
 * legacy pseudo-scheme before 1.2. Returns 0 if none fits. */
uint16_t tls_sig_choose(EVP_PKEY *key, uint16_t version, const uint16_t *peer, size_t n_peer);
/* The same among the schemes `level` allows (TLS 1.2's SHA-1 default too:
 * at level >= 1 a peer that sent no signature_algorithms gets none). */
uint16_t tls_sig_choose_at(EVP_PKEY *key, uint16_t version, int level, const uint16_t *peer,
                           size_t n_peer);

/* Signs data (the whole to-be-signed bytes). Legacy pseudo-schemes work
 * too: TLS_SIG_LEGACY_RSA_MD5SHA1 hashes MD5||SHA1 and signs it raw. */
bool tls_sig_sign(EVP_PKEY *key, uint16_t scheme, const uint8_t *data, size_t len, uint8_t *sig,
                  size_t cap, size_t *sig_len);
bool tls_sig_verify(EVP_PKEY *pub, uint16_t scheme, const uint8_t *data, size_t len,
                    const uint8_t *sig, size_t sig_len);
/* SSL 3.0 CertificateVerify: sign / verify a precomputed 36-byte MD5||SHA1
 * (RSA, raw PKCS#1 type 1) or its SHA1 half (DSA, ECDSA). */
bool tls_sig_sign_prehashed(EVP_PKEY *key, const uint8_t hash36[36], uint8_t *sig, size_t cap,
                            size_t *sig_len);
bool tls_sig_verify_prehashed(EVP_PKEY *pub, const uint8_t hash36[36], const uint8_t *sig,
                              size_t sig_len);

#endif
