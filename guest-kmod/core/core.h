/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pvkit bus core: definitions private to pvkit.ko.
 *
 * Copyright (c) 2026 The pvkit authors
 */
#ifndef PVKIT_CORE_H
#define PVKIT_CORE_H

#include <linux/atomic.h>
#include <linux/cache.h>
#include <linux/interrupt.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <pvkit/abi.h>
#include <pvkit/bus.h>

#define PVKIT_DRV_NAME		"pvkit"

/*
 * Validated, host-endian copy of the info page.  Taken once at probe; the
 * shared page is never read again except for the generation counter.
 */
struct pvkit_layout {
	u16 abi_major;
	u16 abi_minor;
	u32 info_size;
	u64 features[PVKIT_FEATURE_WORDS];
	u64 shm_size;
	u32 nr_vcpus;
	u32 nr_mailboxes;
	u32 mailbox_offset;
	u32 devtab_offset;
	u32 devtab_entries;
	u32 hv_peer_id;
	u32 nr_vectors;
	u32 nr_kicks;
	u32 nr_mem_ranges;
	u32 vec_config;
	u32 vec_hypercall;
	u32 kick_hypercall;
	u64 ram_size;
	struct {
		u64 gpa;
		u64 size;
		u64 file_offset;
	} mem[PVKIT_MAX_MEM_RANGES];
};

/* One hypercall mailbox, guest side. */
struct pvkit_mbox {
	struct mutex lock;		/* one call in flight per mailbox */
	struct pvkit_mailbox *shared;	/* the mailbox in the shared region */
	u32 seq;			/* last call_seq posted */
	bool stuck;			/* timed out; idle once done_seq == seq */
} ____cacheline_aligned_in_smp;

/* Per-queue state the core keeps for a device. */
struct pvkit_queue_state {
	irq_handler_t handler;		/* driver's handler, NULL if unbound */
	void *data;			/* driver's cookie */
	int irq;			/* Linux irq while bound, else 0 */
	char name[32];			/* irq name shown in /proc/interrupts */
	atomic64_t kicks;
	atomic64_t kicks_suppressed;
	atomic64_t irqs;
	atomic64_t ring_full;
	atomic64_t timeouts;
	atomic64_t bounced;
} ____cacheline_aligned_in_smp;

/* A struct pvkit_device plus what only the core may touch. */
struct pvkit_dev_priv {
	struct pvkit_device pub;
	bool connected;			/* DEV_CONNECT done, not undone */
	struct pvkit_queue_state qs[PVKIT_MAX_QUEUES];
};

#define to_pvkit_priv(p)	container_of(p, struct pvkit_dev_priv, pub)

struct pvkit_core_stats {
	atomic64_t hypercalls;
	atomic64_t hypercall_sleeps;
	atomic64_t hypercall_timeouts;
	atomic64_t hypercall_bad_results;	/* unpinned negative result */
	atomic64_t hypercall_irqs;
	atomic64_t config_irqs;
	atomic64_t rescans;
	atomic64_t rescan_retries;
	atomic64_t bad_entries;
};

/* One pvkit PCI device (one VM has one; more are tolerated). */
struct pvkit_core {
	struct pci_dev *pci;
	int id;				/* 0 for the first pvkit device */
	void __iomem *regs;		/* BAR0: ivshmem registers */
	void *shm;			/* BAR2: the shared region, WB */
	struct pvkit_layout lay;	/* validated info page copy */
	u32 iv_position;		/* our ivshmem peer id (informative) */
	unsigned int nr_irqs;		/* MSI-X vectors allocated */
	u64 acked_features;		/* global word 0 */
	u32 host_version;		/* GET_VERSION result */

	struct pvkit_mbox *mbox;	/* nr_mailboxes entries */
	wait_queue_head_t hc_wq;	/* sleeping hypercalls */

	struct delayed_work config_work; /* device table rescan */
	struct mutex devs_lock;		/* devs[], generation, snap */
	struct pvkit_dev_priv *devs[PVKIT_MAX_DEVICES];
	struct pvkit_dev_entry *snap;	/* private copy of the table */
	u32 generation;			/* last generation processed */
	bool scanned;			/* generation is valid */
	bool removing;			/* no more rescans */

	struct dentry *dbg[3];		/* debugfs files */
	struct list_head node;		/* in pvkit_cores */
	struct pvkit_core_stats stats;
};

/* main.c */
/* dev.c: /dev/pvkit and the devices it serves */
int pvkit_dev_init(void);
void pvkit_dev_exit(void);
void pvkit_dev_add_core(struct pvkit_core *core);
void pvkit_dev_remove_core(struct pvkit_core *core);

/* hypercall.c */
extern unsigned int pvkit_hc_timeout_ms;
int pvkit_mbox_init(struct pvkit_core *core);
void pvkit_mbox_exit(struct pvkit_core *core);
int pvkit_hypercall_raw(struct pvkit_core *core, u32 nr, const u64 args[6],
			s64 *result);
irqreturn_t pvkit_hypercall_irq(int irq, void *data);

/* bus.c */
int pvkit_bus_init(void);
void pvkit_bus_exit(void);
void pvkit_core_scan(struct pvkit_core *core);
void pvkit_config_work(struct work_struct *work);
void pvkit_core_remove_devices(struct pvkit_core *core);
const char *pvkit_type_name(u16 type);
const char *pvkit_state_name(u32 state);

/* debugfs.c */
void pvkit_debugfs_init(void);
void pvkit_debugfs_exit(void);
void pvkit_debugfs_add_core(struct pvkit_core *core);
void pvkit_debugfs_remove_core(struct pvkit_core *core);

/* test.c */
int pvkit_test_init(void);
void pvkit_test_exit(void);
struct pvkit_ioc_pingpong;
int pvkit_test_pingpong_run(struct pvkit_ioc_pingpong *pp, u64 *lat);

#endif /* PVKIT_CORE_H */
