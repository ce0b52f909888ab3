/* RFC 5077 session ticket protection (engine/src/core/ticket.c).
 *
 * Round trips with and without a peer certificate; every byte of a ticket
 * flipped, every truncation and an appended byte refused; expiry at the
 * lifetime's end and for tickets dated in the future; another key refused.
 * The state format is checked against tickets sealed by an independent
 * AES-256-GCM construction in this file (EVP directly, additional data =
 * key name || nonce), which also shows that a well-sealed ticket with a bad
 * state inside (format, flags, trailing bytes, cert length) is refused. */
#include <criterion/criterion.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "lib/pair.h"
#include "ticket.h"

#define NOW 1900000000 /* a wall-clock second in 2030 */
#define LIFETIME 7200

static tls_session sample_session(bool ems, size_t cert_len)
{
    tls_session s;
    memset(&s, 0, sizeof s);
    s.version = TLS_TLS12;
    s.suite = 0xc02f;
    s.ems = ems;
    for (size_t i = 0; i < sizeof s.master; i++)
        s.master[i] = (uint8_t)(i * 7 + 1);
    if (cert_len) {
        s.peer_cert = malloc(cert_len);
        cr_assert_not_null(s.peer_cert);
        for (size_t i = 0; i < cert_len; i++)
            s.peer_cert[i] = (uint8_t)(i ^ 0x5a);
        s.peer_cert_len = cert_len;
    }
    return s;
}

static tls_ticket_key ready_key(void)
{
    tls_ticket_key k;
    cr_assert(tls_ticket_key_init(&k));
    return k;
}

/* A sealed ticket in a growable writer (the caller frees it). */
static tls_wr seal(const tls_ticket_key *k, const tls_session *s, int64_t issued)
{
    tls_wr w = tls_wr_dynamic(0);
    cr_assert(tls_ticket_seal(k, s, issued, LIFETIME, &w));
    cr_assert(!w.bad);
    return w;
}

static bool opens(const tls_ticket_key *k, const uint8_t *t, size_t len, int64_t now)
{
    tls_session out;
    bool ok = tls_ticket_open(k, t, len, now, &out, NULL);
    if (!ok) /* a refused ticket leaves nothing behind */
        cr_assert(!out.peer_cert && !out.version && !out.suite && !out.ems);
    tls_session_wipe(&out);
    return ok;
}

static void check_round_trip(bool ems, size_t cert_len)
{
    tls_ticket_key k = ready_key();
    tls_session s = sample_session(ems, cert_len);
    tls_wr w = seal(&k, &s, NOW - 10);
    cr_assert_eq(w.len, TLS_TICKET_OVERHEAD + 1 + 2 + 2 + 1 + 48 + 8 + 4 + 3 + cert_len);

    tls_session out;
    int64_t issued = 0;
    cr_assert(tls_ticket_open(&k, w.p, w.len, NOW, &out, &issued));
    cr_assert_eq(issued, NOW - 10);
    cr_assert_eq(out.version, s.version);
    cr_assert_eq(out.suite, s.suite);
    cr_assert_eq(out.ems, ems);
    cr_assert_arr_eq(out.master, s.master, sizeof s.master);
    cr_assert_eq(out.peer_cert_len, cert_len);
    if (cert_len)
        cr_assert_arr_eq(out.peer_cert, s.peer_cert, cert_len);
    else
        cr_assert_null(out.peer_cert);
    /* the master secret never appears in the clear */
    for (size_t i = 0; i + sizeof s.master <= w.len; i++)
        cr_assert(memcmp(w.p + i, s.master, sizeof s.master));
    tls_session_wipe(&out);
    tls_session_wipe(&s);
    tls_wr_free(&w);
    tls_ticket_key_wipe(&k);
}

Test(ticket, round_trip_with_peer_certificate) { check_round_trip(true, 1200); }
Test(ticket, round_trip_without_peer_certificate) { check_round_trip(false, 0); }

Test(ticket, same_session_seals_differently)
{
    tls_ticket_key k = ready_key();
    tls_session s = sample_session(true, 0);
    tls_wr a = seal(&k, &s, NOW), b = seal(&k, &s, NOW);
    cr_assert_eq(a.len, b.len);
    cr_assert(memcmp(a.p, b.p, a.len), "two tickets with the same nonce");
    cr_assert_arr_eq(a.p, k.name, TLS_TICKET_KEY_NAME_LEN, "the ticket starts with the key name");
    tls_wr_free(&a);
    tls_wr_free(&b);
}

Test(ticket, every_flipped_byte_is_refused)
{
    tls_ticket_key k = ready_key();
    tls_session s = sample_session(true, 40);
    tls_wr w = seal(&k, &s, NOW);
    for (size_t i = 0; i < w.len; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            w.p[i] ^= (uint8_t)(1u << bit);
            cr_assert(!opens(&k, w.p, w.len, NOW), "byte %zu bit %d altered, still opened", i, bit);
            w.p[i] ^= (uint8_t)(1u << bit);
        }
    }
    cr_assert(opens(&k, w.p, w.len, NOW));
    tls_session_wipe(&s);
    tls_wr_free(&w);
}

Test(ticket, every_truncation_and_an_extra_byte_are_refused)
{
    tls_ticket_key k = ready_key();
    tls_session s = sample_session(false, 17);
    tls_wr w = seal(&k, &s, NOW);
    for (size_t n = 0; n < w.len; n++) {
        uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees any overread */
        cr_assert_not_null(copy);
        memcpy(copy, w.p, n);
        cr_assert(!opens(&k, copy, n, NOW), "a ticket cut to %zu of %zu bytes opened", n, w.len);
        free(copy);
    }
    tls_wr_u8(&w, 0);
    cr_assert(!opens(&k, w.p, w.len, NOW), "a ticket with a byte appended opened");
    cr_assert(!opens(&k, NULL, 0, NOW));
    tls_session_wipe(&s);
    tls_wr_free(&w);
}

Test(ticket, expiry)
{
    tls_ticket_key k = ready_key();
    tls_session s = sample_session(true, 0);
    tls_wr w = seal(&k, &s, NOW);
    cr_assert(opens(&k, w.p, w.len, NOW));
    cr_assert(opens(&k, w.p, w.len, NOW + LIFETIME - 1));
    cr_assert(!opens(&k, w.p, w.len, NOW + LIFETIME), "opened at the end of its lifetime");
    cr_assert(!opens(&k, w.p, w.len, NOW + 10 * LIFETIME));
    cr_assert(opens(&k, w.p, w.len, NOW - 30), "a small step back of the clock is tolerated");
    cr_assert(!opens(&k, w.p, w.len, NOW - 3600), "a ticket dated an hour ahead opened");
    tls_wr_free(&w);
}

Test(ticket, another_key_is_refused)
{
    tls_ticket_key k = ready_key(), other = ready_key();
    tls_session s = sample_session(true, 0);
    tls_wr w = seal(&k, &s, NOW);
    cr_assert(!opens(&other, w.p, w.len, NOW), "another key name opened it");
    memcpy(other.name, k.name, sizeof k.name); /* same name, other secret: the tag decides */
    cr_assert(!opens(&other, w.p, w.len, NOW), "another key with our name opened it");
    tls_ticket_key_wipe(&k);
    cr_assert(!k.ready);
    cr_assert(!opens(&k, w.p, w.len, NOW), "a wiped key opened it");
    tls_wr out = tls_wr_dynamic(0);
    cr_assert(!tls_ticket_seal(&k, &s, NOW, LIFETIME, &out), "a wiped key sealed");
    cr_assert_eq(out.len, 0);
    tls_wr_free(&out);
    tls_wr_free(&w);
}

Test(ticket, a_state_too_big_for_a_ticket_is_not_sealed)
{
    tls_ticket_key k = ready_key();
    tls_session s = sample_session(false, TLS_TICKET_MAX);
    tls_wr w = tls_wr_dynamic(0);
    cr_assert(!tls_ticket_seal(&k, &s, NOW, LIFETIME, &w));
    cr_assert_eq(w.len, 0);
    tls_session_wipe(&s);
    /* the largest certificate that still fits */
    s = sample_session(false, TLS_TICKET_MAX - TLS_TICKET_OVERHEAD - 69);
    cr_assert(tls_ticket_seal(&k, &s, NOW, LIFETIME, &w));
    cr_assert_eq(w.len, TLS_TICKET_MAX);
    cr_assert(opens(&k, w.p, w.len, NOW));
    tls_session_wipe(&s);
    tls_wr_free(&w);
}

/* ---- the state format, sealed independently ------------------------------ */

static size_t independent_seal(const tls_ticket_key *k, const uint8_t *state, size_t len, uint8_t *out)
{
    memcpy(out, k->name, TLS_TICKET_KEY_NAME_LEN);
    memset(out + TLS_TICKET_KEY_NAME_LEN, 0x42, TLS_TICKET_NONCE_LEN);
    uint8_t *body = out + TLS_TICKET_KEY_NAME_LEN + TLS_TICKET_NONCE_LEN;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0;
    cr_assert(EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k->key, out + TLS_TICKET_KEY_NAME_LEN));
    cr_assert(EVP_EncryptUpdate(ctx, NULL, &n, out, TLS_TICKET_KEY_NAME_LEN + TLS_TICKET_NONCE_LEN));
    cr_assert(EVP_EncryptUpdate(ctx, body, &n, state, (int)len));
    cr_assert(EVP_EncryptFinal_ex(ctx, body + n, &n));
    cr_assert(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TLS_TICKET_TAG_LEN, body + len));
    EVP_CIPHER_CTX_free(ctx);
    return TLS_TICKET_OVERHEAD + len;
}

/* format 1, TLS 1.2, suite 0x009c, flags, master 0x11.., issued NOW, lifetime, cert */
static size_t make_state(uint8_t *st, uint8_t format, uint8_t flags, const uint8_t *cert_len3,
                         const char *cert)
{
    size_t n = 0;
    st[n++] = format;
    st[n++] = 0x03, st[n++] = 0x03;
    st[n++] = 0x00, st[n++] = 0x9c;
    st[n++] = flags;
    memset(st + n, 0x11, 48), n += 48;
    uint64_t t = NOW;
    for (int i = 7; i >= 0; i--)
        st[n++] = (uint8_t)(t >> (8 * i));
    st[n++] = 0, st[n++] = 0, st[n++] = LIFETIME >> 8, st[n++] = LIFETIME & 0xff;
    memcpy(st + n, cert_len3, 3), n += 3;
    memcpy(st + n, cert, strlen(cert)), n += strlen(cert);
    return n;
}

static bool opens_state(const tls_ticket_key *k, const uint8_t *st, size_t len, tls_session *out)
{
    uint8_t t[256];
    size_t n = independent_seal(k, st, len, t);
    return tls_ticket_open(k, t, n, NOW, out, NULL);
}

Test(ticket, state_format_as_documented)
{
    tls_ticket_key k = ready_key();
    uint8_t st[128];
    tls_session out;
    const uint8_t len3[] = {0, 0, 4};
    size_t n = make_state(st, 1, 1, len3, "cert");
    cr_assert(opens_state(&k, st, n, &out), "an independently sealed ticket did not open");
    cr_assert_eq(out.version, TLS_TLS12);
    cr_assert_eq(out.suite, 0x009c);
    cr_assert(out.ems);
    cr_assert_eq(out.master[0], 0x11);
    cr_assert_eq(out.master[47], 0x11);
    cr_assert_eq(out.peer_cert_len, 4);
    cr_assert_arr_eq(out.peer_cert, "cert", 4);
    tls_session_wipe(&out);

    n = make_state(st, 2, 1, len3, "cert");
    cr_assert(!opens_state(&k, st, n, &out), "format 2 opened");
    n = make_state(st, 1, 3, len3, "cert");
    cr_assert(!opens_state(&k, st, n, &out), "an unknown flag bit opened");
    n = make_state(st, 1, 1, len3, "certs");
    cr_assert(!opens_state(&k, st, n, &out), "a trailing byte opened");
    const uint8_t long3[] = {0, 0, 5};
    n = make_state(st, 1, 1, long3, "cert");
    cr_assert(!opens_state(&k, st, n, &out), "a certificate longer than the state opened");
    const uint8_t huge3[] = {0xff, 0xff, 0xff};
    n = make_state(st, 1, 1, huge3, "cert");
    cr_assert(!opens_state(&k, st, n, &out), "a 16 MB certificate length opened");
    for (size_t cut = 0; cut < n; cut++)
        cr_assert(!opens_state(&k, st, cut, &out), "a state cut to %zu bytes opened", cut);
}

/* ---- the key belongs to the server's config ------------------------------ */

Test(ticket, each_server_config_has_its_own_key)
{
    tls_options o;
    tls_options_init(&o);
    o.certfile = pki("server.pem");
    o.keyfile = pki("server.key");
    tls_config *a = cfg_or_die(&o, true), *b = cfg_or_die(&o, true);
    cr_assert(a->ticket_key.ready && b->ticket_key.ready);
    cr_assert(memcmp(a->ticket_key.name, b->ticket_key.name, TLS_TICKET_KEY_NAME_LEN));
    tls_session s = sample_session(true, 0);
    tls_wr w = seal(&a->ticket_key, &s, NOW);
    cr_assert(opens(&a->ticket_key, w.p, w.len, NOW));
    cr_assert(!opens(&b->ticket_key, w.p, w.len, NOW), "another config opened our ticket");
    tls_wr_free(&w);
    tls_config_free(a);
    tls_config_free(b);

    tls_options co;
    tls_options_init(&co);
    tls_config *c = cfg_or_die(&co, false);
    cr_assert(!c->ticket_key.ready, "a client config made a ticket key it never uses");
    tls_config_free(c);
}
