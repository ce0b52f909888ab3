/* The server's handshake (SSL 3.0 .. TLS 1.2): ClientHello in, our flight
 * (ServerHello, Certificate, ServerKeyExchange, CertificateRequest,
 * ServerHelloDone) out, then the client's Certificate, ClientKeyExchange,
 * CertificateVerify, ChangeCipherSpec and Finished. Suites are chosen by our
 * preference; resumption by session id; RFC 5746, 7627, 7366, 7507 (fallback
 * SCSV) and the RFC 8446 downgrade sentinel. */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "kex.h"
#include "prf.h"
#include "sig.h"

#define FAIL(e, alert, ...) tls_engine_fail((e), TLS_E_ALERT_SENT, (alert), __VA_ARGS__)

static const uint16_t server_groups[] = {TLS_GROUP_X25519, TLS_GROUP_SECP256R1, TLS_GROUP_SECP384R1};


static uint16_t pick_group(const tls_hs *hs)
{
    if (!hs->peer_sent_groups)
        return TLS_GROUP_SECP256R1; /* RFC 8422 4: absent means the client takes any */
    for (size_t i = 0; i < sizeof server_groups / sizeof *server_groups; i++)
        for (size_t j = 0; j < hs->n_peer_groups; j++)
            if (server_groups[i] == hs->peer_groups[j])
                return server_groups[i];
    return 0;
}

static int parse_extensions(tls_engine *e, tls_rd *exts, tls_client_hello *ch)
{
    tls_hs *hs = e->hs;
    uint16_t seen[64];
    size_t n_seen = 0;
    ch->ecdhe_uncompressed = true;
    while (tls_rd_left(exts)) {
        uint16_t type = tls_rd_u16(exts);
        tls_rd body = tls_rd_vec(exts, 2, 0, 0xffff);
        if (exts->bad)
            return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed ClientHello extensions");
        for (size_t i = 0; i < n_seen; i++)
            if (seen[i] == type)
                return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "extension %u twice in ClientHello", type);
        if (n_seen < 64)
            seen[n_seen++] = type;
        switch (type) {
        case TLS_EXT_SERVER_NAME: {
            tls_rd list = tls_rd_vec(&body, 2, 1, 0xffff);
            while (!list.bad && tls_rd_left(&list)) {
                uint8_t kind = tls_rd_u8(&list);
                tls_rd name = tls_rd_vec(&list, 2, 1, 0xffff);
                if (list.bad)
                    break;
                if (kind == 0 && !e->server_name[0] && name.len < sizeof e->server_name) {
                    memcpy(e->server_name, name.p, name.len);
                    e->server_name[name.len] = '\0';
                    if (strlen(e->server_name) != name.len)
                        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "server_name with a NUL byte");
                }
            }
            if (list.bad || body.bad || !tls_rd_done(&body))
                return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed server_name");
            break;
        }
        case TLS_EXT_SUPPORTED_GROUPS: {
            tls_rd list = tls_rd_vec(&body, 2, 2, 0xfffe);
            hs->n_peer_groups = 0;
            while (!list.bad && tls_rd_left(&list) >= 2) {
                uint16_t g = tls_rd_u16(&list);
                if (hs->n_peer_groups < sizeof hs->peer_groups / sizeof *hs->peer_groups)
                    hs->peer_groups[hs->n_peer_groups++] = g;
            }
            if (body.bad || tls_rd_left(&list) || !tls_rd_done(&body))
                return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed supported_groups");
            hs->peer_sent_groups = true;
            break;
        }
        case TLS_EXT_EC_POINT_FORMATS: {
            tls_rd f = tls_rd_vec(&body, 1, 1, 255);
            bool unc = false;
            while (tls_rd_left(&f))
                unc |= tls_rd_u8(&f) == 0;
            if (body.bad || !tls_rd_done(&body))
                return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed ec_point_formats");
            ch->ecdhe_uncompressed = unc;
            break;
        }
        case TLS_EXT_SIGNATURE_ALGORITHMS: {
            tls_rd list = tls_rd_vec(&body, 2, 2, 0xfffe);
            hs->n_peer_sigalgs = 0;
            while (!list.bad && tls_rd_left(&list) >= 2) {
                uint16_t a = tls_rd_u16(&list);
                if (hs->n_peer_sigalgs < sizeof hs->peer_sigalgs / sizeof *hs->peer_sigalgs)
                    hs->peer_sigalgs[hs->n_peer_sigalgs++] = a;
            }
            if (body.bad || tls_rd_left(&list) || !tls_rd_done(&body))
                return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed signature_algorithms");
            hs->peer_sent_sigalgs = true;
            break;
        }
        case TLS_EXT_ALPN: {
            tls_rd list = tls_rd_vec(&body, 2, 2, 0xffff);
            if (body.bad || !tls_rd_done(&body))
                return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed ALPN");
            tls_rd check = list;
            while (tls_rd_left(&check))
                (void)tls_rd_vec(&check, 1, 1, 255);
            if (check.bad)
                return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed ALPN protocol list");
            ch->alpn = list;
            ch->has_alpn = true;
            break;
        }
        case TLS_EXT_ENCRYPT_THEN_MAC:
            if (tls_rd_left(&body))
                return FAIL(e, TLS_ALERT_DECODE_ERROR, "non-empty encrypt_then_mac");
            hs->peer_etm = true;
            break;
        case TLS_EXT_EXTENDED_MASTER_SECRET:
            if (tls_rd_left(&body))
                return FAIL(e, TLS_ALERT_DECODE_ERROR, "non-empty extended_master_secret");
            hs->peer_ems = true;
            break;
        case TLS_EXT_RENEGOTIATION_INFO:
            ch->reneg_ext = tls_rd_vec(&body, 1, 0, 255);
            if (body.bad || !tls_rd_done(&body))
                return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed renegotiation_info");
            ch->has_reneg_ext = true;
            break;
        case TLS_EXT_SUPPORTED_VERSIONS:
            ch->versions = tls_rd_vec(&body, 1, 2, 254);
            if (body.bad || !tls_rd_done(&body) || (ch->versions.len & 1))
                return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed supported_versions");
            ch->has_versions = true;
            break;
        case TLS_EXT_KEY_SHARE:
            ch->key_share = body; /* validated by the TLS 1.3 path */
            ch->has_key_share = true;
            break;
        case TLS_EXT_COOKIE:
            ch->cookie = body;
            ch->has_cookie = true;
            break;
        case TLS_EXT_PRE_SHARED_KEY:
            if (tls_rd_left(exts)) /* RFC 8446 4.2.11: it must come last */
                return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "pre_shared_key is not the last extension");
            ch->psk = body;
            ch->has_psk = true;
            break;
        case TLS_EXT_PSK_KEY_EXCHANGE_MODES:
            ch->psk_modes = tls_rd_vec(&body, 1, 1, 255);
            if (body.bad || !tls_rd_done(&body))
                return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed psk_key_exchange_modes");
            ch->has_psk_modes = true;
            break;
        case TLS_EXT_EARLY_DATA: ch->has_early_data = true; break;
        default: break; /* unknown extensions are ignored (RFC 5246 7.4.1.4) */
        }
    }
    return TLS_OK;
}

/* Server preference: the first of our suites the client offered that works
 * with the version, our key, a common group and a signature the client takes. */
static const tls_suite *choose_suite(tls_engine *e, const tls_client_hello *ch, uint16_t version)
{
    tls_config *c = e->cfg;
    tls_hs *hs = e->hs;
    for (size_t i = 0; i < c->n_suites; i++) {
        const tls_suite *s = tls_suite_by_id(c->suites[i]);
        if (!s || !tls_suite_usable(s, version) || !tls_kx_fits_key(s->kx, c->cred.key))
            continue;
        bool offered = false;
        for (size_t j = 0; j < ch->n_suites && !offered; j++)
            offered = ch->suites[j] == s->info.id;
        if (!offered)
            continue;
        if ((s->kx == TLS_KX_ECDHE_RSA || s->kx == TLS_KX_ECDHE_ECDSA) &&
            (!pick_group(hs) || !ch->ecdhe_uncompressed))
            continue;
        if (s->kx != TLS_KX_RSA &&
            !tls_sig_choose(c->cred.key, version, hs->peer_sent_sigalgs ? hs->peer_sigalgs : NULL,
                            hs->n_peer_sigalgs))
            continue;
        return s;
    }
    return NULL;
}

static bool try_resume(tls_engine *e, const tls_client_hello *ch, uint16_t version)
{
    tls_hs *hs = e->hs;
    tls_config *c = e->cfg;
    if (!c->opts.reuse_sessions || !ch->session_id.len || e->connected_once)
        return false;
    if (!tls_cache_get_by_id(&c->cache, ch->session_id.p, ch->session_id.len, &hs->resume))
        return false;
    hs->have_resume = true;
    const tls_suite *s = tls_suite_by_id(hs->resume.suite);
    bool offered = false;
    for (size_t j = 0; j < ch->n_suites; j++)
        offered |= ch->suites[j] == hs->resume.suite;
    /* RFC 7627 5.3: no abbreviated handshake when EMS use differs */
    if (!s || !offered || hs->resume.version != version || hs->resume.ems != hs->peer_ems)
        return false;
    if (c->opts.reuse_session &&
        !c->opts.reuse_session(hs->resume.id, hs->resume.id_len, hs->resume.peer_cert,
                               hs->resume.peer_cert_len, 0, &s->info, c->opts.reuse_session_arg))
        return false;
    e->suite = s;
    return true;
}

static void put_reneg_ext(tls_engine *e, tls_wr *w)
{
    tls_wr_u16(w, TLS_EXT_RENEGOTIATION_INFO);
    size_t a = tls_wr_begin_vec(w, 2);
    size_t b = tls_wr_begin_vec(w, 1);
    if (e->connected_once) {
        tls_wr_bytes(w, e->client_verify, e->verify_len);
        tls_wr_bytes(w, e->server_verify, e->verify_len);
    }
    tls_wr_end_vec(w, b, 1);
    tls_wr_end_vec(w, a, 2);
}

static bool send_server_hello(tls_engine *e, const tls_client_hello *ch, bool sni_used)
{
    tls_wr w = tls_wr_dynamic(256);
    tls_wr_u16(&w, e->version);
    tls_wr_bytes(&w, e->server_random, 32);
    tls_wr_vec(&w, 1, e->session_id, e->session_id_len);
    tls_wr_u16(&w, e->suite->info.id);
    tls_wr_u8(&w, 0);
    size_t ext = tls_wr_begin_vec(&w, 2);
    if (e->secure_reneg)
        put_reneg_ext(e, &w);
    if (e->version > TLS_SSL3) {
        if (sni_used && !e->reused) {
            tls_wr_u16(&w, TLS_EXT_SERVER_NAME);
            tls_wr_u16(&w, 0);
        }
        if (e->ems) {
            tls_wr_u16(&w, TLS_EXT_EXTENDED_MASTER_SECRET);
            tls_wr_u16(&w, 0);
        }
        if (e->etm) {
            tls_wr_u16(&w, TLS_EXT_ENCRYPT_THEN_MAC);
            tls_wr_u16(&w, 0);
        }
        if (e->alpn[0]) {
            tls_wr_u16(&w, TLS_EXT_ALPN);
            size_t a = tls_wr_begin_vec(&w, 2);
            size_t b = tls_wr_begin_vec(&w, 2);
            tls_wr_vec(&w, 1, e->alpn, strlen(e->alpn));
            tls_wr_end_vec(&w, b, 2);
            tls_wr_end_vec(&w, a, 2);
        }
        if ((e->suite->kx == TLS_KX_ECDHE_RSA || e->suite->kx == TLS_KX_ECDHE_ECDSA) && !e->reused) {
            tls_wr_u16(&w, TLS_EXT_EC_POINT_FORMATS);
            tls_wr_u16(&w, 2);
            tls_wr_u8(&w, 1);
            tls_wr_u8(&w, 0);
        }
    }
    if (w.len == ext + 2)
        w.len = ext; /* no extensions: leave the block out (SSL 3.0 peers) */
    else
        tls_wr_end_vec(&w, ext, 2);
    (void)ch;
    bool ok = !w.bad && tls_hs_send_msg(e, TLS_HS_SERVER_HELLO, &w);
    tls_wr_free(&w);
    return ok;
}

static int send_server_key_exchange(tls_engine *e)
{
    tls_hs *hs = e->hs;
    tls_config *c = e->cfg;
    tls_wr w = tls_wr_dynamic(1200);
    int rc = TLS_OK;
    if (e->suite->kx == TLS_KX_ECDHE_RSA || e->suite->kx == TLS_KX_ECDHE_ECDSA) {
        uint8_t pub[160];
        size_t pub_len = 0;
        hs->group = pick_group(hs);
        hs->eph = tls_ecdhe_keygen(hs->group, pub, sizeof pub, &pub_len);
        tls_wr_u8(&w, 3); /* named_curve */
        tls_wr_u16(&w, hs->group);
        tls_wr_vec(&w, 1, pub, pub_len);
    } else {
        uint8_t p[1024], g[1024], pub[1024];
        size_t p_len = 0, g_len = 0, pub_len = 0;
        hs->eph = tls_dhe_keygen(c->dh_params, p, &p_len, g, &g_len, pub, &pub_len, sizeof p);
        tls_wr_vec(&w, 2, p, p_len);
        tls_wr_vec(&w, 2, g, g_len);
        tls_wr_vec(&w, 2, pub, pub_len);
    }
    if (!hs->eph) {
        tls_wr_free(&w);
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "ephemeral key generation");
    }
    size_t params_len = w.len;
    uint16_t scheme = tls_sig_choose(c->cred.key, e->version,
                                     hs->peer_sent_sigalgs ? hs->peer_sigalgs : NULL, hs->n_peer_sigalgs);
    size_t tbs_len = 64 + params_len;
    uint8_t *tbs = malloc(tbs_len);
    uint8_t sig[1024];
    size_t sig_len = 0;
    if (!tbs) {
        tls_wr_free(&w);
        return tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "ServerKeyExchange");
    }
    memcpy(tbs, e->client_random, 32);
    memcpy(tbs + 32, e->server_random, 32);
    memcpy(tbs + 64, w.p, params_len);
    bool ok = scheme && tls_sig_sign(c->cred.key, scheme, tbs, tbs_len, sig, sizeof sig, &sig_len);
    free(tbs);
    if (!ok) {
        rc = tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "signing ServerKeyExchange");
    } else {
        if (e->version >= TLS_TLS12)
            tls_wr_u16(&w, scheme);
        tls_wr_vec(&w, 2, sig, sig_len);
        if (w.bad || !tls_hs_send_msg(e, TLS_HS_SERVER_KEY_EXCHANGE, &w))
            rc = tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "ServerKeyExchange");
    }
    tls_wr_free(&w);
    return rc;
}

static bool send_certificate_request(tls_engine *e)
{
    tls_wr w = tls_wr_dynamic(1024);
    static const uint8_t types[] = {1 /* rsa_sign */, 2 /* dss_sign */, 64 /* ecdsa_sign */};
    tls_wr_vec(&w, 1, types, sizeof types);
    if (e->version >= TLS_TLS12) {
        size_t n;
        const uint16_t *schemes = tls_sig_schemes(&n);
        size_t at = tls_wr_begin_vec(&w, 2);
        for (size_t i = 0; i < n; i++)
            tls_wr_u16(&w, schemes[i]);
        tls_wr_end_vec(&w, at, 2);
    }
    size_t at = tls_wr_begin_vec(&w, 2);
    STACK_OF(X509_NAME) *names = e->cfg->ca_names;
    for (int i = 0; names && i < sk_X509_NAME_num(names); i++) {
        unsigned char *der = NULL;
        int len = i2d_X509_NAME(sk_X509_NAME_value(names, i), &der);
        if (len > 0)
            tls_wr_vec(&w, 2, der, (size_t)len);
        OPENSSL_free(der);
    }
    tls_wr_end_vec(&w, at, 2);
    bool ok = !w.bad && tls_hs_send_msg(e, TLS_HS_CERTIFICATE_REQUEST, &w);
    tls_wr_free(&w);
    return ok;
}

/* Parses a ClientHello into ch (also used for the second one after a
 * HelloRetryRequest). */
int tls_server_parse_hello(tls_engine *e, tls_rd *r, tls_client_hello *ch)
{
    memset(ch, 0, sizeof *ch);
    ch->version = tls_rd_u16(r);
    tls_rd_copy(r, ch->random, 32);
    ch->session_id = tls_rd_vec(r, 1, 0, 32);
    tls_rd suites = tls_rd_vec(r, 2, 2, 0xfffe);
    tls_rd comp = tls_rd_vec(r, 1, 1, 255);
    if (r->bad || (suites.len & 1))
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed ClientHello");
    while (tls_rd_left(&suites)) {
        uint16_t id = tls_rd_u16(&suites);
        if (id == TLS_SCSV_RENEGOTIATION)
            ch->scsv_reneg = true;
        else if (id == TLS_SCSV_FALLBACK)
            ch->scsv_fallback = true;
        else if (ch->n_suites < sizeof ch->suites / sizeof *ch->suites)
            ch->suites[ch->n_suites++] = id;
    }
    bool null_comp = false;
    while (tls_rd_left(&comp))
        null_comp |= tls_rd_u8(&comp) == 0;
    if (!null_comp)
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the client does not offer null compression");
    if (tls_rd_left(r)) {
        tls_rd exts = tls_rd_vec(r, 2, 0, 0xffff);
        if (r->bad || !tls_rd_done(r))
            return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed ClientHello extensions block");
        int rc = parse_extensions(e, &exts, ch);
        if (rc)
            return rc;
    }
    return TLS_OK;
}

/* ALPN: our preference among the client's (RFC 7301 3.2) */
static int select_alpn(tls_engine *e, const tls_client_hello *ch)
{
    tls_config *c = e->cfg;
    e->alpn[0] = '\0';
    if (!ch->has_alpn || !c->n_alpn)
        return TLS_OK;
    for (size_t i = 0; i < c->n_alpn && !e->alpn[0]; i++) {
        tls_rd l = ch->alpn;
        while (tls_rd_left(&l)) {
            tls_rd name = tls_rd_vec(&l, 1, 1, 255);
            if (name.len == strlen(c->alpn[i]) && !memcmp(name.p, c->alpn[i], name.len)) {
                strcpy(e->alpn, c->alpn[i]);
                break;
            }
        }
    }
    if (!e->alpn[0])
        return FAIL(e, TLS_ALERT_NO_APPLICATION_PROTOCOL, "no ALPN protocol in common");
    return TLS_OK;
}

static int client_hello_msg(tls_engine *e, tls_rd *r)
{
    tls_config *c = e->cfg;
    tls_hs *hs = e->hs;
    tls_client_hello ch;
    int prc = tls_server_parse_hello(e, r, &ch);
    if (prc)
        return prc;
    const uint8_t *random = ch.random;
    /* TLS 1.3 when the client lists it in supported_versions (RFC 8446 4.2.1) */
    if (!e->connected_once && ch.has_versions && c->max_version >= TLS_TLS13) {
        bool v13 = false;
        for (tls_rd v = ch.versions; tls_rd_left(&v) >= 2;)
            v13 |= tls_rd_u16(&v) == TLS_TLS13;
        if (v13) {
            memcpy(e->client_random, ch.random, 32);
            hs->client_version = TLS_TLS13;
            int rc = select_alpn(e, &ch);
            return rc ? rc : tls13_server_start(e, &ch);
        }
    }
    /* a client that lists supported_versions without TLS 1.3 (or talks to a
     * server without it) is negotiated from that list (RFC 8446 4.2.1) */
    if (ch.has_versions && !e->connected_once) {
        uint16_t best = 0;
        uint16_t top = c->max_version > TLS_TLS12 ? TLS_TLS12 : c->max_version;
        for (tls_rd v = ch.versions; tls_rd_left(&v) >= 2;) {
            uint16_t x = tls_rd_u16(&v);
            if (x >= c->min_version && x <= top && x > best)
                best = x;
        }
        if (!best)
            return FAIL(e, TLS_ALERT_PROTOCOL_VERSION, "no version of supported_versions is enabled here");
        ch.version = best;
    }
    hs->client_version = ch.version;

    /* version */
    if ((ch.version >> 8) != 3 || ch.version < c->min_version)
        return FAIL(e, TLS_ALERT_PROTOCOL_VERSION, "the client offers at most %s, we need at least %s",
                    tls_version_name(ch.version), tls_version_name(c->min_version));
    uint16_t max = c->max_version > TLS_TLS12 ? TLS_TLS12 : c->max_version;
    uint16_t version = ch.version < max ? ch.version : max;
    if (e->connected_once) {
        if (version < e->version)
            return FAIL(e, TLS_ALERT_PROTOCOL_VERSION, "renegotiation with a lower version");
        version = e->version;
    } else if (ch.scsv_fallback && version < max) {
        /* RFC 7507: the client retried with a lower version although we could do better */
        return FAIL(e, TLS_ALERT_INAPPROPRIATE_FALLBACK, "fallback to %s refused (TLS_FALLBACK_SCSV)",
                    tls_version_name(version));
    }

    /* RFC 5746 */
    if (e->connected_once) {
        if (ch.scsv_reneg)
            return FAIL(e, TLS_ALERT_HANDSHAKE_FAILURE, "renegotiation ClientHello with the SCSV");
        if (e->secure_reneg) {
            if (!ch.has_reneg_ext || ch.reneg_ext.len != e->verify_len ||
                CRYPTO_memcmp(ch.reneg_ext.p, e->client_verify, e->verify_len))
                return FAIL(e, TLS_ALERT_HANDSHAKE_FAILURE, "renegotiation_info does not match (RFC 5746)");
        } else if (ch.has_reneg_ext) {
            return FAIL(e, TLS_ALERT_HANDSHAKE_FAILURE, "renegotiation_info on an insecure connection");
        }
    } else {
        if (ch.has_reneg_ext && ch.reneg_ext.len)
            return FAIL(e, TLS_ALERT_HANDSHAKE_FAILURE, "non-empty renegotiation_info in the first handshake");
        e->secure_reneg = ch.scsv_reneg || ch.has_reneg_ext;
        if (!e->secure_reneg && c->opts.secure_renegotiate)
            return FAIL(e, TLS_ALERT_HANDSHAKE_FAILURE,
                        "the client does not support secure renegotiation (RFC 5746) and secure_renegotiate is set");
    }

    e->version = version;
    e->rec_version = version;
    memcpy(e->client_random, random, 32);
    if (RAND_bytes(e->server_random, 32) != 1)
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "no random bytes");
    /* RFC 8446 4.1.3 sentinels, so that a newer client can detect a downgrade */
    if (c->max_version >= TLS_TLS13 && version == TLS_TLS12)
        memcpy(e->server_random + 24, "DOWNGRD\x01", 8);
    else if (c->max_version >= TLS_TLS12 && version <= TLS_TLS11)
        memcpy(e->server_random + 24, "DOWNGRD\x00", 8);

    if (version == TLS_SSL3)
        hs->peer_ems = hs->peer_etm = false;

    int arc = select_alpn(e, &ch);
    if (arc)
        return arc;

    bool sni_used = e->server_name[0] != '\0';
    if (try_resume(e, &ch, version)) {
        e->reused = true;
        e->ems = hs->resume.ems;
        e->etm = hs->peer_etm && tls_cipher_desc_get(e->suite->cipher)->kind == TLS_CIPHER_CBC;
        memcpy(e->session_id, hs->resume.id, hs->resume.id_len);
        e->session_id_len = hs->resume.id_len;
        memcpy(e->master, hs->resume.master, 48);
        if (hs->resume.peer_cert) {
            free(e->peer_cert);
            e->peer_cert = hs->resume.peer_cert;
            e->peer_cert_len = hs->resume.peer_cert_len;
            hs->resume.peer_cert = NULL;
        }
        hs->resuming = true;
        tls_hs_keylog(e);
        if (!send_server_hello(e, &ch, sni_used))
            return tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "ServerHello");
        int rc = tls_hs_derive_keys(e);
        if (rc)
            return rc;
        if (!tls_hs_send_ccs_finished(e))
            return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "sending Finished");
        hs->state = HS_S_WAIT_CCS;
        return TLS_OK;
    }

    const tls_suite *s = choose_suite(e, &ch, version);
    if (!s)
        return FAIL(e, TLS_ALERT_HANDSHAKE_FAILURE, "no cipher suite in common for %s (the client offered %zu)",
                    tls_version_name(version), ch.n_suites);
    e->suite = s;
    e->reused = false;
    e->ems = hs->peer_ems;
    e->etm = hs->peer_etm && tls_cipher_desc_get(s->cipher)->kind == TLS_CIPHER_CBC;
    e->session_id_len = 0;
    if (c->opts.reuse_sessions) {
        if (RAND_bytes(e->session_id, 32) != 1)
            return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "no random bytes");
        e->session_id_len = 32;
    }
    if (!send_server_hello(e, &ch, sni_used) || !tls_hs_send_certificate12(e, true))
        return tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "ServerHello");
    if (s->kx != TLS_KX_RSA) {
        int rc = send_server_key_exchange(e);
        if (rc)
            return rc;
    }
    hs->cert_requested = c->opts.verify == TLS_VERIFY_PEER;
    if (hs->cert_requested && !send_certificate_request(e))
        return tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "CertificateRequest");
    tls_wr empty = tls_wr_fixed(NULL, 0);
    if (!tls_hs_send_msg(e, TLS_HS_SERVER_HELLO_DONE, &empty))
        return tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "ServerHelloDone");
    hs->state = hs->cert_requested ? HS_S_WAIT_CERT : HS_S_WAIT_CKE;
    return TLS_OK;
}

static int client_certificate(tls_engine *e, tls_rd *r)
{
    tls_hs *hs = e->hs;
    int rc = tls_hs_parse_certificate(e, r->p, r->len);
    if (rc)
        return rc;
    if (!hs->n_peer_chain) {
        if (e->cfg->opts.fail_if_no_peer_cert) {
            e->verify_result = TLS_BAD_CERT_NO_PEER_CERT;
            tls_error err;
            tls_err_set(&err, TLS_E_BAD_CERT, tls_bad_cert_alert(TLS_BAD_CERT_NO_PEER_CERT, e->version),
                        "the client sent no certificate and fail_if_no_peer_cert is set");
            err.bad_cert = TLS_BAD_CERT_NO_PEER_CERT;
            return tls_engine_fail_err(e, &err);
        }
    } else {
        rc = tls_hs_verify_peer(e);
        if (rc)
            return rc;
        hs->client_sent_cert = true;
    }
    hs->state = HS_S_WAIT_CKE;
    return TLS_OK;
}

static int client_key_exchange(tls_engine *e, tls_rd *r)
{
    tls_hs *hs = e->hs;
    switch (e->suite->kx) {
    case TLS_KX_RSA: {
        const uint8_t *enc;
        size_t enc_len;
        if (e->version == TLS_SSL3) {
            enc = r->p;
            enc_len = r->len;
        } else {
            tls_rd v = tls_rd_vec(r, 2, 1, 0xffff);
            if (r->bad || !tls_rd_done(r))
                return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed ClientKeyExchange");
            enc = v.p;
            enc_len = v.len;
        }
        /* never fails: a bad ciphertext yields a random secret (RFC 5246 7.4.7.1) */
        if (!tls_rsa_decrypt_pms(e->cfg->cred.key, hs->client_version, enc, enc_len, hs->pms))
            return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "no random bytes");
        hs->pms_len = 48;
        break;
    }
    case TLS_KX_DHE_RSA:
    case TLS_KX_DHE_DSS: {
        tls_rd v = tls_rd_vec(r, 2, 1, 0xffff);
        if (r->bad || !tls_rd_done(r))
            return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed ClientKeyExchange");
        if (!tls_dhe_derive(hs->eph, v.p, v.len, hs->pms, sizeof hs->pms, &hs->pms_len))
            return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the client's DH public value is invalid");
        break;
    }
    default: {
        tls_rd v = tls_rd_vec(r, 1, 1, 255);
        if (r->bad || !tls_rd_done(r))
            return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed ClientKeyExchange");
        if (!tls_ecdhe_derive(hs->eph, hs->group, v.p, v.len, hs->pms, sizeof hs->pms, &hs->pms_len))
            return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the client's ECDH public point is invalid");
        break;
    }
    }
    int rc = tls_hs_compute_master(e);
    if (!rc)
        rc = tls_hs_derive_keys(e);
    if (rc)
        return rc;
    hs->state = hs->client_sent_cert ? HS_S_WAIT_CV : HS_S_WAIT_CCS;
    return TLS_OK;
}

static int certificate_verify(tls_engine *e, tls_rd *r)
{
    tls_hs *hs = e->hs;
    bool ok;
    if (e->version == TLS_SSL3) {
        tls_rd sig = tls_rd_vec(r, 2, 1, 0xffff);
        if (r->bad || !tls_rd_done(r))
            return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed CertificateVerify");
        uint8_t h[36];
        ok = tls_ssl3_cert_verify_hash(e->master, hs->transcript.p, hs->before, h) &&
             tls_sig_verify_prehashed(hs->peer_key, h, sig.p, sig.len);
    } else {
        uint16_t scheme;
        tls_rd sig;
        int rc = tls_hs_read_signature(e, r, "CertificateVerify", &scheme, &sig);
        if (rc)
            return rc;
        ok = scheme && tls_sig_verify(hs->peer_key, scheme, hs->transcript.p, hs->before, sig.p, sig.len);
    }
    if (!ok)
        return FAIL(e, TLS_ALERT_DECRYPT_ERROR, "the client's CertificateVerify signature does not verify");
    hs->state = HS_S_WAIT_CCS;
    return TLS_OK;
}

static int client_finished(tls_engine *e, tls_rd *r)
{
    int rc = tls_hs_check_finished(e, r->p, r->len);
    if (rc)
        return rc;
    if (!e->hs->resuming && !tls_hs_send_ccs_finished(e))
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "sending Finished");
    tls_hs_done(e);
    return TLS_OK;
}

/* Old SSL 3.0 clients skip the Certificate we asked for (they may warn
 * no_certificate instead); anyone else doing so is refused. */
static int key_exchange_without_certificate(tls_engine *e, tls_rd *r)
{
    if (e->version == TLS_SSL3 && !e->cfg->opts.fail_if_no_peer_cert)
        return client_key_exchange(e, r);
    return FAIL(e, TLS_ALERT_UNEXPECTED_MESSAGE, "the client skipped the Certificate we asked for");
}

const tls_hs_transition tls_server12_table[] = {
    {HS_S_WAIT_CH, TLS_HS_CLIENT_HELLO, client_hello_msg},
    {HS_S_WAIT_CERT, TLS_HS_CERTIFICATE, client_certificate},
    {HS_S_WAIT_CERT, TLS_HS_CLIENT_KEY_EXCHANGE, key_exchange_without_certificate},
    {HS_S_WAIT_CKE, TLS_HS_CLIENT_KEY_EXCHANGE, client_key_exchange},
    {HS_S_WAIT_CV, TLS_HS_CERTIFICATE_VERIFY, certificate_verify},
    {HS_S_WAIT_FINISHED, TLS_HS_FINISHED, client_finished},
};
const size_t tls_server12_table_len = sizeof tls_server12_table / sizeof *tls_server12_table;
