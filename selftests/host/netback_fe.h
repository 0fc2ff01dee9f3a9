/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Fake pvkit_net front-end for pvkit-netback's host tests, on the fake
 * hypervisor of blkback_fe.h, and the host end of the link: a network
 * namespace of the test's own with a multi-queue TAP in it (address
 * NFE_TAP_ADDR, IPv6 off so the kernel sends nothing by itself) -- or,
 * for xdp=, a veth pair whose peer is the host end -- and two packet
 * sockets on the host end, one capturing what the guest sends, one
 * injecting what the guest should receive.  No frame leaves the
 * namespace.
 */
#ifndef PVKIT_SELFTESTS_NETBACK_FE_H
#define PVKIT_SELFTESTS_NETBACK_FE_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/virtio_net.h>

#include <pvkit/net.h>

#include "blkback_fe.h"

#define NFE_TAP		"pvkt0"
#define NFE_TAP_ADDR	0x0ad50001	/* 10.213.0.1, inside our netns */
/* xdp=: the back-end's veth end and the host end (NFE_TAP_ADDR) */
#define NFE_VETH	"pvkx0"
#define NFE_VETH_PEER	"pvkx1"
#define NFE_VETH_MTU	3500		/* the AF_XDP port's max_mtu */
#define NFE_ETHERTYPE	0x88b5		/* IEEE local experimental */
#define NFE_SLOTS	256

/* guest-physical areas: rx buffers, tx data, indirect arrays, MAC table */
#define NFE_RX_GPA	(1ULL << 20)		/* 64 KiB per buffer slot */
#define NFE_TX_GPA	(20ULL << 20)
#define NFE_IND_GPA	(30ULL << 20)
#define NFE_MAC_GPA	(31ULL << 20)

/* pvkit-netback for be_control.c: it makes its own netns and TAP */
extern const struct fe_kind fe_net_kind;

struct nfe {
	struct fe fe;
	char host_if[16];	/* the TAP, or the veth peer */
	unsigned int pairs;
	int cap;		/* packet socket: frames the guest sent */
	int inj;		/* packet socket: frames for the guest */
	int ifindex;
	struct pvkit_net_config cfg;	/* READY's, as sent (LE) */
	uint64_t acked;
	uint64_t next_id;
};

/*
 * A fresh network namespace for this process with the TAP in it, up,
 * persistent; 0 or -errno.
 */
int nfe_netns_tap(void);
/* The TAP administratively up or down; 0 or -errno. */
int nfe_set_link(bool up);
/*
 * A fresh network namespace with a veth pair in it: NFE_VETH for the
 * back-end, NFE_VETH_PEER (NFE_TAP_ADDR) the host end; both up, MTU
 * NFE_VETH_MTU.  0 or -errno.
 */
int nfe_netns_veth(void);
/*
 * netns + TAP, the back-end with @pairs pairs and SETUP args "tap=..,"
 * @extra, connected with the offered features minus @drop.
 */
int nfe_start(struct nfe *n, unsigned int pairs, const char *extra,
	      uint64_t drop);
/* netns + veth pair, the back-end on "xdp=NFE_VETH," @extra, one pair. */
int nfe_start_xdp(struct nfe *n, const char *extra, uint64_t drop);
void nfe_destroy(struct nfe *n);

static inline unsigned int nfe_rxq(unsigned int pair) { return 2 * pair; }
static inline unsigned int nfe_txq(unsigned int pair) { return 2 * pair + 1; }
static inline unsigned int nfe_ctrlq(const struct nfe *n)
{
	return 2 * n->pairs;
}

/* Post an rx buffer (queued and pushed). */
int nfe_rx_post(struct nfe *n, unsigned int pair, uint64_t id, uint64_t gpa,
		uint32_t len);
int nfe_rx_get(struct nfe *n, unsigned int pair,
	       struct pvkit_net_rx_rsp *rsp, int timeout_ms);
/*
 * Receive one frame on @pair: responses until a whole frame (first
 * buffer num_buffers, then the others) gathered into @buf (@max bytes);
 * @bufs says where each posted id's buffer is (id - base) * 64 KiB from
 * NFE_RX_GPA.  Returns the frame length or -errno; @hdr gets its header.
 */
int nfe_rx_frame(struct nfe *n, unsigned int pair, uint8_t *buf, size_t max,
		 struct pvkit_net_hdr *hdr, unsigned int *nbufs,
		 int timeout_ms);
/* Submit a tx request on @pair and wait for its status (or -errno). */
int nfe_tx_do(struct nfe *n, unsigned int pair, struct pvkit_net_tx_req *rq);
/*
 * Send @len bytes of @frame from guest RAM at NFE_TX_GPA in @nsegs
 * segments (indirect when more than 13 or @indirect); returns the status.
 */
int nfe_tx_frame(struct nfe *n, unsigned int pair, const void *frame,
		 uint32_t len, unsigned int nsegs, bool indirect,
		 const struct pvkit_net_hdr *hdr);
/* A control command; its status or -errno. */
int nfe_ctrl(struct nfe *n, uint8_t cmd, uint64_t arg0, uint64_t arg1);

/* A frame the guest sent, as the host saw it: length or -ETIMEDOUT. */
int nfe_cap(struct nfe *n, uint8_t *buf, size_t max,
	    struct virtio_net_hdr *vh, int timeout_ms);
/* Give the kernel a frame for the guest; 0 or -errno. */
int nfe_inject(struct nfe *n, const void *frame, size_t len,
	       const struct virtio_net_hdr *vh);
/*
 * A test frame: to @dst, from the TAP's MAC, NFE_ETHERTYPE, @len bytes
 * with a sequence number @seq and pseudo-random payload.
 */
void nfe_build(struct nfe *n, uint8_t *buf, size_t len, const uint8_t *dst,
	       uint32_t seq);
/* An IPv4/TCP frame of @len bytes to @dst (checksums zero: offloaded). */
void nfe_build_tcp4(struct nfe *n, uint8_t *buf, size_t len,
		    const uint8_t *dst, uint32_t seq);

/*
 * Build a test frame of @len bytes to @dst with @seq in @a, inject it and
 * receive the next frame on pair 0 into @b (up to 128 KiB): its length
 * or -errno; its header and buffer count in @hdr and @nbufs (if not NULL).
 */
int nfe_inject_rx(struct nfe *n, uint8_t *a, uint8_t *b, uint32_t len,
		  const uint8_t *dst, uint32_t seq, struct pvkit_net_hdr *hdr,
		  unsigned int *nbufs);

#ifdef __KSELFTEST_HARNESS_H
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NFE_BUF_MAX	(128 << 10)

/* The fixture of the netback tests: the device and two frame buffers. */
#define NFE_FIXTURE(name)						\
FIXTURE(name) {								\
	struct nfe n;							\
	uint8_t *a, *b;		/* NFE_BUF_MAX bytes each */		\
};									\
FIXTURE_SETUP(name)							\
{									\
	self->a = malloc(NFE_BUF_MAX);					\
	self->b = malloc(NFE_BUF_MAX);					\
	memset(&self->n, 0, sizeof(self->n));				\
	self->n.cap = self->n.inj = -1;					\
	ASSERT_TRUE(self->a && self->b);				\
}									\
FIXTURE_TEARDOWN(name)							\
{									\
	nfe_destroy(&self->n);						\
	free(self->a);							\
	free(self->b);							\
}

/*
 * CTRL_RX on pair 0 (16 buffers of 2 KiB posted from id 0): frames to
 * another unicast address or a multicast one not in the table are
 * dropped, ours, broadcast and table entries (unicast and multicast)
 * pass, promiscuous passes everything.  The TAP and the AF_XDP port
 * filter alike.  @a and @b: 128 KiB each.
 */
static inline void nfe_check_rx_filter(struct __test_metadata *_metadata,
				       struct nfe *n, uint8_t *a, uint8_t *b)
{
	static const uint8_t table[2][8] = {
		{ 0x02, 0, 0, 0, 0, 0x42 }, { 0x01, 0, 0x5e, 0, 0, 1 },
	};
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t other[6] = { 0x02, 0, 0, 0, 0, 0x99 };
	unsigned int i;
	uint32_t seq;

	for (i = 0; i < 16; i++)
		ASSERT_EQ(0, nfe_rx_post(n, 0, i, NFE_RX_GPA + i * 65536,
					 2048));
	ASSERT_EQ(PVKIT_NET_CTRL_S_OK,
		  nfe_ctrl(n, PVKIT_NET_CTRL_RX_MODE, 0, 0));
	nfe_build(n, a, 60, other, 1);
	ASSERT_EQ(0, nfe_inject(n, a, 60, NULL));
	nfe_build(n, a, 60, table[1], 2);
	ASSERT_EQ(0, nfe_inject(n, a, 60, NULL));
	ASSERT_EQ(61, nfe_inject_rx(n, a, b, 61, n->cfg.mac, 3, NULL, NULL));
	memcpy(&seq, b + 14, 4);
	EXPECT_EQ(3, seq);
	ASSERT_EQ(62, nfe_inject_rx(n, a, b, 62, bcast, 4, NULL, NULL));

	/* table entries pass, unicast and multicast */
	memcpy(fe_gpa(&n->fe, NFE_MAC_GPA, 16), table, 16);
	ASSERT_EQ(PVKIT_NET_CTRL_S_OK,
		  nfe_ctrl(n, PVKIT_NET_CTRL_MAC_TABLE, 2, NFE_MAC_GPA));
	ASSERT_EQ(63, nfe_inject_rx(n, a, b, 63, table[0], 5, NULL, NULL));
	ASSERT_EQ(64, nfe_inject_rx(n, a, b, 64, table[1], 6, NULL, NULL));

	/* promiscuous: everything */
	ASSERT_EQ(PVKIT_NET_CTRL_S_OK,
		  nfe_ctrl(n, PVKIT_NET_CTRL_RX_MODE, PVKIT_NET_RX_M_PROMISC,
			   0));
	ASSERT_EQ(65, nfe_inject_rx(n, a, b, 65, other, 7, NULL, NULL));
	EXPECT_EQ(0, memcmp(a, b, 65));
}

/*
 * nfe_start() for a test; false if it was skipped (no CAP_NET_ADMIN, or
 * pvkit-netback not built).  Only for files that include the kselftest
 * harness before this header.
 */
static inline bool nfe_start_test(struct __test_metadata *_metadata,
				  struct nfe *n, unsigned int pairs,
				  const char *extra, uint64_t drop)
{
	int ret = nfe_start(n, pairs, extra, drop);

	if (ret == -EPERM || ret == -EACCES || ret == -ENOENT) {
		nfe_destroy(n);
		SKIP(return false, "needs CAP_NET_ADMIN and pvkit-netback (%s)",
		     strerror(-ret));
	}
	ASSERT_EQ(0, ret) TH_LOG("start: %s (%s)", strerror(-ret),
				 n->fe.err_msg);
	return true;
}
#endif

#endif /* PVKIT_SELFTESTS_NETBACK_FE_H */
