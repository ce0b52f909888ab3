/* RFC 5077 session tickets for TLS 1.2: the server seals a session's state
 * into an opaque ticket the client keeps, and opens it when it comes back.
 *
 * Ticket (the layout RFC 5077 4 recommends, with AES-256-GCM as the AEAD):
 *   key_name[16] | nonce[12] | sealed state | tag[16]
 * The key name and nonce are the additional data. The state is versioned
 * and read back through tls_rd; anything wrong (another key name, a bad
 * tag, a short or overlong ticket, an expired session) means "no
 * resumption", never an alert: the peer then gets a full handshake. */
#ifndef TLS_TICKET_H
#define TLS_TICKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define TLS_TICKET_KEY_NAME_LEN 16
#define TLS_TICKET_NONCE_LEN 12
#define TLS_TICKET_TAG_LEN 16
#define TLS_TICKET_OVERHEAD (TLS_TICKET_KEY_NAME_LEN + TLS_TICKET_NONCE_LEN + TLS_TICKET_TAG_LEN)
#define TLS_TICKET_MAX 0xffff /* NewSessionTicket's ticket<0..2^16-1> */
#define TLS_TICKET_LIFETIME_S (2 * 3600) /* as long as a cached session id lives */

/* The server's ticket key: made at config creation, wiped when it is freed. */
typedef struct tls_ticket_key {
    uint8_t name[TLS_TICKET_KEY_NAME_LEN]; /* random: which key sealed a ticket */
    uint8_t key[32];                       /* AES-256-GCM */
    bool ready;
} tls_ticket_key;

struct tls_session;

bool tls_ticket_key_init(tls_ticket_key *k); /* false: no random bytes */
void tls_ticket_key_wipe(tls_ticket_key *k);

/* Times are wall-clock seconds (tls_now_ms() / 1000).
 * Appends a ticket for session s (version, suite, master secret, EMS flag,
 * peer certificate) to out. `issued` is when the session's master secret was
 * made (a renewed ticket keeps it, so renewing never stretches a session's
 * life); the ticket is valid for lifetime_s seconds from then. False when
 * the key is not ready, the ticket would exceed TLS_TICKET_MAX or out fails. */
bool tls_ticket_seal(const tls_ticket_key *k, const struct tls_session *s, int64_t issued,
                     uint32_t lifetime_s, tls_wr *out);

/* Opens a ticket into out (version, suite, ems, master, peer_cert); *issued
 * gets the session's issue time when not NULL. False for every ticket that
 * is not ours, was altered, is malformed, or has expired at `now`; out is
 * then left wiped. On success the caller owns out (tls_session_wipe). */
bool tls_ticket_open(const tls_ticket_key *k, const uint8_t *ticket, size_t len, int64_t now,
                     struct tls_session *out, int64_t *issued);

#endif
