/* Named groups (RFC 8446 4.2.7, RFC 8422 5.1.1, RFC 7919): which ones this
 * engine knows, their wire sizes and strength, our preference, and the
 * choices a server makes from a client's supported_groups. */
#ifndef TLS_GROUPS_H
#define TLS_GROUPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* named groups (IANA TLS Supported Groups registry) */
enum {
    TLS_GROUP_SECP256R1 = 23,
    TLS_GROUP_SECP384R1 = 24,
    TLS_GROUP_SECP521R1 = 25,
    TLS_GROUP_X25519 = 29,
    TLS_GROUP_X448 = 30,
    TLS_GROUP_FFDHE2048 = 256,
    TLS_GROUP_FFDHE3072 = 257,
    TLS_GROUP_FFDHE4096 = 258,
    TLS_GROUP_FFDHE6144 = 259,
    TLS_GROUP_FFDHE8192 = 260,
};

/* Largest public value / shared secret of any group: ffdhe8192's 1024 bytes. */
#define TLS_GROUP_MAX_SHARE 1024

/* Which kinds of group a list asks for. */
enum {
    TLS_GROUPS_EC = 1,    /* NIST curves, X25519, X448: ECDHE in TLS 1.2 */
    TLS_GROUPS_FFDHE = 2, /* RFC 7919 groups: DHE in TLS 1.2 */
    TLS_GROUPS_ALL = 3,   /* TLS 1.3 key shares */
};

typedef struct tls_group_info {
    uint16_t id;
    const char *name;  /* IANA name, e.g. "secp521r1" */
    const char *type;  /* libcrypto key type: "EC", "X25519", "X448", "DH" */
    const char *param; /* curve or named DH group for libcrypto, NULL if none */
    size_t pub_len;    /* wire length of a public value (TLS 1.3 share) */
    size_t secret_len; /* shared secret length (DH: padded to p) */
    int security_bits; /* as OpenSSL rates the group */
} tls_group_info;

/* The group's facts, NULL when this engine does not implement it. */
const tls_group_info *tls_group_find(uint16_t group);
bool tls_group_supported(uint16_t group);
/* RFC 7919 reserves 256..511 for finite-field groups (known or not). */
bool tls_group_is_ffdhe(uint16_t group);

/* The least strength, in bits, OpenSSL's security level 0..5 demands:
 * 0, 80, 112, 128, 192, 256. Out-of-range levels are clamped. */
int tls_seclevel_bits(int level);

/* The strength of a finite-field group with a prime of `pbits` bits, as
 * OpenSSL rates it (NIST SP 800-57): 80 from 1024 bits, 112 from 2048, 128
 * from 3072, 192 from 7680, 256 from 15360; 0 below 1024. */
int tls_dh_security_bits(int pbits);

/* Whether `group` is ours and strong enough for security level `level`. */
bool tls_group_allowed(uint16_t group, int level);
/* Our groups of `kinds` allowed at `level`, best first (X25519, P-256, X448,
 * P-521, P-384, then FFDHE smallest first, as OpenSSL orders them). Returns
 * how many there are; fills up to cap of them into out (out may be NULL). */
size_t tls_groups_ours(int level, unsigned kinds, uint16_t *out, size_t cap);
/* Our best group of `kinds` at `level` that the peer lists; 0 if none.
 * Unknown peer groups are skipped. */
uint16_t tls_group_pick(int level, unsigned kinds, const uint16_t *peer, size_t n_peer);

/* RFC 7919 4, the group of a TLS 1.2 DHE key exchange. When the client's
 * supported_groups names a finite-field group (known or not), the best
 * common FFDHE group is returned, or 0 with *dhe_ok false when there is none:
 * the server must then not pick a DHE suite (insufficient_security if nothing
 * else is left). When it names none (or sent no supported_groups), 0 with
 * *dhe_ok true: use the configured parameters (dhfile, else ffdhe2048). */
uint16_t tls_dhe_group_choose(int level, const uint16_t *peer, size_t n_peer, bool *dhe_ok);

#endif
