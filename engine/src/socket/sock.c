/* The socket object and the pump that moves bytes between the transport,
 * the engine and the plaintext buffer; the wait loop every blocking call
 * shares (tls_sock_drive); the handshake on a fresh socket.
 *
 * Every socket's fd is non-blocking; blocking calls wait in poll() with the
 * socket lock released (so another thread may send while one waits in recv,
 * and the active-mode helper is never stuck behind a sleeper). All I/O goes
 * through the transport vtable with ctx = the fd. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "err.h"
#include "sock.h"

#define APP_READ_BUDGET (256 * 1024) /* plaintext pulled per pump before giving the caller a turn */

/* ---- time ------------------------------------------------------------------ */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t tls_sock_deadline(int timeout_ms) { return timeout_ms < 0 ? -1 : now_ms() + timeout_ms; }

int tls_sock_remaining_ms(int64_t deadline)
{
    if (deadline < 0)
        return -1;
    int64_t r = deadline - now_ms();
    return r <= 0 ? 0 : r > INT_MAX ? INT_MAX : (int)r;
}

/* ---- addresses -------------------------------------------------------------- */

void tls_sock_format_addr(const struct sockaddr *sa, socklen_t len, char *buf, size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "?", port[16] = "?";
    if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) {
        snprintf(buf, cap, "a non-IP peer");
        return;
    }
    if (getnameinfo(sa, len, host, sizeof host, port, sizeof port, NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(buf, cap, "?");
        return;
    }
    snprintf(buf, cap, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

void tls_sock_unmap_v4(struct sockaddr_storage *ss, socklen_t *len)
{
    if (ss->ss_family != AF_INET6)
        return;
    struct sockaddr_in6 a6;
    memcpy(&a6, ss, sizeof a6);
    if (!IN6_IS_ADDR_V4MAPPED(&a6.sin6_addr))
        return;
    struct sockaddr_in a4;
    memset(&a4, 0, sizeof a4);
    a4.sin_family = AF_INET;
    a4.sin_port = a6.sin6_port;
    memcpy(&a4.sin_addr, &a6.sin6_addr.s6_addr[12], 4);
    memset(ss, 0, sizeof *ss);
    memcpy(ss, &a4, sizeof a4);
    *len = sizeof a4;
}

static void note_peer(tls_socket *s)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (s->fd < 0)
        return; /* tls_sock_new_ctx names it */
    if (getpeername(s->fd, (struct sockaddr *)&ss, &len) == 0) {
        tls_sock_unmap_v4(&ss, &len);
        tls_sock_format_addr((struct sockaddr *)&ss, len, s->peer, sizeof s->peer);
    } else
        snprintf(s->peer, sizeof s->peer, "the peer (fd %d)", s->fd);
}

/* ---- the object -------------------------------------------------------------- */

tls_socket *tls_sock_new(int fd, const tls_transport *tr, bool stream)
{
    tls_socket *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (stream && !(s->rbuf = malloc(TLS_SOCK_RBUF))) {
        free(s);
        return NULL;
    }
    atomic_init(&s->refs, 1);
    pthread_mutex_init(&s->lock, NULL);
    s->fd = fd;
    s->tr = tr ? tr : tls_transport_tcp();
    s->ctx = (void *)(intptr_t)fd;
    s->active = TLS_ACTIVE_FALSE;
    s->nodelay = s->keepalive = -1;
    s->packet = TLS_PACKET_RAW;
    s->packet_size = TLS_PACKET_SIZE_DEFAULT;
    s->saved_fl = fcntl(fd, F_GETFL);
    if (s->saved_fl >= 0 && !(s->saved_fl & O_NONBLOCK))
        (void)fcntl(fd, F_SETFL, s->saved_fl | O_NONBLOCK);
    note_peer(s);
    return s;
}

tls_socket *tls_sock_new_ctx(const tls_transport *tr, void *ctx)
{
    tls_socket *s = tls_sock_new(-1, tr, true);
    if (!s)
        return NULL;
    s->ctx = ctx;
    snprintf(s->peer, sizeof s->peer, "%s", tr->name ? tr->name : "the transport");
    return s;
}

static void sock_free(tls_socket *s)
{
    tls_engine_free(s->eng);
    tls_config_free(s->cfg);
    free(s->rbuf);
    if (s->app) {
        OPENSSL_cleanse(s->app, s->a_cap);
        free(s->app);
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void tls_sock_ref(tls_socket *s) { atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed); }

void tls_sock_unref(tls_socket *s)
{
    if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        sock_free(s);
}

void tls_sock_release_fd(tls_socket *s)
{
    if (s->fd >= 0 && s->saved_fl >= 0)
        (void)fcntl(s->fd, F_SETFL, s->saved_fl);
    s->closed = true;
    s->fd = -1;
    tls_sock_unref(s);
}

int tls_sock_poll_fd(tls_socket *s) { return s->tr->fd ? s->tr->fd(s->ctx) : s->fd; }

int tls_sock_apply_opt(tls_socket *s, int level, int name, int value, const char *what, tls_error *err)
{
    if (s->closed)
        return tls_err_set(err, TLS_E_CLOSED, -1, "setting %s: the socket is closed", what);
    if (s->fd < 0)
        return TLS_OK; /* a transport without an fd: TCP's options mean nothing there */
    if (setsockopt(s->fd, level, name, &value, sizeof value) < 0) {
        /* a custom transport over a non-TCP fd: the option means nothing there */
        if (errno == ENOTSOCK || errno == EOPNOTSUPP || (errno == EINVAL && level == IPPROTO_TCP) ||
            errno == ENOPROTOOPT)
            return TLS_OK;
        return tls_sock_errno_error(err, TLS_E_SYSCALL, errno, "setsockopt %s", what);
    }
    return TLS_OK;
}

/* ---- moving bytes --------------------------------------------------------- */

bool tls_sock_engine_failed(tls_socket *s) { return tls_engine_status(s->eng) & TLS_ST_FAILED; }

/* Nothing more will be read from the transport. */
static bool input_ended(tls_socket *s)
{
    return s->closed || s->eof || s->rd_shut ||
           (tls_engine_status(s->eng) & (TLS_ST_FAILED | TLS_ST_PEER_CLOSED));
}

bool tls_sock_input_done(tls_socket *s)
{
    return s->a_len == s->a_off && tls_sock_input_over(s);
}

bool tls_sock_input_over(tls_socket *s)
{
    if (!s->eng)
        return true;
    if (tls_engine_status(s->eng) & TLS_ST_CAN_READ)
        return false;
    if (s->closed || s->rd_shut || (tls_engine_status(s->eng) & (TLS_ST_FAILED | TLS_ST_PEER_CLOSED)))
        return true;
    return s->eof && s->r_off == s->r_len;
}

/* Sends what the engine has, until the transport would block. */
static bool flush_nb(tls_socket *s)
{
    bool moved = false;
    size_t n;
    const uint8_t *p;
    while ((p = tls_engine_output(s->eng, &n)) != NULL) {
        if (s->wr_broken || s->closed) { /* nowhere to go: drop it */
            tls_engine_output_done(s->eng, n);
            moved = true;
            continue;
        }
        ssize_t w = s->tr->send(s->ctx, p, n);
        if (w > 0) {
            tls_engine_output_done(s->eng, (size_t)w);
            moved = true;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        s->wr_broken = true;
        s->wr_errno = w < 0 ? errno : EPIPE;
    }
    return moved;
}

static bool app_reserve(tls_socket *s, size_t need)
{
    if (s->a_off && s->a_off == s->a_len)
        s->a_off = s->a_len = 0;
    if (s->a_cap - s->a_len >= need)
        return true;
    if (s->a_off) {
        memmove(s->app, s->app + s->a_off, s->a_len - s->a_off);
        s->a_len -= s->a_off;
        s->a_off = 0;
        if (s->a_cap - s->a_len >= need)
            return true;
    }
    size_t cap = s->a_cap ? s->a_cap : 2 * TLS_SOCK_PLAIN;
    while (cap - s->a_len < need)
        cap *= 2;
    uint8_t *p = malloc(cap); /* not realloc: the old block holds plaintext to wipe */
    if (!p)
        return false;
    if (s->app) {
        memcpy(p, s->app, s->a_len);
        OPENSSL_cleanse(s->app, s->a_cap);
        free(s->app);
    }
    s->app = p;
    s->a_cap = cap;
    return true;
}

/* Moves the engine's plaintext into app[]; returns bytes moved. */
static size_t pull_plain(tls_socket *s)
{
    size_t total = 0;
    while (app_reserve(s, TLS_SOCK_PLAIN)) {
        size_t got = 0;
        (void)tls_engine_read(s->eng, s->app + s->a_len, s->a_cap - s->a_len, &got);
        if (!got)
            break;
        s->a_len += got;
        total += got;
    }
    return total;
}

short tls_sock_pump(tls_socket *s, bool want_in, bool pull)
{
    if (!s->eng || s->closed)
        return 0;
    size_t pulled = 0;
    bool budget_left = true;
    for (;;) {
        bool moved = flush_nb(s);
        if (pull) {
            size_t k = pull_plain(s);
            pulled += k;
            moved |= k > 0;
        }
        if (s->r_off < s->r_len && !tls_sock_engine_failed(s)) {
            size_t used = 0;
            (void)tls_engine_feed(s->eng, s->rbuf + s->r_off, s->r_len - s->r_off, &used);
            s->r_off += used;
            if (s->r_off == s->r_len)
                s->r_off = s->r_len = 0;
            moved |= used > 0;
        }
        budget_left = pulled < APP_READ_BUDGET;
        if (want_in && budget_left && s->r_len == 0 && !input_ended(s)) {
            ssize_t n = s->tr->recv(s->ctx, s->rbuf, TLS_SOCK_RBUF);
            if (n > 0) {
                s->r_off = 0;
                s->r_len = (size_t)n;
                moved = true;
            } else if (n == 0) {
                s->eof = true;
                tls_engine_feed_eof(s->eng);
                moved = true;
            } else if (errno == EINTR) {
                moved = true;
            } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
                s->eof = s->rd_broken = true;
                s->rd_errno = errno;
                tls_engine_feed_eof(s->eng);
                moved = true;
            }
        }
        if (!moved)
            break;
    }
    short ev = 0;
    size_t olen = 0;
    if (!s->wr_broken && tls_engine_output(s->eng, &olen) && olen)
        ev |= POLLOUT;
    if (want_in && s->r_len == 0 && !input_ended(s))
        ev |= POLLIN;
    return ev;
}

/* ---- errors ------------------------------------------------------------------ */

int tls_sock_errno_error(tls_error *err, int code, int e, const char *fmt, const char *arg)
{
    errno = e;
    tls_err_set(err, code, -1, fmt, arg);
    if (err)
        err->sys_errno = e;
    return code;
}

int tls_sock_end_error(tls_socket *s, tls_error *err)
{
    unsigned st = s->eng ? tls_engine_status(s->eng) : 0;
    if (st & TLS_ST_FAILED) {
        const tls_error *e = tls_engine_error(s->eng);
        if (s->rd_broken && e->code == TLS_E_CLOSED)
            return tls_sock_errno_error(err, TLS_E_SYSCALL, s->rd_errno, "recv from %s", s->peer);
        if (err)
            *err = *e;
        return e->code;
    }
    if (s->closed)
        return tls_err_set(err, TLS_E_CLOSED, -1, "the socket is closed");
    if (s->rd_shut)
        return tls_err_set(err, TLS_E_CLOSED, -1, "the socket was shut down for reading");
    if (st & TLS_ST_PEER_CLOSED)
        return tls_err_set(err, TLS_E_CLOSED, -1, "%s sent close_notify", s->peer);
    if (s->rd_broken)
        return tls_sock_errno_error(err, TLS_E_SYSCALL, s->rd_errno, "recv from %s", s->peer);
    if (s->eof)
        return tls_err_set(err, TLS_E_CLOSED, -1,
                           "%s closed the connection without close_notify (data may be truncated)",
                           s->peer);
    return tls_err_set(err, TLS_E_CLOSED, -1, "the connection is closed");
}

int tls_sock_write_error(tls_socket *s, tls_error *err)
{
    /* a peer that went away is {error, closed} (as OTP says it); errno stays available */
    int code = s->wr_errno == EPIPE || s->wr_errno == ECONNRESET ? TLS_E_CLOSED : TLS_E_SYSCALL;
    char what[160];
    snprintf(what, sizeof what, "send to %s: %s", s->peer, strerror(s->wr_errno));
    return tls_sock_errno_error(err, code, s->wr_errno, "%s", what);
}

/* ---- waiting ------------------------------------------------------------------ */

/* Waits for events on the transport fd with the lock released. */
static int sock_wait(tls_socket *s, short events, int64_t deadline, tls_error *err)
{
    int fd = tls_sock_poll_fd(s);
    for (;;) {
        int ms = tls_sock_remaining_ms(deadline);
        if (ms == 0)
            return tls_err_set(err, TLS_E_TIMEOUT, -1, "waiting for %s", s->peer);
        if (s->tr->wait) {
            /* the transport's own wait: it need not be an fd */
            const tls_transport *tr = s->tr;
            void *ctx = s->ctx;
            pthread_mutex_unlock(&s->lock);
            int r = tr->wait(ctx, events, ms);
            int e = errno;
            pthread_mutex_lock(&s->lock);
            if (s->closed)
                return tls_err_set(err, TLS_E_CLOSED, -1, "the socket was closed while waiting");
            if (r > 0)
                return TLS_OK;
            if (r < 0 && e != EINTR)
                return tls_sock_errno_error(err, TLS_E_SYSCALL, e, "waiting for %s", s->peer);
            continue;
        }
        if (fd < 0 && (ms < 0 || ms > 10))
            ms = 10; /* a transport without an fd: poll it every 10 ms */
        struct pollfd p = {fd, events, 0};
        pthread_mutex_unlock(&s->lock);
        int r = poll(&p, 1, ms);
        int e = errno;
        pthread_mutex_lock(&s->lock);
        if (s->closed)
            return tls_err_set(err, TLS_E_CLOSED, -1, "the socket was closed while waiting");
        if (r > 0 || fd < 0)
            return TLS_OK;
        if (r < 0 && e != EINTR)
            return tls_sock_errno_error(err, TLS_E_SYSCALL, e, "poll on %s", s->peer);
    }
}

static bool goal_reached(tls_socket *s, tls_sock_goal goal, size_t need)
{
    unsigned st = tls_engine_status(s->eng);
    bool connected = (st & TLS_ST_CONNECTED) && !(st & TLS_ST_HANDSHAKING);
    size_t out = 0;
    switch (goal) {
    case TLS_SOCK_UNTIL_CONNECTED:
        return connected;
    case TLS_SOCK_UNTIL_PLAINTEXT:
        return s->a_len - s->a_off >= need;
    case TLS_SOCK_UNTIL_RENEGOTIATED:
        return tls_engine_error(s->eng)->code == TLS_E_RENEG_REJECTED ||
               (connected && !(st & TLS_ST_RENEGOTIATING));
    case TLS_SOCK_UNTIL_FLUSHED:
        return !tls_engine_output(s->eng, &out) || out == 0;
    case TLS_SOCK_UNTIL_WRITABLE:
        return st & TLS_ST_CAN_WRITE;
    }
    return false;
}

int tls_sock_drive(tls_socket *s, tls_sock_goal goal, size_t need, int64_t deadline, tls_error *err)
{
    bool want_in = goal == TLS_SOCK_UNTIL_CONNECTED || goal == TLS_SOCK_UNTIL_PLAINTEXT ||
                   goal == TLS_SOCK_UNTIL_RENEGOTIATED;
    for (;;) {
        short ev = tls_sock_pump(s, want_in, want_in);
        if (goal_reached(s, goal, need))
            return TLS_OK;
        if (s->closed)
            return tls_err_set(err, TLS_E_CLOSED, -1, "the socket is closed");
        if (tls_sock_engine_failed(s))
            return tls_sock_end_error(s, err);
        if (s->wr_broken && (!want_in || (tls_engine_status(s->eng) & TLS_ST_HANDSHAKING)))
            return tls_sock_write_error(s, err);
        /* input over, and what arrived (if any) is not enough */
        if (want_in && !(ev & POLLIN) && input_ended(s) && !(tls_engine_status(s->eng) & TLS_ST_CAN_READ))
            return tls_sock_end_error(s, err);
        if (!ev) /* nothing to wait for, nothing to do: cannot happen unless the engine stalls */
            return tls_err_set(err, TLS_E_INTERNAL, -1, "the engine made no progress with %s", s->peer);
        int rc = sock_wait(s, ev, deadline, err);
        if (rc != TLS_OK)
            return rc;
    }
}

/* ---- the handshake ------------------------------------------------------------- */

int tls_sock_handshake(tls_socket *s, const tls_options *o, bool server, const char *default_name,
                       int64_t deadline, tls_error *err)
{
    if (!s->cfg) {
        int rc = tls_config_cache_get(o, server, &s->cfg, err);
        if (rc != TLS_OK)
            return rc;
    }
    s->server = server;
    if (!s->eng) {
        const char *name = server || (o && o->server_name && *o->server_name) ? NULL : default_name;
        int rc = tls_engine_new(s->cfg, name, &s->eng, err);
        if (rc != TLS_OK)
            return rc;
    }
    int rc = tls_sock_drive(s, TLS_SOCK_UNTIL_CONNECTED, 0, deadline, err);
    if (rc == TLS_OK)
        s->handshaken = true;
    else if (rc == TLS_E_TIMEOUT && err)
        snprintf(err->detail, sizeof err->detail, "TLS handshake with %s", s->peer);
    return rc;
}

static int upgrade(tls_socket *s, const tls_options *o, bool server, int timeout_ms, tls_socket **out,
                   tls_error *err);

int tls_sock_upgrade_fd(int fd, const tls_options *o, bool server, int timeout_ms, tls_socket **out,
                        tls_error *err)
{
    tls_err_clear(err);
    if (out)
        *out = NULL;
    if (fd < 0 || !o || !out)
        return tls_err_set(err, TLS_E_BADARG, -1, "%s: bad fd, options or result pointer",
                           server ? "tls_ssl_accept_fd" : "tls_connect_fd");
    if (tls_start() != TLS_OK)
        return tls_err_set(err, TLS_E_INTERNAL, -1, "libcrypto's algorithms could not be loaded");
    tls_socket *s = tls_sock_new(fd, o->transport, true);
    if (!s)
        return tls_err_set(err, TLS_E_NOMEM, -1, "socket object");
    return upgrade(s, o, server, timeout_ms, out, err);
}

int tls_sock_upgrade_ctx(const tls_transport *tr, void *ctx, const tls_options *o, bool server,
                         int timeout_ms, tls_socket **out, tls_error *err)
{
    tls_err_clear(err);
    const char *fn = server ? "tls_ssl_accept_transport" : "tls_connect_transport";
    if (out)
        *out = NULL;
    if (!tr || !tr->send || !tr->recv || !tr->close || !o || !out)
        return tls_err_set(err, TLS_E_BADARG, -1,
                           "%s: needs a transport with send, recv and close, options and a result pointer",
                           fn);
    if (!tr->wait && !tr->fd)
        return tls_err_set(err, TLS_E_BADARG, -1,
                           "%s: the transport has neither wait nor fd: nothing to wait on", fn);
    if (tls_start() != TLS_OK)
        return tls_err_set(err, TLS_E_INTERNAL, -1, "libcrypto's algorithms could not be loaded");
    tls_socket *s = tls_sock_new_ctx(tr, ctx);
    if (!s)
        return tls_err_set(err, TLS_E_NOMEM, -1, "socket object");
    return upgrade(s, o, server, timeout_ms, out, err);
}

/* The handshake on a new socket; on failure the socket goes and its fd or
 * ctx stays the caller's. */
static int upgrade(tls_socket *s, const tls_options *o, bool server, int timeout_ms, tls_socket **out,
                   tls_error *err)
{
    pthread_mutex_lock(&s->lock);
    int rc = tls_sock_handshake(s, o, server, NULL, tls_sock_deadline(timeout_ms), err);
    pthread_mutex_unlock(&s->lock);
    if (rc != TLS_OK) {
        tls_sock_release_fd(s);
        return rc;
    }
    *out = s;
    return TLS_OK;
}
