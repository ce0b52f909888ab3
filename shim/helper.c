/* THE helper thread: one per process, an epoll loop over every upgraded
 * connection (conn.h: what a connection is and its states; conn.c: how its
 * bytes move). Level-triggered epoll; each event runs conn_pump(), which
 * moves bytes as far as they go without blocking, then re-arms the interest
 * masks. All signals are blocked in this thread and every send uses
 * MSG_NOSIGNAL: SIGPIPE never reaches the program because of the helper.
 *
 * Why this loop is not the engine's (engine/src/socket/active.c), though both
 * are one epoll thread per process: they serve different things, and sharing
 * the ~40 lines of epoll_wait and eventfd would tie the shim to a model it
 * must not follow.
 * - active.c drives tls_socket objects: the socket layer owns the TCP fd and
 *   pushes messages ({ssl, S, Data}) to an owner callback, called without
 *   locks, with {active, N} counting messages. The shim moves a byte stream
 *   between two fds (the program's socketpair end and the TCP socket) and
 *   needs byte-wise backpressure on both: active.c watches only the TCP fd.
 * - The shim's loop lives inside someone else's process: it is restarted
 *   lazily in a forked child (pthread_atfork; active.c starts once, by
 *   pthread_once, which a child cannot redo), drained at exit() before
 *   libcrypto's cleanup, and its fds sit high, close-on-exec and hidden from a
 *   program that closes everything. active.c's epoll and eventfd are ordinary
 *   fds of an ordinary library.
 * - Every engine call in the shim runs under the shim's one lock, which
 *   fork()'s prepare handler takes so that no libcrypto lock is copied held;
 *   active.c has its own registration lock and callback discipline.
 * So the two stay two; each is small. */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"

#define SCAN_MS 250 /* deadline granularity */
/* Buffers freed by the shim (each release is about 100 KiB: the shim's and
 * the engine's) lie between the small objects that live on; glibc keeps
 * such free chunks resident until malloc_trim. Trimming after this many
 * releases bounds the RSS an idle or closed connection leaves behind. A trim
 * walks every free chunk of every arena (about 10 ms with 10,000 of them, more
 * the first time, when it gives pages back), so it runs at most once a
 * TRIM_MS, and outside the shim's lock. */
#define RELEASES_PER_TRIM 8
#define TRIM_MS 1000

static struct {
    bool running;
    bool stopping;
    pthread_t thread;
    int epfd, evfd;
    shim_conn *conns;
    size_t n_conns;
    shim_conn *dead;
    shim_conn *again;
    unsigned releases; /* since the last malloc_trim */
    uint64_t last_trim_ms;
} H = {.epfd = -1, .evfd = -1};

uint64_t helper_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* epoll data: the conn pointer with the low bit telling which fd */
#define TAG_NET 1u

void helper_arm(shim_conn *c, bool net, uint32_t want)
{
    int fd = net ? c->net_fd : c->app_fd;
    bool *reg = net ? &c->net_reg : &c->app_reg;
    uint32_t *cur = net ? &c->net_ev : &c->app_ev;
    bool hup = net ? c->net_hupseen : c->app_hupseen;
    if (fd < 0)
        return;
    /* a hung-up fd reports EPOLLHUP whatever the mask: take it out of the set
     * while there is nothing to do with it, or the loop would spin */
    if (want == 0 && hup) {
        if (*reg) {
            epoll_ctl(H.epfd, EPOLL_CTL_DEL, fd, NULL);
            *reg = false;
        }
        return;
    }
    if (*reg && *cur == want)
        return;
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = want;
    ev.data.u64 = (uint64_t)(uintptr_t)c | (net ? TAG_NET : 0);
    if (epoll_ctl(H.epfd, *reg ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) == 0) {
        *reg = true;
        *cur = want;
    }
}

void helper_close_side(shim_conn *c, bool net)
{
    int *fd = net ? &c->net_fd : &c->app_fd;
    bool *reg = net ? &c->net_reg : &c->app_reg;
    if (*fd < 0)
        return;
    if (*reg)
        epoll_ctl(H.epfd, EPOLL_CTL_DEL, *fd, NULL);
    shim_fd_close_own(*fd);
    *fd = -1;
    *reg = false;
}

void helper_again(shim_conn *c)
{
    c->again = true;
    c->again_next = H.again;
    H.again = c;
}

void helper_retire(shim_conn *c)
{
    if (c->again) {
        for (shim_conn **pp = &H.again; *pp; pp = &(*pp)->again_next) {
            if (*pp == c) {
                *pp = c->again_next;
                break;
            }
        }
        c->again = false;
    }
    /* unlink now, free after the current batch of events */
    if (c->prev)
        c->prev->next = c->next;
    else
        H.conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    H.n_conns--;
    c->dead_next = H.dead;
    H.dead = c;
}

static void check_deadlines(uint64_t now)
{
    shim_conn *next;
    for (shim_conn *c = H.conns; c; c = next) {
        next = c->next;
        if (c->phase < PHASE_OPEN && c->deadline_ms && now >= c->deadline_ms)
            conn_fail(c, ETIMEDOUT, "handshake timed out after %d ms",
                      shim_policy->handshake_timeout_ms);
        else if (c->linger_ms && now >= c->linger_ms)
            conn_finish(c);
        else if (conn_idle_scan(c))
            H.releases++;
    }
}

/* true (and the count restarts) when a malloc_trim is due */
static bool trim_due(uint64_t now)
{
    if (H.releases < RELEASES_PER_TRIM || now - H.last_trim_ms < TRIM_MS)
        return false;
    H.releases = 0;
    H.last_trim_ms = now;
    return true;
}

static void free_dead(void)
{
    while (H.dead) {
        shim_conn *c = H.dead;
        H.dead = c->dead_next;
        shim_sock_unref(c->sock);
        conn_free(c);
        H.releases++;
    }
}

static void *helper_main(void *arg)
{
    (void)arg;
    struct epoll_event evs[64];
    uint64_t last_scan = helper_now_ms();
    for (;;) {
        int n = epoll_wait(H.epfd, evs, 64, H.again ? 0 : SCAN_MS);
        int e = errno;
        shim_lock();
        if (H.stopping) {
            shim_unlock();
            break;
        }
        if (n < 0 && e != EINTR) {
            shim_log(POLICY_LOG_ERROR, "helper: epoll_wait: %s", strerror(e));
            shim_unlock();
            break;
        }
        for (int i = 0; i < n; i++) {
            uint64_t d = evs[i].data.u64;
            if (d == 0) {
                uint64_t v;
                ssize_t r = read(H.evfd, &v, sizeof v);
                (void)r;
                continue;
            }
            shim_conn *c = (shim_conn *)(uintptr_t)(d & ~(uint64_t)TAG_NET);
            if (c->phase == PHASE_DEAD)
                continue;
            if (evs[i].events & (EPOLLHUP | EPOLLERR)) {
                if (d & TAG_NET)
                    c->net_hupseen = true;
                else
                    c->app_hupseen = true;
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) {
                if (d & TAG_NET)
                    c->net_rd = true;
                else
                    c->app_rd = true;
            }
            conn_pump(c, evs[i].events);
        }
        /* connections that stopped with work left */
        shim_conn *again = H.again;
        H.again = NULL;
        while (again) {
            shim_conn *c = again;
            again = c->again_next;
            c->again = false;
            if (c->phase != PHASE_DEAD)
                conn_pump(c, 0);
        }
        uint64_t now = helper_now_ms();
        if (now - last_scan >= SCAN_MS) {
            check_deadlines(now);
            last_scan = now;
        }
        free_dead();
        bool trim = trim_due(now);
        char *stats = stats_due(now, false);
        pthread_cond_broadcast(&shim_cond);
        shim_unlock();
        stats_write(stats);
        if (trim)
            malloc_trim(0);
    }
    return NULL;
}

static int helper_start(void)
{
    if (H.running)
        return 0;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        return -1;
    int ev = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ev < 0) {
        int e = errno;
        shim_real.close(ep);
        errno = e;
        return -1;
    }
    H.epfd = shim_fd_high(ep);
    H.evfd = shim_fd_high(ev);
    struct epoll_event e;
    memset(&e, 0, sizeof e);
    e.events = EPOLLIN;
    e.data.u64 = 0;
    epoll_ctl(H.epfd, EPOLL_CTL_ADD, H.evfd, &e);
    /* the helper inherits a mask with every signal blocked */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&H.thread, NULL, helper_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        shim_fd_close_own(H.epfd);
        shim_fd_close_own(H.evfd);
        H.epfd = H.evfd = -1;
        errno = rc;
        return -1;
    }
    H.running = true;
    H.stopping = false;
    return 0;
}

int shim_helper_add(const shim_conn_args *a)
{
    if (H.stopping) {
        errno = ECONNREFUSED;
        return -1;
    }
    if (helper_start() < 0)
        return -1;
    shim_conn *c = calloc(1, sizeof *c);
    if (!c) {
        errno = ENOMEM;
        return -1;
    }
    c->sock = a->sock;
    a->sock->refs++;
    a->sock->conn = c;
    a->sock->tcp_fd = a->net_fd;
    c->rule = a->rule;
    c->eng = a->engine;
    c->app_fd = a->app_fd;
    c->net_fd = a->net_fd;
    c->pdup_fd = a->pdup_fd;
    c->filler_left = a->filler;
    c->orig_sndbuf = a->orig_sndbuf;
    c->phase = a->connecting ? PHASE_TCP_CONNECTING : PHASE_HANDSHAKE;
    c->is_server = a->sock->is_server;
    /* the network: nothing known yet, one read finds out. The program's end
     * was made inside its accept() or connect(), so it holds nothing yet;
     * a client's program usually writes at once, and reading then saves a
     * round of the loop once the handshake is done. */
    c->net_rd = true;
    c->app_rd = !c->is_server;
    c->start_ms = helper_now_ms();
    if (shim_policy->handshake_timeout_ms > 0)
        c->deadline_ms = c->start_ms + (uint64_t)shim_policy->handshake_timeout_ms;
    shim_addr_str((const struct sockaddr *)&a->sock->peer, c->peer, sizeof c->peer);
    c->host = a->host ? strdup(a->host) : NULL; /* NULL on no memory: the log loses the name */
    c->next = H.conns;
    if (H.conns)
        H.conns->prev = c;
    H.conns = c;
    H.n_conns++;
    c->fail_kind = STATS_FAIL_OTHER;
    stats_conn_opened(c->rule);
    /* first pump from here: a client's ClientHello goes out at once when the
     * TCP connection is already up; otherwise this arms the fds */
    conn_pump(c, a->connecting ? 0 : EPOLLOUT);
    /* the pump armed c's fds in the helper's epoll, which wakes it when they
     * are ready; only work left over (H.again) needs a wake-up now */
    if (H.again) {
        uint64_t one = 1;
        ssize_t w = write(H.evfd, &one, sizeof one);
        (void)w;
    }
    return 0;
}

int shim_engine_new(tls_config *c, const char *server_name, tls_engine **out, tls_error *err)
{
    shim_lock();
    int rc = tls_engine_new(c, server_name, out, err);
    shim_unlock();
    return rc;
}

void shim_engine_free(tls_engine *e)
{
    shim_lock();
    tls_engine_free(e);
    shim_unlock();
}

/* ---- fork ---- */
void shim_helper_fork_prepare(void)
{
    shim_lock();
}

void shim_helper_fork_parent(void)
{
    shim_unlock();
}

/* In the child: the parent's helper thread does not exist here. The child's
 * copies of its fds (helper socketpair ends, TCP sockets, epoll) are closed so
 * that the parent's connections end when the parent says so; the program fds
 * the child inherited keep working through the parent's helper. The child
 * starts its own helper when it makes a connection of its own. */
void shim_helper_child_reset(void)
{
    shim_conn *next;
    for (shim_conn *c = H.conns; c; c = next) {
        next = c->next;
        if (c->app_fd >= 0)
            shim_fd_close_own(c->app_fd);
        if (c->net_fd >= 0)
            shim_fd_close_own(c->net_fd);
        if (c->pdup_fd >= 0)
            shim_fd_close_own(c->pdup_fd);
        c->sock->conn = NULL;
        c->sock->tcp_fd = -1;
        shim_sock_unref(c->sock);
        conn_free(c);
    }
    free_dead();
    H.conns = NULL;
    H.again = NULL;
    H.n_conns = 0;
    if (H.epfd >= 0)
        shim_fd_close_own(H.epfd);
    if (H.evfd >= 0)
        shim_fd_close_own(H.evfd);
    H.epfd = H.evfd = -1;
    H.running = false;
    H.stopping = false;
}

/* ---- exit ---- */
static bool all_flushed(void)
{
    for (shim_conn *c = H.conns; c; c = c->next) {
        /* a connection still in its handshake holds nothing of the program's
         * that could be sent (never plaintext before the handshake) */
        if (c->phase != PHASE_OPEN)
            continue;
        if (c->send != SEND_SHUT)
            return false;
    }
    return true;
}

/* At exit() the program's fds are still open; the kernel would close them and
 * TCP would deliver what was written. Do the same: close the program's ends,
 * let the helper flush and send close_notify (bounded wait), then stop the
 * helper before libcrypto is cleaned up. _exit() skips this. */
void shim_helper_exit_drain(void)
{
    shim_lock();
    if (!H.running) {
        shim_unlock();
        return;
    }
    for (int fd = 0; fd < shim_fd_max(); fd++) {
        shim_sock *s = shim_fd_sock(fd);
        if (s && s->conn) {
            shim_fd_set_sock(fd, NULL);
            shim_real.close(fd);
        }
    }
    uint64_t one = 1;
    ssize_t w = write(H.evfd, &one, sizeof one);
    (void)w;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 3;
    while (H.conns && !all_flushed()) {
        if (pthread_cond_timedwait(&shim_cond, &shim_mutex, &until) == ETIMEDOUT)
            break;
    }
    H.stopping = true;
    w = write(H.evfd, &one, sizeof one);
    pthread_t t = H.thread;
    shim_unlock();
    pthread_join(t, NULL);
    shim_lock();
    H.running = false;
    /* log and close what is left */
    while (H.conns) {
        shim_conn *c = H.conns;
        if (c->phase < PHASE_OPEN && !c->fail)
            conn_set_fail(c, "the program exited during the handshake");
        conn_finish(c);
    }
    free_dead();
    char *stats = stats_due(helper_now_ms(), true);
    shim_unlock();
    stats_write(stats); /* the last figures, at exit */
}
