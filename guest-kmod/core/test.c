// SPDX-License-Identifier: GPL-2.0-only
/*
 * The built-in driver for PVKIT_DEV_TEST (an echo ring: the host answers
 * each pvkit_test_msg with the same id and value ^ PVKIT_TEST_XOR), and
 * the ping-pong round trips /dev/pvkit (dev.c) runs on it.
 *
 * Copyright (c) 2026 The pvkit authors
 */
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/random.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/wait.h>
#include <pvkit/fe.h>
#include <pvkit/pvkit_ioctl.h>

#include "core.h"

struct pvkit_test {
	struct pvkit_device *pdev;
	struct list_head node;		/* in pvkit_tests */
	struct mutex lock;		/* ring and connection state */
	struct pvkit_ring ring;		/* queue 0, valid while connected */
	wait_queue_head_t wq;		/* woken by the queue irq */
	atomic64_t irqs;
	u64 next_id;
	u32 epoch;			/* device epoch at connect */
	bool connected;
	bool broken;			/* ring out of step: reset first */
};

static LIST_HEAD(pvkit_tests);
static DEFINE_MUTEX(pvkit_tests_lock);

static irqreturn_t pvkit_test_irq(int irq, void *data)
{
	struct pvkit_test *t = data;

	atomic64_inc(&t->irqs);
	wake_up(&t->wq);
	return IRQ_HANDLED;
}

/* OFFERED -> CONNECTED with fresh rings.  t->lock held. */
static int pvkit_test_connect(struct pvkit_test *t)
{
	struct pvkit_device *pdev = t->pdev;
	const struct pvkit_queue_info *qi = &pdev->queues[0];
	int err;

	t->connected = false;
	if (t->broken) {
		/* the host sorts out in-flight requests; rings reset below */
		pvkit_dev_reset(pdev);
		t->broken = false;
	}
	/* not connected by us: a CONNECTED device is stale, reset first */
	err = pvkit_fe_connect(pdev, 0, 0, true);
	if (err)
		return err;
	/* connect zeroed the ring header: private indices start at zero */
	err = pvkit_ring_attach(&t->ring, pvkit_queue_ring(pdev, 0), qi->slots,
				qi->req_size, qi->rsp_size);
	if (err)
		return err;
	t->epoch = READ_ONCE(pdev->epoch);
	t->connected = true;
	return 0;
}

static int pvkit_test_probe(struct pvkit_device *pdev)
{
	struct pvkit_test *t;
	char name[32];
	int err;

	/* one request in flight at a time */
	if (!pvkit_fe_queue_ok(pdev, 0, 1, sizeof(struct pvkit_test_msg),
			       sizeof(struct pvkit_test_msg)))
		return -EINVAL;
	t = devm_kzalloc(&pdev->dev, sizeof(*t), GFP_KERNEL);
	if (!t)
		return -ENOMEM;
	t->pdev = pdev;
	mutex_init(&t->lock);
	init_waitqueue_head(&t->wq);
	dev_set_drvdata(&pdev->dev, t);

	snprintf(name, sizeof(name), "pvkit-%s-q0", dev_name(&pdev->dev));
	err = pvkit_queue_request_irq(pdev, 0, pvkit_test_irq, name, t);
	if (err < 0)
		goto err_destroy_lock;

	mutex_lock(&t->lock);
	err = pvkit_test_connect(t);
	mutex_unlock(&t->lock);
	/* not ready or not OFFERED yet: connect on the next state change */
	if (err && err != -EBUSY && err != -EPERM)
		goto err_free_irq;

	mutex_lock(&pvkit_tests_lock);
	list_add_tail(&t->node, &pvkit_tests);
	mutex_unlock(&pvkit_tests_lock);
	return 0;

err_free_irq:
	pvkit_queue_free_irq(pdev, 0, t);
err_destroy_lock:
	mutex_destroy(&t->lock);
	return err;
}

static void pvkit_test_remove(struct pvkit_device *pdev)
{
	struct pvkit_test *t = dev_get_drvdata(&pdev->dev);

	mutex_lock(&pvkit_tests_lock);
	list_del(&t->node);
	mutex_unlock(&pvkit_tests_lock);

	/* no ioctl can find t now; wait for one that already did */
	mutex_lock(&t->lock);
	if (t->connected)
		pvkit_dev_disconnect(pdev);
	t->connected = false;
	mutex_unlock(&t->lock);

	pvkit_queue_free_irq(pdev, 0, t);
	mutex_destroy(&t->lock);
}

static void pvkit_test_state_changed(struct pvkit_device *pdev, u32 old)
{
	struct pvkit_test *t = dev_get_drvdata(&pdev->dev);

	mutex_lock(&t->lock);
	switch (READ_ONCE(pdev->state)) {
	case PVKIT_DEV_STATE_OFFERED:
		/* back-end restarted (new epoch), or a connect to retry */
		if (!t->connected || READ_ONCE(pdev->epoch) != t->epoch)
			pvkit_test_connect(t);
		break;
	case PVKIT_DEV_STATE_CONNECTED:
		break;
	case PVKIT_DEV_STATE_CLOSING:
		if (t->connected)
			pvkit_dev_disconnect(pdev);
		t->connected = false;
		break;
	default:
		t->connected = false;
		break;
	}
	mutex_unlock(&t->lock);
}

static struct pvkit_driver pvkit_test_driver = {
	.driver.name	= "pvkit_test",
	.type		= PVKIT_DEV_TEST,
	.probe		= pvkit_test_probe,
	.remove		= pvkit_test_remove,
	.state_changed	= pvkit_test_state_changed,
};

/* ------------------------------------------------------- ping-pong --- */

static bool pvkit_test_rsp_ready(struct pvkit_test *t)
{
	return pvkit_ring_rsp_avail(&t->ring) != 0;
}

/* Wait for a response: its count, -ETIMEDOUT or -EPROTO. */
static int pvkit_test_wait(struct pvkit_test *t, u32 mode)
{
	unsigned long timeout = msecs_to_jiffies(READ_ONCE(pvkit_hc_timeout_ms));
	unsigned long deadline = jiffies + timeout;
	int avail;

	if (mode == PVKIT_PINGPONG_POLL) {
		/* rsp_event is left behind, so the host sends no irq */
		for (;;) {
			avail = pvkit_ring_rsp_avail(&t->ring);
			if (avail)
				return avail;
			if (time_after(jiffies, deadline))
				return -ETIMEDOUT;
			if (need_resched())
				cond_resched();
			else
				cpu_relax();
		}
	}
	/* rsp_event = rsp_cons, full barrier, look again: no lost wake-up */
	avail = pvkit_ring_rsp_pending(&t->ring, true);
	if (avail)
		return avail;
	wait_event_timeout(t->wq, pvkit_test_rsp_ready(t), timeout);
	avail = pvkit_ring_rsp_avail(&t->ring);
	return avail ? avail : -ETIMEDOUT;
}

/* Run the round trips.  t->lock held, connected. */
static int pvkit_test_pingpong(struct pvkit_test *t,
			       struct pvkit_ioc_pingpong *pp, u64 *lat)
{
	struct pvkit_device *pdev = t->pdev;
	struct pvkit_queue_state *qs = &to_pvkit_priv(pdev)->qs[0];
	u64 irqs0 = atomic64_read(&t->irqs);
	u64 kicks0 = atomic64_read(&qs->kicks);
	u64 supp0 = atomic64_read(&qs->kicks_suppressed);
	struct pvkit_test_msg req, rsp;
	u64 start, value;
	size_t n = 0;
	int err = 0;
	int avail;
	u32 i;

	for (i = 0; i < pp->count; i++) {
		if (fatal_signal_pending(current)) {
			err = -EINTR;
			break;
		}
		value = get_random_u64();
		req.id = cpu_to_le64(t->next_id++);
		req.value = cpu_to_le64(value);

		start = ktime_get_ns();
		if (pvkit_ring_put_req(&t->ring, &req, sizeof(req))) {
			/* one request in flight at most: the host ate one */
			pvkit_queue_stat(pdev, 0, PVKIT_STAT_RING_FULL);
			t->broken = true;
			break;
		}
		if (pvkit_fe_ring_push(pdev, 0, &t->ring))
			pvkit_queue_kick(pdev, 0);
		avail = pvkit_test_wait(t, pp->mode);
		if (avail < 0) {
			dev_warn_ratelimited(&pdev->dev, "round trip %u: %s\n",
					     i, avail == -EPROTO ?
					     "bad response index" :
					     "no response");
			if (avail == -EPROTO)
				pp->mismatched++;
			t->broken = true;
			break;
		}
		/* copy, then validate */
		pvkit_ring_get_rsp(&t->ring, &rsp, sizeof(rsp));
		lat[n] = ktime_get_ns() - start;
		if (rsp.id != req.id) {
			/* out of step with the host: stop and reset */
			dev_warn_ratelimited(&pdev->dev,
					     "round trip %u: response id %llu, expected %llu\n",
					     i, le64_to_cpu(rsp.id),
					     le64_to_cpu(req.id));
			pp->mismatched++;
			t->broken = true;
			break;
		}
		if (le64_to_cpu(rsp.value) != (value ^ PVKIT_TEST_XOR)) {
			pp->mismatched++;
			continue;
		}
		pp->completed++;
		n++;
		if (!(i & 255))
			cond_resched();
	}
	pp->lost = pp->count - pp->completed - pp->mismatched;
	pp->irqs = atomic64_read(&t->irqs) - irqs0;
	pp->kicks = atomic64_read(&qs->kicks) - kicks0;
	pp->kicks_suppressed = atomic64_read(&qs->kicks_suppressed) - supp0;
	pp->lat.total_ns = n;	/* samples in lat[]: dev.c summarizes */
	return err;
}

/**
 * pvkit_test_pingpong_run - round trips on test device @pp->instance
 * @pp: the request (checked by the caller); counters are filled in
 * @lat: room for @pp->count latencies; pp->lat.total_ns says how many
 *
 * Return: 0 or -errno (-ENODEV: no such test device).
 */
int pvkit_test_pingpong_run(struct pvkit_ioc_pingpong *pp, u64 *lat)
{
	struct pvkit_test *t, *found = NULL;
	int err;

	mutex_lock(&pvkit_tests_lock);
	list_for_each_entry(t, &pvkit_tests, node) {
		if (t->pdev->instance == pp->instance) {
			found = t;
			break;
		}
	}
	if (!found) {
		mutex_unlock(&pvkit_tests_lock);
		return -ENODEV;
	}
	/* remove() unlists first, then waits for this lock */
	mutex_lock(&found->lock);
	mutex_unlock(&pvkit_tests_lock);

	err = 0;
	if (!found->connected || found->broken)
		err = pvkit_test_connect(found);
	if (!err)
		err = pvkit_test_pingpong(found, pp, lat);
	mutex_unlock(&found->lock);
	return err;
}

int pvkit_test_init(void)
{
	return pvkit_register_driver(&pvkit_test_driver);
}

void pvkit_test_exit(void)
{
	pvkit_unregister_driver(&pvkit_test_driver);
}
