/* TLS 1.3 record protection (RFC 8446 5.2): AEAD with the IV xor the
 * sequence number, the record header as additional data, the real content
 * type inside; keys and IV from a traffic secret (7.3). */
#include "record.h"

#include <openssl/crypto.h>
#include <string.h>

#include "err.h"
#include "keysched13.h"

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
    /* Plaintext apart from the record is encrypted straight into it (no copy
     * of 16 KiB a record first); plaintext that overlaps it is moved in. */
    bool apart = !len || pt + len <= body || body + len + 1 <= pt;
    if (len && !apart && body != pt)
        memmove(body, pt, len);
    const uint8_t *src = apart ? pt : body;
    tls_rec_write_header(out, TLS_CT_APPLICATION_DATA13, TLS_TLS12, clen);
    uint8_t nonce[12];
    int n = 0, m = 0;
    nonce13(rc, nonce);
    /* TLSInnerPlaintext: content || type, no padding */
    bool ok = EVP_CipherInit_ex2(rc->ctx, NULL, NULL, nonce, 1, NULL) == 1 &&
              EVP_CipherUpdate(rc->ctx, NULL, &n, out, TLS_RECORD_HEADER) == 1 &&
              (len == 0 || (EVP_CipherUpdate(rc->ctx, body, &n, src, (int)len) == 1 && (size_t)n == len)) &&
              EVP_CipherUpdate(rc->ctx, body + len, &m, &type, 1) == 1 && m == 1 &&
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
    uint8_t hdr[TLS_RECORD_HEADER], nonce[12], scratch[16];
    tls_rec_write_header(hdr, outer_type, TLS_TLS12, len);
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
