// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: the paravirt clock pvkit-hv serves (hypervisor/clock.c,
 * clock.h) against a fake guest that connects through hypercalls, sends
 * SETUP and WINDOW on the control ring and does timestamp exchanges in
 * its registered page: refusals, the rate limit, real exchanges whose
 * host readings lie between the guest's own, the count and the deadline
 * of a window, synchronous disarm, the info seqlock, the generation as a
 * config change in place, and the pure parsers on good and garbage input.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <pvkit/clock.h>
#include <pvkit/ring.h>
#include <pvkit-host/json.h>

#include "kselftest_harness.h"

#include "hv_be.h"
#include "../../hypervisor/include/clk.h"
#include "../../hypervisor/include/ctl.h"
#include "../../hypervisor/include/kind.h"
#include "../../hypervisor/include/qemu.h"

#define MEM		(64ULL << 20)
#define MB		(1ULL << 20)
#define AREA_GPA	(32ULL << 20)
#define NO_ANSWER	0xff

static uint64_t now_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int ct_init(struct hv **out, const char *spec)
{
	struct hv *hv = calloc(1, sizeof(*hv));
	struct hv_opts o;
	char err[256];

	if (!hv)
		return -1;
	*out = hv;
	hvt_opts(&o, 2, false, "pc", MEM);
	if (kind_parse(kind_by_option("clock"), &o.devs[0], spec, err,
		       sizeof(err)))
		return -1;
	o.nr_devs = 1;
	hv_struct_init(hv);
	log_set_level(getenv("HVT_VERBOSE") ? LOG_LVL_DEBUG : LOG_LVL_ERR);
	if (ev_init(hv))
		return -1;
	return hv_vm_init(hv, &o);
}

static int ct_connect(struct hv *hv, struct dev *d, struct pvkit_ring *fe)
{
	int64_t ret;

	ret = hvt_call(hv, PVKIT_HC_DEV_ACK_FEATURES, d->slot, d->features,
		       0, 0);
	if (!ret)
		ret = hvt_call(hv, PVKIT_HC_DEV_CONNECT, d->slot, 0, 0, 0);
	if (!ret)
		ret = pvkit_ring_attach(fe, hdr(hv, d, 0), d->q[0].slots,
					d->q[0].req_size, d->q[0].rsp_size);
	return (int)ret;
}

/* One control request; its response, status NO_ANSWER if none came. */
static struct pvkit_clock_rsp ct_req(struct hv *hv, struct dev *d,
				     struct pvkit_ring *fe,
				     const struct pvkit_clock_req *rq)
{
	struct pvkit_clock_rsp rsp = { .status = NO_ANSWER };
	uint64_t end = ev_now_ms() + WAIT_MS;

	if (pvkit_ring_put_req(fe, rq, sizeof(*rq)))
		return rsp;
	pvkit_ring_push_reqs(fe);
	kick(hv, d, 0);
	while (pvkit_ring_rsp_avail(fe) <= 0 && ev_now_ms() < end)
		pump(hv, 5);
	if (pvkit_ring_rsp_avail(fe) > 0)
		pvkit_ring_get_rsp(fe, &rsp, sizeof(rsp));
	return rsp;
}

static struct pvkit_clock_rsp ct_op(struct hv *hv, struct dev *d,
				    struct pvkit_ring *fe, uint8_t op,
				    uint64_t gpa, uint32_t count)
{
	struct pvkit_clock_req rq = {
		.id = htole64(0x1000 + op), .gpa = htole64(gpa),
		.count = htole32(count), .op = op,
	};

	return ct_req(hv, d, fe, &rq);
}

static struct pvkit_clock_area *ct_area(struct hv *hv, uint64_t gpa)
{
	return (struct pvkit_clock_area *)(hv->gm.base + gpa);
}

/*
 * One exchange as the guest does it; true if answered within @wait_us.
 * @before/@after: the guest's own clocks around it.
 */
struct reading {
	uint64_t m0, r0, m1, r1;	/* the guest's, before and after */
	uint64_t hm, hr;		/* the host's */
	uint32_t gen, read_ns;
};

static bool ct_xchg(struct pvkit_clock_area *a, uint64_t wait_us,
		    struct reading *rd)
{
	struct pvkit_clock_xchg *x = &a->xchg;
	uint32_t seq = __atomic_load_n(&x->resp_seq, __ATOMIC_RELAXED) + 1;
	uint64_t end;

	rd->m0 = now_ns(CLOCK_MONOTONIC);
	rd->r0 = now_ns(CLOCK_REALTIME);
	__atomic_store_n(&x->req_seq, seq, __ATOMIC_RELEASE);
	end = rd->m0 + wait_us * 1000;
	while (__atomic_load_n(&x->resp_seq, __ATOMIC_ACQUIRE) != seq) {
		uint64_t t = now_ns(CLOCK_MONOTONIC);

		/* a vCPU has its own CPU; this thread may share the host's */
		if (t - rd->m0 > 50000)
			sched_yield();
		if (t > end) {
			/* take it back: nothing is asked any more */
			__atomic_store_n(&x->req_seq, seq - 1,
					 __ATOMIC_RELEASE);
			return false;
		}
	}
	rd->r1 = now_ns(CLOCK_REALTIME);
	rd->m1 = now_ns(CLOCK_MONOTONIC);
	rd->hm = le64toh(__atomic_load_n(&x->monotonic_ns, __ATOMIC_RELAXED));
	rd->hr = le64toh(__atomic_load_n(&x->realtime_ns, __ATOMIC_RELAXED));
	rd->gen = le32toh(__atomic_load_n(&x->generation, __ATOMIC_RELAXED));
	rd->read_ns = le32toh(__atomic_load_n(&x->read_ns, __ATOMIC_RELAXED));
	return true;
}

/*
 * WINDOW @count, then @n exchanges in it.  This machine is shared: a
 * responder preempted for the whole window is not the host's fault, so a
 * window that did not answer all @n is tried again (a new one, after
 * BUSY's wait if need be).  True once one window answered all of them.
 */
static bool ct_window_run(struct hv *hv, struct dev *d, struct pvkit_ring *fe,
			  struct pvkit_clock_area *a, uint32_t count,
			  unsigned int n, uint64_t wait_us, struct reading *rd)
{
	unsigned int try, i;

	for (try = 0; try < 100; try++) {
		struct pvkit_clock_rsp r = ct_op(hv, d, fe,
						 PVKIT_CLOCK_OP_WINDOW, 0,
						 count);

		if (r.status == PVKIT_CLOCK_S_BUSY) {
			usleep(le32toh(r.value) * 1000);
			continue;
		}
		if (r.status != PVKIT_CLOCK_S_OK)
			return false;
		for (i = 0; i < n; i++)
			if (!ct_xchg(a, wait_us, &rd[i]))
				break;
		if (i == n)
			return true;
		if (getenv("HVT_VERBOSE")) {
			struct jbuf jb;

			jb_init(&jb);
			jb_obj_begin(&jb);
			clk_json(hv, d, &jb);
			jb_obj_end(&jb);
			fprintf(stderr, "try %u: %u of %u answered: %s req %u resp %u\n",
				try, i, n, jb.buf, a->xchg.req_seq,
				a->xchg.resp_seq);
			jb_free(&jb);
		}
		usleep(le32toh(r.value));	/* let that window end */
	}
	return false;
}

FIXTURE(clk)
{
	struct hv *hv;
	struct dev *d;
	struct pvkit_ring fe;
};

FIXTURE_SETUP(clk)
{
	/* the longest window: this machine's CPUs are shared */
	ASSERT_EQ(0, ct_init(&self->hv, "on,window-us=5000"));
	self->d = clk_find(self->hv);
	ASSERT_NE(NULL, self->d);
	ASSERT_EQ(PVKIT_DEV_STATE_OFFERED, self->d->state);
	ASSERT_EQ(PVKIT_CLOCK_F_KNOWN, self->d->features);
	ASSERT_EQ(0, ct_connect(self->hv, self->d, &self->fe));
}

FIXTURE_TEARDOWN(clk)
{
	if (self->hv) {
		hvt_exit(self->hv);
		free(self->hv);
	}
}

TEST_F(clk, config_as_offered)
{
	const struct pvkit_clock_config *cfg =
		(const struct pvkit_clock_config *)self->d->config;
	const struct pvkit_dev_entry *e = (struct pvkit_dev_entry *)
		(self->hv->shm + HV_DEVTAB_OFFSET) + self->d->slot;

	EXPECT_EQ(1, le32toh(cfg->generation));
	EXPECT_EQ(CLK_DEFAULT_XCHG, le32toh(cfg->max_xchg));
	EXPECT_EQ(CLK_DEFAULT_RATE, le32toh(cfg->window_rate));
	EXPECT_EQ(5000, le32toh(cfg->window_us));
	EXPECT_EQ(CLK_STEAL_PERIOD_MS, le32toh(cfg->steal_period_ms));
	EXPECT_EQ(2, le32toh(cfg->nr_vcpus));
	EXPECT_EQ(sizeof(*cfg), le16toh(e->config_size));
	EXPECT_EQ(1, le16toh(e->nr_queues));
	EXPECT_EQ(sizeof(struct pvkit_clock_req), le16toh(e->queues[0].req_size));
	EXPECT_EQ(sizeof(struct pvkit_clock_rsp), le16toh(e->queues[0].rsp_size));
}

struct bad_req {
	const char *name;
	uint8_t op;
	uint64_t gpa;
	uint32_t count;
	uint8_t rsvd;
	bool setup_first;	/* an area registered before */
};

static const struct bad_req bad_reqs[] = {
	{ "SETUP unaligned", PVKIT_CLOCK_OP_SETUP, AREA_GPA + 8, 0, 0, false },
	{ "SETUP half-page aligned", PVKIT_CLOCK_OP_SETUP, AREA_GPA + 2048, 0, 0, false },
	{ "SETUP at the end of RAM", PVKIT_CLOCK_OP_SETUP, MEM, 0, 0, false },
	{ "SETUP far outside RAM", PVKIT_CLOCK_OP_SETUP, 0xfffffffffffff000ULL, 0, 0, false },
	{ "SETUP in the PCI hole (shared region BAR)", PVKIT_CLOCK_OP_SETUP,
	  0xfe000000ULL, 0, 0, false },
	{ "SETUP straddling the end (unaligned)", PVKIT_CLOCK_OP_SETUP,
	  MEM - 2048, 0, 0, false },
	{ "SETUP with a count", PVKIT_CLOCK_OP_SETUP, AREA_GPA, 1, 0, false },
	{ "SETUP reserved byte", PVKIT_CLOCK_OP_SETUP, AREA_GPA, 0, 1, false },
	{ "WINDOW before SETUP", PVKIT_CLOCK_OP_WINDOW, 0, 1, 0, false },
	{ "WINDOW count 0", PVKIT_CLOCK_OP_WINDOW, 0, 0, 0, true },
	{ "WINDOW count above max", PVKIT_CLOCK_OP_WINDOW, 0,
	  CLK_DEFAULT_XCHG + 1, 0, true },
	{ "WINDOW count huge", PVKIT_CLOCK_OP_WINDOW, 0, 0xffffffffU, 0, true },
	{ "WINDOW with a gpa", PVKIT_CLOCK_OP_WINDOW, AREA_GPA, 1, 0, true },
	{ "WINDOW reserved byte", PVKIT_CLOCK_OP_WINDOW, 0, 1, 0x80, true },
	{ "unknown op 0", 0, 0, 0, 0, true },
	{ "unknown op 3", 3, 0, 0, 0, true },
	{ "unknown op 255", 255, AREA_GPA, 1, 0, true },
};

/* Each bad request: INVAL with its id, no reset, the device still serves. */
TEST_F(clk, refusals)
{
	unsigned int i;

	for (i = 0; i < sizeof(bad_reqs) / sizeof(bad_reqs[0]); i++) {
		const struct bad_req *b = &bad_reqs[i];
		struct pvkit_clock_req rq = {
			.id = htole64(500 + i), .gpa = htole64(b->gpa),
			.count = htole32(b->count), .op = b->op,
		};
		struct pvkit_clock_rsp r;
		uint32_t epoch = self->d->epoch;

		r = ct_op(self->hv, self->d, &self->fe, PVKIT_CLOCK_OP_SETUP,
			  b->setup_first ? AREA_GPA : 0, 0);
		ASSERT_EQ(PVKIT_CLOCK_S_OK, r.status) TH_LOG("%s", b->name);
		rq.reserved[2] = b->rsvd;
		r = ct_req(self->hv, self->d, &self->fe, &rq);
		EXPECT_EQ(PVKIT_CLOCK_S_INVAL, r.status) TH_LOG("%s", b->name);
		EXPECT_EQ(500 + i, le64toh(r.id)) TH_LOG("%s", b->name);
		EXPECT_EQ(0, le32toh(r.value)) TH_LOG("%s", b->name);
		EXPECT_EQ(PVKIT_DEV_STATE_CONNECTED, self->d->state);
		EXPECT_EQ(epoch, self->d->epoch);
	}
}

TEST_F(clk, setup_accepts_ram_pages)
{
	static const uint64_t ok[] = { 0, 4096, AREA_GPA, MEM - 4096 };
	unsigned int i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct pvkit_clock_rsp r;

		/* gpa 0 is "none": accepted as well, with no area after */
		r = ct_op(self->hv, self->d, &self->fe, PVKIT_CLOCK_OP_SETUP,
			  ok[i], 0);
		EXPECT_EQ(PVKIT_CLOCK_S_OK, r.status) TH_LOG("%#llx",
			(unsigned long long)ok[i]);
		r = ct_op(self->hv, self->d, &self->fe, PVKIT_CLOCK_OP_WINDOW,
			  0, 1);
		EXPECT_EQ(ok[i] ? PVKIT_CLOCK_S_OK : PVKIT_CLOCK_S_INVAL,
			  r.status) TH_LOG("%#llx", (unsigned long long)ok[i]);
	}
}

/* Exchanges: the host's readings lie between the guest's own. */
TEST_F(clk, exchanges_bracketed_and_counted)
{
	struct pvkit_clock_area *a = ct_area(self->hv, AREA_GPA);
	struct pvkit_clock_rsp r;
	struct reading rds[8], rd;
	unsigned int i;

	memset(a, 0, sizeof(*a));
	r = ct_op(self->hv, self->d, &self->fe, PVKIT_CLOCK_OP_SETUP,
		  AREA_GPA, 0);
	ASSERT_EQ(PVKIT_CLOCK_S_OK, r.status);
	ASSERT_TRUE(ct_window_run(self->hv, self->d, &self->fe, a, 8, 8,
				  5000, rds));
	for (i = 0; i < 8; i++) {
		rd = rds[i];
		EXPECT_LE(rd.m0, rd.hm);
		EXPECT_LE(rd.hm, rd.m1);
		EXPECT_LE(rd.r0, rd.hr);
		EXPECT_LE(rd.hr, rd.r1);
		EXPECT_EQ(1, rd.gen);
		EXPECT_LT(rd.read_ns, 1000000);
	}
	/* the ninth is not answered: the count is honoured */
	EXPECT_FALSE(ct_xchg(a, 3000, &rd));
	/* the host half of the slot only: the guest half is the guest's */
	EXPECT_EQ(0, le32toh(a->xchg.pad1));
}

/* A window ends by its deadline even with answers left. */
TEST(window_deadline)
{
	struct pvkit_clock_area *a;
	struct pvkit_clock_rsp r;
	struct pvkit_ring fe;
	struct hv *hv = NULL;
	struct reading rd;
	struct dev *d;
	uint64_t t0;

	ASSERT_EQ(0, ct_init(&hv, "on,window-us=5000,xchg=64"));
	d = clk_find(hv);
	ASSERT_EQ(0, ct_connect(hv, d, &fe));
	a = ct_area(hv, AREA_GPA);
	r = ct_op(hv, d, &fe, PVKIT_CLOCK_OP_SETUP, AREA_GPA, 0);
	ASSERT_EQ(PVKIT_CLOCK_S_OK, r.status);
	ASSERT_TRUE(ct_window_run(hv, d, &fe, a, 64, 1, 5000, &rd));
	t0 = now_ns(CLOCK_MONOTONIC);
	/* past the deadline (5 ms after it began, before t0) */
	usleep(5500);
	while (now_ns(CLOCK_MONOTONIC) - t0 < 5500000)
		;
	EXPECT_FALSE(ct_xchg(a, 10000, &rd));
	hvt_exit(hv);
	free(hv);
}

/* WINDOWs above the rate: BUSY with the ms until a token. */
TEST_F(clk, rate_limit_busy)
{
	struct pvkit_clock_rsp r;
	unsigned int i, ok = 0, busy = 0;
	uint32_t wait = 0;

	r = ct_op(self->hv, self->d, &self->fe, PVKIT_CLOCK_OP_SETUP,
		  AREA_GPA, 0);
	ASSERT_EQ(PVKIT_CLOCK_S_OK, r.status);
	for (i = 0; i < CLK_DEFAULT_RATE + 5; i++) {
		r = ct_op(self->hv, self->d, &self->fe, PVKIT_CLOCK_OP_WINDOW,
			  0, 1);
		if (r.status == PVKIT_CLOCK_S_OK) {
			ok++;
		} else {
			ASSERT_EQ(PVKIT_CLOCK_S_BUSY, r.status);
			busy++;
			wait = le32toh(r.value);
			EXPECT_LE(1, wait);
			EXPECT_GE(1000 / CLK_DEFAULT_RATE, wait);
		}
	}
	/* the burst (the window rate), then BUSY; one may have accrued */
	EXPECT_LE(CLK_DEFAULT_RATE, ok);
	EXPECT_GE(CLK_DEFAULT_RATE + 1, ok);
	EXPECT_LE(4, busy);
	/* after the wait it is told, a WINDOW is granted */
	usleep(wait * 1000 + 1000);
	r = ct_op(self->hv, self->d, &self->fe, PVKIT_CLOCK_OP_WINDOW, 0, 1);
	EXPECT_EQ(PVKIT_CLOCK_S_OK, r.status);
}

TEST(bucket)
{
	struct clk_bucket b;
	uint64_t t = 5000000000ULL;
	unsigned int i;

	clk_bucket_init(&b, 10, t);
	for (i = 0; i < 10; i++)
		EXPECT_EQ(0, clk_bucket_take(&b, t));
	EXPECT_EQ(100, clk_bucket_take(&b, t));
	EXPECT_EQ(1, clk_bucket_take(&b, t + 99999999));
	EXPECT_EQ(0, clk_bucket_take(&b, t + 100000000));
	/* a long quiet time refills one burst, no more */
	t += 3600ULL * 1000000000ULL;
	for (i = 0; i < 10; i++)
		EXPECT_EQ(0, clk_bucket_take(&b, t));
	EXPECT_LT(0, clk_bucket_take(&b, t));
	/* time going backwards (it cannot, but) grants nothing */
	EXPECT_LT(0, clk_bucket_take(&b, t - 1000000000ULL));
}

/* A guest hammering exchanges while the host disarms. */
struct hammer {
	struct pvkit_clock_area *a;
	int stop;
	uint64_t answered;
};

static void *hammer_fn(void *arg)
{
	struct hammer *h = arg;
	struct reading rd;

	while (!__atomic_load_n(&h->stop, __ATOMIC_ACQUIRE))
		if (ct_xchg(h->a, 200, &rd))
			__atomic_fetch_add(&h->answered, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void disarm_case(struct __test_metadata *_metadata, bool disconnect)
{
	struct hammer h = { 0 };
	struct pvkit_clock_rsp r;
	struct pvkit_ring fe;
	struct hv *hv = NULL;
	unsigned int try;
	pthread_t t;
	uint32_t r1, r2;
	uint64_t end;
	struct dev *d;

	ASSERT_EQ(0, ct_init(&hv, "on,window-us=5000,xchg=64"));
	d = clk_find(hv);
	ASSERT_EQ(0, ct_connect(hv, d, &fe));
	h.a = ct_area(hv, AREA_GPA);
	r = ct_op(hv, d, &fe, PVKIT_CLOCK_OP_SETUP, AREA_GPA, 0);
	ASSERT_EQ(PVKIT_CLOCK_S_OK, r.status);
	ASSERT_EQ(0, pthread_create(&t, NULL, hammer_fn, &h));
	/* a live window: answers come (a new one if this one was starved) */
	for (try = 0; try < 20; try++) {
		r = ct_op(hv, d, &fe, PVKIT_CLOCK_OP_WINDOW, 0, 64);
		if (r.status == PVKIT_CLOCK_S_BUSY) {
			usleep(le32toh(r.value) * 1000);
			continue;
		}
		ASSERT_EQ(PVKIT_CLOCK_S_OK, r.status);
		end = ev_now_ms() + 4;
		while (!__atomic_load_n(&h.answered, __ATOMIC_RELAXED) &&
		       ev_now_ms() < end)
			usleep(100);	/* not a third spinner on two CPUs */
		if (__atomic_load_n(&h.answered, __ATOMIC_RELAXED))
			break;
	}
	EXPECT_LT(0, __atomic_load_n(&h.answered, __ATOMIC_RELAXED));
	if (disconnect) {
		EXPECT_EQ(PVKIT_HC_OK, hvt_call(hv, PVKIT_HC_DEV_DISCONNECT,
						d->slot, 0, 0, 0));
	} else {
		r = ct_op(hv, d, &fe, PVKIT_CLOCK_OP_SETUP, 0, 0);
		EXPECT_EQ(PVKIT_CLOCK_S_OK, r.status);
	}
	/* once the host answered, nothing more is answered */
	r1 = __atomic_load_n(&h.a->xchg.resp_seq, __ATOMIC_ACQUIRE);
	usleep(10000);
	r2 = __atomic_load_n(&h.a->xchg.resp_seq, __ATOMIC_ACQUIRE);
	EXPECT_EQ(r1, r2);
	__atomic_store_n(&h.stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	hvt_exit(hv);
	free(hv);
}

TEST(disarm_on_setup0)
{
	disarm_case(_metadata, false);
}

TEST(disarm_on_disconnect)
{
	disarm_case(_metadata, true);
}

/* Exit with a window live: the responder is joined, nothing leaks. */
TEST(destroy_while_spinning)
{
	struct pvkit_clock_rsp r;
	struct pvkit_ring fe;
	struct hv *hv = NULL;
	struct dev *d;

	ASSERT_EQ(0, ct_init(&hv, "on,window-us=5000"));
	d = clk_find(hv);
	ASSERT_EQ(0, ct_connect(hv, d, &fe));
	r = ct_op(hv, d, &fe, PVKIT_CLOCK_OP_SETUP, AREA_GPA, 0);
	ASSERT_EQ(PVKIT_CLOCK_S_OK, r.status);
	r = ct_op(hv, d, &fe, PVKIT_CLOCK_OP_WINDOW, 0, 64);
	ASSERT_EQ(PVKIT_CLOCK_S_OK, r.status);
	hvt_exit(hv);
	free(hv);
}

/* The host's info under the seqlock: even, fresh, no steal without QEMU. */
TEST_F(clk, info_seqlock)
{
	struct pvkit_clock_area *a = ct_area(self->hv, AREA_GPA);
	struct pvkit_clock_rsp r;
	uint32_t v1, v2;
	uint64_t t0, upd;

	memset(a, 0xee, sizeof(*a));
	/* no area: nothing written */
	dev_tick(self->hv, ev_now_ms());
	EXPECT_EQ(0xeeeeeeeeU, a->info.version);
	r = ct_op(self->hv, self->d, &self->fe, PVKIT_CLOCK_OP_SETUP,
		  AREA_GPA, 0);
	ASSERT_EQ(PVKIT_CLOCK_S_OK, r.status);
	t0 = now_ns(CLOCK_MONOTONIC);
	dev_tick(self->hv, ev_now_ms());
	v1 = le32toh(__atomic_load_n(&a->info.version, __ATOMIC_ACQUIRE));
	EXPECT_EQ(0, v1 & 1);
	EXPECT_LT(0, v1);
	EXPECT_EQ(0, le32toh(a->info.nr_steal));
	upd = le64toh(a->info.update_ns);
	EXPECT_LE(t0 - 1000000, upd);
	EXPECT_GE(now_ns(CLOCK_MONOTONIC), upd);
	EXPECT_EQ(0, a->info.host_status & ~htole64(PVKIT_CLOCK_HS_UNSYNC |
		  PVKIT_CLOCK_HS_LEAP_INS | PVKIT_CLOCK_HS_LEAP_DEL));
	/* the guest scribbling its version does not confuse the host */
	a->info.version = htole32(12345);
	usleep((CLK_STEAL_PERIOD_MS + 10) * 1000);
	dev_tick(self->hv, ev_now_ms());
	v2 = le32toh(a->info.version);
	EXPECT_EQ(0, v2 & 1);
	EXPECT_EQ(v1 + 2, v2);
	/* the steal entries stay untouched without QEMU */
	EXPECT_EQ(0xeeeeeeeeeeeeeeeeULL, a->steal[0].steal_ns);
}

/* Generation + 1 as a change in place: only its bytes differ. */
TEST_F(clk, generation_bump_in_place)
{
	struct pvkit_dev_entry *e = (struct pvkit_dev_entry *)
		(self->hv->shm + HV_DEVTAB_OFFSET) + self->d->slot;
	struct pvkit_clock_area *a = ct_area(self->hv, AREA_GPA);
	uint8_t before[sizeof(e->config)], after[sizeof(e->config)];
	uint32_t gen = self->hv->generation, epoch = self->d->epoch;
	struct pvkit_clock_rsp r;
	struct reading rd;
	unsigned int i;

	memcpy(before, e->config, sizeof(before));
	hvt_evcount(self->hv->irq_fd[HV_VEC_CONFIG]);
	clk_time_jumped(self->hv, "test");
	memcpy(after, e->config, sizeof(after));
	EXPECT_LT(gen, self->hv->generation);
	EXPECT_LE(1, hvt_evcount(self->hv->irq_fd[HV_VEC_CONFIG]));
	EXPECT_EQ(2, le32toh(((struct pvkit_clock_config *)after)->generation));
	for (i = offsetof(struct pvkit_clock_config, generation) + 4;
	     i < sizeof(before); i++)
		EXPECT_EQ(before[i], after[i]) TH_LOG("config byte %u", i);
	EXPECT_EQ(PVKIT_DEV_STATE_CONNECTED, le32toh(e->state));
	EXPECT_EQ(epoch, le32toh(e->epoch));
	/* and the exchanges carry it */
	r = ct_op(self->hv, self->d, &self->fe, PVKIT_CLOCK_OP_SETUP,
		  AREA_GPA, 0);
	ASSERT_EQ(PVKIT_CLOCK_S_OK, r.status);
	ASSERT_TRUE(ct_window_run(self->hv, self->d, &self->fe, a, 1, 1,
				  5000, &rd));
	EXPECT_EQ(2, rd.gen);
}

/* The control socket: clock status; pause/resume need a QEMU. */
TEST_F(clk, ctl_clock_and_pause)
{
	const char *clock = "{\"cmd\":\"clock\"}";
	const char *pause = "{\"cmd\":\"pause\"}";
	const char *resume = "{\"cmd\":\"resume\"}";
	struct jbuf out;

	jb_init(&out);
	ctl_handle(self->hv, clock, strlen(clock), &out, NULL);
	ASSERT_NE(NULL, out.buf);
	EXPECT_NE(NULL, strstr(out.buf, "\"generation\":1")) TH_LOG("%s", out.buf);
	EXPECT_NE(NULL, strstr(out.buf, "\"area\":false")) TH_LOG("%s", out.buf);
	EXPECT_NE(NULL, strstr(out.buf, "\"steal\":[]")) TH_LOG("%s", out.buf);
	jb_free(&out);
	jb_init(&out);
	ctl_handle(self->hv, pause, strlen(pause), &out, NULL);
	EXPECT_NE(NULL, strstr(out.buf, "QEMU is not running")) TH_LOG("%s", out.buf);
	jb_free(&out);
	jb_init(&out);
	ctl_handle(self->hv, resume, strlen(resume), &out, NULL);
	EXPECT_NE(NULL, strstr(out.buf, "QEMU is not running")) TH_LOG("%s", out.buf);
	jb_free(&out);
	EXPECT_EQ(1, le32toh(((struct pvkit_clock_config *)
			      self->d->config)->generation));
}

TEST(steal_off_and_options)
{
	static const char *const bad[] = {
		"", "of", "on,", "on,,", "off,rate=5", "on,rate=0",
		"on,rate=1001", "on,window-us=5001", "on,window-us=10",
		"on,xchg=0", "on,xchg=65", "on,steal=on", "on,rate=-1",
		"on,rate=1x", "rate=5",
	};
	const struct pvkit_clock_config *cfg;
	struct clk_opts co;
	struct hv *hv = NULL;
	char err[256];
	struct dev *d;
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		EXPECT_EQ(-EINVAL, clk_opts_parse(bad[i], &co, err,
						  sizeof(err))) TH_LOG("%s", bad[i]);
		EXPECT_NE('\0', err[0]);
	}
	ASSERT_EQ(0, clk_opts_parse("on", &co, err, sizeof(err)));
	EXPECT_TRUE(co.on);
	EXPECT_EQ(PVKIT_CLOCK_F_STEAL, co.features);
	EXPECT_EQ(20, co.rate);
	EXPECT_EQ(2000, co.window_us);
	EXPECT_EQ(64, co.xchg);
	ASSERT_EQ(0, clk_opts_parse("off", &co, err, sizeof(err)));
	EXPECT_FALSE(co.on);
	ASSERT_EQ(0, ct_init(&hv, "on,steal=off,rate=5,window-us=300,xchg=3"));
	d = clk_find(hv);
	ASSERT_NE(NULL, d);
	EXPECT_EQ(0, d->features);
	cfg = (const struct pvkit_clock_config *)d->config;
	EXPECT_EQ(3, le32toh(cfg->max_xchg));
	EXPECT_EQ(5, le32toh(cfg->window_rate));
	EXPECT_EQ(300, le32toh(cfg->window_us));
	EXPECT_EQ(0, le32toh(cfg->nr_vcpus));
	EXPECT_EQ(0, le32toh(cfg->steal_period_ms));
	hvt_exit(hv);
	free(hv);
	/* off: no device */
	hv = NULL;
	ASSERT_EQ(0, ct_init(&hv, "off"));
	EXPECT_EQ(NULL, clk_find(hv));
	hvt_exit(hv);
	free(hv);
}

TEST(schedstat_parser)
{
	static const struct {
		const char *s;
		uint64_t run, wait;
	} good[] = {
		{ "123 456 7\n", 123, 456 },
		{ "0 0 0\n", 0, 0 },
		{ "1 2 3", 1, 2 },
		{ "18446744073709551615 18446744073709551614 1\n",
		  18446744073709551615ULL, 18446744073709551614ULL },
	};
	static const char *const bad[] = {
		"", "\n", "abc", "1 2", "1 2\n", "1 2 3 4\n", "1  2 3\n",
		"-1 2 3\n", " 1 2 3\n", "1\t2\t3\n", "1 2 3\n\n", "1 2 3\nx",
		"18446744073709551616 1 1\n", "99999999999999999999 1 1\n",
		"1 2 x\n", "1,2,3\n", "0x10 2 3\n", "1 2 3 \n",
	};
	uint64_t run, wait;
	unsigned int i;
	char junk[256];

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		run = wait = 77;
		EXPECT_EQ(0, clk_parse_schedstat(good[i].s, strlen(good[i].s),
						 &run, &wait)) TH_LOG("%s", good[i].s);
		EXPECT_EQ(good[i].run, run);
		EXPECT_EQ(good[i].wait, wait);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		run = wait = 77;
		EXPECT_EQ(-EINVAL, clk_parse_schedstat(bad[i], strlen(bad[i]),
						       &run, &wait)) TH_LOG("'%s'", bad[i]);
		EXPECT_EQ(77, run);
		EXPECT_EQ(77, wait);
	}
	/* a length shorter than the text: only that much is read */
	EXPECT_EQ(0, clk_parse_schedstat("5 6 7 garbage", 5, &run, &wait));
	EXPECT_EQ(5, run);
	EXPECT_EQ(6, wait);
	/* random bytes never crash, rarely parse */
	{
		uint64_t s = 0x1234567;
		unsigned int k;

		for (i = 0; i < 20000; i++) {
			size_t n = hvt_rand(&s) % sizeof(junk);

			for (k = 0; k < n; k++)
				junk[k] = "0123456789 \n-x"[hvt_rand(&s) % 14];
			clk_parse_schedstat(junk, n, &run, &wait);
		}
	}
	/* this process's own schedstat parses, if the kernel has them */
	{
		char buf[128];
		ssize_t n;
		int fd = open("/proc/self/schedstat", O_RDONLY);

		if (fd >= 0) {
			n = read(fd, buf, sizeof(buf));
			close(fd);
			if (n > 0)
				EXPECT_EQ(0, clk_parse_schedstat(buf, (size_t)n,
								 &run, &wait));
		}
	}
}

TEST(qmp_cpus_parser)
{
	pid_t t[4];
	const char *ok = "{\"return\": [{\"thread-id\": 301, \"props\": {\"core-id\": 0}, \"qom-path\": \"/machine/unattached/device[0]\", \"cpu-index\": 1, \"target\": \"x86_64\"}, {\"thread-id\": 300, \"cpu-index\": 0}]}";

	EXPECT_EQ(2, qmp_parse_vcpu_threads(ok, t, 4));
	EXPECT_EQ(300, t[0]);
	EXPECT_EQ(301, t[1]);
	EXPECT_EQ(-EPROTO, qmp_parse_vcpu_threads("", t, 4));
	EXPECT_EQ(-EPROTO, qmp_parse_vcpu_threads("{\"return\":{}}", t, 4));
	EXPECT_EQ(-EPROTO, qmp_parse_vcpu_threads("{\"error\":{\"class\":\"x\"}}", t, 4));
	EXPECT_EQ(0, qmp_parse_vcpu_threads("{\"return\":[]}", t, 4));
	/* out-of-range indices and ids are skipped; a gap ends the list */
	EXPECT_EQ(1, qmp_parse_vcpu_threads("{\"return\":[{\"thread-id\":5,\"cpu-index\":0},{\"thread-id\":6,\"cpu-index\":2},{\"thread-id\":-4,\"cpu-index\":1},{\"thread-id\":7,\"cpu-index\":9},{\"thread-id\":8,\"cpu-index\":1.5}]}", t, 4));
	EXPECT_EQ(5, t[0]);
}

TEST_HARNESS_MAIN
