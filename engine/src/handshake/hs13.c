/* The TLS 1.3 handshake (RFC 8446), client and server: key shares and
 * HelloRetryRequest, the HKDF key schedule, EncryptedExtensions, certificates
 * with the 1.3 CertificateVerify, Finished, the middlebox-compatibility
 * ChangeCipherSpec, and after the handshake KeyUpdate and NewSessionTicket.
 * No PSK / resumption and no 0-RTT yet: tickets are read and dropped. */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "kex.h"
#include "prf.h"
#include "sig.h"
#include "keysched13.h"

#define FAIL(e, alert, ...) tls_engine_fail((e), TLS_E_ALERT_SENT, (alert), __VA_ARGS__)

/* RFC 8446 4.1.3: the random of a HelloRetryRequest, SHA-256("HelloRetryRequest") */
static const uint8_t hrr_random[32] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};

/* our groups, best first */
static const uint16_t groups13[] = {TLS_GROUP_X25519, TLS_GROUP_SECP256R1, TLS_GROUP_SECP384R1};

static bool our_group(uint16_t g)
{
    for (size_t i = 0; i < sizeof groups13 / sizeof *groups13; i++)
        if (groups13[i] == g)
            return true;
    return false;
}

static tls_hash_id hash_of(const tls_engine *e)
{
    return e->suite->prf_hash;
}

static void keylog13(tls_engine *e, const char *label, const uint8_t *secret)
{
    if (!e->cfg->opts.keylog)
        return;
    char line[256];
    size_t n = (size_t)snprintf(line, sizeof line, "%s ", label);
    for (int i = 0; i < 32; i++)
        n += (size_t)snprintf(line + n, sizeof line - n, "%02x", e->client_random[i]);
    line[n++] = ' ';
    for (size_t i = 0; i < tls_hash_len(hash_of(e)); i++)
        n += (size_t)snprintf(line + n, sizeof line - n, "%02x", secret[i]);
    line[n] = '\0';
    e->cfg->opts.keylog(line, e->cfg->opts.keylog_arg);
    OPENSSL_cleanse(line, sizeof line);
}

static bool set_read(tls_engine *e, const uint8_t *secret)
{
    e->rd_epoch++;
    return tls13_rec_init(&e->rd, e->suite, false, secret);
}

static bool set_write(tls_engine *e, const uint8_t *secret)
{
    return tls13_rec_init(&e->wr, e->suite, true, secret);
}

/* Replaces ClientHello1 in the transcript with message_hash (RFC 8446 4.4.1). */
static bool transcript_to_message_hash(tls_engine *e, size_t ch1_len)
{
    tls_hs *hs = e->hs;
    uint8_t h[TLS13_MAX_HASH];
    size_t hl = tls_hash_len(hash_of(e));
    if (!tls13_hash(hash_of(e), hs->transcript.p, ch1_len, h))
        return false;
    size_t rest = hs->transcript.len - ch1_len;
    uint8_t *tail = NULL;
    if (rest) {
        tail = malloc(rest);
        if (!tail)
            return false;
        memcpy(tail, hs->transcript.p + ch1_len, rest);
    }
    hs->transcript.len = 0;
    uint8_t hdr[4] = {TLS_HS_MESSAGE_HASH, 0, 0, (uint8_t)hl};
    tls_wr_bytes(&hs->transcript, hdr, 4);
    tls_wr_bytes(&hs->transcript, h, hl);
    if (rest)
        tls_wr_bytes(&hs->transcript, tail, rest);
    free(tail);
    return !hs->transcript.bad;
}

/* Handshake secrets from the (EC)DHE secret, over the transcript so far
 * (ClientHello..ServerHello). */
static int derive_handshake_secrets(tls_engine *e)
{
    tls_hs *hs = e->hs;
    tls_hash_id h = hash_of(e);
    size_t hl = tls_hash_len(h);
    uint8_t early[TLS13_MAX_HASH], derived[TLS13_MAX_HASH];
    bool ok = tls13_extract(h, NULL, 0, hs->psk_accepted ? hs->psk : NULL, hs->psk_accepted ? hl : 0, early) &&
              tls13_derive_secret(h, early, "derived", NULL, 0, derived) &&
              tls13_extract(h, derived, hl, hs->pms, hs->pms_len, hs->hs_secret) &&
              tls13_derive_secret(h, hs->hs_secret, "c hs traffic", hs->transcript.p, hs->transcript.len,
                                  hs->c_hs) &&
              tls13_derive_secret(h, hs->hs_secret, "s hs traffic", hs->transcript.p, hs->transcript.len,
                                  hs->s_hs) &&
              tls13_derive_secret(h, hs->hs_secret, "derived", NULL, 0, derived) &&
              tls13_extract(h, derived, hl, NULL, 0, hs->master13);
    OPENSSL_cleanse(early, sizeof early);
    OPENSSL_cleanse(derived, sizeof derived);
    OPENSSL_cleanse(hs->pms, sizeof hs->pms);
    hs->pms_len = 0;
    if (!ok)
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "TLS 1.3 handshake secrets");
    keylog13(e, "CLIENT_HANDSHAKE_TRAFFIC_SECRET", hs->c_hs);
    keylog13(e, "SERVER_HANDSHAKE_TRAFFIC_SECRET", hs->s_hs);
    return TLS_OK;
}

/* Application secrets over ClientHello..server Finished. */
static int derive_app_secrets(tls_engine *e)
{
    tls_hs *hs = e->hs;
    tls_hash_id h = hash_of(e);
    if (!tls13_derive_secret(h, hs->master13, "c ap traffic", hs->transcript.p, hs->transcript.len, e->c_ap) ||
        !tls13_derive_secret(h, hs->master13, "s ap traffic", hs->transcript.p, hs->transcript.len, e->s_ap))
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "TLS 1.3 traffic secrets");
    keylog13(e, "CLIENT_TRAFFIC_SECRET_0", e->c_ap);
    keylog13(e, "SERVER_TRAFFIC_SECRET_0", e->s_ap);
    uint8_t exporter[TLS13_MAX_HASH];
    if (tls13_derive_secret(h, hs->master13, "exp master", hs->transcript.p, hs->transcript.len, exporter))
        keylog13(e, "EXPORTER_SECRET", exporter);
    OPENSSL_cleanse(exporter, sizeof exporter);
    return TLS_OK;
}

static bool send_finished(tls_engine *e, const uint8_t *base_key)
{
    uint8_t vd[TLS13_MAX_HASH];
    size_t hl = tls_hash_len(hash_of(e));
    if (!tls13_finished(hash_of(e), base_key, e->hs->transcript.p, e->hs->transcript.len, vd))
        return false;
    tls_wr body = tls_wr_fixed(vd, sizeof vd);
    body.len = hl;
    return tls_hs_send_msg(e, TLS_HS_FINISHED, &body);
}

static int check_finished(tls_engine *e, const uint8_t *base_key, tls_rd *r)
{
    uint8_t vd[TLS13_MAX_HASH];
    size_t hl = tls_hash_len(hash_of(e));
    if (!tls13_finished(hash_of(e), base_key, e->hs->transcript.p, e->hs->before, vd))
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "Finished computation");
    if (r->len != hl)
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "Finished of %zu bytes, expected %zu", r->len, hl);
    if (CRYPTO_memcmp(vd, r->p, hl) != 0)
        return FAIL(e, TLS_ALERT_DECRYPT_ERROR, "the peer's Finished does not match (keys or transcript differ)");
    return TLS_OK;
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
    if (!tls13_hash(hash_of(e), e->hs->transcript.p, transcript_len, out + n))
        return 0;
    return n + tls_hash_len(hash_of(e));
}

static int send_certificate_and_verify(tls_engine *e, bool server, const uint8_t *context, size_t ctx_len)
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
    bool ok = !w.bad && tls_hs_send_msg(e, TLS_HS_CERTIFICATE, &w);
    tls_wr_free(&w);
    if (!ok)
        return tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "Certificate");
    if (!have)
        return TLS_OK;
    uint16_t scheme = tls_sig_choose(c->cred.key, TLS_TLS13, hs->peer_sigalgs, hs->n_peer_sigalgs);
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
    ok = !w.bad && tls_hs_send_msg(e, TLS_HS_CERTIFICATE_VERIFY, &w);
    tls_wr_free(&w);
    return ok ? TLS_OK : tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "CertificateVerify");
}

/* Certificate (1.3 form): context, then entries of cert_data + extensions. */
static int parse_certificate13(tls_engine *e, tls_rd *r, const uint8_t *want_ctx, size_t want_len)
{
    tls_hs *hs = e->hs;
    tls_rd ctx = tls_rd_vec(r, 1, 0, 255);
    tls_rd list = tls_rd_vec(r, 3, 0, 0xffffff);
    if (r->bad || !tls_rd_done(r))
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed Certificate message");
    if (ctx.len != want_len || (want_len && memcmp(ctx.p, want_ctx, want_len)))
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "Certificate with the wrong request context");
    /* rebuild the TLS 1.2 shape (a list of certificates) for the shared parser */
    tls_wr w = tls_wr_dynamic(list.len + 16);
    size_t at = tls_wr_begin_vec(&w, 3);
    while (tls_rd_left(&list)) {
        tls_rd cert = tls_rd_vec(&list, 3, 1, 0xffffff);
        (void)tls_rd_vec(&list, 2, 0, 0xffff); /* extensions (OCSP, SCT): not used */
        if (list.bad)
            break;
        tls_wr_vec(&w, 3, cert.p, cert.len);
    }
    tls_wr_end_vec(&w, at, 3);
    int rc;
    if (list.bad || w.bad)
        rc = FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed certificate list");
    else
        rc = tls_hs_parse_certificate(e, w.p, w.len);
    tls_wr_free(&w);
    (void)hs;
    return rc;
}

static int check_certificate_verify(tls_engine *e, tls_rd *r, bool from_server)
{
    tls_hs *hs = e->hs;
    uint16_t scheme = tls_rd_u16(r);
    tls_rd sig = tls_rd_vec(r, 2, 1, 0xffff);
    if (r->bad || !tls_rd_done(r))
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed CertificateVerify");
    if (!tls_sig_accept(scheme, hs->peer_key, TLS_TLS13))
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "CertificateVerify with scheme 0x%04x not allowed here",
                    scheme);
    uint8_t content[64 + 34 + 1 + TLS13_MAX_HASH];
    size_t clen = cv_content(e, from_server, hs->before, content);
    if (!clen || !tls_sig_verify(hs->peer_key, scheme, content, clen, sig.p, sig.len))
        return FAIL(e, TLS_ALERT_DECRYPT_ERROR, "the %s's CertificateVerify signature does not verify",
                    from_server ? "server" : "client");
    return TLS_OK;
}

/* The PSK binder (RFC 8446 4.2.11.2) over transcript[0..len). */
static bool psk_binder(tls_hash_id h, const uint8_t *psk, const uint8_t *transcript, size_t len, uint8_t *out)
{
    uint8_t early[TLS13_MAX_HASH], binder_key[TLS13_MAX_HASH];
    bool ok = tls13_extract(h, NULL, 0, psk, tls_hash_len(h), early) &&
              tls13_derive_secret(h, early, "res binder", NULL, 0, binder_key) &&
              tls13_finished(h, binder_key, transcript, len, out);
    OPENSSL_cleanse(early, sizeof early);
    OPENSSL_cleanse(binder_key, sizeof binder_key);
    return ok;
}

/* resumption_master_secret over ClientHello..client Finished */
static bool derive_res_master(tls_engine *e)
{
    return tls13_derive_secret(hash_of(e), e->hs->master13, "res master", e->hs->transcript.p,
                               e->hs->transcript.len, e->res_master);
}

/* ======================================================================
 * client
 * ====================================================================== */

/* psk_key_exchange_modes and pre_shared_key (last) for a session from a
 * ticket; the binder is a placeholder until tls13_client_fill_binder. */
int tls13_client_psk_extension(tls_engine *e, tls_wr *w, size_t *binders_at)
{
    tls_hs *hs = e->hs;
    *binders_at = 0;
    if (!hs->psk_offered)
        return TLS_OK;
    const tls_suite *s = tls_suite_by_id(hs->resume.suite);
    size_t hl = tls_hash_len(s->prf_hash);
    tls_wr_u16(w, TLS_EXT_PSK_KEY_EXCHANGE_MODES);
    tls_wr_u16(w, 2);
    tls_wr_u8(w, 1);
    tls_wr_u8(w, 1); /* psk_dhe_ke: always with a fresh (EC)DHE */
    tls_wr_u16(w, TLS_EXT_PRE_SHARED_KEY);
    size_t a = tls_wr_begin_vec(w, 2);
    size_t b = tls_wr_begin_vec(w, 2);
    tls_wr_vec(w, 2, hs->resume.ticket, hs->resume.ticket_len);
    uint32_t age = (uint32_t)(tls_now_ms() - hs->resume.received_ms) + hs->resume.age_add;
    tls_wr_u16(w, (uint16_t)(age >> 16));
    tls_wr_u16(w, (uint16_t)age);
    tls_wr_end_vec(w, b, 2);
    *binders_at = w->len;
    size_t c = tls_wr_begin_vec(w, 2);
    size_t d = tls_wr_begin_vec(w, 1);
    uint8_t zero[TLS13_MAX_HASH] = {0};
    tls_wr_bytes(w, zero, hl);
    tls_wr_end_vec(w, d, 1);
    tls_wr_end_vec(w, c, 2);
    tls_wr_end_vec(w, a, 2);
    return w->bad ? TLS_E_NOMEM : TLS_OK;
}

/* The binder covers the transcript so far and this ClientHello up to its
 * binders list (header included). */
bool tls13_client_fill_binder(tls_engine *e, tls_wr *body, size_t binders_at)
{
    tls_hs *hs = e->hs;
    const tls_suite *s = tls_suite_by_id(hs->resume.suite);
    tls_hash_id h = s->prf_hash;
    size_t hl = tls_hash_len(h), prior = hs->transcript.len;
    uint8_t hdr[4] = {TLS_HS_CLIENT_HELLO, (uint8_t)(body->len >> 16), (uint8_t)(body->len >> 8),
                      (uint8_t)body->len};
    tls_wr_bytes(&hs->transcript, hdr, 4);
    tls_wr_bytes(&hs->transcript, body->p, binders_at);
    uint8_t binder[TLS13_MAX_HASH];
    bool ok = !hs->transcript.bad && psk_binder(h, hs->resume.master, hs->transcript.p, hs->transcript.len, binder);
    hs->transcript.len = prior;
    if (ok)
        memcpy(body->p + binders_at + 3, binder, hl); /* after the list and binder lengths */
    return ok;
}


int tls13_client_hello_extensions(tls_engine *e, tls_wr *w)
{
    tls_config *c = e->cfg;
    tls_hs *hs = e->hs;
    tls_wr_u16(w, TLS_EXT_SUPPORTED_VERSIONS);
    size_t a = tls_wr_begin_vec(w, 2);
    size_t b = tls_wr_begin_vec(w, 1);
    for (uint16_t v = c->max_version; v >= c->min_version && v >= TLS_SSL3; v--) {
        tls_wr_u16(w, v);
        if (v == TLS_SSL3)
            break;
    }
    tls_wr_end_vec(w, b, 1);
    tls_wr_end_vec(w, a, 2);

    if (!hs->eph) {
        if (!hs->group)
            hs->group = groups13[0];
        hs->eph = tls_ecdhe_keygen(hs->group, hs->key_share, sizeof hs->key_share, &hs->key_share_len);
        if (!hs->eph)
            return tls_engine_fail(e, TLS_E_INTERNAL, -1, "key share generation: %s", tls_kex_error());
    }
    tls_wr_u16(w, TLS_EXT_KEY_SHARE);
    a = tls_wr_begin_vec(w, 2);
    b = tls_wr_begin_vec(w, 2);
    tls_wr_u16(w, hs->group);
    tls_wr_vec(w, 2, hs->key_share, hs->key_share_len);
    tls_wr_end_vec(w, b, 2);
    tls_wr_end_vec(w, a, 2);
    if (hs->cookie_len) {
        tls_wr_u16(w, TLS_EXT_COOKIE);
        a = tls_wr_begin_vec(w, 2);
        tls_wr_vec(w, 2, hs->cookie, hs->cookie_len);
        tls_wr_end_vec(w, a, 2);
    }
    return TLS_OK;
}

static int client_hello_retry(tls_engine *e, uint16_t suite_id, tls_rd exts)
{
    tls_hs *hs = e->hs;
    if (hs->hrr)
        return FAIL(e, TLS_ALERT_UNEXPECTED_MESSAGE, "a second HelloRetryRequest");
    uint16_t group = 0;
    bool version_ok = false;
    while (tls_rd_left(&exts)) {
        uint16_t type = tls_rd_u16(&exts);
        tls_rd body = tls_rd_vec(&exts, 2, 0, 0xffff);
        if (exts.bad)
            break;
        if (type == TLS_EXT_SUPPORTED_VERSIONS) {
            version_ok = tls_rd_u16(&body) == TLS_TLS13 && tls_rd_done(&body);
        } else if (type == TLS_EXT_KEY_SHARE) {
            group = tls_rd_u16(&body);
            if (!tls_rd_done(&body))
                return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed key_share in HelloRetryRequest");
        } else if (type == TLS_EXT_COOKIE) {
            tls_rd ck = tls_rd_vec(&body, 2, 1, sizeof hs->cookie);
            if (body.bad || !tls_rd_done(&body))
                return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed cookie");
            memcpy(hs->cookie, ck.p, ck.len);
            hs->cookie_len = ck.len;
        } else {
            return FAIL(e, TLS_ALERT_UNSUPPORTED_EXTENSION, "HelloRetryRequest with extension %u", type);
        }
    }
    if (exts.bad)
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed HelloRetryRequest");
    if (!version_ok)
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "HelloRetryRequest without TLS 1.3 in supported_versions");
    if (group && (!our_group(group) || group == hs->group))
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "HelloRetryRequest asks for group %u", group);
    if (!group && !hs->cookie_len)
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "HelloRetryRequest that changes nothing");
    hs->hrr = true;
    /* the transcript: message_hash(ClientHello1) || HelloRetryRequest */
    if (!transcript_to_message_hash(e, hs->before))
        return tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "transcript");
    (void)suite_id;
    if (group) {
        EVP_PKEY_free(hs->eph);
        hs->eph = NULL;
        hs->group = group;
    }
    return tls_client_send_hello(e);
}

int tls13_client_server_hello(tls_engine *e, tls_rd *r, const uint8_t random[32], tls_rd sid,
                              uint16_t suite_id, tls_rd exts)
{
    tls_hs *hs = e->hs;
    tls_config *c = e->cfg;
    (void)r;
    if (c->max_version < TLS_TLS13)
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the server chose TLS 1.3, which we did not offer");
    if (e->connected_once)
        return FAIL(e, TLS_ALERT_PROTOCOL_VERSION, "TLS 1.3 in a renegotiation");
    if (sid.len != hs->legacy_session_id_len || memcmp(sid.p, hs->legacy_session_id, sid.len))
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the server did not echo our legacy_session_id");
    const tls_suite *s = tls_suite_by_id(suite_id);
    bool offered = false;
    for (size_t i = 0; s && i < c->n_suites; i++)
        offered |= c->suites[i] == suite_id;
    if (!s || !offered || !tls_suite_usable(s, TLS_TLS13))
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the server chose suite 0x%04x, not a TLS 1.3 suite we offered",
                    suite_id);
    if (hs->hrr && e->suite && e->suite != s)
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the suite changed after HelloRetryRequest");
    e->suite = s;
    e->version = TLS_TLS13;
    e->rec_version = TLS_TLS12; /* legacy_record_version */
    hs->tls13 = true;
    if (!memcmp(random, hrr_random, 32))
        return client_hello_retry(e, suite_id, exts);
    memcpy(e->server_random, random, 32);

    tls_rd share = {NULL, 0, 0, true};
    uint16_t group = 0;
    bool version_ok = false;
    while (tls_rd_left(&exts)) {
        uint16_t type = tls_rd_u16(&exts);
        tls_rd body = tls_rd_vec(&exts, 2, 0, 0xffff);
        if (exts.bad)
            break;
        if (type == TLS_EXT_SUPPORTED_VERSIONS) {
            version_ok = tls_rd_u16(&body) == TLS_TLS13 && tls_rd_done(&body);
        } else if (type == TLS_EXT_KEY_SHARE) {
            group = tls_rd_u16(&body);
            share = tls_rd_vec(&body, 2, 1, 0xffff);
            if (body.bad || !tls_rd_done(&body))
                return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed key_share in ServerHello");
        } else if (type == TLS_EXT_PRE_SHARED_KEY && hs->psk_offered) {
            uint16_t selected = tls_rd_u16(&body);
            if (body.bad || !tls_rd_done(&body) || selected != 0)
                return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "pre_shared_key selects identity %u we did not offer",
                            selected);
            if (tls_suite_by_id(hs->resume.suite)->prf_hash != s->prf_hash)
                return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "resumption with a suite of another hash");
            hs->psk_accepted = true;
            memcpy(hs->psk, hs->resume.master, sizeof hs->psk);
        } else {
            return FAIL(e, TLS_ALERT_UNSUPPORTED_EXTENSION, "ServerHello with extension %u we did not offer", type);
        }
    }
    if (exts.bad)
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed ServerHello extensions");
    if (!version_ok)
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "supported_versions does not select TLS 1.3");
    if (share.bad)
        return FAIL(e, TLS_ALERT_MISSING_EXTENSION, "ServerHello without key_share");
    if (group != hs->group)
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the server's key share is for group %u, we sent %u", group,
                    hs->group);
    if (!tls_ecdhe_derive(hs->eph, group, share.p, share.len, hs->pms, sizeof hs->pms, &hs->pms_len))
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the server's key share is invalid: %s", tls_kex_error());
    e->reused = hs->psk_accepted;
    e->ems = e->etm = false;
    e->session_id_len = 0;
    if (hs->psk_accepted && hs->resume.peer_cert) {
        free(e->peer_cert);
        e->peer_cert = hs->resume.peer_cert;
        e->peer_cert_len = hs->resume.peer_cert_len;
        hs->resume.peer_cert = NULL;
    }
    int rc = derive_handshake_secrets(e);
    if (rc)
        return rc;
    /* middlebox compatibility (RFC 8446 D.4): one CCS before our first
     * encrypted record; from here on even our alerts are encrypted */
    static const uint8_t ccs = 1;
    if (!tls_engine_send_record(e, TLS_CT_CCS, &ccs, 1) || !set_read(e, hs->s_hs) || !set_write(e, hs->c_hs))
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "handshake keys");
    hs->state = HS13_C_WAIT_EE;
    return TLS_OK;
}

static int client_encrypted_extensions(tls_engine *e, tls_rd *r)
{
    tls_rd exts = tls_rd_vec(r, 2, 0, 0xffff);
    if (r->bad || !tls_rd_done(r))
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed EncryptedExtensions");
    e->alpn[0] = '\0';
    while (tls_rd_left(&exts)) {
        uint16_t type = tls_rd_u16(&exts);
        tls_rd body = tls_rd_vec(&exts, 2, 0, 0xffff);
        if (exts.bad)
            return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed EncryptedExtensions");
        switch (type) {
        case TLS_EXT_SERVER_NAME:
            if (tls_rd_left(&body))
                return FAIL(e, TLS_ALERT_DECODE_ERROR, "non-empty server_name in EncryptedExtensions");
            break;
        case TLS_EXT_SUPPORTED_GROUPS: break; /* the server's preferences: informational */
        case TLS_EXT_ALPN: {
            int rc = tls_hs_accept_alpn(e, &body);
            if (rc)
                return rc;
            break;
        }
        case TLS_EXT_EARLY_DATA:
            return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "early_data accepted although we sent none");
        case TLS_EXT_KEY_SHARE:
        case TLS_EXT_SUPPORTED_VERSIONS:
        case TLS_EXT_SIGNATURE_ALGORITHMS:
        case TLS_EXT_PRE_SHARED_KEY:
            return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "extension %u does not belong in EncryptedExtensions", type);
        default:
            return FAIL(e, TLS_ALERT_UNSUPPORTED_EXTENSION, "EncryptedExtensions with extension %u we did not offer",
                        type);
        }
    }
    /* a resumed session authenticates through the PSK: no certificates */
    e->hs->state = e->hs->psk_accepted ? HS13_C_WAIT_FINISHED : HS13_C_WAIT_CERT_CR;
    return TLS_OK;
}

static int parse_sigalgs_ext(tls_engine *e, tls_rd *body)
{
    tls_hs *hs = e->hs;
    tls_rd list = tls_rd_vec(body, 2, 2, 0xfffe);
    hs->n_peer_sigalgs = 0;
    while (!list.bad && tls_rd_left(&list) >= 2) {
        uint16_t a = tls_rd_u16(&list);
        if (hs->n_peer_sigalgs < sizeof hs->peer_sigalgs / sizeof *hs->peer_sigalgs)
            hs->peer_sigalgs[hs->n_peer_sigalgs++] = a;
    }
    if (body->bad || tls_rd_left(&list) || !tls_rd_done(body))
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed signature_algorithms");
    hs->peer_sent_sigalgs = true;
    return TLS_OK;
}

static int client_certificate_request(tls_engine *e, tls_rd *r)
{
    tls_hs *hs = e->hs;
    tls_rd ctx = tls_rd_vec(r, 1, 0, 255);
    tls_rd exts = tls_rd_vec(r, 2, 2, 0xffff);
    if (r->bad || !tls_rd_done(r))
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed CertificateRequest");
    memcpy(hs->cr_context, ctx.p, ctx.len);
    hs->cr_context_len = ctx.len;
    bool sigalgs = false;
    while (tls_rd_left(&exts)) {
        uint16_t type = tls_rd_u16(&exts);
        tls_rd body = tls_rd_vec(&exts, 2, 0, 0xffff);
        if (exts.bad)
            return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed CertificateRequest extensions");
        if (type == TLS_EXT_SIGNATURE_ALGORITHMS) {
            int rc = parse_sigalgs_ext(e, &body);
            if (rc)
                return rc;
            sigalgs = true;
        }
    }
    if (!sigalgs)
        return FAIL(e, TLS_ALERT_MISSING_EXTENSION, "CertificateRequest without signature_algorithms");
    hs->cert_requested = true;
    hs->state = HS13_C_WAIT_CERT;
    return TLS_OK;
}

static int client_certificate(tls_engine *e, tls_rd *r)
{
    tls_hs *hs = e->hs;
    int rc = parse_certificate13(e, r, NULL, 0);
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

static int client_finished(tls_engine *e, tls_rd *r)
{
    tls_hs *hs = e->hs;
    int rc = check_finished(e, hs->s_hs, r);
    if (!rc)
        rc = derive_app_secrets(e);
    if (rc)
        return rc;
    if (!set_read(e, e->s_ap))
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "application keys");
    if (hs->cert_requested) {
        rc = send_certificate_and_verify(e, false, hs->cr_context, hs->cr_context_len);
        if (rc)
            return rc;
    }
    if (!send_finished(e, hs->c_hs) || !set_write(e, e->c_ap) || !derive_res_master(e))
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "sending Finished");
    tls_hs_done(e);
    return TLS_OK;
}

static int client_certificate_verify(tls_engine *e, tls_rd *r)
{
    int rc = check_certificate_verify(e, r, true);
    if (!rc)
        e->hs->state = HS13_C_WAIT_FINISHED;
    return rc;
}

const tls_hs_transition tls_client13_table[] = {
    {HS13_C_WAIT_EE, TLS_HS_ENCRYPTED_EXTENSIONS, client_encrypted_extensions},
    {HS13_C_WAIT_CERT_CR, TLS_HS_CERTIFICATE_REQUEST, client_certificate_request},
    {HS13_C_WAIT_CERT_CR, TLS_HS_CERTIFICATE, client_certificate},
    {HS13_C_WAIT_CERT, TLS_HS_CERTIFICATE, client_certificate},
    {HS13_C_WAIT_CV, TLS_HS_CERTIFICATE_VERIFY, client_certificate_verify},
    {HS13_C_WAIT_FINISHED, TLS_HS_FINISHED, client_finished},
};
const size_t tls_client13_table_len = sizeof tls_client13_table / sizeof *tls_client13_table;

/* ======================================================================
 * server
 * ====================================================================== */

static bool key_fits_13(EVP_PKEY *key, const tls_hs *hs)
{
    return tls_sig_choose(key, TLS_TLS13, hs->peer_sigalgs, hs->n_peer_sigalgs) != 0;
}

/* Finds the client's share for `group`; returns false if there is none. */
static bool find_share(tls_rd shares, uint16_t group, tls_rd *out)
{
    while (tls_rd_left(&shares)) {
        uint16_t g = tls_rd_u16(&shares);
        tls_rd ke = tls_rd_vec(&shares, 2, 1, 0xffff);
        if (shares.bad)
            return false;
        if (g == group) {
            *out = ke;
            return true;
        }
    }
    return false;
}

static bool send_hello13(tls_engine *e, bool retry)
{
    tls_hs *hs = e->hs;
    tls_wr w = tls_wr_dynamic(256);
    tls_wr_u16(&w, TLS_TLS12);
    tls_wr_bytes(&w, retry ? hrr_random : e->server_random, 32);
    tls_wr_vec(&w, 1, hs->legacy_session_id, hs->legacy_session_id_len);
    tls_wr_u16(&w, e->suite->info.id);
    tls_wr_u8(&w, 0);
    size_t ext = tls_wr_begin_vec(&w, 2);
    tls_wr_u16(&w, TLS_EXT_SUPPORTED_VERSIONS);
    tls_wr_u16(&w, 2);
    tls_wr_u16(&w, TLS_TLS13);
    tls_wr_u16(&w, TLS_EXT_KEY_SHARE);
    size_t a = tls_wr_begin_vec(&w, 2);
    tls_wr_u16(&w, hs->group);
    if (!retry)
        tls_wr_vec(&w, 2, hs->key_share, hs->key_share_len);
    tls_wr_end_vec(&w, a, 2);
    if (!retry && hs->psk_accepted) {
        tls_wr_u16(&w, TLS_EXT_PRE_SHARED_KEY);
        tls_wr_u16(&w, 2);
        tls_wr_u16(&w, 0); /* selected_identity */
    }
    tls_wr_end_vec(&w, ext, 2);
    bool ok = !w.bad && tls_hs_send_msg(e, TLS_HS_SERVER_HELLO, &w);
    tls_wr_free(&w);
    if (ok && !hs->compat_ccs_sent && hs->legacy_session_id_len) {
        static const uint8_t ccs = 1; /* middlebox compatibility, once (RFC 8446 D.4) */
        ok = tls_engine_send_record(e, TLS_CT_CCS, &ccs, 1);
        hs->compat_ccs_sent = true;
    }
    return ok;
}

/* Accepts the client's first PSK identity if it is a ticket of ours for a
 * suite of the same hash and its binder is right (RFC 8446 4.2.11). */
static int server_check_psk(tls_engine *e, tls_client_hello *ch)
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
    if (binder.len != hl || !psk_binder(rs->prf_hash, hs->resume.master, hs->transcript.p, cut, want))
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "PSK binder of the wrong length");
    if (CRYPTO_memcmp(want, binder.p, hl) != 0)
        return FAIL(e, TLS_ALERT_DECRYPT_ERROR, "the PSK binder does not verify");
    memcpy(hs->psk, hs->resume.master, hl);
    hs->psk_accepted = true;
    return TLS_OK;
}

static int server_flight(tls_engine *e, tls_client_hello *ch)
{
    tls_hs *hs = e->hs;
    tls_config *c = e->cfg;
    tls_rd peer;
    int prc = server_check_psk(e, ch);
    if (prc)
        return prc;
    e->reused = hs->psk_accepted;
    if (hs->psk_accepted && hs->resume.peer_cert) {
        free(e->peer_cert);
        e->peer_cert = hs->resume.peer_cert;
        e->peer_cert_len = hs->resume.peer_cert_len;
        hs->resume.peer_cert = NULL;
    }
    if (!find_share(ch->key_share, hs->group, &peer))
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
    int rc = derive_handshake_secrets(e);
    if (rc)
        return rc;
    if (!set_write(e, hs->s_hs) || !set_read(e, hs->c_hs))
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "handshake keys");

    /* EncryptedExtensions */
    tls_wr w = tls_wr_dynamic(256);
    size_t ext = tls_wr_begin_vec(&w, 2);
    if (e->server_name[0]) {
        tls_wr_u16(&w, TLS_EXT_SERVER_NAME);
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
    tls_wr_end_vec(&w, ext, 2);
    bool ok = !w.bad && tls_hs_send_msg(e, TLS_HS_ENCRYPTED_EXTENSIONS, &w);
    tls_wr_free(&w);
    if (!ok)
        return tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "EncryptedExtensions");

    hs->cert_requested = c->opts.verify == TLS_VERIFY_PEER && !hs->psk_accepted;
    if (hs->cert_requested) {
        size_t n;
        const uint16_t *schemes = tls_sig_schemes(&n);
        w = tls_wr_dynamic(256);
        tls_wr_u8(&w, 0); /* empty certificate_request_context */
        size_t a = tls_wr_begin_vec(&w, 2);
        tls_wr_u16(&w, TLS_EXT_SIGNATURE_ALGORITHMS);
        size_t b = tls_wr_begin_vec(&w, 2);
        size_t d = tls_wr_begin_vec(&w, 2);
        for (size_t i = 0; i < n; i++)
            tls_wr_u16(&w, schemes[i]);
        tls_wr_end_vec(&w, d, 2);
        tls_wr_end_vec(&w, b, 2);
        tls_wr_end_vec(&w, a, 2);
        ok = !w.bad && tls_hs_send_msg(e, TLS_HS_CERTIFICATE_REQUEST, &w);
        tls_wr_free(&w);
        if (!ok)
            return tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "CertificateRequest");
    }
    if (!hs->psk_accepted) {
        rc = send_certificate_and_verify(e, true, NULL, 0);
        if (rc)
            return rc;
    }
    if (!send_finished(e, hs->s_hs))
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "Finished");
    rc = derive_app_secrets(e);
    if (rc)
        return rc;
    if (!set_write(e, e->s_ap))
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "application keys");
    hs->state = hs->cert_requested ? HS13_S_WAIT_CERT : HS13_S_WAIT_FINISHED;
    return TLS_OK;
}

/* Groups the client supports, from supported_groups. */
static uint16_t pick_group13(const tls_hs *hs, tls_rd shares, bool *have_share)
{
    *have_share = false;
    /* a share we can use right away, in our order */
    for (size_t i = 0; i < sizeof groups13 / sizeof *groups13; i++) {
        tls_rd tmp;
        if (find_share(shares, groups13[i], &tmp)) {
            *have_share = true;
            return groups13[i];
        }
    }
    /* else a group both support: ask for it (HelloRetryRequest) */
    for (size_t i = 0; i < sizeof groups13 / sizeof *groups13; i++)
        for (size_t j = 0; j < hs->n_peer_groups; j++)
            if (hs->peer_groups[j] == groups13[i])
                return groups13[i];
    return 0;
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
    /* validate the share list once */
    tls_rd list = ch->key_share;
    tls_rd shares = tls_rd_vec(&list, 2, 0, 0xffff);
    if (list.bad || !tls_rd_done(&list))
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed key_share");
    for (tls_rd chk = shares; tls_rd_left(&chk);) {
        tls_rd_u16(&chk);
        (void)tls_rd_vec(&chk, 2, 1, 0xffff);
        if (chk.bad)
            return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed key_share entry");
    }
    ch->key_share = shares;

    /* suite: our preference among the client's TLS 1.3 suites */
    const tls_suite *s = NULL;
    for (size_t i = 0; i < c->n_suites && !s; i++) {
        const tls_suite *cand = tls_suite_by_id(c->suites[i]);
        if (!cand || !tls_suite_usable(cand, TLS_TLS13))
            continue;
        for (size_t j = 0; j < ch->n_suites; j++)
            if (ch->suites[j] == cand->info.id) {
                s = cand;
                break;
            }
    }
    if (!s)
        return FAIL(e, TLS_ALERT_HANDSHAKE_FAILURE, "no TLS 1.3 cipher suite in common");
    if (!key_fits_13(c->cred.key, hs))
        return FAIL(e, TLS_ALERT_HANDSHAKE_FAILURE, "no TLS 1.3 signature scheme of the client fits our key");
    e->suite = s;
    e->reused = false;
    e->ems = e->etm = false;
    e->session_id_len = 0;

    bool have_share;
    uint16_t group = pick_group13(hs, ch->key_share, &have_share);
    if (!group)
        return FAIL(e, TLS_ALERT_HANDSHAKE_FAILURE, "no key exchange group in common");
    hs->group = group;
    if (!have_share) {
        /* HelloRetryRequest: transcript = message_hash(ClientHello1) || HRR */
        if (!transcript_to_message_hash(e, hs->transcript.len) || !send_hello13(e, true))
            return tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "HelloRetryRequest");
        hs->hrr = true;
        hs->state = HS13_S_WAIT_CH2;
        return TLS_OK;
    }
    return server_flight(e, ch);
}

static int server_client_hello2(tls_engine *e, tls_rd *r);

static int server_certificate(tls_engine *e, tls_rd *r)
{
    tls_hs *hs = e->hs;
    int rc = parse_certificate13(e, r, NULL, 0);
    if (rc)
        return rc;
    if (!hs->n_peer_chain) {
        if (e->cfg->opts.fail_if_no_peer_cert) {
            e->verify_result = TLS_BAD_CERT_NO_PEER_CERT;
            tls_error err;
            tls_err_set(&err, TLS_E_BAD_CERT, TLS_ALERT_CERTIFICATE_REQUIRED,
                        "the client sent no certificate and fail_if_no_peer_cert is set");
            err.bad_cert = TLS_BAD_CERT_NO_PEER_CERT;
            return tls_engine_fail_err(e, &err);
        }
        hs->state = HS13_S_WAIT_FINISHED;
        return TLS_OK;
    }
    rc = tls_hs_verify_peer(e);
    if (rc)
        return rc;
    hs->client_sent_cert = true;
    hs->state = HS13_S_WAIT_CV;
    return TLS_OK;
}

/* One NewSessionTicket: the ticket is a random id into our session cache,
 * which keeps the PSK (stateful tickets; nothing secret leaves the server). */
static int send_ticket(tls_engine *e)
{
    tls_session s;
    memset(&s, 0, sizeof s);
    uint8_t nonce[8];
    uint32_t age_add;
    size_t hl = tls_hash_len(hash_of(e));
    if (RAND_bytes(s.id, 32) != 1 || RAND_bytes(nonce, sizeof nonce) != 1 ||
        RAND_bytes((uint8_t *)&age_add, sizeof age_add) != 1 ||
        !tls13_expand_label(hash_of(e), e->res_master, "resumption", nonce, sizeof nonce, s.master, hl))
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "NewSessionTicket");
    s.id_len = 32;
    s.version = TLS_TLS13;
    s.suite = e->suite->info.id;
    s.peer_cert = e->peer_cert;
    s.peer_cert_len = e->peer_cert_len;
    tls_cache_put(&e->cfg->cache, &s);
    tls_wr w = tls_wr_dynamic(96);
    tls_wr_u16(&w, 0);
    tls_wr_u16(&w, 7200); /* ticket_lifetime: the cache's lifetime, 2 hours */
    tls_wr_u16(&w, (uint16_t)(age_add >> 16));
    tls_wr_u16(&w, (uint16_t)age_add);
    tls_wr_vec(&w, 1, nonce, sizeof nonce);
    tls_wr_vec(&w, 2, s.id, 32);
    tls_wr_u16(&w, 0); /* no extensions */
    tls_wr m = tls_wr_dynamic(128);
    tls_wr_u8(&m, TLS_HS_NEW_SESSION_TICKET);
    tls_wr_vec(&m, 3, w.p, w.len);
    bool ok = !w.bad && !m.bad && tls_engine_send_record(e, TLS_CT_HANDSHAKE, m.p, m.len);
    tls_wr_free(&w);
    tls_wr_free(&m);
    s.peer_cert = NULL;
    OPENSSL_cleanse(&s, sizeof s);
    return ok ? TLS_OK : tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "NewSessionTicket");
}

static int server_finished(tls_engine *e, tls_rd *r)
{
    int rc = check_finished(e, e->hs->c_hs, r);
    if (rc)
        return rc;
    if (!set_read(e, e->c_ap) || !derive_res_master(e))
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "application keys");
    tls_hs_done(e);
    if (e->cfg->opts.reuse_sessions)
        return send_ticket(e);
    return TLS_OK;
}

static int server_certificate_verify(tls_engine *e, tls_rd *r)
{
    int rc = check_certificate_verify(e, r, false);
    if (!rc)
        e->hs->state = HS13_S_WAIT_FINISHED;
    return rc;
}

static int finished_without_certificate(tls_engine *e, tls_rd *r)
{
    (void)r;
    return FAIL(e, TLS_ALERT_UNEXPECTED_MESSAGE, "the client skipped the Certificate we asked for");
}

const tls_hs_transition tls_server13_table[] = {
    {HS13_S_WAIT_CH2, TLS_HS_CLIENT_HELLO, server_client_hello2},
    {HS13_S_WAIT_CERT, TLS_HS_CERTIFICATE, server_certificate},
    {HS13_S_WAIT_CERT, TLS_HS_FINISHED, finished_without_certificate},
    {HS13_S_WAIT_CV, TLS_HS_CERTIFICATE_VERIFY, server_certificate_verify},
    {HS13_S_WAIT_FINISHED, TLS_HS_FINISHED, server_finished},
};
const size_t tls_server13_table_len = sizeof tls_server13_table / sizeof *tls_server13_table;

/* ClientHello2 after our HelloRetryRequest: parsed by the common server code
 * path (tls_server_parse_hello) and must now carry a share for our group. */
static int server_client_hello2(tls_engine *e, tls_rd *r)
{
    tls_hs *hs = e->hs;
    tls_client_hello ch;
    int rc = tls_server_parse_hello(e, r, &ch);
    if (rc)
        return rc;
    bool v13 = false;
    for (tls_rd v = ch.versions; ch.has_versions && tls_rd_left(&v) >= 2;)
        v13 |= tls_rd_u16(&v) == TLS_TLS13;
    if (!v13 || !ch.has_key_share)
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the second ClientHello changed its versions or lacks key_share");
    if (ch.session_id.len != hs->legacy_session_id_len ||
        memcmp(ch.session_id.p, hs->legacy_session_id, ch.session_id.len))
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the second ClientHello changed legacy_session_id");
    bool suite_kept = false;
    for (size_t j = 0; j < ch.n_suites; j++)
        suite_kept |= ch.suites[j] == e->suite->info.id;
    if (!suite_kept)
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the second ClientHello dropped the chosen suite");
    tls_rd list = ch.key_share;
    tls_rd shares = tls_rd_vec(&list, 2, 0, 0xffff);
    tls_rd peer;
    if (list.bad || !find_share(shares, hs->group, &peer))
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the second ClientHello has no share for group %u", hs->group);
    ch.key_share = shares;
    return server_flight(e, &ch);
}

/* ======================================================================
 * after the handshake
 * ====================================================================== */

int tls13_key_update(tls_engine *e, bool request_peer)
{
    uint8_t body[5] = {TLS_HS_KEY_UPDATE, 0, 0, 1, request_peer ? 1 : 0};
    uint8_t *secret = e->server ? e->s_ap : e->c_ap;
    if (!tls_engine_send_record(e, TLS_CT_HANDSHAKE, body, sizeof body) ||
        !tls13_next_secret(hash_of(e), secret) || !set_write(e, secret))
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "KeyUpdate");
    return TLS_OK;
}

int tls13_post_handshake(tls_engine *e, uint8_t type, tls_rd *msg)
{
    switch (type) {
    case TLS_HS_NEW_SESSION_TICKET:
        if (e->server)
            break;
    {
        /* lifetime(4) age_add(4) nonce<0..255> ticket<1..2^16-1> extensions<0..2^16-2> */
        uint32_t lifetime = (uint32_t)tls_rd_u16(msg) << 16;
        lifetime |= tls_rd_u16(msg);
        uint32_t age_add = (uint32_t)tls_rd_u16(msg) << 16;
        age_add |= tls_rd_u16(msg);
        tls_rd nonce = tls_rd_vec(msg, 1, 0, 255);
        tls_rd ticket = tls_rd_vec(msg, 2, 1, 0xffff);
        (void)tls_rd_vec(msg, 2, 0, 0xfffe);
        if (msg->bad || !tls_rd_done(msg))
            return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed NewSessionTicket");
        if (!e->cfg->opts.reuse_sessions || !e->server_name[0] || !lifetime || lifetime > 604800)
            return TLS_OK;
        tls_session s;
        memset(&s, 0, sizeof s);
        s.version = TLS_TLS13;
        s.suite = e->suite->info.id;
        s.age_add = age_add;
        s.received_ms = tls_now_ms();
        s.ticket = (uint8_t *)ticket.p;
        s.ticket_len = ticket.len;
        s.peer_cert = e->peer_cert;
        s.peer_cert_len = e->peer_cert_len;
        snprintf(s.name, sizeof s.name, "%s", e->server_name);
        if (tls13_expand_label(hash_of(e), e->res_master, "resumption", nonce.p, nonce.len, s.master,
                               tls_hash_len(hash_of(e))))
            tls_cache_put(&e->cfg->cache, &s);
        s.ticket = NULL;
        s.peer_cert = NULL;
        OPENSSL_cleanse(&s, sizeof s);
        return TLS_OK;
    }
    case TLS_HS_KEY_UPDATE: {
        uint8_t req = tls_rd_u8(msg);
        if (msg->bad || !tls_rd_done(msg) || req > 1)
            return FAIL(e, req > 1 ? TLS_ALERT_ILLEGAL_PARAMETER : TLS_ALERT_DECODE_ERROR, "malformed KeyUpdate");
        uint8_t *secret = e->server ? e->c_ap : e->s_ap;
        if (!tls13_next_secret(hash_of(e), secret) || !set_read(e, secret))
            return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "KeyUpdate");
        if (req && !e->close_sent)
            return tls13_key_update(e, false);
        return TLS_OK;
    }
    default: break;
    }
    return FAIL(e, TLS_ALERT_UNEXPECTED_MESSAGE, "handshake message %u after the TLS 1.3 handshake", type);
}
