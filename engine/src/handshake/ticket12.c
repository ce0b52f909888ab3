/* RFC 5077 session tickets for TLS 1.0 .. 1.2, both roles. The sealing
 * itself is core's (ticket.c); here are the handshake's parts:
 *  - server: whether this handshake issues a ticket (the client sent
 *    session_ticket, the handshake is a full one and not a renegotiation),
 *    the NewSessionTicket before our ChangeCipherSpec (3.3), and the session
 *    in a ticket the client presents (3.4: the ticket alone decides, the
 *    session id beside it is only echoed);
 *  - client: a stored ticket offered with a fresh random session id (3.4),
 *    and the NewSessionTicket read, kept until the handshake ends. */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "handshake.h"

bool tls12_server_issues_ticket(const tls_engine *e, const tls_client_hello *ch)
{
    return e->cfg->opts.reuse_sessions && ch->has_ticket_ext && !e->connected_once && e->version > TLS_SSL3 &&
           e->cfg->ticket_key.ready;
}

int tls12_send_new_session_ticket(tls_engine *e)
{
    tls_session s;
    memset(&s, 0, sizeof s);
    s.version = e->version;
    s.suite = e->suite->info.id;
    s.ems = e->ems;
    memcpy(s.master, e->master, sizeof s.master);
    s.peer_cert = e->peer_cert; /* borrowed */
    s.peer_cert_len = e->peer_cert_len;

    tls_wr w = tls_wr_dynamic(256 + e->peer_cert_len);
    tls_wr_u16(&w, (uint16_t)(TLS_TICKET_LIFETIME_S >> 16)); /* ticket_lifetime_hint */
    tls_wr_u16(&w, (uint16_t)TLS_TICKET_LIFETIME_S);
    size_t at = tls_wr_begin_vec(&w, 2);
    /* a state too big for a ticket (a huge client certificate) goes out as
     * an empty ticket: the session is then simply not resumable (3.3) */
    (void)tls_ticket_seal(&e->cfg->ticket_key, &s, tls_now_ms() / 1000, TLS_TICKET_LIFETIME_S, &w);
    tls_wr_end_vec(&w, at, 2);
    OPENSSL_cleanse(&s, sizeof s);
    return tls_hs_send_built(e, TLS_HS_NEW_SESSION_TICKET, &w) ? TLS_OK : tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "NewSessionTicket");
}

bool tls12_server_open_ticket(tls_engine *e, const tls_client_hello *ch)
{
    tls_hs *hs = e->hs;
    if (!ch->has_ticket_ext || !ch->ticket.len ||
        !tls_ticket_open(&e->cfg->ticket_key, ch->ticket.p, ch->ticket.len, tls_now_ms() / 1000, &hs->resume,
                         NULL))
        return false;
    memcpy(hs->resume.id, ch->session_id.p, ch->session_id.len); /* echoed when resumed */
    hs->resume.id_len = (uint8_t)ch->session_id.len;
    return true;
}

int tls12_client_offer_ticket(tls_engine *e)
{
    tls_hs *hs = e->hs;
    hs->resume_ticket = hs->have_resume && hs->resume.version <= TLS_TLS12 && hs->resume.ticket_len;
    if (!hs->resume_ticket)
        return TLS_OK;
    /* the server echoes this id when it accepts the ticket */
    if (RAND_bytes(hs->offered_session, 32) != 1)
        return tls_engine_fail(e, TLS_E_INTERNAL, -1, "no random bytes");
    hs->offered_session_len = 32;
    return TLS_OK;
}

int tls12_client_new_session_ticket(tls_engine *e, tls_rd *r)
{
    tls_hs *hs = e->hs;
    uint32_t hint = (uint32_t)tls_rd_u16(r) << 16;
    hint |= tls_rd_u16(r);
    tls_rd ticket = tls_rd_vec(r, 2, 0, 0xffff);
    if (r->bad || !tls_rd_done(r))
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed NewSessionTicket");
    free(hs->new_ticket);
    hs->new_ticket = NULL;
    hs->new_ticket_len = 0;
    if (ticket.len) { /* empty: the server changed its mind (RFC 5077 3.3) */
        hs->new_ticket = malloc(ticket.len);
        if (!hs->new_ticket)
            return tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "NewSessionTicket");
        memcpy(hs->new_ticket, ticket.p, ticket.len);
        hs->new_ticket_len = ticket.len;
    }
    hs->new_ticket_lifetime = hint; /* 0: unspecified, the cache's own lifetime */
    hs->new_ticket_received = true;
    hs->state = HS_C_WAIT_CCS;
    return TLS_OK;
}
