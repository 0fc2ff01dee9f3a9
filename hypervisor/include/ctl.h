/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Control socket BASE/NAME/ctl.sock: newline-terminated JSON requests,
 * one JSON reply line each.  Protocol in docs/hypervisor.md.
 */
#ifndef PVKIT_HV_CTL_H
#define PVKIT_HV_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvkit-host/json.h>

#include "ev.h"

#define CTL_MAX_CLIENTS		16
#define CTL_LINE_MAX		4096
#define CTL_STATS_WAIT_MS	500

enum ctl_wait {
	CTL_WAIT_NONE,
	CTL_WAIT_STATS,		/* back-end STATS answers */
	CTL_WAIT_STOP,		/* QEMU to be gone */
	CTL_WAIT_ADD,		/* a hot-added device to be offered or fail */
	CTL_WAIT_REMOVE,	/* a removed device to be destroyed */
};

/* dev-remove's default time for the guest to release a device. */
#define CTL_REMOVE_GRACE_S	10
/* Slack on top of the state machine's own timeouts. */
#define CTL_DEV_WAIT_SLACK_MS	5000

struct ctl_client {
	bool used;
	int fd;
	struct ev_src src;
	char buf[CTL_LINE_MAX];
	size_t len;
	enum ctl_wait wait;
	uint64_t deadline_ms;
	uint32_t serial;	/* CTL_WAIT_ADD/REMOVE: the device */
	char id[32];		/* and its name, for the reply */
};

struct ctl {
	char path[108];
	int listen_fd;
	struct ev_src lsrc;
	struct ctl_client c[CTL_MAX_CLIENTS];
	uint64_t requests;
	uint64_t bad_requests;
};

struct hv;

int ctl_init(struct hv *hv, struct ctl *ctl, const char *path);
void ctl_exit(struct hv *hv, struct ctl *ctl);
/* Answer deferred STATS requests whose answers are in or overdue. */
void ctl_tick(struct hv *hv, uint64_t now_ms);
/* QEMU is gone: answer every waiting 'stop' with @how. */
void ctl_stop_done(struct hv *hv, const char *how);

/*
 * Handle one request line from client @c (NULL in tests: device
 * requests then answer at once).  Returns 0 with the reply in @out, or a
 * CTL_WAIT_* when the reply comes later (@c records what it waits for).
 */
int ctl_handle(struct hv *hv, const char *line, size_t len, struct jbuf *out,
	       struct ctl_client *c);
/* The 'stat' reply (also used once back-end STATS are in). */
void ctl_stat_reply(struct hv *hv, struct jbuf *out);

#endif /* PVKIT_HV_CTL_H */
