/* echo_client HOST PORT [options]: a TLS client on the engine's socket API.
 *
 * Sends standard input to the server and prints what comes back on standard
 * output; stops when the server closes, or one quiet second after standard
 * input ends, and then closes with close_notify. Connection facts go to
 * standard error ("version: tlsv1.2", "suite: ...", "reused: yes",
 * "alpn: h2", "peer cert: /CN=localhost"). On failure it prints the error
 * sentence and exits 1.
 *
 * Options (the Erlang/OTP ssl module's names): --verify verify_peer|verify_none,
 * --cacertfile F (none: the system's trust store, or SSL_CERT_FILE /
 * SSL_CERT_DIR), --certfile F, --keyfile F, --password P, --depth N
 * (intermediate CAs allowed, default 1), --security-level N (0..5, default 2),
 * --versions LIST,
 * --ciphers LIST, --server-name NAME, --alpn LIST, --reconnect N (N more
 * connections before the one that carries the data, each resuming the
 * session), --timeout MS (connect + handshake, default 10000), --renegotiate
 * (renegotiate once before the data; prints "renegotiation: done" or
 * "renegotiation: rejected", which is not fatal: the old session goes on),
 * --packet 0|1|2|4|line and --packet-size N (gen_tcp's framing: each line of
 * standard input, or each argument after `--`, is sent as one message
 * (under line framing, with its newline); each whole reply is printed on a
 * line of its own, and the client closes once every message has its reply). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "tlsengine_socket.h"

#define QUIET_MS 1000

static const char *prog = "echo_client";

#include "common.h"

static void usage(void)
{
    fprintf(stderr,
            "usage: %s HOST PORT [--verify verify_peer|verify_none] [--cacertfile F] [--certfile F]\n"
            "       [--keyfile F] [--password P] [--depth N] [--security-level N] [--versions LIST]\n"
            "       [--ciphers LIST] [--server-name NAME] [--alpn LIST] [--reconnect N] [--timeout MS]\n"
            "       [--renegotiate] [--packet 0|1|2|4|line] [--packet-size N] [-- MESSAGE...]\n",
            prog);
    exit(2);
}


static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fail(const char *what, const tls_error *err)
{
    char msg[512];
    fprintf(stderr, "%s: %s: %s\n", prog, what, tls_format_error(err, msg, sizeof msg));
    return 1;
}

/* Copies stdin to the server and the server's data to stdout. */
static int echo(tls_socket *s)
{
    static uint8_t buf[65536];
    bool stdin_open = true;
    int64_t quiet_until = 0;
    tls_error err;
    for (;;) {
        /* whatever the engine holds first: the fd may be quiet while data waits */
        for (;;) {
            ssize_t n = tls_recv(s, buf, sizeof buf, 0, 0, &err);
            if (n > 0) {
                if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n) {
                    fprintf(stderr, "%s: writing standard output: %s\n", prog, strerror(errno));
                    return 1;
                }
                fflush(stdout);
                quiet_until = now_ms() + QUIET_MS;
                continue;
            }
            if (n == TLS_E_TIMEOUT)
                break;
            if (n == TLS_E_CLOSED) {
                char msg[512];
                fprintf(stderr, "closed: %s\n", tls_format_error(&err, msg, sizeof msg));
                return 0;
            }
            return fail("receiving", &err);
        }
        if (!stdin_open && now_ms() >= quiet_until)
            return 0;
        struct pollfd p[2] = {{tls_socket_fd(s), POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
        int ms = stdin_open ? -1 : (int)(quiet_until - now_ms());
        if (ms < -1)
            ms = 0;
        int r = poll(p, stdin_open ? 2 : 1, ms);
        if (r < 0 && errno != EINTR) {
            fprintf(stderr, "%s: poll: %s\n", prog, strerror(errno));
            return 1;
        }
        if (stdin_open && r > 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                stdin_open = false;
                quiet_until = now_ms() + QUIET_MS;
                continue;
            }
            if (tls_send(s, buf, (size_t)n, &err) != TLS_OK)
                return fail("sending", &err);
        }
    }
}

/* Framed: sends each message, then prints each reply whole, one a line. */
static int echo_framed(tls_socket *s, const tls_sockopts *so, char **msgs, int n_msgs)
{
    tls_error err;
    if (apply_packet(s, so, &err) != TLS_OK)
        return fail("--packet", &err);
    char *line = NULL;
    size_t line_cap = 0;
    int sent = 0;
    for (int i = 0;; i++) {
        const char *m;
        size_t len;
        if (msgs) {
            if (i >= n_msgs)
                break;
            m = msgs[i];
            len = strlen(m);
        } else {
            ssize_t r = getline(&line, &line_cap, stdin);
            if (r < 0)
                break;
            m = line;
            len = (size_t)r;
            if (len && line[len - 1] == '\n')
                len--;
        }
        if (so->packet == TLS_PACKET_LINE) {
            /* the newline ends the message: send it with it */
            char *t = malloc(len + 1);
            if (!t) {
                free(line);
                fprintf(stderr, "%s: out of memory\n", prog);
                return 1;
            }
            memcpy(t, m, len);
            t[len] = '\n';
            int rc = tls_send(s, t, len + 1, &err);
            free(t);
            if (rc != TLS_OK) {
                free(line);
                return fail("sending", &err);
            }
        } else if (tls_send(s, m, len, &err) != TLS_OK) {
            free(line);
            return fail("sending", &err);
        }
        sent++;
    }
    free(line);
    static uint8_t buf[1 << 20];
    for (int i = 0; i < sent; i++) {
        ssize_t n = tls_recv(s, buf, sizeof buf, 0, 10000, &err);
        if (n < 0)
            return fail("receiving", &err);
        size_t len = (size_t)n;
        if (so->packet == TLS_PACKET_LINE && len && buf[len - 1] == '\n')
            len--;
        fwrite(buf, 1, len, stdout);
        fputc('\n', stdout);
        fflush(stdout);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        usage();
    const char *host = argv[1];
    int port = (int)num_arg("PORT", argv[2], 1, 65535);
    tls_options o;
    tls_options_init(&o);
    int reconnect = 0, timeout = 10000;
    bool renegotiate = false;
    tls_error err;
    tls_sockopts framing = {0};
    char **msgs = NULL;
    int n_msgs = 0;
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--renegotiate")) {
            renegotiate = true;
            continue;
        }
        if (!strcmp(a, "--")) {
            msgs = argv + i + 1;
            n_msgs = argc - i - 1;
            break;
        }
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (packet_option(&framing, a, v))
            continue;
        int known = ssl_option(&o, a, v, &err);
        if (known < 0)
            return fail(a, &err);
        if (known)
            continue;
        if (!strcmp(a, "--server-name")) {
            o.server_name = v;
        } else if (!strcmp(a, "--reconnect")) {
            reconnect = (int)num_arg(a, v, 0, 1000);
        } else if (!strcmp(a, "--timeout")) {
            timeout = (int)num_arg(a, v, -1, 3600000);
        } else {
            fprintf(stderr, "%s: unknown option %s\n", prog, a);
            usage();
        }
    }
    if (tls_start() != TLS_OK) {
        fprintf(stderr, "%s: libcrypto's algorithms could not be loaded\n", prog);
        return 1;
    }
    int rc = 0;
    for (int i = 0; i <= reconnect; i++) {
        tls_socket *s = NULL;
        if (tls_connect(host, port, &o, timeout, &s, &err) != TLS_OK) {
            char where[300];
            snprintf(where, sizeof where, "connecting to %s:%d", host, port);
            rc = fail(where, &err);
            break;
        }
        print_facts(s, false);
        if (i == reconnect && renegotiate) {
            int r = tls_renegotiate(s, &err);
            if (r == TLS_OK) {
                fprintf(stderr, "renegotiation: done\n");
                print_facts(s, false);
            } else if (r == TLS_E_RENEG_REJECTED) {
                fprintf(stderr, "renegotiation: rejected\n");
            } else {
                rc = fail("renegotiating", &err);
                tls_close(s);
                break;
            }
        }
        if (i == reconnect) {
            bool framed = framing.packet != TLS_PACKET_KEEP && framing.packet != TLS_PACKET_RAW;
            rc = framed ? echo_framed(s, &framing, msgs, n_msgs) : echo(s);
        } else {
            /* TLS 1.3 sends its session tickets after the handshake: give them
             * a moment to arrive, or the next connection has nothing to resume */
            uint16_t v = 0;
            const tls_suite_info *si = NULL;
            if (tls_connection_info(s, &v, &si) == TLS_OK && v == TLS_TLS13) {
                char tmp[64];
                tls_error ignored;
                (void)tls_recv(s, tmp, sizeof tmp, 0, 300, &ignored);
            }
        }
        tls_close(s);
    }
    tls_stop();
    return rc;
}
