/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pvkit-netback internals: the network back-end serving one pvkit network
 * device (pvkit/net.h) from a host port: a multi-queue TAP device or an
 * AF_XDP socket on one queue of a host interface.
 *
 *   main.c      the struct pvbe_ops (bemain.h), MTU and MAC, READY
 *   opts.c      SETUP.args parsing
 *   txreq.c     copy-then-validate of tx requests, header conversion
 *   queue.c     per-queue threads: rx, tx and control, on a port
 *   port-tap.c  the TAP port
 *   port-xdp.c  the AF_XDP port (and xsk.bpf.c, its XDP program)
 *
 * TAP: queue pair i is TAP queue i (one fd each, IFF_MULTI_QUEUE): the
 * kernel steers each flow to one queue, so pairs scale like virtio-net's.
 * AF_XDP: one pair, one socket; no offload metadata either way.
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

/*
 * AF_XDP: a UMEM of 4 KiB frames, half of them lent to the kernel for rx
 * (fill ring), half the tx thread's.  A received frame starts after
 * XDP_PACKET_HEADROOM (256 bytes): 3840 bytes fit; a native XDP program
 * on a veth takes frames of up to 3506 bytes of MTU.  The MTU offered is
 * kept under both.
 */
#define NETB_XSK_FRAME		4096U
#define NETB_XSK_RX_FRAMES	1024U
#define NETB_XSK_TX_FRAMES	1024U
#define NETB_XSK_MAX_MTU	3500U
#define NETB_XSK_MAX_QUEUE	255U

/* ------------------------------------------------------------ options --- */

enum netb_port_kind { NETB_PORT_TAP, NETB_PORT_XDP };
enum netb_xdp_attach { NETB_XDP_AUTO, NETB_XDP_NATIVE, NETB_XDP_GENERIC };

struct netb_opts {
	enum netb_port_kind port;	/* tap= or xdp= */
	char ifname[IFNAMSIZ];		/* the TAP or the interface */
	unsigned int queue;		/* xdp: the interface's rx queue */
	bool has_queue;
	enum netb_xdp_attach attach;	/* xdp: the program's mode */
	unsigned int poll_us;
	unsigned int mtu;		/* 0: the TAP's current MTU */
	bool has_mac;
	uint8_t mac[6];
};

/*
 * Parse "tap=NAME[,poll=US][,mac=XX:XX:XX:XX:XX:XX][,mtu=N]" or
 * "xdp=IFNAME[,queue=Q][,attach=native|generic][,poll=US][,mac=..][,mtu=N]".
 * Returns 0 or
 * -EINVAL with a reason in @err.
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
struct bpf_object;

/*
 * A host port: what the queue threads do to move frames and what the
 * control queue changes.  Calls for one pair come from that pair's rx
 * thread (read, rx_fd) and tx thread (write, tx_flush) only; the set_*
 * calls from the control thread (and from CONNECT, before any thread).
 * All return 0 or -errno.
 */
struct netb_port_ops {
	const char *name;
	/* open the port: the fds, dev->max_mtu, dev->mtu from the host */
	int (*open)(struct netb_dev *dev, char *err, size_t errlen);
	void (*close)(struct netb_dev *dev);
	/* feature bits the port adds to the common ones */
	uint64_t (*features)(const struct netb_dev *dev);
	/*
	 * One frame into @buf (@max bytes) and its header: 1 with *@len
	 * (the caller checks it; 0: a frame dropped by the port), 0 when
	 * none is waiting, -errno on an error.
	 */
	int (*read)(struct netb_dev *dev, unsigned int pair,
		    struct virtio_net_hdr *vh, uint8_t *buf, uint32_t max,
		    uint32_t *len);
	/*
	 * Send a validated frame: 0, -EINVAL when the port refuses it for
	 * its header or size (answered INVAL), other -errno: lost as on a
	 * wire (full, down).
	 */
	int (*write)(struct netb_dev *dev, unsigned int pair,
		     const struct netb_tx *tx);
	/* optional: after a batch of writes, push out what is queued */
	void (*tx_flush)(struct netb_dev *dev, unsigned int pair);
	/* the fd that is readable (POLLIN) when read() has a frame */
	int (*rx_fd)(struct netb_dev *dev, unsigned int pair);
	int (*set_offloads)(struct netb_dev *dev, uint64_t offloads);
	/* dev->rx_mode, dev->macs and dev->nr_macs changed */
	int (*set_filter)(struct netb_dev *dev);
	int (*set_pairs)(struct netb_dev *dev, unsigned int pairs);
};

extern const struct netb_port_ops netb_port_tap;
extern const struct netb_port_ops netb_port_xdp;

/* xsk.bpf.o, the AF_XDP port's XDP program, embedded by xsk-blob.S */
extern const uint8_t netb_xsk_bpf[];
extern const uint8_t netb_xsk_bpf_end[];

/* One AF_XDP ring as mapped: the kernel's indices and our cached copies. */
struct netb_xring {
	uint32_t *producer, *consumer, *flags;
	void *ring;			/* __u64 addrs or struct xdp_desc */
	uint32_t size;			/* entries, a power of two */
	uint32_t cached_prod, cached_cons;
	void *map;
	size_t map_len;
};

/* The AF_XDP port's state (port-xdp.c). */
struct netb_xsk {
	int fd;
	int ifindex;
	uint8_t *umem;			/* NETB_XSK_*_FRAMES frames */
	size_t umem_len;
	bool zerocopy;
	struct netb_xring fill, comp, rx, tx;	/* rx thread: rx, fill */
	uint64_t tx_free[NETB_XSK_TX_FRAMES];	/* tx thread: tx, comp */
	unsigned int nr_tx_free;
	struct bpf_object *obj;
	int prog_fd;
	int old_mode;			/* XDP_FLAGS_*_MODE of a dead one's */
	uint32_t attach_flags;		/* XDP_FLAGS_*_MODE of our program */
	bool attached;
	/* the software rx filter: a copy of the control state */
	pthread_mutex_t flt_lock;
	uint8_t flt_mode;		/* PVKIT_NET_RX_M_* */
	unsigned int flt_nr;
	uint8_t flt_macs[PVKIT_NET_MAC_TABLE_MAX][6];
};

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
	const struct netb_port_ops *port;
	unsigned int max_pairs;		/* (nr_queues - 1) / 2 */
	int tap_fd[PVKIT_NET_MAX_PAIRS];	/* one TAP queue per pair */
	bool has_uso;			/* the kernel knows TUN_F_USO4/6 */
	struct netb_xsk xsk;		/* xdp= */
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

/* SIOCSIFMTU (@set) or SIOCGIFMTU on @ifname: the MTU or -errno. */
int netb_if_mtu(const char *ifname, unsigned int set);

/*
 * ctrl.c: carry out control command @rq (a private copy) on @dev: the
 * status to answer.  QUEUE_PAIRS answered OK changed dev->pairs; the
 * caller wakes the rx threads.
 */
uint8_t netb_ctrl(struct netb_dev *dev, const struct pvkit_net_ctrl_req *rq);
/*
 * The port's part of a control change, then the state the threads read
 * (dev->pairs, dev->rx_offloads).  0 or the port's -errno.
 */
int netb_set_pairs(struct netb_dev *dev, unsigned int pairs);
int netb_set_offloads(struct netb_dev *dev, uint64_t offloads);

int netb_queue_start(struct pvbe *be, struct pvbe_queue *bq);
void netb_queue_join(struct pvbe *be, struct pvbe_queue *bq);

#endif /* PVKIT_NETBACK_H */
