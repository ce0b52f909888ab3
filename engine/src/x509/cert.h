/* The x509 folder's one header. credentials.c loads certificates, keys, CA
 * stores and DH parameters from the Erlang/OTP ssl options (cert/certfile,
 * key/keyfile, password, cacerts/cacertfile, dh/dhfile) and holds them to the
 * security level; verify.c validates the peer's chain with libcrypto's X509
 * store, mapped onto the verify_fun events and bad_cert reasons, with host
 * name / IP checks. */
#ifndef TLS_CERT_H
#define TLS_CERT_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>

#include "tlsengine.h"

/* ---- credentials.c ------------------------------------------------------ */

typedef struct tls_cred {
    STACK_OF(X509) *chain; /* leaf first; NULL if no certificate configured */
    EVP_PKEY *key;         /* matches chain[0] */
    uint8_t **der;         /* DER of each chain certificate, for the Certificate message */
    size_t *der_len;
    size_t n;
} tls_cred;

/* Loads our certificate chain and private key. cert (DER) overrides certfile
 * (PEM: leaf then chain; a DER file holds just the leaf);
 * key (DER) overrides keyfile, which defaults to certfile. A configured
 * certificate without a usable key, a key that does not match, a wrong or
 * missing password, a key or signature too weak for o->security_level:
 * TLS_E_CONFIG with the file named. Neither configured: ok, empty cred. */
int tls_cred_load(const tls_options *o, tls_cred *cred, tls_error *err);
void tls_cred_free(tls_cred *cred);

/* Trusted CAs from cacerts (DER) or cacertfile (PEM bundle, or one DER
 * certificate). Neither, with verify_peer: OpenSSL's default paths (the
 * system store; SSL_CERT_FILE and SSL_CERT_DIR override them), as curl does.
 * Neither, with verify_none: an empty store. *n_loaded tells how many
 * certificates the store holds (a CA directory is read lazily: not counted).
 * The store carries o->security_level as libcrypto's auth level, which
 * tls_verify_chain applies to every chain verified against it. */
int tls_ca_load(const tls_options *o, X509_STORE **store, size_t *n_loaded, tls_error *err);

/* DH parameters from dh (DER) or dhfile (PEM, or DER); NULL params when
 * neither. PKCS#3 and X9.42 parameters; a group weaker than
 * o->security_level allows (level 2: 2048 bits; Logjam puts 1024-bit groups
 * within reach of precomputation) and parameters failing libcrypto's quick
 * check are TLS_E_CONFIG. */
int tls_dh_load(const tls_options *o, EVP_PKEY **params, tls_error *err);

/* Parses a DER certificate's public key (for signature / RSA checks); NULL
 * if the DER is not exactly one certificate. */
EVP_PKEY *tls_cert_pubkey(const uint8_t *der, size_t len);

/* ---- peer_certs.c ------------------------------------------------------- */

/* A certificate the peer sent, parsed (public key included): a new reference
 * to the same object as the last time these exact bytes were seen, else a
 * fresh parse that is kept for next time. NULL as tls_x509_from_der. */
X509 *tls_peer_x509(const uint8_t *der, size_t len);

/* One DER certificate that must fill exactly [p, p+len); NULL otherwise. */
X509 *tls_x509_from_der(const uint8_t *p, size_t len);

/* "CN=localhost" (RFC 2253 order), cut to fit buf. */
void tls_x509_subject(X509 *x, char *buf, size_t len);
/* The issuer name, likewise. */
void tls_x509_issuer(X509 *x, char *buf, size_t len);

/* Security levels as OpenSSL has them: level 1..5 ask keys and signatures for
 * 80, 112, 128, 192, 256 bits of security; level 0 asks nothing. Writes what
 * of x is too weak for `level` into buf ("is signed with SHA-1, refused at
 * security level 2", "has an RSA key of 1024 bits, refused at security level
 * 2 (at least 2048)") and returns true; false when x passes. check_sig: the
 * issuer's signature on x counts (not for a trust anchor or a self-signed
 * certificate). */
bool tls_x509_too_weak(X509 *x, int level, bool check_key, bool check_sig, char *buf, size_t len);

/* ---- verify.c ----------------------------------------------------------- */

typedef struct tls_verify_ctx {
    X509_STORE *store;         /* from tls_ca_load (carries the security level); NULL: trust nothing */
    int depth;                 /* the Erlang/OTP ssl depth, as OpenSSL's -verify_depth counts: how many
                                * intermediate CAs may stand between the peer and the trust anchor.
                                * 0: the peer is signed by a trusted CA; 1: peer <- CA <- trusted CA */
    tls_verify_type verify;
    tls_verify_fun fun;        /* NULL: the default for `verify` */
    void *fun_state;
    const char *hostname;      /* name to check (DNS, or an IP literal checked against IP SANs); NULL: none */
    bool peer_is_server;       /* check serverAuth vs clientAuth purpose */
} tls_verify_ctx;

/* Validates the peer's chain (DER certificates, leaf first), calling the
 * verify fun for each event: certificate by certificate from the trust
 * anchor (or the top of an untrusted chain) down to the peer, first the
 * certificate's unhandled critical extensions (TLS_EVENT_EXTENSION; a fun
 * answering unknown fails the chain), then its problems (TLS_EVENT_BAD_CERT),
 * at the peer the host name check (only with verify_peer and a hostname),
 * then TLS_EVENT_VALID (CAs) or TLS_EVENT_VALID_PEER (the peer). The first
 * TLS_VF_FAIL stops it.
 * Returns TLS_OK, or TLS_E_BAD_CERT with err->bad_cert set and err->alert the
 * alert to send; TLS_E_ALERT_SENT (bad_certificate) when a certificate is not
 * parseable DER; n == 0 gives TLS_E_BAD_CERT no_peer_cert. */
int tls_verify_chain(const tls_verify_ctx *vc, const uint8_t *const *der, const size_t *der_len,
                     size_t n, tls_error *err);

#endif
