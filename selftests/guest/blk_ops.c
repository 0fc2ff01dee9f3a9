// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: pvkit disk operations besides plain reads and writes:
 * flush (fsync) and FUA (O_DSYNC) writes are accepted and keep the data,
 * discard and write-zeroes read back as zeroes, I/O beyond the end fails,
 * a 1 MiB direct write is one request, the serial number can be read.
 *
 * Copyright (c) 2026 The pvkit authors
 */
#include <linux/fs.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "guest.h"

#define MIB		(1 << 20)

FIXTURE(ops) {
	int fd;			/* O_DIRECT, read-write */
	uint64_t size;		/* bytes */
	long long lbs;
	uint8_t *buf;		/* 4 MiB, page aligned */
	uint8_t *chk;		/* 4 MiB, page aligned */
};

FIXTURE_SETUP(ops)
{
	self->fd = -1;
	self->buf = MAP_FAILED;
	self->chk = MAP_FAILED;
	if (!blk_present(BLK_DISK))
		SKIP(return, "/dev/" BLK_DISK " not present");
	self->fd = open(blk_dev_path(BLK_DISK), O_RDWR | O_DIRECT);
	ASSERT_LE(0, self->fd) TH_LOG("open: %s", strerror(errno));
	ASSERT_EQ(0, ioctl(self->fd, BLKGETSIZE64, &self->size));
	if (self->size < BLK_MIN_SIZE)
		SKIP(return, "disk smaller than %llu MiB", BLK_MIN_SIZE >> 20);
	self->lbs = blk_sysfs_ll(BLK_DISK, "queue/logical_block_size");
	ASSERT_TRUE(self->lbs == 512 || self->lbs == 4096);
	self->buf = mmap(NULL, 4 * MIB, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	self->chk = mmap(NULL, 4 * MIB, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
	ASSERT_NE(MAP_FAILED, self->chk);
}

FIXTURE_TEARDOWN(ops)
{
	if (self->buf != MAP_FAILED)
		munmap(self->buf, 4 * MIB);
	if (self->chk != MAP_FAILED)
		munmap(self->chk, 4 * MIB);
	if (self->fd >= 0)
		close(self->fd);
}

/* A pattern that differs per byte offset and per @seed. */
static void fill(uint8_t *p, size_t len, uint64_t off, uint32_t seed)
{
	size_t i;

	for (i = 0; i < len; i += 8) {
		uint64_t v = (off + i) * 0x9e3779b97f4a7c15ULL ^ seed;

		memcpy(p + i, &v, 8);
	}
}

static bool all_zero(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/* Write a pattern over [off, off + len) and check it reads back. */
static int write_pattern(int fd, uint8_t *buf, uint8_t *chk, uint64_t off,
			 size_t len, uint32_t seed)
{
	fill(buf, len, off, seed);
	if (pwrite(fd, buf, len, off) != (ssize_t)len)
		return -1;
	if (pread(fd, chk, len, off) != (ssize_t)len)
		return -1;
	return memcmp(buf, chk, len) ? -1 : 0;
}

TEST_F(ops, flush)
{
	long long before, after;
	char wc[32] = "";

	SKIP_IF_SETUP_SKIPPED();

	ASSERT_EQ(0, write_pattern(self->fd, self->buf, self->chk, 0, MIB,
				   1));
	blk_sysfs_read(BLK_DISK, "queue/write_cache", wc, sizeof(wc));
	TH_LOG("write cache: %s", wc);
	before = blk_stat_field(BLK_DISK, BLK_STAT_FLUSH_IOS);
	ASSERT_EQ(0, fsync(self->fd));
	ASSERT_EQ(0, fdatasync(self->fd));
	after = blk_stat_field(BLK_DISK, BLK_STAT_FLUSH_IOS);
	if (!strcmp(wc, "write back") && before >= 0)
		EXPECT_LT(before, after) TH_LOG("no flush reached the disk");
	ASSERT_EQ(MIB, pread(self->fd, self->chk, MIB, 0));
	EXPECT_EQ(0, memcmp(self->buf, self->chk, MIB));
}

TEST_F(ops, fua)
{
	long long fua = blk_sysfs_ll(BLK_DISK, "queue/fua");
	int fd;

	SKIP_IF_SETUP_SKIPPED();

	TH_LOG("fua: %lld", fua);
	fd = open(blk_dev_path(BLK_DISK), O_RDWR | O_DIRECT | O_DSYNC);
	ASSERT_LE(0, fd);
	/* O_DSYNC direct writes are FUA writes (or write + flush) */
	EXPECT_EQ(0, write_pattern(fd, self->buf, self->chk, 4 * MIB, MIB, 2));
	EXPECT_EQ(0, write_pattern(fd, self->buf, self->chk, 5 * MIB, 4096,
				   3));
	close(fd);
}

TEST_F(ops, discard)
{
	long long max = blk_sysfs_ll(BLK_DISK, "queue/discard_max_bytes");
	long long gran = blk_sysfs_ll(BLK_DISK, "queue/discard_granularity");
	uint64_t off = 16 * MIB, range[2];
	long long before, after;

	SKIP_IF_SETUP_SKIPPED();

	if (max <= 0)
		SKIP(return, "discard not offered");
	TH_LOG("discard: max %lld bytes, granularity %lld", max, gran);
	ASSERT_EQ(0, write_pattern(self->fd, self->buf, self->chk, off,
				   4 * MIB, 4));
	before = blk_stat_field(BLK_DISK, BLK_STAT_DISCARD_IOS);
	range[0] = off + MIB;
	range[1] = 2 * MIB;
	ASSERT_EQ(0, ioctl(self->fd, BLKDISCARD, range))
		TH_LOG("BLKDISCARD: %s", strerror(errno));
	after = blk_stat_field(BLK_DISK, BLK_STAT_DISCARD_IOS);
	EXPECT_LT(before, after);
	ASSERT_EQ(4 * MIB, pread(self->fd, self->chk, 4 * MIB, off));
	/* the pvkit back-end punches holes: discarded data reads as zero */
	EXPECT_TRUE(all_zero(self->chk + MIB, 2 * MIB));
	EXPECT_EQ(0, memcmp(self->buf, self->chk, MIB));
	EXPECT_EQ(0, memcmp(self->buf + 3 * MIB, self->chk + 3 * MIB, MIB));
}

TEST_F(ops, write_zeroes)
{
	long long max = blk_sysfs_ll(BLK_DISK, "queue/write_zeroes_max_bytes");
	uint64_t off = 24 * MIB, range[2];
	int i;

	SKIP_IF_SETUP_SKIPPED();

	TH_LOG("write zeroes: max %lld bytes%s", max,
	       max > 0 ? "" : " (the kernel writes zero pages)");
	for (i = 0; i < 2; i++) {
		/* a big range, then one logical block */
		uint64_t zoff = i ? off + MIB + self->lbs : off + MIB;
		uint64_t zlen = i ? self->lbs : 2 * MIB;

		ASSERT_EQ(0, write_pattern(self->fd, self->buf, self->chk,
					   off, 4 * MIB, 5 + i));
		range[0] = zoff;
		range[1] = zlen;
		ASSERT_EQ(0, ioctl(self->fd, BLKZEROOUT, range))
			TH_LOG("BLKZEROOUT: %s", strerror(errno));
		ASSERT_EQ(4 * MIB, pread(self->fd, self->chk, 4 * MIB, off));
		EXPECT_TRUE(all_zero(self->chk + (zoff - off), zlen));
		EXPECT_EQ(0, memcmp(self->buf, self->chk, zoff - off));
		EXPECT_EQ(0, memcmp(self->buf + (zoff - off + zlen),
				    self->chk + (zoff - off + zlen),
				    4 * MIB - (zoff - off + zlen)));
	}
}

TEST_F(ops, beyond_end)
{
	uint64_t end = self->size, range[2];
	size_t lbs = self->lbs;

	SKIP_IF_SETUP_SKIPPED();

	/* the last block works */
	ASSERT_EQ(0, write_pattern(self->fd, self->buf, self->chk, end - lbs,
				   lbs, 7));
	/* at the end: writes fail, reads see end of file */
	errno = 0;
	EXPECT_EQ(-1, pwrite(self->fd, self->buf, lbs, end));
	EXPECT_EQ(ENOSPC, errno);
	EXPECT_EQ(0, pread(self->fd, self->chk, lbs, end));
	/* across the end: truncated to what fits */
	EXPECT_EQ((ssize_t)lbs, pwrite(self->fd, self->buf, 2 * lbs,
				       end - lbs));
	EXPECT_EQ((ssize_t)lbs, pread(self->fd, self->chk, 2 * lbs,
				      end - lbs));
	/* ranges past the end are refused */
	range[0] = end - lbs;
	range[1] = 2 * lbs;
	EXPECT_EQ(-1, ioctl(self->fd, BLKZEROOUT, range));
	range[0] = end;
	range[1] = lbs;
	EXPECT_EQ(-1, ioctl(self->fd, BLKDISCARD, range));
	/* and the disk still works */
	EXPECT_EQ(0, write_pattern(self->fd, self->buf, self->chk, 0, lbs,
				   8));
}

/* A 1 MiB direct write goes to the host as one request (indirect segs). */
TEST_F(ops, one_mib_request)
{
	long long max_kb = blk_sysfs_ll(BLK_DISK, "queue/max_hw_sectors_kb");
	long long segs = blk_sysfs_ll(BLK_DISK, "queue/max_segments");
	long long before, after;

	SKIP_IF_SETUP_SKIPPED();

	TH_LOG("max_hw_sectors_kb %lld, max_segments %lld", max_kb, segs);
	EXPECT_LE(segs, 256);
	EXPECT_GE(segs, 1);
	if (max_kb < 1024 || segs < 256)
		SKIP(return, "device limits below 1 MiB requests");
	before = blk_stat_field(BLK_DISK, BLK_STAT_WRITE_IOS);
	ASSERT_EQ(0, write_pattern(self->fd, self->buf, self->chk, 32 * MIB,
				   MIB, 9));
	after = blk_stat_field(BLK_DISK, BLK_STAT_WRITE_IOS);
	EXPECT_EQ(1, after - before);
	/* and four of them in one go */
	ASSERT_EQ(0, write_pattern(self->fd, self->buf, self->chk, 40 * MIB,
				   4 * MIB, 10));
}

TEST_F(ops, serial)
{
	char serial[64] = "";
	int err;

	SKIP_IF_SETUP_SKIPPED();

	err = blk_sysfs_read(BLK_DISK, "serial", serial, sizeof(serial));
	ASSERT_EQ(0, err) TH_LOG("serial: %s", strerror(-err));
	TH_LOG("serial: '%s'", serial);
	EXPECT_LE(strlen(serial), (size_t)20);
}

BLK_TEST_MAIN(BLK_DISK)
