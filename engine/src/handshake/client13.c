/* The TLS 1.3 client after its ClientHello (hello.c): the ServerHello or a
 * HelloRetryRequest, EncryptedExtensions, CertificateRequest, the server's
 * Certificate and CertificateVerify, Finished; then our certificate if asked,
 * our Finished. A ticket from an earlier connection resumes (pre_shared_key). */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "handshake.h"
#include "kex.h"

/* A HelloRetryRequest: the group it asks for and the cookie go into the hs;
 * hello.c then sends the second ClientHello (hs->hrr_pending). */
static int hello_retry_request(tls_engine *e, tls_rd exts)
{
    tls_hs *hs = e->hs;
    if (hs->hrr)
        return FAIL(e, TLS_ALERT_UNEXPECTED_MESSAGE, "a second HelloRetryRequest");
    tls_ext_in in;
    int rc = tls_ext_parse(e, EXT_IN_HRR, exts, &in);
    if (rc)
        return rc;
    if (!in.has_version || in.version != TLS_TLS13)
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "HelloRetryRequest without TLS 1.3 in supported_versions");
    uint16_t group = in.has_share ? in.group : 0;
    if (group && (!tls_hs_group_ours(e, group) || group == hs->group))
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "HelloRetryRequest asks for group %u", group);
    if (!group && !hs->cookie_len)
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "HelloRetryRequest that changes nothing");
    hs->hrr = true;
    /* the transcript: message_hash(ClientHello1) || HelloRetryRequest */
    if (!tls_hs_transcript_to_message_hash(e, hs->before))
        return tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "transcript");
    if (group) {
        EVP_PKEY_free(hs->eph);
        hs->eph = NULL;
        hs->group = group;
    }
    hs->hrr_pending = true;
    return TLS_OK;
}

int tls13_client_server_hello(tls_engine *e, const tls_server_hello *sh)
{
    tls_hs *hs = e->hs;
    tls_config *c = e->cfg;
    if (c->max_version < TLS_TLS13)
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the server chose TLS 1.3, which we did not offer");
    if (e->connected_once)
        return FAIL(e, TLS_ALERT_PROTOCOL_VERSION, "TLS 1.3 in a renegotiation");
    tls_rd sid = sh->session_id;
    if (sid.len != hs->legacy_session_id_len || memcmp(sid.p, hs->legacy_session_id, sid.len))
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the server did not echo our legacy_session_id");
    const tls_suite *s = tls_suite_by_id(sh->suite);
    bool offered = false;
    for (size_t i = 0; s && i < c->n_suites; i++)
        offered |= c->suites[i] == sh->suite;
    if (!s || !offered || !tls_suite_usable(s, TLS_TLS13))
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the server chose suite 0x%04x, not a TLS 1.3 suite we offered",
                    sh->suite);
    if (hs->hrr && e->suite && e->suite != s)
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the suite changed after HelloRetryRequest");
    e->suite = s;
    e->version = TLS_TLS13;
    e->rec_version = TLS_TLS12; /* legacy_record_version */
    hs->tls13 = true;
    if (!memcmp(sh->random, tls13_hrr_random, 32))
        return hello_retry_request(e, sh->exts);
    memcpy(e->server_random, sh->random, 32);

    tls_ext_in in;
    int rc = tls_ext_parse(e, EXT_IN_SH13, sh->exts, &in);
    if (rc)
        return rc;
    if (!in.has_version || in.version != TLS_TLS13)
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "supported_versions does not select TLS 1.3");
    if (in.has_psk) {
        if (in.psk_identity != 0)
            return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "pre_shared_key selects identity %u we did not offer",
                        in.psk_identity);
        if (tls_suite_by_id(hs->resume.suite)->prf_hash != s->prf_hash)
            return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "resumption with a suite of another hash");
        hs->psk_accepted = true;
        memcpy(hs->psk, hs->resume.master, sizeof hs->psk);
    }
    if (!in.has_share)
        return FAIL(e, TLS_ALERT_MISSING_EXTENSION, "ServerHello without key_share");
    if (in.group != hs->group)
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the server's key share is for group %u, we sent %u", in.group,
                    hs->group);
    if (!tls_ecdhe_derive(hs->eph, in.group, in.share.p, in.share.len, hs->pms, sizeof hs->pms, &hs->pms_len))
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the server's key share is invalid: %s", tls_kex_error());
    e->reused = hs->psk_accepted;
    e->ems = e->etm = false;
    e->session_id_len = 0;
    if (hs->psk_accepted)
        tls_hs_take_resumed_peer_cert(e);
    rc = tls13_derive_handshake_secrets(e);
    if (rc)
        return rc;
    /* middlebox compatibility (RFC 8446 D.4): one CCS before our first
     * encrypted record; from here on even our alerts are encrypted */
    static const uint8_t ccs = 1;
    if (!tls_engine_send_record(e, TLS_CT_CCS, &ccs, 1) || !tls13_set_read(e, hs->s_hs) ||
        !tls13_set_write(e, hs->c_hs))
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "handshake keys");
    hs->state = HS13_C_WAIT_EE;
    return TLS_OK;
}

int tls13_client_encrypted_extensions(tls_engine *e, tls_rd *r)
{
    tls_rd exts = tls_rd_vec(r, 2, 0, 0xffff);
    if (r->bad || !tls_rd_done(r))
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed EncryptedExtensions");
    e->alpn = "";
    tls_ext_in in;
    int rc = tls_ext_parse(e, EXT_IN_EE, exts, &in);
    if (rc)
        return rc;
    /* a resumed session authenticates through the PSK: no certificates */
    e->hs->state = e->hs->psk_accepted ? HS13_C_WAIT_FINISHED : HS13_C_WAIT_CERT_CR;
    return TLS_OK;
}

int tls13_client_certificate_request(tls_engine *e, tls_rd *r)
{
    tls_hs *hs = e->hs;
    tls_rd ctx = tls_rd_vec(r, 1, 0, 255);
    tls_rd exts = tls_rd_vec(r, 2, 2, 0xffff);
    if (r->bad || !tls_rd_done(r))
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed CertificateRequest");
    memcpy(hs->cr_context, ctx.p, ctx.len);
    hs->cr_context_len = ctx.len;
    tls_ext_in in;
    int rc = tls_ext_parse(e, EXT_IN_CR, exts, &in);
    if (rc)
        return rc;
    if (!in.sigalgs)
        return FAIL(e, TLS_ALERT_MISSING_EXTENSION, "CertificateRequest without signature_algorithms");
    hs->cert_requested = true;
    hs->state = HS13_C_WAIT_CERT;
    return TLS_OK;
}

int tls13_client_certificate(tls_engine *e, tls_rd *r)
{
    tls_hs *hs = e->hs;
    int rc = tls_hs_parse_certificate13(e, r, NULL, 0);
    if (rc)
        return rc;
    if (!hs->n_peer_chain)
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "the server sent no certificate");
    rc = tls_hs_verify_peer(e);
    if (rc)
        return rc;
    hs->state = HS13_C_WAIT_CV;
    return TLS_OK;
}

int tls13_client_finished(tls_engine *e, tls_rd *r)
{
    tls_hs *hs = e->hs;
    int rc = tls13_check_finished(e, hs->s_hs, r);
    if (!rc)
        rc = tls13_derive_app_secrets(e);
    if (rc)
        return rc;
    if (!tls13_set_read(e, e->s_ap))
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "application keys");
    if (hs->cert_requested) {
        rc = tls_hs_send_certificate13(e, false, hs->cr_context, hs->cr_context_len);
        if (rc)
            return rc;
    }
    if (!tls13_send_finished(e, hs->c_hs) || !tls13_set_write(e, e->c_ap) || !tls13_derive_res_master(e))
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "sending Finished");
    hs->state = HS_DONE;
    return TLS_OK;
}
