// SPDX-License-Identifier: GPL-2.0-only
/*
 * The device-kind table: one row per device type (include/kind.h), and
 * the generic code that sizes, creates and hot-adds devices from it.
 *
 * Adding a device type: its row (with an option parser when it has a
 * command-line option) in hv_kinds[] below.  Back-end devices need
 * nothing else in pvkit-hv; in-process ones bring their file and point
 * .create at it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <pvkit/balloon.h>
#include <pvkit/blk.h>
#include <pvkit/clock.h>
#include <pvkit/net.h>
#include <pvkit/ring.h>

#include "include/be.h"
#include "include/bln.h"
#include "include/clk.h"
#include "include/dev.h"
#include "include/hv.h"
#include "include/kind.h"

#define KIND_PAGE_ALIGN(x) (((x) + PVKIT_PAGE_SIZE - 1) & \
			    ~(uint64_t)(PVKIT_PAGE_SIZE - 1))

/* ------------------------------------------------------ test device --- */

static unsigned int test_nr_queues(const struct hv_dev_opt *o,
				   unsigned int cpus)
{
	(void)o;
	(void)cpus;
	return 1;
}

static struct hv_geom test_geom(const struct hv_dev_opt *o, unsigned int q)
{
	(void)o;
	(void)q;
	return (struct hv_geom){ HV_TEST_SLOTS, HV_TEST_MSG_SIZE,
				 HV_TEST_MSG_SIZE };
}

static int test_create(struct hv *hv, const struct hv_dev_opt *o)
{
	(void)o;
	return tdev_create(hv);
}

static const struct hv_kind kind_test = {
	.type = PVKIT_DEV_TEST,
	.name = "test",
	.max_instances = 1,
	.nr_queues = test_nr_queues,
	.geom = test_geom,
	.create = test_create,
};

/* ------------------------------------------------------------ block --- */

#define BLK_SLOTS	256
#define BLK_PATH_MAX	400	/* fits the SETUP args with every option */

/* pvkit-blkback's option syntax: backends/blk/opts.c */
static int blk_parse(struct hv_dev_opt *o, const char *spec, char *err,
		     size_t errlen)
{
	char buf[HV_SPEC_MAX], path[BLK_PATH_MAX] = "", *tok, *rest = buf;
	unsigned int poll_us = 0;
	bool first = true;
	int n;

	if (strlen(spec) >= sizeof(buf)) {
		snprintf(err, errlen, "longer than %zu bytes", sizeof(buf) - 1);
		return -EINVAL;
	}
	strcpy(buf, spec);
	/* strsep, not strtok: "a.img,,ro" and "a.img," are typos to refuse */
	while ((tok = strsep(&rest, ","))) {
		if (!*tok) {
			snprintf(err, errlen, "empty option");
			return -EINVAL;
		}
		if (first) {
			if (strlen(tok) >= sizeof(path)) {
				snprintf(err, errlen, "path longer than %zu bytes",
					 sizeof(path) - 1);
				return -EINVAL;
			}
			strcpy(path, tok);
			first = false;
		} else if (!strcmp(tok, "ro")) {
			o->ro = true;
		} else if (!strncmp(tok, "queues=", 7)) {
			if (opts_uint(tok + 7, 1, 64, &o->queues))
				goto syntax;
		} else if (!strncmp(tok, "poll=", 5)) {
			if (opts_uint(tok + 5, 0, 1000000, &poll_us))
				goto syntax;
		} else if (!strncmp(tok, "restarts=", 9)) {
			/* pvkit-hv's, not the back-end's: fail-fast */
			if (opts_uint(tok + 9, 0, 1000, &o->max_restarts))
				goto syntax;
		} else {
			goto syntax;
		}
	}
	if (access(path, o->ro ? R_OK : R_OK | W_OK)) {
		snprintf(err, errlen, "cannot access %s: %s", path,
			 strerror(errno));
		return -EINVAL;
	}
	snprintf(o->label, sizeof(o->label), "%s", spec);
	n = snprintf(o->args, sizeof(o->args), "path=%s%s", path,
		     o->ro ? ",ro" : "");
	if (poll_us && n > 0 && (size_t)n < sizeof(o->args))
		snprintf(o->args + n, sizeof(o->args) - (size_t)n, ",poll=%u",
			 poll_us);
	return 0;
syntax:
	snprintf(err, errlen, "expected PATH[,ro][,queues=1..64][,poll=US][,restarts=N]");
	return -EINVAL;
}

/* One queue per vCPU unless fewer were asked for. */
static unsigned int blk_nr_queues(const struct hv_dev_opt *o,
				  unsigned int cpus)
{
	return o->queues && o->queues < cpus ? o->queues : cpus;
}

static struct hv_geom blk_geom(const struct hv_dev_opt *o, unsigned int q)
{
	(void)o;
	(void)q;
	return (struct hv_geom){ BLK_SLOTS, sizeof(struct pvkit_blk_req),
				 sizeof(struct pvkit_blk_rsp) };
}

static bool blk_ready_ok(const struct hv_dev_opt *o, uint64_t features,
			 const char **why)
{
	if (o->ro && !(features & PVKIT_BLK_F_RO)) {
		*why = "read-only disk offered writable";
		return false;
	}
	return true;
}

static const struct hv_kind kind_blk = {
	.type = PVKIT_DEV_BLK,
	.name = "blk",
	.option = "disk",
	.usage = "PATH[,ro][,queues=N][,poll=US][,restarts=N]",
	.help = "block device served by pvkit-blkback",
	.prog = "pvkit-blkback",
	.prog_env = "PVKIT_BLKBACK",
	.hotplug = true,
	.max_instances = HV_MAX_DEVS + PVKIT_MAX_DEVICES,
	.features_known = PVKIT_BLK_F_KNOWN,
	.parse = blk_parse,
	.nr_queues = blk_nr_queues,
	.geom = blk_geom,
	.ready_ok = blk_ready_ok,
};

/* ---------------------------------------------------------- network --- */

#define NET_RXTX_SLOTS	256
#define NET_CTRL_SLOTS	64

/*
 * tap=NAME[,queues=N] or xdp=IFNAME[,queue=Q][,attach=native|generic]
 * (one of them, once), then
 * [,poll=US][,mac=MAC][,mtu=N][,restarts=N]: backends/net/opts.c.  An
 * AF_XDP port serves one queue pair.
 */
static int net_parse(struct hv_dev_opt *o, const char *spec, char *err,
		     size_t errlen)
{
	char buf[HV_SPEC_MAX], *tok, *rest = buf;
	unsigned int v;
	int port = 0;		/* 't' tap=, 'x' xdp= */
	bool has_xdp_opt = false;	/* queue=, attach= */
	size_t n = 0;

	if (strlen(spec) >= sizeof(buf)) {
		snprintf(err, errlen, "longer than %zu bytes", sizeof(buf) - 1);
		return -EINVAL;
	}
	strcpy(buf, spec);
	o->args[0] = '\0';
	/* strsep, not strtok: "tap=t0,,mtu=9000" is a typo to refuse */
	while ((tok = strsep(&rest, ","))) {
		if (!*tok) {
			snprintf(err, errlen, "empty option");
			return -EINVAL;
		}
		if (!strncmp(tok, "queues=", 7)) {
			/* pairs: pvkit-hv's (queue count), not in the args */
			if (opts_uint(tok + 7, 1, PVKIT_NET_MAX_PAIRS,
				      &o->queues))
				goto syntax;
			continue;
		}
		if (!strncmp(tok, "restarts=", 9)) {
			if (opts_uint(tok + 9, 0, 1000, &o->max_restarts))
				goto syntax;
			continue;
		}
		if ((!strncmp(tok, "tap=", 4) || !strncmp(tok, "xdp=", 4)) &&
		    tok[4]) {
			if (port) {
				snprintf(err, errlen, "one of tap= and xdp=, once");
				return -EINVAL;
			}
			port = tok[0];
		} else if (!strncmp(tok, "queue=", 6)) {
			if (opts_uint(tok + 6, 0, 255, &v))
				goto syntax;
			has_xdp_opt = true;
		} else if (!strncmp(tok, "attach=", 7)) {
			if (strcmp(tok + 7, "native") &&
			    strcmp(tok + 7, "generic"))
				goto syntax;
			has_xdp_opt = true;
		} else if (!strncmp(tok, "poll=", 5)) {
			if (opts_uint(tok + 5, 0, 1000000, &v))
				goto syntax;
		} else if (!strncmp(tok, "mtu=", 4)) {
			if (opts_uint(tok + 4, PVKIT_NET_MIN_MTU,
				      PVKIT_NET_MAX_MTU, &v))
				goto syntax;
		} else if (strncmp(tok, "mac=", 4)) {
			goto syntax;
		}
		/* the back-end checks names and MACs in detail */
		n += (size_t)snprintf(o->args + n, sizeof(o->args) - n, "%s%s",
				      n ? "," : "", tok);
		if (n >= sizeof(o->args))
			goto syntax;
	}
	if (!port)
		goto syntax;
	if (port == 'x' && o->queues > 1) {
		snprintf(err, errlen, "xdp= serves one queue pair (queues=%u)",
			 o->queues);
		return -EINVAL;
	}
	if (port == 't' && has_xdp_opt) {
		snprintf(err, errlen, "queue= and attach= are xdp= options");
		return -EINVAL;
	}
	snprintf(o->label, sizeof(o->label), "%s", spec);
	return 0;
syntax:
	snprintf(err, errlen, "expected tap=NAME[,queues=1..%d] or xdp=IFNAME[,queue=0..255][,attach=native|generic], then [,poll=US][,mac=XX:XX:XX:XX:XX:XX][,mtu=N][,restarts=N]",
		 PVKIT_NET_MAX_PAIRS);
	return -EINVAL;
}

/* rx and tx of each pair (default 1), then the control queue. */
static unsigned int net_nr_queues(const struct hv_dev_opt *o,
				  unsigned int cpus)
{
	(void)cpus;
	return 2 * (o->queues ? o->queues : 1) + 1;
}

static struct hv_geom net_geom(const struct hv_dev_opt *o, unsigned int q)
{
	if (q == net_nr_queues(o, 1) - 1)
		return (struct hv_geom){ NET_CTRL_SLOTS,
					 sizeof(struct pvkit_net_ctrl_req),
					 sizeof(struct pvkit_net_ctrl_rsp) };
	if (q & 1)
		return (struct hv_geom){ NET_RXTX_SLOTS,
					 sizeof(struct pvkit_net_tx_req),
					 sizeof(struct pvkit_net_tx_rsp) };
	return (struct hv_geom){ NET_RXTX_SLOTS,
				 sizeof(struct pvkit_net_rx_req),
				 sizeof(struct pvkit_net_rx_rsp) };
}

/* Segmentation offloads need the checksum offload of their direction. */
static bool net_ack_ok(uint64_t acked)
{
	if ((acked & PVKIT_NET_F_HOST_GSO) && !(acked & PVKIT_NET_F_CSUM))
		return false;
	return !(acked & PVKIT_NET_F_GUEST_GSO) ||
	       (acked & PVKIT_NET_F_GUEST_CSUM);
}

/* Only the link status changes at run time (a TAP going down). */
static bool net_config_ok(const uint8_t *old, const uint8_t *new, size_t size,
			  const char **why)
{
	const size_t st = offsetof(struct pvkit_net_config, status);
	struct pvkit_net_config c;

	if (size < st + sizeof(c.status) || memcmp(old, new, st) ||
	    memcmp(old + st + sizeof(c.status), new + st + sizeof(c.status),
		   size - st - sizeof(c.status))) {
		*why = "CONFIG changes more than the link status";
		return false;
	}
	memcpy(&c.status, new + st, sizeof(c.status));
	if (le16toh(c.status) & ~PVKIT_NET_S_LINK_UP) {
		*why = "CONFIG with unknown status bits";
		return false;
	}
	return true;
}

static const struct hv_kind kind_net = {
	.type = PVKIT_DEV_NET,
	.name = "net",
	.option = "net",
	.usage = "tap=NAME[,queues=N]|xdp=IFNAME[,queue=Q][,attach=native|generic][,poll=US][,mac=MAC][,mtu=N][,restarts=N]",
	.help = "network device on a TAP or AF_XDP, served by pvkit-netback",
	.prog = "pvkit-netback",
	.prog_env = "PVKIT_NETBACK",
	/* not yet: its tx rings would double the --hotplug reserve per queue */
	.hotplug = false,
	.max_instances = HV_MAX_DEVS + PVKIT_MAX_DEVICES,
	.features_known = PVKIT_NET_F_KNOWN,
	.parse = net_parse,
	.nr_queues = net_nr_queues,
	.geom = net_geom,
	.ack_ok = net_ack_ok,
	.config_ok = net_config_ok,
};

/* ---------------------------------------------------------- balloon --- */

static int balloon_parse(struct hv_dev_opt *o, const char *spec, char *err,
			 size_t errlen)
{
	struct bln_opts bo;
	int ret = bln_opts_parse(spec, &bo, err, errlen);

	if (!ret)
		snprintf(o->label, sizeof(o->label), "%s", spec);
	return ret;
}

static unsigned int balloon_nr_queues(const struct hv_dev_opt *o,
				      unsigned int cpus)
{
	(void)o;
	(void)cpus;
	return PVKIT_BALLOON_NR_QUEUES;
}

static struct hv_geom balloon_geom(const struct hv_dev_opt *o, unsigned int q)
{
	(void)o;
	return bln_queue_geom(q);
}

static const struct hv_kind kind_balloon = {
	.type = PVKIT_DEV_BALLOON,
	.name = "balloon",
	.option = "balloon",
	.usage = "on|target=SIZE[,granule=4k|2m][,huge=off][,stats=off][,reporting=off][,deflate-on-oom=off]",
	.help = "memory balloon served by pvkit-hv",
	.max_instances = 1,
	.features_known = PVKIT_BALLOON_F_KNOWN,
	.parse = balloon_parse,
	.nr_queues = balloon_nr_queues,
	.geom = balloon_geom,
	.create = bln_create,
};

/* ------------------------------------------------------------ clock --- */

static int clock_parse(struct hv_dev_opt *o, const char *spec, char *err,
		       size_t errlen)
{
	struct clk_opts co;
	int ret = clk_opts_parse(spec, &co, err, errlen);

	if (!ret)
		snprintf(o->label, sizeof(o->label), "%s", spec);
	return ret;
}

static unsigned int clock_nr_queues(const struct hv_dev_opt *o,
				    unsigned int cpus)
{
	(void)o;
	(void)cpus;
	return PVKIT_CLOCK_NR_QUEUES;
}

static struct hv_geom clock_geom(const struct hv_dev_opt *o, unsigned int q)
{
	(void)o;
	return clk_queue_geom(q);
}

static const struct hv_kind kind_clock = {
	.type = PVKIT_DEV_CLOCK,
	.name = "clock",
	.option = "clock",
	.usage = "on|off[,steal=off][,rate=N][,window-us=U][,xchg=N]",
	.help = "paravirt clock (timestamp exchanges, steal time) served by pvkit-hv",
	.max_instances = 1,
	.features_known = PVKIT_CLOCK_F_KNOWN,
	.parse = clock_parse,
	.nr_queues = clock_nr_queues,
	.geom = clock_geom,
	.create = clk_create,
};

/* ------------------------------------------------------------ table --- */

const struct hv_kind *const hv_kinds[] = {
	&kind_test,
	&kind_blk,
	&kind_net,
	&kind_balloon,
	&kind_clock,
	NULL,
};

const struct hv_kind *kind_by_option(const char *option)
{
	unsigned int i;

	for (i = 0; hv_kinds[i]; i++)
		if ((hv_kinds[i]->option &&
		     !strcmp(hv_kinds[i]->option, option)) ||
		    !strcmp(hv_kinds[i]->name, option))
			return hv_kinds[i];
	return NULL;
}

const struct hv_kind *kind_by_type(uint16_t type)
{
	unsigned int i;

	for (i = 0; hv_kinds[i]; i++)
		if (hv_kinds[i]->type == type)
			return hv_kinds[i];
	return NULL;
}

int kind_parse(const struct hv_kind *k, struct hv_dev_opt *o,
	       const char *spec, char *err, size_t errlen)
{
	memset(o, 0, sizeof(*o));
	o->kind = k;
	if (strlen(spec) >= sizeof(o->spec)) {
		snprintf(err, errlen, "longer than %zu bytes",
			 sizeof(o->spec) - 1);
		return -EINVAL;
	}
	strcpy(o->spec, spec);
	if (!k->parse) {
		snprintf(err, errlen, "%s devices take no options", k->name);
		return -EINVAL;
	}
	return k->parse(o, spec, err, errlen);
}

unsigned int kind_queues(const struct hv_dev_opt *o, unsigned int cpus)
{
	unsigned int q = o->kind->nr_queues(o, cpus ? cpus : 1);

	if (!q)
		q = 1;
	return q > PVKIT_MAX_QUEUES ? PVKIT_MAX_QUEUES : q;
}

uint64_t kind_ring_bytes(const struct hv_dev_opt *o, unsigned int cpus)
{
	unsigned int i, n = kind_queues(o, cpus);
	uint64_t bytes = 0;

	for (i = 0; i < n; i++) {
		struct hv_geom g = o->kind->geom(o, i);

		bytes += KIND_PAGE_ALIGN(pvkit_ring_bytes(g.slots, g.req_size,
							  g.rsp_size));
	}
	return bytes;
}

void kind_plan(const struct hv_opts *opt, struct hv_plan *p)
{
	struct hv_dev_opt test = { .kind = &kind_test };
	uint64_t per_queue = 0;
	unsigned int i;

	memset(p, 0, sizeof(*p));
	if (opt->testdev) {
		p->queues += kind_queues(&test, opt->cpus);
		p->ring_bytes += kind_ring_bytes(&test, opt->cpus);
	}
	for (i = 0; i < opt->nr_devs; i++) {
		p->queues += kind_queues(&opt->devs[i], opt->cpus);
		p->ring_bytes += kind_ring_bytes(&opt->devs[i], opt->cpus);
	}
	/* the reserve fits any hot-pluggable kind's largest queue */
	for (i = 0; hv_kinds[i]; i++) {
		struct hv_dev_opt any = { .kind = hv_kinds[i] };
		unsigned int q, n;

		if (!hv_kinds[i]->hotplug)
			continue;
		n = kind_queues(&any, PVKIT_MAX_QUEUES);
		for (q = 0; q < n; q++) {
			struct hv_geom g = hv_kinds[i]->geom(&any, q);
			uint64_t b = KIND_PAGE_ALIGN(pvkit_ring_bytes(g.slots,
						g.req_size, g.rsp_size));

			if (b > per_queue)
				per_queue = b;
		}
	}
	p->spare_queues = opt->hotplug;
	if (HV_FIRST_QUEUE_VEC + p->queues + p->spare_queues > PVKIT_MAX_VECTORS)
		p->spare_queues = HV_FIRST_QUEUE_VEC + p->queues >= PVKIT_MAX_VECTORS ?
				  0 : PVKIT_MAX_VECTORS - HV_FIRST_QUEUE_VEC -
				  p->queues;
	p->spare_bytes = p->spare_queues * per_queue;
}

/* The lowest instance number no device of @k uses. */
static int kind_instance(struct hv *hv, const struct hv_kind *k)
{
	unsigned int inst, i;

	for (inst = 0; inst < k->max_instances; inst++) {
		for (i = 0; i < PVKIT_MAX_DEVICES; i++)
			if (hv->devs[i].used && hv->devs[i].type == k->type &&
			    hv->devs[i].instance == inst)
				break;
		if (i == PVKIT_MAX_DEVICES)
			return (int)inst;
	}
	return -ENOSPC;
}

static struct dev *kind_create(struct hv *hv, const struct hv_dev_opt *o)
{
	const struct hv_kind *k = o->kind;
	struct hv_geom geom[PVKIT_MAX_QUEUES];
	unsigned int i, n = kind_queues(o, hv->opt.cpus);
	int inst = kind_instance(hv, k);
	struct dev *d;

	if (inst < 0) {
		errno = ENOSPC;
		return NULL;
	}
	for (i = 0; i < n; i++)
		geom[i] = k->geom(o, i);
	d = dev_create_geom(hv, k->type, (uint16_t)inst, n, geom, NULL);
	if (!d)
		return NULL;
	d->kind = k;
	if (be_create(hv, d, o)) {
		dev_destroy(hv, d);
		return NULL;
	}
	return d;
}

int kind_create_all(struct hv *hv)
{
	unsigned int i;
	int ret;

	if (hv->opt.testdev) {
		ret = kind_test.create(hv, NULL);
		if (ret)
			return ret;
	}
	for (i = 0; i < hv->opt.nr_devs; i++) {
		const struct hv_dev_opt *o = &hv->opt.devs[i];

		if (o->kind->create)
			ret = o->kind->create(hv, o);
		else
			ret = kind_create(hv, o) ? 0 : -errno;
		if (ret)
			return ret;
	}
	dev_publish(hv);
	return 0;
}

struct dev *kind_hot_add(struct hv *hv, const struct hv_dev_opt *o,
			 char *err, size_t errlen)
{
	struct dev *d;

	if (!o->kind->hotplug || !o->kind->prog) {
		snprintf(err, errlen, "%s devices cannot be hot-added",
			 o->kind->name);
		return NULL;
	}
	d = kind_create(hv, o);
	if (!d) {
		snprintf(err, errlen, "%s",
			 errno == ENOSPC || errno == EINVAL ?
			 "no room: every device slot, queue channel or the ring memory reserved by --hotplug is in use" :
			 strerror(errno));
		return NULL;
	}
	d->hot_added = true;
	be_start(hv, d->be);
	return d;
}
