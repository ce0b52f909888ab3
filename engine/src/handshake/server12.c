/* The server's handshake (SSL 3.0 .. TLS 1.2) once hello.c chose the
 * version: our flight (ServerHello, Certificate, ServerKeyExchange,
 * CertificateRequest, ServerHelloDone), then the client's Certificate,
 * ClientKeyExchange, CertificateVerify, ChangeCipherSpec and Finished, and
 * our NewSessionTicket (RFC 5077). Suites are chosen by our preference;
 * resumption by session id or ticket; RFC 5746, 7627,
 * 7366 and the RFC 8446 downgrade sentinel. */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "handshake.h"
#include "kex.h"
#include "prf.h"
#include "sig.h"

static bool is_ecdhe(const tls_suite *s)
{
    return s->kx == TLS_KX_ECDHE_RSA || s->kx == TLS_KX_ECDHE_ECDSA;
}

static bool is_dhe(const tls_suite *s)
{
    return s->kx == TLS_KX_DHE_RSA || s->kx == TLS_KX_DHE_DSS;
}

/* RFC 7919 4: the FFDHE group of a DHE exchange, 0 for the configured
 * parameters; false when the client named finite-field groups (a known one
 * or not) and we share none of them. */
static bool dhe_group(const tls_engine *e, uint16_t *group)
{
    bool ok;
    *group = tls_dhe_group_choose(e->cfg->opts.security_level, e->hs->peer_groups, e->hs->n_peer_groups, &ok);
    return ok && (*group || !e->hs->peer_ffdhe);
}

/* Server preference: the first of our suites the client offered that works
 * with the version, our key, a common group and a signature the client takes.
 * *no_ffdhe: a DHE suite was passed over for want of a common FFDHE group. */
static const tls_suite *choose_suite(tls_engine *e, const tls_client_hello *ch, uint16_t version, bool *no_ffdhe)
{
    tls_config *c = e->cfg;
    tls_hs *hs = e->hs;
    uint16_t ffdhe;
    for (size_t i = 0; i < c->n_suites; i++) {
        const tls_suite *s = tls_suite_by_id(c->suites[i]);
        if (!s || !tls_suite_usable(s, version) || !tls_kx_fits_key(s->kx, c->cred.key))
            continue;
        if (!tls_ch_offers_suite(ch, s->info.id))
            continue;
        bool have_share;
        if (is_ecdhe(s) && (!tls_hs_pick_group(e, version, ch->key_share, &have_share) || !ch->ecdhe_uncompressed))
            continue;
        if (is_dhe(s) && !dhe_group(e, &ffdhe)) {
            *no_ffdhe = true;
            continue;
        }
        if (s->kx != TLS_KX_RSA &&
            !tls_sig_choose_at(c->cred.key, version, c->opts.security_level,
                               hs->peer_sent_sigalgs ? hs->peer_sigalgs : NULL, hs->n_peer_sigalgs))
            continue;
        return s;
    }
    return NULL;
}

static bool suite_enabled(const tls_config *c, uint16_t id)
{
    for (size_t i = 0; i < c->n_suites; i++)
        if (c->suites[i] == id)
            return true;
    return false;
}

/* The session the client names, by ticket or by id, and whether it is
 * resumed: 1 resumed; 0 a full handshake; < 0 failed (alert sent). */
static int try_resume(tls_engine *e, const tls_client_hello *ch, uint16_t version)
{
    tls_hs *hs = e->hs;
    tls_config *c = e->cfg;
    if (!c->opts.reuse_sessions || e->connected_once)
        return 0;
    /* RFC 5077 3.4: a client that presents a ticket resumes from it or not at all */
    bool found = ch->has_ticket_ext && ch->ticket.len
                     ? tls12_server_open_ticket(e, ch)
                     : ch->session_id.len && tls_cache_get_by_id(&c->cache, ch->session_id.p, ch->session_id.len,
                                                                 &hs->resume);
    if (!found)
        return 0;
    hs->have_resume = true;
    /* RFC 7627 5.3: a session with the extended master secret is not resumed
     * without it (abort); one without it is not resumed with it (full) */
    if (hs->resume.ems && !hs->peer_ems)
        return FAIL(e, TLS_ALERT_HANDSHAKE_FAILURE, "resumption of an extended_master_secret session without it");
    const tls_suite *s = tls_suite_by_id(hs->resume.suite);
    if (!s || hs->resume.version != version || hs->resume.ems != hs->peer_ems || !suite_enabled(c, s->info.id))
        return 0;
    /* a resumed session keeps its suite, which the client must offer (RFC
     * 5246 7.4.1.2); one that does not is refused, as OpenSSL does */
    if (!tls_ch_offers_suite(ch, hs->resume.suite))
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the client resumes a session without offering its suite %s",
                    s->info.openssl_name);
    if (c->opts.reuse_session &&
        !c->opts.reuse_session(hs->resume.id, hs->resume.id_len, hs->resume.peer_cert,
                               hs->resume.peer_cert_len, 0, &s->info, c->opts.reuse_session_arg))
        return 0;
    e->suite = s;
    return 1;
}

static bool send_server_hello(tls_engine *e)
{
    tls_wr w = tls_wr_dynamic(256);
    tls_wr_u16(&w, e->version);
    tls_wr_bytes(&w, e->server_random, 32);
    tls_wr_vec(&w, 1, e->session_id, e->session_id_len);
    tls_wr_u16(&w, e->suite->info.id);
    tls_wr_u8(&w, 0);
    size_t ext = w.len;
    if (tls_ext_write(e, EXT_IN_SH, &w) != TLS_OK)
        w.bad = true; /* not sent, only freed */
    if (w.len == ext + 2)
        w.len = ext; /* no extensions: leave the block out (SSL 3.0 peers) */
    return tls_hs_send_built(e, TLS_HS_SERVER_HELLO, &w);
}

static int send_server_key_exchange(tls_engine *e)
{
    tls_hs *hs = e->hs;
    tls_config *c = e->cfg;
    tls_wr w = tls_wr_dynamic(1200);
    int rc = TLS_OK;
    if (is_ecdhe(e->suite)) {
        uint8_t pub[160];
        size_t pub_len = 0;
        bool have_share;
        hs->group = tls_hs_pick_group(e, e->version, tls_rd_make(NULL, 0), &have_share);
        hs->eph = tls_ecdhe_keygen(hs->group, pub, sizeof pub, &pub_len);
        tls_wr_u8(&w, 3); /* named_curve */
        tls_wr_u16(&w, hs->group);
        tls_wr_vec(&w, 1, pub, pub_len);
    } else {
        uint8_t p[1024], g[1024], pub[1024];
        size_t p_len = 0, g_len = 0, pub_len = 0;
        uint16_t ffdhe = 0;
        if (dhe_group(e, &ffdhe))
            hs->eph = tls_dhe_keygen_group(ffdhe, c->dh_params, p, &p_len, g, &g_len, pub, &pub_len, sizeof p);
        tls_wr_vec(&w, 2, p, p_len);
        tls_wr_vec(&w, 2, g, g_len);
        tls_wr_vec(&w, 2, pub, pub_len);
    }
    if (!hs->eph) {
        tls_wr_free(&w);
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "ephemeral key generation");
    }
    size_t params_len = w.len;
    uint16_t scheme = tls_sig_choose_at(c->cred.key, e->version, c->opts.security_level,
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
    if (e->version >= TLS_TLS12)
        tls_hs_put_sigalgs(e, &w);
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
    return tls_hs_send_built(e, TLS_HS_CERTIFICATE_REQUEST, &w);
}

int tls12_server_start(tls_engine *e, const tls_client_hello *ch, uint16_t version)
{
    tls_config *c = e->cfg;
    tls_hs *hs = e->hs;
    e->version = version;
    e->rec_version = version;
    memcpy(e->client_random, ch->random, 32);
    if (RAND_bytes(e->server_random, 32) != 1)
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "no random bytes");
    /* RFC 8446 4.1.3 sentinels, so that a newer client can detect a downgrade */
    if (c->max_version >= TLS_TLS13 && version == TLS_TLS12)
        memcpy(e->server_random + 24, "DOWNGRD\x01", 8);
    else if (c->max_version >= TLS_TLS12 && version <= TLS_TLS11)
        memcpy(e->server_random + 24, "DOWNGRD\x00", 8);

    if (version == TLS_SSL3)
        hs->peer_ems = hs->peer_etm = false;

    int resume = try_resume(e, ch, version);
    if (resume < 0)
        return resume;
    if (resume) {
        e->reused = true;
        e->ems = hs->resume.ems;
        e->etm = hs->peer_etm && tls_cipher_desc_get(e->suite->cipher)->kind == TLS_CIPHER_CBC;
        memcpy(e->session_id, hs->resume.id, hs->resume.id_len);
        e->session_id_len = hs->resume.id_len;
        memcpy(e->master, hs->resume.master, 48);
        tls_hs_take_resumed_peer_cert(e);
        hs->resuming = true;
        tls_hs_keylog(e);
        if (!send_server_hello(e))
            return tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "ServerHello");
        int rc = tls_hs_derive_keys(e);
        if (rc)
            return rc;
        if (!tls_hs_send_ccs_finished(e))
            return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "sending Finished");
        hs->state = HS_S_WAIT_CCS;
        return TLS_OK;
    }

    /* signature_algorithms_cert without signature_algorithms leaves no
     * scheme both sides named: no full handshake, as OpenSSL decides */
    if (version >= TLS_TLS12 && ch->has_sigalgs_cert && !hs->peer_sent_sigalgs)
        return FAIL(e, TLS_ALERT_HANDSHAKE_FAILURE,
                    "signature_algorithms_cert without signature_algorithms: no signature scheme in common");
    bool no_ffdhe = false;
    const tls_suite *s = choose_suite(e, ch, version, &no_ffdhe);
    if (!s && no_ffdhe) /* RFC 7919 4 */
        return FAIL(e, TLS_ALERT_INSUFFICIENT_SECURITY,
                    "the client's finite-field groups are none of ours and no other suite is in common");
    if (!s)
        return FAIL(e, TLS_ALERT_HANDSHAKE_FAILURE, "no cipher suite in common for %s (the client offered %zu)",
                    tls_version_name(version), ch->n_suites);
    e->suite = s;
    e->reused = false;
    e->ems = hs->peer_ems;
    e->etm = hs->peer_etm && tls_cipher_desc_get(s->cipher)->kind == TLS_CIPHER_CBC;
    e->session_id_len = 0;
    /* a session that lives in a ticket gets no id: we keep nothing to find by it */
    hs->ticket_expected = tls12_server_issues_ticket(e, ch);
    if (c->opts.reuse_sessions && !hs->ticket_expected) {
        if (RAND_bytes(e->session_id, 32) != 1)
            return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "no random bytes");
        e->session_id_len = 32;
    }
    if (!send_server_hello(e) || !tls_hs_send_certificate12(e, true))
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

int tls12_server_certificate(tls_engine *e, tls_rd *r)
{
    tls_hs *hs = e->hs;
    int rc = tls_hs_parse_certificate(e, r->p, r->len);
    if (rc)
        return rc;
    if (!hs->n_peer_chain) {
        rc = tls_hs_no_client_certificate(e, tls_bad_cert_alert(TLS_BAD_CERT_NO_PEER_CERT, e->version));
        if (rc)
            return rc;
    } else {
        rc = tls_hs_verify_peer(e);
        if (rc)
            return rc;
        hs->client_sent_cert = true;
    }
    hs->state = HS_S_WAIT_CKE;
    return TLS_OK;
}

int tls12_server_key_exchange_in(tls_engine *e, tls_rd *r)
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

int tls12_server_certificate_verify(tls_engine *e, tls_rd *r)
{
    tls_hs *hs = e->hs;
    bool ok;
    if (e->version == TLS_SSL3) {
        tls_rd sig = tls_rd_vec(r, 2, 0, 0xffff);
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

int tls12_server_finished(tls_engine *e, tls_rd *r)
{
    int rc = tls_hs_check_finished(e, r->p, r->len);
    if (rc)
        return rc;
    if (!e->hs->resuming) {
        if (e->hs->ticket_expected && (rc = tls12_send_new_session_ticket(e)))
            return rc;
        if (!tls_hs_send_ccs_finished(e))
            return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "sending Finished");
    }
    e->hs->state = HS_DONE;
    return TLS_OK;
}

/* Old SSL 3.0 clients skip the Certificate we asked for (they may warn
 * no_certificate instead); anyone else doing so is refused. */
int tls12_server_key_exchange_without_cert(tls_engine *e, tls_rd *r)
{
    if (e->version == TLS_SSL3 && !e->cfg->opts.fail_if_no_peer_cert)
        return tls12_server_key_exchange_in(e, r);
    return FAIL(e, TLS_ALERT_UNEXPECTED_MESSAGE, "the client skipped the Certificate we asked for");
}
