/* TLS_ST_RENEGOTIATING: set from tls_engine_renegotiate until the new
 * handshake is done or refused (the socket API's tls_renegotiate waits on
 * it), never set by a TLS 1.3 KeyUpdate. */
#include <criterion/criterion.h>

#include "engine.h"
#include "lib/pair.h"

typedef struct two {
    tls_config *cc, *sc;
    tls_engine *c, *s;
} two;

static void two_connect(two *t, unsigned versions)
{
    t->s = server_or_die(NULL, versions, &t->sc);
    t->c = client_or_die(NULL, versions, &t->cc);
    cr_assert(pair_handshake(t->c, t->s));
    cr_assert_not(tls_engine_status(t->c) & TLS_ST_RENEGOTIATING);
    cr_assert_not(tls_engine_status(t->s) & TLS_ST_RENEGOTIATING);
}

static void two_free(two *t)
{
    tls_engine_free(t->c);
    tls_engine_free(t->s);
    tls_config_free(t->cc);
    tls_config_free(t->sc);
}

static bool renegotiating(tls_engine *e) { return tls_engine_status(e) & TLS_ST_RENEGOTIATING; }

Test(renegotiating, server_side_until_the_new_handshake_is_done)
{
    two t;
    two_connect(&t, TLS_VMASK_TLS12);
    cr_assert_eq(tls_engine_renegotiate(t.s), TLS_OK);
    cr_assert(renegotiating(t.s), "HelloRequest queued: the bit is on");
    /* the HelloRequest reaches the client; its ClientHello is not answered yet */
    cr_assert_gt(pair_move(t.s, t.c), 0);
    cr_assert(renegotiating(t.s));
    pair_pump(t.c, t.s);
    cr_assert_not(renegotiating(t.s), "the new handshake is done");
    unsigned st = tls_engine_status(t.s);
    cr_assert(st & TLS_ST_CONNECTED);
    cr_assert_not(st & TLS_ST_HANDSHAKING);
    cr_assert_not(renegotiating(t.c), "the client did not ask for it");
    cr_assert(pair_transfer(t.s, t.c, 1000));
    two_free(&t);
}

Test(renegotiating, client_side_until_the_new_handshake_is_done)
{
    two t;
    two_connect(&t, TLS_VMASK_TLS12);
    t.sc->opts.client_renegotiation = true; /* the server takes what the client starts */
    cr_assert_eq(tls_engine_renegotiate(t.c), TLS_OK);
    cr_assert(renegotiating(t.c));
    pair_pump(t.c, t.s);
    cr_assert_not(renegotiating(t.c));
    cr_assert(tls_engine_status(t.c) & TLS_ST_CONNECTED);
    cr_assert(pair_transfer(t.c, t.s, 1000));
    two_free(&t);
}

Test(renegotiating, cleared_when_the_peer_refuses)
{
    two t;
    tls_options co;
    tls_options_init(&co);
    co.versions = TLS_VMASK_TLS12;
    co.secure_renegotiate = true; /* refuses insecure renegotiation... */
    t.s = server_or_die(NULL, TLS_VMASK_TLS12, &t.sc);
    t.cc = cfg_or_die(&co, false);
    tls_error err;
    cr_assert_eq(tls_engine_new(t.cc, NULL, &t.c, &err), TLS_OK);
    cr_assert(pair_handshake(t.c, t.s));
    t.c->secure_reneg = false;    /* ...and this connection now looks insecure to it */
    cr_assert_eq(tls_engine_renegotiate(t.s), TLS_OK);
    cr_assert(renegotiating(t.s));
    pair_pump(t.c, t.s);
    cr_assert_not(renegotiating(t.s));
    cr_assert_eq(tls_engine_error(t.s)->code, TLS_E_RENEG_REJECTED);
    cr_assert(pair_transfer(t.s, t.c, 1000));
    two_free(&t);
}

Test(renegotiating, never_set_by_a_tls13_key_update)
{
    two t;
    two_connect(&t, TLS_VMASK_TLS13);
    cr_assert_eq(tls_engine_renegotiate(t.c), TLS_OK); /* KeyUpdate(update_requested) */
    cr_assert_not(renegotiating(t.c));
    pair_pump(t.c, t.s);
    cr_assert_not(renegotiating(t.c));
    cr_assert_not(renegotiating(t.s));
    cr_assert(pair_transfer(t.c, t.s, 1000));
    cr_assert(pair_transfer(t.s, t.c, 1000));
    two_free(&t);
}
