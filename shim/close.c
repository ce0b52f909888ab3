/* close(), close_range(), closefrom() and shutdown().
 *
 * close() of an upgraded fd drops that fd's reference; the connection itself
 * ends when the last copy is closed (the kernel tells the helper with EOF on
 * its socketpair end; it then flushes, sends close_notify and closes TCP).
 * The shim's own fds refuse to be closed by the program (EBADF, as if they
 * were not open): programs that close everything (close loops, close_range,
 * closefrom) leave the helper alone. shutdown(SHUT_WR) on an upgraded fd shuts
 * the socketpair end: the helper sees EOF, sends close_notify and keeps
 * delivering what the peer sends. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include "shim.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

SHIM_EXPORT int close(int fd)
{
    shim_init();
    if (shim_fd_untouched(fd))
        return shim_real.close(fd);
    if (!shim_lock_program_fds(fd, -1))
        return -1;
    if (shim_fd_sock(fd))
        shim_fd_set_sock(fd, NULL);
    shim_unlock();
    return shim_real.close(fd);
}

static int range_real(unsigned lo, unsigned hi, int flags)
{
    if (shim_real.close_range)
        return shim_real.close_range(lo, hi, flags);
    /* old libc: emulate (without CLOSE_RANGE_UNSHARE) */
    int maxfd = (int)sysconf(_SC_OPEN_MAX);
    for (unsigned fd = lo; fd <= hi && (long)fd < (long)maxfd; fd++) {
        if (flags & (int)CLOSE_RANGE_CLOEXEC) {
            int f = shim_real.fcntl((int)fd, F_GETFD);
            if (f >= 0)
                shim_real.fcntl((int)fd, F_SETFD, f | FD_CLOEXEC);
        } else {
            shim_real.close((int)fd);
        }
        if (fd == UINT_MAX)
            break;
    }
    return 0;
}

/* Closes [lo, hi] except the shim's own fds, in sub-ranges. */
static int close_range_sparing(unsigned lo, unsigned hi, int flags)
{
    shim_lock();
    int max = shim_fd_max();
    unsigned start = lo;
    int rc = 0;
    for (unsigned fd = lo; fd <= hi && fd < (unsigned)max; fd++) {
        if (!(flags & (int)CLOSE_RANGE_CLOEXEC) && shim_fd_sock((int)fd))
            shim_fd_set_sock((int)fd, NULL);
        if (shim_fd_is_own((int)fd)) {
            if (fd > start && range_real(start, fd - 1, flags) < 0)
                rc = -1;
            start = fd + 1;
        }
    }
    if (start <= hi && range_real(start, hi, flags) < 0)
        rc = -1;
    shim_unlock();
    return rc;
}

SHIM_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
    shim_init();
    if (first > last) {
        errno = EINVAL;
        return -1;
    }
    return close_range_sparing(first, last, flags);
}

SHIM_EXPORT void closefrom(int lowfd)
{
    shim_init();
    if (lowfd < 0)
        lowfd = 0;
    close_range_sparing((unsigned)lowfd, UINT_MAX, 0);
}

SHIM_EXPORT int shutdown(int fd, int how)
{
    shim_init();
    if (shim_fd_untouched(fd))
        return shim_real.shutdown(fd, how);
    shim_lock();
    shim_sock *s = shim_fd_sock(fd);
    if (s && s->state == SOCK_PENDING) {
        shim_unlock();
        errno = ENOTCONN;
        return -1;
    }
    shim_unlock();
    return shim_real.shutdown(fd, how);
}
