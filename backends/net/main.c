// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvkit-netback: network back-end process, one per pvkit network device.
 *
 *   pvkit-netback --hv
 *
 * The control protocol with pvkit-hv is the generic back-end of
 * pvkit-host/bemain.h; this file is the network device behind its ops
 * table: SETUP.args (opts.c), the TAP (one IFF_MULTI_QUEUE queue per
 * queue pair, with a vnet header), the READY config, the TAP ioctls the
 * control queue needs, and the queue threads (queue.c).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/if_ether.h>
#include <linux/if_tun.h>

#include <pvkit-host/log.h>

#include "netback.h"

#ifndef TUN_F_USO4
#define TUN_F_USO4	0x20
#define TUN_F_USO6	0x40
#endif

static void netb_slot_sizes(const struct pvbe *be, unsigned int qi,
			    uint32_t *req_size, uint32_t *rsp_size)
{
	switch (netb_qtype(be, qi)) {
	case NETB_Q_RX:
		*req_size = sizeof(struct pvkit_net_rx_req);
		*rsp_size = sizeof(struct pvkit_net_rx_rsp);
		break;
	case NETB_Q_TX:
		*req_size = sizeof(struct pvkit_net_tx_req);
		*rsp_size = sizeof(struct pvkit_net_tx_rsp);
		break;
	default:
		*req_size = sizeof(struct pvkit_net_ctrl_req);
		*rsp_size = sizeof(struct pvkit_net_ctrl_rsp);
		break;
	}
}

static int netb_parse_args(struct pvbe *be, const char *args, char *err,
			   size_t errlen)
{
	return netb_opts_parse(&netb_dev(be)->opts, args, err, errlen);
}

/* One TAP queue; the first call creates the TAP if it does not exist. */
static int netb_tap_open(struct netb_dev *dev, char *err, size_t errlen)
{
	struct ifreq ifr;
	int fd, sz = NETB_VNET_HDR_LEN, le = 1;

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "/dev/net/tun: %s", strerror(errno));
		return -errno;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
	memcpy(ifr.ifr_name, dev->opts.tap, strlen(dev->opts.tap));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int ret = -errno;

		snprintf(err, errlen, "TUNSETIFF %s: %s (a multi-queue TAP with vnet headers is needed)",
			 dev->opts.tap, strerror(errno));
		close(fd);
		return ret;
	}
	if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) {
		int ret = -errno;

		snprintf(err, errlen, "TUNSETVNETHDRSZ: %s", strerror(errno));
		close(fd);
		return ret;
	}
	/* the vnet header is little-endian like ours; a no-op on LE hosts */
	(void)ioctl(fd, TUNSETVNETLE, &le);
	return fd;
}

/* SIOCSIFMTU/SIOCGIFMTU on the TAP through any socket. */
static int netb_tap_mtu(struct netb_dev *dev, unsigned int set)
{
	struct ifreq ifr;
	int s, ret;

	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, dev->opts.tap, strlen(dev->opts.tap));
	ifr.ifr_mtu = (int)set;
	ret = ioctl(s, set ? SIOCSIFMTU : SIOCGIFMTU, &ifr) < 0 ? -errno :
	      ifr.ifr_mtu;
	close(s);
	return ret;
}

/* A stable locally administered unicast MAC from the TAP and instance. */
static void netb_default_mac(struct netb_dev *dev)
{
	uint32_t h = 2166136261u;	/* FNV-1a */
	const char *p;

	for (p = dev->opts.tap; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	h = (h ^ dev->be.instance) * 16777619u;
	dev->mac[0] = 0x02;		/* locally administered, unicast */
	dev->mac[1] = 0x70;		/* 'p' */
	dev->mac[2] = h >> 24;
	dev->mac[3] = h >> 16;
	dev->mac[4] = h >> 8;
	dev->mac[5] = h;
}

static int netb_open(struct pvbe *be, char *err, size_t errlen)
{
	struct netb_dev *dev = netb_dev(be);
	unsigned int i, probe;
	int fd, mtu;

	for (i = 0; i < PVKIT_NET_MAX_PAIRS; i++)
		dev->tap_fd[i] = -1;
	if (be->nr_queues < 3 || !(be->nr_queues & 1) ||
	    be->nr_queues > 2 * PVKIT_NET_MAX_PAIRS + 1) {
		snprintf(err, errlen, "%u queues: expected 2 x pairs + 1 (1..%u pairs)",
			 be->nr_queues, PVKIT_NET_MAX_PAIRS);
		return -EINVAL;
	}
	dev->max_pairs = (be->nr_queues - 1) / 2;
	for (i = 0; i < dev->max_pairs; i++) {
		fd = netb_tap_open(dev, err, errlen);
		if (fd < 0)
			return fd;
		dev->tap_fd[i] = fd;
	}
	/* USO is 6.2+: a kernel that does not know the bits says EINVAL */
	probe = TUN_F_CSUM | TUN_F_USO4 | TUN_F_USO6;
	dev->has_uso = !ioctl(dev->tap_fd[0], TUNSETOFFLOAD, probe);
	if (ioctl(dev->tap_fd[0], TUNSETOFFLOAD, 0) < 0) {
		snprintf(err, errlen, "TUNSETOFFLOAD: %s", strerror(errno));
		return -errno;
	}

	if (dev->opts.mtu) {
		mtu = netb_tap_mtu(dev, dev->opts.mtu);
		if (mtu < 0)
			log_warn("cannot set the MTU of %s to %u: %s",
				 dev->opts.tap, dev->opts.mtu, strerror(-mtu));
		dev->mtu = dev->opts.mtu;
	} else {
		/* suggest what the host side of the link uses */
		mtu = netb_tap_mtu(dev, 0);
		dev->mtu = mtu >= (int)PVKIT_NET_MIN_MTU &&
			   mtu <= (int)PVKIT_NET_MAX_MTU ? (unsigned int)mtu :
			   NETB_DEFAULT_MTU;
	}
	/* a TAP's own limit: 65535 minus its Ethernet header */
	dev->max_mtu = PVKIT_NET_MAX_MTU;
	if (dev->opts.has_mac)
		memcpy(dev->mac, dev->opts.mac, 6);
	else
		netb_default_mac(dev);
	pthread_mutex_init(&dev->lock, NULL);
	log_info("%s: %u queue pair(s), mtu %u, mac %02x:%02x:%02x:%02x:%02x:%02x%s%s",
		 dev->opts.tap, dev->max_pairs, dev->mtu, dev->mac[0],
		 dev->mac[1], dev->mac[2], dev->mac[3], dev->mac[4],
		 dev->mac[5], dev->has_uso ? ", USO" : "",
		 dev->opts.poll_us ? ", polling" : "");
	return 0;
}

static void netb_close(struct pvbe *be)
{
	struct netb_dev *dev = netb_dev(be);
	unsigned int i;

	for (i = 0; i < PVKIT_NET_MAX_PAIRS; i++) {
		if (dev->tap_fd[i] >= 0)
			close(dev->tap_fd[i]);
		dev->tap_fd[i] = -1;
	}
}

/*
 * Is the TAP administratively up?  An error counts as down.  Its carrier
 * is ours (on while a queue is attached), and IFF_RUNNING lags behind it
 * (linkwatch), so neither says more.
 */
static bool netb_link_up(struct netb_dev *dev)
{
	struct ifreq ifr;
	int s, ret;

	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return false;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, dev->opts.tap, strlen(dev->opts.tap));
	ret = ioctl(s, SIOCGIFFLAGS, &ifr);
	close(s);
	return !ret && (ifr.ifr_flags & IFF_UP);
}

static void netb_config(struct netb_dev *dev, struct pvkit_net_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	memcpy(cfg->mac, dev->mac, 6);
	cfg->status = htole16(dev->link_up ? PVKIT_NET_S_LINK_UP : 0);
	cfg->max_queue_pairs = htole16(dev->max_pairs);
	cfg->mtu = htole16(dev->mtu);
	cfg->max_mtu = htole16(dev->max_mtu);
	cfg->poll_us = htole32(dev->opts.poll_us);
}

static void netb_fill_ready(struct pvbe *be, struct pvkit_be_ready *r)
{
	struct netb_dev *dev = netb_dev(be);
	struct pvkit_net_config cfg;
	uint64_t features;

	features = PVKIT_NET_F_CSUM | PVKIT_NET_F_GUEST_CSUM |
		   PVKIT_NET_F_HOST_TSO4 | PVKIT_NET_F_HOST_TSO6 |
		   PVKIT_NET_F_GUEST_TSO4 | PVKIT_NET_F_GUEST_TSO6 |
		   PVKIT_NET_F_MTU | PVKIT_NET_F_STATUS | PVKIT_NET_F_MQ |
		   PVKIT_NET_F_CTRL_RX | PVKIT_NET_F_CTRL_OFFLOADS |
		   PVKIT_NET_F_TX_INDIRECT;
	if (dev->has_uso)
		features |= PVKIT_NET_F_HOST_USO | PVKIT_NET_F_GUEST_USO;
	if (dev->opts.poll_us)
		features |= PVKIT_NET_F_BACKEND_POLL;
	dev->link_up = netb_link_up(dev);
	netb_config(dev, &cfg);

	r->features = features;
	r->config_size = sizeof(cfg);
	memcpy(r->config, &cfg, sizeof(cfg));
}

/*
 * The link status follows the TAP's administrative state:
 * a change goes to pvkit-hv as a CONFIG, which the guest sees as a
 * config change of the bound device (ABI.md 6.2).  Frames sent while it
 * is down are dropped as on a link without carrier.
 */
static void netb_tick(struct pvbe *be)
{
	struct netb_dev *dev = netb_dev(be);
	struct pvkit_net_config cfg;
	bool up = netb_link_up(dev);
	int ret;

	if (up == dev->link_up)
		return;
	dev->link_up = up;
	netb_config(dev, &cfg);
	ret = pvbe_send_config(be, &cfg, sizeof(cfg));
	if (ret)
		log_warn("%s: link %s not reported: %s", dev->opts.tap,
			 up ? "up" : "down", strerror(-ret));
	else
		log_info("%s: link %s", dev->opts.tap, up ? "up" : "down");
}

/* ------------------------------------------------------ TAP control --- */

int netb_tap_set_offloads(struct netb_dev *dev, uint64_t offloads)
{
	unsigned int f = netb_tun_offloads(offloads);

	if (ioctl(dev->tap_fd[0], TUNSETOFFLOAD, f) < 0)
		return -errno;
	__atomic_store_n(&dev->rx_offloads, offloads, __ATOMIC_RELEASE);
	return 0;
}

int netb_tap_set_filter(struct netb_dev *dev)
{
	static const uint8_t bcast[ETH_ALEN] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff
	};
	struct {
		struct tun_filter f;
		uint8_t addr[PVKIT_NET_MAC_TABLE_MAX + 2][ETH_ALEN];
	} flt;
	unsigned int i, n = 0, pass;

	memset(&flt, 0, sizeof(flt));
	if (!(dev->rx_mode & PVKIT_NET_RX_M_PROMISC)) {
		/*
		 * The kernel matches its first 8 addresses exactly and hashes
		 * the multicast rest (a unicast one there turns the filter
		 * off): our MAC first, then unicast entries, then multicast.
		 */
		memcpy(flt.addr[n++], dev->mac, ETH_ALEN);
		for (pass = 0; pass < 2; pass++)
			for (i = 0; i < dev->nr_macs; i++)
				if ((dev->macs[i][0] & 1) == pass)
					memcpy(flt.addr[n++], dev->macs[i],
					       ETH_ALEN);
		memcpy(flt.addr[n++], bcast, ETH_ALEN);
		if (dev->rx_mode & PVKIT_NET_RX_M_ALLMULTI)
			flt.f.flags = TUN_FLT_ALLMULTI;
	}
	flt.f.count = n;
	if (ioctl(dev->tap_fd[0], TUNSETTXFILTER, &flt) < 0)
		return -errno;
	return 0;
}

int netb_tap_set_pairs(struct netb_dev *dev, unsigned int pairs)
{
	struct ifreq ifr;
	unsigned int i;
	int ret = 0;

	/* attach first, so that some queue stays attached throughout */
	pthread_mutex_lock(&dev->lock);
	for (i = 0; i < dev->max_pairs && !ret; i++) {
		if (i >= pairs)
			continue;
		memset(&ifr, 0, sizeof(ifr));
		ifr.ifr_flags = IFF_ATTACH_QUEUE;
		if (ioctl(dev->tap_fd[i], TUNSETQUEUE, &ifr) < 0 &&
		    errno != EINVAL)	/* EINVAL: attached already */
			ret = -errno;
	}
	for (i = pairs; i < dev->max_pairs && !ret; i++) {
		memset(&ifr, 0, sizeof(ifr));
		ifr.ifr_flags = IFF_DETACH_QUEUE;
		if (ioctl(dev->tap_fd[i], TUNSETQUEUE, &ifr) < 0 &&
		    errno != EINVAL)	/* EINVAL: detached already */
			ret = -errno;
	}
	if (!ret)
		__atomic_store_n(&dev->pairs, pairs, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

static const struct pvbe_ops netb_ops = {
	.prog = "pvkit-netback",
	.dev_name = "net",
	.dev_type = PVKIT_DEV_NET,
	.usage = "tap=NAME[,poll=US][,mac=XX:XX:XX:XX:XX:XX][,mtu=N]",
	.queue_size = sizeof(struct netb_queue),
	.queue_offset = offsetof(struct netb_queue, bq),
	.slot_sizes = netb_slot_sizes,
	.parse_args = netb_parse_args,
	.open = netb_open,
	.fill_ready = netb_fill_ready,
	.queue_start = netb_queue_start,
	.queue_join = netb_queue_join,
	.close = netb_close,
	.tick = netb_tick,
	.tick_ms = NETB_LINK_TICK_MS,
};

int main(int argc, char **argv)
{
	static struct netb_dev dev;

	return pvbe_main(&dev.be, &netb_ops, argc, argv);
}
