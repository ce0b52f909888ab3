/* The seed's socket API over the sans-I/O core: connect, listen,
 * transport_accept, ssl_accept, send, recv, close, shutdown, renegotiate.
 *
 * Every socket's fd is non-blocking; blocking calls wait in poll() with the
 * socket lock released (so another thread may send while one waits in recv,
 * and the active-mode helper is never stuck behind a sleeper). All I/O goes
 * through the options' transport vtable with ctx = the fd.
 *
 * Client configurations are cached by option contents (and the files' stat
 * data), so repeated tls_connect calls with the same options share one
 * tls_config and therefore its session cache: that is what makes
 * reuse_sessions work across connections.
 *
 * Contracts worth knowing:
 *  - tls_connect_fd / tls_ssl_accept_fd own the fd only on success; on
 *    failure the fd stays open, in its original blocking mode, and the
 *    caller closes it (any alert the engine produced was sent first);
 *  - tls_recv with length > 0 returns exactly length bytes; on a timeout the
 *    bytes that did arrive stay for the next call, on close they are lost;
 *  - tls_send, tls_shutdown(write) and tls_renegotiate have no timeout (the
 *    seed's): a peer that never reads, or never answers a HelloRequest,
 *    blocks them; tls_close bounds its flush to CLOSE_FLUSH_MS;
 *  - the owner callback of active mode runs on the helper thread: a
 *    tls_send from inside it that blocks holds up every active socket. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "buf.h"
#include "engine.h"
#include "sock.h"

#define APP_READ_BUDGET (256 * 1024) /* plaintext pulled per pump before giving the caller a turn */
#define CLOSE_FLUSH_MS 500           /* tls_close: how long close_notify may take to leave */
#define CLOSE_DRAIN_MS 100           /* tls_close: wait for the peer's FIN so close() does not RST */

/* ---- time ------------------------------------------------------------------ */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* -1 = no deadline */
static int64_t deadline_of(int timeout_ms) { return timeout_ms < 0 ? -1 : now_ms() + timeout_ms; }

static int remaining_ms(int64_t deadline)
{
    if (deadline < 0)
        return -1;
    int64_t r = deadline - now_ms();
    return r <= 0 ? 0 : r > INT_MAX ? INT_MAX : (int)r;
}

/* ---- start / stop and the configuration cache ---------------------------- */

#define CFG_CACHE_SIZE 16

typedef struct cfg_entry {
    tls_wr key;
    tls_config *cfg;
    uint64_t used;
} cfg_entry;

static pthread_mutex_t cfg_lock = PTHREAD_MUTEX_INITIALIZER;
static cfg_entry cfg_cache[CFG_CACHE_SIZE];
static uint64_t cfg_tick;

int tls_start(void) { return tls_algs_init() ? TLS_OK : TLS_E_INTERNAL; }

void tls_stop(void)
{
    pthread_mutex_lock(&cfg_lock);
    for (size_t i = 0; i < CFG_CACHE_SIZE; i++) {
        if (cfg_cache[i].cfg) {
            tls_config_free(cfg_cache[i].cfg);
            tls_wr_free(&cfg_cache[i].key);
            memset(&cfg_cache[i], 0, sizeof cfg_cache[i]);
        }
    }
    pthread_mutex_unlock(&cfg_lock);
}

static void key_raw(tls_wr *w, const void *p, size_t n)
{
    uint64_t len = n;
    tls_wr_bytes(w, &len, sizeof len);
    tls_wr_bytes(w, p, n);
}

static void key_blob(tls_wr *w, const void *p, size_t n)
{
    uint8_t present = p != NULL;
    tls_wr_bytes(w, &present, 1);
    if (p)
        key_raw(w, p, n);
}

static void key_str(tls_wr *w, const char *s) { key_blob(w, s, s ? strlen(s) : 0); }

/* A file's identity and age: an edited or replaced file gives a new config. */
static void key_file(tls_wr *w, const char *path)
{
    key_str(w, path);
    struct stat st;
    if (path && stat(path, &st) == 0) {
        int64_t v[5] = {(int64_t)st.st_dev, (int64_t)st.st_ino, (int64_t)st.st_size,
                        (int64_t)st.st_mtim.tv_sec, (int64_t)st.st_mtim.tv_nsec};
        tls_wr_bytes(w, v, sizeof v);
    }
}

#define KEY_FIELD(w, f) key_raw(w, &(f), sizeof(f))

/* Everything of the options that a config depends on, as bytes. Pointers to
 * callbacks and their state compare by identity, data by content. */
static void options_key(const tls_options *o, bool server, tls_wr *w)
{
    KEY_FIELD(w, server);
    KEY_FIELD(w, o->verify);
    KEY_FIELD(w, o->verify_fun);
    KEY_FIELD(w, o->verify_fun_state);
    KEY_FIELD(w, o->fail_if_no_peer_cert);
    KEY_FIELD(w, o->depth);
    KEY_FIELD(w, o->security_level);
    key_blob(w, o->cert, o->cert_len);
    key_file(w, o->certfile);
    key_blob(w, o->key, o->key_len);
    key_file(w, o->keyfile);
    key_str(w, o->password);
    KEY_FIELD(w, o->n_cacerts);
    for (size_t i = 0; i < o->n_cacerts && o->cacerts && o->cacerts_len; i++)
        key_blob(w, o->cacerts[i], o->cacerts_len[i]);
    key_file(w, o->cacertfile);
    key_blob(w, o->dh, o->dh_len);
    key_file(w, o->dhfile);
    key_str(w, o->ciphers);
    key_blob(w, o->cipher_ids, o->n_cipher_ids * sizeof *o->cipher_ids);
    KEY_FIELD(w, o->versions);
    KEY_FIELD(w, o->ssl_imp);
    KEY_FIELD(w, o->secure_renegotiate);
    KEY_FIELD(w, o->reuse_sessions);
    KEY_FIELD(w, o->reuse_session);
    KEY_FIELD(w, o->reuse_session_arg);
    key_str(w, o->server_name);
    KEY_FIELD(w, o->no_hostname_check);
    key_str(w, o->alpn);
    KEY_FIELD(w, o->fallback_scsv);
    KEY_FIELD(w, o->keylog);
    KEY_FIELD(w, o->keylog_arg);
}

/* A config for these options: a cached one (new reference) or a new one. */
static int config_get(const tls_options *o, bool server, tls_config **out, tls_error *err)
{
    tls_wr key = tls_wr_dynamic(512);
    options_key(o, server, &key);
    if (key.bad) {
        tls_wr_free(&key);
        return tls_config_new(o, server, out, err); /* no memory for the key: just no caching */
    }
    pthread_mutex_lock(&cfg_lock);
    for (size_t i = 0; i < CFG_CACHE_SIZE; i++) {
        cfg_entry *c = &cfg_cache[i];
        if (c->cfg && c->key.len == key.len && memcmp(c->key.p, key.p, key.len) == 0) {
            c->used = ++cfg_tick;
            tls_config_ref(c->cfg);
            *out = c->cfg;
            pthread_mutex_unlock(&cfg_lock);
            tls_wr_free(&key);
            return TLS_OK;
        }
    }
    pthread_mutex_unlock(&cfg_lock);

    /* loading reads files: not under the lock */
    int rc = tls_config_new(o, server, out, err);
    if (rc != TLS_OK) {
        tls_wr_free(&key);
        return rc;
    }
    pthread_mutex_lock(&cfg_lock);
    cfg_entry *victim = &cfg_cache[0];
    for (size_t i = 0; i < CFG_CACHE_SIZE; i++) {
        if (!cfg_cache[i].cfg) {
            victim = &cfg_cache[i];
            break;
        }
        if (cfg_cache[i].used < victim->used)
            victim = &cfg_cache[i];
    }
    if (victim->cfg) {
        tls_config_free(victim->cfg);
        tls_wr_free(&victim->key);
    }
    victim->key = key; /* the entry owns the key now */
    victim->cfg = *out;
    victim->used = ++cfg_tick;
    tls_config_ref(*out);
    pthread_mutex_unlock(&cfg_lock);
    return TLS_OK;
}

/* ---- socket objects ----------------------------------------------------- */

static void format_addr(const struct sockaddr *sa, socklen_t len, char *buf, size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "?", port[16] = "?";
    if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) {
        snprintf(buf, cap, "a non-IP peer");
        return;
    }
    if (getnameinfo(sa, len, host, sizeof host, port, sizeof port, NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(buf, cap, "?");
        return;
    }
    snprintf(buf, cap, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

/* IPv4 clients of a dual-stack listener appear as ::ffff:a.b.c.d: report a.b.c.d */
static void unmap_v4(struct sockaddr_storage *ss, socklen_t *len)
{
    if (ss->ss_family != AF_INET6)
        return;
    struct sockaddr_in6 a6;
    memcpy(&a6, ss, sizeof a6);
    if (!IN6_IS_ADDR_V4MAPPED(&a6.sin6_addr))
        return;
    struct sockaddr_in a4;
    memset(&a4, 0, sizeof a4);
    a4.sin_family = AF_INET;
    a4.sin_port = a6.sin6_port;
    memcpy(&a4.sin_addr, &a6.sin6_addr.s6_addr[12], 4);
    memset(ss, 0, sizeof *ss);
    memcpy(ss, &a4, sizeof a4);
    *len = sizeof a4;
}

static void note_peer(tls_socket *s)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getpeername(s->fd, (struct sockaddr *)&ss, &len) == 0) {
        unmap_v4(&ss, &len);
        format_addr((struct sockaddr *)&ss, len, s->peer, sizeof s->peer);
    } else
        snprintf(s->peer, sizeof s->peer, "the peer (fd %d)", s->fd);
}

/* A socket object over fd; sets O_NONBLOCK (remembering the old flags). */
static tls_socket *sock_new(int fd, const tls_transport *tr, bool stream)
{
    tls_socket *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (stream && !(s->rbuf = malloc(TLS_SOCK_RBUF))) {
        free(s);
        return NULL;
    }
    atomic_init(&s->refs, 1);
    pthread_mutex_init(&s->lock, NULL);
    s->fd = fd;
    s->tr = tr ? tr : tls_transport_tcp();
    s->ctx = (void *)(intptr_t)fd;
    s->active = TLS_ACTIVE_FALSE;
    s->nodelay = s->keepalive = -1;
    s->saved_fl = fcntl(fd, F_GETFL);
    if (s->saved_fl >= 0 && !(s->saved_fl & O_NONBLOCK))
        (void)fcntl(fd, F_SETFL, s->saved_fl | O_NONBLOCK);
    note_peer(s);
    return s;
}

static void sock_free(tls_socket *s)
{
    tls_engine_free(s->eng);
    tls_config_free(s->cfg);
    free(s->rbuf);
    if (s->app) {
        OPENSSL_cleanse(s->app, s->a_cap);
        free(s->app);
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void tls_sock_ref(tls_socket *s) { atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed); }

void tls_sock_unref(tls_socket *s)
{
    if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        sock_free(s);
}

/* A failed upgrade: the caller keeps its fd, in its original blocking mode. */
static void sock_release_fd(tls_socket *s)
{
    if (s->saved_fl >= 0)
        (void)fcntl(s->fd, F_SETFL, s->saved_fl);
    s->closed = true;
    s->fd = -1;
    tls_sock_unref(s);
}

static int poll_fd(tls_socket *s) { return s->tr->fd ? s->tr->fd(s->ctx) : s->fd; }

/* ---- moving bytes --------------------------------------------------------- */

static bool engine_failed(tls_socket *s) { return tls_engine_status(s->eng) & TLS_ST_FAILED; }

/* Nothing more will be read from the transport. */
static bool input_ended(tls_socket *s)
{
    return s->closed || s->eof || s->rd_shut ||
           (tls_engine_status(s->eng) & (TLS_ST_FAILED | TLS_ST_PEER_CLOSED));
}

bool tls_sock_input_done(tls_socket *s)
{
    if (!s->eng)
        return true;
    if (s->a_len > s->a_off || (tls_engine_status(s->eng) & TLS_ST_CAN_READ))
        return false;
    if (s->closed || s->rd_shut || (tls_engine_status(s->eng) & (TLS_ST_FAILED | TLS_ST_PEER_CLOSED)))
        return true;
    return s->eof && s->r_off == s->r_len;
}

/* Sends what the engine has, until the transport would block. */
static bool flush_nb(tls_socket *s)
{
    bool moved = false;
    size_t n;
    const uint8_t *p;
    while ((p = tls_engine_output(s->eng, &n)) != NULL) {
        if (s->wr_broken || s->closed) { /* nowhere to go: drop it */
            tls_engine_output_done(s->eng, n);
            moved = true;
            continue;
        }
        ssize_t w = s->tr->send(s->ctx, p, n);
        if (w > 0) {
            tls_engine_output_done(s->eng, (size_t)w);
            moved = true;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        s->wr_broken = true;
        s->wr_errno = w < 0 ? errno : EPIPE;
    }
    return moved;
}

static bool app_reserve(tls_socket *s, size_t need)
{
    if (s->a_off && s->a_off == s->a_len)
        s->a_off = s->a_len = 0;
    if (s->a_cap - s->a_len >= need)
        return true;
    if (s->a_off) {
        memmove(s->app, s->app + s->a_off, s->a_len - s->a_off);
        s->a_len -= s->a_off;
        s->a_off = 0;
        if (s->a_cap - s->a_len >= need)
            return true;
    }
    size_t cap = s->a_cap ? s->a_cap : 2 * TLS_MAX_PLAINTEXT;
    while (cap - s->a_len < need)
        cap *= 2;
    uint8_t *p = malloc(cap); /* not realloc: the old block holds plaintext to wipe */
    if (!p)
        return false;
    if (s->app) {
        memcpy(p, s->app, s->a_len);
        OPENSSL_cleanse(s->app, s->a_cap);
        free(s->app);
    }
    s->app = p;
    s->a_cap = cap;
    return true;
}

/* Moves the engine's plaintext into app[]; returns bytes moved. */
static size_t pull_plain(tls_socket *s)
{
    size_t total = 0;
    while (app_reserve(s, TLS_MAX_PLAINTEXT)) {
        size_t got = 0;
        (void)tls_engine_read(s->eng, s->app + s->a_len, s->a_cap - s->a_len, &got);
        if (!got)
            break;
        s->a_len += got;
        total += got;
    }
    return total;
}

short tls_sock_pump(tls_socket *s, bool want_in, bool pull)
{
    if (!s->eng || s->closed)
        return 0;
    size_t pulled = 0;
    bool budget_left = true;
    for (;;) {
        bool moved = flush_nb(s);
        if (pull) {
            size_t k = pull_plain(s);
            pulled += k;
            moved |= k > 0;
        }
        if (s->r_off < s->r_len && !engine_failed(s)) {
            size_t used = 0;
            (void)tls_engine_feed(s->eng, s->rbuf + s->r_off, s->r_len - s->r_off, &used);
            s->r_off += used;
            if (s->r_off == s->r_len)
                s->r_off = s->r_len = 0;
            moved |= used > 0;
        }
        budget_left = pulled < APP_READ_BUDGET;
        if (want_in && budget_left && s->r_len == 0 && !input_ended(s)) {
            ssize_t n = s->tr->recv(s->ctx, s->rbuf, TLS_SOCK_RBUF);
            if (n > 0) {
                s->r_off = 0;
                s->r_len = (size_t)n;
                moved = true;
            } else if (n == 0) {
                s->eof = true;
                tls_engine_feed_eof(s->eng);
                moved = true;
            } else if (errno == EINTR) {
                moved = true;
            } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
                s->eof = s->rd_broken = true;
                s->rd_errno = errno;
                tls_engine_feed_eof(s->eng);
                moved = true;
            }
        }
        if (!moved)
            break;
    }
    short ev = 0;
    size_t olen = 0;
    if (!s->wr_broken && tls_engine_output(s->eng, &olen) && olen)
        ev |= POLLOUT;
    if (want_in && s->r_len == 0 && !input_ended(s))
        ev |= POLLIN;
    return ev;
}

static int set_errno_err(tls_error *err, int code, int e, const char *fmt, const char *arg)
{
    errno = e;
    tls_err_set(err, code, -1, fmt, arg);
    if (err)
        err->sys_errno = e;
    return code;
}

int tls_sock_end_error(tls_socket *s, tls_error *err)
{
    unsigned st = s->eng ? tls_engine_status(s->eng) : 0;
    if (st & TLS_ST_FAILED) {
        const tls_error *e = tls_engine_error(s->eng);
        if (s->rd_broken && e->code == TLS_E_CLOSED)
            return set_errno_err(err, TLS_E_SYSCALL, s->rd_errno, "recv from %s", s->peer);
        if (err)
            *err = *e;
        return e->code;
    }
    if (s->closed)
        return tls_err_set(err, TLS_E_CLOSED, -1, "the socket is closed");
    if (s->rd_shut)
        return tls_err_set(err, TLS_E_CLOSED, -1, "the socket was shut down for reading");
    if (st & TLS_ST_PEER_CLOSED)
        return tls_err_set(err, TLS_E_CLOSED, -1, "%s sent close_notify", s->peer);
    if (s->rd_broken)
        return set_errno_err(err, TLS_E_SYSCALL, s->rd_errno, "recv from %s", s->peer);
    if (s->eof)
        return tls_err_set(err, TLS_E_CLOSED, -1,
                           "%s closed the connection without close_notify (data may be truncated)",
                           s->peer);
    return tls_err_set(err, TLS_E_CLOSED, -1, "the connection is closed");
}

static int write_error(tls_socket *s, tls_error *err)
{
    /* a peer that went away is {error, closed} to the seed; errno stays available */
    int code = s->wr_errno == EPIPE || s->wr_errno == ECONNRESET ? TLS_E_CLOSED : TLS_E_SYSCALL;
    char what[160];
    snprintf(what, sizeof what, "send to %s: %s", s->peer, strerror(s->wr_errno));
    return set_errno_err(err, code, s->wr_errno, "%s", what);
}

/* Waits for events on the transport fd with the lock released. */
static int sock_wait(tls_socket *s, short events, int64_t deadline, tls_error *err)
{
    int fd = poll_fd(s);
    for (;;) {
        int ms = remaining_ms(deadline);
        if (ms == 0)
            return tls_err_set(err, TLS_E_TIMEOUT, -1, "waiting for %s", s->peer);
        if (fd < 0 && (ms < 0 || ms > 10))
            ms = 10; /* a transport without an fd: poll it every 10 ms */
        struct pollfd p = {fd, events, 0};
        pthread_mutex_unlock(&s->lock);
        int r = poll(&p, 1, ms);
        int e = errno;
        pthread_mutex_lock(&s->lock);
        if (s->closed)
            return tls_err_set(err, TLS_E_CLOSED, -1, "the socket was closed while waiting");
        if (r > 0 || fd < 0)
            return TLS_OK;
        if (r < 0 && e != EINTR)
            return set_errno_err(err, TLS_E_SYSCALL, e, "poll on %s", s->peer);
    }
}

typedef bool (*done_fn)(tls_socket *s, const void *arg);

/* Runs the engine until done() holds. want_in: read the transport (and
 * collect plaintext into app[]); otherwise only flush output. */
static int drive(tls_socket *s, bool want_in, done_fn done, const void *arg, int64_t deadline,
                 tls_error *err)
{
    for (;;) {
        short ev = tls_sock_pump(s, want_in, want_in);
        if (done(s, arg))
            return TLS_OK;
        if (s->closed)
            return tls_err_set(err, TLS_E_CLOSED, -1, "the socket is closed");
        if (engine_failed(s))
            return tls_sock_end_error(s, err);
        if (s->wr_broken && (!want_in || (tls_engine_status(s->eng) & TLS_ST_HANDSHAKING)))
            return write_error(s, err);
        /* input over, and what arrived (if any) is not enough */
        if (want_in && !(ev & POLLIN) && input_ended(s) && !(tls_engine_status(s->eng) & TLS_ST_CAN_READ))
            return tls_sock_end_error(s, err);
        if (!ev) /* nothing to wait for, nothing to do: cannot happen unless the engine stalls */
            return tls_err_set(err, TLS_E_INTERNAL, -1, "the engine made no progress with %s", s->peer);
        int rc = sock_wait(s, ev, deadline, err);
        if (rc != TLS_OK)
            return rc;
    }
}

static bool hs_done(tls_socket *s, const void *arg)
{
    (void)arg;
    unsigned st = tls_engine_status(s->eng);
    return (st & TLS_ST_CONNECTED) && !(st & TLS_ST_HANDSHAKING);
}

static bool out_empty(tls_socket *s, const void *arg)
{
    (void)arg;
    size_t n = 0;
    return !tls_engine_output(s->eng, &n) || n == 0;
}

static bool can_write(tls_socket *s, const void *arg)
{
    (void)arg;
    return tls_engine_status(s->eng) & TLS_ST_CAN_WRITE;
}

static bool app_has(tls_socket *s, const void *arg)
{
    return s->a_len - s->a_off >= *(const size_t *)arg;
}

static bool reneg_done(tls_socket *s, const void *arg)
{
    (void)arg;
    if (tls_engine_error(s->eng)->code == TLS_E_RENEG_REJECTED)
        return true;
    return !s->eng->reneg_requested && hs_done(s, NULL);
}

/* ---- connect / listen / accept ---------------------------------------------- */

/* The handshake on a fresh socket, lock held. */
static int handshake(tls_socket *s, const tls_options *o, bool server, const char *default_name,
                     int64_t deadline, tls_error *err)
{
    if (!s->cfg) {
        int rc = config_get(o, server, &s->cfg, err);
        if (rc != TLS_OK)
            return rc;
    }
    s->server = server;
    if (!s->eng) {
        const char *name = server || (o && o->server_name && *o->server_name) ? NULL : default_name;
        int rc = tls_engine_new(s->cfg, name, &s->eng, err);
        if (rc != TLS_OK)
            return rc;
    }
    int rc = drive(s, true, hs_done, NULL, deadline, err);
    if (rc == TLS_E_TIMEOUT && err)
        snprintf(err->detail, sizeof err->detail, "TLS handshake with %s", s->peer);
    return rc;
}

static int upgrade_fd(int fd, const tls_options *o, bool server, int timeout_ms, tls_socket **out,
                      tls_error *err)
{
    tls_err_clear(err);
    if (out)
        *out = NULL;
    if (fd < 0 || !o || !out)
        return tls_err_set(err, TLS_E_BADARG, -1, "%s: bad fd, options or result pointer",
                           server ? "tls_ssl_accept_fd" : "tls_connect_fd");
    if (tls_start() != TLS_OK)
        return tls_err_set(err, TLS_E_INTERNAL, -1, "libcrypto's algorithms could not be loaded");
    tls_socket *s = sock_new(fd, o->transport, true);
    if (!s)
        return tls_err_set(err, TLS_E_NOMEM, -1, "socket object");
    pthread_mutex_lock(&s->lock);
    int rc = handshake(s, o, server, NULL, deadline_of(timeout_ms), err);
    pthread_mutex_unlock(&s->lock);
    if (rc != TLS_OK) {
        sock_release_fd(s);
        return rc;
    }
    *out = s;
    return TLS_OK;
}

int tls_connect_fd(int fd, const tls_options *o, int timeout_ms, tls_socket **out, tls_error *err)
{
    return upgrade_fd(fd, o, false, timeout_ms, out, err);
}

int tls_ssl_accept_fd(int fd, const tls_options *o, int timeout_ms, tls_socket **out, tls_error *err)
{
    return upgrade_fd(fd, o, true, timeout_ms, out, err);
}

/* A non-blocking connect to one address, bounded by deadline. */
static int connect_one(const struct addrinfo *ai, int64_t deadline, int *fd_out, int *err_out)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) {
        *err_out = errno;
        return TLS_E_SYSCALL;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
        *fd_out = fd;
        return TLS_OK;
    }
    if (errno != EINPROGRESS && errno != EINTR) {
        *err_out = errno;
        close(fd);
        return TLS_E_SYSCALL;
    }
    for (;;) {
        struct pollfd p = {fd, POLLOUT, 0};
        int ms = remaining_ms(deadline);
        int r = ms == 0 ? 0 : poll(&p, 1, ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            *err_out = r == 0 ? ETIMEDOUT : errno;
            close(fd);
            return r == 0 ? TLS_E_TIMEOUT : TLS_E_SYSCALL;
        }
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
            soerr = errno;
        if (soerr) {
            *err_out = soerr;
            close(fd);
            return TLS_E_SYSCALL;
        }
        *fd_out = fd;
        return TLS_OK;
    }
}

int tls_connect(const char *host, int port, const tls_options *o, int timeout_ms, tls_socket **out,
                tls_error *err)
{
    tls_err_clear(err);
    if (out)
        *out = NULL;
    if (!host || !*host || port <= 0 || port > 65535 || !o || !out)
        return tls_err_set(err, TLS_E_BADARG, -1, "tls_connect: need a host, a port 1..65535, options and a result pointer");
    if (tls_start() != TLS_OK)
        return tls_err_set(err, TLS_E_INTERNAL, -1, "libcrypto's algorithms could not be loaded");
    int64_t deadline = deadline_of(timeout_ms);
    /* a bracketed IPv6 literal is accepted too: "[::1]" */
    char name[256];
    size_t hl = strlen(host);
    if (hl >= sizeof name)
        return tls_err_set(err, TLS_E_BADARG, -1, "tls_connect: host name longer than 255 bytes");
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        memcpy(name, host + 1, hl - 2);
        name[hl - 2] = '\0';
    } else {
        memcpy(name, host, hl + 1);
    }
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%d", port);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int g = getaddrinfo(name, portstr, &hints, &res);
    if (g != 0) {
        int e = g == EAI_SYSTEM ? errno : EHOSTUNREACH;
        errno = e;
        tls_err_set(err, TLS_E_SYSCALL, -1, "resolving %s: %s", name, gai_strerror(g));
        return TLS_E_SYSCALL;
    }
    int fd = -1, last_errno = ECONNREFUSED, rc = TLS_E_SYSCALL;
    char where[96] = "";
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        format_addr(ai->ai_addr, ai->ai_addrlen, where, sizeof where);
        rc = connect_one(ai, deadline, &fd, &last_errno);
        if (rc == TLS_OK || rc == TLS_E_TIMEOUT)
            break;
    }
    freeaddrinfo(res);
    if (rc == TLS_E_TIMEOUT)
        return tls_err_set(err, TLS_E_TIMEOUT, -1, "connect %s (%s)", where, host);
    if (rc != TLS_OK)
        return set_errno_err(err, TLS_E_SYSCALL, last_errno, "connect %s", where);

    tls_socket *s = sock_new(fd, o->transport, true);
    if (!s) {
        close(fd);
        return tls_err_set(err, TLS_E_NOMEM, -1, "socket object");
    }
    pthread_mutex_lock(&s->lock);
    rc = handshake(s, o, false, name, deadline, err);
    if (rc != TLS_OK) {
        /* the alert (if any) went out in the pump; our fd: close it */
        s->tr->close(s->ctx);
        s->closed = true;
        s->fd = -1;
        pthread_mutex_unlock(&s->lock);
        tls_sock_unref(s);
        return rc;
    }
    pthread_mutex_unlock(&s->lock);
    *out = s;
    return TLS_OK;
}

static int listen_socket(int family, int port, int *fd_out, int *err_out)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        *err_out = errno;
        return -1;
    }
    int one = 1, zero = 0;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    if (family == AF_INET6) {
        /* dual stack: IPv4 clients arrive as ::ffff:a.b.c.d */
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_any;
        a->sin6_port = htons((uint16_t)port);
        len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_ANY);
        a->sin_port = htons((uint16_t)port);
        len = sizeof *a;
    }
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, SOMAXCONN) < 0) {
        *err_out = errno;
        close(fd);
        return -1;
    }
    *fd_out = fd;
    return 0;
}

int tls_listen(int port, const tls_options *o, tls_socket **out, tls_error *err)
{
    tls_err_clear(err);
    if (out)
        *out = NULL;
    if (port < 0 || port > 65535 || !o || !out)
        return tls_err_set(err, TLS_E_BADARG, -1, "tls_listen: need a port 0..65535, options and a result pointer");
    if (tls_start() != TLS_OK)
        return tls_err_set(err, TLS_E_INTERNAL, -1, "libcrypto's algorithms could not be loaded");
    tls_config *cfg = NULL;
    int rc = config_get(o, true, &cfg, err);
    if (rc != TLS_OK)
        return rc;
    int fd = -1, e6 = 0, e4 = 0;
    if (listen_socket(AF_INET6, port, &fd, &e6) < 0) {
        /* no IPv6 here: IPv4 only. But a busy port is busy for both. */
        if (e6 == EADDRINUSE || e6 == EACCES || listen_socket(AF_INET, port, &fd, &e4) < 0) {
            tls_config_free(cfg);
            char what[32];
            snprintf(what, sizeof what, "%d", port);
            return set_errno_err(err, TLS_E_SYSCALL, e6 == EADDRINUSE || e6 == EACCES ? e6 : e4,
                                 "listen on port %s", what);
        }
    }
    tls_socket *s = sock_new(fd, tls_transport_tcp(), false);
    if (!s) {
        close(fd);
        tls_config_free(cfg);
        return tls_err_set(err, TLS_E_NOMEM, -1, "socket object");
    }
    s->listener = true;
    s->server = true;
    s->cfg = cfg;
    s->child_tr = o->transport ? o->transport : tls_transport_tcp();
    snprintf(s->peer, sizeof s->peer, "listener on port %d", port);
    *out = s;
    return TLS_OK;
}

int tls_transport_accept(tls_socket *l, int timeout_ms, tls_socket **out, tls_error *err)
{
    tls_err_clear(err);
    if (out)
        *out = NULL;
    if (!l || !l->listener || !out)
        return tls_err_set(err, TLS_E_BADARG, -1, "tls_transport_accept: needs a listening socket");
    int64_t deadline = deadline_of(timeout_ms);
    tls_sock_ref(l);
    int fd;
    for (;;) {
        pthread_mutex_lock(&l->lock);
        int lfd = l->closed ? -1 : l->fd;
        pthread_mutex_unlock(&l->lock);
        if (lfd < 0) {
            tls_sock_unref(l);
            return tls_err_set(err, TLS_E_CLOSED, -1, "the listening socket is closed");
        }
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd >= 0)
            break;
        int e = errno;
        if (e == EINTR || e == ECONNABORTED || e == EPROTO)
            continue;
        if (e != EAGAIN && e != EWOULDBLOCK) {
            tls_sock_unref(l);
            return set_errno_err(err, TLS_E_SYSCALL, e, "accept on the %s", l->peer);
        }
        int ms = remaining_ms(deadline);
        if (ms == 0) {
            tls_sock_unref(l);
            return tls_err_set(err, TLS_E_TIMEOUT, -1, "no connection to accept on the %s", l->peer);
        }
        struct pollfd p = {lfd, POLLIN, 0};
        int pr = poll(&p, 1, ms);
        if (pr > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)))
            continue; /* closed under us (tls_close): the top of the loop says so */
        if (pr < 0 && errno != EINTR) {
            tls_sock_unref(l);
            return set_errno_err(err, TLS_E_SYSCALL, errno, "poll on the %s", l->peer);
        }
    }
    tls_socket *s = sock_new(fd, l->child_tr, true);
    if (!s) {
        close(fd);
        tls_sock_unref(l);
        return tls_err_set(err, TLS_E_NOMEM, -1, "socket object");
    }
    /* the seed: the accepted socket inherits the listener's options */
    pthread_mutex_lock(&l->lock);
    s->server = true;
    s->cfg = l->cfg;
    tls_config_ref(s->cfg);
    s->active = l->active;
    s->owner = l->owner;
    s->owner_arg = l->owner_arg;
    int nodelay = l->nodelay, keepalive = l->keepalive;
    pthread_mutex_unlock(&l->lock);
    tls_sock_unref(l);
    if (nodelay >= 0)
        (void)tls_sock_apply_opt(s, IPPROTO_TCP, TCP_NODELAY, nodelay, "TCP_NODELAY", NULL);
    if (keepalive >= 0)
        (void)tls_sock_apply_opt(s, SOL_SOCKET, SO_KEEPALIVE, keepalive, "SO_KEEPALIVE", NULL);
    *out = s;
    return TLS_OK;
}

int tls_ssl_accept(tls_socket *s, int timeout_ms, tls_error *err)
{
    tls_err_clear(err);
    if (!s || s->listener || !s->server)
        return tls_err_set(err, TLS_E_BADARG, -1, "tls_ssl_accept: needs a socket from tls_transport_accept");
    tls_sock_ref(s);
    pthread_mutex_lock(&s->lock);
    int rc;
    if (s->closed)
        rc = tls_err_set(err, TLS_E_CLOSED, -1, "the socket is closed");
    else if (s->eng && (s->eng->connected_once || engine_failed(s)))
        rc = tls_err_set(err, TLS_E_STATE, -1, "tls_ssl_accept: the handshake already ran");
    else
        rc = handshake(s, NULL, true, NULL, deadline_of(timeout_ms), err);
    if (rc == TLS_OK)
        tls_active_update(s);
    pthread_mutex_unlock(&s->lock);
    tls_sock_unref(s);
    return rc;
}

/* ---- data ---------------------------------------------------------------- */

/* Common checks of send/recv/renegotiate; takes a reference and the lock. */
static int enter(tls_socket *s, const char *fn, tls_error *err)
{
    if (!s)
        return tls_err_set(err, TLS_E_BADARG, -1, "%s: NULL socket", fn);
    if (s->listener)
        return tls_err_set(err, TLS_E_BADARG, -1, "%s on a listening socket", fn);
    tls_sock_ref(s);
    pthread_mutex_lock(&s->lock);
    if (s->closed) {
        pthread_mutex_unlock(&s->lock);
        tls_sock_unref(s);
        return tls_err_set(err, TLS_E_CLOSED, -1, "%s: the socket is closed", fn);
    }
    if (!s->eng || !s->eng->connected_once) {
        int rc = s->eng && engine_failed(s) ? tls_sock_end_error(s, err)
                                            : tls_err_set(err, TLS_E_STATE, -1, "%s before the handshake", fn);
        pthread_mutex_unlock(&s->lock);
        tls_sock_unref(s);
        return rc;
    }
    return TLS_OK;
}

static void leave(tls_socket *s)
{
    pthread_mutex_unlock(&s->lock);
    tls_sock_unref(s);
}

int tls_send(tls_socket *s, const void *data, size_t len, tls_error *err)
{
    tls_err_clear(err);
    if (!data && len)
        return tls_err_set(err, TLS_E_BADARG, -1, "tls_send: NULL data");
    int rc = enter(s, "tls_send", err);
    if (rc != TLS_OK)
        return rc;
    const uint8_t *p = data;
    size_t off = 0;
    if (s->wr_shut) {
        rc = tls_err_set(err, TLS_E_CLOSED, -1, "tls_send after shutdown(write)");
        goto out;
    }
    if (s->wr_broken) {
        rc = write_error(s, err);
        goto out;
    }
    while (off < len) {
        size_t acc = 0;
        rc = tls_engine_write(s->eng, p + off, len - off, &acc);
        off += acc;
        if (rc == TLS_OK && off == len)
            break;
        if (rc == TLS_OK || rc == TLS_E_WOULDBLOCK) {
            rc = drive(s, false, can_write, NULL, -1, err);
            if (rc != TLS_OK)
                goto out;
            continue;
        }
        if (rc == TLS_E_CLOSED) {
            rc = tls_err_set(err, TLS_E_CLOSED, -1, "tls_send after close_notify was sent");
            goto out;
        }
        rc = tls_sock_end_error(s, err);
        goto out;
    }
    rc = drive(s, false, out_empty, NULL, -1, err);
out:
    leave(s);
    return rc;
}

ssize_t tls_recv(tls_socket *s, void *buf, size_t cap, size_t length, int timeout_ms, tls_error *err)
{
    tls_err_clear(err);
    if (!buf || (length == 0 && cap == 0) || length > cap)
        return tls_err_set(err, TLS_E_BADARG, -1, "tls_recv: need a buffer and length <= cap (length %zu, cap %zu)",
                           length, cap);
    if (length > SSIZE_MAX)
        return tls_err_set(err, TLS_E_BADARG, -1, "tls_recv: length too large");
    int rc = enter(s, "tls_recv", err);
    if (rc != TLS_OK)
        return rc;
    ssize_t ret;
    if (s->active != TLS_ACTIVE_FALSE) {
        ret = tls_err_set(err, TLS_E_STATE, -1, "tls_recv on a socket in active mode");
        goto out;
    }
    size_t need = length ? length : 1;
    rc = drive(s, true, app_has, &need, deadline_of(timeout_ms), err);
    if (rc == TLS_OK) {
        size_t avail = s->a_len - s->a_off;
        size_t n = length ? length : (avail < cap ? avail : cap);
        memcpy(buf, s->app + s->a_off, n);
        OPENSSL_cleanse(s->app + s->a_off, n);
        s->a_off += n;
        if (s->a_off == s->a_len)
            s->a_off = s->a_len = 0;
        ret = (ssize_t)n;
    } else {
        /* a timeout keeps what arrived for the next call; a closed
         * connection loses a partial message, as the seed says */
        if (rc != TLS_E_TIMEOUT && s->a_len > s->a_off) {
            OPENSSL_cleanse(s->app + s->a_off, s->a_len - s->a_off);
            s->a_off = s->a_len = 0;
        }
        ret = rc;
    }
out:
    leave(s);
    return ret;
}

int tls_renegotiate(tls_socket *s, tls_error *err)
{
    tls_err_clear(err);
    int rc = enter(s, "tls_renegotiate", err);
    if (rc != TLS_OK)
        return rc;
    rc = tls_engine_renegotiate(s->eng);
    if (rc == TLS_E_STATE) {
        rc = tls_err_set(err, TLS_E_STATE, -1,
                         "tls_renegotiate: not possible now (TLS 1.3, a handshake running, or closing)");
    } else if (rc != TLS_OK) {
        rc = tls_sock_end_error(s, err);
    } else {
        /* plaintext that arrives meanwhile waits in app[] for recv/active */
        rc = drive(s, true, reneg_done, NULL, -1, err);
        if (rc == TLS_OK && tls_engine_error(s->eng)->code == TLS_E_RENEG_REJECTED) {
            if (err)
                *err = *tls_engine_error(s->eng);
            rc = TLS_E_RENEG_REJECTED;
        }
        if (s->active != TLS_ACTIVE_FALSE)
            tls_active_update(s); /* data may have been set aside for the owner */
    }
    leave(s);
    return rc;
}

/* ---- closing ------------------------------------------------------------ */

/* Reads and drops input for a moment so that close() does not answer the
 * peer's late bytes with a RST (which can destroy our close_notify in flight). */
static void drain_briefly(tls_socket *s)
{
    int fd = poll_fd(s);
    if (fd < 0 || s->eof || s->rd_broken)
        return;
    int64_t deadline = deadline_of(CLOSE_DRAIN_MS);
    uint8_t junk[4096];
    for (;;) {
        ssize_t n = s->tr->recv(s->ctx, junk, sizeof junk);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK))
            return;
        if (n > 0 || errno == EINTR)
            continue;
        int ms = remaining_ms(deadline);
        struct pollfd p = {fd, POLLIN, 0};
        if (ms == 0 || poll(&p, 1, ms) <= 0)
            return;
    }
}

int tls_close(tls_socket *s)
{
    if (!s)
        return TLS_E_BADARG;
    int rc = TLS_OK;
    pthread_mutex_lock(&s->lock);
    if (!s->closed) {
        if (s->eng) {
            unsigned st = tls_engine_status(s->eng);
            if ((st & TLS_ST_CONNECTED) && !(st & TLS_ST_FAILED) && !s->wr_broken)
                (void)tls_engine_close_write(s->eng); /* no-op if already sent */
            (void)drive(s, false, out_empty, NULL, deadline_of(CLOSE_FLUSH_MS), NULL);
            if (s->tr->shutdown && !s->wr_broken)
                (void)s->tr->shutdown(s->ctx, SHUT_WR);
            struct pollfd p = {poll_fd(s), POLLIN, 0};
            if (p.fd >= 0 && poll(&p, 1, 0) > 0)
                drain_briefly(s);
            if (s->tr->shutdown)
                (void)s->tr->shutdown(s->ctx, SHUT_RDWR); /* wakes other threads in poll */
        }
        s->closed = true;
        tls_active_update(s); /* leaves the helper's epoll while the fd is still open */
        if (s->listener) {
            (void)shutdown(s->fd, SHUT_RDWR); /* wakes threads polling in tls_transport_accept */
            rc = close(s->fd) < 0 ? TLS_E_SYSCALL : TLS_OK;
        }
        else
            rc = s->tr->close(s->ctx) < 0 ? TLS_E_SYSCALL : TLS_OK;
        s->fd = -1;
    }
    pthread_mutex_unlock(&s->lock);
    tls_sock_unref(s);
    return rc;
}

int tls_shutdown(tls_socket *s, tls_shutdown_how how, tls_error *err)
{
    tls_err_clear(err);
    if (how != TLS_SHUT_READ && how != TLS_SHUT_WRITE && how != TLS_SHUT_READ_WRITE)
        return tls_err_set(err, TLS_E_BADARG, -1, "tls_shutdown: how must be read, write or read_write");
    int rc = enter(s, "tls_shutdown", err);
    if (rc != TLS_OK)
        return rc;
    if (how != TLS_SHUT_READ && !s->wr_shut) {
        if (!engine_failed(s) && !s->wr_broken) {
            (void)tls_engine_close_write(s->eng);
            rc = drive(s, false, out_empty, NULL, -1, err);
        }
        if (s->tr->shutdown && s->tr->shutdown(s->ctx, SHUT_WR) < 0 && rc == TLS_OK && errno != ENOTCONN)
            rc = set_errno_err(err, TLS_E_SYSCALL, errno, "shutdown(write) of %s", s->peer);
        s->wr_shut = true;
    }
    if (how != TLS_SHUT_WRITE && !s->rd_shut) {
        s->rd_shut = true;
        if (s->tr->shutdown)
            (void)s->tr->shutdown(s->ctx, SHUT_RD);
        if (s->active != TLS_ACTIVE_FALSE)
            tls_active_update(s);
    }
    leave(s);
    return rc;
}

/* ---- facts ------------------------------------------------------------------ */

static int sock_addr(tls_socket *s, struct sockaddr_storage *addr, socklen_t *len, bool peer)
{
    if (!s || !addr || !len)
        return TLS_E_BADARG;
    pthread_mutex_lock(&s->lock);
    int fd = s->closed ? -1 : s->fd;
    socklen_t l = sizeof *addr;
    int r = fd < 0 ? -1 : peer ? getpeername(fd, (struct sockaddr *)addr, &l) : getsockname(fd, (struct sockaddr *)addr, &l);
    pthread_mutex_unlock(&s->lock);
    if (fd < 0)
        return TLS_E_CLOSED;
    if (r < 0)
        return TLS_E_SYSCALL;
    unmap_v4(addr, &l);
    *len = l;
    return TLS_OK;
}

int tls_peername(tls_socket *s, struct sockaddr_storage *addr, socklen_t *len)
{
    return sock_addr(s, addr, len, true);
}

int tls_sockname(tls_socket *s, struct sockaddr_storage *addr, socklen_t *len)
{
    return sock_addr(s, addr, len, false);
}

int tls_peercert(tls_socket *s, const uint8_t **der, size_t *len)
{
    if (!s || !der || !len)
        return TLS_E_BADARG;
    pthread_mutex_lock(&s->lock);
    int rc = s->eng ? tls_engine_peercert(s->eng, der, len) : TLS_E_STATE;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int tls_connection_info(tls_socket *s, uint16_t *version, const tls_suite_info **suite)
{
    if (!s)
        return TLS_E_BADARG;
    pthread_mutex_lock(&s->lock);
    int rc = TLS_E_STATE;
    if (s->eng && s->eng->connected_once && tls_engine_suite(s->eng)) {
        if (version)
            *version = tls_engine_version(s->eng);
        if (suite)
            *suite = tls_engine_suite(s->eng);
        rc = TLS_OK;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

tls_engine *tls_socket_engine(tls_socket *s) { return s ? s->eng : NULL; }

int tls_socket_fd(tls_socket *s) { return s && !s->closed ? s->fd : -1; }

int tls_sock_apply_opt(tls_socket *s, int level, int name, int value, const char *what, tls_error *err)
{
    if (s->fd < 0)
        return tls_err_set(err, TLS_E_CLOSED, -1, "setting %s: the socket is closed", what);
    if (setsockopt(s->fd, level, name, &value, sizeof value) < 0) {
        /* a custom transport over a non-TCP fd: the option means nothing there */
        if (errno == ENOTSOCK || errno == EOPNOTSUPP || (errno == EINVAL && level == IPPROTO_TCP) ||
            errno == ENOPROTOOPT)
            return TLS_OK;
        return set_errno_err(err, TLS_E_SYSCALL, errno, "setsockopt %s", what);
    }
    return TLS_OK;
}
