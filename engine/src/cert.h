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

/* Loads our certificate chain and private key. cert (DER) overrides certfile;
 * key (DER) overrides keyfile, which defaults to certfile. A configured
 * certificate without a usable key, a key that does not match, a wrong or
 * missing password: TLS_E_CONFIG with the file named. Neither configured: ok,
 * empty cred. */
int tls_cred_load(const tls_options *o, tls_cred *cred, tls_error *err);
void tls_cred_free(tls_cred *cred);

/* Trusted CAs from cacerts (DER) or cacertfile (PEM). Neither: an empty store.
 * *n_loaded tells how many certificates it holds. */
int tls_ca_load(const tls_options *o, X509_STORE **store, size_t *n_loaded, tls_error *err);

/* DH parameters from dh (DER) or dhfile (PEM); NULL params when neither. */
int tls_dh_load(const tls_options *o, EVP_PKEY **params, tls_error *err);

typedef struct tls_verify_ctx {
    X509_STORE *store;
    int depth;                 /* the seed's depth: max intermediates between peer and trusted CA */
    tls_verify_type verify;
    tls_verify_fun fun;        /* NULL: the default for `verify` */
    void *fun_state;
    const char *hostname;      /* name to check (DNS, or an IP literal checked against IP SANs); NULL: none */
    bool peer_is_server;       /* check serverAuth vs clientAuth purpose */
} tls_verify_ctx;

/* Validates the peer's chain (DER certificates, leaf first), calling the
 * verify fun for each event. Returns TLS_OK, or TLS_E_BAD_CERT with
 * err->bad_cert set and err->alert the alert to send. */
int tls_verify_chain(const tls_verify_ctx *vc, const uint8_t *const *der, const size_t *der_len,
                     size_t n, tls_error *err);

/* Parses a DER certificate's public key (for signature / RSA checks). */
EVP_PKEY *tls_cert_pubkey(const uint8_t *der, size_t len);

#endif
