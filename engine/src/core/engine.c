/* The sans-I/O connection: record framing in and out, dispatch by content
 * type, alerts, and the application-side read/write. The handshake itself is
 * in handshake/ (entered through dispatch.c). */
#include "engine.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IN_CAP (TLS_RECORD_HEADER + TLS_MAX_CIPHERTEXT)

static void process_records(tls_engine *e);
static void apply_eof(tls_engine *e);

int tls_engine_new(tls_config *c, const char *server_name, tls_engine **out, tls_error *err)
{
    tls_err_clear(err);
    if (!c || !out)
        return tls_err_set(err, TLS_E_BADARG, -1, "tls_engine_new: NULL config or result pointer");
    *out = NULL;
    tls_engine *e = calloc(1, sizeof *e);
    if (!e)
        return tls_err_set(err, TLS_E_NOMEM, -1, "tls_engine_new");
    tls_config_ref(c);
    e->cfg = c;
    e->server = c->server;
    tls_err_clear(&e->err);
    e->status = TLS_ST_HANDSHAKING;
    e->hsbuf = tls_wr_dynamic(0);
    e->server_name = e->alpn = "";
    const char *name = server_name && *server_name ? server_name : c->opts.server_name;
    if (!e->server && name && *name) {
        if (strlen(name) > TLS_MAX_SERVER_NAME) {
            tls_engine_free(e);
            return tls_err_set(err, TLS_E_BADARG, -1, "server_name is longer than 255 bytes");
        }
        if (!tls_engine_set_server_name(e, name, strlen(name))) {
            tls_engine_free(e);
            return tls_err_set(err, TLS_E_NOMEM, -1, "server_name");
        }
    }
    /* the first ClientHello goes out in a TLS 1.0 record (what every peer accepts) */
    e->rec_version = c->min_version == TLS_SSL3 && c->max_version == TLS_SSL3 ? TLS_SSL3 : TLS_TLS10;
    e->verify_result = TLS_BAD_CERT_NONE;
    int rc = tls_hs_start(e);
    if (rc != TLS_OK) {
        if (err)
            *err = e->err;
        tls_engine_free(e);
        return rc;
    }
    *out = e;
    return TLS_OK;
}

bool tls_engine_set_server_name(tls_engine *e, const char *name, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy)
        return false;
    memcpy(copy, name, len);
    copy[len] = '\0';
    if (e->server_name[0])
        free((void *)e->server_name);
    e->server_name = copy;
    return true;
}

void tls_engine_free(tls_engine *e)
{
    if (!e)
        return;
    tls_hs_free(e->hs);
    e->hs = NULL;
    tls_rec_clear(&e->rd);
    tls_rec_clear(&e->wr);
    tls_rec_clear(&e->rd_next);
    tls_rec_clear(&e->wr_next);
    if (e->in) {
        OPENSSL_cleanse(e->in, e->in_hwm); /* beyond it the buffer never held anything */
        free(e->in);
    }
    free(e->out);
    free(e->peer_cert);
    if (e->server_name && e->server_name[0])
        free((void *)e->server_name); /* a non-empty name is always our copy */
    tls_wr_free(&e->hsbuf);
    tls_config_free(e->cfg);
    OPENSSL_cleanse(e, sizeof *e); /* master secret, traffic secrets, Finished values */
    free(e);
}

/* A failed engine drops its handshake state (and the secrets in it) before
 * it returns to its caller. tls_engine_fail cannot free it: the handshake
 * itself calls it, and the handshake state is still on the stack there. */
static int settle(tls_engine *e, int rc)
{
    if ((e->status & TLS_ST_FAILED) && e->hs) {
        tls_hs_free(e->hs);
        e->hs = NULL;
    }
    return rc;
}

static void handle_handshake_bytes(tls_engine *e, const uint8_t *p, size_t len)
{
    if (len == 0) {
        tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_UNEXPECTED_MESSAGE, "empty handshake record");
        return;
    }
    tls_wr_bytes(&e->hsbuf, p, len);
    if (e->hsbuf.bad) {
        tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "handshake buffer");
        return;
    }
    size_t off = 0;
    while (!(e->status & TLS_ST_FAILED) && e->hsbuf.len - off >= 4) {
        const uint8_t *m = e->hsbuf.p + off;
        tls_rd hdr = tls_rd_make(m, e->hsbuf.len - off);
        uint8_t mtype = tls_rd_u8(&hdr);
        size_t mlen = tls_rd_u24(&hdr);
        /* a ClientHello may be as long as its header says (large suite and
         * extension lists); nothing else needs more than a long chain */
        bool hello = e->server && mtype == TLS_HS_CLIENT_HELLO;
        if (mlen > (hello ? TLS_MAX_CLIENT_HELLO : TLS_MAX_HS_MSG)) {
            tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_ILLEGAL_PARAMETER,
                            "handshake message type %u of %zu bytes is too long", mtype, mlen);
            break;
        }
        const uint8_t *body = tls_rd_bytes(&hdr, mlen);
        if (!body)
            break;
        off += 4 + mlen;
        unsigned epoch = e->rd_epoch;
        tls_hs_handle(e, mtype, body, mlen, m, 4 + mlen);
        if (epoch != e->rd_epoch && off < e->hsbuf.len && !(e->status & TLS_ST_FAILED))
            /* RFC 8446 5.1: a key change must fall on a record boundary */
            tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_UNEXPECTED_MESSAGE,
                            "handshake data in the same record as a key change");
    }
    if (e->status & TLS_ST_FAILED) {
        e->hsbuf.len = 0;
        return;
    }
    if (off) {
        memmove(e->hsbuf.p, e->hsbuf.p + off, e->hsbuf.len - off);
        e->hsbuf.len -= off;
    }
    if (e->hsbuf.len == 0 && e->hsbuf.cap > 4096 && !e->hs)
        tls_wr_free(&e->hsbuf); /* a long chain came through; do not keep its buffer */
    if (!e->hsbuf.p)
        e->hsbuf = tls_wr_dynamic(0);
}

static void process_records(tls_engine *e)
{
    while (!(e->status & TLS_ST_FAILED) && e->plain_len == 0) {
        size_t avail = e->in_len - e->in_off, v2_used;
        uint8_t *h = e->in + e->in_off;
        tls_v2_result v2 = tls_sslv2_hello(e, h, avail, &v2_used);
        if (v2 == TLS_V2_MORE)
            break;
        if (v2 == TLS_V2_DONE) {
            e->in_off += v2_used;
            continue;
        }
        tls_rd hdr = tls_rd_make(h, avail);
        uint8_t type = tls_rd_u8(&hdr);
        uint16_t ver = tls_rd_u16(&hdr);
        size_t len = tls_rd_u16(&hdr);
        if (hdr.bad)
            break; /* the header is not all here yet */
        if (type < TLS_CT_CCS || type > TLS_CT_APPDATA) {
            tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_UNEXPECTED_MESSAGE,
                            "record of unknown content type %u (is the peer speaking TLS?)", type);
            break;
        }
        uint16_t want_ver = e->version == TLS_TLS13 ? TLS_TLS12 : e->version;
        /* protected records carry the negotiated version (0x0303 in TLS 1.3):
         * checking it makes the header as authentic as the MAC/AAD over it */
        /* a TLS 1.3 peer that failed before it had our keys alerts in plaintext,
         * in whatever record version it had reached */
        bool plain_alert13 = type == TLS_CT_ALERT && e->rd.version == TLS_TLS13 && e->rd.suite &&
                             e->rd.seq == 0 && e->hs && len == 2;
        if ((ver >> 8) != 3 ||
            (e->version && ver != want_ver && (e->connected_once || e->rd.suite) && !plain_alert13)) {
            tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_PROTOCOL_VERSION,
                            "record with version 0x%04x", ver);
            break;
        }
        if (len > TLS_MAX_CIPHERTEXT) {
            tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_RECORD_OVERFLOW,
                            "record of %zu bytes exceeds 2^14+2048", len);
            break;
        }
        if (avail < TLS_RECORD_HEADER + len)
            break;
        e->in_off += TLS_RECORD_HEADER + len;
        e->record_seen = true;
        if (type == TLS_CT_CCS && e->version == TLS_TLS13) {
            /* RFC 8446 5: a compatibility ChangeCipherSpec during the handshake is dropped */
            if (!e->hs || len != 1 || h[TLS_RECORD_HEADER] != 1 || e->hsbuf.len) {
                tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_UNEXPECTED_MESSAGE,
                                "ChangeCipherSpec in TLS 1.3 outside the handshake, malformed or "
                                "inside a handshake message");
                break;
            }
            (void)tls_engine_count_idle(e);
            continue;
        }
        uint8_t *pt = NULL;
        size_t pt_len = 0;
        if (plain_alert13) {
            tls_engine_handle_alert(e, h + TLS_RECORD_HEADER, len);
            continue;
        }
        if (tls_early_data_skip_plain(e, type, len))
            continue;
        int alert = tls_rec_open(&e->rd, type, h + TLS_RECORD_HEADER, len, &pt, &pt_len);
        if (tls_early_data_skip_failed(e, alert, len))
            continue;
        if (alert) {
            tls_engine_fail(e, TLS_E_ALERT_SENT, alert, "cannot open a %s record of %zu bytes",
                            e->rd.suite ? "protected" : "plaintext", len);
            break;
        }
        if (e->rd.version == TLS_TLS13 && e->rd.suite) {
            type = e->rd.inner_type;
            if (type == TLS_CT_CCS || type < TLS_CT_CCS || type > TLS_CT_APPDATA) {
                tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_UNEXPECTED_MESSAGE,
                                "protected record of content type %u", type);
                break;
            }
        }
        if (type == TLS_CT_APPDATA && e->version == TLS_TLS13 && e->hsbuf.len) {
            /* RFC 8446 5.1: nothing between the fragments of a handshake message */
            tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_UNEXPECTED_MESSAGE,
                            "application data inside a handshake message");
            break;
        }
        switch (type) {
        case TLS_CT_CCS:
            /* one byte of value 1; anything else is unexpected_message as
             * RFC 8446 5 has it (RFC 5246 names no alert) */
            if (pt_len != 1 || pt[0] != 1) {
                tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_UNEXPECTED_MESSAGE,
                                "malformed ChangeCipherSpec of %zu bytes", pt_len);
            } else if (e->hsbuf.len) {
                tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_UNEXPECTED_MESSAGE,
                                "ChangeCipherSpec inside a handshake message");
            } else {
                tls_hs_handle_ccs(e);
            }
            break;
        case TLS_CT_ALERT: tls_engine_handle_alert(e, pt, pt_len); break;
        case TLS_CT_HANDSHAKE:
            if (pt_len)
                tls_engine_note_progress(e);
            handle_handshake_bytes(e, pt, pt_len);
            break;
        case TLS_CT_APPDATA:
            if (!e->connected_once || tls_hs_awaiting_finished(e->hs) ||
                (e->status & TLS_ST_PEER_CLOSED)) {
                tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_UNEXPECTED_MESSAGE,
                                "application data before the handshake finished");
                break;
            }
            if (pt_len == 0 && !tls_engine_count_idle(e))
                break;
            if (pt_len)
                tls_engine_note_progress(e);
            e->plain = pt;
            e->plain_len = pt_len;
            break;
        }
    }
    /* no plaintext waits, so no whole record is left: an EOF is final now */
    if (e->eof_pending && e->plain_len == 0)
        apply_eof(e);
    /* keep the buffer's head free for the next record */
    if (e->plain_len == 0 && e->in_off) {
        memmove(e->in, e->in + e->in_off, e->in_len - e->in_off);
        e->in_len -= e->in_off;
        e->in_off = 0;
    }
    settle(e, TLS_OK);
}

int tls_engine_feed(tls_engine *e, const uint8_t *in, size_t len, size_t *consumed)
{
    size_t used = 0;
    if (consumed)
        *consumed = 0;
    if (!e || (!in && len))
        return TLS_E_BADARG;
    if (e->status & TLS_ST_FAILED)
        return e->err.code;
    if (!e->in) {
        e->in = malloc(IN_CAP);
        if (!e->in)
            return tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "input buffer");
        e->in_cap = IN_CAP;
    }
    while (used < len && !(e->status & TLS_ST_FAILED)) {
        if (e->plain_len == 0 && e->in_off)
            process_records(e); /* read() drained the record: reclaim its room */
        size_t room = e->in_cap - e->in_len;
        if (room == 0)
            break; /* plaintext waits for read(): backpressure */
        size_t n = len - used < room ? len - used : room;
        memcpy(e->in + e->in_len, in + used, n);
        e->in_len += n;
        if (e->in_len > e->in_hwm)
            e->in_hwm = e->in_len;
        used += n;
        process_records(e);
    }
    if (consumed)
        *consumed = used;
    return settle(e, (e->status & TLS_ST_FAILED) ? e->err.code : TLS_OK);
}

uint8_t *tls_engine_feed_buffer(tls_engine *e, size_t *room)
{
    *room = 0;
    if (!e || (e->status & TLS_ST_FAILED))
        return NULL;
    if (!e->in) {
        e->in = malloc(IN_CAP);
        if (!e->in) {
            settle(e, tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "input buffer"));
            return NULL;
        }
        e->in_cap = IN_CAP;
    }
    if (e->plain_len == 0 && e->in_off)
        process_records(e); /* the last record was read: reclaim its room */
    *room = e->in_cap - e->in_len;
    return *room ? e->in + e->in_len : NULL; /* none: plaintext waits for read (backpressure) */
}

int tls_engine_feed_commit(tls_engine *e, size_t n)
{
    if (!e || !e->in || n > e->in_cap - e->in_len)
        return TLS_E_BADARG;
    if (e->status & TLS_ST_FAILED)
        return e->err.code;
    e->in_len += n;
    if (e->in_len > e->in_hwm)
        e->in_hwm = e->in_len;
    process_records(e);
    return settle(e, (e->status & TLS_ST_FAILED) ? e->err.code : TLS_OK);
}

/* The transport's EOF: a truncation unless close_notify came before it. */
static void apply_eof(tls_engine *e)
{
    e->eof_pending = false;
    if (e->status & (TLS_ST_PEER_CLOSED | TLS_ST_FAILED))
        return;
    e->status |= TLS_ST_EOF_NO_NOTIFY;
    if (!e->connected_once || e->hs)
        settle(e, tls_engine_fail(e, TLS_E_CLOSED, -1, "the peer closed the connection during the handshake"));
}

void tls_engine_feed_eof(tls_engine *e)
{
    if (!e || (e->status & (TLS_ST_PEER_CLOSED | TLS_ST_FAILED)))
        return;
    /* records fed before the EOF may still wait behind unread plaintext (a
     * close_notify among them): the verdict comes once they are processed */
    e->eof_pending = true;
    if (e->plain_len == 0)
        process_records(e);
}

const uint8_t *tls_engine_output(tls_engine *e, size_t *len)
{
    *len = e ? e->out_len - e->out_off : 0;
    return *len ? e->out + e->out_off : NULL;
}

void tls_engine_output_done(tls_engine *e, size_t n)
{
    if (!e)
        return;
    if (n > e->out_len - e->out_off)
        n = e->out_len - e->out_off;
    e->out_off += n;
    if (e->out_off == e->out_len)
        e->out_off = e->out_len = 0;
}

int tls_engine_write(tls_engine *e, const uint8_t *buf, size_t len, size_t *accepted)
{
    if (accepted)
        *accepted = 0;
    if (!e || (!buf && len))
        return TLS_E_BADARG;
    if (e->status & TLS_ST_FAILED)
        return e->err.code;
    if (e->close_sent)
        return TLS_E_CLOSED;
    if (!e->connected_once)
        return TLS_E_WOULDBLOCK;
    size_t done = 0;
    /* SSL 3.0 / TLS 1.0 CBC chain their IV across records: a 1-byte record
     * first makes the next IV unpredictable to a chosen-plaintext attacker
     * (the 1/n-1 split against BEAST) */
    bool split = e->wr.suite && e->wr.version <= TLS_TLS10 && e->wr.cd->kind == TLS_CIPHER_CBC;
    while (done < len && e->out_len - e->out_off < TLS_OUT_SOFT_LIMIT) {
        size_t n = len - done > TLS_MAX_PLAINTEXT ? TLS_MAX_PLAINTEXT : len - done;
        if (split && n > 1)
            n = done == 0 ? 1 : (n == TLS_MAX_PLAINTEXT ? TLS_MAX_PLAINTEXT - 1 : n);
        if (!tls_engine_send_record(e, TLS_CT_APPDATA, buf + done, n))
            return settle(e, tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "sealing a record"));
        done += n;
    }
    if (accepted)
        *accepted = done;
    return done || !len ? TLS_OK : TLS_E_WOULDBLOCK;
}

int tls_engine_read(tls_engine *e, uint8_t *buf, size_t len, size_t *got)
{
    size_t n = 0;
    if (got)
        *got = 0;
    if (!e || (!buf && len))
        return TLS_E_BADARG;
    while (n < len) {
        if (e->plain_len == 0) {
            process_records(e);
            if (e->plain_len == 0)
                break;
        }
        size_t k = e->plain_len < len - n ? e->plain_len : len - n;
        memcpy(buf + n, e->plain, k);
        OPENSSL_cleanse(e->plain, k);
        e->plain += k;
        e->plain_len -= k;
        n += k;
    }
    if (got)
        *got = n;
    if (n)
        return TLS_OK;
    if (e->status & TLS_ST_FAILED)
        return e->err.code;
    if (e->status & (TLS_ST_PEER_CLOSED | TLS_ST_EOF_NO_NOTIFY))
        return TLS_E_CLOSED;
    return TLS_E_WOULDBLOCK;
}

const uint8_t *tls_engine_peek(tls_engine *e, size_t *len)
{
    *len = 0;
    if (!e)
        return NULL;
    if (e->plain_len == 0)
        process_records(e);
    *len = e->plain_len;
    return *len ? e->plain : NULL;
}

void tls_engine_read_done(tls_engine *e, size_t n)
{
    if (!e)
        return;
    if (n > e->plain_len)
        n = e->plain_len;
    OPENSSL_cleanse(e->plain, n); /* as read() does: plaintext does not linger */
    e->plain += n;
    e->plain_len -= n;
}

void tls_engine_trim(tls_engine *e)
{
    if (!e)
        return;
    if (e->in && e->in_len == e->in_off && e->plain_len == 0) {
        free(e->in); /* empty: nothing secret left in it (read() wipes plaintext) */
        e->in = NULL;
        e->in_cap = e->in_off = e->in_len = e->in_hwm = 0;
    }
    if (e->out && e->out_len == e->out_off) {
        free(e->out);
        e->out = NULL;
        e->out_cap = e->out_len = e->out_off = 0;
    }
    if (e->hsbuf.len == 0)
        tls_wr_free(&e->hsbuf);
}

int tls_engine_close_write(tls_engine *e)
{
    if (!e)
        return TLS_E_BADARG;
    if (e->close_sent || (e->status & TLS_ST_FAILED))
        return TLS_OK;
    e->close_sent = true;
    e->status |= TLS_ST_WRITE_CLOSED;
    if (!tls_engine_send_alert(e, 1, TLS_ALERT_CLOSE_NOTIFY))
        return TLS_E_NOMEM;
    return TLS_OK;
}

int tls_engine_renegotiate(tls_engine *e)
{
    if (!e)
        return TLS_E_BADARG;
    if (e->status & TLS_ST_FAILED)
        return e->err.code;
    if (!e->connected_once || e->hs || e->close_sent)
        return TLS_E_STATE;
    if (e->version >= TLS_TLS13)
        return settle(e, tls_hs_key_update(e, true)); /* TLS 1.3 has no renegotiation: new keys */
    e->reneg_requested = true;
    if (e->err.code == TLS_E_RENEG_REJECTED)
        tls_err_clear(&e->err);
    if (e->server) {
        /* HelloRequest: not part of any transcript (RFC 5246 7.4.1.1) */
        static const uint8_t hello_request[4] = {TLS_HS_HELLO_REQUEST, 0, 0, 0};
        return tls_engine_send_record(e, TLS_CT_HANDSHAKE, hello_request, 4) ? TLS_OK : TLS_E_NOMEM;
    }
    return settle(e, tls_hs_start(e));
}

unsigned tls_engine_status(const tls_engine *e)
{
    if (!e)
        return TLS_ST_FAILED;
    unsigned s = e->status;
    if (e->out_len > e->out_off)
        s |= TLS_ST_WANT_OUTPUT;
    if (e->plain_len)
        s |= TLS_ST_CAN_READ;
    if (e->connected_once && !(s & TLS_ST_FAILED) && !e->close_sent &&
        e->out_len - e->out_off < TLS_OUT_SOFT_LIMIT)
        s |= TLS_ST_CAN_WRITE;
    if (e->reneg_requested)
        s |= TLS_ST_RENEGOTIATING;
    return s;
}

const tls_error *tls_engine_error(const tls_engine *e) { return e ? &e->err : NULL; }
uint16_t tls_engine_version(const tls_engine *e) { return e ? e->version : 0; }
const tls_suite_info *tls_engine_suite(const tls_engine *e)
{
    return e && e->suite ? &e->suite->info : NULL;
}
int tls_engine_peercert(const tls_engine *e, const uint8_t **der, size_t *len)
{
    if (!e || !e->peer_cert)
        return TLS_E_STATE;
    *der = e->peer_cert;
    *len = e->peer_cert_len;
    return TLS_OK;
}
const char *tls_engine_alpn(const tls_engine *e) { return e && e->alpn[0] ? e->alpn : NULL; }
const char *tls_engine_sni(const tls_engine *e)
{
    return e && e->server_name[0] ? e->server_name : NULL;
}
bool tls_engine_session_reused(const tls_engine *e) { return e && e->reused; }
tls_bad_cert tls_engine_verify_result(const tls_engine *e)
{
    return e ? e->verify_result : TLS_BAD_CERT_NONE;
}
