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
