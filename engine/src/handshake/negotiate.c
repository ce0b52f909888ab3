/* What both sides support: our key exchange groups and the choice among the
 * peer's (crypto/groups.c has the list, filtered by the security level: the
 * client offers it in supported_groups and its first entry as its TLS 1.3
 * key share; a server picks from it with tls_hs_pick_group), the peer's
 * signature schemes (as the security level allows), and the suites a
 * ClientHello offers. */
#include "handshake.h"
#include "kex.h"
#include "sig.h"

bool tls_hs_listed(const uint16_t *list, size_t n, uint16_t v)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == v)
            return true;
    return false;
}

/* The security level the config asks for: it filters groups and schemes. */
static int level(const tls_engine *e)
{
    return e->cfg->opts.security_level;
}

size_t tls_hs_groups(const tls_engine *e, uint16_t *out, size_t cap)
{
    return tls_groups_ours(level(e), TLS_GROUPS_ALL, out, cap);
}

bool tls_hs_group_ours(const tls_engine *e, uint16_t group)
{
    return tls_group_allowed(group, level(e));
}

/* Finds the peer's key share for `group` in a validated share list. */
bool tls_hs_find_share(tls_rd shares, uint16_t group, tls_rd *out)
{
    while (tls_rd_left(&shares)) {
        uint16_t g = tls_rd_u16(&shares);
        tls_rd ke = tls_rd_vec(&shares, 2, 1, 0xffff);
        if (shares.bad)
            return false;
        if (g == group) {
            *out = ke;
            return true;
        }
    }
    return false;
}

/* Server: the group for this handshake, by our preference, 0 if none.
 * TLS 1.3: a group the client sent a share for (*have_share), else one it
 * supports (a HelloRetryRequest asks for its share). TLS <= 1.2 ECDHE: a
 * common elliptic curve; no supported_groups means any (RFC 8422 4). */
uint16_t tls_hs_pick_group(const tls_engine *e, uint16_t version, tls_rd shares, bool *have_share)
{
    const tls_hs *hs = e->hs;
    *have_share = false;
    if (version >= TLS_TLS13) {
        uint16_t ours[16];
        size_t n = tls_hs_groups(e, ours, 16);
        for (size_t i = 0; i < n && i < 16; i++) {
            tls_rd unused;
            if (tls_hs_find_share(shares, ours[i], &unused)) {
                *have_share = true;
                return ours[i];
            }
        }
        return tls_group_pick(level(e), TLS_GROUPS_ALL, hs->peer_groups, hs->n_peer_groups);
    }
    if (!hs->peer_sent_groups)
        return TLS_GROUP_SECP256R1;
    return tls_group_pick(level(e), TLS_GROUPS_EC, hs->peer_groups, hs->n_peer_groups);
}

/* Keeps the peer's schemes that we know, once each, in its order: a list of
 * any length parses. A list of only unknown schemes keeps one 0 (matches nothing) so
 * that it does not read as "no list" (RFC 5246's SHA-1 default). */
int tls_hs_read_sigalgs(tls_engine *e, tls_rd list)
{
    tls_hs *hs = e->hs;
    hs->n_peer_sigalgs = 0;
    if (list.len & 1)
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed signature_algorithms");
    while (tls_rd_left(&list)) {
        uint16_t a = tls_rd_u16(&list);
        if (tls_sig_allowed(a, level(e)) && !tls_hs_listed(hs->peer_sigalgs, hs->n_peer_sigalgs, a) &&
            hs->n_peer_sigalgs < TLS_HS_MAX_PEER_SIGALGS)
            hs->peer_sigalgs[hs->n_peer_sigalgs++] = a;
    }
    if (!hs->n_peer_sigalgs)
        hs->peer_sigalgs[hs->n_peer_sigalgs++] = 0;
    hs->peer_sent_sigalgs = true;
    return TLS_OK;
}

void tls_hs_put_list16(tls_wr *w, const uint16_t *v, size_t n)
{
    size_t b = tls_wr_begin_vec(w, 2);
    for (size_t i = 0; i < n; i++)
        tls_wr_u16(w, v[i]);
    tls_wr_end_vec(w, b, 2);
}

void tls_hs_put_sigalgs(const tls_engine *e, tls_wr *w)
{
    uint16_t schemes[32];
    size_t n = tls_sig_schemes_at(level(e), schemes, 32);
    tls_hs_put_list16(w, schemes, n < 32 ? n : 32);
}

bool tls_ch_offers_suite(const tls_client_hello *ch, uint16_t id)
{
    for (tls_rd s = ch->suites; tls_rd_left(&s) >= 2;)
        if (tls_rd_u16(&s) == id)
            return true;
    return false;
}
