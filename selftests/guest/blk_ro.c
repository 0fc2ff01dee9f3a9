// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: a read-only pvkit disk (/dev/pvdb) is marked read-only,
 * reads work, and writes, write-zeroes and discards fail without changing
 * the data.  Skips when the VM has no read-only disk.
 *
 * Copyright (c) 2026 The pvkit authors
 */
#include <linux/fs.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "guest.h"

#define LEN	(64 << 10)

FIXTURE(ro) {
	int fd;
	uint8_t *before;
	uint8_t *after;
};

FIXTURE_SETUP(ro)
{
	self->fd = -1;
	self->before = MAP_FAILED;
	self->after = MAP_FAILED;
	if (!blk_present(BLK_RO_DISK))
		SKIP(return, "no read-only disk /dev/" BLK_RO_DISK);
	/* the block layer lets a read-only disk be opened for writing */
	self->fd = open(blk_dev_path(BLK_RO_DISK), O_RDWR | O_DIRECT);
	if (self->fd < 0)
		self->fd = open(blk_dev_path(BLK_RO_DISK), O_RDONLY | O_DIRECT);
	ASSERT_LE(0, self->fd) TH_LOG("open: %s", strerror(errno));
	self->before = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	self->after = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->before);
	ASSERT_NE(MAP_FAILED, self->after);
	ASSERT_EQ(LEN, pread(self->fd, self->before, LEN, 0));
}

FIXTURE_TEARDOWN(ro)
{
	if (self->before != MAP_FAILED)
		munmap(self->before, LEN);
	if (self->after != MAP_FAILED)
		munmap(self->after, LEN);
	if (self->fd >= 0)
		close(self->fd);
}

static bool write_error(int err)
{
	return err == EPERM || err == EROFS || err == EIO || err == EACCES ||
	       err == EBADF || err == EOPNOTSUPP;
}

/* The data is what it was when the test started. */
static bool unchanged(int fd, const uint8_t *before, uint8_t *after)
{
	return pread(fd, after, LEN, 0) == LEN && !memcmp(before, after, LEN);
}

TEST_F(ro, flagged_read_only)
{
	int ro = 0;

	SKIP_IF_SETUP_SKIPPED();

	EXPECT_EQ(1, blk_sysfs_ll(BLK_RO_DISK, "ro"));
	ASSERT_EQ(0, ioctl(self->fd, BLKROGET, &ro));
	EXPECT_EQ(1, ro);
	EXPECT_EQ(0, blk_sysfs_ll(BLK_RO_DISK, "queue/discard_max_bytes"));
}

TEST_F(ro, read)
{
	uint64_t size = 0;

	SKIP_IF_SETUP_SKIPPED();

	ASSERT_EQ(0, ioctl(self->fd, BLKGETSIZE64, &size));
	ASSERT_LE((uint64_t)LEN, size);
	EXPECT_EQ(LEN, pread(self->fd, self->after, LEN, size - LEN));
	EXPECT_TRUE(unchanged(self->fd, self->before, self->after));
}

TEST_F(ro, write_fails)
{
	SKIP_IF_SETUP_SKIPPED();

	memset(self->after, 0xa5, LEN);
	errno = 0;
	EXPECT_EQ(-1, pwrite(self->fd, self->after, LEN, 0));
	EXPECT_TRUE(write_error(errno)) TH_LOG("errno %d", errno);
	EXPECT_TRUE(unchanged(self->fd, self->before, self->after));
}

/* BLKZEROOUT reaches the driver as writes: pvkit_blk must refuse them. */
TEST_F(ro, zeroout_fails)
{
	uint64_t range[2] = { 0, LEN };

	SKIP_IF_SETUP_SKIPPED();

	errno = 0;
	EXPECT_EQ(-1, ioctl(self->fd, BLKZEROOUT, range));
	EXPECT_TRUE(write_error(errno)) TH_LOG("errno %d", errno);
	EXPECT_TRUE(unchanged(self->fd, self->before, self->after));
}

TEST_F(ro, discard_fails)
{
	uint64_t range[2] = { 0, LEN };

	SKIP_IF_SETUP_SKIPPED();

	errno = 0;
	EXPECT_EQ(-1, ioctl(self->fd, BLKDISCARD, range));
	EXPECT_TRUE(write_error(errno)) TH_LOG("errno %d", errno);
	EXPECT_TRUE(unchanged(self->fd, self->before, self->after));
}

TEST_F(ro, buffered_write_fails)
{
	ssize_t n;
	int fd;

	SKIP_IF_SETUP_SKIPPED();

	fd = open(blk_dev_path(BLK_RO_DISK), O_RDWR);
	if (fd < 0)
		SKIP(return, "open for writing refused: %s", strerror(errno));
	memset(self->after, 0x5a, 4096);
	errno = 0;
	n = pwrite(fd, self->after, 4096, 0);
	if (n >= 0)
		n = fsync(fd);	/* a cached write fails at writeback */
	EXPECT_EQ(-1, n);
	EXPECT_TRUE(write_error(errno)) TH_LOG("errno %d", errno);
	close(fd);
	EXPECT_TRUE(unchanged(self->fd, self->before, self->after));
}

BLK_TEST_MAIN(BLK_RO_DISK)
