/* A connected socket's calls: send, recv, renegotiate, close, shutdown,
 * and the facts (peername, sockname, peercert, connection_info). */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "err.h"
#include "sock.h"

#define CLOSE_FLUSH_MS 500 /* tls_close: how long close_notify may take to leave */
#define CLOSE_DRAIN_MS 100 /* tls_close: wait for the peer's FIN so close() does not RST */

/* ---- data ---------------------------------------------------------------- */

/* Common checks of send/recv/renegotiate; takes a reference and the lock. */
static int enter(tls_socket *s, const char *fn, tls_error *err)
{
    if (!s)
        return tls_err_set(err, TLS_E_BADARG, -1, "%s: NULL socket", fn);
    if (s->listener)
        return tls_err_set(err, TLS_E_BADARG, -1, "%s on a listening socket", fn);
    tls_sock_ref(s);
    pthread_mutex_lock(&s->lock);
    if (s->closed) {
        pthread_mutex_unlock(&s->lock);
        tls_sock_unref(s);
        return tls_err_set(err, TLS_E_CLOSED, -1, "%s: the socket is closed", fn);
    }
    if (!s->eng || !s->handshaken) {
        int rc = s->eng && tls_sock_engine_failed(s)
                     ? tls_sock_end_error(s, err)
                     : tls_err_set(err, TLS_E_STATE, -1, "%s before the handshake", fn);
        pthread_mutex_unlock(&s->lock);
        tls_sock_unref(s);
        return rc;
    }
    return TLS_OK;
}

static void leave(tls_socket *s)
{
    pthread_mutex_unlock(&s->lock);
    tls_sock_unref(s);
}

int tls_send(tls_socket *s, const void *data, size_t len, tls_error *err)
{
    tls_err_clear(err);
    if (!data && len)
        return tls_err_set(err, TLS_E_BADARG, -1, "tls_send: NULL data");
    int rc = enter(s, "tls_send", err);
    if (rc != TLS_OK)
        return rc;
    const uint8_t *p = data;
    size_t off = 0;
    /* {packet, N}: the prefix and the message go out as one piece, so that
     * a small message is one record */
    uint8_t prefix[4];
    size_t plen = 0;
    uint8_t *framed = NULL;
    rc = tls_packet_prefix(s, len, prefix, &plen, err);
    if (rc != TLS_OK)
        goto out;
    if (plen) {
        if (!(framed = malloc(plen + len))) {
            rc = tls_err_set(err, TLS_E_NOMEM, -1, "tls_send: framing %zu bytes", len);
            goto out;
        }
        memcpy(framed, prefix, plen);
        if (len)
            memcpy(framed + plen, data, len);
        p = framed;
        len += plen;
    }
    if (s->wr_shut) {
        rc = tls_err_set(err, TLS_E_CLOSED, -1, "tls_send after shutdown(write)");
        goto out;
    }
    if (s->wr_broken) {
        rc = tls_sock_write_error(s, err);
        goto out;
    }
    while (off < len) {
        size_t acc = 0;
        rc = tls_engine_write(s->eng, p + off, len - off, &acc);
        off += acc;
        if (rc == TLS_OK && off == len)
            break;
        if (rc == TLS_OK || rc == TLS_E_WOULDBLOCK) {
            rc = tls_sock_drive(s, TLS_SOCK_UNTIL_WRITABLE, 0, -1, err);
            if (rc != TLS_OK)
                goto out;
            continue;
        }
        if (rc == TLS_E_CLOSED) {
            rc = tls_err_set(err, TLS_E_CLOSED, -1, "tls_send after close_notify was sent");
            goto out;
        }
        rc = tls_sock_end_error(s, err);
        goto out;
    }
    rc = tls_sock_drive(s, TLS_SOCK_UNTIL_FLUSHED, 0, -1, err);
out:
    if (framed) {
        OPENSSL_cleanse(framed, len);
        free(framed);
    }
    leave(s);
    return rc;
}

/* tls_recv under {packet, 1|2|4|line}: one whole message, lock held */
static ssize_t recv_message(tls_socket *s, void *buf, size_t cap, int timeout_ms, tls_error *err)
{
    int64_t deadline = tls_sock_deadline(timeout_ms);
    for (;;) {
        size_t hdr = 0, body = 0, need = 0;
        int rc = tls_packet_peek(s, &hdr, &body, &need, err);
        if (rc == TLS_OK) {
            if (body > cap)
                return tls_err_set(err, TLS_E_BADARG, -1,
                                   "tls_recv: a message of %zu bytes does not fit the buffer of %zu "
                                   "(it stays for the next call)", body, cap);
            memcpy(buf, s->app + s->a_off + hdr, body);
            tls_packet_consume(s, hdr + body);
            return (ssize_t)body;
        }
        if (rc != TLS_E_WOULDBLOCK)
            return rc;
        rc = tls_sock_drive(s, TLS_SOCK_UNTIL_PLAINTEXT, need, deadline, err);
        if (rc != TLS_OK) {
            /* as in raw mode: a timeout keeps the part that came, the end loses it */
            if (rc != TLS_E_TIMEOUT && s->a_len > s->a_off)
                tls_packet_consume(s, s->a_len - s->a_off);
            return rc;
        }
    }
}

ssize_t tls_recv(tls_socket *s, void *buf, size_t cap, size_t length, int timeout_ms, tls_error *err)
{
    tls_err_clear(err);
    if (!buf || (length == 0 && cap == 0) || length > cap)
        return tls_err_set(err, TLS_E_BADARG, -1, "tls_recv: need a buffer and length <= cap (length %zu, cap %zu)",
                           length, cap);
    if (length > SSIZE_MAX)
        return tls_err_set(err, TLS_E_BADARG, -1, "tls_recv: length too large");
    int rc = enter(s, "tls_recv", err);
    if (rc != TLS_OK)
        return rc;
    ssize_t ret;
    if (s->active != TLS_ACTIVE_FALSE) {
        ret = tls_err_set(err, TLS_E_STATE, -1, "tls_recv on a socket in active mode");
        goto out;
    }
    if (s->packet != TLS_PACKET_RAW) {
        ret = length ? tls_err_set(err, TLS_E_BADARG, -1,
                                   "tls_recv: length must be 0 under packet framing (it is %zu)", length)
                     : recv_message(s, buf, cap, timeout_ms, err);
        goto out;
    }
    size_t need = length ? length : 1;
    rc = tls_sock_drive(s, TLS_SOCK_UNTIL_PLAINTEXT, need, tls_sock_deadline(timeout_ms), err);
    if (rc == TLS_OK) {
        size_t avail = s->a_len - s->a_off;
        size_t n = length ? length : (avail < cap ? avail : cap);
        memcpy(buf, s->app + s->a_off, n);
        OPENSSL_cleanse(s->app + s->a_off, n);
        s->a_off += n;
        if (s->a_off == s->a_len)
            s->a_off = s->a_len = 0;
        ret = (ssize_t)n;
    } else {
        /* a timeout keeps what arrived for the next call; a closed
         * connection loses a partial message, as the Erlang/OTP ssl module says */
        if (rc != TLS_E_TIMEOUT && s->a_len > s->a_off) {
            OPENSSL_cleanse(s->app + s->a_off, s->a_len - s->a_off);
            s->a_off = s->a_len = 0;
        }
        ret = rc;
    }
out:
    leave(s);
    return ret;
}

int tls_renegotiate(tls_socket *s, tls_error *err)
{
    tls_err_clear(err);
    int rc = enter(s, "tls_renegotiate", err);
    if (rc != TLS_OK)
        return rc;
    rc = tls_engine_renegotiate(s->eng);
    if (rc == TLS_E_STATE) {
        rc = tls_err_set(err, TLS_E_STATE, -1,
                         "tls_renegotiate: not possible now (a handshake is running, "
                         "or the connection is closing)");
    } else if (rc != TLS_OK) {
        rc = tls_sock_end_error(s, err);
    } else {
        /* plaintext that arrives meanwhile waits in app[] for recv/active */
        rc = tls_sock_drive(s, TLS_SOCK_UNTIL_RENEGOTIATED, 0, -1, err);
        if (rc == TLS_OK && tls_engine_error(s->eng)->code == TLS_E_RENEG_REJECTED) {
            if (err)
                *err = *tls_engine_error(s->eng);
            rc = TLS_E_RENEG_REJECTED;
        }
        if (s->active != TLS_ACTIVE_FALSE)
            tls_active_update(s); /* data may have been set aside for the owner */
    }
    leave(s);
    return rc;
}

/* ---- closing ------------------------------------------------------------ */

/* Reads and drops input for a moment so that close() does not answer the
 * peer's late bytes with a RST (which can destroy our close_notify in flight). */
static void drain_briefly(tls_socket *s)
{
    int fd = tls_sock_poll_fd(s);
    if (fd < 0 || s->eof || s->rd_broken)
        return;
    int64_t deadline = tls_sock_deadline(CLOSE_DRAIN_MS);
    uint8_t junk[4096];
    for (;;) {
        ssize_t n = s->tr->recv(s->ctx, junk, sizeof junk);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK))
            return;
        if (n > 0 || errno == EINTR)
            continue;
        int ms = tls_sock_remaining_ms(deadline);
        struct pollfd p = {fd, POLLIN, 0};
        if (ms == 0 || poll(&p, 1, ms) <= 0)
            return;
    }
}

int tls_close(tls_socket *s)
{
    if (!s)
        return TLS_E_BADARG;
    int rc = TLS_OK;
    pthread_mutex_lock(&s->lock);
    if (!s->closed) {
        if (s->eng) {
            unsigned st = tls_engine_status(s->eng);
            if ((st & TLS_ST_CONNECTED) && !(st & TLS_ST_FAILED) && !s->wr_broken)
                (void)tls_engine_close_write(s->eng); /* no-op if already sent */
            (void)tls_sock_drive(s, TLS_SOCK_UNTIL_FLUSHED, 0, tls_sock_deadline(CLOSE_FLUSH_MS), NULL);
            if (s->tr->shutdown && !s->wr_broken)
                (void)s->tr->shutdown(s->ctx, SHUT_WR);
            struct pollfd p = {tls_sock_poll_fd(s), POLLIN, 0};
            if (p.fd >= 0 && poll(&p, 1, 0) > 0)
                drain_briefly(s);
            if (s->tr->shutdown)
                (void)s->tr->shutdown(s->ctx, SHUT_RDWR); /* wakes other threads in poll */
        }
        s->closed = true;
        tls_active_update(s); /* leaves the helper's epoll while the fd is still open */
        if (s->listener) {
            (void)shutdown(s->fd, SHUT_RDWR); /* wakes threads polling in tls_transport_accept */
            rc = close(s->fd) < 0 ? TLS_E_SYSCALL : TLS_OK;
        }
        else
            rc = s->tr->close(s->ctx) < 0 ? TLS_E_SYSCALL : TLS_OK;
        s->fd = -1;
    }
    pthread_mutex_unlock(&s->lock);
    tls_sock_unref(s);
    return rc;
}

int tls_shutdown(tls_socket *s, tls_shutdown_how how, tls_error *err)
{
    tls_err_clear(err);
    if (how != TLS_SHUT_READ && how != TLS_SHUT_WRITE && how != TLS_SHUT_READ_WRITE)
        return tls_err_set(err, TLS_E_BADARG, -1, "tls_shutdown: how must be read, write or read_write");
    int rc = enter(s, "tls_shutdown", err);
    if (rc != TLS_OK)
        return rc;
    if (how != TLS_SHUT_READ && !s->wr_shut) {
        if (!tls_sock_engine_failed(s) && !s->wr_broken) {
            (void)tls_engine_close_write(s->eng);
            rc = tls_sock_drive(s, TLS_SOCK_UNTIL_FLUSHED, 0, -1, err);
        }
        if (s->tr->shutdown && s->tr->shutdown(s->ctx, SHUT_WR) < 0 && rc == TLS_OK && errno != ENOTCONN)
            rc = tls_sock_errno_error(err, TLS_E_SYSCALL, errno, "shutdown(write) of %s", s->peer);
        s->wr_shut = true;
    }
    if (how != TLS_SHUT_WRITE && !s->rd_shut) {
        s->rd_shut = true;
        if (s->tr->shutdown)
            (void)s->tr->shutdown(s->ctx, SHUT_RD);
        if (s->active != TLS_ACTIVE_FALSE)
            tls_active_update(s);
    }
    leave(s);
    return rc;
}

/* ---- facts ------------------------------------------------------------------ */

static int sock_addr(tls_socket *s, struct sockaddr_storage *addr, socklen_t *len, bool peer)
{
    if (!s || !addr || !len)
        return TLS_E_BADARG;
    pthread_mutex_lock(&s->lock);
    bool closed = s->closed;
    int fd = closed ? -1 : s->fd;
    socklen_t l = sizeof *addr;
    int r = fd < 0 ? -1 : peer ? getpeername(fd, (struct sockaddr *)addr, &l) : getsockname(fd, (struct sockaddr *)addr, &l);
    pthread_mutex_unlock(&s->lock);
    if (fd < 0)
        return closed ? TLS_E_CLOSED : TLS_E_STATE; /* a transport without an fd has no address */
    if (r < 0)
        return TLS_E_SYSCALL;
    tls_sock_unmap_v4(addr, &l);
    *len = l;
    return TLS_OK;
}

int tls_peername(tls_socket *s, struct sockaddr_storage *addr, socklen_t *len)
{
    return sock_addr(s, addr, len, true);
}

int tls_sockname(tls_socket *s, struct sockaddr_storage *addr, socklen_t *len)
{
    return sock_addr(s, addr, len, false);
}

int tls_peercert(tls_socket *s, const uint8_t **der, size_t *len)
{
    if (!s || !der || !len)
        return TLS_E_BADARG;
    pthread_mutex_lock(&s->lock);
    int rc = s->eng ? tls_engine_peercert(s->eng, der, len) : TLS_E_STATE;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int tls_connection_info(tls_socket *s, uint16_t *version, const tls_suite_info **suite)
{
    if (!s)
        return TLS_E_BADARG;
    pthread_mutex_lock(&s->lock);
    int rc = TLS_E_STATE;
    if (s->eng && s->handshaken && tls_engine_suite(s->eng)) {
        if (version)
            *version = tls_engine_version(s->eng);
        if (suite)
            *suite = tls_engine_suite(s->eng);
        rc = TLS_OK;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

tls_engine *tls_socket_engine(tls_socket *s) { return s ? s->eng : NULL; }

int tls_socket_fd(tls_socket *s) { return s && !s->closed ? s->fd : -1; }
