/* TLS 1.3 key schedule and record protection (see tls13.h). */
#include "tls13.h"

#include <openssl/crypto.h>
#include <string.h>

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
    size_t n = 0;
    info[n++] = (uint8_t)(out_len >> 8);
    info[n++] = (uint8_t)out_len;
    info[n++] = (uint8_t)(ll + 6);
    memcpy(info + n, "tls13 ", 6);
    n += 6;
    memcpy(info + n, label, ll);
    n += ll;
    info[n++] = (uint8_t)context_len;
    if (context_len)
        memcpy(info + n, context, context_len);
    n += context_len;
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

bool tls13_rec_init(tls_rec_crypto *rc, const tls_suite *suite, bool encrypt, const uint8_t *secret)
{
    tls_rec_clear(rc);
    rc->version = TLS_TLS13;
    rc->encrypt = encrypt;
    const tls_cipher_desc *cd = tls_cipher_desc_get(suite->cipher);
    const EVP_CIPHER *cipher = tls_algs_cipher(suite->cipher);
    if (!cd || !cipher || cd->kind != TLS_CIPHER_AEAD)
        return false;
    uint8_t key[32];
    bool ok = tls13_expand_label(suite->prf_hash, secret, "key", NULL, 0, key, cd->key_len) &&
              tls13_expand_label(suite->prf_hash, secret, "iv", NULL, 0, rc->iv, 12);
    rc->ctx = ok ? EVP_CIPHER_CTX_new() : NULL;
    ok = rc->ctx && EVP_CipherInit_ex2(rc->ctx, cipher, key, NULL, encrypt ? 1 : 0, NULL) == 1;
    OPENSSL_cleanse(key, sizeof key);
    if (!ok) {
        tls_rec_clear(rc);
        rc->version = TLS_TLS13;
        return false;
    }
    rc->suite = suite;
    rc->cd = cd;
    return true;
}

static void nonce13(const tls_rec_crypto *rc, uint8_t nonce[12])
{
    memcpy(nonce, rc->iv, 12);
    for (int i = 0; i < 8; i++)
        nonce[4 + i] ^= (uint8_t)(rc->seq >> (56 - 8 * i));
}

bool tls13_rec_seal(tls_rec_crypto *rc, uint8_t type, const uint8_t *pt, size_t len, uint8_t *out,
                    size_t cap, size_t *out_len)
{
    size_t tag = rc->cd->tag_len, clen = len + 1 + tag;
    if (len > TLS_MAX_PLAINTEXT || cap < TLS_RECORD_HEADER + clen || rc->seq == UINT64_MAX)
        return false;
    uint8_t *body = out + TLS_RECORD_HEADER;
    if (len && body != pt)
        memmove(body, pt, len);
    body[len] = type; /* TLSInnerPlaintext: content || type, no padding */
    out[0] = TLS_CT_APPLICATION_DATA13;
    out[1] = 3;
    out[2] = 3;
    out[3] = (uint8_t)(clen >> 8);
    out[4] = (uint8_t)clen;
    uint8_t nonce[12];
    int n = 0;
    nonce13(rc, nonce);
    bool ok = EVP_CipherInit_ex2(rc->ctx, NULL, NULL, nonce, 1, NULL) == 1 &&
              EVP_CipherUpdate(rc->ctx, NULL, &n, out, TLS_RECORD_HEADER) == 1 &&
              EVP_CipherUpdate(rc->ctx, body, &n, body, (int)len + 1) == 1 &&
              EVP_CipherFinal_ex(rc->ctx, body + len + 1, &n) == 1 &&
              EVP_CIPHER_CTX_ctrl(rc->ctx, EVP_CTRL_AEAD_GET_TAG, (int)tag, body + len + 1) == 1;
    if (!ok)
        return false;
    rc->seq++;
    *out_len = TLS_RECORD_HEADER + clen;
    return true;
}

int tls13_rec_open(tls_rec_crypto *rc, uint8_t outer_type, uint8_t *frag, size_t len, uint8_t **pt,
                   size_t *pt_len)
{
    size_t tag = rc->cd->tag_len;
    if (outer_type != TLS_CT_APPLICATION_DATA13)
        return TLS_ALERT_UNEXPECTED_MESSAGE;
    if (len > TLS_MAX_PLAINTEXT + 256) /* RFC 8446 5.2 */
        return TLS_ALERT_RECORD_OVERFLOW;
    if (len < tag + 1)
        return TLS_ALERT_BAD_RECORD_MAC;
    size_t clen = len - tag;
    uint8_t hdr[5] = {outer_type, 3, 3, (uint8_t)(len >> 8), (uint8_t)len}, nonce[12], scratch[16];
    int n = 0;
    nonce13(rc, nonce);
    if (EVP_CipherInit_ex2(rc->ctx, NULL, NULL, nonce, 0, NULL) != 1 ||
        EVP_CipherUpdate(rc->ctx, NULL, &n, hdr, 5) != 1 ||
        EVP_CipherUpdate(rc->ctx, frag, &n, frag, (int)clen) != 1 ||
        EVP_CIPHER_CTX_ctrl(rc->ctx, EVP_CTRL_AEAD_SET_TAG, (int)tag, frag + clen) != 1)
        return TLS_ALERT_INTERNAL_ERROR;
    if (EVP_CipherFinal_ex(rc->ctx, scratch, &n) != 1) {
        OPENSSL_cleanse(frag, clen);
        return TLS_ALERT_BAD_RECORD_MAC;
    }
    /* the content type is the last non-zero byte; zeros after it are padding */
    size_t i = clen;
    while (i > 0 && frag[i - 1] == 0)
        i--;
    if (i == 0)
        return TLS_ALERT_UNEXPECTED_MESSAGE;
    rc->inner_type = frag[i - 1];
    if (i - 1 > TLS_MAX_PLAINTEXT)
        return TLS_ALERT_RECORD_OVERFLOW;
    rc->seq++;
    *pt = frag;
    *pt_len = i - 1;
    return 0;
}
