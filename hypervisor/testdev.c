// SPDX-License-Identifier: GPL-2.0-only
/*
 * The built-in test device (PVKIT_DEV_TEST, instance 0): one ring whose
 * requests are answered inside pvkit-hv with the same id and
 * value ^ PVKIT_TEST_XOR.  Exercises rings, kicks and vectors end to end
 * without any back-end process.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <pvkit-host/log.h>

#include "include/dev.h"
#include "include/hv.h"

/* Requests served per wake-up before yielding to other events. */
#define TDEV_BUDGET	1024

static void tdev_violation(struct hv *hv, struct dev *d, const char *what)
{
	struct dev_queue *q = &d->q[0];
	char why[128];

	snprintf(why, sizeof(why), "%s: req_prod %u, req_cons %u", what,
		 pvkit_ring_read(&q->ring.hdr->req_prod), q->ring.req_cons);
	/* nothing to drain: RESETTING, then OFFERED with a new epoch */
	dev_fault(hv, d, true, why);
}

void tdev_process(struct hv *hv, struct dev *d)
{
	struct dev_queue *q = &d->q[0];
	struct pvkit_ring *r = &q->ring;
	unsigned int budget = TDEV_BUDGET;
	int avail;

	if (d->state != PVKIT_DEV_STATE_CONNECTED)
		return;
	for (;;) {
		avail = pvkit_ring_req_avail(r);
		if (avail < 0) {
			tdev_violation(hv, d, "request index beyond the ring");
			return;
		}
		while (avail-- > 0 && budget) {
			struct pvkit_test_msg msg;

			/* copy, then use only the copy */
			pvkit_ring_get_req(r, &msg, sizeof(msg));
			msg.value = htole64(le64toh(msg.value) ^ PVKIT_TEST_XOR);
			if (pvkit_ring_put_rsp(r, &msg, sizeof(msg))) {
				tdev_violation(hv, d, "response overflow");
				return;
			}
			q->reqs++;
			budget--;
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
				log_debug("test device self-kick: %s",
					  strerror(errno));
			return;
		}
		avail = pvkit_ring_final_check_req(r);
		if (avail < 0) {
			tdev_violation(hv, d, "request index beyond the ring");
			return;
		}
		if (!avail)
			return;
	}
}

static void tdev_kick(struct hv *hv, struct ev_src *src, uint32_t events)
{
	struct dev *d = src->arg;
	uint64_t cnt;

	(void)events;
	if (read(src->fd, &cnt, sizeof(cnt)) == sizeof(cnt))
		d->q[0].kicks++;
	tdev_process(hv, d);
}

static int tdev_connect(struct hv *hv, struct dev *d)
{
	struct dev_queue *q = &d->q[0];

	/* the header was just zeroed; a fresh private view matches it */
	return pvkit_ring_attach(&q->ring, hv->shm + q->ring_offset, q->slots,
				 q->req_size, q->rsp_size);
}

static int tdev_disconnect(struct hv *hv, struct dev *d)
{
	(void)hv;
	(void)d;
	return 0;	/* nothing in flight: every request is answered at once */
}

const struct dev_ops tdev_ops = {
	.name = "test",
	.connect = tdev_connect,
	.disconnect = tdev_disconnect,
};

int tdev_create(struct hv *hv)
{
	struct dev_queue *q;
	struct dev *d;
	int ret;

	d = dev_create(hv, PVKIT_DEV_TEST, 0, 1, HV_TEST_SLOTS,
		       HV_TEST_MSG_SIZE, HV_TEST_MSG_SIZE, &tdev_ops);
	if (!d)
		return -errno;
	q = &d->q[0];
	ret = pvkit_ring_attach(&q->ring, hv->shm + q->ring_offset, q->slots,
				q->req_size, q->rsp_size);
	if (ret)
		return ret;
	ret = ev_add(hv, &q->kick_src, hv->kick_fd[q->kick], EPOLLIN,
		     tdev_kick, d);
	if (ret)
		return ret;
	d->state = PVKIT_DEV_STATE_OFFERED;	/* published by the caller */
	return 0;
}
