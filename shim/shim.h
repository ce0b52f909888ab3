/* libtlsshim internals: shared by the files of shim/ (one interposed call,
 * or one family, a file). Nothing here is exported: the library is built
 * with -fvisibility=hidden and shim/exports.map lists only libc names. */
#ifndef TLSSHIM_SHIM_H
#define TLSSHIM_SHIM_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netdb.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "policy.h"
#include "tlsengine.h"

/* exported (interposed) functions carry this */
#define SHIM_EXPORT __attribute__((visibility("default")))

/* ---- real.c: the libc functions, resolved once with dlsym(RTLD_NEXT) ---- */
struct shim_real {
    int (*connect)(int, const struct sockaddr *, socklen_t);
    int (*accept)(int, struct sockaddr *, socklen_t *);
    int (*accept4)(int, struct sockaddr *, socklen_t *, int);
    int (*close)(int);
    int (*close_range)(unsigned, unsigned, int);
    void (*closefrom)(int);
    int (*shutdown)(int, int);
    int (*getpeername)(int, struct sockaddr *, socklen_t *);
    int (*getsockname)(int, struct sockaddr *, socklen_t *);
    int (*getsockopt)(int, int, int, void *, socklen_t *);
    int (*setsockopt)(int, int, int, const void *, socklen_t);
    int (*dup)(int);
    int (*dup2)(int, int);
    int (*dup3)(int, int, int);
    int (*fcntl)(int, int, ...);
    int (*fcntl64)(int, int, ...);
    int (*getaddrinfo)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
};
extern struct shim_real shim_real;
void shim_real_init(void);

/* ---- init.c: policy and one tls_config per rule ---- */
extern policy *shim_policy;         /* NULL: not configured (pass through) */
extern tls_config **shim_configs;   /* one per rule, index = rule - rules */
void shim_init(void);               /* idempotent; every wrapper calls it first */
bool shim_active(void);             /* a policy is loaded and we are not inside the shim */
size_t shim_rule_index(const policy_rule *r);
/* Builds a config for rule r; on error writes "FILE:LINE: [rule] KEY: text". */
int shim_build_config(const policy *p, const policy_rule *r, tls_config **out, char *msg,
                      size_t msg_len);
void shim_keylog_cb(const char *line, void *arg);

/* ---- the global lock (recursive): fd table, socket state, helper's conns ---- */
void shim_lock(void);
void shim_unlock(void);
extern pthread_mutex_t shim_mutex;
extern pthread_cond_t shim_cond; /* broadcast whenever a socket's state changes */

/* ---- fdtable.c ---- */
enum { SOCK_PENDING = 1, SOCK_CONNECTED, SOCK_FAILED, SOCK_FINISHED };

struct shim_conn;
typedef struct shim_sock {
    int refs;                  /* program fds referring to it + 1 while the helper owns it */
    int state;                 /* SOCK_* */
    int err;                   /* SO_ERROR to report (once) */
    bool is_server;
    int family;
    struct sockaddr_storage peer, local;
    socklen_t peer_len, local_len;
    int tcp_fd;                /* the helper's TCP socket; -1 once closed (under the lock) */
    struct shim_conn *conn;    /* NULL once the connection ended or in a forked child */
} shim_sock;

/* All of these require the lock. */
void shim_fd_own(int fd);          /* the fd is the shim's own (helper end, TCP, epoll...) */
void shim_fd_disown(int fd);
bool shim_fd_is_own(int fd);
/* No lock needed: true when the shim has nothing to do with fd (neither its
 * own nor an upgraded socket), so a call on it can go straight through. */
bool shim_fd_untouched(int fd);
shim_sock *shim_fd_sock(int fd);   /* the upgraded socket behind a program fd, or NULL */
void shim_fd_set_sock(int fd, shim_sock *s); /* takes a reference; NULL clears (drops one) */
int shim_fd_max(void);             /* one past the highest fd with an entry */
void shim_sock_unref(shim_sock *s);
/* Moves fd out of the program's way (above its limit, or else at the top of
 * its range), close-on-exec, owned. Returns the new fd (the old one is
 * closed), or fd itself if that failed. */
int shim_fd_high(int fd);
/* An owned, close-on-exec copy of fd placed as shim_fd_high places it (fd
 * stays open); -1 with errno when no fd is left. */
int shim_fd_copy_high(int fd);
/* The shim is about to create n fds (0: done): the kernel's soft limit leaves
 * them room above the program's own, as far as the hard limit allows. */
void shim_fd_room(int n);
/* The shim's room above the program's limit was short (EMFILE there): a
 * number in it is someone else's - an fd inherited above the program's
 * limit, or one the program took when its own range was full. Grows the room
 * by one; false when the hard limit leaves none. */
bool shim_fd_grow_room(void);
/* fd is at or above the program's own soft limit, while the shim's fds live
 * there: a number the program could not have been given without the shim. */
bool shim_fd_above_program(int fd);
/* For the log: the program's own soft limit, the process's hard limit (the
 * kernel's, which bounds the program's fds and the shim's together: above
 * the program's own when it lowered it) and how many fds the shim holds; any
 * pointer may be NULL. */
void shim_fd_limits(rlim_t *soft, rlim_t *hard, int *own);
/* setrlimit(RLIMIT_NOFILE) for the program: it gets want, the kernel that
 * plus the shim's fds. 0, or -1 with errno. */
int shim_fd_set_program_limit(const struct rlimit *want);
/* Turns the kernel's RLIMIT_NOFILE into the program's view (its own soft
 * limit); a limit changed behind the shim's back becomes the program's. */
void shim_fd_program_view(struct rlimit *kernel);
/* Closes an owned fd (real close) and forgets it. */
void shim_fd_close_own(int fd);
/* For the interposed calls that take program fds: shim_init(), then the
 * lock, and true; false with EBADF (lock not held) when fd or fd2 (-1: none)
 * is one of the shim's own, which the program must not touch. */
bool shim_lock_program_fds(int fd, int fd2);
void shim_fdtable_init(void);
/* At the end of start-up: notes the program's limit for an exec'ed image. */
void shim_fdtable_init_done(void);
void shim_fdtable_child_reset(void); /* after fork, in the child */

/* ---- rlimit.c ---- */
/* prlimit(2) on this process, straight to the kernel (never the wrappers). */
int shim_prlimit_self(const struct rlimit *set, struct rlimit *old);

/* ---- resolve.c: address -> host name the program resolved ---- */
/* Copies the name for addr (port ignored) into buf; false if unknown. */
bool shim_resolve_lookup(const struct sockaddr *addr, char *buf, size_t len);
void shim_resolve_fork_prepare(void);
void shim_resolve_fork_parent(void);
void shim_resolve_fork_child(void);

/* ---- helper.c: the one helper thread ---- */
typedef struct shim_conn_args {
    shim_sock *sock;           /* reference taken by the helper */
    int app_fd;                /* helper's socketpair end (owned, high) */
    int net_fd;                /* TCP socket (owned, high, non-blocking) */
    int pdup_fd;               /* connect: a copy of the program's end until the handshake, or -1 */
    size_t filler;             /* connect: bytes queued on the program's end to hold POLLOUT */
    int orig_sndbuf;           /* program end's SO_SNDBUF before the filler (as getsockopt gave it) */
    bool connecting;           /* the TCP connect is still in progress */
    tls_engine *engine;
    const policy_rule *rule;
    const char *host;          /* the name used for SNI/verification, for the log (may be NULL) */
} shim_conn_args;
/* Hands a connection to the helper (starting it if needed). Lock held. 0 or -1/errno. */
int shim_helper_add(const shim_conn_args *a);
/* tls_engine_new / tls_engine_free under the shim's lock: every use of the
 * engine (and so of libcrypto) is, so that fork() (whose prepare handler takes
 * the lock) never copies a libcrypto lock held by another thread. */
int shim_engine_new(tls_config *c, const char *server_name, tls_engine **out, tls_error *err);
void shim_engine_free(tls_engine *e);
void shim_helper_child_reset(void);
void shim_helper_exit_drain(void);
void shim_helper_fork_prepare(void);
void shim_helper_fork_parent(void);

/* ---- upgrade.c: the socketpair handoff shared by connect.c and accept.c ---- */
typedef struct shim_upgrade_req {
    int fd;                    /* the program's TCP socket (connected, or connecting) */
    tls_engine *engine;        /* taken: the helper's on success, freed on failure */
    const policy_rule *rule;
    const char *host;          /* for the log (may be NULL) */
    const struct sockaddr *peer;
    socklen_t peer_len;
    const struct sockaddr *local; /* accept: the local address it looked up (else NULL) */
    socklen_t local_len;
    bool is_server;            /* accept: connected for the program at once */
    bool connecting;           /* connect: the TCP connect is still in progress */
    bool hold_unwritable;      /* connect: the program's end is not writable until the handshake */
    bool nonblock, cloexec;    /* O_NONBLOCK / FD_CLOEXEC for the program's end */
} shim_upgrade_req;
/* The engine for a connection under rule (server_name: SNI and the name to
 * verify, NULL for the rule's own or for a server). NULL (logged) with errno
 * ECONNREFUSED when it cannot start. */
tls_engine *shim_upgrade_engine(const policy_rule *rule, const char *server_name);
/* Lock held. Swaps r->fd for its socketpair end and hands the TCP socket and
 * the engine to the helper. Returns the socket (the fd table's reference), or
 * NULL with errno: then r->fd is still the TCP socket, or, if the swap was
 * done, the socketpair end with a SOCK_FAILED socket whose err is errno. */
shim_sock *shim_upgrade(const shim_upgrade_req *r);

/* ---- stats.c: `[global] stats`, per rule; all but stats_write need the lock ---- */
typedef enum {
    STATS_FAIL_ALERT_SENT,     /* we found the fault and said so */
    STATS_FAIL_ALERT_RECEIVED, /* the peer refused */
    STATS_FAIL_BAD_CERT,       /* the peer's certificate did not verify */
    STATS_FAIL_TIMEOUT,        /* handshake_timeout */
    STATS_FAIL_PEER_CLOSED,    /* the peer went away during the handshake */
    STATS_FAIL_NETWORK,        /* the TCP connection failed */
    STATS_FAIL_OTHER,
    STATS_FAIL_COUNT
} stats_fail;
void stats_init(const policy *p);
void stats_child_reset(void);
void stats_conn_opened(const policy_rule *r);
void stats_conn_closed(const policy_rule *r);
void stats_handshake_done(const policy_rule *r, uint64_t ms, bool resumed);
void stats_handshake_failed(const policy_rule *r, stats_fail why);
void stats_bytes(const policy_rule *r, bool to_peer, uint64_t n);
/* The file's text when a write is due (something changed, and a second has
 * passed or force), else NULL; then stats_write(text) without the lock. */
char *stats_due(uint64_t now_ms, bool force);
void stats_write(char *text);

/* ---- names.c ---- */
/* Formats "1.2.3.4:443" / "[::1]:443". */
void shim_addr_str(const struct sockaddr *a, char *buf, size_t len);
bool shim_addr_is_inet(const struct sockaddr *a);

/* ---- sockopt.c ---- */
void shim_copy_program_opts(int tcp_fd, int program_end);

/* ---- log.c ---- */
void shim_log_init(const policy *p);
void shim_log(policy_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool shim_log_enabled(policy_log_level lvl);
void shim_log_child_reset(void);

/* ---- fork.c ---- */
void shim_fork_init(void);

#endif
