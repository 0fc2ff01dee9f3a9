// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: pvkit-netback against a hostile guest: every malformed tx
 * request, segment list and header of ABI.md section 10 is answered
 * INVAL or UNSUPP (UNSUPP first) and the back-end sends a valid frame
 * right after; malformed rx buffers are answered RX_S_INVAL with len 0;
 * bad control commands get INVAL or UNSUPP; a ring index violation stops
 * the queue with PVKIT_BE_ERROR and the device works again after the
 * reset.  (Malformed SETUPs and control messages: be_control.c.)
 *
 * Needs CAP_NET_ADMIN; skipped otherwise.  Run the asan variant to have
 * the back-end built with ASan/UBSan.
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "netback_fe.h"

#define G_HOLE		FE_LO_SIZE
#define G_RAM_END	(FE_HI_GPA + FE_HI_SIZE)
#define OK		PVKIT_NET_TX_S_OK
#define INVAL		PVKIT_NET_TX_S_INVAL
#define UNSUPP		PVKIT_NET_TX_S_UNSUPP
#define CSUM		PVKIT_NET_HDR_F_NEEDS_CSUM

static const uint8_t dst[6] = { 0x02, 0, 0, 0, 0, 0x99 };

FIXTURE(hostile) {
	struct nfe n;
	uint8_t frame[2048];
};

FIXTURE_SETUP(hostile)
{
	memset(&self->n, 0, sizeof(self->n));
	self->n.cap = self->n.inj = -1;
}

FIXTURE_TEARDOWN(hostile)
{
	nfe_destroy(&self->n);
}


/*
 * A tx request: @len bytes in @nseg segments (seg[]), or with nseg 0 one
 * valid segment of @len bytes at NFE_TX_GPA.  @nr_segs 0 means nseg (or
 * 1); with flag INDIRECT the segments go to @ind (default NFE_IND_GPA).
 */
struct tcase {
	const char *name;
	uint32_t len;
	uint16_t nr_segs;
	uint8_t flags;
	uint8_t reserved0;
	uint64_t reserved1;
	uint64_t ind;
	uint64_t raw_ind;
	struct pvkit_net_hdr hdr;
	unsigned int nseg;
	struct { uint64_t gpa; uint32_t len, reserved; } seg[3];
	uint8_t status;
};

#define IND	PVKIT_NET_TX_F_INDIRECT
#define SEG1(g, l)	.nseg = 1, .seg = { { (g), (l), 0 } }
#define TSO(sz, hl)	.flags = CSUM, .gso_type = PVKIT_NET_GSO_TCPV4, \
			.gso_size = (sz), .hdr_len = (hl), .csum_start = 34, \
			.csum_offset = 16

static const struct tcase tx_cases[] = {
	/* request fields */
	{ "valid 60 bytes", 60, .status = OK },
	{ "valid 14 bytes", 14, .status = OK },
	{ "len 13", 13, .status = INVAL },
	{ "len 0", 0, .status = INVAL },
	{ "undefined tx flag", 60, .flags = 0x02, .status = INVAL },
	{ "tx flags 0x80", 60, .flags = 0x80, .status = INVAL },
	{ "reserved0", 60, .reserved0 = 1, .status = INVAL },
	{ "reserved1", 60, .reserved1 = 1ULL << 63, .status = INVAL },
	{ "nr_segs 0", 60, .nr_segs = 0xffff, .status = INVAL },
	{ "inline nr_segs 14", 60, .nr_segs = 14, .status = INVAL },
	{ "inline nr_segs 65535", 60, .nr_segs = 65535, .status = INVAL },
	{ "indirect nr_segs 65", 65, .nr_segs = 65, .flags = IND, .status = INVAL },
	{ "indirect nr_segs 64", 64, .nr_segs = 64, .flags = IND, .status = OK },
	{ "inline nr_segs 13", 60, .nr_segs = 13, .status = OK },
	{ "indirect_gpa without INDIRECT", 60, .raw_ind = NFE_IND_GPA, .status = INVAL },
	{ "indirect array in the hole", 60, .flags = IND, .ind = G_HOLE, .status = INVAL },
	{ "indirect array straddles the hole", 60, .nr_segs = 2, .flags = IND,
	  .ind = G_HOLE - 16, .status = INVAL },
	{ "indirect array past end of RAM", 60, .nr_segs = 2, .flags = IND,
	  .ind = G_RAM_END - 16, .status = INVAL },
	{ "indirect array at 2^64 - 16", 60, .flags = IND, .ind = ~0ULL - 15, .status = INVAL },
	{ "indirect array at end of RAM", 60, .flags = IND, .ind = G_RAM_END - 16, .status = OK },
	/* segments */
	{ "segment len 0", 60, .nr_segs = 2, .nseg = 2,
	  .seg = { { NFE_TX_GPA, 60, 0 }, { NFE_TX_GPA + 100, 0, 0 } }, .status = INVAL },
	{ "segment reserved", 60, .nseg = 1, .seg = { { NFE_TX_GPA, 60, 1 } }, .status = INVAL },
	{ "segment in the hole", 60, SEG1(G_HOLE, 60), .status = INVAL },
	{ "segment straddles the hole", 60, SEG1(G_HOLE - 30, 60), .status = INVAL },
	{ "segment just below 4G", 60, SEG1(FE_HI_GPA - 30, 60), .status = INVAL },
	{ "segment past end of RAM", 60, SEG1(G_RAM_END - 30, 60), .status = INVAL },
	{ "segment at end of RAM", 60, SEG1(G_RAM_END, 60), .status = INVAL },
	{ "segment wraps", 60, SEG1(~0ULL - 29, 60), .status = INVAL },
	{ "segment 0xffffffff bytes", 60, SEG1(NFE_TX_GPA, 0xffffffffU), .status = INVAL },
	{ "last bytes of RAM", 60, SEG1(G_RAM_END - 60, 60), .status = OK },
	{ "last bytes below the hole", 60, SEG1(G_HOLE - 60, 60), .status = OK },
	{ "segments add up to more", 60, .nr_segs = 2, .nseg = 2,
	  .seg = { { NFE_TX_GPA, 60, 0 }, { NFE_TX_GPA + 100, 1, 0 } }, .status = INVAL },
	{ "segments add up to less", 61, SEG1(NFE_TX_GPA, 60), .status = INVAL },
	{ "segment lens overflow 32 bits", 60, .nr_segs = 2, .nseg = 2,
	  .seg = { { 0, 0xfffffff0U, 0 }, { 0, 76, 0 } }, .status = INVAL },
	{ "65540 bytes without GSO", 65540, .nr_segs = 2, .nseg = 2, .flags = IND,
	  .seg = { { 0, 32770, 0 }, { 1 << 20, 32770, 0 } }, .status = INVAL },
	{ "65539 bytes without GSO", 65539, .nr_segs = 2, .nseg = 2, .flags = IND,
	  .seg = { { 0, 32770, 0 }, { 1 << 20, 32769, 0 } }, .status = OK },
	/* headers */
	{ "hdr reserved0", 60, .hdr = { .reserved0 = 1 }, .status = INVAL },
	{ "hdr reserved1", 60, .hdr = { .reserved1 = 1 }, .status = INVAL },
	{ "hdr flag 0x04", 60, .hdr = { .flags = 0x04 }, .status = INVAL },
	{ "DATA_VALID on tx", 60, .hdr = { .flags = PVKIT_NET_HDR_F_DATA_VALID }, .status = INVAL },
	{ "csum field past the frame", 60, .hdr = { .flags = CSUM, .csum_start = 50,
	  .csum_offset = 9 }, .status = INVAL },
	{ "csum field at the end", 60, .hdr = { .flags = CSUM, .csum_start = 50,
	  .csum_offset = 8 }, .status = OK },
	{ "csum start + offset overflow 16 bits", 60, .hdr = { .flags = CSUM,
	  .csum_start = 0xffff, .csum_offset = 0xffff }, .status = INVAL },
	{ "GSO without NEEDS_CSUM", 1000, .hdr = { .gso_type = PVKIT_NET_GSO_TCPV4,
	  .gso_size = 100, .hdr_len = 54 }, .status = INVAL },
	{ "GSO size 0", 1000, .hdr = { TSO(0, 54) }, .status = INVAL },
	{ "GSO hdr_len > len", 1000, .hdr = { TSO(100, 1001) }, .status = INVAL },
	{ "GSO type 4", 1000, .hdr = { .flags = CSUM, .gso_type = 4, .gso_size = 100,
	  .csum_start = 34, .csum_offset = 16 }, .status = INVAL },
	{ "GSO type 0x7f", 1000, .hdr = { .flags = CSUM, .gso_type = 0x7f,
	  .gso_size = 100, .csum_start = 34, .csum_offset = 16 }, .status = INVAL },
	{ "ECN without GSO", 60, .hdr = { .gso_type = PVKIT_NET_GSO_ECN }, .status = INVAL },
	{ "ECN with UDP", 1000, .hdr = { .flags = CSUM, .gso_type = PVKIT_NET_GSO_ECN |
	  PVKIT_NET_GSO_UDP_L4, .gso_size = 100, .hdr_len = 42, .csum_start = 34,
	  .csum_offset = 6 }, .status = INVAL },
	{ "GSO 65540 bytes", 65540, .nr_segs = 2, .nseg = 2, .flags = IND,
	  .hdr = { TSO(1448, 54) },
	  .seg = { { 0, 32770, 0 }, { 1 << 20, 32770, 0 } }, .status = INVAL },
};

/* Build @c's request; guest RAM holds a TCPv4 frame at NFE_TX_GPA. */
static void build(struct nfe *n, const struct tcase *c,
		  struct pvkit_net_tx_req *rq)
{
	struct pvkit_net_seg *segs = rq->seg;
	unsigned int i, nr = c->nr_segs == 0xffff ? 0 :
			      c->nr_segs ? c->nr_segs : (c->nseg ? c->nseg : 1);
	uint64_t ind = c->ind ? c->ind : NFE_IND_GPA;

	memset(rq, 0, sizeof(*rq));
	rq->hdr = c->hdr;
	rq->hdr.hdr_len = htole16(c->hdr.hdr_len);
	rq->hdr.gso_size = htole16(c->hdr.gso_size);
	rq->hdr.csum_start = htole16(c->hdr.csum_start);
	rq->hdr.csum_offset = htole16(c->hdr.csum_offset);
	rq->len = htole32(c->len);
	rq->nr_segs = htole16(nr);
	rq->flags = c->flags;
	rq->reserved0 = c->reserved0;
	rq->reserved1 = htole64(c->reserved1);
	if (c->flags & IND) {
		rq->indirect_gpa = htole64(ind);
		segs = fe_gpa(&n->fe, ind, 16);
		if (segs && !fe_gpa(&n->fe, ind, (uint64_t)nr * 16))
			segs = NULL;
	} else {
		rq->indirect_gpa = htole64(c->raw_ind);
	}
	if (!segs)
		return;
	for (i = 0; i < nr && i < (c->flags & IND ? 64U : 13U); i++) {
		if (c->nseg) {
			segs[i].gpa = htole64(c->seg[i < c->nseg ? i : 0].gpa);
			segs[i].len = htole32(c->seg[i < c->nseg ? i : 0].len);
			segs[i].reserved = htole32(c->seg[i < c->nseg ? i : 0].reserved);
		} else {
			/* nr segments of the frame: len / nr each, rest last */
			uint32_t each = c->len / nr;

			segs[i].gpa = htole64(NFE_TX_GPA + i * 1024);
			segs[i].len = htole32(i == nr - 1 ? c->len - each * i : each);
			segs[i].reserved = 0;
		}
	}
}

/* A valid frame goes out after each case: the back-end is alive. */
static void check_alive(struct __test_metadata *_metadata, struct nfe *n,
			uint8_t *frame, const char *after)
{
	nfe_build(n, frame, 60, dst, 0);
	ASSERT_EQ(OK, nfe_tx_frame(n, 0, frame, 60, 1, false, NULL))
		TH_LOG("after %s", after);
	ASSERT_TRUE(fe_alive(&n->fe));
}

TEST_F_TIMEOUT(hostile, tx_malformed, 120)
{
	struct pvkit_net_tx_req rq;
	struct pvkit_be_stats st;
	unsigned int i, bad = 0;

	if (!nfe_start_test(_metadata, &self->n, 1, NULL, 0))
		return;
	for (i = 0; i < ARRAY_SIZE(tx_cases); i++) {
		const struct tcase *c = &tx_cases[i];

		/* a plausible TCPv4 frame where the segments point */
		nfe_build_tcp4(&self->n, fe_gpa(&self->n.fe, NFE_TX_GPA, 1054),
			       1054, dst, i);
		build(&self->n, c, &rq);
		EXPECT_EQ(c->status, nfe_tx_do(&self->n, 0, &rq))
			TH_LOG("%s", c->name);
		bad += c->status != OK;
		check_alive(_metadata, &self->n, self->frame, c->name);
	}
	ASSERT_EQ(0, fe_stats(&self->n.fe, &st));
	EXPECT_EQ(bad, st.q[nfe_txq(0)].errors);
}

/* Offloads and flags not negotiated: UNSUPP, before any INVAL. */
TEST_F_TIMEOUT(hostile, tx_unsupp, 60)
{
	static const struct tcase c[] = {
		{ "NEEDS_CSUM without CSUM", 60, .hdr = { .flags = CSUM,
		  .csum_start = 34, .csum_offset = 16 }, .status = UNSUPP },
		{ "TSO4 without HOST_TSO4", 1000, .hdr = { TSO(100, 54) }, .status = UNSUPP },
		{ "TSO6 without HOST_TSO6", 1000, .hdr = { .flags = CSUM,
		  .gso_type = PVKIT_NET_GSO_TCPV6, .gso_size = 100,
		  .csum_start = 54, .csum_offset = 16 }, .status = UNSUPP },
		{ "USO without HOST_USO", 1000, .hdr = { .flags = CSUM,
		  .gso_type = PVKIT_NET_GSO_UDP_L4, .gso_size = 100,
		  .csum_start = 34, .csum_offset = 6 }, .status = UNSUPP },
		{ "INDIRECT without TX_INDIRECT", 60, .flags = IND, .status = UNSUPP },
		{ "UNSUPP wins over reserved0", 60, .flags = IND, .reserved0 = 1,
		  .status = UNSUPP },
		{ "UNSUPP wins over a bad segment", 60, .hdr = { .flags = CSUM },
		  SEG1(G_HOLE, 60), .status = UNSUPP },
		{ "1518 bytes without MTU", 1518, .nr_segs = 2, .status = OK },
		{ "1519 bytes without MTU", 1519, .nr_segs = 2, .status = INVAL },
	};
	struct pvkit_net_tx_req rq;
	unsigned int i;

	if (!nfe_start_test(_metadata, &self->n, 1, NULL, PVKIT_NET_F_CSUM |
		   PVKIT_NET_F_HOST_GSO | PVKIT_NET_F_TX_INDIRECT |
		   PVKIT_NET_F_MTU))
		return;
	for (i = 0; i < ARRAY_SIZE(c); i++) {
		build(&self->n, &c[i], &rq);
		EXPECT_EQ(c[i].status, nfe_tx_do(&self->n, 0, &rq))
			TH_LOG("%s", c[i].name);
		check_alive(_metadata, &self->n, self->frame, c[i].name);
	}
}

TEST_F_TIMEOUT(hostile, rx_malformed, 60)
{
	static const struct { const char *name; uint64_t gpa; uint32_t len, res; } c[] = {
		{ "len 255", NFE_RX_GPA, 255, 0 },
		{ "len 0", NFE_RX_GPA, 0, 0 },
		{ "len 65537", NFE_RX_GPA, 65537, 0 },
		{ "len 0xffffffff", NFE_RX_GPA, 0xffffffffU, 0 },
		{ "reserved", NFE_RX_GPA, 2048, 1 },
		{ "in the hole", G_HOLE, 2048, 0 },
		{ "straddles the hole", G_HOLE - 1024, 2048, 0 },
		{ "past end of RAM", G_RAM_END - 1024, 2048, 0 },
		{ "wraps", ~0ULL - 1023, 2048, 0 },
	};
	struct pvkit_net_rx_req rq;
	struct pvkit_net_rx_rsp rsp;
	struct pvkit_net_hdr h;
	uint8_t buf[2048];
	unsigned int i;

	if (!nfe_start_test(_metadata, &self->n, 1, NULL, 0))
		return;
	for (i = 0; i < ARRAY_SIZE(c); i++) {
		memset(&rq, 0, sizeof(rq));
		rq.id = htole64(1000 + i);
		rq.gpa = htole64(c[i].gpa);
		rq.len = htole32(c[i].len);
		rq.reserved = htole32(c[i].res);
		ASSERT_EQ(0, fe_queue_req_raw(&self->n.fe, 0, &rq, sizeof(rq)));
		fe_push(&self->n.fe, 0);
		ASSERT_EQ(0, nfe_rx_get(&self->n, 0, &rsp, FE_TIMEOUT_MS))
			TH_LOG("%s", c[i].name);
		EXPECT_EQ(1000 + i, le64toh(rsp.id));
		EXPECT_EQ(PVKIT_NET_RX_S_INVAL, rsp.status) TH_LOG("%s", c[i].name);
		EXPECT_EQ(0, rsp.len | rsp.num_buffers);
	}
	/* still receiving; the smallest and largest buffers are fine */
	ASSERT_EQ(0, nfe_rx_post(&self->n, 0, 0, NFE_RX_GPA, 256));
	ASSERT_EQ(0, nfe_rx_post(&self->n, 0, 1, NFE_RX_GPA + 65536, 65536));
	nfe_build(&self->n, self->frame, 300, self->n.cfg.mac, 1);
	ASSERT_EQ(0, nfe_inject(&self->n, self->frame, 300, NULL));
	ASSERT_EQ(300, nfe_rx_frame(&self->n, 0, buf, sizeof(buf), &h, &i,
				    FE_TIMEOUT_MS));
	EXPECT_EQ(2, i);
	EXPECT_EQ(0, memcmp(buf, self->frame, 300));
}

static int ctrl_raw(struct nfe *n, struct pvkit_net_ctrl_req *rq)
{
	struct pvkit_net_ctrl_rsp rsp;
	int ret;

	rq->id = htole64(n->next_id++);
	ret = fe_queue_req_raw(&n->fe, nfe_ctrlq(n), rq, sizeof(*rq));
	if (ret)
		return ret;
	fe_push(&n->fe, nfe_ctrlq(n));
	ret = fe_get_rsp_raw(&n->fe, nfe_ctrlq(n), &rsp, sizeof(rsp),
			     FE_TIMEOUT_MS);
	if (ret)
		return ret;
	return rsp.id == rq->id && !rsp.pad[0] ? rsp.status : -EBADMSG;
}

TEST_F_TIMEOUT(hostile, ctrl, 60)
{
	static const struct {
		const char *name;
		uint8_t cmd;
		uint64_t arg0, arg1;
		uint8_t status;
	} c[] = {
		{ "cmd 0", 0, 0, 0, PVKIT_NET_CTRL_S_UNSUPP },
		{ "cmd 5", 5, 1, 0, PVKIT_NET_CTRL_S_UNSUPP },
		{ "cmd 255", 255, ~0ULL, ~0ULL, PVKIT_NET_CTRL_S_UNSUPP },
		{ "pairs 0", PVKIT_NET_CTRL_QUEUE_PAIRS, 0, 0, PVKIT_NET_CTRL_S_INVAL },
		{ "pairs 3 of 2", PVKIT_NET_CTRL_QUEUE_PAIRS, 3, 0, PVKIT_NET_CTRL_S_INVAL },
		{ "pairs 2^32 + 1", PVKIT_NET_CTRL_QUEUE_PAIRS, (1ULL << 32) + 1, 0,
		  PVKIT_NET_CTRL_S_INVAL },
		{ "pairs arg1", PVKIT_NET_CTRL_QUEUE_PAIRS, 1, 1, PVKIT_NET_CTRL_S_INVAL },
		{ "pairs 1", PVKIT_NET_CTRL_QUEUE_PAIRS, 1, 0, PVKIT_NET_CTRL_S_OK },
		{ "pairs 2", PVKIT_NET_CTRL_QUEUE_PAIRS, 2, 0, PVKIT_NET_CTRL_S_OK },
		{ "rx mode 4", PVKIT_NET_CTRL_RX_MODE, 4, 0, PVKIT_NET_CTRL_S_INVAL },
		{ "rx mode arg1", PVKIT_NET_CTRL_RX_MODE, 1, 1, PVKIT_NET_CTRL_S_INVAL },
		{ "rx mode 3", PVKIT_NET_CTRL_RX_MODE, 3, 0, PVKIT_NET_CTRL_S_OK },
		{ "mac table 65", PVKIT_NET_CTRL_MAC_TABLE, 65, NFE_MAC_GPA, PVKIT_NET_CTRL_S_INVAL },
		{ "mac table 2^63", PVKIT_NET_CTRL_MAC_TABLE, 1ULL << 63, NFE_MAC_GPA,
		  PVKIT_NET_CTRL_S_INVAL },
		{ "mac table in the hole", PVKIT_NET_CTRL_MAC_TABLE, 1, G_HOLE,
		  PVKIT_NET_CTRL_S_INVAL },
		{ "mac table straddles the hole", PVKIT_NET_CTRL_MAC_TABLE, 2, G_HOLE - 8,
		  PVKIT_NET_CTRL_S_INVAL },
		{ "mac table padding", PVKIT_NET_CTRL_MAC_TABLE, 64, NFE_MAC_GPA + 4096,
		  PVKIT_NET_CTRL_S_INVAL },
		{ "mac table 64", PVKIT_NET_CTRL_MAC_TABLE, 64, NFE_MAC_GPA, PVKIT_NET_CTRL_S_OK },
		{ "mac table 0", PVKIT_NET_CTRL_MAC_TABLE, 0, 0, PVKIT_NET_CTRL_S_OK },
		{ "offloads HOST_TSO4", PVKIT_NET_CTRL_OFFLOADS, PVKIT_NET_F_HOST_TSO4, 0,
		  PVKIT_NET_CTRL_S_INVAL },
		{ "offloads TSO4 without CSUM", PVKIT_NET_CTRL_OFFLOADS,
		  PVKIT_NET_F_GUEST_TSO4, 0, PVKIT_NET_CTRL_S_INVAL },
		{ "offloads bit 63", PVKIT_NET_CTRL_OFFLOADS, 1ULL << 63, 0,
		  PVKIT_NET_CTRL_S_INVAL },
		{ "offloads arg1", PVKIT_NET_CTRL_OFFLOADS, 0, 1, PVKIT_NET_CTRL_S_INVAL },
		{ "offloads CSUM + TSO4", PVKIT_NET_CTRL_OFFLOADS,
		  PVKIT_NET_F_GUEST_CSUM | PVKIT_NET_F_GUEST_TSO4, 0, PVKIT_NET_CTRL_S_OK },
		{ "offloads none", PVKIT_NET_CTRL_OFFLOADS, 0, 0, PVKIT_NET_CTRL_S_OK },
	};
	struct pvkit_net_ctrl_req rq;
	uint8_t *t;
	unsigned int i;

	if (!nfe_start_test(_metadata, &self->n, 2, NULL, 0))
		return;
	/* 64 entries at NFE_MAC_GPA; a copy with one bad padding after */
	t = fe_gpa(&self->n.fe, NFE_MAC_GPA, 4096 + 512);
	for (i = 0; i < 64; i++) {
		memset(t + i * 8, 0, 8);
		t[i * 8] = 0x02;
		t[i * 8 + 5] = i;
	}
	memcpy(t + 4096, t, 512);
	t[4096 + 63 * 8 + 7] = 1;
	for (i = 0; i < ARRAY_SIZE(c); i++) {
		int st = nfe_ctrl(&self->n, c[i].cmd, c[i].arg0, c[i].arg1);

		EXPECT_EQ(c[i].status, st) TH_LOG("case %u", i);
	}

	memset(&rq, 0, sizeof(rq));
	rq.cmd = PVKIT_NET_CTRL_RX_MODE;
	rq.reserved0[6] = 1;
	EXPECT_EQ(PVKIT_NET_CTRL_S_INVAL, ctrl_raw(&self->n, &rq));
	memset(&rq, 0, sizeof(rq));
	rq.cmd = PVKIT_NET_CTRL_RX_MODE;
	rq.reserved[3] = 1;
	EXPECT_EQ(PVKIT_NET_CTRL_S_INVAL, ctrl_raw(&self->n, &rq));
	check_alive(_metadata, &self->n, self->frame, "control");
}

TEST_F_TIMEOUT(hostile, ctrl_not_negotiated, 60)
{
	if (!nfe_start_test(_metadata, &self->n, 2, NULL, PVKIT_NET_F_MQ | PVKIT_NET_F_CTRL_RX |
		   PVKIT_NET_F_CTRL_OFFLOADS))
		return;
	EXPECT_EQ(PVKIT_NET_CTRL_S_UNSUPP,
		  nfe_ctrl(&self->n, PVKIT_NET_CTRL_QUEUE_PAIRS, 1, 0));
	EXPECT_EQ(PVKIT_NET_CTRL_S_UNSUPP,
		  nfe_ctrl(&self->n, PVKIT_NET_CTRL_RX_MODE, 0, 0));
	EXPECT_EQ(PVKIT_NET_CTRL_S_UNSUPP,
		  nfe_ctrl(&self->n, PVKIT_NET_CTRL_MAC_TABLE, 0, 0));
	EXPECT_EQ(PVKIT_NET_CTRL_S_UNSUPP,
		  nfe_ctrl(&self->n, PVKIT_NET_CTRL_OFFLOADS, 0, 0));
}

struct flipper {
	struct pvkit_net_seg *segs;	/* the indirect array in guest RAM */
	volatile bool stop;
};

/* Rewrite the array between a valid form and hostile ones, nonstop. */
static void *flip(void *arg)
{
	struct flipper *f = arg;
	uint64_t seed = 7, r;

	while (!f->stop) {
		r = fe_rand(&seed);
		__atomic_store_n(&f->segs[r % 4].gpa,
				 htole64((r & 0x700) == 0x100 ? G_HOLE - 8 :
					 (r & 0x700) == 0x200 ? ~0ULL - 7 :
					 NFE_TX_GPA),
				 __ATOMIC_RELAXED);
		__atomic_store_n(&f->segs[(r >> 16) % 4].len,
				 htole32((r & 0x3800) == 0x800 ? 0xffffffffU :
					 15), __ATOMIC_RELAXED);
	}
	return NULL;
}

/*
 * The guest rewrites an indirect array while the back-end reads it: each
 * request is answered OK or INVAL from one consistent copy, and nothing
 * outside guest RAM is touched (the asan back-end would abort).
 */
TEST_F_TIMEOUT(hostile, tx_rewritten, 120)
{
	struct flipper f = { 0 };
	struct pvkit_net_tx_req rq;
	unsigned int i, ok = 0, inval = 0;
	pthread_t th;
	int st;

	if (!nfe_start_test(_metadata, &self->n, 1, NULL, 0))
		return;
	f.segs = fe_gpa(&self->n.fe, NFE_IND_GPA, 4 * sizeof(*f.segs));
	for (i = 0; i < 4; i++) {
		f.segs[i].gpa = htole64(NFE_TX_GPA);
		f.segs[i].len = htole32(15);
		f.segs[i].reserved = 0;
	}
	ASSERT_EQ(0, pthread_create(&th, NULL, flip, &f));
	for (i = 0; i < 3000; i++) {
		memset(&rq, 0, sizeof(rq));
		rq.len = htole32(60);
		rq.nr_segs = htole16(4);
		rq.flags = PVKIT_NET_TX_F_INDIRECT;
		rq.indirect_gpa = htole64(NFE_IND_GPA);
		st = nfe_tx_do(&self->n, 0, &rq);
		if (st == OK)
			ok++;
		else if (st == INVAL)
			inval++;
		else
			break;
	}
	f.stop = true;
	pthread_join(th, NULL);
	EXPECT_EQ(3000, ok + inval) TH_LOG("status %d at %u", st, i);
	TH_LOG("%u OK, %u INVAL", ok, inval);
	/* the array valid again: the same request goes out */
	for (i = 0; i < 4; i++) {
		f.segs[i].gpa = htole64(NFE_TX_GPA);
		f.segs[i].len = htole32(15);
	}
	EXPECT_EQ(OK, nfe_tx_do(&self->n, 0, &rq));
	check_alive(_metadata, &self->n, self->frame, "rewrites");
}

/* req_prod more than a ring ahead: that queue stops with BE_ERROR. */
TEST_F_TIMEOUT(hostile, ring_violation, 60)
{
	static const unsigned int queues[] = { 0, 1, 2 };
	struct pvkit_ring_hdr *hdr;
	unsigned int i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(queues); i++) {
		if (!nfe_start_test(_metadata, &self->n, 1, NULL, 0))
			return;
		hdr = self->n.fe.q[queues[i]].ring.hdr;
		__atomic_store_n(&hdr->req_prod, htole32(NFE_SLOTS + 1),
				 __ATOMIC_RELEASE);
		eventfd_write(self->n.fe.q[queues[i]].kick_fd, 1);
		/* an rx queue looks only when it wants a buffer */
		if (queues[i] == 0) {
			nfe_build(&self->n, self->frame, 60, self->n.cfg.mac, 1);
			ASSERT_EQ(0, nfe_inject(&self->n, self->frame, 60, NULL));
		}
		ret = fe_expect(&self->n.fe, 0, NULL, 0, FE_TIMEOUT_MS);
		ASSERT_EQ(1, ret) TH_LOG("queue %u: no ERROR", queues[i]);
		EXPECT_TRUE(strstr(self->n.fe.err_msg, "ring index violation"))
			TH_LOG("%s", self->n.fe.err_msg);
		EXPECT_TRUE(fe_alive(&self->n.fe));
		/* pvkit-hv's reset: DISCONNECT, CONNECT, and it works */
		ASSERT_EQ(0, fe_disconnect(&self->n.fe));
		ASSERT_EQ(0, fe_connect(&self->n.fe, self->n.acked));
		check_alive(_metadata, &self->n, self->frame, "reset");
		nfe_destroy(&self->n);
	}
}

TEST_HARNESS_MAIN
