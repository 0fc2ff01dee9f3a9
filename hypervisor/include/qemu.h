/* SPDX-License-Identifier: GPL-2.0-only */
/* Launching and supervising QEMU, and talking QMP to it. */
#ifndef PVKIT_HV_QEMU_H
#define PVKIT_HV_QEMU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "opts.h"

struct hv;

/* QEMU's descriptor of the guest RAM file (mem-path=/proc/self/fd/3). */
#define QEMU_RAM_FD	3

enum qemu_stop {
	QEMU_STOP_NONE,
	QEMU_STOP_POWERDOWN,	/* ACPI power button, wait --grace s */
	QEMU_STOP_QUIT,		/* QMP quit */
	QEMU_STOP_TERM,		/* SIGTERM */
	QEMU_STOP_KILL,		/* SIGKILL */
};

struct qemu {
	pid_t pid;
	bool exited;
	int status;		/* waitpid status */
	char qmp_path[108];
	char ivs_path[108];
	const char *accel;	/* "kvm" or "tcg" */
	char **argv;
	unsigned int argc;
	uint64_t started_ms;
	enum qemu_stop stop;
	uint64_t stop_deadline_ms;
	const char *stop_how;	/* how it ended, for 'pvkit stop' */
	bool paused;		/* vCPUs stopped (pvkit pause, or seen so) */
};

/* "kvm" or "tcg" for @accel; explains an auto decision in @why. */
const char *qemu_accel_resolve(enum hv_accel accel, char *why, size_t len);
/* Build q->argv from the options.  0 or -errno. */
int qemu_build_argv(struct hv *hv, struct qemu *q);
/* Append one printf-formatted argument to q->argv; 0 or -ENOMEM. */
int qemu_add(struct qemu *q, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void qemu_free_argv(struct qemu *q);
/* Shell-quoted command line (malloc'ed), for logs and --print. */
char *qemu_cmdline(const struct qemu *q);
int qemu_start(struct hv *hv, struct qemu *q);
/* Begin stopping: @graceful starts with an ACPI power-down. */
void qemu_stop_begin(struct hv *hv, struct qemu *q, bool graceful);
/* Advance a stop in progress. */
void qemu_tick(struct hv *hv, struct qemu *q, uint64_t now_ms);
/* QEMU was reaped with @status. */
void qemu_reaped(struct hv *hv, struct qemu *q, int status);
/*
 * Run one QMP command (e.g. "quit") on @path, waiting up to @timeout_ms.
 * Returns 0 when QEMU answered with "return", -EIO on an "error" answer,
 * or -errno.  If @reply is given, the answer line is copied there.
 */
int qmp_command(const char *path, const char *cmd, char *reply,
		size_t reply_len, int timeout_ms);

/*
 * QMP query-status: 1 running, 0 stopped (paused, or any other state
 * but "prelaunch"), or -errno.
 */
int qmp_query_running(const char *path, int timeout_ms);
/*
 * QMP query-cpus-fast: the host thread of each vCPU into @tids by
 * cpu-index (0 .. @max - 1).  The number of leading vCPUs filled (a gap
 * ends them), or -errno.
 */
int qmp_vcpu_threads(const char *path, pid_t *tids, unsigned int max,
		     int timeout_ms);
/*
 * The reply line of query-cpus-fast in @reply parsed into @tids (a pure
 * function, for tests): as qmp_vcpu_threads().
 */
int qmp_parse_vcpu_threads(const char *reply, pid_t *tids, unsigned int max);

#endif /* PVKIT_HV_QEMU_H */
