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
    tls_engine *eng = NULL;
    tls_error terr;
    memset(&terr, 0, sizeof terr);
    if (shim_engine_new(shim_configs[shim_rule_index(rule)], NULL, &eng, &terr) < 0) {
        char t[256];
        shim_log(POLICY_LOG_ERROR, "[%s] cannot start TLS: %s", rule->name,
                 tls_format_error(&terr, t, sizeof t));
        return -1;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0) {
        shim_engine_free(eng);
        return -1;
    }
    shim_lock();
    int net = shim_real.fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (net < 0) {
        shim_unlock();
        shim_real.close(sv[0]);
        shim_real.close(sv[1]);
        shim_engine_free(eng);
        return -1;
    }
    net = shim_fd_high(net);
    int nfl = shim_real.fcntl(net, F_GETFL);
    shim_real.fcntl(net, F_SETFL, (nfl < 0 ? 0 : nfl) | O_NONBLOCK);
    int app = shim_fd_high(sv[1]);
    shim_copy_program_opts(net, sv[0]);
    shim_real.fcntl(sv[0], F_SETFL, (flags & SOCK_NONBLOCK) ? O_NONBLOCK : 0);
    if (shim_real.dup3(sv[0], fd, (flags & SOCK_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
        shim_fd_close_own(app);
        shim_fd_close_own(net);
        shim_unlock();
        shim_real.close(sv[0]);
        shim_engine_free(eng);
        return -1;
    }
    shim_real.close(sv[0]);
    shim_sock *s = calloc(1, sizeof *s);
    if (!s) {
        shim_fd_close_own(app);
        shim_fd_close_own(net);
        shim_unlock();
        shim_engine_free(eng);
        return -1;
    }
    s->state = SOCK_CONNECTED;
    s->is_server = true;
    s->family = peer->sa_family;
    s->tcp_fd = net;
    memcpy(&s->peer, peer, peer_len < sizeof s->peer ? peer_len : sizeof s->peer);
    s->peer_len = peer_len < sizeof s->peer ? peer_len : (socklen_t)sizeof s->peer;
    s->local_len = sizeof s->local;
    shim_real.getsockname(net, (struct sockaddr *)&s->local, &s->local_len);
    shim_fd_set_sock(fd, s);
    shim_conn_args a = {
        .sock = s,
        .app_fd = app,
        .net_fd = net,
        .pdup_fd = -1,
        .engine = eng,
        .rule = rule,
    };
    if (shim_helper_add(&a) < 0) {
        shim_fd_set_sock(fd, NULL);
        shim_fd_close_own(app);
        shim_fd_close_own(net);
        shim_engine_free(eng);
        shim_unlock();
        return -1;
    }
    shim_unlock();
    return 0;
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
