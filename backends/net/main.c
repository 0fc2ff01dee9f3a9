// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvkit-netback: network back-end process, one per pvkit network device.
 *
 *   pvkit-netback --hv
 *
 * The control protocol with pvkit-hv is the generic back-end of
 * pvkit-host/bemain.h; this file is the network device behind its ops
 * table: SETUP.args (opts.c), the host port (port-tap.c: a TAP, one
 * IFF_MULTI_QUEUE queue per queue pair, with a vnet header; port-xdp.c:
 * an AF_XDP socket), the MTU and MAC, the READY config, and the queue
 * threads (queue.c).
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvkit-host/log.h>

#include "netback.h"

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

/* SIOCSIFMTU/SIOCGIFMTU on the interface through any socket. */
int netb_if_mtu(const char *ifname, unsigned int set)
{
	struct ifreq ifr;
	int s, ret;

	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, ifname, strlen(ifname));
	ifr.ifr_mtu = (int)set;
	ret = ioctl(s, set ? SIOCSIFMTU : SIOCGIFMTU, &ifr) < 0 ? -errno :
	      ifr.ifr_mtu;
	close(s);
	return ret;
}

/* A stable locally administered unicast MAC from the port and instance. */
static void netb_default_mac(struct netb_dev *dev)
{
	uint32_t h = 2166136261u;	/* FNV-1a */
	const char *p;

	for (p = dev->opts.ifname; *p; p++)
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
	unsigned int i;
	int mtu, ret;

	for (i = 0; i < PVKIT_NET_MAX_PAIRS; i++)
		dev->tap_fd[i] = -1;
	dev->xsk.fd = -1;
	dev->xsk.prog_fd = -1;
	dev->port = dev->opts.port == NETB_PORT_XDP ? &netb_port_xdp :
		    &netb_port_tap;
	if (be->nr_queues < 3 || !(be->nr_queues & 1) ||
	    be->nr_queues > 2 * PVKIT_NET_MAX_PAIRS + 1) {
		snprintf(err, errlen, "%u queues: expected 2 x pairs + 1 (1..%u pairs)",
			 be->nr_queues, PVKIT_NET_MAX_PAIRS);
		return -EINVAL;
	}
	dev->max_pairs = (be->nr_queues - 1) / 2;
	pthread_mutex_init(&dev->lock, NULL);
	ret = dev->port->open(dev, err, errlen);
	if (ret)
		return ret;

	/* the port set max_mtu and the host's MTU */
	if (dev->opts.mtu) {
		unsigned int want = dev->opts.mtu;

		if (want > dev->max_mtu) {
			log_warn("mtu=%u: %s allows at most %u", want,
				 dev->port->name, dev->max_mtu);
			want = dev->max_mtu;
		}
		mtu = netb_if_mtu(dev->opts.ifname, want);
		if (mtu < 0)
			log_warn("cannot set the MTU of %s to %u: %s",
				 dev->opts.ifname, want, strerror(-mtu));
		dev->mtu = want;
	}
	if (dev->opts.has_mac)
		memcpy(dev->mac, dev->opts.mac, 6);
	else
		netb_default_mac(dev);
	log_info("%s %s: %u queue pair(s), mtu %u (max %u), mac %02x:%02x:%02x:%02x:%02x:%02x%s%s",
		 dev->port->name, dev->opts.ifname, dev->max_pairs, dev->mtu,
		 dev->max_mtu, dev->mac[0], dev->mac[1], dev->mac[2],
		 dev->mac[3], dev->mac[4], dev->mac[5],
		 dev->has_uso ? ", USO" : "",
		 dev->opts.poll_us ? ", polling" : "");
	return 0;
}

static void netb_close(struct pvbe *be)
{
	struct netb_dev *dev = netb_dev(be);

	if (dev->port)
		dev->port->close(dev);
}

/*
 * Is the host port (the TAP, or the interface AF_XDP is bound to)
 * administratively up?  An error counts as down.  A TAP's carrier is
 * ours (on while a queue is attached), IFF_RUNNING lags behind carrier
 * (linkwatch) and SIOCGIFFLAGS cannot carry IFF_LOWER_UP, so the
 * administrative state is what is reported.
 */
static bool netb_link_up(struct netb_dev *dev)
{
	struct ifreq ifr;
	int s, ret;

	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return false;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, dev->opts.ifname, strlen(dev->opts.ifname));
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

	features = PVKIT_NET_F_MTU | PVKIT_NET_F_STATUS | PVKIT_NET_F_MQ |
		   PVKIT_NET_F_CTRL_RX | PVKIT_NET_F_CTRL_OFFLOADS |
		   PVKIT_NET_F_TX_INDIRECT | dev->port->features(dev);
	if (dev->opts.poll_us)
		features |= PVKIT_NET_F_BACKEND_POLL;
	dev->link_up = netb_link_up(dev);
	netb_config(dev, &cfg);

	r->features = features;
	r->config_size = sizeof(cfg);
	memcpy(r->config, &cfg, sizeof(cfg));
}

/*
 * The link status follows the host port's administrative state:
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
		log_warn("%s: link %s not reported: %s", dev->opts.ifname,
			 up ? "up" : "down", strerror(-ret));
	else
		log_info("%s: link %s", dev->opts.ifname, up ? "up" : "down");
}

static const struct pvbe_ops netb_ops = {
	.prog = "pvkit-netback",
	.dev_name = "net",
	.dev_type = PVKIT_DEV_NET,
	.usage = "tap=NAME|xdp=IFNAME[,queue=Q][,attach=native|generic][,poll=US][,mac=XX:XX:XX:XX:XX:XX][,mtu=N]",
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
