/* The hellos: the ClientHello built by a client (every version it offers,
 * TLS 1.3's key share and PSK binder included) and parsed by a server, the
 * version chosen from it (the fork into the TLS 1.2 or 1.3 server), and the
 * ServerHello's fork on the client. */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <string.h>

#include "handshake.h"
#include "keysched13.h"

/* ======================================================================
 * client: ClientHello out, ServerHello in
 * ====================================================================== */

static bool suite_offered(const tls_engine *e, const tls_suite *s)
{
    for (uint16_t v = e->cfg->min_version; v <= e->cfg->max_version; v++)
        if (tls_suite_usable(s, v))
            return true;
    return false;
}

/* The binder covers the transcript so far and this ClientHello up to its
 * binders list (header included). */
static bool fill_binder(tls_engine *e, tls_wr *body)
{
    tls_hs *hs = e->hs;
    tls_hash_id h = tls_suite_by_id(hs->resume.suite)->prf_hash;
    size_t hl = tls_hash_len(h), prior = hs->transcript.len, at = hs->binders_at;
    uint8_t hdr[4] = {TLS_HS_CLIENT_HELLO, (uint8_t)(body->len >> 16), (uint8_t)(body->len >> 8),
                      (uint8_t)body->len};
    tls_wr_bytes(&hs->transcript, hdr, 4);
    tls_wr_bytes(&hs->transcript, body->p, at);
    uint8_t binder[TLS13_MAX_HASH];
    bool ok = !hs->transcript.bad && tls13_psk_binder(h, hs->resume.master, hs->transcript.p, hs->transcript.len,
                                                      binder);
    hs->transcript.len = prior;
    if (ok)
        memcpy(body->p + at + 3, binder, hl); /* after the list and binder lengths */
    return ok;
}

/* Builds and sends the ClientHello from the handshake state (again after a
 * HelloRetryRequest, with the same random and session id). */
static int send_client_hello(tls_engine *e)
{
    tls_config *c = e->cfg;
    tls_hs *hs = e->hs;
    bool reneg = e->connected_once;
    uint16_t max = c->max_version > TLS_TLS12 ? TLS_TLS12 : c->max_version;
    if (reneg)
        max = e->version; /* a renegotiation keeps the version */
    hs->ch_max = max;
    hs->ch_offer13 = !reneg && c->max_version >= TLS_TLS13;
    hs->ch_ecdhe = hs->ch_cbc = false;
    hs->binders_at = 0;
    tls_wr w = tls_wr_dynamic(512);
    tls_wr_u16(&w, max);
    tls_wr_bytes(&w, e->client_random, 32);
    tls_wr_vec(&w, 1, hs->legacy_session_id, hs->legacy_session_id_len);
    size_t at = tls_wr_begin_vec(&w, 2);
    for (size_t i = 0; i < c->n_suites; i++) {
        const tls_suite *s = tls_suite_by_id(c->suites[i]);
        if (!s || !suite_offered(e, s) || s->min_version > (hs->ch_offer13 ? TLS_TLS13 : max))
            continue;
        tls_wr_u16(&w, s->info.id);
        hs->ch_ecdhe |= s->kx == TLS_KX_ECDHE_RSA || s->kx == TLS_KX_ECDHE_ECDSA || s->kx == TLS_KX_TLS13;
        hs->ch_cbc |= tls_cipher_desc_get(s->cipher)->kind == TLS_CIPHER_CBC;
    }
    bool extensions = max > TLS_SSL3;
    bool scsv = !reneg && !extensions; /* SSL 3.0 carries no extensions: RFC 5746's SCSV instead */
    if (scsv)
        tls_wr_u16(&w, TLS_SCSV_RENEGOTIATION);
    if (c->opts.fallback_scsv && !reneg)
        tls_wr_u16(&w, TLS_SCSV_FALLBACK);
    tls_wr_end_vec(&w, at, 2);
    tls_wr_u8(&w, 1); /* compression methods: null only */
    tls_wr_u8(&w, 0);
    hs->ext_offered = 0;
    int rc = extensions ? tls_ext_write(e, EXT_IN_CH, &w) : TLS_OK;
    if (scsv)
        tls_ext_mark_offered(hs, TLS_EXT_RENEGOTIATION_INFO);
    if (rc == TLS_OK && hs->binders_at && !w.bad && !fill_binder(e, &w))
        rc = tls_engine_fail(e, TLS_E_INTERNAL, -1, "PSK binder");
    hs->client_version = max;
    if (rc == TLS_OK && (w.bad || !tls_hs_send_msg(e, TLS_HS_CLIENT_HELLO, &w)))
        rc = tls_engine_fail(e, TLS_E_NOMEM, -1, "building ClientHello");
    tls_wr_free(&w);
    if (rc == TLS_OK)
        hs->state = HS_C_WAIT_SH;
    return rc;
}

int tls_hs_client_start(tls_engine *e)
{
    tls_config *c = e->cfg;
    tls_hs *hs = e->hs;
    bool reneg = e->connected_once;
    uint16_t max = c->max_version > TLS_TLS12 ? TLS_TLS12 : c->max_version;
    if (reneg)
        max = e->version;
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
    int rc = tls12_client_offer_ticket(e);
    if (rc)
        return rc;
    /* TLS 1.3 middlebox compatibility (RFC 8446 D.4): a non-empty legacy_session_id */
    if (!reneg && c->max_version >= TLS_TLS13 && !hs->offered_session_len) {
        if (RAND_bytes(hs->legacy_session_id, 32) != 1)
            return tls_engine_fail(e, TLS_E_INTERNAL, -1, "no random bytes");
        hs->legacy_session_id_len = 32;
    } else {
        memcpy(hs->legacy_session_id, hs->offered_session, hs->offered_session_len);
        hs->legacy_session_id_len = hs->offered_session_len;
    }
    return send_client_hello(e);
}

int tls_hs_server_hello(tls_engine *e, tls_rd *r)
{
    tls_server_hello sh;
    sh.version = tls_rd_u16(r);
    tls_rd_copy(r, sh.random, 32);
    sh.session_id = tls_rd_vec(r, 1, 0, 32);
    sh.suite = tls_rd_u16(r);
    sh.compression = tls_rd_u8(r);
    sh.exts = tls_rd_make(NULL, 0);
    if (tls_rd_left(r))
        sh.exts = tls_rd_vec(r, 2, 0, 0xffff);
    if (r->bad || !tls_rd_done(r))
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed ServerHello");
    /* supported_versions in the extensions means TLS 1.3 (RFC 8446 4.2.1) */
    tls_rd unused;
    if (!tls_ext_find(sh.exts, TLS_EXT_SUPPORTED_VERSIONS, &unused))
        return tls12_client_server_hello(e, &sh);
    if (sh.compression != 0)
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the server chose compression method %u", sh.compression);
    int rc = tls13_client_server_hello(e, &sh);
    if (rc == TLS_OK && e->hs->hrr_pending) {
        e->hs->hrr_pending = false;
        return send_client_hello(e);
    }
    return rc;
}

/* ======================================================================
 * server: ClientHello in, the version chosen
 * ====================================================================== */

static int parse_client_hello(tls_engine *e, tls_rd *r, tls_client_hello *ch)
{
    memset(ch, 0, sizeof *ch);
    ch->version = tls_rd_u16(r);
    tls_rd_copy(r, ch->random, 32);
    ch->session_id = tls_rd_vec(r, 1, 0, 32);
    ch->suites = tls_rd_vec(r, 2, 2, 0xfffe);
    tls_rd comp = tls_rd_vec(r, 1, 1, 255);
    if (r->bad || (ch->suites.len & 1))
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed ClientHello");
    for (tls_rd s = ch->suites; tls_rd_left(&s);) {
        uint16_t id = tls_rd_u16(&s);
        if (id == TLS_SCSV_RENEGOTIATION)
            ch->scsv_reneg = true;
        else if (id == TLS_SCSV_FALLBACK)
            ch->scsv_fallback = true;
        else
            ch->n_suites++;
    }
    bool null_comp = false;
    while (tls_rd_left(&comp))
        null_comp |= tls_rd_u8(&comp) == 0;
    if (!null_comp)
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the client does not offer null compression");
    tls_rd exts = tls_rd_make(NULL, 0);
    if (tls_rd_left(r)) {
        exts = tls_rd_vec(r, 2, 0, 0xffff);
        if (r->bad || !tls_rd_done(r))
            return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed ClientHello extensions block");
    }
    return tls_ext_parse_client_hello(e, exts, ch);
}

/* Server: our preference among the client's ALPN protocols (RFC 7301 3.2). */
static int select_alpn(tls_engine *e, const tls_client_hello *ch)
{
    tls_config *c = e->cfg;
    e->alpn = "";
    if (!ch->has_alpn || !c->n_alpn)
        return TLS_OK;
    for (size_t i = 0; i < c->n_alpn && !e->alpn[0]; i++) {
        tls_rd l = ch->alpn;
        while (tls_rd_left(&l)) {
            tls_rd name = tls_rd_vec(&l, 1, 1, 255);
            if (name.len == strlen(c->alpn[i]) && !memcmp(name.p, c->alpn[i], name.len)) {
                e->alpn = c->alpn[i];
                break;
            }
        }
    }
    if (!e->alpn[0])
        return FAIL(e, TLS_ALERT_NO_APPLICATION_PROTOCOL, "no ALPN protocol in common");
    return TLS_OK;
}

static bool lists_version(const tls_client_hello *ch, uint16_t version)
{
    for (tls_rd v = ch->versions; ch->has_versions && tls_rd_left(&v) >= 2;)
        if (tls_rd_u16(&v) == version)
            return true;
    return false;
}

/* RFC 5746: the first handshake notes the client's support, a renegotiation
 * must prove it is the same client. */
static int check_secure_renegotiation(tls_engine *e, const tls_client_hello *ch)
{
    if (e->connected_once) {
        if (ch->scsv_reneg)
            return FAIL(e, TLS_ALERT_HANDSHAKE_FAILURE, "renegotiation ClientHello with the SCSV");
        if (e->secure_reneg) {
            if (!ch->has_reneg_ext || ch->reneg_ext.len != e->verify_len ||
                CRYPTO_memcmp(ch->reneg_ext.p, e->client_verify, e->verify_len))
                return FAIL(e, TLS_ALERT_HANDSHAKE_FAILURE, "renegotiation_info does not match (RFC 5746)");
        } else if (ch->has_reneg_ext) {
            return FAIL(e, TLS_ALERT_HANDSHAKE_FAILURE, "renegotiation_info on an insecure connection");
        }
        return TLS_OK;
    }
    if (ch->has_reneg_ext && ch->reneg_ext.len)
        return FAIL(e, TLS_ALERT_HANDSHAKE_FAILURE, "non-empty renegotiation_info in the first handshake");
    /* a client without RFC 5746 gets its first handshake; secure_renegotiate
     * refuses only a renegotiation with it (dispatch.c), as OpenSSL does */
    e->secure_reneg = ch->scsv_reneg || ch->has_reneg_ext;
    return TLS_OK;
}

/* The version for a TLS <= 1.2 handshake; 0 after an alert. A
 * legacy_version above TLS 1.2 ((3,4), (4,1), (254,254)...) asks for the
 * best we have (RFC 5246 E.1, RFC 8446 D.2). */
static uint16_t choose_version12(tls_engine *e, tls_client_hello *ch)
{
    tls_config *c = e->cfg;
    uint16_t top = c->max_version > TLS_TLS12 ? TLS_TLS12 : c->max_version;
    uint16_t offered = ch->version;
    /* a client that lists supported_versions without TLS 1.3 (or talks to a
     * server without it) is negotiated from that list (RFC 8446 4.2.1) */
    if (ch->has_versions && !e->connected_once) {
        uint16_t best = 0;
        for (tls_rd v = ch->versions; tls_rd_left(&v) >= 2;) {
            uint16_t x = tls_rd_u16(&v);
            if (x >= c->min_version && x <= top && x > best)
                best = x;
        }
        if (!best) {
            FAIL(e, TLS_ALERT_PROTOCOL_VERSION, "no version of supported_versions is enabled here");
            return 0;
        }
        offered = best;
    }
    e->hs->client_version = offered;
    if (offered < TLS_SSL3 || offered < c->min_version) {
        FAIL(e, TLS_ALERT_PROTOCOL_VERSION, "the client offers at most %s, we need at least %s",
             tls_version_name(offered), tls_version_name(c->min_version));
        return 0;
    }
    uint16_t version = offered < top ? offered : top;
    if (e->connected_once) {
        if (version < e->version) {
            FAIL(e, TLS_ALERT_PROTOCOL_VERSION, "renegotiation with a lower version");
            return 0;
        }
        return e->version;
    }
    if (ch->scsv_fallback && version < c->max_version) {
        /* RFC 7507: the client retried with a lower version although we could
         * do better (TLS 1.3 included: our best is what counts) */
        FAIL(e, TLS_ALERT_INAPPROPRIATE_FALLBACK, "fallback to %s refused (TLS_FALLBACK_SCSV)",
             tls_version_name(version));
        return 0;
    }
    return version;
}

int tls_hs_client_hello(tls_engine *e, tls_rd *r)
{
    tls_hs *hs = e->hs;
    tls_client_hello ch;
    int rc = parse_client_hello(e, r, &ch);
    if (rc)
        return rc;
    /* a client that knows supported_versions sends legacy_version 0x0303;
     * SSL 3.0 or below there is refused, as OpenSSL does (RFC 8446 4.1.2) */
    if (ch.has_versions && ch.version <= TLS_SSL3)
        return FAIL(e, TLS_ALERT_PROTOCOL_VERSION, "legacy_version 0x%04x with supported_versions", ch.version);
    /* TLS 1.3 when the client lists it in supported_versions (RFC 8446 4.2.1) */
    if (!e->connected_once && e->cfg->max_version >= TLS_TLS13 && lists_version(&ch, TLS_TLS13)) {
        memcpy(e->client_random, ch.random, 32);
        hs->client_version = TLS_TLS13;
        rc = select_alpn(e, &ch);
        return rc ? rc : tls13_server_start(e, &ch);
    }
    uint16_t version = choose_version12(e, &ch);
    if (!version)
        return e->err.code;
    rc = check_secure_renegotiation(e, &ch);
    if (!rc)
        rc = select_alpn(e, &ch);
    return rc ? rc : tls12_server_start(e, &ch, version);
}

/* The second ClientHello, after our HelloRetryRequest. */
int tls_hs_client_hello2(tls_engine *e, tls_rd *r)
{
    tls_client_hello ch;
    int rc = parse_client_hello(e, r, &ch);
    if (rc)
        return rc;
    if (!lists_version(&ch, TLS_TLS13) || !ch.has_key_share)
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the second ClientHello changed its versions or lacks key_share");
    return tls13_server_client_hello2(e, &ch);
}
