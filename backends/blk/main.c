// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvkit-blkback: block back-end process, one per pvkit block device.
 *
 *   pvkit-blkback --hv
 *
 * The control protocol with pvkit-hv, SETUP validation and mapping, the
 * state machine, STATS and shutdown are the generic back-end of
 * pvkit-host/bemain.h; this file is the block device behind its ops
 * table: SETUP.args (opts.c), the disk (disk.c), the READY config, and
 * one io_uring queue thread per queue (queue.c).
 */
#include <endian.h>
#include <string.h>

#include <pvkit-host/log.h>

#include "blkback.h"

static void blkb_slot_sizes(const struct pvbe *be, unsigned int qi,
			    uint32_t *req_size, uint32_t *rsp_size)
{
	(void)be;
	(void)qi;
	*req_size = BLKB_REQ_SIZE;
	*rsp_size = BLKB_RSP_SIZE;
}

static int blkb_parse_args(struct pvbe *be, const char *args, char *err,
			   size_t errlen)
{
	return blkb_opts_parse(&blkb_dev(be)->opts, args, err, errlen);
}

static int blkb_open(struct pvbe *be, char *err, size_t errlen)
{
	struct blkb_dev *dev = blkb_dev(be);
	int ret;

	ret = blkb_disk_open(&dev->disk, &dev->opts, err, errlen);
	if (ret)
		return ret;
	log_info("%s: %llu sectors, %u-byte blocks, %s%s%s%s, %u queue(s)%s",
		 dev->opts.path,
		 (unsigned long long)(dev->disk.size >> PVKIT_BLK_SECTOR_SHIFT),
		 dev->disk.lbs, dev->disk.ro ? "read-only" : "read-write",
		 dev->disk.direct ? ", O_DIRECT" : ", buffered",
		 dev->disk.inline_rw ? ", inline" : "",
		 dev->disk.can_discard ? ", discard" : "", be->nr_queues,
		 dev->opts.poll_us ? ", polling" : "");
	return 0;
}

static void blkb_close(struct pvbe *be)
{
	blkb_disk_close(&blkb_dev(be)->disk);
}

static void blkb_fill_ready(struct pvbe *be, struct pvkit_be_ready *r)
{
	struct blkb_dev *dev = blkb_dev(be);
	const struct blkb_disk *disk = &dev->disk;
	struct pvkit_blk_config cfg;
	uint64_t features;

	memset(&cfg, 0, sizeof(cfg));
	features = PVKIT_BLK_F_FLUSH | PVKIT_BLK_F_FUA | PVKIT_BLK_F_INDIRECT;
	if (disk->ro)
		features |= PVKIT_BLK_F_RO;
	if (disk->can_discard) {
		features |= PVKIT_BLK_F_DISCARD;
		cfg.max_discard_sectors = htole32(disk->max_discard_sectors);
		cfg.discard_granularity = htole32(disk->discard_granularity);
	}
	if (disk->can_write_zeroes) {
		features |= PVKIT_BLK_F_WRITE_ZEROES;
		cfg.max_write_zeroes_sectors = htole32(BLKB_MAX_WZ_SECTORS);
	}
	if (dev->opts.poll_us)
		features |= PVKIT_BLK_F_BACKEND_POLL;
	cfg.capacity = htole64(disk->size >> PVKIT_BLK_SECTOR_SHIFT);
	cfg.logical_block_size = htole32(disk->lbs);
	cfg.physical_block_size = htole32(disk->pbs);
	cfg.max_segments = htole32(BLKB_MAX_SEGS);
	cfg.max_segment_size = htole32(BLKB_MAX_SEG_SIZE);
	cfg.max_sectors = htole32(BLKB_MAX_SECTORS);
	cfg.poll_us = htole32(dev->opts.poll_us);

	r->features = features;
	r->config_size = sizeof(cfg);
	memcpy(r->config, &cfg, sizeof(cfg));
}

static const struct pvbe_ops blkb_ops = {
	.prog = "pvkit-blkback",
	.dev_name = "blk",
	.dev_type = PVKIT_DEV_BLK,
	.usage = "path=PATH[,ro][,poll=US][,direct=auto|on|off][,serial=S][,format=raw]",
	.queue_size = sizeof(struct blkb_queue),
	.queue_offset = offsetof(struct blkb_queue, bq),
	.slot_sizes = blkb_slot_sizes,
	.parse_args = blkb_parse_args,
	.open = blkb_open,
	.fill_ready = blkb_fill_ready,
	.queue_start = blkb_queue_start,
	.queue_join = blkb_queue_join,
	.close = blkb_close,
};

int main(int argc, char **argv)
{
	static struct blkb_dev dev;

	return pvbe_main(&dev.be, &blkb_ops, argc, argv);
}
