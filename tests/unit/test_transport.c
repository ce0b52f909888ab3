/* "Ssl may be run over any reliable transport": the socket API over
 * transports whose context is not an fd (tls_connect_transport,
 * tls_ssl_accept_transport), driven through the blocking calls:
 * - a pair of in-memory byte queues, waited on with a condition variable;
 * - TLS inside TLS: the inner connection's transport is an outer tls_socket.
 * Each checks the handshake, data both ways, a recv timeout and the end. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "lib/sockets.h"
#include "tlsengine_socket.h"

#define T_MS 5000

static char fmt_buf[512];
static const char *fmt(const tls_error *e) { return tls_format_error(e, fmt_buf, sizeof fmt_buf); }

/* ---- in-memory queues ---------------------------------------------------- */

typedef struct {
    pthread_mutex_t m;
    pthread_cond_t c;
    uint8_t buf[1 << 16];
    size_t len;
    bool closed; /* the writer closed: EOF once drained */
} queue;

typedef struct {
    queue *in, *out;
} mem_end;

static void queue_init(queue *q)
{
    memset(q, 0, sizeof *q);
    pthread_mutex_init(&q->m, NULL);
    pthread_cond_init(&q->c, NULL);
}

static ssize_t mem_send(void *ctx, const void *p, size_t n)
{
    queue *q = ((mem_end *)ctx)->out;
    pthread_mutex_lock(&q->m);
    size_t room = sizeof q->buf - q->len;
    size_t k = n < room ? n : room;
    memcpy(q->buf + q->len, p, k);
    q->len += k;
    pthread_cond_broadcast(&q->c);
    pthread_mutex_unlock(&q->m);
    if (k == 0) {
        errno = EAGAIN;
        return -1;
    }
    return (ssize_t)k;
}

static ssize_t mem_recv(void *ctx, void *p, size_t n)
{
    queue *q = ((mem_end *)ctx)->in;
    pthread_mutex_lock(&q->m);
    size_t k = n < q->len ? n : q->len;
    memcpy(p, q->buf, k);
    memmove(q->buf, q->buf + k, q->len - k);
    q->len -= k;
    bool eof = k == 0 && q->closed;
    pthread_mutex_unlock(&q->m);
    if (k == 0 && !eof) {
        errno = EAGAIN;
        return -1;
    }
    return (ssize_t)k;
}

static int mem_close(void *ctx)
{
    queue *q = ((mem_end *)ctx)->out;
    pthread_mutex_lock(&q->m);
    q->closed = true;
    pthread_cond_broadcast(&q->c);
    pthread_mutex_unlock(&q->m);
    return 0;
}

/* POLLIN: bytes or EOF in our queue; POLLOUT: the queue never stays full here */
static int mem_wait(void *ctx, short events, int timeout_ms)
{
    if (!(events & POLLIN))
        return 1;
    queue *q = ((mem_end *)ctx)->in;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    if (timeout_ms >= 0) {
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&q->m);
    int r = 1;
    while (q->len == 0 && !q->closed) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&q->c, &q->m);
        } else if (pthread_cond_timedwait(&q->c, &q->m, &until) == ETIMEDOUT) {
            r = q->len > 0 || q->closed;
            break;
        }
    }
    pthread_mutex_unlock(&q->m);
    return r;
}

static const tls_transport mem_transport = {
    .send = mem_send,
    .recv = mem_recv,
    .close = mem_close,
    .wait = mem_wait,
    .name = "the in-memory pipe",
};

/* a client and a server socket over tr (ctxs for each end) */
static void pair_over(const tls_transport *tr, void *cctx, void *sctx, tls_socket **c, tls_socket **s)
{
    tls_options o;
    sockets_client_options(&o);
    char why[600];
    cr_assert(sockets_join_transport(tr, cctx, sctx, &o, c, s, why, sizeof why), "%s", why);
}

/* data both ways, a timeout that keeps nothing lost, then the end */
static void exchange(tls_socket *c, tls_socket *s)
{
    tls_error err;
    char buf[64];
    cr_assert_eq(tls_send(c, "ping over any transport", 23, &err), TLS_OK, "%s", fmt(&err));
    cr_assert_eq(tls_recv(s, buf, sizeof buf, 23, T_MS, &err), 23, "%s", fmt(&err));
    cr_assert_arr_eq(buf, "ping over any transport", 23);
    cr_assert_eq(tls_recv(c, buf, sizeof buf, 0, 100, &err), TLS_E_TIMEOUT, "nothing sent yet: %s",
                 fmt(&err));
    cr_assert_eq(tls_send(s, "pong", 4, &err), TLS_OK, "%s", fmt(&err));
    cr_assert_eq(tls_recv(c, buf, sizeof buf, 4, T_MS, &err), 4, "%s", fmt(&err));
    cr_assert_arr_eq(buf, "pong", 4);
    uint16_t v = 0;
    cr_assert_eq(tls_connection_info(c, &v, NULL), TLS_OK);
    cr_assert_eq(v, TLS_TLS13);
    tls_close(c);
    cr_assert_eq(tls_recv(s, buf, sizeof buf, 0, T_MS, &err), TLS_E_CLOSED, "after the peer's close: %s",
                 fmt(&err));
    tls_close(s);
}

TestSuite(transport, .timeout = 30);

Test(transport, in_memory_queues_through_the_blocking_api)
{
    queue *ab = malloc(sizeof *ab), *ba = malloc(sizeof *ba);
    cr_assert(ab && ba);
    queue_init(ab);
    queue_init(ba);
    mem_end cend = {.in = ba, .out = ab}, send_ = {.in = ab, .out = ba};
    tls_socket *c, *s;
    pair_over(&mem_transport, &cend, &send_, &c, &s);
    /* no fd: no address, no active mode, and errors name the transport */
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    cr_assert_eq(tls_peername(c, &ss, &sl), TLS_E_STATE);
    tls_sockopts act = {TLS_ACTIVE_TRUE, -1, -1, TLS_PACKET_KEEP, 0};
    tls_error err;
    cr_assert_eq(tls_setopts(c, &act, &err), TLS_E_BADARG);
    cr_assert(strstr(err.detail, "the in-memory pipe"), "%s", err.detail);
    cr_assert_eq(tls_socket_fd(c), -1);
    exchange(c, s);
    free(ab);
    free(ba);
}

Test(transport, refuses_a_transport_it_cannot_wait_on)
{
    static const tls_transport no_wait = {.send = mem_send, .recv = mem_recv, .close = mem_close};
    tls_options o;
    sockets_client_options(&o);
    tls_socket *c = NULL;
    tls_error err;
    cr_assert_eq(tls_connect_transport(&no_wait, NULL, &o, T_MS, &c, &err), TLS_E_BADARG);
    cr_assert(strstr(err.detail, "neither wait nor fd"), "%s", err.detail);
    cr_assert_eq(tls_connect_transport(NULL, NULL, &o, T_MS, &c, &err), TLS_E_BADARG);
    cr_assert_null(c);
}

/* ---- TLS inside TLS ---------------------------------------------------- */

/* The inner connection's transport: an outer tls_socket. recv serves what
 * wait already took from the outer connection (tls_recv cannot peek). */
typedef struct {
    tls_socket *outer;
    uint8_t stash[16384];
    size_t off, len;
    bool eof;
} tunnel;

static ssize_t tun_send(void *ctx, const void *p, size_t n)
{
    tunnel *t = ctx;
    tls_error err;
    if (tls_send(t->outer, p, n, &err) != TLS_OK) {
        errno = EPIPE;
        return -1;
    }
    return (ssize_t)n;
}

/* takes what the outer connection has within ms into the stash */
static int tun_fill(tunnel *t, int ms)
{
    if (t->off < t->len || t->eof)
        return 1;
    tls_error err;
    ssize_t n = tls_recv(t->outer, t->stash, sizeof t->stash, 0, ms, &err);
    if (n > 0) {
        t->off = 0;
        t->len = (size_t)n;
        return 1;
    }
    if (n == TLS_E_TIMEOUT)
        return 0;
    t->eof = true; /* closed or failed: the inner connection sees its end */
    return 1;
}

static ssize_t tun_recv(void *ctx, void *p, size_t n)
{
    tunnel *t = ctx;
    (void)tun_fill(t, 0);
    if (t->off == t->len) {
        if (t->eof)
            return 0;
        errno = EAGAIN;
        return -1;
    }
    size_t k = t->len - t->off < n ? t->len - t->off : n;
    memcpy(p, t->stash + t->off, k);
    t->off += k;
    return (ssize_t)k;
}

static int tun_wait(void *ctx, short events, int timeout_ms)
{
    if (!(events & POLLIN))
        return 1; /* tun_send blocks in tls_send until the outer takes it */
    return tun_fill(ctx, timeout_ms);
}

static int tun_close(void *ctx)
{
    return tls_close(((tunnel *)ctx)->outer);
}

static const tls_transport tunnel_transport = {
    .send = tun_send,
    .recv = tun_recv,
    .close = tun_close,
    .wait = tun_wait,
    .name = "the outer TLS connection",
};

Test(transport, tls_inside_tls_through_the_blocking_api)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    tls_options o;
    sockets_client_options(&o);
    o.versions = TLS_VMASK_TLS12; /* the outer at 1.2, the inner at 1.3: two different sessions */
    tls_socket *oc = NULL, *os = NULL;
    char why[600];
    cr_assert(sockets_join_fds(sv[0], sv[1], &o, &oc, &os, why, sizeof why), "outer: %s", why);
    tunnel *ct = calloc(1, sizeof *ct), *st = calloc(1, sizeof *st);
    cr_assert(ct && st);
    ct->outer = oc;
    st->outer = os;
    tls_socket *c, *s;
    pair_over(&tunnel_transport, ct, st, &c, &s);
    uint16_t v = 0;
    cr_assert_eq(tls_connection_info(oc, &v, NULL), TLS_OK);
    cr_assert_eq(v, TLS_TLS12, "the outer connection is its own session");
    exchange(c, s); /* closing the inner sockets closes the outer ones (tun_close) */
    free(ct);
    free(st);
}
