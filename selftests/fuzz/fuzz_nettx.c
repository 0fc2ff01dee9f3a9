// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz-srcs: backends/net/txreq.c lib/gmem.c
 *
 * pvkit-netback's tx request parser (netb_tx_parse()) with guest-memory
 * translation, and its rx header conversion (netb_rx_hdr()).  The guest
 * writes the 256-byte tx slot and, for indirect requests, the segment
 * array in its RAM.  Properties of an accepted request: every iovec after
 * the vnet header lies inside guest RAM and is not empty, they add up to
 * the frame length, the length is within the limits for its GSO type,
 * every offload or flag used was negotiated, the checksum field and GSO
 * header lie inside the frame.  Of a converted rx header: only offloads
 * the guest allows, fields inside the frame.  Input: 24 bytes of
 * limits and rx header, the slot, then guest RAM contents for the
 * segment array.  The custom mutator keeps the slot a plausible request
 * (segments in the RAM ranges adding up to len) so the deep checks are
 * reached.
 */
#include <endian.h>

#include <pvkit/net.h>

#include "../../backends/net/netback.h"
#include "fuzz.h"

#define HDR_BYTES	24

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max);

static void check_tx(const struct netb_tx_limits *lim,
		     const struct pvkit_net_tx_req *rq,
		     const struct netb_tx *tx, const uint8_t *ram)
{
	uint8_t type = rq->hdr.gso_type & ~PVKIT_NET_GSO_ECN;
	uint64_t bytes = 0;
	unsigned int i;

	FUZZ_ASSERT(tx->iov[0].iov_base == &tx->vh);
	FUZZ_ASSERT(tx->iov[0].iov_len == sizeof(tx->vh));
	FUZZ_ASSERT(tx->nr_iov >= 1 && tx->nr_iov <= PVKIT_NET_TX_MAX_SEGS);
	for (i = 1; i <= tx->nr_iov; i++) {
		FUZZ_ASSERT(tx->iov[i].iov_len > 0);
		FUZZ_ASSERT(fuzz_in_ram(ram, tx->iov[i].iov_base,
					tx->iov[i].iov_len));
		bytes += tx->iov[i].iov_len;
	}
	FUZZ_ASSERT(bytes == tx->len);
	FUZZ_ASSERT(tx->len == le32toh(rq->len));
	FUZZ_ASSERT(tx->len >= PVKIT_NET_ETH_LEN);
	FUZZ_ASSERT(tx->len <= (type ? PVKIT_NET_MAX_FRAME :
				lim->max_mtu + NETB_ETH_VLAN_LEN));
	if (rq->flags & PVKIT_NET_TX_F_INDIRECT)
		FUZZ_ASSERT(lim->acked & PVKIT_NET_F_TX_INDIRECT);
	else
		FUZZ_ASSERT(le16toh(rq->nr_segs) <= PVKIT_NET_TX_INLINE_SEGS);
	FUZZ_ASSERT(!(rq->hdr.flags & PVKIT_NET_HDR_F_DATA_VALID));
	if (tx->vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		FUZZ_ASSERT(lim->acked & PVKIT_NET_F_CSUM);
		FUZZ_ASSERT((uint32_t)le16toh(tx->vh.csum_start) +
			    le16toh(tx->vh.csum_offset) + 2 <= tx->len);
	}
	FUZZ_ASSERT(!(tx->vh.flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM));
	switch (tx->vh.gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_NONE:
		FUZZ_ASSERT(!tx->vh.gso_type && !tx->vh.gso_size &&
			    !tx->vh.hdr_len);
		return;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		FUZZ_ASSERT(lim->acked & PVKIT_NET_F_HOST_TSO4);
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		FUZZ_ASSERT(lim->acked & PVKIT_NET_F_HOST_TSO6);
		break;
	case VIRTIO_NET_HDR_GSO_UDP_L4:
		FUZZ_ASSERT(lim->acked & PVKIT_NET_F_HOST_USO);
		FUZZ_ASSERT(!(tx->vh.gso_type & VIRTIO_NET_HDR_GSO_ECN));
		break;
	default:
		FUZZ_ASSERT(0);
	}
	FUZZ_ASSERT(tx->vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM);
	FUZZ_ASSERT(tx->vh.gso_size && le16toh(tx->vh.hdr_len) <= tx->len);
}

static void check_rx(const uint8_t *in)
{
	struct virtio_net_hdr vh;
	struct pvkit_net_hdr h;
	uint64_t off = (uint64_t)in[3] << 1 & NETB_RX_OFFLOADS;
	uint32_t len;

	memcpy(&len, in + 4, 4);
	memcpy(&vh, in + 8, sizeof(vh));
	len = le32toh(len) % (PVKIT_NET_MAX_FRAME + 1);
	if (netb_rx_hdr(&vh, len, off, &h))
		return;
	FUZZ_ASSERT(!h.reserved0 && !h.reserved1);
	FUZZ_ASSERT(!(h.flags & ~PVKIT_NET_HDR_F_KNOWN));
	if (h.flags)
		FUZZ_ASSERT(off & PVKIT_NET_F_GUEST_CSUM);
	if (h.flags & PVKIT_NET_HDR_F_NEEDS_CSUM)
		FUZZ_ASSERT((uint32_t)le16toh(h.csum_start) +
			    le16toh(h.csum_offset) + 2 <= len);
	switch (h.gso_type & ~PVKIT_NET_GSO_ECN) {
	case PVKIT_NET_GSO_NONE:
		FUZZ_ASSERT(!h.gso_type);
		return;
	case PVKIT_NET_GSO_TCPV4:
		FUZZ_ASSERT(off & PVKIT_NET_F_GUEST_TSO4);
		break;
	case PVKIT_NET_GSO_TCPV6:
		FUZZ_ASSERT(off & PVKIT_NET_F_GUEST_TSO6);
		break;
	case PVKIT_NET_GSO_UDP_L4:
		FUZZ_ASSERT(off & PVKIT_NET_F_GUEST_USO);
		FUZZ_ASSERT(!(h.gso_type & PVKIT_NET_GSO_ECN));
		break;
	default:
		FUZZ_ASSERT(0);
	}
	FUZZ_ASSERT(h.flags & PVKIT_NET_HDR_F_NEEDS_CSUM);
	FUZZ_ASSERT(h.gso_size && le16toh(h.hdr_len) <= len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pvkit_net_seg segbuf[PVKIT_NET_TX_MAX_SEGS];
	static struct netb_tx tx;
	struct fuzz_in in = { data, size };
	struct netb_tx_limits lim;
	struct pvkit_net_tx_req rq;
	uint8_t hdr[HDR_BYTES], st;
	struct gmem gm;
	uint8_t *ram = fuzz_gmem(&gm);

	fuzz_take(&in, hdr, sizeof(hdr));
	lim.acked = (hdr[0] | (uint64_t)hdr[1] << 8) & PVKIT_NET_F_KNOWN;
	lim.max_mtu = hdr[2] & 1 ? PVKIT_NET_MAX_MTU : 1500;
	fuzz_take(&in, &rq, sizeof(rq));
	fuzz_ram_page(&in, ram);

	memset(&tx, 0, sizeof(tx));
	st = netb_tx_parse(&lim, &gm, &rq, segbuf, &tx);
	FUZZ_ASSERT(st <= PVKIT_NET_TX_S_UNSUPP);
	if (st == PVKIT_NET_TX_S_OK)
		check_tx(&lim, &rq, &tx, ram);
	/* with every feature acked nothing is unsupported */
	if (lim.acked == PVKIT_NET_F_KNOWN)
		FUZZ_ASSERT(st != PVKIT_NET_TX_S_UNSUPP);
	check_rx(hdr);
	return 0;
}

/*
 * Keep the request plausible half of the time: few segments inside the
 * RAM ranges whose lengths add up to len, reserved fields zero, a header
 * that is usually close to valid.
 */
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max,
			       unsigned int seed)
{
	struct pvkit_net_tx_req *rq;
	struct pvkit_net_seg *segs;
	unsigned int i, n;
	uint32_t total = 0;

	size = LLVMFuzzerMutate(data, size, max);
	if (max < HDR_BYTES + sizeof(*rq) + 1024 || (seed & 1))
		return size;
	if (size < HDR_BYTES + sizeof(*rq) + 1024) {
		memset(data + size, 0, HDR_BYTES + sizeof(*rq) + 1024 - size);
		size = HDR_BYTES + sizeof(*rq) + 1024;
	}
	rq = (struct pvkit_net_tx_req *)(data + HDR_BYTES);
	rq->flags &= PVKIT_NET_TX_F_INDIRECT;
	rq->reserved0 = 0;
	rq->reserved1 = 0;
	rq->hdr.reserved0 = 0;
	rq->hdr.reserved1 = 0;
	rq->hdr.flags &= PVKIT_NET_HDR_F_NEEDS_CSUM;
	rq->hdr.gso_type = (seed >> 1) % 4 | ((seed >> 3) & 1 ? 0 : 0x80);
	if (!(seed & 0x10))
		rq->hdr.gso_type = 0;
	n = 1 + (seed >> 5) % (rq->flags ? 64 : 13);
	rq->nr_segs = htole16(n);
	segs = rq->seg;
	if (rq->flags) {
		rq->indirect_gpa = htole64((seed & 0x400) ? FUZZ_HI_GPA : 0);
		segs = (struct pvkit_net_seg *)(data + HDR_BYTES + sizeof(*rq));
	} else {
		rq->indirect_gpa = 0;
	}
	for (i = 0; i < n; i++) {
		uint32_t len = 1 + ((seed >> (i % 16)) * 2654435761u) % 1500;

		segs[i].gpa = htole64(((seed >> (i % 20)) & 1 ? FUZZ_HI_GPA : 0) +
				      4096 * ((seed >> (i % 13)) % 100));
		segs[i].len = htole32(len);
		segs[i].reserved = 0;
		total += len;
	}
	rq->len = htole32(total);
	return size;
}
