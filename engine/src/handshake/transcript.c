/* The transcript and the TLS <= 1.2 key derivation: framing of our messages
 * (into the transcript and out as records), ChangeCipherSpec and Finished,
 * master secret (EMS-aware) and the key block, the NSS key log. */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "handshake.h"
#include "keysched13.h"
#include "prf.h"

void tls_hs_trace(tls_hs *hs, uint8_t type, bool from_server)
{
    if (hs->n_trace < TLS_HS_TRACE_MAX)
        hs->trace[hs->n_trace] = (uint8_t)(type | (from_server ? 0x80 : 0));
    hs->n_trace++; /* past the array: the flight check fails */
}

bool tls_hs_send_msg(tls_engine *e, uint8_t type, const tls_wr *body)
{
    uint8_t h[4] = {type, (uint8_t)(body->len >> 16), (uint8_t)(body->len >> 8), (uint8_t)body->len};
    size_t at = e->hs->transcript.len;
    tls_wr_bytes(&e->hs->transcript, h, 4);
    tls_wr_bytes(&e->hs->transcript, body->p, body->len);
    if (e->hs->transcript.bad || body->bad)
        return false;
    tls_hs_trace(e->hs, type, e->server);
    return tls_engine_send_record(e, TLS_CT_HANDSHAKE, e->hs->transcript.p + at, 4 + body->len);
}

/* Sends the message built in w, unless building it failed; frees w. */
bool tls_hs_send_built(tls_engine *e, uint8_t type, tls_wr *w)
{
    bool ok = !w->bad && tls_hs_send_msg(e, type, w);
    tls_wr_free(w);
    return ok;
}

/* Replaces ClientHello1 in the transcript with message_hash (RFC 8446 4.4.1). */
bool tls_hs_transcript_to_message_hash(tls_engine *e, size_t ch1_len)
{
    tls_hs *hs = e->hs;
    tls_hash_id hash = e->suite->prf_hash;
    uint8_t h[TLS13_MAX_HASH];
    size_t hl = tls_hash_len(hash);
    if (!tls13_hash(hash, hs->transcript.p, ch1_len, h))
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

void tls_hs_take_resumed_peer_cert(tls_engine *e)
{
    tls_hs *hs = e->hs;
    if (!hs->resume.peer_cert)
        return;
    free(e->peer_cert);
    e->peer_cert = hs->resume.peer_cert;
    e->peer_cert_len = hs->resume.peer_cert_len;
    hs->resume.peer_cert = NULL;
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
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "Finished of %zu bytes, expected %zu", len, vd_len);
    if (CRYPTO_memcmp(vd, body, vd_len) != 0)
        return FAIL(e, TLS_ALERT_DECRYPT_ERROR, "the peer's Finished does not match (keys or transcript differ)");
    memcpy(e->server ? e->client_verify : e->server_verify, vd, vd_len);
    e->verify_len = vd_len;
    e->hs->ccs_received = false;
    return TLS_OK;
}
