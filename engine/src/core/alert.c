/* Received alerts, and the records that carry nothing: a peer must not keep
 * the connection busy with warnings or empty records (CVE-2016-8610, the
 * "SSL death alert"), so such records in a row are counted and a flood ends
 * with unexpected_message, as OpenSSL ends it. */
#include "engine.h"

#include <stdio.h>

bool tls_engine_count_idle(tls_engine *e)
{
    if (++e->idle_records < TLS_MAX_IDLE_RECORDS)
        return true;
    tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_UNEXPECTED_MESSAGE,
                    "%u empty records in a row", e->idle_records);
    return false;
}

void tls_engine_note_progress(tls_engine *e)
{
    e->warn_alerts = 0;
    e->idle_records = 0;
}

/* The peer declined our renegotiation (our ClientHello, or our HelloRequest
 * as a server): the current session goes on. */
static void renegotiation_refused(tls_engine *e, uint8_t desc)
{
    tls_hs_free(e->hs);
    e->hs = NULL;
    e->reneg_requested = false;
    e->status &= ~(unsigned)TLS_ST_HANDSHAKING;
    e->status |= TLS_ST_CONNECTED;
    e->err.code = TLS_E_RENEG_REJECTED;
    e->err.alert = desc;
    snprintf(e->err.detail, sizeof e->err.detail, "the peer refused to renegotiate");
}

void tls_engine_handle_alert(tls_engine *e, const uint8_t *p, size_t len)
{
    if (len == 0) {
        /* RFC 5246 6.2.1, RFC 8446 5.1: no zero-length alert fragments */
        tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_UNEXPECTED_MESSAGE, "empty alert record");
        return;
    }
    if (len != 2) {
        tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_DECODE_ERROR, "alert record of %zu bytes", len);
        return;
    }
    uint8_t level = p[0], desc = p[1];
    if (desc == TLS_ALERT_CLOSE_NOTIFY) {
        e->status |= TLS_ST_PEER_CLOSED;
        if (e->hs && !e->connected_once)
            tls_engine_fail(e, TLS_E_CLOSED, -1, "the peer closed the connection during the handshake");
        return;
    }
    /* RFC 8446 6: in TLS 1.3 every alert but close_notify and user_canceled
     * is an error, whatever level it claims */
    bool warning = e->version == TLS_TLS13 ? desc == TLS_ALERT_USER_CANCELED : level == 1;
    if (!warning) {
        tls_engine_fail(e, TLS_E_ALERT_RECEIVED, desc, "fatal alert from the peer");
        return;
    }
    if (++e->warn_alerts >= TLS_MAX_WARN_ALERTS) {
        tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_UNEXPECTED_MESSAGE,
                        "%u warning alerts in a row", e->warn_alerts);
        return;
    }
    if (desc == TLS_ALERT_NO_RENEGOTIATION && e->connected_once && (e->hs || e->reneg_requested)) {
        renegotiation_refused(e, desc);
        return;
    }
    if (desc == TLS_ALERT_NO_CERTIFICATE && e->server && e->hs && e->version == TLS_SSL3) {
        /* SSL 3.0 clients say "no certificate" with this warning */
        tls_hs_handle(e, TLS_HS_CERTIFICATE, (const uint8_t *)"\0\0\0", 3, NULL, 0);
        return;
    }
    /* other warnings carry nothing we act on */
}
