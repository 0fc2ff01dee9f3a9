// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: pvkit-blkback's raw image code (backends/blk/disk-raw.c)
 * on a real file that takes O_DIRECT (the test's directory, not tmpfs):
 * whether O_DIRECT is used is decided when the image is opened, never by
 * what a guest request did -- an EINVAL from a read or write at run time
 * fails that request and leaves O_DIRECT on for everyone else.  And an
 * image whose file system needs more O_DIRECT alignment than a guest's
 * requests have (a file on a 4096-byte-sector device behind a 512-byte
 * disk) is served buffered from the start.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
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

/* Run @cmd through the shell; its exit status. */
static int sh(const char *fmt, const char *arg)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), fmt, arg);
	return system(cmd);
}

FIXTURE(sector4k)
{
	char dir[64], backing[96], loopdev[32], image[96];
	bool mounted;
};

/* ext4 on a loop device with 4096-byte logical sectors, mounted. */
FIXTURE_SETUP(sector4k)
{
	char line[32] = "", cmd[256];
	FILE *f;
	int fd;

	self->mounted = false;
	self->loopdev[0] = 0;
	snprintf(self->dir, sizeof(self->dir), "/var/tmp/blkback_4k.%d",
		 (int)getpid());
	snprintf(self->backing, sizeof(self->backing), "%s.fs", self->dir);
	snprintf(self->image, sizeof(self->image), "%s/disk.img", self->dir);
	if (geteuid())
		SKIP(return, "needs root (a loop device)");
	if (sh("command -v losetup mkfs.ext4 > /dev/null%s", ""))
		SKIP(return, "losetup or mkfs.ext4 missing");
	ASSERT_EQ(0, mkdir(self->dir, 0700));
	fd = open(self->backing, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 64 << 20));
	close(fd);
	snprintf(cmd, sizeof(cmd), "losetup --find --show --sector-size 4096 %s",
		 self->backing);
	f = popen(cmd, "r");
	ASSERT_NE(NULL, f);
	if (!fgets(line, sizeof(line), f))
		line[0] = 0;
	pclose(f);
	line[strcspn(line, "\n")] = 0;
	if (strncmp(line, "/dev/loop", 9))
		SKIP(return, "no loop device: '%s'", line);
	snprintf(self->loopdev, sizeof(self->loopdev), "%s", line);
	ASSERT_EQ(0, sh("mkfs.ext4 -q -F %s > /dev/null 2>&1", self->loopdev));
	ASSERT_EQ(0, mount(self->loopdev, self->dir, "ext4", 0, NULL));
	self->mounted = true;
	fd = open(self->image, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 1 << 20));
	close(fd);
}

FIXTURE_TEARDOWN(sector4k)
{
	if (self->mounted)
		umount(self->dir);
	if (self->loopdev[0])
		sh("losetup -d %s", self->loopdev);
	rmdir(self->dir);
	unlink(self->backing);
}

TEST_F(sector4k, alignment_decided_at_open)
{
	struct blkb_disk d;
	struct blkb_opts o;
	char err[256] = "";

	memset(&o, 0, sizeof(o));
	ASSERT_EQ(0, blkb_opts_parse(&o, "path=x", err, sizeof(err)));
	snprintf(o.path, sizeof(o.path), "%s", self->image);
	memset(&d, 0, sizeof(d));
	ASSERT_EQ(0, blkb_disk_open(&d, &o, err, sizeof(err))) TH_LOG("%s", err);
	/* the guest sees 512-byte blocks; the file system wants 4096 */
	EXPECT_EQ(512, d.lbs);
	EXPECT_FALSE(d.direct);
	EXPECT_FALSE(fcntl(d.fd, F_GETFL) & O_DIRECT);
	if (d.dio_offset_align)
		EXPECT_EQ(4096, d.dio_offset_align);
	blkb_disk_close(&d);

	/* direct=on: refused with the reason, nothing opened */
	memset(&o, 0, sizeof(o));
	ASSERT_EQ(0, blkb_opts_parse(&o, "path=x,direct=on", err, sizeof(err)));
	snprintf(o.path, sizeof(o.path), "%s", self->image);
	memset(&d, 0, sizeof(d));
	EXPECT_EQ(-EINVAL, blkb_disk_open(&d, &o, err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "direct=on")) TH_LOG("%s", err);
	TH_LOG("direct=on: %s", err);
}

TEST_HARNESS_MAIN
