// SPDX-License-Identifier: GPL-2.0-only
/*
 * Rings of devices served inside pvkit-hv (the test device, the balloon):
 * one loop that copies each published request, hands the copy to the
 * device, puts its answer and raises the vector once per batch.  A budget
 * per wake-up keeps one busy ring from starving the event loop; the
 * device kicks itself to come back.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <pvkit-host/log.h>

#include "include/dev.h"
#include "include/hv.h"

/* Requests served per wake-up before yielding to other events. */
#define HVQ_BUDGET	1024
/* Largest request or response slot an in-process device uses. */
#define HVQ_SLOT_MAX	256

static void hvq_violation(struct hv *hv, struct dev *d, unsigned int qi,
			  const char *what)
{
	struct dev_queue *q = &d->q[qi];
	char why[160];

	snprintf(why, sizeof(why), "queue %u: %s: req_prod %u, req_cons %u",
		 qi, what, pvkit_ring_read(&q->ring.hdr->req_prod),
		 q->ring.req_cons);
	/* nothing to drain: RESETTING, then OFFERED with a new epoch */
	dev_fault(hv, d, true, why);
}

void hvq_serve(struct hv *hv, struct dev *d, unsigned int qi, hvq_req_fn fn)
{
	struct dev_queue *q = &d->q[qi];
	struct pvkit_ring *r = &q->ring;
	unsigned int budget = HVQ_BUDGET;
	uint8_t req[HVQ_SLOT_MAX], rsp[HVQ_SLOT_MAX];
	char why[128];
	int avail, ret;

	if (d->state != PVKIT_DEV_STATE_CONNECTED || q->req_size > sizeof(req) ||
	    q->rsp_size > sizeof(rsp))
		return;
	for (;;) {
		avail = pvkit_ring_req_avail(r);
		if (avail < 0) {
			hvq_violation(hv, d, qi, "request index beyond the ring");
			return;
		}
		while (avail-- > 0 && budget) {
			/* copy, then use only the copy */
			pvkit_ring_get_req(r, req, q->req_size);
			memset(rsp, 0, q->rsp_size);
			why[0] = '\0';
			ret = fn(hv, d, qi, req, rsp, why, sizeof(why));
			if (pvkit_ring_put_rsp(r, rsp, q->rsp_size)) {
				hvq_violation(hv, d, qi, "response overflow");
				return;
			}
			q->reqs++;
			budget--;
			if (ret) {
				/* answered; then the device is reset */
				if (pvkit_ring_push_rsps(r)) {
					q->irqs++;
					hv_raise(hv, q->vector);
				}
				dev_fault(hv, d, true, why);
				return;
			}
		}
		if (pvkit_ring_push_rsps(r)) {
			q->irqs++;
			hv_raise(hv, q->vector);
		}
		if (!budget) {
			uint64_t one = 1;

			/* more may be waiting: come back after other events */
			if (write(hv->kick_fd[q->kick], &one, sizeof(one)) < 0 &&
			    errno != EAGAIN)
				log_debug("%s self-kick: %s", d->ops->name,
					  strerror(errno));
			return;
		}
		avail = pvkit_ring_final_check_req(r);
		if (avail < 0) {
			hvq_violation(hv, d, qi, "request index beyond the ring");
			return;
		}
		if (!avail)
			return;
	}
}

int hvq_attach(struct hv *hv, struct dev *d, unsigned int qi)
{
	struct dev_queue *q = &d->q[qi];

	/* the header was just zeroed; a fresh private view matches it */
	return pvkit_ring_attach(&q->ring, hv->shm + q->ring_offset, q->slots,
				 q->req_size, q->rsp_size);
}

int hvq_watch(struct hv *hv, struct dev *d, unsigned int qi, ev_fn fn)
{
	struct dev_queue *q = &d->q[qi];
	int ret = hvq_attach(hv, d, qi);

	return ret ?: ev_add(hv, &q->kick_src, hv->kick_fd[q->kick], EPOLLIN,
			     fn, d);
}

int hvq_kicked(struct dev *d, struct ev_src *src)
{
	unsigned int i;
	uint64_t cnt;

	for (i = 0; i < d->nr_queues; i++) {
		if (&d->q[i].kick_src != src)
			continue;
		if (read(src->fd, &cnt, sizeof(cnt)) == sizeof(cnt))
			d->q[i].kicks++;
		return (int)i;
	}
	return -ENOENT;
}
