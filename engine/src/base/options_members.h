/* Every member of tls_options, in one list (an X-macro), with how it enters
 * the socket layer's config cache key. Two users, so that neither can drift
 * when a member is added: socket/config_cache.c builds the cache key from
 * it, core/options.c copies the string members from it. The build fails when
 * the list and the struct disagree:
 *  - a member added to tls_options without a row leaves the positional
 *    initializer of `every_member_listed` one value short, which
 *    -Wmissing-field-initializers (made an error below) refuses;
 *  - a row twice declares its enumerator twice;
 *  - a row naming no member fails in the users' code, which touches every row.
 * Kinds: BY_VALUE (numbers, flags; callbacks and their state by identity),
 * BY_STRING, BY_FILE (a path), BY_ARRAY and BY_DER_LIST (with their count
 * member), KEYED_WITH (a count, part of another row), NOT_KEYED. */
#ifndef TLS_OPTIONS_MEMBERS_H
#define TLS_OPTIONS_MEMBERS_H

#include "tlsengine.h"

#define OPTIONS_MEMBERS(X)                              \
    X(verify, BY_VALUE, _)                              \
    X(verify_fun, BY_VALUE, _)                          \
    X(verify_fun_state, BY_VALUE, _)                    \
    X(fail_if_no_peer_cert, BY_VALUE, _)                \
    X(depth, BY_VALUE, _)                               \
    X(security_level, BY_VALUE, _)                      \
    X(cert, BY_ARRAY, cert_len)                         \
    X(cert_len, KEYED_WITH, cert)                       \
    X(certfile, BY_FILE, _)                             \
    X(key, BY_ARRAY, key_len)                           \
    X(key_len, KEYED_WITH, key)                         \
    X(keyfile, BY_FILE, _)                              \
    X(password, BY_STRING, _)                           \
    X(cacerts, BY_DER_LIST, n_cacerts)                  \
    X(cacerts_len, KEYED_WITH, cacerts)                 \
    X(n_cacerts, KEYED_WITH, cacerts)                   \
    X(cacertfile, BY_FILE, _)                           \
    X(dh, BY_ARRAY, dh_len)                             \
    X(dh_len, KEYED_WITH, dh)                           \
    X(dhfile, BY_FILE, _)                               \
    X(ciphers, BY_STRING, _)                            \
    X(cipher_ids, BY_ARRAY, n_cipher_ids)               \
    X(n_cipher_ids, KEYED_WITH, cipher_ids)             \
    X(versions, BY_VALUE, _)                            \
    X(ssl_imp, BY_VALUE, _)                             \
    X(secure_renegotiate, BY_VALUE, _)                  \
    X(client_renegotiation, BY_VALUE, _)                \
    X(reuse_sessions, BY_VALUE, _)                      \
    X(reuse_session, BY_VALUE, _)                       \
    X(reuse_session_arg, BY_VALUE, _)                   \
    X(server_name, BY_STRING, _)                        \
    X(no_hostname_check, BY_VALUE, _)                   \
    X(alpn, BY_STRING, _)                               \
    X(fallback_scsv, BY_VALUE, _)                       \
    X(keylog, BY_VALUE, _)                              \
    X(keylog_arg, BY_VALUE, _)                          \
    X(transport, NOT_KEYED, _) /* per socket: tls_sock_new takes it */

#define ROW_NAME(m, how, arg) OPTIONS_ROW_##m,
enum { OPTIONS_MEMBERS(ROW_NAME) OPTIONS_ROWS };

#define ROW_ZERO(m, how, arg) 0,
#pragma GCC diagnostic push
#pragma GCC diagnostic error "-Wmissing-field-initializers"
static const tls_options every_member_listed __attribute__((unused)) = {OPTIONS_MEMBERS(ROW_ZERO)};
#pragma GCC diagnostic pop

#endif

