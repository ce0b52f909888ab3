/* The SSLv2-compatible ClientHello (RFC 5246 Appendix E.2, RFC 4346 E.2,
 * RFC 2246 E.2): old clients (Java 6, old Internet Explorer) open with an
 * SSL 2.0 CLIENT-HELLO that asks for TLS. It can only be the first record.
 *
 *   record header: 2 bytes, msb set, 15-bit length of the message
 *   message:       msg_type (1) | version (2) | cipher_spec_length (2) |
 *                  session_id_length (2) | challenge_length (2) |
 *                  cipher_specs (3 bytes each) | session_id | challenge
 *
 * It goes to the handshake as the equivalent TLS ClientHello: the cipher
 * specs whose first byte is zero are TLS suites, the challenge is the random
 * right-aligned and zero-padded to 32 bytes, no compression but null, no
 * extensions. The transcript gets the message as it came, without its
 * record header (E.2: the Finished hash covers it). Accepted when the
 * server allows TLS 1.0-1.2, as OpenSSL does; SSL 2.0 and SSL 3.0 are never
 * negotiated from it. */
#include "engine.h"

#include <string.h>

#define V2_HEADER 2
#define V2_MSG_CLIENT_HELLO 1

static tls_v2_result refuse(tls_engine *e, int alert, const char *why)
{
    tls_engine_fail(e, TLS_E_ALERT_SENT, alert, "SSLv2-compatible ClientHello: %s", why);
    return TLS_V2_DONE;
}

/* The TLS ClientHello body that says what the v2 hello says. */
static bool synthesize(tls_wr *w, uint16_t version, tls_rd specs, tls_rd sid, tls_rd challenge)
{
    uint8_t random[32] = {0};
    memcpy(random + 32 - challenge.len, challenge.p, challenge.len);
    tls_wr_u16(w, version);
    tls_wr_bytes(w, random, sizeof random);
    tls_wr_vec(w, 1, sid.p, sid.len);
    size_t at = tls_wr_begin_vec(w, 2);
    while (tls_rd_left(&specs)) {
        uint8_t kind = tls_rd_u8(&specs);
        uint16_t id = tls_rd_u16(&specs);
        if (kind == 0) /* else an SSL 2.0 cipher kind: nothing TLS can use */
            tls_wr_u16(w, id);
    }
    bool any = w->len > at + 2;
    tls_wr_end_vec(w, at, 2);
    tls_wr_u8(w, 1); /* compression_methods: null only */
    tls_wr_u8(w, 0);
    return any;
}

tls_v2_result tls_sslv2_hello(tls_engine *e, const uint8_t *p, size_t avail, size_t *used)
{
    *used = 0;
    if (!e->server || e->record_seen || avail < 1 || !(p[0] & 0x80))
        return TLS_V2_NOT;
    if (avail < V2_HEADER + 1)
        return TLS_V2_MORE;
    tls_rd hdr = tls_rd_make(p, avail);
    size_t len = tls_rd_u16(&hdr) & 0x7fff; /* the top bit marks a 2-byte v2 header */
    if (tls_rd_u8(&hdr) != V2_MSG_CLIENT_HELLO)
        return TLS_V2_NOT; /* not a hello: refused as a record of unknown type */
    if (len > TLS_MAX_PLAINTEXT)
        return refuse(e, TLS_ALERT_RECORD_OVERFLOW, "longer than 2^14 bytes");
    if (avail < V2_HEADER + len)
        return TLS_V2_MORE;
    *used = V2_HEADER + len;
    e->record_seen = true;

    tls_rd r = tls_rd_make(p + V2_HEADER, len);
    (void)tls_rd_u8(&r); /* msg_type, checked above */
    uint16_t version = tls_rd_u16(&r);
    size_t specs_len = tls_rd_u16(&r), sid_len = tls_rd_u16(&r), challenge_len = tls_rd_u16(&r);
    const uint8_t *specs = tls_rd_bytes(&r, specs_len);
    const uint8_t *sid = tls_rd_bytes(&r, sid_len);
    const uint8_t *challenge = tls_rd_bytes(&r, challenge_len);
    if (!tls_rd_done(&r))
        return refuse(e, TLS_ALERT_DECODE_ERROR, "its lengths do not add up");
    if (specs_len == 0 || specs_len % 3 || sid_len > 32 || challenge_len < 16 || challenge_len > 32)
        return refuse(e, TLS_ALERT_DECODE_ERROR, "a length outside its range");
    if ((version >> 8) != 3 || version < TLS_TLS10)
        return refuse(e, TLS_ALERT_PROTOCOL_VERSION, "it asks for SSL 2.0 or 3.0");
    if (!(e->cfg->versions & (TLS_VMASK_TLS10 | TLS_VMASK_TLS11 | TLS_VMASK_TLS12)))
        return refuse(e, TLS_ALERT_PROTOCOL_VERSION, "it can only lead to TLS 1.0-1.2, which are disabled");

    tls_wr body = tls_wr_dynamic(64 + specs_len);
    bool any_suite = synthesize(&body, version, tls_rd_make(specs, specs_len), tls_rd_make(sid, sid_len),
                                tls_rd_make(challenge, challenge_len));
    if (body.bad) {
        tls_wr_free(&body);
        tls_engine_fail(e, TLS_E_NOMEM, TLS_ALERT_INTERNAL_ERROR, "SSLv2-compatible ClientHello");
        return TLS_V2_DONE;
    }
    if (!any_suite) {
        tls_wr_free(&body);
        return refuse(e, TLS_ALERT_HANDSHAKE_FAILURE, "it offers no TLS cipher suite");
    }
    tls_engine_note_progress(e);
    tls_hs_handle(e, TLS_HS_CLIENT_HELLO, body.p, body.len, p + V2_HEADER, len);
    tls_wr_free(&body);
    return TLS_V2_DONE;
}
