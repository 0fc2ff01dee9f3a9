/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The janitor: a child of pvkit-hv that outlives it just long enough to
 * clean up after a death nobody could handle (SIGKILL, OOM kill, crash).
 *
 * pvkit-hv forks it right after claiming the run directory.  The janitor
 * holds one end of a SOCK_SEQPACKET pair; pvkit-hv holds the other, with
 * close-on-exec, and is the only process that does (QEMU and the
 * back-ends never see it).  Over it pvkit-hv sends a pidfd for every QEMU
 * and back-end it starts.  EOF without a "bye" message means pvkit-hv died
 * without cleaning up: the janitor SIGKILLs the still-running processes
 * through their pidfds (no pid reuse races), waits for them, then removes
 * the run directory -- only if its pid file is unlocked and still names
 * the dead pvkit-hv -- and exits.  After a "bye" it exits at once.
 */
#ifndef PVKIT_HV_JANITOR_H
#define PVKIT_HV_JANITOR_H

#include <stdbool.h>
#include <sys/types.h>

#define JANITOR_MAX_PROCS	64	/* live watched processes */
#define JANITOR_KILL_WAIT_MS	2000	/* for the killed processes to exit */
#define JANITOR_LOCK_WAIT_MS	2000	/* for the dead hv's lock to drop */

struct janitor {
	pid_t pid;	/* 0: none */
	int sock;	/* pvkit-hv's end, -1: none */
};

/* Mark @j as not running (before janitor_start). */
void janitor_init(struct janitor *j);
/*
 * Fork the janitor for run directory BASE/NAME, owned by this process.
 * @also: one more path to unlink with the run directory (or NULL).
 * 0 or -errno.
 */
int janitor_start(struct janitor *j, const char *base, const char *name,
		  const char *also);
/* Hand the janitor child @pid (call right after fork, before reaping it). */
void janitor_watch(struct janitor *j, pid_t pid);
/* @pid was reaped: true if it was the janitor (which is then forgotten). */
bool janitor_reaped(struct janitor *j, pid_t pid);
/* Normal exit, everything cleaned up: tell the janitor, wait for it. */
void janitor_stop(struct janitor *j);

#endif /* PVKIT_HV_JANITOR_H */
