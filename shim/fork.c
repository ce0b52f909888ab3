/* fork(): handled with pthread_atfork rather than by wrapping fork(), so that
 * every way into fork (fork, _Fork users aside, system(), popen...) is
 * covered. The forking thread takes the shim's lock so no connection is
 * mid-update when the address space is copied. In the child the parent's
 * helper thread does not exist: its fds are closed in the child (so the
 * parent's connections end when the parent's program closes them) while the
 * program fds the child inherited keep working through the parent's helper;
 * the child starts its own helper lazily, for connections it makes itself. */
#include <pthread.h>

#include "shim.h"

static void prepare(void)
{
    shim_helper_fork_prepare();
    shim_resolve_fork_prepare();
}

static void parent(void)
{
    shim_resolve_fork_parent();
    shim_helper_fork_parent();
}

static void child(void)
{
    /* the lock is held (taken in prepare) by this thread, whose kernel id
     * changed: reset the connections, then re-initialise the lock */
    shim_resolve_fork_child();
    shim_helper_child_reset();
    shim_log_child_reset();
    stats_child_reset();
    shim_fdtable_child_reset();
}

void shim_fork_init(void)
{
    pthread_atfork(prepare, parent, child);
}
