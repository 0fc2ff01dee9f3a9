// SPDX-License-Identifier: GPL-2.0-only
/*
 * /dev/pvkit, the root-only test and benchmark interface of
 * pvkit/pvkit_ioctl.h (raw hypercalls, hypercall and ping-pong
 * benchmarks), and the list of pvkit devices it works on.
 *
 * Copyright (c) 2026 The pvkit authors
 */
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/list.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/random.h>
#include <linux/rwsem.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/uaccess.h>
#include <pvkit/pvkit_ioctl.h>

#include "core.h"

static LIST_HEAD(pvkit_cores);
static DECLARE_RWSEM(pvkit_cores_rwsem);

void pvkit_dev_add_core(struct pvkit_core *core)
{
	down_write(&pvkit_cores_rwsem);
	list_add_tail(&core->node, &pvkit_cores);
	up_write(&pvkit_cores_rwsem);
}

/* Waits for an ioctl that holds @core. */
void pvkit_dev_remove_core(struct pvkit_core *core)
{
	down_write(&pvkit_cores_rwsem);
	list_del_init(&core->node);
	up_write(&pvkit_cores_rwsem);
}

/**
 * pvkit_core_get_first - the first pvkit device, held against removal
 *
 * Return: the core, or NULL if there is none; release with
 * pvkit_core_put().  May sleep; keeps PCI remove waiting while held.
 */
static struct pvkit_core *pvkit_core_get_first(void)
{
	struct pvkit_core *core;

	down_read(&pvkit_cores_rwsem);
	core = list_first_entry_or_null(&pvkit_cores, struct pvkit_core, node);
	if (!core)
		up_read(&pvkit_cores_rwsem);
	return core;
}

static void pvkit_core_put(struct pvkit_core *core)
{
	up_read(&pvkit_cores_rwsem);
}

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

	err = pvkit_test_pingpong_run(&pp, lat);
	if (!err)
		pvkit_lat_summarize(lat, pp.lat.total_ns, &pp.lat);
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

int pvkit_dev_init(void)
{
	return misc_register(&pvkit_miscdev);
}

void pvkit_dev_exit(void)
{
	misc_deregister(&pvkit_miscdev);
}
