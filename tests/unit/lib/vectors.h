/* Known-answer vector files (the *.txt files in /work/shared/vectors) for the unit tests.
 *
 * File format (see the header comments of prf.txt and ssl3.txt):
 *   - one case per block; blocks are separated by one or more blank lines;
 *   - lines starting with '#' are comments (they may appear inside a block);
 *   - every other line is `name = hexvalue` (hex of any case, no separators;
 *     an empty value means zero bytes);
 *   - a block with only comment lines (file header, section headers) is not a
 *     case.
 * Each case keeps the first word of its first comment line as its id
 * ("# ms-1: ..." -> "ms-1"), so failures can say which case broke.
 * Anything else (a line without '=', bad hex, a field twice in one case) makes
 * the whole load fail with "file:line: what": vectors are never half-read.
 *
 * Where the files are: vec_load("prf.txt") opens
 *   $TLS_VECTORS_DIR/prf.txt          if TLS_VECTORS_DIR is set, else
 *   $TOP/../shared/vectors/prf.txt    if TOP (the repo root) is set, else
 *   ../shared/vectors/prf.txt         relative to the current directory.
 * A name containing '/' is used as a path as it is.
 * A missing file is an error (NULL), never a silent skip: tests must
 * cr_assert the result, e.g.
 *
 *     vec_file *f = vec_load("ssl3.txt");
 *     cr_assert(f, "%s", vec_error());
 *     size_t run = 0;
 *     for (size_t i = 0; i < f->ncases; i++) {
 *         const vec_case *c = &f->cases[i];
 *         if (!vec_has(c, "fragment"))
 *             continue;
 *         size_t len;
 *         const uint8_t *frag = vec_bytes(c, "fragment", &len);
 *         uint64_t seq = vec_uint(c, "seq_num");
 *         ... cr_assert(..., "%s", vec_where(c)); run++;
 *     }
 *     cr_assert_eq(run, vec_count(f, "fragment"));
 *     vec_free(f);
 *
 * Not thread-safe for one vec_file shared between threads while loading;
 * a loaded vec_file is read-only. vec_error() is per thread. */
#ifndef TLS_TEST_VECTORS_H
#define TLS_TEST_VECTORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vec_field {
    char *name;     /* text before '=', trimmed */
    uint8_t *bytes; /* decoded value (never NULL; len may be 0) */
    size_t len;
} vec_field;

typedef struct vec_case {
    const char *file; /* the vec_file's path (owned by the vec_file) */
    size_t line;      /* line number of the case's first field */
    char id[64];      /* first word of the block's first comment, else "line N" */
    vec_field *fields;
    size_t nfields;
} vec_case;

typedef struct vec_file {
    char *path;
    vec_case *cases; /* in file order */
    size_t ncases;
} vec_file;

/* Loads and parses a vector file (located as described above).
 * NULL on any error; vec_error() says what and where. */
vec_file *vec_load(const char *name);
/* Parses text held in memory; `origin` names it in errors and vec_where(). */
vec_file *vec_parse(const char *text, size_t len, const char *origin);
void vec_free(vec_file *f);
/* The last error of vec_load/vec_parse in this thread ("" if none). */
const char *vec_error(void);
/* The path vec_load would open for `name` (for messages). Static per-thread buffer. */
const char *vec_resolve(const char *name);

/* Field lookup (exact, case-sensitive names). */
bool vec_has(const vec_case *c, const char *name);
/* Decoded bytes of a field, and their count in *len (if len != NULL).
 * NULL if the case has no such field. */
const uint8_t *vec_bytes(const vec_case *c, const char *name, size_t *len);
/* Length of a field's value in bytes; 0 if absent (use vec_has to tell). */
size_t vec_len(const vec_case *c, const char *name);
/* A big-endian integer field of 1..8 bytes (seq_num, content_type, ...).
 * Returns false if absent, empty or longer than 8 bytes. */
bool vec_uint_get(const vec_case *c, const char *name, uint64_t *out);
/* Same, returning 0 when absent or invalid (for fields known to exist). */
uint64_t vec_uint(const vec_case *c, const char *name);
/* Copies a field into label text (NUL-terminated, for hex-encoded ASCII such
 * as prf.txt's labels). Returns false if absent, too long or contains NUL. */
bool vec_text(const vec_case *c, const char *name, char *buf, size_t cap);

/* Decodes a hex string (no separators, either case) into out (cap bytes).
 * Returns the byte count, or (size_t)-1 for bad hex or not enough room. */
size_t vec_unhex(const char *hex, uint8_t *out, size_t cap);

/* Number of cases that have field `name` (what a case kind is in these files). */
size_t vec_count(const vec_file *f, const char *name);
/* "file:line (id)" of a case, for assertion messages. Static per-thread buffer. */
const char *vec_where(const vec_case *c);

#endif
