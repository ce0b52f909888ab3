/* Checks on a whole rule, made when its section ends (a key may come before
 * the direction that decides whether it applies). */
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

/* A rule whose every address an earlier rule of its direction takes first. */
static void check_reachable(loader *L, policy_rule *r)
{
    policy *p = L->p;
    size_t me = (size_t)(r - p->rules);
    for (size_t i = 0; i < me; i++) {
        const policy_rule *y = &p->rules[i];
        if (y->direction != r->direction)
            continue;
        for (size_t j = 0; j < y->n_matches; j++) {
            if (policy_match_is_everything(&y->matches[j])) {
                policy_fail(L, r->key_line[POLICY_KEY_MATCH], r->name, "match",
                            "rule [%s] can never match: [%s] line %d matches everything first",
                            r->name, y->name, y->line);
                return;
            }
        }
    }
    const policy_rule *first_cover = NULL;
    bool several = false;
    for (size_t m = 0; m < r->n_matches; m++) {
        const policy_rule *cover = NULL;
        for (size_t i = 0; i < me && !cover; i++) {
            const policy_rule *y = &p->rules[i];
            if (y->direction != r->direction)
                continue;
            for (size_t j = 0; j < y->n_matches && !cover; j++)
                if (policy_match_covers(&y->matches[j], &r->matches[m]))
                    cover = y;
        }
        if (!cover)
            return;
        if (first_cover && cover != first_cover)
            several = true;
        if (!first_cover)
            first_cover = cover;
    }
    if (first_cover)
        policy_fail(L, r->key_line[POLICY_KEY_MATCH], r->name, "match",
                    "rule [%s] can never match: [%s] line %d%s matches all of its addresses first",
                    r->name, first_cover->name, first_cover->line,
                    several ? " and later rules" : "");
}

/* Required keys present, and every key given fits the rule's direction. */
static bool keys_fit_direction(loader *L, policy_rule *r)
{
    bool accept = r->direction == POLICY_ACCEPT;
    for (size_t i = 0; i < policy_n_keys; i++) {
        const policy_key_def *k = &policy_keys[i];
        if (k->sections & KEY_IN_GLOBAL)
            continue;
        int at = r->key_line[k->slot];
        if (k->required && !at) {
            policy_fail(L, r->line, r->name, NULL, "missing %s (expected %s = %s)", k->name,
                        k->name, k->expected);
            return false;
        }
        if (at && !(k->sections & (accept ? KEY_IN_ACCEPT : KEY_IN_CONNECT))) {
            policy_fail(L, at, r->name, k->name, "only applies to %s rules (this rule has "
                        "direction = %s)", accept ? "connect" : "accept",
                        accept ? "accept" : "connect");
            return false;
        }
    }
    return true;
}

static bool credentials_complete(loader *L, policy_rule *r)
{
    const int *kl = r->key_line;
    for (size_t i = 0; i < policy_n_keys; i++) {
        /* a value in two forms: the later line is the one in the way */
        const policy_key_def *k = &policy_keys[i];
        const policy_key_def *other = k->alt ? policy_key_find(k->alt, false) : NULL;
        int at = kl[k->slot], other_at = other ? kl[other->slot] : 0;
        if (other && !k->alt_adds && at && other_at && at > other_at) {
            policy_fail(L, at, r->name, k->name, "%s is set too on line %d (expected one of %s or "
                        "%s)", other->name, other_at, k->name, other->name);
            return false;
        }
    }
    bool has_cert = kl[POLICY_KEY_CERT] || kl[POLICY_KEY_CERTFILE];
    if (r->direction == POLICY_ACCEPT && !has_cert) {
        policy_fail(L, r->line, r->name, NULL, "an accept rule needs certfile or cert");
        return false;
    }
    if (kl[POLICY_KEY_CERT] && !kl[POLICY_KEY_KEY] && !kl[POLICY_KEY_KEYFILE]) {
        policy_fail(L, kl[POLICY_KEY_CERT], r->name, "cert",
                    "a DER certificate holds no private key (expected key or keyfile too)");
        return false;
    }
    int key_at = kl[POLICY_KEY_KEY] ? kl[POLICY_KEY_KEY] : kl[POLICY_KEY_KEYFILE];
    if (key_at && !has_cert) {
        policy_fail(L, key_at, r->name, kl[POLICY_KEY_KEY] ? "key" : "keyfile",
                    "a private key without a certificate (expected certfile or cert too)");
        return false;
    }
    return true;
}

void policy_rule_finish(loader *L, policy_rule *r)
{
    if (!keys_fit_direction(L, r))
        return;
    for (size_t i = 0; r->direction == POLICY_ACCEPT && i < r->n_matches; i++) {
        if (r->matches[i].kind == POLICY_ADDR_HOST) {
            /* A listening socket has no host name: such an entry could never match. */
            policy_fail(L, r->key_line[POLICY_KEY_MATCH], r->name, "match",
                        "'%s' can never match: host names only apply to connect rules (expected "
                        "* or an address for an accept rule)",
                        r->matches[i].host_glob);
            return;
        }
    }
    policy_rule_defaults(L, r);
    if (L->failed || !credentials_complete(L, r))
        return;
    if (r->fail_if_no_peer_cert && !r->verify_peer) {
        policy_fail(L, r->key_line[POLICY_KEY_FAIL_IF_NO_PEER_CERT], r->name,
                    "fail_if_no_peer_cert", "true needs verify = verify_peer (verify is "
                    "verify_none%s)", r->key_line[POLICY_KEY_VERIFY] ? "" :
                    ", the default for accept rules");
        return;
    }
    /* verify_peer without cacertfile or cacerts verifies against the system's
     * trust store (the engine's default, as curl's). */
    check_reachable(L, r);
}
