/* The socket layer's private state, shared by api.c (blocking calls) and
 * active.c (the helper thread that delivers messages to the owner).
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

#include "tlsengine.h"

#define TLS_SOCK_RBUF 16709 /* one maximal TLS record + header */

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
    /* guarded by the registry lock */
    bool registered;
    uint32_t reg_events;
};

/* api.c */
void tls_sock_ref(tls_socket *s);
void tls_sock_unref(tls_socket *s);
/* Every step possible without blocking: flush output, pull plaintext into
 * app[] (if pull), feed buffered bytes, read the transport (if want_in).
 * Returns the poll events worth waiting for (0: nothing more can come). */
short tls_sock_pump(tls_socket *s, bool want_in, bool pull);
/* No more plaintext can arrive (close_notify, EOF, failure, shutdown read). */
bool tls_sock_input_done(tls_socket *s);
/* The reason input ended, as an error (engine failure, closed, transport). */
int tls_sock_end_error(tls_socket *s, tls_error *err);
int tls_sock_apply_opt(tls_socket *s, int level, int name, int value, const char *what, tls_error *err);

/* active.c: called with s->lock held. Registers or unregisters the socket
 * with the helper thread after a change of state (handshake done, setopts,
 * owner, close). */
void tls_active_update(tls_socket *s);

#endif
