/* `match` entries: parsing ADDR:PORT, matching an address, and deciding
 * whether one entry covers another (for the can-never-match check). */
#include <arpa/inet.h>
#include <ctype.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy_int.h"

#define EXPECTED_ENTRY "expected ADDR:PORT, e.g. 127.0.0.1:8443, [::1]:443, 10.0.0.0/8:*, *.example.com:443"

/* An address reduced to the family it really has: IPv4-mapped IPv6 is IPv4. */
typedef struct {
    bool v4;
    uint8_t a[16]; /* IPv4 in the first 4 bytes */
    int prefix;
} norm_addr;

static const uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static bool prefix_equal(const uint8_t *x, const uint8_t *y, int bits)
{
    int whole = bits / 8, rest = bits % 8;
    if (memcmp(x, y, (size_t)whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (x[whole] & mask) == (y[whole] & mask);
}

static bool host_bits_clear(const uint8_t *a, int bytes, int prefix)
{
    for (int bit = prefix; bit < bytes * 8; bit++)
        if (a[bit / 8] & (0x80 >> (bit % 8)))
            return false;
    return true;
}

/* An IP entry as a norm_addr: an IPv6 entry inside ::ffff:0:0/96 is IPv4. */
static norm_addr entry_norm(const policy_match *m)
{
    norm_addr n = {0};
    if (m->kind == POLICY_ADDR_IPV6 && m->prefix >= 96 &&
        memcmp(m->addr, mapped_prefix, sizeof mapped_prefix) == 0) {
        n.v4 = true;
        memcpy(n.a, m->addr + 12, 4);
        n.prefix = m->prefix - 96;
    } else {
        n.v4 = m->kind == POLICY_ADDR_IPV4;
        memcpy(n.a, m->addr, 16);
        n.prefix = m->prefix;
    }
    return n;
}

static int parse_prefix(const char *s, int max, int *out)
{
    if (!*s || strlen(s) > 3)
        return -1;
    int v = 0;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s))
            return -1;
        v = v * 10 + (*s - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

static bool is_glob_char(unsigned char c)
{
    return isalnum(c) || c == '.' || c == '-' || c == '_' || c == '*' || c == '?';
}

static int parse_port(const char *s, policy_match *m, char *why, size_t why_len)
{
    if (strcmp(s, "*") == 0) {
        m->port = 0;
        return 0;
    }
    size_t n = strlen(s);
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]) || i >= 5) {
            snprintf(why, why_len, "port '%s' is not a number (expected 1..65535 or *)", s);
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    if (n == 0) {
        snprintf(why, why_len, "the port is missing (" EXPECTED_ENTRY ")");
        return -1;
    }
    if (v == 0) {
        snprintf(why, why_len, "port 0 can never match (expected 1..65535 or *)");
        return -1;
    }
    if (v > 65535) {
        snprintf(why, why_len, "port %ld is out of range (expected 1..65535 or *)", v);
        return -1;
    }
    m->port = (int)v;
    return 0;
}

int policy_match_parse(const char *entry, policy_match *m, char *why, size_t why_len)
{
    memset(m, 0, sizeof *m);
    size_t len = strlen(entry);
    if (len == 0) {
        snprintf(why, why_len, "empty entry (" EXPECTED_ENTRY ")");
        return -1;
    }
    if (len > 300) {
        snprintf(why, why_len, "entry is longer than 300 bytes (" EXPECTED_ENTRY ")");
        return -1;
    }
    char buf[320];
    memcpy(buf, entry, len + 1);

    char *addr = buf, *port, *slash = NULL;
    if (buf[0] == '[') {
        char *close = strchr(buf, ']');
        if (!close) {
            snprintf(why, why_len, "'%s' has no ']' (expected [IPv6]:PORT, e.g. [::1]:443)", entry);
            return -1;
        }
        *close = '\0';
        addr = buf + 1;
        char *after = close + 1;
        if (*after == '/') {
            slash = after + 1;
            after = strchr(slash, ':');
        }
        if (!after || *after != ':') {
            snprintf(why, why_len, "'%s' has no :PORT after the address (" EXPECTED_ENTRY ")",
                     entry);
            return -1;
        }
        *after = '\0';
        port = after + 1;
        struct in6_addr a6;
        if (inet_pton(AF_INET6, addr, &a6) != 1) {
            snprintf(why, why_len, "'%s' is not an IPv6 address (expected e.g. [::1] or [fd00::]/8)",
                     addr);
            return -1;
        }
        m->kind = POLICY_ADDR_IPV6;
        memcpy(m->addr, &a6, 16);
        m->prefix = 128;
        if (slash && parse_prefix(slash, 128, &m->prefix) < 0) {
            snprintf(why, why_len, "prefix '/%s' is not 0..128", slash);
            return -1;
        }
        if (!host_bits_clear(m->addr, 16, m->prefix)) {
            snprintf(why, why_len, "[%s]/%d has bits set past the prefix (expected the network address)",
                     addr, m->prefix);
            return -1;
        }
        return parse_port(port, m, why, why_len);
    }

    char *colon = strrchr(buf, ':');
    if (!colon) {
        snprintf(why, why_len, "'%s' has no port (" EXPECTED_ENTRY ")", entry);
        return -1;
    }
    *colon = '\0';
    port = colon + 1;
    if (strchr(addr, ':')) {
        snprintf(why, why_len, "'%s': an IPv6 address goes in brackets (expected e.g. [::1]:443)",
                 entry);
        return -1;
    }
    if (*addr == '\0') {
        snprintf(why, why_len, "'%s' has no address (" EXPECTED_ENTRY ")", entry);
        return -1;
    }
    if (strcmp(addr, "*") == 0) {
        m->kind = POLICY_ADDR_ANY;
        return parse_port(port, m, why, why_len);
    }
    slash = strchr(addr, '/');
    if (slash)
        *slash++ = '\0';
    bool numeric = strspn(addr, "0123456789.") == strlen(addr);
    struct in_addr a4;
    if (slash || numeric) {
        if (inet_pton(AF_INET, addr, &a4) != 1) {
            snprintf(why, why_len, "'%s' is not an IPv4 address (expected a.b.c.d or a.b.c.d/N)", addr);
            return -1;
        }
        m->kind = POLICY_ADDR_IPV4;
        memcpy(m->addr, &a4, 4);
        m->prefix = 32;
        if (slash && parse_prefix(slash, 32, &m->prefix) < 0) {
            snprintf(why, why_len, "prefix '/%s' is not 0..32", slash);
            return -1;
        }
        if (!host_bits_clear(m->addr, 4, m->prefix)) {
            snprintf(why, why_len, "%s/%d has bits set past the prefix (expected the network address)",
                     addr, m->prefix);
            return -1;
        }
        return parse_port(port, m, why, why_len);
    }
    size_t alen = strlen(addr);
    for (size_t i = 0; i < alen; i++) {
        if (!is_glob_char((unsigned char)addr[i])) {
            snprintf(why, why_len,
                     "'%s' is not a host name or glob: byte %zu is not a letter, digit, '.', '-', "
                     "'_', '*' or '?'",
                     addr, i + 1);
            return -1;
        }
    }
    if (alen > 253) {
        snprintf(why, why_len, "host glob is longer than 253 bytes");
        return -1;
    }
    if (parse_port(port, m, why, why_len) < 0)
        return -1;
    m->kind = POLICY_ADDR_HOST;
    m->host_glob = strdup(addr);
    if (!m->host_glob) {
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    return 0;
}

void policy_match_format(const policy_match *m, char *buf, size_t len)
{
    char a[INET6_ADDRSTRLEN + 8] = "*";
    char pfx[8] = "";
    switch (m->kind) {
    case POLICY_ADDR_ANY:
        break;
    case POLICY_ADDR_IPV4:
        inet_ntop(AF_INET, m->addr, a, sizeof a);
        if (m->prefix != 32)
            snprintf(pfx, sizeof pfx, "/%d", m->prefix);
        break;
    case POLICY_ADDR_IPV6: {
        char t[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, m->addr, t, sizeof t);
        snprintf(a, sizeof a, "[%s]", t);
        if (m->prefix != 128)
            snprintf(pfx, sizeof pfx, "/%d", m->prefix);
        break;
    }
    case POLICY_ADDR_HOST:
        break;
    }
    char port[8] = "*";
    if (m->port)
        snprintf(port, sizeof port, "%d", m->port);
    if (m->kind == POLICY_ADDR_HOST)
        snprintf(buf, len, "%s:%s", m->host_glob, port);
    else
        snprintf(buf, len, "%s%s:%s", a, pfx, port);
}

bool policy_match_is_everything(const policy_match *m)
{
    return m->kind == POLICY_ADDR_ANY && m->port == 0;
}

static bool has_wildcard(const char *glob)
{
    return strpbrk(glob, "*?") != NULL;
}

bool policy_match_covers(const policy_match *e, const policy_match *l)
{
    if (e->port != 0 && e->port != l->port)
        return false;
    if (e->kind == POLICY_ADDR_ANY)
        return true;
    if (l->kind == POLICY_ADDR_ANY)
        return false;
    if (e->kind == POLICY_ADDR_HOST) {
        /* A host glob needs a name; an IP entry matches without one. */
        if (l->kind != POLICY_ADDR_HOST)
            return false;
        if (strcasecmp(e->host_glob, l->host_glob) == 0)
            return true;
        return !has_wildcard(l->host_glob) &&
               fnmatch(e->host_glob, l->host_glob, FNM_CASEFOLD) == 0;
    }
    if (l->kind == POLICY_ADDR_HOST)
        return false;
    norm_addr ne = entry_norm(e), nl = entry_norm(l);
    return ne.v4 == nl.v4 && ne.prefix <= nl.prefix && prefix_equal(ne.a, nl.a, ne.prefix);
}

static bool host_fits(const char *glob, const char *hostname)
{
    if (!hostname)
        return false;
    /* "example.com." is the same name as "example.com". */
    size_t n = strlen(hostname);
    char name[256];
    if (n == 0 || n >= sizeof name)
        return false;
    memcpy(name, hostname, n + 1);
    if (n > 1 && name[n - 1] == '.')
        name[n - 1] = '\0';
    return fnmatch(glob, name, FNM_CASEFOLD) == 0;
}

static bool entry_fits(const policy_match *m, const norm_addr *t, int port, const char *hostname)
{
    if (m->port != 0 && m->port != port)
        return false;
    switch (m->kind) {
    case POLICY_ADDR_ANY:
        return true;
    case POLICY_ADDR_HOST:
        return host_fits(m->host_glob, hostname);
    case POLICY_ADDR_IPV4:
    case POLICY_ADDR_IPV6: {
        norm_addr e = entry_norm(m);
        return e.v4 == t->v4 && prefix_equal(e.a, t->a, e.prefix);
    }
    }
    return false;
}

const policy_rule *policy_find(const policy *p, policy_direction dir, const struct sockaddr *addr,
                               const char *hostname)
{
    if (!p || !addr)
        return NULL;
    norm_addr t = {0};
    int port;
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)addr;
        t.v4 = true;
        memcpy(t.a, &s4->sin_addr, 4);
        port = ntohs(s4->sin_port);
    } else if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)addr;
        const uint8_t *b = s6->sin6_addr.s6_addr;
        if (memcmp(b, mapped_prefix, sizeof mapped_prefix) == 0) {
            t.v4 = true;
            memcpy(t.a, b + 12, 4);
        } else {
            memcpy(t.a, b, 16);
        }
        port = ntohs(s6->sin6_port);
    } else {
        return NULL;
    }
    for (size_t i = 0; i < p->n_rules; i++) {
        const policy_rule *r = &p->rules[i];
        if (r->direction != dir)
            continue;
        for (size_t j = 0; j < r->n_matches; j++)
            if (entry_fits(&r->matches[j], &t, port, hostname))
                return r;
    }
    return NULL;
}
