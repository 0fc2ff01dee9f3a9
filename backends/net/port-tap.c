// SPDX-License-Identifier: GPL-2.0-only
/*
 * The TAP port: one IFF_MULTI_QUEUE queue per queue pair, each with a
 * 10-byte vnet header.  Offloads are TUNSETOFFLOAD, the MAC filter
 * TUNSETTXFILTER, unused pairs detached queues (TUNSETQUEUE).
 */
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

/* One TAP queue; the first call creates the TAP if it does not exist. */
static int tap_open_queue(struct netb_dev *dev, char *err, size_t errlen)
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
	memcpy(ifr.ifr_name, dev->opts.ifname, strlen(dev->opts.ifname));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int ret = -errno;

		snprintf(err, errlen, "TUNSETIFF %s: %s (a multi-queue TAP with vnet headers is needed)",
			 dev->opts.ifname, strerror(errno));
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

static int tap_open(struct netb_dev *dev, char *err, size_t errlen)
{
	unsigned int i, probe;
	int fd, mtu;

	for (i = 0; i < dev->max_pairs; i++) {
		fd = tap_open_queue(dev, err, errlen);
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
	/* a TAP's own limit: 65535 minus its Ethernet header */
	dev->max_mtu = PVKIT_NET_MAX_MTU;
	mtu = netb_if_mtu(dev->opts.ifname, 0);
	dev->mtu = mtu >= (int)PVKIT_NET_MIN_MTU && mtu <= (int)dev->max_mtu ?
		   (unsigned int)mtu : NETB_DEFAULT_MTU;
	return 0;
}

static void tap_close(struct netb_dev *dev)
{
	unsigned int i;

	for (i = 0; i < PVKIT_NET_MAX_PAIRS; i++) {
		if (dev->tap_fd[i] >= 0)
			close(dev->tap_fd[i]);
		dev->tap_fd[i] = -1;
	}
}

static uint64_t tap_features(const struct netb_dev *dev)
{
	uint64_t f = PVKIT_NET_F_CSUM | PVKIT_NET_F_GUEST_CSUM |
		     PVKIT_NET_F_HOST_TSO4 | PVKIT_NET_F_HOST_TSO6 |
		     PVKIT_NET_F_GUEST_TSO4 | PVKIT_NET_F_GUEST_TSO6;

	if (dev->has_uso)
		f |= PVKIT_NET_F_HOST_USO | PVKIT_NET_F_GUEST_USO;
	return f;
}

static int tap_read(struct netb_dev *dev, unsigned int pair,
		    struct virtio_net_hdr *vh, uint8_t *buf, uint32_t max,
		    uint32_t *len)
{
	struct iovec iov[2] = { { vh, NETB_VNET_HDR_LEN }, { buf, max } };
	ssize_t n;

	n = readv(dev->tap_fd[pair], iov, 2);
	if (n < 0) {
		/* EBADFD: detached by CTRL_QUEUE_PAIRS meanwhile */
		if (errno == EAGAIN || errno == EINTR || errno == EBADFD)
			return 0;
		return -errno;
	}
	*len = n < NETB_VNET_HDR_LEN ? 0 : (uint32_t)(n - NETB_VNET_HDR_LEN);
	return 1;
}

/* writev() the frame to our TAP queue, or pair 0's if ours is detached. */
static int tap_write(struct netb_dev *dev, unsigned int pair,
		     const struct netb_tx *tx)
{
	ssize_t n;

	if (pair >= __atomic_load_n(&dev->pairs, __ATOMIC_ACQUIRE))
		pair = 0;
	n = writev(dev->tap_fd[pair], tx->iov, (int)tx->nr_iov + 1);
	if (n < 0 && errno == EBADFD && pair) {
		/* detached under us by CTRL_QUEUE_PAIRS */
		n = writev(dev->tap_fd[0], tx->iov, (int)tx->nr_iov + 1);
	}
	if (n < 0)
		return -errno;	/* EINVAL: the kernel refused the header */
	return n == (ssize_t)(tx->len + NETB_VNET_HDR_LEN) ? 0 : -EIO;
}

static int tap_rx_fd(struct netb_dev *dev, unsigned int pair)
{
	return dev->tap_fd[pair];
}

static int tap_set_offloads(struct netb_dev *dev, uint64_t offloads)
{
	unsigned int f = netb_tun_offloads(offloads);

	if (ioctl(dev->tap_fd[0], TUNSETOFFLOAD, f) < 0)
		return -errno;
	return 0;
}

static int tap_set_filter(struct netb_dev *dev)
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

static int tap_set_pairs(struct netb_dev *dev, unsigned int pairs)
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
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

const struct netb_port_ops netb_port_tap = {
	.name = "tap",
	.open = tap_open,
	.close = tap_close,
	.features = tap_features,
	.read = tap_read,
	.write = tap_write,
	.rx_fd = tap_rx_fd,
	.set_offloads = tap_set_offloads,
	.set_filter = tap_set_filter,
	.set_pairs = tap_set_pairs,
};
