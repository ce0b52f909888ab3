/* Engine against engine in memory: every version x suite the engine
 * implements, plus resumption, renegotiation, client certificates, ALPN,
 * SNI, version negotiation and the downgrade defences. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "lib/pair.h"
#include "suites.h"

typedef struct combo {
    uint16_t suite;
    uint16_t version;
} combo;

static unsigned vmask(uint16_t v)
{
    return 1u << (v - TLS_SSL3);
}

static const char *cert_for(const tls_suite *s, const char **key)
{
    switch (s->kx) {
    case TLS_KX_DHE_DSS: *key = pki("dsa.key"); return pki("dsa.pem");
    case TLS_KX_ECDHE_ECDSA: *key = pki("ecdsa.key"); return pki("ecdsa.pem");
    default: *key = pki("server.key"); return pki("server.pem");
    }
}

ParameterizedTestParameters(handshake, every_version_and_suite)
{
    static combo combos[512];
    size_t n = 0;
    const tls_suite_info *all[128];
    size_t count = tls_cipher_suites(all, 128);
    for (size_t i = 0; i < count; i++) {
        const tls_suite *s = tls_suite_from_info(all[i]);
        for (uint16_t v = TLS_SSL3; v <= TLS_TLS13; v++)
            if (s && tls_suite_usable(s, v) && n < 512)
                combos[n++] = (combo){all[i]->id, v};
    }
    return cr_make_param_array(combo, combos, n);
}

static void run_pair(uint16_t suite_id, uint16_t version, bool client_cert, size_t bytes)
{
    const tls_suite *s = tls_suite_by_id(suite_id);
    cr_assert_not_null(s);
    char name[64];
    snprintf(name, sizeof name, "0x%04x", suite_id);
    tls_options so, co;
    tls_options_init(&so);
    tls_options_init(&co);
    const char *key;
    so.certfile = cert_for(s, &key);
    so.keyfile = key;
    so.ciphers = name;
    so.versions = vmask(version);
    if (client_cert) {
        so.verify = TLS_VERIFY_PEER;
        so.fail_if_no_peer_cert = true;
        so.cacertfile = pki("ca.pem");
        co.certfile = pki("client.pem");
        co.keyfile = pki("client.key");
    }
    co.ciphers = name;
    co.versions = vmask(version);
    co.verify = TLS_VERIFY_PEER;
    co.cacertfile = pki("ca.pem");
    co.server_name = "localhost";
    tls_config *sc = cfg_or_die(&so, true), *cc = cfg_or_die(&co, false);
    tls_engine *c = NULL, *sv = NULL;
    cr_assert_eq(tls_engine_new(cc, NULL, &c, NULL), TLS_OK);
    cr_assert_eq(tls_engine_new(sc, NULL, &sv, NULL), TLS_OK);
    bool ok = pair_handshake(c, sv);
    char m1[300], m2[300];
    cr_assert(ok, "%s %s: client: %s / server: %s", s->info.openssl_name, tls_version_name(version),
              tls_format_error(tls_engine_error(c), m1, sizeof m1),
              tls_format_error(tls_engine_error(sv), m2, sizeof m2));
    cr_assert_eq(tls_engine_version(c), version);
    cr_assert_eq(tls_engine_version(sv), version);
    cr_assert_eq(tls_engine_suite(c)->id, suite_id);
    cr_assert_eq(tls_engine_suite(sv)->id, suite_id);
    cr_assert(pair_transfer(c, sv, bytes), "%s %s: client->server data", s->info.openssl_name,
              tls_version_name(version));
    cr_assert(pair_transfer(sv, c, bytes), "%s %s: server->client data", s->info.openssl_name,
              tls_version_name(version));
    if (client_cert) {
        const uint8_t *der;
        size_t len;
        cr_assert_eq(tls_engine_peercert(sv, &der, &len), TLS_OK);
    }
    /* close_notify both ways */
    cr_assert_eq(tls_engine_close_write(c), TLS_OK);
    pair_pump(c, sv);
    uint8_t b[8];
    size_t got;
    cr_assert_eq(tls_engine_read(sv, b, sizeof b, &got), TLS_E_CLOSED);
    cr_assert(tls_engine_status(sv) & TLS_ST_PEER_CLOSED);
    tls_engine_free(c);
    tls_engine_free(sv);
    tls_config_free(cc);
    tls_config_free(sc);
}

ParameterizedTest(combo *p, handshake, every_version_and_suite)
{
    run_pair(p->suite, p->version, false, 40000);
}

ParameterizedTestParameters(handshake, client_certificate_every_version)
{
    static combo combos[] = {
        {0x002f, TLS_SSL3},  {0x002f, TLS_TLS10}, {0x0033, TLS_TLS11},
        {0xc02f, TLS_TLS12}, {0xc013, TLS_TLS10}, {0x009e, TLS_TLS12},
    };
    return cr_make_param_array(combo, combos, sizeof combos / sizeof *combos);
}

ParameterizedTest(combo *p, handshake, client_certificate_every_version)
{
    run_pair(p->suite, p->version, true, 1000);
}

/* ---- scenarios ------------------------------------------------------------ */

typedef struct world {
    tls_options so, co;
    tls_config *sc, *cc;
    tls_engine *c, *s;
} world;

static void world_init(world *w)
{
    memset(w, 0, sizeof *w);
    tls_options_init(&w->so);
    tls_options_init(&w->co);
    w->so.certfile = pki("server.pem");
    w->so.keyfile = pki("server.key");
    w->co.verify = TLS_VERIFY_PEER;
    w->co.cacertfile = pki("ca.pem");
    w->co.server_name = "localhost";
}

static void world_configs(world *w)
{
    if (!w->sc)
        w->sc = cfg_or_die(&w->so, true);
    if (!w->cc)
        w->cc = cfg_or_die(&w->co, false);
}

static bool world_connect(world *w)
{
    world_configs(w);
    tls_engine_free(w->c);
    tls_engine_free(w->s);
    cr_assert_eq(tls_engine_new(w->cc, NULL, &w->c, NULL), TLS_OK);
    cr_assert_eq(tls_engine_new(w->sc, NULL, &w->s, NULL), TLS_OK);
    return pair_handshake(w->c, w->s);
}

static void world_free(world *w)
{
    tls_engine_free(w->c);
    tls_engine_free(w->s);
    tls_config_free(w->cc);
    tls_config_free(w->sc);
}

Test(handshake, defaults_pick_tls13)
{
    world w;
    world_init(&w);
    cr_assert(world_connect(&w));
    cr_assert_eq(tls_engine_version(w.c), TLS_TLS13);
    cr_assert_eq(tls_engine_version(w.s), TLS_TLS13);
    cr_assert_eq(tls_engine_suite(w.c)->id, 0x1301);
    cr_assert(pair_transfer(w.c, w.s, 70000));
    cr_assert(pair_transfer(w.s, w.c, 70000));
    world_free(&w);
}

Test(handshake, tls12_defaults_pick_forward_secret_aead)
{
    world w;
    world_init(&w);
    w.co.versions = TLS_VMASK_TLS12 | TLS_VMASK_TLS13;
    w.so.versions = TLS_VMASK_TLS12;
    cr_assert(world_connect(&w));
    cr_assert_eq(tls_engine_version(w.c), TLS_TLS12);
    const tls_suite *s = tls_suite_by_id(tls_engine_suite(w.c)->id);
    cr_assert(s->kx == TLS_KX_ECDHE_RSA, "suite %s", s->info.openssl_name);
    cr_assert_eq(tls_cipher_desc_get(s->cipher)->kind, TLS_CIPHER_AEAD);
    cr_assert(w.c->ems && w.s->ems, "extended master secret negotiated");
    cr_assert(w.c->secure_reneg && w.s->secure_reneg, "RFC 5746 negotiated");
    world_free(&w);
}

Test(handshake, tls13_key_update_both_ways)
{
    world w;
    world_init(&w);
    cr_assert(world_connect(&w));
    uint8_t before[48];
    memcpy(before, w.c->c_ap, 48);
    cr_assert_eq(tls_engine_renegotiate(w.c), TLS_OK); /* KeyUpdate(update_requested) */
    cr_assert(pair_transfer(w.c, w.s, 5000));
    cr_assert(pair_transfer(w.s, w.c, 5000));
    cr_assert(memcmp(before, w.c->c_ap, 48) != 0, "client write secret moved on");
    cr_assert(memcmp(w.c->s_ap, w.s->s_ap, 48) == 0, "server answered with its own update");
    cr_assert_eq(tls_engine_renegotiate(w.s), TLS_OK);
    cr_assert(pair_transfer(w.s, w.c, 5000));
    cr_assert(pair_transfer(w.c, w.s, 5000));
    world_free(&w);
}

Test(handshake, tls13_client_certificate)
{
    world w;
    world_init(&w);
    w.so.verify = TLS_VERIFY_PEER;
    w.so.fail_if_no_peer_cert = true;
    w.so.cacertfile = pki("ca.pem");
    w.co.certfile = pki("client.pem");
    w.co.keyfile = pki("client.key");
    cr_assert(world_connect(&w));
    cr_assert_eq(tls_engine_version(w.s), TLS_TLS13);
    const uint8_t *der;
    size_t len;
    cr_assert_eq(tls_engine_peercert(w.s, &der, &len), TLS_OK);
    world_free(&w);
}

Test(handshake, tls13_client_certificate_required_but_missing)
{
    world w;
    world_init(&w);
    w.so.verify = TLS_VERIFY_PEER;
    w.so.fail_if_no_peer_cert = true;
    w.so.cacertfile = pki("ca.pem");
    cr_assert(!world_connect(&w));
    cr_assert_eq(tls_engine_error(w.s)->bad_cert, TLS_BAD_CERT_NO_PEER_CERT);
    cr_assert_eq(tls_engine_error(w.c)->alert, TLS_ALERT_CERTIFICATE_REQUIRED);
    world_free(&w);
}

static void keylog_append(const char *line, void *arg)
{
    strncat((char *)arg, line, 4000 - strlen((char *)arg) - 2);
    strcat((char *)arg, "\n");
}

Test(handshake, tls13_keylog_has_the_four_traffic_secrets)
{
    world w;
    world_init(&w);
    static char lines[4096];
    lines[0] = '\0';
    w.co.keylog = keylog_append;
    w.co.keylog_arg = lines;
    cr_assert(world_connect(&w));
    const char *labels[] = {"CLIENT_HANDSHAKE_TRAFFIC_SECRET ", "SERVER_HANDSHAKE_TRAFFIC_SECRET ",
                            "CLIENT_TRAFFIC_SECRET_0 ", "SERVER_TRAFFIC_SECRET_0 "};
    for (size_t i = 0; i < 4; i++)
        cr_assert_not_null(strstr(lines, labels[i]), "%s missing in:\n%s", labels[i], lines);
    char ap[200] = "CLIENT_TRAFFIC_SECRET_0 ";
    size_t n = strlen(ap);
    for (int i = 0; i < 32; i++)
        n += (size_t)sprintf(ap + n, "%02x", w.c->client_random[i]);
    ap[n++] = ' ';
    for (int i = 0; i < 32; i++)
        n += (size_t)sprintf(ap + n, "%02x", w.s->c_ap[i]);
    ap[n] = '\0';
    cr_assert_not_null(strstr(lines, ap), "client traffic secret line");
    world_free(&w);
}

Test(handshake, resumption_by_session_id)
{
    world w;
    world_init(&w);
    w.co.versions = w.so.versions = TLS_VMASK_TLS12;
    cr_assert(world_connect(&w));
    cr_assert(!tls_engine_session_reused(w.c));
    uint8_t ms[48];
    memcpy(ms, w.c->master, 48);
    cr_assert(world_connect(&w));
    cr_assert(tls_engine_session_reused(w.c), "second connection resumes");
    cr_assert(tls_engine_session_reused(w.s));
    cr_assert(memcmp(ms, w.c->master, 48) == 0);
    cr_assert(pair_transfer(w.c, w.s, 5000));
    const uint8_t *der;
    size_t len;
    cr_assert_eq(tls_engine_peercert(w.c, &der, &len), TLS_OK, "peer cert kept across resumption");
    world_free(&w);
}

Test(handshake, no_resumption_when_disabled)
{
    world w;
    world_init(&w);
    w.co.versions = w.so.versions = TLS_VMASK_TLS12;
    w.so.reuse_sessions = false;
    cr_assert(world_connect(&w));
    cr_assert(world_connect(&w));
    cr_assert(!tls_engine_session_reused(w.c));
    world_free(&w);
}

Test(handshake, cbc_uses_encrypt_then_mac)
{
    world w;
    world_init(&w);
    w.co.ciphers = w.so.ciphers = "ECDHE-RSA-AES128-SHA"; /* CBC is not a default */
    cr_assert(world_connect(&w));
    cr_assert(w.c->etm && w.s->etm);
    cr_assert(pair_transfer(w.c, w.s, 70000));
    world_free(&w);
}

Test(handshake, renegotiation_by_client_and_by_server)
{
    world w;
    world_init(&w);
    w.co.versions = w.so.versions = TLS_VMASK_TLS12;
    w.so.client_renegotiation = true; /* the server takes what the client starts */
    cr_assert(world_connect(&w));
    uint8_t old[48];
    memcpy(old, w.c->master, 48);
    cr_assert_eq(tls_engine_renegotiate(w.c), TLS_OK);
    cr_assert(pair_handshake(w.c, w.s));
    cr_assert(memcmp(old, w.c->master, 48) != 0, "new keys after renegotiation");
    cr_assert(pair_transfer(w.c, w.s, 3000));
    cr_assert_eq(tls_engine_renegotiate(w.s), TLS_OK);
    pair_pump(w.c, w.s);
    cr_assert(pair_handshake(w.c, w.s));
    cr_assert(pair_transfer(w.s, w.c, 3000));
    world_free(&w);
}

Test(handshake, client_certificate_required_but_missing)
{
    world w;
    world_init(&w);
    w.co.versions = w.so.versions = TLS_VMASK_TLS12;
    w.so.verify = TLS_VERIFY_PEER;
    w.so.fail_if_no_peer_cert = true;
    w.so.cacertfile = pki("ca.pem");
    cr_assert(!world_connect(&w));
    const tls_error *se = tls_engine_error(w.s);
    cr_assert_eq(se->code, TLS_E_BAD_CERT);
    cr_assert_eq(se->bad_cert, TLS_BAD_CERT_NO_PEER_CERT);
    const tls_error *ce = tls_engine_error(w.c);
    cr_assert_eq(ce->code, TLS_E_ALERT_RECEIVED);
    cr_assert_eq(ce->alert, TLS_ALERT_HANDSHAKE_FAILURE);
    world_free(&w);
}

Test(handshake, client_certificate_optional)
{
    world w;
    world_init(&w);
    w.so.verify = TLS_VERIFY_PEER;
    w.so.cacertfile = pki("ca.pem");
    cr_assert(world_connect(&w));
    const uint8_t *der;
    size_t len;
    cr_assert_neq(tls_engine_peercert(w.s, &der, &len), TLS_OK);
    world_free(&w);
}

Test(handshake, untrusted_client_certificate_rejected)
{
    world w;
    world_init(&w);
    w.so.verify = TLS_VERIFY_PEER;
    w.so.cacertfile = pki("ca.pem");
    w.co.certfile = pki("untrusted.pem");
    w.co.keyfile = pki("untrusted.key");
    cr_assert(!world_connect(&w));
    cr_assert_eq(tls_engine_error(w.s)->bad_cert, TLS_BAD_CERT_UNKNOWN_CA);
    cr_assert_eq(tls_engine_error(w.c)->alert, TLS_ALERT_UNKNOWN_CA);
    world_free(&w);
}

static void expect_server_cert_failure(const char *cert, const char *key, tls_bad_cert why, int alert)
{
    world w;
    world_init(&w);
    w.so.certfile = pki(cert);
    w.so.keyfile = pki(key);
    cr_assert(!world_connect(&w), "%s accepted", cert);
    const tls_error *ce = tls_engine_error(w.c);
    cr_assert_eq(ce->code, TLS_E_BAD_CERT, "%s: code %d", cert, ce->code);
    cr_assert_eq(ce->bad_cert, why, "%s: reason %s", cert, tls_bad_cert_name(ce->bad_cert));
    const tls_error *se = tls_engine_error(w.s);
    cr_assert_eq(se->code, TLS_E_ALERT_RECEIVED);
    cr_assert_eq(se->alert, alert, "%s: server got alert %s", cert, tls_alert_name(se->alert));
    world_free(&w);
}

Test(handshake, server_certificate_failures)
{
    expect_server_cert_failure("expired.pem", "expired.key", TLS_BAD_CERT_CERT_EXPIRED,
                               TLS_ALERT_CERTIFICATE_EXPIRED);
    expect_server_cert_failure("notyet.pem", "notyet.key", TLS_BAD_CERT_CERT_EXPIRED,
                               TLS_ALERT_CERTIFICATE_EXPIRED);
    expect_server_cert_failure("wrongname.pem", "wrongname.key", TLS_BAD_CERT_HOSTNAME_CHECK_FAILED,
                               TLS_ALERT_BAD_CERTIFICATE);
    expect_server_cert_failure("untrusted.pem", "untrusted.key", TLS_BAD_CERT_UNKNOWN_CA,
                               TLS_ALERT_UNKNOWN_CA);
}

Test(handshake, verify_none_accepts_unknown_ca)
{
    world w;
    world_init(&w);
    w.co.verify = TLS_VERIFY_NONE;
    w.co.cacertfile = NULL;
    w.so.certfile = pki("untrusted.pem");
    w.so.keyfile = pki("untrusted.key");
    cr_assert(world_connect(&w));
    world_free(&w);
}

Test(handshake, alpn_server_preference)
{
    world w;
    world_init(&w);
    w.co.alpn = "http/1.1,h2";
    w.so.alpn = "h2,http/1.1";
    cr_assert(world_connect(&w));
    cr_assert_str_eq(tls_engine_alpn(w.c), "h2");
    cr_assert_str_eq(tls_engine_alpn(w.s), "h2");
    world_free(&w);
}

Test(handshake, alpn_no_overlap_fails)
{
    world w;
    world_init(&w);
    w.co.alpn = "spdy/1";
    w.so.alpn = "h2";
    cr_assert(!world_connect(&w));
    cr_assert_eq(tls_engine_error(w.c)->alert, TLS_ALERT_NO_APPLICATION_PROTOCOL);
    world_free(&w);
}

Test(handshake, sni_reaches_server)
{
    world w;
    world_init(&w);
    cr_assert(world_connect(&w));
    cr_assert_str_eq(tls_engine_sni(w.s), "localhost");
    world_free(&w);
}

Test(handshake, version_negotiates_to_common_highest)
{
    world w;
    world_init(&w);
    w.co.versions = TLS_VMASK_TLS10 | TLS_VMASK_TLS11 | TLS_VMASK_TLS12;
    w.so.versions = TLS_VMASK_TLS10 | TLS_VMASK_TLS11;
    w.co.ciphers = w.so.ciphers = "ECDHE-RSA-AES128-SHA";
    cr_assert(world_connect(&w));
    cr_assert_eq(tls_engine_version(w.c), TLS_TLS11);
    cr_assert_eq(tls_engine_version(w.s), TLS_TLS11);
    world_free(&w);
}

Test(handshake, downgrade_sentinel_detected)
{
    /* an attacker rewrites client_version 1.2 -> 1.1; the 1.2-capable server
     * marks its random (RFC 8446 4.1.3) and the client notices */
    world w;
    world_init(&w);
    w.co.versions = w.so.versions = TLS_VMASK_TLS11 | TLS_VMASK_TLS12;
    w.co.ciphers = w.so.ciphers = "ECDHE-RSA-AES128-SHA";
    world_configs(&w);
    cr_assert_eq(tls_engine_new(w.cc, NULL, &w.c, NULL), TLS_OK);
    cr_assert_eq(tls_engine_new(w.sc, NULL, &w.s, NULL), TLS_OK);
    size_t n, used;
    const uint8_t *p = tls_engine_output(w.c, &n);
    uint8_t hello[1024];
    cr_assert(n < sizeof hello);
    memcpy(hello, p, n);
    cr_assert_eq(hello[9], 3);
    cr_assert_eq(hello[10], 3);
    hello[10] = 2;
    tls_engine_output_done(w.c, n);
    tls_engine_feed(w.s, hello, n, &used);
    pair_pump(w.c, w.s);
    cr_assert_eq(tls_engine_version(w.s), TLS_TLS11);
    cr_assert(memcmp(w.s->server_random + 24, "DOWNGRD\x00", 8) == 0);
    cr_assert(tls_engine_status(w.c) & TLS_ST_FAILED);
    cr_assert_eq(tls_engine_error(w.c)->alert, TLS_ALERT_ILLEGAL_PARAMETER);
    world_free(&w);
}

Test(handshake, no_common_version)
{
    world w;
    world_init(&w);
    w.co.versions = TLS_VMASK_TLS10;
    w.co.ciphers = "AES128-SHA";
    cr_assert(!world_connect(&w));
    cr_assert_eq(tls_engine_error(w.s)->alert, TLS_ALERT_PROTOCOL_VERSION);
    cr_assert_eq(tls_engine_error(w.c)->alert, TLS_ALERT_PROTOCOL_VERSION);
    world_free(&w);
}

Test(handshake, no_common_suite)
{
    world w;
    world_init(&w);
    w.co.ciphers = "ECDHE-RSA-AES128-GCM-SHA256";
    w.so.ciphers = "ECDHE-RSA-AES256-GCM-SHA384";
    cr_assert(!world_connect(&w));
    cr_assert_eq(tls_engine_error(w.c)->alert, TLS_ALERT_HANDSHAKE_FAILURE);
    world_free(&w);
}

Test(handshake, fallback_scsv_refused)
{
    world w;
    world_init(&w);
    w.so.versions = TLS_VMASK_TLS11 | TLS_VMASK_TLS12;
    w.so.ciphers = "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256";
    w.co.versions = TLS_VMASK_TLS11;
    w.co.ciphers = "ECDHE-RSA-AES128-SHA";
    w.co.fallback_scsv = true;
    cr_assert(!world_connect(&w));
    cr_assert_eq(tls_engine_error(w.c)->alert, TLS_ALERT_INAPPROPRIATE_FALLBACK);
    world_free(&w);
}

Test(handshake, secure_renegotiate_requires_rfc5746_from_ssl3_peer_ok)
{
    /* SSL 3.0 signals RFC 5746 with the SCSV: a strict server still accepts it */
    world w;
    world_init(&w);
    w.so.secure_renegotiate = true;
    w.so.versions = w.co.versions = TLS_VMASK_SSL3;
    w.so.ciphers = w.co.ciphers = "AES128-SHA";
    cr_assert(world_connect(&w));
    cr_assert_eq(tls_engine_version(w.c), TLS_SSL3);
    world_free(&w);
}

static void keylog_capture(const char *line, void *arg)
{
    snprintf((char *)arg, 256, "%s", line);
}

Test(handshake, keylog_line_matches_master_secret)
{
    world w;
    world_init(&w);
    w.co.versions = w.so.versions = TLS_VMASK_TLS12;
    static char line[256];
    w.co.keylog = keylog_capture;
    w.co.keylog_arg = line;
    cr_assert(world_connect(&w));
    char expect[256] = "CLIENT_RANDOM ";
    size_t n = strlen(expect);
    for (int i = 0; i < 32; i++)
        n += (size_t)sprintf(expect + n, "%02x", w.c->client_random[i]);
    expect[n++] = ' ';
    for (int i = 0; i < 48; i++)
        n += (size_t)sprintf(expect + n, "%02x", w.c->master[i]);
    cr_assert_str_eq(line, expect);
    world_free(&w);
}

Test(handshake, trim_releases_buffers_and_traffic_resumes)
{
    world w;
    world_init(&w);
    cr_assert(world_connect(&w));
    cr_assert(pair_transfer(w.c, w.s, 30000));
    tls_engine_trim(w.c);
    tls_engine_trim(w.s);
    cr_assert_null(w.c->in);
    cr_assert_null(w.c->out);
    cr_assert_null(w.s->in);
    cr_assert(pair_transfer(w.c, w.s, 30000));
    cr_assert(pair_transfer(w.s, w.c, 30000));
    world_free(&w);
}

Test(handshake, tls13_resumption_with_a_ticket)
{
    world w;
    world_init(&w);
    w.so.verify = TLS_VERIFY_PEER;
    w.so.cacertfile = pki("ca.pem");
    w.co.certfile = pki("client.pem");
    w.co.keyfile = pki("client.key");
    cr_assert(world_connect(&w));
    cr_assert_eq(tls_engine_version(w.c), TLS_TLS13);
    cr_assert(!tls_engine_session_reused(w.c));
    cr_assert(world_connect(&w));
    cr_assert(tls_engine_session_reused(w.c), "second connection resumes with the ticket");
    cr_assert(tls_engine_session_reused(w.s));
    const uint8_t *der;
    size_t len;
    cr_assert_eq(tls_engine_peercert(w.c, &der, &len), TLS_OK, "server cert kept across resumption");
    cr_assert_eq(tls_engine_peercert(w.s, &der, &len), TLS_OK, "client cert kept across resumption");
    cr_assert(pair_transfer(w.c, w.s, 20000));
    cr_assert(pair_transfer(w.s, w.c, 20000));
    world_free(&w);
}

Test(handshake, tls13_no_resumption_when_server_disables_it)
{
    world w;
    world_init(&w);
    w.so.reuse_sessions = false;
    cr_assert(world_connect(&w));
    cr_assert(world_connect(&w));
    cr_assert(!tls_engine_session_reused(w.c));
    world_free(&w);
}

Test(handshake, refused_renegotiation_keeps_the_connection)
{
    /* a client that refuses our HelloRequest, and a server that refuses our
     * ClientHello: both leave the session usable and say renegotiation_rejected */
    world w;
    world_init(&w);
    w.co.versions = w.so.versions = TLS_VMASK_TLS12;
    w.co.secure_renegotiate = true; /* the client refuses insecure ones... */
    cr_assert(world_connect(&w));
    w.c->secure_reneg = false;      /* ...so make this one look insecure to it */
    cr_assert_eq(tls_engine_renegotiate(w.s), TLS_OK);
    pair_pump(w.c, w.s);
    unsigned st = tls_engine_status(w.s);
    cr_assert(st & TLS_ST_CONNECTED);
    cr_assert(!(st & TLS_ST_HANDSHAKING));
    cr_assert_eq(tls_engine_error(w.s)->code, TLS_E_RENEG_REJECTED);
    cr_assert(pair_transfer(w.s, w.c, 1000));
    world_free(&w);

    world_init(&w);
    w.co.versions = w.so.versions = TLS_VMASK_TLS12;
    w.so.secure_renegotiate = true;
    cr_assert(world_connect(&w));
    w.s->secure_reneg = false;
    cr_assert_eq(tls_engine_renegotiate(w.c), TLS_OK);
    pair_pump(w.c, w.s);
    st = tls_engine_status(w.c);
    cr_assert(st & TLS_ST_CONNECTED);
    cr_assert(!(st & TLS_ST_HANDSHAKING));
    cr_assert_eq(tls_engine_error(w.c)->code, TLS_E_RENEG_REJECTED);
    cr_assert(pair_transfer(w.c, w.s, 1000));
    world_free(&w);
}

Test(handshake, tls10_cbc_writes_split_one_byte_first)
{
    world w;
    world_init(&w);
    w.co.versions = w.so.versions = TLS_VMASK_TLS10;
    w.co.ciphers = w.so.ciphers = "AES128-SHA";
    cr_assert(world_connect(&w));
    size_t acc;
    cr_assert_eq(tls_engine_write(w.c, (const uint8_t *)"0123456789", 10, &acc), TLS_OK);
    cr_assert_eq(acc, 10);
    size_t n;
    const uint8_t *p = tls_engine_output(w.c, &n);
    /* the first record carries 1 byte: MAC-then-encrypt pads 1 + 20 (SHA-1)
     * to 32; encrypt-then-MAC pads 1 to 16 and adds the 20-byte MAC */
    size_t first = (size_t)p[3] << 8 | p[4];
    cr_assert_eq(first, w.c->etm ? 36u : 32u, "a 1-byte first record");
    cr_assert(n > 5 + first, "a second record follows");
    pair_move(w.c, w.s);
    uint8_t got[16];
    size_t g = 0, k = 0;
    while (g < 10 && tls_engine_read(w.s, got + g, sizeof got - g, &k) == TLS_OK)
        g += k;
    cr_assert_eq(g, 10);
    cr_assert(memcmp(got, "0123456789", 10) == 0);
    cr_assert(pair_transfer(w.c, w.s, 50000));
    world_free(&w);
}

Test(handshake, feed_takes_bytes_after_read_drained_a_full_buffer)
{
    /* read() that empties the plaintext exactly must leave room for feed() */
    world w;
    world_init(&w);
    cr_assert(world_connect(&w));
    static uint8_t big[3 * 16384];
    memset(big, 'x', sizeof big);
    size_t acc = 0, off = 0;
    while (off < sizeof big) {
        cr_assert_eq(tls_engine_write(w.c, big + off, sizeof big - off, &acc), TLS_OK);
        off += acc;
    }
    size_t n;
    const uint8_t *p = tls_engine_output(w.c, &n);
    size_t used = 0, total = 0, got = 0;
    uint8_t buf[16384];
    while (total < n) {
        cr_assert_eq(tls_engine_feed(w.s, p + total, n - total, &used), TLS_OK);
        total += used;
        size_t k = 0; /* one read, of exactly one record's plaintext */
        if (tls_engine_read(w.s, buf, sizeof buf, &k) == TLS_OK)
            got += k;
        cr_assert(used > 0 || k > 0, "feed took nothing with %zu of %zu bytes left", n - total, n);
    }
    size_t k = 0;
    while (got < sizeof big && tls_engine_read(w.s, buf, sizeof buf, &k) == TLS_OK && k)
        got += k;
    cr_assert_eq(got, sizeof big);
    tls_engine_output_done(w.c, n);
    world_free(&w);
}
