/* Base64 (RFC 4648, standard alphabet) for the cert/key/dh/cacerts keys. */
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int policy_b64_decode(const char *s, size_t len, policy_bytes *out, size_t *bad)
{
    out->data = NULL;
    out->len = 0;
    *bad = 0;
    /* A stray character first: it says more than a wrong length does. */
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '=' && b64_value((unsigned char)s[i]) < 0) {
            *bad = i;
            return -1;
        }
    }
    if (len == 0 || len % 4 != 0) {
        *bad = len; /* the text ends mid-group */
        return -1;
    }
    size_t pad = 0;
    if (s[len - 1] == '=')
        pad = s[len - 2] == '=' ? 2 : 1;
    size_t n = len / 4 * 3 - pad;
    uint8_t *d = malloc(n ? n : 1);
    if (!d)
        return -2;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        bool last = i + 4 == len;
        for (size_t j = 0; j < 4; j++) {
            unsigned char c = (unsigned char)s[i + j];
            /* '=' only as the final one or two characters. */
            if (c == '=' && last && j >= 4 - pad) {
                v[j] = 0;
                continue;
            }
            v[j] = b64_value(c);
            if (v[j] < 0) {
                *bad = i + j;
                free(d);
                return -1;
            }
        }
        uint32_t q = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
                     (uint32_t)v[3];
        uint8_t b[3] = {(uint8_t)(q >> 16), (uint8_t)(q >> 8), (uint8_t)q};
        size_t take = last ? 3 - pad : 3;
        /* Canonical form only: the bits dropped by padding must be zero. */
        if (last && ((pad == 1 && (v[2] & 0x3)) || (pad == 2 && (v[1] & 0xf)))) {
            *bad = i + 3 - pad;
            free(d);
            return -1;
        }
        memcpy(d + o, b, take);
        o += take;
    }
    out->data = d;
    out->len = o;
    return 0;
}

char *policy_b64_encode(const uint8_t *data, size_t len)
{
    if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
        return NULL;
    size_t n = (len + 2) / 3 * 4;
    char *s = malloc(n + 1);
    if (!s)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        size_t rest = len - i;
        uint32_t q = (uint32_t)data[i] << 16;
        if (rest > 1)
            q |= (uint32_t)data[i + 1] << 8;
        if (rest > 2)
            q |= data[i + 2];
        s[o++] = b64_alphabet[q >> 18 & 63];
        s[o++] = b64_alphabet[q >> 12 & 63];
        s[o++] = rest > 1 ? b64_alphabet[q >> 6 & 63] : '=';
        s[o++] = rest > 2 ? b64_alphabet[q & 63] : '=';
    }
    s[o] = '\0';
    return s;
}
