/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * pvkit.ko test and benchmark interface: ioctls on /dev/pvkit (root only).
 *
 * Usable from userspace with only <linux/types.h> and <linux/ioctl.h>.
 * Every "in" field is read by the kernel, every "out" field written; pad
 * and flags fields must be zero (else -EINVAL) so they can gain meaning
 * later.  All calls act on the first pvkit PCI device of the guest.
 *
 * Copyright (c) 2026 The pvkit authors
 */
#ifndef _UAPI_PVKIT_IOCTL_H
#define _UAPI_PVKIT_IOCTL_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define PVKIT_IOC_MAGIC		0xB8

/*
 * PVKIT_IOC_HYPERCALL: issue one raw hypercall.  Nothing is checked or
 * masked: reserved arguments and unknown numbers go to the host as given,
 * so the pinned result (PVKIT_HC_* in pvkit/abi.h) is visible in @ret.
 * The ioctl itself fails only if no call could be made (-ENODEV: no pvkit
 * device; -ETIMEDOUT: the host did not answer; -EBUSY: every mailbox is
 * waiting for a timed-out call).
 */
struct pvkit_ioc_hypercall {
	__u32 nr;		/* in: hypercall number */
	__u32 pad;		/* in: must be zero */
	__u64 args[6];		/* in: arguments, sent as is */
	__s64 ret;		/* out: raw result */
};

/* Latency summary of one benchmark run, in nanoseconds. */
struct pvkit_ioc_lat {
	__u64 min_ns;
	__u64 p50_ns;
	__u64 p99_ns;
	__u64 max_ns;
	__u64 total_ns;		/* sum over completed round trips */
};

#define PVKIT_PINGPONG_IRQ	0	/* sleep until the queue interrupt */
#define PVKIT_PINGPONG_POLL	1	/* busy-poll the ring */
#define PVKIT_BENCH_MAX_COUNT	(1U << 20)

/*
 * PVKIT_IOC_PINGPONG: @count round trips on a PVKIT_DEV_TEST device, one
 * request in flight: put a pvkit_test_msg, push, kick if the ring asks for
 * it, wait for the response, check id and value ^ PVKIT_TEST_XOR.  A
 * response that does not arrive within the hypercall timeout ends the run:
 * lost = count - completed - mismatched.
 */
struct pvkit_ioc_pingpong {
	__u32 count;		/* in: 1..PVKIT_BENCH_MAX_COUNT */
	__u32 mode;		/* in: PVKIT_PINGPONG_IRQ or _POLL */
	__u32 instance;		/* in: test device instance */
	__u32 flags;		/* in: must be zero */
	__u64 completed;	/* out: correct responses */
	__u64 lost;		/* out: requests never answered */
	__u64 mismatched;	/* out: wrong id or value */
	__u64 irqs;		/* out: queue interrupts during the run */
	__u64 kicks;		/* out: doorbell writes */
	__u64 kicks_suppressed;	/* out: pushes the event index let pass */
	struct pvkit_ioc_lat lat; /* out: over completed round trips */
};

/*
 * PVKIT_IOC_HC_BENCH: @count PVKIT_HC_ECHO hypercalls with random
 * arguments; each result is checked.  A timeout ends the run.
 */
struct pvkit_ioc_hc_bench {
	__u32 count;		/* in: 1..PVKIT_BENCH_MAX_COUNT */
	__u32 flags;		/* in: must be zero */
	__u64 completed;	/* out: correct results */
	__u64 errors;		/* out: wrong results or failed calls */
	__u64 sleeps;		/* out: calls that slept for the irq */
	struct pvkit_ioc_lat lat; /* out: over completed calls */
};

#define PVKIT_IOC_HYPERCALL	_IOWR(PVKIT_IOC_MAGIC, 0x00, \
				      struct pvkit_ioc_hypercall)
#define PVKIT_IOC_PINGPONG	_IOWR(PVKIT_IOC_MAGIC, 0x01, \
				      struct pvkit_ioc_pingpong)
#define PVKIT_IOC_HC_BENCH	_IOWR(PVKIT_IOC_MAGIC, 0x02, \
				      struct pvkit_ioc_hc_bench)

#endif /* _UAPI_PVKIT_IOCTL_H */
