/* Bench case 1: the engine in memory against libssl in memory.
 *
 * Both ends run in this one thread and hand each other their bytes directly,
 * so the figures are protocol and crypto cost only: no sockets, no kernel.
 * libssl is linked here as the anchor and nowhere else in the project.
 *
 *   inmem [--quick] PKI_DIR
 *
 * For profiling: INMEM_ONLY=substring runs only the figures whose label has
 * it, and INMEM_IMPL=engine|libssl times only that side (the other prints 0).
 *
 * Prints bench rows (see bench/run.sh): full and resumed handshakes per
 * second for TLS 1.2 and 1.3 with RSA-2048 and P-256 server keys, and bulk
 * MB/s (each byte sealed by one end and opened by the other) per cipher.
 * Times are this thread's CPU time; each figure is the best of a few rounds,
 * with the engine and libssl taking turns so a noisy neighbour hits both. */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tlsengine.h"

static const char *pki_dir;
static double seconds_per_figure = 1.0;
static int rounds = 3;
static const char *only_impl; /* INMEM_IMPL */

static bool timing(const char *impl)
{
    return !only_impl || strcmp(only_impl, impl) == 0;
}

static bool wanted(const char *label)
{
    const char *only = getenv("INMEM_ONLY");
    return !only || strstr(label, only);
}

static const char *pki(const char *name)
{
    static char bufs[4][512];
    static int next;
    char *b = bufs[next++ & 3];
    snprintf(b, sizeof bufs[0], "%s/%s", pki_dir, name);
    return b;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static _Noreturn void die(const char *what)
{
    fprintf(stderr, "inmem: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

/* Units of work per CPU second over one window of seconds_per_figure:
 * step does some work and returns how many units it did. */
static double rate_once(long long (*step)(void *), void *arg)
{
    long long units = 0;
    double t0 = cpu_now(), t;
    do
        units += step(arg);
    while ((t = cpu_now() - t0) < seconds_per_figure);
    return (double)units / t;
}

static double max_of(double a, double b)
{
    return a > b ? a : b;
}

/* One measured setting: protocol version, server key, cipher. */
typedef struct setting {
    const char *label;
    bool tls13;
    const char *cert, *key;
    const char *cipher; /* OpenSSL name (TLS 1.2) or TLS 1.3 suite name */
} setting;

/* ---- the engine ------------------------------------------------------- */

typedef struct eng_side {
    tls_config *client, *server;
} eng_side;

static void eng_setup(const setting *st, bool resume, eng_side *es)
{
    tls_options o;
    tls_error err;
    unsigned vmask = st->tls13 ? TLS_VMASK_TLS13 : TLS_VMASK_TLS12;

    tls_options_init(&o);
    o.certfile = pki(st->cert);
    o.keyfile = pki(st->key);
    o.versions = vmask;
    o.ciphers = st->cipher;
    if (tls_config_new(&o, true, &es->server, &err) != TLS_OK)
        die(err.detail);

    tls_options_init(&o);
    o.verify = TLS_VERIFY_PEER;
    o.cacertfile = pki("ca.pem");
    o.server_name = "localhost";
    o.reuse_sessions = resume;
    o.versions = vmask;
    o.ciphers = st->cipher;
    if (tls_config_new(&o, false, &es->client, &err) != TLS_OK)
        die(err.detail);
}

static void eng_move(tls_engine *from, tls_engine *to)
{
    size_t len;
    const uint8_t *p;
    while ((p = tls_engine_output(from, &len)) != NULL && len) {
        size_t used = 0;
        if (tls_engine_feed(to, p, len, &used) != TLS_OK)
            die("engine: feed failed");
        tls_engine_output_done(from, used);
        if (used == 0)
            break;
    }
}

static bool eng_done(tls_engine *e)
{
    unsigned s = tls_engine_status(e);
    if (s & TLS_ST_FAILED)
        die(tls_engine_error(e)->detail);
    return (s & TLS_ST_CONNECTED) && !(s & TLS_ST_WANT_OUTPUT);
}

/* A client and a server engine, connected. */
static void eng_connect(eng_side *es, tls_engine **c, tls_engine **s)
{
    if (tls_engine_new(es->client, NULL, c, NULL) != TLS_OK || tls_engine_new(es->server, NULL, s, NULL) != TLS_OK)
        die("engine: new");
    for (int i = 0; i < 50 && !(eng_done(*c) && eng_done(*s)); i++) {
        eng_move(*c, *s);
        eng_move(*s, *c);
    }
    if (!(eng_done(*c) && eng_done(*s)))
        die("engine: handshake did not finish");
}

/* One handshake; true when the client resumed. Both engines are freed. */
static bool eng_handshake(eng_side *es)
{
    tls_engine *c, *s;
    eng_connect(es, &c, &s);
    bool reused = tls_engine_session_reused(c);
    tls_engine_free(c);
    tls_engine_free(s);
    return reused;
}

static void eng_free(eng_side *es)
{
    tls_config_free(es->client);
    tls_config_free(es->server);
}

/* ---- libssl ----------------------------------------------------------- */

typedef struct ssl_side {
    SSL_CTX *client, *server;
    SSL_SESSION *session; /* the client's, for resumption */
} ssl_side;

static void ssl_setup(const setting *st, ssl_side *ls)
{
    int v = st->tls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
    ls->session = NULL;
    ls->server = SSL_CTX_new(TLS_server_method());
    ls->client = SSL_CTX_new(TLS_client_method());
    if (!ls->server || !ls->client)
        die("libssl: SSL_CTX_new");
    SSL_CTX *both[2] = {ls->server, ls->client};
    for (int i = 0; i < 2; i++) {
        SSL_CTX_set_min_proto_version(both[i], v);
        SSL_CTX_set_max_proto_version(both[i], v);
        if (st->tls13 ? !SSL_CTX_set_ciphersuites(both[i], st->cipher)
                      : !SSL_CTX_set_cipher_list(both[i], st->cipher))
            die("libssl: cipher");
        /* the engine's default first group */
        SSL_CTX_set1_groups_list(both[i], "X25519:P-256");
    }
    if (SSL_CTX_use_certificate_chain_file(ls->server, pki(st->cert)) != 1 ||
        SSL_CTX_use_PrivateKey_file(ls->server, pki(st->key), SSL_FILETYPE_PEM) != 1)
        die("libssl: server certificate");
    /* the engine issues one TLS 1.3 ticket per full handshake; so does libssl here */
    SSL_CTX_set_num_tickets(ls->server, 1);
    SSL_CTX_set_verify(ls->client, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_load_verify_locations(ls->client, pki("ca.pem"), NULL) != 1)
        die("libssl: CA");
    SSL_CTX_set_session_cache_mode(ls->client, SSL_SESS_CACHE_CLIENT);
}

static SSL *ssl_new_pair(ssl_side *ls, SSL **server)
{
    SSL *c = SSL_new(ls->client), *s = SSL_new(ls->server);
    BIO *bc, *bs;
    if (!c || !s || !BIO_new_bio_pair(&bc, 1 << 17, &bs, 1 << 17))
        die("libssl: SSL_new");
    SSL_set_bio(c, bc, bc);
    SSL_set_bio(s, bs, bs);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    SSL_set_tlsext_host_name(c, "localhost");
    SSL_set1_host(c, "localhost");
    *server = s;
    return c;
}

static void ssl_step(SSL *ssl, const char *who)
{
    int r = SSL_do_handshake(ssl);
    if (r <= 0) {
        int e = SSL_get_error(ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            die(who);
    }
}

/* A client and a server SSL, connected; the client offers ls's session
 * when resume is set. */
static SSL *ssl_connect(ssl_side *ls, bool resume, SSL **server)
{
    SSL *s, *c = ssl_new_pair(ls, &s);
    if (resume && ls->session)
        SSL_set_session(c, ls->session);
    for (int i = 0; i < 50 && !(SSL_is_init_finished(c) && SSL_is_init_finished(s)); i++) {
        ssl_step(c, "libssl: client handshake");
        ssl_step(s, "libssl: server handshake");
    }
    if (!(SSL_is_init_finished(c) && SSL_is_init_finished(s)))
        die("libssl: handshake did not finish");
    *server = s;
    return c;
}

static bool ssl_handshake(ssl_side *ls, bool resume)
{
    SSL *s, *c = ssl_connect(ls, resume, &s);
    /* take the TLS 1.3 ticket in, as the engine's client does */
    uint8_t b;
    if (SSL_read(c, &b, 1) > 0)
        die("libssl: unexpected data");
    bool reused = SSL_session_reused(c);
    /* a connection freed without close_notify would spoil its session; the
     * engine's does not, so mark both closed as the engine behaves */
    SSL_set_shutdown(c, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_set_shutdown(s, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    /* keep the newest session, as a client does (TLS 1.3 tickets are single use) */
    SSL_SESSION_free(ls->session);
    ls->session = SSL_get1_session(c);
    SSL_free(c);
    SSL_free(s);
    return reused;
}

static void ssl_free_side(ssl_side *ls)
{
    SSL_SESSION_free(ls->session);
    SSL_CTX_free(ls->client);
    SSL_CTX_free(ls->server);
}

/* ---- handshakes ------------------------------------------------------- */

typedef struct hs_run {
    eng_side *es;
    ssl_side *ls;
    bool resume;
} hs_run;

static long long eng_handshake_step(void *arg)
{
    hs_run *h = arg;
    if (eng_handshake(h->es) != h->resume)
        die("engine: resumption changed mid-run");
    return 1;
}

static long long ssl_handshake_step(void *arg)
{
    hs_run *h = arg;
    if (ssl_handshake(h->ls, h->resume) != h->resume)
        die("libssl: resumption changed mid-run");
    return 1;
}

/* Handshakes per CPU second, best of `rounds`, for both implementations. */
static void bench_handshakes(const setting *st, bool resume, double *eng_rate, double *ssl_rate)
{
    eng_side es;
    ssl_side ls;
    eng_setup(st, resume, &es);
    ssl_setup(st, &ls);
    if (resume) {
        /* prime both caches; a figure from a handshake that did not resume is no figure */
        eng_handshake(&es);
        ssl_handshake(&ls, true);
        if (!eng_handshake(&es))
            die("engine: did not resume");
        if (!ssl_handshake(&ls, true))
            die("libssl: did not resume");
    }
    hs_run er = {&es, NULL, resume}, lr = {NULL, &ls, resume};
    *eng_rate = *ssl_rate = 0;
    for (int r = 0; r < rounds; r++) {
        if (timing("engine"))
            *eng_rate = max_of(*eng_rate, rate_once(eng_handshake_step, &er));
        if (timing("libssl"))
            *ssl_rate = max_of(*ssl_rate, rate_once(ssl_handshake_step, &lr));
    }
    eng_free(&es);
    ssl_free_side(&ls);
}

/* ---- bulk ------------------------------------------------------------- */

enum { CHUNK = 16384 };

/* 64 records of 16 KiB from client to server; returns the bytes moved. */
static long long eng_bulk_step(void *arg)
{
    tls_engine **pair = arg, *c = pair[0], *s = pair[1];
    static uint8_t src[CHUNK];
    long long bytes = 0;
    for (int k = 0; k < 64; k++) {
        size_t acc = 0, got = 0, off = 0;
        while (off < CHUNK) {
            int rc = tls_engine_write(c, src + off, CHUNK - off, &acc);
            if (rc != TLS_OK && rc != TLS_E_WOULDBLOCK)
                die("engine: write");
            off += acc;
            eng_move(c, s);
            /* plaintext taken in place, as the shim takes it */
            while (tls_engine_peek(s, &got) != NULL) {
                tls_engine_read_done(s, got);
                bytes += (long long)got;
            }
        }
    }
    return bytes;
}

/* MB/s, best of `rounds` */
static double eng_bulk(const setting *st)
{
    eng_side es;
    eng_setup(st, false, &es);
    tls_engine *pair[2];
    eng_connect(&es, &pair[0], &pair[1]);
    double best = 0;
    for (int r = 0; r < rounds; r++)
        best = max_of(best, rate_once(eng_bulk_step, pair) / 1e6);
    tls_engine_free(pair[0]);
    tls_engine_free(pair[1]);
    eng_free(&es);
    return best;
}

static long long ssl_bulk_step(void *arg)
{
    SSL **pair = arg;
    static uint8_t src[CHUNK], dst[CHUNK];
    long long bytes = 0;
    for (int k = 0; k < 64; k++) {
        if (SSL_write(pair[0], src, CHUNK) != CHUNK)
            die("libssl: write");
        int got;
        long long want = bytes + CHUNK;
        while (bytes < want && (got = SSL_read(pair[1], dst, sizeof dst)) > 0)
            bytes += got;
        if (bytes < want)
            die("libssl: read");
    }
    return bytes;
}

static double ssl_bulk(const setting *st)
{
    ssl_side ls;
    ssl_setup(st, &ls);
    SSL *pair[2];
    pair[0] = ssl_connect(&ls, false, &pair[1]);
    double best = 0;
    for (int r = 0; r < rounds; r++)
        best = max_of(best, rate_once(ssl_bulk_step, pair) / 1e6);
    SSL_free(pair[0]);
    SSL_free(pair[1]);
    ssl_free_side(&ls);
    return best;
}

/* ---- the cipher alone ------------------------------------------------- */

/* What `openssl speed -evp` times, for an AEAD: libcrypto sealing 16 KiB
 * blocks (nonce, data, tag), then opening them, one context each way. MB/s
 * counts each byte once, sealed and opened, as the engine's figure does. */
typedef struct evp_pair {
    EVP_CIPHER_CTX *enc, *dec;
} evp_pair;

static long long evp_aead_step(void *arg)
{
    evp_pair *ep = arg;
    static uint8_t nonce[12], buf[CHUNK], tag[16];
    int n = 0;
    for (int k = 0; k < 64; k++) {
        nonce[11]++;
        if (!EVP_CipherInit_ex2(ep->enc, NULL, NULL, nonce, 1, NULL) ||
            !EVP_CipherUpdate(ep->enc, buf, &n, buf, CHUNK) || !EVP_CipherFinal_ex(ep->enc, buf, &n) ||
            !EVP_CIPHER_CTX_ctrl(ep->enc, EVP_CTRL_AEAD_GET_TAG, 16, tag) ||
            !EVP_CipherInit_ex2(ep->dec, NULL, NULL, nonce, 0, NULL) ||
            !EVP_CipherUpdate(ep->dec, buf, &n, buf, CHUNK) ||
            !EVP_CIPHER_CTX_ctrl(ep->dec, EVP_CTRL_AEAD_SET_TAG, 16, tag) ||
            EVP_CipherFinal_ex(ep->dec, buf, &n) != 1)
            die("libcrypto: seal/open");
    }
    return 64LL * CHUNK;
}

static double evp_aead_bulk(const char *name)
{
    static const uint8_t key[32];
    EVP_CIPHER *cipher = EVP_CIPHER_fetch(NULL, name, NULL);
    evp_pair ep = {EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_new()};
    if (!cipher || !ep.enc || !ep.dec || !EVP_CipherInit_ex2(ep.enc, cipher, key, NULL, 1, NULL) ||
        !EVP_CipherInit_ex2(ep.dec, cipher, key, NULL, 0, NULL))
        die("libcrypto: cipher");
    double best = 0;
    for (int r = 0; r < rounds; r++)
        best = max_of(best, rate_once(evp_aead_step, &ep) / 1e6);
    EVP_CIPHER_CTX_free(ep.enc);
    EVP_CIPHER_CTX_free(ep.dec);
    EVP_CIPHER_free(cipher);
    return best;
}

/* ---- rows ------------------------------------------------------------- */

static void row(const char *label, double ours, const char *anchor, double theirs, const char *unit,
                const char *goal)
{
    printf("ROW\t1-inmem\t%s\t%.1f\t%s\t%.1f\t%s\t%s\n", label, ours, anchor, theirs, unit, goal);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    int a = 1;
    if (a < argc && strcmp(argv[a], "--quick") == 0) {
        seconds_per_figure = 0.1;
        rounds = 1;
        a++;
    }
    if (a + 1 != argc) {
        fprintf(stderr, "usage: inmem [--quick] PKI_DIR\n");
        return 2;
    }
    pki_dir = argv[a];
    only_impl = getenv("INMEM_IMPL");
    if (tls_start() != TLS_OK)
        die("tls_start");

    static const setting hs[] = {
        {"TLS 1.2 ECDHE-RSA-2048", false, "server.pem", "server.key", "ECDHE-RSA-AES128-GCM-SHA256"},
        {"TLS 1.2 ECDHE-ECDSA-P256", false, "ecdsa.pem", "ecdsa.key", "ECDHE-ECDSA-AES128-GCM-SHA256"},
        {"TLS 1.3 RSA-2048", true, "server.pem", "server.key", "TLS_AES_128_GCM_SHA256"},
        {"TLS 1.3 ECDSA-P256", true, "ecdsa.pem", "ecdsa.key", "TLS_AES_128_GCM_SHA256"},
    };
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) {
        for (int resume = 0; resume <= 1; resume++) {
            double e, l;
            char label[128];
            snprintf(label, sizeof label, "in memory: %s handshakes, %s", resume ? "resumed" : "full",
                     hs[i].label);
            if (!wanted(label))
                continue;
            bench_handshakes(&hs[i], resume, &e, &l);
            row(label, e, "libssl in memory", l, "hs/s", resume ? ">=2" : ">=1.5");
        }
    }

    static const setting bulk[] = {
        {"TLS 1.3 AES-128-GCM", true, "server.pem", "server.key", "TLS_AES_128_GCM_SHA256"},
        {"TLS 1.3 AES-256-GCM", true, "server.pem", "server.key", "TLS_AES_256_GCM_SHA384"},
        {"TLS 1.3 ChaCha20-Poly1305", true, "server.pem", "server.key", "TLS_CHACHA20_POLY1305_SHA256"},
        {"TLS 1.2 AES-128-CBC HMAC-SHA1", false, "server.pem", "server.key", "ECDHE-RSA-AES128-SHA"},
        {"TLS 1.2 AES-128-CBC HMAC-SHA256", false, "server.pem", "server.key", "ECDHE-RSA-AES128-SHA256"},
    };
    for (size_t i = 0; i < sizeof bulk / sizeof bulk[0]; i++) {
        char label[128];
        snprintf(label, sizeof label, "in memory: bulk, %s", bulk[i].label);
        if (!wanted(label))
            continue;
        double e = timing("engine") ? eng_bulk(&bulk[i]) : 0, l = timing("libssl") ? ssl_bulk(&bulk[i]) : 0;
        row(label, e, "libssl in memory", l, "MB/s", "-");
    }
    /* the engine against the cipher alone, taking turns in this one run (an
     * openssl speed run minutes later meets another machine) */
    static const struct {
        const setting *st;
        const char *evp;
    } alone[] = {{&bulk[0], "AES-128-GCM"}, {&bulk[1], "AES-256-GCM"}, {&bulk[2], "ChaCha20-Poly1305"}};
    for (size_t i = 0; i < sizeof alone / sizeof alone[0]; i++) {
        char label[160];
        snprintf(label, sizeof label, "seal+open, engine in memory vs the cipher alone: %s", alone[i].st->label);
        if (!wanted(label))
            continue;
        int all = rounds;
        double ours = 0, cipher = 0;
        rounds = 1;
        for (int r = 0; r < all; r++) {
            double x = eng_bulk(alone[i].st), y = evp_aead_bulk(alone[i].evp);
            ours = x > ours ? x : ours;
            cipher = y > cipher ? y : cipher;
        }
        rounds = all;
        row(label, ours, "libcrypto EVP seal+open of 16 KiB blocks, as openssl speed -evp, same run", cipher, "MB/s",
            ">=0.8");
    }
    return 0;
}
