// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fake pvkit_net front-end and the host end of its link (netback_fe.h).
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/if.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>

#include "netback_fe.h"

/* ------------------------------------------------- the fe_kind row --- */

static void fe_net_slot_sizes(const struct fe *fe, unsigned int qi,
			      uint32_t *req_size, uint32_t *rsp_size)
{
	if ((fe->nr_queues & 1) && qi == fe->nr_queues - 1) {
		*req_size = sizeof(struct pvkit_net_ctrl_req);
		*rsp_size = sizeof(struct pvkit_net_ctrl_rsp);
	} else if (qi & 1) {
		*req_size = sizeof(struct pvkit_net_tx_req);
		*rsp_size = sizeof(struct pvkit_net_tx_rsp);
	} else {
		*req_size = sizeof(struct pvkit_net_rx_req);
		*rsp_size = sizeof(struct pvkit_net_rx_rsp);
	}
}

static int fe_net_setup_args(struct fe *fe, const char *dir, char *args,
			     size_t len)
{
	int ret;

	(void)fe;
	(void)dir;
	/* the back-end inherits the namespace: its TAP stays in there */
	ret = nfe_netns_tap();
	if (ret)
		return ret;
	snprintf(args, len, "tap=%s", NFE_TAP);
	return 0;
}

static int fe_net_ready(struct fe *fe, const struct pvkit_be_ready *r)
{
	(void)fe;
	return r->config_size == sizeof(struct pvkit_net_config) ? 0 :
	       -EBADMSG;
}

const struct fe_kind fe_net_kind = {
	.prog = "pvkit-netback",
	.dev_type = PVKIT_DEV_NET,
	.other_type = PVKIT_DEV_BLK,
	.nr_queues = 3,
	.slot_sizes = fe_net_slot_sizes,
	.setup_args = fe_net_setup_args,
	.bad_args = "tap",
	/* offered only with poll= */
	.unoffered = PVKIT_NET_F_BACKEND_POLL,
	.ready = fe_net_ready,
};

/* ------------------------------------------------- namespace + TAP --- */

static int nfe_write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* One SIOC* ioctl on @name through a throw-away socket; 0 or -errno. */
static int nfe_ifreq(const char *name, unsigned long req, struct ifreq *ifr)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret = 0;

	if (s < 0)
		return -errno;
	strcpy(ifr->ifr_name, name);
	if (ioctl(s, req, ifr) < 0)
		ret = -errno;
	close(s);
	return ret;
}

/* @name up, with IPv4 address @addr/24 unless 0 and MTU @mtu unless 0. */
static int nfe_if_up(const char *name, uint32_t addr, int mtu)
{
	struct sockaddr_in *sin;
	struct ifreq ifr;
	int ret = 0;

	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_mtu = mtu;
	if (mtu)
		ret = nfe_ifreq(name, SIOCSIFMTU, &ifr);
	memset(&ifr, 0, sizeof(ifr));
	sin = (struct sockaddr_in *)&ifr.ifr_addr;
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(addr);
	if (!ret && addr)
		ret = nfe_ifreq(name, SIOCSIFADDR, &ifr);
	sin->sin_addr.s_addr = htonl(0xffffff00);
	if (!ret && addr)
		ret = nfe_ifreq(name, SIOCSIFNETMASK, &ifr);
	memset(&ifr, 0, sizeof(ifr));
	if (!ret)
		ret = nfe_ifreq(name, SIOCGIFFLAGS, &ifr);
	ifr.ifr_flags |= IFF_UP;
	if (!ret)
		ret = nfe_ifreq(name, SIOCSIFFLAGS, &ifr);
	return ret;
}

/* A network namespace of our own, IPv6 off: the link is ours alone. */
static int nfe_netns(void)
{
	if (unshare(CLONE_NEWNET))
		return -errno;
	/* no router solicitations, DAD or MLD */
	nfe_write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
	return 0;
}

int nfe_netns_tap(void)
{
	struct ifreq ifr;
	int fd, ret;

	ret = nfe_netns();
	if (ret)
		return ret;
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
	strcpy(ifr.ifr_name, NFE_TAP);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETPERSIST, 1) < 0)
		ret = -errno;
	close(fd);
	if (ret)
		return ret;

	return nfe_if_up(NFE_TAP, NFE_TAP_ADDR, 0);
}

/* One netlink request, its ack awaited; 0 or -errno. */
static int nfe_rtnl(struct nlmsghdr *nh)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct {
		struct nlmsghdr nh;
		struct nlmsgerr err;
	} ack;
	int s, ret;

	s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (s < 0)
		return -errno;
	nh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	ret = sendto(s, nh, nh->nlmsg_len, 0, (struct sockaddr *)&sa,
		     sizeof(sa)) < 0 ? -errno : 0;
	if (!ret && recv(s, &ack, sizeof(ack), 0) < (ssize_t)sizeof(ack))
		ret = -EIO;
	if (!ret && ack.nh.nlmsg_type == NLMSG_ERROR)
		ret = ack.err.error;
	close(s);
	return ret;
}

int nfe_set_link(bool up)
{
	struct ifreq ifr;
	int ret;

	memset(&ifr, 0, sizeof(ifr));
	ret = nfe_ifreq(NFE_TAP, SIOCGIFFLAGS, &ifr);
	if (up)
		ifr.ifr_flags |= IFF_UP;
	else
		ifr.ifr_flags &= ~IFF_UP;
	return ret ?: nfe_ifreq(NFE_TAP, SIOCSIFFLAGS, &ifr);
}

/* Append attribute @type (@len bytes of @data) at the end of @nh. */
static struct rtattr *nfe_rta(struct nlmsghdr *nh, unsigned short type,
			      const void *data, size_t len)
{
	struct rtattr *rta = (void *)((char *)nh + NLMSG_ALIGN(nh->nlmsg_len));

	rta->rta_type = type;
	rta->rta_len = RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(rta), data, len);
	nh->nlmsg_len = NLMSG_ALIGN(nh->nlmsg_len) + RTA_ALIGN(rta->rta_len);
	return rta;
}

/* Close a nested attribute opened with nfe_rta(.., NULL, 0). */
static void nfe_rta_end(struct nlmsghdr *nh, struct rtattr *nest)
{
	nest->rta_len = (unsigned short)((char *)nh + nh->nlmsg_len -
					 (char *)nest);
}

int nfe_netns_veth(void)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
		char attrs[256];
	} req;
	struct rtattr *linkinfo, *data, *peer;
	struct ifinfomsg pifi;
	int ret;

	ret = nfe_netns();
	if (ret)
		return ret;
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.ifi));
	req.nh.nlmsg_type = RTM_NEWLINK;
	req.nh.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	req.ifi.ifi_family = AF_UNSPEC;
	nfe_rta(&req.nh, IFLA_IFNAME, NFE_VETH, sizeof(NFE_VETH));
	linkinfo = nfe_rta(&req.nh, IFLA_LINKINFO, NULL, 0);
	nfe_rta(&req.nh, IFLA_INFO_KIND, "veth", 4);
	data = nfe_rta(&req.nh, IFLA_INFO_DATA, NULL, 0);
	peer = nfe_rta(&req.nh, 1 /* VETH_INFO_PEER */, NULL, 0);
	/* the peer's struct ifinfomsg, then its attributes */
	memset(&pifi, 0, sizeof(pifi));
	memcpy(RTA_DATA(peer), &pifi, sizeof(pifi));
	req.nh.nlmsg_len += NLMSG_ALIGN(sizeof(pifi));
	nfe_rta(&req.nh, IFLA_IFNAME, NFE_VETH_PEER, sizeof(NFE_VETH_PEER));
	nfe_rta_end(&req.nh, peer);
	nfe_rta_end(&req.nh, data);
	nfe_rta_end(&req.nh, linkinfo);
	ret = nfe_rtnl(&req.nh);
	if (ret)
		return ret;
	ret = nfe_if_up(NFE_VETH, 0, NFE_VETH_MTU);
	if (!ret)
		ret = nfe_if_up(NFE_VETH_PEER, NFE_TAP_ADDR, NFE_VETH_MTU);
	return ret;
}

static int nfe_ifindex(const char *name)
{
	struct ifreq ifr;
	int ret;

	memset(&ifr, 0, sizeof(ifr));
	ret = nfe_ifreq(name, SIOCGIFINDEX, &ifr);
	return ret ? ret : ifr.ifr_ifindex;
}

/*
 * The back-end's first TAP queue turns the carrier on, and linkwatch
 * activates the qdisc a little later (asynchronously): until then the
 * kernel drops what we inject.  Wait for IFF_RUNNING, then a bit.
 */
static int nfe_wait_running(const char *name)
{
	struct ifreq ifr;
	int i;

	for (i = 0; i < 500; i++) {
		memset(&ifr, 0, sizeof(ifr));
		if (!nfe_ifreq(name, SIOCGIFFLAGS, &ifr) &&
		    (ifr.ifr_flags & IFF_RUNNING))
			break;
		usleep(10000);
	}
	usleep(50000);
	return i < 500 ? 0 : -ETIMEDOUT;
}

static int nfe_packet_socket(struct nfe *n, bool capture)
{
	struct sockaddr_ll sll;
	int s, one = 1;

	s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
		   capture ? htons(ETH_P_ALL) : 0);
	if (s < 0)
		return -errno;
	if (setsockopt(s, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) ||
	    (capture && setsockopt(s, SOL_PACKET, PACKET_IGNORE_OUTGOING,
				   &one, sizeof(one)))) {
		close(s);
		return -errno;
	}
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = capture ? htons(ETH_P_ALL) : 0;
	sll.sll_ifindex = n->ifindex;
	if (bind(s, (struct sockaddr *)&sll, sizeof(sll))) {
		close(s);
		return -errno;
	}
	return s;
}

/* The host end is up: packet sockets on it, the back-end on @port. */
static int nfe_start_on(struct nfe *n, unsigned int pairs, const char *port,
			const char *extra, uint64_t drop)
{
	char args[256];
	int ret;

	n->pairs = pairs;
	n->next_id = 1;
	n->fe.kind = &fe_net_kind;
	n->ifindex = nfe_ifindex(n->host_if);
	if (n->ifindex < 0)
		return n->ifindex;
	n->cap = nfe_packet_socket(n, true);
	if (n->cap < 0)
		return n->cap;
	n->inj = nfe_packet_socket(n, false);
	if (n->inj < 0)
		return n->inj;
	ret = fe_init(&n->fe, 2 * pairs + 1, NFE_SLOTS);
	if (!ret)
		ret = fe_spawn(&n->fe);
	if (ret)
		return ret;
	snprintf(args, sizeof(args), "%s%s%s", port,
		 extra && *extra ? "," : "", extra ? extra : "");
	ret = fe_setup(&n->fe, args);
	if (ret)
		return ret > 0 ? -EPROTO : ret;
	memcpy(&n->cfg, n->fe.config, sizeof(n->cfg));
	n->acked = n->fe.features & ~drop;
	ret = fe_connect(&n->fe, n->acked);
	if (!ret)
		ret = nfe_wait_running(n->host_if);
	return ret;
}

int nfe_start(struct nfe *n, unsigned int pairs, const char *extra,
	      uint64_t drop)
{
	int ret;

	memset(n, 0, sizeof(*n));
	n->cap = n->inj = -1;
	strcpy(n->host_if, NFE_TAP);
	ret = nfe_netns_tap();
	return ret ? ret : nfe_start_on(n, pairs, "tap=" NFE_TAP, extra, drop);
}

int nfe_start_xdp(struct nfe *n, const char *extra, uint64_t drop)
{
	int ret;

	memset(n, 0, sizeof(*n));
	n->cap = n->inj = -1;
	strcpy(n->host_if, NFE_VETH_PEER);
	ret = nfe_netns_veth();
	return ret ? ret : nfe_start_on(n, 1, "xdp=" NFE_VETH, extra, drop);
}

void nfe_destroy(struct nfe *n)
{
	fe_destroy(&n->fe);
	if (n->cap >= 0)
		close(n->cap);
	if (n->inj >= 0)
		close(n->inj);
	n->cap = n->inj = -1;
}

/* ------------------------------------------------------- the guest --- */

static int nfe_put(struct nfe *n, unsigned int qi, const void *rq,
		   size_t len)
{
	int ret = fe_queue_req_raw(&n->fe, qi, rq, len);

	if (!ret)
		fe_push(&n->fe, qi);
	return ret;
}

int nfe_rx_post(struct nfe *n, unsigned int pair, uint64_t id, uint64_t gpa,
		uint32_t len)
{
	struct pvkit_net_rx_req rq = {
		.id = htole64(id), .gpa = htole64(gpa), .len = htole32(len),
	};

	return nfe_put(n, nfe_rxq(pair), &rq, sizeof(rq));
}

int nfe_rx_get(struct nfe *n, unsigned int pair,
	       struct pvkit_net_rx_rsp *rsp, int timeout_ms)
{
	return fe_get_rsp_raw(&n->fe, nfe_rxq(pair), rsp, sizeof(*rsp),
			      timeout_ms);
}

int nfe_rx_frame(struct nfe *n, unsigned int pair, uint8_t *buf, size_t max,
		 struct pvkit_net_hdr *hdr, unsigned int *nbufs,
		 int timeout_ms)
{
	struct pvkit_net_rx_rsp rsp;
	unsigned int i, nb = 0;
	size_t off = 0;
	int ret;

	for (i = 0; i == 0 || i < nb; i++) {
		ret = nfe_rx_get(n, pair, &rsp, timeout_ms);
		if (ret)
			return ret;
		if (rsp.status != PVKIT_NET_RX_S_OK || rsp.reserved)
			return -EBADMSG;
		if (!i) {
			nb = le16toh(rsp.num_buffers);
			if (!nb || nb > PVKIT_NET_MAX_RX_BUFS)
				return -EBADMSG;
			*hdr = rsp.hdr;
		} else if (rsp.num_buffers) {
			return -EBADMSG;
		}
		if (off + le32toh(rsp.len) > max)
			return -E2BIG;
		memcpy(buf + off, fe_gpa(&n->fe, NFE_RX_GPA +
				       (le64toh(rsp.id) % 256) * 65536,
				       le32toh(rsp.len)),
		       le32toh(rsp.len));
		off += le32toh(rsp.len);
	}
	if (nbufs)
		*nbufs = nb;
	return (int)off;
}

int nfe_tx_do(struct nfe *n, unsigned int pair, struct pvkit_net_tx_req *rq)
{
	struct pvkit_net_tx_rsp rsp;
	int ret;

	rq->id = htole64(n->next_id++);
	ret = nfe_put(n, nfe_txq(pair), rq, sizeof(*rq));
	if (!ret)
		ret = fe_get_rsp_raw(&n->fe, nfe_txq(pair), &rsp, sizeof(rsp),
				     FE_TIMEOUT_MS);
	if (ret)
		return ret;
	if (rsp.id != rq->id)
		return -EBADMSG;
	return rsp.status;
}

int nfe_tx_frame(struct nfe *n, unsigned int pair, const void *frame,
		 uint32_t len, unsigned int nsegs, bool indirect,
		 const struct pvkit_net_hdr *hdr)
{
	struct pvkit_net_tx_req rq;
	struct pvkit_net_seg *segs = rq.seg;
	uint32_t off = 0, each = len / nsegs;
	uint64_t gpa = NFE_TX_GPA;
	unsigned int i;

	memset(&rq, 0, sizeof(rq));
	if (hdr)
		rq.hdr = *hdr;
	rq.len = htole32(len);
	rq.nr_segs = htole16(nsegs);
	if (indirect || nsegs > PVKIT_NET_TX_INLINE_SEGS) {
		rq.flags = PVKIT_NET_TX_F_INDIRECT;
		rq.indirect_gpa = htole64(NFE_IND_GPA);
		segs = fe_gpa(&n->fe, NFE_IND_GPA, nsegs * sizeof(*segs));
	}
	for (i = 0; i < nsegs; i++) {
		uint32_t l = i == nsegs - 1 ? len - off : each;

		/* gaps between segments: each is its own iovec */
		memcpy(fe_gpa(&n->fe, gpa, l), (const uint8_t *)frame + off, l);
		segs[i].gpa = htole64(gpa);
		segs[i].len = htole32(l);
		segs[i].reserved = 0;
		off += l;
		gpa += l + 64;
	}
	return nfe_tx_do(n, pair, &rq);
}

int nfe_ctrl(struct nfe *n, uint8_t cmd, uint64_t arg0, uint64_t arg1)
{
	struct pvkit_net_ctrl_req rq;
	struct pvkit_net_ctrl_rsp rsp;
	unsigned int qi = nfe_ctrlq(n);
	int ret;

	memset(&rq, 0, sizeof(rq));
	rq.id = htole64(n->next_id++);
	rq.cmd = cmd;
	rq.arg0 = htole64(arg0);
	rq.arg1 = htole64(arg1);
	ret = nfe_put(n, qi, &rq, sizeof(rq));
	if (!ret)
		ret = fe_get_rsp_raw(&n->fe, qi, &rsp, sizeof(rsp),
				     FE_TIMEOUT_MS);
	if (ret)
		return ret;
	if (rsp.id != rq.id)
		return -EBADMSG;
	return rsp.status;
}

/* ----------------------------------------------------- the host end --- */

int nfe_inject_rx(struct nfe *n, uint8_t *a, uint8_t *b, uint32_t len,
		  const uint8_t *dst, uint32_t seq, struct pvkit_net_hdr *hdr,
		  unsigned int *nbufs)
{
	struct pvkit_net_hdr h;
	int ret;

	nfe_build(n, a, len, dst, seq);
	ret = nfe_inject(n, a, len, NULL);
	return ret ? ret : nfe_rx_frame(n, 0, b, 128 << 10, hdr ? hdr : &h,
					nbufs, FE_TIMEOUT_MS);
}

int nfe_cap(struct nfe *n, uint8_t *buf, size_t max,
	    struct virtio_net_hdr *vh, int timeout_ms)
{
	struct pollfd pfd = { .fd = n->cap, .events = POLLIN };
	struct iovec iov[2] = { { vh, sizeof(*vh) }, { buf, max } };
	ssize_t len;

	for (;;) {
		if (poll(&pfd, 1, timeout_ms) <= 0)
			return -ETIMEDOUT;
		len = readv(n->cap, iov, 2);
		if (len < 0 && errno == EAGAIN)
			continue;
		if (len < (ssize_t)sizeof(*vh))
			return -EIO;
		return (int)(len - sizeof(*vh));
	}
}

int nfe_inject(struct nfe *n, const void *frame, size_t len,
	       const struct virtio_net_hdr *vh)
{
	struct virtio_net_hdr zero = { 0 };
	struct iovec iov[2] = {
		{ (void *)(vh ? vh : &zero), sizeof(*vh) },
		{ (void *)frame, len },
	};
	ssize_t r = writev(n->inj, iov, 2);

	if (r < 0)
		return -errno;
	return r == (ssize_t)(len + sizeof(*vh)) ? 0 : -EIO;
}

static void nfe_tap_mac(struct nfe *n, uint8_t *mac)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	memset(mac, 0x02, 6);
	if (!nfe_ifreq(n->host_if, SIOCGIFHWADDR, &ifr))
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
}

void nfe_build(struct nfe *n, uint8_t *buf, size_t len, const uint8_t *dst,
	       uint32_t seq)
{
	uint64_t seed = seq * 2654435761ULL + len;
	uint16_t type = htons(NFE_ETHERTYPE);

	memcpy(buf, dst, 6);
	nfe_tap_mac(n, buf + 6);
	memcpy(buf + 12, &type, 2);
	fe_fill_random(buf + 14, len - 14, &seed);
	if (len >= 18)
		memcpy(buf + 14, &seq, 4);
}

void nfe_build_tcp4(struct nfe *n, uint8_t *buf, size_t len,
		    const uint8_t *dst, uint32_t seq)
{
	uint16_t type = htons(ETH_P_IP), tot = htons((uint16_t)(len - 14));
	uint8_t *ip = buf + 14, *tcp = buf + 34;
	uint64_t seed = seq + len;

	memcpy(buf, dst, 6);
	nfe_tap_mac(n, buf + 6);
	memcpy(buf + 12, &type, 2);
	memset(ip, 0, 40);
	ip[0] = 0x45;
	memcpy(ip + 2, &tot, 2);
	ip[8] = 64;
	ip[9] = IPPROTO_TCP;
	ip[12] = 10; ip[13] = 213; ip[14] = 0; ip[15] = 2;	/* 10.213.0.2 */
	ip[16] = 10; ip[17] = 213; ip[18] = 0; ip[19] = 1;	/* the TAP */
	tcp[0] = 0x30; tcp[1] = 0x39;	/* port 12345 */
	tcp[2] = 0x30; tcp[3] = 0x3a;
	memcpy(tcp + 4, &seq, 4);
	tcp[12] = 5 << 4;
	tcp[13] = 0x18;			/* PSH, ACK */
	tcp[14] = 0xff;
	fe_fill_random(buf + 54, len - 54, &seed);
}
