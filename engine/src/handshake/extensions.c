/* Every extension of every handshake message, as one table: the type, the
 * messages it may appear in (RFC 8446 4.2), how to read it, how to write it,
 * and when it is sent. The loops over an extensions block, both ways, are
 * here and nowhere else, so the rules hold for every extension at once:
 *  - an extension twice in one block: illegal_parameter (RFC 8446 4.2,
 *    RFC 5246 7.4.1.4);
 *  - in a ClientHello, CertificateRequest or NewSessionTicket an unknown
 *    extension is ignored;
 *  - in an answer (ServerHello, HelloRetryRequest, EncryptedExtensions,
 *    Certificate) an extension we did not offer is unsupported_extension,
 *    one we know in the wrong message illegal_parameter (TLS 1.3);
 *  - a server writes only extensions the client offered (the cookie of a
 *    HelloRetryRequest and RFC 5746's reply to the SCSV aside). */
#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <string.h>

#include "ext_rows.h"
#include "handshake.h"
#include "kex.h"
#include "sig.h"

/* the messages that answer an offer */
#define ANSWERS (EXT_IN_SH | EXT_IN_SH13 | EXT_IN_HRR | EXT_IN_EE | EXT_IN_CT)

static bool empty_body(tls_rd *body) { return tls_rd_done(body); }

/* ---- server_name (RFC 6066 3) ---- */
static bool is_ip_literal(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static int parse_server_name(tls_engine *e, tls_ext_msg msg, tls_rd *body, ext_out *out)
{
    (void)out;
    if (msg != EXT_IN_CH)
        return empty_body(body) ? TLS_OK : FAIL(e, TLS_ALERT_DECODE_ERROR, "non-empty server_name from the server");
    tls_rd list = tls_rd_vec(body, 2, 1, 0xffff);
    while (!list.bad && tls_rd_left(&list)) {
        uint8_t kind = tls_rd_u8(&list);
        tls_rd name = tls_rd_vec(&list, 2, 1, 0xffff);
        if (list.bad)
            break;
        if (kind == 0 && !e->server_name[0] && name.len <= TLS_MAX_SERVER_NAME) {
            if (memchr(name.p, 0, name.len))
                return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "server_name with a NUL byte");
            if (!tls_engine_set_server_name(e, (const char *)name.p, name.len))
                return tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "server_name");
        }
    }
    if (list.bad || !tls_rd_done(body))
        return tls_ext_malformed(e, "server_name");
    return TLS_OK;
}

static int write_server_name(tls_engine *e, tls_ext_msg msg, tls_wr *w)
{
    if (msg != EXT_IN_CH) /* the server's empty acknowledgement */
        return e->server_name[0] && !(msg == EXT_IN_SH && e->reused);
    if (!e->server_name[0] || is_ip_literal(e->server_name))
        return 0; /* RFC 6066 3: IP literals are not sent */
    size_t b = tls_wr_begin_vec(w, 2);
    tls_wr_u8(w, 0);
    tls_wr_vec(w, 2, e->server_name, strlen(e->server_name));
    tls_wr_end_vec(w, b, 2);
    return 1;
}

/* ---- supported_groups (RFC 8422 5.1.1, RFC 8446 4.2.7) ---- */
static int parse_groups(tls_engine *e, tls_ext_msg msg, tls_rd *body, ext_out *out)
{
    (void)out;
    tls_hs *hs = e->hs;
    tls_rd list = tls_rd_vec(body, 2, 2, 0xfffe);
    if (list.bad || (list.len & 1) || !tls_rd_done(body))
        return tls_ext_malformed(e, "supported_groups");
    if (msg != EXT_IN_CH)
        return TLS_OK; /* the server's preferences: informational */
    /* keep only the groups we could use, in the client's order */
    hs->n_peer_groups = 0;
    while (tls_rd_left(&list)) {
        uint16_t g = tls_rd_u16(&list);
        hs->peer_ffdhe |= tls_group_is_ffdhe(g);
        if (tls_hs_group_ours(e, g) && !tls_hs_listed(hs->peer_groups, hs->n_peer_groups, g) &&
            hs->n_peer_groups < TLS_HS_MAX_PEER_GROUPS)
            hs->peer_groups[hs->n_peer_groups++] = g;
    }
    hs->peer_sent_groups = true;
    return TLS_OK;
}

static int write_groups(tls_engine *e, tls_ext_msg msg, tls_wr *w)
{
    (void)msg;
    if (!e->hs->ch_ecdhe)
        return 0;
    uint16_t groups[16];
    size_t n = tls_hs_groups(e, groups, 16);
    tls_hs_put_list16(w, groups, n < 16 ? n : 16);
    return 1;
}

/* ---- ec_point_formats (RFC 8422 5.1.2) ---- */
static int parse_point_formats(tls_engine *e, tls_ext_msg msg, tls_rd *body, ext_out *out)
{
    tls_rd f = tls_rd_vec(body, 1, 1, 255);
    bool uncompressed = false;
    while (tls_rd_left(&f))
        uncompressed |= tls_rd_u8(&f) == 0;
    if (msg == EXT_IN_CH) {
        if (f.bad || !tls_rd_done(body))
            return tls_ext_malformed(e, "ec_point_formats");
        out->ch->ecdhe_uncompressed = uncompressed;
        return TLS_OK;
    }
    if (f.bad || !tls_rd_done(body) || !uncompressed)
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "ec_point_formats without uncompressed");
    return TLS_OK;
}

static int write_point_formats(tls_engine *e, tls_ext_msg msg, tls_wr *w)
{
    bool ecdhe = msg == EXT_IN_CH ? e->hs->ch_ecdhe
                                   : (e->suite->kx == TLS_KX_ECDHE_RSA || e->suite->kx == TLS_KX_ECDHE_ECDSA) &&
                                         !e->reused;
    if (!ecdhe)
        return 0;
    tls_wr_u8(w, 1);
    tls_wr_u8(w, 0); /* uncompressed */
    return 1;
}

/* ---- signature_algorithms (RFC 5246 7.4.1.4.1, RFC 8446 4.2.3) ---- */
static int parse_sigalgs(tls_engine *e, tls_ext_msg msg, tls_rd *body, ext_out *out)
{
    (void)msg;
    tls_rd list = tls_rd_vec(body, 2, 2, 0xfffe);
    if (list.bad || !tls_rd_done(body))
        return tls_ext_malformed(e, "signature_algorithms");
    if (out->in)
        out->in->sigalgs = true;
    return tls_hs_read_sigalgs(e, list);
}

static int write_sigalgs(tls_engine *e, tls_ext_msg msg, tls_wr *w)
{
    if (msg == EXT_IN_CH && e->hs->ch_max < TLS_TLS12)
        return 0;
    tls_hs_put_sigalgs(e, w);
    return 1;
}

/* ---- signature_algorithms_cert (RFC 8446 4.2.3): read, never sent ---- */
static int parse_sigalgs_cert(tls_engine *e, tls_ext_msg msg, tls_rd *body, ext_out *out)
{
    tls_rd list = tls_rd_vec(body, 2, 2, 0xfffe);
    if (list.bad || (list.len & 1) || !tls_rd_done(body))
        return tls_ext_malformed(e, "signature_algorithms_cert");
    if (msg == EXT_IN_CH) /* our chains are checked against signature_algorithms */
        out->ch->has_sigalgs_cert = true;
    return TLS_OK;
}

/* ---- application_layer_protocol_negotiation (RFC 7301) ---- */
/* The server's choice, in ServerHello or EncryptedExtensions. */
static int accept_alpn(tls_engine *e, tls_rd *body)
{
    tls_config *c = e->cfg;
    tls_rd list = tls_rd_vec(body, 2, 2, 0xffff);
    tls_rd name = tls_rd_vec(&list, 1, 1, 255);
    if (body->bad || list.bad || !tls_rd_done(&list) || !tls_rd_done(body))
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed ALPN from the server");
    const char *ours = NULL;
    for (size_t i = 0; i < c->n_alpn && !ours; i++)
        if (strlen(c->alpn[i]) == name.len && !memcmp(c->alpn[i], name.p, name.len))
            ours = c->alpn[i];
    if (!ours)
        return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "the server chose an ALPN protocol we did not offer");
    e->alpn = ours;
    return TLS_OK;
}

static int parse_alpn(tls_engine *e, tls_ext_msg msg, tls_rd *body, ext_out *out)
{
    if (msg != EXT_IN_CH)
        return accept_alpn(e, body);
    tls_rd list = tls_rd_vec(body, 2, 2, 0xffff);
    if (body->bad || !tls_rd_done(body))
        return tls_ext_malformed(e, "ALPN");
    tls_rd check = list;
    while (tls_rd_left(&check))
        (void)tls_rd_vec(&check, 1, 1, 255);
    if (check.bad)
        return tls_ext_malformed(e, "ALPN protocol list");
    out->ch->alpn = list;
    out->ch->has_alpn = true;
    return TLS_OK;
}

static int write_alpn(tls_engine *e, tls_ext_msg msg, tls_wr *w)
{
    if (msg == EXT_IN_CH) {
        if (!e->cfg->alpn_wire_len)
            return 0;
        tls_wr_vec(w, 2, e->cfg->alpn_wire, e->cfg->alpn_wire_len);
        return 1;
    }
    if (!e->alpn[0])
        return 0;
    size_t b = tls_wr_begin_vec(w, 2);
    tls_wr_vec(w, 1, e->alpn, strlen(e->alpn));
    tls_wr_end_vec(w, b, 2);
    return 1;
}

/* ---- the empty flags: encrypt_then_mac (RFC 7366), extended_master_secret (RFC 7627) ---- */
static int parse_etm(tls_engine *e, tls_ext_msg msg, tls_rd *body, ext_out *out)
{
    if (!empty_body(body))
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "non-empty encrypt_then_mac");
    if (msg == EXT_IN_CH)
        e->hs->peer_etm = true;
    else
        out->in->etm = true;
    return TLS_OK;
}

static int write_etm(tls_engine *e, tls_ext_msg msg, tls_wr *w)
{
    (void)w;
    return msg == EXT_IN_CH ? e->hs->ch_cbc : e->etm;
}

static int parse_ems(tls_engine *e, tls_ext_msg msg, tls_rd *body, ext_out *out)
{
    if (!empty_body(body))
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "non-empty extended_master_secret");
    if (msg == EXT_IN_CH)
        e->hs->peer_ems = true;
    else
        out->in->ems = true;
    return TLS_OK;
}

static int write_ems(tls_engine *e, tls_ext_msg msg, tls_wr *w)
{
    (void)w;
    return msg == EXT_IN_CH ? 1 : e->ems;
}

/* ---- session_ticket (RFC 5077 3.2) ---- */
static int parse_session_ticket(tls_engine *e, tls_ext_msg msg, tls_rd *body, ext_out *out)
{
    if (msg == EXT_IN_CH) { /* the whole body is the ticket; empty asks for one */
        out->ch->ticket = *body;
        (void)tls_rd_bytes(body, tls_rd_left(body));
        out->ch->has_ticket_ext = true;
        return TLS_OK;
    }
    if (!empty_body(body))
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "non-empty session_ticket in ServerHello");
    out->in->ticket = true;
    return TLS_OK;
}

static int write_session_ticket(tls_engine *e, tls_ext_msg msg, tls_wr *w)
{
    tls_hs *hs = e->hs;
    if (msg != EXT_IN_CH)
        return hs->ticket_expected;
    if (!e->cfg->opts.reuse_sessions || e->connected_once || e->cfg->min_version > TLS_TLS12)
        return 0;
    if (hs->resume_ticket)
        tls_wr_bytes(w, hs->resume.ticket, hs->resume.ticket_len);
    return 1;
}

/* ---- renegotiation_info (RFC 5746) ---- */
static int parse_reneg(tls_engine *e, tls_ext_msg msg, tls_rd *body, ext_out *out)
{
    tls_rd v = tls_rd_vec(body, 1, 0, 255);
    if (body->bad || !tls_rd_done(body))
        return tls_ext_malformed(e, "renegotiation_info");
    if (msg == EXT_IN_CH) {
        out->ch->reneg_ext = v;
        out->ch->has_reneg_ext = true;
        return TLS_OK;
    }
    size_t expect = e->connected_once ? 2 * e->verify_len : 0;
    if (v.len != expect || (expect && (CRYPTO_memcmp(v.p, e->client_verify, e->verify_len) ||
                                       CRYPTO_memcmp(v.p + e->verify_len, e->server_verify, e->verify_len))))
        return FAIL(e, TLS_ALERT_HANDSHAKE_FAILURE, "renegotiation_info does not match (RFC 5746)");
    out->in->reneg = true;
    return TLS_OK;
}

static int write_reneg(tls_engine *e, tls_ext_msg msg, tls_wr *w)
{
    size_t b = tls_wr_begin_vec(w, 1);
    if (msg == EXT_IN_CH) {
        if (e->connected_once)
            tls_wr_bytes(w, e->client_verify, e->verify_len);
    } else {
        if (!e->secure_reneg)
            return 0;
        if (e->connected_once) {
            tls_wr_bytes(w, e->client_verify, e->verify_len);
            tls_wr_bytes(w, e->server_verify, e->verify_len);
        }
    }
    tls_wr_end_vec(w, b, 1);
    return 1;
}

/* The table. Its order is the order we write in; pre_shared_key stays last
 * (RFC 8446 4.2.11). At most 32 rows (hs->ext_offered is a bit set). */
static const ext_row rows[] = {
    {TLS_EXT_SERVER_NAME, "server_name", EXT_IN_CH | EXT_IN_SH | EXT_IN_EE, 0, parse_server_name,
     write_server_name, "client: a host name (not an IP literal); server: empty, if it took the name"},
    {TLS_EXT_SUPPORTED_GROUPS, "supported_groups", EXT_IN_CH | EXT_IN_EE, 0, parse_groups, write_groups,
     "client: when an ECDHE or TLS 1.3 suite is offered"},
    {TLS_EXT_EC_POINT_FORMATS, "ec_point_formats", EXT_IN_CH | EXT_IN_SH, 0, parse_point_formats,
     write_point_formats, "client: with ECDHE suites; server: an ECDHE suite, full handshake"},
    {TLS_EXT_SIGNATURE_ALGORITHMS, "signature_algorithms", EXT_IN_CH | EXT_IN_CR, 0, parse_sigalgs,
     write_sigalgs, "client: TLS 1.2 and up; server: in its TLS 1.3 CertificateRequest"},
    {TLS_EXT_SIGNATURE_ALGORITHMS_CERT, "signature_algorithms_cert", EXT_IN_CH | EXT_IN_CR, 0,
     parse_sigalgs_cert, NULL, "never (our signature_algorithms covers certificates too)"},
    {TLS_EXT_ALPN, "application_layer_protocol_negotiation", EXT_IN_CH | EXT_IN_SH | EXT_IN_EE, 0,
     parse_alpn, write_alpn, "client: protocols configured; server: the protocol chosen"},
    {TLS_EXT_ENCRYPT_THEN_MAC, "encrypt_then_mac", EXT_IN_CH | EXT_IN_SH, 0, parse_etm, write_etm,
     "client: with CBC suites; server: a CBC suite chosen"},
    {TLS_EXT_EXTENDED_MASTER_SECRET, "extended_master_secret", EXT_IN_CH | EXT_IN_SH, 0, parse_ems,
     write_ems, "client: always; server: when used"},
    {TLS_EXT_SESSION_TICKET, "session_ticket", EXT_IN_CH | EXT_IN_SH, 0, parse_session_ticket,
     write_session_ticket, "client: TLS <= 1.2 offered, empty or a stored ticket; server: it issues a ticket"},
    {TLS_EXT_RENEGOTIATION_INFO, "renegotiation_info", EXT_IN_CH | EXT_IN_SH, 0, parse_reneg, write_reneg,
     "client: always (SSL 3.0: the SCSV); server: secure renegotiation (the SCSV counts as an offer)"},
    {TLS_EXT_SUPPORTED_VERSIONS, "supported_versions", EXT_IN_CH | EXT_IN_SH13 | EXT_IN_HRR, 0,
     tls_ext13_parse_versions, tls_ext13_write_versions, "client: when offering TLS 1.3; server: TLS 1.3 chosen"},
    {TLS_EXT_KEY_SHARE, "key_share", EXT_IN_CH | EXT_IN_SH13 | EXT_IN_HRR, 0, tls_ext13_parse_key_share,
     tls_ext13_write_key_share, "client: one share when offering TLS 1.3; server: its share, or the group it wants"},
    {TLS_EXT_COOKIE, "cookie", EXT_IN_CH | EXT_IN_HRR, EXT_IN_HRR, tls_ext13_parse_cookie, tls_ext13_write_cookie,
     "client: echoes a HelloRetryRequest's cookie; server: never"},
    {TLS_EXT_PSK_KEY_EXCHANGE_MODES, "psk_key_exchange_modes", EXT_IN_CH, 0, tls_ext13_parse_psk_modes, tls_ext13_write_psk_modes,
     "client: with a ticket (psk_dhe_ke)"},
    {TLS_EXT_EARLY_DATA, "early_data", EXT_IN_CH | EXT_IN_EE | EXT_IN_NST, 0, tls_ext13_parse_early_data, NULL,
     "never (no 0-RTT)"},
    {TLS_EXT_PRE_SHARED_KEY, "pre_shared_key", EXT_IN_CH | EXT_IN_SH13, 0, tls_ext13_parse_psk, tls_ext13_write_psk,
     "client: a ticket, last; server: the ticket accepted"},
};
#define N_ROWS (sizeof rows / sizeof *rows)
_Static_assert(N_ROWS <= 32, "hs->ext_offered holds 32 rows");

static const ext_row *row_of(uint16_t type)
{
    for (size_t i = 0; i < N_ROWS; i++)
        if (rows[i].type == type)
            return &rows[i];
    return NULL;
}

static uint32_t bit_of(const ext_row *x) { return 1u << (x - rows); }

static const char *msg_name(tls_ext_msg msg)
{
    switch (msg) {
    case EXT_IN_CH: return "ClientHello";
    case EXT_IN_SH:
    case EXT_IN_SH13: return "ServerHello";
    case EXT_IN_HRR: return "HelloRetryRequest";
    case EXT_IN_EE: return "EncryptedExtensions";
    case EXT_IN_CT: return "Certificate";
    case EXT_IN_CR: return "CertificateRequest";
    case EXT_IN_NST: return "NewSessionTicket";
    }
    return "handshake message";
}

static int parse_block(tls_engine *e, tls_ext_msg msg, tls_rd block, ext_out *out)
{
    tls_hs *hs = e->hs;
    bool answer = (msg & ANSWERS) != 0;
    uint32_t seen = 0;
    uint16_t unknown[64];
    size_t n_unknown = 0;
    while (tls_rd_left(&block)) {
        uint16_t type = tls_rd_u16(&block);
        tls_rd body = tls_rd_vec(&block, 2, 0, 0xffff);
        if (block.bad)
            return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed %s extensions", msg_name(msg));
        const ext_row *x = row_of(type);
        bool twice = x && (seen & bit_of(x));
        for (size_t i = 0; !x && i < n_unknown; i++)
            twice |= unknown[i] == type;
        if (twice)
            return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "extension %u twice in %s", type, msg_name(msg));
        if (!x) {
            if (answer)
                return FAIL(e, TLS_ALERT_UNSUPPORTED_EXTENSION, "%s with extension %u we did not offer",
                            msg_name(msg), type);
            if (n_unknown < sizeof unknown / sizeof *unknown)
                unknown[n_unknown++] = type;
            continue; /* unknown extensions are ignored (RFC 5246 7.4.1.4, RFC 8446 4.1.2) */
        }
        seen |= bit_of(x);
        if (!(x->allowed & msg)) {
            if (msg == EXT_IN_CH)
                continue;
            return FAIL(e, msg == EXT_IN_SH ? TLS_ALERT_UNSUPPORTED_EXTENSION : TLS_ALERT_ILLEGAL_PARAMETER,
                        "%s does not belong in %s", x->name, msg_name(msg));
        }
        if (answer && !(hs->ext_offered & bit_of(x)) && !(x->unsolicited & msg))
            return FAIL(e, TLS_ALERT_UNSUPPORTED_EXTENSION, "%s with %s we did not offer", msg_name(msg), x->name);
        if (msg == EXT_IN_CH && type == TLS_EXT_PRE_SHARED_KEY && tls_rd_left(&block))
            return FAIL(e, TLS_ALERT_ILLEGAL_PARAMETER, "pre_shared_key is not the last extension");
        int rc = x->parse(e, msg, &body, out);
        if (rc)
            return rc;
    }
    if (msg == EXT_IN_CH)
        hs->ext_offered = seen;
    return TLS_OK;
}

int tls_ext_parse_client_hello(tls_engine *e, tls_rd block, tls_client_hello *ch)
{
    ch->ecdhe_uncompressed = true;
    e->hs->n_peer_groups = e->hs->n_peer_sigalgs = 0;
    e->hs->peer_sent_groups = e->hs->peer_sent_sigalgs = false;
    e->hs->peer_ems = e->hs->peer_etm = false;
    ext_out out = {ch, NULL};
    int rc = parse_block(e, EXT_IN_CH, block, &out);
    if (rc == TLS_OK && ch->scsv_reneg) /* RFC 5746 3.6: the SCSV asks for the extension */
        e->hs->ext_offered |= bit_of(row_of(TLS_EXT_RENEGOTIATION_INFO));
    return rc;
}

int tls_ext_parse(tls_engine *e, tls_ext_msg msg, tls_rd block, tls_ext_in *in)
{
    ext_out out = {NULL, in};
    memset(in, 0, sizeof *in);
    return parse_block(e, msg, block, &out);
}

int tls_ext_write(tls_engine *e, tls_ext_msg msg, tls_wr *w)
{
    tls_hs *hs = e->hs;
    bool answer = (msg & ANSWERS) != 0;
    uint32_t written = 0;
    size_t block = tls_wr_begin_vec(w, 2);
    for (size_t i = 0; i < N_ROWS; i++) {
        const ext_row *x = &rows[i];
        if (!x->write || !(x->allowed & msg))
            continue;
        if (answer && !(hs->ext_offered & bit_of(x)) && !(x->unsolicited & msg))
            continue; /* a server answers only what the client offered */
        if (msg == EXT_IN_SH && e->version == TLS_SSL3 && x->type != TLS_EXT_RENEGOTIATION_INFO)
            continue; /* SSL 3.0 carries only RFC 5746's extension */
        size_t at = w->len;
        tls_wr_u16(w, x->type);
        size_t body = tls_wr_begin_vec(w, 2);
        int rc = x->write(e, msg, w);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            w->len = at;
            continue;
        }
        tls_wr_end_vec(w, body, 2);
        written |= bit_of(x);
    }
    tls_wr_end_vec(w, block, 2);
    if (msg == EXT_IN_CH)
        hs->ext_offered = written;
    return w->bad ? tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "%s extensions", msg_name(msg))
                  : TLS_OK;
}

/* Whether `block` holds `type` (before the message is parsed: the
 * ServerHello's supported_versions decides which parser reads it). */
bool tls_ext_find(tls_rd block, uint16_t type, tls_rd *body)
{
    while (tls_rd_left(&block)) {
        uint16_t t = tls_rd_u16(&block);
        tls_rd b = tls_rd_vec(&block, 2, 0, 0xffff);
        if (!block.bad && t == type) {
            *body = b;
            return true;
        }
    }
    return false;
}

void tls_ext_mark_offered(tls_hs *hs, uint16_t type)
{
    hs->ext_offered |= bit_of(row_of(type));
}
