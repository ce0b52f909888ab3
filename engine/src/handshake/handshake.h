/* The handshake layer's private header: its state, the parsed ClientHello,
 * the extension table's interface and what each file offers the others.
 * Core sees only the entry functions of engine.h (tls_hs is opaque there).
 *
 * Files, and who may call whom (no cycles; core <-> dispatch is the entry):
 *   dispatch    state tables, FLIGHTS, start/handle/finish    -> all below
 *   hello       ClientHello build + parse, version fork       -> client12/13,
 *                                                                server12/13
 *   client12 server12 client13 server13                       -> post13,
 *   post13      NewSessionTicket, KeyUpdate                      ticket12,
 *   ticket12    RFC 5077 tickets (TLS <= 1.2), both roles        common13,
 *   common13    TLS 1.3 key schedule steps, Finished, binder     certificate,
 *   certificate Certificate/CertificateVerify, peer chain       extensions,
 *   extensions  one table, every extension loop                  negotiate,
 *   negotiate   groups (tls_hs_pick_group), schemes, suites      transcript
 *   transcript  framing, CCS/Finished, TLS <= 1.2 keys
 * (each file calls only files listed below it) */
#ifndef TLS_HANDSHAKE_H
#define TLS_HANDSHAKE_H

#include "engine.h"
#include "groups.h"

/* the one way the handshake fails with an alert */
#define FAIL(e, alert, ...) tls_engine_fail((e), TLS_E_ALERT_SENT, (alert), __VA_ARGS__)

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

/* handshake progress; one state expects one message (or CCS) */
typedef enum {
    HS_NONE,
    /* client */
    HS_C_WAIT_SH,
    HS_C_WAIT_CERT,
    HS_C_WAIT_SKE,        /* or CertificateRequest / ServerHelloDone for RSA kx */
    HS_C_WAIT_CR_OR_SHD,
    HS_C_WAIT_SHD,
    HS_C_WAIT_NST,        /* the server acknowledged session_ticket: NewSessionTicket before its CCS */
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
    HS_DONE,              /* set by the last handler; dispatch then finishes */
} tls_hs_state;

/* A parsed ClientHello (server side), shared by the TLS 1.2 and 1.3 paths.
 * Lists stay in the message (tls_rd) and are scanned, never copied, so a
 * hello of any size parses; it lives as long as the handler runs. */
typedef struct tls_client_hello {
    uint16_t version;        /* legacy_version */
    uint8_t random[32];
    tls_rd session_id;
    tls_rd suites;           /* cipher_suites, SCSVs included */
    size_t n_suites;         /* real suites (SCSVs not counted) */
    bool scsv_reneg, scsv_fallback;
    bool has_reneg_ext;
    tls_rd reneg_ext;
    bool ecdhe_uncompressed; /* point formats: absent or includes uncompressed */
    tls_rd alpn;
    bool has_alpn;
    bool has_versions, has_key_share, has_cookie, has_psk, has_early_data, has_psk_modes;
    tls_rd versions, key_share, cookie, psk, psk_modes;
    bool has_ticket_ext;     /* session_ticket (RFC 5077): empty asks for one */
    bool has_sigalgs_cert;   /* signature_algorithms_cert (RFC 8446 4.2.3) */
    tls_rd ticket;
} tls_client_hello;

/* The messages an extension may appear in (RFC 8446 4.2's table). */
typedef enum {
    EXT_IN_CH = 1u << 0,   /* ClientHello, any version */
    EXT_IN_SH = 1u << 1,   /* ServerHello, TLS <= 1.2 */
    EXT_IN_SH13 = 1u << 2, /* ServerHello, TLS 1.3 */
    EXT_IN_HRR = 1u << 3,  /* HelloRetryRequest */
    EXT_IN_EE = 1u << 4,   /* EncryptedExtensions */
    EXT_IN_CT = 1u << 5,   /* a TLS 1.3 Certificate entry */
    EXT_IN_CR = 1u << 6,   /* TLS 1.3 CertificateRequest */
    EXT_IN_NST = 1u << 7,  /* TLS 1.3 NewSessionTicket */
} tls_ext_msg;

/* What the extensions of a received server message said (client side). */
typedef struct tls_ext_in {
    bool has_version;
    uint16_t version;        /* SH13/HRR supported_versions.selected_version */
    bool has_share;
    uint16_t group;          /* SH13/HRR key_share */
    tls_rd share;            /* SH13 key_exchange */
    bool has_psk;
    uint16_t psk_identity;   /* SH13 pre_shared_key.selected_identity */
    bool reneg, ems, etm, sigalgs;
    bool ticket;             /* SH: session_ticket, a NewSessionTicket will follow */
} tls_ext_in;

#define TLS_HS_TRACE_MAX 16
#define TLS_HS_MAX_PEER_SIGALGS 64
#define TLS_HS_MAX_PEER_GROUPS 32

/* What exists only while a handshake runs; freed (and wiped) after it. */
struct tls_hs {
    tls_hs_state state;
    tls_wr transcript;      /* every handshake message so far, the current one included */
    size_t before;          /* transcript length before the current message */
    bool ccs_received;      /* between the peer's ChangeCipherSpec and Finished */
    bool resuming;
    uint16_t client_version;      /* ClientHello.client_version */
    uint16_t peer_sigalgs[TLS_HS_MAX_PEER_SIGALGS]; /* the peer's schemes we know, its order */
    size_t n_peer_sigalgs;
    bool peer_sent_sigalgs;
    uint16_t peer_groups[TLS_HS_MAX_PEER_GROUPS];   /* the peer's groups we support, its order */
    size_t n_peer_groups;
    bool peer_sent_groups;
    bool peer_ffdhe;              /* the peer named a finite-field group (RFC 7919), known or not */
    bool peer_ems, peer_etm;
    uint32_t ext_offered;         /* rows of the extension table: client: sent in
                                   * the ClientHello; server: found in it */
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
    bool resume_ticket;           /* client: hs->resume.ticket is offered (RFC 5077) */
    bool ticket_expected;         /* a TLS 1.2 NewSessionTicket is part of this handshake */
    uint8_t *new_ticket;          /* client: the ticket the server just issued */
    size_t new_ticket_len;
    uint32_t new_ticket_lifetime;
    bool new_ticket_received;
    bool client_sent_cert;
    /* client: what the ClientHello being built offers */
    uint16_t ch_max;              /* legacy_version: the best TLS <= 1.2 */
    bool ch_offer13, ch_ecdhe, ch_cbc;
    size_t binders_at;            /* where the PSK binders start in the ClientHello body */
    bool hrr_pending;             /* client: a HelloRetryRequest asks for a new ClientHello */
    /* TLS 1.3 */
    bool tls13;
    bool hrr;                      /* a HelloRetryRequest was sent / received */
    uint8_t key_share[TLS_GROUP_MAX_SHARE]; /* our public share (ffdhe8192: 1024 bytes) */
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
    /* every handshake message so far: type | 0x80 when the server sent it */
    uint8_t trace[TLS_HS_TRACE_MAX];
    size_t n_trace;
};

/* The state machines are tables (dispatch.c): in state S, message type T
 * goes to handler F; anything else is an unexpected_message. */
typedef int (*tls_hs_handler)(tls_engine *e, tls_rd *msg);

/* transcript.c */
bool tls_hs_send_msg(tls_engine *e, uint8_t type, const tls_wr *body);
bool tls_hs_send_built(tls_engine *e, uint8_t type, tls_wr *w); /* and frees w */
void tls_hs_trace(tls_hs *hs, uint8_t type, bool from_server);
int tls_hs_derive_keys(tls_engine *e);           /* master secret known: make the pending states */
bool tls_hs_send_ccs_finished(tls_engine *e);
int tls_hs_check_finished(tls_engine *e, const uint8_t *body, size_t len);
int tls_hs_compute_master(tls_engine *e);        /* pms -> master (EMS-aware), keylog */
void tls_hs_keylog(tls_engine *e);
bool tls_hs_transcript_to_message_hash(tls_engine *e, size_t ch1_len); /* RFC 8446 4.4.1 */
void tls_hs_take_resumed_peer_cert(tls_engine *e);  /* the resumed session's peer certificate */

/* negotiate.c */
bool tls_hs_listed(const uint16_t *list, size_t n, uint16_t v);
int tls_hs_read_sigalgs(tls_engine *e, tls_rd list);            /* into hs->peer_sigalgs */
void tls_hs_put_list16(tls_wr *w, const uint16_t *v, size_t n); /* a <2..2^16-2> list */
void tls_hs_put_sigalgs(const tls_engine *e, tls_wr *w);        /* our schemes, as a list */
bool tls_ch_offers_suite(const tls_client_hello *ch, uint16_t id);
size_t tls_hs_groups(const tls_engine *e, uint16_t *out, size_t cap); /* ours, best first */
bool tls_hs_group_ours(const tls_engine *e, uint16_t group);
uint16_t tls_hs_pick_group(const tls_engine *e, uint16_t version, tls_rd shares, bool *have_share);
bool tls_hs_find_share(tls_rd shares, uint16_t group, tls_rd *out);

/* extensions.c */
int tls_ext_parse_client_hello(tls_engine *e, tls_rd block, tls_client_hello *ch);
int tls_ext_parse(tls_engine *e, tls_ext_msg msg, tls_rd block, tls_ext_in *in);
int tls_ext_write(tls_engine *e, tls_ext_msg msg, tls_wr *w); /* the block, with its length */
bool tls_ext_find(tls_rd block, uint16_t type, tls_rd *body);
void tls_ext_mark_offered(tls_hs *hs, uint16_t type);            /* an offer made another way (SCSV) */

/* certificate.c */
bool tls_kx_fits_key(tls_kx kx, EVP_PKEY *key);
int tls_hs_read_signature(tls_engine *e, tls_rd *r, const char *what, uint16_t *scheme, tls_rd *sig);
bool tls_hs_send_certificate12(tls_engine *e, bool with_chain);
int tls_hs_parse_certificate(tls_engine *e, const uint8_t *body, size_t len);
int tls_hs_parse_certificate13(tls_engine *e, tls_rd *r, const uint8_t *want_ctx, size_t want_len);
int tls_hs_verify_peer(tls_engine *e);           /* peer chain -> verify_fun; fails the engine */
int tls_hs_send_certificate13(tls_engine *e, bool server, const uint8_t *context, size_t ctx_len);
int tls13_certificate_verify_in(tls_engine *e, tls_rd *r); /* the peer's, either role */
int tls_hs_no_client_certificate(tls_engine *e, int alert); /* fail_if_no_peer_cert */

/* common13.c: TLS 1.3 steps both roles take */
extern const uint8_t tls13_hrr_random[32];
bool tls13_set_read(tls_engine *e, const uint8_t *secret);
bool tls13_set_write(tls_engine *e, const uint8_t *secret);
int tls13_derive_handshake_secrets(tls_engine *e);
int tls13_derive_app_secrets(tls_engine *e);
bool tls13_derive_res_master(tls_engine *e);
bool tls13_send_finished(tls_engine *e, const uint8_t *base_key);
int tls13_check_finished(tls_engine *e, const uint8_t *base_key, tls_rd *r);
bool tls13_psk_binder(tls_hash_id h, const uint8_t *psk, const uint8_t *transcript, size_t len, uint8_t *out);

/* hello.c: ClientHello both ways, and the version fork */
int tls_hs_client_start(tls_engine *e);
int tls_hs_client_hello(tls_engine *e, tls_rd *r);   /* server: first ClientHello */
int tls_hs_client_hello2(tls_engine *e, tls_rd *r);  /* server: after HelloRetryRequest */
int tls_hs_server_hello(tls_engine *e, tls_rd *r);   /* client */

/* The fixed fields of a ServerHello, read by hello.c for both versions. */
typedef struct tls_server_hello {
    uint16_t version;
    uint8_t random[32];
    tls_rd session_id;
    uint16_t suite;
    uint8_t compression;
    tls_rd exts;
} tls_server_hello;

/* client12.c */
int tls12_client_server_hello(tls_engine *e, const tls_server_hello *sh);
int tls12_client_certificate(tls_engine *e, tls_rd *r);
int tls12_client_key_exchange_in(tls_engine *e, tls_rd *r);  /* ServerKeyExchange */
int tls12_client_certificate_request(tls_engine *e, tls_rd *r);
int tls12_client_hello_done(tls_engine *e, tls_rd *r);
int tls12_client_finished(tls_engine *e, tls_rd *r);

/* server12.c */
int tls12_server_start(tls_engine *e, const tls_client_hello *ch, uint16_t version);
int tls12_server_certificate(tls_engine *e, tls_rd *r);
int tls12_server_key_exchange_without_cert(tls_engine *e, tls_rd *r);
int tls12_server_key_exchange_in(tls_engine *e, tls_rd *r);  /* ClientKeyExchange */
int tls12_server_certificate_verify(tls_engine *e, tls_rd *r);
int tls12_server_finished(tls_engine *e, tls_rd *r);

/* ticket12.c: RFC 5077 session tickets (TLS <= 1.2) */
bool tls12_server_issues_ticket(const tls_engine *e, const tls_client_hello *ch);
int tls12_send_new_session_ticket(tls_engine *e);
bool tls12_server_open_ticket(tls_engine *e, const tls_client_hello *ch); /* into hs->resume */
int tls12_client_offer_ticket(tls_engine *e);    /* a stored ticket, with a random session id */
int tls12_client_new_session_ticket(tls_engine *e, tls_rd *r);

/* client13.c */
int tls13_client_server_hello(tls_engine *e, const tls_server_hello *sh);
int tls13_client_encrypted_extensions(tls_engine *e, tls_rd *r);
int tls13_client_certificate_request(tls_engine *e, tls_rd *r);
int tls13_client_certificate(tls_engine *e, tls_rd *r);
int tls13_client_finished(tls_engine *e, tls_rd *r);

/* server13.c */
int tls13_server_start(tls_engine *e, tls_client_hello *ch);
int tls13_server_client_hello2(tls_engine *e, tls_client_hello *ch);
int tls13_server_certificate(tls_engine *e, tls_rd *r);
int tls13_server_finished_without_cert(tls_engine *e, tls_rd *r);
int tls13_server_finished(tls_engine *e, tls_rd *r);

/* post13.c */
int tls13_post_handshake(tls_engine *e, uint8_t type, tls_rd *msg);
int tls13_key_update(tls_engine *e, bool request_peer);
int tls13_send_ticket(tls_engine *e);

#endif
