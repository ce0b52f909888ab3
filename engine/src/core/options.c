/* Options -> a loaded, immutable, shareable tls_config: files read, keys
 * checked, the suite list and version range settled once, not per connection. */
#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "kex.h"
#include "options_members.h"

void tls_options_init(tls_options *o)
{
    memset(o, 0, sizeof *o);
    o->verify = TLS_VERIFY_NONE;
    o->depth = 1;
    o->security_level = 2;
    o->reuse_sessions = true;
    o->secure_renegotiate = true; /* the reference's default is false: see tlsengine.h */
}

static const uint16_t vmask_versions[] = {TLS_SSL3, TLS_TLS10, TLS_TLS11, TLS_TLS12, TLS_TLS13};

/* The string members of tls_options (paths and strings), from the one list
 * of members, so that a new string option cannot be left pointing at the
 * caller's memory. */
#define STRING_MEMBER_BY_STRING(m) &c->opts.m,
#define STRING_MEMBER_BY_FILE(m) &c->opts.m,
#define STRING_MEMBER_BY_VALUE(m)
#define STRING_MEMBER_BY_ARRAY(m)
#define STRING_MEMBER_BY_DER_LIST(m)
#define STRING_MEMBER_KEYED_WITH(m)
#define STRING_MEMBER_NOT_KEYED(m)
#define STRING_MEMBER(m, how, arg) STRING_MEMBER_##how(m)

/* Copies the option strings into one block the config owns. */
static bool copy_strings(tls_config *c)
{
    const char **fields[] = {OPTIONS_MEMBERS(STRING_MEMBER)};
    size_t total = 0;
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        if (*fields[i])
            total += strlen(*fields[i]) + 1;
    if (!total)
        return true;
    c->strings = malloc(total);
    c->strings_len = total;
    if (!c->strings)
        return false;
    char *p = c->strings;
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        if (!*fields[i])
            continue;
        size_t n = strlen(*fields[i]) + 1;
        memcpy(p, *fields[i], n);
        *fields[i] = p;
        p += n;
    }
    return true;
}

static int parse_alpn(tls_config *c, tls_error *err)
{
    const char *s = c->opts.alpn;
    if (!s || !*s)
        return TLS_OK;
    tls_wr w = tls_wr_fixed(c->alpn_wire, sizeof c->alpn_wire);
    while (*s) {
        while (*s == ',' || *s == ' ')
            s++;
        if (!*s)
            break;
        size_t n = strcspn(s, ", ");
        if (n > 255 || c->n_alpn == TLS_MAX_ALPN)
            return tls_err_set(err, TLS_E_BADARG, -1, "alpn: protocol '%.*s' too long or too many",
                               (int)(n > 40 ? 40 : n), s);
        memcpy(c->alpn[c->n_alpn], s, n);
        c->alpn[c->n_alpn][n] = '\0';
        c->n_alpn++;
        tls_wr_vec(&w, 1, s, n);
        s += n;
    }
    if (w.bad)
        return tls_err_set(err, TLS_E_BADARG, -1, "alpn: list too long");
    c->alpn_wire_len = w.len;
    return TLS_OK;
}

int tls_start(void) { return tls_algs_init() ? TLS_OK : TLS_E_INTERNAL; }

int tls_config_new(const tls_options *o, bool is_server, tls_config **out, tls_error *err)
{
    tls_err_clear(err);
    if (!o || !out)
        return tls_err_set(err, TLS_E_BADARG, -1, "tls_config_new: NULL options or result pointer");
    *out = NULL;
    if (!tls_algs_init())
        return tls_err_set(err, TLS_E_INTERNAL, -1, "libcrypto lacks the default provider's algorithms");
    if (o->security_level < 0 || o->security_level > 5)
        return tls_err_set(err, TLS_E_BADARG, -1, "security_level %d is out of range 0..5",
                           o->security_level);
    if (o->depth < 0 || o->depth > 100)
        return tls_err_set(err, TLS_E_BADARG, -1, "depth %d is out of range 0..100", o->depth);
    if (o->verify != TLS_VERIFY_NONE && o->verify != TLS_VERIFY_PEER)
        return tls_err_set(err, TLS_E_BADARG, -1, "verify must be verify_none or verify_peer");
    if (o->ssl_imp != 0 && o->ssl_imp != 1)
        return tls_err_set(err, TLS_E_BADARG, -1, "ssl_imp %d is neither new (0) nor old (1)", o->ssl_imp);
    if (o->fail_if_no_peer_cert && is_server && o->verify != TLS_VERIFY_PEER)
        return tls_err_set(err, TLS_E_BADARG, -1, "fail_if_no_peer_cert needs verify_peer");

    tls_config *c = calloc(1, sizeof *c);
    if (!c)
        return tls_err_set(err, TLS_E_NOMEM, -1, "tls_config_new");
    c->refs = 1;
    c->server = is_server;
    c->opts = *o;
    tls_cache_init(&c->cache);
    int rc = TLS_E_NOMEM;
    if (!copy_strings(c)) {
        tls_err_set(err, rc, -1, "tls_config_new");
        goto fail;
    }

    unsigned vm = o->versions ? o->versions : TLS_DEFAULT_VERSIONS;
    vm &= TLS_AVAILABLE_VERSIONS;
    if (!vm) {
        rc = tls_err_set(err, TLS_E_BADARG, -1, "versions: none of the versions asked for is available");
        goto fail;
    }
    c->versions = vm;
    for (size_t i = 0; i < sizeof vmask_versions / sizeof *vmask_versions; i++) {
        if (vm & (1u << i)) {
            if (!c->min_version)
                c->min_version = vmask_versions[i];
            c->max_version = vmask_versions[i];
        }
    }
    /* the wire cannot express holes (a client offers a range): fill them */
    for (size_t i = 0; i < sizeof vmask_versions / sizeof *vmask_versions; i++)
        if (vmask_versions[i] >= c->min_version && vmask_versions[i] <= c->max_version)
            c->versions |= 1u << i;

    int n;
    if (o->cipher_ids && o->n_cipher_ids) {
        n = 0;
        for (size_t i = 0; i < o->n_cipher_ids && n < TLS_MAX_SUITES; i++) {
            if (!tls_suite_by_id(o->cipher_ids[i])) {
                rc = tls_err_set(err, TLS_E_BADARG, -1, "ciphers: unknown suite 0x%04x", o->cipher_ids[i]);
                goto fail;
            }
            c->suites[n++] = o->cipher_ids[i];
        }
        c->suites_named = true;
    } else if (o->ciphers && *o->ciphers) {
        n = tls_parse_ciphers(o->ciphers, c->suites, TLS_MAX_SUITES, err);
        if (n < 0) {
            rc = err ? err->code : TLS_E_BADARG;
            goto fail;
        }
        c->suites_named = true;
    } else {
        size_t all = tls_default_ciphers(vm, c->suites, TLS_MAX_SUITES);
        n = (int)(all < TLS_MAX_SUITES ? all : TLS_MAX_SUITES);
    }
    /* keep the suites some enabled version can use */
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        const tls_suite *s = tls_suite_by_id(c->suites[i]);
        for (uint16_t v = c->min_version; s && v <= c->max_version; v++) {
            if (tls_suite_usable(s, v)) {
                c->suites[k++] = c->suites[i];
                break;
            }
        }
    }
    c->n_suites = k;
    /* no TLS 1.3 suite, no TLS 1.3 (and the reverse for the versions below) */
    bool any13 = false, any12 = false;
    for (size_t i = 0; i < k; i++) {
        const tls_suite *s = tls_suite_by_id(c->suites[i]);
        any13 |= s->kx == TLS_KX_TLS13;
        any12 |= s->kx != TLS_KX_TLS13;
    }
    if (!any13 && c->max_version == TLS_TLS13 && c->min_version < TLS_TLS13) {
        c->versions &= ~(unsigned)TLS_VMASK_TLS13;
        c->max_version = TLS_TLS12;
    }
    if (!any12 && c->min_version < TLS_TLS13 && c->max_version == TLS_TLS13) {
        c->versions = TLS_VMASK_TLS13;
        c->min_version = TLS_TLS13;
    }
    if (!k) {
        rc = tls_err_set(err, TLS_E_BADARG, -1, "ciphers: no suite of the list works with versions %s..%s",
                         tls_version_name(c->min_version), tls_version_name(c->max_version));
        goto fail;
    }

    rc = parse_alpn(c, err);
    if (rc)
        goto fail;
    rc = tls_cred_load(o, &c->cred, err);
    if (rc)
        goto fail;
    if (is_server && !c->cred.chain) {
        rc = tls_err_set(err, TLS_E_CONFIG, -1, "a server needs cert or certfile (and its key)");
        goto fail;
    }
    /* no CA option with verify_peer: the system's trust store */
    rc = tls_ca_load(o, &c->store, &c->n_cas, err);
    if (rc)
        goto fail;
    if (is_server) {
        rc = tls_dh_load(o, &c->dh_params, err);
        if (rc)
            goto fail;
        if (!tls_ticket_key_init(&c->ticket_key)) {
            rc = tls_err_set(err, TLS_E_INTERNAL, -1, "no random bytes for the session ticket key");
            goto fail;
        }
        /* CertificateRequest names the configured CAs; never a whole system store */
        if (o->verify == TLS_VERIFY_PEER && ((o->cacerts && o->n_cacerts) || o->cacertfile)) {
            c->ca_names = sk_X509_NAME_new_null();
            STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(c->store);
            for (int i = 0; c->ca_names && i < sk_X509_OBJECT_num(objs); i++) {
                X509 *x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));
                X509_NAME *nm = x ? X509_NAME_dup(X509_get_subject_name(x)) : NULL;
                if (nm && !sk_X509_NAME_push(c->ca_names, nm))
                    X509_NAME_free(nm);
            }
        }
    }
    *out = c;
    return TLS_OK;
fail:
    tls_config_free(c);
    return rc;
}

void tls_config_ref(tls_config *c)
{
    if (c)
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

size_t tls_config_suites(const tls_config *c, const tls_suite_info **out, size_t max, unsigned *versions)
{
    if (!c)
        return 0;
    if (versions)
        *versions = c->versions;
    size_t n = 0;
    for (size_t i = 0; i < c->n_suites; i++) {
        const tls_suite_info *s = tls_suite_lookup(c->suites[i]);
        if (!s)
            continue;
        if (out && n < max)
            out[n] = s;
        n++;
    }
    return n;
}

void tls_config_free(tls_config *c)
{
    if (!c || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    tls_cred_free(&c->cred);
    X509_STORE_free(c->store);
    sk_X509_NAME_pop_free(c->ca_names, X509_NAME_free);
    EVP_PKEY_free(c->dh_params);
    tls_cache_free(&c->cache);
    tls_ticket_key_wipe(&c->ticket_key);
    if (c->strings) {
        OPENSSL_cleanse(c->strings, c->strings_len); /* the password is in here */
        free(c->strings);
    }
    free(c);
}
