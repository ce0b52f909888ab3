/* connect(Socket, Options, Timeout) and connect(Host, Port, Options,
 * Timeout): a client socket, then the client handshake. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "sock.h"

int tls_connect_fd(int fd, const tls_options *o, int timeout_ms, tls_socket **out, tls_error *err)
{
    return tls_sock_upgrade_fd(fd, o, false, timeout_ms, out, err);
}

int tls_connect_transport(const tls_transport *tr, void *ctx, const tls_options *o, int timeout_ms,
                          tls_socket **out, tls_error *err)
{
    return tls_sock_upgrade_ctx(tr, ctx, o, false, timeout_ms, out, err);
}

/* A non-blocking connect to one address, bounded by deadline. */
static int connect_one(const struct addrinfo *ai, int64_t deadline, int *fd_out, int *err_out)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) {
        *err_out = errno;
        return TLS_E_SYSCALL;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
        *fd_out = fd;
        return TLS_OK;
    }
    if (errno != EINPROGRESS && errno != EINTR) {
        *err_out = errno;
        close(fd);
        return TLS_E_SYSCALL;
    }
    for (;;) {
        struct pollfd p = {fd, POLLOUT, 0};
        int ms = tls_sock_remaining_ms(deadline);
        int r = ms == 0 ? 0 : poll(&p, 1, ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            *err_out = r == 0 ? ETIMEDOUT : errno;
            close(fd);
            return r == 0 ? TLS_E_TIMEOUT : TLS_E_SYSCALL;
        }
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
            soerr = errno;
        if (soerr) {
            *err_out = soerr;
            close(fd);
            return TLS_E_SYSCALL;
        }
        *fd_out = fd;
        return TLS_OK;
    }
}

int tls_connect(const char *host, int port, const tls_options *o, int timeout_ms, tls_socket **out,
                tls_error *err)
{
    tls_err_clear(err);
    if (out)
        *out = NULL;
    if (!host || !*host || port <= 0 || port > 65535 || !o || !out)
        return tls_err_set(err, TLS_E_BADARG, -1, "tls_connect: need a host, a port 1..65535, options and a result pointer");
    if (tls_start() != TLS_OK)
        return tls_err_set(err, TLS_E_INTERNAL, -1, "libcrypto's algorithms could not be loaded");
    int64_t deadline = tls_sock_deadline(timeout_ms);
    /* a bracketed IPv6 literal is accepted too: "[::1]" */
    char name[256];
    size_t hl = strlen(host);
    if (hl >= sizeof name)
        return tls_err_set(err, TLS_E_BADARG, -1, "tls_connect: host name longer than 255 bytes");
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        memcpy(name, host + 1, hl - 2);
        name[hl - 2] = '\0';
    } else {
        memcpy(name, host, hl + 1);
    }
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%d", port);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int g = getaddrinfo(name, portstr, &hints, &res);
    if (g != 0) {
        int e = g == EAI_SYSTEM ? errno : EHOSTUNREACH;
        errno = e;
        tls_err_set(err, TLS_E_SYSCALL, -1, "resolving %s: %s", name, gai_strerror(g));
        return TLS_E_SYSCALL;
    }
    int fd = -1, last_errno = ECONNREFUSED, rc = TLS_E_SYSCALL;
    char where[96] = "";
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        tls_sock_format_addr(ai->ai_addr, ai->ai_addrlen, where, sizeof where);
        rc = connect_one(ai, deadline, &fd, &last_errno);
        if (rc == TLS_OK || rc == TLS_E_TIMEOUT)
            break;
    }
    freeaddrinfo(res);
    if (rc == TLS_E_TIMEOUT)
        return tls_err_set(err, TLS_E_TIMEOUT, -1, "connect %s (%s)", where, host);
    if (rc != TLS_OK)
        return tls_sock_errno_error(err, TLS_E_SYSCALL, last_errno, "connect %s", where);

    tls_socket *s = tls_sock_new(fd, o->transport, true);
    if (!s) {
        close(fd);
        return tls_err_set(err, TLS_E_NOMEM, -1, "socket object");
    }
    pthread_mutex_lock(&s->lock);
    rc = tls_sock_handshake(s, o, false, name, deadline, err);
    if (rc != TLS_OK) {
        /* the alert (if any) went out in the pump; our fd: close it */
        s->tr->close(s->ctx);
        s->closed = true;
        s->fd = -1;
        pthread_mutex_unlock(&s->lock);
        tls_sock_unref(s);
        return rc;
    }
    pthread_mutex_unlock(&s->lock);
    *out = s;
    return TLS_OK;
}
