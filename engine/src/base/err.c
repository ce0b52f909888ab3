#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int tls_err_set(tls_error *err, int code, int alert, const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    err->alert = alert;
    if (code != TLS_E_BAD_CERT)
        err->bad_cert = TLS_BAD_CERT_NONE;
    if (code == TLS_E_SYSCALL)
        err->sys_errno = errno;
    err->detail[0] = '\0';
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->detail, sizeof err->detail, fmt, ap);
        va_end(ap);
    }
    return code;
}

void tls_err_clear(tls_error *err)
{
    if (err) {
        memset(err, 0, sizeof *err);
        err->alert = -1;
    }
}

const char *tls_alert_name(int alert)
{
    switch (alert) {
    case TLS_ALERT_CLOSE_NOTIFY: return "close_notify";
    case TLS_ALERT_UNEXPECTED_MESSAGE: return "unexpected_message";
    case TLS_ALERT_BAD_RECORD_MAC: return "bad_record_mac";
    case TLS_ALERT_DECRYPTION_FAILED: return "decryption_failed";
    case TLS_ALERT_RECORD_OVERFLOW: return "record_overflow";
    case TLS_ALERT_DECOMPRESSION_FAILURE: return "decompression_failure";
    case TLS_ALERT_HANDSHAKE_FAILURE: return "handshake_failure";
    case TLS_ALERT_NO_CERTIFICATE: return "no_certificate";
    case TLS_ALERT_BAD_CERTIFICATE: return "bad_certificate";
    case TLS_ALERT_UNSUPPORTED_CERTIFICATE: return "unsupported_certificate";
    case TLS_ALERT_CERTIFICATE_REVOKED: return "certificate_revoked";
    case TLS_ALERT_CERTIFICATE_EXPIRED: return "certificate_expired";
    case TLS_ALERT_CERTIFICATE_UNKNOWN: return "certificate_unknown";
    case TLS_ALERT_ILLEGAL_PARAMETER: return "illegal_parameter";
    case TLS_ALERT_UNKNOWN_CA: return "unknown_ca";
    case TLS_ALERT_ACCESS_DENIED: return "access_denied";
    case TLS_ALERT_DECODE_ERROR: return "decode_error";
    case TLS_ALERT_DECRYPT_ERROR: return "decrypt_error";
    case TLS_ALERT_PROTOCOL_VERSION: return "protocol_version";
    case TLS_ALERT_INSUFFICIENT_SECURITY: return "insufficient_security";
    case TLS_ALERT_INTERNAL_ERROR: return "internal_error";
    case TLS_ALERT_INAPPROPRIATE_FALLBACK: return "inappropriate_fallback";
    case TLS_ALERT_USER_CANCELED: return "user_canceled";
    case TLS_ALERT_NO_RENEGOTIATION: return "no_renegotiation";
    case TLS_ALERT_MISSING_EXTENSION: return "missing_extension";
    case TLS_ALERT_UNSUPPORTED_EXTENSION: return "unsupported_extension";
    case TLS_ALERT_UNRECOGNIZED_NAME: return "unrecognized_name";
    case TLS_ALERT_BAD_CERTIFICATE_STATUS_RESPONSE: return "bad_certificate_status_response";
    case TLS_ALERT_UNKNOWN_PSK_IDENTITY: return "unknown_psk_identity";
    case TLS_ALERT_CERTIFICATE_REQUIRED: return "certificate_required";
    case TLS_ALERT_NO_APPLICATION_PROTOCOL: return "no_application_protocol";
    default: return "unknown_alert";
    }
}

const char *tls_bad_cert_name(tls_bad_cert r)
{
    switch (r) {
    case TLS_BAD_CERT_NONE: return "none";
    case TLS_BAD_CERT_CERT_EXPIRED: return "cert_expired";
    case TLS_BAD_CERT_INVALID_ISSUER: return "invalid_issuer";
    case TLS_BAD_CERT_INVALID_SIGNATURE: return "invalid_signature";
    case TLS_BAD_CERT_UNKNOWN_CA: return "unknown_ca";
    case TLS_BAD_CERT_NAME_NOT_PERMITTED: return "name_not_permitted";
    case TLS_BAD_CERT_MISSING_BASIC_CONSTRAINT: return "missing_basic_constraint";
    case TLS_BAD_CERT_INVALID_KEY_USAGE: return "invalid_key_usage";
    case TLS_BAD_CERT_HOSTNAME_CHECK_FAILED: return "hostname_check_failed";
    case TLS_BAD_CERT_MAX_PATH_LENGTH: return "max_path_length_reached";
    case TLS_BAD_CERT_NO_PEER_CERT: return "no_peer_cert";
    case TLS_BAD_CERT_USER: return "user_rejected";
    case TLS_BAD_CERT_UNKNOWN_CRITICAL_EXTENSION: return "unknown_critical_extension";
    case TLS_BAD_CERT_SECURITY_LEVEL: return "security_level";
    }
    return "unknown";
}

int tls_bad_cert_alert(tls_bad_cert r, uint16_t version)
{
    switch (r) {
    case TLS_BAD_CERT_CERT_EXPIRED: return TLS_ALERT_CERTIFICATE_EXPIRED;
    case TLS_BAD_CERT_UNKNOWN_CA:
    case TLS_BAD_CERT_MAX_PATH_LENGTH: return TLS_ALERT_UNKNOWN_CA;
    case TLS_BAD_CERT_INVALID_KEY_USAGE:
    case TLS_BAD_CERT_UNKNOWN_CRITICAL_EXTENSION: return TLS_ALERT_UNSUPPORTED_CERTIFICATE;
    case TLS_BAD_CERT_NO_PEER_CERT:
        if (version == TLS_SSL3)
            return TLS_ALERT_NO_CERTIFICATE;
        return version >= TLS_TLS13 ? TLS_ALERT_CERTIFICATE_REQUIRED : TLS_ALERT_HANDSHAKE_FAILURE;
    case TLS_BAD_CERT_USER: return TLS_ALERT_CERTIFICATE_UNKNOWN;
    default: return TLS_ALERT_BAD_CERTIFICATE;
    }
}

const char *tls_format_error(const tls_error *e, char *buf, size_t len)
{
    if (!buf || !len)
        return "";
    if (!e) {
        snprintf(buf, len, "no error");
        return buf;
    }
    const char *d = e->detail[0] ? e->detail : NULL;
    switch (e->code) {
    case TLS_OK: snprintf(buf, len, "no error"); break;
    case TLS_E_CLOSED: snprintf(buf, len, "the connection is closed%s%s", d ? ": " : "", d ? d : ""); break;
    case TLS_E_TIMEOUT: snprintf(buf, len, "timed out%s%s", d ? ": " : "", d ? d : ""); break;
    case TLS_E_BADARG: snprintf(buf, len, "invalid argument: %s", d ? d : "?"); break;
    case TLS_E_NOMEM: snprintf(buf, len, "out of memory%s%s", d ? ": " : "", d ? d : ""); break;
    case TLS_E_SYSCALL:
        snprintf(buf, len, "transport error: %s%s%s", strerror(e->sys_errno), d ? " in " : "", d ? d : "");
        break;
    case TLS_E_CONFIG: snprintf(buf, len, "bad option: %s", d ? d : "?"); break;
    case TLS_E_ALERT_SENT:
        snprintf(buf, len, "TLS handshake failed: %s (sent alert %s)", d ? d : "protocol error",
                 tls_alert_name(e->alert));
        break;
    case TLS_E_ALERT_RECEIVED:
        snprintf(buf, len, "the peer sent alert %s%s%s", tls_alert_name(e->alert), d ? ": " : "", d ? d : "");
        break;
    case TLS_E_BAD_CERT:
        snprintf(buf, len, "certificate verification failed: {bad_cert, %s}%s%s",
                 tls_bad_cert_name(e->bad_cert), d ? ": " : "", d ? d : "");
        break;
    case TLS_E_RENEG_REJECTED: snprintf(buf, len, "renegotiation_rejected"); break;
    case TLS_E_WOULDBLOCK: snprintf(buf, len, "operation would block"); break;
    case TLS_E_MSGSIZE: snprintf(buf, len, "message too large (emsgsize)%s%s", d ? ": " : "", d ? d : ""); break;
    case TLS_E_STATE: snprintf(buf, len, "not valid in this state%s%s", d ? ": " : "", d ? d : ""); break;
    default: snprintf(buf, len, "internal error%s%s", d ? ": " : "", d ? d : ""); break;
    }
    return buf;
}
