/* config/: the policy file (every key valid and invalid, whole-rule checks,
 * syntax), matching, printing, base64, and the README's key table against the
 * code's. Policies are written into a fresh temporary folder per test. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy.h"
#include "policy_int.h"

static char tmpdir[256];
static char errbuf[2048];

/* A DER structure that is no certificate, key or DH parameters:
 * SEQUENCE { INTEGER 5 }. */
#define NOT_A_CERT_B64 "MAMCAQU="

/* Real DER values, made per test with libcrypto: a P-256 key (PKCS#8 and
 * encrypted PKCS#8), its self-signed certificate, RFC 7919 DH parameters. */
static char *cert_b64, *key_b64, *enckey_b64, *dh_b64;
static uint8_t *cert_der;
static int cert_der_len;

static char *b64_of(uint8_t *der, int len)
{
    cr_assert_gt(len, 0);
    char *s = policy_b64_encode(der, (size_t)len);
    cr_assert_not_null(s);
    return s;
}

static void make_der_values(void)
{
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    cr_assert_not_null(pk);
    X509 *x = X509_new();
    cr_assert_not_null(x);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"test", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_set_pubkey(x, pk);
    cr_assert_gt(X509_sign(x, pk, EVP_sha256()), 0);
    cert_der = NULL;
    cert_der_len = i2d_X509(x, &cert_der);
    cert_b64 = b64_of(cert_der, cert_der_len);

    uint8_t *der = NULL;
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(pk);
    int len = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
    key_b64 = b64_of(der, len);
    OPENSSL_free(der);
    X509_SIG *enc = PKCS8_encrypt(-1, EVP_aes_128_cbc(), "secret", 6, NULL, 0, 1000, p8);
    cr_assert_not_null(enc);
    der = NULL;
    len = i2d_X509_SIG(enc, &der);
    enckey_b64 = b64_of(der, len);
    OPENSSL_free(der);
    X509_SIG_free(enc);
    PKCS8_PRIV_KEY_INFO_free(p8);

    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL);
    EVP_PKEY *dh = NULL;
    cr_assert_not_null(ctx);
    cr_assert_gt(EVP_PKEY_paramgen_init(ctx), 0);
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                            (char *)"ffdhe2048", 0),
                           OSSL_PARAM_construct_end()};
    cr_assert_gt(EVP_PKEY_CTX_set_params(ctx, params), 0);
    cr_assert_gt(EVP_PKEY_paramgen(ctx, &dh), 0);
    der = NULL;
    len = i2d_KeyParams(dh, &der);
    dh_b64 = b64_of(der, len);
    OPENSSL_free(der);
    EVP_PKEY_free(dh);
    EVP_PKEY_CTX_free(ctx);
    X509_free(x);
    EVP_PKEY_free(pk);
}

/* printf into one of two rotating buffers: policies with DER values in them. */
__attribute__((format(printf, 1, 2))) static const char *text(const char *fmt, ...)
{
    static char bufs[2][16384];
    static int next;
    char *b = bufs[next++ % 2];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b, sizeof bufs[0], fmt, ap);
    va_end(ap);
    cr_assert_lt(n, (int)sizeof bufs[0]);
    return b;
}

static void write_file(const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_policy.XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    write_file("ca.pem", "ca\n");
    write_file("server.pem", "cert\n");
    write_file("server.key", "key\n");
    write_file("dh.pem", "dh\n");
    char sub[512];
    snprintf(sub, sizeof sub, "%s/sub", tmpdir);
    cr_assert_eq(mkdir(sub, 0700), 0);
    write_file("sub/ca.pem", "ca\n");
    make_der_values();
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void teardown(void)
{
    cr_assert_eq(nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
    free(cert_b64);
    free(key_b64);
    free(enckey_b64);
    free(dh_b64);
    OPENSSL_free(cert_der);
}

TestSuite(policy, .init = setup, .fini = teardown);

static char *policy_path(const char *name)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

static int try_load(const char *text, policy **p)
{
    write_file("policy.ini", text);
    errbuf[0] = '\0';
    return policy_load(policy_path("policy.ini"), p, errbuf, sizeof errbuf);
}

static policy *load_ok(const char *text)
{
    policy *p = NULL;
    int rc = try_load(text, &p);
    cr_assert_eq(rc, 0, "expected the policy to load, got: %s", errbuf);
    cr_assert_not_null(p);
    return p;
}

/* Loading must fail with "policy.ini:LINE: " and each of the NULL-ended needles. */
static void load_err(const char *text, int line, ...)
{
    policy *p = (policy *)0x1;
    int rc = try_load(text, &p);
    cr_assert_eq(rc, -1, "expected an error (line %d), the policy loaded", line);
    cr_assert_null(p, "a failed load must leave *out NULL");
    char where[64];
    snprintf(where, sizeof where, "policy.ini:%d: ", line);
    cr_assert_not_null(strstr(errbuf, where), "error '%s' does not name %s", errbuf, where);
    cr_assert_not_null(strstr(errbuf, tmpdir), "error '%s' does not name the file", errbuf);
    va_list ap;
    va_start(ap, line);
    for (const char *n = va_arg(ap, const char *); n; n = va_arg(ap, const char *))
        cr_assert_not_null(strstr(errbuf, n), "error '%s' lacks '%s'", errbuf, n);
    va_end(ap);
}

#define CONNECT_HEAD "[up]\ndirection = connect\nmatch = 127.0.0.1:8443\ncacertfile = ca.pem\n"
#define ACCEPT_HEAD "[web]\ndirection = accept\nmatch = *:8443\ncertfile = server.pem\n"

/* ---- defaults ----------------------------------------------------------- */

Test(policy, defaults)
{
    policy *p = load_ok(CONNECT_HEAD ACCEPT_HEAD);
    cr_assert_str_eq(p->log, "stderr");
    cr_assert_eq(p->log_level, POLICY_LOG_INFO);
    cr_assert_null(p->keylog);
    cr_assert_eq(p->handshake_timeout_ms, 10000);
    cr_assert_eq(p->n_rules, 2);
    const policy_rule *c = &p->rules[0], *a = &p->rules[1];
    cr_assert_str_eq(c->name, "up");
    cr_assert_eq(c->line, 1);
    cr_assert_eq(c->direction, POLICY_CONNECT);
    cr_assert(c->verify_peer, "connect rules verify by default");
    cr_assert_not(a->verify_peer, "accept rules do not ask for client certificates by default");
    for (int i = 0; i < 2; i++) {
        const policy_rule *r = &p->rules[i];
        cr_assert_not(r->fail_if_no_peer_cert);
        cr_assert_eq(r->depth, 1);
        cr_assert_eq(r->security_level, 2);
        cr_assert(r->secure_renegotiate);
        cr_assert_not(r->client_renegotiation, "clients may not start a renegotiation by default");
        cr_assert(r->reuse_sessions);
        cr_assert_null(r->versions);
        cr_assert_null(r->ciphers);
        cr_assert_null(r->password);
        cr_assert_null(r->cert.data);
        cr_assert_eq(r->n_cacerts, 0);
        cr_assert_eq(r->key_line[POLICY_KEY_VERIFY], 0);
    }
    cr_assert_eq(c->key_line[POLICY_KEY_MATCH], 3);
    cr_assert_eq(a->line, 5);
    policy_free(p);
}

Test(policy, key_names)
{
    cr_assert_str_eq(policy_key_name(POLICY_KEY_FAIL_IF_NO_PEER_CERT), "fail_if_no_peer_cert");
    cr_assert_str_eq(policy_key_name(POLICY_KEY_ALPN), "alpn");
    cr_assert_str_eq(policy_key_name(POLICY_KEY_SECURITY_LEVEL), "security_level");
    cr_assert_str_eq(policy_key_name(POLICY_KEY_COUNT), "unknown");
}

/* ---- [global] ----------------------------------------------------------- */

Test(policy, global_valid)
{
    policy *p = load_ok("[global]\nlog = syslog\nlog_level = debug\nkeylog = sub/keys.log\n"
                        "handshake_timeout = 3600000\n" CONNECT_HEAD);
    cr_assert_str_eq(p->log, "syslog");
    cr_assert_eq(p->log_level, POLICY_LOG_DEBUG);
    char want[600];
    snprintf(want, sizeof want, "%s/sub/keys.log", tmpdir);
    cr_assert_str_eq(p->keylog, want);
    cr_assert_eq(p->handshake_timeout_ms, 3600000);
    cr_assert_eq(p->global_key_line[POLICY_GLOBAL_LOG], 2);
    cr_assert_eq(p->global_key_line[POLICY_GLOBAL_KEYLOG], 4);
    policy_free(p);

    p = load_ok("[global]\nlog = tls.log\nlog_level = error\nhandshake_timeout = 1\n" CONNECT_HEAD);
    snprintf(want, sizeof want, "%s/tls.log", tmpdir);
    cr_assert_str_eq(p->log, want, "a relative log path resolves against the policy's folder");
    cr_assert_eq(p->log_level, POLICY_LOG_ERROR);
    cr_assert_eq(p->handshake_timeout_ms, 1);
    policy_free(p);

    const char *levels[] = {"warning", "info"};
    policy_log_level want_level[] = {POLICY_LOG_WARNING, POLICY_LOG_INFO};
    for (int i = 0; i < 2; i++) {
        char text[512];
        snprintf(text, sizeof text, "[global]\nlog = stderr\nlog_level = %s\n" CONNECT_HEAD,
                 levels[i]);
        p = load_ok(text);
        cr_assert_eq(p->log_level, want_level[i]);
        cr_assert_str_eq(p->log, "stderr");
        policy_free(p);
    }
}

Test(policy, global_invalid)
{
    load_err("[global]\nlog_level = loud\n" CONNECT_HEAD, 2, "[global] log_level:", "'loud'",
             "error, warning, info or debug", NULL);
    load_err("[global]\nhandshake_timeout = 0\n" CONNECT_HEAD, 2, "[global] handshake_timeout:",
             "1..3600000", NULL);
    load_err("[global]\nhandshake_timeout = 3600001\n" CONNECT_HEAD, 2, "handshake_timeout", NULL);
    load_err("[global]\nhandshake_timeout = 10s\n" CONNECT_HEAD, 2, "'10s'", NULL);
    load_err("[global]\nlog = nowhere/x.log\n" CONNECT_HEAD, 2, "[global] log:", "nowhere",
             "No such file or directory", NULL);
    load_err("[global]\nkeylog = sub\n" CONNECT_HEAD, 2, "[global] keylog:", "is a folder", NULL);
    load_err("[global]\nlog =\n" CONNECT_HEAD, 2, "[global] log:", "empty value", NULL);
    load_err("[global]\ncolour = red\n" CONNECT_HEAD, 2, "[global] colour:", "unknown key", NULL);
    load_err("[global]\nverify = verify_peer\n" CONNECT_HEAD, 2, "[global] verify:",
             "belongs in a rule section", NULL);
    load_err("[global]\nlog = stderr\nlog = syslog\n" CONNECT_HEAD, 3, "[global] log:",
             "given twice (first on line 2)", NULL);
    load_err("[global]\n" CONNECT_HEAD "[global]\n", 6, "[global] is given twice (first on line 1)",
             NULL);
}

/* ---- direction, match --------------------------------------------------- */

Test(policy, direction_and_match_required)
{
    load_err("[up]\ndirection = sideways\nmatch = *:1\n", 2, "[up] direction:", "'sideways'",
             "connect or accept", NULL);
    load_err("[up]\nmatch = *:1\nverify = verify_none\n", 1, "[up]:", "missing direction", NULL);
    load_err("[up]\ndirection = connect\nverify = verify_none\n", 1, "[up]:", "missing match",
             NULL);
    /* A rule with no keys at all is still checked (inih never reports it). */
    load_err(CONNECT_HEAD "[empty]\n", 5, "[empty]:", "missing direction", NULL);
}

Test(policy, match_valid)
{
    policy *p = load_ok("[up]\ndirection = connect\nverify = verify_none\n"
                        "match = 127.0.0.1:8443 , [::1]:*, 10.0.0.0/8:443, [fd00::]/8:*, "
                        "*.Example.com:443, localhost:25, *:*\n");
    const policy_rule *r = &p->rules[0];
    cr_assert_eq(r->n_matches, 7);
    cr_assert_eq(r->matches[0].kind, POLICY_ADDR_IPV4);
    cr_assert_eq(r->matches[0].prefix, 32);
    cr_assert_eq(r->matches[0].port, 8443);
    cr_assert_eq(memcmp(r->matches[0].addr, "\x7f\0\0\x01", 4), 0);
    cr_assert_eq(r->matches[1].kind, POLICY_ADDR_IPV6);
    cr_assert_eq(r->matches[1].prefix, 128);
    cr_assert_eq(r->matches[1].port, 0);
    cr_assert_eq(r->matches[2].prefix, 8);
    cr_assert_eq(r->matches[3].kind, POLICY_ADDR_IPV6);
    cr_assert_eq(r->matches[3].prefix, 8);
    cr_assert_eq(r->matches[3].addr[0], 0xfd);
    cr_assert_eq(r->matches[4].kind, POLICY_ADDR_HOST);
    cr_assert_str_eq(r->matches[4].host_glob, "*.Example.com");
    cr_assert_str_eq(r->matches[5].host_glob, "localhost");
    cr_assert_eq(r->matches[6].kind, POLICY_ADDR_ANY);
    policy_free(p);
}

Test(policy, match_invalid)
{
    struct {
        const char *entry, *needle;
    } bad[] = {
        {"127.0.0.1", "has no port"},
        {"127.0.0.1:0", "port 0 can never match"},
        {"127.0.0.1:65536", "out of range"},
        {"127.0.0.1:http", "not a number"},
        {"127.0.0.1:", "port is missing"},
        {"300.1.1.1:80", "not an IPv4 address"},
        {"::1:80", "goes in brackets"},
        {"[::1:80", "no ']'"},
        {"[::1]", "no :PORT"},
        {"[zz::1]:80", "not an IPv6 address"},
        {"10.0.0.1/8:80", "bits set past the prefix"},
        {"10.0.0.0/33:80", "not 0..32"},
        {"[fd00::]/129:80", "not 0..128"},
        {"[fd00::1]/8:80", "bits set past the prefix"},
        {"a b.example:80", "not a host name or glob"},
        {":80", "has no address"},
        {"*:80,,*:81", "entry 2 is empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char text[512];
        snprintf(text, sizeof text, "[up]\ndirection = connect\nverify = verify_none\nmatch = %s\n",
                 bad[i].entry);
        load_err(text, 4, "[up] match:", bad[i].needle, NULL);
    }
}

/* ---- simple typed keys -------------------------------------------------- */

Test(policy, verify_and_booleans)
{
    load_err(CONNECT_HEAD "verify = verify_perr\n", 5,
             "[up] verify: 'verify_perr' is not verify_peer or verify_none", NULL);
    const char *yes[] = {"true", "yes", "on", "1", "TRUE"}, *no[] = {"false", "no", "off", "0", "Off"};
    for (int i = 0; i < 5; i++) {
        char text[512];
        snprintf(text, sizeof text,
                 ACCEPT_HEAD "verify = verify_peer\ncacertfile = ca.pem\nfail_if_no_peer_cert = %s\n"
                             "secure_renegotiate = %s\nreuse_sessions = %s\nclient_renegotiation = %s\n",
                 yes[i], no[i], no[i], yes[i]);
        policy *p = load_ok(text);
        cr_assert(p->rules[0].verify_peer);
        cr_assert(p->rules[0].client_renegotiation, "'%s' is true", yes[i]);
        cr_assert(p->rules[0].fail_if_no_peer_cert, "'%s' is true", yes[i]);
        cr_assert_not(p->rules[0].secure_renegotiate, "'%s' is false", no[i]);
        cr_assert_not(p->rules[0].reuse_sessions);
        policy_free(p);
    }
    load_err(ACCEPT_HEAD "fail_if_no_peer_cert = maybe\n", 5, "[web] fail_if_no_peer_cert:",
             "'maybe' is not a boolean", "true or false", NULL);
    load_err(CONNECT_HEAD "secure_renegotiate = 2\n", 5, "[up] secure_renegotiate:", "'2'", NULL);
    load_err(CONNECT_HEAD "reuse_sessions = y\n", 5, "[up] reuse_sessions:", "'y'", NULL);
    policy *p = load_ok(CONNECT_HEAD "verify = verify_none\n");
    cr_assert_not(p->rules[0].verify_peer);
    cr_assert_eq(p->rules[0].key_line[POLICY_KEY_VERIFY], 5);
    policy_free(p);
}

Test(policy, depth)
{
    policy *p = load_ok(CONNECT_HEAD "depth = 0\n");
    cr_assert_eq(p->rules[0].depth, 0);
    policy_free(p);
    p = load_ok(CONNECT_HEAD "depth = 100\n");
    cr_assert_eq(p->rules[0].depth, 100);
    policy_free(p);
    load_err(CONNECT_HEAD "depth = 101\n", 5, "[up] depth:", "'101'", "0..100", NULL);
    load_err(CONNECT_HEAD "depth = -1\n", 5, "[up] depth:", "'-1'", NULL);
    load_err(CONNECT_HEAD "depth = two\n", 5, "[up] depth:", "'two' is not a number", NULL);
}

Test(policy, security_level)
{
    for (int level = 0; level <= 5; level++) {
        policy *p = load_ok(text(CONNECT_HEAD "security_level = %d\n" ACCEPT_HEAD
                                 "security_level = %d\n", level, 5 - level));
        cr_assert_eq(p->rules[0].security_level, level);
        cr_assert_eq(p->rules[1].security_level, 5 - level);
        cr_assert_eq(p->rules[0].key_line[POLICY_KEY_SECURITY_LEVEL], 5);
        policy_free(p);
    }
    load_err(CONNECT_HEAD "security_level = 6\n", 5, "[up] security_level:", "'6' is out of range",
             "0..5", NULL);
    load_err(ACCEPT_HEAD "security_level = high\n", 5, "[web] security_level:",
             "'high' is not a number", NULL);
    load_err("[global]\nsecurity_level = 1\n" CONNECT_HEAD, 2, "[global] security_level:",
             "belongs in a rule section", NULL);
}

Test(policy, password_ciphers)
{
    policy *p = load_ok(ACCEPT_HEAD "keyfile = server.key\npassword = s3cr=t:x\n"
                                    "ciphers = ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA, "
                                    "TLS_RSA_WITH_AES_128_CBC_SHA\n");
    cr_assert_str_eq(p->rules[0].password, "s3cr=t:x");
    cr_assert_str_eq(p->rules[0].ciphers,
                     "ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA, TLS_RSA_WITH_AES_128_CBC_SHA");
    policy_free(p);
    load_err(CONNECT_HEAD "ciphers = AES128-SHA|RC4\n", 5, "[up] ciphers:", "not a cipher list",
             NULL);
    load_err(CONNECT_HEAD "password =\n", 5, "[up] password:", "empty value", NULL);
}

Test(policy, server_name)
{
    const char *good[] = {"localhost", "www.example.com", "a-b.c0", "10.1.2.3", "::1",
                          "xn--bcher-kva.example"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        char text[512];
        snprintf(text, sizeof text, CONNECT_HEAD "server_name = %s\n", good[i]);
        policy *p = load_ok(text);
        cr_assert_str_eq(p->rules[0].server_name, good[i]);
        policy_free(p);
    }
    const char *bad[] = {"under_score.com", "-lead.com", "trail-.com", "a..b", "1.2.3", "x y",
                         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char text[512];
        snprintf(text, sizeof text, CONNECT_HEAD "server_name = %s\n", bad[i]);
        load_err(text, 5, "[up] server_name:", "not a DNS name or an IP address", NULL);
    }
    load_err(CONNECT_HEAD "server_name = [::1]\n", 5, "[up] server_name:", "without brackets",
             NULL);
}

Test(policy, versions)
{
    policy *p = load_ok(CONNECT_HEAD "versions = sslv3, tlsv1,tlsv1.1 , tlsv1.2,tlsv1.3\n");
    cr_assert_str_eq(p->rules[0].versions, "sslv3, tlsv1,tlsv1.1 , tlsv1.2,tlsv1.3");
    policy_free(p);
    load_err(CONNECT_HEAD "versions = tlsv1.2, tls1.3\n", 5, "[up] versions:",
             "'tls1.3' is not a version", "sslv3, tlsv1", NULL);
    load_err(CONNECT_HEAD "versions = tlsv1.2, tlsv1.2\n", 5, "[up] versions:", "listed twice",
             NULL);
    load_err(CONNECT_HEAD "versions = tlsv1.2,\n", 5, "[up] versions:", "entry 2 is empty", NULL);
    load_err(CONNECT_HEAD "versions = sslv2\n", 5, "'sslv2'", NULL);
}

Test(policy, alpn)
{
    policy *p = load_ok(CONNECT_HEAD "alpn = h2, http/1.1\n");
    cr_assert_str_eq(p->rules[0].alpn, "h2, http/1.1");
    policy_free(p);
    char text[1024], name[300];
    memset(name, 'a', 256);
    name[256] = '\0';
    snprintf(text, sizeof text, CONNECT_HEAD "alpn = h2, %s\n", name);
    load_err(text, 5, "[up] alpn:", "protocol 2 is 256 bytes", "1..255", NULL);
    name[255] = '\0';
    snprintf(text, sizeof text, CONNECT_HEAD "alpn = %s\n", name);
    p = load_ok(text);
    cr_assert_eq(strlen(p->rules[0].alpn), 255);
    policy_free(p);
    load_err(CONNECT_HEAD "alpn = h2,,http/1.1\n", 5, "[up] alpn:", "entry 2 is empty", NULL);
    load_err(CONNECT_HEAD "alpn = h2, h2\n", 5, "[up] alpn:", "listed twice", NULL);
}

/* ---- DER values --------------------------------------------------------- */

Test(policy, der_values)
{
    policy *p = load_ok(text("[web]\ndirection = accept\nmatch = *:443\ncert = %s\nkey = %s\n"
                             "dh = %s\n[up]\ndirection = connect\nmatch = *:443\n"
                             "cacerts = %s, %s\n[enc]\ndirection = accept\nmatch = *:444\n"
                             "cert = %s\nkey = %s\npassword = secret\n",
                             cert_b64, key_b64, dh_b64, cert_b64, cert_b64, cert_b64,
                             enckey_b64));
    const policy_rule *a = &p->rules[0];
    cr_assert_eq(a->cert.len, (size_t)cert_der_len);
    cr_assert_eq(memcmp(a->cert.data, cert_der, a->cert.len), 0);
    cr_assert_gt(a->key.len, 0);
    cr_assert_gt(a->dh.len, 0);
    cr_assert_eq(p->rules[1].n_cacerts, 2);
    cr_assert_eq(p->rules[1].cacerts[1].len, (size_t)cert_der_len);
    cr_assert_gt(p->rules[2].key.len, 0, "an encrypted PKCS#8 key is a key");
    policy_free(p);

    load_err(ACCEPT_HEAD "dh = MAM*AQU=\n", 5, "[web] dh:", "not base64", "byte 4 ('*')", NULL);
    load_err(ACCEPT_HEAD "keyfile = server.key\ndh = MAMCAQ\n", 6, "[web] dh:", "ends mid-group",
             NULL);
    /* "hello" is base64 of bytes that are no DER structure. */
    load_err(text("[web]\ndirection = accept\nmatch = *:1\ncert = aGVsbG8=\nkey = %s\n", key_b64),
             4, "[web] cert:", "5 bytes that are not DER certificate", "openssl x509", NULL);
    /* Well-formed DER of the wrong thing: libcrypto's d2i decides, not the outer tag. */
    load_err(text("[web]\ndirection = accept\nmatch = *:1\ncert = %s\nkey = %s\n", key_b64,
                  key_b64), 4, "[web] cert:", "not DER certificate", NULL);
    load_err(text(ACCEPT_HEAD "keyfile = server.key\ndh = %s\n", cert_b64), 6, "[web] dh:",
             "not DER DH parameters", NULL);
    load_err(text("[web]\ndirection = accept\nmatch = *:1\ncert = %s\nkey = %s\n", cert_b64,
                  NOT_A_CERT_B64), 5, "[web] key:", "not DER private key", NULL);
    load_err(text(CONNECT_HEAD "cacerts = %s, " NOT_A_CERT_B64 "\n", cert_b64), 5,
             "[up] cacerts:", "certificate 2:", "not DER certificate", NULL);
    load_err(text(CONNECT_HEAD "cacerts = %s, MA==\n", cert_b64), 5, "[up] cacerts:",
             "certificate 2", NULL);
    /* One certificate and trailing bytes are not one certificate. */
    uint8_t *more = malloc((size_t)cert_der_len + 2);
    memcpy(more, cert_der, (size_t)cert_der_len);
    more[cert_der_len] = 0x05;
    more[cert_der_len + 1] = 0x00;
    char *b = policy_b64_encode(more, (size_t)cert_der_len + 2);
    load_err(text(CONNECT_HEAD "cacerts = %s\n", b), 5, "[up] cacerts:", "not DER certificate",
             NULL);
    free(b);
    free(more);
}

/* A value longer than inih's 200-byte line buffer goes through whole. */
Test(policy, long_base64_line)
{
    cr_assert_gt(strlen(cert_b64), 200, "the test needs a line longer than inih's buffer");
    policy *p = load_ok(text("[web]\ndirection = accept\nmatch = *:443\n"
                             "  cert   =   %s   ; the server's certificate\nkeyfile = server.key\n",
                             cert_b64));
    cr_assert_eq(p->rules[0].cert.len, (size_t)cert_der_len);
    cr_assert_eq(memcmp(p->rules[0].cert.data, cert_der, (size_t)cert_der_len), 0);
    cr_assert_eq(p->rules[0].key_line[POLICY_KEY_CERT], 4);
    cr_assert_eq(p->rules[0].key_line[POLICY_KEY_KEYFILE], 5);
    policy_free(p);
    /* An error after a long line still names the right line. */
    load_err(text("[web]\ndirection = accept\nmatch = *:443\ncert = %s\n"
                  "keyfile = server.key\ndepth = 999\n", cert_b64),
             6, "[web] depth:", NULL);
}

/* ---- files -------------------------------------------------------------- */

Test(policy, relative_and_absolute_paths)
{
    char text[2048], want[600];
    snprintf(text, sizeof text,
             "[web]\ndirection = accept\nmatch = *:443\ncertfile = server.pem\n"
             "keyfile = ./server.key\ndhfile = %s/dh.pem\nverify = verify_peer\n"
             "cacertfile = sub/../sub/ca.pem\n",
             tmpdir);
    policy *p = load_ok(text);
    const policy_rule *r = &p->rules[0];
    snprintf(want, sizeof want, "%s/server.pem", tmpdir);
    cr_assert_str_eq(r->certfile, want);
    snprintf(want, sizeof want, "%s/./server.key", tmpdir);
    cr_assert_str_eq(r->keyfile, want);
    snprintf(want, sizeof want, "%s/dh.pem", tmpdir);
    cr_assert_str_eq(r->dhfile, want);
    snprintf(want, sizeof want, "%s/sub/../sub/ca.pem", tmpdir);
    cr_assert_str_eq(r->cacertfile, want);
    policy_free(p);

    /* A policy in a sub-folder resolves against its own folder, not the cwd. */
    write_file("sub/p.ini", "[up]\ndirection = connect\nmatch = *:1\ncacertfile = ca.pem\n");
    p = NULL;
    cr_assert_eq(policy_load(policy_path("sub/p.ini"), &p, errbuf, sizeof errbuf), 0, "%s", errbuf);
    snprintf(want, sizeof want, "%s/sub/ca.pem", tmpdir);
    cr_assert_str_eq(p->rules[0].cacertfile, want);
    policy_free(p);
}

Test(policy, missing_files)
{
    char want[600];
    snprintf(want, sizeof want, "%s/nope.pem: No such file or directory", tmpdir);
    load_err("[web]\ndirection = accept\nmatch = *:1\ncertfile = nope.pem\n", 4,
             "[web] certfile:", want, NULL);
    load_err(ACCEPT_HEAD "keyfile = nope.key\n", 5, "[web] keyfile:", "nope.key", NULL);
    load_err("[up]\ndirection = connect\nmatch = *:1\ncacertfile = gone.pem\n", 4,
             "[up] cacertfile:", "gone.pem: No such file", NULL);
    load_err(ACCEPT_HEAD "dhfile = sub\n", 5, "[web] dhfile:", "not a regular file", NULL);
}

/* ---- key-level errors --------------------------------------------------- */

Test(policy, callbacks_unknown_and_duplicate_keys)
{
    load_err(CONNECT_HEAD "verify_fun = check\n", 5, "[up] verify_fun:",
             "only in the engine API", NULL);
    load_err(CONNECT_HEAD "reuse_session = yes\n", 5, "[up] reuse_session:",
             "only in the engine API", NULL);
    load_err(CONNECT_HEAD "colour = blue\n", 5, "[up] colour: unknown key (expected direction, ",
             "server_name", "security_level", NULL);
    load_err(CONNECT_HEAD "dpeth = 2\n", 5, "[up] dpeth: unknown key: did you mean depth?", NULL);
    load_err(CONNECT_HEAD "cacertfiles = ca.pem\n", 5, "did you mean cacertfile?", NULL);
    load_err("[global]\nlog_levle = info\n" CONNECT_HEAD, 2, "[global] log_levle:",
             "did you mean log_level?", "(expected log, log_level, keylog, handshake_timeout or stats)",
             NULL);
    load_err(CONNECT_HEAD "Verify = verify_none\n", 5, "[up] Verify:", "lower case: verify",
             NULL);
    load_err(CONNECT_HEAD "log = stderr\n", 5, "[up] log:", "belongs in [global]", NULL);
    load_err(CONNECT_HEAD "depth = 1\ndepth = 2\n", 6, "[up] depth:",
             "given twice (first on line 5)", NULL);
    load_err(CONNECT_HEAD "match = *:9\n", 5, "[up] match:", "given twice (first on line 3)", NULL);
}

Test(policy, duplicate_sections)
{
    load_err(CONNECT_HEAD "[up]\ndirection = connect\n", 5, "[up] is given twice (first on line 1",
             NULL);
    load_err(CONNECT_HEAD "[UP]\n", 5, "[UP] is given twice", NULL);
}

/* ---- whole-rule checks -------------------------------------------------- */

Test(policy, rule_semantics)
{
    load_err("[global]\n\n[web]\ndirection = accept\nmatch = *:443\n", 3, "[web]:",
             "an accept rule needs certfile or cert", NULL);
    load_err(ACCEPT_HEAD "fail_if_no_peer_cert = true\n", 5, "[web] fail_if_no_peer_cert:",
             "needs verify = verify_peer", "the default for accept rules", NULL);
    load_err(ACCEPT_HEAD "verify = verify_none\nfail_if_no_peer_cert = yes\n", 6,
             "[web] fail_if_no_peer_cert:", "needs verify = verify_peer", NULL);
    load_err(text("[web]\ndirection = accept\nmatch = *:1\ncert = %s\n", cert_b64), 4,
             "[web] cert:", "key or keyfile", NULL);
    load_err(CONNECT_HEAD "keyfile = server.key\n", 5, "[up] keyfile:", "certfile or cert", NULL);
    load_err(text(ACCEPT_HEAD "cert = %s\n", cert_b64), 5, "[web] cert:",
             "certfile is set too on line 4", NULL);
    load_err(text(ACCEPT_HEAD "dh = %s\ndhfile = dh.pem\n", dh_b64), 6, "[web] dhfile:",
             "dh is set too on line 5", NULL);
    load_err(CONNECT_HEAD "dhfile = dh.pem\n", 5, "[up] dhfile:", "only applies to accept rules",
             NULL);
    load_err(CONNECT_HEAD "fail_if_no_peer_cert = false\n", 5, "[up] fail_if_no_peer_cert:",
             "only applies to accept rules", NULL);
    load_err(CONNECT_HEAD "client_renegotiation = true\n", 5, "[up] client_renegotiation:",
             "only applies to accept rules", NULL);
    load_err(ACCEPT_HEAD "server_name = example.com\n", 5, "[web] server_name:",
             "only applies to connect rules", NULL);
    load_err("[web]\ndirection = accept\nmatch = *:1, localhost:443\ncertfile = server.pem\n", 3,
             "[web] match:", "'localhost' can never match", "only apply to connect rules", NULL);
    /* DESIGN.md's [web]: an accept rule may ask for client certificates without a CA here. */
    policy *w = load_ok(ACCEPT_HEAD "verify = verify_peer\nfail_if_no_peer_cert = true\n");
    cr_assert(w->rules[0].verify_peer);
    cr_assert(w->rules[0].fail_if_no_peer_cert);
    policy_free(w);
    /* A connect rule without cacertfile or cacerts verifies against the
     * system's trust store (the engine's default), with or without an
     * explicit verify = verify_peer. */
    for (int i = 0; i < 2; i++) {
        policy *s = load_ok(i ? "[up]\ndirection = connect\nmatch = *:443\nverify = verify_peer\n"
                              : "[up]\ndirection = connect\nmatch = *:443\n");
        cr_assert(s->rules[0].verify_peer);
        cr_assert_null(s->rules[0].cacertfile);
        cr_assert_eq(s->rules[0].n_cacerts, 0);
        char *out = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&out, &len);
        policy_print(s, mem);
        fclose(mem);
        cr_assert_not_null(strstr(out, "; cacertfile: default, the system's trust store: "
                                       "SSL_CERT_FILE and SSL_CERT_DIR"), "%s", out);
        free(out);
        policy_free(s);
    }
    /* cacerts and cacertfile add up; the other pairs are one or the other */
    policy *both = load_ok(text(CONNECT_HEAD "cacerts = %s\n", cert_b64));
    cr_assert_eq(both->rules[0].n_cacerts, 1);
    cr_assert_not_null(both->rules[0].cacertfile);
    policy_free(both);
    /* Client certificates on a connect rule are fine. */
    policy *p = load_ok(CONNECT_HEAD "certfile = server.pem\nkeyfile = server.key\n");
    cr_assert_not_null(p->rules[0].certfile);
    policy_free(p);
}

Test(policy, unreachable_rules)
{
    load_err("[all]\ndirection = connect\nverify = verify_none\nmatch = 10.0.0.1:1, *:*\n"
             "[later]\ndirection = connect\nverify = verify_none\nmatch = 127.0.0.1:443\n",
             8, "[later] match:", "rule [later] can never match: [all] line 1 matches everything first",
             NULL);
    load_err("[net]\ndirection = connect\nverify = verify_none\nmatch = 10.0.0.0/8:*\n"
             "[host]\ndirection = connect\nverify = verify_none\nmatch = 10.1.2.3:443, "
             "[::ffff:10.9.9.9]:80\n",
             8, "rule [host] can never match: [net] line 1", NULL);
    load_err("[g]\ndirection = connect\nverify = verify_none\nmatch = *.example.com:443\n"
             "[h]\ndirection = connect\nverify = verify_none\nmatch = WWW.example.com:443\n",
             8, "rule [h] can never match", NULL);
    /* Another direction, a wider port or a partly new address range is reachable. */
    policy *p = load_ok("[all]\ndirection = connect\nverify = verify_none\nmatch = *:*\n"
                        ACCEPT_HEAD
                        "[net]\ndirection = accept\nmatch = 10.0.0.0/8:443\ncertfile = server.pem\n"
                        "[wider]\ndirection = accept\nmatch = 10.0.0.0/8:*, 10.1.0.0/16:443\n"
                        "certfile = server.pem\n"
                        "[v6]\ndirection = accept\nmatch = [::ffff:0:0]/96:443\n"
                        "certfile = server.pem\n");
    cr_assert_eq(p->n_rules, 5);
    policy_free(p);
}

/* ---- syntax and file errors --------------------------------------------- */

Test(policy, syntax)
{
    load_err("direction = connect\n" CONNECT_HEAD, 1, "direction:", "outside any section", NULL);
    load_err("[up\n", 1, "no ']'", NULL);
    load_err("[up] junk\n", 1, "text after ']'", NULL);
    load_err("[bad name]\n", 1, "not a section name", NULL);
    load_err("[]\n", 1, "not a section name", NULL);
    load_err(CONNECT_HEAD "verify\n", 5, "expected KEY = VALUE", NULL);
    load_err(CONNECT_HEAD "= verify_none\n", 5, "no key before '='", NULL);
    load_err(CONNECT_HEAD "verify =\n", 5, "[up] verify:", "empty value", NULL);
}

Test(policy, empty_and_missing_files)
{
    policy *p = (policy *)0x1;
    cr_assert_eq(try_load("; nothing here\n[global]\nlog = stderr\n", &p), -1);
    cr_assert_null(p);
    cr_assert_not_null(strstr(errbuf, "policy.ini: no rules"), "%s", errbuf);

    cr_assert_eq(policy_load("no-such-policy.ini", &p, errbuf, sizeof errbuf), -1);
    cr_assert_str_eq(errbuf, "no-such-policy.ini: cannot open: No such file or directory");
    cr_assert_eq(policy_load(tmpdir, &p, errbuf, sizeof errbuf), -1);
    cr_assert_not_null(strstr(errbuf, ": cannot open: Is a directory"), "%s", errbuf);
    /* A tiny error buffer is truncated, never overrun. */
    char small[8];
    cr_assert_eq(policy_load("no-such-policy.ini", &p, small, sizeof small), -1);
    cr_assert_str_eq(small, "no-such");
    cr_assert_eq(policy_load("no-such-policy.ini", &p, NULL, 0), -1);
}

Test(policy, nul_byte)
{
    write_file("policy.ini", CONNECT_HEAD);
    FILE *f = fopen(policy_path("policy.ini"), "a");
    cr_assert_not_null(f);
    fwrite("depth = 1\0\n", 1, 11, f);
    fclose(f);
    policy *p = NULL;
    cr_assert_eq(policy_load(policy_path("policy.ini"), &p, errbuf, sizeof errbuf), -1);
    cr_assert_not_null(strstr(errbuf, "policy.ini:5: a NUL byte"), "%s", errbuf);
}

Test(policy, comments_bom_indentation)
{
    policy *p = load_ok("\xEF\xBB\xBF; a comment\n# another\n\n[up]   ; the upstream\n"
                        "  direction = connect ; inline comment\n\tmatch : 127.0.0.1:8443\n"
                        "cacertfile=ca.pem\n");
    cr_assert_eq(p->rules[0].line, 4);
    cr_assert_eq(p->rules[0].key_line[POLICY_KEY_DIRECTION], 5);
    cr_assert_eq(p->rules[0].key_line[POLICY_KEY_MATCH], 6);
    cr_assert_eq(p->rules[0].matches[0].port, 8443);
    cr_assert_str_eq(p->rules[0].cacertfile + strlen(tmpdir), "/ca.pem");
    policy_free(p);
}

/* ---- matching ----------------------------------------------------------- */

static struct sockaddr_storage ss;

static const struct sockaddr *sa(const char *ip, int port)
{
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
    } else {
        cr_assert_eq(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1, "bad test address %s", ip);
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
    }
    return (const struct sockaddr *)&ss;
}

static const char *found(const policy *p, policy_direction d, const char *ip, int port,
                         const char *host)
{
    const policy_rule *r = policy_find(p, d, sa(ip, port), host);
    return r ? r->name : "-";
}

#define NONE_C "direction = connect\nverify = verify_none\n"

Test(policy, match_ipv4_and_cidr_edges)
{
    policy *p = load_ok("[one]\n" NONE_C "match = 192.0.2.7:443\n"
                        "[net]\n" NONE_C "match = 10.0.0.0/8:443\n"
                        "[all4]\n" NONE_C "match = 0.0.0.0/0:443\n");
    cr_assert_str_eq(found(p, POLICY_CONNECT, "192.0.2.7", 443, NULL), "one");
    cr_assert_str_eq(found(p, POLICY_CONNECT, "192.0.2.8", 443, NULL), "all4");
    cr_assert_str_eq(found(p, POLICY_CONNECT, "10.0.0.0", 443, NULL), "net");
    cr_assert_str_eq(found(p, POLICY_CONNECT, "10.255.255.255", 443, NULL), "net");
    cr_assert_str_eq(found(p, POLICY_CONNECT, "11.0.0.0", 443, NULL), "all4");
    cr_assert_str_eq(found(p, POLICY_CONNECT, "9.255.255.255", 443, NULL), "all4");
    cr_assert_str_eq(found(p, POLICY_CONNECT, "10.1.1.1", 444, NULL), "-", "port differs");
    cr_assert_str_eq(found(p, POLICY_CONNECT, "::1", 443, NULL), "-", "/0 of IPv4 is not IPv6");
    /* IPv4-mapped IPv6 addresses match IPv4 entries. */
    cr_assert_str_eq(found(p, POLICY_CONNECT, "::ffff:192.0.2.7", 443, NULL), "one");
    cr_assert_str_eq(found(p, POLICY_CONNECT, "::ffff:10.2.3.4", 443, NULL), "net");
    policy_free(p);

    p = load_ok("[odd]\n" NONE_C "match = 172.16.0.0/12:*, 192.168.1.128/25:*\n");
    cr_assert_str_eq(found(p, POLICY_CONNECT, "172.31.255.255", 1, NULL), "odd");
    cr_assert_str_eq(found(p, POLICY_CONNECT, "172.32.0.0", 1, NULL), "-");
    cr_assert_str_eq(found(p, POLICY_CONNECT, "192.168.1.128", 2, NULL), "odd");
    cr_assert_str_eq(found(p, POLICY_CONNECT, "192.168.1.127", 2, NULL), "-");
    policy_free(p);
}

Test(policy, match_ipv6)
{
    policy *p = load_ok("[lo]\n" NONE_C "match = [::1]:8443\n"
                        "[ula]\n" NONE_C "match = [fd00::]/8:*\n"
                        "[mapped]\n" NONE_C "match = [::ffff:127.0.0.0]/104:80\n"
                        "[all6]\n" NONE_C "match = [::]/0:443\n");
    cr_assert_str_eq(found(p, POLICY_CONNECT, "::1", 8443, NULL), "lo");
    cr_assert_str_eq(found(p, POLICY_CONNECT, "::1", 8444, NULL), "-");
    cr_assert_str_eq(found(p, POLICY_CONNECT, "fdff:1::2", 5, NULL), "ula");
    cr_assert_str_eq(found(p, POLICY_CONNECT, "fe00::1", 5, NULL), "-");
    cr_assert_str_eq(found(p, POLICY_CONNECT, "2001:db8::1", 443, NULL), "all6");
    /* An IPv6 entry inside ::ffff:0:0/96 is an IPv4 entry: both spellings fit. */
    cr_assert_str_eq(found(p, POLICY_CONNECT, "127.1.2.3", 80, NULL), "mapped");
    cr_assert_str_eq(found(p, POLICY_CONNECT, "::ffff:127.1.2.3", 80, NULL), "mapped");
    cr_assert_str_eq(found(p, POLICY_CONNECT, "128.0.0.1", 80, NULL), "-");
    /* [::]/0 means IPv6: IPv4 peers are not swept in. */
    cr_assert_str_eq(found(p, POLICY_CONNECT, "8.8.8.8", 443, NULL), "-");
    policy_free(p);
}

Test(policy, match_any_ports_hosts_and_order)
{
    policy *p = load_ok("[web]\n" NONE_C "match = *.Example.COM:443, localhost:25\n"
                        "[first]\n" NONE_C "match = 127.0.0.1:*\n"
                        "[second]\n" NONE_C "match = 127.0.0.1:80, 127.0.0.2:80\n"
                        "[anyaddr]\n" NONE_C "match = *:993\n"
                        "[srv]\ndirection = accept\nmatch = *:80\ncertfile = server.pem\n");
    /* Host globs: case-insensitive, need a name, port still applies. */
    cr_assert_str_eq(found(p, POLICY_CONNECT, "192.0.2.1", 443, "www.example.com"), "web");
    cr_assert_str_eq(found(p, POLICY_CONNECT, "192.0.2.1", 443, "A.B.EXAMPLE.com."), "web");
    cr_assert_str_eq(found(p, POLICY_CONNECT, "192.0.2.1", 443, "example.com"), "-");
    cr_assert_str_eq(found(p, POLICY_CONNECT, "192.0.2.1", 443, NULL), "-");
    cr_assert_str_eq(found(p, POLICY_CONNECT, "192.0.2.1", 80, "www.example.com"), "-");
    cr_assert_str_eq(found(p, POLICY_CONNECT, "::1", 25, "LocalHost"), "web");
    cr_assert_str_eq(found(p, POLICY_CONNECT, "::1", 25, "localhost.localdomain"), "-");
    /* Port * and first match wins. */
    cr_assert_str_eq(found(p, POLICY_CONNECT, "127.0.0.1", 80, NULL), "first");
    cr_assert_str_eq(found(p, POLICY_CONNECT, "127.0.0.1", 65535, NULL), "first");
    cr_assert_str_eq(found(p, POLICY_CONNECT, "127.0.0.2", 80, NULL), "second");
    cr_assert_str_eq(found(p, POLICY_CONNECT, "127.0.0.2", 81, NULL), "-");
    /* '*' takes either family. */
    cr_assert_str_eq(found(p, POLICY_CONNECT, "203.0.113.9", 993, NULL), "anyaddr");
    cr_assert_str_eq(found(p, POLICY_CONNECT, "2001:db8::9", 993, NULL), "anyaddr");
    /* Directions are separate. */
    cr_assert_str_eq(found(p, POLICY_ACCEPT, "127.0.0.1", 80, NULL), "srv");
    cr_assert_str_eq(found(p, POLICY_ACCEPT, "127.0.0.1", 993, NULL), "-");
    cr_assert_str_eq(found(p, POLICY_CONNECT, "10.0.0.1", 80, NULL), "-");
    /* Not IP: no rule. */
    struct sockaddr un = {.sa_family = AF_UNIX};
    cr_assert_null(policy_find(p, POLICY_CONNECT, &un, NULL));
    cr_assert_null(policy_find(p, POLICY_CONNECT, NULL, NULL));
    cr_assert_null(policy_find(NULL, POLICY_CONNECT, sa("127.0.0.1", 80), NULL));
    policy_free(p);
}

/* ---- print -------------------------------------------------------------- */

static void assert_same_bytes(const policy_bytes *a, const policy_bytes *b)
{
    cr_assert_eq(a->len, b->len);
    cr_assert_eq(a->data == NULL, b->data == NULL);
    if (a->data)
        cr_assert_eq(memcmp(a->data, b->data, a->len), 0);
}

static void assert_same_str(const char *a, const char *b)
{
    cr_assert_eq(a == NULL, b == NULL, "%s vs %s", a ? a : "NULL", b ? b : "NULL");
    if (a)
        cr_assert_str_eq(a, b);
}

static void assert_same_policy(const policy *a, const policy *b)
{
    assert_same_str(a->log, b->log);
    assert_same_str(a->keylog, b->keylog);
    cr_assert_eq(a->log_level, b->log_level);
    cr_assert_eq(a->handshake_timeout_ms, b->handshake_timeout_ms);
    cr_assert_eq(a->n_rules, b->n_rules);
    for (size_t i = 0; i < a->n_rules; i++) {
        const policy_rule *x = &a->rules[i], *y = &b->rules[i];
        cr_assert_str_eq(x->name, y->name);
        cr_assert_eq(x->direction, y->direction);
        cr_assert_eq(x->n_matches, y->n_matches);
        for (size_t j = 0; j < x->n_matches; j++) {
            const policy_match *m = &x->matches[j], *n = &y->matches[j];
            cr_assert_eq(m->kind, n->kind);
            cr_assert_eq(memcmp(m->addr, n->addr, 16), 0);
            cr_assert_eq(m->prefix, n->prefix);
            cr_assert_eq(m->port, n->port);
            assert_same_str(m->host_glob, n->host_glob);
        }
        cr_assert_eq(x->verify_peer, y->verify_peer);
        cr_assert_eq(x->fail_if_no_peer_cert, y->fail_if_no_peer_cert);
        cr_assert_eq(x->depth, y->depth);
        cr_assert_eq(x->security_level, y->security_level);
        cr_assert_eq(x->secure_renegotiate, y->secure_renegotiate);
        cr_assert_eq(x->reuse_sessions, y->reuse_sessions);
        assert_same_str(x->certfile, y->certfile);
        assert_same_str(x->keyfile, y->keyfile);
        assert_same_str(x->cacertfile, y->cacertfile);
        assert_same_str(x->dhfile, y->dhfile);
        assert_same_str(x->password, y->password);
        assert_same_str(x->ciphers, y->ciphers);
        assert_same_str(x->versions, y->versions);
        assert_same_str(x->alpn, y->alpn);
        assert_same_str(x->server_name, y->server_name);
        assert_same_bytes(&x->cert, &y->cert);
        assert_same_bytes(&x->key, &y->key);
        assert_same_bytes(&x->dh, &y->dh);
        cr_assert_eq(x->n_cacerts, y->n_cacerts);
        for (size_t j = 0; j < x->n_cacerts; j++)
            assert_same_bytes(&x->cacerts[j], &y->cacerts[j]);
    }
}

Test(policy, print_reparses_to_the_same_rules)
{
    policy *p = load_ok(
        text("[global]\nlog = tls.log\nlog_level = warning\nkeylog = keys.log\n"
                 "handshake_timeout = 2500\n"
                 "[up]\ndirection = connect\nmatch = 127.0.0.1:8443, [::1]:*, 10.0.0.0/8:443, "
                 "[fd00::]/8:*, *.example.com:443, *:9\nserver_name = localhost\n"
                 "cacerts = %s, %s\ncacertfile = ca.pem\ndepth = 3\nsecurity_level = 0\n"
                 "versions = tlsv1.2, tlsv1.3\nciphers = AES128-SHA\nalpn = h2, http/1.1\n"
                 "reuse_sessions = no\nsecure_renegotiate = off\n"
                 "[web]\ndirection = accept\nmatch = *:8443\ncert = %s\nkey = %s\n"
                 "password = pa ss\nverify = verify_peer\nfail_if_no_peer_cert = true\n"
                 "cacertfile = sub/ca.pem\ndh = %s\n"
                 "[plain]\ndirection = accept\nmatch = [::]/0:*\ncertfile = server.pem\n"
                 "dhfile = dh.pem\n",
                 cert_b64, cert_b64, cert_b64, enckey_b64, dh_b64));

    char *out = NULL;
    size_t out_len = 0;
    FILE *mem = open_memstream(&out, &out_len);
    cr_assert_not_null(mem);
    policy_print(p, mem);
    fclose(mem);
    cr_assert_not_null(strstr(out, "[web]\ndirection = accept\nmatch = *:8443\n"), "%s", out);
    cr_assert_not_null(strstr(out, "match = 127.0.0.1:8443, [::1]:*, 10.0.0.0/8:443, "
                                   "[fd00::]/8:*, *.example.com:443, *:9\n"),
                       "%s", out);
    cr_assert_not_null(strstr(out, "verify = verify_none  ; default"), "%s", out);
    cr_assert_not_null(strstr(out, "log_level = warning\n"), "%s", out);
    cr_assert_not_null(strstr(out, "security_level = 0\n"), "%s", out);
    cr_assert_not_null(strstr(out, "security_level = 2  ; default"), "%s", out);
    cr_assert_not_null(strstr(out, "; ciphers: default, the engine's"), "%s", out);
    /* each rule shows the keys of its own direction only */
    const char *web = strstr(out, "\n[web]\n"), *plain = strstr(out, "\n[plain]\n");
    cr_assert(web && plain && web < plain, "%s", out);
    const char *in_up = strstr(out, "fail_if_no_peer_cert"), *in_web = strstr(web, "server_name");
    cr_assert(in_up && in_up > web, "fail_if_no_peer_cert shown for a connect rule:\n%s", out);
    cr_assert(!in_web || in_web > plain, "server_name shown for an accept rule:\n%s", out);

    policy *q = NULL;
    write_file("printed.ini", out);
    cr_assert_eq(policy_load(policy_path("printed.ini"), &q, errbuf, sizeof errbuf), 0,
                 "printed policy does not load: %s\n%s", errbuf, out);
    assert_same_policy(p, q);
    policy_free(q);
    policy_free(p);
    free(out);

    policy_print(NULL, stdout); /* nothing, no crash */
}

/* ---- base64 ------------------------------------------------------------- */

Test(base64, round_trip_and_strictness)
{
    uint8_t data[64];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 37 + 11);
    for (size_t n = 0; n <= sizeof data; n++) {
        char *s = policy_b64_encode(data, n);
        cr_assert_not_null(s);
        cr_assert_eq(strlen(s), (n + 2) / 3 * 4);
        if (n == 0) {
            free(s);
            continue;
        }
        policy_bytes b;
        size_t bad;
        cr_assert_eq(policy_b64_decode(s, strlen(s), &b, &bad), 0, "length %zu: %s", n, s);
        cr_assert_eq(b.len, n);
        cr_assert_eq(memcmp(b.data, data, n), 0);
        free(b.data);
        free(s);
    }
    char *s = policy_b64_encode((const uint8_t *)"foobar", 6);
    cr_assert_str_eq(s, "Zm9vYmFy");
    free(s);
    s = policy_b64_encode((const uint8_t *)"fo", 2);
    cr_assert_str_eq(s, "Zm8=");
    free(s);

    struct {
        const char *in;
        size_t bad;
    } wrong[] = {{"Zm8", 3}, {"Zm9=Zm8=", 3}, {"Zm9v YmFy", 4}, {"Zm9=", 2}, {"Zh==", 1},
                 {"====", 0}, {"Zm-v", 2}, {"", 0}, {"Zm9vY", 5}};
    for (size_t i = 0; i < sizeof wrong / sizeof *wrong; i++) {
        policy_bytes b = {(uint8_t *)0x1, 7};
        size_t bad = 99;
        cr_assert_eq(policy_b64_decode(wrong[i].in, strlen(wrong[i].in), &b, &bad), -1, "%s",
                     wrong[i].in);
        cr_assert_null(b.data);
        cr_assert_eq(b.len, 0);
        cr_assert_eq(bad, wrong[i].bad, "%s: bad at %zu", wrong[i].in, bad);
    }
}

/* ---- the example policies ----------------------------------------------- */

/* Loads examples/policies/NAME from a copy placed as the repository has it,
 * beside stand-ins for the test PKI files it names. */
static policy *load_example(const char *name)
{
    const char *top = getenv("TOP");
    char src[1024], dst[256], *text = NULL;
    snprintf(src, sizeof src, "%s/examples/policies/%s", top && *top ? top : ".", name);
    FILE *f = fopen(src, "r");
    cr_assert_not_null(f, "cannot open %s (run from the top of the repository)", src);
    size_t cap = 0;
    ssize_t n = getdelim(&text, &cap, '\0', f);
    fclose(f);
    cr_assert_gt(n, 0);
    static const char *const dirs[] = {"examples", "examples/policies", "build", "build/pki"};
    for (size_t i = 0; i < 4; i++) {
        if (mkdir(policy_path(dirs[i]), 0700) != 0)
            cr_assert_eq(errno, EEXIST);
    }
    static const char *const pki[] = {"ca.pem", "server.pem", "server.key", "client.pem",
                                      "client.key", "encrypted.pem", "encrypted.key", "dh.pem"};
    for (size_t i = 0; i < sizeof pki / sizeof *pki; i++) {
        snprintf(dst, sizeof dst, "build/pki/%s", pki[i]);
        write_file(dst, "stand-in\n");
    }
    snprintf(dst, sizeof dst, "examples/policies/%s", name);
    write_file(dst, text);
    free(text);
    policy *p = NULL;
    cr_assert_eq(policy_load(policy_path(dst), &p, errbuf, sizeof errbuf), 0, "%s: %s", name,
                 errbuf);
    return p;
}

Test(policy, example_client)
{
    policy *p = load_example("client.ini");
    cr_assert_eq(p->n_rules, 1);
    const policy_rule *r = policy_find(p, POLICY_CONNECT, sa("127.0.0.1", 8443), NULL);
    cr_assert_not_null(r);
    cr_assert(r->verify_peer);
    cr_assert_str_eq(r->server_name, "localhost");
    cr_assert_not_null(strstr(r->cacertfile, "/examples/policies/../../build/pki/ca.pem"));
    cr_assert_null(policy_find(p, POLICY_CONNECT, sa("127.0.0.1", 8444), NULL));
    policy_free(p);
}

Test(policy, example_server)
{
    policy *p = load_example("server.ini");
    const policy_rule *r = policy_find(p, POLICY_ACCEPT, sa("::", 8443), NULL);
    cr_assert_not_null(r);
    cr_assert_str_eq(r->name, "web");
    cr_assert_not(r->verify_peer);
    cr_assert_not_null(r->certfile);
    cr_assert_not_null(r->keyfile);
    policy_free(p);
}

Test(policy, example_full_names_every_key)
{
    policy *p = load_example("full.ini");
    cr_assert_eq(p->n_rules, 2);
    cr_assert_not_null(p->keylog);
    for (int g = 0; g < POLICY_GLOBAL_COUNT; g++)
        cr_assert_gt(p->global_key_line[g], 0, "global key %d missing from full.ini", g);
    /* Every rule key is set in one of the two rules or shown commented out. */
    const policy_rule *c = &p->rules[0], *a = &p->rules[1];
    for (int k = 0; k < POLICY_KEY_COUNT; k++) {
        bool set = c->key_line[k] || a->key_line[k];
        bool commented = k == POLICY_KEY_CACERTS || k == POLICY_KEY_CERT || k == POLICY_KEY_KEY ||
                         k == POLICY_KEY_DH;
        cr_assert(set || commented, "full.ini lacks %s", policy_key_name((policy_key)k));
    }
    cr_assert(a->fail_if_no_peer_cert);
    cr_assert_str_eq(a->password, "secret");
    cr_assert_str_eq(c->alpn, "h2, http/1.1");
    policy_free(p);
}

/* ---- the README's key table ------------------------------------------- */

/* The table's cells, split on " | " (no cell holds a '|'). */
static size_t cells(char *row, char **out, size_t max)
{
    size_t n = 0;
    char *s = row;
    if (*s == '|')
        s++;
    for (char *bar; n < max && (bar = strchr(s, '|')) != NULL; s = bar + 1) {
        *bar = '\0';
        char *c = s;
        while (*c == ' ')
            c++;
        size_t len = strlen(c);
        while (len > 0 && c[len - 1] == ' ')
            c[--len] = '\0';
        out[n++] = c;
    }
    return n;
}

/* README.md documents every key with the code's name, sections and default
 * (and doc line): the table is written by policy_keys_markdown, and this test
 * keeps the two equal. */
Test(policy, readme_key_table_equals_the_code)
{
    const char *top = getenv("TOP");
    char path[1024];
    snprintf(path, sizeof path, "%s/README.md", top && *top ? top : ".");
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    char *readme = NULL;
    size_t cap = 0;
    cr_assert_gt(getdelim(&readme, &cap, '\0', f), 0);
    fclose(f);
    /* every key of the code is in README.md, by name */
    for (int k = 0; k < POLICY_KEY_COUNT; k++) {
        char name[80];
        snprintf(name, sizeof name, "| `%s` |", policy_key_name((policy_key)k));
        cr_assert_not_null(strstr(readme, name), "README lacks %s", name);
    }

    char *want = NULL;
    size_t want_len = 0;
    FILE *mem = open_memstream(&want, &want_len);
    policy_keys_markdown(mem);
    fclose(mem);

    const char *header = "| key | sections | default | what it takes |\n";
    char *start = strstr(readme, header);
    cr_assert_not_null(start, "README.md has no key table starting with %s", header);
    char *end = start;
    while (*end == '|') { /* the table: consecutive lines starting with '|' */
        char *nl = strchr(end, '\n');
        end = nl ? nl + 1 : end + strlen(end);
    }
    *end = '\0';

    char *save_r = NULL, *save_w = NULL;
    char *r = strtok_r(start, "\n", &save_r), *w = strtok_r(want, "\n", &save_w);
    static const char *const col[] = {"key", "sections", "default", "doc"};
    for (int row = 1; r || w; row++) {
        cr_assert(r && w, "README's key table has %s rows than the code's; the table should "
                  "read:\n%s", r ? "more" : "fewer", want);
        if (strcmp(r, w) != 0) {
            char *rc[6], *wc[6];
            size_t nr = cells(r, rc, 6), nw = cells(w, wc, 6);
            cr_assert_eq(nr, nw, "README row %d has %zu cells, not %zu", row, nr, nw);
            for (size_t i = 0; i < nw; i++)
                cr_assert_str_eq(rc[i], wc[i], "README key table row %d (%s), %s column: '%s' in "
                                 "README, '%s' in config/keys.c", row, wc[0], col[i < 4 ? i : 3],
                                 rc[i], wc[i]);
        }
        r = strtok_r(NULL, "\n", &save_r);
        w = strtok_r(NULL, "\n", &save_w);
    }
    free(want);
    free(readme);
}
