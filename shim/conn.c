/* One connection's pump: the bytes between the program's socketpair end, the
 * engine and the TCP socket, and the transitions of conn.h's states.
 *
 * Buffers are bounded: a side whose destination is full is not read, so a
 * slow program throttles the peer through TCP flow control and vice versa.
 * Every send uses MSG_NOSIGNAL (the helper never raises SIGPIPE).
 *
 * Plaintext never reaches the network before the handshake completes: the
 * program's end is not read until PHASE_OPEN, and the engine only emits
 * application data encrypted. If the handshake fails, whatever the program
 * queued is discarded with the socketpair. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <openssl/crypto.h>

#include "conn.h"

#define OUT_HIGH (64 * 1024) /* stop feeding the engine while it holds this much to send */
#define LINGER_MS 5000       /* after our close_notify, wait this long for the peer's EOF */

/* *buf, allocated now if it is not yet; false (c failed) without memory */
static bool need_buf(shim_conn *c, uint8_t **buf, size_t cap)
{
    if (!*buf && !(*buf = malloc(cap)))
        conn_fail(c, ENOMEM, "no memory for a %zu-byte buffer", cap);
    return *buf != NULL;
}

/* plaintext: wiped before it goes back to the allocator */
static void free_buf(uint8_t **buf, size_t cap, bool plaintext)
{
    if (*buf && plaintext)
        OPENSSL_cleanse(*buf, cap);
    free(*buf);
    *buf = NULL;
}

void conn_free_buffers(shim_conn *c)
{
    free_buf(&c->app_in, APP_CAP, true);
    c->app_in_len = 0;
}

static void close_pdup(shim_conn *c)
{
    if (c->pdup_fd >= 0) {
        shim_fd_close_own(c->pdup_fd);
        c->pdup_fd = -1;
    }
}

static const char *version_name(shim_conn *c, bool hs_done)
{
    uint16_t v = hs_done ? tls_engine_version(c->eng) : 0;
    return v ? tls_version_name(v) : "-";
}

static const char *suite_name(shim_conn *c, bool hs_done)
{
    const tls_suite_info *s = hs_done ? tls_engine_suite(c->eng) : NULL;
    return s && s->openssl_name ? s->openssl_name : "-";
}

static void log_end(shim_conn *c, bool hs_done)
{
    uint64_t dur = helper_now_ms() - c->start_ms;
    const char *verify = "-";
    if (hs_done) {
        tls_bad_cert vr = tls_engine_verify_result(c->eng);
        verify = c->rule->verify_peer ? (vr == TLS_BAD_CERT_NONE ? "ok" : tls_bad_cert_name(vr))
                                      : "none";
    }
    /* a client that connects and closes without a byte (a port probe, a
     * health check) is not worth more than a debug line */
    bool probe = c->is_server && !hs_done && c->net_bytes_in == 0;
    const char *host = c->host ? c->host : "";
    const char *lp = host[0] ? " (" : "", *rp = host[0] ? ")" : "";
    if (c->fail)
        shim_log(probe ? POLICY_LOG_DEBUG : POLICY_LOG_WARNING, "[%s] %s %s%s%s%s: %s",
                 c->rule->name, c->is_server ? "from" : "to", c->peer, lp, host, rp, c->fail);
    shim_log(probe ? POLICY_LOG_DEBUG : POLICY_LOG_INFO,
             "[%s] %s %s%s%s%s: %s %s verify=%s sent=%llu received=%llu %llu.%03llus%s",
             c->rule->name, c->is_server ? "accepted from" : "connected to", c->peer, lp, host,
             rp, version_name(c, hs_done), suite_name(c, hs_done), verify,
             (unsigned long long)c->bytes_to_peer, (unsigned long long)c->bytes_from_peer,
             (unsigned long long)(dur / 1000), (unsigned long long)(dur % 1000),
             hs_done ? "" : " (handshake failed)");
}

void conn_set_fail(shim_conn *c, const char *why)
{
    char *copy = strdup(why);
    if (!copy)
        return; /* the log line loses its reason; the connection still fails */
    free(c->fail);
    c->fail = copy;
}

void conn_free(shim_conn *c)
{
    tls_engine_free(c->eng);
    conn_free_buffers(c);
    free(c->host);
    free(c->fail);
    free(c);
}

void conn_finish(shim_conn *c)
{
    if (c->phase == PHASE_DEAD)
        return;
    bool hs_done = c->phase == PHASE_OPEN;
    c->phase = PHASE_DEAD;
    if (!hs_done)
        stats_handshake_failed(c->rule, c->fail_kind);
    stats_conn_closed(c->rule);
    shim_sock *s = c->sock;
    if (!hs_done && s->state == SOCK_PENDING) {
        s->state = SOCK_FAILED;
        if (!s->err)
            s->err = ECONNREFUSED;
    } else if (s->state != SOCK_FAILED) {
        s->state = SOCK_FINISHED;
    }
    pthread_cond_broadcast(&shim_cond);
    helper_close_side(c, false);
    close_pdup(c);
    helper_close_side(c, true);
    s->tcp_fd = -1;
    s->conn = NULL;
    log_end(c, hs_done);
    helper_retire(c);
}

void conn_fail(shim_conn *c, int sys_errno, const char *fmt, ...)
{
    char why[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    conn_set_fail(c, why);
    const tls_error *te = c->eng ? tls_engine_error(c->eng) : NULL;
    int code = te ? te->code : 0;
    c->fail_kind = sys_errno == ETIMEDOUT        ? STATS_FAIL_TIMEOUT
                   : code == TLS_E_BAD_CERT        ? STATS_FAIL_BAD_CERT
                   : code == TLS_E_ALERT_SENT      ? STATS_FAIL_ALERT_SENT
                   : code == TLS_E_ALERT_RECEIVED  ? STATS_FAIL_ALERT_RECEIVED
                   : sys_errno                     ? STATS_FAIL_NETWORK
                   : c->net_eof || code == TLS_E_CLOSED ? STATS_FAIL_PEER_CLOSED
                                                   : STATS_FAIL_OTHER;
    if (c->phase < PHASE_OPEN) {
        /* the handshake failed: connect() reports ECONNREFUSED (or the TCP
         * error when the TCP connection itself failed) */
        c->sock->state = SOCK_FAILED;
        c->sock->err = sys_errno ? sys_errno : ECONNREFUSED;
    }
    /* best effort: hand the program what was already decrypted */
    size_t plain_len = 0;
    const uint8_t *plain = c->eng ? tls_engine_peek(c->eng, &plain_len) : NULL;
    if (c->app_fd >= 0 && plain && !c->app_gone) {
        ssize_t n = send(c->app_fd, plain, plain_len, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)n;
    }
    /* best effort: send the alert the engine queued */
    if (c->eng && c->net_fd >= 0 && c->phase != PHASE_TCP_CONNECTING) {
        size_t len = 0;
        const uint8_t *p = tls_engine_output(c->eng, &len);
        if (p && len) {
            ssize_t n = send(c->net_fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0)
                tls_engine_output_done(c->eng, (size_t)n);
        }
    }
    conn_finish(c);
}

static void engine_failed(shim_conn *c)
{
    const tls_error *e = tls_engine_error(c->eng);
    char t[256];
    if (e)
        tls_format_error(e, t, sizeof t);
    else
        snprintf(t, sizeof t, "TLS failure");
    conn_fail(c, 0, "%s%s", c->phase == PHASE_OPEN ? "" : "handshake failed: ", t);
}

static size_t engine_pending_output(shim_conn *c)
{
    size_t len = 0;
    (void)tls_engine_output(c->eng, &len);
    return len;
}

/* PHASE_HANDSHAKE -> PHASE_OPEN once the engine says so; true if it moved */
static bool check_handshake(shim_conn *c)
{
    if (c->phase != PHASE_HANDSHAKE || !(tls_engine_status(c->eng) & TLS_ST_CONNECTED))
        return false;
    c->phase = PHASE_OPEN;
    stats_handshake_done(c->rule, helper_now_ms() - c->start_ms, tls_engine_session_reused(c->eng));
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
                 c->peer, version_name(c, true), suite_name(c, true),
                 tls_engine_session_reused(c->eng) ? " resumed" : "", alpn ? " alpn=" : "",
                 alpn ? alpn : "", sni ? " sni=" : "", sni ? sni : "");
    }
    return true;
}

/* RECV_OPEN -> RECV_ENDED: the engine read its end of the stream (after all
 * the plaintext before it): close_notify, or the TCP EOF without one */
static void peer_ended(shim_conn *c)
{
    c->recv = RECV_ENDED;
    if (!(tls_engine_status(c->eng) & TLS_ST_PEER_CLOSED) && c->send != SEND_SHUT)
        shim_log(POLICY_LOG_WARNING,
                 "[%s] %s closed the connection without close_notify: data may be truncated",
                 c->rule->name, c->peer);
}

/* ciphertext from the peer, received straight into the engine's buffer */
static bool net_to_engine(shim_conn *c)
{
    bool progress = false;
    if (c->net_rd && !c->net_eof) {
        /* no room (NULL): the plaintext of the records in it waits for the
         * program, which throttles the peer through TCP */
        size_t room = 0;
        uint8_t *p = tls_engine_feed_buffer(c->eng, &room);
        if (p) {
            ssize_t n = recv(c->net_fd, p, room, MSG_DONTWAIT);
            if (n < 0 || (size_t)n < room)
                c->net_rd = false; /* drained (a short read of a stream socket) */
            if (n > 0) {
                (void)tls_engine_feed_commit(c->eng, (size_t)n); /* failures: status */
                c->net_bytes_in += (uint64_t)n;
                progress = true;
            } else if (n == 0) {
                c->net_eof = true;
                progress = true;
            } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                if (c->phase != PHASE_OPEN || c->send < SEND_NOTIFYING) {
                    int e = errno;
                    conn_fail(c, e, "network: %s", strerror(e));
                    return false;
                }
                c->net_eof = true; /* reset after our close_notify: nothing lost */
            }
        }
    }
    /* the TCP EOF: all the ciphertext before it is in the engine (which fails
     * if it comes during the handshake; engine_to_app sees the end otherwise) */
    if (c->net_eof && c->recv == RECV_OPEN)
        tls_engine_feed_eof(c->eng);
    return progress;
}

/* plaintext from the engine to the program, sent from where the record was
 * opened */
static bool engine_to_app(shim_conn *c)
{
    bool progress = false;
    for (;;) {
        size_t len = 0;
        const uint8_t *p = tls_engine_peek(c->eng, &len);
        if (!p) {
            unsigned st = tls_engine_status(c->eng);
            if ((st & (TLS_ST_PEER_CLOSED | TLS_ST_EOF_NO_NOTIFY)) && !(st & TLS_ST_FAILED) &&
                c->phase == PHASE_OPEN && c->recv == RECV_OPEN) {
                peer_ended(c);
                progress = true;
            }
            return progress;
        }
        if (c->app_gone || c->app_fd < 0) {
            tls_engine_read_done(c->eng, len); /* nobody reads: dropped */
            progress = true;
            continue;
        }
        ssize_t n = send(c->app_fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            tls_engine_read_done(c->eng, (size_t)n);
            c->bytes_from_peer += (uint64_t)n;
            stats_bytes(c->rule, false, (uint64_t)n);
            progress = true;
            if ((size_t)n < len)
                return progress;
        } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            c->app_gone = true; /* the program shut its reading side or closed */
            progress = true;
        } else {
            return progress;
        }
    }
}

/* SEND_LAST -> SEND_NOTIFYING */
static void queue_close_notify(shim_conn *c)
{
    tls_engine_close_write(c->eng);
    c->send = SEND_NOTIFYING;
}

/* plaintext from the program into the engine */
static bool app_to_engine(shim_conn *c)
{
    bool progress = false;
    if (c->phase != PHASE_OPEN || c->app_fd < 0)
        return false;
    while (c->filler_left > 0) {
        uint8_t tmp[4096];
        size_t want = c->filler_left < sizeof tmp ? c->filler_left : sizeof tmp;
        ssize_t n = recv(c->app_fd, tmp, want, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            c->app_rd = false;
        if (n <= 0)
            break;
        c->filler_left -= (size_t)n;
        progress = true;
    }
    if (c->app_rd && c->filler_left == 0 && c->send == SEND_OPEN && c->app_in_len < APP_CAP &&
        engine_pending_output(c) < OUT_HIGH) {
        if (!need_buf(c, &c->app_in, APP_CAP))
            return false;
        size_t room = APP_CAP - c->app_in_len;
        ssize_t n = recv(c->app_fd, c->app_in + c->app_in_len, room, MSG_DONTWAIT);
        if (n < 0 || (size_t)n < room)
            c->app_rd = false;
        if (n > 0) {
            c->app_in_len += (size_t)n;
            progress = true;
        } else if (n == 0) {
            c->send = SEND_LAST;
            progress = true;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            c->send = SEND_LAST;
            c->app_gone = true;
            progress = true;
        }
    }
    if (c->app_in_len > 0 && c->send <= SEND_LAST && engine_pending_output(c) < OUT_HIGH) {
        size_t acc = 0;
        int r = tls_engine_write(c->eng, c->app_in, c->app_in_len, &acc);
        if (acc > 0) {
            memmove(c->app_in, c->app_in + acc, c->app_in_len - acc);
            c->app_in_len -= acc;
            c->bytes_to_peer += acc;
            stats_bytes(c->rule, true, acc);
            progress = true;
        } else if (r == TLS_E_CLOSED) {
            c->app_in_len = 0; /* the connection is closed for writing: drop */
        }
    }
    if (c->send == SEND_LAST && c->app_in_len == 0) {
        queue_close_notify(c);
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
            if (c->send >= SEND_NOTIFYING && (tls_engine_status(c->eng) & TLS_ST_PEER_CLOSED)) {
                /* the peer closed TCP after its close_notify, before ours
                 * arrived (RFC 5246 7.2.1 lets it): it wanted nothing more,
                 * so this is the end, not a failure */
                conn_finish(c);
                return false;
            }
            conn_fail(c, e, "network: %s", strerror(e));
            return false;
        }
    }
    if (c->send == SEND_NOTIFYING && engine_pending_output(c) == 0) {
        shim_real.shutdown(c->net_fd, SHUT_WR);
        c->send = SEND_SHUT;
        progress = true;
    }
    return progress;
}

/* PHASE_TCP_CONNECTING -> PHASE_HANDSHAKE; false if the connection failed */
static bool check_tcp_connected(shim_conn *c)
{
    int e = 0;
    socklen_t el = sizeof e;
    if (shim_real.getsockopt(c->net_fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
        e = errno;
    if (e) {
        conn_fail(c, e, "connect: %s", strerror(e));
        return false;
    }
    c->phase = PHASE_HANDSHAKE;
    c->sock->local_len = sizeof c->sock->local;
    shim_real.getsockname(c->net_fd, (struct sockaddr *)&c->sock->local, &c->sock->local_len);
    return true;
}

/* Moves bytes until nothing moves (or 64 rounds: then the others get a turn
 * and c comes back, since no event may announce what is already buffered).
 * False if the connection died. */
static bool move_bytes(shim_conn *c)
{
    bool progress = false;
    for (int round = 0; round < 64; round++) {
        progress = net_to_engine(c);
        if (c->phase == PHASE_DEAD)
            return false;
        progress |= check_handshake(c);
        progress |= engine_to_app(c);
        if (c->phase == PHASE_DEAD)
            return false;
        progress |= app_to_engine(c);
        if (c->phase == PHASE_DEAD)
            return false;
        progress |= engine_to_net(c);
        if (c->phase == PHASE_DEAD)
            return false;
        if (tls_engine_status(c->eng) & TLS_ST_FAILED) {
            engine_failed(c);
            return false;
        }
        progress |= check_handshake(c);
        if (!progress)
            return true;
        c->quiet = c->trimmed = false;
    }
    if (!c->again)
        helper_again(c);
    return true;
}

/* The transitions that follow from where the bytes are; false if c died. */
static bool advance(shim_conn *c)
{
    if (c->app_hupseen && c->send >= SEND_LAST)
        c->app_gone = true; /* the program closed its end */
    unsigned st = tls_engine_status(c->eng);
    if ((st & TLS_ST_WRITE_CLOSED) && c->send < SEND_NOTIFYING)
        c->send = SEND_NOTIFYING;
    if (c->phase == PHASE_HANDSHAKE && c->net_eof) {
        conn_fail(c, 0, "handshake failed: the peer closed the connection");
        return false;
    }
    /* The peer is done sending: once the program has everything, it reads
     * EOF. A close_notify ends the peer's direction only, at every version:
     * the program may go on writing until it closes or shuts down
     * its end; our close_notify follows then. TLS 1.3 says so (RFC 8446
     * 6.1); for TLS 1.2 and older, RFC 5246 7.2.1 asks for an immediate
     * reply, but OpenSSL leaves the reply to the program (SSL_shutdown), and
     * the programs built on it half-close this way. */
    if (c->recv == RECV_ENDED && !(st & TLS_ST_CAN_READ) && c->app_fd >= 0) {
        shim_real.shutdown(c->app_fd, SHUT_WR);
        c->recv = RECV_DONE;
    }
    /* the program's end is done both ways: close ours */
    if (c->app_fd >= 0 && c->send >= SEND_LAST && (c->recv == RECV_DONE || c->app_gone))
        helper_close_side(c, false);
    if (c->app_gone && c->send == SEND_SHUT && !c->linger_ms)
        c->linger_ms = helper_now_ms() + LINGER_MS;
    /* done: our close_notify is out and nobody will read what the peer sends */
    bool nobody_reads = c->app_fd < 0 || c->app_gone;
    if (c->send == SEND_SHUT && nobody_reads &&
        (c->net_eof || (st & TLS_ST_PEER_CLOSED) || (c->app_fd < 0 && c->recv != RECV_OPEN))) {
        conn_finish(c);
        return false;
    }
    return true;
}

static void rearm(shim_conn *c)
{
    uint32_t want_net = 0, want_app = 0;
    /* plaintext the program has not taken yet: the network waits for it */
    bool plain_waits = tls_engine_status(c->eng) & TLS_ST_CAN_READ;
    if (c->phase == PHASE_TCP_CONNECTING) {
        want_net = EPOLLOUT;
    } else {
        if (!c->net_eof && !plain_waits)
            want_net |= EPOLLIN;
        if (engine_pending_output(c) > 0)
            want_net |= EPOLLOUT;
    }
    if (c->app_fd >= 0) {
        if (c->phase == PHASE_OPEN && c->send == SEND_OPEN && c->app_in_len < APP_CAP &&
            engine_pending_output(c) < OUT_HIGH)
            want_app |= EPOLLIN;
        if (plain_waits && !c->app_gone)
            want_app |= EPOLLOUT;
        helper_arm(c, false, want_app);
    }
    helper_arm(c, true, want_net);
}

bool conn_idle_scan(shim_conn *c)
{
    if (!c->quiet) {
        c->quiet = true; /* trimmed at the next scan unless a byte moves */
        return false;
    }
    if (c->phase != PHASE_OPEN || c->trimmed)
        return false;
    c->trimmed = true;
    /* an idle connection gives its buffers back: the engine's record buffers
     * (about 50 KiB) and the shim's (16 KiB), each only while it is empty */
    if (!(tls_engine_status(c->eng) & (TLS_ST_WANT_OUTPUT | TLS_ST_CAN_READ)))
        tls_engine_trim(c->eng);
    if (c->app_in_len == 0)
        free_buf(&c->app_in, APP_CAP, true);
    return true;
}

void conn_pump(shim_conn *c, uint32_t events)
{
    if (c->phase == PHASE_TCP_CONNECTING) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
            rearm(c);
            return;
        }
        if (!check_tcp_connected(c))
            return;
    }
    if (move_bytes(c) && advance(c))
        rearm(c);
}
