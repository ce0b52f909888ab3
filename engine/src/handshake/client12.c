/* The client's handshake (SSL 3.0 .. TLS 1.2) after its ClientHello
 * (hello.c): ServerHello, Certificate, ServerKeyExchange, CertificateRequest,
 * ServerHelloDone; our flight; NewSessionTicket, ChangeCipherSpec and
 * Finished. Resumption by session id or ticket (RFC 5077); secure
 * renegotiation (RFC 5746); extended master secret (RFC 7627);
 * encrypt-then-MAC (RFC 7366); downgrade sentinels (RFC 8446 4.1.3). */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "handshake.h"
#include "kex.h"
#include "prf.h"
#include "sig.h"

static const uint8_t downgrade_tls11[8] = {'D', 'O', 'W', 'N', 'G', 'R', 'D', 0};
static const uint8_t downgrade_tls12[8] = {'D', 'O', 'W', 'N', 'G', 'R', 'D', 1};

int tls12_client_server_hello(tls_engine *e, const tls_server_hello *sh)
{
    tls_config *c = e->cfg;
    tls_hs *hs = e->hs;
    uint16_t version = sh->version, suite_id = sh->suite;
    const uint8_t *random = sh->random;
    tls_rd sid = sh->session_id;
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
    if (sh->compression != 0)
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the server chose compression method %u", sh->compression);

    memcpy(e->server_random, random, 32);
    e->version = version;
    e->rec_version = version;
    e->suite = s;

    e->alpn = "";
    tls_ext_in in;
    int rc = tls_ext_parse(e, EXT_IN_SH, sh->exts, &in);
    if (rc)
        return rc;
    bool got_reneg = in.reneg, got_ems = in.ems, got_etm = in.etm;
    hs->ticket_expected = in.ticket; /* a NewSessionTicket comes before the server's CCS */
    if (e->connected_once && e->secure_reneg && !got_reneg)
        return FAIL(e, TLS_ALERT_HANDSHAKE_FAILURE, "renegotiation without renegotiation_info (RFC 5746)");
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
        tls_hs_take_resumed_peer_cert(e);
        tls_hs_keylog(e);
        rc = tls_hs_derive_keys(e);
        if (rc)
            return rc;
        hs->resuming = true;
        hs->state = hs->ticket_expected ? HS_C_WAIT_NST : HS_C_WAIT_CCS;
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

int tls12_client_certificate(tls_engine *e, tls_rd *r)
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

int tls12_client_key_exchange_in(tls_engine *e, tls_rd *r)
{
    tls_hs *hs = e->hs;
    const uint8_t *params = r->p + r->off;
    if (e->suite->kx == TLS_KX_ECDHE_RSA || e->suite->kx == TLS_KX_ECDHE_ECDSA) {
        uint8_t curve_type = tls_rd_u8(r);
        uint16_t group = tls_rd_u16(r);
        tls_rd point = tls_rd_vec(r, 1, 1, 255);
        if (r->bad)
            return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed ServerKeyExchange");
        if (curve_type != 3 || !tls_hs_group_ours(e, group) || tls_group_is_ffdhe(group))
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

int tls12_client_certificate_request(tls_engine *e, tls_rd *r)
{
    tls_hs *hs = e->hs;
    tls_rd types = tls_rd_vec(r, 1, 1, 255);
    hs->n_cert_types = 0;
    while (tls_rd_left(&types) && hs->n_cert_types < sizeof hs->cert_types)
        hs->cert_types[hs->n_cert_types++] = tls_rd_u8(&types);
    if (e->version >= TLS_TLS12) {
        tls_rd algs = tls_rd_vec(r, 2, 2, 0xfffe);
        if (algs.bad || (algs.len & 1))
            return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed CertificateRequest");
        int rc = tls_hs_read_sigalgs(e, algs);
        if (rc)
            return rc;
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
        hs->eph = NULL;
        if (tls_dhe_prime_allowed(hs->dh_p, hs->dh_p_len, e->cfg->opts.security_level))
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
        uint16_t scheme = tls_sig_choose_at(key, e->version, e->cfg->opts.security_level, hs->peer_sigalgs,
                                            hs->n_peer_sigalgs);
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
    ok = tls_hs_send_built(e, TLS_HS_CERTIFICATE_VERIFY, &w);
    return ok ? TLS_OK : tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "CertificateVerify");
}

int tls12_client_hello_done(tls_engine *e, tls_rd *r)
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
    hs->state = hs->ticket_expected ? HS_C_WAIT_NST : HS_C_WAIT_CCS;
    return TLS_OK;
}

int tls12_client_finished(tls_engine *e, tls_rd *r)
{
    int rc = tls_hs_check_finished(e, r->p, r->len);
    if (rc)
        return rc;
    if (e->hs->resuming && !tls_hs_send_ccs_finished(e))
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "sending Finished");
    e->hs->state = HS_DONE;
    return TLS_OK;
}
