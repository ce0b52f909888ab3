/* The handoff shared by connect() and accept(): a TCP socket the program
 * holds becomes the helper's, and the program's fd number becomes one end of
 * a fresh socketpair, before the interposed call returns (epoll watches open
 * files, not numbers: a later swap would lose the program's registrations).
 *
 *   before:  program fd N = TCP socket
 *   after:   program fd N = socketpair end (the program's flags, its socket
 *            options copied to the TCP socket), helper: the other end + the
 *            TCP socket (high, close-on-exec, non-blocking) + the engine
 *
 * One function, one unwinding path: whatever step fails, everything taken
 * so far is given back in reverse order and the engine is freed. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shim.h"

tls_engine *shim_upgrade_engine(const policy_rule *rule, const char *server_name)
{
    tls_engine *eng = NULL;
    tls_error terr;
    memset(&terr, 0, sizeof terr);
    if (shim_engine_new(shim_configs[shim_rule_index(rule)], server_name, &eng, &terr) < 0) {
        char t[256];
        shim_log(POLICY_LOG_ERROR, "[%s] cannot start TLS: %s", rule->name,
                 tls_format_error(&terr, t, sizeof t));
        errno = ECONNREFUSED;
        return NULL;
    }
    return eng;
}

/* Shrinks the program end's send buffer and fills it, so that it is not
 * writable until the helper drains the filler (connect: POLLOUT then means
 * "handshake done", as it means "connected" for TCP). Returns bytes queued. */
static size_t fill_unwritable(int p, int *orig_sndbuf)
{
    socklen_t l = sizeof *orig_sndbuf;
    if (shim_real.getsockopt(p, SOL_SOCKET, SO_SNDBUF, orig_sndbuf, &l) < 0)
        *orig_sndbuf = 0;
    int tiny = 1; /* the kernel rounds up to its minimum */
    shim_real.setsockopt(p, SOL_SOCKET, SO_SNDBUF, &tiny, sizeof tiny);
    static const uint8_t zeros[256];
    size_t total = 0;
    for (int i = 0; i < 4096; i++) {
        ssize_t n = send(p, zeros, sizeof zeros, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n <= 0)
            break;
        total += (size_t)n;
    }
    return total;
}

static shim_sock *new_sock(const shim_upgrade_req *r, int net)
{
    shim_sock *s = calloc(1, sizeof *s);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    /* an accepted connection is connected for the program at once; a
     * connect is pending until the handshake is done */
    s->state = r->is_server ? SOCK_CONNECTED : SOCK_PENDING;
    s->is_server = r->is_server;
    s->family = r->peer->sa_family;
    s->tcp_fd = net;
    s->peer_len = r->peer_len < sizeof s->peer ? r->peer_len : (socklen_t)sizeof s->peer;
    memcpy(&s->peer, r->peer, s->peer_len);
    if (r->local && r->local_len <= sizeof s->local) {
        s->local_len = r->local_len;
        memcpy(&s->local, r->local, r->local_len);
    } else {
        s->local_len = sizeof s->local;
        shim_real.getsockname(net, (struct sockaddr *)&s->local, &s->local_len);
    }
    return s;
}

/* Says in the log why a connection could not be handed to the helper. */
static void log_refusal(const shim_upgrade_req *r, int e)
{
    char peer[64];
    shim_addr_str(r->peer, peer, sizeof peer);
    const char *what = r->is_server ? "connection from" : "connection to";
    if (e == EMFILE || e == ENFILE) {
        rlim_t soft = 0, hard = 0;
        int own = 0;
        shim_fd_limits(&soft, &hard, &own);
        shim_log(POLICY_LOG_ERROR,
                 "[%s] %s %s refused: %s (an upgraded connection needs 3 fds: the "
                 "program's, the helper's end and the TCP socket; RLIMIT_NOFILE is %llu, "
                 "hard %llu, the shim holds %d)",
                 r->rule->name, what, peer,
                 e == EMFILE ? "no file descriptor left in the process"
                             : "no file descriptor left in the system",
                 (unsigned long long)soft, (unsigned long long)hard, own);
    } else {
        shim_log(POLICY_LOG_ERROR, "[%s] %s %s refused: cannot hand it to the helper: %s",
                 r->rule->name, what, peer, strerror(e));
    }
}

shim_sock *shim_upgrade(const shim_upgrade_req *r)
{
    int sv[2] = {-1, -1};
    int net = -1, app = -1, pdup = -1, orig_sndbuf = 0;
    size_t filler = 0;
    shim_sock *s = NULL;
    bool swapped = false; /* the program's fd number is now its socketpair end */

    /* The socketpair's ends are made where the kernel puts them (the
     * program's lowest free numbers, if it has any): room for them above the
     * program's limit while they exist. The order keeps the peak at one fd
     * above the three a connection ends up with: the helper's end moves up
     * before the TCP socket is copied up. */
    shim_fd_room(2);
    int sp;
    while ((sp = socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv)) < 0 &&
           errno == EMFILE && shim_fd_grow_room())
        ;
    if (sp < 0)
        goto fail;
    app = shim_fd_high(sv[1]);
    sv[1] = -1;
    if (r->hold_unwritable) {
        filler = fill_unwritable(sv[0], &orig_sndbuf);
        /* the helper keeps a copy to restore the send buffer afterwards */
        pdup = shim_fd_copy_high(sv[0]);
        if (pdup < 0)
            goto fail;
    }
    net = shim_fd_copy_high(r->fd);
    if (net < 0)
        goto fail;
    /* net shares its file with r->fd: an accept4 with SOCK_NONBLOCK made it
     * non-blocking already */
    if (!(r->is_server && r->nonblock)) {
        int nfl = shim_real.fcntl(net, F_GETFL);
        shim_real.fcntl(net, F_SETFL, (nfl < 0 ? 0 : nfl) | O_NONBLOCK);
    }
    if (!(s = new_sock(r, net)))
        goto fail;

    shim_copy_program_opts(net, sv[0]);
    if (!r->nonblock) /* the socketpair was made non-blocking */
        shim_real.fcntl(sv[0], F_SETFL, 0);
    if (shim_real.dup3(sv[0], r->fd, r->cloexec ? O_CLOEXEC : 0) < 0)
        goto fail;
    swapped = true;
    shim_real.close(sv[0]);
    sv[0] = -1;
    shim_fd_room(0);
    shim_fd_set_sock(r->fd, s); /* the fd's reference: s is the table's now */

    shim_conn_args a = {
        .sock = s,
        .app_fd = app,
        .net_fd = net,
        .pdup_fd = pdup,
        .filler = filler,
        .orig_sndbuf = orig_sndbuf,
        .connecting = r->connecting,
        .engine = r->engine,
        .rule = r->rule,
        .host = r->host,
    };
    if (shim_helper_add(&a) < 0)
        goto fail;
    return s;

fail:;
    int e = errno;
    log_refusal(r, e);
    shim_fd_close_own(pdup);
    shim_fd_close_own(app);
    shim_fd_close_own(net);
    if (sv[0] >= 0)
        shim_real.close(sv[0]);
    if (sv[1] >= 0)
        shim_real.close(sv[1]);
    shim_fd_room(0);
    if (swapped) {
        /* the program's end stays, its helper end closed: it reads EOF, and
         * the socket reports the failure (SO_ERROR, a second connect) */
        s->state = SOCK_FAILED;
        s->err = e;
        s->tcp_fd = -1;
    } else {
        free(s);
    }
    shim_engine_free(r->engine);
    errno = e;
    return NULL;
}
