/* The server's answer to hand-made ClientHellos (issue 6's hello-level
 * causes): it answers only the extensions offered, takes an empty extensions
 * block, enforces TLS_FALLBACK_SCSV against its best version (TLS 1.3
 * included), tolerates legacy versions above TLS 1.2, refuses a TLS 1.3
 * legacy_version of SSL 3.0 or below, parses hellos of any size and applies
 * RFC 7627 5.3 to resumption. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "handshake.h"
#include "lib/pair.h"

#define ECDHE_RSA_AES128_GCM 0xc02f
#define RSA_AES128_GCM 0x009c
#define TLS13_AES128_GCM 0x1301
#define SIG_RSA_PSS_RSAE_SHA256 0x0804
#define EXT_PADDING 21

/* ---- a ClientHello written by hand ---- */

typedef struct hello {
    uint16_t version;
    const uint16_t *suites;
    size_t n_suites;
    size_t n_filler_suites;   /* unknown suites before the real ones */
    tls_wr exts;              /* the extensions, each with type and length */
    bool no_ext_block;        /* leave the block out entirely */
    const uint8_t *session_id;
    size_t session_id_len;
} hello;

static void hello_init(hello *h, uint16_t version, const uint16_t *suites, size_t n)
{
    memset(h, 0, sizeof *h);
    h->version = version;
    h->suites = suites;
    h->n_suites = n;
    h->exts = tls_wr_dynamic(256);
}

static void ext(hello *h, uint16_t type, const void *body, size_t len)
{
    tls_wr_u16(&h->exts, type);
    tls_wr_vec(&h->exts, 2, body, len);
}

static void ext_u16_list(hello *h, uint16_t type, int prefix, const uint16_t *v, size_t n, size_t repeat_first)
{
    tls_wr b = tls_wr_dynamic(64);
    size_t at = tls_wr_begin_vec(&b, prefix);
    for (size_t i = 0; i < repeat_first; i++)
        tls_wr_u16(&b, v[0]);
    for (size_t i = 0; i < n; i++)
        tls_wr_u16(&b, v[i]);
    tls_wr_end_vec(&b, at, prefix);
    cr_assert(!b.bad);
    ext(h, type, b.p, b.len);
    tls_wr_free(&b);
}

static void ext_groups(hello *h, uint16_t group) { ext_u16_list(h, TLS_EXT_SUPPORTED_GROUPS, 2, &group, 1, 0); }

static void ext_sigalgs(hello *h)
{
    static const uint16_t pss = SIG_RSA_PSS_RSAE_SHA256;
    ext_u16_list(h, TLS_EXT_SIGNATURE_ALGORITHMS, 2, &pss, 1, 0);
}

static void ext_versions(hello *h, const uint16_t *v, size_t n)
{
    tls_wr b = tls_wr_dynamic(16);
    size_t at = tls_wr_begin_vec(&b, 1);
    for (size_t i = 0; i < n; i++)
        tls_wr_u16(&b, v[i]);
    tls_wr_end_vec(&b, at, 1);
    ext(h, TLS_EXT_SUPPORTED_VERSIONS, b.p, b.len);
    tls_wr_free(&b);
}

/* key_share with an x25519 share (any 32 bytes but zero do for a hello that
 * is answered before any secret is used) */
static void ext_x25519_share(hello *h)
{
    tls_wr b = tls_wr_dynamic(64);
    size_t at = tls_wr_begin_vec(&b, 2);
    tls_wr_u16(&b, 29);
    uint8_t pub[32];
    memset(pub, 9, sizeof pub);
    tls_wr_vec(&b, 2, pub, sizeof pub);
    tls_wr_end_vec(&b, at, 2);
    ext(h, TLS_EXT_KEY_SHARE, b.p, b.len);
    tls_wr_free(&b);
}

/* The whole handshake message, header included. */
static tls_wr hello_message(hello *h)
{
    tls_wr w = tls_wr_dynamic(1024);
    tls_wr_u8(&w, TLS_HS_CLIENT_HELLO);
    size_t msg = tls_wr_begin_vec(&w, 3);
    tls_wr_u16(&w, h->version);
    uint8_t random[32];
    memset(random, 0x42, sizeof random);
    tls_wr_bytes(&w, random, 32);
    tls_wr_vec(&w, 1, h->session_id, h->session_id_len);
    size_t s = tls_wr_begin_vec(&w, 2);
    for (size_t i = 0; i < h->n_filler_suites; i++)
        tls_wr_u16(&w, (uint16_t)(0x7a00 + (i & 0xff))); /* unassigned */
    for (size_t i = 0; i < h->n_suites; i++)
        tls_wr_u16(&w, h->suites[i]);
    tls_wr_end_vec(&w, s, 2);
    tls_wr_u8(&w, 1);
    tls_wr_u8(&w, 0);
    if (!h->no_ext_block)
        tls_wr_vec(&w, 2, h->exts.p, h->exts.len);
    tls_wr_end_vec(&w, msg, 3);
    cr_assert(!w.bad);
    tls_wr_free(&h->exts);
    return w;
}

/* ---- the server and its answer ---- */

typedef struct answer {
    int alert;              /* the fatal alert the server sent, -1 if none */
    uint16_t version;       /* ServerHello.server_version (or 1.3 from supported_versions) */
    uint16_t exts[32];      /* ServerHello extension types */
    size_t n_exts;
    bool server_hello;
} answer;

static tls_config *server_config_strict(unsigned versions, bool reuse, bool secure_renegotiate)
{
    tls_options o;
    tls_options_init(&o);
    o.certfile = pki("server.pem");
    o.keyfile = pki("server.key");
    o.versions = versions;
    o.ciphers = "ALL";
    o.security_level = 0; /* hellos without signature_algorithms: RFC 5246's SHA-1 default */
    o.secure_renegotiate = secure_renegotiate;
    o.reuse_sessions = reuse;
    return cfg_or_die(&o, true);
}

static tls_config *server_config(unsigned versions, bool reuse)
{
    return server_config_strict(versions, reuse, false);
}

static void read_server_hello(answer *a, const uint8_t *body, size_t len)
{
    tls_rd r = tls_rd_make(body, len);
    a->version = tls_rd_u16(&r);
    (void)tls_rd_bytes(&r, 32);
    (void)tls_rd_vec(&r, 1, 0, 32);
    (void)tls_rd_u16(&r);
    (void)tls_rd_u8(&r);
    tls_rd exts = tls_rd_left(&r) ? tls_rd_vec(&r, 2, 0, 0xffff) : tls_rd_make(NULL, 0);
    while (tls_rd_left(&exts) && a->n_exts < 32) {
        uint16_t type = tls_rd_u16(&exts);
        tls_rd b = tls_rd_vec(&exts, 2, 0, 0xffff);
        if (type == TLS_EXT_SUPPORTED_VERSIONS)
            a->version = tls_rd_u16(&b);
        a->exts[a->n_exts++] = type;
    }
    cr_assert(!r.bad && !exts.bad, "the ServerHello parses");
}

/* Feeds bytes until the engine took them all or failed. */
static bool feed_all(tls_engine *s, const uint8_t *p, size_t len)
{
    while (len) {
        size_t used = 0;
        if (tls_engine_feed(s, p, len, &used) != TLS_OK || !used)
            return false;
        p += used;
        len -= used;
    }
    return true;
}

/* Feeds the hello in records of at most 2^14 bytes; reads what comes back. */
static answer ask(tls_engine *s, tls_wr *msg)
{
    answer a = {.alert = -1};
    for (size_t off = 0; off < msg->len;) {
        size_t n = msg->len - off > 16384 ? 16384 : msg->len - off;
        uint8_t hdr[5] = {22, 3, 1, (uint8_t)(n >> 8), (uint8_t)n};
        if (!feed_all(s, hdr, 5) || !feed_all(s, msg->p + off, n))
            break;
        off += n;
    }
    tls_wr_free(msg);
    size_t n;
    const uint8_t *p = tls_engine_output(s, &n);
    while (p && n >= 5) {
        size_t rlen = (size_t)p[3] << 8 | p[4];
        cr_assert(n >= 5 + rlen);
        if (p[0] == TLS_CT_ALERT && rlen == 2 && p[5] == 2)
            a.alert = p[6];
        if (p[0] == TLS_CT_HANDSHAKE && !a.server_hello && p[5] == TLS_HS_SERVER_HELLO) {
            a.server_hello = true;
            size_t blen = (size_t)p[6] << 16 | (size_t)p[7] << 8 | p[8];
            read_server_hello(&a, p + 9, blen);
        }
        tls_engine_output_done(s, 5 + rlen);
        p = tls_engine_output(s, &n);
    }
    return a;
}

static answer ask_new(unsigned versions, tls_wr msg)
{
    tls_config *c = server_config(versions, false);
    tls_engine *s;
    cr_assert_eq(tls_engine_new(c, NULL, &s, NULL), TLS_OK);
    answer a = ask(s, &msg);
    tls_engine_free(s);
    tls_config_free(c);
    return a;
}

static bool has_ext(const answer *a, uint16_t type)
{
    for (size_t i = 0; i < a->n_exts; i++)
        if (a->exts[i] == type)
            return true;
    return false;
}

#define ALL_VERSIONS (TLS_VMASK_TLS10 | TLS_VMASK_TLS11 | TLS_VMASK_TLS12 | TLS_VMASK_TLS13)
static const uint16_t ecdhe[] = {ECDHE_RSA_AES128_GCM};

/* ---- cause 1: only what was offered; the empty extensions block ---- */

Test(hello, server_hello_answers_only_offered_extensions)
{
    hello h;
    hello_init(&h, TLS_TLS12, ecdhe, 1);
    ext_groups(&h, 23); /* no ec_point_formats, no EMS, no renegotiation_info */
    answer a = ask_new(ALL_VERSIONS, hello_message(&h));
    cr_assert(a.server_hello, "alert %d instead of a ServerHello", a.alert);
    cr_assert_eq(a.version, TLS_TLS12);
    cr_assert_eq(a.n_exts, 0, "the ServerHello carries %zu extensions nobody asked for (first %u)", a.n_exts,
                 a.n_exts ? a.exts[0] : 0);

    static const uint8_t formats[] = {1, 0};
    hello_init(&h, TLS_TLS12, ecdhe, 1);
    ext_groups(&h, 23);
    ext(&h, TLS_EXT_EC_POINT_FORMATS, formats, sizeof formats);
    ext(&h, TLS_EXT_EXTENDED_MASTER_SECRET, NULL, 0);
    a = ask_new(ALL_VERSIONS, hello_message(&h));
    cr_assert(a.server_hello && has_ext(&a, TLS_EXT_EC_POINT_FORMATS) &&
              has_ext(&a, TLS_EXT_EXTENDED_MASTER_SECRET) && a.n_exts == 2);
}

Test(hello, empty_extensions_block_is_a_hello)
{
    static const uint16_t rsa[] = {RSA_AES128_GCM, ECDHE_RSA_AES128_GCM};
    hello h;
    hello_init(&h, TLS_TLS12, rsa, 2);
    answer a = ask_new(ALL_VERSIONS, hello_message(&h)); /* a block of length 0 */
    cr_assert(a.server_hello, "alert %d to an empty extensions block", a.alert);
    cr_assert_eq(a.version, TLS_TLS12);
    hello_init(&h, TLS_TLS12, rsa, 2);
    h.no_ext_block = true;
    a = ask_new(ALL_VERSIONS, hello_message(&h));
    cr_assert(a.server_hello, "alert %d to a hello without extensions", a.alert);
}

Test(hello, extension_twice_is_illegal_parameter)
{
    hello h;
    hello_init(&h, TLS_TLS12, ecdhe, 1);
    ext_groups(&h, 23);
    ext_groups(&h, 23);
    cr_assert_eq(ask_new(ALL_VERSIONS, hello_message(&h)).alert, TLS_ALERT_ILLEGAL_PARAMETER);
}

/* ---- cause 4: TLS_FALLBACK_SCSV when our best is TLS 1.3 ---- */

Test(hello, fallback_scsv_below_tls13_is_inappropriate_fallback)
{
    static const uint16_t with_scsv[] = {ECDHE_RSA_AES128_GCM, TLS_SCSV_FALLBACK};
    hello h;
    hello_init(&h, TLS_TLS12, with_scsv, 2);
    ext_groups(&h, 23);
    cr_assert_eq(ask_new(ALL_VERSIONS, hello_message(&h)).alert, TLS_ALERT_INAPPROPRIATE_FALLBACK);
    /* the same hello to a server whose best is TLS 1.2 goes ahead */
    hello_init(&h, TLS_TLS12, with_scsv, 2);
    ext_groups(&h, 23);
    answer a = ask_new(TLS_VMASK_TLS12, hello_message(&h));
    cr_assert(a.server_hello && a.version == TLS_TLS12);
}

/* ---- cause 5: version tolerance, TLS 1.3 legacy_version ---- */

Test(hello, legacy_version_above_tls12_negotiates_tls12)
{
    static const uint16_t versions[] = {0x0304, 0x0401, 0xfefe, 0x03ff};
    for (size_t i = 0; i < sizeof versions / sizeof *versions; i++) {
        hello h;
        hello_init(&h, versions[i], ecdhe, 1);
        ext_groups(&h, 23);
        answer a = ask_new(ALL_VERSIONS, hello_message(&h));
        cr_assert(a.server_hello, "legacy_version 0x%04x got alert %d", versions[i], a.alert);
        cr_assert_eq(a.version, TLS_TLS12, "legacy_version 0x%04x gave 0x%04x", versions[i], a.version);
    }
}

Test(hello, tls13_legacy_version_ssl3_or_below_is_protocol_version)
{
    static const uint16_t legacy[] = {0x0300, 0x0000, 0x0200, 0x0103};
    static const uint16_t v13[] = {TLS_TLS13, TLS_TLS12};
    static const uint16_t suites[] = {TLS13_AES128_GCM};
    for (size_t i = 0; i < sizeof legacy / sizeof *legacy; i++) {
        hello h;
        hello_init(&h, legacy[i], suites, 1);
        ext_versions(&h, v13, 2);
        ext_groups(&h, 29);
        ext_x25519_share(&h);
        ext_sigalgs(&h);
        cr_assert_eq(ask_new(ALL_VERSIONS, hello_message(&h)).alert, TLS_ALERT_PROTOCOL_VERSION,
                     "legacy_version 0x%04x", legacy[i]);
    }
    /* 0x0303, as RFC 8446 asks, negotiates TLS 1.3 */
    hello h;
    hello_init(&h, TLS_TLS12, suites, 1);
    ext_versions(&h, v13, 2);
    ext_groups(&h, 29);
    ext_x25519_share(&h);
    ext_sigalgs(&h);
    answer a = ask_new(ALL_VERSIONS, hello_message(&h));
    cr_assert(a.server_hello && a.version == TLS_TLS13, "alert %d, version 0x%04x", a.alert, a.version);
}

/* ---- cause 6: large hellos ---- */

Test(hello, eight_thousand_suites_with_ours_last)
{
    hello h;
    hello_init(&h, TLS_TLS12, ecdhe, 1);
    h.n_filler_suites = 8190;
    ext_groups(&h, 23);
    answer a = ask_new(ALL_VERSIONS, hello_message(&h));
    cr_assert(a.server_hello, "alert %d", a.alert);
}

Test(hello, thirty_two_thousand_signature_schemes_with_ours_last)
{
    /* 32,713 copies of a scheme we know (DSA-SHA1), then RSA-PSS: the list
     * is scanned, each scheme kept once */
    static const uint16_t schemes[] = {0x0202, SIG_RSA_PSS_RSAE_SHA256};
    static const uint16_t v13[] = {TLS_TLS13};
    static const uint16_t suites[] = {TLS13_AES128_GCM};
    hello h;
    hello_init(&h, TLS_TLS12, suites, 1);
    ext_versions(&h, v13, 1);
    ext_groups(&h, 29);
    ext_x25519_share(&h);
    ext_u16_list(&h, TLS_EXT_SIGNATURE_ALGORITHMS, 2, schemes, 2, 32713 - 1);
    answer a = ask_new(ALL_VERSIONS, hello_message(&h));
    cr_assert(a.server_hello && a.version == TLS_TLS13, "alert %d", a.alert);
}

Test(hello, big_padding_parses)
{
    hello h;
    hello_init(&h, TLS_TLS12, ecdhe, 1);
    ext_groups(&h, 23);
    uint8_t *pad = calloc(1, 65000);
    ext(&h, EXT_PADDING, pad, 65000);
    free(pad);
    answer a = ask_new(ALL_VERSIONS, hello_message(&h));
    cr_assert(a.server_hello, "alert %d", a.alert);
}

/* ---- RFC 7627 5.3 on resumption ---- */

/* A session with EMS offered again without it, by its id or (ticket) in
 * session_ticket: handshake_failure either way. */
static void check_ems_session_not_resumed_without_ems(bool ticket)
{
    tls_config *sc = server_config(TLS_VMASK_TLS12, true);
    tls_options co;
    tls_options_init(&co);
    co.versions = TLS_VMASK_TLS12;
    co.verify = TLS_VERIFY_NONE;
    co.server_name = "localhost";
    co.reuse_sessions = ticket; /* without session_ticket the server keeps the session by id */
    tls_config *cc = cfg_or_die(&co, false);
    tls_engine *c, *s;
    cr_assert_eq(tls_engine_new(cc, NULL, &c, NULL), TLS_OK);
    cr_assert_eq(tls_engine_new(sc, NULL, &s, NULL), TLS_OK);
    cr_assert(pair_handshake(c, s));
    cr_assert(s->ems && s->session_id_len == (ticket ? 0u : 32u));
    uint8_t id[32];
    memcpy(id, s->session_id, 32);
    tls_session kept;
    memset(&kept, 0, sizeof kept);
    cr_assert(!ticket || tls_cache_get_by_name(&cc->cache, "localhost", &kept));
    tls_engine_free(c);
    tls_engine_free(s);

    hello h; /* the session's id or ticket and suite, without extended_master_secret */
    static const uint16_t suites[] = {ECDHE_RSA_AES128_GCM, 0xc030, RSA_AES128_GCM};
    hello_init(&h, TLS_TLS12, suites, 3);
    h.session_id = id;
    h.session_id_len = 32;
    ext_groups(&h, 23);
    if (ticket)
        ext(&h, TLS_EXT_SESSION_TICKET, kept.ticket, kept.ticket_len);
    cr_assert_eq(tls_engine_new(sc, NULL, &s, NULL), TLS_OK);
    tls_wr msg = hello_message(&h);
    cr_assert_eq(ask(s, &msg).alert, TLS_ALERT_HANDSHAKE_FAILURE);
    tls_engine_free(s);
    tls_session_wipe(&kept);
    tls_config_free(cc);
    tls_config_free(sc);
}

Test(hello, ems_session_not_resumed_without_ems) { check_ems_session_not_resumed_without_ems(false); }
Test(hello, ems_ticket_not_resumed_without_ems) { check_ems_session_not_resumed_without_ems(true); }

/* ---- RFC 8446 4.2.10: early_data only in the first ClientHello ---- */

static void hello13_without_share(hello *h, const uint16_t *suites, bool early_data, bool share)
{
    static const uint16_t v13[] = {TLS_TLS13};
    static const uint16_t groups[] = {23, 29};
    hello_init(h, TLS_TLS12, suites, 1);
    ext_versions(h, v13, 1);
    ext_u16_list(h, TLS_EXT_SUPPORTED_GROUPS, 2, groups, 2, 0);
    ext_sigalgs(h);
    if (share)
        ext_x25519_share(h);
    else
        ext(h, TLS_EXT_KEY_SHARE, "\0\0", 2); /* an empty list: HelloRetryRequest */
    if (early_data)
        ext(h, TLS_EXT_EARLY_DATA, NULL, 0);
}

Test(hello, early_data_in_the_second_client_hello_is_illegal_parameter)
{
    static const uint16_t suites[] = {TLS13_AES128_GCM};
    tls_config *c = server_config(ALL_VERSIONS, false);
    tls_engine *s;
    cr_assert_eq(tls_engine_new(c, NULL, &s, NULL), TLS_OK);
    hello h;
    hello13_without_share(&h, suites, true, false);
    tls_wr msg = hello_message(&h);
    answer a = ask(s, &msg);
    cr_assert(a.server_hello && a.alert < 0, "a HelloRetryRequest, not alert %d", a.alert);
    hello13_without_share(&h, suites, true, true);
    msg = hello_message(&h);
    cr_assert_eq(ask(s, &msg).alert, TLS_ALERT_ILLEGAL_PARAMETER);
    tls_engine_free(s);
    tls_config_free(c);
}

/* ---- an empty signature is a signature that does not verify ---- */

/* Moves c's records to s, the CertificateVerify replaced by one that names
 * RSA-PSS-SHA256 and carries a signature of 0 bytes. */
static void move_with_empty_signature(tls_engine *c, tls_engine *s, bool *replaced)
{
    size_t n;
    const uint8_t *p;
    while ((p = tls_engine_output(c, &n)) != NULL && n >= 5) {
        size_t total = 5 + ((size_t)p[3] << 8 | p[4]);
        static const uint8_t empty_cv[] = {22, 3, 3, 0, 8, TLS_HS_CERTIFICATE_VERIFY, 0, 0, 4, 0x08, 0x04, 0, 0};
        bool cv = !*replaced && p[0] == TLS_CT_HANDSHAKE && total > 5 && p[5] == TLS_HS_CERTIFICATE_VERIFY;
        *replaced |= cv;
        feed_all(s, cv ? empty_cv : p, cv ? sizeof empty_cv : total);
        tls_engine_output_done(c, total);
    }
}

Test(hello, empty_certificate_verify_signature_is_decrypt_error)
{
    tls_options so, co;
    tls_options_init(&so);
    tls_options_init(&co);
    so.certfile = pki("server.pem");
    so.keyfile = pki("server.key");
    so.verify = TLS_VERIFY_PEER;
    so.cacertfile = pki("ca.pem");
    so.versions = co.versions = TLS_VMASK_TLS12;
    co.certfile = pki("client.pem");
    co.keyfile = pki("client.key");
    co.verify = TLS_VERIFY_NONE;
    tls_config *sc = cfg_or_die(&so, true), *cc = cfg_or_die(&co, false);
    tls_engine *c, *s;
    cr_assert_eq(tls_engine_new(cc, NULL, &c, NULL), TLS_OK);
    cr_assert_eq(tls_engine_new(sc, NULL, &s, NULL), TLS_OK);
    bool replaced = false;
    for (int i = 0; i < 10 && !(tls_engine_status(s) & TLS_ST_FAILED); i++) {
        move_with_empty_signature(c, s, &replaced);
        pair_move(s, c);
    }
    cr_assert(replaced, "the client sent a CertificateVerify");
    cr_assert_eq(tls_engine_error(s)->alert, TLS_ALERT_DECRYPT_ERROR, "alert %d: %s", tls_engine_error(s)->alert,
                 tls_engine_error(s)->detail);
    tls_engine_free(c);
    tls_engine_free(s);
    tls_config_free(cc);
    tls_config_free(sc);
}

/* ---- secure_renegotiate refuses renegotiation, not the first handshake ---- */

Test(hello, client_without_rfc5746_gets_its_first_handshake)
{
    hello h; /* neither renegotiation_info nor the SCSV */
    hello_init(&h, TLS_TLS12, ecdhe, 1);
    ext_groups(&h, 23);
    tls_config *c = server_config_strict(ALL_VERSIONS, false, true);
    tls_engine *s;
    cr_assert_eq(tls_engine_new(c, NULL, &s, NULL), TLS_OK);
    tls_wr msg = hello_message(&h);
    answer a = ask(s, &msg);
    cr_assert(a.server_hello && a.version == TLS_TLS12, "alert %d", a.alert);
    cr_assert_not(has_ext(&a, TLS_EXT_RENEGOTIATION_INFO));
    tls_engine_free(s);
    tls_config_free(c);
}

Test(hello, no_renegotiation_of_our_own_with_a_server_without_rfc5746)
{
    tls_options so, co;
    tls_options_init(&so);
    tls_options_init(&co);
    so.certfile = pki("server.pem");
    so.keyfile = pki("server.key");
    so.versions = co.versions = TLS_VMASK_TLS12;
    co.verify = TLS_VERIFY_NONE;
    co.secure_renegotiate = true;
    tls_config *sc = cfg_or_die(&so, true), *cc = cfg_or_die(&co, false);
    tls_engine *c, *s;
    cr_assert_eq(tls_engine_new(cc, NULL, &c, NULL), TLS_OK);
    cr_assert_eq(tls_engine_new(sc, NULL, &s, NULL), TLS_OK);
    cr_assert(pair_handshake(c, s));
    c->secure_reneg = false; /* as if the server had not shown RFC 5746 */
    cr_assert_eq(tls_engine_renegotiate(c), TLS_E_RENEG_REJECTED);
    cr_assert(tls_engine_status(c) & TLS_ST_CONNECTED);
    cr_assert(pair_transfer(c, s, 1000), "the session goes on");
    tls_engine_free(c);
    tls_engine_free(s);
    tls_config_free(cc);
    tls_config_free(sc);
}

/* ---- a renegotiation the client starts is refused unless allowed ---- */

Test(hello, client_renegotiation_refused_by_default_with_a_warning)
{
    tls_options so, co;
    tls_options_init(&so);
    tls_options_init(&co);
    so.certfile = pki("server.pem");
    so.keyfile = pki("server.key");
    so.versions = co.versions = TLS_VMASK_TLS12;
    co.verify = TLS_VERIFY_NONE;
    tls_config *sc = cfg_or_die(&so, true), *cc = cfg_or_die(&co, false);
    tls_engine *c, *s;
    cr_assert_eq(tls_engine_new(cc, NULL, &c, NULL), TLS_OK);
    cr_assert_eq(tls_engine_new(sc, NULL, &s, NULL), TLS_OK);
    cr_assert(pair_handshake(c, s));
    cr_assert(c->secure_reneg && s->secure_reneg, "RFC 5746 on both sides: only the policy refuses");
    cr_assert_eq(tls_engine_renegotiate(c), TLS_OK);
    pair_pump(c, s);
    cr_assert_eq(tls_engine_error(c)->code, TLS_E_RENEG_REJECTED, "the client learns no_renegotiation");
    cr_assert(tls_engine_status(c) & TLS_ST_CONNECTED);
    cr_assert(tls_engine_status(s) & TLS_ST_CONNECTED);
    cr_assert(pair_transfer(c, s, 1000), "the session goes on");
    /* the server's own HelloRequest is still answered */
    cr_assert_eq(tls_engine_renegotiate(s), TLS_OK);
    pair_pump(c, s);
    cr_assert(pair_handshake(c, s));
    cr_assert(pair_transfer(s, c, 1000));
    tls_engine_free(c);
    tls_engine_free(s);
    tls_config_free(cc);
    tls_config_free(sc);
}

/* ---- signature_algorithms_cert without signature_algorithms ---- */

Test(hello, sigalgs_cert_without_sigalgs_is_handshake_failure)
{
    /* what tlsfuzzer's test-sig-algs-renegotiation-resumption expects (as OpenSSL) */
    static const uint16_t schemes[] = {SIG_RSA_PSS_RSAE_SHA256, 0x0401};
    hello h;
    hello_init(&h, TLS_TLS12, ecdhe, 1);
    ext_groups(&h, 23);
    ext_u16_list(&h, TLS_EXT_SIGNATURE_ALGORITHMS_CERT, 2, schemes, 2, 0);
    answer a = ask_new(ALL_VERSIONS, hello_message(&h));
    cr_assert_not(a.server_hello);
    cr_assert_eq(a.alert, TLS_ALERT_HANDSHAKE_FAILURE);

    hello_init(&h, TLS_TLS12, ecdhe, 1); /* with signature_algorithms beside it: fine */
    ext_groups(&h, 23);
    ext_u16_list(&h, TLS_EXT_SIGNATURE_ALGORITHMS_CERT, 2, schemes, 2, 0);
    ext_u16_list(&h, TLS_EXT_SIGNATURE_ALGORITHMS, 2, schemes, 2, 0);
    a = ask_new(ALL_VERSIONS, hello_message(&h));
    cr_assert(a.server_hello && a.version == TLS_TLS12, "alert %d", a.alert);

    hello_init(&h, TLS_TLS12, ecdhe, 1); /* a malformed one is decode_error */
    ext_groups(&h, 23);
    ext(&h, TLS_EXT_SIGNATURE_ALGORITHMS_CERT, "\x00\x03\x04\x01\x05", 5);
    a = ask_new(ALL_VERSIONS, hello_message(&h));
    cr_assert_eq(a.alert, TLS_ALERT_DECODE_ERROR);
}
