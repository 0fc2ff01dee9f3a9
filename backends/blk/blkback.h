/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pvkit-blkback internals: the block back-end serving one pvkit block
 * device (pvkit/blk.h) from a disk image, one io_uring per queue.
 *
 *   main.c      the struct pvbe_ops of the generic back-end (bemain.h)
 *   opts.c      SETUP.args parsing
 *   disk.c      disk back-end registry (struct blkb_disk_ops)
 *   disk-raw.c  raw image file / block device
 *   req.c       copy-then-validate of guest requests (ABI.md section 9)
 *   queue.c     per-queue thread: ring <-> io_uring
 */
#ifndef PVKIT_BLKBACK_H
#define PVKIT_BLKBACK_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <liburing.h>

#include <pvkit/abi.h>
#include <pvkit/blk.h>
#include <pvkit/ring.h>
#include <pvkit-host/bemain.h>
#include <pvkit-host/bequeue.h>
#include <pvkit-host/gmem.h>

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))
#endif

#define BLKB_SECTOR_SIZE	(1U << PVKIT_BLK_SECTOR_SHIFT)

/* Limits offered in struct pvkit_blk_config. */
#define BLKB_MAX_SEGS		PVKIT_BLK_MAX_SEGS	/* 256 */
#define BLKB_MAX_SEG_SIZE	(1U << 20)		/* 1 MiB */
#define BLKB_MAX_SECTORS	2048U			/* 1 MiB per request */
#define BLKB_MAX_DISCARD_SECTORS (1U << 22)		/* 2 GiB */
#define BLKB_MAX_WZ_SECTORS	(1U << 22)		/* 2 GiB */
#define BLKB_MAX_POLL_US	1000000U		/* 1 s */

/* Largest read/write done inline on a memory-backed image (inline_rw). */
#define BLKB_INLINE_MAX		(64U << 10)

/* Write-zeroes fallback: zeroes written from this many bytes of zero page. */
#define BLKB_ZERO_BUF_SIZE	(1U << 20)
#define BLKB_ZERO_IOVS		16		/* 16 MiB per write */

#define BLKB_REQ_SIZE		sizeof(struct pvkit_blk_req)
#define BLKB_RSP_SIZE		sizeof(struct pvkit_blk_rsp)

/* ------------------------------------------------------------ options --- */

enum blkb_direct {
	BLKB_DIRECT_AUTO,	/* O_DIRECT, buffered if unsupported */
	BLKB_DIRECT_ON,		/* O_DIRECT or fail */
	BLKB_DIRECT_OFF,	/* buffered (host page cache) */
};

struct blkb_opts {
	char path[PATH_MAX];
	char format[16];		/* disk back-end, "raw" */
	char serial[PVKIT_BLK_ID_BYTES + 1];
	bool ro;
	bool has_serial;
	enum blkb_direct direct;
	bool no_inline;			/* inline=off */
	unsigned int poll_us;
};

/*
 * Parse "path=PATH[,ro][,poll=US][,direct=auto|on|off][,inline=auto|off]
 * [,serial=S][,format=raw]".  Returns 0 or -EINVAL with a reason in @err.
 */
int blkb_opts_parse(struct blkb_opts *o, const char *args, char *err,
		    size_t errlen);

/* --------------------------------------------------------------- disk --- */

struct blkb_disk;

enum blkb_recover {
	BLKB_RECOVER_FAIL,	/* answer PVKIT_BLK_S_IOERR */
	BLKB_RECOVER_RETRY,	/* prepare the same step again */
	BLKB_RECOVER_DONE,	/* the request succeeded after all */
};

/*
 * A disk back-end (kvmtool's disk_image_operations, io_uring style): the
 * queue threads ask it to prepare one SQE per step of a request, and tell
 * it about failures it may recover from.  The prep_* calls are made by any
 * queue thread concurrently and must not block.
 */
struct blkb_disk_ops {
	const char *name;
	/* open the image and fill capacity, block sizes and capabilities */
	int (*open)(struct blkb_disk *disk, const struct blkb_opts *opts,
		    char *err, size_t errlen);
	void (*close)(struct blkb_disk *disk);
	/* readv/writev of @nr iovecs at byte @off; @rwf: RWF_* (FUA) */
	void (*prep_rw)(struct blkb_disk *disk, struct io_uring_sqe *sqe,
			bool write, const struct iovec *iov, unsigned int nr,
			uint64_t off, int rwf);
	/*
	 * Optional: do the readv/writev now, in the calling thread; returns
	 * bytes done or -errno.  Only called when disk->inline_rw is set.
	 */
	ssize_t (*rw_inline)(struct blkb_disk *disk, bool write,
			     const struct iovec *iov, unsigned int nr,
			     uint64_t off, int rwf);
	void (*prep_flush)(struct blkb_disk *disk, struct io_uring_sqe *sqe);
	void (*prep_discard)(struct blkb_disk *disk, struct io_uring_sqe *sqe,
			     uint64_t off, uint64_t len);
	/*
	 * Prepare a write-zeroes without data transfer; -EOPNOTSUPP tells
	 * the caller to write zeroes with prep_rw() instead.
	 */
	int (*prep_write_zeroes)(struct blkb_disk *disk,
				 struct io_uring_sqe *sqe, uint64_t off,
				 uint64_t len);
	/*
	 * A step of @op (PVKIT_BLK_OP_*) failed with @res (< 0).  The disk
	 * may change its strategy (drop O_DIRECT, stop using ZERO_RANGE) and
	 * ask for the step to be prepared again, declare the request done
	 * (a discard the device cannot do is only a hint), or give up.
	 */
	enum blkb_recover (*recover)(struct blkb_disk *disk, unsigned int op,
				     int res);
};

struct blkb_disk {
	const struct blkb_disk_ops *ops;
	int fd;
	bool ro;		/* opened read-only */
	bool is_blkdev;
	bool direct;		/* O_DIRECT was in effect at open */
	/* what O_DIRECT needs (statx STATX_DIOALIGN), 0 = not known */
	uint32_t dio_mem_align, dio_offset_align;
	bool can_discard;
	bool can_write_zeroes;
	bool discard_is_hint;	/* discard may silently do nothing */
	/*
	 * Reads and writes of at most BLKB_INLINE_MAX bytes go through
	 * ops->rw_inline(): the image is in memory (tmpfs/ramfs) and
	 * cannot do RWF_NOWAIT, so io_uring would hand every one of them to
	 * an io-wq worker (two thread wake-ups per request for a memcpy).
	 */
	bool inline_rw;
	int no_zero_range;	/* atomic: ZERO_RANGE unsupported */
	uint64_t size;		/* bytes exposed to the guest */
	uint32_t lbs, pbs;	/* logical / physical block size */
	uint32_t discard_granularity;
	uint32_t max_discard_sectors;
	void *zero_buf;		/* BLKB_ZERO_BUF_SIZE bytes of zeroes */
	char serial[PVKIT_BLK_ID_BYTES];
};

extern const struct blkb_disk_ops blkb_raw_ops;

/* Pick the back-end for opts->format and open the image. */
int blkb_disk_open(struct blkb_disk *disk, const struct blkb_opts *opts,
		   char *err, size_t errlen);
void blkb_disk_close(struct blkb_disk *disk);

/* ---------------------------------------------------------- requests --- */

/*
 * One request being served.  A queue has ring_slots of them; a request
 * holds one from the moment it is consumed with a valid form until its
 * response is written, so in-flight state is bounded by the ring size.
 */
struct blkb_io {
	uint64_t id;
	uint8_t op;		/* PVKIT_BLK_OP_* */
	bool zeroes;		/* write-zeroes done as writes of zeroes */
	int rwf;		/* RWF_DSYNC for FUA */
	uint64_t off;		/* byte offset of the next step */
	uint64_t left;		/* bytes still to do */
	uint64_t bytes;		/* data bytes of the request (stats) */
	unsigned int iov_idx;	/* first iovec not fully done */
	unsigned int nr_iov;
	unsigned int retries;	/* -EAGAIN/-EINTR resubmissions */
	int res;		/* result of an inline step */
	struct blkb_io *next_free;
	struct blkb_io *next_done;	/* inline steps awaiting completion */
	struct iovec iov[BLKB_MAX_SEGS];
};

/* What requests may use: the negotiated device, from one thread's view. */
struct blkb_limits {
	uint64_t acked;		/* features the guest acknowledged */
	uint64_t capacity;	/* sectors */
	uint32_t lbs;		/* bytes, 512..4096 */
	uint32_t max_discard_sectors;
	uint32_t max_wz_sectors;
	bool ro;
};

/*
 * Validate the private copy @rq (ABI.md section 9) and, for READ/WRITE,
 * fill io->iov with host pointers into guest RAM; for DISCARD and
 * WRITE_ZEROES io->off/left; for GET_ID iov[0] is the 20-byte target.
 * @segbuf (BLKB_MAX_SEGS entries) receives the copy of an indirect
 * segment array.  Returns PVKIT_BLK_S_OK or the error status to answer.
 */
uint8_t blkb_req_parse(const struct blkb_limits *lim, const struct gmem *gm,
		       const struct pvkit_blk_req *rq,
		       struct pvkit_blk_seg *segbuf, struct blkb_io *io);

/* ------------------------------------------------------------- queues --- */

struct blkb_dev;

struct blkb_queue {
	struct pvbe_queue bq;		/* ring, fds, stop/error, counters */
	struct blkb_dev *dev;
	struct io_uring uring;
	bool uring_ok;
	pthread_t thread;

	/* owned by the queue thread while it runs */
	struct blkb_limits lim;
	struct blkb_io *ios;		/* ring_slots entries */
	struct blkb_io *free_ios;
	struct blkb_io *done_head;	/* inline steps done, FIFO */
	struct blkb_io **done_tail;
	unsigned int inflight;		/* ios held */
	bool kick_poll;			/* kick fd is O_NONBLOCK: poll first */
	uint64_t kick_val;		/* kick eventfd read buffer */
	uint64_t log_sec;		/* I/O error log rate limit */
	unsigned int log_count;
	struct pvkit_blk_seg segbuf[BLKB_MAX_SEGS];
} __attribute__((aligned(64)));

/* Per-device state: the generic back-end and the disk. */
struct blkb_dev {
	struct pvbe be;
	struct blkb_opts opts;
	struct blkb_disk disk;
};

static inline struct blkb_dev *blkb_dev(struct pvbe *be)
{
	return container_of(be, struct blkb_dev, be);
}

static inline struct blkb_queue *blkb_queue(struct pvbe_queue *bq)
{
	return container_of(bq, struct blkb_queue, bq);
}

/*
 * pvbe_ops.queue_start/queue_join: a thread and an io_uring per queue,
 * running until the device's stop eventfd fires or the queue fails.
 */
int blkb_queue_start(struct pvbe *be, struct pvbe_queue *bq);
void blkb_queue_join(struct pvbe *be, struct pvbe_queue *bq);

#endif /* PVKIT_BLKBACK_H */
