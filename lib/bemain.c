// SPDX-License-Identifier: GPL-2.0-only
/*
 * The generic back-end main loop (see pvkit-host/bemain.h): one thread
 * owns the control socket, a signalfd and the eventfd on which queues
 * report errors and their exit; the device is behind struct pvbe_ops.
 * Everything pvkit-hv sends is validated here before an op sees it.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
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

#include <pvkit-host/bemain.h>
#include <pvkit-host/beproto.h>
#include <pvkit-host/bequeue.h>
#include <pvkit-host/fdpass.h>
#include <pvkit-host/log.h>

/* Largest shared region we map: a sanity bound, far above any real one. */
#define PVBE_SHM_MAX		(1ULL << 40)

static int pvbe_fail(struct pvbe *be, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int pvbe_fail(struct pvbe *be, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(be->err, sizeof(be->err), fmt, ap);
	va_end(ap);
	return err < 0 ? err : -EINVAL;
}

static int pvbe_send_msg(struct pvbe *be, void *msg, uint16_t type)
{
	return pvbe_send(be->sock, msg, type, PVBE_TO_HV, NULL, 0);
}

static int pvbe_send_hdr(struct pvbe *be, uint16_t type)
{
	return pvbe_send_simple(be->sock, type, PVBE_TO_HV);
}

#define PVBE_GUEST_LOG_INTERVAL_MS	10000
#define PVBE_GUEST_LOG_BURST		10

/* May a line the guest can trigger at will be printed now? */
static bool pvbe_guest_log_ok(struct pvbe *be)
{
	uint64_t missed = 0;
	bool ok = log_ratelimit_now(&be->guest_rl, &missed);

	if (ok && missed)
		log_warn("%llu guest-triggered messages suppressed",
			 (unsigned long long)missed);
	return ok;
}

/* @flags: PVKIT_BE_ERR_* (0: fatal, the process exits next) */
static void pvbe_send_error(struct pvbe *be, int err, uint32_t flags,
			    const char *msg)
{
	struct pvkit_be_error e;

	memset(&e, 0, sizeof(e));
	e.err = err;
	e.flags = flags;
	snprintf(e.msg, sizeof(e.msg), "%s", msg);
	if (!(flags & PVKIT_BE_ERR_GUEST) || pvbe_guest_log_ok(be))
		log_err("%s", msg);
	pvbe_send_msg(be, &e, PVKIT_BE_ERROR);
}

/* ------------------------------------------------------------- SETUP --- */

static int pvbe_check_queues(struct pvbe *be, const struct pvkit_be_setup *s)
{
	uint64_t end[PVKIT_MAX_QUEUES];
	uint32_t req_size, rsp_size;
	unsigned int i, j;

	for (i = 0; i < s->nr_queues; i++) {
		const struct pvkit_be_queue *d = &s->queues[i];

		be->ops->slot_sizes(be, i, &req_size, &rsp_size);
		if (!pvkit_ring_geometry_ok(d->ring_slots, d->req_size,
					    d->rsp_size) ||
		    d->req_size != req_size || d->rsp_size != rsp_size)
			return pvbe_fail(be, -EINVAL,
					 "queue %u: bad ring geometry (slots %u, req %u, rsp %u)",
					 i, d->ring_slots, d->req_size,
					 d->rsp_size);
		end[i] = d->ring_offset + pvkit_ring_bytes(d->ring_slots,
							   d->req_size,
							   d->rsp_size);
		if (d->ring_offset % 64)
			return pvbe_fail(be, -EINVAL,
					 "queue %u: ring offset 0x%x not 64-byte aligned",
					 i, d->ring_offset);
		if (end[i] > s->shm_size)
			return pvbe_fail(be, -EINVAL,
					 "queue %u: ring at 0x%x (%llu bytes) not inside the %llu-byte shared region",
					 i, d->ring_offset,
					 (unsigned long long)(end[i] - d->ring_offset),
					 (unsigned long long)s->shm_size);
		for (j = 0; j < i; j++) {
			if (d->ring_offset < end[j] &&
			    s->queues[j].ring_offset < end[i])
				return pvbe_fail(be, -EINVAL,
						 "queues %u and %u overlap", j,
						 i);
		}
	}
	return 0;
}

static int pvbe_map_shm(struct pvbe *be, int fd, uint64_t size)
{
	struct stat st;
	void *p;

	if (size < PVKIT_SHM_MIN_SIZE || size > PVBE_SHM_MAX)
		return pvbe_fail(be, -EINVAL, "bad shared region size %llu",
				 (unsigned long long)size);
	if (fstat(fd, &st) < 0)
		return pvbe_fail(be, -errno, "shared region: %s",
				 strerror(errno));
	if ((uint64_t)st.st_size < size)
		return pvbe_fail(be, -EINVAL,
				 "shared region file is %lld bytes, expected %llu",
				 (long long)st.st_size,
				 (unsigned long long)size);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return pvbe_fail(be, -errno, "mmap shared region: %s",
				 strerror(errno));
	be->shm = p;
	be->shm_size = size;
	return 0;
}

/* Allocate the queues and move their fds out of @fds. */
static int pvbe_alloc_queues(struct pvbe *be, const struct pvkit_be_setup *s,
			     int *fds)
{
	size_t qsize = be->ops->queue_size;
	unsigned int i;

	be->queues = aligned_alloc(64, s->nr_queues * qsize);
	if (!be->queues)
		return pvbe_fail(be, -ENOMEM, "out of memory");
	memset(be->queues, 0, s->nr_queues * qsize);
	be->nr_queues = s->nr_queues;
	for (i = 0; i < s->nr_queues; i++) {
		struct pvbe_queue *q = pvbe_queue(be, i);

		q->index = i;
		q->be = be;
		/* ownership moves from fds[] to the queue */
		q->kick_fd = fds[2 + i];
		q->irq_fd = fds[2 + s->nr_queues + i];
		fds[2 + i] = -1;
		fds[2 + s->nr_queues + i] = -1;
	}
	return 0;
}

static int pvbe_setup(struct pvbe *be, const struct pvkit_be_setup *s,
		      int *fds, unsigned int nfds)
{
	const struct pvbe_ops *ops = be->ops;
	struct pvkit_be_ready ready;
	char err[200], name[16];
	int ret;

	if (!memchr(s->args, '\0', sizeof(s->args)))
		return pvbe_fail(be, -EINVAL, "args not NUL-terminated");
	/* the hv calls the device <dev_name><instance> in its log too */
	snprintf(name, sizeof(name), "%s%u", ops->dev_name, s->instance);
	log_set_prefix(ops->prog, name);
	if (ops->parse_args(be, s->args, err, sizeof(err)))
		return pvbe_fail(be, -EINVAL, "invalid args \"%s\": %s",
				 s->args, err);
	if (s->dev_type != ops->dev_type)
		return pvbe_fail(be, -EINVAL, "device type %u is not %s",
				 s->dev_type, ops->dev_name);
	if (!s->nr_queues || s->nr_queues > PVKIT_MAX_QUEUES)
		return pvbe_fail(be, -EINVAL, "bad queue count %u",
				 s->nr_queues);
	if (nfds != 2 + 2 * s->nr_queues)
		return pvbe_fail(be, -EINVAL, "got %u fds, expected %u", nfds,
				 2 + 2 * s->nr_queues);
	/* slot_sizes() may depend on the count (net: the last is control) */
	be->nr_queues = s->nr_queues;
	ret = pvbe_check_queues(be, s);
	if (ret)
		return ret;
	ret = gmem_init_abi(&be->gm, s->mem, s->nr_mem_ranges, s->ram_size);
	if (ret)
		return pvbe_fail(be, ret, "bad guest memory map (%u ranges, RAM file %llu bytes)",
				 s->nr_mem_ranges,
				 (unsigned long long)s->ram_size);
	ret = gmem_map_fd(&be->gm, fds[0]);
	if (ret)
		return pvbe_fail(be, ret, "cannot map guest RAM: %s",
				 strerror(-ret));
	ret = pvbe_map_shm(be, fds[1], s->shm_size);
	if (ret)
		return ret;

	be->dev_index = s->dev_index;
	be->instance = s->instance;
	be->nr_queues = s->nr_queues;
	memcpy(be->qdesc, s->queues, sizeof(be->qdesc));
	ret = ops->open(be, err, sizeof(err));
	if (ret)
		return pvbe_fail(be, ret, "%s", err);
	ret = pvbe_alloc_queues(be, s, fds);
	if (ret)
		return ret;

	memset(&ready, 0, sizeof(ready));
	ops->fill_ready(be, &ready);
	be->features = ready.features;
	be->state = PVBE_READY;
	ret = pvbe_send_msg(be, &ready, PVKIT_BE_READY);
	if (ret)
		return pvbe_fail(be, ret, "send READY: %s", strerror(-ret));
	return 0;
}

/* ----------------------------------------------------------- CONNECT --- */

/* Send an ERROR for each queue that failed since the last look. */
static void pvbe_report_errors(struct pvbe *be)
{
	unsigned int i;
	char msg[256];
	int err;

	for (i = 0; i < be->nr_queues; i++) {
		struct pvbe_queue *q = pvbe_queue(be, i);

		err = __atomic_load_n(&q->err, __ATOMIC_ACQUIRE);
		if (!err || q->reported)
			continue;
		q->reported = true;
		snprintf(msg, sizeof(msg), "queue %u: %s", i, q->errmsg);
		/* the acquire above orders err_guest too */
		pvbe_send_error(be, err, PVKIT_BE_ERR_QUEUE |
				(q->err_guest ? PVKIT_BE_ERR_GUEST : 0), msg);
	}
}

/* Have all queue threads finished (their in-flight work included)? */
static bool pvbe_drained(struct pvbe *be)
{
	unsigned int i;

	for (i = 0; i < be->nr_queues; i++) {
		struct pvbe_queue *q = pvbe_queue(be, i);

		if (q->started && !__atomic_load_n(&q->exited,
						   __ATOMIC_ACQUIRE))
			return false;
	}
	return true;
}

static void pvbe_queues_stop(struct pvbe *be)
{
	if (be->stop_fd >= 0)
		eventfd_write(be->stop_fd, 1);
	if (be->ops->queue_stop)
		be->ops->queue_stop(be);
}

/* Join the stopped queues, report their errors, forget the connection. */
static void pvbe_join_all(struct pvbe *be)
{
	unsigned int i;

	for (i = 0; i < be->nr_queues; i++) {
		struct pvbe_queue *q = pvbe_queue(be, i);

		if (!q->started)
			continue;
		be->ops->queue_join(be, q);
		q->started = false;
	}
	close(be->stop_fd);
	be->stop_fd = -1;
	/* after the join: no error can trail DISCONNECTED */
	pvbe_report_errors(be);
	be->state = PVBE_READY;
}

/* Stop the queues and wait for them (process exit, failed CONNECT). */
static void pvbe_disconnect(struct pvbe *be)
{
	if (be->state != PVBE_CONNECTED && be->state != PVBE_DRAINING)
		return;
	pvbe_queues_stop(be);
	pvbe_join_all(be);
}

/*
 * DISCONNECT: the queues were asked to stop; answer once they have
 * drained.  Meanwhile the main loop keeps serving STATS and signals.
 */
static int pvbe_drain_done(struct pvbe *be)
{
	if (be->state != PVBE_DRAINING || !pvbe_drained(be))
		return 0;
	pvbe_join_all(be);
	if (pvbe_guest_log_ok(be))
		log_info("disconnected");
	return pvbe_send_hdr(be, PVKIT_BE_DISCONNECTED);
}

static int pvbe_queue_attach(struct pvbe *be, struct pvbe_queue *q)
{
	const struct pvkit_be_queue *d = &be->qdesc[q->index];

	q->stopping = false;
	q->exited = false;
	q->reported = false;
	q->err = 0;
	q->err_guest = false;
	q->errmsg[0] = '\0';
	return pvkit_ring_attach(&q->ring, be->shm + d->ring_offset,
				 d->ring_slots, d->req_size, d->rsp_size);
}

static int pvbe_connect(struct pvbe *be, const struct pvkit_be_connect *c)
{
	unsigned int i;
	int ret;

	if (c->acked_features & ~be->features)
		return pvbe_fail(be, -EINVAL,
				 "CONNECT acks features 0x%llx that were not offered (0x%llx)",
				 (unsigned long long)c->acked_features,
				 (unsigned long long)be->features);
	be->acked = c->acked_features;
	be->epoch = c->epoch;
	be->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (be->stop_fd < 0)
		return pvbe_fail(be, -errno, "eventfd: %s", strerror(errno));
	be->state = PVBE_CONNECTED;
	for (i = 0; i < be->nr_queues; i++) {
		struct pvbe_queue *q = pvbe_queue(be, i);

		ret = pvbe_queue_attach(be, q);
		if (!ret)
			ret = be->ops->queue_start(be, q);
		if (ret) {
			pvbe_disconnect(be);
			return pvbe_fail(be, ret, "queue %u: cannot start: %s",
					 i, strerror(-ret));
		}
		q->started = true;
	}
	if (pvbe_guest_log_ok(be))
		log_info("connected, epoch %u, features 0x%llx", c->epoch,
			 (unsigned long long)be->acked);
	ret = pvbe_send_hdr(be, PVKIT_BE_CONNECTED);
	if (ret)
		return pvbe_fail(be, ret, "send CONNECTED: %s", strerror(-ret));
	return 0;
}

static int pvbe_stats(struct pvbe *be)
{
	struct pvkit_be_stats st;
	unsigned int i;

	memset(&st, 0, sizeof(st));
	st.nr_queues = be->nr_queues;
	for (i = 0; i < be->nr_queues; i++) {
		struct pvbe_queue *q = pvbe_queue(be, i);

		st.q[i].requests = pvbe_stat_read(q, requests);
		st.q[i].kicks = pvbe_stat_read(q, kicks);
		st.q[i].irqs = pvbe_stat_read(q, irqs);
		st.q[i].irqs_suppressed = pvbe_stat_read(q, irqs_suppressed);
		st.q[i].errors = pvbe_stat_read(q, errors);
		st.q[i].bytes = pvbe_stat_read(q, bytes);
	}
	return pvbe_send_msg(be, &st, PVKIT_BE_STATS);
}

/* ------------------------------------------------------ message loop --- */

static const char *const pvbe_state_names[] = {
	[PVBE_INIT] = "INIT",
	[PVBE_READY] = "READY",
	[PVBE_CONNECTED] = "CONNECTED",
	[PVBE_DRAINING] = "DRAINING",
};

static int pvbe_dispatch(struct pvbe *be, union pvbe_msg *msg, int *fds,
			 unsigned int nfds)
{
	switch (msg->hdr.type) {
	case PVKIT_BE_SETUP:
		if (be->state != PVBE_INIT)
			return pvbe_fail(be, -EPROTO, "second SETUP");
		return pvbe_setup(be, &msg->setup, fds, nfds);
	case PVKIT_BE_CONNECT:
		if (be->state != PVBE_READY)
			return pvbe_fail(be, -EPROTO, "CONNECT in state %s",
					 pvbe_state_names[be->state]);
		return pvbe_connect(be, &msg->connect);
	case PVKIT_BE_DISCONNECT:
		if (be->state == PVBE_INIT)
			return pvbe_fail(be, -EPROTO,
					 "DISCONNECT before SETUP");
		if (be->state == PVBE_READY)
			return pvbe_send_hdr(be, PVKIT_BE_DISCONNECTED);
		/* CONNECTED, or DRAINING already: one answer when drained */
		pvbe_queues_stop(be);
		be->state = PVBE_DRAINING;
		return pvbe_drain_done(be);
	case PVKIT_BE_STATS:
		return pvbe_stats(be);
	default: /* SHUTDOWN */
		return 1;
	}
}

/* Returns 0 to go on, 1 to exit cleanly, -errno on a fatal error. */
static int pvbe_handle_msg(struct pvbe *be)
{
	static union pvbe_msg msg;
	int fds[FDPASS_MAX_FDS];
	unsigned int nfds = 0, i;
	char why[96];
	ssize_t n;
	int ret;

	n = pvbe_recv(be->sock, &msg, fds, &nfds);
	if (n == 0)
		return 1;	/* pvkit-hv went away */
	if (n < 0)
		return pvbe_fail(be, n, "control socket: %s", strerror(-n));

	ret = pvbe_check(&msg, n, nfds, PVBE_TO_BE, why, sizeof(why));
	if (ret)
		ret = pvbe_fail(be, ret, "%s", why);
	else
		ret = pvbe_dispatch(be, &msg, fds, nfds);
	for (i = 0; i < nfds; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
	}
	return ret;
}

int pvbe_send_config(struct pvbe *be, const void *config, uint16_t size)
{
	struct pvkit_be_config c;

	if (be->state == PVBE_INIT || size > sizeof(c.config))
		return -EINVAL;
	memset(&c, 0, sizeof(c));
	c.config_size = size;
	memcpy(c.config, config, size);
	return pvbe_send_msg(be, &c, PVKIT_BE_CONFIG);
}

static int pvbe_serve(struct pvbe *be)
{
	const struct pvbe_ops *ops = be->ops;
	struct signalfd_siginfo si;
	struct pollfd pfd[3];
	uint64_t next_tick = 0, now;
	int timeout, ret;
	eventfd_t v;

	for (;;) {
		timeout = -1;
		if (ops->tick && ops->tick_ms && be->state != PVBE_INIT) {
			now = pvbe_now_ns() / 1000000;
			if (now >= next_tick) {
				ops->tick(be);
				next_tick = now + ops->tick_ms;
			}
			timeout = (int)(next_tick - now);
		}
		pfd[0] = (struct pollfd){ .fd = be->sock, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = be->sigfd, .events = POLLIN };
		pfd[2] = (struct pollfd){ .fd = be->event_fd,
					  .events = POLLIN };
		ret = poll(pfd, 3, timeout);
		if (ret < 0) {
			if (errno == EINTR)
				continue;
			return pvbe_fail(be, -errno, "poll: %s",
					 strerror(errno));
		}
		if (!ret)
			continue;
		if (pfd[1].revents & POLLIN) {
			if (read(be->sigfd, &si, sizeof(si)) == sizeof(si))
				log_info("%s: exiting", strsignal(si.ssi_signo));
			return 1;
		}
		if (pfd[2].revents & POLLIN) {
			eventfd_read(be->event_fd, &v);
			pvbe_report_errors(be);
			ret = pvbe_drain_done(be);
			if (ret)
				return pvbe_fail(be, ret,
						 "send DISCONNECTED: %s",
						 strerror(-ret));
		}
		if (pfd[0].revents) {
			ret = pvbe_handle_msg(be);
			if (ret)
				return ret;
		}
	}
}

static void pvbe_cleanup(struct pvbe *be)
{
	unsigned int i;

	pvbe_disconnect(be);
	for (i = 0; be->queues && i < be->nr_queues; i++) {
		close(pvbe_queue(be, i)->kick_fd);
		close(pvbe_queue(be, i)->irq_fd);
	}
	free(be->queues);
	be->queues = NULL;
	if (be->ops->close)
		be->ops->close(be);
	if (be->shm)
		munmap(be->shm, be->shm_size);
	gmem_unmap(&be->gm);
	if (be->event_fd >= 0)
		close(be->event_fd);
	if (be->sigfd >= 0)
		close(be->sigfd);
}

static void pvbe_usage(const struct pvbe_ops *ops)
{
	fprintf(stderr,
		"usage: %s --hv\n"
		"  Started by pvkit-hv with its control socket on fd %d; the\n"
		"  device options come in the SETUP message:\n"
		"    %s\n",
		ops->prog, PVKIT_BE_SOCK_FD, ops->usage);
}

int pvbe_main(struct pvbe *be, const struct pvbe_ops *ops, int argc,
	      char **argv)
{
	struct stat st;
	sigset_t mask;
	int ret;

	memset(be, 0, sizeof(*be));
	be->ops = ops;
	log_set_prefix(ops->prog, NULL);
	if (argc != 2 || strcmp(argv[1], "--hv")) {
		pvbe_usage(ops);
		return 2;
	}
	be->sock = PVKIT_BE_SOCK_FD;
	be->guest_rl.interval_ms = PVBE_GUEST_LOG_INTERVAL_MS;
	be->guest_rl.burst = PVBE_GUEST_LOG_BURST;
	be->sigfd = -1;
	be->event_fd = -1;
	be->stop_fd = -1;
	if (fstat(be->sock, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		log_err("fd %d is not the pvkit-hv control socket",
			PVKIT_BE_SOCK_FD);
		return 1;
	}
	/* a queue struct that does not keep the next one aligned */
	if (ops->queue_size % 64 ||
	    ops->queue_offset + sizeof(struct pvbe_queue) > ops->queue_size) {
		log_err("BUG: queue_size %zu", ops->queue_size);
		return 1;
	}

	/* signals are read by the main loop; queue threads inherit the mask */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	be->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	be->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (be->sigfd < 0 || be->event_fd < 0) {
		pvbe_send_error(be, -errno, 0, "signalfd/eventfd failed");
		pvbe_cleanup(be);
		return 1;
	}

	ret = pvbe_serve(be);
	if (ret < 0)
		pvbe_send_error(be, ret, 0, be->err);
	pvbe_cleanup(be);
	return ret < 0 ? 1 : 0;
}
