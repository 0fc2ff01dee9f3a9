// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvkit front-end library: queue set-up, interrupt binding, push + kick,
 * the reap loop, request-id tracking and resubmission, and the connect
 * rules (pvkit/fe.h).  One implementation for every device driver.
 *
 * Copyright (c) 2026 The pvkit authors
 */
#include <linux/delay.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <pvkit/fe.h>

#include "core.h"

#define PVKIT_FE_CONNECT_STEP_MS	100

bool pvkit_fe_queue_ok(struct pvkit_device *pdev, unsigned int index,
		       u32 depth, u32 req_size, u32 rsp_size)
{
	const struct pvkit_queue_info *qi;

	if (index >= pdev->nr_queues) {
		dev_err(&pdev->dev, "queue %u: the device has %u queues\n",
			index, pdev->nr_queues);
		return false;
	}
	qi = &pdev->queues[index];
	if (qi->req_size < req_size || qi->rsp_size < rsp_size ||
	    qi->slots < depth ||
	    !pvkit_ring_geometry_ok(qi->slots, qi->req_size, qi->rsp_size)) {
		dev_err(&pdev->dev,
			"queue %u: unusable ring (%u slots of %u/%u bytes)\n",
			index, qi->slots, qi->req_size, qi->rsp_size);
		return false;
	}
	return true;
}
EXPORT_SYMBOL_NS_GPL(pvkit_fe_queue_ok, PVKIT);

/* Point the private ring view at the shared ring (headers zeroed). */
static int pvkit_fe_attach(struct pvkit_fe_queue *fq)
{
	const struct pvkit_queue_info *qi = &fq->pdev->queues[fq->index];
	void *base = pvkit_queue_ring(fq->pdev, fq->index);

	if (!base)
		return -EINVAL;
	return pvkit_ring_attach(&fq->ring, base, qi->slots, qi->req_size,
				 qi->rsp_size);
}

/**
 * pvkit_fe_queue_init - set up a front-end queue
 * @fq: the queue, zeroed by the caller except for @fq->poll
 * @pdev: its device
 * @index: device queue number
 * @depth: tags the driver will use, at most the ring size
 * @req_size: bytes of the driver's request slot
 * @rsp_size: bytes of its response slot
 *
 * Return: 0 or -errno (the reason is logged).
 */
int pvkit_fe_queue_init(struct pvkit_fe_queue *fq, struct pvkit_device *pdev,
			unsigned int index, u32 depth, u32 req_size,
			u32 rsp_size)
{
	int err;

	if (!depth || depth > BIT(PVKIT_FE_TAG_BITS) ||
	    req_size < sizeof(__le64) || rsp_size < sizeof(__le64) ||
	    !pvkit_fe_queue_ok(pdev, index, depth, req_size, rsp_size))
		return -EINVAL;
	spin_lock_init(&fq->lock);
	INIT_LIST_HEAD(&fq->submitted);
	fq->pdev = pdev;
	fq->index = index;
	fq->depth = depth;
	fq->req_size = req_size;
	fq->rsp_size = rsp_size;
	fq->inflight = kcalloc(depth, sizeof(*fq->inflight), GFP_KERNEL);
	if (!fq->inflight)
		return -ENOMEM;
	if (!zalloc_cpumask_var(&fq->affinity, GFP_KERNEL)) {
		err = -ENOMEM;
		goto err_free_inflight;
	}
	err = pvkit_fe_attach(fq);
	if (err) {
		dev_err(&pdev->dev, "queue %u: cannot attach ring\n", index);
		goto err_free_mask;
	}
	return 0;

err_free_mask:
	free_cpumask_var(fq->affinity);
err_free_inflight:
	kfree(fq->inflight);
	fq->inflight = NULL;
	return err;
}
EXPORT_SYMBOL_NS_GPL(pvkit_fe_queue_init, PVKIT);

void pvkit_fe_queue_destroy(struct pvkit_fe_queue *fq)
{
	if (!fq->inflight)
		return;
	WARN_ON_ONCE(fq->irq);
	free_cpumask_var(fq->affinity);
	kfree(fq->inflight);
	fq->inflight = NULL;
}
EXPORT_SYMBOL_NS_GPL(pvkit_fe_queue_destroy, PVKIT);

int pvkit_fe_queue_bind_irq(struct pvkit_fe_queue *fq, irq_handler_t handler,
			    void *data)
{
	int irq;

	irq = pvkit_queue_request_irq(fq->pdev, fq->index, handler,
				      fq->name[0] ? fq->name : NULL, data);
	if (irq < 0) {
		dev_err(&fq->pdev->dev, "queue %u: cannot bind interrupt: %d\n",
			fq->index, irq);
		return irq;
	}
	fq->irq = irq;
	/* the mask is the irq's affinity hint until the irq is freed */
	if (!cpumask_empty(fq->affinity))
		pvkit_queue_set_affinity(fq->pdev, fq->index, fq->affinity);
	return 0;
}
EXPORT_SYMBOL_NS_GPL(pvkit_fe_queue_bind_irq, PVKIT);

void pvkit_fe_queue_unbind_irq(struct pvkit_fe_queue *fq, void *data)
{
	if (!fq->irq)
		return;
	pvkit_queue_free_irq(fq->pdev, fq->index, data);
	fq->irq = 0;
}
EXPORT_SYMBOL_NS_GPL(pvkit_fe_queue_unbind_irq, PVKIT);

static inline __le64 *pvkit_fe_slot_id(void *slot)
{
	return slot;
}

int pvkit_fe_submit(struct pvkit_fe_queue *fq, struct pvkit_fe_req *r,
		    u16 tag)
{
	int err;

	lockdep_assert_held(&fq->lock);
	if (WARN_ON_ONCE(tag >= fq->depth || fq->inflight[tag]))
		return -EINVAL;
	r->tag = tag;
	*pvkit_fe_slot_id(r->slot) = cpu_to_le64(++fq->seq <<
						 PVKIT_FE_TAG_BITS | tag);
	if (fq->live) {
		err = pvkit_ring_put_req(&fq->ring, r->slot, fq->req_size);
		if (err)
			return err;
	}
	fq->inflight[tag] = r;
	list_add_tail(&r->node, &fq->submitted);
	return 0;
}
EXPORT_SYMBOL_NS_GPL(pvkit_fe_submit, PVKIT);

bool pvkit_fe_ring_push(struct pvkit_device *pdev, unsigned int q,
			struct pvkit_ring *ring)
{
	bool kick;

	if (ring->req_pushed == ring->req_prod_pvt)
		return false;
	kick = pvkit_ring_push_reqs(ring);
	if (!kick)
		pvkit_queue_stat(pdev, q, PVKIT_STAT_KICK_SUPPRESSED);
	return kick;
}
EXPORT_SYMBOL_NS_GPL(pvkit_fe_ring_push, PVKIT);

bool pvkit_fe_push(struct pvkit_fe_queue *fq)
{
	lockdep_assert_held(&fq->lock);
	if (!fq->live)
		return false;
	return pvkit_fe_ring_push(fq->pdev, fq->index, &fq->ring);
}
EXPORT_SYMBOL_NS_GPL(pvkit_fe_push, PVKIT);

/* The request @rsp answers, untracked; NULL (and fq->why) if none. */
static struct pvkit_fe_req *pvkit_fe_match(struct pvkit_fe_queue *fq,
					   const void *rsp)
{
	u64 id = le64_to_cpu(*(const __le64 *)rsp);
	u32 tag = id & PVKIT_FE_TAG_MASK;
	struct pvkit_fe_req *r;
	u64 want;

	r = tag < fq->depth ? fq->inflight[tag] : NULL;
	if (!r) {
		snprintf(fq->why, sizeof(fq->why),
			 "queue %u: response id %#llx not in flight (duplicate or never issued)",
			 fq->index, id);
		return NULL;
	}
	want = le64_to_cpu(*pvkit_fe_slot_id(r->slot));
	if (want != id) {
		snprintf(fq->why, sizeof(fq->why),
			 "queue %u: stale response id %#llx (expected %#llx)",
			 fq->index, id, want);
		return NULL;
	}
	fq->inflight[tag] = NULL;
	list_del_init(&r->node);
	return r;
}

/*
 * The driver refused the response: track the request again, so that the
 * failure path that follows fails it rather than forgets it.
 */
static void pvkit_fe_untake(struct pvkit_fe_queue *fq, struct pvkit_fe_req *r)
{
	fq->inflight[r->tag] = r;
	list_add(&r->node, &fq->submitted);
}

/* Copy out the next response and complete its request; false: violation. */
static bool pvkit_fe_consume(struct pvkit_fe_queue *fq, void *buf,
			     pvkit_fe_complete_t complete, void *ctx)
{
	struct pvkit_fe_req *r;

	/* copy, then validate */
	pvkit_ring_get_rsp(&fq->ring, buf, fq->rsp_size);
	r = pvkit_fe_match(fq, buf);
	if (!r)
		return false;
	if (!complete(fq, r, buf, ctx)) {
		pvkit_fe_untake(fq, r);
		return false;
	}
	return true;
}

int pvkit_fe_reap(struct pvkit_fe_queue *fq, void *buf,
		  pvkit_fe_complete_t complete, void *ctx)
{
	int avail, found = 0;

	lockdep_assert_held(&fq->lock);
	if (!fq->live)
		return 0;
	while ((avail = pvkit_ring_rsp_pending(&fq->ring, !fq->poll))) {
		if (avail < 0) {
			snprintf(fq->why, sizeof(fq->why),
				 "queue %u: response index beyond the requests in flight",
				 fq->index);
			goto violation;
		}
		while (avail--) {
			if (!pvkit_fe_consume(fq, buf, complete, ctx))
				goto violation;
			found++;
		}
	}
	return found;

violation:
	fq->live = false;
	return -EPROTO;
}
EXPORT_SYMBOL_NS_GPL(pvkit_fe_reap, PVKIT);

int pvkit_fe_drain(struct pvkit_fe_queue *fq, void *buf,
		   pvkit_fe_complete_t complete, void *ctx)
{
	unsigned long flags;
	int avail, err = 0;

	spin_lock_irqsave(&fq->lock, flags);
	if (fq->live) {
		avail = pvkit_ring_rsp_avail(&fq->ring);
		if (avail < 0)
			dev_warn(&fq->pdev->dev,
				 "queue %u: bad response index before reset\n",
				 fq->index);
		while (avail-- > 0) {
			if (!pvkit_fe_consume(fq, buf, complete, ctx)) {
				err = -EPROTO;
				break;
			}
		}
		fq->live = false;
	}
	spin_unlock_irqrestore(&fq->lock, flags);
	return err;
}
EXPORT_SYMBOL_NS_GPL(pvkit_fe_drain, PVKIT);

int pvkit_fe_resubmit(struct pvkit_fe_queue *fq,
		      bool (*drop)(struct pvkit_fe_req *r, void *ctx),
		      void *ctx, struct list_head *dropped)
{
	struct pvkit_fe_req *r, *tmp;
	int err, n = 0;
	bool kick;

	spin_lock_irq(&fq->lock);
	err = pvkit_fe_attach(fq);
	if (!err) {
		list_for_each_entry_safe(r, tmp, &fq->submitted, node) {
			/* the host is done with it: failing it is safe now */
			if (drop && drop(r, ctx)) {
				fq->inflight[r->tag] = NULL;
				list_move_tail(&r->node, dropped);
				continue;
			}
			err = pvkit_ring_put_req(&fq->ring, r->slot,
						 fq->req_size);
			if (err)
				break;
			n++;
		}
	}
	fq->live = !err;
	kick = pvkit_fe_push(fq);
	spin_unlock_irq(&fq->lock);

	if (kick)
		pvkit_fe_kick(fq);
	return err ?: n;
}
EXPORT_SYMBOL_NS_GPL(pvkit_fe_resubmit, PVKIT);

void pvkit_fe_take_all(struct pvkit_fe_queue *fq, struct list_head *out)
{
	unsigned long flags;

	spin_lock_irqsave(&fq->lock, flags);
	fq->live = false;
	list_splice_tail_init(&fq->submitted, out);
	memset(fq->inflight, 0, fq->depth * sizeof(*fq->inflight));
	spin_unlock_irqrestore(&fq->lock, flags);
}
EXPORT_SYMBOL_NS_GPL(pvkit_fe_take_all, PVKIT);

void pvkit_fe_set_live(struct pvkit_fe_queue *fq, bool live)
{
	unsigned long flags;

	spin_lock_irqsave(&fq->lock, flags);
	fq->live = live;
	spin_unlock_irqrestore(&fq->lock, flags);
}
EXPORT_SYMBOL_NS_GPL(pvkit_fe_set_live, PVKIT);

/**
 * pvkit_fe_connect - acknowledge features and go live, as ABI.md 6.1 reads
 * @pdev: the device, OFFERED
 * @features: the driver's features (bits the host did not offer drop)
 * @wait_ms: how long to retry while the back-end is not ready (EBUSY)
 * @first: the driver instance never connected this device
 *
 * Return: 0; -EBUSY if the back-end was still not ready; -EPERM if the
 * device is not OFFERED (a restart under way: the next state change says
 * when to try again); another -errno from the hypercalls.
 */
int pvkit_fe_connect(struct pvkit_device *pdev, u64 features,
		     unsigned int wait_ms, bool first)
{
	unsigned int waited = 0;
	int err;

	/* an ack is a table change (config interrupt): once is enough */
	err = pvkit_dev_ack_features(pdev, features);
	if (err == -EPERM && first &&
	    READ_ONCE(pdev->state) == PVKIT_DEV_STATE_CONNECTED) {
		dev_info(&pdev->dev, "left connected by an earlier driver: resetting it\n");
		err = pvkit_dev_reset(pdev);
		if (!err)
			err = pvkit_dev_ack_features(pdev, features);
	}
	if (err) {
		if (err != -EPERM)
			dev_err(&pdev->dev, "cannot ack features %#llx: %d\n",
				features, err);
		return err;
	}
	for (;;) {
		err = pvkit_dev_connect(pdev);
		if (err != -EBUSY || waited >= wait_ms)
			return err;
		msleep(PVKIT_FE_CONNECT_STEP_MS);
		waited += PVKIT_FE_CONNECT_STEP_MS;
	}
}
EXPORT_SYMBOL_NS_GPL(pvkit_fe_connect, PVKIT);
