/* The record layer against tlsfuzzer's expectations (issue 6, causes 6, 8
 * and 9): the alert each malformed or abusive record gets, floods of records
 * that carry nothing, TLS 1.3 early data the server does not accept, a
 * handshake message split around application data, ClientHellos spread over
 * many records. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

#include "handshake.h" /* the wire constants (TLS_EXT_*, SCSVs) */
#include "lib/pair.h"

typedef struct conn {
    tls_config *sc, *cc;
    tls_engine *c, *s;
} conn;

static void conn_open(conn *k, const char *ciphers, unsigned versions)
{
    k->c = client_or_die(ciphers, versions, &k->cc);
    k->s = server_or_die(ciphers, versions, &k->sc);
}

static void conn_connect(conn *k, const char *ciphers, unsigned versions)
{
    conn_open(k, ciphers, versions);
    cr_assert(pair_handshake(k->c, k->s), "handshake: %s / %s", tls_engine_error(k->c)->detail,
              tls_engine_error(k->s)->detail);
}

static void conn_close(conn *k)
{
    tls_engine_free(k->c);
    tls_engine_free(k->s);
    tls_config_free(k->cc);
    tls_config_free(k->sc);
}

static void expect_failure(tls_engine *e, int code, int alert, const char *what)
{
    cr_assert(tls_engine_status(e) & TLS_ST_FAILED, "%s: accepted", what);
    const tls_error *err = tls_engine_error(e);
    cr_assert_eq(err->code, code, "%s: code %d (%s)", what, err->code, err->detail);
    cr_assert_eq(err->alert, alert, "%s: alert %s, expected %s (%s)", what, tls_alert_name(err->alert),
                 tls_alert_name(alert), err->detail);
}

/* The client seals a record of any content, as a misbehaving peer would. */
static void client_sends(conn *k, uint8_t type, const void *p, size_t len)
{
    cr_assert(tls_engine_send_record(k->c, type, len ? p : (const void *)"", len));
}

/* Plaintext records straight into an engine, split at 2^14 bytes. */
static int feed_plain(tls_engine *e, uint8_t type, const uint8_t *p, size_t len)
{
    int rc = TLS_OK;
    do {
        size_t n = len > TLS_MAX_PLAINTEXT ? TLS_MAX_PLAINTEXT : len;
        uint8_t h[5] = {type, 3, 3, (uint8_t)(n >> 8), (uint8_t)n};
        rc = tls_engine_feed(e, h, 5, NULL);
        if (rc == TLS_OK && n)
            rc = tls_engine_feed(e, p, n, NULL);
        p += n;
        len -= n;
    } while (len && rc == TLS_OK);
    return rc;
}

static bool server_reads(conn *k, const char *want)
{
    pair_move(k->c, k->s);
    uint8_t buf[64];
    size_t got = 0;
    return tls_engine_read(k->s, buf, sizeof buf, &got) == TLS_OK && got == strlen(want) &&
           !memcmp(buf, want, got);
}

#define TLS12_SUITE "ECDHE-RSA-AES128-GCM-SHA256"
#define TLS13_SUITE "TLS_AES_128_GCM_SHA256"

/* ---- alerts (cause 8) --------------------------------------------------------- */

Test(alerts, two_byte_ccs_is_unexpected_message)
{
    conn k;
    conn_open(&k, TLS12_SUITE, TLS_VMASK_TLS12);
    pair_move(k.c, k.s);
    pair_move(k.s, k.c);
    /* the client's ClientKeyExchange goes as it is, its CCS gets a second byte */
    size_t n;
    const uint8_t *out = tls_engine_output(k.c, &n);
    cr_assert(out && n > 5 && out[0] == TLS_CT_HANDSHAKE);
    size_t first = 5 + ((size_t)out[3] << 8 | out[4]);
    cr_assert_eq(tls_engine_feed(k.s, out, first, NULL), TLS_OK);
    static const uint8_t ccs2[] = {TLS_CT_CCS, 3, 3, 0, 2, 1, 1};
    tls_engine_feed(k.s, ccs2, sizeof ccs2, NULL);
    expect_failure(k.s, TLS_E_ALERT_SENT, TLS_ALERT_UNEXPECTED_MESSAGE, "two-byte CCS");
    conn_close(&k);
}

typedef struct version_case {
    char suite[32];
    unsigned versions;
} version_case;

ParameterizedTestParameters(alerts, empty_alert_record)
{
    static version_case cases[] = {{TLS12_SUITE, TLS_VMASK_TLS12}, {TLS13_SUITE, TLS_VMASK_TLS13}};
    return cr_make_param_array(version_case, cases, 2);
}

ParameterizedTest(version_case *v, alerts, empty_alert_record)
{
    conn k;
    conn_connect(&k, v->suite, v->versions);
    client_sends(&k, TLS_CT_ALERT, NULL, 0);
    pair_move(k.c, k.s);
    expect_failure(k.s, TLS_E_ALERT_SENT, TLS_ALERT_UNEXPECTED_MESSAGE, "empty alert");
    conn_close(&k);
}

ParameterizedTestParameters(alerts, warning_flood_ends)
{
    static version_case cases[] = {{TLS12_SUITE, TLS_VMASK_TLS12}, {"AES128-SHA", TLS_VMASK_TLS10}};
    return cr_make_param_array(version_case, cases, 2);
}

/* limit - 1 records of one kind in a row pass, and data restarts the count;
 * limit in a row end the connection with unexpected_message. */
static void flood(const version_case *v, uint8_t type, const void *p, size_t len, int limit)
{
    conn k;
    conn_connect(&k, v->suite, v->versions);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < limit - 1; i++)
            client_sends(&k, type, p, len);
        client_sends(&k, TLS_CT_APPDATA, "ok", 2);
        cr_assert(server_reads(&k, "ok"), "round %d: %s", round, tls_engine_error(k.s)->detail);
    }
    for (int i = 0; i < limit; i++)
        client_sends(&k, type, p, len);
    pair_move(k.c, k.s);
    expect_failure(k.s, TLS_E_ALERT_SENT, TLS_ALERT_UNEXPECTED_MESSAGE, "a flood");
    conn_close(&k);
}

ParameterizedTest(version_case *v, alerts, warning_flood_ends)
{
    static const uint8_t warning[2] = {1, TLS_ALERT_UNSUPPORTED_CERTIFICATE};
    flood(v, TLS_CT_ALERT, warning, 2, TLS_MAX_WARN_ALERTS);
}

Test(alerts, warning_flood_during_the_handshake)
{
    /* tlsfuzzer's test-ssl-death-alert: the warnings right after the ClientHello */
    conn k;
    conn_open(&k, TLS12_SUITE, TLS_VMASK_TLS12);
    pair_move(k.c, k.s);
    static const uint8_t warning[] = {TLS_CT_ALERT, 3, 3, 0, 2, 1, TLS_ALERT_UNSUPPORTED_CERTIFICATE};
    for (int i = 0; i < TLS_MAX_WARN_ALERTS - 1; i++)
        cr_assert_eq(tls_engine_feed(k.s, warning, sizeof warning, NULL), TLS_OK);
    tls_engine_feed(k.s, warning, sizeof warning, NULL);
    expect_failure(k.s, TLS_E_ALERT_SENT, TLS_ALERT_UNEXPECTED_MESSAGE, "five warnings");
    conn_close(&k);
}

ParameterizedTestParameters(alerts, empty_record_flood_ends)
{
    static version_case cases[] = {{TLS12_SUITE, TLS_VMASK_TLS12}, {TLS13_SUITE, TLS_VMASK_TLS13}};
    return cr_make_param_array(version_case, cases, 2);
}

ParameterizedTest(version_case *v, alerts, empty_record_flood_ends)
{
    flood(v, TLS_CT_APPDATA, NULL, 0, TLS_MAX_IDLE_RECORDS);
}

Test(alerts, tls13_warning_level_is_an_error)
{
    conn k;
    conn_connect(&k, TLS13_SUITE, TLS_VMASK_TLS13);
    static const uint8_t canceled[2] = {1, TLS_ALERT_USER_CANCELED}, bad_cert[2] = {1, TLS_ALERT_BAD_CERTIFICATE};
    client_sends(&k, TLS_CT_ALERT, canceled, 2); /* RFC 8446 6.1: a warning indeed */
    client_sends(&k, TLS_CT_APPDATA, "on", 2);
    cr_assert(server_reads(&k, "on"));
    client_sends(&k, TLS_CT_ALERT, bad_cert, 2);
    pair_move(k.c, k.s);
    expect_failure(k.s, TLS_E_ALERT_RECEIVED, TLS_ALERT_BAD_CERTIFICATE, "warning-level bad_certificate");
    conn_close(&k);
}

/* ---- TLS 1.3 handshake messages and other records (cause 9) -------------------- */

Test(tls13_records, keyupdate_split_around_application_data)
{
    conn k;
    conn_connect(&k, TLS13_SUITE, TLS_VMASK_TLS13);
    static const uint8_t key_update[] = {TLS_HS_KEY_UPDATE, 0, 0, 1, 1};
    client_sends(&k, TLS_CT_HANDSHAKE, key_update, 2);
    client_sends(&k, TLS_CT_APPDATA, "GET /", 5);
    client_sends(&k, TLS_CT_HANDSHAKE, key_update + 2, 3);
    pair_move(k.c, k.s);
    expect_failure(k.s, TLS_E_ALERT_SENT, TLS_ALERT_UNEXPECTED_MESSAGE, "data inside a KeyUpdate");
    conn_close(&k);
}

/* ---- early data the server does not accept (cause 9) ---------------------------- */

static void garbage(tls_engine *s, size_t len)
{
    uint8_t *p = malloc(len);
    cr_assert(p && RAND_bytes(p, (int)len) == 1);
    feed_plain(s, TLS_CT_APPDATA, p, len);
    free(p);
}

ParameterizedTestParameters(early_data, skipped_until_a_record_opens)
{
    static version_case cases[] = {{"TLS_AES_128_GCM_SHA256", TLS_VMASK_TLS13},
                                   {"TLS_CHACHA20_POLY1305_SHA256", TLS_VMASK_TLS13},
                                   {"TLS_AES_256_GCM_SHA384", TLS_VMASK_TLS13}};
    return cr_make_param_array(version_case, cases, 3);
}

ParameterizedTest(version_case *v, early_data, skipped_until_a_record_opens)
{
    conn k;
    conn_open(&k, v->suite, v->versions);
    pair_move(k.c, k.s);
    /* what the handshake does for a ClientHello with early_data */
    tls_engine_reject_early_data(k.s);
    garbage(k.s, 4000);
    static const uint8_t ccs[] = {TLS_CT_CCS, 3, 3, 0, 1, 1};
    cr_assert_eq(tls_engine_feed(k.s, ccs, sizeof ccs, NULL), TLS_OK);
    garbage(k.s, 1);
    garbage(k.s, TLS_MAX_EARLY_DATA - 4000 - 17);
    cr_assert(!(tls_engine_status(k.s) & TLS_ST_FAILED), "%s", tls_engine_error(k.s)->detail);
    cr_assert(pair_handshake(k.c, k.s), "%s", tls_engine_error(k.s)->detail);
    cr_assert(pair_transfer(k.c, k.s, 30000));
    cr_assert(pair_transfer(k.s, k.c, 30000));
    /* once a record opened, a bad one is what it is */
    garbage(k.s, 100);
    expect_failure(k.s, TLS_E_ALERT_SENT, TLS_ALERT_BAD_RECORD_MAC, "garbage after the handshake");
    conn_close(&k);
}

/* After the ClientHello, `before` bytes of garbage pass, then 100 more end
 * the connection with `alert`. */
static void garbage_after_hello(bool rejected, size_t before, int alert, const char *what)
{
    conn k;
    conn_open(&k, TLS13_SUITE, TLS_VMASK_TLS13);
    pair_move(k.c, k.s);
    if (rejected)
        tls_engine_reject_early_data(k.s);
    if (before)
        garbage(k.s, before);
    cr_assert(!(tls_engine_status(k.s) & TLS_ST_FAILED), "%s: %s", what, tls_engine_error(k.s)->detail);
    garbage(k.s, 100);
    expect_failure(k.s, TLS_E_ALERT_SENT, alert, what);
    conn_close(&k);
}

Test(early_data, more_than_the_limit)
{
    garbage_after_hello(true, TLS_MAX_EARLY_DATA, TLS_ALERT_UNEXPECTED_MESSAGE, "too much early data");
}

Test(early_data, not_skipped_unless_rejected)
{
    garbage_after_hello(false, 0, TLS_ALERT_BAD_RECORD_MAC, "no early data offered");
}

static void put_ext(tls_wr *w, uint16_t type, const void *body, size_t len)
{
    tls_wr_u16(w, type);
    tls_wr_vec(w, 2, body, len);
}

/* A TLS 1.3 ClientHello offering x25519 with `share` (NULL: an empty
 * key_share list, which earns a HelloRetryRequest), and early data if asked. */
static size_t client_hello13(uint8_t *out, size_t cap, const uint8_t random[32], const uint8_t *share,
                             bool early_data)
{
    tls_wr w = tls_wr_fixed(out, cap);
    tls_wr_u8(&w, TLS_HS_CLIENT_HELLO);
    size_t msg = tls_wr_begin_vec(&w, 3);
    tls_wr_u16(&w, TLS_TLS12);
    tls_wr_bytes(&w, random, 32);
    tls_wr_vec(&w, 1, random, 32); /* legacy_session_id */
    tls_wr_vec(&w, 2, "\x13\x01", 2);
    tls_wr_vec(&w, 1, "\0", 1);
    size_t exts = tls_wr_begin_vec(&w, 2);
    put_ext(&w, TLS_EXT_SUPPORTED_VERSIONS, "\x02\x03\x04", 3);
    put_ext(&w, TLS_EXT_SUPPORTED_GROUPS, "\x00\x02\x00\x1d", 4);
    put_ext(&w, TLS_EXT_SIGNATURE_ALGORITHMS, "\x00\x04\x08\x04\x08\x05", 6);
    tls_wr_u16(&w, TLS_EXT_KEY_SHARE);
    size_t ks = tls_wr_begin_vec(&w, 2);
    size_t list = tls_wr_begin_vec(&w, 2);
    if (share) {
        tls_wr_u16(&w, 0x001d);
        tls_wr_vec(&w, 2, share, 32);
    }
    tls_wr_end_vec(&w, list, 2);
    tls_wr_end_vec(&w, ks, 2);
    if (early_data)
        put_ext(&w, TLS_EXT_EARLY_DATA, "", 0);
    tls_wr_end_vec(&w, exts, 2);
    tls_wr_end_vec(&w, msg, 3);
    cr_assert(!w.bad);
    return w.len;
}

/* The handshake's part: a ClientHello that offers early data makes the
 * server skip it (the tests above stand in for the handshake). */
Test(early_data, offered_in_the_hello)
{
    tls_config *cfg;
    tls_engine *s = server_or_die(NULL, TLS_VMASK_TLS13, &cfg);
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    uint8_t pub[32], random[32] = {9}, ch[512];
    size_t pub_len = sizeof pub;
    cr_assert(key && EVP_PKEY_get_raw_public_key(key, pub, &pub_len) == 1);
    size_t len = client_hello13(ch, sizeof ch, random, pub, true);
    cr_assert_eq(feed_plain(s, TLS_CT_HANDSHAKE, ch, len), TLS_OK, "%s", tls_engine_error(s)->detail);
    garbage(s, TLS_MAX_EARLY_DATA / 2);
    cr_assert(!(tls_engine_status(s) & TLS_ST_FAILED), "%s", tls_engine_error(s)->detail);
    garbage(s, TLS_MAX_EARLY_DATA / 2 + 100);
    expect_failure(s, TLS_E_ALERT_SENT, TLS_ALERT_UNEXPECTED_MESSAGE, "too much early data");
    EVP_PKEY_free(key);
    tls_engine_free(s);
    tls_config_free(cfg);
}

Test(early_data, after_hello_retry_request)
{
    tls_config *cfg;
    tls_engine *s = server_or_die(NULL, TLS_VMASK_TLS13, &cfg);
    uint8_t random[32], ch[512];
    cr_assert_eq(RAND_bytes(random, 32), 1);
    size_t len = client_hello13(ch, sizeof ch, random, NULL, true);
    cr_assert_eq(feed_plain(s, TLS_CT_HANDSHAKE, ch, len), TLS_OK, "%s", tls_engine_error(s)->detail);
    size_t n;
    const uint8_t *hrr = tls_engine_output(s, &n);
    cr_assert(hrr && n > 5 && hrr[0] == TLS_CT_HANDSHAKE && hrr[5] == TLS_HS_SERVER_HELLO);
    tls_engine_output_done(s, n);

    /* the early data, in records the server has no key for: skipped */
    garbage(s, 5000);
    static const uint8_t ccs[] = {TLS_CT_CCS, 3, 3, 0, 1, 1};
    cr_assert_eq(tls_engine_feed(s, ccs, sizeof ccs, NULL), TLS_OK);
    garbage(s, 5000);
    cr_assert(!(tls_engine_status(s) & TLS_ST_FAILED), "%s", tls_engine_error(s)->detail);

    /* the second ClientHello, with a share: the server goes on */
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    uint8_t pub[32];
    size_t pub_len = sizeof pub;
    cr_assert(key && EVP_PKEY_get_raw_public_key(key, pub, &pub_len) == 1);
    len = client_hello13(ch, sizeof ch, random, pub, false);
    cr_assert_eq(feed_plain(s, TLS_CT_HANDSHAKE, ch, len), TLS_OK, "%s", tls_engine_error(s)->detail);
    const uint8_t *sh = tls_engine_output(s, &n);
    cr_assert(sh && n > 5 && sh[0] == TLS_CT_HANDSHAKE && sh[5] == TLS_HS_SERVER_HELLO);

    /* early data after the second hello is not skipped */
    garbage(s, 64);
    expect_failure(s, TLS_E_ALERT_SENT, TLS_ALERT_BAD_RECORD_MAC, "data after the second ClientHello");
    EVP_PKEY_free(key);
    tls_engine_free(s);
    tls_config_free(cfg);
}

Test(early_data, limit_after_hello_retry_request)
{
    tls_config *cfg;
    tls_engine *s = server_or_die(NULL, TLS_VMASK_TLS13, &cfg);
    uint8_t random[32] = {7}, ch[512];
    size_t len = client_hello13(ch, sizeof ch, random, NULL, true);
    cr_assert_eq(feed_plain(s, TLS_CT_HANDSHAKE, ch, len), TLS_OK);
    garbage(s, TLS_MAX_EARLY_DATA);
    cr_assert(!(tls_engine_status(s) & TLS_ST_FAILED), "%s", tls_engine_error(s)->detail);
    garbage(s, TLS_MAX_EARLY_DATA);
    expect_failure(s, TLS_E_ALERT_SENT, TLS_ALERT_UNEXPECTED_MESSAGE, "too much early data after HRR");
    tls_engine_free(s);
    tls_config_free(cfg);
}

/* ---- ClientHellos over many records (cause 6) -------------------------------------- */

Test(large_hello, spread_over_records)
{
    tls_config *cfg;
    tls_engine *s = server_or_die(TLS12_SUITE, TLS_VMASK_TLS12, &cfg);
    /* our suite first, then 8,000 unknown ones; a 40,000-byte padding extension */
    tls_wr w = tls_wr_dynamic(70000);
    tls_wr_u8(&w, TLS_HS_CLIENT_HELLO);
    size_t msg = tls_wr_begin_vec(&w, 3);
    tls_wr_u16(&w, TLS_TLS12);
    uint8_t random[32] = {1};
    tls_wr_bytes(&w, random, 32);
    tls_wr_u8(&w, 0);
    size_t suites = tls_wr_begin_vec(&w, 2);
    tls_wr_u16(&w, 0xc02f);
    tls_wr_u16(&w, TLS_SCSV_RENEGOTIATION);
    for (uint16_t i = 0; i < 8000; i++)
        tls_wr_u16(&w, (uint16_t)(0x0a00 + i % 0x500));
    tls_wr_end_vec(&w, suites, 2);
    tls_wr_vec(&w, 1, "\0", 1);
    size_t exts = tls_wr_begin_vec(&w, 2);
    put_ext(&w, TLS_EXT_SUPPORTED_GROUPS, "\x00\x02\x00\x17", 4);
    put_ext(&w, TLS_EXT_EC_POINT_FORMATS, "\x01\x00", 2);
    put_ext(&w, TLS_EXT_SIGNATURE_ALGORITHMS, "\x00\x04\x08\x04\x04\x01", 6);
    tls_wr_u16(&w, 21); /* padding (RFC 7685) */
    size_t pad = tls_wr_begin_vec(&w, 2);
    memset(tls_wr_room(&w, 40000), 0, 40000);
    w.len += 40000;
    tls_wr_end_vec(&w, pad, 2);
    tls_wr_end_vec(&w, exts, 2);
    tls_wr_end_vec(&w, msg, 3);
    cr_assert(!w.bad && w.len > 3 * TLS_MAX_PLAINTEXT);
    cr_assert_eq(feed_plain(s, TLS_CT_HANDSHAKE, w.p, w.len), TLS_OK, "%s", tls_engine_error(s)->detail);
    size_t n;
    const uint8_t *sh = tls_engine_output(s, &n);
    cr_assert(sh && n > 5 && sh[0] == TLS_CT_HANDSHAKE && sh[5] == TLS_HS_SERVER_HELLO);
    cr_assert_eq(sh[9 + 2 + 32 + 1 + sh[9 + 2 + 32]], 0xc0); /* after version, random, session id */
    tls_wr_free(&w);
    tls_engine_free(s);
    tls_config_free(cfg);
}

Test(large_hello, header_up_to_2_24_is_not_refused)
{
    tls_config *cfg;
    tls_engine *s = server_or_die(NULL, 0, &cfg);
    /* a ClientHello of 2^24-1 bytes announced: the server waits for it */
    static const uint8_t header[] = {TLS_HS_CLIENT_HELLO, 0xff, 0xff, 0xff, 3, 3};
    cr_assert_eq(feed_plain(s, TLS_CT_HANDSHAKE, header, sizeof header), TLS_OK);
    cr_assert(!(tls_engine_status(s) & TLS_ST_FAILED));
    tls_engine_free(s);
    tls_config_free(cfg);
}
