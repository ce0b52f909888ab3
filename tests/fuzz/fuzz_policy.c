/* libFuzzer harness for the policy parser: any bytes as a policy file must
 * give rules or an error message, never a crash or leak. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof path, "/tmp/tlsshim-fuzz-policy-%d.ini", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    policy *p = NULL;
    char err[512];
    if (policy_load(path, &p, err, sizeof err) == 0)
        policy_free(p);
    return 0;
}
