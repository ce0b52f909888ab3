/* Key schedules for SSL 3.0 .. TLS 1.2 (see prf.h), and the HMAC that they
 * and TLS 1.3's HKDF share. Digests come from the algorithm cache
 * (tls_algs_md), fetched once per process. */
#include "prf.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

#include "tlsengine.h"

/* ---- HMAC (RFC 2104) over the digest ---------------------------------- */

/* The key schedules key a new HMAC for nearly every output block, and an
 * EVP_MAC context costs more to duplicate, key, restart and free (each
 * restart copies a digest context, which allocates in OpenSSL 3) than the
 * hashing itself: perf put a quarter of a full TLS 1.2 handshake there. So
 * HMAC runs here on one digest context, re-initialised for each pass. */

#define HMAC_MAX_BLOCK 128 /* SHA-384 and SHA-512 */

typedef struct hmac_key {
    const EVP_MD *md;
    size_t block, out_len;
    uint8_t k[HMAC_MAX_BLOCK]; /* the key, padded with zeros to a block */
    EVP_MD_CTX *ctx;
} hmac_key;

static bool hmac_key_init(hmac_key *hk, tls_hash_id h, const uint8_t *key, size_t key_len)
{
    memset(hk, 0, sizeof *hk);
    hk->md = tls_algs_md(h);
    if (!hk->md)
        return false;
    hk->block = (size_t)EVP_MD_get_block_size(hk->md);
    hk->out_len = tls_hash_len(h);
    hk->ctx = EVP_MD_CTX_new();
    if (!hk->ctx || hk->block > sizeof hk->k || hk->out_len > EVP_MAX_MD_SIZE)
        return false;
    unsigned n = 0;
    if (key_len > hk->block) /* a long key is hashed first */
        return EVP_DigestInit_ex2(hk->ctx, hk->md, NULL) && EVP_DigestUpdate(hk->ctx, key, key_len) &&
               EVP_DigestFinal_ex(hk->ctx, hk->k, &n);
    if (key_len)
        memcpy(hk->k, key, key_len);
    return true;
}

static void hmac_key_wipe(hmac_key *hk)
{
    EVP_MD_CTX_free(hk->ctx);
    OPENSSL_cleanse(hk->k, sizeof hk->k);
}

/* Starts a pass: the digest over the key XOR pad (0x36 inner, 0x5c outer). */
static bool hmac_pass(hmac_key *hk, uint8_t pad_byte)
{
    uint8_t pad[HMAC_MAX_BLOCK];
    for (size_t i = 0; i < hk->block; i++)
        pad[i] = hk->k[i] ^ pad_byte;
    bool ok = EVP_DigestInit_ex2(hk->ctx, hk->md, NULL) && EVP_DigestUpdate(hk->ctx, pad, hk->block);
    OPENSSL_cleanse(pad, sizeof pad);
    return ok;
}

/* HMAC over the concatenation of n parts (empty parts allowed). */
static bool hmac_parts(hmac_key *hk, const uint8_t *const *part, const size_t *len, size_t n, uint8_t *out)
{
    uint8_t inner[EVP_MAX_MD_SIZE];
    unsigned got = 0;
    bool ok = hmac_pass(hk, 0x36);
    for (size_t i = 0; ok && i < n; i++)
        ok = !len[i] || EVP_DigestUpdate(hk->ctx, part[i], len[i]);
    ok = ok && EVP_DigestFinal_ex(hk->ctx, inner, &got) && got == hk->out_len && hmac_pass(hk, 0x5c) &&
         EVP_DigestUpdate(hk->ctx, inner, hk->out_len) && EVP_DigestFinal_ex(hk->ctx, out, &got) &&
         got == hk->out_len;
    OPENSSL_cleanse(inner, sizeof inner);
    return ok;
}

/* ---- TLS PRF --------------------------------------------------------- */

/* The PRF seed is label + seed1 + seed2, kept in pieces to avoid a copy. */
typedef struct seed_parts {
    const uint8_t *p[3];
    size_t len[3];
} seed_parts;

/* RFC 5246 5: P_hash(secret, seed) = HMAC(secret, A(1) + seed) + HMAC(secret, A(2) + seed) + ...,
 * A(0) = seed, A(i) = HMAC(secret, A(i-1)). With xor_into, the output is
 * XORed into out (for the TLS 1.0/1.1 MD5 ^ SHA-1 split). */
static bool p_hash(tls_hash_id h, const uint8_t *secret, size_t secret_len, const seed_parts *seed,
                   uint8_t *out, size_t out_len, bool xor_into)
{
    hmac_key hk;
    uint8_t a[EVP_MAX_MD_SIZE], blk[EVP_MAX_MD_SIZE];
    bool ok = hmac_key_init(&hk, h, secret, secret_len);
    size_t hl = hk.out_len;
    /* A(1) = HMAC(seed) */
    ok = ok && hmac_parts(&hk, seed->p, seed->len, 3, a);
    for (size_t done = 0; ok && done < out_len;) {
        const uint8_t *part[4] = {a, seed->p[0], seed->p[1], seed->p[2]};
        size_t len[4] = {hl, seed->len[0], seed->len[1], seed->len[2]};
        ok = hmac_parts(&hk, part, len, 4, blk);
        if (!ok)
            break;
        size_t take = out_len - done < hl ? out_len - done : hl;
        if (xor_into)
            for (size_t i = 0; i < take; i++)
                out[done + i] ^= blk[i];
        else
            memcpy(out + done, blk, take);
        done += take;
        if (done < out_len)
            ok = hmac_parts(&hk, part, len, 1, a); /* A(i+1) = HMAC(A(i)) */
    }
    hmac_key_wipe(&hk);
    OPENSSL_cleanse(a, sizeof a);
    OPENSSL_cleanse(blk, sizeof blk);
    return ok;
}

/* ---- SSL 3.0 --------------------------------------------------------- */

/* RFC 6101 6.1 / 6.2.2: MD5(secret + SHA1('A' + secret + seed)) +
 * MD5(secret + SHA1('BB' + secret + seed)) + ... (at most 26 blocks: 'A'..'Z'). */
static bool ssl3_prf(const uint8_t *secret, size_t secret_len, const seed_parts *seed, uint8_t *out,
                     size_t out_len)
{
    const EVP_MD *md5 = tls_algs_md(TLS_HASH_MD5), *sha1 = tls_algs_md(TLS_HASH_SHA1);
    if (!md5 || !sha1 || out_len > 26 * 16)
        return false;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return false;
    uint8_t letters[26], sha[20], blk[16];
    unsigned n = 0;
    bool ok = true;
    for (size_t i = 0, done = 0; ok && done < out_len; i++) {
        memset(letters, 'A' + (int)i, i + 1);
        ok = EVP_DigestInit_ex2(ctx, sha1, NULL) && EVP_DigestUpdate(ctx, letters, i + 1) &&
             EVP_DigestUpdate(ctx, secret, secret_len);
        for (int k = 0; ok && k < 2; k++)
            ok = EVP_DigestUpdate(ctx, seed->p[k], seed->len[k]);
        ok = ok && EVP_DigestFinal_ex(ctx, sha, &n) && n == sizeof sha &&
             EVP_DigestInit_ex2(ctx, md5, NULL) && EVP_DigestUpdate(ctx, secret, secret_len) &&
             EVP_DigestUpdate(ctx, sha, sizeof sha) && EVP_DigestFinal_ex(ctx, blk, &n) && n == sizeof blk;
        if (ok) {
            size_t take = out_len - done < sizeof blk ? out_len - done : sizeof blk;
            memcpy(out + done, blk, take);
            done += take;
        }
    }
    EVP_MD_CTX_free(ctx);
    OPENSSL_cleanse(sha, sizeof sha);
    OPENSSL_cleanse(blk, sizeof blk);
    return ok;
}

/* RFC 6101 5.6.8 / 5.6.9: for MD5 (48 pad bytes) then SHA1 (40):
 * hash(ms + pad2 + hash(transcript + sender + ms + pad1)); no sender for
 * CertificateVerify. 36 bytes out. */
static bool ssl3_hs_hash(const uint8_t ms[48], const uint8_t *t, size_t len, const uint8_t *sender,
                         uint8_t out[36])
{
    static const struct {
        tls_hash_id h;
        size_t pad_len, out_off, out_len;
    } parts[2] = {{TLS_HASH_MD5, 48, 0, 16}, {TLS_HASH_SHA1, 40, 16, 20}};
    uint8_t pad1[48], pad2[48], inner[20];
    memset(pad1, 0x36, sizeof pad1);
    memset(pad2, 0x5c, sizeof pad2);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx != NULL;
    unsigned n = 0;
    for (int i = 0; ok && i < 2; i++) {
        const EVP_MD *md = tls_algs_md(parts[i].h);
        ok = md && EVP_DigestInit_ex2(ctx, md, NULL) && (len == 0 || EVP_DigestUpdate(ctx, t, len)) &&
             (!sender || EVP_DigestUpdate(ctx, sender, 4)) && EVP_DigestUpdate(ctx, ms, 48) &&
             EVP_DigestUpdate(ctx, pad1, parts[i].pad_len) && EVP_DigestFinal_ex(ctx, inner, &n) &&
             n == parts[i].out_len && EVP_DigestInit_ex2(ctx, md, NULL) &&
             EVP_DigestUpdate(ctx, ms, 48) && EVP_DigestUpdate(ctx, pad2, parts[i].pad_len) &&
             EVP_DigestUpdate(ctx, inner, n) && EVP_DigestFinal_ex(ctx, out + parts[i].out_off, &n) &&
             n == parts[i].out_len;
    }
    EVP_MD_CTX_free(ctx);
    OPENSSL_cleanse(inner, sizeof inner);
    if (!ok)
        OPENSSL_cleanse(out, 36);
    return ok;
}

/* ---- dispatch -------------------------------------------------------- */

typedef enum { PRF_BAD, PRF_SSL3, PRF_TLS10, PRF_TLS12 } prf_kind;

static prf_kind kind_of(uint16_t version, tls_hash_id h)
{
    switch (version) {
    case TLS_SSL3: return PRF_SSL3;
    case TLS_TLS10:
    case TLS_TLS11: return PRF_TLS10;
    case TLS_TLS12:
        /* RFC 5246 5: SHA-256 or a stronger hash named by the suite */
        return h == TLS_HASH_SHA256 || h == TLS_HASH_SHA384 || h == TLS_HASH_SHA512 ||
                       h == TLS_HASH_SHA224
                   ? PRF_TLS12
                   : PRF_BAD;
    default: return PRF_BAD; /* TLS 1.3 uses HKDF, not this PRF */
    }
}

bool tls_prf(uint16_t version, tls_hash_id prf_hash, const uint8_t *secret, size_t secret_len,
             const char *label, const uint8_t *seed1, size_t seed1_len, const uint8_t *seed2,
             size_t seed2_len, uint8_t *out, size_t out_len)
{
    prf_kind k = kind_of(version, prf_hash);
    if (k == PRF_BAD || (!secret && secret_len) || (!seed1 && seed1_len) || (!seed2 && seed2_len) ||
        (!out && out_len))
        return false;
    if (out_len == 0)
        return true;
    if (k == PRF_SSL3) {
        seed_parts s = {{seed1, seed2, NULL}, {seed1_len, seed2_len, 0}};
        return ssl3_prf(secret, secret_len, &s, out, out_len);
    }
    size_t label_len = label ? strlen(label) : 0;
    seed_parts s = {{(const uint8_t *)label, seed1, seed2}, {label_len, seed1_len, seed2_len}};
    bool ok;
    if (k == PRF_TLS12) {
        ok = p_hash(prf_hash, secret, secret_len, &s, out, out_len, false);
    } else {
        /* RFC 2246 5: S1 = first ceil(L/2) bytes, S2 = last ceil(L/2) bytes
         * (an odd-length secret's middle byte is in both halves) */
        size_t half = (secret_len + 1) / 2;
        ok = p_hash(TLS_HASH_MD5, secret, half, &s, out, out_len, false) &&
             p_hash(TLS_HASH_SHA1, secret_len ? secret + (secret_len - half) : secret, half, &s, out,
                    out_len, true);
    }
    if (!ok)
        OPENSSL_cleanse(out, out_len);
    return ok;
}

bool tls_master_secret(uint16_t version, tls_hash_id prf_hash, const uint8_t *pms, size_t pms_len,
                       const uint8_t client_random[32], const uint8_t server_random[32],
                       const uint8_t *session_hash, size_t session_hash_len, uint8_t ms[48])
{
    if (!ms)
        return false;
    /* RFC 7627 4: master_secret = PRF(pms, "extended master secret", session_hash).
     * RFC 7627 defines no SSL 3.0 construction: refuse rather than invent one. */
    if (session_hash)
        return version != TLS_SSL3 && session_hash_len > 0 &&
               tls_prf(version, prf_hash, pms, pms_len, "extended master secret", session_hash,
                       session_hash_len, NULL, 0, ms, 48);
    if (!client_random || !server_random)
        return false;
    /* RFC 5246 8.1 / RFC 6101 6.1: seed = client_random + server_random */
    return tls_prf(version, prf_hash, pms, pms_len, "master secret", client_random, 32, server_random,
                   32, ms, 48);
}

bool tls_key_block(uint16_t version, tls_hash_id prf_hash, const uint8_t ms[48],
                   const uint8_t client_random[32], const uint8_t server_random[32], uint8_t *out,
                   size_t out_len)
{
    if (!ms || !client_random || !server_random)
        return false;
    /* RFC 5246 6.3 / RFC 6101 6.2.2: server_random first, unlike the master secret */
    return tls_prf(version, prf_hash, ms, 48, "key expansion", server_random, 32, client_random, 32, out,
                   out_len);
}

bool tls_transcript_hash(uint16_t version, tls_hash_id prf_hash, const uint8_t *transcript,
                         size_t len, uint8_t *out, size_t *out_len)
{
    if (!out || !out_len || (!transcript && len))
        return false;
    *out_len = 0;
    static const uint8_t nothing[1] = {0};
    if (!transcript)
        transcript = nothing;
    unsigned n1 = 0, n2 = 0;
    if (version == TLS_SSL3 || version == TLS_TLS10 || version == TLS_TLS11) {
        /* RFC 2246 7.4.9 / RFC 7627 3: MD5(t) + SHA1(t) */
        const EVP_MD *md5 = tls_algs_md(TLS_HASH_MD5), *sha1 = tls_algs_md(TLS_HASH_SHA1);
        if (!md5 || !sha1 || !EVP_Digest(transcript, len, out, &n1, md5, NULL) || n1 != 16 ||
            !EVP_Digest(transcript, len, out + 16, &n2, sha1, NULL) || n2 != 20)
            return false;
        *out_len = 36;
        return true;
    }
    if (version < TLS_TLS12 || version > TLS_TLS13 || prf_hash == TLS_HASH_MD5 ||
        prf_hash == TLS_HASH_SHA1)
        return false;
    const EVP_MD *md = tls_algs_md(prf_hash);
    if (!md || !EVP_Digest(transcript, len, out, &n1, md, NULL) || n1 != tls_hash_len(prf_hash))
        return false;
    *out_len = n1;
    return true;
}

bool tls_finished(uint16_t version, tls_hash_id prf_hash, const uint8_t ms[48], bool from_client,
                  const uint8_t *transcript, size_t len, uint8_t *out, size_t *out_len)
{
    if (!ms || !out || !out_len || (!transcript && len))
        return false;
    *out_len = 0;
    if (version == TLS_SSL3) {
        /* RFC 6101 5.6.9: Sender client = 0x434C4E54, server = 0x53525652 */
        static const uint8_t clnt[4] = {0x43, 0x4c, 0x4e, 0x54}, srvr[4] = {0x53, 0x52, 0x56, 0x52};
        if (!ssl3_hs_hash(ms, transcript, len, from_client ? clnt : srvr, out))
            return false;
        *out_len = 36;
        return true;
    }
    /* RFC 5246 7.4.9: PRF(ms, finished_label, Hash(handshake_messages))[0..11] */
    uint8_t h[EVP_MAX_MD_SIZE];
    size_t hl = 0;
    bool ok = kind_of(version, prf_hash) != PRF_BAD &&
              tls_transcript_hash(version, prf_hash, transcript, len, h, &hl) &&
              tls_prf(version, prf_hash, ms, 48, from_client ? "client finished" : "server finished", h,
                      hl, NULL, 0, out, 12);
    OPENSSL_cleanse(h, sizeof h);
    if (ok)
        *out_len = 12;
    return ok;
}

bool tls_ssl3_cert_verify_hash(const uint8_t ms[48], const uint8_t *transcript, size_t len,
                               uint8_t out[36])
{
    if (!ms || !out || (!transcript && len))
        return false;
    return ssl3_hs_hash(ms, transcript, len, NULL, out);
}

void tls_keylog_line(const uint8_t client_random[32], const uint8_t ms[48], char *buf, size_t len)
{
    static const char prefix[] = "CLIENT_RANDOM ";
    static const char hex[] = "0123456789abcdef";
    const size_t need = sizeof prefix - 1 + 64 + 1 + 96 + 1;
    if (!buf || len == 0)
        return;
    buf[0] = '\0';
    if (len < need || !client_random || !ms)
        return; /* too small: an empty line rather than a truncated secret */
    char *p = buf;
    memcpy(p, prefix, sizeof prefix - 1);
    p += sizeof prefix - 1;
    for (size_t i = 0; i < 32; i++) {
        *p++ = hex[client_random[i] >> 4];
        *p++ = hex[client_random[i] & 15];
    }
    *p++ = ' ';
    for (size_t i = 0; i < 48; i++) {
        *p++ = hex[ms[i] >> 4];
        *p++ = hex[ms[i] & 15];
    }
    *p = '\0';
}

/* HKDF's one-shot HMAC: key, one pass, wipe. */
bool tls_hmac(tls_hash_id h, const uint8_t *key, size_t key_len, const uint8_t *d1, size_t l1,
              const uint8_t *d2, size_t l2, uint8_t *out)
{
    hmac_key hk;
    const uint8_t *part[2] = {d1, d2};
    size_t len[2] = {l1, l2};
    bool ok = hmac_key_init(&hk, h, key, key_len) && hmac_parts(&hk, part, len, 2, out);
    hmac_key_wipe(&hk);
    return ok;
}
