/* Key exchange: ECDHE (x25519 with RFC 7748 vectors, P-256, P-384; the other
 * groups are in test_groups.c), DHE
 * (RFC 7919 ffdhe2048 default, range checks, leading-zero stripping, PKCS#3
 * parameter loading), RSA key transport (round trip and implicit rejection). */
#include <criterion/criterion.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <string.h>

#include "kex.h"
#include "tlsengine.h"

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
    size_t n = strlen(h) / 2;
    cr_assert(n <= cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        cr_assert(sscanf(h + 2 * i, "%2x", &v) == 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

/* ---------------------------------------------------------------- ECDHE */

static void ecdhe_round_trip(uint16_t group, size_t want_pub, size_t want_secret)
{
    uint8_t pa[300], pb[300], sa[300], sb[300];
    size_t la = 0, lb = 0, na = 0, nb = 0;
    EVP_PKEY *a = tls_ecdhe_keygen(group, pa, sizeof pa, &la);
    EVP_PKEY *b = tls_ecdhe_keygen(group, pb, sizeof pb, &lb);
    cr_assert(a && b, "keygen group %u: %s", group, tls_kex_error());
    cr_assert_eq(la, want_pub);
    cr_assert_eq(lb, want_pub);
    if (group == TLS_GROUP_SECP256R1 || group == TLS_GROUP_SECP384R1)
        cr_assert_eq(pa[0], 0x04, "uncompressed point");
    cr_assert(memcmp(pa, pb, la) != 0, "two keys differ");
    cr_assert(tls_ecdhe_derive(a, group, pb, lb, sa, sizeof sa, &na), "%s", tls_kex_error());
    cr_assert(tls_ecdhe_derive(b, group, pa, la, sb, sizeof sb, &nb), "%s", tls_kex_error());
    cr_assert_eq(na, want_secret);
    cr_assert_eq(nb, want_secret);
    cr_assert_arr_eq(sa, sb, na);
    cr_assert_str_empty(tls_kex_error());
    /* a derive into too small a buffer fails cleanly */
    cr_assert_not(tls_ecdhe_derive(a, group, pb, lb, sa, want_secret - 1, &na));
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
}

Test(kex, ecdhe_round_trip_every_group)
{
    cr_assert(tls_group_supported(TLS_GROUP_X25519));
    cr_assert(tls_group_supported(TLS_GROUP_SECP256R1));
    cr_assert(tls_group_supported(TLS_GROUP_SECP384R1));
    cr_assert(tls_group_supported(TLS_GROUP_FFDHE2048));
    cr_assert_not(tls_group_supported(26)); /* brainpoolP256r1 */
    cr_assert_not(tls_group_supported(0x0a0a)); /* GREASE */
    ecdhe_round_trip(TLS_GROUP_X25519, 32, 32);
    ecdhe_round_trip(TLS_GROUP_SECP256R1, 65, 32);
    ecdhe_round_trip(TLS_GROUP_SECP384R1, 97, 48);
    ecdhe_round_trip(TLS_GROUP_FFDHE2048, 256, 256); /* TLS 1.3 key share: padded */
}

Test(kex, ecdhe_keygen_failures)
{
    uint8_t pub[300];
    size_t n = 0;
    cr_assert_null(tls_ecdhe_keygen(26, pub, sizeof pub, &n));
    cr_assert(strstr(tls_kex_error(), "not supported"), "%s", tls_kex_error());
    cr_assert_null(tls_ecdhe_keygen(TLS_GROUP_SECP256R1, pub, 64, &n));
    cr_assert_null(tls_ecdhe_keygen(TLS_GROUP_X25519, pub, 31, &n));
    cr_assert_null(tls_ecdhe_keygen(TLS_GROUP_FFDHE2048, pub, 255, &n));
    cr_assert_eq(ERR_peek_error(), 0, "no errors left on the queue");
}

/* RFC 7748 6.1: Alice and Bob's x25519 keys and their shared secret. */
Test(kex, x25519_rfc7748_6_1)
{
    uint8_t a_priv[32], a_pub[32], b_priv[32], b_pub[32], k[32], out[64], pub[32];
    size_t n = 0, pl = sizeof pub;
    unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", a_priv, 32);
    unhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", a_pub, 32);
    unhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb", b_priv, 32);
    unhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", b_pub, 32);
    unhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742", k, 32);
    EVP_PKEY *a = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, a_priv, 32);
    EVP_PKEY *b = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, b_priv, 32);
    cr_assert(a && b);
    cr_assert(EVP_PKEY_get_raw_public_key(a, pub, &pl));
    cr_assert_arr_eq(pub, a_pub, 32);
    cr_assert(tls_ecdhe_derive(a, TLS_GROUP_X25519, b_pub, 32, out, sizeof out, &n));
    cr_assert_eq(n, 32);
    cr_assert_arr_eq(out, k, 32);
    cr_assert(tls_ecdhe_derive(b, TLS_GROUP_X25519, a_pub, 32, out, sizeof out, &n));
    cr_assert_arr_eq(out, k, 32);
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
}

/* RFC 7748 5.2: the two single-step X25519 vectors (scalar, u -> u). */
Test(kex, x25519_rfc7748_5_2)
{
    static const char *const v[2][3] = {
        {"a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
         "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
         "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"},
        {"4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
         "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
         "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"},
    };
    for (int i = 0; i < 2; i++) {
        uint8_t s[32], u[32], want[32], out[32];
        size_t n = 0;
        unhex(v[i][0], s, 32);
        unhex(v[i][1], u, 32);
        unhex(v[i][2], want, 32);
        EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, s, 32);
        cr_assert(tls_ecdhe_derive(k, TLS_GROUP_X25519, u, 32, out, sizeof out, &n), "vector %d", i);
        cr_assert_arr_eq(out, want, 32, "vector %d", i);
        EVP_PKEY_free(k);
    }
}

/* Low-order u-coordinates make the output all zero (RFC 7748 6.1, 7): u = 0,
 * u = 1, and a point of order 8. */
Test(kex, x25519_low_order_points_rejected)
{
    uint8_t pub[32], u[32], out[32];
    size_t n = 0;
    EVP_PKEY *k = tls_ecdhe_keygen(TLS_GROUP_X25519, pub, sizeof pub, &n);
    cr_assert(k);
    memset(u, 0, 32);
    cr_assert_not(tls_ecdhe_derive(k, TLS_GROUP_X25519, u, 32, out, sizeof out, &n));
    cr_assert(tls_kex_error()[0]);
    u[0] = 1;
    cr_assert_not(tls_ecdhe_derive(k, TLS_GROUP_X25519, u, 32, out, sizeof out, &n));
    unhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800", u, 32);
    cr_assert_not(tls_ecdhe_derive(k, TLS_GROUP_X25519, u, 32, out, sizeof out, &n));
    /* wrong lengths */
    cr_assert_not(tls_ecdhe_derive(k, TLS_GROUP_X25519, pub, 31, out, sizeof out, &n));
    cr_assert(strstr(tls_kex_error(), "31 bytes"), "%s", tls_kex_error());
    cr_assert_not(tls_ecdhe_derive(k, TLS_GROUP_X25519, pub, 0, out, sizeof out, &n));
    /* a key of the wrong type for the group */
    cr_assert_not(tls_ecdhe_derive(k, TLS_GROUP_SECP256R1, pub, 65, out, sizeof out, &n));
    cr_assert_not(tls_ecdhe_derive(NULL, TLS_GROUP_X25519, pub, 32, out, sizeof out, &n));
    cr_assert_not(tls_ecdhe_derive(k, 26, pub, 32, out, sizeof out, &n));
    cr_assert_eq(ERR_peek_error(), 0);
    EVP_PKEY_free(k);
}

static void nist_invalid_points(uint16_t group, size_t plen)
{
    uint8_t mine[100], peer[100], bad[100], out[64];
    size_t n = 0, pn = 0;
    EVP_PKEY *k = tls_ecdhe_keygen(group, mine, sizeof mine, &n);
    EVP_PKEY *o = tls_ecdhe_keygen(group, peer, sizeof peer, &pn);
    cr_assert(k && o && n == plen && pn == plen);
    size_t flen = (plen - 1) / 2;
    cr_assert(tls_ecdhe_derive(k, group, peer, pn, out, sizeof out, &n), "valid point accepted");

    /* compressed form of the same point: 0x02/0x03 || x (RFC 8422 5.4.1) */
    bad[0] = (uint8_t)(0x02 | (peer[plen - 1] & 1));
    memcpy(bad + 1, peer + 1, flen);
    cr_assert_not(tls_ecdhe_derive(k, group, bad, 1 + flen, out, sizeof out, &n));
    memset(bad + 1 + flen, 0, flen); /* compressed tag, full length */
    cr_assert_not(tls_ecdhe_derive(k, group, bad, plen, out, sizeof out, &n));
    cr_assert(strstr(tls_kex_error(), "uncompressed"), "%s", tls_kex_error());
    /* the point at infinity: a single 0x00, and 0x00 padded to length */
    bad[0] = 0;
    cr_assert_not(tls_ecdhe_derive(k, group, bad, 1, out, sizeof out, &n));
    memset(bad, 0, plen);
    cr_assert_not(tls_ecdhe_derive(k, group, bad, plen, out, sizeof out, &n));
    /* (0, 0) is not on the curve */
    bad[0] = 4;
    cr_assert_not(tls_ecdhe_derive(k, group, bad, plen, out, sizeof out, &n));
    /* y changed: off the curve */
    memcpy(bad, peer, plen);
    bad[plen - 1] ^= 1;
    cr_assert_not(tls_ecdhe_derive(k, group, bad, plen, out, sizeof out, &n));
    cr_assert(tls_kex_error()[0]);
    /* coordinates >= p */
    memset(bad + 1, 0xff, plen - 1);
    cr_assert_not(tls_ecdhe_derive(k, group, bad, plen, out, sizeof out, &n));
    /* hybrid form 0x06/0x07 */
    memcpy(bad, peer, plen);
    bad[0] = (uint8_t)(0x06 | (peer[plen - 1] & 1));
    cr_assert_not(tls_ecdhe_derive(k, group, bad, plen, out, sizeof out, &n));
    /* truncated and overlong */
    cr_assert_not(tls_ecdhe_derive(k, group, peer, plen - 1, out, sizeof out, &n));
    memcpy(bad, peer, plen);
    bad[plen] = 0;
    cr_assert_not(tls_ecdhe_derive(k, group, bad, plen + 1, out, sizeof out, &n));
    cr_assert_eq(ERR_peek_error(), 0, "no errors left on the queue");
    EVP_PKEY_free(k);
    EVP_PKEY_free(o);
}

Test(kex, p256_invalid_points_rejected) { nist_invalid_points(TLS_GROUP_SECP256R1, 65); }
Test(kex, p384_invalid_points_rejected) { nist_invalid_points(TLS_GROUP_SECP384R1, 97); }

Test(kex, ffdhe_key_share_out_of_range_rejected)
{
    uint8_t pub[256], v[256], out[256];
    size_t n = 0;
    EVP_PKEY *k = tls_ecdhe_keygen(TLS_GROUP_FFDHE2048, pub, sizeof pub, &n);
    cr_assert(k);
    memset(v, 0, sizeof v);
    v[255] = 1;
    cr_assert_not(tls_ecdhe_derive(k, TLS_GROUP_FFDHE2048, v, 256, out, sizeof out, &n));
    memset(v, 0xff, sizeof v); /* > p */
    cr_assert_not(tls_ecdhe_derive(k, TLS_GROUP_FFDHE2048, v, 256, out, sizeof out, &n));
    cr_assert_not(tls_ecdhe_derive(k, TLS_GROUP_FFDHE2048, pub + 1, 255, out, sizeof out, &n));
    EVP_PKEY_free(k);
}

/* ------------------------------------------------------------------ DHE */

/* RFC 7919 A.1 ffdhe2048: p begins FFFFFFFFFFFFFFFF ADF85458A2BB4A9A and
 * ends 886B423861285C97 FFFFFFFFFFFFFFFF; g = 2. */
static const char ffdhe2048_head[] = "FFFFFFFFFFFFFFFFADF85458A2BB4A9A";
static const char ffdhe2048_tail[] = "886B423861285C97FFFFFFFFFFFFFFFF";

/* RFC 2409 6.2: the 1024-bit MODP group (Oakley group 2), g = 2. */
static const char oakley2_p[] =
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF";

Test(kex, dhe_round_trip_default_ffdhe2048)
{
    uint8_t p[1024], g[1024], ys[1024], yc[1024], s1[1024], s2[1024], x[16];
    size_t pl = 0, gl = 0, ysl = 0, ycl = 0, n1 = 0, n2 = 0;
    EVP_PKEY *srv = tls_dhe_keygen(NULL, p, &pl, g, &gl, ys, &ysl, 1024);
    cr_assert(srv, "%s", tls_kex_error());
    cr_assert_eq(pl, 256);
    unhex(ffdhe2048_head, x, sizeof x);
    cr_assert_arr_eq(p, x, 16);
    unhex(ffdhe2048_tail, x, sizeof x);
    cr_assert_arr_eq(p + 240, x, 16);
    cr_assert_eq(gl, 1);
    cr_assert_eq(g[0], 2);
    cr_assert(ysl >= 1 && ysl <= 256 && ys[0] != 0, "minimal encoding");

    EVP_PKEY *cli = tls_dhe_keygen_from(p, pl, g, gl, yc, 1024, &ycl);
    cr_assert(cli, "%s", tls_kex_error());
    cr_assert(ycl <= 256 && yc[0] != 0);
    cr_assert(tls_dhe_derive(srv, yc, ycl, s1, sizeof s1, &n1), "%s", tls_kex_error());
    cr_assert(tls_dhe_derive(cli, ys, ysl, s2, sizeof s2, &n2), "%s", tls_kex_error());
    cr_assert_eq(n1, n2);
    cr_assert_arr_eq(s1, s2, n1);
    cr_assert(n1 <= 256 && s1[0] != 0, "leading zeros stripped");
    /* a leading-zero-padded Ys is the same number */
    uint8_t padded[300] = {0};
    memcpy(padded + 300 - ysl, ys, ysl);
    cr_assert(tls_dhe_derive(cli, padded + 300 - 256, 256, s2, sizeof s2, &n2));
    cr_assert_arr_eq(s1, s2, n1);
    /* too small an output buffer */
    cr_assert_not(tls_dhe_derive(cli, ys, ysl, s2, 100, &n2));
    /* output buffers too small for p */
    EVP_PKEY *none = tls_dhe_keygen(NULL, p, &pl, g, &gl, ys, &ysl, 255);
    cr_assert_null(none);
    cr_assert_null(tls_dhe_keygen_from(p, pl, g, gl, yc, 100, &ycl));
    cr_assert_eq(ERR_peek_error(), 0);
    EVP_PKEY_free(srv);
    EVP_PKEY_free(cli);
}

Test(kex, dhe_1024_bit_group_accepted)
{
    uint8_t p[128], two = 2, ya[200], yb[200], s1[200], s2[200];
    size_t pl = unhex(oakley2_p, p, sizeof p), la = 0, lb = 0, n1 = 0, n2 = 0;
    EVP_PKEY *a = tls_dhe_keygen_from(p, pl, &two, 1, ya, sizeof ya, &la);
    EVP_PKEY *b = tls_dhe_keygen_from(p, pl, &two, 1, yb, sizeof yb, &lb);
    cr_assert(a && b, "%s", tls_kex_error());
    cr_assert(tls_dhe_derive(a, yb, lb, s1, sizeof s1, &n1));
    cr_assert(tls_dhe_derive(b, ya, la, s2, sizeof s2, &n2));
    cr_assert_eq(n1, n2);
    cr_assert_arr_eq(s1, s2, n1);
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
}

Test(kex, dhe_weak_or_bad_parameters_rejected)
{
    uint8_t p[1100], g[1100], y[1100];
    size_t pl = unhex(oakley2_p, p, sizeof p), yl = 0;
    uint8_t two = 2;
    /* logjam: 1023 bits (top bit cleared) and 512 bits */
    p[0] = 0x7f;
    cr_assert_null(tls_dhe_keygen_from(p, pl, &two, 1, y, sizeof y, &yl));
    cr_assert(strstr(tls_kex_error(), "1023 bits"), "%s", tls_kex_error());
    p[64] |= 0x80;
    cr_assert_null(tls_dhe_keygen_from(p + 64, 64, &two, 1, y, sizeof y, &yl));
    cr_assert(strstr(tls_kex_error(), "512 bits"), "%s", tls_kex_error());
    /* 1024 bits written with a leading zero byte still counts as 1024 */
    uint8_t z[129] = {0};
    unhex(oakley2_p, z + 1, 128);
    EVP_PKEY *k = tls_dhe_keygen_from(z, 129, &two, 1, y, sizeof y, &yl);
    cr_assert(k, "%s", tls_kex_error());
    EVP_PKEY_free(k);
    /* even p, empty p, absurdly large p */
    pl = unhex(oakley2_p, p, sizeof p);
    p[pl - 1] = 0xfe;
    cr_assert_null(tls_dhe_keygen_from(p, pl, &two, 1, y, sizeof y, &yl));
    cr_assert(strstr(tls_kex_error(), "even"), "%s", tls_kex_error());
    cr_assert_null(tls_dhe_keygen_from(p, 0, &two, 1, y, sizeof y, &yl));
    memset(p, 0xff, 1030);
    cr_assert_null(tls_dhe_keygen_from(p, 1030, &two, 1, y, sizeof y, &yl));
    /* g outside [2, p-2]: 0, 1, p-1, p, and empty */
    pl = unhex(oakley2_p, p, sizeof p);
    uint8_t zero = 0, one = 1;
    cr_assert_null(tls_dhe_keygen_from(p, pl, &zero, 1, y, sizeof y, &yl));
    cr_assert(strstr(tls_kex_error(), "generator"), "%s", tls_kex_error());
    cr_assert_null(tls_dhe_keygen_from(p, pl, &one, 1, y, sizeof y, &yl));
    memcpy(g, p, pl);
    g[pl - 1] -= 1; /* p - 1 */
    cr_assert_null(tls_dhe_keygen_from(p, pl, g, pl, y, sizeof y, &yl));
    cr_assert_null(tls_dhe_keygen_from(p, pl, p, pl, y, sizeof y, &yl));
    cr_assert_null(tls_dhe_keygen_from(p, pl, g, 0, y, sizeof y, &yl));
    g[pl - 1] -= 1; /* p - 2: the top of the range */
    k = tls_dhe_keygen_from(p, pl, g, pl, y, sizeof y, &yl);
    cr_assert(k, "%s", tls_kex_error());
    EVP_PKEY_free(k);
    cr_assert_eq(ERR_peek_error(), 0);
}

Test(kex, dhe_peer_value_range)
{
    uint8_t p[1024], g[1024], ys[1024], v[300], s[1024];
    size_t pl = 0, gl = 0, ysl = 0, n = 0;
    EVP_PKEY *k = tls_dhe_keygen(NULL, p, &pl, g, &gl, ys, &ysl, 1024);
    cr_assert(k);
    uint8_t zero = 0, one = 1, two = 2;
    cr_assert_not(tls_dhe_derive(k, &zero, 1, s, sizeof s, &n));
    cr_assert_not(tls_dhe_derive(k, &one, 1, s, sizeof s, &n));
    cr_assert(strstr(tls_kex_error(), "[2, p-2]"), "%s", tls_kex_error());
    memcpy(v, p, pl);
    v[pl - 1] -= 1; /* p - 1 */
    cr_assert_not(tls_dhe_derive(k, v, pl, s, sizeof s, &n));
    cr_assert_not(tls_dhe_derive(k, p, pl, s, sizeof s, &n)); /* p */
    memset(v, 0xff, 257);                                      /* > p, longer than p */
    cr_assert_not(tls_dhe_derive(k, v, 257, s, sizeof s, &n));
    cr_assert_not(tls_dhe_derive(k, v, 0, s, sizeof s, &n));
    cr_assert_not(tls_dhe_derive(NULL, &two, 1, s, sizeof s, &n));
    /* 2 is the bottom of the range and is accepted */
    cr_assert(tls_dhe_derive(k, &two, 1, s, sizeof s, &n), "%s", tls_kex_error());
    /* not a DH key */
    uint8_t pub[65];
    size_t pn = 0;
    EVP_PKEY *ec = tls_ecdhe_keygen(TLS_GROUP_SECP256R1, pub, sizeof pub, &pn);
    cr_assert_not(tls_dhe_derive(ec, ys, ysl, s, sizeof s, &n));
    cr_assert_eq(ERR_peek_error(), 0);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(k);
}

/* A DH key on ffdhe2048 with a chosen private exponent. */
static EVP_PKEY *dh_key_with_priv(unsigned long x)
{
    uint8_t p[1024], g[1024], y[1024];
    size_t pl = 0, gl = 0, yl = 0;
    EVP_PKEY *tmp = tls_dhe_keygen(NULL, p, &pl, g, &gl, y, &yl, 1024);
    cr_assert(tmp);
    EVP_PKEY_free(tmp);
    BIGNUM *bp = BN_bin2bn(p, (int)pl, NULL), *bg = BN_bin2bn(g, (int)gl, NULL), *bx = BN_new();
    cr_assert(bp && bg && bx && BN_set_word(bx, x));
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    cr_assert(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_FFC_P, bp));
    cr_assert(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_FFC_G, bg));
    cr_assert(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, bx));
    OSSL_PARAM *prm = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL);
    EVP_PKEY *k = NULL;
    cr_assert(EVP_PKEY_fromdata_init(ctx) > 0);
    cr_assert(EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_KEYPAIR, prm) > 0);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(prm);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bp);
    BN_free(bg);
    BN_free(bx);
    return k;
}

/* RFC 5246 8.1.2: leading zero bytes of Z are stripped. With x = 1000 and
 * Y = 2, Z = 2^1000 < p: 126 bytes, 0x01 then 125 zero bytes, where the
 * padded value would have 130 leading zeros. */
Test(kex, dhe_leading_zeros_stripped_known_answer)
{
    EVP_PKEY *k = dh_key_with_priv(1000);
    uint8_t two = 2, s[1024];
    size_t n = 0;
    cr_assert(tls_dhe_derive(k, &two, 1, s, sizeof s, &n), "%s", tls_kex_error());
    cr_assert_eq(n, 126);
    cr_assert_eq(s[0], 1);
    for (size_t i = 1; i < n; i++)
        cr_assert_eq(s[i], 0, "byte %zu", i);
    EVP_PKEY_free(k);
}

/* Random keys until a padded secret (the TLS 1.3 form) starts with a zero
 * byte; the TLS 1.2 secret must then be the same bytes without it. */
Test(kex, dhe_leading_zeros_stripped_random)
{
    bool found = false;
    for (int i = 0; i < 4000 && !found; i++) {
        uint8_t pa[256], pb[256], pad[256], s[256];
        size_t la = 0, lb = 0, np = 0, ns = 0;
        EVP_PKEY *a = tls_ecdhe_keygen(TLS_GROUP_FFDHE2048, pa, sizeof pa, &la);
        EVP_PKEY *b = tls_ecdhe_keygen(TLS_GROUP_FFDHE2048, pb, sizeof pb, &lb);
        cr_assert(a && b);
        cr_assert(tls_ecdhe_derive(a, TLS_GROUP_FFDHE2048, pb, lb, pad, sizeof pad, &np));
        cr_assert_eq(np, 256);
        if (pad[0] == 0) {
            found = true;
            size_t z = 0;
            while (pad[z] == 0)
                z++;
            cr_assert(tls_dhe_derive(a, pb, lb, s, sizeof s, &ns));
            cr_assert_eq(ns, 256 - z);
            cr_assert_arr_eq(s, pad + z, ns);
            /* the TLS 1.2 client encodes Yc minimally; the key share form is padded */
            cr_assert(tls_dhe_derive(b, pa, la, s, sizeof s, &ns));
            cr_assert_arr_eq(s, pad + z, ns);
        }
        EVP_PKEY_free(a);
        EVP_PKEY_free(b);
    }
    cr_assert(found, "no secret with a leading zero in 4000 tries (p ~ 2^-28)");
}

static size_t encode_params(EVP_PKEY *k, const char *fmt, uint8_t *out, size_t cap)
{
    unsigned char *data = NULL;
    size_t len = 0;
    OSSL_ENCODER_CTX *ectx =
        OSSL_ENCODER_CTX_new_for_pkey(k, EVP_PKEY_KEY_PARAMETERS, fmt, "type-specific", NULL);
    cr_assert(ectx && OSSL_ENCODER_to_data(ectx, &data, &len));
    cr_assert(len <= cap);
    memcpy(out, data, len);
    OPENSSL_free(data);
    OSSL_ENCODER_CTX_free(ectx);
    return len;
}

Test(kex, dh_params_load_der_and_pem)
{
    uint8_t p[1024], g[1024], y[1024], der[2048], pem[4096], p2[1024];
    size_t pl = 0, gl = 0, yl = 0, p2l = 0;
    EVP_PKEY *def = tls_dhe_keygen(NULL, p, &pl, g, &gl, y, &yl, 1024);
    cr_assert(def);
    size_t dl = encode_params(def, "DER", der, sizeof der);
    size_t ml = encode_params(def, "PEM", pem, sizeof pem);
    cr_assert(ml > 30 && memcmp(pem, "-----BEGIN DH PARAMETERS-----", 29) == 0);

    EVP_PKEY *a = tls_dh_params_load(der, dl, false);
    EVP_PKEY *b = tls_dh_params_load(pem, ml, true);
    cr_assert(a && b, "%s", tls_kex_error());
    /* the server keys on loaded params and publishes the same p */
    EVP_PKEY *k = tls_dhe_keygen(a, p2, &p2l, g, &gl, y, &yl, 1024);
    cr_assert(k, "%s", tls_kex_error());
    cr_assert_eq(p2l, pl);
    cr_assert_arr_eq(p2, p, pl);
    EVP_PKEY_free(k);
    k = tls_dhe_keygen(b, p2, &p2l, g, &gl, y, &yl, 1024);
    cr_assert(k);
    cr_assert_arr_eq(p2, p, pl);
    EVP_PKEY_free(k);

    /* wrong format flag, garbage, truncation, nothing */
    cr_assert_null(tls_dh_params_load(pem, ml, false));
    cr_assert_null(tls_dh_params_load(der, dl, true));
    cr_assert_null(tls_dh_params_load(der, dl - 1, false));
    cr_assert(tls_kex_error()[0]);
    cr_assert_null(tls_dh_params_load(der, 0, false));
    cr_assert_null(tls_dh_params_load(NULL, 10, false));
    uint8_t junk[64];
    memset(junk, 0x30, sizeof junk);
    cr_assert_null(tls_dh_params_load(junk, sizeof junk, false));
    /* parameters that are not DH: an EC key */
    uint8_t pub[65];
    size_t pn = 0;
    EVP_PKEY *ec = tls_ecdhe_keygen(TLS_GROUP_SECP256R1, pub, sizeof pub, &pn);
    cr_assert_null(tls_dhe_keygen(ec, p2, &p2l, g, &gl, y, &yl, 1024));
    cr_assert_eq(ERR_peek_error(), 0);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
    EVP_PKEY_free(def);
}

/* PKCS#3 DHParameter ::= SEQUENCE { prime INTEGER, base INTEGER } written
 * by hand for Oakley group 2 (RFC 2409 6.2), and the same with a 512-bit
 * prime, which must be refused. */
Test(kex, dh_params_load_hand_written_pkcs3)
{
    uint8_t der[200], *w = der;
    const uint8_t head[] = {0x30, 0x81, 0x87, 0x02, 0x81, 0x81, 0x00};
    memcpy(w, head, sizeof head);
    w += sizeof head;
    w += unhex(oakley2_p, w, 128);
    *w++ = 0x02, *w++ = 0x01, *w++ = 0x02;
    cr_assert_eq((size_t)(w - der), 138);
    EVP_PKEY *k = tls_dh_params_load(der, 138, false);
    cr_assert(k, "%s", tls_kex_error());
    BIGNUM *p = NULL, *g = NULL;
    cr_assert(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_FFC_P, &p));
    cr_assert(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_FFC_G, &g));
    cr_assert_eq(BN_num_bits(p), 1024);
    cr_assert(BN_is_word(g, 2));
    BN_free(p);
    BN_free(g);
    EVP_PKEY_free(k);

    /* 512 bits: the low half of the same prime (odd), SEQUENCE of 71 bytes */
    uint8_t small[80];
    const uint8_t h2[] = {0x30, 0x46, 0x02, 0x41, 0x00};
    memcpy(small, h2, sizeof h2);
    memcpy(small + 5, der + 7 + 64, 64);
    small[5] |= 0x80;
    small[69] = 0x02, small[70] = 0x01, small[71] = 0x02;
    k = tls_dh_params_load(small, 72, false);
    cr_assert_null(k);
    cr_assert(strstr(tls_kex_error(), "512 bits"), "%s", tls_kex_error());
}

/* ------------------------------------------------------------------ RSA */

static EVP_PKEY *rsa2048(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    cr_assert(k);
    return k;
}

static void make_pms(uint8_t pms[48], uint16_t version)
{
    cr_assert(RAND_bytes(pms, 48) == 1);
    pms[0] = (uint8_t)(version >> 8);
    pms[1] = (uint8_t)version;
}

Test(kex, rsa_round_trip_every_version)
{
    EVP_PKEY *k = rsa2048();
    const uint16_t versions[] = {TLS_SSL3, TLS_TLS10, TLS_TLS11, TLS_TLS12};
    for (size_t i = 0; i < 4; i++) {
        uint8_t pms[48], ct[512], out[48];
        size_t n = 0;
        make_pms(pms, versions[i]);
        cr_assert(tls_rsa_encrypt_pms(k, pms, ct, sizeof ct, &n), "%s", tls_kex_error());
        cr_assert_eq(n, 256);
        cr_assert(tls_rsa_decrypt_pms(k, versions[i], ct, n, out));
        cr_assert_arr_eq(out, pms, 48, "version %04x", versions[i]);
        cr_assert_str_empty(tls_kex_error());
    }
    EVP_PKEY_free(k);
}

/* Every failure gives 48 random bytes, different each time, and no error. */
static void expect_random(EVP_PKEY *k, uint16_t cv, uint16_t alt, const uint8_t *ct, size_t n,
                          const uint8_t *real)
{
    uint8_t a[48], b[48];
    cr_assert(tls_rsa_decrypt_pms_alt(k, cv, alt, ct, n, a));
    cr_assert(tls_rsa_decrypt_pms_alt(k, cv, alt, ct, n, b));
    cr_assert(memcmp(a, b, 48) != 0, "a fresh random secret each call");
    if (real) {
        cr_assert(memcmp(a, real, 48) != 0);
        cr_assert(memcmp(a + 2, real + 2, 46) != 0, "not the real secret with a fixed version");
    }
    cr_assert_eq(ERR_peek_error(), 0, "nothing on the error queue to leak");
}

Test(kex, rsa_wrong_version_gives_random_secret)
{
    EVP_PKEY *k = rsa2048();
    uint8_t pms[48], ct[512];
    size_t n = 0;
    make_pms(pms, TLS_TLS11); /* a rollback: the premaster says 1.1, the hello said 1.2 */
    cr_assert(tls_rsa_encrypt_pms(k, pms, ct, sizeof ct, &n));
    expect_random(k, TLS_TLS12, 0, ct, n, pms);
    expect_random(k, TLS_SSL3, 0, ct, n, pms);
    /* the negotiated version is tolerated only for clients offering <= TLS 1.0
     * (RFC 5246 7.4.7.1), never for a 1.2 hello */
    expect_random(k, TLS_TLS12, TLS_TLS11, ct, n, pms);
    uint8_t out[48];
    make_pms(pms, TLS_SSL3);
    cr_assert(tls_rsa_encrypt_pms(k, pms, ct, sizeof ct, &n));
    expect_random(k, TLS_TLS10, 0, ct, n, pms);
    cr_assert(tls_rsa_decrypt_pms_alt(k, TLS_TLS10, TLS_SSL3, ct, n, out));
    cr_assert_arr_eq(out, pms, 48);
    /* with alt given, the client_version still works */
    make_pms(pms, TLS_TLS10);
    cr_assert(tls_rsa_encrypt_pms(k, pms, ct, sizeof ct, &n));
    cr_assert(tls_rsa_decrypt_pms_alt(k, TLS_TLS10, TLS_SSL3, ct, n, out));
    cr_assert_arr_eq(out, pms, 48);
    EVP_PKEY_free(k);
}

/* A valid PKCS#1 block whose payload is not 48 bytes. */
Test(kex, rsa_wrong_length_gives_random_secret)
{
    EVP_PKEY *k = rsa2048();
    uint8_t msg[47], ct[256];
    size_t n = sizeof ct;
    make_pms(ct, TLS_TLS12);
    memcpy(msg, ct, 47);
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
    cr_assert(EVP_PKEY_encrypt_init(c) > 0 && EVP_PKEY_encrypt(c, ct, &n, msg, sizeof msg) > 0);
    EVP_PKEY_CTX_free(c);
    expect_random(k, TLS_TLS12, 0, ct, n, NULL);
    EVP_PKEY_free(k);
}

Test(kex, rsa_garbage_ciphertext_gives_random_secret)
{
    EVP_PKEY *k = rsa2048();
    uint8_t pms[48], ct[600], g[600];
    size_t n = 0;
    make_pms(pms, TLS_TLS12);
    cr_assert(tls_rsa_encrypt_pms(k, pms, ct, sizeof ct, &n));
    /* one bit flipped */
    ct[100] ^= 0x10;
    expect_random(k, TLS_TLS12, 0, ct, n, pms);
    /* random bytes below the modulus */
    cr_assert(RAND_bytes(g, sizeof g) == 1);
    g[0] = 0;
    expect_random(k, TLS_TLS12, 0, g, 256, NULL);
    /* wrong lengths: short, longer than the modulus, all ones, empty, NULL */
    expect_random(k, TLS_TLS12, 0, g, 10, NULL);
    expect_random(k, TLS_TLS12, 0, g, 257, NULL);
    memset(g, 0xff, 256);
    expect_random(k, TLS_TLS12, 0, g, 256, NULL);
    expect_random(k, TLS_TLS12, 0, g, 0, NULL);
    expect_random(k, TLS_TLS12, 0, NULL, 0, NULL);
    /* no version given */
    cr_assert(tls_rsa_encrypt_pms(k, pms, ct, sizeof ct, &n));
    expect_random(k, 0, 0, ct, n, pms);
    EVP_PKEY_free(k);
}

Test(kex, rsa_wrong_keys)
{
    uint8_t pub[65], pms[48], ct[512];
    size_t pn = 0, n = 0;
    EVP_PKEY *ec = tls_ecdhe_keygen(TLS_GROUP_SECP256R1, pub, sizeof pub, &pn);
    make_pms(pms, TLS_TLS12);
    cr_assert_not(tls_rsa_encrypt_pms(ec, pms, ct, sizeof ct, &n));
    cr_assert(strstr(tls_kex_error(), "RSA"), "%s", tls_kex_error());
    cr_assert_not(tls_rsa_encrypt_pms(NULL, pms, ct, sizeof ct, &n));
    memset(ct, 1, sizeof ct);
    expect_random(ec, TLS_TLS12, 0, ct, 256, NULL);
    expect_random(NULL, TLS_TLS12, 0, ct, 256, NULL);
    EVP_PKEY *k = rsa2048();
    cr_assert_not(tls_rsa_encrypt_pms(k, pms, ct, 255, &n));
    cr_assert_eq(ERR_peek_error(), 0);
    EVP_PKEY_free(k);
    EVP_PKEY_free(ec);
}
