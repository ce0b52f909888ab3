/* The named-group table and the choices made from it. Sizes: RFC 8446
 * 4.2.8.2 (uncompressed NIST points, 1 + 2 * field bytes), RFC 7748 (X25519
 * 32, X448 56 bytes), RFC 7919 Appendix A (the primes' lengths); strength
 * figures as OpenSSL's group table states them, so that a security level
 * means the same thing here as in OpenSSL. */
#include "groups.h"

/* In our preference order: OpenSSL's default server list. */
static const tls_group_info groups[] = {
    {TLS_GROUP_X25519, "x25519", "X25519", NULL, 32, 32, 128},
    {TLS_GROUP_SECP256R1, "secp256r1", "EC", "P-256", 65, 32, 128},
    {TLS_GROUP_X448, "x448", "X448", NULL, 56, 56, 224},
    {TLS_GROUP_SECP521R1, "secp521r1", "EC", "P-521", 133, 66, 256},
    {TLS_GROUP_SECP384R1, "secp384r1", "EC", "P-384", 97, 48, 192},
    {TLS_GROUP_FFDHE2048, "ffdhe2048", "DH", "ffdhe2048", 256, 256, 112},
    {TLS_GROUP_FFDHE3072, "ffdhe3072", "DH", "ffdhe3072", 384, 384, 128},
    {TLS_GROUP_FFDHE4096, "ffdhe4096", "DH", "ffdhe4096", 512, 512, 128},
    {TLS_GROUP_FFDHE6144, "ffdhe6144", "DH", "ffdhe6144", 768, 768, 128},
    {TLS_GROUP_FFDHE8192, "ffdhe8192", "DH", "ffdhe8192", 1024, 1024, 192},
};

#define NGROUPS (sizeof groups / sizeof groups[0])

const tls_group_info *tls_group_find(uint16_t group)
{
    for (size_t i = 0; i < NGROUPS; i++)
        if (groups[i].id == group)
            return &groups[i];
    return NULL;
}

bool tls_group_supported(uint16_t group) { return tls_group_find(group) != NULL; }

bool tls_group_is_ffdhe(uint16_t group) { return group >= 256 && group <= 511; }

int tls_seclevel_bits(int level)
{
    static const int bits[] = {0, 80, 112, 128, 192, 256};
    if (level < 0)
        level = 0;
    if (level > 5)
        level = 5;
    return bits[level];
}

int tls_dh_security_bits(int pbits)
{
    static const struct {
        int pbits, bits;
    } steps[] = {{15360, 256}, {7680, 192}, {3072, 128}, {2048, 112}, {1024, 80}};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (pbits >= steps[i].pbits)
            return steps[i].bits;
    return 0;
}

static bool kind_matches(uint16_t group, unsigned kinds)
{
    return (kinds & (tls_group_is_ffdhe(group) ? TLS_GROUPS_FFDHE : TLS_GROUPS_EC)) != 0;
}

bool tls_group_allowed(uint16_t group, int level)
{
    const tls_group_info *g = tls_group_find(group);
    return g && g->security_bits >= tls_seclevel_bits(level);
}

size_t tls_groups_ours(int level, unsigned kinds, uint16_t *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < NGROUPS; i++) {
        if (!kind_matches(groups[i].id, kinds) || !tls_group_allowed(groups[i].id, level))
            continue;
        if (out && n < cap)
            out[n] = groups[i].id;
        n++;
    }
    return n;
}

uint16_t tls_group_pick(int level, unsigned kinds, const uint16_t *peer, size_t n_peer)
{
    for (size_t i = 0; i < NGROUPS; i++) {
        if (!kind_matches(groups[i].id, kinds) || !tls_group_allowed(groups[i].id, level))
            continue;
        for (size_t j = 0; peer && j < n_peer; j++)
            if (peer[j] == groups[i].id)
                return groups[i].id;
    }
    return 0;
}

uint16_t tls_dhe_group_choose(int level, const uint16_t *peer, size_t n_peer, bool *dhe_ok)
{
    bool named_ffdhe = false;
    for (size_t j = 0; peer && j < n_peer; j++)
        named_ffdhe |= tls_group_is_ffdhe(peer[j]);
    uint16_t g = named_ffdhe ? tls_group_pick(level, TLS_GROUPS_FFDHE, peer, n_peer) : 0;
    *dhe_ok = !named_ffdhe || g != 0;
    return g;
}
