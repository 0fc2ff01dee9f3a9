// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: pvkit-netback with xdp=IFNAME -- an AF_XDP socket on a
 * veth in a network namespace of the test's own, the frames sent and
 * received on the veth's peer with packet sockets: frames the guest
 * sends arrive on the peer byte for byte (inline and indirect segments,
 * up to the MTU limit of a UMEM frame); oversize, offloaded and
 * malformed frames are refused and never reach the wire; frames sent
 * from the peer arrive in the guest's buffers byte for byte (merged over
 * small buffers), with no offload header; rx waits for buffers (the
 * frames stay queued); the software MAC filter; no checksum or GSO
 * feature is offered and max_mtu is clamped; a back-end that was killed
 * leaves its XDP program behind and the next one replaces it, also in
 * the other mode (attach=native / attach=generic, checked with ip(8));
 * a second back-end on the interface of a live one is refused.
 *
 * Needs CAP_NET_ADMIN and CAP_BPF/CAP_SYS_ADMIN (unshare(CLONE_NEWNET),
 * veth, AF_XDP, an XDP program); skipped otherwise or without AF_XDP.
 */
#include <endian.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "netback_fe.h"

#define BUF_MAX		NFE_BUF_MAX
#define XDP_MAX_MTU	3500	/* NETB_XSK_MAX_MTU */

static const uint8_t other_mac[6] = { 0x02, 0, 0, 0, 0, 0x99 };

NFE_FIXTURE(xdp);

/* Start on the veth; false if skipped (no privileges, no AF_XDP). */
static bool start(struct __test_metadata *_metadata, struct nfe *n,
		  const char *extra)
{
	int ret = nfe_start_xdp(n, extra, 0);

	if (ret == -EPERM || ret == -EACCES || ret == -ENOENT ||
	    ret == -EOPNOTSUPP ||
	    (ret == -EPROTO && (strstr(n->fe.err_msg, "AF_XDP socket") ||
				strstr(n->fe.err_msg, "Operation not permitted")))) {
		nfe_destroy(n);
		SKIP(return false, "needs CAP_NET_ADMIN, veth and AF_XDP (%s%s%s)",
		     strerror(-ret), n->fe.err_msg[0] ? ": " : "",
		     n->fe.err_msg);
	}
	ASSERT_EQ(0, ret) TH_LOG("start: %s (%s)", strerror(-ret),
				 n->fe.err_msg);
	return true;
}

static void post(struct __test_metadata *_metadata, struct nfe *n,
		 uint64_t id, unsigned int count, uint32_t len)
{
	unsigned int i;

	for (i = 0; i < count; i++)
		ASSERT_EQ(0, nfe_rx_post(n, 0, id + i, NFE_RX_GPA +
					 ((id + i) % 256) * 65536, len));
}

/* The next frame the guest sent with our ethertype, or -ETIMEDOUT. */
static int cap_ours(struct nfe *n, uint8_t *buf, struct virtio_net_hdr *vh,
		    int timeout_ms)
{
	int len;

	do {
		len = nfe_cap(n, buf, BUF_MAX, vh, timeout_ms);
	} while (len >= 14 && (buf[12] != 0x88 || buf[13] != 0xb5));
	return len;
}

/*
 * SIGKILL the back-end (its XDP program stays attached) and start a new
 * one on the same veth with SETUP args "xdp=NFE_VETH," @extra, connected;
 * 0 or -errno (fe.err_msg says why).
 */
static int restart_backend(struct nfe *n, const char *extra)
{
	char args[128];
	int ret;

	kill(n->fe.pid, SIGKILL);
	if (fe_wait_exit(&n->fe, 5000) < 0)
		return -ETIMEDOUT;
	fe_destroy(&n->fe);
	ret = fe_init(&n->fe, 3, NFE_SLOTS);
	if (!ret)
		ret = fe_spawn(&n->fe);
	if (ret)
		return ret;
	snprintf(args, sizeof(args), "xdp=%s%s%s", NFE_VETH, extra ? "," : "",
		 extra ? extra : "");
	ret = fe_setup(&n->fe, args);
	if (ret)
		return ret > 0 ? -EPROTO : ret;
	memcpy(&n->cfg, n->fe.config, sizeof(n->cfg));
	return fe_connect(&n->fe, n->fe.features);
}

/* One frame peer -> guest and one guest -> peer, byte-exact. */
static void one_each_way(struct __test_metadata *_metadata, struct nfe *n,
			 uint8_t *a, uint8_t *b)
{
	struct virtio_net_hdr vh;

	post(_metadata, n, n->next_id, 1, 2048);
	n->next_id++;
	ASSERT_EQ(200, nfe_inject_rx(n, a, b, 200, n->cfg.mac, 1, NULL, NULL));
	EXPECT_EQ(0, memcmp(a, b, 200));
	nfe_build(n, a, 300, other_mac, 2);
	ASSERT_EQ(PVKIT_NET_TX_S_OK, nfe_tx_frame(n, 0, a, 300, 1, false, NULL));
	ASSERT_EQ(300, cap_ours(n, b, &vh, 2000));
	EXPECT_EQ(0, memcmp(a, b, 300));
}

TEST_F_TIMEOUT(xdp, config, 30)
{
	struct pvkit_net_config *c = &self->n.cfg;
	uint64_t f;

	if (!start(_metadata, &self->n, "mac=02:11:22:33:44:55"))
		return;
	f = self->n.fe.features;
	EXPECT_EQ(0, memcmp(c->mac, "\x02\x11\x22\x33\x44\x55", 6));
	EXPECT_EQ(1, le16toh(c->max_queue_pairs));
	EXPECT_EQ(NFE_VETH_MTU, le16toh(c->mtu));
	EXPECT_EQ(XDP_MAX_MTU, le16toh(c->max_mtu));
	EXPECT_EQ(PVKIT_NET_S_LINK_UP, le16toh(c->status));
	/* AF_XDP carries no offload metadata */
	EXPECT_EQ(0, f & (PVKIT_NET_F_CSUM | PVKIT_NET_F_GUEST_CSUM |
			  PVKIT_NET_F_HOST_GSO | PVKIT_NET_F_GUEST_GSO));
	EXPECT_TRUE(f & PVKIT_NET_F_MTU);
	EXPECT_TRUE(f & PVKIT_NET_F_CTRL_RX);
	EXPECT_TRUE(f & PVKIT_NET_F_TX_INDIRECT);
	EXPECT_EQ(0, f & ~PVKIT_NET_F_KNOWN);
	/* one pair: QUEUE_PAIRS 1 only; offloads: none to switch on */
	EXPECT_EQ(PVKIT_NET_CTRL_S_OK,
		  nfe_ctrl(&self->n, PVKIT_NET_CTRL_QUEUE_PAIRS, 1, 0));
	EXPECT_EQ(PVKIT_NET_CTRL_S_INVAL,
		  nfe_ctrl(&self->n, PVKIT_NET_CTRL_QUEUE_PAIRS, 2, 0));
	EXPECT_EQ(PVKIT_NET_CTRL_S_OK,
		  nfe_ctrl(&self->n, PVKIT_NET_CTRL_OFFLOADS, 0, 0));
	EXPECT_EQ(PVKIT_NET_CTRL_S_INVAL,
		  nfe_ctrl(&self->n, PVKIT_NET_CTRL_OFFLOADS,
			   PVKIT_NET_F_GUEST_CSUM, 0));
}

/* mtu= above what a UMEM frame holds is clamped, below it is taken. */
TEST_F_TIMEOUT(xdp, mtu_clamped, 30)
{
	if (!start(_metadata, &self->n, "mtu=9000"))
		return;
	EXPECT_EQ(XDP_MAX_MTU, le16toh(self->n.cfg.mtu));
	EXPECT_EQ(XDP_MAX_MTU, le16toh(self->n.cfg.max_mtu));
	nfe_destroy(&self->n);
	if (!start(_metadata, &self->n, "mtu=1400"))
		return;
	EXPECT_EQ(1400, le16toh(self->n.cfg.mtu));
}

TEST_F_TIMEOUT(xdp, tx_frames, 60)
{
	static const struct { uint32_t len; unsigned int segs; bool ind; } c[] = {
		{ 14, 1, false }, { 60, 1, false }, { 60, 3, false },
		{ 1514, 1, false }, { 1514, 13, false }, { 1514, 2, true },
		{ 1514, 14, true }, { 3000, 64, true }, { 3514, 5, false },
		{ XDP_MAX_MTU + 18, 7, true },
	};
	struct virtio_net_hdr vh;
	unsigned int i, round;
	int len;

	if (!start(_metadata, &self->n, NULL))
		return;
	/* twice round the 1024 tx frames: the completion ring is reaped */
	for (round = 0; round < 2; round++) {
		for (i = 0; i < 1100; i++) {
			nfe_build(&self->n, self->a, 60, other_mac, i);
			ASSERT_EQ(PVKIT_NET_TX_S_OK,
				  nfe_tx_frame(&self->n, 0, self->a, 60, 1,
					       false, NULL));
			len = cap_ours(&self->n, self->b, &vh, 2000);
			ASSERT_EQ(60, len) TH_LOG("round %u frame %u", round, i);
			ASSERT_EQ(0, memcmp(self->a, self->b, 60));
		}
	}
	for (i = 0; i < ARRAY_SIZE(c); i++) {
		nfe_build(&self->n, self->a, c[i].len, other_mac, i);
		ASSERT_EQ(PVKIT_NET_TX_S_OK,
			  nfe_tx_frame(&self->n, 0, self->a, c[i].len,
				       c[i].segs, c[i].ind, NULL));
		len = cap_ours(&self->n, self->b, &vh, 2000);
		ASSERT_EQ((int)c[i].len, len) TH_LOG("frame %u", i);
		EXPECT_EQ(0, memcmp(self->a, self->b, c[i].len))
			TH_LOG("frame %u differs", i);
		EXPECT_EQ(0, vh.flags | vh.gso_type);
	}
}

/* Oversize, offloaded and malformed frames never reach the wire. */
TEST_F_TIMEOUT(xdp, tx_refused, 60)
{
	struct pvkit_net_hdr csum = {
		.flags = PVKIT_NET_HDR_F_NEEDS_CSUM,
		.csum_start = htole16(34), .csum_offset = htole16(16),
	};
	struct pvkit_net_hdr tso = csum;
	struct pvkit_net_tx_req rq;
	struct virtio_net_hdr vh;

	if (!start(_metadata, &self->n, NULL))
		return;
	tso.gso_type = PVKIT_NET_GSO_TCPV4;
	tso.gso_size = htole16(1448);
	tso.hdr_len = htole16(54);
	nfe_build(&self->n, self->a, 8000, other_mac, 1);
	/* one byte over max_mtu + a VLAN Ethernet header; a 4 KiB frame */
	EXPECT_EQ(PVKIT_NET_TX_S_INVAL,
		  nfe_tx_frame(&self->n, 0, self->a, XDP_MAX_MTU + 19, 2,
			       false, NULL));
	EXPECT_EQ(PVKIT_NET_TX_S_INVAL,
		  nfe_tx_frame(&self->n, 0, self->a, 4096, 1, false, NULL));
	EXPECT_EQ(PVKIT_NET_TX_S_INVAL,
		  nfe_tx_frame(&self->n, 0, self->a, 8000, 3, true, NULL));
	/* checksum and TSO were not offered */
	EXPECT_EQ(PVKIT_NET_TX_S_UNSUPP,
		  nfe_tx_frame(&self->n, 0, self->a, 1514, 1, false, &csum));
	EXPECT_EQ(PVKIT_NET_TX_S_UNSUPP,
		  nfe_tx_frame(&self->n, 0, self->a, 6000, 2, false, &tso));
	/* a segment outside guest RAM, lengths that do not add up */
	memset(&rq, 0, sizeof(rq));
	rq.len = htole32(100);
	rq.nr_segs = htole16(1);
	rq.seg[0].gpa = htole64(FE_RAM_SIZE * 4);
	rq.seg[0].len = htole32(100);
	EXPECT_EQ(PVKIT_NET_TX_S_INVAL, nfe_tx_do(&self->n, 0, &rq));
	rq.seg[0].gpa = htole64(NFE_TX_GPA);
	rq.seg[0].len = htole32(99);
	EXPECT_EQ(PVKIT_NET_TX_S_INVAL, nfe_tx_do(&self->n, 0, &rq));
	EXPECT_EQ(-ETIMEDOUT, cap_ours(&self->n, self->b, &vh, 300));

	/* and the next good frame goes out */
	nfe_build(&self->n, self->a, 1514, other_mac, 2);
	ASSERT_EQ(PVKIT_NET_TX_S_OK,
		  nfe_tx_frame(&self->n, 0, self->a, 1514, 2, false, NULL));
	ASSERT_EQ(1514, cap_ours(&self->n, self->b, &vh, 2000));
	EXPECT_EQ(0, memcmp(self->a, self->b, 1514));
}

TEST_F_TIMEOUT(xdp, rx_frames, 60)
{
	struct pvkit_net_hdr h;
	unsigned int i, nb;
	uint32_t len;
	int got;

	if (!start(_metadata, &self->n, NULL))
		return;
	post(_metadata, &self->n, 0, 50, 4096);
	for (i = 0; i < 50; i++) {
		len = 60 + i * 70;	/* up to 3490 */
		got = nfe_inject_rx(&self->n, self->a, self->b, len,
				    self->n.cfg.mac, i, &h, &nb);
		ASSERT_EQ((int)len, got) TH_LOG("frame %u", i);
		EXPECT_EQ(1, nb);
		EXPECT_EQ(0, memcmp(self->a, self->b, len));
		EXPECT_EQ(0, h.flags | h.gso_type | h.gso_size | h.csum_start);
	}
	/* the largest frame, merged over four 1 KiB buffers */
	post(_metadata, &self->n, 50, 4, 1024);
	nfe_build(&self->n, self->a, XDP_MAX_MTU + 14, self->n.cfg.mac, 99);
	ASSERT_EQ(0, nfe_inject(&self->n, self->a, XDP_MAX_MTU + 14, NULL));
	got = nfe_rx_frame(&self->n, 0, self->b, BUF_MAX, &h, &nb,
			   FE_TIMEOUT_MS);
	ASSERT_EQ(XDP_MAX_MTU + 14, got);
	EXPECT_EQ(4, nb);
	EXPECT_EQ(0, memcmp(self->a, self->b, XDP_MAX_MTU + 14));
}

/* With no buffer posted the socket queues; posting delivers in order. */
TEST_F_TIMEOUT(xdp, rx_waits_for_buffers, 60)
{
	struct pvkit_net_rx_rsp rsp;
	struct pvkit_net_hdr h;
	unsigned int i;
	uint32_t seq;

	if (!start(_metadata, &self->n, NULL))
		return;
	for (i = 0; i < 200; i++) {
		nfe_build(&self->n, self->a, 100 + i, self->n.cfg.mac, 100 + i);
		ASSERT_EQ(0, nfe_inject(&self->n, self->a, 100 + i, NULL));
	}
	usleep(200000);
	EXPECT_EQ(-ETIMEDOUT, nfe_rx_get(&self->n, 0, &rsp, 100));
	for (i = 0; i < 200; i++) {
		if (i % 50 == 0)
			post(_metadata, &self->n, i, 50, 2048);
		ASSERT_EQ((int)(100 + i),
			  nfe_rx_frame(&self->n, 0, self->b, BUF_MAX, &h, NULL,
				       FE_TIMEOUT_MS)) TH_LOG("frame %u", i);
		memcpy(&seq, self->b + 14, 4);
		EXPECT_EQ(100 + i, seq);
		nfe_build(&self->n, self->a, 100 + i, self->n.cfg.mac, 100 + i);
		EXPECT_EQ(0, memcmp(self->a, self->b, 100 + i));
	}
}

/* The software filter: frames for other unicast MACs are dropped. */
TEST_F_TIMEOUT(xdp, rx_filter, 60)
{
	if (!start(_metadata, &self->n, NULL))
		return;
	nfe_check_rx_filter(_metadata, &self->n, self->a, self->b);
}

/*
 * A SIGKILLed back-end leaves its XDP program attached; the next one on
 * the same interface replaces it and moves frames both ways.
 */
TEST_F_TIMEOUT(xdp, restart_replaces_program, 60)
{

	if (!start(_metadata, &self->n, NULL))
		return;
	ASSERT_EQ(0, restart_backend(&self->n, NULL))
		TH_LOG("setup: %s", self->n.fe.err_msg);
	one_each_way(_metadata, &self->n, self->a, self->b);
}

/* attach=: the program in the mode asked for; frames move in both. */
TEST_F_TIMEOUT(xdp, attach_modes, 60)
{
	static const struct { const char *arg, *shown; } m[] = {
		{ "attach=generic", " xdpgeneric " },
		{ "attach=native", " xdp " },
		{ "attach=generic", " xdpgeneric " },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(m); i++) {
		char out[4096] = "";
		size_t n = 0;
		FILE *f;

		if (!i && !start(_metadata, &self->n, m[i].arg))
			return;
		if (i) {
			/* ours, in the other mode: the next back-end replaces it */
			ASSERT_EQ(0, restart_backend(&self->n, m[i].arg))
				TH_LOG("%s: %s", m[i].arg, self->n.fe.err_msg);
		}
		f = popen("ip link show dev " NFE_VETH " 2>/dev/null", "r");
		if (f) {
			n = fread(out, 1, sizeof(out) - 1, f);
			pclose(f);
		}
		out[n] = '\0';
		if (n)
			EXPECT_NE(NULL, strstr(out, m[i].shown))
				TH_LOG("%s: %s", m[i].arg, out);
		one_each_way(_metadata, &self->n, self->a, self->b);
	}
}

/*
 * A second back-end on the interface of a live one (on another queue it
 * would replace the live one's program and cut it off): refused, before
 * it binds; the first still works.
 */
TEST_F_TIMEOUT(xdp, second_backend_refused, 60)
{
	struct fe fe2;
	char args[64];

	if (!start(_metadata, &self->n, NULL))
		return;
	memset(&fe2, 0, sizeof(fe2));
	fe2.kind = &fe_net_kind;
	ASSERT_EQ(0, fe_init(&fe2, 3, NFE_SLOTS));
	ASSERT_EQ(0, fe_spawn(&fe2));
	snprintf(args, sizeof(args), "xdp=%s", NFE_VETH);
	EXPECT_EQ(1, fe_setup(&fe2, args));
	EXPECT_NE(NULL, strstr(fe2.err_msg, "served by pvkit-netback pid"))
		TH_LOG("%s", fe2.err_msg);
	fe_destroy(&fe2);
	one_each_way(_metadata, &self->n, self->a, self->b);
}

/* Two pairs are refused with a reason. */
TEST_F_TIMEOUT(xdp, one_pair_only, 30)
{
	char args[64];
	int ret;

	ret = nfe_netns_veth();
	if (ret == -EPERM || ret == -EOPNOTSUPP)
		SKIP(return, "needs CAP_NET_ADMIN and veth (%s)", strerror(-ret));
	ASSERT_EQ(0, ret);
	self->n.fe.kind = &fe_net_kind;
	ASSERT_EQ(0, fe_init(&self->n.fe, 5, NFE_SLOTS));
	ASSERT_EQ(0, fe_spawn(&self->n.fe));
	snprintf(args, sizeof(args), "xdp=%s", NFE_VETH);
	ASSERT_EQ(1, fe_setup(&self->n.fe, args));
	EXPECT_NE(NULL, strstr(self->n.fe.err_msg, "one queue pair"))
		TH_LOG("%s", self->n.fe.err_msg);
	/* queue= only with xdp=, and within the device's queues */
	fe_destroy(&self->n.fe);
	ASSERT_EQ(0, fe_init(&self->n.fe, 3, NFE_SLOTS));
	ASSERT_EQ(0, fe_spawn(&self->n.fe));
	ASSERT_EQ(1, fe_setup(&self->n.fe, "tap=x0,queue=1"));
	fe_destroy(&self->n.fe);
	ASSERT_EQ(0, fe_init(&self->n.fe, 3, NFE_SLOTS));
	ASSERT_EQ(0, fe_spawn(&self->n.fe));
	snprintf(args, sizeof(args), "xdp=%s,queue=5", NFE_VETH);
	ASSERT_EQ(1, fe_setup(&self->n.fe, args));
	EXPECT_NE(NULL, strstr(self->n.fe.err_msg, "bind"))
		TH_LOG("%s", self->n.fe.err_msg);
}

TEST_HARNESS_MAIN
