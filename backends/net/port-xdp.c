// SPDX-License-Identifier: GPL-2.0-only
/*
 * The AF_XDP port: one AF_XDP socket bound to queue Q of a host
 * interface, fed by a small XDP program (xsk.bpf.c, embedded in the
 * binary) that redirects every frame of that queue into an XSKMAP; the
 * frames of other queues, and all of them while no socket is in the map
 * (a back-end being restarted), go to the host stack (XDP_PASS).
 *
 * Zero-copy is asked for first; a device that cannot (veth, most NICs
 * without AF_XDP support) gets copy mode.  The program is attached in
 * native mode, or in generic (SKB) mode where the driver has no XDP
 * (attach=native or attach=generic: that mode only).  A
 * program of ours left attached by a killed back-end is replaced; a
 * foreign one, or ours of a live back-end (its pid is in the program's
 * .rodata), is refused: one back-end per interface.
 *
 * The UMEM is NETB_XSK_RX_FRAMES + NETB_XSK_TX_FRAMES frames of 4 KiB:
 * the rx ones live in the fill ring, the kernel and the rx ring (the rx
 * thread owns fill and rx: a frame read goes straight back to the fill
 * ring, so the ring stays topped up); the tx ones on the tx thread's free
 * list, the tx ring and the completion ring (the tx thread reaps it).
 * Every ring is sized to hold all of its frames, so none can overflow.
 *
 * AF_XDP carries no offload metadata: no checksum or GSO feature is
 * offered, so the guest sends whole, checksummed frames and receives
 * them as they were on the wire.  The MAC filter (CTRL_RX_MODE,
 * CTRL_MAC_TABLE) is applied here, in software: a frame for another
 * unicast address is dropped (counted) unless the guest is promiscuous.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/if_link.h>
#include <linux/if_xdp.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <pvkit-host/log.h>

#include "netback.h"

#ifndef AF_XDP
#define AF_XDP			44
#endif
#ifndef SOL_XDP
#define SOL_XDP			283
#endif

#define XSK_PROG_NAME		"pvkit_xsk"
#define XSK_MAP_NAME		"pvkit_xsks"
#define XSK_KICK_TRIES		64	/* sendto()s per flush, each <= 32 frames */
#define XSK_WAIT_TRIES		200	/* kick + reap rounds for a free tx frame */
#define XSK_BUSY_TRIES		30	/* binds 100 ms apart while EBUSY */

/* ------------------------------------------------------------ rings --- */

/* Producer side (fill, tx): free entries. */
static uint32_t xring_room(const struct netb_xring *r)
{
	/* acquire: the kernel is done with the entries it consumed */
	return r->size - (r->cached_prod -
			  __atomic_load_n(r->consumer, __ATOMIC_ACQUIRE));
}

static void xring_submit(struct netb_xring *r)
{
	/* release: the entries are written before the kernel sees them */
	__atomic_store_n(r->producer, r->cached_prod, __ATOMIC_RELEASE);
}

/* Consumer side (rx, completion): entries waiting, at most the ring. */
static uint32_t xring_avail(const struct netb_xring *r)
{
	/* acquire: the entries (and rx frame data) are visible after it */
	uint32_t n = __atomic_load_n(r->producer, __ATOMIC_ACQUIRE) -
		     r->cached_cons;

	return n > r->size ? r->size : n;
}

static void xring_release(struct netb_xring *r)
{
	/* release: we are done reading the entries we give back */
	__atomic_store_n(r->consumer, r->cached_cons, __ATOMIC_RELEASE);
}

static bool xring_need_wakeup(const struct netb_xring *r)
{
	/* the producer index is published before the flag is looked at */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(r->flags, __ATOMIC_RELAXED) &
	       XDP_RING_NEED_WAKEUP;
}

static uint64_t *xring_addr(const struct netb_xring *r, uint32_t i)
{
	return (uint64_t *)r->ring + (i & (r->size - 1));
}

static struct xdp_desc *xring_desc(const struct netb_xring *r, uint32_t i)
{
	return (struct xdp_desc *)r->ring + (i & (r->size - 1));
}

static int xring_map(struct netb_xsk *x, struct netb_xring *r,
		     const struct xdp_ring_offset *off, uint32_t size,
		     size_t esize, off_t pgoff)
{
	uint8_t *m;

	r->map_len = off->desc + size * esize;
	m = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_POPULATE, x->fd, pgoff);
	if (m == MAP_FAILED)
		return -errno;
	r->map = m;
	r->producer = (uint32_t *)(m + off->producer);
	r->consumer = (uint32_t *)(m + off->consumer);
	r->flags = (uint32_t *)(m + off->flags);
	r->ring = m + off->desc;
	r->size = size;
	r->cached_prod = __atomic_load_n(r->producer, __ATOMIC_ACQUIRE);
	r->cached_cons = __atomic_load_n(r->consumer, __ATOMIC_ACQUIRE);
	return 0;
}

static void xring_unmap(struct netb_xring *r)
{
	if (r->map)
		munmap(r->map, r->map_len);
	memset(r, 0, sizeof(*r));
}

/* ----------------------------------------------------------- socket --- */

static void xsk_socket_close(struct netb_xsk *x)
{
	xring_unmap(&x->rx);
	xring_unmap(&x->tx);
	xring_unmap(&x->fill);
	xring_unmap(&x->comp);
	if (x->fd >= 0)
		close(x->fd);
	x->fd = -1;
	if (x->umem)
		munmap(x->umem, x->umem_len);
	x->umem = NULL;
}

static int xsk_setsockopt_int(struct netb_xsk *x, int opt, unsigned int v)
{
	int n = (int)v;

	return setsockopt(x->fd, SOL_XDP, opt, &n, sizeof(n)) ? -errno : 0;
}

/*
 * Socket, UMEM, the four rings and the bind with @bind_flags
 * (XDP_ZEROCOPY or XDP_COPY); the fill ring is filled with every rx
 * frame.  On failure a reason is in @err and the caller closes.
 */
static int xsk_socket_open(struct netb_dev *dev, uint16_t bind_flags,
			   char *err, size_t errlen)
{
	struct netb_xsk *x = &dev->xsk;
	struct xdp_umem_reg mr;
	struct xdp_mmap_offsets off;
	struct sockaddr_xdp sxdp;
	socklen_t olen = sizeof(off);
	const char *what;
	unsigned int i;
	int ret;

	x->fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (x->fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "AF_XDP socket: %s", strerror(errno));
		return ret;
	}
	x->umem_len = (size_t)(NETB_XSK_RX_FRAMES + NETB_XSK_TX_FRAMES) *
		      NETB_XSK_FRAME;
	x->umem = mmap(NULL, x->umem_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (x->umem == MAP_FAILED) {
		x->umem = NULL;
		ret = -errno;
		snprintf(err, errlen, "UMEM: %s", strerror(errno));
		return ret;
	}
	memset(&mr, 0, sizeof(mr));
	mr.addr = (uintptr_t)x->umem;
	mr.len = x->umem_len;
	mr.chunk_size = NETB_XSK_FRAME;
	what = "XDP_UMEM_REG";
	ret = setsockopt(x->fd, SOL_XDP, XDP_UMEM_REG, &mr, sizeof(mr)) ?
	      -errno : 0;
	if (!ret) {
		what = "ring sizes";
		ret = xsk_setsockopt_int(x, XDP_UMEM_FILL_RING,
					 NETB_XSK_RX_FRAMES);
	}
	if (!ret)
		ret = xsk_setsockopt_int(x, XDP_UMEM_COMPLETION_RING,
					 NETB_XSK_TX_FRAMES);
	if (!ret)
		ret = xsk_setsockopt_int(x, XDP_RX_RING, NETB_XSK_RX_FRAMES);
	if (!ret)
		ret = xsk_setsockopt_int(x, XDP_TX_RING, NETB_XSK_TX_FRAMES);
	if (!ret) {
		what = "XDP_MMAP_OFFSETS";
		ret = getsockopt(x->fd, SOL_XDP, XDP_MMAP_OFFSETS, &off,
				 &olen) ? -errno : 0;
	}
	if (!ret) {
		what = "ring mmap";
		ret = xring_map(x, &x->rx, &off.rx, NETB_XSK_RX_FRAMES,
				sizeof(struct xdp_desc), XDP_PGOFF_RX_RING);
	}
	if (!ret)
		ret = xring_map(x, &x->tx, &off.tx, NETB_XSK_TX_FRAMES,
				sizeof(struct xdp_desc), XDP_PGOFF_TX_RING);
	if (!ret)
		ret = xring_map(x, &x->fill, &off.fr, NETB_XSK_RX_FRAMES,
				sizeof(uint64_t), XDP_UMEM_PGOFF_FILL_RING);
	if (!ret)
		ret = xring_map(x, &x->comp, &off.cr, NETB_XSK_TX_FRAMES,
				sizeof(uint64_t),
				XDP_UMEM_PGOFF_COMPLETION_RING);
	if (ret) {
		snprintf(err, errlen, "AF_XDP %s: %s", what, strerror(-ret));
		return ret;
	}

	/* every rx frame to the kernel, every tx frame on our free list */
	for (i = 0; i < NETB_XSK_RX_FRAMES; i++)
		*xring_addr(&x->fill, x->fill.cached_prod++) =
			(uint64_t)i * NETB_XSK_FRAME;
	xring_submit(&x->fill);
	for (i = 0; i < NETB_XSK_TX_FRAMES; i++)
		x->tx_free[i] = (uint64_t)(NETB_XSK_RX_FRAMES + i) *
				NETB_XSK_FRAME;
	x->nr_tx_free = NETB_XSK_TX_FRAMES;

	memset(&sxdp, 0, sizeof(sxdp));
	sxdp.sxdp_family = AF_XDP;
	sxdp.sxdp_ifindex = (uint32_t)x->ifindex;
	sxdp.sxdp_queue_id = dev->opts.queue;
	sxdp.sxdp_flags = bind_flags | XDP_USE_NEED_WAKEUP;
	if (bind(x->fd, (struct sockaddr *)&sxdp, sizeof(sxdp))) {
		ret = -errno;
		snprintf(err, errlen, "AF_XDP bind to %s queue %u (%s): %s",
			 dev->opts.ifname, dev->opts.queue,
			 bind_flags == XDP_ZEROCOPY ? "zero-copy" : "copy",
			 strerror(errno));
		return ret;
	}
	x->zerocopy = bind_flags == XDP_ZEROCOPY;
	return 0;
}

/* ---------------------------------------------------------- program --- */

static int xsk_libbpf_print(enum libbpf_print_level level, const char *fmt,
			    va_list ap)
{
	char buf[512];
	size_t n;

	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	log_warn("libbpf: %s", buf);
	return 0;
}

/* The pvkit_owner of program @fd (its .rodata), 0 if it cannot be read. */
static uint32_t xsk_prog_owner(int fd)
{
	struct bpf_prog_info info;
	struct bpf_map_info mi;
	uint32_t ids[8], len, i, key = 0, owner = 0;
	uint8_t val[64];
	int mfd;

	memset(&info, 0, sizeof(info));
	info.nr_map_ids = 8;
	info.map_ids = (uintptr_t)ids;
	len = sizeof(info);
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	for (i = 0; i < info.nr_map_ids && i < 8 && !owner; i++) {
		mfd = bpf_map_get_fd_by_id(ids[i]);
		if (mfd < 0)
			continue;
		memset(&mi, 0, sizeof(mi));
		len = sizeof(mi);
		if (!bpf_obj_get_info_by_fd(mfd, &mi, &len) &&
		    mi.type == BPF_MAP_TYPE_ARRAY && strstr(mi.name, ".rodata") &&
		    mi.value_size >= 4 && mi.value_size <= sizeof(val) &&
		    !bpf_map_lookup_elem(mfd, &key, val))
			memcpy(&owner, val, 4);
		close(mfd);
	}
	return owner;
}

/* Is @pid a live pvkit-netback other than us? */
static bool xsk_owner_alive(uint32_t pid)
{
	char path[64], comm[32] = "";
	ssize_t n;
	int fd;

	if (!pid || pid == (uint32_t)getpid())
		return false;
	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, comm, sizeof(comm) - 1);
	close(fd);
	return n > 0 && !strncmp(comm, "pvkit-netback", 13);
}

/*
 * The mode to attach in: that of a program of ours already attached by a
 * back-end that is gone (killed: replaced), 0 when none is attached,
 * -EBUSY for someone else's program or a live back-end's.
 */
static int xsk_attached_mode(struct netb_dev *dev, char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, qo);
	struct bpf_prog_info info;
	uint32_t len = sizeof(info), owner = 0;
	int fd, ret;

	if (bpf_xdp_query(dev->xsk.ifindex, 0, &qo) || !qo.prog_id)
		return 0;
	fd = bpf_prog_get_fd_by_id(qo.prog_id);
	memset(&info, 0, sizeof(info));
	ret = fd < 0 ? -errno : bpf_obj_get_info_by_fd(fd, &info, &len);
	if (!ret && !strcmp(info.name, XSK_PROG_NAME))
		owner = xsk_prog_owner(fd);
	if (fd >= 0)
		close(fd);
	if (ret || strcmp(info.name, XSK_PROG_NAME) ||
	    (qo.attach_mode != XDP_ATTACHED_DRV &&
	     qo.attach_mode != XDP_ATTACHED_SKB)) {
		snprintf(err, errlen, "%s has another XDP program attached (id %u): detach it first",
			 dev->opts.ifname, qo.prog_id);
		return -EBUSY;
	}
	if (xsk_owner_alive(owner)) {
		snprintf(err, errlen, "%s is served by pvkit-netback pid %u: one xdp= back-end per interface",
			 dev->opts.ifname, owner);
		return -EBUSY;
	}
	return qo.attach_mode == XDP_ATTACHED_DRV ? XDP_FLAGS_DRV_MODE :
	       XDP_FLAGS_SKB_MODE;
}

/* pvkit_owner = our pid, in the .rodata image before loading. */
static int xsk_set_owner(struct bpf_object *obj)
{
	uint32_t pid = (uint32_t)getpid();
	uint8_t img[64];
	struct bpf_map *m;
	const void *v;
	size_t sz = 0;

	bpf_object__for_each_map(m, obj) {
		if (!strstr(bpf_map__name(m), ".rodata"))
			continue;
		v = bpf_map__initial_value(m, &sz);
		if (!v || sz < sizeof(pid) || sz > sizeof(img))
			return -ENOENT;
		/* pvkit_owner is the only variable: at offset 0 */
		memcpy(img, v, sz);
		memcpy(img, &pid, sizeof(pid));
		return bpf_map__set_initial_value(m, img, sz);
	}
	return -ENOENT;
}

/* Load xsk.bpf.o, put our socket in its map, attach it. */
static int xsk_prog_open(struct netb_dev *dev, char *err, size_t errlen)
{
	struct netb_xsk *x = &dev->xsk;
	LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "pvkit_xsk");
	struct bpf_program *prog;
	struct bpf_map *map;
	uint32_t key = dev->opts.queue, val = (uint32_t)x->fd;
	int ret, mode, want;

	libbpf_set_print(xsk_libbpf_print);
	x->obj = bpf_object__open_mem(netb_xsk_bpf,
				      (size_t)(netb_xsk_bpf_end - netb_xsk_bpf),
				      &oo);
	if (!x->obj) {
		ret = -errno;
		snprintf(err, errlen, "XDP program: open: %s", strerror(errno));
		return ret;
	}
	map = bpf_object__find_map_by_name(x->obj, XSK_MAP_NAME);
	prog = bpf_object__find_program_by_name(x->obj, XSK_PROG_NAME);
	if (!map || !prog) {
		snprintf(err, errlen, "XDP program: no %s", map ? "program" : "map");
		return -ENOENT;
	}
	ret = bpf_map__set_max_entries(map, dev->opts.queue + 1);
	if (!ret)
		ret = xsk_set_owner(x->obj);
	if (!ret)
		ret = bpf_object__load(x->obj);
	if (ret) {
		snprintf(err, errlen, "XDP program: load: %s", strerror(-ret));
		return ret;
	}
	x->prog_fd = bpf_program__fd(prog);
	if (bpf_map_update_elem(bpf_map__fd(map), &key, &val, BPF_ANY)) {
		ret = -errno;
		snprintf(err, errlen, "XSKMAP update: %s", strerror(errno));
		return ret;
	}

	mode = x->old_mode;
	want = dev->opts.attach == NETB_XDP_NATIVE ? XDP_FLAGS_DRV_MODE :
	       XDP_FLAGS_SKB_MODE;
	if (mode && dev->opts.attach && mode != want) {
		/* ours, in the other mode than asked for: replace it */
		bpf_xdp_detach(x->ifindex, (uint32_t)mode, NULL);
		mode = 0;
	}
	if (mode) {
		ret = bpf_xdp_attach(x->ifindex, x->prog_fd, (uint32_t)mode,
				     NULL);
	} else {
		/* native where the driver has it, else generic */
		ret = -EOPNOTSUPP;
		if (dev->opts.attach != NETB_XDP_GENERIC) {
			mode = XDP_FLAGS_DRV_MODE;
			ret = bpf_xdp_attach(x->ifindex, x->prog_fd,
					     XDP_FLAGS_UPDATE_IF_NOEXIST | mode,
					     NULL);
		}
		if (ret && ret != -EEXIST && ret != -EBUSY &&
		    dev->opts.attach != NETB_XDP_NATIVE) {
			mode = XDP_FLAGS_SKB_MODE;
			ret = bpf_xdp_attach(x->ifindex, x->prog_fd,
					     XDP_FLAGS_UPDATE_IF_NOEXIST | mode,
					     NULL);
		}
	}
	if (ret) {
		snprintf(err, errlen, "XDP attach to %s: %s", dev->opts.ifname,
			 strerror(-ret));
		return ret;
	}
	x->attach_flags = (uint32_t)mode;
	x->attached = true;
	return 0;
}

/* ------------------------------------------------------------- port --- */

static void xdp_close(struct netb_dev *dev)
{
	struct netb_xsk *x = &dev->xsk;
	LIBBPF_OPTS(bpf_xdp_attach_opts, ao, .old_prog_fd = x->prog_fd);

	/* only ours: if someone replaced it meanwhile, it stays */
	if (x->attached &&
	    bpf_xdp_detach(x->ifindex, x->attach_flags | XDP_FLAGS_REPLACE,
			   &ao))
		log_warn("%s: XDP program not detached", dev->opts.ifname);
	x->attached = false;
	if (x->obj)
		bpf_object__close(x->obj);
	x->obj = NULL;
	x->prog_fd = -1;
	xsk_socket_close(x);
}

static int xdp_open(struct netb_dev *dev, char *err, size_t errlen)
{
	struct netb_xsk *x = &dev->xsk;
	unsigned int tries;
	int ret, mtu;

	if (dev->max_pairs != 1) {
		snprintf(err, errlen, "xdp= serves one queue pair, not %u",
			 dev->max_pairs);
		return -EINVAL;
	}
	x->ifindex = (int)if_nametoindex(dev->opts.ifname);
	if (!x->ifindex) {
		ret = -errno;
		snprintf(err, errlen, "xdp=%s: %s", dev->opts.ifname,
			 strerror(errno));
		return ret;
	}
	pthread_mutex_init(&x->flt_lock, NULL);
	x->flt_mode = PVKIT_NET_RX_M_PROMISC;
	/* is the interface free (or left by a dead back-end)? */
	ret = xsk_attached_mode(dev, err, errlen);
	if (ret < 0)
		return ret;
	x->old_mode = ret;

	/*
	 * EBUSY: the queue still has the socket of a back-end that was
	 * killed; the kernel lets it go a little after (a deferred work).
	 */
	for (tries = 0; tries < XSK_BUSY_TRIES; tries++) {
		ret = xsk_socket_open(dev, XDP_ZEROCOPY, err, errlen);
		if (ret) {
			xsk_socket_close(x);
			ret = xsk_socket_open(dev, XDP_COPY, err, errlen);
		}
		if (ret != -EBUSY)
			break;
		xsk_socket_close(x);
		usleep(100000);
	}
	if (!ret)
		ret = xsk_prog_open(dev, err, errlen);
	if (ret)
		return ret;

	dev->max_mtu = NETB_XSK_MAX_MTU;
	mtu = netb_if_mtu(dev->opts.ifname, 0);
	dev->mtu = mtu >= (int)PVKIT_NET_MIN_MTU && mtu <= (int)dev->max_mtu ?
		   (unsigned int)mtu : NETB_DEFAULT_MTU;
	log_info("%s: AF_XDP on queue %u, %s, XDP program in %s mode",
		 dev->opts.ifname, dev->opts.queue,
		 x->zerocopy ? "zero-copy" : "copy mode",
		 x->attach_flags == XDP_FLAGS_DRV_MODE ? "native" : "generic");
	return 0;
}

/* No offload metadata: the guest gets no checksum or GSO feature. */
static uint64_t xdp_features(const struct netb_dev *dev)
{
	(void)dev;
	return 0;
}

/* The software MAC filter: may the guest receive a frame to @dst? */
static bool xsk_rx_wanted(struct netb_dev *dev, const uint8_t *dst)
{
	struct netb_xsk *x = &dev->xsk;
	unsigned int i;
	bool ok;

	pthread_mutex_lock(&x->flt_lock);
	ok = (x->flt_mode & PVKIT_NET_RX_M_PROMISC) ||
	     !memcmp(dst, dev->mac, 6) ||
	     ((dst[0] & 1) && (x->flt_mode & PVKIT_NET_RX_M_ALLMULTI)) ||
	     !memcmp(dst, "\xff\xff\xff\xff\xff\xff", 6);
	for (i = 0; !ok && i < x->flt_nr; i++)
		ok = !memcmp(dst, x->flt_macs[i], 6);
	pthread_mutex_unlock(&x->flt_lock);
	return ok;
}

static int xdp_read(struct netb_dev *dev, unsigned int pair,
		    struct virtio_net_hdr *vh, uint8_t *buf, uint32_t max,
		    uint32_t *len)
{
	struct netb_xsk *x = &dev->xsk;
	const struct xdp_desc *d;
	uint64_t addr, base;
	uint32_t n;

	(void)pair;
	if (!xring_avail(&x->rx)) {
		/* the kernel ran out of fill entries once: tell it */
		if (xring_need_wakeup(&x->fill))
			recvfrom(x->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
		return 0;
	}
	d = xring_desc(&x->rx, x->rx.cached_cons);
	addr = d->addr;
	n = d->len;
	x->rx.cached_cons++;

	memset(vh, 0, sizeof(*vh));
	*len = 0;
	base = addr - addr % NETB_XSK_FRAME;
	/* the kernel's descriptor, checked all the same: no over-read */
	if (base >= (uint64_t)NETB_XSK_RX_FRAMES * NETB_XSK_FRAME) {
		xring_release(&x->rx);
		return 1;	/* not one of our rx frames: dropped */
	}
	if (addr % NETB_XSK_FRAME + n <= NETB_XSK_FRAME && n <= max &&
	    n >= PVKIT_NET_ETH_LEN && xsk_rx_wanted(dev, x->umem + addr)) {
		memcpy(buf, x->umem + addr, n);
		*len = n;
	}
	/* the frame goes straight back to the kernel */
	if (xring_room(&x->fill)) {
		*xring_addr(&x->fill, x->fill.cached_prod++) = base;
		xring_submit(&x->fill);
	}
	xring_release(&x->rx);
	return 1;
}

/* Completed tx frames back on the free list. */
static void xsk_reap(struct netb_xsk *x)
{
	uint32_t i, n = xring_avail(&x->comp);
	uint64_t a;

	for (i = 0; i < n; i++) {
		a = *xring_addr(&x->comp, x->comp.cached_cons + i);
		a -= a % NETB_XSK_FRAME;
		if (a >= (uint64_t)NETB_XSK_RX_FRAMES * NETB_XSK_FRAME &&
		    a < x->umem_len && x->nr_tx_free < NETB_XSK_TX_FRAMES)
			x->tx_free[x->nr_tx_free++] = a;
	}
	x->comp.cached_cons += n;
	if (n)
		xring_release(&x->comp);
}

/* Have the kernel send what is on the tx ring (copy mode: <= 32 a call). */
static int xsk_kick(struct netb_xsk *x)
{
	if (sendto(x->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0)
		return 0;
	if (errno == EAGAIN || errno == EBUSY || errno == ENOBUFS ||
	    errno == EINTR)
		return 0;
	return -errno;
}

static int xdp_write(struct netb_dev *dev, unsigned int pair,
		     const struct netb_tx *tx)
{
	struct netb_xsk *x = &dev->xsk;
	struct xdp_desc *d;
	uint32_t off = 0;
	unsigned int i;
	uint64_t addr;
	int ret = 0;

	(void)pair;
	/* no offload was offered: a header is nothing we can carry */
	if (tx->len > NETB_XSK_FRAME || tx->vh.flags ||
	    tx->vh.gso_type != VIRTIO_NET_HDR_GSO_NONE)
		return -EINVAL;
	xsk_reap(x);
	for (i = 0; !x->nr_tx_free && i < XSK_WAIT_TRIES && !ret; i++) {
		ret = xsk_kick(x);
		sched_yield();
		xsk_reap(x);
	}
	if (!x->nr_tx_free || !xring_room(&x->tx))
		return ret ? ret : -EAGAIN;

	addr = x->tx_free[--x->nr_tx_free];
	for (i = 1; i <= tx->nr_iov; i++) {
		size_t l = tx->iov[i].iov_len;

		if (l > NETB_XSK_FRAME - off) {
			x->tx_free[x->nr_tx_free++] = addr;
			return -EINVAL;
		}
		memcpy(x->umem + addr + off, tx->iov[i].iov_base, l);
		off += (uint32_t)l;
	}
	d = xring_desc(&x->tx, x->tx.cached_prod++);
	d->addr = addr;
	d->len = off;
	d->options = 0;
	xring_submit(&x->tx);
	if (xring_need_wakeup(&x->tx))
		return xsk_kick(x);
	return 0;
}

/* After a batch: kick until the kernel took the whole tx ring. */
static void xdp_tx_flush(struct netb_dev *dev, unsigned int pair)
{
	struct netb_xsk *x = &dev->xsk;
	unsigned int i;

	(void)pair;
	for (i = 0; i < XSK_KICK_TRIES; i++) {
		if (__atomic_load_n(x->tx.consumer, __ATOMIC_ACQUIRE) ==
		    x->tx.cached_prod)
			break;
		if (xsk_kick(x))
			break;
	}
	xsk_reap(x);
}

static int xdp_rx_fd(struct netb_dev *dev, unsigned int pair)
{
	(void)pair;
	return dev->xsk.fd;
}

static int xdp_set_offloads(struct netb_dev *dev, uint64_t offloads)
{
	(void)dev;
	return offloads ? -EOPNOTSUPP : 0;
}

static int xdp_set_filter(struct netb_dev *dev)
{
	struct netb_xsk *x = &dev->xsk;
	unsigned int i;

	pthread_mutex_lock(&x->flt_lock);
	x->flt_mode = dev->rx_mode;
	x->flt_nr = dev->nr_macs;
	for (i = 0; i < dev->nr_macs; i++)
		memcpy(x->flt_macs[i], dev->macs[i], 6);
	pthread_mutex_unlock(&x->flt_lock);
	return 0;
}

static int xdp_set_pairs(struct netb_dev *dev, unsigned int pairs)
{
	(void)dev;
	return pairs == 1 ? 0 : -EINVAL;
}

const struct netb_port_ops netb_port_xdp = {
	.name = "xdp",
	.open = xdp_open,
	.close = xdp_close,
	.features = xdp_features,
	.read = xdp_read,
	.write = xdp_write,
	.tx_flush = xdp_tx_flush,
	.rx_fd = xdp_rx_fd,
	.set_offloads = xdp_set_offloads,
	.set_filter = xdp_set_filter,
	.set_pairs = xdp_set_pairs,
};
