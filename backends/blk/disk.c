// SPDX-License-Identifier: GPL-2.0-only
/*
 * Disk back-end registry.  A new image format adds a struct blkb_disk_ops
 * and a line in blkb_disk_types[]; the queues only talk to the ops.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "blkback.h"

static const struct blkb_disk_ops *const blkb_disk_types[] = {
	&blkb_raw_ops,
};

int blkb_disk_open(struct blkb_disk *disk, const struct blkb_opts *opts,
		   char *err, size_t errlen)
{
	const struct blkb_disk_ops *ops = NULL;
	const char *base;
	unsigned int i;
	size_t len;
	void *zb;
	int ret;

	memset(disk, 0, sizeof(*disk));
	disk->fd = -1;
	for (i = 0; i < ARRAY_SIZE(blkb_disk_types); i++) {
		if (!strcmp(blkb_disk_types[i]->name, opts->format))
			ops = blkb_disk_types[i];
	}
	if (!ops) {
		snprintf(err, errlen, "unknown format '%s'", opts->format);
		return -EINVAL;
	}

	/* page-aligned zeroes, usable for O_DIRECT writes */
	zb = mmap(NULL, BLKB_ZERO_BUF_SIZE, PROT_READ,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (zb == MAP_FAILED) {
		ret = -errno;
		snprintf(err, errlen, "zero buffer: %s", strerror(-ret));
		return ret;
	}
	disk->zero_buf = zb;
	disk->ops = ops;

	ret = ops->open(disk, opts, err, errlen);
	if (ret) {
		munmap(zb, BLKB_ZERO_BUF_SIZE);
		disk->zero_buf = NULL;
		disk->ops = NULL;
		return ret;
	}

	/* GET_ID: serial=, else the image's file name; NUL padded */
	if (opts->has_serial) {
		base = opts->serial;
	} else {
		base = strrchr(opts->path, '/');
		base = base ? base + 1 : opts->path;
	}
	len = strnlen(base, sizeof(disk->serial));
	memset(disk->serial, 0, sizeof(disk->serial));
	memcpy(disk->serial, base, len);
	return 0;
}

void blkb_disk_close(struct blkb_disk *disk)
{
	if (disk->ops)
		disk->ops->close(disk);
	if (disk->zero_buf)
		munmap(disk->zero_buf, BLKB_ZERO_BUF_SIZE);
	disk->zero_buf = NULL;
	disk->ops = NULL;
}
