// SPDX-License-Identifier: GPL-2.0-only
/*
 * Guest tx request validation (ABI.md section 10) and the conversion of
 * struct pvkit_net_hdr to and from the TAP's struct virtio_net_hdr.  The
 * caller hands us its private copy of the ring slot; an indirect segment
 * array is copied out of guest RAM before any of it is looked at, and
 * every segment goes through gmem_translate().  Nothing here makes a
 * system call, so the fuzzer runs it as it is (fuzz_nettx.c).
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include <linux/if_tun.h>

#include "netback.h"

/* not in older <linux/if_tun.h>; the kernel refuses them if unknown */
#ifndef TUN_F_USO4
#define TUN_F_USO4	0x20
#define TUN_F_USO6	0x40
#endif

unsigned int netb_tun_offloads(uint64_t offloads)
{
	unsigned int f = 0;

	/* the kernel wants CSUM under every GSO type */
	if (!(offloads & PVKIT_NET_F_GUEST_CSUM))
		return 0;
	f |= TUN_F_CSUM;
	if (offloads & PVKIT_NET_F_GUEST_TSO4)
		f |= TUN_F_TSO4;
	if (offloads & PVKIT_NET_F_GUEST_TSO6)
		f |= TUN_F_TSO6;
	/* ECN is a variant of TCP GSO the guest must take with either */
	if (f & (TUN_F_TSO4 | TUN_F_TSO6))
		f |= TUN_F_TSO_ECN;
	if (offloads & PVKIT_NET_F_GUEST_USO)
		f |= TUN_F_USO4 | TUN_F_USO6;
	return f;
}

/*
 * The feature a GSO type needs on tx (@host) or rx, 0 for NONE, or
 * UINT64_MAX for a type pvkit does not define.
 */
static uint64_t netb_gso_feature(uint8_t type, bool host)
{
	switch (type & ~PVKIT_NET_GSO_ECN) {
	case PVKIT_NET_GSO_NONE:
		return 0;
	case PVKIT_NET_GSO_TCPV4:
		return host ? PVKIT_NET_F_HOST_TSO4 : PVKIT_NET_F_GUEST_TSO4;
	case PVKIT_NET_GSO_TCPV6:
		return host ? PVKIT_NET_F_HOST_TSO6 : PVKIT_NET_F_GUEST_TSO6;
	case PVKIT_NET_GSO_UDP_L4:
		return host ? PVKIT_NET_F_HOST_USO : PVKIT_NET_F_GUEST_USO;
	default:
		return UINT64_MAX;
	}
}

static uint8_t netb_gso_to_virtio(uint8_t type)
{
	uint8_t ecn = type & PVKIT_NET_GSO_ECN ? VIRTIO_NET_HDR_GSO_ECN : 0;

	switch (type & ~PVKIT_NET_GSO_ECN) {
	case PVKIT_NET_GSO_TCPV4:
		return VIRTIO_NET_HDR_GSO_TCPV4 | ecn;
	case PVKIT_NET_GSO_TCPV6:
		return VIRTIO_NET_HDR_GSO_TCPV6 | ecn;
	case PVKIT_NET_GSO_UDP_L4:
		return VIRTIO_NET_HDR_GSO_UDP_L4;
	default:
		return VIRTIO_NET_HDR_GSO_NONE;
	}
}

/*
 * An offload or flag the guest did not negotiate: checked before anything
 * else, because UNSUPP wins over INVAL (ABI.md 10).
 */
static bool netb_tx_unsupp(const struct netb_tx_limits *lim,
			   const struct pvkit_net_tx_req *rq)
{
	uint64_t need = netb_gso_feature(rq->hdr.gso_type, true);

	if ((rq->flags & PVKIT_NET_TX_F_INDIRECT) &&
	    !(lim->acked & PVKIT_NET_F_TX_INDIRECT))
		return true;
	if ((rq->hdr.flags & PVKIT_NET_HDR_F_NEEDS_CSUM) &&
	    !(lim->acked & PVKIT_NET_F_CSUM))
		return true;
	/* an undefined GSO type is malformed, not unsupported */
	return need != UINT64_MAX && (lim->acked & need) != need;
}

/* The header's own rules, before the segments are looked at. */
static bool netb_tx_hdr_ok(const struct pvkit_net_hdr *h)
{
	uint8_t type = h->gso_type & ~PVKIT_NET_GSO_ECN;

	if (h->reserved0 || h->reserved1 ||
	    (h->flags & ~PVKIT_NET_HDR_F_KNOWN) ||
	    (h->flags & PVKIT_NET_HDR_F_DATA_VALID))
		return false;
	if (netb_gso_feature(h->gso_type, true) == UINT64_MAX)
		return false;
	if ((h->gso_type & PVKIT_NET_GSO_ECN) &&
	    type != PVKIT_NET_GSO_TCPV4 && type != PVKIT_NET_GSO_TCPV6)
		return false;
	if (type != PVKIT_NET_GSO_NONE &&
	    (!(h->flags & PVKIT_NET_HDR_F_NEEDS_CSUM) || !h->gso_size))
		return false;
	return true;
}

/* The segment array in private memory, or NULL if its form is invalid. */
static const struct pvkit_net_seg *
netb_tx_segs(const struct gmem *gm, const struct pvkit_net_tx_req *rq,
	     unsigned int nr_segs, struct pvkit_net_seg *segbuf)
{
	if (!(rq->flags & PVKIT_NET_TX_F_INDIRECT)) {
		if (rq->indirect_gpa || nr_segs > PVKIT_NET_TX_INLINE_SEGS)
			return NULL;
		return rq->seg;
	}
	if (nr_segs > PVKIT_NET_TX_MAX_SEGS)
		return NULL;
	/* copy, then validate: the guest may rewrite the array meanwhile */
	if (gmem_copy_in(gm, segbuf, le64toh(rq->indirect_gpa),
			 (uint64_t)nr_segs * sizeof(*segbuf)))
		return NULL;
	return segbuf;
}

static uint8_t netb_tx_iov(const struct gmem *gm,
			   const struct pvkit_net_seg *segs,
			   unsigned int nr_segs, struct netb_tx *tx)
{
	uint64_t total = 0;
	unsigned int i, n = 0;	/* after iov[0], the vnet header */

	for (i = 0; i < nr_segs; i++) {
		uint64_t gpa = le64toh(segs[i].gpa);
		uint32_t len = le32toh(segs[i].len);
		uint8_t *p;

		if (segs[i].reserved || !len)
			return PVKIT_NET_TX_S_INVAL;
		p = gmem_translate(gm, gpa, len);
		if (!p)
			return PVKIT_NET_TX_S_INVAL;
		total += len;
		gmem_iov_add(tx->iov + 1, &n, p, len);
	}
	if (total != tx->len)
		return PVKIT_NET_TX_S_INVAL;
	tx->nr_iov = n;
	return PVKIT_NET_TX_S_OK;
}

uint8_t netb_tx_parse(const struct netb_tx_limits *lim, const struct gmem *gm,
		      const struct pvkit_net_tx_req *rq,
		      struct pvkit_net_seg *segbuf, struct netb_tx *tx)
{
	const struct pvkit_net_hdr *h = &rq->hdr;
	unsigned int nr_segs = le16toh(rq->nr_segs);
	uint32_t len = le32toh(rq->len);
	uint32_t csum_start = le16toh(h->csum_start);
	uint32_t csum_offset = le16toh(h->csum_offset);
	bool gso = h->gso_type != PVKIT_NET_GSO_NONE;
	const struct pvkit_net_seg *segs;
	uint8_t st;

	tx->nr_iov = 0;
	if (netb_tx_unsupp(lim, rq))
		return PVKIT_NET_TX_S_UNSUPP;
	if ((rq->flags & ~PVKIT_NET_TX_F_KNOWN) || rq->reserved0 ||
	    rq->reserved1 || !netb_tx_hdr_ok(h))
		return PVKIT_NET_TX_S_INVAL;
	if (len < PVKIT_NET_ETH_LEN ||
	    len > (gso ? PVKIT_NET_MAX_FRAME : lim->max_mtu + NETB_ETH_VLAN_LEN))
		return PVKIT_NET_TX_S_INVAL;
	if ((h->flags & PVKIT_NET_HDR_F_NEEDS_CSUM) &&
	    csum_start + csum_offset + 2 > len)
		return PVKIT_NET_TX_S_INVAL;
	if (gso && le16toh(h->hdr_len) > len)
		return PVKIT_NET_TX_S_INVAL;
	if (!nr_segs)
		return PVKIT_NET_TX_S_INVAL;
	segs = netb_tx_segs(gm, rq, nr_segs, segbuf);
	if (!segs)
		return PVKIT_NET_TX_S_INVAL;
	tx->len = len;
	st = netb_tx_iov(gm, segs, nr_segs, tx);
	if (st != PVKIT_NET_TX_S_OK)
		return st;

	/* the TAP's header: only what the offloads in use mean */
	memset(&tx->vh, 0, sizeof(tx->vh));
	tx->iov[0].iov_base = &tx->vh;
	tx->iov[0].iov_len = sizeof(tx->vh);
	if (h->flags & PVKIT_NET_HDR_F_NEEDS_CSUM) {
		tx->vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		tx->vh.csum_start = h->csum_start;
		tx->vh.csum_offset = h->csum_offset;
	}
	if (gso) {
		tx->vh.gso_type = netb_gso_to_virtio(h->gso_type);
		tx->vh.gso_size = h->gso_size;
		tx->vh.hdr_len = h->hdr_len;
	}
	return PVKIT_NET_TX_S_OK;
}

int netb_rx_hdr(const struct virtio_net_hdr *vh, uint32_t len,
		uint64_t offloads, struct pvkit_net_hdr *h)
{
	bool csum = offloads & PVKIT_NET_F_GUEST_CSUM;
	uint8_t ecn = vh->gso_type & VIRTIO_NET_HDR_GSO_ECN;
	uint32_t csum_start = le16toh(vh->csum_start);
	uint32_t csum_offset = le16toh(vh->csum_offset);
	uint8_t type;
	uint64_t need;

	memset(h, 0, sizeof(*h));
	switch (vh->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_NONE:
		type = PVKIT_NET_GSO_NONE;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		type = PVKIT_NET_GSO_TCPV4;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		type = PVKIT_NET_GSO_TCPV6;
		break;
	case VIRTIO_NET_HDR_GSO_UDP_L4:
		type = PVKIT_NET_GSO_UDP_L4;
		break;
	default:
		return -EINVAL;	/* UFO: never enabled on the TAP */
	}
	need = netb_gso_feature(type, false);
	if ((offloads & need) != need ||
	    (ecn && type != PVKIT_NET_GSO_TCPV4 && type != PVKIT_NET_GSO_TCPV6))
		return -EINVAL;
	if (vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		/* queued before CTRL_OFFLOADS took GUEST_CSUM away */
		if (!csum || csum_start + csum_offset + 2 > len)
			return -EINVAL;
		h->flags |= PVKIT_NET_HDR_F_NEEDS_CSUM;
		h->csum_start = vh->csum_start;
		h->csum_offset = vh->csum_offset;
	} else if (type != PVKIT_NET_GSO_NONE) {
		return -EINVAL;
	}
	/* the TAP sets DATA_VALID whatever its offloads: only with CSUM */
	if ((vh->flags & VIRTIO_NET_HDR_F_DATA_VALID) && csum)
		h->flags |= PVKIT_NET_HDR_F_DATA_VALID;
	if (type != PVKIT_NET_GSO_NONE) {
		if (!vh->gso_size || le16toh(vh->hdr_len) > len)
			return -EINVAL;
		h->gso_type = type | (ecn ? PVKIT_NET_GSO_ECN : 0);
		h->gso_size = vh->gso_size;
		h->hdr_len = vh->hdr_len;
	}
	return 0;
}
