/* echo_server PORT [options]: a TLS echo server on the engine's socket API.
 *
 * Listens on PORT (0: any free port, announced as "port N" on the first line
 * of standard output), and echoes every connection's data back, one thread a
 * connection. Per connection it prints "version: ...", "suite: ...",
 * "peer cert: SUBJECT|none" (and "reused: yes", "alpn: X", "sni: NAME") to
 * standard error; a failed handshake prints the error sentence.
 *
 * Options (the Erlang/OTP ssl module's names): --certfile F (default: none,
 * which fails unless given), --keyfile F, --password P, --cacertfile F (none,
 * with verify_peer: the system's trust store), --verify verify_peer|verify_none,
 * --fail-if-no-peer-cert, --depth N, --security-level N (0..5, default 2),
 * --versions LIST, --ciphers LIST, --dhfile F, --alpn LIST, --timeout MS
 * (handshake, default 10000), --client-renegotiation (accept a renegotiation
 * the client starts; refused by default), --once (serve one connection, then
 * exit with 0 if it went well, 1 if not), --http (instead of echoing, answer each
 * HTTP request head with a short page in ONE write, as `openssl s_server
 * -www` does: the shape conformance suites such as tlsfuzzer expect),
 * --packet 0|1|2|4|line and --packet-size N (gen_tcp's framing: each whole
 * message is echoed as one message; a message over packet-size is answered
 * with a message that says so, and the connection goes on). */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "tlsengine_socket.h"

static const char *prog = "echo_server";

#include "common.h"
static int hs_timeout = 10000;
static bool http_mode = false;
static tls_sockopts framing; /* --packet, --packet-size */

static const char http_page[] = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
                                "Content-Length: 22\r\n\r\ntlsengine echo_server\n";

/* --http: collects a request head in head[] (*len bytes so far) and reports
 * whether it is complete (an empty line ends it, with or without \r). */
static bool http_head_complete(char *head, size_t *len, size_t cap, const uint8_t *in, size_t n)
{
    size_t take = n < cap - 1 - *len ? n : cap - 1 - *len;
    memcpy(head + *len, in, take);
    *len += take;
    head[*len] = '\0';
    return strstr(head, "\r\n\r\n") || strstr(head, "\n\n") || *len == cap - 1;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: %s PORT --certfile F [--keyfile F] [--password P] [--cacertfile F]\n"
            "       [--verify verify_peer|verify_none] [--fail-if-no-peer-cert] [--depth N]\n"
            "       [--security-level N] [--versions LIST] [--ciphers LIST] [--dhfile F] [--alpn LIST]\n"
            "       [--timeout MS] [--client-renegotiation] [--once] [--http]\n"
            "       [--packet 0|1|2|4|line] [--packet-size N]\n",
            prog);
    exit(2);
}


/* Serves one accepted connection; returns 0 if it went well. */
static int serve(tls_socket *s)
{
    tls_error err;
    char msg[512];
    if (tls_ssl_accept(s, hs_timeout, &err) != TLS_OK) {
        fprintf(stderr, "%s: handshake failed: %s\n", prog, tls_format_error(&err, msg, sizeof msg));
        tls_close(s);
        return 1;
    }
    print_facts(s, true);
    if (apply_packet(s, &framing, &err) != TLS_OK) {
        fprintf(stderr, "%s: --packet: %s\n", prog, tls_format_error(&err, msg, sizeof msg));
        tls_close(s);
        return 1;
    }
    static _Thread_local uint8_t buf[65536];
    static _Thread_local char head[8192];
    size_t head_len = 0;
    int rc = 0;
    for (;;) {
        ssize_t n = tls_recv(s, buf, sizeof buf, 0, TLS_INFINITY, &err);
        if (n == TLS_E_CLOSED) {
            fprintf(stderr, "closed: %s\n", tls_format_error(&err, msg, sizeof msg));
            break;
        }
        const void *out = buf;
        size_t out_len = (size_t)n;
        if (n == TLS_E_MSGSIZE) {
            /* the engine dropped the message and stays in step: say so, go on */
            fprintf(stderr, "%s: receiving: %s\n", prog, tls_format_error(&err, msg, sizeof msg));
            size_t l = strlen(msg);
            if (l + 1 < sizeof msg && framing.packet == TLS_PACKET_LINE)
                msg[l++] = '\n';
            out = msg;
            out_len = l;
            n = 0;
        } else if (n < 0) {
            fprintf(stderr, "%s: receiving: %s\n", prog, tls_format_error(&err, msg, sizeof msg));
            rc = 1;
            break;
        }
        if (http_mode) {
            if (!http_head_complete(head, &head_len, sizeof head, buf, (size_t)n))
                continue;
            head_len = 0;
            out = http_page;
            out_len = sizeof http_page - 1;
        }
        if (tls_send(s, out, out_len, &err) != TLS_OK) {
            fprintf(stderr, "%s: sending: %s\n", prog, tls_format_error(&err, msg, sizeof msg));
            rc = 1;
            break;
        }
    }
    tls_close(s);
    return rc;
}

static void *serve_thread(void *arg)
{
    (void)serve(arg);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    int port = (int)num_arg("PORT", argv[1], 0, 65535);
    tls_options o;
    tls_options_init(&o);
    bool once = false;
    tls_error err;
    char msg[512];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--once")) {
            once = true;
            continue;
        }
        if (!strcmp(a, "--http")) {
            http_mode = true;
            continue;
        }
        if (!strcmp(a, "--fail-if-no-peer-cert")) {
            o.fail_if_no_peer_cert = true;
            continue;
        }
        if (!strcmp(a, "--client-renegotiation")) {
            o.client_renegotiation = true;
            continue;
        }
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (packet_option(&framing, a, v))
            continue;
        int known = ssl_option(&o, a, v, &err);
        if (known < 0) {
            fprintf(stderr, "%s: %s: %s\n", prog, a, tls_format_error(&err, msg, sizeof msg));
            return 2;
        }
        if (known)
            continue;
        if (!strcmp(a, "--dhfile")) {
            o.dhfile = v;
        } else if (!strcmp(a, "--timeout")) {
            hs_timeout = (int)num_arg(a, v, -1, 3600000);
        } else {
            fprintf(stderr, "%s: unknown option %s\n", prog, a);
            usage();
        }
    }
    tls_socket *l = NULL;
    if (tls_listen(port, &o, &l, &err) != TLS_OK) {
        fprintf(stderr, "%s: %s\n", prog, tls_format_error(&err, msg, sizeof msg));
        return 1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (tls_sockname(l, &ss, &sl) == TLS_OK) {
        int p = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                         : ntohs(((struct sockaddr_in *)&ss)->sin_port);
        printf("port %d\n", p);
        fflush(stdout);
    }
    for (;;) {
        tls_socket *s = NULL;
        if (tls_transport_accept(l, TLS_INFINITY, &s, &err) != TLS_OK) {
            fprintf(stderr, "%s: accept: %s\n", prog, tls_format_error(&err, msg, sizeof msg));
            struct timespec pause = {0, 100 * 1000000}; /* out of fds: do not spin */
            nanosleep(&pause, NULL);
            continue;
        }
        if (once) {
            int rc = serve(s);
            tls_close(l);
            tls_stop();
            return rc;
        }
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, serve_thread, s) != 0) {
            fprintf(stderr, "%s: cannot start a thread: serving inline\n", prog);
            (void)serve(s);
        }
        pthread_attr_destroy(&attr);
    }
}
