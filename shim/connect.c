/* connect(): a TCP connect to an address that matches a connect rule is
 * upgraded to TLS, inside the call.
 *
 * The program's socket itself becomes the real TCP connection (so bind(),
 * SO_REUSEADDR, TCP_NODELAY, buffer sizes... set before connect stay in
 * force): it is connected non-blocking and moved to a high, close-on-exec fd
 * owned by the helper. One end of a fresh socketpair is then dup3()ed onto the
 * program's fd number (with its O_NONBLOCK / FD_CLOEXEC), before connect()
 * returns - epoll watches open files, not numbers, so the swap must happen
 * before the program can register the fd anywhere.
 *
 * Until the handshake is done the program's end must look like a socket whose
 * connect is in progress: not writable, not readable. We chose to hand the
 * socketpair end out at once (a placeholder swapped later would lose epoll
 * registrations) and make it unwritable: its send buffer is shrunk to the
 * minimum and filled with filler bytes that the helper does not read until
 * the handshake has completed. The helper then discards exactly that many
 * bytes, restores the send buffer and the end turns writable: POLLOUT/EPOLLOUT
 * signals completion as it would for TCP, and getsockopt(SO_ERROR) says 0. On
 * failure the helper closes its end: the program's end reports POLLOUT|POLLHUP
 * and SO_ERROR gives ECONNREFUSED (or the TCP error). Nothing the program
 * wrote is ever read before the handshake, and the engine only sends
 * application data encrypted: no plaintext reaches the network.
 *
 * A blocking connect waits for the handshake and returns 0, or -1 with
 * ECONNREFUSED (ETIMEDOUT for the handshake timeout, or the TCP error).
 * The swap itself is upgrade.c's, shared with accept(). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>

#include "shim.h"

/* Consumes the socket's pending error, as SO_ERROR does. */
static int take_err(shim_sock *s)
{
    int e = s->err;
    s->err = 0;
    return e;
}

static bool is_tcp_stream(int fd)
{
    int type = 0, proto = 0;
    socklen_t l = sizeof type;
    if (shim_real.getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0 || type != SOCK_STREAM)
        return false;
    l = sizeof proto;
    if (shim_real.getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l) < 0)
        return false;
    return proto == IPPROTO_TCP;
}

/* A blocking connect waits for the handshake the way a program would after a
 * non-blocking one: poll() for POLLOUT on its own fd (writable once the
 * handshake is done, POLLHUP when it failed), the shim's lock released, in
 * slices of a second so the state is re-checked even without a wake-up.
 * Like TCP's connect it returns EINTR when a signal handler ran (alarm()
 * timeouts work; a signal that lands just as a slice ends runs its handler
 * after poll returned 0, unseen, so the slices are long and rarely end)
 * and EINPROGRESS once SO_SNDTIMEO has passed; the handshake goes on and
 * SO_ERROR, poll and a second connect tell the rest. Lock held on entry and
 * on return. */
static int connect_wait(int fd, shim_sock *s, const struct timeval *limit)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long limit_ms = limit ? (long)limit->tv_sec * 1000 + (long)limit->tv_usec / 1000 : 0;
    s->refs++; /* s stays valid while the lock is released */
    int rc = 0;
    while (s->state == SOCK_PENDING && s->conn) {
        int slice = 1000;
        if (limit_ms > 0) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            long spent = (long)(now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
            if (spent >= limit_ms) {
                errno = EINPROGRESS;
                rc = -1;
                break;
            }
            if (limit_ms - spent < slice)
                slice = (int)(limit_ms - spent);
        }
        shim_unlock();
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int r = poll(&p, 1, slice);
        int e = errno;
        shim_lock();
        if (r < 0 && e == EINTR && s->state == SOCK_PENDING) {
            errno = EINTR;
            rc = -1;
            break;
        }
    }
    if (rc == 0) {
        if (s->state == SOCK_CONNECTED || (s->state == SOCK_FINISHED && !s->err)) {
            s->err = 0;
        } else {
            int e = take_err(s);
            errno = e ? e : ECONNREFUSED;
            rc = -1;
        }
    }
    int saved = errno;
    shim_sock_unref(s);
    errno = saved;
    return rc;
}

static int upgrade(int fd, const struct sockaddr *addr, socklen_t len, const policy_rule *rule,
                   const char *resolved)
{
    char ipbuf[64] = "";
    const char *name = NULL; /* per-connection SNI / verification name */
    if (!rule->server_name) {
        if (resolved && *resolved) {
            name = resolved;
        } else {
            /* no name: verify the IP address against the certificate's IP SANs */
            if (addr->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)addr)->sin_addr,
                          ipbuf, sizeof ipbuf);
            else
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)addr)->sin6_addr,
                          ipbuf, sizeof ipbuf);
            name = ipbuf;
        }
    }
    /* the engine first: if TLS cannot start, no TCP connection is made */
    tls_engine *eng = shim_upgrade_engine(rule, name);
    if (!eng)
        return -1;

    int flags = shim_real.fcntl(fd, F_GETFL);
    int fdflags = shim_real.fcntl(fd, F_GETFD);
    struct timeval sndtimeo = {0, 0};
    socklen_t tl = sizeof sndtimeo;
    if (shim_real.getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &sndtimeo, &tl) < 0)
        memset(&sndtimeo, 0, sizeof sndtimeo);
    if (flags < 0 || fdflags < 0) {
        shim_engine_free(eng);
        return -1;
    }
    shim_real.fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int rc = shim_real.connect(fd, addr, len);
    if (rc < 0 && errno != EINPROGRESS) {
        int e = errno;
        shim_real.fcntl(fd, F_SETFL, flags);
        shim_engine_free(eng);
        errno = e;
        return -1;
    }
    shim_upgrade_req req = {
        .fd = fd,
        .engine = eng,
        .rule = rule,
        .host = rule->server_name ? rule->server_name : name,
        .peer = addr,
        .peer_len = len,
        .connecting = rc < 0,
        .hold_unwritable = true,
        .nonblock = (flags & O_NONBLOCK) != 0,
        .cloexec = (fdflags & FD_CLOEXEC) != 0,
    };
    shim_lock();
    shim_sock *s = shim_upgrade(&req);
    if (!s)
        rc = -1; /* before the swap, the TCP connection dies with the program's close */
    else if (!(flags & O_NONBLOCK))
        rc = connect_wait(fd, s, &sndtimeo);
    else {
        errno = EINPROGRESS;
        rc = -1;
    }
    int e = errno;
    shim_unlock();
    errno = e;
    return rc;
}

SHIM_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    shim_init();
    if (!shim_active())
        return shim_real.connect(fd, addr, len);
    shim_lock();
    shim_sock *s = shim_fd_sock(fd);
    if (s) {
        /* connect() again on an upgraded fd */
        int rc = -1;
        if (s->state == SOCK_PENDING) {
            errno = EALREADY;
        } else if (s->state == SOCK_FAILED && s->err) {
            errno = take_err(s);
        } else if (s->state == SOCK_FAILED) {
            errno = ECONNREFUSED;
        } else {
            errno = EISCONN;
        }
        shim_unlock();
        return rc;
    }
    shim_unlock();
    if (!addr || !shim_addr_is_inet(addr) || !is_tcp_stream(fd))
        return shim_real.connect(fd, addr, len);
    char host[256];
    bool have_host = shim_resolve_lookup(addr, host, sizeof host);
    const policy_rule *rule =
        policy_find(shim_policy, POLICY_CONNECT, addr, have_host ? host : NULL);
    if (!rule)
        return shim_real.connect(fd, addr, len);
    return upgrade(fd, addr, len, rule, have_host ? host : NULL);
}
