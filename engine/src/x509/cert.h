/* Certificates and keys: loading from the seed's options (cert/certfile,
 * key/keyfile, password, cacerts/cacertfile, dh/dhfile), path validation with
 * libcrypto's X509 store mapped onto the seed's verify_fun events and
 * bad_cert reasons, hostname / IP checks. */
#ifndef TLS_CERT_H
#define TLS_CERT_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>

#include "tlsengine.h"

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
 * missing password: TLS_E_CONFIG with the file named. Neither configured: ok,
 * empty cred. */
int tls_cred_load(const tls_options *o, tls_cred *cred, tls_error *err);
void tls_cred_free(tls_cred *cred);

/* Trusted CAs from cacerts (DER) or cacertfile (PEM bundle, or one DER
 * certificate). Neither: an empty store.
 * *n_loaded tells how many certificates it holds. */
int tls_ca_load(const tls_options *o, X509_STORE **store, size_t *n_loaded, tls_error *err);

/* Smallest DH group accepted from dh / dhfile (Logjam: 1024-bit groups are
 * within reach of precomputation). */
#define TLS_DH_MIN_BITS 2048

/* DH parameters from dh (DER) or dhfile (PEM, or DER); NULL params when
 * neither. PKCS#3 and X9.42 parameters; groups under TLS_DH_MIN_BITS bits
 * and parameters failing libcrypto's quick check are TLS_E_CONFIG. */
int tls_dh_load(const tls_options *o, EVP_PKEY **params, tls_error *err);

typedef struct tls_verify_ctx {
    X509_STORE *store;
    int depth;                 /* the seed's depth: peer = 0, its issuer = 1, ...; the chain up to
                                * the trust anchor may reach this depth: 1 = peer + the trusted CA,
                                * 2 = peer + one intermediate + the trusted CA */
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

/* Parses a DER certificate's public key (for signature / RSA checks); NULL
 * if the DER is not exactly one certificate. */
EVP_PKEY *tls_cert_pubkey(const uint8_t *der, size_t len);

#endif
