/* The connection object of the sans-I/O core and the loaded configuration.
 *
 * Data flow (no syscalls anywhere here):
 *   feed()   -> in[]  -> one record opened in place -> handshake / alert /
 *                                                      application plaintext
 *   write()  -> records sealed straight into out[]  -> output()
 * One received record is held at a time: its plaintext stays in in[] until
 * read() drains it, which is the backpressure towards the network. */
#ifndef TLS_ENGINE_INTERNAL_H
#define TLS_ENGINE_INTERNAL_H

#include <openssl/x509.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "cert.h"
#include "err.h"
#include "record.h"
#include "suites.h"
#include "ticket.h"
#include "tlsengine.h"

#define TLS_MAX_SUITES 96
#define TLS_MAX_ALPN 16
#define TLS_MAX_HS_MSG (256 * 1024) /* certificate chains may be long; nothing else is */
#define TLS_MAX_CLIENT_HELLO 0xffffff  /* RFC 8446 4 / RFC 5246 7.4: any length the header can carry */
#define TLS_MAX_WARN_ALERTS 5          /* in a row: the 5th ends the connection (CVE-2016-8610) */
#define TLS_MAX_IDLE_RECORDS 32        /* empty records / dropped CCS in a row */
#define TLS_MAX_EARLY_DATA 16384       /* 0-RTT bytes skipped at most (RFC 8446 4.2.10) */
#define TLS_OUT_SOFT_LIMIT (4 * (TLS_MAX_PLAINTEXT + 512)) /* write() stops accepting past this */

typedef struct tls_session {
    uint8_t id[32];     /* TLS 1.2 session id; TLS 1.3 server: the ticket we issued */
    uint8_t id_len;
    uint16_t version;
    uint16_t suite;
    bool ems;
    uint8_t master[48]; /* TLS 1.2 master secret; TLS 1.3 resumption PSK */
    uint8_t *peer_cert; /* DER of the peer's leaf, may be NULL */
    size_t peer_cert_len;
    uint8_t *ticket;    /* client: the ticket to present (TLS 1.3 PSK identity, RFC 5077 ticket) */
    size_t ticket_len;
    uint32_t lifetime_s; /* client: the ticket's lifetime (hint); 0: the cache's own */
    uint32_t age_add;   /* TLS 1.3 client: ticket_age_add */
    int64_t received_ms;
    int64_t created;    /* seconds, monotonic */
    char name[256];     /* client cache: the server name / address the session belongs to */
} tls_session;

typedef struct tls_session_cache {
    pthread_mutex_t lock;
    tls_session *slots; /* a small ring: newest replaces oldest */
    size_t n, next;
} tls_session_cache;

struct tls_config {
    _Atomic int refs;
    bool server;
    tls_options opts;     /* copy; string fields point into `strings` */
    char *strings;        /* owned copies of the option strings */
    size_t strings_len;
    unsigned versions;    /* TLS_VMASK_* effective */
    uint16_t min_version, max_version;
    uint16_t suites[TLS_MAX_SUITES];
    size_t n_suites;
    bool suites_named;    /* the user named suites: legacy ones allowed */
    tls_cred cred;
    X509_STORE *store;
    size_t n_cas;
    STACK_OF(X509_NAME) *ca_names; /* server: sent in CertificateRequest */
    EVP_PKEY *dh_params;  /* NULL: ffdhe2048 */
    char alpn[TLS_MAX_ALPN][256];
    size_t n_alpn;
    uint8_t alpn_wire[1024]; /* the ALPN extension's protocol list, prebuilt */
    size_t alpn_wire_len;
    tls_session_cache cache;
    tls_ticket_key ticket_key; /* server: seals RFC 5077 tickets */
};

/* The running handshake: private to the handshake layer (handshake.h). */
typedef struct tls_hs tls_hs;

struct tls_engine {
    tls_config *cfg;
    bool server;
    unsigned status;
    tls_error err;
    const char *server_name;      /* client: SNI + name checked; server: SNI received. "" when
                                   * none, else our own copy on the heap (never "" then) */

    uint16_t version;             /* negotiated, 0 before ServerHello */
    uint16_t rec_version;         /* the version written in outgoing record headers */
    const tls_suite *suite;

    /* network in: one record at a time */
    uint8_t *in;
    size_t in_off, in_len, in_cap; /* records start at in_off */
    size_t in_hwm;                 /* bytes of `in` ever written: what free must wipe */
    uint8_t *plain;               /* the current record's plaintext, inside in[] */
    size_t plain_len;
    size_t rec_total;             /* bytes of in[] the current record occupies */
    bool plain_is_app;

    /* network out */
    uint8_t *out;
    size_t out_off, out_len, out_cap;

    tls_rec_crypto rd, wr;             /* active protection */
    tls_rec_crypto rd_next, wr_next;   /* keys waiting for ChangeCipherSpec */
    bool rd_next_ready, wr_next_ready;

    tls_wr hsbuf;                 /* reassembly of handshake messages across records */
    tls_hs *hs;                   /* non-NULL while a handshake runs */
    bool connected_once;          /* a handshake has completed */
    bool reneg_requested;         /* we asked for a renegotiation */
    bool close_sent;
    bool eof_pending;             /* transport EOF seen, judged once the records before it are processed */

    /* facts of the session */
    uint8_t client_random[32], server_random[32];
    uint8_t master[48];
    uint8_t session_id[32];
    size_t session_id_len;
    bool ems, etm, secure_reneg, reused;
    uint8_t client_verify[36], server_verify[36]; /* the last Finished of each side (RFC 5746) */
    size_t verify_len;
    uint8_t *peer_cert;           /* leaf DER */
    size_t peer_cert_len;
    tls_bad_cert verify_result;
    const char *alpn;             /* "" or one of the config's protocol names (no copy) */
    /* TLS 1.3: application traffic secrets (KeyUpdate) and the read-key epoch */
    uint8_t c_ap[48], s_ap[48];
    uint8_t res_master[48];       /* resumption_master_secret, for tickets */
    unsigned rd_epoch;

    /* records that move nothing forward are counted, so a flood ends (alert.c) */
    unsigned warn_alerts;         /* warning alerts in a row */
    unsigned idle_records;        /* empty application data / dropped CCS records in a row */
    bool record_seen;             /* a record arrived: an SSLv2-compatible hello comes first or never */
    /* TLS 1.3 server: 0-RTT data we did not accept is being skipped (early_data.c) */
    bool skip_early_data;
    size_t early_skipped;         /* its bytes so far, against TLS_MAX_EARLY_DATA */
};

/* engine.c */
int tls_engine_fail(tls_engine *e, int code, int alert, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int tls_engine_fail_err(tls_engine *e, const tls_error *err); /* a failure already described */
bool tls_engine_send_record(tls_engine *e, uint8_t type, const uint8_t *data, size_t len);

/* A host name (SNI) is at most 255 bytes (RFC 6066 3 keeps it to DNS). */
#define TLS_MAX_SERVER_NAME 255
/* Sets e->server_name to a copy of name[0..len) (len > 0); false on no memory. */
bool tls_engine_set_server_name(tls_engine *e, const char *name, size_t len);
bool tls_engine_send_alert(tls_engine *e, uint8_t level, uint8_t desc);

/* alert.c: one received alert record; the counters of records without progress */
void tls_engine_handle_alert(tls_engine *e, const uint8_t *p, size_t len);
bool tls_engine_count_idle(tls_engine *e);     /* an empty record: false once too many in a row */
void tls_engine_note_progress(tls_engine *e);  /* handshake bytes or data arrived: counters restart */

/* sslv2hello.c: an SSLv2-compatible ClientHello as the server's first record
 * (RFC 5246 E.2). TLS_V2_NOT: not one, read p as a TLS record. TLS_V2_MORE:
 * wait for more bytes. TLS_V2_DONE: *used bytes were consumed (the hello went
 * to the handshake, or the engine failed). */
typedef enum { TLS_V2_NOT, TLS_V2_MORE, TLS_V2_DONE } tls_v2_result;
tls_v2_result tls_sslv2_hello(tls_engine *e, const uint8_t *p, size_t avail, size_t *used);

/* early_data.c. The handshake calls tls_engine_reject_early_data when a TLS
 * 1.3 ClientHello offers early data that the server does not accept: its
 * records are then skipped (RFC 8446 4.2.10), those that fail to open under
 * the handshake key, or after a HelloRetryRequest every application_data
 * record before the second ClientHello, up to TLS_MAX_EARLY_DATA bytes. */
void tls_engine_reject_early_data(tls_engine *e);
/* Before a record is opened: true if it was skipped as early data (or the
 * engine failed on the limit). */
bool tls_early_data_skip_plain(tls_engine *e, uint8_t type, size_t len);
/* After tls_rec_open returned `alert`: true if the record was skipped. */
bool tls_early_data_skip_failed(tls_engine *e, int alert, size_t len);

/* The handshake layer's entry points (handshake/dispatch.c): the only
 * functions core calls into it. */
int tls_hs_start(tls_engine *e);                 /* client: send ClientHello; server: wait for it */
int tls_hs_handle(tls_engine *e, uint8_t type, const uint8_t *body, size_t len,
                  const uint8_t *raw, size_t raw_len); /* one complete handshake message */
int tls_hs_handle_ccs(tls_engine *e);
int tls_hs_key_update(tls_engine *e, bool request_peer); /* TLS 1.3: new write keys */
bool tls_hs_awaiting_finished(const tls_hs *hs); /* between the peer's CCS and its Finished */
void tls_hs_free(tls_hs *hs);

/* session.c */
void tls_cache_init(tls_session_cache *c);
void tls_cache_free(tls_session_cache *c);
void tls_cache_put(tls_session_cache *c, const tls_session *s);
bool tls_cache_get_by_id(tls_session_cache *c, const uint8_t *id, size_t id_len, tls_session *out);
bool tls_cache_get_by_name(tls_session_cache *c, const char *name, tls_session *out);
void tls_cache_remove(tls_session_cache *c, const uint8_t *id, size_t id_len);
void tls_session_wipe(tls_session *s);
int64_t tls_now_ms(void);

/* handshake message types */
enum {
    TLS_HS_HELLO_REQUEST = 0,
    TLS_HS_CLIENT_HELLO = 1,
    TLS_HS_SERVER_HELLO = 2,
    TLS_HS_NEW_SESSION_TICKET = 4,
    TLS_HS_CERTIFICATE = 11,
    TLS_HS_SERVER_KEY_EXCHANGE = 12,
    TLS_HS_CERTIFICATE_REQUEST = 13,
    TLS_HS_SERVER_HELLO_DONE = 14,
    TLS_HS_CERTIFICATE_VERIFY = 15,
    TLS_HS_CLIENT_KEY_EXCHANGE = 16,
    TLS_HS_FINISHED = 20,
    TLS_HS_END_OF_EARLY_DATA = 5,
    TLS_HS_ENCRYPTED_EXTENSIONS = 8,
    TLS_HS_KEY_UPDATE = 24,
    TLS_HS_MESSAGE_HASH = 254,
};
enum { TLS_CT_CCS = 20, TLS_CT_ALERT = 21, TLS_CT_HANDSHAKE = 22, TLS_CT_APPDATA = 23 };
#endif
