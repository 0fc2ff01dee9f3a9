// SPDX-License-Identifier: GPL-2.0-only
/*
 * Back-end supervision.  Each device of a kind with a back-end program
 * (kinds.c: pvkit-blkback for --disk ...) gets a process of it, found
 * next to pvkit-hv or named by the kind's environment variable, with a
 * SOCK_SEQPACKET socket on fd 3.  Everything it sends is checked (magic, version, type, exact length,
 * no stray descriptors); anything unexpected kills it, and its death is
 * handled like a crash: the device goes RESETTING and a new back-end is
 * started with backoff (100 ms doubling to 5 s), for ever unless the
 * device was given restarts=N (then BROKEN after N quick failures).  A
 * back-end that reports a stopped queue (the guest's ring index
 * violation) is not restarted: the device is reset (dev_fault()).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pvkit-host/beproto.h>
#include <pvkit-host/fdpass.h>
#include <pvkit-host/log.h>

#include "include/be.h"
#include "include/dev.h"
#include "include/hv.h"
#include "include/kind.h"

static const struct dev_ops be_dev_ops;

static int be_send(struct be *be, const void *msg, size_t len,
		   const int *fds, unsigned int nfds)
{
	if (be->sock < 0)
		return -ENOTCONN;
	return fdpass_send(be->sock, msg, len, fds, nfds);
}

static int be_send_simple(struct be *be, uint16_t type)
{
	struct pvkit_be_hdr h;

	pvbe_hdr_init(&h, type, PVBE_TO_BE);
	return be_send(be, &h, sizeof(h), NULL, 0);
}

static void be_find_prog(struct be *be, const struct hv_kind *k)
{
	const char *env = k->prog_env ? getenv(k->prog_env) : NULL;
	char self[PATH_MAX];
	ssize_t n;

	if (env && *env) {
		snprintf(be->prog, sizeof(be->prog), "%s", env);
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		snprintf(be->prog, sizeof(be->prog), "%s/%s", dirname(self),
			 k->prog);
	} else {
		snprintf(be->prog, sizeof(be->prog), "%s", k->prog);
	}
}

const char *be_state_name(enum be_state st)
{
	switch (st) {
	case BE_DOWN:
		return "down";
	case BE_STARTING:
		return "starting";
	case BE_READY:
		return "ready";
	case BE_WAITING:
		return "restarting";
	case BE_GAVE_UP:
		return "gave-up";
	}
	return "?";
}

int be_create(struct hv *hv, struct dev *d, const struct hv_dev_opt *o)
{
	struct be *be;

	(void)hv;
	be = calloc(1, sizeof(*be));
	if (!be)
		return -ENOMEM;
	be->dev = d;
	be->opt = *o;
	be->sock = -1;
	be->src.fd = -1;
	be_find_prog(be, o->kind);
	d->be = be;
	d->ops = &be_dev_ops;
	d->kind = o->kind;
	return 0;
}

static void be_close(struct hv *hv, struct be *be)
{
	if (be->sock >= 0) {
		ev_del(hv, &be->src);
		close(be->sock);
		be->sock = -1;
	}
}

static void be_schedule_restart(struct hv *hv, struct be *be)
{
	struct dev *d = be->dev;
	uint64_t now = ev_now_ms(), delay;

	if (be->ready_ms && now - be->ready_ms >= BE_STABLE_MS)
		be->restarts = 0;
	be->ready_ms = 0;
	if (be->opt.max_restarts && be->restarts >= be->opt.max_restarts) {
		be->state = BE_GAVE_UP;
		log_err("%s%u: back-end failed %u times, giving up (restarts=%u; device broken; guest DEV_RESET retries)",
			dev_type_name(d->type), d->instance, be->restarts,
			be->opt.max_restarts);
		dev_event(hv, d, DEV_EV_BE_GIVEUP, "restart limit");
		return;
	}
	/*
	 * Otherwise for ever: the guest's I/O waits for the disk (as with
	 * multipath's queue_if_no_path) rather than lose it.
	 */
	delay = be->restarts < 6 ? 100ULL << be->restarts : BE_RESTART_MAX_MS;
	be->restarts++;
	be->state = BE_WAITING;
	be->deadline_ms = now + delay;
}

/* The back-end is gone (EOF, protocol error, timeout): clean up. */
static void be_died(struct hv *hv, struct be *be, const char *why)
{
	struct dev *d = be->dev;

	if (be->state == BE_DOWN || be->state == BE_WAITING ||
	    be->state == BE_GAVE_UP)
		return;
	if (!d->released)
		log_warn("%s%u: back-end (pid %d) lost: %s",
			 dev_type_name(d->type), d->instance, (int)be->pid, why);
	be_close(hv, be);
	if (be->pid > 0)
		kill(be->pid, SIGKILL);	/* reaped through SIGCHLD */
	be->stats_pending = false;
	/* a reset after a ring fault becomes this restart */
	dev_fault_cancel(d);
	/* a DISCONNECT waiting for the drain is over: nothing is in flight */
	dev_stopped(hv, d);
	dev_event(hv, d, DEV_EV_BE_DIED, why);
	be->state = BE_DOWN;
	if (hv->stopping || d->released)
		return;
	if (d->hot_added && !d->offered) {
		/* a hot-add that never got READY failed: the client hears why */
		if (!d->why[0] || !strcmp(d->why, "removed"))
			snprintf(d->why, sizeof(d->why), "back-end: %s", why);
		d->removing = true;
		return;
	}
	if (d->removing) {
		/* nothing to drain: FREE once reaped (dev_tick()) */
		d->force_draining = false;
		d->server_dead = true;
		return;
	}
	be_schedule_restart(hv, be);
}

static void be_kill(struct hv *hv, struct be *be, const char *why)
{
	be_died(hv, be, why);
}

static bool be_ready_ok(struct be *be, const struct pvkit_be_ready *r,
			const char **why)
{
	const struct hv_kind *k = be->opt.kind;

	if (r->config_size > PVKIT_DEV_CONFIG_SIZE) {
		*why = "config_size > 128";
		return false;
	}
	if (r->features & ~k->features_known) {
		*why = "unknown feature bits";
		return false;
	}
	return !k->ready_ok || k->ready_ok(&be->opt, r->features, why);
}

static void be_on_ready(struct hv *hv, struct be *be,
			const struct pvkit_be_ready *r)
{
	struct dev *d = be->dev;
	const char *why = NULL;

	if (be->state != BE_STARTING) {
		be_kill(hv, be, "READY out of sequence");
		return;
	}
	if (!be_ready_ok(be, r, &why)) {
		be_kill(hv, be, why);
		return;
	}
	d->features = r->features;
	d->config_size = r->config_size;
	memset(d->config, 0, sizeof(d->config));
	memcpy(d->config, r->config, r->config_size);
	be->state = BE_READY;
	be->ready_ms = ev_now_ms();
	if (d->removing)
		return;		/* removed before it was ever offered */
	if (d->state == PVKIT_DEV_STATE_FREE)
		dev_event(hv, d, DEV_EV_HOT_ADD, "back-end ready");
	else
		dev_event(hv, d, DEV_EV_BE_READY, "back-end ready");
}

/*
 * ERROR.  A fatal one is only logged: the back-end exits next and its
 * death path restarts it.  A queue error means a ring stopped being
 * served while the process stays up: the device is reset (dev_fault():
 * drained with DISCONNECT, then offered again with a new epoch), and a
 * guest's ring index violation is counted.  The guest can cause those at
 * will, so dev_fault() rate-limits the logging.
 */
static void be_on_error(struct hv *hv, struct be *be,
			const struct pvkit_be_error *e)
{
	char msg[sizeof(e->msg) + 1];

	if (e->flags & ~(PVKIT_BE_ERR_QUEUE | PVKIT_BE_ERR_GUEST)) {
		be_kill(hv, be, "ERROR with unknown flags");
		return;
	}
	log_sanitize(msg, sizeof(msg), e->msg, sizeof(e->msg));
	if (!(e->flags & PVKIT_BE_ERR_QUEUE) || be->state != BE_READY) {
		log_err("%s%u: back-end error %d: %s",
			dev_type_name(be->dev->type), be->dev->instance,
			e->err, msg);
		/* a failing hot-add reports the back-end's own words */
		snprintf(be->dev->why, sizeof(be->dev->why), "%.120s", msg);
		return;
	}
	dev_fault(hv, be->dev, e->flags & PVKIT_BE_ERR_GUEST, msg);
}

/*
 * CONFIG: the back-end's device changed at run time (a link went down).
 * Published as a table change; what the kind does not let change, or a
 * CONFIG before READY, ends the conversation like any other violation.
 */
static void be_on_config(struct hv *hv, struct be *be,
			 const struct pvkit_be_config *c)
{
	const struct hv_kind *k = be->opt.kind;
	struct dev *d = be->dev;
	const char *why = "CONFIG for a device whose config is fixed";

	if (be->state != BE_READY) {
		be_kill(hv, be, "CONFIG before READY");
		return;
	}
	if (c->config_size != d->config_size) {
		be_kill(hv, be, "CONFIG of another size than READY's");
		return;
	}
	if (!k->config_ok ||
	    !k->config_ok(d->config, c->config, d->config_size, &why)) {
		be_kill(hv, be, why);
		return;
	}
	if (!memcmp(d->config, c->config, d->config_size))
		return;
	memcpy(d->config, c->config, d->config_size);
	log_info("%s%u: config changed by the back-end",
		 dev_type_name(d->type), d->instance);
	dev_publish(hv);
}

static void be_event(struct hv *hv, struct ev_src *src, uint32_t events)
{
	struct be *be = src->arg;
	union pvbe_msg m;
	unsigned int nfds, i;
	char why[96];
	int fds[FDPASS_MAX_FDS];
	ssize_t n;

	if (!(events & EPOLLIN)) {
		be_died(hv, be, "socket hang-up");
		return;
	}
	n = fdpass_recv(be->sock, &m, sizeof(m), fds, FDPASS_MAX_FDS, &nfds);
	if (n == -EAGAIN || n == -EINTR)
		return;
	if (n <= 0) {
		be_died(hv, be, n ? strerror((int)-n) : "exited");
		return;
	}
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	if (nfds) {
		be_kill(hv, be, "sent file descriptors");
		return;
	}
	if (pvbe_check(&m, n, 0, PVBE_TO_HV, why, sizeof(why))) {
		be_kill(hv, be, why);
		return;
	}
	switch (m.hdr.type) {
	case PVKIT_BE_READY:
		be_on_ready(hv, be, &m.ready);
		break;
	case PVKIT_BE_CONNECTED:
		log_debug("%s%u: back-end connected",
			  dev_type_name(be->dev->type), be->dev->instance);
		break;
	case PVKIT_BE_DISCONNECTED:
		dev_stopped(hv, be->dev);
		break;
	case PVKIT_BE_STATS:
		if (m.stats.nr_queues > PVKIT_BE_STAT_MAX_QUEUES) {
			be_kill(hv, be, "bad STATS");
			return;
		}
		be->stats = m.stats;
		be->have_stats = true;
		be->stats_pending = false;
		break;
	case PVKIT_BE_ERROR:
		be_on_error(hv, be, &m.error);
		break;
	case PVKIT_BE_CONFIG:
		be_on_config(hv, be, &m.config);
		break;
	}
}

static int be_spawn(struct hv *hv, struct be *be)
{
	struct dev *d = be->dev;
	struct pvkit_be_setup setup;
	int sv[2], fds[2 + 2 * PVKIT_MAX_QUEUES];
	unsigned int i, nfds = 0;
	pid_t pid, ppid = getpid();
	int ret;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		close(sv[0]);
		close(sv[1]);
		return ret;
	}
	if (!pid) {
		char *argv[] = { be->prog, "--hv", NULL };

		hv_child_init(ppid);
		/* dup2 clears close-on-exec on the copy */
		if (dup2(sv[1], PVKIT_BE_SOCK_FD) < 0)
			_exit(127);
		execv(be->prog, argv);
		fprintf(stderr, "pvkit-hv: cannot run %s: %s\n", be->prog,
			strerror(errno));
		_exit(127);
	}
	close(sv[1]);
	be->pid = pid;
	janitor_watch(&hv->janitor, pid);
	be->sock = sv[0];
	ret = ev_add(hv, &be->src, be->sock, EPOLLIN, be_event, be);
	if (ret)
		return ret;

	memset(&setup, 0, sizeof(setup));
	pvbe_hdr_init(&setup.hdr, PVKIT_BE_SETUP, PVBE_TO_BE);
	setup.dev_index = d->slot;
	setup.dev_type = d->type;
	setup.instance = d->instance;
	setup.nr_queues = d->nr_queues;
	setup.nr_mem_ranges = hv->gm.nr;
	setup.shm_size = hv->shm_size;
	setup.ram_size = hv->ram_size;
	for (i = 0; i < hv->gm.nr; i++) {
		setup.mem[i].gpa = htole64(hv->gm.r[i].gpa);
		setup.mem[i].size = htole64(hv->gm.r[i].size);
		setup.mem[i].file_offset = htole64(hv->gm.r[i].file_offset);
	}
	for (i = 0; i < d->nr_queues; i++) {
		setup.queues[i].ring_offset = d->q[i].ring_offset;
		setup.queues[i].ring_slots = d->q[i].slots;
		setup.queues[i].req_size = d->q[i].req_size;
		setup.queues[i].rsp_size = d->q[i].rsp_size;
	}
	/* the kind's parser wrote them in its back-end's syntax */
	if (strlen(be->opt.args) >= sizeof(setup.args))
		return -ENAMETOOLONG;
	strcpy(setup.args, be->opt.args);
	fds[nfds++] = hv->ram_fd;
	fds[nfds++] = hv->shm_fd;
	for (i = 0; i < d->nr_queues; i++)
		fds[nfds++] = hv->kick_fd[d->q[i].kick];
	for (i = 0; i < d->nr_queues; i++)
		fds[nfds++] = hv->irq_fd[d->q[i].vector];
	ret = be_send(be, &setup, sizeof(setup), fds, nfds);
	if (ret)
		return ret;
	be->state = BE_STARTING;
	be->deadline_ms = ev_now_ms() + BE_READY_TIMEOUT_MS;
	log_debug("%s%u: back-end %s started (pid %d)", dev_type_name(d->type),
		  d->instance, be->prog, (int)pid);
	return 0;
}

void be_start(struct hv *hv, struct be *be)
{
	int ret = be_spawn(hv, be);

	if (ret) {
		be->state = BE_STARTING;	/* so be_died() acts */
		be_died(hv, be, strerror(-ret));
	}
}

int be_start_all(struct hv *hv)
{
	unsigned int i;

	for (i = 0; i < PVKIT_MAX_DEVICES; i++) {
		struct dev *d = &hv->devs[i];

		if (d->used && d->be)
			be_start(hv, d->be);
	}
	return 0;
}

int be_all_ready(struct hv *hv)
{
	unsigned int i;
	int ret = 1;

	for (i = 0; i < PVKIT_MAX_DEVICES; i++) {
		struct dev *d = &hv->devs[i];

		if (!d->used || !d->be)
			continue;
		/* at startup a failure is fatal: no restarts, no guest yet */
		if (d->be->state == BE_WAITING || d->be->state == BE_GAVE_UP ||
		    d->be->state == BE_DOWN)
			return -EIO;
		if (d->be->state != BE_READY)
			ret = 0;
	}
	return ret;
}

void be_tick(struct hv *hv, uint64_t now_ms)
{
	unsigned int i;

	for (i = 0; i < PVKIT_MAX_DEVICES; i++) {
		struct dev *d = &hv->devs[i];
		struct be *be = d->be;

		if (!d->used || !be || now_ms < be->deadline_ms)
			continue;
		if (be->state == BE_STARTING) {
			be_kill(hv, be, "no READY in time");
		} else if (be->state == BE_WAITING && !hv->stopping &&
			   be->pid <= 0) {
			/*
			 * Only once the old process is reaped: until then its
			 * io_uring may still complete writes that a request
			 * resubmitted to the successor must not race.
			 */
			be->total_restarts++;
			log_info("%s%u: restarting back-end (attempt %u)",
				 dev_type_name(d->type), d->instance,
				 be->restarts);
			be_start(hv, be);
		}
	}
}

bool be_reaped(struct hv *hv, pid_t pid, int status)
{
	unsigned int i;

	for (i = 0; i < PVKIT_MAX_DEVICES; i++) {
		struct be *be = hv->devs[i].be;

		if (!hv->devs[i].used || !be || be->pid != pid)
			continue;
		be->pid = 0;
		if (WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL)
			log_warn("%s%u: back-end killed by signal %d",
				 dev_type_name(hv->devs[i].type),
				 hv->devs[i].instance, WTERMSIG(status));
		else if (WIFEXITED(status) && WEXITSTATUS(status))
			log_warn("%s%u: back-end exited with status %d",
				 dev_type_name(hv->devs[i].type),
				 hv->devs[i].instance, WEXITSTATUS(status));
		/* usually the socket EOF came first; if not, now */
		be_died(hv, be, "process exited");
		return true;
	}
	return false;
}

unsigned int be_stats_request(struct hv *hv)
{
	unsigned int i, n = 0;

	for (i = 0; i < PVKIT_MAX_DEVICES; i++) {
		struct be *be = hv->devs[i].be;

		if (!hv->devs[i].used || !be || be->state != BE_READY)
			continue;
		if (!be_send_simple(be, PVKIT_BE_STATS)) {
			be->stats_pending = true;
			n++;
		}
	}
	return n;
}

unsigned int be_stats_pending(const struct hv *hv)
{
	unsigned int i, n = 0;

	for (i = 0; i < PVKIT_MAX_DEVICES; i++) {
		const struct be *be = hv->devs[i].be;

		if (hv->devs[i].used && be && be->stats_pending)
			n++;
	}
	return n;
}

void be_shutdown_all(struct hv *hv)
{
	uint64_t deadline = ev_now_ms() + 1000;
	unsigned int i;
	bool alive;

	for (i = 0; i < PVKIT_MAX_DEVICES; i++) {
		struct be *be = hv->devs[i].be;

		if (!hv->devs[i].used || !be)
			continue;
		if (be->sock >= 0)
			be_send_simple(be, PVKIT_BE_SHUTDOWN);
		be_close(hv, be);
	}
	do {
		alive = false;
		for (i = 0; i < PVKIT_MAX_DEVICES; i++) {
			struct be *be = hv->devs[i].be;
			int status;

			if (!hv->devs[i].used || !be || be->pid <= 0)
				continue;
			if (waitpid(be->pid, &status, WNOHANG) == be->pid)
				be->pid = 0;
			else
				alive = true;
		}
		if (alive)
			usleep(10000);
	} while (alive && ev_now_ms() < deadline);
	for (i = 0; i < PVKIT_MAX_DEVICES; i++) {
		struct be *be = hv->devs[i].be;

		if (!hv->devs[i].used || !be)
			continue;
		if (be->pid > 0) {
			kill(be->pid, SIGKILL);
			waitpid(be->pid, NULL, 0);
			be->pid = 0;
		}
		free(be);
		hv->devs[i].be = NULL;
	}
}

/* ------------------------------------------------------------ dev_ops --- */

static bool be_dev_ready(struct hv *hv, struct dev *d)
{
	(void)hv;
	return d->be && d->be->state == BE_READY;
}

static int be_dev_connect(struct hv *hv, struct dev *d)
{
	struct pvkit_be_connect c;
	int ret;

	memset(&c, 0, sizeof(c));
	pvbe_hdr_init(&c.hdr, PVKIT_BE_CONNECT, PVBE_TO_BE);
	c.acked_features = d->acked;
	c.epoch = d->epoch;
	ret = be_send(d->be, &c, sizeof(c), NULL, 0);
	if (ret)
		be_kill(hv, d->be, "CONNECT not sent");
	return ret;
}

static int be_dev_disconnect(struct hv *hv, struct dev *d)
{
	int ret = be_send_simple(d->be, PVKIT_BE_DISCONNECT);

	if (ret) {
		be_kill(hv, d->be, "DISCONNECT not sent");
		return ret;
	}
	return 1;	/* completes on DISCONNECTED */
}

static void be_dev_retry(struct hv *hv, struct dev *d)
{
	struct be *be = d->be;

	if (be->state != BE_GAVE_UP)
		return;
	be->restarts = 0;
	be->state = BE_WAITING;
	be->deadline_ms = ev_now_ms();
	(void)hv;
}

static void be_dev_abort(struct hv *hv, struct dev *d)
{
	be_kill(hv, d->be, "aborted");
}

/* Removed: SHUTDOWN, and its death (or a kill, 1 s on) is final. */
static void be_dev_release(struct hv *hv, struct dev *d)
{
	struct be *be = d->be;

	if (be->sock >= 0)
		be_send_simple(be, PVKIT_BE_SHUTDOWN);
	be_close(hv, be);
	be->state = BE_DOWN;
	be->stats_pending = false;
	be->deadline_ms = ev_now_ms() + BE_SHUTDOWN_MS;
}

static bool be_dev_gone(struct hv *hv, struct dev *d)
{
	struct be *be = d->be;

	(void)hv;
	if (be->pid > 0 && ev_now_ms() >= be->deadline_ms) {
		log_warn("%s%u: back-end (pid %d) ignored SHUTDOWN, killing it",
			 dev_type_name(d->type), d->instance, (int)be->pid);
		kill(be->pid, SIGKILL);	/* reaped through SIGCHLD */
		be->deadline_ms = UINT64_MAX;
	}
	/* reaped: no write of it can land after its successor's */
	return be->pid <= 0;
}

static void be_dev_destroy(struct hv *hv, struct dev *d)
{
	(void)hv;
	free(d->be);
	d->be = NULL;
}

static const struct dev_ops be_dev_ops = {
	.name = "backend",
	.ready = be_dev_ready,
	.connect = be_dev_connect,
	.disconnect = be_dev_disconnect,
	.retry = be_dev_retry,
	.abort = be_dev_abort,
	.release = be_dev_release,
	.gone = be_dev_gone,
	.destroy = be_dev_destroy,
};
