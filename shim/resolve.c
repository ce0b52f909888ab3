/* getaddrinfo() is watched, not changed: every address it returns for a host
 * name is remembered with that name, so that connect() to the address can
 * use the name for rule matching (host globs), SNI and certificate
 * verification. A fixed ring of recent entries, under its own lock. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "shim.h"

#define RESOLVE_SLOTS 1024
#define NAME_MAX_LEN 256

typedef struct resolve_entry {
    int family;             /* 0: empty */
    uint8_t addr[16];
    char name[NAME_MAX_LEN];
} resolve_entry;

static resolve_entry ring[RESOLVE_SLOTS];
static size_t ring_next;
static pthread_mutex_t resolve_mutex = PTHREAD_MUTEX_INITIALIZER;

static bool addr_bytes(const struct sockaddr *a, int *family, uint8_t out[16])
{
    memset(out, 0, 16);
    if (a->sa_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)(const void *)a;
        memcpy(out, &s->sin_addr, 4);
        *family = AF_INET;
        return true;
    }
    if (a->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)(const void *)a;
        /* v4-mapped addresses are remembered and looked up as IPv4 */
        if (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr)) {
            memcpy(out, &s->sin6_addr.s6_addr[12], 4);
            *family = AF_INET;
        } else {
            memcpy(out, &s->sin6_addr, 16);
            *family = AF_INET6;
        }
        return true;
    }
    return false;
}

static bool is_numeric_host(const char *node)
{
    uint8_t tmp[16];
    return inet_pton(AF_INET, node, tmp) == 1 || inet_pton(AF_INET6, node, tmp) == 1;
}

static void remember(const struct sockaddr *a, const char *name)
{
    int fam;
    uint8_t b[16];
    if (!addr_bytes(a, &fam, b))
        return;
    pthread_mutex_lock(&resolve_mutex);
    resolve_entry *slot = NULL;
    for (size_t i = 0; i < RESOLVE_SLOTS; i++) {
        if (ring[i].family == fam && memcmp(ring[i].addr, b, 16) == 0) {
            slot = &ring[i]; /* the latest name for an address wins */
            break;
        }
    }
    if (!slot) {
        slot = &ring[ring_next];
        ring_next = (ring_next + 1) % RESOLVE_SLOTS;
    }
    slot->family = fam;
    memcpy(slot->addr, b, 16);
    snprintf(slot->name, sizeof slot->name, "%s", name);
    pthread_mutex_unlock(&resolve_mutex);
}

bool shim_resolve_lookup(const struct sockaddr *addr, char *buf, size_t len)
{
    int fam;
    uint8_t b[16];
    if (!addr_bytes(addr, &fam, b))
        return false;
    bool found = false;
    pthread_mutex_lock(&resolve_mutex);
    for (size_t i = 0; i < RESOLVE_SLOTS; i++) {
        if (ring[i].family == fam && memcmp(ring[i].addr, b, 16) == 0) {
            snprintf(buf, len, "%s", ring[i].name);
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&resolve_mutex);
    return found;
}

/* fork: the map's lock must not be copied while another thread holds it */
void shim_resolve_fork_prepare(void)
{
    pthread_mutex_lock(&resolve_mutex);
}

void shim_resolve_fork_parent(void)
{
    pthread_mutex_unlock(&resolve_mutex);
}

void shim_resolve_fork_child(void)
{
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    memcpy(&resolve_mutex, &m, sizeof m);
}

SHIM_EXPORT int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                            struct addrinfo **res)
{
    shim_init();
    int rc = shim_real.getaddrinfo(node, service, hints, res);
    if (rc != 0 || !node || !*node || !res || is_numeric_host(node) || strlen(node) >= NAME_MAX_LEN)
        return rc;
    for (const struct addrinfo *ai = *res; ai; ai = ai->ai_next) {
        if (ai->ai_addr)
            remember(ai->ai_addr, node);
    }
    return rc;
}
