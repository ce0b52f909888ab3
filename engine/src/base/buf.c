#include "buf.h"

#include <openssl/crypto.h>
#include <stdlib.h>

tls_wr tls_wr_dynamic(size_t initial)
{
    tls_wr w = {NULL, 0, 0, true, false};
    if (initial) {
        w.p = malloc(initial);
        if (w.p)
            w.cap = initial;
        else
            w.bad = true;
    }
    return w;
}

void tls_wr_free(tls_wr *w)
{
    if (w->growable && w->p) {
        OPENSSL_cleanse(w->p, w->cap);
        free(w->p);
    }
    w->p = NULL;
    w->len = w->cap = 0;
}

uint8_t *tls_wr_room(tls_wr *w, size_t n)
{
    if (w->bad)
        return NULL;
    if (w->cap - w->len >= n)
        return w->p + w->len;
    if (!w->growable || n > SIZE_MAX / 2 - w->len) {
        w->bad = true;
        return NULL;
    }
    size_t cap = w->cap ? w->cap : 256;
    while (cap - w->len < n)
        cap *= 2;
    /* realloc would leave a copy of secrets behind: move by hand and wipe */
    uint8_t *np = malloc(cap);
    if (!np) {
        w->bad = true;
        return NULL;
    }
    if (w->p) {
        memcpy(np, w->p, w->len);
        OPENSSL_cleanse(w->p, w->cap);
        free(w->p);
    }
    w->p = np;
    w->cap = cap;
    return w->p + w->len;
}
