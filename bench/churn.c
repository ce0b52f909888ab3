/* Short TLS connections to a redis server, one after the other, for the
 * memory bench (bench/cases/05-memory.sh): connect, PING, read +PONG, close.
 *   churn PORT K...   at each total K (ascending) print "at K" and wait for a
 *                     line on stdin before going on
 * TLS 1.2, AES-128-GCM; the session is resumed, except that every tenth
 * connection makes a full handshake (a new session for the server to hold or
 * forget). A bench program: it links libssl, which the engine never does.
 * A connection that fails ends the program with "failed after N
 * connections: why" on stdout and exit status 1. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define FULL_EVERY 10

static long done;

static void failed(const char *why)
{
    char err[256] = "";
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, err, sizeof err);
    printf("failed after %ld connections: %s%s%s\n", done, why, err[0] ? ": " : "", err);
    exit(1);
}

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        failed("socket");
    /* the PING follows the client's Finished at once: without NODELAY it
     * waits for the server's delayed ACK */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {.tv_sec = 15};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        failed("connect");
    return fd;
}

/* one short connection; returns the session to resume next (or NULL) */
static SSL_SESSION *connect_ping(SSL_CTX *ctx, int port, SSL_SESSION *resume)
{
    int fd = tcp_connect(port);
    SSL *ssl = SSL_new(ctx);
    if (!ssl)
        failed("SSL_new");
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    if (resume)
        SSL_set_session(ssl, resume);
    if (SSL_connect(ssl) != 1)
        failed("handshake");
    if (SSL_write(ssl, "PING\r\n", 6) != 6)
        failed("write");
    char got[16];
    int n = 0, r;
    while (n < 7 && (r = SSL_read(ssl, got + n, (int)sizeof got - 1 - n)) > 0)
        n += r;
    if (n != 7 || memcmp(got, "+PONG\r\n", 7) != 0)
        failed("PING not answered with +PONG");
    SSL_SESSION *next = SSL_get1_session(ssl);
    SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
    return next;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: churn PORT K...\n");
        return 2;
    }
    int port = atoi(argv[1]);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        failed("SSL_CTX_new");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_cipher_list(ctx, "ECDHE-RSA-AES128-GCM-SHA256");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL); /* not what is measured */
    SSL_SESSION *sess = NULL;
    char line[64];
    for (int i = 2; i < argc; i++) {
        long k = atol(argv[i]);
        while (done < k) {
            SSL_SESSION *next = connect_ping(ctx, port, done % FULL_EVERY ? sess : NULL);
            SSL_SESSION_free(sess);
            sess = next;
            done++;
        }
        printf("at %ld\n", done);
        fflush(stdout);
        if (!fgets(line, sizeof line, stdin))
            break;
    }
    SSL_SESSION_free(sess);
    SSL_CTX_free(ctx);
    return 0;
}
