/* The TLS 1.3 server once hello.c saw TLS 1.3 in supported_versions: suite
 * and group (a HelloRetryRequest when the client sent no usable share), a
 * ticket of ours in pre_shared_key, then our flight (ServerHello,
 * EncryptedExtensions, CertificateRequest, Certificate, CertificateVerify,
 * Finished) and the client's Certificate, CertificateVerify and Finished. */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "handshake.h"
#include "keysched13.h"
#include "kex.h"
#include "sig.h"

/* ServerHello or HelloRetryRequest, and the one compatibility CCS after it. */
static bool send_hello13(tls_engine *e, bool retry)
{
    tls_hs *hs = e->hs;
    tls_wr w = tls_wr_dynamic(256);
    tls_wr_u16(&w, TLS_TLS12);
    tls_wr_bytes(&w, retry ? tls13_hrr_random : e->server_random, 32);
    tls_wr_vec(&w, 1, hs->legacy_session_id, hs->legacy_session_id_len);
    tls_wr_u16(&w, e->suite->info.id);
    tls_wr_u8(&w, 0);
    if (tls_ext_write(e, retry ? EXT_IN_HRR : EXT_IN_SH13, &w) != TLS_OK)
        w.bad = true; /* not sent, only freed */
    bool ok = tls_hs_send_built(e, TLS_HS_SERVER_HELLO, &w);
    if (ok && !hs->compat_ccs_sent && hs->legacy_session_id_len) {
        static const uint8_t ccs = 1; /* middlebox compatibility, once (RFC 8446 D.4) */
        ok = tls_engine_send_record(e, TLS_CT_CCS, &ccs, 1);
        hs->compat_ccs_sent = true;
    }
    return ok;
}

/* Accepts the client's first PSK identity if it is a ticket of ours for a
 * suite of the same hash and its binder is right (RFC 8446 4.2.11). */
static int check_psk(tls_engine *e, tls_client_hello *ch)
{
    tls_hs *hs = e->hs;
    tls_config *c = e->cfg;
    hs->psk_accepted = false;
    if (ch->has_psk && !ch->has_psk_modes) /* RFC 8446 4.2.9 */
        return FAIL(e, TLS_ALERT_MISSING_EXTENSION, "pre_shared_key without psk_key_exchange_modes");
    if (!ch->has_psk || !c->opts.reuse_sessions)
        return TLS_OK;
    bool dhe = false;
    for (tls_rd m = ch->psk_modes; ch->has_psk_modes && tls_rd_left(&m);)
        dhe |= tls_rd_u8(&m) == 1;
    tls_rd body = ch->psk;
    tls_rd ids = tls_rd_vec(&body, 2, 7, 0xffff);
    tls_rd binders = tls_rd_vec(&body, 2, 33, 0xffff);
    if (body.bad || !tls_rd_done(&body))
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed pre_shared_key");
    tls_rd id = tls_rd_vec(&ids, 2, 1, 0xffff);
    (void)tls_rd_u16(&ids);
    (void)tls_rd_u16(&ids); /* obfuscated_ticket_age: no 0-RTT, so not checked */
    tls_rd binder = tls_rd_vec(&binders, 1, 32, 255);
    if (ids.bad || binders.bad)
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed pre_shared_key identities");
    if (!dhe || !tls_cache_get_by_id(&c->cache, id.p, id.len, &hs->resume))
        return TLS_OK; /* unknown ticket: a full handshake */
    hs->have_resume = true;
    const tls_suite *rs = tls_suite_by_id(hs->resume.suite);
    if (hs->resume.version != TLS_TLS13 || !rs || rs->prf_hash != e->suite->prf_hash)
        return TLS_OK;
    if (c->opts.reuse_session &&
        !c->opts.reuse_session(hs->resume.id, hs->resume.id_len, hs->resume.peer_cert, hs->resume.peer_cert_len,
                               0, &e->suite->info, c->opts.reuse_session_arg))
        return TLS_OK;
    /* the binder covers the ClientHello up to its binders list, which ends it */
    size_t hl = tls_hash_len(rs->prf_hash);
    size_t cut = hs->transcript.len - (size_t)(ch->psk.p + ch->psk.len - binders.p) - 2;
    uint8_t want[TLS13_MAX_HASH];
    if (binder.len != hl || !tls13_psk_binder(rs->prf_hash, hs->resume.master, hs->transcript.p, cut, want))
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "PSK binder of the wrong length");
    if (CRYPTO_memcmp(want, binder.p, hl) != 0)
        return FAIL(e, TLS_ALERT_DECRYPT_ERROR, "the PSK binder does not verify");
    memcpy(hs->psk, hs->resume.master, hl);
    hs->psk_accepted = true;
    return TLS_OK;
}

static bool send_certificate_request13(tls_engine *e)
{
    tls_wr w = tls_wr_dynamic(256);
    tls_wr_u8(&w, 0); /* empty certificate_request_context */
    if (tls_ext_write(e, EXT_IN_CR, &w) != TLS_OK)
        w.bad = true; /* not sent, only freed */
    return tls_hs_send_built(e, TLS_HS_CERTIFICATE_REQUEST, &w);
}

/* ServerHello .. Finished, with the client's share for hs->group in ch. */
static int server_flight(tls_engine *e, tls_client_hello *ch)
{
    tls_hs *hs = e->hs;
    tls_config *c = e->cfg;
    tls_rd peer;
    int rc = check_psk(e, ch);
    if (rc)
        return rc;
    e->reused = hs->psk_accepted;
    if (hs->psk_accepted)
        tls_hs_take_resumed_peer_cert(e);
    if (!tls_hs_find_share(ch->key_share, hs->group, &peer))
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "no key share for group %u", hs->group);
    hs->eph = tls_ecdhe_keygen(hs->group, hs->key_share, sizeof hs->key_share, &hs->key_share_len);
    if (!hs->eph)
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "key share: %s", tls_kex_error());
    if (!tls_ecdhe_derive(hs->eph, hs->group, peer.p, peer.len, hs->pms, sizeof hs->pms, &hs->pms_len))
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the client's key share is invalid: %s", tls_kex_error());
    if (RAND_bytes(e->server_random, 32) != 1)
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "no random bytes");
    if (!send_hello13(e, false))
        return tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "ServerHello");
    rc = tls13_derive_handshake_secrets(e);
    if (rc)
        return rc;
    if (!tls13_set_write(e, hs->s_hs) || !tls13_set_read(e, hs->c_hs))
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "handshake keys");

    tls_wr w = tls_wr_dynamic(256);
    if (tls_ext_write(e, EXT_IN_EE, &w) != TLS_OK)
        w.bad = true; /* not sent, only freed */
    bool ok = tls_hs_send_built(e, TLS_HS_ENCRYPTED_EXTENSIONS, &w);
    if (!ok)
        return tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "EncryptedExtensions");

    hs->cert_requested = c->opts.verify == TLS_VERIFY_PEER && !hs->psk_accepted;
    if (hs->cert_requested && !send_certificate_request13(e))
        return tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "CertificateRequest");
    if (!hs->psk_accepted) {
        rc = tls_hs_send_certificate13(e, true, NULL, 0);
        if (rc)
            return rc;
    }
    if (!tls13_send_finished(e, hs->s_hs))
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "Finished");
    rc = tls13_derive_app_secrets(e);
    if (rc)
        return rc;
    if (!tls13_set_write(e, e->s_ap))
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "application keys");
    hs->state = hs->cert_requested ? HS13_S_WAIT_CERT : HS13_S_WAIT_FINISHED;
    return TLS_OK;
}

/* The key_share extension's list, checked entry by entry; false: malformed. */
static bool share_list(tls_rd body, tls_rd *shares)
{
    *shares = tls_rd_vec(&body, 2, 0, 0xffff);
    if (body.bad || !tls_rd_done(&body))
        return false;
    for (tls_rd chk = *shares; tls_rd_left(&chk);) {
        tls_rd_u16(&chk);
        (void)tls_rd_vec(&chk, 2, 1, 0xffff);
        if (chk.bad)
            return false;
    }
    return true;
}

int tls13_server_start(tls_engine *e, tls_client_hello *ch)
{
    tls_hs *hs = e->hs;
    tls_config *c = e->cfg;
    if (e->connected_once)
        return FAIL(e, TLS_ALERT_UNEXPECTED_MESSAGE, "ClientHello after a TLS 1.3 handshake");
    e->version = TLS_TLS13;
    e->rec_version = TLS_TLS12;
    hs->tls13 = true;
    memcpy(hs->legacy_session_id, ch->session_id.p, ch->session_id.len);
    hs->legacy_session_id_len = ch->session_id.len;
    if (!hs->peer_sent_sigalgs)
        return FAIL(e, TLS_ALERT_MISSING_EXTENSION, "TLS 1.3 ClientHello without signature_algorithms");
    if (!ch->has_key_share || !hs->peer_sent_groups)
        return FAIL(e, TLS_ALERT_MISSING_EXTENSION, "TLS 1.3 ClientHello without key_share or supported_groups");
    if (!share_list(ch->key_share, &ch->key_share))
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed key_share");
    if (ch->has_early_data) /* never accepted: core skips its records (RFC 8446 4.2.10) */
        tls_engine_reject_early_data(e);

    /* suite: our preference among the client's TLS 1.3 suites */
    const tls_suite *s = NULL;
    for (size_t i = 0; i < c->n_suites && !s; i++) {
        const tls_suite *cand = tls_suite_by_id(c->suites[i]);
        if (cand && tls_suite_usable(cand, TLS_TLS13) && tls_ch_offers_suite(ch, cand->info.id))
            s = cand;
    }
    if (!s)
        return FAIL(e, TLS_ALERT_HANDSHAKE_FAILURE, "no TLS 1.3 cipher suite in common");
    if (!tls_sig_choose_at(c->cred.key, TLS_TLS13, c->opts.security_level, hs->peer_sigalgs, hs->n_peer_sigalgs))
        return FAIL(e, TLS_ALERT_HANDSHAKE_FAILURE, "no TLS 1.3 signature scheme of the client fits our key");
    e->suite = s;
    e->reused = false;
    e->ems = e->etm = false;
    e->session_id_len = 0;

    bool have_share;
    uint16_t group = tls_hs_pick_group(e, TLS_TLS13, ch->key_share, &have_share);
    if (!group)
        return FAIL(e, TLS_ALERT_HANDSHAKE_FAILURE, "no key exchange group in common");
    hs->group = group;
    if (!have_share) {
        /* HelloRetryRequest: transcript = message_hash(ClientHello1) || HRR */
        if (!tls_hs_transcript_to_message_hash(e, hs->transcript.len) || !send_hello13(e, true))
            return tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "HelloRetryRequest");
        hs->hrr = true;
        hs->state = HS13_S_WAIT_CH2;
        return TLS_OK;
    }
    return server_flight(e, ch);
}

/* The second ClientHello (hello.c parsed it) must keep the session id and
 * our suite, and now carry a share for our group. */
int tls13_server_client_hello2(tls_engine *e, tls_client_hello *ch)
{
    tls_hs *hs = e->hs;
    if (ch->session_id.len != hs->legacy_session_id_len ||
        memcmp(ch->session_id.p, hs->legacy_session_id, ch->session_id.len))
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the second ClientHello changed legacy_session_id");
    if (!tls_ch_offers_suite(ch, e->suite->info.id))
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the second ClientHello dropped the chosen suite");
    if (ch->has_early_data) /* RFC 8446 4.2.10 */
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "early_data in the second ClientHello");
    tls_rd peer;
    if (!share_list(ch->key_share, &ch->key_share) || !tls_hs_find_share(ch->key_share, hs->group, &peer))
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the second ClientHello has no share for group %u", hs->group);
    return server_flight(e, ch);
}

int tls13_server_certificate(tls_engine *e, tls_rd *r)
{
    tls_hs *hs = e->hs;
    int rc = tls_hs_parse_certificate13(e, r, NULL, 0);
    if (rc)
        return rc;
    if (!hs->n_peer_chain) {
        rc = tls_hs_no_client_certificate(e, TLS_ALERT_CERTIFICATE_REQUIRED);
        if (!rc)
            hs->state = HS13_S_WAIT_FINISHED;
        return rc;
    }
    rc = tls_hs_verify_peer(e);
    if (rc)
        return rc;
    hs->client_sent_cert = true;
    hs->state = HS13_S_WAIT_CV;
    return TLS_OK;
}

int tls13_server_finished_without_cert(tls_engine *e, tls_rd *r)
{
    (void)r;
    return FAIL(e, TLS_ALERT_UNEXPECTED_MESSAGE, "the client skipped the Certificate we asked for");
}

/* The ticket goes out once the handshake is finished (dispatch.c). */
int tls13_server_finished(tls_engine *e, tls_rd *r)
{
    int rc = tls13_check_finished(e, e->hs->c_hs, r);
    if (rc)
        return rc;
    if (!tls13_set_read(e, e->c_ap) || !tls13_derive_res_master(e))
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "application keys");
    e->hs->state = HS_DONE;
    return TLS_OK;
}
