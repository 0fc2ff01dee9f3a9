/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pvkit-netback internals: the network back-end serving one pvkit network
 * device (pvkit/net.h) from a multi-queue TAP device.
 *
 *   main.c    the struct pvbe_ops (bemain.h), opening the TAP, READY
 *   opts.c    SETUP.args parsing
 *   txreq.c   copy-then-validate of tx requests, header conversion
 *   queue.c   per-queue threads: rx, tx and control
 *
 * Queue pair i is TAP queue i (one fd each, IFF_MULTI_QUEUE): the kernel
 * steers each flow to one queue, so pairs scale like virtio-net's.
 */
#ifndef PVKIT_NETBACK_H
#define PVKIT_NETBACK_H

#include <net/if.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <linux/virtio_net.h>

/* UDP (L4) segmentation: 6.2+ kernels, newer than some host headers */
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4	5
#endif

#include <pvkit/abi.h>
#include <pvkit/net.h>
#include <pvkit/ring.h>
#include <pvkit-host/bemain.h>
#include <pvkit-host/bequeue.h>
#include <pvkit-host/gmem.h>

#define NETB_MAX_POLL_US	1000000U	/* 1 s */
/* how often the control thread looks at the TAP's link */
#define NETB_LINK_TICK_MS	200U
#define NETB_DEFAULT_MTU	1500U
/* VLAN-tagged Ethernet header: what a frame may add to the MTU */
#define NETB_ETH_VLAN_LEN	18U

/*
 * The TAP's vnet header: struct virtio_net_hdr (10 bytes).  The 12-byte
 * mrg_rxbuf form only adds num_buffers, which a TAP never fills in:
 * merging rx buffers is our business, not the kernel's.
 */
#define NETB_VNET_HDR_LEN	((int)sizeof(struct virtio_net_hdr))

/* Offloads the guest acks that the host uses on rx (CTRL_OFFLOADS). */
#define NETB_RX_OFFLOADS	(PVKIT_NET_F_GUEST_CSUM | PVKIT_NET_F_GUEST_GSO)

/* rx: one frame read from the TAP, then copied into guest buffers */
#define NETB_RX_BOUNCE		(128U << 10)

/* ------------------------------------------------------------ options --- */

struct netb_opts {
	char tap[IFNAMSIZ];
	unsigned int poll_us;
	unsigned int mtu;		/* 0: the TAP's current MTU */
	bool has_mac;
	uint8_t mac[6];
};

/*
 * Parse "tap=NAME[,poll=US][,mac=XX:XX:XX:XX:XX:XX][,mtu=N]".  Returns 0
 * or -EINVAL with a reason in @err.
 */
int netb_opts_parse(struct netb_opts *o, const char *args, char *err,
		    size_t errlen);

/* ---------------------------------------------------------- tx parser --- */

/* What tx requests may use: the negotiated device. */
struct netb_tx_limits {
	uint64_t acked;		/* features the guest acknowledged */
	uint32_t max_mtu;	/* config max_mtu with F_MTU, else 1500 */
};

/* A validated tx frame: the TAP's header and the segments in guest RAM. */
struct netb_tx {
	struct virtio_net_hdr vh;
	uint32_t len;			/* frame bytes */
	unsigned int nr_iov;		/* segment iovecs, after iov[0] */
	/* iov[0] is the vnet header: writev(tap, iov, 1 + nr_iov) */
	struct iovec iov[1 + PVKIT_NET_TX_MAX_SEGS];
};

/*
 * Validate the private copy @rq (ABI.md section 10) and fill @tx with the
 * vnet header and host pointers into guest RAM.  @segbuf
 * (PVKIT_NET_TX_MAX_SEGS entries) receives the copy of an indirect
 * segment array.  Returns PVKIT_NET_TX_S_OK or the status to answer.
 */
uint8_t netb_tx_parse(const struct netb_tx_limits *lim, const struct gmem *gm,
		      const struct pvkit_net_tx_req *rq,
		      struct pvkit_net_seg *segbuf, struct netb_tx *tx);

/*
 * Convert a TAP header of a @len-byte frame to the guest's, allowing the
 * rx offloads in @offloads (PVKIT_NET_F_GUEST_* bits).  A DATA_VALID the
 * guest may not see is dropped; 0, or -EINVAL when the frame cannot be
 * delivered as it is (an offload the guest did not ask for, fields
 * outside the frame).
 */
int netb_rx_hdr(const struct virtio_net_hdr *vh, uint32_t len,
		uint64_t offloads, struct pvkit_net_hdr *h);

/* ------------------------------------------------------------- queues --- */

struct netb_dev;

enum netb_qtype { NETB_Q_RX, NETB_Q_TX, NETB_Q_CTRL };

/* queue 2i: rx of pair i, 2i + 1: its tx, the last (2P): control */
static inline enum netb_qtype netb_qtype(const struct pvbe *be,
					 unsigned int qi)
{
	if ((be->nr_queues & 1) && qi == be->nr_queues - 1)
		return NETB_Q_CTRL;
	return qi & 1 ? NETB_Q_TX : NETB_Q_RX;
}

/* A posted rx buffer, validated, waiting for frame data. */
struct netb_rxbuf {
	uint64_t id;
	uint8_t *p;
	uint32_t len;
};

struct netb_queue {
	struct pvbe_queue bq;		/* ring, fds, stop/error, counters */
	struct netb_dev *dev;
	enum netb_qtype type;
	unsigned int pair;		/* rx/tx: the pair */
	int wake_fd;			/* eventfd: control changed our pair */
	pthread_t thread;
	bool thread_ok;
	struct log_ratelimit rl;	/* what the guest can make us log */
	uint64_t drops;			/* frames dropped (full TAP, bad) */

	/* rx, owned by the queue thread */
	uint8_t *bounce;		/* NETB_RX_BOUNCE bytes */
	struct virtio_net_hdr pend_vh;	/* a frame read, not yet delivered */
	uint32_t pend_len;		/* its length; 0: none */
	unsigned int nr_bufs;		/* buffers held for it */
	struct netb_rxbuf bufs[PVKIT_NET_MAX_RX_BUFS];

	/* tx */
	struct netb_tx_limits lim;
	struct netb_tx tx;
	struct pvkit_net_seg segbuf[PVKIT_NET_TX_MAX_SEGS];
} __attribute__((aligned(64)));

/* Per-device state. */
struct netb_dev {
	struct pvbe be;
	struct netb_opts opts;
	unsigned int max_pairs;		/* (nr_queues - 1) / 2 */
	int tap_fd[PVKIT_NET_MAX_PAIRS];	/* one TAP queue per pair */
	unsigned int tap_offloads;	/* TUN_F_* the TAP accepts */
	bool has_uso;			/* the kernel knows TUN_F_USO4/6 */
	uint8_t mac[6];
	uint16_t mtu, max_mtu;
	bool link_up;			/* as last reported (control thread) */

	/* the connection's control state (control thread writes) */
	pthread_mutex_t lock;		/* TAP attach/detach vs. tx fallback */
	unsigned int pairs;		/* atomic: pairs in use */
	uint64_t rx_offloads;		/* atomic: PVKIT_NET_F_GUEST_* in use */
	uint8_t rx_mode;		/* PVKIT_NET_RX_M_* */
	unsigned int nr_macs;
	uint8_t macs[PVKIT_NET_MAC_TABLE_MAX][8];
};

static inline struct netb_dev *netb_dev(struct pvbe *be)
{
	return container_of(be, struct netb_dev, be);
}

static inline struct netb_queue *netb_queue(struct pvbe_queue *bq)
{
	return container_of(bq, struct netb_queue, bq);
}

/* The TUN_F_* flags for the rx offloads @offloads (PVKIT_NET_F_GUEST_*). */
unsigned int netb_tun_offloads(uint64_t offloads);

/* TAP ioctls of the control state; 0 or -errno. */
int netb_tap_set_offloads(struct netb_dev *dev, uint64_t offloads);
int netb_tap_set_filter(struct netb_dev *dev);
int netb_tap_set_pairs(struct netb_dev *dev, unsigned int pairs);

int netb_queue_start(struct pvbe *be, struct pvbe_queue *bq);
void netb_queue_join(struct pvbe *be, struct pvbe_queue *bq);

#endif /* PVKIT_NETBACK_H */
