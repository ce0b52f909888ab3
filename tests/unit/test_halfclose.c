/* Half-close at the engine level, what the shim relies on for every version:
 * a close_notify ends the receiver's read side only; the receiver may go on
 * writing, the sender of the close_notify keeps reading, and the receiver's
 * own close_notify ends the other direction. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "lib/pair.h"

typedef struct half_case {
    unsigned versions;
    char ciphers[8]; /* "": the defaults (an array: Criterion copies parameters into
                      * another process, where a pointer to a literal may not hold) */
} half_case;

ParameterizedTestParameters(halfclose, reader_keeps_writing)
{
    static half_case cases[] = {
        {TLS_VMASK_TLS10, "ALL"},
        {TLS_VMASK_TLS11, "ALL"},
        {TLS_VMASK_TLS12, ""},
        {TLS_VMASK_TLS13, ""},
    };
    return cr_make_param_array(half_case, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(half_case *hc, halfclose, reader_keeps_writing)
{
    tls_config *cc, *sc;
    const char *ciphers = hc->ciphers[0] ? hc->ciphers : NULL;
    tls_engine *c = client_or_die(ciphers, hc->versions, &cc);
    tls_engine *sv = server_or_die(ciphers, hc->versions, &sc);
    cr_assert(pair_handshake(c, sv));
    cr_assert(pair_transfer(c, sv, 50000), "the request");

    /* the client shuts down writing: the server reads the end */
    cr_assert_eq(tls_engine_close_write(c), TLS_OK);
    pair_pump(c, sv);
    uint8_t b[8];
    size_t got = 0;
    cr_assert_eq(tls_engine_read(sv, b, sizeof b, &got), TLS_E_CLOSED);
    cr_assert(tls_engine_status(sv) & TLS_ST_PEER_CLOSED);
    cr_assert_not(tls_engine_status(sv) & (TLS_ST_WRITE_CLOSED | TLS_ST_FAILED),
                  "the close_notify closed the server's writing too");

    /* the server answers after it: 200 kB arrive intact at the client */
    cr_assert(pair_transfer(sv, c, 200000), "the answer after the close_notify");
    cr_assert_not(tls_engine_status(c) & (TLS_ST_PEER_CLOSED | TLS_ST_FAILED));

    /* then the server closes: the client reads the end, no failure anywhere */
    cr_assert_eq(tls_engine_close_write(sv), TLS_OK);
    pair_pump(sv, c);
    cr_assert_eq(tls_engine_read(c, b, sizeof b, &got), TLS_E_CLOSED);
    cr_assert(tls_engine_status(c) & TLS_ST_PEER_CLOSED);
    cr_assert_not((tls_engine_status(c) | tls_engine_status(sv)) & TLS_ST_FAILED);

    tls_engine_free(c);
    tls_engine_free(sv);
    tls_config_free(cc);
    tls_config_free(sc);
}
