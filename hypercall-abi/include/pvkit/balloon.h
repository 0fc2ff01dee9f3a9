/* SPDX-License-Identifier: MIT */
/*
 * pvkit memory balloon (device type PVKIT_DEV_BALLOON), ABI v1.
 *
 * The host asks the guest to hold config.target_pages pages of 4 KiB in
 * its balloon; the guest allocates pages and gives them to the host
 * (INFLATE), or takes them back (DEFLATE).  The host releases the memory
 * behind ballooned pages (on a file-backed guest RAM: a hole punched in
 * the file).  Three queues, each one pvkit ring (pvkit/ring.h):
 *
 *   queue 0  pages   req pvkit_balloon_req (INFLATE, DEFLATE, DEFLATE_ALL)
 *   queue 1  stats   req pvkit_balloon_stats_req
 *   queue 2  report  req pvkit_balloon_req (REPORT): free page reporting
 *
 * Every response is a pvkit_balloon_rsp.  Queues 1 and 2 exist whatever
 * was negotiated; the host answers UNSUPP on a queue whose feature the
 * guest did not acknowledge.
 *
 * Page lists: INFLATE, DEFLATE and REPORT carry nr_entries __le64 entries
 * at list_gpa (8-byte aligned, wholly inside one range of guest RAM).  An
 * entry is the guest-physical address of a block of 4 KiB << order bytes,
 * aligned to its size, with the order in its low bits:
 *
 *   bits 63..12  gpa >> 12
 *   bits 11..6   reserved, zero
 *   bits  5..0   order (0..PVKIT_BALLOON_MAX_ORDER)
 *
 * Each block lies wholly inside one range of guest RAM (never in the
 * shared region or a hole).  INFLATE and DEFLATE take order 0 (4 KiB) and,
 * with F_HUGE, order 9 (2 MiB) entries; REPORT any order.
 */
#ifndef PVKIT_BALLOON_H
#define PVKIT_BALLOON_H

#include <linux/types.h>
#ifdef __KERNEL__
#include <linux/stddef.h>
#else
#include <stddef.h>
#endif

/*
 * Device features (pvkit_dev_entry.features).  Negotiation:
 *
 *   bit                          host offers when         guest without it
 *   PVKIT_BALLOON_F_HUGE         it takes 2 MiB entries   4 KiB entries only
 *   PVKIT_BALLOON_F_STATS        it wants memory stats    no stats queue use
 *   PVKIT_BALLOON_F_REPORTING    it takes free page       no reports
 *                                reports
 *   PVKIT_BALLOON_F_DEFLATE_ON_OOM  the guest may deflate  the guest never
 *                                below target under       goes below target
 *                                memory pressure          on its own
 */
#define PVKIT_BALLOON_F_HUGE		(1ULL << 0)
#define PVKIT_BALLOON_F_STATS		(1ULL << 1)
#define PVKIT_BALLOON_F_REPORTING	(1ULL << 2)
#define PVKIT_BALLOON_F_DEFLATE_ON_OOM	(1ULL << 3)
#define PVKIT_BALLOON_F_KNOWN		((1ULL << 4) - 1)

#define PVKIT_BALLOON_NR_QUEUES		3
#define PVKIT_BALLOON_Q_PAGES		0
#define PVKIT_BALLOON_Q_STATS		1
#define PVKIT_BALLOON_Q_REPORT		2

/* Entries per request: a 32 KiB list. */
#define PVKIT_BALLOON_MAX_ENTRIES	4096
#define PVKIT_BALLOON_HUGE_ORDER	9	/* 2 MiB */
#define PVKIT_BALLOON_MAX_ORDER		18	/* 1 GiB */
#define PVKIT_BALLOON_ENTRY_ORDER_MASK	0x3fULL
#define PVKIT_BALLOON_ENTRY_RSVD_MASK	0xfc0ULL
#define PVKIT_BALLOON_ENTRY_GPA_MASK	(~0xfffULL)

/*
 * Device config (pvkit_dev_entry.config), written by the host.  Its live
 * fields (ABI.md 6.2) are target_pages and stats_seq.
 */
struct pvkit_balloon_config {
	__le64 target_pages;	/* 4 KiB pages wanted in the balloon; live */
	__le32 stats_seq;	/* F_STATS: bumped to ask for stats; live */
	__u8 host_order;	/* order the host releases memory in: 0 or 9 */
	__u8 reserved0[3];	/* zero */
	__le64 ram_pages;	/* 4 KiB pages of guest RAM (the map's sum) */
	__u8 reserved[104];	/* zero */
};				/* 128 bytes, MUST NOT change */

_Static_assert(sizeof(struct pvkit_balloon_config) == 128,
	       "pvkit_balloon_config size");
_Static_assert(offsetof(struct pvkit_balloon_config, ram_pages) == 16,
	       "ram_pages");

/* Page-list operations */
#define PVKIT_BALLOON_OP_INFLATE	1	/* queue 0: give blocks */
#define PVKIT_BALLOON_OP_DEFLATE	2	/* queue 0: take them back */
#define PVKIT_BALLOON_OP_DEFLATE_ALL	3	/* queue 0: hold nothing */
#define PVKIT_BALLOON_OP_REPORT		4	/* queue 2: free blocks */

/* A page-list request (queues 0 and 2). */
struct pvkit_balloon_req {
	__le64 id;		/* opaque tag echoed in the response */
	__le64 list_gpa;	/* the entries; 0 with DEFLATE_ALL */
	__le32 nr_entries;	/* 1..MAX_ENTRIES; 0 with DEFLATE_ALL */
	__u8 op;		/* PVKIT_BALLOON_OP_* */
	__u8 reserved[3];	/* zero */
};				/* 24 bytes, MUST NOT change */

_Static_assert(sizeof(struct pvkit_balloon_req) == 24,
	       "pvkit_balloon_req size");
_Static_assert(offsetof(struct pvkit_balloon_req, op) == 20, "op");

/* Response status */
#define PVKIT_BALLOON_S_OK		0
#define PVKIT_BALLOON_S_INVAL		1	/* refused, nothing applied */
#define PVKIT_BALLOON_S_UNSUPP		2	/* op or queue not negotiated */

struct pvkit_balloon_rsp {
	__le64 id;		/* the request's id */
	/* OK: the 4 KiB pages it covered; INVAL: the first bad entry */
	__le32 done;
	__u8 status;		/* PVKIT_BALLOON_S_* */
	__u8 reserved[3];	/* written as zero */
};				/* 16 bytes, MUST NOT change */

_Static_assert(sizeof(struct pvkit_balloon_rsp) == 16,
	       "pvkit_balloon_rsp size");

/*
 * Memory statistics: the virtio-balloon set plus the balloon's own.
 * Sizes in bytes, events in counts since boot.
 */
#define PVKIT_BALLOON_STAT_SWAP_IN	0	/* pages swapped in */
#define PVKIT_BALLOON_STAT_SWAP_OUT	1	/* pages swapped out */
#define PVKIT_BALLOON_STAT_MAJFLT	2	/* major faults */
#define PVKIT_BALLOON_STAT_MINFLT	3	/* minor faults */
#define PVKIT_BALLOON_STAT_FREE		4	/* free memory, bytes */
#define PVKIT_BALLOON_STAT_TOTAL	5	/* total memory, bytes */
#define PVKIT_BALLOON_STAT_AVAIL	6	/* available memory, bytes */
#define PVKIT_BALLOON_STAT_CACHES	7	/* page cache, bytes */
#define PVKIT_BALLOON_STAT_HTLB_ALLOC	8	/* hugetlb allocations */
#define PVKIT_BALLOON_STAT_HTLB_FAIL	9	/* hugetlb failures */
#define PVKIT_BALLOON_STAT_BALLOON	10	/* in the balloon, bytes */
#define PVKIT_BALLOON_STAT_HUGE		11	/* 2 MiB pages in it */
#define PVKIT_BALLOON_STAT_OOM		12	/* 4 KiB pages given back on OOM */
#define PVKIT_BALLOON_STAT_MIGRATED	13	/* balloon pages migrated */
#define PVKIT_BALLOON_NR_STATS		14

/* A stats report (queue 1): answered OK; the host keeps the last one. */
struct pvkit_balloon_stats_req {
	__le64 id;		/* opaque tag echoed in the response */
	__le32 seq;		/* config stats_seq it answers (0: periodic) */
	__le32 valid;		/* bit n: stat[n] filled in */
	__le64 stat[PVKIT_BALLOON_NR_STATS]; /* PVKIT_BALLOON_STAT_* */
};				/* 128 bytes, MUST NOT change */

_Static_assert(sizeof(struct pvkit_balloon_stats_req) == 128,
	       "pvkit_balloon_stats_req size");
_Static_assert(offsetof(struct pvkit_balloon_stats_req, stat) == 16,
	       "stat");

#endif /* PVKIT_BALLOON_H */
