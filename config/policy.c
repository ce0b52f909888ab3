/* The policy file: read with inih, every value validated, rules checked as a
 * whole. The first error stops loading and names file, line, section and key.
 *
 * Debian's inih passes no line numbers to the handler and cuts lines at
 * INI_MAX_LINE (200) bytes, too short for base64 DER. So inih reads through
 * our own reader (ini_parse_stream): the reader counts lines, sees section
 * headers (which inih does not report), catches syntax errors before inih
 * does, and hands an over-long "key = value" line to inih as "key=\1" while
 * keeping the value aside for the handler. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy_int.h"

#define MAX_LINE_BYTES (1024 * 1024)
#define MAX_NAME_BYTES 64
#define LONG_VALUE_MARK "\x01"

static const char *const key_names[POLICY_KEY_COUNT] = {
    [POLICY_KEY_DIRECTION] = "direction",
    [POLICY_KEY_MATCH] = "match",
    [POLICY_KEY_VERIFY] = "verify",
    [POLICY_KEY_FAIL_IF_NO_PEER_CERT] = "fail_if_no_peer_cert",
    [POLICY_KEY_DEPTH] = "depth",
    [POLICY_KEY_CERT] = "cert",
    [POLICY_KEY_CERTFILE] = "certfile",
    [POLICY_KEY_KEY] = "key",
    [POLICY_KEY_KEYFILE] = "keyfile",
    [POLICY_KEY_PASSWORD] = "password",
    [POLICY_KEY_CACERTS] = "cacerts",
    [POLICY_KEY_CACERTFILE] = "cacertfile",
    [POLICY_KEY_DH] = "dh",
    [POLICY_KEY_DHFILE] = "dhfile",
    [POLICY_KEY_CIPHERS] = "ciphers",
    [POLICY_KEY_SECURE_RENEGOTIATE] = "secure_renegotiate",
    [POLICY_KEY_REUSE_SESSIONS] = "reuse_sessions",
    [POLICY_KEY_SERVER_NAME] = "server_name",
    [POLICY_KEY_VERSIONS] = "versions",
    [POLICY_KEY_ALPN] = "alpn",
};

/* What each key takes, for "(expected ...)". */
static const char *const key_expected[POLICY_KEY_COUNT] = {
    [POLICY_KEY_DIRECTION] = "connect or accept",
    [POLICY_KEY_MATCH] = "ADDR:PORT entries, comma separated",
    [POLICY_KEY_VERIFY] = "verify_peer or verify_none",
    [POLICY_KEY_FAIL_IF_NO_PEER_CERT] = "true or false (also yes/no, on/off, 1/0)",
    [POLICY_KEY_DEPTH] = "0..100",
    [POLICY_KEY_CERT] = "base64 DER",
    [POLICY_KEY_CERTFILE] = "a file path",
    [POLICY_KEY_KEY] = "base64 DER",
    [POLICY_KEY_KEYFILE] = "a file path",
    [POLICY_KEY_PASSWORD] = "the private key's password",
    [POLICY_KEY_CACERTS] = "base64 DER certificates, comma separated",
    [POLICY_KEY_CACERTFILE] = "a file path",
    [POLICY_KEY_DH] = "base64 DER",
    [POLICY_KEY_DHFILE] = "a file path",
    [POLICY_KEY_CIPHERS] = "cipher names separated by ':' or ','",
    [POLICY_KEY_SECURE_RENEGOTIATE] = "true or false (also yes/no, on/off, 1/0)",
    [POLICY_KEY_REUSE_SESSIONS] = "true or false (also yes/no, on/off, 1/0)",
    [POLICY_KEY_SERVER_NAME] = "a DNS name or an IP address",
    [POLICY_KEY_VERSIONS] = "a comma list of sslv3, tlsv1, tlsv1.1, tlsv1.2, tlsv1.3",
    [POLICY_KEY_ALPN] = "a comma list of protocol names, e.g. h2, http/1.1",
};

enum { G_LOG, G_LOG_LEVEL, G_KEYLOG, G_TIMEOUT, G_COUNT };
static const char *const global_names[G_COUNT] = {"log", "log_level", "keylog",
                                                  "handshake_timeout"};
static const char *const level_names[] = {"error", "warning", "info", "debug"};
static const char *const version_names[] = {"sslv3", "tlsv1", "tlsv1.1", "tlsv1.2", "tlsv1.3"};

typedef struct loader {
    const char *path;  /* as given */
    char *dir;         /* absolute folder of the policy file */
    FILE *f;
    char *line;        /* getline buffer */
    size_t cap;
    int lineno;
    char *long_value;  /* value of the current over-long line */
    policy *p;
    enum { SEC_NONE, SEC_GLOBAL, SEC_RULE } sec;
    int global_line;   /* line of [global], 0 if not seen */
    bool failed;
    int fail_line;
    char *err;
    size_t err_len;
} loader;

const char *policy_key_name(policy_key k)
{
    return (unsigned)k < POLICY_KEY_COUNT ? key_names[k] : "unknown";
}

/* ---- errors ------------------------------------------------------------- */

static void set_error(loader *L, int line, const char *section, const char *key, const char *msg)
{
    L->failed = true;
    L->fail_line = line;
    if (!L->err || L->err_len == 0)
        return;
    if (line > 0 && section && key)
        snprintf(L->err, L->err_len, "%s:%d: [%s] %s: %s", L->path, line, section, key, msg);
    else if (line > 0 && section)
        snprintf(L->err, L->err_len, "%s:%d: [%s]: %s", L->path, line, section, msg);
    else if (line > 0 && key)
        snprintf(L->err, L->err_len, "%s:%d: %s: %s", L->path, line, key, msg);
    else if (line > 0)
        snprintf(L->err, L->err_len, "%s:%d: %s", L->path, line, msg);
    else
        snprintf(L->err, L->err_len, "%s: %s", L->path, msg);
}

__attribute__((format(printf, 5, 6))) static void fail(loader *L, int line, const char *section,
                                                       const char *key, const char *fmt, ...)
{
    if (L->failed)
        return; /* the first error is the one reported */
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    set_error(L, line, section, key, msg);
}

/* A value quoted in an error: short and printable, whatever the file held. */
static const char *shown(const char *v, char *buf, size_t len)
{
    size_t n = strlen(v), max = len - 1;
    bool cut = n > max;
    if (cut)
        n = max - 3;
    for (size_t i = 0; i < n; i++)
        buf[i] = isprint((unsigned char)v[i]) ? v[i] : '?';
    if (cut) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}

/* ---- small parsers ------------------------------------------------------ */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static int parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

static int parse_int(const char *v, long min, long max, int *out)
{
    size_t n = strlen(v);
    if (n == 0 || n > 9 || strspn(v, "0123456789") != n)
        return -1;
    long x = strtol(v, NULL, 10);
    if (x < min || x > max)
        return -1;
    *out = (int)x;
    return 0;
}

/* One DER SEQUENCE spanning exactly the decoded bytes: catches base64 of
 * anything that is not a certificate, key or DH parameter blob. */
static bool der_one_sequence(const uint8_t *d, size_t n)
{
    if (n < 2 || d[0] != 0x30)
        return false;
    size_t hdr = 2, len = d[1];
    if (d[1] & 0x80) {
        size_t nb = d[1] & 0x7f;
        if (nb == 0 || nb > 4 || n < 2 + nb)
            return false;
        len = 0;
        for (size_t i = 0; i < nb; i++)
            len = len << 8 | d[2 + i];
        hdr += nb;
    }
    return hdr + len == n;
}

/* Splits a comma list in place; calls fn for each trimmed entry. */
typedef int (*entry_fn)(loader *L, policy_rule *r, policy_key k, char *entry, size_t index);

static int for_each_entry(loader *L, policy_rule *r, policy_key k, const char *value, entry_fn fn)
{
    char *copy = strdup(value);
    if (!copy) {
        fail(L, L->lineno, r->name, key_names[k], "out of memory");
        return -1;
    }
    int rc = 0;
    size_t index = 0;
    char *s = copy;
    for (;;) {
        char *comma = strchr(s, ',');
        if (comma)
            *comma = '\0';
        char *e = trim(s);
        if (*e == '\0') {
            fail(L, L->lineno, r->name, key_names[k], "entry %zu is empty (expected %s)",
                 index + 1, key_expected[k]);
            rc = -1;
            break;
        }
        if (fn(L, r, k, e, index++) < 0) {
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

/* ---- paths -------------------------------------------------------------- */

static char *resolve_path(loader *L, const char *v)
{
    char *out = NULL;
    if (v[0] == '/')
        out = strdup(v);
    else if (asprintf(&out, "%s/%s", strcmp(L->dir, "/") == 0 ? "" : L->dir, v) < 0)
        out = NULL;
    return out;
}

/* A file the shim will read: must exist, be readable and be a regular file. */
static char *readable_file(loader *L, const char *section, const char *key, const char *v)
{
    char *path = resolve_path(L, v);
    if (!path) {
        fail(L, L->lineno, section, key, "out of memory");
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        fail(L, L->lineno, section, key, "cannot read %s: %s (expected a readable file)", path,
             strerror(errno));
        free(path);
        return NULL;
    }
    struct stat st;
    int rc = fstat(fd, &st);
    int saved = errno;
    close(fd);
    if (rc < 0 || !S_ISREG(st.st_mode)) {
        fail(L, L->lineno, section, key, "cannot read %s: %s (expected a readable file)", path,
             rc < 0 ? strerror(saved) : "not a regular file");
        free(path);
        return NULL;
    }
    return path;
}

/* A file the shim will create (log, keylog): its folder must exist. */
static char *writable_path(loader *L, const char *key, const char *v)
{
    char *path = resolve_path(L, v);
    if (!path) {
        fail(L, L->lineno, "global", key, "out of memory");
        return NULL;
    }
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        fail(L, L->lineno, "global", key, "%s is a folder (expected a file path)", path);
        free(path);
        return NULL;
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
        fail(L, L->lineno, "global", key, "cannot create a file in %s: %s (expected a path in an "
             "existing folder)", folder, why);
        free(path);
        return NULL;
    }
    *slash = '/';
    return path;
}

/* ---- [global] ----------------------------------------------------------- */

static int rule_key_index(const char *name);

static void global_key(loader *L, const char *name, const char *value)
{
    policy *p = L->p;
    char q[64];
    int k = -1;
    for (int i = 0; i < G_COUNT; i++)
        if (strcmp(name, global_names[i]) == 0)
            k = i;
    if (k < 0) {
        if (rule_key_index(name) >= 0)
            fail(L, L->lineno, "global", name,
                 "belongs in a rule section, not in [global] (expected log, log_level, keylog or "
                 "handshake_timeout)");
        else
            fail(L, L->lineno, "global", name,
                 "unknown key (expected log, log_level, keylog or handshake_timeout)");
        return;
    }
    if (p->global_key_line[k]) {
        fail(L, L->lineno, "global", name, "given twice (first on line %d)", p->global_key_line[k]);
        return;
    }
    p->global_key_line[k] = L->lineno;
    switch (k) {
    case G_LOG:
        if (*value == '\0') {
            fail(L, L->lineno, "global", name, "empty value (expected stderr, syslog or a file path)");
            return;
        }
        free(p->log);
        p->log = strcmp(value, "stderr") == 0 || strcmp(value, "syslog") == 0
                     ? strdup(value)
                     : writable_path(L, name, value);
        if (!p->log)
            fail(L, L->lineno, "global", name, "out of memory");
        return;
    case G_LOG_LEVEL:
        for (size_t i = 0; i < 4; i++) {
            if (strcmp(value, level_names[i]) == 0) {
                p->log_level = (policy_log_level)i;
                return;
            }
        }
        fail(L, L->lineno, "global", name,
             "'%s' is not a log level (expected error, warning, info or debug)",
             shown(value, q, sizeof q));
        return;
    case G_KEYLOG:
        if (*value == '\0') {
            fail(L, L->lineno, "global", name, "empty value (expected a file path)");
            return;
        }
        p->keylog = writable_path(L, name, value);
        return;
    case G_TIMEOUT:
        if (parse_int(value, 1, 3600000, &p->handshake_timeout_ms) < 0)
            fail(L, L->lineno, "global", name,
                 "'%s' is not a timeout (expected milliseconds, 1..3600000)",
                 shown(value, q, sizeof q));
        return;
    }
}

/* ---- rule keys ---------------------------------------------------------- */

static int rule_key_index(const char *name)
{
    for (int i = 0; i < POLICY_KEY_COUNT; i++)
        if (strcmp(name, key_names[i]) == 0)
            return i;
    return -1;
}

static int add_match(loader *L, policy_rule *r, policy_key k, char *entry, size_t index)
{
    (void)index;
    char why[512];
    policy_match m;
    if (policy_match_parse(entry, &m, why, sizeof why) < 0) {
        fail(L, L->lineno, r->name, key_names[k], "%s", why);
        return -1;
    }
    policy_match *grown = realloc(r->matches, (r->n_matches + 1) * sizeof *grown);
    if (!grown) {
        free(m.host_glob);
        fail(L, L->lineno, r->name, key_names[k], "out of memory");
        return -1;
    }
    r->matches = grown;
    r->matches[r->n_matches++] = m;
    return 0;
}

static int decode_der(loader *L, policy_rule *r, policy_key k, const char *v, policy_bytes *out,
                      size_t index)
{
    char where[32] = "";
    if (k == POLICY_KEY_CACERTS)
        snprintf(where, sizeof where, "certificate %zu: ", index + 1);
    size_t bad;
    int rc = policy_b64_decode(v, strlen(v), out, &bad);
    if (rc == -2) {
        fail(L, L->lineno, r->name, key_names[k], "out of memory");
        return -1;
    }
    if (rc < 0) {
        if (bad >= strlen(v))
            fail(L, L->lineno, r->name, key_names[k],
                 "%snot base64: the text ends mid-group (expected %s, length a multiple of 4)",
                 where, key_expected[k]);
        else
            fail(L, L->lineno, r->name, key_names[k],
                 "%snot base64: byte %zu ('%c') is wrong there (expected %s)", where, bad + 1,
                 isprint((unsigned char)v[bad]) ? v[bad] : '?', key_expected[k]);
        return -1;
    }
    if (!der_one_sequence(out->data, out->len)) {
        fail(L, L->lineno, r->name, key_names[k],
             "%sdecodes to %zu bytes that are not one DER structure (expected %s, e.g. from "
             "`openssl x509 -outform DER | base64 -w0`)",
             where, out->len, key_expected[k]);
        free(out->data);
        out->data = NULL;
        return -1;
    }
    return 0;
}

static int add_cacert(loader *L, policy_rule *r, policy_key k, char *entry, size_t index)
{
    policy_bytes *grown = realloc(r->cacerts, (r->n_cacerts + 1) * sizeof *grown);
    if (!grown) {
        fail(L, L->lineno, r->name, key_names[k], "out of memory");
        return -1;
    }
    r->cacerts = grown;
    if (decode_der(L, r, k, entry, &r->cacerts[r->n_cacerts], index) < 0)
        return -1;
    r->n_cacerts++;
    return 0;
}

static int check_version(loader *L, policy_rule *r, policy_key k, char *entry, size_t index)
{
    (void)index;
    char q[64];
    for (size_t i = 0; i < sizeof version_names / sizeof *version_names; i++) {
        if (strcmp(entry, version_names[i]) == 0)
            return 0;
    }
    fail(L, L->lineno, r->name, key_names[k], "'%s' is not a version (expected %s)",
         shown(entry, q, sizeof q), key_expected[k]);
    return -1;
}

static int check_alpn(loader *L, policy_rule *r, policy_key k, char *entry, size_t index)
{
    size_t n = strlen(entry);
    if (n > 255) {
        fail(L, L->lineno, r->name, key_names[k],
             "protocol %zu is %zu bytes long (expected 1..255 bytes each)", index + 1, n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isgraph((unsigned char)entry[i])) {
            fail(L, L->lineno, r->name, key_names[k],
                 "protocol %zu has a space or control byte at byte %zu (expected printable names)",
                 index + 1, i + 1);
            return -1;
        }
    }
    return 0;
}

/* Versions listed twice: compared after splitting, so "tlsv1" is not found in
 * "tlsv1.2". */
static int no_repeats(loader *L, policy_rule *r, policy_key k, const char *value)
{
    char *copy = strdup(value);
    if (!copy) {
        fail(L, L->lineno, r->name, key_names[k], "out of memory");
        return -1;
    }
    char *items[64];
    size_t n = 0;
    for (char *save = NULL, *t = strtok_r(copy, ",", &save); t && n < 64;
         t = strtok_r(NULL, ",", &save))
        items[n++] = trim(t);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(items[i], items[j]) == 0) {
                char q[64];
                fail(L, L->lineno, r->name, key_names[k], "'%s' is listed twice",
                     shown(items[i], q, sizeof q));
                rc = -1;
                break;
            }
        }
    }
    free(copy);
    return rc;
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

static bool valid_text(const char *v, const char *extra)
{
    for (; *v; v++)
        if (!isalnum((unsigned char)*v) && !strchr(extra, *v))
            return false;
    return true;
}

static policy_rule *cur_rule(loader *L)
{
    return &L->p->rules[L->p->n_rules - 1];
}

static void rule_key(loader *L, const char *name, const char *value)
{
    policy_rule *r = cur_rule(L);
    char q[64];
    if (strcmp(name, "verify_fun") == 0 || strcmp(name, "reuse_session") == 0) {
        fail(L, L->lineno, r->name, name,
             "is a callback: it exists only in the engine API (tls_options), not in a policy file");
        return;
    }
    int ki = rule_key_index(name);
    if (ki < 0) {
        for (int i = 0; i < G_COUNT; i++) {
            if (strcmp(name, global_names[i]) == 0) {
                fail(L, L->lineno, r->name, name, "belongs in [global], not in a rule section");
                return;
            }
        }
        int lower = -1;
        for (int i = 0; i < POLICY_KEY_COUNT; i++)
            if (strcasecmp(name, key_names[i]) == 0)
                lower = i;
        if (lower >= 0)
            fail(L, L->lineno, r->name, name, "unknown key (keys are lower case: %s)",
                 key_names[lower]);
        else
            fail(L, L->lineno, r->name, name,
                 "unknown key (expected direction, match, verify, fail_if_no_peer_cert, depth, "
                 "cert, certfile, key, keyfile, password, cacerts, cacertfile, dh, dhfile, "
                 "ciphers, secure_renegotiate, reuse_sessions, server_name, versions or alpn)");
        return;
    }
    policy_key k = (policy_key)ki;
    if (r->key_line[k]) {
        fail(L, L->lineno, r->name, name, "given twice (first on line %d)", r->key_line[k]);
        return;
    }
    r->key_line[k] = L->lineno;
    if (*value == '\0') {
        fail(L, L->lineno, r->name, name, "empty value (expected %s)", key_expected[k]);
        return;
    }
    const char *bad = NULL; /* set: "'value' is not <bad>" */
    char **str = NULL;      /* set: keep the value as text */
    switch (k) {
    case POLICY_KEY_DIRECTION:
        if (strcmp(value, "connect") == 0)
            r->direction = POLICY_CONNECT;
        else if (strcmp(value, "accept") == 0)
            r->direction = POLICY_ACCEPT;
        else
            bad = "connect or accept";
        break;
    case POLICY_KEY_MATCH:
        for_each_entry(L, r, k, value, add_match);
        return;
    case POLICY_KEY_VERIFY:
        if (strcmp(value, "verify_peer") == 0)
            r->verify_peer = true;
        else if (strcmp(value, "verify_none") == 0)
            r->verify_peer = false;
        else
            bad = "verify_peer or verify_none";
        break;
    case POLICY_KEY_FAIL_IF_NO_PEER_CERT:
        if (parse_bool(value, &r->fail_if_no_peer_cert) < 0)
            bad = "a boolean";
        break;
    case POLICY_KEY_SECURE_RENEGOTIATE:
        if (parse_bool(value, &r->secure_renegotiate) < 0)
            bad = "a boolean";
        break;
    case POLICY_KEY_REUSE_SESSIONS:
        if (parse_bool(value, &r->reuse_sessions) < 0)
            bad = "a boolean";
        break;
    case POLICY_KEY_DEPTH:
        if (parse_int(value, 0, 100, &r->depth) < 0)
            bad = "a depth";
        break;
    case POLICY_KEY_CERT:
        decode_der(L, r, k, value, &r->cert, 0);
        return;
    case POLICY_KEY_KEY:
        decode_der(L, r, k, value, &r->key, 0);
        return;
    case POLICY_KEY_DH:
        decode_der(L, r, k, value, &r->dh, 0);
        return;
    case POLICY_KEY_CACERTS:
        for_each_entry(L, r, k, value, add_cacert);
        return;
    case POLICY_KEY_CERTFILE:
        r->certfile = readable_file(L, r->name, name, value);
        return;
    case POLICY_KEY_KEYFILE:
        r->keyfile = readable_file(L, r->name, name, value);
        return;
    case POLICY_KEY_CACERTFILE:
        r->cacertfile = readable_file(L, r->name, name, value);
        return;
    case POLICY_KEY_DHFILE:
        r->dhfile = readable_file(L, r->name, name, value);
        return;
    case POLICY_KEY_PASSWORD:
        if (strlen(value) > 1023)
            fail(L, L->lineno, r->name, name, "longer than 1023 bytes (expected %s)",
                 key_expected[k]);
        else
            str = &r->password;
        break;
    case POLICY_KEY_CIPHERS:
        if (strlen(value) > 8192 || !valid_text(value, "-_+!@=.:, "))
            bad = "a cipher list";
        else
            str = &r->ciphers;
        break;
    case POLICY_KEY_SERVER_NAME: {
        uint8_t a[16];
        if (value[0] == '[')
            fail(L, L->lineno, r->name, name,
                 "'%s': write an IPv6 address without brackets (expected %s)",
                 shown(value, q, sizeof q), key_expected[k]);
        else if (inet_pton(AF_INET, value, a) == 1 || inet_pton(AF_INET6, value, a) == 1 ||
                 valid_dns_name(value))
            str = &r->server_name;
        else
            fail(L, L->lineno, r->name, name,
                 "'%s' is not a DNS name or an IP address (expected labels of letters, digits "
                 "and '-', 1..63 bytes each, 253 in all, or an IP literal)",
                 shown(value, q, sizeof q));
        break;
    }
    case POLICY_KEY_VERSIONS:
        if (for_each_entry(L, r, k, value, check_version) == 0 && no_repeats(L, r, k, value) == 0)
            str = &r->versions;
        break;
    case POLICY_KEY_ALPN:
        if (strlen(value) > 65000)
            fail(L, L->lineno, r->name, name, "the list is too long for one extension");
        else if (for_each_entry(L, r, k, value, check_alpn) == 0 &&
                 no_repeats(L, r, k, value) == 0)
            str = &r->alpn;
        break;
    case POLICY_KEY_COUNT:
        break;
    }
    if (bad && strcmp(bad, key_expected[k]) == 0)
        fail(L, L->lineno, r->name, name, "'%s' is not %s", shown(value, q, sizeof q), bad);
    else if (bad)
        fail(L, L->lineno, r->name, name, "'%s' is not %s (expected %s)",
             shown(value, q, sizeof q), bad, key_expected[k]);
    if (str && !L->failed) {
        *str = strdup(value);
        if (!*str)
            fail(L, L->lineno, r->name, name, "out of memory");
    }
}

/* ---- whole-rule checks -------------------------------------------------- */

static const char *const pairs[][2] = {{"cert", "certfile"}, {"key", "keyfile"}, {"dh", "dhfile"}};
static const policy_key pair_keys[][2] = {{POLICY_KEY_CERT, POLICY_KEY_CERTFILE},
                                          {POLICY_KEY_KEY, POLICY_KEY_KEYFILE},
                                          {POLICY_KEY_DH, POLICY_KEY_DHFILE}};

static void check_reachable(loader *L, policy_rule *r)
{
    policy *p = L->p;
    size_t me = (size_t)(r - p->rules);
    for (size_t i = 0; i < me; i++) {
        const policy_rule *y = &p->rules[i];
        if (y->direction != r->direction)
            continue;
        for (size_t j = 0; j < y->n_matches; j++) {
            if (policy_match_is_everything(&y->matches[j])) {
                fail(L, r->key_line[POLICY_KEY_MATCH], r->name, "match",
                     "rule [%s] can never match: [%s] line %d matches everything first", r->name,
                     y->name, y->line);
                return;
            }
        }
    }
    /* Each entry covered by some earlier rule: nothing is left for this one. */
    const policy_rule *first_cover = NULL;
    bool several = false;
    for (size_t m = 0; m < r->n_matches; m++) {
        const policy_rule *cover = NULL;
        for (size_t i = 0; i < me && !cover; i++) {
            const policy_rule *y = &p->rules[i];
            if (y->direction != r->direction)
                continue;
            for (size_t j = 0; j < y->n_matches && !cover; j++)
                if (policy_match_covers(&y->matches[j], &r->matches[m]))
                    cover = y;
        }
        if (!cover)
            return;
        if (first_cover && cover != first_cover)
            several = true;
        if (!first_cover)
            first_cover = cover;
    }
    if (first_cover)
        fail(L, r->key_line[POLICY_KEY_MATCH], r->name, "match",
             "rule [%s] can never match: [%s] line %d%s matches all of its addresses first",
             r->name, first_cover->name, first_cover->line, several ? " and later rules" : "");
}

static void finish_rule(loader *L, policy_rule *r)
{
    const int *kl = r->key_line;
    const char *n = r->name;
    if (!kl[POLICY_KEY_DIRECTION]) {
        fail(L, r->line, n, NULL, "missing direction (expected direction = connect or accept)");
        return;
    }
    if (!kl[POLICY_KEY_MATCH]) {
        fail(L, r->line, n, NULL, "missing match (expected match = ADDR:PORT, e.g. *:443)");
        return;
    }
    bool connect = r->direction == POLICY_CONNECT;
    for (size_t i = 0; !connect && i < r->n_matches; i++) {
        if (r->matches[i].kind == POLICY_ADDR_HOST) {
            /* A listening socket has no host name: such an entry could never match. */
            fail(L, kl[POLICY_KEY_MATCH], n, "match",
                 "'%s' can never match: host names only apply to connect rules (expected * or "
                 "an address for an accept rule)",
                 r->matches[i].host_glob);
            return;
        }
    }
    if (!kl[POLICY_KEY_VERIFY])
        r->verify_peer = connect; /* secure by default: a client always verifies */
    for (size_t i = 0; i < 3; i++) {
        int a = kl[pair_keys[i][0]], b = kl[pair_keys[i][1]];
        if (a && b) {
            fail(L, a > b ? a : b, n, pairs[i][a > b ? 0 : 1],
                 "%s is set too on line %d (expected one of %s or %s)", pairs[i][a > b ? 1 : 0],
                 a > b ? b : a, pairs[i][0], pairs[i][1]);
            return;
        }
    }
    bool has_cert = kl[POLICY_KEY_CERT] || kl[POLICY_KEY_CERTFILE];
    if (!connect && !has_cert) {
        fail(L, r->line, n, NULL, "an accept rule needs certfile or cert");
        return;
    }
    if (kl[POLICY_KEY_CERT] && !kl[POLICY_KEY_KEY] && !kl[POLICY_KEY_KEYFILE]) {
        fail(L, kl[POLICY_KEY_CERT], n, "cert",
             "a DER certificate holds no private key (expected key or keyfile too)");
        return;
    }
    int key_at = kl[POLICY_KEY_KEY] ? kl[POLICY_KEY_KEY] : kl[POLICY_KEY_KEYFILE];
    if (key_at && !has_cert) {
        fail(L, key_at, n, kl[POLICY_KEY_KEY] ? "key" : "keyfile",
             "a private key without a certificate (expected certfile or cert too)");
        return;
    }
    if (connect) {
        static const policy_key server_only[] = {POLICY_KEY_FAIL_IF_NO_PEER_CERT, POLICY_KEY_DH,
                                                 POLICY_KEY_DHFILE};
        for (size_t i = 0; i < 3; i++) {
            if (kl[server_only[i]]) {
                fail(L, kl[server_only[i]], n, key_names[server_only[i]],
                     "only applies to accept rules (this rule has direction = connect)");
                return;
            }
        }
    } else if (kl[POLICY_KEY_SERVER_NAME]) {
        fail(L, kl[POLICY_KEY_SERVER_NAME], n, "server_name",
             "only applies to connect rules (this rule has direction = accept)");
        return;
    }
    if (r->fail_if_no_peer_cert && !r->verify_peer) {
        fail(L, kl[POLICY_KEY_FAIL_IF_NO_PEER_CERT], n, "fail_if_no_peer_cert",
             "true needs verify = verify_peer (verify is verify_none%s)",
             kl[POLICY_KEY_VERIFY] ? "" : ", the default for accept rules");
        return;
    }
    /* Only connect rules: DESIGN.md's own [web] example asks for client
     * certificates without naming a CA, so accept rules are left to the engine. */
    if (connect && r->verify_peer && !kl[POLICY_KEY_CACERTFILE] && !kl[POLICY_KEY_CACERTS]) {
        if (kl[POLICY_KEY_VERIFY])
            fail(L, kl[POLICY_KEY_VERIFY], n, "verify",
                 "verify_peer needs cacertfile or cacerts to verify against (expected cacertfile "
                 "= PATH, or verify = verify_none)");
        else
            fail(L, r->line, n, NULL,
                 "a connect rule verifies the server by default and needs cacertfile or cacerts "
                 "(expected cacertfile = PATH, or verify = verify_none)");
        return;
    }
    check_reachable(L, r);
}

/* ---- sections and the reader -------------------------------------------- */

static void finish_section(loader *L)
{
    if (L->sec == SEC_RULE && !L->failed)
        finish_rule(L, cur_rule(L));
}

static void start_section(loader *L, const char *name)
{
    finish_section(L);
    if (L->failed)
        return;
    policy *p = L->p;
    if (strcasecmp(name, "global") == 0) {
        if (L->global_line) {
            fail(L, L->lineno, NULL, NULL, "[%s] is given twice (first on line %d)", name,
                 L->global_line);
            return;
        }
        L->global_line = L->lineno;
        L->sec = SEC_GLOBAL;
        return;
    }
    for (size_t i = 0; i < p->n_rules; i++) {
        if (strcasecmp(p->rules[i].name, name) == 0) {
            fail(L, L->lineno, NULL, NULL,
                 "[%s] is given twice (first on line %d; each rule needs its own name)", name,
                 p->rules[i].line);
            return;
        }
    }
    policy_rule *grown = realloc(p->rules, (p->n_rules + 1) * sizeof *grown);
    if (!grown) {
        fail(L, L->lineno, NULL, NULL, "out of memory");
        return;
    }
    p->rules = grown;
    policy_rule *r = &p->rules[p->n_rules];
    memset(r, 0, sizeof *r);
    r->name = strdup(name);
    if (!r->name) {
        fail(L, L->lineno, NULL, NULL, "out of memory");
        return;
    }
    p->n_rules++;
    r->line = L->lineno;
    r->depth = 1;
    r->secure_renegotiate = true;
    r->reuse_sessions = true;
    L->sec = SEC_RULE;
}

/* inih's own rule: stop at any of `chars`, or at an inline ';' after a space. */
static char *find_sep_or_comment(char *s, const char *chars)
{
    bool was_space = false;
    while (*s && (!chars || !strchr(chars, *s)) && !(was_space && *s == ';')) {
        was_space = isspace((unsigned char)*s);
        s++;
    }
    return s;
}

static void section_line(loader *L, char *s)
{
    char *close = strchr(s, ']');
    if (!close) {
        fail(L, L->lineno, NULL, NULL, "no ']' after the section name (expected [NAME])");
        return;
    }
    char *rest = close + 1;
    while (isspace((unsigned char)*rest))
        rest++;
    if (*rest && *rest != ';' && *rest != '#') {
        fail(L, L->lineno, NULL, NULL, "text after ']' (expected [NAME] alone on its line)");
        return;
    }
    *close = '\0';
    const char *name = s + 1;
    size_t n = strlen(name);
    char q[80];
    if (n == 0 || n > MAX_NAME_BYTES || !valid_text(name, "_.-:@+")) {
        fail(L, L->lineno, NULL, NULL,
             "'[%s]' is not a section name (expected 1..%d letters, digits or _ . - : @ +)",
             shown(name, q, sizeof q), MAX_NAME_BYTES);
        return;
    }
    start_section(L, name);
    *close = ']';
}

static char *reader(char *str, int num, void *stream)
{
    loader *L = stream;
    free(L->long_value);
    L->long_value = NULL;
    if (L->failed)
        return NULL;
    errno = 0;
    ssize_t n = getline(&L->line, &L->cap, L->f);
    if (n < 0) {
        if (ferror(L->f))
            fail(L, L->lineno + 1, NULL, NULL, "cannot read: %s", strerror(errno ? errno : EIO));
        return NULL;
    }
    L->lineno++;
    if (memchr(L->line, '\0', (size_t)n)) {
        fail(L, L->lineno, NULL, NULL, "a NUL byte (expected text)");
        return NULL;
    }
    if (n > MAX_LINE_BYTES) {
        fail(L, L->lineno, NULL, NULL, "line is longer than %d bytes", MAX_LINE_BYTES);
        return NULL;
    }
    char *s = L->line;
    if (L->lineno == 1 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        s += 3;
    /* Leading space stripped: indentation is allowed, continuation lines are not. */
    s = trim(s);
    if (*s == '[') {
        section_line(L, s);
    } else if (*s && *s != ';' && *s != '#') {
        char *sep = find_sep_or_comment(s, "=:");
        if (*sep != '=' && *sep != ':') {
            fail(L, L->lineno, NULL, NULL,
                 "expected KEY = VALUE, [SECTION] or a comment (starting with ; or #)");
            return NULL;
        }
        if (sep == s) {
            fail(L, L->lineno, NULL, NULL, "no key before '%c' (expected KEY = VALUE)", *sep);
            return NULL;
        }
        if (strlen(s) + 1 >= (size_t)num) {
            /* Too long for inih: the key goes through inih, the value aside. */
            char *key_end = sep;
            while (key_end > s && isspace((unsigned char)key_end[-1]))
                key_end--;
            size_t klen = (size_t)(key_end - s);
            if (klen + sizeof LONG_VALUE_MARK + 1 > (size_t)num || klen > MAX_NAME_BYTES) {
                fail(L, L->lineno, NULL, NULL, "key longer than %d bytes", MAX_NAME_BYTES);
                return NULL;
            }
            char *v = sep + 1;
            while (isspace((unsigned char)*v))
                v++;
            *find_sep_or_comment(v, NULL) = '\0';
            L->long_value = strdup(trim(v));
            if (!L->long_value) {
                fail(L, L->lineno, NULL, NULL, "out of memory");
                return NULL;
            }
            memcpy(str, s, klen);
            memcpy(str + klen, "=" LONG_VALUE_MARK, sizeof "=" LONG_VALUE_MARK);
            return str;
        }
    }
    if (L->failed)
        return NULL;
    /* Fits: strlen(s) + 1 < num was checked for key lines; headers and comments may be cut. */
    snprintf(str, (size_t)num, "%s", *s == ';' || *s == '#' ? "" : s);
    return str;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    loader *L = user;
    (void)section; /* sections are tracked by the reader */
    if (L->failed)
        return 1;
    if (L->long_value && strcmp(value, LONG_VALUE_MARK) == 0)
        value = L->long_value;
    switch (L->sec) {
    case SEC_NONE:
        fail(L, L->lineno, NULL, name,
             "is outside any section (expected [global] or a [RULE] header first)");
        break;
    case SEC_GLOBAL:
        global_key(L, name, value);
        break;
    case SEC_RULE:
        rule_key(L, name, value);
        break;
    }
    return 1;
}

/* ---- load / free -------------------------------------------------------- */

static char *policy_folder(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return NULL;
    char *slash = strrchr(copy, '/');
    const char *folder = ".";
    if (slash == copy)
        folder = "/";
    else if (slash) {
        *slash = '\0';
        folder = copy;
    }
    char *abs = realpath(folder, NULL);
    int saved = errno;
    free(copy);
    errno = saved;
    return abs;
}

int policy_load(const char *path, policy **out, char *err, size_t err_len)
{
    loader L = {.path = path ? path : "(null)", .err = err, .err_len = err_len};
    if (err && err_len)
        err[0] = '\0';
    if (out)
        *out = NULL;
    if (!path || !*path || !out) {
        fail(&L, 0, NULL, NULL, "cannot open: %s", strerror(EINVAL));
        return -1;
    }
    L.f = fopen(path, "re");
    if (!L.f) {
        fail(&L, 0, NULL, NULL, "cannot open: %s", strerror(errno));
        return -1;
    }
    struct stat st;
    int src = fstat(fileno(L.f), &st);
    if (src < 0 || S_ISDIR(st.st_mode)) {
        fail(&L, 0, NULL, NULL, "cannot open: %s", strerror(src < 0 ? errno : EISDIR));
        fclose(L.f);
        return -1;
    }
    L.dir = policy_folder(path);
    L.p = calloc(1, sizeof *L.p);
    if (!L.dir || !L.p) {
        fail(&L, 0, NULL, NULL, "cannot find its folder: %s", strerror(errno ? errno : ENOMEM));
        goto done;
    }
    policy *p = L.p;
    p->path = strdup(path);
    p->log = strdup("stderr");
    p->log_level = POLICY_LOG_INFO;
    p->handshake_timeout_ms = 10000;
    if (!p->path || !p->log) {
        fail(&L, 0, NULL, NULL, "out of memory");
        goto done;
    }
    int rc = ini_parse_stream(reader, &L, handler, &L);
    free(L.long_value);
    L.long_value = NULL;
    if (rc > 0 && (!L.failed || rc < L.fail_line)) {
        /* A syntax error inih saw and the reader did not (should not happen). */
        L.failed = false;
        fail(&L, rc, NULL, NULL, "expected KEY = VALUE, [SECTION] or a comment");
    } else if (rc == -2) {
        fail(&L, 0, NULL, NULL, "out of memory");
    }
    finish_section(&L);
    if (!L.failed && p->n_rules == 0)
        fail(&L, 0, NULL, NULL,
             "no rules (expected at least one [NAME] section with direction and match; an empty "
             "policy would upgrade no socket)");
done:
    free(L.line);
    free(L.dir);
    fclose(L.f);
    if (L.failed) {
        policy_free(L.p);
        return -1;
    }
    *out = L.p;
    return 0;
}

void policy_free(policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_rules; i++) {
        policy_rule *r = &p->rules[i];
        free(r->name);
        for (size_t j = 0; j < r->n_matches; j++)
            free(r->matches[j].host_glob);
        free(r->matches);
        free(r->certfile);
        free(r->keyfile);
        free(r->cacertfile);
        free(r->dhfile);
        free(r->password);
        free(r->ciphers);
        free(r->versions);
        free(r->alpn);
        free(r->server_name);
        free(r->cert.data);
        free(r->key.data);
        free(r->dh.data);
        for (size_t j = 0; j < r->n_cacerts; j++)
            free(r->cacerts[j].data);
        free(r->cacerts);
    }
    free(p->rules);
    free(p->path);
    free(p->log);
    free(p->keylog);
    free(p);
}

/* ---- print -------------------------------------------------------------- */

static void print_b64(FILE *out, const char *key, const policy_bytes *b)
{
    char *s = policy_b64_encode(b->data, b->len);
    fprintf(out, "%s = %s\n", key, s ? s : "(out of memory)");
    free(s);
}

static const char *dflt(int line)
{
    return line ? "" : "  ; default";
}

void policy_print(const policy *p, FILE *out)
{
    if (!p || !out)
        return;
    const int *g = p->global_key_line;
    fprintf(out, "; effective policy of %s\n[global]\n", p->path);
    fprintf(out, "log = %s%s\n", p->log, dflt(g[G_LOG]));
    fprintf(out, "log_level = %s%s\n", level_names[p->log_level], dflt(g[G_LOG_LEVEL]));
    if (p->keylog)
        fprintf(out, "keylog = %s\n", p->keylog);
    fprintf(out, "handshake_timeout = %d%s\n", p->handshake_timeout_ms, dflt(g[G_TIMEOUT]));
    for (size_t i = 0; i < p->n_rules; i++) {
        const policy_rule *r = &p->rules[i];
        const int *kl = r->key_line;
        bool accept = r->direction == POLICY_ACCEPT;
        fprintf(out, "\n[%s]\ndirection = %s\nmatch = ", r->name, accept ? "accept" : "connect");
        for (size_t j = 0; j < r->n_matches; j++) {
            char m[320];
            policy_match_format(&r->matches[j], m, sizeof m);
            fprintf(out, "%s%s", j ? ", " : "", m);
        }
        fprintf(out, "\nverify = %s%s\n", r->verify_peer ? "verify_peer" : "verify_none",
                dflt(kl[POLICY_KEY_VERIFY]));
        if (accept)
            fprintf(out, "fail_if_no_peer_cert = %s%s\n", r->fail_if_no_peer_cert ? "true" : "false",
                    dflt(kl[POLICY_KEY_FAIL_IF_NO_PEER_CERT]));
        fprintf(out, "depth = %d%s\n", r->depth, dflt(kl[POLICY_KEY_DEPTH]));
        if (r->certfile)
            fprintf(out, "certfile = %s\n", r->certfile);
        if (r->cert.data)
            print_b64(out, "cert", &r->cert);
        if (r->keyfile)
            fprintf(out, "keyfile = %s\n", r->keyfile);
        if (r->key.data)
            print_b64(out, "key", &r->key);
        if (r->password)
            fprintf(out, "password = %s\n", r->password);
        if (r->cacertfile)
            fprintf(out, "cacertfile = %s\n", r->cacertfile);
        if (r->n_cacerts) {
            fputs("cacerts = ", out);
            for (size_t j = 0; j < r->n_cacerts; j++) {
                char *s = policy_b64_encode(r->cacerts[j].data, r->cacerts[j].len);
                fprintf(out, "%s%s", j ? ", " : "", s ? s : "(out of memory)");
                free(s);
            }
            fputc('\n', out);
        }
        if (r->dhfile)
            fprintf(out, "dhfile = %s\n", r->dhfile);
        if (r->dh.data)
            print_b64(out, "dh", &r->dh);
        if (r->ciphers)
            fprintf(out, "ciphers = %s\n", r->ciphers);
        else
            fputs("; ciphers: the engine's defaults (forward-secret AEAD suites first)\n", out);
        if (r->versions)
            fprintf(out, "versions = %s\n", r->versions);
        else
            fputs("; versions: the engine's defaults (tlsv1.2, tlsv1.3)\n", out);
        if (r->alpn)
            fprintf(out, "alpn = %s\n", r->alpn);
        if (r->server_name)
            fprintf(out, "server_name = %s\n", r->server_name);
        fprintf(out, "secure_renegotiate = %s%s\n", r->secure_renegotiate ? "true" : "false",
                dflt(kl[POLICY_KEY_SECURE_RENEGOTIATE]));
        fprintf(out, "reuse_sessions = %s%s\n", r->reuse_sessions ? "true" : "false",
                dflt(kl[POLICY_KEY_REUSE_SESSIONS]));
    }
}
