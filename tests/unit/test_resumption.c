/* TLS 1.2 resumption, engine against engine: RFC 5077 tickets (issued,
 * presented with a random session id and echoed, tampered, declined), the
 * fallback to session ids, and the rules both kinds follow: a resumed
 * session keeps its suite, which the client must offer (illegal_parameter
 * otherwise); another version means a full handshake; RFC 7627 5.3 for the
 * extended master secret on both sides; a malformed NewSessionTicket. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "lib/pair.h"

static tls_options server_options(void)
{
    tls_options o;
    tls_options_init(&o);
    o.certfile = pki("server.pem");
    o.keyfile = pki("server.key");
    o.versions = TLS_VMASK_TLS12;
    return o;
}

static tls_options client_options(void)
{
    tls_options o;
    tls_options_init(&o);
    o.verify = TLS_VERIFY_PEER;
    o.cacertfile = pki("ca.pem");
    o.server_name = "localhost";
    o.versions = TLS_VMASK_TLS12;
    return o;
}

typedef struct conn {
    tls_engine *c, *s;
} conn;

static bool connect_pair(tls_config *cc, tls_config *sc, conn *k)
{
    return pair_connect(cc, sc, &k->c, &k->s);
}

static void conn_free(conn *k)
{
    tls_engine_free(k->c);
    tls_engine_free(k->s);
    k->c = k->s = NULL;
}

/* The client's stored session for "localhost" (the caller wipes it). */
static tls_session stored(tls_config *cc)
{
    tls_session s;
    cr_assert(tls_cache_get_by_name(&cc->cache, "localhost", &s), "the client kept no session");
    return s;
}

/* A first full handshake whose session the client keeps. */
static void first_connection(tls_config *cc, tls_config *sc)
{
    conn k = {0};
    cr_assert(connect_pair(cc, sc, &k));
    cr_assert(!tls_engine_session_reused(k.c));
    conn_free(&k);
}

Test(resumption, ticket_resumes_with_suite_and_certificates)
{
    tls_options so = server_options(), co = client_options();
    so.verify = TLS_VERIFY_PEER;
    so.cacertfile = pki("ca.pem");
    co.certfile = pki("client.pem");
    co.keyfile = pki("client.key");
    tls_config *sc = cfg_or_die(&so, true), *cc = cfg_or_die(&co, false);

    conn k = {0};
    cr_assert(connect_pair(cc, sc, &k));
    cr_assert_eq(k.s->session_id_len, 0, "a ticket session gets no session id");
    uint16_t suite = tls_engine_suite(k.c)->id;
    conn_free(&k);
    cr_assert_eq(sc->cache.n, 0, "the server kept state for a ticket session");
    tls_session s = stored(cc);
    cr_assert_gt(s.ticket_len, TLS_TICKET_OVERHEAD, "no ticket kept");
    cr_assert_eq(s.lifetime_s, TLS_TICKET_LIFETIME_S);
    tls_session_wipe(&s);

    cr_assert(connect_pair(cc, sc, &k));
    cr_assert(tls_engine_session_reused(k.c) && tls_engine_session_reused(k.s));
    cr_assert_eq(tls_engine_suite(k.s)->id, suite);
    cr_assert_eq(k.c->session_id_len, 32, "the client's random session id");
    cr_assert_eq(k.s->session_id_len, 32, "echoed by the server (RFC 5077 3.4)");
    cr_assert_arr_eq(k.c->session_id, k.s->session_id, 32);
    const uint8_t *der;
    size_t len;
    cr_assert_eq(tls_engine_peercert(k.c, &der, &len), TLS_OK, "server certificate kept in the session");
    cr_assert_eq(tls_engine_peercert(k.s, &der, &len), TLS_OK, "client certificate kept in the ticket");
    cr_assert(pair_transfer(k.c, k.s, 20000));
    cr_assert(pair_transfer(k.s, k.c, 20000));
    conn_free(&k);
    tls_config_free(cc);
    tls_config_free(sc);
}

Test(resumption, tampered_ticket_gets_a_full_handshake)
{
    tls_options so = server_options(), co = client_options();
    tls_config *sc = cfg_or_die(&so, true), *cc = cfg_or_die(&co, false);
    first_connection(cc, sc);
    tls_session s = stored(cc);
    cr_assert_gt(s.ticket_len, 0, "no ticket to tamper with");
    s.ticket[s.ticket_len / 2] ^= 0x01;
    tls_cache_put(&cc->cache, &s);

    conn k = {0};
    cr_assert(connect_pair(cc, sc, &k), "a bad ticket must not fail the handshake");
    cr_assert(!tls_engine_session_reused(k.c) && !tls_engine_session_reused(k.s));
    conn_free(&k);
    tls_session fresh = stored(cc);
    cr_assert(fresh.ticket_len && memcmp(fresh.ticket, s.ticket, s.ticket_len < fresh.ticket_len
                                                                       ? s.ticket_len
                                                                       : fresh.ticket_len),
              "the full handshake brought a new ticket");
    cr_assert(connect_pair(cc, sc, &k));
    cr_assert(tls_engine_session_reused(k.c), "the new ticket resumes");
    conn_free(&k);
    tls_session_wipe(&fresh);
    tls_session_wipe(&s);
    tls_config_free(cc);
    tls_config_free(sc);
}

Test(resumption, no_tickets_when_either_side_disables_resumption)
{
    tls_options so = server_options(), co = client_options();
    so.reuse_sessions = false;
    tls_config *sc = cfg_or_die(&so, true), *cc = cfg_or_die(&co, false);
    first_connection(cc, sc);
    tls_session s;
    cr_assert(!tls_cache_get_by_name(&cc->cache, "localhost", &s), "a session from a server that resumes nothing");
    tls_config_free(sc);

    so = server_options();
    co.reuse_sessions = false;
    tls_config *cc2 = cfg_or_die(&co, false);
    sc = cfg_or_die(&so, true);
    first_connection(cc2, sc);
    cr_assert_eq(sc->cache.n, 1, "no session_ticket offered: the server resumes by id");
    tls_config_free(cc2);
    tls_config_free(cc);
    tls_config_free(sc);
}

Test(resumption, session_id_when_the_server_issues_no_ticket)
{
    tls_options so = server_options(), co = client_options();
    tls_config *sc = cfg_or_die(&so, true), *cc = cfg_or_die(&co, false);
    sc->ticket_key.ready = false;
    first_connection(cc, sc);
    tls_session s = stored(cc);
    cr_assert_eq(s.ticket_len, 0);
    cr_assert_eq(s.id_len, 32);
    tls_session_wipe(&s);
    conn k = {0};
    cr_assert(connect_pair(cc, sc, &k));
    cr_assert(tls_engine_session_reused(k.c) && tls_engine_session_reused(k.s));
    conn_free(&k);
    tls_config_free(cc);
    tls_config_free(sc);
}

/* The session of a client with `first_ciphers`, offered by one with
 * `second_ciphers` (its own cache gets the session). */
static void resume_with_other_ciphers(bool tickets, const char *first_ciphers, const char *second_ciphers,
                                      conn *k, tls_config **sc_out, tls_config **cc_out)
{
    tls_options so = server_options(), co = client_options();
    so.ciphers = "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384";
    tls_config *sc = cfg_or_die(&so, true);
    sc->ticket_key.ready = tickets;
    co.ciphers = first_ciphers;
    tls_config *cc1 = cfg_or_die(&co, false);
    first_connection(cc1, sc);
    tls_session s = stored(cc1);
    tls_config_free(cc1);
    co.ciphers = second_ciphers;
    tls_config *cc = cfg_or_die(&co, false);
    tls_cache_put(&cc->cache, &s);
    tls_session_wipe(&s);
    connect_pair(cc, sc, k);
    *sc_out = sc;
    *cc_out = cc;
}

static void check_suite_not_offered(bool tickets)
{
    conn k = {0};
    tls_config *sc, *cc;
    resume_with_other_ciphers(tickets, "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", &k, &sc, &cc);
    cr_assert(tls_engine_status(k.s) & TLS_ST_FAILED, "resumed without its suite");
    cr_assert_eq(tls_engine_error(k.s)->code, TLS_E_ALERT_SENT, "the server refuses it: %s",
                 tls_engine_error(k.s)->detail);
    cr_assert_eq(tls_engine_error(k.s)->alert, TLS_ALERT_ILLEGAL_PARAMETER);
    conn_free(&k);

    /* the session's suite among others: resumed with that suite, not our first choice */
    tls_config_free(cc);
    tls_config_free(sc);
    resume_with_other_ciphers(tickets, "ECDHE-RSA-AES256-GCM-SHA384",
                              "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384", &k, &sc, &cc);
    cr_assert(tls_engine_session_reused(k.s));
    cr_assert_eq(tls_engine_suite(k.s)->id, 0xc030, "a resumed session keeps its suite");
    conn_free(&k);
    tls_config_free(cc);
    tls_config_free(sc);
}

Test(resumption, ticket_session_keeps_its_suite) { check_suite_not_offered(true); }
Test(resumption, session_id_keeps_its_suite) { check_suite_not_offered(false); }

Test(resumption, another_version_gets_a_full_handshake)
{
    tls_options so = server_options(), co = client_options();
    so.versions = TLS_VMASK_TLS11 | TLS_VMASK_TLS12;
    so.ciphers = co.ciphers = "ECDHE-RSA-AES128-SHA";
    tls_config *sc = cfg_or_die(&so, true), *cc = cfg_or_die(&co, false);
    first_connection(cc, sc);
    tls_session s = stored(cc);
    co.versions = TLS_VMASK_TLS11;
    tls_config *cc11 = cfg_or_die(&co, false);
    s.version = TLS_TLS11; /* so that the TLS 1.1 client offers the TLS 1.2 session */
    tls_cache_put(&cc11->cache, &s);
    tls_session_wipe(&s);
    conn k = {0};
    cr_assert(connect_pair(cc11, sc, &k));
    cr_assert_eq(tls_engine_version(k.s), TLS_TLS11);
    cr_assert(!tls_engine_session_reused(k.s), "a TLS 1.2 session resumed in TLS 1.1");
    conn_free(&k);
    tls_config_free(cc11);
    tls_config_free(cc);
    tls_config_free(sc);
}

/* The client's ticket, resealed by the server's key with ems = server_ems
 * while the client remembers client_ems. */
static void reseal_ems(tls_config *cc, tls_config *sc, bool server_ems, bool client_ems)
{
    tls_session s = stored(cc), inner;
    cr_assert(tls_ticket_open(&sc->ticket_key, s.ticket, s.ticket_len, tls_now_ms() / 1000, &inner, NULL));
    cr_assert(inner.ems, "the first handshake used EMS");
    inner.ems = server_ems;
    tls_wr w = tls_wr_dynamic(0);
    cr_assert(tls_ticket_seal(&sc->ticket_key, &inner, tls_now_ms() / 1000, 3600, &w));
    free(s.ticket);
    s.ticket = w.p;
    s.ticket_len = w.len;
    s.ems = client_ems;
    tls_cache_put(&cc->cache, &s);
    tls_session_wipe(&s);
    tls_session_wipe(&inner);
}

Test(resumption, session_without_ems_is_not_resumed_with_it)
{
    tls_options so = server_options(), co = client_options();
    tls_config *sc = cfg_or_die(&so, true), *cc = cfg_or_die(&co, false);
    first_connection(cc, sc);
    reseal_ems(cc, sc, false, false);
    conn k = {0};
    cr_assert(connect_pair(cc, sc, &k), "RFC 7627 5.3: a full handshake, no alert");
    cr_assert(!tls_engine_session_reused(k.s) && !tls_engine_session_reused(k.c));
    cr_assert(k.s->ems && k.c->ems);
    conn_free(&k);
    tls_config_free(cc);
    tls_config_free(sc);
}

Test(resumption, client_refuses_a_resumption_that_changes_ems)
{
    tls_options so = server_options(), co = client_options();
    tls_config *sc = cfg_or_die(&so, true), *cc = cfg_or_die(&co, false);
    first_connection(cc, sc);
    reseal_ems(cc, sc, true, false); /* the server resumes with EMS a session the client had without */
    conn k = {0};
    cr_assert(!connect_pair(cc, sc, &k));
    cr_assert_eq(tls_engine_error(k.c)->code, TLS_E_ALERT_SENT);
    cr_assert_eq(tls_engine_error(k.c)->alert, TLS_ALERT_HANDSHAKE_FAILURE);
    conn_free(&k);
    tls_config_free(cc);
    tls_config_free(sc);
}

Test(resumption, malformed_new_session_ticket_is_decode_error)
{
    tls_options so = server_options(), co = client_options();
    co.ciphers = so.ciphers = "ECDHE-RSA-AES128-GCM-SHA256";
    tls_config *sc = cfg_or_die(&so, true), *cc = cfg_or_die(&co, false);
    conn k = {0};
    cr_assert_eq(tls_engine_new(cc, NULL, &k.c, NULL), TLS_OK);
    cr_assert_eq(tls_engine_new(sc, NULL, &k.s, NULL), TLS_OK);
    pair_move(k.c, k.s); /* ClientHello */
    pair_move(k.s, k.c); /* ServerHello .. ServerHelloDone */
    pair_move(k.c, k.s); /* ClientKeyExchange, CCS, Finished */
    size_t len;
    const uint8_t *out = tls_engine_output(k.s, &len);
    /* the first record: NewSessionTicket in the clear (the new keys start at CCS) */
    cr_assert(out && len > 15 && out[0] == TLS_CT_HANDSHAKE && out[5] == TLS_HS_NEW_SESSION_TICKET);
    uint8_t *copy = malloc(len);
    cr_assert_not_null(copy);
    memcpy(copy, out, len);
    copy[5 + 4 + 4 + 1] += 1; /* the ticket's length now runs past the message */
    size_t used = 0;
    tls_engine_feed(k.c, copy, len, &used);
    tls_engine_output_done(k.s, len);
    free(copy);
    cr_assert(tls_engine_status(k.c) & TLS_ST_FAILED);
    cr_assert_eq(tls_engine_error(k.c)->code, TLS_E_ALERT_SENT);
    cr_assert_eq(tls_engine_error(k.c)->alert, TLS_ALERT_DECODE_ERROR);
    conn_free(&k);
    tls_config_free(cc);
    tls_config_free(sc);
}
