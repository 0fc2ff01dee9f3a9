/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pvkit bus core API for device drivers (pvkit.ko exports these in the
 * PVKIT symbol namespace: MODULE_IMPORT_NS(PVKIT)).
 *
 * pvkit.ko owns the pvkit PCI device, validates the info page and device
 * table, and turns every used device-table slot into a struct
 * pvkit_device on the "pvkit" bus.  Drivers match on the device type.
 * Everything in struct pvkit_device is a validated private copy of what
 * the host published: drivers may trust these fields but must still clamp
 * type-specific config values they take from config[].
 */
#ifndef PVKIT_BUS_H
#define PVKIT_BUS_H

#include <linux/device.h>
#include <linux/interrupt.h>
#include <linux/types.h>
#include <pvkit/abi.h>

struct pvkit_core;

/* A validated queue: the ring lies inside the shared region. */
struct pvkit_queue_info {
	u32 ring_offset;	/* in the shared region */
	u32 slots;		/* power of two */
	u32 req_size;
	u32 rsp_size;
	u16 kick;		/* doorbell channel, < nr_kicks */
	u16 vector;		/* MSI-X vector, < nr_vectors */
};

struct pvkit_device {
	struct device dev;
	struct pvkit_core *core;	/* owning bus instance */
	u32 index;			/* device table slot */
	u16 type;			/* PVKIT_DEV_* */
	u16 instance;
	u32 state;			/* last seen PVKIT_DEV_STATE_* */
	u32 epoch;			/* last seen ring epoch */
	u64 features;			/* offered by the host */
	u64 acked_features;		/* acked by the driver */
	u16 nr_queues;
	u16 config_size;
	u8 config[PVKIT_DEV_CONFIG_SIZE];
	struct pvkit_queue_info queues[PVKIT_MAX_QUEUES];
};

#define to_pvkit_device(d)	container_of(d, struct pvkit_device, dev)

struct pvkit_driver {
	struct device_driver driver;
	u16 type;			/* PVKIT_DEV_* this driver binds */
	int (*probe)(struct pvkit_device *pdev);
	void (*remove)(struct pvkit_device *pdev);
	/*
	 * Called (process context) when the host changed this device's
	 * state or epoch, e.g. CONNECTED -> RESETTING -> OFFERED after a
	 * back-end restart, or -> CLOSING for hot-remove.  pdev->state and
	 * pdev->epoch hold the new values.
	 */
	void (*state_changed)(struct pvkit_device *pdev, u32 old_state);
	/*
	 * Optional (process context, device lock held): the host changed
	 * the config of a bound device in place (ABI.md 6.2, a link going
	 * down); pdev->config holds the new bytes, the old are passed in
	 * @old.  Without it, a config change re-creates the device.  Runs
	 * before state_changed() when both changed in one update.
	 */
	void (*config_changed)(struct pvkit_device *pdev, const u8 *old);
};

#define to_pvkit_driver(d)	container_of(d, struct pvkit_driver, driver)

int __pvkit_register_driver(struct pvkit_driver *drv, struct module *owner);
#define pvkit_register_driver(drv) __pvkit_register_driver(drv, THIS_MODULE)
void pvkit_unregister_driver(struct pvkit_driver *drv);
#define module_pvkit_driver(__drv) \
	module_driver(__drv, pvkit_register_driver, pvkit_unregister_driver)

/*
 * Raw hypercall on the device's bus: returns the result (>= 0) or a
 * negative errno.  Pinned codes map as ENOSYS -> -EOPNOTSUPP (the kernel
 * keeps -ENOSYS for bad syscall numbers), EINVAL -> -EINVAL, EFAULT ->
 * -EFAULT, ENODEV -> -ENODEV, ESTATE -> -EPERM, EBUSY -> -EBUSY, ENOTSUP
 * -> -EOPNOTSUPP, EIO -> -EIO; an unpinned negative result -> -EIO;
 * -ETIMEDOUT when the host does not answer in time (module parameter
 * hc_timeout_ms); -EBUSY if every mailbox waits for a timed-out call.
 * Process context, any CPU; may sleep.
 */
long pvkit_hypercall(struct pvkit_core *core, u32 nr, const u64 args[6]);

/*
 * Lifecycle hypercalls for this device (ABI.md 6.1); 0 or -errno as for
 * pvkit_hypercall().  pvkit_dev_ack_features() drops bits the host did not
 * offer and records the rest in pdev->acked_features.  After a driver's
 * remove() (or a failed probe()) the core frees queue irqs left bound and
 * disconnects a device the driver connected and did not disconnect.
 */
int pvkit_dev_ack_features(struct pvkit_device *pdev, u64 features);
int pvkit_dev_connect(struct pvkit_device *pdev);
int pvkit_dev_disconnect(struct pvkit_device *pdev);
int pvkit_dev_reset(struct pvkit_device *pdev);

/* Kernel address of queue @q's ring (pvkit_ring_attach() base). */
void *pvkit_queue_ring(struct pvkit_device *pdev, unsigned int q);

/*
 * Bind/unbind the queue's MSI-X vector; Linux irq number or -errno.  The
 * handler runs in hard irq context with @data; @name (copied, up to 31
 * chars) is shown in /proc/interrupts, NULL gives "pvkit-<dev>-q<q>".
 */
int pvkit_queue_request_irq(struct pvkit_device *pdev, unsigned int q,
			    irq_handler_t handler, const char *name,
			    void *data);
void pvkit_queue_free_irq(struct pvkit_device *pdev, unsigned int q,
			  void *data);

/*
 * Steer a bound queue irq to @mask (e.g. the CPU that submits on a
 * per-vCPU queue, so completions land there); 0 or -errno.
 */
int pvkit_queue_set_affinity(struct pvkit_device *pdev, unsigned int q,
			     const struct cpumask *mask);

/* Ring the queue's doorbell (counted in debugfs). */
void pvkit_queue_kick(struct pvkit_device *pdev, unsigned int q);

/* Counters a driver reports for debugfs. */
enum pvkit_stat {
	PVKIT_STAT_KICK_SUPPRESSED,	/* event index said no kick needed */
	PVKIT_STAT_RING_FULL,		/* submission found the ring full */
	PVKIT_STAT_TIMEOUT,		/* a request outlived its timeout */
	PVKIT_STAT_BOUNCED,		/* buffer remapped by the DMA layer */
	PVKIT_STAT_NR,
};
void pvkit_queue_stat(struct pvkit_device *pdev, unsigned int q,
		      enum pvkit_stat stat);

/* Device for the DMA API: buffers mapped on it yield guest-physical. */
struct device *pvkit_dma_dev(struct pvkit_device *pdev);

#endif /* PVKIT_BUS_H */
