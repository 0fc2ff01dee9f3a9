// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: pvkit-netback moving frames between a fake pvkit_net
 * front-end and a TAP in a network namespace of the test's own: frames
 * the guest sends arrive on the TAP byte for byte (inline and indirect
 * segments, checksum and TSO headers passed through), frames given to
 * the TAP arrive in the guest's buffers (merged over several for large
 * ones, GSO headers converted, segmented once the guest switches TSO
 * off), the TAP is left to queue while no buffer is posted, and the
 * control queue's pairs, filter and offloads take effect.
 *
 * Needs CAP_NET_ADMIN (unshare(CLONE_NEWNET), /dev/net/tun); skipped
 * otherwise.  Run the asan variant to have the back-end built with
 * ASan/UBSan.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "netback_fe.h"

#define BUF_MAX		NFE_BUF_MAX

static const uint8_t other_mac[6] = { 0x02, 0, 0, 0, 0, 0x99 };

NFE_FIXTURE(net);


/* Post @count buffers of @len bytes on @pair, ids from @id. */
static void post(struct __test_metadata *_metadata, struct nfe *n,
		 unsigned int pair, uint64_t id, unsigned int count,
		 uint32_t len)
{
	unsigned int i;

	for (i = 0; i < count; i++)
		ASSERT_EQ(0, nfe_rx_post(n, pair, id + i, NFE_RX_GPA +
					 ((id + i) % 256) * 65536, len));
}

/* The next frame the guest sent with our ethertype or IPv4. */
static int cap_ours(struct nfe *n, uint8_t *buf, struct virtio_net_hdr *vh)
{
	int len;

	do {
		len = nfe_cap(n, buf, BUF_MAX, vh, 2000);
	} while (len >= 14 && buf[12] != 0x88 && buf[12] != 0x08);
	return len;
}

TEST_F_TIMEOUT(net, config, 30)
{
	struct pvkit_net_config *c = &self->n.cfg;

	if (!nfe_start_test(_metadata, &self->n, 2, "mac=02:11:22:33:44:55", 0))
		return;
	EXPECT_EQ(0, memcmp(c->mac, "\x02\x11\x22\x33\x44\x55", 6));
	EXPECT_EQ(2, le16toh(c->max_queue_pairs));
	EXPECT_EQ(1500, le16toh(c->mtu));
	EXPECT_EQ(PVKIT_NET_MAX_MTU, le16toh(c->max_mtu));
	EXPECT_EQ(PVKIT_NET_S_LINK_UP, le16toh(c->status));
	EXPECT_EQ(0, c->reserved0 | c->reserved1 | c->poll_us);
	EXPECT_TRUE(self->n.fe.features & PVKIT_NET_F_MQ);
	EXPECT_TRUE(self->n.fe.features & PVKIT_NET_F_TX_INDIRECT);
	EXPECT_FALSE(self->n.fe.features & PVKIT_NET_F_BACKEND_POLL);
	EXPECT_EQ(0, self->n.fe.features & ~PVKIT_NET_F_KNOWN);
}

/*
 * The link status follows the TAP: down and up again each come as one
 * CONFIG with only the status changed (ABI.md 6.2), and frames flow
 * again after.
 */
TEST_F_TIMEOUT(net, link_status, 30)
{
	struct pvkit_be_config c;
	struct pvkit_net_config nc, want;
	struct virtio_net_hdr vh;
	unsigned int i;
	int len;

	if (!nfe_start_test(_metadata, &self->n, 1, "", 0))
		return;
	want = self->n.cfg;
	for (i = 0; i < 4; i++) {
		bool up = i & 1;

		ASSERT_EQ(0, nfe_set_link(up));
		ASSERT_EQ(0, fe_expect(&self->n.fe, PVKIT_BE_CONFIG, &c,
				       sizeof(c), 3000));
		ASSERT_EQ(sizeof(nc), c.config_size);
		memcpy(&nc, c.config, sizeof(nc));
		want.status = htole16(up ? PVKIT_NET_S_LINK_UP : 0);
		EXPECT_EQ(0, memcmp(&want, &nc, sizeof(nc)))
			TH_LOG("round %u: status %#x", i, le16toh(nc.status));
	}
	/* no CONFIG without a change */
	EXPECT_EQ(-ETIMEDOUT, fe_recv_any(&self->n.fe, &c, sizeof(c), 600));
	/* the link works after the flaps */
	memset(self->a, 0, 64);
	memset(self->a, 0xff, 6);
	memcpy(self->a + 6, self->n.cfg.mac, 6);
	self->a[12] = NFE_ETHERTYPE >> 8;
	self->a[13] = NFE_ETHERTYPE & 0xff;
	memcpy(self->a + 14, "link-back", 9);
	ASSERT_EQ(PVKIT_NET_TX_S_OK, nfe_tx_frame(&self->n, 0, self->a, 64, 1, false, NULL));
	/* the capture socket reports the flap's ENETDOWN once first */
	len = cap_ours(&self->n, self->b, &vh);
	if (len < 0)
		len = cap_ours(&self->n, self->b, &vh);
	ASSERT_EQ(64, len);
	EXPECT_EQ(0, memcmp(self->a, self->b, 64));
}

TEST_F_TIMEOUT(net, tx_frames, 60)
{
	static const struct { uint32_t len; unsigned int segs; bool ind; } c[] = {
		{ 14, 1, false }, { 60, 1, false }, { 60, 3, false },
		{ 1514, 1, false }, { 1514, 13, false }, { 1514, 2, true },
		{ 1514, 14, true }, { 4000, 64, true }, { 1518, 5, false },
		{ 9014, 7, true },
	};
	struct virtio_net_hdr vh;
	unsigned int i;
	int len;

	if (!nfe_start_test(_metadata, &self->n, 1, NULL, 0))
		return;
	for (i = 0; i < ARRAY_SIZE(c); i++) {
		nfe_build(&self->n, self->a, c[i].len, other_mac, i);
		ASSERT_EQ(PVKIT_NET_TX_S_OK,
			  nfe_tx_frame(&self->n, 0, self->a, c[i].len,
				       c[i].segs, c[i].ind, NULL));
		len = cap_ours(&self->n, self->b, &vh);
		ASSERT_EQ((int)c[i].len, len) TH_LOG("frame %u", i);
		EXPECT_EQ(0, memcmp(self->a, self->b, c[i].len))
			TH_LOG("frame %u differs", i);
		EXPECT_EQ(0, vh.flags | vh.gso_type);
	}
}

TEST_F_TIMEOUT(net, rx_frames, 60)
{
	struct pvkit_net_hdr h;
	unsigned int i, nb;
	uint32_t len;
	int got;

	if (!nfe_start_test(_metadata, &self->n, 1, NULL, 0))
		return;
	post(_metadata, &self->n, 0, 0, 32, 2048);
	for (i = 0; i < 20; i++) {
		len = 60 + i * 71;
		got = nfe_inject_rx(&self->n, self->a, self->b, len,
				    self->n.cfg.mac, i, &h, &nb);
		ASSERT_EQ((int)len, got) TH_LOG("frame %u", i);
		EXPECT_EQ(1, nb);
		EXPECT_EQ(0, memcmp(self->a, self->b, len));
		EXPECT_EQ(0, h.gso_type);
		EXPECT_EQ(0, h.flags & PVKIT_NET_HDR_F_NEEDS_CSUM);
	}
}

/* mtu= sets the TAP's MTU; a 9014-byte frame spans nine 1 KiB buffers. */
TEST_F_TIMEOUT(net, rx_merged, 60)
{
	struct pvkit_net_hdr h;
	unsigned int nb;
	int got;

	if (!nfe_start_test(_metadata, &self->n, 1, "mtu=9000", 0))
		return;
	EXPECT_EQ(9000, le16toh(self->n.cfg.mtu));
	post(_metadata, &self->n, 0, 0, 16, 1024);
	nfe_build(&self->n, self->a, 9014, self->n.cfg.mac, 7);
	ASSERT_EQ(0, nfe_inject(&self->n, self->a, 9014, NULL));
	got = nfe_rx_frame(&self->n, 0, self->b, BUF_MAX, &h, &nb,
			   FE_TIMEOUT_MS);
	ASSERT_EQ(9014, got);
	EXPECT_EQ(9, nb);
	EXPECT_EQ(0, memcmp(self->a, self->b, 9014));
}

static const struct virtio_net_hdr tso4 = {
	.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
	.gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
	.hdr_len = 54, .gso_size = 1448, .csum_start = 34, .csum_offset = 16,
};

/* A TSO frame reaches the guest whole, then segmented once it says so. */
TEST_F_TIMEOUT(net, rx_gso, 60)
{
	struct pvkit_net_hdr h;
	unsigned int nb, frames = 0;
	uint32_t total = 0;
	int got;

	if (!nfe_start_test(_metadata, &self->n, 1, NULL, 0))
		return;
	ASSERT_TRUE(self->n.acked & PVKIT_NET_F_GUEST_TSO4);
	post(_metadata, &self->n, 0, 0, 64, 4096);
	nfe_build_tcp4(&self->n, self->a, 30054, self->n.cfg.mac, 1);
	ASSERT_EQ(0, nfe_inject(&self->n, self->a, 30054, &tso4));
	got = nfe_rx_frame(&self->n, 0, self->b, BUF_MAX, &h, &nb,
			   FE_TIMEOUT_MS);
	ASSERT_EQ(30054, got);
	EXPECT_EQ(8, nb);
	EXPECT_EQ(PVKIT_NET_GSO_TCPV4, h.gso_type);
	EXPECT_EQ(1448, le16toh(h.gso_size));
	EXPECT_TRUE(h.flags & PVKIT_NET_HDR_F_NEEDS_CSUM);
	EXPECT_EQ(34, le16toh(h.csum_start));
	EXPECT_EQ(16, le16toh(h.csum_offset));
	EXPECT_EQ(0, memcmp(self->a + 54, self->b + 54, 30000));

	/* checksum offload only: the kernel segments for us */
	ASSERT_EQ(PVKIT_NET_CTRL_S_OK,
		  nfe_ctrl(&self->n, PVKIT_NET_CTRL_OFFLOADS,
			   PVKIT_NET_F_GUEST_CSUM, 0));
	post(_metadata, &self->n, 0, 64, 64, 4096);
	ASSERT_EQ(0, nfe_inject(&self->n, self->a, 30054, &tso4));
	while (total < 30000) {
		got = nfe_rx_frame(&self->n, 0, self->b, BUF_MAX, &h, &nb,
				   FE_TIMEOUT_MS);
		ASSERT_LT(54, got) TH_LOG("after %u frames", frames);
		EXPECT_GE(1514, got);
		EXPECT_EQ(PVKIT_NET_GSO_NONE, h.gso_type);
		total += got - 54;
		frames++;
	}
	EXPECT_EQ(30000, total);
	EXPECT_EQ(21, frames);
}

/*
 * A frame needing more than 64 buffers is dropped and the next frame
 * delivered in the buffers held for it.
 */
TEST_F_TIMEOUT(net, rx_too_big, 60)
{
	struct virtio_net_hdr vh = tso4;
	struct pvkit_net_hdr h;
	unsigned int nb;
	uint32_t seq;

	if (!nfe_start_test(_metadata, &self->n, 1, NULL, 0))
		return;
	/* 64 x 256 bytes: 16 KiB at most */
	post(_metadata, &self->n, 0, 0, 70, 256);
	nfe_build_tcp4(&self->n, self->a, 20054, self->n.cfg.mac, 1);
	ASSERT_EQ(0, nfe_inject(&self->n, self->a, 20054, &vh));
	nfe_build(&self->n, self->a, 600, self->n.cfg.mac, 2);
	ASSERT_EQ(0, nfe_inject(&self->n, self->a, 600, NULL));
	ASSERT_EQ(600, nfe_rx_frame(&self->n, 0, self->b, BUF_MAX, &h, &nb,
				    FE_TIMEOUT_MS));
	EXPECT_EQ(3, nb);
	memcpy(&seq, self->b + 14, 4);
	EXPECT_EQ(2, seq);

}

/*
 * The largest frame a TAP hands over: the kernel segments in software
 * what reaches gso_max_size (64 KiB), so a TAP's frames stay below
 * PVKIT_NET_MAX_FRAME.
 */
TEST_F_TIMEOUT(net, rx_max_frame, 60)
{
	struct virtio_net_hdr vh = tso4;
	struct pvkit_net_hdr h;
	unsigned int nb;

	if (!nfe_start_test(_metadata, &self->n, 1, NULL, 0))
		return;
	post(_metadata, &self->n, 0, 0, 40, 4096);
	nfe_build_tcp4(&self->n, self->a, 65535, self->n.cfg.mac, 3);
	ASSERT_EQ(0, nfe_inject(&self->n, self->a, 65535, &vh));
	ASSERT_EQ(65535, nfe_rx_frame(&self->n, 0, self->b, BUF_MAX, &h, &nb,
				      FE_TIMEOUT_MS));
	EXPECT_EQ(16, nb);
	EXPECT_EQ(PVKIT_NET_GSO_TCPV4, h.gso_type);
	EXPECT_EQ(0, memcmp(self->a + 54, self->b + 54, 65535 - 54));
}

/*
 * Batches: 64 tx requests in one push are answered with few interrupts
 * and reach the TAP in order; rx keeps up with bursts of 32 frames.
 */
TEST_F_TIMEOUT(net, batches, 120)
{
	struct pvkit_net_tx_req rq;
	struct pvkit_net_tx_rsp rsp;
	struct virtio_net_hdr vh;
	struct pvkit_net_hdr h;
	struct pvkit_be_stats st;
	unsigned int round, i, qi = nfe_txq(0);
	uint64_t id = 1, rx_id = 0;
	uint32_t seq;

	if (!nfe_start_test(_metadata, &self->n, 1, NULL, 0))
		return;
	for (round = 0; round < 10; round++) {
		for (i = 0; i < 64; i++) {
			uint64_t gpa = NFE_TX_GPA + i * 2048;

			nfe_build(&self->n, fe_gpa(&self->n.fe, gpa, 1000),
				  1000, other_mac, round * 64 + i);
			memset(&rq, 0, sizeof(rq));
			rq.id = htole64(id + i);
			rq.len = htole32(1000);
			rq.nr_segs = htole16(1);
			rq.seg[0].gpa = htole64(gpa);
			rq.seg[0].len = htole32(1000);
			ASSERT_EQ(0, fe_queue_req_raw(&self->n.fe, qi, &rq,
						      sizeof(rq)));
		}
		fe_push(&self->n.fe, qi);
		for (i = 0; i < 64; i++) {
			ASSERT_EQ(0, fe_get_rsp_raw(&self->n.fe, qi, &rsp,
						    sizeof(rsp), FE_TIMEOUT_MS));
			EXPECT_EQ(id + i, le64toh(rsp.id));
			EXPECT_EQ(PVKIT_NET_TX_S_OK, rsp.status);
		}
		id += 64;
		for (i = 0; i < 64; i++) {
			ASSERT_EQ(1000, cap_ours(&self->n, self->b, &vh));
			memcpy(&seq, self->b + 14, 4);
			EXPECT_EQ(round * 64 + i, seq);
		}
	}
	ASSERT_EQ(0, fe_stats_settled(&self->n.fe, &st));
	EXPECT_EQ(640, st.q[qi].requests);
	EXPECT_GT(640 / 4, st.q[qi].irqs) TH_LOG("%llu irqs",
		(unsigned long long)st.q[qi].irqs);
	EXPECT_EQ(640ULL * 1000, st.q[qi].bytes);

	post(_metadata, &self->n, 0, rx_id, 128, 2048);
	rx_id += 128;
	for (round = 0; round < 20; round++) {
		for (i = 0; i < 32; i++) {
			nfe_build(&self->n, self->a, 200 + i, self->n.cfg.mac,
				  round * 32 + i);
			ASSERT_EQ(0, nfe_inject(&self->n, self->a, 200 + i,
						NULL));
		}
		for (i = 0; i < 32; i++) {
			ASSERT_EQ((int)(200 + i),
				  nfe_rx_frame(&self->n, 0, self->b, BUF_MAX,
					       &h, NULL, FE_TIMEOUT_MS))
				TH_LOG("round %u frame %u", round, i);
			memcpy(&seq, self->b + 14, 4);
			EXPECT_EQ(round * 32 + i, seq);
		}
		post(_metadata, &self->n, 0, rx_id, 32, 2048);
		rx_id += 32;
	}
}

/* The guest's checksum and TSO headers reach the host as they were. */
TEST_F_TIMEOUT(net, tx_offloads, 60)
{
	struct pvkit_net_hdr h = {
		.flags = PVKIT_NET_HDR_F_NEEDS_CSUM,
		.csum_start = htole16(34), .csum_offset = htole16(16),
	};
	struct virtio_net_hdr vh;
	int len;

	if (!nfe_start_test(_metadata, &self->n, 1, NULL, 0))
		return;
	nfe_build_tcp4(&self->n, self->a, 1054, other_mac, 1);
	ASSERT_EQ(PVKIT_NET_TX_S_OK,
		  nfe_tx_frame(&self->n, 0, self->a, 1054, 3, false, &h));
	len = cap_ours(&self->n, self->b, &vh);
	ASSERT_EQ(1054, len);
	EXPECT_EQ(0, memcmp(self->a, self->b, 1054));
	EXPECT_EQ(VIRTIO_NET_HDR_F_NEEDS_CSUM, vh.flags);
	EXPECT_EQ(34, vh.csum_start);
	EXPECT_EQ(16, vh.csum_offset);

	h.gso_type = PVKIT_NET_GSO_TCPV4;
	h.gso_size = htole16(1448);
	h.hdr_len = htole16(54);
	nfe_build_tcp4(&self->n, self->a, 20054, other_mac, 2);
	ASSERT_EQ(PVKIT_NET_TX_S_OK,
		  nfe_tx_frame(&self->n, 0, self->a, 20054, 20, true, &h));
	len = cap_ours(&self->n, self->b, &vh);
	ASSERT_EQ(20054, len);
	EXPECT_EQ(0, memcmp(self->a + 34, self->b + 34, 20020));
	EXPECT_EQ(VIRTIO_NET_HDR_GSO_TCPV4, vh.gso_type & 0x7f);
	EXPECT_EQ(1448, vh.gso_size);
}

/* With no buffer posted the TAP queues; posting delivers in order. */
TEST_F_TIMEOUT(net, rx_waits_for_buffers, 60)
{
	struct pvkit_net_rx_rsp rsp;
	struct pvkit_net_hdr h;
	unsigned int i;
	uint32_t seq;

	if (!nfe_start_test(_metadata, &self->n, 1, NULL, 0))
		return;
	for (i = 0; i < 3; i++) {
		nfe_build(&self->n, self->a, 100 + i, self->n.cfg.mac, 100 + i);
		ASSERT_EQ(0, nfe_inject(&self->n, self->a, 100 + i, NULL));
	}
	usleep(200000);
	EXPECT_EQ(-ETIMEDOUT, nfe_rx_get(&self->n, 0, &rsp, 100));
	post(_metadata, &self->n, 0, 0, 3, 2048);
	for (i = 0; i < 3; i++) {
		ASSERT_EQ((int)(100 + i),
			  nfe_rx_frame(&self->n, 0, self->b, BUF_MAX, &h, NULL,
				       FE_TIMEOUT_MS));
		memcpy(&seq, self->b + 14, 4);
		EXPECT_EQ(100 + i, seq);
	}
}

/* CTRL_RX: the filter drops what is not for us, promisc lets it in. */
TEST_F_TIMEOUT(net, rx_filter, 60)
{
	if (!nfe_start_test(_metadata, &self->n, 1, NULL, 0))
		return;
	nfe_check_rx_filter(_metadata, &self->n, self->a, self->b);
}

/* Two pairs: tx on both; QUEUE_PAIRS 1 steers rx to pair 0 only. */
TEST_F_TIMEOUT(net, queue_pairs, 60)
{
	struct virtio_net_hdr vh;
	struct pvkit_net_hdr h;
	unsigned int i;

	if (!nfe_start_test(_metadata, &self->n, 2, NULL, 0))
		return;
	for (i = 0; i < 2; i++) {
		nfe_build(&self->n, self->a, 80, other_mac, i);
		ASSERT_EQ(PVKIT_NET_TX_S_OK,
			  nfe_tx_frame(&self->n, i, self->a, 80, 1, false,
				       NULL));
		ASSERT_EQ(80, cap_ours(&self->n, self->b, &vh));
	}
	ASSERT_EQ(PVKIT_NET_CTRL_S_OK,
		  nfe_ctrl(&self->n, PVKIT_NET_CTRL_QUEUE_PAIRS, 1, 0));
	post(_metadata, &self->n, 0, 0, 16, 2048);
	post(_metadata, &self->n, 1, 100, 16, 2048);
	for (i = 0; i < 8; i++) {
		nfe_build(&self->n, self->a, 90 + i, self->n.cfg.mac, i);
		ASSERT_EQ(0, nfe_inject(&self->n, self->a, 90 + i, NULL));
		ASSERT_EQ((int)(90 + i),
			  nfe_rx_frame(&self->n, 0, self->b, BUF_MAX, &h, NULL,
				       FE_TIMEOUT_MS));
	}
	/* tx on the pair not in use is still served */
	nfe_build(&self->n, self->a, 81, other_mac, 9);
	ASSERT_EQ(PVKIT_NET_TX_S_OK,
		  nfe_tx_frame(&self->n, 1, self->a, 81, 1, false, NULL));
	ASSERT_EQ(81, cap_ours(&self->n, self->b, &vh));
	ASSERT_EQ(PVKIT_NET_CTRL_S_OK,
		  nfe_ctrl(&self->n, PVKIT_NET_CTRL_QUEUE_PAIRS, 2, 0));
	ASSERT_EQ(PVKIT_NET_TX_S_OK,
		  nfe_tx_frame(&self->n, 1, self->a, 81, 1, false, NULL));
	ASSERT_EQ(81, cap_ours(&self->n, self->b, &vh));
}

/* poll=: offered, and a busy-polling back-end still answers everything. */
TEST_F_TIMEOUT(net, poll, 60)
{
	struct virtio_net_hdr vh;
	struct pvkit_net_hdr h;
	unsigned int i;

	if (!nfe_start_test(_metadata, &self->n, 1, "poll=50", 0))
		return;
	EXPECT_TRUE(self->n.fe.features & PVKIT_NET_F_BACKEND_POLL);
	EXPECT_EQ(50, le32toh(self->n.cfg.poll_us));
	post(_metadata, &self->n, 0, 0, 64, 2048);
	for (i = 0; i < 50; i++) {
		nfe_build(&self->n, self->a, 64, other_mac, i);
		ASSERT_EQ(PVKIT_NET_TX_S_OK,
			  nfe_tx_frame(&self->n, 0, self->a, 64, 1, false,
				       NULL));
		ASSERT_EQ(64, cap_ours(&self->n, self->b, &vh));
		nfe_build(&self->n, self->a, 65, self->n.cfg.mac, i);
		ASSERT_EQ(0, nfe_inject(&self->n, self->a, 65, NULL));
		ASSERT_EQ(65, nfe_rx_frame(&self->n, 0, self->b, BUF_MAX, &h,
					   NULL, FE_TIMEOUT_MS));
	}
}

TEST_HARNESS_MAIN
