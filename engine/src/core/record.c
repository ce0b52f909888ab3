/* Record protection, one direction (see record.h).
 *
 * Sources: RFC 5246 6.2.3 (TLS MAC, CBC, AEAD), RFC 4346 6.2.3.2 (explicit
 * CBC IV), RFC 6101 5.2.3 (SSL 3.0 MAC and padding), RFC 7366 (encrypt-then-
 * MAC), RFC 5288 3 (AES-GCM nonce), RFC 7905 2 (ChaCha20-Poly1305 nonce),
 * AlFardan & Paterson, "Lucky Thirteen" (2013) for the constant-time CBC
 * receive path. */
#include "record.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <string.h>

#include "buf.h"
#include "ct.h"
#include "err.h"
#include "keysched13.h"

/* SSL 3.0 pad_1/pad_2 lengths (RFC 6101 5.2.3.1) */
#define SSL3_PAD_MD5 48
#define SSL3_PAD_SHA1 40
/* The most padding a TLS record can carry, length byte included. */
#define MAX_PAD 256

/* Whole zero blocks fed to the dummy digest; the padding can move the end of
 * the MAC input by at most 256 bytes, i.e. 5 blocks of 64 or 3 of 128. */
static const uint8_t dummy_blocks[512];

static void put_u64(uint8_t p[8], uint64_t v)
{
    tls_wr w = tls_wr_fixed(p, 8);
    tls_wr_u64(&w, v);
}

/* MAC / AEAD header: seq || type || version || length (13 bytes); SSL 3.0
 * has no version in its MAC input (11 bytes). */
static size_t mac_header(const tls_rec_crypto *rc, uint8_t type, size_t len, uint8_t h[13])
{
    tls_wr w = tls_wr_fixed(h, 13);
    tls_wr_u64(&w, rc->seq);
    tls_wr_u8(&w, type);
    if (!rc->ssl3)
        tls_wr_u16(&w, rc->version);
    tls_wr_u16(&w, (uint16_t)len);
    return w.len;
}

/* hash(outer_key_block || hash(inner_key_block || hdr || data)): HMAC and the
 * SSL 3.0 MAC share this shape; only the precomputed key blocks differ. */
static bool mac_compute(tls_rec_crypto *rc, const uint8_t *hdr, size_t hlen, const uint8_t *data,
                        size_t dlen, uint8_t *out)
{
    uint8_t inner[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    bool ok = EVP_MD_CTX_copy_ex(rc->mac_work, rc->mac_inner) &&
              EVP_DigestUpdate(rc->mac_work, hdr, hlen) &&
              EVP_DigestUpdate(rc->mac_work, data, dlen) &&
              EVP_DigestFinal_ex(rc->mac_work, inner, &n) &&
              EVP_MD_CTX_copy_ex(rc->mac_work, rc->mac_outer) &&
              EVP_DigestUpdate(rc->mac_work, inner, n) && EVP_DigestFinal_ex(rc->mac_work, out, &n);
    OPENSSL_cleanse(inner, sizeof inner);
    return ok;
}

static bool mac_setup(tls_rec_crypto *rc, const uint8_t *key)
{
    uint8_t pad[128];
    int bsi = EVP_MD_get_block_size(rc->md);
    if (bsi != 64 && bsi != 128)
        return false;
    size_t bs = (size_t)bsi;
    rc->mac_block_shift = bs == 64 ? 6 : 7;
    rc->mac_inner = EVP_MD_CTX_new();
    rc->mac_outer = EVP_MD_CTX_new();
    rc->mac_work = EVP_MD_CTX_new();
    rc->mac_dummy = EVP_MD_CTX_new();
    if (!rc->mac_inner || !rc->mac_outer || !rc->mac_work || !rc->mac_dummy ||
        !EVP_DigestInit_ex2(rc->mac_inner, rc->md, NULL) ||
        !EVP_DigestInit_ex2(rc->mac_outer, rc->md, NULL) ||
        !EVP_DigestInit_ex2(rc->mac_dummy, rc->md, NULL))
        return false;
    bool ok;
    if (rc->ssl3) {
        size_t plen = rc->mac_len == 16 ? SSL3_PAD_MD5 : SSL3_PAD_SHA1;
        memset(pad, 0x36, plen);
        ok = EVP_DigestUpdate(rc->mac_inner, key, rc->mac_len) &&
             EVP_DigestUpdate(rc->mac_inner, pad, plen);
        memset(pad, 0x5c, plen);
        ok = ok && EVP_DigestUpdate(rc->mac_outer, key, rc->mac_len) &&
             EVP_DigestUpdate(rc->mac_outer, pad, plen);
        rc->mac_prefix = rc->mac_len + plen + 11;
    } else {
        /* HMAC (RFC 2104); TLS MAC keys are never longer than a block */
        for (size_t i = 0; i < bs; i++)
            pad[i] = (uint8_t)((i < rc->mac_len ? key[i] : 0) ^ 0x36);
        ok = EVP_DigestUpdate(rc->mac_inner, pad, bs);
        for (size_t i = 0; i < bs; i++)
            pad[i] = (uint8_t)((i < rc->mac_len ? key[i] : 0) ^ 0x5c);
        ok = ok && EVP_DigestUpdate(rc->mac_outer, pad, bs);
        rc->mac_prefix = bs + 13;
    }
    OPENSSL_cleanse(pad, sizeof pad);
    return ok;
}

bool tls_rec_mac(tls_rec_crypto *rc, uint8_t type, const uint8_t *content, size_t len, uint8_t *out)
{
    uint8_t hdr[13];
    if (!rc || !rc->mac_inner || len > 0xffff)
        return false;
    size_t hlen = mac_header(rc, type, len, hdr);
    return mac_compute(rc, hdr, hlen, content, len, out);
}

bool tls_rec_mac_raw(tls_rec_crypto *rc, const uint8_t *msg, size_t len, uint8_t *out)
{
    return rc && rc->mac_inner && mac_compute(rc, NULL, 0, msg, len, out);
}

bool tls_rec_init(tls_rec_crypto *rc, const tls_suite *suite, uint16_t version, bool encrypt,
                  bool etm, const uint8_t *mac_key, const uint8_t *key, const uint8_t *iv)
{
    static const uint8_t zero_iv[16];
    if (!rc)
        return false;
    tls_rec_clear(rc);
    rc->version = version;
    rc->encrypt = encrypt;
    if (!suite)
        return true;

    const tls_cipher_desc *cd = tls_cipher_desc_get(suite->cipher);
    const EVP_CIPHER *cipher = tls_algs_cipher(suite->cipher);
    if (!cd || !cipher || !key || version < TLS_SSL3 || version > TLS_TLS12 ||
        EVP_CIPHER_get_key_length(cipher) != (int)cd->key_len)
        goto fail;
    rc->suite = suite;
    rc->cd = cd;
    rc->ssl3 = version == TLS_SSL3;

    const uint8_t *init_iv = NULL;
    if (cd->kind == TLS_CIPHER_AEAD) {
        /* AEAD suites are TLS 1.2 only (RFC 5288 4, RFC 7905 2) */
        if (version < TLS_TLS12 || !iv || cd->iv_len > sizeof rc->iv)
            goto fail;
        memcpy(rc->iv, iv, cd->iv_len);
    } else {
        rc->mac_len = tls_mac_len(suite->mac);
        if (!rc->mac_len || !mac_key)
            goto fail;
        /* SHA-256/384 MACs came with TLS 1.2 (RFC 5246 A.5, RFC 5289) */
        if ((suite->mac == TLS_MAC_SHA256 || suite->mac == TLS_MAC_SHA384) && version < TLS_TLS12)
            goto fail;
        rc->md = tls_algs_md(tls_mac_hash(suite->mac));
        if (!rc->md || (size_t)EVP_MD_get_size(rc->md) != rc->mac_len)
            goto fail;
        rc->etm = etm && cd->kind == TLS_CIPHER_CBC;
        if (rc->etm && rc->ssl3) /* SSL 3.0 has no extensions to negotiate it */
            goto fail;
        if (cd->kind == TLS_CIPHER_CBC) {
            rc->explicit_iv = version >= TLS_TLS11;
            if (!rc->explicit_iv && !iv)
                goto fail;
            if (cd->block_len > sizeof zero_iv)
                goto fail;
            init_iv = rc->explicit_iv ? zero_iv : iv; /* explicit: replaced per record */
        }
        if (!mac_setup(rc, mac_key))
            goto fail;
    }

    rc->ctx = EVP_CIPHER_CTX_new();
    if (!rc->ctx || !EVP_CipherInit_ex2(rc->ctx, cipher, key, init_iv, encrypt ? 1 : 0, NULL))
        goto fail;
    if (cd->kind == TLS_CIPHER_CBC && !EVP_CIPHER_CTX_set_padding(rc->ctx, 0))
        goto fail;
    return true;
fail:
    tls_rec_clear(rc);
    rc->version = version;
    rc->encrypt = encrypt;
    return false;
}

size_t tls_rec_prefix_len(const tls_rec_crypto *rc)
{
    if (!rc->suite || rc->version == TLS_TLS13)
        return 0;
    if (rc->cd->kind == TLS_CIPHER_AEAD)
        return rc->cd->explicit_iv;
    return rc->explicit_iv ? rc->cd->block_len : 0;
}

size_t tls_rec_overhead(const tls_rec_crypto *rc)
{
    if (!rc->suite)
        return 0;
    if (rc->version == TLS_TLS13)
        return 1 + rc->cd->tag_len; /* inner content type + tag */
    switch (rc->cd->kind) {
    case TLS_CIPHER_STREAM: return rc->mac_len;
    case TLS_CIPHER_CBC: return tls_rec_prefix_len(rc) + rc->mac_len + rc->cd->block_len;
    case TLS_CIPHER_AEAD: return rc->cd->explicit_iv + rc->cd->tag_len;
    }
    return 0;
}

/* AEAD nonce: GCM fixed IV(4) || explicit(8) (RFC 5288 3); ChaCha20-Poly1305
 * IV(12) xor (0^32 || seq) (RFC 7905 2). */
static void aead_nonce(const tls_rec_crypto *rc, const uint8_t *explicit_part, uint8_t nonce[12])
{
    if (rc->cd->explicit_iv) {
        memcpy(nonce, rc->iv, 4);
        memcpy(nonce + 4, explicit_part, 8);
    } else {
        uint8_t s[8];
        put_u64(s, rc->seq);
        memcpy(nonce, rc->iv, 12);
        for (int i = 0; i < 8; i++)
            nonce[4 + i] ^= s[i];
    }
}

static bool cbc_set_iv(tls_rec_crypto *rc, const uint8_t *iv)
{
    /* new IV only: a NULL key keeps the key schedule */
    return EVP_CipherInit_ex2(rc->ctx, NULL, NULL, iv, rc->encrypt ? 1 : 0, NULL) == 1;
}

static bool cipher_run(tls_rec_crypto *rc, uint8_t *buf, size_t len)
{
    int n = 0;
    if (len == 0)
        return true;
    return EVP_CipherUpdate(rc->ctx, buf, &n, buf, (int)len) == 1 && (size_t)n == len;
}

bool tls_rec_seal(tls_rec_crypto *rc, uint8_t type, uint16_t wire_version, const uint8_t *pt,
                  size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    if (!rc || !out || !out_len || len > TLS_MAX_PLAINTEXT || (len && !pt) ||
        rc->seq == UINT64_MAX)
        return false;
    if (rc->version == TLS_TLS13 && rc->suite)
        return tls13_rec_seal(rc, type, pt, len, out, cap, out_len);
    const tls_cipher_desc *cd = rc->cd;
    size_t pre = tls_rec_prefix_len(rc), maclen = rc->mac_len, padlen = 0, flen = len;
    if (rc->suite) {
        switch (cd->kind) {
        case TLS_CIPHER_STREAM: flen = len + maclen; break;
        case TLS_CIPHER_CBC:
            /* minimal padding, length byte included: 1..block_len bytes */
            padlen = cd->block_len - (len + (rc->etm ? 0 : maclen)) % cd->block_len;
            flen = pre + len + maclen + padlen;
            break;
        case TLS_CIPHER_AEAD: flen = pre + len + cd->tag_len; break;
        }
    }
    if (cap < TLS_RECORD_HEADER || cap - TLS_RECORD_HEADER < flen)
        return false;
    uint8_t *frag = out + TLS_RECORD_HEADER, *body = frag + pre;
    /* an AEAD encrypts plaintext that lies apart from the record straight
     * into it; everything else works on the plaintext moved in first */
    bool direct = rc->suite && cd->kind == TLS_CIPHER_AEAD && len && (pt + len <= body || body + len <= pt);
    if (len && body != pt && !direct)
        memmove(body, pt, len);
    tls_rec_write_header(out, type, wire_version, flen);

    uint8_t hdr[13];
    size_t hlen;
    bool ok = true;
    if (!rc->suite) {
        /* null cipher: fragment = plaintext */
    } else if (cd->kind == TLS_CIPHER_STREAM) {
        hlen = mac_header(rc, type, len, hdr);
        ok = mac_compute(rc, hdr, hlen, body, len, body + len) && cipher_run(rc, body, len + maclen);
    } else if (cd->kind == TLS_CIPHER_CBC && !rc->etm) {
        hlen = mac_header(rc, type, len, hdr);
        ok = mac_compute(rc, hdr, hlen, body, len, body + len);
        /* TLS: every padding byte holds the padding length; SSL 3.0 allows
         * any bytes but this choice is valid there too */
        memset(body + len + maclen, (int)(padlen - 1), padlen);
        if (rc->explicit_iv)
            ok = ok && RAND_bytes(frag, (int)pre) == 1 && cbc_set_iv(rc, frag);
        ok = ok && cipher_run(rc, body, len + maclen + padlen);
    } else if (cd->kind == TLS_CIPHER_CBC) {
        /* RFC 7366: MAC over seq || type || version || length || IV || ciphertext */
        memset(body + len, (int)(padlen - 1), padlen);
        if (rc->explicit_iv)
            ok = RAND_bytes(frag, (int)pre) == 1 && cbc_set_iv(rc, frag);
        ok = ok && cipher_run(rc, body, len + padlen);
        hlen = mac_header(rc, type, pre + len + padlen, hdr);
        ok = ok && mac_compute(rc, hdr, hlen, frag, pre + len + padlen, body + len + padlen);
    } else {
        uint8_t nonce[12];
        int n = 0;
        if (pre)
            put_u64(frag, rc->seq); /* the sequence number is a fine unique explicit nonce */
        aead_nonce(rc, frag, nonce);
        hlen = mac_header(rc, type, len, hdr);
        ok = EVP_CipherInit_ex2(rc->ctx, NULL, NULL, nonce, 1, NULL) == 1 &&
             EVP_CipherUpdate(rc->ctx, NULL, &n, hdr, (int)hlen) == 1 &&
             (direct ? EVP_CipherUpdate(rc->ctx, body, &n, pt, (int)len) == 1 && (size_t)n == len
                     : cipher_run(rc, body, len)) &&
             EVP_CipherFinal_ex(rc->ctx, body + len, &n) == 1 &&
             EVP_CIPHER_CTX_ctrl(rc->ctx, EVP_CTRL_AEAD_GET_TAG, cd->tag_len, body + len) == 1;
    }
    if (!ok)
        return false;
    rc->seq++;
    *out_len = TLS_RECORD_HEADER + flen;
    return true;
}

/* TLS padding check (RFC 5246 6.2.3.2) or SSL 3.0's (RFC 6101 5.2.3.2: only
 * the length byte matters, and it must be below the block size), without
 * branches on the secret padding length. Returns an all-ones mask if the
 * padding fits in front of `overhead` bytes and is well formed; *remove gets
 * the padding length including its length byte (0 if bad). */
static size_t cbc_padding_check(const tls_rec_crypto *rc, const uint8_t *d, size_t len,
                                size_t overhead, size_t *remove)
{
    size_t pad = d[len - 1];
    size_t good = ct_ge(len, pad + 1 + overhead);
    if (rc->ssl3) {
        good &= ct_lt(pad, rc->cd->block_len);
    } else {
        /* scan the most padding there can be, whatever the length byte says */
        size_t n = len < MAX_PAD ? len : MAX_PAD;
        for (size_t i = 0; i < n; i++) {
            size_t in_pad = ct_lt(i, pad + 1);
            good &= ~(in_pad & ~ct_eq(d[len - 1 - i], pad));
        }
    }
    *remove = good & (pad + 1);
    return good;
}

/* MAC-then-encrypt CBC receive, after decryption of d[0..len): padding check,
 * MAC extraction and MAC check in constant time (Lucky 13). The MAC over the
 * claimed content costs as many hash compressions as the longest possible
 * content: the difference goes through a dummy digest (the s2n-tls way). */
static int cbc_mte_check(tls_rec_crypto *rc, uint8_t type, const uint8_t *d, size_t len,
                         size_t *data_len)
{
    size_t maclen = rc->mac_len, remove = 0;
    size_t good = cbc_padding_check(rc, d, len, maclen, &remove);
    size_t dlen = len - maclen - remove; /* secret; bad padding counts as none */

    /* Copy the received MAC out of d[dlen..dlen+maclen) by scanning every
     * position it can start at, then undo the rotation that leaves. */
    uint8_t rot[EVP_MAX_MD_SIZE], recv[EVP_MAX_MD_SIZE], calc[EVP_MAX_MD_SIZE];
    size_t scan = len > maclen + MAX_PAD ? len - maclen - MAX_PAD : 0;
    size_t mac_end = dlen + maclen, in_mac = 0, rot_off = 0, j = 0;
    memset(rot, 0, sizeof rot);
    for (size_t i = scan; i < len; i++) {
        size_t started = ct_eq(i, dlen);
        in_mac |= started;
        in_mac &= ct_lt(i, mac_end);
        rot_off |= j & started;
        rot[j] |= (uint8_t)(d[i] & in_mac);
        j++;
        j &= ct_lt(j, maclen);
    }
    for (size_t k = 0; k < maclen; k++) {
        size_t idx = rot_off + k;
        idx -= maclen & ct_ge(idx, maclen);
        uint8_t b = 0;
        for (size_t i = 0; i < maclen; i++)
            b |= (uint8_t)(rot[i] & ct_eq(i, idx));
        recv[k] = b;
    }

    /* compressions: ceil((prefix + content + 1 + length field) / block) */
    unsigned sh = rc->mac_block_shift;
    size_t bmask = ((size_t)1 << sh) - 1, lenfield = sh == 7 ? 16 : 8;
    size_t max_blocks = (rc->mac_prefix + (len - maclen) + 1 + lenfield + bmask) >> sh;
    size_t blocks = (rc->mac_prefix + dlen + 1 + lenfield + bmask) >> sh;
    size_t extra = (max_blocks - blocks) << sh;
    extra = ct_select(ct_lt(extra, sizeof dummy_blocks + 1), extra, sizeof dummy_blocks);

    uint8_t hdr[13];
    size_t hlen = mac_header(rc, type, dlen, hdr);
    bool ok = mac_compute(rc, hdr, hlen, d, dlen, calc) &&
              EVP_DigestUpdate(rc->mac_dummy, dummy_blocks, extra);
    good &= ct_is_zero((size_t)(unsigned)CRYPTO_memcmp(recv, calc, maclen));
    OPENSSL_cleanse(rot, sizeof rot);
    OPENSSL_cleanse(recv, sizeof recv);
    OPENSSL_cleanse(calc, sizeof calc);
    *data_len = dlen;
    if (!ok)
        return TLS_ALERT_INTERNAL_ERROR;
    return good ? 0 : TLS_ALERT_BAD_RECORD_MAC;
}

static int open_cbc(tls_rec_crypto *rc, uint8_t type, uint8_t *frag, size_t len, uint8_t **pt,
                    size_t *pt_len)
{
    size_t bs = rc->cd->block_len, maclen = rc->mac_len, dlen = 0;
    tls_rd r = tls_rd_make(frag, len);
    const uint8_t *iv = rc->explicit_iv ? tls_rd_bytes(&r, bs) : NULL;
    size_t left = tls_rd_left(&r);
    /* room for the IV, the MAC and at least a padding byte (ETM: a block) */
    if (r.bad || left < maclen + (rc->etm ? bs : 1))
        return TLS_ALERT_BAD_RECORD_MAC;
    size_t clen = left - (rc->etm ? maclen : 0); /* the part to decrypt */
    if (clen % bs != 0)
        return TLS_ALERT_BAD_RECORD_MAC;
    uint8_t *d = frag + r.off;

    if (rc->etm) {
        uint8_t hdr[13], calc[EVP_MAX_MD_SIZE];
        size_t hlen = mac_header(rc, type, r.off + clen, hdr);
        if (!mac_compute(rc, hdr, hlen, frag, r.off + clen, calc))
            return TLS_ALERT_INTERNAL_ERROR;
        int diff = CRYPTO_memcmp(calc, d + clen, maclen);
        OPENSSL_cleanse(calc, sizeof calc);
        if (diff)
            return TLS_ALERT_BAD_RECORD_MAC;
        if ((iv && !cbc_set_iv(rc, iv)) || !cipher_run(rc, d, clen))
            return TLS_ALERT_INTERNAL_ERROR;
        size_t remove = 0;
        if (!cbc_padding_check(rc, d, clen, 0, &remove))
            return TLS_ALERT_BAD_RECORD_MAC;
        dlen = clen - remove;
    } else {
        if ((iv && !cbc_set_iv(rc, iv)) || !cipher_run(rc, d, clen))
            return TLS_ALERT_INTERNAL_ERROR;
        int alert = cbc_mte_check(rc, type, d, clen, &dlen);
        if (alert)
            return alert;
    }
    if (dlen > TLS_MAX_PLAINTEXT)
        return TLS_ALERT_RECORD_OVERFLOW;
    *pt = d;
    *pt_len = dlen;
    return 0;
}

static int open_aead(tls_rec_crypto *rc, uint8_t type, uint8_t *frag, size_t len, uint8_t **pt,
                     size_t *pt_len)
{
    const tls_cipher_desc *cd = rc->cd;
    tls_rd r = tls_rd_make(frag, len);
    const uint8_t *explicit_part = tls_rd_bytes(&r, cd->explicit_iv);
    if (r.bad || tls_rd_left(&r) < cd->tag_len)
        return TLS_ALERT_BAD_RECORD_MAC;
    size_t dlen = tls_rd_left(&r) - cd->tag_len;
    if (dlen > TLS_MAX_PLAINTEXT)
        return TLS_ALERT_RECORD_OVERFLOW;
    uint8_t *body = frag + r.off, nonce[12], hdr[13];
    uint8_t scratch[16];
    int n = 0;
    aead_nonce(rc, explicit_part, nonce);
    size_t hlen = mac_header(rc, type, dlen, hdr);
    if (EVP_CipherInit_ex2(rc->ctx, NULL, NULL, nonce, 0, NULL) != 1 ||
        EVP_CipherUpdate(rc->ctx, NULL, &n, hdr, (int)hlen) != 1 || !cipher_run(rc, body, dlen) ||
        EVP_CIPHER_CTX_ctrl(rc->ctx, EVP_CTRL_AEAD_SET_TAG, cd->tag_len, body + dlen) != 1)
        return TLS_ALERT_INTERNAL_ERROR;
    if (EVP_CipherFinal_ex(rc->ctx, scratch, &n) != 1) {
        OPENSSL_cleanse(body, dlen); /* never leave unauthenticated plaintext behind */
        return TLS_ALERT_BAD_RECORD_MAC;
    }
    *pt = body;
    *pt_len = dlen;
    return 0;
}

int tls_rec_open(tls_rec_crypto *rc, uint8_t type, uint8_t *frag, size_t len, uint8_t **pt,
                 size_t *pt_len)
{
    if (!rc || (!frag && len) || !pt || !pt_len || rc->seq == UINT64_MAX)
        return TLS_ALERT_INTERNAL_ERROR;
    int alert;
    if (rc->version == TLS_TLS13 && rc->suite)
        return tls13_rec_open(rc, type, frag, len, pt, pt_len);
    if (!rc->suite) {
        if (len > TLS_MAX_PLAINTEXT)
            return TLS_ALERT_RECORD_OVERFLOW;
        *pt = frag;
        *pt_len = len;
        alert = 0;
    } else if (len > TLS_MAX_CIPHERTEXT) {
        return TLS_ALERT_RECORD_OVERFLOW;
    } else if (rc->cd->kind == TLS_CIPHER_STREAM) {
        size_t maclen = rc->mac_len;
        if (len < maclen)
            return TLS_ALERT_BAD_RECORD_MAC;
        size_t dlen = len - maclen;
        if (dlen > TLS_MAX_PLAINTEXT)
            return TLS_ALERT_RECORD_OVERFLOW;
        uint8_t hdr[13], calc[EVP_MAX_MD_SIZE];
        size_t hlen = mac_header(rc, type, dlen, hdr);
        if (!cipher_run(rc, frag, len) || !mac_compute(rc, hdr, hlen, frag, dlen, calc))
            return TLS_ALERT_INTERNAL_ERROR;
        int diff = CRYPTO_memcmp(calc, frag + dlen, maclen);
        OPENSSL_cleanse(calc, sizeof calc);
        if (diff)
            return TLS_ALERT_BAD_RECORD_MAC;
        *pt = frag;
        *pt_len = dlen;
        alert = 0;
    } else if (rc->cd->kind == TLS_CIPHER_CBC) {
        alert = open_cbc(rc, type, frag, len, pt, pt_len);
    } else {
        alert = open_aead(rc, type, frag, len, pt, pt_len);
    }
    if (alert == 0)
        rc->seq++;
    return alert;
}
