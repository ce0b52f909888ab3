/* See sockets.h. */
#include "sockets.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "pair.h"

#define JOIN_MS 5000 /* generous: a test must fail, never hang */

void sockets_server_options(tls_options *o)
{
    static char cert[600], key[600];
    snprintf(cert, sizeof cert, "%s", pki("server.pem"));
    snprintf(key, sizeof key, "%s", pki("server.key"));
    tls_options_init(o);
    o->certfile = cert;
    o->keyfile = key;
}

void sockets_client_options(tls_options *o)
{
    static char ca[600];
    snprintf(ca, sizeof ca, "%s", pki("ca.pem"));
    tls_options_init(o);
    o->verify = TLS_VERIFY_PEER;
    o->cacertfile = ca;
    o->server_name = "localhost";
}

typedef struct {
    const tls_transport *tr; /* NULL: over fd */
    void *ctx;
    int fd;
    tls_socket *s;
    int rc;
    tls_error err;
} server_job;

static void *server_main(void *arg)
{
    server_job *j = arg;
    tls_options o;
    sockets_server_options(&o);
    j->rc = j->tr ? tls_ssl_accept_transport(j->tr, j->ctx, &o, JOIN_MS, &j->s, &j->err)
                  : tls_ssl_accept_fd(j->fd, &o, JOIN_MS, &j->s, &j->err);
    return NULL;
}

static bool join(server_job *j, int cfd, void *cctx, const tls_options *co, tls_socket **c,
                 tls_socket **s, char *why, size_t why_len)
{
    pthread_t t;
    if (pthread_create(&t, NULL, server_main, j) != 0) {
        snprintf(why, why_len, "cannot start the server thread");
        return false;
    }
    tls_error err;
    memset(&err, 0, sizeof err);
    int rc = j->tr ? tls_connect_transport(j->tr, cctx, co, JOIN_MS, c, &err)
                   : tls_connect_fd(cfd, co, JOIN_MS, c, &err);
    pthread_join(t, NULL);
    if (rc == TLS_OK && j->rc == TLS_OK) {
        *s = j->s;
        return true;
    }
    char a[256], b[256];
    snprintf(why, why_len, "client: %s; server: %s", rc == TLS_OK ? "ok" : tls_format_error(&err, a, sizeof a),
             j->rc == TLS_OK ? "ok" : tls_format_error(&j->err, b, sizeof b));
    return false;
}

bool sockets_join_fds(int cfd, int sfd, const tls_options *co, tls_socket **c, tls_socket **s,
                      char *why, size_t why_len)
{
    server_job j = {.fd = sfd};
    return join(&j, cfd, NULL, co, c, s, why, why_len);
}

bool sockets_join_transport(const tls_transport *tr, void *cctx, void *sctx, const tls_options *co,
                            tls_socket **c, tls_socket **s, char *why, size_t why_len)
{
    server_job j = {.tr = tr, .ctx = sctx, .fd = -1};
    return join(&j, -1, cctx, co, c, s, why, why_len);
}
