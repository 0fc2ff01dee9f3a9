// SPDX-License-Identifier: GPL-2.0-only
/*
 * One thread and one io_uring per queue.
 *
 * The loop, one iteration:
 *   1. drain: consume every published request (at most a ring's worth),
 *      copy it, validate it, answer malformed ones at once and prepare
 *      one SQE for each valid one;
 *      (on a memory-backed image that refuses RWF_NOWAIT, reads and
 *      writes of at most BLKB_INLINE_MAX bytes are done right here with
 *      preadv2/pwritev2 instead: io_uring would punt each one to an
 *      io-wq worker; their results wait on q->done_head for step 3);
 *   2. one io_uring_submit() for the whole batch;
 *   3. reap every inline result and available CQE: finish requests (or prepare the rest of a
 *      short transfer), re-arm the kick watcher;
 *   4. publish the batch of responses with one pvkit_ring_push_rsps() and
 *      write the irq eventfd only if the front-end asked for it.
 * When an iteration found nothing to do:
 *   - poll=US: keep iterating (no syscalls) until US microseconds without
 *     work have passed; req_event is not touched meanwhile, so the event
 *     index suppresses the front-end's kicks while we poll;
 *   - then pvkit_ring_final_check_req() publishes req_event = req_cons
 *     behind a full barrier and looks at req_prod once more; only if it
 *     is still empty the thread blocks in io_uring_submit_and_wait(1).
 * The kick eventfd is watched from inside the same io_uring (a READ of the
 * eventfd, or a POLL_ADD if the fd is non-blocking), so one wait covers
 * both kicks and I/O completions.  The watcher is always armed before the
 * thread blocks: re-arming happens while reaping and is submitted by the
 * same io_uring_enter() that waits, and a READ armed after the eventfd was
 * written completes at once.  Together with the ring's barrier pairing
 * (the front-end either sees our req_event or we see its req_prod) no
 * wake-up is lost.  A third SQE polls the device's stop eventfd.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <pvkit-host/log.h>

#include "blkback.h"

#define BLKB_UD_KICK		1ULL	/* user_data of the kick watcher */
#define BLKB_UD_STOP		2ULL	/* user_data of the stop poll */
#define BLKB_MAX_RETRIES	8
#define BLKB_CQE_BATCH		64
#define BLKB_LOG_BURST		10

/* At most BLKB_LOG_BURST I/O error lines per queue and second. */
static bool blkb_log_ok(struct blkb_queue *q)
{
	uint64_t sec = pvbe_now_ns() / 1000000000ULL;

	if (sec != q->log_sec) {
		q->log_sec = sec;
		q->log_count = 0;
	}
	return q->log_count++ < BLKB_LOG_BURST;
}

static struct io_uring_sqe *blkb_get_sqe(struct blkb_queue *q)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->uring);

	/* sized for a full ring plus watchers: only a safety net */
	if (!sqe) {
		io_uring_submit(&q->uring);
		sqe = io_uring_get_sqe(&q->uring);
	}
	return sqe;
}

static void blkb_arm_kick(struct blkb_queue *q)
{
	struct io_uring_sqe *sqe = blkb_get_sqe(q);

	if (!sqe) {
		pvbe_queue_fail(&q->bq, -EBUSY, "cannot arm the kick watcher");
		return;
	}
	if (q->kick_poll)
		io_uring_prep_poll_add(sqe, q->bq.kick_fd, POLLIN);
	else
		io_uring_prep_read(sqe, q->bq.kick_fd, &q->kick_val,
				   sizeof(q->kick_val), 0);
	io_uring_sqe_set_data64(sqe, BLKB_UD_KICK);
}

static void blkb_arm_stop(struct blkb_queue *q)
{
	struct io_uring_sqe *sqe = blkb_get_sqe(q);

	if (!sqe) {
		pvbe_queue_fail(&q->bq, -EBUSY, "cannot arm the stop watcher");
		return;
	}
	io_uring_prep_poll_add(sqe, q->dev->be.stop_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, BLKB_UD_STOP);
}

static void blkb_respond(struct blkb_queue *q, uint64_t id, uint8_t status)
{
	struct pvkit_blk_rsp rsp = { .id = htole64(id), .status = status };

	pvbe_queue_answer(&q->bq, &rsp, sizeof(rsp), status != PVKIT_BLK_S_OK);
}

static void blkb_io_finish(struct blkb_queue *q, struct blkb_io *io,
			   uint8_t status)
{
	blkb_respond(q, io->id, status);
	io->next_free = q->free_ios;
	q->free_ios = io;
	q->inflight--;
}

/* iovecs of zeroes for the next step of a write-zeroes done by writing */
static void blkb_io_fill_zeroes(struct blkb_disk *disk, struct blkb_io *io)
{
	uint64_t rem = io->left;
	unsigned int n = 0;

	while (rem && n < BLKB_ZERO_IOVS) {
		size_t len = rem < BLKB_ZERO_BUF_SIZE ? rem :
			     BLKB_ZERO_BUF_SIZE;

		io->iov[n].iov_base = disk->zero_buf;
		io->iov[n].iov_len = len;
		rem -= len;
		n++;
	}
	io->iov_idx = 0;
	io->nr_iov = n;
}

/*
 * A read or write step small enough to do right now (disk->inline_rw):
 * the result waits on the done list and is completed by the next reap,
 * like a CQE, so a retry or the rest of a short transfer never recurses.
 */
static bool blkb_io_try_inline(struct blkb_queue *q, struct blkb_io *io)
{
	struct blkb_disk *disk = &q->dev->disk;
	ssize_t n;

	if (!disk->inline_rw || io->zeroes || io->left > BLKB_INLINE_MAX ||
	    (io->op != PVKIT_BLK_OP_READ && io->op != PVKIT_BLK_OP_WRITE))
		return false;
	n = disk->ops->rw_inline(disk, io->op == PVKIT_BLK_OP_WRITE,
				 &io->iov[io->iov_idx],
				 io->nr_iov - io->iov_idx, io->off, io->rwf);
	io->res = n < 0 ? (int)n : (int)(n > INT32_MAX ? INT32_MAX : n);
	io->next_done = NULL;
	*q->done_tail = io;
	q->done_tail = &io->next_done;
	return true;
}

/* Prepare the SQE for the next step of @io (or do it inline). */
static void blkb_io_issue(struct blkb_queue *q, struct blkb_io *io)
{
	struct blkb_disk *disk = &q->dev->disk;
	const struct blkb_disk_ops *ops = disk->ops;
	struct io_uring_sqe *sqe;

	if (blkb_io_try_inline(q, io))
		return;
	sqe = blkb_get_sqe(q);
	if (!sqe) {
		blkb_io_finish(q, io, PVKIT_BLK_S_IOERR);
		return;
	}
	switch (io->op) {
	case PVKIT_BLK_OP_READ:
	case PVKIT_BLK_OP_WRITE:
		ops->prep_rw(disk, sqe, io->op == PVKIT_BLK_OP_WRITE,
			     &io->iov[io->iov_idx], io->nr_iov - io->iov_idx,
			     io->off, io->rwf);
		break;
	case PVKIT_BLK_OP_FLUSH:
		ops->prep_flush(disk, sqe);
		break;
	case PVKIT_BLK_OP_DISCARD:
		ops->prep_discard(disk, sqe, io->off, io->left);
		break;
	case PVKIT_BLK_OP_WRITE_ZEROES:
		if (!io->zeroes &&
		    !ops->prep_write_zeroes(disk, sqe, io->off, io->left))
			break;
		io->zeroes = true;
		blkb_io_fill_zeroes(disk, io);
		ops->prep_rw(disk, sqe, true, io->iov, io->nr_iov, io->off, 0);
		break;
	}
	io_uring_sqe_set_data(sqe, io);
}

/* @n bytes of a transfer are done. */
static void blkb_io_advance(struct blkb_io *io, uint64_t n)
{
	io->off += n;
	io->left -= n;
	if (io->zeroes)
		return;		/* refilled at the next issue */
	while (n && io->iov_idx < io->nr_iov) {
		struct iovec *v = &io->iov[io->iov_idx];

		if (n < v->iov_len) {
			v->iov_base = (uint8_t *)v->iov_base + n;
			v->iov_len -= n;
			break;
		}
		n -= v->iov_len;
		io->iov_idx++;
	}
}

static void blkb_io_complete(struct blkb_queue *q, struct blkb_io *io,
			     int res)
{
	struct blkb_disk *disk = &q->dev->disk;
	bool transfer = io->op == PVKIT_BLK_OP_READ ||
			io->op == PVKIT_BLK_OP_WRITE || io->zeroes;
	unsigned int op = io->zeroes ? PVKIT_BLK_OP_WRITE : io->op;

	if (res < 0) {
		enum blkb_recover r = BLKB_RECOVER_RETRY;

		if (res != -EAGAIN && res != -EINTR)
			r = disk->ops->recover(disk, op, res);
		if (r == BLKB_RECOVER_DONE) {
			blkb_io_finish(q, io, PVKIT_BLK_S_OK);
			return;
		}
		if (r == BLKB_RECOVER_RETRY && io->retries++ < BLKB_MAX_RETRIES) {
			blkb_io_issue(q, io);
			return;
		}
		if (blkb_log_ok(q))
			log_err("queue %u: op %u at byte %llu (%llu bytes) failed: %s",
				q->bq.index, io->op, (unsigned long long)io->off,
				(unsigned long long)io->left, strerror(-res));
		blkb_io_finish(q, io, PVKIT_BLK_S_IOERR);
		return;
	}
	if (transfer) {
		if (!res || (uint64_t)res > io->left) {
			/* end of file: the image shrank under us */
			if (blkb_log_ok(q))
				log_err("queue %u: op %u at byte %llu: unexpected end of image",
					q->bq.index, io->op,
					(unsigned long long)io->off);
			blkb_io_finish(q, io, PVKIT_BLK_S_IOERR);
			return;
		}
		blkb_io_advance(io, res);
		if (io->left) {
			/* short transfer: do the rest */
			blkb_io_issue(q, io);
			return;
		}
		pvbe_stat_add(&q->bq, bytes, io->bytes);
	}
	blkb_io_finish(q, io, PVKIT_BLK_S_OK);
}

/* pvbe_queue_drain() callback: one request, copied out of the ring. */
static void blkb_handle_req(struct pvbe_queue *bq, const void *req)
{
	struct blkb_queue *q = blkb_queue(bq);
	const struct pvkit_blk_req *rq = req;
	struct blkb_io *io = q->free_ios;
	uint64_t id = le64toh(rq->id);
	uint8_t st;

	/* cannot happen: pvkit_ring_req_avail() bounds what is in flight */
	if (!io) {
		blkb_respond(q, id, PVKIT_BLK_S_IOERR);
		return;
	}
	st = blkb_req_parse(&q->lim, &q->dev->be.gm, rq, q->segbuf, io);
	if (st != PVKIT_BLK_S_OK) {
		blkb_respond(q, id, st);
		return;
	}
	if (io->op == PVKIT_BLK_OP_GET_ID) {
		memcpy(io->iov[0].iov_base, q->dev->disk.serial,
		       PVKIT_BLK_ID_BYTES);
		blkb_respond(q, id, PVKIT_BLK_S_OK);
		return;
	}
	q->free_ios = io->next_free;
	q->inflight++;
	io->id = id;
	blkb_io_issue(q, io);
}

static void blkb_handle_kick(struct blkb_queue *q, int res)
{
	if (res == -ECANCELED)
		return;
	if (res == -EAGAIN && !q->kick_poll) {
		/* a non-blocking eventfd: watch it with POLL_ADD instead */
		q->kick_poll = true;
		blkb_arm_kick(q);
		return;
	}
	if (res < 0) {
		pvbe_queue_fail(&q->bq, res, "kick eventfd: %s",
				strerror(-res));
		return;
	}
	/* POLL_ADD only reports readiness: consume the count ourselves */
	if (pvbe_queue_kicked(&q->bq, q->kick_poll))
		return;
	blkb_arm_kick(q);
}

/* Complete the inline steps done so far (in order); returns how many. */
static unsigned int blkb_queue_reap_inline(struct blkb_queue *q)
{
	unsigned int total = 0;
	struct blkb_io *io;

	while ((io = q->done_head)) {
		q->done_head = io->next_done;
		if (!q->done_head)
			q->done_tail = &q->done_head;
		/* may put the io (a retry, the rest) on the list again */
		blkb_io_complete(q, io, io->res);
		total++;
	}
	return total;
}

/* Reap every available completion, CQEs and inline; returns how many. */
static unsigned int blkb_queue_reap(struct blkb_queue *q)
{
	struct io_uring_cqe *cqes[BLKB_CQE_BATCH];
	unsigned int n, i, total = blkb_queue_reap_inline(q);

	while ((n = io_uring_peek_batch_cqe(&q->uring, cqes,
					    BLKB_CQE_BATCH)) > 0) {
		for (i = 0; i < n; i++) {
			uint64_t ud = io_uring_cqe_get_data64(cqes[i]);
			int res = cqes[i]->res;

			if (ud == BLKB_UD_KICK)
				blkb_handle_kick(q, res);
			else if (ud == BLKB_UD_STOP)
				q->bq.stopping = true;
			else
				blkb_io_complete(q, (struct blkb_io *)
						 (uintptr_t)ud, res);
		}
		io_uring_cq_advance(&q->uring, n);
		total += n;
		total += blkb_queue_reap_inline(q);
	}
	return total;
}

static int blkb_submit(struct blkb_queue *q, unsigned int wait_nr)
{
	int ret;

	do {
		ret = io_uring_submit_and_wait(&q->uring, wait_nr);
	} while (ret == -EINTR);
	if (ret == -EAGAIN || ret == -EBUSY)
		ret = 0;	/* completions pending: reap, then retry */
	if (ret < 0)
		pvbe_queue_fail(&q->bq, ret, "io_uring_enter: %s", strerror(-ret));
	return ret;
}

static void *blkb_queue_thread(void *arg)
{
	struct blkb_queue *q = arg;
	struct pvbe_queue *bq = &q->bq;
	struct pvkit_blk_req rq;
	bool progress;

	pvbe_poll_busy(bq);
	blkb_arm_stop(q);
	blkb_arm_kick(q);
	for (;;) {
		progress = false;
		if (!bq->stopping &&
		    pvbe_queue_drain(bq, &rq, sizeof(rq), bq->ring.slots,
				     blkb_handle_req) > 0)
			progress = true;
		/* one submit for the batch (and any resubmissions) */
		if (io_uring_sq_ready(&q->uring) && blkb_submit(q, 0) < 0)
			break;
		if (blkb_queue_reap(q))
			progress = true;
		pvbe_queue_push(bq);

		if (bq->stopping && !q->inflight)
			break;
		if (progress) {
			pvbe_poll_busy(bq);
			continue;
		}
		if (pvbe_poll_spin(bq))
			continue;
		/* sleep only if nothing was published after req_event */
		if (!pvbe_queue_may_sleep(bq))
			continue;
		if (blkb_submit(q, 1) < 0)
			break;
		pvbe_poll_busy(bq);
	}
	pvbe_queue_push(bq);
	pvbe_queue_exited(bq);
	return NULL;
}

int blkb_queue_start(struct pvbe *be, struct pvbe_queue *bq)
{
	const struct pvkit_be_queue *d = &be->qdesc[bq->index];
	struct blkb_queue *q = blkb_queue(bq);
	struct blkb_dev *dev = blkb_dev(be);
	struct io_uring_params p;
	unsigned int i;
	int ret, fl;

	q->dev = dev;
	q->ios = calloc(d->ring_slots, sizeof(*q->ios));
	if (!q->ios)
		return -ENOMEM;
	q->free_ios = NULL;
	for (i = d->ring_slots; i-- > 0;) {
		q->ios[i].next_free = q->free_ios;
		q->free_ios = &q->ios[i];
	}
	q->done_head = NULL;
	q->done_tail = &q->done_head;
	q->inflight = 0;
	bq->poll_ns = (uint64_t)dev->opts.poll_us * 1000;
	q->lim = (struct blkb_limits){
		.acked = be->acked,
		.capacity = dev->disk.size >> PVKIT_BLK_SECTOR_SHIFT,
		.lbs = dev->disk.lbs,
		.max_discard_sectors = dev->disk.max_discard_sectors,
		.max_wz_sectors = BLKB_MAX_WZ_SECTORS,
		.ro = dev->disk.ro,
	};
	fl = fcntl(bq->kick_fd, F_GETFL);
	q->kick_poll = fl >= 0 && (fl & O_NONBLOCK);

	/*
	 * A full ring of requests, the kick and stop watchers, and room to
	 * spare; the CQ is twice that, so it cannot overflow.  Cooperative
	 * task running: completions are posted when we enter the kernel
	 * (liburing's peek does when the kernel flags pending work).
	 */
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
	ret = io_uring_queue_init_params(d->ring_slots + 4, &q->uring, &p);
	if (ret == -EINVAL) {
		memset(&p, 0, sizeof(p));
		ret = io_uring_queue_init_params(d->ring_slots + 4, &q->uring,
						 &p);
	}
	if (ret)
		goto err_free;
	q->uring_ok = true;

	ret = -pthread_create(&q->thread, NULL, blkb_queue_thread, q);
	if (ret)
		goto err_uring;
	return 0;

err_uring:
	io_uring_queue_exit(&q->uring);
	q->uring_ok = false;
err_free:
	free(q->ios);
	q->ios = NULL;
	return ret;
}

void blkb_queue_join(struct pvbe *be, struct pvbe_queue *bq)
{
	struct blkb_queue *q = blkb_queue(bq);

	(void)be;
	pthread_join(q->thread, NULL);
	/* cancels the watchers; no I/O is in flight any more */
	io_uring_queue_exit(&q->uring);
	q->uring_ok = false;
	free(q->ios);
	q->ios = NULL;
}
