// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz-srcs: backends/net/ctrl.c lib/gmem.c
 *
 * pvkit-netback's control commands (netb_ctrl()) as a guest sends them:
 * a sequence of 64-byte control slots against one device, with the
 * negotiated features, the number of pairs and the MAC table in guest
 * RAM from the input, and a port that records what it was asked and
 * fails when the input says so.  Properties: an unknown or
 * unacknowledged command is UNSUPP and changes nothing; the port is
 * asked only for what was validated (pairs 1..max, rx mode and offloads
 * inside what is known and acked, GSO only with CSUM, at most 64 MAC
 * entries with zero padding, copied before use); a failing port leaves
 * the device as it was; after OK the state equals what was asked.
 */
#include <endian.h>

#include "../../backends/net/netback.h"
#include "fuzz.h"

static struct {
	bool fail;		/* the port's next call fails */
	unsigned int calls;
} port;

static int fake_offloads(struct netb_dev *dev, uint64_t offloads)
{
	FUZZ_ASSERT(!(offloads & ~(dev->be.acked & NETB_RX_OFFLOADS)));
	FUZZ_ASSERT(!(offloads & PVKIT_NET_F_GUEST_GSO) ||
		    (offloads & PVKIT_NET_F_GUEST_CSUM));
	port.calls++;
	return port.fail ? -EIO : 0;
}

static int fake_filter(struct netb_dev *dev)
{
	unsigned int i;

	FUZZ_ASSERT(dev->nr_macs <= PVKIT_NET_MAC_TABLE_MAX);
	FUZZ_ASSERT(!(dev->rx_mode & ~PVKIT_NET_RX_M_KNOWN));
	for (i = 0; i < dev->nr_macs; i++)
		FUZZ_ASSERT(!dev->macs[i][6] && !dev->macs[i][7]);
	port.calls++;
	return port.fail ? -EIO : 0;
}

static int fake_pairs(struct netb_dev *dev, unsigned int pairs)
{
	FUZZ_ASSERT(pairs >= 1 && pairs <= dev->max_pairs);
	port.calls++;
	return port.fail ? -EIO : 0;
}

static const struct netb_port_ops fake_port = {
	.name = "fuzz",
	.set_offloads = fake_offloads,
	.set_filter = fake_filter,
	.set_pairs = fake_pairs,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct netb_dev dev;
	struct fuzz_in in = { data, size };
	struct pvkit_net_ctrl_req rq;
	struct netb_dev before;
	uint8_t *ram;
	unsigned int n;
	uint8_t st;

	memset(&dev, 0, sizeof(dev));
	ram = fuzz_gmem(&dev.be.gm);
	dev.port = &fake_port;
	dev.be.acked = fuzz_u64(&in) & PVKIT_NET_F_KNOWN;
	dev.max_pairs = 1 + fuzz_u8(&in) % PVKIT_NET_MAX_PAIRS;
	dev.pairs = dev.max_pairs;
	/* the MAC table the commands may point at: the first page */
	fuzz_take(&in, ram, 4096);
	memcpy(ram + FUZZ_LO, ram, 4096);
	for (n = 0; n < 32 && in.left; n++) {
		fuzz_take(&in, &rq, sizeof(rq));
		port.fail = fuzz_u8(&in) & 1;
		port.calls = 0;
		before = dev;
		st = netb_ctrl(&dev, &rq);
		FUZZ_ASSERT(st <= PVKIT_NET_CTRL_S_ERR);
		if (st != PVKIT_NET_CTRL_S_OK) {
			/* refused or failed: the device as it was */
			FUZZ_ASSERT(dev.pairs == before.pairs &&
				    dev.rx_mode == before.rx_mode &&
				    dev.nr_macs == before.nr_macs &&
				    dev.rx_offloads == before.rx_offloads &&
				    !memcmp(dev.macs, before.macs,
					    sizeof(dev.macs)));
			if (st != PVKIT_NET_CTRL_S_ERR)
				FUZZ_ASSERT(!port.calls);
			continue;
		}
		FUZZ_ASSERT(port.calls == 1 && !port.fail);
		switch (rq.cmd) {
		case PVKIT_NET_CTRL_QUEUE_PAIRS:
			FUZZ_ASSERT(dev.be.acked & PVKIT_NET_F_MQ);
			FUZZ_ASSERT(dev.pairs == le64toh(rq.arg0));
			break;
		case PVKIT_NET_CTRL_RX_MODE:
			FUZZ_ASSERT(dev.be.acked & PVKIT_NET_F_CTRL_RX);
			FUZZ_ASSERT(dev.rx_mode == le64toh(rq.arg0));
			break;
		case PVKIT_NET_CTRL_MAC_TABLE:
			FUZZ_ASSERT(dev.be.acked & PVKIT_NET_F_CTRL_RX);
			FUZZ_ASSERT(dev.nr_macs == le64toh(rq.arg0));
			break;
		case PVKIT_NET_CTRL_OFFLOADS:
			FUZZ_ASSERT(dev.be.acked & PVKIT_NET_F_CTRL_OFFLOADS);
			FUZZ_ASSERT(dev.rx_offloads == le64toh(rq.arg0));
			break;
		default:
			FUZZ_ASSERT(0);
		}
	}
	return 0;
}
