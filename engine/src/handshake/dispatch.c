/* The handshake's entry from core and its state machines as data: for each
 * handshake this engine runs, the FLIGHT (who sends which message, in order)
 * and the tables that map (state, message) to the handler that reads it.
 * When the last handler sets HS_DONE, the messages that went by are checked
 * against the flight of the handshake that ran, then the session is kept. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handshake.h"

/* ---- the flights ---- */

typedef struct flight_step {
    uint8_t type;
    bool from_server;
    bool optional; /* depends on the suite, a resumption or client authentication */
} flight_step;

#define C(t) {TLS_HS_##t, false, false}
#define S(t) {TLS_HS_##t, true, false}
#define C_OPT(t) {TLS_HS_##t, false, true}
#define S_OPT(t) {TLS_HS_##t, true, true}

/* SSL 3.0 .. TLS 1.2, full: ServerKeyExchange for (EC)DHE; Certificate and
 * CertificateVerify from the client when asked (SSL 3.0 may skip both); a
 * NewSessionTicket when session_ticket was agreed (RFC 5077 3.3). */
static const flight_step full12[] = {
    C(CLIENT_HELLO), S(SERVER_HELLO), S(CERTIFICATE), S_OPT(SERVER_KEY_EXCHANGE),
    S_OPT(CERTIFICATE_REQUEST), S(SERVER_HELLO_DONE), C_OPT(CERTIFICATE), C(CLIENT_KEY_EXCHANGE),
    C_OPT(CERTIFICATE_VERIFY), C(FINISHED), S_OPT(NEW_SESSION_TICKET), S(FINISHED),
};
/* resumed by session id or ticket: the server finishes first */
static const flight_step resumed12[] = {
    C(CLIENT_HELLO), S(SERVER_HELLO), S_OPT(NEW_SESSION_TICKET), S(FINISHED), C(FINISHED),
};
/* TLS 1.3, full; a HelloRetryRequest (a ServerHello) and a second
 * ClientHello may come first */
static const flight_step full13[] = {
    C(CLIENT_HELLO), S_OPT(SERVER_HELLO), C_OPT(CLIENT_HELLO), S(SERVER_HELLO), S(ENCRYPTED_EXTENSIONS),
    S_OPT(CERTIFICATE_REQUEST), S(CERTIFICATE), S(CERTIFICATE_VERIFY), S(FINISHED), C_OPT(CERTIFICATE),
    C_OPT(CERTIFICATE_VERIFY), C(FINISHED),
};
/* TLS 1.3 resumed with a ticket (pre_shared_key): no certificates */
static const flight_step psk13[] = {
    C(CLIENT_HELLO), S_OPT(SERVER_HELLO), C_OPT(CLIENT_HELLO), S(SERVER_HELLO), S(ENCRYPTED_EXTENSIONS),
    S(FINISHED), C(FINISHED),
};

typedef struct flight {
    const char *name;
    const flight_step *steps;
    size_t n;
} flight;

#define FLIGHT(name, a) {name, a, sizeof a / sizeof *a}
static const flight flights[] = {
    FLIGHT("full TLS <= 1.2", full12),
    FLIGHT("resumed TLS <= 1.2", resumed12),
    FLIGHT("full TLS 1.3", full13),
    FLIGHT("resumed TLS 1.3", psk13),
};

static bool follows(const flight_step *s, size_t n, const uint8_t *trace, size_t m)
{
    if (!n)
        return m == 0;
    uint8_t want = (uint8_t)(s->type | (s->from_server ? 0x80 : 0));
    if (m && trace[0] == want && follows(s + 1, n - 1, trace + 1, m - 1))
        return true;
    return s->optional && follows(s + 1, n - 1, trace, m);
}

/* A HelloRetryRequest is recorded as the ServerHello it is; the optional
 * steps of full13/psk13 then require both it and the second ClientHello. */
static bool hrr_shape_ok(const tls_hs *hs)
{
    size_t hellos = 0;
    for (size_t i = 0; i < hs->n_trace && i < TLS_HS_TRACE_MAX; i++)
        hellos += (hs->trace[i] & 0x7f) == TLS_HS_CLIENT_HELLO;
    return hellos == (hs->hrr ? 2u : 1u);
}

static const flight *flight_of(const tls_engine *e)
{
    if (e->hs->tls13)
        return &flights[e->reused ? 3 : 2];
    return &flights[e->reused ? 1 : 0];
}

/* ---- the state tables ---- */

typedef struct transition {
    tls_hs_state state;
    uint8_t type;
    tls_hs_handler handler;
} transition;

static const transition client12[] = {
    {HS_C_WAIT_SH, TLS_HS_SERVER_HELLO, tls_hs_server_hello},
    {HS_C_WAIT_CERT, TLS_HS_CERTIFICATE, tls12_client_certificate},
    {HS_C_WAIT_SKE, TLS_HS_SERVER_KEY_EXCHANGE, tls12_client_key_exchange_in},
    {HS_C_WAIT_CR_OR_SHD, TLS_HS_CERTIFICATE_REQUEST, tls12_client_certificate_request},
    {HS_C_WAIT_CR_OR_SHD, TLS_HS_SERVER_HELLO_DONE, tls12_client_hello_done},
    {HS_C_WAIT_SHD, TLS_HS_SERVER_HELLO_DONE, tls12_client_hello_done},
    {HS_C_WAIT_NST, TLS_HS_NEW_SESSION_TICKET, tls12_client_new_session_ticket},
    {HS_C_WAIT_FINISHED, TLS_HS_FINISHED, tls12_client_finished},
};
static const transition server12[] = {
    {HS_S_WAIT_CH, TLS_HS_CLIENT_HELLO, tls_hs_client_hello},
    {HS_S_WAIT_CERT, TLS_HS_CERTIFICATE, tls12_server_certificate},
    {HS_S_WAIT_CERT, TLS_HS_CLIENT_KEY_EXCHANGE, tls12_server_key_exchange_without_cert},
    {HS_S_WAIT_CKE, TLS_HS_CLIENT_KEY_EXCHANGE, tls12_server_key_exchange_in},
    {HS_S_WAIT_CV, TLS_HS_CERTIFICATE_VERIFY, tls12_server_certificate_verify},
    {HS_S_WAIT_FINISHED, TLS_HS_FINISHED, tls12_server_finished},
};
static const transition client13[] = {
    {HS13_C_WAIT_EE, TLS_HS_ENCRYPTED_EXTENSIONS, tls13_client_encrypted_extensions},
    {HS13_C_WAIT_CERT_CR, TLS_HS_CERTIFICATE_REQUEST, tls13_client_certificate_request},
    {HS13_C_WAIT_CERT_CR, TLS_HS_CERTIFICATE, tls13_client_certificate},
    {HS13_C_WAIT_CERT, TLS_HS_CERTIFICATE, tls13_client_certificate},
    {HS13_C_WAIT_CV, TLS_HS_CERTIFICATE_VERIFY, tls13_certificate_verify_in},
    {HS13_C_WAIT_FINISHED, TLS_HS_FINISHED, tls13_client_finished},
};
static const transition server13[] = {
    {HS13_S_WAIT_CH2, TLS_HS_CLIENT_HELLO, tls_hs_client_hello2},
    {HS13_S_WAIT_CERT, TLS_HS_CERTIFICATE, tls13_server_certificate},
    {HS13_S_WAIT_CERT, TLS_HS_FINISHED, tls13_server_finished_without_cert},
    {HS13_S_WAIT_CV, TLS_HS_CERTIFICATE_VERIFY, tls13_certificate_verify_in},
    {HS13_S_WAIT_FINISHED, TLS_HS_FINISHED, tls13_server_finished},
};
#define TABLE(t) {t, sizeof t / sizeof *t}
static const struct {
    const transition *t;
    size_t n;
} tables[2][2] = {{TABLE(client12), TABLE(server12)}, {TABLE(client13), TABLE(server13)}};

/* ---- the entry points ---- */

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
    free(hs->new_ticket);
    OPENSSL_cleanse(hs, sizeof *hs);
    free(hs);
}

int tls_hs_start(tls_engine *e)
{
    if (e->connected_once && !e->server && !e->secure_reneg && e->cfg->opts.secure_renegotiate) {
        /* our own renegotiation with a server without RFC 5746: refused here,
         * the session goes on (as when the peer refuses) */
        e->reneg_requested = false;
        tls_err_set(&e->err, TLS_E_RENEG_REJECTED, -1,
                    "no renegotiation with a server without RFC 5746 while secure_renegotiate is set");
        return TLS_E_RENEG_REJECTED;
    }
    if (!e->hs) {
        e->hs = calloc(1, sizeof *e->hs);
        if (!e->hs)
            return tls_engine_fail(e, TLS_E_NOMEM, -1, "handshake state");
        e->hs->transcript = tls_wr_dynamic(4096);
    }
    e->status |= TLS_ST_HANDSHAKING;
    if (e->server) {
        e->hs->state = HS_S_WAIT_CH;
        return TLS_OK;
    }
    return tls_hs_client_start(e);
}

bool tls_hs_awaiting_finished(const tls_hs *hs)
{
    return hs && hs->ccs_received;
}

int tls_hs_key_update(tls_engine *e, bool request_peer)
{
    return tls13_key_update(e, request_peer);
}

/* Renegotiation entry points: a handshake message while connected.
 * secure_renegotiate refuses any renegotiation with a peer without RFC 5746;
 * a server takes a ClientHello only after its own HelloRequest unless
 * client_renegotiation lets clients start one (a client-initiated
 * renegotiation makes the server do the expensive half of a handshake on
 * demand: refused by default, as nginx and OpenSSL 3 servers do). */
static int handle_when_connected(tls_engine *e, uint8_t type)
{
    const tls_options *o = &e->cfg->opts;
    bool wanted = e->server ? type == TLS_HS_CLIENT_HELLO : type == TLS_HS_HELLO_REQUEST;
    if (!wanted)
        return FAIL(e, TLS_ALERT_UNEXPECTED_MESSAGE, "handshake message %u after the handshake", type);
    bool allowed = e->secure_reneg || !o->secure_renegotiate;
    if (e->server && !e->reneg_requested && !o->client_renegotiation)
        allowed = false;
    if (!allowed || e->close_sent) {
        /* decline, keep the connection (RFC 5246 7.2.2, RFC 5746 4.2/4.4) */
        if (e->version == TLS_SSL3)
            return FAIL(e, TLS_ALERT_HANDSHAKE_FAILURE,
                        "renegotiation refused (SSL 3.0 has no no_renegotiation alert)");
        tls_engine_send_alert(e, 1, TLS_ALERT_NO_RENEGOTIATION);
        return TLS_OK;
    }
    return tls_hs_start(e);
}

/* The handshake is over: check its messages against its flight, remember the
 * session for resumption, free the handshake state. */
static int finish(tls_engine *e)
{
    tls_hs *hs = e->hs;
    const flight *f = flight_of(e);
    if (hs->n_trace > TLS_HS_TRACE_MAX || !hrr_shape_ok(hs) || !follows(f->steps, f->n, hs->trace, hs->n_trace))
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR,
                               "the handshake's messages do not follow the %s flight", f->name);
    /* a new session, or a resumed one with a new ticket (RFC 5077 3.3) */
    bool keep = e->reused ? hs->new_ticket_len > 0 : e->session_id_len || hs->new_ticket_len;
    if (e->cfg->opts.reuse_sessions && keep) {
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
        s.ticket = hs->new_ticket; /* borrowed, as the certificate */
        s.ticket_len = hs->new_ticket_len;
        s.lifetime_s = hs->new_ticket_lifetime;
        if (!e->server && e->server_name[0])
            snprintf(s.name, sizeof s.name, "%s", e->server_name);
        if (e->server || s.name[0])
            tls_cache_put(&e->cfg->cache, &s);
        s.peer_cert = NULL;
        s.ticket = NULL;
        OPENSSL_cleanse(&s, sizeof s);
    }
    bool ticket = e->server && hs->tls13 && e->cfg->opts.reuse_sessions;
    tls_hs_free(e->hs);
    e->hs = NULL;
    e->connected_once = true;
    e->reneg_requested = false;
    e->status &= ~(unsigned)TLS_ST_HANDSHAKING;
    e->status |= TLS_ST_CONNECTED;
    return ticket ? tls13_send_ticket(e) : TLS_OK;
}

int tls_hs_handle(tls_engine *e, uint8_t type, const uint8_t *body, size_t len, const uint8_t *raw,
                  size_t raw_len)
{
    if (e->status & TLS_ST_FAILED)
        return e->err.code;
    if (type == TLS_HS_HELLO_REQUEST && e->version != TLS_TLS13) {
        if (e->server)
            return FAIL(e, TLS_ALERT_UNEXPECTED_MESSAGE, "HelloRequest sent to a server");
        if (len)
            return FAIL(e, TLS_ALERT_DECODE_ERROR, "HelloRequest with a body");
        if (e->hs) /* ignored while a handshake runs (RFC 5246 7.4.1.1) */
            return TLS_OK;
        return handle_when_connected(e, type);
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
        return FAIL(e, TLS_ALERT_UNEXPECTED_MESSAGE, "handshake message %u where ChangeCipherSpec was expected",
                    type);
    hs->before = hs->transcript.len;
    if (raw) {
        tls_wr_bytes(&hs->transcript, raw, raw_len);
        if (hs->transcript.bad)
            return tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "transcript");
    }
    tls_hs_trace(hs, type, !e->server);
    tls_rd r = tls_rd_make(body, len);
    bool v13 = hs->tls13 && hs->state != HS_C_WAIT_SH;
    const transition *t = tables[v13][e->server].t;
    size_t n = tables[v13][e->server].n;
    for (size_t i = 0; i < n; i++) {
        if (t[i].state != hs->state || t[i].type != type)
            continue;
        int rc = t[i].handler(e, &r);
        if (rc == TLS_OK && e->hs && e->hs->state == HS_DONE)
            rc = finish(e);
        return rc;
    }
    return FAIL(e, TLS_ALERT_UNEXPECTED_MESSAGE, "unexpected %shandshake message %u from the %s",
                hs->tls13 ? "TLS 1.3 " : "", type, e->server ? "client" : "server");
}

int tls_hs_handle_ccs(tls_engine *e)
{
    tls_hs *hs = e->hs;
    if (!hs || (hs->state != HS_C_WAIT_CCS && hs->state != HS_S_WAIT_CCS) || !e->rd_next_ready)
        return FAIL(e, TLS_ALERT_UNEXPECTED_MESSAGE, "unexpected ChangeCipherSpec");
    tls_rec_clear(&e->rd);
    e->rd = e->rd_next;
    memset(&e->rd_next, 0, sizeof e->rd_next);
    e->rd_next_ready = false;
    hs->ccs_received = true;
    hs->state = hs->state == HS_C_WAIT_CCS ? HS_C_WAIT_FINISHED : HS_S_WAIT_FINISHED;
    return TLS_OK;
}
