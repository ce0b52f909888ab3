/* libFuzzer harness for the record layer: open arbitrary fragments under
 * every kind of protection (stream, CBC MtE, CBC ETM, GCM, ChaCha20) at
 * every version. Must never crash or read out of bounds. */
#include <stdlib.h>
#include <string.h>

#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint16_t suites[] = {0x0005, 0x002f, 0x000a, 0xc02f, 0xcca8, 0x0004, 0x003c};
    if (size < 2)
        return 0;
    const tls_suite *s = tls_suite_by_id(suites[data[0] % (sizeof suites / sizeof *suites)]);
    uint16_t version = (uint16_t)(TLS_SSL3 + data[1] % 4);
    bool etm = data[1] & 0x10;
    if (!s || !tls_suite_usable(s, version))
        return 0;
    static const uint8_t keys[96] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    tls_rec_crypto rc;
    memset(&rc, 0, sizeof rc);
    if (!tls_rec_init(&rc, s, version, false, etm, keys, keys + 48, keys + 80))
        return 0;
    size_t len = size - 2;
    uint8_t *frag = malloc(len ? len : 1);
    memcpy(frag, data + 2, len);
    uint8_t *pt;
    size_t pt_len;
    (void)tls_rec_open(&rc, 23, frag, len, &pt, &pt_len);
    free(frag);
    tls_rec_clear(&rc);
    return 0;
}
