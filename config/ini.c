/* The INI layer: inih reads the policy through our own line reader.
 *
 * Debian's inih passes no line numbers to the handler and cuts lines at
 * INI_MAX_LINE (200) bytes, too short for base64 DER. So the reader counts
 * lines, sees section headers (which inih does not report), catches syntax
 * errors before inih does, and hands an over-long "key = value" line to inih
 * as "key=\1" while keeping the value aside for the handler. */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "policy_int.h"

#define MAX_LINE_BYTES (1024 * 1024)
#define MAX_NAME_BYTES 64
#define LONG_VALUE_MARK "\x01"

void policy_ini_finish_section(loader *L)
{
    if (L->sec == SEC_RULE && !L->failed)
        policy_rule_finish(L, &L->p->rules[L->p->n_rules - 1]);
}

static void start_section(loader *L, const char *name)
{
    policy_ini_finish_section(L);
    if (L->failed)
        return;
    policy *p = L->p;
    if (strcasecmp(name, "global") == 0) {
        if (L->global_line) {
            policy_fail(L, L->lineno, NULL, NULL, "[%s] is given twice (first on line %d)", name,
                        L->global_line);
            return;
        }
        L->global_line = L->lineno;
        L->sec = SEC_GLOBAL;
        L->section = "global";
        return;
    }
    for (size_t i = 0; i < p->n_rules; i++) {
        if (strcasecmp(p->rules[i].name, name) == 0) {
            policy_fail(L, L->lineno, NULL, NULL,
                        "[%s] is given twice (first on line %d; each rule needs its own name)",
                        name, p->rules[i].line);
            return;
        }
    }
    policy_rule *grown = realloc(p->rules, (p->n_rules + 1) * sizeof *grown);
    if (!grown) {
        policy_fail(L, L->lineno, NULL, NULL, "out of memory");
        return;
    }
    p->rules = grown;
    policy_rule *r = &p->rules[p->n_rules];
    memset(r, 0, sizeof *r);
    r->name = strdup(name);
    if (!r->name) {
        policy_fail(L, L->lineno, NULL, NULL, "out of memory");
        return;
    }
    p->n_rules++;
    r->line = L->lineno;
    L->sec = SEC_RULE;
    L->section = r->name;
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
        policy_fail(L, L->lineno, NULL, NULL, "no ']' after the section name (expected [NAME])");
        return;
    }
    char *rest = close + 1;
    while (isspace((unsigned char)*rest))
        rest++;
    if (*rest && *rest != ';' && *rest != '#') {
        policy_fail(L, L->lineno, NULL, NULL, "text after ']' (expected [NAME] alone on its line)");
        return;
    }
    *close = '\0';
    const char *name = s + 1;
    size_t n = strlen(name);
    char q[80];
    if (n == 0 || n > MAX_NAME_BYTES || !policy_valid_text(name, "_.-:@+")) {
        policy_fail(L, L->lineno, NULL, NULL,
                    "'[%s]' is not a section name (expected 1..%d letters, digits or _ . - : @ +)",
                    policy_shown(name, q, sizeof q), MAX_NAME_BYTES);
        return;
    }
    start_section(L, name);
    *close = ']';
}

/* An over-long "key = value" line: the key goes through inih, the value aside. */
static char *long_line(loader *L, char *s, char *sep, char *str, int num)
{
    char *key_end = sep;
    while (key_end > s && isspace((unsigned char)key_end[-1]))
        key_end--;
    size_t klen = (size_t)(key_end - s);
    if (klen + sizeof LONG_VALUE_MARK + 1 > (size_t)num || klen > MAX_NAME_BYTES) {
        policy_fail(L, L->lineno, NULL, NULL, "key longer than %d bytes", MAX_NAME_BYTES);
        return NULL;
    }
    char *v = sep + 1;
    while (isspace((unsigned char)*v))
        v++;
    *find_sep_or_comment(v, NULL) = '\0';
    L->long_value = strdup(policy_trim(v));
    if (!L->long_value) {
        policy_fail(L, L->lineno, NULL, NULL, "out of memory");
        return NULL;
    }
    memcpy(str, s, klen);
    memcpy(str + klen, "=" LONG_VALUE_MARK, sizeof "=" LONG_VALUE_MARK);
    return str;
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
            policy_fail(L, L->lineno + 1, NULL, NULL, "cannot read: %s",
                        strerror(errno ? errno : EIO));
        return NULL;
    }
    L->lineno++;
    if (memchr(L->line, '\0', (size_t)n)) {
        policy_fail(L, L->lineno, NULL, NULL, "a NUL byte (expected text)");
        return NULL;
    }
    if (n > MAX_LINE_BYTES) {
        policy_fail(L, L->lineno, NULL, NULL, "line is longer than %d bytes", MAX_LINE_BYTES);
        return NULL;
    }
    char *s = L->line;
    if (L->lineno == 1 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        s += 3;
    /* Leading space stripped: indentation is allowed, continuation lines are not. */
    s = policy_trim(s);
    if (*s == '[') {
        section_line(L, s);
    } else if (*s && *s != ';' && *s != '#') {
        char *sep = find_sep_or_comment(s, "=:");
        if (*sep != '=' && *sep != ':') {
            policy_fail(L, L->lineno, NULL, NULL,
                        "expected KEY = VALUE, [SECTION] or a comment (starting with ; or #)");
            return NULL;
        }
        if (sep == s) {
            policy_fail(L, L->lineno, NULL, NULL, "no key before '%c' (expected KEY = VALUE)",
                        *sep);
            return NULL;
        }
        if (strlen(s) + 1 >= (size_t)num)
            return long_line(L, s, sep, str, num);
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
    if (L->sec == SEC_NONE)
        policy_fail(L, L->lineno, NULL, name,
                    "is outside any section (expected [global] or a [RULE] header first)");
    else
        policy_key_set(L, name, value);
    return 1;
}

int policy_ini_read(loader *L)
{
    int rc = ini_parse_stream(reader, L, handler, L);
    free(L->long_value);
    L->long_value = NULL;
    return rc;
}
