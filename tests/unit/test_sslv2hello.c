/* The SSLv2-compatible ClientHello (RFC 5246 Appendix E.2; issue 6, cause 2).
 *
 * No engine sends one, so the client here is written out by hand: an SSL 2.0
 * CLIENT-HELLO asking for TLS, then an RSA key exchange, ChangeCipherSpec
 * and a Finished computed over a transcript that starts with the v2 message
 * bytes (without their 2-byte record header). The server must finish the
 * handshake: that proves both the synthesized hello and the transcript. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "lib/pair.h"
#include "prf.h"

/* An SSL 2.0 record holding a CLIENT-HELLO; returns its length. */
static size_t v2_hello(uint8_t *out, uint16_t version, const uint8_t *specs, size_t specs_len,
                       const uint8_t *challenge, size_t challenge_len)
{
    size_t len = 9 + specs_len + challenge_len;
    uint8_t *m = out + 2;
    out[0] = (uint8_t)(0x80 | len >> 8);
    out[1] = (uint8_t)len;
    m[0] = 1;
    m[1] = (uint8_t)(version >> 8);
    m[2] = (uint8_t)version;
    m[3] = (uint8_t)(specs_len >> 8);
    m[4] = (uint8_t)specs_len;
    m[5] = m[6] = 0; /* no session id */
    m[7] = 0;
    m[8] = (uint8_t)challenge_len;
    memcpy(m + 9, specs, specs_len);
    memcpy(m + 9 + specs_len, challenge, challenge_len);
    return 2 + len;
}

/* Feeds bytes in pieces of `step`, as a slow network would. */
static int feed_slowly(tls_engine *s, const uint8_t *p, size_t len, size_t step)
{
    int rc = TLS_OK;
    for (size_t off = 0; off < len && rc == TLS_OK; off += step) {
        size_t n = len - off < step ? len - off : step, used = 0;
        rc = tls_engine_feed(s, p + off, n, &used);
        cr_assert(rc != TLS_OK || used == n);
    }
    return rc;
}

static const tls_error *fails_with(const uint8_t *bytes, size_t len, unsigned versions, tls_engine **keep,
                                   tls_config **cfg)
{
    *keep = server_or_die("AES128-GCM-SHA256:AES128-SHA:TLS_AES_128_GCM_SHA256", versions, cfg);
    tls_engine_feed(*keep, bytes, len, NULL);
    cr_assert(tls_engine_status(*keep) & TLS_ST_FAILED, "the server took it");
    return tls_engine_error(*keep);
}

/* ---- the whole handshake ---------------------------------------------------- */

typedef struct v2_case {
    uint16_t version, suite;
    char ciphers[24]; /* no pointers: the parameters travel to the test's process */
    size_t challenge_len;
} v2_case;

ParameterizedTestParameters(sslv2hello, handshake_completes)
{
    static v2_case cases[] = {
        {TLS_TLS12, 0x009c, "AES128-GCM-SHA256", 16}, /* TLS_RSA_WITH_AES_128_GCM_SHA256 */
        {TLS_TLS12, 0x009c, "AES128-GCM-SHA256", 32},
        {TLS_TLS10, 0x002f, "AES128-SHA", 16},        /* TLS_RSA_WITH_AES_128_CBC_SHA: Java 6 */
        {TLS_TLS11, 0x002f, "AES128-SHA", 24},
    };
    return cr_make_param_array(v2_case, cases, sizeof cases / sizeof *cases);
}

typedef struct hs_reader {
    tls_wr transcript;
    uint8_t server_random[32];
    uint16_t version, suite;
    bool done;
} hs_reader;

/* Reads the server's plaintext flight: ServerHello, Certificate, ServerHelloDone. */
static void read_server_flight(tls_engine *s, hs_reader *h)
{
    size_t n;
    const uint8_t *p = tls_engine_output(s, &n);
    cr_assert(p, "the server did not answer");
    tls_rd r = tls_rd_make(p, n);
    while (tls_rd_left(&r)) {
        uint8_t type = tls_rd_u8(&r);
        tls_rd_u16(&r);
        tls_rd rec = tls_rd_vec(&r, 2, 1, 0xffff);
        cr_assert(!r.bad && type == TLS_CT_HANDSHAKE, "record of type %u", type);
        tls_wr_bytes(&h->transcript, rec.p, rec.len);
        while (tls_rd_left(&rec)) {
            uint8_t mt = tls_rd_u8(&rec);
            tls_rd body = tls_rd_vec(&rec, 3, 0, 0xffffff);
            cr_assert(!rec.bad);
            if (mt == TLS_HS_SERVER_HELLO) {
                h->version = tls_rd_u16(&body);
                tls_rd_copy(&body, h->server_random, 32);
                (void)tls_rd_vec(&body, 1, 0, 32);
                h->suite = tls_rd_u16(&body);
                cr_assert(!body.bad);
            }
            h->done = mt == TLS_HS_SERVER_HELLO_DONE;
        }
    }
    tls_engine_output_done(s, n);
}

static size_t rsa_encrypt(const uint8_t *pms, uint8_t *out, size_t cap)
{
    FILE *f = fopen(pki("server.pem"), "r");
    cr_assert(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    cr_assert(x);
    EVP_PKEY *pub = X509_get_pubkey(x);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pub, NULL);
    size_t len = cap;
    cr_assert(ctx && EVP_PKEY_encrypt_init(ctx) == 1 &&
              EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
              EVP_PKEY_encrypt(ctx, out, &len, pms, 48) == 1);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pub);
    X509_free(x);
    return len;
}

static void put_record(tls_wr *w, uint8_t type, uint16_t version, const uint8_t *p, size_t len)
{
    tls_wr_u8(w, type);
    tls_wr_u16(w, version);
    tls_wr_vec(w, 2, p, len);
}

ParameterizedTest(v2_case *tc, sslv2hello, handshake_completes)
{
    tls_config *cfg;
    tls_engine *s = server_or_die(tc->ciphers, TLS_VMASK_TLS10 | TLS_VMASK_TLS11 | TLS_VMASK_TLS12, &cfg);
    uint8_t challenge[32], rec[128];
    cr_assert_eq(RAND_bytes(challenge, sizeof challenge), 1);
    /* an SSL 2.0 kind first (ignored), then the TLS suite, then the SCSV */
    const uint8_t specs[] = {0x07, 0x00, 0xc0, 0, (uint8_t)(tc->suite >> 8), (uint8_t)tc->suite, 0, 0, 0xff};
    size_t len = v2_hello(rec, tc->version, specs, sizeof specs, challenge, tc->challenge_len);
    cr_assert_eq(feed_slowly(s, rec, len, 3), TLS_OK, "%s", tls_engine_error(s)->detail);

    /* the random is the challenge, right-aligned and zero-padded */
    uint8_t client_random[32] = {0};
    memcpy(client_random + 32 - tc->challenge_len, challenge, tc->challenge_len);
    cr_assert_arr_eq(s->client_random, client_random, 32);

    hs_reader h = {.transcript = tls_wr_dynamic(4096)};
    tls_wr_bytes(&h.transcript, rec + 2, len - 2); /* the v2 message, without its header */
    read_server_flight(s, &h);
    cr_assert(h.done);
    cr_assert_eq(h.version, tc->version);
    cr_assert_eq(h.suite, tc->suite);

    /* ClientKeyExchange, ChangeCipherSpec, Finished */
    const tls_suite *suite = tls_suite_by_id(tc->suite);
    uint8_t pms[48], enc[512], master[48];
    pms[0] = (uint8_t)(tc->version >> 8);
    pms[1] = (uint8_t)tc->version;
    cr_assert_eq(RAND_bytes(pms + 2, 46), 1);
    size_t enc_len = rsa_encrypt(pms, enc, sizeof enc);
    tls_wr cke = tls_wr_dynamic(600);
    tls_wr_u8(&cke, TLS_HS_CLIENT_KEY_EXCHANGE);
    size_t at = tls_wr_begin_vec(&cke, 3);
    tls_wr_vec(&cke, 2, enc, enc_len);
    tls_wr_end_vec(&cke, at, 3);
    tls_wr_bytes(&h.transcript, cke.p, cke.len);
    cr_assert(tls_master_secret(tc->version, suite->prf_hash, pms, 48, client_random, h.server_random, NULL, 0,
                                master));
    uint8_t kb[2 * (48 + 32 + 16)];
    const tls_cipher_desc *cd = tls_cipher_desc_get(suite->cipher);
    size_t mac = tls_mac_len(suite->mac), key = cd->key_len, iv = cd->iv_len;
    cr_assert(tls_key_block(tc->version, suite->prf_hash, master, client_random, h.server_random, kb,
                            2 * (mac + key + iv)));
    tls_rec_crypto wr;
    memset(&wr, 0, sizeof wr);
    cr_assert(tls_rec_init(&wr, suite, tc->version, true, false, kb, kb + 2 * mac, kb + 2 * mac + 2 * key));
    uint8_t fin[4 + 12];
    size_t fin_len = 0;
    cr_assert(tls_finished(tc->version, suite->prf_hash, master, true, h.transcript.p, h.transcript.len,
                           fin + 4, &fin_len));
    cr_assert_eq(fin_len, 12);
    fin[0] = TLS_HS_FINISHED;
    fin[1] = fin[2] = 0;
    fin[3] = 12;

    tls_wr flight = tls_wr_dynamic(1024);
    put_record(&flight, TLS_CT_HANDSHAKE, tc->version, cke.p, cke.len);
    put_record(&flight, TLS_CT_CCS, tc->version, (const uint8_t *)"\1", 1);
    uint8_t *sealed = tls_wr_room(&flight, 256);
    size_t sealed_len = 0;
    cr_assert(tls_rec_seal(&wr, TLS_CT_HANDSHAKE, tc->version, fin, sizeof fin, sealed, 256, &sealed_len));
    flight.len += sealed_len;
    int rc = tls_engine_feed(s, flight.p, flight.len, NULL);
    cr_assert_eq(rc, TLS_OK, "the server refused our Finished: %s", tls_engine_error(s)->detail);
    cr_assert(tls_engine_status(s) & TLS_ST_CONNECTED);
    cr_assert_eq(tls_engine_version(s), tc->version);

    tls_rec_clear(&wr);
    OPENSSL_cleanse(master, sizeof master);
    OPENSSL_cleanse(kb, sizeof kb);
    tls_wr_free(&flight);
    tls_wr_free(&cke);
    tls_wr_free(&h.transcript);
    tls_engine_free(s);
    tls_config_free(cfg);
}

/* ---- refusals --------------------------------------------------------------- */

static const uint8_t tls_specs[] = {0, 0x00, 0x9c, 0, 0x00, 0x2f};
static const uint8_t challenge16[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static void expect_refusal(const uint8_t *bytes, size_t len, unsigned versions, int alert, const char *what)
{
    tls_engine *s;
    tls_config *cfg;
    const tls_error *err = fails_with(bytes, len, versions, &s, &cfg);
    cr_assert_eq(err->code, TLS_E_ALERT_SENT, "%s: code %d", what, err->code);
    cr_assert_eq(err->alert, alert, "%s: alert %s, expected %s (%s)", what, tls_alert_name(err->alert),
                 tls_alert_name(alert), err->detail);
    size_t n;
    const uint8_t *out = tls_engine_output(s, &n);
    /* the alert goes out as a TLS record: what E.2 clients understand */
    cr_assert(out && n == 7 && out[0] == TLS_CT_ALERT && out[6] == alert, "%s: no TLS alert record", what);
    tls_engine_free(s);
    tls_config_free(cfg);
}

Test(sslv2hello, refused_without_tls10_to_12)
{
    uint8_t rec[128];
    size_t len = v2_hello(rec, TLS_TLS12, tls_specs, sizeof tls_specs, challenge16, 16);
    expect_refusal(rec, len, TLS_VMASK_TLS13, TLS_ALERT_PROTOCOL_VERSION, "TLS 1.3-only server");
}

Test(sslv2hello, never_ssl2_or_ssl3)
{
    uint8_t rec[128];
    unsigned all = TLS_VMASK_TLS10 | TLS_VMASK_TLS12;
    size_t len = v2_hello(rec, TLS_SSL3, tls_specs, sizeof tls_specs, challenge16, 16);
    expect_refusal(rec, len, all, TLS_ALERT_PROTOCOL_VERSION, "SSL 3.0");
    len = v2_hello(rec, 0x0002, tls_specs, sizeof tls_specs, challenge16, 16);
    expect_refusal(rec, len, all, TLS_ALERT_PROTOCOL_VERSION, "SSL 2.0");
}

Test(sslv2hello, no_tls_suite_is_handshake_failure)
{
    static const uint8_t ssl2_only[] = {0x07, 0x00, 0xc0, 0x01, 0x00, 0x80};
    uint8_t rec[128];
    size_t len = v2_hello(rec, TLS_TLS12, ssl2_only, sizeof ssl2_only, challenge16, 16);
    expect_refusal(rec, len, TLS_VMASK_TLS12, TLS_ALERT_HANDSHAKE_FAILURE, "SSL 2.0 kinds only");
}

Test(sslv2hello, malformed_is_decode_error)
{
    uint8_t rec[160];
    size_t len = v2_hello(rec, TLS_TLS12, tls_specs, 5, challenge16, 16); /* not a multiple of 3 */
    expect_refusal(rec, len, TLS_VMASK_TLS12, TLS_ALERT_DECODE_ERROR, "cipher specs of 5 bytes");
    len = v2_hello(rec, TLS_TLS12, tls_specs, 0, challenge16, 16);
    expect_refusal(rec, len, TLS_VMASK_TLS12, TLS_ALERT_DECODE_ERROR, "no cipher specs");
    len = v2_hello(rec, TLS_TLS12, tls_specs, sizeof tls_specs, challenge16, 15);
    expect_refusal(rec, len, TLS_VMASK_TLS12, TLS_ALERT_DECODE_ERROR, "challenge of 15 bytes");
    uint8_t long_challenge[33] = {0};
    len = v2_hello(rec, TLS_TLS12, tls_specs, sizeof tls_specs, long_challenge, 33);
    expect_refusal(rec, len, TLS_VMASK_TLS12, TLS_ALERT_DECODE_ERROR, "challenge of 33 bytes");
    /* lengths that claim more than the record holds, or less */
    len = v2_hello(rec, TLS_TLS12, tls_specs, sizeof tls_specs, challenge16, 16);
    rec[2 + 8] = 17;
    expect_refusal(rec, len, TLS_VMASK_TLS12, TLS_ALERT_DECODE_ERROR, "challenge_length past the end");
    rec[2 + 8] = 16;
    rec[1]++;
    rec[len] = 0;
    expect_refusal(rec, len + 1, TLS_VMASK_TLS12, TLS_ALERT_DECODE_ERROR, "a byte after the challenge");
    static const uint8_t just_type[] = {0x80, 0x01, 0x01};
    expect_refusal(just_type, sizeof just_type, TLS_VMASK_TLS12, TLS_ALERT_DECODE_ERROR, "one-byte hello");
}

static void refuses_v2_hello(tls_engine *e, tls_config *cfg)
{
    uint8_t rec[128];
    size_t len = v2_hello(rec, TLS_TLS12, tls_specs, sizeof tls_specs, challenge16, 16);
    tls_engine_feed(e, rec, len, NULL);
    cr_assert(tls_engine_status(e) & TLS_ST_FAILED);
    cr_assert_eq(tls_engine_error(e)->alert, TLS_ALERT_UNEXPECTED_MESSAGE);
    tls_engine_free(e);
    tls_config_free(cfg);
}

Test(sslv2hello, only_as_the_first_record)
{
    tls_config *cfg;
    tls_engine *s = server_or_die("AES128-GCM-SHA256", TLS_VMASK_TLS12, &cfg);
    /* a TLS alert first (a warning, ignored), then a v2 hello: not a record */
    static const uint8_t warning[] = {TLS_CT_ALERT, 3, 1, 0, 2, 1, TLS_ALERT_USER_CANCELED};
    cr_assert_eq(tls_engine_feed(s, warning, sizeof warning, NULL), TLS_OK);
    refuses_v2_hello(s, cfg);
}

Test(sslv2hello, clients_never_take_one)
{
    tls_config *cfg;
    tls_engine *c = client_or_die(NULL, 0, &cfg);
    refuses_v2_hello(c, cfg);
}
