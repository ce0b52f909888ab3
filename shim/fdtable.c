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
#include <stdatomic.h>
#include <stdio.h>
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

/* Marks: one byte an fd, nonzero while the table says anything about it
 * (the shim's own, or an upgraded socket's). They let the calls a program
 * makes on its ordinary fds (close, shutdown, getsockname, getsockopt...)
 * pass through without the lock, which the helper holds while it works:
 * nginx's close() of each file it served waited for it. Written under the
 * lock, read without it. A program learns its own fd numbers through its
 * own synchronisation, which orders the mark before its call; the one read
 * that can miss a fresh mark is a close of a number the program never got,
 * racing the shim's creation of it, which a program cannot do safely
 * without the shim either. Grown copies keep the old arrays reachable
 * (a reader may still hold one): at most as many bytes as the newest. */
typedef struct fd_marks {
    struct fd_marks *older;
    int cap;
    _Atomic unsigned char mark[];
} fd_marks;
static _Atomic(fd_marks *) marks;

static void set_mark(int fd, const fd_entry *e)
{
    fd_marks *m = atomic_load_explicit(&marks, memory_order_relaxed);
    if (m && fd >= 0 && fd < m->cap)
        atomic_store_explicit(&m->mark[fd], (unsigned char)(e->own || e->sock),
                              memory_order_relaxed);
}

/* Lock held: the marks cover cap fds (false on no memory). */
static bool grow_marks(int cap)
{
    fd_marks *old = atomic_load_explicit(&marks, memory_order_relaxed);
    fd_marks *m = calloc(1, sizeof *m + (size_t)cap);
    if (!m)
        return false;
    m->older = old;
    m->cap = cap;
    for (int i = 0; old && i < old->cap; i++)
        atomic_store_explicit(&m->mark[i],
                              atomic_load_explicit(&old->mark[i], memory_order_relaxed),
                              memory_order_relaxed);
    atomic_store_explicit(&marks, m, memory_order_release);
    return true;
}

bool shim_fd_untouched(int fd)
{
    fd_marks *m = atomic_load_explicit(&marks, memory_order_acquire);
    return !m || fd < 0 || fd >= m->cap ||
           atomic_load_explicit(&m->mark[fd], memory_order_relaxed) == 0;
}

/* Where the shim's fds go, and RLIMIT_NOFILE.
 *
 * A program expects its fd numbers to track its own count: the kernel hands
 * out the lowest free number, so with n fds open none is far above n, and
 * programs size tables by that (redis's event loop covers maxclients + 128
 * fds and silently never polls an fd beyond it; select() stops at
 * FD_SETSIZE). Every number the shim takes below the program's limit pushes
 * the program's later fds up, and takes one from its count.
 *
 * So the shim's fds live ABOVE the program's soft limit: the kernel's soft
 * limit is raised to the program's own plus the shim's fds (counted), and
 * lowered again as they close, so the program can open exactly as many fds,
 * under the same numbers, as it could without the shim. The program's own
 * limit is what it last set (rlimit.c interposes get/setrlimit and prlimit:
 * it sees and sets its own limit, never the raised one).
 *
 * When the hard limit leaves no room above, the shim's fds have to come out of
 * the program's range: then they are taken from its top down (a region that
 * grows downwards from the limit), as far as possible from the program's own
 * low numbers. Either way the kernel's fd table is never made to cover more
 * than FD_TOP_CAP numbers for the shim's sake (it is allocated and copied at
 * fork in full). */
#define FD_TOP_CAP 65536
#define FD_LOW_FLOOR 16 /* never below: stdio and the program's first fds */

static rlim_t prog_soft = 1024; /* the program's own soft limit */
static rlim_t prog_hard = 1024;  /* the program's own hard limit */
static rlim_t kernel_hard = 1024; /* the hard limit in force */
static rlim_t kernel_soft = 1024; /* the soft limit in force */
static bool limit_known;
static int own_count; /* fds marked own */
static int foreign_above; /* fds not the shim's found in its room above prog_soft */
static int room_wanted; /* fds the shim is about to create (shim_fd_room) */
static int region_base = -1; /* bottom of the top-down region, -1: not used yet */
static void region_shrink(int closed);

/* The shim's fds can live above the program's limit */
static bool room_above(void)
{
    return limit_known && prog_soft < kernel_hard && prog_soft <= FD_TOP_CAP;
}

/* The soft limit the kernel should have: the program's plus the shim's fds
 * (and those it is about to create), within the hard limit. */
static void apply_limit(void)
{
    if (!room_above())
        return;
    rlim_t want = prog_soft + (rlim_t)foreign_above + (rlim_t)own_count + (rlim_t)room_wanted;
    if (want > kernel_hard)
        want = kernel_hard;
    if (want == kernel_soft)
        return;
    struct rlimit rl = {.rlim_cur = want, .rlim_max = kernel_hard};
    if (shim_prlimit_self(&rl, NULL) == 0)
        kernel_soft = want;
}

/* The raised soft limit outlives an exec (the shim's fds, close-on-exec, do
 * not): a program started through wrappers that exec one another (pyenv's
 * shims, env, a shell's exec) would otherwise take each image's raise for its
 * own limit. Each image notes its own limit and the kernel's in the
 * environment; the next adopts it only if the kernel's figures are still
 * exactly those (so nothing changed them since, and no connection was open). */
#define NOFILE_ENV "TLSSHIM_NOFILE"

void shim_fdtable_init(void)
{
    struct rlimit rl;
    if (shim_prlimit_self(NULL, &rl) != 0)
        return;
    prog_soft = kernel_soft = rl.rlim_cur;
    prog_hard = kernel_hard = rl.rlim_max;
    limit_known = true;
    const char *v = getenv(NOFILE_ENV);
    unsigned long long ps, ph, ks, kh;
    char end;
    if (v && sscanf(v, "%llu:%llu:%llu:%llu%c", &ps, &ph, &ks, &kh, &end) == 4 &&
        ks == rl.rlim_cur && kh == rl.rlim_max && ps <= ks && ps <= ph && ph <= kh) {
        prog_soft = (rlim_t)ps;
        prog_hard = (rlim_t)ph;
    }
}

void shim_fdtable_init_done(void)
{
    if (!limit_known)
        return;
    char v[100];
    snprintf(v, sizeof v, "%llu:%llu:%llu:%llu", (unsigned long long)prog_soft,
             (unsigned long long)prog_hard, (unsigned long long)kernel_soft,
             (unsigned long long)kernel_hard);
    setenv(NOFILE_ENV, v, 1);
}

void shim_fd_limits(rlim_t *soft, rlim_t *hard, int *own)
{
    if (soft)
        *soft = prog_soft;
    if (hard)
        *hard = limit_known ? kernel_hard : prog_hard;
    if (own)
        *own = own_count;
}

bool shim_fd_above_program(int fd)
{
    return room_above() && (rlim_t)fd >= prog_soft;
}

int shim_fd_set_program_limit(const struct rlimit *want)
{
    if (want->rlim_cur > want->rlim_max) {
        errno = EINVAL;
        return -1;
    }
    /* A program that lowers its hard limit (redis sets soft = hard = 10,032)
     * would leave the shim no room above its soft limit: the kernel's hard
     * limit comes down only to what the program's fds plus the shim's two a
     * connection can need, 3x the program's. Raising goes to the kernel,
     * which checks the privilege when it is above the hard limit in force. */
    rlim_t kh = want->rlim_max;
    if (kh < kernel_hard) {
        rlim_t need = kh > (RLIM_INFINITY - 16) / 3 ? RLIM_INFINITY : 3 * kh + 16;
        kh = need < kernel_hard ? need : kernel_hard;
    }
    struct rlimit rl = {.rlim_cur = want->rlim_cur, .rlim_max = kh};
    if (want->rlim_cur < kh && want->rlim_cur <= FD_TOP_CAP) {
        rlim_t k = want->rlim_cur + (rlim_t)foreign_above + (rlim_t)own_count +
                   (rlim_t)room_wanted;
        rl.rlim_cur = k < kh ? k : kh;
    }
    if (shim_prlimit_self(&rl, NULL) < 0)
        return -1;
    prog_soft = want->rlim_cur;
    prog_hard = want->rlim_max;
    kernel_soft = rl.rlim_cur;
    kernel_hard = kh;
    limit_known = true;
    region_base = -1;
    foreign_above = 0;
    return 0;
}

void shim_fd_program_view(struct rlimit *kernel)
{
    if (!limit_known || kernel->rlim_cur != kernel_soft || kernel->rlim_max != kernel_hard) {
        /* set by someone else (prlimit from outside, a raw syscall): adopt it */
        prog_soft = kernel_soft = kernel->rlim_cur;
        prog_hard = kernel_hard = kernel->rlim_max;
        limit_known = true;
        region_base = -1;
        return;
    }
    kernel->rlim_cur = prog_soft;
    kernel->rlim_max = prog_hard;
}

bool shim_fd_grow_room(void)
{
    if (!room_above())
        return false;
    rlim_t before = kernel_soft;
    foreign_above++;
    apply_limit();
    if (kernel_soft > before)
        return true;
    foreign_above--;
    return false;
}

void shim_fd_room(int n)
{
    room_wanted = n > 0 ? n : 0;
    apply_limit();
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
        if (!grow_marks(ncap))
            return NULL;
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
    if (e && !e->own) {
        e->own = true;
        own_count++;
        set_mark(fd, e);
    }
}

void shim_fd_disown(int fd)
{
    fd_entry *e = entry(fd, false);
    if (e && e->own) {
        e->own = false;
        own_count--;
        set_mark(fd, e);
        region_shrink(fd);
    }
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
    set_mark(fd, e);
    shim_sock_unref(old);
}

/* The top-down region.
 *
 * The kernel gives the program the lowest free number, so the program's fds
 * stay dense from 0 up as long as every shim fd is above every free number:
 * the shim's fds must be the HIGHEST free numbers, packed down from the top,
 * until the two meet. F_DUPFD gives the lowest free number at or above a
 * base, so a base set too low puts the shim's fds just above the program's
 * own and the program's next fds above those, three numbers a connection
 * instead of one: redis, whose event loop covers maxclients + 128 fds,
 * silently never polled a client past that (the 6,138th of 10,000 at a hard
 * limit of 20,000), which hung in its handshake. */

/* fcntl(F_DUPFD_CLOEXEC) from base, kept only below below: -1 when no number
 * in [base, below) is free (errno EMFILE), or on another error. */
static int dup_between(int fd, int base, int below)
{
    int n = shim_real.fcntl(fd, F_DUPFD_CLOEXEC, base);
    if (n < 0) {
        if (errno == EINVAL) /* base at or above the soft limit: nothing there */
            errno = EMFILE;
        return -1;
    }
    if (n < below)
        return n;
    shim_real.close(n);
    errno = EMFILE;
    return -1;
}

/* A copy of fd at the highest free number below x (and not below
 * FD_LOW_FLOOR), or -1: steps down from x by 1, 2, 4... until a number is
 * free, then halves the gap up to the highest free one. Two fcntl calls when
 * the number just below x is free (the usual case: the region packed). */
static int dup_highest_below(int fd, int x)
{
    int lo = -1, d = 1;
    for (;;) {
        int b = x - d > FD_LOW_FLOOR ? x - d : FD_LOW_FLOOR;
        if (b >= x) {
            errno = EMFILE;
            break;
        }
        lo = dup_between(fd, b, x);
        if (lo >= 0 || errno != EMFILE || b == FD_LOW_FLOOR)
            break;
        d *= 2;
    }
    if (lo < 0)
        return -1;
    /* lo is free (held); nothing is free in [hi, x) */
    int hi = x;
    while (hi - lo > 1) {
        int mid = lo + (hi - lo) / 2;
        int m = dup_between(fd, mid, hi);
        if (m >= 0) {
            shim_real.close(lo);
            lo = m;
        } else if (errno == EMFILE) {
            hi = mid;
        } else {
            break;
        }
    }
    return lo;
}

/* A copy of fd in the region the shim takes from the top of the program's
 * range: a number freed in it, else the highest free number below it; -1 if
 * there is none. region_base is the region's lowest own fd (shim_fd_disown
 * raises it as they close, so that a region once grown down does not keep
 * the shim's fds low). */
static int dup_into_region(int fd)
{
    rlim_t top = kernel_soft < FD_TOP_CAP ? kernel_soft : FD_TOP_CAP;
    if (top <= FD_LOW_FLOOR) {
        errno = EMFILE;
        return -1;
    }
    if (region_base < 0 || (rlim_t)region_base > top)
        region_base = (int)top;
    int n = -1;
    errno = EMFILE; /* an empty region has no number freed in it */
    if ((rlim_t)region_base < top)
        n = dup_between(fd, region_base, (int)top);
    if (n < 0 && errno == EMFILE && (n = dup_highest_below(fd, region_base)) >= 0)
        region_base = n;
    return n;
}

/* An own fd closed: if it was the region's bottom, the bottom moves up to the
 * region's next own fd (a scan of the table, amortized over the closes). */
static void region_shrink(int closed)
{
    if (closed != region_base)
        return;
    rlim_t top = kernel_soft < FD_TOP_CAP ? kernel_soft : FD_TOP_CAP;
    int i = closed + 1;
    while (i < table_cap && (rlim_t)i < top && !table[i].own)
        i++;
    region_base = i < table_cap && (rlim_t)i < top ? i : -1;
}

/* A copy of fd out of the program's way, or -1: above the program's limit
 * when the hard limit leaves room, else at the top of its range. */
static int copy_out_of_the_way(int fd)
{
    int n = -1;
    if (room_above()) {
        /* count the new fd first, so that the limit leaves it room */
        own_count++;
        apply_limit();
        do
            n = shim_real.fcntl(fd, F_DUPFD_CLOEXEC, (int)prog_soft);
        while (n < 0 && errno == EMFILE && shim_fd_grow_room());
        own_count--;
    }
    if (n < 0)
        n = dup_into_region(fd);
    return n;
}

int shim_fd_high(int fd)
{
    int n = copy_out_of_the_way(fd);
    if (n < 0) {
        /* no room up there: keep the number, but close-on-exec */
        int fl = shim_real.fcntl(fd, F_GETFD);
        if (fl >= 0)
            shim_real.fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
        shim_fd_own(fd);
        apply_limit();
        return fd;
    }
    shim_real.close(fd);
    shim_fd_own(n);
    apply_limit();
    return n;
}

int shim_fd_copy_high(int fd)
{
    int n = copy_out_of_the_way(fd);
    if (n < 0)
        n = shim_real.fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (n >= 0)
        shim_fd_own(n);
    apply_limit();
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
    apply_limit(); /* the program's limit shrinks back with the shim's fds */
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
