/* Named groups: the table (sizes from RFC 8446 4.2.8.2, RFC 7748, RFC 7919
 * Appendix A), our preference and security-level filtering, the RFC 7919
 * section 4 choice of a TLS 1.2 DHE group, and key shares in the groups
 * added for issue 6: X448 (RFC 7748 6.2 vectors), secp521r1 and
 * ffdhe2048..ffdhe8192, with the invalid shares a peer can send. */
#include <criterion/criterion.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <string.h>

#include "groups.h"
#include "lib/vectors.h"
#include "kex.h"

/* the test library's decoder, asserting that the vector is well formed */
static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
    size_t n = vec_unhex(h, out, cap);
    cr_assert(n != (size_t)-1, "bad hex or no room: %s", h);
    return n;
}

static const struct {
    uint16_t id;
    size_t pub, secret;
    int bits;
} table[] = {
    {TLS_GROUP_X25519, 32, 32, 128},       {TLS_GROUP_SECP256R1, 65, 32, 128},
    {TLS_GROUP_X448, 56, 56, 224},         {TLS_GROUP_SECP521R1, 133, 66, 256},
    {TLS_GROUP_SECP384R1, 97, 48, 192},    {TLS_GROUP_FFDHE2048, 256, 256, 112},
    {TLS_GROUP_FFDHE3072, 384, 384, 128},  {TLS_GROUP_FFDHE4096, 512, 512, 128},
    {TLS_GROUP_FFDHE6144, 768, 768, 128},  {TLS_GROUP_FFDHE8192, 1024, 1024, 192},
};
#define NTABLE (sizeof table / sizeof table[0])

Test(groups, table_facts)
{
    for (size_t i = 0; i < NTABLE; i++) {
        const tls_group_info *g = tls_group_find(table[i].id);
        cr_assert_not_null(g, "group %u", table[i].id);
        cr_expect_eq(g->pub_len, table[i].pub, "%s", g->name);
        cr_expect_eq(g->secret_len, table[i].secret, "%s", g->name);
        cr_expect_eq(g->security_bits, table[i].bits, "%s", g->name);
        cr_expect(g->pub_len <= TLS_GROUP_MAX_SHARE);
        cr_expect_eq(tls_group_is_ffdhe(g->id), g->id >= 256, "%s", g->name);
    }
    /* unknown ones, also inside the FFDHE range */
    cr_expect_not(tls_group_supported(26)); /* brainpoolP256r1 */
    cr_expect_not(tls_group_supported(0x0105));
    cr_expect(tls_group_is_ffdhe(0x0105));
    cr_expect_not(tls_group_is_ffdhe(0x0200));
    cr_expect_not(tls_group_is_ffdhe(0xfe00));
    cr_expect_null(tls_group_find(0));
}

Test(groups, seclevel_bits_as_openssl)
{
    static const int want[] = {0, 80, 112, 128, 192, 256};
    for (int l = 0; l <= 5; l++)
        cr_expect_eq(tls_seclevel_bits(l), want[l], "level %d", l);
    cr_expect_eq(tls_seclevel_bits(-1), 0);
    cr_expect_eq(tls_seclevel_bits(9), 256);
}

Test(groups, ours_in_preference_order_and_by_level)
{
    uint16_t g[16];
    size_t n = tls_groups_ours(2, TLS_GROUPS_ALL, g, 16);
    uint16_t want[] = {TLS_GROUP_X25519,    TLS_GROUP_SECP256R1, TLS_GROUP_X448,      TLS_GROUP_SECP521R1,
                       TLS_GROUP_SECP384R1, TLS_GROUP_FFDHE2048, TLS_GROUP_FFDHE3072, TLS_GROUP_FFDHE4096,
                       TLS_GROUP_FFDHE6144, TLS_GROUP_FFDHE8192};
    cr_assert_eq(n, 10);
    cr_assert_arr_eq(g, want, sizeof want);
    cr_expect_eq(tls_groups_ours(2, TLS_GROUPS_EC, g, 16), 5);
    cr_expect_eq(tls_groups_ours(2, TLS_GROUPS_FFDHE, g, 16), 5);
    cr_expect_eq(g[0], TLS_GROUP_FFDHE2048);
    /* level 3 (128 bits) drops ffdhe2048, level 4 (192) keeps x448, P-521,
     * P-384 and ffdhe8192, level 5 (256) only P-521 */
    cr_expect_eq(tls_groups_ours(3, TLS_GROUPS_FFDHE, g, 16), 4);
    cr_expect_eq(g[0], TLS_GROUP_FFDHE3072);
    n = tls_groups_ours(4, TLS_GROUPS_ALL, g, 16);
    cr_assert_eq(n, 4);
    cr_expect_arr_eq(g, ((uint16_t[]){TLS_GROUP_X448, TLS_GROUP_SECP521R1, TLS_GROUP_SECP384R1,
                                      TLS_GROUP_FFDHE8192}),
                     4 * sizeof(uint16_t));
    cr_expect_eq(tls_groups_ours(5, TLS_GROUPS_ALL, g, 16), 1);
    cr_expect_eq(g[0], TLS_GROUP_SECP521R1);
    /* the count comes back whatever cap is */
    cr_expect_eq(tls_groups_ours(0, TLS_GROUPS_ALL, NULL, 0), 10);
    cr_expect_eq(tls_groups_ours(0, TLS_GROUPS_ALL, g, 1), 10);
    cr_expect_eq(g[0], TLS_GROUP_X25519);
    cr_expect(tls_group_allowed(TLS_GROUP_FFDHE2048, 2));
    cr_expect_not(tls_group_allowed(TLS_GROUP_FFDHE2048, 3));
    cr_expect_not(tls_group_allowed(26, 0));
}

Test(groups, pick_skips_unknown_groups)
{
    /* unknown ids in both ranges, then the ones we know, in client order */
    uint16_t peer[] = {0x0a0a, 26, 0x01fc, TLS_GROUP_SECP384R1, TLS_GROUP_X448};
    cr_expect_eq(tls_group_pick(2, TLS_GROUPS_ALL, peer, 5), TLS_GROUP_X448, "our preference wins");
    cr_expect_eq(tls_group_pick(5, TLS_GROUPS_ALL, peer, 5), 0);
    cr_expect_eq(tls_group_pick(2, TLS_GROUPS_FFDHE, peer, 5), 0);
    cr_expect_eq(tls_group_pick(2, TLS_GROUPS_ALL, peer, 3), 0, "only unknown groups: none, no failure");
    cr_expect_eq(tls_group_pick(2, TLS_GROUPS_ALL, NULL, 0), 0);
}

Test(groups, rfc7919_dhe_group_choice)
{
    bool ok = false;
    /* no supported_groups, or only EC ones: the configured parameters */
    cr_expect_eq(tls_dhe_group_choose(2, NULL, 0, &ok), 0);
    cr_expect(ok);
    uint16_t ec[] = {TLS_GROUP_X25519, TLS_GROUP_SECP256R1};
    cr_expect_eq(tls_dhe_group_choose(2, ec, 2, &ok), 0);
    cr_expect(ok);
    /* a common FFDHE group: our best of the client's */
    uint16_t ff[] = {TLS_GROUP_X25519, TLS_GROUP_FFDHE8192, TLS_GROUP_FFDHE3072};
    cr_expect_eq(tls_dhe_group_choose(2, ff, 3, &ok), TLS_GROUP_FFDHE3072);
    cr_expect(ok);
    /* FFDHE groups offered, none common: no DHE at all (RFC 7919 4) */
    uint16_t unknown[] = {TLS_GROUP_SECP256R1, 0x01ff};
    cr_expect_eq(tls_dhe_group_choose(2, unknown, 2, &ok), 0);
    cr_expect_not(ok);
    /* none strong enough for the level counts as none common */
    uint16_t weak[] = {TLS_GROUP_FFDHE2048};
    cr_expect_eq(tls_dhe_group_choose(3, weak, 1, &ok), 0);
    cr_expect_not(ok);
    cr_expect_eq(tls_dhe_group_choose(2, weak, 1, &ok), TLS_GROUP_FFDHE2048);
    cr_expect(ok);
}

/* ------------------------------------------------------------ key shares */

static void share_round_trip(uint16_t group)
{
    const tls_group_info *g = tls_group_find(group);
    static uint8_t pa[1100], pb[1100], sa[1100], sb[1100];
    size_t la = 0, lb = 0, na = 0, nb = 0;
    EVP_PKEY *a = tls_ecdhe_keygen(group, pa, sizeof pa, &la);
    EVP_PKEY *b = tls_ecdhe_keygen(group, pb, sizeof pb, &lb);
    cr_assert(a && b, "%s: %s", g->name, tls_kex_error());
    cr_assert_eq(la, g->pub_len, "%s", g->name);
    cr_assert_eq(lb, g->pub_len, "%s", g->name);
    cr_assert(tls_ecdhe_derive(a, group, pb, lb, sa, sizeof sa, &na), "%s: %s", g->name, tls_kex_error());
    cr_assert(tls_ecdhe_derive(b, group, pa, la, sb, sizeof sb, &nb), "%s: %s", g->name, tls_kex_error());
    cr_assert_eq(na, g->secret_len, "%s: padded to its full length", g->name);
    cr_assert_eq(nb, na);
    cr_assert_arr_eq(sa, sb, na, "%s", g->name);
    /* too small an output buffer, a share one byte short: refused */
    cr_assert_not(tls_ecdhe_derive(a, group, pb, lb, sa, g->secret_len - 1, &na));
    cr_assert_not(tls_ecdhe_derive(a, group, pb, lb - 1, sa, sizeof sa, &na));
    cr_assert_not(tls_ecdhe_keygen(group, pa, g->pub_len - 1, &la));
    cr_assert_eq(ERR_peek_error(), 0, "%s: no errors left on the queue", g->name);
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
}

Test(groups, x448_round_trip) { share_round_trip(TLS_GROUP_X448); }
Test(groups, secp521r1_round_trip) { share_round_trip(TLS_GROUP_SECP521R1); }
Test(groups, ffdhe_round_trips, .timeout = 60)
{
    for (uint16_t g = TLS_GROUP_FFDHE2048; g <= TLS_GROUP_FFDHE8192; g++)
        share_round_trip(g);
}

/* RFC 7748 6.2: Alice and Bob's X448 keys and their shared secret. */
Test(groups, x448_rfc7748_6_2)
{
    uint8_t a_priv[56], a_pub[56], b_priv[56], b_pub[56], k[56], out[64], pub[56];
    size_t n = 0, pl = sizeof pub;
    unhex("9a8f4925d1519f5775cf46b04b5800d4ee9ee8bae8bc5565d498c28d"
          "d9c9baf574a9419744897391006382a6f127ab1d9ac2d8c0a598726b", a_priv, 56);
    unhex("9b08f7cc31b7e3e67d22d5aea121074a273bd2b83de09c63faa73d2c"
          "22c5d9bbc836647241d953d40c5b12da88120d53177f80e532c41fa0", a_pub, 56);
    unhex("1c306a7ac2a0e2e0990b294470cba339e6453772b075811d8fad0d1d"
          "6927c120bb5ee8972b0d3e21374c9c921b09d1b0366f10b65173992d", b_priv, 56);
    unhex("3eb7a829b0cd20f5bcfc0b599b6feccf6da4627107bdb0d4f345b430"
          "27d8b972fc3e34fb4232a13ca706dcb57aec3dae07bdc1c67bf33609", b_pub, 56);
    unhex("07fff4181ac6cc95ec1c16a94a0f74d12da232ce40a77552281d282b"
          "b60c0b56fd2464c335543936521c24403085d59a449a5037514a879d", k, 56);
    EVP_PKEY *a = EVP_PKEY_new_raw_private_key(EVP_PKEY_X448, NULL, a_priv, 56);
    EVP_PKEY *b = EVP_PKEY_new_raw_private_key(EVP_PKEY_X448, NULL, b_priv, 56);
    cr_assert(a && b);
    cr_assert(EVP_PKEY_get_raw_public_key(a, pub, &pl));
    cr_assert_arr_eq(pub, a_pub, 56);
    cr_assert(tls_ecdhe_derive(a, TLS_GROUP_X448, b_pub, 56, out, sizeof out, &n), "%s", tls_kex_error());
    cr_assert_eq(n, 56);
    cr_assert_arr_eq(out, k, 56);
    cr_assert(tls_ecdhe_derive(b, TLS_GROUP_X448, a_pub, 56, out, sizeof out, &n));
    cr_assert_arr_eq(out, k, 56);
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
}

/* u = 0 and u = 1 give an all-zero X448 output (RFC 7748 6.2, 7) */
Test(groups, x448_low_order_and_bad_lengths_rejected)
{
    uint8_t pub[56], u[57], out[64];
    size_t n = 0;
    EVP_PKEY *k = tls_ecdhe_keygen(TLS_GROUP_X448, pub, sizeof pub, &n);
    cr_assert(k);
    memset(u, 0, sizeof u);
    cr_assert_not(tls_ecdhe_derive(k, TLS_GROUP_X448, u, 56, out, sizeof out, &n));
    cr_assert(tls_kex_error()[0]);
    u[0] = 1;
    cr_assert_not(tls_ecdhe_derive(k, TLS_GROUP_X448, u, 56, out, sizeof out, &n));
    cr_assert_not(tls_ecdhe_derive(k, TLS_GROUP_X448, pub, 55, out, sizeof out, &n));
    memcpy(u, pub, 56);
    cr_assert_not(tls_ecdhe_derive(k, TLS_GROUP_X448, u, 57, out, sizeof out, &n));
    cr_assert(strstr(tls_kex_error(), "57 bytes"), "%s", tls_kex_error());
    /* an X448 key cannot derive in X25519 */
    cr_assert_not(tls_ecdhe_derive(k, TLS_GROUP_X25519, pub, 32, out, sizeof out, &n));
    cr_assert_eq(ERR_peek_error(), 0);
    EVP_PKEY_free(k);
}

Test(groups, secp521r1_invalid_points_rejected)
{
    uint8_t mine[140], peer[140], bad[140], out[80];
    size_t n = 0, pn = 0;
    EVP_PKEY *k = tls_ecdhe_keygen(TLS_GROUP_SECP521R1, mine, sizeof mine, &n);
    EVP_PKEY *o = tls_ecdhe_keygen(TLS_GROUP_SECP521R1, peer, sizeof peer, &pn);
    cr_assert(k && o && pn == 133);
    memset(bad, 0, 133); /* infinity */
    cr_assert_not(tls_ecdhe_derive(k, TLS_GROUP_SECP521R1, bad, 133, out, sizeof out, &n));
    bad[0] = 4; /* (0, 0) */
    cr_assert_not(tls_ecdhe_derive(k, TLS_GROUP_SECP521R1, bad, 133, out, sizeof out, &n));
    memcpy(bad, peer, 133);
    bad[132] ^= 1; /* off the curve */
    cr_assert_not(tls_ecdhe_derive(k, TLS_GROUP_SECP521R1, bad, 133, out, sizeof out, &n));
    bad[0] = 2; /* compressed tag */
    cr_assert_not(tls_ecdhe_derive(k, TLS_GROUP_SECP521R1, bad, 133, out, sizeof out, &n));
    cr_assert(strstr(tls_kex_error(), "uncompressed"), "%s", tls_kex_error());
    /* a P-256 share sent for P-521 */
    uint8_t p256[65];
    EVP_PKEY *x = tls_ecdhe_keygen(TLS_GROUP_SECP256R1, p256, sizeof p256, &n);
    cr_assert_not(tls_ecdhe_derive(k, TLS_GROUP_SECP521R1, p256, 65, out, sizeof out, &n));
    cr_assert(tls_ecdhe_derive(k, TLS_GROUP_SECP521R1, peer, 133, out, sizeof out, &n));
    cr_assert_eq(n, 66);
    cr_assert_eq(ERR_peek_error(), 0);
    EVP_PKEY_free(k);
    EVP_PKEY_free(o);
    EVP_PKEY_free(x);
}

/* 1 < y < p-1 for every FFDHE group (RFC 7919 5.1), exact length (RFC 8446 4.2.8.1) */
Test(groups, ffdhe_shares_out_of_range_rejected, .timeout = 60)
{
    static uint8_t pub[1024], v[1025], out[1024], prime[1024], gen[1024], y[1024];
    for (uint16_t g = TLS_GROUP_FFDHE2048; g <= TLS_GROUP_FFDHE8192; g++) {
        size_t len = tls_group_find(g)->pub_len, n = 0, pl = 0, gl = 0, yl = 0;
        EVP_PKEY *params = tls_dhe_keygen_group(g, NULL, prime, &pl, gen, &gl, y, &yl, sizeof prime);
        EVP_PKEY *k = tls_ecdhe_keygen(g, pub, sizeof pub, &n);
        cr_assert(params && k && n == len && pl == len);
        memset(v, 0, len);
        cr_expect_not(tls_ecdhe_derive(k, g, v, len, out, sizeof out, &n), "group %u: y = 0", g);
        v[len - 1] = 1;
        cr_expect_not(tls_ecdhe_derive(k, g, v, len, out, sizeof out, &n), "group %u: y = 1", g);
        memcpy(v, prime, len); /* p ends in 0xff: p-1 and p-2 are a subtraction in the last byte */
        v[len - 1] = 0xfe;
        cr_expect_not(tls_ecdhe_derive(k, g, v, len, out, sizeof out, &n), "group %u: y = p-1", g);
        v[len - 1] = 0xff;
        cr_expect_not(tls_ecdhe_derive(k, g, v, len, out, sizeof out, &n), "group %u: y = p", g);
        memset(v, 0xff, len);
        cr_expect_not(tls_ecdhe_derive(k, g, v, len, out, sizeof out, &n), "group %u: y > p", g);
        memcpy(v, prime, len);
        v[len - 1] = 0xfd;
        cr_expect(tls_ecdhe_derive(k, g, v, len, out, sizeof out, &n), "group %u: y = p-2 is in range", g);
        /* a valid value without its left padding, and one byte too many */
        cr_expect_not(tls_ecdhe_derive(k, g, pub + 1, len - 1, out, sizeof out, &n));
        v[0] = 0;
        memcpy(v + 1, pub, len);
        cr_expect_not(tls_ecdhe_derive(k, g, v, len + 1, out, sizeof out, &n));
        cr_expect_eq(ERR_peek_error(), 0);
        EVP_PKEY_free(k);
        EVP_PKEY_free(params);
    }
}

/* TLS 1.2 DHE in a named group: the RFC 7919 prime (all five begin with
 * the same 128 bits of e and end in 64 one bits), g = 2, a working exchange */
Test(groups, tls12_dhe_in_named_groups, .timeout = 60)
{
    static uint8_t p[1024], gen[1024], pub[1024], cpub[1024], s1[1024], s2[1024];
    static const uint8_t head[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                     0xad, 0xf8, 0x54, 0x58, 0xa2, 0xbb, 0x4a, 0x9a};
    for (uint16_t g = TLS_GROUP_FFDHE2048; g <= TLS_GROUP_FFDHE8192; g++) {
        size_t pl = 0, gl = 0, yl = 0, cl = 0, n1 = 0, n2 = 0, want = tls_group_find(g)->pub_len;
        EVP_PKEY *srv = tls_dhe_keygen_group(g, NULL, p, &pl, gen, &gl, pub, &yl, sizeof p);
        cr_assert(srv, "group %u: %s", g, tls_kex_error());
        cr_expect_eq(pl, want, "group %u", g);
        cr_expect_arr_eq(p, head, sizeof head);
        for (size_t i = pl - 8; i < pl; i++)
            cr_expect_eq(p[i], 0xff);
        cr_expect(gl == 1 && gen[0] == 2);
        EVP_PKEY *cli = tls_dhe_keygen_from(p, pl, gen, gl, cpub, sizeof cpub, &cl);
        cr_assert(cli, "%s", tls_kex_error());
        cr_assert(tls_dhe_derive(srv, cpub, cl, s1, sizeof s1, &n1));
        cr_assert(tls_dhe_derive(cli, pub, yl, s2, sizeof s2, &n2));
        cr_assert_eq(n1, n2);
        cr_assert_arr_eq(s1, s2, n1);
        EVP_PKEY_free(srv);
        EVP_PKEY_free(cli);
    }
    /* not a finite-field group, or one we do not know: refused with a reason */
    size_t pl, gl, yl;
    cr_expect_null(tls_dhe_keygen_group(TLS_GROUP_X25519, NULL, p, &pl, gen, &gl, pub, &yl, sizeof p));
    cr_expect(strstr(tls_kex_error(), "not a finite-field group"), "%s", tls_kex_error());
    cr_expect_null(tls_dhe_keygen_group(0x01ff, NULL, p, &pl, gen, &gl, pub, &yl, sizeof p));
    /* group 0 keeps the ffdhe2048 default */
    EVP_PKEY *d = tls_dhe_keygen_group(0, NULL, p, &pl, gen, &gl, pub, &yl, sizeof p);
    cr_expect(d && pl == 256);
    EVP_PKEY_free(d);
    cr_expect_eq(ERR_peek_error(), 0);
}

/* A server's DH prime as the client's security level judges it, with
 * OpenSSL's figures: 1024 bits is 80, 2048 is 112, 3072 is 128. */
Test(groups, dh_prime_strength_by_level)
{
    cr_expect_eq(tls_dh_security_bits(1023), 0);
    cr_expect_eq(tls_dh_security_bits(1024), 80);
    cr_expect_eq(tls_dh_security_bits(2048), 112);
    cr_expect_eq(tls_dh_security_bits(3072), 128);
    cr_expect_eq(tls_dh_security_bits(8192), 192);
    cr_expect_eq(tls_dh_security_bits(15360), 256);
    static uint8_t p[1024], g[1024], y[1024];
    size_t pl, gl, yl;
    EVP_PKEY *k = tls_dhe_keygen_group(TLS_GROUP_FFDHE2048, NULL, p, &pl, g, &gl, y, &yl, sizeof p);
    cr_assert(k);
    cr_expect(tls_dhe_prime_allowed(p, pl, 0));
    cr_expect(tls_dhe_prime_allowed(p, pl, 2));
    cr_expect_not(tls_dhe_prime_allowed(p, pl, 3));
    cr_expect(strstr(tls_kex_error(), "2048-bit DH prime is below security level 3"), "%s", tls_kex_error());
    /* leading zero bytes do not count */
    uint8_t padded[257] = {0};
    memcpy(padded + 1, p, 256);
    cr_expect(tls_dhe_prime_allowed(padded, 257, 2));
    cr_expect_not(tls_dhe_prime_allowed(p, 128, 2), "1024 bits at level 2");
    cr_expect(tls_dhe_prime_allowed(p, 128, 1));
    cr_expect_not(tls_dhe_prime_allowed(NULL, 0, 1)); /* level 0 asks nothing: keygen_from checks 1024 */
    EVP_PKEY_free(k);
}
