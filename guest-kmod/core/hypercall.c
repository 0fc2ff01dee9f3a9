// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvkit hypercalls over the shared-region mailboxes (ABI.md section 4).
 *
 * A call takes the mailbox of the current CPU (modulo the mailbox count)
 * under its mutex, writes the guest half, publishes call_seq with release
 * semantics and rings the hypercall doorbell.  It then spins for a short
 * while on done_seq; if the host has not answered by then it sets
 * PVKIT_MBOX_F_IRQ and sleeps until the hypercall vector fires or the
 * timeout expires.  A timed-out mailbox is skipped until the host catches
 * up (done_seq == the call_seq we posted).
 *
 * Copyright (c) 2026 The pvkit authors
 */
#include <linux/errno.h>
#include <linux/io.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/wait.h>
#include <asm/barrier.h>
#include <asm/byteorder.h>

#include "core.h"

unsigned int pvkit_hc_timeout_ms = 10000;
module_param_named(hc_timeout_ms, pvkit_hc_timeout_ms, uint, 0644);
MODULE_PARM_DESC(hc_timeout_ms, "Hypercall timeout in ms (default 10000, ABI minimum)");

static unsigned int pvkit_hc_spin_us = 50;
module_param_named(hc_spin_us, pvkit_hc_spin_us, uint, 0644);
MODULE_PARM_DESC(hc_spin_us,
		 "Busy-wait this long for a hypercall before sleeping (default 50)");

int pvkit_mbox_init(struct pvkit_core *core)
{
	unsigned int i, n = core->lay.nr_mailboxes;

	core->mbox = kcalloc(n, sizeof(*core->mbox), GFP_KERNEL);
	if (!core->mbox)
		return -ENOMEM;
	init_waitqueue_head(&core->hc_wq);
	for (i = 0; i < n; i++) {
		struct pvkit_mbox *m = &core->mbox[i];
		u32 call, done;

		mutex_init(&m->lock);
		m->shared = core->shm + core->lay.mailbox_offset +
			    (size_t)i * sizeof(struct pvkit_mailbox);
		/*
		 * A previous instance of the driver may have left a call the
		 * host never answered: continue the sequence and keep the
		 * mailbox out of use until done_seq catches up.
		 */
		call = le32_to_cpu(READ_ONCE(m->shared->call_seq));
		/* acquire: as in pvkit_mbox_done() */
		done = le32_to_cpu(smp_load_acquire(&m->shared->done_seq));
		m->seq = call;
		m->stuck = call != done;
	}
	return 0;
}

void pvkit_mbox_exit(struct pvkit_core *core)
{
	unsigned int i;

	for (i = 0; i < core->lay.nr_mailboxes; i++)
		mutex_destroy(&core->mbox[i].lock);
	kfree(core->mbox);
	core->mbox = NULL;
}

/* Has the host answered the call we posted last?  Caller holds m->lock. */
static bool pvkit_mbox_done(struct pvkit_mbox *m)
{
	/* acquire: ret is read after done_seq; pairs with the host's release */
	return le32_to_cpu(smp_load_acquire(&m->shared->done_seq)) == m->seq;
}

/* Lock a usable mailbox, preferring this CPU's; NULL if all are stuck. */
static struct pvkit_mbox *pvkit_mbox_get(struct pvkit_core *core)
{
	unsigned int n = core->lay.nr_mailboxes;
	unsigned int start = raw_smp_processor_id() % n;
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct pvkit_mbox *m = &core->mbox[(start + i) % n];

		mutex_lock(&m->lock);
		if (!m->stuck)
			return m;
		if (pvkit_mbox_done(m)) {
			m->stuck = false;
			return m;
		}
		mutex_unlock(&m->lock);
	}
	return NULL;
}

/* Ask for the hypercall vector and sleep until @m is answered. */
static int pvkit_mbox_sleep(struct pvkit_core *core, struct pvkit_mbox *m)
{
	long left;

	WRITE_ONCE(m->shared->flags, cpu_to_le32(PVKIT_MBOX_F_IRQ));
	/*
	 * Order the F_IRQ store before the done_seq load.  Pairs with the
	 * host's full barrier between its done_seq store and its flags load:
	 * either it sees F_IRQ and raises the vector, or we see done_seq.
	 */
	smp_mb();
	if (pvkit_mbox_done(m))
		return 0;
	atomic64_inc(&core->stats.hypercall_sleeps);
	left = wait_event_timeout(core->hc_wq, pvkit_mbox_done(m),
				  msecs_to_jiffies(READ_ONCE(pvkit_hc_timeout_ms)));
	return left ? 0 : -ETIMEDOUT;
}

/*
 * Wait for the answer to the call just posted on @m: spin briefly (a
 * round trip through the host is usually shorter than a sleep), then
 * sleep.  0 or -ETIMEDOUT.
 */
static int pvkit_mbox_wait(struct pvkit_core *core, struct pvkit_mbox *m)
{
	u64 spin_ns = (u64)READ_ONCE(pvkit_hc_spin_us) * NSEC_PER_USEC;
	u64 start = ktime_get_ns();

	while (!pvkit_mbox_done(m)) {
		if (ktime_get_ns() - start >= spin_ns)
			return pvkit_mbox_sleep(core, m);
		cpu_relax();
	}
	return 0;
}

irqreturn_t pvkit_hypercall_irq(int irq, void *data)
{
	struct pvkit_core *core = data;

	atomic64_inc(&core->stats.hypercall_irqs);
	wake_up_all(&core->hc_wq);
	return IRQ_HANDLED;
}

/**
 * pvkit_hypercall_raw - issue one hypercall and return the raw result
 * @core: the pvkit device
 * @nr: hypercall number, sent unchecked
 * @args: six arguments, sent unchecked
 * @result: the host's result, unvalidated
 *
 * Return: 0 when @result is valid, -ETIMEDOUT if the host did not answer
 * in time, -EBUSY if every mailbox still waits for a timed-out call.
 * May sleep.
 */
int pvkit_hypercall_raw(struct pvkit_core *core, u32 nr, const u64 args[6],
			s64 *result)
{
	struct pvkit_mailbox *mb;
	struct pvkit_mbox *m;
	unsigned int i;
	int err;

	might_sleep();
	m = pvkit_mbox_get(core);
	if (!m)
		return -EBUSY;
	mb = m->shared;

	/* Guest half: F_IRQ clear, unused fields zero, arguments as given. */
	WRITE_ONCE(mb->flags, 0);
	WRITE_ONCE(mb->nr, cpu_to_le32(nr));
	WRITE_ONCE(mb->pad0, 0);
	for (i = 0; i < PVKIT_HC_NR_ARGS; i++)
		WRITE_ONCE(mb->args[i], cpu_to_le64(args[i]));
	m->seq++;
	/* release: the fields above are visible before the new call_seq */
	smp_store_release(&mb->call_seq, cpu_to_le32(m->seq));
	/* writel() orders the doorbell after the call_seq store */
	writel(PVKIT_DOORBELL(core->lay.hv_peer_id, core->lay.kick_hypercall),
	       core->regs + PVKIT_REG_DOORBELL);
	atomic64_inc(&core->stats.hypercalls);

	err = pvkit_mbox_wait(core, m);
	if (err) {
		m->stuck = true;
		mutex_unlock(&m->lock);
		atomic64_inc(&core->stats.hypercall_timeouts);
		dev_warn_ratelimited(&core->pci->dev, "hypercall %u timed out\n",
				     nr);
		return err;
	}
	*result = (s64)le64_to_cpu(READ_ONCE(mb->ret));
	mutex_unlock(&m->lock);
	return 0;
}

/* Pinned result -> errno; anything unpinned is a host protocol error. */
static long pvkit_hc_errno(struct pvkit_core *core, u32 nr, s64 ret)
{
	if (ret >= 0)
		return ret;
	switch (ret) {
	case PVKIT_HC_ENOSYS:		/* no such call: not supported */
	case PVKIT_HC_ENOTSUP:
		return -EOPNOTSUPP;
	case PVKIT_HC_EINVAL:
		return -EINVAL;
	case PVKIT_HC_EFAULT:
		return -EFAULT;
	case PVKIT_HC_ENODEV:
		return -ENODEV;
	case PVKIT_HC_ESTATE:
		return -EPERM;
	case PVKIT_HC_EBUSY:
		return -EBUSY;
	case PVKIT_HC_EIO:
		return -EIO;
	}
	atomic64_inc(&core->stats.hypercall_bad_results);
	dev_warn_ratelimited(&core->pci->dev,
			     "hypercall %u: unpinned result %lld\n", nr, ret);
	return -EIO;
}

/**
 * pvkit_hypercall - issue a hypercall
 * @core: the pvkit device (pvkit_device.core)
 * @nr: PVKIT_HC_* number
 * @args: six arguments; those the call does not use must be zero
 *
 * Return: the result (>= 0) or a negative errno, see pvkit/bus.h.
 * Process context; may sleep.
 */
long pvkit_hypercall(struct pvkit_core *core, u32 nr, const u64 args[6])
{
	s64 ret;
	int err;

	err = pvkit_hypercall_raw(core, nr, args, &ret);
	if (err)
		return err;
	return pvkit_hc_errno(core, nr, ret);
}
EXPORT_SYMBOL_NS_GPL(pvkit_hypercall, PVKIT);
