// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: the balloon device pvkit-hv serves (hypervisor/balloon.c,
 * ABI.md 11) against a fake guest that connects through hypercalls and
 * writes page lists into guest RAM: memory given up really leaves the RAM
 * file (its allocated blocks, not a counter), 4 KiB and 2 MiB entries,
 * the 2 MiB release granule, free page reports, stats, the target as a
 * config change in place, and every kind of bad page list refused whole,
 * counted, the device reset, the balloon unchanged.
 */
#include <errno.h>
#include <sys/stat.h>

#include <pvkit/balloon.h>
#include <pvkit/ring.h>
#include <pvkit-host/json.h>

#include "kselftest_harness.h"

#include "hv_be.h"
#include "../../hypervisor/include/bln.h"
#include "../../hypervisor/include/ctl.h"
#include "../../hypervisor/include/kind.h"

#define MEM		(64ULL << 20)
#define MB		(1ULL << 20)
#define LIST_GPA	(60ULL << 20)	/* the fake guest's page list */
#define E4K(gpa)	((uint64_t)(gpa))
#define E2M(gpa)	((uint64_t)(gpa) | PVKIT_BALLOON_HUGE_ORDER)

FIXTURE(bln)
{
	struct hv *hv;
	struct dev *d;
	struct pvkit_ring fe[PVKIT_BALLOON_NR_QUEUES];
	uint64_t next_id;
};

static int bt_init(struct hv **out, const char *spec)
{
	return hvt_init_dev(out, "balloon", spec, 1);
}

/* DEV_ACK_FEATURES @acked, DEV_CONNECT, fresh views of the three rings. */
static int bt_connect(struct hv *hv, struct dev *d, struct pvkit_ring *fe,
		      uint64_t acked)
{
	unsigned int i;
	int64_t ret;

	ret = hvt_call(hv, PVKIT_HC_DEV_ACK_FEATURES, d->slot, acked, 0, 0);
	if (!ret)
		ret = hvt_call(hv, PVKIT_HC_DEV_CONNECT, d->slot, 0, 0, 0);
	for (i = 0; !ret && i < PVKIT_BALLOON_NR_QUEUES; i++)
		ret = pvkit_ring_attach(&fe[i], hdr(hv, d, i), d->q[i].slots,
					d->q[i].req_size, d->q[i].rsp_size);
	return (int)ret;
}

FIXTURE_SETUP(bln)
{
	self->next_id = 1;
	ASSERT_EQ(0, bt_init(&self->hv, "on"));
	self->d = bln_find(self->hv);
	ASSERT_NE(NULL, self->d);
	ASSERT_EQ(PVKIT_DEV_STATE_OFFERED, self->d->state);
	ASSERT_EQ(PVKIT_BALLOON_F_KNOWN, self->d->features);
	ASSERT_EQ(0, bt_connect(self->hv, self->d, self->fe,
				PVKIT_BALLOON_F_KNOWN));
}

FIXTURE_TEARDOWN(bln)
{
	if (self->hv) {
		hvt_exit(self->hv);
		free(self->hv);
	}
}

/* One request on queue @qi; its response, or status 0xff on no answer. */
static struct pvkit_balloon_rsp bt_send(struct hv *hv, struct dev *d,
					struct pvkit_ring *fe, unsigned int qi,
					const void *rq, size_t len)
{
	struct pvkit_balloon_rsp rsp = { .status = 0xff };
	uint64_t end = ev_now_ms() + WAIT_MS;

	if (pvkit_ring_put_req(&fe[qi], rq, len))
		return rsp;
	pvkit_ring_push_reqs(&fe[qi]);
	kick(hv, d, qi);
	while (pvkit_ring_rsp_avail(&fe[qi]) <= 0 && ev_now_ms() < end)
		pump(hv, 5);
	if (pvkit_ring_rsp_avail(&fe[qi]) > 0)
		pvkit_ring_get_rsp(&fe[qi], &rsp, sizeof(rsp));
	return rsp;
}

/* A page list @e[@n] written at LIST_GPA, as op @op on queue @qi. */
static struct pvkit_balloon_rsp bt_list(struct hv *hv, struct dev *d,
					struct pvkit_ring *fe, unsigned int qi,
					uint8_t op, const uint64_t *e,
					uint32_t n, uint64_t id)
{
	uint64_t *list = (uint64_t *)(hv->gm.base + LIST_GPA);
	struct pvkit_balloon_req rq = {
		.id = htole64(id), .list_gpa = htole64(LIST_GPA),
		.nr_entries = htole32(n), .op = op,
	};
	uint32_t i;

	for (i = 0; i < n; i++)
		list[i] = htole64(e[i]);
	return bt_send(hv, d, fe, qi, &rq, sizeof(rq));
}

static uint64_t ram_allocated(struct hv *hv)
{
	struct stat st;

	return fstat(hv->ram_fd, &st) ? 0 : (uint64_t)st.st_blocks * 512;
}

/* Touch [gpa, gpa + len) with a pattern, so the RAM file holds it. */
static void fill(struct hv *hv, uint64_t gpa, uint64_t len, uint8_t v)
{
	memset(hv->gm.base + gpa, v, len);
}

static uint64_t ballooned(struct dev *d)
{
	return ((struct bln_map *)d->priv)->ballooned;
}

/* 4 KiB entries for [gpa, gpa + len) into @e; their number. */
static uint32_t entries_4k(uint64_t *e, uint64_t gpa, uint64_t len)
{
	uint32_t n = 0;
	uint64_t a;

	for (a = gpa; a < gpa + len; a += 4096)
		e[n++] = E4K(a);
	return n;
}

TEST_F(bln, inflate_releases_ram_deflate_gives_it_back)
{
	static uint64_t e[PVKIT_BALLOON_MAX_ENTRIES];
	struct pvkit_balloon_rsp r;
	uint64_t before, after, i;
	uint32_t n;

	fill(self->hv, 8 * MB, 16 * MB, 0x5a);
	before = ram_allocated(self->hv);
	ASSERT_LE(16 * MB, before);
	/* 16 MiB as 4096 4 KiB pages: one full list */
	n = entries_4k(e, 8 * MB, 16 * MB);
	ASSERT_EQ(PVKIT_BALLOON_MAX_ENTRIES, n);
	r = bt_list(self->hv, self->d, self->fe, 0, PVKIT_BALLOON_OP_INFLATE,
		    e, n, 7);
	ASSERT_EQ(PVKIT_BALLOON_S_OK, r.status);
	EXPECT_EQ(7, le64toh(r.id));
	EXPECT_EQ(4096, le32toh(r.done));
	EXPECT_EQ(4096, ballooned(self->d));
	after = ram_allocated(self->hv);
	/* the file really gave the memory back, not just a counter */
	EXPECT_GE(before - after, 16 * MB * 95 / 100)
		TH_LOG("allocated %llu -> %llu", (unsigned long long)before,
		       (unsigned long long)after);

	r = bt_list(self->hv, self->d, self->fe, 0, PVKIT_BALLOON_OP_DEFLATE,
		    e, n, 8);
	ASSERT_EQ(PVKIT_BALLOON_S_OK, r.status);
	EXPECT_EQ(0, ballooned(self->d));
	/* usable again: a new pattern reads back */
	fill(self->hv, 8 * MB, 16 * MB, 0xa5);
	for (i = 8 * MB; i < 24 * MB; i += 4093)
		ASSERT_EQ(0xa5, self->hv->gm.base[i]);
	EXPECT_LE(before, ram_allocated(self->hv) + MB);
}

TEST_F(bln, huge_entries_and_mixed_deflate)
{
	uint64_t e[512], before;
	struct pvkit_balloon_rsp r;
	uint32_t n;

	fill(self->hv, 16 * MB, 8 * MB, 1);
	before = ram_allocated(self->hv);
	e[0] = E2M(16 * MB);
	e[1] = E2M(18 * MB);
	e[2] = E2M(20 * MB);
	e[3] = E2M(22 * MB);
	r = bt_list(self->hv, self->d, self->fe, 0, PVKIT_BALLOON_OP_INFLATE,
		    e, 4, 1);
	ASSERT_EQ(PVKIT_BALLOON_S_OK, r.status);
	EXPECT_EQ(2048, le32toh(r.done));
	EXPECT_GE(before - ram_allocated(self->hv), 8 * MB * 95 / 100);
	/* a 2 MiB block given back as 512 4 KiB pages */
	n = entries_4k(e, 18 * MB, 2 * MB);
	r = bt_list(self->hv, self->d, self->fe, 0, PVKIT_BALLOON_OP_DEFLATE,
		    e, n, 2);
	ASSERT_EQ(PVKIT_BALLOON_S_OK, r.status);
	EXPECT_EQ(1536, ballooned(self->d));
}

TEST_F(bln, report_releases_free_blocks_uncounted)
{
	struct pvkit_balloon_rsp r;
	uint64_t e[2], before;

	fill(self->hv, 32 * MB, 8 * MB, 3);
	before = ram_allocated(self->hv);
	e[0] = (32 * MB) | 10;	/* 4 MiB */
	e[1] = (36 * MB) | 10;
	r = bt_list(self->hv, self->d, self->fe, 2, PVKIT_BALLOON_OP_REPORT,
		    e, 2, 3);
	ASSERT_EQ(PVKIT_BALLOON_S_OK, r.status);
	EXPECT_EQ(2048, le32toh(r.done));
	EXPECT_EQ(0, ballooned(self->d));
	EXPECT_GE(before - ram_allocated(self->hv), 8 * MB * 95 / 100);
}

TEST_F(bln, deflate_all_forgets)
{
	uint64_t e[4] = { E4K(MB), E4K(MB + 4096), E2M(4 * MB) };
	struct pvkit_balloon_req rq = { .id = htole64(9),
					.op = PVKIT_BALLOON_OP_DEFLATE_ALL };
	struct pvkit_balloon_rsp r;

	r = bt_list(self->hv, self->d, self->fe, 0, PVKIT_BALLOON_OP_INFLATE,
		    e, 3, 1);
	ASSERT_EQ(PVKIT_BALLOON_S_OK, r.status);
	r = bt_send(self->hv, self->d, self->fe, 0, &rq, sizeof(rq));
	ASSERT_EQ(PVKIT_BALLOON_S_OK, r.status);
	EXPECT_EQ(514, le32toh(r.done));
	EXPECT_EQ(0, ballooned(self->d));
	/* the same pages may be inflated again */
	r = bt_list(self->hv, self->d, self->fe, 0, PVKIT_BALLOON_OP_INFLATE,
		    e, 3, 2);
	EXPECT_EQ(PVKIT_BALLOON_S_OK, r.status);
}

TEST_F(bln, stats_kept_and_shown)
{
	struct pvkit_balloon_stats_req sr;
	struct pvkit_balloon_rsp r;
	struct jbuf jb;
	unsigned int i;

	memset(&sr, 0, sizeof(sr));
	sr.id = htole64(5);
	sr.valid = htole32((1U << PVKIT_BALLOON_STAT_FREE) |
			   (1U << PVKIT_BALLOON_STAT_TOTAL));
	for (i = 0; i < PVKIT_BALLOON_NR_STATS; i++)
		sr.stat[i] = htole64(1000 + i);
	r = bt_send(self->hv, self->d, self->fe, 1, &sr, sizeof(sr));
	ASSERT_EQ(PVKIT_BALLOON_S_OK, r.status);
	jb_init(&jb);
	jb_obj_begin(&jb);
	bln_json(self->hv, self->d, &jb);
	jb_obj_end(&jb);
	ASSERT_NE(NULL, jb.buf);
	EXPECT_NE(NULL, strstr(jb.buf, "\"free\":1004"));
	EXPECT_NE(NULL, strstr(jb.buf, "\"total\":1005"));
	/* only what valid says */
	EXPECT_EQ(NULL, strstr(jb.buf, "\"caches\""));
	jb_free(&jb);
}

/* The target and stats_seq change in place: generation, config vector. */
TEST_F(bln, target_is_a_config_change_in_place)
{
	struct pvkit_dev_entry *e = (struct pvkit_dev_entry *)
		(self->hv->shm + HV_DEVTAB_OFFSET) + self->d->slot;
	struct pvkit_balloon_config cfg;
	uint32_t gen = self->hv->generation, epoch = self->d->epoch;
	const char *bad[] = {
		"{\"cmd\":\"balloon\",\"target\":4097}",
		"{\"cmd\":\"balloon\",\"target\":-4096}",
		"{\"cmd\":\"balloon\",\"target\":1.5}",
		"{\"cmd\":\"balloon\",\"target\":68719476736}",	/* > RAM */
	};
	const char *ok = "{\"cmd\":\"balloon\",\"target\":33554432,\"stats\":true}";
	struct jbuf out;
	unsigned int i;

	hvt_evcount(self->hv->irq_fd[HV_VEC_CONFIG]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		jb_init(&out);
		ctl_handle(self->hv, bad[i], strlen(bad[i]), &out, NULL);
		EXPECT_NE(NULL, strstr(out.buf, "\"ok\":false")) TH_LOG("%s", bad[i]);
		jb_free(&out);
	}
	EXPECT_EQ(gen, self->hv->generation);
	jb_init(&out);
	ctl_handle(self->hv, ok, strlen(ok), &out, NULL);
	EXPECT_NE(NULL, strstr(out.buf, "\"target\":33554432")) TH_LOG("%s", out.buf);
	jb_free(&out);
	EXPECT_LT(gen, self->hv->generation);
	EXPECT_LE(1, hvt_evcount(self->hv->irq_fd[HV_VEC_CONFIG]));
	memcpy(&cfg, e->config, sizeof(cfg));
	EXPECT_EQ(8192, le64toh(cfg.target_pages));
	EXPECT_EQ(1, le32toh(cfg.stats_seq));
	EXPECT_EQ(16384, le64toh(cfg.ram_pages));
	/* the device stays as it was */
	EXPECT_EQ(PVKIT_DEV_STATE_CONNECTED, le32toh(e->state));
	EXPECT_EQ(epoch, le32toh(e->epoch));
}

/* Stats and reports the guest did not acknowledge: UNSUPP, no reset. */
TEST(unacked_queues_unsupp)
{
	struct pvkit_ring fe[PVKIT_BALLOON_NR_QUEUES];
	struct pvkit_balloon_stats_req sr = { .id = htole64(1) };
	struct pvkit_balloon_rsp r;
	uint64_t e = (8 * MB) | 9;
	struct hv *hv = NULL;
	struct dev *d;

	ASSERT_EQ(0, bt_init(&hv, "on"));
	d = bln_find(hv);
	ASSERT_EQ(0, bt_connect(hv, d, fe, 0));
	r = bt_send(hv, d, fe, 1, &sr, sizeof(sr));
	EXPECT_EQ(PVKIT_BALLOON_S_UNSUPP, r.status);
	r = bt_list(hv, d, fe, 2, PVKIT_BALLOON_OP_REPORT, &e, 1, 2);
	EXPECT_EQ(PVKIT_BALLOON_S_UNSUPP, r.status);
	/* without F_HUGE a 2 MiB entry is a bad list */
	r = bt_list(hv, d, fe, 0, PVKIT_BALLOON_OP_INFLATE, &e, 1, 3);
	EXPECT_EQ(PVKIT_BALLOON_S_INVAL, r.status);
	hvt_exit(hv);
	free(hv);
}

/*
 * Offered features follow the options; granule=2m releases a 2 MiB
 * block only once all of it is in the balloon, and keeps small reports.
 */
TEST(granule_2m)
{
	struct pvkit_ring fe[PVKIT_BALLOON_NR_QUEUES];
	static uint64_t e[512];
	struct pvkit_balloon_rsp r;
	struct hv *hv = NULL;
	uint64_t before;
	struct dev *d;
	uint32_t n;

	ASSERT_EQ(0, bt_init(&hv, "granule=2m,stats=off,target=16M"));
	d = bln_find(hv);
	ASSERT_NE(NULL, d);
	EXPECT_EQ(PVKIT_BALLOON_F_KNOWN & ~PVKIT_BALLOON_F_STATS, d->features);
	EXPECT_EQ(9, ((struct pvkit_balloon_config *)d->config)->host_order);
	EXPECT_EQ(4096, le64toh(((struct pvkit_balloon_config *)
				 d->config)->target_pages));
	ASSERT_EQ(0, bt_connect(hv, d, fe, d->features));
	fill(hv, 10 * MB, 4 * MB, 9);
	fill(hv, LIST_GPA, 64 << 10, 0);	/* the list's pages, once */
	before = ram_allocated(hv);
	n = entries_4k(e, 10 * MB, 2 * MB);
	r = bt_list(hv, d, fe, 0, PVKIT_BALLOON_OP_INFLATE, e, n - 1, 1);
	ASSERT_EQ(PVKIT_BALLOON_S_OK, r.status);
	EXPECT_GE(ram_allocated(hv) + 8192, before);	/* nothing yet */
	r = bt_list(hv, d, fe, 0, PVKIT_BALLOON_OP_INFLATE, e + n - 1, 1, 2);
	ASSERT_EQ(PVKIT_BALLOON_S_OK, r.status);
	EXPECT_GE(before - ram_allocated(hv), 2 * MB);	/* the whole block */
	/* a 1 MiB report is kept, a 2 MiB one released */
	before = ram_allocated(hv);
	e[0] = (12 * MB) | 8;
	r = bt_list(hv, d, fe, 2, PVKIT_BALLOON_OP_REPORT, e, 1, 3);
	ASSERT_EQ(PVKIT_BALLOON_S_OK, r.status);
	EXPECT_GE(ram_allocated(hv) + 8192, before);
	e[0] = (12 * MB) | 9;
	r = bt_list(hv, d, fe, 2, PVKIT_BALLOON_OP_REPORT, e, 1, 4);
	ASSERT_EQ(PVKIT_BALLOON_S_OK, r.status);
	EXPECT_GE(before - ram_allocated(hv), 2 * MB);
	hvt_exit(hv);
	free(hv);
}

TEST(bad_options)
{
	const char *bad[] = { "", "off", "target=1k", "target=x",
			      "granule=1m", "on,on", "huge=no", "target=4G" };
	struct hv_opts o;
	char err[256];
	unsigned int i;
	struct hv *hv = NULL;

	for (i = 0; i < 7; i++) {
		err[0] = '\0';
		EXPECT_EQ(-EINVAL, kind_parse(kind_by_option("balloon"),
					      &o.devs[0], bad[i], err,
					      sizeof(err))) TH_LOG("%s", bad[i]);
		EXPECT_NE('\0', err[0]);
	}
	/* a target above the guest's RAM: the VM does not start */
	EXPECT_NE(0, bt_init(&hv, bad[7]));
	if (hv) {
		hvt_exit(hv);
		free(hv);
	}
}

/* ------------------------------------------------------ bad page lists */

struct bad_list {
	const char *name;
	unsigned int qi;
	uint8_t op;
	uint64_t pre[4];	/* inflated first (4 KiB or 2 MiB entries) */
	unsigned int npre;
	uint64_t e[4];		/* the bad list */
	unsigned int n;
	uint32_t bad;		/* the index the host must name */
	uint64_t list_gpa;	/* 0: LIST_GPA */
	uint32_t nr;		/* 0: n */
	uint8_t rsvd;		/* a reserved request byte */
};

static const struct bad_list bad_cases[] = {
	{ "outside RAM", 0, PVKIT_BALLOON_OP_INFLATE, {}, 0,
	  { E4K(MB), E4K(MEM) }, 2, 1, 0, 0, 0 },
	{ "in the PCI hole", 0, PVKIT_BALLOON_OP_INFLATE, {}, 0,
	  { E4K(0xfe000000ULL) }, 1, 0, 0, 0, 0 },
	{ "far beyond RAM", 0, PVKIT_BALLOON_OP_INFLATE, {}, 0,
	  { E4K(0xfffffffffffff000ULL) }, 1, 0, 0, 0, 0 },
	{ "2 MiB crossing the end of RAM", 0, PVKIT_BALLOON_OP_INFLATE, {}, 0,
	  { E2M(MEM - 2 * MB), E2M(MEM) }, 2, 1, 0, 0, 0 },
	{ "misaligned 2 MiB", 0, PVKIT_BALLOON_OP_INFLATE, {}, 0,
	  { E2M(2 * MB + 4096) }, 1, 0, 0, 0, 0 },
	{ "order 5 inflate", 0, PVKIT_BALLOON_OP_INFLATE, {}, 0,
	  { (4 * MB) | 5 }, 1, 0, 0, 0, 0 },
	{ "reserved entry bits", 0, PVKIT_BALLOON_OP_INFLATE, {}, 0,
	  { E4K(MB), E4K(2 * MB) | 0x40 }, 2, 1, 0, 0, 0 },
	{ "duplicate in one list", 0, PVKIT_BALLOON_OP_INFLATE, {}, 0,
	  { E4K(MB), E4K(MB + 4096), E4K(MB) }, 3, 2, 0, 0, 0 },
	{ "4 KiB inside a 2 MiB of the same list", 0,
	  PVKIT_BALLOON_OP_INFLATE, {}, 0,
	  { E2M(4 * MB), E4K(5 * MB) }, 2, 1, 0, 0, 0 },
	{ "already ballooned", 0, PVKIT_BALLOON_OP_INFLATE,
	  { E2M(6 * MB) }, 1, { E4K(MB), E4K(7 * MB) }, 2, 1, 0, 0, 0 },
	{ "deflate never inflated", 0, PVKIT_BALLOON_OP_DEFLATE,
	  { E4K(MB) }, 1, { E4K(MB), E4K(MB + 4096) }, 2, 1, 0, 0, 0 },
	{ "deflate 2 MiB half inflated", 0, PVKIT_BALLOON_OP_DEFLATE,
	  { E4K(8 * MB) }, 1, { E2M(8 * MB) }, 1, 0, 0, 0, 0 },
	{ "deflate twice in one list", 0, PVKIT_BALLOON_OP_DEFLATE,
	  { E4K(MB) }, 1, { E4K(MB), E4K(MB) }, 2, 1, 0, 0, 0 },
	{ "report of ballooned pages", 2, PVKIT_BALLOON_OP_REPORT,
	  { E4K(10 * MB) }, 1, { (10 * MB) | 9 }, 1, 0, 0, 0, 0 },
	{ "report order above max", 2, PVKIT_BALLOON_OP_REPORT, {}, 0,
	  { 19 }, 1, 0, 0, 0, 0 },
	{ "report on the pages queue", 0, PVKIT_BALLOON_OP_REPORT, {}, 0,
	  { E4K(MB) }, 1, 0, 0, 0, 0 },
	{ "inflate on the report queue", 2, PVKIT_BALLOON_OP_INFLATE, {}, 0,
	  { E4K(MB) }, 1, 0, 0, 0, 0 },
	{ "unknown op", 0, 9, {}, 0, { E4K(MB) }, 1, 0, 0, 0, 0 },
	{ "no entries", 0, PVKIT_BALLOON_OP_INFLATE, {}, 0, {}, 0, 0, 0, 0, 0 },
	{ "huge count", 0, PVKIT_BALLOON_OP_INFLATE, {}, 0, { E4K(MB) }, 1,
	  0, 0, 0xffffffffU, 0 },
	{ "one past the max", 0, PVKIT_BALLOON_OP_INFLATE, {}, 0,
	  { E4K(MB) }, 1, 0, 0, PVKIT_BALLOON_MAX_ENTRIES + 1, 0 },
	{ "list outside RAM", 0, PVKIT_BALLOON_OP_INFLATE, {}, 0,
	  { E4K(MB) }, 1, 0, MEM + 4096, 0, 0 },
	{ "list crossing the end of RAM", 0, PVKIT_BALLOON_OP_INFLATE, {}, 0,
	  { E4K(MB) }, 1, 0, MEM - 8, 2, 0 },
	{ "list misaligned", 0, PVKIT_BALLOON_OP_INFLATE, {}, 0, { E4K(MB) },
	  1, 0, LIST_GPA + 4, 0, 0 },
	{ "reserved request byte", 0, PVKIT_BALLOON_OP_INFLATE, {}, 0,
	  { E4K(MB) }, 1, 0, 0, 0, 1 },
	{ "deflate-all with a list", 0, PVKIT_BALLOON_OP_DEFLATE_ALL, {}, 0,
	  { E4K(MB) }, 1, 0, 0, 0, 0 },
};

/* Each bad list: INVAL naming the entry, counted, reset, balloon as it was. */
TEST(bad_lists_refused_whole)
{
	unsigned int i;

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_list *b = &bad_cases[i];
		struct pvkit_ring fe[PVKIT_BALLOON_NR_QUEUES];
		struct pvkit_balloon_req rq;
		struct pvkit_balloon_rsp r;
		uint64_t *list, held;
		struct hv *hv = NULL;
		struct dev *d;
		uint32_t epoch;
		unsigned int k;

		ASSERT_EQ(0, bt_init(&hv, "on"));
		d = bln_find(hv);
		ASSERT_EQ(0, bt_connect(hv, d, fe, PVKIT_BALLOON_F_KNOWN));
		if (b->npre) {
			r = bt_list(hv, d, fe, 0, PVKIT_BALLOON_OP_INFLATE,
				    b->pre, b->npre, 100);
			ASSERT_EQ(PVKIT_BALLOON_S_OK, r.status) TH_LOG("%s", b->name);
		}
		held = ballooned(d);
		epoch = d->epoch;
		list = (uint64_t *)(hv->gm.base + LIST_GPA);
		for (k = 0; k < b->n; k++)
			list[k] = htole64(b->e[k]);
		memset(&rq, 0, sizeof(rq));
		rq.id = htole64(200 + i);
		rq.op = b->op;
		rq.list_gpa = htole64(b->list_gpa ?: LIST_GPA);
		rq.nr_entries = htole32(b->nr ?: b->n);
		rq.reserved[1] = b->rsvd;
		if (b->op == PVKIT_BALLOON_OP_DEFLATE_ALL && !b->n)
			rq.list_gpa = 0;
		r = bt_send(hv, d, fe, b->qi, &rq, sizeof(rq));
		EXPECT_EQ(PVKIT_BALLOON_S_INVAL, r.status) TH_LOG("%s", b->name);
		EXPECT_EQ(200 + i, le64toh(r.id)) TH_LOG("%s", b->name);
		EXPECT_EQ(b->bad, le32toh(r.done)) TH_LOG("%s", b->name);
		EXPECT_EQ(held, ballooned(d)) TH_LOG("%s", b->name);
		EXPECT_EQ(1, d->violations) TH_LOG("%s", b->name);
		/* reset: RESETTING, then OFFERED in a new epoch */
		EXPECT_TRUE(wait_state(hv, d, PVKIT_DEV_STATE_OFFERED,
				       epoch + 1, WAIT_MS))
			TH_LOG("%s: state %s epoch %u", b->name,
			       dev_state_name(d->state), d->epoch);
		/* and the guest can connect again and be served */
		ASSERT_EQ(0, bt_connect(hv, d, fe, PVKIT_BALLOON_F_KNOWN));
		r = bt_list(hv, d, fe, 0, PVKIT_BALLOON_OP_INFLATE,
			    &(uint64_t){ E4K(40 * MB) }, 1, 1);
		EXPECT_EQ(PVKIT_BALLOON_S_OK, r.status) TH_LOG("%s", b->name);
		hvt_exit(hv);
		free(hv);
	}
}

TEST_HARNESS_MAIN
