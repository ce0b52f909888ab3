/* TLS 1.3 after the handshake: NewSessionTicket (the server issues one, the
 * client keeps it for resumption with pre_shared_key) and KeyUpdate. */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "handshake.h"
#include "keysched13.h"

int tls13_key_update(tls_engine *e, bool request_peer)
{
    uint8_t body[5] = {TLS_HS_KEY_UPDATE, 0, 0, 1, request_peer ? 1 : 0};
    uint8_t *secret = e->server ? e->s_ap : e->c_ap;
    if (!tls_engine_send_record(e, TLS_CT_HANDSHAKE, body, sizeof body) ||
        !tls13_next_secret(e->suite->prf_hash, secret) || !tls13_set_write(e, secret))
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "KeyUpdate");
    return TLS_OK;
}

/* One NewSessionTicket: the ticket is a random id into our session cache,
 * which keeps the PSK (stateful tickets; nothing secret leaves the server). */
int tls13_send_ticket(tls_engine *e)
{
    tls_session s;
    memset(&s, 0, sizeof s);
    uint8_t nonce[8];
    uint32_t age_add;
    tls_hash_id h = e->suite->prf_hash;
    if (RAND_bytes(s.id, 32) != 1 || RAND_bytes(nonce, sizeof nonce) != 1 ||
        RAND_bytes((uint8_t *)&age_add, sizeof age_add) != 1 ||
        !tls13_expand_label(h, e->res_master, "resumption", nonce, sizeof nonce, s.master, tls_hash_len(h)))
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

/* Client: keeps the ticket in the session cache under the server's name. */
static int new_session_ticket(tls_engine *e, tls_rd *msg)
{
    /* lifetime(4) age_add(4) nonce<0..255> ticket<1..2^16-1> extensions<0..2^16-2> */
    uint32_t lifetime = (uint32_t)tls_rd_u16(msg) << 16;
    lifetime |= tls_rd_u16(msg);
    uint32_t age_add = (uint32_t)tls_rd_u16(msg) << 16;
    age_add |= tls_rd_u16(msg);
    tls_rd nonce = tls_rd_vec(msg, 1, 0, 255);
    tls_rd ticket = tls_rd_vec(msg, 2, 1, 0xffff);
    tls_rd exts = tls_rd_vec(msg, 2, 0, 0xfffe);
    if (msg->bad || !tls_rd_done(msg))
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed NewSessionTicket");
    tls_ext_in in;
    int rc = tls_ext_parse(e, EXT_IN_NST, exts, &in);
    if (rc)
        return rc;
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
    tls_hash_id h = e->suite->prf_hash;
    if (tls13_expand_label(h, e->res_master, "resumption", nonce.p, nonce.len, s.master, tls_hash_len(h)))
        tls_cache_put(&e->cfg->cache, &s);
    s.ticket = NULL;
    s.peer_cert = NULL;
    OPENSSL_cleanse(&s, sizeof s);
    return TLS_OK;
}

static int key_update(tls_engine *e, tls_rd *msg)
{
    uint8_t req = tls_rd_u8(msg);
    if (msg->bad || !tls_rd_done(msg) || req > 1)
        return FAIL(e, req > 1 ? TLS_ALERT_ILLEGAL_PARAMETER : TLS_ALERT_DECODE_ERROR, "malformed KeyUpdate");
    uint8_t *secret = e->server ? e->c_ap : e->s_ap;
    if (!tls13_next_secret(e->suite->prf_hash, secret) || !tls13_set_read(e, secret))
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "KeyUpdate");
    if (req && !e->close_sent)
        return tls13_key_update(e, false);
    return TLS_OK;
}

int tls13_post_handshake(tls_engine *e, uint8_t type, tls_rd *msg)
{
    if (type == TLS_HS_NEW_SESSION_TICKET && !e->server)
        return new_session_ticket(e, msg);
    if (type == TLS_HS_KEY_UPDATE)
        return key_update(e, msg);
    return FAIL(e, TLS_ALERT_UNEXPECTED_MESSAGE, "handshake message %u after the TLS 1.3 handshake", type);
}
