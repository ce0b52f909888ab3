/* The policy's keys: ONE table. Each row names a key, the sections that take
 * it, how its value is parsed and printed, its default and one line of doc.
 * Parsing, the unknown-key message, the defaults, `tlsshim --check` and the
 * README's key table (policy_keys_markdown; a unit test keeps README.md equal
 * to it) all read this table: a new key is one row. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy_int.h"

#define RULE(f) offsetof(policy_rule, f)
#define GLOBAL(f) offsetof(policy, f)
#define BOOL_TEXT "true or false (also yes/no, on/off, 1/0)"

const policy_key_def policy_keys[] = {
    /* [global] */
    {.name = "log", .sections = KEY_IN_GLOBAL, .slot = POLICY_GLOBAL_LOG,
     .parse = policy_parse_log, .print = policy_print_text, .field = GLOBAL(log),
     .dflt = "stderr", .expected = "stderr, syslog or a file path",
     .doc = "where the log goes: `stderr`, `syslog` or a file path (its folder must exist)"},
    {.name = "log_level", .sections = KEY_IN_GLOBAL, .slot = POLICY_GLOBAL_LOG_LEVEL,
     .parse = policy_parse_log_level, .print = policy_print_log_level, .dflt = "info",
     .expected = "error, warning, info or debug",
     .doc = "`error`, `warning`, `info` (one line per connection) or `debug` (the handshake too)"},
    {.name = "keylog", .sections = KEY_IN_GLOBAL, .slot = POLICY_GLOBAL_KEYLOG,
     .parse = policy_parse_writable, .print = policy_print_text, .field = GLOBAL(keylog),
     .expected = "a file path",
     .doc = "a file for the TLS secrets in the NSS key log format, for Wireshark"},
    {.name = "handshake_timeout", .sections = KEY_IN_GLOBAL,
     .slot = POLICY_GLOBAL_HANDSHAKE_TIMEOUT, .parse = policy_parse_int,
     .print = policy_print_int, .field = GLOBAL(handshake_timeout_ms), .min = 1, .max = 3600000,
     .dflt = "10000", .expected = "milliseconds, 1..3600000",
     .doc = "milliseconds a handshake may take, 1..3600000"},
    {.name = "stats", .sections = KEY_IN_GLOBAL, .slot = POLICY_GLOBAL_STATS,
     .parse = policy_parse_writable, .print = policy_print_text, .field = GLOBAL(stats),
     .expected = "a file path",
     .doc = "a file kept in the Prometheus text format (for node_exporter's textfile "
            "collector): per rule, connections, handshakes (failed ones by reason, resumed "
            "ones, a time histogram) and bytes; `%p` is the pid. Rewritten atomically at most "
            "once a second while anything changes, and at exit"},

    /* rules */
    {.name = "direction", .sections = KEY_IN_RULE, .slot = POLICY_KEY_DIRECTION,
     .parse = policy_parse_direction, .print = policy_print_direction, .required = true,
     .expected = "connect or accept",
     .doc = "`connect` (the program connects, tlsshim is the TLS client) or `accept` (the "
            "program listens, tlsshim is the TLS server)"},
    {.name = "match", .sections = KEY_IN_RULE, .slot = POLICY_KEY_MATCH,
     .parse = policy_parse_match, .print = policy_print_match, .required = true,
     .expected = "ADDR:PORT entries, comma separated",
     .doc = "`ADDR:PORT` entries, comma separated. ADDR: `*`, IPv4, `[IPv6]`, CIDR "
            "(`10.0.0.0/8`, `[fd00::]/8`), or a host glob (`*.example.com`, matched against the "
            "name the program resolved; connect rules only). PORT: 1..65535 or `*`. For each "
            "socket the first rule of its direction that matches wins; no match leaves the "
            "socket alone"},
    {.name = "verify", .sections = KEY_IN_RULE, .slot = POLICY_KEY_VERIFY,
     .parse = policy_parse_verify, .print = policy_print_verify, .dflt = "verify_peer",
     .dflt_accept = "verify_none", .expected = "verify_peer or verify_none",
     .doc = "`verify_peer` (check the peer's certificate chain, and a server's name) or "
            "`verify_none`"},
    {.name = "fail_if_no_peer_cert", .sections = KEY_IN_ACCEPT,
     .slot = POLICY_KEY_FAIL_IF_NO_PEER_CERT, .parse = policy_parse_bool,
     .print = policy_print_bool, .field = RULE(fail_if_no_peer_cert), .dflt = "false",
     .expected = BOOL_TEXT,
     .doc = "`true`: refuse clients without a certificate (needs `verify = verify_peer`)"},
    {.name = "depth", .sections = KEY_IN_RULE, .slot = POLICY_KEY_DEPTH,
     .parse = policy_parse_int, .print = policy_print_int, .field = RULE(depth), .min = 0,
     .max = 100, .dflt = "1", .expected = "0..100",
     .doc = "how many intermediate CAs may stand between the peer's certificate and the trust "
            "anchor, 0..100 (the Erlang/OTP ssl module's count, as OpenSSL's `-verify_depth`)"},
    {.name = "security_level", .sections = KEY_IN_RULE, .slot = POLICY_KEY_SECURITY_LEVEL,
     .parse = policy_parse_int, .print = policy_print_int, .field = RULE(security_level),
     .min = 0, .max = 5, .dflt = "2", .expected = "0..5",
     .doc = "OpenSSL's security level for certificates, 0..5: at 2, MD5 and SHA-1 signatures "
            "and RSA, DSA or DH keys under 2048 bits or EC keys under 224 are refused; 0 "
            "allows them (for debugging legacy peers), 3..5 ask for more"},
    {.name = "cert", .alt = "certfile", .sections = KEY_IN_RULE, .slot = POLICY_KEY_CERT,
     .parse = policy_parse_der, .print = policy_print_der, .field = RULE(cert),
     .der = DER_CERT, .expected = "base64 DER",
     .doc = "the certificate as base64 DER, or use `certfile`; accept rules need one, connect "
            "rules send it if the server asks"},
    {.name = "certfile", .alt = "cert", .sections = KEY_IN_RULE, .slot = POLICY_KEY_CERTFILE,
     .parse = policy_parse_readable, .print = policy_print_text, .field = RULE(certfile),
     .expected = "a file path", .doc = "the certificate as a PEM file: leaf first, then its chain"},
    {.name = "key", .alt = "keyfile", .sections = KEY_IN_RULE, .slot = POLICY_KEY_KEY,
     .parse = policy_parse_der, .print = policy_print_der, .field = RULE(key), .der = DER_KEY,
     .expected = "base64 DER",
     .doc = "the certificate's private key as base64 DER (PKCS#8, encrypted PKCS#8 or the "
            "algorithm's own form), or use `keyfile`"},
    {.name = "keyfile", .alt = "key", .sections = KEY_IN_RULE, .slot = POLICY_KEY_KEYFILE,
     .parse = policy_parse_readable, .print = policy_print_text, .field = RULE(keyfile),
     .dflt_note = "`certfile`", .expected = "a file path",
     .doc = "the certificate's private key as a PEM file"},
    {.name = "password", .sections = KEY_IN_RULE, .slot = POLICY_KEY_PASSWORD,
     .parse = policy_parse_password, .print = policy_print_text, .field = RULE(password),
     .expected = "the private key's password", .doc = "the password of an encrypted key"},
    {.name = "cacerts", .alt = "cacertfile", .alt_adds = true, .sections = KEY_IN_RULE, .slot = POLICY_KEY_CACERTS,
     .parse = policy_parse_der_list, .print = policy_print_der_list, .der = DER_CERT,
     .expected = "base64 DER certificates, comma separated",
     .doc = "trust anchors as base64 DER certificates, comma separated, or use `cacertfile`"},
    {.name = "cacertfile", .alt = "cacerts", .alt_adds = true, .sections = KEY_IN_RULE, .slot = POLICY_KEY_CACERTFILE,
     .parse = policy_parse_readable, .print = policy_print_text, .field = RULE(cacertfile),
     .dflt_note = "the system's trust store: `SSL_CERT_FILE` and `SSL_CERT_DIR`, else "
                  "OpenSSL's default paths",
     .expected = "a file path", .doc = "trust anchors as a PEM file"},
    {.name = "dh", .alt = "dhfile", .sections = KEY_IN_ACCEPT, .slot = POLICY_KEY_DH, .parse = policy_parse_der,
     .print = policy_print_der, .field = RULE(dh), .der = DER_DH, .expected = "base64 DER",
     .doc = "DH parameters for DHE suites as base64 DER (PKCS#3 or X9.42), or use `dhfile`"},
    {.name = "dhfile", .alt = "dh", .sections = KEY_IN_ACCEPT, .slot = POLICY_KEY_DHFILE,
     .parse = policy_parse_readable, .print = policy_print_text, .field = RULE(dhfile),
     .dflt_note = "RFC 7919 ffdhe2048", .expected = "a file path",
     .doc = "DH parameters for DHE suites as a PEM file"},
    {.name = "ciphers", .sections = KEY_IN_RULE, .slot = POLICY_KEY_CIPHERS,
     .parse = policy_parse_ciphers, .print = policy_print_text, .field = RULE(ciphers),
     .dflt_note = "the engine's: Mozilla \"intermediate\" (TLS 1.3; ECDHE, DHE-RSA with AES-GCM, "
                  "ChaCha20); forward-secret CBC only with a version below TLS 1.2",
     .expected = "cipher names separated by ':' or ','",
     .doc = "OpenSSL names (`:` separated), IANA names, or erlang triples "
            "`{rsa,aes_128_cbc,sha}`; `ALL`, `DEFAULT`, `!NAME`"},
    {.name = "versions", .sections = KEY_IN_RULE, .slot = POLICY_KEY_VERSIONS,
     .parse = policy_parse_versions, .print = policy_print_text, .field = RULE(versions),
     .dflt_note = "`tlsv1.2, tlsv1.3`",
     .expected = "a comma list of sslv3, tlsv1, tlsv1.1, tlsv1.2, tlsv1.3",
     .doc = "`sslv3`, `tlsv1`, `tlsv1.1`, `tlsv1.2`, `tlsv1.3`, comma separated; legacy "
            "versions and suites only when named here"},
    {.name = "server_name", .sections = KEY_IN_CONNECT, .slot = POLICY_KEY_SERVER_NAME,
     .parse = policy_parse_server_name, .print = policy_print_text, .field = RULE(server_name),
     .dflt_note = "the name the program resolved, else the IP address (checked against IP SANs)",
     .expected = "a DNS name or an IP address",
     .doc = "SNI and the name checked against the server's certificate"},
    {.name = "alpn", .sections = KEY_IN_RULE, .slot = POLICY_KEY_ALPN,
     .parse = policy_parse_alpn, .print = policy_print_text, .field = RULE(alpn),
     .expected = "a comma list of protocol names, e.g. h2, http/1.1",
     .doc = "protocols, comma separated, in preference order (1..255 bytes each)"},
    {.name = "secure_renegotiate", .sections = KEY_IN_RULE,
     .slot = POLICY_KEY_SECURE_RENEGOTIATE, .parse = policy_parse_bool,
     .print = policy_print_bool, .field = RULE(secure_renegotiate), .dflt = "true",
     .expected = BOOL_TEXT,
     .doc = "`true`: refuse to renegotiate with a peer that lacks RFC 5746; the first handshake "
            "goes ahead either way (the Erlang/OTP ssl module defaults to `false`)"},
    {.name = "client_renegotiation", .sections = KEY_IN_ACCEPT, .slot = POLICY_KEY_CLIENT_RENEGOTIATION,
     .parse = policy_parse_bool, .print = policy_print_bool, .field = RULE(client_renegotiation),
     .dflt = "false", .expected = BOOL_TEXT,
     .doc = "`true`: accept a renegotiation the client starts; `false` answers it with a "
            "no_renegotiation warning and the connection goes on (as nginx does)"},
    {.name = "reuse_sessions", .sections = KEY_IN_RULE, .slot = POLICY_KEY_REUSE_SESSIONS,
     .parse = policy_parse_bool, .print = policy_print_bool, .field = RULE(reuse_sessions),
     .dflt = "true", .expected = BOOL_TEXT,
     .doc = "`true`: resume sessions (TLS 1.2 session ids and RFC 5077 tickets, TLS 1.3 tickets)"},
};
const size_t policy_n_keys = sizeof policy_keys / sizeof policy_keys[0];

/* Options of the engine API that are callbacks: no value a file could give. */
static const char *const api_only[] = {"verify_fun", "reuse_session"};

static bool in_global(const policy_key_def *k)
{
    return k->sections & KEY_IN_GLOBAL;
}

const policy_key_def *policy_key_find(const char *name, bool global)
{
    for (size_t i = 0; i < policy_n_keys; i++)
        if (in_global(&policy_keys[i]) == global && strcmp(name, policy_keys[i].name) == 0)
            return &policy_keys[i];
    return NULL;
}

const policy_key_def *policy_rule_key(policy_key k)
{
    for (size_t i = 0; i < policy_n_keys; i++)
        if (!in_global(&policy_keys[i]) && policy_keys[i].slot == (int)k)
            return &policy_keys[i];
    return NULL;
}

const char *policy_key_name(policy_key k)
{
    const policy_key_def *d = policy_rule_key(k);
    return d ? d->name : "unknown";
}

/* ---- unknown keys ------------------------------------------------------- */

/* Edit distance, for "did you mean"; names are short (64 bytes at most). */
static size_t distance(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b), row[65];
    if (na > 64 || nb > 64)
        return 99;
    for (size_t j = 0; j <= nb; j++)
        row[j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

/* "a, b, c or d": the keys of one kind of section. */
static void key_list(bool global, char *buf, size_t len)
{
    size_t n = 0, count = 0, total = 0;
    for (size_t i = 0; i < policy_n_keys; i++)
        total += in_global(&policy_keys[i]) == global;
    buf[0] = '\0';
    for (size_t i = 0; i < policy_n_keys && n < len; i++) {
        if (in_global(&policy_keys[i]) != global)
            continue;
        const char *sep = count == 0 ? "" : count + 1 == total ? " or " : ", ";
        int w = snprintf(buf + n, len - n, "%s%s", sep, policy_keys[i].name);
        n += w > 0 ? (size_t)w : 0;
        count++;
    }
}

static void unknown_key(loader *L, const char *name, bool global)
{
    char keys[512];
    key_list(global, keys, sizeof keys);
    if (policy_key_find(name, !global)) {
        if (global)
            policy_fail(L, L->lineno, L->section, name,
                        "belongs in a rule section, not in [global] (expected %s)", keys);
        else
            policy_fail(L, L->lineno, L->section, name,
                        "belongs in [global], not in a rule section");
        return;
    }
    const policy_key_def *near = NULL;
    size_t best = 3; /* two edits at most */
    for (size_t i = 0; i < policy_n_keys; i++) {
        const policy_key_def *k = &policy_keys[i];
        if (in_global(k) != global)
            continue;
        if (strcasecmp(name, k->name) == 0) {
            policy_fail(L, L->lineno, L->section, name, "unknown key (keys are lower case: %s)",
                        k->name);
            return;
        }
        size_t d = distance(name, k->name);
        if (d < best && d < strlen(k->name)) {
            best = d;
            near = k;
        }
    }
    if (near)
        policy_fail(L, L->lineno, L->section, name, "unknown key: did you mean %s? (expected %s)",
                    near->name, keys);
    else
        policy_fail(L, L->lineno, L->section, name, "unknown key (expected %s)", keys);
}

/* ---- setting a key ------------------------------------------------------ */

void policy_key_set(loader *L, const char *name, const char *value)
{
    bool global = L->sec == SEC_GLOBAL;
    policy_rule *r = global ? NULL : &L->p->rules[L->p->n_rules - 1];
    for (size_t i = 0; !global && i < sizeof api_only / sizeof *api_only; i++) {
        if (strcmp(name, api_only[i]) == 0) {
            policy_fail(L, L->lineno, L->section, name, "is a callback: it exists only in the "
                        "engine API (tls_options), not in a policy file");
            return;
        }
    }
    const policy_key_def *k = policy_key_find(name, global);
    if (!k) {
        unknown_key(L, name, global);
        return;
    }
    int *line = global ? &L->p->global_key_line[k->slot] : &r->key_line[k->slot];
    if (*line) {
        policy_key_fail(L, k, "given twice (first on line %d)", *line);
        return;
    }
    *line = L->lineno;
    if (*value == '\0') {
        policy_key_fail(L, k, "empty value (expected %s)", k->expected);
        return;
    }
    k->parse(L, global ? (void *)L->p : (void *)r, k, value);
}

/* ---- defaults ----------------------------------------------------------- */

void policy_rule_defaults(loader *L, policy_rule *r)
{
    bool accept = r->direction == POLICY_ACCEPT;
    unsigned mine = accept ? KEY_IN_ACCEPT : KEY_IN_CONNECT;
    for (size_t i = 0; i < policy_n_keys && !L->failed; i++) {
        const policy_key_def *k = &policy_keys[i];
        const char *v = accept && k->dflt_accept ? k->dflt_accept : k->dflt;
        if ((k->sections & mine) && v && !r->key_line[k->slot])
            k->parse(L, r, k, v);
    }
}

void policy_global_defaults(loader *L)
{
    for (size_t i = 0; i < policy_n_keys && !L->failed; i++) {
        const policy_key_def *k = &policy_keys[i];
        if (in_global(k) && k->dflt && !L->p->global_key_line[k->slot])
            k->parse(L, L->p, k, k->dflt);
    }
}

/* ---- the README's table ------------------------------------------------- */

static const char *sections_text(unsigned s)
{
    switch (s) {
    case KEY_IN_GLOBAL:
        return "global";
    case KEY_IN_CONNECT:
        return "connect";
    case KEY_IN_ACCEPT:
        return "accept";
    default:
        return "connect, accept";
    }
}

void policy_keys_markdown(FILE *out)
{
    fputs("| key | sections | default | what it takes |\n|---|---|---|---|\n", out);
    for (size_t i = 0; i < policy_n_keys; i++) {
        const policy_key_def *k = &policy_keys[i];
        fprintf(out, "| `%s` | %s | ", k->name, sections_text(k->sections));
        if (k->required)
            fputs("required", out);
        else if (k->dflt && k->dflt_accept)
            fprintf(out, "connect: `%s`, accept: `%s`", k->dflt, k->dflt_accept);
        else if (k->dflt)
            fprintf(out, "`%s`", k->dflt);
        else
            fputs(k->dflt_note ? k->dflt_note : "none", out);
        fprintf(out, " | %s |\n", k->doc);
    }
}
