/* The socket API's cache of loaded configurations, keyed by the options'
 * contents (and the stat data of the files they name): repeated
 * tls_connect calls with the same options share one tls_config and so its
 * session cache, which is what makes reuse_sessions work across
 * connections, and a server's files are read once, not per accept.
 *
 * The key is built from one list, OPTIONS_MEMBERS (base/options_members.h),
 * that says for every member of tls_options how it enters the key; the
 * build fails when the list and the struct disagree. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "options_members.h"
#include "sock.h"

/* How a member enters the key; `o` is the options, `w` the key writer. */
#define BY_VALUE(w, o, m, _)      key_raw(w, &(o)->m, sizeof (o)->m) /* numbers, flags; callbacks
                                                                      * and their state by identity */
#define BY_STRING(w, o, m, _)     key_str(w, (o)->m)
#define BY_FILE(w, o, m, _)       key_file(w, (o)->m)         /* the path and the file's identity */
#define BY_ARRAY(w, o, m, count)  key_blob(w, (o)->m, (o)->count * sizeof *(o)->m)
#define BY_DER_LIST(w, o, m, count) key_der_list(w, (o)->m, (o)->m##_len, (o)->count)
#define KEYED_WITH(w, o, m, row)  (void)sizeof (o)->m         /* a count: part of row's key */
#define NOT_KEYED(w, o, m, _)     (void)sizeof (o)->m         /* no part of the config */

static void key_raw(tls_wr *w, const void *p, size_t n)
{
    uint64_t len = n;
    tls_wr_bytes(w, &len, sizeof len);
    tls_wr_bytes(w, p, n);
}

static void key_blob(tls_wr *w, const void *p, size_t n)
{
    uint8_t present = p != NULL;
    tls_wr_bytes(w, &present, 1);
    if (p)
        key_raw(w, p, n);
}

static void key_str(tls_wr *w, const char *s) { key_blob(w, s, s ? strlen(s) : 0); }

/* A file's identity and age: an edited or replaced file gives a new config. */
static void key_file(tls_wr *w, const char *path)
{
    key_str(w, path);
    struct stat st;
    if (path && stat(path, &st) == 0) {
        int64_t v[5] = {(int64_t)st.st_dev, (int64_t)st.st_ino, (int64_t)st.st_size,
                        (int64_t)st.st_mtim.tv_sec, (int64_t)st.st_mtim.tv_nsec};
        tls_wr_bytes(w, v, sizeof v);
    }
}

static void key_der_list(tls_wr *w, const uint8_t *const *der, const size_t *lens, size_t n)
{
    key_raw(w, &n, sizeof n);
    for (size_t i = 0; i < n && der && lens; i++)
        key_blob(w, der[i], lens[i]);
}

#define KEY_ROW(m, how, arg) how(w, o, m, arg);

/* Everything of the options that a config depends on, as bytes. */
static void options_key(const tls_options *o, bool server, tls_wr *w)
{
    key_raw(w, &server, sizeof server);
    OPTIONS_MEMBERS(KEY_ROW)
}

/* ---- the cache -------------------------------------------------------------- */

#define CFG_CACHE_SIZE 16

typedef struct cfg_entry {
    tls_wr key;
    tls_config *cfg;
    uint64_t used;
} cfg_entry;

static pthread_mutex_t cfg_lock = PTHREAD_MUTEX_INITIALIZER;
static cfg_entry cfg_cache[CFG_CACHE_SIZE];
static uint64_t cfg_tick;

void tls_stop(void)
{
    pthread_mutex_lock(&cfg_lock);
    for (size_t i = 0; i < CFG_CACHE_SIZE; i++) {
        if (cfg_cache[i].cfg) {
            tls_config_free(cfg_cache[i].cfg);
            tls_wr_free(&cfg_cache[i].key);
            memset(&cfg_cache[i], 0, sizeof cfg_cache[i]);
        }
    }
    pthread_mutex_unlock(&cfg_lock);
}

int tls_config_cache_get(const tls_options *o, bool server, tls_config **out, tls_error *err)
{
    tls_wr key = tls_wr_dynamic(512);
    options_key(o, server, &key);
    if (key.bad) {
        tls_wr_free(&key);
        return tls_config_new(o, server, out, err); /* no memory for the key: just no caching */
    }
    pthread_mutex_lock(&cfg_lock);
    for (size_t i = 0; i < CFG_CACHE_SIZE; i++) {
        cfg_entry *c = &cfg_cache[i];
        if (c->cfg && c->key.len == key.len && memcmp(c->key.p, key.p, key.len) == 0) {
            c->used = ++cfg_tick;
            tls_config_ref(c->cfg);
            *out = c->cfg;
            pthread_mutex_unlock(&cfg_lock);
            tls_wr_free(&key);
            return TLS_OK;
        }
    }
    pthread_mutex_unlock(&cfg_lock);

    /* loading reads files: not under the lock */
    int rc = tls_config_new(o, server, out, err);
    if (rc != TLS_OK) {
        tls_wr_free(&key);
        return rc;
    }
    pthread_mutex_lock(&cfg_lock);
    cfg_entry *victim = &cfg_cache[0];
    for (size_t i = 0; i < CFG_CACHE_SIZE; i++) {
        if (!cfg_cache[i].cfg) {
            victim = &cfg_cache[i];
            break;
        }
        if (cfg_cache[i].used < victim->used)
            victim = &cfg_cache[i];
    }
    if (victim->cfg) {
        tls_config_free(victim->cfg);
        tls_wr_free(&victim->key);
    }
    victim->key = key; /* the entry owns the key now */
    victim->cfg = *out;
    victim->used = ++cfg_tick;
    tls_config_ref(*out);
    pthread_mutex_unlock(&cfg_lock);
    return TLS_OK;
}
