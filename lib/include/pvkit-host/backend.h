/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pvkit-hv <-> back-end control protocol (host-internal, not guest ABI).
 *
 * pvkit-hv creates a SOCK_SEQPACKET socketpair per back-end, execs the
 * back-end with the other end as fd PVKIT_BE_SOCK_FD (argv: program
 * name, then "--hv"), and exchanges fixed-size messages on it.  Every
 * message starts with struct pvkit_be_hdr.  Both sides validate type and
 * length; anything unexpected ends the conversation (the hypervisor then
 * marks the device RESETTING and restarts the back-end).
 *
 * Sequence:
 *   hv -> be  SETUP   + fds [ram, shm, kick[0..q), irq[0..q)]
 *   be -> hv  READY   device features offered + type config (blk capacity)
 *   hv -> be  CONNECT acked features, epoch; rings were reset by the hv
 *   be -> hv  CONNECTED
 *   hv -> be  DISCONNECT (guest disconnect/reset or hot-remove)
 *   be -> hv  DISCONNECTED once no request is in flight
 *   hv -> be  STATS   (any time) -> be -> hv STATS reply
 *   be -> hv  CONFIG  (any time after READY) the device's config changed
 *                     (a link went down); only the fields the kind lets
 *                     change at run time may differ
 *   hv -> be  SHUTDOWN: exit 0.   Socket EOF: the back-end exits too.
 */
#ifndef PVKIT_HOST_BACKEND_H
#define PVKIT_HOST_BACKEND_H

#include <stdint.h>
#include <pvkit/abi.h>

#define PVKIT_BE_SOCK_FD	3
#define PVKIT_BE_MAGIC		0x42454b50	/* "PKEB" */
#define PVKIT_BE_VERSION	1
#define PVKIT_BE_ARGS_MAX	512

enum pvkit_be_msg_type {
	PVKIT_BE_SETUP = 1,
	PVKIT_BE_READY,
	PVKIT_BE_CONNECT,
	PVKIT_BE_CONNECTED,
	PVKIT_BE_DISCONNECT,
	PVKIT_BE_DISCONNECTED,
	PVKIT_BE_STATS,
	PVKIT_BE_SHUTDOWN,
	PVKIT_BE_ERROR,
	PVKIT_BE_CONFIG,
};

struct pvkit_be_hdr {
	uint32_t magic;		/* PVKIT_BE_MAGIC */
	uint16_t type;		/* enum pvkit_be_msg_type */
	uint16_t version;	/* PVKIT_BE_VERSION */
	uint32_t len;		/* whole message in bytes */
	uint32_t reserved;
};

struct pvkit_be_queue {
	uint32_t ring_offset;	/* in the shared region */
	uint32_t ring_slots;
	uint32_t req_size;
	uint32_t rsp_size;
};

/* hv -> be; SCM_RIGHTS carries 2 + 2 * nr_queues fds in the order above. */
struct pvkit_be_setup {
	struct pvkit_be_hdr hdr;
	uint32_t dev_index;	/* device table slot */
	uint16_t dev_type;	/* PVKIT_DEV_* */
	uint16_t instance;
	uint32_t nr_queues;
	uint32_t nr_mem_ranges;
	uint64_t shm_size;
	uint64_t ram_size;	/* size of the RAM file */
	struct pvkit_mem_range mem[PVKIT_MAX_MEM_RANGES]; /* host copy */
	struct pvkit_be_queue queues[PVKIT_MAX_QUEUES];
	char args[PVKIT_BE_ARGS_MAX];	/* NUL-terminated device options */
};

/* be -> hv */
struct pvkit_be_ready {
	struct pvkit_be_hdr hdr;
	uint64_t features;	/* device features to offer */
	uint16_t config_size;
	uint16_t reserved[3];
	uint8_t config[PVKIT_DEV_CONFIG_SIZE];
};

/* hv -> be */
struct pvkit_be_connect {
	struct pvkit_be_hdr hdr;
	uint64_t acked_features;
	uint32_t epoch;
	uint32_t reserved;
};

#define PVKIT_BE_STAT_MAX_QUEUES PVKIT_MAX_QUEUES

struct pvkit_be_queue_stats {
	uint64_t requests;	/* requests consumed */
	uint64_t kicks;		/* doorbell eventfd wake-ups */
	uint64_t irqs;		/* interrupts raised */
	uint64_t irqs_suppressed; /* responses pushed without an irq */
	uint64_t errors;	/* requests answered with an error status */
	uint64_t bytes;		/* data bytes moved */
};

/* be -> hv, answer to PVKIT_BE_STATS */
struct pvkit_be_stats {
	struct pvkit_be_hdr hdr;
	uint32_t nr_queues;
	uint32_t reserved;
	struct pvkit_be_queue_stats q[PVKIT_BE_STAT_MAX_QUEUES];
};

/*
 * be -> hv, any time.  Without PVKIT_BE_ERR_QUEUE a fatal problem: the
 * back-end exits next.  With it, one queue stopped serving its ring and
 * the process stays up: it still answers DISCONNECT (after draining the
 * other queues) and can be connected again, which is how pvkit-hv resets
 * the device.  PVKIT_BE_ERR_GUEST marks the guest's fault (a ring index
 * violation): pvkit-hv counts it and rate-limits what it logs.
 */
#define PVKIT_BE_ERR_QUEUE	(1U << 0)
#define PVKIT_BE_ERR_GUEST	(1U << 1)

struct pvkit_be_error {
	struct pvkit_be_hdr hdr;
	int32_t err;		/* -errno */
	uint32_t flags;		/* PVKIT_BE_ERR_*; was reserved (0: fatal) */
	char msg[256];
};

/*
 * be -> hv, any time after READY: the whole type config as it is now.
 * pvkit-hv publishes it as a table change (the guest sees a new
 * generation and a config interrupt, ABI.md 5); a change to a field the
 * kind does not let change (hv_kind.config_ok) ends the conversation.
 */
struct pvkit_be_config {
	struct pvkit_be_hdr hdr;
	uint16_t config_size;	/* must equal READY's */
	uint16_t reserved[3];
	uint8_t config[PVKIT_DEV_CONFIG_SIZE];
};

#endif /* PVKIT_HOST_BACKEND_H */
