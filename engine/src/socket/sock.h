/* The socket layer's private state and the functions its files share.
 *
 * Who calls whom (no cycles): the API files (connect.c, accept.c, io.c)
 * call active.c, sock.c and config_cache.c; active.c calls sock.c; sock.c
 * calls config_cache.c; all of them call the engine's public API only
 * (tlsengine.h), never its internals. Nothing calls back up.
 *
 * Locking: `lock` guards every field below it and the engine. Lock order is
 * socket lock -> active.c's registry lock; nothing takes a socket lock while
 * holding the registry lock. Nobody holds a lock while waiting in poll() or
 * while an owner callback runs. */
#ifndef TLS_SOCK_H
#define TLS_SOCK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "tlsengine_socket.h"

#define TLS_SOCK_RBUF 16709 /* one maximal TLS record + header */
#define TLS_SOCK_PLAIN 16384 /* one record's plaintext at most (RFC 8446 5.1) */

struct tls_socket {
    _Atomic int refs;          /* the user's handle, calls in progress, the helper thread */
    pthread_mutex_t lock;
    int fd;                    /* the transport's fd (ctx), -1 once closed */
    const tls_transport *tr;
    void *ctx;
    const tls_transport *child_tr; /* listener: the transport of accepted sockets */
    tls_config *cfg;
    tls_engine *eng;           /* NULL for listeners and before ssl_accept */
    bool listener, server;
    bool handshaken;           /* the first handshake completed: data may flow */
    bool closed;               /* tls_close ran: fd gone */
    bool eof;                  /* transport recv returned 0 (or failed) */
    bool rd_broken, wr_broken; /* the transport failed; errnos below */
    int rd_errno, wr_errno;
    bool rd_shut, wr_shut;     /* tls_shutdown */
    int saved_fl;              /* fd flags before we set O_NONBLOCK (restored on failure) */
    char peer[80];             /* "127.0.0.1:443", for error details */

    uint8_t *rbuf;             /* transport bytes not yet taken by the engine */
    size_t r_off, r_len;
    uint8_t *app;              /* plaintext taken from the engine, not yet given out */
    size_t a_off, a_len, a_cap;

    /* active mode (active.c) */
    int active;                /* TLS_ACTIVE_* or N > 0 remaining */
    tls_owner_fn owner;
    void *owner_arg;
    bool closed_delivered;     /* ssl_closed (or ssl_error) went out: nothing more */
    int nodelay, keepalive;    /* last values set, -1 = never set */
    /* framing (packet.c): the setting, and what is left of a message that
     * was over packet_size (its bytes are dropped as they arrive) */
    tls_packet packet;
    size_t packet_size;
    size_t skip_left;          /* bytes of a prefixed message still to drop */
    bool skip_line;            /* drop up to and with the next newline */
    /* guarded by the registry lock */
    bool registered;
    uint32_t reg_events;
};

/* ---- sock.c: the object ---- */
/* A socket object over fd with one reference; sets O_NONBLOCK (remembering
 * the old flags). tr NULL: TCP. stream: it will carry TLS (not a listener). */
tls_socket *tls_sock_new(int fd, const tls_transport *tr, bool stream);
/* A socket over a transport whose ctx is not an fd (s->fd is -1). */
tls_socket *tls_sock_new_ctx(const tls_transport *tr, void *ctx);
void tls_sock_ref(tls_socket *s);
void tls_sock_unref(tls_socket *s);
/* A failed upgrade: the caller keeps its fd, in its original blocking mode. */
void tls_sock_release_fd(tls_socket *s);
/* The fd to poll: the transport's, or the socket's own. */
int tls_sock_poll_fd(tls_socket *s);
int tls_sock_apply_opt(tls_socket *s, int level, int name, int value, const char *what, tls_error *err);

/* ---- sock.c: time (milliseconds, monotonic; a deadline of -1 never comes) ---- */
int64_t tls_sock_deadline(int timeout_ms);
int tls_sock_remaining_ms(int64_t deadline); /* -1: no deadline, 0: passed */

/* ---- sock.c: addresses ---- */
void tls_sock_format_addr(const struct sockaddr *sa, socklen_t len, char *buf, size_t cap);
/* IPv4 clients of a dual-stack listener appear as ::ffff:a.b.c.d: make them a.b.c.d */
void tls_sock_unmap_v4(struct sockaddr_storage *ss, socklen_t *len);

/* ---- sock.c: the pump ---- */
/* Every step possible without blocking: flush output, pull plaintext into
 * app[] (if pull), feed buffered bytes, read the transport (if want_in).
 * Returns the poll events worth waiting for (0: nothing more can come). */
short tls_sock_pump(tls_socket *s, bool want_in, bool pull);
bool tls_sock_engine_failed(tls_socket *s);
/* No more plaintext can arrive (close_notify, EOF, failure, shutdown read). */
bool tls_sock_input_done(tls_socket *s);
/* No more plaintext can come from the engine (app[] may still hold some). */
bool tls_sock_input_over(tls_socket *s);

/* What tls_sock_drive runs the engine for. The first three read the
 * transport (and collect plaintext into app[]); the last two only write. */
typedef enum {
    TLS_SOCK_UNTIL_CONNECTED,     /* the handshake is done */
    TLS_SOCK_UNTIL_PLAINTEXT,     /* app[] holds `need` bytes */
    TLS_SOCK_UNTIL_RENEGOTIATED,  /* our renegotiation is done or refused */
    TLS_SOCK_UNTIL_FLUSHED,       /* the engine's output has all been sent */
    TLS_SOCK_UNTIL_WRITABLE,      /* the engine accepts plaintext again */
} tls_sock_goal;
/* Pumps and waits (lock released) until the goal holds, the deadline
 * passes or the connection ends. Lock held. */
int tls_sock_drive(tls_socket *s, tls_sock_goal goal, size_t need, int64_t deadline, tls_error *err);

/* The handshake on a fresh socket, lock held: a config for `o` unless the
 * socket has one, an engine unless it has one, then drive to connected. */
int tls_sock_handshake(tls_socket *s, const tls_options *o, bool server, const char *default_name,
                       int64_t deadline, tls_error *err);
/* tls_connect_fd and tls_ssl_accept_fd: a socket over fd, then the handshake. */
int tls_sock_upgrade_fd(int fd, const tls_options *o, bool server, int timeout_ms, tls_socket **out,
                        tls_error *err);
int tls_sock_upgrade_ctx(const tls_transport *tr, void *ctx, const tls_options *o, bool server,
                         int timeout_ms, tls_socket **out, tls_error *err);

/* ---- sock.c: errors ---- */
/* The reason input ended, as an error (engine failure, closed, transport). */
int tls_sock_end_error(tls_socket *s, tls_error *err);
/* The transport refused our bytes (wr_errno). */
int tls_sock_write_error(tls_socket *s, tls_error *err);
/* code, with errno e in err->sys_errno and the sentence fmt % arg. */
int tls_sock_errno_error(tls_error *err, int code, int e, const char *fmt, const char *arg);

/* ---- packet.c: framing of app[] (lock held; not for TLS_PACKET_RAW) ---- */
/* First drops what a too-big message left. Then TLS_OK: a whole message is
 * at app[a_off]: *hdr prefix bytes, then *body bytes (take them with
 * tls_packet_consume(s, *hdr + *body)); TLS_E_WOULDBLOCK: app[] must hold
 * *need bytes first; TLS_E_MSGSIZE (err says the sizes): the message is
 * over packet_size, and its bytes will be dropped. */
int tls_packet_peek(tls_socket *s, size_t *hdr, size_t *body, size_t *need, tls_error *err);
void tls_packet_consume(tls_socket *s, size_t n);
/* tls_packet_peek would not say "wait" (changes nothing). */
bool tls_packet_ready(tls_socket *s);
/* tls_send's prefix for len bytes (0, 1, 2 or 4 bytes written to out[4]),
 * or TLS_E_MSGSIZE when len does not fit it. */
int tls_packet_prefix(const tls_socket *s, size_t len, uint8_t out[4], size_t *out_len, tls_error *err);

/* ---- config_cache.c ---- */
/* A config for these options: a cached one (new reference) or a new one. */
int tls_config_cache_get(const tls_options *o, bool server, tls_config **out, tls_error *err);

/* ---- active.c ---- */
/* Called with s->lock held. Registers or unregisters the socket with the
 * helper thread after a change of state (handshake done, setopts, owner,
 * close). */
void tls_active_update(tls_socket *s);

#endif
