/* Test helpers: the test PKI, and two engines joined in memory. */
#ifndef TEST_PAIR_H
#define TEST_PAIR_H

#include <stdbool.h>
#include <stddef.h>

#include "tlsengine.h"

/* The PKI folder: $PKI, else made once with tests/pki/gen.sh in a temp dir. */
const char *pki_dir(void);
/* pki_dir()/name, in one of 8 rotating static buffers. */
const char *pki(const char *name);

/* Moves every pending output byte of `from` into `to`; returns bytes moved,
 * or -1 if `to` failed while taking them. */
long pair_move(tls_engine *from, tls_engine *to);
/* Pumps both ways until neither side has output; returns total moved. */
long pair_pump(tls_engine *a, tls_engine *b);
/* Runs the handshake between a client and a server to completion. True when
 * both ended connected; false when either failed (inspect tls_engine_error). */
bool pair_handshake(tls_engine *c, tls_engine *s);
/* New engines for client config cc and server config sc, and the handshake
 * between them (pair_handshake's answer). Free both with tls_engine_free. */
bool pair_connect(tls_config *cc, tls_config *sc, tls_engine **c, tls_engine **s);
/* Sends len bytes from a to b through the engines and checks they arrive intact. */
bool pair_transfer(tls_engine *a, tls_engine *b, size_t len);

/* Builds a config or aborts the test with the error sentence. */
tls_config *cfg_or_die(const tls_options *o, bool server);
/* An engine on a new config (ciphers NULL / versions 0: the defaults), the
 * config in *cfg: a server on the test PKI's server.pem, or a client that
 * does not verify (for tests of what a server does). */
tls_engine *server_or_die(const char *ciphers, unsigned versions, tls_config **cfg);
tls_engine *client_or_die(const char *ciphers, unsigned versions, tls_config **cfg);

#endif
