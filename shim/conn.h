/* One upgraded connection as the helper thread sees it (private to helper.c,
 * which runs the epoll loop, and conn.c, which moves the bytes):
 *
 *   program fd <-> [app_fd] plaintext <-> tls_engine <-> ciphertext [net_fd] <-> peer
 *
 * Its state is explicit, BearSSL style: one phase for the connection's life
 * and, once it is open, one state for each direction, since TCP (and TLS 1.3,
 * and TLS 1.2 the way OpenSSL-based programs use it) closes each direction on
 * its own. Every state only moves forward, along the transitions drawn here;
 * conn.c makes each transition in one place. */
#ifndef TLSSHIM_CONN_H
#define TLSSHIM_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "shim.h"

#define APP_CAP (16 * 1024) /* plaintext from the program (ciphertext is received straight
                               into the engine, and plaintext sent from it) */

/*   PHASE_TCP_CONNECTING  connect rules: the TCP connect is in progress
 *        | the socket is writable and SO_ERROR is 0       (error: DEAD)
 *        v
 *   PHASE_HANDSHAKE       the engine handshakes; the program's bytes wait in
 *        |                the socketpair, unread (never plaintext on the wire)
 *        | the engine reports CONNECTED      (failure, timeout, EOF: DEAD)
 *        v
 *   PHASE_OPEN            application data; send_state and recv_state below
 *        | both directions over (or a failure, or the linger time)
 *        v
 *   PHASE_DEAD            fds closed, logged; freed after the current batch */
typedef enum {
    PHASE_TCP_CONNECTING,
    PHASE_HANDSHAKE,
    PHASE_OPEN,
    PHASE_DEAD,
} conn_phase;

/* program -> peer:
 *   SEND_OPEN       the helper reads the program's end
 *        | it reads EOF (shutdown(SHUT_WR), the last close, exit) or an error
 *   SEND_LAST       what the program wrote last still goes into the engine
 *        | app_in is empty: close_notify queued behind it
 *   SEND_NOTIFYING  the engine's output (data, then close_notify) is flushed
 *        | flushed
 *   SEND_SHUT       the TCP write side is shut (FIN after close_notify) */
typedef enum {
    SEND_OPEN,
    SEND_LAST,
    SEND_NOTIFYING,
    SEND_SHUT,
} send_state;

/* peer -> program:
 *   RECV_OPEN       ciphertext is read and decrypted for the program
 *        | close_notify, or TCP EOF once the ciphertext before it is in the
 *        | engine (logged: data may be truncated)
 *   RECV_ENDED      nothing more comes; the program still gets what is decrypted
 *        | all delivered
 *   RECV_DONE       the program's end is shut for writing: the program reads EOF */
typedef enum {
    RECV_OPEN,
    RECV_ENDED,
    RECV_DONE,
} recv_state;

typedef struct shim_conn {
    conn_phase phase;
    send_state send;
    recv_state recv;

    /* facts, independent of the states above */
    bool is_server;
    bool net_eof;              /* the TCP socket read EOF (the engine may still hold records) */
    bool app_gone;             /* the program reads no more: what the peer sends is dropped */
    bool app_hupseen, net_hupseen; /* epoll reported HUP/ERR on that fd */
    /* the fd may have bytes to read: epoll reported it readable and no read
     * since came back short. A read is only tried then, so a message costs
     * no recv that ends in EAGAIN (level-triggered epoll reports what
     * arrives after a short read) */
    bool net_rd, app_rd;
    /* no byte moved since the last deadline scan: the next scan trims */
    bool quiet;
    bool trimmed; /* and nothing moved since it did */

    /* the helper's bookkeeping (helper.c) */
    struct shim_conn *next, *prev;  /* live connections */
    struct shim_conn *dead_next;    /* retired, freed after the batch */
    struct shim_conn *again_next;   /* pump again without waiting for an event */
    bool again;
    bool app_reg, net_reg;          /* registered in epoll, with these masks: */
    uint32_t app_ev, net_ev;

    shim_sock *sock;
    const policy_rule *rule;
    tls_engine *eng;
    int app_fd, net_fd, pdup_fd;
    size_t filler_left;             /* connect: filler bytes still to discard from the program */
    int orig_sndbuf;
    uint64_t start_ms, deadline_ms, linger_ms;
    uint64_t bytes_to_peer, bytes_from_peer; /* plaintext */
    uint64_t net_bytes_in;          /* ciphertext received */
    char peer[64];
    /* on the heap (NULL when none): most connections need neither, and an
     * idle connection should cost little */
    char *host;                     /* a connect rule's host name */
    char *fail;                     /* why the connection failed */
    stats_fail fail_kind;           /* and the kind, for the stats (conn_fail) */
    /* allocated when first needed and freed again by the idle scan, with the
     * engine's: an idle connection holds none (NULL: length 0) */
    size_t app_in_len;
    uint8_t *app_in; /* APP_CAP */
} shim_conn;

/* ---- conn.c (helper thread, lock held) ---- */
/* Moves bytes as far as they go without blocking, makes the transitions that
 * follow, then re-arms the epoll masks. events: what epoll reported (0: none) */
void conn_pump(shim_conn *c, uint32_t events);
/* Ends the connection: closes its fds, updates its socket, logs it. */
void conn_finish(shim_conn *c);
void conn_fail(shim_conn *c, int sys_errno, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The helper's periodic scan: a connection through which nothing moved for a
 * whole scan period gives back its buffers (the engine's too). Not done after
 * every message: the buffers would be freed and allocated again each time. */
bool conn_idle_scan(shim_conn *c); /* true if it freed buffers */
/* Frees the connection's buffers (before the connection itself). */
void conn_free_buffers(shim_conn *c);
/* Records why the connection failed (the log line names it); the last reason wins. */
void conn_set_fail(shim_conn *c, const char *why);
/* Frees the connection with its engine, buffers and strings. */
void conn_free(shim_conn *c);

/* ---- helper.c ---- */
uint64_t helper_now_ms(void);
/* Sets the epoll mask of the connection's net or app fd (0: nothing wanted). */
void helper_arm(shim_conn *c, bool net, uint32_t want);
/* Leaves epoll and closes the fd (owned) of that side; sets it to -1. */
void helper_close_side(shim_conn *c, bool net);
/* Pumps c again after this batch, without waiting for an event. */
void helper_again(shim_conn *c);
/* Takes a finished c off the live list; freed after the current batch. */
void helper_retire(shim_conn *c);

#endif
