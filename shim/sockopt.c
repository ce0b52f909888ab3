/* getsockopt() and setsockopt() on upgraded fds. The program's fd is a
 * socketpair end, but it must look like its TCP socket:
 *  - SO_ERROR reports the handshake's outcome (0 while pending and once
 *    connected; ECONNREFUSED/ETIMEDOUT/the TCP error once, after a failure);
 *  - SO_DOMAIN, SO_TYPE, SO_PROTOCOL, SO_ACCEPTCONN answer for TCP;
 *  - timeouts and low-water marks (SO_RCVTIMEO...) concern the program's
 *    reads and writes: they apply to the program's end;
 *  - everything else (TCP_NODELAY, SO_KEEPALIVE, TCP_KEEPIDLE, buffer sizes,
 *    SO_LINGER, IP_TOS, ...) is forwarded to the real TCP socket. Buffer sizes
 *    are set on both. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "shim.h"

static bool program_side(int level, int name)
{
    if (level != SOL_SOCKET)
        return false;
    switch (name) {
    case SO_RCVTIMEO:
    case SO_SNDTIMEO:
    case SO_RCVLOWAT:
    case SO_SNDLOWAT:
    case SO_PASSCRED:
    case SO_PEERCRED:
        return true;
    default:
        return false;
    }
}

static int put_int(void *val, socklen_t *len, int v)
{
    if (!val || !len || *len < (socklen_t)sizeof(int)) {
        errno = EINVAL;
        return -1;
    }
    memcpy(val, &v, sizeof v);
    *len = sizeof v;
    return 0;
}

SHIM_EXPORT int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    shim_init();
    if (shim_fd_untouched(fd))
        return shim_real.getsockopt(fd, level, name, val, len);
    shim_lock();
    shim_sock *s = shim_fd_sock(fd);
    if (!s || program_side(level, name)) {
        shim_unlock();
        return shim_real.getsockopt(fd, level, name, val, len);
    }
    int rc;
    if (level == SOL_SOCKET && name == SO_ERROR) {
        int e = s->state == SOCK_FAILED ? s->err : 0;
        rc = put_int(val, len, e);
        if (rc == 0)
            s->err = 0;
    } else if (level == SOL_SOCKET && name == SO_DOMAIN) {
        rc = put_int(val, len, s->family);
    } else if (level == SOL_SOCKET && name == SO_TYPE) {
        rc = put_int(val, len, SOCK_STREAM);
    } else if (level == SOL_SOCKET && name == SO_PROTOCOL) {
        rc = put_int(val, len, IPPROTO_TCP);
    } else if (level == SOL_SOCKET && name == SO_ACCEPTCONN) {
        rc = put_int(val, len, 0);
    } else if (s->tcp_fd >= 0) {
        rc = shim_real.getsockopt(s->tcp_fd, level, name, val, len);
    } else {
        errno = ENOTCONN;
        rc = -1;
    }
    shim_unlock();
    return rc;
}

SHIM_EXPORT int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    shim_init();
    if (shim_fd_untouched(fd))
        return shim_real.setsockopt(fd, level, name, val, len);
    shim_lock();
    shim_sock *s = shim_fd_sock(fd);
    if (!s || program_side(level, name)) {
        shim_unlock();
        return shim_real.setsockopt(fd, level, name, val, len);
    }
    int rc;
    if (s->tcp_fd >= 0) {
        rc = shim_real.setsockopt(s->tcp_fd, level, name, val, len);
        if (rc == 0 && level == SOL_SOCKET && (name == SO_SNDBUF || name == SO_RCVBUF) &&
            !(s->state == SOCK_PENDING && name == SO_SNDBUF)) {
            /* the program's end too (its SO_SNDBUF holds the connect filler
             * until the handshake is done) */
            shim_real.setsockopt(fd, level, name, val, len);
        }
    } else {
        /* the connection is over; options no longer matter */
        rc = 0;
    }
    shim_unlock();
    return rc;
}

/* At the swap: the options that concern the program's own reads and writes
 * (set on the TCP socket before connect, or inherited from the listener by an
 * accepted socket) move to the program's socketpair end. */
void shim_copy_program_opts(int tcp_fd, int program_end)
{
    /* a fresh socketpair end has no timeouts and a low-water mark of 1:
     * only values the program changed need a setsockopt */
    static const int names[] = {SO_RCVTIMEO, SO_SNDTIMEO, SO_RCVLOWAT};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        unsigned char v[64];
        unsigned char dflt[64] = {0};
        socklen_t l = sizeof v;
        if (shim_real.getsockopt(tcp_fd, SOL_SOCKET, names[i], v, &l) < 0)
            continue;
        if (names[i] == SO_RCVLOWAT) {
            int one = 1;
            memcpy(dflt, &one, sizeof one);
        }
        if (memcmp(v, dflt, l) != 0)
            shim_real.setsockopt(program_end, SOL_SOCKET, names[i], v, l);
    }
}
