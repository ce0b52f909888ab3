/* Internals shared by the files of config/ (not part of the interface). */
#ifndef TLSSHIM_POLICY_INT_H
#define TLSSHIM_POLICY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

/* base64.c: standard alphabet (RFC 4648), padding required, no whitespace.
 * Returns 0, or -1 with *bad the offset of the first offending byte (len when
 * the input ends too early), or -2 when out of memory. */
int policy_b64_decode(const char *s, size_t len, policy_bytes *out, size_t *bad);
/* A NUL-terminated string the caller frees, or NULL when out of memory. */
char *policy_b64_encode(const uint8_t *data, size_t len);

/* match.c: one ADDR:PORT entry. Returns 0, or -1 with a message in why. The
 * caller frees m->host_glob. */
int policy_match_parse(const char *entry, policy_match *m, char *why, size_t why_len);
/* The entry as the policy file writes it (re-parses to the same entry). */
void policy_match_format(const policy_match *m, char *buf, size_t len);
/* True when every connection `later` fits also fits `earlier`. */
bool policy_match_covers(const policy_match *earlier, const policy_match *later);
bool policy_match_is_everything(const policy_match *m);

#endif
