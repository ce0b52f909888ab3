#include "pair.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char pki_path_buf[512];

const char *pki_dir(void)
{
    if (pki_path_buf[0])
        return pki_path_buf;
    const char *env = getenv("PKI");
    if (env && *env) {
        snprintf(pki_path_buf, sizeof pki_path_buf, "%s", env);
    } else {
        const char *top = getenv("TOP");
        snprintf(pki_path_buf, sizeof pki_path_buf, "/tmp/tlsshim-test-pki-%d", (int)getuid());
        char cmd[1400];
        snprintf(cmd, sizeof cmd, "%s/tests/pki/gen.sh %s >/dev/null 2>&1", top ? top : ".", pki_path_buf);
        if (system(cmd) != 0)
            cr_assert_fail("cannot generate the test PKI: %s", cmd);
    }
    char done[600];
    snprintf(done, sizeof done, "%s/.done", pki_path_buf);
    cr_assert(access(done, R_OK) == 0, "test PKI at %s is incomplete", pki_path_buf);
    return pki_path_buf;
}

const char *pki(const char *name)
{
    static char bufs[8][600];
    static int next;
    char *b = bufs[next++ & 7];
    snprintf(b, sizeof bufs[0], "%s/%s", pki_dir(), name);
    return b;
}

long pair_move(tls_engine *from, tls_engine *to)
{
    long moved = 0;
    size_t len;
    const uint8_t *p;
    while ((p = tls_engine_output(from, &len)) != NULL && len) {
        size_t used = 0;
        int rc = tls_engine_feed(to, p, len, &used);
        tls_engine_output_done(from, used);
        moved += (long)used;
        if (rc != TLS_OK)
            return -1;
        if (used == 0)
            break; /* `to` holds plaintext nobody read yet */
    }
    return moved;
}

long pair_pump(tls_engine *a, tls_engine *b)
{
    long total = 0;
    for (int i = 0; i < 10000; i++) {
        long x = pair_move(a, b);
        long y = pair_move(b, a);
        if (x < 0 || y < 0)
            return total;
        total += x + y;
        if (x == 0 && y == 0)
            break;
    }
    return total;
}

bool pair_handshake(tls_engine *c, tls_engine *s)
{
    for (int i = 0; i < 100; i++) {
        pair_pump(c, s);
        unsigned cs = tls_engine_status(c), ss = tls_engine_status(s);
        if ((cs | ss) & TLS_ST_FAILED) {
            pair_pump(c, s); /* deliver the alert */
            return false;
        }
        if ((cs & TLS_ST_CONNECTED) && (ss & TLS_ST_CONNECTED) && !(cs & TLS_ST_WANT_OUTPUT) &&
            !(ss & TLS_ST_WANT_OUTPUT))
            return true;
    }
    return false;
}

bool pair_connect(tls_config *cc, tls_config *sc, tls_engine **c, tls_engine **s)
{
    cr_assert_eq(tls_engine_new(cc, NULL, c, NULL), TLS_OK);
    cr_assert_eq(tls_engine_new(sc, NULL, s, NULL), TLS_OK);
    return pair_handshake(*c, *s);
}

bool pair_transfer(tls_engine *a, tls_engine *b, size_t len)
{
    uint8_t *src = malloc(len ? len : 1), *dst = malloc(len ? len : 1);
    for (size_t i = 0; i < len; i++)
        src[i] = (uint8_t)(i * 131 + 7);
    size_t sent = 0, got = 0;
    bool ok = true;
    for (int rounds = 0; got < len && rounds < 100000; rounds++) {
        if (sent < len) {
            size_t acc = 0;
            int rc = tls_engine_write(a, src + sent, len - sent, &acc);
            if (rc != TLS_OK && rc != TLS_E_WOULDBLOCK) {
                ok = false;
                break;
            }
            sent += acc;
        }
        pair_move(a, b);
        size_t n = 0;
        int rc = tls_engine_read(b, dst + got, len - got, &n);
        if (rc != TLS_OK && rc != TLS_E_WOULDBLOCK) {
            ok = false;
            break;
        }
        got += n;
        pair_move(b, a);
    }
    ok = ok && got == len && memcmp(src, dst, len) == 0;
    free(src);
    free(dst);
    return ok;
}

tls_config *cfg_or_die(const tls_options *o, bool server)
{
    tls_config *c = NULL;
    tls_error err;
    int rc = tls_config_new(o, server, &c, &err);
    if (rc != TLS_OK) {
        char msg[300];
        cr_assert_fail("tls_config_new(%s): %s", server ? "server" : "client",
                       tls_format_error(&err, msg, sizeof msg));
    }
    return c;
}

static tls_engine *engine_or_die(tls_options *o, bool server, tls_config **cfg)
{
    *cfg = cfg_or_die(o, server);
    tls_engine *e = NULL;
    tls_error err;
    if (tls_engine_new(*cfg, server ? NULL : "localhost", &e, &err) != TLS_OK)
        cr_assert_fail("tls_engine_new: %s", err.detail);
    return e;
}

tls_engine *server_or_die(const char *ciphers, unsigned versions, tls_config **cfg)
{
    tls_options o;
    tls_options_init(&o);
    o.certfile = pki("server.pem");
    o.keyfile = pki("server.key");
    o.ciphers = ciphers;
    o.versions = versions;
    return engine_or_die(&o, true, cfg);
}

tls_engine *client_or_die(const char *ciphers, unsigned versions, tls_config **cfg)
{
    tls_options o;
    tls_options_init(&o);
    o.verify = TLS_VERIFY_NONE;
    o.ciphers = ciphers;
    o.versions = versions;
    return engine_or_die(&o, false, cfg);
}
