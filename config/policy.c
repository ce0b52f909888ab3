/* The policy file: load (inih through ini.c, every key through the table of
 * keys.c, whole rules through rules.c), free, and print the effective rules
 * for `tlsshim --check`. The first error stops loading and names file, line,
 * section and key. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "policy_int.h"

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

static void failv(loader *L, int line, const char *section, const char *key, const char *fmt,
                  va_list ap)
{
    if (L->failed)
        return; /* the first error is the one reported */
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    set_error(L, line, section, key, msg);
}

void policy_fail(loader *L, int line, const char *section, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    failv(L, line, section, key, fmt, ap);
    va_end(ap);
}

void policy_key_fail(loader *L, const policy_key_def *k, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    failv(L, L->lineno, L->section, k->name, fmt, ap);
    va_end(ap);
}

const char *policy_shown(const char *v, char *buf, size_t len)
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
        policy_fail(&L, 0, NULL, NULL, "cannot open: %s", strerror(EINVAL));
        return -1;
    }
    L.f = fopen(path, "re");
    if (!L.f) {
        policy_fail(&L, 0, NULL, NULL, "cannot open: %s", strerror(errno));
        return -1;
    }
    struct stat st;
    int src = fstat(fileno(L.f), &st);
    if (src < 0 || S_ISDIR(st.st_mode)) {
        policy_fail(&L, 0, NULL, NULL, "cannot open: %s", strerror(src < 0 ? errno : EISDIR));
        fclose(L.f);
        return -1;
    }
    L.dir = policy_folder(path);
    L.p = calloc(1, sizeof *L.p);
    if (!L.dir || !L.p) {
        policy_fail(&L, 0, NULL, NULL, "cannot find its folder: %s",
                    strerror(errno ? errno : ENOMEM));
        goto done;
    }
    L.p->path = strdup(path);
    if (!L.p->path) {
        policy_fail(&L, 0, NULL, NULL, "out of memory");
        goto done;
    }
    int rc = policy_ini_read(&L);
    if (rc > 0 && (!L.failed || rc < L.fail_line)) {
        /* A syntax error inih saw and the reader did not (should not happen). */
        L.failed = false;
        policy_fail(&L, rc, NULL, NULL, "expected KEY = VALUE, [SECTION] or a comment");
    } else if (rc == -2) {
        policy_fail(&L, 0, NULL, NULL, "out of memory");
    }
    policy_ini_finish_section(&L);
    L.section = "global";
    policy_global_defaults(&L);
    if (!L.failed && L.p->n_rules == 0)
        policy_fail(&L, 0, NULL, NULL,
                    "no rules (expected at least one [NAME] section with direction and match; "
                    "an empty policy would upgrade no socket)");
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
    free(p->stats);
    free(p);
}

/* ---- print -------------------------------------------------------------- */

/* One key of a section: "key = value", marked when it is the default; a key
 * the engine fills in is shown as a comment, unless its other form is set. */
static void print_key(FILE *out, const void *obj, const policy_key_def *k, int line,
                      bool alt_set)
{
    char *value = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&value, &len);
    if (!mem)
        return;
    bool has = k->print(mem, obj, k);
    fclose(mem);
    if (has)
        fprintf(out, "%s = %s%s\n", k->name, value, line ? "" : "  ; default");
    else if (k->dflt_note && !alt_set) {
        fprintf(out, "; %s: default, ", k->name);
        for (const char *c = k->dflt_note; *c; c++)
            if (*c != '`') /* markdown quotes, for the README */
                fputc(*c, out);
        fputc('\n', out);
    }
    free(value);
}

void policy_print(const policy *p, FILE *out)
{
    if (!p || !out)
        return;
    fprintf(out, "; effective policy of %s\n[global]\n", p->path);
    for (size_t i = 0; i < policy_n_keys; i++) {
        const policy_key_def *k = &policy_keys[i];
        if (k->sections & KEY_IN_GLOBAL)
            print_key(out, p, k, p->global_key_line[k->slot], false);
    }
    for (size_t i = 0; i < p->n_rules; i++) {
        const policy_rule *r = &p->rules[i];
        unsigned mine = r->direction == POLICY_ACCEPT ? KEY_IN_ACCEPT : KEY_IN_CONNECT;
        fprintf(out, "\n[%s]\n", r->name);
        for (size_t j = 0; j < policy_n_keys; j++) {
            const policy_key_def *k = &policy_keys[j];
            const policy_key_def *alt = k->alt ? policy_key_find(k->alt, false) : NULL;
            if (k->sections & mine)
                print_key(out, r, k, r->key_line[k->slot], alt && r->key_line[alt->slot]);
        }
    }
}
