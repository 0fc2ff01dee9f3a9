// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: pvkit-blkback's raw image code (backends/blk/disk-raw.c)
 * on a real file that takes O_DIRECT (the test's directory, not tmpfs):
 * whether O_DIRECT is used is decided when the image is opened, never by
 * what a guest request did -- an EINVAL from a read or write at run time
 * fails that request and leaves O_DIRECT on for everyone else.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pvkit/blk.h>

#include "kselftest_harness.h"
#include "../../backends/blk/blkback.h"

FIXTURE(disk)
{
	char path[64];
	struct blkb_disk disk;
	bool open;
};

FIXTURE_SETUP(disk)
{
	struct blkb_opts o;
	char err[256] = "";
	int fd;

	self->open = false;
	snprintf(self->path, sizeof(self->path), "/var/tmp/blkback_disk.%d.img",
		 (int)getpid());
	fd = open(self->path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 1 << 20));
	close(fd);
	memset(&o, 0, sizeof(o));
	ASSERT_EQ(0, blkb_opts_parse(&o, "path=x", err, sizeof(err))) TH_LOG("%s", err);
	snprintf(o.path, sizeof(o.path), "%s", self->path);
	memset(&self->disk, 0, sizeof(self->disk));
	ASSERT_EQ(0, blkb_disk_open(&self->disk, &o, err, sizeof(err))) TH_LOG("%s", err);
	self->open = true;
	if (!self->disk.direct)
		SKIP(return, "/var/tmp does not take O_DIRECT");
}

FIXTURE_TEARDOWN(disk)
{
	if (self->open)
		blkb_disk_close(&self->disk);
	unlink(self->path);
}

TEST_F(disk, guest_einval_keeps_direct)
{
	struct blkb_disk *d = &self->disk;
	int op;

	for (op = PVKIT_BLK_OP_READ; op <= PVKIT_BLK_OP_WRITE; op++) {
		EXPECT_EQ(BLKB_RECOVER_FAIL, d->ops->recover(d, op, -EINVAL));
		EXPECT_TRUE(d->direct);
		EXPECT_TRUE(fcntl(d->fd, F_GETFL) & O_DIRECT);
	}
}

TEST_HARNESS_MAIN
