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

#include "ruleopts.h"
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

int shim_build_config(const policy *p, const policy_rule *r, tls_config **out, char *msg,
                      size_t msg_len)
{
    return ruleopts_build(p, r, out, msg, msg_len, shim_keylog_cb);
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
    stats_init(p);
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
    shim_fdtable_init_done();
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
