/* Certificates and their signatures, both roles: our Certificate (TLS 1.2 and
 * 1.3 forms), the peer's chain (parsed, then verified through verify_fun),
 * the 1.2-era signature reader (ServerKeyExchange, CertificateVerify) and
 * the TLS 1.3 CertificateVerify both ways. */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "handshake.h"
#include "keysched13.h"
#include "sig.h"

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

/* The signature that ends a ServerKeyExchange or a CertificateVerify before
 * TLS 1.3: TLS 1.2 names its scheme (one we offered, fitting the peer's key);
 * older versions imply it from the key. */
int tls_hs_read_signature(tls_engine *e, tls_rd *r, const char *what, uint16_t *scheme, tls_rd *sig)
{
    if (e->version >= TLS_TLS12) {
        *scheme = tls_rd_u16(r);
        if (!r->bad && !tls_sig_accept_at(*scheme, e->hs->peer_key, e->version, e->cfg->opts.security_level))
            return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "%s signed with scheme 0x%04x we did not offer for this key",
                        what, *scheme);
    } else {
        *scheme = tls_sig_choose(e->hs->peer_key, e->version, NULL, 0);
    }
    *sig = tls_rd_vec(r, 2, 0, 0xffff); /* empty: it does not verify (decrypt_error) */
    if (r->bad || !tls_rd_done(r))
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed %s", what);
    return TLS_OK;
}

/* Certificate (TLS 1.2 and before): our chain, or an empty list. */
bool tls_hs_send_certificate12(tls_engine *e, bool with_chain)
{
    tls_wr w = tls_wr_dynamic(4096);
    size_t at = tls_wr_begin_vec(&w, 3);
    for (size_t i = 0; with_chain && i < e->cfg->cred.n; i++)
        tls_wr_vec(&w, 3, e->cfg->cred.der[i], e->cfg->cred.der_len[i]);
    tls_wr_end_vec(&w, at, 3);
    return tls_hs_send_built(e, TLS_HS_CERTIFICATE, &w);
}

int tls_hs_parse_certificate(tls_engine *e, const uint8_t *body, size_t len)
{
    tls_hs *hs = e->hs;
    tls_rd r = tls_rd_make(body, len);
    tls_rd list = tls_rd_vec(&r, 3, 0, 0xffffff);
    if (r.bad || !tls_rd_done(&r))
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed Certificate message");
    size_t cap = 0;
    while (tls_rd_left(&list)) {
        tls_rd c = tls_rd_vec(&list, 3, 1, 0xffffff);
        if (list.bad)
            return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed certificate list (entry %zu)", hs->n_peer_chain);
        if (hs->n_peer_chain == 16)
            return FAIL(e, TLS_ALERT_BAD_CERTIFICATE, "more than 16 certificates in the chain");
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
            return FAIL(e, TLS_ALERT_BAD_CERTIFICATE, "the peer's certificate cannot be parsed");
    }
    return TLS_OK;
}

/* Certificate (1.3 form): context, then entries of cert_data + extensions. */
int tls_hs_parse_certificate13(tls_engine *e, tls_rd *r, const uint8_t *want_ctx, size_t want_len)
{
    tls_rd ctx = tls_rd_vec(r, 1, 0, 255);
    tls_rd list = tls_rd_vec(r, 3, 0, 0xffffff);
    if (r->bad || !tls_rd_done(r))
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed Certificate message");
    if (ctx.len != want_len || (want_len && memcmp(ctx.p, want_ctx, want_len)))
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "Certificate with the wrong request context");
    /* rebuild the TLS 1.2 shape (a list of certificates) for the shared parser */
    tls_wr w = tls_wr_dynamic(list.len + 16);
    size_t at = tls_wr_begin_vec(&w, 3);
    int rc = TLS_OK;
    while (tls_rd_left(&list) && rc == TLS_OK) {
        tls_rd cert = tls_rd_vec(&list, 3, 1, 0xffffff);
        tls_rd exts = tls_rd_vec(&list, 2, 0, 0xffff);
        if (list.bad)
            break;
        rc = tls_ext_parse(e, EXT_IN_CT, exts, &(tls_ext_in){0});
        tls_wr_vec(&w, 3, cert.p, cert.len);
    }
    tls_wr_end_vec(&w, at, 3);
    if (rc == TLS_OK)
        rc = list.bad || w.bad ? FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed certificate list")
                               : tls_hs_parse_certificate(e, w.p, w.len);
    tls_wr_free(&w);
    return rc;
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

/* Server: the client sent an empty Certificate; refused when
 * fail_if_no_peer_cert is set, with `alert` (the version's choice). */
int tls_hs_no_client_certificate(tls_engine *e, int alert)
{
    if (!e->cfg->opts.fail_if_no_peer_cert)
        return TLS_OK;
    e->verify_result = TLS_BAD_CERT_NO_PEER_CERT;
    tls_error err;
    tls_err_set(&err, TLS_E_BAD_CERT, alert, "the client sent no certificate and fail_if_no_peer_cert is set");
    err.bad_cert = TLS_BAD_CERT_NO_PEER_CERT;
    return tls_engine_fail_err(e, &err);
}

/* The content signed by CertificateVerify (RFC 8446 4.4.3). */
static size_t cv_content(tls_engine *e, bool server, size_t transcript_len, uint8_t *out)
{
    static const char srv[] = "TLS 1.3, server CertificateVerify";
    static const char cli[] = "TLS 1.3, client CertificateVerify";
    memset(out, 0x20, 64);
    const char *ctx = server ? srv : cli;
    size_t n = 64, cl = sizeof srv - 1;
    memcpy(out + n, ctx, cl);
    n += cl;
    out[n++] = 0;
    if (!tls13_hash(e->suite->prf_hash, e->hs->transcript.p, transcript_len, out + n))
        return 0;
    return n + tls_hash_len(e->suite->prf_hash);
}

/* TLS 1.3 Certificate (our chain, or empty when we have none) and, with a
 * chain, its CertificateVerify. */
int tls_hs_send_certificate13(tls_engine *e, bool server, const uint8_t *context, size_t ctx_len)
{
    tls_hs *hs = e->hs;
    tls_config *c = e->cfg;
    bool have = c->cred.chain && c->cred.key;
    tls_wr w = tls_wr_dynamic(4096);
    tls_wr_vec(&w, 1, context, ctx_len);
    size_t at = tls_wr_begin_vec(&w, 3);
    for (size_t i = 0; have && i < c->cred.n; i++) {
        tls_wr_vec(&w, 3, c->cred.der[i], c->cred.der_len[i]);
        tls_wr_u16(&w, 0); /* no per-certificate extensions */
    }
    tls_wr_end_vec(&w, at, 3);
    bool ok = tls_hs_send_built(e, TLS_HS_CERTIFICATE, &w);
    if (!ok)
        return tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "Certificate");
    if (!have)
        return TLS_OK;
    uint16_t scheme = tls_sig_choose_at(c->cred.key, TLS_TLS13, c->opts.security_level, hs->peer_sigalgs,
                                        hs->n_peer_sigalgs);
    if (!scheme)
        return FAIL(e, TLS_ALERT_HANDSHAKE_FAILURE, "no TLS 1.3 signature scheme the peer accepts fits our key");
    uint8_t content[64 + 34 + 1 + TLS13_MAX_HASH], sig[1024];
    size_t clen = cv_content(e, server, hs->transcript.len, content), sig_len = 0;
    if (!clen || !tls_sig_sign(c->cred.key, scheme, content, clen, sig, sizeof sig, &sig_len))
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "signing CertificateVerify: %s",
                               tls_sig_error());
    w = tls_wr_dynamic(600);
    tls_wr_u16(&w, scheme);
    tls_wr_vec(&w, 2, sig, sig_len);
    ok = tls_hs_send_built(e, TLS_HS_CERTIFICATE_VERIFY, &w);
    return ok ? TLS_OK : tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "CertificateVerify");
}

/* The peer's TLS 1.3 CertificateVerify, either role; then its Finished. */
int tls13_certificate_verify_in(tls_engine *e, tls_rd *r)
{
    tls_hs *hs = e->hs;
    bool from_server = !e->server;
    uint16_t scheme = tls_rd_u16(r);
    tls_rd sig = tls_rd_vec(r, 2, 0, 0xffff);
    if (r->bad || !tls_rd_done(r))
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed CertificateVerify");
    if (!tls_sig_accept_at(scheme, hs->peer_key, TLS_TLS13, e->cfg->opts.security_level))
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "CertificateVerify with scheme 0x%04x not allowed here",
                    scheme);
    uint8_t content[64 + 34 + 1 + TLS13_MAX_HASH];
    size_t clen = cv_content(e, from_server, hs->before, content);
    if (!clen || !tls_sig_verify(hs->peer_key, scheme, content, clen, sig.p, sig.len))
        return FAIL(e, TLS_ALERT_DECRYPT_ERROR, "the %s's CertificateVerify signature does not verify",
                    from_server ? "server" : "client");
    hs->state = from_server ? HS13_C_WAIT_FINISHED : HS13_S_WAIT_FINISHED;
    return TLS_OK;
}
