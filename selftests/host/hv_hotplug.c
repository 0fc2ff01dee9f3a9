// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: hot-add and hot-remove in pvkit-hv (kinds.c, devtab.c,
 * backend.c, the ctl "dev-add"/"dev-remove" requests) with the real
 * pvkit-blkback: a disk added at run time is offered once its back-end
 * is READY; removal of a device the guest does not use is immediate, of
 * a connected one waits for the guest's DEV_DISCONNECT or, after the
 * grace, drains the back-end itself; the back-end is reaped before the
 * slot goes; 50 cycles reuse the same rings and channels and leak no
 * descriptor; bad specs, a back-end that dies before READY and an
 * exhausted --hotplug reserve are refused with a reason; a freed slot
 * is reused only after the guest acknowledged seeing it free.
 */
#include <dirent.h>
#include <signal.h>
#include <fcntl.h>

#include <pvkit-host/json.h>

#include "kselftest_harness.h"

#include "hv_be.h"
#include "../../hypervisor/include/ctl.h"
#include "../../hypervisor/include/kind.h"

#define IMG_SIZE	(8ULL << 20)

FIXTURE(hp)
{
	struct hv *hv;
	char img[64];
	char bin[PATH_MAX];
};

FIXTURE_SETUP(hp)
{
	struct hv_opts o;

	self->hv = NULL;
	self->img[0] = '\0';
	if (blkback_path(self->bin, sizeof(self->bin)))
		SKIP(return, "pvkit-blkback not built");
	setenv("PVKIT_BLKBACK", self->bin, 1);
	ASSERT_EQ(0, hvt_make_img(self->img, sizeof(self->img), "hv_hotplug",
				  IMG_SIZE));

	self->hv = calloc(1, sizeof(*self->hv));
	ASSERT_NE(NULL, self->hv);
	hvt_opts(&o, 2, false, "pc", HVT_MEM);
	o.hotplug = 4;		/* two 2-queue disks */
	hv_struct_init(self->hv);
	log_set_level(getenv("HVT_VERBOSE") ? LOG_LVL_DEBUG : LOG_LVL_ERR);
	ASSERT_EQ(0, ev_init(self->hv));
	ASSERT_EQ(0, hv_vm_init(self->hv, &o));
	EXPECT_TRUE(self->hv->features[0] & PVKIT_F_HOTPLUG);
	EXPECT_EQ(HV_FIRST_QUEUE_VEC + 4, self->hv->nr_vectors);
}

FIXTURE_TEARDOWN(hp)
{
	hvt_be_teardown(self->hv, self->img);
}

/* One control request; the reply line (caller frees), NULL on error. */
static char *ctl(struct hv *hv, const char *fmt, ...)
{
	char req[1024];
	struct jbuf jb;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(req, sizeof(req), fmt, ap);
	va_end(ap);
	jb_init(&jb);
	if (ctl_handle(hv, req, strlen(req), &jb, NULL)) {
		jb_free(&jb);
		return NULL;
	}
	return jb.buf;
}

static bool ok(const char *reply)
{
	return reply && strstr(reply, "\"ok\":true");
}

/* dev-add of @spec; the new device once OFFERED, else NULL. */
static struct dev *add(struct hv *hv, const char *spec)
{
	char *r = ctl(hv, "{\"cmd\":\"dev-add\",\"kind\":\"disk\",\"spec\":\"%s\"}",
		      spec);
	char id[32] = "";
	const char *p;
	uint64_t end = ev_now_ms() + WAIT_MS;
	struct dev *d;

	p = r ? strstr(r, "\"id\":\"") : NULL;
	if (!ok(r) || !p || sscanf(p + 6, "%31[^\"]", id) != 1) {
		free(r);
		return NULL;
	}
	free(r);
	while ((d = dev_by_id(hv, id)) && d->state != PVKIT_DEV_STATE_OFFERED &&
	       ev_now_ms() < end)
		pump(hv, 10);
	return d && d->state == PVKIT_DEV_STATE_OFFERED ? d : NULL;
}

/* Pump until the device with @serial is destroyed. */
static bool gone(struct hv *hv, uint32_t serial, int ms)
{
	uint64_t end = ev_now_ms() + ms;

	while (dev_by_serial(hv, serial) && ev_now_ms() < end)
		pump(hv, 10);
	return !dev_by_serial(hv, serial);
}

static bool remove_dev(struct hv *hv, struct dev *d, double grace)
{
	char id[32];
	char *r;
	bool ret;

	snprintf(id, sizeof(id), "%s.%u", dev_type_name(d->type), d->instance);
	r = ctl(hv, "{\"cmd\":\"dev-remove\",\"id\":\"%s\",\"grace\":%g}", id,
		grace);
	ret = ok(r);
	free(r);
	return ret;
}

/* The fate the hypervisor recorded for a destroyed device. */
static const char *gone_why(struct hv *hv, uint32_t serial, bool *failed)
{
	unsigned int i;

	for (i = 0; i < HV_GONE_MAX; i++) {
		if (hv->gone[i].serial == serial) {
			*failed = hv->gone[i].failed;
			return hv->gone[i].why;
		}
	}
	return NULL;
}

static int count_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	int n = 0;

	while (dir && readdir(dir))
		n++;
	if (dir)
		closedir(dir);
	return n;
}

TEST_F_TIMEOUT(hp, cycles_reuse_everything, 180)
{
	struct hv *hv = self->hv;
	uint32_t ring0 = 0, vec0 = 0;
	int fds = -1;
	unsigned int i;

	for (i = 0; i < 50; i++) {
		struct dev *d = add(hv, self->img);
		uint32_t serial;
		pid_t pid;

		ASSERT_NE(NULL, d) TH_LOG("cycle %u", i);
		ASSERT_EQ(2, d->nr_queues);
		EXPECT_TRUE(d->hot_added);
		if (!i) {
			ring0 = d->q[0].ring_offset;
			vec0 = d->q[0].vector;
		}
		/* no guest acks here, so the slot moves; rings do not */
		EXPECT_EQ(ring0, d->q[0].ring_offset) TH_LOG("cycle %u", i);
		EXPECT_EQ(vec0, d->q[0].vector) TH_LOG("cycle %u", i);
		serial = d->serial;
		pid = d->be->pid;
		ASSERT_LT(0, pid);
		/* never connected: FREE at once, destroyed once reaped */
		ASSERT_TRUE(remove_dev(hv, d, 10));
		EXPECT_EQ(PVKIT_DEV_STATE_FREE, d->state);
		ASSERT_TRUE(gone(hv, serial, WAIT_MS)) TH_LOG("cycle %u", i);
		/* the back-end is reaped before the device is gone */
		EXPECT_EQ(-1, kill(pid, 0));
		EXPECT_EQ(0, hv->nr_devs);
		EXPECT_EQ(0, hv->total_queues);
		if (i == 1)
			fds = count_fds();
	}
	EXPECT_EQ(fds, count_fds());
	EXPECT_GE(1, hv->nr_ring_free);
}

TEST_F(hp, bad_requests_say_why)
{
	static const struct {
		const char *req;	/* %s: the test image */
		const char *why;	/* in the error, or NULL */
	} bad[] = {
		{ "{\"cmd\":\"dev-add\",\"kind\":\"disk\",\"spec\":\"/nonexistent/x.img\"}",
		  "cannot access /nonexistent/x.img" },
		{ "{\"cmd\":\"dev-add\",\"kind\":\"disk\",\"spec\":\"%s,bogus\"}",
		  "expected PATH" },
		{ "{\"cmd\":\"dev-add\",\"kind\":\"floppy\",\"spec\":\"x\"}",
		  "unknown device kind" },
		{ "{\"cmd\":\"dev-add\",\"kind\":\"disk\"}", "needs" },
		{ "{\"cmd\":\"dev-remove\",\"id\":\"blk.7\"}", "no such device" },
		{ "{\"cmd\":\"dev-remove\",\"id\":\"blk.0\",\"grace\":-1}",
		  "grace" },
	};
	struct hv *hv = self->hv;
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *r = ctl(hv, bad[i].req, self->img);

		EXPECT_FALSE(ok(r)) TH_LOG("%s", bad[i].req);
		EXPECT_NE(NULL, r && strstr(r, bad[i].why))
			TH_LOG("%s: %s", bad[i].req, r);
		free(r);
	}
	EXPECT_EQ(0, hv->nr_devs);
}

TEST_F(hp, backend_dying_before_ready_fails_the_add)
{
	struct hv *hv = self->hv;
	uint32_t serial;
	bool failed = false;
	const char *why;
	struct dev *d;
	char *r;

	setenv("PVKIT_BLKBACK", "/bin/false", 1);
	r = ctl(hv, "{\"cmd\":\"dev-add\",\"kind\":\"disk\",\"spec\":\"%s\"}",
		self->img);
	ASSERT_TRUE(ok(r)) TH_LOG("%s", r);
	free(r);
	d = dev_by_id(hv, "blk.0");
	ASSERT_NE(NULL, d);
	serial = d->serial;
	ASSERT_TRUE(gone(hv, serial, WAIT_MS));
	why = gone_why(hv, serial, &failed);
	EXPECT_TRUE(failed);
	EXPECT_NE(NULL, why);
	EXPECT_NE('\0', why ? why[0] : '\0');
	EXPECT_EQ(0, hv->total_queues);
	/* and nothing is left in the way of a good one */
	setenv("PVKIT_BLKBACK", self->bin, 1);
	EXPECT_NE(NULL, add(hv, self->img));
}

TEST_F(hp, reserve_exhausted_then_freed)
{
	struct hv *hv = self->hv;
	struct dev *a, *b;
	uint32_t serial;
	char *r;

	a = add(hv, self->img);
	b = add(hv, self->img);
	ASSERT_NE(NULL, a);
	ASSERT_NE(NULL, b);
	EXPECT_EQ(1, b->instance);
	r = ctl(hv, "{\"cmd\":\"dev-add\",\"kind\":\"disk\",\"spec\":\"%s\"}",
		self->img);
	EXPECT_FALSE(ok(r));
	EXPECT_NE(NULL, r && strstr(r, "--hotplug")) TH_LOG("%s", r);
	free(r);
	EXPECT_EQ(2, hv->nr_devs);
	serial = a->serial;
	ASSERT_TRUE(remove_dev(hv, a, 10));
	ASSERT_TRUE(gone(hv, serial, WAIT_MS));
	/* the lowest free instance again: the guest names it pvda */
	a = add(hv, self->img);
	ASSERT_NE(NULL, a);
	EXPECT_EQ(0, a->instance);
}

TEST_F(hp, connected_device_waits_for_the_guest)
{
	struct hv *hv = self->hv;
	struct dev *d = add(hv, self->img);
	uint32_t serial;
	bool failed = true;
	const char *why;

	ASSERT_NE(NULL, d);
	serial = d->serial;
	ASSERT_EQ(PVKIT_HC_OK, guest_connect(hv, d));
	ASSERT_EQ(0, guest_flush(hv, d, 0, 7));
	ASSERT_TRUE(remove_dev(hv, d, 10));
	EXPECT_EQ(PVKIT_DEV_STATE_CLOSING, d->state);
	/* still served while the guest finishes */
	EXPECT_EQ(0, guest_flush(hv, d, 1, 8));
	pump(hv, 100);
	EXPECT_EQ(PVKIT_DEV_STATE_CLOSING, d->state);
	/* the guest lets go: the back-end drains, the slot is freed */
	EXPECT_EQ(HC_DEFERRED, hvt_call(hv, PVKIT_HC_DEV_DISCONNECT, d->slot,
					0, 0, 0));
	ASSERT_TRUE(gone(hv, serial, WAIT_MS));
	why = gone_why(hv, serial, &failed);
	EXPECT_FALSE(failed);
	EXPECT_STREQ("removed", why ? why : "");
}

TEST_F(hp, grace_over_host_drains_and_frees)
{
	struct hv *hv = self->hv;
	struct dev *d = add(hv, self->img);
	uint64_t t0;
	uint32_t serial;
	bool failed = true;
	const char *why;

	ASSERT_NE(NULL, d);
	serial = d->serial;
	ASSERT_EQ(PVKIT_HC_OK, guest_connect(hv, d));
	t0 = ev_now_ms();
	ASSERT_TRUE(remove_dev(hv, d, 0.3));
	EXPECT_EQ(PVKIT_DEV_STATE_CLOSING, d->state);
	ASSERT_TRUE(gone(hv, serial, WAIT_MS));
	EXPECT_LE(300, ev_now_ms() - t0);
	why = gone_why(hv, serial, &failed);
	EXPECT_FALSE(failed);
	EXPECT_EQ(0, strncmp(why ? why : "", "forced", 6)) TH_LOG("%s", why);
	/* a guest that calls in late is told the device is gone */
	EXPECT_EQ(PVKIT_HC_ENODEV, hvt_call(hv, PVKIT_HC_DEV_DISCONNECT, 0,
					    0, 0, 0));
}

/* A back-end that cannot drain: FREE only once it is killed and reaped. */
TEST_F_TIMEOUT(hp, stuck_backend_freed_after_reap, 60)
{
	struct hv *hv = self->hv;
	struct dev *d = add(hv, self->img);
	uint32_t serial;
	pid_t pid;

	ASSERT_NE(NULL, d);
	serial = d->serial;
	pid = d->be->pid;
	ASSERT_EQ(PVKIT_HC_OK, guest_connect(hv, d));
	ASSERT_EQ(0, kill(pid, SIGSTOP));
	ASSERT_TRUE(remove_dev(hv, d, 0.1));
	/* grace over, DISCONNECT unanswered: still CLOSING, never FREE */
	while (dev_by_serial(hv, serial) && d->state == PVKIT_DEV_STATE_CLOSING &&
	       !d->server_dead)
		pump(hv, 50);
	ASSERT_TRUE(gone(hv, serial, 3 * DEV_STOP_TIMEOUT_MS));
	EXPECT_EQ(-1, kill(pid, 0));
}

/* The back-end dies in CLOSING: the slot goes once it is reaped. */
TEST_F(hp, backend_death_in_closing_frees)
{
	struct hv *hv = self->hv;
	struct dev *d = add(hv, self->img);
	uint32_t serial;

	ASSERT_NE(NULL, d);
	serial = d->serial;
	ASSERT_EQ(PVKIT_HC_OK, guest_connect(hv, d));
	ASSERT_TRUE(remove_dev(hv, d, 60));
	EXPECT_EQ(PVKIT_DEV_STATE_CLOSING, d->state);
	ASSERT_EQ(0, kill(d->be->pid, SIGKILL));
	/* long before the 60 s grace, and never restarted */
	ASSERT_TRUE(gone(hv, serial, WAIT_MS));
	EXPECT_EQ(0, hv->nr_devs);
}

TEST_F(hp, freed_slot_waits_for_the_guest_ack)
{
	struct hv *hv = self->hv;
	struct dev *d = add(hv, self->img);
	unsigned int slot;
	uint32_t serial;

	ASSERT_NE(NULL, d);
	slot = d->slot;
	serial = d->serial;
	/* the guest saw the device offered */
	ASSERT_EQ(PVKIT_HC_OK, hvt_call(hv, PVKIT_HC_CONFIG_ACK,
					hv->generation, 0, 0, 0));
	ASSERT_TRUE(remove_dev(hv, d, 10));
	ASSERT_TRUE(gone(hv, serial, WAIT_MS));
	/* not yet seen FREE: a new device goes elsewhere */
	d = add(hv, self->img);
	ASSERT_NE(NULL, d);
	EXPECT_NE(slot, d->slot);
	serial = d->serial;
	ASSERT_TRUE(remove_dev(hv, d, 10));
	ASSERT_TRUE(gone(hv, serial, WAIT_MS));
	/* seen: the slot is reused */
	ASSERT_EQ(PVKIT_HC_OK, hvt_call(hv, PVKIT_HC_CONFIG_ACK,
					hv->generation, 0, 0, 0));
	d = add(hv, self->img);
	ASSERT_NE(NULL, d);
	EXPECT_EQ(slot, d->slot);
}

TEST_HARNESS_MAIN
