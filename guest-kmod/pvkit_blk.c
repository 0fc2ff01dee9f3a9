// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvkit_blk - block front-end for pvkit disks (/dev/pvda, /dev/pvdb, ...).
 *
 * One blk-mq hardware queue per pvkit queue; each owns a shared ring
 * (pvkit/ring.h) carrying struct pvkit_blk_req/pvkit_blk_rsp (pvkit/blk.h)
 * and, unless it is a polled queue, an MSI-X vector of its own.  Data is
 * passed by guest-physical address: up to PVKIT_BLK_INLINE_SEGS segments
 * inline in the ring slot, more through a per-request indirect segment
 * array that never crosses a page.
 *
 * The host is not trusted: config values are clamped, and a response with
 * an id that is not in flight, an unknown status or an impossible ring
 * index marks the disk broken (all I/O fails, the device is reset once);
 * the guest does not crash.
 *
 * The device lifecycle (back-end restarts, a broken disk, hot-remove) is
 * pvkit.ko's struct pvkit_fe_dev (pvkit/fe.h): this driver supplies the
 * blk-mq side of it (quiesce, fail a request, mark the disk dead).
 *
 * Copyright (c) 2026 The pvkit authors
 */
#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/cpumask.h>
#include <linux/ctype.h>
#include <linux/delay.h>
#include <linux/dma-mapping.h>
#include <linux/hdreg.h>
#include <linux/idr.h>
#include <linux/interrupt.h>
#include <linux/log2.h>
#include <linux/module.h>
#include <linux/scatterlist.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string_helpers.h>
#include <pvkit/abi.h>
#include <pvkit/blk.h>
#include <pvkit/bus.h>
#include <pvkit/fe.h>

#define PVBLK_PART_BITS		4	/* 15 partitions per disk */
#define PVBLK_MAX_SECTORS	2048	/* 1 MiB per read/write request */
#define PVBLK_MAX_DEPTH		256	/* default cap on requests per queue */
#define PVBLK_INLINE_SG_CNT	2	/* scatterlist entries in the pdu */
#define PVBLK_SECTOR_MASK	((1U << PVKIT_BLK_SECTOR_SHIFT) - 1)
#define PVBLK_CONNECT_WAIT_MS	5000	/* for a back-end still starting */
#define PVBLK_MAX_IO_TIMEOUT	3600	/* seconds */

static unsigned int num_request_queues;
module_param(num_request_queues, uint, 0444);
MODULE_PARM_DESC(num_request_queues,
		 "Limit the number of device queues used (0: no limit, at most one per CPU)");

static unsigned int poll_queues;
module_param(poll_queues, uint, 0444);
MODULE_PARM_DESC(poll_queues,
		 "Number of device queues used for polled I/O, without interrupts");

static unsigned int queue_depth;
module_param(queue_depth, uint, 0444);
MODULE_PARM_DESC(queue_depth,
		 "Requests per queue (0: ring size, at most 256; never above the ring size)");

static unsigned int io_timeout = 30;
module_param(io_timeout, uint, 0644);
MODULE_PARM_DESC(io_timeout,
		 "Seconds a request may stay unanswered before the device is reset (default 30; per disk: queue/io_timeout)");

static unsigned int timeout_retries = 2;
module_param(timeout_retries, uint, 0644);
MODULE_PARM_DESC(timeout_retries,
		 "Device resets a timed-out request is resubmitted across before it fails (default 2)");

static int pvblk_major;
static DEFINE_IDA(pvblk_index_ida);

/* Per-queue state: the front-end queue (ring, lock, tracker, irq). */
struct pvblk_queue {
	struct pvkit_fe_queue fq;	/* cacheline aligned, like virtio_blk */
	struct pvblk *blk;
};

struct pvblk {
	struct pvkit_device *pdev;
	struct device *dma_dev;
	struct gendisk *disk;
	struct blk_mq_tag_set tag_set;
	struct pvkit_fe_dev fd;		/* lifecycle, in pvkit.ko */

	int index;			/* pvda = 0: the device instance */
	u64 features;			/* acknowledged PVKIT_BLK_F_* */
	u64 capacity;			/* 512-byte sectors */
	u32 lbs;			/* logical block size */
	u32 pbs;			/* physical block size */
	u32 max_segs;			/* segments per request */
	u32 max_seg_size;		/* bytes per segment */
	u32 max_sectors;		/* sectors per read/write */
	u32 max_discard;		/* sectors per discard */
	u32 discard_gran;		/* bytes */
	u32 max_wzeroes;		/* sectors per write-zeroes */
	u32 indirect_size;		/* bytes of each indirect array */

	unsigned int nr_queues;
	unsigned int io_queues[HCTX_MAX_TYPES];
	struct pvblk_queue *queues;
};

/* Per-request driver data (blk-mq pdu). */
struct pvblk_req {
	struct pvkit_blk_req slot;	/* ring slot, kept for resubmission */
	struct pvkit_fe_req fe;		/* tracked by the queue */
	struct pvkit_blk_seg *indirect;	/* segment array, within one page */
	dma_addr_t indirect_dma;
	blk_status_t status;		/* result for ->complete() */
	enum dma_data_direction dir;
	int nents;			/* mapped scatterlist entries, or 0 */
	u8 timeouts;			/* times its timer expired on a ring */
	unsigned long map_fail_since;	/* jiffies of the first failed map */
	struct sg_table sg_table;
	struct scatterlist sg[];	/* PVBLK_INLINE_SG_CNT entries */
};

static inline bool pvblk_has(const struct pvblk *blk, u64 feature)
{
	return blk->features & feature;
}

/* ------------------------------------------------------------ rings --- */

/* Translate a response status; false if the ABI does not define it. */
static bool pvblk_status(u8 status, blk_status_t *sts)
{
	switch (status) {
	case PVKIT_BLK_S_OK:
		*sts = BLK_STS_OK;
		return true;
	case PVKIT_BLK_S_UNSUPP:
		*sts = BLK_STS_NOTSUPP;
		return true;
	case PVKIT_BLK_S_IOERR:
	case PVKIT_BLK_S_INVAL:
	case PVKIT_BLK_S_RANGE:
	case PVKIT_BLK_S_RO:
		*sts = BLK_STS_IOERR;
		return true;
	default:
		return false;
	}
}

static void pvblk_complete_batch(struct io_comp_batch *iob);

/*
 * Complete the request a response answers (the library matched its id).
 * False if the response is not acceptable: the disk breaks.  Lock held.
 */
static bool pvblk_complete(struct pvkit_fe_queue *fq, struct pvkit_fe_req *r,
			   const void *buf, void *ctx)
{
	const struct pvkit_blk_rsp *rsp = buf;
	struct pvblk_req *br = container_of(r, struct pvblk_req, fe);
	struct request *rq = blk_mq_rq_from_pdu(br);
	struct io_comp_batch *iob = ctx;
	blk_status_t status;

	if (!pvblk_status(rsp->status, &status)) {
		snprintf(fq->why, sizeof(fq->why),
			 "queue %u: unknown status %u for id %#llx", fq->index,
			 rsp->status, le64_to_cpu(rsp->id));
		return false;
	}
	br->status = status;
	if (unlikely(rsp->status == PVKIT_BLK_S_INVAL))
		dev_err_ratelimited(&fq->pdev->dev,
				    "%s: host rejected request op %u as malformed\n",
				    rq->q->disk->disk_name, br->slot.op);
	if (!blk_mq_add_to_batch(rq, iob, status != BLK_STS_OK,
				 pvblk_complete_batch))
		blk_mq_complete_request(rq);
	return true;
}

/*
 * Consume every response on the ring (pvkit_fe_reap(): polled queues
 * never move rsp_event, which keeps the host from raising interrupts for
 * them).  Returns the number of requests completed.  Lock held.
 */
static int pvblk_reap(struct pvblk_queue *pq, struct io_comp_batch *iob)
{
	struct pvkit_blk_rsp rsp;

	return pvkit_fe_dev_reap(&pq->blk->fd, &pq->fq, &rsp, iob);
}

static irqreturn_t pvblk_irq(int irq, void *data)
{
	struct pvblk_queue *pq = data;
	unsigned long flags;

	spin_lock_irqsave(&pq->fq.lock, flags);
	if (pvblk_reap(pq, NULL))
		blk_mq_start_stopped_hw_queues(pq->blk->disk->queue, true);
	spin_unlock_irqrestore(&pq->fq.lock, flags);
	/* notifications are hints: a spurious one is not an error */
	return IRQ_HANDLED;
}

/* ---------------------------------------------------------- requests --- */

static void pvblk_unmap_data(struct pvblk *blk, struct pvblk_req *br)
{
	if (!br->nents)
		return;
	dma_unmap_sg(blk->dma_dev, br->sg_table.sgl, br->nents, br->dir);
	sg_free_table_chained(&br->sg_table, PVBLK_INLINE_SG_CNT);
	br->nents = 0;
}

/*
 * dma_map_sg() failed: bounce buffers (swiotlb) are exhausted for now, so
 * the request is retried once others complete.  Segments never exceed what
 * the DMA layer can map (pvblk_read_config()), but should mapping keep
 * failing for a whole I/O timeout the request fails rather than spin.
 */
static blk_status_t pvblk_map_failed(struct pvblk *blk, struct request *rq,
				     struct pvblk_req *br)
{
	unsigned long now = jiffies;

	if (!br->map_fail_since) {
		br->map_fail_since = now ?: 1;
		return BLK_STS_RESOURCE;
	}
	if (time_before(now, br->map_fail_since + rq->q->rq_timeout))
		return BLK_STS_RESOURCE;
	br->map_fail_since = 0;
	dev_err_ratelimited(&blk->pdev->dev,
			    "%s: cannot map %u bytes for DMA for %u ms: request failed\n",
			    blk->disk->disk_name, blk_rq_bytes(rq),
			    jiffies_to_msecs(rq->q->rq_timeout));
	return BLK_STS_IOERR;
}

/* Map the request's data and describe it in the slot. */
static blk_status_t pvblk_map_data(struct pvblk *blk, struct request *rq,
				   struct pvblk_req *br)
{
	struct pvkit_blk_req *slot = &br->slot;
	struct pvkit_blk_seg *segs;
	struct scatterlist *sg;
	bool bounced = false;
	int nents, count, i;

	if (!blk_rq_nr_phys_segments(rq))
		return BLK_STS_IOERR;

	br->sg_table.sgl = br->sg;
	if (sg_alloc_table_chained(&br->sg_table,
				   blk_rq_nr_phys_segments(rq),
				   br->sg_table.sgl, PVBLK_INLINE_SG_CNT))
		return BLK_STS_RESOURCE;
	nents = blk_rq_map_sg(rq->q, rq, br->sg_table.sgl);
	br->dir = rq_data_dir(rq) == WRITE ? DMA_TO_DEVICE : DMA_FROM_DEVICE;
	count = dma_map_sg(blk->dma_dev, br->sg_table.sgl, nents, br->dir);
	if (!count) {
		sg_free_table_chained(&br->sg_table, PVBLK_INLINE_SG_CNT);
		return pvblk_map_failed(blk, rq, br);
	}
	br->map_fail_since = 0;
	br->nents = nents;

	if (count > blk->max_segs ||
	    (count > PVKIT_BLK_INLINE_SEGS && !br->indirect))
		goto bad;
	segs = count > PVKIT_BLK_INLINE_SEGS ? br->indirect : slot->seg;
	for_each_sg(br->sg_table.sgl, sg, count, i) {
		dma_addr_t addr = sg_dma_address(sg);
		u32 len = sg_dma_len(sg);

		/* the host gets a copy, not the page: say so in debugfs */
		if (unlikely(addr != sg_phys(sg)))
			bounced = true;

		/* the ABI wants sector-aligned segments */
		if (!len || ((addr | len) & PVBLK_SECTOR_MASK) ||
		    len > blk->max_seg_size)
			goto bad;
		segs[i].gpa = cpu_to_le64(addr);
		segs[i].len = cpu_to_le32(len);
		segs[i].reserved = 0;
	}
	if (count > PVKIT_BLK_INLINE_SEGS) {
		dma_sync_single_for_device(blk->dma_dev, br->indirect_dma,
					   count * sizeof(*segs),
					   DMA_TO_DEVICE);
		slot->flags |= PVKIT_BLK_RQ_INDIRECT;
		slot->indirect_gpa = cpu_to_le64(br->indirect_dma);
	}
	slot->nr_segs = cpu_to_le16(count);
	if (unlikely(bounced))
		pvkit_queue_stat(blk->pdev, rq->mq_hctx->queue_num,
				 PVKIT_STAT_BOUNCED);
	return BLK_STS_OK;

bad:
	dev_err_ratelimited(&blk->pdev->dev,
			    "%s: request with %d segments not representable\n",
			    blk->disk->disk_name, count);
	pvblk_unmap_data(blk, br);
	return BLK_STS_IOERR;
}

/* Build the ring slot for @rq; data is mapped on success. */
static blk_status_t pvblk_prep(struct pvblk *blk, struct request *rq,
			       struct pvblk_req *br)
{
	struct pvkit_blk_req *slot = &br->slot;
	bool ro = pvblk_has(blk, PVKIT_BLK_F_RO);
	u32 nr_sectors = 0, max = 0;

	memset(slot, 0, sizeof(*slot));
	br->nents = 0;
	switch (req_op(rq)) {
	case REQ_OP_READ:
		slot->op = PVKIT_BLK_OP_READ;
		slot->sector = cpu_to_le64(blk_rq_pos(rq));
		break;
	case REQ_OP_WRITE:
		if (ro)
			return BLK_STS_IOERR;
		slot->op = PVKIT_BLK_OP_WRITE;
		slot->sector = cpu_to_le64(blk_rq_pos(rq));
		if ((rq->cmd_flags & REQ_FUA) && pvblk_has(blk, PVKIT_BLK_F_FUA))
			slot->flags |= PVKIT_BLK_RQ_FUA;
		break;
	case REQ_OP_FLUSH:
		if (!pvblk_has(blk, PVKIT_BLK_F_FLUSH))
			return BLK_STS_NOTSUPP;
		slot->op = PVKIT_BLK_OP_FLUSH;
		return BLK_STS_OK;
	case REQ_OP_DISCARD:
		slot->op = PVKIT_BLK_OP_DISCARD;
		max = pvblk_has(blk, PVKIT_BLK_F_DISCARD) ? blk->max_discard : 0;
		break;
	case REQ_OP_WRITE_ZEROES:
		slot->op = PVKIT_BLK_OP_WRITE_ZEROES;
		max = pvblk_has(blk, PVKIT_BLK_F_WRITE_ZEROES) ?
		      blk->max_wzeroes : 0;
		break;
	case REQ_OP_DRV_IN:
		slot->op = PVKIT_BLK_OP_GET_ID;
		break;
	default:
		return BLK_STS_NOTSUPP;
	}

	if (slot->op == PVKIT_BLK_OP_DISCARD ||
	    slot->op == PVKIT_BLK_OP_WRITE_ZEROES) {
		if (!max)
			return BLK_STS_NOTSUPP;
		if (ro)
			return BLK_STS_IOERR;
		nr_sectors = blk_rq_sectors(rq);
		if (!nr_sectors || nr_sectors > max)
			return BLK_STS_IOERR;
		slot->sector = cpu_to_le64(blk_rq_pos(rq));
		slot->nr_sectors = cpu_to_le32(nr_sectors);
		return BLK_STS_OK;
	}
	return pvblk_map_data(blk, rq, br);
}

static blk_status_t pvblk_queue_rq(struct blk_mq_hw_ctx *hctx,
				   const struct blk_mq_queue_data *bd)
{
	struct pvblk_queue *pq = hctx->driver_data;
	struct pvblk *blk = pq->blk;
	struct request *rq = bd->rq;
	struct pvblk_req *br = blk_mq_rq_to_pdu(rq);
	blk_status_t status;
	unsigned long flags;
	bool kick = false;
	int err;

	if (unlikely(pvkit_fe_dev_dead(&blk->fd)))
		return BLK_STS_IOERR;

	status = pvblk_prep(blk, rq, br);
	if (unlikely(status))
		return status;

	br->timeouts = 0;
	blk_mq_start_request(rq);

	spin_lock_irqsave(&pq->fq.lock, flags);
	if (unlikely(pvkit_fe_dev_dead(&blk->fd))) {
		err = -EIO;
	} else {
		/* a queue that is not live gets it at reconnect */
		err = pvkit_fe_submit(&pq->fq, &br->fe, rq->tag);
		if (!err && bd->last)
			kick = pvkit_fe_push(&pq->fq);
	}
	if (unlikely(err == -ENOSPC)) {
		/* a completion restarts the queue: requests are in flight */
		kick = pvkit_fe_push(&pq->fq);
		blk_mq_stop_hw_queue(hctx);
		pvkit_queue_stat(blk->pdev, pq->fq.index, PVKIT_STAT_RING_FULL);
	}
	spin_unlock_irqrestore(&pq->fq.lock, flags);

	if (kick)
		pvkit_fe_kick(&pq->fq);
	if (unlikely(err)) {
		pvblk_unmap_data(blk, br);
		return err == -ENOSPC ? BLK_STS_DEV_RESOURCE : BLK_STS_IOERR;
	}
	return BLK_STS_OK;
}

static void pvblk_commit_rqs(struct blk_mq_hw_ctx *hctx)
{
	struct pvblk_queue *pq = hctx->driver_data;
	bool kick;

	spin_lock_irq(&pq->fq.lock);
	kick = pvkit_fe_push(&pq->fq);
	spin_unlock_irq(&pq->fq.lock);

	if (kick)
		pvkit_fe_kick(&pq->fq);
}

static void pvblk_complete_rq(struct request *rq)
{
	struct pvblk *blk = rq->q->queuedata;
	struct pvblk_req *br = blk_mq_rq_to_pdu(rq);

	pvblk_unmap_data(blk, br);
	blk_mq_end_request(rq, br->status);
}

static void pvblk_complete_batch(struct io_comp_batch *iob)
{
	struct request *rq;

	rq_list_for_each(&iob->req_list, rq) {
		struct pvblk *blk = rq->q->queuedata;

		pvblk_unmap_data(blk, blk_mq_rq_to_pdu(rq));
	}
	blk_mq_end_request_batch(iob);
}

static int pvblk_poll(struct blk_mq_hw_ctx *hctx, struct io_comp_batch *iob)
{
	struct pvblk_queue *pq = hctx->driver_data;
	unsigned long flags;
	int found;

	spin_lock_irqsave(&pq->fq.lock, flags);
	found = pvblk_reap(pq, iob);
	if (found)
		blk_mq_start_stopped_hw_queues(pq->blk->disk->queue, true);
	spin_unlock_irqrestore(&pq->fq.lock, flags);
	return found;
}

/*
 * A request stayed unanswered for a whole I/O timeout on a live ring: the
 * back-end is stuck or lost it.  Reset the device (pvkit_fe_dev_timed_out());
 * the reconnect resubmits it, or fails it once it has timed out more than
 * timeout_retries times.  The timer keeps running meanwhile: the request
 * is completed only by a response or by that decision, never twice.
 */
static enum blk_eh_timer_return pvblk_timeout(struct request *rq)
{
	struct pvblk *blk = rq->q->queuedata;
	struct pvblk_queue *pq = rq->mq_hctx->driver_data;
	struct pvblk_req *br = blk_mq_rq_to_pdu(rq);
	u8 n;

	/* not counted while a restart the host announced is waited out */
	if (!pvkit_fe_dev_timed_out(&blk->fd))
		return BLK_EH_RESET_TIMER;

	n = READ_ONCE(br->timeouts);
	if (n < U8_MAX)
		WRITE_ONCE(br->timeouts, ++n);
	pvkit_queue_stat(blk->pdev, pq->fq.index, PVKIT_STAT_TIMEOUT);
	dev_warn_ratelimited(&blk->pdev->dev,
			     "%s: queue %u: request id %#llx (op %u, sector %llu) unanswered for %u ms (timeout %u): resetting the device\n",
			     blk->disk->disk_name, pq->fq.index,
			     le64_to_cpu(br->slot.id), br->slot.op,
			     le64_to_cpu(br->slot.sector),
			     jiffies_to_msecs(rq->q->rq_timeout), n);
	return BLK_EH_RESET_TIMER;
}

static int pvblk_init_hctx(struct blk_mq_hw_ctx *hctx, void *data,
			   unsigned int hctx_idx)
{
	struct pvblk *blk = data;

	if (WARN_ON_ONCE(hctx_idx >= blk->nr_queues))
		return -EINVAL;
	hctx->driver_data = &blk->queues[hctx_idx];
	return 0;
}

static int pvblk_init_request(struct blk_mq_tag_set *set, struct request *rq,
			      unsigned int hctx_idx, unsigned int numa_node)
{
	struct pvblk *blk = set->driver_data;
	struct pvblk_req *br = blk_mq_rq_to_pdu(rq);

	INIT_LIST_HEAD(&br->fe.node);
	br->fe.slot = &br->slot;
	br->nents = 0;
	if (!blk->indirect_size)
		return 0;
	/* a power-of-two kmalloc is naturally aligned: never crosses a page */
	br->indirect = kzalloc_node(blk->indirect_size, GFP_KERNEL, numa_node);
	if (!br->indirect)
		return -ENOMEM;
	br->indirect_dma = dma_map_single(blk->dma_dev, br->indirect,
					  blk->indirect_size, DMA_TO_DEVICE);
	if (dma_mapping_error(blk->dma_dev, br->indirect_dma)) {
		kfree(br->indirect);
		br->indirect = NULL;
		return -ENOMEM;
	}
	return 0;
}

static void pvblk_exit_request(struct blk_mq_tag_set *set, struct request *rq,
			       unsigned int hctx_idx)
{
	struct pvblk *blk = set->driver_data;
	struct pvblk_req *br = blk_mq_rq_to_pdu(rq);

	if (!br->indirect)
		return;
	dma_unmap_single(blk->dma_dev, br->indirect_dma, blk->indirect_size,
			 DMA_TO_DEVICE);
	kfree(br->indirect);
	br->indirect = NULL;
}

static void pvblk_map_queues(struct blk_mq_tag_set *set)
{
	struct pvblk *blk = set->driver_data;
	unsigned int i, qoff;

	for (i = 0, qoff = 0; i < set->nr_maps; i++) {
		struct blk_mq_queue_map *map = &set->map[i];

		map->nr_queues = blk->io_queues[i];
		map->queue_offset = qoff;
		qoff += map->nr_queues;
		if (map->nr_queues)
			blk_mq_map_queues(map);
	}
}

static const struct blk_mq_ops pvblk_mq_ops = {
	.queue_rq	= pvblk_queue_rq,
	.commit_rqs	= pvblk_commit_rqs,
	.complete	= pvblk_complete_rq,
	.poll		= pvblk_poll,
	.timeout	= pvblk_timeout,
	.init_hctx	= pvblk_init_hctx,
	.init_request	= pvblk_init_request,
	.exit_request	= pvblk_exit_request,
	.map_queues	= pvblk_map_queues,
};

/* ------------------------------------------------------ block device --- */

static int pvblk_getgeo(struct block_device *bdev, struct hd_geometry *geo)
{
	/* made up, like sd: for old partitioning tools only */
	geo->heads = 1 << 6;
	geo->sectors = 1 << 5;
	geo->cylinders = get_capacity(bdev->bd_disk) >> 11;
	return 0;
}

/*
 * Every release of the whole disk (the last close of a partition is one),
 * after the open count dropped: the last one completes a hot-remove the
 * host asked for while the disk was open.
 */
static void pvblk_release(struct gendisk *disk, fmode_t mode)
{
	struct pvblk *blk = disk->private_data;

	pvkit_fe_dev_release(&blk->fd);
}

static void pvblk_free_disk(struct gendisk *disk)
{
	struct pvblk *blk = disk->private_data;

	ida_free(&pvblk_index_ida, blk->index);
	pvkit_fe_dev_destroy(&blk->fd);
	kfree(blk);
}

static const struct block_device_operations pvblk_fops = {
	.owner		= THIS_MODULE,
	.release	= pvblk_release,
	.getgeo		= pvblk_getgeo,
	.free_disk	= pvblk_free_disk,
};

/* Ask the host for the disk serial (PVKIT_BLK_OP_GET_ID). */
static int pvblk_get_id(struct pvblk *blk, char *id)
{
	struct request_queue *q = blk->disk->queue;
	struct request *rq;
	void *buf;
	int err;

	/* one 512-byte, 512-aligned segment, as the ABI wants */
	buf = kzalloc(SECTOR_SIZE, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	rq = blk_mq_alloc_request(q, REQ_OP_DRV_IN, 0);
	if (IS_ERR(rq)) {
		err = PTR_ERR(rq);
		goto out_free_buf;
	}
	err = blk_rq_map_kern(q, rq, buf, SECTOR_SIZE, GFP_KERNEL);
	if (err)
		goto out_free_rq;
	err = blk_status_to_errno(blk_execute_rq(rq, false));
	if (!err)
		memcpy(id, buf, PVKIT_BLK_ID_BYTES);
out_free_rq:
	blk_mq_free_request(rq);
out_free_buf:
	kfree(buf);
	return err;
}

static ssize_t serial_show(struct device *dev, struct device_attribute *attr,
			   char *buf)
{
	struct gendisk *disk = dev_to_disk(dev);
	char id[PVKIT_BLK_ID_BYTES + 1] = "";
	int err, i;

	err = pvblk_get_id(disk->private_data, id);
	if (err == -EOPNOTSUPP)
		return sysfs_emit(buf, "\n");
	if (err)
		return err;
	/* the host's bytes, up to the first NUL: printable ASCII only */
	for (i = 0; i < PVKIT_BLK_ID_BYTES && id[i]; i++)
		if (!isprint(id[i]) || !isascii(id[i]))
			id[i] = '?';
	id[i] = '\0';
	return sysfs_emit(buf, "%s\n", id);
}
static DEVICE_ATTR_RO(serial);

static struct attribute *pvblk_attrs[] = {
	&dev_attr_serial.attr,
	NULL,
};

static const struct attribute_group pvblk_attr_group = {
	.attrs = pvblk_attrs,
};

static const struct attribute_group *pvblk_attr_groups[] = {
	&pvblk_attr_group,
	NULL,
};

/* pvda ... pvdz, pvdaa ... (the sd/virtio_blk naming scheme). */
static int pvblk_name_format(const char *prefix, int index, char *buf,
			     int buflen)
{
	const int base = 'z' - 'a' + 1;
	char suffix[8];
	int n = sizeof(suffix);

	suffix[--n] = '\0';
	do {
		if (!n)
			return -EINVAL;
		suffix[--n] = 'a' + index % base;
		index = index / base - 1;
	} while (index >= 0);
	if (snprintf(buf, buflen, "%s%s", prefix, suffix + n) >= buflen)
		return -EINVAL;
	return 0;
}

/* ------------------------------------------------------- lifecycle --- */

static inline struct pvblk *fd_to_pvblk(struct pvkit_fe_dev *fd)
{
	return container_of(fd, struct pvblk, fd);
}

static void pvblk_fe_quiesce(struct pvkit_fe_dev *fd)
{
	blk_mq_quiesce_queue(fd_to_pvblk(fd)->disk->queue);
}

static void pvblk_fe_unquiesce(struct pvkit_fe_dev *fd)
{
	blk_mq_unquiesce_queue(fd_to_pvblk(fd)->disk->queue);
}

static void pvblk_fe_restart(struct pvkit_fe_dev *fd)
{
	blk_mq_start_stopped_hw_queues(fd_to_pvblk(fd)->disk->queue, true);
}

static void pvblk_fe_fail(struct pvkit_fe_dev *fd, struct pvkit_fe_req *r,
			  int err)
{
	struct pvblk_req *br = container_of(r, struct pvblk_req, fe);

	br->status = err == -ETIMEDOUT ? BLK_STS_TIMEOUT : BLK_STS_IOERR;
	blk_mq_complete_request(blk_mq_rq_from_pdu(br));
}

/* Timed out more than timeout_retries times: fail it, do not resend. */
static bool pvblk_fe_expired(struct pvkit_fe_dev *fd, struct pvkit_fe_req *r)
{
	return READ_ONCE(container_of(r, struct pvblk_req, fe)->timeouts) >
	       READ_ONCE(timeout_retries);
}

static void pvblk_fe_dropped(struct pvkit_fe_dev *fd,
			     struct pvkit_fe_queue *fq, unsigned int n)
{
	dev_err(&fd->pdev->dev,
		"%s: queue %u: %u requests failed after %u timeouts\n",
		fd->name, fq->index, n, READ_ONCE(timeout_retries) + 1);
}

static void pvblk_fe_gone(struct pvkit_fe_dev *fd)
{
	blk_mark_disk_dead(fd_to_pvblk(fd)->disk);
}

/* Open (a mount or a partition counts once): hot-remove waits. */
static bool pvblk_fe_in_use(struct pvkit_fe_dev *fd)
{
	return disk_openers(fd_to_pvblk(fd)->disk) > 0;
}

static const struct pvkit_fe_dev_ops pvblk_fe_ops = {
	.quiesce	= pvblk_fe_quiesce,
	.unquiesce	= pvblk_fe_unquiesce,
	.restart	= pvblk_fe_restart,
	.complete	= pvblk_complete,
	.fail		= pvblk_fe_fail,
	.drop		= pvblk_fe_expired,
	.dropped	= pvblk_fe_dropped,
	.gone		= pvblk_fe_gone,
	.in_use		= pvblk_fe_in_use,
};

static int pvblk_init_fe_dev(struct pvblk *blk)
{
	struct pvkit_fe_dev *fd = &blk->fd;
	unsigned int i;
	int err;

	err = pvkit_fe_dev_init(fd, blk->pdev, &pvblk_fe_ops, blk->nr_queues,
				sizeof(struct pvkit_blk_rsp));
	if (err)
		return err;
	for (i = 0; i < blk->nr_queues; i++)
		fd->queues[i] = &blk->queues[i].fq;
	fd->noun = "disk";
	fd->features = blk->features;
	return 0;
}

static void pvblk_state_changed(struct pvkit_device *pdev, u32 old_state)
{
	struct pvblk *blk = dev_get_drvdata(&pdev->dev);

	if (blk)
		pvkit_fe_dev_state_changed(&blk->fd, old_state);
}

/* --------------------------------------------------------------- probe --- */

/* Copy, validate and clamp the device config and features. */
static int pvblk_read_config(struct pvblk *blk)
{
	struct pvkit_device *pdev = blk->pdev;
	struct device *dev = &pdev->dev;
	struct pvkit_blk_config cfg = {};
	u64 features = pdev->features & PVKIT_BLK_F_KNOWN;
	u32 lbs_sectors, v;

	if (pdev->config_size <
	    offsetofend(struct pvkit_blk_config, max_write_zeroes_sectors)) {
		dev_err(dev, "config too short: %u bytes\n", pdev->config_size);
		return -EINVAL;
	}
	memcpy(&cfg, pdev->config,
	       min_t(size_t, pdev->config_size, sizeof(cfg)));

	blk->lbs = le32_to_cpu(cfg.logical_block_size);
	if (blk->lbs != SZ_512 && blk->lbs != SZ_4K) {
		dev_err(dev, "unsupported logical block size %u\n", blk->lbs);
		return -EINVAL;
	}
	lbs_sectors = blk->lbs >> SECTOR_SHIFT;

	blk->pbs = le32_to_cpu(cfg.physical_block_size);
	if (blk->pbs < blk->lbs || blk->pbs > SZ_64K ||
	    !is_power_of_2(blk->pbs))
		blk->pbs = blk->lbs;

	/* whole logical blocks, and bytes must fit in loff_t */
	blk->capacity = min_t(u64, le64_to_cpu(cfg.capacity),
			      LLONG_MAX >> SECTOR_SHIFT);
	blk->capacity = round_down(blk->capacity, lbs_sectors);

	v = le32_to_cpu(cfg.max_segments);
	blk->max_segs = clamp_t(u32, v, 1,
				(features & PVKIT_BLK_F_INDIRECT) ?
				PVKIT_BLK_MAX_SEGS : PVKIT_BLK_INLINE_SEGS);
	if (blk->max_segs <= PVKIT_BLK_INLINE_SEGS)
		features &= ~PVKIT_BLK_F_INDIRECT;

	/* the block layer cannot split below one page */
	v = round_down(le32_to_cpu(cfg.max_segment_size), SECTOR_SIZE);
	if (v < PAGE_SIZE) {
		dev_err(dev, "max_segment_size %u below the page size\n",
			le32_to_cpu(cfg.max_segment_size));
		return -EINVAL;
	}
	/*
	 * A segment must also be mappable in one piece: with bounce
	 * buffering (swiotlb=force, an encrypted guest) that is 256 KiB,
	 * and a larger one would fail dma_map_sg() every time it is tried.
	 */
	blk->max_seg_size = round_down(min_t(size_t, v,
					     dma_max_mapping_size(blk->dma_dev)),
				       SECTOR_SIZE);
	if (blk->max_seg_size < PAGE_SIZE) {
		dev_err(dev, "DMA layer maps at most %zu bytes at once\n",
			dma_max_mapping_size(blk->dma_dev));
		return -EINVAL;
	}

	v = round_down(min_t(u32, le32_to_cpu(cfg.max_sectors),
			     PVBLK_MAX_SECTORS), lbs_sectors);
	if (v < PAGE_SIZE >> SECTOR_SHIFT) {
		dev_err(dev, "max_sectors %u below the page size\n",
			le32_to_cpu(cfg.max_sectors));
		return -EINVAL;
	}
	blk->max_sectors = v;

	if (features & PVKIT_BLK_F_RO)
		features &= ~(PVKIT_BLK_F_DISCARD | PVKIT_BLK_F_WRITE_ZEROES);

	blk->max_discard = round_down(min_t(u32,
					    le32_to_cpu(cfg.max_discard_sectors),
					    UINT_MAX >> SECTOR_SHIFT),
				      lbs_sectors);
	if (!blk->max_discard)
		features &= ~PVKIT_BLK_F_DISCARD;
	blk->discard_gran = le32_to_cpu(cfg.discard_granularity);
	/* blkdev_issue_discard() aligns with round_up(): a power of two */
	if (blk->discard_gran < blk->lbs || !is_power_of_2(blk->discard_gran) ||
	    blk->discard_gran / SECTOR_SIZE > blk->max_discard)
		blk->discard_gran = blk->lbs;

	blk->max_wzeroes = round_down(min_t(u32,
					    le32_to_cpu(cfg.max_write_zeroes_sectors),
					    UINT_MAX >> SECTOR_SHIFT),
				      lbs_sectors);
	if (!blk->max_wzeroes)
		features &= ~PVKIT_BLK_F_WRITE_ZEROES;

	blk->features = features;
	if (blk->max_segs > PVKIT_BLK_INLINE_SEGS)
		blk->indirect_size = roundup_pow_of_two(blk->max_segs *
						sizeof(struct pvkit_blk_seg));
	BUILD_BUG_ON(PVKIT_BLK_MAX_SEGS * sizeof(struct pvkit_blk_seg) >
		     PAGE_SIZE);
	return 0;
}

/* Does queue @i of the device fit what we need of it? */
static void pvblk_free_queues(struct pvblk *blk)
{
	unsigned int i;

	for (i = 0; i < blk->nr_queues; i++)
		pvkit_fe_queue_destroy(&blk->queues[i].fq);
	kfree(blk->queues);
	blk->queues = NULL;
}

/* Size the queues, allocate their state and attach their rings. */
static int pvblk_init_queues(struct pvblk *blk)
{
	struct pvkit_device *pdev = blk->pdev;
	unsigned int i, nr, nr_poll;
	u32 depth = PVKIT_RING_MAX_SLOTS;
	int err;

	nr = min_t(unsigned int, pdev->nr_queues, PVKIT_MAX_QUEUES);
	nr = min_t(unsigned int, nr,
		   min_not_zero(num_request_queues, nr_cpu_ids));
	if (!nr) {
		dev_err(&pdev->dev, "device has no queues\n");
		return -EINVAL;
	}
	nr_poll = min(poll_queues, nr - 1);
	blk->io_queues[HCTX_TYPE_DEFAULT] = nr - nr_poll;
	blk->io_queues[HCTX_TYPE_READ] = 0;
	blk->io_queues[HCTX_TYPE_POLL] = nr_poll;

	for (i = 0; i < nr; i++)
		depth = min(depth, pdev->queues[i].slots);
	depth = min_t(u32, depth, queue_depth ?: PVBLK_MAX_DEPTH);
	depth = min_t(u32, depth, BLK_MQ_MAX_DEPTH);
	BUILD_BUG_ON(BIT(PVKIT_FE_TAG_BITS) < PVKIT_RING_MAX_SLOTS);
	for (i = 0; i < nr; i++)
		if (!pvkit_fe_queue_ok(pdev, i, depth,
				       sizeof(struct pvkit_blk_req),
				       sizeof(struct pvkit_blk_rsp)))
			return -EINVAL;

	blk->queues = kcalloc(nr, sizeof(*blk->queues), GFP_KERNEL);
	if (!blk->queues)
		return -ENOMEM;
	blk->nr_queues = nr;
	for (i = 0; i < nr; i++) {
		struct pvblk_queue *pq = &blk->queues[i];

		pq->blk = blk;
		pq->fq.poll = i >= blk->io_queues[HCTX_TYPE_DEFAULT];
		err = pvkit_fe_queue_init(&pq->fq, pdev, i, depth,
					  sizeof(struct pvkit_blk_req),
					  sizeof(struct pvkit_blk_rsp));
		if (err)
			goto out_free_queues;
	}
	dev_info(&pdev->dev, "%u/%u default/poll queues of depth %u\n",
		 blk->io_queues[HCTX_TYPE_DEFAULT], nr_poll, depth);
	return 0;

out_free_queues:
	pvblk_free_queues(blk);
	return err;
}

static void pvblk_free_irqs(struct pvblk *blk)
{
	unsigned int i;

	for (i = 0; i < blk->nr_queues; i++)
		pvkit_fe_queue_unbind_irq(&blk->queues[i].fq, &blk->queues[i]);
}

/*
 * Bind each interrupt-driven queue's vector, aimed at the CPUs blk-mq
 * maps to the queue so that completions land where I/O was submitted.
 */
static int pvblk_request_irqs(struct pvblk *blk)
{
	struct blk_mq_queue_map *map = &blk->tag_set.map[HCTX_TYPE_DEFAULT];
	unsigned int i, cpu;
	int err;

	for_each_possible_cpu(cpu) {
		unsigned int q = map->mq_map[cpu];

		if (q < blk->nr_queues)
			cpumask_set_cpu(cpu, blk->queues[q].fq.affinity);
	}
	for (i = 0; i < blk->nr_queues; i++) {
		struct pvblk_queue *pq = &blk->queues[i];

		if (pq->fq.poll)
			continue;
		snprintf(pq->fq.name, sizeof(pq->fq.name), "%s-q%u",
			 blk->disk->disk_name, i);
		err = pvkit_fe_queue_bind_irq(&pq->fq, pvblk_irq, pq);
		if (err) {
			pvblk_free_irqs(blk);
			return err;
		}
	}
	return 0;
}

static void pvblk_setup_queue(struct pvblk *blk)
{
	struct request_queue *q = blk->disk->queue;

	blk_queue_logical_block_size(q, blk->lbs);
	blk_queue_physical_block_size(q, blk->pbs);
	/*
	 * Segments are multiples of 512 bytes (ABI section 9); asking for
	 * logical-block aligned buffers keeps each segment a whole number
	 * of logical blocks as well, which a back-end may insist on.
	 */
	blk_queue_dma_alignment(q, blk->lbs - 1);
	blk_queue_max_segments(q, blk->max_segs);
	blk_queue_max_segment_size(q, blk->max_seg_size);
	blk_queue_max_hw_sectors(q, blk->max_sectors);
	blk_queue_rq_timeout(q, clamp_t(unsigned int, io_timeout, 1,
					PVBLK_MAX_IO_TIMEOUT) * HZ);
	blk_queue_write_cache(q, pvblk_has(blk, PVKIT_BLK_F_FLUSH),
			      pvblk_has(blk, PVKIT_BLK_F_FLUSH) &&
			      pvblk_has(blk, PVKIT_BLK_F_FUA));
	if (pvblk_has(blk, PVKIT_BLK_F_DISCARD)) {
		blk_queue_max_discard_sectors(q, blk->max_discard);
		q->limits.discard_granularity = blk->discard_gran;
	}
	if (pvblk_has(blk, PVKIT_BLK_F_WRITE_ZEROES))
		blk_queue_max_write_zeroes_sectors(q, blk->max_wzeroes);
	if (pvblk_has(blk, PVKIT_BLK_F_RO))
		set_disk_ro(blk->disk, true);
	set_capacity(blk->disk, blk->capacity);
}

static void pvblk_print_info(struct pvblk *blk)
{
	char cap_2[10], cap_10[10];
	u64 nblocks = blk->capacity >> (ilog2(blk->lbs) - SECTOR_SHIFT);

	string_get_size(nblocks, blk->lbs, STRING_UNITS_2, cap_2,
			sizeof(cap_2));
	string_get_size(nblocks, blk->lbs, STRING_UNITS_10, cap_10,
			sizeof(cap_10));
	dev_info(&blk->pdev->dev,
		 "[%s] %llu %u-byte logical blocks (%s/%s)%s, features %#llx\n",
		 blk->disk->disk_name, nblocks, blk->lbs, cap_10, cap_2,
		 pvblk_has(blk, PVKIT_BLK_F_RO) ? ", read-only" : "",
		 blk->features);
}

static int pvblk_probe(struct pvkit_device *pdev)
{
	struct pvblk *blk;
	int err;

	blk = kzalloc(sizeof(*blk), GFP_KERNEL);
	if (!blk)
		return -ENOMEM;
	blk->pdev = pdev;
	blk->dma_dev = pvkit_dma_dev(pdev);

	err = pvblk_read_config(blk);
	if (err)
		goto out_free_blk;

	/* the name comes from the instance: two disks cannot share one */
	err = ida_alloc_range(&pvblk_index_ida, pdev->instance, pdev->instance,
			      GFP_KERNEL);
	if (err < 0) {
		dev_err(&pdev->dev, "instance %u already in use\n",
			pdev->instance);
		err = err == -ENOSPC ? -EEXIST : err;
		goto out_free_blk;
	}
	blk->index = err;

	err = pvblk_init_queues(blk);
	if (err)
		goto out_free_index;
	err = pvblk_init_fe_dev(blk);
	if (err)
		goto out_free_queues;

	blk->tag_set.ops = &pvblk_mq_ops;
	blk->tag_set.nr_hw_queues = blk->nr_queues;
	blk->tag_set.nr_maps = blk->io_queues[HCTX_TYPE_POLL] ? 3 : 1;
	blk->tag_set.queue_depth = blk->queues[0].fq.depth;
	blk->tag_set.numa_node = NUMA_NO_NODE;
	blk->tag_set.flags = BLK_MQ_F_SHOULD_MERGE;
	blk->tag_set.cmd_size = sizeof(struct pvblk_req) +
		sizeof(struct scatterlist) * PVBLK_INLINE_SG_CNT;
	blk->tag_set.driver_data = blk;
	err = blk_mq_alloc_tag_set(&blk->tag_set);
	if (err)
		goto out_destroy_fe_dev;

	blk->disk = blk_mq_alloc_disk(&blk->tag_set, blk);
	if (IS_ERR(blk->disk)) {
		err = PTR_ERR(blk->disk);
		goto out_free_tag_set;
	}
	err = pvblk_name_format("pvd", blk->index, blk->disk->disk_name,
				DISK_NAME_LEN);
	if (err)
		goto out_put_disk;
	blk->fd.name = blk->disk->disk_name;
	blk->disk->major = pvblk_major;
	blk->disk->first_minor = blk->index << PVBLK_PART_BITS;
	blk->disk->minors = 1 << PVBLK_PART_BITS;
	blk->disk->private_data = blk;
	blk->disk->fops = &pvblk_fops;
	pvblk_setup_queue(blk);

	err = pvblk_request_irqs(blk);
	if (err)
		goto out_put_disk;

	/* from here on state_changed() may run */
	dev_set_drvdata(&pdev->dev, blk);
	err = pvkit_fe_dev_connect(&blk->fd, PVBLK_CONNECT_WAIT_MS);
	if (err) {
		/* -EPERM: not OFFERED (e.g. the back-end is restarting) */
		dev_err(&pdev->dev, "cannot connect (state %u): %d\n",
			READ_ONCE(pdev->state), err);
		goto out_free_irqs;
	}

	pvblk_print_info(blk);
	pvkit_fe_dev_set_no_events(&blk->fd, true);	/* partition scan */
	err = device_add_disk(&pdev->dev, blk->disk, pvblk_attr_groups);
	pvkit_fe_dev_set_no_events(&blk->fd, false);
	if (err)
		goto out_disconnect;
	return 0;

out_disconnect:
	pvkit_fe_dev_remove_end(&blk->fd);
out_free_irqs:
	dev_set_drvdata(&pdev->dev, NULL);
	pvblk_free_irqs(blk);
out_put_disk:
	put_disk(blk->disk);
out_free_tag_set:
	blk_mq_free_tag_set(&blk->tag_set);
out_destroy_fe_dev:
	pvkit_fe_dev_destroy(&blk->fd);
out_free_queues:
	pvblk_free_queues(blk);
out_free_index:
	ida_free(&pvblk_index_ida, blk->index);
out_free_blk:
	kfree(blk);
	return err;
}

static void pvblk_remove(struct pvkit_device *pdev)
{
	struct pvblk *blk = dev_get_drvdata(&pdev->dev);

	/* a disk that is not live first fails its I/O: del_gendisk waits */
	pvkit_fe_dev_remove_begin(&blk->fd);
	del_gendisk(blk->disk);
	pvkit_fe_dev_remove_end(&blk->fd);
	dev_set_drvdata(&pdev->dev, NULL);
	pvblk_free_irqs(blk);
	blk_mq_free_tag_set(&blk->tag_set);
	pvblk_free_queues(blk);
	put_disk(blk->disk);	/* frees blk once the disk is closed */
}

static struct pvkit_driver pvblk_driver = {
	.driver.name	= KBUILD_MODNAME,
	.type		= PVKIT_DEV_BLK,
	.probe		= pvblk_probe,
	.remove		= pvblk_remove,
	.state_changed	= pvblk_state_changed,
};

static int __init pvblk_init(void)
{
	int err;

	pvblk_major = register_blkdev(0, KBUILD_MODNAME);
	if (pvblk_major < 0)
		return pvblk_major;

	err = pvkit_register_driver(&pvblk_driver);
	if (err)
		goto out_unregister_blkdev;
	return 0;

out_unregister_blkdev:
	unregister_blkdev(pvblk_major, KBUILD_MODNAME);
	return err;
}

static void __exit pvblk_exit(void)
{
	pvkit_unregister_driver(&pvblk_driver);
	unregister_blkdev(pvblk_major, KBUILD_MODNAME);
	ida_destroy(&pvblk_index_ida);
}

module_init(pvblk_init);
module_exit(pvblk_exit);

MODULE_DESCRIPTION("pvkit paravirtual block device front-end");
MODULE_AUTHOR("The pvkit authors");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS(PVKIT);
