// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvkit paravirtual network front-end: an Ethernet netdev on the pvkit bus
 * (device type PVKIT_DEV_NET, pvkit/net.h, ABI.md section 10).
 *
 * One rx/tx queue pair per vCPU (up to what the host offers), each with
 * its own vectors steered to its CPU, NAPI for rx and for tx completions,
 * BQL, checksum and segmentation offloads, a control ring for queue pairs,
 * rx filters and rx offloads.  The ring machinery and the device lifecycle
 * (quiesce on a back-end restart, reconnect, resubmit, break on a protocol
 * violation) are pvkit.ko's (pvkit/fe.h); this file is only the netdev.
 *
 * Everything the host sends is checked: rx lengths against the posted
 * buffer, merge counts, offload header fields against what was negotiated
 * and the frame; a bad frame is dropped and counted, a bad id or index
 * breaks the device.
 *
 * Copyright (c) 2026 The pvkit authors
 */
#include <linux/bpf.h>
#include <linux/bpf_trace.h>
#include <linux/completion.h>
#include <linux/dma-mapping.h>
#include <linux/etherdevice.h>
#include <linux/ethtool.h>
#include <linux/filter.h>
#include <linux/if_vlan.h>
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/skbuff.h>
#include <linux/u64_stats_sync.h>
#include <linux/virtio_net.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <net/ip.h>
#include <net/xdp.h>
#include <pvkit/bus.h>
#include <pvkit/fe.h>
#include <pvkit/net.h>

MODULE_IMPORT_NS(PVKIT);

static unsigned int max_queue_pairs;
module_param(max_queue_pairs, uint, 0444);
MODULE_PARM_DESC(max_queue_pairs,
		 "Queue pairs to set up at most (0 = one per CPU, as offered)");

static unsigned int ring_depth = 256;
module_param(ring_depth, uint, 0444);
MODULE_PARM_DESC(ring_depth, "rx and tx ring entries used at most (2..4096)");

#define PVNET_CONNECT_WAIT_MS	5000
#define PVNET_CTRL_TIMEOUT_MS	5000
/* ... and how long a back-end being restarted may keep it waiting */
#define PVNET_CTRL_RESTART_MS	60000
#define PVNET_REFILL_RETRY	(HZ / 4)
#define PVNET_CTRL_DEPTH	4
#define PVNET_COPY_LEN		128	/* rx bytes copied into the skb head */
#define PVNET_RX_BUF		PAGE_SIZE
#define PVNET_TX_MAX_SEGS	PVKIT_NET_TX_MAX_SEGS
#define PVNET_DEFAULT_MTU	1500
/* responses reaped per rx poll: bounds the XDP batch arrays */
#define PVNET_RX_BATCH		NAPI_POLL_WEIGHT
/* tx responses reaped per tx poll: the frames freed after it */
#define PVNET_TX_BATCH		NAPI_POLL_WEIGHT

/*
 * With an XDP program an rx buffer is posted XDP_PACKET_HEADROOM into its
 * page (room for bpf_xdp_adjust_head() and the xdp_frame of XDP_TX and
 * REDIRECT) and ends before an skb_shared_info, so the page can become an
 * skb or an xdp_frame as it is.  One buffer per frame: the MTU is limited.
 */
#define PVNET_XDP_HEADROOM	XDP_PACKET_HEADROOM
#define PVNET_XDP_TAILROOM	SKB_DATA_ALIGN(sizeof(struct skb_shared_info))
#define PVNET_XDP_MAX_LEN	(PVNET_RX_BUF - PVNET_XDP_HEADROOM - \
				 PVNET_XDP_TAILROOM)
#define PVNET_XDP_MAX_MTU	(PVNET_XDP_MAX_LEN - VLAN_ETH_HLEN)

/* Per-queue counters (ethtool -S). */
struct pvnet_qstats {
	struct u64_stats_sync sync;
	u64 packets, bytes, drops, errors, kicks, irqs, polls, ring_full;
	u64 linearized;
	u64 xdp_pass, xdp_drop, xdp_tx, xdp_redirect;	/* rx */
	u64 xdp_xmit;					/* tx */
};

struct pvnet_rxbuf {
	struct pvkit_fe_req fr;
	struct pvkit_net_rx_req slot;
	struct page *page;
	dma_addr_t dma;
	u32 off;			/* where in the page it was posted */
};

/* A one-buffer frame taken off the ring for the XDP program. */
struct pvnet_xdp_in {
	struct page *page;
	dma_addr_t dma;
	u32 off, len;
};

struct pvnet_txbuf {
	struct pvkit_fe_req fr;
	struct pvkit_net_tx_req slot;
	struct sk_buff *skb;
	struct xdp_frame *xdpf;		/* instead of skb: XDP_TX, xdp_xmit */
	struct pvkit_net_seg *indirect;	/* PVNET_TX_MAX_SEGS, with INDIRECT */
	dma_addr_t indirect_dma;
	unsigned int nr_maps;
	bool head_mapped;		/* maps[0] is the linear part */
	dma_addr_t maps[PVNET_TX_MAX_SEGS];
	u32 map_len[PVNET_TX_MAX_SEGS];
};

struct pvnet;

struct pvnet_rq {
	struct pvkit_fe_queue fq;
	struct napi_struct napi;
	struct pvnet *net;
	struct pvnet_rxbuf *bufs;	/* by tag */
	u16 *free_tags;			/* stack of tags not posted */
	unsigned int nr_free;
	/* a merged frame being assembled across responses */
	struct sk_buff *skb;
	unsigned int bufs_left;
	struct pvnet_qstats stats;
	struct xdp_rxq_info xdp_rxq;
	bool xdp_rxq_reg;
	/* the NAPI's: frames for the XDP program, frames it sends back */
	unsigned int nr_xdp;
	struct pvnet_xdp_in xdp_in[PVNET_RX_BATCH];
	struct xdp_frame *xdp_tx[PVNET_RX_BATCH];
} ____cacheline_aligned_in_smp;

struct pvnet_sq {
	struct pvkit_fe_queue fq;
	struct napi_struct napi;
	struct pvnet *net;
	struct pvnet_txbuf *bufs;	/* by tag */
	u16 *free_tags;
	unsigned int nr_free;
	unsigned int qidx;		/* netdev tx queue */
	struct pvnet_qstats stats;
	struct xdp_frame *done_xdpf[PVNET_TX_BATCH];	/* the tx NAPI's */
} ____cacheline_aligned_in_smp;

struct pvnet_ctrlbuf {
	struct pvkit_fe_call call;
	struct pvkit_net_ctrl_req slot;
	struct pvkit_net_ctrl_rsp rsp;
};

struct pvnet {
	struct net_device *ndev;
	struct pvkit_device *pdev;
	struct device *dma_dev;
	struct pvkit_fe_dev fd;
	u64 features;			/* acknowledged */
	u16 dev_pairs;			/* config max_queue_pairs */
	u16 max_pairs;			/* set up here */
	u16 cur_pairs;			/* in use */
	u16 init_pairs;			/* pairs set up (for the unwinding) */
	u16 max_mtu;
	u32 depth;
	bool link_up;
	struct pvnet_rq *rq;
	struct pvnet_sq *sq;
	struct pvkit_fe_queue ctrl;
	struct mutex ctrl_lock;		/* one control command at a time */
	struct pvnet_ctrlbuf ctrl_buf;
	u64 rx_offloads;		/* GUEST_* bits the host may use now */
	struct work_struct rx_mode_work;
	struct work_struct config_work;	/* re-apply after a reconnect */
	struct delayed_work refill_work; /* rx rings left empty for memory */
	struct pvkit_fe_queue **fqs;	/* for fd.queues */
	struct bpf_prog __rcu *xdp_prog;
};

/* What an rx reap hands the complete op (NULL: a drain, data dropped). */
struct pvnet_rx_ctx {
	struct sk_buff_head done;	/* skbs for napi_gro_receive() */
	struct bpf_prog *prog;		/* XDP program, under rcu_read_lock */
};

static inline bool pvnet_has(const struct pvnet *net, u64 f)
{
	return net->features & f;
}

/* Device queue numbers (ABI.md 10): 2i rx, 2i + 1 tx, 2P control. */
static inline unsigned int pvnet_rxq(unsigned int pair)
{
	return 2 * pair;
}

static inline unsigned int pvnet_txq(unsigned int pair)
{
	return 2 * pair + 1;
}

static void pvnet_stat_add(struct pvnet_qstats *s, u64 *field, u64 n)
{
	u64_stats_update_begin(&s->sync);
	*field += n;
	u64_stats_update_end(&s->sync);
}

/* ------------------------------------------------------------- receive */

static void pvnet_rx_unmap(struct pvnet *net, struct pvnet_rxbuf *b)
{
	dma_unmap_page(net->dma_dev, b->dma, PVNET_RX_BUF, DMA_FROM_DEVICE);
	b->dma = 0;
}

/* Post rx buffers until the ring or the free tags run out.  Lock held. */
static bool pvnet_rx_refill(struct pvnet_rq *rq, gfp_t gfp)
{
	struct pvnet *net = rq->net;
	/* a buffer posted now is used after the next attach or detach too */
	u32 off = rcu_access_pointer(net->xdp_prog) ? PVNET_XDP_HEADROOM : 0;
	bool posted = false;

	while (rq->nr_free) {
		u16 tag = rq->free_tags[rq->nr_free - 1];
		struct pvnet_rxbuf *b = &rq->bufs[tag];

		if (!b->page) {
			b->page = alloc_page(gfp | __GFP_NOWARN);
			if (!b->page)
				break;
			b->dma = dma_map_page(net->dma_dev, b->page, 0,
					      PVNET_RX_BUF, DMA_FROM_DEVICE);
			if (dma_mapping_error(net->dma_dev, b->dma)) {
				__free_page(b->page);
				b->page = NULL;
				break;
			}
		} else {
			/* a page kept from a small frame: the host's again */
			dma_sync_single_for_device(net->dma_dev, b->dma,
						   PVNET_RX_BUF,
						   DMA_FROM_DEVICE);
		}
		b->off = off;
		b->slot.gpa = cpu_to_le64(b->dma + off);
		b->slot.len = cpu_to_le32(off ? PVNET_XDP_MAX_LEN :
					  PVNET_RX_BUF);
		b->slot.reserved = 0;
		if (pvkit_fe_submit(&rq->fq, &b->fr, tag))
			break;
		rq->nr_free--;
		posted = true;
	}
	return posted;
}

/* Is the offload header of a received frame of @len bytes acceptable? */
static bool pvnet_rx_hdr_ok(struct pvnet *net, const struct pvkit_net_hdr *h,
			    unsigned int len)
{
	u8 gso = h->gso_type & ~PVKIT_NET_GSO_ECN;

	if (h->flags & ~PVKIT_NET_HDR_F_KNOWN)
		return false;
	if ((h->flags & (PVKIT_NET_HDR_F_NEEDS_CSUM |
			 PVKIT_NET_HDR_F_DATA_VALID)) &&
	    !(net->rx_offloads & PVKIT_NET_F_GUEST_CSUM))
		return false;
	if ((h->flags & PVKIT_NET_HDR_F_NEEDS_CSUM) &&
	    (u32)le16_to_cpu(h->csum_start) + le16_to_cpu(h->csum_offset) + 2 >
	    len)
		return false;
	switch (gso) {
	case PVKIT_NET_GSO_NONE:
		return !(h->gso_type & PVKIT_NET_GSO_ECN);
	case PVKIT_NET_GSO_TCPV4:
		if (!(net->rx_offloads & PVKIT_NET_F_GUEST_TSO4))
			return false;
		break;
	case PVKIT_NET_GSO_TCPV6:
		if (!(net->rx_offloads & PVKIT_NET_F_GUEST_TSO6))
			return false;
		break;
	case PVKIT_NET_GSO_UDP_L4:
		if (!(net->rx_offloads & PVKIT_NET_F_GUEST_USO) ||
		    (h->gso_type & PVKIT_NET_GSO_ECN))
			return false;
		break;
	default:
		return false;
	}
	return (h->flags & PVKIT_NET_HDR_F_NEEDS_CSUM) &&
	       le16_to_cpu(h->gso_size) && le16_to_cpu(h->hdr_len) <= len;
}

/*
 * UDP segmentation offload: the rules virtio_net_hdr_to_skb() applies
 * from 6.2 on (6.1's knows no GSO_UDP_L4).  NEEDS_CSUM was checked.
 */
static bool pvnet_rx_uso_to_skb(struct sk_buff *skb,
				const struct pvkit_net_hdr *h)
{
	u16 gso_size = le16_to_cpu(h->gso_size);
	unsigned int p_off;

	if (le16_to_cpu(h->csum_offset) != offsetof(struct udphdr, check) ||
	    !skb_partial_csum_set(skb, le16_to_cpu(h->csum_start),
				  offsetof(struct udphdr, check)))
		return false;
	p_off = skb_transport_offset(skb) + sizeof(struct udphdr);
	if (!pskb_may_pull(skb, p_off) || gso_size == GSO_BY_FRAGS ||
	    skb->len - p_off > gso_size * UDP_MAX_SEGMENTS)
		return false;
	if (skb->len - p_off > gso_size) {
		skb_shinfo(skb)->gso_size = gso_size;
		/* the host's segment count is not trusted: recounted */
		skb_shinfo(skb)->gso_type = SKB_GSO_UDP_L4 | SKB_GSO_DODGY;
		skb_shinfo(skb)->gso_segs = 0;
	}
	return true;
}

/*
 * Offload header -> skb; false if the stack refuses it.  The kernel's own
 * checks of a virtio-net header (what tun, tap and virtio_net apply to
 * what they receive) are stricter than ours could reasonably be -- the
 * checksum offset per protocol, the transport header really there, GSO
 * sizes -- so the header is translated and handed to them.
 */
static bool pvnet_rx_hdr_to_skb(struct sk_buff *skb,
				const struct pvkit_net_hdr *h)
{
	u8 gso = h->gso_type & ~PVKIT_NET_GSO_ECN;
	struct virtio_net_hdr vh = {};

	if (h->flags & PVKIT_NET_HDR_F_DATA_VALID)
		skb->ip_summed = CHECKSUM_UNNECESSARY;
	if (gso == PVKIT_NET_GSO_UDP_L4)
		return pvnet_rx_uso_to_skb(skb, h);
	if (h->flags & PVKIT_NET_HDR_F_NEEDS_CSUM)
		vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	if (gso == PVKIT_NET_GSO_TCPV4)
		vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	else if (gso == PVKIT_NET_GSO_TCPV6)
		vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
	if (gso && (h->gso_type & PVKIT_NET_GSO_ECN))
		vh.gso_type |= VIRTIO_NET_HDR_GSO_ECN;
	vh.hdr_len = __cpu_to_virtio16(true, le16_to_cpu(h->hdr_len));
	vh.gso_size = __cpu_to_virtio16(true, le16_to_cpu(h->gso_size));
	vh.csum_start = __cpu_to_virtio16(true, le16_to_cpu(h->csum_start));
	vh.csum_offset = __cpu_to_virtio16(true, le16_to_cpu(h->csum_offset));
	return !virtio_net_hdr_to_skb(skb, &vh, true);
}

/* The frame being assembled is complete: check it and queue it on @done. */
static void pvnet_rx_finish(struct pvnet_rq *rq, struct sk_buff_head *done)
{
	struct pvnet *net = rq->net;
	struct sk_buff *skb = rq->skb;
	struct pvkit_net_hdr h;

	rq->skb = NULL;
	if (!skb)
		return;			/* dropped on the way (counted) */
	memcpy(&h, skb->cb, sizeof(h));
	memset(skb->cb, 0, sizeof(h));
	/*
	 * The host chose the buffer sizes: the Ethernet header may straddle
	 * the head and a fragment, and eth_type_trans() needs it whole.
	 */
	if (skb->len < PVKIT_NET_ETH_LEN || !pvnet_rx_hdr_ok(net, &h, skb->len) ||
	    !pskb_may_pull(skb, ETH_HLEN)) {
		net_warn_ratelimited("%s: rx: bad frame (%u bytes, flags %#x, gso %#x)\n",
				     net->ndev->name, skb->len, h.flags,
				     h.gso_type);
		goto drop;
	}
	/* offsets count from the frame start: before the pull */
	if (!pvnet_rx_hdr_to_skb(skb, &h))
		goto drop;
	skb->protocol = eth_type_trans(skb, net->ndev);
	skb_record_rx_queue(skb, rq - net->rq);
	__skb_queue_tail(done, skb);
	return;

drop:
	dev_kfree_skb_any(skb);
	pvnet_stat_add(&rq->stats, &rq->stats.drops, 1);
}

/*
 * The first buffer of a frame while an XDP program is attached: a frame
 * the program may see (one buffer, no offload to honour) is taken off the
 * ring, page and all, for pvnet_rx_xdp() once the lock is dropped; any
 * other is dropped.  Lock held.
 */
static void pvnet_rx_xdp_take(struct pvnet_rq *rq, struct pvnet_rxbuf *b,
			      const struct pvkit_net_rx_rsp *rsp, u32 len,
			      u16 nbufs)
{
	struct pvnet *net = rq->net;
	struct pvnet_xdp_in *x;

	if (nbufs != 1 || len < ETH_HLEN || rq->nr_xdp >= PVNET_RX_BATCH ||
	    (rsp->hdr.flags & PVKIT_NET_HDR_F_NEEDS_CSUM) ||
	    rsp->hdr.gso_type != PVKIT_NET_GSO_NONE ||
	    !pvnet_rx_hdr_ok(net, &rsp->hdr, len)) {
		pvnet_stat_add(&rq->stats, &rq->stats.drops, 1);
		return;
	}
	x = &rq->xdp_in[rq->nr_xdp++];
	x->page = b->page;
	x->dma = b->dma;
	x->off = b->off;
	x->len = len;
	b->page = NULL;
	b->dma = 0;
}

/*
 * A filled rx buffer (the library matched its id): start or continue a
 * frame; a complete one goes on the context's list for NAPI to pass up
 * once the lock is dropped.  Without a context (a drain before a reset, a
 * resume) the data is dropped.  A buffer that does not fit the frame
 * being assembled drops that frame, and continuations are dropped until a
 * buffer starts a new one: the host cannot make us merge across frames.
 * The buffer's page goes to the skb, or stays for the next post.  Lock
 * held.
 */
static bool pvnet_rx_complete(struct pvnet_rq *rq, struct pvnet_rxbuf *b,
			      const struct pvkit_net_rx_rsp *rsp,
			      struct pvnet_rx_ctx *rc)
{
	struct pvnet *net = rq->net;
	struct sk_buff_head *done = rc ? &rc->done : NULL;
	u32 len = le32_to_cpu(rsp->len);
	u16 nbufs = le16_to_cpu(rsp->num_buffers);
	struct sk_buff *skb;
	unsigned int copy = 0;

	rq->free_tags[rq->nr_free++] = b->fr.tag;
	if (rsp->status == PVKIT_NET_RX_S_INVAL && !len && !nbufs &&
	    !rq->bufs_left)
		return true;		/* a buffer the host refused: reused */
	if (rsp->status != PVKIT_NET_RX_S_OK || len > le32_to_cpu(b->slot.len) ||
	    (rq->bufs_left ? nbufs != 0 :
	     !nbufs || nbufs > PVKIT_NET_MAX_RX_BUFS)) {
		net_warn_ratelimited("%s: rx: bad response (status %u, %u bytes, %u buffers, %u expected)\n",
				     net->ndev->name, rsp->status, len, nbufs,
				     rq->bufs_left);
		if (rq->skb)
			dev_kfree_skb_any(rq->skb);
		rq->skb = NULL;
		rq->bufs_left = 0;
		pvnet_stat_add(&rq->stats, &rq->stats.errors, 1);
		return true;
	}

	if (!rq->bufs_left) {		/* the first buffer of a frame */
		rq->bufs_left = nbufs;
		rq->skb = NULL;
		if (rc && rc->prog) {
			pvnet_rx_xdp_take(rq, b, rsp, len, nbufs);
			goto next;
		}
		if (done && nbufs <= MAX_SKB_FRAGS + 1)
			rq->skb = napi_alloc_skb(&rq->napi, PVNET_COPY_LEN);
		if (rq->skb) {
			dma_sync_single_range_for_cpu(net->dma_dev, b->dma,
						      b->off, len,
						      DMA_FROM_DEVICE);
			copy = min_t(u32, len, PVNET_COPY_LEN);
			skb_put_data(rq->skb, page_address(b->page) + b->off,
				     copy);
			/* checked against the whole frame at its end */
			memcpy(rq->skb->cb, &rsp->hdr, sizeof(rsp->hdr));
		} else if (done) {
			pvnet_stat_add(&rq->stats, &rq->stats.drops, 1);
		}
	}
	skb = rq->skb;
	if (skb && len > copy) {
		if (skb_shinfo(skb)->nr_frags >= MAX_SKB_FRAGS ||
		    skb->len + len - copy > PVKIT_NET_MAX_FRAME) {
			dev_kfree_skb_any(skb);
			rq->skb = NULL;
			pvnet_stat_add(&rq->stats, &rq->stats.drops, 1);
		} else {
			/* (the unmap hands the page to the CPU) */
			pvnet_rx_unmap(net, b);
			skb_add_rx_frag(skb, skb_shinfo(skb)->nr_frags,
					b->page, b->off + copy, len - copy,
					PVNET_RX_BUF);
			b->page = NULL;
		}
	}
next:
	if (--rq->bufs_left)
		return true;
	if (done) {
		pvnet_rx_finish(rq, done);
	} else if (rq->skb) {		/* a frame a drain completed */
		dev_kfree_skb_any(rq->skb);
		rq->skb = NULL;
	}
	return true;
}

/* ------------------------------------------------------------ transmit */

static void pvnet_tx_unmap(struct pvnet *net, struct pvnet_txbuf *t)
{
	unsigned int i;

	for (i = 0; i < t->nr_maps; i++) {
		if (!i && t->head_mapped)
			dma_unmap_single(net->dma_dev, t->maps[i],
					 t->map_len[i], DMA_TO_DEVICE);
		else
			dma_unmap_page(net->dma_dev, t->maps[i],
				       t->map_len[i], DMA_TO_DEVICE);
	}
	t->nr_maps = 0;
	t->head_mapped = false;
}

/*
 * A tx reap's completions.  In the tx NAPI (@napi) the skbs and XDP
 * frames are only collected under the ring lock and freed once it is
 * dropped, with interrupts on: napi_consume_skb() and a page pool's
 * recycling want that.  Elsewhere (a reconnect's reap, a failed
 * request) they are freed at once with the irq-safe calls.
 */
struct pvnet_tx_ctx {
	unsigned int pkts, bytes;	/* skbs: what BQL was told */
	unsigned int xdp;		/* XDP frames */
	bool napi;
	struct sk_buff *skbs;		/* napi: chained through skb->next */
	struct xdp_frame **xdpf;	/* napi: PVNET_TX_BATCH of them */
};

/*
 * The host is done with a frame (answered, or failed at a reset): free
 * it and tell BQL.  Every BQL completion runs under fq->lock, so those of
 * the NAPI and of the lifecycle helper never race.  Lock held.
 */
static void pvnet_tx_done(struct pvnet_sq *sq, struct pvnet_txbuf *t,
			  struct pvnet_tx_ctx *tc)
{
	struct sk_buff *skb = t->skb;

	pvnet_tx_unmap(sq->net, t);
	sq->free_tags[sq->nr_free++] = t->fr.tag;
	t->skb = NULL;
	if (t->xdpf) {
		/* our own pages or a redirecting driver's: it frees them */
		if (tc->napi)
			tc->xdpf[tc->xdp] = t->xdpf;
		else
			xdp_return_frame(t->xdpf);
		t->xdpf = NULL;
		tc->xdp++;
		return;
	}
	if (!skb)
		return;
	tc->pkts++;
	tc->bytes += skb->len;
	if (tc->napi) {
		skb->next = tc->skbs;
		tc->skbs = skb;
	} else {
		dev_consume_skb_any(skb);
	}
}

static void pvnet_tx_bql(struct pvnet_sq *sq, struct pvnet_tx_ctx *tc)
{
	netdev_tx_completed_queue(netdev_get_tx_queue(sq->net->ndev, sq->qidx),
				  tc->pkts, tc->bytes);
}

/* A tx response.  Lock held. */
static bool pvnet_tx_complete(struct pvnet_sq *sq, struct pvnet_txbuf *t,
			      const struct pvkit_net_tx_rsp *rsp,
			      struct pvnet_tx_ctx *ctx)
{
	struct pvnet_tx_ctx local = {};

	if (rsp->status > PVKIT_NET_TX_S_UNSUPP) {
		snprintf(sq->fq.why, sizeof(sq->fq.why),
			 "queue %u: unknown tx status %u", sq->fq.index,
			 rsp->status);
		return false;
	}
	if (rsp->status != PVKIT_NET_TX_S_OK) {
		net_warn_ratelimited("%s: host refused a frame (status %u)\n",
				     sq->net->ndev->name, rsp->status);
		pvnet_stat_add(&sq->stats, &sq->stats.errors, 1);
	}
	pvnet_tx_done(sq, t, ctx ?: &local);
	if (!ctx)			/* not the NAPI: account at once */
		pvnet_tx_bql(sq, &local);
	return true;
}

/* The fe library's complete op: which queue decides what it is. */
static bool pvnet_complete(struct pvkit_fe_queue *fq, struct pvkit_fe_req *r,
			   const void *rsp, void *ctx)
{
	struct pvnet *net = dev_get_drvdata(&fq->pdev->dev);

	if (fq == &net->ctrl)
		return pvkit_fe_call_complete(&net->ctrl_buf.call, rsp);
	if (fq->index & 1) {
		struct pvnet_sq *sq = container_of(fq, struct pvnet_sq, fq);

		return pvnet_tx_complete(sq, container_of(r, struct pvnet_txbuf,
							  fr),
					 rsp, ctx);
	}
	return pvnet_rx_complete(container_of(fq, struct pvnet_rq, fq),
				 container_of(r, struct pvnet_rxbuf, fr), rsp,
				 ctx);
}

/* Map @skb into @t's slot (inline or indirect segments).  0 or -errno. */
static int pvnet_tx_map(struct pvnet *net, struct pvnet_txbuf *t,
			struct sk_buff *skb)
{
	unsigned int nsegs = 1 + skb_shinfo(skb)->nr_frags, i, n = 0;
	struct pvkit_net_seg *segs;
	dma_addr_t a;

	segs = nsegs > PVKIT_NET_TX_INLINE_SEGS ? t->indirect : t->slot.seg;
	if (skb_headlen(skb)) {
		a = dma_map_single(net->dma_dev, skb->data, skb_headlen(skb),
				   DMA_TO_DEVICE);
		if (dma_mapping_error(net->dma_dev, a))
			return -ENOMEM;
		t->head_mapped = true;
		t->maps[t->nr_maps] = a;
		t->map_len[t->nr_maps++] = skb_headlen(skb);
		segs[n].gpa = cpu_to_le64(a);
		segs[n].len = cpu_to_le32(skb_headlen(skb));
		segs[n++].reserved = 0;
	}
	for (i = 0; i < skb_shinfo(skb)->nr_frags; i++) {
		skb_frag_t *f = &skb_shinfo(skb)->frags[i];

		a = skb_frag_dma_map(net->dma_dev, f, 0, skb_frag_size(f),
				     DMA_TO_DEVICE);
		if (dma_mapping_error(net->dma_dev, a))
			goto err_unmap;
		t->maps[t->nr_maps] = a;
		t->map_len[t->nr_maps++] = skb_frag_size(f);
		segs[n].gpa = cpu_to_le64(a);
		segs[n].len = cpu_to_le32(skb_frag_size(f));
		segs[n++].reserved = 0;
	}
	t->slot.nr_segs = cpu_to_le16(n);
	t->slot.flags = 0;
	t->slot.indirect_gpa = 0;
	if (segs == t->indirect) {
		t->slot.flags = PVKIT_NET_TX_F_INDIRECT;
		t->slot.indirect_gpa = cpu_to_le64(t->indirect_dma);
		dma_sync_single_for_device(net->dma_dev, t->indirect_dma,
					   n * sizeof(*segs), DMA_TO_DEVICE);
	}
	return 0;

err_unmap:
	pvnet_tx_unmap(net, t);
	return -ENOMEM;
}

/* skb offloads -> header; false if the frame needs what was not acked. */
static bool pvnet_tx_hdr(struct pvnet *net, struct sk_buff *skb,
			 struct pvkit_net_hdr *h)
{
	memset(h, 0, sizeof(*h));
	if (skb->ip_summed == CHECKSUM_PARTIAL) {
		h->flags = PVKIT_NET_HDR_F_NEEDS_CSUM;
		h->csum_start = cpu_to_le16(skb_checksum_start_offset(skb));
		h->csum_offset = cpu_to_le16(skb->csum_offset);
	}
	if (!skb_is_gso(skb))
		return true;
	if (skb_shinfo(skb)->gso_type & SKB_GSO_TCPV4)
		h->gso_type = PVKIT_NET_GSO_TCPV4;
	else if (skb_shinfo(skb)->gso_type & SKB_GSO_TCPV6)
		h->gso_type = PVKIT_NET_GSO_TCPV6;
	else if (skb_shinfo(skb)->gso_type & SKB_GSO_UDP_L4)
		h->gso_type = PVKIT_NET_GSO_UDP_L4;
	else
		return false;
	if (skb_shinfo(skb)->gso_type & SKB_GSO_TCP_ECN)
		h->gso_type |= PVKIT_NET_GSO_ECN;
	h->gso_size = cpu_to_le16(skb_shinfo(skb)->gso_size);
	if (skb_shinfo(skb)->gso_type & SKB_GSO_UDP_L4)
		h->hdr_len = cpu_to_le16(skb_transport_offset(skb) +
					 sizeof(struct udphdr));
	else
		h->hdr_len = cpu_to_le16(skb_transport_offset(skb) +
					 tcp_hdrlen(skb));
	return true;
}

static netdev_tx_t pvnet_start_xmit(struct sk_buff *skb,
				    struct net_device *ndev)
{
	struct pvnet *net = netdev_priv(ndev);
	unsigned int qi = skb_get_queue_mapping(skb);
	struct pvnet_sq *sq = &net->sq[qi];
	struct netdev_queue *txq = netdev_get_tx_queue(ndev, qi);
	unsigned int max_inline = pvnet_has(net, PVKIT_NET_F_TX_INDIRECT) ?
				  PVNET_TX_MAX_SEGS : PVKIT_NET_TX_INLINE_SEGS;
	struct pvnet_txbuf *t;
	bool kick = false;
	u16 tag;
	int err;

	if (unlikely(pvkit_fe_dev_dead(&net->fd)))
		goto drop;
	if (1 + skb_shinfo(skb)->nr_frags > max_inline) {
		if (skb_linearize(skb))
			goto drop;
		pvnet_stat_add(&sq->stats, &sq->stats.linearized, 1);
	}

	spin_lock_irq(&sq->fq.lock);
	if (unlikely(!sq->nr_free)) {
		netif_tx_stop_queue(txq);
		spin_unlock_irq(&sq->fq.lock);
		pvnet_stat_add(&sq->stats, &sq->stats.ring_full, 1);
		return NETDEV_TX_BUSY;
	}
	tag = sq->free_tags[--sq->nr_free];
	t = &sq->bufs[tag];
	if (!pvnet_tx_hdr(net, skb, &t->slot.hdr) ||
	    pvnet_tx_map(net, t, skb)) {
		sq->free_tags[sq->nr_free++] = tag;
		spin_unlock_irq(&sq->fq.lock);
		goto drop;
	}
	t->slot.len = cpu_to_le32(skb->len);
	t->slot.reserved0 = 0;
	t->slot.reserved1 = 0;
	t->skb = skb;
	skb_tx_timestamp(skb);
	err = pvkit_fe_submit(&sq->fq, &t->fr, tag);
	if (unlikely(err)) {
		pvnet_tx_unmap(net, t);
		t->skb = NULL;
		sq->free_tags[sq->nr_free++] = tag;
		spin_unlock_irq(&sq->fq.lock);
		goto drop;
	}
	netdev_tx_sent_queue(txq, skb->len);
	if (!sq->nr_free)
		netif_tx_stop_queue(txq);
	if (!netdev_xmit_more() || netif_xmit_stopped(txq))
		kick = pvkit_fe_push(&sq->fq);
	spin_unlock_irq(&sq->fq.lock);
	if (kick) {
		pvkit_fe_kick(&sq->fq);
		pvnet_stat_add(&sq->stats, &sq->stats.kicks, 1);
	}
	return NETDEV_TX_OK;

drop:
	pvnet_stat_add(&sq->stats, &sq->stats.drops, 1);
	dev_kfree_skb_any(skb);
	return NETDEV_TX_OK;
}

/* --------------------------------------------------------------- XDP */

/*
 * Send XDP frames on @sq (shared with the stack's transmits: the ring
 * lock orders them; XDP frames are not BQL's business).  Pushes and kicks
 * with @flush.  Returns the number of frames now owned by the ring.
 */
static int pvnet_xdp_send(struct pvnet_sq *sq, struct xdp_frame **frames,
			  int n, bool flush)
{
	struct pvnet *net = sq->net;
	unsigned int max_len = net->max_mtu + VLAN_ETH_HLEN;
	unsigned long flags;
	bool kick = false;
	int i;

	spin_lock_irqsave(&sq->fq.lock, flags);
	for (i = 0; i < n && sq->nr_free; i++) {
		struct xdp_frame *f = frames[i];
		u16 tag = sq->free_tags[sq->nr_free - 1];
		struct pvnet_txbuf *t = &sq->bufs[tag];
		dma_addr_t a;

		/* what the host accepts without GSO (ABI.md 10) */
		if (f->len < PVKIT_NET_ETH_LEN || f->len > max_len)
			break;
		a = dma_map_single(net->dma_dev, f->data, f->len,
				   DMA_TO_DEVICE);
		if (dma_mapping_error(net->dma_dev, a))
			break;
		t->head_mapped = true;
		t->maps[0] = a;
		t->map_len[0] = f->len;
		t->nr_maps = 1;
		memset(&t->slot, 0, sizeof(t->slot));
		t->slot.len = cpu_to_le32(f->len);
		t->slot.nr_segs = cpu_to_le16(1);
		t->slot.seg[0].gpa = cpu_to_le64(a);
		t->slot.seg[0].len = cpu_to_le32(f->len);
		t->xdpf = f;
		if (pvkit_fe_submit(&sq->fq, &t->fr, tag)) {
			pvnet_tx_unmap(net, t);
			t->xdpf = NULL;
			break;
		}
		sq->nr_free--;
	}
	if (i && flush)
		kick = pvkit_fe_push(&sq->fq);
	spin_unlock_irqrestore(&sq->fq.lock, flags);
	u64_stats_update_begin(&sq->stats.sync);
	sq->stats.xdp_xmit += i;
	sq->stats.kicks += kick;
	u64_stats_update_end(&sq->stats.sync);
	if (kick)
		pvkit_fe_kick(&sq->fq);
	return i;
}

/* ndo_xdp_xmit: frames redirected to us by XDP programs anywhere. */
static int pvnet_xdp_xmit(struct net_device *ndev, int n,
			  struct xdp_frame **frames, u32 flags)
{
	struct pvnet *net = netdev_priv(ndev);
	unsigned int pairs = READ_ONCE(net->cur_pairs);

	if (unlikely(flags & ~XDP_XMIT_FLAGS_MASK))
		return -EINVAL;
	if (unlikely(!netif_running(ndev) || !netif_carrier_ok(ndev) ||
		     pvkit_fe_dev_dead(&net->fd)))
		return -ENETDOWN;
	return pvnet_xdp_send(&net->sq[smp_processor_id() % pairs], frames, n,
			      flags & XDP_XMIT_FLUSH);
}

/*
 * Run the XDP program on a frame taken off the ring.  Returns true when
 * the page is still ours and mapped (to be posted again), false when it
 * went up the stack, back out, elsewhere, or was freed.
 */
static bool pvnet_rx_xdp(struct pvnet_rq *rq, struct bpf_prog *prog,
			 struct pvnet_xdp_in *x, struct sk_buff_head *done,
			 unsigned int *nr_tx, bool *redirected)
{
	struct pvnet *net = rq->net;
	struct net_device *ndev = net->ndev;
	void *va = page_address(x->page);
	struct xdp_frame *xdpf;
	struct sk_buff *skb;
	struct xdp_buff xdp;
	u32 act, len;

	dma_sync_single_range_for_cpu(net->dma_dev, x->dma, x->off, x->len,
				      DMA_FROM_DEVICE);
	if (x->off < PVNET_XDP_HEADROOM) {
		/* posted before the program came: make its headroom */
		if (x->len > PVNET_XDP_MAX_LEN)
			goto drop;
		memmove(va + PVNET_XDP_HEADROOM, va + x->off, x->len);
		x->off = PVNET_XDP_HEADROOM;
	}
	xdp_init_buff(&xdp, PVNET_RX_BUF, &rq->xdp_rxq);
	xdp_prepare_buff(&xdp, va, x->off, x->len, true);
	act = bpf_prog_run_xdp(prog, &xdp);

	switch (act) {
	case XDP_PASS:
		len = xdp.data_end - xdp.data;
		if (len < ETH_HLEN)
			goto drop;
		dma_unmap_page_attrs(net->dma_dev, x->dma, PVNET_RX_BUF,
				     DMA_FROM_DEVICE, DMA_ATTR_SKIP_CPU_SYNC);
		skb = napi_build_skb(va, PVNET_RX_BUF);
		if (!skb) {
			__free_page(x->page);
			pvnet_stat_add(&rq->stats, &rq->stats.drops, 1);
			return false;
		}
		skb_reserve(skb, xdp.data - va);
		__skb_put(skb, len);
		if (xdp.data_meta < xdp.data)
			skb_metadata_set(skb, xdp.data - xdp.data_meta);
		skb->protocol = eth_type_trans(skb, ndev);
		skb_record_rx_queue(skb, rq - net->rq);
		__skb_queue_tail(done, skb);
		pvnet_stat_add(&rq->stats, &rq->stats.xdp_pass, 1);
		return false;
	case XDP_TX:
		xdpf = xdp_convert_buff_to_frame(&xdp);
		if (unlikely(!xdpf))
			goto drop;
		dma_unmap_page_attrs(net->dma_dev, x->dma, PVNET_RX_BUF,
				     DMA_FROM_DEVICE, DMA_ATTR_SKIP_CPU_SYNC);
		rq->xdp_tx[(*nr_tx)++] = xdpf;
		return false;
	case XDP_REDIRECT:
		dma_unmap_page_attrs(net->dma_dev, x->dma, PVNET_RX_BUF,
				     DMA_FROM_DEVICE, DMA_ATTR_SKIP_CPU_SYNC);
		if (xdp_do_redirect(ndev, &xdp, prog)) {
			trace_xdp_exception(ndev, prog, act);
			__free_page(x->page);
			pvnet_stat_add(&rq->stats, &rq->stats.xdp_drop, 1);
			return false;
		}
		*redirected = true;
		pvnet_stat_add(&rq->stats, &rq->stats.xdp_redirect, 1);
		return false;
	default:
		bpf_warn_invalid_xdp_action(ndev, prog, act);
		fallthrough;
	case XDP_ABORTED:
		trace_xdp_exception(ndev, prog, act);
		fallthrough;
	case XDP_DROP:
		break;
	}
drop:
	pvnet_stat_add(&rq->stats, &rq->stats.xdp_drop, 1);
	return true;
}

/*
 * Give a page XDP dropped back to a buffer that lost its own, so the
 * refill posts it again without allocating.  Lock held.
 */
static void pvnet_rx_recycle(struct pvnet_rq *rq, struct pvnet_xdp_in *x)
{
	unsigned int i;

	for (i = rq->nr_free; i-- > 0;) {
		struct pvnet_rxbuf *b = &rq->bufs[rq->free_tags[i]];

		if (!b->page) {
			b->page = x->page;
			b->dma = x->dma;
			return;
		}
	}
	dma_unmap_page(rq->net->dma_dev, x->dma, PVNET_RX_BUF,
		       DMA_FROM_DEVICE);
	__free_page(x->page);
}

/*
 * The XDP half of an rx poll, outside the ring lock (XDP_TX and
 * REDIRECT take other rings' locks): run the program on each frame
 * taken, send what it bounced in one batch on our pair's tx ring, then
 * recycle what it dropped and refill.  Returns whether to kick.
 */
static bool pvnet_rx_xdp_batch(struct pvnet_rq *rq, struct bpf_prog *prog,
			       struct sk_buff_head *done)
{
	struct pvnet *net = rq->net;
	unsigned int i, nr_tx = 0, nr_keep = 0;
	bool redirected = false, kick;
	int sent = 0;

	for (i = 0; i < rq->nr_xdp; i++) {
		struct pvnet_xdp_in *x = &rq->xdp_in[i];

		if (pvnet_rx_xdp(rq, prog, x, done, &nr_tx, &redirected))
			rq->xdp_in[nr_keep++] = *x;
	}
	if (redirected)
		xdp_do_flush();
	if (nr_tx) {
		sent = pvnet_xdp_send(&net->sq[rq - net->rq], rq->xdp_tx,
				      nr_tx, true);
		for (i = sent; i < nr_tx; i++)
			xdp_return_frame_rx_napi(rq->xdp_tx[i]);
		u64_stats_update_begin(&rq->stats.sync);
		rq->stats.xdp_tx += sent;
		rq->stats.xdp_drop += nr_tx - sent;
		u64_stats_update_end(&rq->stats.sync);
	}

	spin_lock_irq(&rq->fq.lock);
	for (i = 0; i < nr_keep; i++)
		pvnet_rx_recycle(rq, &rq->xdp_in[i]);
	rq->nr_xdp = 0;
	kick = pvnet_rx_refill(rq, GFP_ATOMIC) && pvkit_fe_push(&rq->fq);
	spin_unlock_irq(&rq->fq.lock);
	return kick;
}

static int pvnet_xdp_set(struct net_device *ndev, struct bpf_prog *prog,
			 struct netlink_ext_ack *extack)
{
	struct pvnet *net = netdev_priv(ndev);
	struct bpf_prog *old;

	if (prog && ndev->mtu > PVNET_XDP_MAX_MTU) {
		NL_SET_ERR_MSG_MOD(extack, "MTU too large for XDP: a frame must fit one rx buffer");
		netdev_warn(ndev, "XDP needs an MTU of at most %u\n",
			    (unsigned int)PVNET_XDP_MAX_MTU);
		return -EINVAL;
	}
	if (prog && net->rx_offloads &&
	    !pvnet_has(net, PVKIT_NET_F_CTRL_OFFLOADS)) {
		NL_SET_ERR_MSG_MOD(extack, "the host's rx offloads cannot be switched off for XDP");
		return -EOPNOTSUPP;
	}
	old = rcu_replace_pointer(net->xdp_prog, prog, lockdep_rtnl_is_held());
	if (old)
		bpf_prog_put(old);
	/*
	 * The program sees whole frames with their checksums: rx
	 * checksum and GSO offloads go off while it is attached
	 * (pvnet_fix_features()), back on after.
	 */
	if (!old != !prog)
		netdev_update_features(ndev);
	return 0;
}

static int pvnet_bpf(struct net_device *ndev, struct netdev_bpf *bpf)
{
	switch (bpf->command) {
	case XDP_SETUP_PROG:
		return pvnet_xdp_set(ndev, bpf->prog, bpf->extack);
	default:
		return -EINVAL;
	}
}

/* ---------------------------------------------------------------- NAPI */

static int pvnet_rx_poll(struct napi_struct *napi, int budget)
{
	struct pvnet_rq *rq = container_of(napi, struct pvnet_rq, napi);
	struct pvnet *net = rq->net;
	struct pvnet_rx_ctx rc;
	struct pvkit_net_rx_rsp rsp;
	struct sk_buff *skb;
	u64 bytes = 0;
	bool kick = false, again = false;
	int n, work;

	__skb_queue_head_init(&rc.done);
	rcu_read_lock();
	rc.prog = rcu_dereference(net->xdp_prog);
	spin_lock_irq(&rq->fq.lock);
	work = pvkit_fe_dev_reap_budget(&net->fd, &rq->fq, &rsp, &rc,
					min(budget, PVNET_RX_BATCH));
	if (!rq->nr_xdp)
		kick = pvnet_rx_refill(rq, GFP_ATOMIC) &&
		       pvkit_fe_push(&rq->fq);
	spin_unlock_irq(&rq->fq.lock);
	if (rq->nr_xdp)
		kick = pvnet_rx_xdp_batch(rq, rc.prog, &rc.done);
	rcu_read_unlock();
	/* nothing posted and no memory: no response will call us again */
	if (unlikely(READ_ONCE(rq->nr_free) == net->depth) &&
	    !pvkit_fe_dev_dead(&net->fd))
		schedule_delayed_work(&net->refill_work, PVNET_REFILL_RETRY);
	if (kick)
		pvkit_fe_kick(&rq->fq);

	n = 0;
	while ((skb = __skb_dequeue(&rc.done))) {
		bytes += skb->len;
		napi_gro_receive(napi, skb);
		n++;
	}
	u64_stats_update_begin(&rq->stats.sync);
	rq->stats.packets += n;
	rq->stats.bytes += bytes;
	rq->stats.polls++;
	u64_stats_update_end(&rq->stats.sync);

	/*
	 * Work is buffers reaped (frames passed up, dropped by XDP or
	 * merged): all of the budget means more may be waiting.
	 */
	work = min(max(work, n), budget);
	if (work >= budget)
		return budget;
	if (napi_complete_done(napi, work)) {
		spin_lock_irq(&rq->fq.lock);
		again = pvkit_fe_rearm(&rq->fq);
		spin_unlock_irq(&rq->fq.lock);
		if (again)
			napi_schedule(napi);
	}
	return work;
}

static int pvnet_tx_poll(struct napi_struct *napi, int budget)
{
	struct pvnet_sq *sq = container_of(napi, struct pvnet_sq, napi);
	struct pvnet *net = sq->net;
	struct netdev_queue *txq = netdev_get_tx_queue(net->ndev, sq->qidx);
	struct pvnet_tx_ctx tc = { .napi = true, .xdpf = sq->done_xdpf };
	struct pvkit_net_tx_rsp rsp;
	struct sk_buff *skb;
	bool again = false;
	unsigned int i;
	int n;

	/* (a netpoll budget of 0 still frees: tx work is not rx work) */
	__netif_tx_lock(txq, raw_smp_processor_id());
	spin_lock_irq(&sq->fq.lock);
	n = pvkit_fe_dev_reap_budget(&net->fd, &sq->fq, &rsp, &tc,
				     PVNET_TX_BATCH);
	pvnet_tx_bql(sq, &tc);
	spin_unlock_irq(&sq->fq.lock);
	if ((tc.pkts || tc.xdp) && netif_tx_queue_stopped(txq) && sq->nr_free &&
	    !pvkit_fe_dev_dead(&net->fd))
		netif_tx_wake_queue(txq);
	__netif_tx_unlock(txq);

	while ((skb = tc.skbs)) {
		tc.skbs = skb->next;
		skb_mark_not_on_list(skb);
		napi_consume_skb(skb, budget);
	}
	for (i = 0; i < tc.xdp; i++)
		xdp_return_frame(tc.xdpf[i]);

	u64_stats_update_begin(&sq->stats.sync);
	sq->stats.packets += tc.pkts;
	sq->stats.bytes += tc.bytes;
	sq->stats.polls++;
	u64_stats_update_end(&sq->stats.sync);

	/* netpoll's 0 must not complete; a full batch: more may wait */
	if (!budget || n >= PVNET_TX_BATCH)
		return budget;
	if (napi_complete_done(napi, 0)) {
		spin_lock_irq(&sq->fq.lock);
		again = pvkit_fe_rearm(&sq->fq);
		spin_unlock_irq(&sq->fq.lock);
		if (again)
			napi_schedule(napi);
	}
	return 0;
}

static irqreturn_t pvnet_rx_irq(int irq, void *data)
{
	struct pvnet_rq *rq = data;

	pvnet_stat_add(&rq->stats, &rq->stats.irqs, 1);
	napi_schedule(&rq->napi);
	return IRQ_HANDLED;
}

static irqreturn_t pvnet_tx_irq(int irq, void *data)
{
	struct pvnet_sq *sq = data;

	pvnet_stat_add(&sq->stats, &sq->stats.irqs, 1);
	napi_schedule(&sq->napi);
	return IRQ_HANDLED;
}

static irqreturn_t pvnet_ctrl_irq(int irq, void *data)
{
	struct pvnet *net = data;
	struct pvkit_net_ctrl_rsp rsp;
	unsigned long flags;

	spin_lock_irqsave(&net->ctrl.lock, flags);
	pvkit_fe_dev_reap(&net->fd, &net->ctrl, &rsp, NULL);
	spin_unlock_irqrestore(&net->ctrl.lock, flags);
	return IRQ_HANDLED;
}

/* ------------------------------------------------------------- control */

/* One control command, waited for.  0, -EOPNOTSUPP, -EINVAL or -EIO. */
static int pvnet_ctrl(struct pvnet *net, u8 cmd, u64 arg0, u64 arg1)
{
	struct pvnet_ctrlbuf *c = &net->ctrl_buf;
	int err;

	mutex_lock(&net->ctrl_lock);
	memset(&c->slot, 0, sizeof(c->slot));
	c->slot.cmd = cmd;
	c->slot.arg0 = cpu_to_le64(arg0);
	c->slot.arg1 = cpu_to_le64(arg1);
	err = pvkit_fe_call(&net->fd, &net->ctrl, &c->call, 0,
			    PVNET_CTRL_TIMEOUT_MS, PVNET_CTRL_RESTART_MS);
	if (!err) {
		switch (c->rsp.status) {
		case PVKIT_NET_CTRL_S_OK:
			break;
		case PVKIT_NET_CTRL_S_UNSUPP:
			err = -EOPNOTSUPP;
			break;
		case PVKIT_NET_CTRL_S_INVAL:
			err = -EINVAL;
			break;
		default:
			err = -EIO;
		}
	}
	mutex_unlock(&net->ctrl_lock);
	return err;
}

static int pvnet_set_pairs(struct pvnet *net, unsigned int pairs)
{
	int err;

	if (!pvnet_has(net, PVKIT_NET_F_MQ))
		return pairs == 1 ? 0 : -EOPNOTSUPP;
	err = pvnet_ctrl(net, PVKIT_NET_CTRL_QUEUE_PAIRS, pairs, 0);
	if (err)
		netdev_warn(net->ndev, "host refused %u queue pairs: %d\n",
			    pairs, err);
	return err;
}

static void pvnet_rx_mode_work(struct work_struct *work)
{
	struct pvnet *net = container_of(work, struct pvnet, rx_mode_work);
	struct net_device *ndev = net->ndev;
	struct netdev_hw_addr *ha;
	unsigned int n = 0, max = PVKIT_NET_MAC_TABLE_MAX;
	u32 mode = 0;
	__le64 *table;
	dma_addr_t dma;

	if (!pvnet_has(net, PVKIT_NET_F_CTRL_RX))
		return;
	table = kcalloc(max, sizeof(*table), GFP_KERNEL);
	if (!table)
		return;
	netif_addr_lock_bh(ndev);
	/* a table too small: all of the kind that does not fit passes */
	if ((ndev->flags & IFF_PROMISC) || netdev_uc_count(ndev) > max)
		mode |= PVKIT_NET_RX_M_PROMISC;
	if ((ndev->flags & IFF_ALLMULTI) ||
	    netdev_uc_count(ndev) + netdev_mc_count(ndev) > max)
		mode |= PVKIT_NET_RX_M_ALLMULTI;
	if (!(mode & PVKIT_NET_RX_M_PROMISC)) {
		netdev_for_each_uc_addr(ha, ndev)
			memcpy(&table[n++], ha->addr, ETH_ALEN);
		if (!(mode & PVKIT_NET_RX_M_ALLMULTI))
			netdev_for_each_mc_addr(ha, ndev)
				memcpy(&table[n++], ha->addr, ETH_ALEN);
	}
	netif_addr_unlock_bh(ndev);

	if (pvnet_ctrl(net, PVKIT_NET_CTRL_RX_MODE, mode, 0))
		netdev_warn(ndev, "host refused rx mode %#x\n", mode);
	dma = dma_map_single(net->dma_dev, table, max * sizeof(*table),
			     DMA_TO_DEVICE);
	if (!dma_mapping_error(net->dma_dev, dma)) {
		if (pvnet_ctrl(net, PVKIT_NET_CTRL_MAC_TABLE, n, dma))
			netdev_warn(ndev, "host refused a MAC table of %u\n",
				    n);
		dma_unmap_single(net->dma_dev, dma, max * sizeof(*table),
				 DMA_TO_DEVICE);
	}
	kfree(table);
}

static void pvnet_refill_work(struct work_struct *work)
{
	struct pvnet *net = container_of(to_delayed_work(work), struct pvnet,
					 refill_work);
	unsigned int i;

	local_bh_disable();
	for (i = 0; i < net->max_pairs; i++)
		napi_schedule(&net->rq[i].napi);
	local_bh_enable();
}

static void pvnet_set_rx_mode(struct net_device *ndev)
{
	struct pvnet *net = netdev_priv(ndev);

	schedule_work(&net->rx_mode_work);
}

/* A reconnect restored the host's defaults: apply ours again. */
static void pvnet_config_work(struct work_struct *work)
{
	struct pvnet *net = container_of(work, struct pvnet, config_work);

	if (net->cur_pairs != net->dev_pairs)
		pvnet_set_pairs(net, net->cur_pairs);
	if (pvnet_has(net, PVKIT_NET_F_CTRL_OFFLOADS) &&
	    net->rx_offloads != (net->features & (PVKIT_NET_F_GUEST_CSUM |
						  PVKIT_NET_F_GUEST_GSO)))
		pvnet_ctrl(net, PVKIT_NET_CTRL_OFFLOADS, net->rx_offloads, 0);
	pvnet_rx_mode_work(&net->rx_mode_work);
}

/* ------------------------------------------------------------- netdev */

static void pvnet_napi_all(struct pvnet *net, bool enable)
{
	unsigned int i;

	if (!enable) {
		for (i = 0; i < net->max_pairs; i++) {
			napi_disable(&net->rq[i].napi);
			napi_disable(&net->sq[i].napi);
		}
		return;
	}
	/* (process context: the softirq runs at local_bh_enable()) */
	local_bh_disable();
	for (i = 0; i < net->max_pairs; i++) {
		napi_enable(&net->rq[i].napi);
		napi_enable(&net->sq[i].napi);
		/* responses may have arrived while we were away */
		napi_schedule(&net->rq[i].napi);
		napi_schedule(&net->sq[i].napi);
	}
	local_bh_enable();
}

static int pvnet_open(struct net_device *ndev)
{
	struct pvnet *net = netdev_priv(ndev);

	pvnet_napi_all(net, true);
	netif_tx_start_all_queues(ndev);
	return 0;
}

static int pvnet_close(struct net_device *ndev)
{
	struct pvnet *net = netdev_priv(ndev);

	netif_tx_disable(ndev);
	pvnet_napi_all(net, false);
	cancel_delayed_work_sync(&net->refill_work);
	return 0;
}

/* The watchdog: a stopped queue the host has not drained for 5 s. */
static void pvnet_tx_timeout(struct net_device *ndev, unsigned int qi)
{
	struct pvnet *net = netdev_priv(ndev);
	struct pvnet_sq *sq = &net->sq[qi];

	pvnet_stat_add(&sq->stats, &sq->stats.errors, 1);
	netdev_warn(ndev, "tx queue %u: the host answered nothing for %u ms (%u of %u slots free)\n",
		    qi, jiffies_to_msecs(ndev->watchdog_timeo),
		    READ_ONCE(sq->nr_free), net->depth);
}

static int pvnet_change_mtu(struct net_device *ndev, int mtu)
{
	struct pvnet *net = netdev_priv(ndev);

	if (rtnl_dereference(net->xdp_prog) && mtu > PVNET_XDP_MAX_MTU) {
		netdev_warn(ndev, "XDP needs an MTU of at most %u\n",
			    (unsigned int)PVNET_XDP_MAX_MTU);
		return -EINVAL;
	}
	/* rx buffers merge: any MTU up to max_mtu needs no new buffers */
	ndev->mtu = mtu;
	return 0;
}

static int pvnet_set_features(struct net_device *ndev,
			      netdev_features_t features)
{
	struct pvnet *net = netdev_priv(ndev);
	u64 off = net->features & (PVKIT_NET_F_GUEST_CSUM |
				   PVKIT_NET_F_GUEST_GSO);
	int err;

	if (!((ndev->features ^ features) & (NETIF_F_RXCSUM | NETIF_F_GRO_HW)))
		return 0;
	if (!pvnet_has(net, PVKIT_NET_F_CTRL_OFFLOADS))
		return -EOPNOTSUPP;
	if (!(features & NETIF_F_GRO_HW))
		off &= ~PVKIT_NET_F_GUEST_GSO;
	if (!(features & NETIF_F_RXCSUM))
		off = 0;	/* GSO needs partial checksums */
	err = pvnet_ctrl(net, PVKIT_NET_CTRL_OFFLOADS, off, 0);
	if (!err)
		WRITE_ONCE(net->rx_offloads, off);
	return err;
}

static netdev_features_t pvnet_fix_features(struct net_device *ndev,
					    netdev_features_t features)
{
	struct pvnet *net = netdev_priv(ndev);

	if (rtnl_dereference(net->xdp_prog))
		features &= ~NETIF_F_RXCSUM;
	if (!(features & NETIF_F_RXCSUM))
		features &= ~NETIF_F_GRO_HW;
	return features;
}

static void pvnet_get_stats64(struct net_device *ndev,
			      struct rtnl_link_stats64 *tot)
{
	struct pvnet *net = netdev_priv(ndev);
	unsigned int i, start;

	for (i = 0; i < net->max_pairs; i++) {
		struct pvnet_qstats *r = &net->rq[i].stats;
		struct pvnet_qstats *t = &net->sq[i].stats;
		u64 rp, rb, rd, re, tp, tb, td, te;

		do {
			start = u64_stats_fetch_begin(&r->sync);
			rp = r->packets;
			rb = r->bytes;
			rd = r->drops;
			re = r->errors;
		} while (u64_stats_fetch_retry(&r->sync, start));
		do {
			start = u64_stats_fetch_begin(&t->sync);
			tp = t->packets;
			tb = t->bytes;
			td = t->drops;
			te = t->errors;
		} while (u64_stats_fetch_retry(&t->sync, start));
		tot->rx_packets += rp;
		tot->rx_bytes += rb;
		tot->rx_dropped += rd;
		tot->rx_errors += re;
		tot->tx_packets += tp;
		tot->tx_bytes += tb;
		tot->tx_dropped += td;
		tot->tx_errors += te;
	}
}

static const struct net_device_ops pvnet_ops = {
	.ndo_open		= pvnet_open,
	.ndo_stop		= pvnet_close,
	.ndo_start_xmit		= pvnet_start_xmit,
	.ndo_set_rx_mode	= pvnet_set_rx_mode,
	.ndo_set_mac_address	= eth_mac_addr,
	.ndo_validate_addr	= eth_validate_addr,
	.ndo_change_mtu		= pvnet_change_mtu,
	.ndo_set_features	= pvnet_set_features,
	.ndo_fix_features	= pvnet_fix_features,
	.ndo_get_stats64	= pvnet_get_stats64,
	.ndo_tx_timeout		= pvnet_tx_timeout,
	.ndo_bpf		= pvnet_bpf,
	.ndo_xdp_xmit		= pvnet_xdp_xmit,
};

/* ------------------------------------------------------------- ethtool */

static const char pvnet_stat_names[][ETH_GSTRING_LEN] = {
	"packets", "bytes", "drops", "errors", "kicks", "irqs", "napi_polls",
	"ring_full", "linearized",
};

static const char pvnet_rx_xdp_names[][ETH_GSTRING_LEN] = {
	"xdp_pass", "xdp_drop", "xdp_tx", "xdp_redirect",
};

static const char pvnet_tx_xdp_names[][ETH_GSTRING_LEN] = {
	"xdp_xmit",
};

#define PVNET_NR_STATS	ARRAY_SIZE(pvnet_stat_names)
#define PVNET_NR_RX	(PVNET_NR_STATS + ARRAY_SIZE(pvnet_rx_xdp_names))
#define PVNET_NR_TX	(PVNET_NR_STATS + ARRAY_SIZE(pvnet_tx_xdp_names))

static void pvnet_get_drvinfo(struct net_device *ndev,
			      struct ethtool_drvinfo *info)
{
	struct pvnet *net = netdev_priv(ndev);

	strscpy(info->driver, KBUILD_MODNAME, sizeof(info->driver));
	strscpy(info->bus_info, dev_name(&net->pdev->dev),
		sizeof(info->bus_info));
	snprintf(info->fw_version, sizeof(info->fw_version), "epoch %u",
		 READ_ONCE(net->pdev->epoch));
}

static int pvnet_get_sset_count(struct net_device *ndev, int sset)
{
	struct pvnet *net = netdev_priv(ndev);

	if (sset != ETH_SS_STATS)
		return -EOPNOTSUPP;
	return net->max_pairs * (PVNET_NR_RX + PVNET_NR_TX);
}

static void pvnet_get_strings(struct net_device *ndev, u32 sset, u8 *data)
{
	struct pvnet *net = netdev_priv(ndev);
	unsigned int i, j;

	if (sset != ETH_SS_STATS)
		return;
	for (i = 0; i < net->max_pairs; i++) {
		for (j = 0; j < PVNET_NR_STATS; j++)
			ethtool_sprintf(&data, "rx%u_%s", i,
					pvnet_stat_names[j]);
		for (j = 0; j < ARRAY_SIZE(pvnet_rx_xdp_names); j++)
			ethtool_sprintf(&data, "rx%u_%s", i,
					pvnet_rx_xdp_names[j]);
	}
	for (i = 0; i < net->max_pairs; i++) {
		for (j = 0; j < PVNET_NR_STATS; j++)
			ethtool_sprintf(&data, "tx%u_%s", i,
					pvnet_stat_names[j]);
		for (j = 0; j < ARRAY_SIZE(pvnet_tx_xdp_names); j++)
			ethtool_sprintf(&data, "tx%u_%s", i,
					pvnet_tx_xdp_names[j]);
	}
}

/* @rx: the rx queue's XDP counters follow, else the tx queue's */
static void pvnet_fetch_stats(struct pvnet_qstats *s, u64 *out, bool rx)
{
	unsigned int start;

	do {
		start = u64_stats_fetch_begin(&s->sync);
		out[0] = s->packets;
		out[1] = s->bytes;
		out[2] = s->drops;
		out[3] = s->errors;
		out[4] = s->kicks;
		out[5] = s->irqs;
		out[6] = s->polls;
		out[7] = s->ring_full;
		out[8] = s->linearized;
		if (rx) {
			out[9] = s->xdp_pass;
			out[10] = s->xdp_drop;
			out[11] = s->xdp_tx;
			out[12] = s->xdp_redirect;
		} else {
			out[9] = s->xdp_xmit;
		}
	} while (u64_stats_fetch_retry(&s->sync, start));
}

static void pvnet_get_ethtool_stats(struct net_device *ndev,
				    struct ethtool_stats *st, u64 *data)
{
	struct pvnet *net = netdev_priv(ndev);
	unsigned int i;

	for (i = 0; i < net->max_pairs; i++, data += PVNET_NR_RX)
		pvnet_fetch_stats(&net->rq[i].stats, data, true);
	for (i = 0; i < net->max_pairs; i++, data += PVNET_NR_TX)
		pvnet_fetch_stats(&net->sq[i].stats, data, false);
}

static void pvnet_get_ringparam(struct net_device *ndev,
				struct ethtool_ringparam *ring,
				struct kernel_ethtool_ringparam *kring,
				struct netlink_ext_ack *extack)
{
	struct pvnet *net = netdev_priv(ndev);

	ring->rx_max_pending = net->depth;
	ring->tx_max_pending = net->depth;
	ring->rx_pending = net->depth;
	ring->tx_pending = net->depth;
}

static void pvnet_get_channels(struct net_device *ndev,
			       struct ethtool_channels *ch)
{
	struct pvnet *net = netdev_priv(ndev);

	ch->max_combined = net->max_pairs;
	ch->combined_count = net->cur_pairs;
}

static int pvnet_set_channels(struct net_device *ndev,
			      struct ethtool_channels *ch)
{
	struct pvnet *net = netdev_priv(ndev);
	unsigned int n = ch->combined_count;
	int err;

	if (!n || n > net->max_pairs || ch->rx_count || ch->tx_count ||
	    ch->other_count)
		return -EINVAL;
	if (n == net->cur_pairs)
		return 0;
	err = pvnet_set_pairs(net, n);
	if (err)
		return err;
	err = netif_set_real_num_tx_queues(ndev, n);
	if (!err)
		err = netif_set_real_num_rx_queues(ndev, n);
	if (!err)
		net->cur_pairs = n;
	return err;
}

static const struct ethtool_ops pvnet_ethtool_ops = {
	.get_drvinfo		= pvnet_get_drvinfo,
	.get_link		= ethtool_op_get_link,
	.get_sset_count		= pvnet_get_sset_count,
	.get_strings		= pvnet_get_strings,
	.get_ethtool_stats	= pvnet_get_ethtool_stats,
	.get_ringparam		= pvnet_get_ringparam,
	.get_channels		= pvnet_get_channels,
	.set_channels		= pvnet_set_channels,
};

/* ----------------------------------------------------------- lifecycle */

static inline struct pvnet *fd_to_pvnet(struct pvkit_fe_dev *fd)
{
	return container_of(fd, struct pvnet, fd);
}

/*
 * Back-end gone: carrier off and tx held.  The NAPIs keep running: what
 * the old back-end answered is still read until the reconnect drains the
 * rings, and a frame sent meanwhile is kept for the new one.  (No RTNL
 * here: a control command may hold it while it waits for the host.)
 */
static void pvnet_fe_quiesce(struct pvkit_fe_dev *fd)
{
	struct pvnet *net = fd_to_pvnet(fd);

	netif_carrier_off(net->ndev);
	netif_tx_disable(net->ndev);
}

static void pvnet_schedule_all(struct pvnet *net)
{
	unsigned int i;

	local_bh_disable();
	for (i = 0; i < net->max_pairs; i++) {
		napi_schedule(&net->rq[i].napi);
		napi_schedule(&net->sq[i].napi);
	}
	local_bh_enable();
}

static void pvnet_fe_unquiesce(struct pvkit_fe_dev *fd)
{
	struct pvnet *net = fd_to_pvnet(fd);
	unsigned int i;

	/* a frame cut by the reset never completes: forget it */
	for (i = 0; i < net->max_pairs; i++) {
		struct pvnet_rq *rq = &net->rq[i];

		spin_lock_irq(&rq->fq.lock);
		if (rq->skb)
			dev_kfree_skb_any(rq->skb);
		rq->skb = NULL;
		rq->bufs_left = 0;
		spin_unlock_irq(&rq->fq.lock);
	}

	if (netif_running(net->ndev))
		netif_tx_wake_all_queues(net->ndev);
	/* refill what the reset reclaimed, reap what came meanwhile */
	pvnet_schedule_all(net);
	if (!pvkit_fe_dev_dead(fd)) {
		if (net->link_up)
			netif_carrier_on(net->ndev);
		schedule_work(&net->config_work);
	}
}

static void pvnet_fe_restart(struct pvkit_fe_dev *fd)
{
	struct pvnet *net = fd_to_pvnet(fd);

	/*
	 * Also the end of every kill: a device broken by a protocol
	 * violation (or gone) passes nothing any more, so it has no carrier.
	 */
	if (pvkit_fe_dev_dead(fd))
		netif_carrier_off(net->ndev);
	if (netif_running(net->ndev))
		netif_tx_wake_all_queues(net->ndev);
}

/* An unanswered request the host is done with (no fq->lock held). */
static void pvnet_fe_fail(struct pvkit_fe_dev *fd, struct pvkit_fe_req *r,
			  int err)
{
	struct pvnet *net = fd_to_pvnet(fd);
	unsigned int i;

	if (r == &net->ctrl_buf.call.fr) {
		pvkit_fe_call_fail(&net->ctrl_buf.call);
		return;
	}
	for (i = 0; i < net->max_pairs; i++) {
		struct pvnet_rq *rq = &net->rq[i];
		struct pvnet_sq *sq = &net->sq[i];

		if ((void *)r >= (void *)rq->bufs &&
		    (void *)r < (void *)&rq->bufs[net->depth]) {
			spin_lock_irq(&rq->fq.lock);
			rq->free_tags[rq->nr_free++] = r->tag;
			spin_unlock_irq(&rq->fq.lock);
			return;
		}
		if ((void *)r >= (void *)sq->bufs &&
		    (void *)r < (void *)&sq->bufs[net->depth]) {
			struct pvnet_tx_ctx tc = {};

			spin_lock_irq(&sq->fq.lock);
			pvnet_tx_done(sq, container_of(r, struct pvnet_txbuf,
						       fr), &tc);
			pvnet_tx_bql(sq, &tc);
			spin_unlock_irq(&sq->fq.lock);
			pvnet_stat_add(&sq->stats, &sq->stats.drops, 1);
			return;
		}
	}
}

static void pvnet_fe_gone(struct pvkit_fe_dev *fd)
{
	netif_carrier_off(fd_to_pvnet(fd)->ndev);
}

static const struct pvkit_fe_dev_ops pvnet_fe_ops = {
	.quiesce	= pvnet_fe_quiesce,
	.unquiesce	= pvnet_fe_unquiesce,
	.restart	= pvnet_fe_restart,
	.complete	= pvnet_complete,
	.fail		= pvnet_fe_fail,
	.gone		= pvnet_fe_gone,
};

/* Carrier follows the config's link status while connected. */
static void pvnet_link_update(struct pvnet *net)
{
	struct pvkit_device *pdev = net->pdev;
	struct pvkit_net_config cfg = {};
	bool up;

	memcpy(&cfg, pdev->config, min_t(size_t, pdev->config_size,
					 sizeof(cfg)));
	up = !pvnet_has(net, PVKIT_NET_F_STATUS) ||
	     (le16_to_cpu(cfg.status) & PVKIT_NET_S_LINK_UP);
	if (up != net->link_up) {
		net->link_up = up;
		netdev_info(net->ndev, "link %s\n", up ? "up" : "down");
	}
	if (!pvkit_fe_dev_dead(&net->fd) &&
	    READ_ONCE(pdev->state) == PVKIT_DEV_STATE_CONNECTED &&
	    up != netif_carrier_ok(net->ndev)) {
		if (up)
			netif_carrier_on(net->ndev);
		else
			netif_carrier_off(net->ndev);
	}
}

static void pvnet_state_changed(struct pvkit_device *pdev, u32 old_state)
{
	struct pvnet *net = dev_get_drvdata(&pdev->dev);

	if (!net)
		return;
	pvkit_fe_dev_state_changed(&net->fd, old_state);
	pvnet_link_update(net);
}

/*
 * The host changed the config in place (ABI.md 6.2).  Only the link
 * status may change; anything else (a new MTU suggestion, another MAC) is
 * what a host must not do under a bound device: noted, and ignored, as
 * the netdev keeps what it was set up with.
 */
static void pvnet_config_changed(struct pvkit_device *pdev, const u8 *old)
{
	struct pvnet *net = dev_get_drvdata(&pdev->dev);
	const size_t st = offsetof(struct pvkit_net_config, status);
	const size_t end = offsetofend(struct pvkit_net_config, status);

	if (!net)
		return;
	if (memcmp(old, pdev->config, st) ||
	    memcmp(old + end, pdev->config + end, PVKIT_DEV_CONFIG_SIZE - end))
		netdev_warn_once(net->ndev,
				 "host changed more than the link status in the config: ignored\n");
	pvnet_link_update(net);
}

/* --------------------------------------------------------------- probe */

/* Copy, validate and clamp the config; pick the features to ack. */
static int pvnet_read_config(struct pvnet *net)
{
	struct pvkit_device *pdev = net->pdev;
	struct net_device *ndev = net->ndev;
	struct pvkit_net_config cfg = {};
	u64 f = pdev->features & PVKIT_NET_F_KNOWN;
	unsigned int mtu, max_mtu;

	if (pdev->config_size < offsetofend(struct pvkit_net_config, poll_us)) {
		dev_err(&pdev->dev, "config too short: %u bytes\n",
			pdev->config_size);
		return -EINVAL;
	}
	memcpy(&cfg, pdev->config, min_t(size_t, pdev->config_size,
					 sizeof(cfg)));

	net->dev_pairs = le16_to_cpu(cfg.max_queue_pairs);
	if (!net->dev_pairs || net->dev_pairs > PVKIT_NET_MAX_PAIRS ||
	    pdev->nr_queues != 2 * net->dev_pairs + 1) {
		dev_err(&pdev->dev, "%u queue pairs in %u queues\n",
			net->dev_pairs, pdev->nr_queues);
		return -EINVAL;
	}

	/* GSO needs the checksum offload of the same direction */
	if (!(f & PVKIT_NET_F_CSUM))
		f &= ~PVKIT_NET_F_HOST_GSO;
	if (!(f & PVKIT_NET_F_GUEST_CSUM))
		f &= ~PVKIT_NET_F_GUEST_GSO;
	net->features = f;
	net->rx_offloads = f & (PVKIT_NET_F_GUEST_CSUM | PVKIT_NET_F_GUEST_GSO);

	if (is_valid_ether_addr(cfg.mac)) {
		eth_hw_addr_set(ndev, cfg.mac);
	} else {
		dev_warn(&pdev->dev, "host MAC %pM unusable: a random one\n",
			 cfg.mac);
		eth_hw_addr_random(ndev);
	}

	mtu = PVNET_DEFAULT_MTU;
	max_mtu = PVNET_DEFAULT_MTU;
	if (f & PVKIT_NET_F_MTU) {
		max_mtu = clamp_t(unsigned int, le16_to_cpu(cfg.max_mtu),
				  PVKIT_NET_MIN_MTU, PVKIT_NET_MAX_MTU);
		mtu = clamp_t(unsigned int, le16_to_cpu(cfg.mtu),
			      PVKIT_NET_MIN_MTU, max_mtu);
	}
	net->max_mtu = max_mtu;
	ndev->min_mtu = PVKIT_NET_MIN_MTU;
	ndev->max_mtu = max_mtu;
	ndev->mtu = mtu;
	net->link_up = !(f & PVKIT_NET_F_STATUS) ||
		       (le16_to_cpu(cfg.status) & PVKIT_NET_S_LINK_UP);
	return 0;
}

static void pvnet_set_netdev_features(struct pvnet *net)
{
	struct net_device *ndev = net->ndev;
	netdev_features_t hw = NETIF_F_SG;

	if (pvnet_has(net, PVKIT_NET_F_CSUM))
		hw |= NETIF_F_HW_CSUM;
	if (pvnet_has(net, PVKIT_NET_F_HOST_TSO4))
		hw |= NETIF_F_TSO | NETIF_F_TSO_ECN;
	if (pvnet_has(net, PVKIT_NET_F_HOST_TSO6))
		hw |= NETIF_F_TSO6 | NETIF_F_TSO_ECN;
	if (pvnet_has(net, PVKIT_NET_F_HOST_USO))
		hw |= NETIF_F_GSO_UDP_L4;
	ndev->features = hw | NETIF_F_HIGHDMA;
	if (pvnet_has(net, PVKIT_NET_F_GUEST_CSUM))
		ndev->features |= NETIF_F_RXCSUM;
	if (pvnet_has(net, PVKIT_NET_F_GUEST_GSO))
		ndev->features |= NETIF_F_GRO_HW;
	ndev->hw_features = hw;
	if (pvnet_has(net, PVKIT_NET_F_CTRL_OFFLOADS))
		ndev->hw_features |= ndev->features &
				     (NETIF_F_RXCSUM | NETIF_F_GRO_HW);
	ndev->vlan_features = ndev->features & ~NETIF_F_GRO_HW;
	ndev->priv_flags |= IFF_UNICAST_FLT | IFF_LIVE_ADDR_CHANGE;
}

static void pvnet_free_queues(struct pvnet *net)
{
	unsigned int i, j;

	for (i = 0; i < net->init_pairs; i++) {
		struct pvnet_rq *rq = &net->rq[i];
		struct pvnet_sq *sq = &net->sq[i];

		if (rq->xdp_rxq_reg)
			xdp_rxq_info_unreg(&rq->xdp_rxq);
		netif_napi_del(&rq->napi);
		netif_napi_del(&sq->napi);
		if (rq->skb)
			dev_kfree_skb_any(rq->skb);
		for (j = 0; rq->bufs && j < net->depth; j++) {
			if (rq->bufs[j].page) {
				pvnet_rx_unmap(net, &rq->bufs[j]);
				__free_page(rq->bufs[j].page);
			}
		}
		for (j = 0; sq->bufs && j < net->depth; j++) {
			struct pvnet_txbuf *t = &sq->bufs[j];

			pvnet_tx_unmap(net, t);
			dev_kfree_skb_any(t->skb);
			if (t->xdpf)
				xdp_return_frame(t->xdpf);
			if (t->indirect) {
				dma_unmap_single(net->dma_dev, t->indirect_dma,
						 PVNET_TX_MAX_SEGS *
						 sizeof(*t->indirect),
						 DMA_TO_DEVICE);
				kfree(t->indirect);
			}
		}
		pvkit_fe_queue_destroy(&rq->fq);
		pvkit_fe_queue_destroy(&sq->fq);
		kvfree(rq->bufs);
		kvfree(sq->bufs);
		kfree(rq->free_tags);
		kfree(sq->free_tags);
	}
	pvkit_fe_queue_destroy(&net->ctrl);
	kfree(net->rq);
	kfree(net->sq);
	kfree(net->fqs);
	net->rq = NULL;
	net->sq = NULL;
	net->init_pairs = 0;
}

static int pvnet_init_pair(struct pvnet *net, unsigned int i)
{
	struct pvnet_rq *rq = &net->rq[i];
	struct pvnet_sq *sq = &net->sq[i];
	unsigned int j;
	int err;

	rq->net = net;
	sq->net = net;
	sq->qidx = i;
	net->init_pairs = i + 1;
	u64_stats_init(&rq->stats.sync);
	u64_stats_init(&sq->stats.sync);
	netif_napi_add(net->ndev, &rq->napi, pvnet_rx_poll);
	netif_napi_add_tx(net->ndev, &sq->napi, pvnet_tx_poll);

	rq->bufs = kvcalloc(net->depth, sizeof(*rq->bufs), GFP_KERNEL);
	sq->bufs = kvcalloc(net->depth, sizeof(*sq->bufs), GFP_KERNEL);
	rq->free_tags = kcalloc(net->depth, sizeof(u16), GFP_KERNEL);
	sq->free_tags = kcalloc(net->depth, sizeof(u16), GFP_KERNEL);
	if (!rq->bufs || !sq->bufs || !rq->free_tags || !sq->free_tags)
		return -ENOMEM;
	for (j = 0; j < net->depth; j++) {
		rq->bufs[j].fr.slot = &rq->bufs[j].slot;
		sq->bufs[j].fr.slot = &sq->bufs[j].slot;
		rq->free_tags[j] = net->depth - 1 - j;
		sq->free_tags[j] = net->depth - 1 - j;
		if (pvnet_has(net, PVKIT_NET_F_TX_INDIRECT)) {
			struct pvnet_txbuf *t = &sq->bufs[j];

			t->indirect = kcalloc(PVNET_TX_MAX_SEGS,
					      sizeof(*t->indirect),
					      GFP_KERNEL);
			if (!t->indirect)
				return -ENOMEM;
			t->indirect_dma = dma_map_single(net->dma_dev,
							 t->indirect,
							 PVNET_TX_MAX_SEGS *
							 sizeof(*t->indirect),
							 DMA_TO_DEVICE);
			if (dma_mapping_error(net->dma_dev, t->indirect_dma)) {
				kfree(t->indirect);
				t->indirect = NULL;
				return -ENOMEM;
			}
		}
	}
	rq->nr_free = net->depth;
	sq->nr_free = net->depth;
	/* pages of our own: freed with put_page() wherever they end up */
	err = xdp_rxq_info_reg(&rq->xdp_rxq, net->ndev, i, rq->napi.napi_id);
	if (err)
		return err;
	rq->xdp_rxq_reg = true;
	err = xdp_rxq_info_reg_mem_model(&rq->xdp_rxq, MEM_TYPE_PAGE_SHARED,
					 NULL);
	if (err)
		return err;

	err = pvkit_fe_queue_init(&rq->fq, net->pdev, pvnet_rxq(i), net->depth,
				  sizeof(struct pvkit_net_rx_req),
				  sizeof(struct pvkit_net_rx_rsp));
	if (err)
		return err;
	err = pvkit_fe_queue_init(&sq->fq, net->pdev, pvnet_txq(i), net->depth,
				  sizeof(struct pvkit_net_tx_req),
				  sizeof(struct pvkit_net_tx_rsp));
	if (err)
		return err;
	cpumask_set_cpu(i % nr_cpu_ids, rq->fq.affinity);
	cpumask_set_cpu(i % nr_cpu_ids, sq->fq.affinity);
	return 0;
}

static int pvnet_init_queues(struct pvnet *net)
{
	struct pvkit_device *pdev = net->pdev;
	unsigned int i, n = 0;
	u32 depth = min_t(u32, clamp_t(u32, ring_depth, 2,
				       PVKIT_RING_MAX_SLOTS),
			  BIT(PVKIT_FE_TAG_BITS));
	int err;

	net->max_pairs = min_t(unsigned int, net->dev_pairs,
			       max_queue_pairs ?: num_online_cpus());
	if (!pvnet_has(net, PVKIT_NET_F_MQ))
		net->max_pairs = 1;
	net->max_pairs = max_t(u16, net->max_pairs, 1);
	for (i = 0; i < net->max_pairs; i++) {
		depth = min(depth, pdev->queues[pvnet_rxq(i)].slots);
		depth = min(depth, pdev->queues[pvnet_txq(i)].slots);
	}
	net->depth = rounddown_pow_of_two(depth);

	net->rq = kcalloc(net->max_pairs, sizeof(*net->rq), GFP_KERNEL);
	net->sq = kcalloc(net->max_pairs, sizeof(*net->sq), GFP_KERNEL);
	net->fqs = kcalloc(2 * net->max_pairs + 1, sizeof(*net->fqs),
			   GFP_KERNEL);
	if (!net->rq || !net->sq || !net->fqs)
		goto err_nomem;
	for (i = 0; i < net->max_pairs; i++) {
		err = pvnet_init_pair(net, i);
		if (err)
			goto err_free;
		net->fqs[n++] = &net->rq[i].fq;
		net->fqs[n++] = &net->sq[i].fq;
	}
	err = pvkit_fe_queue_init(&net->ctrl, pdev, 2 * net->dev_pairs,
				  PVNET_CTRL_DEPTH,
				  sizeof(struct pvkit_net_ctrl_req),
				  sizeof(struct pvkit_net_ctrl_rsp));
	if (err)
		goto err_free;
	net->fqs[n++] = &net->ctrl;
	pvkit_fe_call_init(&net->ctrl_buf.call, &net->ctrl_buf.slot,
			   &net->ctrl_buf.rsp, sizeof(net->ctrl_buf.rsp));
	return 0;

err_nomem:
	err = -ENOMEM;
err_free:
	pvnet_free_queues(net);
	return err;
}

static void pvnet_free_irqs(struct pvnet *net)
{
	unsigned int i;

	for (i = 0; i < net->max_pairs; i++) {
		pvkit_fe_queue_unbind_irq(&net->rq[i].fq, &net->rq[i]);
		pvkit_fe_queue_unbind_irq(&net->sq[i].fq, &net->sq[i]);
	}
	pvkit_fe_queue_unbind_irq(&net->ctrl, net);
}

static int pvnet_request_irqs(struct pvnet *net)
{
	const char *name = dev_name(&net->pdev->dev);
	unsigned int i;
	int err;

	for (i = 0; i < net->max_pairs; i++) {
		struct pvnet_rq *rq = &net->rq[i];
		struct pvnet_sq *sq = &net->sq[i];

		snprintf(rq->fq.name, sizeof(rq->fq.name), "%s-rx%u", name, i);
		snprintf(sq->fq.name, sizeof(sq->fq.name), "%s-tx%u", name, i);
		err = pvkit_fe_queue_bind_irq(&rq->fq, pvnet_rx_irq, rq);
		if (!err)
			err = pvkit_fe_queue_bind_irq(&sq->fq, pvnet_tx_irq, sq);
		if (err)
			goto err_free;
	}
	snprintf(net->ctrl.name, sizeof(net->ctrl.name), "%s-ctrl", name);
	err = pvkit_fe_queue_bind_irq(&net->ctrl, pvnet_ctrl_irq, net);
	if (err)
		goto err_free;
	return 0;

err_free:
	pvnet_free_irqs(net);
	return err;
}

/* Post every rx buffer (the rings are live after the first connect). */
static void pvnet_fill_all(struct pvnet *net)
{
	unsigned int i;

	for (i = 0; i < net->max_pairs; i++) {
		struct pvnet_rq *rq = &net->rq[i];
		bool kick;

		spin_lock_irq(&rq->fq.lock);
		/* (under the lock: what fails now the NAPI refills later) */
		kick = pvnet_rx_refill(rq, GFP_ATOMIC) &&
		       pvkit_fe_push(&rq->fq);
		spin_unlock_irq(&rq->fq.lock);
		if (kick)
			pvkit_fe_kick(&rq->fq);
	}
}

static int pvnet_probe(struct pvkit_device *pdev)
{
	struct net_device *ndev;
	struct pvnet *net;
	unsigned int i;
	int err;

	ndev = alloc_etherdev_mqs(sizeof(*net), PVKIT_NET_MAX_PAIRS,
				  PVKIT_NET_MAX_PAIRS);
	if (!ndev)
		return -ENOMEM;
	SET_NETDEV_DEV(ndev, &pdev->dev);
	net = netdev_priv(ndev);
	net->ndev = ndev;
	net->pdev = pdev;
	net->dma_dev = pvkit_dma_dev(pdev);
	mutex_init(&net->ctrl_lock);
	INIT_WORK(&net->rx_mode_work, pvnet_rx_mode_work);
	INIT_WORK(&net->config_work, pvnet_config_work);
	INIT_DELAYED_WORK(&net->refill_work, pvnet_refill_work);

	err = pvnet_read_config(net);
	if (err)
		goto err_free_ndev;
	err = pvnet_init_queues(net);
	if (err)
		goto err_free_ndev;
	err = pvkit_fe_dev_init(&net->fd, pdev, &pvnet_fe_ops,
				2 * net->max_pairs + 1,
				sizeof(struct pvkit_net_rx_rsp));
	if (err)
		goto err_free_queues;
	for (i = 0; i < 2 * net->max_pairs + 1; i++)
		net->fd.queues[i] = net->fqs[i];
	net->fd.name = dev_name(&pdev->dev);
	net->fd.noun = "network device";
	/* the host wants the control queue acked even with one pair */
	net->fd.features = net->features;

	ndev->netdev_ops = &pvnet_ops;
	ndev->ethtool_ops = &pvnet_ethtool_ops;
	pvnet_set_netdev_features(net);
	net->cur_pairs = net->max_pairs;
	netif_set_real_num_tx_queues(ndev, net->cur_pairs);
	netif_set_real_num_rx_queues(ndev, net->cur_pairs);

	err = pvnet_request_irqs(net);
	if (err)
		goto err_destroy_fe;

	dev_set_drvdata(&pdev->dev, net);
	err = pvkit_fe_dev_connect(&net->fd, PVNET_CONNECT_WAIT_MS);
	if (err) {
		dev_err(&pdev->dev, "cannot connect (state %u): %d\n",
			READ_ONCE(pdev->state), err);
		goto err_clear;
	}
	pvnet_fill_all(net);
	/* the host starts with all its pairs: say how many have buffers */
	if (net->cur_pairs != net->dev_pairs) {
		pvkit_fe_dev_set_no_events(&net->fd, true);
		err = pvnet_set_pairs(net, net->cur_pairs);
		pvkit_fe_dev_set_no_events(&net->fd, false);
		if (err)
			goto err_disconnect;
	}
	for (i = 0; i < net->max_pairs; i++)
		netif_set_xps_queue(ndev, cpumask_of(i % nr_cpu_ids), i);

	netif_carrier_off(ndev);
	err = register_netdev(ndev);
	if (err)
		goto err_disconnect;
	if (net->link_up)
		netif_carrier_on(ndev);
	netdev_info(ndev, "pvkit %s: MAC %pM, %u/%u queue pairs of %u, MTU %u (max %u), features %#llx\n",
		    dev_name(&pdev->dev), ndev->dev_addr, net->cur_pairs,
		    net->dev_pairs, net->depth, ndev->mtu, net->max_mtu,
		    net->features);
	return 0;

err_disconnect:
	pvkit_fe_dev_remove_end(&net->fd);
err_clear:
	dev_set_drvdata(&pdev->dev, NULL);
	pvnet_free_irqs(net);
err_destroy_fe:
	pvkit_fe_dev_destroy(&net->fd);
err_free_queues:
	pvnet_free_queues(net);
err_free_ndev:
	free_netdev(ndev);
	return err;
}

static void pvnet_remove(struct pvkit_device *pdev)
{
	struct pvnet *net = dev_get_drvdata(&pdev->dev);

	pvkit_fe_dev_remove_begin(&net->fd);
	unregister_netdev(net->ndev);
	cancel_work_sync(&net->rx_mode_work);
	cancel_work_sync(&net->config_work);
	cancel_delayed_work_sync(&net->refill_work);
	pvkit_fe_dev_remove_end(&net->fd);
	dev_set_drvdata(&pdev->dev, NULL);
	pvnet_free_irqs(net);
	pvkit_fe_dev_destroy(&net->fd);
	pvnet_free_queues(net);
	free_netdev(net->ndev);
}

static struct pvkit_driver pvnet_driver = {
	.driver.name	= KBUILD_MODNAME,
	.type		= PVKIT_DEV_NET,
	.probe		= pvnet_probe,
	.remove		= pvnet_remove,
	.state_changed	= pvnet_state_changed,
	.config_changed	= pvnet_config_changed,
};

module_pvkit_driver(pvnet_driver);

MODULE_DESCRIPTION("pvkit paravirtual network device front-end");
MODULE_AUTHOR("The pvkit authors");
MODULE_LICENSE("GPL");
