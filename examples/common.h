/* What echo_client and echo_server share: number arguments and the facts of
 * a connection printed to stderr. Include after defining `prog`. */
#ifndef EXAMPLES_COMMON_H
#define EXAMPLES_COMMON_H

#include <errno.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tlsengine_socket.h"

static long num_arg(const char *opt, const char *v, long min, long max)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || end == v || n < min || n > max) {
        fprintf(stderr, "%s: %s wants a number in %ld..%ld, not \"%s\"\n", prog, opt, min, max, v);
        exit(2);
    }
    return n;
}

/* The ssl options both programs take (--verify, --cacertfile, --certfile,
 * --keyfile, --password, --depth, --security-level, --versions, --ciphers,
 * --alpn).
 * Returns 1 if `a` was one of them, 0 if not, -1 if --versions is invalid
 * (err says why). A bad --verify value is a usage error: exit 2. */
static int ssl_option(tls_options *o, const char *a, const char *v, tls_error *err)
{
    if (!strcmp(a, "--verify")) {
        if (!strcmp(v, "verify_peer")) {
            o->verify = TLS_VERIFY_PEER;
        } else if (!strcmp(v, "verify_none")) {
            o->verify = TLS_VERIFY_NONE;
        } else {
            fprintf(stderr, "%s: --verify takes verify_peer or verify_none, not \"%s\"\n", prog, v);
            exit(2);
        }
    } else if (!strcmp(a, "--cacertfile")) {
        o->cacertfile = v;
    } else if (!strcmp(a, "--certfile")) {
        o->certfile = v;
    } else if (!strcmp(a, "--keyfile")) {
        o->keyfile = v;
    } else if (!strcmp(a, "--password")) {
        o->password = v;
    } else if (!strcmp(a, "--depth")) {
        o->depth = (int)num_arg(a, v, 0, 100);
    } else if (!strcmp(a, "--security-level")) {
        o->security_level = (int)num_arg(a, v, 0, 5);
    } else if (!strcmp(a, "--versions")) {
        if (tls_parse_versions(v, &o->versions, err) < 0)
            return -1;
    } else if (!strcmp(a, "--ciphers")) {
        o->ciphers = v;
    } else if (!strcmp(a, "--alpn")) {
        o->alpn = v;
    } else {
        return 0;
    }
    return 1;
}

/* version, suite, reused, alpn, (server: sni), peer cert; one write, so
 * threads do not interleave lines */
/* --packet 0|1|2|4|line and --packet-size N: 1 if a was one of them (into
 * so), 0 if not; exits on a bad value */
static int packet_option(tls_sockopts *so, const char *a, const char *v)
{
    if (!strcmp(a, "--packet-size")) {
        so->packet_size = (size_t)num_arg(a, v, 1, 1L << 30);
        return 1;
    }
    if (strcmp(a, "--packet") != 0)
        return 0;
    static const struct { const char *name; tls_packet p; } names[] = {
        {"0", TLS_PACKET_RAW}, {"raw", TLS_PACKET_RAW}, {"1", TLS_PACKET_1},
        {"2", TLS_PACKET_2},   {"4", TLS_PACKET_4},     {"line", TLS_PACKET_LINE}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!strcmp(v, names[i].name)) {
            so->packet = names[i].p;
            return 1;
        }
    }
    fprintf(stderr, "%s: --packet: %s is not 0, 1, 2, 4 or line\n", prog, v);
    exit(2);
}

/* the socket's framing as the command line asked (nothing asked: raw) */
static int apply_packet(tls_socket *s, const tls_sockopts *so, tls_error *err)
{
    tls_sockopts cur;
    if (tls_getopts(s, &cur) != TLS_OK)
        return TLS_E_STATE;
    cur.nodelay = cur.keepalive = -1;
    cur.packet = so->packet;
    cur.packet_size = so->packet_size;
    return tls_setopts(s, &cur, err);
}

static void print_facts(tls_socket *s, bool server)
{
    uint16_t version = 0;
    const tls_suite_info *suite = NULL;
    char out[768];
    size_t n = 0;
    if (tls_connection_info(s, &version, &suite) == TLS_OK && suite)
        n += (size_t)snprintf(out + n, sizeof out - n, "version: %s\nsuite: %s\n", tls_version_name(version),
                              suite->openssl_name);
    tls_engine *e = tls_socket_engine(s);
    if (tls_engine_session_reused(e))
        n += (size_t)snprintf(out + n, sizeof out - n, "reused: yes\n");
    if (tls_engine_alpn(e))
        n += (size_t)snprintf(out + n, sizeof out - n, "alpn: %s\n", tls_engine_alpn(e));
    if (server && tls_engine_sni(e))
        n += (size_t)snprintf(out + n, sizeof out - n, "sni: %s\n", tls_engine_sni(e));
    const uint8_t *der;
    size_t len;
    char name[256] = "";
    if (tls_peercert(s, &der, &len) == TLS_OK) {
        X509 *x = d2i_X509(NULL, &der, (long)len);
        if (x) {
            X509_NAME_oneline(X509_get_subject_name(x), name, sizeof name);
            X509_free(x);
        }
    }
    if (name[0] || server)
        n += (size_t)snprintf(out + n, sizeof out - n, "peer cert: %s\n", name[0] ? name : "none");
    fputs(out, stderr);
    fflush(stderr);
}

#endif
