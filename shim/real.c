/* The real libc functions, looked up once with dlsym(RTLD_NEXT).
 * Every wrapper calls shim_init() (which calls shim_real_init()) first, so
 * calls made before the constructor ran (from another library's constructor)
 * still reach libc. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"

struct shim_real shim_real;
static pthread_once_t real_once = PTHREAD_ONCE_INIT;

static void *must(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (!p) {
        static const char pre[] = "tlsshim: cannot find libc symbol ";
        ssize_t r = write(2, pre, sizeof pre - 1);
        r = write(2, name, strlen(name));
        r = write(2, "\n", 1);
        (void)r;
        _exit(1);
    }
    return p;
}

/* dlsym returns void *; converting to a function pointer goes through memcpy
 * to keep -Wpedantic-style warnings out. */
#define LOAD(field, name)                                                                     \
    do {                                                                                      \
        void *p_ = must(name);                                                                \
        memcpy(&shim_real.field, &p_, sizeof p_);                                             \
    } while (0)
#define LOAD_OPT(field, name)                                                                 \
    do {                                                                                      \
        void *p_ = dlsym(RTLD_NEXT, name);                                                    \
        memcpy(&shim_real.field, &p_, sizeof p_);                                             \
    } while (0)

static void real_load(void)
{
    LOAD(connect, "connect");
    LOAD(accept, "accept");
    LOAD(accept4, "accept4");
    LOAD(close, "close");
    LOAD_OPT(close_range, "close_range");
    LOAD_OPT(closefrom, "closefrom");
    LOAD(shutdown, "shutdown");
    LOAD(getpeername, "getpeername");
    LOAD(getsockname, "getsockname");
    LOAD(getsockopt, "getsockopt");
    LOAD(setsockopt, "setsockopt");
    LOAD(dup, "dup");
    LOAD(dup2, "dup2");
    LOAD(dup3, "dup3");
    LOAD(fcntl, "fcntl");
    LOAD_OPT(fcntl64, "fcntl64");
    if (!shim_real.fcntl64)
        shim_real.fcntl64 = shim_real.fcntl;
    LOAD(getaddrinfo, "getaddrinfo");
}

void shim_real_init(void)
{
    pthread_once(&real_once, real_load);
}
