/* Bounds-checked reading and writing of wire data.
 *
 * tls_rd: a cursor over received bytes. Every getter checks the remaining
 * length; on a short read it sets `bad` and returns zeros, so a parser can
 * read a whole message and test `bad` once (s2n's stuffer idea).
 * tls_wr: an append-only writer into a growable or fixed buffer, with
 * length-prefix placeholders that are filled in when the vector ends. */
#ifndef TLS_BUF_H
#define TLS_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct tls_rd {
    const uint8_t *p;
    size_t len;
    size_t off;
    bool bad;
} tls_rd;

static inline tls_rd tls_rd_make(const uint8_t *p, size_t len)
{
    tls_rd r = {p, len, 0, false};
    return r;
}
static inline size_t tls_rd_left(const tls_rd *r) { return r->bad ? 0 : r->len - r->off; }
static inline bool tls_rd_done(const tls_rd *r) { return !r->bad && r->off == r->len; }

static inline bool tls_rd_need(tls_rd *r, size_t n)
{
    if (r->bad || r->len - r->off < n) {
        r->bad = true;
        return false;
    }
    return true;
}
static inline uint8_t tls_rd_u8(tls_rd *r)
{
    if (!tls_rd_need(r, 1))
        return 0;
    return r->p[r->off++];
}
static inline uint16_t tls_rd_u16(tls_rd *r)
{
    if (!tls_rd_need(r, 2))
        return 0;
    uint16_t v = (uint16_t)((r->p[r->off] << 8) | r->p[r->off + 1]);
    r->off += 2;
    return v;
}
static inline uint32_t tls_rd_u24(tls_rd *r)
{
    if (!tls_rd_need(r, 3))
        return 0;
    uint32_t v = ((uint32_t)r->p[r->off] << 16) | ((uint32_t)r->p[r->off + 1] << 8) | r->p[r->off + 2];
    r->off += 3;
    return v;
}
static inline uint32_t tls_rd_u32(tls_rd *r)
{
    uint32_t hi = tls_rd_u16(r);
    return hi << 16 | tls_rd_u16(r);
}
/* Returns a pointer to the next n bytes (NULL if short). */
static inline const uint8_t *tls_rd_bytes(tls_rd *r, size_t n)
{
    if (!tls_rd_need(r, n))
        return NULL;
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}
static inline bool tls_rd_copy(tls_rd *r, void *dst, size_t n)
{
    const uint8_t *p = tls_rd_bytes(r, n);
    if (p)
        memcpy(dst, p, n);
    return p != NULL;
}
/* A sub-reader over a vector with a 1-, 2- or 3-byte length prefix.
 * Lengths outside [min, max] mark both readers bad. */
static inline tls_rd tls_rd_vec(tls_rd *r, int prefix, size_t min, size_t max)
{
    size_t n = prefix == 1 ? tls_rd_u8(r) : prefix == 2 ? tls_rd_u16(r) : tls_rd_u24(r);
    tls_rd sub = {NULL, 0, 0, true};
    if (r->bad)
        return sub;
    if (n < min || n > max) {
        r->bad = true;
        return sub;
    }
    const uint8_t *p = tls_rd_bytes(r, n);
    if (!p)
        return sub;
    return tls_rd_make(p, n);
}

typedef struct tls_wr {
    uint8_t *p;
    size_t len;
    size_t cap;
    bool growable; /* p is malloc'ed by the writer and may be realloc'ed */
    bool bad;      /* out of room or out of memory */
} tls_wr;

/* A writer over a fixed buffer. */
static inline tls_wr tls_wr_fixed(uint8_t *p, size_t cap)
{
    tls_wr w = {p, 0, cap, false, false};
    return w;
}
/* A growable writer; free with tls_wr_free. */
tls_wr tls_wr_dynamic(size_t initial);
void tls_wr_free(tls_wr *w);
/* Ensures n more bytes of room; returns a pointer to them (NULL sets bad). */
uint8_t *tls_wr_room(tls_wr *w, size_t n);

static inline void tls_wr_u8(tls_wr *w, uint8_t v)
{
    uint8_t *d = tls_wr_room(w, 1);
    if (d) {
        d[0] = v;
        w->len += 1;
    }
}
static inline void tls_wr_u16(tls_wr *w, uint16_t v)
{
    uint8_t *d = tls_wr_room(w, 2);
    if (d) {
        d[0] = (uint8_t)(v >> 8);
        d[1] = (uint8_t)v;
        w->len += 2;
    }
}
static inline void tls_wr_u24(tls_wr *w, uint32_t v)
{
    uint8_t *d = tls_wr_room(w, 3);
    if (d) {
        d[0] = (uint8_t)(v >> 16);
        d[1] = (uint8_t)(v >> 8);
        d[2] = (uint8_t)v;
        w->len += 3;
    }
}
static inline void tls_wr_u32(tls_wr *w, uint32_t v)
{
    tls_wr_u16(w, (uint16_t)(v >> 16));
    tls_wr_u16(w, (uint16_t)v);
}
static inline void tls_wr_u64(tls_wr *w, uint64_t v)
{
    tls_wr_u32(w, (uint32_t)(v >> 32));
    tls_wr_u32(w, (uint32_t)v);
}
static inline void tls_wr_bytes(tls_wr *w, const void *src, size_t n)
{
    uint8_t *d = tls_wr_room(w, n);
    if (d && n) {
        memcpy(d, src, n);
        w->len += n;
    }
}
/* Opens a vector with an n-byte length prefix; returns its position for tls_wr_end_vec. */
static inline size_t tls_wr_begin_vec(tls_wr *w, int prefix)
{
    size_t at = w->len;
    uint8_t *d = tls_wr_room(w, (size_t)prefix);
    if (d) {
        memset(d, 0, (size_t)prefix);
        w->len += (size_t)prefix;
    }
    return at;
}
/* Fills the prefix opened at `at`; marks bad if the body does not fit the prefix. */
static inline void tls_wr_end_vec(tls_wr *w, size_t at, int prefix)
{
    if (w->bad)
        return;
    size_t n = w->len - at - (size_t)prefix;
    if ((prefix == 1 && n > 0xff) || (prefix == 2 && n > 0xffff) || (prefix == 3 && n > 0xffffff)) {
        w->bad = true;
        return;
    }
    for (int i = prefix - 1, s = 0; i >= 0; i--, s += 8)
        w->p[at + (size_t)i] = (uint8_t)(n >> s);
}
static inline void tls_wr_vec(tls_wr *w, int prefix, const void *src, size_t n)
{
    size_t at = tls_wr_begin_vec(w, prefix);
    tls_wr_bytes(w, src, n);
    tls_wr_end_vec(w, at, prefix);
}

#endif
