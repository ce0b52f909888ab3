/* Record protection (engine/src/record.c).
 *
 * Round trips for every cipher x MAC x version the suite table allows, CBC
 * with and without RFC 7366 encrypt-then-MAC; sealed records checked against
 * an independent construction in this file (HMAC via EVP_Q_mac, the SSL 3.0
 * MAC from RFC 6101 5.2.3.1, a separate EVP cipher context); every bit flip,
 * truncation and padding error rejected with bad_record_mac; oversized
 * records with record_overflow. Known answers:
 *   - AES-128-GCM: McGrew & Viega, "The Galois/Counter Mode of Operation",
 *     test case 3 (key feffe992..., IV cafebabe facedbaddecaf888) - the record
 *     body must equal its ciphertext since GCM's ciphertext does not depend
 *     on the additional data; the tag is cross-checked with a separate EVP
 *     computation over the RFC 5246 6.2.3.3 additional data;
 *   - ChaCha20-Poly1305: RFC 8439 section 2.8.2 (the AEAD test vector), with
 *     the RFC 7905 nonce IV xor seq arranged to give the RFC's nonce. */
#include <criterion/criterion.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct.h"
#include "err.h"
#include "record.h"
#include "suites.h"

/* ---- suites and combinations -------------------------------------------- */

typedef struct {
    tls_cipher_id cipher;
    tls_mac_id mac;
    uint16_t lo, hi; /* versions the table allows for this cipher/MAC pair */
    const char *name;
} pair;

static const pair pairs[] = {
    {TLS_CIPHER_RC4_128, TLS_MAC_MD5, TLS_SSL3, TLS_TLS12, "RC4-MD5"},
    {TLS_CIPHER_RC4_128, TLS_MAC_SHA1, TLS_SSL3, TLS_TLS12, "RC4-SHA"},
    {TLS_CIPHER_DES_CBC, TLS_MAC_SHA1, TLS_SSL3, TLS_TLS11, "DES-CBC-SHA"},
    {TLS_CIPHER_3DES_EDE_CBC, TLS_MAC_SHA1, TLS_SSL3, TLS_TLS12, "DES-CBC3-SHA"},
    {TLS_CIPHER_AES_128_CBC, TLS_MAC_SHA1, TLS_SSL3, TLS_TLS12, "AES128-SHA"},
    {TLS_CIPHER_AES_256_CBC, TLS_MAC_SHA1, TLS_SSL3, TLS_TLS12, "AES256-SHA"},
    {TLS_CIPHER_AES_128_CBC, TLS_MAC_SHA256, TLS_TLS12, TLS_TLS12, "AES128-SHA256"},
    {TLS_CIPHER_AES_256_CBC, TLS_MAC_SHA256, TLS_TLS12, TLS_TLS12, "AES256-SHA256"},
    {TLS_CIPHER_AES_256_CBC, TLS_MAC_SHA384, TLS_TLS12, TLS_TLS12, "ECDHE-RSA-AES256-SHA384"},
    {TLS_CIPHER_AES_128_GCM, TLS_MAC_AEAD, TLS_TLS12, TLS_TLS12, "AES128-GCM-SHA256"},
    {TLS_CIPHER_AES_256_GCM, TLS_MAC_AEAD, TLS_TLS12, TLS_TLS12, "AES256-GCM-SHA384"},
    {TLS_CIPHER_CHACHA20_POLY1305, TLS_MAC_AEAD, TLS_TLS12, TLS_TLS12, "ECDHE-RSA-CHACHA20-POLY1305"},
};
#define NPAIRS (sizeof pairs / sizeof pairs[0])

static tls_suite suite_of(const pair *p)
{
    tls_suite s;
    memset(&s, 0, sizeof s);
    s.cipher = p->cipher;
    s.mac = p->mac;
    s.min_version = p->lo;
    s.max_version = p->hi;
    return s;
}

/* One (pair, version, etm) combination with both directions' states. */
typedef struct {
    const pair *p;
    tls_suite suite;
    uint16_t version;
    bool etm;
    uint8_t mac_key[48], key[32], iv[16];
    tls_rec_crypto tx, rx;
    char what[96];
} combo;

static const char *vname(uint16_t v)
{
    switch (v) {
    case TLS_SSL3: return "SSL3";
    case TLS_TLS10: return "TLS1.0";
    case TLS_TLS11: return "TLS1.1";
    case TLS_TLS12: return "TLS1.2";
    }
    return "?";
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 7);
}

/* Sets up c for a suite at a version; keys are fixed patterns so runs repeat. */
static void combo_setup(combo *c, const tls_suite *s, uint16_t version, bool etm, const char *name)
{
    c->version = version;
    c->etm = etm;
    fill(c->mac_key, sizeof c->mac_key, 0x11);
    fill(c->key, sizeof c->key, 0x42);
    fill(c->iv, sizeof c->iv, 0x99);
    snprintf(c->what, sizeof c->what, "%s %s%s", name, vname(version), etm ? " ETM" : "");
    cr_assert(tls_algs_cipher(s->cipher), "%s: cipher unavailable (legacy provider missing?)", c->what);
    cr_assert(tls_rec_init(&c->tx, s, version, true, etm, c->mac_key, c->key, c->iv), "%s: sealing init",
              c->what);
    cr_assert(tls_rec_init(&c->rx, s, version, false, etm, c->mac_key, c->key, c->iv), "%s: opening init",
              c->what);
}

static void combo_init(combo *c, const pair *p, uint16_t version, bool etm)
{
    memset(c, 0, sizeof *c);
    c->p = p;
    c->suite = suite_of(p);
    combo_setup(c, &c->suite, version, etm, p->name);
}

static void combo_reset_rx(combo *c)
{
    cr_assert(tls_rec_init(&c->rx, c->rx.suite, c->version, false, c->etm, c->mac_key, c->key, c->iv));
}

static void combo_free(combo *c)
{
    tls_rec_clear(&c->tx);
    tls_rec_clear(&c->rx);
}

static bool is_cbc(const pair *p) { return tls_cipher_desc_get(p->cipher)->kind == TLS_CIPHER_CBC; }

/* Calls fn for every combination: each pair at each version it allows, CBC
 * pairs from TLS 1.0 on also with encrypt-then-MAC. */
static size_t for_each_combo(void (*fn)(combo *c))
{
    size_t n = 0;
    for (size_t i = 0; i < NPAIRS; i++) {
        for (uint16_t v = pairs[i].lo; v <= pairs[i].hi; v++) {
            for (int etm = 0; etm <= 1; etm++) {
                if (etm && (!is_cbc(&pairs[i]) || v == TLS_SSL3))
                    continue;
                combo *c = malloc(sizeof *c);
                cr_assert(c);
                combo_init(c, &pairs[i], v, etm);
                fn(c);
                combo_free(c);
                free(c);
                n++;
            }
        }
    }
    return n;
}

#define BUF (TLS_RECORD_HEADER + TLS_MAX_CIPHERTEXT + 64)

/* ---- constant-time helpers ---------------------------------------------- */

Test(ct, masks)
{
    const size_t big = (size_t)1 << (sizeof(size_t) * 8 - 1);
    const size_t v[] = {0, 1, 2, 255, 256, 1000, big - 1, big, big + 1, SIZE_MAX - 1, SIZE_MAX};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        for (size_t j = 0; j < sizeof v / sizeof v[0]; j++) {
            size_t a = v[i], b = v[j];
            cr_assert_eq(ct_lt(a, b), a < b ? SIZE_MAX : 0, "ct_lt(%zu, %zu)", a, b);
            cr_assert_eq(ct_ge(a, b), a >= b ? SIZE_MAX : 0, "ct_ge(%zu, %zu)", a, b);
            cr_assert_eq(ct_eq(a, b), a == b ? SIZE_MAX : 0, "ct_eq(%zu, %zu)", a, b);
        }
        cr_assert_eq(ct_is_zero(v[i]), v[i] == 0 ? SIZE_MAX : 0);
    }
    cr_assert_eq(ct_select(SIZE_MAX, 5, 9), 5);
    cr_assert_eq(ct_select(0, 5, 9), 9);
    cr_assert_eq(ct_select_u8(SIZE_MAX, 0xaa, 0x55), 0xaa);
    cr_assert_eq(ct_select_u8(0, 0xaa, 0x55), 0x55);
}

/* ---- round trips -------------------------------------------------------- */

static const size_t sizes[] = {0, 1, 15, 16, 17, 31, 32, 33, 255, 256, 1000, 16383, TLS_MAX_PLAINTEXT};

static void round_trip(combo *c)
{
    uint8_t *pt = malloc(TLS_MAX_PLAINTEXT), *rec = malloc(BUF);
    cr_assert(pt && rec);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t len = sizes[i], n = 0;
        uint8_t type = (uint8_t)(20 + i % 4);
        fill(pt, len, (uint8_t)i);
        cr_assert_eq(c->tx.seq, i, "%s: send seq", c->what);
        cr_assert(tls_rec_seal(&c->tx, type, c->version, pt, len, rec, BUF, &n), "%s: seal %zu", c->what,
                  len);
        size_t flen = (size_t)rec[3] << 8 | rec[4];
        cr_assert_eq(n, TLS_RECORD_HEADER + flen, "%s: record length", c->what);
        cr_assert_eq(rec[0], type);
        cr_assert_eq(rec[1] << 8 | rec[2], c->version);
        cr_assert_leq(flen, len + tls_rec_overhead(&c->tx), "%s: overhead bound", c->what);
        cr_assert_leq(flen, TLS_MAX_CIPHERTEXT);
        if (len >= 16)
            cr_assert(memcmp(rec + TLS_RECORD_HEADER + tls_rec_prefix_len(&c->tx), pt, 16) != 0,
                      "%s: plaintext visible", c->what);
        uint8_t *out = NULL;
        size_t out_len = 0;
        int alert = tls_rec_open(&c->rx, type, rec + TLS_RECORD_HEADER, flen, &out, &out_len);
        cr_assert_eq(alert, 0, "%s: open %zu: alert %d", c->what, len, alert);
        cr_assert_eq(out_len, len, "%s: length", c->what);
        cr_assert(out >= rec + TLS_RECORD_HEADER && out + out_len <= rec + n, "%s: in place", c->what);
        cr_assert(len == 0 || memcmp(out, pt, len) == 0, "%s: content %zu", c->what, len);
        cr_assert_eq(c->rx.seq, i + 1, "%s: receive seq", c->what);
    }
    free(pt);
    free(rec);
}

Test(record, round_trip_every_combination)
{
    size_t n = for_each_combo(round_trip);
    /* RC4 x2: 4 versions; DES: 3 + 2 ETM; 3DES, AES128-SHA, AES256-SHA: 4 + 3 ETM
     * each; the three SHA-256/384 CBC pairs: TLS 1.2 with and without ETM; 3 AEAD */
    cr_assert_eq(n, 2 * 4 + 5 + 3 * 7 + 3 * 2 + 3, "combinations run: %zu", n);
}

/* Every row of the suite table at every version it runs at (TLS 1.3 suites
 * belong to the 1.3 record layer), and the pairs above cover the table. */
Test(record, every_table_suite)
{
    size_t count = 0, run = 0, rows = 0;
    const tls_suite *all = tls_suites_all(&count);
    cr_assert_gt(count, 0);
    for (size_t i = 0; i < count; i++) {
        const tls_suite *s = &all[i];
        if (s->min_version > TLS_TLS12)
            continue;
        rows++;
        bool covered = false;
        for (size_t j = 0; j < NPAIRS; j++)
            covered |= pairs[j].cipher == s->cipher && pairs[j].mac == s->mac &&
                       pairs[j].lo <= s->min_version && s->max_version <= pairs[j].hi;
        cr_assert(covered, "%s: cipher/MAC/version not among the tested pairs", s->info.openssl_name);
        for (uint16_t v = TLS_SSL3; v <= TLS_TLS12; v++) {
            if (!tls_suite_usable(s, v))
                continue;
            const tls_cipher_desc *cd = tls_cipher_desc_get(s->cipher);
            for (int etm = 0; etm <= 1; etm++) {
                if (etm && (cd->kind != TLS_CIPHER_CBC || v == TLS_SSL3))
                    continue;
                combo *c = calloc(1, sizeof *c);
                cr_assert(c);
                combo_setup(c, s, v, etm, s->info.openssl_name);
                round_trip(c);
                combo_free(c);
                free(c);
                run++;
            }
        }
    }
    cr_assert_gt(rows, 30, "TLS 1.2-and-below rows: %zu", rows);
    cr_assert_geq(run, rows, "combinations run: %zu", run);
}

/* In-place sealing: the plaintext already sits at out + 5 + prefix. */
static void in_place(combo *c)
{
    uint8_t *rec = malloc(BUF), *ref = malloc(1000);
    cr_assert(rec && ref);
    size_t pre = tls_rec_prefix_len(&c->tx), n = 0;
    for (int r = 0; r < 3; r++) {
        size_t len = 300 + (size_t)r * 17;
        fill(ref, len, (uint8_t)(r + 3));
        memcpy(rec + TLS_RECORD_HEADER + pre, ref, len);
        cr_assert(tls_rec_seal(&c->tx, 23, c->version, rec + TLS_RECORD_HEADER + pre, len, rec, BUF, &n),
                  "%s", c->what);
        uint8_t *out;
        size_t out_len;
        cr_assert_eq(tls_rec_open(&c->rx, 23, rec + TLS_RECORD_HEADER, n - TLS_RECORD_HEADER, &out, &out_len),
                     0, "%s", c->what);
        cr_assert_eq(out_len, len);
        cr_assert(memcmp(out, ref, len) == 0, "%s: in-place content", c->what);
    }
    free(rec);
    free(ref);
}

Test(record, in_place_sealing) { for_each_combo(in_place); }

/* Records must be opened in order: the MAC/nonce binds the sequence number. */
static void order(combo *c)
{
    uint8_t a[200], b[200], pt[40];
    size_t na, nb;
    fill(pt, sizeof pt, 1);
    cr_assert(tls_rec_seal(&c->tx, 23, c->version, pt, sizeof pt, a, sizeof a, &na));
    cr_assert(tls_rec_seal(&c->tx, 23, c->version, pt, sizeof pt, b, sizeof b, &nb));
    cr_assert_eq(c->tx.seq, 2);
    uint8_t *out;
    size_t out_len;
    int alert = tls_rec_open(&c->rx, 23, b + 5, nb - 5, &out, &out_len);
    cr_assert_eq(alert, TLS_ALERT_BAD_RECORD_MAC, "%s: second record first: %d", c->what, alert);
    cr_assert_eq(c->rx.seq, 0, "%s: failure must not advance seq", c->what);
    /* in order they open; replaying the first one after that fails */
    uint8_t a2[200];
    memcpy(a2, a, na);
    combo_reset_rx(c);
    cr_assert_eq(tls_rec_open(&c->rx, 23, a + 5, na - 5, &out, &out_len), 0, "%s", c->what);
    alert = tls_rec_open(&c->rx, 23, a2 + 5, na - 5, &out, &out_len);
    cr_assert_eq(alert, TLS_ALERT_BAD_RECORD_MAC, "%s: replay: %d", c->what, alert);
    cr_assert_eq(c->rx.seq, 1);
}

Test(record, sequence_numbers_bind) { for_each_combo(order); }

/* ---- tampering ---------------------------------------------------------- */

static void bit_flips(combo *c)
{
    uint8_t rec[256], copy[256], pt[37];
    size_t n;
    fill(pt, sizeof pt, 0x5a);
    cr_assert(tls_rec_seal(&c->tx, 23, c->version, pt, sizeof pt, rec, sizeof rec, &n));
    size_t flen = n - TLS_RECORD_HEADER;
    uint8_t *out;
    size_t out_len;
    for (size_t bit = 0; bit < flen * 8; bit++) {
        memcpy(copy, rec, n);
        copy[TLS_RECORD_HEADER + bit / 8] ^= (uint8_t)(1u << (bit % 8));
        combo_reset_rx(c);
        int alert = tls_rec_open(&c->rx, 23, copy + TLS_RECORD_HEADER, flen, &out, &out_len);
        cr_assert_eq(alert, TLS_ALERT_BAD_RECORD_MAC, "%s: bit %zu of %zu accepted (%d)", c->what, bit,
                     flen * 8, alert);
    }
    /* the content type is authenticated too */
    for (int bit = 0; bit < 8; bit++) {
        memcpy(copy, rec, n);
        combo_reset_rx(c);
        int alert = tls_rec_open(&c->rx, (uint8_t)(23 ^ (1 << bit)), copy + TLS_RECORD_HEADER, flen, &out,
                                 &out_len);
        cr_assert_eq(alert, TLS_ALERT_BAD_RECORD_MAC, "%s: type bit %d", c->what, bit);
    }
    /* and the untouched record still opens */
    combo_reset_rx(c);
    cr_assert_eq(tls_rec_open(&c->rx, 23, rec + TLS_RECORD_HEADER, flen, &out, &out_len), 0, "%s", c->what);
    cr_assert(memcmp(out, pt, sizeof pt) == 0);
}

Test(record, every_bit_flip_rejected) { for_each_combo(bit_flips); }

static void truncations(combo *c)
{
    uint8_t rec[256], copy[256], pt[37];
    size_t n;
    fill(pt, sizeof pt, 0x33);
    cr_assert(tls_rec_seal(&c->tx, 23, c->version, pt, sizeof pt, rec, sizeof rec, &n));
    size_t flen = n - TLS_RECORD_HEADER;
    for (size_t cut = 1; cut <= flen; cut++) {
        memcpy(copy, rec, n);
        combo_reset_rx(c);
        uint8_t *out;
        size_t out_len;
        int alert = tls_rec_open(&c->rx, 23, copy + TLS_RECORD_HEADER, flen - cut, &out, &out_len);
        cr_assert_eq(alert, TLS_ALERT_BAD_RECORD_MAC, "%s: cut %zu of %zu: %d", c->what, cut, flen, alert);
    }
}

Test(record, truncated_records_rejected) { for_each_combo(truncations); }

static void oversized(combo *c)
{
    uint8_t *rec = calloc(1, BUF), *out;
    size_t out_len;
    cr_assert(rec);
    int alert = tls_rec_open(&c->rx, 23, rec, TLS_MAX_CIPHERTEXT + 1, &out, &out_len);
    cr_assert_eq(alert, TLS_ALERT_RECORD_OVERFLOW, "%s: %d", c->what, alert);
    /* sealing refuses more than 2^14 bytes and a short output buffer */
    size_t n;
    cr_assert(!tls_rec_seal(&c->tx, 23, c->version, rec + 100, TLS_MAX_PLAINTEXT + 1, rec, BUF, &n));
    cr_assert(!tls_rec_seal(&c->tx, 23, c->version, rec + 100, 10, rec, 10 + TLS_RECORD_HEADER, &n),
              "%s: no room", c->what);
    cr_assert(!tls_rec_seal(&c->tx, 23, c->version, rec + 100, 10, rec, 3, &n));
    cr_assert_eq(c->tx.seq, 0, "%s: failed seal advanced seq", c->what);
    free(rec);
}

Test(record, oversized_records) { for_each_combo(oversized); }

/* ---- null cipher -------------------------------------------------------- */

Test(record, null_cipher)
{
    tls_rec_crypto tx, rx;
    memset(&tx, 0, sizeof tx);
    memset(&rx, 0, sizeof rx);
    cr_assert(tls_rec_init(&tx, NULL, TLS_TLS12, true, false, NULL, NULL, NULL));
    cr_assert(tls_rec_init(&rx, NULL, TLS_TLS12, false, false, NULL, NULL, NULL));
    cr_assert_eq(tls_rec_overhead(&tx), 0);
    cr_assert_eq(tls_rec_prefix_len(&tx), 0);
    static uint8_t rec[BUF];
    uint8_t pt[5] = {1, 2, 3, 4, 5}, *out;
    size_t n, out_len;
    cr_assert(tls_rec_seal(&tx, 22, TLS_TLS10, pt, sizeof pt, rec, sizeof rec, &n));
    const uint8_t want[] = {22, 3, 1, 0, 5, 1, 2, 3, 4, 5};
    cr_assert_eq(n, sizeof want);
    cr_assert(memcmp(rec, want, sizeof want) == 0);
    cr_assert_eq(tls_rec_open(&rx, 22, rec + 5, 5, &out, &out_len), 0);
    cr_assert_eq(out, rec + 5);
    cr_assert_eq(out_len, 5);
    cr_assert_eq(tls_rec_open(&rx, 22, rec, TLS_MAX_PLAINTEXT, &out, &out_len), 0);
    cr_assert_eq(tls_rec_open(&rx, 22, rec, TLS_MAX_PLAINTEXT + 1, &out, &out_len), TLS_ALERT_RECORD_OVERFLOW);
    cr_assert(!tls_rec_seal(&tx, 22, TLS_TLS10, rec, TLS_MAX_PLAINTEXT + 1, rec, sizeof rec, &n));
    tls_rec_clear(&tx);
    tls_rec_clear(&rx);
}

/* ---- init failures and clearing ----------------------------------------- */

Test(record, init_refuses_impossible_states)
{
    uint8_t k[48] = {0}, iv[16] = {0};
    tls_rec_crypto rc;
    memset(&rc, 0, sizeof rc);
    tls_suite gcm = suite_of(&pairs[9]), sha256 = suite_of(&pairs[6]), aes = suite_of(&pairs[4]);
    tls_suite rc4 = suite_of(&pairs[0]);
    cr_assert(!tls_rec_init(&rc, &gcm, TLS_TLS11, true, false, NULL, k, iv), "GCM below TLS 1.2");
    cr_assert_null(rc.suite);
    cr_assert(!tls_rec_init(&rc, &gcm, TLS_TLS12, true, false, NULL, k, NULL), "GCM without IV");
    cr_assert(!tls_rec_init(&rc, &sha256, TLS_TLS10, true, false, k, k, iv), "SHA-256 MAC below TLS 1.2");
    cr_assert(!tls_rec_init(&rc, &aes, TLS_SSL3, true, true, k, k, iv), "SSL 3.0 with ETM");
    cr_assert(!tls_rec_init(&rc, &aes, TLS_TLS10, true, false, k, k, NULL), "chained CBC without IV");
    cr_assert(!tls_rec_init(&rc, &aes, TLS_TLS12, true, false, NULL, k, iv), "CBC without MAC key");
    cr_assert(!tls_rec_init(&rc, &aes, TLS_TLS12, true, false, k, NULL, iv), "no key");
    cr_assert(!tls_rec_init(&rc, &aes, TLS_TLS13, true, false, k, k, iv), "TLS 1.3 is not this layer");
    cr_assert(!tls_rec_init(&rc, &aes, 0x0200, true, false, k, k, iv), "SSL 2");
    cr_assert_null(rc.ctx);
    cr_assert_null(rc.mac_inner);
    /* explicit-IV CBC needs no IV, stream ciphers none either; ETM on RC4 is ignored */
    cr_assert(tls_rec_init(&rc, &aes, TLS_TLS11, true, false, k, k, NULL));
    cr_assert(tls_rec_init(&rc, &rc4, TLS_TLS12, true, true, k, k, NULL), "re-init over a live state");
    cr_assert(!rc.etm);
    tls_rec_clear(&rc);
    const uint8_t *p = (const uint8_t *)&rc;
    for (size_t i = 0; i < sizeof rc; i++)
        cr_assert_eq(p[i], 0, "byte %zu left after clear", i);
    tls_rec_clear(&rc); /* twice is fine */
}

/* ---- an independent record construction --------------------------------- */

static const char *md_name(tls_mac_id m)
{
    switch (m) {
    case TLS_MAC_MD5: return "MD5";
    case TLS_MAC_SHA1: return "SHA1";
    case TLS_MAC_SHA256: return "SHA256";
    case TLS_MAC_SHA384: return "SHA384";
    default: return NULL;
    }
}

static void be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* TLS HMAC (RFC 5246 6.2.3.1) or SSL 3.0 MAC (RFC 6101 5.2.3.1) of content
 * whose MAC length field says len (ETM: IV + ciphertext). */
static size_t ref_mac(uint16_t version, tls_mac_id mid, const uint8_t *key, uint64_t seq, uint8_t type,
                      const uint8_t *data, size_t len, uint8_t *out)
{
    size_t ml = tls_mac_len(mid);
    uint8_t *msg = malloc(13 + len);
    cr_assert(msg);
    size_t h = 0;
    be64(msg, seq);
    h = 8;
    msg[h++] = type;
    if (version != TLS_SSL3) {
        msg[h++] = (uint8_t)(version >> 8);
        msg[h++] = (uint8_t)version;
    }
    msg[h++] = (uint8_t)(len >> 8);
    msg[h++] = (uint8_t)len;
    if (len)
        memcpy(msg + h, data, len);
    if (version != TLS_SSL3) {
        size_t outl = 0;
        cr_assert(EVP_Q_mac(NULL, "HMAC", NULL, md_name(mid), NULL, key, ml, msg, h + len, out, 64, &outl));
        cr_assert_eq(outl, ml);
    } else {
        /* hash(secret + pad_2 + hash(secret + pad_1 + seq + type + length + content)) */
        size_t plen = ml == 16 ? 48 : 40;
        uint8_t pad[48], inner[64];
        const EVP_MD *md = EVP_get_digestbyname(md_name(mid));
        EVP_MD_CTX *x = EVP_MD_CTX_new();
        unsigned il;
        memset(pad, 0x36, plen);
        cr_assert(EVP_DigestInit_ex(x, md, NULL) && EVP_DigestUpdate(x, key, ml) &&
                  EVP_DigestUpdate(x, pad, plen) && EVP_DigestUpdate(x, msg, h + len) &&
                  EVP_DigestFinal_ex(x, inner, &il));
        memset(pad, 0x5c, plen);
        cr_assert(EVP_DigestInit_ex(x, md, NULL) && EVP_DigestUpdate(x, key, ml) &&
                  EVP_DigestUpdate(x, pad, plen) && EVP_DigestUpdate(x, inner, il) &&
                  EVP_DigestFinal_ex(x, out, &il));
        EVP_MD_CTX_free(x);
    }
    free(msg);
    return ml;
}

static void ref_encrypt(tls_cipher_id cid, const uint8_t *key, const uint8_t *iv, uint8_t *buf, size_t len)
{
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int n = 0;
    cr_assert(EVP_EncryptInit_ex2(x, tls_algs_cipher(cid), key, iv, NULL));
    EVP_CIPHER_CTX_set_padding(x, 0);
    cr_assert(len == 0 || EVP_EncryptUpdate(x, buf, &n, buf, (int)len));
    cr_assert_eq((size_t)n, len);
    EVP_CIPHER_CTX_free(x);
}

/* A CBC record fragment built by hand: [IV] E(pt || mac || padding) for
 * MAC-then-encrypt, [IV] E(pt || padding) || mac for ETM. `iv` is the
 * explicit IV (TLS 1.1+) or the IV in effect (SSL 3.0 / TLS 1.0). */
static size_t ref_cbc(uint16_t version, tls_cipher_id cid, tls_mac_id mid, bool etm, const uint8_t *mac_key,
                      const uint8_t *key, const uint8_t *iv, uint64_t seq, uint8_t type, const uint8_t *pt,
                      size_t len, const uint8_t *padding, size_t padlen, uint8_t *frag)
{
    size_t bs = tls_cipher_desc_get(cid)->block_len, pre = version >= TLS_TLS11 ? bs : 0, ml = tls_mac_len(mid);
    if (pre)
        memcpy(frag, iv, pre);
    uint8_t *b = frag + pre;
    memcpy(b, pt, len);
    if (etm) {
        memcpy(b + len, padding, padlen);
        ref_encrypt(cid, key, iv, b, len + padlen);
        ref_mac(version, mid, mac_key, seq, type, frag, pre + len + padlen, b + len + padlen);
        return pre + len + padlen + ml;
    }
    ref_mac(version, mid, mac_key, seq, type, pt, len, b + len);
    memcpy(b + len + ml, padding, padlen);
    ref_encrypt(cid, key, iv, b, len + ml + padlen);
    return pre + len + ml + padlen;
}

/* Sealed records equal the hand-built ones (same IV, minimal padding). */
static void matches_reference(combo *c)
{
    const tls_cipher_desc *cd = tls_cipher_desc_get(c->p->cipher);
    if (cd->kind == TLS_CIPHER_AEAD)
        return; /* known answers below */
    uint8_t pt[50], rec[200], ref[200], padding[32];
    size_t n;
    fill(pt, sizeof pt, 0x70);
    /* RC4 state and CBC chaining continue across records: check two */
    uint8_t stream_ks[200];
    size_t stream_off = 0;
    uint8_t chain_iv[16];
    memcpy(chain_iv, c->iv, sizeof chain_iv);
    memset(stream_ks, 0, sizeof stream_ks);
    for (uint64_t seq = 0; seq < 2; seq++) {
        size_t len = 20 + (size_t)seq * 9;
        cr_assert(tls_rec_seal(&c->tx, 23, c->version, pt, len, rec, sizeof rec, &n));
        uint8_t *frag = rec + TLS_RECORD_HEADER;
        size_t flen = n - TLS_RECORD_HEADER, rlen;
        size_t ml = tls_mac_len(c->p->mac);
        if (cd->kind == TLS_CIPHER_STREAM) {
            /* RC4 keystream from a separate context, continued across records */
            uint8_t ks[200] = {0};
            ref_encrypt(c->p->cipher, c->key, NULL, ks, stream_off + len + ml);
            memcpy(ref, pt, len);
            ref_mac(c->version, c->p->mac, c->mac_key, seq, 23, pt, len, ref + len);
            for (size_t i = 0; i < len + ml; i++)
                ref[i] ^= ks[stream_off + i];
            stream_off += len + ml;
            rlen = len + ml;
        } else {
            size_t bs = cd->block_len;
            size_t padlen = bs - (len + (c->etm ? 0 : ml)) % bs;
            memset(padding, (int)(padlen - 1), padlen);
            const uint8_t *iv = c->version >= TLS_TLS11 ? frag : chain_iv;
            rlen = ref_cbc(c->version, c->p->cipher, c->p->mac, c->etm, c->mac_key, c->key, iv, seq, 23, pt, len,
                           padding, padlen, ref);
            /* next chained IV: last ciphertext block */
            memcpy(chain_iv, ref + rlen - (c->etm ? ml : 0) - bs, bs);
        }
        cr_assert_eq(flen, rlen, "%s: fragment length %zu, reference %zu", c->what, flen, rlen);
        cr_assert(memcmp(frag, ref, rlen) == 0, "%s: record %llu differs from the reference", c->what,
                  (unsigned long long)seq);
    }
}

Test(record, sealed_records_match_independent_construction) { for_each_combo(matches_reference); }

/* ---- padding rules ------------------------------------------------------ */

static int open_ref_cbc(uint16_t version, const pair *p, bool etm, const uint8_t *pt, size_t len,
                        const uint8_t *padding, size_t padlen, size_t *out_len, uint8_t **out_p,
                        uint8_t *frag_buf)
{
    tls_suite s = suite_of(p);
    uint8_t mk[48], k[32], iv[16];
    fill(mk, sizeof mk, 1);
    fill(k, sizeof k, 2);
    fill(iv, sizeof iv, 3);
    size_t flen = ref_cbc(version, p->cipher, p->mac, etm, mk, k, iv, 0, 23, pt, len, padding, padlen, frag_buf);
    tls_rec_crypto rc;
    memset(&rc, 0, sizeof rc);
    cr_assert(tls_rec_init(&rc, &s, version, false, etm, mk, k, iv));
    int alert = tls_rec_open(&rc, 23, frag_buf, flen, out_p, out_len);
    tls_rec_clear(&rc);
    return alert;
}

Test(record, tls_padding_rules)
{
    static uint8_t frag[TLS_MAX_CIPHERTEXT + 64];
    uint8_t pt[100], padding[256], *out;
    size_t out_len;
    fill(pt, sizeof pt, 9);
    const pair *cbc[] = {&pairs[4], &pairs[3], &pairs[8]}; /* AES128-SHA, 3DES-SHA, AES256-SHA384 */
    for (size_t pi = 0; pi < 3; pi++) {
        const pair *p = cbc[pi];
        size_t bs = tls_cipher_desc_get(p->cipher)->block_len, ml = tls_mac_len(p->mac);
        for (uint16_t v = p->lo < TLS_TLS10 ? TLS_TLS10 : p->lo; v <= p->hi; v++) {
            for (int etm = 0; etm <= 1; etm++) {
                size_t content = etm ? 0 : ml;
                /* every legal padding length up to 255 opens, the longest included */
                for (size_t padlen = 1; padlen <= 256; padlen++) {
                    size_t len = 0;
                    while ((len + content + padlen) % bs)
                        len++;
                    memset(padding, (int)(padlen - 1), padlen);
                    int alert = open_ref_cbc(v, p, etm, pt, len, padding, padlen, &out_len, &out, frag);
                    cr_assert_eq(alert, 0, "%s %s etm=%d: padding %zu refused (%d)", p->name, vname(v), etm,
                                 padlen, alert);
                    cr_assert_eq(out_len, len);
                    cr_assert(len == 0 || memcmp(out, pt, len) == 0);
                }
                /* one wrong padding byte anywhere, MAC valid: bad_record_mac */
                size_t padlen = 2 * bs, len = 0;
                while ((len + content + padlen) % bs)
                    len++;
                for (size_t bad = 0; bad + 1 < padlen; bad++) {
                    memset(padding, (int)(padlen - 1), padlen);
                    padding[bad] ^= 0x01;
                    int alert = open_ref_cbc(v, p, etm, pt, len, padding, padlen, &out_len, &out, frag);
                    cr_assert_eq(alert, TLS_ALERT_BAD_RECORD_MAC, "%s %s etm=%d: bad pad byte %zu accepted", p->name,
                                 vname(v), etm, bad);
                }
                /* a padding length reaching past the MAC (or the record) */
                memset(padding, 0xff, bs);
                int alert = open_ref_cbc(v, p, etm, pt, bs - (etm ? 0 : ml % bs), padding, bs, &out_len, &out, frag);
                cr_assert_eq(alert, TLS_ALERT_BAD_RECORD_MAC, "%s %s: padding longer than record", p->name, vname(v));
            }
        }
    }
}

Test(record, ssl3_padding_rules)
{
    uint8_t frag[512], pt[64], padding[64], *out;
    size_t out_len;
    fill(pt, sizeof pt, 4);
    const pair *cbc[] = {&pairs[4], &pairs[3]};
    for (size_t pi = 0; pi < 2; pi++) {
        const pair *p = cbc[pi];
        size_t bs = tls_cipher_desc_get(p->cipher)->block_len, ml = tls_mac_len(p->mac);
        /* arbitrary padding bytes are fine in SSL 3.0 (RFC 6101 5.2.3.2) */
        for (size_t padlen = 1; padlen <= bs; padlen++) {
            size_t len = 0;
            while ((len + ml + padlen) % bs)
                len++;
            for (size_t i = 0; i + 1 < padlen; i++)
                padding[i] = (uint8_t)(0xa5 + i * 31);
            padding[padlen - 1] = (uint8_t)(padlen - 1);
            int alert = open_ref_cbc(TLS_SSL3, p, false, pt, len, padding, padlen, &out_len, &out, frag);
            cr_assert_eq(alert, 0, "%s SSL3: arbitrary padding of %zu refused", p->name, padlen);
            cr_assert_eq(out_len, len);
            cr_assert(len == 0 || memcmp(out, pt, len) == 0);
        }
        /* but the padding must be shorter than a block */
        for (size_t padlen = bs + 1; padlen <= 3 * bs; padlen += bs / 2) {
            size_t len = 0;
            while ((len + ml + padlen) % bs)
                len++;
            memset(padding, (int)(padlen - 1), padlen);
            int alert = open_ref_cbc(TLS_SSL3, p, false, pt, len, padding, padlen, &out_len, &out, frag);
            cr_assert_eq(alert, TLS_ALERT_BAD_RECORD_MAC, "%s SSL3: padding of %zu accepted", p->name, padlen);
        }
    }
}

/* A correctly protected record whose plaintext exceeds 2^14: record_overflow. */
Test(record, plaintext_overflow)
{
    static uint8_t frag[TLS_MAX_CIPHERTEXT + 64], pt[TLS_MAX_PLAINTEXT + 64];
    uint8_t padding[16], *out;
    size_t out_len;
    memset(padding, 15, sizeof padding);
    size_t len = TLS_MAX_PLAINTEXT + 12; /* + 20 MAC + 16 padding is block aligned */
    int alert = open_ref_cbc(TLS_TLS12, &pairs[4], false, pt, len, padding, 16, &out_len, &out, frag);
    cr_assert_eq(alert, TLS_ALERT_RECORD_OVERFLOW, "CBC: %d", alert);
    alert = open_ref_cbc(TLS_TLS12, &pairs[4], true, pt, len + 4, padding, 16, &out_len, &out, frag);
    cr_assert_eq(alert, TLS_ALERT_RECORD_OVERFLOW, "CBC ETM: %d", alert);

    /* AEAD and stream: the plaintext length is public, refused before decryption */
    const pair *others[] = {&pairs[9], &pairs[11], &pairs[1]};
    for (size_t i = 0; i < 3; i++) {
        tls_suite s = suite_of(others[i]);
        uint8_t k[48] = {0};
        tls_rec_crypto rc;
        memset(&rc, 0, sizeof rc);
        cr_assert(tls_rec_init(&rc, &s, TLS_TLS12, false, false, k, k, k));
        size_t over = TLS_MAX_PLAINTEXT + 1 + tls_rec_overhead(&rc);
        alert = tls_rec_open(&rc, 23, frag, over, &out, &out_len);
        cr_assert_eq(alert, TLS_ALERT_RECORD_OVERFLOW, "%s: %d", others[i]->name, alert);
        tls_rec_clear(&rc);
    }
}

/* ---- AEAD known answers ------------------------------------------------- */

static void unhex(const char *h, uint8_t *out, size_t *len)
{
    size_t n = 0;
    for (; h[0] && h[1]; h += 2) {
        unsigned v;
        cr_assert_eq(sscanf(h, "%2x", &v), 1);
        out[n++] = (uint8_t)v;
    }
    *len = n;
}

/* Independent AEAD seal with one EVP call sequence: returns ciphertext||tag. */
static void ref_aead(tls_cipher_id cid, const uint8_t *key, const uint8_t *nonce, const uint8_t *aad,
                     size_t aad_len, const uint8_t *pt, size_t len, uint8_t *out)
{
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int n;
    cr_assert(EVP_EncryptInit_ex2(x, tls_algs_cipher(cid), key, nonce, NULL));
    cr_assert(EVP_EncryptUpdate(x, NULL, &n, aad, (int)aad_len));
    cr_assert(EVP_EncryptUpdate(x, out, &n, pt, (int)len));
    cr_assert(EVP_EncryptFinal_ex(x, out + len, &n));
    cr_assert(EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, 16, out + len));
    EVP_CIPHER_CTX_free(x);
}

Test(record, aes_gcm_known_answer)
{
    /* McGrew & Viega GCM spec, test case 3 */
    uint8_t key[16], iv[12], pt[64], ct[64], tag[16];
    size_t kl, ivl, ptl, ctl, tl;
    unhex("feffe9928665731c6d6a8f9467308308", key, &kl);
    unhex("cafebabefacedbaddecaf888", iv, &ivl);
    unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
          "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
          pt, &ptl);
    unhex("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
          "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
          ct, &ctl);
    unhex("4d5c2af327cd64a62cf35abd2ba6fab4", tag, &tl);
    cr_assert_eq(ptl, 64);
    /* the vector itself, no additional data */
    uint8_t chk[80];
    ref_aead(TLS_CIPHER_AES_128_GCM, key, iv, NULL, 0, pt, 64, chk);
    cr_assert(memcmp(chk, ct, 64) == 0 && memcmp(chk + 64, tag, 16) == 0, "test case 3 as transcribed");

    /* as a TLS 1.2 record: fixed IV cafebabe, seq = explicit nonce facedbaddecaf888 */
    tls_suite s = suite_of(&pairs[9]);
    tls_rec_crypto tx, rx;
    memset(&tx, 0, sizeof tx);
    memset(&rx, 0, sizeof rx);
    cr_assert(tls_rec_init(&tx, &s, TLS_TLS12, true, false, NULL, key, iv));
    cr_assert(tls_rec_init(&rx, &s, TLS_TLS12, false, false, NULL, key, iv));
    tx.seq = rx.seq = 0xfacedbaddecaf888ull;
    uint8_t rec[128];
    size_t n;
    cr_assert_eq(tls_rec_prefix_len(&tx), 8);
    cr_assert(tls_rec_seal(&tx, 23, TLS_TLS12, pt, 64, rec, sizeof rec, &n));
    cr_assert_eq(n, 5 + 8 + 64 + 16);
    const uint8_t hdr[5] = {23, 3, 3, 0, 88};
    cr_assert(memcmp(rec, hdr, 5) == 0);
    cr_assert(memcmp(rec + 5, iv + 4, 8) == 0, "explicit nonce = sequence number");
    cr_assert(memcmp(rec + 13, ct, 64) == 0, "GCM ciphertext");
    /* tag over additional data seq || type || version || length (RFC 5246 6.2.3.3) */
    const uint8_t aad[13] = {0xfa, 0xce, 0xdb, 0xad, 0xde, 0xca, 0xf8, 0x88, 23, 3, 3, 0, 64};
    ref_aead(TLS_CIPHER_AES_128_GCM, key, iv, aad, 13, pt, 64, chk);
    cr_assert(memcmp(rec + 13 + 64, chk + 64, 16) == 0, "GCM tag over the record's additional data");
    uint8_t *out;
    size_t out_len;
    cr_assert_eq(tls_rec_open(&rx, 23, rec + 5, n - 5, &out, &out_len), 0);
    cr_assert_eq(out_len, 64);
    cr_assert(memcmp(out, pt, 64) == 0);
    cr_assert_eq(rx.seq, 0xfacedbaddecaf889ull);
    tls_rec_clear(&tx);
    tls_rec_clear(&rx);
}

Test(record, chacha20_poly1305_known_answer)
{
    /* RFC 8439 section 2.8.2 */
    static const char sunscreen[] = "Ladies and Gentlemen of the class of '99: If I could offer you only one "
                                    "tip for the future, sunscreen would be it.";
    uint8_t key[32], nonce[12], aad_rfc[12], ct[114], tag[16];
    size_t kl, nl, al, cl, tl, len = sizeof sunscreen - 1;
    unhex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f", key, &kl);
    unhex("070000004041424344454647", nonce, &nl);
    unhex("50515253c0c1c2c3c4c5c6c7", aad_rfc, &al);
    unhex("d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
          "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
          "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
          "3ff4def08e4b7a9de576d26586cec64b6116",
          ct, &cl);
    unhex("1ae10b594f09e26a7e902ecbd0600691", tag, &tl);
    cr_assert_eq(len, 114);
    cr_assert_eq(cl, 114);
    uint8_t chk[160];
    ref_aead(TLS_CIPHER_CHACHA20_POLY1305, key, nonce, aad_rfc, 12, (const uint8_t *)sunscreen, len, chk);
    cr_assert(memcmp(chk, ct, 114) == 0 && memcmp(chk + 114, tag, 16) == 0, "RFC 8439 2.8.2 as transcribed");

    /* RFC 7905: nonce = IV xor (0^32 || seq): IV 07000000 00..00 with seq
     * 4041424344454647 gives the RFC's nonce */
    uint8_t iv[12] = {0x07, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    tls_suite s = suite_of(&pairs[11]);
    tls_rec_crypto tx, rx;
    memset(&tx, 0, sizeof tx);
    memset(&rx, 0, sizeof rx);
    cr_assert(tls_rec_init(&tx, &s, TLS_TLS12, true, false, NULL, key, iv));
    cr_assert(tls_rec_init(&rx, &s, TLS_TLS12, false, false, NULL, key, iv));
    cr_assert_eq(tls_rec_prefix_len(&tx), 0, "no explicit nonce");
    tx.seq = rx.seq = 0x4041424344454647ull;
    uint8_t rec[200];
    size_t n;
    cr_assert(tls_rec_seal(&tx, 23, TLS_TLS12, (const uint8_t *)sunscreen, len, rec, sizeof rec, &n));
    cr_assert_eq(n, 5 + 114 + 16);
    cr_assert(memcmp(rec + 5, ct, 114) == 0, "ChaCha20 ciphertext with the RFC 7905 nonce");
    const uint8_t aad[13] = {0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 23, 3, 3, 0, 114};
    ref_aead(TLS_CIPHER_CHACHA20_POLY1305, key, nonce, aad, 13, (const uint8_t *)sunscreen, len, chk);
    cr_assert(memcmp(rec + 5 + 114, chk + 114, 16) == 0, "Poly1305 tag over the record's additional data");
    uint8_t *out;
    size_t out_len;
    cr_assert_eq(tls_rec_open(&rx, 23, rec + 5, n - 5, &out, &out_len), 0);
    cr_assert_eq(out_len, len);
    cr_assert(memcmp(out, sunscreen, len) == 0);
    /* a tag failure wipes the decrypted bytes */
    rx.seq--;
    memcpy(rec + 5, ct, 114);
    rec[5 + 114] ^= 1;
    cr_assert_eq(tls_rec_open(&rx, 23, rec + 5, n - 5, &out, &out_len), TLS_ALERT_BAD_RECORD_MAC);
    for (size_t i = 0; i < 114; i++)
        cr_assert_eq(rec[5 + i], 0, "unauthenticated plaintext left at %zu", i);
    tls_rec_clear(&tx);
    tls_rec_clear(&rx);
}
