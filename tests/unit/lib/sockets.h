/* Test helpers for the socket API: options on the test PKI, and a client and
 * a server tls_socket joined over two fds or over a transport, the server's
 * handshake in a thread of its own. */
#ifndef TEST_SOCKETS_H
#define TEST_SOCKETS_H

#include <stdbool.h>
#include <stddef.h>

#include "tlsengine_socket.h"

/* A server on the test PKI's server.pem and server.key. */
void sockets_server_options(tls_options *o);
/* A client that verifies the server against the test PKI's ca.pem, as localhost. */
void sockets_client_options(tls_options *o);
/* The handshakes of a client over cfd (options co) and a server over sfd;
 * false with both sides' errors in why. */
bool sockets_join_fds(int cfd, int sfd, const tls_options *co, tls_socket **c, tls_socket **s,
                      char *why, size_t why_len);
/* The same over transport tr, the client's end being cctx and the server's sctx. */
bool sockets_join_transport(const tls_transport *tr, void *cctx, void *sctx, const tls_options *co,
                            tls_socket **c, tls_socket **s, char *why, size_t why_len);

#endif
