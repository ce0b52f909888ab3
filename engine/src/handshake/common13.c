/* TLS 1.3 steps both roles take (RFC 8446 7): the key schedule from the
 * (EC)DHE secret and the PSK, traffic keys, Finished, the PSK binder and the
 * resumption master secret; the NSS key log lines. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "handshake.h"
#include "keysched13.h"
#include "prf.h"

/* RFC 8446 4.1.3: the random of a HelloRetryRequest, SHA-256("HelloRetryRequest") */
const uint8_t tls13_hrr_random[32] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};

static tls_hash_id hash_of(const tls_engine *e) { return e->suite->prf_hash; }

static void keylog13(tls_engine *e, const char *label, const uint8_t *secret)
{
    if (!e->cfg->opts.keylog)
        return;
    char line[256];
    size_t n = (size_t)snprintf(line, sizeof line, "%s ", label);
    for (int i = 0; i < 32; i++)
        n += (size_t)snprintf(line + n, sizeof line - n, "%02x", e->client_random[i]);
    line[n++] = ' ';
    for (size_t i = 0; i < tls_hash_len(hash_of(e)); i++)
        n += (size_t)snprintf(line + n, sizeof line - n, "%02x", secret[i]);
    line[n] = '\0';
    e->cfg->opts.keylog(line, e->cfg->opts.keylog_arg);
    OPENSSL_cleanse(line, sizeof line);
}

bool tls13_set_read(tls_engine *e, const uint8_t *secret)
{
    e->rd_epoch++;
    return tls13_rec_init(&e->rd, e->suite, false, secret);
}

bool tls13_set_write(tls_engine *e, const uint8_t *secret)
{
    return tls13_rec_init(&e->wr, e->suite, true, secret);
}

/* Handshake secrets from the (EC)DHE secret, over the transcript so far
 * (ClientHello..ServerHello). */
int tls13_derive_handshake_secrets(tls_engine *e)
{
    tls_hs *hs = e->hs;
    tls_hash_id h = hash_of(e);
    size_t hl = tls_hash_len(h);
    uint8_t early[TLS13_MAX_HASH], derived[TLS13_MAX_HASH], th[TLS13_MAX_HASH];
    /* both traffic secrets are over the same transcript: hash it once */
    bool ok = tls13_extract(h, NULL, 0, hs->psk_accepted ? hs->psk : NULL, hs->psk_accepted ? hl : 0, early) &&
              tls13_derive_secret(h, early, "derived", NULL, 0, derived) &&
              tls13_extract(h, derived, hl, hs->pms, hs->pms_len, hs->hs_secret) &&
              tls13_hash(h, hs->transcript.p, hs->transcript.len, th) &&
              tls13_expand_label(h, hs->hs_secret, "c hs traffic", th, hl, hs->c_hs, hl) &&
              tls13_expand_label(h, hs->hs_secret, "s hs traffic", th, hl, hs->s_hs, hl) &&
              tls13_derive_secret(h, hs->hs_secret, "derived", NULL, 0, derived) &&
              tls13_extract(h, derived, hl, NULL, 0, hs->master13);
    OPENSSL_cleanse(early, sizeof early);
    OPENSSL_cleanse(derived, sizeof derived);
    OPENSSL_cleanse(hs->pms, sizeof hs->pms);
    hs->pms_len = 0;
    if (!ok)
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "TLS 1.3 handshake secrets");
    keylog13(e, "CLIENT_HANDSHAKE_TRAFFIC_SECRET", hs->c_hs);
    keylog13(e, "SERVER_HANDSHAKE_TRAFFIC_SECRET", hs->s_hs);
    return TLS_OK;
}

/* Application secrets over ClientHello..server Finished. */
int tls13_derive_app_secrets(tls_engine *e)
{
    tls_hs *hs = e->hs;
    tls_hash_id h = hash_of(e);
    size_t hl = tls_hash_len(h);
    uint8_t th[TLS13_MAX_HASH];
    if (!tls13_hash(h, hs->transcript.p, hs->transcript.len, th) ||
        !tls13_expand_label(h, hs->master13, "c ap traffic", th, hl, e->c_ap, hl) ||
        !tls13_expand_label(h, hs->master13, "s ap traffic", th, hl, e->s_ap, hl))
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "TLS 1.3 traffic secrets");
    keylog13(e, "CLIENT_TRAFFIC_SECRET_0", e->c_ap);
    keylog13(e, "SERVER_TRAFFIC_SECRET_0", e->s_ap);
    /* the exporter secret serves only the key log here */
    uint8_t exporter[TLS13_MAX_HASH];
    if (e->cfg->opts.keylog && tls13_expand_label(h, hs->master13, "exp master", th, hl, exporter, hl))
        keylog13(e, "EXPORTER_SECRET", exporter);
    OPENSSL_cleanse(exporter, sizeof exporter);
    return TLS_OK;
}

/* resumption_master_secret over ClientHello..client Finished */
bool tls13_derive_res_master(tls_engine *e)
{
    return tls13_derive_secret(hash_of(e), e->hs->master13, "res master", e->hs->transcript.p,
                               e->hs->transcript.len, e->res_master);
}

bool tls13_send_finished(tls_engine *e, const uint8_t *base_key)
{
    uint8_t vd[TLS13_MAX_HASH];
    size_t hl = tls_hash_len(hash_of(e));
    if (!tls13_finished(hash_of(e), base_key, e->hs->transcript.p, e->hs->transcript.len, vd))
        return false;
    tls_wr body = tls_wr_fixed(vd, sizeof vd);
    body.len = hl;
    return tls_hs_send_msg(e, TLS_HS_FINISHED, &body);
}

int tls13_check_finished(tls_engine *e, const uint8_t *base_key, tls_rd *r)
{
    uint8_t vd[TLS13_MAX_HASH];
    size_t hl = tls_hash_len(hash_of(e));
    if (!tls13_finished(hash_of(e), base_key, e->hs->transcript.p, e->hs->before, vd))
        return tls_engine_fail(e, TLS_E_INTERNAL, TLS_ALERT_INTERNAL_ERROR, "Finished computation");
    if (r->len != hl)
        return FAIL(e, TLS_ALERT_DECODE_ERROR, "Finished of %zu bytes, expected %zu", r->len, hl);
    if (CRYPTO_memcmp(vd, r->p, hl) != 0)
        return FAIL(e, TLS_ALERT_DECRYPT_ERROR, "the peer's Finished does not match (keys or transcript differ)");
    return TLS_OK;
}

/* The PSK binder (RFC 8446 4.2.11.2) over transcript[0..len). */
bool tls13_psk_binder(tls_hash_id h, const uint8_t *psk, const uint8_t *transcript, size_t len, uint8_t *out)
{
    uint8_t early[TLS13_MAX_HASH], binder_key[TLS13_MAX_HASH];
    bool ok = tls13_extract(h, NULL, 0, psk, tls_hash_len(h), early) &&
              tls13_derive_secret(h, early, "res binder", NULL, 0, binder_key) &&
              tls13_finished(h, binder_key, transcript, len, out);
    OPENSSL_cleanse(early, sizeof early);
    OPENSSL_cleanse(binder_key, sizeof binder_key);
    return ok;
}
