/* SSL 3.0 key-schedule known answers from ssl3.txt (tlslite-ng, cross-checked
 * with hashlib and the OpenSSL CLI; some cases from a real SSL 3.0 handshake;
 * see the file's header):
 *   1. master secret (RFC 6101 6.1)          cases with pre_master_secret
 *   2. key block and its split (6.2.2)       cases with key_block
 *   4. Finished verify_data (5.6.9)          cases with sender
 *   5. CertificateVerify hash (5.6.8)        cases with cert_verify_hash
 * Sections 3, 3b and 6 (record MAC and protection) are the record layer's
 * (fields fragment, raw_input, ciphertext); this file only checks that every
 * case of the file is one of the seven kinds. */
#include <criterion/criterion.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "lib/vectors.h"
#include "prf.h"
#include "suites.h"

static vec_file *load(void)
{
    vec_file *f = vec_load("ssl3.txt");
    cr_assert(f, "%s", vec_error());
    return f;
}

/* A field that must exist with exactly `len` bytes. */
static const uint8_t *need(const vec_case *c, const char *name, size_t len)
{
    size_t n = 0;
    const uint8_t *p = vec_bytes(c, name, &n);
    cr_assert(p, "%s: no field %s", vec_where(c), name);
    cr_assert_eq(n, len, "%s: %s has %zu bytes, expected %zu", vec_where(c), name, n, len);
    return p;
}

static const vec_case *by_id(const vec_file *f, const char *id)
{
    for (size_t i = 0; i < f->ncases; i++)
        if (strcmp(f->cases[i].id, id) == 0)
            return &f->cases[i];
    cr_assert_fail("case %s not found in %s", id, f->path);
    return NULL;
}

static void assert_same(const uint8_t *got, const uint8_t *want, size_t n, const vec_case *c, const char *what)
{
    if (memcmp(got, want, n) == 0)
        return;
    char gh[512] = "";
    for (size_t i = 0; i < n && 2 * i + 3 <= sizeof gh; i++)
        snprintf(gh + 2 * i, 3, "%02x", got[i]);
    cr_assert_fail("%s: %s differs, got %s", vec_where(c), what, gh);
}

Test(ssl3_vectors, every_case_has_a_known_kind)
{
    vec_file *f = load();
    static const char *const kinds[] = {"pre_master_secret", "key_block", "fragment", "raw_input",
                                        "sender", "cert_verify_hash", "ciphertext"};
    for (size_t i = 0; i < f->ncases; i++) {
        int hits = 0;
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
            hits += vec_has(&f->cases[i], kinds[k]);
        cr_assert_eq(hits, 1, "%s: belongs to %d kinds", vec_where(&f->cases[i]), hits);
    }
    cr_assert_gt(f->ncases, 0);
    vec_free(f);
}

Test(ssl3_vectors, master_secret)
{
    vec_file *f = load();
    size_t run = 0;
    for (size_t i = 0; i < f->ncases; i++) {
        const vec_case *c = &f->cases[i];
        if (!vec_has(c, "pre_master_secret"))
            continue;
        const uint8_t *pms = need(c, "pre_master_secret", 48);
        const uint8_t *cr = need(c, "client_random", 32), *sr = need(c, "server_random", 32);
        const uint8_t *want = need(c, "master_secret", 48);
        uint8_t ms[48];
        /* the prf hash plays no part in SSL 3.0: any value gives the same */
        cr_assert(tls_master_secret(TLS_SSL3, TLS_HASH_SHA384, pms, 48, cr, sr, NULL, 0, ms), "%s",
                  vec_where(c));
        assert_same(ms, want, 48, c, "master_secret");
        /* the same through tls_prf: seed = client_random + server_random */
        memset(ms, 0, sizeof ms);
        cr_assert(tls_prf(TLS_SSL3, TLS_HASH_SHA256, pms, 48, "master secret", cr, 32, sr, 32, ms, 48));
        assert_same(ms, want, 48, c, "master_secret via tls_prf");
        /* the randoms the other way round must give something else */
        cr_assert(tls_master_secret(TLS_SSL3, TLS_HASH_SHA256, pms, 48, sr, cr, NULL, 0, ms));
        cr_assert(memcmp(ms, want, 48) != 0, "%s: randoms order ignored", vec_where(c));
        /* RFC 7627 has no SSL 3.0 form */
        cr_assert(!tls_master_secret(TLS_SSL3, TLS_HASH_SHA256, pms, 48, cr, sr, cr, 32, ms));
        run++;
    }
    cr_assert_gt(run, 0);
    cr_assert_eq(run, vec_count(f, "pre_master_secret"));
    cr_assert_eq(run, 5, "ssl3.txt section 1 has 5 cases, ran %zu", run);
    vec_free(f);
}

Test(ssl3_vectors, key_block_and_split)
{
    vec_file *f = load();
    size_t run = 0;
    for (size_t i = 0; i < f->ncases; i++) {
        const vec_case *c = &f->cases[i];
        if (!vec_has(c, "key_block"))
            continue;
        uint64_t id = 0;
        cr_assert(vec_uint_get(c, "cipher_suite", &id), "%s: cipher_suite", vec_where(c));
        /* sizes from the engine's suite table, as the handshake uses them */
        const tls_suite *s = tls_suite_by_id((uint16_t)id);
        cr_assert(s, "%s: suite %04x not in the table", vec_where(c), (unsigned)id);
        cr_assert_leq(s->min_version, TLS_SSL3, "%s: suite %04x not allowed in SSL 3.0", vec_where(c),
                      (unsigned)id);
        const tls_cipher_desc *cd = tls_cipher_desc_get(s->cipher);
        cr_assert(cd);
        size_t mac = tls_mac_len(s->mac), key = cd->key_len;
        size_t iv = cd->kind == TLS_CIPHER_CBC ? cd->iv_len : 0;
        size_t kb_len = 2 * (mac + key + iv);
        const uint8_t *ms = need(c, "master_secret", 48);
        const uint8_t *cr = need(c, "client_random", 32), *sr = need(c, "server_random", 32);
        const uint8_t *want = need(c, "key_block", kb_len);

        uint8_t kb[2 * (48 + 32 + 16)];
        cr_assert_leq(kb_len, sizeof kb);
        memset(kb, 0xee, sizeof kb);
        cr_assert(tls_key_block(TLS_SSL3, s->prf_hash, ms, cr, sr, kb, kb_len), "%s", vec_where(c));
        assert_same(kb, want, kb_len, c, "key_block");
        cr_assert_eq(kb[kb_len], 0xee, "%s: wrote past the key block", vec_where(c));

        /* RFC 6101 6.2.2: client MAC, server MAC, client key, server key, client IV, server IV */
        const uint8_t *p = kb;
        assert_same(p, need(c, "client_write_MAC_secret", mac), mac, c, "client_write_MAC_secret");
        assert_same(p += mac, need(c, "server_write_MAC_secret", mac), mac, c, "server_write_MAC_secret");
        assert_same(p += mac, need(c, "client_write_key", key), key, c, "client_write_key");
        assert_same(p += key, need(c, "server_write_key", key), key, c, "server_write_key");
        p += key;
        if (iv) {
            assert_same(p, need(c, "client_write_IV", iv), iv, c, "client_write_IV");
            assert_same(p += iv, need(c, "server_write_IV", iv), iv, c, "server_write_IV");
        } else {
            cr_assert(!vec_has(c, "client_write_IV") && !vec_has(c, "server_write_IV"),
                      "%s: a stream suite with IVs", vec_where(c));
        }
        /* a shorter request is a prefix (the construction is a stream) */
        uint8_t part[20];
        cr_assert(tls_key_block(TLS_SSL3, s->prf_hash, ms, cr, sr, part, sizeof part));
        assert_same(part, want, sizeof part, c, "key_block prefix");
        run++;
    }
    cr_assert_gt(run, 0);
    cr_assert_eq(run, vec_count(f, "key_block"));
    cr_assert_eq(run, 7, "ssl3.txt section 2 has 7 cases, ran %zu", run);
    vec_free(f);
}

Test(ssl3_vectors, finished)
{
    vec_file *f = load();
    static const uint8_t clnt[4] = {'C', 'L', 'N', 'T'}, srvr[4] = {'S', 'R', 'V', 'R'};
    size_t run = 0, clients = 0;
    for (size_t i = 0; i < f->ncases; i++) {
        const vec_case *c = &f->cases[i];
        if (!vec_has(c, "sender"))
            continue;
        const uint8_t *sender = need(c, "sender", 4);
        bool from_client = memcmp(sender, clnt, 4) == 0;
        cr_assert(from_client || memcmp(sender, srvr, 4) == 0, "%s: unknown sender", vec_where(c));
        const uint8_t *ms = need(c, "master_secret", 48);
        size_t t_len = 0;
        const uint8_t *t = vec_bytes(c, "handshake_messages", &t_len);
        cr_assert(t, "%s: handshake_messages", vec_where(c));
        const uint8_t *vd = need(c, "verify_data", 36);
        uint8_t out[36];
        size_t n = 0;
        cr_assert(tls_finished(TLS_SSL3, TLS_HASH_SHA256, ms, from_client, t, t_len, out, &n), "%s",
                  vec_where(c));
        cr_assert_eq(n, 36);
        assert_same(out, need(c, "md5_hash", 16), 16, c, "md5_hash");
        assert_same(out + 16, need(c, "sha_hash", 20), 20, c, "sha_hash");
        assert_same(out, vd, 36, c, "verify_data");
        /* finished_message = 14 000024 + verify_data */
        const uint8_t *msg = need(c, "finished_message", 40);
        static const uint8_t hdr[4] = {0x14, 0x00, 0x00, 0x24};
        assert_same(hdr, msg, 4, c, "finished_message header");
        assert_same(out, msg + 4, 36, c, "finished_message body");
        /* the other side's Finished differs */
        cr_assert(tls_finished(TLS_SSL3, TLS_HASH_SHA256, ms, !from_client, t, t_len, out, &n));
        cr_assert(memcmp(out, vd, 36) != 0, "%s: sender ignored", vec_where(c));
        clients += from_client;
        run++;
    }
    cr_assert_gt(run, 0);
    cr_assert_eq(run, vec_count(f, "sender"));
    cr_assert_eq(run, 8, "ssl3.txt section 4 has 8 cases, ran %zu", run);
    cr_assert(clients > 0 && clients < run, "both senders covered");
    vec_free(f);
}

Test(ssl3_vectors, certificate_verify_hash)
{
    vec_file *f = load();
    size_t run = 0;
    for (size_t i = 0; i < f->ncases; i++) {
        const vec_case *c = &f->cases[i];
        if (!vec_has(c, "cert_verify_hash"))
            continue;
        const uint8_t *ms = need(c, "master_secret", 48);
        size_t t_len = 0;
        const uint8_t *t = vec_bytes(c, "handshake_messages", &t_len);
        cr_assert(t, "%s: handshake_messages", vec_where(c));
        uint8_t out[36];
        /* an empty transcript may come as NULL */
        cr_assert(tls_ssl3_cert_verify_hash(ms, t_len ? t : NULL, t_len, out), "%s", vec_where(c));
        assert_same(out, need(c, "md5_hash", 16), 16, c, "md5_hash");
        assert_same(out + 16, need(c, "sha_hash", 20), 20, c, "sha_hash");
        assert_same(out, need(c, "cert_verify_hash", 36), 36, c, "cert_verify_hash");
        run++;
    }
    cr_assert_gt(run, 0);
    cr_assert_eq(run, vec_count(f, "cert_verify_hash"));
    cr_assert_eq(run, 3, "ssl3.txt section 5 has 3 cases, ran %zu", run);
    vec_free(f);
}

/* One real SSL 3.0 connection end to end: pre-master secret -> master secret ->
 * key block -> both Finished messages, each step fed by our previous output. */
static void chain(const vec_file *f, const char *ms_id, const char *kb_id, const char *fin_c,
                  const char *fin_s)
{
    const vec_case *m = by_id(f, ms_id), *k = by_id(f, kb_id);
    const vec_case *fc = by_id(f, fin_c), *fs = by_id(f, fin_s);
    uint8_t ms[48];
    cr_assert(tls_master_secret(TLS_SSL3, TLS_HASH_SHA256, need(m, "pre_master_secret", 48), 48,
                                need(m, "client_random", 32), need(m, "server_random", 32), NULL, 0, ms));
    assert_same(ms, need(m, "master_secret", 48), 48, m, "master_secret");
    size_t kb_len = vec_len(k, "key_block");
    uint8_t kb[200];
    cr_assert(kb_len > 0 && kb_len <= sizeof kb);
    cr_assert(tls_key_block(TLS_SSL3, TLS_HASH_SHA256, ms, need(m, "client_random", 32),
                            need(m, "server_random", 32), kb, kb_len));
    assert_same(kb, need(k, "key_block", kb_len), kb_len, k, "key_block");
    size_t tc_len = 0, ts_len = 0, n = 0;
    const uint8_t *tc = vec_bytes(fc, "handshake_messages", &tc_len);
    const uint8_t *ts = vec_bytes(fs, "handshake_messages", &ts_len);
    uint8_t vd[36];
    cr_assert(tls_finished(TLS_SSL3, TLS_HASH_SHA256, ms, true, tc, tc_len, vd, &n) && n == 36);
    assert_same(vd, need(fc, "verify_data", 36), 36, fc, "client verify_data");
    /* the server's transcript is the client's plus the client's Finished */
    cr_assert_eq(ts_len, tc_len + 40);
    assert_same(ts, tc, tc_len, fs, "server transcript prefix");
    assert_same(ts + tc_len + 4, vd, 36, fs, "client Finished inside the server transcript");
    cr_assert(tls_finished(TLS_SSL3, TLS_HASH_SHA256, ms, false, ts, ts_len, vd, &n) && n == 36);
    assert_same(vd, need(fs, "verify_data", 36), 36, fs, "server verify_data");
    OPENSSL_cleanse(ms, sizeof ms);
}

Test(ssl3_vectors, real_handshakes_chain)
{
    vec_file *f = load();
    chain(f, "ms-real-aes", "kb-real-aes", "fin-real-aes-client", "fin-real-aes-server");
    chain(f, "ms-real-rc4", "kb-real-rc4", "fin-real-rc4-client", "fin-real-rc4-server");
    vec_free(f);
}
