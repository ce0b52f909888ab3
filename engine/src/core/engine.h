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

/* handshake progress; one state expects one message (or CCS) */
typedef enum {
    HS_NONE,
    /* client */
    HS_C_WAIT_SH,
    HS_C_WAIT_CERT,
    HS_C_WAIT_SKE,        /* or CertificateRequest / ServerHelloDone for RSA kx */
    HS_C_WAIT_CR_OR_SHD,
    HS_C_WAIT_SHD,
    HS_C_WAIT_CCS,
    HS_C_WAIT_FINISHED,
    /* server */
    HS_S_WAIT_CH,
    HS_S_WAIT_CERT,
    HS_S_WAIT_CKE,
    HS_S_WAIT_CV,
    HS_S_WAIT_CCS,
    HS_S_WAIT_FINISHED,
    /* TLS 1.3 client */
    HS13_C_WAIT_EE,
    HS13_C_WAIT_CERT_CR,
    HS13_C_WAIT_CERT,
    HS13_C_WAIT_CV,
    HS13_C_WAIT_FINISHED,
    /* TLS 1.3 server */
    HS13_S_WAIT_CH2,
    HS13_S_WAIT_CERT,
    HS13_S_WAIT_CV,
    HS13_S_WAIT_FINISHED,
    HS_DONE,
} tls_hs_state;

/* A parsed ClientHello (server side), shared by the TLS 1.2 and 1.3 paths. */
typedef struct tls_client_hello {
    uint16_t version;
    uint8_t random[32];
    tls_rd session_id;
    uint16_t suites[256];
    size_t n_suites;
    bool scsv_reneg, scsv_fallback;
    bool has_reneg_ext;
    tls_rd reneg_ext;
    bool ecdhe_uncompressed; /* point formats: absent or includes uncompressed */
    tls_rd alpn;
    bool has_alpn;
    bool has_versions, has_key_share, has_cookie, has_psk, has_early_data, has_psk_modes;
    tls_rd versions, key_share, cookie, psk, psk_modes;
} tls_client_hello;

/* What exists only while a handshake runs; freed (and wiped) after it. */
typedef struct tls_hs {
    tls_hs_state state;
    tls_wr transcript;      /* every handshake message so far, the current one included */
    size_t before;          /* transcript length before the current message */
    bool ccs_received;      /* between the peer's ChangeCipherSpec and Finished */
    bool resuming;
    bool full_after_resume_offer;
    uint16_t client_version;      /* ClientHello.client_version */
    uint16_t peer_sigalgs[64];
    size_t n_peer_sigalgs;
    bool peer_sent_sigalgs;
    uint16_t peer_groups[32];
    size_t n_peer_groups;
    bool peer_sent_groups;
    bool peer_ems, peer_etm, peer_reneg_info;
    bool cert_requested;          /* client: the server asked; server: we asked */
    uint8_t cert_types[8];        /* client: types the server accepts */
    size_t n_cert_types;
    uint16_t group;               /* ECDHE group chosen */
    EVP_PKEY *eph;                /* our ephemeral key */
    EVP_PKEY *peer_key;           /* the peer leaf's public key */
    uint8_t *peer_ske;            /* client: server's DH/ECDH public value */
    size_t peer_ske_len;
    uint8_t *dh_p, *dh_g;         /* client: server's DH group */
    size_t dh_p_len, dh_g_len;
    uint8_t pms[1024];            /* premaster secret (DH secrets up to 8192 bits) */
    size_t pms_len;
    uint8_t **peer_chain;         /* DER certificates, leaf first */
    size_t *peer_chain_len;
    size_t n_peer_chain;
    uint8_t offered_session[32];  /* client: the id we offered */
    size_t offered_session_len;
    tls_session resume;           /* client: the session offered; server: the one found */
    bool have_resume;
    bool client_sent_cert;
    uint16_t cv_scheme;
    /* TLS 1.3 */
    bool tls13;
    bool hrr;                      /* a HelloRetryRequest was sent / received */
    uint8_t key_share[160];        /* our public share */
    size_t key_share_len;
    uint8_t legacy_session_id[32]; /* client: sent; server: echoed */
    size_t legacy_session_id_len;
    uint8_t cookie[256];           /* client: HRR cookie to echo */
    size_t cookie_len;
    uint8_t hs_secret[48], c_hs[48], s_hs[48], master13[48];
    uint8_t cr_context[255];       /* client: CertificateRequest context to echo */
    size_t cr_context_len;
    uint8_t psk[48];               /* resumption PSK offered (client) / accepted (server) */
    bool psk_offered, psk_accepted;
    bool compat_ccs_sent;          /* server: the one middlebox-compatibility CCS */
} tls_hs;

struct tls_engine {
    tls_config *cfg;
    bool server;
    unsigned status;
    tls_error err;
    char server_name[256];        /* client: SNI + name checked; server: SNI received */

    uint16_t version;             /* negotiated, 0 before ServerHello */
    uint16_t rec_version;         /* the version written in outgoing record headers */
    const tls_suite *suite;

    /* network in: one record at a time */
    uint8_t *in;
    size_t in_off, in_len, in_cap; /* records start at in_off */
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
    char alpn[256];
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

/* hs_common.c */
int tls_hs_start(tls_engine *e);                 /* client: send ClientHello; server: wait for it */
int tls_hs_handle(tls_engine *e, uint8_t type, const uint8_t *body, size_t len,
                  const uint8_t *raw, size_t raw_len); /* one complete handshake message */
int tls_hs_handle_ccs(tls_engine *e);
bool tls_hs_send_msg(tls_engine *e, uint8_t type, const tls_wr *body);
int tls_hs_derive_keys(tls_engine *e);           /* master secret known: make the pending states */
bool tls_hs_send_ccs_finished(tls_engine *e);
int tls_hs_check_finished(tls_engine *e, const uint8_t *body, size_t len);
void tls_hs_done(tls_engine *e);
void tls_hs_free(tls_hs *hs);
int tls_hs_compute_master(tls_engine *e);        /* pms -> master (EMS-aware), keylog */
void tls_hs_keylog(tls_engine *e);
int tls_hs_verify_peer(tls_engine *e);           /* peer chain -> verify_fun; fails the engine */
int tls_hs_parse_certificate(tls_engine *e, const uint8_t *body, size_t len);

/* The handshake state machines are tables: in state S, message type T goes
 * to handler F. Anything else is an unexpected_message (s2n-tls's shape). */
typedef int (*tls_hs_handler)(tls_engine *e, tls_rd *msg);
typedef struct tls_hs_transition {
    tls_hs_state state;
    uint8_t type;
    tls_hs_handler handler;
} tls_hs_transition;
extern const tls_hs_transition tls_client12_table[], tls_server12_table[];
extern const tls_hs_transition tls_client13_table[], tls_server13_table[];
extern const size_t tls_client12_table_len, tls_server12_table_len;
extern const size_t tls_client13_table_len, tls_server13_table_len;

/* shared by the roles and versions (hs_common.c) */
bool tls_kx_fits_key(tls_kx kx, EVP_PKEY *key);
int tls_hs_read_signature(tls_engine *e, tls_rd *r, const char *what, uint16_t *scheme, tls_rd *sig);
bool tls_hs_send_certificate12(tls_engine *e, bool with_chain);
int tls_hs_accept_alpn(tls_engine *e, tls_rd *body); /* the server's choice, in SH or EE */

/* hs_client.c / hs_server.c */
int tls_client_start(tls_engine *e);

/* hs13.c: TLS 1.3 */
int tls13_client_hello_extensions(tls_engine *e, tls_wr *w); /* supported_versions + key_share */
int tls13_client_server_hello(tls_engine *e, tls_rd *r, const uint8_t random[32], tls_rd sid,
                              uint16_t suite_id, tls_rd exts);
int tls13_server_start(tls_engine *e, tls_client_hello *ch);
int tls_server_parse_hello(tls_engine *e, tls_rd *r, tls_client_hello *ch);
int tls13_post_handshake(tls_engine *e, uint8_t type, tls_rd *msg);
int tls13_key_update(tls_engine *e, bool request_peer);
int tls13_client_psk_extension(tls_engine *e, tls_wr *w, size_t *binders_at);
bool tls13_client_fill_binder(tls_engine *e, tls_wr *body, size_t binders_at);
int64_t tls_now_ms(void);
int tls_client_send_hello(tls_engine *e);

/* session.c */
void tls_cache_init(tls_session_cache *c);
void tls_cache_free(tls_session_cache *c);
void tls_cache_put(tls_session_cache *c, const tls_session *s);
bool tls_cache_get_by_id(tls_session_cache *c, const uint8_t *id, size_t id_len, tls_session *out);
bool tls_cache_get_by_name(tls_session_cache *c, const char *name, tls_session *out);
void tls_cache_remove(tls_session_cache *c, const uint8_t *id, size_t id_len);
void tls_session_wipe(tls_session *s);

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
enum {
    TLS_EXT_SERVER_NAME = 0,
    TLS_EXT_SUPPORTED_GROUPS = 10,
    TLS_EXT_EC_POINT_FORMATS = 11,
    TLS_EXT_SIGNATURE_ALGORITHMS = 13,
    TLS_EXT_ALPN = 16,
    TLS_EXT_ENCRYPT_THEN_MAC = 22,
    TLS_EXT_EXTENDED_MASTER_SECRET = 23,
    TLS_EXT_SESSION_TICKET = 35,
    TLS_EXT_PRE_SHARED_KEY = 41,
    TLS_EXT_EARLY_DATA = 42,
    TLS_EXT_SUPPORTED_VERSIONS = 43,
    TLS_EXT_COOKIE = 44,
    TLS_EXT_PSK_KEY_EXCHANGE_MODES = 45,
    TLS_EXT_CERTIFICATE_AUTHORITIES = 47,
    TLS_EXT_POST_HANDSHAKE_AUTH = 49,
    TLS_EXT_SIGNATURE_ALGORITHMS_CERT = 50,
    TLS_EXT_KEY_SHARE = 51,
    TLS_EXT_RENEGOTIATION_INFO = 0xff01,
};
#define TLS_SCSV_RENEGOTIATION 0x00ff
#define TLS_SCSV_FALLBACK 0x5600

#endif
