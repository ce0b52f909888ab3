/* Malformed input: every handshake message of a full handshake truncated at
 * every length (and padded with garbage), broken records, messages out of
 * order. The receiver must answer with the right alert: never crash, never
 * hang, and the sender must learn which alert it was. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handshake.h"
#include "lib/pair.h"

typedef struct setup {
    tls_config *sc, *cc;
    tls_engine *c, *s;
} setup;

static void make(setup *st, const char *ciphers, unsigned versions, bool client_cert)
{
    tls_options so, co;
    tls_options_init(&so);
    tls_options_init(&co);
    so.certfile = pki("server.pem");
    so.keyfile = pki("server.key");
    so.ciphers = co.ciphers = ciphers;
    so.versions = co.versions = versions;
    co.verify = TLS_VERIFY_PEER;
    co.cacertfile = pki("ca.pem");
    co.server_name = "localhost";
    if (client_cert) {
        so.verify = TLS_VERIFY_PEER;
        so.cacertfile = pki("ca.pem");
        co.certfile = pki("client.pem");
        co.keyfile = pki("client.key");
    }
    st->sc = cfg_or_die(&so, true);
    st->cc = cfg_or_die(&co, false);
    cr_assert_eq(tls_engine_new(st->cc, NULL, &st->c, NULL), TLS_OK);
    cr_assert_eq(tls_engine_new(st->sc, NULL, &st->s, NULL), TLS_OK);
}

static void unmake(setup *st)
{
    tls_engine_free(st->c);
    tls_engine_free(st->s);
    tls_config_free(st->cc);
    tls_config_free(st->sc);
}

typedef enum { MUT_TRUNCATE, MUT_APPEND } mutation;

/* Moves from -> to record by record; the handshake message `target` (the
 * n-th of that type) is rewritten: truncated to `len` body bytes, or given
 * `len` extra garbage bytes. Returns true if the target was seen. */
static bool move_mutated(tls_engine *from, tls_engine *to, uint8_t target, mutation m, size_t len,
                         bool *hit, bool *hit_ccs)
{
    size_t n;
    const uint8_t *p;
    while ((p = tls_engine_output(from, &n)) != NULL && n >= 5) {
        size_t rlen = (size_t)p[3] << 8 | p[4];
        size_t total = 5 + rlen;
        cr_assert(n >= total);
        uint8_t *rec = malloc(total + len + 8);
        memcpy(rec, p, total);
        size_t out_len = total;
        if (rec[0] == 20)
            *hit_ccs = true; /* what follows is encrypted */
        if (!*hit && !*hit_ccs && rec[0] == 22 && rlen >= 4 && rec[5] == target) {
            size_t body = (size_t)rec[6] << 16 | (size_t)rec[7] << 8 | rec[8];
            size_t nb = m == MUT_TRUNCATE ? len : body + len;
            if (m == MUT_APPEND)
                for (size_t i = 0; i < len; i++)
                    rec[9 + body + i] = (uint8_t)(0xa5 ^ i);
            rec[6] = (uint8_t)(nb >> 16);
            rec[7] = (uint8_t)(nb >> 8);
            rec[8] = (uint8_t)nb;
            size_t nr = 4 + nb;
            rec[3] = (uint8_t)(nr >> 8);
            rec[4] = (uint8_t)nr;
            out_len = 5 + nr;
            *hit = true;
        }
        tls_engine_output_done(from, total);
        size_t used = 0;
        int rc = tls_engine_feed(to, rec, out_len, &used);
        free(rec);
        if (rc != TLS_OK)
            return true;
    }
    return *hit;
}

/* Runs a handshake in which message `target` from `client_sends` side is mutated.
 * Returns the receiver's error (code 0 if it did not fail). */
static tls_error run_mutated(const char *ciphers, unsigned versions, bool client_cert, bool from_client,
                             uint8_t target, mutation m, size_t len, bool *hit, bool *connected)
{
    setup st;
    make(&st, ciphers, versions, client_cert);
    *hit = false;
    bool ccs = false;
    for (int i = 0; i < 20; i++) {
        if (from_client) {
            move_mutated(st.c, st.s, target, m, len, hit, &ccs);
            pair_move(st.s, st.c);
        } else {
            pair_move(st.c, st.s);
            move_mutated(st.s, st.c, target, m, len, hit, &ccs);
        }
        if ((tls_engine_status(st.c) | tls_engine_status(st.s)) & TLS_ST_FAILED)
            break;
    }
    tls_engine *rx = from_client ? st.s : st.c, *tx = from_client ? st.c : st.s;
    tls_error e = *tls_engine_error(rx);
    if (!(tls_engine_status(rx) & TLS_ST_FAILED))
        e.code = 0;
    /* the alert must reach the sender */
    pair_pump(st.c, st.s);
    if (e.code == TLS_E_ALERT_SENT) {
        cr_assert(tls_engine_status(tx) & TLS_ST_FAILED, "sender did not fail");
        cr_assert_eq(tls_engine_error(tx)->code, TLS_E_ALERT_RECEIVED);
        cr_assert_eq(tls_engine_error(tx)->alert, e.alert);
    }
    *connected = (tls_engine_status(st.c) & TLS_ST_CONNECTED) && (tls_engine_status(st.s) & TLS_ST_CONNECTED);
    unmake(&st);
    return e;
}

typedef struct case_def {
    const char *name;
    const char *ciphers;
    unsigned versions;
    bool client_cert;
    bool from_client;
    uint8_t type;
    bool may_survive; /* a shorter message can be valid (hello without extensions) */
} case_def;

static const case_def cases[] = {
    {"ClientHello", "ECDHE-RSA-AES128-GCM-SHA256", TLS_VMASK_TLS12, false, true, 1, true},
    {"ServerHello", "ECDHE-RSA-AES128-GCM-SHA256", TLS_VMASK_TLS12, false, false, 2, true},
    {"Certificate(server)", "ECDHE-RSA-AES128-GCM-SHA256", TLS_VMASK_TLS12, false, false, 11, false},
    {"ServerKeyExchange(ECDHE)", "ECDHE-RSA-AES128-GCM-SHA256", TLS_VMASK_TLS12, false, false, 12, false},
    {"ServerKeyExchange(DHE)", "DHE-RSA-AES128-GCM-SHA256", TLS_VMASK_TLS12, false, false, 12, false},
    {"CertificateRequest", "ECDHE-RSA-AES128-GCM-SHA256", TLS_VMASK_TLS12, true, false, 13, false},
    {"ServerHelloDone", "ECDHE-RSA-AES128-GCM-SHA256", TLS_VMASK_TLS12, false, false, 14, false},
    {"Certificate(client)", "ECDHE-RSA-AES128-GCM-SHA256", TLS_VMASK_TLS12, true, true, 11, false},
    {"ClientKeyExchange(ECDHE)", "ECDHE-RSA-AES128-GCM-SHA256", TLS_VMASK_TLS12, false, true, 16, false},
    {"ClientKeyExchange(DHE)", "DHE-RSA-AES128-GCM-SHA256", TLS_VMASK_TLS12, false, true, 16, false},
    {"ClientKeyExchange(RSA)", "AES128-SHA", TLS_VMASK_TLS12, false, true, 16, false},
    {"CertificateVerify", "ECDHE-RSA-AES128-GCM-SHA256", TLS_VMASK_TLS12, true, true, 15, false},
    {"CertificateVerify(TLS1.0)", "AES128-SHA", TLS_VMASK_TLS10, true, true, 15, false},
    {"ServerKeyExchange(TLS1.0)", "ECDHE-RSA-AES128-SHA", TLS_VMASK_TLS10, false, false, 12, false},
    {"ClientHello(TLS1.3)", "TLS_AES_128_GCM_SHA256", TLS_VMASK_TLS13, false, true, 1, false},
    {"ServerHello(TLS1.3)", "TLS_AES_128_GCM_SHA256", TLS_VMASK_TLS13, false, false, 2, false},
};

static size_t body_len_of(const case_def *cd)
{
    /* learn the real length with one clean run that records it */
    setup st;
    make(&st, cd->ciphers, cd->versions, cd->client_cert);
    size_t found = 0;
    for (int i = 0; i < 20 && !found; i++) {
        tls_engine *tx = cd->from_client ? st.c : st.s, *rx = cd->from_client ? st.s : st.c;
        size_t n;
        const uint8_t *p = tls_engine_output(tx, &n);
        size_t off = 0;
        while (p && off + 9 <= n && p[off] != 20) {
            size_t rlen = (size_t)p[off + 3] << 8 | p[off + 4];
            if (p[off] == 22 && p[off + 5] == cd->type) {
                found = (size_t)p[off + 6] << 16 | (size_t)p[off + 7] << 8 | p[off + 8];
                break;
            }
            off += 5 + rlen;
        }
        pair_move(tx, rx);
        pair_move(rx, tx);
    }
    unmake(&st);
    return found;
}

Test(malformed, every_handshake_message_truncated_at_every_length, .timeout = 600)
{
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const case_def *cd = &cases[k];
        size_t full = body_len_of(cd);
        cr_assert(full > 0 || cd->type == 14, "%s: message not seen", cd->name);
        size_t step = full > 400 ? full / 97 + 1 : 1; /* long certificates: sample */
        size_t decode_errors = 0, runs = 0;
        for (size_t len = 0; len < full; len += step) {
            bool hit = false, connected = false;
            tls_error e = run_mutated(cd->ciphers, cd->versions, cd->client_cert, cd->from_client, cd->type,
                                      MUT_TRUNCATE, len, &hit, &connected);
            cr_assert(hit, "%s: target not intercepted", cd->name);
            runs++;
            if (e.code == 0 || (cd->may_survive && e.code == TLS_E_ALERT_RECEIVED)) {
                /* a hello cut at the end of a field list can be a valid, shorter hello;
                 * the handshake then fails later, at Finished, or succeeds */
                cr_assert(cd->may_survive, "%s truncated to %zu of %zu bytes was accepted", cd->name, len, full);
                continue;
            }
            cr_assert(e.code == TLS_E_ALERT_SENT || e.code == TLS_E_BAD_CERT,
                      "%s truncated to %zu: code %d", cd->name, len, e.code);
            cr_assert(e.alert > 0, "%s truncated to %zu: no alert", cd->name, len);
            decode_errors += e.alert == TLS_ALERT_DECODE_ERROR;
        }
        if (full)
            cr_assert(decode_errors * 2 >= runs, "%s: only %zu of %zu truncations gave decode_error", cd->name,
                      decode_errors, runs);
    }
}

Test(malformed, every_handshake_message_with_trailing_garbage)
{
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const case_def *cd = &cases[k];
        for (size_t extra = 1; extra <= 7; extra += 3) {
            bool hit = false, connected = false;
            tls_error e = run_mutated(cd->ciphers, cd->versions, cd->client_cert, cd->from_client, cd->type,
                                      MUT_APPEND, extra, &hit, &connected);
            cr_assert(hit, "%s + %zu: target not intercepted", cd->name, extra);
            cr_assert_neq(e.code, 0, "%s with %zu garbage bytes was accepted", cd->name, extra);
            cr_assert(e.alert > 0, "%s + %zu garbage: no alert", cd->name, extra);
        }
    }
}

/* ---- record layer ----------------------------------------------------------- */

static tls_error feed_server(const uint8_t *bytes, size_t len)
{
    setup st;
    make(&st, "ECDHE-RSA-AES128-GCM-SHA256", TLS_VMASK_TLS12, false);
    size_t used;
    tls_engine_feed(st.s, bytes, len, &used);
    tls_error e = *tls_engine_error(st.s);
    if (!(tls_engine_status(st.s) & TLS_ST_FAILED))
        e.code = 0;
    unmake(&st);
    return e;
}

Test(malformed, records)
{
    static const uint8_t unknown_type[] = {99, 3, 3, 0, 1, 0};
    static const uint8_t bad_major[] = {22, 9, 1, 0, 1, 0};
    static const uint8_t too_long[] = {22, 3, 3, 0x48, 0x01};
    static const uint8_t early_ccs[] = {20, 3, 3, 0, 1, 1};
    static const uint8_t early_data[] = {23, 3, 3, 0, 3, 'a', 'b', 'c'};
    static const uint8_t short_alert[] = {21, 3, 3, 0, 1, 2};
    static const uint8_t empty_hs[] = {22, 3, 3, 0, 0};
    static const uint8_t huge_msg[] = {22, 3, 3, 0, 4, 11, 0x10, 0, 0}; /* a ClientHello may be this long */
    static const uint8_t hello_request[] = {22, 3, 1, 0, 4, 0, 0, 0, 0};
    static const uint8_t http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    struct {
        const char *name;
        const uint8_t *p;
        size_t len;
        int alert;
    } t[] = {
        {"unknown content type", unknown_type, sizeof unknown_type, TLS_ALERT_UNEXPECTED_MESSAGE},
        {"bad version", bad_major, sizeof bad_major, TLS_ALERT_PROTOCOL_VERSION},
        {"record too long", too_long, sizeof too_long, TLS_ALERT_RECORD_OVERFLOW},
        {"early ChangeCipherSpec", early_ccs, sizeof early_ccs, TLS_ALERT_UNEXPECTED_MESSAGE},
        {"early application data", early_data, sizeof early_data, TLS_ALERT_UNEXPECTED_MESSAGE},
        {"one-byte alert", short_alert, sizeof short_alert, TLS_ALERT_DECODE_ERROR},
        {"empty handshake record", empty_hs, sizeof empty_hs, TLS_ALERT_UNEXPECTED_MESSAGE},
        {"1 MiB handshake message", huge_msg, sizeof huge_msg, TLS_ALERT_ILLEGAL_PARAMETER},
        {"HelloRequest to a server", hello_request, sizeof hello_request, TLS_ALERT_UNEXPECTED_MESSAGE},
        {"plaintext HTTP", http, sizeof http - 1, TLS_ALERT_UNEXPECTED_MESSAGE},
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        tls_error e = feed_server(t[i].p, t[i].len);
        cr_assert_eq(e.code, TLS_E_ALERT_SENT, "%s: code %d", t[i].name, e.code);
        cr_assert_eq(e.alert, t[i].alert, "%s: alert %s, expected %s", t[i].name, tls_alert_name(e.alert),
                     tls_alert_name(t[i].alert));
    }
}

Test(malformed, tampered_protected_record_gives_bad_record_mac)
{
    setup st;
    make(&st, "ECDHE-RSA-AES128-GCM-SHA256", TLS_VMASK_TLS12, false);
    cr_assert(pair_handshake(st.c, st.s));
    size_t acc;
    cr_assert_eq(tls_engine_write(st.c, (const uint8_t *)"secret", 6, &acc), TLS_OK);
    size_t n;
    const uint8_t *p = tls_engine_output(st.c, &n);
    uint8_t *copy = malloc(n);
    memcpy(copy, p, n);
    copy[n - 1] ^= 1;
    tls_engine_output_done(st.c, n);
    size_t used;
    tls_engine_feed(st.s, copy, n, &used);
    free(copy);
    cr_assert_eq(tls_engine_error(st.s)->alert, TLS_ALERT_BAD_RECORD_MAC);
    pair_pump(st.c, st.s);
    cr_assert_eq(tls_engine_error(st.c)->code, TLS_E_ALERT_RECEIVED);
    cr_assert_eq(tls_engine_error(st.c)->alert, TLS_ALERT_BAD_RECORD_MAC);
    unmake(&st);
}

Test(malformed, byte_by_byte_delivery_and_random_garbage_never_hang)
{
    /* a handshake delivered one byte at a time completes */
    setup st;
    make(&st, "ECDHE-RSA-AES128-GCM-SHA256", TLS_VMASK_TLS12, false);
    for (int round = 0; round < 200; round++) {
        bool moved = false;
        tls_engine *pairs[2][2] = {{st.c, st.s}, {st.s, st.c}};
        for (int d = 0; d < 2; d++) {
            size_t n;
            const uint8_t *p = tls_engine_output(pairs[d][0], &n);
            while (p && n) {
                size_t used = 0;
                tls_engine_feed(pairs[d][1], p, 1, &used);
                tls_engine_output_done(pairs[d][0], used);
                moved = true;
                p = tls_engine_output(pairs[d][0], &n);
            }
        }
        if (!moved)
            break;
    }
    cr_assert(tls_engine_status(st.c) & TLS_ST_CONNECTED);
    cr_assert(tls_engine_status(st.s) & TLS_ST_CONNECTED);
    unmake(&st);

    /* random bytes: always a failure with an alert, never a crash */
    srand(1234);
    for (int i = 0; i < 300; i++) {
        uint8_t junk[64];
        for (size_t k = 0; k < sizeof junk; k++)
            junk[k] = (uint8_t)rand();
        if (i & 1)
            junk[0] = 22; /* get past the content type now and then */
        if (i & 2) {
            junk[1] = 3;
            junk[2] = 1;
        }
        tls_error e = feed_server(junk, sizeof junk);
        if (e.code != 0)
            cr_assert(e.alert > 0 || e.code == TLS_E_ALERT_SENT, "junk %d: code %d without alert", i, e.code);
    }
}

/* ---- TLS 1.3: the encrypted server flight -------------------------------------
 * EncryptedExtensions, Certificate, CertificateVerify and Finished travel under
 * the server's handshake traffic key. The test holds that key (it reads the
 * server's handshake state), opens each record, truncates the target message
 * and seals it again, so the client sees a well-protected but short message. */
#include "keysched13.h"

static tls_error run13_truncated(uint8_t target, size_t keep, bool client_cert, size_t *full_len)
{
    setup st;
    make(&st, "TLS_AES_128_GCM_SHA256", TLS_VMASK_TLS13, client_cert);
    pair_move(st.c, st.s); /* ClientHello; the server answers with its whole flight */
    tls_rec_crypto dec, enc;
    memset(&dec, 0, sizeof dec);
    memset(&enc, 0, sizeof enc);
    cr_assert(tls13_rec_init(&dec, st.s->suite, false, st.s->hs->s_hs));
    cr_assert(tls13_rec_init(&enc, st.s->suite, true, st.s->hs->s_hs));
    size_t n;
    const uint8_t *p = tls_engine_output(st.s, &n);
    uint8_t *out = malloc(n + 256);
    size_t off = 0, w = 0;
    *full_len = 0;
    while (off + 5 <= n) {
        size_t rlen = (size_t)p[off + 3] << 8 | p[off + 4];
        uint8_t rec[TLS_RECORD_HEADER + TLS_MAX_CIPHERTEXT];
        memcpy(rec, p + off, 5 + rlen);
        off += 5 + rlen;
        if (rec[0] != 23 || !dec.suite) { /* ServerHello and the compatibility CCS */
            memcpy(out + w, rec, 5 + rlen);
            w += 5 + rlen;
            continue;
        }
        uint8_t *pt;
        size_t pt_len;
        cr_assert_eq(tls_rec_open(&dec, 23, rec + 5, rlen, &pt, &pt_len), 0);
        uint8_t inner = dec.inner_type, msg[TLS_MAX_PLAINTEXT];
        memcpy(msg, pt, pt_len);
        if (inner == 22 && pt_len >= 4 && msg[0] == target) {
            *full_len = (size_t)msg[1] << 16 | (size_t)msg[2] << 8 | msg[3];
            if (keep < *full_len) {
                msg[1] = (uint8_t)(keep >> 16);
                msg[2] = (uint8_t)(keep >> 8);
                msg[3] = (uint8_t)keep;
                pt_len = 4 + keep;
            }
        }
        size_t sealed;
        cr_assert(tls_rec_seal(&enc, inner, 0x0303, msg, pt_len, out + w, n + 256 - w, &sealed));
        w += sealed;
    }
    tls_engine_output_done(st.s, n);
    size_t used;
    tls_engine_feed(st.c, out, w, &used);
    free(out);
    tls_rec_clear(&dec);
    tls_rec_clear(&enc);
    pair_pump(st.c, st.s);
    tls_error e = *tls_engine_error(st.c);
    if (!(tls_engine_status(st.c) & TLS_ST_FAILED))
        e.code = 0;
    if (e.code == TLS_E_ALERT_SENT) { /* the alert reaches the server, encrypted */
        cr_assert_eq(tls_engine_error(st.s)->code, TLS_E_ALERT_RECEIVED);
        cr_assert_eq(tls_engine_error(st.s)->alert, e.alert);
    }
    unmake(&st);
    return e;
}

Test(malformed, tls13_encrypted_server_messages_truncated, .timeout = 600)
{
    struct {
        const char *name;
        uint8_t type;
        bool client_cert;
    } t[] = {
        {"EncryptedExtensions", 8, false}, {"CertificateRequest", 13, true}, {"Certificate", 11, false},
        {"CertificateVerify", 15, false},  {"Finished", 20, false},
    };
    for (size_t k = 0; k < sizeof t / sizeof *t; k++) {
        size_t full = 0;
        tls_error e = run13_truncated(t[k].type, SIZE_MAX, t[k].client_cert, &full);
        cr_assert_eq(e.code, 0, "%s untouched: the handshake must work (%s)", t[k].name, e.detail);
        cr_assert(full > 0, "%s not seen", t[k].name);
        size_t step = full > 300 ? full / 61 + 1 : 1;
        for (size_t keep = 0; keep < full; keep += step) {
            size_t f2;
            e = run13_truncated(t[k].type, keep, t[k].client_cert, &f2);
            cr_assert_eq(e.code, TLS_E_ALERT_SENT, "%s cut to %zu of %zu: code %d (%s)", t[k].name, keep, full, e.code,
                         e.detail);
            cr_assert(e.alert == TLS_ALERT_DECODE_ERROR || e.alert == TLS_ALERT_DECRYPT_ERROR ||
                          e.alert == TLS_ALERT_BAD_CERTIFICATE || e.alert == TLS_ALERT_ILLEGAL_PARAMETER,
                      "%s cut to %zu: alert %s", t[k].name, keep, tls_alert_name(e.alert));
        }
    }
}

Test(malformed, protected_record_with_another_version_is_refused)
{
    /* the header of a protected record carries the negotiated version
     * (0x0303 in TLS 1.3, whose AAD fixes it): any other value is tampering */
    unsigned versions[] = {TLS_VMASK_TLS13, TLS_VMASK_TLS12};
    const char *ciphers[] = {"TLS_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"};
    for (int k = 0; k < 2; k++) {
        setup st;
        make(&st, ciphers[k], versions[k], false);
        cr_assert(pair_handshake(st.c, st.s));
        size_t acc, n, used;
        cr_assert_eq(tls_engine_write(st.c, (const uint8_t *)"data", 4, &acc), TLS_OK);
        const uint8_t *p = tls_engine_output(st.c, &n);
        uint8_t *copy = malloc(n);
        memcpy(copy, p, n);
        copy[2] = 0x01; /* 0x0303 -> 0x0301 */
        tls_engine_output_done(st.c, n);
        tls_engine_feed(st.s, copy, n, &used);
        free(copy);
        cr_assert(tls_engine_status(st.s) & TLS_ST_FAILED, "k=%d: a rewritten record version was accepted", k);
        cr_assert_eq(tls_engine_error(st.s)->alert, TLS_ALERT_PROTOCOL_VERSION);
        unmake(&st);
    }
}

Test(malformed, protected_handshake_record_with_another_version_is_refused)
{
    /* the same during the handshake: TLS 1.3's first encrypted server record */
    setup st;
    make(&st, "TLS_AES_128_GCM_SHA256", TLS_VMASK_TLS13, false);
    pair_move(st.c, st.s);
    size_t n, used;
    const uint8_t *p = tls_engine_output(st.s, &n);
    uint8_t *copy = malloc(n);
    memcpy(copy, p, n);
    size_t off = 0;
    while (off + 5 <= n && copy[off] != 23)
        off += 5 + ((size_t)copy[off + 3] << 8 | copy[off + 4]);
    cr_assert(off + 5 <= n, "no encrypted record in the server's flight");
    copy[off + 2] = 0x01;
    tls_engine_output_done(st.s, n);
    tls_engine_feed(st.c, copy, n, &used);
    free(copy);
    cr_assert(tls_engine_status(st.c) & TLS_ST_FAILED, "a rewritten record version was accepted");
    cr_assert_eq(tls_engine_error(st.c)->alert, TLS_ALERT_PROTOCOL_VERSION);
    unmake(&st);
}
