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

/* A spare fd, so that a connection that arrives when the process has no fd
 * left is still taken off the listen queue, refused in the log and closed,
 * rather than left waiting there - its client stuck in the handshake -
 * until the program frees an fd. Held above the program's limit when the
 * hard limit allows (then it costs the program nothing). Lock held. */
static int spare_fd = -1;

static void take_spare(void)
{
    if (spare_fd >= 0)
        return;
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0)
        spare_fd = shim_fd_high(fd);
}

static int upgrade_accepted(int fd, const struct sockaddr *peer, socklen_t peer_len,
                            const struct sockaddr *local, socklen_t local_len, int flags,
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
        .local = local,
        .local_len = local_len,
        .is_server = true,
        .nonblock = (flags & SOCK_NONBLOCK) != 0,
        .cloexec = (flags & SOCK_CLOEXEC) != 0,
    };
    shim_lock();
    shim_sock *s = shim_upgrade(&req);
    if (!s)
        shim_fd_set_sock(fd, NULL); /* the caller closes fd: forget what the swap left */
    else
        take_spare();
    shim_unlock();
    return s ? 0 : -1;
}

static void refuse_beyond_limit(int fd, const policy_rule *rule, const struct sockaddr *peer)
{
    char p[64];
    shim_addr_str(peer, p, sizeof p);
    rlim_t soft = 0;
    shim_lock();
    shim_fd_limits(&soft, NULL, NULL);
    shim_unlock();
    shim_real.close(fd);
    shim_log(POLICY_LOG_ERROR,
             "[%s] connection from %s refused: the program has no file descriptor left "
             "(all %llu of its RLIMIT_NOFILE are in use)",
             rule->name, p, (unsigned long long)soft);
}

/* The real accept failed with EMFILE/ENFILE on a listener under rule: take
 * the first waiting connection with the spare's number, refuse it, and give
 * the program its error. */
static void refuse_with_spare(int lfd, const policy_rule *rule, int err)
{
    shim_lock();
    if (spare_fd < 0) {
        shim_unlock();
        return;
    }
    /* the spare's number must stay within the limit for the accept */
    shim_fd_room(1);
    shim_fd_close_own(spare_fd);
    spare_fd = -1;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd = shim_real.accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
    if (fd >= 0) {
        char p[64];
        shim_addr_str((const struct sockaddr *)&ss, p, sizeof p);
        rlim_t soft = 0, hard = 0;
        int own = 0;
        shim_fd_limits(&soft, &hard, &own);
        shim_log(POLICY_LOG_ERROR,
                 "[%s] connection from %s refused: %s (RLIMIT_NOFILE is %llu, hard %llu, "
                 "the shim holds %d)",
                 rule->name, p,
                 err == ENFILE ? "no file descriptor left in the system"
                               : "the program has no file descriptor left",
                 (unsigned long long)soft, (unsigned long long)hard, own);
        shim_real.close(fd);
    }
    take_spare();
    shim_fd_room(0);
    shim_unlock();
}

static const policy_rule *listener_rule(int lfd)
{
    struct sockaddr_storage local;
    socklen_t ll = sizeof local;
    if (shim_real.getsockname(lfd, (struct sockaddr *)&local, &ll) < 0 ||
        !shim_addr_is_inet((const struct sockaddr *)&local))
        return NULL;
    return policy_find(shim_policy, POLICY_ACCEPT, (const struct sockaddr *)&local, NULL);
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
    if (fd < 0) {
        int e = errno;
        const policy_rule *lr;
        if ((e == EMFILE || e == ENFILE) && (lr = listener_rule(lfd)))
            refuse_with_spare(lfd, lr, e);
        errno = e;
        return fd;
    }
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
    shim_lock();
    bool beyond = shim_fd_above_program(fd);
    shim_unlock();
    if (beyond) {
        /* the program's own range is full: without the shim's fds above its
         * limit it would have got EMFILE here, and it gets that */
        refuse_beyond_limit(fd, rule, peer);
        errno = EMFILE;
        return -1;
    }
    if (upgrade_accepted(fd, peer, sl, (const struct sockaddr *)&local, ll, four ? flags : 0,
                         rule) < 0) {
        /* never hand out a plaintext connection that should have been TLS
         * (upgrade.c logged why); out of fds, the program is told so */
        int e = errno;
        shim_real.close(fd);
        errno = e == EMFILE || e == ENFILE ? e : ECONNABORTED;
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
