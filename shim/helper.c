/* THE helper thread: one per process, an epoll loop over every upgraded
 * connection. A connection is the helper's end of a socketpair (the program
 * holds the other end under its own fd number), the real TCP socket and a
 * sans-I/O tls_engine between them:
 *
 *   program fd <-> [app_fd] plaintext <-> tls_engine <-> ciphertext [net_fd] <-> peer
 *
 * Level-triggered epoll; each event runs pump(), which moves bytes as far as
 * they go without blocking, then re-arms the interest masks. Buffers are
 * bounded: the helper stops reading a side whose destination is full, so a
 * slow program throttles the peer through TCP flow control and vice versa.
 * All signals are blocked in this thread and every send uses MSG_NOSIGNAL:
 * SIGPIPE never reaches the program because of the helper.
 *
 * Plaintext never reaches the network before the handshake completes: the
 * helper does not read the program's end until then, and the engine only
 * emits application data encrypted. If the handshake fails, whatever the
 * program queued is discarded with the socketpair. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"

#define NET_CAP (20 * 1024)   /* ciphertext in: a full record (16 KiB + expansion) and then some */
#define APP_CAP (16 * 1024)   /* plaintext each way */
#define OUT_HIGH (64 * 1024)  /* stop feeding the engine while it holds this much to send */
#define LINGER_MS 5000        /* after our close_notify, wait this long for the peer's EOF */
#define SCAN_MS 250           /* deadline granularity */

typedef struct shim_conn {
    struct shim_conn *next, *prev;
    struct shim_conn *dead_next;
    struct shim_conn *again_next; /* on H.again: pump again without waiting for an event */
    bool again;
    shim_sock *sock;
    const policy_rule *rule;
    tls_engine *eng;
    int app_fd, net_fd, pdup_fd;
    uint32_t app_ev, net_ev;   /* registered epoll masks */
    bool app_reg, net_reg;     /* registered at all */
    bool app_hupseen, net_hupseen;
    size_t filler_left;
    int orig_sndbuf;
    bool connecting, hs_done, is_server, dead;
    bool net_eof, eof_fed, net_wr_shut, close_sent;
    bool app_rd_eof, app_gone, app_wr_shut;
    bool peer_closed, logged_truncation;
    uint64_t start_ms, deadline_ms, linger_ms;
    uint64_t bytes_to_peer, bytes_from_peer; /* plaintext */
    uint64_t net_bytes_in;     /* ciphertext received */
    char peer[64];
    char host[256];
    char fail[300];
    size_t net_in_len, app_in_len, app_out_len;
    uint8_t net_in[NET_CAP];
    uint8_t app_in[APP_CAP];
    uint8_t app_out[APP_CAP];
} shim_conn;

static struct {
    bool running;
    bool stopping;
    pthread_t thread;
    int epfd, evfd;
    shim_conn *conns;
    size_t n_conns;
    shim_conn *dead;
    shim_conn *again;
} H = {.epfd = -1, .evfd = -1};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* epoll data: the conn pointer with the low bit telling which fd */
#define TAG_NET 1u

static void arm(shim_conn *c, bool net, uint32_t want)
{
    int fd = net ? c->net_fd : c->app_fd;
    bool *reg = net ? &c->net_reg : &c->app_reg;
    uint32_t *cur = net ? &c->net_ev : &c->app_ev;
    bool hup = net ? c->net_hupseen : c->app_hupseen;
    if (fd < 0)
        return;
    /* a hung-up fd reports EPOLLHUP whatever the mask: take it out of the set
     * while there is nothing to do with it, or the loop would spin */
    if (want == 0 && hup) {
        if (*reg) {
            epoll_ctl(H.epfd, EPOLL_CTL_DEL, fd, NULL);
            *reg = false;
        }
        return;
    }
    if (*reg && *cur == want)
        return;
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = want;
    ev.data.u64 = (uint64_t)(uintptr_t)c | (net ? TAG_NET : 0);
    if (epoll_ctl(H.epfd, *reg ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) == 0) {
        *reg = true;
        *cur = want;
    }
}

static void close_app(shim_conn *c)
{
    if (c->app_fd >= 0) {
        if (c->app_reg)
            epoll_ctl(H.epfd, EPOLL_CTL_DEL, c->app_fd, NULL);
        shim_fd_close_own(c->app_fd);
        c->app_fd = -1;
        c->app_reg = false;
    }
}

static void close_pdup(shim_conn *c)
{
    if (c->pdup_fd >= 0) {
        shim_fd_close_own(c->pdup_fd);
        c->pdup_fd = -1;
    }
}

static const char *version_name(shim_conn *c)
{
    uint16_t v = c->hs_done ? tls_engine_version(c->eng) : 0;
    return v ? tls_version_name(v) : "-";
}

static const char *suite_name(shim_conn *c)
{
    const tls_suite_info *s = c->hs_done ? tls_engine_suite(c->eng) : NULL;
    return s && s->openssl_name ? s->openssl_name : "-";
}

static void finish(shim_conn *c)
{
    if (c->dead)
        return;
    c->dead = true;
    shim_sock *s = c->sock;
    if (!c->hs_done && s->state == SOCK_PENDING) {
        s->state = SOCK_FAILED;
        if (!s->err)
            s->err = ECONNREFUSED;
    } else if (s->state != SOCK_FAILED) {
        s->state = SOCK_FINISHED;
    }
    pthread_cond_broadcast(&shim_cond);
    close_app(c);
    close_pdup(c);
    if (c->net_fd >= 0) {
        if (c->net_reg)
            epoll_ctl(H.epfd, EPOLL_CTL_DEL, c->net_fd, NULL);
        shim_fd_close_own(c->net_fd);
        c->net_fd = -1;
        c->net_reg = false;
    }
    s->tcp_fd = -1;
    s->conn = NULL;
    uint64_t dur = now_ms() - c->start_ms;
    const char *verify = "-";
    if (c->hs_done) {
        tls_bad_cert vr = tls_engine_verify_result(c->eng);
        verify = c->rule->verify_peer ? (vr == TLS_BAD_CERT_NONE ? "ok" : tls_bad_cert_name(vr))
                                      : "none";
    }
    /* a client that connects and closes without a byte (a port probe, a
     * health check) is not worth more than a debug line */
    bool probe = c->is_server && !c->hs_done && c->net_bytes_in == 0;
    if (c->fail[0])
        shim_log(probe ? POLICY_LOG_DEBUG : POLICY_LOG_WARNING, "[%s] %s %s%s%s%s: %s",
                 c->rule->name, c->is_server ? "from" : "to", c->peer, c->host[0] ? " (" : "",
                 c->host, c->host[0] ? ")" : "", c->fail);
    shim_log(probe ? POLICY_LOG_DEBUG : POLICY_LOG_INFO,
             "[%s] %s %s%s%s%s: %s %s verify=%s sent=%llu received=%llu %llu.%03llus%s",
             c->rule->name, c->is_server ? "accepted from" : "connected to", c->peer,
             c->host[0] ? " (" : "", c->host, c->host[0] ? ")" : "", version_name(c),
             suite_name(c), verify, (unsigned long long)c->bytes_to_peer,
             (unsigned long long)c->bytes_from_peer, (unsigned long long)(dur / 1000),
             (unsigned long long)(dur % 1000),
             c->hs_done ? "" : " (handshake failed)");
    if (c->again) {
        for (shim_conn **pp = &H.again; *pp; pp = &(*pp)->again_next) {
            if (*pp == c) {
                *pp = c->again_next;
                break;
            }
        }
        c->again = false;
    }
    /* unlink now, free after the current batch of events */
    if (c->prev)
        c->prev->next = c->next;
    else
        H.conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    H.n_conns--;
    c->dead_next = H.dead;
    H.dead = c;
}

static void fail_conn(shim_conn *c, int sys_errno, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail_conn(shim_conn *c, int sys_errno, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->fail, sizeof c->fail, fmt, ap);
    va_end(ap);
    if (!c->hs_done) {
        /* the handshake failed: connect() reports ECONNREFUSED (or the TCP
         * error when the TCP connection itself failed) */
        c->sock->state = SOCK_FAILED;
        c->sock->err = sys_errno ? sys_errno : ECONNREFUSED;
    }
    /* best effort: hand the program what was already decrypted */
    if (c->app_fd >= 0 && c->app_out_len > 0 && !c->app_gone) {
        ssize_t n = send(c->app_fd, c->app_out, c->app_out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)n;
    }
    /* best effort: send the alert the engine queued */
    if (c->eng && c->net_fd >= 0 && !c->connecting) {
        size_t len = 0;
        const uint8_t *p = tls_engine_output(c->eng, &len);
        if (p && len) {
            ssize_t n = send(c->net_fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0)
                tls_engine_output_done(c->eng, (size_t)n);
        }
    }
    finish(c);
}

static void engine_failed(shim_conn *c)
{
    const tls_error *e = tls_engine_error(c->eng);
    char t[256];
    if (e)
        tls_format_error(e, t, sizeof t);
    else
        snprintf(t, sizeof t, "TLS failure");
    fail_conn(c, 0, "%s%s", c->hs_done ? "" : "handshake failed: ", t);
}

static size_t engine_pending_output(shim_conn *c)
{
    size_t len = 0;
    (void)tls_engine_output(c->eng, &len);
    return len;
}

static void handshake_done(shim_conn *c)
{
    c->hs_done = true;
    c->sock->state = SOCK_CONNECTED;
    c->sock->err = 0;
    pthread_cond_broadcast(&shim_cond);
    if (c->pdup_fd >= 0 && c->orig_sndbuf > 0) {
        /* getsockopt reported the doubled value; setsockopt doubles again */
        int v = c->orig_sndbuf / 2;
        shim_real.setsockopt(c->pdup_fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
    }
    close_pdup(c);
    if (shim_log_enabled(POLICY_LOG_DEBUG)) {
        const char *alpn = tls_engine_alpn(c->eng);
        const char *sni = tls_engine_sni(c->eng);
        shim_log(POLICY_LOG_DEBUG, "[%s] handshake with %s done: %s %s%s%s%s%s%s", c->rule->name,
                 c->peer, version_name(c), suite_name(c),
                 tls_engine_session_reused(c->eng) ? " resumed" : "", alpn ? " alpn=" : "",
                 alpn ? alpn : "", sni ? " sni=" : "", sni ? sni : "");
    }
}

/* what net_in holds, into the engine (as much as it takes) */
static bool feed_engine(shim_conn *c)
{
    bool progress = false;
    if (c->net_in_len > 0) {
        size_t used = 0;
        int r = tls_engine_feed(c->eng, c->net_in, c->net_in_len, &used);
        if (used > 0) {
            memmove(c->net_in, c->net_in + used, c->net_in_len - used);
            c->net_in_len -= used;
            progress = true;
        }
        (void)r; /* failures show in the status */
    }
    if (c->net_eof && c->net_in_len == 0 && !c->eof_fed) {
        tls_engine_feed_eof(c->eng);
        c->eof_fed = true;
        progress = true;
    }
    return progress;
}

/* ciphertext from the peer into the engine */
static bool net_to_engine(shim_conn *c)
{
    bool progress = false;
    if (!c->net_eof && c->net_in_len < NET_CAP && c->app_out_len < APP_CAP / 2) {
        ssize_t n = recv(c->net_fd, c->net_in + c->net_in_len, NET_CAP - c->net_in_len,
                         MSG_DONTWAIT);
        if (n > 0) {
            c->net_in_len += (size_t)n;
            c->net_bytes_in += (uint64_t)n;
            progress = true;
        } else if (n == 0) {
            c->net_eof = true;
            progress = true;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            if (!c->hs_done || !c->close_sent) {
                int e = errno;
                fail_conn(c, e, "network: %s", strerror(e));
                return false;
            }
            c->net_eof = true; /* reset after our close_notify: nothing lost */
            c->net_in_len = 0;
        }
    }
    return feed_engine(c) || progress;
}

/* plaintext from the engine to the program */
static bool engine_to_app(shim_conn *c)
{
    bool progress = false;
    while (c->app_out_len < APP_CAP) {
        size_t got = 0;
        int r = tls_engine_read(c->eng, c->app_out + c->app_out_len, APP_CAP - c->app_out_len,
                                &got);
        if (r < 0 || got == 0)
            break;
        c->app_out_len += got;
        progress = true;
    }
    if (c->app_gone || c->app_fd < 0) {
        c->app_out_len = 0;
        return progress;
    }
    if (c->app_out_len > 0) {
        ssize_t n = send(c->app_fd, c->app_out, c->app_out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            memmove(c->app_out, c->app_out + n, c->app_out_len - (size_t)n);
            c->app_out_len -= (size_t)n;
            c->bytes_from_peer += (uint64_t)n;
            progress = true;
        } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            /* the program shut its reading side or closed */
            c->app_gone = true;
            c->app_out_len = 0;
            progress = true;
        }
    }
    return progress;
}

/* plaintext from the program into the engine */
static bool app_to_engine(shim_conn *c)
{
    bool progress = false;
    if (!c->hs_done || c->app_fd < 0)
        return false;
    while (c->filler_left > 0) {
        uint8_t tmp[4096];
        size_t want = c->filler_left < sizeof tmp ? c->filler_left : sizeof tmp;
        ssize_t n = recv(c->app_fd, tmp, want, MSG_DONTWAIT);
        if (n <= 0)
            break;
        c->filler_left -= (size_t)n;
        progress = true;
    }
    if (c->filler_left == 0 && !c->app_rd_eof && c->app_in_len < APP_CAP &&
        engine_pending_output(c) < OUT_HIGH && !c->close_sent) {
        ssize_t n = recv(c->app_fd, c->app_in + c->app_in_len, APP_CAP - c->app_in_len,
                         MSG_DONTWAIT);
        if (n > 0) {
            c->app_in_len += (size_t)n;
            progress = true;
        } else if (n == 0) {
            c->app_rd_eof = true;
            progress = true;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            c->app_rd_eof = true;
            c->app_gone = true;
            progress = true;
        }
    }
    if (c->app_in_len > 0 && !c->close_sent && engine_pending_output(c) < OUT_HIGH) {
        size_t acc = 0;
        int r = tls_engine_write(c->eng, c->app_in, c->app_in_len, &acc);
        if (acc > 0) {
            memmove(c->app_in, c->app_in + acc, c->app_in_len - acc);
            c->app_in_len -= acc;
            c->bytes_to_peer += acc;
            progress = true;
        } else if (r == TLS_E_CLOSED) {
            c->app_in_len = 0; /* the connection is closed for writing: drop */
        }
    }
    if (c->app_rd_eof && c->app_in_len == 0 && !c->close_sent) {
        tls_engine_close_write(c->eng);
        c->close_sent = true;
        progress = true;
    }
    return progress;
}

/* ciphertext from the engine to the peer */
static bool engine_to_net(shim_conn *c)
{
    bool progress = false;
    for (;;) {
        size_t len = 0;
        const uint8_t *p = tls_engine_output(c->eng, &len);
        if (!p || len == 0)
            break;
        ssize_t n = send(c->net_fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            tls_engine_output_done(c->eng, (size_t)n);
            progress = true;
            if ((size_t)n < len)
                break;
        } else {
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                break;
            int e = n < 0 ? errno : EPIPE;
            fail_conn(c, e, "network: %s", strerror(e));
            return false;
        }
    }
    if (c->close_sent && !c->net_wr_shut && engine_pending_output(c) == 0) {
        shim_real.shutdown(c->net_fd, SHUT_WR);
        c->net_wr_shut = true;
        progress = true;
    }
    return progress;
}

static void pump(shim_conn *c, uint32_t events)
{
    if (c->connecting) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            goto rearm;
        int e = 0;
        socklen_t el = sizeof e;
        if (shim_real.getsockopt(c->net_fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
            e = errno;
        if (e) {
            fail_conn(c, e, "connect: %s", strerror(e));
            return;
        }
        c->connecting = false;
        c->sock->local_len = sizeof c->sock->local;
        shim_real.getsockname(c->net_fd, (struct sockaddr *)&c->sock->local, &c->sock->local_len);
    }
    bool progress = false;
    for (int round = 0; round < 64 && !c->dead; round++) {
        progress = false;
        progress |= net_to_engine(c);
        if (c->dead)
            return;
        unsigned st = tls_engine_status(c->eng);
        if (!c->hs_done && (st & TLS_ST_CONNECTED)) {
            handshake_done(c);
            progress = true;
        }
        progress |= engine_to_app(c);
        /* reading plaintext makes room in the engine's input buffer: feed
         * again what it could not take before */
        progress |= feed_engine(c);
        progress |= app_to_engine(c);
        progress |= engine_to_net(c);
        if (c->dead)
            return;
        st = tls_engine_status(c->eng);
        if (st & TLS_ST_FAILED) {
            engine_failed(c);
            return;
        }
        if (!c->hs_done && (st & TLS_ST_CONNECTED)) {
            handshake_done(c);
            progress = true;
        }
        if (st & TLS_ST_PEER_CLOSED)
            c->peer_closed = true;
        if (!progress)
            break;
    }
    if (progress && !c->again) {
        /* still moving after 64 rounds: let the others have a turn, then
         * come back (no event may announce what is already buffered) */
        c->again = true;
        c->again_next = H.again;
        H.again = c;
    }
    if (c->app_hupseen && c->app_rd_eof)
        c->app_gone = true; /* the program closed its end */
    unsigned st = tls_engine_status(c->eng);
    if (st & TLS_ST_WRITE_CLOSED)
        c->close_sent = true;
    /* Up to TLS 1.2 a close_notify must be answered at once and the
     * connection is over (RFC 5246 7.2.1): answer, drop what the program has
     * not sent yet. TLS 1.3 allows half-close: the program may keep writing
     * until it closes or shuts down its end. */
    bool full_close = c->peer_closed && c->hs_done && tls_engine_version(c->eng) <= TLS_TLS12;
    if (full_close && !c->close_sent) {
        c->app_in_len = 0;
        tls_engine_close_write(c->eng);
        c->close_sent = true;
        engine_to_net(c);
        if (c->dead)
            return;
        st = tls_engine_status(c->eng);
    }
    if (!c->hs_done && c->eof_fed) {
        fail_conn(c, 0, "handshake failed: the peer closed the connection");
        return;
    }
    /* the peer is done sending (close_notify, or EOF without it): once the
     * program has everything, give it EOF */
    bool peer_done = c->peer_closed || c->eof_fed;
    if (peer_done && c->eof_fed && !c->peer_closed && !c->logged_truncation && c->hs_done) {
        c->logged_truncation = true;
        if (!(c->close_sent && c->net_wr_shut))
            shim_log(POLICY_LOG_WARNING,
                     "[%s] %s closed the connection without close_notify: data may be truncated",
                     c->rule->name, c->peer);
    }
    if (peer_done && c->app_out_len == 0 && !(st & TLS_ST_CAN_READ) && !c->app_wr_shut &&
        c->app_fd >= 0) {
        shim_real.shutdown(c->app_fd, SHUT_WR);
        c->app_wr_shut = true;
    }
    /* TLS <= 1.2 closed by the peer: once the program has everything, the
     * connection is gone, as a TCP connection closed by its peer */
    if (full_close && c->net_wr_shut && (c->app_wr_shut || c->app_fd < 0)) {
        finish(c);
        return;
    }
    /* the program's end is done both ways: close ours */
    if (c->app_fd >= 0 && c->app_rd_eof && (c->app_wr_shut || c->app_gone))
        close_app(c);
    if (c->app_gone && c->net_wr_shut && !c->linger_ms)
        c->linger_ms = now_ms() + LINGER_MS;
    /* done: our close_notify is out and nobody will read what the peer sends */
    if (c->net_wr_shut && (c->app_fd < 0 || c->app_gone) && (c->net_eof || c->peer_closed)) {
        finish(c);
        return;
    }
    if (c->net_wr_shut && c->app_fd < 0 && peer_done) {
        finish(c);
        return;
    }
rearm:;
    /* an idle connection gives its record buffers back (about 50 KiB) */
    if (c->hs_done && c->eng && c->net_in_len == 0 &&
        !(tls_engine_status(c->eng) & (TLS_ST_WANT_OUTPUT | TLS_ST_CAN_READ)))
        tls_engine_trim(c->eng);
    uint32_t want_net = 0, want_app = 0;
    if (c->connecting) {
        want_net = EPOLLOUT;
    } else {
        if (!c->net_eof && c->net_in_len < NET_CAP && c->app_out_len < APP_CAP / 2)
            want_net |= EPOLLIN;
        if (engine_pending_output(c) > 0)
            want_net |= EPOLLOUT;
    }
    if (c->app_fd >= 0) {
        if (c->hs_done && !c->app_rd_eof && c->app_in_len < APP_CAP && !c->close_sent &&
            engine_pending_output(c) < OUT_HIGH)
            want_app |= EPOLLIN;
        if (c->app_out_len > 0 && !c->app_gone)
            want_app |= EPOLLOUT;
        arm(c, false, want_app);
    }
    arm(c, true, want_net);
}

static void check_deadlines(uint64_t now)
{
    shim_conn *next;
    for (shim_conn *c = H.conns; c; c = next) {
        next = c->next;
        if (!c->hs_done && c->deadline_ms && now >= c->deadline_ms)
            fail_conn(c, ETIMEDOUT, "handshake timed out after %d ms",
                      shim_policy->handshake_timeout_ms);
        else if (c->linger_ms && now >= c->linger_ms)
            finish(c);
    }
}

static void free_dead(void)
{
    while (H.dead) {
        shim_conn *c = H.dead;
        H.dead = c->dead_next;
        tls_engine_free(c->eng);
        shim_sock_unref(c->sock);
        free(c);
    }
}

static void *helper_main(void *arg)
{
    (void)arg;
    struct epoll_event evs[64];
    uint64_t last_scan = now_ms();
    for (;;) {
        int n = epoll_wait(H.epfd, evs, 64, H.again ? 0 : SCAN_MS);
        int e = errno;
        shim_lock();
        if (H.stopping) {
            shim_unlock();
            break;
        }
        if (n < 0 && e != EINTR) {
            shim_log(POLICY_LOG_ERROR, "helper: epoll_wait: %s", strerror(e));
            shim_unlock();
            break;
        }
        for (int i = 0; i < n; i++) {
            uint64_t d = evs[i].data.u64;
            if (d == 0) {
                uint64_t v;
                ssize_t r = read(H.evfd, &v, sizeof v);
                (void)r;
                continue;
            }
            shim_conn *c = (shim_conn *)(uintptr_t)(d & ~(uint64_t)TAG_NET);
            if (c->dead)
                continue;
            if (evs[i].events & (EPOLLHUP | EPOLLERR)) {
                if (d & TAG_NET)
                    c->net_hupseen = true;
                else
                    c->app_hupseen = true;
            }
            pump(c, evs[i].events);
        }
        /* connections that stopped with work left */
        shim_conn *again = H.again;
        H.again = NULL;
        while (again) {
            shim_conn *c = again;
            again = c->again_next;
            c->again = false;
            if (!c->dead)
                pump(c, 0);
        }
        uint64_t now = now_ms();
        if (now - last_scan >= SCAN_MS) {
            check_deadlines(now);
            last_scan = now;
        }
        free_dead();
        pthread_cond_broadcast(&shim_cond);
        shim_unlock();
    }
    return NULL;
}

static int helper_start(void)
{
    if (H.running)
        return 0;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        return -1;
    int ev = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ev < 0) {
        int e = errno;
        shim_real.close(ep);
        errno = e;
        return -1;
    }
    H.epfd = shim_fd_high(ep);
    H.evfd = shim_fd_high(ev);
    struct epoll_event e;
    memset(&e, 0, sizeof e);
    e.events = EPOLLIN;
    e.data.u64 = 0;
    epoll_ctl(H.epfd, EPOLL_CTL_ADD, H.evfd, &e);
    /* the helper inherits a mask with every signal blocked */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&H.thread, NULL, helper_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        shim_fd_close_own(H.epfd);
        shim_fd_close_own(H.evfd);
        H.epfd = H.evfd = -1;
        errno = rc;
        return -1;
    }
    H.running = true;
    H.stopping = false;
    return 0;
}

int shim_helper_add(const shim_conn_args *a)
{
    if (H.stopping) {
        errno = ECONNREFUSED;
        return -1;
    }
    if (helper_start() < 0)
        return -1;
    shim_conn *c = calloc(1, sizeof *c);
    if (!c) {
        errno = ENOMEM;
        return -1;
    }
    c->sock = a->sock;
    a->sock->refs++;
    a->sock->conn = c;
    a->sock->tcp_fd = a->net_fd;
    c->rule = a->rule;
    c->eng = a->engine;
    c->app_fd = a->app_fd;
    c->net_fd = a->net_fd;
    c->pdup_fd = a->pdup_fd;
    c->filler_left = a->filler;
    c->orig_sndbuf = a->orig_sndbuf;
    c->connecting = a->connecting;
    c->is_server = a->sock->is_server;
    c->start_ms = now_ms();
    if (shim_policy->handshake_timeout_ms > 0)
        c->deadline_ms = c->start_ms + (uint64_t)shim_policy->handshake_timeout_ms;
    shim_addr_str((const struct sockaddr *)&a->sock->peer, c->peer, sizeof c->peer);
    if (a->host)
        snprintf(c->host, sizeof c->host, "%s", a->host);
    c->next = H.conns;
    if (H.conns)
        H.conns->prev = c;
    H.conns = c;
    H.n_conns++;
    /* first pump from here: a client's ClientHello goes out at once when the
     * TCP connection is already up; otherwise this arms the fds */
    pump(c, c->connecting ? 0 : EPOLLOUT);
    uint64_t one = 1;
    ssize_t w = write(H.evfd, &one, sizeof one);
    (void)w;
    return 0;
}

int shim_engine_new(tls_config *c, const char *server_name, tls_engine **out, tls_error *err)
{
    shim_lock();
    int rc = tls_engine_new(c, server_name, out, err);
    shim_unlock();
    return rc;
}

void shim_engine_free(tls_engine *e)
{
    shim_lock();
    tls_engine_free(e);
    shim_unlock();
}

/* ---- fork ---- */
void shim_helper_fork_prepare(void)
{
    shim_lock();
}

void shim_helper_fork_parent(void)
{
    shim_unlock();
}

/* In the child: the parent's helper thread does not exist here. The child's
 * copies of its fds (helper socketpair ends, TCP sockets, epoll) are closed so
 * that the parent's connections end when the parent says so; the program fds
 * the child inherited keep working through the parent's helper. The child
 * starts its own helper when it makes a connection of its own. */
void shim_helper_child_reset(void)
{
    shim_conn *next;
    for (shim_conn *c = H.conns; c; c = next) {
        next = c->next;
        if (c->app_fd >= 0)
            shim_fd_close_own(c->app_fd);
        if (c->net_fd >= 0)
            shim_fd_close_own(c->net_fd);
        if (c->pdup_fd >= 0)
            shim_fd_close_own(c->pdup_fd);
        c->sock->conn = NULL;
        c->sock->tcp_fd = -1;
        shim_sock_unref(c->sock);
        tls_engine_free(c->eng);
        free(c);
    }
    while (H.dead) {
        shim_conn *c = H.dead;
        H.dead = c->dead_next;
        tls_engine_free(c->eng);
        shim_sock_unref(c->sock);
        free(c);
    }
    H.conns = NULL;
    H.again = NULL;
    H.n_conns = 0;
    if (H.epfd >= 0)
        shim_fd_close_own(H.epfd);
    if (H.evfd >= 0)
        shim_fd_close_own(H.evfd);
    H.epfd = H.evfd = -1;
    H.running = false;
    H.stopping = false;
}

/* ---- exit ---- */
static bool all_flushed(void)
{
    for (shim_conn *c = H.conns; c; c = c->next) {
        /* a connection still in its handshake holds nothing of the program's
         * that could be sent (never plaintext before the handshake) */
        if (c->connecting || !c->hs_done)
            continue;
        if (!c->net_wr_shut)
            return false;
    }
    return true;
}

/* At exit() the program's fds are still open; the kernel would close them and
 * TCP would deliver what was written. Do the same: close the program's ends,
 * let the helper flush and send close_notify (bounded wait), then stop the
 * helper before libcrypto is cleaned up. _exit() skips this. */
void shim_helper_exit_drain(void)
{
    shim_lock();
    if (!H.running) {
        shim_unlock();
        return;
    }
    for (int fd = 0; fd < shim_fd_max(); fd++) {
        shim_sock *s = shim_fd_sock(fd);
        if (s && s->conn) {
            shim_fd_set_sock(fd, NULL);
            shim_real.close(fd);
        }
    }
    uint64_t one = 1;
    ssize_t w = write(H.evfd, &one, sizeof one);
    (void)w;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 3;
    while (H.conns && !all_flushed()) {
        if (pthread_cond_timedwait(&shim_cond, &shim_mutex, &until) == ETIMEDOUT)
            break;
    }
    H.stopping = true;
    w = write(H.evfd, &one, sizeof one);
    pthread_t t = H.thread;
    shim_unlock();
    pthread_join(t, NULL);
    shim_lock();
    H.running = false;
    /* log and close what is left */
    while (H.conns) {
        shim_conn *c = H.conns;
        if (!c->hs_done && !c->fail[0])
            snprintf(c->fail, sizeof c->fail, "the program exited during the handshake");
        finish(c);
    }
    free_dead();
    shim_unlock();
}
