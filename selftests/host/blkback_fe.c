// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fake pvkit-hv + fake block front-end for the back-end host tests
 * (see blkback_fe.h).  Plain helpers returning -errno, usable from any
 * thread as long as each queue has one user.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <pvkit-host/fdpass.h>

#include "blkback_fe.h"

static uint64_t fe_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fe_fill_random(void *buf, size_t len, uint64_t *seed)
{
	uint8_t *p = buf;
	uint64_t v;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		v = fe_rand(seed);
		memcpy(p + i, &v, 8);
	}
	for (; i < len; i++)
		p[i] = (uint8_t)fe_rand(seed);
}

uint64_t fe_window_gpa(unsigned int w)
{
	uint64_t base = (w & 1) ? FE_HI_GPA : 0;

	return base + (uint64_t)(w / 2) * FE_WIN_SIZE;
}

void *fe_gpa(struct fe *fe, uint64_t gpa, uint64_t len)
{
	return gmem_translate(&fe->gm, gpa, len);
}

/* -------------------------------------------------- back-end kinds --- */

static void fe_blk_slot_sizes(const struct fe *fe, unsigned int qi,
			      uint32_t *req_size, uint32_t *rsp_size)
{
	(void)fe;
	(void)qi;
	*req_size = sizeof(struct pvkit_blk_req);
	*rsp_size = sizeof(struct pvkit_blk_rsp);
}

static int fe_blk_setup_args(struct fe *fe, const char *dir, char *args,
			     size_t len)
{
	uint64_t seed = 1;
	int ret;

	ret = fe_image(fe, dir, 1 << 20, false, &seed);
	if (ret)
		return ret;
	snprintf(args, len, "path=%s", fe->image);
	return 0;
}

static int fe_blk_ready(struct fe *fe, const struct pvkit_be_ready *r)
{
	if (r->config_size != sizeof(struct pvkit_blk_config))
		return -EBADMSG;
	memcpy(&fe->cfg, r->config, sizeof(fe->cfg));
	fe->cfg.capacity = le64toh(fe->cfg.capacity);
	fe->cfg.logical_block_size = le32toh(fe->cfg.logical_block_size);
	fe->cfg.physical_block_size = le32toh(fe->cfg.physical_block_size);
	fe->cfg.max_segments = le32toh(fe->cfg.max_segments);
	fe->cfg.max_segment_size = le32toh(fe->cfg.max_segment_size);
	fe->cfg.max_sectors = le32toh(fe->cfg.max_sectors);
	fe->cfg.max_discard_sectors = le32toh(fe->cfg.max_discard_sectors);
	fe->cfg.discard_granularity = le32toh(fe->cfg.discard_granularity);
	fe->cfg.max_write_zeroes_sectors =
		le32toh(fe->cfg.max_write_zeroes_sectors);
	fe->cfg.poll_us = le32toh(fe->cfg.poll_us);
	return 0;
}

const struct fe_kind fe_blk_kind = {
	.prog = "pvkit-blkback",
	.dev_type = PVKIT_DEV_BLK,
	.other_type = PVKIT_DEV_NET,
	.slot_sizes = fe_blk_slot_sizes,
	.setup_args = fe_blk_setup_args,
	.bad_args = "path",
	/* a writable image is never offered read-only */
	.unoffered = PVKIT_BLK_F_RO,
	.ready = fe_blk_ready,
};

static uint64_t fe_ring_bytes(struct fe *fe, unsigned int i)
{
	uint32_t req_size, rsp_size;
	uint64_t b;

	fe->kind->slot_sizes(fe, i, &req_size, &rsp_size);
	b = pvkit_ring_bytes(fe->slots, req_size, rsp_size);
	return (b + PVKIT_PAGE_SIZE - 1) & ~(uint64_t)(PVKIT_PAGE_SIZE - 1);
}

/* Rings one after the other, each page aligned; i == nr_queues: the end. */
static uint32_t fe_ring_offset(struct fe *fe, unsigned int i)
{
	uint64_t off = FE_RING_BASE;
	unsigned int j;

	for (j = 0; j < i; j++)
		off += fe_ring_bytes(fe, j);
	return off;
}

int fe_init(struct fe *fe, unsigned int nr_queues, unsigned int slots)
{
	struct gmem_range r[2] = {
		{ .gpa = 0, .size = FE_LO_SIZE, .file_offset = 0 },
		{ .gpa = FE_HI_GPA, .size = FE_HI_SIZE,
		  .file_offset = FE_LO_SIZE },
	};
	const struct fe_kind *kind = fe->kind ? fe->kind : &fe_blk_kind;
	bool nonblock = fe->kick_nonblock;
	unsigned int i;
	void *p;
	int ret;

	memset(fe, 0, sizeof(*fe));
	fe->kind = kind;
	fe->kick_nonblock = nonblock;
	fe->pid = -1;
	fe->sock = -1;
	fe->image_fd = -1;
	fe->ram_fd = -1;
	fe->shm_fd = -1;
	for (i = 0; i < PVKIT_MAX_QUEUES; i++)
		fe->q[i].kick_fd = fe->q[i].irq_fd = -1;
	if (!nr_queues || nr_queues > PVKIT_MAX_QUEUES)
		return -EINVAL;
	fe->nr_queues = nr_queues;
	fe->slots = slots;
	if (fe_ring_offset(fe, nr_queues) > FE_SHM_SIZE)
		return -E2BIG;

	fe->ram_fd = memfd_create("pvkit-test-ram", MFD_CLOEXEC);
	if (fe->ram_fd < 0 || ftruncate(fe->ram_fd, FE_RAM_SIZE) < 0)
		return -errno;
	ret = gmem_init_map(&fe->gm, r, 2, FE_RAM_SIZE);
	if (!ret)
		ret = gmem_map_fd(&fe->gm, fe->ram_fd);
	if (ret)
		return ret;
	fe->ram = fe->gm.base;

	fe->shm_fd = memfd_create("pvkit-test-shm", MFD_CLOEXEC);
	if (fe->shm_fd < 0 || ftruncate(fe->shm_fd, FE_SHM_SIZE) < 0)
		return -errno;
	p = mmap(NULL, FE_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		 fe->shm_fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	fe->shm = p;

	for (i = 0; i < nr_queues; i++) {
		fe->q[i].kick_fd = eventfd(0, EFD_CLOEXEC |
					   (nonblock ? EFD_NONBLOCK : 0));
		fe->q[i].irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fe->q[i].kick_fd < 0 || fe->q[i].irq_fd < 0)
			return -errno;
	}
	return 0;
}

int fe_image(struct fe *fe, const char *dir, uint64_t size, bool random,
	     uint64_t *seed)
{
	uint8_t *buf;
	uint64_t off;
	int fd;

	snprintf(fe->image, sizeof(fe->image), "%s/pvkit-blkback-XXXXXX",
		 dir);
	fd = mkostemp(fe->image, O_CLOEXEC);
	if (fd < 0) {
		fe->image[0] = '\0';
		return -errno;
	}
	fe->image_fd = fd;
	fe->image_size = size;
	if (ftruncate(fd, size) < 0)
		return -errno;
	if (!random)
		return 0;
	buf = malloc(1 << 20);
	if (!buf)
		return -ENOMEM;
	for (off = 0; off < size; off += 1 << 20) {
		size_t n = size - off < (1 << 20) ? size - off : (1 << 20);

		fe_fill_random(buf, n, seed);
		if (pwrite(fd, buf, n, off) != (ssize_t)n) {
			free(buf);
			return -EIO;
		}
	}
	free(buf);
	return 0;
}

/* The back-end binary: $PVKIT_BIN_DIR, else build/bin next to us. */
static void fe_bin(struct fe *fe, char *buf, size_t len)
{
	const char *prog = fe->kind->prog;
	const char *env = getenv("PVKIT_BIN_DIR");
	char exe[PATH_MAX], *dir;
	ssize_t n;

	if (env && *env) {
		snprintf(buf, len, "%s/%s", env, prog);
		return;
	}
	snprintf(buf, len, "build/bin/%s", prog);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return;
	exe[n] = '\0';
	/* build/tests/host/<variant>/<test> -> build/bin */
	dir = dirname(dirname(dirname(dirname(exe))));
#if defined(__SANITIZE_ADDRESS__)
	/* the asan tests run the asan back-end when it was built */
	snprintf(buf, len, "%s/bin/asan/%s", dir, prog);
	if (!access(buf, X_OK))
		return;
#endif
	snprintf(buf, len, "%s/bin/%s", dir, prog);
}

int fe_spawn(struct fe *fe)
{
	char bin[PATH_MAX];
	int sv[2];
	pid_t pid;

	fe_bin(fe, bin, sizeof(bin));
	if (access(bin, X_OK))
		return -ENOENT;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -errno;
	}
	if (!pid) {
		if (sv[1] == PVKIT_BE_SOCK_FD)
			fcntl(sv[1], F_SETFD, 0);
		else if (dup2(sv[1], PVKIT_BE_SOCK_FD) < 0)
			_exit(126);
		execl(bin, fe->kind->prog, "--hv", (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	fe->sock = sv[0];
	fe->pid = pid;
	return 0;
}

int fe_send(struct fe *fe, void *msg, uint16_t type, size_t len)
{
	struct pvkit_be_hdr *h = msg;

	pvbe_hdr_init(h, type, PVBE_TO_BE);
	/* tests send wrong lengths on purpose */
	h->len = len;
	return fdpass_send(fe->sock, msg, len, NULL, 0);
}

/* One message, checked like pvkit-hv checks it; its type or -errno. */
static int fe_recv_msg(struct fe *fe, union pvbe_msg *m, int timeout_ms)
{
	struct pollfd pfd = { .fd = fe->sock, .events = POLLIN };
	int fds[FDPASS_MAX_FDS];
	unsigned int nfds, i;
	char why[96];
	ssize_t n;

	n = poll(&pfd, 1, timeout_ms);
	if (n < 0)
		return -errno;
	if (!n)
		return -ETIMEDOUT;
	n = pvbe_recv(fe->sock, m, fds, &nfds);
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	if (n < 0)
		return n;
	if (!n)
		return -ECONNRESET;
	if (pvbe_check(m, n, nfds, PVBE_TO_HV, why, sizeof(why)))
		return -EBADMSG;
	return m->hdr.type;
}

int fe_expect(struct fe *fe, uint16_t type, void *buf, size_t len,
	      int timeout_ms)
{
	union pvbe_msg m;
	int ret;

	ret = fe_recv_msg(fe, &m, timeout_ms);
	if (ret < 0)
		return ret;
	if (ret == PVKIT_BE_ERROR) {
		fe->err_code = m.error.err;
		memcpy(fe->err_msg, m.error.msg, sizeof(fe->err_msg));
		fe->err_msg[sizeof(fe->err_msg) - 1] = '\0';
		return 1;
	}
	if (ret != type || m.hdr.len != len)
		return -EBADMSG;
	if (buf)
		memcpy(buf, &m, len);
	return 0;
}

void fe_setup_msg(struct fe *fe, const char *args, struct pvkit_be_setup *s,
		  int *fds, unsigned int *nfds)
{
	unsigned int i, nq = fe->nr_queues;

	memset(s, 0, sizeof(*s));
	pvbe_hdr_init(&s->hdr, PVKIT_BE_SETUP, PVBE_TO_BE);
	s->dev_index = 0;
	s->dev_type = fe->kind->dev_type;
	s->nr_queues = nq;
	s->nr_mem_ranges = fe->gm.nr;
	s->shm_size = FE_SHM_SIZE;
	s->ram_size = FE_RAM_SIZE;
	for (i = 0; i < fe->gm.nr; i++) {
		s->mem[i].gpa = htole64(fe->gm.r[i].gpa);
		s->mem[i].size = htole64(fe->gm.r[i].size);
		s->mem[i].file_offset = htole64(fe->gm.r[i].file_offset);
	}
	for (i = 0; i < nq; i++) {
		s->queues[i].ring_offset = fe_ring_offset(fe, i);
		s->queues[i].ring_slots = fe->slots;
		fe->kind->slot_sizes(fe, i, &s->queues[i].req_size,
				     &s->queues[i].rsp_size);
	}
	snprintf(s->args, sizeof(s->args), "%s", args);
	fds[0] = fe->ram_fd;
	fds[1] = fe->shm_fd;
	for (i = 0; i < nq; i++) {
		fds[2 + i] = fe->q[i].kick_fd;
		fds[2 + nq + i] = fe->q[i].irq_fd;
	}
	*nfds = 2 + 2 * nq;
}

int fe_recv_any(struct fe *fe, void *buf, size_t len, int timeout_ms)
{
	union pvbe_msg m;
	int ret;

	ret = fe_recv_msg(fe, &m, timeout_ms);
	if (ret >= 0)
		memcpy(buf, &m, len < m.hdr.len ? len : m.hdr.len);
	return ret;
}

int fe_setup(struct fe *fe, const char *args)
{
	static struct pvkit_be_setup s;
	struct pvkit_be_ready ready;
	int fds[2 + 2 * PVKIT_MAX_QUEUES];
	unsigned int nfds;
	int ret;

	fe_setup_msg(fe, args, &s, fds, &nfds);
	ret = fdpass_send(fe->sock, &s, sizeof(s), fds, nfds);
	if (!ret)
		ret = fe_expect(fe, PVKIT_BE_READY, &ready, sizeof(ready),
				FE_TIMEOUT_MS);
	/* the back-end has its own fd now (or failed): no leftovers */
	if (fe->image[0]) {
		unlink(fe->image);
		fe->image[0] = '\0';
	}
	if (ret)
		return ret;
	if (ready.config_size > sizeof(fe->config))
		return -EBADMSG;
	fe->features = ready.features;
	fe->config_size = ready.config_size;
	memcpy(fe->config, ready.config, sizeof(fe->config));
	return fe->kind->ready(fe, &ready);
}

int fe_connect(struct fe *fe, uint64_t acked)
{
	static uint32_t epoch;
	struct pvkit_be_connect c;
	unsigned int i;
	int ret;

	for (i = 0; i < fe->nr_queues; i++) {
		struct fe_queue *q = &fe->q[i];
		uint8_t *base = fe->shm + fe_ring_offset(fe, i);
		uint32_t req_size, rsp_size;
		eventfd_t v;

		/* what pvkit-hv does at DEV_CONNECT */
		pvkit_ring_reset_shared((struct pvkit_ring_hdr *)base);
		fe->kind->slot_sizes(fe, i, &req_size, &rsp_size);
		ret = pvkit_ring_attach(&q->ring, base, fe->slots, req_size,
					rsp_size);
		if (ret)
			return ret;
		q->kicks = q->irqs = q->reqs = q->rsps = 0;
		eventfd_read(q->irq_fd, &v);
	}
	memset(&c, 0, sizeof(c));
	c.acked_features = acked;
	c.epoch = ++epoch;
	ret = fe_send(fe, &c, PVKIT_BE_CONNECT, sizeof(c));
	if (ret)
		return ret;
	return fe_expect(fe, PVKIT_BE_CONNECTED, NULL,
			 sizeof(struct pvkit_be_hdr), FE_TIMEOUT_MS);
}

static int fe_simple(struct fe *fe, uint16_t type, uint16_t reply)
{
	struct pvkit_be_hdr h;
	int ret;

	ret = fe_send(fe, &h, type, sizeof(h));
	if (ret)
		return ret;
	return fe_expect(fe, reply, NULL, sizeof(h), FE_TIMEOUT_MS);
}

int fe_disconnect(struct fe *fe)
{
	return fe_simple(fe, PVKIT_BE_DISCONNECT, PVKIT_BE_DISCONNECTED);
}

int fe_stats(struct fe *fe, struct pvkit_be_stats *st)
{
	struct pvkit_be_hdr h;
	int ret;

	ret = fe_send(fe, &h, PVKIT_BE_STATS, sizeof(h));
	if (ret)
		return ret;
	return fe_expect(fe, PVKIT_BE_STATS, st, sizeof(*st), FE_TIMEOUT_MS);
}

int fe_stats_settled(struct fe *fe, struct pvkit_be_stats *st)
{
	unsigned int i, tries;
	bool same;
	int ret;

	for (tries = 0; tries < 100; tries++) {
		ret = fe_stats(fe, st);
		if (ret)
			return ret;
		same = true;
		for (i = 0; i < fe->nr_queues; i++) {
			fe_drain_irqs(fe, i);
			same &= fe->q[i].irqs == st->q[i].irqs;
		}
		if (same)
			return 0;
		usleep(10000);
	}
	return 0;
}

int fe_shutdown(struct fe *fe)
{
	struct pvkit_be_hdr h;

	return fe_send(fe, &h, PVKIT_BE_SHUTDOWN, sizeof(h));
}

int fe_wait_exit(struct fe *fe, int timeout_ms)
{
	uint64_t end = fe_now_ms() + timeout_ms;
	int status;
	pid_t r;

	if (fe->pid <= 0)
		return -ECHILD;
	for (;;) {
		r = waitpid(fe->pid, &status, WNOHANG);
		if (r == fe->pid) {
			fe->pid = -1;
			return status;
		}
		if (r < 0)
			return -errno;
		if (fe_now_ms() > end)
			return -ETIMEDOUT;
		usleep(5000);
	}
}

bool fe_alive(struct fe *fe)
{
	int status;

	if (fe->pid <= 0)
		return false;
	if (waitpid(fe->pid, &status, WNOHANG) == 0)
		return true;
	fe->pid = -1;
	return false;
}

void fe_destroy(struct fe *fe)
{
	unsigned int i;

	if (fe->pid > 0) {
		kill(fe->pid, SIGKILL);
		waitpid(fe->pid, NULL, 0);
		fe->pid = -1;
	}
	if (fe->sock >= 0)
		close(fe->sock);
	fe->sock = -1;
	for (i = 0; i < PVKIT_MAX_QUEUES; i++) {
		if (fe->q[i].kick_fd >= 0)
			close(fe->q[i].kick_fd);
		if (fe->q[i].irq_fd >= 0)
			close(fe->q[i].irq_fd);
		fe->q[i].kick_fd = fe->q[i].irq_fd = -1;
	}
	gmem_unmap(&fe->gm);
	fe->ram = NULL;
	if (fe->shm)
		munmap(fe->shm, FE_SHM_SIZE);
	fe->shm = NULL;
	if (fe->ram_fd >= 0)
		close(fe->ram_fd);
	if (fe->shm_fd >= 0)
		close(fe->shm_fd);
	fe->ram_fd = fe->shm_fd = -1;
	if (fe->image[0])
		unlink(fe->image);
	fe->image[0] = '\0';
	if (fe->image_fd >= 0)
		close(fe->image_fd);
	fe->image_fd = -1;
}

int fe_start(struct fe *fe, const char *dir, uint64_t image_size,
	     const char *extra_args, unsigned int nr_queues,
	     unsigned int slots, uint64_t *seed)
{
	char args[PATH_MAX + PVKIT_BE_ARGS_MAX];
	int ret;

	ret = fe_init(fe, nr_queues, slots);
	if (!ret)
		ret = fe_image(fe, dir, image_size, true, seed);
	if (!ret)
		ret = fe_spawn(fe);
	if (ret)
		return ret;
	snprintf(args, sizeof(args), "path=%s%s%s", fe->image,
		 extra_args && *extra_args ? "," : "",
		 extra_args ? extra_args : "");
	ret = fe_setup(fe, args);
	if (ret)
		return ret > 0 ? -EPROTO : ret;
	return fe_connect(fe, fe->features);
}

/* ------------------------------------------------------- front-end --- */

int fe_queue_req_raw(struct fe *fe, unsigned int qi, const void *rq,
		     size_t len)
{
	struct fe_queue *q = &fe->q[qi];
	int ret;

	ret = pvkit_ring_put_req(&q->ring, rq, (uint32_t)len);
	if (!ret)
		q->reqs++;
	return ret;
}

int fe_queue_req(struct fe *fe, unsigned int qi,
		 const struct pvkit_blk_req *rq)
{
	return fe_queue_req_raw(fe, qi, rq, sizeof(*rq));
}

void fe_push(struct fe *fe, unsigned int qi)
{
	struct fe_queue *q = &fe->q[qi];

	if (pvkit_ring_push_reqs(&q->ring)) {
		eventfd_write(q->kick_fd, 1);
		q->kicks++;
	}
}

int fe_submit(struct fe *fe, unsigned int qi, const struct pvkit_blk_req *rq)
{
	int ret = fe_queue_req(fe, qi, rq);

	if (!ret)
		fe_push(fe, qi);
	return ret;
}

void fe_drain_irqs(struct fe *fe, unsigned int qi)
{
	eventfd_t v;

	while (!eventfd_read(fe->q[qi].irq_fd, &v))
		fe->q[qi].irqs += v;
}

int fe_get_rsp(struct fe *fe, unsigned int qi, struct pvkit_blk_rsp *rsp,
	       int timeout_ms)
{
	return fe_get_rsp_raw(fe, qi, rsp, sizeof(*rsp), timeout_ms);
}

int fe_get_rsp_raw(struct fe *fe, unsigned int qi, void *rsp, size_t len,
		   int timeout_ms)
{
	struct fe_queue *q = &fe->q[qi];
	uint64_t end = fe_now_ms() + timeout_ms, now;
	struct pollfd pfd = { .fd = q->irq_fd, .events = POLLIN };
	unsigned int spins = 0;
	int n;

	for (;;) {
		/* event index: unless polling, ask for an irq and look again */
		n = pvkit_ring_rsp_pending(&q->ring, !q->polling);
		if (n < 0)
			return n;
		if (n > 0) {
			pvkit_ring_get_rsp(&q->ring, rsp, (uint32_t)len);
			q->rsps++;
			return 0;
		}
		now = fe_now_ms();
		if (now > end)
			return -ETIMEDOUT;
		if (q->polling) {
			if (!(++spins & 1023))
				sched_yield();
			continue;
		}
		n = poll(&pfd, 1, (int)(end - now) + 1);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n == 0 && pvkit_ring_rsp_avail(&q->ring) == 0)
			return -ETIMEDOUT;	/* a lost completion */
		fe_drain_irqs(fe, qi);
	}
}

int fe_do(struct fe *fe, unsigned int qi, const struct pvkit_blk_req *rq)
{
	struct pvkit_blk_rsp rsp;
	int ret;

	ret = fe_submit(fe, qi, rq);
	if (!ret)
		ret = fe_get_rsp(fe, qi, &rsp, FE_TIMEOUT_MS);
	if (ret)
		return ret;
	if (rsp.id != rq->id)
		return -EBADMSG;
	return rsp.status;
}

void fe_build_rw(struct fe *fe, struct fe_io *io, uint8_t op, uint64_t id,
		 uint64_t sector, uint32_t bytes, unsigned int w,
		 int indirect, const uint8_t *data, uint64_t *seed)
{
	unsigned int units = bytes >> 9, maxsegs, n, i, k, order[256];
	uint64_t wbase = fe_window_gpa(w), off, slack;
	struct pvkit_blk_seg *segs;
	uint32_t done;

	maxsegs = units < PVKIT_BLK_MAX_SEGS ? units : PVKIT_BLK_MAX_SEGS;
	if (!indirect && maxsegs > PVKIT_BLK_INLINE_SEGS)
		maxsegs = PVKIT_BLK_INLINE_SEGS;
	/* a third of the time few segments, else anything up to the max */
	if (fe_rand(seed) % 3 == 0 && maxsegs > PVKIT_BLK_INLINE_SEGS)
		n = 1 + fe_rand(seed) % PVKIT_BLK_INLINE_SEGS;
	else
		n = 1 + fe_rand(seed) % maxsegs;
	if (indirect < 0)
		indirect = n > PVKIT_BLK_INLINE_SEGS || (fe_rand(seed) & 1);

	memset(io, 0, sizeof(*io));
	io->op = op;
	io->sector = sector;
	io->bytes = bytes;
	io->nr_segs = n;
	/* lengths: one unit each, the rest spread at random */
	for (i = 0; i < n; i++)
		io->seg_len[i] = 512;
	for (i = n; i < units; i++)
		io->seg_len[fe_rand(seed) % n] += 512;
	/* placement: a random order with random gaps inside the window */
	for (i = 0; i < n; i++)
		order[i] = i;
	for (i = n; i > 1; i--) {
		k = fe_rand(seed) % i;
		unsigned int t = order[i - 1];

		order[i - 1] = order[k];
		order[k] = t;
	}
	slack = FE_WIN_SLACK / 512 / n;
	off = FE_WIN_DATA;
	for (i = 0; i < n; i++) {
		off += (fe_rand(seed) % (slack + 1)) * 512;
		io->seg_gpa[order[i]] = wbase + off;
		off += io->seg_len[order[i]];
	}

	io->rq.id = htole64(id);
	io->rq.op = op;
	io->rq.nr_segs = htole16(n);
	io->rq.sector = htole64(sector);
	if (indirect) {
		io->rq.flags = PVKIT_BLK_RQ_INDIRECT;
		io->rq.indirect_gpa = htole64(wbase);
		segs = fe_gpa(fe, wbase, n * sizeof(*segs));
	} else {
		segs = io->rq.seg;
	}
	for (i = 0, done = 0; i < n; i++) {
		segs[i].gpa = htole64(io->seg_gpa[i]);
		segs[i].len = htole32(io->seg_len[i]);
		segs[i].reserved = 0;
		if (data)
			memcpy(fe_gpa(fe, io->seg_gpa[i], io->seg_len[i]),
			       data + done, io->seg_len[i]);
		done += io->seg_len[i];
	}
}

void fe_gather(struct fe *fe, const struct fe_io *io, uint8_t *out)
{
	unsigned int i;
	uint32_t done = 0;

	for (i = 0; i < io->nr_segs; i++) {
		memcpy(out + done, fe_gpa(fe, io->seg_gpa[i], io->seg_len[i]),
		       io->seg_len[i]);
		done += io->seg_len[i];
	}
}

int fe_write(struct fe *fe, unsigned int qi, uint64_t sector,
	     const void *buf, uint32_t bytes, unsigned int w, uint8_t flags)
{
	static __thread struct fe_io io;
	uint64_t seed = sector * 7919 + bytes + 1;

	fe_build_rw(fe, &io, PVKIT_BLK_OP_WRITE, 0x1000 + sector, sector,
		    bytes, w, -1, buf, &seed);
	io.rq.flags |= flags;
	return fe_do(fe, qi, &io.rq);
}

int fe_read(struct fe *fe, unsigned int qi, uint64_t sector, void *buf,
	    uint32_t bytes, unsigned int w)
{
	static __thread struct fe_io io;
	uint64_t seed = sector * 104729 + bytes + 3;
	int ret;

	fe_build_rw(fe, &io, PVKIT_BLK_OP_READ, 0x2000 + sector, sector,
		    bytes, w, -1, NULL, &seed);
	ret = fe_do(fe, qi, &io.rq);
	if (!ret)
		fe_gather(fe, &io, buf);
	return ret;
}

int fe_check_io(struct fe *fe, unsigned int qi, uint64_t sector,
		uint32_t bytes, uint64_t *seed)
{
	uint8_t *a = malloc(bytes), *b = malloc(bytes);
	int ret = -ENOMEM;

	if (a && b) {
		fe_fill_random(a, bytes, seed);
		ret = fe_write(fe, qi, sector, a, bytes, 0, 0);
		if (!ret)
			ret = fe_read(fe, qi, sector, b, bytes, 1);
		if (!ret && memcmp(a, b, bytes))
			ret = -EILSEQ;
	}
	free(a);
	free(b);
	return ret;
}

/* ----------------------------------------------------- random engine --- */

struct fe_job {
	bool busy;
	bool write;
	uint64_t seq;
	struct fe_io io;
	uint8_t buf[1 << 20];
};

static bool fe_overlaps(const struct fe_job *jobs, unsigned int qd,
			uint64_t sector, uint32_t bytes)
{
	unsigned int i;

	for (i = 0; i < qd; i++) {
		const struct fe_io *o = &jobs[i].io;

		if (!jobs[i].busy || o->op == PVKIT_BLK_OP_FLUSH)
			continue;
		if (sector < o->sector + (o->bytes >> 9) &&
		    o->sector < sector + (bytes >> 9))
			return true;
	}
	return false;
}

static int fe_job_start(struct fe *fe, struct fe_job_cfg *c,
			struct fe_job *jobs, unsigned int j, uint64_t seq,
			uint64_t *seed)
{
	struct fe_job *job = &jobs[j];
	uint64_t r = fe_rand(seed), sector = 0, max_units;
	uint32_t bytes = 0;
	int tries;

	job->seq = seq;
	if (r % 20 == 0) {
		memset(&job->io, 0, sizeof(job->io));
		job->io.op = PVKIT_BLK_OP_FLUSH;
		job->io.rq.op = PVKIT_BLK_OP_FLUSH;
		job->io.rq.id = htole64(seq << 8 | j);
		job->busy = true;
		return fe_queue_req(fe, c->qi, &job->io.rq);
	}
	job->write = r & 2;
	max_units = c->max_bytes >> 9;
	for (tries = 0; tries < 1000; tries++) {
		/* mostly small requests, sometimes up to max_bytes */
		if (fe_rand(seed) % 4)
			bytes = (1 + fe_rand(seed) % 16) << 9;
		else
			bytes = (1 + fe_rand(seed) % max_units) << 9;
		if ((bytes >> 9) > c->zone_sectors)
			continue;
		sector = c->zone + fe_rand(seed) %
			 (c->zone_sectors - (bytes >> 9) + 1);
		if (!fe_overlaps(jobs, c->qd, sector, bytes))
			break;
	}
	if (tries == 1000)
		return -EAGAIN;
	if (job->write) {
		fe_fill_random(job->buf, bytes, seed);
		memcpy(c->shadow + (sector << 9), job->buf, bytes);
	}
	fe_build_rw(fe, &job->io, job->write ? PVKIT_BLK_OP_WRITE :
		    PVKIT_BLK_OP_READ, seq << 8 | j, sector, bytes,
		    c->win + j, -1, job->write ? job->buf : NULL, seed);
	if (job->write && (r & 0x30) == 0x30)
		job->io.rq.flags |= PVKIT_BLK_RQ_FUA;
	job->busy = true;
	return fe_queue_req(fe, c->qi, &job->io.rq);
}

int fe_random_io(struct fe *fe, struct fe_job_cfg *c)
{
	struct fe_job *jobs = calloc(c->qd, sizeof(*jobs));
	unsigned int issued = 0, inflight = 0, j;
	uint64_t seed = c->seed, seq = 1;
	struct pvkit_blk_rsp rsp;
	int ret = 0;

	c->done = 0;
	if (!jobs) {
		snprintf(c->err, sizeof(c->err), "out of memory");
		return -1;
	}
	while (c->done < c->nreqs) {
		for (j = 0; j < c->qd && issued < c->nreqs; j++) {
			if (jobs[j].busy)
				continue;
			ret = fe_job_start(fe, c, jobs, j, seq++, &seed);
			if (ret == -EAGAIN)
				break;
			if (ret) {
				snprintf(c->err, sizeof(c->err),
					 "queue %u: put_req: %d", c->qi, ret);
				goto out;
			}
			issued++;
			inflight++;
		}
		fe_push(fe, c->qi);
		ret = fe_get_rsp(fe, c->qi, &rsp, FE_TIMEOUT_MS);
		if (ret) {
			snprintf(c->err, sizeof(c->err),
				 "queue %u: no response (%d) with %u in flight",
				 c->qi, ret, inflight);
			goto out;
		}
		j = le64toh(rsp.id) & 0xff;
		if (j >= c->qd || !jobs[j].busy ||
		    le64toh(rsp.id) >> 8 != jobs[j].seq) {
			snprintf(c->err, sizeof(c->err),
				 "queue %u: unexpected response id 0x%llx",
				 c->qi, (unsigned long long)le64toh(rsp.id));
			ret = -1;
			goto out;
		}
		if (rsp.status != PVKIT_BLK_S_OK) {
			snprintf(c->err, sizeof(c->err),
				 "queue %u: op %u sector %llu len %u (%u segs, flags 0x%x): status %u",
				 c->qi, jobs[j].io.op,
				 (unsigned long long)jobs[j].io.sector,
				 jobs[j].io.bytes, jobs[j].io.nr_segs,
				 jobs[j].io.rq.flags, rsp.status);
			ret = -1;
			goto out;
		}
		if (jobs[j].io.op == PVKIT_BLK_OP_READ) {
			const struct fe_io *io = &jobs[j].io;
			const uint8_t *want = c->shadow + (io->sector << 9);
			uint32_t k;

			fe_gather(fe, io, jobs[j].buf);
			if (memcmp(jobs[j].buf, want, io->bytes)) {
				for (k = 0; jobs[j].buf[k] == want[k]; k++)
					;
				snprintf(c->err, sizeof(c->err),
					 "queue %u: read sector %llu len %u (%u segs, %s): mismatch at byte %u",
					 c->qi,
					 (unsigned long long)io->sector,
					 io->bytes, io->nr_segs,
					 io->rq.flags & PVKIT_BLK_RQ_INDIRECT ?
					 "indirect" : "inline", k);
				ret = -1;
				goto out;
			}
		}
		jobs[j].busy = false;
		inflight--;
		c->done++;
	}
out:
	/* leave the queue idle: collect what is still in flight */
	while (ret && inflight && !fe_get_rsp(fe, c->qi, &rsp, 2000))
		inflight--;
	free(jobs);
	return ret ? -1 : 0;
}
