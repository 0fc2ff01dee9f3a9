// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvkit front-end library: queue set-up, interrupt binding, push + kick,
 * the reap loop, request-id tracking and resubmission, and the connect
 * rules, and the device lifecycle around back-end restarts, protocol
 * violations and hot-remove (pvkit/fe.h).  One implementation for every
 * device driver.
 *
 * Copyright (c) 2026 The pvkit authors
 */
#include <linux/delay.h>
#include <linux/printk.h>
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

/* Consume up to @budget responses; with @rearm, the final check at the end. */
static int pvkit_fe_reap_some(struct pvkit_fe_queue *fq, void *buf,
			      pvkit_fe_complete_t complete, void *ctx,
			      int budget, bool rearm)
{
	int avail, found = 0;

	lockdep_assert_held(&fq->lock);
	if (!fq->live)
		return 0;
	while (found < budget &&
	       (avail = pvkit_ring_rsp_pending(&fq->ring, rearm))) {
		if (avail < 0) {
			snprintf(fq->why, sizeof(fq->why),
				 "queue %u: response index beyond the requests in flight",
				 fq->index);
			goto violation;
		}
		while (avail-- && found < budget) {
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

int pvkit_fe_reap(struct pvkit_fe_queue *fq, void *buf,
		  pvkit_fe_complete_t complete, void *ctx)
{
	return pvkit_fe_reap_some(fq, buf, complete, ctx, INT_MAX, !fq->poll);
}
EXPORT_SYMBOL_NS_GPL(pvkit_fe_reap, PVKIT);

int pvkit_fe_reap_budget(struct pvkit_fe_queue *fq, void *buf,
			 pvkit_fe_complete_t complete, void *ctx, int budget)
{
	return pvkit_fe_reap_some(fq, buf, complete, ctx, budget, false);
}
EXPORT_SYMBOL_NS_GPL(pvkit_fe_reap_budget, PVKIT);

bool pvkit_fe_rearm(struct pvkit_fe_queue *fq)
{
	lockdep_assert_held(&fq->lock);
	if (!fq->live || fq->poll)
		return false;
	return pvkit_ring_rsp_pending(&fq->ring, true) != 0;
}
EXPORT_SYMBOL_NS_GPL(pvkit_fe_rearm, PVKIT);

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

/* ------------------------------------------------------------ lifecycle */

/* pvkit_fe_dev.flags */
enum {
	PVKIT_FE_F_BROKEN,	/* protocol violation seen */
	PVKIT_FE_F_RESET_DONE,	/* DEV_RESET issued (at most once) */
};

enum pvkit_fe_kill_how {
	PVKIT_FE_KILL_RESET,		/* protocol violation: DEV_RESET once */
	PVKIT_FE_KILL_DISCONNECT,	/* hot-remove: finish what the host has */
	PVKIT_FE_KILL_GONE,		/* the host is done with the device */
};

static inline struct device *pvkit_fe_dev_dev(struct pvkit_fe_dev *fd)
{
	return &fd->pdev->dev;
}

void pvkit_fe_dev_broken(struct pvkit_fe_dev *fd, const char *fmt, ...)
{
	struct va_format vaf;
	va_list args;

	if (test_and_set_bit(PVKIT_FE_F_BROKEN, &fd->flags))
		return;
	va_start(args, fmt);
	vaf.fmt = fmt;
	vaf.va = &args;
	dev_err(pvkit_fe_dev_dev(fd), "%s: device broken: %pV\n", fd->name,
		&vaf);
	va_end(args);
	schedule_work(&fd->broken_work);
}
EXPORT_SYMBOL_NS_GPL(pvkit_fe_dev_broken, PVKIT);

int pvkit_fe_dev_reap(struct pvkit_fe_dev *fd, struct pvkit_fe_queue *fq,
		      void *buf, void *ctx)
{
	int found;

	found = pvkit_fe_reap(fq, buf, fd->ops->complete, ctx);
	if (found < 0) {
		pvkit_fe_dev_broken(fd, "%s", fq->why);
		return 0;
	}
	return found;
}
EXPORT_SYMBOL_NS_GPL(pvkit_fe_dev_reap, PVKIT);

int pvkit_fe_dev_reap_budget(struct pvkit_fe_dev *fd,
			     struct pvkit_fe_queue *fq, void *buf, void *ctx,
			     int budget)
{
	int found;

	found = pvkit_fe_reap_budget(fq, buf, fd->ops->complete, ctx, budget);
	if (found < 0) {
		pvkit_fe_dev_broken(fd, "%s", fq->why);
		return 0;
	}
	return found;
}
EXPORT_SYMBOL_NS_GPL(pvkit_fe_dev_reap_budget, PVKIT);

/*
 * Reap @fq from the helper: @resume marks it live first (what arrived
 * while it was not read), else it is not read any more afterwards.
 */
static void pvkit_fe_dev_reap_once(struct pvkit_fe_dev *fd,
				   struct pvkit_fe_queue *fq, bool resume)
{
	spin_lock_irq(&fq->lock);
	if (resume)
		fq->live = true;
	pvkit_fe_dev_reap(fd, fq, fd->rsp, NULL);
	if (!resume)
		fq->live = false;
	spin_unlock_irq(&fq->lock);
}

static void pvkit_fe_dev_set_live(struct pvkit_fe_dev *fd, bool live)
{
	unsigned int i;

	for (i = 0; i < fd->nr_queues; i++)
		pvkit_fe_set_live(fd->queues[i], live);
}

/* Fail every request the host still owes us (it is done with them). */
static void pvkit_fe_dev_fail_inflight(struct pvkit_fe_dev *fd)
{
	struct pvkit_fe_req *r, *tmp;
	unsigned int i;

	for (i = 0; i < fd->nr_queues; i++) {
		LIST_HEAD(failed);

		pvkit_fe_take_all(fd->queues[i], &failed);
		list_for_each_entry_safe(r, tmp, &failed, node) {
			list_del_init(&r->node);
			fd->ops->fail(fd, r, -EIO);
		}
	}
}

/*
 * Make the device dead: from now on every request fails.  Requests in
 * flight fail once the host is known to be done with them.  Lock held.
 */
static void pvkit_fe_dev_kill(struct pvkit_fe_dev *fd,
			      enum pvkit_fe_kill_how how)
{
	struct device *dev = pvkit_fe_dev_dev(fd);
	bool quiesced = fd->state == PVKIT_FE_QUIESCED;
	unsigned int i;
	int err;

	lockdep_assert_held(&fd->lock);
	if (fd->state == PVKIT_FE_DEAD)
		return;
	WRITE_ONCE(fd->state, PVKIT_FE_DEAD);

	switch (how) {
	case PVKIT_FE_KILL_RESET:
		pvkit_fe_dev_set_live(fd, false);
		if (!test_and_set_bit(PVKIT_FE_F_RESET_DONE, &fd->flags)) {
			err = pvkit_dev_reset(fd->pdev);
			if (err)
				dev_warn(dev, "DEV_RESET failed: %d\n", err);
		}
		break;
	case PVKIT_FE_KILL_DISCONNECT:
		fd->ops->gone(fd);
		if (fd->connected) {
			/* the host answers what it has before returning */
			err = pvkit_dev_disconnect(fd->pdev);
			if (err)
				dev_warn(dev, "DEV_DISCONNECT failed: %d\n",
					 err);
		}
		for (i = 0; i < fd->nr_queues; i++)
			pvkit_fe_dev_reap_once(fd, fd->queues[i], false);
		break;
	case PVKIT_FE_KILL_GONE:
		fd->ops->gone(fd);
		pvkit_fe_dev_set_live(fd, false);
		break;
	}
	fd->connected = false;

	pvkit_fe_dev_fail_inflight(fd);
	if (quiesced)
		fd->ops->unquiesce(fd);
	/* let requests held by a full ring through, to fail */
	fd->ops->restart(fd);
}

static void pvkit_fe_dev_broken_work(struct work_struct *work)
{
	struct pvkit_fe_dev *fd = container_of(work, struct pvkit_fe_dev,
					       broken_work);

	mutex_lock(&fd->lock);
	pvkit_fe_dev_kill(fd, PVKIT_FE_KILL_RESET);
	mutex_unlock(&fd->lock);
}

/* Back-end gone: hold new I/O, keep what is in flight for resubmission. */
static void pvkit_fe_dev_quiesce(struct pvkit_fe_dev *fd)
{
	if (fd->state == PVKIT_FE_LIVE) {
		fd->ops->quiesce(fd);
		WRITE_ONCE(fd->state, PVKIT_FE_QUIESCED);
	}
	fd->connected = false;
}

/*
 * Reset the device after an I/O timeout.  DEV_RESET waits for the
 * back-end to drain; one that does not is killed and restarted by the
 * host (the call then answers EIO).  Either way the device comes back
 * OFFERED and the reconnect resubmits what is unanswered: the response
 * to a request can no longer arrive from the old connection.  A device
 * the host is removing is detached instead: DEV_DISCONNECT answers what
 * the host still has, the rest fails.
 */
static void pvkit_fe_dev_reset_work(struct work_struct *work)
{
	struct pvkit_fe_dev *fd = container_of(work, struct pvkit_fe_dev,
					       reset_work);
	struct device *dev = pvkit_fe_dev_dev(fd);
	int err;

	mutex_lock(&fd->lock);
	if (fd->state == PVKIT_FE_DETACHING) {
		dev_warn(dev, "%s: I/O timeout while the host removes the %s: detaching now\n",
			 fd->name, fd->noun);
		pvkit_fe_dev_kill(fd, PVKIT_FE_KILL_DISCONNECT);
		goto out;
	}
	/* one reset covers every request that timed out meanwhile */
	if (fd->state != PVKIT_FE_LIVE || !fd->connected)
		goto out;
	pvkit_fe_dev_quiesce(fd);
	err = pvkit_dev_reset(fd->pdev);
	if (err == -EIO) {
		dev_warn(dev, "%s: back-end did not drain: the host restarts it\n",
			 fd->name);
	} else if (err) {
		pvkit_fe_dev_broken(fd, "DEV_RESET after an I/O timeout failed: %d",
				    err);
	} else {
		dev_warn(dev, "%s: device reset after an I/O timeout\n",
			 fd->name);
	}
out:
	mutex_unlock(&fd->lock);
}

bool pvkit_fe_dev_timed_out(struct pvkit_fe_dev *fd)
{
	enum pvkit_fe_state state;

	/*
	 * Not during probe or remove: the bus cannot deliver a state change
	 * then (it holds the device lock), so a reset would never finish.
	 */
	if (READ_ONCE(fd->no_events)) {
		pvkit_fe_dev_broken(fd, "request timed out during probe or remove");
		return false;
	}
	/* a back-end being restarted is waited for: the host said so */
	state = READ_ONCE(fd->state);
	if (state != PVKIT_FE_LIVE && state != PVKIT_FE_DETACHING)
		return false;
	schedule_work(&fd->reset_work);
	return true;
}
EXPORT_SYMBOL_NS_GPL(pvkit_fe_dev_timed_out, PVKIT);

static int pvkit_fe_dev_do_connect(struct pvkit_fe_dev *fd,
				   unsigned int wait_ms, bool first)
{
	int err;

	err = pvkit_fe_connect(fd->pdev, fd->features, wait_ms, first);
	if (err)
		return err;
	fd->connected = true;
	fd->epoch = fd->pdev->epoch;
	return 0;
}

int pvkit_fe_dev_connect(struct pvkit_fe_dev *fd, unsigned int wait_ms)
{
	int err;

	mutex_lock(&fd->lock);
	err = pvkit_fe_dev_do_connect(fd, wait_ms, true);
	if (!err)
		pvkit_fe_dev_set_live(fd, true);
	mutex_unlock(&fd->lock);
	return err;
}
EXPORT_SYMBOL_NS_GPL(pvkit_fe_dev_connect, PVKIT);

static bool pvkit_fe_dev_drop(struct pvkit_fe_req *r, void *ctx)
{
	struct pvkit_fe_dev *fd = ctx;

	return fd->ops->drop(fd, r);
}

/*
 * Put every unanswered request of @fq on the fresh ring again, oldest
 * first, but those the driver drops (they fail with -ETIMEDOUT).
 * Returns how many were resubmitted, or a negative errno.
 */
static int pvkit_fe_dev_resubmit(struct pvkit_fe_dev *fd,
				 struct pvkit_fe_queue *fq)
{
	struct pvkit_fe_req *r, *tmp;
	unsigned int dropped = 0;
	LIST_HEAD(failed);
	int n;

	n = pvkit_fe_resubmit(fq, fd->ops->drop ? pvkit_fe_dev_drop : NULL,
			      fd, &failed);
	list_for_each_entry_safe(r, tmp, &failed, node) {
		list_del_init(&r->node);
		fd->ops->fail(fd, r, -ETIMEDOUT);
		dropped++;
	}
	if (dropped && fd->ops->dropped)
		fd->ops->dropped(fd, fq, dropped);
	return n;
}

/* The device is OFFERED again (new back-end): reconnect and resubmit. */
static void pvkit_fe_dev_reconnect(struct pvkit_fe_dev *fd)
{
	struct pvkit_device *pdev = fd->pdev;
	unsigned int i, resubmitted = 0;
	int err;

	pvkit_fe_dev_quiesce(fd);
	for (i = 0; i < fd->nr_queues; i++) {
		/* complete what the old back-end answered, stop reading */
		if (pvkit_fe_drain(fd->queues[i], fd->rsp, fd->ops->complete,
				   NULL))
			pvkit_fe_dev_broken(fd, "%s", fd->queues[i]->why);
	}
	if (test_bit(PVKIT_FE_F_BROKEN, &fd->flags))
		return;		/* the broken work kills the device */

	if ((pdev->features & fd->features) != fd->features) {
		pvkit_fe_dev_broken(fd, "features %#llx no longer offered",
				    fd->features & ~pdev->features);
		return;
	}
	for (i = 0; i < fd->nr_queues; i++) {
		struct pvkit_fe_queue *fq = fd->queues[i];

		if (!pvkit_fe_queue_ok(pdev, fq->index, fq->depth,
				       fq->req_size, fq->rsp_size)) {
			pvkit_fe_dev_broken(fd, "queue %u unusable after reset",
					    fq->index);
			return;
		}
	}

	err = pvkit_fe_dev_do_connect(fd, 0, false);
	if (err == -EBUSY || err == -EPERM) {
		/* not ready (or not OFFERED after all): next change retries */
		dev_info(&pdev->dev, "reconnect deferred: %d\n", err);
		return;
	}
	if (err) {
		pvkit_fe_dev_broken(fd, "reconnect failed: %d", err);
		return;
	}
	for (i = 0; i < fd->nr_queues; i++) {
		err = pvkit_fe_dev_resubmit(fd, fd->queues[i]);
		if (err < 0) {
			pvkit_fe_dev_broken(fd, "queue %u: resubmission failed: %d",
					    fd->queues[i]->index, err);
			return;
		}
		resubmitted += err;
	}
	WRITE_ONCE(fd->state, PVKIT_FE_LIVE);
	fd->ops->unquiesce(fd);
	fd->ops->restart(fd);
	dev_info(&pdev->dev, "%s: reconnected, epoch %u, %u requests resubmitted\n",
		 fd->name, fd->epoch, resubmitted);
}

/*
 * The device is CONNECTED while we hold its I/O and have not connected
 * since: the reset (or OFFERED) we were told about predates our last
 * DEV_CONNECT, because notifications can lag behind hypercalls.  That
 * connection is live: read the rings again and let I/O go.
 */
static void pvkit_fe_dev_resume(struct pvkit_fe_dev *fd)
{
	unsigned int i;

	for (i = 0; i < fd->nr_queues; i++)
		pvkit_fe_dev_reap_once(fd, fd->queues[i], true);
	if (test_bit(PVKIT_FE_F_BROKEN, &fd->flags))
		return;
	fd->connected = true;
	fd->epoch = fd->pdev->epoch;
	WRITE_ONCE(fd->state, PVKIT_FE_LIVE);
	fd->ops->unquiesce(fd);
	fd->ops->restart(fd);
	dev_info(pvkit_fe_dev_dev(fd), "%s: connection still live, resumed\n",
		 fd->name);
}

/*
 * CLOSING: the host removes the device.  Unused, it goes at once:
 * DEV_DISCONNECT lets the host finish what it has (it then frees the
 * slot), the rest fails.  In use (and live), I/O goes on and the detach
 * waits for the last release, like Xen's closing handshake; the host may
 * force it with FREE.
 */
static void pvkit_fe_dev_closing(struct pvkit_fe_dev *fd)
{
	struct device *dev = pvkit_fe_dev_dev(fd);

	if (fd->state == PVKIT_FE_DETACHING)
		return;
	if (fd->state == PVKIT_FE_LIVE && fd->connected && fd->ops->in_use &&
	    fd->ops->in_use(fd)) {
		dev_info(dev, "%s: host removes the %s; in use, detaching on last close\n",
			 fd->name, fd->noun);
		WRITE_ONCE(fd->state, PVKIT_FE_DETACHING);
		return;
	}
	dev_info(dev, "%s: host removes the %s\n", fd->name, fd->noun);
	pvkit_fe_dev_kill(fd, PVKIT_FE_KILL_DISCONNECT);
}

void pvkit_fe_dev_state_changed(struct pvkit_fe_dev *fd, u32 old_state)
{
	struct pvkit_device *pdev = fd->pdev;
	u32 state = pdev->state;

	mutex_lock(&fd->lock);
	dev_dbg(&pdev->dev, "state %u -> %u, epoch %u\n", old_state, state,
		pdev->epoch);
	if (fd->state == PVKIT_FE_DEAD)
		goto out;
	/* detaching, only the end of the device matters */
	if (fd->state == PVKIT_FE_DETACHING &&
	    state != PVKIT_DEV_STATE_BROKEN && state != PVKIT_DEV_STATE_FREE)
		goto out;

	switch (state) {
	case PVKIT_DEV_STATE_RESETTING:
		pvkit_fe_dev_quiesce(fd);
		break;
	case PVKIT_DEV_STATE_CONNECTED:
		if (fd->state == PVKIT_FE_QUIESCED)
			pvkit_fe_dev_resume(fd);
		break;
	case PVKIT_DEV_STATE_OFFERED:
		/* a stale OFFERED from before our own connect changes nothing */
		if (fd->state == PVKIT_FE_QUIESCED || pdev->epoch != fd->epoch ||
		    old_state != PVKIT_DEV_STATE_OFFERED)
			pvkit_fe_dev_reconnect(fd);
		break;
	case PVKIT_DEV_STATE_CLOSING:
		pvkit_fe_dev_closing(fd);
		break;
	case PVKIT_DEV_STATE_BROKEN:
		dev_err(&pdev->dev, "%s: host gave up on the back-end\n",
			fd->name);
		pvkit_fe_dev_kill(fd, PVKIT_FE_KILL_GONE);
		break;
	case PVKIT_DEV_STATE_FREE:
		pvkit_fe_dev_kill(fd, PVKIT_FE_KILL_GONE);
		break;
	default:
		break;
	}
out:
	mutex_unlock(&fd->lock);
}
EXPORT_SYMBOL_NS_GPL(pvkit_fe_dev_state_changed, PVKIT);

void pvkit_fe_dev_release(struct pvkit_fe_dev *fd)
{
	mutex_lock(&fd->lock);
	if (fd->state == PVKIT_FE_DETACHING && !fd->ops->in_use(fd)) {
		dev_info(pvkit_fe_dev_dev(fd), "%s: last close: detaching\n",
			 fd->name);
		pvkit_fe_dev_kill(fd, PVKIT_FE_KILL_DISCONNECT);
	}
	mutex_unlock(&fd->lock);
}
EXPORT_SYMBOL_NS_GPL(pvkit_fe_dev_release, PVKIT);

void pvkit_fe_dev_remove_begin(struct pvkit_fe_dev *fd)
{
	u32 state = READ_ONCE(fd->pdev->state);

	mutex_lock(&fd->lock);
	WRITE_ONCE(fd->no_events, true);
	if (fd->state == PVKIT_FE_DETACHING &&
	    state == PVKIT_DEV_STATE_CLOSING) {
		/* unbound while the host waits for us: it still answers */
		pvkit_fe_dev_kill(fd, PVKIT_FE_KILL_DISCONNECT);
	} else if (fd->state != PVKIT_FE_LIVE || !fd->connected ||
		   state != PVKIT_DEV_STATE_CONNECTED) {
		/* nothing will reconnect a device that is not live */
		if (fd->state == PVKIT_FE_DETACHING)
			dev_warn(pvkit_fe_dev_dev(fd), "%s: host forced the removal: I/O in flight fails\n",
				 fd->name);
		pvkit_fe_dev_kill(fd, PVKIT_FE_KILL_GONE);
	}
	mutex_unlock(&fd->lock);
}
EXPORT_SYMBOL_NS_GPL(pvkit_fe_dev_remove_begin, PVKIT);

void pvkit_fe_dev_remove_end(struct pvkit_fe_dev *fd)
{
	mutex_lock(&fd->lock);
	pvkit_fe_dev_set_live(fd, false);
	if (fd->connected) {
		pvkit_dev_disconnect(fd->pdev);
		fd->connected = false;
	}
	WRITE_ONCE(fd->state, PVKIT_FE_DEAD);
	mutex_unlock(&fd->lock);
	/* the rings are not read: nothing schedules these any more */
	cancel_work_sync(&fd->broken_work);
	cancel_work_sync(&fd->reset_work);
}
EXPORT_SYMBOL_NS_GPL(pvkit_fe_dev_remove_end, PVKIT);

int pvkit_fe_dev_init(struct pvkit_fe_dev *fd, struct pvkit_device *pdev,
		      const struct pvkit_fe_dev_ops *ops,
		      unsigned int nr_queues, u32 rsp_size)
{
	fd->queues = kcalloc(nr_queues, sizeof(*fd->queues), GFP_KERNEL);
	fd->rsp = kzalloc(rsp_size, GFP_KERNEL);
	if (!fd->queues || !fd->rsp) {
		kfree(fd->queues);
		kfree(fd->rsp);
		fd->queues = NULL;
		fd->rsp = NULL;
		return -ENOMEM;
	}
	fd->pdev = pdev;
	fd->ops = ops;
	fd->nr_queues = nr_queues;
	fd->name = dev_name(&pdev->dev);
	fd->noun = "device";
	fd->state = PVKIT_FE_LIVE;
	fd->connected = false;
	fd->flags = 0;
	mutex_init(&fd->lock);
	INIT_WORK(&fd->broken_work, pvkit_fe_dev_broken_work);
	INIT_WORK(&fd->reset_work, pvkit_fe_dev_reset_work);
	return 0;
}
EXPORT_SYMBOL_NS_GPL(pvkit_fe_dev_init, PVKIT);

void pvkit_fe_dev_destroy(struct pvkit_fe_dev *fd)
{
	if (!fd->queues)
		return;
	mutex_destroy(&fd->lock);
	kfree(fd->rsp);
	kfree(fd->queues);
	fd->rsp = NULL;
	fd->queues = NULL;
}
EXPORT_SYMBOL_NS_GPL(pvkit_fe_dev_destroy, PVKIT);

/* ------------------------------------------------------ synchronous calls */

void pvkit_fe_call_init(struct pvkit_fe_call *c, void *slot, void *rsp,
			u32 rsp_size)
{
	memset(c, 0, sizeof(*c));
	c->fr.slot = slot;
	c->rsp = rsp;
	c->rsp_size = rsp_size;
	init_completion(&c->done);
}
EXPORT_SYMBOL_NS_GPL(pvkit_fe_call_init, PVKIT);

bool pvkit_fe_call_complete(struct pvkit_fe_call *c, const void *rsp)
{
	memcpy(c->rsp, rsp, c->rsp_size);
	c->err = 0;
	complete(&c->done);
	return true;
}
EXPORT_SYMBOL_NS_GPL(pvkit_fe_call_complete, PVKIT);

void pvkit_fe_call_fail(struct pvkit_fe_call *c)
{
	c->err = -EIO;
	complete(&c->done);
}
EXPORT_SYMBOL_NS_GPL(pvkit_fe_call_fail, PVKIT);

int pvkit_fe_call(struct pvkit_fe_dev *fd, struct pvkit_fe_queue *fq,
		  struct pvkit_fe_call *c, u16 tag, unsigned int timeout_ms,
		  unsigned int restart_ms)
{
	unsigned long deadline, tmo = msecs_to_jiffies(timeout_ms);
	bool kick;
	int err;

	if (pvkit_fe_dev_dead(fd) || c->lost)
		return -ENODEV;
	c->err = -EIO;
	reinit_completion(&c->done);
	spin_lock_irq(&fq->lock);
	err = pvkit_fe_submit(fq, &c->fr, tag);
	kick = !err && pvkit_fe_push(fq);
	spin_unlock_irq(&fq->lock);
	if (err)
		return err;
	if (kick)
		pvkit_fe_kick(fq);
	deadline = jiffies + msecs_to_jiffies(restart_ms);
	while (!wait_for_completion_timeout(&c->done, tmo)) {
		/*
		 * A back-end being restarted answers once it is back.  Not
		 * in probe or remove (no_events): the bus may be probing us
		 * from the work that would tell us the state, so what we see
		 * can be stale.
		 */
		if (READ_ONCE(fd->pdev->state) != PVKIT_DEV_STATE_CONNECTED &&
		    !READ_ONCE(fd->no_events) && !pvkit_fe_dev_dead(fd) &&
		    time_before(jiffies, deadline))
			continue;
		/* the device breaks: its reset fails the request */
		pvkit_fe_dev_broken(fd, "%s call on queue %u unanswered",
				    fd->noun, fq->index);
		if (!wait_for_completion_timeout(&c->done, tmo)) {
			/* still tracked: never reuse the slot */
			c->lost = true;
			return -EIO;
		}
		break;
	}
	return c->err;
}
EXPORT_SYMBOL_NS_GPL(pvkit_fe_call, PVKIT);
