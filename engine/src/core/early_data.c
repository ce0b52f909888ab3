/* TLS 1.3 early data that the server does not accept (RFC 8446 4.2.10).
 *
 * The client sends its 0-RTT records right behind the ClientHello, before it
 * knows our answer. Without a HelloRetryRequest they are protected under
 * keys we never derive: every record that fails to open under the client's
 * handshake key is skipped, until one opens. After a HelloRetryRequest the
 * client sends no early data with its second ClientHello: every
 * application_data record before that hello is skipped. Either way at most
 * TLS_MAX_EARLY_DATA bytes (OpenSSL's default max_early_data); more ends the
 * connection with unexpected_message (RFC 8446 4.6.1). */
#include "engine.h"

void tls_engine_reject_early_data(tls_engine *e)
{
    e->skip_early_data = true;
    e->early_skipped = 0;
}

/* The plaintext a record of len protected bytes can carry at most: its AEAD
 * tag (16 bytes for every TLS 1.3 suite but CCM_8) and inner content type
 * are not data. Every record counts at least 1, so a flood of tiny records
 * ends too. */
static bool skip(tls_engine *e, size_t len)
{
    size_t n = len > 17 ? len - 17 : 1;
    if (n > TLS_MAX_EARLY_DATA - e->early_skipped) {
        tls_engine_fail(e, TLS_E_ALERT_SENT, TLS_ALERT_UNEXPECTED_MESSAGE,
                        "more than %d bytes of early data", TLS_MAX_EARLY_DATA);
        return true;
    }
    e->early_skipped += n;
    return true;
}

bool tls_early_data_skip_plain(tls_engine *e, uint8_t type, size_t len)
{
    if (!e->skip_early_data || e->rd.suite)
        return false;
    if (e->version != TLS_TLS13 || type == TLS_CT_HANDSHAKE) {
        e->skip_early_data = false; /* the second ClientHello: no early data after it */
        return false;
    }
    return type == TLS_CT_APPDATA && skip(e, len);
}

bool tls_early_data_skip_failed(tls_engine *e, int alert, size_t len)
{
    if (!e->skip_early_data)
        return false;
    if (!alert) {
        e->skip_early_data = false; /* the client's second flight has begun */
        return false;
    }
    return alert == TLS_ALERT_BAD_RECORD_MAC && e->rd.version == TLS_TLS13 && skip(e, len);
}
