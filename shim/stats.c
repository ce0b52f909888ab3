/* Per-rule statistics (policy `[global] stats = PATH`) in the Prometheus text
 * exposition format, for node_exporter's textfile collector or any scraper
 * that reads a file. Counters change under the shim's lock as connections
 * move (conn.c, helper.c); the helper's loop asks stats_due() for the text
 * at most once a second while something changed, and writes it after
 * releasing the lock: to PATH.tmp, then rename(), so a reader never sees
 * half a file. `%p` in PATH is the pid: each process of a forking server
 * keeps its own file, and a forked child starts from zero. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"

#define WRITE_EVERY_MS 1000

/* handshake time buckets, seconds (Prometheus's "le" upper bounds) */
static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])

static const char *const fail_names[STATS_FAIL_COUNT] = {
    [STATS_FAIL_ALERT_SENT] = "alert_sent",         [STATS_FAIL_ALERT_RECEIVED] = "alert_received",
    [STATS_FAIL_BAD_CERT] = "bad_cert",             [STATS_FAIL_TIMEOUT] = "timeout",
    [STATS_FAIL_PEER_CLOSED] = "peer_closed",       [STATS_FAIL_NETWORK] = "network",
    [STATS_FAIL_OTHER] = "other",
};

typedef struct {
    uint64_t opened, active, hs_ok, hs_resumed;
    uint64_t hs_failed[STATS_FAIL_COUNT];
    uint64_t bytes_to_peer, bytes_from_peer;
    uint64_t hs_bucket[N_BUCKETS]; /* not cumulative: the writer sums */
    uint64_t hs_ms_sum;
} rule_stats;

static struct {
    const policy *p;
    rule_stats *rules; /* one per policy rule; NULL: no stats */
    bool dirty;
    uint64_t last_write_ms;
} S;

void stats_init(const policy *p)
{
    if (!p->stats || !p->n_rules)
        return;
    S.rules = calloc(p->n_rules, sizeof *S.rules);
    if (!S.rules) {
        shim_log(POLICY_LOG_ERROR, "stats: no memory for %zu rules: %s is not kept", p->n_rules, p->stats);
        return;
    }
    S.p = p;
    S.dirty = true; /* the first write shows the rules, all zero */
}

void stats_child_reset(void)
{
    if (S.rules)
        memset(S.rules, 0, S.p->n_rules * sizeof *S.rules);
    S.dirty = true;
    S.last_write_ms = 0;
}

static rule_stats *of(const policy_rule *r)
{
    if (!S.rules || !r)
        return NULL;
    S.dirty = true;
    return &S.rules[shim_rule_index(r)];
}

void stats_conn_opened(const policy_rule *r)
{
    rule_stats *s = of(r);
    if (s) {
        s->opened++;
        s->active++;
    }
}

void stats_conn_closed(const policy_rule *r)
{
    rule_stats *s = of(r);
    if (s && s->active)
        s->active--;
}

void stats_handshake_done(const policy_rule *r, uint64_t ms, bool resumed)
{
    rule_stats *s = of(r);
    if (!s)
        return;
    s->hs_ok++;
    s->hs_resumed += resumed;
    s->hs_ms_sum += ms;
    for (size_t i = 0; i < N_BUCKETS; i++) {
        if ((double)ms / 1000.0 <= buckets[i]) {
            s->hs_bucket[i]++;
            break;
        }
    }
}

void stats_handshake_failed(const policy_rule *r, stats_fail why)
{
    rule_stats *s = of(r);
    if (s && why < STATS_FAIL_COUNT)
        s->hs_failed[why]++;
}

void stats_bytes(const policy_rule *r, bool to_peer, uint64_t n)
{
    rule_stats *s = of(r);
    if (!s)
        return;
    if (to_peer)
        s->bytes_to_peer += n;
    else
        s->bytes_from_peer += n;
}

/* ---- the text ---- */

typedef struct {
    char *p;
    size_t len, cap;
    bool bad;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...)
{
    for (int tries = 0; tries < 2 && !t->bad; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->bad = true;
            return;
        }
        if (t->p && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? t->cap : 4096;
        while (cap <= t->len + (size_t)n)
            cap *= 2;
        char *q = realloc(t->p, cap);
        if (!q) {
            t->bad = true;
            return;
        }
        t->p = q;
        t->cap = cap;
    }
}

/* a label value: backslash, double quote and newline escaped */
static const char *label(const char *v, char *buf, size_t len)
{
    size_t o = 0;
    for (; *v && o + 3 < len; v++) {
        if (*v == '\\' || *v == '"' || *v == '\n') {
            buf[o++] = '\\';
            buf[o++] = *v == '\n' ? 'n' : *v;
        } else {
            buf[o++] = *v;
        }
    }
    buf[o] = '\0';
    return buf;
}

static void family(text *t, const char *name, const char *type, const char *help)
{
    put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static char *render(void)
{
    text t = {0};
    const policy *p = S.p;
    char l[200];
    /* the families with one number a rule */
    static const struct {
        const char *name, *type, *help;
        size_t field; /* offset of a uint64_t in rule_stats */
    } simple[] = {
        {"tlsshim_connections_opened_total", "counter", "Connections upgraded under the rule.",
         offsetof(rule_stats, opened)},
        {"tlsshim_connections_active", "gauge", "Upgraded connections open now.", offsetof(rule_stats, active)},
        {"tlsshim_handshakes_total", "counter", "Handshakes completed.", offsetof(rule_stats, hs_ok)},
        {"tlsshim_handshakes_resumed_total", "counter", "Handshakes that resumed a session.",
         offsetof(rule_stats, hs_resumed)},
    };
    for (size_t k = 0; k < sizeof simple / sizeof simple[0]; k++) {
        family(&t, simple[k].name, simple[k].type, simple[k].help);
        for (size_t i = 0; i < p->n_rules; i++) {
            uint64_t v;
            memcpy(&v, (const char *)&S.rules[i] + simple[k].field, sizeof v);
            put(&t, "%s{rule=\"%s\"} %llu\n", simple[k].name, label(p->rules[i].name, l, sizeof l),
                (unsigned long long)v);
        }
    }
    family(&t, "tlsshim_handshakes_failed_total", "counter", "Handshakes that failed, by reason.");
    for (size_t i = 0; i < p->n_rules; i++)
        for (size_t f = 0; f < STATS_FAIL_COUNT; f++)
            put(&t, "tlsshim_handshakes_failed_total{rule=\"%s\",reason=\"%s\"} %llu\n",
                label(p->rules[i].name, l, sizeof l), fail_names[f], (unsigned long long)S.rules[i].hs_failed[f]);
    family(&t, "tlsshim_bytes_total", "counter",
           "Plaintext bytes: to_peer from the program, from_peer to the program.");
    for (size_t i = 0; i < p->n_rules; i++) {
        label(p->rules[i].name, l, sizeof l);
        put(&t, "tlsshim_bytes_total{rule=\"%s\",direction=\"to_peer\"} %llu\n", l,
            (unsigned long long)S.rules[i].bytes_to_peer);
        put(&t, "tlsshim_bytes_total{rule=\"%s\",direction=\"from_peer\"} %llu\n", l,
            (unsigned long long)S.rules[i].bytes_from_peer);
    }
    family(&t, "tlsshim_handshake_seconds", "histogram", "Time from accept or connect to the handshake's end.");
    for (size_t i = 0; i < p->n_rules; i++) {
        const rule_stats *s = &S.rules[i];
        label(p->rules[i].name, l, sizeof l);
        uint64_t cum = 0;
        for (size_t b = 0; b < N_BUCKETS; b++) {
            cum += s->hs_bucket[b];
            put(&t, "tlsshim_handshake_seconds_bucket{rule=\"%s\",le=\"%g\"} %llu\n", l, buckets[b],
                (unsigned long long)cum);
        }
        put(&t, "tlsshim_handshake_seconds_bucket{rule=\"%s\",le=\"+Inf\"} %llu\n", l,
            (unsigned long long)s->hs_ok);
        put(&t, "tlsshim_handshake_seconds_sum{rule=\"%s\"} %.3f\n", l, (double)s->hs_ms_sum / 1000.0);
        put(&t, "tlsshim_handshake_seconds_count{rule=\"%s\"} %llu\n", l, (unsigned long long)s->hs_ok);
    }
    if (t.bad) {
        free(t.p);
        return NULL;
    }
    return t.p;
}

char *stats_due(uint64_t now_ms, bool force)
{
    if (!S.rules || !S.dirty || (!force && now_ms - S.last_write_ms < WRITE_EVERY_MS))
        return NULL;
    S.dirty = false;
    S.last_write_ms = now_ms;
    return render();
}

/* PATH with each %p replaced by the pid */
static void expand(const char *path, char *out, size_t len)
{
    size_t o = 0;
    for (const char *c = path; *c && o + 1 < len; c++) {
        if (c[0] == '%' && c[1] == 'p') {
            int n = snprintf(out + o, len - o, "%d", (int)getpid());
            o += n > 0 ? (size_t)n : 0;
            c++;
        } else {
            out[o++] = *c;
        }
    }
    out[o < len ? o : len - 1] = '\0';
}

void stats_write(char *body)
{
    if (!body)
        return;
    char path[4096], tmp[4200];
    expand(S.p->stats, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    size_t len = strlen(body), off = 0;
    bool ok = fd >= 0;
    while (ok && off < len) {
        ssize_t n = write(fd, body + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        ok = n > 0;
        off += n > 0 ? (size_t)n : 0;
    }
    if (fd >= 0 && shim_real.close(fd) < 0)
        ok = false;
    if (!ok || rename(tmp, path) < 0) {
        static bool said;
        if (!said)
            shim_log(POLICY_LOG_ERROR, "stats: cannot write %s: %s", path, strerror(errno));
        said = true;
        unlink(tmp);
    }
    free(body);
}
