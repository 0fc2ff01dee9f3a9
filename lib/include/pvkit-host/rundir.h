/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Per-VM run directories, BASE/NAME/ (BASE is /run/pvkit, or
 * $PVKIT_RUN_DIR).  A VM is alive while its pvkit-hv holds an flock on
 * BASE/NAME/pid; a directory whose pid file nobody locks is stale and may
 * be removed by anyone.
 *
 * Another local user must not be able to redirect us: BASE must be ours
 * (or root's) and not group/other-writable, BASE/NAME ours and 0700,
 * neither may be a symbolic link, and files in them are opened and
 * removed relative to the directory, never through a link.  A refusal
 * returns -EPERM, -ENOTDIR or -ELOOP and rundir_error() says why.
 */
#ifndef PVKIT_HOST_RUNDIR_H
#define PVKIT_HOST_RUNDIR_H

#include <stdbool.h>
#include <sys/types.h>

#define RUNDIR_NAME_MAX	32

/* Why the last rundir_take() (or other call) refused, or "". */
const char *rundir_error(void);

/* $PVKIT_RUN_DIR or /run/pvkit */
const char *rundir_base(void);

/*
 * Claim BASE/NAME for this process: create it (0700), lock and fill the
 * pid file, remove leftovers of a dead VM of the same name.  Returns the
 * locked pid file descriptor (keep it open while running), -EBUSY if a
 * live VM has the name, or -errno.
 */
int rundir_take(const char *base, const char *name);

/* Remove BASE/NAME with everything pvkit-hv put in it. */
void rundir_remove(const char *base, const char *name);

/*
 * Remove BASE/NAME (and @also, if not NULL) if its pid file is unlocked
 * and names @owner: the cleanup of a VM whose pvkit-hv died.  0, -EBUSY
 * (locked: alive, maybe a new VM of that name), -ESTALE (another pid),
 * -ENOENT (already gone) or -errno.
 */
int rundir_remove_dead(const char *base, const char *name, pid_t owner,
		       const char *also);
/* Is VM NAME alive?  Fills *@pid from the pid file when it is. */
bool rundir_alive(const char *base, const char *name, pid_t *pid);

/* Remove the directories of dead VMs.  Returns how many. */
int rundir_sweep(const char *base);

/*
 * Names of live VMs, sorted, into @names (at most @max).  Returns the
 * count or -errno.
 */
int rundir_list(const char *base, char (*names)[RUNDIR_NAME_MAX],
		unsigned int max);

#endif /* PVKIT_HOST_RUNDIR_H */
