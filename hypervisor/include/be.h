/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Back-end processes (pvkit-blkback ...): spawn, SETUP/READY, connect and
 * disconnect on behalf of the guest, restart with backoff, STATS.
 * Protocol: lib/include/pvkit-host/backend.h.
 */
#ifndef PVKIT_HV_BE_H
#define PVKIT_HV_BE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <pvkit-host/backend.h>

#include "ev.h"
#include "opts.h"

#define BE_READY_TIMEOUT_MS	10000
#define BE_MAX_RESTARTS		5	/* the old fixed limit (tests) */
#define BE_RESTART_MAX_MS	5000	/* backoff cap: 100 ms .. 5 s */
#define BE_STABLE_MS		30000	/* READY this long: restarts forgiven */
#define BE_SHUTDOWN_MS		1000	/* after SHUTDOWN: then SIGKILL */

enum be_state {
	BE_DOWN,	/* no process */
	BE_STARTING,	/* SETUP sent, waiting for READY */
	BE_READY,	/* may be connected */
	BE_WAITING,	/* dead, restart scheduled */
	BE_GAVE_UP,	/* restart limit reached (device BROKEN) */
};

struct be {
	struct dev *dev;
	struct hv_dev_opt opt;	/* the device's options, args for SETUP */
	char prog[4096];
	enum be_state state;
	pid_t pid;
	int sock;
	struct ev_src src;
	uint64_t deadline_ms;	/* READY timeout, or restart time */
	uint64_t ready_ms;
	unsigned int restarts;	/* since it was last stable */
	uint64_t total_restarts;
	bool stats_pending;
	bool have_stats;
	struct pvkit_be_stats stats;
};

struct hv;
struct dev;

/* Attach a back-end (not started yet) to device @d, created from @o. */
int be_create(struct hv *hv, struct dev *d, const struct hv_dev_opt *o);
/* Start (SETUP) @be's process. */
void be_start(struct hv *hv, struct be *be);
/* Start every back-end. */
int be_start_all(struct hv *hv);
/* All back-ends READY?  -errno if one failed for good during startup. */
int be_all_ready(struct hv *hv);
/* Timers: READY timeouts and restarts. */
void be_tick(struct hv *hv, uint64_t now_ms);
/* A child was reaped; true if it was a back-end. */
bool be_reaped(struct hv *hv, pid_t pid, int status);
/* Ask every READY back-end for STATS.  Returns how many were asked. */
unsigned int be_stats_request(struct hv *hv);
/* How many STATS answers are still outstanding. */
unsigned int be_stats_pending(const struct hv *hv);
/* "ready", "starting", "restarting", "down", "gave-up". */
const char *be_state_name(enum be_state st);
/* SHUTDOWN, wait briefly, kill and reap every back-end. */
void be_shutdown_all(struct hv *hv);

#endif /* PVKIT_HV_BE_H */
