/* The extension rows only TLS 1.3 has (RFC 8446 4.2): supported_versions,
 * key_share, cookie, psk_key_exchange_modes, early_data, pre_shared_key.
 * The table that uses them, and the rules every row obeys, are in
 * extensions.c. */
#include <openssl/crypto.h>
#include <string.h>

#include "ext_rows.h"
#include "kex.h"

/* ---- supported_versions (RFC 8446 4.2.1) ---- */
int tls_ext13_parse_versions(tls_engine *e, tls_ext_msg msg, tls_rd *body, ext_out *out)
{
    if (msg == EXT_IN_CH) {
        out->ch->versions = tls_rd_vec(body, 1, 2, 254);
        if (body->bad || !tls_rd_done(body) || (out->ch->versions.len & 1))
            return tls_ext_malformed(e, "supported_versions");
        out->ch->has_versions = true;
        return TLS_OK;
    }
    out->in->version = tls_rd_u16(body);
    if (!tls_rd_done(body))
        return tls_ext_malformed(e, "supported_versions");
    out->in->has_version = true;
    return TLS_OK;
}

int tls_ext13_write_versions(tls_engine *e, tls_ext_msg msg, tls_wr *w)
{
    tls_config *c = e->cfg;
    if (msg != EXT_IN_CH) {
        tls_wr_u16(w, TLS_TLS13);
        return 1;
    }
    if (!e->hs->ch_offer13)
        return 0;
    size_t b = tls_wr_begin_vec(w, 1);
    for (uint16_t v = c->max_version; v >= c->min_version && v >= TLS_SSL3; v--) {
        tls_wr_u16(w, v);
        if (v == TLS_SSL3)
            break;
    }
    tls_wr_end_vec(w, b, 1);
    return 1;
}

/* ---- key_share (RFC 8446 4.2.8) ---- */
int tls_ext13_parse_key_share(tls_engine *e, tls_ext_msg msg, tls_rd *body, ext_out *out)
{
    if (msg == EXT_IN_CH) {
        out->ch->key_share = *body; /* validated by the TLS 1.3 path, which uses it */
        out->ch->has_key_share = true;
        return TLS_OK;
    }
    out->in->group = tls_rd_u16(body);
    if (msg == EXT_IN_SH13)
        out->in->share = tls_rd_vec(body, 2, 1, 0xffff);
    if (!tls_rd_done(body))
        return tls_ext_malformed(e, msg == EXT_IN_HRR ? "key_share in HelloRetryRequest" : "key_share in ServerHello");
    out->in->has_share = true;
    return TLS_OK;
}

int tls_ext13_write_key_share(tls_engine *e, tls_ext_msg msg, tls_wr *w)
{
    tls_hs *hs = e->hs;
    if (msg == EXT_IN_CH) {
        if (!hs->ch_offer13)
            return 0;
        if (!hs->eph) {
            if (!hs->group && !tls_hs_groups(e, &hs->group, 1))
                return tls_engine_fail(e, TLS_E_CONFIG, -1, "no key exchange group at security level %d",
                                       e->cfg->opts.security_level);
            hs->eph = tls_ecdhe_keygen(hs->group, hs->key_share, sizeof hs->key_share, &hs->key_share_len);
            if (!hs->eph)
                return tls_engine_fail(e, TLS_E_INTERNAL, -1, "key share generation: %s", tls_kex_error());
        }
        size_t b = tls_wr_begin_vec(w, 2);
        tls_wr_u16(w, hs->group);
        tls_wr_vec(w, 2, hs->key_share, hs->key_share_len);
        tls_wr_end_vec(w, b, 2);
        return 1;
    }
    tls_wr_u16(w, hs->group);
    if (msg == EXT_IN_SH13)
        tls_wr_vec(w, 2, hs->key_share, hs->key_share_len);
    return 1;
}

/* ---- cookie (RFC 8446 4.2.2) ---- */
int tls_ext13_parse_cookie(tls_engine *e, tls_ext_msg msg, tls_rd *body, ext_out *out)
{
    tls_hs *hs = e->hs;
    if (msg == EXT_IN_CH) {
        out->ch->cookie = *body;
        out->ch->has_cookie = true;
        return TLS_OK;
    }
    tls_rd ck = tls_rd_vec(body, 2, 1, sizeof hs->cookie);
    if (body->bad || !tls_rd_done(body))
        return tls_ext_malformed(e, "cookie");
    memcpy(hs->cookie, ck.p, ck.len);
    hs->cookie_len = ck.len;
    return TLS_OK;
}

int tls_ext13_write_cookie(tls_engine *e, tls_ext_msg msg, tls_wr *w)
{
    (void)msg;
    if (!e->hs->cookie_len)
        return 0;
    tls_wr_vec(w, 2, e->hs->cookie, e->hs->cookie_len);
    return 1;
}

/* ---- psk_key_exchange_modes (RFC 8446 4.2.9) ---- */
int tls_ext13_parse_psk_modes(tls_engine *e, tls_ext_msg msg, tls_rd *body, ext_out *out)
{
    (void)msg;
    out->ch->psk_modes = tls_rd_vec(body, 1, 1, 255);
    if (body->bad || !tls_rd_done(body))
        return tls_ext_malformed(e, "psk_key_exchange_modes");
    out->ch->has_psk_modes = true;
    return TLS_OK;
}

int tls_ext13_write_psk_modes(tls_engine *e, tls_ext_msg msg, tls_wr *w)
{
    (void)msg;
    if (!e->hs->psk_offered)
        return 0;
    tls_wr_u8(w, 1);
    tls_wr_u8(w, 1); /* psk_dhe_ke: always with a fresh (EC)DHE */
    return 1;
}

/* ---- early_data (RFC 8446 4.2.10): never sent; noted in a ClientHello ---- */
int tls_ext13_parse_early_data(tls_engine *e, tls_ext_msg msg, tls_rd *body, ext_out *out)
{
    if (msg == EXT_IN_CH) {
        out->ch->has_early_data = true;
        return TLS_OK;
    }
    (void)tls_rd_bytes(body, 4); /* NewSessionTicket: max_early_data_size, unused */
    return tls_rd_done(body) ? TLS_OK : tls_ext_malformed(e, "early_data");
}

/* ---- pre_shared_key (RFC 8446 4.2.11) ---- */
int tls_ext13_parse_psk(tls_engine *e, tls_ext_msg msg, tls_rd *body, ext_out *out)
{
    if (msg == EXT_IN_CH) {
        out->ch->psk = *body; /* checked by the TLS 1.3 server with the ticket */
        out->ch->has_psk = true;
        return TLS_OK;
    }
    out->in->psk_identity = tls_rd_u16(body);
    if (!tls_rd_done(body))
        return tls_ext_malformed(e, "pre_shared_key");
    out->in->has_psk = true;
    return TLS_OK;
}

/* Client: one identity (our ticket) and a zero binder that hello.c fills in
 * once the ClientHello is complete (hs->binders_at). */
int tls_ext13_write_psk(tls_engine *e, tls_ext_msg msg, tls_wr *w)
{
    tls_hs *hs = e->hs;
    if (msg == EXT_IN_SH13) {
        if (!hs->psk_accepted)
            return 0;
        tls_wr_u16(w, 0); /* selected_identity */
        return 1;
    }
    if (!hs->psk_offered)
        return 0;
    size_t hl = tls_hash_len(tls_suite_by_id(hs->resume.suite)->prf_hash);
    size_t b = tls_wr_begin_vec(w, 2);
    tls_wr_vec(w, 2, hs->resume.ticket, hs->resume.ticket_len);
    uint32_t age = (uint32_t)(tls_now_ms() - hs->resume.received_ms) + hs->resume.age_add;
    tls_wr_u16(w, (uint16_t)(age >> 16));
    tls_wr_u16(w, (uint16_t)age);
    tls_wr_end_vec(w, b, 2);
    hs->binders_at = w->len;
    size_t c = tls_wr_begin_vec(w, 2);
    size_t d = tls_wr_begin_vec(w, 1);
    static const uint8_t zero[64];
    tls_wr_bytes(w, zero, hl);
    tls_wr_end_vec(w, d, 1);
    tls_wr_end_vec(w, c, 2);
    return 1;
}
