/* Renegotiation policy (issue 6), engine against engine in memory (the
 * default refusal of a client's renegotiation is in test_hello.c):
 *  - the defaults: secure_renegotiate true, client_renegotiation false;
 *  - client_renegotiation lets the client renegotiate, again and again;
 *  - secure_renegotiate refuses a renegotiation with a peer without RFC 5746
 *    even when client_renegotiation allows clients to start one. */
#include <criterion/criterion.h>
#include <string.h>

#include "engine.h"
#include "lib/pair.h"

typedef struct pair {
    tls_config *sc, *cc;
    tls_engine *c, *s;
} pair;

static void pair_up(pair *p, bool client_renegotiation)
{
    tls_options so, co;
    tls_options_init(&so);
    tls_options_init(&co);
    so.certfile = pki("server.pem");
    so.keyfile = pki("server.key");
    so.client_renegotiation = client_renegotiation;
    so.versions = co.versions = TLS_VMASK_TLS12;
    co.verify = TLS_VERIFY_NONE;
    p->sc = cfg_or_die(&so, true);
    p->cc = cfg_or_die(&co, false);
    cr_assert(pair_connect(p->cc, p->sc, &p->c, &p->s));
}

static void pair_down(pair *p)
{
    tls_engine_free(p->c);
    tls_engine_free(p->s);
    tls_config_free(p->cc);
    tls_config_free(p->sc);
}

/* Renegotiation started by `who`, pumped to its end: true when both sides
 * hold new keys, false when it was declined and the session went on. */
static bool renegotiate(pair *p, tls_engine *who)
{
    uint8_t old_c[48], old_s[48];
    memcpy(old_c, p->c->master, 48);
    memcpy(old_s, p->s->master, 48);
    cr_assert_eq(tls_engine_renegotiate(who), TLS_OK);
    pair_pump(p->c, p->s);
    cr_assert(pair_handshake(p->c, p->s), "the connection must survive: client '%s', server '%s'",
              tls_engine_error(p->c)->detail, tls_engine_error(p->s)->detail);
    cr_assert(pair_transfer(p->c, p->s, 5000));
    cr_assert(pair_transfer(p->s, p->c, 5000));
    bool new_c = memcmp(old_c, p->c->master, 48) != 0, new_s = memcmp(old_s, p->s->master, 48) != 0;
    cr_assert_eq(new_c, new_s, "one side renegotiated alone");
    return new_c;
}

Test(renegotiation, option_defaults)
{
    tls_options o;
    tls_options_init(&o);
    cr_assert(o.secure_renegotiate, "secure_renegotiate defaults to true (a departure from the reference)");
    cr_assert(!o.client_renegotiation, "client-initiated renegotiation is refused by default");
}

Test(renegotiation, client_renegotiation_allows_it)
{
    pair p;
    pair_up(&p, true);
    cr_assert(renegotiate(&p, p.c));
    cr_assert(renegotiate(&p, p.c), "and again");
    pair_down(&p);
}

Test(renegotiation, no_renegotiation_with_a_client_without_rfc5746)
{
    pair p;
    pair_up(&p, true);
    p.s->secure_reneg = false; /* as if the client had sent neither the extension nor the SCSV */
    cr_assert_eq(tls_engine_renegotiate(p.c), TLS_OK);
    pair_pump(p.c, p.s);
    cr_assert(!(tls_engine_status(p.s) & TLS_ST_FAILED), "declined, not failed: %s",
              tls_engine_error(p.s)->detail);
    cr_assert_eq(tls_engine_error(p.c)->code, TLS_E_RENEG_REJECTED);
    cr_assert(pair_transfer(p.c, p.s, 1000));
    pair_down(&p);
}
