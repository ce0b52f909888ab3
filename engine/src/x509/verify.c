/* Peer chain validation with libcrypto's X509 store, reported through the
 * Erlang/OTP ssl module's verify_fun events.
 *
 * Validation runs in two passes. libcrypto builds and checks the chain while
 * our callback only records every error (and tells libcrypto to go on), so
 * the whole chain is examined. Then the recorded events are replayed to the
 * verify fun in the reference's order: trust anchor first, peer last, each
 * certificate's problems before its `valid` / `valid_peer` event. The first
 * TLS_VF_FAIL ends validation. */
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert.h"
#include "err.h"

/* ---- the reference's default verify funs ------------------------------------ */

tls_verify_result tls_verify_fun_default_peer(const uint8_t *der, size_t len, int depth,
                                              const tls_verify_event *ev, void *state,
                                              tls_bad_cert *fail_reason)
{
    (void)der, (void)len, (void)depth, (void)state;
    switch (ev->kind) {
    case TLS_EVENT_BAD_CERT:
        *fail_reason = ev->reason;
        return TLS_VF_FAIL;
    case TLS_EVENT_EXTENSION: return TLS_VF_UNKNOWN;
    case TLS_EVENT_VALID:
    case TLS_EVENT_VALID_PEER: return TLS_VF_VALID;
    }
    return TLS_VF_FAIL;
}

/* As the peer's default, except that an unknown CA is accepted. */
tls_verify_result tls_verify_fun_default_none(const uint8_t *der, size_t len, int depth,
                                              const tls_verify_event *ev, void *state,
                                              tls_bad_cert *fail_reason)
{
    if (ev->kind == TLS_EVENT_BAD_CERT && ev->reason == TLS_BAD_CERT_UNKNOWN_CA)
        return TLS_VF_VALID;
    return tls_verify_fun_default_peer(der, len, depth, ev, state, fail_reason);
}

/* ---- chain validation ------------------------------------------------------- */

#define VT_MAX_EVENTS 64
#define BUILD_DEPTH 100 /* libcrypto's default limit: bounds the work on absurd chains */
#define VT_EXTENSION TLS_BAD_CERT_NONE /* recorded marker: unhandled critical extension */

typedef struct vt_event {
    int depth;
    int xerr;            /* libcrypto's X509_V_ERR_* (0 for our own checks) */
    tls_bad_cert reason; /* VT_EXTENSION: scan the certificate's extensions */
} vt_event;

typedef struct vt_state {
    vt_event ev[VT_MAX_EVENTS];
    size_t n;
    bool overflow;
} vt_state;

/* libcrypto's verification errors as the reference's bad_cert reasons. */
static tls_bad_cert map_x509_error(int e)
{
    switch (e) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
    case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
        return TLS_BAD_CERT_CERT_EXPIRED;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_UNTRUSTED:
    case X509_V_ERR_CERT_REJECTED:
        return TLS_BAD_CERT_UNKNOWN_CA;
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
    case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
        return TLS_BAD_CERT_INVALID_SIGNATURE;
    case X509_V_ERR_SUBJECT_ISSUER_MISMATCH:
    case X509_V_ERR_AKID_SKID_MISMATCH:
    case X509_V_ERR_AKID_ISSUER_SERIAL_MISMATCH:
        return TLS_BAD_CERT_INVALID_ISSUER;
    case X509_V_ERR_INVALID_CA:
        return TLS_BAD_CERT_MISSING_BASIC_CONSTRAINT;
    case X509_V_ERR_INVALID_PURPOSE:
    case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
    case X509_V_ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE:
        return TLS_BAD_CERT_INVALID_KEY_USAGE;
    case X509_V_ERR_PERMITTED_VIOLATION:
    case X509_V_ERR_EXCLUDED_VIOLATION:
    case X509_V_ERR_SUBTREE_MINMAX:
    case X509_V_ERR_UNSUPPORTED_CONSTRAINT_TYPE:
    case X509_V_ERR_UNSUPPORTED_CONSTRAINT_SYNTAX:
    case X509_V_ERR_UNSUPPORTED_NAME_SYNTAX:
        return TLS_BAD_CERT_NAME_NOT_PERMITTED;
    case X509_V_ERR_CERT_CHAIN_TOO_LONG:
    case X509_V_ERR_PATH_LENGTH_EXCEEDED:
        return TLS_BAD_CERT_MAX_PATH_LENGTH;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        return TLS_BAD_CERT_HOSTNAME_CHECK_FAILED;
    case X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION:
        return VT_EXTENSION;
    case X509_V_ERR_EE_KEY_TOO_SMALL:
    case X509_V_ERR_CA_KEY_TOO_SMALL:
    case X509_V_ERR_CA_MD_TOO_WEAK:
        return TLS_BAD_CERT_SECURITY_LEVEL;
    default:
        /* anything else is still a bad certificate: fail closed */
        return TLS_BAD_CERT_INVALID_ISSUER;
    }
}

static void vt_add(vt_state *st, int depth, int xerr, tls_bad_cert reason)
{
    for (size_t i = 0; i < st->n; i++)
        if (st->ev[i].depth == depth && st->ev[i].reason == reason)
            return; /* libcrypto may report one problem more than once */
    if (st->n == VT_MAX_EVENTS) {
        st->overflow = true;
        return;
    }
    st->ev[st->n++] = (vt_event){depth, xerr, reason};
}

/* signature checks misnamed_issuer may make: a peer could send many
 * certificates that all carry the key identifier it names */
#define MISNAMED_MAX_TRIES 4

/* Whether x's authority key identifier names c and c's key signed x; a
 * signature check counts against *tries. */
static bool signed_by(X509 *x, X509 *c, const ASN1_OCTET_STRING *akid, int *tries)
{
    const ASN1_OCTET_STRING *skid = c && c != x ? X509_get0_subject_key_id(c) : NULL;
    EVP_PKEY *key = skid ? X509_get0_pubkey(c) : NULL;
    if (!key || ASN1_OCTET_STRING_cmp(akid, skid) != 0 || *tries >= MISNAMED_MAX_TRIES)
        return false;
    ++*tries;
    bool yes = X509_verify(x, key) == 1;
    ERR_clear_error();
    return yes;
}

/* libcrypto found no certificate whose subject is x's issuer name. When x's
 * authority key identifier names a certificate we hold (in the peer's chain
 * or the trust store) whose key did sign x, the issuer is known and x names
 * it wrongly: the reference then validates a path whose issuer names do not
 * chain, invalid_issuer, not an unknown CA. At most the certificates with
 * that key identifier are tried, so a peer cannot make us verify many. */
static bool misnamed_issuer(X509_STORE_CTX *ctx, X509 *x)
{
    const ASN1_OCTET_STRING *akid = x ? X509_get0_authority_key_id(x) : NULL;
    if (!akid)
        return false;
    int tries = 0;
    STACK_OF(X509) *untrusted = X509_STORE_CTX_get0_untrusted(ctx);
    for (int i = 0; i < sk_X509_num(untrusted); i++)
        if (signed_by(x, sk_X509_value(untrusted, i), akid, &tries))
            return true;
    X509_STORE *store = X509_STORE_CTX_get0_store(ctx);
    if (!store)
        return false;
    bool found = false;
#if OPENSSL_VERSION_NUMBER >= 0x30300000L
    /* get0_objects is deprecated from 3.3: a copy, taken under the store's lock */
    STACK_OF(X509_OBJECT) *objs = X509_STORE_get1_objects(store);
    for (int i = 0; i < sk_X509_OBJECT_num(objs) && !found; i++)
        found = signed_by(x, X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i)), akid, &tries);
    sk_X509_OBJECT_pop_free(objs, X509_OBJECT_free);
#else
    if (!X509_STORE_lock(store))
        return false;
    STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(store);
    for (int i = 0; i < sk_X509_OBJECT_num(objs) && !found; i++)
        found = signed_by(x, X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i)), akid, &tries);
    X509_STORE_unlock(store);
#endif
    return found;
}

/* Records each error and lets libcrypto go on: the replay decides. */
static int verify_cb(int ok, X509_STORE_CTX *ctx)
{
    vt_state *st = X509_STORE_CTX_get_app_data(ctx);
    if (ok || !st)
        return ok;
    int e = X509_STORE_CTX_get_error(ctx);
    if ((e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT || e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
         e == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE) &&
        misnamed_issuer(ctx, X509_STORE_CTX_get_current_cert(ctx)))
        e = X509_V_ERR_SUBJECT_ISSUER_MISMATCH;
    vt_add(st, X509_STORE_CTX_get_error_depth(ctx), e, map_x509_error(e));
    return 1;
}

static const char *reason_phrase(tls_bad_cert r, int xerr)
{
    switch (r) {
    case TLS_BAD_CERT_CERT_EXPIRED:
        return xerr == X509_V_ERR_CERT_NOT_YET_VALID ? "is not yet valid" : "has expired";
    case TLS_BAD_CERT_UNKNOWN_CA:
        return xerr == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT || xerr == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN
                   ? "is self-signed and not trusted"
                   : "is not issued by a trusted CA";
    case TLS_BAD_CERT_INVALID_SIGNATURE: return "has an invalid signature";
    case TLS_BAD_CERT_INVALID_ISSUER: return "has an invalid issuer";
    case TLS_BAD_CERT_NAME_NOT_PERMITTED: return "has a name its issuer may not certify";
    case TLS_BAD_CERT_MISSING_BASIC_CONSTRAINT: return "acts as a CA without basicConstraints CA:true";
    case TLS_BAD_CERT_INVALID_KEY_USAGE: return "is not allowed for this use (keyUsage / extendedKeyUsage)";
    case TLS_BAD_CERT_HOSTNAME_CHECK_FAILED: return "does not match the host name";
    case TLS_BAD_CERT_MAX_PATH_LENGTH: return "is beyond the allowed chain depth";
    case TLS_BAD_CERT_USER: return "was rejected by the verify fun";
    case TLS_BAD_CERT_UNKNOWN_CRITICAL_EXTENSION: return "has an unhandled critical extension";
    case TLS_BAD_CERT_SECURITY_LEVEL: return "is too weak for the security level";
    default: return "is not acceptable";
    }
}

static int fail_at(tls_error *err, X509 *x, int depth, tls_bad_cert reason, const char *phrase,
                   const char *extra)
{
    char subj[96];
    tls_x509_subject(x, subj, sizeof subj);
    int rc = tls_err_set(err, TLS_E_BAD_CERT, tls_bad_cert_alert(reason, TLS_TLS12),
                         "certificate '%s' (depth %d) %s%s", subj, depth, phrase, extra ? extra : "");
    if (err)
        err->bad_cert = reason;
    return rc;
}

static bool hostname_ok(X509 *leaf, const char *name)
{
    char ip[INET6_ADDRSTRLEN + 2];
    size_t n = strlen(name);
    /* "[::1]" as written in URLs */
    if (n > 2 && name[0] == '[' && name[n - 1] == ']' && n - 2 < sizeof ip) {
        memcpy(ip, name + 1, n - 2);
        ip[n - 2] = '\0';
        name = ip;
    }
    unsigned char addr[16];
    int r;
    if (inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1)
        r = X509_check_ip_asc(leaf, name, 0);
    else
        r = X509_check_host(leaf, name, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL);
    ERR_clear_error();
    return r == 1;
}

typedef struct replay {
    const tls_verify_ctx *vc;
    tls_verify_fun fun;
    tls_error *err;
    int security_level; /* libcrypto's auth level of this validation */
} replay;

/* What is wrong with x, as the end of "certificate 'CN=..' (depth N) ...". */
static void bad_cert_phrase(const replay *rp, X509 *x, tls_bad_cert reason, int xerr, char *buf, size_t len)
{
    switch (reason) {
    case TLS_BAD_CERT_HOSTNAME_CHECK_FAILED:
        snprintf(buf, len, "%s '%.100s'", reason_phrase(reason, xerr), rp->vc->hostname);
        return;
    case TLS_BAD_CERT_MAX_PATH_LENGTH:
        snprintf(buf, len, "%s %d", reason_phrase(reason, xerr), rp->vc->depth);
        return;
    case TLS_BAD_CERT_INVALID_ISSUER:
        if (xerr == X509_V_ERR_SUBJECT_ISSUER_MISMATCH) {
            char issuer[96];
            tls_x509_issuer(x, issuer, sizeof issuer);
            snprintf(buf, len, "%s: '%s' is not the name of the CA that signed it", reason_phrase(reason, xerr),
                     issuer);
            return;
        }
        break;
    case TLS_BAD_CERT_SECURITY_LEVEL: {
        bool sig = xerr == X509_V_ERR_CA_MD_TOO_WEAK;
        if (tls_x509_too_weak(x, rp->security_level, !sig, sig, buf, len))
            return;
        snprintf(buf, len, "%s (%d)", reason_phrase(reason, xerr), rp->security_level);
        return;
    }
    default: break;
    }
    snprintf(buf, len, "%s", reason_phrase(reason, xerr));
}

/* Calls the fun for one event; returns TLS_OK to go on or the failure. */
static int deliver(replay *rp, X509 *x, const uint8_t *der, size_t der_len, int depth,
                   const tls_verify_event *ev, int xerr)
{
    tls_bad_cert why = TLS_BAD_CERT_NONE;
    tls_verify_result r = rp->fun(der, der_len, depth, ev, rp->vc->fun_state, &why);
    if (r == TLS_VF_VALID)
        return TLS_OK;
    if (r == TLS_VF_UNKNOWN) {
        /* unknown is fine for a problem the fun does not judge, but an
         * unrecognised critical extension must be understood by someone */
        if (ev->kind != TLS_EVENT_EXTENSION)
            return TLS_OK;
        char extra[120];
        snprintf(extra, sizeof extra, " %s", ev->ext_oid);
        return fail_at(rp->err, x, depth, TLS_BAD_CERT_UNKNOWN_CRITICAL_EXTENSION,
                       "has an unhandled critical extension", extra);
    }
    if (r != TLS_VF_FAIL)
        return fail_at(rp->err, x, depth, TLS_BAD_CERT_USER, "was rejected: the verify fun returned garbage",
                       NULL);
    if (ev->kind == TLS_EVENT_BAD_CERT) {
        if (why == TLS_BAD_CERT_NONE || why == ev->reason) {
            char phrase[200];
            bad_cert_phrase(rp, x, ev->reason, xerr, phrase, sizeof phrase);
            return fail_at(rp->err, x, depth, ev->reason, phrase, NULL);
        }
    } else if (ev->kind == TLS_EVENT_EXTENSION) {
        char extra[120];
        snprintf(extra, sizeof extra, " (critical extension %s)", ev->ext_oid);
        return fail_at(rp->err, x, depth, why == TLS_BAD_CERT_NONE ? TLS_BAD_CERT_USER : why,
                       "was rejected by the verify fun", extra);
    }
    if (why == TLS_BAD_CERT_NONE)
        why = TLS_BAD_CERT_USER;
    char extra[64];
    snprintf(extra, sizeof extra, " (%s)", tls_bad_cert_name(why));
    return fail_at(rp->err, x, depth, why, "was rejected by the verify fun", extra);
}

/* Extension events for every critical extension libcrypto does not handle. */
static int deliver_extensions(replay *rp, X509 *x, const uint8_t *der, size_t der_len, int depth,
                              bool *any)
{
    for (int i = 0; i < X509_get_ext_count(x); i++) {
        X509_EXTENSION *ext = X509_get_ext(x, i);
        if (!X509_EXTENSION_get_critical(ext) || X509_supported_extension(ext))
            continue;
        char oid[80];
        if (OBJ_obj2txt(oid, sizeof oid, X509_EXTENSION_get_object(ext), 1) <= 0)
            snprintf(oid, sizeof oid, "?");
        const ASN1_OCTET_STRING *val = X509_EXTENSION_get_data(ext);
        tls_verify_event ev = {.kind = TLS_EVENT_EXTENSION,
                               .ext_oid = oid,
                               .ext_critical = true,
                               .ext_der = ASN1_STRING_get0_data(val),
                               .ext_len = (size_t)ASN1_STRING_length(val)};
        *any = true;
        int rc = deliver(rp, x, der, der_len, depth, &ev, 0);
        if (rc)
            return rc;
    }
    return TLS_OK;
}

/* The peer's DER certificates, parsed; all but the first also go on
 * `untrusted`, where libcrypto looks for issuers. */
static int parse_peer_chain(const uint8_t *const *der, const size_t *der_len, size_t n, X509 **peer,
                            STACK_OF(X509) *untrusted, tls_error *err)
{
    for (size_t i = 0; i < n; i++) {
        peer[i] = tls_peer_x509(der[i], der_len[i]);
        if (!peer[i]) {
            ERR_clear_error();
            return tls_err_set(err, TLS_E_ALERT_SENT, TLS_ALERT_BAD_CERTIFICATE,
                               "certificate %zu of the peer's chain is not a valid DER X.509 certificate", i);
        }
        if (i > 0 && !sk_X509_push(untrusted, peer[i]))
            return tls_err_set(err, TLS_E_NOMEM, -1, "certificate validation");
    }
    return TLS_OK;
}

/* The first pass: libcrypto builds and checks the chain, recording every
 * problem in st; then the depth limit is applied to the chain it built. */
static int check_with_libcrypto(const tls_verify_ctx *vc, X509_STORE *store, X509 *leaf,
                                STACK_OF(X509) *untrusted, X509_STORE_CTX *ctx, vt_state *st, tls_error *err)
{
    int depth = vc->depth < 0 ? 0 : vc->depth > 1000 ? 1000 : vc->depth;
    if (!X509_STORE_CTX_init(ctx, store, leaf, untrusted))
        return tls_err_set(err, TLS_E_NOMEM, -1, "certificate validation");
    X509_STORE_CTX_set_app_data(ctx, st);
    X509_STORE_CTX_set_verify_cb(ctx, verify_cb);
    X509_STORE_CTX_set_purpose(ctx, vc->peer_is_server ? X509_PURPOSE_SSL_SERVER : X509_PURPOSE_SSL_CLIENT);
    /* depth counts the intermediates between the peer and the trust anchor,
     * as libcrypto's does. But libcrypto stops building at its limit, and a
     * chain cut short looks unanchored (unknown_ca) rather than too long. So
     * libcrypto builds up to its own default limit, the chain is found
     * anchored or not, and our limit is checked on it below (as the
     * reference finds the anchor first, then counts). */
    X509_VERIFY_PARAM_set_depth(X509_STORE_CTX_get0_param(ctx), depth < BUILD_DEPTH ? BUILD_DEPTH : depth + 1);
    int ok = X509_verify_cert(ctx);
    if (ok != 1 && st->n == 0) {
        /* failed without telling the callback (out of memory, ...): fail closed */
        int e = X509_STORE_CTX_get_error(ctx);
        vt_add(st, X509_STORE_CTX_get_error_depth(ctx), e,
               e == X509_V_OK ? TLS_BAD_CERT_INVALID_ISSUER : map_x509_error(e));
    }
    ERR_clear_error();

    STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
    int len = chain ? sk_X509_num(chain) : 0;
    if (len <= 0)
        return tls_err_set(err, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "certificate validation built no chain");
    /* peer, `depth` intermediates, anchor. One max-path event, on the first
     * intermediate beyond the limit (where OpenSSL reports it too). */
    bool too_long = len - 2 > depth;
    for (size_t i = 0; i < st->n; i++)
        if (st->ev[i].reason == TLS_BAD_CERT_MAX_PATH_LENGTH && st->ev[i].xerr != X509_V_ERR_PATH_LENGTH_EXCEEDED)
            too_long = true, st->ev[i].depth = -1; /* replaced below */
    if (too_long) {
        /* first: the other problems of that certificate matter less */
        vt_add(st, depth + 1 < len ? depth + 1 : len - 1, X509_V_ERR_CERT_CHAIN_TOO_LONG,
               TLS_BAD_CERT_MAX_PATH_LENGTH);
        if (!st->overflow && st->n > 1) {
            vt_event last = st->ev[st->n - 1];
            memmove(&st->ev[1], &st->ev[0], (st->n - 1) * sizeof st->ev[0]);
            st->ev[0] = last;
        }
    }
    if (st->overflow)
        return fail_at(err, leaf, 0, TLS_BAD_CERT_INVALID_ISSUER, "has too many problems to list", NULL);
    return TLS_OK;
}

/* The second pass for the certificate at position d of a chain of len:
 * its recorded problems, the host name (peer), then valid / valid_peer. */
static int replay_certificate(replay *rp, const vt_state *st, X509 *x, const uint8_t *der, size_t der_len, int d,
                              int len)
{
    int rc = TLS_OK;
    bool ext_done = false;
    for (size_t i = 0; i < st->n && rc == TLS_OK; i++) {
        const vt_event *e = &st->ev[i];
        int ed = e->depth < 0 ? -1 : e->depth >= len ? len - 1 : e->depth;
        if (ed != d)
            continue;
        if (e->reason == VT_EXTENSION) {
            if (ext_done)
                continue;
            ext_done = true;
            bool any = false;
            rc = deliver_extensions(rp, x, der, der_len, d, &any);
            if (rc || any)
                continue;
            /* flagged but nothing found: report it as a bad certificate */
            tls_verify_event ev = {.kind = TLS_EVENT_BAD_CERT, .reason = TLS_BAD_CERT_USER};
            rc = deliver(rp, x, der, der_len, d, &ev, e->xerr);
            continue;
        }
        tls_verify_event ev = {.kind = TLS_EVENT_BAD_CERT, .reason = e->reason};
        rc = deliver(rp, x, der, der_len, d, &ev, e->xerr);
    }
    const tls_verify_ctx *vc = rp->vc;
    if (rc == TLS_OK && d == 0 && vc->verify == TLS_VERIFY_PEER && vc->hostname && vc->hostname[0] &&
        !hostname_ok(x, vc->hostname)) {
        tls_verify_event ev = {.kind = TLS_EVENT_BAD_CERT, .reason = TLS_BAD_CERT_HOSTNAME_CHECK_FAILED};
        rc = deliver(rp, x, der, der_len, d, &ev, 0);
    }
    if (rc == TLS_OK) {
        tls_verify_event ev = {.kind = d == 0 ? TLS_EVENT_VALID_PEER : TLS_EVENT_VALID};
        rc = deliver(rp, x, der, der_len, d, &ev, 0);
    }
    return rc;
}

int tls_verify_chain(const tls_verify_ctx *vc, const uint8_t *const *der, const size_t *der_len, size_t n,
                     tls_error *err)
{
    if (n == 0) {
        int rc = tls_err_set(err, TLS_E_BAD_CERT, tls_bad_cert_alert(TLS_BAD_CERT_NO_PEER_CERT, TLS_TLS12),
                             "the peer sent no certificate");
        if (err)
            err->bad_cert = TLS_BAD_CERT_NO_PEER_CERT;
        return rc;
    }
    int rc = TLS_OK;
    X509 **peer = calloc(n, sizeof *peer);
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    vt_state *st = calloc(1, sizeof *st);
    X509_STORE *store = vc->store, *empty = NULL;
    if (!store)
        store = empty = X509_STORE_new();
    if (!peer || !untrusted || !ctx || !st || !store) {
        rc = tls_err_set(err, TLS_E_NOMEM, -1, "certificate validation");
        goto out;
    }
    rc = parse_peer_chain(der, der_len, n, peer, untrusted, err);
    if (rc == TLS_OK)
        rc = check_with_libcrypto(vc, store, peer[0], untrusted, ctx, st, err);
    if (rc)
        goto out;

    replay rp = {vc,
                 vc->fun ? vc->fun
                 : vc->verify == TLS_VERIFY_PEER ? tls_verify_fun_default_peer
                                                 : tls_verify_fun_default_none,
                 err, X509_VERIFY_PARAM_get_auth_level(X509_STORE_CTX_get0_param(ctx))};
    STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
    int len = sk_X509_num(chain);
    for (int d = len - 1; d >= 0 && rc == TLS_OK; d--) {
        X509 *x = sk_X509_value(chain, d);
        /* the DER the peer sent, or an encoding of the store's certificate */
        const uint8_t *xder = NULL;
        size_t xlen = 0;
        uint8_t *owned = NULL;
        for (size_t i = 0; i < n && !xder; i++)
            if (peer[i] == x)
                xder = der[i], xlen = der_len[i];
        if (!xder) {
            int l = i2d_X509(x, &owned);
            if (l <= 0) {
                rc = tls_err_set(err, TLS_E_NOMEM, -1, "certificate validation");
                break;
            }
            xder = owned;
            xlen = (size_t)l;
        }
        rc = replay_certificate(&rp, st, x, xder, xlen, d, len);
        OPENSSL_free(owned);
    }

out:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(empty);
    sk_X509_free(untrusted);
    if (peer)
        for (size_t i = 0; i < n; i++)
            X509_free(peer[i]);
    free(peer);
    free(st);
    return rc;
}
