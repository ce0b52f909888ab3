/* Internals shared by the files of config/ (not part of the interface).
 *
 *   policy.c  load, free, print; the error message
 *   ini.c     the line reader under inih, sections
 *   keys.c    THE key table: parsing dispatch, unknown keys, defaults, docs
 *   values.c  one parser and one printer per kind of value (DER via d2i)
 *   rules.c   checks on a whole rule once its section ends
 *   match.c   ADDR:PORT entries and policy_find
 *   base64.c  RFC 4648 */
#ifndef TLSSHIM_POLICY_INT_H
#define TLSSHIM_POLICY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "policy.h"

/* ---- the loader (one policy_load call) ---------------------------------- */

typedef struct policy_key_def policy_key_def;

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
    const char *section; /* "global" or the rule's name, for messages */
    int global_line;   /* line of [global], 0 if not seen */
    bool failed;
    int fail_line;
    char *err;
    size_t err_len;
} loader;

/* policy.c: records the first error as "FILE:LINE: [SECTION] KEY: msg"
 * (line 0, section NULL or key NULL leave that part out); later calls do
 * nothing. */
__attribute__((format(printf, 5, 6))) void policy_fail(loader *L, int line, const char *section,
                                                       const char *key, const char *fmt, ...);
/* The same for the key `k` on the current line of the current section. */
__attribute__((format(printf, 3, 4))) void policy_key_fail(loader *L, const policy_key_def *k,
                                                           const char *fmt, ...);
/* A value quoted in an error: short and printable, whatever the file held. */
const char *policy_shown(const char *v, char *buf, size_t len);

/* ---- the key table (keys.c) ---------------------------------------------- */

/* Where a key may appear. */
enum { KEY_IN_GLOBAL = 1, KEY_IN_CONNECT = 2, KEY_IN_ACCEPT = 4, KEY_IN_RULE = 6 };

/* Parses `value` into obj (a policy for [global] keys, else a policy_rule).
 * On error: policy_fail on the current line, and -1. */
typedef int (*policy_parse_fn)(loader *L, void *obj, const policy_key_def *k, const char *value);
/* Writes the value as a policy file takes it; false when nothing is stored. */
typedef bool (*policy_print_fn)(FILE *out, const void *obj, const policy_key_def *k);

typedef enum { DER_NONE, DER_CERT, DER_KEY, DER_DH } policy_der_kind;

struct policy_key_def {
    const char *name;
    unsigned sections;       /* KEY_IN_* */
    int slot;                /* policy_key, or policy_global_key for [global] keys */
    policy_parse_fn parse;
    policy_print_fn print;
    size_t field;            /* offsetof the value in policy or policy_rule */
    int min, max;            /* integer keys */
    policy_der_kind der;     /* DER keys: what d2i must find */
    bool required;
    const char *alt;         /* the same value in its other form (DER or file path) */
    bool alt_adds;           /* both forms may be given: they add up */
    const char *dflt;        /* default value, parsed like the file's (connect rules, [global]) */
    const char *dflt_accept; /* accept rules, when it differs from dflt */
    const char *dflt_note;   /* a default the engine picks, in words (nothing stored here) */
    const char *expected;    /* for "(expected ...)" */
    const char *doc;         /* one line: README and examples */
};

extern const policy_key_def policy_keys[];
extern const size_t policy_n_keys;

/* The row of a [global] key (global) or rule key (!global); NULL if none. */
const policy_key_def *policy_key_find(const char *name, bool global);
/* The row of a rule key by its slot. */
const policy_key_def *policy_rule_key(policy_key k);
/* One "key = value" line of the current section, checked and stored. */
void policy_key_set(loader *L, const char *name, const char *value);
/* Fills in the defaults of the keys a rule (direction known) or [global] did
 * not set. */
void policy_rule_defaults(loader *L, policy_rule *r);
void policy_global_defaults(loader *L);

/* ---- values.c: the parsers and printers the table points at ------------- */

int policy_parse_direction(loader *L, void *obj, const policy_key_def *k, const char *v);
int policy_parse_match(loader *L, void *obj, const policy_key_def *k, const char *v);
int policy_parse_verify(loader *L, void *obj, const policy_key_def *k, const char *v);
int policy_parse_bool(loader *L, void *obj, const policy_key_def *k, const char *v);
int policy_parse_int(loader *L, void *obj, const policy_key_def *k, const char *v);
int policy_parse_der(loader *L, void *obj, const policy_key_def *k, const char *v);
int policy_parse_der_list(loader *L, void *obj, const policy_key_def *k, const char *v);
int policy_parse_readable(loader *L, void *obj, const policy_key_def *k, const char *v);
int policy_parse_password(loader *L, void *obj, const policy_key_def *k, const char *v);
int policy_parse_ciphers(loader *L, void *obj, const policy_key_def *k, const char *v);
int policy_parse_server_name(loader *L, void *obj, const policy_key_def *k, const char *v);
int policy_parse_versions(loader *L, void *obj, const policy_key_def *k, const char *v);
int policy_parse_alpn(loader *L, void *obj, const policy_key_def *k, const char *v);
int policy_parse_log(loader *L, void *obj, const policy_key_def *k, const char *v);
int policy_parse_log_level(loader *L, void *obj, const policy_key_def *k, const char *v);
int policy_parse_writable(loader *L, void *obj, const policy_key_def *k, const char *v);

bool policy_print_direction(FILE *out, const void *obj, const policy_key_def *k);
bool policy_print_match(FILE *out, const void *obj, const policy_key_def *k);
bool policy_print_verify(FILE *out, const void *obj, const policy_key_def *k);
bool policy_print_bool(FILE *out, const void *obj, const policy_key_def *k);
bool policy_print_int(FILE *out, const void *obj, const policy_key_def *k);
bool policy_print_text(FILE *out, const void *obj, const policy_key_def *k);
bool policy_print_der(FILE *out, const void *obj, const policy_key_def *k);
bool policy_print_der_list(FILE *out, const void *obj, const policy_key_def *k);
bool policy_print_log_level(FILE *out, const void *obj, const policy_key_def *k);

/* Trims ASCII space at both ends, in place. */
char *policy_trim(char *s);
/* Letters and digits, plus the bytes of `extra`. */
bool policy_valid_text(const char *v, const char *extra);

/* ---- ini.c, rules.c ----------------------------------------------------- */

/* Runs inih over L->f through the line reader; returns ini_parse_stream's result. */
int policy_ini_read(loader *L);
/* The section in progress is over: check the rule it made, if any. */
void policy_ini_finish_section(loader *L);
/* Whole-rule checks and defaults, once the rule's section has ended. */
void policy_rule_finish(loader *L, policy_rule *r);

/* ---- base64.c ----------------------------------------------------------- */

/* Standard alphabet (RFC 4648), padding required, no whitespace. Returns 0,
 * or -1 with *bad the offset of the first offending byte (len when the input
 * ends too early), or -2 when out of memory. */
int policy_b64_decode(const char *s, size_t len, policy_bytes *out, size_t *bad);
/* A NUL-terminated string the caller frees, or NULL when out of memory. */
char *policy_b64_encode(const uint8_t *data, size_t len);

/* ---- match.c ------------------------------------------------------------ */

/* One ADDR:PORT entry. Returns 0, or -1 with a message in why. The caller
 * frees m->host_glob. */
int policy_match_parse(const char *entry, policy_match *m, char *why, size_t why_len);
/* The entry as the policy file writes it (re-parses to the same entry). */
void policy_match_format(const policy_match *m, char *buf, size_t len);
/* True when every connection `later` fits also fits `earlier`. */
bool policy_match_covers(const policy_match *earlier, const policy_match *later);
bool policy_match_is_everything(const policy_match *m);

#endif
