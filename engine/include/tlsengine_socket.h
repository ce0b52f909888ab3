/* tlsengine's socket API: the Erlang/OTP ssl module's functions (connect,
 * listen, transport_accept, ssl_accept, send, recv, close, shutdown,
 * renegotiate, active mode) over the sans-I/O core of tlsengine.h, through
 * a transport vtable, TCP by default, with timeouts in milliseconds.
 *
 * Contracts worth knowing:
 *  - tls_connect_fd / tls_ssl_accept_fd own the fd only on success; on
 *    failure the fd stays open, in its original blocking mode, and the
 *    caller closes it (any alert the engine produced was sent first);
 *  - tls_recv with length > 0 returns exactly length bytes; on a timeout the
 *    bytes that did arrive stay for the next call, on close they are lost;
 *  - tls_send, tls_shutdown(write) and tls_renegotiate have no timeout (as in
 *    the Erlang/OTP ssl module): a peer that never reads, or never answers a
 *    HelloRequest, blocks them; tls_close bounds its flush to half a second;
 *  - any thread may call any function on a socket, also while another
 *    thread waits in it: waits happen with the socket's lock released;
 *  - the owner callback of active mode runs on the engine's helper thread:
 *    a tls_send from inside it that blocks holds up every active socket.
 *
 * Client configurations are cached by option contents (and the files' stat
 * data), so repeated tls_connect calls with the same options share one
 * tls_config and so its session cache: that is what makes reuse_sessions
 * work across connections. */
#ifndef TLSENGINE_SOCKET_H
#define TLSENGINE_SOCKET_H

#include <sys/socket.h>
#include <sys/types.h>

#include "tlsengine.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- transport (the Erlang/OTP ssl module's transportoption) ------------ */
struct tls_transport {
    /* return bytes moved, 0 on EOF (recv), or -1 with errno set */
    ssize_t (*send)(void *ctx, const void *buf, size_t len);
    ssize_t (*recv)(void *ctx, void *buf, size_t len);
    int (*close)(void *ctx);
    int (*fd)(void *ctx); /* a pollable fd, for timeouts (NULL or -1: none) */
    int (*shutdown)(void *ctx, int how);
    /* Optional, for a transport without an fd: blocks until recv may have
     * bytes (events POLLIN) or send may take some (POLLOUT), or timeout_ms
     * passes (-1: no limit). Returns > 0 (ready, or worth another try), 0 on
     * timeout, -1 with errno. Without it the socket polls fd(). */
    int (*wait)(void *ctx, short events, int timeout_ms);
    /* Optional: how errors name the far end when there is no fd to ask
     * (e.g. "the in-memory pipe"); NULL: "the transport". */
    const char *name;
};
/* the default: TCP over an fd (ctx is the fd cast to intptr_t) */
TLS_API const tls_transport *tls_transport_tcp(void);

/* ---- sockets ------------------------------------------------------------- */
typedef struct tls_socket tls_socket;
#define TLS_INFINITY (-1)

/* stop(): drops the configurations cached for the socket API (tls_start is
 * in tlsengine.h). Sockets still open keep theirs. */
TLS_API void tls_stop(void);

/* connect(Socket, Options, Timeout): upgrade a connected fd (taken over on success). */
TLS_API int tls_connect_fd(int fd, const tls_options *o, int timeout_ms, tls_socket **out,
                           tls_error *err);
/* connect(Host, Port, Options, Timeout). */
TLS_API int tls_connect(const char *host, int port, const tls_options *o, int timeout_ms,
                        tls_socket **out, tls_error *err);
/* listen(Port, Options): port 0 picks a free port (see tls_sockname). */
TLS_API int tls_listen(int port, const tls_options *o, tls_socket **out, tls_error *err);
TLS_API int tls_transport_accept(tls_socket *listener, int timeout_ms, tls_socket **out,
                                 tls_error *err);
/* ssl_accept(Socket, Timeout): the server handshake of an accepted socket. */
TLS_API int tls_ssl_accept(tls_socket *s, int timeout_ms, tls_error *err);
/* ssl_accept(Socket, SslOptions, Timeout): upgrade an accepted fd. */
TLS_API int tls_ssl_accept_fd(int fd, const tls_options *o, int timeout_ms, tls_socket **out,
                              tls_error *err);

/* connect and ssl_accept over any reliable transport, as the module allows
 * ("any reliable transport protocol that has an equivalent API to
 * gen_tcp's"): tr's calls get ctx, which need not be an fd (a user-space
 * pipe, a TLS connection carrying another, a test harness). send and recv
 * must not block (-1 with EAGAIN); the blocking calls wait in tr->wait (or
 * poll tr->fd). o->transport is ignored. On success the socket owns ctx
 * (tls_close calls tr->close); on failure the caller keeps it. Active mode
 * needs an fd to watch and is refused without one; addresses are
 * TLS_E_STATE there. */
TLS_API int tls_connect_transport(const tls_transport *tr, void *ctx, const tls_options *o,
                                  int timeout_ms, tls_socket **out, tls_error *err);
TLS_API int tls_ssl_accept_transport(const tls_transport *tr, void *ctx, const tls_options *o,
                                     int timeout_ms, tls_socket **out, tls_error *err);

TLS_API int tls_send(tls_socket *s, const void *data, size_t len, tls_error *err);
/* recv(Socket, Length, Timeout): length 0 returns what is available (at most cap
 * bytes, at least 1); length > 0 returns exactly length bytes or an error.
 * Returns bytes stored or a TLS_E_* code. */
TLS_API ssize_t tls_recv(tls_socket *s, void *buf, size_t cap, size_t length, int timeout_ms,
                         tls_error *err);
TLS_API int tls_close(tls_socket *s);
typedef enum { TLS_SHUT_READ, TLS_SHUT_WRITE, TLS_SHUT_READ_WRITE } tls_shutdown_how;
TLS_API int tls_shutdown(tls_socket *s, tls_shutdown_how how, tls_error *err);
/* renegotiate(Socket): TLS <= 1.2 renegotiates and returns once the new
 * handshake is done (TLS_E_RENEG_REJECTED if the peer refuses); TLS 1.3
 * updates the keys both ways instead (KeyUpdate). */
TLS_API int tls_renegotiate(tls_socket *s, tls_error *err);

TLS_API int tls_peername(tls_socket *s, struct sockaddr_storage *addr, socklen_t *len);
TLS_API int tls_sockname(tls_socket *s, struct sockaddr_storage *addr, socklen_t *len);
TLS_API int tls_peercert(tls_socket *s, const uint8_t **der, size_t *len);
TLS_API int tls_connection_info(tls_socket *s, uint16_t *version, const tls_suite_info **suite);
TLS_API tls_engine *tls_socket_engine(tls_socket *s);
TLS_API int tls_socket_fd(tls_socket *s);

/* ---- active mode, controlling process, getopts/setopts ------------------- */
typedef enum { TLS_MSG_DATA, TLS_MSG_CLOSED, TLS_MSG_ERROR } tls_msg_kind;
/* The owner: receives {ssl, S, Data}, {ssl_closed, S}, {ssl_error, S, Reason}.
 * Called from the engine's helper thread. */
typedef void (*tls_owner_fn)(tls_socket *s, tls_msg_kind kind, const uint8_t *data, size_t len,
                             const tls_error *err, void *arg);
/* A socket starts passive, where the module's default is {active, true}: an
 * active socket needs its owner callback first (tls_controlling_process),
 * and data that came before it would have nowhere to go. The module's
 * DataTag/ClosedTag name mailbox messages; here the callback's kind says
 * which event it is. */
#define TLS_ACTIVE_FALSE 0
#define TLS_ACTIVE_TRUE (-1)
#define TLS_ACTIVE_ONCE (-2)
/* {packet, PacketType} as gen_tcp means it. RAW: bytes as they come
 * (tls_recv's length applies). 1, 2, 4: each message carries a big-endian
 * length prefix of that many bytes; tls_send adds it, tls_recv and active
 * mode give one whole message (without the prefix) per call or event. LINE:
 * a message is a line, its newline included; tls_send sends bytes as given.
 * A message over packet_size is {error, emsgsize} (TLS_E_MSGSIZE, the sizes
 * in the detail); its bytes are dropped as they arrive, and the messages
 * after it come whole. tls_setopts may change packet at any time: bytes
 * already received are framed by the new setting.
 * The module's `mode` (list|binary) and `header` have no field: in C a
 * message is bytes in a buffer. */
typedef enum {
    TLS_PACKET_KEEP = 0,   /* tls_setopts: leave as it is */
    TLS_PACKET_RAW,        /* {packet, 0}: the default */
    TLS_PACKET_1,
    TLS_PACKET_2,
    TLS_PACKET_4,
    TLS_PACKET_LINE,
} tls_packet;
/* packet_size when none is set: the module's 0 means "no limit", but a
 * peer's 4-byte prefix could then make us buffer 4 GiB */
#define TLS_PACKET_SIZE_DEFAULT (64u * 1024 * 1024)
/* socket options: active (false|true|once|N), framing, and the fd's own ones.
 * The fields after keepalive leave the setting as it is when 0, so
 * {active, nodelay, keepalive} initialisers keep their meaning. */
typedef struct tls_sockopts {
    int active;            /* TLS_ACTIVE_* or N > 0 */
    int nodelay;           /* -1 = leave */
    int keepalive;         /* -1 = leave */
    tls_packet packet;     /* TLS_PACKET_KEEP = leave */
    size_t packet_size;    /* the largest message accepted; 0 = leave */
} tls_sockopts;
TLS_API int tls_controlling_process(tls_socket *s, tls_owner_fn owner, void *arg);
TLS_API int tls_getopts(tls_socket *s, tls_sockopts *out);
TLS_API int tls_setopts(tls_socket *s, const tls_sockopts *in, tls_error *err);

#ifdef __cplusplus
}
#endif
#endif
