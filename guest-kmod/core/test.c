// SPDX-License-Identifier: GPL-2.0-only
/*
 * The built-in driver for PVKIT_DEV_TEST (an echo ring: the host answers
 * each pvkit_test_msg with the same id and value ^ PVKIT_TEST_XOR) and
 * /dev/pvkit, the root-only test and benchmark interface of
 * pvkit/pvkit_ioctl.h.
 *
 * Copyright (c) 2026 The pvkit authors
 */
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/list.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/random.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <pvkit/pvkit_ioctl.h>
#include <pvkit/ring.h>

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
	err = pvkit_dev_ack_features(pdev, 0);
	if (err == -EPERM) {
		/* left connected by a previous driver instance */
		err = pvkit_dev_reset(pdev);
		if (!err)
			err = pvkit_dev_ack_features(pdev, 0);
	}
	if (err)
		return err;
	err = pvkit_dev_connect(pdev);
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
	const struct pvkit_queue_info *qi = &pdev->queues[0];
	struct pvkit_test *t;
	char name[32];
	int err;

	if (!pdev->nr_queues ||
	    qi->req_size < sizeof(struct pvkit_test_msg) ||
	    qi->rsp_size < sizeof(struct pvkit_test_msg)) {
		dev_err(&pdev->dev, "test device needs a queue of 16-byte slots\n");
		return -EINVAL;
	}
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

/* ------------------------------------------------------- benchmarks --- */

static int pvkit_cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentiles over @n samples (sorts @lat). */
static void pvkit_lat_summarize(u64 *lat, size_t n, struct pvkit_ioc_lat *out)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	if (!n)
		return;
	for (i = 0; i < n; i++)
		out->total_ns += lat[i];
	sort(lat, n, sizeof(*lat), pvkit_cmp_u64, NULL);
	out->min_ns = lat[0];
	out->p50_ns = lat[DIV_ROUND_UP(n * 50, 100) - 1];
	out->p99_ns = lat[DIV_ROUND_UP(n * 99, 100) - 1];
	out->max_ns = lat[n - 1];
}

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
	avail = pvkit_ring_rsp_avail(&t->ring);
	if (avail)
		return avail;
	/* rsp_event = rsp_cons, full barrier, look again: no lost wake-up */
	avail = pvkit_ring_final_check_rsp(&t->ring);
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
		if (pvkit_ring_push_reqs(&t->ring))
			pvkit_queue_kick(pdev, 0);
		else
			pvkit_queue_stat(pdev, 0, PVKIT_STAT_KICK_SUPPRESSED);
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
	pvkit_lat_summarize(lat, n, &pp->lat);
	return err;
}

static void pvkit_pingpong_clear_out(struct pvkit_ioc_pingpong *pp)
{
	pp->completed = 0;
	pp->lost = 0;
	pp->mismatched = 0;
	pp->irqs = 0;
	pp->kicks = 0;
	pp->kicks_suppressed = 0;
	memset(&pp->lat, 0, sizeof(pp->lat));
}

static long pvkit_ioc_pingpong(void __user *uarg)
{
	struct pvkit_ioc_pingpong pp;
	struct pvkit_test *t, *found = NULL;
	u64 *lat;
	int err;

	if (copy_from_user(&pp, uarg, sizeof(pp)))
		return -EFAULT;
	if (!pp.count || pp.count > PVKIT_BENCH_MAX_COUNT || pp.flags ||
	    (pp.mode != PVKIT_PINGPONG_IRQ && pp.mode != PVKIT_PINGPONG_POLL))
		return -EINVAL;
	pvkit_pingpong_clear_out(&pp);
	lat = kvmalloc_array(pp.count, sizeof(*lat), GFP_KERNEL);
	if (!lat)
		return -ENOMEM;

	mutex_lock(&pvkit_tests_lock);
	list_for_each_entry(t, &pvkit_tests, node) {
		if (t->pdev->instance == pp.instance) {
			found = t;
			break;
		}
	}
	if (!found) {
		mutex_unlock(&pvkit_tests_lock);
		kvfree(lat);
		return -ENODEV;
	}
	/* remove() unlists first, then waits for this lock */
	mutex_lock(&found->lock);
	mutex_unlock(&pvkit_tests_lock);

	err = 0;
	if (!found->connected || found->broken)
		err = pvkit_test_connect(found);
	if (!err)
		err = pvkit_test_pingpong(found, &pp, lat);
	mutex_unlock(&found->lock);
	kvfree(lat);
	if (err)
		return err;
	return copy_to_user(uarg, &pp, sizeof(pp)) ? -EFAULT : 0;
}

static long pvkit_ioc_hc_bench(void __user *uarg)
{
	u64 args[PVKIT_HC_NR_ARGS] = { 0 };
	struct pvkit_ioc_hc_bench hb;
	struct pvkit_core *core;
	u64 sleeps0, start, dt, expect;
	size_t n = 0;
	int err = 0;
	u64 *lat;
	s64 ret;
	u32 i;

	if (copy_from_user(&hb, uarg, sizeof(hb)))
		return -EFAULT;
	if (!hb.count || hb.count > PVKIT_BENCH_MAX_COUNT || hb.flags)
		return -EINVAL;
	hb.completed = 0;
	hb.errors = 0;
	hb.sleeps = 0;
	lat = kvmalloc_array(hb.count, sizeof(*lat), GFP_KERNEL);
	if (!lat)
		return -ENOMEM;
	core = pvkit_core_get_first();
	if (!core) {
		kvfree(lat);
		return -ENODEV;
	}

	sleeps0 = atomic64_read(&core->stats.hypercall_sleeps);
	for (i = 0; i < hb.count; i++) {
		if (fatal_signal_pending(current)) {
			err = -EINTR;
			break;
		}
		args[0] = get_random_u64();
		args[1] = get_random_u64();
		args[2] = get_random_u64();
		args[3] = get_random_u64();
		expect = (args[0] ^ args[1] ^ args[2] ^ args[3]) & S64_MAX;
		start = ktime_get_ns();
		if (pvkit_hypercall_raw(core, PVKIT_HC_ECHO, args, &ret)) {
			hb.errors++;
			break;		/* timed out: the host is not there */
		}
		dt = ktime_get_ns() - start;
		if ((u64)ret != expect) {
			hb.errors++;
			continue;
		}
		lat[n++] = dt;
		hb.completed++;
		if (!(i & 255))
			cond_resched();
	}
	hb.sleeps = atomic64_read(&core->stats.hypercall_sleeps) - sleeps0;
	pvkit_core_put(core);
	pvkit_lat_summarize(lat, n, &hb.lat);
	kvfree(lat);
	if (err)
		return err;
	return copy_to_user(uarg, &hb, sizeof(hb)) ? -EFAULT : 0;
}

static long pvkit_ioc_hypercall(void __user *uarg)
{
	struct pvkit_ioc_hypercall hc;
	struct pvkit_core *core;
	s64 ret;
	int err;

	if (copy_from_user(&hc, uarg, sizeof(hc)))
		return -EFAULT;
	if (hc.pad)
		return -EINVAL;
	core = pvkit_core_get_first();
	if (!core)
		return -ENODEV;
	err = pvkit_hypercall_raw(core, hc.nr, hc.args, &ret);
	pvkit_core_put(core);
	if (err)
		return err;
	hc.ret = ret;
	return copy_to_user(uarg, &hc, sizeof(hc)) ? -EFAULT : 0;
}

static long pvkit_misc_ioctl(struct file *file, unsigned int cmd,
			     unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case PVKIT_IOC_HYPERCALL:
		return pvkit_ioc_hypercall(uarg);
	case PVKIT_IOC_PINGPONG:
		return pvkit_ioc_pingpong(uarg);
	case PVKIT_IOC_HC_BENCH:
		return pvkit_ioc_hc_bench(uarg);
	}
	return -ENOTTY;
}

static int pvkit_misc_open(struct inode *inode, struct file *file)
{
	/* raw hypercalls and device resets: root only, whatever the mode */
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	return 0;
}

static const struct file_operations pvkit_misc_fops = {
	.owner		= THIS_MODULE,
	.open		= pvkit_misc_open,
	.unlocked_ioctl	= pvkit_misc_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice pvkit_miscdev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "pvkit",
	.fops	= &pvkit_misc_fops,
	.mode	= 0600,
};

int pvkit_test_init(void)
{
	int err;

	err = pvkit_register_driver(&pvkit_test_driver);
	if (err)
		return err;
	err = misc_register(&pvkit_miscdev);
	if (err)
		goto err_unregister_driver;
	return 0;

err_unregister_driver:
	pvkit_unregister_driver(&pvkit_test_driver);
	return err;
}

void pvkit_test_exit(void)
{
	misc_deregister(&pvkit_miscdev);
	pvkit_unregister_driver(&pvkit_test_driver);
}
