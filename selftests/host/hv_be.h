/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers for host tests that run pvkit-hv's own device code with the
 * real pvkit-blkback: find the binary, turn the hypervisor's main loop,
 * and play the guest's part (connect, one request through a ring).
 */
#ifndef PVKIT_HV_BE_TEST_H
#define PVKIT_HV_BE_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <sys/wait.h>

#include <pvkit/blk.h>
#include <pvkit/ring.h>

#include "hv_common.h"
#include "../../hypervisor/include/be.h"

#define WAIT_MS		10000

/* build/tests/host/<variant>/TEST -> build/bin/[asan/]pvkit-blkback */
static inline int blkback_path(char *buf, size_t len)
{
	const char *env = getenv("PVKIT_BIN_DIR");
	char exe[PATH_MAX], *dir;
	ssize_t n;

	if (env && *env) {
		snprintf(buf, len, "%s/pvkit-blkback", env);
		return access(buf, X_OK);
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -1;
	exe[n] = '\0';
	dir = dirname(dirname(dirname(dirname(exe))));
#if defined(__SANITIZE_ADDRESS__)
	snprintf(buf, len, "%s/bin/asan/pvkit-blkback", dir);
	if (!access(buf, X_OK))
		return 0;
#endif
	snprintf(buf, len, "%s/bin/pvkit-blkback", dir);
	return access(buf, X_OK);
}

/* One turn of pvkit-hv's main loop: events, reaping, timers. */
static inline void pump(struct hv *hv, int ms)
{
	uint64_t now;
	int status;
	pid_t pid;

	ev_run_once(hv, ms);
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		be_reaped(hv, pid, status);
	now = ev_now_ms();
	be_tick(hv, now);
	dev_tick(hv, now);
}

/* Pump until the device is in @state (and, if @epoch >= 0, that epoch). */
static inline bool wait_state(struct hv *hv, struct dev *d, uint32_t state,
		       int64_t epoch, int ms)
{
	uint64_t end = ev_now_ms() + ms;

	while (ev_now_ms() < end) {
		if (d->state == state && (epoch < 0 || d->epoch == epoch))
			return true;
		pump(hv, 10);
	}
	return d->state == state && (epoch < 0 || d->epoch == epoch);
}

static inline struct pvkit_ring_hdr *hdr(struct hv *hv, struct dev *d,
				  unsigned int q)
{
	return (struct pvkit_ring_hdr *)(hv->shm + d->q[q].ring_offset);
}

static inline void kick(struct hv *hv, struct dev *d, unsigned int q)
{
	uint64_t one = 1;

	if (write(hv->kick_fd[d->q[q].kick], &one, sizeof(one)) != sizeof(one))
		perror("kick");
}

/* The guest's part of a (re)connect: ack every feature, DEV_CONNECT. */
static inline int64_t guest_connect(struct hv *hv, struct dev *d)
{
	int64_t ret = hvt_call(hv, PVKIT_HC_DEV_ACK_FEATURES, d->slot,
			       d->features & ~PVKIT_BLK_F_BACKEND_POLL, 0, 0);

	return ret ?: hvt_call(hv, PVKIT_HC_DEV_CONNECT, d->slot, 0, 0, 0);
}

/* A FLUSH through queue @q: the rings are served.  Its status or -1. */
static inline int guest_flush(struct hv *hv, struct dev *d, unsigned int q,
		       uint64_t id)
{
	struct pvkit_blk_req rq;
	struct pvkit_blk_rsp rsp;
	struct pvkit_ring fe;
	uint64_t end;

	if (pvkit_ring_attach(&fe, hdr(hv, d, q), d->q[q].slots,
			      d->q[q].req_size, d->q[q].rsp_size))
		return -1;
	memset(&rq, 0, sizeof(rq));
	rq.id = htole64(id);
	rq.op = PVKIT_BLK_OP_FLUSH;
	if (pvkit_ring_put_req(&fe, &rq, sizeof(rq)))
		return -1;
	pvkit_ring_push_reqs(&fe);
	kick(hv, d, q);
	end = ev_now_ms() + WAIT_MS;
	while (pvkit_ring_rsp_avail(&fe) <= 0 && ev_now_ms() < end)
		pump(hv, 5);
	if (pvkit_ring_rsp_avail(&fe) != 1)
		return -1;
	pvkit_ring_get_rsp(&fe, &rsp, sizeof(rsp));
	return le64toh(rsp.id) == id ? rsp.status : -1;
}

/* A sparse @size-byte image /tmp/@name.PID.img into @buf: 0 or -1. */
static inline int hvt_make_img(char *buf, size_t len, const char *name,
			       uint64_t size)
{
	int fd, ret;

	snprintf(buf, len, "/tmp/%s.%d.img", name, (int)getpid());
	fd = open(buf, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	ret = ftruncate(fd, (off_t)size);
	close(fd);
	return ret;
}

/* Stop the back-ends, the core and the loop; free @hv, unlink @img. */
static inline void hvt_be_teardown(struct hv *hv, const char *img)
{
	if (hv) {
		hv->stopping = true;
		be_shutdown_all(hv);
		hvt_exit(hv);
		free(hv);
	}
	if (img[0])
		unlink(img);
}

#endif /* PVKIT_HV_BE_TEST_H */
