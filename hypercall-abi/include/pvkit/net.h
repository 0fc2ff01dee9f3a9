/* SPDX-License-Identifier: MIT */
/*
 * pvkit network device protocol (device type PVKIT_DEV_NET), ABI v1.
 *
 * A device with P queue pairs (1 <= P <= config.max_queue_pairs <=
 * PVKIT_NET_MAX_PAIRS) has 2P + 1 queues, each one pvkit ring
 * (pvkit/ring.h):
 *
 *   queue 2i      rx of pair i   req pvkit_net_rx_req,   rsp pvkit_net_rx_rsp
 *   queue 2i + 1  tx of pair i   req pvkit_net_tx_req,   rsp pvkit_net_tx_rsp
 *   queue 2P      control        req pvkit_net_ctrl_req, rsp pvkit_net_ctrl_rsp
 *
 * Frames are Ethernet frames without FCS.  Data moves by guest-physical
 * address: the back-end translates every buffer and segment through the
 * memory map in the info page and refuses any that is not wholly inside
 * one range of guest RAM.
 *
 * Receive: the guest posts empty buffers on an rx ring; the host fills
 * them in the order it consumed them and answers each.  A frame larger
 * than one buffer spans consecutive buffers ("merged"): the first
 * response says how many (num_buffers) and carries the frame's header,
 * the following ones have num_buffers == 0.
 *
 * Transmit: one request per frame, a header and a list of segments; the
 * response only returns the buffers to the guest.
 */
#ifndef PVKIT_NET_H
#define PVKIT_NET_H

#include <linux/types.h>
#ifdef __KERNEL__
#include <linux/stddef.h>
#else
#include <stddef.h>
#endif

/*
 * Device features (pvkit_dev_entry.features).  Negotiation:
 *
 *   bit                         host offers when            guest without it
 *   PVKIT_NET_F_CSUM            it completes checksums      sends full csums
 *   PVKIT_NET_F_GUEST_CSUM      it may send partial csums   gets full csums
 *   PVKIT_NET_F_HOST_TSO4/6     it segments TCP             sends <= MTU
 *   PVKIT_NET_F_HOST_USO        it segments UDP             sends <= MTU
 *   PVKIT_NET_F_GUEST_TSO4/6    it may send TCP GSO frames  gets <= MTU
 *   PVKIT_NET_F_GUEST_USO       it may send UDP GSO frames  gets <= MTU
 *   PVKIT_NET_F_MTU             config mtu/max_mtu valid    1500, 1500
 *   PVKIT_NET_F_STATUS          config status valid         link always up
 *   PVKIT_NET_F_CTRL_RX         promisc/allmulti/MAC table  host passes all
 *   PVKIT_NET_F_MQ              pairs selectable (ctrl)     pair 0 only
 *   PVKIT_NET_F_CTRL_OFFLOADS   rx offloads switchable      fixed at ack
 *   PVKIT_NET_F_TX_INDIRECT     indirect tx segment lists   inline only
 *   PVKIT_NET_F_BACKEND_POLL    back-end busy-polls         (informational)
 *
 * HOST_TSO4/6 and HOST_USO need CSUM; GUEST_TSO4/6 and GUEST_USO need
 * GUEST_CSUM; a guest acking one without the other is refused
 * (DEV_ACK_FEATURES answers EINVAL).
 */
#define PVKIT_NET_F_CSUM		(1ULL << 0)
#define PVKIT_NET_F_GUEST_CSUM		(1ULL << 1)
#define PVKIT_NET_F_HOST_TSO4		(1ULL << 2)
#define PVKIT_NET_F_HOST_TSO6		(1ULL << 3)
#define PVKIT_NET_F_HOST_USO		(1ULL << 4)
#define PVKIT_NET_F_GUEST_TSO4		(1ULL << 5)
#define PVKIT_NET_F_GUEST_TSO6		(1ULL << 6)
#define PVKIT_NET_F_GUEST_USO		(1ULL << 7)
#define PVKIT_NET_F_MTU			(1ULL << 8)
#define PVKIT_NET_F_STATUS		(1ULL << 9)
#define PVKIT_NET_F_CTRL_RX		(1ULL << 10)
#define PVKIT_NET_F_MQ			(1ULL << 11)
#define PVKIT_NET_F_CTRL_OFFLOADS	(1ULL << 12)
#define PVKIT_NET_F_TX_INDIRECT		(1ULL << 13)
#define PVKIT_NET_F_BACKEND_POLL	(1ULL << 14)
#define PVKIT_NET_F_KNOWN		((1ULL << 15) - 1)

#define PVKIT_NET_F_HOST_GSO	(PVKIT_NET_F_HOST_TSO4 | \
				 PVKIT_NET_F_HOST_TSO6 | PVKIT_NET_F_HOST_USO)
#define PVKIT_NET_F_GUEST_GSO	(PVKIT_NET_F_GUEST_TSO4 | \
				 PVKIT_NET_F_GUEST_TSO6 | PVKIT_NET_F_GUEST_USO)

#define PVKIT_NET_MAX_PAIRS		8	/* 17 queues <= PVKIT_MAX_QUEUES */
#define PVKIT_NET_ETH_LEN		14	/* Ethernet header */
#define PVKIT_NET_MIN_MTU		68
#define PVKIT_NET_MAX_MTU		65521	/* frame <= MAX_FRAME */
/* largest frame in either direction: 64 KiB of GSO payload + headers */
#define PVKIT_NET_MAX_FRAME		65539
#define PVKIT_NET_MIN_RX_BUF		256	/* posted rx buffer, bytes */
#define PVKIT_NET_MAX_RX_BUF		65536
#define PVKIT_NET_MAX_RX_BUFS		64	/* buffers per merged frame */
#define PVKIT_NET_TX_INLINE_SEGS	13
#define PVKIT_NET_TX_MAX_SEGS		64	/* with PVKIT_NET_F_TX_INDIRECT */
#define PVKIT_NET_MAC_TABLE_MAX		64	/* entries in CTRL_MAC_TABLE */

/* Config status bits (valid with PVKIT_NET_F_STATUS). */
#define PVKIT_NET_S_LINK_UP		(1U << 0)

/*
 * Device config (pvkit_dev_entry.config), written by the host.  Only
 * status changes while the device exists (ABI.md 6.2, in place: a
 * device-table change, generation bump and vec_config).
 */
struct pvkit_net_config {
	__u8 mac[6];		/* the guest's MAC; unicast, not all-zero */
	__le16 status;		/* PVKIT_NET_S_*, with F_STATUS; live */
	__le16 max_queue_pairs;	/* 1..MAX_PAIRS; nr_queues = 2 x this + 1 */
	__le16 mtu;		/* MTU the host suggests, with F_MTU */
	__le16 max_mtu;		/* largest MTU both ways, with F_MTU */
	__le16 reserved0;	/* must be zero */
	__le32 poll_us;		/* back-end idle spin before sleeping, 0 = off */
	__le32 reserved1;	/* must be zero */
	__le64 reserved[13];	/* must be zero */
};				/* 128 bytes, MUST NOT change */

_Static_assert(sizeof(struct pvkit_net_config) == 128,
	       "pvkit_net_config size");
_Static_assert(offsetof(struct pvkit_net_config, status) == 6, "status");
_Static_assert(offsetof(struct pvkit_net_config, max_mtu) == 12, "max_mtu");
_Static_assert(offsetof(struct pvkit_net_config, poll_us) == 16, "poll_us");

/* pvkit_net_hdr.flags */
#define PVKIT_NET_HDR_F_NEEDS_CSUM	(1U << 0)	/* csum_start/offset */
#define PVKIT_NET_HDR_F_DATA_VALID	(1U << 1)	/* rx: csum checked */
#define PVKIT_NET_HDR_F_KNOWN		((1U << 2) - 1)

/* pvkit_net_hdr.gso_type */
#define PVKIT_NET_GSO_NONE		0
#define PVKIT_NET_GSO_TCPV4		1
#define PVKIT_NET_GSO_TCPV6		2
#define PVKIT_NET_GSO_UDP_L4		3
#define PVKIT_NET_GSO_ECN		0x80	/* TCP with ECN (CWR) set */

/*
 * What Linux offloads need to know of a frame, both directions (the
 * fields of virtio_net_hdr, so a TAP back-end passes them through).
 */
struct pvkit_net_hdr {
	__u8 flags;		/* PVKIT_NET_HDR_F_* */
	__u8 gso_type;		/* PVKIT_NET_GSO_*, NONE unless negotiated */
	__le16 hdr_len;		/* GSO: bytes of headers up to the payload */
	__le16 gso_size;	/* GSO: payload bytes per segment, > 0 */
	__le16 csum_start;	/* NEEDS_CSUM: checksum from this offset */
	__le16 csum_offset;	/* NEEDS_CSUM: store it at start + this */
	__le16 reserved0;	/* must be zero */
	__le32 reserved1;	/* must be zero */
};				/* 16 bytes, MUST NOT change */

_Static_assert(sizeof(struct pvkit_net_hdr) == 16, "pvkit_net_hdr size");
_Static_assert(offsetof(struct pvkit_net_hdr, csum_start) == 6,
	       "csum_start");

/* An rx buffer the guest posts. */
struct pvkit_net_rx_req {
	__le64 id;		/* opaque tag echoed in the response */
	__le64 gpa;		/* guest-physical address of the buffer */
	__le32 len;		/* bytes, MIN_RX_BUF..MAX_RX_BUF */
	__le32 reserved;	/* must be zero */
};				/* 24 bytes, MUST NOT change */

_Static_assert(sizeof(struct pvkit_net_rx_req) == 24, "pvkit_net_rx_req size");

/* rx response status */
#define PVKIT_NET_RX_S_OK		0	/* frame data in the buffer */
#define PVKIT_NET_RX_S_INVAL		1	/* malformed rx_req: not used */

/* A filled (or refused) rx buffer. */
struct pvkit_net_rx_rsp {
	__le64 id;		/* the rx_req's id */
	struct pvkit_net_hdr hdr; /* the frame's, in its first buffer only */
	__le32 len;		/* bytes written to this buffer, <= its len */
	__le16 num_buffers;	/* first buffer: 1..MAX_RX_BUFS; others 0 */
	__u8 status;		/* PVKIT_NET_RX_S_* */
	__u8 reserved;		/* written as zero */
};				/* 32 bytes, MUST NOT change */

_Static_assert(sizeof(struct pvkit_net_rx_rsp) == 32, "pvkit_net_rx_rsp size");
_Static_assert(offsetof(struct pvkit_net_rx_rsp, len) == 24, "rx len");

/* One tx segment: any byte length, wholly inside one memory-map range. */
struct pvkit_net_seg {
	__le64 gpa;		/* guest-physical address of the bytes */
	__le32 len;		/* bytes, > 0 */
	__le32 reserved;	/* must be zero */
};				/* 16 bytes, MUST NOT change */

_Static_assert(sizeof(struct pvkit_net_seg) == 16, "pvkit_net_seg size");

/* tx request flags */
#define PVKIT_NET_TX_F_INDIRECT		(1U << 0)	/* segs at indirect_gpa */
#define PVKIT_NET_TX_F_KNOWN		PVKIT_NET_TX_F_INDIRECT

/*
 * One frame to send: len bytes in nr_segs segments, inline (up to
 * TX_INLINE_SEGS) or, with TX_F_INDIRECT, an array of nr_segs (up to
 * TX_MAX_SEGS) pvkit_net_seg at indirect_gpa, inside one range.
 */
struct pvkit_net_tx_req {
	__le64 id;		/* opaque tag echoed in the response */
	struct pvkit_net_hdr hdr; /* offloads for this frame */
	__le32 len;		/* frame bytes: the sum of the segments */
	__le16 nr_segs;		/* >= 1 */
	__u8 flags;		/* PVKIT_NET_TX_F_* */
	__u8 reserved0;		/* must be zero */
	__le64 indirect_gpa;	/* segment array with TX_F_INDIRECT, else 0 */
	__le64 reserved1;	/* must be zero */
	struct pvkit_net_seg seg[PVKIT_NET_TX_INLINE_SEGS]; /* inline */
};				/* 256 bytes, MUST NOT change */

_Static_assert(sizeof(struct pvkit_net_tx_req) == 256, "pvkit_net_tx_req size");
_Static_assert(offsetof(struct pvkit_net_tx_req, len) == 24, "tx len");
_Static_assert(offsetof(struct pvkit_net_tx_req, seg) == 48, "tx seg");

/* tx response status */
#define PVKIT_NET_TX_S_OK		0	/* handed on (or dropped as a */
						/* link would: no carrier...) */
#define PVKIT_NET_TX_S_INVAL		1	/* malformed: dropped, counted */
#define PVKIT_NET_TX_S_UNSUPP		2	/* offload not negotiated */

struct pvkit_net_tx_rsp {
	__le64 id;		/* the request's id */
	__u8 status;		/* PVKIT_NET_TX_S_* */
	__u8 pad[7];		/* written as zero */
};				/* 16 bytes, MUST NOT change */

_Static_assert(sizeof(struct pvkit_net_tx_rsp) == 16, "pvkit_net_tx_rsp size");

/* Control commands. */
#define PVKIT_NET_CTRL_QUEUE_PAIRS	1	/* arg0 = pairs in use, MQ */
#define PVKIT_NET_CTRL_RX_MODE		2	/* arg0 = PVKIT_NET_RX_M_*, CTRL_RX */
#define PVKIT_NET_CTRL_MAC_TABLE	3	/* arg0 = count, arg1 = gpa, CTRL_RX */
#define PVKIT_NET_CTRL_OFFLOADS		4	/* arg0 = guest offloads, CTRL_OFFLOADS */

/* PVKIT_NET_CTRL_RX_MODE bits */
#define PVKIT_NET_RX_M_PROMISC		(1U << 0)	/* every frame */
#define PVKIT_NET_RX_M_ALLMULTI		(1U << 1)	/* every multicast */
#define PVKIT_NET_RX_M_KNOWN		((1U << 2) - 1)

/*
 * One control command.  MAC_TABLE: arg0 entries of 8 bytes (6-byte MAC,
 * 2 bytes zero) at arg1, inside one range; frames to the config MAC,
 * broadcast and these addresses pass.  OFFLOADS: arg0 is the subset of
 * the acked GUEST_CSUM/GUEST_* GSO feature bits the host may use now.
 */
struct pvkit_net_ctrl_req {
	__le64 id;		/* opaque tag echoed in the response */
	__u8 cmd;		/* PVKIT_NET_CTRL_* */
	__u8 reserved0[7];	/* must be zero */
	__le64 arg0;		/* command argument */
	__le64 arg1;		/* command argument */
	__le64 reserved[4];	/* must be zero */
};				/* 64 bytes, MUST NOT change */

_Static_assert(sizeof(struct pvkit_net_ctrl_req) == 64,
	       "pvkit_net_ctrl_req size");

/* control response status */
#define PVKIT_NET_CTRL_S_OK		0
#define PVKIT_NET_CTRL_S_INVAL		1	/* bad argument */
#define PVKIT_NET_CTRL_S_UNSUPP		2	/* command not negotiated */
#define PVKIT_NET_CTRL_S_ERR		3	/* valid, but the host failed */

struct pvkit_net_ctrl_rsp {
	__le64 id;		/* the request's id */
	__u8 status;		/* PVKIT_NET_CTRL_S_* */
	__u8 pad[7];		/* written as zero */
};				/* 16 bytes, MUST NOT change */

_Static_assert(sizeof(struct pvkit_net_ctrl_rsp) == 16,
	       "pvkit_net_ctrl_rsp size");

#endif /* PVKIT_NET_H */
