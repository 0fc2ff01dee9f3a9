/* SPDX-License-Identifier: MIT */
/*
 * pvkit block device protocol (device type PVKIT_DEV_BLK), ABI v1.
 *
 * Each queue is one pvkit ring (pvkit/ring.h) with req_size ==
 * sizeof(struct pvkit_blk_req) and rsp_size == sizeof(struct pvkit_blk_rsp).
 * Data moves by guest-physical address: the back-end translates every
 * segment through the memory map in the info page and rejects any that is
 * not wholly inside guest RAM.
 */
#ifndef PVKIT_BLK_H
#define PVKIT_BLK_H

#include <linux/types.h>
#ifdef __KERNEL__
#include <linux/stddef.h>
#else
#include <stddef.h>
#endif

/*
 * Device features (pvkit_dev_entry.features).  Negotiation:
 *
 *   bit                     host offers when           guest without it
 *   PVKIT_BLK_F_RO          image opened read-only     must not write
 *   PVKIT_BLK_F_FLUSH       always                     no flush / FUA
 *   PVKIT_BLK_F_FUA         always                     emulates via flush
 *   PVKIT_BLK_F_DISCARD     image can punch holes      no discard
 *   PVKIT_BLK_F_WRITE_ZEROES image can zero ranges     no write-zeroes
 *   PVKIT_BLK_F_INDIRECT    always                     max inline segments
 *   PVKIT_BLK_F_BACKEND_POLL back-end busy-polls       (informational)
 */
#define PVKIT_BLK_F_RO			(1ULL << 0)
#define PVKIT_BLK_F_FLUSH		(1ULL << 1)
#define PVKIT_BLK_F_FUA			(1ULL << 2)
#define PVKIT_BLK_F_DISCARD		(1ULL << 3)
#define PVKIT_BLK_F_WRITE_ZEROES	(1ULL << 4)
#define PVKIT_BLK_F_INDIRECT		(1ULL << 5)
#define PVKIT_BLK_F_BACKEND_POLL	(1ULL << 6)
#define PVKIT_BLK_F_KNOWN		((1ULL << 7) - 1)

#define PVKIT_BLK_SECTOR_SHIFT		9	/* sector = 512 bytes */
#define PVKIT_BLK_INLINE_SEGS		6
#define PVKIT_BLK_MAX_SEGS		256	/* with PVKIT_BLK_F_INDIRECT */

/* Device config (pvkit_dev_entry.config), written by the host. */
struct pvkit_blk_config {
	__le64 capacity;	/* device size in 512-byte sectors */
	__le32 logical_block_size; /* bytes: 512 or 4096 */
	__le32 physical_block_size; /* bytes, >= logical_block_size */
	__le32 max_segments;	/* segments per request, <= MAX_SEGS */
	__le32 max_segment_size; /* bytes per segment */
	__le32 max_sectors;	/* 512-byte sectors per read/write */
	__le32 max_discard_sectors; /* per discard, 0 without F_DISCARD */
	__le32 discard_granularity; /* bytes: power of 2, >= logical size */
	__le32 max_write_zeroes_sectors; /* 0 without F_WRITE_ZEROES */
	__le32 poll_us;		/* back-end idle spin before sleeping, 0 = off */
	__le32 reserved0;	/* must be zero */
	__le64 reserved[10];	/* must be zero */
};				/* 128 bytes, MUST NOT change */

_Static_assert(sizeof(struct pvkit_blk_config) == 128,
	       "pvkit_blk_config size");
_Static_assert(offsetof(struct pvkit_blk_config, max_segments) == 16,
	       "max_segments");
_Static_assert(offsetof(struct pvkit_blk_config, poll_us) == 40, "poll_us");

/* Operations. */
#define PVKIT_BLK_OP_READ		0
#define PVKIT_BLK_OP_WRITE		1
#define PVKIT_BLK_OP_FLUSH		2
#define PVKIT_BLK_OP_DISCARD		3
#define PVKIT_BLK_OP_WRITE_ZEROES	4
#define PVKIT_BLK_OP_GET_ID		5	/* serial into one segment */

/* Request flags.  Undefined bits MUST be zero. */
#define PVKIT_BLK_RQ_FUA		(1U << 0)	/* write through */
#define PVKIT_BLK_RQ_INDIRECT		(1U << 1)	/* segs at indirect_gpa */
#define PVKIT_BLK_RQ_KNOWN		(PVKIT_BLK_RQ_FUA | PVKIT_BLK_RQ_INDIRECT)

#define PVKIT_BLK_ID_BYTES		20

/*
 * One data segment.  gpa is a multiple of 512 and len of the logical
 * block size; the segment lies wholly inside one range of the guest
 * memory map.
 */
struct pvkit_blk_seg {
	__le64 gpa;		/* guest-physical address of the data */
	__le32 len;		/* bytes, > 0, multiple of logical block size */
	__le32 reserved;	/* must be zero */
};				/* 16 bytes, MUST NOT change */

_Static_assert(sizeof(struct pvkit_blk_seg) == 16, "pvkit_blk_seg size");

/*
 * One request slot.  READ/WRITE carry nr_segs segments, inline (up to
 * PVKIT_BLK_INLINE_SEGS) or, with PVKIT_BLK_RQ_INDIRECT, as an array of
 * nr_segs pvkit_blk_seg at indirect_gpa (inside one memory-map range).
 * DISCARD and WRITE_ZEROES use nr_sectors and no segments.  FLUSH uses
 * neither.
 */
struct pvkit_blk_req {
	__le64 id;		/* opaque tag echoed in the response */
	__u8 op;		/* PVKIT_BLK_OP_* */
	__u8 flags;		/* PVKIT_BLK_RQ_* */
	__le16 nr_segs;		/* data segments; 0 for non-data ops */
	__le32 nr_sectors;	/* DISCARD/WRITE_ZEROES length, else 0 */
	__le64 sector;		/* first 512-byte sector */
	__le64 indirect_gpa;	/* segment array with RQ_INDIRECT, else 0 */
	struct pvkit_blk_seg seg[PVKIT_BLK_INLINE_SEGS]; /* inline segments */
};				/* 128 bytes, MUST NOT change */

_Static_assert(sizeof(struct pvkit_blk_req) == 128, "pvkit_blk_req size");
_Static_assert(offsetof(struct pvkit_blk_req, sector) == 16, "sector");
_Static_assert(offsetof(struct pvkit_blk_req, seg) == 32, "seg");

/* Response status. */
#define PVKIT_BLK_S_OK			0
#define PVKIT_BLK_S_IOERR		1	/* the host I/O failed */
#define PVKIT_BLK_S_UNSUPP		2	/* op not offered/negotiated */
#define PVKIT_BLK_S_INVAL		3	/* malformed request */
#define PVKIT_BLK_S_RANGE		4	/* beyond capacity */
#define PVKIT_BLK_S_RO			5	/* write to read-only disk */

/* One response slot. */
struct pvkit_blk_rsp {
	__le64 id;		/* the request's id */
	__u8 status;		/* PVKIT_BLK_S_* */
	__u8 pad[7];		/* written as zero */
};				/* 16 bytes, MUST NOT change */

_Static_assert(sizeof(struct pvkit_blk_rsp) == 16, "pvkit_blk_rsp size");

#endif /* PVKIT_BLK_H */
