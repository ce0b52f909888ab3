/* Active mode: {active, true | once | N | false}, controlling_process,
 * getopts/setopts.
 *
 * One helper thread per process watches every active socket with epoll,
 * drives its engine (tls_sock_pump) and hands {ssl, S, Data},
 * {ssl_closed, S} and {ssl_error, S, Reason} to the socket's owner callback,
 * always without holding a lock, so the owner may call tls_send, tls_setopts
 * or tls_close from inside the callback.
 *
 * Lifetime: a registered socket holds a reference for the helper. When it
 * leaves epoll (passive again, closed) that reference is queued and dropped
 * by the helper between two epoll_wait batches, never while a batch that may
 * still name the socket is being handled. */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "err.h"
#include "sock.h"

#define MAX_MSGS_PER_TURN 16 /* then the next socket gets a turn */

typedef struct sock_list {
    tls_socket **v;
    size_t n, cap;
} sock_list;

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t helper_once = PTHREAD_ONCE_INIT;
static int ep_fd = -1, ev_fd = -1;
static int helper_errno; /* why the helper could not start, 0 if it runs */
static sock_list releases, kicks; /* guarded by reg_lock */

static bool list_push(sock_list *l, tls_socket *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        tls_socket **v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return false;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = s;
    return true;
}

static void wake_helper(void)
{
    uint64_t one = 1;
    ssize_t r = write(ev_fd, &one, sizeof one);
    (void)r; /* EAGAIN: the counter is already non-zero, the helper wakes anyway */
}

/* ---- the helper thread ------------------------------------------------------- */

typedef struct msg {
    tls_msg_kind kind;
    uint8_t *data;
    size_t len;
    tls_error err;
} msg;

static bool wants_watch(tls_socket *s)
{
    return !s->closed && !s->listener && s->eng && s->handshaken && s->owner &&
           s->active != TLS_ACTIVE_FALSE && !s->closed_delivered;
}

/* Work that no fd event will announce: bytes already read, or the end. */
static bool has_buffered(tls_socket *s)
{
    /* framed: a part of a message is no work, the rest comes with an event */
    bool app = s->packet == TLS_PACKET_RAW ? s->a_len > s->a_off : tls_packet_ready(s);
    return app || (tls_engine_status(s->eng) & TLS_ST_CAN_READ) || s->r_off < s->r_len ||
           tls_sock_input_over(s);
}

static void count_message(tls_socket *s)
{
    if (s->active == TLS_ACTIVE_ONCE)
        s->active = TLS_ACTIVE_FALSE;
    else if (s->active > 0 && --s->active == 0)
        s->active = TLS_ACTIVE_FALSE; /* {active, N} used up: passive again */
}

/* One turn for one socket: collect messages under the lock, deliver them
 * after releasing it. */
static void service(tls_socket *s)
{
    msg m[MAX_MSGS_PER_TURN + 2];
    size_t n = 0;
    pthread_mutex_lock(&s->lock);
    tls_owner_fn owner = s->owner;
    void *arg = s->owner_arg;
    while (wants_watch(s) && n < MAX_MSGS_PER_TURN) {
        if (s->packet != TLS_PACKET_RAW) {
            /* one event a whole message; a part waits for the rest */
            size_t hdr = 0, body = 0, need = 0;
            tls_error why;
            tls_err_clear(&why);
            int rc = tls_packet_peek(s, &hdr, &body, &need, &why);
            if (rc == TLS_E_WOULDBLOCK) {
                size_t before = s->a_len - s->a_off;
                (void)tls_sock_pump(s, !s->rd_shut, true);
                if (s->a_len - s->a_off > before)
                    continue;
                if (!tls_sock_input_over(s))
                    break;
                if (s->a_len > s->a_off) /* the end cut a message short: it is lost */
                    tls_packet_consume(s, s->a_len - s->a_off);
            } else if (rc == TLS_E_MSGSIZE) {
                m[n++] = (msg){TLS_MSG_ERROR, NULL, 0, why};
                continue;
            } else {
                uint8_t *d = malloc(body ? body : 1);
                if (!d)
                    break; /* try again on the next turn */
                memcpy(d, s->app + s->a_off + hdr, body);
                tls_packet_consume(s, hdr + body);
                m[n++] = (msg){TLS_MSG_DATA, d, body, {0}};
                count_message(s);
                continue;
            }
        }
        if (s->a_len == s->a_off)
            (void)tls_sock_pump(s, !s->rd_shut, true);
        size_t avail = s->a_len - s->a_off;
        if (avail) {
            uint8_t *d = malloc(avail);
            if (!d)
                break; /* try again on the next turn */
            memcpy(d, s->app + s->a_off, avail);
            OPENSSL_cleanse(s->app + s->a_off, avail);
            s->a_off = s->a_len = 0;
            m[n++] = (msg){TLS_MSG_DATA, d, avail, {0}};
            count_message(s);
            continue;
        }
        if (tls_sock_input_done(s)) {
            tls_error why;
            tls_err_clear(&why);
            int code = tls_sock_end_error(s, &why);
            if (code != TLS_E_CLOSED) /* a failure, not an orderly or abrupt close */
                m[n++] = (msg){TLS_MSG_ERROR, NULL, 0, why};
            m[n++] = (msg){TLS_MSG_CLOSED, NULL, 0, why};
            s->closed_delivered = true;
        }
        break;
    }
    tls_active_update(s);
    pthread_mutex_unlock(&s->lock);
    for (size_t i = 0; i < n; i++) {
        if (owner)
            owner(s, m[i].kind, m[i].data, m[i].len, m[i].kind == TLS_MSG_DATA ? NULL : &m[i].err, arg);
        if (m[i].data) {
            OPENSSL_cleanse(m[i].data, m[i].len);
            free(m[i].data);
        }
    }
}

static void *helper_main(void *unused)
{
    (void)unused;
    struct epoll_event evs[64];
    sock_list k = {0}, r = {0};
    for (;;) {
        /* between batches: no pointer from an older batch is still in use */
        pthread_mutex_lock(&reg_lock);
        sock_list tk = kicks, tr = releases;
        kicks = k;
        releases = r;
        pthread_mutex_unlock(&reg_lock);
        for (size_t i = 0; i < tk.n; i++) {
            service(tk.v[i]);
            tls_sock_unref(tk.v[i]);
        }
        for (size_t i = 0; i < tr.n; i++)
            tls_sock_unref(tr.v[i]);
        /* keep the emptied arrays for reuse */
        k = (sock_list){tk.v, 0, tk.cap};
        r = (sock_list){tr.v, 0, tr.cap};

        int nev = epoll_wait(ep_fd, evs, 64, -1);
        if (nev < 0) {
            if (errno == EINTR)
                continue;
            nev = 0; /* cannot happen with a valid epoll fd; do not spin hard */
            usleep(10000);
        }
        for (int i = 0; i < nev; i++) {
            if (!evs[i].data.ptr) {
                uint64_t v;
                ssize_t rr = read(ev_fd, &v, sizeof v);
                (void)rr;
                continue;
            }
            service(evs[i].data.ptr);
        }
    }
    return NULL;
}

static void helper_start(void)
{
    ep_fd = epoll_create1(EPOLL_CLOEXEC);
    ev_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ep_fd < 0 || ev_fd < 0) {
        helper_errno = errno;
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(ep_fd, EPOLL_CTL_ADD, ev_fd, &ev) < 0) {
        helper_errno = errno;
        return;
    }
    /* the helper never takes a signal meant for the program */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    int rc = pthread_create(&t, &attr, helper_main, NULL);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        helper_errno = rc;
}

static int helper_ready(void)
{
    pthread_once(&helper_once, helper_start);
    return helper_errno;
}

/* s->lock held. */
void tls_active_update(tls_socket *s)
{
    bool want = wants_watch(s) && helper_ready() == 0;
    size_t olen = 0;
    uint32_t events = EPOLLIN;
    if (want && tls_engine_output(s->eng, &olen) && olen && !s->wr_broken)
        events |= EPOLLOUT;
    bool kick = want && has_buffered(s);
    if (!want && !s->registered)
        return; /* registered only changes under s->lock too: safe to peek */
    pthread_mutex_lock(&reg_lock);
    if (want && !s->registered) {
        struct epoll_event ev = {.events = events, .data.ptr = s};
        if (epoll_ctl(ep_fd, EPOLL_CTL_ADD, s->fd, &ev) == 0) {
            s->registered = true;
            s->reg_events = events;
            tls_sock_ref(s); /* the helper's reference */
        } else {
            kick = false; /* not watchable (fd not pollable): nothing will be delivered */
        }
    } else if (want && s->reg_events != events) {
        struct epoll_event ev = {.events = events, .data.ptr = s};
        if (epoll_ctl(ep_fd, EPOLL_CTL_MOD, s->fd, &ev) == 0)
            s->reg_events = events;
    } else if (!want && s->registered) {
        if (s->fd >= 0)
            (void)epoll_ctl(ep_fd, EPOLL_CTL_DEL, s->fd, NULL);
        s->registered = false;
        if (list_push(&releases, s))
            wake_helper();
        else
            tls_sock_unref(s); /* cannot be the last reference: the caller holds one */
    }
    if (kick) {
        tls_sock_ref(s);
        if (list_push(&kicks, s))
            wake_helper();
        else
            tls_sock_unref(s);
    }
    pthread_mutex_unlock(&reg_lock);
}

/* ---- the API ------------------------------------------------------------------ */

int tls_controlling_process(tls_socket *s, tls_owner_fn owner, void *arg)
{
    if (!s)
        return TLS_E_BADARG;
    pthread_mutex_lock(&s->lock);
    s->owner = owner;
    s->owner_arg = arg;
    tls_active_update(s);
    pthread_mutex_unlock(&s->lock);
    return TLS_OK;
}

static int get_flag(tls_socket *s, int level, int name, int stored)
{
    int v = 0;
    socklen_t l = sizeof v;
    if (s->fd >= 0 && getsockopt(s->fd, level, name, &v, &l) == 0)
        return v != 0;
    return stored;
}

int tls_getopts(tls_socket *s, tls_sockopts *out)
{
    if (!s || !out)
        return TLS_E_BADARG;
    pthread_mutex_lock(&s->lock);
    out->active = s->active;
    out->packet = s->packet;
    out->packet_size = s->packet_size;
    out->nodelay = get_flag(s, IPPROTO_TCP, TCP_NODELAY, s->nodelay);
    out->keepalive = get_flag(s, SOL_SOCKET, SO_KEEPALIVE, s->keepalive);
    pthread_mutex_unlock(&s->lock);
    return TLS_OK;
}

int tls_setopts(tls_socket *s, const tls_sockopts *in, tls_error *err)
{
    tls_err_clear(err);
    if (!s || !in)
        return tls_err_set(err, TLS_E_BADARG, -1, "tls_setopts: NULL socket or options");
    if (in->active < TLS_ACTIVE_ONCE)
        return tls_err_set(err, TLS_E_BADARG, -1,
                           "tls_setopts: active must be TLS_ACTIVE_FALSE, _TRUE, _ONCE or N > 0, not %d",
                           in->active);
    if (in->nodelay < -1 || in->nodelay > 1 || in->keepalive < -1 || in->keepalive > 1)
        return tls_err_set(err, TLS_E_BADARG, -1, "tls_setopts: nodelay and keepalive are -1 (leave), 0 or 1");
    if ((int)in->packet < TLS_PACKET_KEEP || (int)in->packet > TLS_PACKET_LINE)
        return tls_err_set(err, TLS_E_BADARG, -1,
                           "tls_setopts: packet must be TLS_PACKET_KEEP, _RAW, _1, _2, _4 or _LINE, not %d",
                           (int)in->packet);
    if (in->active != TLS_ACTIVE_FALSE && helper_ready() != 0) {
        errno = helper_errno;
        return tls_err_set(err, TLS_E_SYSCALL, -1, "starting the active-mode helper thread");
    }
    pthread_mutex_lock(&s->lock);
    int rc = TLS_OK;
    if (s->closed) {
        rc = tls_err_set(err, TLS_E_CLOSED, -1, "tls_setopts: the socket is closed");
        goto out;
    }
    if (in->active != TLS_ACTIVE_FALSE && s->fd < 0) {
        /* the helper thread waits for events in one epoll over fds */
        rc = tls_err_set(err, TLS_E_BADARG, -1,
                         "tls_setopts: active mode needs a transport with an fd to watch (%s has none)",
                         s->peer);
        goto out;
    }
    if (in->packet != TLS_PACKET_KEEP && in->packet != s->packet) {
        /* what a too-big message left belongs to the old framing */
        s->packet = in->packet;
        s->skip_left = 0;
        s->skip_line = false;
    }
    if (in->packet_size)
        s->packet_size = in->packet_size;
    if (in->nodelay >= 0) {
        rc = tls_sock_apply_opt(s, IPPROTO_TCP, TCP_NODELAY, in->nodelay, "TCP_NODELAY", err);
        if (rc != TLS_OK)
            goto out;
        s->nodelay = in->nodelay;
    }
    if (in->keepalive >= 0) {
        rc = tls_sock_apply_opt(s, SOL_SOCKET, SO_KEEPALIVE, in->keepalive, "SO_KEEPALIVE", err);
        if (rc != TLS_OK)
            goto out;
        s->keepalive = in->keepalive;
    }
    /* as inet's {active, N}: N adds to a count still running */
    if (in->active > 0 && s->active > 0)
        s->active = in->active > INT_MAX - s->active ? INT_MAX : s->active + in->active;
    else
        s->active = in->active;
    tls_active_update(s);
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}
