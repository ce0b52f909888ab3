/* Message framing over the plaintext a socket has received (app[]), as
 * gen_tcp's {packet, 1|2|4|line} and {packet_size, N}: io.c's tls_recv and
 * active.c's events take one whole message at a time through here, and
 * tls_send asks for the prefix. Framing is applied when a message is taken,
 * never when bytes arrive, so a tls_setopts that changes `packet` frames
 * what is already buffered by the new setting. */
#include <string.h>

#include <openssl/crypto.h>

#include "err.h"
#include "sock.h"

static size_t prefix_bytes(tls_packet p)
{
    switch (p) {
    case TLS_PACKET_1: return 1;
    case TLS_PACKET_2: return 2;
    case TLS_PACKET_4: return 4;
    default: return 0;
    }
}

void tls_packet_consume(tls_socket *s, size_t n)
{
    OPENSSL_cleanse(s->app + s->a_off, n);
    s->a_off += n;
    if (s->a_off == s->a_len)
        s->a_off = s->a_len = 0;
}

/* what a too-big message left: dropped as far as it has arrived */
static void drop_skipped(tls_socket *s)
{
    size_t avail = s->a_len - s->a_off;
    if (s->skip_left) {
        size_t n = s->skip_left < avail ? s->skip_left : avail;
        tls_packet_consume(s, n);
        s->skip_left -= n;
    } else if (s->skip_line) {
        const uint8_t *nl = memchr(s->app + s->a_off, '\n', avail);
        tls_packet_consume(s, nl ? (size_t)(nl - (s->app + s->a_off)) + 1 : avail);
        s->skip_line = nl == NULL;
    }
}

typedef enum { WHOLE, PART, TOO_BIG } framing;

/* What app[] starts with, changing nothing: WHOLE (*hdr, *body), PART (*need:
 * bytes app[] must hold), TOO_BIG (*body: the message's size; for a line
 * with no newline yet, the bytes so far). */
static framing classify(const tls_socket *s, size_t *hdr, size_t *body, size_t *need)
{
    const uint8_t *p = s->app + s->a_off;
    size_t avail = s->a_len - s->a_off;
    size_t limit = s->packet_size;
    if (s->packet == TLS_PACKET_LINE) {
        const uint8_t *nl = avail ? memchr(p, '\n', avail) : NULL;
        size_t line = nl ? (size_t)(nl - p) + 1 : avail;
        *hdr = 0;
        *body = line;
        if ((nl && line > limit) || (!nl && avail >= limit))
            return TOO_BIG;
        *need = avail + 1;
        return nl ? WHOLE : PART;
    }
    size_t h = prefix_bytes(s->packet);
    *hdr = h;
    if (avail < h) {
        *need = h;
        return PART;
    }
    size_t len = 0;
    for (size_t i = 0; i < h; i++)
        len = len << 8 | p[i];
    *body = len;
    if (len > limit)
        return TOO_BIG;
    *need = h + len;
    return avail < h + len ? PART : WHOLE;
}

bool tls_packet_ready(tls_socket *s)
{
    size_t hdr, body, need;
    if (s->skip_left || s->skip_line)
        return s->a_len > s->a_off; /* dropping is progress */
    return classify(s, &hdr, &body, &need) != PART;
}

int tls_packet_peek(tls_socket *s, size_t *hdr, size_t *body, size_t *need, tls_error *err)
{
    drop_skipped(s);
    if (s->skip_left || s->skip_line) {
        *need = 1; /* more of the dropped message first */
        return TLS_E_WOULDBLOCK;
    }
    framing f = classify(s, hdr, body, need);
    if (f == WHOLE)
        return TLS_OK;
    if (f == PART)
        return TLS_E_WOULDBLOCK;
    /* too big: its bytes are dropped, now and as the rest arrives, so the
     * next message comes whole (a prefix is trusted for the length: the
     * stream stays in step) */
    size_t avail = s->a_len - s->a_off;
    size_t limit = s->packet_size;
    if (s->packet == TLS_PACKET_LINE) {
        const uint8_t *nl = memchr(s->app + s->a_off, '\n', avail);
        tls_packet_consume(s, *body);
        s->skip_line = nl == NULL;
        if (nl)
            return tls_err_set(err, TLS_E_MSGSIZE, -1, "a line of %zu bytes is over packet_size %zu",
                               *body, limit);
        return tls_err_set(err, TLS_E_MSGSIZE, -1,
                           "a line of more than %zu bytes (no newline yet) is over packet_size %zu",
                           *body, limit);
    }
    size_t total = *hdr + *body;
    size_t now = avail < total ? avail : total;
    tls_packet_consume(s, now);
    s->skip_left = total - now;
    return tls_err_set(err, TLS_E_MSGSIZE, -1, "a message of %zu bytes is over packet_size %zu", *body,
                       limit);
}

int tls_packet_prefix(const tls_socket *s, size_t len, uint8_t out[4], size_t *out_len, tls_error *err)
{
    size_t h = prefix_bytes(s->packet);
    *out_len = h;
    if (h == 0)
        return TLS_OK;
    uint64_t max = h == 4 ? 0xffffffffu : ((uint64_t)1 << (8 * h)) - 1;
    if ((uint64_t)len > max)
        return tls_err_set(err, TLS_E_MSGSIZE, -1,
                           "a message of %zu bytes does not fit a %zu-byte length prefix (at most %llu)",
                           len, h, (unsigned long long)max);
    for (size_t i = 0; i < h; i++)
        out[i] = (uint8_t)(len >> (8 * (h - 1 - i)));
    return TLS_OK;
}
