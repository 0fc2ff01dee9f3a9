// SPDX-License-Identifier: GPL-2.0-only
/*
 * The control queue's commands (ABI.md 10): each one checked against
 * what was negotiated and the rules of its arguments, on a private copy
 * of the slot (and of the MAC table, copied out of guest RAM first), then
 * handed to the port.  No threads, no descriptors of its own: the fuzz
 * harness runs it against a port that only records.
 */
#include <endian.h>
#include <string.h>

#include "netback.h"

int netb_set_pairs(struct netb_dev *dev, unsigned int pairs)
{
	int ret = dev->port->set_pairs(dev, pairs);

	if (!ret)
		__atomic_store_n(&dev->pairs, pairs, __ATOMIC_RELEASE);
	return ret;
}

int netb_set_offloads(struct netb_dev *dev, uint64_t offloads)
{
	int ret = dev->port->set_offloads(dev, offloads);

	if (!ret)
		__atomic_store_n(&dev->rx_offloads, offloads,
				 __ATOMIC_RELEASE);
	return ret;
}

static uint8_t netb_ctrl_mac_table(struct netb_dev *dev,
				   const struct pvkit_net_ctrl_req *rq)
{
	uint64_t count = le64toh(rq->arg0);
	uint8_t macs[PVKIT_NET_MAC_TABLE_MAX][8];
	unsigned int i, old_nr = dev->nr_macs;
	uint8_t old[PVKIT_NET_MAC_TABLE_MAX][8];

	if (count > PVKIT_NET_MAC_TABLE_MAX)
		return PVKIT_NET_CTRL_S_INVAL;
	/* copy, then validate: the guest may rewrite the table meanwhile */
	if (count && gmem_copy_in(&dev->be.gm, macs, le64toh(rq->arg1),
				  count * 8))
		return PVKIT_NET_CTRL_S_INVAL;
	for (i = 0; i < count; i++)
		if (macs[i][6] || macs[i][7])
			return PVKIT_NET_CTRL_S_INVAL;
	memcpy(old, dev->macs, sizeof(old));
	memcpy(dev->macs, macs, count * 8);
	dev->nr_macs = count;
	if (dev->port->set_filter(dev)) {
		memcpy(dev->macs, old, sizeof(old));
		dev->nr_macs = old_nr;
		return PVKIT_NET_CTRL_S_ERR;
	}
	return PVKIT_NET_CTRL_S_OK;
}

uint8_t netb_ctrl(struct netb_dev *dev, const struct pvkit_net_ctrl_req *rq)
{
	static const uint8_t zero[32];
	uint64_t acked = dev->be.acked, arg0 = le64toh(rq->arg0), need;
	uint8_t old;

	switch (rq->cmd) {
	case PVKIT_NET_CTRL_QUEUE_PAIRS:
		need = PVKIT_NET_F_MQ;
		break;
	case PVKIT_NET_CTRL_RX_MODE:
	case PVKIT_NET_CTRL_MAC_TABLE:
		need = PVKIT_NET_F_CTRL_RX;
		break;
	case PVKIT_NET_CTRL_OFFLOADS:
		need = PVKIT_NET_F_CTRL_OFFLOADS;
		break;
	default:
		return PVKIT_NET_CTRL_S_UNSUPP;
	}
	if (!(acked & need))
		return PVKIT_NET_CTRL_S_UNSUPP;
	if (memcmp(rq->reserved0, zero, sizeof(rq->reserved0)) ||
	    memcmp(rq->reserved, zero, sizeof(rq->reserved)))
		return PVKIT_NET_CTRL_S_INVAL;
	if (rq->cmd != PVKIT_NET_CTRL_MAC_TABLE && rq->arg1)
		return PVKIT_NET_CTRL_S_INVAL;

	switch (rq->cmd) {
	case PVKIT_NET_CTRL_QUEUE_PAIRS:
		if (!arg0 || arg0 > dev->max_pairs)
			return PVKIT_NET_CTRL_S_INVAL;
		if (netb_set_pairs(dev, (unsigned int)arg0))
			return PVKIT_NET_CTRL_S_ERR;
		return PVKIT_NET_CTRL_S_OK;
	case PVKIT_NET_CTRL_RX_MODE:
		if (arg0 & ~(uint64_t)PVKIT_NET_RX_M_KNOWN)
			return PVKIT_NET_CTRL_S_INVAL;
		old = dev->rx_mode;
		dev->rx_mode = (uint8_t)arg0;
		if (dev->port->set_filter(dev)) {
			dev->rx_mode = old;
			return PVKIT_NET_CTRL_S_ERR;
		}
		return PVKIT_NET_CTRL_S_OK;
	case PVKIT_NET_CTRL_MAC_TABLE:
		return netb_ctrl_mac_table(dev, rq);
	default: /* OFFLOADS */
		if ((arg0 & ~(acked & NETB_RX_OFFLOADS)) ||
		    ((arg0 & PVKIT_NET_F_GUEST_GSO) &&
		     !(arg0 & PVKIT_NET_F_GUEST_CSUM)))
			return PVKIT_NET_CTRL_S_INVAL;
		if (netb_set_offloads(dev, arg0))
			return PVKIT_NET_CTRL_S_ERR;
		return PVKIT_NET_CTRL_S_OK;
	}
}
