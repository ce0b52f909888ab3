/* Peer certificates parsed once per process.
 *
 * A server presents the same chain to every client, and a client presents
 * the same certificate on every connection. Parsing one costs more than
 * checking its signature: OpenSSL 3 decodes the public key through its
 * provider decoders, about 0.1 ms for an RSA-2048 key. So the X509 objects
 * of recently seen DER certificates are kept and handed out again, matched
 * on the exact bytes: the same bytes parse to the same certificate, so
 * nothing about trust is cached, only the parse. Validation (chain, time,
 * names, security level, verify_fun) still runs on every handshake.
 *
 * Certificates are public; the cache holds nothing secret. It is a small
 * ring shared by every thread under one mutex; X509 objects are reference
 * counted, so an entry evicted while a handshake uses it stays alive. */
#include <openssl/x509.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cert.h"

enum {
    PEER_CERT_SLOTS = 32,
    PEER_CERT_MAX_DER = 16384, /* larger certificates are parsed, not kept */
};

typedef struct slot {
    uint8_t *der;
    size_t len;
    X509 *x509;
} slot;

static slot slots[PEER_CERT_SLOTS];
static unsigned next_slot;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static X509 *lookup(const uint8_t *der, size_t len)
{
    for (unsigned i = 0; i < PEER_CERT_SLOTS; i++) {
        slot *s = &slots[i];
        if (s->x509 && s->len == len && memcmp(s->der, der, len) == 0) {
            X509_up_ref(s->x509);
            return s->x509;
        }
    }
    return NULL;
}

static void keep(const uint8_t *der, size_t len, X509 *x)
{
    uint8_t *copy = malloc(len);
    if (!copy || !X509_up_ref(x)) {
        free(copy);
        return; /* not kept: the caller's reference is unaffected */
    }
    memcpy(copy, der, len);
    slot *s = &slots[next_slot++ % PEER_CERT_SLOTS];
    X509_free(s->x509);
    free(s->der);
    *s = (slot){copy, len, x};
}

X509 *tls_peer_x509(const uint8_t *der, size_t len)
{
    if (!der || !len)
        return NULL;
    pthread_mutex_lock(&lock);
    X509 *x = lookup(der, len);
    pthread_mutex_unlock(&lock);
    if (x)
        return x;
    x = tls_x509_from_der(der, len);
    if (!x || len > PEER_CERT_MAX_DER)
        return x;
    /* decode the public key now, so every later user finds it done */
    if (!X509_get0_pubkey(x))
        return x; /* not kept: a key libcrypto cannot decode is rare and fails later */
    pthread_mutex_lock(&lock);
    X509 *raced = lookup(der, len);
    if (!raced)
        keep(der, len, x);
    pthread_mutex_unlock(&lock);
    if (raced) {
        X509_free(x);
        x = raced;
    }
    return x;
}
