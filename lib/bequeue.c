// SPDX-License-Identifier: GPL-2.0-only
/*
 * Queue-thread helpers for back-ends (see pvkit-host/bequeue.h): the ring
 * side of a queue that every device does the same way -- consuming with
 * index validation, publishing with event-index interrupts, kicks, the
 * busy-poll window and the final check before sleeping.
 */
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <pvkit-host/bequeue.h>
#include <pvkit-host/log.h>

uint64_t pvbe_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void pvbe_queue_vfail(struct pvbe_queue *q, int err, bool guest,
			     const char *fmt, va_list ap)
{
	q->stopping = true;
	if (__atomic_load_n(&q->err, __ATOMIC_RELAXED))
		return;
	q->err_guest = guest;
	vsnprintf(q->errmsg, sizeof(q->errmsg), fmt, ap);
	/* the main thread logs it when it sends PVKIT_BE_ERROR */
	/* errmsg, err_guest before err; pairs with the acquire in bemain.c */
	__atomic_store_n(&q->err, err, __ATOMIC_RELEASE);
	eventfd_write(q->be->event_fd, 1);
}

void pvbe_queue_fail(struct pvbe_queue *q, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pvbe_queue_vfail(q, err, false, fmt, ap);
	va_end(ap);
}

void pvbe_queue_fail_guest(struct pvbe_queue *q, int err, const char *fmt,
			   ...)
{
	va_list ap;

	va_start(ap, fmt);
	pvbe_queue_vfail(q, err, true, fmt, ap);
	va_end(ap);
}

void pvbe_queue_exited(struct pvbe_queue *q)
{
	/* after everything the thread did; pairs with bemain.c's acquire */
	__atomic_store_n(&q->exited, true, __ATOMIC_RELEASE);
	eventfd_write(q->be->event_fd, 1);
}

int pvbe_queue_drain(struct pvbe_queue *q, void *buf, size_t len,
		     unsigned int max, pvbe_req_fn fn)
{
	int avail = pvkit_ring_req_avail(&q->ring), i;

	if (avail < 0) {
		uint32_t prod = le32toh(__atomic_load_n(&q->ring.hdr->req_prod,
							__ATOMIC_RELAXED));

		pvbe_queue_fail_guest(q, avail,
				      "ring index violation: req_prod %u is not within %u slots after req_cons %u",
				prod, q->ring.slots, q->ring.req_cons);
		return avail;
	}
	if ((unsigned int)avail > max)
		avail = (int)max;
	for (i = 0; i < avail; i++) {
		/* copy, then validate: the guest may rewrite the slot */
		pvkit_ring_get_req(&q->ring, buf, len);
		fn(q, buf);
	}
	if (avail)
		pvbe_stat_add(q, requests, avail);
	return avail;
}

void pvbe_queue_answer(struct pvbe_queue *q, const void *rsp, size_t len,
		       bool error)
{
	if (pvkit_ring_put_rsp(&q->ring, rsp, (uint32_t)len))
		log_err("queue %u: BUG: response without a request",
			q->index);
	if (error)
		pvbe_stat_add(q, errors, 1);
}

void pvbe_queue_push(struct pvbe_queue *q)
{
	if (q->ring.rsp_pushed == q->ring.rsp_prod_pvt)
		return;
	if (pvkit_ring_push_rsps(&q->ring)) {
		eventfd_write(q->irq_fd, 1);
		pvbe_stat_add(q, irqs, 1);
	} else {
		pvbe_stat_add(q, irqs_suppressed, 1);
	}
}

int pvbe_queue_kicked(struct pvbe_queue *q, bool consume)
{
	uint64_t v;

	if (consume && read(q->kick_fd, &v, sizeof(v)) < 0 &&
	    errno != EAGAIN) {
		int err = -errno;

		pvbe_queue_fail(q, err, "kick eventfd: %s", strerror(-err));
		return err;
	}
	pvbe_stat_add(q, kicks, 1);
	return 0;
}

bool pvbe_poll_spin(struct pvbe_queue *q)
{
	if (!q->poll_ns || q->stopping ||
	    pvbe_now_ns() - q->busy_ns >= q->poll_ns)
		return false;
	pvbe_cpu_relax();
	return true;
}

bool pvbe_queue_may_sleep(struct pvbe_queue *q)
{
	return q->stopping || !pvkit_ring_req_pending(&q->ring, true);
}
