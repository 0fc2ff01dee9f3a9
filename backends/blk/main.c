// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvkit-blkback: block back-end process, one per pvkit block device.
 *
 *   pvkit-blkback --hv
 *
 * pvkit-hv execs us with its control socket on fd 3 and speaks
 * pvkit-host/backend.h: SETUP (fds + args) -> READY, CONNECT -> CONNECTED,
 * DISCONNECT -> DISCONNECTED, STATS, SHUTDOWN.  The main thread owns the
 * socket; every queue has its own thread (queue.c).  DISCONNECTED is sent
 * once every queue has drained its in-flight I/O; the main loop keeps
 * answering STATS and signals meanwhile.  A queue that sees a
 * ring index violation stops and the main thread reports it with
 * PVKIT_BE_ERROR (PVKIT_BE_ERR_QUEUE | PVKIT_BE_ERR_GUEST); the process
 * stays up, and pvkit-hv resets the device with DISCONNECT + CONNECT.  SHUTDOWN,
 * socket EOF and SIGTERM/SIGINT end the process after the in-flight I/O
 * has completed, with status 0.  Any malformed control message is fatal
 * (ERROR, then exit 1): pvkit-hv restarts the back-end.
 */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pvkit-host/fdpass.h>
#include <pvkit-host/log.h>

#include "blkback.h"

enum blkb_state {
	BLKB_INIT,		/* waiting for SETUP */
	BLKB_READY,		/* READY sent, not connected */
	BLKB_CONNECTED,
	BLKB_DRAINING,		/* DISCONNECT: waiting for in-flight I/O */
};

struct blkb_main {
	struct blkb_dev dev;
	enum blkb_state state;
	int sock;
	int sigfd;
	int kick_fds[PVKIT_MAX_QUEUES];
	int irq_fds[PVKIT_MAX_QUEUES];
	bool reported[PVKIT_MAX_QUEUES];
	char err[256];		/* reason for a fatal ERROR */
	/*
	 * A guest can break its rings, and so have us reset, at will: what
	 * that logs (the violation, the reconnect) is rate-limited.
	 */
	struct log_ratelimit guest_rl;
};

#define BLKB_GUEST_LOG_INTERVAL_MS	10000
#define BLKB_GUEST_LOG_BURST		10

/* Largest message we accept, plus room to notice an oversized one. */
union blkb_msg {
	struct pvkit_be_hdr hdr;
	struct pvkit_be_setup setup;
	struct pvkit_be_connect connect;
	uint8_t raw[sizeof(struct pvkit_be_setup) + 64];
};

static int blkb_fail(struct blkb_main *m, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->err, sizeof(m->err), fmt, ap);
	va_end(ap);
	return err < 0 ? err : -EINVAL;
}

static void blkb_hdr(struct pvkit_be_hdr *h, uint16_t type, uint32_t len)
{
	h->magic = PVKIT_BE_MAGIC;
	h->type = type;
	h->version = PVKIT_BE_VERSION;
	h->len = len;
	h->reserved = 0;
}

static int blkb_send(struct blkb_main *m, void *msg, uint16_t type,
		     uint32_t len)
{
	blkb_hdr(msg, type, len);
	return fdpass_send(m->sock, msg, len, NULL, 0);
}

static int blkb_send_simple(struct blkb_main *m, uint16_t type)
{
	struct pvkit_be_hdr h;

	return blkb_send(m, &h, type, sizeof(h));
}

/* May a line the guest can trigger at will be printed now? */
static bool blkb_guest_log_ok(struct blkb_main *m)
{
	uint64_t missed = 0;
	bool ok = log_ratelimit_now(&m->guest_rl, &missed);

	if (ok && missed)
		log_warn("%llu guest-triggered messages suppressed",
			 (unsigned long long)missed);
	return ok;
}

/* @flags: PVKIT_BE_ERR_* (0: fatal, the process exits next) */
static void blkb_send_error(struct blkb_main *m, int err, uint32_t flags,
			    const char *msg)
{
	struct pvkit_be_error e;

	memset(&e, 0, sizeof(e));
	e.err = err;
	e.flags = flags;
	snprintf(e.msg, sizeof(e.msg), "%s", msg);
	if (!(flags & PVKIT_BE_ERR_GUEST) || blkb_guest_log_ok(m))
		log_err("%s", msg);
	blkb_send(m, &e, PVKIT_BE_ERROR, sizeof(e));
}

/* ------------------------------------------------------------- SETUP --- */

static int blkb_check_queues(struct blkb_main *m,
			     const struct pvkit_be_setup *s)
{
	uint64_t end[PVKIT_MAX_QUEUES];
	unsigned int i, j;

	for (i = 0; i < s->nr_queues; i++) {
		const struct pvkit_be_queue *d = &s->queues[i];

		if (!pvkit_ring_geometry_ok(d->ring_slots, d->req_size,
					    d->rsp_size) ||
		    d->req_size != BLKB_REQ_SIZE ||
		    d->rsp_size != BLKB_RSP_SIZE)
			return blkb_fail(m, -EINVAL,
					 "queue %u: bad ring geometry (slots %u, req %u, rsp %u)",
					 i, d->ring_slots, d->req_size,
					 d->rsp_size);
		end[i] = d->ring_offset + pvkit_ring_bytes(d->ring_slots,
							   d->req_size,
							   d->rsp_size);
		if (d->ring_offset % 64)
			return blkb_fail(m, -EINVAL,
					 "queue %u: ring offset 0x%x not 64-byte aligned",
					 i, d->ring_offset);
		if (end[i] > s->shm_size)
			return blkb_fail(m, -EINVAL,
					 "queue %u: ring at 0x%x (%llu bytes) not inside the %llu-byte shared region",
					 i, d->ring_offset,
					 (unsigned long long)(end[i] - d->ring_offset),
					 (unsigned long long)s->shm_size);
		for (j = 0; j < i; j++) {
			if (d->ring_offset < end[j] &&
			    s->queues[j].ring_offset < end[i])
				return blkb_fail(m, -EINVAL,
						 "queues %u and %u overlap", j,
						 i);
		}
	}
	return 0;
}

static int blkb_map_shm(struct blkb_main *m, int fd, uint64_t size)
{
	struct stat st;
	void *p;

	if (size < PVKIT_SHM_MIN_SIZE || size > (1ULL << 40))
		return blkb_fail(m, -EINVAL, "bad shared region size %llu",
				 (unsigned long long)size);
	if (fstat(fd, &st) < 0)
		return blkb_fail(m, -errno, "shared region: %s",
				 strerror(errno));
	if ((uint64_t)st.st_size < size)
		return blkb_fail(m, -EINVAL,
				 "shared region file is %lld bytes, expected %llu",
				 (long long)st.st_size,
				 (unsigned long long)size);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return blkb_fail(m, -errno, "mmap shared region: %s",
				 strerror(errno));
	m->dev.shm = p;
	m->dev.shm_size = size;
	return 0;
}

static void blkb_fill_ready(struct blkb_dev *dev, struct pvkit_be_ready *r)
{
	const struct blkb_disk *disk = &dev->disk;
	struct pvkit_blk_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	dev->features = PVKIT_BLK_F_FLUSH | PVKIT_BLK_F_FUA |
			PVKIT_BLK_F_INDIRECT;
	if (disk->ro)
		dev->features |= PVKIT_BLK_F_RO;
	if (disk->can_discard) {
		dev->features |= PVKIT_BLK_F_DISCARD;
		cfg.max_discard_sectors = htole32(disk->max_discard_sectors);
		cfg.discard_granularity = htole32(disk->discard_granularity);
	}
	if (disk->can_write_zeroes) {
		dev->features |= PVKIT_BLK_F_WRITE_ZEROES;
		cfg.max_write_zeroes_sectors = htole32(BLKB_MAX_WZ_SECTORS);
	}
	if (dev->opts.poll_us)
		dev->features |= PVKIT_BLK_F_BACKEND_POLL;
	cfg.capacity = htole64(disk->size >> PVKIT_BLK_SECTOR_SHIFT);
	cfg.logical_block_size = htole32(disk->lbs);
	cfg.physical_block_size = htole32(disk->pbs);
	cfg.max_segments = htole32(BLKB_MAX_SEGS);
	cfg.max_segment_size = htole32(BLKB_MAX_SEG_SIZE);
	cfg.max_sectors = htole32(BLKB_MAX_SECTORS);
	cfg.poll_us = htole32(dev->opts.poll_us);

	memset(r, 0, sizeof(*r));
	r->features = dev->features;
	r->config_size = sizeof(cfg);
	memcpy(r->config, &cfg, sizeof(cfg));
}

static int blkb_setup(struct blkb_main *m, const struct pvkit_be_setup *s,
		      int *fds, unsigned int nfds)
{
	struct blkb_dev *dev = &m->dev;
	struct pvkit_be_ready ready;
	char err[200], name[16];
	unsigned int i;
	int ret;

	if (!memchr(s->args, '\0', sizeof(s->args)))
		return blkb_fail(m, -EINVAL, "args not NUL-terminated");
	/* the hv calls the device blk<instance> in its log too */
	snprintf(name, sizeof(name), "blk%u", s->instance);
	log_set_prefix("pvkit-blkback", name);
	if (blkb_opts_parse(&dev->opts, s->args, err, sizeof(err)))
		return blkb_fail(m, -EINVAL, "invalid args \"%s\": %s",
				 s->args, err);
	if (s->dev_type != PVKIT_DEV_BLK)
		return blkb_fail(m, -EINVAL, "device type %u is not block",
				 s->dev_type);
	if (!s->nr_queues || s->nr_queues > PVKIT_MAX_QUEUES)
		return blkb_fail(m, -EINVAL, "bad queue count %u",
				 s->nr_queues);
	if (nfds != 2 + 2 * s->nr_queues)
		return blkb_fail(m, -EINVAL, "got %u fds, expected %u", nfds,
				 2 + 2 * s->nr_queues);
	ret = blkb_check_queues(m, s);
	if (ret)
		return ret;
	ret = gmem_init_abi(&dev->gm, s->mem, s->nr_mem_ranges, s->ram_size);
	if (ret)
		return blkb_fail(m, ret, "bad guest memory map (%u ranges, RAM file %llu bytes)",
				 s->nr_mem_ranges,
				 (unsigned long long)s->ram_size);
	ret = gmem_map_fd(&dev->gm, fds[0]);
	if (ret)
		return blkb_fail(m, ret, "cannot map guest RAM: %s",
				 strerror(-ret));
	ret = blkb_map_shm(m, fds[1], s->shm_size);
	if (ret)
		return ret;

	ret = blkb_disk_open(&dev->disk, &dev->opts, err, sizeof(err));
	if (ret)
		return blkb_fail(m, ret, "%s", err);

	dev->q = aligned_alloc(64, s->nr_queues * sizeof(*dev->q));
	if (!dev->q)
		return blkb_fail(m, -ENOMEM, "out of memory");
	memset(dev->q, 0, s->nr_queues * sizeof(*dev->q));
	dev->nr_queues = s->nr_queues;
	dev->dev_index = s->dev_index;
	memcpy(dev->qdesc, s->queues, sizeof(dev->qdesc));
	for (i = 0; i < s->nr_queues; i++) {
		dev->q[i].index = i;
		dev->q[i].dev = dev;
		/* ownership moves from fds[] to the queue */
		dev->q[i].kick_fd = m->kick_fds[i] = fds[2 + i];
		dev->q[i].irq_fd = m->irq_fds[i] = fds[2 + s->nr_queues + i];
		fds[2 + i] = -1;
		fds[2 + s->nr_queues + i] = -1;
	}

	blkb_fill_ready(dev, &ready);
	log_info("%s: %llu sectors, %u-byte blocks, %s%s%s%s, %u queue(s)%s",
		 dev->opts.path,
		 (unsigned long long)(dev->disk.size >> PVKIT_BLK_SECTOR_SHIFT),
		 dev->disk.lbs, dev->disk.ro ? "read-only" : "read-write",
		 dev->disk.direct ? ", O_DIRECT" : ", buffered",
		 dev->disk.inline_rw ? ", inline" : "",
		 dev->disk.can_discard ? ", discard" : "", dev->nr_queues,
		 dev->opts.poll_us ? ", polling" : "");
	m->state = BLKB_READY;
	ret = blkb_send(m, &ready, PVKIT_BE_READY, sizeof(ready));
	if (ret)
		return blkb_fail(m, ret, "send READY: %s", strerror(-ret));
	return 0;
}

/* ----------------------------------------------------------- CONNECT --- */

static void blkb_report_errors(struct blkb_main *m)
{
	unsigned int i;
	char msg[256];
	int err;

	for (i = 0; i < m->dev.nr_queues; i++) {
		err = __atomic_load_n(&m->dev.q[i].err, __ATOMIC_ACQUIRE);
		if (!err || m->reported[i])
			continue;
		m->reported[i] = true;
		snprintf(msg, sizeof(msg), "queue %u: %s", i,
			 m->dev.q[i].errmsg);
		/* the acquire above orders err_guest too */
		blkb_send_error(m, err, PVKIT_BE_ERR_QUEUE |
				(m->dev.q[i].err_guest ? PVKIT_BE_ERR_GUEST : 0),
				msg);
	}
}

/* Have all queue threads finished (their in-flight I/O included)? */
static bool blkb_drained(struct blkb_main *m)
{
	unsigned int i;

	for (i = 0; i < m->dev.nr_queues; i++) {
		if (m->dev.q[i].started &&
		    !__atomic_load_n(&m->dev.q[i].exited, __ATOMIC_ACQUIRE))
			return false;
	}
	return true;
}

/* Join the stopped queues, report their errors, forget the connection. */
static void blkb_join_all(struct blkb_main *m)
{
	struct blkb_dev *dev = &m->dev;
	unsigned int i;

	for (i = 0; i < dev->nr_queues; i++)
		blkb_queue_join(&dev->q[i]);
	close(dev->stop_fd);
	dev->stop_fd = -1;
	/* after the join: no error can trail DISCONNECTED */
	blkb_report_errors(m);
	m->state = BLKB_READY;
}

/* Stop the queues and wait for them (process exit, failed CONNECT). */
static void blkb_disconnect(struct blkb_main *m)
{
	if (m->state != BLKB_CONNECTED && m->state != BLKB_DRAINING)
		return;
	blkb_queues_stop(&m->dev);
	blkb_join_all(m);
}

/*
 * DISCONNECT: ask the queues to stop and answer once they have drained;
 * meanwhile the main loop keeps serving STATS and signals.
 */
static int blkb_drain_done(struct blkb_main *m)
{
	if (m->state != BLKB_DRAINING || !blkb_drained(m))
		return 0;
	blkb_join_all(m);
	if (blkb_guest_log_ok(m))
		log_info("disconnected");
	return blkb_send_simple(m, PVKIT_BE_DISCONNECTED);
}

static int blkb_connect(struct blkb_main *m, const struct pvkit_be_connect *c)
{
	struct blkb_dev *dev = &m->dev;
	unsigned int i;
	int ret;

	if (c->acked_features & ~dev->features)
		return blkb_fail(m, -EINVAL,
				 "CONNECT acks features 0x%llx that were not offered (0x%llx)",
				 (unsigned long long)c->acked_features,
				 (unsigned long long)dev->features);
	dev->acked = c->acked_features;
	dev->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (dev->stop_fd < 0)
		return blkb_fail(m, -errno, "eventfd: %s", strerror(errno));
	m->state = BLKB_CONNECTED;
	for (i = 0; i < dev->nr_queues; i++) {
		m->reported[i] = false;
		ret = blkb_queue_start(dev, &dev->q[i]);
		if (ret) {
			blkb_disconnect(m);
			return blkb_fail(m, ret, "queue %u: cannot start: %s",
					 i, strerror(-ret));
		}
	}
	if (blkb_guest_log_ok(m))
		log_info("connected, epoch %u, features 0x%llx", c->epoch,
			 (unsigned long long)dev->acked);
	ret = blkb_send_simple(m, PVKIT_BE_CONNECTED);
	if (ret)
		return blkb_fail(m, ret, "send CONNECTED: %s", strerror(-ret));
	return 0;
}

static int blkb_stats(struct blkb_main *m)
{
	struct pvkit_be_stats st;
	unsigned int i;

	memset(&st, 0, sizeof(st));
	st.nr_queues = m->dev.nr_queues;
	for (i = 0; i < m->dev.nr_queues; i++) {
		struct blkb_queue *q = &m->dev.q[i];

		st.q[i].requests = blkb_stat_read(q, requests);
		st.q[i].kicks = blkb_stat_read(q, kicks);
		st.q[i].irqs = blkb_stat_read(q, irqs);
		st.q[i].irqs_suppressed = blkb_stat_read(q, irqs_suppressed);
		st.q[i].errors = blkb_stat_read(q, errors);
		st.q[i].bytes = blkb_stat_read(q, bytes);
	}
	return blkb_send(m, &st, PVKIT_BE_STATS, sizeof(st));
}

/* ------------------------------------------------------ message loop --- */

static int blkb_msg_len(uint16_t type)
{
	switch (type) {
	case PVKIT_BE_SETUP:
		return sizeof(struct pvkit_be_setup);
	case PVKIT_BE_CONNECT:
		return sizeof(struct pvkit_be_connect);
	case PVKIT_BE_DISCONNECT:
	case PVKIT_BE_STATS:
	case PVKIT_BE_SHUTDOWN:
		return sizeof(struct pvkit_be_hdr);
	default:
		return -1;
	}
}

/* Returns 0 to go on, 1 to exit cleanly, -errno on a fatal error. */
static int blkb_handle_msg(struct blkb_main *m)
{
	static union blkb_msg msg;
	int fds[FDPASS_MAX_FDS];
	unsigned int nfds = 0, i;
	ssize_t n;
	int ret;

	n = fdpass_recv(m->sock, &msg, sizeof(msg), fds, FDPASS_MAX_FDS,
			&nfds);
	if (n == 0)
		return 1;	/* pvkit-hv went away */
	if (n < 0)
		return blkb_fail(m, n, "control socket: %s", strerror(-n));

	if ((size_t)n < sizeof(msg.hdr) || msg.hdr.magic != PVKIT_BE_MAGIC ||
	    msg.hdr.version != PVKIT_BE_VERSION || msg.hdr.len != (size_t)n ||
	    blkb_msg_len(msg.hdr.type) != n) {
		ret = blkb_fail(m, -EPROTO,
				"malformed control message (%zd bytes, type %u)",
				n, n >= (ssize_t)sizeof(msg.hdr) ?
				msg.hdr.type : 0);
		goto out;
	}
	if (nfds && msg.hdr.type != PVKIT_BE_SETUP) {
		ret = blkb_fail(m, -EPROTO, "unexpected fds with message %u",
				msg.hdr.type);
		goto out;
	}

	switch (msg.hdr.type) {
	case PVKIT_BE_SETUP:
		if (m->state != BLKB_INIT) {
			ret = blkb_fail(m, -EPROTO, "second SETUP");
			break;
		}
		ret = blkb_setup(m, &msg.setup, fds, nfds);
		break;
	case PVKIT_BE_CONNECT:
		if (m->state != BLKB_READY) {
			ret = blkb_fail(m, -EPROTO, "CONNECT in state %d",
					m->state);
			break;
		}
		ret = blkb_connect(m, &msg.connect);
		break;
	case PVKIT_BE_DISCONNECT:
		if (m->state == BLKB_INIT) {
			ret = blkb_fail(m, -EPROTO, "DISCONNECT before SETUP");
			break;
		}
		if (m->state == BLKB_READY) {
			ret = blkb_send_simple(m, PVKIT_BE_DISCONNECTED);
			break;
		}
		/* CONNECTED, or DRAINING already: one answer when drained */
		blkb_queues_stop(&m->dev);
		m->state = BLKB_DRAINING;
		ret = blkb_drain_done(m);
		break;
	case PVKIT_BE_STATS:
		ret = blkb_stats(m);
		break;
	default: /* SHUTDOWN */
		ret = 1;
		break;
	}
out:
	for (i = 0; i < nfds; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
	}
	return ret;
}

static int blkb_serve(struct blkb_main *m)
{
	struct signalfd_siginfo si;
	struct pollfd pfd[3];
	eventfd_t v;
	int ret;

	for (;;) {
		pfd[0] = (struct pollfd){ .fd = m->sock, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = m->sigfd, .events = POLLIN };
		pfd[2] = (struct pollfd){ .fd = m->dev.event_fd,
					  .events = POLLIN };
		if (poll(pfd, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			return blkb_fail(m, -errno, "poll: %s",
					 strerror(errno));
		}
		if (pfd[1].revents & POLLIN) {
			if (read(m->sigfd, &si, sizeof(si)) == sizeof(si))
				log_info("%s: exiting", strsignal(si.ssi_signo));
			return 1;
		}
		if (pfd[2].revents & POLLIN) {
			eventfd_read(m->dev.event_fd, &v);
			blkb_report_errors(m);
			ret = blkb_drain_done(m);
			if (ret)
				return blkb_fail(m, ret, "send DISCONNECTED: %s",
						 strerror(-ret));
		}
		if (pfd[0].revents) {
			ret = blkb_handle_msg(m);
			if (ret)
				return ret;
		}
	}
}

static void blkb_cleanup(struct blkb_main *m)
{
	struct blkb_dev *dev = &m->dev;
	unsigned int i;

	blkb_disconnect(m);
	for (i = 0; i < dev->nr_queues; i++) {
		close(m->kick_fds[i]);
		close(m->irq_fds[i]);
	}
	free(dev->q);
	dev->q = NULL;
	blkb_disk_close(&dev->disk);
	if (dev->shm)
		munmap(dev->shm, dev->shm_size);
	gmem_unmap(&dev->gm);
	if (dev->event_fd >= 0)
		close(dev->event_fd);
	if (m->sigfd >= 0)
		close(m->sigfd);
}

static void blkb_usage(void)
{
	fprintf(stderr,
		"usage: pvkit-blkback --hv\n"
		"  Started by pvkit-hv with its control socket on fd %d; the\n"
		"  device options come in the SETUP message:\n"
		"    path=PATH[,ro][,poll=US][,direct=auto|on|off][,serial=S][,format=raw]\n",
		PVKIT_BE_SOCK_FD);
}

int main(int argc, char **argv)
{
	static struct blkb_main m;
	struct stat st;
	sigset_t mask;
	int ret;

	log_set_prefix("pvkit-blkback", NULL);
	if (argc != 2 || strcmp(argv[1], "--hv")) {
		blkb_usage();
		return 2;
	}
	m.sock = PVKIT_BE_SOCK_FD;
	m.sigfd = -1;
	m.dev.event_fd = -1;
	m.dev.stop_fd = -1;
	m.guest_rl.interval_ms = BLKB_GUEST_LOG_INTERVAL_MS;
	m.guest_rl.burst = BLKB_GUEST_LOG_BURST;
	if (fstat(m.sock, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		log_err("fd %d is not the pvkit-hv control socket",
			 PVKIT_BE_SOCK_FD);
		return 1;
	}

	/* signals are read by the main loop; queue threads inherit the mask */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	m.sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	m.dev.event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m.sigfd < 0 || m.dev.event_fd < 0) {
		blkb_send_error(&m, -errno, 0, "signalfd/eventfd failed");
		blkb_cleanup(&m);
		return 1;
	}

	ret = blkb_serve(&m);
	if (ret < 0)
		blkb_send_error(&m, ret, 0, m.err);
	blkb_cleanup(&m);
	return ret < 0 ? 1 : 0;
}
