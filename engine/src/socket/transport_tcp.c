/* The default transport: a stream socket. ctx is the fd cast to intptr_t.
 * MSG_NOSIGNAL: a peer that resets must give EPIPE, never SIGPIPE to the
 * program. Non-socket fds (pipes, a pty) fall back to read/write. */
#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tlsengine_socket.h"

static int ctx_fd(void *ctx) { return (int)(intptr_t)ctx; }

static ssize_t tcp_send(void *ctx, const void *buf, size_t len)
{
    ssize_t n = send(ctx_fd(ctx), buf, len, MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK)
        n = write(ctx_fd(ctx), buf, len);
    return n;
}

static ssize_t tcp_recv(void *ctx, void *buf, size_t len)
{
    ssize_t n = recv(ctx_fd(ctx), buf, len, 0);
    if (n < 0 && errno == ENOTSOCK)
        n = read(ctx_fd(ctx), buf, len);
    return n;
}

static int tcp_close(void *ctx) { return close(ctx_fd(ctx)); }

static int tcp_fd(void *ctx) { return ctx_fd(ctx); }

static int tcp_shutdown(void *ctx, int how) { return shutdown(ctx_fd(ctx), how); }

static const tls_transport tcp_transport = {
    .send = tcp_send,
    .recv = tcp_recv,
    .close = tcp_close,
    .fd = tcp_fd,
    .shutdown = tcp_shutdown,
};

const tls_transport *tls_transport_tcp(void) { return &tcp_transport; }
