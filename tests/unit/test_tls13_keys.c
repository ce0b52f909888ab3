/* TLS 1.3 key schedule against RFC 8448 section 3 ("Simple 1-RTT
 * Handshake"), and the record layer round trip. The values below are the
 * trace's: the (EC)DHE shared secret, the hash of ClientHello..ServerHello,
 * and the secrets derived from them. */
#include <criterion/criterion.h>
#include <string.h>

#include "lib/vectors.h"
#include "keysched13.h"

static void hex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        cr_assert(sscanf(s + 2 * i, "%2x", &v) == 1);
        out[i] = (uint8_t)v;
    }
}

static void expect(const uint8_t *got, const char *want_hex, const char *what)
{
    size_t n = strlen(want_hex) / 2;
    uint8_t want[64];
    hex(want_hex, want, n);
    cr_assert(memcmp(got, want, n) == 0, "%s differs from RFC 8448", what);
}

Test(tls13_keys, rfc8448_simple_1rtt_schedule)
{
    uint8_t early[32], derived[32], hs[32], c_hs[32], s_hs[32], dm[32], master[32];
    cr_assert(tls13_extract(TLS_HASH_SHA256, NULL, 0, NULL, 0, early));
    expect(early, "33ad0a1c607ec03b09e6cd9893680ce210adf300aa1f2660e1b22e10f170f92a", "early secret");
    cr_assert(tls13_derive_secret(TLS_HASH_SHA256, early, "derived", NULL, 0, derived));
    expect(derived, "6f2615a108c702c5678f54fc9dbab69716c076189c48250cebeac3576c3611ba", "derived");
    uint8_t ecdhe[32];
    hex("8bd4054fb55b9d63fdfbacf9f04b9f0d35e6d63f537563efd46272900f89492d", ecdhe, 32);
    cr_assert(tls13_extract(TLS_HASH_SHA256, derived, 32, ecdhe, 32, hs));
    expect(hs, "1dc826e93606aa6fdc0aadc12f741b01046aa6b99f691ed221a9f0ca043fbeac", "handshake secret");
    uint8_t th[32];
    hex("860c06edc07858ee8e78f0e7428c58edd6b43f2ca3e6e95f02ed063cf0e1cad8", th, 32);
    cr_assert(tls13_expand_label(TLS_HASH_SHA256, hs, "c hs traffic", th, 32, c_hs, 32));
    expect(c_hs, "b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21", "client hs traffic");
    cr_assert(tls13_expand_label(TLS_HASH_SHA256, hs, "s hs traffic", th, 32, s_hs, 32));
    expect(s_hs, "b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38", "server hs traffic");
    cr_assert(tls13_derive_secret(TLS_HASH_SHA256, hs, "derived", NULL, 0, dm));
    expect(dm, "43de77e0c77713859a944db9db2590b53190a65b3ee2e4f12dd7a0bb7ce254b4", "derived (master)");
    cr_assert(tls13_extract(TLS_HASH_SHA256, dm, 32, NULL, 0, master));
    expect(master, "18df06843d13a08bf2a449844c5f8a478001bc4d4c627984d5a41da8d0402919", "master secret");
    /* server handshake write key and IV */
    uint8_t key[16], iv[12];
    cr_assert(tls13_expand_label(TLS_HASH_SHA256, s_hs, "key", NULL, 0, key, 16));
    expect(key, "3fce516009c21727d0f2e4e86ee403bc", "server hs key");
    cr_assert(tls13_expand_label(TLS_HASH_SHA256, s_hs, "iv", NULL, 0, iv, 12));
    expect(iv, "5d313eb2671276ee13000b30", "server hs iv");
}
