/* The socket API, engine to engine over real loopback sockets (and over a
 * socketpair with a custom transport): connect/listen/accept, recv's Length
 * semantics and timeouts, close and shutdown, addresses, connection facts,
 * peercert, active mode, renegotiation, and the errors of each.
 * The test PKI: $PKI, else generated (tests/unit/lib/pair.c). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/pair.h"
#include "tlsengine_socket.h"

#define T_MS 5000 /* generous handshake / accept timeouts: tests must not hang */

static char fmt_buf[512];
static const char *fmt(const tls_error *e) { return tls_format_error(e, fmt_buf, sizeof fmt_buf); }

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int port_of(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

/* ---- a server thread ----------------------------------------------------------- */

typedef struct srv srv;
typedef void (*srv_fn)(srv *sv, tls_socket *s);

struct srv {
    tls_options o;
    char certfile[600], keyfile[600], cacertfile[600];
    tls_socket *l;
    int port;
    srv_fn fn;
    pthread_t t;
    int hs_rc;
    tls_error hs_err;
    /* steps: the client and server take turns */
    pthread_mutex_t m;
    pthread_cond_t c;
    int step;
    /* what the server saw */
    char got[256];
    size_t got_len;
    int rc;
    int reneg_rc;
    tls_error err;
    struct sockaddr_storage peer;
};

static void step_set(srv *sv, int n)
{
    pthread_mutex_lock(&sv->m);
    sv->step = n;
    pthread_cond_broadcast(&sv->c);
    pthread_mutex_unlock(&sv->m);
}

static bool step_wait(srv *sv, int n)
{
    int64_t until = now_ms() + T_MS;
    pthread_mutex_lock(&sv->m);
    while (sv->step < n && now_ms() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&sv->c, &sv->m, &ts);
    }
    bool ok = sv->step >= n;
    pthread_mutex_unlock(&sv->m);
    return ok;
}

static void *srv_main(void *arg)
{
    srv *sv = arg;
    tls_socket *s = NULL;
    sv->hs_rc = tls_transport_accept(sv->l, T_MS, &s, &sv->hs_err);
    if (sv->hs_rc == TLS_OK) {
        sv->hs_rc = tls_ssl_accept(s, T_MS, &sv->hs_err);
        socklen_t len = sizeof sv->peer;
        (void)tls_peername(s, &sv->peer, &len);
    }
    if (sv->hs_rc == TLS_OK && sv->fn)
        sv->fn(sv, s);
    if (s)
        tls_close(s);
    step_set(sv, 1000);
    return NULL;
}

static void srv_init(srv *sv)
{
    memset(sv, 0, sizeof *sv);
    pthread_mutex_init(&sv->m, NULL);
    pthread_cond_init(&sv->c, NULL);
    tls_options_init(&sv->o);
    snprintf(sv->certfile, sizeof sv->certfile, "%s", pki("server.pem"));
    snprintf(sv->keyfile, sizeof sv->keyfile, "%s", pki("server.key"));
    snprintf(sv->cacertfile, sizeof sv->cacertfile, "%s", pki("ca.pem"));
    sv->o.certfile = sv->certfile;
    sv->o.keyfile = sv->keyfile;
}

static void srv_start(srv *sv, srv_fn fn)
{
    tls_error err;
    sv->fn = fn;
    cr_assert_eq(tls_listen(0, &sv->o, &sv->l, &err), TLS_OK, "listen: %s", fmt(&err));
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    cr_assert_eq(tls_sockname(sv->l, &ss, &len), TLS_OK);
    sv->port = port_of(&ss);
    cr_assert(sv->port > 0);
    cr_assert_eq(pthread_create(&sv->t, NULL, srv_main, sv), 0);
}

static void srv_join(srv *sv)
{
    pthread_join(sv->t, NULL);
    tls_close(sv->l);
}

static void client_opts(tls_options *o)
{
    static char ca[600];
    snprintf(ca, sizeof ca, "%s", pki("ca.pem"));
    tls_options_init(o);
    o->verify = TLS_VERIFY_PEER;
    o->cacertfile = ca;
}

static tls_socket *client_connect(srv *sv, const tls_options *o)
{
    tls_socket *c = NULL;
    tls_error err;
    int rc = tls_connect("127.0.0.1", sv->port, o, T_MS, &c, &err);
    cr_assert_eq(rc, TLS_OK, "connect: %s (server: %s)", fmt(&err), sv->hs_rc ? "failed" : "ok");
    return c;
}

/* server behaviours */
static void srv_echo(srv *sv, tls_socket *s)
{
    uint8_t buf[4096];
    for (;;) {
        ssize_t n = tls_recv(s, buf, sizeof buf, 0, T_MS, &sv->err);
        if (n <= 0) {
            sv->rc = (int)n;
            return;
        }
        if (tls_send(s, buf, (size_t)n, &sv->err) != TLS_OK)
            return;
    }
}

/* ---- the tests ---------------------------------------------------------------- */

TestSuite(api, .timeout = 30);

Test(api, echo_with_length_zero_and_exact_length)
{
    srv sv;
    srv_init(&sv);
    srv_start(&sv, srv_echo);
    tls_options o;
    client_opts(&o);
    tls_socket *c = client_connect(&sv, &o);
    tls_error err;
    cr_assert_eq(tls_send(c, "hello world", 11, &err), TLS_OK, "%s", fmt(&err));
    char buf[64] = {0};
    /* exactly 5 */
    cr_assert_eq(tls_recv(c, buf, sizeof buf, 5, T_MS, &err), 5, "%s", fmt(&err));
    cr_assert_arr_eq(buf, "hello", 5);
    /* length 0: whatever is there, at least one byte; the rest may come in pieces */
    size_t got = 0;
    while (got < 6) {
        ssize_t n = tls_recv(c, buf + got, sizeof buf - got, 0, T_MS, &err);
        cr_assert_gt(n, 0, "%s", fmt(&err));
        got += (size_t)n;
    }
    cr_assert_eq(got, 6);
    cr_assert_arr_eq(buf, " world", 6);
    /* length 0 respects cap */
    cr_assert_eq(tls_send(c, "abcdef", 6, &err), TLS_OK);
    ssize_t n = tls_recv(c, buf, 2, 0, T_MS, &err);
    cr_assert(n >= 1 && n <= 2, "cap 2 gave %zd", n);
    /* a large transfer in both directions: many records, partial sends */
    size_t big = 300000;
    uint8_t *out = malloc(big), *in = malloc(big);
    for (size_t i = 0; i < big; i++)
        out[i] = (uint8_t)(i * 7 + 3);
    (void)tls_recv(c, buf, sizeof buf, 6 - (size_t)n, T_MS, &err); /* the rest of "abcdef" */
    /* the echo server sends back while we send: read in between in a thread-free way */
    size_t sent = 0, rcvd = 0;
    while (rcvd < big) {
        if (sent < big) {
            size_t k = big - sent < 16384 ? big - sent : 16384;
            cr_assert_eq(tls_send(c, out + sent, k, &err), TLS_OK, "%s", fmt(&err));
            sent += k;
        }
        ssize_t r = tls_recv(c, in + rcvd, big - rcvd, 0, sent == big ? T_MS : 0, &err);
        if (r == TLS_E_TIMEOUT && sent < big)
            continue;
        cr_assert_gt(r, 0, "%s", fmt(&err));
        rcvd += (size_t)r;
    }
    cr_assert_eq(memcmp(out, in, big), 0);
    free(out);
    free(in);
    cr_assert_eq(tls_close(c), TLS_OK);
    srv_join(&sv);
    cr_assert_eq(sv.hs_rc, TLS_OK, "%s", fmt(&sv.hs_err));
    cr_assert_eq(sv.rc, TLS_E_CLOSED, "server ended with %d: %s", sv.rc, fmt(&sv.err));
}

static void srv_silent_then_send(srv *sv, tls_socket *s)
{
    step_wait(sv, 1); /* client saw its timeout */
    tls_send(s, "abc", 3, &sv->err);
    step_wait(sv, 2);
    tls_send(s, "de", 2, &sv->err);
    step_wait(sv, 3);
}

Test(api, recv_timeout_and_partial_data_kept)
{
    srv sv;
    srv_init(&sv);
    srv_start(&sv, srv_silent_then_send);
    tls_options o;
    client_opts(&o);
    tls_socket *c = client_connect(&sv, &o);
    tls_error err;
    char buf[16];
    int64_t t0 = now_ms();
    ssize_t n = tls_recv(c, buf, sizeof buf, 0, 100, &err);
    int64_t dt = now_ms() - t0;
    cr_assert_eq(n, TLS_E_TIMEOUT, "got %zd: %s", n, fmt(&err));
    cr_assert_eq(err.code, TLS_E_TIMEOUT);
    cr_assert(dt >= 90 && dt < 2000, "the 100 ms timeout took %lld ms", (long long)dt);
    step_set(&sv, 1);
    /* 3 of 5 arrive: timeout, but the 3 are kept */
    n = tls_recv(c, buf, sizeof buf, 5, 300, &err);
    cr_assert_eq(n, TLS_E_TIMEOUT, "got %zd: %s", n, fmt(&err));
    step_set(&sv, 2);
    n = tls_recv(c, buf, sizeof buf, 5, T_MS, &err);
    cr_assert_eq(n, 5, "got %zd: %s", n, fmt(&err));
    cr_assert_arr_eq(buf, "abcde", 5);
    step_set(&sv, 3);
    tls_close(c);
    srv_join(&sv);
}

static void srv_send_and_close(srv *sv, tls_socket *s)
{
    tls_send(s, "bye", 3, &sv->err);
    step_wait(sv, 1);
    (void)s; /* srv_main closes it: close_notify */
}

Test(api, peer_close_gives_closed_and_loses_partial_data)
{
    srv sv;
    srv_init(&sv);
    srv_start(&sv, srv_send_and_close);
    tls_options o;
    client_opts(&o);
    tls_socket *c = client_connect(&sv, &o);
    tls_error err;
    char buf[16];
    step_set(&sv, 1);
    /* 3 bytes then close_notify: asking for 10 fails and the 3 are lost (the seed) */
    ssize_t n = tls_recv(c, buf, sizeof buf, 10, T_MS, &err);
    cr_assert_eq(n, TLS_E_CLOSED, "got %zd: %s", n, fmt(&err));
    cr_assert(strstr(err.detail, "close_notify"), "detail: %s", err.detail);
    n = tls_recv(c, buf, sizeof buf, 0, T_MS, &err);
    cr_assert_eq(n, TLS_E_CLOSED);
    /* sending to a peer that closed: either still accepted (half-close) or closed */
    srv_join(&sv);
    tls_close(c);
}

Test(api, peer_close_with_length_zero_delivers_data_first)
{
    srv sv;
    srv_init(&sv);
    srv_start(&sv, srv_send_and_close);
    tls_options o;
    client_opts(&o);
    tls_socket *c = client_connect(&sv, &o);
    tls_error err;
    char buf[16];
    step_set(&sv, 1);
    srv_join(&sv); /* the server has closed: data and close_notify are on the wire */
    ssize_t n = tls_recv(c, buf, sizeof buf, 0, T_MS, &err);
    cr_assert_eq(n, 3, "got %zd: %s", n, fmt(&err));
    cr_assert_arr_eq(buf, "bye", 3);
    n = tls_recv(c, buf, sizeof buf, 0, T_MS, &err);
    cr_assert_eq(n, TLS_E_CLOSED, "got %zd: %s", n, fmt(&err));
    tls_close(c);
}

static void srv_half_close(srv *sv, tls_socket *s)
{
    char buf[16];
    ssize_t n = tls_recv(s, buf, sizeof buf, 4, T_MS, &sv->err);
    if (n == 4)
        memcpy(sv->got, buf, 4), sv->got_len = 4;
    sv->rc = (int)tls_recv(s, buf, sizeof buf, 0, T_MS, &sv->err); /* the client's close_notify */
    tls_send(s, "pong", 4, &sv->err); /* we may still write */
}

Test(api, shutdown_write_keeps_reading)
{
    srv sv;
    srv_init(&sv);
    srv_start(&sv, srv_half_close);
    tls_options o;
    client_opts(&o);
    tls_socket *c = client_connect(&sv, &o);
    tls_error err;
    cr_assert_eq(tls_send(c, "ping", 4, &err), TLS_OK);
    cr_assert_eq(tls_shutdown(c, TLS_SHUT_WRITE, &err), TLS_OK, "%s", fmt(&err));
    cr_assert_eq(tls_send(c, "more", 4, &err), TLS_E_CLOSED);
    char buf[16];
    ssize_t n = tls_recv(c, buf, sizeof buf, 4, T_MS, &err);
    cr_assert_eq(n, 4, "got %zd: %s", n, fmt(&err));
    cr_assert_arr_eq(buf, "pong", 4);
    srv_join(&sv);
    cr_assert_eq(sv.got_len, 4);
    cr_assert_arr_eq(sv.got, "ping", 4);
    cr_assert_eq(sv.rc, TLS_E_CLOSED, "server's recv after close_notify: %d", sv.rc);
    n = tls_recv(c, buf, sizeof buf, 0, T_MS, &err);
    cr_assert_eq(n, TLS_E_CLOSED);
    /* shutdown(read): recv reports closed at once */
    tls_close(c);
}

Test(api, shutdown_read)
{
    srv sv;
    srv_init(&sv);
    srv_start(&sv, srv_echo);
    tls_options o;
    client_opts(&o);
    tls_socket *c = client_connect(&sv, &o);
    tls_error err;
    cr_assert_eq(tls_shutdown(c, TLS_SHUT_READ, &err), TLS_OK, "%s", fmt(&err));
    char buf[8];
    cr_assert_eq(tls_recv(c, buf, sizeof buf, 0, 100, &err), TLS_E_CLOSED);
    cr_assert_eq(tls_shutdown(c, 77, &err), TLS_E_BADARG);
    tls_close(c);
    srv_join(&sv);
}

Test(api, addresses_info_and_peercert)
{
    srv sv;
    srv_init(&sv);
    srv_start(&sv, srv_echo);
    tls_options o;
    client_opts(&o);
    tls_socket *c = client_connect(&sv, &o);
    tls_error err;
    struct sockaddr_storage peer, me;
    socklen_t pl = sizeof peer, ml = sizeof me;
    cr_assert_eq(tls_peername(c, &peer, &pl), TLS_OK);
    cr_assert_eq(tls_sockname(c, &me, &ml), TLS_OK);
    cr_assert_eq(peer.ss_family, AF_INET);
    cr_assert_eq(port_of(&peer), sv.port);
    cr_assert_eq(((struct sockaddr_in *)&peer)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    /* the handshake is done on both sides once the echo comes back */
    cr_assert_eq(tls_send(c, "x", 1, &err), TLS_OK);
    char b;
    cr_assert_eq(tls_recv(c, &b, 1, 1, T_MS, &err), 1);
    /* the server saw our address, as IPv4 even on a dual-stack listener */
    cr_assert_eq(sv.peer.ss_family, AF_INET, "server's peername family %d", sv.peer.ss_family);
    cr_assert_eq(port_of(&sv.peer), port_of(&me));

    uint16_t version = 0;
    const tls_suite_info *suite = NULL;
    cr_assert_eq(tls_connection_info(c, &version, &suite), TLS_OK);
    cr_assert(version == TLS_TLS12 || version == TLS_TLS13, "version 0x%04x", version);
    cr_assert_not_null(suite);
    cr_assert_not_null(suite->openssl_name);
    cr_assert_eq(tls_socket_engine(c) != NULL, true);
    cr_assert_geq(tls_socket_fd(c), 0);

    const uint8_t *der;
    size_t len;
    cr_assert_eq(tls_peercert(c, &der, &len), TLS_OK);
    FILE *f = fopen(pki("server.der"), "rb");
    cr_assert_not_null(f);
    static uint8_t want[8192];
    size_t wl = fread(want, 1, sizeof want, f);
    fclose(f);
    cr_assert_eq(len, wl);
    cr_assert_eq(memcmp(der, want, wl), 0, "peercert differs from server.der");
    tls_close(c);
    srv_join(&sv);
}

Test(api, server_sees_client_cert_and_no_cert_is_state)
{
    srv sv;
    srv_init(&sv);
    sv.o.verify = TLS_VERIFY_PEER;
    sv.o.cacertfile = sv.cacertfile;
    srv_start(&sv, srv_echo);
    tls_options o;
    client_opts(&o);
    char cert[600], key[600];
    snprintf(cert, sizeof cert, "%s", pki("client.pem"));
    snprintf(key, sizeof key, "%s", pki("client.key"));
    o.certfile = cert;
    o.keyfile = key;
    tls_socket *c = client_connect(&sv, &o);
    tls_error err;
    cr_assert_eq(tls_send(c, "x", 1, &err), TLS_OK);
    char b;
    cr_assert_eq(tls_recv(c, &b, 1, 1, T_MS, &err), 1, "%s", fmt(&err));
    tls_close(c);
    srv_join(&sv);
    cr_assert_eq(sv.hs_rc, TLS_OK, "%s", fmt(&sv.hs_err));

    /* a listener without client verification: peercert on the server is TLS_E_STATE */
    tls_socket *l = NULL;
    tls_options so;
    tls_options_init(&so);
    so.certfile = sv.certfile;
    so.keyfile = sv.keyfile;
    cr_assert_eq(tls_listen(0, &so, &l, &err), TLS_OK);
    tls_socket *a = NULL;
    cr_assert_eq(tls_transport_accept(l, 100, &a, &err), TLS_E_TIMEOUT);
    cr_assert_eq(err.code, TLS_E_TIMEOUT);
    cr_assert_null(a);
    const uint8_t *der;
    size_t len;
    cr_assert_neq(tls_peercert(l, &der, &len), TLS_OK);
    tls_close(l);
}

Test(api, connect_errors)
{
    tls_options o;
    client_opts(&o);
    tls_error err;
    tls_socket *c = (tls_socket *)1;
    /* a port nobody listens on: get one, then close it */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    getsockname(fd, (struct sockaddr *)&a, &al);
    int port = ntohs(a.sin_port);
    close(fd);
    int rc = tls_connect("127.0.0.1", port, &o, T_MS, &c, &err);
    cr_assert_eq(rc, TLS_E_SYSCALL, "%s", fmt(&err));
    cr_assert_null(c);
    cr_assert_eq(err.sys_errno, ECONNREFUSED);
    char want[64];
    snprintf(want, sizeof want, "connect 127.0.0.1:%d", port);
    cr_assert(strstr(err.detail, want), "detail: %s", err.detail);
    cr_assert(strstr(fmt(&err), "Connection refused"), "%s", fmt_buf);

    /* a TCP server that accepts but never speaks: the handshake times out */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_port = 0;
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(fd, 4), 0);
    al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    int64_t t0 = now_ms();
    rc = tls_connect("127.0.0.1", ntohs(a.sin_port), &o, 200, &c, &err);
    int64_t dt = now_ms() - t0;
    cr_assert_eq(rc, TLS_E_TIMEOUT, "%s", fmt(&err));
    cr_assert(dt >= 150 && dt < 3000, "took %lld ms", (long long)dt);
    close(fd);

    cr_assert_eq(tls_connect("no-such-host.invalid", 443, &o, 2000, &c, &err), TLS_E_SYSCALL);
    cr_assert(strstr(err.detail, "no-such-host.invalid"), "%s", err.detail);
    cr_assert_eq(tls_connect(NULL, 443, &o, 100, &c, &err), TLS_E_BADARG);
    cr_assert_eq(tls_connect("127.0.0.1", 0, &o, 100, &c, &err), TLS_E_BADARG);
    cr_assert_eq(tls_listen(70000, &o, &c, &err), TLS_E_BADARG);
}

/* A peer that answers the ClientHello with garbage: connect_fd fails and
 * leaves the fd open for the caller. */
Test(api, connect_fd_failure_keeps_fd)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    const char junk[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
    cr_assert_eq(write(sv[1], junk, sizeof junk - 1), (ssize_t)(sizeof junk - 1));
    tls_options o;
    client_opts(&o);
    tls_socket *c = NULL;
    tls_error err;
    int rc = tls_connect_fd(sv[0], &o, T_MS, &c, &err);
    cr_assert_neq(rc, TLS_OK);
    cr_assert_null(c);
    cr_assert_neq(fcntl(sv[0], F_GETFD), -1, "the fd was closed");
    cr_assert_eq(fcntl(sv[0], F_GETFL) & O_NONBLOCK, 0, "the fd's blocking mode was not restored");
    /* the engine told the peer why (an alert record) */
    char rec[8];
    ssize_t n = recv(sv[1], rec, sizeof rec, MSG_DONTWAIT);
    (void)n;
    close(sv[0]);
    close(sv[1]);
}

/* ---- a custom transport: counts bytes, sends at most 7 bytes a call ---------- */

static atomic_long ct_sent, ct_rcvd, ct_send_calls, ct_closes;

static ssize_t ct_send(void *ctx, const void *buf, size_t len)
{
    atomic_fetch_add(&ct_send_calls, 1);
    ssize_t n = send((int)(intptr_t)ctx, buf, len > 7 ? 7 : len, MSG_NOSIGNAL);
    if (n > 0)
        atomic_fetch_add(&ct_sent, n);
    return n;
}

static ssize_t ct_recv(void *ctx, void *buf, size_t len)
{
    ssize_t n = recv((int)(intptr_t)ctx, buf, len > 5 ? 5 : len, 0);
    if (n > 0)
        atomic_fetch_add(&ct_rcvd, n);
    return n;
}

static int ct_close(void *ctx)
{
    atomic_fetch_add(&ct_closes, 1);
    return close((int)(intptr_t)ctx);
}

static int ct_fd(void *ctx) { return (int)(intptr_t)ctx; }
static int ct_shutdown(void *ctx, int how) { return shutdown((int)(intptr_t)ctx, how); }

static const tls_transport counting = {ct_send, ct_recv, ct_close, ct_fd, ct_shutdown};

typedef struct ct_server {
    int fd;
    tls_options o;
    int rc;
    tls_error err;
} ct_server;

static void *ct_server_main(void *arg)
{
    ct_server *cs = arg;
    tls_socket *s = NULL;
    cs->rc = tls_ssl_accept_fd(cs->fd, &cs->o, T_MS, &s, &cs->err);
    if (cs->rc != TLS_OK)
        return NULL;
    uint8_t buf[1000];
    for (;;) {
        ssize_t n = tls_recv(s, buf, sizeof buf, 0, T_MS, &cs->err);
        if (n <= 0)
            break;
        if (tls_send(s, buf, (size_t)n, &cs->err) != TLS_OK)
            break;
    }
    tls_close(s);
    return NULL;
}

Test(api, custom_transport_over_socketpair)
{
    int sp[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    ct_server cs = {.fd = sp[1]};
    tls_options_init(&cs.o);
    char cert[600], key[600];
    snprintf(cert, sizeof cert, "%s", pki("server.pem"));
    snprintf(key, sizeof key, "%s", pki("server.key"));
    cs.o.certfile = cert;
    cs.o.keyfile = key;
    cs.o.transport = &counting;
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, ct_server_main, &cs), 0);

    tls_options o;
    client_opts(&o);
    o.server_name = "localhost";
    o.transport = &counting;
    tls_socket *c = NULL;
    tls_error err;
    cr_assert_eq(tls_connect_fd(sp[0], &o, T_MS, &c, &err), TLS_OK, "%s", fmt(&err));
    const char msg[] = "through a transport that moves 7 bytes at a time";
    cr_assert_eq(tls_send(c, msg, sizeof msg, &err), TLS_OK, "%s", fmt(&err));
    char buf[sizeof msg];
    cr_assert_eq(tls_recv(c, buf, sizeof buf, sizeof msg, T_MS, &err), (ssize_t)sizeof msg, "%s", fmt(&err));
    cr_assert_str_eq(buf, msg);
    /* nodelay on a unix socket: accepted and ignored */
    tls_sockopts so = {TLS_ACTIVE_FALSE, 1, -1};
    cr_assert_eq(tls_setopts(c, &so, &err), TLS_OK, "%s", fmt(&err));
    cr_assert_eq(tls_close(c), TLS_OK);
    pthread_join(t, NULL);
    cr_assert_eq(cs.rc, TLS_OK, "%s", fmt(&cs.err));
    long sent = atomic_load(&ct_sent), rcvd = atomic_load(&ct_rcvd);
    cr_assert_gt(sent, (long)(2 * sizeof msg), "only %ld bytes went through the transport", sent);
    cr_assert_gt(atomic_load(&ct_send_calls), sent / 7 - 1, "sends were not split");
    cr_assert_gt(rcvd, 0);
    cr_assert_eq(atomic_load(&ct_closes), 2, "both ends closed through the transport");
}

/* ---- active mode ------------------------------------------------------------------- */

typedef struct inbox {
    pthread_mutex_t m;
    pthread_cond_t c;
    char data[4096];
    size_t len;
    int n_data, n_closed, n_error;
    tls_socket *sock;
    bool echo; /* send each message back from inside the callback */
} inbox;

static void owner_cb(tls_socket *s, tls_msg_kind kind, const uint8_t *data, size_t len, const tls_error *err,
                     void *arg)
{
    inbox *b = arg;
    (void)err;
    if (b->echo && kind == TLS_MSG_DATA) {
        tls_error e;
        tls_send(s, data, len, &e);
    }
    pthread_mutex_lock(&b->m);
    b->sock = s;
    if (kind == TLS_MSG_DATA) {
        b->n_data++;
        if (b->len + len <= sizeof b->data) {
            memcpy(b->data + b->len, data, len);
            b->len += len;
        }
    } else if (kind == TLS_MSG_CLOSED) {
        b->n_closed++;
    } else {
        b->n_error++;
    }
    pthread_cond_broadcast(&b->c);
    pthread_mutex_unlock(&b->m);
}

/* waits until the inbox holds `len` bytes (or `closed` closed messages) */
static bool inbox_wait(inbox *b, size_t len, int closed, int ms)
{
    int64_t until = now_ms() + ms;
    pthread_mutex_lock(&b->m);
    while ((b->len < len || b->n_closed < closed) && now_ms() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&b->c, &b->m, &ts);
    }
    bool ok = b->len >= len && b->n_closed >= closed;
    pthread_mutex_unlock(&b->m);
    return ok;
}

static void inbox_init(inbox *b)
{
    memset(b, 0, sizeof *b);
    pthread_mutex_init(&b->m, NULL);
    pthread_cond_init(&b->c, NULL);
}

static void srv_send_steps(srv *sv, tls_socket *s)
{
    /* sends "one" and "two" as separate records, then echoes until the client asks to close */
    tls_send(s, "one", 3, &sv->err);
    step_wait(sv, 1);
    tls_send(s, "two", 3, &sv->err);
    step_wait(sv, 2);
    tls_send(s, "three", 5, &sv->err);
    step_wait(sv, 3);
}

Test(api, active_true_delivers_data_then_closed)
{
    srv sv;
    srv_init(&sv);
    srv_start(&sv, srv_send_steps);
    tls_options o;
    client_opts(&o);
    tls_socket *c = client_connect(&sv, &o);
    inbox b;
    inbox_init(&b);
    tls_error err;
    cr_assert_eq(tls_controlling_process(c, owner_cb, &b), TLS_OK);
    tls_sockopts so = {TLS_ACTIVE_TRUE, 1, 1};
    cr_assert_eq(tls_setopts(c, &so, &err), TLS_OK, "%s", fmt(&err));
    tls_sockopts got;
    cr_assert_eq(tls_getopts(c, &got), TLS_OK);
    cr_assert_eq(got.active, TLS_ACTIVE_TRUE);
    cr_assert_eq(got.nodelay, 1);
    cr_assert_eq(got.keepalive, 1);
    char buf[8];
    cr_assert_eq(tls_recv(c, buf, sizeof buf, 0, 10, &err), TLS_E_STATE, "recv in active mode");
    cr_assert(inbox_wait(&b, 3, 0, T_MS), "no data message");
    step_set(&sv, 1);
    cr_assert(inbox_wait(&b, 6, 0, T_MS), "second message missing");
    step_set(&sv, 2);
    cr_assert(inbox_wait(&b, 11, 0, T_MS), "third message missing");
    cr_assert_arr_eq(b.data, "onetwothree", 11);
    step_set(&sv, 3);
    cr_assert(inbox_wait(&b, 11, 1, T_MS), "no closed message");
    cr_assert_eq(b.n_error, 0);
    cr_assert_eq(b.sock, c);
    srv_join(&sv);
    sleep_ms(50);
    cr_assert_eq(b.n_closed, 1, "closed delivered %d times", b.n_closed);
    tls_close(c);
}

Test(api, active_once_and_n)
{
    srv sv;
    srv_init(&sv);
    srv_start(&sv, srv_send_steps);
    tls_options o;
    client_opts(&o);
    tls_socket *c = client_connect(&sv, &o);
    inbox b;
    inbox_init(&b);
    tls_error err;
    tls_sockopts so = {TLS_ACTIVE_ONCE, -1, -1}, got;
    cr_assert_eq(tls_setopts(c, &so, &err), TLS_OK); /* no owner yet: nothing is delivered */
    cr_assert_eq(tls_controlling_process(c, owner_cb, &b), TLS_OK);
    cr_assert(inbox_wait(&b, 3, 0, T_MS), "once: no data");
    step_set(&sv, 1);
    sleep_ms(200);
    cr_assert_eq(b.n_data, 1, "once delivered %d messages", b.n_data);
    cr_assert_eq(tls_getopts(c, &got), TLS_OK);
    cr_assert_eq(got.active, TLS_ACTIVE_FALSE, "once did not fall back to passive");
    /* passive again: "two" comes through recv */
    char buf[8];
    cr_assert_eq(tls_recv(c, buf, sizeof buf, 3, T_MS, &err), 3, "%s", fmt(&err));
    cr_assert_arr_eq(buf, "two", 3);
    /* {active, 2}: counts, adds, and reads back */
    so.active = 2;
    cr_assert_eq(tls_setopts(c, &so, &err), TLS_OK);
    cr_assert_eq(tls_getopts(c, &got), TLS_OK);
    cr_assert_eq(got.active, 2);
    step_set(&sv, 2);
    cr_assert(inbox_wait(&b, 8, 0, T_MS), "N: no data");
    cr_assert_arr_eq(b.data, "onethree", 8);
    cr_assert_eq(tls_getopts(c, &got), TLS_OK);
    cr_assert_eq(got.active, 1);
    so.active = -7;
    cr_assert_eq(tls_setopts(c, &so, &err), TLS_E_BADARG);
    step_set(&sv, 3);
    cr_assert(inbox_wait(&b, 8, 1, T_MS), "N: no closed message");
    cr_assert_eq(tls_getopts(c, &got), TLS_OK);
    cr_assert_eq(got.active, 1, "a closed message does not count");
    srv_join(&sv);
    tls_close(c);
}

/* ---- accepting with inherited options ----------------------------------------------- */

typedef struct acc_job {
    tls_socket *l, *a;
    int rc;
    tls_error err;
} acc_job;

static void *acc_main(void *arg)
{
    acc_job *j = arg;
    j->rc = tls_transport_accept(j->l, T_MS, &j->a, &j->err);
    if (j->rc == TLS_OK)
        j->rc = tls_ssl_accept(j->a, T_MS, &j->err);
    return NULL;
}

/* The listener's active mode and owner pass to accepted sockets; the owner
 * echoes from inside its callback, and closes the socket there when the
 * client has closed. */
static void owner_echo_close(tls_socket *s, tls_msg_kind kind, const uint8_t *data, size_t len,
                             const tls_error *err, void *arg)
{
    owner_cb(s, kind, data, len, err, arg);
    if (kind == TLS_MSG_CLOSED)
        tls_close(s); /* from inside the helper thread */
}

Test(api, active_server_inherits_and_echoes_from_callback)
{
    tls_options so;
    tls_options_init(&so);
    char cert[600], key[600];
    snprintf(cert, sizeof cert, "%s", pki("server.pem"));
    snprintf(key, sizeof key, "%s", pki("server.key"));
    so.certfile = cert;
    so.keyfile = key;
    acc_job j = {0};
    tls_error err;
    cr_assert_eq(tls_listen(0, &so, &j.l, &err), TLS_OK);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    cr_assert_eq(tls_sockname(j.l, &ss, &sl), TLS_OK);
    inbox b;
    inbox_init(&b);
    b.echo = true;
    tls_sockopts act = {TLS_ACTIVE_TRUE, 1, -1};
    cr_assert_eq(tls_setopts(j.l, &act, &err), TLS_OK, "%s", fmt(&err));
    cr_assert_eq(tls_controlling_process(j.l, owner_echo_close, &b), TLS_OK);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, acc_main, &j), 0);

    tls_options o;
    client_opts(&o);
    tls_socket *c = NULL;
    cr_assert_eq(tls_connect("localhost", port_of(&ss), &o, T_MS, &c, &err), TLS_OK, "%s", fmt(&err));
    pthread_join(t, NULL);
    cr_assert_eq(j.rc, TLS_OK, "%s", fmt(&j.err));
    tls_sockopts got;
    cr_assert_eq(tls_getopts(j.a, &got), TLS_OK);
    cr_assert_eq(got.active, TLS_ACTIVE_TRUE);
    cr_assert_eq(got.nodelay, 1);
    for (int i = 0; i < 20; i++) {
        char msg[32], back[32];
        int n = snprintf(msg, sizeof msg, "message %d", i);
        cr_assert_eq(tls_send(c, msg, (size_t)n, &err), TLS_OK);
        cr_assert_eq(tls_recv(c, back, sizeof back, (size_t)n, T_MS, &err), n, "%s", fmt(&err));
        cr_assert_arr_eq(back, msg, (size_t)n);
    }
    tls_close(c);
    cr_assert(inbox_wait(&b, 1, 1, T_MS), "the server's owner saw no close");
    cr_assert_eq(b.n_error, 0);
    /* j.a was closed by the callback */
    tls_close(j.l);
}

/* ---- renegotiation and resumption ------------------------------------------------------ */

static atomic_long keylog_lines;
static void count_keylog(const char *line, void *arg)
{
    (void)arg;
    if (!strncmp(line, "CLIENT_RANDOM ", 14))
        atomic_fetch_add(&keylog_lines, 1);
}

Test(api, renegotiate_client_side)
{
    srv sv;
    srv_init(&sv);
    sv.o.client_renegotiation = true; /* the server takes what the client starts */
    srv_start(&sv, srv_echo);
    tls_options o;
    client_opts(&o);
    o.versions = TLS_VMASK_TLS12;
    o.keylog = count_keylog;
    tls_socket *c = client_connect(&sv, &o);
    tls_error err;
    char buf[8];
    cr_assert_eq(tls_send(c, "a", 1, &err), TLS_OK);
    cr_assert_eq(tls_recv(c, buf, sizeof buf, 1, T_MS, &err), 1);
    int rc = tls_renegotiate(c, &err);
    cr_assert_eq(rc, TLS_OK, "%s", fmt(&err));
    cr_assert_eq(tls_send(c, "bc", 2, &err), TLS_OK, "%s", fmt(&err));
    cr_assert_eq(tls_recv(c, buf, sizeof buf, 2, T_MS, &err), 2, "%s", fmt(&err));
    cr_assert_arr_eq(buf, "bc", 2);
    cr_assert_eq(atomic_load(&keylog_lines), 2, "%ld handshakes logged, want 2", atomic_load(&keylog_lines));
    tls_close(c);
    srv_join(&sv);
    cr_assert_eq(sv.rc, TLS_E_CLOSED, "server: %s", fmt(&sv.err));
}

/* Echo twice over data sent while the server renegotiates: nothing is lost. */
static void srv_renegotiate(srv *sv, tls_socket *s)
{
    char buf[16];
    if (tls_recv(s, buf, sizeof buf, 2, T_MS, &sv->err) != 2)
        return;
    sv->reneg_rc = tls_renegotiate(s, &sv->err);
    tls_send(s, buf, 2, &sv->err);
    srv_echo(sv, s);
}

Test(api, renegotiate_server_side)
{
    srv sv;
    srv_init(&sv);
    sv.o.versions = TLS_VMASK_TLS12;
    srv_start(&sv, srv_renegotiate);
    tls_options o;
    client_opts(&o);
    o.versions = TLS_VMASK_TLS12;
    o.keylog = count_keylog;
    tls_socket *c = client_connect(&sv, &o);
    tls_error err;
    char buf[8];
    cr_assert_eq(tls_send(c, "hi", 2, &err), TLS_OK);
    /* our recv drives the client side of the renegotiation */
    cr_assert_eq(tls_recv(c, buf, sizeof buf, 2, T_MS, &err), 2, "%s", fmt(&err));
    cr_assert_arr_eq(buf, "hi", 2);
    tls_close(c);
    srv_join(&sv);
    cr_assert_eq(sv.reneg_rc, TLS_OK, "server's renegotiation failed");
    cr_assert_eq(sv.rc, TLS_E_CLOSED, "server: %s", fmt(&sv.err));
    cr_assert_eq(atomic_load(&keylog_lines), 2, "%ld handshakes logged, want 2", atomic_load(&keylog_lines));
}

Test(api, sessions_resume_across_connects)
{
    srv sv;
    srv_init(&sv);
    sv.o.versions = TLS_VMASK_TLS12;
    srv_start(&sv, srv_echo);
    tls_options o;
    client_opts(&o);
    o.versions = TLS_VMASK_TLS12;
    tls_socket *c = client_connect(&sv, &o);
    tls_error err;
    char b;
    cr_assert_eq(tls_send(c, "x", 1, &err), TLS_OK);
    cr_assert_eq(tls_recv(c, &b, 1, 1, T_MS, &err), 1);
    cr_assert_not(tls_engine_session_reused(tls_socket_engine(c)));
    tls_close(c);
    srv_join(&sv);
    /* a second server on the same listener options shares the server config */
    int port = sv.port;
    (void)port;
    srv sv2;
    srv_init(&sv2);
    sv2.o.versions = TLS_VMASK_TLS12;
    srv_start(&sv2, srv_echo);
    c = client_connect(&sv2, &o);
    cr_assert_eq(tls_send(c, "y", 1, &err), TLS_OK);
    cr_assert_eq(tls_recv(c, &b, 1, 1, T_MS, &err), 1);
    cr_assert(tls_engine_session_reused(tls_socket_engine(c)), "the second connection was not resumed");
    tls_close(c);
    srv_join(&sv2);
}

Test(api, bad_certificate_reason_reaches_the_caller)
{
    srv sv;
    srv_init(&sv);
    snprintf(sv.certfile, sizeof sv.certfile, "%s", pki("expired.pem"));
    snprintf(sv.keyfile, sizeof sv.keyfile, "%s", pki("expired.key"));
    srv_start(&sv, NULL);
    tls_options o;
    client_opts(&o);
    tls_socket *c = NULL;
    tls_error err;
    int rc = tls_connect("localhost", sv.port, &o, T_MS, &c, &err);
    cr_assert_eq(rc, TLS_E_BAD_CERT, "%s", fmt(&err));
    cr_assert_eq(err.bad_cert, TLS_BAD_CERT_CERT_EXPIRED, "%s", fmt(&err));
    cr_assert_null(c);
    srv_join(&sv);
    cr_assert_eq(sv.hs_rc, TLS_E_ALERT_RECEIVED, "server: %s", fmt(&sv.hs_err));
    cr_assert_eq(sv.hs_err.alert, 45 /* certificate_expired */, "server got alert %d", sv.hs_err.alert);
}

Test(api, argument_errors)
{
    tls_error err;
    char buf[4];
    cr_assert_eq(tls_send(NULL, "x", 1, &err), TLS_E_BADARG);
    cr_assert_eq(tls_recv(NULL, buf, 4, 0, 0, &err), TLS_E_BADARG);
    cr_assert_eq(tls_close(NULL), TLS_E_BADARG);
    cr_assert_eq(tls_start(), TLS_OK);
    cr_assert_eq(tls_start(), TLS_OK); /* idempotent */
    tls_options so;
    tls_options_init(&so);
    char cert[600], key[600];
    snprintf(cert, sizeof cert, "%s", pki("server.pem"));
    snprintf(key, sizeof key, "%s", pki("server.key"));
    so.certfile = cert;
    so.keyfile = key;
    tls_socket *l = NULL;
    cr_assert_eq(tls_listen(0, &so, &l, &err), TLS_OK, "%s", fmt(&err));
    cr_assert_eq(tls_send(l, "x", 1, &err), TLS_E_BADARG);
    cr_assert_eq(tls_recv(l, buf, 4, 0, 0, &err), TLS_E_BADARG);
    cr_assert_eq(tls_ssl_accept(l, 10, &err), TLS_E_BADARG);
    /* a second listener on the same port: EADDRINUSE, named */
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    tls_sockname(l, &ss, &sl);
    tls_socket *l2 = NULL;
    cr_assert_eq(tls_listen(port_of(&ss), &so, &l2, &err), TLS_E_SYSCALL);
    cr_assert_eq(err.sys_errno, EADDRINUSE, "%s", fmt(&err));
    tls_close(l);
    so.certfile = "/nonexistent/server.pem";
    cr_assert_eq(tls_listen(0, &so, &l, &err), TLS_E_CONFIG, "%s", fmt(&err));
    tls_stop();
}

/* Closing a listener wakes a thread waiting in tls_transport_accept. */
static void *acc_forever(void *arg)
{
    acc_job *j = arg;
    j->rc = tls_transport_accept(j->l, TLS_INFINITY, &j->a, &j->err);
    return NULL;
}

Test(api, closing_a_listener_wakes_accept)
{
    tls_options so;
    tls_options_init(&so);
    char cert[600], key[600];
    snprintf(cert, sizeof cert, "%s", pki("server.pem"));
    snprintf(key, sizeof key, "%s", pki("server.key"));
    so.certfile = cert;
    so.keyfile = key;
    acc_job j = {0};
    tls_error err;
    cr_assert_eq(tls_listen(0, &so, &j.l, &err), TLS_OK);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, acc_forever, &j), 0);
    sleep_ms(100);
    tls_close(j.l);
    pthread_join(t, NULL);
    cr_assert_eq(j.rc, TLS_E_CLOSED, "accept returned %d: %s", j.rc, fmt(&j.err));
    cr_assert_null(j.a);
}

static int count_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            n++;
    return n;
}

/* Connections, failed connects, timeouts and listeners leave no fd behind. */
Test(api, no_fd_leaks)
{
    tls_options o;
    client_opts(&o);
    tls_error err;
    /* warm up: the config cache and libcrypto may open files once */
    srv sv;
    srv_init(&sv);
    srv_start(&sv, srv_echo);
    tls_close(client_connect(&sv, &o));
    srv_join(&sv);
    int before = count_fds();
    for (int i = 0; i < 10; i++) {
        srv_init(&sv);
        srv_start(&sv, srv_echo);
        tls_socket *c = client_connect(&sv, &o);
        char b;
        cr_assert_eq(tls_send(c, "x", 1, &err), TLS_OK);
        cr_assert_eq(tls_recv(c, &b, 1, 1, T_MS, &err), 1);
        tls_close(c);
        srv_join(&sv);
    }
    /* refused, and a handshake that fails on the certificate */
    tls_socket *c = NULL;
    srv_init(&sv);
    snprintf(sv.certfile, sizeof sv.certfile, "%s", pki("untrusted.pem"));
    snprintf(sv.keyfile, sizeof sv.keyfile, "%s", pki("untrusted.key"));
    srv_start(&sv, NULL);
    cr_assert_eq(tls_connect("127.0.0.1", sv.port, &o, T_MS, &c, &err), TLS_E_BAD_CERT, "%s", fmt(&err));
    srv_join(&sv);
    cr_assert_eq(tls_connect("127.0.0.1", sv.port, &o, T_MS, &c, &err), TLS_E_SYSCALL);
    cr_assert_eq(count_fds(), before, "fds: %d before, %d after", before, count_fds());
}
