/* accept() and accept4(): a connection accepted on a socket whose local
 * address matches an accept rule is upgraded at once. The accepted TCP socket
 * goes to the helper (high fd, close-on-exec, non-blocking); the program gets
 * one end of a socketpair under the number accept() would have returned, with
 * accept4's SOCK_NONBLOCK / SOCK_CLOEXEC applied to it. accept() never waits
 * for the handshake: one slow or hostile client must not stall the accept
 * loop. What the program writes before the handshake completes stays in the
 * socketpair; if the handshake fails the helper closes its end and the program
 * reads EOF (its data is never sent, plaintext or otherwise).
 *
 * The swap itself is upgrade.c's, shared with connect().
 *
 * The rule is looked up by the accepted socket's local address, so listening
 * sockets inherited from a parent (socket activation) are covered too. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shim.h"

static int upgrade_accepted(int fd, const struct sockaddr *peer, socklen_t peer_len, int flags,
                            const policy_rule *rule)
{
    tls_engine *eng = shim_upgrade_engine(rule, NULL);
    if (!eng)
        return -1;
    shim_upgrade_req req = {
        .fd = fd,
        .engine = eng,
        .rule = rule,
        .peer = peer,
        .peer_len = peer_len,
        .is_server = true,
        .nonblock = (flags & SOCK_NONBLOCK) != 0,
        .cloexec = (flags & SOCK_CLOEXEC) != 0,
    };
    shim_lock();
    shim_sock *s = shim_upgrade(&req);
    if (!s)
        shim_fd_set_sock(fd, NULL); /* the caller closes fd: forget what the swap left */
    shim_unlock();
    return s ? 0 : -1;
}

static int do_accept(int lfd, struct sockaddr *addr, socklen_t *alen, int flags, bool four)
{
    shim_init();
    if (!shim_active())
        return four ? shim_real.accept4(lfd, addr, alen, flags) : shim_real.accept(lfd, addr, alen);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd = four ? shim_real.accept4(lfd, (struct sockaddr *)&ss, &sl, flags)
                  : shim_real.accept(lfd, (struct sockaddr *)&ss, &sl);
    if (fd < 0)
        return fd;
    if (addr && alen) {
        socklen_t n = *alen < sl ? *alen : sl;
        memcpy(addr, &ss, n);
        *alen = sl;
    }
    const struct sockaddr *peer = (const struct sockaddr *)&ss;
    if (!shim_addr_is_inet(peer))
        return fd;
    struct sockaddr_storage local;
    socklen_t ll = sizeof local;
    if (shim_real.getsockname(fd, (struct sockaddr *)&local, &ll) < 0)
        return fd;
    const policy_rule *rule =
        policy_find(shim_policy, POLICY_ACCEPT, (const struct sockaddr *)&local, NULL);
    if (!rule)
        return fd;
    if (upgrade_accepted(fd, peer, sl, four ? flags : 0, rule) < 0) {
        /* never hand out a plaintext connection that should have been TLS */
        shim_real.close(fd);
        errno = ECONNABORTED;
        return -1;
    }
    return fd;
}

SHIM_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    return do_accept(fd, addr, len, 0, false);
}

SHIM_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    return do_accept(fd, addr, len, flags, true);
}
