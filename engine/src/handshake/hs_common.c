/* Handshake machinery shared by client and server: message framing and the
 * transcript, ChangeCipherSpec and Finished, master secret and keys, the
 * peer's certificate chain, and the dispatch of each message to the role's
 * state machine. */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "prf.h"
#include "sig.h"

void tls_hs_free(tls_hs *hs)
{
    if (!hs)
        return;
    tls_wr_free(&hs->transcript);
    EVP_PKEY_free(hs->eph);
    EVP_PKEY_free(hs->peer_key);
    free(hs->peer_ske);
    free(hs->dh_p);
    free(hs->dh_g);
    for (size_t i = 0; i < hs->n_peer_chain; i++)
        free(hs->peer_chain[i]);
    free(hs->peer_chain);
    free(hs->peer_chain_len);
    tls_session_wipe(&hs->resume);
    OPENSSL_cleanse(hs, sizeof *hs);
    free(hs);
}

static tls_hs *hs_new(void)
{
    tls_hs *hs = calloc(1, sizeof *hs);
    if (hs)
        hs->transcript = tls_wr_dynamic(4096);
    return hs;
}

int tls_hs_start(tls_engine *e)
{
    if (!e->hs) {
        e->hs = hs_new();
        if (!e->hs)
            return tls_engine_fail(e, TLS_E_NOMEM, -1, "handshake state");
    }
    e->status |= TLS_ST_HANDSHAKING;
    if (e->server) {
        e->hs->state = HS_S_WAIT_CH;
        return TLS_OK;
    }
    return tls_client_start(e);
}

bool tls_hs_send_msg(tls_engine *e, uint8_t type, const tls_wr *body)
{
    uint8_t h[4] = {type, (uint8_t)(body->len >> 16), (uint8_t)(body->len >> 8), (uint8_t)body->len};
    size_t at = e->hs->transcript.len;
    tls_wr_bytes(&e->hs->transcript, h, 4);
    tls_wr_bytes(&e->hs->transcript, body->p, body->len);
    if (e->hs->transcript.bad || body->bad)
        return false;
    return tls_engine_send_record(e, TLS_CT_HANDSHAKE, e->hs->transcript.p + at, 4 + body->len);
}

/* Renegotiation entry points: a handshake message while connected. */
static int handle_when_connected(tls_engine *e, uint8_t type)
{
    bool wanted = e->server ? type == TLS_HS_CLIENT_HELLO : type == TLS_HS_HELLO_REQUEST;
    if (!wanted)
        return tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_UNEXPECTED_MESSAGE,
                               "handshake message %u after the handshake", type);
    bool allowed = e->secure_reneg || (!e->cfg->opts.secure_renegotiate && !e->server);
    if (e->server && !e->secure_reneg)
        allowed = !e->cfg->opts.secure_renegotiate;
    if (!allowed || e->close_sent) {
        /* decline, keep the connection (RFC 5246 7.2.2, RFC 5746 4.2/4.4) */
        if (e->version == TLS_SSL3)
            return tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_HANDSHAKE_FAILURE,
                                   "insecure renegotiation refused (SSL 3.0 has no no_renegotiation alert)");
        tls_engine_send_alert(e, 1, TLS_ALERT_NO_RENEGOTIATION);
        return TLS_OK;
    }
    return tls_hs_start(e);
}

int tls_hs_handle(tls_engine *e, uint8_t type, const uint8_t *body, size_t len, const uint8_t *raw,
                  size_t raw_len)
{
    if (e->status & TLS_ST_FAILED)
        return e->err.code;
    if (type == TLS_HS_HELLO_REQUEST && e->version != TLS_TLS13) {
        if (e->server)
            return tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_UNEXPECTED_MESSAGE,
                                   "HelloRequest sent to a server");
        if (len)
            return tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_DECODE_ERROR, "HelloRequest with a body");
        if (e->hs) /* ignored while a handshake runs (RFC 5246 7.4.1.1) */
            return TLS_OK;
        int rc = handle_when_connected(e, type);
        return rc;
    }
    if (!e->hs && e->version == TLS_TLS13) {
        tls_rd r = tls_rd_make(body, len);
        return tls13_post_handshake(e, type, &r);
    }
    if (!e->hs) {
        int rc = handle_when_connected(e, type);
        if (rc != TLS_OK || !e->hs)
            return rc;
    }
    tls_hs *hs = e->hs;
    if (hs->state == HS_C_WAIT_CCS || hs->state == HS_S_WAIT_CCS)
        return tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_UNEXPECTED_MESSAGE,
                               "handshake message %u where ChangeCipherSpec was expected", type);
    hs->before = hs->transcript.len;
    if (raw) {
        tls_wr_bytes(&hs->transcript, raw, raw_len);
        if (hs->transcript.bad)
            return tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "transcript");
    }
    tls_rd r = tls_rd_make(body, len);
    const tls_hs_transition *t;
    size_t n;
    if (hs->tls13 && hs->state != HS_C_WAIT_SH) {
        t = e->server ? tls_server13_table : tls_client13_table;
        n = e->server ? tls_server13_table_len : tls_client13_table_len;
    } else {
        t = e->server ? tls_server12_table : tls_client12_table;
        n = e->server ? tls_server12_table_len : tls_client12_table_len;
    }
    for (size_t i = 0; i < n; i++)
        if (t[i].state == hs->state && t[i].type == type)
            return t[i].handler(e, &r);
    return tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_UNEXPECTED_MESSAGE,
                           "unexpected %shandshake message %u from the %s", hs->tls13 ? "TLS 1.3 " : "", type,
                           e->server ? "client" : "server");
}

/* The signature that ends a ServerKeyExchange or a CertificateVerify before
 * TLS 1.3: TLS 1.2 names its scheme (one we offered, fitting the peer's key);
 * older versions imply it from the key. */
int tls_hs_read_signature(tls_engine *e, tls_rd *r, const char *what, uint16_t *scheme, tls_rd *sig)
{
    if (e->version >= TLS_TLS12) {
        *scheme = tls_rd_u16(r);
        if (!r->bad && !tls_sig_accept(*scheme, e->hs->peer_key, e->version))
            return tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_ILLEGAL_PARAMETER,
                                   "%s signed with scheme 0x%04x we did not offer for this key", what, *scheme);
    } else {
        *scheme = tls_sig_choose(e->hs->peer_key, e->version, NULL, 0);
    }
    *sig = tls_rd_vec(r, 2, 1, 0xffff);
    if (r->bad || !tls_rd_done(r))
        return tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_DECODE_ERROR, "malformed %s", what);
    return TLS_OK;
}

bool tls_kx_fits_key(tls_kx kx, EVP_PKEY *key)
{
    int id = key ? EVP_PKEY_get_base_id(key) : 0;
    switch (kx) {
    case TLS_KX_RSA:
    case TLS_KX_DHE_RSA:
    case TLS_KX_ECDHE_RSA: return id == EVP_PKEY_RSA;
    case TLS_KX_DHE_DSS: return id == EVP_PKEY_DSA;
    case TLS_KX_ECDHE_ECDSA: return id == EVP_PKEY_EC || id == EVP_PKEY_ED25519;
    default: return false;
    }
}

/* Certificate (TLS 1.2 and before): our chain, or an empty list. */
bool tls_hs_send_certificate12(tls_engine *e, bool with_chain)
{
    tls_wr w = tls_wr_dynamic(4096);
    size_t at = tls_wr_begin_vec(&w, 3);
    for (size_t i = 0; with_chain && i < e->cfg->cred.n; i++)
        tls_wr_vec(&w, 3, e->cfg->cred.der[i], e->cfg->cred.der_len[i]);
    tls_wr_end_vec(&w, at, 3);
    bool ok = !w.bad && tls_hs_send_msg(e, TLS_HS_CERTIFICATE, &w);
    tls_wr_free(&w);
    return ok;
}

int tls_hs_accept_alpn(tls_engine *e, tls_rd *body)
{
    tls_config *c = e->cfg;
    tls_rd list = tls_rd_vec(body, 2, 2, 0xffff);
    tls_rd name = tls_rd_vec(&list, 1, 1, 255);
    if (body->bad || list.bad || !tls_rd_done(&list) || !tls_rd_done(body))
        return tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_DECODE_ERROR, "malformed ALPN from the server");
    bool ours = false;
    for (size_t i = 0; i < c->n_alpn; i++)
        ours |= strlen(c->alpn[i]) == name.len && !memcmp(c->alpn[i], name.p, name.len);
    if (!ours)
        return tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_ILLEGAL_PARAMETER,
                               "the server chose an ALPN protocol we did not offer");
    memcpy(e->alpn, name.p, name.len);
    e->alpn[name.len] = '\0';
    return TLS_OK;
}

int tls_hs_handle_ccs(tls_engine *e)
{
    tls_hs *hs = e->hs;
    if (!hs || (hs->state != HS_C_WAIT_CCS && hs->state != HS_S_WAIT_CCS) || !e->rd_next_ready)
        return tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_UNEXPECTED_MESSAGE,
                               "unexpected ChangeCipherSpec");
    tls_rec_clear(&e->rd);
    e->rd = e->rd_next;
    memset(&e->rd_next, 0, sizeof e->rd_next);
    e->rd_next_ready = false;
    hs->ccs_received = true;
    hs->state = hs->state == HS_C_WAIT_CCS ? HS_C_WAIT_FINISHED : HS_S_WAIT_FINISHED;
    return TLS_OK;
}

void tls_hs_keylog(tls_engine *e)
{
    if (!e->cfg->opts.keylog)
        return;
    char line[200];
    tls_keylog_line(e->client_random, e->master, line, sizeof line);
    e->cfg->opts.keylog(line, e->cfg->opts.keylog_arg);
    OPENSSL_cleanse(line, sizeof line);
}

int tls_hs_compute_master(tls_engine *e)
{
    tls_hs *hs = e->hs;
    uint8_t sh[64];
    size_t sh_len = 0;
    if (e->ems && !tls_transcript_hash(e->version, e->suite->prf_hash, hs->transcript.p,
                                       hs->transcript.len, sh, &sh_len))
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "session hash");
    bool ok = tls_master_secret(e->version, e->suite->prf_hash, hs->pms, hs->pms_len, e->client_random,
                                e->server_random, e->ems ? sh : NULL, sh_len, e->master);
    OPENSSL_cleanse(hs->pms, sizeof hs->pms);
    hs->pms_len = 0;
    if (!ok)
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "master secret");
    tls_hs_keylog(e);
    return TLS_OK;
}

int tls_hs_derive_keys(tls_engine *e)
{
    const tls_suite *s = e->suite;
    const tls_cipher_desc *cd = tls_cipher_desc_get(s->cipher);
    size_t mac = tls_mac_len(s->mac), key = cd->key_len, iv = cd->iv_len;
    uint8_t kb[2 * (48 + 32 + 16)];
    size_t need = 2 * (mac + key + iv);
    if (need > sizeof kb ||
        !tls_key_block(e->version, s->prf_hash, e->master, e->client_random, e->server_random, kb, need))
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "key block");
    const uint8_t *c_mac = kb, *s_mac = kb + mac, *c_key = kb + 2 * mac, *s_key = c_key + key;
    const uint8_t *c_iv = s_key + key, *s_iv = c_iv + iv;
    bool etm = e->etm && cd->kind == TLS_CIPHER_CBC;
    bool ok;
    if (e->server)
        ok = tls_rec_init(&e->rd_next, s, e->version, false, etm, c_mac, c_key, c_iv) &&
             tls_rec_init(&e->wr_next, s, e->version, true, etm, s_mac, s_key, s_iv);
    else
        ok = tls_rec_init(&e->rd_next, s, e->version, false, etm, s_mac, s_key, s_iv) &&
             tls_rec_init(&e->wr_next, s, e->version, true, etm, c_mac, c_key, c_iv);
    OPENSSL_cleanse(kb, sizeof kb);
    if (!ok)
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR,
                               "cipher %s is not available in this libcrypto", s->info.openssl_name);
    e->rd_next_ready = e->wr_next_ready = true;
    return TLS_OK;
}

bool tls_hs_send_ccs_finished(tls_engine *e)
{
    static const uint8_t ccs = 1;
    if (!e->wr_next_ready || !tls_engine_send_record(e, TLS_CT_CCS, &ccs, 1))
        return false;
    tls_rec_clear(&e->wr);
    e->wr = e->wr_next;
    memset(&e->wr_next, 0, sizeof e->wr_next);
    e->wr_next_ready = false;

    uint8_t vd[36];
    size_t vd_len = 0;
    if (!tls_finished(e->version, e->suite->prf_hash, e->master, !e->server, e->hs->transcript.p,
                      e->hs->transcript.len, vd, &vd_len))
        return false;
    memcpy(e->server ? e->server_verify : e->client_verify, vd, vd_len);
    e->verify_len = vd_len;
    tls_wr body = tls_wr_fixed(vd, sizeof vd);
    body.len = vd_len;
    return tls_hs_send_msg(e, TLS_HS_FINISHED, &body);
}

int tls_hs_check_finished(tls_engine *e, const uint8_t *body, size_t len)
{
    uint8_t vd[36];
    size_t vd_len = 0;
    if (!tls_finished(e->version, e->suite->prf_hash, e->master, e->server, e->hs->transcript.p,
                      e->hs->before, vd, &vd_len))
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "Finished computation");
    if (len != vd_len)
        return tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_DECODE_ERROR,
                               "Finished of %zu bytes, expected %zu", len, vd_len);
    if (CRYPTO_memcmp(vd, body, vd_len) != 0)
        return tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_DECRYPT_ERROR,
                               "the peer's Finished does not match (keys or transcript differ)");
    memcpy(e->server ? e->client_verify : e->server_verify, vd, vd_len);
    e->verify_len = vd_len;
    e->hs->ccs_received = false;
    return TLS_OK;
}

void tls_hs_done(tls_engine *e)
{
    tls_hs *hs = e->hs;
    /* remember the session for resumption */
    if (e->cfg->opts.reuse_sessions && e->session_id_len && !e->reused) {
        tls_session s;
        memset(&s, 0, sizeof s);
        memcpy(s.id, e->session_id, e->session_id_len);
        s.id_len = (uint8_t)e->session_id_len;
        s.version = e->version;
        s.suite = e->suite->info.id;
        s.ems = e->ems;
        memcpy(s.master, e->master, 48);
        s.peer_cert = e->peer_cert;
        s.peer_cert_len = e->peer_cert_len;
        if (!e->server && e->server_name[0])
            snprintf(s.name, sizeof s.name, "%s", e->server_name);
        if (e->server || s.name[0])
            tls_cache_put(&e->cfg->cache, &s);
        s.peer_cert = NULL;
        OPENSSL_cleanse(&s, sizeof s);
    }
    (void)hs;
    tls_hs_free(e->hs);
    e->hs = NULL;
    e->connected_once = true;
    e->reneg_requested = false;
    e->status &= ~(unsigned)TLS_ST_HANDSHAKING;
    e->status |= TLS_ST_CONNECTED;
}

int tls_hs_parse_certificate(tls_engine *e, const uint8_t *body, size_t len)
{
    tls_hs *hs = e->hs;
    tls_rd r = tls_rd_make(body, len);
    tls_rd list = tls_rd_vec(&r, 3, 0, 0xffffff);
    if (r.bad || !tls_rd_done(&r))
        return tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_DECODE_ERROR, "malformed Certificate message");
    size_t cap = 0;
    while (tls_rd_left(&list)) {
        tls_rd c = tls_rd_vec(&list, 3, 1, 0xffffff);
        if (list.bad)
            return tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_DECODE_ERROR,
                                   "malformed certificate list (entry %zu)", hs->n_peer_chain);
        if (hs->n_peer_chain == 16)
            return tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_BAD_CERTIFICATE,
                                   "more than 16 certificates in the chain");
        if (hs->n_peer_chain == cap) {
            cap = cap ? cap * 2 : 4;
            uint8_t **nc = realloc(hs->peer_chain, cap * sizeof *nc);
            if (nc)
                hs->peer_chain = nc;
            size_t *nl = realloc(hs->peer_chain_len, cap * sizeof *nl);
            if (nl)
                hs->peer_chain_len = nl;
            if (!nc || !nl)
                return tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "certificate chain");
        }
        uint8_t *d = malloc(c.len);
        if (!d)
            return tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "certificate");
        memcpy(d, c.p, c.len);
        hs->peer_chain[hs->n_peer_chain] = d;
        hs->peer_chain_len[hs->n_peer_chain] = c.len;
        hs->n_peer_chain++;
    }
    if (hs->n_peer_chain) {
        hs->peer_key = tls_cert_pubkey(hs->peer_chain[0], hs->peer_chain_len[0]);
        if (!hs->peer_key)
            return tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_BAD_CERTIFICATE,
                                   "the peer's certificate cannot be parsed");
    }
    return TLS_OK;
}

int tls_hs_verify_peer(tls_engine *e)
{
    tls_hs *hs = e->hs;
    const tls_options *o = &e->cfg->opts;
    if (!hs->n_peer_chain)
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "no peer certificate to verify");
    tls_verify_ctx vc = {
        .store = e->cfg->store,
        .depth = o->depth,
        .verify = o->verify,
        .fun = o->verify_fun,
        .fun_state = o->verify_fun_state,
        .hostname = (!e->server && !o->no_hostname_check && e->server_name[0]) ? e->server_name : NULL,
        .peer_is_server = !e->server,
    };
    tls_error err;
    tls_err_clear(&err);
    int rc = tls_verify_chain(&vc, (const uint8_t *const *)hs->peer_chain, hs->peer_chain_len,
                              hs->n_peer_chain, &err);
    free(e->peer_cert);
    e->peer_cert = malloc(hs->peer_chain_len[0]);
    if (e->peer_cert) {
        memcpy(e->peer_cert, hs->peer_chain[0], hs->peer_chain_len[0]);
        e->peer_cert_len = hs->peer_chain_len[0];
    }
    if (rc != TLS_OK) {
        e->verify_result = err.bad_cert;
        if (err.alert < 0)
            err.alert = TLS_ALERT_BAD_CERTIFICATE;
        return tls_engine_fail_err(e, &err);
    }
    return TLS_OK;
}
