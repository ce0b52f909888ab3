/* TLS 1.3 key schedule (see keysched13.h). */
#include "keysched13.h"

#include <openssl/crypto.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "prf.h"

bool tls13_extract(tls_hash_id h, const uint8_t *salt, size_t salt_len, const uint8_t *ikm,
                   size_t ikm_len, uint8_t *out)
{
    static const uint8_t zeros[TLS13_MAX_HASH];
    size_t hl = tls_hash_len(h);
    if (!salt || !salt_len) {
        salt = zeros;
        salt_len = hl;
    }
    if (!ikm || !ikm_len) {
        ikm = zeros;
        ikm_len = hl;
    }
    return tls_hmac(h, salt, salt_len, ikm, ikm_len, NULL, 0, out);
}

bool tls13_expand_label(tls_hash_id h, const uint8_t *secret, const char *label,
                        const uint8_t *context, size_t context_len, uint8_t *out, size_t out_len)
{
    /* HkdfLabel = length(2) || opaque label<7..255> = "tls13 " + label || opaque context<0..255> */
    uint8_t info[2 + 1 + 255 + 1 + 255 + 1];
    size_t ll = strlen(label), hl = tls_hash_len(h);
    if (ll + 6 > 255 || context_len > 255 || out_len > 255 * hl || !hl)
        return false;
    tls_wr w = tls_wr_fixed(info, sizeof info - 1); /* the last byte is HKDF's counter */
    tls_wr_u16(&w, (uint16_t)out_len);
    size_t at = tls_wr_begin_vec(&w, 1);
    tls_wr_bytes(&w, "tls13 ", 6);
    tls_wr_bytes(&w, label, ll);
    tls_wr_end_vec(&w, at, 1);
    tls_wr_vec(&w, 1, context, context_len);
    if (w.bad)
        return false;
    size_t n = w.len;
    /* HKDF-Expand (RFC 5869 2.3): T(i) = HMAC(PRK, T(i-1) || info || i) */
    uint8_t t[TLS13_MAX_HASH];
    size_t tl = 0, done = 0;
    bool ok = true;
    for (uint8_t i = 1; ok && done < out_len; i++) {
        info[n] = i;
        ok = tls_hmac(h, secret, hl, t, tl, info, n + 1, t);
        tl = hl;
        size_t k = out_len - done < hl ? out_len - done : hl;
        memcpy(out + done, t, k);
        done += k;
    }
    OPENSSL_cleanse(t, sizeof t);
    return ok;
}

bool tls13_hash(tls_hash_id h, const uint8_t *messages, size_t len, uint8_t *out)
{
    unsigned n = 0;
    const EVP_MD *md = tls_algs_md(h);
    return md && EVP_Digest(messages ? (const void *)messages : (const void *)"", len, out, &n, md, NULL) == 1;
}

bool tls13_derive_secret(tls_hash_id h, const uint8_t *secret, const char *label,
                         const uint8_t *messages, size_t len, uint8_t *out)
{
    uint8_t th[TLS13_MAX_HASH];
    return tls13_hash(h, messages, len, th) &&
           tls13_expand_label(h, secret, label, th, tls_hash_len(h), out, tls_hash_len(h));
}

bool tls13_finished(tls_hash_id h, const uint8_t *base_key, const uint8_t *messages, size_t len,
                    uint8_t *out)
{
    size_t hl = tls_hash_len(h);
    uint8_t fk[TLS13_MAX_HASH], th[TLS13_MAX_HASH];
    bool ok = tls13_expand_label(h, base_key, "finished", NULL, 0, fk, hl) &&
              tls13_hash(h, messages, len, th) && tls_hmac(h, fk, hl, th, hl, NULL, 0, out);
    OPENSSL_cleanse(fk, sizeof fk);
    return ok;
}

bool tls13_next_secret(tls_hash_id h, uint8_t *secret)
{
    uint8_t next[TLS13_MAX_HASH];
    size_t hl = tls_hash_len(h);
    bool ok = tls13_expand_label(h, secret, "traffic upd", NULL, 0, next, hl);
    if (ok)
        memcpy(secret, next, hl);
    OPENSSL_cleanse(next, sizeof next);
    return ok;
}
