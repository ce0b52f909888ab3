/* Protocol versions: names, masks and the `versions` option (the Erlang/OTP
 * ssl module's versions() and {versions, [...]}). */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "suites.h"

static const struct {
    uint16_t wire;
    unsigned bit;
    const char *name; /* the seed's atom */
} versions[] = {
    {TLS_SSL3, TLS_VMASK_SSL3, "sslv3"},     {TLS_TLS10, TLS_VMASK_TLS10, "tlsv1"},
    {TLS_TLS11, TLS_VMASK_TLS11, "tlsv1.1"}, {TLS_TLS12, TLS_VMASK_TLS12, "tlsv1.2"},
    {TLS_TLS13, TLS_VMASK_TLS13, "tlsv1.3"},
};
#define NVERSIONS (sizeof versions / sizeof versions[0])

unsigned tls_version_bit(uint16_t version)
{
    for (size_t i = 0; i < NVERSIONS; i++)
        if (versions[i].wire == version)
            return versions[i].bit;
    return 0;
}

uint16_t tls_vmask_highest(unsigned mask)
{
    for (size_t i = NVERSIONS; i-- > 0;)
        if (mask & versions[i].bit)
            return versions[i].wire;
    return 0;
}

uint16_t tls_vmask_lowest(unsigned mask)
{
    for (size_t i = 0; i < NVERSIONS; i++)
        if (mask & versions[i].bit)
            return versions[i].wire;
    return 0;
}

void tls_versions(tls_versions_info *out)
{
    if (!out)
        return;
    out->app_version = "tlsengine 0.1.0";
    out->supported = TLS_DEFAULT_VERSIONS & TLS_AVAILABLE_VERSIONS;
    out->available = TLS_AVAILABLE_VERSIONS;
}

const char *tls_version_name(uint16_t version)
{
    for (size_t i = 0; i < NVERSIONS; i++)
        if (versions[i].wire == version)
            return versions[i].name;
    return "unknown";
}

/* One spelling -> index into versions[], -1 if unknown. Accepted: the seed's
 * atoms (sslv3, tlsv1, tlsv1.2), OpenSSL's (SSLv3, TLSv1.2), and ssl3, tls1,
 * tls1.0, tls1_2, tlsv1_2 ...; case does not matter. */
static int version_index(const char *tok, size_t n)
{
    char norm[16];
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        char c = (char)tolower((unsigned char)tok[i]);
        /* drop the optional 'v' of "sslv3"/"tlsv1" */
        if (c == 'v' && i == 3)
            continue;
        if (w + 1 >= sizeof norm)
            return -1;
        norm[w++] = c == '_' ? '.' : c;
    }
    norm[w] = '\0';
    static const struct {
        const char *spelling;
        int index;
    } forms[] = {
        {"ssl3", 0}, {"ssl3.0", 0}, {"tls1", 1}, {"tls1.0", 1}, {"tls1.1", 2}, {"tls1.2", 3}, {"tls1.3", 4},
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
        if (strcmp(norm, forms[i].spelling) == 0)
            return forms[i].index;
    return -1;
}

static bool is_sep(char c)
{
    return c == ',' || c == ':' || isspace((unsigned char)c);
}

int tls_parse_versions(const char *list, unsigned *mask, tls_error *err)
{
    unsigned got = 0;
    const char *unavailable = NULL; /* first version named that this build lacks */
    bool any = false;

    const char *p = list ? list : "";
    while (*p) {
        while (*p && is_sep(*p))
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && !is_sep(*p))
            p++;
        size_t n = (size_t)(p - start);
        const char *tok = start;
        /* Erlang writes 'tlsv1.2' quoted */
        if (n >= 2 && (tok[0] == '\'' || tok[0] == '"') && tok[n - 1] == tok[0]) {
            tok++;
            n -= 2;
        }
        int i = version_index(tok, n);
        if (i < 0) {
            return tls_err_set(err, TLS_E_BADARG, -1, "unknown protocol version '%.*s' in versions",
                               (int)((size_t)(p - start) > 60 ? 60 : (size_t)(p - start)), start);
        }
        any = true;
        if (versions[i].bit & TLS_AVAILABLE_VERSIONS)
            got |= versions[i].bit;
        else if (!unavailable)
            unavailable = versions[i].name;
    }

    if (!any) { /* empty option: the defaults */
        got = TLS_DEFAULT_VERSIONS & TLS_AVAILABLE_VERSIONS;
    } else if (!got) {
        return tls_err_set(err, TLS_E_BADARG, -1, "%s is not available in this build", unavailable);
    }
    if (mask)
        *mask = got;
    return 0;
}
