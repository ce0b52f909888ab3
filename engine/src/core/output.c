/* The engine's outgoing side: records sealed into out[], alerts, and the
 * one way to fail. Every layer above core calls these and they call nothing
 * above core/record, so the handshake never calls back into engine.c. */
#include "engine.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool out_reserve(tls_engine *e, size_t need)
{
    if (e->out_off && e->out_off == e->out_len)
        e->out_off = e->out_len = 0;
    if (e->out_cap - e->out_len >= need)
        return true;
    if (e->out_off) { /* reclaim sent bytes before growing */
        memmove(e->out, e->out + e->out_off, e->out_len - e->out_off);
        e->out_len -= e->out_off;
        e->out_off = 0;
        if (e->out_cap - e->out_len >= need)
            return true;
    }
    size_t cap = e->out_cap ? e->out_cap : 2 * (TLS_RECORD_HEADER + TLS_MAX_PLAINTEXT + 512);
    while (cap - e->out_len < need)
        cap *= 2;
    uint8_t *p = realloc(e->out, cap);
    if (!p)
        return false;
    e->out = p;
    e->out_cap = cap;
    return true;
}

bool tls_engine_send_record(tls_engine *e, uint8_t type, const uint8_t *data, size_t len)
{
    while (true) {
        size_t n = len > TLS_MAX_PLAINTEXT ? TLS_MAX_PLAINTEXT : len;
        size_t need = TLS_RECORD_HEADER + n + tls_rec_overhead(&e->wr);
        if (!out_reserve(e, need))
            return false;
        size_t w = 0;
        if (!tls_rec_seal(&e->wr, type, e->rec_version, data, n, e->out + e->out_len,
                          e->out_cap - e->out_len, &w))
            return false;
        e->out_len += w;
        data += n;
        len -= n;
        if (!len)
            return true;
    }
}

bool tls_engine_send_alert(tls_engine *e, uint8_t level, uint8_t desc)
{
    uint8_t a[2] = {level, desc};
    return tls_engine_send_record(e, TLS_CT_ALERT, a, 2);
}

static void engine_mark_failed(tls_engine *e)
{
    e->status |= TLS_ST_FAILED;
    e->status &= ~(unsigned)(TLS_ST_HANDSHAKING | TLS_ST_CONNECTED);
    /* a fatal alert ends the session: it must not be resumed (RFC 5246 7.2.2) */
    if (e->session_id_len)
        tls_cache_remove(&e->cfg->cache, e->session_id, e->session_id_len);
    e->plain_len = 0; /* the handshake state goes when control leaves the engine (settle) */
}

int tls_engine_fail(tls_engine *e, int code, int alert, const char *fmt, ...)
{
    if (e->status & TLS_ST_FAILED)
        return e->err.code;
    e->err.code = code;
    e->err.alert = alert;
    e->err.detail[0] = '\0';
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->err.detail, sizeof e->err.detail, fmt, ap);
        va_end(ap);
    }
    if (alert >= 0 && code != TLS_E_ALERT_RECEIVED && !e->close_sent)
        (void)tls_engine_send_alert(e, 2, (uint8_t)alert);
    engine_mark_failed(e);
    return code;
}

int tls_engine_fail_err(tls_engine *e, const tls_error *err)
{
    if (e->status & TLS_ST_FAILED)
        return e->err.code;
    e->err = *err;
    if (err->alert >= 0 && err->code != TLS_E_ALERT_RECEIVED && !e->close_sent)
        (void)tls_engine_send_alert(e, 2, (uint8_t)err->alert);
    engine_mark_failed(e);
    return err->code;
}

/* Complete handshake messages out of the reassembly buffer. */
