// SPDX-License-Identifier: GPL-2.0-only
/*
 * One thread per queue: rx and tx of each pair, and the control queue,
 * on the device's host port (struct netb_port_ops: a TAP or AF_XDP).
 *
 * tx: drain every published request, validate it (txreq.c) and hand it
 * to the port (TAP: writev() of the vnet header and the segments,
 * straight from guest RAM; AF_XDP: a copy into a UMEM frame); the
 * responses of the batch go out with one push.  A full or down port
 * drops the frame as a link would (TX_S_OK, counted).
 *
 * rx: a frame is read from the port only when the guest has a buffer
 * posted, into a bounce buffer, then copied into as many posted buffers
 * as it needs (consumed one by one, in order; ABI.md 10 "merged").  With
 * no buffer posted the port is left alone, so the kernel queues (and at
 * its limit drops) frames, and the thread sleeps until the guest kicks.
 * A pair not in use (CTRL_QUEUE_PAIRS) reads nothing: its TAP queue is
 * detached, the kernel steers no flow to it.
 *
 * Sleeping follows pvkit-host/bequeue.h: poll=US spins first; the final
 * check re-arms req_event only when the thread waits for requests (rx
 * waiting for the port does not want the guest's kicks).
 */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include <pvkit-host/log.h>

#include "netback.h"

#define NETB_RX_BUDGET		64	/* frames per iteration, then push */

static bool netb_log_ok(struct netb_queue *q)
{
	return log_ratelimit_now(&q->rl, NULL);
}

static void netb_drop(struct netb_queue *q)
{
	q->drops++;
}

/*
 * Sleep until a kick, the stop eventfd, our wake eventfd or (@port) the
 * port has a frame for our pair.
 */
static void netb_wait(struct netb_queue *q, bool port)
{
	struct pvbe_queue *bq = &q->bq;
	struct pollfd pfd[4] = {
		{ .fd = bq->kick_fd, .events = POLLIN },
		{ .fd = q->dev->be.stop_fd, .events = POLLIN },
		{ .fd = q->wake_fd, .events = POLLIN },
		{ .fd = port ? q->dev->port->rx_fd(q->dev, q->pair) : -1,
		  .events = POLLIN },
	};
	eventfd_t v;

	if (poll(pfd, 4, -1) < 0) {
		if (errno != EINTR)
			pvbe_queue_fail(bq, -errno, "poll: %s", strerror(errno));
		return;
	}
	if (pfd[1].revents)
		bq->stopping = true;
	if (pfd[2].revents & POLLIN)
		eventfd_read(q->wake_fd, &v);
	if (pfd[0].revents & POLLIN)
		pvbe_queue_kicked(bq, true);
}

/* --------------------------------------------------------------- tx --- */

static void netb_tx_respond(struct netb_queue *q, uint64_t id, uint8_t st)
{
	struct pvkit_net_tx_rsp rsp = { .id = htole64(id), .status = st };

	pvbe_queue_answer(&q->bq, &rsp, sizeof(rsp), st != PVKIT_NET_TX_S_OK);
}

static void netb_tx_req(struct pvbe_queue *bq, const void *req)
{
	struct netb_queue *q = netb_queue(bq);
	const struct pvkit_net_tx_req *rq = req;
	uint64_t id = le64toh(rq->id);
	uint8_t st;
	int ret;

	st = netb_tx_parse(&q->lim, &q->dev->be.gm, rq, q->segbuf, &q->tx);
	if (st != PVKIT_NET_TX_S_OK) {
		netb_tx_respond(q, id, st);
		return;
	}
	ret = q->dev->port->write(q->dev, q->pair, &q->tx);
	if (!ret) {
		pvbe_stat_add(bq, bytes, q->tx.len);
	} else if (ret == -EINVAL) {
		/* the port refused the offload header or size of this frame */
		netb_drop(q);
		st = PVKIT_NET_TX_S_INVAL;
	} else {
		/* full queue (EAGAIN), port down (EIO): lost like on a wire */
		netb_drop(q);
		if (ret != -EAGAIN && ret != -EIO && ret != -ENOBUFS &&
		    ret != -ENETDOWN && netb_log_ok(q))
			log_warn("queue %u: %s write: %s", bq->index,
				 q->dev->port->name, strerror(-ret));
	}
	netb_tx_respond(q, id, st);
}

static void netb_ctrl_req(struct pvbe_queue *bq, const void *req);

/* The tx and control loop: requests are done when they are consumed. */
static void *netb_sync_thread(void *arg)
{
	struct netb_queue *q = arg;
	struct pvbe_queue *bq = &q->bq;
	pvbe_req_fn fn = q->type == NETB_Q_TX ? netb_tx_req : netb_ctrl_req;
	union {
		struct pvkit_net_tx_req tx;
		struct pvkit_net_ctrl_req ctrl;
	} rq;
	bool progress;

	pvbe_poll_busy(bq);
	for (;;) {
		progress = !bq->stopping &&
			   pvbe_queue_drain(bq, &rq, bq->ring.req_size,
					    bq->ring.slots, fn) > 0;
		if (progress && q->type == NETB_Q_TX &&
		    q->dev->port->tx_flush)
			q->dev->port->tx_flush(q->dev, q->pair);
		pvbe_queue_push(bq);
		if (bq->stopping)
			break;
		if (progress) {
			pvbe_poll_busy(bq);
			continue;
		}
		if (pvbe_poll_spin(bq))
			continue;
		if (!pvbe_queue_may_sleep(bq))
			continue;
		netb_wait(q, false);
		pvbe_poll_busy(bq);
	}
	pvbe_queue_push(bq);
	pvbe_queue_exited(bq);
	return NULL;
}

/* --------------------------------------------------------------- rx --- */

static void netb_rx_respond(struct netb_queue *q, uint64_t id,
			    const struct pvkit_net_hdr *h, uint32_t len,
			    uint16_t num_buffers, uint8_t st)
{
	struct pvkit_net_rx_rsp rsp;

	memset(&rsp, 0, sizeof(rsp));
	rsp.id = htole64(id);
	if (h)
		rsp.hdr = *h;
	rsp.len = htole32(len);
	rsp.num_buffers = htole16(num_buffers);
	rsp.status = st;
	pvbe_queue_answer(&q->bq, &rsp, sizeof(rsp), st != PVKIT_NET_RX_S_OK);
}

/*
 * pvbe_queue_drain() callback: one posted buffer.  A malformed one is
 * answered at once, outside any frame: the frame being filled is answered
 * in one piece later, its buffers' responses consecutive.
 */
static void netb_rx_req(struct pvbe_queue *bq, const void *req)
{
	struct netb_queue *q = netb_queue(bq);
	const struct pvkit_net_rx_req *rq = req;
	uint32_t len = le32toh(rq->len);
	uint8_t *p = NULL;

	if (!rq->reserved && len >= PVKIT_NET_MIN_RX_BUF &&
	    len <= PVKIT_NET_MAX_RX_BUF)
		p = gmem_translate(&q->dev->be.gm, le64toh(rq->gpa), len);
	if (!p) {
		netb_rx_respond(q, le64toh(rq->id), NULL, 0, 0,
				PVKIT_NET_RX_S_INVAL);
		return;
	}
	q->bufs[q->nr_bufs].id = le64toh(rq->id);
	q->bufs[q->nr_bufs].p = p;
	q->bufs[q->nr_bufs].len = len;
	q->nr_bufs++;
}

/* Bytes the held buffers take. */
static uint64_t netb_rx_room(const struct netb_queue *q)
{
	uint64_t room = 0;
	unsigned int i;

	for (i = 0; i < q->nr_bufs; i++)
		room += q->bufs[i].len;
	return room;
}

/* Copy the pending frame into the first buffers and answer them. */
static void netb_rx_deliver(struct netb_queue *q, const struct pvkit_net_hdr *h)
{
	uint32_t left = q->pend_len, off = 0, n;
	unsigned int i, used = 0;
	uint64_t room = 0;

	while (room < left)
		room += q->bufs[used++].len;
	for (i = 0; i < used; i++) {
		n = left < q->bufs[i].len ? left : q->bufs[i].len;
		memcpy(q->bufs[i].p, q->bounce + off, n);
		netb_rx_respond(q, q->bufs[i].id, i ? NULL : h, n,
				i ? 0 : (uint16_t)used, PVKIT_NET_RX_S_OK);
		off += n;
		left -= n;
	}
	memmove(q->bufs, q->bufs + used, (q->nr_bufs - used) * sizeof(q->bufs[0]));
	q->nr_bufs -= used;
	pvbe_stat_add(&q->bq, bytes, q->pend_len);
	q->pend_len = 0;
}

/* Read one frame from the port into the bounce buffer: 1, 0 (none), -errno. */
static int netb_rx_read(struct netb_queue *q)
{
	uint32_t len = 0;
	int ret;

	ret = q->dev->port->read(q->dev, q->pair, &q->pend_vh, q->bounce,
				 NETB_RX_BOUNCE, &len);
	if (ret <= 0)
		return ret;
	if (len < PVKIT_NET_ETH_LEN || len > PVKIT_NET_MAX_FRAME) {
		netb_drop(q);
		return 1;
	}
	q->pend_len = len;
	return 1;
}

enum netb_rx_wait { NETB_RX_BUSY, NETB_RX_WANT_REQS, NETB_RX_WANT_PORT,
		    NETB_RX_IDLE };

/* Move up to a budget of frames; says what the thread waits for next. */
static enum netb_rx_wait netb_rx_work(struct netb_queue *q, bool *progress)
{
	struct pvbe_queue *bq = &q->bq;
	struct pvkit_net_rx_req rq;
	struct pvkit_net_hdr h;
	unsigned int frames;
	int ret;

	for (frames = 0; frames < NETB_RX_BUDGET; frames++) {
		if (!q->pend_len) {
			if (q->pair >= __atomic_load_n(&q->dev->pairs,
						       __ATOMIC_ACQUIRE))
				return NETB_RX_IDLE;
			if (!q->nr_bufs &&
			    pvbe_queue_drain(bq, &rq, sizeof(rq), 1,
					     netb_rx_req) <= 0)
				return NETB_RX_WANT_REQS;
			if (!q->nr_bufs) {
				*progress = true;	/* a malformed one */
				continue;
			}
			ret = netb_rx_read(q);
			if (ret < 0) {
				if (netb_log_ok(q))
					log_warn("queue %u: %s read: %s",
						 bq->index,
						 q->dev->port->name,
						 strerror(-ret));
				return NETB_RX_WANT_PORT;
			}
			if (!ret)
				return NETB_RX_WANT_PORT;
			*progress = true;
			if (!q->pend_len)
				continue;
		}
		/* take buffers until the frame fits */
		while (netb_rx_room(q) < q->pend_len &&
		       q->nr_bufs < PVKIT_NET_MAX_RX_BUFS) {
			ret = pvbe_queue_drain(bq, &rq, sizeof(rq), 1,
					       netb_rx_req);
			if (ret <= 0)
				return NETB_RX_WANT_REQS;
			*progress = true;
		}
		if (netb_rx_room(q) < q->pend_len ||
		    netb_rx_hdr(&q->pend_vh, q->pend_len,
				__atomic_load_n(&q->dev->rx_offloads,
						__ATOMIC_ACQUIRE), &h)) {
			/* too big for 64 buffers, or not for this guest */
			netb_drop(q);
			q->pend_len = 0;
			continue;
		}
		netb_rx_deliver(q, &h);
	}
	return NETB_RX_BUSY;
}

static void *netb_rx_thread(void *arg)
{
	struct netb_queue *q = arg;
	struct pvbe_queue *bq = &q->bq;
	enum netb_rx_wait w;
	bool progress;

	pvbe_poll_busy(bq);
	for (;;) {
		progress = false;
		w = bq->stopping ? NETB_RX_IDLE : netb_rx_work(q, &progress);
		pvbe_queue_push(bq);
		/* held buffers were never filled: the guest reposts them */
		if (bq->stopping)
			break;
		if (progress || w == NETB_RX_BUSY) {
			pvbe_poll_busy(bq);
			continue;
		}
		if (pvbe_poll_spin(bq))
			continue;
		/* only a thread waiting for buffers asks for kicks */
		if (w == NETB_RX_WANT_REQS && !pvbe_queue_may_sleep(bq))
			continue;
		netb_wait(q, w == NETB_RX_WANT_PORT);
		pvbe_poll_busy(bq);
	}
	pvbe_queue_push(bq);
	pvbe_queue_exited(bq);
	return NULL;
}

/* ---------------------------------------------------------- control --- */

static void netb_ctrl_req(struct pvbe_queue *bq, const void *req)
{
	struct netb_queue *q = netb_queue(bq);
	const struct pvkit_net_ctrl_req *rq = req;
	struct pvkit_net_ctrl_rsp rsp;

	memset(&rsp, 0, sizeof(rsp));
	rsp.id = rq->id;
	rsp.status = netb_ctrl(q->dev, rq);
	if (rq->cmd == PVKIT_NET_CTRL_QUEUE_PAIRS &&
	    rsp.status == PVKIT_NET_CTRL_S_OK) {
		struct netb_dev *dev = q->dev;
		unsigned int i;

		/* rx threads of the pairs switched look at their state */
		for (i = 0; i < dev->max_pairs; i++)
			eventfd_write(netb_queue(pvbe_queue(&dev->be,
							    2 * i))->wake_fd, 1);
	}
	pvbe_queue_answer(bq, &rsp, sizeof(rsp),
			  rsp.status != PVKIT_NET_CTRL_S_OK);
}

/* ------------------------------------------------------ start, join --- */

/* A (re)connect restores the defaults: all pairs, no filter, offloads. */
static int netb_connect_defaults(struct netb_dev *dev)
{
	int ret;

	dev->rx_mode = PVKIT_NET_RX_M_PROMISC;
	dev->nr_macs = 0;
	ret = dev->port->set_filter(dev);
	if (!ret)
		ret = netb_set_pairs(dev, dev->max_pairs);
	if (!ret)
		ret = netb_set_offloads(dev, dev->be.acked &
					    NETB_RX_OFFLOADS);
	return ret;
}

int netb_queue_start(struct pvbe *be, struct pvbe_queue *bq)
{
	struct netb_queue *q = netb_queue(bq);
	struct netb_dev *dev = netb_dev(be);
	void *(*fn)(void *) = netb_sync_thread;
	int ret;

	/* queues start in order, before any of their threads runs */
	if (bq->index == 0) {
		ret = netb_connect_defaults(dev);
		if (ret)
			return ret;
	}
	q->dev = dev;
	q->type = netb_qtype(be, bq->index);
	q->pair = bq->index / 2;
	q->rl.interval_ms = 1000;
	q->rl.burst = 10;
	q->pend_len = 0;
	q->nr_bufs = 0;
	q->drops = 0;
	bq->poll_ns = (uint64_t)dev->opts.poll_us * 1000;
	q->lim.acked = be->acked;
	q->lim.max_mtu = be->acked & PVKIT_NET_F_MTU ? dev->max_mtu :
			 NETB_DEFAULT_MTU;
	q->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->wake_fd < 0)
		return -errno;
	if (q->type == NETB_Q_RX) {
		q->bounce = malloc(NETB_RX_BOUNCE);
		if (!q->bounce) {
			ret = -ENOMEM;
			goto err;
		}
		fn = netb_rx_thread;
	}
	ret = -pthread_create(&q->thread, NULL, fn, q);
	if (ret)
		goto err;
	return 0;
err:
	free(q->bounce);
	q->bounce = NULL;
	close(q->wake_fd);
	q->wake_fd = -1;
	return ret;
}

void netb_queue_join(struct pvbe *be, struct pvbe_queue *bq)
{
	struct netb_queue *q = netb_queue(bq);

	(void)be;
	pthread_join(q->thread, NULL);
	if (q->drops)
		log_info("queue %u: %llu frame(s) dropped", bq->index,
			 (unsigned long long)q->drops);
	free(q->bounce);
	q->bounce = NULL;
	close(q->wake_fd);
	q->wake_fd = -1;
}
