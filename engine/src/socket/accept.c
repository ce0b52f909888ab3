/* listen, transport_accept and ssl_accept: a listening socket, the sockets
 * it accepts (with the listener's options), and the server handshake. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "sock.h"

int tls_ssl_accept_fd(int fd, const tls_options *o, int timeout_ms, tls_socket **out, tls_error *err)
{
    return tls_sock_upgrade_fd(fd, o, true, timeout_ms, out, err);
}

int tls_ssl_accept_transport(const tls_transport *tr, void *ctx, const tls_options *o, int timeout_ms,
                             tls_socket **out, tls_error *err)
{
    return tls_sock_upgrade_ctx(tr, ctx, o, true, timeout_ms, out, err);
}

static int listen_socket(int family, int port, int *fd_out, int *err_out)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        *err_out = errno;
        return -1;
    }
    int one = 1, zero = 0;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    if (family == AF_INET6) {
        /* dual stack: IPv4 clients arrive as ::ffff:a.b.c.d */
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_any;
        a->sin6_port = htons((uint16_t)port);
        len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_ANY);
        a->sin_port = htons((uint16_t)port);
        len = sizeof *a;
    }
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, SOMAXCONN) < 0) {
        *err_out = errno;
        close(fd);
        return -1;
    }
    *fd_out = fd;
    return 0;
}

int tls_listen(int port, const tls_options *o, tls_socket **out, tls_error *err)
{
    tls_err_clear(err);
    if (out)
        *out = NULL;
    if (port < 0 || port > 65535 || !o || !out)
        return tls_err_set(err, TLS_E_BADARG, -1, "tls_listen: need a port 0..65535, options and a result pointer");
    if (tls_start() != TLS_OK)
        return tls_err_set(err, TLS_E_INTERNAL, -1, "libcrypto's algorithms could not be loaded");
    tls_config *cfg = NULL;
    int rc = tls_config_cache_get(o, true, &cfg, err);
    if (rc != TLS_OK)
        return rc;
    int fd = -1, e6 = 0, e4 = 0;
    if (listen_socket(AF_INET6, port, &fd, &e6) < 0) {
        /* no IPv6 here: IPv4 only. But a busy port is busy for both. */
        if (e6 == EADDRINUSE || e6 == EACCES || listen_socket(AF_INET, port, &fd, &e4) < 0) {
            tls_config_free(cfg);
            char what[32];
            snprintf(what, sizeof what, "%d", port);
            return tls_sock_errno_error(err, TLS_E_SYSCALL, e6 == EADDRINUSE || e6 == EACCES ? e6 : e4,
                                 "listen on port %s", what);
        }
    }
    tls_socket *s = tls_sock_new(fd, tls_transport_tcp(), false);
    if (!s) {
        close(fd);
        tls_config_free(cfg);
        return tls_err_set(err, TLS_E_NOMEM, -1, "socket object");
    }
    s->listener = true;
    s->server = true;
    s->cfg = cfg;
    s->child_tr = o->transport ? o->transport : tls_transport_tcp();
    snprintf(s->peer, sizeof s->peer, "listener on port %d", port);
    *out = s;
    return TLS_OK;
}

int tls_transport_accept(tls_socket *l, int timeout_ms, tls_socket **out, tls_error *err)
{
    tls_err_clear(err);
    if (out)
        *out = NULL;
    if (!l || !l->listener || !out)
        return tls_err_set(err, TLS_E_BADARG, -1, "tls_transport_accept: needs a listening socket");
    int64_t deadline = tls_sock_deadline(timeout_ms);
    tls_sock_ref(l);
    int fd;
    for (;;) {
        pthread_mutex_lock(&l->lock);
        int lfd = l->closed ? -1 : l->fd;
        pthread_mutex_unlock(&l->lock);
        if (lfd < 0) {
            tls_sock_unref(l);
            return tls_err_set(err, TLS_E_CLOSED, -1, "the listening socket is closed");
        }
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd >= 0)
            break;
        int e = errno;
        if (e == EINTR || e == ECONNABORTED || e == EPROTO)
            continue;
        if (e != EAGAIN && e != EWOULDBLOCK) {
            tls_sock_unref(l);
            return tls_sock_errno_error(err, TLS_E_SYSCALL, e, "accept on the %s", l->peer);
        }
        int ms = tls_sock_remaining_ms(deadline);
        if (ms == 0) {
            tls_sock_unref(l);
            return tls_err_set(err, TLS_E_TIMEOUT, -1, "no connection to accept on the %s", l->peer);
        }
        struct pollfd p = {lfd, POLLIN, 0};
        int pr = poll(&p, 1, ms);
        if (pr > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)))
            continue; /* closed under us (tls_close): the top of the loop says so */
        if (pr < 0 && errno != EINTR) {
            tls_sock_unref(l);
            return tls_sock_errno_error(err, TLS_E_SYSCALL, errno, "poll on the %s", l->peer);
        }
    }
    tls_socket *s = tls_sock_new(fd, l->child_tr, true);
    if (!s) {
        close(fd);
        tls_sock_unref(l);
        return tls_err_set(err, TLS_E_NOMEM, -1, "socket object");
    }
    /* as in the Erlang/OTP ssl module, the accepted socket inherits the listener's options */
    pthread_mutex_lock(&l->lock);
    s->server = true;
    s->cfg = l->cfg;
    tls_config_ref(s->cfg);
    s->active = l->active;
    s->owner = l->owner;
    s->owner_arg = l->owner_arg;
    int nodelay = l->nodelay, keepalive = l->keepalive;
    pthread_mutex_unlock(&l->lock);
    tls_sock_unref(l);
    if (nodelay >= 0)
        (void)tls_sock_apply_opt(s, IPPROTO_TCP, TCP_NODELAY, nodelay, "TCP_NODELAY", NULL);
    if (keepalive >= 0)
        (void)tls_sock_apply_opt(s, SOL_SOCKET, SO_KEEPALIVE, keepalive, "SO_KEEPALIVE", NULL);
    *out = s;
    return TLS_OK;
}

int tls_ssl_accept(tls_socket *s, int timeout_ms, tls_error *err)
{
    tls_err_clear(err);
    if (!s || s->listener || !s->server)
        return tls_err_set(err, TLS_E_BADARG, -1, "tls_ssl_accept: needs a socket from tls_transport_accept");
    tls_sock_ref(s);
    pthread_mutex_lock(&s->lock);
    int rc;
    if (s->closed)
        rc = tls_err_set(err, TLS_E_CLOSED, -1, "the socket is closed");
    else if (s->eng && (s->handshaken || tls_sock_engine_failed(s)))
        rc = tls_err_set(err, TLS_E_STATE, -1, "tls_ssl_accept: the handshake already ran");
    else
        rc = tls_sock_handshake(s, NULL, true, NULL, tls_sock_deadline(timeout_ms), err);
    if (rc == TLS_OK)
        tls_active_update(s);
    pthread_mutex_unlock(&s->lock);
    tls_sock_unref(s);
    return rc;
}
