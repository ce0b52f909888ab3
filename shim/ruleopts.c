/* Policy rule -> tls_options / tls_config: shared by libtlsshim.so (init.c)
 * and the launcher (`tlsshim --check` builds every rule's config to catch bad
 * keys and passwords before a program runs); both link this file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ruleopts.h"

/* cacerts as the two arrays tls_options wants; the caller frees them after
 * tls_config_new. */
typedef struct cacert_arrays {
    const uint8_t **ders;
    size_t *lens;
} cacert_arrays;

static int ruleopts_fill(const policy *p, const policy_rule *r, tls_options *o, cacert_arrays *ca,
                         char *msg, size_t msg_len, void (*keylog)(const char *, void *))
{
    tls_options_init(o);
    o->verify = r->verify_peer ? TLS_VERIFY_PEER : TLS_VERIFY_NONE;
    o->fail_if_no_peer_cert = r->fail_if_no_peer_cert;
    o->depth = r->depth;
    o->security_level = r->security_level;
    if (r->cert.data) {
        o->cert = r->cert.data;
        o->cert_len = r->cert.len;
    }
    o->certfile = r->certfile;
    if (r->key.data) {
        o->key = r->key.data;
        o->key_len = r->key.len;
    }
    o->keyfile = r->keyfile;
    o->password = r->password;
    if (r->n_cacerts > 0 && ca) {
        ca->ders = calloc(r->n_cacerts, sizeof *ca->ders);
        ca->lens = calloc(r->n_cacerts, sizeof *ca->lens);
        if (!ca->ders || !ca->lens) {
            snprintf(msg, msg_len, "out of memory");
            return -1;
        }
        for (size_t i = 0; i < r->n_cacerts; i++) {
            ca->ders[i] = r->cacerts[i].data;
            ca->lens[i] = r->cacerts[i].len;
        }
        o->cacerts = ca->ders;
        o->cacerts_len = ca->lens;
        o->n_cacerts = r->n_cacerts;
    }
    o->cacertfile = r->cacertfile;
    if (r->dh.data) {
        o->dh = r->dh.data;
        o->dh_len = r->dh.len;
    }
    o->dhfile = r->dhfile;
    o->ciphers = r->ciphers;
    if (r->versions) {
        tls_error err;
        memset(&err, 0, sizeof err);
        unsigned mask = 0;
        if (tls_parse_versions(r->versions, &mask, &err) < 0) {
            char t[256];
            snprintf(msg, msg_len, "%s:%d: [%s] versions: %s", p->path,
                     r->key_line[POLICY_KEY_VERSIONS], r->name,
                     tls_format_error(&err, t, sizeof t));
            return -1;
        }
        o->versions = mask;
    }
    o->secure_renegotiate = r->secure_renegotiate;
    o->client_renegotiation = r->client_renegotiation;
    o->reuse_sessions = r->reuse_sessions;
    o->server_name = r->server_name;
    o->alpn = r->alpn;
    if (p->keylog) {
        o->keylog = keylog;
        o->keylog_arg = NULL;
    }
    return 0;
}

/* Which key a tls_config_new error is about: the key named at the start of
 * the engine's detail ("certfile /x.pem: ..."), else a guess from the code. */
static policy_key ruleopts_blame(const policy_rule *r, const tls_error *e)
{
    static const struct {
        const char *word;
        policy_key key;
    } words[] = {
        {"password", POLICY_KEY_PASSWORD},     {"keyfile", POLICY_KEY_KEYFILE},
        {"certfile", POLICY_KEY_CERTFILE},     {"cacertfile", POLICY_KEY_CACERTFILE},
        {"cacerts", POLICY_KEY_CACERTS},       {"dhfile", POLICY_KEY_DHFILE},
        {"ciphers", POLICY_KEY_CIPHERS},       {"versions", POLICY_KEY_VERSIONS},
        {"alpn", POLICY_KEY_ALPN},             {"server_name", POLICY_KEY_SERVER_NAME},
        {"depth", POLICY_KEY_DEPTH},           {"verify", POLICY_KEY_VERIFY},
        {"fail_if_no_peer_cert", POLICY_KEY_FAIL_IF_NO_PEER_CERT},
        {"secure_renegotiate", POLICY_KEY_SECURE_RENEGOTIATE},
        {"cert", POLICY_KEY_CERT},             {"key", POLICY_KEY_KEY},
        {"dh", POLICY_KEY_DH},
    };
    const char *d = e->detail;
    /* a key that does not decrypt: blame the password when there is one */
    if (r->key_line[POLICY_KEY_PASSWORD] && strstr(d, "password"))
        return POLICY_KEY_PASSWORD;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        size_t n = strlen(words[i].word);
        if (strncmp(d, words[i].word, n) == 0 && !(d[n] >= 'a' && d[n] <= 'z') && d[n] != '_')
            return words[i].key;
    }
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (strstr(d, words[i].word) && r->key_line[words[i].key])
            return words[i].key;
    }
    /* a key that does not decrypt or does not match: password, else keyfile */
    if (r->key_line[POLICY_KEY_PASSWORD] && (strstr(d, "decrypt") || strstr(d, "pass")))
        return POLICY_KEY_PASSWORD;
    if (r->key_line[POLICY_KEY_KEYFILE])
        return POLICY_KEY_KEYFILE;
    if (r->key_line[POLICY_KEY_KEY])
        return POLICY_KEY_KEY;
    if (r->key_line[POLICY_KEY_CERTFILE])
        return POLICY_KEY_CERTFILE;
    return POLICY_KEY_COUNT;
}

int ruleopts_build(const policy *p, const policy_rule *r, tls_config **out, char *msg,
                   size_t msg_len, void (*keylog)(const char *, void *))
{
    tls_options o;
    cacert_arrays ca = {NULL, NULL};
    int rc = -1;
    if (ruleopts_fill(p, r, &o, &ca, msg, msg_len, keylog) < 0)
        goto done;
    tls_error err;
    memset(&err, 0, sizeof err);
    err.alert = -1;
    if (tls_config_new(&o, r->direction == POLICY_ACCEPT, out, &err) < 0) {
        char t[300];
        tls_format_error(&err, t, sizeof t);
        policy_key k = ruleopts_blame(r, &err);
        /* certfile/keyfile/password fall back on each other's line */
        int line = k < POLICY_KEY_COUNT ? r->key_line[k] : 0;
        if (!line && (k == POLICY_KEY_PASSWORD || k == POLICY_KEY_KEYFILE)) {
            k = r->key_line[POLICY_KEY_KEYFILE] ? POLICY_KEY_KEYFILE : POLICY_KEY_CERTFILE;
            line = r->key_line[k];
        }
        if (line)
            snprintf(msg, msg_len, "%s:%d: [%s] %s: %s", p->path, line, r->name,
                     policy_key_name(k), t);
        else
            snprintf(msg, msg_len, "%s:%d: [%s]: %s", p->path, r->line, r->name, t);
        *out = NULL;
        goto done;
    }
    rc = 0;
done:
    free(ca.ders);
    free(ca.lens);
    return rc;
}
