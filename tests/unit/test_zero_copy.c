/* The engine's copy-free calls: feed_buffer/feed_commit (receive straight
 * into the engine) and peek/read_done (plaintext in place), driven through a
 * handshake and a transfer, with the backpressure a full buffer gives. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "lib/pair.h"

/* Moves from's output into to through to's own buffer, in pieces of at most
 * `piece` bytes (to test commits that end mid-record). Returns bytes moved. */
static size_t move_in_place(tls_engine *from, tls_engine *to, size_t piece)
{
    size_t moved = 0, len;
    const uint8_t *p;
    while ((p = tls_engine_output(from, &len)) != NULL && len) {
        size_t room;
        uint8_t *dst = tls_engine_feed_buffer(to, &room);
        if (!dst)
            break; /* to holds plaintext nobody took yet */
        size_t n = len < room ? len : room;
        if (n > piece)
            n = piece;
        memcpy(dst, p, n); /* what recv() into dst would do */
        tls_engine_output_done(from, n);
        cr_assert_eq(tls_engine_feed_commit(to, n), TLS_OK, "%s", tls_engine_error(to)->detail);
        moved += n;
    }
    return moved;
}

static void handshake_in_place(tls_engine *c, tls_engine *s, size_t piece)
{
    for (int i = 0; i < 200; i++) {
        size_t a = move_in_place(c, s, piece), b = move_in_place(s, c, piece);
        if (!a && !b)
            break;
    }
    cr_assert(tls_engine_status(c) & TLS_ST_CONNECTED, "client: %s", tls_engine_error(c)->detail);
    cr_assert(tls_engine_status(s) & TLS_ST_CONNECTED, "server: %s", tls_engine_error(s)->detail);
}

/* Sends len bytes from a to b; b takes them with peek/read_done, `take` at a time. */
static void transfer_in_place(tls_engine *a, tls_engine *b, size_t len, size_t piece, size_t take)
{
    uint8_t *src = malloc(len), *dst = malloc(len);
    for (size_t i = 0; i < len; i++)
        src[i] = (uint8_t)(i * 7 + i / 251);
    size_t sent = 0, got = 0;
    for (int rounds = 0; got < len && rounds < 1000000; rounds++) {
        if (sent < len) {
            size_t acc = 0;
            int rc = tls_engine_write(a, src + sent, len - sent, &acc);
            cr_assert(rc == TLS_OK || rc == TLS_E_WOULDBLOCK);
            sent += acc;
        }
        move_in_place(a, b, piece);
        size_t avail;
        const uint8_t *p;
        while ((p = tls_engine_peek(b, &avail)) != NULL) {
            size_t n = avail < take ? avail : take;
            cr_assert_leq(got + n, len);
            memcpy(dst + got, p, n);
            tls_engine_read_done(b, n);
            got += n;
        }
    }
    cr_assert_eq(got, len);
    cr_assert_arr_eq(src, dst, len, "the bytes arrive intact and in order");
    free(src);
    free(dst);
}

Test(zero_copy, handshake_and_transfer_whole_records)
{
    tls_config *sc, *cc;
    tls_engine *s = server_or_die(NULL, 0, &sc), *c = client_or_die(NULL, 0, &cc);
    handshake_in_place(c, s, SIZE_MAX);
    transfer_in_place(c, s, 1 << 20, SIZE_MAX, SIZE_MAX);
    transfer_in_place(s, c, 100000, SIZE_MAX, SIZE_MAX);
    tls_engine_free(c);
    tls_engine_free(s);
    tls_config_free(cc);
    tls_config_free(sc);
}

Test(zero_copy, records_cut_anywhere_and_plaintext_taken_bytewise)
{
    unsigned versions[] = {TLS_VMASK_TLS12, TLS_VMASK_TLS13};
    for (size_t v = 0; v < 2; v++) {
        tls_config *sc, *cc;
        tls_engine *s = server_or_die(NULL, versions[v], &sc), *c = client_or_die(NULL, versions[v], &cc);
        handshake_in_place(c, s, 7);
        transfer_in_place(c, s, 40000, 13, 1);
        transfer_in_place(s, c, 40000, 1000, 333);
        tls_engine_free(c);
        tls_engine_free(s);
        tls_config_free(cc);
        tls_config_free(sc);
    }
}

/* Plaintext nobody takes fills the engine: feed_buffer then offers no room,
 * and taking the plaintext gives the room back. */
Test(zero_copy, untaken_plaintext_stops_input)
{
    tls_config *sc, *cc;
    tls_engine *s = server_or_die(NULL, 0, &sc), *c = client_or_die(NULL, 0, &cc);
    handshake_in_place(c, s, SIZE_MAX);
    static uint8_t big[200000];
    size_t acc = 0;
    cr_assert_eq(tls_engine_write(c, big, sizeof big, &acc), TLS_OK);
    move_in_place(c, s, SIZE_MAX);
    size_t room = 1, pending = 0;
    cr_assert_null(tls_engine_feed_buffer(s, &room), "a full engine takes no bytes");
    cr_assert_eq(room, 0);
    cr_assert(tls_engine_output(c, &pending) && pending, "the rest waits at the sender");
    size_t avail;
    while (tls_engine_peek(s, &avail))
        tls_engine_read_done(s, avail);
    cr_assert_not_null(tls_engine_feed_buffer(s, &room), "room comes back once the plaintext is taken");
    cr_assert_gt(room, 0);
    tls_engine_free(c);
    tls_engine_free(s);
    tls_config_free(cc);
    tls_config_free(sc);
}

Test(zero_copy, commit_beyond_the_room_is_refused)
{
    tls_config *sc;
    tls_engine *s = server_or_die(NULL, 0, &sc);
    size_t room;
    cr_assert_not_null(tls_engine_feed_buffer(s, &room));
    cr_assert_eq(tls_engine_feed_commit(s, room + 1), TLS_E_BADARG);
    cr_assert_not(tls_engine_status(s) & TLS_ST_FAILED, "a refused commit changes nothing");
    size_t len = 5;
    cr_assert_null(tls_engine_peek(s, &len));
    cr_assert_eq(len, 0);
    tls_engine_read_done(s, 10); /* nothing to consume: no effect */
    tls_engine_free(s);
    tls_config_free(sc);
}
