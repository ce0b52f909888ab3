/* dup(), dup2(), dup3() and fcntl(F_DUPFD, F_DUPFD_CLOEXEC): a copy of an
 * upgraded fd refers to the same connection (its metadata follows, for
 * getpeername/getsockopt); the connection lives until the last copy is
 * closed. Duplicating onto one of the shim's own fd numbers fails with EBADF
 * rather than closing the helper's fd under it. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <unistd.h>

#include "shim.h"

/* After a successful dup of oldfd to newfd (lock held). */
static void copied(int oldfd, int newfd)
{
    if (newfd < 0 || newfd == oldfd)
        return;
    shim_sock *s = shim_fd_sock(oldfd);
    shim_fd_set_sock(newfd, s); /* NULL clears what newfd referred to before */
}

SHIM_EXPORT int dup(int fd)
{
    if (!shim_lock_program_fds(fd, -1))
        return -1;
    int n = shim_real.dup(fd);
    if (n >= 0)
        copied(fd, n);
    shim_unlock();
    return n;
}

static int dup_to(int oldfd, int newfd, int flags, bool three)
{
    if (!shim_lock_program_fds(oldfd, newfd))
        return -1;
    int n = three ? shim_real.dup3(oldfd, newfd, flags) : shim_real.dup2(oldfd, newfd);
    if (n >= 0)
        copied(oldfd, n);
    shim_unlock();
    return n;
}

SHIM_EXPORT int dup2(int oldfd, int newfd)
{
    return dup_to(oldfd, newfd, 0, false);
}

SHIM_EXPORT int dup3(int oldfd, int newfd, int flags)
{
    return dup_to(oldfd, newfd, flags, true);
}

static int do_fcntl(bool is64, int fd, int cmd, void *arg)
{
    shim_init();
    int (*real)(int, int, ...) = is64 ? shim_real.fcntl64 : shim_real.fcntl;
    if (cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC)
        return real(fd, cmd, arg);
    if (!shim_lock_program_fds(fd, -1))
        return -1;
    int n = real(fd, cmd, (int)(intptr_t)arg);
    if (n >= 0)
        copied(fd, n);
    shim_unlock();
    return n;
}

/* fcntl's third argument is an int or a pointer; like libc, pass it on as a
 * pointer-sized value (the x86-64/aarch64 calling conventions make that
 * exact for both). */
SHIM_EXPORT int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return do_fcntl(false, fd, cmd, arg);
}

SHIM_EXPORT int fcntl64(int fd, int cmd, ...);
SHIM_EXPORT int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return do_fcntl(true, fd, cmd, arg);
}
