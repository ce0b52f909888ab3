/* SSL 3.0 record protection against /work/shared/vectors/ssl3.txt (tlslite-ng,
 * cross-checked with hashlib and the openssl tool; 3b from Botan's
 * ssl3mac.vec): case 3 (record MAC), 3b (bare SSL3-MAC) and 6 (full record
 * protection: MAC, padding, CBC IV chaining, RC4 stream continuation).
 * A missing or unreadable vector file fails the tests. */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "lib/vectors.h"
#include "record.h"
#include "suites.h"

static vec_file *vf;

static char load_error[512];

static void load(void)
{
    vf = vec_load("ssl3.txt");
    if (!vf)
        snprintf(load_error, sizeof load_error, "%s", vec_error());
}

/* every case-driven test starts here: no vectors is a failure, never a skip */
static void need_vectors(void)
{
    cr_assert(vf, "ssl3.txt (%s): %s", vec_resolve("ssl3.txt"), load_error);
}

static void unload(void)
{
    vec_free(vf);
    vf = NULL;
}

TestSuite(ssl3_record, .init = load, .fini = unload);

static const uint8_t *field(const vec_case *c, const char *name, size_t *len)
{
    const uint8_t *p = vec_bytes(c, name, len);
    cr_assert(p, "%s: no field %s", vec_where(c), name);
    return p;
}

/* An SSL 3.0 state that only MACs: RC4 with the hash the case names (the
 * cipher does not enter the MAC). */
static void mac_state(const vec_case *c, tls_rec_crypto *rc, size_t *mac_len)
{
    uint64_t alg = vec_uint(c, "hash_alg");
    cr_assert(alg == 1 || alg == 2, "%s: hash_alg %llu", vec_where(c), (unsigned long long)alg);
    const tls_suite *s = tls_suite_by_id(alg == 1 ? 0x0004 : 0x0005); /* RC4-MD5 / RC4-SHA */
    cr_assert(s, "RC4 suites missing from the table");
    size_t kl;
    const uint8_t *secret = field(c, "mac_secret", &kl);
    *mac_len = tls_mac_len(s->mac);
    cr_assert_eq(kl, *mac_len, "%s: mac_secret length", vec_where(c));
    uint8_t key[16] = {0};
    memset(rc, 0, sizeof *rc);
    cr_assert(tls_rec_init(rc, s, TLS_SSL3, true, false, secret, key, NULL), "%s", vec_where(c));
}

/* inner_hash from the RFC 6101 formula, to show the case is read right */
static void check_inner(const vec_case *c, size_t mac_len)
{
    size_t kl, fl, il;
    const uint8_t *secret = field(c, "mac_secret", &kl), *frag = field(c, "fragment", &fl);
    const uint8_t *want = field(c, "inner_hash", &il);
    uint8_t pad[48], hdr[11], got[EVP_MAX_MD_SIZE];
    size_t plen = mac_len == 16 ? 48 : 40;
    uint64_t seq = vec_uint(c, "seq_num"), len = vec_uint(c, "length");
    for (int i = 0; i < 8; i++)
        hdr[i] = (uint8_t)(seq >> (56 - 8 * i));
    hdr[8] = (uint8_t)vec_uint(c, "content_type");
    hdr[9] = (uint8_t)(len >> 8);
    hdr[10] = (uint8_t)len;
    memset(pad, 0x36, plen);
    EVP_MD_CTX *x = EVP_MD_CTX_new();
    unsigned n;
    cr_assert(EVP_DigestInit_ex(x, mac_len == 16 ? EVP_md5() : EVP_sha1(), NULL) && EVP_DigestUpdate(x, secret, kl) &&
              EVP_DigestUpdate(x, pad, plen) && EVP_DigestUpdate(x, hdr, 11) && EVP_DigestUpdate(x, frag, fl) &&
              EVP_DigestFinal_ex(x, got, &n));
    EVP_MD_CTX_free(x);
    cr_assert_eq(n, il);
    cr_assert(memcmp(got, want, il) == 0, "%s: inner_hash", vec_where(c));
}

Test(ssl3_record, record_mac)
{
    need_vectors();
    size_t run = 0;
    for (size_t i = 0; i < vf->ncases; i++) {
        const vec_case *c = &vf->cases[i];
        if (!vec_has(c, "fragment"))
            continue;
        tls_rec_crypto rc;
        size_t ml, fl, wl;
        mac_state(c, &rc, &ml);
        const uint8_t *frag = field(c, "fragment", &fl), *want = field(c, "mac", &wl);
        cr_assert_eq(vec_uint(c, "length"), fl, "%s: length field", vec_where(c));
        cr_assert_eq(wl, ml);
        check_inner(c, ml);
        rc.seq = vec_uint(c, "seq_num");
        uint8_t got[EVP_MAX_MD_SIZE];
        cr_assert(tls_rec_mac(&rc, (uint8_t)vec_uint(c, "content_type"), frag, fl, got), "%s", vec_where(c));
        cr_assert(memcmp(got, want, ml) == 0, "%s: record MAC", vec_where(c));
        /* any other sequence number gives another MAC */
        rc.seq ^= 1;
        cr_assert(tls_rec_mac(&rc, (uint8_t)vec_uint(c, "content_type"), frag, fl, got));
        cr_assert(memcmp(got, want, ml) != 0, "%s: MAC ignores seq", vec_where(c));
        tls_rec_clear(&rc);
        run++;
    }
    cr_assert_eq(run, vec_count(vf, "fragment"));
    cr_assert_eq(run, 4, "ssl3.txt has 4 record-MAC cases, ran %zu", run);
}

Test(ssl3_record, bare_ssl3_mac)
{
    need_vectors();
    size_t run = 0;
    for (size_t i = 0; i < vf->ncases; i++) {
        const vec_case *c = &vf->cases[i];
        if (!vec_has(c, "raw_input"))
            continue;
        tls_rec_crypto rc;
        size_t ml, rl, wl;
        mac_state(c, &rc, &ml);
        const uint8_t *raw = field(c, "raw_input", &rl), *want = field(c, "mac", &wl);
        cr_assert_eq(wl, ml);
        uint8_t got[EVP_MAX_MD_SIZE];
        cr_assert(tls_rec_mac_raw(&rc, raw, rl, got));
        cr_assert(memcmp(got, want, ml) == 0, "%s: SSL3-MAC", vec_where(c));
        tls_rec_clear(&rc);
        run++;
    }
    cr_assert_eq(run, vec_count(vf, "raw_input"));
    cr_assert_eq(run, 6, "ssl3.txt has 6 Botan SSL3-MAC cases, ran %zu", run);
}

/* ---- case 6: full record protection ------------------------------------ */

/* An SSL 3.0 state for a case: keys from the case, the IV in effect, the
 * sequence number, and for RC4 the keystream already used. */
static void record_state(const vec_case *c, tls_rec_crypto *rc, bool encrypt)
{
    const tls_suite *s = tls_suite_by_id((uint16_t)vec_uint(c, "cipher_suite"));
    cr_assert(s, "%s: unknown suite", vec_where(c));
    size_t kl, ml, il = 0;
    const uint8_t *key = field(c, "key", &kl), *mk = field(c, "mac_secret", &ml);
    const uint8_t *iv = vec_has(c, "iv") ? field(c, "iv", &il) : NULL;
    const tls_cipher_desc *cd = tls_cipher_desc_get(s->cipher);
    cr_assert_eq(kl, cd->key_len, "%s: key length", vec_where(c));
    cr_assert_eq(ml, tls_mac_len(s->mac), "%s: MAC secret length", vec_where(c));
    cr_assert_eq(iv != NULL, cd->kind == TLS_CIPHER_CBC, "%s: iv field", vec_where(c));
    if (iv)
        cr_assert_eq(il, cd->block_len);
    memset(rc, 0, sizeof *rc);
    cr_assert(tls_rec_init(rc, s, TLS_SSL3, encrypt, false, mk, key, iv), "%s: init", vec_where(c));
    rc->seq = vec_uint(c, "seq_num");
    uint64_t skip = 0;
    if (vec_uint_get(c, "rc4_keystream_offset", &skip) && skip) {
        /* the RC4 state is not reset per record: burn what earlier records used */
        uint8_t junk[256];
        int n;
        cr_assert_leq(skip, sizeof junk);
        memset(junk, 0, sizeof junk);
        cr_assert(EVP_CipherUpdate(rc->ctx, junk, &n, junk, (int)skip));
    }
}

/* Seals the case's plaintext with rc; checks header, ciphertext and MAC. */
static void check_seal(const vec_case *c, tls_rec_crypto *rc)
{
    size_t pl, hl, cl, ml;
    const uint8_t *pt = field(c, "plaintext", &pl), *hdr = field(c, "record_header", &hl);
    const uint8_t *ct = field(c, "ciphertext", &cl), *mac = field(c, "mac", &ml);
    uint8_t type = (uint8_t)vec_uint(c, "content_type"), got_mac[EVP_MAX_MD_SIZE], rec[512];
    cr_assert_eq(vec_uint(c, "version"), TLS_SSL3);
    cr_assert_eq(hl, 5);
    cr_assert(tls_rec_mac(rc, type, pt, pl, got_mac));
    cr_assert(memcmp(got_mac, mac, ml) == 0, "%s: MAC", vec_where(c));
    size_t n = 0;
    uint64_t seq = rc->seq;
    cr_assert(tls_rec_seal(rc, type, TLS_SSL3, pt, pl, rec, sizeof rec, &n), "%s: seal", vec_where(c));
    cr_assert_eq(n, 5 + cl, "%s: record length %zu, want %zu", vec_where(c), n, 5 + cl);
    cr_assert(memcmp(rec, hdr, 5) == 0, "%s: record header", vec_where(c));
    cr_assert(memcmp(rec + 5, ct, cl) == 0, "%s: ciphertext", vec_where(c));
    cr_assert_eq(rc->seq, seq + 1);
}

/* Opens the case's ciphertext with rc; checks the plaintext. */
static void check_open(const vec_case *c, tls_rec_crypto *rc)
{
    size_t pl, cl;
    const uint8_t *pt = field(c, "plaintext", &pl), *ct = field(c, "ciphertext", &cl);
    uint8_t frag[512], *out = NULL;
    size_t out_len = 0;
    cr_assert_leq(cl, sizeof frag);
    memcpy(frag, ct, cl);
    int alert = tls_rec_open(rc, (uint8_t)vec_uint(c, "content_type"), frag, cl, &out, &out_len);
    cr_assert_eq(alert, 0, "%s: open: alert %d", vec_where(c), alert);
    cr_assert_eq(out_len, pl, "%s: plaintext length", vec_where(c));
    cr_assert(pl == 0 || memcmp(out, pt, pl) == 0, "%s: plaintext", vec_where(c));
}

Test(ssl3_record, full_record_protection)
{
    need_vectors();
    size_t run = 0;
    for (size_t i = 0; i < vf->ncases; i++) {
        const vec_case *c = &vf->cases[i];
        if (!vec_has(c, "ciphertext"))
            continue;
        tls_rec_crypto tx, rx;
        record_state(c, &tx, true);
        record_state(c, &rx, false);
        check_seal(c, &tx);
        check_open(c, &rx);
        /* the padding the case shows is what the record carries */
        size_t padl = 0;
        if (vec_has(c, "padding")) {
            const uint8_t *pad = field(c, "padding", &padl);
            size_t bs = tx.cd->block_len;
            cr_assert_lt(pad[padl - 1], bs, "%s: SSL 3.0 padding below a block", vec_where(c));
            cr_assert_eq(pad[padl - 1] + 1u, padl);
        }
        /* one flipped bit anywhere: bad_record_mac */
        size_t cl;
        const uint8_t *ct = field(c, "ciphertext", &cl);
        for (size_t bit = 0; bit < cl * 8; bit += 5) {
            tls_rec_crypto r2;
            uint8_t frag[512], *out;
            size_t out_len;
            record_state(c, &r2, false);
            memcpy(frag, ct, cl);
            frag[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            int alert = tls_rec_open(&r2, (uint8_t)vec_uint(c, "content_type"), frag, cl, &out, &out_len);
            cr_assert_eq(alert, TLS_ALERT_BAD_RECORD_MAC, "%s: bit %zu flipped: %d", vec_where(c), bit, alert);
            tls_rec_clear(&r2);
        }
        tls_rec_clear(&tx);
        tls_rec_clear(&rx);
        run++;
    }
    cr_assert_eq(run, vec_count(vf, "ciphertext"));
    cr_assert_geq(run, 20, "ssl3.txt full-record cases: ran %zu", run);
}

/* Records that follow each other (same keys, next sequence number) must come
 * out of ONE state: the CBC IV is the previous record's last ciphertext block
 * and RC4 continues its keystream, without being told. */
Test(ssl3_record, chaining_across_records)
{
    need_vectors();
    tls_rec_crypto tx, rx;
    memset(&tx, 0, sizeof tx);
    memset(&rx, 0, sizeof rx);
    const vec_case *prev = NULL;
    size_t chained = 0, chains = 0;
    for (size_t i = 0; i < vf->ncases; i++) {
        const vec_case *c = &vf->cases[i];
        if (!vec_has(c, "ciphertext"))
            continue;
        size_t a, b, ka, kb;
        bool follows = prev && vec_uint(c, "seq_num") == vec_uint(prev, "seq_num") + 1 &&
                       vec_uint(c, "cipher_suite") == vec_uint(prev, "cipher_suite") &&
                       field(c, "key", &ka) && field(prev, "key", &kb) && ka == kb &&
                       memcmp(field(c, "key", &ka), field(prev, "key", &kb), ka) == 0 &&
                       field(c, "mac_secret", &a) && field(prev, "mac_secret", &b) && a == b &&
                       memcmp(field(c, "mac_secret", &a), field(prev, "mac_secret", &b), a) == 0;
        if (follows) {
            cr_assert_eq(tx.seq, vec_uint(c, "seq_num"));
            chained++;
        } else {
            tls_rec_clear(&tx);
            tls_rec_clear(&rx);
            record_state(c, &tx, true);
            record_state(c, &rx, false);
            chains++;
        }
        check_seal(c, &tx);
        check_open(c, &rx);
        prev = c;
    }
    tls_rec_clear(&tx);
    tls_rec_clear(&rx);
    cr_assert_geq(chained, 10, "records continued from an earlier state: %zu (in %zu chains)", chained, chains);
}

Test(ssl3_record, missing_vector_file_is_an_error)
{
    cr_assert_null(vec_load("/nonexistent/ssl3.txt"));
    cr_assert_neq(vec_error()[0], '\0');
}
