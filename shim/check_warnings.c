/* `tlsshim --check`'s warnings: choices a valid policy may make that weaken
 * what TLS gives, each with the rule, the file:line of the key behind it and
 * what to do instead. A warning never fails the check: legacy versions and
 * suites are why some people run tlsshim (old clients), and the policy
 * names them on purpose; the point is that nobody gets them by accident. */
#include "check_warnings.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#define EXPIRY_WARN_DAYS 30
#define MAX_NAMED_SUITES 4 /* then "and N more" */

typedef struct {
    const policy *p;
    FILE *out;
    int count;
} warner;

/* "; [rule] FILE:LINE: text" (no LINE when the key is absent: a default) */
static void warn(warner *w, const policy_rule *r, policy_key key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void warn(warner *w, const policy_rule *r, policy_key key, const char *fmt, ...)
{
    char text[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    int line = r->key_line[key] ? r->key_line[key] : r->line;
    fprintf(w->out, "; [%s] %s:%d: %s\n", r->name, w->p->path, line, text);
    w->count++;
}

static void legacy_versions(warner *w, const policy_rule *r, unsigned versions)
{
    static const struct { unsigned bit; const char *name; } old[] = {
        {TLS_VMASK_SSL3, "sslv3"}, {TLS_VMASK_TLS10, "tlsv1"}, {TLS_VMASK_TLS11, "tlsv1.1"}};
    char names[64] = "";
    for (size_t i = 0; i < sizeof old / sizeof old[0]; i++) {
        if (versions & old[i].bit)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", names[0] ? ", " : "",
                     old[i].name);
    }
    if (names[0])
        warn(w, r, POLICY_KEY_VERSIONS,
             "versions allows %s: legacy protocol versions (RFC 8996 deprecates TLS 1.0 and 1.1, "
             "RFC 7568 SSL 3.0); keep them only for clients that need them",
             names);
}

/* RC4, DES, 3DES, NULL, MD5 MACs and key exchange without forward secrecy */
static const char *weakness(const tls_suite_info *s)
{
    if (!strcmp(s->cipher, "rc4_128"))
        return "RC4";
    if (!strcmp(s->cipher, "des_cbc") || strstr(s->cipher, "3des_ede_cbc"))
        return "DES";
    if (!strcmp(s->hash, "md5"))
        return "MD5";
    if (!strcmp(s->kx, "rsa"))
        return "no forward secrecy";
    return NULL;
}

static void legacy_suites(warner *w, const policy_rule *r, const tls_suite_info *const *suites, size_t n)
{
    char names[400] = "";
    size_t weak = 0;
    /* broken ciphers and MACs named first, then the ones without forward secrecy */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            const char *why = weakness(suites[i]);
            if (!why || (pass == 0) == !strcmp(why, "no forward secrecy"))
                continue;
            if (weak < MAX_NAMED_SUITES)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s (%s)",
                         names[0] ? ", " : "", suites[i]->openssl_name, why);
            weak++;
        }
    }
    if (!weak)
        return;
    if (weak > MAX_NAMED_SUITES)
        snprintf(names + strlen(names), sizeof names - strlen(names), " and %zu more",
                 weak - MAX_NAMED_SUITES);
    warn(w, r, POLICY_KEY_CIPHERS, "ciphers enables %zu legacy suite%s: %s", weak, weak == 1 ? "" : "s",
         names);
}

static void key_readable(warner *w, const policy_rule *r)
{
    struct stat st;
    if (!r->keyfile || stat(r->keyfile, &st) < 0 || !(st.st_mode & S_IROTH))
        return;
    warn(w, r, POLICY_KEY_KEYFILE,
         "keyfile %s is readable by every user (mode %04o): chmod o-r it, the private key is the server's "
         "identity",
         r->keyfile, (unsigned)(st.st_mode & 07777));
}

static X509 *rule_certificate(const policy_rule *r)
{
    if (r->cert.data) {
        const unsigned char *p = r->cert.data;
        return d2i_X509(NULL, &p, (long)r->cert.len);
    }
    if (!r->certfile)
        return NULL;
    FILE *f = fopen(r->certfile, "r");
    if (!f)
        return NULL;
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    return x;
}

static void expiry(warner *w, const policy_rule *r)
{
    X509 *x = rule_certificate(r);
    if (!x)
        return;
    int days = 0, secs = 0;
    policy_key key = r->cert.data ? POLICY_KEY_CERT : POLICY_KEY_CERTFILE;
    const ASN1_TIME *end = X509_get0_notAfter(x);
    if (ASN1_TIME_diff(&days, &secs, NULL, end)) {
        char when[32] = "?";
        struct tm tm;
        if (ASN1_TIME_to_tm(end, &tm))
            strftime(when, sizeof when, "%Y-%m-%d", &tm);
        if (days < 0 || (days == 0 && secs < 0))
            warn(w, r, key, "the certificate expired on %s: peers will refuse it", when);
        else if (days < EXPIRY_WARN_DAYS)
            warn(w, r, key, "the certificate expires in %d day%s (%s): renew it", days, days == 1 ? "" : "s",
                 when);
    }
    X509_free(x);
}

int check_warnings(const policy *p, tls_config *const *configs, FILE *out)
{
    warner w = {p, out, 0};
    fprintf(out, "; warnings\n");
    for (size_t i = 0; i < p->n_rules; i++) {
        const policy_rule *r = &p->rules[i];
        if (r->direction == POLICY_CONNECT && !r->verify_peer)
            warn(&w, r, POLICY_KEY_VERIFY,
                 "verify = verify_none on a connect rule: the server is not authenticated, so anyone on "
                 "the path can pose as it; give it cacertfile and verify_peer");
        unsigned versions = 0;
        size_t n = tls_config_suites(configs[i], NULL, 0, &versions);
        const tls_suite_info *suites[256];
        n = tls_config_suites(configs[i], suites, n < 256 ? n : 256, NULL);
        legacy_versions(&w, r, versions);
        legacy_suites(&w, r, suites, n < 256 ? n : 256);
        key_readable(&w, r);
        expiry(&w, r);
    }
    if (!w.count)
        fprintf(out, "; none\n");
    return w.count;
}
