/* The kinds of value a policy key takes: one parser and one printer each. The
 * key table (keys.c) says which key uses which, and where its value lives
 * (policy_key_def.field). Certificates, keys and DH parameters given as
 * base64 are decoded with libcrypto's d2i functions, so a blob that is not
 * what the key names is refused here, on its line. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy_int.h"

#define FIELD(obj, k, type) ((type *)(void *)((char *)(obj) + (k)->field))
#define CFIELD(obj, k, type) ((const type *)(const void *)((const char *)(obj) + (k)->field))

static const char *const level_names[] = {"error", "warning", "info", "debug"};
static const char *const version_names[] = {"sslv3", "tlsv1", "tlsv1.1", "tlsv1.2", "tlsv1.3"};

/* ---- small helpers ------------------------------------------------------ */

char *policy_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

bool policy_valid_text(const char *v, const char *extra)
{
    for (; *v; v++)
        if (!isalnum((unsigned char)*v) && !strchr(extra, *v))
            return false;
    return true;
}

/* "'value' is not WHAT (expected ...)", the expected part only when it says more. */
static int not_a(loader *L, const policy_key_def *k, const char *v, const char *what)
{
    char q[64];
    if (strcmp(what, k->expected) == 0)
        policy_key_fail(L, k, "'%s' is not %s", policy_shown(v, q, sizeof q), what);
    else
        policy_key_fail(L, k, "'%s' is not %s (expected %s)", policy_shown(v, q, sizeof q), what,
                        k->expected);
    return -1;
}

static int keep_text(loader *L, void *obj, const policy_key_def *k, const char *v)
{
    char **slot = FIELD(obj, k, char *);
    free(*slot);
    *slot = strdup(v);
    if (!*slot) {
        policy_key_fail(L, k, "out of memory");
        return -1;
    }
    return 0;
}

/* Index of v in names[n], -1 if absent. */
static int choice(const char *v, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v, names[i]) == 0)
            return (int)i;
    return -1;
}

/* Calls fn for each trimmed entry of a comma list; an empty entry is an error. */
typedef int (*entry_fn)(loader *L, void *obj, const policy_key_def *k, char *entry, size_t index);

static int for_each_entry(loader *L, void *obj, const policy_key_def *k, const char *value,
                          entry_fn fn)
{
    char *copy = strdup(value);
    if (!copy) {
        policy_key_fail(L, k, "out of memory");
        return -1;
    }
    int rc = 0;
    size_t index = 0;
    for (char *s = copy;;) {
        char *comma = strchr(s, ',');
        if (comma)
            *comma = '\0';
        char *e = policy_trim(s);
        if (*e == '\0') {
            policy_key_fail(L, k, "entry %zu is empty (expected %s)", index + 1, k->expected);
            rc = -1;
            break;
        }
        if (fn(L, obj, k, e, index++) < 0) {
            rc = -1;
            break;
        }
        if (!comma)
            break;
        s = comma + 1;
    }
    free(copy);
    return rc;
}

/* An entry listed twice: compared after splitting, so "tlsv1" is not found
 * in "tlsv1.2". */
static int no_repeats(loader *L, const policy_key_def *k, const char *value)
{
    char *copy = strdup(value);
    if (!copy) {
        policy_key_fail(L, k, "out of memory");
        return -1;
    }
    char *items[64];
    size_t n = 0;
    for (char *save = NULL, *t = strtok_r(copy, ",", &save); t && n < 64;
         t = strtok_r(NULL, ",", &save))
        items[n++] = policy_trim(t);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(items[i], items[j]) == 0) {
                char q[64];
                policy_key_fail(L, k, "'%s' is listed twice", policy_shown(items[i], q, sizeof q));
                rc = -1;
                break;
            }
        }
    }
    free(copy);
    return rc;
}

/* ---- direction, match, verify, booleans, numbers ------------------------ */

int policy_parse_direction(loader *L, void *obj, const policy_key_def *k, const char *v)
{
    static const char *const names[] = {"connect", "accept"};
    int i = choice(v, names, 2);
    if (i < 0)
        return not_a(L, k, v, "connect or accept");
    ((policy_rule *)obj)->direction = i == 0 ? POLICY_CONNECT : POLICY_ACCEPT;
    return 0;
}

bool policy_print_direction(FILE *out, const void *obj, const policy_key_def *k)
{
    (void)k;
    fputs(((const policy_rule *)obj)->direction == POLICY_ACCEPT ? "accept" : "connect", out);
    return true;
}

static int add_match(loader *L, void *obj, const policy_key_def *k, char *entry, size_t index)
{
    (void)index;
    policy_rule *r = obj;
    char why[512];
    policy_match m;
    if (policy_match_parse(entry, &m, why, sizeof why) < 0) {
        policy_key_fail(L, k, "%s", why);
        return -1;
    }
    policy_match *grown = realloc(r->matches, (r->n_matches + 1) * sizeof *grown);
    if (!grown) {
        free(m.host_glob);
        policy_key_fail(L, k, "out of memory");
        return -1;
    }
    r->matches = grown;
    r->matches[r->n_matches++] = m;
    return 0;
}

int policy_parse_match(loader *L, void *obj, const policy_key_def *k, const char *v)
{
    return for_each_entry(L, obj, k, v, add_match);
}

bool policy_print_match(FILE *out, const void *obj, const policy_key_def *k)
{
    (void)k;
    const policy_rule *r = obj;
    for (size_t j = 0; j < r->n_matches; j++) {
        char m[320];
        policy_match_format(&r->matches[j], m, sizeof m);
        fprintf(out, "%s%s", j ? ", " : "", m);
    }
    return r->n_matches > 0;
}

int policy_parse_verify(loader *L, void *obj, const policy_key_def *k, const char *v)
{
    static const char *const names[] = {"verify_none", "verify_peer"};
    int i = choice(v, names, 2);
    if (i < 0)
        return not_a(L, k, v, "verify_peer or verify_none");
    ((policy_rule *)obj)->verify_peer = i == 1;
    return 0;
}

bool policy_print_verify(FILE *out, const void *obj, const policy_key_def *k)
{
    (void)k;
    fputs(((const policy_rule *)obj)->verify_peer ? "verify_peer" : "verify_none", out);
    return true;
}

int policy_parse_bool(loader *L, void *obj, const policy_key_def *k, const char *v)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0 || strcasecmp(v, no[i]) == 0) {
            *FIELD(obj, k, bool) = strcasecmp(v, yes[i]) == 0;
            return 0;
        }
    }
    return not_a(L, k, v, "a boolean");
}

bool policy_print_bool(FILE *out, const void *obj, const policy_key_def *k)
{
    fputs(*CFIELD(obj, k, bool) ? "true" : "false", out);
    return true;
}

int policy_parse_int(loader *L, void *obj, const policy_key_def *k, const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > 9 || strspn(v, "0123456789") != n)
        return not_a(L, k, v, "a number");
    long x = strtol(v, NULL, 10);
    if (x < k->min || x > k->max) {
        char q[64];
        policy_key_fail(L, k, "'%s' is out of range (expected %s)", policy_shown(v, q, sizeof q),
                        k->expected);
        return -1;
    }
    *FIELD(obj, k, int) = (int)x;
    return 0;
}

bool policy_print_int(FILE *out, const void *obj, const policy_key_def *k)
{
    fprintf(out, "%d", *CFIELD(obj, k, int));
    return true;
}

bool policy_print_text(FILE *out, const void *obj, const policy_key_def *k)
{
    const char *s = *CFIELD(obj, k, char *);
    if (s)
        fputs(s, out);
    return s != NULL;
}

/* ---- DER ---------------------------------------------------------------- */

/* True when the bytes are exactly one `kind`, as libcrypto reads it. */
static bool der_is(policy_der_kind kind, const uint8_t *d, size_t n)
{
    if (n == 0 || n > LONG_MAX)
        return false;
    const unsigned char *q = d;
    bool ok = false;
    if (kind == DER_CERT) {
        X509 *x = d2i_X509(NULL, &q, (long)n);
        ok = x && q == d + n;
        X509_free(x);
    } else if (kind == DER_KEY) {
        EVP_PKEY *pk = d2i_AutoPrivateKey(NULL, &q, (long)n);
        ok = pk && q == d + n;
        EVP_PKEY_free(pk);
        if (!ok) { /* an encrypted PKCS#8 key: decrypted later, with the password */
            q = d;
            X509_SIG *enc = d2i_X509_SIG(NULL, &q, (long)n);
            ok = enc && q == d + n;
            X509_SIG_free(enc);
        }
    } else if (kind == DER_DH) {
        static const int types[] = {EVP_PKEY_DH, EVP_PKEY_DHX}; /* PKCS#3, X9.42 */
        for (size_t i = 0; i < 2 && !ok; i++) {
            q = d;
            EVP_PKEY *pk = d2i_KeyParams(types[i], NULL, &q, (long)n);
            ok = pk && q == d + n;
            EVP_PKEY_free(pk);
        }
    }
    ERR_clear_error();
    return ok;
}

static int decode_der(loader *L, const policy_key_def *k, const char *v, policy_bytes *out,
                      const char *where)
{
    static const struct {
        const char *what, *how;
    } kinds[] = {
        [DER_CERT] = {"certificate", "openssl x509 -outform DER | base64 -w0"},
        [DER_KEY] = {"private key", "openssl pkcs8 -topk8 -nocrypt -outform DER | base64 -w0"},
        [DER_DH] = {"DH parameters", "openssl dhparam -outform DER | base64 -w0"},
    };
    size_t bad, n = strlen(v);
    int rc = policy_b64_decode(v, n, out, &bad);
    if (rc == -2) {
        policy_key_fail(L, k, "out of memory");
        return -1;
    }
    if (rc < 0) {
        if (bad >= n)
            policy_key_fail(L, k,
                            "%snot base64: the text ends mid-group (expected %s, length a multiple "
                            "of 4)",
                            where, k->expected);
        else
            policy_key_fail(L, k, "%snot base64: byte %zu ('%c') is wrong there (expected %s)",
                            where, bad + 1, isprint((unsigned char)v[bad]) ? v[bad] : '?',
                            k->expected);
        return -1;
    }
    if (!der_is(k->der, out->data, out->len)) {
        policy_key_fail(L, k, "%sdecodes to %zu bytes that are not DER %s (expected %s, e.g. from "
                        "`%s`)",
                        where, out->len, kinds[k->der].what, k->expected, kinds[k->der].how);
        free(out->data);
        out->data = NULL;
        out->len = 0;
        return -1;
    }
    return 0;
}

int policy_parse_der(loader *L, void *obj, const policy_key_def *k, const char *v)
{
    return decode_der(L, k, v, FIELD(obj, k, policy_bytes), "");
}

static int add_der(loader *L, void *obj, const policy_key_def *k, char *entry, size_t index)
{
    policy_rule *r = obj;
    policy_bytes *grown = realloc(r->cacerts, (r->n_cacerts + 1) * sizeof *grown);
    if (!grown) {
        policy_key_fail(L, k, "out of memory");
        return -1;
    }
    r->cacerts = grown;
    char where[32];
    snprintf(where, sizeof where, "certificate %zu: ", index + 1);
    if (decode_der(L, k, entry, &r->cacerts[r->n_cacerts], where) < 0)
        return -1;
    r->n_cacerts++;
    return 0;
}

/* cacerts: the one DER list, so the field is the rule's cacerts array. */
int policy_parse_der_list(loader *L, void *obj, const policy_key_def *k, const char *v)
{
    return for_each_entry(L, obj, k, v, add_der);
}

static void print_b64(FILE *out, const policy_bytes *b)
{
    char *s = policy_b64_encode(b->data, b->len);
    fputs(s ? s : "(out of memory)", out);
    free(s);
}

bool policy_print_der(FILE *out, const void *obj, const policy_key_def *k)
{
    const policy_bytes *b = CFIELD(obj, k, policy_bytes);
    if (b->data)
        print_b64(out, b);
    return b->data != NULL;
}

bool policy_print_der_list(FILE *out, const void *obj, const policy_key_def *k)
{
    (void)k;
    const policy_rule *r = obj;
    for (size_t j = 0; j < r->n_cacerts; j++) {
        fputs(j ? ", " : "", out);
        print_b64(out, &r->cacerts[j]);
    }
    return r->n_cacerts > 0;
}

/* ---- paths -------------------------------------------------------------- */

static char *resolve_path(loader *L, const policy_key_def *k, const char *v)
{
    char *out = NULL;
    if (v[0] == '/')
        out = strdup(v);
    else if (asprintf(&out, "%s/%s", strcmp(L->dir, "/") == 0 ? "" : L->dir, v) < 0)
        out = NULL;
    if (!out)
        policy_key_fail(L, k, "out of memory");
    return out;
}

/* A file the shim will read: it must exist, be readable and be a regular file. */
int policy_parse_readable(loader *L, void *obj, const policy_key_def *k, const char *v)
{
    char *path = resolve_path(L, k, v);
    if (!path)
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat st;
    int rc = fd < 0 ? -1 : fstat(fd, &st);
    const char *why = rc < 0 ? strerror(errno) : !S_ISREG(st.st_mode) ? "not a regular file" : NULL;
    if (fd >= 0)
        close(fd);
    if (why) {
        policy_key_fail(L, k, "cannot read %s: %s (expected a readable file)", path, why);
        free(path);
        return -1;
    }
    char **slot = FIELD(obj, k, char *);
    free(*slot);
    *slot = path;
    return 0;
}

/* A file the shim will create (log, keylog): its folder must exist. */
int policy_parse_writable(loader *L, void *obj, const policy_key_def *k, const char *v)
{
    char *path = resolve_path(L, k, v);
    if (!path)
        return -1;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        policy_key_fail(L, k, "%s is a folder (expected a file path)", path);
        free(path);
        return -1;
    }
    char *slash = strrchr(path, '/');
    *slash = '\0';
    const char *folder = slash == path ? "/" : path;
    const char *why = NULL;
    if (stat(folder, &st) < 0)
        why = strerror(errno);
    else if (!S_ISDIR(st.st_mode))
        why = "not a folder";
    if (why) {
        policy_key_fail(L, k, "cannot create a file in %s: %s (expected a path in an existing "
                        "folder)", folder, why);
        free(path);
        return -1;
    }
    *slash = '/';
    char **slot = FIELD(obj, k, char *);
    free(*slot);
    *slot = path;
    return 0;
}

int policy_parse_log(loader *L, void *obj, const policy_key_def *k, const char *v)
{
    if (strcmp(v, "stderr") == 0 || strcmp(v, "syslog") == 0)
        return keep_text(L, obj, k, v);
    return policy_parse_writable(L, obj, k, v);
}

int policy_parse_log_level(loader *L, void *obj, const policy_key_def *k, const char *v)
{
    int i = choice(v, level_names, 4);
    if (i < 0)
        return not_a(L, k, v, "a log level");
    ((policy *)obj)->log_level = (policy_log_level)i;
    return 0;
}

bool policy_print_log_level(FILE *out, const void *obj, const policy_key_def *k)
{
    (void)k;
    fputs(level_names[((const policy *)obj)->log_level], out);
    return true;
}

/* ---- text keys ---------------------------------------------------------- */

int policy_parse_password(loader *L, void *obj, const policy_key_def *k, const char *v)
{
    if (strlen(v) > 1023) {
        policy_key_fail(L, k, "longer than 1023 bytes (expected %s)", k->expected);
        return -1;
    }
    return keep_text(L, obj, k, v);
}

int policy_parse_ciphers(loader *L, void *obj, const policy_key_def *k, const char *v)
{
    if (strlen(v) > 8192 || !policy_valid_text(v, "-_+!@=.:, "))
        return not_a(L, k, v, "a cipher list");
    return keep_text(L, obj, k, v);
}

static bool valid_dns_name(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > 253)
        return false;
    const char *label = v;
    bool all_digits = true;
    for (size_t i = 0; i <= n; i++) {
        char c = v[i];
        if (c == '.' || c == '\0') {
            size_t len = (size_t)(v + i - label);
            if (len == 0 || len > 63 || label[0] == '-' || label[len - 1] == '-')
                return false;
            if (c == '\0')
                return !all_digits; /* an all-digit top label is a broken IP, not a name */
            label = v + i + 1;
            all_digits = true;
            continue;
        }
        if (!isalnum((unsigned char)c) && c != '-')
            return false;
        if (!isdigit((unsigned char)c))
            all_digits = false;
    }
    return false;
}

int policy_parse_server_name(loader *L, void *obj, const policy_key_def *k, const char *v)
{
    char q[64];
    uint8_t a[16];
    if (v[0] == '[') {
        policy_key_fail(L, k, "'%s': write an IPv6 address without brackets (expected %s)",
                        policy_shown(v, q, sizeof q), k->expected);
        return -1;
    }
    if (inet_pton(AF_INET, v, a) != 1 && inet_pton(AF_INET6, v, a) != 1 && !valid_dns_name(v)) {
        policy_key_fail(L, k, "'%s' is not a DNS name or an IP address (expected labels of "
                        "letters, digits and '-', 1..63 bytes each, 253 in all, or an IP literal)",
                        policy_shown(v, q, sizeof q));
        return -1;
    }
    return keep_text(L, obj, k, v);
}

static int check_version(loader *L, void *obj, const policy_key_def *k, char *entry, size_t index)
{
    (void)obj;
    (void)index;
    if (choice(entry, version_names, sizeof version_names / sizeof *version_names) >= 0)
        return 0;
    return not_a(L, k, entry, "a version");
}

int policy_parse_versions(loader *L, void *obj, const policy_key_def *k, const char *v)
{
    if (for_each_entry(L, obj, k, v, check_version) < 0 || no_repeats(L, k, v) < 0)
        return -1;
    return keep_text(L, obj, k, v);
}

static int check_alpn(loader *L, void *obj, const policy_key_def *k, char *entry, size_t index)
{
    (void)obj;
    size_t n = strlen(entry);
    if (n > 255) {
        policy_key_fail(L, k, "protocol %zu is %zu bytes long (expected 1..255 bytes each)",
                        index + 1, n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isgraph((unsigned char)entry[i])) {
            policy_key_fail(L, k, "protocol %zu has a space or control byte at byte %zu (expected "
                            "printable names)", index + 1, i + 1);
            return -1;
        }
    }
    return 0;
}

int policy_parse_alpn(loader *L, void *obj, const policy_key_def *k, const char *v)
{
    if (strlen(v) > 65000) {
        policy_key_fail(L, k, "the list is too long for one extension");
        return -1;
    }
    if (for_each_entry(L, obj, k, v, check_alpn) < 0 || no_repeats(L, k, v) < 0)
        return -1;
    return keep_text(L, obj, k, v);
}
