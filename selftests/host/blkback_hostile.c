// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: pvkit-blkback against a hostile guest and a broken
 * host: every malformed request of ABI.md section 9 gets its error
 * status (and the back-end still serves a valid request right after), ring
 * index violations stop only that queue with a PVKIT_BE_ERROR, requests
 * rewritten while the back-end reads them never make it touch memory
 * outside guest RAM, and an image shrinking under it gives IOERR.
 * (Malformed SETUPs and control messages from a broken hypervisor are in
 * be_control.c, which runs them against every back-end.)
 *
 * Run the asan variant to have the back-end itself built with ASan/UBSan.
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "blkback_fe.h"

#define IMG_SIZE	(32ULL << 20)
#define SHM_DIR		"/dev/shm"

/* guest-physical addresses used by the cases */
#define G_DATA		(5 * FE_WIN_SIZE + FE_WIN_DATA)	/* window 10 */
#define G_IND		(10 * FE_WIN_SIZE)	/* window 20: arrays, 1 MiB */
#define G_HOLE		FE_LO_SIZE		/* first byte of the hole */
#define G_RAM_END	(FE_HI_GPA + FE_HI_SIZE)
/* sectors within 1M of CAP are relative to the capacity: CAP - 8 = last 8 */
#define CAP		(1ULL << 62)

struct hseg {
	uint64_t gpa;
	uint32_t len;
	uint32_t reserved;
};

/*
 * One malformed (or boundary) request.  Segments: @nseg entries of seg[],
 * or, with nseg == 0, nr_segs valid 512-byte segments.  With
 * PVKIT_BLK_RQ_INDIRECT they go to @ind (default G_IND) when that lies in
 * RAM.  @sector with CAP set is relative to the capacity.
 */
struct hcase {
	const char *name;
	uint8_t op;
	uint8_t flags;
	uint16_t nr_segs;
	uint32_t nr_sectors;
	uint64_t sector;
	uint64_t ind;
	uint64_t raw_ind;	/* indirect_gpa written without the flag */
	unsigned int nseg;
	struct hseg seg[4];
	uint8_t status;
};

#define R	PVKIT_BLK_OP_READ
#define W	PVKIT_BLK_OP_WRITE
#define F	PVKIT_BLK_OP_FLUSH
#define D	PVKIT_BLK_OP_DISCARD
#define Z	PVKIT_BLK_OP_WRITE_ZEROES
#define ID	PVKIT_BLK_OP_GET_ID
#define IND	PVKIT_BLK_RQ_INDIRECT
#define FUA	PVKIT_BLK_RQ_FUA
#define OK	PVKIT_BLK_S_OK
#define INVAL	PVKIT_BLK_S_INVAL
#define RANGE	PVKIT_BLK_S_RANGE
#define UNSUPP	PVKIT_BLK_S_UNSUPP
#define ONE(g, l)	.nseg = 1, .seg = { { (g), (l), 0 } }

static const struct hcase cases[] = {
	/* sector ranges */
	{ "last 8 sectors", R, 0, 1, 0, CAP - 8, ONE(G_DATA, 4096), .status = OK },
	{ "sector == capacity", R, 0, 1, 0, CAP, ONE(G_DATA, 512), .status = RANGE },
	{ "sector + len past capacity", R, 0, 1, 0, CAP - 4, ONE(G_DATA, 4096), .status = RANGE },
	{ "write past capacity", W, 0, 1, 0, CAP - 1, ONE(G_DATA, 1024), .status = RANGE },
	{ "sector + len overflows", R, 0, 1, 0, ~0ULL - 3, ONE(G_DATA, 4096), .status = RANGE },
	{ "sector 2^63 - 1", W, 0, 1, 0, (1ULL << 63) - 1, ONE(G_DATA, 512), .status = RANGE },
	/* guest-physical ranges */
	{ "gpa in the hole", R, 0, 1, 0, 0, ONE(G_HOLE, 512), .status = INVAL },
	{ "gpa straddles the hole", R, 0, 1, 0, 0, ONE(G_HOLE - 512, 1024), .status = INVAL },
	{ "gpa just below 4G", W, 0, 1, 0, 0, ONE(FE_HI_GPA - 512, 512), .status = INVAL },
	{ "gpa past end of RAM", R, 0, 1, 0, 0, ONE(G_RAM_END - 512, 1024), .status = INVAL },
	{ "gpa at end of RAM", R, 0, 1, 0, 0, ONE(G_RAM_END, 512), .status = INVAL },
	{ "gpa wraps", R, 0, 1, 0, 0, ONE(~0ULL - 511, 1024), .status = INVAL },
	{ "gpa 2^60", R, 0, 1, 0, 0, ONE(1ULL << 60, 512), .status = INVAL },
	{ "last 512 bytes of RAM", R, 0, 1, 0, 0, ONE(G_RAM_END - 512, 512), .status = OK },
	{ "last bytes below the hole", R, 0, 1, 0, 0, ONE(G_HOLE - 4096, 4096), .status = OK },
	{ "unaligned gpa (+1)", R, 0, 1, 0, 0, ONE(G_DATA + 1, 512), .status = INVAL },
	{ "unaligned gpa (+256)", W, 0, 1, 0, 0, ONE(G_DATA + 256, 512), .status = INVAL },
	{ "unaligned len 511", R, 0, 1, 0, 0, ONE(G_DATA, 511), .status = INVAL },
	{ "unaligned len 1000", W, 0, 1, 0, 0, ONE(G_DATA, 1000), .status = INVAL },
	{ "zero-length segment", R, 0, 1, 0, 0, ONE(G_DATA, 0), .status = INVAL },
	{ "zero-length second segment", R, 0, 2, 0, 0, .nseg = 2,
	  .seg = { { G_DATA, 512, 0 }, { G_DATA + 512, 0, 0 } }, .status = INVAL },
	{ "len 0xffffffff", R, 0, 1, 0, 0, ONE(G_DATA, 0xffffffffU), .status = INVAL },
	{ "segment > max_segment_size", R, 0, 1, 0, 0, ONE(0, 2 << 20), .status = INVAL },
	{ "total > max_sectors", R, IND, 3, 0, 0, .nseg = 3,
	  .seg = { { 0, 512 << 10, 0 }, { 512 << 10, 512 << 10, 0 },
		   { 1 << 20, 512 << 10, 0 } }, .status = INVAL },
	{ "segment reserved != 0", R, 0, 1, 0, 0, .nseg = 1,
	  .seg = { { G_DATA, 512, 1 } }, .status = INVAL },
	{ "indirect segment reserved != 0", W, IND, 2, 0, 0, .nseg = 2,
	  .seg = { { G_DATA, 512, 0 }, { G_DATA + 512, 512, 0x80000000 } },
	  .status = INVAL },
	/* segment counts */
	{ "read nr_segs 0", R, 0, 0, 0, 0, .status = INVAL },
	{ "write nr_segs 0", W, 0, 0, 0, 0, .status = INVAL },
	{ "indirect nr_segs 0", R, IND, 0, 0, 0, .status = INVAL },
	{ "inline nr_segs 6", R, 0, 6, 0, 0, .status = OK },
	{ "inline nr_segs 7", R, 0, 7, 0, 0, .status = INVAL },
	{ "inline nr_segs 65535", W, 0, 65535, 0, 0, .status = INVAL },
	{ "indirect nr_segs 256", W, IND, 256, 0, 0, .status = OK },
	{ "indirect nr_segs 257", R, IND, 257, 0, 0, .status = INVAL },
	{ "indirect nr_segs 65535", R, IND, 65535, 0, 0, .status = INVAL },
	/* indirect arrays */
	{ "indirect array in the hole", R, IND, 4, 0, 0, .ind = G_HOLE, .status = INVAL },
	{ "indirect array straddles the hole", R, IND, 4, 0, 0, .ind = G_HOLE - 32, .status = INVAL },
	{ "indirect array past end of RAM", R, IND, 2, 0, 0, .ind = G_RAM_END - 16, .status = INVAL },
	{ "indirect array at 2^64 - 16", R, IND, 2, 0, 0, .ind = ~0ULL - 15, .status = INVAL },
	{ "indirect array at end of RAM", R, IND, 1, 0, 0, .ind = G_RAM_END - 16, .status = OK },
	{ "indirect segment in the hole", R, IND, 2, 0, 0, .nseg = 2,
	  .seg = { { G_DATA, 512, 0 }, { G_HOLE, 512, 0 } }, .status = INVAL },
	{ "indirect_gpa without INDIRECT", R, 0, 1, 0, 0, .raw_ind = G_IND, ONE(G_DATA, 512), .status = INVAL },
	/* ops and flags */
	{ "op 6", 6, 0, 1, 0, 0, ONE(G_DATA, 512), .status = UNSUPP },
	{ "op 0x80", 0x80, 0, 0, 0, 0, .status = UNSUPP },
	{ "op 255", 255, 0xff, 0xffff, 0xffffffff, ~0ULL, .status = UNSUPP },
	{ "flag 0x04", R, 0x04, 1, 0, 0, ONE(G_DATA, 512), .status = INVAL },
	{ "flags 0x80", W, 0x80, 1, 0, 0, ONE(G_DATA, 512), .status = INVAL },
	{ "FUA on read", R, FUA, 1, 0, 0, ONE(G_DATA, 512), .status = INVAL },
	{ "FUA on flush", F, FUA, 0, 0, 0, .status = INVAL },
	{ "FUA write", W, FUA, 1, 0, 0, ONE(G_DATA, 512), .status = OK },
	{ "INDIRECT on flush", F, IND, 0, 0, 0, .status = INVAL },
	{ "INDIRECT on discard", D, IND, 0, 8, 0, .status = INVAL },
	{ "read with nr_sectors", R, 0, 1, 8, 0, ONE(G_DATA, 4096), .status = INVAL },
	{ "flush with sector", F, 0, 0, 0, 8, .status = INVAL },
	{ "flush with nr_segs", F, 0, 1, 0, 0, ONE(G_DATA, 512), .status = INVAL },
	{ "flush with nr_sectors", F, 0, 0, 8, 0, .status = INVAL },
	{ "flush", F, 0, 0, 0, 0, .status = OK },
	/* discard / write-zeroes */
	{ "discard 0 sectors", D, 0, 0, 0, 0, .status = INVAL },
	{ "discard with a segment", D, 0, 1, 8, 0, ONE(G_DATA, 512), .status = INVAL },
	{ "discard past capacity", D, 0, 0, 16, CAP - 8, .status = RANGE },
	{ "discard overflows", D, 0, 0, 16, ~0ULL - 7, .status = RANGE },
	{ "discard > max_discard_sectors", D, 0, 0, 0xffffffff, 0, .status = INVAL },
	{ "discard last sectors", D, 0, 0, 8, CAP - 8, .status = OK },
	{ "write-zeroes 0 sectors", Z, 0, 0, 0, 0, .status = INVAL },
	{ "write-zeroes overflows", Z, 0, 0, 8, ~0ULL, .status = RANGE },
	{ "write-zeroes FUA", Z, FUA, 0, 8, 0, .status = INVAL },
	/* GET_ID */
	{ "get-id 19-byte segment", ID, 0, 1, 0, 0, ONE(G_DATA, 19), .status = INVAL },
	{ "get-id 2 segments", ID, 0, 2, 0, 0, .status = INVAL },
	{ "get-id in the hole", ID, 0, 1, 0, 0, ONE(G_HOLE - 8, 20), .status = INVAL },
	{ "get-id with sector", ID, 0, 1, 0, 1, ONE(G_DATA, 512), .status = INVAL },
	{ "get-id unaligned 20 bytes", ID, 0, 1, 0, 0, ONE(G_DATA + 3, 20), .status = OK },
};

/* Fill @rq for case @c; capacity @cap in sectors. */
static void build_case(struct fe *fe, const struct hcase *c, uint64_t id,
		       uint64_t cap, struct pvkit_blk_req *rq)
{
	uint64_t ind = c->ind ? c->ind : G_IND;
	unsigned int n = c->nseg ? c->nseg : c->nr_segs, i;
	struct pvkit_blk_seg *segs = NULL;

	memset(rq, 0, sizeof(*rq));
	rq->id = htole64(id);
	rq->op = c->op;
	rq->flags = c->flags;
	rq->nr_segs = htole16(c->nr_segs);
	rq->nr_sectors = htole32(c->nr_sectors);
	if (c->sector >= CAP - (1ULL << 20) && c->sector <= CAP + (1ULL << 20))
		rq->sector = htole64(cap + (c->sector - CAP));
	else
		rq->sector = htole64(c->sector);

	if (c->flags & IND) {
		rq->indirect_gpa = htole64(ind);
		/* write the array only where it is RAM (else: the case) */
		segs = fe_gpa(fe, ind, (uint64_t)n * sizeof(*segs));
	} else {
		if (c->raw_ind)
			rq->indirect_gpa = htole64(c->raw_ind);
		segs = rq->seg;
		if (n > PVKIT_BLK_INLINE_SEGS)
			n = PVKIT_BLK_INLINE_SEGS;
	}
	for (i = 0; segs && i < n; i++) {
		if (c->nseg) {
			segs[i].gpa = htole64(c->seg[i].gpa);
			segs[i].len = htole32(c->seg[i].len);
			segs[i].reserved = htole32(c->seg[i].reserved);
		} else {
			segs[i].gpa = htole64(G_DATA + i * 512ULL);
			segs[i].len = htole32(512);
			segs[i].reserved = 0;
		}
	}
}

/* The 6.1 harness has per-test timeouts only for fixtures. */
FIXTURE(slow) {
	int unused;
};

FIXTURE_SETUP(slow)
{
}

FIXTURE_TEARDOWN(slow)
{
}

/* Start a connected back-end on a tmpfs image; false if skipped. */
static bool start_fe(struct __test_metadata *_metadata, struct fe *fe,
		     const char *args, unsigned int nq, unsigned int slots)
{
	return fe_start_test(_metadata, fe, SHM_DIR, IMG_SIZE, args, nq,
			     slots, 17);
}

TEST_F_TIMEOUT(slow, bad_requests, 120)
{
	struct pvkit_be_stats st;
	struct pvkit_blk_req rq;
	struct fe fe = { 0 };
	uint64_t seed = 99, errors = 0;
	unsigned int i, q;
	int ret;

	if (!start_fe(_metadata, &fe, "", 2, 16))
		return;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct hcase *c = &cases[i];

		q = i & 1;
		build_case(&fe, c, 0xbad0000 + i, fe.cfg.capacity, &rq);
		ret = fe_do(&fe, q, &rq);
		EXPECT_EQ(c->status, ret) TH_LOG("case \"%s\"", c->name);
		if (c->status != OK)
			errors++;
		/* still alive, still right */
		ASSERT_TRUE(fe_alive(&fe)) TH_LOG("died at \"%s\"", c->name);
		ret = fe_check_io(&fe, q, (i * 8) % 4096, 4096, &seed);
		ASSERT_EQ(0, ret) TH_LOG("valid I/O after \"%s\": %d",
					 c->name, ret);
	}
	ASSERT_EQ(0, fe_stats(&fe, &st));
	EXPECT_EQ(errors, st.q[0].errors + st.q[1].errors);
	TH_LOG("%zu cases, %llu answered with an error", ARRAY_SIZE(cases),
	       (unsigned long long)errors);
	fe_destroy(&fe);
}

/* The same cases, all published in one batch, then one valid request. */
TEST_F_TIMEOUT(slow, bad_requests_batched, 60)
{
	struct pvkit_blk_req rq;
	struct pvkit_blk_rsp rsp;
	struct fe fe = { 0 };
	uint64_t seed = 5, seen[ARRAY_SIZE(cases)] = { 0 };
	unsigned int i, got = 0, queued = 0;

	if (!start_fe(_metadata, &fe, "", 1, 128))
		return;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		build_case(&fe, &cases[i], i, fe.cfg.capacity, &rq);
		/* cases share arrays here: statuses are not checked */
		ASSERT_EQ(0, fe_queue_req(&fe, 0, &rq));
		queued++;
	}
	fe_push(&fe, 0);
	while (got < queued) {
		ASSERT_EQ(0, fe_get_rsp(&fe, 0, &rsp, 5000));
		i = le64toh(rsp.id);
		ASSERT_LT(i, ARRAY_SIZE(cases));
		EXPECT_EQ(0, seen[i]++) TH_LOG("duplicate answer");
		got++;
	}
	ASSERT_EQ(0, fe_check_io(&fe, 0, 64, 65536, &seed));
	fe_destroy(&fe);
}

/* Features the guest did not acknowledge are refused. */
TEST(unnegotiated)
{
	static const struct hcase c[] = {
		{ "flush", F, 0, 0, 0, 0, .status = UNSUPP },
		{ "discard", D, 0, 0, 8, 0, .status = UNSUPP },
		{ "write-zeroes", Z, 0, 0, 8, 0, .status = UNSUPP },
		{ "indirect", R, IND, 2, 0, 0, .status = INVAL },
		{ "FUA", W, FUA, 1, 0, 0, ONE(G_DATA, 512), .status = INVAL },
		{ "plain read", R, 0, 2, 0, 0, .status = OK },
		{ "plain write", W, 0, 6, 0, 0, .status = OK },
	};
	struct pvkit_blk_req rq;
	struct fe fe = { 0 };
	unsigned int i;

	if (!start_fe(_metadata, &fe, "", 1, 16))
		return;
	ASSERT_EQ(0, fe_disconnect(&fe));
	ASSERT_EQ(0, fe_connect(&fe, 0));
	for (i = 0; i < ARRAY_SIZE(c); i++) {
		build_case(&fe, &c[i], i, fe.cfg.capacity, &rq);
		EXPECT_EQ(c[i].status, fe_do(&fe, 0, &rq))
			TH_LOG("case \"%s\"", c[i].name);
	}
	fe_destroy(&fe);
}

TEST(read_only_disk)
{
	static const struct hcase c[] = {
		{ "write", W, 0, 1, 0, 0, ONE(G_DATA, 4096), .status = PVKIT_BLK_S_RO },
		{ "FUA write", W, FUA, 1, 0, 0, ONE(G_DATA, 512), .status = PVKIT_BLK_S_RO },
		{ "indirect write", W, IND, 8, 0, 0, .status = PVKIT_BLK_S_RO },
		{ "discard", D, 0, 0, 8, 0, .status = PVKIT_BLK_S_RO },
		{ "write-zeroes", Z, 0, 0, 8, 0, .status = PVKIT_BLK_S_RO },
		{ "read", R, 0, 1, 0, 0, ONE(G_DATA, 4096), .status = OK },
		{ "flush", F, 0, 0, 0, 0, .status = OK },
	};
	struct pvkit_blk_req rq;
	struct fe fe = { 0 };
	unsigned int i;

	if (!start_fe(_metadata, &fe, "ro", 1, 16))
		return;
	for (i = 0; i < ARRAY_SIZE(c); i++) {
		build_case(&fe, &c[i], i, fe.cfg.capacity, &rq);
		EXPECT_EQ(c[i].status, fe_do(&fe, 0, &rq))
			TH_LOG("case \"%s\"", c[i].name);
	}
	fe_destroy(&fe);
}

/*
 * req_prod more than a ring ahead: that queue stops, pvkit-hv gets an
 * ERROR with -EPROTO, the process and the other queues live on, and a
 * DISCONNECT/CONNECT cycle (the hv's reset) brings the queue back.
 */
static void index_violation(struct __test_metadata *_metadata,
			    uint32_t (*bad_prod)(struct pvkit_ring *r))
{
	struct pvkit_be_stats st;
	struct fe fe = { 0 };
	uint64_t seed = 1;
	int ret;

	if (!start_fe(_metadata, &fe, "", 2, 16))
		return;
	ASSERT_EQ(0, fe_check_io(&fe, 0, 0, 4096, &seed));
	__atomic_store_n(&fe.q[0].ring.hdr->req_prod,
			 htole32(bad_prod(&fe.q[0].ring)), __ATOMIC_RELEASE);
	eventfd_write(fe.q[0].kick_fd, 1);

	ret = fe_expect(&fe, 0, NULL, 0, 5000);
	ASSERT_EQ(1, ret) TH_LOG("no ERROR message (%d)", ret);
	EXPECT_EQ(-EPROTO, fe.err_code);
	EXPECT_NE(NULL, strstr(fe.err_msg, "queue 0")) TH_LOG("%s",
							     fe.err_msg);
	TH_LOG("ERROR: %s", fe.err_msg);

	/* alive; the other queue works; STATS works */
	usleep(10000);
	ASSERT_TRUE(fe_alive(&fe));
	EXPECT_EQ(0, fe_check_io(&fe, 1, 8, 8192, &seed));
	ASSERT_EQ(0, fe_stats(&fe, &st));
	EXPECT_EQ(2, st.nr_queues);

	/* the hv resets the device */
	ASSERT_EQ(0, fe_disconnect(&fe));
	ASSERT_EQ(0, fe_connect(&fe, fe.features));
	EXPECT_EQ(0, fe_check_io(&fe, 0, 16, 4096, &seed));
	EXPECT_EQ(0, fe_check_io(&fe, 1, 24, 4096, &seed));
	fe_destroy(&fe);
}

static uint32_t prod_ring_plus_one(struct pvkit_ring *r)
{
	return r->req_prod_pvt + r->slots + 1;
}

static uint32_t prod_behind(struct pvkit_ring *r)
{
	return r->req_prod_pvt - 1;
}

static uint32_t prod_far(struct pvkit_ring *r)
{
	return r->req_prod_pvt + 0x80000000U;
}

TEST(index_ahead)
{
	index_violation(_metadata, prod_ring_plus_one);
}

TEST(index_behind)
{
	index_violation(_metadata, prod_behind);
}

TEST(index_far)
{
	index_violation(_metadata, prod_far);
}

/*
 * A guest that keeps publishing a full ring without ever consuming
 * responses (legal from the back-end's view: each batch is one ring ahead
 * at most) gets answers, and the back-end's in-flight count stays bounded.
 */
TEST_F_TIMEOUT(slow, republish_flood, 60)
{
	struct pvkit_be_stats st;
	struct pvkit_blk_req rq;
	struct fe fe = { 0 };
	struct pvkit_ring *r;
	uint32_t prod = 0, i, round, slots = 32;
	uint64_t seed = 3;
	int spins;

	if (!start_fe(_metadata, &fe, "", 1, slots))
		return;
	r = &fe.q[0].ring;
	for (round = 0; round < 50; round++) {
		for (i = 0; i < slots; i++) {
			struct fe_io io;

			fe_build_rw(&fe, &io, i & 1 ? PVKIT_BLK_OP_WRITE :
				    PVKIT_BLK_OP_READ, prod + i, i * 256,
				    128 << 10, i, -1, NULL, &seed);
			memcpy(r->req + ((prod + i) & (slots - 1)) *
			       r->req_size, &io.rq, sizeof(io.rq));
		}
		prod += slots;
		__atomic_store_n(&r->hdr->req_prod, htole32(prod),
				 __ATOMIC_RELEASE);
		eventfd_write(fe.q[0].kick_fd, 1);
		for (spins = 0; spins < 5000; spins++) {
			if (le32toh(__atomic_load_n(&r->hdr->rsp_prod,
						    __ATOMIC_ACQUIRE)) == prod)
				break;
			usleep(1000);
		}
		ASSERT_EQ(prod, le32toh(r->hdr->rsp_prod));
	}
	ASSERT_EQ(0, fe_stats(&fe, &st));
	EXPECT_EQ(50 * slots, st.q[0].requests);
	EXPECT_EQ(0, st.q[0].errors);
	/* bring the private view in line, then do normal I/O */
	r->req_prod_pvt = r->req_pushed = r->rsp_cons = prod;
	fe_drain_irqs(&fe, 0);
	EXPECT_EQ(0, fe_check_io(&fe, 0, 0, 4096, &seed));
	ASSERT_TRUE(fe_alive(&fe));
	(void)rq;
	fe_destroy(&fe);
}

/*
 * The guest rewrites published request slots and an indirect array while
 * the back-end copies them: every answer is OK or INVAL with the right id,
 * and the back-end never touches anything outside guest RAM (a fault there
 * would kill it; the asan build also checks its own memory).
 */
struct flipper {
	struct fe *fe;
	bool stop;		/* atomic */
	unsigned long flips;
};

static void *flip_thread(void *p)
{
	struct flipper *f = p;
	struct pvkit_ring *r = &f->fe->q[0].ring;
	struct pvkit_blk_seg *ind = fe_gpa(f->fe, G_IND, 4 * 16);
	static const uint64_t gpas[] = {
		0, G_HOLE - 512, ~0ULL - 511, 1ULL << 60, G_RAM_END - 512,
	};
	static const uint32_t lens[] = { 512, 0, 0xfffffe00, 1 << 20, 3 };
	uint64_t s = 77;
	unsigned int k;

	while (!__atomic_load_n(&f->stop, __ATOMIC_RELAXED)) {
		uint64_t v = fe_rand(&s);
		struct pvkit_blk_req *slot = (struct pvkit_blk_req *)
			(r->req + (v % r->slots) * r->req_size);
		k = (v >> 8) % 4;

		/* data fields only: the id stays what the guest meant */
		__atomic_store_n(&slot->seg[k % 2].gpa,
				 htole64(gpas[(v >> 16) % 5]),
				 __ATOMIC_RELAXED);
		__atomic_store_n(&slot->seg[k % 2].len,
				 htole32(lens[(v >> 24) % 5]),
				 __ATOMIC_RELAXED);
		__atomic_store_n(&slot->nr_segs, htole16((v >> 32) % 8),
				 __ATOMIC_RELAXED);
		__atomic_store_n(&ind[k].gpa, htole64(gpas[(v >> 40) % 5]),
				 __ATOMIC_RELAXED);
		__atomic_store_n(&ind[k].len, htole32(lens[(v >> 48) % 5]),
				 __ATOMIC_RELAXED);
		f->flips++;
	}
	return NULL;
}

TEST_F_TIMEOUT(slow, rewrite_race, 60)
{
	struct flipper f = { 0 };
	struct pvkit_blk_req rq;
	struct pvkit_blk_rsp rsp;
	struct fe fe = { 0 };
	pthread_t t;
	uint64_t seed = 8, ok = 0, inval = 0;
	unsigned int i, j;

	if (!start_fe(_metadata, &fe, "", 1, 16))
		return;
	f.fe = &fe;
	ASSERT_EQ(0, pthread_create(&t, NULL, flip_thread, &f));
	for (i = 0; i < 3000; i++) {
		for (j = 0; j < 8; j++) {
			memset(&rq, 0, sizeof(rq));
			rq.id = htole64(i * 8 + j);
			rq.op = j & 1 ? PVKIT_BLK_OP_WRITE : PVKIT_BLK_OP_READ;
			rq.nr_segs = htole16(1 + j % 4);
			rq.sector = htole64((fe_rand(&seed) % 1000) * 8);
			if (j & 2) {
				rq.flags = PVKIT_BLK_RQ_INDIRECT;
				rq.indirect_gpa = htole64(G_IND);
			} else {
				rq.seg[0].gpa = htole64(G_DATA);
				rq.seg[0].len = htole32(4096);
				rq.seg[1].gpa = htole64(G_DATA + 8192);
				rq.seg[1].len = htole32(512);
			}
			ASSERT_EQ(0, fe_queue_req(&fe, 0, &rq));
		}
		fe_push(&fe, 0);
		for (j = 0; j < 8; j++) {
			ASSERT_EQ(0, fe_get_rsp(&fe, 0, &rsp, 5000));
			ASSERT_EQ(i * 8, le64toh(rsp.id) & ~7ULL);
			ASSERT_TRUE(rsp.status == PVKIT_BLK_S_OK ||
				    rsp.status == PVKIT_BLK_S_INVAL)
				TH_LOG("status %u", rsp.status);
			if (rsp.status == PVKIT_BLK_S_OK)
				ok++;
			else
				inval++;
		}
	}
	__atomic_store_n(&f.stop, true, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	TH_LOG("%llu OK, %llu INVAL, %lu rewrites",
	       (unsigned long long)ok, (unsigned long long)inval, f.flips);
	ASSERT_TRUE(fe_alive(&fe));
	EXPECT_EQ(0, fe_check_io(&fe, 0, 0, 4096, &seed));
	fe_destroy(&fe);
}

/*
 * The image shrinks under the back-end (a hostile or careless host): reads
 * past the new end get IOERR, a read across it is short and then IOERR,
 * everything before it still works.
 */
TEST(shrunk_image)
{
	struct pvkit_be_stats st;
	struct fe fe = { 0 };
	uint8_t buf[8192];
	uint64_t seed = 4, half = IMG_SIZE / 2 / 512;

	if (!start_fe(_metadata, &fe, "", 1, 16))
		return;
	ASSERT_EQ(0, ftruncate(fe.image_fd, IMG_SIZE / 2));
	EXPECT_EQ(PVKIT_BLK_S_IOERR, fe_read(&fe, 0, half + 8, buf, 4096, 0));
	EXPECT_EQ(PVKIT_BLK_S_IOERR, fe_read(&fe, 0, half - 8, buf, 8192, 1));
	EXPECT_EQ(PVKIT_BLK_S_OK, fe_read(&fe, 0, half - 16, buf, 8192, 2));
	EXPECT_EQ(0, fe_check_io(&fe, 0, 64, 4096, &seed));
	ASSERT_EQ(0, fe_stats(&fe, &st));
	EXPECT_EQ(2, st.q[0].errors);
	ASSERT_TRUE(fe_alive(&fe));
	fe_destroy(&fe);
}

TEST_HARNESS_MAIN
