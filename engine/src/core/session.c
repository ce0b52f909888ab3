/* The session cache: a small ring per config, guarded by a mutex. Servers
 * look sessions up by id, clients by the name of the server they talk to.
 * Master secrets are wiped when a slot is overwritten or the cache freed. */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"

#define CACHE_SLOTS 256
#define SESSION_LIFETIME_S (2 * 3600) /* RFC 5246 F.1.4 suggests at most 24 hours */

static int64_t now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

int64_t tls_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tls_session_wipe(tls_session *s)
{
    free(s->peer_cert);
    free(s->ticket);
    OPENSSL_cleanse(s, sizeof *s);
}

void tls_cache_init(tls_session_cache *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
}

void tls_cache_free(tls_session_cache *c)
{
    if (c->slots) {
        for (size_t i = 0; i < c->n; i++)
            tls_session_wipe(&c->slots[i]);
        free(c->slots);
    }
    pthread_mutex_destroy(&c->lock);
}

static bool copy_session(tls_session *dst, const tls_session *src)
{
    *dst = *src;
    dst->peer_cert = NULL;
    dst->ticket = NULL;
    if (src->peer_cert && src->peer_cert_len) {
        dst->peer_cert = malloc(src->peer_cert_len);
        if (!dst->peer_cert)
            return false;
        memcpy(dst->peer_cert, src->peer_cert, src->peer_cert_len);
    }
    if (src->ticket && src->ticket_len) {
        dst->ticket = malloc(src->ticket_len);
        if (!dst->ticket)
            return false;
        memcpy(dst->ticket, src->ticket, src->ticket_len);
    }
    return true;
}

void tls_cache_put(tls_session_cache *c, const tls_session *s)
{
    pthread_mutex_lock(&c->lock);
    if (!c->slots)
        c->slots = calloc(CACHE_SLOTS, sizeof *c->slots);
    if (c->slots) {
        size_t at = c->next;
        bool replace = false;
        /* a client keeps one session per server name: replace it in place */
        for (size_t i = 0; i < c->n; i++) {
            if (s->name[0] && !strcmp(c->slots[i].name, s->name)) {
                at = i;
                replace = true;
                break;
            }
        }
        if (!replace) {
            c->next = (c->next + 1) % CACHE_SLOTS;
            if (c->n < CACHE_SLOTS)
                c->n++;
        }
        tls_session_wipe(&c->slots[at]);
        if (copy_session(&c->slots[at], s))
            c->slots[at].created = now_s();
        else
            tls_session_wipe(&c->slots[at]);
    }
    pthread_mutex_unlock(&c->lock);
}

/* a client also honours the lifetime the server gave its ticket */
static bool fresh(const tls_session *s)
{
    int64_t lifetime = s->lifetime_s && s->lifetime_s < SESSION_LIFETIME_S ? s->lifetime_s : SESSION_LIFETIME_S;
    return (s->id_len || s->ticket_len) && now_s() - s->created < lifetime;
}

bool tls_cache_get_by_id(tls_session_cache *c, const uint8_t *id, size_t id_len, tls_session *out)
{
    bool found = false;
    if (!id_len || id_len > 32)
        return false;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n && !found; i++) {
        tls_session *s = &c->slots[i];
        if (s->id_len == id_len && !memcmp(s->id, id, id_len) && fresh(s))
            found = copy_session(out, s);
    }
    pthread_mutex_unlock(&c->lock);
    return found;
}

bool tls_cache_get_by_name(tls_session_cache *c, const char *name, tls_session *out)
{
    bool found = false;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n && !found; i++) {
        tls_session *s = &c->slots[i];
        if (!strcmp(s->name, name) && fresh(s))
            found = copy_session(out, s);
    }
    pthread_mutex_unlock(&c->lock);
    return found;
}

void tls_cache_remove(tls_session_cache *c, const uint8_t *id, size_t id_len)
{
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n; i++) {
        tls_session *s = &c->slots[i];
        if (s->id_len == id_len && !memcmp(s->id, id, id_len)) {
            tls_session_wipe(s);
            s->name[0] = '\0';
        }
    }
    pthread_mutex_unlock(&c->lock);
}
