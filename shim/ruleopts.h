/* Policy rule -> tls_config, shared by libtlsshim.so (init.c) and the
 * launcher (`tlsshim --check`). */
#ifndef TLSSHIM_RULEOPTS_H
#define TLSSHIM_RULEOPTS_H

#include <stddef.h>

#include "policy.h"
#include "tlsengine.h"

/* Builds rule r's config into *out. On error returns -1 and writes
 * "FILE:LINE: [rule] KEY: what was wrong" into msg, blaming the key the
 * engine's error is about. keylog (may be NULL) is installed when the policy
 * asks for a key log. */
int ruleopts_build(const policy *p, const policy_rule *r, tls_config **out, char *msg,
                   size_t msg_len, void (*keylog)(const char *, void *));

#endif
