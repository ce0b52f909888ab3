/* The policy file: INI (inih) -> validated rules; and matching.
 *
 * config/ knows nothing of sockets or the engine: it checks syntax, value
 * ranges and that named files exist and are readable, and records the line of
 * every key so that later errors (say, a wrong password found when the shim
 * loads the key) can still name file, line and key. */
#ifndef TLSSHIM_POLICY_H
#define TLSSHIM_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

typedef enum { POLICY_CONNECT, POLICY_ACCEPT } policy_direction;
typedef enum { POLICY_LOG_ERROR, POLICY_LOG_WARNING, POLICY_LOG_INFO, POLICY_LOG_DEBUG } policy_log_level;

/* One ADDR:PORT of a `match` list. */
typedef struct policy_match {
    enum { POLICY_ADDR_ANY, POLICY_ADDR_IPV4, POLICY_ADDR_IPV6, POLICY_ADDR_HOST } kind;
    uint8_t addr[16];  /* network order; IPv4 in the first 4 bytes */
    int prefix;        /* CIDR prefix length (32 / 128 for a single address) */
    char *host_glob;   /* POLICY_ADDR_HOST: fnmatch-style, case-insensitive */
    int port;          /* 1..65535, or 0 for '*' */
} policy_match;

/* Keys of a rule section: the Erlang/OTP ssl module's option names, plus
 * server_name, versions, alpn and security_level. config/keys.c holds the one
 * table that says which section takes each key, its default and its doc. */
typedef enum {
    POLICY_KEY_DIRECTION,
    POLICY_KEY_MATCH,
    POLICY_KEY_VERIFY,
    POLICY_KEY_FAIL_IF_NO_PEER_CERT,
    POLICY_KEY_DEPTH,
    POLICY_KEY_SECURITY_LEVEL,
    POLICY_KEY_CERT,        /* base64 DER (PEM text does not fit on one line) */
    POLICY_KEY_CERTFILE,
    POLICY_KEY_KEY,         /* base64 DER */
    POLICY_KEY_KEYFILE,
    POLICY_KEY_PASSWORD,
    POLICY_KEY_CACERTS,     /* comma-separated base64 DER certificates */
    POLICY_KEY_CACERTFILE,
    POLICY_KEY_DH,          /* base64 DER */
    POLICY_KEY_DHFILE,
    POLICY_KEY_CIPHERS,
    POLICY_KEY_SECURE_RENEGOTIATE,
    POLICY_KEY_CLIENT_RENEGOTIATION,
    POLICY_KEY_REUSE_SESSIONS,
    POLICY_KEY_SERVER_NAME,
    POLICY_KEY_VERSIONS,
    POLICY_KEY_ALPN,
    POLICY_KEY_COUNT
} policy_key;

/* Keys of [global]: the index into policy.global_key_line. */
typedef enum {
    POLICY_GLOBAL_LOG,
    POLICY_GLOBAL_LOG_LEVEL,
    POLICY_GLOBAL_KEYLOG,
    POLICY_GLOBAL_HANDSHAKE_TIMEOUT,
    POLICY_GLOBAL_STATS,
    POLICY_GLOBAL_COUNT
} policy_global_key;

typedef struct policy_bytes {
    uint8_t *data;
    size_t len;
} policy_bytes;

typedef struct policy_rule {
    char *name;                  /* the section name */
    int line;                    /* line of the [section] header */
    policy_direction direction;
    policy_match *matches;
    size_t n_matches;
    int key_line[POLICY_KEY_COUNT]; /* 0 when the key is absent */

    /* typed values; absent keys keep the defaults noted */
    bool verify_peer;            /* default: true for connect rules, false for accept rules */
    bool fail_if_no_peer_cert;   /* default false */
    int depth;                   /* default 1: intermediate CAs between peer and trust anchor */
    int security_level;          /* default 2: OpenSSL's levels 0..5 */
    bool secure_renegotiate;     /* default true (the reference's default is false) */
    bool client_renegotiation;   /* default false: accept rules refuse a renegotiation the client starts */
    bool reuse_sessions;         /* default true */
    /* paths are absolute (relative ones are resolved against the policy's folder); NULL if absent */
    char *certfile, *keyfile, *cacertfile, *dhfile;
    char *password, *ciphers, *versions, *alpn, *server_name; /* raw strings; NULL if absent */
    policy_bytes cert, key, dh;  /* decoded DER; data NULL if absent */
    policy_bytes *cacerts;
    size_t n_cacerts;
} policy_rule;

typedef struct policy {
    char *path;                  /* the file as given */
    char *log;                   /* "stderr" (default), "syslog" or an absolute path */
    policy_log_level log_level;  /* default info */
    char *keylog;                /* absolute path or NULL */
    char *stats;                 /* absolute path ("%p": the pid) or NULL */
    int handshake_timeout_ms;    /* default 10000 */
    int global_key_line[POLICY_GLOBAL_COUNT]; /* 0 when the key is absent */
    policy_rule *rules;          /* in file order: the first match wins */
    size_t n_rules;
} policy;

/* Parses and validates. On error returns -1, sets *out to NULL and writes
 * "FILE:LINE: [SECTION] KEY: what was wrong (expected ...)" into err (no LINE
 * for a file that cannot be opened, no KEY for a rule-wide error). */
int policy_load(const char *path, policy **out, char *err, size_t err_len);
void policy_free(policy *p);

/* The first rule of `dir` matching the address (AF_INET/AF_INET6, port in the
 * sockaddr) and, for host globs, the host name the program resolved for that
 * address (may be NULL). NULL: no rule, leave the socket alone. */
const policy_rule *policy_find(const policy *p, policy_direction dir, const struct sockaddr *addr,
                               const char *hostname);

/* Writes the effective rules in INI form (for `tlsshim --check`). */
void policy_print(const policy *p, FILE *out);

const char *policy_key_name(policy_key k);

/* The README's key table (markdown), written from the key table itself:
 * key, the sections that take it, its default, one line of doc. */
void policy_keys_markdown(FILE *out);

#endif
