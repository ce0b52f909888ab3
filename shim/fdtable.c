/* Per-fd state: which fds are the shim's own (the helper's socketpair ends,
 * TCP sockets, epoll and event fds, log files) and which program fds refer to
 * an upgraded socket. A socket can sit behind several program fds (dup,
 * dup2, fcntl(F_DUPFD)); its shim_sock counts them.
 *
 * One recursive lock guards the table, the sockets and the helper's
 * connections: recursive because a library the shim calls (libcrypto) may
 * itself call an interposed function such as close(). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "shim.h"

pthread_mutex_t shim_mutex = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
pthread_cond_t shim_cond = PTHREAD_COND_INITIALIZER;

void shim_lock(void)
{
    pthread_mutex_lock(&shim_mutex);
}

void shim_unlock(void)
{
    pthread_mutex_unlock(&shim_mutex);
}

typedef struct fd_entry {
    bool own;
    shim_sock *sock;
} fd_entry;

static fd_entry *table;
static int table_cap;
static int fd_base = 512; /* the shim's fds are moved to >= this */

void shim_fdtable_init(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        /* High enough to stay out of the way of close loops and dup2 to small
         * numbers, low enough not to blow up the kernel's fd table. */
        rlim_t b = rl.rlim_cur / 2;
        if (b > 4096)
            b = 4096;
        if (b < 16)
            b = 16;
        fd_base = (int)b;
    } else {
        fd_base = 4096;
    }
}

static fd_entry *entry(int fd, bool grow)
{
    if (fd < 0)
        return NULL;
    if (fd >= table_cap) {
        if (!grow)
            return NULL;
        int ncap = table_cap ? table_cap : 256;
        while (ncap <= fd)
            ncap *= 2;
        fd_entry *n = realloc(table, (size_t)ncap * sizeof *n);
        if (!n)
            return NULL;
        memset(n + table_cap, 0, (size_t)(ncap - table_cap) * sizeof *n);
        table = n;
        table_cap = ncap;
    }
    return &table[fd];
}

void shim_fd_own(int fd)
{
    fd_entry *e = entry(fd, true);
    if (e)
        e->own = true;
}

void shim_fd_disown(int fd)
{
    fd_entry *e = entry(fd, false);
    if (e)
        e->own = false;
}

bool shim_fd_is_own(int fd)
{
    fd_entry *e = entry(fd, false);
    return e && e->own;
}

shim_sock *shim_fd_sock(int fd)
{
    fd_entry *e = entry(fd, false);
    return e ? e->sock : NULL;
}

int shim_fd_max(void)
{
    return table_cap;
}

void shim_sock_unref(shim_sock *s)
{
    if (s && --s->refs == 0)
        free(s);
}

void shim_fd_set_sock(int fd, shim_sock *s)
{
    fd_entry *e = entry(fd, s != NULL);
    if (!e)
        return;
    if (s)
        s->refs++;
    shim_sock *old = e->sock;
    e->sock = s;
    shim_sock_unref(old);
}

int shim_fd_high(int fd)
{
    int n = shim_real.fcntl(fd, F_DUPFD_CLOEXEC, fd_base);
    if (n < 0) {
        /* no room up there: keep the number, but close-on-exec */
        int fl = shim_real.fcntl(fd, F_GETFD);
        if (fl >= 0)
            shim_real.fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
        shim_fd_own(fd);
        return fd;
    }
    shim_real.close(fd);
    shim_fd_own(n);
    return n;
}

bool shim_lock_program_fds(int fd, int fd2)
{
    shim_init();
    shim_lock();
    if (shim_fd_is_own(fd) || (fd2 >= 0 && shim_fd_is_own(fd2))) {
        shim_unlock();
        errno = EBADF;
        return false;
    }
    return true;
}

void shim_fd_close_own(int fd)
{
    if (fd < 0)
        return;
    shim_fd_disown(fd);
    shim_real.close(fd);
}

void shim_fdtable_child_reset(void)
{
    /* The child's copies of the parent's helper fds were closed by
     * shim_helper_child_reset(); program fds keep their sockets (the
     * parent's helper still serves them). */
    pthread_mutex_t m = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    memcpy(&shim_mutex, &m, sizeof m);
    memcpy(&shim_cond, &c, sizeof c);
}
