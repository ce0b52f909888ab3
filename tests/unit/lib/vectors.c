/* Parser for the known-answer vector files; the format is described in vectors.h. */
#include "vectors.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char err_buf[512];
static _Thread_local char path_buf[4096];
static _Thread_local char where_buf[4200];

const char *vec_error(void)
{
    return err_buf;
}

static void set_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void set_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_buf, sizeof err_buf, fmt, ap);
    va_end(ap);
}

const char *vec_resolve(const char *name)
{
    const char *dir = getenv("TLS_VECTORS_DIR");
    const char *top = getenv("TOP");
    if (strchr(name, '/'))
        snprintf(path_buf, sizeof path_buf, "%s", name);
    else if (dir && *dir)
        snprintf(path_buf, sizeof path_buf, "%s/%s", dir, name);
    else if (top && *top)
        snprintf(path_buf, sizeof path_buf, "%s/../shared/vectors/%s", top, name);
    else
        snprintf(path_buf, sizeof path_buf, "../shared/vectors/%s", name);
    return path_buf;
}

void vec_free(vec_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->ncases; i++) {
        for (size_t j = 0; j < f->cases[i].nfields; j++) {
            free(f->cases[i].fields[j].name);
            free(f->cases[i].fields[j].bytes);
        }
        free(f->cases[i].fields);
    }
    free(f->cases);
    free(f->path);
    free(f);
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* The block being read: fields collected until a blank line or the end. */
typedef struct block {
    vec_case c;
    size_t cap;
    bool have_comment;
} block;

static void block_discard(block *b)
{
    for (size_t j = 0; j < b->c.nfields; j++) {
        free(b->c.fields[j].name);
        free(b->c.fields[j].bytes);
    }
    free(b->c.fields);
    memset(b, 0, sizeof *b);
}

/* Ends a block: a block with fields becomes a case of f. */
static bool block_end(vec_file *f, block *b, size_t *cases_cap)
{
    if (b->c.nfields == 0) {
        block_discard(b);
        return true;
    }
    if (f->ncases == *cases_cap) {
        size_t ncap = *cases_cap ? *cases_cap * 2 : 16;
        vec_case *nc = realloc(f->cases, ncap * sizeof *nc);
        if (!nc) {
            set_err("%s: out of memory", f->path);
            block_discard(b);
            return false;
        }
        f->cases = nc;
        *cases_cap = ncap;
    }
    if (!b->c.id[0])
        snprintf(b->c.id, sizeof b->c.id, "line %zu", b->c.line);
    b->c.file = f->path;
    f->cases[f->ncases++] = b->c;
    memset(b, 0, sizeof *b);
    return true;
}

/* Parses "name = hex" (s .. e, no newline) into the block. */
static bool parse_field(const vec_file *f, block *b, size_t lineno, const char *s, const char *e)
{
    const char *eq = memchr(s, '=', (size_t)(e - s));
    if (!eq) {
        set_err("%s:%zu: expected 'name = hex', found no '='", f->path, lineno);
        return false;
    }
    const char *ns = s, *ne = eq;
    while (ne > ns && is_space(ne[-1]))
        ne--;
    if (ne == ns) {
        set_err("%s:%zu: field without a name", f->path, lineno);
        return false;
    }
    const char *vs = eq + 1, *ve = e;
    while (vs < ve && is_space(*vs))
        vs++;
    while (ve > vs && is_space(ve[-1]))
        ve--;
    size_t nlen = (size_t)(ne - ns), hlen = (size_t)(ve - vs);
    for (size_t j = 0; j < b->c.nfields; j++)
        if (strlen(b->c.fields[j].name) == nlen && memcmp(b->c.fields[j].name, ns, nlen) == 0) {
            set_err("%s:%zu: field '%.*s' appears twice in one case", f->path, lineno, (int)nlen, ns);
            return false;
        }
    if (hlen % 2) {
        set_err("%s:%zu: field '%.*s': odd number of hex digits (%zu)", f->path, lineno, (int)nlen, ns,
                hlen);
        return false;
    }
    uint8_t *bytes = malloc(hlen / 2 ? hlen / 2 : 1);
    char *name = strndup(ns, nlen);
    if (!bytes || !name) {
        free(bytes);
        free(name);
        set_err("%s:%zu: out of memory", f->path, lineno);
        return false;
    }
    for (size_t k = 0; k < hlen / 2; k++) {
        int hi = hexval(vs[2 * k]), lo = hexval(vs[2 * k + 1]);
        if (hi < 0 || lo < 0) {
            set_err("%s:%zu: field '%s': not a hex digit at column %zu", f->path, lineno, name,
                    (size_t)(vs - s) + 2 * k + (hi < 0 ? 1 : 2));
            free(bytes);
            free(name);
            return false;
        }
        bytes[k] = (uint8_t)(hi << 4 | lo);
    }
    if (b->c.nfields == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 8;
        vec_field *nf = realloc(b->c.fields, ncap * sizeof *nf);
        if (!nf) {
            free(bytes);
            free(name);
            set_err("%s:%zu: out of memory", f->path, lineno);
            return false;
        }
        b->c.fields = nf;
        b->cap = ncap;
    }
    if (b->c.nfields == 0)
        b->c.line = lineno;
    b->c.fields[b->c.nfields++] = (vec_field){name, bytes, hlen / 2};
    return true;
}

/* "# ms-1: pre_master..." -> id "ms-1" (only the block's first comment counts). */
static void take_id(block *b, const char *s, const char *e)
{
    if (b->have_comment || b->c.nfields)
        return;
    b->have_comment = true;
    s++; /* '#' */
    while (s < e && is_space(*s))
        s++;
    size_t n = 0;
    while (s + n < e && !is_space(s[n]) && s[n] != ':' && n + 1 < sizeof b->c.id)
        n++;
    memcpy(b->c.id, s, n);
    b->c.id[n] = '\0';
}

vec_file *vec_parse(const char *text, size_t len, const char *origin)
{
    err_buf[0] = '\0';
    vec_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(origin ? origin : "(memory)"))) {
        free(f);
        set_err("out of memory");
        return NULL;
    }
    block b;
    memset(&b, 0, sizeof b);
    size_t cases_cap = 0, lineno = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        lineno++;
        const char *s = p;
        while (s < le && is_space(*s))
            s++;
        bool ok = true;
        if (s == le)
            ok = block_end(f, &b, &cases_cap);
        else if (*s == '#')
            take_id(&b, s, le);
        else if (memchr(s, '\0', (size_t)(le - s))) {
            set_err("%s:%zu: NUL byte in the file", f->path, lineno);
            ok = false;
        } else
            ok = parse_field(f, &b, lineno, s, le);
        if (!ok) {
            block_discard(&b);
            vec_free(f);
            return NULL;
        }
        p = nl ? nl + 1 : end;
    }
    if (!block_end(f, &b, &cases_cap)) {
        vec_free(f);
        return NULL;
    }
    return f;
}

vec_file *vec_load(const char *name)
{
    const char *path = vec_resolve(name);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        set_err("cannot open vector file %s: %s (set TLS_VECTORS_DIR or TOP)", path, strerror(errno));
        return NULL;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            char *nt = realloc(text, ncap);
            if (!nt) {
                free(text);
                fclose(fp);
                set_err("%s: out of memory", path);
                return NULL;
            }
            text = nt;
            cap = ncap;
        }
        size_t n = fread(text + len, 1, cap - len, fp);
        len += n;
        if (n == 0)
            break;
    }
    bool rerr = ferror(fp);
    fclose(fp);
    if (rerr) {
        free(text);
        set_err("%s: read error", path);
        return NULL;
    }
    vec_file *f = vec_parse(text, len, path); /* copies path */
    free(text);
    return f;
}

static const vec_field *find(const vec_case *c, const char *name)
{
    for (size_t j = 0; j < c->nfields; j++)
        if (strcmp(c->fields[j].name, name) == 0)
            return &c->fields[j];
    return NULL;
}

bool vec_has(const vec_case *c, const char *name)
{
    return find(c, name) != NULL;
}

const uint8_t *vec_bytes(const vec_case *c, const char *name, size_t *len)
{
    const vec_field *fl = find(c, name);
    if (len)
        *len = fl ? fl->len : 0;
    return fl ? fl->bytes : NULL;
}

size_t vec_len(const vec_case *c, const char *name)
{
    const vec_field *fl = find(c, name);
    return fl ? fl->len : 0;
}

bool vec_uint_get(const vec_case *c, const char *name, uint64_t *out)
{
    const vec_field *fl = find(c, name);
    if (!fl || fl->len == 0 || fl->len > 8)
        return false;
    uint64_t v = 0;
    for (size_t k = 0; k < fl->len; k++)
        v = v << 8 | fl->bytes[k];
    *out = v;
    return true;
}

uint64_t vec_uint(const vec_case *c, const char *name)
{
    uint64_t v = 0;
    return vec_uint_get(c, name, &v) ? v : 0;
}

bool vec_text(const vec_case *c, const char *name, char *buf, size_t cap)
{
    const vec_field *fl = find(c, name);
    if (!fl || fl->len >= cap || memchr(fl->bytes, 0, fl->len))
        return false;
    memcpy(buf, fl->bytes, fl->len);
    buf[fl->len] = '\0';
    return true;
}

size_t vec_unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex);
    if (n % 2 || n / 2 > cap)
        return (size_t)-1;
    for (size_t k = 0; k < n / 2; k++) {
        int hi = hexval(hex[2 * k]), lo = hexval(hex[2 * k + 1]);
        if (hi < 0 || lo < 0)
            return (size_t)-1;
        out[k] = (uint8_t)(hi << 4 | lo);
    }
    return n / 2;
}

size_t vec_count(const vec_file *f, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < f->ncases; i++)
        n += vec_has(&f->cases[i], name);
    return n;
}

const char *vec_where(const vec_case *c)
{
    snprintf(where_buf, sizeof where_buf, "%s:%zu (%s)", c->file ? c->file : "?", c->line, c->id);
    return where_buf;
}
