/* The client's handshake (SSL 3.0 .. TLS 1.2): ClientHello, then one state a
 * message: ServerHello, Certificate, ServerKeyExchange, CertificateRequest,
 * ServerHelloDone; our flight; ChangeCipherSpec and Finished. Resumption by
 * session id; secure renegotiation (RFC 5746); extended master secret (RFC
 * 7627); encrypt-then-MAC (RFC 7366); downgrade sentinels (RFC 8446 4.1.3). */
#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "kex.h"
#include "prf.h"
#include "sig.h"

static const uint16_t client_groups[] = {TLS_GROUP_X25519, TLS_GROUP_SECP256R1, TLS_GROUP_SECP384R1};
static const uint8_t downgrade_tls11[8] = {'D', 'O', 'W', 'N', 'G', 'R', 'D', 0};
static const uint8_t downgrade_tls12[8] = {'D', 'O', 'W', 'N', 'G', 'R', 'D', 1};

#define FAIL(e, alert, ...) tls_engine_fail((e), TLS_E_ALERT_SENT, (alert), __VA_ARGS__)

static bool is_ip_literal(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static bool suite_offered(const tls_engine *e, const tls_suite *s)
{
    for (uint16_t v = e->cfg->min_version; v <= e->cfg->max_version; v++)
        if (tls_suite_usable(s, v))
            return true;
    return false;
}

int tls_client_start(tls_engine *e)
{
    tls_config *c = e->cfg;
    tls_hs *hs = e->hs;
    bool reneg = e->connected_once;
    uint16_t max = c->max_version > TLS_TLS12 ? TLS_TLS12 : c->max_version;
    if (reneg)
        max = e->version; /* a renegotiation keeps the version */
    if (RAND_bytes(e->client_random, 32) != 1)
        return tls_engine_fail(e, TLS_E_INTERNAL, -1, "no random bytes");

    hs->have_resume = false;
    if (!reneg && c->opts.reuse_sessions && e->server_name[0] &&
        tls_cache_get_by_name(&c->cache, e->server_name, &hs->resume)) {
        const tls_suite *s = tls_suite_by_id(hs->resume.suite);
        hs->have_resume = s && hs->resume.version >= c->min_version && hs->resume.version <= max &&
                          tls_suite_usable(s, hs->resume.version);
        if (hs->have_resume) {
            memcpy(hs->offered_session, hs->resume.id, hs->resume.id_len);
            hs->offered_session_len = hs->resume.id_len;
        }
        /* a TLS 1.3 ticket goes into pre_shared_key instead */
        hs->psk_offered = s && hs->resume.version == TLS_TLS13 && hs->resume.ticket_len &&
                          c->max_version >= TLS_TLS13 && tls_suite_usable(s, TLS_TLS13);
    }
    /* TLS 1.3 middlebox compatibility (RFC 8446 D.4): a non-empty legacy_session_id */
    if (!reneg && c->max_version >= TLS_TLS13 && !hs->offered_session_len) {
        if (RAND_bytes(hs->legacy_session_id, 32) != 1)
            return tls_engine_fail(e, TLS_E_INTERNAL, -1, "no random bytes");
        hs->legacy_session_id_len = 32;
    } else {
        memcpy(hs->legacy_session_id, hs->offered_session, hs->offered_session_len);
        hs->legacy_session_id_len = hs->offered_session_len;
    }
    return tls_client_send_hello(e);
}

/* Builds and sends the ClientHello from the handshake state (again after a
 * HelloRetryRequest, with the same random and session id). */
int tls_client_send_hello(tls_engine *e)
{
    tls_config *c = e->cfg;
    tls_hs *hs = e->hs;
    bool reneg = e->connected_once;
    uint16_t max = c->max_version > TLS_TLS12 ? TLS_TLS12 : c->max_version;
    if (reneg)
        max = e->version;
    bool offer13 = !reneg && c->max_version >= TLS_TLS13;
    size_t binders_at = 0;
    tls_wr w = tls_wr_dynamic(512);
    tls_wr_u16(&w, max);
    tls_wr_bytes(&w, e->client_random, 32);
    tls_wr_vec(&w, 1, hs->legacy_session_id, hs->legacy_session_id_len);
    size_t at = tls_wr_begin_vec(&w, 2);
    bool any_ecdhe = false, any_cbc = false;
    for (size_t i = 0; i < c->n_suites; i++) {
        const tls_suite *s = tls_suite_by_id(c->suites[i]);
        if (!s || !suite_offered(e, s))
            continue;
        if (s->min_version > (offer13 ? TLS_TLS13 : max))
            continue;
        tls_wr_u16(&w, s->info.id);
        any_ecdhe |= s->kx == TLS_KX_ECDHE_RSA || s->kx == TLS_KX_ECDHE_ECDSA || s->kx == TLS_KX_TLS13;
        any_cbc |= tls_cipher_desc_get(s->cipher)->kind == TLS_CIPHER_CBC;
    }
    bool extensions = max > TLS_SSL3;
    if (!reneg && !extensions)
        tls_wr_u16(&w, TLS_SCSV_RENEGOTIATION); /* SSL 3.0 carries no extensions */
    if (c->opts.fallback_scsv && !reneg)
        tls_wr_u16(&w, TLS_SCSV_FALLBACK);
    tls_wr_end_vec(&w, at, 2);
    tls_wr_u8(&w, 1); /* compression methods: null only */
    tls_wr_u8(&w, 0);

    if (extensions) {
        size_t ext = tls_wr_begin_vec(&w, 2);
        if (e->server_name[0] && !is_ip_literal(e->server_name)) {
            /* RFC 6066 3: IP literals are not sent as SNI */
            tls_wr_u16(&w, TLS_EXT_SERVER_NAME);
            size_t a = tls_wr_begin_vec(&w, 2);
            size_t b = tls_wr_begin_vec(&w, 2);
            tls_wr_u8(&w, 0);
            tls_wr_vec(&w, 2, e->server_name, strlen(e->server_name));
            tls_wr_end_vec(&w, b, 2);
            tls_wr_end_vec(&w, a, 2);
        }
        if (any_ecdhe) {
            tls_wr_u16(&w, TLS_EXT_SUPPORTED_GROUPS);
            size_t a = tls_wr_begin_vec(&w, 2);
            size_t b = tls_wr_begin_vec(&w, 2);
            for (size_t i = 0; i < sizeof client_groups / sizeof *client_groups; i++)
                tls_wr_u16(&w, client_groups[i]);
            tls_wr_end_vec(&w, b, 2);
            tls_wr_end_vec(&w, a, 2);
            tls_wr_u16(&w, TLS_EXT_EC_POINT_FORMATS);
            tls_wr_u16(&w, 2);
            tls_wr_u8(&w, 1);
            tls_wr_u8(&w, 0); /* uncompressed */
        }
        if (max >= TLS_TLS12) {
            size_t n;
            const uint16_t *schemes = tls_sig_schemes(&n);
            tls_wr_u16(&w, TLS_EXT_SIGNATURE_ALGORITHMS);
            size_t a = tls_wr_begin_vec(&w, 2);
            size_t b = tls_wr_begin_vec(&w, 2);
            for (size_t i = 0; i < n; i++)
                tls_wr_u16(&w, schemes[i]);
            tls_wr_end_vec(&w, b, 2);
            tls_wr_end_vec(&w, a, 2);
        }
        if (c->alpn_wire_len) {
            tls_wr_u16(&w, TLS_EXT_ALPN);
            size_t a = tls_wr_begin_vec(&w, 2);
            tls_wr_vec(&w, 2, c->alpn_wire, c->alpn_wire_len);
            tls_wr_end_vec(&w, a, 2);
        }
        if (any_cbc) {
            tls_wr_u16(&w, TLS_EXT_ENCRYPT_THEN_MAC);
            tls_wr_u16(&w, 0);
        }
        tls_wr_u16(&w, TLS_EXT_EXTENDED_MASTER_SECRET);
        tls_wr_u16(&w, 0);
        tls_wr_u16(&w, TLS_EXT_RENEGOTIATION_INFO);
        size_t a = tls_wr_begin_vec(&w, 2);
        tls_wr_vec(&w, 1, e->client_verify, reneg ? e->verify_len : 0);
        tls_wr_end_vec(&w, a, 2);
        if (offer13 && tls13_client_hello_extensions(e, &w) != TLS_OK) {
            tls_wr_free(&w);
            return e->err.code;
        }
        if (offer13 && tls13_client_psk_extension(e, &w, &binders_at) != TLS_OK) {
            tls_wr_free(&w);
            return tls_engine_fail(e, TLS_E_NOMEM, -1, "building ClientHello");
        }
        tls_wr_end_vec(&w, ext, 2);
    }
    if (binders_at && !w.bad && !tls13_client_fill_binder(e, &w, binders_at)) {
        tls_wr_free(&w);
        return tls_engine_fail(e, TLS_E_INTERNAL, -1, "PSK binder");
    }
    hs->client_version = max;
    bool ok = !w.bad && tls_hs_send_msg(e, TLS_HS_CLIENT_HELLO, &w);
    tls_wr_free(&w);
    if (!ok)
        return tls_engine_fail(e, TLS_E_NOMEM, -1, "building ClientHello");
    hs->state = HS_C_WAIT_SH;
    return TLS_OK;
}

static int server_hello(tls_engine *e, tls_rd *r)
{
    tls_config *c = e->cfg;
    tls_hs *hs = e->hs;
    uint16_t version = tls_rd_u16(r);
    uint8_t random[32];
    tls_rd_copy(r, random, 32);
    tls_rd sid = tls_rd_vec(r, 1, 0, 32);
    uint16_t suite_id = tls_rd_u16(r);
    uint8_t compression = tls_rd_u8(r);
    tls_rd exts = {NULL, 0, 0, false};
    bool have_exts = tls_rd_left(r) > 0;
    if (have_exts)
        exts = tls_rd_vec(r, 2, 0, 0xffff);
    if (r->bad || !tls_rd_done(r))
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed ServerHello");
    /* supported_versions in the extensions means TLS 1.3 (RFC 8446 4.2.1) */
    for (tls_rd scan = exts; have_exts && tls_rd_left(&scan);) {
        uint16_t type = tls_rd_u16(&scan);
        (void)tls_rd_vec(&scan, 2, 0, 0xffff);
        if (!scan.bad && type == TLS_EXT_SUPPORTED_VERSIONS) {
            if (compression != 0)
                return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the server chose compression method %u", compression);
            return tls13_client_server_hello(e, r, random, sid, suite_id, exts);
        }
    }

    if (version < c->min_version || version > hs->client_version)
        return FAIL(e, TLS_ALERT_PROTOCOL_VERSION, "the server chose %s, we allow %s..%s",
                    tls_version_name(version), tls_version_name(c->min_version),
                    tls_version_name(hs->client_version));
    if (e->connected_once && version != e->version)
        return FAIL(e, TLS_ALERT_PROTOCOL_VERSION, "the version changed in a renegotiation");
    /* RFC 8446 4.1.3: a server that could do better says so in its random */
    if ((version <= TLS_TLS11 && c->max_version >= TLS_TLS12 &&
         !memcmp(random + 24, downgrade_tls11, 8)) ||
        (version <= TLS_TLS12 && c->max_version >= TLS_TLS13 && !memcmp(random + 24, downgrade_tls12, 8)))
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "downgrade detected: the server supports a newer version");
    const tls_suite *s = tls_suite_by_id(suite_id);
    bool offered = false;
    for (size_t i = 0; s && i < c->n_suites; i++)
        offered |= c->suites[i] == suite_id;
    if (!s || !offered || !tls_suite_usable(s, version))
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the server chose suite 0x%04x, which we did not offer for %s",
                    suite_id, tls_version_name(version));
    if (compression != 0)
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the server chose compression method %u", compression);

    memcpy(e->server_random, random, 32);
    e->version = version;
    e->rec_version = version;
    e->suite = s;

    bool got_reneg = false, got_ems = false, got_etm = false;
    uint32_t seen = 0;
    e->alpn[0] = '\0';
    while (tls_rd_left(&exts)) {
        uint16_t type = tls_rd_u16(&exts);
        tls_rd body = tls_rd_vec(&exts, 2, 0, 0xffff);
        if (exts.bad)
            return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed ServerHello extensions");
        uint32_t bit = type == TLS_EXT_RENEGOTIATION_INFO ? 1u << 31 : (type < 31 ? 1u << type : 0);
        if (bit && (seen & bit))
            return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "extension %u twice in ServerHello", type);
        seen |= bit;
        switch (type) {
        case TLS_EXT_SERVER_NAME:
            if (tls_rd_left(&body))
                return FAIL(e, TLS_ALERT_DECODE_ERROR, "non-empty server_name in ServerHello");
            break;
        case TLS_EXT_EC_POINT_FORMATS: {
            tls_rd f = tls_rd_vec(&body, 1, 1, 255);
            bool unc = false;
            while (tls_rd_left(&f))
                unc |= tls_rd_u8(&f) == 0;
            if (body.bad || !tls_rd_done(&body) || !unc)
                return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "ec_point_formats without uncompressed");
            break;
        }
        case TLS_EXT_ALPN: {
            int rc = tls_hs_accept_alpn(e, &body);
            if (rc)
                return rc;
            break;
        }
        case TLS_EXT_ENCRYPT_THEN_MAC:
            if (tls_rd_left(&body))
                return FAIL(e, TLS_ALERT_DECODE_ERROR, "non-empty encrypt_then_mac");
            got_etm = true;
            break;
        case TLS_EXT_EXTENDED_MASTER_SECRET:
            if (tls_rd_left(&body))
                return FAIL(e, TLS_ALERT_DECODE_ERROR, "non-empty extended_master_secret");
            got_ems = true;
            break;
        case TLS_EXT_RENEGOTIATION_INFO: {
            tls_rd v = tls_rd_vec(&body, 1, 0, 255);
            if (body.bad || !tls_rd_done(&body))
                return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed renegotiation_info");
            size_t expect = e->connected_once ? 2 * e->verify_len : 0;
            if (v.len != expect ||
                (expect && (CRYPTO_memcmp(v.p, e->client_verify, e->verify_len) ||
                            CRYPTO_memcmp(v.p + e->verify_len, e->server_verify, e->verify_len))))
                return FAIL(e, TLS_ALERT_HANDSHAKE_FAILURE, "renegotiation_info does not match (RFC 5746)");
            got_reneg = true;
            break;
        }
        case TLS_EXT_SESSION_TICKET:
        case TLS_EXT_SUPPORTED_GROUPS:
        default:
            return FAIL(e, TLS_ALERT_UNSUPPORTED_EXTENSION, "the server sent extension %u we did not offer",
                        type);
        }
    }
    if (e->connected_once && e->secure_reneg && !got_reneg)
        return FAIL(e, TLS_ALERT_HANDSHAKE_FAILURE, "renegotiation without renegotiation_info (RFC 5746)");
    if (!got_reneg && c->opts.secure_renegotiate)
        return FAIL(e, TLS_ALERT_HANDSHAKE_FAILURE,
                    "the server does not support secure renegotiation (RFC 5746) and secure_renegotiate is set");
    e->secure_reneg = got_reneg;
    if (version == TLS_SSL3)
        got_ems = got_etm = false;
    if (tls_cipher_desc_get(s->cipher)->kind != TLS_CIPHER_CBC)
        got_etm = false;

    bool resume = hs->have_resume && sid.len && sid.len == hs->offered_session_len &&
                  !memcmp(sid.p, hs->offered_session, sid.len);
    if (resume) {
        if (hs->resume.version != version || hs->resume.suite != suite_id)
            return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "resumed session with another version or suite");
        if (hs->resume.ems != got_ems) /* RFC 7627 5.3 */
            return FAIL(e, TLS_ALERT_HANDSHAKE_FAILURE, "resumption changes extended_master_secret");
        memcpy(e->master, hs->resume.master, 48);
        e->ems = got_ems;
        e->etm = got_etm;
        e->reused = true;
        memcpy(e->session_id, sid.p, sid.len);
        e->session_id_len = sid.len;
        if (hs->resume.peer_cert) {
            free(e->peer_cert);
            e->peer_cert = hs->resume.peer_cert;
            e->peer_cert_len = hs->resume.peer_cert_len;
            hs->resume.peer_cert = NULL;
        }
        tls_hs_keylog(e);
        int rc = tls_hs_derive_keys(e);
        if (rc)
            return rc;
        hs->resuming = true;
        hs->state = HS_C_WAIT_CCS;
        return TLS_OK;
    }
    e->reused = false;
    e->ems = got_ems;
    e->etm = got_etm;
    memcpy(e->session_id, sid.p, sid.len);
    e->session_id_len = sid.len;
    hs->state = HS_C_WAIT_CERT;
    return TLS_OK;
}

static int server_certificate(tls_engine *e, tls_rd *r)
{
    tls_hs *hs = e->hs;
    int rc = tls_hs_parse_certificate(e, r->p, r->len);
    if (rc)
        return rc;
    if (!hs->n_peer_chain)
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "the server sent no certificate");
    if (!tls_kx_fits_key(e->suite->kx, hs->peer_key))
        return FAIL(e, TLS_ALERT_UNSUPPORTED_CERTIFICATE, "the server's key does not fit suite %s",
                    e->suite->info.openssl_name);
    rc = tls_hs_verify_peer(e);
    if (rc)
        return rc;
    hs->state = e->suite->kx == TLS_KX_RSA ? HS_C_WAIT_CR_OR_SHD : HS_C_WAIT_SKE;
    return TLS_OK;
}

/* Reads the signature that ends a ServerKeyExchange and checks it over
 * client_random + server_random + params. */
static int check_ske_signature(tls_engine *e, const uint8_t *params, size_t params_len, tls_rd *r)
{
    tls_hs *hs = e->hs;
    uint16_t scheme;
    tls_rd sig;
    int rc = tls_hs_read_signature(e, r, "ServerKeyExchange", &scheme, &sig);
    if (rc)
        return rc;
    size_t tbs_len = 64 + params_len;
    uint8_t *tbs = malloc(tbs_len);
    if (!tbs)
        return tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "ServerKeyExchange");
    memcpy(tbs, e->client_random, 32);
    memcpy(tbs + 32, e->server_random, 32);
    memcpy(tbs + 64, params, params_len);
    bool ok = scheme && tls_sig_verify(hs->peer_key, scheme, tbs, tbs_len, sig.p, sig.len);
    free(tbs);
    if (!ok)
        return FAIL(e, TLS_ALERT_DECRYPT_ERROR, "the ServerKeyExchange signature does not verify (%s)",
                    tls_sig_error());
    return TLS_OK;
}

static int server_key_exchange(tls_engine *e, tls_rd *r)
{
    tls_hs *hs = e->hs;
    const uint8_t *params = r->p + r->off;
    if (e->suite->kx == TLS_KX_ECDHE_RSA || e->suite->kx == TLS_KX_ECDHE_ECDSA) {
        uint8_t curve_type = tls_rd_u8(r);
        uint16_t group = tls_rd_u16(r);
        tls_rd point = tls_rd_vec(r, 1, 1, 255);
        if (r->bad)
            return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed ServerKeyExchange");
        bool ours = false;
        for (size_t i = 0; i < sizeof client_groups / sizeof *client_groups; i++)
            ours |= client_groups[i] == group;
        if (curve_type != 3 || !ours)
            return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the server chose curve type %u group %u we did not offer",
                        curve_type, group);
        hs->group = group;
        hs->peer_ske = malloc(point.len);
        if (!hs->peer_ske)
            return tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "ServerKeyExchange");
        memcpy(hs->peer_ske, point.p, point.len);
        hs->peer_ske_len = point.len;
    } else {
        tls_rd p = tls_rd_vec(r, 2, 1, 0xffff);
        tls_rd g = tls_rd_vec(r, 2, 1, 0xffff);
        tls_rd ys = tls_rd_vec(r, 2, 1, 0xffff);
        if (r->bad)
            return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed ServerKeyExchange");
        hs->dh_p = malloc(p.len);
        hs->dh_g = malloc(g.len);
        hs->peer_ske = malloc(ys.len);
        if (!hs->dh_p || !hs->dh_g || !hs->peer_ske)
            return tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "ServerKeyExchange");
        memcpy(hs->dh_p, p.p, p.len);
        hs->dh_p_len = p.len;
        memcpy(hs->dh_g, g.p, g.len);
        hs->dh_g_len = g.len;
        memcpy(hs->peer_ske, ys.p, ys.len);
        hs->peer_ske_len = ys.len;
    }
    size_t params_len = (size_t)(r->p + r->off - params);
    int rc = check_ske_signature(e, params, params_len, r);
    if (rc)
        return rc;
    hs->state = HS_C_WAIT_CR_OR_SHD;
    return TLS_OK;
}

static int certificate_request(tls_engine *e, tls_rd *r)
{
    tls_hs *hs = e->hs;
    tls_rd types = tls_rd_vec(r, 1, 1, 255);
    hs->n_cert_types = 0;
    while (tls_rd_left(&types) && hs->n_cert_types < sizeof hs->cert_types)
        hs->cert_types[hs->n_cert_types++] = tls_rd_u8(&types);
    if (e->version >= TLS_TLS12) {
        tls_rd algs = tls_rd_vec(r, 2, 2, 0xfffe);
        hs->n_peer_sigalgs = 0;
        while (tls_rd_left(&algs) >= 2) {
            uint16_t a = tls_rd_u16(&algs);
            if (hs->n_peer_sigalgs < sizeof hs->peer_sigalgs / sizeof *hs->peer_sigalgs)
                hs->peer_sigalgs[hs->n_peer_sigalgs++] = a;
        }
        hs->peer_sent_sigalgs = true;
        if (tls_rd_left(&algs))
            r->bad = true;
    }
    tls_rd cas = tls_rd_vec(r, 2, 0, 0xffff);
    while (tls_rd_left(&cas))
        (void)tls_rd_vec(&cas, 2, 1, 0xffff);
    if (r->bad || cas.bad || !tls_rd_done(r))
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed CertificateRequest");
    hs->cert_requested = true;
    hs->state = HS_C_WAIT_SHD;
    return TLS_OK;
}

static int send_client_key_exchange(tls_engine *e)
{
    tls_hs *hs = e->hs;
    tls_wr w = tls_wr_dynamic(600);
    uint8_t pub[1024];
    size_t pub_len = 0;
    int rc = TLS_OK;
    switch (e->suite->kx) {
    case TLS_KX_RSA: {
        hs->pms[0] = (uint8_t)(hs->client_version >> 8);
        hs->pms[1] = (uint8_t)hs->client_version;
        if (RAND_bytes(hs->pms + 2, 46) != 1) {
            rc = tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "no random bytes");
            break;
        }
        hs->pms_len = 48;
        uint8_t enc[1024];
        size_t enc_len = 0;
        if (!tls_rsa_encrypt_pms(hs->peer_key, hs->pms, enc, sizeof enc, &enc_len)) {
            rc = tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "RSA encryption of the premaster secret");
            break;
        }
        if (e->version == TLS_SSL3)
            tls_wr_bytes(&w, enc, enc_len); /* SSL 3.0: no length prefix */
        else
            tls_wr_vec(&w, 2, enc, enc_len);
        break;
    }
    case TLS_KX_DHE_RSA:
    case TLS_KX_DHE_DSS:
        EVP_PKEY_free(hs->eph); /* a TLS 1.3 key share offered in the ClientHello */
        hs->eph = tls_dhe_keygen_from(hs->dh_p, hs->dh_p_len, hs->dh_g, hs->dh_g_len, pub, sizeof pub, &pub_len);
        if (!hs->eph) {
            rc = FAIL(e, TLS_ALERT_INSUFFICIENT_SECURITY, "the server's DH group is unacceptable: %s",
                      tls_kex_error());
            break;
        }
        if (!tls_dhe_derive(hs->eph, hs->peer_ske, hs->peer_ske_len, hs->pms, sizeof hs->pms, &hs->pms_len)) {
            rc = FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the server's DH public value is invalid");
            break;
        }
        tls_wr_vec(&w, 2, pub, pub_len);
        break;
    default:
        EVP_PKEY_free(hs->eph); /* a TLS 1.3 key share offered in the ClientHello */
        hs->eph = tls_ecdhe_keygen(hs->group, pub, sizeof pub, &pub_len);
        if (!hs->eph) {
            rc = tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "ECDHE key generation");
            break;
        }
        if (!tls_ecdhe_derive(hs->eph, hs->group, hs->peer_ske, hs->peer_ske_len, hs->pms, sizeof hs->pms,
                              &hs->pms_len)) {
            rc = FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the server's ECDH public point is invalid");
            break;
        }
        tls_wr_vec(&w, 1, pub, pub_len);
        break;
    }
    if (rc == TLS_OK && (w.bad || !tls_hs_send_msg(e, TLS_HS_CLIENT_KEY_EXCHANGE, &w)))
        rc = tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "ClientKeyExchange");
    tls_wr_free(&w);
    return rc;
}

static int send_certificate_verify(tls_engine *e)
{
    tls_hs *hs = e->hs;
    EVP_PKEY *key = e->cfg->cred.key;
    uint8_t sig[1024];
    size_t sig_len = 0;
    tls_wr w = tls_wr_dynamic(600);
    bool ok;
    if (e->version == TLS_SSL3) {
        uint8_t h[36];
        ok = tls_ssl3_cert_verify_hash(e->master, hs->transcript.p, hs->transcript.len, h) &&
             tls_sig_sign_prehashed(key, h, sig, sizeof sig, &sig_len);
        OPENSSL_cleanse(h, sizeof h);
    } else {
        uint16_t scheme = tls_sig_choose(key, e->version, hs->peer_sigalgs, hs->n_peer_sigalgs);
        if (!scheme) {
            tls_wr_free(&w);
            return FAIL(e, TLS_ALERT_HANDSHAKE_FAILURE,
                        "no signature scheme the server accepts fits our client key");
        }
        if (e->version >= TLS_TLS12)
            tls_wr_u16(&w, scheme);
        ok = tls_sig_sign(key, scheme, hs->transcript.p, hs->transcript.len, sig, sizeof sig, &sig_len);
    }
    if (!ok) {
        tls_wr_free(&w);
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "signing CertificateVerify");
    }
    tls_wr_vec(&w, 2, sig, sig_len);
    ok = !w.bad && tls_hs_send_msg(e, TLS_HS_CERTIFICATE_VERIFY, &w);
    tls_wr_free(&w);
    return ok ? TLS_OK : tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "CertificateVerify");
}

static int server_hello_done(tls_engine *e, tls_rd *r)
{
    tls_hs *hs = e->hs;
    if (tls_rd_left(r))
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "ServerHelloDone with a body");
    bool have_cert = e->cfg->cred.chain && e->cfg->cred.key;
    if (hs->cert_requested) {
        if (have_cert) {
            if (!tls_hs_send_certificate12(e, true))
                return tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "Certificate");
            hs->client_sent_cert = true;
        } else if (e->version == TLS_SSL3) {
            tls_engine_send_alert(e, 1, TLS_ALERT_NO_CERTIFICATE);
        } else if (!tls_hs_send_certificate12(e, false)) {
            return tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "Certificate");
        }
    }
    int rc = send_client_key_exchange(e);
    if (!rc)
        rc = tls_hs_compute_master(e);
    if (!rc && hs->client_sent_cert)
        rc = send_certificate_verify(e);
    if (!rc)
        rc = tls_hs_derive_keys(e);
    if (rc)
        return rc;
    if (!tls_hs_send_ccs_finished(e))
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "sending Finished");
    hs->state = HS_C_WAIT_CCS;
    return TLS_OK;
}

static int server_finished(tls_engine *e, tls_rd *r)
{
    int rc = tls_hs_check_finished(e, r->p, r->len);
    if (rc)
        return rc;
    if (e->hs->resuming && !tls_hs_send_ccs_finished(e))
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "sending Finished");
    tls_hs_done(e);
    return TLS_OK;
}

const tls_hs_transition tls_client12_table[] = {
    {HS_C_WAIT_SH, TLS_HS_SERVER_HELLO, server_hello},
    {HS_C_WAIT_CERT, TLS_HS_CERTIFICATE, server_certificate},
    {HS_C_WAIT_SKE, TLS_HS_SERVER_KEY_EXCHANGE, server_key_exchange},
    {HS_C_WAIT_CR_OR_SHD, TLS_HS_CERTIFICATE_REQUEST, certificate_request},
    {HS_C_WAIT_CR_OR_SHD, TLS_HS_SERVER_HELLO_DONE, server_hello_done},
    {HS_C_WAIT_SHD, TLS_HS_SERVER_HELLO_DONE, server_hello_done},
    {HS_C_WAIT_FINISHED, TLS_HS_FINISHED, server_finished},
};
const size_t tls_client12_table_len = sizeof tls_client12_table / sizeof *tls_client12_table;
