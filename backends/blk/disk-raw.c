// SPDX-License-Identifier: GPL-2.0-only
/*
 * Raw disk back-end: a regular image file or a block device, read and
 * written in place with O_DIRECT (buffered where O_DIRECT is unsupported).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/magic.h>

#include <pvkit-host/log.h>

#include "blkback.h"

#define RAW_PROBE_ALIGN		4096U
#define RAW_DISCARD_PROBE_PAD	(1ULL << 20)

static int raw_open_fd(const char *path, bool ro, bool direct)
{
	int flags = (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC;

	if (direct)
		flags |= O_DIRECT;
	return open(path, flags);
}

static int raw_drop_direct(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_DIRECT) < 0)
		return -errno;
	return 0;
}

/* Read a sysfs number of the block device @rdev's queue; 0 if unknown. */
static uint64_t raw_sysfs_queue(dev_t rdev, const char *attr)
{
	char path[128];
	unsigned long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/queue/%s",
		 major(rdev), minor(rdev), attr);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fscanf(f, "%llu", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

static int raw_probe_blkdev(struct blkb_disk *disk, const struct stat *st,
			    char *err, size_t errlen)
{
	uint64_t size, dmax, gran;
	int lbs = 0, pbs = 0;

	if (ioctl(disk->fd, BLKGETSIZE64, &size) < 0 ||
	    ioctl(disk->fd, BLKSSZGET, &lbs) < 0) {
		snprintf(err, errlen, "block device ioctl: %s",
			 strerror(errno));
		return -errno;
	}
	if (ioctl(disk->fd, BLKPBSZGET, &pbs) < 0)
		pbs = lbs;
	if (lbs < 512 || lbs > 4096 || (lbs & (lbs - 1))) {
		snprintf(err, errlen, "unsupported logical block size %d",
			 lbs);
		return -EINVAL;
	}
	disk->size = size;
	disk->lbs = lbs;
	disk->pbs = pbs >= lbs && !(pbs & (pbs - 1)) ? (uint32_t)pbs : (uint32_t)lbs;

	dmax = raw_sysfs_queue(st->st_rdev, "discard_max_bytes");
	gran = raw_sysfs_queue(st->st_rdev, "discard_granularity");
	if (!disk->ro && dmax >= disk->lbs) {
		disk->can_discard = true;
		/* a device may still refuse: discard is a hint then */
		disk->discard_is_hint = true;
		disk->max_discard_sectors = dmax / BLKB_SECTOR_SIZE <
					    BLKB_MAX_DISCARD_SECTORS ?
					    dmax / BLKB_SECTOR_SIZE :
					    BLKB_MAX_DISCARD_SECTORS;
		disk->discard_granularity = gran >= disk->lbs &&
					    gran <= (1U << 30) &&
					    !(gran & (gran - 1)) ?
					    (uint32_t)gran : disk->lbs;
	}
	return 0;
}

static void raw_probe_file(struct blkb_disk *disk, const struct stat *st)
{
	uint64_t off;

	disk->size = st->st_size;
	disk->lbs = 512;
	disk->pbs = 4096;
	if (disk->ro)
		return;
	/*
	 * Can the file system punch holes?  Ask for a harmless one past the
	 * end of the file: nothing there changes, but an unsupported mode
	 * fails with EOPNOTSUPP.
	 */
	off = ((uint64_t)st->st_size + RAW_DISCARD_PROBE_PAD) &
	      ~(RAW_DISCARD_PROBE_PAD - 1);
	if (!fallocate(disk->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		       off, 4096)) {
		disk->can_discard = true;
		disk->max_discard_sectors = BLKB_MAX_DISCARD_SECTORS;
		disk->discard_granularity = st->st_blksize >= 512 &&
					    st->st_blksize <= (1 << 20) &&
					    !(st->st_blksize &
					      (st->st_blksize - 1)) ?
					    (uint32_t)st->st_blksize : 4096;
	}
}

/*
 * O_DIRECT cannot serve this image: say @why and use buffered I/O
 * (direct=auto) or refuse to start (direct=on).  Decided at open only.
 */
static int raw_no_direct(struct blkb_disk *disk, const struct blkb_opts *o,
			 const char *why, char *err, size_t errlen)
{
	int ret;

	if (o->direct == BLKB_DIRECT_ON) {
		snprintf(err, errlen, "%s: %s and direct=on", o->path, why);
		return -EINVAL;
	}
	ret = raw_drop_direct(disk->fd);
	if (ret) {
		snprintf(err, errlen, "fcntl: %s", strerror(-ret));
		return ret;
	}
	log_warn("%s: %s; using buffered I/O (host page cache)", o->path, why);
	disk->direct = false;
	return 0;
}

/*
 * Can O_DIRECT serve every request the ABI lets a guest send -- buffers
 * 512-byte aligned, offsets and lengths in logical blocks?  The kernel
 * says what it needs (statx STATX_DIOALIGN, Linux 6.1); where it does not,
 * or lies (some FUSE file systems accept O_DIRECT and fail the I/O), a
 * one-block read into a buffer aligned to 512 bytes and no more decides.
 * Either way before the first guest request, so no request can change it.
 */
static int raw_probe_direct(struct blkb_disk *disk, const struct blkb_opts *o,
			    char *err, size_t errlen)
{
	struct statx stx;
	char why[128];
	uint8_t *buf;
	ssize_t n;
	int ret = 0;

	if (!statx(disk->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) &&
	    (stx.stx_mask & STATX_DIOALIGN)) {
		disk->dio_mem_align = stx.stx_dio_mem_align;
		disk->dio_offset_align = stx.stx_dio_offset_align;
		if (!stx.stx_dio_offset_align)
			return raw_no_direct(disk, o, "the file system has no O_DIRECT for it",
					     err, errlen);
		if (stx.stx_dio_offset_align > disk->lbs) {
			snprintf(why, sizeof(why),
				 "O_DIRECT needs %u-byte aligned offsets, the disk has %u-byte blocks",
				 stx.stx_dio_offset_align, disk->lbs);
			return raw_no_direct(disk, o, why, err, errlen);
		}
		if (stx.stx_dio_mem_align > BLKB_SECTOR_SIZE) {
			snprintf(why, sizeof(why),
				 "O_DIRECT needs %u-byte aligned buffers, a guest's are aligned to %u",
				 stx.stx_dio_mem_align, BLKB_SECTOR_SIZE);
			return raw_no_direct(disk, o, why, err, errlen);
		}
	}

	if (posix_memalign((void **)&buf, RAW_PROBE_ALIGN, 2 * RAW_PROBE_ALIGN))
		return -ENOMEM;
	n = pread(disk->fd, buf + BLKB_SECTOR_SIZE, disk->lbs, 0);
	if (n < 0 && errno == EINVAL) {
		ret = raw_no_direct(disk, o, "an O_DIRECT read fails with EINVAL",
				    err, errlen);
	} else if (n < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: read: %s", o->path, strerror(errno));
	}
	free(buf);
	return ret;
}

/*
 * Serve small reads and writes inline?  Only for an image in memory
 * (tmpfs, ramfs): the copy cannot wait for a device, and such files
 * refuse RWF_NOWAIT, which makes io_uring punt every read and write to an
 * io-wq worker -- a wake-up of the worker and one of the queue thread
 * per request, for what is a memcpy of at most BLKB_INLINE_MAX bytes.
 */
static bool raw_want_inline(struct blkb_disk *disk, const struct blkb_opts *o)
{
	struct statfs sfs;
	struct iovec iov;
	bool nowait_refused;
	void *buf;

	if (o->no_inline || disk->is_blkdev || fstatfs(disk->fd, &sfs) < 0)
		return false;
	if (sfs.f_type != TMPFS_MAGIC && sfs.f_type != RAMFS_MAGIC)
		return false;
	/* an aligned one-block read (a 0-byte one skips the flag check) */
	if (posix_memalign(&buf, RAW_PROBE_ALIGN, RAW_PROBE_ALIGN))
		return false;
	iov.iov_base = buf;
	iov.iov_len = disk->lbs;
	nowait_refused = preadv2(disk->fd, &iov, 1, 0, RWF_NOWAIT) < 0 &&
			 errno == EOPNOTSUPP;
	free(buf);
	return nowait_refused;
}

static int raw_open(struct blkb_disk *disk, const struct blkb_opts *o,
		    char *err, size_t errlen)
{
	bool direct = o->direct != BLKB_DIRECT_OFF;
	bool ro = o->ro;
	struct stat st;
	int fd, ret;

	/* each fallback flips one flag, so this ends */
	for (;;) {
		fd = raw_open_fd(o->path, ro, direct);
		if (fd >= 0)
			break;
		if (!ro && (errno == EACCES || errno == EROFS ||
			    errno == EPERM)) {
			log_warn("%s is not writable (%s); serving it read-only",
				 o->path, strerror(errno));
			ro = true;
		} else if (direct && errno == EINVAL &&
			   o->direct == BLKB_DIRECT_AUTO) {
			log_warn("%s: the file system does not support O_DIRECT; using buffered I/O (host page cache)",
				 o->path);
			direct = false;
		} else {
			ret = -errno;
			snprintf(err, errlen, "cannot open %s: %s%s", o->path,
				 strerror(errno),
				 errno == EINVAL && direct ?
				 " (O_DIRECT unsupported and direct=on)" : "");
			return ret;
		}
	}
	disk->fd = fd;
	disk->ro = ro;
	disk->direct = direct;

	if (fstat(fd, &st) < 0) {
		ret = -errno;
		snprintf(err, errlen, "stat %s: %s", o->path, strerror(errno));
		goto err_close;
	}
	if (S_ISBLK(st.st_mode)) {
		disk->is_blkdev = true;
		ret = raw_probe_blkdev(disk, &st, err, errlen);
		if (ret)
			goto err_close;
	} else if (S_ISREG(st.st_mode)) {
		raw_probe_file(disk, &st);
	} else {
		snprintf(err, errlen, "%s is not a regular file or block device",
			 o->path);
		ret = -EINVAL;
		goto err_close;
	}

	if (disk->size % disk->lbs)
		log_warn("%s: size %llu is not a multiple of %u; the tail is not exposed",
			 o->path, (unsigned long long)disk->size, disk->lbs);
	disk->size -= disk->size % disk->lbs;
	if (!disk->size) {
		snprintf(err, errlen, "%s is smaller than one block (%u bytes)",
			 o->path, disk->lbs);
		ret = -EINVAL;
		goto err_close;
	}
	if (direct) {
		ret = raw_probe_direct(disk, o, err, errlen);
		if (ret)
			goto err_close;
	}
	/* ZERO_RANGE where possible, else writes of zeroes: always offered */
	disk->can_write_zeroes = !ro;
	disk->inline_rw = raw_want_inline(disk, o);
	return 0;

err_close:
	close(fd);
	disk->fd = -1;
	return ret;
}

static void raw_close(struct blkb_disk *disk)
{
	if (disk->fd >= 0)
		close(disk->fd);
	disk->fd = -1;
}

static void raw_prep_rw(struct blkb_disk *disk, struct io_uring_sqe *sqe,
			bool write, const struct iovec *iov, unsigned int nr,
			uint64_t off, int rwf)
{
	if (write)
		io_uring_prep_writev2(sqe, disk->fd, iov, nr, off, rwf);
	else
		io_uring_prep_readv2(sqe, disk->fd, iov, nr, off, rwf);
}

static ssize_t raw_rw_inline(struct blkb_disk *disk, bool write,
			     const struct iovec *iov, unsigned int nr,
			     uint64_t off, int rwf)
{
	ssize_t n;

	if (write)
		n = pwritev2(disk->fd, iov, nr, off, rwf);
	else
		n = preadv2(disk->fd, iov, nr, off, rwf);
	return n < 0 ? -errno : n;
}

static void raw_prep_flush(struct blkb_disk *disk, struct io_uring_sqe *sqe)
{
	io_uring_prep_fsync(sqe, disk->fd, IORING_FSYNC_DATASYNC);
}

static void raw_prep_discard(struct blkb_disk *disk, struct io_uring_sqe *sqe,
			     uint64_t off, uint64_t len)
{
	io_uring_prep_fallocate(sqe, disk->fd,
				FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				off, len);
}

static int raw_prep_write_zeroes(struct blkb_disk *disk,
				 struct io_uring_sqe *sqe, uint64_t off,
				 uint64_t len)
{
	if (__atomic_load_n(&disk->no_zero_range, __ATOMIC_RELAXED))
		return -EOPNOTSUPP;
	io_uring_prep_fallocate(sqe, disk->fd,
				FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
				off, len);
	return 0;
}

static enum blkb_recover raw_recover(struct blkb_disk *disk, unsigned int op,
				     int res)
{
	switch (op) {
	case PVKIT_BLK_OP_READ:
	case PVKIT_BLK_OP_WRITE:
		/*
		 * Never retried buffered: whether O_DIRECT works was decided
		 * at open (raw_probe_direct()), so an EINVAL now is this
		 * request's -- and a guest must not be able to switch the
		 * host page cache on for the whole image.
		 */
		return BLKB_RECOVER_FAIL;
	case PVKIT_BLK_OP_WRITE_ZEROES:
		if (res != -EOPNOTSUPP && res != -EINVAL)
			return BLKB_RECOVER_FAIL;
		if (!__atomic_exchange_n(&disk->no_zero_range, 1,
					 __ATOMIC_ACQ_REL))
			log_info("no FALLOC_FL_ZERO_RANGE on this image; write-zeroes writes zeroes");
		return BLKB_RECOVER_RETRY;
	case PVKIT_BLK_OP_DISCARD:
		if (res == -EOPNOTSUPP && disk->discard_is_hint)
			return BLKB_RECOVER_DONE;
		return BLKB_RECOVER_FAIL;
	default:
		return BLKB_RECOVER_FAIL;
	}
}

const struct blkb_disk_ops blkb_raw_ops = {
	.name = "raw",
	.open = raw_open,
	.close = raw_close,
	.prep_rw = raw_prep_rw,
	.rw_inline = raw_rw_inline,
	.prep_flush = raw_prep_flush,
	.prep_discard = raw_prep_discard,
	.prep_write_zeroes = raw_prep_write_zeroes,
	.recover = raw_recover,
};
