/* Key schedule tests: every case of prf.txt, master secret / extended master
 * secret / key block / Finished for TLS 1.0-1.2, the transcript hash, the
 * keylog line, every refusal, parallel use, and the vector-file parser.
 *
 * Sources of expected values:
 *  - prf.txt: see its header (IETF TLS WG msg03416, Mbed TLS, Botan, computed).
 *  - "openssl kdf": values computed for this file with the OpenSSL 3.0 CLI,
 *    an implementation independent of ours, e.g. for the TLS 1.2 master secret
 *      openssl kdf -keylen 48 -kdfopt digest:SHA256 -kdfopt hexsecret:<pms>
 *        -kdfopt hexseed:<hex("master secret") + cr + sr> TLS1-PRF
 *    (digest MD5-SHA1 for TLS 1.0/1.1), and "openssl dgst" for transcript hashes.
 *  - the FIPS 180-2 / RFC 1321 "abc" digests for the transcript hash.
 *  - libcrypto's own EVP_KDF "TLS1-PRF" as an oracle over many lengths. */
#include <criterion/criterion.h>
#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/vectors.h"
#include "prf.h"

static void hex_of(const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 3 <= cap; i++, k += 2)
        snprintf(out + k, 3, "%02x", p[i]);
    out[k < cap ? k : cap - 1] = '\0';
}

#define ASSERT_BYTES(got, want, n, ...)                                                            \
    do {                                                                                           \
        char gh_[1024], wh_[1024];                                                                 \
        hex_of((got), (n), gh_, sizeof gh_);                                                       \
        hex_of((want), (n), wh_, sizeof wh_);                                                      \
        cr_assert(memcmp((got), (want), (n)) == 0, __VA_ARGS__);                                   \
        (void)gh_;                                                                                 \
        (void)wh_;                                                                                 \
    } while (0)

/* Decodes a hex literal of the test into buf; fails the test on bad hex. */
static size_t unhex(const char *hex, uint8_t *buf, size_t cap)
{
    size_t n = vec_unhex(hex, buf, cap);
    cr_assert(n != (size_t)-1, "bad test literal %s", hex);
    return n;
}

/* ---- prf.txt --------------------------------------------------------- */

Test(prf_vectors, every_case_of_prf_txt)
{
    vec_file *f = vec_load("prf.txt");
    cr_assert(f, "%s", vec_error());
    static const struct {
        const char *field;
        uint16_t version;
        tls_hash_id hash;
    } kinds[] = {
        {"tls12_prf_sha256", TLS_TLS12, TLS_HASH_SHA256},
        {"tls12_prf_sha384", TLS_TLS12, TLS_HASH_SHA384},
        {"tls10_prf", TLS_TLS10, TLS_HASH_SHA256 /* ignored before 1.2 */},
        {"ssl3_prf", TLS_SSL3, TLS_HASH_SHA256 /* ignored */},
    };
    size_t run[4] = {0}, total = 0;
    for (size_t i = 0; i < f->ncases; i++) {
        const vec_case *c = &f->cases[i];
        size_t k = 0;
        while (k < 4 && !vec_has(c, kinds[k].field))
            k++;
        cr_assert(k < 4, "%s: no known output field", vec_where(c));
        size_t secret_len, seed_len, want_len;
        const uint8_t *secret = vec_bytes(c, "secret", &secret_len);
        const uint8_t *seed = vec_bytes(c, "seed", &seed_len);
        const uint8_t *want = vec_bytes(c, kinds[k].field, &want_len);
        cr_assert(secret && seed && want_len > 0, "%s: secret/seed missing", vec_where(c));
        char label[128] = "";
        if (kinds[k].version != TLS_SSL3)
            cr_assert(vec_text(c, "label", label, sizeof label), "%s: label missing", vec_where(c));
        else
            /* SSL 3.0 has no label: a label given must be ignored */
            snprintf(label, sizeof label, "test tls_prf label");
        uint8_t out[512];
        cr_assert(want_len <= sizeof out);
        memset(out, 0xee, sizeof out);
        cr_assert(tls_prf(kinds[k].version, kinds[k].hash, secret, secret_len, label, seed, seed_len,
                          NULL, 0, out, want_len),
                  "%s: tls_prf failed", vec_where(c));
        char gh[1100];
        hex_of(out, want_len, gh, sizeof gh);
        cr_assert(memcmp(out, want, want_len) == 0, "%s: got %s", vec_where(c), gh);
        cr_assert_eq(out[want_len], 0xee, "%s: wrote past out_len", vec_where(c));

        /* the same with the seed split in two pieces (seed1 + seed2) */
        memset(out, 0, sizeof out);
        size_t cut = seed_len / 3;
        cr_assert(tls_prf(kinds[k].version, kinds[k].hash, secret, secret_len, label, seed, cut,
                          seed + cut, seed_len - cut, out, want_len));
        cr_assert(memcmp(out, want, want_len) == 0, "%s: split seed differs", vec_where(c));

        /* TLS 1.1 uses the TLS 1.0 PRF */
        if (kinds[k].version == TLS_TLS10) {
            memset(out, 0, sizeof out);
            cr_assert(tls_prf(TLS_TLS11, TLS_HASH_SHA384, secret, secret_len, label, seed, seed_len,
                              NULL, 0, out, want_len));
            cr_assert(memcmp(out, want, want_len) == 0, "%s: TLS 1.1 differs", vec_where(c));
        }
        run[k]++;
        total++;
    }
    for (size_t k = 0; k < 4; k++) {
        cr_assert_gt(run[k], 0, "no %s case in %s", kinds[k].field, f->path);
        cr_assert_eq(run[k], vec_count(f, kinds[k].field));
    }
    cr_assert_gt(total, 0);
    cr_assert_eq(total, f->ncases, "ran %zu of %zu cases", total, f->ncases);
    cr_assert_eq(total, 13, "prf.txt has 13 cases, parsed %zu", total);
    vec_free(f);
}

/* The TLS 1.0 master secret / key block cases of prf.txt through the
 * tls_master_secret / tls_key_block entry points (argument order of randoms). */
Test(prf_vectors, tls10_master_secret_and_key_block_entry_points)
{
    vec_file *f = vec_load("prf.txt");
    cr_assert(f, "%s", vec_error());
    const vec_case *ms_case = NULL, *kb_case = NULL;
    for (size_t i = 0; i < f->ncases; i++) {
        if (strcmp(f->cases[i].id, "prf-tls10-1") == 0)
            ms_case = &f->cases[i];
        if (strcmp(f->cases[i].id, "prf-tls10-2") == 0)
            kb_case = &f->cases[i];
    }
    cr_assert(ms_case && kb_case, "prf-tls10-1/2 not found in %s", f->path);
    size_t pms_len, seed_len, kb_len;
    const uint8_t *pms = vec_bytes(ms_case, "secret", &pms_len);
    const uint8_t *seed = vec_bytes(ms_case, "seed", &seed_len);
    cr_assert_eq(seed_len, 64);
    uint8_t ms[48];
    for (uint16_t v = TLS_TLS10; v <= TLS_TLS11; v++) {
        cr_assert(tls_master_secret(v, TLS_HASH_SHA256, pms, pms_len, seed, seed + 32, NULL, 0, ms));
        ASSERT_BYTES(ms, vec_bytes(ms_case, "tls10_prf", NULL), 48, "master secret v%04x: %s", v, gh_);
        const uint8_t *want_kb = vec_bytes(kb_case, "tls10_prf", &kb_len);
        uint8_t kb[104];
        cr_assert_eq(kb_len, sizeof kb);
        cr_assert(tls_key_block(v, TLS_HASH_SHA256, ms, seed, seed + 32, kb, sizeof kb));
        ASSERT_BYTES(kb, want_kb, sizeof kb, "key block v%04x: %s", v, gh_);
    }
    vec_free(f);
}

/* ---- TLS 1.2 / 1.0 schedule against the openssl CLI ------------------ */

/* pms = 0303 (or 0301) + 10..3d, client_random = 00..1f, server_random = a0..bf,
 * transcript = the 256 bytes 00..ff */
static void inputs(uint16_t version, uint8_t pms[48], uint8_t cr[32], uint8_t sr[32], uint8_t t[256])
{
    pms[0] = 3;
    pms[1] = (uint8_t)(version & 0xff);
    for (int i = 0; i < 46; i++)
        pms[2 + i] = (uint8_t)(0x10 + i);
    for (int i = 0; i < 32; i++) {
        cr[i] = (uint8_t)i;
        sr[i] = (uint8_t)(0xa0 + i);
    }
    for (int i = 0; i < 256; i++)
        t[i] = (uint8_t)i;
}

typedef struct sched_case {
    uint16_t version;
    tls_hash_id hash;
    const char *transcript_hash; /* openssl dgst (MD5 || SHA1 before 1.2) */
    const char *ms;              /* openssl kdf, "master secret" */
    const char *ems;             /* openssl kdf, "extended master secret" over transcript_hash */
    const char *cfin, *sfin;     /* openssl kdf, "client/server finished", 12 bytes */
    const char *kb;              /* openssl kdf, "key expansion", NULL: not checked */
} sched_case;

static const sched_case sched[] = {
    {TLS_TLS12, TLS_HASH_SHA256, "40aff2e9d2d8922e47afd4648e6967497158785fbd1da870e7110266bf944880",
     "7150ae594c07fb399f043d3c00a0a1e451ed9a850b5602896a9ad60b312822865776bfca761df434cc4207802a34411a",
     "1b112f32a8a7b2289aefcf788d710fbd5306fb75980e9e015f7e8dfe6f28af24b446569fbbe587f1f9a355bcb12eb8b9",
     "57993fc901715bb623a6aadf", "1e60aab03489d3b613eab68c",
     /* 160 bytes = 2 * (32 + 32 + 16) */
     "690bea24a615a218677705244dc9f2b721899475f5af3b41fdb80c748951d2144a28bc155c92452b3ea36867c921fcc8"
     "79fa81e03d5fbd51f5a4ca5bac2f0bf28e569d23d9bbfeea4d7c48227279deae853a73e1b8c0326ba207064c2436d142"
     "d40c2206c070c17c5ee4c3820954c2649fc211a19299421b36063e3d897b69d1ac4363404e6e9b6233e13b05479da835"
     "bd12787b9d8af8eed233b61d112806b8"},
    {TLS_TLS12, TLS_HASH_SHA384,
     "ffdaebff65ed05cf400f0221c4ccfb4b2104fb6a51f87e40be6c4309386bfdec2892e9179b34632331a59592737db5c5",
     "8aa5868df9348c312e2fc256667f59ee35ba60d08dfe97b27895cc218c39012bfb76b4f682583783499d50b84345f30d",
     "856e7921099b3be7ead9c81de10e8609e0524a323c8ae8d10226faadb8df7ecf6c8a9409bd0499aa8f9916badef57ca3",
     "fe3fe1baf8daf728b7280f2d", "594deebadd32cae5054bef47",
     /* 192 bytes = 2 * (48 + 32 + 16) */
     "fbb204dcbe4b6471a4f9993a70fd23bdcc31560a99f6801b1bf04d950ae9ccfa1ae49274dfc16d8ed40d8aeb2b596949"
     "21620f260714f652282c6311d423f93de3bba40e1ee8ab37dcd91bf85f51d54c9feb2fefe0930299ea0d7a6ea52a6ce2"
     "2577e27d33675e4949046d3d0c6eb4bfc60c116ee7e554d879aa766844caca67c3847e86be4246ae527380d09c7118e4"
     "a63bcbf366de9987fcb0bfbbadcab2f89ed33edb60343586af17efb0e47a334de5d15a82e769d54be18e6e0fc9db08f4"},
    {TLS_TLS10, TLS_HASH_SHA256, /* MD5(t) || SHA1(t) */
     "e2c865db4162bed963bfaa9ef6ac18f04916d6bdb7f78e6803698cab32d1586ea457dfc8",
     "c3d65cac7176c81abd0027df25ad66dc064691f0da9ba6b73714abfc0ef7636f6716a3de2ef9a9db46aa197cc9b981dd",
     "1d2427b1a8604dda7860db970a06887d65c158ec761faf6a22e9054b52ad9eabd6a3c9f06c15d6c7c045e4b0b73e3406",
     "405869c985b6543cf95582d1", "fa9887a4eb34b7083f682847", NULL},
};

Test(prf_schedule, master_ems_key_block_finished_vs_openssl_cli)
{
    for (size_t i = 0; i < sizeof sched / sizeof sched[0]; i++) {
        const sched_case *s = &sched[i];
        /* TLS 1.1 shares TLS 1.0's construction and values (RFC 4346 5) */
        for (uint16_t v = s->version; v <= (s->version == TLS_TLS10 ? TLS_TLS11 : s->version); v++) {
            uint8_t pms[48], cr[32], sr[32], t[256], want[256], got[256], ms[48];
            inputs(s->version, pms, cr, sr, t);
            size_t n = 0;

            cr_assert(tls_transcript_hash(v, s->hash, t, sizeof t, got, &n));
            cr_assert_eq(n, unhex(s->transcript_hash, want, sizeof want), "case %zu v%04x", i, v);
            ASSERT_BYTES(got, want, n, "transcript hash case %zu: %s", i, gh_);

            cr_assert(tls_master_secret(v, s->hash, pms, 48, cr, sr, NULL, 0, ms));
            unhex(s->ms, want, sizeof want);
            ASSERT_BYTES(ms, want, 48, "master secret case %zu v%04x: %s", i, v, gh_);

            uint8_t sh[64];
            size_t sh_len = 0;
            cr_assert(tls_transcript_hash(v, s->hash, t, sizeof t, sh, &sh_len));
            uint8_t ems[48];
            /* the randoms must play no part in the extended master secret */
            uint8_t zero[32] = {0};
            cr_assert(tls_master_secret(v, s->hash, pms, 48, zero, zero, sh, sh_len, ems));
            unhex(s->ems, want, sizeof want);
            ASSERT_BYTES(ems, want, 48, "EMS case %zu v%04x: %s", i, v, gh_);

            cr_assert(tls_finished(v, s->hash, ms, true, t, sizeof t, got, &n));
            cr_assert_eq(n, 12);
            unhex(s->cfin, want, sizeof want);
            ASSERT_BYTES(got, want, 12, "client Finished case %zu v%04x: %s", i, v, gh_);
            cr_assert(tls_finished(v, s->hash, ms, false, t, sizeof t, got, &n));
            cr_assert_eq(n, 12);
            unhex(s->sfin, want, sizeof want);
            ASSERT_BYTES(got, want, 12, "server Finished case %zu v%04x: %s", i, v, gh_);

            if (s->kb) {
                size_t kl = unhex(s->kb, want, sizeof want);
                memset(got, 0, sizeof got);
                cr_assert(tls_key_block(v, s->hash, ms, cr, sr, got, kl));
                ASSERT_BYTES(got, want, kl, "key block case %zu: %s", i, gh_);
            }
        }
    }
}

/* FIPS 180-2 appendix B.1 / D.1 and RFC 1321 A.5: the digests of "abc". */
Test(prf_schedule, transcript_hash_known_answers)
{
    static const char md5_abc[] = "900150983cd24fb0d6963f7d28e17f72";
    static const char sha1_abc[] = "a9993e364706816aba3e25717850c26c9cd0d89d";
    static const char sha256_abc[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    static const char sha384_abc[] =
        "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7";
    const uint8_t *abc = (const uint8_t *)"abc";
    uint8_t got[64], want[64];
    size_t n = 0;
    for (uint16_t v = TLS_SSL3; v <= TLS_TLS11; v++) {
        cr_assert(tls_transcript_hash(v, TLS_HASH_SHA384, abc, 3, got, &n));
        cr_assert_eq(n, 36);
        unhex(md5_abc, want, sizeof want);
        unhex(sha1_abc, want + 16, sizeof want - 16);
        ASSERT_BYTES(got, want, 36, "MD5||SHA1 v%04x: %s", v, gh_);
    }
    cr_assert(tls_transcript_hash(TLS_TLS12, TLS_HASH_SHA256, abc, 3, got, &n));
    cr_assert_eq(n, unhex(sha256_abc, want, sizeof want));
    ASSERT_BYTES(got, want, n, "SHA256: %s", gh_);
    cr_assert(tls_transcript_hash(TLS_TLS12, TLS_HASH_SHA384, abc, 3, got, &n));
    cr_assert_eq(n, unhex(sha384_abc, want, sizeof want));
    ASSERT_BYTES(got, want, n, "SHA384: %s", gh_);
    /* an empty transcript (NULL, 0) is fine: SHA-256 of "" (FIPS 180-4 examples) */
    cr_assert(tls_transcript_hash(TLS_TLS12, TLS_HASH_SHA256, NULL, 0, got, &n));
    unhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", want, sizeof want);
    ASSERT_BYTES(got, want, 32, "SHA256(\"\"): %s", gh_);
}

/* ---- libcrypto's TLS1-PRF as an oracle -------------------------------- */

static void oracle(const char *digest, const uint8_t *secret, size_t secret_len, const char *label,
                   const uint8_t *seed, size_t seed_len, uint8_t *out, size_t out_len)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "TLS1-PRF", NULL);
    cr_assert(kdf);
    EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
    cr_assert(ctx);
    OSSL_PARAM p[5] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)digest, 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, (void *)secret, secret_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, (void *)label, strlen(label)),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, (void *)seed, seed_len),
        OSSL_PARAM_construct_end(),
    };
    cr_assert(EVP_KDF_derive(ctx, out, out_len, p) == 1, "oracle failed");
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
}

Test(prf_oracle, all_lengths_and_odd_secrets_agree_with_evp_kdf)
{
    uint8_t secret[61], seed[77], a[300], b[300];
    for (size_t i = 0; i < sizeof secret; i++)
        secret[i] = (uint8_t)(i * 37 + 5);
    for (size_t i = 0; i < sizeof seed; i++)
        seed[i] = (uint8_t)(i * 11 + 3);
    static const struct {
        uint16_t v;
        tls_hash_id h;
        const char *digest;
    } algs[] = {{TLS_TLS10, TLS_HASH_SHA256, "MD5-SHA1"},
                {TLS_TLS12, TLS_HASH_SHA256, "SHA256"},
                {TLS_TLS12, TLS_HASH_SHA384, "SHA384"},
                {TLS_TLS12, TLS_HASH_SHA512, "SHA512"}};
    size_t checks = 0;
    for (size_t k = 0; k < sizeof algs / sizeof algs[0]; k++)
        for (size_t sl = 1; sl <= sizeof secret; sl += 3)      /* odd and even secret lengths */
            for (size_t ol = 1; ol <= sizeof a; ol += 13) {    /* partial and whole blocks */
                oracle(algs[k].digest, secret, sl, "oracle label", seed, sizeof seed, a, ol);
                memset(b, 0, sizeof b);
                cr_assert(tls_prf(algs[k].v, algs[k].h, secret, sl, "oracle label", seed, 30, seed + 30,
                                  sizeof seed - 30, b, ol));
                cr_assert(memcmp(a, b, ol) == 0, "%s secret %zu out %zu", algs[k].digest, sl, ol);
                checks++;
            }
    cr_assert_gt(checks, 1000);
}

/* ---- keylog ---------------------------------------------------------- */

Test(prf_keylog, nss_client_random_line)
{
    uint8_t cr[32], ms[48];
    for (int i = 0; i < 32; i++)
        cr[i] = (uint8_t)(0xf0 + (i & 15));
    for (int i = 0; i < 48; i++)
        ms[i] = (uint8_t)i;
    char line[200];
    tls_keylog_line(cr, ms, line, sizeof line);
    cr_assert_str_eq(line, "CLIENT_RANDOM "
                           "f0f1f2f3f4f5f6f7f8f9fafbfcfdfefff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff "
                           "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
                           "202122232425262728292a2b2c2d2e2f");
    cr_assert_eq(strlen(line), 14 + 64 + 1 + 96);
    /* exactly big enough */
    char exact[14 + 64 + 1 + 96 + 1];
    tls_keylog_line(cr, ms, exact, sizeof exact);
    cr_assert_str_eq(exact, line);
    /* one byte short: an empty string, never a cut-off secret */
    char shorter[sizeof exact - 1];
    memset(shorter, 'x', sizeof shorter);
    tls_keylog_line(cr, ms, shorter, sizeof shorter);
    cr_assert_eq(shorter[0], '\0');
    tls_keylog_line(cr, ms, NULL, 0); /* must not crash */
}

/* ---- refusals -------------------------------------------------------- */

Test(prf_errors, refuses_what_is_not_defined)
{
    uint8_t s[48] = {1}, r[32] = {2}, out[512], sh[36] = {3};
    size_t n = 99;
    /* unknown versions: SSL 2, TLS 1.3 (HKDF, not this PRF), garbage */
    static const uint16_t bad_versions[] = {0x0002, 0x0200, 0x0304, 0x0400, 0xfefd};
    for (size_t i = 0; i < sizeof bad_versions / sizeof bad_versions[0]; i++) {
        uint16_t v = bad_versions[i];
        cr_assert(!tls_prf(v, TLS_HASH_SHA256, s, 48, "l", r, 32, NULL, 0, out, 12), "v%04x", v);
        cr_assert(!tls_master_secret(v, TLS_HASH_SHA256, s, 48, r, r, NULL, 0, out), "v%04x", v);
        cr_assert(!tls_key_block(v, TLS_HASH_SHA256, s, r, r, out, 40), "v%04x", v);
        cr_assert(!tls_finished(v, TLS_HASH_SHA256, s, true, r, 32, out, &n), "v%04x", v);
        cr_assert_eq(n, 0, "out_len must be reset on failure");
        n = 99;
    }
    cr_assert(!tls_transcript_hash(0x0200, TLS_HASH_SHA256, r, 32, out, &n));
    /* TLS 1.3 transcript hashes are still plain hashes */
    cr_assert(tls_transcript_hash(TLS_TLS13, TLS_HASH_SHA384, r, 32, out, &n) && n == 48);
    /* TLS 1.2 PRF with MD5 or SHA-1, or an unknown hash: no such PRF */
    cr_assert(!tls_prf(TLS_TLS12, TLS_HASH_MD5, s, 48, "l", r, 32, NULL, 0, out, 12));
    cr_assert(!tls_prf(TLS_TLS12, TLS_HASH_SHA1, s, 48, "l", r, 32, NULL, 0, out, 12));
    cr_assert(!tls_prf(TLS_TLS12, (tls_hash_id)TLS_HASH_COUNT, s, 48, "l", r, 32, NULL, 0, out, 12));
    cr_assert(!tls_transcript_hash(TLS_TLS12, TLS_HASH_SHA1, r, 32, out, &n));
    cr_assert(!tls_transcript_hash(TLS_TLS12, (tls_hash_id)77, r, 32, out, &n));
    cr_assert(!tls_finished(TLS_TLS12, TLS_HASH_MD5, s, true, r, 32, out, &n));
    /* RFC 7627 defines no SSL 3.0 extended master secret */
    cr_assert(!tls_master_secret(TLS_SSL3, TLS_HASH_SHA256, s, 48, r, r, sh, sizeof sh, out));
    /* an empty session hash is a caller bug */
    cr_assert(!tls_master_secret(TLS_TLS12, TLS_HASH_SHA256, s, 48, r, r, sh, 0, out));
    /* SSL 3.0 construction ends at 'Z': 26 blocks of 16 bytes */
    cr_assert(tls_prf(TLS_SSL3, TLS_HASH_SHA256, s, 48, NULL, r, 32, r, 32, out, 416));
    cr_assert(!tls_prf(TLS_SSL3, TLS_HASH_SHA256, s, 48, NULL, r, 32, r, 32, out, 417));
    /* NULL buffers with non-zero lengths */
    cr_assert(!tls_prf(TLS_TLS12, TLS_HASH_SHA256, NULL, 5, "l", r, 32, NULL, 0, out, 12));
    cr_assert(!tls_prf(TLS_TLS12, TLS_HASH_SHA256, s, 48, "l", NULL, 32, NULL, 0, out, 12));
    cr_assert(!tls_prf(TLS_TLS12, TLS_HASH_SHA256, s, 48, "l", r, 32, NULL, 3, out, 12));
    cr_assert(!tls_prf(TLS_TLS12, TLS_HASH_SHA256, s, 48, "l", r, 32, NULL, 0, NULL, 12));
    cr_assert(!tls_master_secret(TLS_TLS12, TLS_HASH_SHA256, s, 48, NULL, r, NULL, 0, out));
    cr_assert(!tls_master_secret(TLS_TLS12, TLS_HASH_SHA256, s, 48, r, r, NULL, 0, NULL));
    cr_assert(!tls_key_block(TLS_TLS12, TLS_HASH_SHA256, NULL, r, r, out, 40));
    cr_assert(!tls_transcript_hash(TLS_TLS12, TLS_HASH_SHA256, NULL, 4, out, &n));
    cr_assert(!tls_transcript_hash(TLS_TLS12, TLS_HASH_SHA256, r, 4, NULL, &n));
    cr_assert(!tls_finished(TLS_TLS12, TLS_HASH_SHA256, NULL, true, r, 4, out, &n));
    cr_assert(!tls_finished(TLS_SSL3, TLS_HASH_SHA256, s, true, NULL, 4, out, &n));
    cr_assert(!tls_ssl3_cert_verify_hash(s, NULL, 4, out));
    cr_assert(!tls_ssl3_cert_verify_hash(NULL, r, 4, out));
    /* zero output bytes: nothing to do, success */
    cr_assert(tls_prf(TLS_TLS12, TLS_HASH_SHA256, s, 48, "l", r, 32, NULL, 0, NULL, 0));
}

/* Edge inputs that are legal: an empty secret (TLS 1.0 halves of length 0),
 * an empty label and seed (checked against the EVP_KDF oracle where it accepts them). */
Test(prf_errors, empty_secret_is_a_valid_hmac_key)
{
    uint8_t seed[8] = {1, 2, 3, 4, 5, 6, 7, 8}, a[40], b[40];
    /* HMAC with an empty key equals HMAC with a zero-byte key of any length up to
     * the block size (RFC 2104 2: the key is zero-padded); a one-byte 00 key
     * must therefore give the same P_SHA256 output. */
    static const uint8_t zero1[1] = {0};
    cr_assert(tls_prf(TLS_TLS12, TLS_HASH_SHA256, NULL, 0, "x", seed, 8, NULL, 0, a, sizeof a));
    cr_assert(tls_prf(TLS_TLS12, TLS_HASH_SHA256, zero1, 1, "x", seed, 8, NULL, 0, b, sizeof b));
    cr_assert(memcmp(a, b, sizeof a) == 0);
    /* and it must differ from the (placeholder-keyed) template: a 1-byte 01 key */
    static const uint8_t one1[1] = {1};
    cr_assert(tls_prf(TLS_TLS12, TLS_HASH_SHA256, one1, 1, "x", seed, 8, NULL, 0, b, sizeof b));
    cr_assert(memcmp(a, b, sizeof a) != 0);
    cr_assert(tls_prf(TLS_TLS10, TLS_HASH_SHA256, NULL, 0, "x", seed, 8, NULL, 0, a, sizeof a));
    cr_assert(tls_prf(TLS_TLS10, TLS_HASH_SHA256, zero1, 1, "x", seed, 8, NULL, 0, b, sizeof b));
    cr_assert(memcmp(a, b, sizeof a) == 0);
}

/* ---- many connections at once --------------------------------------- */

typedef struct thread_job {
    int id;
    bool ok;
} thread_job;

static void *thread_run(void *arg)
{
    thread_job *j = arg;
    uint8_t pms[48], cr[32], sr[32], t[256], ms[48], fin[36];
    j->ok = true;
    for (int i = 0; i < 200 && j->ok; i++) {
        size_t n = 0;
        const sched_case *s = &sched[(j->id + i) % 3];
        uint8_t w[48];
        inputs(s->version, pms, cr, sr, t);
        vec_unhex(s->ms, w, sizeof w);
        j->ok = tls_master_secret(s->version, s->hash, pms, 48, cr, sr, NULL, 0, ms) &&
                memcmp(ms, w, 48) == 0 && tls_finished(s->version, s->hash, ms, true, t, 256, fin, &n) &&
                n == 12;
        if (j->ok) {
            vec_unhex(s->cfin, w, sizeof w);
            j->ok = memcmp(fin, w, 12) == 0;
        }
    }
    return NULL;
}

Test(prf_threads, parallel_schedules_agree)
{
    enum { N = 8 };
    pthread_t th[N];
    thread_job jobs[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = (thread_job){i, false};
        cr_assert_eq(pthread_create(&th[i], NULL, thread_run, &jobs[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        cr_assert(jobs[i].ok, "thread %d computed a wrong value", i);
    }
}

/* ---- the vector-file parser ------------------------------------------ */

Test(vectors, parses_blocks_comments_ids_and_empty_values)
{
    static const char text[] = "# header block: only comments\n"
                               "# FORMAT ...\n"
                               "\n"
                               "# case-a: first case\n"
                               "x = 00ff\n"
                               "# a comment inside a block\n"
                               "  name_2  =   AbCd  \r\n"
                               "empty = \n"
                               "\n\n\n"
                               "# ==== section header ====\n"
                               "\n"
                               "y=0102030405060708\n"
                               "big = 010203040506070809\n";
    vec_file *f = vec_parse(text, sizeof text - 1, "mem");
    cr_assert(f, "%s", vec_error());
    cr_assert_eq(f->ncases, 2);
    const vec_case *a = &f->cases[0], *b = &f->cases[1];
    cr_assert_str_eq(a->id, "case-a");
    cr_assert_eq(a->line, 5);
    cr_assert_eq(a->nfields, 3);
    size_t n;
    const uint8_t *x = vec_bytes(a, "x", &n);
    cr_assert(x && n == 2 && x[0] == 0 && x[1] == 0xff);
    x = vec_bytes(a, "name_2", &n);
    cr_assert(x && n == 2 && x[0] == 0xab && x[1] == 0xcd);
    cr_assert(vec_has(a, "empty"));
    cr_assert(vec_bytes(a, "empty", &n) != NULL && n == 0);
    cr_assert(!vec_has(a, "y"));
    cr_assert(vec_bytes(a, "nope", &n) == NULL && n == 0);
    cr_assert_eq(vec_len(a, "x"), 2);
    cr_assert_eq(vec_len(a, "nope"), 0);
    cr_assert_eq(vec_uint(a, "x"), 0x00ff);
    uint64_t u = 7;
    cr_assert(!vec_uint_get(a, "empty", &u) && u == 7, "empty field is no integer");
    cr_assert(!vec_uint_get(a, "nope", &u));
    cr_assert_str_eq(b->id, "line 14", "a case without a comment is named by its line");
    cr_assert_eq(vec_uint(b, "y"), 0x0102030405060708ull);
    cr_assert(!vec_uint_get(b, "big", &u), "9 bytes do not fit a uint64");
    cr_assert_eq(vec_uint(b, "big"), 0);
    cr_assert_eq(vec_count(f, "x"), 1);
    cr_assert_eq(vec_count(f, "y"), 1);
    cr_assert_eq(vec_count(f, "zz"), 0);
    cr_assert_str_eq(vec_where(a), "mem:5 (case-a)");
    char buf[9];
    cr_assert(!vec_text(a, "x", buf, sizeof buf), "00 inside text is refused");
    cr_assert(vec_text(b, "y", buf, 9), "8 bytes + NUL fit 9");
    cr_assert(memcmp(buf, "\x01\x02\x03\x04\x05\x06\x07\x08", 9) == 0);
    cr_assert(!vec_text(b, "y", buf, 8), "8 bytes + NUL do not fit 8");
    vec_free(f);
}

Test(vectors, text_and_unhex)
{
    static const char text[] = "label = 74657374206c6162656c\n";
    vec_file *f = vec_parse(text, sizeof text - 1, NULL);
    cr_assert(f, "%s", vec_error());
    char buf[16];
    cr_assert(vec_text(&f->cases[0], "label", buf, sizeof buf));
    cr_assert_str_eq(buf, "test label");
    cr_assert(!vec_text(&f->cases[0], "label", buf, 10), "no room for the NUL");
    cr_assert_str_eq(f->path, "(memory)");
    vec_free(f);
    uint8_t out[4];
    cr_assert_eq(vec_unhex("0aFf", out, sizeof out), 2);
    cr_assert(out[0] == 0x0a && out[1] == 0xff);
    cr_assert_eq(vec_unhex("", out, sizeof out), 0);
    cr_assert_eq(vec_unhex("abc", out, sizeof out), (size_t)-1);
    cr_assert_eq(vec_unhex("zz", out, sizeof out), (size_t)-1);
    cr_assert_eq(vec_unhex("0102030405", out, sizeof out), (size_t)-1);
    vec_free(NULL);
}

static void expect_parse_error(const char *text, const char *fragment)
{
    vec_file *f = vec_parse(text, strlen(text), "bad.txt");
    cr_assert_null(f, "accepted: %s", text);
    cr_assert(strstr(vec_error(), fragment), "error '%s' lacks '%s'", vec_error(), fragment);
}

Test(vectors, rejects_malformed_files_with_file_and_line)
{
    expect_parse_error("# c\nx = 00\nnot a field\n", "bad.txt:3: expected 'name = hex'");
    expect_parse_error("x = 012\n", "bad.txt:1: field 'x': odd number of hex digits");
    expect_parse_error("\n\nx = 0g\n", "bad.txt:3: field 'x': not a hex digit at column 6");
    expect_parse_error("x = 00\nx = 01\n", "bad.txt:2: field 'x' appears twice");
    expect_parse_error(" = 00\n", "bad.txt:1: field without a name");
    static const char nul[] = "x = 00\ny = 0\0\n";
    vec_file *f = vec_parse(nul, sizeof nul - 1, "bad.txt");
    cr_assert_null(f);
    cr_assert(strstr(vec_error(), "bad.txt:2: NUL byte"), "%s", vec_error());
    /* the same field name in two different cases is fine */
    static const char two[] = "x = 00\n\nx = 01\n";
    f = vec_parse(two, sizeof two - 1, "ok.txt");
    cr_assert(f, "%s", vec_error());
    cr_assert_eq(f->ncases, 2);
    vec_free(f);
}

Test(vectors, missing_file_is_an_error_not_a_skip)
{
    cr_assert(setenv("TLS_VECTORS_DIR", "/nonexistent-dir", 1) == 0);
    cr_assert_null(vec_load("prf.txt"));
    cr_assert(strstr(vec_error(), "cannot open vector file /nonexistent-dir/prf.txt"), "%s", vec_error());
}

Test(vectors, path_resolution_order)
{
    cr_assert(setenv("TOP", "/repo", 1) == 0);
    cr_assert(setenv("TLS_VECTORS_DIR", "/v", 1) == 0);
    cr_assert_str_eq(vec_resolve("a.txt"), "/v/a.txt");
    cr_assert(unsetenv("TLS_VECTORS_DIR") == 0);
    cr_assert_str_eq(vec_resolve("a.txt"), "/repo/../shared/vectors/a.txt");
    cr_assert(unsetenv("TOP") == 0);
    cr_assert_str_eq(vec_resolve("a.txt"), "../shared/vectors/a.txt");
    cr_assert_str_eq(vec_resolve("/abs/b.txt"), "/abs/b.txt");
    cr_assert_str_eq(vec_resolve("rel/b.txt"), "rel/b.txt");
}

Test(vectors, loads_a_real_file_with_a_path)
{
    char tmpl[] = "/tmp/vectest-XXXXXX";
    int fd = mkstemp(tmpl);
    cr_assert(fd >= 0);
    static const char text[] = "# t-1: x\nk = 0102\n";
    cr_assert_eq(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    vec_file *f = vec_load(tmpl);
    unlink(tmpl);
    cr_assert(f, "%s", vec_error());
    cr_assert_eq(f->ncases, 1);
    cr_assert_str_eq(f->cases[0].id, "t-1");
    cr_assert_str_eq(f->path, tmpl);
    cr_assert_eq(vec_uint(&f->cases[0], "k"), 0x0102);
    vec_free(f);
}
