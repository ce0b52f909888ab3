/* The shim's log: stderr, syslog or a file (policy keys `log`, `log_level`).
 * Lines are written with one write() each, so concurrent processes appending
 * to the same file do not interleave within a line. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "shim.h"

enum { LOG_TO_STDERR, LOG_TO_SYSLOG, LOG_TO_FILE };
static int log_kind = LOG_TO_STDERR;
static int log_fd = 2;
static policy_log_level log_level = POLICY_LOG_INFO;
static char log_path[4096];
/* getpid() once per process, not per line (the helper logs each
 * connection's end); reset in a forked child */
static pid_t log_pid;

void shim_log_init(const policy *p)
{
    log_level = p->log_level;
    if (!p->log || strcmp(p->log, "stderr") == 0) {
        log_kind = LOG_TO_STDERR;
        log_fd = 2;
    } else if (strcmp(p->log, "syslog") == 0) {
        log_kind = LOG_TO_SYSLOG;
        openlog("tlsshim", LOG_PID, LOG_USER);
    } else {
        snprintf(log_path, sizeof log_path, "%s", p->log);
        int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
            /* init.c validated nothing about writability; fall back loudly */
            char msg[512];
            int n = snprintf(msg, sizeof msg, "tlsshim: cannot open log %s: %s; logging to stderr\n",
                             log_path, strerror(errno));
            if (n > 0 && write(2, msg, (size_t)n) < 0)
                (void)0;
            log_kind = LOG_TO_STDERR;
            log_fd = 2;
            return;
        }
        shim_lock();
        log_fd = shim_fd_high(fd);
        shim_unlock();
        log_kind = LOG_TO_FILE;
    }
}

bool shim_log_enabled(policy_log_level lvl)
{
    return lvl <= log_level;
}

void shim_log(policy_log_level lvl, const char *fmt, ...)
{
    if (lvl > log_level)
        return;
    int saved = errno;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (log_kind == LOG_TO_SYSLOG) {
        static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
        syslog(prio[lvl], "%s", msg);
        errno = saved;
        return;
    }
    static const char *const names[] = {"error", "warning", "info", "debug"};
    char line[1200];
    if (log_pid == 0)
        log_pid = getpid();
    int n = snprintf(line, sizeof line, "tlsshim[%d]: %s: %s\n", (int)log_pid, names[lvl], msg);
    if (n < 0) {
        errno = saved;
        return;
    }
    if ((size_t)n >= sizeof line) {
        n = (int)sizeof line - 1;
        line[n - 1] = '\n';
    }
    ssize_t w = write(log_fd, line, (size_t)n);
    (void)w;
    errno = saved;
}

void shim_log_child_reset(void)
{
    /* the log fd is shared with the parent (O_APPEND); the pid is the child's */
    log_pid = 0;
}
