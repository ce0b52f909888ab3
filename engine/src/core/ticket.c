/* RFC 5077 ticket protection (see ticket.h for the layout).
 *
 * The sealed state, format 1:
 *   u8 format | u16 version | u16 suite | u8 flags (bit 0: EMS) |
 *   master[48] | u32 issued (high) | u32 issued (low) | u32 lifetime |
 *   peer_cert<0..2^24-1>
 * A reader that meets another format, unknown flag bits or trailing bytes
 * refuses the ticket. */
#include "ticket.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define STATE_FORMAT 1
#define FLAG_EMS 0x01
#define CLOCK_SKEW_S 60 /* the wall clock may step back a little between seal and open */

bool tls_ticket_key_init(tls_ticket_key *k)
{
    memset(k, 0, sizeof *k);
    k->ready = RAND_bytes(k->name, sizeof k->name) == 1 && RAND_priv_bytes(k->key, sizeof k->key) == 1;
    if (!k->ready)
        OPENSSL_cleanse(k, sizeof *k);
    return k->ready;
}

void tls_ticket_key_wipe(tls_ticket_key *k)
{
    OPENSSL_cleanse(k, sizeof *k);
}

static void write_state(tls_wr *w, const tls_session *s, int64_t issued, uint32_t lifetime_s)
{
    tls_wr_u8(w, STATE_FORMAT);
    tls_wr_u16(w, s->version);
    tls_wr_u16(w, s->suite);
    tls_wr_u8(w, s->ems ? FLAG_EMS : 0);
    tls_wr_bytes(w, s->master, sizeof s->master);
    uint64_t t = (uint64_t)issued;
    tls_wr_u16(w, (uint16_t)(t >> 48));
    tls_wr_u16(w, (uint16_t)(t >> 32));
    tls_wr_u16(w, (uint16_t)(t >> 16));
    tls_wr_u16(w, (uint16_t)t);
    tls_wr_u16(w, (uint16_t)(lifetime_s >> 16));
    tls_wr_u16(w, (uint16_t)lifetime_s);
    tls_wr_vec(w, 3, s->peer_cert, s->peer_cert ? s->peer_cert_len : 0);
}

static uint32_t rd_u32(tls_rd *r)
{
    uint32_t hi = tls_rd_u16(r);
    return hi << 16 | tls_rd_u16(r);
}

/* Reads the state into out; false for anything but a well-formed, fresh one. */
static bool read_state(tls_rd *r, int64_t now, tls_session *out, int64_t *issued)
{
    if (tls_rd_u8(r) != STATE_FORMAT)
        return false;
    out->version = tls_rd_u16(r);
    out->suite = tls_rd_u16(r);
    uint8_t flags = tls_rd_u8(r);
    tls_rd_copy(r, out->master, sizeof out->master);
    uint64_t hi = rd_u32(r);
    int64_t t = (int64_t)(hi << 32 | rd_u32(r));
    uint32_t lifetime = rd_u32(r);
    tls_rd cert = tls_rd_vec(r, 3, 0, 0xffffff);
    if (!tls_rd_done(r) || (flags & ~FLAG_EMS))
        return false;
    if (t > now + CLOCK_SKEW_S || now - t >= (int64_t)lifetime)
        return false;
    out->ems = flags & FLAG_EMS;
    if (cert.len) {
        out->peer_cert = malloc(cert.len);
        if (!out->peer_cert)
            return false;
        memcpy(out->peer_cert, cert.p, cert.len);
        out->peer_cert_len = cert.len;
    }
    if (issued)
        *issued = t;
    return true;
}

/* One AES-256-GCM pass: seals (enc) or opens in[0..len) into out, with the
 * key name and nonce at `head` as additional data. Opening checks the tag. */
static bool gcm(const tls_ticket_key *k, bool enc, const uint8_t *head, const uint8_t *in, size_t len,
                uint8_t *out, uint8_t *tag)
{
    const uint8_t *nonce = head + TLS_TICKET_KEY_NAME_LEN;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, fin = 0;
    bool ok = ctx && len <= INT_MAX &&
              EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, TLS_TICKET_NONCE_LEN, NULL) == 1 &&
              EVP_CipherInit_ex(ctx, NULL, NULL, k->key, nonce, enc) == 1 &&
              EVP_CipherUpdate(ctx, NULL, &n, head, TLS_TICKET_KEY_NAME_LEN + TLS_TICKET_NONCE_LEN) == 1 &&
              EVP_CipherUpdate(ctx, out, &n, in, (int)len) == 1 &&
              (enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TLS_TICKET_TAG_LEN, tag) == 1) &&
              EVP_CipherFinal_ex(ctx, out + n, &fin) == 1 &&
              (!enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TLS_TICKET_TAG_LEN, tag) == 1);
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

bool tls_ticket_seal(const tls_ticket_key *k, const tls_session *s, int64_t issued, uint32_t lifetime_s,
                     tls_wr *out)
{
    if (!k->ready)
        return false;
    tls_wr state = tls_wr_dynamic(128 + (s->peer_cert ? s->peer_cert_len : 0));
    write_state(&state, s, issued, lifetime_s);
    bool ok = false;
    size_t total = TLS_TICKET_OVERHEAD + state.len;
    uint8_t *p = !state.bad && total <= TLS_TICKET_MAX ? tls_wr_room(out, total) : NULL;
    if (p) {
        memcpy(p, k->name, TLS_TICKET_KEY_NAME_LEN);
        uint8_t *body = p + TLS_TICKET_KEY_NAME_LEN + TLS_TICKET_NONCE_LEN;
        ok = RAND_bytes(p + TLS_TICKET_KEY_NAME_LEN, TLS_TICKET_NONCE_LEN) == 1 &&
             gcm(k, true, p, state.p, state.len, body, body + state.len);
        if (ok)
            out->len += total;
        else
            OPENSSL_cleanse(p, total);
    }
    tls_wr_free(&state); /* wipes the plaintext state */
    return ok;
}

bool tls_ticket_open(const tls_ticket_key *k, const uint8_t *ticket, size_t len, int64_t now,
                     tls_session *out, int64_t *issued)
{
    memset(out, 0, sizeof *out);
    if (!k->ready || !ticket || len <= TLS_TICKET_OVERHEAD || len > TLS_TICKET_MAX ||
        CRYPTO_memcmp(ticket, k->name, TLS_TICKET_KEY_NAME_LEN))
        return false;
    size_t body_len = len - TLS_TICKET_OVERHEAD;
    const uint8_t *body = ticket + TLS_TICKET_KEY_NAME_LEN + TLS_TICKET_NONCE_LEN;
    uint8_t tag[TLS_TICKET_TAG_LEN];
    memcpy(tag, body + body_len, sizeof tag);
    uint8_t *plain = malloc(body_len);
    bool ok = plain && gcm(k, false, ticket, body, body_len, plain, tag);
    if (ok) {
        tls_rd r = tls_rd_make(plain, body_len);
        ok = read_state(&r, now, out, issued);
    }
    if (plain) {
        OPENSSL_cleanse(plain, body_len);
        free(plain);
    }
    if (!ok)
        tls_session_wipe(out);
    return ok;
}
