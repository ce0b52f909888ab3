/* tlsengine: a TLS engine whose API follows the Erlang/OTP ssl module.
 *
 * This header is the sans-I/O core: versions, errors, cipher suites,
 * certificate verification, options, the loaded configuration and the
 * connection engine (tls_engine_*): bytes in, bytes out, plaintext in and
 * out, no syscalls, so two engines can be joined in memory.
 *
 * The Erlang/OTP-style socket API over it (tls_connect, tls_listen,
 * tls_recv, active mode, ...) is in tlsengine_socket.h.
 *
 * Every function that can fail returns 0 on success or a negative TLS_E_*
 * code, and fills a tls_error when one is passed; tls_format_error() turns
 * it into a sentence. */
#ifndef TLSENGINE_H
#define TLSENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define TLS_API __attribute__((visibility("default")))
#else
#define TLS_API
#endif

/* ---- protocol versions (wire values) ---------------------------------- */
enum {
    TLS_SSL3 = 0x0300,
    TLS_TLS10 = 0x0301,
    TLS_TLS11 = 0x0302,
    TLS_TLS12 = 0x0303,
    TLS_TLS13 = 0x0304,
};
/* version sets are bitmasks of these */
enum {
    TLS_VMASK_SSL3 = 1u << 0,
    TLS_VMASK_TLS10 = 1u << 1,
    TLS_VMASK_TLS11 = 1u << 2,
    TLS_VMASK_TLS12 = 1u << 3,
    TLS_VMASK_TLS13 = 1u << 4,
};

/* ---- errors ------------------------------------------------------------ */
enum {
    TLS_OK = 0,
    TLS_E_CLOSED = -1,        /* the connection is closed ({error, closed}) */
    TLS_E_TIMEOUT = -2,       /* {error, timeout} */
    TLS_E_BADARG = -3,        /* an API argument or option is invalid */
    TLS_E_NOMEM = -4,
    TLS_E_SYSCALL = -5,       /* the transport failed; tls_error.sys_errno says why */
    TLS_E_CONFIG = -6,        /* an option could not be used (file missing, bad key, wrong password) */
    TLS_E_ALERT_SENT = -7,    /* we detected a fault and sent tls_error.alert */
    TLS_E_ALERT_RECEIVED = -8,/* the peer sent a fatal alert tls_error.alert */
    TLS_E_BAD_CERT = -9,      /* certificate verification failed: tls_error.bad_cert */
    TLS_E_RENEG_REJECTED = -10,/* {error, renegotiation_rejected} */
    TLS_E_WOULDBLOCK = -11,   /* sans-I/O: needs more input or output room */
    TLS_E_STATE = -12,        /* call not valid in this state */
    TLS_E_INTERNAL = -13,
    TLS_E_MSGSIZE = -14,      /* {error, emsgsize}: a framed message over packet_size or its prefix */
};

/* The Erlang/OTP ssl module's bad_cert reasons, plus hostname_check_failed. */
typedef enum tls_bad_cert {
    TLS_BAD_CERT_NONE = 0,
    TLS_BAD_CERT_CERT_EXPIRED,          /* also "not yet valid" (OTP maps both to cert_expired) */
    TLS_BAD_CERT_INVALID_ISSUER,
    TLS_BAD_CERT_INVALID_SIGNATURE,
    TLS_BAD_CERT_UNKNOWN_CA,
    TLS_BAD_CERT_NAME_NOT_PERMITTED,
    TLS_BAD_CERT_MISSING_BASIC_CONSTRAINT,
    TLS_BAD_CERT_INVALID_KEY_USAGE,
    TLS_BAD_CERT_HOSTNAME_CHECK_FAILED,
    TLS_BAD_CERT_MAX_PATH_LENGTH,       /* chain longer than `depth` allows */
    TLS_BAD_CERT_NO_PEER_CERT,          /* fail_if_no_peer_cert and none sent */
    TLS_BAD_CERT_USER,                  /* verify_fun returned fail with its own reason */
    TLS_BAD_CERT_UNKNOWN_CRITICAL_EXTENSION, /* nobody understood a critical extension (OTP's name) */
    TLS_BAD_CERT_SECURITY_LEVEL,        /* a key or signature too weak for security_level */
} tls_bad_cert;

typedef struct tls_error {
    int code;               /* TLS_E_* */
    int alert;              /* alert description sent or received, -1 if none */
    tls_bad_cert bad_cert;  /* for TLS_E_BAD_CERT */
    int sys_errno;          /* for TLS_E_SYSCALL */
    char detail[200];       /* what and where, e.g. "certfile /x.pem: no such file" */
} tls_error;

/* Writes a sentence describing the error into buf (always NUL-terminated)
 * and returns buf. */
TLS_API const char *tls_format_error(const tls_error *e, char *buf, size_t len);
TLS_API const char *tls_alert_name(int alert);             /* "handshake_failure" */
TLS_API const char *tls_bad_cert_name(tls_bad_cert reason); /* "cert_expired" */

/* ---- cipher suites ----------------------------------------------------- */
typedef struct tls_suite_info {
    uint16_t id;               /* IANA value */
    const char *iana_name;     /* TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 */
    const char *openssl_name;  /* ECDHE-RSA-AES128-GCM-SHA256 */
    const char *kx;            /* erlang triple: rsa | dhe_rsa | dhe_dss | ecdhe_rsa | ecdhe_ecdsa | any */
    const char *cipher;        /* rc4_128 | des_cbc | '3des_ede_cbc' | aes_128_cbc | ... */
    const char *hash;          /* md5 | sha | sha256 | sha384 | aead */
} tls_suite_info;

typedef enum { TLS_SUITES_ERLANG, TLS_SUITES_OPENSSL, TLS_SUITES_IANA } tls_suite_format;

/* cipher_suites(Type): every suite the engine implements, best first.
 * Returns the count; fills up to `max` entries of `out` (may be NULL). */
TLS_API size_t tls_cipher_suites(const tls_suite_info **out, size_t max);
/* One suite formatted the Erlang way, "{rsa,aes_128_cbc,sha}", or by its OpenSSL or IANA name. */
TLS_API const char *tls_suite_format_name(const tls_suite_info *s, tls_suite_format fmt,
                                          char *buf, size_t len);
TLS_API const tls_suite_info *tls_suite_lookup(uint16_t id);

/* versions(): application version, supported (default) and available protocols. */
typedef struct tls_versions_info {
    const char *app_version;  /* "tlsengine 0.1.0" */
    unsigned supported;       /* TLS_VMASK_* enabled by default */
    unsigned available;       /* TLS_VMASK_* the engine implements */
} tls_versions_info;
TLS_API void tls_versions(tls_versions_info *out);
TLS_API const char *tls_version_name(uint16_t version); /* "tlsv1.2", "sslv3" */
/* Parses "sslv3, tlsv1, tlsv1.1, tlsv1.2, tlsv1.3" into a mask; TLS_E_BADARG on error. */
TLS_API int tls_parse_versions(const char *list, unsigned *mask, tls_error *err);

/* ---- certificate verification (the Erlang/OTP ssl module's verify_fun) -- */
typedef enum { TLS_VERIFY_NONE = 0, TLS_VERIFY_PEER = 1 } tls_verify_type;

typedef enum {
    TLS_EVENT_BAD_CERT,   /* {bad_cert, Reason} */
    TLS_EVENT_EXTENSION,  /* {extension, Ext}: an extension the engine does not handle */
    TLS_EVENT_VALID,      /* valid: an intermediate/CA certificate passed */
    TLS_EVENT_VALID_PEER, /* valid: the peer (leaf) certificate passed */
} tls_event_kind;

typedef struct tls_verify_event {
    tls_event_kind kind;
    tls_bad_cert reason;       /* TLS_EVENT_BAD_CERT */
    const char *ext_oid;       /* TLS_EVENT_EXTENSION: dotted OID */
    bool ext_critical;
    const uint8_t *ext_der;    /* extension value (DER) */
    size_t ext_len;
} tls_verify_event;

typedef enum { TLS_VF_VALID, TLS_VF_FAIL, TLS_VF_UNKNOWN } tls_verify_result;

/* Called for each certificate of the path (CA first, peer last) and each
 * event, as the Erlang/OTP ssl module's fun(OtpCert, Event, UserState).
 * `user_state` is the `verify_fun_state` pointer of the options; the fun may
 * update what it points to. On TLS_VF_FAIL, *fail_reason says why (defaults to the event's). */
typedef tls_verify_result (*tls_verify_fun)(const uint8_t *cert_der, size_t cert_len, int depth,
                                            const tls_verify_event *event, void *user_state,
                                            tls_bad_cert *fail_reason);

/* The Erlang/OTP ssl module's two default funs (verify_peer, verify_none). */
TLS_API tls_verify_result tls_verify_fun_default_peer(const uint8_t *, size_t, int,
                                                      const tls_verify_event *, void *,
                                                      tls_bad_cert *);
TLS_API tls_verify_result tls_verify_fun_default_none(const uint8_t *, size_t, int,
                                                      const tls_verify_event *, void *,
                                                      tls_bad_cert *);

/* reuse_session: fun(SuggestedSessionId, PeerCert, Compression, CipherSuite) -> boolean() */
typedef bool (*tls_reuse_session_fun)(const uint8_t *session_id, size_t id_len,
                                      const uint8_t *peer_cert_der, size_t cert_len,
                                      int compression, const tls_suite_info *suite, void *arg);

/* The socket API's transport vtable (tlsengine_socket.h); the core never
 * calls it, so here it is only a name for tls_options.transport. */
typedef struct tls_transport tls_transport;

/* ---- options: the Erlang/OTP ssl module's ssloption() -------------------- */
typedef struct tls_options {
    tls_verify_type verify;          /* default verify_none (as OTP); the shim defaults to peer */
    tls_verify_fun verify_fun;       /* NULL: OTP's default fun for `verify` */
    void *verify_fun_state;
    bool fail_if_no_peer_cert;
    int depth;                       /* 0..100, default 1: how many intermediate CAs may stand
                                      * between the peer and the trusted CA, as the Erlang/OTP
                                      * ssl module and OpenSSL's -verify_depth count (peer = 0,
                                      * CA = 1, ...; the trusted CA is not counted). 0: the
                                      * peer must be signed by a trusted CA directly */
    int security_level;              /* 0..5 as OpenSSL's, default 2 (tls_options_init): the
                                      * peer's chain (keys, signatures), our own certificate
                                      * and key, and dh/dhfile must reach 80, 112, 128, 192,
                                      * 256 bits of security at levels 1..5 (level 2: no MD5 or
                                      * SHA-1 signatures, RSA/DSA/DH >= 2048 bits, EC >= 224);
                                      * 0 accepts anything. A peer below it: {bad_cert,
                                      * security_level}; our own: TLS_E_CONFIG. Groups and
                                      * TLS 1.2/1.3 signature schemes below it are neither
                                      * offered nor accepted (SHA-1: level 0 only) */
    const uint8_t *cert; size_t cert_len;     /* DER; overrides certfile */
    const char *certfile;            /* PEM, leaf first then chain */
    const uint8_t *key; size_t key_len;       /* DER; overrides keyfile */
    const char *keyfile;             /* defaults to certfile */
    const char *password;
    const uint8_t *const *cacerts; const size_t *cacerts_len; size_t n_cacerts; /* DER; override cacertfile */
    const char *cacertfile;          /* neither, with verify_peer: the system's trust store
                                      * (OpenSSL's default paths; SSL_CERT_FILE, SSL_CERT_DIR) */
    const uint8_t *dh; size_t dh_len;         /* DER DH params; overrides dhfile */
    const char *dhfile;
    const char *ciphers;             /* OpenSSL ':'-list, IANA names, or erlang triples; NULL: defaults */
    const uint16_t *cipher_ids; size_t n_cipher_ids; /* ciphers() as a list; overrides `ciphers` */
    unsigned versions;               /* TLS_VMASK_*; 0: defaults (TLS 1.2, 1.3) */
    int ssl_imp;                     /* new (0) | old (1): accepted, same engine; else TLS_E_BADARG */
    bool secure_renegotiate;         /* default true: no renegotiation with a peer without RFC 5746
                                      * (the first handshake goes ahead). A departure from the
                                      * Erlang/OTP reference, whose default false falls back to
                                      * insecure renegotiation */
    bool client_renegotiation;       /* server: accept a renegotiation the client starts; default
                                      * false: refused with a no_renegotiation warning, the
                                      * connection goes on (as nginx). Ours (tls_renegotiate) works
                                      * either way */
    bool reuse_sessions;             /* default true */
    tls_reuse_session_fun reuse_session; void *reuse_session_arg;
    const char *server_name;         /* client: SNI and the name checked; server: unused */
    bool no_hostname_check;          /* client: skip the name check even if a name is known */
    const char *alpn;                /* comma list, in preference order */
    bool fallback_scsv;              /* client: this is a fallback connection */
    /* keylog: NSS key log lines ("CLIENT_RANDOM ..."), without newline */
    void (*keylog)(const char *line, void *arg); void *keylog_arg;
    const tls_transport *transport;  /* socket API only (transportoption); NULL: TCP */
} tls_options;

/* Fills the Erlang/OTP ssl module's defaults. Always call before setting fields. */
TLS_API void tls_options_init(tls_options *o);

/* ---- the sans-I/O core ------------------------------------------------- */
typedef struct tls_config tls_config; /* options loaded once: keys, certs, CA store */
typedef struct tls_engine tls_engine; /* one connection's protocol state */

/* start(): loads libcrypto's providers and algorithms once. Optional: the
 * first tls_config_new (and every socket call that makes one) does it too;
 * calling it first only moves a failure earlier. */
TLS_API int tls_start(void);

/* Loads files, checks keys against certificates; is_server picks the role. */
TLS_API int tls_config_new(const tls_options *o, bool is_server, tls_config **out, tls_error *err);
TLS_API void tls_config_ref(tls_config *c);
TLS_API void tls_config_free(tls_config *c); /* drops a reference */
/* What a config will offer and accept, for audits (tlsshim --check): its
 * suites, best first (fills up to max of out, returns the count), and in
 * *versions (may be NULL) the TLS_VMASK_* in force. */
TLS_API size_t tls_config_suites(const tls_config *c, const tls_suite_info **out, size_t max,
                                 unsigned *versions);

/* server_name overrides the config's for this connection (client only; may be NULL). */
TLS_API int tls_engine_new(tls_config *c, const char *server_name, tls_engine **out, tls_error *err);
TLS_API void tls_engine_free(tls_engine *e);

/* Network side. feed: give received bytes; consumes what it can.
 * output: bytes to send (pointer valid until the next call); output_done: n were sent. */
TLS_API int tls_engine_feed(tls_engine *e, const uint8_t *in, size_t len, size_t *consumed);
TLS_API const uint8_t *tls_engine_output(tls_engine *e, size_t *len);
TLS_API void tls_engine_output_done(tls_engine *e, size_t n);
/* The same without a copy, for callers that receive straight into the
 * engine: feed_buffer gives where up to *room bytes may be written (NULL,
 * *room 0: nothing fits until read() takes plaintext); feed_commit(n) then
 * processes the n bytes written there. The pointer is valid until the next
 * call on e. */
TLS_API uint8_t *tls_engine_feed_buffer(tls_engine *e, size_t *room);
TLS_API int tls_engine_feed_commit(tls_engine *e, size_t n);
/* The transport hit EOF. Judged once the records fed before it are processed
 * (after the plaintext waiting in front of them is read): TLS_ST_EOF_NO_NOTIFY
 * unless a close_notify was among them. */
TLS_API void tls_engine_feed_eof(tls_engine *e);

/* Application side. write: plaintext to send (may accept less than len, never 0
 * unless blocked); read: plaintext received. Both return TLS_E_WOULDBLOCK when
 * nothing can be done now, TLS_E_CLOSED after close_notify. */
TLS_API int tls_engine_write(tls_engine *e, const uint8_t *buf, size_t len, size_t *accepted);
TLS_API int tls_engine_read(tls_engine *e, uint8_t *buf, size_t len, size_t *got);
/* read() without a copy: peek gives the received plaintext in place (NULL,
 * *len 0: none now; the status says why), valid until the next call on e;
 * read_done(n) consumes n bytes of it (they are wiped). */
TLS_API const uint8_t *tls_engine_peek(tls_engine *e, size_t *len);
TLS_API void tls_engine_read_done(tls_engine *e, size_t n);
/* Releases the record buffers while they hold nothing (about 50 KiB a
 * connection); they come back on the next feed/write. Call it when a
 * connection goes idle: an idle connection then costs a few hundred bytes. */
TLS_API void tls_engine_trim(tls_engine *e);
/* Queue close_notify; no writes after. */
TLS_API int tls_engine_close_write(tls_engine *e);
/* TLS <= 1.2: start a renegotiation (a server sends HelloRequest);
 * TLS_ST_RENEGOTIATING stays set until it completes or the peer refuses it
 * (tls_engine_error then says TLS_E_RENEG_REJECTED).
 * TLS 1.3, which has no renegotiation: a KeyUpdate that asks the peer to
 * update its keys too (RFC 8446 4.6.3). */
TLS_API int tls_engine_renegotiate(tls_engine *e);

enum {
    TLS_ST_HANDSHAKING = 1u << 0,
    TLS_ST_CONNECTED = 1u << 1,    /* handshake done, application data may flow */
    TLS_ST_WANT_OUTPUT = 1u << 2,  /* tls_engine_output has bytes */
    TLS_ST_CAN_READ = 1u << 3,     /* plaintext is buffered */
    TLS_ST_PEER_CLOSED = 1u << 4,  /* close_notify received */
    TLS_ST_WRITE_CLOSED = 1u << 5, /* we sent / queued close_notify */
    TLS_ST_FAILED = 1u << 6,       /* fatal error; tls_engine_error says which */
    TLS_ST_EOF_NO_NOTIFY = 1u << 7,/* transport EOF without close_notify */
    TLS_ST_CAN_WRITE = 1u << 8,    /* write would accept bytes now */
    TLS_ST_RENEGOTIATING = 1u << 9,/* our renegotiation is not yet done or refused */
};
TLS_API unsigned tls_engine_status(const tls_engine *e);
TLS_API const tls_error *tls_engine_error(const tls_engine *e);

/* Connection facts, valid once connected. */
TLS_API uint16_t tls_engine_version(const tls_engine *e);
TLS_API const tls_suite_info *tls_engine_suite(const tls_engine *e);
TLS_API int tls_engine_peercert(const tls_engine *e, const uint8_t **der, size_t *len);
TLS_API const char *tls_engine_alpn(const tls_engine *e);        /* NULL if none */
TLS_API const char *tls_engine_sni(const tls_engine *e);         /* server: name the client asked for */
TLS_API bool tls_engine_session_reused(const tls_engine *e);
TLS_API tls_bad_cert tls_engine_verify_result(const tls_engine *e);

#ifdef __cplusplus
}
#endif
#endif
