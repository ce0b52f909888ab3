/* `tlsshim --check`'s warnings section (check_warnings.c). */
#ifndef TLSSHIM_CHECK_WARNINGS_H
#define TLSSHIM_CHECK_WARNINGS_H

#include <stdio.h>

#include "policy.h"
#include "tlsengine.h"

/* Writes "; warnings" then one "; [rule] FILE:LINE: what and what to do" line
 * per weak choice (or "; none"), INI comments so that --check's output stays
 * a policy; configs[i] is rule i's. Returns the number of warnings. */
int check_warnings(const policy *p, tls_config *const *configs, FILE *out);

#endif
