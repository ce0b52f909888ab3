/* getpeername() and getsockname() on upgraded fds answer with the TCP
 * connection's addresses, never AF_UNIX. While a connect's handshake is in
 * progress (or after it failed) getpeername says ENOTCONN, as for TCP. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "shim.h"

bool shim_addr_is_inet(const struct sockaddr *a)
{
    return a && (a->sa_family == AF_INET || a->sa_family == AF_INET6);
}

void shim_addr_str(const struct sockaddr *a, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (a->sa_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)(const void *)a;
        inet_ntop(AF_INET, &s->sin_addr, ip, sizeof ip);
        snprintf(buf, len, "%s:%u", ip, (unsigned)ntohs(s->sin_port));
    } else if (a->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)(const void *)a;
        inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof ip);
        snprintf(buf, len, "[%s]:%u", ip, (unsigned)ntohs(s->sin6_port));
    } else {
        snprintf(buf, len, "?");
    }
}

static int copy_addr(const struct sockaddr_storage *ss, socklen_t sl, struct sockaddr *addr,
                     socklen_t *len)
{
    if (!addr || !len) {
        errno = EFAULT;
        return -1;
    }
    socklen_t n = *len < sl ? *len : sl;
    memcpy(addr, ss, n);
    *len = sl;
    return 0;
}

SHIM_EXPORT int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
    shim_init();
    if (shim_fd_untouched(fd))
        return shim_real.getpeername(fd, addr, len);
    shim_lock();
    shim_sock *s = shim_fd_sock(fd);
    if (!s) {
        shim_unlock();
        return shim_real.getpeername(fd, addr, len);
    }
    int rc;
    if (s->state == SOCK_PENDING || s->state == SOCK_FAILED) {
        errno = ENOTCONN;
        rc = -1;
    } else {
        rc = copy_addr(&s->peer, s->peer_len, addr, len);
    }
    shim_unlock();
    return rc;
}

SHIM_EXPORT int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
    shim_init();
    if (shim_fd_untouched(fd))
        return shim_real.getsockname(fd, addr, len);
    shim_lock();
    shim_sock *s = shim_fd_sock(fd);
    if (!s) {
        shim_unlock();
        return shim_real.getsockname(fd, addr, len);
    }
    int rc = copy_addr(&s->local, s->local_len, addr, len);
    shim_unlock();
    return rc;
}
