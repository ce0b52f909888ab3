/* getrlimit(), setrlimit(), prlimit() (and their 64 names) for
 * RLIMIT_NOFILE: the program sees and sets its own limit. The kernel's soft
 * limit is the program's plus the fds the shim holds above it (fdtable.c
 * says why), so a program that reads its limit to size its tables, or to
 * know how many clients it can take, gets the figure it would get without
 * the shim; one that raises or lowers its limit moves the shim's room with
 * it. Other resources, and other processes' limits, pass straight through. */
#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"

/* the 64 names share the layout of the plain ones on the 64-bit ABIs we build for */
_Static_assert(sizeof(struct rlimit) == sizeof(struct rlimit64), "struct rlimit64 layout");
_Static_assert(sizeof(rlim_t) == 8, "64-bit rlim_t");

/* The sanitizer runtime sets RLIMIT_CORE through these names while it
 * starts, before its shadow memory exists: the path that does not concern
 * RLIMIT_NOFILE must run uninstrumented. */
#define NO_SANITIZE __attribute__((no_sanitize("address", "undefined")))

NO_SANITIZE static int sys_prlimit(pid_t pid, int resource, const struct rlimit *set, struct rlimit *old)
{
    return (int)syscall(SYS_prlimit64, pid, resource, set, old);
}

int shim_prlimit_self(const struct rlimit *set, struct rlimit *old)
{
    return sys_prlimit(0, RLIMIT_NOFILE, set, old);
}

/* prlimit on this process's RLIMIT_NOFILE, as the program sees it */
static int nofile(const struct rlimit *set, struct rlimit *old)
{
    shim_init();
    shim_lock();
    struct rlimit cur;
    int rc = shim_prlimit_self(NULL, &cur);
    if (rc == 0) {
        shim_fd_program_view(&cur);
        if (set)
            rc = shim_fd_set_program_limit(set);
    }
    int e = errno;
    shim_unlock();
    if (rc == 0 && old)
        *old = cur;
    errno = e;
    return rc;
}

NO_SANITIZE static bool is_self(pid_t pid)
{
    return pid == 0 || pid == getpid();
}

NO_SANITIZE static int do_prlimit(pid_t pid, int resource, const struct rlimit *set, struct rlimit *old)
{
    if (resource == RLIMIT_NOFILE && is_self(pid))
        return nofile(set, old);
    return sys_prlimit(pid, resource, set, old);
}

NO_SANITIZE SHIM_EXPORT int getrlimit(__rlimit_resource_t resource, struct rlimit *rl)
{
    return do_prlimit(0, (int)resource, NULL, rl);
}

NO_SANITIZE SHIM_EXPORT int getrlimit64(__rlimit_resource_t resource, struct rlimit64 *rl)
{
    return do_prlimit(0, (int)resource, NULL, (struct rlimit *)(void *)rl);
}

NO_SANITIZE SHIM_EXPORT int setrlimit(__rlimit_resource_t resource, const struct rlimit *rl)
{
    return do_prlimit(0, (int)resource, rl, NULL);
}

NO_SANITIZE SHIM_EXPORT int setrlimit64(__rlimit_resource_t resource, const struct rlimit64 *rl)
{
    return do_prlimit(0, (int)resource, (const struct rlimit *)(const void *)rl, NULL);
}

NO_SANITIZE SHIM_EXPORT int prlimit(pid_t pid, __rlimit_resource_t resource, const struct rlimit *set,
                        struct rlimit *old)
{
    return do_prlimit(pid, (int)resource, set, old);
}

NO_SANITIZE SHIM_EXPORT int prlimit64(pid_t pid, __rlimit_resource_t resource, const struct rlimit64 *set,
                          struct rlimit64 *old)
{
    return do_prlimit(pid, (int)resource, (const struct rlimit *)(const void *)set,
                      (struct rlimit *)(void *)old);
}
