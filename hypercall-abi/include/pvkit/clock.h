/* SPDX-License-Identifier: MIT */
/*
 * pvkit paravirt clock (device type PVKIT_DEV_CLOCK), ABI 1.4.
 *
 * pvkit-hv does not know the guest's TSC: QEMU owns it (under TCG it is
 * QEMU's virtual clock, under KVM the host TSC with an offset and a
 * scale).  So the host does not publish a TSC-to-time mapping the way
 * kvmclock does.  It answers timestamp exchanges; the guest builds the
 * mapping from them, each with an error bound from its own round trip
 * (ABI.md 12), with no engine-specific knowledge on either side.
 *
 *   the clock area  one 4 KiB page of guest RAM the guest registers with
 *                   SETUP: the host's info (seqlock), the exchange slot,
 *                   per-vCPU steal time
 *   queue 0         control ring: pvkit_clock_req / pvkit_clock_rsp
 *                   (SETUP, WINDOW), answered by pvkit-hv
 *   config          pvkit_clock_config; live field (ABI.md 6.2):
 *                   generation
 *
 * An exchange: the guest reads its TSC (t1), stores req_seq, spins until
 * resp_seq equals it, reads its TSC again (t2).  The host, spinning on
 * req_seq during a window the guest asked for, reads its clocks after it
 * saw the new req_seq and before it stores resp_seq.  So the host's
 * reading happened while the guest's TSC was in [t1, t2]: taken at the
 * midpoint, the error is at most (t2 - t1) / 2 plus read_ns.
 *
 * generation counts the times guest time stopped or jumped against host
 * time (pause/resume; later snapshot restore and migration).  A sample
 * from an older generation MUST NOT be combined with a newer one.
 */
#ifndef PVKIT_CLOCK_H
#define PVKIT_CLOCK_H

#include <linux/types.h>
#ifdef __KERNEL__
#include <linux/stddef.h>
#else
#include <stddef.h>
#endif

/*
 * Device features (pvkit_dev_entry.features).
 *
 *   PVKIT_CLOCK_F_STEAL  the host fills steal[] every steal_period_ms
 */
#define PVKIT_CLOCK_F_STEAL		(1ULL << 0)
#define PVKIT_CLOCK_F_KNOWN		PVKIT_CLOCK_F_STEAL

#define PVKIT_CLOCK_NR_QUEUES		1
#define PVKIT_CLOCK_Q_CTRL		0

#define PVKIT_CLOCK_AREA_SIZE		4096
/* steal[] entries: one per vCPU, as many as mailboxes at most */
#define PVKIT_CLOCK_MAX_VCPUS		64
/* Exchanges one WINDOW may ask for. */
#define PVKIT_CLOCK_MAX_XCHG		64
/* Longest a host spins for one window, in microseconds. */
#define PVKIT_CLOCK_WINDOW_MAX_US	5000

/*
 * Device config (pvkit_dev_entry.config), written by the host.  Its one
 * live field (ABI.md 6.2) is generation.
 */
struct pvkit_clock_config {
	__le32 generation;	/* >= 1; +1 whenever guest time stopped or
				 * jumped against host time; live
				 */
	__le32 max_xchg;	/* exchanges a WINDOW may ask: 1..MAX_XCHG */
	__le32 window_rate;	/* WINDOWs granted per second, sustained;
				 * more are answered BUSY
				 */
	__le32 window_us;	/* how long the host spins for a window */
	__le32 steal_period_ms;	/* F_STEAL: steal[] refresh period */
	__le32 nr_vcpus;	/* F_STEAL: steal[] entries the host fills */
	__u8 reserved[104];	/* zero */
};				/* 128 bytes, MUST NOT change */

_Static_assert(sizeof(struct pvkit_clock_config) == 128,
	       "pvkit_clock_config size");
_Static_assert(offsetof(struct pvkit_clock_config, steal_period_ms) == 16,
	       "steal_period_ms");

/* Control operations (queue 0) */
#define PVKIT_CLOCK_OP_SETUP		1	/* use the area at gpa (0: none) */
#define PVKIT_CLOCK_OP_WINDOW		2	/* answer count exchanges */

struct pvkit_clock_req {
	__le64 id;		/* opaque tag echoed in the response */
	__le64 gpa;		/* SETUP: the area, 4 KiB aligned, in one RAM
				 * range; 0 = stop using it.  WINDOW: 0
				 */
	__le32 count;		/* WINDOW: 1..max_xchg.  SETUP: 0 */
	__u8 op;		/* PVKIT_CLOCK_OP_* */
	__u8 reserved[3];	/* zero */
};				/* 24 bytes, MUST NOT change */

_Static_assert(sizeof(struct pvkit_clock_req) == 24, "pvkit_clock_req size");
_Static_assert(offsetof(struct pvkit_clock_req, op) == 20, "op");

/* Response status */
#define PVKIT_CLOCK_S_OK		0
#define PVKIT_CLOCK_S_INVAL		1	/* refused, nothing changed */
#define PVKIT_CLOCK_S_BUSY		2	/* WINDOW over the rate: retry */

struct pvkit_clock_rsp {
	__le64 id;		/* the request's id */
	/* WINDOW OK: us the host answers for; BUSY: ms until it would */
	__le32 value;
	__u8 status;		/* PVKIT_CLOCK_S_* */
	__u8 reserved[3];	/* written as zero */
};				/* 16 bytes, MUST NOT change */

_Static_assert(sizeof(struct pvkit_clock_rsp) == 16, "pvkit_clock_rsp size");

/* info.host_status: the host clock's own state (adjtimex(2)) */
#define PVKIT_CLOCK_HS_UNSYNC		(1ULL << 0)	/* STA_UNSYNC */
#define PVKIT_CLOCK_HS_LEAP_INS		(1ULL << 1)	/* leap second ahead */
#define PVKIT_CLOCK_HS_LEAP_DEL		(1ULL << 2)	/* leap second dropped */

/*
 * Host half of the area, rewritten under a seqlock: the host makes
 * version odd, writes info and steal[], makes it even again.  A guest
 * copies between two reads of an equal, even version, and gives up after
 * a bounded number of tries (a version stuck odd is a broken host).
 */
struct pvkit_clock_info {
	__le32 version;		/* seqlock: odd while the host writes */
	__le32 nr_steal;	/* valid steal[] entries, <= config nr_vcpus */
	__le64 host_status;	/* PVKIT_CLOCK_HS_* */
	__le64 maxerror_ns;	/* host CLOCK_REALTIME's own error bound */
	__le64 esterror_ns;	/* host CLOCK_REALTIME's estimated error */
	__le64 update_ns;	/* host CLOCK_MONOTONIC of this update */
	__u8 reserved[24];	/* zero */
};				/* 64 bytes, MUST NOT change */

_Static_assert(sizeof(struct pvkit_clock_info) == 64,
	       "pvkit_clock_info size");

/*
 * The exchange slot.  Guest half and host half are in different cache
 * lines: each side spins on the other's.
 */
struct pvkit_clock_xchg {
	/* guest half */
	__le32 req_seq;		/* guest: any value != resp_seq asks */
	__u8 pad0[60];		/* zero */
	/* host half */
	__le32 resp_seq;	/* host: = req_seq once the rest is valid */
	__le32 generation;	/* config generation at the reading */
	__le64 realtime_ns;	/* host CLOCK_REALTIME, ns since the epoch */
	__le64 monotonic_ns;	/* host CLOCK_MONOTONIC, right after */
	__le32 read_ns;		/* ns between the host's two clock reads */
	__le32 pad1;		/* zero */
	__u8 pad2[32];		/* zero */
};				/* 128 bytes, MUST NOT change */

_Static_assert(sizeof(struct pvkit_clock_xchg) == 128,
	       "pvkit_clock_xchg size");
_Static_assert(offsetof(struct pvkit_clock_xchg, resp_seq) == 64,
	       "resp_seq");
_Static_assert(offsetof(struct pvkit_clock_xchg, realtime_ns) == 72,
	       "realtime_ns");

/* One vCPU's time from its host thread's schedstat (cumulative ns). */
struct pvkit_clock_steal {
	__le64 steal_ns;	/* runnable but not running: the steal */
	__le64 run_ns;		/* running on a host CPU */
};				/* 16 bytes, MUST NOT change */

_Static_assert(sizeof(struct pvkit_clock_steal) == 16,
	       "pvkit_clock_steal size");

/* The clock area: one guest page, offsets fixed. */
struct pvkit_clock_area {
	struct pvkit_clock_info info;	/* host-written, seqlock */
	__u8 pad0[64];			/* zero */
	struct pvkit_clock_xchg xchg;	/* the exchange slot */
	struct pvkit_clock_steal steal[PVKIT_CLOCK_MAX_VCPUS]; /* by vCPU */
	__u8 pad1[PVKIT_CLOCK_AREA_SIZE - 256 -
		  16 * PVKIT_CLOCK_MAX_VCPUS];	/* zero */
};				/* 4096 bytes, MUST NOT change */

_Static_assert(sizeof(struct pvkit_clock_area) == PVKIT_CLOCK_AREA_SIZE,
	       "pvkit_clock_area size");
_Static_assert(offsetof(struct pvkit_clock_area, xchg) == 128, "xchg");
_Static_assert(offsetof(struct pvkit_clock_area, steal) == 256, "steal");

#endif /* PVKIT_CLOCK_H */
