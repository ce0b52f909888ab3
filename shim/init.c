/* Start-up: read the policy named by TLSSHIM_CONFIG, build one tls_config per
 * rule, open the log and the key log. Fail closed: an invalid policy (or a
 * key that does not load) prints "tlsshim: <error>" and ends the process
 * before main() - a program that was meant to speak TLS never runs without it. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"

policy *shim_policy;
tls_config **shim_configs;

static atomic_int init_state; /* 0 not yet, 1 running, 2 done */
static _Thread_local bool in_init;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int keylog_fd = -1;

static void die(const char *msg)
{
    char line[2048];
    int n = snprintf(line, sizeof line, "tlsshim: %s\n", msg);
    if (n > 0) {
        if ((size_t)n >= sizeof line)
            n = (int)sizeof line - 1;
        ssize_t w = write(2, line, (size_t)n);
        (void)w;
    }
    _exit(1);
}

void shim_keylog_cb(const char *line, void *arg)
{
    (void)arg;
    if (keylog_fd < 0 || !line)
        return;
    size_t n = strlen(line);
    char buf[1024];
    if (n + 1 > sizeof buf)
        return;
    memcpy(buf, line, n);
    buf[n] = '\n';
    int saved = errno;
    ssize_t w = write(keylog_fd, buf, n + 1); /* O_APPEND: one line, one write */
    (void)w;
    errno = saved;
}

size_t shim_rule_index(const policy_rule *r)
{
    return (size_t)(r - shim_policy->rules);
}

/* cacerts as the two arrays tls_options wants; static per call site is not
 * thread-safe, so the caller owns them (freed after tls_config_new). */
typedef struct cacert_arrays {
    const uint8_t **ders;
    size_t *lens;
} cacert_arrays;

static int rule_options(const policy *p, const policy_rule *r, tls_options *o, cacert_arrays *ca,
                        char *msg, size_t msg_len)
{
    tls_options_init(o);
    o->verify = r->verify_peer ? TLS_VERIFY_PEER : TLS_VERIFY_NONE;
    o->fail_if_no_peer_cert = r->fail_if_no_peer_cert;
    o->depth = r->depth;
    if (r->cert.data) {
        o->cert = r->cert.data;
        o->cert_len = r->cert.len;
    }
    o->certfile = r->certfile;
    if (r->key.data) {
        o->key = r->key.data;
        o->key_len = r->key.len;
    }
    o->keyfile = r->keyfile;
    o->password = r->password;
    if (r->n_cacerts > 0 && ca) {
        ca->ders = calloc(r->n_cacerts, sizeof *ca->ders);
        ca->lens = calloc(r->n_cacerts, sizeof *ca->lens);
        if (!ca->ders || !ca->lens) {
            snprintf(msg, msg_len, "out of memory");
            return -1;
        }
        for (size_t i = 0; i < r->n_cacerts; i++) {
            ca->ders[i] = r->cacerts[i].data;
            ca->lens[i] = r->cacerts[i].len;
        }
        o->cacerts = ca->ders;
        o->cacerts_len = ca->lens;
        o->n_cacerts = r->n_cacerts;
    }
    o->cacertfile = r->cacertfile;
    if (r->dh.data) {
        o->dh = r->dh.data;
        o->dh_len = r->dh.len;
    }
    o->dhfile = r->dhfile;
    o->ciphers = r->ciphers;
    if (r->versions) {
        tls_error err;
        memset(&err, 0, sizeof err);
        unsigned mask = 0;
        if (tls_parse_versions(r->versions, &mask, &err) < 0) {
            char t[256];
            snprintf(msg, msg_len, "%s:%d: [%s] versions: %s", p->path,
                     r->key_line[POLICY_KEY_VERSIONS], r->name,
                     tls_format_error(&err, t, sizeof t));
            return -1;
        }
        o->versions = mask;
    }
    o->secure_renegotiate = r->secure_renegotiate;
    o->reuse_sessions = r->reuse_sessions;
    o->server_name = r->server_name;
    o->alpn = r->alpn;
    if (p->keylog) {
        o->keylog = shim_keylog_cb;
        o->keylog_arg = NULL;
    }
    return 0;
}

int shim_rule_options(const policy *p, const policy_rule *r, tls_options *o, char *msg,
                      size_t msg_len)
{
    return rule_options(p, r, o, NULL, msg, msg_len);
}

/* Which key a tls_config_new error is about: the key named at the start of
 * the engine's detail ("certfile /x.pem: ..."), else a guess from the code. */
static policy_key blame_key(const policy_rule *r, const tls_error *e)
{
    static const struct {
        const char *word;
        policy_key key;
    } words[] = {
        {"password", POLICY_KEY_PASSWORD},     {"keyfile", POLICY_KEY_KEYFILE},
        {"certfile", POLICY_KEY_CERTFILE},     {"cacertfile", POLICY_KEY_CACERTFILE},
        {"cacerts", POLICY_KEY_CACERTS},       {"dhfile", POLICY_KEY_DHFILE},
        {"ciphers", POLICY_KEY_CIPHERS},       {"versions", POLICY_KEY_VERSIONS},
        {"alpn", POLICY_KEY_ALPN},             {"server_name", POLICY_KEY_SERVER_NAME},
        {"depth", POLICY_KEY_DEPTH},           {"verify", POLICY_KEY_VERIFY},
        {"fail_if_no_peer_cert", POLICY_KEY_FAIL_IF_NO_PEER_CERT},
        {"secure_renegotiate", POLICY_KEY_SECURE_RENEGOTIATE},
        {"cert", POLICY_KEY_CERT},             {"key", POLICY_KEY_KEY},
        {"dh", POLICY_KEY_DH},
    };
    const char *d = e->detail;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        size_t n = strlen(words[i].word);
        if (strncmp(d, words[i].word, n) == 0 && !(d[n] >= 'a' && d[n] <= 'z') && d[n] != '_')
            return words[i].key;
    }
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (strstr(d, words[i].word) && r->key_line[words[i].key])
            return words[i].key;
    }
    /* a key that does not decrypt or does not match: password, else keyfile */
    if (r->key_line[POLICY_KEY_PASSWORD] && (strstr(d, "decrypt") || strstr(d, "pass")))
        return POLICY_KEY_PASSWORD;
    if (r->key_line[POLICY_KEY_KEYFILE])
        return POLICY_KEY_KEYFILE;
    if (r->key_line[POLICY_KEY_KEY])
        return POLICY_KEY_KEY;
    if (r->key_line[POLICY_KEY_CERTFILE])
        return POLICY_KEY_CERTFILE;
    return POLICY_KEY_COUNT;
}

int shim_build_config(const policy *p, const policy_rule *r, tls_config **out, char *msg,
                      size_t msg_len)
{
    tls_options o;
    cacert_arrays ca = {NULL, NULL};
    int rc = -1;
    if (rule_options(p, r, &o, &ca, msg, msg_len) < 0)
        goto done;
    tls_error err;
    memset(&err, 0, sizeof err);
    err.alert = -1;
    if (tls_config_new(&o, r->direction == POLICY_ACCEPT, out, &err) < 0) {
        char t[300];
        tls_format_error(&err, t, sizeof t);
        policy_key k = blame_key(r, &err);
        /* certfile/keyfile/password fall back on each other's line */
        int line = k < POLICY_KEY_COUNT ? r->key_line[k] : 0;
        if (!line && (k == POLICY_KEY_PASSWORD || k == POLICY_KEY_KEYFILE)) {
            k = r->key_line[POLICY_KEY_KEYFILE] ? POLICY_KEY_KEYFILE : POLICY_KEY_CERTFILE;
            line = r->key_line[k];
        }
        if (line)
            snprintf(msg, msg_len, "%s:%d: [%s] %s: %s", p->path, line, r->name,
                     policy_key_name(k), t);
        else
            snprintf(msg, msg_len, "%s:%d: [%s]: %s", p->path, r->line, r->name, t);
        *out = NULL;
        goto done;
    }
    rc = 0;
done:
    free(ca.ders);
    free(ca.lens);
    return rc;
}

static void do_init(void)
{
    in_init = true;
    atomic_store(&init_state, 1);
    shim_real_init();
    shim_fdtable_init();
    const char *path = getenv("TLSSHIM_CONFIG");
    if (!path || !*path)
        die("TLSSHIM_CONFIG is not set: libtlsshim.so needs a policy (run the program with "
            "`tlsshim -c POLICY PROGRAM`)");
    char err[1024] = "";
    policy *p = NULL;
    if (policy_load(path, &p, err, sizeof err) < 0)
        die(err[0] ? err : "invalid policy");
    shim_policy = p;
    shim_log_init(p);
    if (p->keylog) {
        int fd = open(p->keylog, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
            char m[4200];
            snprintf(m, sizeof m, "%s:%d: [global] keylog: cannot open %s: %s", p->path,
                     p->global_key_line[2], p->keylog, strerror(errno));
            die(m);
        }
        shim_lock();
        keylog_fd = shim_fd_high(fd);
        shim_unlock();
    }
    shim_configs = calloc(p->n_rules ? p->n_rules : 1, sizeof *shim_configs);
    if (!shim_configs)
        die("out of memory");
    for (size_t i = 0; i < p->n_rules; i++) {
        if (shim_build_config(p, &p->rules[i], &shim_configs[i], err, sizeof err) < 0)
            die(err);
    }
    /* Registered after the engine initialised libcrypto (whose cleanup is an
     * atexit handler too): handlers run in reverse, so the helper flushes
     * and stops before libcrypto is torn down. */
    atexit(shim_helper_exit_drain);
    shim_fork_init();
    shim_log(POLICY_LOG_DEBUG, "policy %s: %zu rule(s)", p->path, p->n_rules);
    atomic_store(&init_state, 2);
    in_init = false;
}

void shim_init(void)
{
    if (atomic_load_explicit(&init_state, memory_order_acquire) == 2 || in_init)
        return;
    pthread_once(&init_once, do_init);
}

bool shim_active(void)
{
    return atomic_load_explicit(&init_state, memory_order_acquire) == 2 && shim_policy && !in_init;
}

__attribute__((constructor)) static void shim_constructor(void)
{
    shim_init();
}
