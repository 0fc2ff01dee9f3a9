/* SPDX-License-Identifier: MIT */
/*
 * pvkit guest ABI v1: discovery, feature negotiation, hypercalls, event
 * channels and the device table.
 *
 * This header is normative together with hypercall-abi/ABI.md.  Every
 * structure below lives in the pvkit shared region (BAR2 of the pvkit PCI
 * device) and is little-endian with explicit padding.  Structures marked
 * "MUST NOT change" are frozen for ABI major 1; new fields go into the
 * reserved space and are announced by a feature bit or a minor version.
 *
 * Copyright (c) 2026 The pvkit authors
 */
#ifndef PVKIT_ABI_H
#define PVKIT_ABI_H

#include <linux/types.h>
#ifdef __KERNEL__
#include <linux/stddef.h>
#else
#include <stddef.h>
#endif

/* ---------------------------------------------------------------- PCI --- */

/* Red Hat's ivshmem IDs: the pvkit device is an ivshmem-doorbell device. */
#define PVKIT_PCI_VENDOR_ID		0x1af4
#define PVKIT_PCI_DEVICE_ID		0x1110

/* BAR numbers of the ivshmem-doorbell device. */
#define PVKIT_BAR_REGS			0	/* doorbell registers */
#define PVKIT_BAR_MSIX			1	/* MSI-X table */
#define PVKIT_BAR_SHM			2	/* pvkit shared region */

/* ivshmem register offsets in BAR0 (32-bit registers). */
#define PVKIT_REG_INTR_MASK		0x00
#define PVKIT_REG_INTR_STATUS		0x04
#define PVKIT_REG_IV_POSITION		0x08	/* this guest's peer id */
#define PVKIT_REG_DOORBELL		0x0c

/*
 * A doorbell write names the destination peer in bits 31:16 and the
 * channel in bits 7:0; the ivshmem device ignores bits 15:8.
 */
#define PVKIT_DOORBELL(peer, chan)	((((__u32)(peer)) << 16) | ((chan) & 0xff))
#define PVKIT_MAX_KICKS			256

/* --------------------------------------------------------- versioning --- */

#define PVKIT_MAGIC			0x544b5650	/* "PVKT" little-endian */
#define PVKIT_ABI_MAJOR			1
#define PVKIT_ABI_MINOR			4

/* ------------------------------------------------------------ layout --- */

/*
 * Fixed shared-region layout.  Offsets are also published in the info page
 * so that a later minor version may move things; a guest MUST use the
 * published offsets and MUST check that each area lies inside the region.
 */
#define PVKIT_PAGE_SIZE			4096
#define PVKIT_INFO_OFFSET		0x0000
#define PVKIT_MAX_MEM_RANGES		8
#define PVKIT_MAX_MAILBOXES		64
#define PVKIT_MAX_DEVICES		32
/*
 * Queues per device.  1.0 had 16; 1.1 turned the entry's trailing pad
 * into queues 16..19 so that an 8-pair NIC plus its control queue (17)
 * fits.  A 1.0 guest refuses only devices with more than 16 queues.
 */
#define PVKIT_MAX_QUEUES		20
#define PVKIT_MAX_VECTORS		256
#define PVKIT_SHM_MIN_SIZE		(64 * 1024)

/* ---------------------------------------------------- global features --- */

/*
 * Global feature word 0.  The host offers, the guest acknowledges a subset
 * with PVKIT_HC_ACK_FEATURES.  A guest masks every bit it does not know.
 */
#define PVKIT_F_LOG			(1ULL << 0)	/* PVKIT_HC_LOG works */
#define PVKIT_F_TESTDEV			(1ULL << 1)	/* test device present */
/*
 * Bit 2 was PVKIT_F_CLOCK, a global clock page no host ever offered.
 * 1.4 retired it for the clock device (PVKIT_DEV_CLOCK, pvkit/clock.h)
 * so there is one clock mechanism: never offered, never acknowledged.
 */
#define PVKIT_F_RETIRED_2		(1ULL << 2)
#define PVKIT_F_HOTPLUG			(1ULL << 3)	/* devices come and go */
#define PVKIT_F_KNOWN_0			(PVKIT_F_LOG | PVKIT_F_TESTDEV | \
					 PVKIT_F_HOTPLUG)
#define PVKIT_FEATURE_WORDS		2

/* --------------------------------------------------------- info page --- */

/* One guest-physical RAM range and where it lives in the RAM file. */
struct pvkit_mem_range {
	__le64 gpa;		/* first guest-physical address, page aligned */
	__le64 size;		/* bytes, page aligned, never 0 in a used slot */
	__le64 file_offset;	/* offset of gpa in the guest RAM file */
	__le64 reserved;	/* must be zero */
};				/* 32 bytes, MUST NOT change */

_Static_assert(sizeof(struct pvkit_mem_range) == 32, "pvkit_mem_range size");

/*
 * The info page at offset 0 of the shared region.  Written only by the host;
 * the guest reads it and validates every field before use.
 */
struct pvkit_info {
	__le32 magic;		/* PVKIT_MAGIC; no magic, no pvkit device */
	__le16 abi_major;	/* incompatible changes bump this */
	__le16 abi_minor;	/* compatible additions bump this */
	__le32 info_size;	/* bytes of this struct the host filled in */
	__le32 generation;	/* config seqcount: odd while host updates */
	__le64 features[PVKIT_FEATURE_WORDS]; /* global features offered */
	__le64 shm_size;	/* size of the shared region in bytes */
	__le32 nr_vcpus;	/* vCPUs the VM was started with */
	__le32 nr_mailboxes;	/* hypercall mailboxes, >= 1 */
	__le32 mailbox_offset;	/* offset of mailbox 0, page aligned */
	__le32 mailbox_size;	/* bytes per mailbox (sizeof pvkit_mailbox) */
	__le32 devtab_offset;	/* offset of device entry 0, page aligned */
	__le32 devtab_entries;	/* number of device table slots */
	__le32 devtab_entry_size; /* bytes per entry (sizeof pvkit_dev_entry) */
	__le32 reserved2;	/* was clock_offset (retired in 1.4): zero */
	__le32 hv_peer_id;	/* ivshmem peer id that receives doorbells */
	__le32 nr_vectors;	/* MSI-X vectors the host drives */
	__le32 nr_kicks;	/* doorbell channels the host listens on */
	__le32 nr_mem_ranges;	/* used entries of mem[] */
	__le32 vec_config;	/* vector raised on device table change */
	__le32 vec_hypercall;	/* vector raised on hypercall completion */
	__le32 kick_hypercall;	/* doorbell channel for hypercalls */
	__le32 reserved0;	/* must be zero */
	__le64 ram_size;	/* total guest RAM bytes (sum of mem[]) */
	__le64 reserved1[2];	/* must be zero */
	struct pvkit_mem_range mem[PVKIT_MAX_MEM_RANGES]; /* guest memory map */
};				/* 384 bytes, MUST NOT change in major 1 */

_Static_assert(sizeof(struct pvkit_info) == 384, "pvkit_info size");
_Static_assert(offsetof(struct pvkit_info, generation) == 12, "generation");
_Static_assert(offsetof(struct pvkit_info, features) == 16, "features");
_Static_assert(offsetof(struct pvkit_info, shm_size) == 32, "shm_size");
_Static_assert(offsetof(struct pvkit_info, hv_peer_id) == 72, "hv_peer_id");
_Static_assert(offsetof(struct pvkit_info, ram_size) == 104, "ram_size");
_Static_assert(offsetof(struct pvkit_info, mem) == 128, "mem");

/* ---------------------------------------------------------- hypercalls --- */

/*
 * Hypercall numbers.  Unknown numbers return PVKIT_HC_ENOSYS.  Arguments a
 * call does not use are reserved and MUST be zero (else PVKIT_HC_EINVAL).
 */
#define PVKIT_HC_GET_VERSION		0	/* -> major << 16 | minor */
#define PVKIT_HC_GET_FEATURES		1	/* (word) -> offered bits */
#define PVKIT_HC_ACK_FEATURES		2	/* (word, bits) -> 0 */
#define PVKIT_HC_ECHO			3	/* (a0..a3) -> a0 ^ a1 ^ a2 ^ a3 */
#define PVKIT_HC_LOG			4	/* (gpa, len) -> 0 */
#define PVKIT_HC_CONFIG_ACK		5	/* (generation) -> 0 */
#define PVKIT_HC_DEV_ACK_FEATURES	6	/* (dev, bits) -> 0 */
#define PVKIT_HC_DEV_CONNECT		7	/* (dev) -> 0 */
#define PVKIT_HC_DEV_DISCONNECT		8	/* (dev) -> 0 */
#define PVKIT_HC_DEV_RESET		9	/* (dev) -> 0 */
#define PVKIT_HC_EVTCHN_SEND		10	/* (vector) -> 0 */
#define PVKIT_HC_NR			11

#define PVKIT_HC_NR_ARGS		6
#define PVKIT_HC_LOG_MAX		256	/* bytes per PVKIT_HC_LOG */

/*
 * Pinned return codes: the ABI's own numbering, not host errno.  A result
 * >= 0 is success (its meaning is per call); these are the only negative
 * values a host may return.
 */
#define PVKIT_HC_OK			0
#define PVKIT_HC_ENOSYS			(-1)	/* no such hypercall */
#define PVKIT_HC_EINVAL			(-2)	/* bad or reserved argument */
#define PVKIT_HC_EFAULT			(-3)	/* address not in guest RAM */
#define PVKIT_HC_ENODEV			(-4)	/* no such device / slot free */
#define PVKIT_HC_ESTATE			(-5)	/* not allowed in this state */
#define PVKIT_HC_EBUSY			(-6)	/* try again later */
#define PVKIT_HC_ENOTSUP		(-7)	/* feature not offered */
#define PVKIT_HC_EIO			(-8)	/* host-side failure */

/* Mailbox flags, written by the guest.  Undefined bits MUST be zero. */
#define PVKIT_MBOX_F_IRQ		(1U << 0)	/* raise vec_hypercall */
#define PVKIT_MBOX_F_KNOWN		PVKIT_MBOX_F_IRQ

/*
 * One hypercall mailbox (one per vCPU).  The guest half and the host half
 * sit in different cache lines so that the polling sides do not bounce a
 * line the other is writing.
 *
 * Call:   guest writes nr, flags, args; store-release call_seq = seq + 1;
 *         rings doorbell channel kick_hypercall.
 * Answer: host copies the guest half, validates it, runs the call, writes
 *         ret, store-release done_seq = call_seq, full barrier, then reads
 *         flags and raises vec_hypercall if PVKIT_MBOX_F_IRQ is set.
 * Sleep:  a waiting guest sets PVKIT_MBOX_F_IRQ, full barrier, re-checks
 *         done_seq, and only then sleeps: one of the two sides always sees
 *         the other's write, so no wake-up is lost.
 */
struct pvkit_mailbox {
	/* guest half */
	__le32 call_seq;	/* bumped by the guest to post a call */
	__le32 flags;		/* PVKIT_MBOX_F_* */
	__le32 nr;		/* PVKIT_HC_* */
	__le32 pad0;		/* must be zero */
	__le64 args[PVKIT_HC_NR_ARGS]; /* arguments; unused ones zero */
	/* host half */
	__le32 done_seq;	/* = call_seq once ret is valid */
	__le32 pad2;		/* written as zero by the host */
	__le64 ret;		/* result: >= 0 success, or PVKIT_HC_E* */
	__u8 pad3[48];		/* fills the host half to one cache line */
};				/* 128 bytes, MUST NOT change */

_Static_assert(sizeof(struct pvkit_mailbox) == 128, "pvkit_mailbox size");
_Static_assert(offsetof(struct pvkit_mailbox, args) == 16, "mailbox args");
_Static_assert(offsetof(struct pvkit_mailbox, done_seq) == 64, "done_seq");
_Static_assert(offsetof(struct pvkit_mailbox, ret) == 72, "mailbox ret");

/* -------------------------------------------------------- device table --- */

/* Device types.  Type 0 marks a free slot. */
#define PVKIT_DEV_NONE			0
#define PVKIT_DEV_TEST			1	/* echo rings, for tests */
#define PVKIT_DEV_BLK			2	/* pvkit/blk.h */
#define PVKIT_DEV_NET			3	/* pvkit/net.h */
#define PVKIT_DEV_BALLOON		4	/* pvkit/balloon.h */
#define PVKIT_DEV_CLOCK			5	/* pvkit/clock.h */

/*
 * Device states (see the diagram in ABI.md).  Only the host writes the
 * state; the guest asks for transitions with hypercalls.
 */
#define PVKIT_DEV_STATE_FREE		0	/* slot unused */
#define PVKIT_DEV_STATE_OFFERED		1	/* waiting for a driver */
#define PVKIT_DEV_STATE_CONNECTED	2	/* rings live */
#define PVKIT_DEV_STATE_RESETTING	3	/* back-end restarting */
#define PVKIT_DEV_STATE_CLOSING		4	/* host wants it removed */
#define PVKIT_DEV_STATE_BROKEN		5	/* host gave up on it */

/* One queue: a ring in the shared region plus its two event channels. */
struct pvkit_queue_desc {
	__le32 ring_offset;	/* shared-region offset of the ring header */
	__le32 ring_slots;	/* slots per side, power of two, >= 2 */
	__le16 req_size;	/* bytes per request slot, multiple of 8 */
	__le16 rsp_size;	/* bytes per response slot, multiple of 8 */
	__le16 kick;		/* doorbell channel the guest rings */
	__le16 vector;		/* MSI-X vector the host raises */
};				/* 16 bytes, MUST NOT change */

_Static_assert(sizeof(struct pvkit_queue_desc) == 16, "pvkit_queue_desc size");

#define PVKIT_DEV_CONFIG_SIZE		128

/*
 * One device table entry.  Written only by the host, under the info page
 * generation seqcount: a guest copies an entry between two reads of an
 * even, equal generation and validates the copy.
 */
struct pvkit_dev_entry {
	__le16 type;		/* PVKIT_DEV_*; 0 = free slot */
	__le16 instance;	/* per-type instance number: pvda = 0 ... */
	__le32 state;		/* PVKIT_DEV_STATE_* */
	__le64 features;	/* device features offered */
	__le64 acked_features;	/* what the guest acked (host's copy) */
	__le16 nr_queues;	/* used entries of queues[] */
	__le16 config_size;	/* valid bytes of config[] */
	__le32 epoch;		/* bumped on each reset/reconnect of rings */
	__le64 reserved[4];	/* must be zero */
	__u8 config[PVKIT_DEV_CONFIG_SIZE]; /* type-specific, see type header */
	struct pvkit_queue_desc queues[PVKIT_MAX_QUEUES]; /* the queues */
};				/* 512 bytes, MUST NOT change in major 1 */

_Static_assert(sizeof(struct pvkit_dev_entry) == 512, "pvkit_dev_entry size");
_Static_assert(offsetof(struct pvkit_dev_entry, features) == 8, "features");
_Static_assert(offsetof(struct pvkit_dev_entry, nr_queues) == 24, "nr_queues");
_Static_assert(offsetof(struct pvkit_dev_entry, config) == 64, "config");
_Static_assert(offsetof(struct pvkit_dev_entry, queues) == 192, "queues");

/* ---------------------------------------------------------- test device --- */

/*
 * The test device echoes: each request slot holds a pvkit_test_msg, the
 * host answers with the same id and value ^ PVKIT_TEST_XOR.
 */
#define PVKIT_TEST_XOR			0x5a5a5a5a5a5a5a5aULL

struct pvkit_test_msg {
	__le64 id;		/* guest's tag, echoed */
	__le64 value;		/* request payload; response = value ^ XOR */
};				/* 16 bytes, MUST NOT change */

_Static_assert(sizeof(struct pvkit_test_msg) == 16, "pvkit_test_msg size");

#endif /* PVKIT_ABI_H */
