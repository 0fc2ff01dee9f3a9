// SPDX-License-Identifier: GPL-2.0-only
/*
 * Control socket.  Clients are local (the socket lives in a 0700 run
 * directory) but still untrusted: lines are bounded, JSON is parsed
 * strictly, and a client that does not read its replies is dropped.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <pvkit-host/log.h>

#include "include/be.h"
#include "include/bln.h"
#include "include/clk.h"
#include "include/ctl.h"
#include "include/dev.h"
#include "include/hv.h"
#include "include/kind.h"
#include "include/qemu.h"

static const char *const hc_names[HC_NR_COUNTS] = {
	"get_version", "get_features", "ack_features", "echo", "log",
	"config_ack", "dev_ack_features", "dev_connect", "dev_disconnect",
	"dev_reset", "evtchn_send", "unknown",
};

static const char *ctl_vm_state(struct hv *hv)
{
	if (hv->stopping)
		return "stopping";
	if (!hv->qemu || hv->qemu->pid <= 0)
		return "starting";
	if (hv->qemu->exited)
		return "stopped";
	return hv->qemu->paused ? "paused" : "running";
}

static void ctl_error(struct jbuf *out, const char *msg)
{
	jb_obj_begin(out);
	jb_bool(out, "ok", false);
	jb_str(out, "error", msg);
	jb_obj_end(out);
}

static void ctl_list_info(struct hv *hv, struct jbuf *out)
{
	jb_obj_begin(out);
	jb_bool(out, "ok", true);
	jb_str(out, "name", hv->opt.name);
	jb_i64(out, "pid", getpid());
	jb_i64(out, "qemu_pid", hv->qemu ? hv->qemu->pid : 0);
	jb_str(out, "state", ctl_vm_state(hv));
	jb_u64(out, "mem", hv->ram_size);
	jb_u64(out, "cpus", hv->opt.cpus);
	jb_str(out, "machine", hv->opt.machine);
	jb_str(out, "accel", hv->qemu && hv->qemu->accel ? hv->qemu->accel : "");
	jb_u64(out, "uptime_ms", hv_uptime_ms(hv));
	jb_u64(out, "devices", hv->nr_devs);
	jb_u64(out, "shm_size", hv->shm_size);
	jb_str(out, "ram_file", hv->ram_path);
	jb_obj_end(out);
}

static void ctl_stat_queue(struct jbuf *out, const struct dev *d,
			   unsigned int i)
{
	const struct dev_queue *q = &d->q[i];
	const struct be *be = d->be;

	jb_key(out, NULL);
	jb_obj_begin(out);
	jb_u64(out, "index", i);
	jb_u64(out, "kick", q->kick);
	jb_u64(out, "vector", q->vector);
	jb_u64(out, "ring_offset", q->ring_offset);
	jb_u64(out, "slots", q->slots);
	if (!be) {
		jb_u64(out, "requests", q->reqs);
		jb_u64(out, "kicks", q->kicks);
		jb_u64(out, "irqs", q->irqs);
	} else if (be->have_stats && i < be->stats.nr_queues) {
		const struct pvkit_be_queue_stats *s = &be->stats.q[i];

		jb_u64(out, "requests", s->requests);
		jb_u64(out, "kicks", s->kicks);
		jb_u64(out, "irqs", s->irqs);
		jb_u64(out, "irqs_suppressed", s->irqs_suppressed);
		jb_u64(out, "errors", s->errors);
		jb_u64(out, "bytes", s->bytes);
	}
	jb_obj_end(out);
}

void ctl_stat_reply(struct hv *hv, struct jbuf *out)
{
	unsigned int i, j;
	char id[32];

	jb_obj_begin(out);
	jb_bool(out, "ok", true);
	jb_str(out, "name", hv->opt.name);
	jb_str(out, "state", ctl_vm_state(hv));
	jb_u64(out, "uptime_ms", hv_uptime_ms(hv));
	jb_u64(out, "generation", hv->generation);
	jb_u64(out, "config_acked", hv->config_acked);
	jb_u64(out, "features", hv->features[0]);
	jb_u64(out, "acked_features", hv->acked[0]);
	jb_key(out, "hypercalls");
	jb_obj_begin(out);
	for (i = 0; i < HC_NR_COUNTS; i++)
		jb_u64(out, hc_names[i], hv->hc_count[i]);
	jb_obj_end(out);
	jb_u64(out, "hypercall_kicks", hv->hc_kicks);
	jb_u64(out, "log_lines", hv->log_lines);
	jb_key(out, "irqs");
	jb_arr_begin(out);
	for (i = 0; i < hv->nr_vectors; i++)
		jb_u64(out, NULL, hv->irqs_raised[i]);
	jb_arr_end(out);
	jb_key(out, "devices");
	jb_arr_begin(out);
	for (i = 0; i < PVKIT_MAX_DEVICES; i++) {
		const struct dev *d = &hv->devs[i];

		if (!d->used)
			continue;
		jb_key(out, NULL);
		jb_obj_begin(out);
		jb_u64(out, "slot", d->slot);
		jb_str(out, "id", dev_id(d, id, sizeof(id)));
		jb_str(out, "type", dev_type_name(d->type));
		jb_u64(out, "instance", d->instance);
		jb_bool(out, "hot_added", d->hot_added);
		jb_bool(out, "removing", d->removing);
		jb_str(out, "state", dev_state_name(d->state));
		jb_u64(out, "epoch", d->epoch);
		jb_u64(out, "features", d->features);
		jb_u64(out, "acked_features", d->acked);
		jb_u64(out, "violations", d->violations);
		jb_u64(out, "fault_resets", d->fault_resets);
		if (d->be) {
			jb_key(out, "backend");
			jb_obj_begin(out);
			jb_i64(out, "pid", d->be->pid);
			jb_str(out, d->kind && d->kind->option ?
				    d->kind->option : "spec", d->be->opt.label);
			jb_u64(out, "restarts", d->be->total_restarts);
			jb_str(out, "state", be_state_name(d->be->state));
			jb_u64(out, "attempts", d->be->restarts);
			jb_u64(out, "max_restarts", d->be->opt.max_restarts);
			if (d->be->state == BE_WAITING)
				jb_u64(out, "next_try_ms",
				       d->be->deadline_ms > ev_now_ms() ?
				       d->be->deadline_ms - ev_now_ms() : 0);
			jb_bool(out, "stats", d->be->have_stats);
			jb_obj_end(out);
		}
		jb_key(out, "queues");
		jb_arr_begin(out);
		for (j = 0; j < d->nr_queues; j++)
			ctl_stat_queue(out, d, j);
		jb_arr_end(out);
		jb_obj_end(out);
	}
	jb_arr_end(out);
	jb_obj_end(out);
}

/* No client to wait (tests): say the request is under way. */
static int ctl_pending(struct jbuf *out, const char *id)
{
	jb_obj_begin(out);
	jb_bool(out, "ok", true);
	jb_str(out, "id", id);
	jb_bool(out, "pending", true);
	jb_obj_end(out);
	return 0;
}

/* {"cmd":"dev-add","kind":"disk","spec":"PATH,ro"} */
static int ctl_dev_add(struct hv *hv, const struct json *req, struct jbuf *out,
		       struct ctl_client *c)
{
	const char *kname = json_get_str(req, "kind");
	const char *spec = json_get_str(req, "spec");
	const struct hv_kind *k = kname ? kind_by_option(kname) : NULL;
	struct hv_dev_opt o;
	char err[256], msg[320], id[32];
	struct dev *d;

	if (!kname || !spec) {
		ctl_error(out, "dev-add needs \"kind\" and \"spec\" strings");
		return 0;
	}
	if (!k || !k->option) {
		ctl_error(out, "unknown device kind (e.g. \"disk\")");
		return 0;
	}
	if (hv->stopping) {
		ctl_error(out, "the VM is stopping");
		return 0;
	}
	if (kind_parse(k, &o, spec, err, sizeof(err))) {
		snprintf(msg, sizeof(msg), "%s '%s': %s", k->option, spec, err);
		ctl_error(out, msg);
		return 0;
	}
	d = kind_hot_add(hv, &o, err, sizeof(err));
	if (!d) {
		snprintf(msg, sizeof(msg), "%s '%s': %s", k->option, spec, err);
		ctl_error(out, msg);
		return 0;
	}
	dev_id(d, id, sizeof(id));
	log_info("%s: hot-add of %s '%s' (slot %u)", id, k->option, spec,
		 d->slot);
	if (!c)
		return ctl_pending(out, id);
	c->serial = d->serial;
	strcpy(c->id, id);
	c->deadline_ms = ev_now_ms() + BE_READY_TIMEOUT_MS +
			 CTL_DEV_WAIT_SLACK_MS;
	return CTL_WAIT_ADD;
}

/* {"cmd":"dev-remove","id":"blk.1","grace":S} */
static int ctl_dev_remove(struct hv *hv, const struct json *req,
			  struct jbuf *out, struct ctl_client *c)
{
	const char *id = json_get_str(req, "id");
	double grace = json_get_num(req, "grace", CTL_REMOVE_GRACE_S);
	struct dev *d = id ? dev_by_id(hv, id) : NULL;

	if (!id) {
		ctl_error(out, "dev-remove needs an \"id\" (e.g. \"blk.1\")");
		return 0;
	}
	if (grace < 0 || grace > 3600) {
		ctl_error(out, "\"grace\" must be 0..3600 seconds");
		return 0;
	}
	if (!d || !d->kind || !d->kind->hotplug) {
		ctl_error(out, d ? "this device cannot be removed" :
			  "no such device (see pvkit stat)");
		return 0;
	}
	if (dev_hot_remove(hv, d, (uint64_t)(grace * 1000))) {
		ctl_error(out, "already being removed");
		return 0;
	}
	log_info("%s: hot-remove, grace %.0f s", id, grace);
	if (!c)
		return ctl_pending(out, id);
	c->serial = d->serial;
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->deadline_ms = ev_now_ms() + (uint64_t)(grace * 1000) +
			 2 * DEV_STOP_TIMEOUT_MS + BE_SHUTDOWN_MS +
			 CTL_DEV_WAIT_SLACK_MS;
	return CTL_WAIT_REMOVE;
}

/*
 * {"cmd":"balloon"[,"target":BYTES][,"stats":true]}: set the target
 * (a multiple of 4 KiB, at most the guest's RAM) and/or ask the guest for
 * fresh stats; the reply has the balloon as it is now.
 */
static void ctl_balloon(struct hv *hv, const struct json *req,
			struct jbuf *out)
{
	struct dev *d = bln_find(hv);
	double t = json_get_num(req, "target", -1);
	const struct json *st = json_get(req, "stats");

	if (!d) {
		ctl_error(out, "this VM has no balloon (pvkit-hv --balloon on)");
		return;
	}
	if (json_get(req, "target")) {
		if (t < 0 || t > (double)(1ULL << 52) || t != (double)(uint64_t)t ||
		    ((uint64_t)t & 4095)) {
			ctl_error(out, "\"target\" must be a byte count, a multiple of 4096");
			return;
		}
		if (bln_set_target(hv, d, (uint64_t)t >> 12)) {
			ctl_error(out, "\"target\" is larger than the guest's RAM");
			return;
		}
	}
	if (st && st->type == JSON_BOOL && st->b)
		bln_ask_stats(hv, d);
	jb_obj_begin(out);
	jb_bool(out, "ok", true);
	jb_key(out, "balloon");
	jb_obj_begin(out);
	bln_json(hv, d, out);
	jb_obj_end(out);
	jb_obj_end(out);
}

/* {"cmd":"clock"}: the clock device as it is now. */
static void ctl_clock(struct hv *hv, struct jbuf *out)
{
	struct dev *d = clk_find(hv);

	if (!d) {
		ctl_error(out, "this VM has no clock device (pvkit-hv --clock on)");
		return;
	}
	jb_obj_begin(out);
	jb_bool(out, "ok", true);
	jb_key(out, "clock");
	jb_obj_begin(out);
	clk_json(hv, d, out);
	jb_obj_end(out);
	jb_obj_end(out);
}

#define CTL_QMP_TIMEOUT_MS	2000

/*
 * {"cmd":"pause"} / {"cmd":"resume"}: QMP stop / cont.  Only a resume of
 * vCPUs that really were stopped is a jump of guest time against host
 * time: the clock device's generation goes up then, never otherwise.
 */
static void ctl_pause(struct hv *hv, bool resume, struct jbuf *out)
{
	struct qemu *q = hv->qemu;
	char msg[160];
	int running, ret;

	if (!q || q->pid <= 0 || q->exited || hv->stopping) {
		ctl_error(out, "QEMU is not running");
		return;
	}
	running = qmp_query_running(q->qmp_path, CTL_QMP_TIMEOUT_MS);
	if (running < 0) {
		snprintf(msg, sizeof(msg), "QMP query-status: %s",
			 strerror(-running));
		ctl_error(out, msg);
		return;
	}
	if (running == !resume) {
		ret = qmp_command(q->qmp_path, resume ? "cont" : "stop", NULL,
				  0, CTL_QMP_TIMEOUT_MS);
		if (ret) {
			snprintf(msg, sizeof(msg), "QMP %s: %s",
				 resume ? "cont" : "stop", strerror(-ret));
			ctl_error(out, msg);
			return;
		}
		log_info("%s", resume ? "resumed" : "paused");
		if (resume)
			clk_time_jumped(hv, "resumed");
	}
	q->paused = !resume;
	jb_obj_begin(out);
	jb_bool(out, "ok", true);
	jb_str(out, "name", hv->opt.name);
	jb_str(out, "state", resume ? "running" : "paused");
	jb_bool(out, "changed", running == !resume);
	jb_obj_end(out);
}

/* Has what client @c waits for happened?  Then the reply is in @out. */
static bool ctl_dev_done(struct hv *hv, struct ctl_client *c, uint64_t now_ms,
			 struct jbuf *out)
{
	struct dev *d = dev_by_serial(hv, c->serial);
	const char *why = NULL;
	char msg[200];
	bool failed = false;
	unsigned int i;

	if (d && c->wait == CTL_WAIT_ADD && d->offered && !d->removing) {
		jb_obj_begin(out);
		jb_bool(out, "ok", true);
		jb_str(out, "id", c->id);
		jb_u64(out, "slot", d->slot);
		jb_obj_end(out);
		return true;
	}
	if (d && now_ms < c->deadline_ms)
		return false;
	if (d) {
		snprintf(msg, sizeof(msg), "%s: no answer in time (state %s)",
			 c->id, dev_state_name(d->state));
		ctl_error(out, msg);
		return true;
	}
	for (i = 0; i < HV_GONE_MAX; i++) {
		if (hv->gone[i].serial == c->serial) {
			why = hv->gone[i].why;
			failed = hv->gone[i].failed;
		}
	}
	if (c->wait == CTL_WAIT_ADD || failed) {
		snprintf(msg, sizeof(msg), "%s: hot-add failed: %s", c->id,
			 why && *why ? why : "back-end gone");
		ctl_error(out, msg);
		return true;
	}
	jb_obj_begin(out);
	jb_bool(out, "ok", true);
	jb_str(out, "id", c->id);
	jb_str(out, "removed", why && !strncmp(why, "forced", 6) ?
	       "forced" : "released");
	jb_obj_end(out);
	return true;
}

int ctl_handle(struct hv *hv, const char *line, size_t len, struct jbuf *out,
	       struct ctl_client *c)
{
	struct json *req = NULL;
	const char *cmd;
	int ret = 0;

	if (json_parse(line, len, &req) || req->type != JSON_OBJ) {
		ctl_error(out, "malformed request: expected a JSON object");
		goto out;
	}
	cmd = json_get_str(req, "cmd");
	if (!cmd) {
		ctl_error(out, "missing \"cmd\"");
	} else if (!strcmp(cmd, "list-info")) {
		ctl_list_info(hv, out);
	} else if (!strcmp(cmd, "stat")) {
		if (be_stats_request(hv))
			ret = CTL_WAIT_STATS;
		else
			ctl_stat_reply(hv, out);
	} else if (!strcmp(cmd, "dev-add")) {
		ret = ctl_dev_add(hv, req, out, c);
	} else if (!strcmp(cmd, "dev-remove")) {
		ret = ctl_dev_remove(hv, req, out, c);
	} else if (!strcmp(cmd, "balloon")) {
		ctl_balloon(hv, req, out);
	} else if (!strcmp(cmd, "clock")) {
		ctl_clock(hv, out);
	} else if (!strcmp(cmd, "pause")) {
		ctl_pause(hv, false, out);
	} else if (!strcmp(cmd, "resume")) {
		ctl_pause(hv, true, out);
	} else if (!strcmp(cmd, "stop")) {
		double grace = json_get_num(req, "grace", -1);

		if (json_get(req, "grace") && (grace < 0 || grace > 3600)) {
			ctl_error(out, "\"grace\" must be 0..3600 seconds");
			goto out;
		}
		if (grace >= 0)
			hv->opt.grace = (unsigned int)grace;
		if (!hv->qemu || hv->qemu->pid <= 0 || hv->qemu->exited) {
			hv->stopping = true;
			hv->quit = true;
			if (hv->exit_code < 0)
				hv->exit_code = 3;
			ctl_error(out, "QEMU is not running");
			goto out;
		}
		hv->stopping = true;
		if (hv->exit_code < 0)
			hv->exit_code = 3;
		qemu_stop_begin(hv, hv->qemu, true);
		ret = CTL_WAIT_STOP;
	} else {
		ctl_error(out, "unknown command");
	}
out:
	json_free(req);
	return ret;
}

static void ctl_drop(struct hv *hv, struct ctl_client *c)
{
	if (!c->used)
		return;
	ev_del(hv, &c->src);
	close(c->fd);
	c->used = false;
	c->fd = -1;
	c->wait = CTL_WAIT_NONE;
}

static void ctl_send(struct hv *hv, struct ctl_client *c, struct jbuf *jb)
{
	ssize_t n;

	if (jb->err) {
		jb_free(jb);
		jb_init(jb);
		ctl_error(jb, "out of memory");
	}
	jb_raw(jb, "\n");
	/* one reply fits the socket buffer; a client that does not read goes */
	n = jb->buf ? send(c->fd, jb->buf, jb->len, MSG_DONTWAIT | MSG_NOSIGNAL)
		    : -1;
	if (n != (ssize_t)jb->len)
		ctl_drop(hv, c);
}

static void ctl_line(struct hv *hv, struct ctl_client *c, const char *line,
		     size_t len)
{
	struct ctl *ctl = hv->ctl;
	struct jbuf jb;
	int ret;

	jb_init(&jb);
	ctl->requests++;
	ret = ctl_handle(hv, line, len, &jb, c);
	if (ret) {
		c->wait = (enum ctl_wait)ret;
		if (ret == CTL_WAIT_STATS || ret == CTL_WAIT_STOP)
			c->deadline_ms = ev_now_ms() + CTL_STATS_WAIT_MS;
	} else {
		if (strstr(jb.buf ? jb.buf : "", "\"ok\":false"))
			ctl->bad_requests++;
		ctl_send(hv, c, &jb);
	}
	jb_free(&jb);
}

static void ctl_client_event(struct hv *hv, struct ev_src *src,
			     uint32_t events)
{
	struct ctl_client *c = src->arg;
	char *nl;
	ssize_t n;

	(void)events;
	n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		ctl_drop(hv, c);
		return;
	}
	c->len += (size_t)n;
	/* one request at a time: lines after a deferred one wait */
	while (c->used && c->wait == CTL_WAIT_NONE &&
	       (nl = memchr(c->buf, '\n', c->len))) {
		size_t line = (size_t)(nl - c->buf);

		ctl_line(hv, c, c->buf, line);
		if (!c->used)
			return;
		memmove(c->buf, nl + 1, c->len - line - 1);
		c->len -= line + 1;
	}
	if (c->used && c->len == sizeof(c->buf)) {
		struct jbuf jb;

		jb_init(&jb);
		ctl_error(&jb, "request line too long");
		ctl_send(hv, c, &jb);
		jb_free(&jb);
		ctl_drop(hv, c);
	}
}

static void ctl_accept(struct hv *hv, struct ev_src *src, uint32_t events)
{
	struct ctl *ctl = src->arg;
	unsigned int i;
	int fd;

	(void)events;
	fd = accept4(ctl->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	for (i = 0; i < CTL_MAX_CLIENTS; i++) {
		struct ctl_client *c = &ctl->c[i];

		if (c->used)
			continue;
		memset(c, 0, sizeof(*c));
		c->fd = fd;
		if (ev_add(hv, &c->src, fd, EPOLLIN, ctl_client_event, c))
			break;
		c->used = true;
		return;
	}
	close(fd);	/* too many clients */
}

int ctl_init(struct hv *hv, struct ctl *ctl, const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int ret;

	memset(ctl, 0, sizeof(*ctl));
	ctl->listen_fd = -1;
	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	strcpy(ctl->path, path);
	ctl->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
				SOCK_NONBLOCK, 0);
	if (ctl->listen_fd < 0)
		return -errno;
	unlink(path);
	if (bind(ctl->listen_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(ctl->listen_fd, 16) < 0) {
		ret = -errno;
		close(ctl->listen_fd);
		ctl->listen_fd = -1;
		return ret;
	}
	hv->ctl = ctl;
	return ev_add(hv, &ctl->lsrc, ctl->listen_fd, EPOLLIN, ctl_accept, ctl);
}

void ctl_exit(struct hv *hv, struct ctl *ctl)
{
	unsigned int i;

	for (i = 0; i < CTL_MAX_CLIENTS; i++)
		ctl_drop(hv, &ctl->c[i]);
	if (ctl->listen_fd >= 0) {
		ev_del(hv, &ctl->lsrc);
		close(ctl->listen_fd);
		ctl->listen_fd = -1;
		unlink(ctl->path);
	}
}

void ctl_tick(struct hv *hv, uint64_t now_ms)
{
	struct ctl *ctl = hv->ctl;
	bool done = !be_stats_pending(hv);
	unsigned int i;

	if (!ctl)
		return;
	for (i = 0; i < CTL_MAX_CLIENTS; i++) {
		struct ctl_client *c = &ctl->c[i];
		struct jbuf jb;

		if (c->used && (c->wait == CTL_WAIT_ADD ||
				c->wait == CTL_WAIT_REMOVE)) {
			jb_init(&jb);
			if (ctl_dev_done(hv, c, now_ms, &jb)) {
				c->wait = CTL_WAIT_NONE;
				ctl_send(hv, c, &jb);
			}
			jb_free(&jb);
			continue;
		}
		if (!c->used || c->wait != CTL_WAIT_STATS ||
		    (!done && now_ms < c->deadline_ms))
			continue;
		jb_init(&jb);
		ctl_stat_reply(hv, &jb);
		c->wait = CTL_WAIT_NONE;
		ctl_send(hv, c, &jb);
		jb_free(&jb);
	}
}

void ctl_stop_done(struct hv *hv, const char *how)
{
	struct ctl *ctl = hv->ctl;
	unsigned int i;

	if (!ctl)
		return;
	for (i = 0; i < CTL_MAX_CLIENTS; i++) {
		struct ctl_client *c = &ctl->c[i];
		struct jbuf jb;

		if (!c->used || c->wait != CTL_WAIT_STOP)
			continue;
		jb_init(&jb);
		jb_obj_begin(&jb);
		jb_bool(&jb, "ok", true);
		jb_str(&jb, "name", hv->opt.name);
		jb_str(&jb, "stopped", how);
		jb_obj_end(&jb);
		c->wait = CTL_WAIT_NONE;
		ctl_send(hv, c, &jb);
		jb_free(&jb);
	}
}
