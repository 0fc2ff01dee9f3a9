/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pvkit-hv: state of one VM.  One process, one epoll loop, one thread --
 * with one exception: a clock device has a responder thread (clock.c)
 * that answers the guest's timestamp exchanges by spinning on a cache
 * line of guest RAM during windows the guest asks for, because the loop,
 * woken through ivshmem doorbell eventfds, would see the guest's store
 * tens of microseconds late and bias every sample.  It touches only its
 * exchange slot and its own atomics; everything else stays on the loop.
 *
 * The core (memory, shared region, eventfds, device table, hypercalls, test
 * device) is built by hv_core_init() and needs no QEMU, sockets or child
 * processes, so host tests drive it directly.  main.c adds the ivshmem
 * server, QEMU, back-ends and the control socket around it.
 */
#ifndef PVKIT_HV_H
#define PVKIT_HV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <pvkit/abi.h>
#include <pvkit/ring.h>
#include <pvkit-host/gmem.h>
#include <pvkit-host/log.h>

#include "ev.h"
#include "janitor.h"
#include "opts.h"

/* Shared region: fixed areas of ABI.md 2.1. */
#define HV_SHM_MIN_SIZE		(4ULL << 20)
#define HV_SHM_MAX_SIZE		(1ULL << 30)
#define HV_MBOX_OFFSET		0x1000
#define HV_DEVTAB_OFFSET	0x4000
#define HV_RINGS_OFFSET		0x8000

/* pvkit-hv is ivshmem peer 0, QEMU's guest peer 1. */
#define HV_PEER_ID		0
#define HV_GUEST_PEER_ID	1

#define HV_VEC_CONFIG		0
#define HV_VEC_HYPERCALL	1
#define HV_KICK_HYPERCALL	0
#define HV_FIRST_QUEUE_VEC	2
#define HV_FIRST_QUEUE_KICK	1

/* Test device geometry (ABI: 256 slots, 16-byte messages). */
#define HV_TEST_SLOTS		256
#define HV_TEST_MSG_SIZE	16
/* Freed ring extents remembered for reuse by hot-added devices. */
#define HV_RING_FREE_MAX	(PVKIT_MAX_DEVICES * PVKIT_MAX_QUEUES)
/* Devices gone recently whose fate a control client may still ask. */
#define HV_GONE_MAX		8

struct hv;
struct dev;
struct be;
struct hv_kind;
struct hv_plan;

struct dev_queue {
	uint32_t ring_offset;
	uint32_t slots;
	uint16_t req_size;
	uint16_t rsp_size;
	uint16_t kick;
	uint16_t vector;
	struct pvkit_ring ring;	/* hv-served devices only */
	uint64_t kicks;		/* hv-side counters (test device) */
	uint64_t irqs;
	uint64_t reqs;
	struct ev_src kick_src;
};

/* What a device type does on guest requests; NULL members mean "nothing". */
struct dev_ops {
	const char *name;
	/* back-end ready to be connected?  (else DEV_CONNECT is EBUSY) */
	bool (*ready)(struct hv *hv, struct dev *d);
	/* rings were reset; start serving.  0 or -errno (-> EIO) */
	int (*connect)(struct hv *hv, struct dev *d);
	/*
	 * Stop serving.  Returns 0 when stopped, 1 when the stop completes
	 * later through dev_stopped(), or -errno.
	 */
	int (*disconnect)(struct hv *hv, struct dev *d);
	/* DEV_RESET from BROKEN: retry the back-end. */
	void (*retry)(struct hv *hv, struct dev *d);
	/* kill a misbehaving back-end (it is restarted by its death path) */
	void (*abort)(struct hv *hv, struct dev *d);
	/* the device is FREE for good: stop serving it, never restart */
	void (*release)(struct hv *hv, struct dev *d);
	/* after release: is everything serving it gone (processes reaped)? */
	bool (*gone)(struct hv *hv, struct dev *d);
	/* the device is being destroyed: free what ops allocated */
	void (*destroy)(struct hv *hv, struct dev *d);
	/* periodic work, from the main loop's tick (dev_tick()) */
	void (*tick)(struct hv *hv, struct dev *d, uint64_t now_ms);
};

struct dev {
	bool used;
	unsigned int slot;
	uint16_t type;
	uint16_t instance;
	uint32_t state;
	uint64_t features;
	uint64_t acked;
	uint32_t epoch;
	uint16_t nr_queues;
	uint16_t config_size;
	uint8_t config[PVKIT_DEV_CONFIG_SIZE];
	struct dev_queue q[PVKIT_MAX_QUEUES];
	const struct dev_ops *ops;
	void *priv;		/* an in-process device's own state */
	const struct hv_kind *kind;	/* NULL: created by a test */
	uint32_t serial;	/* unique for the VM's life: names a hot-add */
	struct be *be;		/* back-end, or NULL when served by the hv */
	/* a DISCONNECT/RESET waiting for the back-end: mailbox + target */
	int pending_mbox;	/* -1: none */
	uint32_t pending_state;
	uint64_t pending_deadline_ms;
	uint64_t violations;	/* ring protocol violations */
	/* a reset the host started on a ring fault (dev_fault()) */
	enum {
		DEV_FAULT_NONE,
		DEV_FAULT_DRAINING,	/* DISCONNECT sent, RESETTING */
		DEV_FAULT_BACKOFF,	/* drained; OFFERED at the deadline */
	} fault;
	uint64_t fault_deadline_ms;
	uint64_t fault_last_ms;		/* when the last fault reset began */
	unsigned int fault_streak;	/* resets in quick succession */
	uint64_t fault_resets;		/* host resets after ring faults */
	bool fault_loud;		/* its log lines were not rate-limited */
	struct log_ratelimit fault_rl;
	struct log_ratelimit guest_rl;	/* guest connect/disconnect/reset */
	/* hot-add and hot-remove (dev_hot_remove()) */
	bool hot_added;		/* created at run time, not at start-up */
	bool offered;		/* has been OFFERED once */
	bool removing;		/* on its way out: never restarted */
	bool force_draining;	/* grace over: the host drains it itself */
	bool server_dead;	/* CLOSING, its back-end killed or lost */
	bool released;		/* FREE, its server told to go */
	uint64_t remove_deadline_ms;	/* CLOSING: the guest's grace */
	char why[128];		/* why it failed or went, for the client */
	/* a freed slot is reused only once the guest saw it FREE */
	bool held;
	uint32_t held_gen;
};

#define HC_NR_COUNTS		(PVKIT_HC_NR + 1)	/* last: unknown nr */
/* hc_handle() result meaning "completed later by hc_complete()" */
#define HC_DEFERRED		(INT64_MIN)

struct hc_call {	/* host-order private copy of a mailbox's guest half */
	uint32_t call_seq;
	uint32_t flags;
	uint32_t nr;
	uint32_t pad0;
	uint64_t args[PVKIT_HC_NR_ARGS];
};

struct hv {
	struct hv_opts opt;
	char run_dir[256];
	uint64_t start_ms;

	/* guest RAM */
	int ram_fd;		/* an unlinked file: see hv_ram_create() */
	char ram_path[4096];	/* its /proc/self/fd name */
	struct gmem gm;
	uint64_t ram_size;

	/* shared region */
	int shm_fd;
	uint8_t *shm;
	uint64_t shm_size;
	uint64_t ring_next;	/* next never-used byte of the ring area */
	uint64_t ring_limit;	/* end of the ring area */
	struct {
		uint64_t off, bytes;
	} ring_free[HV_RING_FREE_MAX];	/* freed extents, reused first */
	unsigned int nr_ring_free;
	struct pvkit_info *info;

	/* event channels */
	unsigned int nr_vectors;
	unsigned int nr_kicks;
	int kick_fd[PVKIT_MAX_KICKS];
	int irq_fd[PVKIT_MAX_VECTORS];
	uint64_t irqs_raised[PVKIT_MAX_VECTORS];
	/* queue channel c: kick HV_FIRST_QUEUE_KICK + c, vector ..._VEC + c */
	unsigned int nr_chans;
	bool chan_used[PVKIT_MAX_VECTORS];
	struct ev_src hc_src;
	/* finishes a deferred hypercall (set by hc_watch()) */
	void (*hc_done)(struct hv *hv, unsigned int mbox, int64_t ret);

	/* global features and configuration */
	uint64_t features[PVKIT_FEATURE_WORDS];
	uint64_t acked[PVKIT_FEATURE_WORDS];
	uint32_t generation;
	uint32_t config_acked;

	/* hypercalls */
	unsigned int nr_mbox;
	uint32_t mbox_done[PVKIT_MAX_MAILBOXES];
	bool mbox_busy[PVKIT_MAX_MAILBOXES];	/* deferred call pending */
	uint32_t mbox_seq[PVKIT_MAX_MAILBOXES];	/* its call_seq */
	uint64_t hc_count[HC_NR_COUNTS];
	uint64_t hc_kicks;
	uint64_t log_lines;
	uint64_t log_dropped;
	uint64_t log_window_ms;
	unsigned int log_in_window;

	/* devices */
	struct dev devs[PVKIT_MAX_DEVICES];
	unsigned int nr_devs;
	unsigned int total_queues;	/* queues of the devices that exist */
	uint32_t next_serial;
	struct {
		uint32_t serial;
		bool failed;	/* a hot-add that never got READY */
		char why[128];
	} gone[HV_GONE_MAX];	/* the last devices destroyed */
	unsigned int gone_next;

	/* process plumbing (main.c and friends) */
	int epfd;
	int sig_fd;
	struct ev_src sig_src;
	struct ivs *ivs;
	struct qemu *qemu;
	struct ctl *ctl;
	struct janitor janitor;
	bool stopping;
	int exit_code;		/* -1 while running */
	bool quit;
};

/* core.c */
/* Zero @hv and mark every descriptor closed.  Call before anything else. */
void hv_struct_init(struct hv *hv);
/*
 * Guest RAM, the shared region sized for @plan, the event channels and
 * the info page: everything but the devices (kind_create_all()).
 */
int hv_core_init(struct hv *hv, const struct hv_opts *opt,
		 const struct hv_plan *plan);
void hv_core_exit(struct hv *hv);
/* vm.c: hv_core_init(), hypercalls and every configured device. */
int hv_vm_init(struct hv *hv, const struct hv_opts *opt);
/* Raise guest MSI-X vector @vec; out-of-range vectors are ignored. */
void hv_raise(struct hv *hv, unsigned int vec);

/*
 * In a freshly forked child of pvkit-hv (@ppid), before exec: die with
 * the hypervisor whatever kills it, and undo the hypervisor's signal
 * set-up.  Exits the child if the hypervisor is already gone.
 */
void hv_child_init(pid_t ppid);
/*
 * Allocate @bytes of page-aligned ring memory: a freed extent that fits,
 * else never-used space.  Offset or -ENOSPC.
 */
int64_t hv_ring_alloc(struct hv *hv, uint64_t bytes);
/* Return a ring allocation (@off, @bytes as allocated). */
void hv_ring_free(struct hv *hv, uint64_t off, uint64_t bytes);
/* Take a free queue channel: its index, or -ENOSPC. */
int hv_chan_alloc(struct hv *hv);
void hv_chan_free(struct hv *hv, unsigned int chan);
/* Shared region size needed for @plan. */
uint64_t hv_shm_size_for(const struct hv_plan *plan);
uint64_t hv_uptime_ms(const struct hv *hv);
/*
 * DIR/pvkit-NAME-ram: the name older versions gave the RAM file while
 * creating it (guest RAM is a nameless memfd now); the janitor still
 * removes a leftover of that name.
 */
void hv_ram_name(const struct hv_opts *o, char *buf, size_t len);

#endif /* PVKIT_HV_H */
