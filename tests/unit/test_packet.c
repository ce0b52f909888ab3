/* {packet, 1|2|4|line} and {packet_size, N} on the socket API (packet.c):
 * two tls_sockets over a socketpair, one sending raw bytes it frames by
 * hand (so the test decides where the writes split), the other framed:
 * tls_recv and active mode give whole messages, tls_send adds the prefix, a
 * message over packet_size is emsgsize with both sizes and the next one
 * comes whole, and tls_setopts reframes what is already buffered. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/sockets.h"
#include "tlsengine_socket.h"

#define T_MS 5000

static char fmt_buf[512];
static const char *fmt(const tls_error *e) { return tls_format_error(e, fmt_buf, sizeof fmt_buf); }

/* a connected pair: *raw (client) and *framed (server) */
static void pair_up(tls_socket **raw, tls_socket **framed)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    tls_options o;
    tls_options_init(&o);
    o.verify = TLS_VERIFY_NONE;
    char why[600];
    cr_assert(sockets_join_fds(sv[0], sv[1], &o, raw, framed, why, sizeof why), "%s", why);
}

static void set_packet(tls_socket *s, tls_packet p, size_t size)
{
    tls_sockopts so = {TLS_ACTIVE_FALSE, -1, -1, p, size};
    tls_error err;
    cr_assert_eq(tls_setopts(s, &so, &err), TLS_OK, "setopts: %s", fmt(&err));
}

static void send_raw(tls_socket *s, const void *p, size_t n)
{
    tls_error err;
    cr_assert_eq(tls_send(s, p, n, &err), TLS_OK, "send: %s", fmt(&err));
}

/* one message expected: returns its length, copied to out */
static size_t recv_msg(tls_socket *s, char *out, size_t cap)
{
    tls_error err;
    ssize_t n = tls_recv(s, out, cap, 0, T_MS, &err);
    cr_assert(n >= 0, "recv: %s", fmt(&err));
    return (size_t)n;
}

/* prefix of h bytes (big-endian) for len */
static size_t put_prefix(uint8_t *out, size_t h, size_t len)
{
    for (size_t i = 0; i < h; i++)
        out[i] = (uint8_t)(len >> (8 * (h - 1 - i)));
    return h;
}

TestSuite(packet, .timeout = 30);

/* three messages in one write, then one split over three writes: four whole
 * messages, for each prefix size */
Test(packet, prefixed_messages_come_whole)
{
    static const tls_packet modes[] = {TLS_PACKET_1, TLS_PACKET_2, TLS_PACKET_4};
    static const size_t h_of[] = {1, 2, 4};
    for (size_t m = 0; m < 3; m++) {
        tls_socket *raw, *framed;
        pair_up(&raw, &framed);
        set_packet(framed, modes[m], 0);
        size_t h = h_of[m];
        uint8_t buf[256];
        size_t n = 0;
        const char *words[] = {"alpha", "be", "gamma!"};
        for (int i = 0; i < 3; i++) {
            n += put_prefix(buf + n, h, strlen(words[i]));
            memcpy(buf + n, words[i], strlen(words[i]));
            n += strlen(words[i]);
        }
        send_raw(raw, buf, n);
        /* "split" in three writes: the prefix cut in two where it can be */
        n = put_prefix(buf, h, 5);
        memcpy(buf + n, "split", 5);
        n += 5;
        size_t cut1 = h > 1 ? 1 : h, cut2 = h + 2;
        send_raw(raw, buf, cut1);
        send_raw(raw, buf + cut1, cut2 - cut1);
        send_raw(raw, buf + cut2, n - cut2);
        const char *want[] = {"alpha", "be", "gamma!", "split"};
        for (int i = 0; i < 4; i++) {
            char got[64];
            size_t g = recv_msg(framed, got, sizeof got);
            cr_assert_eq(g, strlen(want[i]), "packet %zu, message %d: %zu bytes", h, i, g);
            cr_assert_arr_eq(got, want[i], g);
        }
        tls_close(raw);
        tls_close(framed);
    }
}

/* tls_send adds the prefix; the raw side reads it byte for byte */
Test(packet, send_adds_the_prefix_and_refuses_what_it_cannot_hold)
{
    tls_socket *raw, *framed;
    pair_up(&raw, &framed);
    set_packet(framed, TLS_PACKET_2, 0);
    send_raw(framed, "hello", 5);
    uint8_t got[7];
    tls_error err;
    cr_assert_eq(tls_recv(raw, got, sizeof got, 7, T_MS, &err), 7, "%s", fmt(&err));
    cr_assert_arr_eq(got, "\x00\x05hello", 7);
    set_packet(framed, TLS_PACKET_1, 0);
    static uint8_t big[300];
    cr_assert_eq(tls_send(framed, big, sizeof big, &err), TLS_E_MSGSIZE);
    cr_assert(strstr(err.detail, "300") && strstr(err.detail, "255"), "detail: %s", err.detail);
    tls_close(raw);
    tls_close(framed);
}

Test(packet, lines_come_whole)
{
    tls_socket *raw, *framed;
    pair_up(&raw, &framed);
    set_packet(framed, TLS_PACKET_LINE, 0);
    send_raw(raw, "a\nbb\nccc\n", 9);
    send_raw(raw, "dd", 2);
    send_raw(raw, "dd", 2);
    send_raw(raw, "\n", 1);
    const char *want[] = {"a\n", "bb\n", "ccc\n", "dddd\n"};
    for (int i = 0; i < 4; i++) {
        char got[64];
        size_t g = recv_msg(framed, got, sizeof got);
        cr_assert_eq(g, strlen(want[i]), "line %d: %zu bytes", i, g);
        cr_assert_arr_eq(got, want[i], g);
    }
    tls_close(raw);
    tls_close(framed);
}

/* over packet_size: emsgsize naming both sizes, the message dropped as its
 * bytes arrive, the next one whole */
Test(packet, over_packet_size_is_emsgsize_and_the_stream_stays_in_step)
{
    tls_socket *raw, *framed;
    pair_up(&raw, &framed);
    set_packet(framed, TLS_PACKET_2, 100);
    static uint8_t msg[2 + 200];
    put_prefix(msg, 2, 200);
    memset(msg + 2, 'x', 200);
    send_raw(raw, msg, 2 + 50); /* the rest arrives after the error */
    char got[256];
    tls_error err;
    cr_assert_eq(tls_recv(framed, got, sizeof got, 0, T_MS, &err), TLS_E_MSGSIZE, "%s", fmt(&err));
    cr_assert(strstr(err.detail, "200") && strstr(err.detail, "100"), "detail: %s", err.detail);
    cr_assert(strstr(fmt(&err), "emsgsize"), "%s", fmt_buf);
    send_raw(raw, msg + 52, 150);
    send_raw(raw, "\x00\x03" "end", 5);
    size_t g = recv_msg(framed, got, sizeof got);
    cr_assert_eq(g, 3);
    cr_assert_arr_eq(got, "end", 3);

    /* a line with no newline within packet_size, then a short one */
    set_packet(framed, TLS_PACKET_LINE, 8);
    send_raw(raw, "0123456789", 10);
    cr_assert_eq(tls_recv(framed, got, sizeof got, 0, T_MS, &err), TLS_E_MSGSIZE, "%s", fmt(&err));
    cr_assert(strstr(err.detail, "packet_size 8"), "detail: %s", err.detail);
    send_raw(raw, "abc\nok\n", 7);
    g = recv_msg(framed, got, sizeof got);
    cr_assert_eq(g, 3, "after the long line: %zu bytes", g);
    cr_assert_arr_eq(got, "ok\n", 3);
    tls_close(raw);
    tls_close(framed);
}

/* setopts on a live socket frames what is already buffered by the new setting */
Test(packet, setopts_reframes_buffered_bytes)
{
    tls_socket *raw, *framed;
    pair_up(&raw, &framed);
    send_raw(raw, "\x00\x00\x00\x02hi\x00\x00\x00\x03you\x01z" "line one\nrest", 28);
    char got[64];
    tls_error err;
    /* raw: exactly the first message with its prefix */
    cr_assert_eq(tls_recv(framed, got, sizeof got, 6, T_MS, &err), 6, "%s", fmt(&err));
    cr_assert_arr_eq(got, "\x00\x00\x00\x02hi", 6);
    /* the rest is buffered by now: framed by each new setting in turn */
    set_packet(framed, TLS_PACKET_4, 0);
    cr_assert_eq(recv_msg(framed, got, sizeof got), 3);
    cr_assert_arr_eq(got, "you", 3);
    set_packet(framed, TLS_PACKET_1, 0);
    cr_assert_eq(recv_msg(framed, got, sizeof got), 1);
    cr_assert_eq(got[0], 'z');
    set_packet(framed, TLS_PACKET_LINE, 0);
    cr_assert_eq(recv_msg(framed, got, sizeof got), 9);
    cr_assert_arr_eq(got, "line one\n", 9);
    set_packet(framed, TLS_PACKET_RAW, 0);
    ssize_t r = tls_recv(framed, got, sizeof got, 0, T_MS, &err);
    cr_assert_eq(r, 4, "raw after framing: %zd (%s)", r, fmt(&err));
    cr_assert_arr_eq(got, "rest", 4);
    tls_sockopts now;
    cr_assert_eq(tls_getopts(framed, &now), TLS_OK);
    cr_assert_eq(now.packet, TLS_PACKET_RAW);
    cr_assert_eq(now.packet_size, TLS_PACKET_SIZE_DEFAULT);
    tls_close(raw);
    tls_close(framed);
}

Test(packet, argument_errors)
{
    tls_socket *raw, *framed;
    pair_up(&raw, &framed);
    set_packet(framed, TLS_PACKET_4, 0);
    char got[4];
    tls_error err;
    cr_assert_eq(tls_recv(framed, got, sizeof got, 2, T_MS, &err), TLS_E_BADARG);
    cr_assert(strstr(err.detail, "length must be 0"), "%s", err.detail);
    send_raw(raw, "\x00\x00\x00\x06" "sixsix", 10);
    cr_assert_eq(tls_recv(framed, got, sizeof got, 0, T_MS, &err), TLS_E_BADARG);
    cr_assert(strstr(err.detail, "6 bytes") && strstr(err.detail, "buffer of 4"), "%s", err.detail);
    char big[16];
    cr_assert_eq(recv_msg(framed, big, sizeof big), 6, "the message stayed for the next call");
    tls_sockopts bad = {TLS_ACTIVE_FALSE, -1, -1, (tls_packet)42, 0};
    cr_assert_eq(tls_setopts(framed, &bad, &err), TLS_E_BADARG);
    tls_close(raw);
    tls_close(framed);
}

/* active mode: one event a whole message, emsgsize as an error event */
typedef struct {
    pthread_mutex_t m;
    int n_data, n_error;
    char msgs[8][32];
    size_t lens[8];
    char error[256];
} box;

static void owner(tls_socket *s, tls_msg_kind kind, const uint8_t *data, size_t len, const tls_error *err,
                  void *arg)
{
    (void)s;
    box *b = arg;
    pthread_mutex_lock(&b->m);
    if (kind == TLS_MSG_DATA && b->n_data < 8) {
        size_t n = len < 32 ? len : 32;
        memcpy(b->msgs[b->n_data], data, n);
        b->lens[b->n_data++] = len;
    } else if (kind == TLS_MSG_ERROR) {
        b->n_error++;
        snprintf(b->error, sizeof b->error, "%s", err ? err->detail : "");
    }
    pthread_mutex_unlock(&b->m);
}

static int box_count(box *b, int *errors)
{
    pthread_mutex_lock(&b->m);
    int n = b->n_data;
    *errors = b->n_error;
    pthread_mutex_unlock(&b->m);
    return n;
}

Test(packet, active_mode_delivers_one_message_an_event)
{
    tls_socket *raw, *framed;
    pair_up(&raw, &framed);
    box b;
    memset(&b, 0, sizeof b);
    pthread_mutex_init(&b.m, NULL);
    tls_error err;
    cr_assert_eq(tls_controlling_process(framed, owner, &b), TLS_OK);
    tls_sockopts so = {TLS_ACTIVE_TRUE, -1, -1, TLS_PACKET_2, 10};
    cr_assert_eq(tls_setopts(framed, &so, &err), TLS_OK, "%s", fmt(&err));
    send_raw(raw, "\x00\x03one\x00\x03two\x00\x05th", 14);
    send_raw(raw, "ree\x00\x0b" "elevenbytes\x00\x02ok", 20);
    int errors = 0;
    for (int i = 0; i < 500 && box_count(&b, &errors) < 4; i++)
        usleep(10000);
    cr_assert_eq(box_count(&b, &errors), 4, "events: %d data, %d errors", b.n_data, errors);
    cr_assert_eq(errors, 1, "the 11-byte message over packet_size 10 is one error event");
    cr_assert(strstr(b.error, "11") && strstr(b.error, "10"), "error: %s", b.error);
    const char *want[] = {"one", "two", "three", "ok"};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(b.lens[i], strlen(want[i]), "event %d: %zu bytes", i, b.lens[i]);
        cr_assert_arr_eq(b.msgs[i], want[i], b.lens[i]);
    }
    tls_close(raw);
    tls_close(framed);
}
