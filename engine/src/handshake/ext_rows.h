/* The shape of an extension table row's functions, shared by
 * extensions.c (the table, the loops, the TLS <= 1.2 and common rows) and
 * extensions13.c (the rows only TLS 1.3 has). Private to those two files. */
#ifndef TLS_EXT_ROWS_H
#define TLS_EXT_ROWS_H

#include "handshake.h"

/* What parse functions fill: the ClientHello (server side) or what the
 * server's message said (client side). */
typedef struct ext_out {
    tls_client_hello *ch;
    tls_ext_in *in;
} ext_out;

/* parse: the extension's body, consumed completely or an alert.
 * write: appends the body; 1 = sent, 0 = not this time, < 0 = failed. */
typedef int (*ext_parse_fn)(tls_engine *e, tls_ext_msg msg, tls_rd *body, ext_out *out);
typedef int (*ext_write_fn)(tls_engine *e, tls_ext_msg msg, tls_wr *w);

typedef struct ext_row {
    uint16_t type;
    const char *name;
    unsigned allowed;     /* messages it may appear in */
    unsigned unsolicited; /* answers in which it may come unoffered */
    ext_parse_fn parse;
    ext_write_fn write;
    const char *when;     /* when we send it (documentation) */
} ext_row;

/* A body that does not parse: decode_error naming the extension. */
static inline int tls_ext_malformed(tls_engine *e, const char *what)
{
    return FAIL(e, TLS_ALERT_DECODE_ERROR, "malformed %s", what);
}

/* extensions13.c */
int tls_ext13_parse_versions(tls_engine *e, tls_ext_msg msg, tls_rd *body, ext_out *out);
int tls_ext13_write_versions(tls_engine *e, tls_ext_msg msg, tls_wr *w);
int tls_ext13_parse_key_share(tls_engine *e, tls_ext_msg msg, tls_rd *body, ext_out *out);
int tls_ext13_write_key_share(tls_engine *e, tls_ext_msg msg, tls_wr *w);
int tls_ext13_parse_cookie(tls_engine *e, tls_ext_msg msg, tls_rd *body, ext_out *out);
int tls_ext13_write_cookie(tls_engine *e, tls_ext_msg msg, tls_wr *w);
int tls_ext13_parse_psk_modes(tls_engine *e, tls_ext_msg msg, tls_rd *body, ext_out *out);
int tls_ext13_write_psk_modes(tls_engine *e, tls_ext_msg msg, tls_wr *w);
int tls_ext13_parse_early_data(tls_engine *e, tls_ext_msg msg, tls_rd *body, ext_out *out);
int tls_ext13_parse_psk(tls_engine *e, tls_ext_msg msg, tls_rd *body, ext_out *out);
int tls_ext13_write_psk(tls_engine *e, tls_ext_msg msg, tls_wr *w);

#endif
